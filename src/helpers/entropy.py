"""Entropy neurons (Stolfo et al. 2024 §3): the mean-ablation sweep of the final layer, cached, and
the one rule every notebook uses to call a neuron an entropy neuron.

``run_sweep`` = corpus rows → one clean pass (activation means over all tokens of the rows) →
closed-form ablation of every final-layer neuron on the filtered tokens of ``k`` random rows
(``helpers.ablation``) → a per-neuron table (with the weight statistics) and a per-token table for
the neurons the figures look at token by token.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from transformer_lens.model_bridge import TransformerBridge

from helpers import paper
from helpers.ablation import AblationResult, ablate, clean_run
from helpers.cache import cached_tables
from helpers.corpus import corpus_fingerprint, load_documents, make_rows, token_filter
from helpers.errors import ParameterError
from helpers.models import special_tokens, weights_fingerprint
from helpers.stats import Estimate, bootstrap, robust_z
from helpers.unigram import frequency_cosines, frequency_direction, unigram_counts, unigram_distribution
from helpers.weights import neuron_weight_table

# The selection rules (book: Methods, "Selection rules"), in one place. What scales with the model
# (ρ, |ΔD_KL|) is judged against the layer's own distribution with robust z-scores
# (helpers.stats.robust_z): a neuron is unusual when it sits at least Z_OUTLIER robust standard
# deviations above the layer's median neuron. The mediated shares (1 − DE/TE, 1 − DE_freq/TE) are
# dimensionless fractions of a neuron's own effect, so "largely mediated" is also read as a share.
Z_OUTLIER = 3.0
MIN_LN_SHARE = 0.5  # entropy neurons: most of the effect on the loss goes through the final norm
MIN_FREQ_SHARE = 0.25  # token-frequency neurons: a quarter of it along the frequency direction ("significantly")
N_RANDOM = 100  # random final-layer neurons pooled as the "Random" baseline (Figs 2c, 3c)
N_TOP = 10  # besides the selected neurons, the top N_TOP by each effect keep their per-token results


def selection_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """Per neuron, the robust z-scores (helpers.stats.robust_z, within the layer) the rules read:

    - ``z_rho``: ρ, the share of ‖w_out‖ in the unembedding's null space;
    - ``z_ln``: 1 − DE/TE, the share of the effect on the loss that goes through the final norm;
    - ``z_entropy_per_prediction``: log(|ΔH| / p), the entropy change per change of the top
      prediction (p = prediction-change rate, floored at half a token so that p = 0 stays finite);
    - ``z_norm``, ``z_logit_var``: ‖w_out‖ and log LogitVar (Fig 2a; reported, never used to select);
    - when the sweep measured token-frequency effects: ``z_dkl`` (mean |ΔD_KL(P_freq ‖ P_model)|)
      and ``z_freq`` (1 − DE_freq/TE).
    """
    floor = 0.5 / max(int(summary.attrs.get("n_tokens", 0)), 1)
    scores = pd.DataFrame({
        "neuron": summary.neuron.to_numpy(),
        "z_rho": robust_z(summary.rho),
        "z_ln": robust_z(summary.ln_fraction),
        "z_entropy_per_prediction": robust_z(np.log(summary.abs_dentropy.clip(lower=1e-12)
                                                    / summary.pred_change.clip(lower=floor))),
        "z_norm": robust_z(summary.norm),
        "z_logit_var": robust_z(np.log(summary.logit_var.clip(lower=1e-300))),
    })
    if "abs_dkl" in summary:
        scores["z_dkl"] = robust_z(summary.abs_dkl)
        scores["z_freq"] = robust_z(summary.freq_fraction)
    return scores.set_index(summary.index)


def entropy_neurons(summary: pd.DataFrame) -> list[int]:
    """Entropy neurons, by the mechanism Stolfo et al. identify (Figs 1, 2e): final-layer neurons that

    1. write unusually much into the unembedding's null space: z(ρ) >= Z_OUTLIER;
    2. act on the loss unusually much through the final norm, z(1 − DE/TE) >= Z_OUTLIER, and mostly
       so: 1 − DE/TE >= MIN_LN_SHARE (their effect "depends on LayerNorm", Fig 1);
    3. change the entropy more per change of the top prediction than the layer's median neuron:
       z(log |ΔH| / prediction change) > 0 ("minimal impact on the prediction", relative to the
       entropy change; there is no absolute prediction-change cut).

    Norm and LogitVar are not used: whether the selected neurons also have a large norm and a low
    LogitVar (Fig 2a) is a finding, reported beside them. Sorted by |ΔH|, largest first.
    """
    z = selection_scores(summary)
    chosen = summary[(z.z_rho >= Z_OUTLIER) & (z.z_ln >= Z_OUTLIER) & (summary.ln_fraction >= MIN_LN_SHARE)
                     & (z.z_entropy_per_prediction > 0)]
    return [int(n) for n in chosen.sort_values("abs_dentropy", ascending=False).neuron]


def token_frequency_neurons(summary: pd.DataFrame) -> list[int]:
    """Token-frequency neurons, as Stolfo et al. Fig 3b describes them ("with high effect on
    D_KL(P_freq‖P_model), significantly mediated by the token frequency direction"): neurons with

    1. an unusually large effect on D_KL(P_freq ‖ P_model): z(mean |ΔD_KL|) >= Z_OUTLIER, and
    2. an unusually large share of their effect on the loss along the frequency direction,
       z(1 − DE_freq/TE) >= Z_OUTLIER, of at least MIN_FREQ_SHARE.

    Sorted by mean |ΔD_KL|, largest first. (Entropy neurons also move the KL a lot, but not along
    the frequency direction: rule 2 tells them apart.)
    """
    z = selection_scores(summary)
    chosen = summary[(z.z_dkl >= Z_OUTLIER) & (z.z_freq >= Z_OUTLIER) & (summary.freq_fraction >= MIN_FREQ_SHARE)]
    return [int(n) for n in chosen.sort_values("abs_dkl", ascending=False).neuron]


def split_rows(n_eval: int) -> tuple[np.ndarray, np.ndarray]:
    """The evaluated rows (columns 0..n_eval−1, in row order) split into two disjoint halves:
    the selection rows (even positions), on which the rules select neurons, and the judgement rows
    (odd positions), on which every claim about the selected neurons is measured. Alternating keeps
    both halves spread over the corpus; with an odd count the selection half has one row more."""
    if n_eval < 2:
        raise ParameterError(f"selection and judgement need disjoint rows: k (evaluated rows) must be >= 2, got {n_eval}")
    cols = np.arange(n_eval)
    return cols[0::2], cols[1::2]


def followed_neuron(selection: pd.DataFrame | None, kind: str, selected: list[int], *, parameter: int = -1,
                    case: int | None = None, named: Sequence[int] = ()) -> tuple[int, str]:
    """The followed-neuron policy (the one neuron a page draws) and why: the ``neuron`` parameter if
    given ("parameter"); for the paper's models its case-study neuron, else its list's first
    ("paper"); else the rule's first ("rule": the largest |ΔH|, or |ΔD_KL| for ``kind`` "frequency",
    on the selection rows, an unsigned size, so the choice does not decide the sign of any effect);
    else, to have something to draw, the neuron with the largest z(ρ) (or z(|ΔD_KL|)) on the
    selection rows ("stand-in": no neuron passes the rule, and the claims about it are n/a).
    Claims about the direction of an effect are judged over the whole selected set, never on this
    one neuron (``helpers.stolfo_numbers``)."""
    if parameter != -1:
        return parameter, "parameter"
    if case is not None:
        return case, "paper"
    if named:
        return named[0], "paper"
    if selected:
        return selected[0], "rule"
    if selection is None:
        raise ParameterError("no neuron passes the rule and no sweep was given to choose a stand-in")
    z = selection_scores(selection)
    return int(selection.neuron[(z.z_rho if kind == "entropy" else z.z_dkl).idxmax()]), "stand-in"


@dataclass
class Sweep:
    """The result of :func:`run_sweep`. The rules select on the selection rows; the claims about the
    selected neurons are judged on the judgement rows (:func:`split_rows`)."""

    summary: pd.DataFrame  # one row per neuron: effects (all evaluated rows) + norm, logit_var, rho
    tokens: pd.DataFrame  # one row per (neuron, evaluated token) for the neurons the pages follow
    per_row: pd.DataFrame  # one row per (neuron, evaluated row): sums over the row's tokens (intervals)
    info: dict  # what produced it: model, corpus, rows, tokens, ...

    @cached_property
    def sums(self) -> dict[str, np.ndarray]:
        return row_sums(self)

    @cached_property
    def halves(self) -> tuple[np.ndarray, np.ndarray]:
        """Column indices (into :attr:`sums`) of the selection rows and the judgement rows."""
        return split_rows(len(self.sums["n_tokens"]))

    @property
    def selection_rows(self) -> list[int]:
        return [int(self.info["eval_rows"][i]) for i in self.halves[0]]

    @property
    def judgement_rows(self) -> list[int]:
        return [int(self.info["eval_rows"][i]) for i in self.halves[1]]

    @cached_property
    def selection_summary(self) -> pd.DataFrame:
        """The per-neuron effects measured on the selection rows only (what the rules read)."""
        return resampled_summary(self, self.sums, self.halves[0])

    @cached_property
    def judgement_summary(self) -> pd.DataFrame:
        """The per-neuron effects measured on the judgement rows only (what the claims read)."""
        return resampled_summary(self, self.sums, self.halves[1])

    @cached_property
    def entropy_neurons(self) -> list[int]:
        return entropy_neurons(self.selection_summary)

    @cached_property
    def token_frequency_neurons(self) -> list[int]:
        return token_frequency_neurons(self.selection_summary)

    @property
    def random_neurons(self) -> list[int]:
        return list(self.info["random_neurons"])


def run_sweep(model: TransformerBridge, *, n_rows: int, k: int, tokens_per_row: int, corpus: str = "wikipedia-sample",
              seed: int = 42, seq_len: int = 256, batch_size: int = 8, null_space_k: int | None = None,
              counts_file: str | None = None, cache: bool = True, progress: bool = True) -> Sweep:
    """Mean-ablate every final-layer neuron on the filtered tokens of ``k`` of ``n_rows`` corpus rows.

    Means ā are over all tokens of the ``n_rows`` rows (BOS included), as the authors did; the k
    evaluated rows are drawn without replacement with ``seed``, and on each the tokens that pass the
    paper's filter are evaluated (at most ``tokens_per_row`` of them, drawn with ``seed``, when it
    is > 0: a model with a large vocabulary can then spread fewer tokens over as many rows, the
    intervals' units). The same pass also measures each
    neuron's effect on D_KL(P_freq ‖ P_model) and its frequency-mediated share (token-frequency
    neurons), with P_freq from ``helpers.unigram.unigram_counts`` (the paper's counts for its
    models, ``counts_file`` if given, else the corpus counted with the model's tokenizer).
    """
    if not 2 <= k <= n_rows:
        raise ParameterError(f"k (evaluated rows) must be between 2 and n_rows={n_rows} (selection and judgement "
                             f"use disjoint halves of them), got {k}")
    spec = model.cfg.repro_spec
    key = {"model": spec.name, "weights": weights_fingerprint(model), "corpus": corpus,
           "corpus_content": corpus_fingerprint(corpus), "n_rows": n_rows,
           "k": k, "tokens_per_row": tokens_per_row, "seed": seed, "seq_len": seq_len, "null_space_k": null_space_k,
           "dtype": str(model.cfg.dtype)}

    counts, unigram_source = unigram_counts(model, corpus, counts_file=counts_file)
    key["unigram"] = unigram_source

    def compute() -> dict[str, pd.DataFrame]:
        st = special_tokens(model)
        p_freq = unigram_distribution(counts, model.cfg.d_vocab)
        rows = make_rows(model.tokenizer, load_documents(corpus), bos_id=st.bos_id, eos_id=st.eos_id,
                         seq_len=seq_len, n_rows=n_rows, seed=seed)
        eval_rows = sorted(np.random.default_rng(seed).choice(n_rows, size=k, replace=False).tolist())
        keep = token_filter(rows[eval_rows], bos_id=st.bos_id, eos_id=st.eos_id, newline_ids=st.newline_ids)
        if tokens_per_row:
            keep = at_most_per_row(keep, tokens_per_row, seed)
        run = clean_run(model, rows, eval_rows, batch_size=batch_size, keep=keep, progress=progress)
        result = ablate(model, run, p_freq=p_freq, progress=progress)
        weights = neuron_weight_table(model, k=null_space_k)
        weights["freq_cos"] = frequency_cosines(model, frequency_direction(p_freq), run.layer).cpu().numpy()
        summary = result.summary().merge(weights[["neuron", "norm", "logit_var", "rho", "freq_cos"]], on="neuron")
        summary.attrs["n_tokens"] = len(run.targets)
        rng = np.random.default_rng(seed)
        per_row = per_row_sums(result, eval_rows)
        selection_half = summary_on(summary, _sums(per_row, summary), split_rows(k)[0])
        candidates = set(entropy_neurons(selection_half)) | set(token_frequency_neurons(selection_half))
        candidates |= set(entropy_neurons(summary)) | set(token_frequency_neurons(summary))
        for column in ("rho", "abs_dentropy", "ln_fraction", "abs_dkl", "freq_fraction"):
            candidates |= set(summary.nlargest(N_TOP, column).neuron)
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
        return {"summary": summary, "tokens": tokens, "per_row": per_row}

    tables = cached_tables("entropy-sweep", key, compute, enabled=cache)
    summary = tables["summary"]
    info = {**key, **summary.attrs}
    return Sweep(summary=summary, tokens=tables["tokens"], per_row=tables["per_row"], info=info)


def at_most_per_row(keep: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``keep`` [rows, T] with at most ``n`` True per row: a seeded uniform choice among each row's."""
    rng = np.random.default_rng(seed)
    out = torch.zeros_like(keep)
    for r in range(len(keep)):
        positions = keep[r].nonzero()[:, 0].numpy()
        chosen = positions if len(positions) <= n else np.sort(rng.choice(positions, n, replace=False))
        out[r, torch.from_numpy(chosen)] = True
    return out


def per_row_sums(result: AblationResult, eval_rows: list[int]) -> pd.DataFrame:
    """Per (neuron, evaluated row): the number of evaluated tokens and the sums over them of
    |ΔL_TE|, |ΔL_DE|, |ΔH|, ΔH, prediction changes and, with token-frequency effects, |ΔL_DEfreq| and
    |ΔD_KL|. Every per-neuron number of the summary is a ratio of these sums over rows, so a
    bootstrap over rows (:func:`neuron_estimates`) needs nothing else."""
    pt = result.per_token
    row_of_token = result.run.positions[:, 0].numpy()  # [M] index into eval_rows
    onehot = np.zeros((len(row_of_token), len(eval_rows)))
    onehot[np.arange(len(row_of_token)), row_of_token] = 1.0  # [M, k]
    metrics = {"te": np.abs(pt["loss_te"] - pt["loss"]), "de": np.abs(pt["loss_de"] - pt["loss"]),
               "abs_dh": np.abs(pt["entropy_te"] - pt["entropy"]), "dh": pt["entropy_te"] - pt["entropy"],
               "pred": pt["pred_change"].astype(np.float64)}
    if "kl" in pt:
        metrics.update(freq=np.abs(pt["loss_freq"] - pt["loss"]), abs_dkl=np.abs(pt["kl_te"] - pt["kl"]))
    n_neurons, k = len(result.neurons), len(eval_rows)
    frame = pd.DataFrame({"neuron": np.repeat(result.neurons, k), "row": np.tile(eval_rows, n_neurons),
                          "n_tokens": np.tile(onehot.sum(0), n_neurons).astype(np.int64)})
    for name, values in metrics.items():
        frame[name] = (values.astype(np.float64) @ onehot).reshape(-1)  # [n_neurons, k] -> long
    return frame


def neuron_estimates(sweep: Sweep, neuron: int, *, seed: int = 0, judgement: bool = False) -> dict[str, Estimate]:
    """A neuron's sweep numbers with 95 % intervals from a bootstrap over the evaluated rows (only
    the judgement rows with ``judgement``):
    ``ln_fraction`` = 1 − Σ|ΔL_DE| / Σ|ΔL_TE|, ``abs_dentropy`` = Σ|ΔH| / n, ``dentropy`` = ΣΔH / n,
    ``pred_change`` = Σ changes / n, and with token-frequency effects ``freq_fraction`` =
    1 − Σ|ΔL_DEfreq| / Σ|ΔL_TE| and ``abs_dkl`` = Σ|ΔD_KL| / n (sums over the resampled rows)."""
    rows = sweep.per_row[sweep.per_row.neuron == neuron]
    if judgement:
        rows = rows[rows.row.isin(sweep.judgement_rows)]
    if rows.empty:
        raise ParameterError(f"neuron {neuron} is not in this sweep's layer (d_mlp = {len(sweep.summary)})")
    n = rows.n_tokens.to_numpy(np.float64)
    sums = {c: rows[c].to_numpy(np.float64) for c in rows.columns if c not in ("neuron", "row", "n_tokens")}
    stats_of = {
        "ln_fraction": lambda i: 1 - sums["de"][i].sum() / sums["te"][i].sum(),
        "abs_dentropy": lambda i: sums["abs_dh"][i].sum() / n[i].sum(),
        "dentropy": lambda i: sums["dh"][i].sum() / n[i].sum(),
        "pred_change": lambda i: sums["pred"][i].sum() / n[i].sum(),
    }
    if "freq" in sums:
        stats_of["freq_fraction"] = lambda i: 1 - sums["freq"][i].sum() / sums["te"][i].sum()
        stats_of["abs_dkl"] = lambda i: sums["abs_dkl"][i].sum() / n[i].sum()
    unit = "judgement rows" if judgement else "rows"
    return {name: bootstrap(f, len(n), unit=unit, seed=seed) for name, f in stats_of.items()}


def row_sums(sweep: Sweep) -> dict[str, np.ndarray]:
    """The per-row sums as arrays [n_neurons (summary order), k rows], plus ``n_tokens`` [k]."""
    return _sums(sweep.per_row, sweep.summary)


def _sums(per_row: pd.DataFrame, summary: pd.DataFrame) -> dict[str, np.ndarray]:
    table = per_row.pivot(index="neuron", columns="row")
    order = summary.neuron.to_numpy()
    sums = {name: table[name].loc[order].to_numpy(np.float64) for name in table.columns.levels[0] if name != "n_tokens"}
    sums["n_tokens"] = table["n_tokens"].iloc[0].to_numpy(np.float64)
    return sums


def resampled_summary(sweep: Sweep, sums: dict[str, np.ndarray], idx: np.ndarray) -> pd.DataFrame:
    """The summary's per-neuron effects recomputed from the evaluated rows ``idx`` (with repeats):
    what a bootstrap replicate of the sweep would have measured. Weight statistics are kept."""
    return summary_on(sweep.summary, sums, idx)


def summary_on(summary: pd.DataFrame, sums: dict[str, np.ndarray], idx: np.ndarray) -> pd.DataFrame:
    """:func:`resampled_summary` for a bare summary table (ratios of the sums over the rows ``idx``)."""
    n = sums["n_tokens"][idx].sum()
    s = {name: values[:, idx].sum(1) for name, values in sums.items() if name != "n_tokens"}
    frame = summary[["neuron", "label", "norm", "logit_var", "rho", "freq_cos"]].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["ln_fraction"] = 1 - s["de"] / s["te"]
        frame["abs_dentropy"] = s["abs_dh"] / n
        frame["dentropy"] = s["dh"] / n
        frame["pred_change"] = s["pred"] / n
        if "freq" in s:
            frame["freq_fraction"] = 1 - s["freq"] / s["te"]
            frame["abs_dkl"] = s["abs_dkl"] / n
    frame.attrs["n_tokens"] = int(n)
    return frame


def selection_counts(sweep: Sweep, *, seed: int = 0) -> dict[str, Estimate]:
    """How many neurons each rule selects (``entropy``, ``frequency``) on the selection rows, with
    intervals: the rules re-applied to resampled selection rows (a bootstrap over those rows)."""
    sums, chosen = sweep.sums, sweep.halves[0]

    def counts(idx: np.ndarray) -> np.ndarray:
        frame = resampled_summary(sweep, sums, chosen[idx])
        return np.array([len(entropy_neurons(frame)), len(token_frequency_neurons(frame))], dtype=np.float64)

    boot = bootstrap(counts, len(chosen), unit="selection rows", seed=seed)
    return {name: Estimate(float(boot["value"][i]), float(min(boot["low"][i], boot["value"][i])),
                           float(max(boot["high"][i], boot["value"][i])), len(chosen), "selection rows")
            for i, name in enumerate(("entropy", "frequency"))}


def describe_sweep(sweep: Sweep) -> str:
    """One Markdown sentence: which model, corpus and how many tokens produced the numbers."""
    i = sweep.info
    per_row = f", at most {i['tokens_per_row']} per row" if i.get("tokens_per_row") else ""
    return (f"**Data:** `{i['model']}` on `{i['corpus']}`: activation means over {i['n_mean_tokens']:,} tokens "
            f"({i['n_rows']} rows of {i['seq_len']}); effects on {i['n_tokens']:,} filtered tokens of {i['k']} "
            f"random rows{per_row} (seed {i['seed']}): neurons are selected on rows {sweep.selection_rows} and the claims "
            f"about them judged on rows {sweep.judgement_rows}; rho with a null space of k = {i['null_space_k']}; "
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
    store: dict[str, torch.Tensor] = {}
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
