"""Exact mean ablation of final-layer neurons in closed form.

Book: Methods, "Mean ablation and its closed form" (stolfo-closed-form).

Mean-ablating final-layer neuron n changes only the final residual. With δ_{n,t} = ā_n − a_{n,t}:

- plain block:   r′ = r + δ e_n                              (e_n = w_n, the output weight)
- sandwich norm: r′ = r + α q + β e_n,  α = 1/ρ′ − 1/ρ, β = δ/ρ′
  (Gemma: the MLP output m passes through g ⊙ m / ρ(m) before joining the residual; q = g ⊙ m,
  e_n = g ⊙ w_n, ρ′ = rms(m + δ w_n) follows from |m|², m·w_n and |w_n|² in O(1)).

With c(·) the final norm's centring (LayerNorm; identity for RMSNorm), A = c(R) W_U, Q = c(q) W_U
(tokens × vocab), B = c(E) W_U (neurons × vocab), the ablated logits are

    z′_{n,t} = (A_t + α Q_t + β B_n) / s′_{n,t} + b_U      (total effect, TE)
    z^DE     = (A_t + α Q_t + β B_n) / s_t     + b_U       (direct effect: final norm scale frozen)

where s′ = sqrt(|c(r′)|²/d + ε) expands into dot products known per token and per neuron. One
fused pass over the vocabulary per (neuron, token) then gives the max, log-sum-exp, expected
logit and rank of the target: loss, entropy, prediction and reciprocal rank (on CPU in C++, see
:mod:`helpers.vocab_kernel`). The model is never re-run, and neurons × tokens × vocab is never held in memory.

Sandwich norm (Gemma 2/3): the direct effect freezes the *final* norm's scale s only. The
block's post-feed-forward norm ρ′ is recomputed in both the total and the direct effect (α and β
above use ρ′ in both), as a hooked re-run that pins only ``ln_final.hook_scale`` does.

Models the closed form refuses (:func:`check_closed_form`): final logit soft-capping
(z ↦ c·tanh(z/c) after the unembedding, Gemma 2), and a model without a final norm or with a
post-LN layout (OPT-350m), for which r′ = r + δ w followed by the final norm is not the model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformer_lens.model_bridge import TransformerBridge

from helpers import vocab_kernel
from helpers.corpus import token_filter
from helpers.errors import ParameterError
from helpers.models import special_tokens
from helpers.weights import check_neurons, post_norm_gain, resolve_layer

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# The clean pass
# ------------------------------------------------------------------------------------------------


def check_closed_form(model: TransformerBridge) -> None:
    """Raise :class:`ParameterError` for a model whose final-layer ablation the closed form gets wrong:

    - final logit soft-capping (``final_logit_softcapping`` in the Hugging Face config, TransformerLens's
      ``output_logits_soft_cap``; Gemma 2): the logits are c·tanh(z/c), which the closed form ignores;
    - a post-LN layout (``do_layer_norm_before=False``, OPT-350m) or no final norm: the final
      residual is not r + δ w followed by one final norm.
    """
    spec = getattr(model.cfg, "repro_spec", None)
    name = spec.name if spec is not None else getattr(model.cfg, "model_name", "this model")
    hf_config = getattr(getattr(model, "original_model", None), "config", None)
    cap = getattr(hf_config, "final_logit_softcapping", None)
    tl_cap = getattr(model.cfg, "output_logits_soft_cap", None)
    if (cap is not None and cap > 0) or (tl_cap is not None and tl_cap > 0):
        raise ParameterError(
            f"{name!r} soft-caps its output logits (c·tanh(z/c), c = {cap if cap is not None else tl_cap}); the "
            "closed-form ablation assumes logits linear in the normalised residual and would be wrong. Use a "
            "model without logit soft-capping, or hooked_ablation() (one forward pass per neuron, exact).")
    if getattr(hf_config, "do_layer_norm_before", True) is False:
        raise ParameterError(
            f"{name!r} is post-LN (do_layer_norm_before=False, like OPT-350m): each block ends with a norm and "
            "there is no final norm, so the closed form r' = r + δ w → final norm → unembedding is not this "
            "model. Use a pre-LN model (opt-125m, opt-1.3b, gpt2-small, ...).")
    ln_final = getattr(model, "ln_final", None)
    no_module = ln_final is None or getattr(ln_final, "original_component", True) is None
    if model.cfg.normalization_type is None or no_module:
        raise ParameterError(
            f"{name!r} has no final norm before the unembedding; the closed form (and the direct effect, which "
            "freezes that norm's scale) is defined only for models with one. Use a pre-norm model with a final "
            "norm (gpt2-small, pythia-410m, smollm2-135m, ...).")


@dataclass
class CleanRun:
    """What one clean forward pass over the rows leaves for the closed form.

    Per-token tensors hold only the evaluated tokens (the paper's filter applied to the evaluated
    rows), flattened in row-major order; ``positions`` says where each came from.
    """

    layer: int
    rows: torch.Tensor  # [k, T] evaluated rows
    positions: torch.Tensor  # [M, 2] (row in ``rows``, position) of each evaluated token
    targets: torch.Tensor  # [M] next token
    resid: torch.Tensor  # [M, d_model] final residual r_t
    acts: torch.Tensor  # [M, d_mlp] final-layer activations a_t
    mlp_out: torch.Tensor | None  # [M, d_model] MLP output before the sandwich norm, else None
    mean_acts: torch.Tensor  # [d_mlp] ā over every token of the mean rows, BOS included
    n_mean_tokens: int


class _StopForward(Exception):
    """Raised by the clean pass's last hook: nothing after the final residual is needed."""


