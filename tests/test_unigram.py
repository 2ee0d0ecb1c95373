"""Unigram distribution, frequency direction, and the engine's KL / frequency-frozen effects."""

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import unigram
from helpers.ablation import ablate, clean_run
from helpers.corpus import make_rows
from helpers.errors import OfflineError, ParameterError
from helpers.models import load_model, special_tokens

SHARED = Path(__file__).parents[2] / "shared" / "data" / "unigram_counts"
TEXT = ["the cat and the dog and the bird. " * 8, "a b c a b a, and so on and on. " * 8]


@pytest.fixture(scope="module", params=["tiny-random-gpt2", "tiny-random-gemma3"])
def setup(request):
    model = load_model(request.param)
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, TEXT, bos_id=st.bos_id, eos_id=st.eos_id, seq_len=40, seed=0)
    run = clean_run(model, rows, eval_rows=[0, 1], progress=False)
    counts = np.bincount(rows.flatten().numpy(), minlength=model.cfg.d_vocab)
    p_freq = unigram.unigram_distribution(counts, model.cfg.d_vocab)
    return model, run, p_freq, ablate(model, run, neurons=range(12), p_freq=p_freq, compile=False, progress=False)


def test_kl_and_frequency_frozen_loss_match_a_hooked_rerun(setup):
    model, run, p_freq, result = setup
    u = unigram.frequency_direction(p_freq)
    with torch.no_grad():
        clean_logits = model(run.rows)[run.positions[:, 0], run.positions[:, 1]].double()
    np.testing.assert_allclose(result.per_token["kl"], unigram.kl_from_unigram(clean_logits, p_freq).numpy(), atol=1e-4)
    for i in range(12):
        def set_mean(act, hook, i=i):
            act[..., i] = run.mean_acts[i]
            return act
        with torch.no_grad():
            logits = model.run_with_hooks(run.rows, fwd_hooks=[(f"blocks.{run.layer}.mlp.hook_post", set_mean)])
        z_te = logits[run.positions[:, 0], run.positions[:, 1]].double()
        np.testing.assert_allclose(result.per_token["kl_te"][i], unigram.kl_from_unigram(z_te, p_freq).numpy(), atol=1e-4)
        # DE_freq: z_TE with its component along u_freq replaced by the clean one (the authors' run_and_store_unigram_results.py)
        z_f = z_te + ((clean_logits - z_te) @ u)[:, None] * u
        loss_f = -torch.log_softmax(z_f, -1).gather(-1, run.targets[:, None])[:, 0]
        np.testing.assert_allclose(result.per_token["loss_freq"][i], loss_f.numpy(), atol=1e-4)
        assert not np.allclose(result.per_token["loss_freq"][i], result.per_token["loss_te"][i], atol=1e-6)


def test_hand_counted_unigrams(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path))
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "abca"}\n{"text": "b"}\n')
    model = load_model("tiny-random-gpt2")
    counts = unigram.count_tokens(model, str(docs), progress=False)
    ids = model.tokenizer("abcab", add_special_tokens=False).input_ids  # the same bytes, one stream
    expected = np.zeros(model.cfg.d_vocab, dtype=np.int64)
    for i in ids:
        expected[i] += 1
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == 5 and counts[ids[0]] == 2  # 'a' twice


def test_distribution_pads_then_smooths():
    p = unigram.unigram_distribution(np.array([3, 0, 1]), 5)
    np.testing.assert_allclose(p.numpy(), np.array([4, 1, 2, 1, 1]) / 9)
    u = unigram.frequency_direction(p)
    assert float(u.sum()) == pytest.approx(0, abs=1e-12) and float(u.norm()) == pytest.approx(1)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data/unigram_counts not beside this checkout")
def test_authors_gpt2_counts_reference_copy(monkeypatch, tmp_path):
    monkeypatch.setenv(unigram.LOCAL_DIR_ENV, str(SHARED))
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path))
    counts = unigram.authors_counts("gpt2")
    assert counts.shape == (50257,) and int(counts.sum()) == 563_152_038
    assert list(np.argsort(-counts)[:4]) == [11, 262, 13, 198]
    p = unigram.unigram_distribution(counts, 50257).numpy()
    assert -(p * np.log(p)).sum() == pytest.approx(7.570, abs=5e-3)  # the entropy of the authors' GPT-2 counts


