"""The book: its generated sources (front page, scorecard, chapter indexes, table of contents) and
the ``jupyter-book`` build, which never re-executes a notebook.

The chapters are read from the pages under ``runs/`` whose files match their stamps; a page that
failed, is damaged or is missing is left out and listed (:func:`book_problems`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import nbformat
import yaml

from helpers import scorecard, scorecard_page, twins
from helpers.errors import BookBuildError, BookIncomplete, NotebookError, SuiteError
from helpers.io import atomic_path, read_json
from helpers.report import KEY_NUMBERS_FILE
from helpers.runner.checks import check_book_config
from helpers.runner.page import ANSI, use_this_python, verdicts_file
from helpers.runner.plan import CHAPTER_FILE, CROSS, declared_parameters, find_notebooks, natural_key
from helpers.runner.session import Session, signals_deferred
from helpers.runner.stamps import page_problem
from helpers.runner.timing import timing_report

METHODS = ("methods_stolfo", "methods_voita")  # static Methods pages of the book, when present

CAVEAT = ("A figure made with a model that is not one of the papers' shows whether the effect appears in that "
          "model, not a replication of the papers' numbers, which differ.")

BOOK_TITLE = "Confidence-regulation and dead/n-gram/positional neurons: a reproduction"


@dataclass
class BookPage:
    """An executed notebook with a valid stamp: one page of the book (not :class:`helpers.pages.Page`,
    the object a notebook sets up)."""

    path: Path
    title: str
    stamp: dict[str, Any]


@dataclass
class Chapter:
    """One directory of ``runs/``: a model, or the cross-model notebooks."""

    directory: Path
    title: str
    pages: list[BookPage]


def first_heading(notebook: Path) -> str | None:
    """The text of the first markdown heading in ``notebook``."""
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception:  # noqa: BLE001 - an unreadable notebook has no title
        return None
    for cell in cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if match:
                    return match.group(1)
    return None


def collect_chapters(book_dir: Path) -> list[Chapter]:
    """The chapters of the book: every complete page under ``runs/`` (its files match its stamp)."""
    runs_dir = book_dir / "runs"
    dirs = sorted(d for d in runs_dir.glob("*") if d.is_dir() and d.name != CROSS and not d.name.startswith("."))
    dirs += [runs_dir / CROSS] if (runs_dir / CROSS).is_dir() else []
    chapters: list[Chapter] = []
    for directory in dirs:
        pages = []
        for nb in sorted(directory.glob("*.ipynb"), key=natural_key):
            if nb.name.startswith(".") or nb.name.endswith(".failed.ipynb"):
                continue
            stamp, _ = page_problem(nb)
            if stamp is not None:
                pages.append(BookPage(nb, first_heading(nb) or nb.stem, stamp))
        if pages:
            record = read_json(directory / CHAPTER_FILE)
            model = (record.get("model") if isinstance(record, dict) else None) or pages[0].stamp.get("model")
            title = "Across models" if directory.name == CROSS else (model or directory.name)
            chapters.append(Chapter(directory, title, pages))
    # the trained models, then their null twins, then the cross-model pages (stable: by folder within each)
    return sorted(chapters, key=lambda ch: (ch.directory.name == CROSS, twins.is_twin(ch.title)))


def book_problems(book_dir: Path, notebook_dir: Path | None = None) -> list[str]:
    """One line per page that is not in the book as it should be: failed (its last run failed; the
    previous version, if any, is shown), damaged (its files do not match its stamp) or missing (a
    notebook of ``notebook_dir`` with no page for a model that has a chapter)."""
    runs_dir = book_dir / "runs"
    expected: dict[str, list[str]] = {"model": [], "models": []}
    if notebook_dir is not None and notebook_dir.is_dir():
        for name, path in find_notebooks(notebook_dir).items():
            with contextlib.suppress(NotebookError):
                declared = declared_parameters(path)
                expected["models" if "models" in declared else "model"].append(name)
    problems = []
    directories = sorted(d for d in runs_dir.glob("*") if d.is_dir() and not d.name.startswith("."))
    n_models = sum(d.name != CROSS for d in directories)
    if n_models < 2:
        expected["models"] = []  # a book of one model has no "Across models" chapter
    if expected["models"] and directories and runs_dir / CROSS not in directories:
        directories.append(runs_dir / CROSS)  # the cross-model pages were never run
    for directory in directories:
        record = read_json(directory / CHAPTER_FILE)
        model = (record.get("model") if isinstance(record, dict) else None) or directory.name
        label = "all models" if directory.name == CROSS else repr(model)
        names = {p.name[: -len(".stamp.json")] for p in directory.glob("*.stamp.json")}
        names |= {p.stem for p in directory.glob("*.ipynb") if not p.name.startswith(".")}
        names = {n.removesuffix(".failed") for n in names}
        for name in sorted(names | set(expected["models" if directory.name == CROSS else "model"]),
                           key=lambda n: natural_key(Path(n))):
            output = directory / f"{name}.ipynb"
            stamp, problem = page_problem(output)
            failed = output.with_name(f"{name}.failed.ipynb")
            if failed.exists():
                shown = "its previous version is shown" if stamp is not None else "it has no page"
                problems.append(f"failed   {name} for {label}: its last run failed ({failed}); {shown}")
            elif problem is not None:
                problems.append(f"damaged  {name} for {label}: {problem}; left out of the book until it is rerun")
            elif stamp is None:
                problems.append(f"missing  {name} for {label}: never run")
    return problems


def model_note(model: str) -> str:
    """What a reader must know about ``model`` before comparing its numbers with the papers'."""
    from helpers.models import KNOWN_MODELS, resolve  # lazy: importing torch is slow for `--help`

    spec = KNOWN_MODELS.get(model)
    if spec is None and twins.is_twin(model):
        with contextlib.suppress(SuiteError):  # a twin of an unknown model has no note
            spec = resolve(model)
    if spec is None or not spec.caveats:
        return ""
    return f"{spec.description}. Caveats: {'; '.join(spec.caveats)}."


