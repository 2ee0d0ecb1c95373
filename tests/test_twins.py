"""Null twins (helpers.twins): their names, their weights, and their place in the runner and the book.

A twin has its model's architecture, tokenizer and special tokens but has learned nothing; every
verdict should fail on it. These tests check what makes it a fair control: each tensor keeps its
values (shuffled) or is drawn as the architecture's own init draws it (init), ties stay tied, the
same twin comes back on every load, and the runner and the book name it as a twin.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import torch

from helpers import models, profiles, provenance, tiny, twins
from helpers.__main__ import _parser, main
from helpers.errors import OfflineError, ParameterError, UnknownModelError
from helpers.models import load_model, resolve, special_tokens, weights_fingerprint
from helpers.runner.book import _chapter_index, caveat, collect_chapters, model_note
from helpers.runner.checks import prepare_models
from helpers.runner.plan import (
    CHAPTER_FILE,
    CROSS,
    DEFAULT_MODELS,
    Run,
    chapter_name,
    model_identity,
    page_family,
    plan_runs,
)
from helpers.runner.suite import lanes

DATA = Path(__file__).parent / "data" / "notebooks"
ARCHS = list(tiny.BUILDERS)


# --- names --------------------------------------------------------------------------------------


def test_twin_names_resolve_to_their_base_with_its_special_tokens() -> None:
    spec = resolve("null-init:smollm2-135m")
    base = resolve("smollm2-135m")
    assert (spec.name, spec.source, spec.twin, spec.base, spec.trained) == (
        "null-init:smollm2-135m", "twin", "null-init", base, base)
    assert spec.location == base.location and spec.bos_eos_token == base.bos_eos_token == "<|endoftext|>"
    assert spec.description.startswith("untrained control twin of `smollm2-135m`")
    assert any(c.startswith("untrained control: every verdict should fail here") for c in spec.caveats)
    shuffled = resolve("null-shuffled:gemma-3-270m")
    assert shuffled.twin == "null-shuffled" and shuffled.base == resolve("gemma-3-270m")
    assert "permuted" in shuffled.description
    hub = resolve("null-init:EleutherAI/pythia-70m")
    assert hub.base.source == "hub" and hub.location == "EleutherAI/pythia-70m"
    assert twins.parse("smollm2-135m") is None and twins.base_name("null-shuffled:x") == "x"
    assert "null-init:<model>" in models.list_models() and "null-shuffled:<model>" in models.list_models()


@pytest.mark.parametrize(("name", "message"), [
    ("null-foo:smollm2-135m", "unknown twin kind 'null-foo'.*null-init:<model> or null-shuffled:<model>"),
    ("null-init:", "names no model"),
    ("null-init:null-shuffled:smollm2-135m", "twin of a twin; name the trained model: null-init:smollm2-135m"),
    ("null-init:smollm3", "null twin null-init:smollm3 names an unknown model: unknown model 'smollm3'"),
])
def test_bad_twin_names_say_what_a_twin_is(name: str, message: str) -> None:
    with pytest.raises(UnknownModelError, match=message):
        resolve(name)


# --- weights --------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_null_shuffled_permutes_every_tensor_and_keeps_its_values(arch: str) -> None:
    base, _ = tiny.build(arch)
    twin, _ = tiny.build(arch)
    twins.null_shuffle(twin)
    again, _ = tiny.build(arch)
    twins.null_shuffle(again)
    other_seed, _ = tiny.build(arch)
    twins.null_shuffle(other_seed, seed=7)
    moved = 0
    for (name, before), (_, after), (_, repeat), (_, other) in zip(
            base.named_parameters(), twin.named_parameters(), again.named_parameters(), other_seed.named_parameters()):
        assert torch.equal(before.flatten().sort().values, after.flatten().sort().values), name  # same multiset
        assert torch.equal(after, repeat), name  # seeded
        if before.unique().numel() > 1:
            assert not torch.equal(before, after), name
            assert not torch.equal(after, other), name
            moved += 1
    assert moved >= 10


def test_null_shuffled_keeps_a_tied_unembedding_tied() -> None:
    twin, _ = tiny.build("gpt2")  # GPT-2 ties lm_head to the token embedding
    embedding = twin.transformer.wte.weight.detach().clone()
    twins.null_shuffle(twin)
    assert twin.lm_head.weight is twin.transformer.wte.weight
    assert not torch.equal(twin.lm_head.weight, embedding)
    # permuted once: the shared tensor's values are the embedding's, not permuted twice into another multiset
    assert torch.equal(twin.lm_head.weight.flatten().sort().values, embedding.flatten().sort().values)


@pytest.mark.parametrize(("arch", "norm_init"), [("gpt2", 1.0), ("llama", 1.0), ("opt", 1.0), ("gemma3", 0.0)])
def test_null_init_redraws_every_weight_with_the_architecture_s_init(arch: str, norm_init: float) -> None:
    base, _ = tiny.build(arch)  # its norm gains are randomised: the init must reset them
    twin, _ = tiny.build(arch)
    state = torch.random.get_rng_state()
    twins.null_init(twin)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is untouched
    torch.manual_seed(0)
    fresh = type(twin)(twin.config)  # the architecture's init as Hugging Face applies it to a new model
    with torch.no_grad():
        for (name, before), (_, after), (_, new) in zip(base.named_parameters(), twin.named_parameters(),
                                                        fresh.named_parameters()):
            if "norm" in name or "ln_" in name:
                weight_or_bias = name.endswith("weight")
                assert torch.all(after == (norm_init if weight_or_bias else 0.0)), name  # Gemma's gains are 1 + w
            elif after.dim() == 2:  # matrices and embeddings: normal(0, σ), σ the architecture's (GPT-2 scales some)
                assert not torch.equal(before, after), name
                sigma, n = float(new.std()), after.numel()  # within 4 standard errors of normal(0, σ)
                assert abs(float(after.std()) - sigma) < 4 * sigma / (2 * n) ** 0.5, name
                assert abs(float(after.mean())) < 4 * sigma / n ** 0.5, name
            else:
                assert torch.all(after == 0) and torch.all(new == 0), name  # biases
    again, _ = tiny.build(arch)
    twins.null_init(again)
    assert all(torch.equal(a, b) for a, b in zip(twin.state_dict().values(), again.state_dict().values()))
    if arch == "gpt2":
        assert twin.lm_head.weight is twin.transformer.wte.weight


@pytest.mark.parametrize("kind", twins.KINDS)
def test_a_twin_loads_with_its_base_s_tokenizer_and_its_own_weights(kind: str) -> None:
    base = load_model("tiny-random-gemma3", device="cpu")
    twin = load_model(f"{kind}:tiny-random-gemma3", device="cpu")
    again = load_model(f"{kind}:tiny-random-gemma3", device="cpu")
    assert twin.cfg.repro_spec == resolve(f"{kind}:tiny-random-gemma3")
    assert twin.tokenizer.get_vocab() == base.tokenizer.get_vocab()
    assert special_tokens(twin) == special_tokens(base)
    for full in (False, True):
        assert weights_fingerprint(twin, full=full) != weights_fingerprint(base, full=full)
        assert weights_fingerprint(twin, full=full) == weights_fingerprint(again, full=full)
    assert twin.cfg.repro_raw is not None  # the raw vocabulary projection works on twins too
    assert "untrained control twin of `tiny-random-gemma3`" in models.describe(twin)
    assert "every verdict should fail here" in models.describe(twin)


def test_a_twin_of_a_cached_model_is_made_once_and_read_back_as_made(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Twins of registry models (and local .gguf files) are saved beside their dequantised copy."""
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    base_dir = tmp_path / "base"
    hf, tok = tiny.build("gemma3")
    hf.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)
    spec = resolve(f"null-shuffled:{base_dir}")
    copy = models._twin_copy(spec, base_dir)
    assert copy.parent == tmp_path / "cache" / "twins" and json.loads((copy / "manifest.json").read_text())["seed"] == 1234
    made, made_tok = models._from_pretrained(copy)
    twins.null_shuffle(hf)
    for (name, a), (_, b) in zip(sorted(made.state_dict().items()), sorted(hf.state_dict().items())):
        assert torch.equal(a, b), name
    assert made_tok.get_vocab() == tok.get_vocab() and made_tok.bos_token == tok.bos_token
    assert models._twin_copy(resolve(f"null-init:{base_dir}"), base_dir) != copy  # each twin its own copy
    monkeypatch.setattr(twins, "make", lambda *a: pytest.fail("the cached twin was made again"))
    assert models._twin_copy(spec, base_dir) == copy
    # made again when damaged
    next(copy.glob("*.safetensors")).write_bytes(b"damaged")
    monkeypatch.undo()
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    assert models._twin_copy(spec, base_dir) == copy and models._copy_problem(copy, full_check=True) is None


