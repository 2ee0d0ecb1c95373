"""One setup call per page.

A figure notebook reads like a section of the paper: a title and the paper's claim (markdown); the
``parameters`` cell (papermill overrides it; removed from the book); one setup call, hidden in the
book but with its output shown,

    page = pages.SweepPage.setup("fig1_prediction_vs_entropy", globals())

which checks every parameter (:mod:`helpers.params`) before anything is loaded, loads the model and
what the page family needs (cached), and prints what was loaded, from where, and its caveats; then
per figure a plot call and ``page.figure(fig, name, caption)``; and ``page.report(numbers)``: the key
numbers with their 95 % intervals (saved for the scorecard) and what this model shows for the
page's claims.

Families: :class:`WeightsPage` (weights only), :class:`SweepPage` (the entropy / token-frequency
sweep), :class:`InductionPage` (the sweep plus repeated sequences), :class:`VoitaPage` (activation
counts), :class:`CrossPage` (several models).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

from helpers import entropy, models, paper, params, report, scorecard
from helpers.errors import ParameterError
from helpers.profiles import QUICK
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
        """Write the key numbers (with intervals) for the scorecard, show them as a table, and show
        what this model shows for the claims of the papers that this page measures."""
        stored = {key: value.to_json() if isinstance(value, Estimate) else _plain(value)
                  for key, value in numbers.items()}
        report.write_key_numbers(self.results_dir, stored, notebook=self.notebook, model=self.model_name)
        display(HTML(_numbers_table(numbers, labels or {})))
        verdicts = scorecard.page_verdicts(self.notebook, stored, getattr(self, "models", None) or self.model_name)
        if verdicts:
            display(Markdown(verdicts))
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


@dataclass
class WeightsPage(ModelPage):
    """A page that reads the final layer's weights only (no corpus)."""

    layer: int = -1  #: MLP layer (-1: the final one)
    null_space_k: int = 0  #: size of the unembedding's null space for rho (0: the default for the model)
    top_n: int = 6  #: how many neurons to label

    def load(self) -> None:
        from helpers import weights

        super().load()
        self.layer = weights.resolve_layer(self.lm, self.layer)
        self.weights = weights.neuron_weight_table(self.lm, layer=self.layer, k=self.null_space_k or None)


