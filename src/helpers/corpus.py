"""Text corpora, the paper's 256-token rows, and the paper's per-token filter.

Book: Methods, stolfo-corpus and stolfo-token-filter.

Corpora (``load_documents``):

* ``"wikipedia-sample"`` (offline default): 106 English Wikipedia articles from the gensim test
  dump (asset ``enwiki-sample.xml.bz2``), wiki markup stripped with ``mwparserfromhell``.
* ``"c4"``: the paper's ``stas/c4-en-10k`` from the Hugging Face Hub (online only).
* ``"python-stdlib"`` (offline, a second domain: source code, as Voita et al.'s Codeparrot data):
  the Python source files of the running interpreter's standard library, one document per file
  (see :func:`python_stdlib_files`). Its content differs between Python versions, so anything
  cached from it is keyed by :func:`corpus_fingerprint`, a sha256 over the files' paths and bytes.
* a local ``.txt`` / ``.jsonl`` / ``.parquet`` file.

Rows (``make_rows``): documents joined with EOS, tokenised, cut into chunks of ``seq_len - 1``
tokens, each prefixed with BOS, shuffled with ``seed``; the same rows as TransformerLens'
``tokenize_and_concatenate`` followed by ``Dataset.shuffle(seed)``, except that the whole corpus
is one token stream (TL concatenates per ``map`` batch of 1000 documents).
"""

from __future__ import annotations

import bz2
import codecs
import hashlib
import json
import logging
import os
import re
import sysconfig
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mwparserfromhell
import numpy as np
import torch
from mwparserfromhell import nodes as mw_nodes
from mwparserfromhell.wikicode import Wikicode

from helpers import provenance
from helpers.errors import CorpusError
from helpers.io import atomic_path, cache_dir, content_identity, discard, read_json

log = logging.getLogger(__name__)

WIKI_ASSET = "enwiki-sample.xml.bz2"
# Bump when the wiki cleaning changes: the cache key includes it.
WIKI_PARSER_VERSION = "wiki-v2"
C4_DATASET = "stas/c4-en-10k"
STDLIB = "python-stdlib"
NAMES = ("wikipedia-sample", "c4", STDLIB)
# Parts of the standard library that are not library code: test suites, the IDLE application, the
# removed 2to3 tool, and third-party packages installed beside it.
STDLIB_EXCLUDED_DIRS = frozenset({"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages"})
EXTENSIONS = (".txt", ".jsonl", ".parquet")
TXT_SEPARATOR = "\f"

# Wikilinks to these namespaces render as images or page footers, not as article text.
_DROPPED_LINK_NAMESPACES = frozenset({"file", "image", "category"})
# Footnotes: strip_code() would keep their citation text inline ("...in 2010.CDC | Home | ...").
_DROPPED_TAGS = frozenset({"ref", "references"})


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


def load_documents(name: str, *, n_docs: int | None = None) -> list[str]:
    """The non-empty documents of corpus ``name`` (the first ``n_docs`` of them if given).

    ``name`` is ``"wikipedia-sample"``, ``"c4"``, ``"python-stdlib"``, or a path to a local file:

    * ``.txt``: the whole file is one document, unless it contains form feeds (``"\\f"``),
      which separate documents;
    * ``.jsonl``: one JSON object per line with a string field ``"text"``;
    * ``.parquet``: a string column ``"text"``.

    Documents are stripped of surrounding whitespace; empty ones are dropped.
    """
    if n_docs is not None and n_docs < 1:
        raise CorpusError(f"n_docs must be a positive integer or None, got {n_docs!r}.")
    note: dict[str, Any] = {}
    if name == "wikipedia-sample":
        docs = _wikipedia_sample()
    elif name == "c4":
        docs = _c4()
    elif name == STDLIB:
        files = python_stdlib_files()
        docs = _read_source_files(files)
        note = {"content_sha256": _files_digest(files), "python": sysconfig.get_python_version()}
    else:
        docs = _local_file(name)
    docs = [d.strip() for d in docs if isinstance(d, str) and d.strip()]
    if not docs:
        raise CorpusError(
            f"corpus {name!r} contains no non-empty documents. Point `corpus` at a file with text "
            'in it, or use corpus="wikipedia-sample".'
        )
    docs = docs[:n_docs] if n_docs is not None else docs
    provenance.note("corpora", corpus=content_identity(name), documents=len(docs), **note)
    return docs


