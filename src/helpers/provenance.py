"""What a notebook run used: models, data and cached tables, package versions, device.

Helpers note what they load while a notebook runs (:func:`note`); ``report.write_key_numbers``
stores :func:`snapshot` beside the key numbers, and the suite runner prints it at the top of the
page with the run's wall time.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import torch

import helpers
from helpers import twins

_NOTES: dict[str, list[dict[str, Any]]] = {"models": [], "corpora": [], "rows": [], "tables": []}
PACKAGES = ("torch", "transformer-lens", "transformers", "pandas", "papermill")


def note(kind: str, **entry: Any) -> None:
    """Record that this run used a model / data / cached table (``kind``), once per distinct entry."""
    if entry not in _NOTES.setdefault(kind, []):
        _NOTES[kind].append(entry)


def reset() -> None:
    for entries in _NOTES.values():
        entries.clear()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "helpers": helpers.__version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def device() -> str:
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def snapshot() -> dict[str, Any]:
    return {**{kind: list(entries) for kind, entries in _NOTES.items()}, "versions": versions(), "device": device()}


def markdown(prov: dict[str, Any], *, wall_s: float | None = None, executed: str | None = None) -> str:
    """One paragraph for the top of a page."""
    parts = []
    for m in prov.get("models", []):
        twin = twins.parse(m["name"])
        control = f"untrained control twin of `{twin[1]}`: every verdict should fail here; " if twin else ""
        parts.append(f"model `{m['name']}` ({control}weights fingerprint `{m['fingerprint']}`, {m['dtype']}, "
                     f"{m['device']})")
    for c in prov.get("corpora", []):
        parts.append(f"corpus `{c['corpus']}` ({c['documents']} documents)")
    for r in prov.get("rows", []):
        parts.append(f"rows {r['rows']} × {r['seq_len']} tokens ({r['rows'] * r['seq_len']:,} tokens)")
    for t in prov.get("tables", []):
        shown = ("corpus", "n_rows", "k", "seq_len", "n_seqs", "threshold")
        keys = ", ".join(f"{k} {v}" for k, v in t["key"].items() if k in shown)
        parts.append(f"table `{t['name']}` ({keys}{'; from the cache' if t['cached'] else ''})")
    v = prov.get("versions", {})
    parts.append(", ".join(f"{k} {v[k]}" for k in ("helpers", "torch", "transformer-lens", "transformers", "python") if k in v))
    parts.append(f"device {prov.get('device', '?')}")
    if executed or wall_s is not None:
        when = f"executed {executed}" if executed else "executed"
        parts.append(when + (f" in {duration(wall_s)}" if wall_s is not None else ""))
    return "**Provenance.** " + " · ".join(parts)


def duration(seconds: float) -> str:
    """``3 min 07 s``, or ``42 s`` under a minute."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
