"""Every error the suite raises for bad input or a failed run. Each message names the problem and the fix.

A :class:`SuiteError` is a user's mistake or a problem of the environment, not a bug: the runner
exits 2 with its one paragraph, and a notebook's kernel shows it without a traceback
(:mod:`helpers.kernel_errors`).
"""

from __future__ import annotations

import signal


class SuiteError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


# --- models, data and caches


class UnknownModelError(SuiteError, ValueError):
    """The model name is neither known, a local path, nor a Hub id."""


class ModelFileError(SuiteError):
    """A local model file or directory exists but cannot be read as a model (truncated, not a GGUF)."""


class AssetError(SuiteError):
    """A registry asset could not be fetched, or failed its checksum."""


class OfflineError(AssetError):
    """Something must be downloaded but the network (or the Hub) is unreachable."""


class CorpusError(SuiteError, ValueError):
    """The corpus is missing, empty, or too small for the request."""


class CacheError(SuiteError):
    """A cache folder cannot be used (it is a file, or not writable)."""


class ParameterError(SuiteError, ValueError):
    """A notebook or function parameter has the wrong type or an out-of-range value."""


# --- the runner (helpers.runner)


class NotebookError(SuiteError):
    """A notebook (or the notebook directory) is missing or does not follow the contract."""


class NotebookFailed(SuiteError):
    """A notebook run failed. ``bad_input``: it failed with a suite error (a user's mistake: exit 2),
    not with a failed computation (exit 1)."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


class BookBuildError(SuiteError):
    """``jupyter-book build`` failed, or there is nothing to build."""


class BookDirError(SuiteError):
    """The book directory cannot hold the runs: not writable, or a chapter folder holds another model."""


class BookIncomplete(SuiteError):
    """The book was built, but pages are missing, failed or damaged (listed in the message)."""


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived: the suite stops after cleaning up the page it was running.

    A ``BaseException`` so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.detail = ""  # which page was running, set by the runner
        super().__init__(signal.Signals(signum).name)
