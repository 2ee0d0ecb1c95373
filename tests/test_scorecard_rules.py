"""The scorecard's rule combinators (helpers.rules): each verdict on hand-made key numbers."""

from __future__ import annotations

import math

import pytest

from helpers.rules import NA, NOT, PARTLY, REPRODUCED, above, applies_if, below, between, beyond, both, interval_problem
from helpers.stats import Estimate, exact


def _n(value: float, low: float, high: float) -> dict:
    return Estimate(value, low, high, 8, "rows").to_json()


@pytest.mark.parametrize("number, verdict", [
    (_n(2.0, 1.5, 2.5), REPRODUCED),  # whole interval above 1
    (_n(2.0, 0.5, 2.5), PARTLY),  # point above, interval straddles
    (_n(0.9, 0.5, 2.5), NOT),  # point below
    (exact(1.2).to_json(), REPRODUCED),  # a weight statistic: its interval is the point
    (exact(1.0).to_json(), NOT),  # strictly above
    (_n(2.0, math.nan, math.nan), NA),  # no interval
    (_n(2.0, 2.1, 2.5), NA),  # interval excludes its point: a bug, never a verdict
    (3.0, NA),  # a plain number has no interval
])
def test_above_judges_by_the_whole_interval(number, verdict):
    result = above("x", 1.0)({"x": number}, "m")
    assert result.verdict == verdict
    if verdict == NA:
        assert "n/a" in result.shown


def test_below_and_between_mirror_above():
    assert below("x", 0)({"x": _n(-1, -2, -0.5)}, "m").verdict == REPRODUCED
    assert below("x", 0)({"x": _n(-1, -2, 0.5)}, "m").verdict == PARTLY
    assert below("x", 0)({"x": _n(0.1, -2, 0.5)}, "m").verdict == NOT
    assert between("x", 0.8, 1.25)({"x": _n(1.0, 0.9, 1.1)}, "m").verdict == REPRODUCED
    assert between("x", 0.8, 1.25)({"x": _n(1.0, 0.7, 1.1)}, "m").verdict == PARTLY
    assert between("x", 0.8, 1.25)({"x": _n(1.3, 1.0, 1.4)}, "m").verdict == NOT
    assert above("missing", 0)({}, "m") is None  # not measured: the caller says n/a


@pytest.mark.parametrize("a, b, verdict", [
    (_n(2, 1.5, 3), _n(2, 1.5, 3), REPRODUCED),
    (_n(2, 1.5, 3), _n(2, 0.5, 3), PARTLY),
    (_n(2, 0.5, 3), _n(2, 0.5, 3), PARTLY),
    (_n(2, 1.5, 3), _n(0, -1, 3), NOT),  # one part reproduced and one not: not reproduced (was partly)
    (_n(2, 0.5, 3), _n(0, -1, 3), NOT),
    (_n(2, 1.5, 3), _n(2, math.nan, math.nan), NA),
])
def test_both_needs_both_parts(a, b, verdict):
    assert both(above("a", 1), above("b", 1))({"a": a, "b": b}, "m").verdict == verdict


@pytest.mark.parametrize("effect, reference, sign, verdict", [
    (_n(0.30, 0.20, 0.40), _n(0.03, 0.02, 0.05), 1, REPRODUCED),  # 0.20 > 2 × 0.05
    (_n(0.30, 0.05, 0.40), _n(0.03, 0.02, 0.05), 1, PARTLY),  # point beyond 2 × 0.03, interval not beyond 0.10
    (_n(0.05, 0.04, 0.06), _n(0.03, 0.02, 0.05), 1, NOT),  # 0.05 < 2 × 0.03
    (_n(-0.3, -0.4, -0.2), _n(0.05, -0.02, 0.08), -1, REPRODUCED),  # a negative effect vs |reference|
    (_n(-0.3, -0.4, -0.2), _n(0.05, -0.02, 0.08), 1, NOT),  # wrong sign
    (_n(0.30, 0.20, 0.40), _n(0.03, math.nan, math.nan), 1, NA),
])
def test_beyond_compares_with_a_reference_by_a_factor(effect, reference, sign, verdict):
    judge = beyond("e", "r", 2, sign=sign)
    assert judge({"e": effect, "r": reference}, "m").verdict == verdict


def test_applies_if_makes_the_claim_na_below_its_precondition():
    judge = applies_if("coverage", 0.9, "too little of the vocabulary counted", above("x", 0))
    assert judge({"coverage": 0.5, "x": _n(1, 0.5, 2)}, "m").verdict == NA
    assert "too little" in judge({"coverage": 0.5, "x": _n(1, 0.5, 2)}, "m").shown
    assert judge({"coverage": 0.95, "x": _n(1, 0.5, 2)}, "m").verdict == REPRODUCED


def test_interval_problem_names_the_defect():
    assert interval_problem(Estimate(1, 0, 2, 3, "rows")) is None
    assert interval_problem(Estimate(1, 1, 1, 1, "exact")) is None
    assert interval_problem(Estimate(1, math.nan, 2, 3, "rows")) == "no interval"
    assert "excludes" in interval_problem(Estimate(0.0079, 0.0081, 0.0088, 64, "seqs"))
