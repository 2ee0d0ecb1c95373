"""The twin test, circular and control claims, n/a on stand-ins, and the scorecard's rendering
(escaping, marks, the matrix), on hand-made key numbers: fast, no book build."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from helpers import scorecard as sc, scorecard_page as sp

R, P, N, NA = sc.REPRODUCED, sc.PARTLY, sc.NOT, sc.NA
TWIN, SHUFFLED = "null-init:model-a", "null-shuffled:model-a"
# Emoji blocks (pictographs, dingbats such as ✅ ❌, misc symbols such as ⚠, the emoji presentation selector).
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")


def res(verdict: str, shown: str = "1") -> sc.Result:
    return sc.Result(shown, verdict)


def claim(cid: str, judge: sc.Judge = lambda n, m: None, **kw) -> sc.Claim:
    fields = dict(paper="Demo 2026", where="Fig 1", quote=f"Claim {cid}.", reported="-", page="page", rule="-")
    fields.update(kw)
    return sc.Claim(cid, fields.pop("paper"), fields.pop("where"), fields.pop("quote"), fields.pop("reported"),
                    fields.pop("page"), fields.pop("rule"), judge, **fields)


# --- the twin test ----------------------------------------------------------------------------


@pytest.mark.parametrize(("twin_verdicts", "expected"), [
    ((N, N), True), ((N, NA), True), ((NA, NA), True), ((P, N), False), ((N, R), False),
])  # fmt: skip
def test_a_claim_discriminates_only_if_no_twin_gives_reproduced_or_partly(twin_verdicts, expected):
    by_model = {"model-a": res(R), TWIN: res(twin_verdicts[0]), SHUFFLED: res(twin_verdicts[1])}
    assert sc.discriminates(by_model) is expected
    assert sc.passing_twins(by_model) == [m for m, v in zip((TWIN, SHUFFLED), twin_verdicts) if v in (R, P)]


def test_real_models_alone_always_discriminate():
    """A name with a colon that is not a twin's (a Hub revision, say) is a real model."""
    assert sc.discriminates({"model-a": res(R), "model-b": res(P), "org/m:rev": res(R)})


def test_cap_turns_reproduced_into_partly_and_says_why():
    capped = sc.cap(res(R, "0.9 [0.8, 1]"), [TWIN])
    assert (capped.verdict, capped.shown) == (P, "0.9 [0.8, 1]") and TWIN in capped.note
    for verdict in (P, N, NA):
        assert sc.cap(res(verdict), [TWIN]) == res(verdict)
    assert sc.cap(res(R), []) == res(R)


def test_judged_caps_real_models_exempts_controls_and_puts_twins_last():
    claims = [claim("C-1"), claim("C-2", control=True), claim("C-3")]
    per_model = {TWIN: [res(P), res(R), res(N)], "model-a": [res(R), res(R), res(R)], "model-b": [res(N), res(P), res(R)]}
    rows = sc.judged(claims, per_model)
    assert [list(r.results) for r in rows] == [["model-a", "model-b", TWIN]] * 3
    loose, control, good = rows
    assert not loose.discriminates and loose.passing == (TWIN,)
    assert [r.verdict for r in loose.results.values()] == [P, N, P]  # model-a capped; the twin's own result kept
    assert loose.results["model-a"].note and not loose.results["model-b"].note
    assert control.discriminates and [r.verdict for r in control.results.values()] == [R, P, R]
    assert good.discriminates and [r.verdict for r in good.results.values()] == [R, R, N]


def test_totals_count_capped_verdicts_and_leave_out_circular_and_controls_on_twins():
    claims = [claim("C-1"), claim("C-2", control=True), claim("C-3", circular="restates the rule"),
              claim("C-4", paper="Other 2025"), claim("C-5")]
    per_model = {"model-a": [res(R), res(R), res(R), res(N), res(NA)], TWIN: [res(P), res(R), res(R), res(N), res(N)]}
    counts = sc.totals(sc.judged(claims, per_model))
    zero = dict.fromkeys(sc.BUCKETS, 0)
    assert counts["model-a"] == {"Demo 2026": {**zero, P: 1, R: 1, NA: 1, sc.CIRCULAR: 1},
                                 "Other 2025": {**zero, N: 1}}
    assert counts[TWIN] == {"Demo 2026": {**zero, P: 1, N: 1, sc.CIRCULAR: 1, sc.CONTROL: 1},
                            "Other 2025": {**zero, N: 1}}
    table = sp.summary_table(sc.judged(claims, per_model))
    assert "| `model-a` | Demo 2026 | 1 | 1 | 0 | 1 | 1 circular |" in table
    assert f"| `{TWIN}` (null twin: control) | Demo 2026 | 0 | 1 | 1 | 0 | 1 circular, 1 control |" in table


