"""Bootstrap intervals and robust z-scores against hand computations."""

import itertools

import numpy as np
import pytest

from helpers import stats


def test_bootstrap_of_a_mean_covers_the_exact_resampling_distribution():
    values = np.array([1.0, 2.0, 4.0, 8.0])
    est = stats.mean_over_units(values, unit="rows", seed=3, n_boot=4000)
    assert est.value == pytest.approx(3.75) and est.n == 4 and est.unit == "rows"
    # all 4**4 equally likely resamples: the exact percentile interval
    means = np.sort([np.mean(values[list(idx)]) for idx in itertools.product(range(4), repeat=4)])
    exact_low, exact_high = np.quantile(means, [0.025, 0.975])
    assert est.low == pytest.approx(exact_low, abs=0.3) and est.high == pytest.approx(exact_high, abs=0.3)
    assert est.low <= est.value <= est.high


def test_bootstrap_is_seeded_and_vectorised():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(30, 3))
    a = stats.bootstrap(lambda idx: data[idx].mean(0), 30, unit="rows", seed=1, n_boot=200)
    b = stats.bootstrap(lambda idx: data[idx].mean(0), 30, unit="rows", seed=1, n_boot=200)
    np.testing.assert_array_equal(a["low"], b["low"])
    np.testing.assert_allclose(a["value"], data.mean(0))
    # a 95 % interval of a mean of 30 standard normals is about ±1.96/sqrt(30) = ±0.36 wide
    np.testing.assert_allclose(a["high"] - a["low"], 2 * 1.96 / np.sqrt(30), rtol=0.35)


def test_ratio_of_sums_is_not_the_mean_of_ratios():
    num, den = np.array([1.0, 9.0]), np.array([1.0, 10.0])
    est = stats.ratio_of_sums(num, den, unit="rows", n_boot=100)
    assert est.value == pytest.approx(10 / 11)
    assert est.low == pytest.approx(0.9, abs=1e-9) and est.high == pytest.approx(1.0, abs=1e-9)


def test_estimate_round_trips_through_json_and_prints_its_interval():
    est = stats.Estimate(0.4921, 0.41, 0.5712, 4, "rows")
    assert stats.Estimate.from_json(est.to_json()) == est
    assert stats.is_estimate(est.to_json()) and str(est) == "0.492 [0.41, 0.571]"
    nan = stats.Estimate(float("nan"), 0.0, 1.0, 2, "rows")
    assert nan.to_json()["value"] is None and "n/a" in nan.text()


def test_robust_z_ignores_the_outliers_it_is_meant_to_find():
    bulk = np.array([-1.0, -0.5, 0.0, 0.5, 1.0] * 20)
    z = stats.robust_z(np.append(bulk, 100.0))
    mad = np.median(np.abs(bulk - 0.0))  # the outlier moves neither median nor MAD here
    assert z[-1] == pytest.approx(100 / (1.4826 * mad), rel=1e-9)
    assert np.all(np.isfinite(stats.robust_z(np.array([0.0, 0.0, 0.0, 5.0]))))


def test_bootstrap_units_resamples_whole_units():
    # two rows: row 0 has tokens [1, 1], row 1 has [5]; a resample is {0,0}, {0,1}, {1,0} or {1,1}
    est = stats.bootstrap_units({"x": np.array([1.0, 1.0, 5.0])}, np.array([0, 0, 1]),
                                lambda c: c["x"].mean(), unit="rows", n_boot=400, seed=2)
    assert est.value == pytest.approx(7 / 3) and est.n == 2
    assert est.low == pytest.approx(1.0) and est.high == pytest.approx(5.0)
    assert stats.exact(2.5).text() == "2.5 [2.5, 2.5]"


def test_widened_reaches_the_point_and_never_narrows():
    beside = stats.widened(stats.Estimate(0.5, 0.6, 0.9, 4, "rows"))  # a percentile interval beside its point
    assert (beside.low, beside.high) == (0.5, 0.9)
    inside = stats.Estimate(0.5, 0.2, 0.9, 4, "rows")
    assert stats.widened(inside) == inside
