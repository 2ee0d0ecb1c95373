"""Figures of the Voita et al. 2023 pages (matplotlib).

One calling convention (``helpers.plot_style``): data, keyword options, ``ax=None`` or ``axes=None``;
returns the Figure, never shows or saves it. Definitions of the plotted quantities: the book's
Methods page (``book/methods_voita.md``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from helpers.plot_style import (
    BASELINE,
    HIGHLIGHT,
    LABELS,
    estimates_with_intervals,
    figure_and_axes,
    figure_and_panels,
    finish,
)

__all__ = [
    "dead_and_frequency", "cover_buckets", "detectors_per_layer", "new_tokens", "promoted_and_suppressed",
    "trigger_percentiles", "positional_per_layer", "top_mi_curves", "position_curves", "estimates_with_intervals",
    "domains_per_layer", "convergence",
]

TYPE_COLOURS = {"oscillatory": "tab:purple", "both extremes": "tab:red", "one extreme": "tab:green",
                "other": "gold"}


def dead_and_frequency(summary: pd.DataFrame, title: str = "", *, axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 1, two panels over layers (``NeuronStats.layer_summary``): (a) % dead neurons (bars);
    (b) mean activation frequency of the alive neurons (log); dotted line at the middle layer."""
    fig, (ax_a, ax_b), made = figure_and_panels(axes, 2, (11, 3.8))
    ax_a.bar(summary.layer, summary.dead_pct, color=BASELINE)
    ax_b.plot(summary.layer, summary.mean_freq_alive, marker="o", ms=3)
    ax_b.set_yscale("log")
    half = summary.layer.max() / 2
    for ax in (ax_a, ax_b):
        ax.axvline(half, color="black", lw=0.6, ls=":")
        ax.set_xlabel(LABELS["layer"])
    ax_a.set_ylabel("dead neurons (%)")
    ax_a.set_title("(a) dead neurons")
    ax_b.set_title("(b) how often alive neurons fire")
    return finish(fig, ax_b, made, title=title, suptitle=True, ylabel="mean activation frequency (alive neurons)")


