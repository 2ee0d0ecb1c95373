"""The key numbers of the Stolfo et al. pages, each with its 95 % interval.

One function per page: it takes the page object (:mod:`helpers.pages`) and returns
``{key: Estimate | value}``, the numbers the scorecard's claims read (:mod:`helpers.scorecard`).
Intervals come from a bootstrap over the evaluated rows of the sweep (the units of its
measurement); statistics of the weights alone are exact (book: Methods, "Intervals and verdicts").
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd

from helpers import entropy, weights
from helpers.stats import Estimate, bootstrap, bootstrap_units, exact, median_at, robust_z, widened

N_TOP = 10  # "the highest-ρ neurons" of Fig 2e/2f
STRONG_COS = 0.5  # |cos(W_Uᵀ w_out, u_freq)| above which a neuron's logit effect "follows log frequency" (S-05)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of ``a`` and ``b`` (ties: average ranks)."""
    return float(pd.Series(a).rank().corr(pd.Series(b).rank()))


def _rows_bootstrap(page, statistic) -> Any:
    """Bootstrap over all the sweep's evaluated rows of ``statistic(summary of the resampled rows)``
    (for statistics of neurons chosen by their weights, not by a rule that read the rows); the
    interval is widened to contain the point."""
    sums = page.sweep.sums
    est = bootstrap(lambda idx: statistic(entropy.resampled_summary(page.sweep, sums, idx)),
                    len(sums["n_tokens"]), unit="rows", seed=page.seed)
    return widened(est)


def _tokens(page, neurons: list[int]) -> pd.DataFrame:
    return page.sweep.tokens[page.sweep.tokens.neuron.isin(neurons)]


def _interval(point: float, draws: list[float], n: int, unit: str) -> Estimate:
    """A percentile interval of ``draws`` (non-finite ones dropped), widened to contain ``point``."""
    finite = np.asarray([d for d in draws if np.isfinite(d)])
    low, high = (np.quantile(finite, [0.025, 0.975]) if finite.size else (np.nan, np.nan))
    return Estimate(float(point), float(np.fmin(low, point)), float(np.fmax(high, point)), n, unit)


def over_selected(page, neurons: list[int], per_neuron: Callable[[np.ndarray], np.ndarray], *,
                  reduce: Callable[[np.ndarray], float] = np.nanmedian, n_boot: int = 1000) -> Estimate | None:
    """A statistic of the selected set measured on the judgement rows only: ``reduce`` (median, or a
    share) over the neurons of ``per_neuron(idx)`` (one value per neuron from the judgement rows
    ``idx``, repeats allowed). The 95 % interval resamples the judgement rows and the neurons
    together (a two-way bootstrap), widened to contain the point. None when the set is empty."""
    if not neurons:
        return None
    n_rows, n = len(page.sweep.halves[1]), len(neurons)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a replicate whose neurons have no tokens: NaN, dropped
        point = float(reduce(per_neuron(np.arange(n_rows))))
        rng = np.random.default_rng(page.seed)
        draws = [float(reduce(per_neuron(rng.integers(0, n_rows, n_rows))[rng.integers(0, n, n)]))
                 for _ in range(n_boot)]
    return _interval(point, draws, n_rows, f"judgement rows, with the {n} selected neuron{'s' * (n != 1)} resampled")


def _from_summary(page, neurons: list[int], statistic: Callable[[pd.DataFrame], np.ndarray]):
    """per_neuron for :func:`over_selected` from a per-neuron column of the summary recomputed on
    the judgement rows ``idx`` (``statistic(frame)`` gives one value per neuron of the layer)."""
    sweep = page.sweep
    position = {int(n): i for i, n in enumerate(sweep.summary.neuron.to_numpy())}
    at = np.asarray([position[n] for n in neurons])
    cols = sweep.halves[1]
    return lambda idx: np.asarray(statistic(entropy.summary_on(sweep.summary, sweep.sums, cols[idx])))[at]


