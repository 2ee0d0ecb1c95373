"""Selection and judgement on disjoint rows: the rules read only the selection rows, the claims about
the selected neurons only the judgement rows, and sign claims are judged over the selected set."""

import numpy as np
import pandas as pd
import pytest

from helpers import entropy, scorecard, stolfo_numbers, stolfo_pages
from helpers.errors import ParameterError

EVAL_ROWS = [10, 11, 12, 13]  # selection rows: 10, 12; judgement rows: 11, 13


def test_split_rows_alternates_and_needs_two_rows():
    sel, judge = entropy.split_rows(8)
    assert sel.tolist() == [0, 2, 4, 6] and judge.tolist() == [1, 3, 5, 7]
    sel, judge = entropy.split_rows(5)
    assert sel.tolist() == [0, 2, 4] and judge.tolist() == [1, 3]
    with pytest.raises(ParameterError, match="disjoint"):
        entropy.split_rows(1)


def hand_made_sweep(ln_by_row: dict[int, list[float]], n: int = 40) -> entropy.Sweep:
    """A layer of ``n`` ordinary neurons over EVAL_ROWS (100 tokens each); neuron i in ``ln_by_row``
    gets ρ = 0.8, a large |ΔH| and the given 1 − DE/TE on each of the four rows."""
    rng = np.random.default_rng(0)
    summary = pd.DataFrame({"neuron": range(n), "label": [f"1.{i}" for i in range(n)],
                            "rho": rng.uniform(0.1, 0.2, n), "norm": rng.uniform(3, 4, n),
                            "logit_var": rng.uniform(1e-3, 2e-3, n), "freq_cos": rng.uniform(0, 0.1, n),
                            "mean_act": np.zeros(n)})
    records = []
    for i in range(n):
        for j, row in enumerate(EVAL_ROWS):
            ln = ln_by_row[i][j] if i in ln_by_row else rng.normal(0, 0.01)
            dh = 5.0 if i in ln_by_row else rng.uniform(0.2, 0.4)
            records.append({"neuron": i, "row": row, "n_tokens": 100, "te": 100.0, "de": 100.0 * (1 - ln),
                            "abs_dh": dh, "dh": -dh, "pred": rng.uniform(0.2, 0.6),
                            "freq": 100.0, "abs_dkl": rng.uniform(0.3, 0.5)})
    for i in ln_by_row:
        summary.loc[i, "rho"] = 0.8
    per_row = pd.DataFrame(records)
    sweep = entropy.Sweep(summary=summary, tokens=pd.DataFrame(), per_row=per_row,
                          info={"eval_rows": EVAL_ROWS, "random_neurons": list(range(20, 30)), "layer": 1,
                                "n_tokens": 400})
    full = entropy.summary_on(summary, sweep.sums, np.arange(4))
    sweep.summary = summary.merge(full[["neuron", "ln_fraction", "abs_dentropy", "pred_change", "freq_fraction",
                                        "abs_dkl"]], on="neuron")
    sweep.summary.attrs["n_tokens"] = 400
    return sweep


def sweep_page(sweep: entropy.Sweep) -> stolfo_pages.SweepPage:
    page = stolfo_pages.SweepPage(results_dir="unused", model="smollm2-135m")
    page.sweep, page.summary, page.layer = sweep, sweep.summary, 1
    page.entropy_neurons, page.frequency_neurons = sweep.entropy_neurons, sweep.token_frequency_neurons
    page.paper_entropy_neurons = page.paper_frequency_neurons = []
    return page


def test_rules_read_only_the_selection_rows_and_claims_only_the_judgement_rows():
    # neuron 0 acts through the norm on the selection rows only, neuron 1 on the judgement rows only
    sweep = hand_made_sweep({0: [0.9, 0.0, 0.9, 0.0], 1: [0.0, 0.9, 0.0, 0.9]})
    assert sweep.selection_rows == [10, 12] and sweep.judgement_rows == [11, 13]
    assert sweep.entropy_neurons == [0]
    assert sweep.selection_summary.ln_fraction[0] == pytest.approx(0.9)
    assert sweep.judgement_summary.ln_fraction[0] == pytest.approx(0.0, abs=1e-12)
    page = sweep_page(sweep)
    est = stolfo_numbers.over_selected(page, [0], stolfo_numbers._from_summary(page, [0], lambda f: f.ln_fraction))
    assert est.value == pytest.approx(0.0, abs=1e-12) and est.low <= est.value <= est.high
    # so S-02 can fail: a neuron selected for its norm-mediated share is judged on rows it was not selected on
    claim = next(c for c in scorecard.CLAIMS if c.id == "S-02")
    assert claim.judge({"ln_fraction_selected": est.to_json()}, "m").verdict == scorecard.NOT


def test_over_selected_is_a_median_over_neurons_with_an_interval_over_rows_and_neurons():
    sweep = hand_made_sweep({0: [0.9, 0.6, 0.9, 0.8], 1: [0.9, 0.2, 0.9, 0.4], 2: [0.9, 0.7, 0.9, 0.7]})
    page = sweep_page(sweep)
    est = stolfo_numbers.over_selected(page, [0, 1, 2],
                                       stolfo_numbers._from_summary(page, [0, 1, 2], lambda f: f.ln_fraction))
    # judgement-row shares: neuron 0: 1 − (40 + 20) / 200 = 0.7; neuron 1: 0.3; neuron 2: 0.7 -> median 0.7
    assert est.value == pytest.approx(0.7)
    # the extremes of a replicate: neuron 1 on row 11 alone (0.2), neuron 0 on row 13 alone (0.8)
    assert est.low == pytest.approx(0.2) and est.high == pytest.approx(0.8)
    assert est.n == 2 and "3 selected neurons" in est.unit
    assert stolfo_numbers.over_selected(page, [], lambda idx: np.array([])) is None


