"""Weight statistics of MLP neurons (book: Methods, stolfo-rho and stolfo-logitvar): norms, LogitVar, the unembedding's
singular vectors and each neuron's share in its null space, rho.

All statistics are taken on the compatibility-mode (processed) weights that ``helpers.models``
loads: norm gains folded, ``W_U`` centred over the vocabulary.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from transformer_lens.model_bridge import TransformerBridge

from helpers.errors import ParameterError

# Null-space sizes the authors used (Methods: stolfo-rho); other models get ~1% of d_model.
PAPER_NULL_SPACE_K = {"gpt2-small": 12, "Llama-2-7b": 40}


def resolve_layer(model: TransformerBridge, layer: int | None) -> int:
    """``None`` means the final layer; negative layers count from the end."""
    n = model.cfg.n_layers
    if layer is None:
        return n - 1
    if not isinstance(layer, (int, np.integer)) or not -n <= layer < n:
        raise ParameterError(f"layer {layer!r} is out of range for a model with {n} layers "
                             f"(use 0..{n - 1}, or -1 for the final layer)")
    return int(layer) % n


def check_neurons(model: TransformerBridge, neurons, layer: int | None = None) -> list[int]:
    """Validate neuron indices of one layer; returns them as a list of ints."""
    d_mlp = model.cfg.d_mlp
    out = []
    for n in neurons:
        if not isinstance(n, (int, np.integer)) or not 0 <= n < d_mlp:
            raise ParameterError(f"neuron index {n!r} is out of range: layer {resolve_layer(model, layer)} "
                                 f"has d_mlp = {d_mlp} neurons (valid indices 0..{d_mlp - 1})")
        out.append(int(n))
    return out


def post_norm_gain(model: TransformerBridge, layer: int | None = None) -> torch.Tensor | None:
    """The gain g of the block's post-feedforward RMSNorm (sandwich norm, Gemma 2/3), else None.

    Read off the module itself (g = ln2_post(1) · sqrt(1 + eps), since rms(1) = sqrt(1 + eps)),
    so Gemma's (1 + weight) convention needs no special case.
    """
    block = model.blocks[resolve_layer(model, layer)]
    if not hasattr(block, "ln2_post"):
        return None
    d = model.cfg.d_model
    w_out = model.W_out[0]
    with torch.no_grad():
        ones = torch.ones(1, 1, d, dtype=w_out.dtype, device=w_out.device)
        return block.ln2_post(ones)[0, 0] * (1 + model.cfg.eps) ** 0.5


def effective_w_out(model: TransformerBridge, layer: int | None = None) -> torch.Tensor:
    """Output weights as they reach the residual stream, [d_mlp, d_model].

    For a sandwich norm (Gemma 2/3) the MLP output passes through ``ln2_post``, an RMSNorm with
    gain g, before joining the residual: the direction neuron i writes is g ⊙ w_i (its length is
    then divided by the per-token rms of the whole MLP output, which is the same for all neurons).
    """
    layer = resolve_layer(model, layer)
    w_out = model.W_out[layer].detach()
    gain = post_norm_gain(model, layer)
    return w_out if gain is None else w_out * gain


def output_norms(w_out: torch.Tensor) -> torch.Tensor:
    """‖w_i‖ for each row of ``w_out`` [n, d]."""
    return w_out.norm(dim=-1)


def logit_var(w_out: torch.Tensor, w_u: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """LogitVar(w_i) = Var_v cos(w_i, W_U[:, v]) (unbiased variance over the vocabulary), [n].

    ``w_out`` is [n, d_model], ``w_u`` is [d_model, d_vocab]. Computed in float64, in vocabulary
    chunks, from the running sum and sum of squares.
    """
    w = w_out.detach().double()
    w = w / w.norm(dim=-1, keepdim=True)
    total = torch.zeros(w.shape[0], dtype=torch.float64, device=w.device)
    total_sq = torch.zeros_like(total)
    n_vocab = w_u.shape[1]
    for start in range(0, n_vocab, chunk):
        u = w_u[:, start:start + chunk].detach().double().to(w.device)
        cos = w @ (u / u.norm(dim=0, keepdim=True))
        total += cos.sum(-1)
        total_sq += cos.pow(2).sum(-1)
    mean = total / n_vocab
    return (total_sq - n_vocab * mean.pow(2)) / (n_vocab - 1)


def unembed_svd(w_u: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Left singular vectors U [d_model, d_model] and singular values S (descending) of W_U.

    W_U = U S Vᵀ, so W_U W_Uᵀ = U S² Uᵀ: an eigendecomposition of the d_model × d_model Gram
    matrix (accumulated in float64 over vocabulary chunks) gives U and S without ever forming
    V, which for a 262k-token vocabulary would not fit comfortably in memory.
    """
    d = w_u.shape[0]
    gram = torch.zeros(d, d, dtype=torch.float64)
    for start in range(0, w_u.shape[1], chunk):
        block = w_u[:, start:start + chunk].detach().to("cpu", torch.float64)
        gram += block @ block.T
    eigvals, eigvecs = torch.linalg.eigh(gram)  # ascending
    order = torch.argsort(eigvals, descending=True)
    s = eigvals[order].clamp_min(0).sqrt()
    return eigvecs[:, order], s