def clean_run(model: TransformerBridge, rows: torch.Tensor, eval_rows: Sequence[int], *,
              batch_size: int = 8, layer: int | None = None, keep: torch.Tensor | None = None,
              progress: bool = True) -> CleanRun:
    """One forward pass over ``rows``: activation means over all their tokens (as the authors did,
    BOS included), and the residual, activations and targets of the evaluated tokens of ``eval_rows``:
    by default those passing the paper's filter, else those where ``keep`` [len(eval_rows), T] is True."""
    check_closed_form(model)
    layer = resolve_layer(model, layer)
    st = special_tokens(model)
    eval_rows = [int(i) for i in eval_rows]
    if not eval_rows or min(eval_rows) < 0 or max(eval_rows) >= len(rows):
        raise ValueError(f"eval_rows must index the {len(rows)} rows, got {eval_rows[:5]}...")
    sandwich = post_norm_gain(model, layer) is not None
    names = {"resid": f"blocks.{layer}.hook_resid_post", "acts": f"blocks.{layer}.mlp.hook_post"}
    if sandwich:
        names["mlp_out"] = f"blocks.{layer}.mlp.hook_out"
    act_sum = torch.zeros(model.cfg.d_mlp, dtype=torch.float64)
    kept: dict[str, dict[int, torch.Tensor]] = {key: {} for key in names}
    wanted = set(eval_rows)
    device = model.cfg.device
    cache: dict[str, torch.Tensor] = {}

    def store(name: str) -> Callable:
        def hook(x: torch.Tensor, hook) -> None:
            cache[name] = x
            if name == names["resid"]:  # the last one needed: skip the final norm and the unembedding
                raise _StopForward
        return hook

    for start in tqdm(range(0, len(rows), batch_size), desc="clean pass", disable=not progress, leave=False):
        batch = rows[start:start + batch_size].to(device)
        with torch.no_grad(), model.hooks(fwd_hooks=[(name, store(name)) for name in names.values()]):
            try:
                model(batch, return_type=None)
            except _StopForward:
                pass
        act_sum += cache[names["acts"]].double().sum(dim=(0, 1)).cpu()
        for offset in range(len(batch)):
            if start + offset in wanted:
                for key, hook in names.items():
                    kept[key][start + offset] = cache[hook][offset].float().cpu()
    ev = rows[eval_rows]
    if keep is None:
        keep = token_filter(ev, bos_id=st.bos_id, eos_id=st.eos_id, newline_ids=st.newline_ids)
    elif keep.shape != ev.shape or keep[:, -1].any():
        raise ValueError("keep must be [len(eval_rows), T] and False at the last position (it has no target)")
    positions = keep.nonzero()
    targets = ev[positions[:, 0], positions[:, 1] + 1]

    def gather(key: str) -> torch.Tensor:
        stacked = torch.stack([kept[key][i] for i in eval_rows])  # [k, T, ...]
        return stacked[positions[:, 0], positions[:, 1]]

    return CleanRun(layer=layer, rows=ev, positions=positions, targets=targets, resid=gather("resid"),
                    acts=gather("acts"), mlp_out=gather("mlp_out") if sandwich else None,
                    mean_acts=(act_sum / rows.numel()).float(), n_mean_tokens=rows.numel())


# ------------------------------------------------------------------------------------------------
# The fused vocabulary pass
# ------------------------------------------------------------------------------------------------


