"""The figure modules draw the data they are given, where they are told to, and never show or save.

Each test builds a small table by hand and reads the numbers back from the matplotlib artists.
"""

from __future__ import annotations

import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import deps, plot_style, stolfo_plots, voita_plots  # noqa: E402

RNG = np.random.default_rng(0)
LAYER = 5


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def summary_table(n: int = 40) -> pd.DataFrame:
    """A per-neuron sweep summary with the columns the Stolfo figures read."""
    return pd.DataFrame({
        "neuron": np.arange(n), "label": [f"{LAYER}.{i}" for i in range(n)],
        "pred_change": RNG.uniform(0, 0.02, n), "abs_dentropy": RNG.uniform(0, 0.05, n),
        "ln_fraction": RNG.uniform(-1, 1.5, n), "rho": RNG.uniform(0, 1, n), "norm": RNG.uniform(1, 5, n),
        "logit_var": RNG.uniform(1e-5, 1e-3, n), "freq_fraction": RNG.uniform(-1, 1, n), "abs_dkl": RNG.uniform(0, 1, n),
    })


def offsets(ax, i: int = 0) -> np.ndarray:
    return [c for c in ax.collections if isinstance(c, PathCollection)][i].get_offsets().data


def annotations(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def lines(ax) -> dict[str, matplotlib.lines.Line2D]:
    return {line.get_label(): line for line in ax.get_lines()}


# --- Stolfo ---------------------------------------------------------------------------------------


def test_prediction_change_vs_entropy_plots_each_neuron_and_labels_the_highlighted():
    summary = summary_table()
    fig, ax = plt.subplots()
    out = stolfo_plots.prediction_change_vs_entropy(summary, [3, 7], "t", ax=ax)
    assert out is fig and plt.get_fignums() == [fig.number]  # drawn into the given axes, no new figure
    np.testing.assert_allclose(offsets(ax), np.c_[100 * summary.pred_change, summary.abs_dentropy])
    colours = [c for c in ax.collections if isinstance(c, PathCollection)][0].get_array()
    np.testing.assert_allclose(colours, summary.ln_fraction.clip(-0.2, 1))
    np.testing.assert_allclose(offsets(ax, 1), np.c_[100 * summary.pred_change, summary.abs_dentropy][[3, 7]])
    assert annotations(ax) == ["5.3", "5.7"]
    assert "prediction change" in ax.get_xlabel() and "ΔEntropy" in ax.get_ylabel() and ax.get_title() == "t"


def test_rho_vs_ln_fraction_clips_the_share_and_colours_by_entropy_change():
    summary = summary_table()
    ax = stolfo_plots.rho_vs_ln_fraction(summary, [1]).axes[0]
    order = summary.sort_values("abs_dentropy")
    np.testing.assert_allclose(offsets(ax), np.c_[order.rho, order.ln_fraction.clip(-0.5, 1)])
    np.testing.assert_allclose([c for c in ax.collections if isinstance(c, PathCollection)][0].get_array(),
                               order.abs_dentropy)
    assert annotations(ax) == ["5.1"] and ax.get_xlabel() == plot_style.LABELS["rho"]


def test_norm_vs_logit_var_into_three_given_axes():
    table = summary_table()
    fig, axes = plt.subplots(1, 3)
    assert stolfo_plots.norm_vs_logit_var(table, [0, 2], "t", axes=axes) is fig
    joint = axes[0]
    np.testing.assert_allclose(offsets(joint, 1), table[["norm", "logit_var"]].to_numpy()[[0, 2]])
    assert len(offsets(joint, 0)) == len(table) - 2 and joint.get_yscale() == "log"
    assert sum(p.get_height() for p in axes[1].patches) == len(table)  # the histogram counts every neuron
    assert annotations(joint) == ["5.0", "5.2"] and fig._suptitle.get_text() == "t"


def test_norm_vs_logit_var_makes_its_own_joint_grid():
    fig = stolfo_plots.norm_vs_logit_var(summary_table(), [], "title")
    assert isinstance(fig, Figure) and len(fig.axes) == 3


def test_total_vs_direct_boxes_one_pair_per_neuron_and_random():
    tokens = pd.DataFrame({"neuron": np.repeat([1, 2, 8, 9], 50), "dloss_te": RNG.normal(size=200),
                           "dloss_de": RNG.normal(size=200)})
    ax = stolfo_plots.total_vs_direct_boxes(tokens, [1, 2], [8, 9], LAYER).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5.1", "5.2", "Random"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Total", "Direct"]
    # the Total box of neuron 1: its median line sits at the median of |ΔL_TE| after the 1.5 IQR cut
    values = tokens.dloss_te[tokens.neuron == 1].abs()
    q1, q3 = values.quantile([0.25, 0.75])
    kept = values[(values >= q1 - 1.5 * (q3 - q1)) & (values <= q3 + 1.5 * (q3 - q1))]
    medians = [line.get_ydata()[0] for line in ax.get_lines() if len(set(line.get_ydata())) == 1]
    assert any(np.isclose(m, kept.median()) for m in medians)


