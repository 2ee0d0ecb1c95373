"""Dead, n-gram and positional neurons (Voita et al. 2023; book: Methods, methods_voita.md) from activation counts.

:func:`neuron_stats` runs the streaming pass of :mod:`helpers.activations` (cached, resumable) and
turns the counts into tables; the functions below it hold each definition on plain arrays, so that
tests can check them on hand-made counts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformer_lens.model_bridge import TransformerBridge

from helpers.activations import (
    ACTIVE_RULE,
    ActivationCounts,
    bytes_per_layer,
    count_activations,
    count_ngrams,
    default_threshold,
    fired_bits,
    is_relu,
    layer_groups,
    ngram_counts_from_bits,
    vocab_of,
)
from helpers.cache import cache_key, cached_tables, results_root
from helpers.corpus import corpus_fingerprint, load_documents, make_rows
from helpers.errors import ParameterError
from helpers.models import special_tokens, weights_fingerprint

COVERAGE = 0.95              # share of a neuron's activations to cover / of a token's occurrences
MAX_DETECTOR_TOKENS = 5      # token detector: covered by 1..5 tokens
MAX_DETECTOR_TRIGRAMS = 50   # trigram detector: covered by 1..50 trigrams
MI_THRESHOLD = 0.05          # positional neuron: I(act; pos) > 0.05 nats (Miller-Madow corrected, see positional_mi)
# Minimum support (the suite's, not the paper's): a detector's covered items must account for at
# least MIN_SUPPORT of its firings, and a neuron enters Fig 2's covering-count shares only if it fired
# at least MIN_SUPPORT times at counted positions. Without it, a neuron that fires once, on a token
# seen once, is a "detector" covered by 1 token: at 16-32k tokens that is most of the detectors of an
# untrained twin. With >= 20 firings on <= 5 tokens at >= 95 % of their occurrences, a neuron whose
# firings had nothing to do with the token (firing rate f per position) would pass with chance about
# f^19, negligible for any f a detector can have (see book: Methods, voita-token-detectors).
MIN_SUPPORT = 20
# ... and only covered items seen at least MIN_OCCURRENCES times count towards that support: an item
# seen once is "covered" by any neuron that fired there. (Without it, a neuron firing at the first
# positions of each row "detects" the BOS-padded trigrams there, each seen once: 88 such trigram
# detectors per 4k tokens in SmolLM2.)
MIN_OCCURRENCES = 3
# Positional types (the paper gives no numbers; these are the suite's): an extreme is fr(pos) <= LOW
# or >= HIGH; a curve is "strong" when at least STRONG_SHARE of positions sit at an extreme; the
# curve is binarised with hysteresis (on above ON, off below OFF) and its "on" runs are its ranges.
LOW, HIGH, STRONG_SHARE, ON, OFF = 0.05, 0.95, 0.9, 0.6, 0.4
CURVES_PER_LAYER = 10        # fr(pos) curves kept per layer besides the positional neurons
COVER_BUCKETS = [(1, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 500), (501, None)]


# --------------------------------------------------------------------------------------------
# Definitions on arrays
# --------------------------------------------------------------------------------------------


def _at_least(a: np.ndarray, share: float, b: np.ndarray) -> np.ndarray:
    """a >= share * b for integer counts, robust to share not being exact in binary."""
    return a >= share * b - 1e-9 * np.maximum(b, 1)


def coverage_stats(counts: np.ndarray, occurrences: np.ndarray, coverage: float = COVERAGE, *,
                   min_occurrences: int = 1) -> dict[str, np.ndarray]:
    """Covering count and covered items of each neuron, from counts [G items, K neurons].

    counts[g, k]: how often neuron k fired on item g (a token or an n-gram); occurrences[g]: how
    often g occurs. With total_k = sum_g counts[g, k]:
    - cover_k: the fewest items whose counts sum to >= coverage * total_k (0 if total_k = 0);
    - item g is *covered* by k if counts[g, k] >= coverage * occurrences[g] (and counts > 0);
    - covered_share_k = sum of counts over covered items / total_k;
    - support_k = sum of counts over covered items that occur at least ``min_occurrences`` times
      (the firings they account for).
    """
    counts = np.asarray(counts, dtype=np.int64)
    total = counts.sum(0)
    cum = np.cumsum(-np.sort(-counts, axis=0), axis=0)
    cover = (~_at_least(cum, coverage, total[None, :])).sum(0) + 1
    cover[total == 0] = 0
    occurrences = np.asarray(occurrences, dtype=np.int64)
    covered = _at_least(counts, coverage, occurrences[:, None]) & (counts > 0)
    share = np.where(total > 0, (counts * covered).sum(0) / np.maximum(total, 1), 0.0)
    support = (counts * (covered & (occurrences >= min_occurrences)[:, None])).sum(0)
    return {"total": total, "cover": cover, "covered": covered, "n_covered": covered.sum(0), "covered_share": share,
            "support": support}


def is_detector(cover: np.ndarray, covered_share: np.ndarray, max_items: int, coverage: float = COVERAGE, *,
                support: np.ndarray | None = None, min_support: int = MIN_SUPPORT) -> np.ndarray:
    """Voita's rule: 1 <= cover <= max_items and the covered items hold >= coverage of activations;
    with ``support`` (firings on the covered items, :func:`coverage_stats`) also support >= min_support."""
    rule = (cover >= 1) & (cover <= max_items) & (covered_share >= coverage - 1e-12)
    return rule if support is None else rule & (np.asarray(support) >= min_support)


def positional_mi(pos_active: np.ndarray, n_rows: int, *, corrected: bool = False) -> np.ndarray:
    """I(act; pos) per neuron from counts [T positions, K neurons] over ``n_rows`` rows, in nats.

    fr(pos) = pos_active / n_rows, fr = mean_pos fr(pos) (uniform p(pos) = 1/T);
    I = (1/T) sum_pos [fr(pos) log(fr(pos)/fr) + (1 - fr(pos)) log((1 - fr(pos))/(1 - fr))], 0 log 0 = 0.

    ``corrected``: the Miller-Madow estimate. I = H(act) - H(act | pos), and the plug-in entropy of m
    occupied bins from n draws is low by about (m - 1) / (2n); so
    I_MM = I + (m_act - 1) / (2 N T) - mean_pos (m_pos - 1) / (2 N), with m_act (m_pos) the outcomes
    (fired / not) seen at all (at that position) and N = n_rows. For a neuron whose firing does not
    depend on position the plug-in I is about (T - 1) / (2 N T), 1/(2N): 0.031 nats at 16 rows.
    """
    fr_pos = np.asarray(pos_active, dtype=np.float64) / n_rows
    fr = fr_pos.mean(0, keepdims=True)
    mi = (_xlog_ratio(fr_pos, fr) + _xlog_ratio(1 - fr_pos, 1 - fr)).mean(0)
    if not corrected:
        return mi
    n_pos = fr_pos.shape[0]
    m_act = ((fr > 0) & (fr < 1)).astype(np.float64)[0]  # 2 outcomes seen: m - 1 = 1
    m_pos = ((fr_pos > 0) & (fr_pos < 1)).mean(0)
    return mi + m_act / (2 * n_rows * n_pos) - m_pos / (2 * n_rows)


def _xlog_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    q = np.broadcast_to(q, p.shape)
    safe = (p > 0) & (q > 0)
    out = np.zeros_like(p)
    out[safe] = p[safe] * np.log(p[safe] / q[safe])
    return out


def on_ranges(fr_pos: np.ndarray, positions: np.ndarray) -> list[tuple[int, int]]:
    """Position ranges (first, last) where the curve is "on": it turns on at fr >= ON and off at fr <= OFF."""
    ranges, start = [], None
    for i, value in enumerate(fr_pos):
        if start is None and value >= ON:
            start = i
        elif start is not None and value <= OFF:
            ranges.append((int(positions[start]), int(positions[i - 1])))
            start = None
    if start is not None:
        ranges.append((int(positions[start]), int(positions[-1])))
    return ranges


def positional_type(fr_pos: np.ndarray, positions: np.ndarray) -> tuple[str, bool, list[tuple[int, int]]]:
    """(type, strong, on-ranges) of a positional neuron's fr(pos) curve (Methods: voita-positional-types).

    oscillatory: two or more separate "on" ranges; both extremes: reaches fr <= LOW and fr >= HIGH;
    one extreme: reaches one of them; other: neither. strong: >= STRONG_SHARE of positions at an extreme.
    """
    ranges = on_ranges(fr_pos, positions)
    low, high = bool((fr_pos <= LOW).any()), bool((fr_pos >= HIGH).any())
    if len(ranges) >= 2:
        kind = "oscillatory"
    elif low and high:
        kind = "both extremes"
    elif low or high:
        kind = "one extreme"
    else:
        kind = "other"
    strong = bool(((fr_pos <= LOW) | (fr_pos >= HIGH)).mean() >= STRONG_SHARE) and kind != "other"
    return kind, strong, ranges


def cover_bucket_shares(neurons: pd.DataFrame, layers: list[int]) -> pd.DataFrame:
    """Fig 2: alive neurons of ``layers`` per covering-count bucket: (bucket, n, pct)."""
    alive = neurons[neurons.layer.isin(layers) & ~neurons.dead & (neurons.cover > 0)]
    labels = [cover_bucket(lo) for lo, _ in COVER_BUCKETS]
    counts = alive.cover.map(cover_bucket).value_counts().reindex(labels, fill_value=0)
    return pd.DataFrame({"bucket": labels, "n": counts.to_numpy(),
                         "pct": 100 * counts.to_numpy() / max(len(alive), 1)})


def cover_bucket(cover: int) -> str:
    for lo, hi in COVER_BUCKETS:
        if cover >= lo and (hi is None or cover <= hi):
            return f"{lo}-{hi}" if hi is not None else f">{lo - 1}"
    return "none"


# --------------------------------------------------------------------------------------------
# The pass and its tables
# --------------------------------------------------------------------------------------------


@dataclass
class NeuronStats:
    """The tables of :func:`neuron_stats`.

    neurons: one row per (layer, neuron): n_active, freq, dead, n_counted (firings at counted positions),
        supported (n_counted >= MIN_SUPPORT), cover, n_covered, covered_share, support, detector_rule
        (Voita's three steps alone), token_detector (and support >= MIN_SUPPORT), mi_plugin, mi (Miller-Madow),
        positional, pos_type, pos_strong, n_ranges.
    detector_tokens: (layer, neuron, token, count, occurrences) for the tokens each token detector covers.
    positional: (layer, neuron, position, fr) for every positional neuron and the layer's 10 highest-MI ones.
    info: the key (model, corpus, rows, threshold, ...) and n_tokens.
    """

    neurons: pd.DataFrame
    detector_tokens: pd.DataFrame
    positional: pd.DataFrame
    info: dict[str, Any]

    def layer_summary(self) -> pd.DataFrame:
        """Per layer: % dead, mean activation frequency of alive neurons, token detectors,
        detected tokens (per layer, cumulative, new overall, new vs the previous layer), positional neurons."""
        rows = []
        seen: set[Any] = set()  # token ids detected so far
        previous: set[Any] = set()  # token ids detected by the previous layer
        for layer, frame in self.neurons.groupby("layer"):
            alive = frame[~frame.dead]
            tokens = set(self.detector_tokens.token[self.detector_tokens.layer == layer])
            new_overall, new_vs_prev = tokens - seen, tokens - previous
            seen |= tokens
            previous = tokens
            rows.append({
                "layer": layer, "n_neurons": len(frame), "dead": int(frame.dead.sum()),
                "dead_pct": 100 * frame.dead.mean(), "mean_freq_alive": alive.freq.mean() if len(alive) else np.nan,
                "token_detectors": int(frame.token_detector.sum()), "detected_tokens": len(tokens),
                "cumulative_tokens": len(seen), "new_overall": len(new_overall), "new_vs_previous": len(new_vs_prev),
                "positional": int(frame.positional.sum()),
            })
        return pd.DataFrame(rows)


def neuron_stats(model: TransformerBridge, *, n_rows: int, seq_len: int, corpus: str = "wikipedia-sample",
                 seed: int = 42, threshold: float | None = None, batch_size: int = 8, max_memory_gb: float = 4.0,
                 max_fired_gb: float = 2.0, cache: bool = True, progress: bool = True) -> NeuronStats:
    """Count when every FFN neuron fires over ``n_rows`` corpus rows of ``seq_len`` tokens (0: all
    rows the corpus gives) and apply Voita et al.'s definitions.

    Layers are counted in groups that fit ``max_memory_gb``; each group's counts are checkpointed
    under the results directory while it runs, so an interrupted pass resumes where it stopped.
    When every neuron's firings, packed 8 to a byte, fit ``max_fired_gb`` on disk (about 190 MB for
    SmolLM2 at 32k tokens), the pass also keeps them for :func:`ngram_detectors`, which then counts
    n-grams from them instead of running the model a second time.
    """
    if n_rows < 0 or not 8 <= seq_len <= model.cfg.n_ctx:
        raise ParameterError(f"n_rows must be >= 0 (0: all rows) and seq_len within 8..{model.cfg.n_ctx} "
                             f"(the model's context), got n_rows={n_rows}, seq_len={seq_len}")
    threshold = default_threshold(model) if threshold is None else float(threshold)
    key = {"model": model.cfg.repro_spec.name, "weights": weights_fingerprint(model, full=True), "corpus": corpus,
           "corpus_content": corpus_fingerprint(corpus),
           "n_rows": n_rows, "seq_len": seq_len, "seed": seed, "threshold": threshold, "active": ACTIVE_RULE,
           "dtype": str(model.cfg.dtype),
           "rules": [COVERAGE, MAX_DETECTOR_TOKENS, MIN_SUPPORT, MIN_OCCURRENCES, MI_THRESHOLD, "miller-madow", LOW, HIGH,
                     STRONG_SHARE, ON, OFF, CURVES_PER_LAYER]}

    kept = fired_folder(key)  # once: the folder's name hashes the code, which may change while the pass runs

    def compute() -> dict[str, pd.DataFrame]:
        st = special_tokens(model)
        rows = stats_rows(model, corpus, n_rows, seq_len, seed)
        vocab = vocab_of(rows, st.bos_id)
        work = results_root() / f"activation-counts-{cache_key(key, __name__)}"
        work.mkdir(parents=True, exist_ok=True)
        groups = layer_groups(model.cfg.n_layers, bytes_per_layer(model.cfg.d_mlp, seq_len, len(vocab)), max_memory_gb)
        fired_size = rows.numel() * model.cfg.n_layers * -(-model.cfg.d_mlp // 8)
        fired_dir = kept if fired_size <= max_fired_gb * 2**30 else None
        tables: dict[str, list[pd.DataFrame]] = {"neurons": [], "detector_tokens": [], "positional": []}
        for i, layers in enumerate(groups):
            done, partial = work / f"group-{i}.npz", work / f"group-{i}.partial.npz"
            counts = ActivationCounts.load_checkpoint(done)  # None: missing, or corrupt and removed
            if counts is None:
                state = ActivationCounts.load_checkpoint(partial)
                counts = count_activations(model, rows, layers=layers, threshold=threshold, bos_id=st.bos_id,
                                           vocab=vocab, batch_size=batch_size, progress=progress, state=state,
                                           checkpoint=partial, fired_dir=fired_dir)
                counts.save(done)
                partial.unlink(missing_ok=True)
            for name, frame in analyse(counts).items():
                tables[name].append(frame)
            del counts
        out = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
        out["neurons"].attrs.update(n_tokens=int(rows.numel()), n_rows_used=int(rows.shape[0]),
                                    relu=is_relu(model), threshold=threshold, n_groups=len(groups))
        shutil.rmtree(work, ignore_errors=True)  # the tables are the product; the raw counts are large
        return out

    tables = cached_tables("voita-stats", key, compute, enabled=cache)
    return NeuronStats(neurons=tables["neurons"], detector_tokens=tables["detector_tokens"],
                       positional=tables["positional"],
                       info={**key, **tables["neurons"].attrs, "fired_dir": str(kept)})


def fired_folder(key: dict[str, Any]):
    """Where the statistics pass with key ``key`` keeps its packed firings (beside the cached tables)."""
    return results_root() / f"voita-fired-{cache_key(key, __name__)}"


def stats_rows(model: TransformerBridge, corpus: str, n_rows: int, seq_len: int, seed: int) -> torch.Tensor:
    """The rows the statistics are counted on: BOS + seq_len - 1 corpus tokens, shuffled with ``seed``."""
    st = special_tokens(model)
    return make_rows(model.tokenizer, load_documents(corpus), bos_id=st.bos_id, eos_id=st.eos_id,
                     seq_len=seq_len, n_rows=n_rows or None, seed=seed)


def analyse(counts: ActivationCounts) -> dict[str, pd.DataFrame]:
    """Tables of one group of layers (see :class:`NeuronStats`)."""
    n_rows = int(counts.n_rows)
    positions = np.arange(1, counts.seq_len)  # position 0 is always BOS: left out of fr(pos)
    neurons, detector_tokens, positional = [], [], []
    for i, layer in enumerate(counts.layers.tolist()):
        active = counts.active[i]
        stats = coverage_stats(counts.token_active[i], counts.token_occ, min_occurrences=MIN_OCCURRENCES)
        rule = is_detector(stats["cover"], stats["covered_share"], MAX_DETECTOR_TOKENS)
        detector = rule & (stats["support"] >= MIN_SUPPORT)
        mi = positional_mi(counts.pos_active[i, 1:], n_rows, corrected=True)
        frame = pd.DataFrame({
            "layer": layer, "neuron": np.arange(len(active)), "n_active": active,
            "freq": active / counts.n_positions, "dead": active == 0, "n_counted": stats["total"],
            "supported": stats["total"] >= MIN_SUPPORT, "cover": stats["cover"],
            "n_covered": stats["n_covered"], "covered_share": stats["covered_share"], "support": stats["support"],
            "detector_rule": rule, "token_detector": detector,
            "mi_plugin": positional_mi(counts.pos_active[i, 1:], n_rows), "mi": mi, "positional": mi > MI_THRESHOLD,
        })
        kinds, strong, n_ranges = [], [], []
        for n in np.flatnonzero(frame.positional.to_numpy()):
            kind, is_strong, ranges = positional_type(counts.pos_active[i, 1:, n] / n_rows, positions)
            kinds.append(kind)
            strong.append(is_strong)
            n_ranges.append(len(ranges))
        # fr(pos) curves of the positional neurons and of the layer's CURVES_PER_LAYER highest-MI ones
        shown = np.union1d(np.flatnonzero(frame.positional.to_numpy()), np.argsort(-mi)[:CURVES_PER_LAYER])
        for n in shown:
            positional.append(pd.DataFrame({"layer": layer, "neuron": n, "position": positions,
                                            "fr": counts.pos_active[i, 1:, n] / n_rows}))
        frame["pos_type"] = None
        frame["pos_strong"] = False
        frame["n_ranges"] = 0
        idx = frame.index[frame.positional]
        frame.loc[idx, "pos_type"] = kinds
        frame.loc[idx, "pos_strong"] = strong
        frame.loc[idx, "n_ranges"] = n_ranges
        neurons.append(frame)
        for n in np.flatnonzero(detector):
            cols = np.flatnonzero(stats["covered"][:, n])
            detector_tokens.append(pd.DataFrame({
                "layer": layer, "neuron": n, "token": counts.vocab[cols],
                "count": counts.token_active[i, cols, n], "occurrences": counts.token_occ[cols]}))
    empty_tokens = _typed([], dict.fromkeys(("layer", "neuron", "token", "count", "occurrences"), "int64"))
    empty_pos = _typed([], {"layer": "int64", "neuron": "int64", "position": "int64", "fr": "float64"})
    return {"neurons": pd.concat(neurons, ignore_index=True),
            "detector_tokens": pd.concat(detector_tokens, ignore_index=True) if detector_tokens else empty_tokens,
            "positional": pd.concat(positional, ignore_index=True) if positional else empty_pos}


def ngram_detectors(model: TransformerBridge, stats: NeuronStats, *, n: int = 3,
                    max_items: int = MAX_DETECTOR_TRIGRAMS, batch_size: int = 8, cache: bool = True,
                    progress: bool = True) -> dict[str, pd.DataFrame]:
    """n-gram detectors (App A.2: trigrams, 1..50 of them, 95 % / 95 %) among ``stats``'s neurons.

    Only neurons whose token covering count is 1..max_items can qualify (the last tokens of <= k
    covering n-grams are <= k covering tokens, over the same activations), so n-grams are counted
    for those candidates alone: from the firings the statistics pass kept on disk when it could
    (no model), else with a second pass over the rows. A detector also needs MIN_SUPPORT firings on
    its covered n-grams. Returns ``neurons`` (layer, neuron, cover, n_covered, covered_share, support,
    detector_rule: Voita's three steps alone, detector: with the support) and ``covered`` (layer, neuron,
    ngram, tokens, count, occurrences).
    """
    info = stats.info
    key = {**{k: info[k] for k in ("model", "weights", "corpus", "corpus_content", "n_rows", "seq_len", "seed",
                                   "threshold", "active", "dtype")},
           "n": n, "max_items": max_items, "coverage": COVERAGE, "min_support": MIN_SUPPORT,
           "min_occurrences": MIN_OCCURRENCES}

    def compute() -> dict[str, pd.DataFrame]:
        cand = stats.neurons[(stats.neurons.cover >= 1) & (stats.neurons.cover <= max_items)]
        pairs = list(zip(cand.layer.tolist(), cand.neuron.tolist()))
        rows = stats_rows(model, info["corpus"], info["n_rows"], info["seq_len"], info["seed"])
        st = special_tokens(model)
        folder = info.get("fired_dir")
        bits = {layer: fired_bits(folder, layer) for layer in {layer for layer, _ in pairs}} if folder else {}
        usable = {layer: b for layer, b in bits.items() if b is not None and b.shape[:2] == tuple(rows.shape)}
        if folder and len(usable) == len(bits):  # every layer's bits kept, for these rows
            grams = ngram_counts_from_bits(usable, rows, pairs, n=n, d_vocab=model.cfg.d_vocab, bos_id=st.bos_id)
            source = "firings kept by the statistics pass"
        else:
            grams = count_ngrams(model, rows, pairs, n=n, threshold=info["threshold"], bos_id=st.bos_id,
                                 batch_size=batch_size, progress=progress)
            source = "a second forward pass"
        neurons, covered_frame = ngram_table(grams, pairs, n=n, max_items=max_items, d_vocab=model.cfg.d_vocab)
        neurons.attrs.update(n_candidates=len(pairs), counted_from=source)
        return {"neurons": neurons, "covered": covered_frame}

    return cached_tables(f"voita-{n}gram", key, compute, enabled=cache)


def ngram_table(grams, pairs: list[tuple[int, int]], *, n: int, max_items: int,
                d_vocab: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Voita's n-gram detector rule with minimum support for each (layer, neuron) column of ``grams``
    (:class:`helpers.activations.NgramCounts`): the ``neurons`` and ``covered`` frames of :func:`ngram_detectors`."""
    table, covered = [], []
    for col, (layer, neuron) in enumerate(pairs):
        ids, active, occ = grams.column(col)
        counts = active[:, None]
        s = coverage_stats(counts, occ, min_occurrences=MIN_OCCURRENCES)
        rule = bool(is_detector(s["cover"], s["covered_share"], max_items)[0])
        det = rule and int(s["support"][0]) >= MIN_SUPPORT
        table.append({"layer": layer, "neuron": neuron, "cover": int(s["cover"][0]),
                      "n_covered": int(s["n_covered"][0]), "covered_share": float(s["covered_share"][0]),
                      "support": int(s["support"][0]), "detector_rule": rule, "detector": det})
        if det:
            keep = s["covered"][:, 0]
            for gram, c, o in zip(ids[keep].tolist(), counts[keep, 0].tolist(), occ[keep].tolist()):
                covered.append({"layer": layer, "neuron": neuron, "ngram": gram,
                                "tokens": decode_ngram(gram, n, d_vocab), "count": c, "occurrences": o})
    neurons = _typed(table, {"layer": "int64", "neuron": "int64", "cover": "int64", "n_covered": "int64",
                             "covered_share": "float64", "support": "int64", "detector_rule": "bool",
                             "detector": "bool"})
    covered_frame = _typed(covered, {"layer": "int64", "neuron": "int64", "ngram": "int64", "tokens": "object",
                                     "count": "int64", "occurrences": "int64"})
    return neurons, covered_frame


