"""Tables cached on disk, keyed by everything that affects them.

A cached result is a folder ``<results>/<name>-<key>/`` holding one parquet file per table and
``key.json``: the key's parts and the size and sha256 of every table file. The key also covers the
source of the module that computes the tables and of the helpers modules it imports (editing them
invalidates what they computed) and the content of every local file named in the parts (a local
corpus edited in place gives a new key). The folder is written in a temporary folder and renamed
into place whole, so an interrupted computation leaves nothing behind that a later run could
mistake for a result; on reading, the files are checked against their sha256, and an entry that
fails is removed with one warning line and computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

import helpers
from helpers import deps, provenance
from helpers.io import cache_dir, content_identity, discard, manifest, manifest_problem, read_json, usable_dir

RESULTS_ENV = "NEURON_REPRO_RESULTS"


def results_root() -> Path:
    """``$NEURON_REPRO_RESULTS``, else ``<cache dir>/results``."""
    if os.environ.get(RESULTS_ENV):
        return usable_dir(Path(os.environ[RESULTS_ENV]).expanduser(), RESULTS_ENV)
    return usable_dir(cache_dir() / "results", "NEURON_REPRO_CACHE")


def cache_key(parts: dict[str, Any], module: str = "helpers.cache") -> str:
    """sha256 (16 hex digits) of the key parts (local files named in them by their content:
    :func:`helpers.io.content_identity`), the helpers version and the source of ``module`` and every
    helpers module it imports (:func:`helpers.deps.digest`)."""
    contents = {k: content_identity(v) for k, v in parts.items()}
    blob = json.dumps({**contents, "helpers_version": helpers.__version__, "code": deps.digest([module])},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_tables(name: str, parts: dict[str, Any], compute: Callable[[], dict[str, pd.DataFrame]],
                  *, enabled: bool = True) -> dict[str, pd.DataFrame]:
    """Return the tables ``compute()`` makes for ``parts``, from the cache when they are there."""
    if not enabled:
        return compute()
    folder = results_root() / f"{name}-{cache_key(parts, compute.__module__)}"
    tables = _read(folder) if folder.exists() else None
    provenance.note("tables", name=name, key=parts, cached=tables is not None)
    if tables is not None:
        return tables
    tables = compute()
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for table_name, table in tables.items():
            table.to_parquet(tmp / f"{table_name}.parquet", index=False)
        attrs = {k: dict(t.attrs) for k, t in tables.items()}
        files = manifest(tmp, [f"{table_name}.parquet" for table_name in tables])
        (tmp / "key.json").write_text(json.dumps({"parts": parts, "attrs": attrs, "files": files},
                                                 indent=2, default=str))
        os.chmod(tmp, 0o755)
        os.replace(tmp, folder)
    except OSError:
        if not (folder / "key.json").exists():  # a concurrent writer may have won the rename
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    read = _read(folder)  # what later calls will read, dtypes included
    if read is None:
        raise OSError(f"the cached tables just written to {folder} do not read back; is the disk full?")
    return read


def _read(folder: Path) -> dict[str, pd.DataFrame] | None:
    """The tables in ``folder`` if its files match their recorded sha256; else the folder is
    removed (one warning line) and ``None`` returned."""
    key = read_json(folder / "key.json")
    if not isinstance(key, dict):
        discard(folder, "key.json is missing or unreadable", "cached table")
        return None
    problem = manifest_problem(folder, key.get("files"))
    if problem is None:
        try:
            tables = {Path(f).stem: pd.read_parquet(folder / f) for f in sorted(key["files"])}
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
            problem = f"a table does not read: {exc}"
    if problem is not None:
        discard(folder, problem, "cached table")
        return None
    attrs = key.get("attrs", {})
    for table_name, table in tables.items():
        table.attrs.update(attrs.get(table_name, {}))
    return tables