def test_s10b_is_the_declared_control():
    assert [c.id for c in sc.CLAIMS if c.control] == ["S-10b"]


# --- n/a on stand-ins -------------------------------------------------------------------------


def _above_half(numbers: dict, model: str) -> sc.Result:
    value = numbers["x"]
    return sc.Result(str(value), R if value > 0.5 else N)


@pytest.mark.parametrize(("follows", "kind_key"), [("entropy", "followed_kind"), ("frequency", "followed_frequency_kind")])
def test_a_claim_about_the_followed_neuron_is_na_on_a_stand_in(follows, kind_key):
    about = claim("C-1", _above_half, follows=follows)
    general = claim("C-2", _above_half)
    stand_in = {"page": {"x": 0.9, kind_key: "stand-in", "followed": "3.14"}}
    assert sc.evaluate(about, stand_in, "m") == sc.Result(sc.NO_NEURON, NA)
    assert sc.evaluate(general, stand_in, "m") == sc.Result("0.9", R)  # not about the followed neuron
    selected = {"page": {"x": 0.9, kind_key: "rule"}}
    assert sc.evaluate(about, selected, "m") == sc.Result("0.9", R)
    other = "followed_frequency_kind" if follows == "entropy" else "followed_kind"
    assert sc.evaluate(about, {"page": {"x": 0.9, other: "stand-in"}}, "m") == sc.Result("0.9", R)


def test_page_verdicts_use_the_marks_and_na_on_stand_ins(monkeypatch):
    monkeypatch.setattr(sc, "CLAIMS", [
        claim("C-1", _above_half, follows="entropy", quote="|ΔH| of *the* neuron > $1"),
        claim("C-2", _above_half, control=True), claim("C-3", _above_half, circular="the rule selects it so"),
        claim("C-4", _above_half, page="elsewhere"),
    ])  # fmt: skip
    text = sc.page_verdicts("page", {"x": 0.9, "followed_kind": "stand-in"}, "model-a")
    assert "C-4" not in text and "Claim C-4" not in text
    lines = text.splitlines()
    assert lines[lines.index(next(x for x in lines if "ΔH" in x)) + 1] == f"  - {sc.badge(NA)}: {sc.NO_NEURON}"
    assert text.count(sc.badge(R)) == 2 and "● reproduced" in text and "Control" in text and "Circular, not counted" in text
    assert "\\|ΔH\\| of \\*the\\* neuron \\> \\$1" in text and not EMOJI.search(text)
    on_twin = sc.page_verdicts("page", {"x": 0.9}, TWIN)
    assert "Null twins learned nothing" in on_twin


# --- marks and escaping -----------------------------------------------------------------------


def test_marks_are_distinct_shapes_with_words_and_no_emoji():
    assert len(set(sc.SHAPE.values())) == len(sc.VERDICTS) and len(set(sc.CODE.values())) == len(sc.VERDICTS)
    for verdict in sc.VERDICTS:
        assert sc.MARK[verdict] == f"{sc.SHAPE[verdict]} {verdict}"
        assert not EMOJI.search(sc.MARK[verdict]) and not EMOJI.search(sc.badge(verdict))
        assert f'class="verdict {sc.css_class(verdict)}"' in sc.badge(verdict)
    assert [sc.css_class(v) for v in sc.VERDICTS] == ["v-reproduced", "v-partly", "v-not-reproduced", "v-na"]
    css = (Path(__file__).parents[1] / "book" / "_static" / "verdicts.css").read_text()
    assert all(f".{sc.css_class(v)} " in css for v in sc.VERDICTS)


TRICKY = "|ΔH| ≥ 2 *and* _x_ [a](b) $k$ <b>bold</b> & `code` \\ #1 {x} ~y~"


