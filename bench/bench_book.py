"""Wall time of a built book: each page, each model, and the five slowest pages, from the stamps.

    python bench/bench_book.py [--book-dir book]

The runner prints the same report at the end of `make book`; this reads it back from an existing
book (every complete page under <book-dir>/runs), e.g. to update README's table of wall times.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.runner.book import book_timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book-dir", type=Path, default=Path("book"))
    args = parser.parse_args()
    if not (args.book_dir / "runs").is_dir():
        print(f"error: {args.book_dir / 'runs'} does not exist; run `make book` first", file=sys.stderr)
        return 2
    print(book_timings(args.book_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
