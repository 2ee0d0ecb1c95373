"""The key numbers of the induction case study's pages (Stolfo et al. 2024 §6), each with its 95 %
interval over the repeated sequences (:mod:`helpers.stolfo_numbers` has the other Stolfo pages').

One function per page: it takes the page object (:class:`helpers.induction_pages.InductionPage`)
and what the notebook computed, and returns ``{key: Estimate | value}`` for the scorecard.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from helpers.induction import copy_windows, nat_difference, score_table
from helpers.stats import Estimate, bootstrap, bootstrap_units
from helpers.stolfo_numbers import followed_numbers, spearman

LAYER_QUANTILE = 0.95  # S-24: a rise beyond the layer's 95th percentile of |change|: a neuron chosen
# independently of its change passes by chance with probability ~2.5 % (a twin's tail is heavy: 3 x the
# median is passed by 7 % of a weight-shuffled SmolLM2's neurons)


def _norms(page) -> np.ndarray:
    """‖w_out‖ of every final-layer neuron, indexed by neuron."""
    return page.summary.set_index("neuron").norm.sort_index().to_numpy()


def fig5a(page, repeats) -> dict[str, Any]:
    """Fig 5a: mean entropy and loss on the repeated half over the first half; the followed entropy
    neuron's mean activation change (repeated − first half) alone, and times ‖w_out‖ (its change of
    the residual) over the 95th percentile over the layer's neurons of |change × ‖w_out‖| on all
    sequences (the reference, fixed: a quantile of resampled |means| is biased up and its interval
    excluded its point); per sequence, bootstrapped over the sequences."""

    first, second, _ = (w[:-1].numpy() for w in copy_windows(repeats.seqs.shape[1]))  # positions with a target
    loss, ent = repeats.loss.numpy(), repeats.entropy.numpy()  # [S, L - 1]
    n = page.followed("entropy")
    weighted = (repeats.window_means[1] - repeats.window_means[0]).numpy() * _norms(page)  # [S, d_mlp]
    change = (repeats.window_means[1] - repeats.window_means[0])[:, n].numpy()
    layer = float(np.quantile(np.abs(weighted.mean(0)), LAYER_QUANTILE))

    def ratio(values: np.ndarray):
        return lambda idx: float(values[idx][:, second].mean() / values[idx][:, first].mean())

    seqs = len(loss)
    return {**followed_numbers(page), "n_seqs": seqs,
            "entropy_first_half": float(ent[:, first].mean()), "entropy_second_half": float(ent[:, second].mean()),
            "entropy_ratio_repeat": bootstrap(ratio(ent), seqs, unit="sequences", seed=page.seed),
            "loss_ratio_repeat": bootstrap(ratio(loss), seqs, unit="sequences", seed=page.seed),
            "activation_change_followed": bootstrap(lambda idx: float(change[idx].mean()), seqs, unit="sequences",
                                                    seed=page.seed),
            "weighted_change_layer_p95": layer,
            "weighted_change_over_layer": bootstrap(lambda idx: float(weighted[idx, n].mean() / layer), seqs,
                                                    unit="sequences", seed=page.seed)}


def clip_ratios(clip: pd.DataFrame) -> pd.DataFrame:
    """Per (neuron, position): the mean over sequences of H_ablated / H_clean (from the per-token
    output of ``induction.clip_ablation``), the table Figs 5b and 10b draw."""
    return (clip.assign(entropy_ratio_te=(clip.entropy + clip.dentropy_te) / clip.entropy)
            .groupby(["neuron", "pos"], as_index=False).entropy_ratio_te.mean())


def _max_reductions(clip: pd.DataFrame, neurons: list[int], repeat_start: int) -> dict[int, np.ndarray]:
    """Per neuron: [S, P] entropy ratios on the repeat's positions (sequences × positions)."""
    out = {}
    for n in neurons:
        mine = clip[(clip.neuron == n) & (clip.pos >= repeat_start)]
        ratio = ((mine.entropy + mine.dentropy_te) / mine.entropy).to_numpy()
        out[n] = pd.DataFrame({"seq": mine.seq.to_numpy(), "pos": mine.pos.to_numpy(), "r": ratio}) \
            .pivot(index="seq", columns="pos", values="r").to_numpy()
    return out