def caveat(models: Iterable[str]) -> str:
    """The front page's warning: the caveats of the book's models (:func:`model_note`) and what they
    mean for the numbers; empty when every model is one of the papers' own."""
    notes = [f"- `{model}`: {note}" for model in models if (note := model_note(model))]
    return "\n".join(notes + ["", CAVEAT]) if notes else ""


def write_book_sources(book_dir: Path, claims: list[scorecard.Claim] | None = None) -> Path:
    """Write (atomically) ``intro.md``, ``scorecard.md`` (``claims``, default the papers'), one
    ``index.md`` per chapter, each page's verdicts (:func:`page_verdicts`) and ``_toc.yml``; return the toc."""
    chapters = collect_chapters(book_dir)
    if not chapters:
        raise BookBuildError(
            f"no executed notebooks under {(book_dir / 'runs').resolve()}; "
            "run `python -m helpers run` first"
        )
    claims = scorecard.CLAIMS if claims is None else claims
    for chapter in chapters:
        _write_text(chapter.directory / "index.md", _chapter_index(chapter))
        for page in chapter.pages:
            _write_text(verdicts_file(page.path), page_verdicts(page, claims))
    models = {ch.title: ch.directory for ch in chapters if ch.directory.name != CROSS}
    cross = book_dir / "runs" / CROSS
    _write_text(book_dir / "scorecard.md", scorecard_page.markdown(models, claims, book_dir, cross))
    rows = scorecard.judged(claims, scorecard.results(models, cross, claims))
    _write_text(book_dir / "intro.md", _intro(book_dir, chapters, rows))
    parts = [
        {
            "caption": caption,
            "chapters": [
                {
                    "file": _doc(book_dir, ch.directory / "index"),
                    "sections": [{"file": _doc(book_dir, p.path.with_suffix(""))} for p in ch.pages],
                }
                for ch in chapters
                if (ch.directory.name == CROSS) == cross
            ],
        }
        for caption, cross in (("Models", False), ("Across models", True))
    ]
    summary = {"caption": "Summary", "chapters": [{"file": "scorecard"}]}
    methods = {"caption": "Methods", "chapters": [{"file": name} for name in METHODS if (book_dir / f"{name}.md").exists()]}
    toc = {"format": "jb-book", "root": "intro",
           "parts": [summary, *([methods] if methods["chapters"] else []), *[p for p in parts if p["chapters"]]]}
    return _write_text(book_dir / "_toc.yml", yaml.safe_dump(toc, sort_keys=False))


