"""The closed-form ablation engine against a hook-based re-run of the model, float64 and hand references."""

import numpy as np
import pytest
import torch

from helpers import tiny
from helpers.ablation import (
    ablate,
    authors_ablation,
    authors_way_applies,
    clean_run,
    final_norm_scale,
    hooked_ablation,
    token_metrics,
)
from helpers.corpus import make_rows
from helpers.errors import ParameterError
from helpers.models import KNOWN_MODELS, from_hf, load_model, special_tokens
from helpers.unigram import frequency_direction, unigram_distribution

TEXT = ["The quick brown fox jumps over the lazy dog. " * 6, "Pack my box with five dozen liquor jugs! " * 6,
        "How vexingly quick daft zebras jump; " * 8]


@pytest.fixture(scope="module", params=["tiny-random-gpt2", "tiny-random-llama", "tiny-random-gemma3"])
def setup(request):
    model = load_model(request.param, device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    run = clean_run(model, rows, eval_rows=[0, 2], progress=False)
    result = ablate(model, run, compile=False, progress=False)
    return model, run, result


def test_every_final_layer_neuron_matches_hooked_rerun(setup):
    """TE: the neuron set to its mean by a hook. DE: the same with ln_final.hook_scale pinned to its clean value."""
    model, run, result = setup
    assert result.neurons == list(range(model.cfg.d_mlp))
    for i, neuron in enumerate(result.neurons):
        for kind, frozen in (("te", False), ("de", True)):
            ref = hooked_ablation(model, run, neuron, frozen_scale=frozen)
            np.testing.assert_allclose(result.per_token[f"loss_{kind}"][i], ref["loss"].numpy(), atol=1e-4)
            np.testing.assert_allclose(result.per_token[f"entropy_{kind}"][i], ref["entropy"].numpy(), atol=1e-4)
        # a rank may differ only where two logits tie to float precision
        rank_diff = np.abs(1 / result.per_token["rr_te"][i] - 1 / ref_rr(model, run, neuron))
        assert (rank_diff < 0.5).mean() > 0.98 and (rank_diff < 1.5).all()


def ref_rr(model, run, neuron):
    return hooked_ablation(model, run, neuron, frozen_scale=False)["rr"].numpy().astype(np.float32)


def test_clean_metrics_match_the_model(setup):
    model, run, result = setup
    with torch.no_grad():
        logits = model(run.rows)
    ref = token_metrics(logits[run.positions[:, 0], run.positions[:, 1]], run.targets)
    np.testing.assert_allclose(result.per_token["loss"], ref["loss"].numpy(), atol=1e-4)
    np.testing.assert_allclose(result.per_token["entropy"], ref["entropy"].numpy(), atol=1e-4)


def test_direct_and_total_effects_differ(setup):
    """Guards the DE test above: freezing the scale must matter, or that test could not fail."""
    _, _, result = setup
    assert np.abs(result.per_token["loss_te"] - result.per_token["loss_de"]).max() > 1e-3


def test_means_are_over_every_token_of_every_row(setup):
    """ā is the mean over all positions (BOS included) of all rows, not only the evaluated or filtered ones."""
    model, run, _ = setup
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    with torch.no_grad():
        _, cache = model.run_with_cache(rows)
    acts = cache[f"blocks.{model.cfg.n_layers - 1}.mlp.hook_post"].double()
    torch.testing.assert_close(run.mean_acts.double(), acts.mean(dim=(0, 1)), rtol=1e-5, atol=1e-6)
    wrong = acts[[0, 2]].mean(dim=(0, 1))  # the evaluated rows only
    assert (run.mean_acts.double() - wrong).abs().max() > 1e-4


def test_float64_by_hand_for_one_pair(setup):
    """r' = r + δ w (through the sandwich norm for Gemma), re-normalised and unembedded in float64."""
    model, run, result = setup
    layer, neuron, t = run.layer, 3, 5
    w_u, b_u = model.W_U.detach().double(), model.b_U.detach().double()
    w = model.W_out[layer, neuron].detach().double()
    delta = float(run.mean_acts[neuron] - run.acts[t, neuron])
    r = run.resid[t].double()
    block = model.blocks[layer]
    eps = model.cfg.eps
    if hasattr(block, "ln2_post"):
        m = run.mlp_out[t].double()
        g = block.ln2_post(torch.ones(1, 1, w.shape[0]))[0, 0].double() * (1 + eps) ** 0.5
        rms = lambda x: (x.pow(2).mean() + eps).sqrt()  # noqa: E731
        r = r - g * m / rms(m) + g * (m + delta * w) / rms(m + delta * w)
    else:
        r = r + delta * w
    if model.cfg.normalization_type == "LN":
        r = r - r.mean()
    z = r / (r.pow(2).mean() + eps).sqrt() @ w_u + b_u
    ref = token_metrics(z[None], run.targets[t:t + 1])
    assert result.per_token["loss_te"][neuron, t] == pytest.approx(ref["loss"].item(), abs=2e-5)
    assert result.per_token["entropy_te"][neuron, t] == pytest.approx(ref["entropy"].item(), abs=2e-5)


def test_compiled_kernel_equals_eager(setup):
    model, run, result = setup
    if model.cfg.repro_spec.location != "gemma3":
        pytest.skip("one architecture is enough for the compiled path (compilation takes ~20 s)")
    compiled = ablate(model, run, neurons=range(40), compile=True, progress=False)
    for key in ("loss_te", "entropy_te", "loss_de", "entropy_de"):
        np.testing.assert_allclose(compiled.per_token[key], result.per_token[key][:40], atol=1e-5)


def test_authors_way_applies_exactly_where_it_runs(setup):
    """Checked up front (bench_ablation skips baseline (b) by it): False for the sandwich norm of
    tiny-random-gemma3 only, and there authors_ablation refuses; elsewhere it runs."""
    model, run, _ = setup
    applies = authors_way_applies(model)
    assert applies == (model.cfg.repro_spec.location != "gemma3")
    if applies:
        assert len(authors_ablation(model, run, [0])) > 0
    else:
        with pytest.raises(NotImplementedError, match="sandwich"):
            authors_ablation(model, run, [0])


def test_authors_way_agrees(setup):
    model, run, result = setup
    if not authors_way_applies(model):
        pytest.skip("the authors' code has no sandwich-norm path")
    frame = authors_ablation(model, run, [0, 7, 21])
    te = frame[frame.kind == "te"]
    for n in [0, 7, 21]:
        np.testing.assert_allclose(te[te.neuron == n].loss.to_numpy(), result.per_token["loss_te"][n], atol=1e-4)


def test_summary_ln_fraction_definition(setup):
    """1 − mean|ΔL_DE| / mean|ΔL_TE|: absolute values per token, averaged per neuron, then divided."""
    _, _, result = setup
    summary = result.summary()
    pt = result.per_token
    n = 11
    te = np.mean(np.abs(pt["loss_te"][n] - pt["loss"]))
    de = np.mean(np.abs(pt["loss_de"][n] - pt["loss"]))
    assert summary.ln_fraction[n] == pytest.approx(1 - de / te)
    assert summary.pred_change[n] == pytest.approx(pt["pred_change"][n].mean())


# --------------------------------------------------------------------------------------------
# Models the closed form refuses
# --------------------------------------------------------------------------------------------


def _tiny_with(arch: str, **config):
    """The tiny ``arch`` model with its Hugging Face config changed before the bridge reads it."""
    hf, tok = tiny.build(arch)
    for key, value in config.items():
        setattr(hf.config, key, value)
    if arch == "opt" and config.get("do_layer_norm_before") is False or config.get("_remove_final_layer_norm"):
        hf.model.decoder.final_layer_norm = None  # what OPTDecoder builds for these configs
    return from_hf(hf, tok, KNOWN_MODELS[f"tiny-random-{arch}"])


def test_soft_capped_logits_are_refused_and_would_be_wrong():
    model = _tiny_with("gemma3", final_logit_softcapping=0.1)
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    with pytest.raises(ParameterError, match=r"'tiny-random-gemma3' soft-caps its output logits.*hooked_ablation"):
        clean_run(model, rows, eval_rows=[0], progress=False)
    # Without the check the closed form ignores c·tanh(z/c): far from a hooked re-run.
    import helpers.ablation as ablation_module
    original = ablation_module.check_closed_form
    ablation_module.check_closed_form = lambda model: None
    try:
        run = clean_run(model, rows, eval_rows=[0], progress=False)
        result = ablate(model, run, neurons=[3], compile=False, progress=False)
    finally:
        ablation_module.check_closed_form = original
    ref = hooked_ablation(model, run, 3, frozen_scale=False)
    assert np.abs(result.per_token["loss_te"][0] - ref["loss"].numpy()).max() > 1e-3  # exact to ~1e-5 otherwise
    with pytest.raises(ParameterError, match="soft-caps"):
        ablate(model, run, neurons=[3], compile=False, progress=False)


@pytest.mark.parametrize("config, message", [
    ({"do_layer_norm_before": False}, r"'tiny-random-opt' is post-LN.*opt-125m"),
    ({"_remove_final_layer_norm": True}, r"'tiny-random-opt' has no final norm"),
])
def test_post_ln_and_missing_final_norm_are_refused(config, message):
    model = _tiny_with("opt", **config)
    rows = torch.randint(1, 250, (2, 16), generator=torch.Generator().manual_seed(0))
    rows[:, 0] = 0
    with pytest.raises(ParameterError, match=message):
        clean_run(model, rows, eval_rows=[0], progress=False)


# --------------------------------------------------------------------------------------------
# Prediction change, reciprocal rank, the authors' DE, the frequency metrics
# --------------------------------------------------------------------------------------------


def _clean_logits(model, run):
    with torch.no_grad():
        logits = model(run.rows)
    return logits[run.positions[:, 0], run.positions[:, 1]].double()


def _near_tie(logits: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """Tokens whose two largest logits are within ``tol``: their argmax is decided by rounding."""
    top2 = logits.topk(2, dim=-1).values
    return (top2[..., 0] - top2[..., 1]) < tol


def test_prediction_change_and_clean_rank_match_full_logits(setup):
    """pred_change = argmax of the hooked re-run's logits ≠ argmax of the clean logits; the clean
    reciprocal rank = 1 / (1 + #tokens whose clean logit beats the target's), both from full logits."""
    model, run, result = setup
    clean = _clean_logits(model, run)
    targets = run.targets
    target_logit = clean.gather(-1, targets[:, None])
    rank = (clean > target_logit).sum(-1)
    rank_tie = ((clean - target_logit).abs() < 1e-5).sum(-1) > 1  # the target ties another token
    ok = ~rank_tie
    assert ok.float().mean() > 0.95
    np.testing.assert_allclose(result.per_token["rr"][ok.numpy()], (1.0 / (1 + rank[ok].double())).numpy(), rtol=1e-6)
    changed_any = 0
    for neuron in (0, 7, 21, 40, 63):
        i = result.neurons.index(neuron)
        ablated = hooked_ablation(model, run, neuron, frozen_scale=False)["argmax"]
        reference = (ablated != clean.argmax(-1)).numpy()
        decided = ~(_near_tie(clean) | _near_tie(hooked_logits(model, run, neuron))).numpy()
        np.testing.assert_array_equal(result.per_token["pred_change"][i][decided], reference[decided])
        changed_any += int(reference.sum())
    assert changed_any > 0  # the comparison must see some changed predictions, or it could not fail


def hooked_logits(model, run, neuron: int) -> torch.Tensor:
    """Full logits of the evaluated tokens with ``neuron`` set to its mean by a hook (float64)."""
    def set_mean(act, hook):
        act[..., neuron] = run.mean_acts[neuron].to(act)
        return act
    with torch.no_grad():
        logits = model.run_with_hooks(run.rows, fwd_hooks=[(f"blocks.{run.layer}.mlp.hook_post", set_mean)])
    return logits[run.positions[:, 0], run.positions[:, 1]].double()


def test_authors_direct_effect_matches_hooked_rerun_with_frozen_scale(setup):
    model, run, _ = setup
    if not authors_way_applies(model):
        pytest.skip("the authors' code has no sandwich-norm path")
    neurons = [0, 7, 21]
    frame = authors_ablation(model, run, neurons)
    de = frame[frame.kind == "de"]
    scale = final_norm_scale(model, run.rows)
    for n in neurons:
        ref = hooked_ablation(model, run, n, frozen_scale=True, clean_scale=scale)
        mine = de[de.neuron == n].sort_values("row", kind="stable")
        np.testing.assert_allclose(mine.loss.to_numpy(), ref["loss"].numpy(), atol=1e-4)
        np.testing.assert_allclose(mine.entropy.to_numpy(), ref["entropy"].numpy(), atol=1e-4)
        te = hooked_ablation(model, run, n, frozen_scale=False)
        assert np.abs(mine.loss.to_numpy() - te["loss"].numpy()).max() > 1e-4  # DE is not TE here


def test_compiled_frequency_metrics_match_a_float64_reference():
    """kl_te = D_KL(P_freq ‖ P_model) of the ablated model, computed as the authors with torch's
    kl_div; loss_freq = the loss with the TE logits' component along u_freq reset to the clean one."""
    neurons = [2, 11, 30]
    hf, tok = tiny.build("llama")
    with torch.no_grad():  # large output weights: effects far above the tolerance
        hf.model.layers[-1].mlp.down_proj.weight[:, neurons] *= 40
    model = from_hf(hf, tok, KNOWN_MODELS["tiny-random-llama"])
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    run = clean_run(model, rows, eval_rows=[1], progress=False)
    counts = torch.arange(model.cfg.d_vocab, dtype=torch.float64).remainder(17) ** 3  # a skewed P_freq
    p_freq = unigram_distribution(counts.numpy(), model.cfg.d_vocab)
    result = ablate(model, run, neurons, p_freq=p_freq, compile=True, progress=False)
    u_freq = frequency_direction(p_freq)
    clean = _clean_logits(model, run)
    log_p = p_freq.log()
    for i, n in enumerate(neurons):
        te = hooked_logits(model, run, n)
        kl = torch.nn.functional.kl_div(te.log_softmax(-1), log_p.expand_as(te), reduction="none",
                                        log_target=True).sum(-1)
        np.testing.assert_allclose(result.per_token["kl_te"][i], kl.numpy(), atol=1e-4)
        reset = te + ((clean - te) @ u_freq)[:, None] * u_freq  # component along u_freq back to clean
        loss_freq = -reset.log_softmax(-1).gather(-1, run.targets[:, None])[:, 0]
        np.testing.assert_allclose(result.per_token["loss_freq"][i], loss_freq.numpy(), atol=1e-4)
        # the frequency reset matters at 10x the tolerance, or the comparison could not fail
        assert np.abs(result.per_token["loss_freq"][i] - result.per_token["loss_te"][i]).max() > 1e-3
        assert np.abs(result.per_token["kl_te"][i] - result.per_token["kl"]).max() > 1e-3
    kl_clean = torch.nn.functional.kl_div(clean.log_softmax(-1), log_p.expand_as(clean), reduction="none",
                                          log_target=True).sum(-1)
    np.testing.assert_allclose(result.per_token["kl"], kl_clean.numpy(), atol=1e-4)


@pytest.mark.slow
def test_closed_form_matches_hooked_reruns_on_smollm2():
    """The registry model (LLaMA architecture, RMSNorm): TE and DE loss and entropy of a few neurons
    within 1e-4 nats of hooked re-runs."""
    model = load_model("smollm2-135m", device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT * 3, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=64, seed=0)
    run = clean_run(model, rows, eval_rows=[0, 1], progress=False)
    neurons = [0, 100, 777, 1500]
    result = ablate(model, run, neurons, compile=False, progress=False)
    scale = final_norm_scale(model, run.rows)
    for i, n in enumerate(neurons):
        for kind, frozen in (("te", False), ("de", True)):
            ref = hooked_ablation(model, run, n, frozen_scale=frozen, clean_scale=scale if frozen else None)
            np.testing.assert_allclose(result.per_token[f"loss_{kind}"][i], ref["loss"].numpy(), atol=1e-4)
            np.testing.assert_allclose(result.per_token[f"entropy_{kind}"][i], ref["entropy"].numpy(), atol=1e-4)
