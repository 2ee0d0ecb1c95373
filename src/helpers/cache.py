"""Tables cached on disk, keyed by everything that affects them (DESIGN §5).

A cached result is a folder ``<results>/<name>-<key>/`` holding one parquet file per table and the
key's parts in ``key.json`` (the key also covers the source of the module that computes the
tables and of the helpers modules it imports, so editing them invalidates what they computed); it is written in a temporary folder and renamed into place whole, so
an interrupted computation leaves nothing behind that a later run could mistake for a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

import helpers
from helpers import deps, provenance
from helpers.io import cache_dir

RESULTS_ENV = "NEURON_REPRO_RESULTS"


def results_root() -> Path:
    """``$NEURON_REPRO_RESULTS``, else ``<cache dir>/results``."""
    root = Path(os.environ[RESULTS_ENV]) if os.environ.get(RESULTS_ENV) else cache_dir() / "results"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_key(parts: dict[str, Any], module: str = "helpers.cache") -> str:
    """sha256 (16 hex digits) of the key parts, the helpers version and the source of ``module``
    and every helpers module it imports (:func:`helpers.deps.digest`)."""
    blob = json.dumps({**parts, "helpers_version": helpers.__version__, "code": deps.digest([module])},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_tables(name: str, parts: dict[str, Any], compute: Callable[[], dict[str, pd.DataFrame]],
                  *, enabled: bool = True) -> dict[str, pd.DataFrame]:
    """Return the tables ``compute()`` makes for ``parts``, from the cache when they are there."""
    if not enabled:
        return compute()
    folder = results_root() / f"{name}-{cache_key(parts, compute.__module__)}"
    cached = (folder / "key.json").exists()
    provenance.note("tables", name=name, key=parts, cached=cached)
    if cached:
        return _read(folder)
    tables = compute()
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for table_name, table in tables.items():
            table.to_parquet(tmp / f"{table_name}.parquet", index=False)
        attrs = {k: dict(t.attrs) for k, t in tables.items()}
        (tmp / "key.json").write_text(json.dumps({"parts": parts, "attrs": attrs}, indent=2, default=str))
        os.chmod(tmp, 0o755)
        os.replace(tmp, folder)
    except OSError:
        if not (folder / "key.json").exists():  # a concurrent writer may have won the rename
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _read(folder)  # what later calls will read, dtypes included


def _read(folder: Path) -> dict[str, pd.DataFrame]:
    tables = {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
    attrs = json.loads((folder / "key.json").read_text()).get("attrs", {})
    for table_name, table in tables.items():
        table.attrs.update(attrs.get(table_name, {}))
    return tables
