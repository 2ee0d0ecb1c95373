"""The page family of Stolfo et al.'s induction case study (§6): ``InductionPage``, the sweep's rows
repeated (:mod:`helpers.pages`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from helpers import entropy, induction
from helpers.errors import ParameterError
from helpers.profiles import QUICK
from helpers.stolfo_pages import SweepPage


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
        return induction.repeated_sequences(self.rows, n=self.repeat_len, n_seqs=self.n_seqs, seed=self.seed)

    def followed_set(self, kind: str = "entropy") -> list[int]:
        """The neurons a figure draws: the paper's list (its models), else the rule's, else the followed one."""
        named = self.paper_entropy_neurons if kind == "entropy" else self.paper_frequency_neurons
        chosen = self.entropy_neurons if kind == "entropy" else self.frequency_neurons
        first = self.followed(kind)
        return list(dict.fromkeys([first, *(named or chosen)]))
