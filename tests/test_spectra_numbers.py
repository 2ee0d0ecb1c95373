"""The null space from the spectrum's gap, the random-direction bar of S-12, the permuted-frequency
reference of S-17, and the induction key numbers whose intervals must contain their points."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import induction_numbers, stolfo_numbers, unigram, weights
from helpers.models import load_model


def test_null_space_size_finds_the_gap():
    s = np.geomspace(10, 5, 200)  # a smooth decay: gaps of 0.35 % each
    s[-3:] = [0.2, 0.19, 0.18]  # a cliff before the last three
    assert weights.null_space_size(s) == 3
    s[-1] = 0.001  # a deeper cliff before the last one wins
    assert weights.null_space_size(s) == 1


def test_null_space_size_only_looks_at_the_tail():
    s = np.geomspace(10, 5, 400)
    s[40:] /= 100  # a cliff far from the end (after 40 of 400) is not a null space
    k = weights.null_space_size(s)
    assert 1 <= k <= math.ceil(0.05 * 400)


def test_a_random_unembedding_has_no_deep_null_space():
    w_u = torch.randn(64, 4000, generator=torch.Generator().manual_seed(0))
    _, s = weights.unembed_svd(w_u)
    numbers = stolfo_numbers.spectrum(s.numpy())
    assert numbers["null_space_over_median"].value > 0.5  # S-11 (< 0.1) fails on it
    assert numbers["null_space_k"] == weights.null_space_size(s.numpy())
    assert numbers["null_space_over_median"].low == numbers["null_space_over_median"].value  # exact


def test_random_share_bar_matches_the_closed_form_in_two_dimensions():
    # d = 2, k = 1: the share is cos²θ with θ uniform, so P(share ≤ t) = (2/π) arcsin(√t) and the
    # q-quantile of the largest of n is sin²(π/2 · q^(1/n))
    n, q = 3, 0.9
    expected = math.sin(math.pi / 2 * q ** (1 / n)) ** 2
    assert weights.random_share_max_quantile(1, 2, n, q=q, n_sim=40000, seed=1) == pytest.approx(expected, abs=0.01)


def test_random_share_bar_grows_with_the_layer():
    one = weights.random_share_max_quantile(1, 576, 1, seed=0)
    layer = weights.random_share_max_quantile(1, 576, 1536, seed=0)
    assert layer > 2 * one > 2 / 576  # the layer's most extreme random direction sits far above k / d


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-gemma3"])
def test_kl_to_permuted_frequencies_is_a_plain_kl(name):
    model = load_model(name, device="cpu")
    v = model.cfg.d_vocab
    rows = torch.randint(0, v, (3, 12), generator=torch.Generator().manual_seed(0))
    row, pos = np.array([0, 0, 2, 1]), np.array([1, 5, 3, 11])
    counts = np.random.default_rng(0).integers(0, 50, v)
    p = unigram.unigram_distribution(counts, v)
    true, permuted = unigram.kl_true_and_permuted(model, rows, row, pos, p, n_perm=3, seed=7)
    with torch.no_grad():
        logits = torch.stack([model(rows[r][None])[0, q] for r, q in zip(row, pos)]).double()
    assert true == pytest.approx(unigram.kl_from_unigram(logits, p).numpy(), rel=1e-6)
    g = torch.Generator().manual_seed(7)
    perms = [p[torch.randperm(v, generator=g)] for _ in range(3)]
    logq = torch.log_softmax(logits, -1)
    by_hand = np.mean([[float((q * (q.log() - lq)).sum()) for lq in logq] for q in perms], axis=0)
    assert permuted == pytest.approx(by_hand, rel=1e-6)


def test_counted_mass():
    assert unigram.counted_mass(np.array([3, 0, 1, 0]), 4) == pytest.approx(4 / 8)


def _page(**extra):
    return SimpleNamespace(seed=0, repeat_len=4, label=lambda n: f"9.{n}", followed=lambda kind="entropy": 0,
                           followed_kind=lambda kind="entropy": "rule", **extra)


def _contains(est) -> bool:
    return est.low <= est.value <= est.high


def test_fig5b_reductions_are_at_a_fixed_peak_and_contain_their_points():
    rng = np.random.default_rng(0)
    rows = []
    for n, depth in ((0, 0.5), (1, 0.2), (7, 0.0), (8, 0.0)):  # 0, 1: entropy neurons; 7, 8: random
        for seq in range(12):
            for pos in range(5, 9):  # the repeat's positions (repeat_len 4 + 1 on)
                ratio = 1 - depth * (pos == 6) + rng.normal(0, 0.05)
                rows.append({"neuron": n, "seq": seq, "pos": pos, "entropy": 2.0, "dentropy_te": 2.0 * (ratio - 1)})
    clip = pd.DataFrame(rows)
    numbers = induction_numbers.fig5b(_page(), clip, [0, 1], [7, 8])
    followed, random = numbers["max_entropy_reduction_followed"], numbers["max_entropy_reduction_random"]
    mean_at_6 = 1 - (1 + clip[(clip.neuron == 0) & (clip.pos == 6)].dentropy_te / 2).mean()
    assert followed.value == pytest.approx(mean_at_6)  # the peak is position 6
    assert _contains(followed) and _contains(random) and _contains(numbers["followed_lead_over_next"])
    assert random.value < 0.15 < 0.4 < followed.low


def test_fig10_reference_is_the_strongest_random_neuron():
    rng = np.random.default_rng(1)
    rows = []
    for seq in range(10):
        for pos in range(20):
            loss = rng.exponential(2)
            for n, effect in ((0, 1.0), (5, 0.1), (6, 0.3)):
                d = effect * (1 if loss < 0.6 else -1 if loss > 2.8 else 0) + rng.normal(0, 0.01)
                rows.append({"neuron": n, "seq": seq, "pos": pos, "loss": loss, "entropy": 1.0, "dentropy_te": 0.0,
                             "dloss_te": d})
    numbers = induction_numbers.fig10(_page(), pd.DataFrame(rows), [0], [5, 6])
    assert numbers["dloss_low_clean"].value > 0.5 and numbers["dloss_high_clean"].value < -0.5
    assert 0.15 < numbers["dloss_low_clean_random"].value < 0.5  # neuron 6, not 5
    assert all(_contains(numbers[k]) for k in ("dloss_low_clean", "dloss_high_clean", "dloss_low_clean_random",
                                               "dloss_high_clean_random"))


def test_fig11_rank_of_the_best_member():
    rng = np.random.default_rng(2)
    syn = rng.normal(0, 1, (30, 50))
    syn[:, 3] += 6  # neuron 3 changes most
    syn[:, 4] += 3  # neuron 4: second
    changes = SimpleNamespace(syn=syn, norms=np.ones(50), n_natural=0, nat_sums=None, nat_counts=None,
                              table=pd.DataFrame({"d_syn_weighted": syn.mean(0), "d_nat_weighted": syn.mean(0)}))
    numbers = induction_numbers.fig11(_page(), changes, [4, 10])
    assert numbers["entropy_best_synthetic"] == "9.4"
    assert numbers["entropy_rank_synthetic"].value == 2 and _contains(numbers["entropy_rank_synthetic"])


def test_fig5c_third_head_score_is_one_fixed_heads_mean():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 0.02, (64, 4, 3))  # [sequences, layers, heads]: a twin's near-zero scores
    scores[:, 2, 1] += 0.9
    scores[:, 3, 0] += 0.8
    scores[:, 1, 2] += 0.75
    half = 5
    original = np.concatenate([np.zeros((20, half)), np.ones((20, half))], 1) + rng.normal(0, 0.01, (20, 2 * half))
    curves = {"Ind. heads 1-3": original * 0.3, "baseline 1": original}
    page = _page(half=half)
    numbers = induction_numbers.fig5c(page, scores, {}, original, curves)
    third = numbers["third_induction_score"]
    assert third.value == pytest.approx(scores[:, 1, 2].mean())
    assert _contains(third) and third.low > 0.7
    assert numbers["rise_removed_three_heads"].value == pytest.approx(0.7, abs=0.02)
    flat = rng.uniform(0, 0.02, (64, 4, 3))  # no induction head: the third score near 0, its interval around it
    est = induction_numbers.fig5c(page, flat, {}, original, curves)["third_induction_score"]
    assert _contains(est) and est.high < 0.05