def _vocab_stats(a: torch.Tensor, q: torch.Tensor, b: torch.Tensor, bias: torch.Tensor,
                 alpha: torch.Tensor, beta: torch.Tensor, inv_te: torch.Tensor, inv_de: torch.Tensor,
                 target_te: torch.Tensor, target_id: torch.Tensor, u_freq: torch.Tensor | None = None,
                 c_freq: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """For a tile of neurons × tokens: u = A_t + α Q_t + β B_n, z = u · inv_scale + b_U, then per
    pair the log-sum-exp and entropy (TE and DE), the TE argmax and how many other tokens' logits
    beat the target's (the target itself is excluded: its logit here may differ from ``target_te``
    in the last bit).

    With ``u_freq`` [V] and ``c_freq`` [nc, tc] it also returns the log-sum-exp of z_TE + c u_freq
    (the total effect with its component along the frequency direction reset to the clean one).

    a, q: [tc, V]; b: [nc, V]; bias: [V]; target_id: [tc]; the rest [nc, tc]. Written as broadcasting tensor code:
    eagerly it is the reference, compiled (torch.compile) the path on CUDA. On CPU the C++ kernel of
    :mod:`helpers.vocab_kernel` computes the same (TorchInductor's CPU code stores [nc, tc, V] in memory).
    """
    u = a[None] + alpha[..., None] * q[None] + beta[..., None] * b[:, None]
    out = []
    for inv in (inv_te, inv_de):
        z = u * inv[..., None] + bias
        zmax = z.amax(-1, keepdim=True)
        ez = torch.exp(z - zmax)
        sum_e = ez.sum(-1)
        lse = zmax[..., 0] + torch.log(sum_e)
        entropy = lse - (ez * z).sum(-1) / sum_e
        out += [lse, entropy]
        if inv is inv_te:
            others = torch.arange(z.shape[-1], device=z.device) != target_id[:, None]
            out += [z.argmax(-1), ((z > target_te[..., None]) & others).sum(-1)]
            if u_freq is not None:
                assert c_freq is not None, "u_freq comes with c_freq"
                z_freq = z + c_freq[..., None] * u_freq
                out.append(torch.logsumexp(z_freq, dim=-1))
    return tuple(out)  # lse_te, entropy_te, argmax_te, n_above_te, [lse_freq,] lse_de, entropy_de


_COMPILED: dict[str, Callable] = {}

# (neurons, tokens) per tile and vocabulary entries per chunk. CPU: blocks of 16 × 16 pairs walk the
# vocabulary in chunks of 1,024 entries, so the block's rows of a chunk stay in L2 and one pair's in L1
# (measured with bench/bench_ablation.py: 8 × 8 to 32 × 16 and chunks of 512 to 2,048 are within noise
# of each other; chunks of 2,048 put Gemma's five rows per pair past L1). CUDA: the PyTorch kernel,
# compiled, on large tiles of 64 × 128 pairs over the whole vocabulary.
CPU_BLOCK, CPU_CHUNK, CUDA_TILE = (16, 16), 1024, (64, 128)


def _kernel(compile: bool) -> Callable:
    if not compile:
        return _vocab_stats
    if "stats" not in _COMPILED:
        _COMPILED["stats"] = torch.compile(_vocab_stats, dynamic=False)
    return _COMPILED["stats"]


# ------------------------------------------------------------------------------------------------
# The ablation
# ------------------------------------------------------------------------------------------------


@dataclass
class AblationResult:
    """Per (neuron, evaluated token) metrics, and per-neuron summaries."""

    neurons: list[int]
    layer: int
    per_token: dict[str, np.ndarray]  # name -> [n_neurons, M]; clean metrics are [M]
    run: CleanRun

    def token_frame(self, neuron: int) -> pd.DataFrame:
        """One row per evaluated token for ``neuron``: clean and ablated metrics and their changes."""
        i = self.neurons.index(neuron)
        frame = pd.DataFrame({"row": self.run.positions[:, 0].numpy(), "pos": self.run.positions[:, 1].numpy(),
                              "activation": self.run.acts[:, neuron].numpy()})
        for key, values in self.per_token.items():
            frame[key] = values if values.ndim == 1 else values[i]
        frame["dloss_te"] = frame.loss_te - frame.loss
        frame["dloss_de"] = frame.loss_de - frame.loss
        frame["dentropy_te"] = frame.entropy_te - frame.entropy
        frame["dentropy_de"] = frame.entropy_de - frame.entropy
        if "kl" in frame:
            frame["dkl_te"] = frame.kl_te - frame.kl
            frame["dloss_freq"] = frame.loss_freq - frame.loss
        return frame

    def summary(self) -> pd.DataFrame:
        """One row per neuron. ``ln_fraction`` = 1 − mean_t|ΔL_DE| / mean_t|ΔL_TE| (Methods: stolfo-ln-fraction)."""
        pt = self.per_token
        te = np.abs(pt["loss_te"] - pt["loss"]).mean(1)
        de = np.abs(pt["loss_de"] - pt["loss"]).mean(1)
        frame = pd.DataFrame({
            "neuron": self.neurons,
            "label": [f"{self.layer}.{n}" for n in self.neurons],
            "abs_dloss_te": te,
            "abs_dloss_de": de,
            "ln_fraction": 1 - de / te,
            "abs_dentropy": np.abs(pt["entropy_te"] - pt["entropy"]).mean(1),
            "dentropy": (pt["entropy_te"] - pt["entropy"]).mean(1),
            "dloss": (pt["loss_te"] - pt["loss"]).mean(1),
            "pred_change": pt["pred_change"].mean(1),
            "mean_act": self.run.mean_acts[self.neurons].numpy(),
        })
        if "kl" in pt:  # token-frequency neurons: 1 − DE_freq/TE and the change of D_KL(P_freq ‖ P_model)
            frame["freq_fraction"] = 1 - np.abs(pt["loss_freq"] - pt["loss"]).mean(1) / te
            frame["abs_dkl"] = np.abs(pt["kl_te"] - pt["kl"]).mean(1)
            frame["dkl"] = (pt["kl_te"] - pt["kl"]).mean(1)
        frame.attrs["n_tokens"] = len(self.run.targets)
        return frame


def ablate(model: TransformerBridge, run: CleanRun, neurons: Sequence[int] | None = None, *,
           p_freq: torch.Tensor | None = None, delta: torch.Tensor | None = None, neuron_chunk: int | None = None,
           token_chunk: int | None = None, compile: bool = True, progress: bool = True) -> AblationResult:
    """Mean-ablate each of ``neurons`` (default: all) of the final layer on the evaluated tokens, in closed form.

    With ``p_freq`` (the unigram distribution, [V]) it also gives, per pair, D_KL(P_freq ‖ P_model)
    (O(1): P_freq · z is linear in the logits) and the loss with the logits' component along the
    frequency direction u_freq frozen at its clean value (Methods: stolfo-kl, stolfo-de-freq; one more
    log-sum-exp over the vocabulary).

    ``delta`` [n_neurons, M] replaces the change of each neuron's activation on each evaluated token
    (default: ā − a, mean ablation); the clip mean-ablation of the induction study passes its own.

    The direct effect (``*_de``) freezes the final norm's scale; a sandwich norm's post-feed-forward
    norm is recomputed in both effects. Refuses models the closed form does not fit (:func:`check_closed_form`).

    ``compile``: the fast kernel (on CPU the C++ one of :mod:`helpers.vocab_kernel`, elsewhere
    :func:`_vocab_stats` compiled with torch.compile); False runs :func:`_vocab_stats` eagerly (the reference).
    ``neuron_chunk`` × ``token_chunk``: the PyTorch kernel's tile; the C++ kernel takes ``token_chunk``
    tokens (default 64) and every neuron per call, and blocks them itself (:data:`CPU_BLOCK`).
    """
    check_closed_form(model)
    layer = run.layer
    if layer != model.cfg.n_layers - 1:
        raise ValueError(f"the closed form is exact only for the final layer ({model.cfg.n_layers - 1}), not {layer}")
    neurons = check_neurons(model, range(model.cfg.d_mlp) if neurons is None else neurons, layer)
    device = torch.device(model.cfg.device or "cpu")
    cpp = vocab_kernel.module() if compile and device.type == "cpu" else None

    f32 = dict(device=device, dtype=torch.float32)
    w_u = model.W_U.detach().to(**f32)
    if cpp is not None:  # zero columns up to a multiple of the vector width: A, Q and B come out padded
        w_u = vocab_kernel.pad_vocab(w_u)
    b_u = model.b_U.detach().to(**f32)
    d = w_u.shape[0]
    eps = float(model.cfg.eps)
    centre = model.cfg.normalization_type == "LN"

    def c(x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(-1, keepdim=True) if centre else x

    gain = post_norm_gain(model, layer)
    w = model.blocks[layer].mlp.W_out.detach()[neurons].to(**f32)  # [n, d] (one layer: model.W_out stacks all of them)
    e = w if gain is None else w * gain.to(**f32)
    ce = c(e)
    b_all = ce @ w_u  # [n, V]
    ce_sq = ce.pow(2).sum(-1)  # [n]

    cr = c(run.resid.to(**f32))  # [M, d]
    s = (cr.pow(2).sum(-1) / d + eps).sqrt()  # [M] clean final-norm scale
    if delta is None:
        delta = run.mean_acts[neurons][:, None] - run.acts[:, neurons].T  # [n, M]
    elif delta.shape != (len(neurons), len(run.targets)):
        raise ValueError(f"delta must be [n_neurons, n_tokens] = {(len(neurons), len(run.targets))}, got {tuple(delta.shape)}")
    delta = delta.to(**f32)
    y = run.targets.to(device)
    cr_ce = (cr @ ce.T).T  # [n, M]
    if gain is None:
        cq = torch.zeros_like(cr)
        alpha = torch.zeros_like(delta)
        beta = delta
        norm_sq = cr.pow(2).sum(-1) + 2 * beta * cr_ce + beta.pow(2) * ce_sq[:, None]
    else:  # sandwich: r′ = r + α q + β e with q = g ⊙ m
        assert run.mlp_out is not None  # clean_run keeps it for a sandwich norm
        m = run.mlp_out.to(**f32)
        cq = c(m * gain.to(**f32))
        rho = (m.pow(2).sum(-1) / d + eps).sqrt()  # [M]
        rho_new = ((m.pow(2).sum(-1) + 2 * delta * (m @ w.T).T + delta.pow(2) * w.pow(2).sum(-1)[:, None]) / d
                   + eps).sqrt()  # [n, M]
        alpha = 1 / rho_new - 1 / rho
        beta = delta / rho_new
        norm_sq = (cr.pow(2).sum(-1) + alpha.pow(2) * cq.pow(2).sum(-1) + beta.pow(2) * ce_sq[:, None]
                   + 2 * alpha * (cr * cq).sum(-1) + 2 * beta * cr_ce + 2 * alpha * beta * (cq @ ce.T).T)
    s_new = (norm_sq / d + eps).sqrt()  # [n, M]
    inv_te, inv_de = 1 / s_new, (1 / s).expand_as(s_new).contiguous()

    # Target logits in closed form (O(1) per pair): z_y = (A_{t,y} + α Q_{t,y} + β B_{n,y}) / s + b_y.
    w_u_y = w_u[:, y].T  # [M, d]
    a_y, q_y = (cr * w_u_y).sum(-1), (cq * w_u_y).sum(-1)
    b_y = b_all[:, y]  # [n, M]
    u_y = a_y + alpha * q_y + beta * b_y
    target_te, target_de = u_y * inv_te + b_u[y], u_y * inv_de + b_u[y]

    freq = None
    if p_freq is not None:
        from helpers.unigram import frequency_direction

        p = p_freq.to(device=device, dtype=torch.float64)
        u_freq = frequency_direction(p).to(**f32)
        w_u_v = w_u[:, :len(b_u)]  # without the padding
        w_u_p, w_u_u = (w_u_v.double() @ p).float(), w_u_v @ u_freq  # [d]
        # P_freq · z′ = (P·A_t + α P·Q_t + β P·B_n) / s′ + P·b, likewise u_freq · z′ (all O(1) per pair).
        p_dot_te = (cr @ w_u_p + alpha * (cq @ w_u_p) + beta * (ce @ w_u_p)[:, None]) * inv_te + b_u @ p.float()
        p_dot_clean = (cr @ w_u_p) / s + b_u @ p.float()
        u_clean = (cr @ w_u_u) / s
        c_freq = u_clean - (cr @ w_u_u + alpha * (cq @ w_u_u) + beta * (ce @ w_u_u)[:, None]) * inv_te
        freq = {"u": u_freq, "c": c_freq, "p_log_p": float((p * p.log()).sum()), "p_dot_te": p_dot_te,
                "p_dot_clean": p_dot_clean, "target": target_te + c_freq * u_freq[y]}

    n, m_tok = delta.shape
    names = _names(freq is not None)
    clean_names = tuple(k for k in names if k != "lse_freq")
    out = {k: torch.empty(n, m_tok, device=device, dtype=torch.long if k in ("argmax_te", "n_above_te")
                          else torch.float32) for k in names}
    clean = {k: torch.empty(1, m_tok, device=device, dtype=out[k].dtype) for k in clean_names}
    clean_inv = (1 / s)[None]
    clean_target = a_y * clean_inv[0] + b_u[y]
    pair = {"alpha": alpha, "beta": beta, "inv_te": inv_te, "inv_de": inv_de, "target_te": target_te}
    if cpp is not None:
        _fill_cpu(cpp, cr, cq if gain is not None else None, w_u, b_u, b_all, y, pair, freq, clean_inv, clean_target,
                  out, clean, token_chunk=token_chunk or 64, progress=progress, desc=f"ablating {n} neurons × {m_tok} tokens")
    else:
        _fill_tiles(_kernel(compile), cr, cq, w_u, b_u, b_all, y, pair, freq, clean_inv, clean_target, out, clean,
                    neuron_chunk=neuron_chunk, token_chunk=token_chunk, big=device.type == "cuda", compile=compile,
                    progress=progress, desc=f"ablating {n} neurons × {m_tok} tokens")

    def np_(x: torch.Tensor) -> np.ndarray:
        return x.cpu().numpy()

    per_token = {
        "loss": np_(clean["lse_te"][0] - clean_target),
        "entropy": np_(clean["entropy_te"][0]),
        "rr": np_(1.0 / (1 + clean["n_above_te"][0].float())),
        "loss_te": np_(out["lse_te"] - target_te),
        "entropy_te": np_(out["entropy_te"]),
        "loss_de": np_(out["lse_de"] - target_de),
        "entropy_de": np_(out["entropy_de"]),
        "rr_te": np_(1.0 / (1 + out["n_above_te"].float())),
        "pred_change": np_(out["argmax_te"] != clean["argmax_te"]),
    }
    if freq:
        per_token["kl"] = np_(freq["p_log_p"] - freq["p_dot_clean"] + clean["lse_te"][0])
        per_token["kl_te"] = np_(freq["p_log_p"] - freq["p_dot_te"] + out["lse_te"])
        per_token["loss_freq"] = np_(out["lse_freq"] - freq["target"])
    return AblationResult(neurons=neurons, layer=layer, per_token=per_token, run=run)


def _names(freq: bool) -> tuple[str, ...]:
    """Keys of the outputs, in the order :func:`_vocab_stats` returns them."""
    return ("lse_te", "entropy_te", "argmax_te", "n_above_te") + (("lse_freq",) if freq else ()) + ("lse_de", "entropy_de")


def _fill_cpu(cpp, cr: torch.Tensor, cq: torch.Tensor | None, w_u: torch.Tensor, b_u: torch.Tensor,
              b_all: torch.Tensor, y: torch.Tensor, pair: dict[str, torch.Tensor], freq: dict | None,
              clean_inv: torch.Tensor, clean_target: torch.Tensor, out: dict[str, torch.Tensor],
              clean: dict[str, torch.Tensor], *, token_chunk: int, progress: bool, desc: str) -> None:
    """The C++ kernel (:mod:`helpers.vocab_kernel`): per tile of ``token_chunk`` tokens, all neurons at once.

    ``w_u`` and ``b_all`` come padded with zero columns up to a multiple of the vector width; the bias
    there is −1e30, so padded entries carry no weight, are never the maximum and never above a target."""
    pad = vocab_kernel.pad_vocab
    keys = ("lse_te", "entropy_te", "argmax_te", "n_above_te", "lse_de", "entropy_de", "lse_freq")  # the C++ order
    n, m_tok = pair["beta"].shape
    bias_pad = pad(b_u, vocab_kernel.PAD_BIAS)
    none = torch.empty(0)
    u_pad = pad(freq["u"]) if freq else none
    zero_row = torch.zeros(1, w_u.shape[1])
    block, chunk = CPU_BLOCK, CPU_CHUNK
    bar = tqdm(total=m_tok, desc=desc, unit="token", disable=not progress)
    for t0 in range(0, m_tok, token_chunk):
        t1 = min(t0 + token_chunk, m_tok)
        a_t = cr[t0:t1] @ w_u
        q_t = cq[t0:t1] @ w_u if cq is not None else none
        y_t = y[t0:t1].contiguous()
        # clean metrics: the same kernel with α = β = 0 and the clean scale
        zeros = torch.zeros(1, t1 - t0)
        inv = clean_inv[:, t0:t1].contiguous()
        res = [torch.empty(1, t1 - t0, dtype=clean[k].dtype) for k in keys[:-1]] + [none]
        cpp.vocab_stats([a_t, none, zero_row, bias_pad, none, zeros, zeros, inv, inv,
                         clean_target[None, t0:t1].contiguous(), none, y_t], res, *block, chunk)
        for k, v in zip(keys[:-1], res):
            clean[k][:, t0:t1] = v
        tile = {k: v[:, t0:t1].contiguous() for k, v in pair.items()}
        c_t = freq["c"][:, t0:t1].contiguous() if freq else none
        res = [torch.empty(n, t1 - t0, dtype=out[k].dtype) for k in keys[:-1]]
        res.append(torch.empty(n, t1 - t0) if freq else none)
        cpp.vocab_stats([a_t, q_t, b_all, bias_pad, u_pad, tile["alpha"], tile["beta"], tile["inv_te"], tile["inv_de"],
                         tile["target_te"], c_t, y_t], res, *block, chunk)
        for k, v in zip(keys, res):
            if k in out:
                out[k][:, t0:t1] = v
        bar.update(t1 - t0)
    bar.close()


def _fill_tiles(kernel: Callable, cr: torch.Tensor, cq: torch.Tensor, w_u: torch.Tensor, b_u: torch.Tensor,
                b_all: torch.Tensor, y: torch.Tensor, pair: dict[str, torch.Tensor], freq: dict | None,
                clean_inv: torch.Tensor, clean_target: torch.Tensor, out: dict[str, torch.Tensor],
                clean: dict[str, torch.Tensor], *, neuron_chunk: int | None, token_chunk: int | None, big: bool,
                compile: bool, progress: bool, desc: str) -> None:
    """The PyTorch kernel (:func:`_vocab_stats`, compiled or eager) over tiles of neurons × tokens with
    fixed shapes (one compilation); the path on CUDA, and the reference."""
    names = _names(freq is not None)
    clean_names = tuple(k for k in names if k != "lse_freq")
    n, m_tok = pair["beta"].shape
    f32 = dict(device=w_u.device, dtype=torch.float32)
    neuron_chunk = neuron_chunk or (CUDA_TILE[0] if big else 8 if compile else 4)
    token_chunk = token_chunk or (CUDA_TILE[1] if big else 8 if compile else 16)
    zero_b = torch.zeros(neuron_chunk, w_u.shape[1], **f32)
    n_tiles = -(-m_tok // token_chunk) * (-(-n // neuron_chunk) + 1)
    bar = tqdm(total=n_tiles, desc=desc, disable=not progress)
    for t0 in range(0, m_tok, token_chunk):
        t1 = min(t0 + token_chunk, m_tok)
        a_t, q_t = _pad(cr[t0:t1] @ w_u, token_chunk), _pad(cq[t0:t1] @ w_u, token_chunk)
        y_t = _pad(y[t0:t1], token_chunk)
        # Clean metrics: the same kernel with α = β = 0.
        zeros = torch.zeros(neuron_chunk, token_chunk, **f32)
        res = kernel(a_t, q_t, zero_b, b_u, zeros, zeros, _pad2(clean_inv[:, t0:t1], neuron_chunk, token_chunk, 1.0),
                     _pad2(clean_inv[:, t0:t1], neuron_chunk, token_chunk, 1.0),
                     _pad2(clean_target[None, t0:t1], neuron_chunk, token_chunk, 0.0), y_t)
        for k, v in zip(clean_names, res):
            clean[k][:, t0:t1] = v[:1, :t1 - t0]
        bar.update()
        for n0 in range(0, n, neuron_chunk):
            n1 = min(n0 + neuron_chunk, n)
            tile = [_pad2(x[n0:n1, t0:t1], neuron_chunk, token_chunk, fill)
                    for x, fill in ((pair["alpha"], 0.0), (pair["beta"], 0.0), (pair["inv_te"], 1.0),
                                    (pair["inv_de"], 1.0), (pair["target_te"], 0.0))]
            extra = (freq["u"], _pad2(freq["c"][n0:n1, t0:t1], neuron_chunk, token_chunk, 0.0)) if freq else ()
            res = kernel(a_t, q_t, _pad(b_all[n0:n1], neuron_chunk), b_u, *tile, y_t, *extra)
            for k, v in zip(names, res):
                out[k][n0:n1, t0:t1] = v[:n1 - n0, :t1 - t0]
            bar.update()
    bar.close()


def _pad(x: torch.Tensor, size: int) -> torch.Tensor:
    """Pad the first dimension to ``size`` with zeros (fixed tile shapes: one compilation)."""
    if x.shape[0] == size:
        return x
    return torch.cat([x, x.new_zeros(size - x.shape[0], *x.shape[1:])])


def _pad2(x: torch.Tensor, rows: int, cols: int, fill: float) -> torch.Tensor:
    out = x.new_full((rows, cols), fill)
    out[: x.shape[0], : x.shape[1]] = x
    return out


# ------------------------------------------------------------------------------------------------
# Reference implementations (tests and benchmarks)
# ------------------------------------------------------------------------------------------------


def token_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Loss, entropy, argmax and reciprocal rank from full logits [..., V] (the textbook way)."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    target_logit = logits.gather(-1, targets[..., None])
    return {"loss": -logp.gather(-1, targets[..., None])[..., 0],
            "entropy": -(logp.exp() * logp).sum(-1),
            "argmax": logits.argmax(-1),
            "rr": 1.0 / (1 + (logits > target_logit).sum(-1).double())}


def final_norm_scale(model: TransformerBridge, rows: torch.Tensor) -> torch.Tensor:
    """The clean ``ln_final.hook_scale`` of ``rows`` [k, T, 1] (one forward pass)."""
    store = {}

    def keep(scale, hook):
        store["s"] = scale.detach().clone()

    with torch.no_grad():
        model.run_with_hooks(rows.to(model.cfg.device), return_type=None, fwd_hooks=[("ln_final.hook_scale", keep)])
    return store["s"]


def hooked_ablation(model: TransformerBridge, run: CleanRun, neuron: int, *, frozen_scale: bool,
                    clean_scale: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One hooked forward pass over the evaluated rows with neuron ``neuron`` set to its mean
    (TransformerLens's usual way); with ``frozen_scale`` the final norm's scale is also pinned to its
    clean value (the direct effect; pass ``clean_scale`` from :func:`final_norm_scale` to reuse it).
    A sandwich norm's post-feed-forward norm is recomputed in both (only the final norm is pinned).
    Returns the metrics of the evaluated tokens."""
    rows = run.rows.to(model.cfg.device)
    if frozen_scale and clean_scale is None:
        clean_scale = final_norm_scale(model, rows)

    def set_mean(act, hook):
        act[..., neuron] = run.mean_acts[neuron].to(act)
        return act

    hooks = [(f"blocks.{run.layer}.mlp.hook_post", set_mean)]
    if frozen_scale:
        hooks.append(("ln_final.hook_scale", lambda scale, hook: clean_scale))
    with torch.no_grad():
        logits = model.run_with_hooks(rows, fwd_hooks=hooks)
    picked = logits[run.positions[:, 0], run.positions[:, 1]]
    return token_metrics(picked, run.targets.to(picked.device))


def authors_way_applies(model: TransformerBridge, layer: int | None = None) -> bool:
    """Whether :func:`authors_ablation` can run on ``layer`` (default: the final one): not after a sandwich
    norm (Gemma 2/3), for which the authors' code has no path. Cheap: for checking before anything long."""
    return post_norm_gain(model, layer) is None


def authors_ablation(model: TransformerBridge, run: CleanRun, neurons: Sequence[int], *,
                     chunk_size: int = 20) -> pd.DataFrame:
    """The authors' way (Methods: stolfo-mean-ablation), for benchmarks: for each evaluated row and each chunk
    of 20 neurons, add δ w_n to the cached residual, re-apply the final norm (recomputed, and frozen),
    unembed (an O(d · vocab) product per pair), and build a pandas frame per neuron per row."""
    if not authors_way_applies(model, run.layer):
        raise NotImplementedError("the authors' code has no sandwich-norm path")
    layer = run.layer
    w_u, b_u = model.W_U.detach().float(), model.b_U.detach().float()
    w = model.W_out[layer].detach().float()
    eps, centre = float(model.cfg.eps), model.cfg.normalization_type == "LN"

    def normalise(x: torch.Tensor, scale: torch.Tensor | None = None):
        x = x - x.mean(-1, keepdim=True) if centre else x
        s = (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() if scale is None else scale
        return x / s, s

    frames = []
    row_ids = run.positions[:, 0]
    for r in row_ids.unique().tolist():
        idx = (row_ids == r).nonzero()[:, 0]
        resid, acts, targets = run.resid[idx].float(), run.acts[idx].float(), run.targets[idx]
        _, clean_s = normalise(resid)
        for c0 in range(0, len(neurons), chunk_size):
            chunk = list(neurons)[c0:c0 + chunk_size]
            delta = run.mean_acts[chunk][:, None] - acts[:, chunk].T  # [c, T]
            ablated = resid[None] + delta[..., None] * w[chunk][:, None]  # [c, T, d]
            for kind, scale in (("te", None), ("de", clean_s[None])):
                logits = normalise(ablated, scale)[0] @ w_u + b_u  # [c, T, V]
                metrics = token_metrics(logits, targets.expand(len(chunk), -1))
                for j, n in enumerate(chunk):
                    frames.append(pd.DataFrame({"neuron": n, "row": r, "kind": kind,
                                                "loss": metrics["loss"][j].numpy(),
                                                "entropy": metrics["entropy"][j].numpy()}))
    return pd.concat(frames, ignore_index=True)