def test_md_escape_keeps_every_character_literal_in_text_and_in_a_table_cell():
    md = MarkdownIt("commonmark").enable("table")
    rendered = md.render(sc.md_escape(TRICKY)).strip()
    assert rendered == f"<p>{html.escape(TRICKY, quote=False)}</p>"
    table = md.render(f"| a | b |\n| --- | --- |\n| {sc.md_escape(TRICKY)} | 2 |\n")
    cells = re.findall(r"<td>(.*?)</td>", table)
    assert cells == [html.escape(TRICKY, quote=False), "2"]


def test_point_drops_intervals_and_keeps_cells_short():
    assert sp.point("0.49 [0.41, 0.57]") == "0.49"
    assert sp.point("28 [21, 35]; 0 [0, 0]") == "28; 0"
    assert sp.point("1.46e+03 [1.2e+03, 1.7e+03]") == "1.46e+03"
    assert sp.point("not measured at all") == "not measu…" and len(sp.point("x" * 40)) == 10


class _Cells(HTMLParser):
    """Rows of the first table: [(tag, attrs, text)] per <tr>."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[list]] = []
        self.cell: list | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = [tag, dict(attrs), ""]
            self.rows[-1].append(self.cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[2] += data


def test_matrix_escapes_text_and_has_a_verdict_per_model_in_every_row(tmp_path):
    chapters = {}
    for name in ("model-a", TWIN):
        (chapters.setdefault(name, tmp_path / "runs" / name.replace(":", "_"))).mkdir(parents=True)
    (chapters["model-a"] / "page.ipynb").write_text("{}")
    claims = [claim("C-1", quote=TRICKY), claim("C-2", circular="restates <the> rule"), claim("C-3", paper="Other")]
    per_model = {"model-a": [res(R, "<1 | 2> [0, 3]"), res(R), res(NA, "not run")], TWIN: [res(P), res(N), res(N)]}
    rows = sc.judged(claims, per_model)
    block = sp.matrix(rows, chapters, tmp_path)
    assert "\n\n" not in block and not EMOJI.search(block)  # one HTML block for Markdown
    parser = _Cells()
    parser.feed(block)
    header, *body = parser.rows
    assert [c[2] for c in header] == ["claim", "model-a", "model-anull-init twin"]
    groups = [r for r in body if len(r) == 1]
    assert [g[0][2] for g in groups] == ["Demo 2026", "Other"] and all(g[0][1]["colspan"] == "3" for g in groups)
    claim_rows = [r for r in body if len(r) > 1]
    assert len(claim_rows) == 3
    for row in claim_rows:
        assert [c[0] for c in row] == ["th", "td", "td"]
        for cell in row[1:]:
            assert re.fullmatch(r"[●◐○–]\xa0(R|P|N|n/a)\*?( \S.*)?", cell[2]), cell
            assert cell[1]["class"].split()[0] in {sc.css_class(v) for v in sc.VERDICTS}
    first = claim_rows[0]
    assert first[0][2].startswith("C-1 " + sp.short(TRICKY)) and "no discr." in first[0][2]
    assert first[1][2] == "◐\xa0P* <1 | 2>" and "capped" in first[1][1]["title"]  # escaped, capped by the twin
    assert 'href="runs/model-a/page.html"' in block and f'href="#{sp.anchor(claims[0])}"' in block
    assert "circular" in claim_rows[1][0][2] and "restates &lt;the&gt; rule" in block
    assert claim_rows[2][1][2] == "–\xa0n/a"


def test_details_and_page_link_every_claim_and_say_what_the_twins_show(tmp_path):
    chapters = {"model-a": tmp_path / "a", TWIN: tmp_path / "t"}
    claims = [claim("S-10a", quote=TRICKY), claim("C-2", control=True)]
    rows = sc.judged(claims, {"model-a": [res(R), res(R)], TWIN: [res(R), res(R)]})
    lines = sp.details(rows[0], chapters, tmp_path)
    assert lines[0] == "(claim-s-10a)=" and sp.anchor(claims[0]) == "claim-s-10a"
    text = "\n".join(lines)
    assert "**does not discriminate**" in text and f"`{TWIN}`" in text and sc.md_escape(TRICKY) in text
    assert "capped to partly" in text and sc.badge(P) in text
    assert "exempt" in sp.twin_test(rows[1])
    assert sp.passing_lines(rows) == ["- Does not discriminate (reproduced or partly on a null twin; no model scores "
                                      "better than partly): {ref}`S-10a <claim-s-10a>`."]
