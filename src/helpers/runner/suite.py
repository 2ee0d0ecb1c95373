"""``run_suite``: check every run, make the models ready, execute the pages in lanes, build the book.

Before any kernel starts every run is checked (:mod:`~helpers.runner.checks`) and every digest is
computed (:mod:`~helpers.runner.stamps`); the pages whose inputs changed execute
(:mod:`~helpers.runner.page`) in the lanes of :func:`lanes`; then the time report, the book's
sources and the build (:mod:`~helpers.runner.book`). One :class:`~helpers.runner.session.Session`
holds the run's state.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from helpers.errors import Interrupted, NotebookFailed
from helpers.runner.book import build_book, write_book_sources
from helpers.runner.checks import check_runs, prepare_models
from helpers.runner.page import execute_run
from helpers.runner.plan import DEFAULT_MODELS, Run, page_family, plan_runs
from helpers.runner.session import Session
from helpers.runner.stamps import input_digest, page_problem, stamped_digest
from helpers.runner.timing import duration, ticker, timing_report


def run_suite(
    models: Sequence[str] = DEFAULT_MODELS,
    notebooks: Sequence[str] = ("all",),
    profile: str = "quick",
    book_dir: Path = Path("book"),
    notebook_dir: Path = Path("notebooks"),
    *,
    force: bool = False,
    strict: bool = False,
    overrides: dict[str, Any] | None = None,
    device: str | None = None,
    jobs: int = 1,
    controls: str = "none",
    session: Session | None = None,
) -> Path:
    """Check every planned run, prepare the models, execute the runs (skipping up-to-date ones),
    print their times, then write and build the book; return the built ``index.html``.

    With ``jobs`` > 1, pages execute in lanes (:func:`lanes`); the cross-model pages follow. Runs
    after a failed one still execute; if any failed, :class:`NotebookFailed` lists them all
    (``bad_input`` if every failure was a user's mistake) and the book is not rebuilt. Ctrl-C,
    SIGTERM and SIGHUP stop the suite with :class:`Interrupted` after cleaning up the running
    page. ``controls``: the null twins added to ``models`` (:func:`~helpers.runner.plan.plan_runs`).
    """
    if device is not None:
        from helpers.params import check_device

        check_device(device)
    session = Session() if session is None else session
    runs = plan_runs(notebook_dir, book_dir, models, notebooks, profile, overrides, device, controls)
    with session.interruptible():
        check_runs(runs, book_dir)
        # Every digest here, in this thread, before any lane starts: helpers.deps parses the modules with
        # ast.parse, which is not thread-safe on CPython 3.11 (two lanes parsing at once raised
        # "SystemError: AST constructor recursion depth mismatch" and one lane died).
        digests = {run: input_digest(run) for run in runs}
        todo = [run for run in runs if force or stamped_digest(run) != digests[run]]
        with tqdm(total=len(runs), desc="pages", unit="page", dynamic_ncols=True, disable=None) as bar:
            prepare_models(list(dict.fromkeys(m for run in todo for m in run.models)), bar)
            progress = _Progress(session, bar, len(runs), digests, force)
            for group in lanes(runs, jobs):
                progress.run_group(group)
        print(timing_report([(run.output, page_problem(run.output)[0]) for run in runs],
                            {run.output for run in progress.executed}))
        if failures := progress.failures:
            n_bad = sum(f.bad_input for f in failures)
            raise NotebookFailed(
                "\n\n".join(str(f) for f in failures) + f"\n\n{len(failures)} of {len(runs)} runs failed"
                f"{' (all with a mistake in their input)' if n_bad == len(failures) else ''}, so the book was not "
                "rebuilt. Successful runs are kept and will be skipped next time; each failed page keeps its "
                "previous version, if it had one.",
                bad_input=n_bad == len(failures),
            )
        write_book_sources(book_dir)
        return build_book(book_dir, strict=strict, session=session)


@dataclass
class _Progress:
    """The pages of one run_suite call as they execute: one line per page, failures collected."""

    session: Session
    bar: tqdm
    total: int
    digests: dict[Run, str]
    force: bool
    failures: list[NotebookFailed] = field(default_factory=list)
    executed: set[Run] = field(default_factory=set)
    _done: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run_group(self, group: list[list[Run]]) -> None:
        """The lanes of ``group`` at once (one lane: in this thread, with a ticker on the bar)."""
        self.session.set_lanes(len(group))
        if len(group) == 1:  # one lane (or the cross-model pages, which need every model's tables)
            self._lane(group[0], alone=True)
            return
        with concurrent.futures.ThreadPoolExecutor(len(group)) as pool:
            futures = [pool.submit(self._lane, lane) for lane in group]
            try:
                concurrent.futures.wait(futures)
            except BaseException:  # Ctrl-C / SIGTERM in the main thread: the handler killed the kernels
                self._stop.set()
                concurrent.futures.wait(futures)
                raise
            for future in futures:
                future.result()

    def _lane(self, lane: list[Run], alone: bool = False) -> None:
        try:
            for run in lane:
                if self._stop.is_set():
                    return
                self._page(run, alone)
        finally:  # the lanes still running get this one's cores for their next pages
            self.session.lane_done()

    def _page(self, run: Run, alone: bool) -> None:
        where = f"{run.name} · {run.model or 'all models'}"
        start = time.monotonic()
        with ticker(self.bar, where) if alone else contextlib.nullcontext():
            try:
                ran = execute_run(run, self.session, force=self.force, digest=self.digests[run])
            except NotebookFailed as exc:
                with self._lock:
                    self.failures.append(exc)
                status = "FAILED     "
            except Interrupted as exc:
                tqdm.write(f"[{next(self._done)}/{self.total}] INTERRUPTED {where}")
                exc.detail = (f"{run.label} keeps its previous version" if run.output.exists() else
                              f"{run.label} has no page yet") + (
                    f"; its partial run is {run.failed}" if run.failed.exists() else "")
                raise
            else:
                status = "executed   " if ran else "up to date "
                if ran:
                    with self._lock:
                        self.executed.add(run)
        took = f" · {duration(time.monotonic() - start)}" if status != "up to date " else ""
        with self._lock:
            self.bar.update(1)
            tqdm.write(f"[{next(self._done)}/{self.total}] {status} {where}{took}")


def lanes(runs: list[Run], jobs: int) -> list[list[list[Run]]]:
    """The order of execution: groups run one after the other; the lanes of a group at once.
    One lane per model chapter (in plan order) in groups of at most ``jobs``, then the cross-model runs.
    When a group's chapters leave cores idle (one model, or the third of three, with ``jobs`` = 2),
    each of its chapters runs as one lane per page family (:func:`~helpers.runner.plan.page_family`):
    a page's single-threaded work (kernel start, imports, model load, tables) then overlaps the other
    family's, which saves minutes on a 2-core machine."""
    if jobs <= 1:
        return [[list(runs)]]
    per_model = {model: [r for r in runs if r.model == model] for model in dict.fromkeys(r.model for r in runs)}
    cross = per_model.pop(None, [])
    chapters = list(per_model.values())
    groups = [chapters[i:i + jobs] for i in range(0, len(chapters), jobs)]
    groups = [[lane for chapter in group for lane in _by_family(chapter)] if 2 * len(group) <= jobs else group
              for group in groups]
    return groups + ([[cross]] if cross else [])


def _by_family(chapter: list[Run]) -> list[list[Run]]:
    """A chapter's runs as one list per page family (in plan order)."""
    families: dict[str, list[Run]] = {}
    for run in chapter:
        families.setdefault(page_family(run.notebook), []).append(run)
    return list(families.values())