def fig5b(page, clip: pd.DataFrame, neurons: list[int], random: list[int]) -> dict[str, Any]:
    """Fig 5b: the largest mean entropy reduction over the repeat's positions, 1 − min_pos mean_seq
    H_ablated / H_clean, of the followed neuron, the largest among the page's random neurons (the
    reference: a minimum over ~100 positions is above 0 for any neuron), and the followed neuron's
    lead over the next entropy neuron's. Intervals over the ablated sequences, each at the neuron's
    peak position (found on all sequences, then fixed: a bootstrapped minimum over positions is biased
    low and its interval can exclude its own point); the random reference is the random neuron with
    the largest reduction."""
    start = page.repeat_len + 1
    ratios = _max_reductions(clip, neurons + list(random), start)
    seqs = next(iter(ratios.values())).shape[0]

    first = neurons[0]
    peak = {n: int(np.argmin(r.mean(0))) for n, r in ratios.items()}  # each neuron's position of largest reduction

    def reduction(n: int):  # at the neuron's peak position, fixed: a bootstrapped minimum over positions is biased
        return lambda idx: float(1 - ratios[n][idx, peak[n]].mean())

    strongest_random = max(random, key=lambda n: reduction(n)(np.arange(seqs))) if random else None
    numbers: dict[str, Any] = {**followed_numbers(page), "n_ablate_seqs": seqs,
                               "max_entropy_reduction_followed": bootstrap(reduction(first), seqs, unit="sequences",
                                                                           seed=page.seed),
                               "max_entropy_reduction": {page.label(n): float(1 - ratios[n].mean(0).min())
                                                         for n in ratios},
                               "random_neurons": [page.label(n) for n in random]}
    if strongest_random is not None:  # random is not empty
        numbers["max_entropy_reduction_random"] = bootstrap(reduction(strongest_random), seqs, unit="sequences",
                                                            seed=page.seed)
    others = [n for n in neurons[1:]]
    if others:
        nxt = max(others, key=lambda n: reduction(n)(np.arange(seqs)))  # the next entropy neuron, fixed
        numbers["followed_lead_over_next"] = bootstrap(lambda idx: float(reduction(first)(idx) - reduction(nxt)(idx)),
                                                       seqs, unit="sequences", seed=page.seed)
    return numbers


