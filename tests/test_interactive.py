"""Interactive neuron scatters: their data and hover, and (slow) a real jupyter-book build in which
they render offline in a headless browser, next to the Methods pages with their MathML formulas."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import pytest
from IPython.core.formatters import format_display_data

from helpers import interactive
from helpers.runner.book import build_book
from support import check_page, full_book

REPO = Path(__file__).parents[1]
RNG = np.random.default_rng(0)


def sweep_summary(n: int = 50, layer: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "neuron": np.arange(n), "label": [f"{layer}.{i}" for i in range(n)], "pred_change": RNG.uniform(0, 0.02, n),
        "abs_dentropy": RNG.uniform(0, 0.05, n), "ln_fraction": RNG.uniform(-1, 1.5, n), "rho": RNG.uniform(0, 1, n),
        "norm": RNG.uniform(1, 5, n), "logit_var": RNG.uniform(1e-5, 1e-3, n), "freq_fraction": RNG.uniform(-1, 1, n),
        "abs_dkl": RNG.uniform(0, 1, n), "freq_cos": RNG.uniform(-1, 1, n),
    })


def figure_json(html: str) -> dict:
    """The figure JSON inside the emitted HTML (what the browser hands to Plotly.newPlot)."""
    return json.loads(re.search(r"var fig = (\{.*\});\n", html).group(1))


def test_scatter_carries_the_data_and_a_hover_that_names_the_neuron():
    summary = sweep_summary()
    shown = interactive.rho_vs_ln_fraction(summary, highlight=[3, 7], title="demo")
    points, ringed = shown.figure.data
    np.testing.assert_allclose(points.x, summary.rho)
    np.testing.assert_allclose(points.y, summary.ln_fraction.clip(-0.5, 1))
    np.testing.assert_allclose(points.marker.color, summary.abs_dentropy)
    assert list(points.customdata[:, 0]) == list(summary.label)  # the hover's first line: the neuron
    assert points.customdata[4, 3] == float(f"{summary.ln_fraction[4]:.4g}")  # the unclipped 1 − DE/TE
    assert points.hovertemplate.startswith("<b>%{customdata[0]}</b>") and "ρ: %{x:.4~g}" in points.hovertemplate
    assert list(ringed.text) == ["5.3", "5.7"] and type(points).__name__ == "Scatter"
    data = figure_json(shown.to_html())["data"][0]  # the JSON round trip keeps the labels and numbers
    assert data["customdata"][4][0] == "5.4" and data["customdata"][4][3] == points.customdata[4, 3]


def test_html_holds_no_library_and_survives_hostile_labels():
    summary = sweep_summary(5).assign(label=["</script><b>x", "a", "b", "c", "d"])
    html = interactive.prediction_change_vs_entropy(summary).to_html()
    assert html.count("</script>") == 1 and "<script src" not in html  # no library, no early end of the script
    assert f'class="{interactive.CSS_CLASS}"' in html and "typeof Plotly" in html
    assert figure_json(html)["data"][0]["customdata"][0][0] == "</script><b>x"
    assert len(html) < 200 + 150 * len(summary) + 20_000  # the template and layout, not plotly.js (4 MB)


def test_display_in_a_notebook_gives_html_and_text():
    shown = interactive.norm_vs_logit_var(sweep_summary(), highlight=[1], title="norms")
    bundle, _ = format_display_data(shown)
    assert bundle["text/html"].startswith(f'<div class="{interactive.CSS_CLASS}"')
    assert bundle["text/plain"] == "<InteractiveFigure 'norms': 51 points>"
    assert shown.figure.layout.yaxis.type == "log"


def test_neuron_types_one_trace_per_kind():
    summary = sweep_summary(20)
    shown = interactive.neuron_types_scatter(summary, entropy=[1, 2], frequency=[2, 3])
    names = [t.name for t in shown.figure.data]
    assert names == ["Normal (17)", "Entropy (1)", "Token frequency (2)"]
    freq = shown.figure.data[2]
    assert list(freq.customdata[:, 0]) == ["5.2", "5.3"]
    np.testing.assert_allclose(freq.y, summary.abs_dkl[[2, 3]])


def test_many_points_use_webgl_and_voita_defaults_to_the_first_half():
    n_layers, d = 4, 1600
    neurons = pd.DataFrame({"layer": np.repeat(np.arange(n_layers), d), "neuron": np.tile(np.arange(d), n_layers),
                            "dead": RNG.uniform(size=n_layers * d) < 0.1, "cover": RNG.integers(0, 40, n_layers * d),
                            "freq": RNG.uniform(1e-4, 0.1, n_layers * d), "covered_share": RNG.uniform(size=n_layers * d),
                            "token_detector": RNG.uniform(size=n_layers * d) < 0.05, "mi": RNG.uniform(0, 0.1, n_layers * d)})
    shown = interactive.frequency_vs_cover(neurons)
    trace = shown.figure.data[0]
    kept = neurons[~neurons.dead & (neurons.cover > 0) & (neurons.layer < 2)]
    assert type(trace).__name__ == "Scatter" and len(trace.x) == len(kept)  # 2 of 4 layers: < GL_ABOVE points
    assert list(trace.customdata[:3, 0]) == [f"{l}.{n}" for l, n in zip(kept.layer[:3], kept.neuron[:3])]
    every = interactive.frequency_vs_cover(neurons, layers=range(n_layers)).figure.data[0]
    assert type(every).__name__ == "Scattergl" and len(every.x) > interactive.GL_ABOVE
    assert "token detector: %{customdata[" in every.hovertemplate


# --- a real book in a real browser ----------------------------------------------------------------

NOTEBOOK_CODE = """\
import numpy as np, pandas as pd
from helpers import interactive
rng = np.random.default_rng(0)
def table(n):
    return pd.DataFrame({"neuron": np.arange(n), "label": [f"5.{i}" for i in range(n)], "rho": rng.uniform(0, 1, n),
                         "ln_fraction": rng.uniform(-1, 1, n), "abs_dentropy": rng.uniform(0, 0.1, n),
                         "pred_change": rng.uniform(0, 0.01, n)})
