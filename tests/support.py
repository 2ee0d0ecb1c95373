"""Shared test helpers, in one place (fixtures that use them are in conftest.py).

- :func:`full_book`: a book folder with the repository's configuration, so jupyter-book can build it;
- the offline headless browser's checks (:func:`check_page`, :func:`http_status`);
- a tiny OPT model with planted neurons (:func:`planted_opt`) and what the Voita tests read from it.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import torch

from helpers import tiny

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def full_book(folder: Path) -> Path:
    """A book folder with the repository's configuration, so that jupyter-book can build it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "book" / "_config.yml", folder)
    for sub in ("_ext", "_static"):
        shutil.copytree(REPO / "book" / sub, folder / sub, dirs_exist_ok=True)
    return folder


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def http_status(url: str) -> int:
    with urllib.request.urlopen(url.split("#")[0], timeout=10) as response:
        return response.status


def check_page(driver, url: str, base: str) -> dict:  # type: ignore[no-untyped-def]
    """Load ``url`` (the load event waits for images) and report what the page shows."""
    driver.get(url)
    info = driver.execute_script(
        """
        const main = document.querySelector('main') || document.body;
        return {
          title: document.title,
          images: [...main.querySelectorAll('img')].map(i => [i.src, i.complete, i.naturalWidth]),
          figures: main.querySelectorAll('.cell_output img').length,
          links: [...main.querySelectorAll('article a.reference.internal')].map(a => a.href),
          resources: performance.getEntriesByType('resource').map(e => e.name),
        };
        """
    )
    assert info["title"].strip(), f"{url}: empty title"
    broken = [src for src, complete, width in info["images"] if not (complete and width > 0)]
    assert not broken, f"{url}: images that did not load: {broken}"
    remote = [r for r in info["resources"] if not r.startswith(base)]
    assert not remote, f"{url}: resources from the network: {remote}"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE" and base in e["message"]]
    assert not errors, f"{url}: console errors from the site: {errors}"
    return info


# --------------------------------------------------------------------------------------------
# The planted model (Voita et al.'s definitions on a model whose answers are known)
# --------------------------------------------------------------------------------------------

DEAD, DETECT_SUPPRESS, DETECT_PROMOTE, POSITIONAL = 5, 6, 7, 8  # layer-0 neurons
DIM_A, DIM_B, DIM_POS = 29, 30, 31  # residual dimensions reserved for the plants
P = 20  # the positional neuron fires at positions >= P
C = 50.0  # size of a planted residual feature


def token_id(tokenizer, char: str) -> int:
    return tokenizer.convert_tokens_to_ids(char)


def planted_opt():
    """Tiny OPT whose layer-0 neurons DEAD never fire, DETECT_* fire exactly on 'x' / 'q', and
    POSITIONAL fires exactly at positions >= P. 'x''s detector writes -e_A (suppresses 'x');
    'q''s writes +e_B (promotes 'q')."""
    hf, tok = tiny.build("opt", seed=3)
    x, q = token_id(tok, "x"), token_id(tok, "q")
    dec = hf.model.decoder
    layer = dec.layers[0]
    planted = [DIM_A, DIM_B, DIM_POS]
    with torch.no_grad():
        emb, pos = dec.embed_tokens.weight, dec.embed_positions.weight  # OPT positions are offset by 2
        emb[:, planted] = 0
        pos[:, planted] = 0
        emb[x, DIM_A] = C
        emb[q, DIM_B] = C
        pos[2:2 + P, DIM_POS] = -C
        pos[2 + P:, DIM_POS] = C
        layer.self_attn.out_proj.weight[planted] = 0  # attention leaves the planted dimensions alone
        layer.self_attn.out_proj.bias[planted] = 0
        for norm in (layer.final_layer_norm, dec.final_layer_norm):
            norm.weight[planted] = 1
            norm.bias[planted] = 0
        fc1, fc2 = layer.fc1, layer.fc2
        for neuron, dim in ((DEAD, None), (DETECT_SUPPRESS, DIM_A), (DETECT_PROMOTE, DIM_B), (POSITIONAL, DIM_POS)):
            fc1.weight[neuron] = 0
            fc1.bias[neuron] = -1.0
            if dim is not None:
                fc1.weight[neuron, dim] = 1.0
        fc2.weight[:, [DETECT_SUPPRESS, DETECT_PROMOTE]] = 0
        fc2.weight[DIM_A, DETECT_SUPPRESS] = -1.0
        fc2.weight[DIM_B, DETECT_PROMOTE] = 1.0
    return hf, tok


def text_rows(tokenizer, n_rows: int, seq_len: int, seed: int = 0) -> torch.Tensor:
    """BOS + random lowercase letters and spaces, with BOS also inside some rows (a document break)."""
    rng = np.random.default_rng(seed)
    alphabet = [token_id(tokenizer, c) for c in "abcdefghijklmnopqrstuvwxyz"] + [token_id(tokenizer, "Ġ")]
    rows = rng.choice(alphabet, size=(n_rows, seq_len))
    rows[:, 0] = 0
    rows[1, 7] = 0
    return torch.from_numpy(rows)


def reference_fired(hf, rows: torch.Tensor, threshold: float) -> list[np.ndarray]:
    """Post-activations > threshold per layer, [rows, T, d_mlp], read with plain PyTorch forward
    hooks on the Hugging Face model (fc2's input), independently of TransformerLens."""
    seen: list[torch.Tensor] = []
    handles = [layer.fc2.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
               for layer in hf.model.decoder.layers]
    with torch.no_grad():
        hf(rows)
    for handle in handles:
        handle.remove()
    shape = (*rows.shape, -1)
    return [(s.reshape(shape) > threshold).numpy() for s in seen]


def interrupt_forward(monkeypatch, model, *, at_call: int) -> None:
    """Make the model's ``at_call``-th forward pass raise KeyboardInterrupt (an interrupted pass)."""
    calls = {"n": 0}
    forward = type(model).forward

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", flaky)
