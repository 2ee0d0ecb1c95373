"""Point estimates with seeded bootstrap intervals over the independent units of a measurement.

Tokens of one row, or positions of one sequence, are not independent; rows, sequences and
documents are. So every interval here resamples *units* with replacement (the percentile
bootstrap, ``n_boot`` replicates, seeded) and recomputes the statistic from the resampled units:
for the entropy sweep the units are the evaluated corpus rows, for the induction study the repeated
sequences, for Voita's counts the corpus rows. With few units (the quick profile evaluates 8 rows: helpers.profiles)
the intervals are wide, and the verdicts say so (book: Methods, "Intervals and verdicts").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeGuard

import numpy as np

N_BOOT = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A number with its 95 % bootstrap interval [low, high] over ``n`` independent ``unit``."""

    value: float
    low: float
    high: float
    n: int
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {"value": _num(self.value), "ci": [_num(self.low), _num(self.high)], "n": self.n, "unit": self.unit}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Estimate":
        low, high = data["ci"]
        return cls(_float(data["value"]), _float(low), _float(high), int(data["n"]), str(data["unit"]))

    def text(self, digits: int = 3) -> str:
        """``0.49 [0.41, 0.57]``."""
        return f"{_fmt(self.value, digits)} [{_fmt(self.low, digits)}, {_fmt(self.high, digits)}]"

    def __str__(self) -> str:
        return self.text()


def is_estimate(data: Any) -> TypeGuard[dict[str, Any]]:
    """Whether ``data`` is an :class:`Estimate` as stored in key_numbers.json."""
    return isinstance(data, dict) and {"value", "ci", "n", "unit"} <= set(data)


