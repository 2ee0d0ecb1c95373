"""Run the reproduction suite: execute the figure notebooks, build the book, fetch assets.

Exit status: 0 on success; 1 if a computation failed (a notebook raised an error that is not a
user's mistake, or `book` left pages out); 2 for bad input or environment (a wrong parameter,
model, corpus, path or cache folder: the message names the fix); 130 / 143 when stopped by
Ctrl-C / SIGTERM (the page that was running keeps its previous version).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

from helpers.errors import BookIncomplete, Interrupted, NotebookFailed, SuiteError


def _parser() -> argparse.ArgumentParser:
    from helpers.profiles import PROFILES
    from helpers.runner.plan import DEFAULT_MODELS

    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0],
                                     epilog=" ".join(__doc__.split("\n\n")[1].split()))
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="execute the figure notebooks with papermill, then build the book",
        description="Execute notebooks/<N>.ipynb for each model into <book-dir>/runs/<model>/<N>.ipynb "
        "(runs whose inputs are unchanged are skipped), then write and build the book.",
    )
    run.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="MODEL",
                     help=f"models to run (default: {' '.join(DEFAULT_MODELS)})")
    run.add_argument("--controls", choices=["default", "none", "all"], default="default",
                     help="untrained control twins run beside the models (python -m helpers models): default adds "
                     "null-init:<first model>, none adds nothing, all adds null-init: and null-shuffled: of every "
                     "model (default: default). Their chapters follow the models'; the cross-model pages compare "
                     "them too")
    run.add_argument("--notebooks", nargs="+", default=["all"], metavar="NAME",
                     help="notebook names without .ipynb, or 'all' (default)")
    run.add_argument("--profile", choices=list(PROFILES), default="quick",
                     help="parameter set: quick (CI, minutes) or paper (the papers' sizes)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter for every notebook that declares it; VALUE is "
                     "a Python literal, else a string (-p device cuda, -p n_rows 200, -p layers '[10, 11]')")
    run.add_argument("--device", metavar="DEVICE",
                     help="cpu, cuda, cuda:N or auto: the device parameter of every notebook that declares one "
                     "(default: each notebook's own); checked at once")
    run.add_argument("--book-dir", type=Path, default=Path("book"))
    run.add_argument("--notebook-dir", type=Path, default=Path("notebooks"))
    run.add_argument("--force", action="store_true", help="rerun even if the inputs are unchanged")
    run.add_argument("--jobs", type=_positive, default=2, metavar="N",
                     help="pages that execute at once (default 2); each chapter's Stolfo et al. and Voita et al. "
                     "pages are two lanes, and a free worker takes the next lane")
    run.add_argument("--strict", action="store_true", help="fail the book build on Sphinx warnings")

    book = sub.add_parser("book", help="rebuild the book from the runs already executed",
                          description="Build the book from the complete pages under <book-dir>/runs; list the "
                          "pages that are missing, failed or damaged and exit 1 if there are any.")
    book.add_argument("--book-dir", type=Path, default=Path("book"))
    book.add_argument("--notebook-dir", type=Path, default=Path("notebooks"),
                      help="the notebooks every chapter should have a page of (default: notebooks)")
    book.add_argument("--strict", action="store_true", help="fail the build on Sphinx warnings")

    fetch = sub.add_parser("fetch", help="download and verify registry assets into the cache")
    fetch.add_argument("names", nargs="+", metavar="NAME")

    sub.add_parser("models", help="list the known model names")
    return parser


def _positive(text: str) -> int:
    """argparse type: an integer >= 1 (``--jobs 0`` would otherwise quietly mean one at a time)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (1: one page at a time), got {text!r}")
    return value


def _list_models() -> None:
    models: ModuleType | None
    try:
        import helpers.models as models
    except ModuleNotFoundError as exc:
        if exc.name != "helpers.models":
            raise
        models = None
    list_models = getattr(models, "list_models", None)
    if list_models is None:
        raise SuiteError("this version of helpers cannot list models yet (no helpers.models.list_models)")
    result = list_models()
    for item in result if isinstance(result, (list, tuple)) else [result]:
        print(item)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from helpers.runner import book, plan, suite

    try:
        if args.command == "run":
            overrides = {name: plan.parse_value(value) for name, value in args.parameter}
            index = suite.run_suite(args.models, args.notebooks, args.profile, args.book_dir,
                                    args.notebook_dir, force=args.force, strict=args.strict,
                                    overrides=overrides, device=args.device, jobs=args.jobs,
                                    controls=args.controls)
            print(index)
        elif args.command == "book":
            print(book.build(args.book_dir, args.notebook_dir, strict=args.strict))
        elif args.command == "fetch":
            from helpers import assets

            for name in args.names:
                print(assets.fetch(name))
        elif args.command == "models":
            _list_models()
    except Interrupted as exc:
        running = exc.detail or "no page was running, and every page is as it was"
        print(f"\ninterrupted by {exc}: stopped; {running}. Pages finished before are kept.", file=sys.stderr)
        return 128 + exc.signum
    except NotebookFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if exc.bad_input else 1
    except BookIncomplete as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the runner's own files: a read-only or full disk, a vanished folder
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; check that the folder is writable and the disk is not full",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