def _typed(records: list[dict], dtypes: dict[str, str]) -> pd.DataFrame:
    """A frame of ``records`` with these columns and dtypes, also when there are no records."""
    return pd.DataFrame(records, columns=list(dtypes)).astype(dtypes)


def decode_ngram(gram: int, n: int, d_vocab: int) -> list[int]:
    """The token ids of an n-gram id (inverse of :func:`helpers.activations.ngram_ids`)."""
    tokens = []
    for _ in range(n):
        gram, token = divmod(gram, d_vocab)
        tokens.append(int(token))
    return tokens[::-1]


# --------------------------------------------------------------------------------------------
# Vocabulary projection and suppression (Sec 4.4)
# --------------------------------------------------------------------------------------------


def vocab_projection(model: TransformerBridge, layer: int, neurons: list[int], *, chunk: int = 16384) -> torch.Tensor:
    """[k, d_vocab] = w_i · u_v: each neuron's raw FFN output row projected onto the raw unembedding
    (for tied models the embedding) of every token, float64 — Voita et al.'s "projecting this FFN
    row onto vocabulary" (§4.4), with no final norm and no centring.

    Why raw: the paper's suppression test is the *sign* of this projection for the trigger tokens
    (an active neuron's activation is positive, so the update's projection has the row's sign).
    The suite's processed weights give another number: P = g ⊙ u − mean_v(g ⊙ u) (final-norm gain
    folded in, centred over the vocabulary), so w̃ · P[:, v] < 0 means "pushed below the average
    token", not "negative". For a sandwich norm (Gemma) the row is taken after the post-FFN norm's
    gain (g_post ⊙ w, what the FFN writes into the residual).

    Compatibility mode replaced the weights in place; :class:`helpers.models.RawWeights` (recorded
    at load) recovers the raw ones exactly: with g ⊙ u_v = P[:, v] + gm + κ_v 1,

        w · u_v = (w / g) · P[:, v] + (w / g) · gm + κ_v Σ_d (w / g),

    computed in chunks of the vocabulary.
    """
    from helpers.weights import post_norm_gain

    raw = getattr(model.cfg, "repro_raw", None)
    if raw is None:
        name = getattr(getattr(model.cfg, "repro_spec", None), "name", "this model")
        raise ParameterError(f"the raw weights of {name!r} were not recorded or cannot be recovered (no usable final "
                             "norm, or a zero gain): load it with helpers.models.load_model / from_hf, or use a model "
                             "with a pre-norm final LayerNorm/RMSNorm")
    w = raw.w_out(layer, model.blocks[layer].mlp.W_out[neurons], neurons)  # [k, d] raw rows
    post = post_norm_gain(model, layer)
    if post is not None:
        w = w * post.detach().to("cpu", torch.float64)
    w_g = w / raw.gain  # [k, d]
    w_u = model.W_U
    out = torch.empty(len(neurons), w_u.shape[1], dtype=torch.float64)
    for start in range(0, w_u.shape[1], chunk):
        p = w_u[:, start:start + chunk].detach().to("cpu", torch.float64)
        kappa = raw.token_mean[start:start + p.shape[1]] - p.mean(0) - raw.gain_vocab_mean.mean()
        out[:, start:start + p.shape[1]] = w_g @ p + (w_g @ raw.gain_vocab_mean)[:, None] + w_g.sum(-1)[:, None] * kappa
    return out