def _from_tokens(page, neurons: list[int], columns: list[str], statistic, keep=None):
    """per_neuron for :func:`over_selected` from each neuron's per-token results on the judgement
    rows ``idx`` (``keep(tokens)`` filters them first; ``statistic(columns)`` -> float, NaN if none)."""
    rows = page.sweep.judgement_rows
    parts = []
    for n in neurons:
        mine = _tokens(page, [n])
        mine = mine if keep is None else keep(page, n, mine)
        parts.append([{c: mine[mine.row == r][c].to_numpy() for c in columns} for r in rows])

    def per_neuron(idx: np.ndarray) -> np.ndarray:
        out = []
        for by_row in parts:
            cols = {c: np.concatenate([by_row[i][c] for i in idx]) for c in columns}
            out.append(statistic(cols) if len(cols[columns[0]]) else np.nan)
        return np.asarray(out, dtype=np.float64)
    return per_neuron


def _active(page, neuron: int, tokens: pd.DataFrame) -> pd.DataFrame:
    return tokens[tokens.activation > float(page.summary.mean_act[page.summary.neuron == neuron].iloc[0])]


def _share(values: np.ndarray) -> float:
    """The share of neurons whose value is true (1.0), among those with a value (NaN: none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else np.nan


def _tokens_bootstrap(page, tokens: pd.DataFrame, columns: list[str], statistic) -> Estimate:
    """Bootstrap over evaluated rows of a statistic of per-token columns."""
    return bootstrap_units({c: tokens[c].to_numpy() for c in columns}, tokens.row.to_numpy(), statistic,
                           unit="rows", seed=page.seed, n_boot=500)


def followed_numbers(page, kind: str = "entropy") -> dict[str, Any]:
    """The followed neuron and why (``stand-in`` when the rule selects none: the scorecard says so)."""
    suffix = "" if kind == "entropy" else "_frequency"
    return {f"followed{suffix}": page.label(page.followed(kind)), f"followed{suffix}_kind": page.followed_kind(kind)}


def selection(page) -> dict[str, Any]:
    """Which neurons the rules select on the selection rows, and how many, with intervals (the rules
    re-applied to resampled selection rows)."""
    counts = entropy.selection_counts(page.sweep, seed=page.seed)
    return {"n_entropy_neurons": counts["entropy"], "n_frequency_neurons": counts["frequency"],
            "entropy_neurons": [page.label(n) for n in page.entropy_neurons],
            "frequency_neurons": [page.label(n) for n in page.frequency_neurons],
            "paper_entropy_neurons": [page.label(n) for n in page.paper_entropy_neurons],
            "paper_frequency_neurons": [page.label(n) for n in page.paper_frequency_neurons],
            "selection_rows": page.sweep.selection_rows, "judgement_rows": page.sweep.judgement_rows,
            "n_tokens": int(page.sweep.info["n_tokens"])}


def judged_set(page, kind: str = "entropy") -> list[int]:
    """The neurons a claim about "the entropy (token-frequency) neurons" is judged over: the paper's
    list for its models, else the rule's selection (on the selection rows); empty: the claim is n/a."""
    if kind == "entropy":
        return list(page.paper_entropy_neurons or page.entropy_neurons)
    return list(page.paper_frequency_neurons or page.frequency_neurons)


def _per_prediction(frame: pd.DataFrame) -> np.ndarray:
    """Per neuron: |ΔH| per prediction change (floored at half a token) over the layer's median."""
    floor = 0.5 / max(frame.attrs["n_tokens"], 1)
    per = frame.abs_dentropy.to_numpy() / np.maximum(frame.pred_change.to_numpy(), floor)
    return per / np.median(per)


def fig1(page) -> dict[str, Any]:
    """Fig 1: the entropy neurons by the rule (selection rows); on the judgement rows, the median over
    them of the entropy change per prediction change over the layer median's (|ΔH| / prediction
    change, floored at half a token), and the followed neuron's effects."""
    n = page.followed("entropy")
    est = page.estimates(n)
    numbers = {**selection(page), **followed_numbers(page),
               "ln_fraction_followed": est["ln_fraction"], "abs_dentropy_followed": est["abs_dentropy"],
               "pred_change_followed": est["pred_change"],
               "entropy_per_prediction_selected": over_selected(
                   page, judged_set(page), _from_summary(page, judged_set(page), _per_prediction))}
    return {k: v for k, v in numbers.items() if v is not None}


