"""Interactive neuron scatters (plotly): hover a point to see which neuron it is and its numbers.

The static matplotlib figure stays the page's figure (it is what ``results_dir`` keeps); these are
for finding one neuron among thousands. Each function returns an :class:`InteractiveFigure`, which
a notebook shows with ``display(...)``.

How it works offline: the figure is written as a ``<div>`` and a call to ``Plotly.newPlot`` with
the figure's JSON, without the plotly.js library (what plotly's ``to_html(include_plotlyjs=False)``
does, plus a guard). The book ships plotly's own minified script once: the Sphinx extension
``book/_ext/plotly_offline.py`` copies it from the installed ``plotly`` package into the built
book's ``_static/`` and loads it on the pages that hold such a figure (no CDN, nothing large in
git). Outside the book (Jupyter, where no ``Plotly`` is defined) the div shows a one-line note
instead of failing; ``InteractiveFigure.figure.show()`` displays it with plotly's own renderers.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

CSS_CLASS = "neuron-repro-plotly"  # book/_ext/plotly_offline.py loads plotly.js on pages with this class
GL_ABOVE = 5000  # more points than this are drawn with WebGL (Scattergl), fewer as SVG
CONFIG = {"responsive": True, "displaylogo": False}
FALLBACK = ("Interactive figure: shown in the built book, which ships plotly.js. "
            "Here, call .figure.show() on the object to display it.")

_TEMPLATE = """<div class="{css}" id="{id}" style="width:100%;height:{height}px;"></div>
<script type="text/javascript">
(function () {{
  var el = document.getElementById("{id}");
  if (!el) {{ return; }}
  if (typeof Plotly === "undefined") {{ el.style.height = "auto"; el.textContent = {fallback}; return; }}
  var fig = {figure};
  Plotly.newPlot(el, fig.data, fig.layout, {config});
}})();
</script>"""


@dataclass
class InteractiveFigure:
    """A plotly figure that renders as HTML without the plotly.js library (see the module docstring)."""

    figure: go.Figure
    div_id: str = field(default_factory=lambda: f"nrp-{uuid.uuid4().hex[:12]}")

    def to_html(self) -> str:
        """The ``<div>`` and its script; plotly's JSON encoder escapes ``<`` and ``/`` in strings."""
        height = self.figure.layout.height or 520
        return _TEMPLATE.format(css=CSS_CLASS, id=self.div_id, height=int(height), fallback=json.dumps(FALLBACK),
                                figure=pio.to_json(self.figure, validate=False), config=json.dumps(CONFIG))

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        title = self.figure.layout.title.text or "untitled"
        points = sum(len(trace.x) for trace in self.figure.data if trace.x is not None)
        return f"<InteractiveFigure {title!r}: {points} points>"


def _hover(frame: pd.DataFrame, label: str, fields: Mapping[str, str], axes: Mapping[str, str]) -> tuple[np.ndarray, str]:
    """customdata (the label, then each field's column rounded to 4 digits) and its hover template:
    the label in bold, then one ``name: value`` line per field (``fields``: name -> column). A field
    that is the x or y column (``axes``: column -> "x"/"y") reads the plotted value instead of a copy."""
    extra = [col for col in fields.values() if col not in axes]
    data = np.empty((len(frame), 1 + len(extra)), dtype=object)  # object: numbers stay numbers in the JSON
    data[:, 0] = frame[label].astype(str).to_numpy()
    for i, col in enumerate(extra):
        values = frame[col].to_numpy()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        data[:, i + 1] = [float(f"{v:.4g}") for v in values] if numeric else values  # 4 digits: what the hover shows
    lines = [f"{name}: %{{{axes[col]}:.4~g}}" if col in axes else f"{name}: %{{customdata[{extra.index(col) + 1}]}}"
             for name, col in fields.items()]
    return data, "<b>%{customdata[0]}</b><br>" + "<br>".join(lines) + "<extra></extra>"


