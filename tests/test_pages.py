"""The page objects: parameters checked before anything loads, the neuron a page follows, and what
a page writes for the scorecard."""

import json

import matplotlib.pyplot as plt
import pytest

from helpers import pages, paper, stolfo_pages
from helpers.errors import ParameterError
from helpers.stats import Estimate


def test_setup_checks_every_parameter_before_loading_the_model(monkeypatch, tmp_path):
    monkeypatch.setattr(stolfo_pages.models, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    params = {"model": "smollm2-135m", "results_dir": str(tmp_path), "n_rows": 8, "k": 3, "seed": -1}
    with pytest.raises(ParameterError, match="parameter seed must be an int >= 0"):
        stolfo_pages.SweepPage.setup("fig1", params)
    with pytest.raises(ParameterError, match="k = 9 exceeds n_rows = 8"):
        stolfo_pages.SweepPage.setup("fig1", {**params, "seed": 0, "k": 9})


def page_for(model: str, **found) -> stolfo_pages.SweepPage:
    """A sweep page whose loading is replaced by the lists a sweep would have given."""
    page = stolfo_pages.SweepPage(results_dir="unused", model=model)
    page.layer = 11
    page.entropy_neurons, page.frequency_neurons = found.get("entropy", []), found.get("frequency", [])
    page.paper_entropy_neurons = [n for l, n in paper.ENTROPY_NEURONS.get(model, []) if l == 11]
    page.paper_frequency_neurons = [n for l, n in paper.TOKEN_FREQUENCY_NEURONS.get(model, []) if l == 11]
    return page


def test_pages_follow_the_papers_case_study_neuron_for_its_models():
    gpt2 = page_for("gpt2-small", entropy=[584, 7])
    assert gpt2.followed() == 2378 and gpt2.followed_kind() == "paper"  # Figs 4a/b, 5a-c, 11: not 11.584
    assert "the entropy neuron the paper follows" in gpt2.why_followed()
    other = page_for("smollm2-135m", entropy=[830, 1022])
    assert other.followed() == 830 and other.followed_kind() == "rule"
    chosen = page_for("gpt2-small")
    chosen.neuron = 5
    assert chosen.followed() == 5 and chosen.followed_kind() == "parameter"


def test_report_writes_intervals_for_the_scorecard_and_figures_have_captions(tmp_path):
    page = pages.Page(results_dir=str(tmp_path), notebook="fig2c_total_vs_direct")
    page.model = "m"
    est = Estimate(2.5, 2.0, 3.0, 8, "rows")
    stored = page.report({"te_over_de_followed": est, "followed": "29.830", "followed_kind": "rule"})
    written = json.loads((tmp_path / "key_numbers.json").read_text())["numbers"]
    assert written == stored and written["te_over_de_followed"] == {"value": 2.5, "ci": [2.0, 3.0], "n": 8,
                                                                     "unit": "rows"}
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = page.figure(fig, "demo", "A **bold** caption with `code`.")
    assert path == tmp_path / "demo.png" and path.stat().st_size > 1000