def fig2a(page) -> dict[str, Any]:
    """Fig 2a: are the entropy neurons (the paper's list for its models, else the rule's) unusually
    large in ‖w_out‖ and small in LogitVar? Each as a robust z-score within the layer (a distance from
    the layer's median neuron in robust standard deviations); the median over those neurons, with an
    interval over them, beside the same median for the page's random neurons."""
    chosen = judged_set(page)
    neurons = page.summary.neuron.to_numpy()
    at, random = np.isin(neurons, chosen), np.isin(neurons, page.sweep.random_neurons)
    labels = [page.label(n) for n in page.summary.neuron[at]]
    out: dict[str, Any] = {"entropy_neurons_judged": labels}
    for key, z in (("norm_z", robust_z(page.summary.norm.to_numpy())),
                   ("logit_var_z", robust_z(np.log(page.summary.logit_var.to_numpy())))):
        mine = z[at]
        out[key] = dict(zip(labels, mine.round(3).tolist()))
        out[f"random_{key}"] = exact(float(np.median(z[random])))
        if len(mine):
            out[f"entropy_{key}"] = bootstrap(median_at(mine), len(mine), unit="entropy neurons", seed=page.seed)
    return out


def _te_over(direct: str) -> Callable[[dict[str, np.ndarray]], float]:
    def ratio(c: dict[str, np.ndarray]) -> float:
        return float(np.median(np.abs(c["dloss_te"])) / np.median(np.abs(c[direct])))
    return ratio


def fig2c(page) -> dict[str, Any]:
    """Fig 2c: on the judgement rows, the median over the entropy neurons of 1 − DE/TE and of the
    per-token median |ΔL| total over direct (norm frozen); the same ratio for the pooled random neurons."""
    n, chosen = page.followed("entropy"), judged_set(page)
    cols = ["dloss_te", "dloss_de"]

    def ln_fraction(frame: pd.DataFrame) -> np.ndarray:
        return frame.ln_fraction.to_numpy()

    numbers = {**followed_numbers(page), "ln_fraction_followed": page.estimates(n)["ln_fraction"],
               "ln_fraction_selected": over_selected(page, chosen, _from_summary(page, chosen, ln_fraction)),
               "te_over_de_selected": over_selected(page, chosen, _from_tokens(page, chosen, cols, _te_over("dloss_de")),
                                                    n_boot=500),
               "te_over_de_random": _tokens_bootstrap(page, _tokens(page, page.sweep.random_neurons), cols,
                                                      _te_over("dloss_de"))}
    return {k: v for k, v in numbers.items() if v is not None}


def fig2d(page, u: np.ndarray, s: np.ndarray) -> dict[str, Any]:
    """Fig 2d (exact, weights): the null space's size k from the spectrum's gap
    (:func:`helpers.weights.null_space_size`, or the page's ``null_space_k`` if given), how far its k
    singular values sit below the median one, and the followed entropy neuron's squared-norm share in
    those k directions: over k / d_model (a random direction's expected share) and over the 99th
    percentile of the largest share among d_mlp random directions (what the layer's most extreme
    neuron reaches by chance; :func:`helpers.weights.random_share_max_quantile`)."""
    d = len(s)
    k = int(page.null_space_k) or weights.null_space_size(s)
    n = page.followed("entropy")
    w_out = weights.effective_w_out(page.lm, page.layer)
    w = w_out[n].double().cpu().numpy()
    share = float(np.sum((u[:, -k:].T @ w) ** 2) / np.sum(w ** 2))
    bar = weights.random_share_max_quantile(k, d, w_out.shape[0], seed=page.seed)
    return {**followed_numbers(page), **spectrum(s, k), "null_space_k_rho": int(page.sweep.info["null_space_k"]),
            "null_sq_share_followed": exact(share), "null_sq_share_over_random": exact(share / (k / d)),
            "null_sq_share_random_max_p99": bar, "null_sq_share_over_random_max": exact(share / bar)}


