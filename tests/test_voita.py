"""Streaming activation counts and Voita et al.'s definitions, on hand-made counts and on a tiny
OPT model with planted neurons (a dead one, two token detectors, a positional one)."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import activations, cache, tiny, voita
from helpers.models import KNOWN_MODELS, from_hf, load_model
from support import (
    DEAD,
    DETECT_PROMOTE,
    DETECT_SUPPRESS,
    DIM_A,
    POSITIONAL,
    P,
    interrupt_forward,
    planted_opt,
    reference_fired,
    text_rows,
    token_id,
)

# --------------------------------------------------------------------------------------------
# Definitions on hand-made counts
# --------------------------------------------------------------------------------------------


def test_coverage_stats_by_hand():
    # 4 items; neuron 0 fires 10, 6, 3, 1 times (95 % of 20 = 19 -> needs 3 items: 10+6+3 = 19);
    # neuron 1 fires only on item 2, on all its occurrences; neuron 2 never fires.
    counts = np.array([[10, 0, 0], [6, 0, 0], [3, 4, 0], [1, 0, 0]])
    occurrences = np.array([10, 100, 4, 2])
    s = voita.coverage_stats(counts, occurrences)
    assert s["cover"].tolist() == [3, 1, 0]
    # covered: item 0 by neuron 0 (10 >= 9.5), item 2 by neurons 0 and 1 (3 < 3.8 -> not 0; 4 >= 3.8 -> 1)
    assert s["covered"].tolist() == [[True, False, False], [False, False, False], [False, True, False], [False, False, False]]
    assert s["covered_share"].tolist() == [0.5, 1.0, 0.0]
    assert voita.is_detector(s["cover"], s["covered_share"], 5).tolist() == [False, True, False]
    # support: the firings on covered items (neuron 0: 10 on item 0; neuron 1: 4 on item 2)
    assert s["support"].tolist() == [10, 4, 0]
    # neuron 1 fires on all 4 occurrences of item 2 and nowhere else: Voita's rule, but 4 < 20 firings of support
    assert voita.is_detector(s["cover"], s["covered_share"], 5, support=s["support"]).tolist() == [False, False, False]
    assert voita.is_detector(s["cover"], s["covered_share"], 5, support=s["support"], min_support=4).tolist() == [
        False, True, False]


def test_a_token_seen_once_makes_no_detector():
    """The untrained twin's "detectors" (issue 19): a neuron firing once, on a token seen once."""
    counts = np.zeros((50, 2), int)
    counts[7, 0] = 1  # fires once, on item 7, which occurs once
    counts[3, 1], counts[4, 1] = 15, 10  # fires on every occurrence of items 3 and 4: 25 firings
    occurrences = np.ones(50, int)
    occurrences[3], occurrences[4] = 15, 10
    s = voita.coverage_stats(counts, occurrences)
    assert voita.is_detector(s["cover"], s["covered_share"], 5).tolist() == [True, True]  # Voita's 3 steps alone
    assert voita.is_detector(s["cover"], s["covered_share"], 5, support=s["support"]).tolist() == [False, True]


def test_items_seen_once_give_no_support():
    """A neuron that fires at the first positions of each of 30 rows covers 30 BOS-padded trigrams,
    each seen once: 30 firings, but none on an item seen 3 times or more."""
    counts = np.ones((30, 1), int)
    s = voita.coverage_stats(counts, np.ones(30, int), min_occurrences=voita.MIN_OCCURRENCES)
    assert s["cover"].tolist() == [29] and s["covered_share"].tolist() == [1.0]  # Voita's steps 1-3 pass at 50
    assert s["support"].tolist() == [0]
    assert not voita.is_detector(s["cover"], s["covered_share"], 50, support=s["support"])[0]
    # 3 occurrences each, all fired: 90 firings of support
    s = voita.coverage_stats(3 * counts, 3 * np.ones(30, int), min_occurrences=voita.MIN_OCCURRENCES)
    assert s["support"].tolist() == [90] and voita.is_detector(s["cover"], s["covered_share"], 50, support=s["support"])[0]


def test_cover_exactly_at_the_share():
    # 19 of 20 activations on item 0 is exactly 95 %: one item covers them.
    s = voita.coverage_stats(np.array([[19], [1]]), np.array([19, 50]))
    assert s["cover"].tolist() == [1] and s["covered_share"].tolist() == [0.95]
    assert voita.is_detector(s["cover"], s["covered_share"], 5).tolist() == [True]