def test_missing_counts_offline_name_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path))
    monkeypatch.delenv(unigram.LOCAL_DIR_ENV, raising=False)
    monkeypatch.setattr(unigram, "AUTHORS_REPO", "http://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(OfflineError, match=unigram.LOCAL_DIR_ENV):
        unigram.authors_counts("pythia")


def test_planted_frequency_neuron_ranks_first():
    """A neuron whose logit effect W_U^T w is the frequency direction has cosine 1 and ranks first."""
    model = load_model("tiny-random-llama")
    layer = model.cfg.n_layers - 1
    rng = np.random.default_rng(0)
    p = unigram.unigram_distribution(rng.integers(0, 1000, model.cfg.d_vocab), model.cfg.d_vocab)
    u = unigram.frequency_direction(p)
    w_u = model.W_U.detach().double()
    w = torch.linalg.lstsq(w_u.T, u).solution  # the residual direction whose logits best match u
    with torch.no_grad():
        block_w = model.blocks[layer].mlp.out
        target = 17
        block_w.weight[:, target] = (w * 50).float()  # down_proj weight: [d_model, d_mlp]
    cos = unigram.frequency_cosines(model, u)
    assert int(cos.abs().argmax()) == target
    assert float(cos[target]) == pytest.approx(float(torch.nn.functional.cosine_similarity(w_u.T @ w, u, dim=0)), abs=1e-4)


# --------------------------------------------------------------------------------------------
# A counts file of the user's
# --------------------------------------------------------------------------------------------


def test_counts_file_is_used_and_named(tmp_path, monkeypatch):
    import hashlib

    from helpers import tiny
    from helpers.models import KNOWN_MODELS, from_hf

    hf, tok = tiny.build("gpt2")
    as_gpt2 = from_hf(hf, tok, KNOWN_MODELS["gpt2-small"])  # a paper model: the file wins over the authors'
    counts = np.arange(200, dtype=np.int64) % 7  # shorter than the vocabulary: zero-padded later
    path = tmp_path / "train-counts.npy"
    np.save(path, counts)
    monkeypatch.setattr(unigram, "authors_counts", lambda *a: pytest.fail("the authors' counts were used"))
    monkeypatch.setattr(unigram, "count_tokens", lambda *a, **k: pytest.fail("the corpus was counted"))
    got, source = unigram.unigram_counts(as_gpt2, counts_file=str(path))
    np.testing.assert_array_equal(got, counts)
    assert "train-counts.npy" in source and hashlib.sha256(path.read_bytes()).hexdigest()[:16] in source
    p = unigram.unigram_distribution(got, as_gpt2.cfg.d_vocab)
    assert p[199].item() == pytest.approx((counts[199] + 1) / (counts.sum() + as_gpt2.cfg.d_vocab))
    whole_floats = tmp_path / "floats.npy"
    np.save(whole_floats, counts.astype(np.float64))
    np.testing.assert_array_equal(unigram.unigram_counts(as_gpt2, counts_file=str(whole_floats))[0], counts)


@pytest.mark.parametrize("content, message", [
    (np.ones((3, 4), dtype=np.int64), "1-D"),
    (np.array([3, -1, 2]), "negative counts .first at token id 1"),
    (np.array([1.5, 2.0]), "non-integer"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.ones(258, dtype=np.int64), "258 counts but the model's vocabulary has 257"),
    (np.array([], dtype=np.int64), "non-empty"),
])
def test_counts_file_is_validated(tmp_path, content, message):
    model = load_model("tiny-random-gpt2")
    path = tmp_path / "counts.npy"
    np.save(path, content)
    with pytest.raises(ParameterError, match=message):
        unigram.unigram_counts(model, counts_file=str(path))


def test_counts_file_errors_name_the_file(tmp_path):
    model = load_model("tiny-random-gpt2")
    with pytest.raises(ParameterError, match="does not exist"):
        unigram.unigram_counts(model, counts_file=str(tmp_path / "missing.npy"))
    (tmp_path / "counts.txt").write_text("1 2 3")
    with pytest.raises(ParameterError, match=r"must be a \.npy file"):
        unigram.unigram_counts(model, counts_file=str(tmp_path / "counts.txt"))
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(ParameterError, match="not a readable .npy"):
        unigram.unigram_counts(model, counts_file=str(tmp_path / "broken.npy"))


def test_counted_stdlib_is_keyed_by_its_content(tmp_path, monkeypatch):
    """Counts of python-stdlib are cached under its content hash: another Python's library (here: a
    file that grew) is counted again, not read from a stale cache."""
    from helpers import corpus, io

    monkeypatch.setenv(io.CACHE_ENV, str(tmp_path / "cache"))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(corpus, "_stdlib_root", lambda: lib)
    model = load_model("tiny-random-gpt2")
    first, source = unigram.unigram_counts(model, "python-stdlib")
    assert "python-stdlib" in source and corpus.corpus_fingerprint("python-stdlib") in source
    (lib / "a.py").write_text("x = 1\ny = 22\n")
    second, _ = unigram.unigram_counts(model, "python-stdlib")
    assert second.sum() > first.sum()
    ids = model.tokenizer("x = 1\ny = 22", add_special_tokens=False).input_ids
    np.testing.assert_array_equal(second, np.bincount(ids, minlength=model.cfg.d_vocab))
