"""n-gram counts read from the firings the counting pass keeps (packed bits) equal a second forward pass."""

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import activations, cache, voita
from support import DETECT_SUPPRESS, interrupt_forward, planted_opt, reference_fired, text_rows


@pytest.mark.parametrize("width", [16, 13])
def test_pack_fired_is_numpys_packbits(width):
    fired = torch.rand(3, 5, width, generator=torch.Generator().manual_seed(width)) > 0.5
    np.testing.assert_array_equal(activations.pack_fired(fired).numpy(), np.packbits(fired.numpy(), axis=-1))


def test_bits_equal_the_hf_models_firings_and_give_the_same_ngram_counts(planted, tmp_path):
    rows = text_rows(planted.tokenizer, 6, 30, seed=4)
    activations.count_activations(planted, rows, bos_id=0, threshold=0.0, batch_size=4, progress=False,
                                  fired_dir=tmp_path)
    hf, _ = planted_opt()
    for layer, fired in enumerate(reference_fired(hf, rows, 0.0)):
        bits = activations.fired_bits(tmp_path, layer)
        np.testing.assert_array_equal(np.unpackbits(bits, axis=-1)[..., :fired.shape[-1]], fired)
    neurons = [(0, DETECT_SUPPRESS), (0, 0), (1, 3), (1, 17), (0, 9)]
    for n in (1, 2, 3):
        by_pass = activations.count_ngrams(planted, rows, neurons, n=n, threshold=0.0, bos_id=0, progress=False)
        by_bits = activations.ngram_counts_from_bits({0: activations.fired_bits(tmp_path, 0),
                                                      1: activations.fired_bits(tmp_path, 1)},
                                                     rows, neurons, n=n, d_vocab=planted.cfg.d_vocab, bos_id=0,
                                                     row_chunk=4)
        assert by_bits.occurrences == by_pass.occurrences and by_bits.pairs == by_pass.pairs
        assert len(by_bits.pairs) > 10


def test_an_interrupted_pass_continues_its_bits(planted, tmp_path, monkeypatch):
    rows = text_rows(planted.tokenizer, 8, 24, seed=2)
    activations.count_activations(planted, rows, bos_id=0, threshold=0.0, progress=False, fired_dir=tmp_path / "whole")
    interrupt_forward(monkeypatch, planted, at_call=3)
    with pytest.raises(KeyboardInterrupt):
        activations.count_activations(planted, rows, bos_id=0, threshold=0.0, batch_size=2, progress=False,
                                      checkpoint=tmp_path / "ckpt.npz", checkpoint_every_s=0, fired_dir=tmp_path / "part")
    monkeypatch.undo()
    assert activations.fired_bits(tmp_path / "part", 0) is None  # not complete: not to be read
    saved = activations.ActivationCounts.load(tmp_path / "ckpt.npz")
    activations.count_activations(planted, rows, bos_id=0, threshold=0.0, batch_size=2, progress=False, state=saved,
                                  fired_dir=tmp_path / "part")
    for layer in (0, 1):
        np.testing.assert_array_equal(activations.fired_bits(tmp_path / "part", layer),
                                      activations.fired_bits(tmp_path / "whole", layer))


def test_trigram_detectors_need_no_second_pass(planted, tmp_path, monkeypatch):
    """With the bits on disk, ngram_detectors neither runs the model nor re-tokenises; its tables equal
    those of the second-pass way (the bits removed)."""
    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path / "results"))
    rows = text_rows(planted.tokenizer, 16, 48, seed=6)
    monkeypatch.setattr(voita, "stats_rows", lambda *args: rows)
    stats = voita.neuron_stats(planted, corpus="planted", n_rows=16, seq_len=48, progress=False)
    with monkeypatch.context() as m:
        m.setattr(voita, "count_ngrams", lambda *a, **k: pytest.fail("ran the model again"))
        m.setattr(type(planted), "forward", lambda *a, **k: pytest.fail("ran the model again"))
        fast = voita.ngram_detectors(planted, stats, n=3, cache=False, progress=False)
    assert fast["neurons"].attrs["counted_from"].startswith("firings")
    import shutil

    shutil.rmtree(stats.info["fired_dir"])
    slow = voita.ngram_detectors(planted, stats, n=3, cache=False, progress=False)
    assert slow["neurons"].attrs["counted_from"] == "a second forward pass"
    for name in ("neurons", "covered"):
        pd.testing.assert_frame_equal(fast[name], slow[name])
    # random letters: trigrams rarely repeat, so no detector has support; Voita's steps 1-3 still hold for some
    assert fast["neurons"].detector_rule.any() and len(fast["neurons"]) == fast["neurons"].attrs["n_candidates"] > 3
