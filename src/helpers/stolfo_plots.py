"""Figures of the Stolfo et al. 2024 pages (matplotlib/seaborn).

One calling convention (``helpers.plot_style``): data, keyword options, ``ax=None`` or ``axes=None``;
returns the Figure, never shows or saves it. Definitions of the plotted quantities: the book's
Methods page (``book/methods_stolfo.md``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from helpers.plot_style import (
    HIGHLIGHT,
    LABELS,
    REPEAT_LINE,
    ZERO_LINE,
    estimates_with_intervals,
    figure_and_axes,
    figure_and_panels,
    finish,
    label_points,
)

__all__ = [
    "prediction_change_vs_entropy", "norm_vs_logit_var", "total_vs_direct_boxes", "singular_values_and_cosines",
    "rho_vs_ln_fraction", "kl_vs_entropy", "neuron_types_scatter", "token_scatter", "passage_plot",
    "repeated_text", "clip_ablation_ratios", "bos_ablation_curves", "spectra", "frequency_neurons_on_repeats",
    "synthetic_vs_natural", "estimates_with_intervals",
]


# --- sweep of the final layer: Figs 1, 2, 3, 7, 8 ------------------------------------------------


def prediction_change_vs_entropy(summary: pd.DataFrame, highlight: Sequence[int] = (), title: str = "", *,
                                 ax: Axes | None = None) -> Figure:
    """Fig 1, one point per neuron: x = prediction change (% of tokens whose top-1 token changes),
    y = mean |ΔEntropy|, colour = 1 − DE/TE (clipped to [−0.2, 1]); ``highlight`` ringed and labelled."""
    fig, ax, made = figure_and_axes(ax, (7, 5))
    frame = summary.assign(pred_pct=100 * summary.pred_change)
    points = ax.scatter(frame.pred_pct, frame.abs_dentropy, c=frame.ln_fraction.clip(-0.2, 1), cmap="coolwarm",
                        vmin=-0.2, vmax=1.0, s=10, edgecolors="none")
    hi = frame[frame.neuron.isin(highlight)]
    ax.scatter(hi.pred_pct, hi.abs_dentropy, s=40, facecolors="none", edgecolors="black", lw=0.8)
    label_points(ax, hi.pred_pct, hi.abs_dentropy, hi.label)
    fig.colorbar(points, ax=ax, label=LABELS["ln_fraction"])
    return finish(fig, ax, made, title=title, xlabel="prediction change (% of tokens whose top-1 token changes)",
                  ylabel=LABELS["abs_dentropy"])


def norm_vs_logit_var(table: pd.DataFrame, highlight: Sequence[int] = (), title: str = "", *,
                      axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 2a: x = ‖w_out‖, y = LogitVar(w_out) (log), with a histogram of x above and a box plot
    of y beside; ``highlight`` in red and labelled. ``axes`` = (scatter, histogram, box plot)."""
    if axes is None:
        grid = sns.JointGrid(height=5.5, ratio=5)
        joint, top, side, made = grid.ax_joint, grid.ax_marg_x, grid.ax_marg_y, True
    else:
        joint, top, side = axes
        made = False
    fig = joint.figure
    is_hi = table.neuron.isin(highlight)
    joint.scatter(table.norm[~is_hi], table.logit_var[~is_hi], s=6, alpha=0.5, color="tab:blue", label="other neurons")
    joint.scatter(table.norm[is_hi], table.logit_var[is_hi], s=22, color=HIGHLIGHT, label="highlighted")
    label_points(joint, table.norm[is_hi], table.logit_var[is_hi], table.label[is_hi])
    joint.set_yscale("log")
    top.hist(table.norm, bins=60, color="tab:blue", alpha=0.7)
    sns.boxplot(y=table.logit_var, ax=side, color="tab:blue", fliersize=1, log_scale=True)
    side.set_ylabel("")
    joint.legend(loc="lower left", fontsize=8)
    joint.set_xlabel("norm of output weight ‖w_out‖")
    joint.set_ylabel("LogitVar(w_out)")
    if title:
        fig.suptitle(title, y=1.02 if made else None)
    return fig


