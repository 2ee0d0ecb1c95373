"""Weight statistics against independent float64 NumPy computations."""

import numpy as np
import pytest
import torch

from helpers.errors import ParameterError
from helpers.models import load_model
from helpers.weights import (
    check_neurons,
    effective_w_out,
    logit_var,
    neuron_weight_table,
    null_space_fraction,
    resolve_layer,
    unembed_svd,
)


@pytest.fixture(scope="module", params=["tiny-random-gpt2", "tiny-random-llama", "tiny-random-gemma3"])
def model(request):
    return load_model(request.param, device="cpu")


def numpy_reference(w_out: np.ndarray, w_u: np.ndarray, k: int):
    """The paper's definitions, written directly with a full float64 SVD."""
    w_n = w_out / np.linalg.norm(w_out, axis=1, keepdims=True)
    u_n = w_u / np.linalg.norm(w_u, axis=0, keepdims=True)
    lv = (w_n @ u_n).var(axis=1, ddof=1)
    u, s, _ = np.linalg.svd(w_u, full_matrices=False)
    rho = np.linalg.norm(w_out @ u[:, -k:], axis=1) / np.linalg.norm(w_out, axis=1)
    return lv, s, rho, u


def test_statistics_match_float64_numpy(model):
    k = 3
    table = neuron_weight_table(model, k=k)
    w_out = effective_w_out(model).double().numpy()
    w_u = model.W_U.detach().double().numpy()
    lv, s, rho, _ = numpy_reference(w_out, w_u, k)
    np.testing.assert_allclose(table.logit_var, lv, rtol=1e-9)
    np.testing.assert_allclose(table.rho, rho, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(table.norm, np.linalg.norm(w_out, axis=1), rtol=1e-6)
    _, s_ours = unembed_svd(model.W_U)
    np.testing.assert_allclose(s_ours.numpy(), s, rtol=1e-6, atol=1e-8)
    assert list(table.label[:2]) == [f"{model.cfg.n_layers - 1}.0", f"{model.cfg.n_layers - 1}.1"]


def test_vocab_chunking_does_not_change_results(model):
    w_out = effective_w_out(model)
    np.testing.assert_allclose(logit_var(w_out, model.W_U, chunk=7), logit_var(w_out, model.W_U), rtol=1e-10)


def test_effective_w_out_is_what_reaches_the_residual(model):
    """Raising neuron i by delta moves the final residual by delta * effective_w_out[i].

    With a sandwich norm the move is g⊙(m + delta w)/rms(m + delta w) - g⊙m/rms(m): it lies in the
    plane of g⊙w (= effective_w_out) and the clean normalised MLP output g⊙m/rms(m).
    """
    layer = model.cfg.n_layers - 1
    toks = model.to_tokens("a test sentence for hooks")
    neuron, delta = 5, 1e-2

    def add(act, hook):
        act[..., neuron] += delta
        return act
    diff = (_resid_post(model, toks, layer, add) - _resid_post(model, toks, layer, None))[0].double()
    w_eff = effective_w_out(model, layer)[neuron].double()
    if not hasattr(model.blocks[layer], "ln2_post"):
        torch.testing.assert_close(diff, (delta * w_eff).expand_as(diff), rtol=1e-3, atol=1e-6)
        return
    _, cache = model.run_with_cache(toks)
    normed_m = cache[f"blocks.{layer}.ln2_post.hook_out"][0].double()
    for t in range(diff.shape[0]):
        basis = torch.stack([w_eff, normed_m[t]], dim=1)
        coef = torch.linalg.lstsq(basis, diff[t]).solution
        assert (basis @ coef - diff[t]).norm() < 1e-4 * diff[t].norm()
        assert coef[0] > 0


def _resid_post(model, toks, layer, hook):
    store = {}

    def grab(act, hook):
        store["r"] = act.detach().clone()
    hooks = [(f"blocks.{layer}.hook_resid_post", grab)]
    if hook is not None:
        hooks.insert(0, (f"blocks.{layer}.mlp.hook_post", hook))
    with torch.no_grad():
        model.run_with_hooks(toks, fwd_hooks=hooks)
    return store["r"]


def test_planted_null_space_neuron_has_rho_one():
    """A neuron whose output weight lies in the span of W_U's smallest singular directions has rho = 1."""
    rng = np.random.default_rng(0)
    w_u = torch.tensor(rng.normal(size=(16, 200)))
    u, _ = unembed_svd(w_u)
    w_out = torch.tensor(rng.normal(size=(4, 16)))
    w_out[2] = u[:, -2:] @ torch.tensor([0.6, -0.8], dtype=torch.float64)  # inside the 2-dim null space
    w_out[3] = u[:, 0]  # the top singular direction
    rho = null_space_fraction(w_out, u, k=2)
    assert rho[2] == pytest.approx(1.0, abs=1e-12)
    assert rho[3] == pytest.approx(0.0, abs=1e-12)


def test_out_of_range_inputs_give_clear_errors(model):
    n_layers, d_mlp = model.cfg.n_layers, model.cfg.d_mlp
    assert resolve_layer(model, -1) == n_layers - 1
    with pytest.raises(ParameterError, match=f"out of range.*{n_layers} layers"):
        resolve_layer(model, n_layers)
    with pytest.raises(ParameterError, match=f"valid indices 0..{d_mlp - 1}"):
        check_neurons(model, [0, d_mlp])
    with pytest.raises(ParameterError, match="null-space size"):
        neuron_weight_table(model, k=0)
