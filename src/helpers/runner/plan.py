"""Which runs there are: the notebooks x the models, each with its parameters and its folder."""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import nbformat

from helpers import twins
from helpers.errors import NotebookError, ParameterError
from helpers.profiles import PROFILES, sizes

DEFAULT_MODELS = ("smollm2-135m", "gemma-3-270m")  # the offline default: both registry models
CROSS = "_cross"  # chapter directory of the cross-model notebooks
CHAPTER_FILE = "chapter.json"  # in each chapter directory: the model it holds
RESERVED = ("model", "models", "results_dir")  # parameters the runner sets, never the user's -p


@dataclass(frozen=True)
class Run:
    """One papermill execution: ``notebook`` for ``model`` (``None``: cross-model)."""

    notebook: Path
    model: str | None
    output: Path
    parameters: dict[str, Any] = field(hash=False)
    profile: str = "quick"
    defaults: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.notebook.stem

    @property
    def label(self) -> str:
        return f"notebook {self.name!r} for {'all models' if self.model is None else repr(self.model)}"

    @property
    def stamp(self) -> Path:
        return self.output.with_name(f"{self.name}.stamp.json")

    @property
    def failed(self) -> Path:
        return self.output.with_name(f"{self.name}.failed.ipynb")

    @property
    def results_dir(self) -> Path:
        return self.output.with_name(f"{self.name}_files")

    @property
    def models(self) -> list[str]:
        """The models this run loads."""
        return list(self.parameters.get("models", [])) if self.model is None else [self.model]


