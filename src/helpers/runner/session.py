"""The state of one run of the suite: its kernels, its lanes, its folder locks, and the signals.

A :class:`Session` is made by :func:`helpers.runner.suite.run_suite` (or by a test) and passed
down to every page it executes; nothing of a run's state lives in a module. It knows

- the kernels it started, so that Ctrl-C, SIGTERM or SIGHUP kill them (:meth:`Session.interruptible`)
  and a page ends only its own kernel (:meth:`Session.kill_kernels`): the other lane's page may be
  running beside it;
- how many lanes execute at once, to share the cores among their kernels (:meth:`Session.kernel_env`);
- the folders it holds a ``flock`` on, shared by its lanes (:meth:`Session.locked`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from helpers.errors import Interrupted

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


@dataclass
class _FolderLock:
    """The session's hold on one folder's flock: taken by the first of its lanes, released by the last."""

    threads: threading.Lock = field(default_factory=threading.Lock)
    fd: int = -1
    holders: int = 0


@dataclass
class Session:
    """One run of the suite. ``cores``: the CPU cores its kernels share (default: this process's)."""

    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                       else (os.cpu_count() or 1))
    kernels: list[Any] = field(default_factory=list)  # kernel managers started and not yet killed
    active_lanes: int = 0  # lanes executing right now
    folders: dict[str, _FolderLock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # --- lanes and cores

    def set_lanes(self, n: int) -> None:
        with self._lock:
            self.active_lanes = n

    def lane_done(self) -> None:
        """A lane finished: the lanes still running get its cores for their next pages."""
        with self._lock:
            self.active_lanes -= 1

    def kernel_env(self) -> dict[str, str]:
        """The thread count for a kernel starting now: the session's cores shared among the lanes
        executing at once. Two kernels each running as many OpenMP threads as there are cores make
        every small parallel operation wait for a descheduled thread (measured: a 1-minute page took
        8). Nothing is set when one lane runs, or when the user set OMP_NUM_THREADS."""
        with self._lock:
            active = self.active_lanes
        if active <= 1 or "OMP_NUM_THREADS" in os.environ:
            return {}
        return {"OMP_NUM_THREADS": str(max(1, self.cores // active))}

    # --- kernels

    def kernel_manager_class(self, stderr: Any, cwd: Path) -> type[Any]:
        """An ``AsyncKernelManager`` that starts the kernel in ``cwd`` with :meth:`kernel_env`, sends
        the kernel's own stderr (IPKernelApp's warnings, crash messages) to ``stderr`` instead of the
        terminal, and registers the kernel in the session (for a signal) and in the class's
        ``started`` (the page's own). The kernel's folder is set here rather than by papermill's
        ``cwd``, which changes the folder of the whole runner: with two lanes, one lane's restore
        undid the other's."""
        from jupyter_client.manager import AsyncKernelManager  # slow import; only needed here

        session = self

        class QuietKernelManager(AsyncKernelManager):
            started: list[Any] = []

            async def start_kernel(self, **kw: Any) -> None:
                kw.setdefault("stderr", stderr)
                kw["cwd"] = str(cwd)
                kw["env"] = {**(kw.get("env") or os.environ), **session.kernel_env()}
                await super().start_kernel(**kw)
                session.kernels.append(self)
                self.started.append(self)

        return QuietKernelManager

    def kill_kernels(self, kernels: list[Any] | None = None) -> None:
        """SIGKILL ``kernels`` (default: every kernel of the session) that still run (the whole process
        group: kernels run in their own session)."""
        for km in list(self.kernels if kernels is None else kernels):
            process = getattr(getattr(km, "provisioner", None), "process", None)
            if process is not None and process.poll() is None:  # poll() reaps: the pid is still ours
                with contextlib.suppress(OSError):
                    if os.getpgid(process.pid) == process.pid:
                        os.killpg(process.pid, signal.SIGKILL)
                    else:
                        process.kill()
            with contextlib.suppress(ValueError):  # a signal handler may have removed it meanwhile
                self.kernels.remove(km)

    # --- signals

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """While inside: SIGINT, SIGTERM and SIGHUP kill the session's kernels and raise
        :class:`Interrupted` in the main thread (once: later signals are ignored while cleaning up)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        received: list[int] = []

        def handler(signum: int, frame: Any) -> None:
            if received:
                return
            received.append(signum)
            self.kill_kernels()
            raise Interrupted(signum)

        previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # --- folder locks

    @contextlib.contextmanager
    def locked(self, directory: Path, waiting: str) -> Iterator[None]:
        """An exclusive lock on ``directory`` against other runners (``flock`` on the folder itself: no
        lock file is left behind), so that two runners never write into one chapter, or swap one
        book's HTML, at once: the second waits (and says ``waiting``). The session's lanes share the
        lock (they run pages of different families); a flock per lane would make them wait for each
        other."""
        with self._lock:
            folder = self.folders.setdefault(os.path.realpath(directory), _FolderLock())
        with folder.threads:  # the first lane takes the flock; the others wait for it, then share it
            if folder.holders == 0:
                fd = os.open(directory, os.O_RDONLY)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        tqdm.write(f"waiting     {waiting}")
                        fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                folder.fd = fd
            folder.holders += 1
        try:
            yield
        finally:
            with folder.threads:
                folder.holders -= 1
                if folder.holders == 0:
                    os.close(folder.fd)  # releases the flock
                    folder.fd = -1


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block is done (the few renames that swap a page in)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
