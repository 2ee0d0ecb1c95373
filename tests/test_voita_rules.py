"""The Voita claims' rules: they fail on what an untrained twin shows (issue 19) and pass on what the
paper reports; shown texts say the size of the verdict."""

import pytest

from helpers import scorecard
from helpers.rules import sized
from helpers.scorecard import NA, NOT, REPRODUCED
from helpers.stats import Estimate

UNIT = "mean of 4 disjoint splits of 16 rows (8,192 tokens each)"


def est(value, low=None, high=None, unit=UNIT):
    return Estimate(value, value if low is None else low, value if high is None else high, 4, unit).to_json()


def pages(**numbers):
    """{page: key numbers} with verdict_tokens and n_tokens on every page."""
    return {page: {"verdict_tokens": 8192, "n_tokens": 32768, **values} for page, values in numbers.items()}


def verdicts(numbers):
    return {c.id: scorecard.evaluate(c, numbers, "smollm2-135m") for c in scorecard.CLAIMS if c.id.startswith("V-")}


# What issue 19 measured on untrained twins of SmolLM2, and what the gate rule gives them: no dead neuron
# anywhere, no detector with support, no positional neuron after the correction.
TWIN = pages(
    voita_fig1_dead_neurons={"dead_pct_first_half": est(0.0), "dead_pct_second_half": est(0.0),
                             "spearman_dead_alive_freq": est(float("nan"))},
    voita_fig2_covering_counts={"pct_cover_1_to_5": est(0.0)},
    voita_fig3_token_detectors={"token_detector_pct": est(0.0), "trigram_detectors": est(0.0)},
    voita_fig4_new_tokens={"following_layers": []},
    voita_fig5_suppression={"token_detectors": 0},
    voita_fig8_positional_neurons={"strong_positional_neurons": est(0.0), "positional_neurons": est(383.0, 350, 410),
                                   "oscillatory_lead": est(-0.87, -0.91, -0.84, "positional neurons")},
    voita_fig9_oscillatory_ranges={"strong_oscillatory": est(0.0), "positions_covered": est(0.0)},
    voita_domains={"dead_pct_both_domains": est(0.0)},
)

# The old rules' passes on twins (issue 19): detectors that fire once, a mechanical correlation,
# 50 positional neurons; the numbers as the twin showed them, but read by today's rules.
OLD_TWIN_PASSES = pages(
    voita_fig1_dead_neurons={"dead_pct_first_half": est(0.2, 0.0, 0.5), "dead_pct_second_half": est(0.0),
                             "spearman_dead_alive_freq": est(-0.3, -0.6, 0.0)},
    voita_fig2_covering_counts={"pct_cover_1_to_5": est(1.45, 0.5, 2.5)},
    voita_fig3_token_detectors={"token_detector_pct": est(0.008, 0.0, 0.02), "trigram_detectors": est(0.25, 0, 1.0)},
    voita_domains={"dead_pct_both_domains": est(0.1, 0.0, 0.3), "dead_shared_share": est(0.9, 0.8, 1.0)},
)

PAPER = pages(
    voita_fig1_dead_neurons={"dead_pct_first_half": est(30.0, 25.0, 35.0), "dead_pct_second_half": est(0.0),
                             "spearman_dead_alive_freq": est(-0.8, -0.9, -0.7)},
    voita_fig2_covering_counts={"pct_cover_1_to_5": est(20.0, 15.0, 25.0)},
    voita_fig3_token_detectors={"token_detector_pct": est(0.5, 0.4, 0.6), "trigram_detectors": est(40.0, 30.0, 50.0)},
    voita_fig4_new_tokens={"share_new_following_layers": est(0.8, 0.7, 0.9, "layers")},
    voita_fig5_suppression={"suppression_share": est(0.9, 0.85, 0.95, "detectors"),
                            "share_trigger_in_bottom10": est(0.7, 0.6, 0.8, "detectors")},
    voita_fig8_positional_neurons={"strong_positional_neurons": est(50.0, 40.0, 60.0),
                                   "oscillatory_lead": est(0.3, 0.1, 0.5, "positional neurons")},
    voita_fig9_oscillatory_ranges={"strong_oscillatory": est(10.0, 10.0, 10.0), "positions_covered": est(1.0)},
    voita_domains={"dead_pct_both_domains": est(20.0, 18.0, 22.0), "dead_shared_share": est(0.9, 0.8, 1.0, "neurons"),
                   "strong_positional_shared_share": est(0.8, 0.6, 0.9, "neurons")},
)


def test_no_voita_claim_passes_on_an_untrained_twin():
    for numbers in (TWIN, OLD_TWIN_PASSES):
        for claim_id, result in verdicts(numbers).items():
            assert result.verdict in (NOT, NA), (claim_id, result)


def test_every_voita_claim_passes_on_the_papers_numbers():
    for claim_id, result in verdicts(PAPER).items():
        assert result.verdict == REPRODUCED, (claim_id, result)


def test_size_dependent_verdicts_say_their_size():
    results = verdicts(PAPER)
    for claim_id in ("V-04", "V-05", "V-07", "V-08", "V-19", "V-22", "V-27", "V-30"):
        assert results[claim_id].shown.endswith("at 8,192 tokens"), claim_id
    assert results["V-15"].shown.endswith("at 32,768 tokens")  # over the detectors of every counted token


def test_sized_appends_the_size():
    yes = lambda n, m: scorecard.Result("a", REPRODUCED)  # noqa: E731
    assert sized(yes)({"verdict_tokens": 1024}, "m").shown == "a at 1,024 tokens"
    assert sized(yes)({}, "m").shown == "a"


@pytest.mark.parametrize("claim_id", ["V-13", "V-14", "V-15", "V-31"])
def test_shares_among_too_few_items_are_not_judged(claim_id):
    assert verdicts(TWIN)[claim_id].verdict == NA