def fig2e(page) -> dict[str, Any]:
    """Fig 2e/2f, on the N_TOP highest-ρ neurons (chosen by their weights, so all evaluated rows are
    used): the median 1 − DE/TE of those neurons minus the rest's (the tail the claim is about), the
    median |ΔH| of those over the rest's, and the Spearman correlation of ρ and 1 − DE/TE over the layer."""
    top = page.summary.rho.to_numpy() >= np.sort(page.summary.rho.to_numpy())[-N_TOP]

    def corr(frame: pd.DataFrame) -> float:
        return spearman(frame.rho.to_numpy(), frame.ln_fraction.to_numpy())

    def tail(frame: pd.DataFrame) -> float:
        values = frame.ln_fraction.to_numpy()
        return float(np.median(values[top]) - np.median(values[~top]))

    def dh(frame: pd.DataFrame) -> float:
        values = frame.abs_dentropy.to_numpy()
        return float(np.median(values[top]) / np.median(values[~top]))

    return {"ln_fraction_top_rho_minus_rest": _rows_bootstrap(page, tail),
            "spearman_rho_ln_fraction": _rows_bootstrap(page, corr),
            "abs_dentropy_top_rho_over_rest": _rows_bootstrap(page, dh),
            "top_rho_neurons": [page.label(n) for n in page.summary.neuron[top]]}


def clean_tokens(page) -> pd.DataFrame:
    """One row per evaluated token with its clean entropy and D_KL(P_freq ‖ P_model)."""
    return page.sweep.tokens.drop_duplicates(["row", "pos"])[["row", "pos", "entropy", "kl", "loss"]]


def frequency_reference(page) -> tuple[np.ndarray, float]:
    """For Fig 3a: per clean evaluated token (the order of :func:`clean_tokens`), the mean D_KL to
    P_freq with its token ids permuted (:func:`helpers.unigram.kl_true_and_permuted`, seeded), and
    the share of P_freq's mass its counts determine (:func:`helpers.unigram.counted_mass`)."""
    from helpers import unigram

    counts, _ = unigram.unigram_counts(page.lm, page.corpus, counts_file=page.counts_file)
    p_freq = unigram.unigram_distribution(counts, page.lm.cfg.d_vocab)
    clean = clean_tokens(page)
    rows = entropy.sweep_rows(page.lm, page.sweep)
    _, permuted = unigram.kl_true_and_permuted(page.lm, rows, clean.row.to_numpy(), clean.pos.to_numpy(), p_freq,
                                               seed=page.seed)
    return permuted, unigram.counted_mass(counts, page.lm.cfg.d_vocab)


def fig3a(page, reference: tuple[np.ndarray, float] | None = None) -> dict[str, Any]:
    """Fig 3a: Spearman correlation of per-token entropy and D_KL(P_freq ‖ P_model), and what is
    specific to token frequency: the mean D_KL to P_freq over the mean D_KL to P_freq with permuted
    token ids (< 1: the model's output is closer to the frequencies of *these* tokens than a broad
    distribution is to any). Intervals over rows; ``reference``: :func:`frequency_reference`."""
    clean = clean_tokens(page)
    permuted, mass = frequency_reference(page) if reference is None else reference
    clean = clean.assign(kl_perm=np.asarray(permuted))
    est = _tokens_bootstrap(page, clean, ["entropy", "kl"], lambda c: spearman(c["entropy"], c["kl"]))
    ratio = _tokens_bootstrap(page, clean, ["kl", "kl_perm"], lambda c: float(c["kl"].mean() / c["kl_perm"].mean()))
    return {"spearman_kl_entropy": est, "kl_true_over_permuted": ratio, "mean_kl": float(clean.kl.mean()),
            "mean_kl_permuted": float(clean.kl_perm.mean()), "p_freq_counted_mass": mass, "n_tokens": len(clean)}