def neuron_scatter(frame: pd.DataFrame, x: str, y: str, *, hover: Mapping[str, str], label: str = "label",
                   colour: str | None = None, colour_label: str = "", colourscale: str = "Viridis",
                   colour_range: tuple[float, float] | None = None, groups: str | None = None,
                   group_colours: Mapping[str, str] | None = None, highlight: Sequence[str] = (),
                   log_x: bool = False, log_y: bool = False, xlabel: str = "", ylabel: str = "", title: str = "",
                   height: int = 520) -> InteractiveFigure:
    """One point per row of ``frame`` at (``x``, ``y``); hovering shows the row's ``label`` (the
    neuron, ``L.i``) and the columns of ``hover`` (display name -> column). Coloured by the numeric
    column ``colour`` (with a colour bar), or one trace per value of the column ``groups``; rows
    whose label is in ``highlight`` are ringed and labelled."""
    trace = go.Scattergl if len(frame) > GL_ABOVE else go.Scatter
    fig = go.Figure()
    parts: list[tuple[Any, pd.DataFrame]] = [(None, frame)] if groups is None else list(frame.groupby(groups, sort=False))
    for name, part in parts:
        data, template = _hover(part, label, hover, {x: "x", y: "y"})
        marker: dict = {"size": 6, "opacity": 0.8}
        if colour is not None:
            low, high = colour_range or (None, None)
            marker.update(color=part[colour], colorscale=colourscale, cmin=low, cmax=high, showscale=True,
                          colorbar={"title": {"text": colour_label, "side": "right"}})
        elif group_colours and name in group_colours:
            marker.update(color=group_colours[name])
        fig.add_trace(trace(x=part[x], y=part[y], mode="markers", marker=marker, customdata=data,
                            hovertemplate=template, name=f"{name} ({len(part)})" if name is not None else "neurons",
                            showlegend=groups is not None))
    hi = frame[frame[label].astype(str).isin([str(h) for h in highlight])]
    if len(hi):
        data, template = _hover(hi, label, hover, {x: "x", y: "y"})
        fig.add_trace(go.Scatter(x=hi[x], y=hi[y], mode="markers+text", text=hi[label].astype(str),
                                 textposition="top right", customdata=data, hovertemplate=template,
                                 marker={"size": 12, "color": "rgba(0,0,0,0)", "line": {"color": "red", "width": 1.5}},
                                 name="highlighted", showlegend=groups is not None))
    fig.update_layout(title={"text": title}, height=height, template="plotly_white", hovermode="closest",
                      margin={"l": 60, "r": 20, "t": 50 if title else 20, "b": 50},
                      xaxis={"title": {"text": xlabel}, "type": "log" if log_x else "linear"},
                      yaxis={"title": {"text": ylabel}, "type": "log" if log_y else "linear"})
    return InteractiveFigure(fig)


# --- Stolfo et al.: the final layer's neurons ------------------------------------------------------

_SWEEP_HOVER = {"prediction change (%)": "pred_pct", "mean |ΔEntropy| (nats)": "abs_dentropy",
                "1 − DE/TE": "ln_fraction", "ρ": "rho"}


def _labels(summary: pd.DataFrame, neurons: Sequence[int]) -> list[str]:
    return summary.label[summary.neuron.isin(neurons)].astype(str).tolist()


def prediction_change_vs_entropy(summary: pd.DataFrame, highlight: Sequence[int] = (), title: str = "") -> InteractiveFigure:
    """Fig 1: x = prediction change (%), y = mean |ΔEntropy|, colour = 1 − DE/TE (clipped to [−0.2, 1])."""
    frame = summary.assign(pred_pct=100 * summary.pred_change, colour=summary.ln_fraction.clip(-0.2, 1))
    hover = {k: v for k, v in _SWEEP_HOVER.items() if v in frame}
    return neuron_scatter(frame, "pred_pct", "abs_dentropy", hover=hover, colour="colour", colour_label="1 − DE/TE",
                          colourscale="RdBu_r", colour_range=(-0.2, 1.0), highlight=_labels(summary, highlight),
                          xlabel="prediction change (% of tokens whose top-1 token changes)",
                          ylabel="mean |ΔEntropy| (nats)", title=title)