def cover_buckets(shares: pd.DataFrame, title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 2: % of (alive, first-half) neurons per covering-count bucket (``voita.cover_bucket_shares``:
    bucket, n, pct), each bar annotated with its neuron count."""
    fig, ax, made = figure_and_axes(ax, (7, 3.8))
    ax.bar(shares.bucket, shares.pct, color="tab:blue")
    for x, (pct, n) in enumerate(zip(shares.pct, shares.n)):
        ax.annotate(f"{n}", (x, pct), ha="center", va="bottom", fontsize=8)
    return finish(fig, ax, made, title=title, xlabel="number of tokens covering 95 % of the neuron's activations",
                  ylabel="neurons (%)")


def detectors_per_layer(summary: pd.DataFrame, trigram_counts: pd.Series | None = None, title: str = "", *,
                        axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 3, two panels over layers: (a) token detectors (and trigram detectors, a series indexed
    by layer); (b) tokens with a detector in the layer, and cumulatively over layers (dashed)."""
    fig, (ax_a, ax_b), made = figure_and_panels(axes, 2, (11, 3.8))
    ax_a.plot(summary.layer, summary.token_detectors, marker="o", ms=3, label="token detectors")
    if trigram_counts is not None:
        ax_a.plot(trigram_counts.index, trigram_counts.values, marker="s", ms=3, label="trigram detectors")
    ax_b.plot(summary.layer, summary.detected_tokens, marker="o", ms=3, label="per layer")
    ax_b.plot(summary.layer, summary.cumulative_tokens, ls="--", label="cumulative")
    for ax, name in ((ax_a, "(a) detector neurons"), (ax_b, "(b) detected tokens")):
        ax.set_xlabel(LABELS["layer"])
        ax.set_title(name)
        ax.legend(fontsize=8)
    ax_a.set_ylabel("neurons")
    return finish(fig, ax_b, made, title=title, suptitle=True, ylabel="tokens with a detector")


def new_tokens(summary: pd.DataFrame, title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 4, per layer: tokens detected in the layer (grey), of which new overall (blue), and new
    relative to the previous layer (orange, beside)."""
    fig, ax, made = figure_and_axes(ax, (8, 3.8))
    width = 0.4
    ax.bar(summary.layer - width / 2, summary.detected_tokens, width, color="lightgrey", label="detected in the layer")
    ax.bar(summary.layer - width / 2, summary.new_overall, width, color="tab:blue", label="new overall")
    ax.bar(summary.layer + width / 2, summary.new_vs_previous, width, color="tab:orange",
           label="new vs the previous layer")
    ax.legend(fontsize=8)
    return finish(fig, ax, made, title=title, xlabel=LABELS["layer"], ylabel="tokens")


def promoted_and_suppressed(examples: Sequence[tuple[str, pd.DataFrame, list[str]]], title: str = "", *,
                            axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 5, one panel per example detector (label, ``voita.top_tokens`` frame, trigger tokens):
    bars of the vocabulary projection of its top promoted (right) and suppressed (left) tokens;
    triggers in red."""
    n = max(len(examples), 1)
    fig, panels, made = figure_and_panels(axes, n, (3.6 * n, 4.2))
    for ax, (label, top, triggers) in zip(panels, examples):
        values = np.concatenate([top.suppressed_value.to_numpy()[::-1], top.promoted_value.to_numpy()])
        names = list(top.suppressed)[::-1] + list(top.promoted)
        colours = [HIGHLIGHT if t in triggers else ("tab:blue" if v > 0 else BASELINE) for t, v in zip(names, values)]
        y = np.arange(len(values))
        ax.barh(y, values, color=colours)
        ax.set_yticks(y, [repr(t)[1:-1] for t in names], fontsize=7)
        ax.axvline(0, color="black", lw=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("projection on the vocabulary")
    return finish(fig, None, made, title=title, suptitle=True)


def trigger_percentiles(suppression: pd.DataFrame, title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 5 (second panel): histogram over token detectors (``voita.suppression``) of the mean
    percentile of their triggers in their own vocabulary projection (0: most suppressed token);
    dotted line at 50 (the median token)."""
    fig, ax, made = figure_and_axes(ax, (6, 3.2))
    ax.hist(suppression.trigger_percentile, bins=np.linspace(0, 100, 21), color="tab:blue")
    ax.axvline(50, color="black", lw=0.6, ls=":")
    return finish(fig, ax, made, title=title, ylabel="token detectors",
                  xlabel="mean percentile of the triggers in the neuron's vocabulary projection (0: most suppressed)")


def positional_per_layer(neurons: pd.DataFrame, n_layers: int, title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 8: positional neurons per layer (x) and type (y), one circle per (layer, type, strength),
    area ~ count (written inside); filled = strong, open = weak."""
    fig, ax, made = figure_and_axes(ax, (9, 3.2))
    pos = neurons[neurons.positional]
    kinds = list(TYPE_COLOURS)
    for y, kind in enumerate(kinds):
        for strong, face in ((True, TYPE_COLOURS[kind]), (False, "none")):
            counts = pos[(pos.pos_type == kind) & (pos.pos_strong == strong)].groupby("layer").size()
            row = y + (0.15 if strong else -0.15)
            if len(counts):
                ax.scatter(counts.index, np.full(len(counts), row), s=20 + 15 * counts.values, facecolors=face,
                           edgecolors=TYPE_COLOURS[kind], label=f"{kind} ({'strong' if strong else 'weak'})")
                for layer, c in counts.items():
                    ax.annotate(str(c), (layer, row), fontsize=6, ha="center", va="center")
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlim(-0.5, n_layers - 0.5)
    ax.set_ylim(-0.7, len(kinds) - 0.3)
    if len(pos):
        ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    else:
        ax.text(0.5, 0.5, "no positional neurons (I > 0.05)", transform=ax.transAxes, ha="center")
    return finish(fig, ax, made, title=title, xlabel=LABELS["layer"])


def top_mi_curves(neurons: pd.DataFrame, positional: pd.DataFrame, *, n: int = 8, title: str = "",
                  ax: Axes | None = None) -> Figure:
    """Fig 8 (second panel): fr(pos), the activation frequency at each position, of the ``n`` neurons
    with the highest I(act; pos) (``NeuronStats.neurons`` and ``.positional``), one line each."""
    fig, ax, made = figure_and_axes(ax, (9, 3.5))
    for _, row in neurons.nlargest(n, "mi").iterrows():
        curve = positional[(positional.layer == row.layer) & (positional.neuron == row.neuron)]
        ax.plot(curve.position, curve.fr, lw=0.8, label=f"{row.layer}.{row.neuron} (I={row.mi:.3f})")
    ax.legend(fontsize=7, ncol=2)
    return finish(fig, ax, made, title=title, xlabel=LABELS["position"], ylabel="fr(pos)")


def position_curves(curves: pd.DataFrame, order: Sequence[int], title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 9: fr(pos) of the neurons in ``order`` as rows of a grey-scale map (x = position,
    dark = fires at that position)."""
    fig, ax, made = figure_and_axes(ax, (10, 0.35 * max(len(order), 3) + 1.2))
    if len(order):
        grid = curves.pivot(index="neuron", columns="position", values="fr").loc[list(order)]
        ax.imshow(grid.to_numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                  extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5, len(order) - 0.5, -0.5))
        ax.set_yticks(range(len(order)), [str(n) for n in order], fontsize=7)
    else:
        ax.text(0.5, 0.5, "no neurons to show", transform=ax.transAxes, ha="center")
    return finish(fig, ax, made, title=title, xlabel=LABELS["position"], ylabel="neuron")


def domains_per_layer(summaries: dict[str, pd.DataFrame], title: str = "", *,
                      axes: Sequence[Axes] | None = None) -> Figure:
    """Voita domains page, three panels over layers, one line per domain (``{domain: layer_summary}``):
    dead neurons, token detectors, positional neurons."""
    fig, panels, made = figure_and_panels(axes, 3, (13, 3.6))
    for domain, summary in summaries.items():
        for ax, column in zip(panels, ("dead", "token_detectors", "positional")):
            ax.plot(summary.layer, summary[column], marker="o", ms=3, label=domain)
    for ax, name in zip(panels, ("dead neurons", "token detectors", "positional neurons")):
        ax.set_title(name)
        ax.set_xlabel(LABELS["layer"])
        ax.set_ylabel("neurons")
    panels[0].legend(fontsize=8)
    return finish(fig, panels[-1], made, title=title, suptitle=True)


def convergence(numbers: dict, keys: Sequence[str] | None = None, labels: dict[str, str] | None = None,
                title: str = "", *, axes: Sequence[Axes] | None = None) -> Figure:
    """Key counts against tokens counted, one panel per count: the ``convergence`` series of a Voita
    page's key numbers (:mod:`helpers.voita_numbers`: the same pass on prefixes of its rows, 1/8 to all),
    and, where the count has a split estimate of that name, that estimate with its interval at the
    split size (``verdict_tokens``; orange). A count that still moves between the last two sizes has
    not settled."""
    from helpers.stats import Estimate

    series = numbers["convergence"]
    keys = [k for k in series if k != "tokens"] if keys is None else list(keys)
    labels = labels or {}
    fig, panels, made = figure_and_panels(axes, len(keys), (3.6 * len(keys), 3.4))
    tokens = np.asarray(series["tokens"], dtype=float)
    for ax, key in zip(panels, keys):
        ax.plot(tokens, series[key], marker="o", ms=4, color="tab:blue", label="all rows up to this size")
        est = numbers.get(key)
        if isinstance(est, Estimate) and np.isfinite(est.value):
            low = est.value - est.low if np.isfinite(est.low) else 0.0
            high = est.high - est.value if np.isfinite(est.high) else 0.0
            ax.errorbar([numbers["verdict_tokens"]], [est.value], yerr=[[low], [high]], fmt="s", color="tab:orange",
                        capsize=3, label="verdict: split mean, 95 % interval")
        if not np.isfinite(np.asarray(series[key], dtype=float)).any():
            ax.text(0.5, 0.5, "not defined at these sizes", transform=ax.transAxes, ha="center", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xlim(tokens.min() / 1.5, tokens.max() * 1.5)
        ax.set_xlabel("tokens counted")
        ax.set_title(labels.get(key, key.replace("_", " ")), fontsize=9)
    panels[0].legend(fontsize=7)
    return finish(fig, None, made, title=title, suptitle=True)