def fig5c(page, scores: np.ndarray, components: dict[str, list], original: np.ndarray,
          curves: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fig 5c: the share of the followed neuron's repeat-induced rise that BOS ablation removes,
    (orig_2nd − ablated_2nd) / (orig_2nd − orig_1st), for the top-3 induction heads together and
    the |share| of the baseline removing most (chosen on all sequences, then fixed; intervals over the
    sequences); the mean induction score of the third-ranked head (interval over the random sequences)."""

    half = page.half
    pos = np.arange(1, original.shape[1] + 1)  # the curves start at position 1
    first, second = pos <= half, pos > half

    def removed(curve: np.ndarray):
        def of(idx: np.ndarray) -> float:
            o, c = original[idx], curve[idx]
            rise = o[:, second].mean() - o[:, first].mean()
            return float((o[:, second].mean() - c[:, second].mean()) / rise)
        return of

    seqs = original.shape[0]
    table = score_table(scores)
    # the head ranked third on all sequences, fixed: the third-largest of resampled means is an order
    # statistic, biased up, whose percentile interval excluded its own point on a twin
    third = int(np.argsort(scores.mean(0).ravel(), kind="stable")[-3])
    numbers: dict[str, Any] = {
        **followed_numbers(page), "induction_heads": list(table.label.head(3)),
        "induction_scores": [round(float(s), 3) for s in table.score.head(3)],
        "n_heads_above_0.7": int((table.score > 0.7).sum()),
        "rise_removed": {name: removed(c)(np.arange(seqs)) for name, c in curves.items()},
        "third_induction_score": bootstrap(lambda idx: float(scores[idx].mean(0).ravel()[third]),
                                           scores.shape[0], unit="random sequences", seed=page.seed)}
    if "Ind. heads 1-3" in curves:
        numbers["rise_removed_three_heads"] = bootstrap(removed(curves["Ind. heads 1-3"]), seqs, unit="sequences",
                                                        seed=page.seed)
    baselines = [c for name, c in curves.items() if name.startswith("baseline")]
    if baselines:  # the baseline removing most on all sequences, fixed (a bootstrapped maximum is biased up)
        strongest = max(baselines, key=lambda c: abs(removed(c)(np.arange(seqs))))
        numbers["rise_removed_baselines_max"] = bootstrap(lambda idx: abs(removed(strongest)(idx)), seqs,
                                                          unit="sequences", seed=page.seed)
    return numbers


def fig10(page, clip: pd.DataFrame, neurons: list[int], random: Sequence[int] = ()) -> dict[str, Any]:
    """Fig 10c: the mean ΔLoss of the followed token-frequency neuron's clip mean-ablation on the
    tokens in the lowest and the highest quarter of clean loss, and the same for the page's random
    neuron with the largest |mean| (the reference: ablating any neuron raises a low loss and lowers a
    high one somewhat, by regression to the mean); intervals over the sequences. Also each neuron's
    largest entropy reduction."""
    n = neurons[0]
    mine = clip[clip.neuron == n]
    low_cut, high_cut = mine.loss.quantile([0.25, 0.75])
    start = page.repeat_len + 1
    ratios = _max_reductions(clip, neurons, start)
    numbers: dict[str, Any] = {**followed_numbers(page, "frequency"),
                               "max_entropy_reduction": {page.label(m): float(1 - r.mean(0).min()) for m, r in ratios.items()}}

    def quartile(neuron: int, low: bool) -> pd.DataFrame:
        part = clip[clip.neuron == neuron]
        return part[part.loss <= low_cut] if low else part[part.loss >= high_cut]

    def mean_over_seqs(part: pd.DataFrame) -> Estimate:
        return bootstrap_units({"d": part.dloss_te.to_numpy()}, part.seq.to_numpy(), lambda c: float(c["d"].mean()),
                               unit="sequences", seed=page.seed, n_boot=500)

    for key, low in (("dloss_low_clean", True), ("dloss_high_clean", False)):
        numbers[key] = mean_over_seqs(quartile(n, low))
        if len(random):
            strongest = max(random, key=lambda m: abs(quartile(m, low).dloss_te.mean()))
            numbers[f"{key}_random"] = mean_over_seqs(quartile(strongest, low))
    return numbers


def _rank(values: np.ndarray, neuron: int) -> float:
    """The rank of ``neuron`` by |value| among all neurons (1: the largest)."""
    return float(1 + np.sum(np.abs(values) > abs(values[neuron])))


def _best_member(values: np.ndarray, members: np.ndarray) -> int:
    """The neuron of ``members`` with the largest |value|."""
    return int(members[np.argmax(np.abs(values[members]))])


def fig11(page, changes, neurons: list[int]) -> dict[str, Any]:
    """Fig 11: the best rank of an entropy neuron (the page's set) by |Δ activation × ‖w_out‖| among all
    final-layer neurons, synthetic (interval over sequences) and natural (interval over repeats). The
    interval is of the rank of the set's best neuron on all units, fixed (the best rank of resampled
    units is a minimum, biased towards 1)."""

    members = np.asarray(neurons)
    norms = changes.norms
    numbers: dict[str, Any] = {**followed_numbers(page), "n_natural_repeats": changes.n_natural,
                               "neurons": [page.label(n) for n in neurons],
                               "spearman_syn_vs_nat": spearman(changes.table.d_syn_weighted.to_numpy(),
                                                                changes.table.d_nat_weighted.to_numpy())}
    syn = changes.syn
    best = _best_member(syn.mean(0) * norms, members)
    numbers["entropy_best_synthetic"] = page.label(best)
    numbers["entropy_rank_synthetic"] = bootstrap(lambda idx: _rank(syn[idx].mean(0) * norms, best),
                                                  len(syn), unit="sequences", seed=page.seed, n_boot=500)
    if changes.n_natural:
        sums, counts = changes.nat_sums, changes.nat_counts
        best = _best_member(nat_difference(sums, counts) * norms, members)
        numbers["entropy_best_natural"] = page.label(best)
        numbers["entropy_rank_natural"] = bootstrap(
            lambda idx: _rank(nat_difference(sums[:, idx], counts[:, idx]) * norms, best),
            changes.n_natural, unit="natural repeats", seed=page.seed, n_boot=500)
    return numbers