def frequency_tokens(signs: dict[int, tuple[float, float]]) -> pd.DataFrame:
    """Per-token results: neuron n, on every evaluated row, 4 active RR = 1 tokens with ΔH, ΔKL of the
    given signs on the judgement rows and the opposite on the selection rows."""
    records = []
    for n, (dh, dkl) in signs.items():
        for row in EVAL_ROWS:
            flip = 1 if row in (11, 13) else -1
            for pos in range(4):
                records.append({"neuron": n, "row": row, "pos": pos, "activation": 1.0, "rr": 1.0,
                                "dentropy_te": flip * dh * (1 + pos), "dkl_te": flip * dkl * (1 + pos),
                                "dloss_te": 0.0})
    return pd.DataFrame(records)


def test_sign_claims_are_shares_of_the_selected_set_on_the_judgement_rows():
    sweep = hand_made_sweep({})
    sweep.tokens = frequency_tokens({3: (-0.1, 0.2), 4: (-0.1, 0.2), 5: (0.1, -0.2), 6: (-0.1, -0.2)})
    page = sweep_page(sweep)
    page.frequency_neurons = [5, 3, 4, 6]  # the followed neuron (the rule's first) has the opposite sign
    numbers = stolfo_numbers.fig4c(page)
    assert numbers["followed_frequency"] == "1.5"
    assert numbers["share_frequency_raising_entropy"].value == pytest.approx(3 / 4)  # 3, 4, 6 lower H when ablated
    assert numbers["share_frequency_towards_pfreq"].value == pytest.approx(2 / 4)  # 3, 4 raise the KL
    for key in ("share_frequency_raising_entropy", "share_frequency_towards_pfreq"):
        est = numbers[key]
        assert 0 <= est.low <= est.value <= est.high <= 1
    s22b = next(c for c in scorecard.CLAIMS if c.id == "S-22b")
    assert s22b.judge({"share_frequency_towards_pfreq": numbers["share_frequency_towards_pfreq"].to_json()},
                      "m").verdict == scorecard.NOT  # half is not most


def test_followed_neuron_policy():
    layer = pd.DataFrame({"neuron": [0, 1, 2], "rho": [0.1, 0.9, 0.1], "ln_fraction": [0.0, 0.0, 0.0],
                          "abs_dentropy": [1.0, 1.0, 1.0], "pred_change": [0.1, 0.1, 0.1], "norm": [1.0, 1.0, 1.0],
                          "logit_var": [1.0, 1.0, 1.0]})
    layer.attrs["n_tokens"] = 10
    assert entropy.followed_neuron(None, "entropy", [7, 3]) == (7, "rule")
    assert entropy.followed_neuron(None, "entropy", [7], parameter=2) == (2, "parameter")
    assert entropy.followed_neuron(None, "entropy", [7], named=[4, 5]) == (4, "paper")
    assert entropy.followed_neuron(None, "entropy", [7], case=9, named=[4]) == (9, "paper")
    assert entropy.followed_neuron(layer, "entropy", []) == (1, "stand-in")
    with pytest.raises(ParameterError):
        entropy.followed_neuron(None, "entropy", [])


def test_fig2e_judges_the_tail_of_the_highest_rho_neurons():
    sweep = hand_made_sweep({i: [0.6, 0.6, 0.6, 0.6] for i in range(6)})
    page = sweep_page(sweep)
    numbers = stolfo_numbers.fig2e(page)
    s = sweep.summary.sort_values("rho", ascending=False)
    expected = s.ln_fraction.iloc[:10].median() - s.ln_fraction.iloc[10:].median()  # 6 planted of the top 10
    est = numbers["ln_fraction_top_rho_minus_rest"]
    assert est.value == pytest.approx(expected) and expected > 0.5
    assert est.low <= est.value <= est.high and est.unit == "rows"
    s13 = next(c for c in scorecard.CLAIMS if c.id == "S-13")
    assert s13.judge({"ln_fraction_top_rho_minus_rest": est.to_json()}, "m").verdict == scorecard.REPRODUCED
    flat = stolfo_numbers.fig2e(sweep_page(hand_made_sweep({})))["ln_fraction_top_rho_minus_rest"]
    assert s13.judge({"ln_fraction_top_rho_minus_rest": flat.to_json()}, "m").verdict == scorecard.NOT


def test_share_of_frequency_neurons_aligned_with_log_frequency():
    sweep = hand_made_sweep({})
    sweep.tokens = frequency_tokens({3: (-0.1, 0.2), 4: (-0.1, 0.2), 5: (0.1, -0.2)})
    sweep.summary.loc[[3, 4], "freq_cos"] = [0.7, -0.6]  # |cos| > 0.5 for two of three
    page = sweep_page(sweep)
    page.frequency_neurons = [5, 3, 4]
    page.estimates = lambda n: {"freq_fraction": None, "abs_dkl": None}
    est = stolfo_numbers.fig3b(page)["share_frequency_cos_strong"]
    assert est.value == pytest.approx(2 / 3)
    # resampling 3 neurons: no aligned one with probability (1/3)^3 = 3.7 % > 2.5 %, all with (2/3)^3 = 30 %
    assert est.low == pytest.approx(0) and est.high == pytest.approx(1) and est.n == 3
