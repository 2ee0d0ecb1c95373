"""The notebooks' parameters: one schema, checked before anything is loaded.

Every parameter a notebook's ``parameters`` cell may declare is listed in :data:`PARAMETERS` with
its type and range. :func:`validate` checks a set of values against it (types, ranges, the
relations between them, and that the device exists), so that a wrong value fails at once with a
message naming the parameter, the value and the fix: in the notebook (``helpers.pages``) before the
model is loaded, and in the suite runner before a kernel is started.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from helpers.errors import ParameterError
from helpers.io import write_problem


@dataclass(frozen=True)
class Param:
    """One parameter: its Python type, its bounds or choices, and what it means."""

    kind: type[Any]
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    allow_none: bool = False


DTYPES = ("float32", "float64", "bfloat16")

PARAMETERS: dict[str, Param] = {
    # what to run on
    "model": Param(str, "a name from `python -m helpers models`, a Hub id, a local directory / .gguf path, "
                         "or a null twin of one (null-init:<model>, null-shuffled:<model>)"),
    "models": Param(list, "model names, for a page that compares models"),
    "model_sizes": Param(dict, "per-model sizes of a page that compares models (the runner sets them from the profile)"),
    "results_dir": Param(str, "folder for the page's figures (PNG) and key_numbers.json"),
    "device": Param(str, "cpu, cuda, cuda:N, or auto (Hub models spread over the devices with accelerate)"),
    "dtype": Param(str, "floating-point type of the weights", choices=DTYPES),
    "corpus": Param(str, "wikipedia-sample, python-stdlib, c4 (needs the Hub), or a local .txt/.jsonl/.parquet"),
    "counts_file": Param(str, "a .npy of the model's training-data token counts (else counted on the corpus)",
                         allow_none=True),
    "seed": Param(int, "seed of every random choice (rows, neurons, bootstrap)", minimum=0),
    # the entropy / token-frequency sweep (Stolfo et al.)
    "n_rows": Param(int, "rows of 256 tokens whose tokens give the activation means", minimum=1),
    "k": Param(int, "rows on which every final-layer neuron is ablated (half select, half judge)", minimum=2),
    "tokens_per_row": Param(int, "at most this many evaluated tokens per row (0: every token the filter keeps)",
                            minimum=0),
    "null_space_k": Param(int, "size of the unembedding's null space for rho (0: the default for the model)",
                          minimum=0),
    "neuron": Param(int, "final-layer neuron to follow (-1: the paper's for its models, else the rule's first)",
                    minimum=-1),
    "layer": Param(int, "MLP layer (-1: the final one)"),
    "top_n": Param(int, "how many neurons to label", minimum=1),
    "n_random": Param(int, "random final-layer neurons drawn as a baseline", minimum=0),
    # the induction study
    "n_seqs": Param(int, "repeated sequences averaged per position", minimum=1),
    "n_ablate_seqs": Param(int, "of which the clip mean-ablation evaluates", minimum=1),
    "repeat_len": Param(int, "tokens repeated: BOS + repeat_len tokens, then the same again", minimum=2,
                        maximum=255),
    "n_bos_seqs": Param(int, "repeated natural-text sequences for the BOS ablation", minimum=1),
    "half": Param(int, "tokens per copy in the BOS-ablation sequences", minimum=2, maximum=255),
    "n_score_seqs": Param(int, "random-token sequences for the induction-head scores", minimum=1),
    # Voita et al.
    "stats_rows": Param(int, "rows whose activations are counted (0: every row the corpus gives)", minimum=0),
    "stats_seq_len": Param(int, "tokens per counted row, BOS first", minimum=8),
    "threshold": Param(float, "'active' means the FFN nonlinearity's input (a gated MLP's gate pre-activation) "
                       "above this (None: 0)",
                       minimum=0.0, allow_none=True),
    "n_examples": Param(int, "example detectors shown", minimum=1),
    "oscillation_layer": Param(int, "layer whose oscillatory neurons are shown (the paper: the second, 1)",
                               minimum=0),
    "domains": Param(list, "corpora whose statistics are compared, one per domain"),
}

# (smaller, larger): the first may not exceed the second
RELATIONS = (("k", "n_rows"), ("n_ablate_seqs", "n_seqs"))


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``values`` (name -> value) against :data:`PARAMETERS`; return them (ints given for
    floats become floats). Unknown names are an error: a misspelt parameter must not be ignored."""
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(PARAMETERS))}")
    checked = {name: check(name, value) for name, value in values.items()}
    for small, large in RELATIONS:
        if small in checked and large in checked and checked[small] > checked[large]:
            raise ParameterError(f"parameter {small} = {checked[small]} exceeds {large} = {checked[large]}; "
                                 f"pass {small} <= {large}")
    if "device" in checked:
        check_device(checked["device"])
    if "models" in checked and not (checked["models"] and all(isinstance(m, str) and m for m in checked["models"])):
        raise ParameterError(f"parameter models must be a non-empty list of model names, got {checked['models']!r}; "
                             "pass it as YAML: -y 'models: [smollm2-135m, gemma-3-270m]'")
    return checked


