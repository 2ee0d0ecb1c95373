"""Voita's size-dependent numbers: the kept firings rebuild the counting pass on any block of rows,
split estimates by hand, and every interval contains its estimate."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers import cache, voita, voita_numbers, voita_pages
from helpers.stats import Estimate, contains, split_mean


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A Voita page on tiny OPT (ReLU: the paper's 'active'), 8 rows of 64 tokens."""
    root = tmp_path_factory.mktemp("voita")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(cache.RESULTS_ENV, str(root / "results"))
        page = voita_pages.VoitaPage(results_dir=str(root / "page"), model="tiny-random-opt", stats_rows=8, stats_seq_len=64)
        page.load()
        yield page


def test_kept_firings_rebuild_the_counting_pass(page):
    firings = voita_numbers.Firings.of(page.lm, page.stats)
    assert firings is not None
    full = voita_numbers.subset_tables(firings, 0, len(firings.rows), cache=False)
    pd.testing.assert_frame_equal(full["neurons"], page.stats.neurons, check_dtype=False)  # parquet: str dtype
    pd.testing.assert_frame_equal(full["detector_tokens"], page.stats.detector_tokens)
    trigrams = voita.ngram_detectors(page.lm, page.stats, n=3, progress=False)["neurons"]
    pd.testing.assert_frame_equal(full["trigrams"].reset_index(drop=True), trigrams.reset_index(drop=True),
                                  check_like=True)


def test_a_split_is_the_counting_pass_on_its_rows_alone(page, monkeypatch, tmp_path):
    """Rows 2..5 of the pass, from its bits, against a new counting pass (the model run again) on those rows."""
    firings = voita_numbers.Firings.of(page.lm, page.stats)
    part = voita_numbers.subset_tables(firings, 2, 6, cache=False)
    rows = voita.stats_rows(page.lm, page.corpus, page.stats_rows, page.stats_seq_len, page.seed)[2:6]
    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path))
    monkeypatch.setattr(voita, "stats_rows", lambda *args: rows)
    alone = voita.neuron_stats(page.lm, corpus="rows 2-5", n_rows=4, seq_len=64, progress=False)
    pd.testing.assert_frame_equal(part["neurons"], alone.neurons, check_dtype=False)
    pd.testing.assert_frame_equal(part["positional"], alone.positional)


def test_splits_and_prefixes():
    assert voita_numbers.split_bounds(64) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert voita_numbers.split_bounds(66) == [(0, 16), (16, 32), (32, 48), (48, 64)]  # equal sizes, 2 rows left out
    assert voita_numbers.prefix_sizes(64) == [8, 16, 32, 64]
    assert voita_numbers.prefix_sizes(6) == [1, 3, 6]
    assert [voita_numbers.positional_splits(r) for r in (8, 32, 64, 128)] == [2, 2, 4, 4]


def test_split_mean_by_hand():
    est = split_mean(np.array([1.0, 2.0, 3.0, 4.0]), unit="splits")
    sd = math.sqrt(((1.5 ** 2) * 2 + (0.5 ** 2) * 2) / 3)
    assert est.value == 2.5 and est.n == 4
    assert est.low == pytest.approx(2.5 - 3.182 * sd / 2) and est.high == pytest.approx(2.5 + 3.182 * sd / 2)
    clipped = split_mean(np.array([0.0, 0.0, 0.0, 4.0]), unit="splits", bounds=(0, np.inf))
    assert clipped.low == 0.0 and clipped.value == 1.0 and contains(clipped)
    assert math.isnan(split_mean(np.array([1.0, np.nan]), unit="splits").value)  # a split without a value: no number
    assert not contains(Estimate(28, 2, 21, 64, "rows"))  # what the basic bootstrap gave (issue 19)


def _estimates(numbers):
    return {k: v for k, v in numbers.items() if isinstance(v, Estimate)}


def test_every_interval_contains_its_estimate_and_says_its_size(page):
    shown = voita_numbers.oscillatory_neurons(page, 1)
    trigrams = voita.ngram_detectors(page.lm, page.stats, n=3, progress=False)
    suppression = voita.suppression(page.lm, page.stats)
    all_numbers = [voita_numbers.fig1(page), voita_numbers.fig2(page), voita_numbers.fig3(page, trigrams),
                   voita_numbers.fig4(page), voita_numbers.fig5(page, suppression), voita_numbers.fig8(page),
                   voita_numbers.fig9(page, shown)]
    for i, numbers in enumerate(all_numbers):
        # 4 splits of 2 rows; positional numbers (figs 8, 9) 2 splits of 4 rows (fr(pos) needs rows)
        assert numbers["verdict_tokens"] == (4 if i >= 5 else 2) * 64
        assert numbers["convergence"]["tokens"] == [64, 128, 256, 512]
        for key, est in _estimates(numbers).items():
            assert contains(est), (key, est)
    fig3 = all_numbers[2]
    assert "trigram_detectors" in _estimates(fig3)  # V-19 has an interval now
    # the split estimate of detectors is the mean of the detector counts of the four splits, recomputed here
    firings = voita_numbers.Firings.of(page.lm, page.stats)
    counts = [voita_numbers.subset_tables(firings, lo, hi)["neurons"].token_detector.sum()
              for lo, hi in voita_numbers.split_bounds(8)]
    n_neurons = page.n_layers * page.lm.cfg.d_mlp
    assert fig3["token_detector_pct"].value == pytest.approx(100 * np.mean(counts) / n_neurons)
    # the last convergence point is the full pass
    assert all_numbers[0]["convergence"]["dead_pct_first_half"][-1] == pytest.approx(
        100 * page.stats.neurons[page.stats.neurons.layer < page.n_layers / 2].dead.mean())


def test_convergence_figure_draws_every_judged_count_against_tokens(page):
    from helpers import voita_plots

    numbers = voita_numbers.fig1(page)
    fig = voita_plots.convergence(numbers)
    series = numbers["convergence"]
    keys = [k for k in series if k != "tokens"]
    assert len(fig.axes) == len(keys) == 3
    for ax, key in zip(fig.axes, keys):
        line = ax.lines[0]
        assert list(line.get_xdata()) == series["tokens"]
        np.testing.assert_array_equal(line.get_ydata(), series[key])  # NaN where undefined (spearman)
        assert ax.get_xscale() == "log"
