"""What a figure notebook hands back to the suite: figure files, key numbers, checked parameters.

The contract (see ``helpers.runner``): a notebook's ``parameters`` cell declares ``model`` (or
``models`` for a cross-model notebook) and ``results_dir``; it saves every figure with
:func:`save_figure` and its headline numbers with :func:`write_key_numbers`, both into
``results_dir`` (``helpers.pages`` does both, after checking the parameters with ``helpers.params``).
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
KEY_NUMBERS_OUTPUT = "helpers-key-numbers"  # metadata of the output showing them: the verdicts go under it
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