def check(name: str, value: Any) -> Any:
    """Check one parameter's type and range; return the value."""
    spec = PARAMETERS[name]
    if value is None and spec.allow_none:
        return None
    kind = spec.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        raise ParameterError(f"parameter {name} must be {_describe(spec)} ({spec.help}), got {value!r} "
                             f"({type(value).__name__}); {_hint(name, value, spec)}")
    if ((spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum)
            or (spec.choices is not None and value not in spec.choices)):
        raise ParameterError(f"parameter {name} must be {_describe(spec)} ({spec.help}), got {value!r}; "
                             "pass a value in that range")
    return value


def check_results_dir(results_dir: str) -> str:
    """The page's results folder, created if missing; :class:`ParameterError` if it cannot be written."""
    folder = Path(results_dir).expanduser()
    if (exc := write_problem(folder)) is not None:
        raise ParameterError(f"parameter results_dir: cannot write to {str(folder)!r} ({exc.strerror or exc}); "
                             "pass -p results_dir a folder you can write to") from exc
    return results_dir


def check_device(device: str) -> str:
    """``cpu``, ``auto``, or a CUDA device that this machine has."""
    if device in ("cpu", "auto"):
        return device
    if device == "cuda" or device.startswith("cuda:"):
        import torch

        index = device.partition(":")[2]
        if not torch.cuda.is_available():
            raise ParameterError(f"device {device!r} was asked for, but this machine has no CUDA GPU that torch "
                                 f"can use (torch {torch.__version__}); run with -p device cpu (make book DEVICE=cpu), "
                                 "or install a CUDA build of torch on a GPU machine (README: On a GPU)")
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ParameterError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                                 "CUDA device(s); pass cuda or cuda:0")
        return device
    raise ParameterError(f"parameter device must be cpu, cuda, cuda:N or auto, got {device!r}")


def _describe(spec: Param) -> str:
    text = f"{'an' if spec.kind.__name__[0] in 'aeiou' else 'a'} {spec.kind.__name__}"
    if spec.minimum is not None:
        text += f" >= {spec.minimum}"
    if spec.maximum is not None:
        text += f"{' and' if spec.minimum is not None else ''} <= {spec.maximum}"
    if spec.choices is not None:
        text += f" (one of {', '.join(map(repr, spec.choices))})"
    if spec.allow_none:
        text += " or None"
    return text


def _hint(name: str, value: Any, spec: Param) -> str:
    """How to pass such a value on papermill's command line."""
    if spec.kind in (int, float):
        example = value if isinstance(value, str) and _is_number(value) else (spec.minimum or 1)
        return f"pass it as -p {name} {example} (papermill's -p converts numbers; -r passes raw strings)"
    if spec.kind is list:
        return f"pass it as YAML: -y '{name}: [a, b]'"
    return f"pass it as -p {name} VALUE"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
