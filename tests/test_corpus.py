"""Tests for helpers.corpus: documents, the paper's rows, and the paper's token filter."""

from __future__ import annotations

import bz2
import json
from xml.sax.saxutils import escape

import datasets
import pandas as pd
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from helpers import corpus
from helpers.corpus import (
    load_documents,
    make_rows,
    newline_token_ids,
    parse_wiki_dump,
    token_filter,
)
from helpers.errors import CorpusError

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def byte_tok():
    """Byte-level tokenizer without merges: id 0 is <|endoftext|>, every byte is one token.

    A post-processor prepends <|endoftext|> when special tokens are requested, so a test can
    see whether make_rows asked the tokenizer not to add them.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {EOT: 0, **{ch: i + 1 for i, ch in enumerate(alphabet)}}
    tk = Tokenizer(models.BPE(vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.TemplateProcessing(
        single=f"{EOT} $A", special_tokens=[(EOT, 0)]
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=EOT, eos_token=EOT)
    return tok, vocab


# ----------------------------------------------------------------------------- rows


def _ids(vocab: dict[str, int], text: str) -> list[int]:
    # printable ASCII letters are their own byte-level symbols
    return [vocab[c] for c in text]


def test_rows_are_bos_plus_consecutive_chunks_of_the_eos_joined_stream(byte_tok):
    tok, v = byte_tok
    E = 0
    docs = ["ab", "cde", "f", "ghij"]
    # stream: a b E c d e E f E g h i j  (13 tokens) -> chunks of 3, 'j' dropped
    a, b, c, d, e, f, g, h, i = _ids(v, "abcdefghi")
    unshuffled = [[E, a, b, E], [E, c, d, e], [E, E, f, E], [E, g, h, i]]

    rows = make_rows(tok, docs, bos_id=E, eos_id=E, seq_len=4, seed=42)

    assert rows.dtype == torch.long and rows.shape == (4, 4)
    assert (rows[:, 0] == E).all()
    # the order is datasets' own Dataset.shuffle(seed=42), as in the paper
    expected = datasets.Dataset.from_dict({"tokens": unshuffled}).shuffle(seed=42)["tokens"]
    assert rows.tolist() == [list(r) for r in expected]
    assert sorted(rows.tolist()) == sorted(unshuffled)


def test_rows_use_the_given_bos_and_eos_ids(byte_tok):
    tok, v = byte_tok
    rows = make_rows(tok, ["ab", "c"], bos_id=7, eos_id=9, seq_len=3, seed=0)
    a, b, c = _ids(v, "abc")
    # stream: a b 9 c -> chunks [a b] [9 c]
    assert sorted(rows.tolist()) == sorted([[7, a, b], [7, 9, c]])


def test_rows_n_rows_and_seed(byte_tok):
    tok, _ = byte_tok
    docs = ["the quick brown fox jumps over the lazy dog " * 20]
    all_rows = make_rows(tok, docs, bos_id=0, eos_id=0, seq_len=8)
    assert all_rows.shape == (len(docs[0]) // 7, 8)
    again = make_rows(tok, docs, bos_id=0, eos_id=0, seq_len=8)
    assert torch.equal(all_rows, again)
    other = make_rows(tok, docs, bos_id=0, eos_id=0, seq_len=8, seed=43)
    assert not torch.equal(all_rows, other)
    assert sorted(all_rows.tolist()) == sorted(other.tolist())
    first5 = make_rows(tok, docs, bos_id=0, eos_id=0, seq_len=8, n_rows=5)
    assert torch.equal(first5, all_rows[:5])


def test_rows_too_few_raise(byte_tok):
    tok, _ = byte_tok
    # 10 + 1 + 10 = 21 tokens -> 2 rows of 1 + 10
    with pytest.raises(CorpusError, match=r"yields 2 rows.*n_rows <= 2.*larger corpus"):
        make_rows(tok, ["a" * 10, "b" * 10], bos_id=0, eos_id=0, seq_len=11, n_rows=3)
    with pytest.raises(CorpusError, match="yields 0 rows"):
        make_rows(tok, ["abc"], bos_id=0, eos_id=0, seq_len=256)


# ----------------------------------------------------------------------------- filter


def test_token_filter_matches_hand_mask():
    BOS, EOS, NL, x = 0, 1, 9, 5
    rows = torch.tensor(
        [
            [BOS, x, x, x, x, x, x, x, x, x],
            [BOS, x, x, x, NL, x, EOS, x, x, x],
            [BOS, x, x, x, x, x, x, x, BOS, x],
            [BOS, x, EOS, x, x, x, x, x, x, NL],
        ]
    )
    T, F = True, False
    expected = torch.tensor(
        [
            # positions 3..8 kept, 9 (last) dropped
            [F, F, F, T, T, T, T, T, T, F],
            # 3: target NL; 4: NL; 5: target EOS; 6: EOS
            [F, F, F, F, F, F, F, T, T, F],
            # 7: target BOS; 8: BOS
            [F, F, F, T, T, T, T, F, F, F],
            # 8: target NL; the EOS at 2 is before `first` anyway
            [F, F, F, T, T, T, T, T, F, F],
        ]
    )
    mask = token_filter(rows, bos_id=BOS, eos_id=EOS, newline_ids=[NL])
    assert mask.dtype == torch.bool
    assert torch.equal(mask, expected)


def test_token_filter_without_newlines_and_custom_window():
    rows = torch.tensor([[0, 5, 5, 5, 9, 5, 5, 5]])
    # no newline ids: 9 is an ordinary token; window 2 <= pos < 6
    mask = token_filter(rows, bos_id=0, eos_id=0, first=2, last=6)
    assert mask.tolist() == [[False, False, True, True, True, True, False, False]]
    # last beyond the row is clipped: the final position never has a target
    mask = token_filter(rows, bos_id=0, eos_id=0, first=0, last=100)
    assert mask.tolist() == [[False, True, True, True, True, True, True, False]]


def test_newline_token_ids(byte_tok):
    tok, v = byte_tok
    # GPT-2's byte-to-unicode map sends byte 10 ('\n') to chr(256 + 10) = 'Ċ'
    assert newline_token_ids(tok) == [v["Ċ"]]


# ----------------------------------------------------------------------------- wikipedia

ALPHA_WIKITEXT = """
{{Infobox thing|name=Alpha}}
'''Alpha''' is a ''letter''.<ref>Letters, 1999, p. 3</ref> See [[Beta|the second]].<ref name=x/>
[[File:Alpha.png|thumb|An [[alpha]] caption]]



