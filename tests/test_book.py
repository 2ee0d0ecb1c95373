"""The book: generated sources, the jupyter-book build, and the pages in a headless browser."""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from helpers import scorecard, twins
from helpers.errors import BookBuildError, NotebookFailed
from helpers.report import KEY_NUMBERS_OUTPUT
from helpers.runner.book import CAVEAT, METHODS, build_book, caveat, write_book_sources
from helpers.runner.page import execute_run
from helpers.runner.plan import CROSS, chapter_name, plan_runs
from support import check_page, full_book, http_status

REPO = Path(__file__).parents[1]
DATA = REPO / "tests" / "data" / "notebooks"
MODELS = ["model-a", "model-b"]
TWIN = "null-init:model-a"  # a null twin's chapter: the demo pages do not load the model
# Emoji blocks (pictographs, dingbats such as ✅ ❌, misc symbols such as ⚠, the emoji presentation selector).
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")


@pytest.fixture(scope="module")
def book_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A book with two throwaway notebooks executed for two fake models and a twin, sources written."""
    root = tmp_path_factory.mktemp("book-test")
    notebooks = Path(shutil.copytree(DATA, root / "notebooks"))
    book = full_book(root / "book")
    for methods in METHODS:
        shutil.copy(REPO / "book" / f"{methods}.md", book)
    for run in plan_runs(notebooks, book, [*MODELS, TWIN], ["demo", "cross"]):
        execute_run(run)
    with pytest.raises(NotebookFailed):  # a failed run must stay out of the book
        execute_run(plan_runs(notebooks, book, ["model-a"], ["fails"])[0])
    write_book_sources(book, claims=DEMO_CLAIMS)
    return book


def _more_than(limit: int) -> scorecard.Judge:
    def judge(numbers: dict, model: str) -> scorecard.Result:
        value = numbers["sum_of_squares"]
        return scorecard.Result(str(value), scorecard.REPRODUCED if value > limit else scorecard.NOT)
    return judge


def _trained_only(numbers: dict, model: str) -> scorecard.Result:
    """A stand-in for a rule that discriminates: it fails on the twin (the demo's numbers cannot)."""
    return scorecard.Result("1 [1, 1]", scorecard.NOT if twins.is_twin(model) else scorecard.REPRODUCED)


DEMO_CLAIMS = [  # D-1 passes on the twin too (capped), D-4 is a control, D-5 circular, D-6 discriminates
    scorecard.Claim("D-1", "Demo 2026", "Fig 1", "Squares |sum| to more than 0.", "64 rows", "demo", "|sum| > 0",
                    _more_than(0)),
    scorecard.Claim("D-2", "Demo 2026", "Fig 1", "Squares sum to more than a million.", "64 rows", "demo",
                    "sum > 10⁶", _more_than(10**6)),
    scorecard.Claim("D-3", "Demo 2026", "Fig 2", "A page that never ran.", "-", "absent", "-",
                    lambda n, m: scorecard.Result("1", scorecard.REPRODUCED)),
    scorecard.Claim("D-4", "Demo 2026", "Fig 2", "Random squares sum to more than 0.", "-", "demo", "sum > 0",
                    _more_than(0), control=True),
    scorecard.Claim("D-5", "Demo 2026", "Fig 2", "Selected squares are positive.", "-", "demo", "sum > 0",
                    _more_than(0), circular="the rule selects positive squares"),
    scorecard.Claim("D-6", "Demo 2026", "Fig 3", "Only trained models square.", "-", "demo", "-", _trained_only),
]


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` entry of a jupyter-book toc, in order."""
    found = []
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            found += [chapter["file"]] + [s["file"] for s in chapter.get("sections", [])]
    return found


def test_toc_references_existing_files(book_dir: Path) -> None:
    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    assert toc["format"] == "jb-book" and toc["root"] == "intro"
    files = toc_files(toc)
    twin_dir = chapter_name(TWIN)
    assert files == [
        "scorecard", "methods_stolfo", "methods_voita",
        "runs/model-a/index", "runs/model-a/demo",
        "runs/model-b/index", "runs/model-b/demo",
        f"runs/{twin_dir}/index", f"runs/{twin_dir}/demo",
        "runs/_cross/index", "runs/_cross/cross",
    ]  # fmt: skip
    for doc in ["intro", *files]:
        assert [p for p in (book_dir / f"{doc}.md", book_dir / f"{doc}.ipynb") if p.exists()], doc
    assert (book_dir / "runs" / "model-a" / "fails.failed.ipynb").exists()  # kept, but not listed
    index = (book_dir / "runs" / "model-a" / "index.md").read_text()
    assert "[Demo figure: squares](demo.ipynb)" in index  # title = the notebook's first heading


def test_scorecard_and_front_page_apply_the_twin_test(book_dir: Path) -> None:
    card = (book_dir / "scorecard.md").read_text()
    twin_dir = chapter_name(TWIN)
    # demo ran with the quick profile's n_rows = 64 (0² + ... + 63² = 85344). D-1 passes on the twin,
    # so model-a's reproduced is capped to partly; the twin's column comes last.
    header = re.search(r"<thead>.*?</thead>", card).group(0)
    assert header.index(">model-a<") < header.index(">model-b<") < header.index("null-init twin")
    row = re.search(r'<tr class="no-discr"><th scope="row"><a href="#claim-d-1">D-1</a>.*?</tr>', card).group(0)
    assert "Squares |sum| to more than 0" in row and "no discr." in row
    assert row.count('class="v-partly"') == 2 and row.count("P*") == 2 and row.count('class="v-reproduced twin"') == 1
    assert '<a href="runs/model-a/demo.html">' in row and f'<a href="runs/{twin_dir}/demo.html">' in row
    assert "- [`model-a`](runs/model-a/demo.ipynb): " + scorecard.badge(scorecard.PARTLY) + ": 85344 (reproduced" in card
    assert "\\|sum\\| \\> 0" in card  # the rule, escaped in its section
    assert "| `model-a` | Demo 2026 | 2 | 1 | 1 | 1 | 1 circular |" in card
    assert f"| `{TWIN}` (null twin: control) | Demo 2026 | 1 | 0 | 2 | 1 | 1 circular, 1 control |" in card
    intro = (book_dir / "intro.md").read_text()
    assert "Stolfo et al. 2024" in intro and "Voita et al. 2023" in intro
    assert ":::{warning}" not in intro  # model-a and model-b have no caveats to warn about
    assert "| `model-b` | Demo 2026 | 2 | 1 | 1 | 1 | 1 circular |" in intro
    assert "- Reproduced on `model-a`: {ref}`D-4 <claim-d-4>`, {ref}`D-6 <claim-d-6>`." in intro
    assert "- Does not discriminate" in intro and "{ref}`D-1 <claim-d-1>`, {ref}`D-5 <claim-d-5>`." in intro
    assert "- Circular, not counted: {ref}`D-5 <claim-d-5>`." in intro
    assert not EMOJI.search(card + intro)


@pytest.fixture(scope="module")
def built_html(book_dir: Path) -> Path:
    start = time.monotonic()
    index = build_book(book_dir, strict=True)  # strict: our generated sources are warning-free
    print(f"\nbook build: {time.monotonic() - start:.1f} s")
    assert index.is_file() and index == (book_dir / "_build" / "html" / "index.html").resolve()
    return index.parent


@pytest.mark.slow
def test_built_html_needs_no_network(built_html: Path) -> None:
    """No page loads a script, style sheet, font or image from another host."""
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)
    pages = list(built_html.rglob("*.html"))
    assert len(pages) >= 7
    offenders = [str(p.relative_to(built_html)) for p in pages if external.search(p.read_text())]
    assert not offenders, f"pages that load resources from the network: {offenders}"


@pytest.mark.slow
def test_strict_build_fails_on_sphinx_warnings(book_dir: Path, tmp_path: Path) -> None:
    book = Path(shutil.copytree(book_dir, tmp_path / "book", ignore=shutil.ignore_patterns("_build")))
    with open(book / "intro.md", "a") as intro:
        intro.write("\nSee {doc}`a page that does not exist`.\n")
    with pytest.raises(BookBuildError, match="(?s)failed.*unknown document"):
        build_book(book, strict=True)
    assert build_book(book).is_file()  # not strict: the warning is printed, the book built


@pytest.mark.slow
def test_verdicts_are_rendered_when_the_book_is_built_not_in_the_kernel(book_dir: Path, built_html: Path,
                                                                        tmp_path: Path) -> None:
    """A page's "What this model shows" comes from its key numbers and the claims at build time: the
    executed notebook holds an include of ``<N>.verdicts.md`` under the key numbers, and a changed
    claim changes the page with no page executed (the notebooks and stamps stay byte for byte)."""
    page = book_dir / "runs" / "model-a" / "demo.ipynb"
    cells = nbformat.read(page, as_version=4).cells
    (at,) = [i for i, c in enumerate(cells) if "verdicts" in c.metadata.get("tags", [])]
    assert cells[at].source == "```{include} demo.verdicts.md\n```"
    assert any(o.get("metadata", {}).get(KEY_NUMBERS_OUTPUT) for o in cells[at - 1].outputs)
    html = (built_html / "runs" / "model-a" / "demo.html").read_text()
    assert "What this model shows" in html and "Squares |sum| to more than 0" in html
    assert "What this model shows" not in (built_html / "runs" / "_cross" / "cross.html").read_text()  # no claim

    book = Path(shutil.copytree(book_dir, tmp_path / "book", ignore=shutil.ignore_patterns("_build")))
    pages = {p: p.read_bytes() for p in (book / "runs").rglob("*") if p.suffix in (".ipynb", ".json")}
    reworded = [dataclasses.replace(c, quote="Squares add up.") if c.id == "D-1" else c for c in DEMO_CLAIMS]
    write_book_sources(book, claims=reworded)
    rebuilt = build_book(book, strict=True).parent
    assert "Squares add up." in (rebuilt / "runs" / "model-a" / "demo.html").read_text()
    assert {p: p.read_bytes() for p in pages} == pages


# --- the browser test ---------------------------------------------------------------------------


@pytest.mark.slow
def test_pages_render_in_a_headless_browser(browser: object, server: str, book_dir: Path) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    start = time.monotonic()
    browser.get(server + "index.html")  # type: ignore[attr-defined]
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/intro.html"))  # its redirect
    check_page(browser, server + "intro.html", server)
    card = check_page(browser, server + "scorecard.html", server)
    pages = {link for link in card["links"] if "/runs/" in link}  # from the claims' sections
    assert pages == {f"{server}runs/{chapter_name(m)}/demo.html" for m in [*MODELS, TWIN]}
    for link in pages:
        assert http_status(link) == 200, link
    chapters = sorted(p.parent.name for p in (book_dir / "runs").glob("*/index.md"))
    assert chapters == sorted([*MODELS, chapter_name(TWIN), CROSS])
    for chapter in chapters:
        index = check_page(browser, f"{server}runs/{chapter}/index.html", server)
        pages = [link for link in index["links"] if link.startswith(f"{server}runs/{chapter}/")]
        assert pages, f"chapter {chapter}: its index links to no page"
        for link in index["links"]:
            assert http_status(link) == 200, link
        for page in pages:
            shown = check_page(browser, page, server)
            assert shown["figures"] >= 1, f"{page}: no figure image"
    print(f"\nbrowser checks: {time.monotonic() - start:.1f} s")


@pytest.mark.slow
def test_scorecard_matrix_fits_1280px_with_a_verdict_in_every_cell(browser: object, server: str) -> None:
    """At 1280 px: every claim row has a verdict mark in every model column (the twin's included),
    the matrix needs no scrolling and the page none sideways, row links reach the claim's section,
    cell links reach the page, and neither the scorecard nor the front page contains an emoji."""
    browser.set_window_size(1280, 900)  # type: ignore[attr-defined]
    check_page(browser, server + "scorecard.html", server)
    shown = browser.execute_script(  # type: ignore[attr-defined]
        """
        const table = document.querySelector('main table.scorecard');
        const wrap = table.parentElement;
        return {
          columns: [...table.querySelectorAll('thead th')].map(th => th.textContent.trim()),
          rows: [...table.querySelectorAll('tbody tr:not(.paper)')].map(tr => ({
            head: tr.querySelector('th').textContent.trim(),
            anchor: document.getElementById(tr.querySelector('th a').getAttribute('href').slice(1)) !== null,
            cells: [...tr.querySelectorAll('td')].map(td => [td.textContent.trim(), td.className,
                                                              td.querySelector('a') ? td.querySelector('a').href : null,
                                                              td.getBoundingClientRect().right]),
          })),
          table: table.scrollWidth, wrap: wrap.clientWidth, right: table.getBoundingClientRect().right,
          page: document.documentElement.scrollWidth, window: window.innerWidth,
          html: document.documentElement.outerHTML,
        };
        """
    )
    assert shown["window"] <= 1280 and len(shown["columns"]) == 1 + len(MODELS) + 1
    assert [r["head"].split()[0] for r in shown["rows"]] == [c.id for c in DEMO_CLAIMS]
    for row in shown["rows"]:
        assert row["anchor"], row["head"]
        assert len(row["cells"]) == len(MODELS) + 1, row
        for text, classes, link, right in row["cells"]:
            assert re.match(r"[●◐○–]\s(R|P|N|n/a)\*?", text) and classes.split()[0].startswith("v-"), (row["head"], text)
            assert right <= shown["window"], (row["head"], text)
            assert link is None or http_status(link) == 200, link
    assert shown["table"] <= shown["wrap"] and shown["page"] <= shown["window"], shown
    assert not EMOJI.search(shown["html"])
    browser.get(server + "intro.html")  # type: ignore[attr-defined]
    front = browser.execute_script(  # type: ignore[attr-defined]
        "return [document.documentElement.outerHTML, [...document.querySelectorAll('main table tbody tr')]"
        ".map(tr => tr.cells[0].textContent.trim())];"
    )
    assert not EMOJI.search(front[0]) and front[1] == [*MODELS, f"{TWIN} (null twin: control)"]


def test_front_page_warns_about_the_book_s_own_models() -> None:
    one = caveat(["smollm2-135m"])
    assert "`smollm2-135m`" in one and "4-bit" in one and "instruction-tuned" in one and "gemma" not in one
    both = caveat(["smollm2-135m", "gemma-3-270m"])
    assert both.index("`smollm2-135m`") < both.index("`gemma-3-270m`") and both.endswith(CAVEAT)
    assert caveat(["gpt2-small", "pythia-410m"]) == ""  # the papers' own models: nothing to warn about
