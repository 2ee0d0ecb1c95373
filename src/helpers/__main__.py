"""Run the reproduction suite: execute the figure notebooks, build the book, fetch assets.

Exit status: 0 on success, 1 if a notebook failed, 2 for bad input or environment (a SuiteError).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from helpers.errors import SuiteError


def _parser() -> argparse.ArgumentParser:
    from helpers.suite import DEFAULT_MODELS, PROFILES

    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0],
                                     epilog=__doc__.splitlines()[2])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="execute the figure notebooks with papermill, then build the book",
        description="Execute notebooks/<N>.ipynb for each model into <book-dir>/runs/<model>/<N>.ipynb "
        "(runs whose inputs are unchanged are skipped), then write and build the book.",
    )
    run.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="MODEL",
                     help=f"models to run (default: {' '.join(DEFAULT_MODELS)})")
    run.add_argument("--notebooks", nargs="+", default=["all"], metavar="NAME",
                     help="notebook names without .ipynb, or 'all' (default)")
    run.add_argument("--profile", choices=list(PROFILES), default="quick",
                     help="parameter set: quick (CI, minutes) or paper (the papers' sizes)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter for every notebook that declares it; VALUE is "
                     "a Python literal, else a string (-p device cuda, -p n_rows 200, -p layers '[10, 11]')")
    run.add_argument("--book-dir", type=Path, default=Path("book"))
    run.add_argument("--notebook-dir", type=Path, default=Path("notebooks"))
    run.add_argument("--force", action="store_true", help="rerun even if the inputs are unchanged")
    run.add_argument("--strict", action="store_true", help="fail the book build on Sphinx warnings")

    book = sub.add_parser("book", help="rebuild the book from the runs already executed")
    book.add_argument("--book-dir", type=Path, default=Path("book"))
    book.add_argument("--strict", action="store_true", help="fail the build on Sphinx warnings")

    fetch = sub.add_parser("fetch", help="download and verify registry assets into the cache")
    fetch.add_argument("names", nargs="+", metavar="NAME")

    sub.add_parser("models", help="list the known model names")
    return parser


def _list_models() -> None:
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
    from helpers import suite

    try:
        if args.command == "run":
            overrides = {name: suite.parse_value(value) for name, value in args.parameter}
            index = suite.run_suite(args.models, args.notebooks, args.profile, args.book_dir,
                                    args.notebook_dir, force=args.force, strict=args.strict,
                                    overrides=overrides)
            print(index)
        elif args.command == "book":
            suite.write_book_sources(args.book_dir)
            print(suite.build_book(args.book_dir, strict=args.strict))
        elif args.command == "fetch":
            from helpers import assets

            for name in args.names:
                print(assets.fetch(name))
        elif args.command == "models":
            _list_models()
    except suite.NotebookFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
