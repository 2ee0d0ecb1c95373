"""Every figure notebook executes through papermill on tiny random models, and its key numbers are right."""

import json
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
import torch

from helpers import scorecard
from helpers.models import load_model
from helpers.weights import effective_w_out

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
TINY = ["tiny-random-gpt2", "tiny-random-gemma3"]
# Sizes that keep each run to seconds on a tiny model (passed only to notebooks that declare them).
SMALL = {"n_rows": 8, "k": 2, "n_seqs": 6, "n_ablate_seqs": 3, "repeat_len": 20, "n_bos_seqs": 2, "half": 6,
         "n_score_seqs": 4, "stats_rows": 6, "stats_seq_len": 64}


def run(notebook: Path, tmp_path: Path, **parameters) -> dict:
    results = tmp_path / "results"
    pm.execute_notebook(str(notebook), str(tmp_path / notebook.name), kernel_name="python3",
                        parameters={"results_dir": str(results), **parameters}, progress_bar=False)
    pngs = list(results.glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs), f"{notebook.name} saved no figure"
    return json.loads((results / "key_numbers.json").read_text())


def declares(notebook: Path, name: str) -> bool:
    cell = next(c for c in json.loads(notebook.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    return any(line.startswith(f"{name} =") for line in "".join(cell["source"]).splitlines())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("model", TINY)
def test_notebook_runs_on_tiny_model(notebook, model, tmp_path):
    params = {"models": [model, "tiny-random-llama"]} if declares(notebook, "models") else {"model": model}
    params.update({name: value for name, value in SMALL.items() if declares(notebook, name)})
    numbers = run(notebook, tmp_path, **params)
    assert numbers["numbers"], "no key numbers written"
    for claim in (c for c in scorecard.CLAIMS if c.page == notebook.stem):  # the scorecard can read them
        assert scorecard.evaluate(claim, {notebook.stem: numbers["numbers"]})[0] != "not measured", claim.text


def test_every_scorecard_claim_names_a_notebook():
    assert {c.page for c in scorecard.CLAIMS} <= {p.stem for p in NOTEBOOKS}


def _reference_rho(model_name: str, k: int) -> np.ndarray:
    """rho with a full float64 NumPy SVD, independent of helpers.weights' Gram-matrix route."""
    model = load_model(model_name)
    w = effective_w_out(model).detach().double().numpy()
    u, _, _ = np.linalg.svd(model.W_U.detach().double().numpy(), full_matrices=False)
    return np.linalg.norm(w @ u[:, -k:], axis=1) / np.linalg.norm(w, axis=1)


def test_fig2a_names_the_true_top_rho_neurons(tmp_path):
    notebook = next(p for p in NOTEBOOKS if p.stem.startswith("fig2a"))
    numbers = run(notebook, tmp_path, model="tiny-random-llama", null_space_k=2, top_n=4)["numbers"]
    rho = _reference_rho("tiny-random-llama", 2)
    expected = [f"1.{i}" for i in np.argsort(-rho)[:4]]
    assert numbers["top_rho_neurons"] == expected
    np.testing.assert_allclose(numbers["top_rho_values"], np.sort(rho)[::-1][:4], atol=1e-4)


def test_fig2d_spectrum_numbers(tmp_path):
    notebook = next(p for p in NOTEBOOKS if p.stem.startswith("fig2d"))
    numbers = run(notebook, tmp_path, model="tiny-random-gpt2", null_space_k=3)["numbers"]
    s = np.linalg.svd(load_model("tiny-random-gpt2").W_U.detach().double().numpy(), compute_uv=False)
    assert numbers["s_max"] == pytest.approx(s[0], rel=1e-6)
    assert numbers["median_over_null_space_mean"] == pytest.approx(np.median(s) / s[-3:].mean(), rel=1e-5)
    assert numbers["boundary_step"] == pytest.approx(s[-4] / s[-3], rel=1e-5)


def test_wrongly_typed_parameter_fails_with_a_hint(tmp_path):
    notebook = next(p for p in NOTEBOOKS if p.stem.startswith("fig2a"))
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                            parameters={"model": "tiny-random-gpt2", "top_n": "3", "results_dir": str(tmp_path)})
    assert "ParameterError" in str(err.value) and "top_n" in str(err.value) and "-p top_n" in str(err.value)


def test_unknown_model_fails_with_the_list_of_names(tmp_path):
    notebook = next(p for p in NOTEBOOKS if p.stem.startswith("fig2a"))
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                            parameters={"model": "gpt-17", "results_dir": str(tmp_path)})
    assert "UnknownModelError" in str(err.value) and "smollm2-135m" in str(err.value)


def test_voita_fig1_dead_neurons_match_plain_hooks(tmp_path):
    """Dead-neuron percentages per layer of tiny OPT (ReLU) against fc2-input hooks on the HF model."""
    from helpers import tiny, voita

    notebook = next(p for p in NOTEBOOKS if p.stem.startswith("voita_fig1"))
    numbers = run(notebook, tmp_path, model="tiny-random-opt", stats_rows=6, stats_seq_len=64)["numbers"]
    rows = voita.stats_rows(load_model("tiny-random-opt"), "wikipedia-sample", 6, 64, 42)
    hf, _ = tiny.build("opt")
    seen = []
    for layer in hf.model.decoder.layers:
        layer.fc2.register_forward_pre_hook(lambda m, args: seen.append((args[0] > 0).reshape(6, 64, -1)))
    with torch.no_grad():
        hf(rows)
    dead_pct = [100 * float((~s.any(0).any(0)).float().mean()) for s in seen]
    assert numbers["relu"] and numbers["threshold"] == 0.0
    np.testing.assert_allclose(numbers["dead_pct_per_layer"], dead_pct, atol=1e-3)
    freq_alive = [float(s.float().mean((0, 1))[s.any(0).any(0)].mean()) for s in seen]
    np.testing.assert_allclose(numbers["mean_freq_alive_per_layer"], freq_alive, rtol=1e-4)