def suppression(model: TransformerBridge, stats: NeuronStats) -> pd.DataFrame:
    """Per token detector: the mean raw projection (:func:`vocab_projection`) of its covered
    (trigger) tokens, their mean percentile among all tokens (0: most suppressed), the share of
    triggers with a negative projection, whether a trigger is among its 10 most suppressed tokens,
    and ``suppresses`` = mean trigger projection < 0 (the update points in the negative direction
    of its triggers, Voita et al. §4.4).
    One vocabulary projection per layer, for all of that layer's detectors."""
    rows = []
    for layer, in_layer in stats.detector_tokens.groupby("layer"):
        neurons = sorted(in_layer.neuron.unique().tolist())
        projections = vocab_projection(model, int(layer), neurons).numpy()  # [detectors, d_vocab]
        for neuron, proj in zip(neurons, projections):
            triggers = in_layer.token[in_layer.neuron == neuron].to_numpy()
            below = (proj[None, :] < proj[triggers, None]).sum(1)  # [triggers]: tokens suppressed more
            rows.append({"layer": layer, "neuron": neuron, "n_triggers": len(triggers),
                         "trigger_projection": float(proj[triggers].mean()),
                         "trigger_percentile": float(100 * below.mean() / (len(proj) - 1)),
                         "negative_share": float((proj[triggers] < 0).mean()),
                         "trigger_in_bottom10": bool((below < 10).any()),
                         "suppresses": bool(proj[triggers].mean() < 0)})
    return _typed(rows, {"layer": "int64", "neuron": "int64", "n_triggers": "int64", "trigger_projection": "float64",
                         "trigger_percentile": "float64", "negative_share": "float64",
                         "trigger_in_bottom10": "bool", "suppresses": "bool"})