Second paragraph with [[Gamma]].<ref>{{cite book|title=Letters}}</ref>
[[Category:Letters]]
[[fr:Alpha]]
"""

# Real dumps escape the wikitext inside <text>; so must this one.
MINI_DUMP = f"""<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <page><title>Alpha</title><ns>0</ns><id>1</id>
    <revision><text xml:space="preserve">{escape(ALPHA_WIKITEXT)}</text></revision></page>
  <page><title>AlphaRedirect</title><ns>0</ns><id>2</id><redirect title="Alpha" />
    <revision><text>#REDIRECT [[Alpha]]</text></revision></page>
  <page><title>Wikipedia:Policy</title><ns>4</ns><id>3</id>
    <revision><text>Project page text.</text></revision></page>
  <page><title>Empty</title><ns>0</ns><id>4</id><revision><text>{{{{stub}}}}</text></revision></page>
</mediawiki>
"""


def test_parse_wiki_dump_on_a_hand_made_dump(tmp_path):
    path = tmp_path / "mini.xml.bz2"
    path.write_bytes(bz2.compress(MINI_DUMP.encode()))
    assert parse_wiki_dump(path) == [
        "Alpha is a letter. See the second.\n\nSecond paragraph with Gamma."
    ]


def test_wikipedia_sample():
    docs = load_documents("wikipedia-sample")
    assert 100 <= len(docs) <= 110  # 106 articles once redirects are dropped (the gensim sample, Methods: stolfo-corpus)
    words = sum(len(d.split()) for d in docs)
    assert 300_000 <= words <= 700_000
    for d in docs:
        assert d == d.strip() and d
        assert not d.upper().startswith("#REDIRECT")
        for markup in ("[[", "]]", "{{", "}}", "<ref", "thumb|", "\n\n\n", "'''"):
            assert markup not in d, (markup, d[:80])
        assert not any(line.startswith(("Category:", "File:")) for line in d.splitlines())
    assert load_documents("wikipedia-sample", n_docs=3) == docs[:3]


# ----------------------------------------------------------------------------- local files


def test_local_files(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("one\n\ntwo\fthree\f \n")
    assert load_documents(str(txt)) == ["one\n\ntwo", "three"]
    jl = tmp_path / "a.jsonl"
    jl.write_text(json.dumps({"text": "x y"}) + "\n\n" + json.dumps({"text": "", "id": 2}) + "\n")
    assert load_documents(str(jl)) == ["x y"]
    pq = tmp_path / "a.parquet"
    pd.DataFrame({"text": ["p", "q", "r"], "n": [1, 2, 3]}).to_parquet(pq)
    assert load_documents(str(pq), n_docs=2) == ["p", "q"]


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda p: "no-such-corpus", r"unknown corpus.*'wikipedia-sample'.*\.jsonl"),
        (lambda p: str(p / "missing.txt"), r"does not exist.*Check the path"),
        (lambda p: _write(p / "a.csv", "text\nhi\n"), r"unsupported extension '\.csv'.*parquet"),
        (lambda p: _write(p / "a.jsonl", '{"body": "hi"}\n'), r'no string field "text".*\{"text"'),
        (lambda p: _write(p / "b.jsonl", "not json\n"), r"not valid JSON.*one JSON object per line"),
        (lambda p: _parquet(p / "a.parquet", {"body": ["hi"]}), r"no column 'text'.*Rename"),
        (lambda p: _write(p / "e.txt", " \n\f\n"), r"no non-empty documents.*wikipedia-sample"),
        (lambda p: _write(p / "e.jsonl", '{"text": "  "}\n'), r"no non-empty documents"),
    ],
)
def test_load_documents_errors(tmp_path, make, pattern):
    with pytest.raises(CorpusError, match=pattern):
        load_documents(make(tmp_path))


def _write(path, text):
    path.write_text(text)
    return str(path)


def _parquet(path, columns):
    pd.DataFrame(columns).to_parquet(path)
    return str(path)


# ----------------------------------------------------------------------------- c4


def test_c4_offline_raises(monkeypatch):
    def no_hub(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'stas/c4-en-10k' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    with pytest.raises(CorpusError, match=r"Hub is unreachable.*wikipedia-sample.*\.txt"):
        load_documents("c4")


def test_c4_happy_path(monkeypatch):
    calls = []

    def fake_hub(name, **kwargs):
        calls.append((name, kwargs))
        return {"text": ["doc one", "", "doc two", "doc three"]}

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    assert load_documents("c4", n_docs=2) == ["doc one", "doc two"]
    assert calls == [(corpus.C4_DATASET, {"split": "train"})]
    assert corpus.C4_DATASET == "stas/c4-en-10k"


# --------------------------------------------------------------------------------------------
# python-stdlib
# --------------------------------------------------------------------------------------------


def _fake_stdlib(root):
    """A small library tree: code, test suites and tools to skip, a non-UTF-8 file, an empty one."""
    files = {
        "zlib_like.py": "def z():\n    return 1\n",
        "abc_mod.py": "A = 1\n",
        "json/__init__.py": "import json.decoder\n",
        "json/decoder.py": "class D: pass\n",
        "json/tests/test_x.py": "assert 1\n",
        "test/test_all.py": "assert 2\n",
        "unittest/test/test_case.py": "assert 3\n",
        "idlelib/editor.py": "EDIT = 1\n",
        "lib2to3/fixer.py": "FIX = 1\n",
        "site-packages/numpy/__init__.py": "NP = 1\n",
        "empty.py": "   \n",
        "notes.txt": "not python\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / "latin.py").write_bytes("s = 'caf\u00e9'\n".encode("latin-1"))
    return root


def test_python_stdlib_files_skip_tests_and_tools(tmp_path):
    root = _fake_stdlib(tmp_path)
    rel = [p.relative_to(root).as_posix() for p in corpus.python_stdlib_files(root)]
    assert rel == ["abc_mod.py", "empty.py", "json/__init__.py", "json/decoder.py", "latin.py", "zlib_like.py"]


def test_python_stdlib_documents_and_content_hash(tmp_path, monkeypatch):
    import hashlib

    from helpers import provenance

    root = _fake_stdlib(tmp_path)
    monkeypatch.setattr(corpus, "_stdlib_root", lambda: root)
    provenance.reset()
    docs = load_documents("python-stdlib")
    # sorted paths, one document per file; the empty file dropped, the latin-1 one skipped
    assert docs == ["A = 1", "import json.decoder", "class D: pass", "def z():\n    return 1"]
    assert load_documents("python-stdlib") == docs  # deterministic
    h = hashlib.sha256()
    for rel in ["abc_mod.py", "empty.py", "json/__init__.py", "json/decoder.py", "latin.py", "zlib_like.py"]:
        data = (root / rel).read_bytes()
        h.update(f"{rel}\t{len(data)}\n".encode() + data)
    note = provenance._NOTES["corpora"][-1]
    assert note["corpus"] == "python-stdlib" and note["content_sha256"] == h.hexdigest()
    assert corpus.corpus_fingerprint("python-stdlib") == "stdlib-" + h.hexdigest()[:16]
    (root / "abc_mod.py").write_text("A = 2\n")  # same size, other content: another fingerprint
    assert corpus.corpus_fingerprint("python-stdlib") != "stdlib-" + h.hexdigest()[:16]


def test_python_stdlib_of_this_interpreter():
    """The real library: hundreds of modules, no test suite, and code (a def or class in most)."""
    import sysconfig
    from pathlib import Path

    files = corpus.python_stdlib_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    rel = [p.relative_to(root).as_posix() for p in files]
    assert len(files) > 300 and rel == sorted(rel, key=str)
    assert "os.py" in rel and "json/decoder.py" in rel
    assert not any(part in corpus.STDLIB_EXCLUDED_DIRS for r in rel for part in r.split("/")[:-1])
    docs = load_documents("python-stdlib")
    assert sum(("def " in d or "class " in d) for d in docs) > 0.8 * len(docs)
