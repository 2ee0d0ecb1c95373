"""The entropy-neuron sweep, its cache and the entropy-neuron rule."""

import numpy as np
import pandas as pd
import pytest

from helpers import cache, entropy
from helpers.ablation import hooked_ablation, clean_run
from helpers.models import load_model


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path / "results"))
    return tmp_path / "results"


def test_cached_tables_compute_once_per_key(results):
    calls = []

    def compute():
        calls.append(1)
        frame = pd.DataFrame({"x": [1.0, 2.0]})
        frame.attrs["n"] = 2
        return {"t": frame}

    first = cache.cached_tables("demo", {"a": 1}, compute)
    again = cache.cached_tables("demo", {"a": 1}, compute)
    other = cache.cached_tables("demo", {"a": 2}, compute)
    assert len(calls) == 2
    pd.testing.assert_frame_equal(first["t"], again["t"])
    assert again["t"].attrs["n"] == 2 and len(other) == 1


def test_interrupted_computation_leaves_nothing(results):
    def broken():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached_tables("demo", {"a": 3}, broken)
    assert list(results.iterdir()) == []


def test_rule_on_a_hand_made_layer():
    """Top-10 by rho, then 1 - DE/TE >= 0.5 and prediction change <= the layer median, sorted by |ΔH|."""
    n = 14
    summary = pd.DataFrame({
        "neuron": range(n),
        "rho": [0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.1, 0.05, 0.01],
        "ln_fraction": [0.9, 0.4, 0.8, 0.7, 0.9, 0.6, 0.2, 0.55, 0.9, 0.95, 0.99, 0.99, 0.0, 0.0],
        "pred_change": [0.001, 0.001, 0.5, 0.002, 0.003, 0.004, 0.001, 0.0, 0.2, 0.1, 0.0, 0.0, 0.1, 0.1],
        "abs_dentropy": [0.01, 0.5, 0.5, 0.03, 0.02, 0.002, 0.5, 0.001, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0],
    })
    # median prediction change = 0.0025: neuron 4 (0.003), 5 (0.004) and 9 (0.1) fail it; 1, 6 fail 1 - DE/TE;
    # 2, 8 fail both; 10, 11 are not in the top 10 by rho.
    assert entropy.entropy_neurons(summary) == [3, 0, 7]


def test_sweep_matches_a_hooked_rerun_and_is_cached(results):
    model = load_model("tiny-random-llama")
    sweep = entropy.run_sweep(model, n_rows=6, k=2, seed=1, progress=False)
    assert len(sweep.summary) == model.cfg.d_mlp
    assert sweep.info["eval_rows"] == sorted(np.random.default_rng(1).choice(6, 2, replace=False).tolist())
    # The per-token numbers of one kept neuron equal a hooked re-run on the same rows.
    neuron = int(sweep.tokens.neuron.iloc[0])
    rows = entropy.sweep_rows(model, sweep)
    run = clean_run(model, rows, sweep.info["eval_rows"], progress=False)
    ref = hooked_ablation(model, run, neuron, frozen_scale=False)
    mine = sweep.tokens[sweep.tokens.neuron == neuron]
    np.testing.assert_allclose(mine.dloss_te.to_numpy(), ref["loss"].numpy() - mine.loss.to_numpy(), atol=1e-4)
    candidates = set(sweep.tokens.neuron) - set(sweep.random_neurons)
    assert set(sweep.summary.nlargest(entropy.TOP_RHO, "rho").neuron) <= candidates
    assert len(sweep.random_neurons) == min(entropy.N_RANDOM, model.cfg.d_mlp - len(candidates))
    again = entropy.run_sweep(model, n_rows=6, k=2, seed=1, progress=False)
    pd.testing.assert_frame_equal(again.summary, sweep.summary)
    assert len(list(results.iterdir())) == 1


def test_k_larger_than_rows_is_an_error():
    model = load_model("tiny-random-gpt2")
    with pytest.raises(ValueError, match="k .evaluated rows. must be between 1 and n_rows=3"):
        entropy.run_sweep(model, n_rows=3, k=5, cache=False)


def test_cache_key_follows_the_computing_code(monkeypatch):
    before = cache.cache_key({"a": 1}, "helpers.entropy")
    monkeypatch.setattr(cache.deps, "digest", lambda modules: "edited")
    assert cache.cache_key({"a": 1}, "helpers.entropy") != before
