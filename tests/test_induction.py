"""The induction case study helpers against hand-made patterns and hook-based re-runs."""

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import induction
from helpers.ablation import token_metrics
from helpers.models import load_model


def test_repeated_sequences_layout():
    rows = torch.arange(5 * 12).reshape(5, 12)
    rows[:, 0] = -1  # BOS
    seqs = induction.repeated_sequences(rows, n=4, n_seqs=3, seed=0)
    assert seqs.shape == (3, 9)
    assert (seqs[:, 0] == -1).all()
    torch.testing.assert_close(seqs[:, 1:5], seqs[:, 5:9])
    picked = np.sort(np.random.default_rng(0).choice(5, 3, replace=False))
    torch.testing.assert_close(seqs[:, 1:5], rows[picked, 1:5])


def test_induction_score_of_a_planted_pattern():
    """Head 1 attends from each second-copy token to the token after its first occurrence (else to
    itself); head 0 always to BOS."""
    seq_len, batch = 5, 2
    t = 2 * seq_len + 1
    patterns = torch.zeros(batch, 2, t, t)
    patterns[:, 0, :, 0] = 1.0
    for q in range(t):
        k = q - (seq_len - 1)
        if q > seq_len and k >= 0:
            patterns[:, 1, q, k] = 1.0
        else:
            patterns[:, 1, q, q] = 1.0
    scores = induction.induction_scores_from_patterns(patterns, seq_len)
    # the diagonal at offset -(seq_len-1) has t - seq_len + 1 = 7 entries (queries 4..10): head 1 puts
    # 1 on the 5 of queries 6..10; head 0 only on (4, 0), the BOS key
    assert scores[1] == pytest.approx(5 / 7) and scores[0] == pytest.approx(1 / 7)


def test_head_scores_cover_every_head():
    model = load_model("tiny-random-llama")
    scores = induction.induction_head_scores(model, n_seqs=4, seq_len=10)
    assert len(scores) == model.cfg.n_layers * model.cfg.n_heads
    assert scores.score.is_monotonic_decreasing and scores.score.between(0, 1).all()


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-gemma3"])
def test_clip_ablation_matches_a_hooked_rerun(name):
    model = load_model(name)
    layer = model.cfg.n_layers - 1
    rows = torch.randint(1, 200, (6, 30), generator=torch.Generator().manual_seed(0))
    rows[:, 0] = 0
    seqs = induction.repeated_sequences(rows, n=12, n_seqs=4, seed=0)
    neurons = [3, 10]
    table = induction.clip_ablation(model, seqs, neurons, progress=False)
    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(seqs)
    acts = cache[f"blocks.{layer}.mlp.hook_post"].double()
    half = seqs.shape[1] // 2
    for neuron in neurons:
        a = acts[:, :-1, neuron]
        mean_first = a[:, :half].mean()
        sign = (a[:, half + 1:].mean() - mean_first) * model.W_out[layer, neuron].norm()

        def clip(act, hook, neuron=neuron):
            bound = mean_first.to(act)
            act[..., neuron] = torch.minimum(act[..., neuron], bound) if sign > 0 else torch.maximum(act[..., neuron], bound)
            return act
        with torch.no_grad():
            logits = model.run_with_hooks(seqs, fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", clip)])
        h_abl = token_metrics(logits[:, :-1], seqs[:, 1:])["entropy"]
        h_clean = token_metrics(clean_logits[:, :-1], seqs[:, 1:])["entropy"]
        expected = (h_abl / h_clean).mean(0).numpy()
        mine = table[table.neuron == neuron].sort_values("pos")
        np.testing.assert_allclose(mine.entropy_ratio_te.to_numpy(), expected, rtol=1e-4, atol=1e-5)
        assert np.sign(mine.sign.iloc[0]) == np.sign(float(sign))


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-llama", "tiny-random-gemma3"])
def test_fast_bos_ablation_equals_one_forward_pass_per_position(name):
    model = load_model(name)
    length = 15 if name.endswith("gemma3") else 21  # tiny Gemma's sliding window is 16
    seqs = torch.randint(1, 250, (2, length), generator=torch.Generator().manual_seed(1))
    seqs[:, 0] = 0
    for heads in ([(0, 1)], [(0, 2), (1, 3)]):
        fast = induction.bos_ablation(model, seqs, heads, neuron=5, progress=False)
        naive = induction.bos_ablation_naive(model, seqs, heads, neuron=5)
        torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-4)
    # and the ablation matters: without it the activations differ
    layer = model.cfg.n_layers - 1
    with torch.no_grad():
        _, cache = model.run_with_cache(seqs)
    clean = cache[f"blocks.{layer}.mlp.hook_post"][:, 1:, 5]
    assert (clean - naive).abs().max() > 1e-3


def test_natural_repeats_follow_the_rules():
    bos = 0
    row = [bos, 9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 9, 9, 9]
    #            ^ 1..6 at index 2 ........ and again at index 10, then 7 follows
    found = induction.natural_repeats(torch.tensor([row]), banned={bos}, n=6)
    assert found.to_dict("records") == [{"row": 0, "first": 2, "second": 10}]
    touching = [bos, 1, 2, 3, 1, 2, 3, 5]  # occurrences back to back: rejected
    assert induction.natural_repeats(torch.tensor([touching]), banned={bos}, n=3).empty
    thrice = [bos, 1, 2, 3, 8, 1, 2, 3, 9, 1, 2, 3, 10, 11]  # no 3-gram occurs exactly twice
    assert induction.natural_repeats(torch.tensor([thrice]), banned={bos}, n=3).empty
    with_banned = [bos, 1, 2, 77, 4, 5, 1, 2, 77, 4, 6]
    assert induction.natural_repeats(torch.tensor([with_banned]), banned={bos, 77}, n=4).empty


def test_activation_differences_by_hand():
    model = load_model("tiny-random-gpt2")
    layer = model.cfg.n_layers - 1
    gen = torch.Generator().manual_seed(3)
    synthetic = induction.repeated_sequences(torch.randint(1, 200, (4, 20), generator=gen), n=8, n_seqs=3, seed=0)
    rows = torch.randint(1, 200, (2, 30), generator=gen)
    repeats = pd.DataFrame({"row": [1], "first": [3], "second": [15]})
    table = induction.activation_differences(model, synthetic, rows, repeats, n=4)
    with torch.no_grad():
        _, syn = model.run_with_cache(synthetic)
        _, nat = model.run_with_cache(rows[1:2])
    a = syn[f"blocks.{layer}.mlp.hook_post"].double()
    expected = a[:, 9:].mean(dim=(0, 1)) - a[:, :8].mean(dim=(0, 1))
    np.testing.assert_allclose(table.d_syn, expected.numpy(), atol=1e-6)
    b = nat[f"blocks.{layer}.mlp.hook_post"][0].double()
    np.testing.assert_allclose(table.d_nat, (b[15:20].mean(0) - b[3:8].mean(0)).numpy(), atol=1e-6)
