"""The induction case study (Stolfo et al. 2024 §6; book: Methods, stolfo-induction).

Synthetic repeats: BOS + n corpus tokens, then the same n tokens again (n = 99 in the paper: 199
positions). On the repeat, induction heads make the model confident; entropy neurons hedge.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformer_lens.model_bridge import TransformerBridge

from helpers import provenance
from helpers.ablation import CleanRun, ablate, clean_run, token_metrics
from helpers.cache import cache_key, results_root
from helpers.corpus import newline_token_ids
from helpers.errors import ParameterError
from helpers.io import atomic_path
from helpers.models import special_tokens, weights_fingerprint
from helpers.weights import check_neurons, effective_w_out, post_norm_gain


def repeated_sequences(rows: torch.Tensor, *, n: int, n_seqs: int, seed: int = 42) -> torch.Tensor:
    """[n_seqs, 2n + 1]: for ``n_seqs`` rows drawn with ``seed``, BOS + row[1 : n + 1] + row[1 : n + 1]."""
    if not 1 <= n < rows.shape[1]:
        raise ParameterError(f"n must be between 1 and {rows.shape[1] - 1} (the rows' length - 1), got {n}")
    if not 1 <= n_seqs <= len(rows):
        raise ParameterError(f"n_seqs must be between 1 and the {len(rows)} rows available, got {n_seqs}")
    picked = rows[np.sort(np.random.default_rng(seed).choice(len(rows), n_seqs, replace=False))]
    return torch.cat([picked[:, : n + 1], picked[:, 1: n + 1]], dim=1)


def all_but_last(seqs: torch.Tensor) -> torch.Tensor:
    """The evaluated positions of a repeated sequence: every one that has a next token."""
    keep = torch.ones_like(seqs, dtype=torch.bool)
    keep[:, -1] = False
    return keep


def per_position(model: TransformerBridge, seqs: torch.Tensor, neurons: list[int], *, batch_size: int = 16,
                 progress: bool = True) -> pd.DataFrame:
    """Fig 5a: per position, the mean over sequences of the next-token loss, the entropy, and the
    activation of each final-layer neuron in ``neurons`` (columns ``act_<neuron>``); from the cached
    :func:`repeat_pass` of ``seqs``."""
    neurons = check_neurons(model, neurons, model.cfg.n_layers - 1)
    return repeat_pass(model, seqs, neurons=neurons, batch_size=batch_size, progress=progress).per_position(neurons)


# ------------------------------------------------------------------------------------------------
# One clean pass over the repeated sequences, cached and shared by the induction pages
# ------------------------------------------------------------------------------------------------


@dataclass
class RepeatPass:
    """What one clean forward pass over repeated sequences ``seqs`` [S, L] leaves (:func:`repeat_pass`).

    Always: per-(sequence, position) next-token loss and entropy, the mean over sequences of every
    final-layer neuron's activation at each position, and the activations of the neurons asked for.
    When they fit the pass's memory budget, also every neuron's activation, the final residual and
    (sandwich norms) the MLP output at every token: what :meth:`clean_run` needs.
    """

    seqs: torch.Tensor  # [S, L]
    layer: int
    loss: torch.Tensor  # [S, L - 1] float64
    entropy: torch.Tensor  # [S, L - 1] float64
    act_mean: torch.Tensor  # [L, d_mlp] float64: mean over sequences
    neuron_acts: dict[int, torch.Tensor]  # neuron -> [S, L] float32
    window_means: torch.Tensor  # [2, S, d_mlp] float64: each sequence's mean activation over the first / second window
    acts: torch.Tensor | None  # [S, L, d_mlp] float32, or None (over budget)
    resid: torch.Tensor | None  # [S, L, d_model] float32 (final residual), or None
    mlp_out: torch.Tensor | None  # [S, L, d_model] float32 (sandwich norms only), or None

    def activations(self, neuron: int) -> torch.Tensor:
        """[S, L] activations of a final-layer neuron."""
        if neuron in self.neuron_acts:
            return self.neuron_acts[neuron]
        if self.acts is None:
            raise ParameterError(f"neuron {neuron} was not asked for and the pass kept no per-token activations; "
                                 f"pass neurons=[..., {neuron}] to repeat_pass")
        return self.acts[..., neuron]

    def per_position(self, neurons: list[int]) -> pd.DataFrame:
        """Fig 5a, as :func:`per_position`: per position, the mean loss, entropy and ``act_<neuron>``."""
        frame = pd.DataFrame({"loss": self.loss.mean(0).numpy(), "entropy": self.entropy.mean(0).numpy()})
        for n in neurons:
            frame[f"act_{n}"] = self.act_mean[:-1, n].numpy()
        frame.insert(0, "pos", np.arange(len(frame)))
        return frame

    def d_syn(self) -> torch.Tensor:
        """Per neuron: mean activation over the second copy minus over BOS and the first copy (the
        windows of :func:`copy_windows`; the synthetic difference of Fig 11), [d_mlp] float64."""
        return (self.window_means[1] - self.window_means[0]).mean(0)

    def clean_run(self, n_seqs: int | None = None) -> CleanRun:
        """The :func:`helpers.ablation.clean_run` of every position with a next token (keep =
        :func:`all_but_last`) of the first ``n_seqs`` sequences (default: all)."""
        if self.acts is None or self.resid is None:
            raise ParameterError("this repeat pass kept no per-token tensors (over its memory budget); "
                                 "run helpers.ablation.clean_run instead, or raise max_gb")
        positions = all_but_last(self.seqs[:n_seqs]).nonzero()
        r, p = positions[:, 0], positions[:, 1]
        return CleanRun(layer=self.layer, rows=self.seqs[:n_seqs], positions=positions, targets=self.seqs[r, p + 1],
                        resid=self.resid[r, p], acts=self.acts[r, p],
                        mlp_out=None if self.mlp_out is None else self.mlp_out[r, p],
                        mean_acts=self.act_mean.mean(0).float(), n_mean_tokens=self.seqs.numel())


LOGITS_BYTES = 2**30  # memory for one batch of logits in the repeat pass
_REPEAT_FIELDS = ("loss", "entropy", "act_mean", "window_means", "acts", "resid", "mlp_out")


def repeat_pass(model: TransformerBridge, seqs: torch.Tensor, *, neurons: Sequence[int] = (), max_gb: float = 0.5,
                batch_size: int = 16, cache: bool = True, progress: bool = True) -> RepeatPass:
    """One clean forward pass over ``seqs``, kept on disk under the results directory, keyed by the
    model, its weights (all layers) and the sequences themselves, so that every induction page reads
    it instead of running the model again. The per-token tensors of every neuron are kept when they
    take at most ``max_gb`` (64 sequences of 199 tokens: about 0.1 GB for Gemma-3-270M); otherwise
    only per-position means and the activations of ``neurons``."""
    layer = model.cfg.n_layers - 1
    neurons = check_neurons(model, list(neurons), layer) if len(neurons) else []
    sandwich = post_norm_gain(model, layer) is not None
    n_seqs, length = seqs.shape
    per_token = n_seqs * length * (model.cfg.d_mlp + model.cfg.d_model * (2 if sandwich else 1)) * 4
    keep_all = per_token <= max_gb * 2**30
    parts = {"model": model.cfg.repro_spec.name, "weights": weights_fingerprint(model, full=True),
             "dtype": str(model.cfg.dtype), "seqs": hashlib.sha256(seqs.long().cpu().numpy().tobytes()).hexdigest()[:16],
             "shape": list(seqs.shape), "all": keep_all, "neurons": [] if keep_all else neurons}
    path = results_root() / f"repeat-pass-{cache_key(parts, __name__)}.npz"
    cached = cache and path.exists()
    provenance.note("tables", name="repeat-pass", key=parts, cached=cached)
    if cached:
        with np.load(path) as data:
            stored = {k: torch.from_numpy(data[k]) for k in data.files}
    else:
        stored = _run_repeat_pass(model, seqs, layer, neurons, keep_all, sandwich, batch_size, progress)
        if cache:
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **{k: v.numpy() for k, v in stored.items()})
    acts = stored.get("acts")
    neuron_acts = {n: (acts[..., n] if acts is not None else stored[f"act_{n}"]) for n in neurons}
    return RepeatPass(seqs=seqs, layer=layer, neuron_acts=neuron_acts,
                      **{k: stored.get(k) for k in _REPEAT_FIELDS})


def _run_repeat_pass(model: TransformerBridge, seqs: torch.Tensor, layer: int, neurons: list[int], keep_all: bool,
                     sandwich: bool, batch_size: int, progress: bool) -> dict[str, torch.Tensor]:
    names = {"acts": f"blocks.{layer}.mlp.hook_post"}
    if keep_all:
        names["resid"] = f"blocks.{layer}.hook_resid_post"
        if sandwich:
            names["mlp_out"] = f"blocks.{layer}.mlp.hook_out"
    parts: dict[str, list[torch.Tensor]] = {}
    act_sum = torch.zeros(seqs.shape[1], model.cfg.d_mlp, dtype=torch.float64)
    first, second, _ = copy_windows(seqs.shape[1])
    # the logits of a batch take batch · L · vocab floats: at most LOGITS_BYTES (Gemma's 262k vocabulary: 5 sequences)
    batch_size = max(1, min(batch_size, LOGITS_BYTES // (seqs.shape[1] * model.cfg.d_vocab * 4)))
    for start in tqdm(range(0, len(seqs), batch_size), desc="repeated sequences", disable=not progress, leave=False):
        batch = seqs[start:start + batch_size].to(model.cfg.device)
        with torch.no_grad():
            logits, cache = model.run_with_cache(batch, names_filter=list(names.values()))
        # one sequence at a time: float64 metrics over a 262k vocabulary are 0.4 GB per sequence
        per_seq = [token_metrics(logits[i, :-1].cpu(), batch[i, 1:].cpu()) for i in range(len(batch))]
        metrics = {key: torch.stack([m[key] for m in per_seq]) for key in ("loss", "entropy")}
        del logits
        acts = cache[names["acts"]].cpu()
        act_sum += acts.double().sum(0)
        found = {"loss": metrics["loss"], "entropy": metrics["entropy"],
                 "window_means": torch.stack([acts[:, first].double().mean(1), acts[:, second].double().mean(1)])}
        if keep_all:
            found.update({key: cache[hook].float().cpu() for key, hook in names.items()})
        else:
            found.update({f"act_{n}": acts[..., n].float() for n in neurons})
        for key, value in found.items():
            parts.setdefault(key, []).append(value)
    out = {key: torch.cat(values, dim=1 if key == "window_means" else 0) for key, values in parts.items()}
    out["act_mean"] = act_sum / len(seqs)
    return out


def induction_scores_from_patterns(patterns: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Mean attention from each token of the second copy to the token after its first occurrence:
    the diagonal of ``patterns`` [batch, head, q, k] at offset −(seq_len − 1), averaged. [head]."""
    diagonal = patterns.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)  # [batch, head, seq_len + 1 - ...]
    return diagonal.mean(dim=(0, -1))