def test_singular_values_and_cosines_draw_the_spectrum_and_shade_the_null_space():
    s = np.sort(RNG.uniform(0.1, 10, 30))[::-1]
    cos = {"5.1": RNG.uniform(-1, 1, 30)}
    fig = stolfo_plots.singular_values_and_cosines(s, cos, 4, "t")
    ax_s, ax_c = fig.axes
    np.testing.assert_allclose(ax_s.get_lines()[0].get_ydata(), s)
    np.testing.assert_allclose(lines(ax_c)["5.1"].get_ydata(), cos["5.1"])
    span = ax_s.patches[0].get_bbox()
    assert (span.x0, span.x1) == (pytest.approx(25.5), pytest.approx(29.5))


def test_kl_vs_entropy_counts_every_token():
    entropy, kl = RNG.uniform(0, 5, 300), RNG.uniform(0, 3, 300)
    ax = stolfo_plots.kl_vs_entropy(entropy, kl).axes[0]
    hexes = [c for c in ax.collections if isinstance(c, PolyCollection)][0]
    assert hexes.get_array().sum() == 300  # bins="log" normalises colours, the array keeps the counts


def test_neuron_types_scatter_groups_and_counts():
    summary = summary_table(20)
    ax = stolfo_plots.neuron_types_scatter(summary, entropy=[1, 2], frequency=[2, 3, 4]).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Normal (16)", "Entropy (1)", "Token frequency (3)"]
    np.testing.assert_allclose(offsets(ax, 2), np.c_[summary.freq_fraction.clip(-0.5, 1), summary.abs_dkl][[2, 3, 4]])
    assert annotations(ax) == ["5.1", "5.2", "5.3", "5.4"]


def test_token_scatter_and_passage_plot():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, -1.0], "c": [0.1, 0.9]})
    ax = stolfo_plots.token_scatter(frame, "a", "b", "c", xlabel="x", ylabel="y", clabel="z").axes[0]
    np.testing.assert_allclose(offsets(ax), [[1, 3], [2, -1]])
    passage = pd.DataFrame({"pos": [4, 5, 6], "token": [" Mes", "other", "apy"], "activation": [0.1, 2.0, 0.3],
                            "loss": [1.0, 5.0, 0.2], "entropy": [2.0, 3.0, 1.0], "dloss_te": [np.nan, 0.5, np.nan]})
    passage.attrs.update(peak_pos=5, mean_act=0.2)
    fig, axes = plt.subplots(3, 1)
    assert stolfo_plots.passage_plot(passage, "5.9", "t", axes=axes) is fig
    assert [p.get_height() for p in axes[0].patches] == [0.1, 2.0, 0.3]
    assert [t.get_text() for t in axes[2].get_xticklabels()] == [" Mes", "other", "apy"]
    assert axes[0].get_lines()[-1].get_xdata()[0] == 1  # the peak's index


