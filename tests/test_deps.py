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