def test_a_twin_and_its_base_never_share_a_cached_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cached pass keys on the model's name and weights fingerprint: the Voita statistics, here."""
    from helpers import cache, voita

    keys = []

    def capture(name, parts, compute, **kw):
        keys.append(cache.cache_key(parts, compute.__module__))
        raise StopIteration  # the key is all this test needs

    monkeypatch.setattr(voita, "cached_tables", capture)
    for name in ("tiny-random-llama", "null-init:tiny-random-llama", "null-shuffled:tiny-random-llama"):
        with pytest.raises(StopIteration):
            voita.neuron_stats(load_model(name, device="cpu"), corpus="python-stdlib", n_rows=2, seq_len=16)
    assert len(set(keys)) == 3


def test_a_twin_of_a_hub_model_loads_through_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub boundary (``from_pretrained`` of a Hub id) is mocked: the twin asks it for its base."""
    asked = []

    class Model:
        @staticmethod
        def from_pretrained(where, **kw):
            asked.append(("model", where))
            return tiny.build("gpt2")[0]

    class Tokenizer:
        @staticmethod
        def from_pretrained(where, **kw):
            asked.append(("tokenizer", where))
            return tiny.byte_tokenizer()

    monkeypatch.setattr(models, "AutoModelForCausalLM", Model)
    monkeypatch.setattr(models, "AutoTokenizer", Tokenizer)
    twin = load_model("null-shuffled:some-org/tiny-gpt2", device="cpu")
    assert asked == [("tokenizer", "some-org/tiny-gpt2"), ("model", "some-org/tiny-gpt2")]
    assert twin.cfg.repro_spec.base.source == "hub" and models.is_gpt2_family(twin.cfg.repro_spec)
    shuffled, _ = tiny.build("gpt2")
    twins.null_shuffle(shuffled)
    raw = twin.cfg.repro_raw.unembedding(twin.W_U[:, :2])  # the raw unembedding: the shuffled (tied) embedding
    torch.testing.assert_close(raw, shuffled.transformer.wte.weight[:2].T.double(), rtol=1e-4, atol=1e-5)

    def offline(where, **kw):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(Tokenizer, "from_pretrained", staticmethod(offline))
    with pytest.raises(OfflineError, match="(?s)could not load .some-org/tiny-gpt2.*Internet"):
        load_model("null-init:some-org/tiny-gpt2", device="cpu")


# --- the runner -----------------------------------------------------------------------------------


def plan(tmp_path: Path, model_names: list[str], controls: str, notebooks=("all",)) -> list[Run]:
    nb_dir = Path(shutil.copytree(DATA, tmp_path / "notebooks", dirs_exist_ok=True))
    return plan_runs(nb_dir, tmp_path / "book", model_names, list(notebooks), controls=controls)


def chapters(runs: list[Run]) -> list[str | None]:
    """The models of the chapters in the order they run, then None for the cross pages, if any."""
    return [*dict.fromkeys(run.model for run in runs if run.model is not None)] + [None] * any(
        run.model is None for run in runs)


def cross_models(runs: list[Run]) -> list[str] | None:
    cross = [run for run in runs if run.model is None]
    return cross[0].parameters["models"] if cross else None


def test_controls_add_twins_after_the_models_and_to_the_cross_pages(tmp_path: Path) -> None:
    two = ["model-a", "model-b"]
    none = plan(tmp_path, two, "none")
    assert chapters(none) == ["model-a", "model-b", None] and cross_models(none) == two
    default = plan(tmp_path, two, "default")
    assert chapters(default) == ["model-a", "model-b", "null-init:model-a", None]
    assert cross_models(default) == ["model-a", "model-b", "null-init:model-a"]
    assert {run.output.parent.name for run in default if run.model == "null-init:model-a"} == {"null-init--model-a"}
    everything = plan(tmp_path, two, "all")
    twin_names = ["null-init:model-a", "null-shuffled:model-a", "null-init:model-b", "null-shuffled:model-b"]
    assert chapters(everything) == [*two, *twin_names, None] and cross_models(everything) == [*two, *twin_names]
    # one model and its twin: two models, so the cross-model pages run (with the twin's verdicts)
    alone = plan(tmp_path, ["model-a"], "default")
    assert chapters(alone) == ["model-a", "null-init:model-a", None]
    assert chapters(plan(tmp_path, ["model-a"], "none")) == ["model-a"]
    # a twin already named is not added twice; twins follow the trained models whatever the order given
    named = plan(tmp_path, ["null-init:model-a", "model-a"], "default")
    assert chapters(named) == ["model-a", "null-init:model-a", None]
    first_is_twin = plan(tmp_path, ["null-shuffled:model-a", "model-b"], "default")
    assert chapters(first_is_twin) == ["model-b", "null-shuffled:model-a", "null-init:model-b", None]
    with pytest.raises(ParameterError, match="unknown controls 'some'; choose one of default, none, all"):
        plan(tmp_path, two, "some")


def test_the_default_book_queues_every_chapter_s_two_page_families(tmp_path: Path) -> None:
    notebooks = Path(__file__).parents[1] / "notebooks"
    runs = plan_runs(notebooks, tmp_path / "book", list(DEFAULT_MODELS), ["all"], controls="default")
    queue, cross = lanes(runs, 2)
    assert [lane[0].model for lane in queue] == [m for m in ["smollm2-135m", "gemma-3-270m", "null-init:smollm2-135m"]
                                                 for _ in range(2)]
    assert [{page_family(r.notebook) for r in lane} for lane in queue[4:]] == [{"stolfo"}, {"voita"}]
    assert cross[0].parameters["models"] == ["smollm2-135m", "gemma-3-270m", "null-init:smollm2-135m"]


def test_a_twin_s_chapter_folder_is_safe_and_its_own(tmp_path: Path) -> None:
    safe = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
    assert chapter_name("null-init:smollm2-135m") == "null-init--smollm2-135m"
    assert chapter_name("null-shuffled:smollm2-135m") == "null-shuffled--smollm2-135m"
    hub = chapter_name("null-init:EleutherAI/pythia-410m")
    assert safe.fullmatch(hub) and hub == "null-init--" + chapter_name("EleutherAI/pythia-410m")
    names = [chapter_name(m) for m in ("smollm2-135m", "null-init:smollm2-135m", "null-shuffled:smollm2-135m",
                                            "null-init:gemma-3-270m")]
    assert len(set(names)) == 4 and all(safe.fullmatch(n) for n in names)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    assert model_identity(f"null-init:{gguf}") == f"null-init:{gguf.resolve()}"
    with pytest.raises(ParameterError, match="are the same model"):  # ./m.gguf and /abs/m.gguf: one twin
        nb_dir = Path(shutil.copytree(DATA, tmp_path / "notebooks"))
        plan_runs(nb_dir, tmp_path / "book", [f"null-init:{gguf}", f"null-init:{tmp_path}/./m.gguf"], ["demo"])


def test_profile_sizes_of_a_twin_are_its_model_s() -> None:
    for profile in profiles.PROFILES:
        for model in ("gemma-3-270m", "smollm2-135m"):
            for kind in twins.KINDS:
                assert profiles.sizes(profile, "fig1_prediction_vs_entropy", f"{kind}:{model}") == \
                    profiles.sizes(profile, "fig1_prediction_vs_entropy", model)
    assert profiles.sizes("quick", "x", "null-init:gemma-3-270m")["tokens_per_row"] == 32


def test_prepare_models_prepares_each_base_once(monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = []
    monkeypatch.setattr(models, "prepare", lambda spec, full_check=False: prepared.append(spec.name) or Path("."))
    prepare_models(["smollm2-135m", "null-init:smollm2-135m", "null-shuffled:gemma-3-270m",
                          "null-init:tiny-random-gpt2"])
    assert prepared == ["smollm2-135m", "null-init:smollm2-135m", "null-shuffled:gemma-3-270m"]  # a tiny one: none


def test_the_command_line_and_make_add_the_default_control(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _parser().parse_args(["run"]).controls == "default"
    given = {}
    monkeypatch.setattr("helpers.runner.suite.run_suite", lambda *a, **kw: given.update(kw) or "index.html")
    assert main(["run", "--models", "smollm2-135m", "--controls", "all"]) == 0 and given["controls"] == "all"
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--controls", "some"])
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    assert re.search(r"^CONTROLS \?= default$", makefile, re.M) and "--controls $(CONTROLS)" in makefile


# --- the book -------------------------------------------------------------------------------------


def fake_chapter(book: Path, model: str, folder_name: str | None = None) -> None:
    folder = book / "runs" / (folder_name or chapter_name(model))
    folder.mkdir(parents=True)
    (folder / CHAPTER_FILE).write_text(json.dumps({"model": model, "identity": model}))
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Page")]), folder / "p.ipynb")
    (folder / "p.stamp.json").write_text(json.dumps({"digest": "d", "model": model, "profile": "quick"}))


def test_the_book_shows_twins_as_controls_after_the_models(tmp_path: Path) -> None:
    book = tmp_path / "book"
    for model in ("smollm2-135m", "null-init:smollm2-135m", "gemma-3-270m", "null-shuffled:gemma-3-270m"):
        fake_chapter(book, model)
    fake_chapter(book, "", CROSS)
    found = collect_chapters(book)
    assert [ch.title for ch in found] == ["gemma-3-270m", "smollm2-135m", "null-init:smollm2-135m",
                                          "null-shuffled:gemma-3-270m", "Across models"]
    index = _chapter_index(found[2])
    assert index.startswith("# null-init:smollm2-135m (untrained control)")
    assert "untrained control twin of `smollm2-135m`: every verdict should fail here" in index
    assert "Caveats: untrained control: every verdict should fail here" in index  # the model note
    front = caveat(["smollm2-135m", "null-init:smollm2-135m"])
    assert "- `null-init:smollm2-135m`: untrained control twin of `smollm2-135m`" in front
    assert "untrained control: every verdict should fail here" in front
    assert model_note("null-init:nope") == "" and model_note("null-foo:smollm2-135m") == ""
    prov = provenance.markdown({"models": [{"name": "null-init:smollm2-135m", "fingerprint": "f", "dtype": "float32",
                                            "device": "cpu"}]})
    assert "model `null-init:smollm2-135m` (untrained control twin of `smollm2-135m`: every verdict should fail" in prov


# --- the registry model (slow) --------------------------------------------------------------------


@pytest.mark.slow
def test_twins_of_smollm2_keep_its_tokenizer_and_not_its_weights() -> None:
    base = load_model("smollm2-135m", device="cpu")
    w_base = base.blocks[5].mlp.W_out.detach().clone()  # an RMSNorm model's W_out is its raw down_proj
    fingerprints = {weights_fingerprint(base)}
    for kind in twins.KINDS:
        twin = load_model(f"{kind}:smollm2-135m", device="cpu")  # made (or read from the cache)
        assert twin.tokenizer.get_vocab() == base.tokenizer.get_vocab()
        assert special_tokens(twin) == special_tokens(base)
        w_twin = twin.blocks[5].mlp.W_out.detach()
        assert not torch.equal(w_twin, w_base)
        if kind == "null-shuffled":  # the same values, rearranged
            assert torch.equal(w_twin.flatten().sort().values, w_base.flatten().sort().values)
        rebuilt, _ = models._load_local(resolve("smollm2-135m"))  # the cached copy is the twin made now
        twins.make(kind, rebuilt)
        assert torch.equal(rebuilt.model.layers[5].mlp.down_proj.weight.T, w_twin)
        fingerprints.add(weights_fingerprint(twin))
        assert weights_fingerprint(load_model(f"{kind}:smollm2-135m", device="cpu")) == weights_fingerprint(twin)
        del twin, rebuilt
    assert len(fingerprints) == 3
