"""Neuron and head ids the papers name for their models (the authors' code and captions; book: Methods), as ``(layer, neuron)``.

Only the paper's own models have them; for any other model the notebooks find candidates from
the data (top rho, see ``helpers.weights``) and say so.
"""

from __future__ import annotations


def _ids(*labels: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in label.split(".")) for label in labels]  # type: ignore[misc]


ENTROPY_NEURONS: dict[str, list[tuple[int, int]]] = {
    "gpt2-small": _ids("11.584", "11.2378", "11.2870", "11.2123", "11.1611", "11.2910"),
    "pythia-410m": _ids("23.1829", "23.1332", "23.2455", "23.3562", "23.2756", "23.2362"),
    "Llama-2-7b": _ids("31.3228"),
    "stanford-gpt2-small-a": _ids("11.3030", "11.2859", "11.995", "11.2546", "11.823", "11.2748"),
    "pythia-160m": _ids("11.1070", "10.1205", "10.2385"),
}

TOKEN_FREQUENCY_NEURONS: dict[str, list[tuple[int, int]]] = {
    "pythia-410m": _ids("23.417", "23.87", "23.730", "23.2017", "23.3412"),
    "gpt2-small": _ids("11.2", "11.2214", "11.2361", "11.2362", "11.2408", "11.3033"),  # pre-cleanup code, unverified
    "pythia-1b": _ids("15.6480", "15.6413"),
    "pythia-1.4b": _ids("23.5104", "23.435", "23.6368", "23.7756", "23.3636"),
    "pythia-2.8b": _ids("31.8255", "31.6326", "31.6955", "31.5251", "31.1676"),
    "phi-2": _ids("31.4437", "31.1121", "31.7335", "31.6415", "31.3150"),
    "opt-125m": _ids("11.2288"),
}

INDUCTION_HEADS: dict[str, list[tuple[int, int]]] = {
    "gpt2-small": [(5, 1), (5, 5), (6, 9), (7, 10), (7, 2)],
}


def label(layer: int, neuron: int) -> str:
    """The paper's ``L.i`` notation."""
    return f"{layer}.{neuron}"

# Fig 5c's baselines for GPT-2 Small: single heads and sets of heads whose BOS ablation should leave
# the entropy neuron alone (the authors' plotting code).
BOS_BASELINE_HEADS: dict[str, list[list[tuple[int, int]]]] = {
    "gpt2-small": [[(6, 1)], [(5, 7)], [(5, 6)], [(5, 8)], [(6, 10)], [(6, 3)],
                   [(5, 7), (5, 6)], [(6, 1), (5, 7)], [(5, 8), (6, 3)], [(5, 7), (5, 6), (5, 8)],
                   [(6, 1), (5, 6), (6, 10)], [(5, 7), (6, 10), (6, 3)]],
}

# The one neuron each case study follows (Figs 4a/b, 5a-c, 7a, 11: 11.2378 and 31.3228; Figs 4c, 10c: 23.417).
CASE_STUDY_NEURONS: dict[str, dict[str, tuple[int, int]]] = {
    "gpt2-small": {"entropy": (11, 2378)},
    "Llama-2-7b": {"entropy": (31, 3228)},
    "pythia-410m": {"frequency": (23, 417)},
}
