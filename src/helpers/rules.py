"""The scorecard's rules: a claim's verdict from a page's key numbers (book: Methods, *Intervals
and verdicts*).

A rule (:data:`Judge`) takes the page's key numbers and the model's name and returns our value with
its interval and a verdict (:class:`Result`), or None when the claim does not apply. The claims
themselves are in :mod:`helpers.scorecard`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from helpers.stats import Estimate, is_estimate

REPRODUCED, PARTLY, NOT, NA = "reproduced", "partly", "not reproduced", "n/a"
VERDICTS = (REPRODUCED, PARTLY, NOT, NA)


@dataclass(frozen=True)
class Result:
    shown: str  # our value, with its interval
    verdict: str  # REPRODUCED, PARTLY or NOT
    note: str = ""  # why the verdict is not the rule's own (capped by the twin test)


Judge = Callable[[dict[str, Any], str], "Result | None"]


# # Every judged number is an Estimate with an interval that contains its point (weight-only numbers
# use stats.exact, whose interval is the point). A rule's verdict comes from the interval:
# reproduced when the whole interval is on the claim's side, partly when the point is but the
# interval reaches across, not reproduced when the point is not. A number without an interval, or
# whose interval excludes its own point (a bug of the page that wrote it), is n/a with the reason.

_TOL = 1e-9  # relative slack for "the interval contains its point" (float round-off of stored JSON)


def _est(numbers: dict[str, Any], key: str) -> Estimate | None:
    value = numbers.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Estimate(float(value), math.nan, math.nan, 0, "no interval")  # judged n/a: "no interval"
    if not is_estimate(value):
        return None
    est = Estimate.from_json(value)
    return None if not math.isfinite(est.value) else est


def interval_problem(est: Estimate) -> str | None:
    """Why ``est`` cannot be judged, or None: no finite interval, or an interval that excludes its point."""
    if not (math.isfinite(est.low) and math.isfinite(est.high)):
        return "no interval"
    slack = _TOL * max(1.0, abs(est.value))
    if not est.low - slack <= est.value <= est.high + slack:
        return "its interval excludes its estimate (a bug of the page)"
    return None


def _side(est: Estimate, good: Callable[[float], bool]) -> str:
    """The interval rule: reproduced iff the whole interval satisfies ``good``; partly iff the point does
    but the interval reaches across; not reproduced iff the point does not; n/a when the estimate has no
    usable interval (:func:`interval_problem`)."""
    if interval_problem(est) is not None:
        return NA
    if not good(est.value):
        return NOT
    return REPRODUCED if good(est.low) and good(est.high) else PARTLY


def _judged(est: Estimate | None, good: Callable[[float], bool]) -> Result | None:
    if est is None:
        return None
    problem = interval_problem(est)
    if problem is not None:
        return Result(f"{est.text()} (n/a: {problem})", NA)
    return Result(est.text(), _side(est, good))


def above(key: str, threshold: float) -> Judge:
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        return _judged(_est(numbers, key), lambda x: x > threshold)
    return judge


def below(key: str, threshold: float) -> Judge:
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        return _judged(_est(numbers, key), lambda x: x < threshold)
    return judge


def between(key: str, low: float, high: float) -> Judge:
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        return _judged(_est(numbers, key), lambda x: low <= x <= high)
    return judge


def both(first: Judge, second: Judge) -> Judge:
    """A two-part claim: reproduced iff both parts are, partly iff both are at least partly, else not
    reproduced; n/a if either part is n/a."""
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        a, b = first(numbers, model), second(numbers, model)
        if a is None or b is None:
            return None
        verdicts = {a.verdict, b.verdict}
        verdict = (NA if NA in verdicts else REPRODUCED if verdicts == {REPRODUCED}
                   else PARTLY if NOT not in verdicts else NOT)
        return Result(f"{a.shown}; {b.shown}", verdict)
    return judge


def beyond(key: str, reference_key: str, factor: float = 1.0, sign: int = 1) -> Judge:
    """An effect beyond a reference (e.g. the page's random neurons): ``sign · value`` must exceed
    ``factor · |reference|``. Reproduced iff the whole interval of ``sign · value`` is above ``factor``
    times the reference interval's largest magnitude; partly iff the point is above ``factor`` times the
    reference's point magnitude; else not reproduced. n/a when either has no usable interval."""
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        est, ref = _est(numbers, key), _est(numbers, reference_key)
        if est is None or ref is None:
            return None
        shown = f"{est.text()} vs {factor:g} × |reference| {ref.text()}"
        problem = interval_problem(est) or interval_problem(ref)
        if problem is not None:
            return Result(f"{shown} (n/a: {problem})", NA)
        worst = min(sign * est.low, sign * est.high)
        if not sign * est.value > factor * abs(ref.value):
            verdict = NOT
        elif worst > factor * max(abs(ref.low), abs(ref.high), abs(ref.value)):
            verdict = REPRODUCED
        else:
            verdict = PARTLY
        return Result(shown, verdict)
    return judge


def applies_if(key: str, minimum: float, why: str, inner: Judge) -> Judge:
    """``inner``, or n/a (with ``why``) when the page's number ``key`` (a plain number) is below
    ``minimum``: a precondition of the measurement (e.g. enough of the vocabulary counted)."""
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        value = numbers.get(key)
        value = value.get("value") if isinstance(value, dict) else value
        if value is None:
            return None
        if not float(value) >= minimum:
            return Result(f"n/a: {why} ({key} = {float(value):.3g} < {minimum:g})", NA)
        return inner(numbers, model)
    return judge


def paper_models_only(models: tuple[str, ...], inner: Judge) -> Judge:
    """A claim about a neuron the paper names in ``models``: n/a for any other model."""
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        return inner(numbers, model) if model in models else None
    return judge


def per_model(inner: Judge) -> Judge:
    """For a cross-model page: read the numbers stored under the model's name."""
    def judge(numbers: dict[str, Any], model: str) -> Result | None:
        mine = numbers.get("models", {}).get(model)
        return None if mine is None else inner(mine, model)
    return judge


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
