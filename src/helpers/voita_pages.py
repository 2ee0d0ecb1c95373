"""The page family of Voita et al.'s pages: ``VoitaPage``, the activation counts of every FFN neuron
(:mod:`helpers.pages`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers import voita
from helpers.errors import ParameterError
from helpers.pages import ModelPage
from helpers.profiles import QUICK


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
        super().load()
        if self.oscillation_layer >= self.lm.cfg.n_layers:
            raise ParameterError(f"oscillation_layer {self.oscillation_layer} is out of range: {self.model} has "
                                 f"{self.lm.cfg.n_layers} layers (0..{self.lm.cfg.n_layers - 1})")
        self.stats = voita.neuron_stats(self.lm, corpus=self.corpus, n_rows=self.stats_rows,
                                        seq_len=self.stats_seq_len, seed=self.seed, threshold=self.threshold)
        self.layers = self.stats.layer_summary()
        self.n_layers = self.lm.cfg.n_layers

    def describe(self) -> str:
        return "\n\n".join([super().describe(), voita.describe_stats(self.stats)])