def total_vs_direct_boxes(tokens: pd.DataFrame, neurons: Sequence[int], random: Sequence[int], layer: int,
                          title: str = "", *, direct: str = "dloss_de", ax: Axes | None = None) -> Figure:
    """Fig 2c / 3c: per-token |ΔLoss| under the total effect (``dloss_te``) and a direct effect
    (``dloss_de``: final norm frozen; ``dloss_freq``: frequency direction frozen), one pair of boxes
    per neuron and one pooled "Random" pair; outliers beyond 1.5 IQR removed per box."""
    parts = []
    groups = [(f"{layer}.{n}", tokens[tokens.neuron == n]) for n in neurons]
    groups.append(("Random", tokens[tokens.neuron.isin(random)]))
    for name, group in groups:
        for effect, column in (("Total", "dloss_te"), ("Direct", direct)):
            values = group[column].abs()
            q1, q3 = values.quantile([0.25, 0.75])
            values = values[(values >= q1 - 1.5 * (q3 - q1)) & (values <= q3 + 1.5 * (q3 - q1))]
            parts.append(pd.DataFrame({"neuron": name, "effect": effect, "abs_dloss": values.to_numpy()}))
    frame = pd.concat(parts, ignore_index=True)
    fig, ax, made = figure_and_axes(ax, (1.3 * (len(neurons) + 1) + 2, 4.5))
    sns.boxplot(data=frame, x="neuron", y="abs_dloss", hue="effect", showfliers=False, ax=ax,
                palette={"Total": "tab:red", "Direct": "tab:blue"})
    return finish(fig, ax, made, title=title, xlabel="", ylabel="|ΔLoss| per token (nats)")


