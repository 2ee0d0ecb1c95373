"""The key numbers of the Voita et al. pages, each with its 95 % interval.

One function per page: it takes the page object (:class:`helpers.pages.VoitaPage`) and returns
``{key: Estimate | value}``, the numbers the scorecard's claims read.

Units of the intervals. Dead neurons, activation frequencies, covering counts, token detectors and
positional neurons are bootstrapped over the **counted rows**: the counting pass keeps every neuron's
firings on disk (packed bits, :func:`helpers.activations.fired_bits`), so each replicate recomputes
the statistic from the resampled rows. Neurons far from a rule's threshold in the full data (token
covering count above :data:`CANDIDATE_COVER`, I(act; pos) below :data:`CANDIDATE_MI`) are taken to
stay on their side in every resample, so only the candidates are recomputed. Shares *among*
detectors, positional neurons or layers (e.g. the share of detectors that suppress their triggers)
are bootstrapped over those items. When the pass could not keep its firings (over its disk budget),
the row intervals are missing and the page says so (book: Methods, "Intervals and verdicts").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers import voita
from helpers.activations import fired_bits
from helpers.stats import LEVEL, N_BOOT, Estimate, bootstrap

CANDIDATE_COVER = 10  # token covering counts above this are taken to stay above the detectors' 5
CANDIDATE_MI = voita.MI_THRESHOLD / 2  # I(act; pos) below this is taken to stay below the threshold
N_BOOT_TYPES = 200  # replicates for statistics that re-type fr(pos) curves (a Python loop per neuron)


def first_half(page) -> list[int]:
    """Layers 0 .. ceil(L/2) - 1: the first half of the network (Fig 2's layers)."""
    return list(range((page.n_layers + 1) // 2))


# ---------------------------------------------------------------------------------------------
# Resampling rows


def _weights(n_rows: int, seed: int, n_boot: int) -> np.ndarray:
    """[n_boot, n_rows] how often each row is drawn in each bootstrap replicate (rows drawn with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_rows, (n_boot, n_rows))
    weights = np.zeros((n_boot, n_rows), np.float64)
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    return weights


def _interval(point: float | np.ndarray, replicates: np.ndarray, n: int, unit: str,
              bounds: tuple[float, float] = (0.0, np.inf)) -> Estimate:
    """The *basic* (reverse-percentile) bootstrap interval [2θ − q_97.5, 2θ − q_2.5], clipped to
    ``bounds``. A resample of rows holds fewer distinct rows than the data (about 63 %), so a
    statistic of what was never or rarely seen in them (dead neurons, covering counts, detectors,
    plug-in I(act; pos)) is biased in every replicate; the basic interval corrects that bias to
    first order, where the percentile interval would not even contain the estimate."""
    alpha = (1 - LEVEL) / 2
    finite = replicates[np.isfinite(replicates)]
    if not finite.size or not np.isfinite(point):
        return Estimate(float(point), float("nan"), float("nan"), n, unit)
    q_low, q_high = np.quantile(finite, [alpha, 1 - alpha])
    low, high = np.clip([2 * point - q_high, 2 * point - q_low], *bounds)
    return Estimate(float(point), float(low), float(high), n, unit)


def _no_interval(point: float) -> Estimate:
    return Estimate(float(point), float("nan"), float("nan"), 0, "rows (no interval: the firings were not kept)")


@dataclass
class Firings:
    """The counting pass's per-row firings, unpacked on demand: ``rows`` [R, T] and per layer [R, T, d_mlp] bits."""

    page: Any
    rows: np.ndarray

    @classmethod
    def of(cls, page) -> "Firings | None":
        folder = page.stats.info.get("fired_dir")
        if not folder or any(fired_bits(folder, layer) is None for layer in range(page.n_layers)):
            return None
        rows = voita.stats_rows(page.lm, page.stats.info["corpus"], page.stats.info["n_rows"],
                                page.stats.info["seq_len"], page.stats.info["seed"]).numpy()
        return cls(page, rows)

    def layer(self, layer: int, neurons: np.ndarray | None = None) -> np.ndarray:
        """[R, T, d_mlp] (or [R, T, len(neurons)]) bool: where each neuron fired."""
        packed = fired_bits(self.page.stats.info["fired_dir"], layer)
        if neurons is None:
            return np.unpackbits(np.asarray(packed), axis=-1)[..., : self.page.lm.cfg.d_mlp].astype(bool)
        neurons = np.asarray(neurons)
        return ((np.asarray(packed[..., neurons // 8]) >> (7 - neurons % 8)) & 1).astype(bool)

    def active_per_row(self) -> np.ndarray:
        """[R, L, d_mlp] int32: positions where each neuron fired, per row (BOS included, as ``active``)."""
        return np.stack([self.layer(layer).sum(1, dtype=np.int32) for layer in range(self.page.n_layers)], axis=1)

    @property
    def counted(self) -> np.ndarray:
        """[R, T] bool: the positions of the per-token counts (t >= 1, token not BOS)."""
        keep = self.rows != _bos(self.page)
        keep[:, 0] = False
        return keep


def _bos(page) -> int:
    from helpers.models import special_tokens

    return special_tokens(page.lm).bos_id


# ---------------------------------------------------------------------------------------------
# Fig 1: dead neurons


def fig1(page) -> dict[str, Any]:
    """Dead neurons in the first and second half of the layers, and the Spearman correlation over
    layers of % dead with the alive neurons' mean activation frequency (intervals over rows)."""
    layers = page.layers
    half = np.asarray(layers.layer) < page.n_layers / 2
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "threshold": float(page.stats.info["threshold"]),
        "relu": bool(page.stats.info["relu"]), "dead_pct_per_layer": layers.dead_pct.round(3).tolist(),
        "mean_freq_alive_per_layer": layers.mean_freq_alive.round(6).tolist()}
    point = np.array([layers.dead[half].sum(), layers.dead[~half].sum(),
                      _spearman(layers.dead_pct.to_numpy(), layers.mean_freq_alive.to_numpy())], dtype=np.float64)
    firings = Firings.of(page)
    if firings is None:
        reps = None
    else:
        active = firings.active_per_row()  # [R, L, N]
        n_rows, seq_len = active.shape[0], firings.rows.shape[1]
        weights = _weights(n_rows, page.seed, N_BOOT)
        totals = (weights @ active.reshape(n_rows, -1).astype(np.float64)).reshape(N_BOOT, *active.shape[1:])
        dead = totals == 0  # [B, L, N]
        freq = totals / (n_rows * seq_len)
        alive_freq = np.where(dead, np.nan, freq)
        with np.errstate(invalid="ignore"):
            mean_alive = np.nanmean(alive_freq, axis=2)  # [B, L]
        reps = np.stack([dead[:, half].sum((1, 2)), dead[:, ~half].sum((1, 2)),
                         [_spearman(d, f) for d, f in zip(100 * dead.mean(2), mean_alive)]], axis=1)
    for i, key in enumerate(("dead_first_half", "dead_second_half", "spearman_dead_alive_freq")):
        bounds = (-1.0, 1.0) if key.startswith("spearman") else (0.0, np.inf)
        numbers[key] = (_no_interval(point[i]) if reps is None
                        else _interval(point[i], reps[:, i], int(page.stats.info["n_rows_used"]), "rows", bounds))
    return numbers


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    a, b = pd.Series(a, dtype=float), pd.Series(b, dtype=float)
    keep = a.notna() & b.notna()
    if keep.sum() < 3 or a[keep].nunique() < 2 or b[keep].nunique() < 2:
        return float("nan")
    return float(a[keep].rank().corr(b[keep].rank()))


# ---------------------------------------------------------------------------------------------
# Figs 2-3: covering counts and token detectors, recomputed for the candidates on resampled rows


@dataclass
class CoverReplicates:
    """For the candidate neurons (token covering count 1..CANDIDATE_COVER in the full data), their
    covering count and covered share in each bootstrap replicate of the rows."""

    layers: np.ndarray  # [K]
    neurons: np.ndarray  # [K]
    cover: np.ndarray  # [B, K]
    detector: np.ndarray  # [B, K] bool
    alive: np.ndarray  # [B, L, N] bool: fired at a counted position in the replicate
    n_rows: int


def cover_replicates(page, firings: Firings, n_boot: int = N_BOOT, weights: np.ndarray | None = None) -> CoverReplicates:
    """Voita's covering count and token-detector rule (``helpers.voita.coverage_stats``,
    ``is_detector``) for the candidate neurons, on ``n_boot`` resamples of the counted rows (or on
    the given ``weights`` [B, R]: how often each row is drawn in each replicate)."""
    neurons = page.stats.neurons
    cand = neurons[(neurons.cover >= 1) & (neurons.cover <= CANDIDATE_COVER)]
    counted = firings.counted
    n_rows = counted.shape[0]
    weights = _weights(n_rows, page.seed, n_boot) if weights is None else np.asarray(weights, np.float64)
    n_boot = len(weights)
    tokens = np.where(counted, firings.rows, -1)
    vocab = np.unique(tokens[counted])
    occ_rows = np.zeros((n_rows, len(vocab)))  # [R, V'] occurrences of each token per row
    np.add.at(occ_rows, (np.nonzero(counted)[0], np.searchsorted(vocab, tokens[counted])), 1.0)
    occ = weights @ occ_rows  # [B, V']
    covers, detectors = [], []
    alive = np.zeros((n_boot, page.n_layers, page.lm.cfg.d_mlp), bool)
    for layer in range(page.n_layers):
        fired = firings.layer(layer) & counted[..., None]  # [R, T, N]
        alive[:, layer] = (weights @ fired.sum(1).astype(np.float64)) > 0
        in_layer = cand[cand.layer == layer]
        for n in in_layer.neuron.to_numpy():
            r, t = np.nonzero(fired[..., n])
            ids = np.searchsorted(vocab, firings.rows[r, t])
            mine, col = np.unique(ids, return_inverse=True)
            per_row = np.zeros((n_rows, len(mine)))
            np.add.at(per_row, (r, col), 1.0)
            counts = weights @ per_row  # [B, G]
            total = counts.sum(1)
            ordered = np.cumsum(-np.sort(-counts, axis=1), axis=1)
            cover = (ordered < voita.COVERAGE * total[:, None] - 1e-9 * np.maximum(total[:, None], 1)).sum(1) + 1
            cover[total == 0] = 0
            covered = (counts >= voita.COVERAGE * occ[:, mine] - 1e-9 * np.maximum(occ[:, mine], 1)) & (counts > 0)
            share = np.where(total > 0, (counts * covered).sum(1) / np.maximum(total, 1), 0.0)
            covers.append(cover)
            detectors.append(voita.is_detector(cover, share, voita.MAX_DETECTOR_TOKENS))
    shape = (n_boot, 0)
    return CoverReplicates(cand.layer.to_numpy(), cand.neuron.to_numpy(),
                           np.stack(covers, 1) if covers else np.zeros(shape, int),
                           np.stack(detectors, 1) if detectors else np.zeros(shape, bool), alive, n_rows)


def fig2(page) -> dict[str, Any]:
    """Share (%) of the alive first-half neurons covered by 1-5 tokens (interval over rows)."""
    half = first_half(page)
    neurons = page.stats.neurons
    alive = neurons[neurons.layer.isin(half) & ~neurons.dead & (neurons.cover > 0)]
    point = 100 * float((alive.cover <= 5).mean()) if len(alive) else float("nan")
    shares = voita.cover_bucket_shares(neurons, half)
    numbers: dict[str, Any] = {"n_tokens": int(page.stats.info["n_tokens"]), "layers": half,
                               "bucket_pct": dict(zip(shares.bucket, shares.pct.round(3)))}
    firings = Firings.of(page)
    if firings is None:
        numbers["pct_cover_1_to_5"] = _no_interval(point)
        return numbers
    reps = cover_replicates(page, firings)
    in_half = np.isin(reps.layers, half)
    small = ((reps.cover >= 1) & (reps.cover <= 5))[:, in_half].sum(1)
    n_alive = reps.alive[:, half].sum((1, 2))
    numbers["pct_cover_1_to_5"] = _interval(point, 100 * small / np.maximum(n_alive, 1), reps.n_rows, "rows", (0, 100))
    return numbers


def trigram_detectors_per_layer(page, trigrams: dict[str, pd.DataFrame]) -> pd.Series:
    """Trigram detectors per layer (0 for layers without any)."""
    table = trigrams["neurons"]
    return table[table.detector].groupby("layer").size().reindex(range(page.n_layers), fill_value=0)


def detector_examples(page, n: int = 12) -> pd.DataFrame:
    """The ``n`` token detectors with the most activations: their tokens and how often those occur."""
    tokens = page.stats.detector_tokens
    if tokens.empty:
        return pd.DataFrame(columns=["layer", "neuron", "tokens", "activations", "occurrences"])
    frame = tokens.assign(text=voita.token_strings(page.lm, tokens.token))
    return (frame.groupby(["layer", "neuron"]).agg(tokens=("text", list), activations=("count", "sum"),
                                                   occurrences=("occurrences", list))
            .sort_values("activations", ascending=False).head(n))


def fig3(page, trigrams: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Token detectors as a share (%) of all neurons (interval over rows), detected tokens, and
    trigram detectors."""
    layers = page.layers
    n_neurons = page.n_layers * page.lm.cfg.d_mlp
    point = 100 * float(layers.token_detectors.sum()) / n_neurons
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "token_detectors": int(layers.token_detectors.sum()),
        "token_detectors_per_layer": layers.token_detectors.tolist(),
        "detected_tokens_per_layer": layers.detected_tokens.tolist(),
        "detected_tokens_total": int(layers.cumulative_tokens.iloc[-1]),
        "max_detected_tokens_per_layer": int(layers.detected_tokens.max()),
        "trigram_detectors_per_layer": trigram_detectors_per_layer(page, trigrams).tolist(),
        "trigram_candidates": int(trigrams["neurons"].attrs.get("n_candidates", len(trigrams["neurons"]))),
        "trigram_detectors": Estimate(float(trigrams["neurons"].detector.sum()), float("nan"), float("nan"), 0,
                                      "rows (no interval computed for trigram detectors)"),
    }
    firings = Firings.of(page)
    numbers["token_detector_pct"] = (
        _no_interval(point) if firings is None else
        _interval(point, 100 * cover_replicates(page, firings).detector.sum(1) / n_neurons,
                  len(firings.rows), "rows"))
    return numbers


# ---------------------------------------------------------------------------------------------
# Fig 4: new tokens per layer


def fig4(page) -> dict[str, Any]:
    """Mean over the layers after the first detecting one of (new overall / detected) and of
    (new vs the previous layer / detected); interval over those layers."""
    layers = page.layers
    has = layers[layers.detected_tokens > 0]
    following = has.iloc[1:]
    numbers: dict[str, Any] = {"layers_with_detected_tokens": has.layer.tolist(),
                               "following_layers": following.layer.tolist()}
    for key, column in (("share_new_following_layers", "new_overall"), ("share_new_vs_previous", "new_vs_previous")):
        shares = (following[column] / following.detected_tokens).to_numpy()
        if len(shares):
            numbers[key] = bootstrap(lambda idx, s=shares: float(s[idx].mean()), len(shares), unit="layers",
                                     seed=page.seed)
    return numbers


# ---------------------------------------------------------------------------------------------
# Fig 5: suppression


def suppression_examples(page, n: int) -> list[tuple[str, pd.DataFrame, list[str]]]:
    """(title, top promoted/suppressed tokens, trigger strings) of the ``n`` detectors with the most activations."""
    tokens = page.stats.detector_tokens
    top = tokens.groupby(["layer", "neuron"])["count"].sum().sort_values(ascending=False)
    examples = []
    for layer, neuron in top.index[:n]:
        mine = tokens[(tokens.layer == layer) & (tokens.neuron == neuron)]
        triggers = voita.token_strings(page.lm, mine.token)
        examples.append((f"neuron {layer}.{neuron}\ntriggers: " + ", ".join(map(repr, triggers))[:38],
                         voita.top_tokens(page.lm, int(layer), int(neuron), k=8), triggers))
    return examples


def fig5(page, suppression: pd.DataFrame) -> dict[str, Any]:
    """The share of token detectors that suppress their triggers (negative mean projection), and
    the share with a trigger among their 10 most suppressed tokens; intervals over the detectors."""
    numbers: dict[str, Any] = {"token_detectors": len(suppression)}
    if suppression.empty:
        return numbers
    for key, values in (("suppression_share", suppression.suppresses.to_numpy(float)),
                        ("share_trigger_in_bottom10", suppression.trigger_in_bottom10.to_numpy(float))):
        numbers[key] = bootstrap(lambda idx, v=values: float(v[idx].mean()), len(values), unit="detectors",
                                 seed=page.seed)
    numbers["median_trigger_percentile"] = float(suppression.trigger_percentile.median())
    return numbers


# ---------------------------------------------------------------------------------------------
# Figs 8-9: positional neurons


def _mi_replicates(firings: Firings, layer: int, neurons: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[B, K, T-1] fr(pos) of ``neurons`` (positions 1..T-1) in each replicate of the rows."""
    fired = firings.layer(layer, neurons)[:, 1:, :].astype(np.float64)  # [R, T-1, K]
    n_rows = fired.shape[0]
    per = np.einsum("br,rtk->bkt", weights, fired)
    return per / n_rows


def _mi(fr_pos: np.ndarray) -> np.ndarray:
    """I(act; pos) of curves [..., T] (the last axis: positions), as :func:`helpers.voita.positional_mi`."""
    fr = fr_pos.mean(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(fr_pos > 0, fr_pos * np.log(fr_pos / fr), 0.0)
        b = np.where(fr_pos < 1, (1 - fr_pos) * np.log((1 - fr_pos) / (1 - fr)), 0.0)
    return np.nan_to_num(a + b).mean(-1)


def fig8(page) -> dict[str, Any]:
    """Positional neurons (I(act; pos) > 0.05; interval over rows) and whether oscillatory is the most
    frequent type (its share minus the next type's; interval over the positional neurons)."""
    neurons = page.stats.neurons
    pos = neurons[neurons.positional]
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "seq_len": int(page.stats.info["seq_len"]),
        "positional_per_layer": neurons.groupby("layer").positional.sum().astype(int).tolist(),
        "by_type": {k: int(v) for k, v in pos.pos_type.value_counts().items()}, "max_mi": float(neurons.mi.max())}
    firings = Firings.of(page)
    if firings is None:
        numbers["positional_neurons"] = _no_interval(len(pos))
    else:
        weights = _weights(len(firings.rows), page.seed, N_BOOT)
        count = np.zeros(N_BOOT)
        cand = neurons[neurons.mi > CANDIDATE_MI]
        for layer, in_layer in cand.groupby("layer"):
            count += (_mi(_mi_replicates(firings, int(layer), in_layer.neuron.to_numpy(), weights))
                      > voita.MI_THRESHOLD).sum(1)
        numbers["positional_neurons"] = _interval(len(pos), count, len(firings.rows), "rows")
    if len(pos):
        kinds = pos.pos_type.to_numpy()

        def lead(idx: np.ndarray) -> float:
            shares = pd.Series(kinds[idx]).value_counts(normalize=True)
            osc = shares.get("oscillatory", 0.0)
            return float(osc - shares.drop("oscillatory", errors="ignore").max()) if len(shares) > 1 else float(osc)

        numbers["oscillatory_lead"] = bootstrap(lead, len(kinds), unit="positional neurons", seed=page.seed)
    return numbers


@dataclass
class Oscillatory:
    """What Fig 9 shows for one layer."""

    layer: int
    order: list[int]  # neurons, by the start of their first range
    curves: pd.DataFrame  # (neuron, position, fr)
    what: str  # "strong oscillatory neurons" or the stand-in
    table: pd.DataFrame  # neuron, mi, ranges
    strong: list[int]  # the strong oscillatory neurons


def oscillatory_neurons(page, layer: int) -> Oscillatory:
    """The layer's strong oscillatory neurons and their on-ranges, or, if it has none, its
    CURVES_PER_LAYER highest-MI neurons (so that the absence is visible)."""
    if not 0 <= layer < page.n_layers:
        from helpers.errors import ParameterError

        raise ParameterError(f"oscillation_layer {layer} is out of range: the model has {page.n_layers} layers "
                             f"(0..{page.n_layers - 1})")
    mine = page.stats.neurons[page.stats.neurons.layer == layer]
    strong = mine[mine.positional & (mine.pos_type == "oscillatory") & mine.pos_strong].neuron.tolist()
    curves = page.stats.positional[page.stats.positional.layer == layer]
    if strong:
        shown, what = strong, "strong oscillatory neurons"
    else:
        shown = mine.nlargest(voita.CURVES_PER_LAYER, "mi").neuron.tolist()
        what = "no strong oscillatory neuron: the highest-MI neurons"
    positions = np.arange(1, page.stats.info["seq_len"])
    ranges = {n: voita.on_ranges(curves[curves.neuron == n].fr.to_numpy(), positions) for n in shown}
    order = sorted(shown, key=lambda n: ranges[n][0][0] if ranges[n] else 10**9)
    mi = mine.set_index("neuron").mi
    table = pd.DataFrame({"neuron": order, "mi": [float(mi[n]) for n in order], "ranges": [ranges[n] for n in order]})
    return Oscillatory(layer, order, curves, what, table, strong)


def _coverage(ranges: list[list[tuple[int, int]]], n_positions: int) -> tuple[float, float]:
    """Shares of positions 1..n covered by at least one and by more than one of the ranges."""
    cover = np.zeros(n_positions, int)
    for neuron_ranges in ranges:
        for lo, hi in neuron_ranges:
            cover[lo - 1: hi] += 1
    return float((cover >= 1).mean()), float((cover >= 2).mean())


def fig9(page, shown: Oscillatory) -> dict[str, Any]:
    """Strong oscillatory neurons of the layer and the positions their ranges cover (intervals over
    rows: the layer's candidate curves re-typed on each resample)."""
    positions = np.arange(1, page.stats.info["seq_len"])
    curves = {n: shown.curves[shown.curves.neuron == n].fr.to_numpy() for n in shown.strong}
    covered, twice = _coverage([voita.on_ranges(c, positions) for c in curves.values()], len(positions))
    numbers: dict[str, Any] = {"layer": shown.layer, "strong_oscillatory_neurons": [f"{shown.layer}.{n}" for n in shown.strong],
                               "oscillatory_any_strength": int(((page.stats.neurons.layer == shown.layer)
                                                                & (page.stats.neurons.pos_type == "oscillatory")).sum())}
    firings = Firings.of(page)
    point = np.array([len(shown.strong), covered if shown.strong else 0.0, twice if shown.strong else 0.0])
    if firings is None:
        reps = None
    else:
        mine = page.stats.neurons[(page.stats.neurons.layer == shown.layer) & (page.stats.neurons.mi > CANDIDATE_MI)]
        weights = _weights(len(firings.rows), page.seed, N_BOOT_TYPES)
        fr = _mi_replicates(firings, shown.layer, mine.neuron.to_numpy(), weights)  # [B, K, T-1]
        mi = _mi(fr)
        reps = []
        for b in range(N_BOOT_TYPES):
            ranges = []
            for k in np.flatnonzero(mi[b] > voita.MI_THRESHOLD):
                kind, strong, on = voita.positional_type(fr[b, k], positions)
                if kind == "oscillatory" and strong:
                    ranges.append(on)
            c1, c2 = _coverage(ranges, len(positions)) if ranges else (0.0, 0.0)
            reps.append((len(ranges), c1, c2))
        reps = np.asarray(reps)
    for i, key in enumerate(("strong_oscillatory", "positions_covered", "positions_covered_twice")):
        bounds = (0.0, np.inf) if key == "strong_oscillatory" else (0.0, 1.0)
        numbers[key] = (_no_interval(point[i]) if reps is None
                        else _interval(point[i], reps[:, i], len(firings.rows), "rows", bounds))
    return numbers


# ---------------------------------------------------------------------------------------------
# Domains


def domain_stats(page) -> dict[str, voita.NeuronStats]:
    """The counting pass on each of the page's domains (the same rows, sizes and threshold)."""
    out = {}
    for corpus in page.domains:
        if corpus == page.corpus:
            out[corpus] = page.stats
        else:
            out[corpus] = voita.neuron_stats(page.lm, corpus=corpus, n_rows=page.stats_rows, seq_len=page.stats_seq_len,
                                             seed=page.seed, threshold=page.threshold)
    return out


def domains(page, by_domain: dict[str, voita.NeuronStats]) -> dict[str, Any]:
    """Of the neurons dead (positional) on the first domain, the share dead (positional) on the
    second too; intervals over those neurons. Counts per domain."""
    (first, a), (second, b) = list(by_domain.items())[:2]
    key = ["layer", "neuron"]
    a_n, b_n = a.neurons.set_index(key), b.neurons.set_index(key)
    numbers: dict[str, Any] = {"domains": list(by_domain)}
    for name, stats in by_domain.items():
        summary = stats.layer_summary()
        numbers[f"dead_{name}"] = int(summary.dead.sum())
        numbers[f"token_detectors_{name}"] = int(summary.token_detectors.sum())
        numbers[f"positional_{name}"] = int(summary.positional.sum())
    for key_name, column in (("dead_shared_share", "dead"), ("positional_shared_share", "positional")):
        on_first = a_n.index[a_n[column].to_numpy()]
        also = b_n.loc[on_first, column].to_numpy(float)
        if len(also):
            numbers[key_name] = bootstrap(lambda idx, v=also: float(v[idx].mean()), len(also),
                                          unit=f"neurons {column} on {first}", seed=page.seed)
    return numbers
