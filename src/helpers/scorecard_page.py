"""The scorecard page and the front page's summary (the claims and verdicts: :mod:`helpers.scorecard`).

The scorecard page has three parts:

- the totals per model and paper (:func:`summary_table`, also on the front page): real models
  capped by the twin test, circular claims (and the paper's controls on twins) shown apart;
- a compact matrix, claim × model (:func:`matrix`): an HTML table that fits a 1280 px window,
  one short row per claim, one column per model (the null twins last, marked as controls), each
  cell the verdict's shape and code and the point value, linked to the page that measured it;
- one section per claim (:func:`details`), linked from its row: the quote, what the paper
  reports, the rule, the twin test, and each model's value with its interval.

Every text from a claim or a result is escaped (HTML in the matrix, Markdown elsewhere): an
unescaped ``|`` in ``|ΔH|`` used to shift a Markdown table's cells. The marks are shapes from
common text fonts (no emoji), readable in greyscale; ``book/_static/verdicts.css`` colours them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import quote

from helpers import twins
from helpers.scorecard import (
    CIRCULAR,
    CODE,
    CONTROL,
    MARK,
    NA,
    SHAPE,
    VERDICTS,
    Claim,
    Row,
    badge,
    css_class,
    judged,
    md_escape,
    results,
    totals,
)

INTRO = (
    "Each checkable claim of the two papers that a page of this book measures, with a verdict per model by the "
    "rule written under the claim. **The models of this book are not the papers' models** (unless the book was "
    "run on them): a verdict says whether the effect shows in *that* model at these sizes, not whether the paper "
    "is right. Verdicts use the 95 % interval: *reproduced* when the whole interval is on the claim's side, "
    "*partly* when only the point estimate is, *not reproduced* otherwise, *n/a* when the page did not run, the "
    "claim is about something the model does not have, or no neuron passes the selection rule (see Methods, "
    "*Intervals and verdicts*). **Null twins** are untrained copies of a model (fresh initialisation, or every "
    "weight tensor shuffled): a rule that gives reproduced or partly on a twin **does not discriminate**, and no "
    "model scores better than partly on that claim. The papers' own control claims are exempt; claims that "
    "follow from a selection rule by construction are marked **circular** and not counted."
)

LEGEND = (
    "**Legend**: " + " · ".join(f"{badge(v)} ({CODE[v]})" for v in VERDICTS)
    + " · **P\\*** reproduced by the rule, capped to partly because the rule also passes on a null twin"
    " · *twin* columns: null twins (controls) · row tags: **no discr.** (passes on a twin), **circular** "
    "(not counted), **control** (the paper's control). A row's id opens its quote, paper value and rule; a cell "
    "opens its page."
)


def anchor(claim: Claim) -> str:
    """The HTML id of the claim's section (``claim-s-10a``)."""
    return "claim-" + re.sub(r"[^a-z0-9]+", "-", claim.id.lower()).strip("-")


def short(text: str, width: int = 44) -> str:
    """The first ``width`` characters of ``text``, cut at a word."""
    text = text.strip().rstrip(".")
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " …"


def point(shown: str, width: int = 10) -> str:
    """A result's value without its intervals, at most ``width`` characters (``0.49 [0.41, 0.57]`` -> ``0.49``)."""
    text = re.sub(r"\s*\[[^\]]*\]", "", shown).strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _model_label(model: str) -> str:
    parsed = twins.parse(model)
    return f"`{model}` (null twin: control)" if parsed else f"`{model}`"


