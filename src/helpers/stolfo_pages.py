"""The page families of Stolfo et al.'s entropy and token-frequency pages (:mod:`helpers.pages`):
``WeightsPage`` (the final layer's weights only), ``SweepPage`` (the mean-ablation sweep, cached)
and ``CrossPage`` (several models)."""

from __future__ import annotations

from dataclasses import dataclass, field

from IPython.display import Markdown, display

from helpers import entropy, models, paper
from helpers.pages import ModelPage, Page
from helpers.profiles import QUICK
from helpers.stats import Estimate


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