def bootstrap(statistic: Callable[[np.ndarray], Any], n_units: int, *, unit: str, seed: int = 0,
              n_boot: int = N_BOOT, level: float = LEVEL) -> Any:
    """Percentile bootstrap of ``statistic`` over ``n_units`` independent units.

    ``statistic(idx)`` receives an index array into the units (``arange(n_units)`` for the point
    estimate, ``n_units`` draws with replacement for each replicate) and returns a float, or an
    array of floats (several statistics at once). Returns an :class:`Estimate` for a float, else a
    dict of arrays ``value``, ``low``, ``high`` of the statistic's shape. Replicates whose statistic
    is not finite (e.g. a ratio whose denominator resampled to 0) are dropped.
    """
    if n_units < 1:
        raise ValueError("bootstrap needs at least one unit")
    point = np.asarray(statistic(np.arange(n_units)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.stack([np.asarray(statistic(rng.integers(0, n_units, n_units)), dtype=np.float64)
                      for _ in range(n_boot)])  # [n_boot, *shape]
    alpha = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        finite = np.where(np.isfinite(draws), draws, np.nan)
        low = np.nanquantile(finite, alpha, axis=0) if np.isfinite(finite).any() else np.full(point.shape, np.nan)
        high = np.nanquantile(finite, 1 - alpha, axis=0) if np.isfinite(finite).any() else np.full(point.shape, np.nan)
    if point.ndim == 0:
        return Estimate(float(point), float(low), float(high), n_units, unit)
    return {"value": point, "low": np.asarray(low), "high": np.asarray(high)}


def mean_at(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """The :func:`bootstrap` statistic ``idx -> mean(values[idx])``, with ``values`` bound now (safe in a loop)."""
    return lambda idx: float(values[idx].mean())


def median_at(values: np.ndarray) -> Callable[[np.ndarray], float]:
    """The :func:`bootstrap` statistic ``idx -> median(values[idx])``, with ``values`` bound now (safe in a loop)."""
    return lambda idx: float(np.median(values[idx]))


def bootstrap_units(columns: dict[str, np.ndarray], units: np.ndarray, statistic: Callable[[dict[str, np.ndarray]], Any],
                    *, unit: str, seed: int = 0, n_boot: int = N_BOOT) -> Any:
    """Percentile bootstrap over the distinct values of ``units`` for per-item data (e.g. per-token
    columns whose ``units`` array says which row each token came from): each replicate draws units
    with replacement and hands ``statistic`` the columns of all their items (a unit drawn twice
    contributes its items twice)."""
    units = np.asarray(units)
    labels = np.unique(units)
    members = [np.flatnonzero(units == label) for label in labels]
    cols = {name: np.asarray(values) for name, values in columns.items()}

    def of(idx: np.ndarray) -> Any:
        take = np.concatenate([members[i] for i in idx])
        return statistic({name: values[take] for name, values in cols.items()})

    return bootstrap(of, len(labels), unit=unit, seed=seed, n_boot=n_boot)


# Student t quantiles t_{0.975, df} for the few splits a split interval uses (no scipy here).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def t975(df: int) -> float:
    """t_{0.975, df}: the table's value, or the next smaller df's listed value (conservative); 1.96 beyond 30."""
    if df < 1:
        raise ValueError("t975 needs df >= 1")
    return _T975[max(k for k in _T975 if k <= df)] if df <= 30 else 1.96


def split_mean(values: np.ndarray | Sequence[float], *, unit: str,
               bounds: tuple[float, float] = (-math.inf, math.inf)) -> Estimate:
    """The mean of a statistic computed on S disjoint, equal-size splits of the data, with the
    t interval mean ± t_{0.975, S-1} · sd / √S ("batch means"), clipped to ``bounds``.

    For statistics whose expected value depends on the sample size (counts of what was seen at
    least or never: dead neurons, detectors), this is an interval for the statistic *at the split
    size*, and the mean is its estimate, so the interval contains it by construction. A split whose
    statistic is not finite makes the whole estimate NaN (no verdict)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not np.isfinite(v).all():
        return Estimate(float("nan"), float("nan"), float("nan"), int(v.size), unit)
    mean = float(v.mean())
    if v.size < 2:
        return Estimate(mean, float("nan"), float("nan"), 1, unit)
    half = t975(v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)
    low, high = np.clip([mean - half, mean + half], *bounds)
    return Estimate(mean, float(min(low, mean)), float(max(high, mean)), int(v.size), unit)


def contains(est: Estimate) -> bool:
    """Whether an interval contains its estimate (True when either is missing: nothing to contradict)."""
    if not (math.isfinite(est.value) and math.isfinite(est.low) and math.isfinite(est.high)):
        return True
    return est.low <= est.value <= est.high


def widened(est: Estimate) -> Estimate:
    """``est`` with its interval stretched to reach its point: a percentile interval of a median or
    a share over few units can lie beside the point. Only ever wider, so a verdict can only weaken."""
    return Estimate(est.value, min(est.low, est.value), max(est.high, est.value), est.n, est.unit)


def exact(value: float, what: str = "weights") -> Estimate:
    """A number without sampling error (e.g. a statistic of the weights): its interval is the point."""
    return Estimate(float(value), float(value), float(value), 1, f"exact ({what}, no sampling)")


def mean_over_units(values: np.ndarray, *, unit: str, seed: int = 0, n_boot: int = N_BOOT) -> Estimate:
    """The mean of one value per unit, with its bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    return bootstrap(lambda idx: values[idx].mean(), len(values), unit=unit, seed=seed, n_boot=n_boot)


def ratio_of_sums(numerator: np.ndarray, denominator: np.ndarray, *, unit: str, seed: int = 0,
                  n_boot: int = N_BOOT) -> Estimate:
    """Σ numerator / Σ denominator over units (e.g. per-row sums of |ΔL_DE| and |ΔL_TE|)."""
    num, den = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return bootstrap(lambda idx: num[idx].sum() / den[idx].sum(), len(num), unit=unit, seed=seed, n_boot=n_boot)


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x − median) / (1.4826 · MAD): how far each value sits from the typical one, in robust
    standard deviations (1.4826 · MAD equals the standard deviation for normal data, but a few
    outliers, the neurons we look for, barely move it). MAD = 0 is replaced by the smallest
    positive absolute deviation, so a constant bulk does not divide by zero."""
    x = np.asarray(values, dtype=np.float64)
    median = np.nanmedian(x)
    dev = np.abs(x - median)
    mad = np.nanmedian(dev)
    if not mad > 0:
        positive = dev[dev > 0]
        mad = positive.min() if positive.size else 1.0
    return (x - median) / (1.4826 * mad)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _fmt(x: float, digits: int) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}g}"
