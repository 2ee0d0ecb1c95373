"""The entropy-neuron sweep, its cache and the entropy-neuron rule."""

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import cache, entropy
from helpers.ablation import clean_run, hooked_ablation
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


def hand_made_layer(n: int = 40) -> pd.DataFrame:
    """A layer of ``n`` ordinary neurons (a spread-out bulk) to plant outliers in."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "neuron": range(n), "label": [f"1.{i}" for i in range(n)],
        "rho": rng.uniform(0.1, 0.2, n), "ln_fraction": rng.normal(0, 0.01, n),
        "abs_dentropy": rng.uniform(0.002, 0.004, n), "pred_change": rng.uniform(0.002, 0.006, n),
        "norm": rng.uniform(3, 4, n), "logit_var": rng.uniform(1e-3, 2e-3, n),
        "abs_dkl": rng.uniform(0.003, 0.005, n), "freq_fraction": rng.normal(0, 0.01, n),
    })
    frame.attrs["n_tokens"] = 1000
    return frame


def test_entropy_rule_on_a_hand_made_layer():
    """Outliers in rho and 1 - DE/TE with a majority share and more entropy per prediction change."""
    s = hand_made_layer()
    s.loc[0, ["rho", "ln_fraction", "abs_dentropy", "pred_change"]] = [0.8, 0.7, 0.03, 0.001]  # entropy neuron
    s.loc[1, ["rho", "ln_fraction", "abs_dentropy", "pred_change"]] = [0.9, 0.8, 0.05, 0.002]  # a stronger one
    s.loc[2, ["rho", "ln_fraction"]] = [0.8, 0.3]  # an outlier in both, but not mostly through the norm
    s.loc[3, ["rho", "ln_fraction"]] = [0.15, 0.9]  # through the norm, but not in the null space
    s.loc[4, ["rho", "ln_fraction", "abs_dentropy", "pred_change"]] = [0.8, 0.7, 0.003, 0.05]  # moves the prediction
    s.loc[5, ["norm", "logit_var"]] = [40, 1e-6]  # high norm, low LogitVar: not a criterion
    assert entropy.entropy_neurons(s) == [1, 0]
    s.loc[6:, "ln_fraction"] = 0.6  # if the whole layer acted through the norm, nothing would be unusual
    assert entropy.entropy_neurons(s) == []


def test_token_frequency_rule_on_a_hand_made_layer():
    s = hand_made_layer()
    s.loc[0, ["abs_dkl", "freq_fraction"]] = [0.05, 0.4]  # token-frequency neuron
    s.loc[1, ["abs_dkl", "freq_fraction"]] = [0.09, 0.5]  # a stronger one
    s.loc[2, ["abs_dkl", "freq_fraction"]] = [0.09, 0.02]  # moves the KL, not along u_freq (an entropy neuron)
    s.loc[3, ["abs_dkl", "freq_fraction"]] = [0.004, 0.6]  # along u_freq, but a small KL effect
    s.loc[4, ["abs_dkl", "freq_fraction"]] = [0.09, 0.2]  # an outlier in both, but below a quarter
    assert entropy.token_frequency_neurons(s) == [1, 0]


def test_sweep_matches_a_hooked_rerun_and_is_cached(results):
    model = load_model("tiny-random-llama")
    sweep = entropy.run_sweep(model, n_rows=6, k=2, tokens_per_row=0, seed=1, progress=False)
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
    assert set(sweep.summary.nlargest(entropy.N_TOP, "rho").neuron) <= candidates
    assert len(sweep.random_neurons) == min(entropy.N_RANDOM, model.cfg.d_mlp - len(candidates))
    again = entropy.run_sweep(model, n_rows=6, k=2, tokens_per_row=0, seed=1, progress=False)
    pd.testing.assert_frame_equal(again.summary, sweep.summary)
    assert len(list(results.iterdir())) == 1


def test_k_larger_than_rows_is_an_error():
    model = load_model("tiny-random-gpt2")
    with pytest.raises(ValueError, match="k .evaluated rows. must be between 2 and n_rows=3"):
        entropy.run_sweep(model, n_rows=3, k=5, tokens_per_row=0, cache=False)
    with pytest.raises(ValueError, match="disjoint halves"):  # one row cannot be split for selection and judgement
        entropy.run_sweep(model, n_rows=3, k=1, tokens_per_row=0, cache=False)


def test_cache_key_follows_the_computing_code(monkeypatch):
    before = cache.cache_key({"a": 1}, "helpers.entropy")
    monkeypatch.setattr(cache.deps, "digest", lambda modules: "edited")
    assert cache.cache_key({"a": 1}, "helpers.entropy") != before


def planted_llama():
    """tiny-random-llama with an entropy neuron and a token-frequency neuron planted in the final layer.

    Entropy neuron 5 writes only along residual direction 0, which the unembedding ignores (its row
    of W_U is zeroed), with a large weight: it can act only through the final norm's scale.
    Token-frequency neuron 7 writes only along residual direction 1, whose row of W_U is made the
    frequency direction u_freq of the corpus the sweep counts: its direct effect on the logits is
    along u_freq and nothing else, and no other neuron writes along it.
    """
    import torch

    from helpers import unigram

    model = load_model("tiny-random-llama")
    layer = model.cfg.n_layers - 1
    u = unigram.frequency_direction(unigram.unigram_distribution(unigram.count_tokens(model, "wikipedia-sample"),
                                                                 model.cfg.d_vocab))
    with torch.no_grad():
        w_u = model.unembed.weight  # [vocab, d_model]
        w_u[:, 0] = 0  # residual direction 0 is now an exact null space
        w_u[:, 1] = (u * w_u[:, 2:].norm(dim=0).median()).float()  # direction 1 moves the logits along u_freq
        out = model.blocks[layer].mlp.out.weight  # [d_model, d_mlp]
        typical = out.norm(dim=0).median()
        out[1] = 0  # no other neuron writes along the frequency direction
        out[:, 5] = 0
        out[0, 5] = 30 * typical
        out[:, 7] = 0
        out[1, 7] = 3 * typical
    return model


def test_rules_select_exactly_the_planted_neurons(results):
    model = planted_llama()
    sweep = entropy.run_sweep(model, n_rows=6, k=3, tokens_per_row=0, seed=0, progress=False)
    s = sweep.summary.set_index("neuron")
    assert s.rho[5] > 0.99 and s.ln_fraction[5] > 0.9  # the planted neuron is what it should be
    assert entropy.entropy_neurons(sweep.summary) == [5]
    assert entropy.token_frequency_neurons(sweep.summary) == [7]
    counts = entropy.selection_counts(sweep, seed=0)
    assert counts["entropy"].value == 1 and counts["frequency"].value == 1


def test_at_most_per_row_keeps_a_seeded_subset_of_each_rows_tokens():
    from helpers.entropy import at_most_per_row

    keep = torch.zeros(3, 10, dtype=torch.bool)
    keep[0, [1, 2, 4, 6, 9]] = True  # 5 tokens: 3 of them are kept
    keep[1, [0, 7]] = True  # 2 tokens: both kept
    out = at_most_per_row(keep, 3, seed=1)
    assert out.sum(1).tolist() == [3, 2, 0]
    assert not (out & ~keep).any()  # only tokens the filter kept
    assert torch.equal(out[1], keep[1])
    assert torch.equal(at_most_per_row(keep, 3, seed=1), out)  # seeded
    assert any(not torch.equal(at_most_per_row(keep, 3, seed=s), out) for s in range(2, 12))  # a choice, not the first 3
