"""The C++ vocabulary kernel (helpers.vocab_kernel) against the PyTorch reference kernel and hooked re-runs."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.utils.cpp_extension

from helpers import vocab_kernel
from helpers.ablation import _vocab_stats, ablate, clean_run, hooked_ablation
from helpers.corpus import make_rows
from helpers.models import load_model, special_tokens
from helpers.unigram import unigram_distribution


def test_kernel_builds_in_the_suite_cache_keyed_by_its_inputs(tmp_path: Path, monkeypatch) -> None:
    """Built in torch's one folder per machine, the kernel was rebuilt in turn by every checkout
    with another source; now each cache root, and each source, has its own build folder."""
    calls: list[dict] = []
    monkeypatch.setattr(torch.utils.cpp_extension, "load_inline", lambda **kw: calls.append(kw) or "built")

    def build(root: Path, source: str = vocab_kernel._SOURCE) -> Path:
        monkeypatch.setenv("NEURON_REPRO_CACHE", str(root))
        monkeypatch.setattr(vocab_kernel, "_MODULE", [])
        monkeypatch.setattr(vocab_kernel, "_SOURCE", source)
        assert vocab_kernel.module() == "built"
        return Path(calls[-1]["build_directory"])

    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert a.is_dir() and a.parent == tmp_path / "a" / "torch_extensions"
    assert b.is_dir() and b.parent == tmp_path / "b" / "torch_extensions"
    assert a.name == b.name  # same inputs, same key
    assert build(tmp_path / "a") == a  # found again
    assert build(tmp_path / "a", vocab_kernel._SOURCE + "// edited\n") not in (a, b)  # an edited source: a new folder


NAMES = ("lse_te", "entropy_te", "argmax_te", "n_above_te", "lse_de", "entropy_de", "lse_freq")


@pytest.fixture(scope="module")
def cpp():
    module = vocab_kernel.module()
    if module is None:
        pytest.skip("no C++ compiler here: the kernel falls back to PyTorch")
    return module


def random_case(n_vocab: int, n: int, m: int, seed: int) -> dict[str, torch.Tensor]:
    """Logit pieces with a planted tie for the maximum and targets at both ends of the vocabulary."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, n_vocab, generator=g) * 3
    a[0, [5, n_vocab - 3]] = 40.0  # token 0: two equal maxima, far apart: the first must win
    a[1, n_vocab - 1] = 200.0  # token 1: a logit far above the others, late: past the kernel's safe shift
    case = dict(a=a, q=torch.randn(m, n_vocab, generator=g), b=torch.randn(n, n_vocab, generator=g) * 0.5,
                bias=torch.randn(n_vocab, generator=g) * 0.2, u=torch.randn(n_vocab, generator=g) * 0.1,
                alpha=torch.randn(n, m, generator=g) * 0.1, beta=torch.randn(n, m, generator=g) * 2,
                inv_te=1 + 0.2 * torch.rand(n, m, generator=g), inv_de=1 + 0.2 * torch.rand(n, m, generator=g),
                c=torch.randn(n, m, generator=g))
    case["beta"][:, 0] = 0  # keep token 0's tie exact
    case["alpha"][:, 0] = 0
    case["bias"][n_vocab - 3] = case["bias"][5]
    tid = torch.randint(0, n_vocab, (m,), generator=g)
    tid[2], tid[3] = 0, n_vocab - 1
    case["tid"] = tid
    return case


def run_cpp(cpp, case, with_q: bool, with_freq: bool, block=(3, 5), chunk=128):
    pad, none = vocab_kernel.pad_vocab, torch.empty(0)
    n, m = case["beta"].shape
    ar = torch.arange(m)
    q = case["q"] if with_q else torch.zeros_like(case["q"])
    u_y = case["a"][ar, case["tid"]] + case["alpha"] * q[ar, case["tid"]] + case["beta"] * case["b"][:, case["tid"]]
    target = u_y * case["inv_te"] + case["bias"][case["tid"]]
    out = [torch.empty(n, m), torch.empty(n, m), torch.empty(n, m, dtype=torch.long),
           torch.empty(n, m, dtype=torch.long), torch.empty(n, m), torch.empty(n, m),
           torch.empty(n, m) if with_freq else none]
    cpp.vocab_stats([pad(case["a"]), pad(q) if with_q else none, pad(case["b"]), pad(case["bias"], vocab_kernel.PAD_BIAS),
                     pad(case["u"]) if with_freq else none, case["alpha"], case["beta"], case["inv_te"],
                     case["inv_de"], target, case["c"] if with_freq else none, case["tid"]], out, *block, chunk)
    ref = _vocab_stats(case["a"], q, case["b"], case["bias"], case["alpha"], case["beta"], case["inv_te"],
                       case["inv_de"], target, case["tid"], case["u"] if with_freq else None,
                       case["c"] if with_freq else None)
    ref_names = (("lse_te", "entropy_te", "argmax_te", "n_above_te") + (("lse_freq",) if with_freq else ())
                 + ("lse_de", "entropy_de"))
    return dict(zip(NAMES, out)), dict(zip(ref_names, ref))


