"""Entropy neurons (Stolfo et al. 2024 §3): the mean-ablation sweep of the final layer, cached, and
the one rule every notebook uses to call a neuron an entropy neuron.

``run_sweep`` = corpus rows → one clean pass (activation means over all tokens of the rows) →
closed-form ablation of every final-layer neuron on the filtered tokens of ``k`` random rows
(``helpers.ablation``) → a per-neuron table (with the weight statistics) and a per-token table for
the neurons the figures look at token by token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from transformer_lens.model_bridge import TransformerBridge

from helpers import paper
from helpers.ablation import ablate, clean_run
from helpers.cache import cached_tables
from helpers.corpus import load_documents, make_rows
from helpers.errors import ParameterError
from helpers.models import special_tokens, weights_fingerprint
from helpers.unigram import (frequency_cosines, frequency_direction, token_frequency_neurons, unigram_counts,
                             unigram_distribution)
from helpers.weights import neuron_weight_table

# The paper's rule, in one place (PAPER_SPEC A4 item 10 and A7 Fig 1/2e):
TOP_RHO = 10  # candidates: the top-10 final-layer neurons by rho (the authors' select_top_n)
MIN_LN_FRACTION = 0.5  # most of the effect on the loss goes through the final norm: 1 - DE/TE >= 0.5
N_RANDOM = 100  # random final-layer neurons pooled as the "Random" baseline (Fig 2c)


def entropy_neurons(summary: pd.DataFrame) -> list[int]:
    """Entropy neurons: among the top ``TOP_RHO`` neurons by rho (output weight in the unembedding's
    null space), those with ln_fraction >= ``MIN_LN_FRACTION`` (the effect acts through the final
    norm's scale) and a prediction-change rate no larger than the layer's median (they change
    confidence, not the top prediction). Sorted by |ΔEntropy|, largest first."""
    top = summary.nlargest(TOP_RHO, "rho")
    median_change = summary.pred_change.median()
    chosen = top[(top.ln_fraction >= MIN_LN_FRACTION) & (top.pred_change <= median_change)]
    return list(chosen.sort_values("abs_dentropy", ascending=False).neuron)


@dataclass
class Sweep:
    """The result of :func:`run_sweep`."""

    summary: pd.DataFrame  # one row per neuron: effects + norm, logit_var, rho
    tokens: pd.DataFrame  # one row per (neuron, evaluated token) for ``token_neurons``
    info: dict  # what produced it: model, corpus, rows, tokens, ...

    @property
    def entropy_neurons(self) -> list[int]:
        return entropy_neurons(self.summary)

    @property
    def token_frequency_neurons(self) -> list[int]:
        return token_frequency_neurons(self.summary)

    @property
    def random_neurons(self) -> list[int]:
        return list(self.info["random_neurons"])


def run_sweep(model: TransformerBridge, *, corpus: str = "wikipedia-sample", n_rows: int = 64, k: int = 4,
              seed: int = 42, seq_len: int = 256, batch_size: int = 8, null_space_k: int | None = None,
              cache: bool = True, progress: bool = True) -> Sweep:
    """Mean-ablate every final-layer neuron on the filtered tokens of ``k`` of ``n_rows`` corpus rows.

    Means ā are over all tokens of the ``n_rows`` rows (BOS included), as the authors did; the k
    evaluated rows are drawn without replacement with ``seed``. The same pass also measures each
    neuron's effect on D_KL(P_freq ‖ P_model) and its frequency-mediated share (token-frequency
    neurons), with P_freq from ``helpers.unigram.unigram_counts``.
    """
    if not 1 <= k <= n_rows:
        raise ParameterError(f"k (evaluated rows) must be between 1 and n_rows={n_rows}, got {k}")
    spec = model.cfg.repro_spec
    key = {"model": spec.name, "weights": weights_fingerprint(model), "corpus": corpus, "n_rows": n_rows,
           "k": k, "seed": seed, "seq_len": seq_len, "null_space_k": null_space_k, "dtype": str(model.cfg.dtype)}

    counts, unigram_source = unigram_counts(model, corpus)
    key["unigram"] = unigram_source

    def compute() -> dict[str, pd.DataFrame]:
        st = special_tokens(model)
        p_freq = unigram_distribution(counts, model.cfg.d_vocab)
        rows = make_rows(model.tokenizer, load_documents(corpus), bos_id=st.bos_id, eos_id=st.eos_id,
                         seq_len=seq_len, n_rows=n_rows, seed=seed)
        eval_rows = sorted(np.random.default_rng(seed).choice(n_rows, size=k, replace=False).tolist())
        run = clean_run(model, rows, eval_rows, batch_size=batch_size, progress=progress)
        result = ablate(model, run, p_freq=p_freq, progress=progress)
        weights = neuron_weight_table(model, k=null_space_k)
        weights["freq_cos"] = frequency_cosines(model, frequency_direction(p_freq), run.layer).cpu().numpy()
        summary = result.summary().merge(weights[["neuron", "norm", "logit_var", "rho", "freq_cos"]], on="neuron")
        rng = np.random.default_rng(seed)
        candidates = set(summary.nlargest(TOP_RHO, "rho").neuron) | set(summary.nlargest(TOP_RHO, "abs_dentropy").neuron)
        candidates |= set(summary.assign(a=summary.freq_cos.abs()).nlargest(TOP_RHO, "a").neuron)
        candidates |= set(summary.nlargest(TOP_RHO, "abs_dkl").neuron)
        for known in (paper.ENTROPY_NEURONS, paper.TOKEN_FREQUENCY_NEURONS):
            candidates |= {n for (layer, n) in known.get(spec.name, []) if layer == run.layer}
        others = np.setdiff1d(summary.neuron.to_numpy(), sorted(candidates))
        random = sorted(rng.choice(others, size=min(N_RANDOM, len(others)), replace=False).tolist())
        tokens = pd.concat([result.token_frame(n).assign(neuron=n) for n in sorted(candidates | set(random))],
                           ignore_index=True)
        tokens["row"] = np.asarray(eval_rows)[tokens["row"].to_numpy()]  # index into the n_rows rows
        summary.attrs.update(n_tokens=len(run.targets), n_mean_tokens=run.n_mean_tokens,
                             null_space_k=weights.attrs["null_space_k"], layer=run.layer,
                             random_neurons=random, eval_rows=eval_rows)
        return {"summary": summary, "tokens": tokens}

    tables = cached_tables("entropy-sweep", key, compute, enabled=cache)
    summary = tables["summary"]
    info = {**key, **summary.attrs}
    return Sweep(summary=summary, tokens=tables["tokens"], info=info)


def describe_sweep(sweep: Sweep) -> str:
    """One Markdown sentence: which model, corpus and how many tokens produced the numbers."""
    i = sweep.info
    return (f"**Data:** `{i['model']}` on `{i['corpus']}`: activation means over {i['n_mean_tokens']:,} tokens "
            f"({i['n_rows']} rows of {i['seq_len']}); effects on {i['n_tokens']:,} filtered tokens of {i['k']} "
            f"random rows (seed {i['seed']}); rho with a null space of k = {i['null_space_k']}; "
            f"unigram distribution from {i['unigram']}.")


def sweep_rows(model: TransformerBridge, sweep: Sweep):
    """The corpus rows the sweep used (rebuilt deterministically from its parameters)."""
    st = special_tokens(model)
    i = sweep.info
    return make_rows(model.tokenizer, load_documents(i["corpus"]), bos_id=st.bos_id, eos_id=st.eos_id,
                     seq_len=i["seq_len"], n_rows=i["n_rows"], seed=i["seed"])


def passage(model: TransformerBridge, sweep: Sweep, neuron: int, *, before: int = 20, after: int = 12) -> pd.DataFrame:
    """The text around the evaluated token where ``neuron`` fires most (Fig 4b): per position its
    token, the neuron's activation, the next-token loss and the entropy of the clean model, and the
    ablation's ΔLoss / ΔEntropy where the token passed the paper's filter."""
    import torch

    from helpers.ablation import token_metrics

    mine = sweep.tokens[sweep.tokens.neuron == neuron]
    if mine.empty:
        raise ParameterError(f"neuron {neuron} has no per-token results in this sweep; choose one of "
                             f"{sorted(sweep.tokens.neuron.unique())[:12]}...")
    peak = mine.loc[mine.activation.idxmax()]
    row = sweep_rows(model, sweep)[int(peak.row)]
    layer = sweep.info["layer"]
    store = {}
    with torch.no_grad():
        logits = model.run_with_hooks(row[None].to(model.cfg.device), fwd_hooks=[(
            f"blocks.{layer}.mlp.hook_post", lambda act, hook: store.update(a=act[0, :, neuron].cpu()))])
    metrics = token_metrics(logits[0, :-1].cpu(), row[1:])
    lo, hi = max(1, int(peak.pos) - before), min(len(row) - 1, int(peak.pos) + after + 1)
    frame = pd.DataFrame({
        "pos": np.arange(lo, hi),
        "token": [model.tokenizer.decode([int(t)]) for t in row[lo:hi]],
        "next_token": [model.tokenizer.decode([int(t)]) for t in row[lo + 1:hi + 1]],
        "activation": store["a"][lo:hi].numpy(),
        "loss": metrics["loss"][lo:hi].numpy(),
        "entropy": metrics["entropy"][lo:hi].numpy(),
    })
    ablated = mine[mine.row == peak.row][["pos", "dloss_te", "dentropy_te"]]
    frame = frame.merge(ablated, on="pos", how="left")
    frame.attrs.update(row=int(peak.row), peak_pos=int(peak.pos), mean_act=float(sweep.summary.mean_act[neuron]))
    return frame
