"""The cached clean pass over repeated sequences (induction.repeat_pass) against hook-based re-runs."""

import numpy as np
import pytest
import torch

from helpers import cache, induction
from helpers.ablation import clean_run, token_metrics
from helpers.models import load_model


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.RESULTS_ENV, str(tmp_path / "results"))
    return tmp_path / "results"


def repeats(seed: int = 0) -> torch.Tensor:
    rows = torch.randint(1, 200, (6, 30), generator=torch.Generator().manual_seed(seed))
    rows[:, 0] = 0
    return induction.repeated_sequences(rows, n=12, n_seqs=5, seed=0)


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-gemma3"])
def test_per_position_and_clean_run_match_a_hooked_pass(name, results):
    model = load_model(name)
    layer = model.cfg.n_layers - 1
    seqs = repeats()
    rp = induction.repeat_pass(model, seqs, batch_size=2, progress=False)
    with torch.no_grad():
        logits, cache_ = model.run_with_cache(seqs)
    acts = cache_[f"blocks.{layer}.mlp.hook_post"].double()
    metrics = token_metrics(logits[:, :-1], seqs[:, 1:])
    frame = rp.per_position([3, 10])
    np.testing.assert_allclose(frame.loss, metrics["loss"].mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(frame.entropy, metrics["entropy"].mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(frame.act_10, acts[:, :-1, 10].mean(0).numpy(), atol=1e-5)
    n = seqs.shape[1] // 2  # BOS + a + a with |a| = n: the authors' windows are pos <= n and pos > n
    expected = acts[:, n + 1:].mean(dim=(0, 1)) - acts[:, :n + 1].mean(dim=(0, 1))
    np.testing.assert_allclose(rp.d_syn().numpy(), expected.numpy(), atol=1e-5)
    per_seq = acts[:, n + 1:].mean(1) - acts[:, :n + 1].mean(1)
    np.testing.assert_allclose((rp.window_means[1] - rp.window_means[0]).numpy(), per_seq.numpy(), atol=1e-5)
    part = rp.clean_run(2)  # the first two sequences only (what the clip ablation evaluates)
    assert len(part.rows) == 2 and int(part.positions[:, 0].max()) == 1
    # the clean run the closed-form ablation needs, field by field
    mine = rp.clean_run()
    ref = clean_run(model, seqs, range(len(seqs)), keep=induction.all_but_last(seqs), progress=False)
    for field in ("positions", "targets", "rows"):
        torch.testing.assert_close(getattr(mine, field), getattr(ref, field))
    for field in ("resid", "acts", "mlp_out", "mean_acts"):
        if getattr(ref, field) is None:
            assert getattr(mine, field) is None
        else:
            torch.testing.assert_close(getattr(mine, field), getattr(ref, field), atol=1e-5, rtol=1e-5)
    assert mine.n_mean_tokens == ref.n_mean_tokens and mine.layer == ref.layer


def test_the_pass_is_cached_and_keyed_by_the_sequences(results, monkeypatch):
    model = load_model("tiny-random-gpt2")
    seqs = repeats()
    first = induction.repeat_pass(model, seqs, progress=False)
    with monkeypatch.context() as m:
        m.setattr(type(model), "forward", lambda *a, **k: pytest.fail("ran the model again"))
        again = induction.repeat_pass(model, seqs, progress=False)
        table = induction.per_position(model, seqs, [4], progress=False)
    torch.testing.assert_close(again.acts, first.acts)
    np.testing.assert_allclose(table.act_4, first.act_mean[:-1, 4].numpy())
    other = induction.repeat_pass(model, repeats(seed=1), progress=False)
    assert not torch.equal(other.loss, first.loss)


def test_over_budget_keeps_means_and_the_neurons_asked_for(results):
    model = load_model("tiny-random-gemma3")
    seqs = repeats()
    small = induction.repeat_pass(model, seqs, neurons=[3, 10], max_gb=1e-6, progress=False)
    full = induction.repeat_pass(model, seqs, progress=False)
    assert small.acts is None and small.resid is None and full.acts is not None
    torch.testing.assert_close(small.activations(10), full.activations(10))
    torch.testing.assert_close(small.act_mean, full.act_mean)
    with pytest.raises(Exception, match="neurons"):
        small.activations(5)
    with pytest.raises(Exception, match="clean_run"):
        small.clean_run()