def fig3b(page) -> dict[str, Any]:
    """Fig 3b: the token-frequency neurons, and how aligned their logit effects are with the frequency
    direction (|cos(W_Uᵀ w_out, u_freq)|, exact): the share of them above STRONG_COS (interval over
    those neurons), the followed one's, and the median of the page's random neurons."""
    n, chosen = page.followed("frequency"), judged_set(page, "frequency")
    cos = dict(zip(page.summary.neuron.to_numpy().tolist(), np.abs(page.summary.freq_cos.to_numpy())))
    est = page.estimates(n)
    numbers = {**selection(page), **followed_numbers(page, "frequency"), "frequency_cos_followed": exact(cos[n]),
               "frequency_cos": {page.label(m): round(float(cos[m]), 3) for m in chosen},
               "frequency_cos_random": exact(float(np.median([cos[m] for m in page.sweep.random_neurons]))),
               "freq_fraction_followed": est["freq_fraction"], "abs_dkl_followed": est["abs_dkl"]}
    if chosen:
        strong = np.asarray([cos[m] > STRONG_COS for m in chosen], dtype=np.float64)
        share = bootstrap(lambda idx: float(strong[idx].mean()), len(strong), unit="token-frequency neurons",
                          seed=page.seed)
        numbers["share_frequency_cos_strong"] = widened(share)
    return numbers


def fig3c(page) -> dict[str, Any]:
    """Fig 3c: on the judgement rows, the median over the token-frequency neurons of the per-token
    median |ΔL| total over frequency-direct; the same for the followed one and the pooled random neurons."""
    n, chosen = page.followed("frequency"), judged_set(page, "frequency")
    cols = ["dloss_te", "dloss_freq"]
    judged = _tokens(page, [n])
    numbers = {**followed_numbers(page, "frequency"),
               "te_over_de_freq_selected": over_selected(
                   page, chosen, _from_tokens(page, chosen, cols, _te_over("dloss_freq")), n_boot=500),
               "te_over_de_freq_followed": _tokens_bootstrap(
                   page, judged[judged.row.isin(page.sweep.judgement_rows)], cols, _te_over("dloss_freq")),
               "te_over_de_freq_random": _tokens_bootstrap(page, _tokens(page, page.sweep.random_neurons), cols,
                                                           _te_over("dloss_freq"))}
    return {k: v for k, v in numbers.items() if v is not None}


def active_tokens(page, neuron: int, *, judgement: bool = False) -> pd.DataFrame:
    """The evaluated tokens (only the judgement rows' with ``judgement``) where ``neuron`` is more
    active than its mean (Figs 4a, 4c)."""
    tokens = _active(page, neuron, _tokens(page, [neuron]))
    return tokens[tokens.row.isin(page.sweep.judgement_rows)] if judgement else tokens


def _mean(page, tokens: pd.DataFrame, column: str) -> Estimate | None:
    if tokens.empty:
        return None
    return _tokens_bootstrap(page, tokens, [column], lambda c: float(np.mean(c[column])))


def random_active_reference(page, column: str) -> Estimate | None:
    """The page's random neurons' reference for a per-token effect: the mean of ``column`` on the
    tokens where each random neuron is above its mean, for the random neuron with the largest |mean|
    (chosen on all rows, then fixed), with its interval over rows (S-37: beyond 2× this)."""
    means = {}
    for n in page.sweep.random_neurons:
        active = active_tokens(page, n)
        if not active.empty:
            means[n] = abs(float(active[column].mean()))
    if not means:
        return None
    return _mean(page, active_tokens(page, max(means, key=means.__getitem__)), column)


def _mean_of(column: str) -> Callable[[dict[str, np.ndarray]], float]:
    return lambda c: float(np.mean(c[column]))


def _sign_of(column: str, negative: bool) -> Callable[[dict[str, np.ndarray]], float]:
    """1.0 when the mean of ``column`` is on the claimed side (below 0 if ``negative``), else 0.0."""
    return lambda c: float((np.mean(c[column]) < 0) if negative else (np.mean(c[column]) > 0))


def _where(rr: Callable[[pd.Series], pd.Series]):
    return lambda page, n, tokens: _active(page, n, tokens)[lambda t: rr(t.rr)]