@pytest.mark.parametrize("n_vocab", [1000, 4096])
@pytest.mark.parametrize("with_q,with_freq", [(False, False), (True, False), (False, True), (True, True)])
def test_kernel_matches_the_pytorch_reference(cpp, n_vocab, with_q, with_freq):
    """Every output, every variant (sandwich term, frequency term), a vocabulary that is not a multiple of
    the vector width, many chunks, blocks that do not divide the pairs, a tie, a logit 200 nats up."""
    case = random_case(n_vocab, n=7, m=13, seed=n_vocab)
    mine, ref = run_cpp(cpp, case, with_q, with_freq)
    for key in ref:
        if key in ("argmax_te", "n_above_te"):
            torch.testing.assert_close(mine[key], ref[key], rtol=0, atol=0)
        else:
            torch.testing.assert_close(mine[key].double(), ref[key].double(), rtol=0, atol=2e-5)
    assert (mine["argmax_te"][:, 0] == 5).all()  # the first of the two equal maxima
    assert (mine["argmax_te"][:, 1] == n_vocab - 1).all()


def test_kernel_does_not_depend_on_tiles(cpp):
    case = random_case(2000, n=9, m=11, seed=1)
    first, _ = run_cpp(cpp, case, True, True, block=(1, 1), chunk=64)
    second, _ = run_cpp(cpp, case, True, True, block=(16, 16), chunk=1024)
    for key in NAMES:
        torch.testing.assert_close(first[key].double(), second[key].double(), rtol=0, atol=1e-5)


TEXT = ["The quick brown fox jumps over the lazy dog. " * 6, "Pack my box with five dozen liquor jugs! " * 6,
        "How vexingly quick daft zebras jump; " * 8]


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-llama", "tiny-random-gemma3"])
def test_fast_ablation_matches_hooked_reruns(cpp, name):
    """ablate() on its default (C++) path against one hooked forward pass per neuron and effect, and
    against the eager PyTorch path for the frequency outputs (KL, frequency-frozen loss)."""
    model = load_model(name, device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    run = clean_run(model, rows, eval_rows=[0, 2], progress=False)
    neurons = [0, 3, 17, model.cfg.d_mlp - 1]
    p_freq = unigram_distribution(np.bincount(rows.flatten().numpy(), minlength=model.cfg.d_vocab), model.cfg.d_vocab)
    fast = ablate(model, run, neurons, p_freq=p_freq, progress=False)
    eager = ablate(model, run, neurons, p_freq=p_freq, compile=False, progress=False)
    for i, neuron in enumerate(neurons):
        for kind, frozen in (("te", False), ("de", True)):
            ref = hooked_ablation(model, run, neuron, frozen_scale=frozen)
            np.testing.assert_allclose(fast.per_token[f"loss_{kind}"][i], ref["loss"].numpy(), atol=1e-4)
            np.testing.assert_allclose(fast.per_token[f"entropy_{kind}"][i], ref["entropy"].numpy(), atol=1e-4)
    for key in ("loss", "entropy", "kl", "kl_te", "loss_freq", "loss_te", "rr", "rr_te"):
        np.testing.assert_allclose(fast.per_token[key], eager.per_token[key], atol=1e-5, err_msg=key)
    np.testing.assert_array_equal(fast.per_token["pred_change"], eager.per_token["pred_change"])


def test_clean_pass_stops_before_the_unembedding():
    """The clean pass needs the final residual, not the logits (Gemma's unembedding was 25 s of a sweep)."""
    model = load_model("tiny-random-llama", device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    reference = clean_run(model, rows, eval_rows=[0, 2], progress=False)

    def fail(module, args, out):
        raise AssertionError("the unembedding ran")

    handle = model.unembed.register_forward_hook(fail)
    try:
        run = clean_run(model, rows, eval_rows=[0, 2], progress=False)
    finally:
        handle.remove()
    torch.testing.assert_close(run.resid, reference.resid)
    torch.testing.assert_close(run.mean_acts, reference.mean_acts)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma-3-270m"])
def test_registry_models_match_hooked_reruns(cpp, name):
    """The real vocabularies (49,152 and 262,144 entries; Gemma's sandwich norms) on the C++ path."""
    from helpers.corpus import load_documents

    model = load_model(name, device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, load_documents("wikipedia-sample"), bos_id=st.bos_id, eos_id=st.eos_id,
                     n_rows=4, seq_len=64, seed=42)
    run = clean_run(model, rows, eval_rows=[1], progress=False)
    neurons = [7, model.cfg.d_mlp - 3]
    fast = ablate(model, run, neurons, progress=False)
    for i, neuron in enumerate(neurons):
        for kind, frozen in (("te", False), ("de", True)):
            ref = hooked_ablation(model, run, neuron, frozen_scale=frozen)
            np.testing.assert_allclose(fast.per_token[f"loss_{kind}"][i], ref["loss"].numpy(), atol=1e-4)
            np.testing.assert_allclose(fast.per_token[f"entropy_{kind}"][i], ref["entropy"].numpy(), atol=1e-4)