def induction_head_scores(model: TransformerBridge, *, n_seqs: int, seq_len: int = 100, seed: int = 42,
                          batch_size: int = 16, per_sequence: bool = False) -> pd.DataFrame | np.ndarray:
    """Induction score of every attention head on BOS + r + r, r uniform random tokens (the authors'
    ``induction_attn_detector``), sorted best first; the paper calls heads with score > 0.7
    induction heads. With ``per_sequence``, the scores of each sequence instead, [n_seqs, n_layers,
    n_heads] (for intervals over sequences; :func:`score_table` makes the table from them)."""
    st = special_tokens(model)
    generator = torch.Generator().manual_seed(seed)
    random = torch.randint(0, model.cfg.d_vocab, (n_seqs, seq_len), generator=generator)
    seqs = torch.cat([torch.full((n_seqs, 1), st.bos_id), random, random], dim=1)
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    scores = torch.zeros(n_seqs, model.cfg.n_layers, model.cfg.n_heads, dtype=torch.float64)
    for start in range(0, n_seqs, batch_size):
        with torch.no_grad():
            _, cache = model.run_with_cache(seqs[start:start + batch_size].to(model.cfg.device), names_filter=names,
                                            return_type=None)
        for layer, name in enumerate(names):
            pattern = cache[name].double().cpu()  # [batch, head, q, k]
            diagonal = pattern.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)  # [batch, head, ...]
            scores[start:start + len(pattern), layer] = diagonal.mean(-1)
    return scores.numpy() if per_sequence else score_table(scores.numpy())


