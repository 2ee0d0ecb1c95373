"""One page: staged, executed with papermill, then committed, or kept as failed.

The notebook executes into a hidden staging folder beside the page (``.<N>.staging-*``, removed
afterwards); on success the notebook, its results folder and then its stamp replace the old ones
(the stamp last: it marks the page complete). A failed notebook, Ctrl-C, SIGTERM or a dead kernel
leave the previous page, its figures and its stamp as they were; the partial notebook is kept as
``<N>.failed.ipynb``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from helpers import errors, provenance
from helpers.errors import NotebookFailed
from helpers.io import read_json, write_json
from helpers.report import KEY_NUMBERS_FILE, KEY_NUMBERS_OUTPUT
from helpers.runner.checks import claim_chapter
from helpers.runner.plan import Run
from helpers.runner.session import Session, signals_deferred
from helpers.runner.stamps import input_digest, stamp_record, stamped_digest

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colours in papermill's and Sphinx's messages


def execute_run(run: Run, session: Session | None = None, *, force: bool = False, digest: str | None = None) -> bool:
    """Execute ``run`` unless its page is up to date; return whether it was executed. ``digest``:
    its :func:`~helpers.runner.stamps.input_digest`, computed here if not given (lanes are given it).

    On failure (or :class:`~helpers.errors.Interrupted`) the old page stays, the partial notebook is
    kept as ``<N>.failed.ipynb``, the staging folder is removed and :class:`NotebookFailed` is raised
    with one paragraph saying what went wrong.
    """
    session = Session() if session is None else session
    digest = input_digest(run) if digest is None else digest  # before running: inputs may be edited meanwhile
    if not force and stamped_digest(run) == digest:
        return False
    directory = run.output.parent
    directory.mkdir(parents=True, exist_ok=True)
    with session.locked(directory, f"for another runner to finish in {directory} ({run.label})"):
        if not force and stamped_digest(run) == digest:  # another runner made it while we waited
            return False
        claim_chapter(run)
        for stale in directory.glob(f".{run.name}.staging-*"):  # left by a killed runner (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".{run.name}.staging-"))
        start = time.monotonic()
        try:
            execute_into(run, staging, session)
            commit(run, staging, digest, time.monotonic() - start)
        except BaseException:
            keep_failed(run, staging)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return True


def use_this_python() -> None:
    """Put this interpreter's directory first on PATH, so the ``python3`` kernel (whose
    kernelspec runs plain ``python``) is the runner's Python, with the same packages."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + path


def execute_into(run: Run, staging: Path, session: Session) -> None:
    """Execute ``run`` with papermill into ``staging`` (``<N>.ipynb``, ``<N>_files/``); raise
    :class:`NotebookFailed` with a readable message if the notebook or its kernel fails."""
    import papermill  # slow import; only needed here

    notebook = staging / f"{run.name}.ipynb"
    files = staging / f"{run.name}_files"
    files.mkdir()
    parameters = dict(run.parameters)
    if "results_dir" in parameters:
        parameters["results_dir"] = str(files)
    use_this_python()
    with open(staging / "kernel.log", "wb") as kernel_stderr:
        manager = session.kernel_manager_class(kernel_stderr, cwd=run.notebook.parent.resolve())
        try:
            papermill.execute_notebook(
                str(run.notebook),
                str(notebook),
                parameters=parameters,
                kernel_name="python3",
                progress_bar=False,  # no cwd=: papermill would chdir this process, which its lanes share
                kernel_manager_class=manager,
            )
        except Exception as exc:  # PapermillExecutionError; a dead kernel, a kernel that does not start, a timeout
            raise failure(run, exc, staging) from None
        finally:
            session.kill_kernels(manager.started)
    finish_notebook(run, notebook, staging)


def verdicts_file(output: Path) -> Path:
    """``<N>.verdicts.md`` beside the page ``<N>.ipynb``: what the page's numbers say of the papers'
    claims, written when the book is built (:func:`helpers.runner.book.write_book_sources`)."""
    return output.with_name(f"{output.stem}.verdicts.md")