def per_position(n_pos: int = 11, neurons=(1, 2)) -> pd.DataFrame:
    stats = pd.DataFrame({"pos": np.arange(n_pos), "loss": RNG.uniform(0, 5, n_pos), "entropy": RNG.uniform(0, 5, n_pos)})
    for n in neurons:
        stats[f"act_{n}"] = RNG.normal(size=n_pos)
    return stats


def test_repeated_text_panels():
    stats = per_position()
    fig = stolfo_plots.repeated_text(stats, [1, 2], layer=LAYER, repeat_len=5, title="t")
    top, bottom = fig.axes
    np.testing.assert_allclose(lines(top)["loss"].get_ydata(), stats.loss)
    np.testing.assert_allclose(lines(bottom)["5.2"].get_ydata(), stats.act_2)
    assert all(ax.get_lines()[-1].get_xdata()[0] == 5 for ax in (top, bottom))  # the repeat's start


def test_clip_ablation_ratios_neurons_and_random():
    table = pd.DataFrame({"neuron": np.repeat([1, 9], 4), "pos": np.tile(np.arange(4), 2),
                          "entropy_ratio_te": RNG.uniform(0.3, 1.1, 8)})
    ax = stolfo_plots.clip_ablation_ratios(table, [1], random=[9], layer=LAYER, repeat_len=2).axes[0]
    drawn = lines(ax)
    np.testing.assert_allclose(drawn["5.9 (random)"].get_ydata(), table.entropy_ratio_te[4:])
    assert drawn["5.9 (random)"].get_linestyle() == ":" and drawn["5.1"].get_linestyle() == "-"
    assert ax.get_ylabel() == plot_style.LABELS["entropy_ratio"]


def test_bos_ablation_curves_start_at_position_one():
    original = RNG.normal(size=6)
    curves = {"Ind. head 1": RNG.normal(size=6), "baseline L1H1": RNG.normal(size=6)}
    ax = stolfo_plots.bos_ablation_curves(original, curves, neuron_label="5.3", repeat_start=4).axes[0]
    drawn = lines(ax)
    np.testing.assert_allclose(drawn["original"].get_xdata(), np.arange(1, 7))
    np.testing.assert_allclose(drawn["Ind. head 1"].get_ydata(), curves["Ind. head 1"])
    assert drawn["baseline L1H1"].get_linestyle() == ":" and "5.3" in ax.get_ylabel()


def test_frequency_neurons_on_repeats_averages_the_ratio_per_position():
    stats = per_position(4, neurons=(1, 2))
    clip = pd.DataFrame({"neuron": np.repeat([1, 2], 8), "seq": np.tile(np.repeat([0, 1], 4), 2),
                         "pos": np.tile(np.arange(4), 4), "entropy": RNG.uniform(1, 2, 16),
                         "dentropy_te": RNG.normal(0, 0.3, 16), "loss": RNG.uniform(0, 4, 16),
                         "dloss_te": RNG.normal(size=16), "rr": RNG.uniform(0, 1, 16)})
    fig = stolfo_plots.frequency_neurons_on_repeats(stats, clip, [2, 1], layer=LAYER, repeat_len=2)
    ax_a, ax_b, ax_c = fig.axes[:3]
    assert set(lines(ax_a)) >= {"loss", "entropy", "act 5.2", "act 5.1"}
    mine = clip[clip.neuron == 2]  # by hand: mean over the two sequences at each position
    expected = [np.mean([(r.entropy + r.dentropy_te) / r.entropy for r in mine[mine.pos == p].itertuples()])
                for p in range(4)]
    np.testing.assert_allclose(lines(ax_b)["5.2"].get_ydata(), expected)
    np.testing.assert_allclose(offsets(ax_c), mine[["loss", "dloss_te"]].to_numpy())
    assert "5.2" in ax_c.get_ylabel()