def norm_vs_logit_var(table: pd.DataFrame, highlight: Sequence[int] = (), title: str = "") -> InteractiveFigure:
    """Fig 2a: x = ‖w_out‖, y = LogitVar(w_out) (log)."""
    hover = {"‖w_out‖": "norm", "LogitVar": "logit_var", **({"ρ": "rho"} if "rho" in table else {})}
    return neuron_scatter(table, "norm", "logit_var", hover=hover, highlight=_labels(table, highlight), log_y=True,
                          xlabel="norm of output weight ‖w_out‖", ylabel="LogitVar(w_out)", title=title)


def rho_vs_ln_fraction(summary: pd.DataFrame, highlight: Sequence[int] = (), title: str = "") -> InteractiveFigure:
    """Fig 2e/7: x = ρ, y = 1 − DE/TE (clipped to [−0.5, 1]; the hover shows the unclipped value),
    colour = mean |ΔEntropy|."""
    frame = summary.assign(ln_clipped=summary.ln_fraction.clip(-0.5, 1), pred_pct=100 * summary.pred_change)
    return neuron_scatter(frame, "rho", "ln_clipped", hover=_SWEEP_HOVER, colour="abs_dentropy",
                          colour_label="mean |ΔEntropy|", highlight=_labels(summary, highlight),
                          xlabel="ρ: share of ‖w_out‖ in the unembedding's null space",
                          ylabel="1 − DE/TE (clipped to [−0.5, 1])", title=title)


def neuron_types_scatter(summary: pd.DataFrame, entropy: Sequence[int], frequency: Sequence[int],
                         title: str = "") -> InteractiveFigure:
    """Fig 3b/8: x = 1 − DE_freq/TE (clipped to [−0.5, 1]), y = mean |ΔD_KL(P_freq ‖ P_model)|,
    one trace each for Normal / Entropy / Token frequency neurons."""
    kind = np.where(summary.neuron.isin(frequency), "Token frequency",
                    np.where(summary.neuron.isin(entropy), "Entropy", "Normal"))
    frame = summary.assign(kind=kind, freq_clipped=summary.freq_fraction.clip(-0.5, 1))
    hover = {"1 − DE_freq/TE": "freq_fraction", "mean |ΔKL| (nats)": "abs_dkl",
             **({"cos(W_Uᵀw, u_freq)": "freq_cos"} if "freq_cos" in frame else {})}
    return neuron_scatter(frame, "freq_clipped", "abs_dkl", hover=hover, groups="kind",
                          group_colours={"Normal": "lightgrey", "Entropy": "red", "Token frequency": "royalblue"},
                          xlabel="1 − DE_freq/TE (clipped to [−0.5, 1])",
                          ylabel="mean |ΔD_KL(P_freq ‖ P_model)| (nats)", title=title)


# --- Voita et al.: every FFN neuron --------------------------------------------------------------


def frequency_vs_cover(neurons: pd.DataFrame, title: str = "", layers: Sequence[int] | None = None) -> InteractiveFigure:
    """Voita Figs 1-3, one point per alive neuron of ``layers`` (default: the first half, as Fig 2):
    x = activation frequency (log), y = the number of tokens covering 95 % of its activations (log),
    colour = layer; the hover adds the covered share, whether it is a token detector and I(act; pos).
    A point costs about 60 bytes of page: 20k neurons make a 1.2 MB figure."""
    if layers is None:
        layers = range((int(neurons.layer.max()) + 2) // 2)
    alive = neurons[~neurons.dead & (neurons.cover > 0) & neurons.layer.isin(list(layers))]
    frame = alive.assign(label=alive.layer.astype(str) + "." + alive.neuron.astype(str),
                         detector=np.where(alive.token_detector, "yes", "no"))
    hover = {"layer": "layer", "activation frequency": "freq", "covering tokens": "cover",
             "covered share": "covered_share", "token detector": "detector", "I(act; pos) (nats)": "mi"}
    return neuron_scatter(frame, "freq", "cover", hover={k: v for k, v in hover.items() if v in frame},
                          colour="layer", colour_label="layer", log_x=True, log_y=True,
                          xlabel="activation frequency (share of positions where the neuron is active)",
                          ylabel="tokens covering 95 % of its activations", title=title)
