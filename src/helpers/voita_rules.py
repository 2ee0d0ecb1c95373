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


def all_of(*parts: Judge) -> Judge:
    """A claim of several parts: reproduced iff every part is, partly iff every part is at least
    partly, else not reproduced (no part can carry another: a trivially true half gives nothing);
    n/a when a part is. (The strict reading issue 19 asks of the scorecard's ``both``.)"""
    def judge(numbers: dict[str, Any], model: str):
        results = [part(numbers, model) for part in parts]
        if any(r is None for r in results):
            return None
        verdicts = {r.verdict for r in results}
        verdict = ("reproduced" if verdicts == {"reproduced"} else
                   "partly" if verdicts <= {"reproduced", "partly"} else "not reproduced")
        return dataclasses.replace(results[0], shown="; ".join(r.shown for r in results), verdict=verdict)
    return judge
