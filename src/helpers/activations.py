"""Streaming counts of when FFN neurons fire (Voita et al. 2023), without storing activations.

A neuron is *active* at a position when the input of its FFN nonlinearity (``blocks.L.mlp.hook_pre``:
the gate pre-activation of a gated SwiGLU/GeGLU MLP, the first projection's output otherwise)
exceeds ``threshold``, 0 by default (:data:`ACTIVE_RULE`). For ReLU models (OPT, the paper's family)
pre > 0 is exactly post-ReLU > 0, the paper's definition; for SiLU/GELU (gates) it is the same
event, "the nonlinearity's output is positive", and, unlike any absolute threshold on the
post-activation, it is a property of the function: rescaling a gated neuron's up-projection by c
and its down-projection by 1/c leaves the model unchanged and the gate, hence the firings, too.

Per layer the counts are sums over the rows seen, so counts of two chunks of rows add up to the
counts of all rows (:meth:`ActivationCounts.__add__`); that is what makes the pass resumable.
Memory does not grow with the number of tokens: the largest table is [tokens in the vocabulary
subset, d_mlp] per layer, and layers are processed in groups that fit ``max_memory_gb``.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformer_lens.model_bridge import TransformerBridge

from helpers.errors import ParameterError
from helpers.io import atomic_path, discard

RELU_NAMES = ("relu",)
ACTIVE_HOOK = "hook_pre"  # the input of the FFN nonlinearity (for gated MLPs: of the gate's)
ACTIVE_RULE = "mlp.hook_pre > threshold"  # part of every cache key of counts made with this definition


def is_relu(model: TransformerBridge) -> bool:
    """Whether the FFN activation is ReLU (so ``post > 0`` is the paper's "active")."""
    return str(getattr(model.cfg, "act_fn", "")).lower() in RELU_NAMES


def default_threshold(model: TransformerBridge) -> float:
    """0 for every model: active = the nonlinearity's input > 0, i.e. its output (ReLU, SiLU or GELU
    of it) > 0 -- Voita's "non-zero" for ReLU, the same event for SiLU/GELU gates. (An absolute
    threshold on the post-activation of a gated MLP is not a property of the function: scaling the
    up-projection by c and the down-projection by 1/c moves every post-activation across it.)"""
    return 0.0


@dataclass
class ActivationCounts:
    """How often each neuron fired, summed over rows of tokens.

    Shapes: L = len(layers), N = d_mlp, T = row length, V = len(vocab).
    Positions ``t >= 1`` whose token is not ``bos_id`` count in the per-token tables (the paper
    excludes BOS); ``active`` and ``pos_active`` count every position, BOS included.
    """

    layers: np.ndarray       # [L] layer indices
    threshold: float
    bos_id: int
    vocab: np.ndarray        # [V] token ids that have a column in token_active
    n_rows: np.ndarray       # [] rows counted
    active: np.ndarray       # [L, N] int64: positions where the neuron was active
    pos_active: np.ndarray   # [L, T, N] int32: ... at each position
    token_occ: np.ndarray    # [V] int64: occurrences of each vocab token (t >= 1, not BOS)
    token_active: np.ndarray  # [L, V, N] int32: ... of those where the neuron was active

    @property
    def seq_len(self) -> int:
        return int(self.pos_active.shape[1])

    @property
    def n_positions(self) -> int:
        """Positions counted per neuron in ``active`` (every position of every row)."""
        return int(self.n_rows) * self.seq_len

    def __add__(self, other: "ActivationCounts") -> "ActivationCounts":
        for name in ("layers", "vocab"):
            if not np.array_equal(getattr(self, name), getattr(other, name)):
                raise ValueError(f"cannot add counts with different {name}")
        if (self.threshold, self.bos_id, self.seq_len) != (other.threshold, other.bos_id, other.seq_len):
            raise ValueError("cannot add counts with a different threshold, BOS id or row length")
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in fields(self) if f.name in _SUMMED}
        return ActivationCounts(layers=self.layers, threshold=self.threshold, bos_id=self.bos_id,
                                vocab=self.vocab, **summed)

    def select_layers(self, layers: Sequence[int]) -> "ActivationCounts":
        idx = [int(np.flatnonzero(self.layers == layer)[0]) for layer in layers]
        return ActivationCounts(layers=self.layers[idx], threshold=self.threshold, bos_id=self.bos_id,
                                vocab=self.vocab, n_rows=self.n_rows, active=self.active[idx],
                                pos_active=self.pos_active[idx], token_occ=self.token_occ,
                                token_active=self.token_active[idx])

    def save(self, path: str | Path) -> None:
        """Write all arrays to one ``.npz``, atomically."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                # dict[str, Any]: with ndarray values mypy objects that a key could be savez's allow_pickle (a bool)
                arrays: dict[str, Any] = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
                np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "ActivationCounts":
        with np.load(path) as data:
            values = {f.name: data[f.name] for f in fields(cls)}
        values["threshold"] = float(values["threshold"])
        values["bos_id"] = int(values["bos_id"])
        return cls(**values)

    @classmethod
    def load_checkpoint(cls, path: str | Path) -> "ActivationCounts | None":
        """The counts :meth:`save` wrote to ``path``; ``None`` if there are none, or if the file is
        corrupt (its CRC-32 or its shapes fail: it is removed with one warning line, and the caller
        counts again)."""
        path = Path(path)
        if not path.exists():
            return None
        try:
            counts = cls.load(path)
            L, N = counts.active.shape
            V = len(counts.vocab)
            if (counts.layers.shape != (L,) or counts.pos_active.shape[::2] != (L, N) or counts.token_occ.shape != (V,)
                    or counts.token_active.shape != (L, V, N) or counts.n_rows.shape != ()):
                raise ValueError("inconsistent array shapes")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            discard(path, str(exc) or type(exc).__name__, "activation-count checkpoint")
            return None
        return counts

    @staticmethod
    def concat_layers(parts: Sequence["ActivationCounts"]) -> "ActivationCounts":
        """Join counts of disjoint layer groups made over the same rows."""
        first = parts[0]
        if any(int(p.n_rows) != int(first.n_rows) for p in parts):
            raise ValueError("layer groups were counted over different rows")
        cat = {name: np.concatenate([getattr(p, name) for p in parts])
               for name in ("layers", "active", "pos_active", "token_active")}
        return ActivationCounts(threshold=first.threshold, bos_id=first.bos_id, vocab=first.vocab,
                                n_rows=first.n_rows, token_occ=first.token_occ, **cat)


_SUMMED = ("n_rows", "active", "pos_active", "token_occ", "token_active")


class _StopForward(Exception):
    """Raised by the last hook of a layer group: the rest of the model is not needed."""


def vocab_of(rows: torch.Tensor, bos_id: int) -> np.ndarray:
    """Sorted distinct token ids of ``rows`` at positions >= 1, BOS excluded."""
    ids = np.unique(rows[:, 1:].cpu().numpy())
    return ids[ids != bos_id]


def _starting_state(model: TransformerBridge, rows: torch.Tensor, layers: Sequence[int] | np.ndarray | None,
                    threshold: float | None, bos_id: int, vocab: np.ndarray | None,
                    state: ActivationCounts | None) -> ActivationCounts:
    """The counts a pass starts from: ``state`` (checked to match the pass) or empty counts."""
    n_layers = model.cfg.n_layers
    layers = np.arange(n_layers) if layers is None else np.asarray(sorted(set(int(l) for l in layers)))
    if len(layers) == 0 or layers[0] < 0 or layers[-1] >= n_layers:
        raise ParameterError(f"layers must be within 0..{n_layers - 1}, got {layers.tolist()}")
    threshold = default_threshold(model) if threshold is None else float(threshold)
    vocab = vocab_of(rows, bos_id) if vocab is None else np.asarray(vocab)
    if state is None:
        return _empty(layers, threshold, bos_id, vocab, rows.shape[1], model.cfg.d_mlp)
    if not (np.array_equal(state.layers, layers) and np.array_equal(state.vocab, vocab)
            and state.threshold == threshold and state.seq_len == rows.shape[1]):
        raise ValueError("state was counted with other layers, vocabulary, threshold or row length")
    if state.n_rows > len(rows):
        raise ValueError(f"state has counted {state.n_rows} rows but only {len(rows)} were given")
    return state


def count_activations(
    model: TransformerBridge,
    rows: torch.Tensor,
    *,
    layers: Sequence[int] | np.ndarray | None = None,
    threshold: float | None = None,
    bos_id: int,
    vocab: np.ndarray | None = None,
    batch_size: int = 8,
    progress: bool = True,
    state: ActivationCounts | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every_s: float = 300.0,
    fired_dir: str | Path | None = None,
) -> ActivationCounts:
    """Count activations of ``layers`` (default: all) over ``rows`` [n_rows, T], one forward pass.

    active[l, n] = #{(r, t): pre_l[r, t, n] > threshold} (pre: the nonlinearity's input, :data:`ACTIVE_HOOK`);
    pos_active[l, t, n] the same at position t;
    token_active[l, v, n] = #{(r, t): t >= 1, rows[r, t] = vocab[v] != BOS, pre > threshold}.

    ``state`` continues a pass: it must hold the counts of ``rows[:state.n_rows]``, and only the
    remaining rows are run. With ``checkpoint`` the running counts are saved there (atomically)
    every ``checkpoint_every_s`` seconds, so an interrupted pass resumes from the last save.

    With ``fired_dir``, each layer's firings are also kept, packed 8 neurons to a byte, in
    ``fired_dir/layer-<l>.npy`` ([n_rows, T, ceil(d_mlp / 8)] uint8, :func:`pack_fired`), written
    row by row as the pass goes (so a resumed pass continues them); the n-gram counts are then read
    from these bits (:func:`ngram_counts_from_bits`) instead of running the model again.
    """
    state = _starting_state(model, rows, layers, threshold, bos_id, vocab, state)
    layers, threshold, vocab = np.asarray(state.layers), float(state.threshold), np.asarray(state.vocab)
    n_rows, seq_len = rows.shape
    device = model.cfg.device
    d_mlp = model.cfg.d_mlp
    start = int(state.n_rows)

    # Accumulators live on the model's device; the vocabulary lookup maps token id -> column.
    lookup = torch.full((model.cfg.d_vocab,), -1, dtype=torch.long, device=device)
    lookup[torch.as_tensor(vocab, device=device)] = torch.arange(len(vocab), device=device)
    acc = {name: torch.as_tensor(getattr(state, name), device=device)
           for name in ("active", "pos_active", "token_occ", "token_active")}
    slot = {int(layer): i for i, layer in enumerate(layers)}
    current: dict[str, torch.Tensor] = {}
    bits = _fired_files(fired_dir, layers, n_rows, seq_len, d_mlp, start) if fired_dir is not None else None

    def hook(pre: torch.Tensor, hook) -> None:  # pre: [batch, pos, d_mlp]
        i = slot[int(hook.name.split(".")[1])]
        fired = pre > threshold
        if bits is not None:
            bits[i][current["lo"]: current["lo"] + len(fired)] = pack_fired(fired).cpu().numpy()
        acc["active"][i] += fired.sum((0, 1))
        acc["pos_active"][i] += fired.sum(0, dtype=torch.int32)
        acc["token_active"][i].index_add_(0, current["cols"], fired[current["keep"]].to(torch.int32))
        if i == len(layers) - 1:
            raise _StopForward

    hooks = [(f"blocks.{layer}.mlp.{ACTIVE_HOOK}", hook) for layer in layers]
    last_save = time.monotonic()
    bar = tqdm(total=n_rows, initial=start, desc=f"activation counts, layers {layers[0]}-{layers[-1]}",
               unit="row", disable=not progress)
    done = start
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        for lo in range(start, n_rows, batch_size):
            batch = rows[lo: lo + batch_size].to(device)
            keep = torch.zeros_like(batch, dtype=torch.bool)
            keep[:, 1:] = batch[:, 1:] != bos_id
            current["keep"] = keep
            current["lo"] = lo
            current["cols"] = lookup[batch[keep]]
            if (current["cols"] < 0).any():
                raise ValueError("rows contain tokens outside `vocab`")
            acc["token_occ"].index_add_(0, current["cols"], torch.ones_like(current["cols"]))
            try:
                model(batch, return_type=None)
            except _StopForward:
                pass
            done = lo + len(batch)
            bar.update(len(batch))
            if checkpoint is not None and time.monotonic() - last_save > checkpoint_every_s:
                if bits is not None:
                    for b in bits:
                        b.flush()  # the bits of the rows the checkpoint counts are on disk first
                _snapshot(state, acc, done).save(checkpoint)
                last_save = time.monotonic()
    bar.close()
    if bits is not None:
        for b in bits:
            b.flush()
        assert fired_dir is not None  # bits are kept only in a fired_dir
        for layer in layers:
            (Path(fired_dir) / f"layer-{layer}.complete").touch()
    return _snapshot(state, acc, done)


_BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)  # np.packbits's order: the first neuron is the high bit


def pack_fired(fired: torch.Tensor) -> torch.Tensor:
    """[..., d_mlp] bool -> [..., ceil(d_mlp / 8)] uint8, 8 neurons a byte as ``np.packbits`` packs them
    (on the model's device, so only an eighth of it travels to the CPU)."""
    extra = -fired.shape[-1] % 8
    if extra:
        fired = torch.nn.functional.pad(fired, (0, extra))
    grouped = fired.reshape(*fired.shape[:-1], -1, 8).to(torch.uint8)
    weights = torch.tensor(_BIT_WEIGHTS, dtype=torch.uint8, device=fired.device)
    return (grouped * weights).sum(-1, dtype=torch.uint8)


def _fired_files(fired_dir: str | Path, layers: np.ndarray, n_rows: int, seq_len: int, d_mlp: int,
                 start: int) -> list[np.memmap] | None:
    """One writable memory map per layer; None when a resumed pass has no bits for its first rows."""
    fired_dir = Path(fired_dir)
    fired_dir.mkdir(parents=True, exist_ok=True)
    shape = (n_rows, seq_len, -(-d_mlp // 8))
    maps = []
    for layer in layers:
        path = fired_dir / f"layer-{layer}.npy"
        (fired_dir / f"layer-{layer}.complete").unlink(missing_ok=True)
        if start > 0:
            try:
                existing = np.load(path, mmap_mode="r+")
            except (OSError, ValueError):
                return None
            if existing.shape != shape:
                return None
            maps.append(existing)
        else:
            maps.append(np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape))
    return maps


def fired_bits(fired_dir: str | Path, layer: int) -> np.ndarray | None:
    """The packed firings of ``layer`` written by a completed :func:`count_activations` pass
    (read-only memory map), or None."""
    fired_dir = Path(fired_dir)
    if not (fired_dir / f"layer-{layer}.complete").exists():
        return None
    return np.load(fired_dir / f"layer-{layer}.npy", mmap_mode="r")


def _empty(layers: np.ndarray, threshold: float, bos_id: int, vocab: np.ndarray, seq_len: int,
           d_mlp: int) -> ActivationCounts:
    n = len(layers)
    return ActivationCounts(
        layers=layers, threshold=threshold, bos_id=bos_id, vocab=vocab, n_rows=np.asarray(0),
        active=np.zeros((n, d_mlp), np.int64), pos_active=np.zeros((n, seq_len, d_mlp), np.int32),
        token_occ=np.zeros(len(vocab), np.int64), token_active=np.zeros((n, len(vocab), d_mlp), np.int32))


def _snapshot(state: ActivationCounts, acc: dict[str, torch.Tensor], n_rows: int) -> ActivationCounts:
    return ActivationCounts(layers=state.layers, threshold=state.threshold, bos_id=state.bos_id,
                            vocab=state.vocab, n_rows=np.asarray(n_rows),
                            **{name: t.cpu().numpy().copy() for name, t in acc.items()})


def layer_groups(n_layers: int, bytes_per_layer: int, max_memory_gb: float) -> list[list[int]]:
    """Split 0..n_layers-1 into consecutive groups whose counts fit ``max_memory_gb``."""
    per_group = max(1, int(max_memory_gb * 2**30 // max(bytes_per_layer, 1)))
    return [list(range(lo, min(lo + per_group, n_layers))) for lo in range(0, n_layers, per_group)]


def bytes_per_layer(d_mlp: int, seq_len: int, n_vocab: int) -> int:
    """Memory of one layer's counts: active (int64), pos_active and token_active (int32)."""
    return d_mlp * (8 + 4 * seq_len + 4 * n_vocab)


@dataclass
class NgramCounts:
    """Per-neuron counts of the n-grams that end where the neuron fired, for chosen neurons.

    n-grams end at the positions of the per-token counts (t >= 1, token not BOS); see :func:`ngram_ids`.
    Sparse: ``grams`` [G] (sorted) occur ``gram_counts`` [G] times; neuron column ``pair_col[i]`` fired
    ``pair_count[i]`` times on n-gram ``pair_gram[i]`` (sorted by column, then n-gram; pairs with a
    count of 0 are left out).
    """

    n: int
    neurons: list[tuple[int, int]]  # (layer, neuron) per column
    grams: np.ndarray
    gram_counts: np.ndarray
    pair_col: np.ndarray
    pair_gram: np.ndarray
    pair_count: np.ndarray

    @property
    def occurrences(self) -> dict[int, int]:
        """n-gram -> occurrences in the rows."""
        return dict(zip(self.grams.tolist(), self.gram_counts.tolist()))

    @property
    def pairs(self) -> dict[tuple[int, int], int]:
        """(neuron column, n-gram) -> active count."""
        return {(c, g): k for c, g, k in zip(self.pair_col.tolist(), self.pair_gram.tolist(), self.pair_count.tolist())}

    def column(self, col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n-grams, active counts, occurrences) of neuron column ``col``."""
        lo, hi = np.searchsorted(self.pair_col, [col, col + 1])
        grams = self.pair_gram[lo:hi]
        return grams, self.pair_count[lo:hi], self.gram_counts[np.searchsorted(self.grams, grams)]


def _group_counts(grams: np.ndarray, cols: np.ndarray, events: np.ndarray, n_cols: int,
                  n: int, neurons: list[tuple[int, int]]) -> NgramCounts:
    """NgramCounts from the n-gram id of every counted position (``grams``) and the (column, n-gram
    id) of every firing there (``cols``, ``events``): one sort each (np.unique), no Python loops."""
    uniq, counts = np.unique(grams, return_counts=True)
    keys = cols.astype(np.int64) * len(uniq) + np.searchsorted(uniq, events)  # (column, n-gram index)
    pair_keys, pair_count = np.unique(keys, return_counts=True)
    pair_col, pair_idx = np.divmod(pair_keys, max(len(uniq), 1))
    return NgramCounts(n=n, neurons=neurons, grams=uniq, gram_counts=counts, pair_col=pair_col,
                       pair_gram=uniq[pair_idx] if len(uniq) else pair_idx, pair_count=pair_count)


def ngram_ids(rows: torch.Tensor, n: int, d_vocab: int, bos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Id of the n-gram ending at every position, [batch, T], and the mask of counted positions.

    The window (x_{t-n+1}, ..., x_t) is left-padded with BOS before position 0, so every position
    t >= 1 whose token is not BOS has an n-gram: exactly the positions of the per-token counts.
    id = sum_i x_{t-n+1+i} * d_vocab**(n-1-i).
    """
    if n < 1 or d_vocab ** n >= 2**63:
        raise ParameterError(f"n-gram order must be at least 1 and d_vocab**n fit in int64, got n={n}")
    rows = rows.long()
    ids = torch.zeros_like(rows)
    for shift in range(n - 1, -1, -1):  # token x_{t - shift}
        shifted = torch.full_like(rows, bos_id)
        shifted[:, shift:] = rows[:, : rows.shape[1] - shift]
        ids = ids * d_vocab + shifted
    valid = rows != bos_id
    valid[:, 0] = False
    return ids, valid


def count_ngrams(model: TransformerBridge, rows: torch.Tensor, neurons: Sequence[tuple[int, int]], *, n: int,
                 threshold: float, bos_id: int, batch_size: int = 8, progress: bool = True) -> NgramCounts:
    """For each (layer, neuron) in ``neurons``: how often each n-gram ending at the current token
    co-occurs with the neuron firing; plus how often each n-gram occurs. One forward pass that
    stops after the last layer needed (:func:`ngram_counts_from_bits` does the same from a pass's bits)."""
    neurons = [(int(l), int(m)) for l, m in neurons]
    by_layer: dict[int, list[int]] = {}
    for i, (layer, _) in enumerate(neurons):
        by_layer.setdefault(layer, []).append(i)
    last_layer = max(by_layer) if by_layer else -1
    device = model.cfg.device
    current: dict[str, torch.Tensor] = {}
    grams, cols, events = [], [], []

    def hook(pre: torch.Tensor, hook) -> None:
        layer = int(hook.name.split(".")[1])
        in_layer = by_layer[layer]
        idx = torch.tensor([neurons[i][1] for i in in_layer], device=pre.device)
        fired = (pre[..., idx] > threshold) & current["valid"][..., None]  # [batch, pos, k]
        b, t, k = torch.nonzero(fired, as_tuple=True)
        cols.append(torch.tensor(in_layer)[k.cpu()].numpy())
        events.append(current["ids"][b, t].cpu().numpy())
        if layer == last_layer:
            raise _StopForward

    hooks = [(f"blocks.{layer}.mlp.{ACTIVE_HOOK}", hook) for layer in sorted(by_layer)]
    bar = tqdm(total=len(rows), desc=f"{n}-gram counts of {len(neurons)} neurons", unit="row",
               disable=not progress)
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        for lo in range(0, len(rows), batch_size):
            batch = rows[lo: lo + batch_size].to(device)
            ids, valid = ngram_ids(batch, n, model.cfg.d_vocab, bos_id)
            current.update(ids=ids, valid=valid)
            grams.append(ids[valid].cpu().numpy())
            if hooks:
                try:
                    model(batch, return_type=None)
                except _StopForward:
                    pass
            bar.update(len(batch))
    bar.close()
    return _group_counts(_cat(grams), _cat(cols), _cat(events), len(neurons), n, neurons)


def ngram_counts_from_bits(bits: dict[int, np.ndarray], rows: torch.Tensor, neurons: Sequence[tuple[int, int]], *,
                           n: int, d_vocab: int, bos_id: int, row_chunk: int = 64) -> NgramCounts:
    """What :func:`count_ngrams` counts, read from the packed firings of a counting pass over the same
    ``rows`` (``bits[layer]``: [n_rows, T, ceil(d_mlp / 8)], see :func:`count_activations`), without the model."""
    neurons = [(int(l), int(m)) for l, m in neurons]
    ids, valid = ngram_ids(rows, n, d_vocab, bos_id)
    ids, valid = ids.numpy(), valid.numpy()
    cols, events = [], []
    by_layer: dict[int, list[int]] = {}
    for i, (layer, _) in enumerate(neurons):
        by_layer.setdefault(layer, []).append(i)
    for layer, in_layer in sorted(by_layer.items()):
        packed = bits[layer]
        if packed.shape[:2] != tuple(rows.shape):
            raise ValueError(f"the bits of layer {layer} are {packed.shape[:2]}, the rows {tuple(rows.shape)}")
        neuron = np.array([neurons[i][1] for i in in_layer])
        byte, shift = neuron // 8, 7 - neuron % 8
        for lo in range(0, len(rows), row_chunk):
            fired = (packed[lo:lo + row_chunk][..., byte] >> shift) & 1  # [rows, T, k]
            fired = fired.astype(bool) & valid[lo:lo + row_chunk, :, None]
            r, t, k = np.nonzero(fired)
            cols.append(np.asarray(in_layer)[k])
            events.append(ids[lo + r, t])
    return _group_counts(ids[valid], _cat(cols), _cat(events), len(neurons), n, neurons)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
