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
            chapter_lanes, cross = lanes(runs, jobs)
            progress.run_lanes(chapter_lanes, jobs)
            progress.run_lanes([cross] if cross else [], 1)  # they read every chapter's tables
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

    def run_lanes(self, queue: list[list[Run]], workers: int) -> None:
        """Execute the lanes of ``queue`` with up to ``workers`` at once: each worker takes the next lane
        as soon as it is free, so no core waits for the slowest chapter of a group. One worker: in
        this thread, with a ticker on the bar."""
        workers = min(workers, len(queue))
        if workers <= 1:
            for lane in queue:
                self.session.set_lanes(1)
                self._lane(lane, alone=True)
            return
        todo = list(queue)
        self.session.set_lanes(workers)

        def worker() -> None:
            try:
                while not self._stop.is_set():
                    with self._lock:
                        if not todo:
                            return
                        lane = todo.pop(0)
                    self._lane(lane)
            finally:  # the workers still running get this one's cores for their next pages
                self.session.lane_done()

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(worker) for _ in range(workers)]
            try:
                concurrent.futures.wait(futures)
            except BaseException:  # Ctrl-C / SIGTERM in the main thread: the handler killed the kernels
                self._stop.set()
                concurrent.futures.wait(futures)
                raise
            for future in futures:
                future.result()

    def _lane(self, lane: list[Run], alone: bool = False) -> None:
        for run in lane:
            if self._stop.is_set():
                return
            self._page(run, alone)

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


def lanes(runs: list[Run], jobs: int) -> tuple[list[list[Run]], list[Run]]:
    """(the lanes, in the order the workers take them; the cross-model runs, which follow every lane).

    A lane is a sequence of pages that run one after the other. With ``jobs`` = 1 every chapter's
    pages are one lane, in plan order. Otherwise each chapter (in plan order) gives one lane per page
    family (:func:`~helpers.runner.plan.page_family`): families share no cached pass, so any two lanes
    can run at once, and a page's single-threaded work (kernel start, imports, model load) overlaps
    another lane's; a free worker takes the next lane at once (:meth:`_Progress.run_lanes`)."""
    cross = [r for r in runs if r.model is None]
    chapters = [r for r in runs if r.model is not None]
    if jobs <= 1:
        return ([chapters] if chapters else []), cross
    per_model = {model: [r for r in chapters if r.model == model] for model in dict.fromkeys(r.model for r in chapters)}
    return [lane for chapter in per_model.values() for lane in _by_family(chapter)], cross


def _by_family(chapter: list[Run]) -> list[list[Run]]:
    """A chapter's runs as one list per page family (in plan order)."""
    families: dict[str, list[Run]] = {}
    for run in chapter:
        families.setdefault(page_family(run.notebook), []).append(run)
    return list(families.values())