def test_synthetic_vs_natural_and_spectra():
    table = pd.DataFrame({"neuron": [0, 1, 2], "label": ["5.0", "5.1", "5.2"], "d_syn_weighted": [0.1, 0.5, -0.2],
                          "d_nat_weighted": [0.0, 0.4, 0.1]})
    ax = stolfo_plots.synthetic_vs_natural(table, [1]).axes[0]
    np.testing.assert_allclose(offsets(ax), table[["d_syn_weighted", "d_nat_weighted"]])
    assert annotations(ax) == ["5.1"]
    s = np.array([4.0, 2.0, 1.0, 0.5])
    ax = stolfo_plots.spectra({"m": s}).axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), s / 4)
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0, 0.25, 0.5, 0.75])


# --- intervals ------------------------------------------------------------------------------------


class _Estimate:  # the shape of helpers.stats.Estimate
    def __init__(self, value, low, high):
        self.value, self.low, self.high = value, low, high


def test_estimates_with_intervals_accepts_every_form_and_draws_the_bounds():
    estimates = {"29.830": _Estimate(0.49, 0.41, 0.57), "29.7": {"value": 0.2, "ci": [0.1, None], "n": 4, "unit": "rows"},
                 "29.9": (0.8, 0.7, 0.95)}
    fig, ax = plt.subplots()
    out = plot_style.estimates_with_intervals(estimates, reference=0.5, reference_label="cut", highlight=["29.830"],
                                              value_label="1 − DE/TE", ax=ax)
    assert out is fig
    bars = [c for c in ax.containers]
    points = np.array([b.lines[0].get_xydata()[0] for b in bars])
    np.testing.assert_allclose(points, [[0.49, 0], [0.2, 1], [0.8, 2]])
    extents = [b.lines[2][0].get_segments()[0][:, 0] for b in bars]  # the horizontal error segment
    np.testing.assert_allclose(extents[0], [0.41, 0.57])
    np.testing.assert_allclose(extents[1], [0.1, 0.2])  # an unknown upper bound draws no bar above
    np.testing.assert_allclose(extents[2], [0.7, 0.95])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(estimates)
    assert bars[0].lines[0].get_color() == plot_style.HIGHLIGHT and ax.get_xlabel() == "1 − DE/TE"
    assert any(line.get_label() == "cut" and line.get_xdata()[0] == 0.5 for line in ax.get_lines())


def test_estimates_with_intervals_vertical_from_a_frame():
    frame = pd.DataFrame({"value": [10.0, 0.0], "low": [5.0, 0.0], "high": [20.0, 1.0]}, index=[0, 1])
    ax = voita_plots.estimates_with_intervals(frame, vertical=True, value_label="dead (%)", item_label="layer").axes[0]
    segments = ax.containers[0].lines[2][0].get_segments()[0]
    np.testing.assert_allclose(segments[:, 1], [5.0, 20.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"] and ax.get_ylabel() == "dead (%)"
    with pytest.raises(TypeError, match="value/low/high"):
        plot_style.estimates_with_intervals({"a": 0.5})


# --- Voita ----------------------------------------------------------------------------------------


def layer_summary(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"layer": np.arange(n), "dead_pct": RNG.uniform(0, 50, n), "mean_freq_alive": RNG.uniform(1e-3, 0.1, n),
                         "token_detectors": RNG.integers(0, 20, n), "detected_tokens": RNG.integers(0, 30, n),
                         "cumulative_tokens": np.arange(n) * 10, "new_overall": RNG.integers(0, 10, n),
                         "new_vs_previous": RNG.integers(0, 10, n)})


def test_dead_and_frequency_detectors_and_new_tokens():
    summary = layer_summary()
    fig, axes = plt.subplots(1, 2)
    assert voita_plots.dead_and_frequency(summary, "t", axes=axes) is fig
    np.testing.assert_allclose([p.get_height() for p in axes[0].patches], summary.dead_pct)
    np.testing.assert_allclose(axes[1].get_lines()[0].get_ydata(), summary.mean_freq_alive)
    assert axes[1].get_yscale() == "log"
    trigrams = pd.Series([3, 4], index=[0, 1])
    ax_a, ax_b = voita_plots.detectors_per_layer(summary, trigrams).axes
    np.testing.assert_allclose(lines(ax_a)["trigram detectors"].get_ydata(), [3, 4])
    np.testing.assert_allclose(lines(ax_b)["cumulative"].get_ydata(), summary.cumulative_tokens)
    ax = voita_plots.new_tokens(summary).axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights[2 * len(summary):], summary.new_vs_previous)