def corpus_fingerprint(name: str) -> str:
    """A short id of what corpus ``name`` contains, for cache keys: for ``python-stdlib`` the
    sha256 over its files' paths and bytes (it differs between Python versions); for the Wikipedia
    sample the asset's sha256 and the parser version; for a local file its content's sha256
    (:func:`helpers.io.content_identity`); for ``c4`` (a fixed dataset) the name itself."""
    if name == STDLIB:
        return "stdlib-" + _files_digest(python_stdlib_files())[:16]
    if name == "wikipedia-sample":
        from helpers.assets import ASSETS

        return f"wiki-{ASSETS[WIKI_ASSET].sha256[:16]}-{WIKI_PARSER_VERSION}"
    return content_identity(name)  # a local file: its content's sha256


# --------------------------------------------------------------------------------------------
# Python standard library
# --------------------------------------------------------------------------------------------


def python_stdlib_files(root: str | Path | None = None) -> list[Path]:
    """The ``*.py`` files under ``root`` (default: this interpreter's standard library,
    ``sysconfig.get_paths()["stdlib"]``), skipping every directory named in
    ``STDLIB_EXCLUDED_DIRS`` (test suites ``test/`` and ``tests/``, ``idlelib``, ``lib2to3``,
    ``site-packages``), sorted by their path relative to ``root`` (deterministic)."""
    root = _stdlib_root() if root is None else Path(root)
    if not root.is_dir():
        raise CorpusError(f"the Python standard library folder {str(root)!r} does not exist; this interpreter "
                          'ships without its sources. Use corpus="wikipedia-sample" or a local file.')
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in STDLIB_EXCLUDED_DIRS and d != "__pycache__")
        found += [Path(folder) / f for f in files if f.endswith(".py")]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _read_source_files(files: list[Path]) -> list[str]:
    """Each file's text as UTF-8; files that are not valid UTF-8 are skipped (logged)."""
    docs = []
    for path in files:
        try:
            docs.append(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            log.info("python-stdlib: skipping %s (not UTF-8)", path)
    return docs


def _files_digest(files: list[Path], root: Path | None = None) -> str:
    """sha256 over each file's path relative to ``root`` (default: the standard library folder),
    its size and its bytes (~0.1 s for the 11 MB of Python 3.11's library)."""
    root = _stdlib_root() if root is None else root
    h = hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\t{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()


def _local_file(name: str) -> list[str]:
    path = Path(name).expanduser()
    suffix = path.suffix.lower()
    looks_like_path = suffix in EXTENSIONS or "/" in name or "\\" in name
    if not path.exists():
        if looks_like_path:
            raise CorpusError(
                f"corpus file {str(path)!r} does not exist. Check the path, or use "
                'corpus="wikipedia-sample" (offline).'
            )
        raise CorpusError(
            f"unknown corpus {name!r}: it is neither a known name nor an existing file. "
            f"Use one of {', '.join(repr(n) for n in NAMES)}, or a path to a local "
            f"{', '.join(EXTENSIONS)} file."
        )
    if not path.is_file():
        raise CorpusError(f"corpus path {str(path)!r} is not a file. Pass a path to a file.")
    if suffix not in EXTENSIONS:
        raise CorpusError(
            f"corpus file {str(path)!r} has unsupported extension {suffix or '(none)'!r}. "
            f"Convert it to one of {', '.join(EXTENSIONS)} (text in a `text` field/column)."
        )
    try:
        if suffix == ".txt":
            return path.read_text(encoding="utf-8").split(TXT_SEPARATOR)
        if suffix == ".jsonl":
            return _read_jsonl(path)
        return _read_parquet(path)
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from e
    except OSError as e:
        raise CorpusError(f"cannot read corpus file {str(path)!r}: {e.strerror or e}. Check its permissions.") from e


def _not_utf8(path: Path, e: UnicodeDecodeError) -> CorpusError:
    return CorpusError(
        f"corpus file {str(path)!r} is not UTF-8 text (byte {e.object[e.start:e.start + 1]!r} cannot be decoded; "
        f"{e.reason}). Convert it to UTF-8, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`."
    )


def check_corpus(name: str) -> str:
    """Check without tokenising that ``name`` is a known corpus or a readable local file of a
    supported kind (``.txt``/``.jsonl``: decodable as UTF-8); return ``name``. For the suite runner,
    which checks every page's corpus before it starts a kernel."""
    if not isinstance(name, str) or not name:
        raise CorpusError(f"corpus must be a name or a path, got {name!r}. Use \"wikipedia-sample\" (offline).")
    if name in NAMES:
        return name
    path = Path(name).expanduser()
    if not path.is_file() or path.suffix.lower() not in EXTENSIONS:
        _local_file(name)  # raises the message for a missing, unknown or unsupported corpus
    if path.suffix.lower() in (".txt", ".jsonl"):
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            raise _not_utf8(path, e) from e
        except OSError as e:
            raise CorpusError(f"cannot read corpus file {str(path)!r}: {e.strerror or e}. Check its permissions.") from e
    return name


def _read_jsonl(path: Path) -> list[str]:
    docs: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(
                    f"{path}:{lineno} is not valid JSON ({e.msg}). Write one JSON object per line."
                ) from e
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise CorpusError(
                    f'{path}:{lineno} has no string field "text". Each line must be a JSON '
                    'object like {"text": "..."}.'
                )
            docs.append(obj["text"])
    return docs


def _read_parquet(path: Path) -> list[str]:
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        raise CorpusError(f"corpus file {str(path)!r} is not a readable parquet file ({type(e).__name__}: {e}). "
                          "Write it again with pandas' DataFrame.to_parquet.") from e
    if "text" not in df.columns:
        raise CorpusError(
            f"{path} has no column 'text' (columns: {', '.join(map(str, df.columns))}). "
            "Rename the column that holds the documents to 'text'."
        )
    return [t for t in df["text"].tolist() if isinstance(t, str)]


def _c4() -> list[str]:
    try:
        import datasets

        return list(datasets.load_dataset(C4_DATASET, split="train")["text"])
    except Exception as e:  # offline, Hub down, gated, ...: all mean "not reachable from here"
        raise CorpusError(
            f"could not load {C4_DATASET!r}: the Hugging Face Hub is unreachable "
            f"({type(e).__name__}: {e}). Use corpus=\"wikipedia-sample\" (offline), or a local "
            f"{', '.join(EXTENSIONS)} file."
        ) from e


# --------------------------------------------------------------------------------------------
# Wikipedia sample
# --------------------------------------------------------------------------------------------


def _wikipedia_sample() -> list[str]:
    """Articles of the gensim dump, parsed once and cached as JSON (key: asset sha256 + parser
    version) with the sha256 of the documents, checked on every read."""
    from helpers.assets import ASSETS, fetch

    sha = ASSETS[WIKI_ASSET].sha256
    cached = cache_dir() / "corpora" / f"wikipedia-sample-{sha[:16]}-{WIKI_PARSER_VERSION}.json"
    if cached.exists():
        payload = read_json(cached)
        docs = payload.get("documents") if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or not isinstance(docs, list):
            problem = "unreadable"
        elif "documents_sha256" not in payload:
            problem = "no checksum: made by an older version"
        elif payload["documents_sha256"] != _documents_sha256(docs):
            problem = "its documents do not match their sha256"
        else:
            return docs
        discard(cached, problem, "cached corpus")
    t0 = time.perf_counter()
    docs = parse_wiki_dump(fetch(WIKI_ASSET))
    log.info("parsed %d wikipedia articles in %.1f s", len(docs), time.perf_counter() - t0)
    with atomic_path(cached) as tmp:
        payload = {"asset_sha256": sha, "parser": WIKI_PARSER_VERSION, "documents_sha256": _documents_sha256(docs),
                   "documents": docs}
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return docs


def _documents_sha256(docs: list[Any]) -> str:
    return hashlib.sha256(json.dumps(docs, ensure_ascii=False).encode("utf-8")).hexdigest()


def parse_wiki_dump(path: str | Path) -> list[str]:
    """Plain text of every article (namespace 0, not a redirect) in a bz2 MediaWiki XML dump."""
    docs = []
    for wikitext in _iter_article_wikitext(Path(path)):
        text = wikitext_to_text(wikitext)
        if text:
            docs.append(text)
    return docs


def _iter_article_wikitext(path: Path) -> Iterable[str]:
    """Wikitext of each ``<page>`` with ``<ns>0</ns>`` and no ``<redirect>``; any XML namespace."""
    with bz2.open(path, "rb") as f:
        for _, elem in ET.iterparse(f, events=("end",)):
            if _local(elem.tag) != "page":
                continue
            fields = {_local(child.tag): child for child in elem.iter()}
            ns = fields.get("ns")
            text = fields.get("text")
            is_article = ns is not None and (ns.text or "").strip() == "0"
            if is_article and "redirect" not in fields and text is not None and text.text:
                yield text.text
            elem.clear()


def _local(tag: str) -> str:
    """``{http://...}page`` -> ``page``."""
    return tag.rsplit("}", 1)[-1]


def wikitext_to_text(wikitext: str) -> str:
    """Article text of ``wikitext``.

    Rules: parse with ``mwparserfromhell`` (``skip_style_tags=True``: unbalanced ``''`` otherwise
    make the parser give up on whole paragraphs and leave raw ``[[``/``{{``/``<ref>`` markup);
    remove ``<ref>``/``<references>`` footnotes, links to File:/Image:/Category: pages and
    interlanguage/interwiki links without display text (e.g. ``[[fr:Agronomie]]``);
    ``strip_code()``; drop the bold/italic quote runs left in
    text; strip trailing spaces on lines, collapse 3+ newlines to 2.
    """
    code = mwparserfromhell.parse(wikitext, skip_style_tags=True)
    _prune(code)
    text = code.strip_code(normalize=True, collapse=True)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _prune(code: Wikicode) -> None:
    """In place, one pass over the tree: drop footnotes and non-text links, and the quote markup
    of text nodes, in every part of a node that ``strip_code()`` shows (templates it drops)."""
    kept = []
    for node in code.nodes:
        if isinstance(node, mw_nodes.Tag) and node.tag.strip().lower() in _DROPPED_TAGS:
            continue
        if isinstance(node, mw_nodes.Wikilink) and _is_non_text_link(node):
            continue
        if isinstance(node, mw_nodes.Text):
            node.value = _drop_quote_runs(node.value)
        for child in (
            getattr(node, "contents", None),  # Tag
            getattr(node, "text", None),  # Wikilink
            getattr(node, "title", None),  # Heading, ExternalLink, Wikilink
        ):
            if isinstance(child, Wikicode):
                _prune(child)
        kept.append(node)
    code.nodes = kept


def _is_non_text_link(link: Any) -> bool:
    """True for ``[[File:..]]``, ``[[Image:..]]``, ``[[Category:..]]`` (not ``[[:Category:..]]``,
    which renders as text) and for ``[[xx:Title]]`` with a lower-case prefix and no display text
    (interlanguage links, which render nowhere in the article body)."""
    title = str(link.title).strip()
    if title.startswith(":") or ":" not in title:
        return False
    prefix = title.split(":", 1)[0].strip()
    if prefix.lower() in _DROPPED_LINK_NAMESPACES:
        return True
    bare = prefix.replace("-", "")
    return link.text is None and prefix.islower() and bare.isascii() and bare.isalpha()


def _drop_quote_runs(text: str) -> str:
    """MediaWiki quote markup in plain text: runs of 2, 3 or 5 apostrophes (italic, bold, both)
    vanish, a run of 4 leaves one apostrophe, a run of n > 5 leaves n - 5; single ones stay."""
    if "''" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        n = len(m.group())
        return "'" if n == 4 else "'" * max(n - 5, 0)

    return re.sub(r"'{2,}", repl, text)


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def make_rows(
    tokenizer: Any,
    documents: list[str],
    *,
    bos_id: int,
    eos_id: int,
    seq_len: int = 256,
    n_rows: int | None = None,
    seed: int = 42,
    cache: bool = True,
) -> torch.LongTensor:
    """The paper's rows, shape ``[n_rows, seq_len]``.

    stream = doc_0 EOS doc_1 EOS ... doc_{n-1} (tokenised without the tokenizer's own special
    tokens); row_k = [BOS] + stream[k (seq_len-1) : (k+1) (seq_len-1)] for every complete chunk
    (the last, incomplete one is dropped); rows are reordered by
    ``np.random.default_rng(seed).permutation`` (what ``datasets.Dataset.shuffle(seed)`` does);
    the first ``n_rows`` are returned (all if None).

    The token stream is tokenised once per (tokenizer, documents, EOS id) and kept on disk
    (:func:`cached_token_stream`); with ``cache=False`` it is tokenised afresh.
    """
    if seq_len < 2:
        raise CorpusError(f"seq_len must be at least 2 (BOS + one token), got {seq_len}.")
    if n_rows is not None and n_rows < 1:
        raise CorpusError(f"n_rows must be a positive integer or None, got {n_rows!r}.")
    stream = cached_token_stream(tokenizer, documents, eos_id=eos_id) if cache else \
        token_stream(tokenizer, documents, eos_id=eos_id)
    chunk = seq_len - 1
    n_chunks = len(stream) // chunk
    if n_chunks == 0 or (n_rows is not None and n_chunks < n_rows):
        want = "at least one row" if n_rows is None else f"{n_rows} rows"
        raise CorpusError(
            f"the corpus ({len(documents)} documents, {len(stream)} tokens) yields {n_chunks} rows "
            f"of {seq_len} tokens, but {want} were requested. Ask for n_rows <= {n_chunks}, or "
            "use a larger corpus."
        )
    body = stream[: n_chunks * chunk].reshape(n_chunks, chunk)
    rows = np.concatenate([np.full((n_chunks, 1), bos_id, dtype=np.int64), body], axis=1)
    rows = rows[np.random.default_rng(seed).permutation(n_chunks)]
    if n_rows is not None:
        rows = rows[:n_rows]
    provenance.note("rows", rows=int(rows.shape[0]), seq_len=seq_len)
    return torch.from_numpy(np.ascontiguousarray(rows))


def token_stream(tokenizer: Any, documents: list[str], *, eos_id: int) -> np.ndarray:
    """``doc_0 EOS doc_1 EOS ... doc_{n-1}`` as one int64 array (one batched tokenizer call,
    no special tokens added by the tokenizer)."""
    encoded = tokenizer(list(documents), add_special_tokens=False, verbose=False)["input_ids"]
    pieces: list[np.ndarray] = []
    eos = np.array([eos_id], dtype=np.int64)
    for i, ids in enumerate(encoded):
        if i:
            pieces.append(eos)
        pieces.append(np.asarray(ids, dtype=np.int64))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


STREAM_FORMAT = "stream-v1"  # bump when token_stream's rules change: the cache key includes it


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 (16 hex digits) of everything that decides how ``tokenizer`` splits text: for a fast
    tokenizer its full serialisation (model, vocabulary, merges, normaliser, pre-tokeniser, added
    tokens), else its class, size and sorted vocabulary."""
    h = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps([type(tokenizer).__name__, sorted(tokenizer.get_vocab().items())]).encode())
    h.update(f"|{len(tokenizer)}".encode())
    return h.hexdigest()[:16]


def documents_fingerprint(documents: list[str]) -> str:
    """sha256 (16 hex digits) of the documents' text and boundaries."""
    h = hashlib.sha256()
    for doc in documents:
        data = doc.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:16]


def cached_token_stream(tokenizer: Any, documents: list[str], *, eos_id: int) -> np.ndarray:
    """:func:`token_stream`, kept in ``<cache dir>/token-streams/`` under a key made of the tokenizer's
    fingerprint (vocabulary size included), the documents' content fingerprint, the EOS id and
    :data:`STREAM_FORMAT`; written atomically, so an interrupted write leaves no file behind."""
    key = hashlib.sha256(json.dumps({"tokenizer": tokenizer_fingerprint(tokenizer), "vocab": len(tokenizer),
                                     "documents": documents_fingerprint(documents), "n_documents": len(documents),
                                     "eos_id": int(eos_id), "format": STREAM_FORMAT}, sort_keys=True).encode())
    path = cache_dir() / "token-streams" / f"{key.hexdigest()[:24]}.npz"  # a zip: its CRC-32 is checked on read
    if path.exists():
        try:
            with np.load(path) as data:
                return data["stream"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            discard(path, f"{type(err).__name__}: {err}", "token stream")
    stream = token_stream(tokenizer, documents, eos_id=eos_id)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, stream=stream)
    return stream


# --------------------------------------------------------------------------------------------
# Token filter
# --------------------------------------------------------------------------------------------


def token_filter(
    rows: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    newline_ids: Iterable[int] = (),
    first: int = 3,
    last: int | None = None,
) -> torch.BoolTensor:
    """The paper's filter (``filter_entropy_activation_df``), same shape as ``rows``.

    keep[b, t] = (first <= t < last) and rows[b, t] not in S and rows[b, t+1] not in S,
    with S = {BOS, EOS} | newline_ids and ``last`` defaulting to seq_len - 1 (255 for 256-token
    rows). The final position has no next token and is always dropped.
    """
    if rows.dim() != 2:
        raise CorpusError(
            f"rows must be a 2-D [n_rows, seq_len] tensor, got shape {tuple(rows.shape)}."
        )
    seq_len = rows.shape[1]
    last = seq_len - 1 if last is None else min(last, seq_len - 1)
    special_ids = sorted({bos_id, eos_id, *newline_ids})
    special = torch.tensor(special_ids, dtype=rows.dtype, device=rows.device)
    is_special = torch.isin(rows, special)
    next_special = torch.ones_like(is_special)  # the last position has no target
    next_special[:, :-1] = is_special[:, 1:]
    pos = torch.arange(seq_len, device=rows.device)
    in_range = (pos >= first) & (pos < last)
    return in_range & ~is_special & ~next_special


def newline_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens whose decoded string is exactly ``"\\n"`` (GPT-2: ``[198]``)."""
    ids = range(len(tokenizer))
    decoded = tokenizer.batch_decode([[i] for i in ids], clean_up_tokenization_spaces=False)
    return [i for i, s in zip(ids, decoded) if s == "\n"]