def top_tokens(model: TransformerBridge, layer: int, neuron: int, k: int = 10) -> pd.DataFrame:
    """The k most promoted and k most suppressed tokens of a neuron (raw vocabulary projection,
    :func:`vocab_projection`)."""
    proj = vocab_projection(model, layer, [neuron])[0]
    top, bottom = proj.topk(k), (-proj).topk(k)
    decode = model.tokenizer.convert_ids_to_tokens
    return pd.DataFrame({"promoted": decode(top.indices.tolist()), "promoted_value": top.values.numpy(),
                         "suppressed": decode(bottom.indices.tolist()), "suppressed_value": -bottom.values.numpy()})


def token_strings(model: TransformerBridge, ids: Any) -> list[str]:
    """Token ids as the tokenizer's token strings (Ġ marks a leading space in byte-level BPE)."""
    return model.tokenizer.convert_ids_to_tokens([int(i) for i in ids])


def describe_stats(stats: NeuronStats) -> str:
    """A Markdown paragraph: tokens counted, what 'active' means here, support and the MI correction."""
    info = stats.info
    rule = ("post-ReLU value > 0 (its input > 0), the paper's rule" if info["relu"] else
            "the input of the FFN nonlinearity (for a gated MLP: the gate's pre-activation) > 0, i.e. the "
            "nonlinearity's output > 0: the paper's 'non-zero' carried over to a non-ReLU model (Methods: "
            "voita-active)")
    return (f"**Data:** {info['n_tokens']:,} tokens ({info['n_rows_used']} rows of {info['seq_len']} tokens, "
            f"BOS first) of `{info['corpus']}`, seed {info['seed']}; the paper used over 20M tokens for dead "
            f"neurons and 5M for the rest, so rare firings are missed here and more neurons look dead. "
            f"**Active:** {rule}. **Support:** a detector needs at least {MIN_SUPPORT} firings on the tokens it "
            f"covers. **I(act; pos)** is Miller-Madow corrected (the plug-in estimate is biased upwards by about "
            f"1/(2·rows) = {1 / (2 * info['n_rows_used']):.4f} nats here; the positional threshold is {MI_THRESHOLD}).")