def test_positional_mi_by_hand():
    t, n_rows = 100, 8
    fr_pos = np.zeros(t)
    fr_pos[30:] = 1.0  # a step: fires exactly at the last 70 positions
    half = np.full(t, 0.5)  # fires half the time everywhere: no information about position
    pos_active = np.stack([fr_pos, half], 1) * n_rows
    fr = 0.7
    step_mi = -(fr * math.log(fr) + (1 - fr) * math.log(1 - fr))  # = H(fr) for a 0/1 curve
    np.testing.assert_allclose(voita.positional_mi(pos_active, n_rows), [step_mi, 0.0], atol=1e-12)
    # Miller-Madow: the step has 2 outcomes overall, 1 at each position: + 1/(2 N T); the flat curve
    # has 2 everywhere: + 1/(2 N T) - 1/(2 N)
    np.testing.assert_allclose(voita.positional_mi(pos_active, n_rows, corrected=True),
                               [step_mi + 1 / (2 * n_rows * t), 1 / (2 * n_rows * t) - 1 / (2 * n_rows)], atol=1e-12)


def test_miller_madow_removes_the_plug_in_bias_of_a_neuron_blind_to_position():
    """A neuron firing with probability 0.3 at every position, independently: the plug-in I is biased up
    by about (T - 1) / (2 N T) (0.031 nats at N = 16 rows, T = 511); the corrected one is about 0."""
    rng = np.random.default_rng(0)
    n_rows, t, k = 16, 511, 200
    pos_active = rng.binomial(n_rows, 0.3, size=(t, k))
    plug_in = voita.positional_mi(pos_active, n_rows)
    corrected = voita.positional_mi(pos_active, n_rows, corrected=True)
    assert plug_in.mean() == pytest.approx((t - 1) / (2 * n_rows * t), rel=0.1)
    assert abs(corrected.mean()) < 0.002 and (corrected < voita.MI_THRESHOLD).all()