def score_table(per_sequence: np.ndarray) -> pd.DataFrame:
    """Heads by mean induction score over sequences ([n_seqs, n_layers, n_heads]), best first."""
    mean = per_sequence.mean(0)
    frame = pd.DataFrame([(layer, head, float(mean[layer, head])) for layer in range(mean.shape[0])
                          for head in range(mean.shape[1])], columns=["layer", "head", "score"])
    frame["label"] = [f"L{layer}H{head}" for layer, head in zip(frame["layer"], frame["head"])]
    return frame.sort_values("score", ascending=False, ignore_index=True)


def bos_ablation_components(per_sequence: np.ndarray, model_name: str, *, seed: int = 42) -> dict[str, list[tuple[int, int]]]:
    """What Fig 5c BOS-ablates: the top-3 induction heads singly, the top two and three together,
    and baselines: the paper's baseline heads and sets for its models (``helpers.paper``), else up to
    three heads of the induction heads' layers with a score below 0.1 (drawn with ``seed``) and their set."""
    from helpers import paper

    scores = score_table(per_sequence)
    top = [(int(r.layer), int(r["head"])) for _, r in scores.head(3).iterrows()]
    components = {"Ind. head 1": top[:1], "Ind. head 2": top[1:2], "Ind. head 3": top[2:3],
                  "Ind. heads 1-2": top[:2], "Ind. heads 1-3": top[:3]}
    if model_name in paper.BOS_BASELINE_HEADS:
        for heads in paper.BOS_BASELINE_HEADS[model_name]:
            components["baseline " + "+".join(f"L{l}H{h}" for l, h in heads)] = heads
        return components
    rest = scores.iloc[len(top):]
    others = rest[(rest.score < 0.1) & rest.layer.isin([l for l, _ in top])]
    picked = np.random.default_rng(seed).choice(len(others), min(3, len(others)), replace=False)
    base = [(int(others.iloc[i].layer), int(others.iloc[i]["head"])) for i in picked]
    components.update({f"baseline L{l}H{h}": [(l, h)] for l, h in base})
    if len(base) >= 2:
        components["baseline set " + "+".join(f"L{l}H{h}" for l, h in base)] = base
    return components


