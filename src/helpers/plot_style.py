"""What the two figure modules share: colours, axis labels and the few drawing steps they repeat.

``helpers.stolfo_plots`` and ``helpers.voita_plots`` draw every figure of the book. Each of their
functions takes its data, keyword options and ``ax=None`` (``axes=None`` for several panels): given
axes are drawn into, else a new figure is made. Every function returns the matplotlib Figure and
neither shows nor saves it (``helpers.report.save_figure`` saves).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

HIGHLIGHT = "tab:red"  # selected / named neurons
BASELINE = "tab:grey"  # random neurons, reference lines
REPEAT_LINE = {"color": "grey", "ls": "--", "lw": 0.8}  # where the repeated half of a sequence starts
ZERO_LINE = {"color": "grey", "lw": 0.5}

# Axis labels used by more than one figure.
LABELS = {
    "layer": "layer",
    "position": "position",
    "nats": "nats",
    "loss": "next-token loss (nats)",
    "entropy": "entropy (nats)",
    "abs_dentropy": "mean |ΔEntropy| (nats)",
    "ln_fraction": "1 − DE/TE (share of the effect through the final norm)",
    "rho": "ρ: share of ‖w_out‖ in the unembedding's null space",
    "entropy_ratio": "H ablated / H clean",
}


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes, bool]:
    """(figure, axes, made): ``ax`` and its figure, or a new figure of ``figsize`` with one axes."""
    if ax is not None:
        return ax.figure, ax, False
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax, True


def figure_and_panels(axes: Sequence[Axes] | None, n: int, figsize: tuple[float, float], *,
                      rows: int = 1, **subplots: Any) -> tuple[Figure, list[Axes], bool]:
    """(figure, n panels, made): the given ``axes`` (exactly ``n`` of them), or a new figure with
    ``rows`` rows of panels (``subplots`` goes to ``plt.subplots``, e.g. ``sharex=True``)."""
    if axes is not None:
        axes = list(np.ravel(axes))
        if len(axes) != n:
            raise ValueError(f"this figure draws {n} panels; got {len(axes)} axes")
        return axes[0].figure, axes, False
    fig, grid = plt.subplots(rows, -(-n // rows), figsize=figsize, squeeze=False, **subplots)
    return fig, list(grid.ravel())[:n], True


def finish(fig: Figure, ax: Axes | None, made: bool, *, title: str = "", xlabel: str | None = None,
           ylabel: str | None = None, suptitle: bool = False) -> Figure:
    """Label ``ax``, set the title (on the axes, or the whole figure with ``suptitle``), and tidy
    the layout of a figure this module made (a caller's figure keeps its own layout)."""
    if ax is not None:
        if xlabel is not None:
            ax.set_xlabel(xlabel)
        if ylabel is not None:
            ax.set_ylabel(ylabel)
        if title and not suptitle:
            ax.set_title(title)
    if title and suptitle:
        fig.suptitle(title)
    if made:
        fig.tight_layout()
    return fig


def label_points(ax: Axes, x: Sequence[float], y: Sequence[float], labels: Sequence[str],
                 colour: str = HIGHLIGHT) -> None:
    """Write each label next to its point (x, y)."""
    for xi, yi, text in zip(x, y, labels):
        ax.annotate(str(text), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points", color=colour)


def _triple(value: Any) -> tuple[float, float, float]:
    """(estimate, low, high) from an object with ``value``/``low``/``high`` (``helpers.stats.Estimate``),
    its JSON form ``{"value": v, "ci": [low, high]}``, or a 3-tuple."""
    if hasattr(value, "value") and hasattr(value, "low") and hasattr(value, "high"):
        return float(value.value), float(value.low), float(value.high)
    if isinstance(value, Mapping) and "value" in value and "ci" in value:
        low, high = value["ci"]
        return tuple(float(np.nan if v is None else v) for v in (value["value"], low, high))  # type: ignore[return-value]
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return float(value[0]), float(value[1]), float(value[2])
    raise TypeError(f"an estimate must have value/low/high, be {{'value': v, 'ci': [low, high]}} or a "
                    f"(value, low, high) tuple; got {value!r}")


def estimates_with_intervals(estimates: Mapping[str, Any] | pd.DataFrame, *, title: str = "",
                             value_label: str = "", item_label: str = "", reference: float | None = None,
                             reference_label: str | None = None, vertical: bool = False,
                             highlight: Sequence[str] = (), ax: Axes | None = None) -> Figure:
    """Point estimates with their 95 % intervals as error bars, one per item.

    ``estimates`` maps an item's label (a neuron ``"29.830"``, a layer ``"3"``) to its estimate
    (see :func:`_triple`), or is a frame with columns ``value``, ``low``, ``high`` indexed by label.
    Items run down the y axis (the value on x), or along the x axis with ``vertical=True`` (e.g.
    per-layer numbers); ``reference`` draws a dashed line at a threshold or the paper's value;
    items in ``highlight`` are drawn in red. Non-finite bounds are drawn without a bar.
    """
    if isinstance(estimates, pd.DataFrame):
        rows = [(str(i), float(r.value), float(r.low), float(r.high)) for i, r in estimates.iterrows()]
    else:
        rows = [(str(k), *_triple(v)) for k, v in estimates.items()]
    labels = [r[0] for r in rows]
    value = np.array([r[1] for r in rows])
    low, high = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    err = np.nan_to_num(np.vstack([value - low, high - value]), nan=0.0).clip(min=0)
    fig, ax, made = figure_and_axes(ax, (7, 3.6) if vertical else (6.5, 0.35 * max(len(rows), 4) + 1.2))
    where = np.arange(len(rows))
    colours = [HIGHLIGHT if label in set(highlight) else "black" for label in labels]
    for i in where:
        xy = (where[i], value[i]) if vertical else (value[i], where[i])
        bar = {"yerr": err[:, i:i + 1]} if vertical else {"xerr": err[:, i:i + 1]}
        ax.errorbar(*xy, fmt="o", ms=4, capsize=3, lw=1, color=colours[i], **bar)
    if reference is not None:
        line = ax.axhline if vertical else ax.axvline
        line(reference, color=BASELINE, ls="--", lw=0.8, label=reference_label)
        if reference_label:
            ax.legend(fontsize=8)
    if vertical:
        ax.set_xticks(where, labels, rotation=90 if len(rows) > 12 else 0, fontsize=8)
        return finish(fig, ax, made, title=title, xlabel=item_label, ylabel=value_label)
    ax.set_yticks(where, labels, fontsize=8)
    ax.invert_yaxis()  # the first item on top
    return finish(fig, ax, made, title=title, xlabel=value_label, ylabel=item_label)