@dataclass
class SweepPage(ModelPage):
    """A page that reads the mean-ablation sweep of the final layer (Stolfo et al.; cached)."""

    corpus: str = "wikipedia-sample"  #: corpus the rows come from
    n_rows: int = QUICK["n_rows"]  #: rows of 256 tokens whose tokens give the activation means
    k: int = QUICK["k"]  #: rows on which every final-layer neuron is ablated (the intervals' units)
    tokens_per_row: int = QUICK["tokens_per_row"]  #: at most this many evaluated tokens per row (0: all)
    null_space_k: int = 0  #: size of the unembedding's null space for rho (0: the default for the model)
    counts_file: str | None = None  #: training-data token counts (.npy); None: the paper's, else counted
    neuron: int = -1  #: neuron to follow (-1: the paper's for its models, else the rule's first)

    def load(self) -> None:
        super().load()
        self.sweep = entropy.run_sweep(self.lm, corpus=self.corpus, n_rows=self.n_rows, k=self.k, seed=self.seed,
                                       tokens_per_row=self.tokens_per_row, null_space_k=self.null_space_k or None,
                                       counts_file=self.counts_file)
        self.summary = self.sweep.summary
        self.layer: int = self.sweep.info["layer"]
        self.entropy_neurons = self.sweep.entropy_neurons
        self.frequency_neurons = self.sweep.token_frequency_neurons
        self.paper_entropy_neurons = self._paper(paper.ENTROPY_NEURONS)
        self.paper_frequency_neurons = self._paper(paper.TOKEN_FREQUENCY_NEURONS)
        if self.neuron != -1:
            from helpers.weights import check_neurons

            check_neurons(self.lm, [self.neuron], self.layer)

    def _paper(self, table: dict[str, list[tuple[int, int]]]) -> list[int]:
        return [n for (layer, n) in table.get(self.model, []) if layer == self.layer]

    def label(self, neuron: int) -> str:
        return paper.label(self.layer, neuron)

    def labels(self, neurons: list[int]) -> str:
        return ", ".join(f"`{self.label(n)}`" for n in neurons) or "none"

    def _follow(self, kind: str) -> tuple[int, str]:
        case = paper.CASE_STUDY_NEURONS.get(self.model, {}).get(kind)
        return entropy.followed_neuron(
            self.sweep.selection_summary if hasattr(self, "sweep") else None, kind,
            self.entropy_neurons if kind == "entropy" else self.frequency_neurons,
            parameter=self.neuron, case=case[1] if case is not None and case[0] == self.layer else None,
            named=self.paper_entropy_neurons if kind == "entropy" else self.paper_frequency_neurons)

    def followed(self, kind: str = "entropy") -> int:
        """The one neuron a page follows, by the policy of ``helpers.entropy.followed_neuron``."""
        return self._follow(kind)[0]

    def followed_kind(self, kind: str = "entropy") -> str:
        """Why the followed neuron is followed: "parameter", "paper", "rule" or "stand-in"."""
        return self._follow(kind)[1]

    def why_followed(self, kind: str = "entropy") -> str:
        """One sentence: which neuron the page follows and why."""
        n = self.followed(kind)
        named = self.paper_entropy_neurons if kind == "entropy" else self.paper_frequency_neurons
        chosen = self.entropy_neurons if kind == "entropy" else self.frequency_neurons
        noun = "entropy" if kind == "entropy" else "token-frequency"
        if self.neuron != -1:
            why = "the `neuron` parameter"
        elif named:
            why = f"the {noun} neuron the paper follows for `{self.model}`"
        elif chosen:
            why = f"the first {noun} neuron by the rule (largest effect on the selection rows)"
        else:
            why = (f"no neuron passes the {noun}-neuron rule for this model, so the page draws the neuron with the "
                   f"largest {'ρ' if kind == 'entropy' else '|ΔD_KL|'} z-score as a stand-in (its claims are n/a)")
        return f"This page follows neuron `{self.label(n)}`: {why}."

    def estimates(self, neuron: int) -> dict[str, Estimate]:
        """The neuron's sweep numbers on the judgement rows, with intervals over them."""
        return entropy.neuron_estimates(self.sweep, neuron, seed=self.seed, judgement=True)

    def describe(self) -> str:
        rule = (f"**Entropy neurons** by the rule (robust z ≥ {entropy.Z_OUTLIER:g} for ρ and for 1 − DE/TE, 1 − DE/TE ≥ "
                f"{entropy.MIN_LN_SHARE:g}, more entropy change per prediction change than the layer's median neuron): "
                f"{self.labels(self.entropy_neurons)}. **Token-frequency neurons** (robust z ≥ {entropy.Z_OUTLIER:g} for "
                f"|ΔD_KL| and for 1 − DE_freq/TE, 1 − DE_freq/TE ≥ {entropy.MIN_FREQ_SHARE:g}): "
                f"{self.labels(self.frequency_neurons)}. Both rules read the selection rows only; every claim about the "
                "selected neurons is judged on the other half, the judgement rows.")
        if self.paper_entropy_neurons or self.paper_frequency_neurons:
            rule += (f" The paper's lists for `{self.model}`: entropy {self.labels(self.paper_entropy_neurons)}; "
                     f"token frequency {self.labels(self.paper_frequency_neurons)}.")
        return "\n\n".join([super().describe(), entropy.describe_sweep(self.sweep), rule])


@dataclass
class InductionPage(SweepPage):
    """A page of the induction case study: the sweep's rows, repeated (Stolfo et al. §6)."""

    n_seqs: int = QUICK["n_seqs"]  #: repeated sequences averaged per position (the paper: 1000)
    n_ablate_seqs: int = QUICK["n_ablate_seqs"]  #: of which the clip mean-ablation evaluates (the paper: 50)
    repeat_len: int = 99  #: BOS + repeat_len tokens, then the same again (the paper: 99, 199 positions)
    n_random: int = 5  #: random final-layer neurons as a baseline
    n_bos_seqs: int = QUICK["n_bos_seqs"]  #: repeated natural-text sequences for the BOS ablation (the paper: 100)
    half: int = 50  #: tokens per copy in the BOS-ablation sequences
    n_score_seqs: int = QUICK["n_score_seqs"]  #: random-token sequences for the induction scores (the paper: 1024)

    def load(self) -> None:
        super().load()
        for name in sorted({"n_seqs", "n_bos_seqs"} & self.declared):
            if getattr(self, name) > self.n_rows:
                raise ParameterError(f"parameter {name} = {getattr(self, name)} exceeds n_rows = {self.n_rows}, the "
                                     f"corpus rows the sequences are cut from; pass {name} <= n_rows or raise n_rows")

    @cached_property
    def rows(self):
        return entropy.sweep_rows(self.lm, self.sweep)

    @cached_property
    def seqs(self):
        """[n_seqs, 2 repeat_len + 1]: BOS + repeat_len corpus tokens + the same again."""
        from helpers import induction

        return induction.repeated_sequences(self.rows, n=self.repeat_len, n_seqs=self.n_seqs, seed=self.seed)

    def followed_set(self, kind: str = "entropy") -> list[int]:
        """The neurons a figure draws: the paper's list (its models), else the rule's, else the followed one."""
        named = self.paper_entropy_neurons if kind == "entropy" else self.paper_frequency_neurons
        chosen = self.entropy_neurons if kind == "entropy" else self.frequency_neurons
        first = self.followed(kind)
        return list(dict.fromkeys([first, *(named or chosen)]))


