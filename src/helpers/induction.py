"""The induction case study (Stolfo et al. 2024 §5; PAPER_SPEC A4 items 15 and 17, A5).

Synthetic repeats: BOS + n corpus tokens, then the same n tokens again (n = 99 in the paper: 199
positions). On the repeat, induction heads make the model confident; entropy neurons hedge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformer_lens.model_bridge import TransformerBridge

from helpers.ablation import ablate, clean_run, token_metrics
from helpers.corpus import newline_token_ids
from helpers.errors import ParameterError
from helpers.models import special_tokens
from helpers.weights import check_neurons, effective_w_out


def repeated_sequences(rows: torch.Tensor, *, n: int = 99, n_seqs: int = 1000, seed: int = 42) -> torch.Tensor:
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
    activation of each final-layer neuron in ``neurons`` (columns ``act_<neuron>``)."""
    layer = model.cfg.n_layers - 1
    neurons = check_neurons(model, neurons, layer)
    hook = f"blocks.{layer}.mlp.hook_post"
    sums: dict[str, torch.Tensor] = {}
    for start in tqdm(range(0, len(seqs), batch_size), desc="repeated sequences", disable=not progress, leave=False):
        batch = seqs[start:start + batch_size].to(model.cfg.device)
        with torch.no_grad():
            logits, cache = model.run_with_cache(batch, names_filter=[hook])
        metrics = token_metrics(logits[:, :-1].cpu(), batch[:, 1:].cpu())
        parts = {"loss": metrics["loss"], "entropy": metrics["entropy"]}
        parts.update({f"act_{n}": cache[hook][:, :-1, n].double().cpu() for n in neurons})
        for key, value in parts.items():
            sums[key] = sums.get(key, 0) + value.sum(0)
    frame = pd.DataFrame({key: (value / len(seqs)).numpy() for key, value in sums.items()})
    frame.insert(0, "pos", np.arange(len(frame)))
    return frame


