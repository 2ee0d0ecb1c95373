"""Voita's intervals: the per-row firings the pass keeps rebuild its counts exactly, and the basic
bootstrap interval by hand."""

import numpy as np
import pytest

from helpers import pages, voita, voita_numbers
from helpers.models import load_model


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A Voita page on tiny OPT (ReLU: the paper's 'active'), 6 rows of 64 tokens."""
    page = pages.VoitaPage(results_dir=str(tmp_path_factory.mktemp("voita")), model="tiny-random-opt",
                           stats_rows=6, stats_seq_len=64)
    page.load()
    return page


def test_kept_firings_rebuild_the_counting_pass(page):
    firings = voita_numbers.Firings.of(page)
    assert firings is not None
    active = firings.active_per_row()  # [R, L, N]
    neurons = page.stats.neurons.sort_values(["layer", "neuron"])
    np.testing.assert_array_equal(active.sum(0).reshape(-1), neurons.n_active.to_numpy())
    # the identity "resample" (every row once) gives back the pass's covering counts and detectors
    reps = voita_numbers.cover_replicates(page, firings, weights=np.ones((1, len(firings.rows))))
    table = neurons.set_index(["layer", "neuron"])
    for layer, neuron, cover, det in zip(reps.layers, reps.neurons, reps.cover[0], reps.detector[0]):
        assert cover == table.cover[(layer, neuron)] and det == table.token_detector[(layer, neuron)]
    # and the positional MI of every neuron
    for layer in range(page.n_layers):
        ids = np.arange(page.lm.cfg.d_mlp)
        fr = voita_numbers._mi_replicates(firings, layer, ids, np.ones((1, len(firings.rows))))
        np.testing.assert_allclose(voita_numbers._mi(fr)[0], table.mi.loc[layer].to_numpy(), atol=1e-12)


def test_basic_interval_corrects_the_bias_of_fewer_distinct_rows():
    replicates = np.linspace(35, 54, 10001)  # every replicate sees more dead neurons than the data
    est = voita_numbers._interval(28.0, replicates, 64, "rows")
    lo, hi = np.quantile(replicates, [0.025, 0.975])
    assert est.value == 28 and est.low == pytest.approx(56 - hi) and est.high == pytest.approx(56 - lo)
    assert voita_numbers._interval(1.0, replicates, 64, "rows").low == 0.0  # clipped at the bound