display(interactive.rho_vs_ln_fraction(table(300), [3], "svg"))
display(interactive.rho_vs_ln_fraction(table(interactive.GL_ABOVE + 10), [3], "webgl"))
"""


@pytest.fixture(scope="module")
def demo_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The book's config, extensions and Methods pages, an intro with formulas, and one notebook
    executed by a real kernel that displays two interactive figures (SVG and WebGL)."""
    import nbformat
    from nbclient import NotebookClient

    book = full_book(tmp_path_factory.mktemp("interactive") / "book")
    methods = sorted(p.stem for p in (REPO / "book").glob("methods_*.md"))
    for name in methods:
        shutil.copy(REPO / "book" / f"{name}.md", book)
    (book / "intro.md").write_text("# Intro\n\nInline $\\rho = \\lVert U^\\top w \\rVert$, displayed:\n\n"
                                   "$$\n1 - \\frac{\\mathrm{DE}}{\\mathrm{TE}}\n$$\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Interactive figures"),
                                         nbformat.v4.new_code_cell(NOTEBOOK_CODE)])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    nbformat.write(nb, book / "figures.ipynb")
    toc = "format: jb-book\nroot: intro\nchapters:\n" + "".join(f"- file: {f}\n" for f in ["figures", *methods])
    (book / "_toc.yml").write_text(toc)
    return book


@pytest.fixture(scope="module")
def built_html(demo_book: Path) -> Path:
    return build_book(demo_book, strict=True).parent  # Sphinx warnings are errors



@pytest.mark.slow
def test_book_ships_plotly_once_and_math_as_mathml(built_html: Path, demo_book: Path) -> None:
    shipped = built_html / "_static" / "plotly.min.js"
    assert shipped.read_bytes() == (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    page = (built_html / "figures.html").read_text()
    assert len(re.findall(r'<script src="_static/plotly\.min\.js', page)) == 1
    assert "plotly.min.js" not in (built_html / "intro.html").read_text()  # only pages with a figure load it
    assert len(page) < 3_000_000  # the data of two figures, not the library per figure
    for html in built_html.glob("*.html"):
        text = html.read_text()
        assert not re.search(r"""<script[^>]*src=["'](?:https?:)?//""", text), f"{html.name} loads a remote script"
        assert "mathjax" not in re.sub(r"mathjax_ignore", "", text).lower(), f"{html.name} loads MathJax"
    intro = (built_html / "intro.html").read_text()
    assert intro.count("<math ") == 2 and 'display="block"' in intro


@pytest.mark.slow
def test_methods_pages_expose_their_labels(built_html: Path) -> None:
    sources = sorted((REPO / "book").glob("methods_*.md"))
    assert [p.stem for p in sources] == ["methods_stolfo", "methods_voita"]
    for source in sources:
        labels = re.findall(r"^\(([a-z0-9-]+)\)=$", source.read_text(), flags=re.M)
        assert len(labels) >= 10, source.name
        html = (built_html / f"{source.stem}.html").read_text()
        missing = [label for label in labels if f'id="{label}"' not in html]
        assert not missing, f"{source.name}: labels without an anchor in the HTML: {missing}"
        assert "<math " in html


@pytest.mark.slow
def test_interactive_figures_render_offline_with_a_hover_naming_the_neuron(browser, server: str) -> None:
    check_page(browser, server + "figures.html", server)  # no request leaves 127.0.0.1, no console error
    state = browser.execute_script(  # type: ignore[attr-defined]
        """
        const divs = [...document.querySelectorAll('.neuron-repro-plotly')];
        const svg = divs[0];
        Plotly.Fx.hover(svg, [{curveNumber: 0, pointNumber: 3}]);
        return {
          n: divs.length,
          drawn: divs.map(d => d.querySelectorAll('.main-svg').length > 0),
          canvases: divs[1].querySelectorAll('canvas').length,
          hover: [...svg.querySelectorAll('.hovertext')].map(e => e.textContent),
          fallback: divs.map(d => d.textContent.includes('Interactive figure:')),
        };
        """
    )
    assert state["n"] == 2 and state["drawn"] == [True, True] and state["fallback"] == [False, False]
    assert state["canvases"] > 0  # the WebGL figure drew into its canvases
    assert len(state["hover"]) == 1 and state["hover"][0].startswith("5.3") and "ρ:" in state["hover"][0]


@pytest.mark.slow
def test_methods_pages_render_formulas_in_the_browser(browser, server: str) -> None:
    for page in ("methods_stolfo.html", "methods_voita.html"):
        check_page(browser, server + page, server)
        sizes = browser.execute_script(  # type: ignore[attr-defined]
            "return [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width)")
        assert sizes and min(sizes) > 0, f"{page}: a formula was not laid out"
