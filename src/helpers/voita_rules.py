"""Rule helpers for the Voita et al. claims of the scorecard (:data:`helpers.scorecard.CLAIMS`).

Size-dependent Voita numbers are judged at the size their estimate was taken at (a split of the
counted rows, :mod:`helpers.voita_numbers`); :func:`sized` says that size in the shown text.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

Judge = Callable[[dict[str, Any], str], Any]


def sized(inner: Judge, key: str = "verdict_tokens") -> Judge:
    """``inner``'s result with " at N tokens" appended, N read from the key number ``key``
    (``verdict_tokens``: the split size of the size-dependent estimates; ``n_tokens``: all counted)."""
    def judge(numbers: dict[str, Any], model: str):
        result = inner(numbers, model)
        tokens = numbers.get(key)
        if result is None or not isinstance(tokens, (int, float)):
            return result
        return dataclasses.replace(result, shown=f"{result.shown} at {int(tokens):,} tokens")
    return judge