def finish_notebook(run: Run, notebook: Path, staging: Path) -> None:
    """Post-process the executed notebook: staging paths -> final paths, papermill's injected
    parameters tagged ``remove-cell`` (not shown in the book), a provenance paragraph under the title,
    and under the key numbers' output, a cell that includes the page's verdicts (:func:`verdicts_file`):
    they are rendered from the key numbers when the book is built, so that a change of a claim or
    a rule rebuilds the book without executing any page."""
    key_numbers = staging / f"{run.name}_files" / KEY_NUMBERS_FILE
    numbers = read_json(key_numbers) if key_numbers.exists() else {}
    if not isinstance(numbers, dict):
        raise NotebookFailed(f"{run.label} wrote an unreadable {KEY_NUMBERS_FILE} ({key_numbers}); write it with "
                             "helpers.report.write_key_numbers. The previous page is kept.")
    nb = nbformat.read(notebook, as_version=4)
    for old, new in ((str(staging), str(run.output.parent)), (_escaped(staging), _escaped(run.output.parent))):
        nb = _replace_paths(nb, old, new)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    wall_s = float(nb.metadata.get("papermill", {}).get("duration") or 0.0)
    text = provenance.markdown(numbers.get("provenance", {}), wall_s=wall_s,
                               executed=time.strftime("%Y-%m-%d %H:%M %Z"))
    if run.model is None:
        text += f" · models {', '.join(f'`{m}`' for m in run.parameters.get('models', []))}"
    text += f" · profile `{run.profile}`"
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["provenance"]
    if nb.nbformat_minor < 5:
        cell.pop("id", None)
    first_is_title = bool(nb.cells) and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("#")
    nb.cells.insert(1 if first_is_title else 0, cell)
    reported = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                and any(out.get("metadata", {}).get(KEY_NUMBERS_OUTPUT) for out in c.get("outputs", []))]
    if reported:
        include = nbformat.v4.new_markdown_cell(f"```{{include}} {verdicts_file(run.output).name}\n```")
        include.metadata["tags"] = ["verdicts"]
        if nb.nbformat_minor < 5:
            include.pop("id", None)
        nb.cells.insert(reported[0] + 1, include)
    nbformat.write(nb, notebook)


def _escaped(path: Path) -> str:
    """``path`` as papermill writes it into the injected-parameters cell (non-ASCII escaped)."""
    return str(path).encode("unicode_escape").decode("ascii")


def _replace_paths(node: Any, old: str, new: str) -> Any:
    """``node`` (a notebook, recursively) with ``old`` replaced by ``new`` in every string."""
    if isinstance(node, str):
        return node.replace(old, new)
    if isinstance(node, list):
        return [_replace_paths(v, old, new) for v in node]
    if isinstance(node, dict):
        return type(node)({k: _replace_paths(v, old, new) for k, v in node.items()})
    return node


def commit(run: Run, staging: Path, digest: str, seconds: float) -> None:
    """Swap the staged page in: results folder, notebook, then the stamp (the commit marker), with
    signals held so that Ctrl-C cannot stop it halfway."""
    notebook, files = staging / f"{run.name}.ipynb", staging / f"{run.name}_files"
    stamp = stamp_record(run, staging, digest, seconds)
    os.chmod(files, 0o755)  # mkdtemp made the staging folder private; the book is for reading
    with signals_deferred():
        if run.results_dir.exists():
            os.replace(run.results_dir, staging / "previous_files")  # removed with the staging folder
        os.replace(files, run.results_dir)
        os.replace(notebook, run.output)
        write_json(run.stamp, stamp)
        run.failed.unlink(missing_ok=True)


def keep_failed(run: Run, staging: Path) -> None:
    """Keep the partial notebook of a failed or interrupted run as ``<N>.failed.ipynb``."""
    partial = staging / f"{run.name}.ipynb"
    with contextlib.suppress(OSError):
        if partial.is_file() and partial.stat().st_size > 0:
            os.replace(partial, run.failed)


def _suite_error_names() -> set[str]:
    """Class names of the suite's own errors (a user's mistake, each with its fix in the message)."""
    names, todo = set(), [errors.SuiteError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def failure(run: Run, exc: BaseException, staging: Path) -> NotebookFailed:
    """One paragraph for a failed run: what failed, where, the fix, and the failed notebook's path."""
    kept = (f"The failed run is {run.failed}; " if (staging / f"{run.name}.ipynb").is_file()
            else "")
    kept += ("the previous page is kept." if run.output.exists() else "there is no earlier page of it.")
    ename = getattr(exc, "ename", None)
    if ename is not None:  # an exception raised in the notebook
        evalue = ANSI.sub("", str(getattr(exc, "evalue", ""))).strip()
        if ename in _suite_error_names():
            return NotebookFailed(f"{run.label} stopped: {ename}: {evalue}\n{kept}", bad_input=True)
        frames = [ANSI.sub("", line).rstrip() for line in (getattr(exc, "traceback", None) or [])]
        last_frame = "\n".join(frames[-2].splitlines()[-12:]) if len(frames) >= 2 else ""
        cell = getattr(exc, "exec_count", None)
        return NotebookFailed(
            f"{run.label} failed in cell [{cell}]: {ename}: {evalue}\n{last_frame}\n"
            f"{kept} Fix the notebook or its inputs, then rerun.")
    log = staging / "kernel.log"
    last_words = ""
    if log.is_file():
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if line.strip() and "without encryption" not in line]
        last_words = ("\nThe kernel's last words:\n" + "\n".join(lines[-8:])) if lines else ""
    what = type(exc).__name__
    if what == "DeadKernelError":
        cause = "its kernel died (out of memory, or killed?)"
    else:
        cause = f"{what}: {ANSI.sub('', str(exc)).strip().splitlines()[0] if str(exc).strip() else ''}"
    return NotebookFailed(f"{run.label} failed: {cause}{last_words}\n{kept}")
