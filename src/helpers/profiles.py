"""Sizes per profile: the one place that says how much data each page uses.

``quick`` (the default) is sized for a 2-core CPU: the whole book for one registry model in
minutes. ``paper`` uses the papers' sizes where the data allow (a GPU). A value applies to every
notebook whose ``parameters`` cell declares that name; a notebook's defaults equal the ``quick``
values (tests/test_notebooks.py checks it), so a standalone papermill run of a page is the book's
page. Per-model entries (``"model:<name>"``) override the profile for one model, e.g. fewer
evaluated rows for a model whose vocabulary makes each token expensive; a null twin gets its
model's entries (it is measured as its model is).
"""

from __future__ import annotations

from typing import Any

from helpers import twins

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # quick: activation means over 64 rows of 256 tokens, effects on up to 128 filtered tokens of each of
    # 8 of them (~1k tokens, 8 units for the intervals); 64 repeated sequences; Voita's statistics over
    # 64 rows of 512 tokens (32k tokens). Gemma-3-270M's 262k-token vocabulary makes each evaluated
    # token 5x dearer: 32 tokens of each of the 8 rows; its forward pass is twice SmolLM2's: 32 Voita rows.
    "quick": {"*": {"n_rows": 64, "k": 8, "tokens_per_row": 128, "n_seqs": 64, "n_ablate_seqs": 16, "n_bos_seqs": 20,
                    "n_score_seqs": 64, "stats_rows": 64, "stats_seq_len": 512},
              "model:gemma-3-270m": {"tokens_per_row": 32, "stats_rows": 32}},
    # paper: ~the rows of the paper's 1000 C4 documents, effects on 100 rows (25,600 tokens); the
    # induction sizes of the authors' code; Voita's statistics over every 2048-token row the corpus
    # gives (the paper: 5M-20M tokens).
    "paper": {"*": {"n_rows": 2000, "k": 100, "tokens_per_row": 0, "n_seqs": 1000, "n_ablate_seqs": 50,
                    "n_bos_seqs": 100, "n_score_seqs": 1024, "stats_rows": 0, "stats_seq_len": 2048}},
}

QUICK = PROFILES["quick"]["*"]


def sizes(profile: str, notebook: str, model: str | None = None) -> dict[str, Any]:
    """The profile's values for one notebook and model: ``*``, then the notebook's, then the model's
    (a null twin: its base model's, then its own), so that a twin is measured as its model is."""
    entries = PROFILES[profile]
    per_model = [] if model is None else list(dict.fromkeys([twins.base_name(model), model]))
    return {**entries.get("*", {}), **entries.get(notebook, {}),
            **{k: v for m in per_model for k, v in entries.get(f"model:{m}", {}).items()}}
