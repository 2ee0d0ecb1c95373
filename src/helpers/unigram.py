"""The unigram distribution P_freq and the token-frequency direction (book: Methods, stolfo-unigram).

Counts come from a counts file the user gives (e.g. the model's training-data counts), else from
the authors' published files for GPT-2 (OpenWebText) and Pythia (the Pile), downloaded on demand
and verified, else are counted on the evaluation corpus with the model's own tokenizer (streaming
over documents, cached). The last is a departure from the paper, whose P_freq is the training
data's unigram distribution.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformer_lens.model_bridge import TransformerBridge

from helpers.corpus import STDLIB, corpus_fingerprint, load_documents
from helpers.errors import AssetError, OfflineError, ParameterError
from helpers.io import atomic_path, cache_dir, discard
from helpers.weights import effective_w_out, resolve_layer

LOCAL_DIR_ENV = "NEURON_REPRO_UNIGRAM_DIR"  # a folder holding copies of the authors' files
AUTHORS_REPO = "https://raw.githubusercontent.com/bpwu1/confidence-regulation-neurons/main/datasets/"


@dataclass(frozen=True)
class CountsFile:
    file: str
    length: int
    sha256: str


AUTHORS_COUNTS = {
    "gpt2": CountsFile("gpt2-small-unigrams_openwebtext-2M_rows_500000.npy", 50257,
                       "fa9039d6a5acced4b2c5dc9b6f55862574e4d13002b1246b19b55bec1518c9ef"),
    "pythia": CountsFile("pythia-unigrams.npy", 50277,
                         "76e5945bc51540b823f5dbd26bda082995f9beb4334b2c315f9da637f0fa3a8f"),
    "phi-2": CountsFile("phi-2-unigrams_c4_en_validation.npy", 50295,
                        "d6edcf022e6b955c6b7e890a33be81975ec8000fda49f0b8a3ae4505715191e3"),
}
# Which published counts go with which of the paper's models (same tokenizer).
MODEL_COUNTS = {"gpt2-small": "gpt2", "gpt2-medium": "gpt2", "gpt2-large": "gpt2", "stanford-gpt2-small-a": "gpt2",
                "pythia-160m": "pythia", "pythia-410m": "pythia", "pythia-1b": "pythia", "pythia-1.4b": "pythia",
                "pythia-2.8b": "pythia", "phi-2": "phi-2"}


def authors_counts(name: str) -> np.ndarray:
    """The authors' token counts ``name`` (``gpt2``, ``pythia``, ``phi-2``), verified by sha256.

    Looked for in ``$NEURON_REPRO_UNIGRAM_DIR``, then the cache; else downloaded from the authors'
    repository. A file with the wrong hash is never used.
    """
    spec = AUTHORS_COUNTS[name]
    candidates = [Path(os.environ[LOCAL_DIR_ENV]) / spec.file] if os.environ.get(LOCAL_DIR_ENV) else []
    cached = cache_dir() / "unigrams" / spec.file
    for path in candidates + [cached]:
        if path.exists():
            if hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256:
                return np.load(path)
            if path == cached:  # corrupt cache: fetch again
                discard(path, "does not match its published sha256", "cached unigram counts")
    try:
        with urllib.request.urlopen(AUTHORS_REPO + spec.file, timeout=60) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise OfflineError(
            f"could not download the authors' unigram counts {spec.file} ({err}). Fix: run once online, or "
            f"put a copy in a folder and set {LOCAL_DIR_ENV} to it, or count a corpus instead "
            "(unigram_counts(model, corpus=...))."
        ) from err
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise AssetError(f"downloaded {spec.file} does not match its published sha256; not used")
    with atomic_path(cached) as tmp:
        tmp.write_bytes(data)
    return np.load(cached)


def count_tokens(model: TransformerBridge, corpus: str, *, batch_docs: int = 64, progress: bool = True) -> np.ndarray:
    """How often each token id occurs in ``corpus`` under the model's tokenizer (no special tokens
    added), [d_vocab], int64; streamed over batches of documents and cached (keyed by a local
    corpus file's content; stored as ``.npz``, whose CRC-32 is checked on reading)."""
    from helpers.models import weights_fingerprint

    tok = model.tokenizer
    parts = f"{model.cfg.repro_spec.name}|{weights_fingerprint(model)}|{len(tok)}|{corpus}|{corpus_fingerprint(corpus)}"
    path = cache_dir() / "unigrams" / f"counts-{hashlib.sha256(parts.encode()).hexdigest()[:16]}.npz"
    cached = _read_counts(path, model.cfg.d_vocab)
    if cached is not None:
        return cached
    docs = load_documents(corpus)
    counts = np.zeros(model.cfg.d_vocab, dtype=np.int64)
    for start in tqdm(range(0, len(docs), batch_docs), desc="counting tokens", disable=not progress, leave=False):
        for ids in tok(docs[start:start + batch_docs], add_special_tokens=False)["input_ids"]:
            counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=len(counts))[: len(counts)]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, counts=counts)
    return counts