def copy_windows(seq_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The authors' position windows on BOS + a + a (|a| = n, seq_len = 2n + 1), as boolean masks
    [seq_len] (``case_studies/induction.py``; n = 99, 199 positions, in the paper):

    - ``first``: pos ≤ n, BOS and the whole first copy (the authors' ``pos < 100``);
    - ``second``: pos > n, the whole second copy, its last token included (``pos >= 100``);
    - ``clip``: pos < n, BOS and the first copy without its last token (the authors'
      ``pos < max_pos / 2`` with max_pos = 2n = 198: ``pos < 99``).
    """
    if seq_len < 3 or seq_len % 2 == 0:
        raise ParameterError(f"repeated sequences have 2n + 1 positions (BOS + a + a), got {seq_len}")
    n = seq_len // 2
    pos = torch.arange(seq_len)
    return pos <= n, pos > n, pos < n


def clip_values(acts: torch.Tensor, norms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ā_i and d_i of the clip ablation from final-layer activations ``acts`` [n_seqs, 2n + 1, k] of
    k neurons at every position of every repeated sequence, and their output norms ``norms`` [k]:

        ā_i = mean of a_i over the ``clip`` window (pos < n) of all sequences
        d_i = (mean over ``second`` (pos > n) − mean over ``first`` (pos ≤ n)) · ‖w_i‖

    (windows of :func:`copy_windows`). Returns (ā [k], d [k]), float64."""
    first, second, clip = copy_windows(acts.shape[1])
    acts = acts.double()
    diff = acts[:, second].mean(dim=(0, 1)) - acts[:, first].mean(dim=(0, 1))
    return acts[:, clip].mean(dim=(0, 1)), diff * norms.double()


def clip_statistics(model: TransformerBridge, seqs: torch.Tensor, neurons: list[int], *, batch_size: int = 16,
                    progress: bool = True) -> pd.DataFrame:
    """ā_i and d_i (:func:`clip_values`) of final-layer ``neurons`` over all of ``seqs``, from the
    cached :func:`repeat_pass`: columns neuron, clip_value, sign."""
    layer = model.cfg.n_layers - 1
    neurons = check_neurons(model, neurons, layer)
    copy_windows(seqs.shape[1])  # validates the layout before running the model
    rp = repeat_pass(model, seqs, neurons=neurons, batch_size=batch_size, progress=progress)
    acts = torch.stack([rp.activations(n) for n in neurons], dim=-1)  # [S, L, k]
    norms = effective_w_out(model, layer)[neurons].norm(dim=-1).cpu()
    clip_mean, sign = clip_values(acts, norms)
    return pd.DataFrame({"neuron": neurons, "clip_value": clip_mean.numpy(), "sign": sign.numpy()})


def clip_ablation(model: TransformerBridge, seqs: torch.Tensor, neurons: list[int], *, n_ablate: int,
                  stats: pd.DataFrame | None = None, batch_size: int = 8, per_token: bool = False,
                  progress: bool = True) -> pd.DataFrame:
    """Fig 5b: clip mean-ablation of each final-layer neuron on repeated sequences (Methods: stolfo-clip-ablation).

    ā_i and d_i come from ALL of ``seqs`` (:func:`clip_statistics`; pass ``stats`` to reuse them),
    the ablation runs on the first ``n_ablate`` sequences, as the authors (means over all 1000
    sequences, ablation on k of them): if d_i > 0 the activation becomes min(a, ā_i), else
    max(a, ā_i), at every position. Exact and without re-running the model (closed form).
    Returns per (neuron, position) the mean over the ablated sequences of H_ablated / H_clean and
    L_ablated / L_clean, for the total effect and the final-norm-frozen direct effect, with d_i
    (``sign``) and ā_i (``clip_value``); with ``per_token``, one row per (neuron, sequence, position)
    with the clean and ablated loss and entropy instead.
    """
    layer = model.cfg.n_layers - 1
    neurons = check_neurons(model, neurons, layer)
    if not 1 <= n_ablate <= len(seqs):
        raise ParameterError(f"n_ablate must be between 1 and the {len(seqs)} sequences, got {n_ablate}")
    if stats is None:
        stats = clip_statistics(model, seqs, neurons, progress=progress)
    elif not set(neurons) <= set(stats.neuron):
        raise ParameterError(f"stats lack neurons {sorted(set(neurons) - set(stats.neuron))}: "
                             "compute them with clip_statistics(model, seqs, neurons)")
    by_neuron = stats.set_index("neuron").loc[neurons]
    clip_mean = torch.tensor(by_neuron.clip_value.to_numpy(), dtype=torch.float64)
    sign = torch.tensor(by_neuron.sign.to_numpy(), dtype=torch.float64)
    rp = repeat_pass(model, seqs, batch_size=batch_size, progress=progress)
    if rp.acts is not None:  # the cached pass kept its per-token tensors: no forward pass
        run = rp.clean_run(n_ablate)
    else:
        ablated = seqs[:n_ablate]
        run = clean_run(model, ablated, range(len(ablated)), batch_size=batch_size, keep=all_but_last(ablated),
                        progress=progress)
    pos = run.positions[:, 1]
    acts = run.acts[:, neurons].double()  # [M, n]
    clipped = torch.where(sign > 0, torch.minimum(acts, clip_mean), torch.maximum(acts, clip_mean))
    result = ablate(model, run, neurons, delta=(clipped - acts).T.float(), progress=progress)
    pt = result.per_token
    if per_token:
        return pd.concat([pd.DataFrame({
            "neuron": neuron, "seq": run.positions[:, 0].numpy(), "pos": pos.numpy(), "loss": pt["loss"],
            "entropy": pt["entropy"], "rr": pt["rr"], "dloss_te": pt["loss_te"][i] - pt["loss"],
            "dentropy_te": pt["entropy_te"][i] - pt["entropy"], "sign": float(sign[i])}) for i, neuron in enumerate(neurons)],
            ignore_index=True)
    rows = []
    for i, neuron in enumerate(neurons):
        frame = pd.DataFrame({"pos": pos.numpy(),
                              "entropy_ratio_te": pt["entropy_te"][i] / pt["entropy"],
                              "entropy_ratio_de": pt["entropy_de"][i] / pt["entropy"],
                              "loss_ratio_te": pt["loss_te"][i] / pt["loss"],
                              "loss_ratio_de": pt["loss_de"][i] / pt["loss"]})
        means = frame.groupby("pos").mean().reset_index()
        rows.append(means.assign(neuron=neuron, sign=float(sign[i]), clip_value=float(clip_mean[i])))
    return pd.concat(rows, ignore_index=True)


# ------------------------------------------------------------------------------------------------
# BOS ablation of attention heads (Methods: stolfo-bos-ablation; Fig 5c)
# ------------------------------------------------------------------------------------------------


def bos_ablation_naive(model: TransformerBridge, seqs: torch.Tensor, heads: list[tuple[int, int]], neuron: int,
                       positions: list[int] | None = None) -> torch.Tensor:
    """The paper's way, for tests and benchmarks: for every (sequence, position p), one full forward
    pass with each head's attention row at p forced onto BOS; returns the final-layer ``neuron``'s
    activation at p, [n_seqs, n_positions].

    Caveat: TransformerLens 4.3's OPT bridge ignores edits of ``hook_pattern`` (its attention output
    does not read the hooked pattern), so this reference is wrong for OPT models; the fast path,
    which replaces the head's output directly, is not affected.
    """
    layer_out = model.cfg.n_layers - 1
    positions = list(range(1, seqs.shape[1])) if positions is None else positions
    out = torch.zeros(len(seqs), len(positions))
    for s in range(len(seqs)):
        for i, p in enumerate(positions):
            def force_bos(pattern, hook, p=p):
                layer = int(hook.name.split(".")[1])
                for (l, h) in heads:
                    if l == layer:
                        pattern[:, h, p, :] = 0
                        pattern[:, h, p, 0] = 1
                return pattern

            store: dict[str, torch.Tensor] = {}
            hooks: list[tuple[str, Callable[..., Any]]] = [
                (f"blocks.{l}.attn.hook_pattern", force_bos) for l in sorted({l for l, _ in heads})]
            hooks.append((f"blocks.{layer_out}.mlp.hook_post", lambda act, hook: store.update(a=act[0, p, neuron])))
            with torch.no_grad():
                model.run_with_hooks(seqs[s:s + 1, :p + 1].to(model.cfg.device), return_type=None, fwd_hooks=hooks)
            out[s, i] = store["a"].float().cpu()
    return out


def bos_ablation(model: TransformerBridge, seqs: torch.Tensor, heads: list[tuple[int, int]], neuron: int,
                 positions: list[int] | None = None, *, batch_size: int = 8, progress: bool = True) -> torch.Tensor:
    """Exact BOS ablation, fast: the same numbers as :func:`bos_ablation_naive`.

    Ablating at position p changes nothing before p, and what comes after p is not read. So one clean
    pass caches every layer's keys and values; then each position's token alone runs through the model
    against that cache, seeing only the keys before it, with each ablated head's output replaced by
    the head's value vector at BOS (what a one-hot attention row onto BOS yields): one token per
    position instead of a whole forward pass. All positions of a sequence go in as one row of new
    tokens after the cached sequence under a 4D mask (new token i sees the cached keys before its
    position, and itself), so the cache is shared, not copied. Layers before the earliest ablated head
    are not affected, so the new tokens start at that layer L0 from the clean pass's input to it (the
    layers before L0 are stepped over). Sequences go ``batch_size`` at a time. Returns [n_seqs, n_positions].
    """
    hf = model.original_model  # its submodules are the bridge's components, so the bridge's hooks fire
    cfg = model.cfg
    window = getattr(hf.config, "sliding_window", None)
    if window is not None and window <= seqs.shape[1]:
        # The new tokens follow the T cached ones, so the attention sees T + n_pos keys: with W <= T
        # the sliding-window layers drop the oldest, BOS first (at T == W: 2.3e-2 off on tiny Gemma 3).
        raise ParameterError(f"sequences of {seqs.shape[1]} tokens reach the model's sliding attention window "
                             f"({window}): the fast BOS ablation needs sequences shorter than the window. "
                             "Use shorter sequences, or bos_ablation_naive (one forward pass per position)")
    positions = list(range(1, seqs.shape[1])) if positions is None else positions
    pos = torch.tensor(positions)
    layers = sorted({l for l, _ in heads})
    first = layers[0]
    group = cfg.n_heads // (getattr(cfg, "n_key_value_heads", None) or cfg.n_heads)
    final = f"blocks.{cfg.n_layers - 1}.mlp.hook_post"
    device = next(hf.parameters()).device
    decoder_layers = _decoder_layers(hf, cfg.n_layers)
    result = torch.zeros(len(seqs), len(positions))
    for s in tqdm(range(0, len(seqs), batch_size), desc="BOS ablation", disable=not progress, leave=False):
        seq = seqs[s:s + batch_size].to(device)
        values: dict[int, torch.Tensor] = {}  # layer -> [batch, kv_head, d_head]: the values at BOS
        grab = [(f"blocks.{l}.attn.hook_v", lambda v, hook: values.update({int(hook.name.split(".")[1]): v[:, 0]}))
                for l in layers]
        stash: dict[str, torch.Tensor] = {}

        def keep_input(module, args, kwargs):  # the clean residual stream entering layer `first`
            stash["resid"] = (args[0] if args else kwargs["hidden_states"]).detach()

        handle = decoder_layers[first].register_forward_pre_hook(keep_input, with_kwargs=True)
        try:
            with torch.no_grad(), model.hooks(fwd_hooks=grab):
                clean = hf(input_ids=seq, use_cache=True).past_key_values
        finally:
            handle.remove()
        # All positions of a sequence go in as one row of new tokens after its cached clean
        # sequence; a 4D mask lets new token i (at position p_i) see cached keys 0..p_i-1 and itself.
        n_pos, t = len(positions), seq.shape[1]
        mask = torch.zeros(1, 1, n_pos, t + n_pos, dtype=torch.bool, device=device)
        mask[0, 0, :, :t] = torch.arange(t, device=device)[None] < pos.to(device)[:, None]
        mask[0, 0, :, t:] = torch.eye(n_pos, dtype=torch.bool, device=device)
        store: dict[str, torch.Tensor] = {}

        def bos_output(z, hook):  # z: [batch, n_pos, head, d_head]; a one-hot row onto BOS gives z_h = v_BOS
            layer = int(hook.name.split(".")[1])
            for (l, h) in heads:
                if l == layer:
                    z[:, :, h] = values[l][:, h // group][:, None]
            return z

        hooks = [(f"blocks.{l}.attn.hook_z", bos_output) for l in layers]
        hooks.append((final, lambda act, hook: store.update(a=act[:, :, neuron])))
        with torch.no_grad(), model.hooks(fwd_hooks=hooks), _start_at(decoder_layers, first, stash["resid"][:, pos.to(device)]):
            hf(input_ids=seq[:, pos], attention_mask=mask.expand(len(seq), -1, -1, -1),
               position_ids=pos.to(device)[None].expand(len(seq), -1), past_key_values=clean, use_cache=True)
        result[s:s + len(seq)] = store["a"].float().cpu()
    return result


def _decoder_layers(hf: torch.nn.Module, n_layers: int) -> torch.nn.ModuleList:
    """The Hugging Face model's list of decoder layers (``model.layers``, ``transformer.h``, ``model.decoder.layers``)."""
    for path in ("model.layers", "transformer.h", "model.decoder.layers", "model.language_model.layers"):
        module = hf
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return module
    raise NotImplementedError(f"cannot find the decoder layers of {type(hf).__name__}")


class _PassOn(torch.nn.Module):
    """A stand-in decoder layer that hands its input on untouched."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return hidden_states


@contextlib.contextmanager
def _start_at(decoder_layers: torch.nn.ModuleList, first: int, resid: torch.Tensor):
    """Within the block, layers before ``first`` are stand-ins that hand their input on, and layer
    ``first`` receives ``resid`` instead of its input: the forward pass starts at layer ``first``."""
    def replace(module, args, kwargs):
        if args:
            return (resid, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": resid}

    skipped = [decoder_layers[i] for i in range(first)]
    for i in range(first):
        decoder_layers[i] = _PassOn()
    handle = decoder_layers[first].register_forward_pre_hook(replace, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
        for i, layer in enumerate(skipped):
            decoder_layers[i] = layer


# ------------------------------------------------------------------------------------------------
# Natural induction (Fig 11)
# ------------------------------------------------------------------------------------------------


def banned_tokens(model: TransformerBridge) -> set[int]:
    """Tokens a natural-repeat n-gram may not contain: BOS, EOS, newlines (for every model, as the
    authors' ``get_banned_tokens_for_induction``), and every token whose text has the replacement
    character '\ufffd' (a partial UTF-8 sequence)."""
    st = special_tokens(model)
    tok = model.tokenizer
    texts = tok.batch_decode([[i] for i in range(len(tok))], clean_up_tokenization_spaces=False)
    return {st.bos_id, st.eos_id, *newline_token_ids(tok), *(i for i, t in enumerate(texts) if "\ufffd" in t)}


def natural_repeats(rows: torch.Tensor, banned: set[int], *, bos_id: int, n: int = 6, max_count: int = 2,
                    min_gap: int = 1) -> pd.DataFrame:
    """Repeated n-grams in corpus rows, chosen as the authors' ``get_natural_induction_data`` does.

    1. A row holding BOS (``bos_id``) more than once (a document break inside the row) is skipped.
    2. Candidates: the n-grams of the row (every start 0..T−n) with n distinct tokens, none in
       ``banned``, that occur more than once in the row.
    3. The row's n-gram is the candidate whose *first* occurrence starts earliest.
    4. The row is kept only if that n-gram occurs at most ``max_count`` times and at least
       ``min_gap`` tokens lie between its first two occurrences (second − (first + n) ≥ min_gap);
       otherwise the row is dropped: no other n-gram of the row is tried.

    (Occurrences of an n-gram of distinct tokens never overlap, so the gap is ≥ 0.) As in the
    authors' code, the second occurrence may end the row, so that no token B follows it.
    Returns one row per kept corpus row: row, first, second (start indices of the two occurrences).
    """
    found = []
    for r, row in enumerate(rows.tolist()):
        if row.count(bos_id) > 1:
            continue
        starts: dict[tuple[int, ...], list[int]] = {}
        for i in range(len(row) - n + 1):
            gram = tuple(row[i:i + n])
            if len(set(gram)) == n and not banned.intersection(gram):
                starts.setdefault(gram, []).append(i)
        repeated = [s for s in starts.values() if len(s) > 1]
        if not repeated:
            continue
        chosen = min(repeated, key=lambda s: s[0])  # the earliest first occurrence
        if len(chosen) <= max_count and chosen[1] - (chosen[0] + n) >= min_gap:
            found.append((r, chosen[0], chosen[1]))
    return pd.DataFrame(found, columns=["row", "first", "second"])


@dataclass
class ActivationChanges:
    """Fig 11's activation changes (:func:`activation_changes`): the per-neuron table and the
    per-unit parts it is made of, for intervals over sequences and repeats."""

    table: pd.DataFrame  # per neuron: d_syn, d_nat, norm, and both times ‖w_out‖
    syn: np.ndarray  # [S, d_mlp]: per synthetic sequence, second-copy mean − first-window mean
    nat_sums: np.ndarray  # [2, R, d_mlp]: per natural repeat, activation sums over the first / second window
    nat_counts: np.ndarray  # [2, R]: tokens in those windows
    norms: np.ndarray  # [d_mlp] ‖w_out‖ (effective: through a sandwich norm's gain)

    @property
    def n_natural(self) -> int:
        return int(self.nat_counts.shape[1])


def activation_changes(model: TransformerBridge, synthetic: torch.Tensor, rows: torch.Tensor,
                       repeats: pd.DataFrame | None = None, *, n: int = 6, batch_size: int = 8) -> ActivationChanges:
    """Per final-layer neuron (Stolfo et al. Fig 11), as the authors compute them:

    d_syn = mean activation on the second copy − on BOS and the first copy of the synthetic
    sequences (the windows of :func:`copy_windows`, the same as the clip ablation's sign; from the
    cached :func:`repeat_pass`);
    d_nat = mean over the tokens A0..A{n-1}, B at the second occurrence of each natural repeat of
    ``rows`` (``repeats``, default :func:`natural_repeats`) − the same window at the first
    occurrence, pooled over repeats (a second occurrence that ends its row contributes only the
    tokens it has)."""
    layer = model.cfg.n_layers - 1
    hook = f"blocks.{layer}.mlp.hook_post"
    rp = repeat_pass(model, synthetic, batch_size=batch_size, progress=False)
    syn = (rp.window_means[1] - rp.window_means[0]).numpy()  # [S, N]
    if repeats is None:
        repeats = natural_repeats(rows, banned_tokens(model), bos_id=special_tokens(model).bos_id, n=n)
    nat_sums = np.zeros((2, len(repeats), model.cfg.d_mlp))
    nat_counts = np.zeros((2, len(repeats)))
    for start in range(0, len(repeats), batch_size):
        part = repeats.iloc[start:start + batch_size]
        with torch.no_grad():
            _, cache = model.run_with_cache(rows[part.row.tolist()].to(model.cfg.device), names_filter=[hook],
                                            return_type=None)
        acts = cache[hook].double().cpu().numpy()
        for j, (_, rep) in enumerate(part.iterrows()):
            for w, key in enumerate(("first", "second")):
                window = acts[j, rep[key]:rep[key] + n + 1]  # A0..A{n-1}, B (cut at the row's end)
                nat_sums[w, start + j] = window.sum(0)
                nat_counts[w, start + j] = len(window)
    norms = effective_w_out(model, layer).norm(dim=-1).double().cpu().numpy()  # through Gemma's post-norm gain too
    d_syn = syn.mean(0)
    d_nat = nat_difference(nat_sums, nat_counts)
    table = pd.DataFrame({"neuron": np.arange(model.cfg.d_mlp), "label": [f"{layer}.{i}" for i in range(model.cfg.d_mlp)],
                          "d_syn": d_syn, "d_nat": d_nat, "norm": norms,
                          "d_syn_weighted": d_syn * norms, "d_nat_weighted": d_nat * norms})
    table.attrs["n_natural"] = len(repeats)
    return ActivationChanges(table, syn, nat_sums, nat_counts, norms)


def nat_difference(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """d_nat from per-repeat window sums [2, R, N] and counts [2, R]: pooled second − pooled first."""
    return sums[1].sum(0) / max(counts[1].sum(), 1) - sums[0].sum(0) / max(counts[0].sum(), 1)


def activation_differences(model: TransformerBridge, synthetic: torch.Tensor, rows: torch.Tensor,
                           repeats: pd.DataFrame, *, n: int = 6, batch_size: int = 8) -> pd.DataFrame:
    """The per-neuron table of :func:`activation_changes`."""
    return activation_changes(model, synthetic, rows, repeats, n=n, batch_size=batch_size).table
