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
