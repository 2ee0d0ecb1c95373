"""The on-disk cache of token streams behind make_rows: same rows, tokenised once, never stale."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from helpers import corpus
from helpers.corpus import make_rows

DOCS = ["alpha beta gamma delta " * 20, "one two three four five " * 20, "the quick brown fox " * 30]


def word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    vocab = {"<eos>": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>", unk_token="[UNK]")


WORDS = sorted(set(" ".join(DOCS).split()))


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path))
    return tmp_path


def count_tokenisations(monkeypatch) -> list[int]:
    calls = []
    original = corpus.token_stream

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(corpus, "token_stream", counted)
    return calls


def test_cached_rows_equal_fresh_rows_and_tokenise_once(cache_home, monkeypatch):
    tok = word_tokenizer(WORDS)
    calls = count_tokenisations(monkeypatch)
    fresh = make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3, cache=False)
    first = make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3)
    again = make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=8, n_rows=5, seed=1)  # other rows, same stream
    assert len(calls) == 2  # the uncached call and the first cached one; the third reads the disk
    torch.testing.assert_close(first, fresh)
    torch.testing.assert_close(again, make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=8, n_rows=5, seed=1, cache=False))
    assert len(list((cache_home / "token-streams").glob("*.npz"))) == 1


def test_the_key_follows_the_documents_tokenizer_and_eos(cache_home, monkeypatch):
    tok = word_tokenizer(WORDS)
    calls = count_tokenisations(monkeypatch)
    base = make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3)
    edited = DOCS[:2] + [DOCS[2].replace("fox", "one")]  # same name, same number of documents, new content
    rows = make_rows(tok, edited, bos_id=0, eos_id=0, seq_len=16, seed=3)
    assert not torch.equal(rows, base)
    torch.testing.assert_close(rows, make_rows(tok, edited, bos_id=0, eos_id=0, seq_len=16, seed=3, cache=False))
    other_tok = word_tokenizer(WORDS[::-1])  # same size, other ids
    torch.testing.assert_close(make_rows(other_tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3),
                               make_rows(other_tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3, cache=False))
    moved = ["alpha beta gamma delta " * 20 + "one two three four five " * 20, "the quick brown fox " * 30]
    joined = make_rows(tok, moved, bos_id=0, eos_id=0, seq_len=16, seed=3)  # one document boundary fewer
    assert not torch.equal(joined, base)
    eos = make_rows(tok, DOCS, bos_id=0, eos_id=1, seq_len=16, seed=3)
    assert (eos == 1).sum() > (base == 1).sum()
    assert len(list((cache_home / "token-streams").glob("*.npz"))) == 5
    assert len(calls) == 7  # every call tokenised: no key served another's entry (2 uncached, 5 cached keys)


def test_an_unreadable_cache_file_is_rebuilt(cache_home):
    tok = word_tokenizer(WORDS)
    rows = make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3)
    (path,) = (cache_home / "token-streams").glob("*.npz")
    good = path.read_bytes()
    path.write_bytes(b"not a numpy file")
    torch.testing.assert_close(make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3), rows)
    # one flipped byte in the stored tokens: the archive's CRC-32 catches it, the stream is rebuilt
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    torch.testing.assert_close(make_rows(tok, DOCS, bos_id=0, eos_id=0, seq_len=16, seed=3), rows)
    assert path.read_bytes() == good
