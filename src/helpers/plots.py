"""Figure builders shared by the notebooks (matplotlib/seaborn); each returns the Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

HIGHLIGHT = "tab:red"


def norm_vs_logit_var(table: pd.DataFrame, highlight: list[int], title: str) -> plt.Figure:
    """Fig 2a: x = ‖w_out‖, y = LogitVar (log), marginal histogram of x and box plot of y;
    neurons in ``highlight`` drawn in red and labelled."""
    grid = sns.JointGrid(data=table, x="norm", y="logit_var", height=5.5, ratio=5)
    is_hi = table.neuron.isin(highlight)
    grid.ax_joint.scatter(table.norm[~is_hi], table.logit_var[~is_hi], s=6, alpha=0.5, color="tab:blue",
                          label="other neurons")
    grid.ax_joint.scatter(table.norm[is_hi], table.logit_var[is_hi], s=22, color=HIGHLIGHT, label="highlighted")
    for _, row in table[is_hi].iterrows():
        grid.ax_joint.annotate(row.label, (row.norm, row.logit_var), fontsize=7, xytext=(3, 3),
                               textcoords="offset points", color=HIGHLIGHT)
    grid.ax_joint.set_yscale("log")
    grid.ax_marg_x.hist(table.norm, bins=60, color="tab:blue", alpha=0.7)
    sns.boxplot(y=table.logit_var, ax=grid.ax_marg_y, color="tab:blue", fliersize=1, log_scale=True)
    grid.ax_marg_y.set_ylabel("")
    grid.ax_joint.set_xlabel("norm of output weight ‖w_out‖")
    grid.ax_joint.set_ylabel("LogitVar(w_out)")
    grid.ax_joint.legend(loc="lower left", fontsize=8)
    grid.figure.suptitle(title, y=1.02)
    return grid.figure


def singular_values_and_cosines(s: np.ndarray, cosines: dict[str, np.ndarray], k: int, title: str) -> plt.Figure:
    """Fig 2d: singular values of W_U (descending) and, below, cos(w_out, U[:, j]) for chosen neurons;
    the last ``k`` directions (the null space used for rho) are shaded."""
    fig, (ax_s, ax_c) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    j = np.arange(len(s))
    ax_s.plot(j, s, color="black", lw=1.2)
    ax_s.set_yscale("log")
    ax_s.set_ylabel("singular value $S_j$ of $W_U$")
    for ax in (ax_s, ax_c):
        ax.axvspan(len(s) - k - 0.5, len(s) - 0.5, color=HIGHLIGHT, alpha=0.12, lw=0)
    for name, cos in cosines.items():
        ax_c.plot(j, cos, lw=0.9, label=name, alpha=0.85)
    ax_c.axhline(0, color="grey", lw=0.5)
    ax_c.set_ylabel("cos(w_out, $U_j$)")
    ax_c.set_xlabel("singular direction index j (descending $S_j$); shaded: null space used for ρ")
    ax_c.legend(fontsize=8, ncol=3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def spectra(spectra_by_model: dict[str, np.ndarray], title: str) -> plt.Figure:
    """Fig 6: normalised singular-value spectra S_j / S_0 of several models against j / d_model."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, s in spectra_by_model.items():
        ax.plot(np.arange(len(s)) / len(s), s / s[0], label=f"{name} (d_model {len(s)})")
    ax.set_yscale("log")
    ax.set_xlabel("relative index j / d_model")
    ax.set_ylabel("$S_j / S_0$")
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _label_points(ax, frame: pd.DataFrame, x: str, y: str, labels: pd.Series) -> None:
    for (_, row), text in zip(frame.iterrows(), labels):
        ax.annotate(text, (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points", color=HIGHLIGHT)


def prediction_change_vs_entropy(summary: pd.DataFrame, highlight: list[int], title: str) -> plt.Figure:
    """Fig 1: per neuron, x = prediction change (%), y = mean |ΔEntropy|, colour = 1 − DE/TE."""
    fig, ax = plt.subplots(figsize=(7, 5))
    frame = summary.assign(pred_pct=100 * summary.pred_change)
    points = ax.scatter(frame.pred_pct, frame.abs_dentropy, c=frame.ln_fraction.clip(-0.2, 1), cmap="coolwarm",
                        vmin=-0.2, vmax=1.0, s=10, edgecolors="none")
    hi = frame[frame.neuron.isin(highlight)]
    ax.scatter(hi.pred_pct, hi.abs_dentropy, s=40, facecolors="none", edgecolors="black", lw=0.8)
    _label_points(ax, hi, "pred_pct", "abs_dentropy", hi.label)
    fig.colorbar(points, ax=ax, label="1 − DE/TE (share of the effect through the final norm)")
    ax.set_xlabel("prediction change (% of tokens whose top-1 token changes)")
    ax.set_ylabel("mean |ΔEntropy| (nats)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def total_vs_direct_boxes(tokens: pd.DataFrame, neurons: list[int], random: list[int], layer: int,
                          title: str, direct: str = "dloss_de") -> plt.Figure:
    """Fig 2c / 3c: per-token |ΔLoss| under the total and a direct effect (``dloss_de``: final norm
    frozen; ``dloss_freq``: frequency direction frozen), one pair of boxes per neuron and one pooled
    "Random" pair; outliers beyond 1.5 IQR are removed per box."""
    parts = []
    for name, group in [(f"{layer}.{n}", tokens[tokens.neuron == n]) for n in neurons] + \
            [("Random", tokens[tokens.neuron.isin(random)])]:
        for effect, column in (("Total", "dloss_te"), ("Direct", direct)):
            values = group[column].abs()
            q1, q3 = values.quantile([0.25, 0.75])
            values = values[(values >= q1 - 1.5 * (q3 - q1)) & (values <= q3 + 1.5 * (q3 - q1))]
            parts.append(pd.DataFrame({"neuron": name, "effect": effect, "abs_dloss": values.to_numpy()}))
    frame = pd.concat(parts, ignore_index=True)
    fig, ax = plt.subplots(figsize=(1.3 * (len(neurons) + 1) + 2, 4.5))
    sns.boxplot(data=frame, x="neuron", y="abs_dloss", hue="effect", showfliers=False, ax=ax,
                palette={"Total": "tab:red", "Direct": "tab:blue"})
    ax.set_xlabel("")
    ax.set_ylabel("|ΔLoss| per token (nats)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def rho_vs_ln_fraction(summary: pd.DataFrame, highlight: list[int], title: str, ax: plt.Axes | None = None) -> plt.Figure:
    """Fig 2e/2f/7: per neuron, x = rho (null-space share of w_out), y = 1 − DE/TE, colour = |ΔEntropy|."""
    fig = ax.figure if ax is not None else plt.figure(figsize=(7, 5))
    ax = ax or fig.add_subplot()
    order = summary.sort_values("abs_dentropy")
    points = ax.scatter(order.rho, order.ln_fraction.clip(-0.5, 1), c=order.abs_dentropy, cmap="viridis", s=10,
                        edgecolors="none")
    hi = summary[summary.neuron.isin(highlight)]
    ax.scatter(hi.rho, hi.ln_fraction.clip(-0.5, 1), s=40, facecolors="none", edgecolors=HIGHLIGHT, lw=1)
    _label_points(ax, hi.assign(ln_fraction=hi.ln_fraction.clip(-0.5, 1)), "rho", "ln_fraction", hi.label)
    fig.colorbar(points, ax=ax, label="mean |ΔEntropy| (nats)")
    ax.set_xlabel("ρ: share of ‖w_out‖ in the unembedding's null space")
    ax.set_ylabel("1 − DE/TE (clipped to [−0.5, 1])")
    ax.set_title(title)
    return fig


def token_scatter(frame: pd.DataFrame, x: str, y: str, colour: str, title: str, *, xlabel: str, ylabel: str,
                  clabel: str, cmap: str = "viridis") -> plt.Figure:
    """Fig 4a/4c: one point per token."""
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    points = ax.scatter(frame[x], frame[y], c=frame[colour], cmap=cmap, s=12, alpha=0.8, edgecolors="none")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    fig.colorbar(points, ax=ax, label=clabel)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def passage_plot(frame: pd.DataFrame, neuron_label: str, title: str) -> plt.Figure:
    """Fig 4b: along a passage, the neuron's activation, the loss and the entropy (and the ablation's ΔLoss)."""
    fig, axes = plt.subplots(3, 1, figsize=(max(8, 0.32 * len(frame)), 6.5), sharex=True)
    x = np.arange(len(frame))
    peak = int(np.flatnonzero(frame.pos.to_numpy() == frame.attrs.get("peak_pos", -1))[0]) \
        if frame.attrs.get("peak_pos") in set(frame.pos) else None
    axes[0].bar(x, frame.activation, color="tab:purple")
    axes[0].axhline(frame.attrs.get("mean_act", 0), color="grey", lw=0.8, ls="--", label="mean activation")
    axes[0].set_ylabel(f"activation\n{neuron_label}")
    axes[0].legend(fontsize=7)
    axes[1].plot(x, frame.loss, marker="o", ms=3, label="loss (clean)")
    if "dloss_te" in frame and frame.dloss_te.notna().any():
        axes[1].bar(x, frame.dloss_te.fillna(0), color="tab:red", alpha=0.5, label="ΔLoss when ablated")
    axes[1].set_ylabel("nats")
    axes[1].legend(fontsize=7)
    axes[2].plot(x, frame.entropy, marker="o", ms=3, color="tab:green")
    axes[2].set_ylabel("entropy (nats)")
    axes[2].set_xticks(x, [repr(t)[1:-1] for t in frame.token], rotation=90, fontsize=7)
    if peak is not None:
        for ax in axes:
            ax.axvline(peak, color=HIGHLIGHT, lw=0.8, alpha=0.6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def neuron_types_scatter(summary: pd.DataFrame, entropy: list[int], frequency: list[int], title: str,
                         ax: plt.Axes | None = None) -> plt.Figure:
    """Fig 3b / 8: per neuron, x = 1 − DE_freq/TE (frequency-mediated share), y = mean |ΔKL(P_freq ‖ P_model)|,
    coloured Normal / Entropy / Token frequency, the last two labelled."""
    fig = ax.figure if ax is not None else plt.figure(figsize=(7, 5))
    ax = ax or fig.add_subplot()
    kind = np.where(summary.neuron.isin(frequency), "Token frequency",
                    np.where(summary.neuron.isin(entropy), "Entropy", "Normal"))
    colours = {"Normal": "lightgrey", "Entropy": "tab:red", "Token frequency": "tab:blue"}
    for name, colour in colours.items():
        part = summary[kind == name]
        ax.scatter(part.freq_fraction.clip(-0.5, 1), part.abs_dkl, s=10 if name == "Normal" else 30, color=colour,
                   label=f"{name} ({len(part)})", edgecolors="none" if name == "Normal" else "black", lw=0.5)
        if name != "Normal":
            _label_points(ax, part.assign(freq_fraction=part.freq_fraction.clip(-0.5, 1)), "freq_fraction",
                          "abs_dkl", part.label)
    ax.set_xlabel("1 − DE_freq/TE (share of the effect along the frequency direction; clipped to [−0.5, 1])")
    ax.set_ylabel("mean |ΔD_KL(P_freq ‖ P_model)| (nats)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def kl_vs_entropy(entropy: np.ndarray, kl: np.ndarray, title: str) -> plt.Figure:
    """Fig 3a: per token, entropy of the model's prediction against its KL divergence from the unigram distribution."""
    fig, ax = plt.subplots(figsize=(6, 4.8))
    hexes = ax.hexbin(entropy, kl, gridsize=45, cmap="Blues", bins="log", mincnt=1)
    fig.colorbar(hexes, ax=ax, label="tokens (log)")
    ax.set_xlabel("entropy of P_model (nats)")
    ax.set_ylabel("D_KL(P_freq ‖ P_model) (nats)")
    ax.set_title(title)
    fig.tight_layout()
    return fig