def test_positional_types_and_ranges():
    pos = np.arange(1, 61)
    square = ((pos // 10) % 2 == 1).astype(float)  # on at 10-19, 30-39, 50-59
    assert voita.positional_type(square, pos) == ("oscillatory", True, [(10, 19), (30, 39), (50, 59)])
    step = (pos >= 25).astype(float)
    assert voita.positional_type(step, pos) == ("both extremes", True, [(25, 60)])
    decay = np.linspace(0.9, 0.0, len(pos))
    kind, strong, _ = voita.positional_type(decay, pos)
    assert (kind, strong) == ("one extreme", False)
    assert voita.positional_type(np.full(len(pos), 0.5), pos)[0] == "other"
    # noise around 0.5 does not make extra ranges (hysteresis)
    wobble = np.where(pos % 2 == 0, 0.55, 0.45) + (pos >= 40) * 0.5
    assert voita.on_ranges(wobble, pos) == [(40, 60)]


def test_ngram_ids_by_hand():
    rows = torch.tensor([[0, 5, 6, 0, 7]])
    ids, valid = activations.ngram_ids(rows, 3, 10, bos_id=0)
    assert valid.tolist() == [[False, True, True, False, True]]
    # windows padded with BOS (0): (0,0,5), (0,5,6), -, (6,0,7)
    assert ids[0, [1, 2, 4]].tolist() == [5, 56, 607]
    assert voita.decode_ngram(607, 3, 10) == [6, 0, 7]


def test_layer_groups_fit_the_budget():
    assert activations.layer_groups(5, 2**30, 2.0) == [[0, 1], [2, 3], [4]]
    assert activations.layer_groups(3, 2**40, 1.0) == [[0], [1], [2]]


# --------------------------------------------------------------------------------------------
# The streaming pass
# --------------------------------------------------------------------------------------------


def test_counts_match_hooks_on_the_hf_model(planted):
    hf, tok = planted_opt()  # a fresh copy: the bridge processes its model's weights
    rows = text_rows(tok, 6, 40)
    counts = activations.count_activations(planted, rows, bos_id=0, batch_size=4, progress=False)
    fired = reference_fired(hf, rows, 0.0)
    tokens = rows.numpy()
    keep = np.zeros_like(tokens, dtype=bool)
    keep[:, 1:] = tokens[:, 1:] != 0
    for i, f in enumerate(fired):
        np.testing.assert_array_equal(counts.active[i], f.sum((0, 1)))
        np.testing.assert_array_equal(counts.pos_active[i], f.sum(0))
        for v, token in enumerate(counts.vocab):
            mask = keep & (tokens == token)
            assert counts.token_occ[v] == mask.sum()
            np.testing.assert_array_equal(counts.token_active[i, v], f[mask].sum(0))
    assert int(counts.n_rows) == 6 and 0 not in counts.vocab


def test_two_chunks_equal_one_pass_and_resume(planted, tmp_path):
    rows = text_rows(planted.tokenizer, 10, 32, seed=1)
    vocab = activations.vocab_of(rows, 0)
    whole = activations.count_activations(planted, rows, bos_id=0, vocab=vocab, progress=False)
    first = activations.count_activations(planted, rows[:4], bos_id=0, vocab=vocab, progress=False)
    second = activations.count_activations(planted, rows[4:], bos_id=0, vocab=vocab, progress=False)
    _assert_counts_equal(first + second, whole)
    # resume: counts of the first 4 rows saved to disk, then continued over all rows
    first.save(tmp_path / "partial.npz")
    resumed = activations.count_activations(planted, rows, bos_id=0, vocab=vocab, progress=False,
                                            state=activations.ActivationCounts.load(tmp_path / "partial.npz"))
    _assert_counts_equal(resumed, whole)
    # layer groups, counted separately and joined, equal all layers at once
    groups = [activations.count_activations(planted, rows, layers=[layer], bos_id=0, vocab=vocab, progress=False)
              for layer in (0, 1)]
    _assert_counts_equal(activations.ActivationCounts.concat_layers(groups), whole)


def _assert_counts_equal(a, b):
    for name in ("layers", "vocab", "n_rows", "active", "pos_active", "token_occ", "token_active"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_checkpoint_is_written_and_an_interrupted_pass_resumes(planted, tmp_path, monkeypatch):
    rows = text_rows(planted.tokenizer, 8, 24, seed=2)
    whole = activations.count_activations(planted, rows, bos_id=0, progress=False)
    interrupt_forward(monkeypatch, planted, at_call=3)
    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        activations.count_activations(planted, rows, bos_id=0, batch_size=2, progress=False,
                                      checkpoint=ckpt, checkpoint_every_s=0)
    monkeypatch.undo()
    saved = activations.ActivationCounts.load(ckpt)
    assert int(saved.n_rows) == 4  # two batches of two rows finished before the interruption
    resumed = activations.count_activations(planted, rows, bos_id=0, progress=False, state=saved)
    _assert_counts_equal(resumed, whole)


def test_ngram_counts_match_a_loop(planted):
    rows = text_rows(planted.tokenizer, 5, 30, seed=4)
    neurons = [(0, DETECT_SUPPRESS), (0, 0), (1, 3)]
    got = activations.count_ngrams(planted, rows, neurons, n=2, threshold=0.0, bos_id=0, progress=False)
    hf, _ = planted_opt()
    fired = reference_fired(hf, rows, 0.0)
    tokens = rows.numpy()
    want_pairs, want_occ = {}, {}
    for r in range(tokens.shape[0]):
        for t in range(1, tokens.shape[1]):
            if tokens[r, t] == 0:
                continue
            prev = tokens[r, t - 1]
            gram = int(prev) * planted.cfg.d_vocab + int(tokens[r, t])
            want_occ[gram] = want_occ.get(gram, 0) + 1
            for col, (layer, n) in enumerate(neurons):
                if fired[layer][r, t, n]:
                    want_pairs[(col, gram)] = want_pairs.get((col, gram), 0) + 1
    assert got.occurrences == want_occ
    assert got.pairs == want_pairs


# --------------------------------------------------------------------------------------------
# The tables, end to end on the planted model
# --------------------------------------------------------------------------------------------


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path / "results"))
    return tmp_path / "results"


def test_planted_neurons_are_found(planted, results, monkeypatch):
    tok = planted.tokenizer
    x, q = token_id(tok, "x"), token_id(tok, "q")
    rows = text_rows(tok, 24, 64, seed=5)
    monkeypatch.setattr(voita, "stats_rows", lambda *args: rows)
    stats = voita.neuron_stats(planted, corpus="planted", n_rows=24, seq_len=64, progress=False)
    layer0 = stats.neurons[stats.neurons.layer == 0].set_index("neuron")

    assert layer0.dead[DEAD] and layer0.n_active[DEAD] == 0
    for neuron, token in ((DETECT_SUPPRESS, x), (DETECT_PROMOTE, q)):
        assert layer0.token_detector[neuron] and layer0.cover[neuron] == 1
        mine = stats.detector_tokens[(stats.detector_tokens.layer == 0) & (stats.detector_tokens.neuron == neuron)]
        assert mine.token.tolist() == [token]
        assert mine["count"].tolist() == mine.occurrences.tolist() == [int(((rows[:, 1:] == token)).sum())]

    # fires exactly at positions >= P among positions 1..T-1: I = H(fr), fr = (T - P) / (T - 1)
    fr = (64 - P) / 63
    assert layer0.positional[POSITIONAL]
    step = -(fr * math.log(fr) + (1 - fr) * math.log(1 - fr))
    assert layer0.mi_plugin[POSITIONAL] == pytest.approx(step, abs=1e-12)
    assert layer0.mi[POSITIONAL] == pytest.approx(step + 1 / (2 * 24 * 63), abs=1e-12)  # Miller-Madow: 0 or 1 at each position
    assert (layer0.pos_type[POSITIONAL], layer0.pos_strong[POSITIONAL]) == ("both extremes", True)
    curve = stats.positional[(stats.positional.layer == 0) & (stats.positional.neuron == POSITIONAL)]
    assert curve.fr.tolist() == [0.0] * (P - 1) + [1.0] * (64 - P)

    supp = voita.suppression(planted, stats).set_index(["layer", "neuron"])
    assert supp.suppresses[(0, DETECT_SUPPRESS)] and not supp.suppresses[(0, DETECT_PROMOTE)]
    assert supp.trigger_percentile[(0, DETECT_SUPPRESS)] == 0.0  # 'x' is the most suppressed token
    assert voita.top_tokens(planted, 0, DETECT_SUPPRESS, k=1).suppressed.tolist() == ["x"]

    summary = stats.layer_summary().set_index("layer")
    assert summary.dead[0] == stats.neurons[(stats.neurons.layer == 0)].dead.sum() >= 1
    detected0 = set(stats.detector_tokens.token[stats.detector_tokens.layer == 0])
    assert summary.detected_tokens[0] == summary.new_overall[0] == len(detected0) >= 2
    detected1 = set(stats.detector_tokens.token[stats.detector_tokens.layer == 1])
    assert summary.new_overall[1] == len(detected1 - detected0)
    assert summary.cumulative_tokens[1] == len(detected0 | detected1)

    # cached: a second call does not run the model
    monkeypatch.setattr(voita, "count_activations", lambda *a, **k: pytest.fail("recomputed"))
    again = voita.neuron_stats(planted, corpus="planted", n_rows=24, seq_len=64, progress=False)
    pd.testing.assert_frame_equal(again.neurons, stats.neurons)


def test_trigram_detector_of_a_planted_neuron(planted, results, monkeypatch):
    """DETECT_SUPPRESS fires on every 'x' and nowhere else, so its trigrams are the BOS-padded
    windows ending in 'x', each covered; its covering count is computed here with a Counter."""
    from collections import Counter

    tok = planted.tokenizer
    x = token_id(tok, "x")
    rows = text_rows(tok, 16, 48, seed=6)
    monkeypatch.setattr(voita, "stats_rows", lambda *args: rows)
    stats = voita.neuron_stats(planted, corpus="planted", n_rows=16, seq_len=48, progress=False)
    tri = voita.ngram_detectors(planted, stats, n=3, progress=False)
    row = tri["neurons"].set_index(["layer", "neuron"]).loc[(0, DETECT_SUPPRESS)]

    padded = [[0, 0, *r] for r in rows.tolist()]
    windows = Counter(tuple(r[t - 2:t + 1]) for r in padded for t in range(3, len(r)) if r[t] == x)
    counts = sorted(windows.values(), reverse=True)
    total, cover = sum(counts), 0
    while sum(counts[:cover]) < 0.95 * total:
        cover += 1
    assert row.cover == cover and row.n_covered == len(windows) and row.covered_share == 1.0
    # it fires on every 'x', so a window's occurrences are its count: support counts windows seen >= 3 times
    support = sum(c for c in counts if c >= voita.MIN_OCCURRENCES)
    assert row.support == support and row.detector_rule == (cover <= voita.MAX_DETECTOR_TRIGRAMS)
    assert row.detector == (row.detector_rule and support >= voita.MIN_SUPPORT)
    mine = tri["covered"][(tri["covered"].layer == 0) & (tri["covered"].neuron == DETECT_SUPPRESS)]
    if row.detector:
        assert {tuple(t) for t in mine.tokens} == set(windows)
        assert dict(zip(map(tuple, mine.tokens), mine["count"])) == dict(windows)


def test_active_is_the_nonlinearity_input_above_zero_for_every_model():
    llama = load_model("tiny-random-llama")
    assert not activations.is_relu(llama) and activations.default_threshold(llama) == 0.0


@pytest.mark.parametrize("arch", ["llama", "gemma3", "gpt2"])
def test_active_means_the_input_of_the_nonlinearity(arch):
    """For gated (llama, gemma3) MLPs what the pass thresholds is the gate's pre-activation (the
    output of gate_proj); for plain GELU (gpt2) the output of c_fc; read on the Hugging Face model."""
    model = load_model(f"tiny-random-{arch}")
    hf, tok = tiny.build(arch)
    rows = text_rows(tok, 4, 32, seed=7)
    counts = activations.count_activations(model, rows, bos_id=0, progress=False)
    blocks = hf.transformer.h if arch == "gpt2" else hf.model.layers
    seen = []
    for block in blocks:
        first = block.mlp.c_fc if arch == "gpt2" else block.mlp.gate_proj
        first.register_forward_hook(lambda m, args, out: seen.append(out.detach().clone()))
    with torch.no_grad():
        hf(rows)
    for i, pre in enumerate(seen):
        fired = (pre > 0).numpy()
        assert 0 < fired.mean() < 1
        np.testing.assert_array_equal(counts.pos_active[i], fired.sum(0))


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_firings_do_not_move_when_a_gated_mlp_is_rescaled(arch):
    """up_proj · c and down_proj / c (a different neuron-wise c) is the same function: the outputs
    and every firing, hence dead counts and detectors, stay the same. The former rule (post > 0.5)
    changes under it, which is why it was replaced."""
    hf, tok = tiny.build(arch)
    rows = text_rows(tok, 4, 32, seed=8)
    before = from_hf(hf, tok, KNOWN_MODELS[f"tiny-random-{arch}"])
    counts = activations.count_activations(before, rows, bos_id=0, progress=False)
    with torch.no_grad():
        logits = before(rows).clone()
    hf2, _ = tiny.build(arch)
    c = torch.exp(torch.randn(hf2.config.intermediate_size, generator=torch.Generator().manual_seed(1)) * 2)
    with torch.no_grad():
        for block in hf2.model.layers:
            block.mlp.up_proj.weight.mul_(c[:, None])
            block.mlp.down_proj.weight.div_(c[None, :])
    after = from_hf(hf2, tok, KNOWN_MODELS[f"tiny-random-{arch}"])
    with torch.no_grad():
        torch.testing.assert_close(after(rows), logits, rtol=1e-4, atol=1e-4)
    again = activations.count_activations(after, rows, bos_id=0, progress=False)
    for name in ("active", "pos_active", "token_active"):
        np.testing.assert_array_equal(getattr(again, name), getattr(counts, name))
    # the post-activation (what the former rule thresholded at 0.5) does move
    post = lambda m: m.run_with_cache(rows, names_filter="blocks.0.mlp.hook_post")[1]["blocks.0.mlp.hook_post"]
    assert ((post(before) > 0.5) != (post(after) > 0.5)).any()


# --------------------------------------------------------------------------------------------
# The raw vocabulary projection (Sec 4.4)
# --------------------------------------------------------------------------------------------


def _raw_output_rows(hf, arch: str, layer: int) -> torch.Tensor:
    """[d_mlp, d_model] raw MLP output rows as they enter the residual, from the Hugging Face weights."""
    if arch == "gpt2":
        return hf.transformer.h[layer].mlp.c_proj.weight.double()  # Conv1D: [in, out]
    if arch == "opt":
        return hf.model.decoder.layers[layer].fc2.weight.double().T
    block = hf.model.layers[layer]
    w = block.mlp.down_proj.weight.double().T
    if arch == "gemma3":  # the post-feed-forward norm's gain, (1 + weight) in Gemma's convention
        w = w * (1 + block.post_feedforward_layernorm.weight.double())
    return w


@pytest.mark.parametrize("arch", ["opt", "gpt2", "llama", "gemma3"])
def test_vocab_projection_is_the_raw_row_on_the_raw_unembedding(arch):
    """Compatibility mode rewrites the weights in place; the projection must still be the raw one,
    checked against a copy of the Hugging Face weights taken before the bridge touched them."""
    import copy

    hf, tok = tiny.build(arch)
    raw = copy.deepcopy(hf)
    model = from_hf(hf, tok, KNOWN_MODELS[f"tiny-random-{arch}"])
    u = raw.get_output_embeddings().weight.double()  # [V, d]: the tied embedding for OPT, GPT-2, Gemma
    neurons = [0, 5, 17, 40]
    for layer in range(model.cfg.n_layers):
        expected = _raw_output_rows(raw, arch, layer)[neurons].detach() @ u.detach().T
        got = voita.vocab_projection(model, layer, neurons)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=1e-5 * float(expected.abs().max()))


