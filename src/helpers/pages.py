"""One setup call per page: what every page family shares.

A figure notebook reads like a section of the paper: a title and the paper's claim (markdown); the
``parameters`` cell (papermill overrides it; removed from the book); one setup call, hidden in the
book but with its output shown,

    page = stolfo_pages.SweepPage.setup("fig1_prediction_vs_entropy", globals())

which checks every parameter (:mod:`helpers.params`) before anything is loaded, loads the model and
what the page family needs (cached), and prints what was loaded, from where, and its caveats; then
per figure a plot call and ``page.figure(fig, name, caption)``; and ``page.report(numbers)``: the key
numbers with their 95 % intervals, saved for the scorecard and shown as a table.

Each family is in the module of the science it loads, so that a page depends on that science alone
(an edit of :mod:`helpers.voita` re-executes the Voita et al. pages only; :mod:`helpers.runner.stamps`):
:mod:`helpers.stolfo_pages` (``WeightsPage``: weights only; ``SweepPage``: the entropy /
token-frequency sweep; ``CrossPage``: several models), :mod:`helpers.induction_pages`
(``InductionPage``: the sweep plus repeated sequences), :mod:`helpers.voita_pages` (``VoitaPage``:
activation counts). What this model shows for the page's claims (the verdicts) is not computed
here: the runner adds it when it builds the book (:mod:`helpers.runner.book`), from the key numbers.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

from helpers import models, params, report
from helpers.stats import Estimate

P = TypeVar("P", bound="Page")


@dataclass
class Page:
    """What every page has. Fields are the notebook's parameters of the same names."""

    results_dir: str  #: folder for the page's figures (PNG) and key_numbers.json
    device: str = "cpu"  #: cpu, cuda, cuda:N, or auto
    dtype: str = "float32"  #: float32, float64 or bfloat16
    seed: int = 42  #: seed of every random choice (rows, neurons, bootstrap)
    notebook: str = field(default="", repr=False)  #: the notebook's name (set by setup)
    declared: frozenset = field(default=frozenset(), repr=False)  #: the parameters the notebook declares (set by setup)

    @classmethod
    def setup(cls: type[P], notebook: str, namespace: Mapping[str, Any]) -> P:
        """Build the page from the notebook's parameters (the names in ``namespace`` that are fields
        of this family), check them all, load what the page needs, and show what was loaded."""
        names = [f.name for f in fields(cls) if f.init and f.name not in ("notebook", "declared")]
        given = {name: namespace[name] for name in names if name in namespace}
        page = cls(**params.validate(given), notebook=notebook, declared=frozenset(given))
        params.check_results_dir(page.results_dir)  # in the kernel: the runner checks its own folders
        page.load()
        display(Markdown(page.describe()))
        return page

    def load(self) -> None:
        """Load what the family needs (overridden)."""

    def describe(self) -> str:
        """Markdown: what the page's numbers were computed from (overridden)."""
        return ""

    @property
    def model_name(self) -> str:
        return getattr(self, "model", ",".join(getattr(self, "models", [])))

    # -- output -----------------------------------------------------------------------------

    def figure(self, fig: plt.Figure, name: str, caption: str) -> Path:
        """Save ``fig`` as ``results_dir/<name>.png`` and show it with its caption (a <figure>)."""
        path = report.save_figure(fig, self.results_dir, name)
        plt.close(fig)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        display(HTML(f'<figure class="repro-figure"><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
                     f"<figcaption>{_inline_markdown(caption)}</figcaption></figure>"))
        return path

    def interactive(self, figure: Any, caption: str) -> None:
        """Show an interactive figure (:mod:`helpers.interactive`) with its caption."""
        display(HTML(f'<figure class="repro-figure repro-interactive">{figure.to_html()}'
                     f"<figcaption>{_inline_markdown(caption)}</figcaption></figure>"))

    def report(self, numbers: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Write the key numbers (with intervals) for the scorecard and show them as a table. The
        runner puts the page's verdicts under this cell's output (``report.KEY_NUMBERS_OUTPUT``)."""
        stored = {key: value.to_json() if isinstance(value, Estimate) else _plain(value)
                  for key, value in numbers.items()}
        report.write_key_numbers(self.results_dir, stored, notebook=self.notebook, model=self.model_name)
        display(HTML(_numbers_table(numbers, labels or {})), metadata={report.KEY_NUMBERS_OUTPUT: True})
        return stored


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON-able Python values; dicts and lists recursively."""
    if isinstance(value, Estimate):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _numbers_table(numbers: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    rows = []
    for key, value in numbers.items():
        label = html.escape(labels.get(key, key.replace("_", " ")))
        if isinstance(value, Estimate):
            shown = f"{value.text()} <small>(95 % interval over {value.n} {html.escape(value.unit)})</small>"
        elif isinstance(value, float):
            shown = f"{value:.4g}"
        elif isinstance(value, dict) and value and all(isinstance(v, Estimate) for v in value.values()):
            shown = "<br>".join(f"{html.escape(str(k))}: {v.text()}" for k, v in value.items())
        else:
            shown = html.escape(str(_plain(value)))
        rows.append(f"<tr><td>{label}</td><td>{shown}</td></tr>")
    return ('<table class="repro-numbers"><thead><tr><th>key number</th><th>value [95 % interval]</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _inline_markdown(text: str) -> str:
    """Captions are plain text with `code` spans and **bold**: escape, then render those two."""
    import re

    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


# ---------------------------------------------------------------------------------------------
# One model


@dataclass
class ModelPage(Page):
    """A page about one model."""

    model: str = "smollm2-135m"  #: a name from `python -m helpers models`, a Hub id, or a local path

    def load(self) -> None:
        self.lm = models.load_model(self.model, device=self.device, dtype=self.dtype)

    def describe(self) -> str:
        return models.describe(self.lm)


def estimate_table(estimates: Mapping[str, Mapping[str, Estimate]], columns: list[str]) -> pd.DataFrame:
    """Rows = names (e.g. neuron labels), columns = the given estimates as 'value [low, high]' text."""
    return pd.DataFrame({name: {c: est[c].text() for c in columns if c in est} for name, est in estimates.items()}).T


def finite(values: Any) -> np.ndarray:
    """The finite entries of ``values`` as a float array."""
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]
