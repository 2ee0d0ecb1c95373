"""Figure builders for the Voita et al. 2023 pages; each returns the Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

TYPE_COLOURS = {"oscillatory": "tab:purple", "both extremes": "tab:red", "one extreme": "tab:green",
                "other": "gold"}


def dead_and_frequency(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Fig 1: (a) % dead neurons per layer; (b) mean activation frequency of the alive neurons."""
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_a.bar(summary.layer, summary.dead_pct, color="tab:grey")
    ax_a.set_xlabel("layer")
    ax_a.set_ylabel("dead neurons (%)")
    ax_a.set_title("(a) dead neurons")
    half = summary.layer.max() / 2
    for ax in (ax_a, ax_b):
        ax.axvline(half, color="black", lw=0.6, ls=":")
    ax_b.plot(summary.layer, summary.mean_freq_alive, marker="o", ms=3)
    ax_b.set_yscale("log")
    ax_b.set_xlabel("layer")
    ax_b.set_ylabel("mean activation frequency (alive neurons)")
    ax_b.set_title("(b) how often alive neurons fire")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cover_buckets(shares: pd.DataFrame, title: str) -> plt.Figure:
    """Fig 2: share of (alive, first-half) neurons per covering-count bucket."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.bar(shares.bucket, shares.pct, color="tab:blue")
    for x, (pct, n) in enumerate(zip(shares.pct, shares.n)):
        ax.annotate(f"{n}", (x, pct), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("number of tokens covering 95 % of the neuron's activations")
    ax.set_ylabel("neurons (%)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def detectors_per_layer(summary: pd.DataFrame, trigram_counts: pd.Series | None, title: str) -> plt.Figure:
    """Fig 3: (a) token (and trigram) detectors per layer; (b) detected tokens per layer and cumulative."""
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_a.plot(summary.layer, summary.token_detectors, marker="o", ms=3, label="token detectors")
    if trigram_counts is not None:
        ax_a.plot(trigram_counts.index, trigram_counts.values, marker="s", ms=3, label="trigram detectors")
    ax_a.set_xlabel("layer")
    ax_a.set_ylabel("neurons")
    ax_a.set_title("(a) detector neurons")
    ax_a.legend(fontsize=8)
    ax_b.plot(summary.layer, summary.detected_tokens, marker="o", ms=3, label="per layer")
    ax_b.plot(summary.layer, summary.cumulative_tokens, ls="--", label="cumulative")
    ax_b.set_xlabel("layer")
    ax_b.set_ylabel("tokens with a detector")
    ax_b.set_title("(b) detected tokens")
    ax_b.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def new_tokens(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Fig 4: tokens detected in a layer that are new overall / new relative to the previous layer."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.4
    ax.bar(summary.layer - width / 2, summary.detected_tokens, width, color="lightgrey", label="detected in the layer")
    ax.bar(summary.layer - width / 2, summary.new_overall, width, color="tab:blue", label="new overall")
    ax.bar(summary.layer + width / 2, summary.new_vs_previous, width, color="tab:orange",
           label="new vs the previous layer")
    ax.set_xlabel("layer")
    ax.set_ylabel("tokens")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def promoted_and_suppressed(examples: list[tuple[str, pd.DataFrame, list[str]]], title: str) -> plt.Figure:
    """Fig 5: for each example detector, its top promoted (right) and suppressed (left) tokens;
    trigger tokens in red."""
    n = max(len(examples), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 4.2), squeeze=False)
    for ax, (label, top, triggers) in zip(axes[0], examples):
        values = np.concatenate([top.suppressed_value.to_numpy()[::-1], top.promoted_value.to_numpy()])
        names = list(top.suppressed)[::-1] + list(top.promoted)
        colours = ["tab:red" if t in triggers else ("tab:blue" if v > 0 else "tab:grey")
                   for t, v in zip(names, values)]
        y = np.arange(len(values))
        ax.barh(y, values, color=colours)
        ax.set_yticks(y, [repr(t)[1:-1] for t in names], fontsize=7)
        ax.axvline(0, color="black", lw=0.5)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("projection on the vocabulary")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def positional_per_layer(neurons: pd.DataFrame, n_layers: int, title: str) -> plt.Figure:
    """Fig 8: positional neurons per layer, one circle per (layer, type), area ~ count; filled = strong."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    pos = neurons[neurons.positional]
    kinds = list(TYPE_COLOURS)
    for y, kind in enumerate(kinds):
        for strong, face in ((True, TYPE_COLOURS[kind]), (False, "none")):
            counts = pos[(pos.pos_type == kind) & (pos.pos_strong == strong)].groupby("layer").size()
            if len(counts):
                ax.scatter(counts.index, np.full(len(counts), y + (0.15 if strong else -0.15)), s=20 + 15 * counts.values,
                           facecolors=face, edgecolors=TYPE_COLOURS[kind], label=f"{kind} ({'strong' if strong else 'weak'})")
                for layer, c in counts.items():
                    ax.annotate(str(c), (layer, y + (0.15 if strong else -0.15)), fontsize=6, ha="center", va="center")
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlim(-0.5, n_layers - 0.5)
    ax.set_ylim(-0.7, len(kinds) - 0.3)
    ax.set_xlabel("layer")
    if len(pos):
        ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    else:
        ax.text(0.5, 0.5, "no positional neurons (I > 0.05)", transform=ax.transAxes, ha="center")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def position_curves(curves: pd.DataFrame, order: list[int], title: str) -> plt.Figure:
    """Fig 9: fr(pos) of chosen neurons as rows of a heat map (dark: fires at that position)."""
    fig, ax = plt.subplots(figsize=(10, 0.35 * max(len(order), 3) + 1.2))
    if order:
        grid = curves.pivot(index="neuron", columns="position", values="fr").loc[order]
        ax.imshow(grid.to_numpy(), aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                  extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5, len(order) - 0.5, -0.5))
        ax.set_yticks(range(len(order)), [str(n) for n in order], fontsize=7)
    else:
        ax.text(0.5, 0.5, "no neurons to show", transform=ax.transAxes, ha="center")
    ax.set_xlabel("position")
    ax.set_ylabel("neuron")
    ax.set_title(title)
    fig.tight_layout()
    return fig