def page_verdicts(page: BookPage, claims: list[scorecard.Claim]) -> str:
    """Markdown: what the page's key numbers say of each claim it measures, for its model (or, on a
    cross-model page, each of its models); empty for a page that measures no claim."""
    numbers = read_json(page.path.with_name(f"{page.path.stem}_files") / KEY_NUMBERS_FILE)
    numbers = numbers.get("numbers", {}) if isinstance(numbers, dict) else {}
    models = page.stamp.get("model") or page.stamp.get("parameters", {}).get("models", [])
    return scorecard.page_verdicts(page.path.stem, numbers, models, claims=claims) + "\n"


def _doc(book_dir: Path, path: Path) -> str:
    return path.relative_to(book_dir).as_posix()


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


_IMPLIED = ("model", "models", "results_dir")  # parameters the chapter index need not repeat


def _chapter_index(chapter: Chapter) -> str:
    lines = [f"# {chapter.title}", ""]
    if chapter.directory.name == CROSS:
        lines += ["Notebooks that compare all models of this book.", ""]
    else:
        if (twin := twins.parse(chapter.title)) is not None:
            lines[0] += " (untrained control)"
            lines += [f"The same figures on `{chapter.title}`, the untrained control twin of `{twin[1]}`: every "
                      "verdict should fail here; a claim that passes here does not discriminate.", ""]
        else:
            lines += [f"The figures reproduced on `{chapter.title}`.", ""]
        if note := model_note(chapter.title):
            lines += [":::{note}", note, ":::", ""]
    for page in chapter.pages:
        stamp = page.stamp
        shown = [f"`{k}={v!r}`" for k, v in stamp.get("parameters", {}).items() if k not in _IMPLIED]
        settings = ", ".join([f"profile `{stamp.get('profile')}`", *shown])
        lines.append(f"- [{page.title}]({page.path.name}): {settings}; ran in {stamp.get('seconds')} s")
    return "\n".join(lines) + "\n"


def _intro(book_dir: Path, chapters: list[Chapter], rows: list[scorecard.Row]) -> str:
    """The front page: what the book is, what reproduced on each model, how to read a page."""
    listing = [f"- [{ch.title}]({_doc(book_dir, ch.directory / 'index.md')}): {len(ch.pages)} "
               f"page{'s' if len(ch.pages) != 1 else ''}" for ch in chapters]
    models = list(rows[0].results) if rows else []
    verdicts = [scorecard_page.summary_table(rows), ""] if rows else []
    for model in (m for m in models if not twins.is_twin(m)):
        named = [f"{{ref}}`{r.claim.id} <{scorecard_page.anchor(r.claim)}>`" for r in rows
                 if scorecard.bucket(r, model) == scorecard.REPRODUCED]
        verdicts.append(f"- Reproduced on `{model}`: " + (", ".join(named) or "none") + ".")
    verdicts += [*scorecard_page.passing_lines(rows), ""]
    has_methods = all((book_dir / f"{name}.md").exists() for name in METHODS)
    rules = "Methods: {ref}`stolfo-intervals`" if has_methods else "the Methods pages"
    methods = ("on the Methods pages ([Stolfo et al.](methods_stolfo.md), [Voita et al.](methods_voita.md))"
               if has_methods else "on the Methods pages")
    return "\n".join([
        f"# {BOOK_TITLE}", "",
        "This book re-runs, on the models listed below, the figures of two interpretability papers:", "",
        "- Stolfo et al. 2024, *Confidence Regulation Neurons in Language Models*: **entropy neurons**, which "
        "regulate the model's confidence through the final norm's scale by writing into the unembedding's null "
        "space, **token-frequency neurons**, which pull the output towards the unigram distribution, and an "
        "induction case study;",
        "- Voita et al. 2023, *Neurons in Large Language Models: Dead, N-gram, Positional*: **dead neurons**, "
        "**token and n-gram detectors**, and **positional neurons**.", "",
        *([":::{warning}", warning, ":::", ""] if (warning := caveat(models)) else []),
        "## What reproduced", "",
        "Each claim of the papers that a page measures has a verdict on each model, by a rule stated in the "
        f"[scorecard](scorecard.md) from the value and its 95 % interval ({rules}). Null twins (untrained copies "
        "of a model) are the controls: a claim whose rule passes on a twin counts at most as partly, and claims "
        "that restate a selection rule (circular) are not counted.", "",
        *verdicts,
        "## How to read a page", "",
        "Each page is one figure: it opens with the claim in the paper's words, how it is measured here and what "
        "to look for; then the figure and its caption; then the key numbers with their 95 % intervals and, under "
        "*What this model shows*, the verdict on each of the page's claims. The paragraph under the title says "
        "what the page ran on (model, data, cached tables, versions, time). The code that draws each figure is "
        f"behind *show code*; definitions, formulas, sizes and every departure from the papers are {methods}. "
        "Pages are notebooks executed once with papermill (`python -m helpers run`); building the book runs "
        "nothing.", "",
        "## Chapters", "", *listing, "",
    ])