def fig4ab(page) -> dict[str, Any]:
    """Fig 4a, on the judgement rows where a neuron is above its mean: the mean ΔL of its ablation on
    tokens the model gets right (RR = 1) and wrong (RR < 0.5), and the mean ΔH; the median of each
    over the entropy neurons (the claims), and each for the followed one."""
    n, chosen = page.followed("entropy"), judged_set(page)
    active = active_tokens(page, n, judgement=True)
    correct, wrong = _where(lambda rr: rr == 1), _where(lambda rr: rr < 0.5)
    numbers = {**followed_numbers(page), "n_active_tokens": len(active),
               "dloss_correct_selected": over_selected(
                   page, chosen, _from_tokens(page, chosen, ["dloss_te"], _mean_of("dloss_te"), correct), n_boot=500),
               "dloss_wrong_selected": over_selected(
                   page, chosen, _from_tokens(page, chosen, ["dloss_te"], _mean_of("dloss_te"), wrong), n_boot=500),
               "dentropy_active_selected": over_selected(
                   page, chosen, _from_tokens(page, chosen, ["dentropy_te"], _mean_of("dentropy_te"),
                                              _where(lambda rr: rr >= 0)), n_boot=500),
               "dloss_correct": _mean(page, active[active.rr == 1], "dloss_te"),
               "dloss_wrong": _mean(page, active[active.rr < 0.5], "dloss_te"),
               "dentropy_active": _mean(page, active, "dentropy_te"),
               "dentropy_active_random": random_active_reference(page, "dentropy_te")}
    return {k: v for k, v in numbers.items() if v is not None}


def fig4c(page) -> dict[str, Any]:
    """Fig 4c, on the judgement rows' RR = 1 tokens where a token-frequency neuron is above its mean:
    the share of the token-frequency neurons whose ablation lowers the mean entropy (ΔH < 0: the
    neuron raises entropy) and the share whose ablation raises the mean D_KL(P_freq ‖ P_model)
    (ΔD_KL > 0: the neuron pulls towards P_freq), the paper's signs for 23.417; and the followed
    neuron's mean ΔH and ΔD_KL."""
    n, chosen = page.followed("frequency"), judged_set(page, "frequency")
    shown = active_tokens(page, n, judgement=True)
    shown = shown[shown.rr == 1]
    correct = _where(lambda rr: rr == 1)
    numbers = {**followed_numbers(page, "frequency"), "n_tokens_shown": len(shown),
               "share_frequency_raising_entropy": over_selected(
                   page, chosen, _from_tokens(page, chosen, ["dentropy_te"], _sign_of("dentropy_te", True), correct),
                   reduce=_share, n_boot=500),
               "share_frequency_towards_pfreq": over_selected(
                   page, chosen, _from_tokens(page, chosen, ["dkl_te"], _sign_of("dkl_te", False), correct),
                   reduce=_share, n_boot=500),
               "dentropy_correct": _mean(page, shown, "dentropy_te"), "dkl_correct": _mean(page, shown, "dkl_te")}
    return {k: v for k, v in numbers.items() if v is not None}


def across_models(sweep: entropy.Sweep, *, seed: int) -> dict[str, Any]:
    """Figs 7 and 8, one model: how many entropy and token-frequency neurons the rules select on the
    selection rows (intervals over those rows), which, and the Spearman correlation of ρ and 1 − DE/TE."""
    counts = entropy.selection_counts(sweep, seed=seed)
    summary, layer = sweep.summary, sweep.info["layer"]
    return {"n_entropy_neurons": counts["entropy"], "n_frequency_neurons": counts["frequency"],
            "entropy_neurons": [f"{layer}.{n}" for n in sweep.entropy_neurons],
            "frequency_neurons": [f"{layer}.{n}" for n in sweep.token_frequency_neurons],
            "max_rho": float(summary.rho.max()),
            "spearman_rho_ln_fraction": spearman(summary.rho.to_numpy(), summary.ln_fraction.to_numpy())}


def spectrum(s: np.ndarray, k: int | None = None) -> dict[str, Any]:
    """Fig 6 and 2d, one model (exact, weights): the null space's size k (default: from the spectrum's
    gap, :func:`helpers.weights.null_space_size`), its depth (mean of the last k singular values over
    the median one), the gap at its edge (s_{d−k} / s_{d−k+1}) and the condition number of W_U."""
    s = np.asarray(s, dtype=np.float64)
    k = weights.null_space_size(s) if k is None else int(k)
    return {"d_model": len(s), "null_space_k": k, "null_space_over_median": exact(s[-k:].mean() / np.median(s)),
            "null_space_gap": float(s[-k - 1] / s[-k]), "s_max_over_s_min": float(s[0] / s[-1])}