def singular_values_and_cosines(s: np.ndarray, cosines: Mapping[str, np.ndarray], k: int, title: str = "", *,
                                axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 2d, two panels over the singular directions j of W_U (descending S_j): above, S_j (log);
    below, cos(w_out, U_j) for each neuron of ``cosines``; the last ``k`` (the null space of ρ) shaded."""
    fig, (ax_s, ax_c), made = figure_and_panels(axes, 2, (8, 6), rows=2, sharex=True,
                                                gridspec_kw={"height_ratios": [1, 1.2]})
    j = np.arange(len(s))
    ax_s.plot(j, s, color="black", lw=1.2)
    ax_s.set_yscale("log")
    ax_s.set_ylabel("singular value $S_j$ of $W_U$")
    for ax in (ax_s, ax_c):
        ax.axvspan(len(s) - k - 0.5, len(s) - 0.5, color=HIGHLIGHT, alpha=0.12, lw=0)
    for name, cos in cosines.items():
        ax_c.plot(j, cos, lw=0.9, label=name, alpha=0.85)
    ax_c.axhline(0, **ZERO_LINE)
    ax_c.legend(fontsize=8, ncol=3)
    return finish(fig, ax_c, made, title=title, suptitle=True, ylabel="cos(w_out, $U_j$)",
                  xlabel="singular direction index j (descending $S_j$); shaded: null space used for ρ")


def rho_vs_ln_fraction(summary: pd.DataFrame, highlight: Sequence[int] = (), title: str = "", *,
                       ax: Axes | None = None) -> Figure:
    """Fig 2e/2f/7, one point per neuron: x = ρ, y = 1 − DE/TE (clipped to [−0.5, 1]),
    colour = mean |ΔEntropy|; ``highlight`` ringed in red and labelled."""
    fig, ax, made = figure_and_axes(ax, (7, 5))
    order = summary.sort_values("abs_dentropy")
    points = ax.scatter(order.rho, order.ln_fraction.clip(-0.5, 1), c=order.abs_dentropy, cmap="viridis", s=10,
                        edgecolors="none")
    hi = summary[summary.neuron.isin(highlight)]
    ax.scatter(hi.rho, hi.ln_fraction.clip(-0.5, 1), s=40, facecolors="none", edgecolors=HIGHLIGHT, lw=1)
    label_points(ax, hi.rho, hi.ln_fraction.clip(-0.5, 1), hi.label)
    fig.colorbar(points, ax=ax, label=LABELS["abs_dentropy"])
    return finish(fig, ax, made, title=title, xlabel=LABELS["rho"], ylabel="1 − DE/TE (clipped to [−0.5, 1])")


def kl_vs_entropy(entropy: np.ndarray, kl: np.ndarray, title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 3a, density of tokens (hexagons, log count): x = entropy of P_model, y = D_KL(P_freq ‖ P_model)."""
    fig, ax, made = figure_and_axes(ax, (6, 4.8))
    hexes = ax.hexbin(entropy, kl, gridsize=45, cmap="Blues", bins="log", mincnt=1)
    fig.colorbar(hexes, ax=ax, label="tokens (log)")
    return finish(fig, ax, made, title=title, xlabel="entropy of P_model (nats)",
                  ylabel="D_KL(P_freq ‖ P_model) (nats)")


def neuron_types_scatter(summary: pd.DataFrame, entropy: Sequence[int], frequency: Sequence[int], title: str = "",
                         *, ax: Axes | None = None) -> Figure:
    """Fig 3b / 8, one point per neuron: x = 1 − DE_freq/TE (clipped to [−0.5, 1]),
    y = mean |ΔD_KL(P_freq ‖ P_model)|; coloured Normal / Entropy / Token frequency (the last two labelled)."""
    fig, ax, made = figure_and_axes(ax, (7, 5))
    kind = np.where(summary.neuron.isin(frequency), "Token frequency",
                    np.where(summary.neuron.isin(entropy), "Entropy", "Normal"))
    colours = {"Normal": "lightgrey", "Entropy": HIGHLIGHT, "Token frequency": "tab:blue"}
    for name, colour in colours.items():
        part = summary[kind == name]
        x = part.freq_fraction.clip(-0.5, 1)
        ax.scatter(x, part.abs_dkl, s=10 if name == "Normal" else 30, color=colour, label=f"{name} ({len(part)})",
                   edgecolors="none" if name == "Normal" else "black", lw=0.5)
        if name != "Normal":
            label_points(ax, x, part.abs_dkl, part.label)
    ax.legend(fontsize=8)
    return finish(fig, ax, made, title=title,
                  xlabel="1 − DE_freq/TE (share of the effect along the frequency direction; clipped to [−0.5, 1])",
                  ylabel="mean |ΔD_KL(P_freq ‖ P_model)| (nats)")


# --- one neuron, token by token: Fig 4 -------------------------------------------------------------


def token_scatter(frame: pd.DataFrame, x: str, y: str, colour: str, title: str = "", *, xlabel: str, ylabel: str,
                  clabel: str, cmap: str = "viridis", ax: Axes | None = None) -> Figure:
    """Fig 4a/4c, one point per token: columns ``x`` and ``y`` of ``frame``, coloured by ``colour``."""
    fig, ax, made = figure_and_axes(ax, (6.5, 4.8))
    points = ax.scatter(frame[x], frame[y], c=frame[colour], cmap=cmap, s=12, alpha=0.8, edgecolors="none")
    ax.axhline(0, **ZERO_LINE)
    ax.axvline(0, **ZERO_LINE)
    fig.colorbar(points, ax=ax, label=clabel)
    return finish(fig, ax, made, title=title, xlabel=xlabel, ylabel=ylabel)


def passage_plot(frame: pd.DataFrame, neuron_label: str, title: str = "", *,
                 axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 4b, three panels along a passage (x = its tokens): the neuron's activation (dashed: its
    mean), the clean loss (bars: ΔLoss when ablated), the entropy; a red line at ``attrs['peak_pos']``."""
    fig, axes, made = figure_and_panels(axes, 3, (max(8, 0.32 * len(frame)), 6.5), rows=3, sharex=True)
    x = np.arange(len(frame))
    peak_pos = frame.attrs.get("peak_pos")
    peak = int(np.flatnonzero(frame.pos.to_numpy() == peak_pos)[0]) if peak_pos in set(frame.pos) else None
    axes[0].bar(x, frame.activation, color="tab:purple")
    axes[0].axhline(frame.attrs.get("mean_act", 0), color="grey", lw=0.8, ls="--", label="mean activation")
    axes[0].set_ylabel(f"activation\n{neuron_label}")
    axes[0].legend(fontsize=7)
    axes[1].plot(x, frame.loss, marker="o", ms=3, label="loss (clean)")
    if "dloss_te" in frame and frame.dloss_te.notna().any():
        axes[1].bar(x, frame.dloss_te.fillna(0), color=HIGHLIGHT, alpha=0.5, label="ΔLoss when ablated")
    axes[1].set_ylabel(LABELS["nats"])
    axes[1].legend(fontsize=7)
    axes[2].plot(x, frame.entropy, marker="o", ms=3, color="tab:green")
    axes[2].set_xticks(x, [repr(t)[1:-1] for t in frame.token], rotation=90, fontsize=7)
    if peak is not None:
        for ax in axes:
            ax.axvline(peak, color=HIGHLIGHT, lw=0.8, alpha=0.6)
    return finish(fig, axes[2], made, title=title, suptitle=True, ylabel=LABELS["entropy"])


# --- induction: Figs 5, 10, 11 -------------------------------------------------------------------


def _loss_and_entropy(ax: Axes, stats: pd.DataFrame) -> None:
    ax.plot(stats.pos, stats.loss, label="loss")
    ax.plot(stats.pos, stats.entropy, label="entropy")


def repeated_text(stats: pd.DataFrame, neurons: Sequence[int], *, layer: int, repeat_len: int, title: str = "",
                  axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 5a, two panels over the positions of the repeated sequences (``induction.per_position``):
    above, the mean loss and entropy; below, the mean activation of each neuron (column ``act_<n>``);
    dashed line at ``repeat_len``, where the repeat starts."""
    fig, (top, bottom), made = figure_and_panels(axes, 2, (9, 6), rows=2, sharex=True)
    _loss_and_entropy(top, stats)
    top.set_ylabel(LABELS["nats"])
    for n in neurons:
        bottom.plot(stats.pos, stats[f"act_{n}"], label=f"{layer}.{n}")
    for ax in (top, bottom):
        ax.axvline(repeat_len, **REPEAT_LINE)
        ax.legend(fontsize=8)
    return finish(fig, bottom, made, title=title, suptitle=True, xlabel=LABELS["position"], ylabel="mean activation")


def clip_ablation_ratios(table: pd.DataFrame, neurons: Sequence[int], *, layer: int, repeat_len: int,
                         random: Sequence[int] = (), title: str = "", ax: Axes | None = None) -> Figure:
    """Fig 5b / 10b: per position, the mean over sequences of H ablated / H clean under clip
    mean-ablation (``table``: neuron, pos, entropy_ratio_te), one line per neuron; ``random`` neurons
    thin and dotted; a line at 1 (no change) and the repeat's start dashed."""
    fig, ax, made = figure_and_axes(ax, (9, 4.5))
    for n in list(neurons) + [n for n in random if n not in neurons]:
        part = table[table.neuron == n]
        is_random = n in random and n not in neurons
        ax.plot(part.pos, part.entropy_ratio_te, label=f"{layer}.{n}" + (" (random)" if is_random else ""),
                lw=0.8 if is_random else 1.4, ls=":" if is_random else "-")
    ax.axvline(repeat_len, **REPEAT_LINE)
    ax.axhline(1, color="black", lw=0.5)
    ax.legend(fontsize=7, ncol=2)
    return finish(fig, ax, made, title=title, xlabel=LABELS["position"], ylabel=LABELS["entropy_ratio"])


def bos_ablation_curves(original: np.ndarray, curves: Mapping[str, np.ndarray], *, neuron_label: str,
                        repeat_start: int, positions: np.ndarray | None = None, title: str = "",
                        ax: Axes | None = None) -> Figure:
    """Fig 5c: per position (default 1, 2, ...), the neuron's mean activation: the clean model
    (black) and with each component of ``curves`` BOS-ablated (names starting "baseline" dotted);
    dashed line at ``repeat_start``."""
    fig, ax, made = figure_and_axes(ax, (9, 4.8))
    x = np.arange(1, len(original) + 1) if positions is None else np.asarray(positions)
    ax.plot(x, original, color="black", lw=1.6, label="original")
    for name, curve in curves.items():
        ax.plot(x, curve, lw=1.1, ls=":" if name.startswith("baseline") else "-", label=name)
    ax.axvline(repeat_start, **REPEAT_LINE)
    ax.legend(fontsize=7, ncol=2)
    return finish(fig, ax, made, title=title, xlabel=LABELS["position"], ylabel=f"activation of {neuron_label}")


def frequency_neurons_on_repeats(stats: pd.DataFrame, clip: pd.DataFrame, neurons: Sequence[int], *, layer: int,
                                 repeat_len: int, title: str = "", axes: Sequence[Axes] | None = None) -> Figure:
    """Fig 10, three panels: (a) per position, the mean loss, entropy and activation of each neuron;
    (b) per position, the mean over sequences of (H + ΔH) / H under clip mean-ablation of each neuron;
    (c) per token, x = clean loss, y = ΔLoss when ``neurons[0]`` is clip-ablated, colour = clean
    reciprocal rank. ``stats``: ``induction.per_position``; ``clip``: ``induction.clip_ablation(per_token=True)``."""
    fig, (ax_a, ax_b, ax_c), made = figure_and_panels(axes, 3, (9, 9), rows=3)
    _loss_and_entropy(ax_a, stats)
    for n in neurons:
        ax_a.plot(stats.pos, stats[f"act_{n}"], lw=0.9, label=f"act {layer}.{n}")
    ratio = clip.assign(ratio=(clip.entropy + clip.dentropy_te) / clip.entropy)
    means = ratio.groupby(["neuron", "pos"]).ratio.mean().rename("entropy_ratio_te").reset_index()
    clip_ablation_ratios(means, neurons, layer=layer, repeat_len=repeat_len, ax=ax_b)
    ax_b.set_xlabel("")
    ax_a.axvline(repeat_len, **REPEAT_LINE)
    ax_a.legend(fontsize=7, ncol=2)
    top = clip[clip.neuron == neurons[0]]
    points = ax_c.scatter(top.loss, top.dloss_te, c=top.rr, s=6, cmap="viridis")
    fig.colorbar(points, ax=ax_c, label="reciprocal rank (clean)")
    ax_c.axhline(0, **ZERO_LINE)
    return finish(fig, ax_c, made, title=title, suptitle=True, xlabel="clean loss",
                  ylabel=f"ΔLoss, {layer}.{neurons[0]} clip-ablated")


def synthetic_vs_natural(table: pd.DataFrame, highlight: Sequence[int] = (), title: str = "", *,
                         ax: Axes | None = None) -> Figure:
    """Fig 11, one point per neuron: x = Δ mean activation × ‖w_out‖ on synthetic repeats
    (``d_syn_weighted``), y = the same on natural repeats (``d_nat_weighted``); ``highlight`` in red."""
    fig, ax, made = figure_and_axes(ax, (6.5, 5.5))
    ax.scatter(table.d_syn_weighted, table.d_nat_weighted, s=8, color="tab:blue", alpha=0.6)
    hi = table[table.neuron.isin(highlight)]
    ax.scatter(hi.d_syn_weighted, hi.d_nat_weighted, s=30, color=HIGHLIGHT)
    label_points(ax, hi.d_syn_weighted, hi.d_nat_weighted, hi.label)
    ax.axhline(0, **ZERO_LINE)
    ax.axvline(0, **ZERO_LINE)
    return finish(fig, ax, made, title=title, xlabel="synthetic repeat: Δ mean activation × ‖w_out‖",
                  ylabel="natural repeat: Δ mean activation × ‖w_out‖")


# --- weights across models: Fig 6 ----------------------------------------------------------------


def model_panels(n: int, size: tuple[float, float] = (6.5, 5.0)) -> list[Axes]:  # not a plot: empty panels
    """``n`` empty panels side by side, one per model (Figs 7, 8): draw into each with ``ax=``."""
    return figure_and_panels(None, n, (size[0] * n, size[1]))[1]


def spectra(spectra_by_model: Mapping[str, np.ndarray], title: str = "", *, ax: Axes | None = None) -> Figure:
    """Fig 6: per model, the normalised singular values S_j / S_0 of W_U (log) against j / d_model."""
    fig, ax, made = figure_and_axes(ax, (7, 4.5))
    for name, s in spectra_by_model.items():
        ax.plot(np.arange(len(s)) / len(s), s / s[0], label=f"{name} (d_model {len(s)})")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return finish(fig, ax, made, title=title, xlabel="relative index j / d_model", ylabel="$S_j / S_0$")