def induction_scores_from_patterns(patterns: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Mean attention from each token of the second copy to the token after its first occurrence:
    the diagonal of ``patterns`` [batch, head, q, k] at offset −(seq_len − 1), averaged. [head]."""
    diagonal = patterns.diagonal(offset=-(seq_len - 1), dim1=-2, dim2=-1)  # [batch, head, seq_len + 1 - ...]
    return diagonal.mean(dim=(0, -1))


def induction_head_scores(model: TransformerBridge, *, n_seqs: int = 64, seq_len: int = 100, seed: int = 42,
                          batch_size: int = 16) -> pd.DataFrame:
    """Induction score of every attention head on BOS + r + r, r uniform random tokens (PAPER_SPEC A4
    item 17), sorted best first; the paper calls heads with score > 0.7 induction heads."""
    st = special_tokens(model)
    generator = torch.Generator().manual_seed(seed)
    random = torch.randint(0, model.cfg.d_vocab, (n_seqs, seq_len), generator=generator)
    seqs = torch.cat([torch.full((n_seqs, 1), st.bos_id), random, random], dim=1)
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    totals = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.float64)
    for start in range(0, n_seqs, batch_size):
        with torch.no_grad():
            _, cache = model.run_with_cache(seqs[start:start + batch_size].to(model.cfg.device), names_filter=names)
        for layer, name in enumerate(names):
            batch = cache[name].double().cpu()
            totals[layer] += induction_scores_from_patterns(batch, seq_len) * len(batch)
    scores = totals / n_seqs
    frame = pd.DataFrame([(layer, head, float(scores[layer, head])) for layer in range(scores.shape[0])
                          for head in range(scores.shape[1])], columns=["layer", "head", "score"])
    frame["label"] = [f"L{layer}H{head}" for layer, head in zip(frame["layer"], frame["head"])]
    return frame.sort_values("score", ascending=False, ignore_index=True)


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
    """ā_i and d_i (:func:`clip_values`) of final-layer ``neurons`` over all of ``seqs`` (one forward
    pass): columns neuron, clip_value, sign."""
    layer = model.cfg.n_layers - 1
    neurons = check_neurons(model, neurons, layer)
    copy_windows(seqs.shape[1])  # validates the layout before running the model
    hook = f"blocks.{layer}.mlp.hook_post"
    parts = []
    for start in tqdm(range(0, len(seqs), batch_size), desc="clip means", disable=not progress, leave=False):
        with torch.no_grad():
            _, cache = model.run_with_cache(seqs[start:start + batch_size].to(model.cfg.device), names_filter=[hook])
        parts.append(cache[hook][..., neurons].double().cpu())
    norms = effective_w_out(model, layer)[neurons].norm(dim=-1).cpu()
    clip_mean, sign = clip_values(torch.cat(parts), norms)
    return pd.DataFrame({"neuron": neurons, "clip_value": clip_mean.numpy(), "sign": sign.numpy()})


def clip_ablation(model: TransformerBridge, seqs: torch.Tensor, neurons: list[int], *, n_ablate: int,
                  stats: pd.DataFrame | None = None, batch_size: int = 8, per_token: bool = False,
                  progress: bool = True) -> pd.DataFrame:
    """Fig 5b: clip mean-ablation of each final-layer neuron on repeated sequences (PAPER_SPEC A4 item 15).

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
# BOS ablation of attention heads (PAPER_SPEC A4 item 16; Fig 5c)
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

            store = {}
            hooks = [(f"blocks.{l}.attn.hook_pattern", force_bos) for l in sorted({l for l, _ in heads})]
            hooks.append((f"blocks.{layer_out}.mlp.hook_post", lambda act, hook: store.update(a=act[0, p, neuron])))
            with torch.no_grad():
                model.run_with_hooks(seqs[s:s + 1, :p + 1].to(model.cfg.device), return_type=None, fwd_hooks=hooks)
            out[s, i] = store["a"].float().cpu()
    return out


def bos_ablation(model: TransformerBridge, seqs: torch.Tensor, heads: list[tuple[int, int]], neuron: int,
                 positions: list[int] | None = None, *, progress: bool = True) -> torch.Tensor:
    """Exact BOS ablation, fast: the same numbers as :func:`bos_ablation_naive`.

    Ablating at position p changes nothing before p, and what comes after p is not read. So one clean
    pass caches every layer's keys and values; then each position's token alone runs through the model
    against that cache, seeing only the keys before it, with each ablated head's output replaced by
    the head's value vector at BOS (what a one-hot attention row onto BOS yields): one token per
    position instead of a whole forward pass. All positions of a sequence go in as one row of new
    tokens after the cached sequence under a 4D mask (new token i sees the cached keys before its
    position, and itself), so the cache is shared, not copied. Returns [n_seqs, n_positions].
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
    group = cfg.n_heads // (getattr(cfg, "n_key_value_heads", None) or cfg.n_heads)
    final = f"blocks.{cfg.n_layers - 1}.mlp.hook_post"
    device = next(hf.parameters()).device
    result = torch.zeros(len(seqs), len(positions))
    for s in tqdm(range(len(seqs)), desc="BOS ablation", disable=not progress, leave=False):
        seq = seqs[s:s + 1].to(device)
        values: dict[int, torch.Tensor] = {}
        grab = [(f"blocks.{l}.attn.hook_v", lambda v, hook: values.update({int(hook.name.split(".")[1]): v[0, 0]}))
                for l in layers]
        with torch.no_grad(), model.hooks(fwd_hooks=grab):
            clean = hf(input_ids=seq, use_cache=True).past_key_values
        # All positions of the sequence go in as one batch row of new tokens after the cached clean
        # sequence; a 4D mask lets new token i (at position p_i) see cached keys 0..p_i-1 and itself.
        n_pos, t = len(positions), seq.shape[1]
        mask = torch.zeros(1, 1, n_pos, t + n_pos, dtype=torch.bool, device=device)
        mask[0, 0, :, :t] = torch.arange(t, device=device)[None] < pos.to(device)[:, None]
        mask[0, 0, :, t:] = torch.eye(n_pos, dtype=torch.bool, device=device)
        store = {}

        def bos_output(z, hook):  # z: [1, n_pos, head, d_head]; a one-hot row onto BOS gives z_h = v_BOS
            layer = int(hook.name.split(".")[1])
            for (l, h) in heads:
                if l == layer:
                    z[:, :, h] = values[l][h // group]
            return z

        hooks = [(f"blocks.{l}.attn.hook_z", bos_output) for l in layers]
        hooks.append((final, lambda act, hook: store.update(a=act[0, :, neuron])))
        with torch.no_grad(), model.hooks(fwd_hooks=hooks):
            hf(input_ids=seq[:, pos], attention_mask=mask, position_ids=pos.to(device)[None],
               past_key_values=clean, use_cache=True)
        result[s] = store["a"].float().cpu()
    return result


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


def activation_differences(model: TransformerBridge, synthetic: torch.Tensor, rows: torch.Tensor,
                           repeats: pd.DataFrame, *, n: int = 6, batch_size: int = 8) -> pd.DataFrame:
    """Per final-layer neuron (PAPER_SPEC A7 Fig 11), as the authors compute them:

    d_syn = mean activation on the second copy − on BOS and the first copy of the synthetic
    sequences (the windows of :func:`copy_windows`, the same as the clip ablation's sign);
    d_nat = mean over the tokens A0..A{n-1}, B at the second occurrence of each natural repeat −
    the same window at the first occurrence, pooled over repeats (a second occurrence that ends
    its row contributes only the tokens it has)."""
    layer = model.cfg.n_layers - 1
    hook = f"blocks.{layer}.mlp.hook_post"
    first, second, _ = copy_windows(synthetic.shape[1])

    def acts(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            _, cache = model.run_with_cache(batch.to(model.cfg.device), names_filter=[hook])
        return cache[hook].double().cpu()

    first_sum = second_sum = 0
    for start in range(0, len(synthetic), batch_size):
        a = acts(synthetic[start:start + batch_size])
        first_sum = first_sum + a[:, first].sum(dim=(0, 1))
        second_sum = second_sum + a[:, second].sum(dim=(0, 1))
    d_syn = second_sum / (len(synthetic) * int(second.sum())) - first_sum / (len(synthetic) * int(first.sum()))
    sums = {key: torch.zeros(model.cfg.d_mlp, dtype=torch.float64) for key in ("first", "second")}
    counts = {"first": 0, "second": 0}
    for start in range(0, len(repeats), batch_size):
        part = repeats.iloc[start:start + batch_size]
        a = acts(rows[part.row.tolist()])
        for j, (_, rep) in enumerate(part.iterrows()):
            for key in ("first", "second"):
                window = a[j, rep[key]:rep[key] + n + 1]  # A0..A{n-1}, B (cut at the row's end)
                sums[key] += window.sum(0)
                counts[key] += len(window)
    d_nat = (sums["second"] / max(counts["second"], 1) - sums["first"] / max(counts["first"], 1))
    norms = effective_w_out(model, layer).norm(dim=-1).double().cpu()  # through Gemma's post-norm gain too
    return pd.DataFrame({"neuron": np.arange(model.cfg.d_mlp), "label": [f"{layer}.{i}" for i in range(model.cfg.d_mlp)],
                         "d_syn": d_syn.numpy(), "d_nat": d_nat.numpy(), "norm": norms.numpy(),
                         "d_syn_weighted": (d_syn * norms).numpy(), "d_nat_weighted": (d_nat * norms).numpy()})
