"""The key numbers of the Voita et al. pages, each with its 95 % interval.

One function per page: it takes the page object (:class:`helpers.pages.VoitaPage`) and returns
``{key: Estimate | value}``, the numbers the scorecard's claims read.

Size-dependent counts (dead neurons, covering shares, token and trigram detectors, positional and
strong oscillatory neurons) grow or shrink with the tokens counted, so a resample of the rows with
replacement (fewer distinct rows) is biased, and its intervals can exclude their own estimate. Here
they come from **disjoint equal-size splits** of the counted rows: the counting pass keeps every
neuron's firings (packed bits, :func:`helpers.activations.fired_bits`), the same definitions
(:func:`helpers.voita.analyse`) run on each split's rows, and the estimate is the mean over the
:data:`N_SPLITS` splits with its t interval (:func:`helpers.stats.split_mean`): a number *at the split
size*, which ``verdict_tokens`` states. The same bits give the counts on prefixes of the rows (1/8,
1/4, 1/2, all of them): the ``convergence`` series, drawn by :func:`helpers.voita_plots.convergence`.
Shares *among* detectors, positional neurons or layers are bootstrapped over those items (at least
:data:`MIN_ITEMS` of them, else no number). When the pass could not keep its firings (over its disk
budget), the size-dependent numbers have no interval and the page says so (book: Methods, voita-intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from helpers import voita
from helpers.activations import ActivationCounts, fired_bits, ngram_counts_from_bits
from helpers.cache import cached_tables
from helpers.stats import Estimate, bootstrap, mean_at, split_mean

N_SPLITS = 4  # disjoint splits of the counted rows for the size-dependent intervals
# Positional numbers need fr(pos) from at least this many rows per split: with fewer, fr(pos) = 0 or 1 at
# most positions by chance (a rate-p neuron has fr = 0 with chance (1 - p)^rows), so the extremes that make
# a neuron "strong" are sampling artefacts (SmolLM2's fresh-init twin: 279 strong positional neurons on
# 4 rows, 1 on 8, none on 16 or 32).
MIN_POSITIONAL_ROWS = 16
MIN_ITEMS = 5  # shares among detectors / positional neurons / layers need at least this many items
Tables = dict[str, pd.DataFrame]


def first_half(page) -> list[int]:
    """Layers 0 .. ceil(L/2) - 1: the first half of the network (Fig 2's layers)."""
    return list(range((page.n_layers + 1) // 2))


# ---------------------------------------------------------------------------------------------
# The counting pass on subsets of the rows


@dataclass
class Firings:
    """The counting pass's per-row firings: ``rows`` [R, T] token ids and, per layer, [R, T, d_mlp] bits."""

    model: Any
    stats: voita.NeuronStats
    rows: np.ndarray

    @classmethod
    def of(cls, model, stats: voita.NeuronStats) -> "Firings | None":
        folder = stats.info.get("fired_dir")
        if not folder or any(fired_bits(folder, layer) is None for layer in range(model.cfg.n_layers)):
            return None
        info = stats.info
        rows = voita.stats_rows(model, info["corpus"], info["n_rows"], info["seq_len"], info["seed"]).numpy()
        return cls(model, stats, rows)

    def packed(self, layer: int) -> np.ndarray:
        bits = fired_bits(self.stats.info["fired_dir"], layer)
        assert bits is not None, f"the firings of layer {layer} are gone"  # Firings.of saw them all
        return bits

    def layer(self, layer: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """[hi - lo, T, d_mlp] bool: where each neuron of ``layer`` fired in rows lo..hi-1."""
        packed = np.asarray(self.packed(layer)[lo:hi])
        return np.unpackbits(packed, axis=-1)[..., : self.model.cfg.d_mlp].astype(bool)

    @property
    def counted(self) -> np.ndarray:
        """[R, T] bool: the positions of the per-token counts (t >= 1, token not BOS)."""
        keep = self.rows != bos_id(self.model)
        keep[:, 0] = False
        return keep


def bos_id(model) -> int:
    from helpers.models import special_tokens

    return special_tokens(model).bos_id


def subset_counts(firings: Firings, layer: int, lo: int, hi: int) -> ActivationCounts:
    """What :func:`helpers.activations.count_activations` counts for ``layer``, over rows lo..hi-1 only."""
    fired = firings.layer(layer, lo, hi)  # [r, T, N]
    counted = firings.counted[lo:hi]
    tokens = firings.rows[lo:hi][counted]
    vocab, cols = np.unique(tokens, return_inverse=True)
    token_active = torch.zeros((len(vocab), fired.shape[-1]), dtype=torch.int32)
    token_active.index_add_(0, torch.from_numpy(cols.astype(np.int64)), torch.from_numpy(fired[counted]).to(torch.int32))
    return ActivationCounts(
        layers=np.asarray([layer]), threshold=float(firings.stats.info["threshold"]), bos_id=bos_id(firings.model),
        vocab=vocab, n_rows=np.asarray(hi - lo), active=fired.sum((0, 1), dtype=np.int64)[None],
        pos_active=fired.sum(0, dtype=np.int32)[None], token_occ=np.bincount(cols, minlength=len(vocab)).astype(np.int64),
        token_active=token_active.numpy()[None])


def subset_tables(firings: Firings, lo: int, hi: int, *, cache: bool = True) -> Tables:
    """The tables of :func:`helpers.voita.analyse` (and trigram detectors, ``trigrams``) on rows
    lo..hi-1 of the pass, from its kept firings (cached beside the pass's tables)."""
    stats = firings.stats
    key = {k: v for k, v in stats.info.items() if k not in ("fired_dir",) and not k.startswith("n_")}
    key.update(n_rows=stats.info["n_rows"], subset=[int(lo), int(hi)], min_support=voita.MIN_SUPPORT,
               min_occurrences=voita.MIN_OCCURRENCES)

    def compute() -> Tables:
        parts: dict[str, list[pd.DataFrame]] = {"neurons": [], "detector_tokens": [], "positional": []}
        for layer in range(firings.model.cfg.n_layers):
            for name, frame in voita.analyse(subset_counts(firings, layer, lo, hi)).items():
                parts[name].append(frame)
        tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
        cand = tables["neurons"][(tables["neurons"].cover >= 1) & (tables["neurons"].cover <= voita.MAX_DETECTOR_TRIGRAMS)]
        pairs = list(zip(cand.layer.tolist(), cand.neuron.tolist()))
        bits = {layer: np.asarray(firings.packed(layer)[lo:hi]) for layer in set(cand.layer.tolist())}
        grams = ngram_counts_from_bits(bits, torch.from_numpy(firings.rows[lo:hi]), pairs, n=3,
                                       d_vocab=firings.model.cfg.d_vocab, bos_id=bos_id(firings.model))
        tables["trigrams"], _ = voita.ngram_table(grams, pairs, n=3, max_items=voita.MAX_DETECTOR_TRIGRAMS,
                                                  d_vocab=firings.model.cfg.d_vocab)
        return tables

    return cached_tables("voita-subset", key, compute, enabled=cache)


def split_bounds(n_rows: int, n_splits: int = N_SPLITS) -> list[tuple[int, int]]:
    """``n_splits`` disjoint blocks of n_rows // n_splits consecutive rows (the rows are shuffled)."""
    n_splits = max(1, min(n_splits, n_rows))
    size = n_rows // n_splits
    return [(i * size, (i + 1) * size) for i in range(n_splits)]


def prefix_sizes(n_rows: int) -> list[int]:
    """Rows of the convergence prefixes: 1/8, 1/4, 1/2 and all of the counted rows (distinct, >= 1)."""
    return sorted({max(1, n_rows // 8), max(1, n_rows // 4), max(1, n_rows // 2), n_rows})


@dataclass
class BySize:
    """The pass's tables on :data:`N_SPLITS` disjoint splits and on prefixes of the counted rows."""

    seq_len: int
    split_rows: int
    splits: list[Tables]
    prefix_rows: list[int]
    prefixes: list[Tables]

    @property
    def split_tokens(self) -> int:
        return self.split_rows * self.seq_len

    def unit(self) -> str:
        return (f"mean of {len(self.splits)} disjoint splits of {self.split_rows} rows "
                f"({self.split_tokens:,} tokens each)")

    def estimate(self, statistic: Callable[[Tables], float], bounds: tuple[float, float] = (0.0, np.inf)) -> Estimate:
        """The statistic's mean over the splits with its t interval (:func:`helpers.stats.split_mean`)."""
        return split_mean([statistic(t) for t in self.splits], unit=self.unit(), bounds=bounds)

    def curve(self, statistic: Callable[[Tables], float]) -> list[float]:
        """The statistic on each prefix (``prefix_rows``)."""
        return [float(statistic(t)) for t in self.prefixes]


def positional_splits(n_rows: int) -> int:
    """Splits for the positional numbers: N_SPLITS, fewer (at least 2) if a split would have fewer than
    MIN_POSITIONAL_ROWS rows."""
    return max(2, min(N_SPLITS, n_rows // MIN_POSITIONAL_ROWS))


def by_size(model, stats: voita.NeuronStats, n_splits: int = N_SPLITS) -> BySize | None:
    """:class:`BySize` for a pass, or None when it did not keep its firings."""
    firings = Firings.of(model, stats)
    if firings is None:
        return None
    n_rows, seq_len = firings.rows.shape
    bounds = split_bounds(n_rows, n_splits)
    full = {"neurons": stats.neurons, "detector_tokens": stats.detector_tokens, "positional": stats.positional}

    def tables(lo: int, hi: int) -> Tables:
        if (lo, hi) == (0, n_rows):
            return {**full, "trigrams": voita.ngram_detectors(model, stats, n=3, progress=False)["neurons"]}
        return subset_tables(firings, lo, hi)

    prefix_rows = prefix_sizes(n_rows)
    return BySize(seq_len=seq_len, split_rows=bounds[0][1] - bounds[0][0], splits=[tables(lo, hi) for lo, hi in bounds],
                  prefix_rows=prefix_rows, prefixes=[tables(0, r) for r in prefix_rows])


def page_sizes(page, n_splits: int = N_SPLITS) -> BySize | None:
    """:func:`by_size` of the page's pass, computed once per page (and number of splits)."""
    if not hasattr(page, "_by_size"):
        page._by_size = {}
    if n_splits not in page._by_size:
        page._by_size[n_splits] = by_size(page.lm, page.stats, n_splits)
    return page._by_size[n_splits]


def _sized(numbers: dict[str, Any], sizes: BySize | None, estimates: dict[str, tuple[Callable[[Tables], float], tuple]],
           page) -> dict[str, Any]:
    """Add each statistic's split estimate (or, without kept firings, the full-data value with no
    interval), ``verdict_tokens`` and the ``convergence`` series to ``numbers``."""
    if sizes is None:
        full = {"neurons": page.stats.neurons, "detector_tokens": page.stats.detector_tokens,
                "positional": page.stats.positional}
        for key, (statistic, _) in estimates.items():
            try:
                value = float(statistic(full))
            except KeyError:  # trigram detectors need the trigram table
                value = float("nan")
            numbers[key] = Estimate(value, float("nan"), float("nan"), 0, "rows (no interval: the firings were not kept)")
        numbers["verdict_tokens"] = int(page.stats.info["n_tokens"])
        return numbers
    for key, (statistic, bounds) in estimates.items():
        numbers[key] = sizes.estimate(statistic, bounds)
    numbers["verdict_tokens"] = sizes.split_tokens
    numbers["convergence"] = {"tokens": [r * sizes.seq_len for r in sizes.prefix_rows],
                              **{key: sizes.curve(statistic) for key, (statistic, _) in estimates.items()}}
    return numbers


PCT = (0.0, 100.0)


# ---------------------------------------------------------------------------------------------
# Fig 1: dead neurons


def _dead_pct(layers: list[int]) -> Callable[[Tables], float]:
    def statistic(t: Tables) -> float:
        mine = t["neurons"][t["neurons"].layer.isin(layers)]
        return 100 * float(mine.dead.mean()) if len(mine) else float("nan")
    return statistic


def _spearman_dead_freq(t: Tables) -> float:
    """Spearman over layers of % dead with the alive neurons' mean frequency; NaN unless >= 3 layers have a dead neuron."""
    per_layer = t["neurons"].groupby("layer").agg(dead=("dead", "mean"), n_dead=("dead", "sum"))
    alive = t["neurons"][~t["neurons"].dead].groupby("layer").freq.mean().reindex(per_layer.index)
    if (per_layer.n_dead > 0).sum() < 3:
        return float("nan")
    return _spearman(per_layer.dead.to_numpy(), alive.to_numpy())


def fig1(page) -> dict[str, Any]:
    """Dead neurons (% of the neurons) in the first and the second half of the layers, and the
    Spearman correlation over layers of % dead with the alive neurons' mean activation frequency
    (split estimates; full-data counts beside them)."""
    layers = page.layers
    first = [l for l in range(page.n_layers) if l < page.n_layers / 2]
    second = [l for l in range(page.n_layers) if l >= page.n_layers / 2]
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "threshold": float(page.stats.info["threshold"]),
        "relu": bool(page.stats.info["relu"]), "dead_pct_per_layer": layers.dead_pct.round(3).tolist(),
        "mean_freq_alive_per_layer": layers.mean_freq_alive.round(6).tolist(),
        "dead_first_half_all_tokens": int(layers.dead[layers.layer.isin(first)].sum()),
        "dead_second_half_all_tokens": int(layers.dead[layers.layer.isin(second)].sum())}
    return _sized(numbers, page_sizes(page), {
        "dead_pct_first_half": (_dead_pct(first), PCT), "dead_pct_second_half": (_dead_pct(second), PCT),
        "spearman_dead_alive_freq": (_spearman_dead_freq, (-1.0, 1.0))}, page)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    x, y = pd.Series(a, dtype=float), pd.Series(b, dtype=float)
    keep = x.notna() & y.notna()
    if keep.sum() < 3 or x[keep].nunique() < 2 or y[keep].nunique() < 2:
        return float("nan")
    return float(x[keep].rank().corr(y[keep].rank()))


# ---------------------------------------------------------------------------------------------
# Figs 2-3: covering counts and token detectors


def _cover_1_to_5_pct(layers: list[int]) -> Callable[[Tables], float]:
    """% of the supported (>= MIN_SUPPORT counted firings) neurons of ``layers`` covered by 1-5 tokens."""
    def statistic(t: Tables) -> float:
        n = t["neurons"]
        mine = n[n.layer.isin(layers) & n.supported]
        return 100 * float((mine.cover <= 5).mean()) if len(mine) else 0.0
    return statistic


def fig2(page) -> dict[str, Any]:
    """Share (%) of the first-half neurons with >= MIN_SUPPORT firings that 1-5 tokens cover (split
    estimate), the buckets of every alive first-half neuron, and how many meet the support."""
    half = first_half(page)
    neurons = page.stats.neurons
    shares = voita.cover_bucket_shares(neurons, half)
    mine = neurons[neurons.layer.isin(half)]
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "layers": half, "min_support": voita.MIN_SUPPORT,
        "bucket_pct": dict(zip(shares.bucket, shares.pct.round(3))),
        "alive_first_half": int((~mine.dead).sum()), "supported_first_half": int(mine.supported.sum()),
        "pct_cover_1_to_5_unsupported": 100 * float((mine[~mine.dead & (mine.cover > 0)].cover <= 5).mean())
        if (~mine.dead & (mine.cover > 0)).any() else 0.0}
    return _sized(numbers, page_sizes(page), {"pct_cover_1_to_5": (_cover_1_to_5_pct(half), PCT)}, page)


def trigram_detectors_per_layer(page, trigrams: dict[str, pd.DataFrame]) -> pd.Series:
    """Trigram detectors (with support) per layer (0 for layers without any)."""
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
    """Token detectors (with support) as a share (%) of all neurons and trigram detectors (split
    estimates); full-data counts with and without the support; detected tokens."""
    layers = page.layers
    n_neurons = page.n_layers * page.lm.cfg.d_mlp
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "min_support": voita.MIN_SUPPORT,
        "token_detectors_all_tokens": int(layers.token_detectors.sum()),
        "token_detectors_without_support": int(page.stats.neurons.detector_rule.sum()),
        "token_detectors_per_layer": layers.token_detectors.tolist(),
        "detected_tokens_per_layer": layers.detected_tokens.tolist(),
        "detected_tokens_total": int(layers.cumulative_tokens.iloc[-1]),
        "max_detected_tokens_per_layer": int(layers.detected_tokens.max()),
        "trigram_detectors_per_layer": trigram_detectors_per_layer(page, trigrams).tolist(),
        "trigram_candidates": int(trigrams["neurons"].attrs.get("n_candidates", len(trigrams["neurons"]))),
        "trigram_detectors_all_tokens": int(trigrams["neurons"].detector.sum()),
        "trigram_detectors_without_support": int(trigrams["neurons"].detector_rule.sum())}
    return _sized(numbers, page_sizes(page), {
        "token_detector_pct": (lambda t: 100 * float(t["neurons"].token_detector.sum()) / n_neurons, PCT),
        "trigram_detectors": (lambda t: float(t["trigrams"].detector.sum()), (0.0, np.inf))}, page)


# ---------------------------------------------------------------------------------------------
# Fig 4: new tokens per layer


def fig4(page) -> dict[str, Any]:
    """Mean over the layers after the first detecting one of (new overall / detected) and of
    (new vs the previous layer / detected); interval over those layers (at least MIN_ITEMS - 2 = 3
    of them, else no number: the claim is about "each following layer")."""
    layers = page.layers
    has = layers[layers.detected_tokens > 0]
    following = has.iloc[1:]
    numbers: dict[str, Any] = {"n_tokens": int(page.stats.info["n_tokens"]),
                               "layers_with_detected_tokens": has.layer.tolist(),
                               "following_layers": following.layer.tolist()}
    for key, column in (("share_new_following_layers", "new_overall"), ("share_new_vs_previous", "new_vs_previous")):
        shares = (following[column] / following.detected_tokens).to_numpy()
        if len(shares) >= 3:
            numbers[key] = bootstrap(mean_at(shares), len(shares), unit="layers", seed=page.seed)
    return _sized(numbers, page_sizes(page), {
        "token_detectors": (lambda t: float(t["neurons"].token_detector.sum()), (0.0, np.inf)),
        "detected_tokens": (lambda t: float(t["detector_tokens"].token.nunique()), (0.0, np.inf))}, page)


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
    the share with a trigger among their 10 most suppressed tokens; intervals over the detectors
    (at least MIN_ITEMS of them, else no number)."""
    numbers: dict[str, Any] = {"n_tokens": int(page.stats.info["n_tokens"]), "token_detectors": len(suppression)}
    if len(suppression) >= MIN_ITEMS:
        for key, values in (("suppression_share", suppression.suppresses.to_numpy(float)),
                            ("share_trigger_in_bottom10", suppression.trigger_in_bottom10.to_numpy(float))):
            numbers[key] = bootstrap(mean_at(values), len(values), unit="detectors", seed=page.seed)
    if len(suppression):
        numbers["median_trigger_percentile"] = float(suppression.trigger_percentile.median())
    return _sized(numbers, page_sizes(page), {
        "token_detectors_at_split": (lambda t: float(t["neurons"].token_detector.sum()), (0.0, np.inf))}, page)


# ---------------------------------------------------------------------------------------------
# Figs 8-9: positional neurons


def _positional(t: Tables) -> float:
    return float(t["neurons"].positional.sum())


def _strong_positional(t: Tables) -> float:
    return float((t["neurons"].positional & t["neurons"].pos_strong.astype(bool)).sum())


def _positional_plugin(t: Tables) -> float:
    return float((t["neurons"].mi_plugin > voita.MI_THRESHOLD).sum())


def fig8(page) -> dict[str, Any]:
    """Positional neurons (Miller-Madow I(act; pos) > 0.05) and the strong ones among them (>= 90 % of
    positions at an extreme: position decides the firing nearly everywhere; split estimates), and
    whether oscillatory is the most frequent type of the strong ones (its share minus the next type's;
    interval over them, at least MIN_ITEMS of them).

    Why strong: an untrained twin has many weak positional neurons (SmolLM2's fresh-init twin: 383
    at 16k tokens, the trained model fewer): causal attention averages over few tokens at the first
    positions, so the first few positions are special in any transformer, while later ones fire by
    content (about half the time, at random)."""
    neurons = page.stats.neurons
    pos = neurons[neurons.positional]
    strong = pos[pos.pos_strong.astype(bool)]
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "seq_len": int(page.stats.info["seq_len"]),
        "positional_all_tokens": len(pos), "strong_positional_all_tokens": int(pos.pos_strong.astype(bool).sum()),
        "positional_plugin_all_tokens": int((neurons.mi_plugin > voita.MI_THRESHOLD).sum()),
        "positional_per_layer": neurons.groupby("layer").positional.sum().astype(int).tolist(),
        "by_type": {k: int(v) for k, v in pos.pos_type.value_counts().items()}, "max_mi": float(neurons.mi.max())}
    if len(strong) >= MIN_ITEMS:  # the types of weak curves near fr = 0.5 are noise (row-sampling wobble)
        kinds = strong.pos_type.to_numpy()

        def lead(idx: np.ndarray) -> float:
            shares = pd.Series(kinds[idx]).value_counts(normalize=True)
            osc = shares.get("oscillatory", 0.0)
            return float(osc - shares.drop("oscillatory", errors="ignore").max()) if len(shares) > 1 else float(osc)

        numbers["oscillatory_lead"] = bootstrap(lead, len(kinds), unit="strong positional neurons", seed=page.seed)
    sizes = page_sizes(page, positional_splits(int(page.stats.info["n_rows_used"])))
    return _sized(numbers, sizes, {"strong_positional_neurons": (_strong_positional, (0.0, np.inf)),
                                              "positional_neurons": (_positional, (0.0, np.inf)),
                                              "positional_neurons_plugin": (_positional_plugin, (0.0, np.inf))}, page)


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
    strong = _strong_oscillatory(mine)
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


def _strong_oscillatory(neurons: pd.DataFrame) -> list[int]:
    return neurons[neurons.positional & (neurons.pos_type == "oscillatory") & neurons.pos_strong].neuron.tolist()


def _coverage(ranges: list[list[tuple[int, int]]], n_positions: int) -> tuple[float, float]:
    """Shares of positions 1..n covered by at least one and by more than one of the ranges."""
    cover = np.zeros(n_positions, int)
    for neuron_ranges in ranges:
        for lo, hi in neuron_ranges:
            cover[lo - 1: hi] += 1
    return float((cover >= 1).mean()), float((cover >= 2).mean())


def _layer_oscillation(layer: int, seq_len: int) -> Callable[[Tables], tuple[int, float, float]]:
    positions = np.arange(1, seq_len)

    def statistic(t: Tables) -> tuple[int, float, float]:
        strong = _strong_oscillatory(t["neurons"][t["neurons"].layer == layer])
        curves = t["positional"][t["positional"].layer == layer]
        ranges = [voita.on_ranges(curves[curves.neuron == n].fr.to_numpy(), positions) for n in strong]
        return (len(strong), *(_coverage(ranges, len(positions)) if strong else (0.0, 0.0)))
    return statistic


def fig9(page, shown: Oscillatory) -> dict[str, Any]:
    """Strong oscillatory neurons of the layer and the share of positions their ranges cover once
    and more than once (split estimates; full-data values beside them)."""
    layer_stat = _layer_oscillation(shown.layer, int(page.stats.info["seq_len"]))
    count, covered, twice = layer_stat({"neurons": page.stats.neurons, "positional": page.stats.positional})
    numbers: dict[str, Any] = {
        "n_tokens": int(page.stats.info["n_tokens"]), "layer": shown.layer,
        "strong_oscillatory_neurons": [f"{shown.layer}.{n}" for n in shown.strong],
        "strong_oscillatory_all_tokens": count, "positions_covered_all_tokens": covered,
        "oscillatory_any_strength": int(((page.stats.neurons.layer == shown.layer)
                                         & (page.stats.neurons.pos_type == "oscillatory")).sum())}
    return _sized(numbers, page_sizes(page, positional_splits(int(page.stats.info["n_rows_used"]))), {
        "strong_oscillatory": (lambda t: float(layer_stat(t)[0]), (0.0, np.inf)),
        "positions_covered": (lambda t: layer_stat(t)[1], (0.0, 1.0)),
        "positions_covered_twice": (lambda t: layer_stat(t)[2], (0.0, 1.0))}, page)


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
    """Neurons dead on both domains (% of all neurons; split estimate: split i of each domain), of
    the neurons dead (strong positional, see :func:`fig8`) on the first domain the share dead
    (positional) on the second too
    (interval over those neurons, at least MIN_ITEMS of them), and the counts per domain."""
    (first, a), (second, b) = list(by_domain.items())[:2]
    key = ["layer", "neuron"]
    a_n, b_n = a.neurons.set_index(key), b.neurons.set_index(key)
    numbers: dict[str, Any] = {"n_tokens": int(a.info["n_tokens"]), "domains": list(by_domain)}
    for name, stats in by_domain.items():
        summary = stats.layer_summary()
        numbers[f"dead_{name}"] = int(summary.dead.sum())
        numbers[f"token_detectors_{name}"] = int(summary.token_detectors.sum())
        numbers[f"positional_{name}"] = int(summary.positional.sum())
    strong = a_n.positional.to_numpy() & a_n.pos_strong.astype(bool).to_numpy()
    for key_name, column, chosen in (("dead_shared_share", "dead", a_n.dead.to_numpy()),
                                     ("strong_positional_shared_share", "positional", strong)):
        also = b_n.loc[a_n.index[chosen], column].to_numpy(float)
        if len(also) >= MIN_ITEMS:
            numbers[key_name] = bootstrap(mean_at(also), len(also),
                                          unit=f"neurons {column} on {first}", seed=page.seed)
    sizes_a, sizes_b = page_sizes(page) if a is page.stats else by_size(page.lm, a), by_size(page.lm, b)
    if sizes_a is None or sizes_b is None:
        both = (a_n.dead & b_n.dead.reindex(a_n.index)).mean() * 100
        numbers["dead_pct_both_domains"] = Estimate(float(both), float("nan"), float("nan"), 0,
                                                    "rows (no interval: the firings were not kept)")
        numbers["verdict_tokens"] = int(a.info["n_tokens"])
        return numbers

    def both_dead(ta: Tables, tb: Tables) -> float:
        da, db = ta["neurons"].set_index(key).dead, tb["neurons"].set_index(key).dead
        return 100 * float((da & db.reindex(da.index)).mean())

    numbers["dead_pct_both_domains"] = split_mean([both_dead(x, y) for x, y in zip(sizes_a.splits, sizes_b.splits)],
                                                  unit=sizes_a.unit() + ", per domain", bounds=PCT)
    numbers["verdict_tokens"] = sizes_a.split_tokens
    numbers["convergence"] = {"tokens": [r * sizes_a.seq_len for r in sizes_a.prefix_rows],
                              **{f"dead_{name}": s.curve(lambda t: float(t["neurons"].dead.sum()))
                                 for name, s in ((first, sizes_a), (second, sizes_b))},
                              **{f"positional_{name}": s.curve(_positional) for name, s in ((first, sizes_a), (second, sizes_b))},
                              "dead_pct_both_domains": [both_dead(x, y) for x, y in zip(sizes_a.prefixes, sizes_b.prefixes)]}
    return numbers


def convergence_caption(numbers: dict[str, Any]) -> str:
    """The caption of a page's convergence figure (:func:`helpers.voita_plots.convergence`)."""
    tokens = numbers["convergence"]["tokens"]
    return (f"Key counts of this page on the first {', '.join(f'{t:,}' for t in tokens)} tokens counted (blue: "
            f"prefixes of the same rows), and the verdicts' estimates (orange: the mean over disjoint splits of the rows, "
            f"{numbers['verdict_tokens']:,} tokens each, with its 95 % t interval). A count still moving between "
            "the last two sizes has not settled: the paper counted 5-20 M tokens.")
