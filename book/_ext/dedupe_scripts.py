"""Sphinx extension: drop repeated inline scripts from each page.

sphinx-thebe (loaded by jupyter-book 1.x even with thebe off) registers its configuration script
once per read phase, so pages declared ``const THEBE_JS_URL`` twice and the browser reported a
SyntaxError. Identical scripts are kept once.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # the second copy is registered with filename "" instead of None
        key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
