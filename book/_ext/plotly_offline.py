"""Sphinx extension: ship plotly.js with the book, for the interactive figures, offline.

A page's interactive figure (``helpers.interactive``) holds only its data and a call to
``Plotly.newPlot``. This extension copies the library, ``plotly.min.js`` from the installed
``plotly`` Python package (the version that wrote the figures' JSON), into the built book's
``_static/`` once per build, and adds it to the ``<head>`` of the pages that hold such a figure
(found by their CSS class). No CDN, and no multi-megabyte file in git.
"""

from pathlib import Path

from sphinx.util.fileutil import copy_asset_file

MARKER = "neuron-repro-plotly"  # helpers.interactive.CSS_CLASS
SCRIPT = "plotly.min.js"


def _library() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / SCRIPT
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the plotly package (pip install plotly)")
    return path


def _add_to_page(app, pagename, templatename, context, doctree):
    if MARKER in context.get("body", ""):
        app.add_js_file(SCRIPT)  # called here, it adds the script to this page only


def _copy_library(app, exception):
    if exception is None and app.builder.format == "html":
        copy_asset_file(str(_library()), str(Path(app.outdir) / "_static"))


def setup(app):
    _library()  # fail at the start of the build, not after it, when plotly is not installed
    # before other handlers (dedupe_scripts copies the page's script list)
    app.connect("html-page-context", _add_to_page, priority=400)
    app.connect("build-finished", _copy_library)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