# ---------------------------------------------------------------------------------------------
# Voita et al.


@dataclass
class VoitaPage(ModelPage):
    """A page that reads the activation counts of every FFN neuron (Voita et al.; cached)."""

    corpus: str = "wikipedia-sample"  #: corpus the rows come from
    stats_rows: int = QUICK["stats_rows"]  #: rows whose activations are counted (0: every row)
    stats_seq_len: int = QUICK["stats_seq_len"]  #: tokens per counted row, BOS first (the paper: 2048)
    threshold: float | None = None  #: 'active' = the FFN nonlinearity's input > threshold (None: 0)
    n_examples: int = 4  #: example detectors shown (Fig 5)
    oscillation_layer: int = 1  #: layer whose oscillatory neurons are shown (Fig 9; the paper: the second)
    domains: list = field(default_factory=lambda: ["wikipedia-sample", "python-stdlib"])  #: corpora compared

    def load(self) -> None:
        from helpers import voita

        super().load()
        if self.oscillation_layer >= self.lm.cfg.n_layers:
            raise ParameterError(f"oscillation_layer {self.oscillation_layer} is out of range: {self.model} has "
                                 f"{self.lm.cfg.n_layers} layers (0..{self.lm.cfg.n_layers - 1})")
        self.stats = voita.neuron_stats(self.lm, corpus=self.corpus, n_rows=self.stats_rows,
                                        seq_len=self.stats_seq_len, seed=self.seed, threshold=self.threshold)
        self.layers = self.stats.layer_summary()
        self.n_layers = self.lm.cfg.n_layers

    def describe(self) -> str:
        from helpers import voita

        return "\n\n".join([super().describe(), voita.describe_stats(self.stats)])


# ---------------------------------------------------------------------------------------------
# Several models


@dataclass
class CrossPage(Page):
    """A page that compares the models of the book (each loaded in turn, one at a time)."""

    models: list = field(default_factory=lambda: ["smollm2-135m"])  #: model names
    corpus: str = "wikipedia-sample"  #: corpus of each model's sweep
    n_rows: int = QUICK["n_rows"]  #: as SweepPage
    k: int = QUICK["k"]  #: as SweepPage
    tokens_per_row: int = QUICK["tokens_per_row"]  #: as SweepPage
    null_space_k: int = 0  #: as SweepPage
    model_sizes: dict = field(default_factory=dict)  #: model -> its own sizes (the runner fills it from the profile)

    def each(self, *, sweep: bool = True):
        """Yield (name, model, sweep or None) for each model, freeing each model before the next; a
        model's sweep uses its own sizes where ``model_sizes`` has them (as its chapter's pages)."""
        for name in self.models:
            lm = models.load_model(name, device=self.device, dtype=self.dtype)
            display(Markdown(models.describe(lm)))
            result = None
            if sweep:
                size = {"n_rows": self.n_rows, "k": self.k, "tokens_per_row": self.tokens_per_row,
                        **self.model_sizes.get(name, {})}
                result = entropy.run_sweep(lm, corpus=self.corpus, n_rows=size["n_rows"], k=size["k"], seed=self.seed,
                                           tokens_per_row=size["tokens_per_row"], null_space_k=self.null_space_k or None)
                display(Markdown(entropy.describe_sweep(result)))
            yield name, lm, result
            del lm

    def describe(self) -> str:
        return f"Models compared: {', '.join(f'`{m}`' for m in self.models)}."


def estimate_table(estimates: Mapping[str, Mapping[str, Estimate]], columns: list[str]) -> pd.DataFrame:
    """Rows = names (e.g. neuron labels), columns = the given estimates as 'value [low, high]' text."""
    return pd.DataFrame({name: {c: est[c].text() for c in columns if c in est} for name, est in estimates.items()}).T


def finite(values: Any) -> np.ndarray:
    """The finite entries of ``values`` as a float array."""
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]