NULL_SPACE_TAIL = 0.05  # the null space is looked for among the last 5 % of singular values


def null_space_size(s: np.ndarray | torch.Tensor, tail: float = NULL_SPACE_TAIL) -> int:
    """The size k of W_U's effective null space, from its spectrum's gap (book: Methods, stolfo-rho).

    Among the last w = max(2, ⌈tail · d⌉) singular values (``s`` descending, d of them) and the one
    before them, the largest log-gap log(s_i / s_{i+1}) is the null space's edge: k is the number of
    singular values after it (1 ≤ k ≤ w). GPT-2 Small's drop over its last ~12 of 768 values lies
    in that window (w = 39); a matrix without a null space (a random one) still gets a k, but its
    last k values are then not far below the median (claim S-11 judges that depth).
    """
    values = np.asarray(s, dtype=np.float64)
    d = len(values)
    w = min(d - 1, max(2, math.ceil(tail * d)))
    window = np.log(np.maximum(values[d - w - 1:], np.finfo(np.float64).tiny))
    gaps = window[:-1] - window[1:]  # gap j lies between window[j] and window[j + 1]
    return int(w - int(np.argmax(gaps)))


def random_share_max_quantile(k: int, d: int, n: int, *, q: float = 0.99, n_sim: int = 2000, seed: int = 0) -> float:
    """The q-quantile of the largest squared-norm share in a fixed k-dimensional subspace of R^d among
    ``n`` random unit directions (a layer of n neurons that learned nothing): each share is
    X / (X + Y) with X ~ χ²_k, Y ~ χ²_{d−k} independent; the maximum over n is simulated ``n_sim``
    times (seeded). A neuron picked as the layer's most extreme must beat this, not k / d."""
    if not 1 <= k < d:
        raise ParameterError(f"null-space size k={k} must be between 1 and d_model - 1 = {d - 1}")
    rng = np.random.default_rng(seed)
    maxima = np.empty(n_sim)
    for start in range(0, n_sim, 250):  # 250 layers at a time: bounded memory for wide layers
        x = rng.chisquare(k, (min(250, n_sim - start), n))
        y = rng.chisquare(d - k, x.shape)
        maxima[start:start + len(x)] = (x / (x + y)).max(1)
    return float(np.quantile(maxima, q))


def default_null_space_k(model: TransformerBridge) -> int:
    """k for rho: the paper's value for its models, else round(0.01 · d_model), at least 1."""
    spec = getattr(model.cfg, "repro_spec", None)
    if spec is not None and spec.name in PAPER_NULL_SPACE_K:
        return PAPER_NULL_SPACE_K[spec.name]
    return max(1, round(0.01 * model.cfg.d_model))


def null_space_fraction(w_out: torch.Tensor, u: torch.Tensor, k: int) -> torch.Tensor:
    """rho_i = ‖U_nullᵀ w_i‖ / ‖w_i‖, with U_null the last k columns of U (smallest singular values)."""
    if not 1 <= k <= u.shape[1]:
        raise ParameterError(f"null-space size k={k} must be between 1 and d_model={u.shape[1]}")
    w = w_out.detach().to("cpu", torch.float64)
    u_null = u[:, -k:].to(torch.float64)
    return (w @ u_null).norm(dim=-1) / w.norm(dim=-1)


def neuron_weight_table(model: TransformerBridge, layer: int | None = None, k: int | None = None) -> pd.DataFrame:
    """One row per neuron of ``layer`` (default: final): norm, LogitVar and rho (null space of size k)."""
    layer = resolve_layer(model, layer)
    k = default_null_space_k(model) if k is None else k
    w_out = effective_w_out(model, layer)
    u, _ = unembed_svd(model.W_U)
    table = pd.DataFrame({
        "layer": layer,
        "neuron": np.arange(w_out.shape[0]),
        "norm": output_norms(w_out).double().cpu().numpy(),
        "logit_var": logit_var(w_out, model.W_U.detach()).cpu().numpy(),
        "rho": null_space_fraction(w_out, u, k).numpy(),
    })
    table.insert(2, "label", [f"{layer}.{i}" for i in table.neuron])
    table.attrs["null_space_k"] = k
    return table


def singular_direction_cosines(w_out: torch.Tensor, u: torch.Tensor, neurons: list[int]) -> np.ndarray:
    """cos(w_i, U_j) for each neuron i of ``neurons`` and each left singular vector U_j of W_U
    (columns of ``u``, descending singular values), [len(neurons), d_model] (Fig 2d)."""
    w = w_out[neurons].detach().to("cpu", torch.float64)
    return ((w @ u.to(torch.float64)) / w.norm(dim=-1, keepdim=True)).numpy()
