"""Which helpers modules a notebook or a module depends on (run stamps and cache keys use it)."""

import json

from helpers import deps


def test_imports_of_every_form():
    source = "import helpers.voita\nfrom helpers import models, report\nfrom helpers.weights import x\nimport numpy\n"
    assert deps.imported_modules(source) == {"helpers", "helpers.voita", "helpers.models", "helpers.report",
                                             "helpers.weights"}


def test_closure_follows_imports_transitively():
    names = {p.stem for p in deps.closure(["helpers.voita"])}
    # voita imports activations and models; models imports tiny and assets; nothing imports the drawing code
    assert {"voita", "activations", "models", "tiny", "assets", "cache", "corpus", "__init__"} <= names
    assert not names & {"stolfo_plots", "voita_plots", "plot_style", "suite", "entropy"}
    assert "voita" not in {p.stem for p in deps.closure(["helpers.entropy"])}


def test_notebook_modules_skip_magics(tmp_path):
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["from helpers import suite"]},
        {"cell_type": "code", "source": ["%matplotlib inline\n", "from helpers import voita_plots\n"]},
    ]}))
    assert deps.notebook_modules(nb) == {"helpers", "helpers.voita_plots"}


def test_digest_changes_with_a_dependency_only(tmp_path, monkeypatch):
    package = tmp_path / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text("__version__ = '0'\n")
    (package / "a.py").write_text("from helpers import b\n")
    (package / "b.py").write_text("X = 1\n")
    (package / "c.py").write_text("Y = 1\n")
    monkeypatch.setattr(deps, "PACKAGE", package)
    before = deps.digest(["helpers.a"])
    (package / "c.py").write_text("Y = 2\n")
    assert deps.digest(["helpers.a"]) == before
    (package / "b.py").write_text("X = 2\n")
    assert deps.digest(["helpers.a"]) != before


# The package's layers, lowest first: a module imports modules of its own layer or below, never above.
LAYERS = [
    {"__init__", "errors", "io", "deps", "twins", "tiny", "paper", "stats", "plot_style", "interactive",
     "kernel_errors", "provenance", "params", "profiles", "report", "cache", "assets"},  # foundations
    {"corpus", "models", "weights", "activations", "vocab_kernel"},  # models and data
    {"ablation", "unigram", "entropy", "induction", "voita"},  # each paper's science
    {"stolfo_numbers", "induction_numbers", "voita_numbers", "rules", "scorecard",
     "stolfo_plots", "voita_plots"},  # numbers, verdicts, figures
    {"pages", "stolfo_pages", "induction_pages", "voita_pages", "scorecard_page"},  # pages
    {"runner"},  # the runner
    {"__main__"},
]


def _import_graph() -> dict[str, set[str]]:
    """module -> the helpers modules it imports (lazy imports included), names relative to helpers."""
    graph = {}
    for path in sorted(deps.PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(deps.PACKAGE).with_suffix("").parts)
        graph[name] = {m.removeprefix("helpers.") for m in deps.imported_modules(path.read_text()) if m != "helpers"}
    return graph


def test_the_import_graph_has_no_cycle_and_no_upward_import() -> None:
    graph = _import_graph()
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    placed = {name: layer[name.split(".")[0]] for name in graph if name.split(".")[0] in layer}
    assert set(placed) == set(graph), f"modules in no layer: {sorted(set(graph) - set(placed))}"
    upward = [f"{a} -> {b}" for a, targets in graph.items() for b in targets if placed[b] > placed[a]]
    assert not upward, f"imports of a higher layer: {upward}"
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 1:
            raise AssertionError(f"import cycle: {' -> '.join(path[path.index(name):] + [name])}")
        if state.get(name) == 2:
            return
        state[name] = 1
        for target in sorted(graph[name]):
            visit(target, path + [name])
        state[name] = 2

    for name in graph:
        visit(name, [])