def build_book(book_dir: Path, *, strict: bool = False, session: Session | None = None) -> Path:
    """Run ``jupyter-book build`` on ``book_dir``; return the absolute path of its index.html.

    The book is built into a fresh folder that replaces ``_build/html`` only when the build
    succeeds: a failed build keeps the previous HTML, and no HTML of a page that is gone is left.
    ``strict`` turns Sphinx warnings into errors (all reported, then the build fails).
    """
    session = Session() if session is None else session
    check_book_config(book_dir)
    exe = Path(sys.executable).parent / "jupyter-book"
    command = str(exe) if exe.exists() else shutil.which("jupyter-book")
    if command is None:
        raise BookBuildError("jupyter-book is not installed here; pip install 'jupyter-book>=1,<2'")
    build_dir = book_dir.resolve() / "_build"  # excluded from the sources by _config.yml
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=build_dir, prefix=".next-"))
    args = [command, "build", "--all", "--path-output", str(staging), str(book_dir)]
    args += ["--warningiserror", "--keep-going"] if strict else []
    use_this_python()
    try:
        proc = subprocess.run(args, capture_output=True, text=True)
        output = ANSI.sub("", proc.stdout + proc.stderr)
        for line in output.splitlines():
            if "WARNING" in line or "ERROR" in line:
                print(line, file=sys.stderr)
        if proc.returncode != 0:
            raise BookBuildError(
                f"`{' '.join(args)}` failed (exit {proc.returncode}):\n{output[-4000:]}\n"
                "Fix the page named above" + (", or build without --strict." if strict else ".")
            )
        html = build_dir / "html"
        with session.locked(build_dir, f"for another build of {book_dir} to finish"), signals_deferred():
            if html.exists():
                os.replace(html, staging / "previous_html")
            os.replace(staging / "_build" / "html", html)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return (html / "index.html").resolve()


def build(book_dir: Path, notebook_dir: Path | None = None, *, strict: bool = False) -> Path:
    """``python -m helpers book``: write the sources and build the book from the pages that are
    complete; then raise :class:`BookIncomplete` listing the pages that are missing, failed or
    damaged, if any. Returns the built ``index.html``."""
    check_book_config(book_dir)
    session = Session()
    with session.interruptible():
        write_book_sources(book_dir)
        index = build_book(book_dir, strict=strict, session=session)
    if problems := book_problems(book_dir, notebook_dir):
        raise BookIncomplete(
            f"the book ({index}) was built without {len(problems)} page(s):\n  " + "\n  ".join(problems)
            + "\nRerun them with `python -m helpers run` (make book)."
        )
    return index


def book_timings(book_dir: Path) -> str:
    """:func:`timing_report` for every valid page of an existing book."""
    pages = []
    for chapter in collect_chapters(book_dir):
        pages += [(page.path, page.stamp) for page in chapter.pages]
    return timing_report(pages)