def natural_key(path: Path) -> list:
    """Sort key that puts fig2 before fig10: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def find_notebooks(notebook_dir: Path) -> dict[str, Path]:
    """All ``*.ipynb`` in ``notebook_dir`` by name (stem), sorted."""
    if not notebook_dir.is_dir():
        raise NotebookError(
            f"notebook directory {str(notebook_dir)!r} not found (looked in {notebook_dir.resolve()}); "
            "run from the repository root or pass --notebook-dir"
        )
    found = {p.stem: p for p in sorted(notebook_dir.glob("*.ipynb"), key=natural_key) if not p.name.startswith(".")}
    if not found:
        raise NotebookError(f"no notebooks (*.ipynb) in {notebook_dir.resolve()}; pass --notebook-dir")
    return found


def _read(notebook: Path) -> Any:
    try:
        return nbformat.read(notebook, as_version=4)
    except Exception as exc:  # invalid JSON or notebook format
        raise NotebookError(f"cannot read notebook {notebook}: {exc}; is it a valid .ipynb?") from exc


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Names assigned in the notebook's cell tagged ``parameters``, with their literal defaults.

    A default that is not a Python literal (``device = pick_device()``) maps to ``...``.
    """
    cells = [c for c in _read(notebook).cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise NotebookError(
            f"notebook {notebook} has no cell tagged 'parameters'; add the tag to its first code "
            "cell (JupyterLab: property inspector > Cell tags), as papermill requires"
        )
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as exc:
        raise NotebookError(f"the parameters cell of {notebook} is not valid Python: {exc}") from exc
    declared: dict[str, Any] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        value = getattr(node, "value", None)
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    declared[target.id] = ast.literal_eval(value) if value is not None else None
                except (ValueError, TypeError, SyntaxError):
                    declared[target.id] = ...
    return declared


def page_family(notebook: Path) -> str:
    """Which cached passes a page reads, from its setup call (``pages.VoitaPage.setup(...)``, read
    with ``ast``, never run): ``"voita"`` for a Voita et al. page (the activation counts), ``"stolfo"``
    for every other (the mean-ablation sweep and the induction passes). Pages of two families share
    no cached pass, so one model's two families can run at once without computing anything twice."""
    for cell in _read(notebook).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setup"):
                continue
            owner = node.func.value  # pages.VoitaPage or VoitaPage
            page_class = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if page_class.endswith("Page"):  # another object's setup() says nothing of the family
                return "voita" if page_class == "VoitaPage" else "stolfo"
    return "stolfo"


def plan_runs(
    notebook_dir: Path,
    book_dir: Path,
    models: Sequence[str],
    notebooks: Sequence[str] = ("all",),
    profile: str = "quick",
    overrides: dict[str, Any] | None = None,
    device: str | None = None,
    controls: str = "none",
) -> list[Run]:
    """The runs for ``models`` x ``notebooks``, with the parameters each notebook declares.

    ``overrides`` (the CLI's ``-p NAME VALUE``) beat the profile's values; ``device`` (``--device``)
    sets the ``device`` parameter of every notebook that declares one. ``controls`` (``--controls``)
    adds null twins (:func:`helpers.twins.with_controls`): their chapters follow the trained models'
    and the cross-model pages compare them too.
    """
    overrides = overrides or {}
    models = _checked_models(models, profile, overrides, device, controls)
    known = find_notebooks(notebook_dir)
    names = list(known) if list(notebooks) == ["all"] else [n.removesuffix(".ipynb") for n in notebooks]
    if unknown := [n for n in names if n not in known]:
        raise NotebookError(
            f"unknown notebook(s) {', '.join(unknown)} in {notebook_dir.resolve()}; "
            f"known: {', '.join(known)} (or 'all')"
        )
    runs_dir = book_dir.resolve() / "runs"
    runs: list[Run] = []
    for name in dict.fromkeys(names):
        declared = declared_parameters(known[name])
        if "models" in declared and len(models) == 1 and list(notebooks) == ["all"]:
            continue  # "Across models" needs two models (name the page to run it for one)
        for model, given in _targets(name, known[name], declared, models, profile, overrides):
            output = runs_dir / (CROSS if model is None else chapter_name(model)) / f"{name}.ipynb"
            extra = {**given, **overrides, **({"device": device} if device is not None else {})}
            candidates = {"results_dir": str(output.with_name(f"{name}_files")), **extra}
            params = {k: v for k, v in candidates.items() if k in declared}
            runs.append(Run(known[name].resolve(), model, output, params, profile, declared))
    if unused := sorted(set(overrides) - {k for run in runs for k in run.parameters}):
        raise ParameterError(
            f"no selected notebook declares parameter(s) {', '.join(unused)}; "
            "check the spelling against the notebooks' parameters cells"
        )
    return runs


def _checked_models(models: Sequence[str], profile: str, overrides: dict[str, Any], device: str | None,
                    controls: str) -> list[str]:
    """``models`` with their control twins, after checking the run's options (:class:`ParameterError`)."""
    if reserved := sorted(set(overrides) & set(RESERVED)):
        raise ParameterError(f"set {', '.join(reserved)} with --models / --book-dir, not -p")
    if device is not None and "device" in overrides:
        raise ParameterError("the device is given twice (--device and -p device); pass it once, as --device")
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if not models:
        raise ParameterError("no models given; pass e.g. --models smollm2-135m gemma-3-270m")
    if controls not in twins.CONTROLS:
        raise ParameterError(f"unknown controls {controls!r}; choose one of {', '.join(twins.CONTROLS)}")
    for model in models:
        if not isinstance(model, str) or not model.strip():
            raise ParameterError(f"model names must be non-empty strings, got {model!r}; see `python -m helpers models`")
    models = twins.with_controls(models, controls)
    identities: dict[str, str] = {}
    for model in models:
        if (same := identities.get(model_identity(model))) is not None:
            raise ParameterError(f"models {same!r} and {model!r} are the same model ({model_identity(model)}); "
                                 "pass it once")
        identities[model_identity(model)] = model
    return list(models)


def _targets(name: str, notebook: Path, declared: dict[str, Any], models: list[str], profile: str,
             overrides: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(model, or ``None`` for one run over all models; the profile's values) of each run of a notebook."""
    if "models" in declared:
        # one run for all models; each model's own sizes (profile entries "model:<name>") ride along
        per_model = {m: {k: v for k, v in sizes(profile, name, m).items() if k in declared and k not in overrides}
                     for m in models}
        return [(None, {"models": list(models), "model_sizes": per_model, **sizes(profile, name)})]
    if "model" in declared:
        return [(m, {"model": m, **sizes(profile, name, m)}) for m in models]
    raise NotebookError(
        f"the parameters cell of {notebook} declares neither 'model' nor 'models'; "
        "declare model = \"...\" (one model per run) or models = [...] (cross-model)"
    )


def parse_value(text: str) -> Any:
    """A command-line parameter value: a Python literal (``200``, ``[10, 11]``, ``None``), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def model_identity(model: str) -> str:
    """What a model name means, for telling models apart: the resolved path of a local model
    (``./m.gguf`` and ``/abs/m.gguf`` are one model; their twins likewise), else the name itself."""
    if (twin := twins.parse(model)) is not None:
        return f"{twin[0]}:{model_identity(twin[1])}"
    try:
        path = Path(model).expanduser()
        if path.exists():
            return str(path.resolve())
    except (OSError, ValueError):
        pass
    return model


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def chapter_name(model: str) -> str:
    """The chapter folder of ``model``, unique per model identity.

    A plain name (``smollm2-135m``) is its own folder; anything else (Hub ids, paths, non-ASCII)
    gets a readable slug plus 8 hex digits of the sha256 of its identity, so that two models never
    share a folder (``/m/modèl`` and ``/m/modél`` differ). A null twin's folder is its kind, ``--``
    and its base's folder (``null-init--smollm2-135m``): unique as its base's is, and no known
    model's name has that form.
    """
    if (twin := twins.parse(model)) is not None:
        return f"{twin[0]}--{chapter_name(twin[1])}"
    identity = model_identity(model)
    local = os.path.isabs(identity) and os.path.exists(identity)
    if not local and _PLAIN_NAME.fullmatch(model):
        return model
    readable = Path(identity).name if local else model  # a local model: its file or folder name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", readable).strip("._-")[-60:].strip("._-") or "model"
    return f"{slug}-{hashlib.sha256(identity.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"
