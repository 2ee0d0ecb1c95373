"""Null twins: untrained copies of a model, the controls every verdict must fail on.

A twin has the model's architecture, tokenizer and special tokens but has learned nothing:

- ``null-init:<model>``: every weight drawn afresh by the architecture's own initialisation (seeded);
- ``null-shuffled:<model>``: every weight tensor's entries permuted (seeded), so each tensor keeps
  its distribution of values but loses its structure.

A rule that gives "reproduced" or "partly" on a twin does not discriminate (book: Methods,
*Controls*).
"""

from __future__ import annotations

KINDS = ("null-init", "null-shuffled")


def parse(name: str) -> tuple[str, str] | None:
    """``(kind, base model)`` of a twin's name, or None for any other model name."""
    kind, sep, base = name.partition(":")
    return (kind, base) if sep and kind in KINDS and base else None


def is_twin(name: str) -> bool:
    """Whether ``name`` names a null twin (``null-init:<model>`` or ``null-shuffled:<model>``)."""
    return parse(name) is not None
