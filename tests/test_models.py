"""Model loading: every kind of name, compatibility-mode numerics, and clear errors."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import tiny
from helpers.errors import UnknownModelError
from helpers.models import KNOWN_MODELS, from_hf, is_gpt2_family, list_models, load_model, resolve, special_tokens

TINY = [name for name in KNOWN_MODELS if name.startswith("tiny-random-")]


@pytest.mark.parametrize("name", TINY)
def test_compatibility_mode_logits_are_normalised_residual_times_unembed(name):
    """logits = N(r) W_U + b_U with N a pure normaliser (gains folded), as the Methods page assumes."""
    model = load_model(name, device="cpu")
    toks = model.to_tokens(["The cat sat on the mat.", "Another, longer line of text here."])
    with torch.no_grad():
        logits, cache = model.run_with_cache(toks)
    r = cache[f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"].double()
    if model.cfg.normalization_type == "LN":
        r = r - r.mean(-1, keepdim=True)
    scale = (r.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
    torch.testing.assert_close(scale, cache["ln_final.hook_scale"].double(), rtol=1e-5, atol=1e-6)
    expected = (r / scale) @ model.W_U.detach().double() + model.b_U.detach().double()
    torch.testing.assert_close(logits.double(), expected, rtol=1e-4, atol=1e-4)
    # The processing only shifts logits by a per-token constant: probabilities equal the raw HF model's.
    hf_model, _ = tiny.build(model.cfg.repro_spec.location)
    with torch.no_grad():
        hf_logits = hf_model(toks).logits
    torch.testing.assert_close(torch.log_softmax(logits, -1), torch.log_softmax(hf_logits, -1), rtol=1e-4, atol=1e-4)


def test_tiny_models_are_deterministic():
    a, b = load_model("tiny-random-llama"), load_model("tiny-random-llama")
    torch.testing.assert_close(a.W_out, b.W_out)


def test_unknown_model_lists_known_names_and_the_fix():
    with pytest.raises(UnknownModelError) as err:
        resolve("gpt-5-tiny")
    msg = str(err.value)
    assert "smollm2-135m" in msg and "pythia-410m" in msg and "Hub id" in msg and ".gguf" in msg


def test_missing_local_files_are_named(tmp_path):
    with pytest.raises(UnknownModelError, match="does not exist"):
        resolve(str(tmp_path / "nope.gguf"))
    with pytest.raises(UnknownModelError, match="without config.json"):
        resolve(str(tmp_path))


def test_local_directory_loads_the_saved_model(tmp_path):
    hf_model, tok = tiny.build("gpt2", seed=3)
    hf_model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model = load_model(str(tmp_path), device="cpu")
    toks = model.to_tokens("hello world")
    with torch.no_grad():
        torch.testing.assert_close(torch.log_softmax(model(toks), -1), torch.log_softmax(hf_model(toks).logits, -1),
                                   rtol=1e-4, atol=1e-4)


def test_list_models_names_every_kind():
    text = list_models()
    for name in ("gpt2-small", "pythia-410m", "Llama-2-7b", "opt-125m", "smollm2-135m", "gemma-3-270m",
                 "tiny-random-gemma3"):
        assert name in text


def test_special_tokens_of_a_byte_model():
    model = load_model("tiny-random-gpt2")
    assert special_tokens(model) == special_tokens(model)
    st = special_tokens(model)
    assert st.bos_id == st.eos_id == 0
    assert st.newline_ids == ()  # not a GPT-2-family model by name: newlines are kept


def test_newlines_are_filtered_for_the_gpt2_family_only():
    """The authors drop "\\n" (as the current or the next token) only for GPT-2 models."""
    from helpers.ablation import clean_run

    hf, tok = tiny.build("gpt2")
    as_gpt2 = from_hf(hf, tok, KNOWN_MODELS["gpt2-small"])  # the tiny weights under the paper's GPT-2 name
    newline = tok.convert_tokens_to_ids("Ċ")
    assert special_tokens(as_gpt2).newline_ids == (newline,)
    assert [is_gpt2_family(resolve(name)) for name in ("gpt2-small", "gpt2-large", "stanford-gpt2-small-a",
                                                       "openai-community/gpt2", "pythia-410m", "Llama-2-7b",
                                                       "opt-125m", "smollm2-135m", "tiny-random-gpt2")] == \
        [True, True, True, True, False, False, False, False, False]
    other = load_model("tiny-random-llama")
    assert special_tokens(other).newline_ids == ()
    rows = torch.tensor([[0] + tok("abcdefgh\nijklmnopq", add_special_tokens=False).input_ids])
    at = int((rows[0] == newline).nonzero()[0, 0])
    for model, dropped in ((as_gpt2, True), (other, False)):
        kept = set(clean_run(model, rows, [0], progress=False).positions[:, 1].tolist())
        assert ({at - 1, at} & kept == set()) is dropped and (at + 1 in kept)


HUB_SCRIPT = textwrap.dedent("""
    import sys
    from helpers.errors import OfflineError
    from helpers.models import load_model
    try:
        model = load_model(sys.argv[1], device=sys.argv[2] if len(sys.argv) > 2 else "cpu")
    except OfflineError as err:
        print("OFFLINE-ERROR", err)
    else:
        print("LOADED", model.cfg.d_model, model.cfg.repro_spec.source)
""")


def _run_hub(name, hf_cache, *extra):
    """Load through the Hub code path in a subprocess with the Hub unreachable (HF_HUB_OFFLINE=1)
    and HF's cache pointed at ``hf_cache``: the boundary is the Hub itself, nothing in-process is mocked."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hf_cache), "HF_HOME": str(hf_cache)}
    out = subprocess.run([sys.executable, "-c", HUB_SCRIPT, name, *extra], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _populate_hub_cache(hf_cache, repo_id: str, arch: str) -> None:
    """What a user who once ran with Internet has: the Hub's cache layout, with a snapshot."""
    repo = hf_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("a" * 40)
    hf_model, tok = tiny.build(arch)
    hf_model.save_pretrained(snapshot)
    tok.save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)


def test_hub_model_loads_from_a_populated_hf_cache(tmp_path):
    _populate_hub_cache(tmp_path, "some-org/tiny-gpt2", "gpt2")
    assert "LOADED 32 hub" in _run_hub("some-org/tiny-gpt2", tmp_path)


def test_hub_opt_model_loads_with_a_device_map(tmp_path):
    """The route for OPT models too large for one device: device="auto" -> accelerate's device_map."""
    _populate_hub_cache(tmp_path, "some-org/tiny-opt", "opt")
    assert "LOADED 32 hub" in _run_hub("some-org/tiny-opt", tmp_path, "auto")


def test_device_map_is_refused_for_non_hub_models():
    with pytest.raises(ValueError, match="device_map is for Hub models"):
        load_model("tiny-random-opt", device_map="auto")


def test_paper_model_offline_without_cache_says_how_to_fix(tmp_path):
    out = _run_hub("gpt2-small", tmp_path)
    assert "OFFLINE-ERROR" in out and "'gpt2-small' (gpt2)" in out
    assert "smollm2-135m" in out and "Internet" in out
