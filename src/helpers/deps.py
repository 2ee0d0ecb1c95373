"""Which helpers modules a notebook or a module depends on, read from its imports (never run).

The suite's run stamps and the results cache hash only these modules, so that editing one
module re-executes the pages and recomputes the tables that import it, and nothing else.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Iterable

import helpers

PACKAGE = Path(helpers.__file__).parent


def _module_file(name: str) -> Path | None:
    """``helpers.x`` -> src/helpers/x.py (None if that is not a module of the package)."""
    parts = name.split(".")
    if parts[0] != "helpers":
        return None
    path = PACKAGE.joinpath(*parts[1:]).with_suffix(".py") if len(parts) > 1 else PACKAGE / "__init__.py"
    return path if path.is_file() else None


def imported_modules(source: str) -> set[str]:
    """Names of the helpers modules that ``source`` imports (``import helpers.x``,
    ``from helpers import x``, ``from helpers.x import y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "helpers":
                found |= {f"helpers.{alias.name}" for alias in node.names if _module_file(f"helpers.{alias.name}")}
                found.add("helpers")
            elif node.module.split(".")[0] == "helpers":
                found.add(node.module)
    return {name for name in found if _module_file(name)}


def closure(modules: Iterable[str]) -> list[Path]:
    """The files of ``modules`` and of every helpers module they import, transitively (sorted);
    the package's ``__init__`` (its version) always included."""
    todo = list(modules) + ["helpers"]
    seen: dict[str, Path] = {}  # module name -> its file
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo += imported_modules(path.read_text())
    return sorted(seen.values())


def notebook_modules(notebook: Path) -> set[str]:
    """The helpers modules a notebook's code cells import (IPython magics skipped)."""
    cells = json.loads(notebook.read_text())["cells"]
    found: set[str] = set()
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
        try:
            found |= imported_modules(code)
        except SyntaxError:
            continue
    return found


def digest(modules: Iterable[str]) -> str:
    """sha256 (16 hex digits) over the files of ``closure(modules)``: names and contents."""
    h = hashlib.sha256()
    for path in closure(modules):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
