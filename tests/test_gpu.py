"""The CUDA code paths against hooked re-runs and against the CPU (run where CUDA is present)."""

import numpy as np
import pytest
import torch

from helpers import activations, induction
from helpers.ablation import ablate, clean_run, hooked_ablation
from helpers.corpus import make_rows
from helpers.models import KNOWN_MODELS, from_hf, load_model, special_tokens
from helpers.unigram import unigram_distribution

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]

TEXT = ["The quick brown fox jumps over the lazy dog. " * 6, "Pack my box with five dozen liquor jugs! " * 6,
        "How vexingly quick daft zebras jump; " * 8]


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-llama", "tiny-random-gemma3"])
def test_engine_on_cuda_matches_hooked_reruns_and_the_cpu(name):
    """The compiled PyTorch kernel on CUDA (its tiles, device moves, float64 dot products with P_freq)."""
    model = load_model(name, device="cuda")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=48, seed=0)
    run = clean_run(model, rows, eval_rows=[0, 2], progress=False)
    p_freq = unigram_distribution(np.bincount(rows.flatten().numpy(), minlength=model.cfg.d_vocab), model.cfg.d_vocab)
    neurons = [0, 5, model.cfg.d_mlp - 1]
    gpu = ablate(model, run, neurons, p_freq=p_freq, progress=False)
    for i, neuron in enumerate(neurons):
        for kind, frozen in (("te", False), ("de", True)):
            ref = hooked_ablation(model, run, neuron, frozen_scale=frozen)
            np.testing.assert_allclose(gpu.per_token[f"loss_{kind}"][i], ref["loss"].cpu().numpy(), atol=1e-4)
            np.testing.assert_allclose(gpu.per_token[f"entropy_{kind}"][i], ref["entropy"].cpu().numpy(), atol=1e-4)
    cpu_model = load_model(name, device="cpu")
    cpu = ablate(cpu_model, clean_run(cpu_model, rows, eval_rows=[0, 2], progress=False), neurons, p_freq=p_freq,
                 progress=False)
    for key in ("loss", "entropy", "loss_te", "loss_de", "entropy_te", "kl", "kl_te", "loss_freq"):
        np.testing.assert_allclose(gpu.per_token[key], cpu.per_token[key], atol=1e-4, err_msg=key)


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-llama"])
def test_fast_bos_ablation_on_cuda_equals_the_naive_way(name):
    model = load_model(name, device="cuda")
    seqs = torch.randint(1, 250, (2, 21), generator=torch.Generator().manual_seed(1))
    seqs[:, 0] = 0
    for heads in ([(0, 1)], [(1, 2)]):
        fast = induction.bos_ablation(model, seqs, heads, neuron=5, progress=False)
        naive = induction.bos_ablation_naive(model, seqs, heads, neuron=5)
        torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-4)


def test_voita_counting_pass_on_cuda_equals_the_cpu(tmp_path):
    from test_voita import planted_opt, text_rows

    hf, tok = planted_opt()
    cpu = from_hf(hf, tok, KNOWN_MODELS["tiny-random-opt"], device="cpu")
    hf2, _ = planted_opt()
    gpu = from_hf(hf2, tok, KNOWN_MODELS["tiny-random-opt"], device="cuda")
    rows = text_rows(tok, 12, 40, seed=3)
    a = activations.count_activations(cpu, rows, bos_id=0, batch_size=4, progress=False, fired_dir=tmp_path / "cpu")
    b = activations.count_activations(gpu, rows, bos_id=0, batch_size=4, progress=False, fired_dir=tmp_path / "gpu")
    for field in ("active", "pos_active", "token_occ", "token_active", "n_rows"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for layer in (0, 1):
        np.testing.assert_array_equal(activations.fired_bits(tmp_path / "cpu", layer),
                                      activations.fired_bits(tmp_path / "gpu", layer))
    neurons = [(0, 6), (1, 3)]
    by_gpu = activations.count_ngrams(gpu, rows, neurons, n=3, threshold=0.0, bos_id=0, progress=False)
    by_cpu = activations.count_ngrams(cpu, rows, neurons, n=3, threshold=0.0, bos_id=0, progress=False)
    assert by_gpu.pairs == by_cpu.pairs and by_gpu.occurrences == by_cpu.occurrences
