"""Whether a page is up to date: the digest of a run's inputs, and the stamp that marks a page complete.

A page's stamp (``<N>.stamp.json``, written last) records the digest of the inputs it was made
from and the sha256 of each of its files. A page is up to date when its stamp's digest equals the
run's :func:`input_digest` and its files still match the stamp.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import helpers
from helpers import deps
from helpers.io import content_identity, manifest_problem, read_json, sha256_file
from helpers.runner.plan import Run


def input_digest(run: Run) -> str:
    """sha256 over the notebook, the parameters (a local file named in them by its content: an
    edited corpus reruns the page), the package version and the source of the helpers modules the
    notebook imports, transitively (:mod:`helpers.deps`): editing a module re-executes only the
    pages that depend on it. Not thread-safe (``ast.parse``): compute digests in one thread."""
    h = hashlib.sha256()

    def feed(data: bytes) -> None:
        h.update(f"{len(data)}:".encode())
        h.update(data)

    feed(run.notebook.read_bytes())
    feed(json.dumps(run.parameters, sort_keys=True, default=str).encode())
    values = {**run.defaults, **run.parameters}
    files = {k: content_identity(v) for k, v in values.items() if k != "results_dir" and content_identity(v) != v}
    if files:
        feed(json.dumps(files, sort_keys=True, default=str).encode())
    feed(deps.digest(deps.notebook_modules(run.notebook)).encode())
    feed(helpers.__version__.encode())
    return h.hexdigest()


def page_problem(output: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(stamp, problem) of the page at ``output``: the stamp if the page is complete and its files
    match the sha256 the stamp recorded; else ``None`` and why (``None``: no page at all)."""
    stamp_path = output.with_name(f"{output.stem}.stamp.json")
    if not output.exists() and not stamp_path.exists():
        return None, None
    if not output.is_file():
        return None, "its notebook is missing"
    stamp = read_json(stamp_path)
    if not isinstance(stamp, dict) or not isinstance(stamp.get("digest"), str):
        return None, f"its stamp {stamp_path.name} is {'missing' if not stamp_path.exists() else 'unreadable'}"
    if "files" in stamp and (problem := manifest_problem(output.parent, stamp["files"])) is not None:
        return None, problem
    return stamp, None


def stamped_digest(run: Run) -> str | None:
    """The input digest recorded when ``run`` last succeeded (``None``: no valid page)."""
    stamp, _ = page_problem(run.output)
    return None if stamp is None else stamp["digest"]


def stamp_record(run: Run, staging: Path, digest: str, seconds: float) -> dict[str, Any]:
    """The stamp of the page staged in ``staging``: its input digest, parameters, time, and the size
    and sha256 of the notebook and of each file of its results folder (names relative to the chapter)."""
    notebook, files = staging / f"{run.name}.ipynb", staging / f"{run.name}_files"
    names = [notebook.name] + sorted(f"{files.name}/{p.name}" for p in files.iterdir() if p.is_file())
    return {
        "digest": digest,
        "notebook": run.name,
        "model": run.model,
        "profile": run.profile,
        "parameters": run.parameters,
        "helpers_version": helpers.__version__,
        "seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": {name: {"size": (staging / name).stat().st_size, "sha256": sha256_file(staging / name)}
                  for name in names},
    }
