"""The time report: each page's time, each model's and the slowest pages, read from the stamps."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Collection, Iterator, Sequence

from tqdm import tqdm

from helpers.provenance import duration


def timing_report(pages: Sequence[tuple[Path, dict[str, Any] | None]], executed: Collection[Path] = ()) -> str:
    """The time of each page, of each model and the five slowest pages, from the stamps.

    ``pages``: (the page's notebook path; its stamp or ``None``). ``*``: in ``executed`` (run now).
    """
    rows = []
    for page, stamp in pages:
        if stamp is None or not isinstance(stamp.get("seconds"), (int, float)):
            continue
        rows.append((stamp.get("model") or "all models", page.stem, float(stamp["seconds"]), page in executed))
    if not rows:
        return "No page has a stamp yet: no times to report."
    width = max(len(name) for _, name, _, _ in rows)
    lines = ["Time per page (from the stamps; * executed in this run):"]
    models = list(dict.fromkeys(model for model, *_ in rows))
    for model in models:
        lines.append(f"  {model}")
        lines += [f"    {name:<{width}} {seconds:8.1f} s{' *' if now else ''}"
                  for m, name, seconds, now in rows if m == model]
    counts = {model: sum(1 for m, *_ in rows if m == model) for model in models}
    totals = [f"{model} {duration(sum(s for m, _, s, _ in rows if m == model))} "
              f"({counts[model]} page{'s' if counts[model] != 1 else ''})" for model in models]
    lines.append("Time per model: " + " · ".join(totals)
                 + f" · total {duration(sum(s for _, _, s, _ in rows))}")
    slowest = sorted(rows, key=lambda row: -row[2])[:5]
    lines.append("Slowest pages: " + ", ".join(f"{name} ({model}) {duration(s)}" for model, name, s, _ in slowest))
    return "\n".join(lines)


@contextlib.contextmanager
def ticker(bar: tqdm, where: str) -> Iterator[None]:
    """Show the running page and its elapsed time on the bar, refreshed every second (on a
    terminal only: a log file gets the one line per page)."""
    bar.set_postfix_str(where)
    if bar.disable or not getattr(getattr(bar, "fp", None), "isatty", lambda: False)():
        yield
        return
    stop = threading.Event()
    start = time.monotonic()

    def tick() -> None:
        while not stop.wait(1.0):
            bar.set_postfix_str(f"{where} {duration(time.monotonic() - start)}")

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
