"""A suite error raised in a notebook shows as one paragraph, not as an IPython traceback.

The suite's errors (:class:`helpers.errors.SuiteError`: a bad parameter, an unknown model or corpus,
an unwritable folder, offline with nothing cached) already say what is wrong, with which input, and
the fix. In a kernel, :func:`install` registers them with IPython's ``set_custom_exc``, so that the
cell's error output (what papermill prints on its command line, and what the executed notebook
shows) is that paragraph alone; the error's name and message stay in the output, so the runner and
papermill still see the cell fail. Any other exception keeps IPython's full traceback.
"""

from __future__ import annotations

from typing import Any

from helpers.errors import SuiteError


def paragraph(error: BaseException) -> str:
    """``Name: message`` of a suite error, the one paragraph the user sees."""
    return f"{type(error).__name__}: {error}"


def _show(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    stb = [paragraph(value)]
    shell._showtraceback(etype, value, stb)  # noqa: SLF001 — IPython's hook for showing a structured traceback
    return stb


def install() -> bool:
    """Show suite errors of this IPython kernel as one paragraph; False where no IPython runs."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((SuiteError,), _show)
    return True