def test_cover_buckets_annotates_counts():
    shares = pd.DataFrame({"bucket": ["1-5", "6-10"], "n": [3, 7], "pct": [30.0, 70.0]})
    ax = voita_plots.cover_buckets(shares).axes[0]
    assert [p.get_height() for p in ax.patches] == [30.0, 70.0] and annotations(ax) == ["3", "7"]


def test_promoted_and_suppressed_marks_triggers():
    top = pd.DataFrame({"promoted": ["a", "b"], "promoted_value": [2.0, 1.0], "suppressed": ["x", "y"],
                        "suppressed_value": [-3.0, -2.0]})
    fig, axes = plt.subplots(1, 1)
    voita_plots.promoted_and_suppressed([("3.4", top, ["x"])], axes=[axes])
    widths = [p.get_width() for p in axes.patches]
    assert widths == [-2.0, -3.0, 2.0, 1.0]
    assert matplotlib.colors.same_color(axes.patches[1].get_facecolor(), plot_style.HIGHLIGHT)  # 'x', a trigger


def test_trigger_percentiles_histogram():
    supp = pd.DataFrame({"trigger_percentile": RNG.uniform(0, 100, 50)})
    ax = voita_plots.trigger_percentiles(supp).axes[0]
    expected, _ = np.histogram(supp.trigger_percentile, bins=np.linspace(0, 100, 21))
    np.testing.assert_allclose([p.get_height() for p in ax.patches], expected)


def voita_neurons() -> tuple[pd.DataFrame, pd.DataFrame]:
    neurons = pd.DataFrame({"layer": [0, 0, 1, 1], "neuron": [0, 1, 0, 1], "mi": [0.01, 0.2, 0.07, 0.1],
                            "positional": [False, True, True, True],
                            "pos_type": [None, "oscillatory", "oscillatory", "other"],
                            "pos_strong": [False, True, True, False]})
    positional = pd.DataFrame([(l, n, p, RNG.uniform()) for l in (0, 1) for n in (0, 1) for p in range(1, 6)],
                              columns=["layer", "neuron", "position", "fr"])
    return neurons, positional


def test_positional_per_layer_and_top_mi_curves():
    neurons, positional = voita_neurons()
    ax = voita_plots.positional_per_layer(neurons, 2).axes[0]
    oscillatory = [c for c in ax.collections if c.get_label() == "oscillatory (strong)"][0]
    np.testing.assert_allclose(oscillatory.get_sizes(), [35, 35])  # one neuron in each layer
    ax = voita_plots.top_mi_curves(neurons, positional, n=2).axes[0]
    assert list(lines(ax)) == ["0.1 (I=0.200)", "1.1 (I=0.100)"]
    want = positional[(positional.layer == 0) & (positional.neuron == 1)].fr
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), want)


def test_position_curves_image_rows_follow_the_order():
    _, positional = voita_neurons()
    curves = positional[positional.layer == 1]
    ax = voita_plots.position_curves(curves, [1, 0]).axes[0]
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(image[0], curves[curves.neuron == 1].fr)


# --- the convention -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [stolfo_plots, voita_plots])
def test_every_plot_function_takes_ax_or_axes_and_never_shows_or_saves(module, monkeypatch):
    for name in module.__all__:
        params = inspect.signature(getattr(module, name)).parameters
        assert ("ax" in params) != ("axes" in params), f"{name}: exactly one of ax / axes"
        target = params.get("ax") or params.get("axes")
        assert target.default is None and target.kind is inspect.Parameter.KEYWORD_ONLY, name
    source = inspect.getsource(module) + inspect.getsource(plot_style)
    assert "plt.show" not in source and "savefig" not in source


def test_the_plot_modules_share_their_styling_and_deps_track_it():
    for module in ("helpers.stolfo_plots", "helpers.voita_plots"):
        assert "plot_style" in {p.stem for p in deps.closure([module])}
