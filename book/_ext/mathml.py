"""Sphinx extension: render $math$ as MathML when the book is built, so pages need no MathJax.

Sphinx's default math renderer loads MathJax from a CDN, which an offline reader cannot reach.
Browsers draw MathML themselves (MathML Core: Chrome/Edge 109+, Firefox, Safari), so converting
the LaTeX with ``latex2mathml`` at build time gives formulas with no script, font or request.
LaTeX that ``latex2mathml`` cannot convert is a Sphinx warning (an error in a strict build), and
the source is shown as code instead. A small style sheet (written into ``_static/`` at the end of
the build) lets a formula wider than the page scroll instead of being cut off.
"""

from pathlib import Path

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.util import logging

log = logging.getLogger(__name__)

CSS = "mathml.css"
STYLE = """\
/* written by _ext/mathml.py: formulas as MathML */
span.math > math { font-size: 1.1em; }
div.math { overflow-x: auto; overflow-y: hidden; margin: 0.8em 0; }
div.math > math { display: block; width: max-content; margin: 0 auto; font-size: 1.15em; }
div.math > span.eqno { float: right; }
"""


def _mathml(self, node, latex: str, display: str) -> str:
    try:
        return convert(latex, display=display)
    except Exception as err:  # latex2mathml raises its own exception types per construct
        log.warning("cannot convert this LaTeX to MathML (%s): %s", err, latex, location=node)
        return f"<code>{self.encode(latex)}</code>"


def visit_math(self, node):
    self.body.append(f'<span class="math">{_mathml(self, node, node.astext(), "inline")}</span>')
    raise nodes.SkipNode


def visit_displaymath(self, node):
    label = f' id="equation-{node["label"]}"' if node.get("label") else ""
    number = f'<span class="eqno">({node["number"]})</span>' if node.get("number") else ""
    self.body.append(f'<div class="math"{label}>{number}{_mathml(self, node, node.astext(), "block")}</div>\n')
    raise nodes.SkipNode


def _write_style(app, exception):
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        (static / CSS).write_text(STYLE)


def setup(app):
    app.add_html_math_renderer("mathml", (visit_math, None), (visit_displaymath, None))
    app.add_css_file(CSS)
    app.connect("build-finished", _write_style)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