def summary_table(rows: list[Row]) -> str:
    """Markdown: one row per model and paper, the counts of each verdict (real models capped by the
    twin test) and the claims not counted (circular; the paper's controls on a twin)."""
    counts = totals(rows)
    head = ["model", "paper", *(MARK[v] for v in VERDICTS), "not counted"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model, papers in counts.items():
        for paper, c in papers.items():
            apart = [f"{c[CIRCULAR]} circular"] * bool(c[CIRCULAR]) + [f"{c[CONTROL]} control"] * bool(c[CONTROL])
            cells = [_model_label(model), md_escape(paper), *(str(c[v]) for v in VERDICTS), ", ".join(apart) or "0"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target(claim: Claim, directory: Path, cross_dir: Path | None) -> Path | None:
    targets = [d / f"{claim.page}.ipynb" for d in (directory, cross_dir) if d is not None]
    return next((t for t in targets if t.exists()), None)


def _tags(row: Row) -> list[tuple[str, str, str]]:
    """(css class, text, tooltip) of the row's tags."""
    tags = []
    if not row.discriminates:
        tags.append(("tag-nd", "no discr.", f"does not discriminate: passes on {', '.join(row.passing)}"))
    if row.claim.circular:
        tags.append(("tag-circular", "circular", f"not counted: {row.claim.circular}"))
    if row.claim.control:
        tags.append(("tag-control", "control", "the paper's own control claim: exempt from the twin test"))
    return tags


def _header(model: str) -> str:
    parsed = twins.parse(model)
    if parsed is None:
        return f'<th scope="col">{html.escape(model)}</th>'
    kind, base = parsed
    return (f'<th scope="col" class="twin" title="{html.escape(model)}: a null twin (control)">'
            f'{html.escape(base)}<br><span class="twin-kind">{html.escape(kind)} twin</span></th>')


def matrix(rows: list[Row], chapters: dict[str, Path], link_base: Path, cross_dir: Path | None = None) -> str:
    """The compact claim × model matrix as one HTML block (no blank line inside, so Markdown keeps it
    whole); links are relative to ``link_base``'s HTML (the book's root)."""
    models = list(rows[0].results) if rows else list(chapters)
    out = ['<div class="scorecard-matrix">', '<table class="scorecard">',
           '<thead><tr><th scope="col">claim</th>' + "".join(_header(m) for m in models) + "</tr></thead>", "<tbody>"]
    paper = None
    for row in rows:
        claim = row.claim
        if claim.paper != paper:
            paper = claim.paper
            out.append(f'<tr class="paper"><th colspan="{1 + len(models)}" scope="rowgroup">{html.escape(paper)}</th></tr>')
        tags = "".join(f' <span class="tag {c}" title="{html.escape(tip)}">{html.escape(t)}</span>' for c, t, tip in _tags(row))
        classes = " ".join(["circular"] * bool(claim.circular) + ["no-discr"] * (not row.discriminates))
        cells = []
        for model in models:
            result = row.results[model]
            code = CODE[result.verdict] + ("*" if result.note else "")
            value = "" if result.verdict == NA else f' <span class="val">{html.escape(point(result.shown))}</span>'
            tip = "; ".join(x for x in (f"{model}: {result.shown}", result.verdict, result.note) if x)
            text = f'<span class="mk">{SHAPE[result.verdict]}</span>&nbsp;{html.escape(code)}{value}'
            target = _target(claim, chapters[model], cross_dir)
            if target is not None:
                href = quote(target.relative_to(link_base).with_suffix(".html").as_posix())
                text = f'<a href="{href}">{text}</a>'
            twin = " twin" if twins.is_twin(model) else ""
            cells.append(f'<td class="{css_class(result.verdict)}{twin}" title="{html.escape(tip)}">{text}</td>')
        out.append(f'<tr class="{classes}"><th scope="row"><a href="#{anchor(claim)}">{html.escape(claim.id)}</a> '
                   f'<span class="label">{html.escape(short(claim.quote))}</span>{tags}</th>' + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return "\n".join(out)


def twin_test(row: Row) -> str:
    """One sentence: what the null twins give on this claim."""
    if row.claim.control:
        return "the paper's own control claim: expected to hold on a null twin, so exempt"
    if not any(twins.is_twin(m) for m in row.results):
        return "no null twin in this book"
    if row.discriminates:
        return "discriminates: no null twin gives reproduced or partly"
    return (f"**does not discriminate**: the rule gives reproduced or partly on {', '.join(f'`{m}`' for m in row.passing)}, "
            "so no model scores better than partly")


def details(row: Row, chapters: dict[str, Path], link_base: Path, cross_dir: Path | None = None) -> list[str]:
    """Markdown lines of the claim's section: quote, paper, rule, twin test, every model's result."""
    claim = row.claim
    lines = [f"({anchor(claim)})=", f"### {md_escape(claim.id)}: {md_escape(short(claim.quote, 60))}", "",
             f"> {md_escape(claim.quote)} ({md_escape(claim.paper)}, {md_escape(claim.where)})", "",
             f"- **Paper reports**: {md_escape(claim.reported)}",
             f"- **Rule**: {md_escape(claim.rule)}",
             f"- **Twin test**: {twin_test(row)}"]
    if claim.circular:
        lines.append(f"- **Circular, not counted**: {md_escape(claim.circular)}")
    lines.append("- **Results**:")
    for model, result in row.results.items():
        target = _target(claim, chapters[model], cross_dir)
        name = f"[`{model}`]({target.relative_to(link_base).as_posix()})" if target else f"`{model}`"
        note = f" ({md_escape(result.note)})" if result.note else ""
        lines.append(f"  - {name}{' (null twin)' if twins.is_twin(model) else ''}: {badge(result.verdict)}: "
                     f"{md_escape(result.shown)}{note}")
    return lines + [""]


def markdown(chapters: dict[str, Path], claims: list[Claim], link_base: Path, cross_dir: Path | None = None) -> str:
    """The scorecard page for the model chapters (name -> directory); the cross-model pages are read
    from ``cross_dir``; links are relative to ``link_base`` (the book's root)."""
    rows = judged(claims, results(chapters, cross_dir, claims))
    lines = ["---", "html_theme.sidebar_secondary.remove: true  # the matrix needs the width (verdicts.css)", "---",
             "# Scorecard", "", INTRO, "", "## Totals", "", summary_table(rows), "", "## Claims × models", "",
             LEGEND, "", matrix(rows, chapters, link_base, cross_dir), "", "## The claims", ""]
    for row in rows:
        lines += details(row, chapters, link_base, cross_dir)
    return "\n".join(lines) + "\n"


def passing_lines(rows: list[Row]) -> list[str]:
    """Markdown for the front page: which claims do not discriminate and which are circular."""
    lines = []
    loose = [r for r in rows if not r.discriminates]
    if loose:
        lines.append("- Does not discriminate (reproduced or partly on a null twin; no model scores better than "
                     "partly): " + ", ".join(f"{{ref}}`{r.claim.id} <{anchor(r.claim)}>`" for r in loose) + ".")
    circular = [r for r in rows if r.claim.circular]
    if circular:
        lines.append("- Circular, not counted: " + ", ".join(f"{{ref}}`{r.claim.id} <{anchor(r.claim)}>`"
                                                            for r in circular) + ".")
    return lines

