"""Null twins: untrained copies of a model, the controls every verdict must fail on.

A twin has the model's architecture, tokenizer and special tokens but has learned nothing:

- ``null-init:<model>``: every weight drawn afresh by the architecture's own initialisation (seeded);
- ``null-shuffled:<model>``: every weight tensor's entries permuted (seeded), so each tensor keeps
  its distribution of values but loses its structure.

A rule that gives "reproduced" or "partly" on a twin does not discriminate (book: Methods,
*Controls*).
"""

from __future__ import annotations

from typing import Sequence

KINDS = ("null-init", "null-shuffled")


def parse(name: str) -> tuple[str, str] | None:
    """``(kind, base model)`` of a twin's name, or None for any other model name."""
    kind, sep, base = name.partition(":")
    return (kind, base) if sep and kind in KINDS and base else None


def is_twin(name: str) -> bool:
    """Whether ``name`` names a null twin (``null-init:<model>`` or ``null-shuffled:<model>``)."""
    return parse(name) is not None


SEED = 1234  # of every twin: the same twin on every run (and the same weights fingerprint)
CONTROLS = ("default", "none", "all")  # the runner's --controls (make book CONTROLS=...)
CAVEAT = "untrained control: every verdict should fail here (a claim that passes here does not discriminate)"
_WHAT = {
    "null-init": "every weight drawn afresh by the architecture's own initialisation (seed 1234)",
    "null-shuffled": "every weight tensor's entries permuted (seed 1234): each tensor keeps its values, "
                     "not their arrangement",
}


def kind_problem(name: str) -> str | None:
    """Why ``name`` looks like a twin's name but is not one (``null-foo:x``, ``null-init:``,
    a twin of a twin); None for a valid twin or a name that does not look like one."""
    kind, sep, base = name.partition(":")
    if not sep or not kind.startswith("null"):
        return None
    valid = " or ".join(f"{k}:<model>" for k in KINDS)
    if kind not in KINDS:
        return f"unknown twin kind {kind!r} in {name!r}; a null twin is {valid}"
    if not base:
        return f"{name!r} names no model; a null twin is {valid}, e.g. {kind}:smollm2-135m"
    if is_twin(base):
        return f"{name!r} is a twin of a twin; name the trained model: {kind}:{parse(base)[1]}"  # type: ignore[index]
    return None


def base_name(name: str) -> str:
    """The trained model ``name`` stands for: the base of a twin, else ``name`` itself (for what
    follows the model's identity, not its weights: the paper's settings, the profile's sizes)."""
    parsed = parse(name)
    return name if parsed is None else parsed[1]


def description(kind: str, base: str, base_description: str) -> str:
    """What a twin is, for the model's description (the note under every page's title)."""
    return (f"untrained control twin of `{base}` ({base_description}): {_WHAT[kind]}; "
            f"the tokenizer and special tokens of `{base}`")


def with_controls(models: Sequence[str], controls: str) -> list[str]:
    """``models`` with the null twins that ``controls`` adds, trained models first, then twins.

    ``none``: no twin added; ``default``: ``null-init:`` of the first trained model; ``all``: both
    twins of every trained model. Twins named in ``models`` are kept (after the trained models);
    none is listed twice.
    """
    if controls not in CONTROLS:
        raise ValueError(f"controls must be one of {', '.join(CONTROLS)}, got {controls!r}")
    trained = [m for m in models if not is_twin(m)]
    added: list[str] = []
    if controls == "default" and trained:
        added = [f"null-init:{trained[0]}"]
    elif controls == "all":
        added = [f"{kind}:{m}" for m in trained for kind in KINDS]
    return list(dict.fromkeys([*trained, *(m for m in models if is_twin(m)), *added]))


def make(kind: str, model, seed: int = SEED) -> None:
    """Turn the Hugging Face model ``model`` (on the CPU, float32) into its ``kind`` twin, in place."""
    {"null-init": null_init, "null-shuffled": null_shuffle}[kind](model, seed)


def null_init(model, seed: int = SEED) -> None:
    """Re-initialise every parameter with the architecture's own ``_init_weights`` (normal(0,
    initializer_range) matrices, norm gains at their init value, zero biases: whatever Hugging Face
    does for a model built from its config), under ``torch.manual_seed(seed)``; ties kept.

    Loading marks every tensor as initialised (``_is_hf_initialized``), so the marks are cleared
    first; the caller's random state is left as it was."""
    import torch

    for obj in (*model.modules(), *model.parameters(), *model.buffers()):
        if getattr(obj, "_is_hf_initialized", False):
            obj._is_hf_initialized = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.init_weights()


def null_shuffle(model, seed: int = SEED) -> None:
    """Permute the entries of every parameter tensor, W ← flat(W)[π].view(shape), with π drawn by
    one ``torch.Generator`` seeded ``seed``, parameters in the order of their names. A tensor shared
    by two modules (tied embedding and unembedding) is listed once, so it is permuted once and the
    tie is kept."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            flat = param.detach().reshape(-1)
            param.copy_(flat[torch.randperm(flat.numel(), generator=generator)].view_as(param))
