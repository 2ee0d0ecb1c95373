"""The induction case study helpers against hand-made patterns and hook-based re-runs."""

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import induction
from helpers.ablation import token_metrics
from helpers.errors import ParameterError
from helpers.models import load_model
from helpers.weights import effective_w_out


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


def test_copy_windows_are_the_authors():
    """BOS + a + a with n = 4 (9 positions): the authors' pos < n + 1, pos >= n + 1 and pos < max_pos / 2."""
    first, second, clip = induction.copy_windows(9)
    assert first.nonzero()[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert second.nonzero()[:, 0].tolist() == [5, 6, 7, 8]
    assert clip.nonzero()[:, 0].tolist() == [0, 1, 2, 3]
    with pytest.raises(ParameterError):
        induction.copy_windows(10)


def test_clip_values_by_hand():
    """Two sequences of 9 positions (n = 4), one neuron, ‖w‖ = 2. Activations are 0 except at the
    last token of the first copy (pos 4), at the last position (pos 8), and once inside the clip
    window: the two positions a window off by one misses decide the sign here (without them,
    d = (0 − 0.1) · 2 < 0: the opposite clip)."""
    acts = torch.zeros(2, 9, 1)
    acts[:, 4, 0] = 2.0
    acts[:, 8, 0] = 3.0
    acts[0, 1, 0] = 0.8  # inside the clip window (pos < 4)
    clip_mean, sign = induction.clip_values(acts, torch.tensor([2.0]))
    assert clip_mean.item() == pytest.approx(0.8 / 8)  # pos 0..3 of both sequences
    first = (2 * 2.0 + 0.8) / 10  # pos 0..4 of both sequences: 0.48
    second = 2 * 3.0 / 8  # pos 5..8: 0.75
    assert sign.item() == pytest.approx((second - first) * 2.0) and sign.item() > 0


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-gemma3"])
def test_clip_ablation_matches_a_hooked_rerun(name):
    """ā and d from all sequences (positions picked by explicit index ranges, independently of the
    code's masks), the ablation on the first n_ablate only, checked against a hooked re-run."""
    model = load_model(name)
    layer = model.cfg.n_layers - 1
    rows = torch.randint(1, 200, (8, 30), generator=torch.Generator().manual_seed(0))
    rows[:, 0] = 0
    n = 12
    seqs = induction.repeated_sequences(rows, n=n, n_seqs=6, seed=0)  # 25 positions
    neurons, n_ablate = [3, 10, 17], 2
    table = induction.clip_ablation(model, seqs, neurons, n_ablate=n_ablate, progress=False)
    with torch.no_grad():
        _, cache = model.run_with_cache(seqs)
    acts = cache[f"blocks.{layer}.mlp.hook_post"].double()
    norms = effective_w_out(model, layer).double().norm(dim=-1)
    ablated = seqs[:n_ablate]
    with torch.no_grad():
        clean_logits = model(ablated)
    for neuron in neurons:
        a = acts[..., neuron]
        clip_value = a[:, 0:n].mean()  # positions 0..n-1 of all 6 sequences
        sign = (a[:, n + 1:2 * n + 1].mean() - a[:, 0:n + 1].mean()) * norms[neuron]
        mine = table[table.neuron == neuron].sort_values("pos")
        assert mine.clip_value.iloc[0] == pytest.approx(float(clip_value), rel=1e-6)
        assert mine.sign.iloc[0] == pytest.approx(float(sign), rel=1e-5, abs=1e-9)
        only_ablated = a[:n_ablate, 0:n].mean()  # what the page computed before: means of the ablated ones only
        assert abs(float(only_ablated - clip_value)) > 1e-4

        def clip(act, hook, neuron=neuron):
            bound = clip_value.to(act)
            act[..., neuron] = torch.minimum(act[..., neuron], bound) if sign > 0 else torch.maximum(act[..., neuron], bound)
            return act
        with torch.no_grad():
            logits = model.run_with_hooks(ablated, fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", clip)])
        h_abl = token_metrics(logits[:, :-1], ablated[:, 1:])["entropy"]
        h_clean = token_metrics(clean_logits[:, :-1], ablated[:, 1:])["entropy"]
        expected = (h_abl / h_clean).mean(0).numpy()
        np.testing.assert_allclose(mine.entropy_ratio_te.to_numpy(), expected, rtol=1e-4, atol=1e-5)


def test_clip_ablation_reuses_given_statistics():
    model = load_model("tiny-random-gpt2")
    rows = torch.randint(1, 200, (4, 20), generator=torch.Generator().manual_seed(2))
    seqs = induction.repeated_sequences(rows, n=6, n_seqs=4, seed=0)
    stats = induction.clip_statistics(model, seqs, [1, 2], progress=False)
    stats.loc[stats.neuron == 1, "clip_value"] = 123.0
    table = induction.clip_ablation(model, seqs, [1], n_ablate=2, stats=stats, progress=False)
    assert (table.clip_value == 123.0).all()
    with pytest.raises(ParameterError, match="lack neurons"):
        induction.clip_ablation(model, seqs, [5], n_ablate=2, stats=stats, progress=False)
    with pytest.raises(ParameterError, match="n_ablate"):
        induction.clip_ablation(model, seqs, [1], n_ablate=5, progress=False)


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


def test_fast_bos_ablation_refuses_a_sequence_as_long_as_the_sliding_window():
    """Tiny Gemma 3's window is 16: at T = 16 the cached sequence plus the new tokens exceed it and
    the sliding-window layer would drop BOS (2.3e-2 off before this check); the reference still runs."""
    model = load_model("tiny-random-gemma3")
    window = model.original_model.config.sliding_window
    seqs = torch.randint(1, 250, (1, window), generator=torch.Generator().manual_seed(1))
    seqs[:, 0] = 0
    with pytest.raises(ParameterError, match="sliding attention window"):
        induction.bos_ablation(model, seqs, [(0, 1)], neuron=5, progress=False)
    short = seqs[:, :window - 1]
    torch.testing.assert_close(induction.bos_ablation(model, short, [(0, 1)], neuron=5, progress=False),
                               induction.bos_ablation_naive(model, short, [(0, 1)], neuron=5), rtol=1e-4, atol=1e-4)


def test_natural_repeats_follow_the_rules():
    bos = 0
    row = [bos, 9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 9, 9, 9]
    #            ^ 1..6 at index 2 ........ and again at index 10, then 7 follows
    found = induction.natural_repeats(torch.tensor([row]), banned={bos}, bos_id=bos, n=6)
    assert found.to_dict("records") == [{"row": 0, "first": 2, "second": 10}]
    touching = [bos, 1, 2, 3, 1, 2, 3, 5]  # occurrences back to back: rejected
    assert induction.natural_repeats(torch.tensor([touching]), banned={bos}, bos_id=bos, n=3).empty
    thrice = [bos, 1, 2, 3, 8, 1, 2, 3, 9, 1, 2, 3, 10, 11]  # the first repeated 3-gram occurs 3 times
    assert induction.natural_repeats(torch.tensor([thrice]), banned={bos}, bos_id=bos, n=3).empty
    with_banned = [bos, 1, 2, 77, 4, 5, 1, 2, 77, 4, 6]
    assert induction.natural_repeats(torch.tensor([with_banned]), banned={bos, 77}, bos_id=bos, n=4).empty


def test_natural_repeats_choose_as_the_authors():
    """The authors' choice (get_natural_induction_data / add_induction_info), row by row."""
    bos = 0

    def found(row, n):
        return induction.natural_repeats(torch.tensor([row]), banned={bos}, bos_id=bos, n=n).to_dict("records")

    # a row with a second BOS (a document break) is skipped, although 1 2 3 repeats
    assert found([bos, 1, 2, 3, 9, 1, 2, 3, 8, bos, 7], n=3) == []
    # the n-gram with the earliest FIRST occurrence: (1, 2) at 1 and 9, not (5, 6) at 3 and 6
    assert found([bos, 1, 2, 5, 6, 9, 5, 6, 10, 1, 2, 11], n=2) == [{"row": 0, "first": 1, "second": 9}]
    # that n-gram occurs 3 times: the row is dropped, (5, 6) is not tried instead
    assert found([bos, 1, 2, 5, 6, 1, 2, 9, 5, 6, 7, 1, 2, 8], n=2) == []
    # that n-gram's occurrences touch: the row is dropped, (5, 6) is not tried instead
    assert found([bos, 1, 2, 1, 2, 5, 6, 9, 5, 6, 4], n=2) == []
    # a second occurrence that ends the row is kept (the authors keep it)
    assert found([bos, 1, 2, 3, 9, 1, 2, 3], n=3) == [{"row": 0, "first": 1, "second": 5}]


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
    expected = a[:, 9:].mean(dim=(0, 1)) - a[:, :9].mean(dim=(0, 1))  # second copy − (BOS + first copy)
    np.testing.assert_allclose(table.d_syn, expected.numpy(), atol=1e-6)
    b = nat[f"blocks.{layer}.mlp.hook_post"][0].double()
    np.testing.assert_allclose(table.d_nat, (b[15:20].mean(0) - b[3:8].mean(0)).numpy(), atol=1e-6)
    # a second occurrence ending its row (27..29 of 30 tokens): the tokens are pooled, as the authors'
    two = pd.DataFrame({"row": [1, 1], "first": [3, 2], "second": [15, 27]})
    pooled = (b[15:20].sum(0) + b[27:30].sum(0)) / 8 - (b[3:8].sum(0) + b[2:7].sum(0)) / 10
    np.testing.assert_allclose(induction.activation_differences(model, synthetic, rows, two, n=4).d_nat,
                               pooled.numpy(), atol=1e-6)