def _read_counts(path: Path, d_vocab: int) -> np.ndarray | None:
    """Cached token counts, or ``None`` (a corrupt file is removed with one warning line)."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            counts = data["counts"]  # reading the member checks its CRC-32
        if counts.shape != (d_vocab,) or counts.dtype != np.int64 or (counts < 0).any():
            raise ValueError(f"shape {counts.shape}, dtype {counts.dtype}; expected ({d_vocab},) int64 >= 0")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        discard(path, str(exc) or type(exc).__name__, "cached token counts")
        return None
    return counts


def unigram_counts(model: TransformerBridge, corpus: str = "wikipedia-sample", *,
                   counts_file: str | None = None) -> tuple[np.ndarray, str]:
    """Counts for ``model``, with a sentence saying where they come from (it names the file's
    sha256 or the corpus content, so that it can serve in cache keys):

    1. ``counts_file`` if given: a ``.npy`` of per-token-id counts for the model's tokenizer
       (e.g. its training data's; see :func:`read_counts_file`);
    2. the authors' published counts for the paper's models;
    3. else tokens of ``corpus`` counted with the model's tokenizer (not the training data's
       distribution, as in the paper: say so where it is used).
    """
    if counts_file is not None:
        counts, sha = read_counts_file(counts_file, model.cfg.d_vocab)
        return counts, f"the counts file `{Path(counts_file).name}` (sha256 {sha[:16]})"
    name = model.cfg.repro_spec.name
    if name in MODEL_COUNTS:
        file = AUTHORS_COUNTS[MODEL_COUNTS[name]].file
        return authors_counts(MODEL_COUNTS[name]), f"the authors' published counts `{file}`"
    source = f"tokens counted on `{corpus}` with the model's tokenizer"
    if corpus == STDLIB or Path(corpus).expanduser().is_file():  # content can change under the same name
        source += f" (content {corpus_fingerprint(corpus)})"
    return count_tokens(model, corpus), source


def read_counts_file(path: str | Path, d_vocab: int) -> tuple[np.ndarray, str]:
    """Per-token-id counts from a ``.npy`` file, validated: a 1-D array of non-negative whole
    numbers (integer dtype, or floats with whole values), at most ``d_vocab`` long (shorter is
    zero-padded later, as Pythia's 50277 counts for its 50304 unembedding rows). Returns
    (counts as int64, the file's sha256)."""
    path = Path(path).expanduser()
    where = f"counts_file {str(path)!r}"
    if path.suffix != ".npy":
        raise ParameterError(f"{where} must be a .npy file (numpy.save of a 1-D array of per-token-id counts)")
    if not path.is_file():
        raise ParameterError(f"{where} does not exist; check the path")
    data = path.read_bytes()
    try:
        counts = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ParameterError(f"{where} is not a readable .npy array ({err}); save it with numpy.save") from err
    if counts.ndim != 1 or counts.size == 0:
        raise ParameterError(f"{where} must hold a non-empty 1-D array (one count per token id), got shape "
                             f"{counts.shape}")
    if counts.dtype.kind == "f":
        if not np.isfinite(counts).all() or (counts != np.round(counts)).any():
            raise ParameterError(f"{where} holds non-integer counts; counts are whole numbers of occurrences")
    elif counts.dtype.kind not in "iu":
        raise ParameterError(f"{where} has dtype {counts.dtype}; counts must be integers")
    if (counts < 0).any():
        raise ParameterError(f"{where} holds negative counts (first at token id {int(np.argmax(counts < 0))})")
    if len(counts) > d_vocab:
        raise ParameterError(f"{where} has {len(counts)} counts but the model's vocabulary has {d_vocab} tokens: "
                             "counts for another tokenizer?")
    return counts.astype(np.int64), hashlib.sha256(data).hexdigest()


def unigram_distribution(counts: np.ndarray, d_vocab: int) -> torch.Tensor:
    """P_freq = (c + 1) / Σ(c + 1), with c zero-padded to the unembedding's vocabulary size first
    (Pythia: 50277 → 50304). float64, [d_vocab]."""
    if len(counts) > d_vocab:
        raise ValueError(f"{len(counts)} counts for a vocabulary of {d_vocab}: wrong tokenizer?")
    padded = np.zeros(d_vocab, dtype=np.float64)
    padded[: len(counts)] = counts
    smoothed = padded + 1
    return torch.from_numpy(smoothed / smoothed.sum())


def frequency_direction(p_freq: torch.Tensor) -> torch.Tensor:
    """u_freq = (log P_freq − mean log P_freq) / ‖·‖: the unit token-frequency direction in logit space."""
    centred = p_freq.log() - p_freq.log().mean()
    return centred / centred.norm()


def frequency_cosines(model: TransformerBridge, u_freq: torch.Tensor, layer: int | None = None) -> torch.Tensor:
    """cos(W_Uᵀ w_i, u_freq) for every neuron of ``layer``: how much each neuron's direct logit
    effect points along the frequency direction (weights only), [d_mlp] float64."""
    layer = resolve_layer(model, layer)
    logit_effect = effective_w_out(model, layer).double() @ model.W_U.detach().double()  # [d_mlp, V]
    return (logit_effect @ u_freq.double().to(logit_effect.device)) / logit_effect.norm(dim=-1)


def kl_from_unigram(logits: torch.Tensor, p_freq: torch.Tensor) -> torch.Tensor:
    """D_KL(P_freq ‖ P_model) = Σ_v P_freq(v) [log P_freq(v) − log P_model(v)] per row of ``logits`` [..., V]."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    p = p_freq.double().to(logits.device)
    return (p * p.log()).sum() - logp @ p


def counted_mass(counts: np.ndarray, d_vocab: int) -> float:
    """The share of P_freq's mass that comes from counted tokens rather than the add-one floor,
    Σc / (Σc + d_vocab) (:func:`unigram_distribution`): how much of P_freq the counts determine."""
    total = float(np.asarray(counts, dtype=np.float64).sum())
    return total / (total + d_vocab)


def kl_true_and_permuted(model: TransformerBridge, rows: torch.Tensor, row: np.ndarray, pos: np.ndarray,
                         p_freq: torch.Tensor, *, n_perm: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per evaluated token (``rows[row[i]]`` at position ``pos[i]``): D_KL(P_freq ‖ P_model) and the mean
    over ``n_perm`` seeded permutations π of the token ids of D_KL(P_freq ∘ π ‖ P_model), float64.

    The permuted reference keeps every probability of P_freq (its entropy too) but not which token
    has it: a model whose output is close to P_freq only because it is broad is as close to it.
    D_KL(Q ‖ P) = Σ q log q − Σ q log p, and Σ q log q is the same for every permutation.
    """
    row, pos = np.asarray(row), np.asarray(pos)
    p = p_freq.double()
    generator = torch.Generator().manual_seed(seed)
    perms = torch.stack([p[torch.randperm(len(p), generator=generator)] for _ in range(n_perm)])  # [n_perm, V]
    neg_entropy = float((p * p.log()).sum())
    true, permuted = np.empty(len(row)), np.empty(len(row))
    for r in np.unique(row):
        at = np.flatnonzero(row == r)
        with torch.no_grad():
            logits = model(rows[int(r)][None].to(model.cfg.device))[0, torch.as_tensor(pos[at])]
        logp = torch.log_softmax(logits.double().cpu(), dim=-1)  # [n, V]
        true[at] = (neg_entropy - logp @ p).numpy()
        permuted[at] = (neg_entropy - logp @ perms.T).mean(1).numpy()
    return true, permuted