DIM_M, DETECT_RAW = 28, 9  # a residual dimension every token's unembedding has much of; a detector writing -e_M


def test_suppression_follows_the_raw_projection_where_the_definitions_disagree():
    """A detector of 'x' that writes −e_M, where every token's unembedding has 10 on e_M and x's has 9:
    its raw projection onto x is −9 (negative: suppression, the paper's test), while x sits above the
    vocabulary average of the processed projection (the suite's former test said "promotes")."""
    hf, tok = planted_opt()
    x, q = token_id(tok, "x"), token_id(tok, "q")
    dec = hf.model.decoder
    block = dec.layers[0]
    with torch.no_grad():
        dec.embed_tokens.weight[:, DIM_M] = 10.0
        dec.embed_tokens.weight[x, DIM_M] = 9.0
        dec.embed_positions.weight[:, DIM_M] = 0
        block.self_attn.out_proj.weight[DIM_M] = 0
        block.self_attn.out_proj.bias[DIM_M] = 0
        for norm in (block.final_layer_norm, dec.final_layer_norm):
            norm.weight[DIM_M] = 1
            norm.bias[DIM_M] = 0
        block.fc1.weight[DETECT_RAW] = 0
        block.fc1.bias[DETECT_RAW] = -1.0
        block.fc1.weight[DETECT_RAW, DIM_A] = 1.0  # reads x's feature, like DETECT_SUPPRESS
        block.fc2.weight[:, DETECT_RAW] = 0
        block.fc2.weight[DIM_M, DETECT_RAW] = -1.0
    rows = text_rows(tok, 4, 40, seed=1)
    rows[:, 5] = x
    fired = reference_fired(hf, rows, 0.0)[0][..., DETECT_RAW]  # before the bridge rewrites the weights
    assert (torch.from_numpy(fired) == (rows == x)).all()  # a detector of x, and of nothing else
    model = from_hf(hf, tok, KNOWN_MODELS["tiny-random-opt"])

    processed = (model.W_out[0, DETECT_RAW].double() @ model.W_U.double())
    assert processed[x] - processed.mean() > 0.5  # the former definition: "not suppressed"

    detectors = pd.DataFrame({"layer": [0, 0], "neuron": [DETECT_RAW, DETECT_PROMOTE], "token": [x, q]})
    supp = voita.suppression(model, SimpleNamespace(detector_tokens=detectors)).set_index("neuron")
    assert supp.trigger_projection[DETECT_RAW] == pytest.approx(-9.0, rel=1e-5)  # w · u_x = −1 · 9
    assert supp.suppresses[DETECT_RAW] and supp.negative_share[DETECT_RAW] == 1.0
    assert supp.trigger_projection[DETECT_PROMOTE] == pytest.approx(50.0, rel=1e-5)  # +e_B · u_q = C
    assert not supp.suppresses[DETECT_PROMOTE]
    # the triggers' percentile and "among the 10 most suppressed" against a plain ranking of the projection
    for neuron, trigger in ((DETECT_RAW, x), (DETECT_PROMOTE, q)):
        proj = voita.vocab_projection(model, 0, [neuron])[0].numpy()
        rank = proj.argsort(kind="stable").argsort(kind="stable")  # ties: a token above its equals here
        below = int((proj < proj[trigger]).sum())
        assert supp.trigger_percentile[neuron] == pytest.approx(100 * below / (len(proj) - 1))
        assert supp.trigger_in_bottom10[neuron] == (below < 10) and rank[trigger] >= below
    # x is suppressed (−9) but every other token more (−10): not among the 10 most suppressed
    assert not supp.trigger_in_bottom10[DETECT_RAW] and not supp.trigger_in_bottom10[DETECT_PROMOTE]
