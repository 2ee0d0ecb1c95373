"""What a figure notebook hands back to the suite: figure files, key numbers, checked parameters.

The contract (see ``helpers.suite``): a notebook's ``parameters`` cell declares ``model`` (or
``models`` for a cross-model notebook) and ``results_dir``; it saves every figure with
:func:`save_figure` and its headline numbers with :func:`write_key_numbers`, both into
``results_dir``; and it validates its parameters with :func:`check_param` right after the
parameters cell, so a wrongly typed papermill argument fails at once with a hint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import helpers
from helpers import provenance
from helpers.errors import ParameterError
from helpers.io import atomic_path, write_json

KEY_NUMBERS_FILE = "key_numbers.json"
FIGURE_DPI = 120


def save_figure(fig: Any, results_dir: str | os.PathLike, name: str) -> Path:
    """Save a matplotlib figure as ``results_dir/<name>.png`` (dpi 120), atomically; return the path."""
    stem = name[:-4] if name.endswith(".png") else name
    if not stem or "/" in stem or os.sep in stem:
        raise ParameterError(f"figure name must be a plain file name like 'entropy_scatter', got {name!r}")
    path = Path(results_dir) / f"{stem}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return path


def write_key_numbers(
    results_dir: str | os.PathLike, numbers: Mapping[str, Any], *, notebook: str, model: str
) -> Path:
    """Write ``results_dir/key_numbers.json`` (atomically): the quantities the paper makes claims about.

    ``numbers`` maps a short name (``"rho_11.584"``) to a JSON-able value (numpy scalars are fine).
    The scorecard page reads these files.
    """
    if not isinstance(numbers, Mapping) or not all(isinstance(k, str) for k in numbers):
        raise ParameterError(
            f"key numbers must be a dict with string keys, got {type(numbers).__name__}; "
            "pass e.g. {'n_entropy_neurons': 6}"
        )
    payload = {
        "notebook": notebook,
        "model": model,
        "helpers_version": helpers.__version__,
        "numbers": dict(numbers),
        "provenance": provenance.snapshot(),
    }
    return write_json(Path(results_dir) / KEY_NUMBERS_FILE, payload)


def check_param(
    name: str,
    value: Any,
    kind: type,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[Any, ...] | list[Any] | None = None,
    allow_none: bool = False,
) -> Any:
    """Return ``value`` if it is a ``kind`` within the bounds, else raise :class:`ParameterError`.

    Meant for the cell after a notebook's ``parameters`` cell::

        n_rows = check_param("n_rows", n_rows, int, minimum=1)

    Strict on purpose: papermill's ``-p`` converts numbers, but ``-r`` passes raw strings, and a
    string ``"100"`` silently reaching ``range()`` or a cache key is worse than an early error.
    ``bool`` is not accepted as ``int``; an ``int`` is accepted (and returned) as ``float``.
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ParameterError(
            f"parameter {name} must be {_describe(kind, minimum, maximum, choices)}, "
            f"got {value!r} ({type(value).__name__}); {_hint(name, value, kind, minimum)}"
        )
    out_of_range = (
        (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (choices is not None and value not in choices)
    )
    if out_of_range:
        raise ParameterError(
            f"parameter {name} must be {_describe(kind, minimum, maximum, choices)}, "
            f"got {value!r}; pass a value in that range"
        )
    return value


def _describe(kind: type, minimum: Any, maximum: Any, choices: Any) -> str:
    article = "an" if kind.__name__[0] in "aeiou" else "a"
    text = f"{article} {kind.__name__}"
    if minimum is not None:
        text += f" >= {minimum}"
    if maximum is not None:
        text += f"{' and' if minimum is not None else ''} <= {maximum}"
    if choices is not None:
        text += f" (one of {', '.join(map(repr, choices))})"
    return text


def _hint(name: str, value: Any, kind: type, minimum: Any) -> str:
    """How to pass a ``kind`` on papermill's command line."""
    if kind in (int, float):
        example = value if isinstance(value, str) and _is_number(value) else (minimum or 1)
        return f"pass it as -p {name} {example} (papermill's -p converts numbers; -r passes raw strings)"
    if kind is bool:
        return f"pass it as -p {name} True"
    if kind in (list, tuple, dict):
        return f"pass it as YAML: -y '{name}: [a, b]'"
    return f"pass it as -p {name} VALUE"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
