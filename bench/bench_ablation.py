"""Benchmark: the closed-form ablation engine against the two ways a user would otherwise run it.

    python bench/bench_ablation.py [--model smollm2-135m] [--neurons 256] [--tokens 2048] [--full-layer]

On identical inputs, in one process: (a) one hooked forward pass per neuron and effect (TransformerLens's
usual way), (b) the authors' way (per chunk of 20 neurons: add the deltas to the cached residual,
re-apply the final norm, unembed, build pandas frames), (c) the engine. It checks that all three agree
and prints time ratios. The baselines are linear in the number of neurons, so by default they are
timed on a subset of neurons and scaled (printed as such); --full-baselines times them on all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from helpers.ablation import ablate, authors_ablation, clean_run, final_norm_scale, hooked_ablation
from helpers.corpus import load_documents, make_rows
from helpers.models import load_model, special_tokens
from helpers.unigram import count_tokens, unigram_distribution


def truncate(run, n_tokens):
    """The first ``n_tokens`` evaluated tokens of a clean run."""
    if len(run.targets) < n_tokens:
        raise SystemExit(f"only {len(run.targets)} evaluated tokens; evaluate more rows")
    cut = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    for key in ("positions", "targets", "resid", "acts", "mlp_out"):
        if cut[key] is not None:
            cut[key] = cut[key][:n_tokens]
    last_row = int(cut["positions"][-1, 0]) + 1
    cut["rows"] = cut["rows"][:last_row]
    return type(run)(**cut)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--mean-rows", type=int, default=16, help="rows whose tokens give the activation means")
    parser.add_argument("--hooked-neurons", type=int, default=4, help="neurons timed for baseline (a)")
    parser.add_argument("--authors-neurons", type=int, default=40, help="neurons timed for baseline (b)")
    parser.add_argument("--full-baselines", action="store_true")
    parser.add_argument("--full-layer", action="store_true", help="also time every neuron of the final layer")
    parser.add_argument("--full-layer-tokens", type=int, default=2560)
    parser.add_argument("--out", type=Path, default=None, help="append the results as a JSON line here")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = load_model(args.model, device=args.device)
    st = special_tokens(model)
    n_rows_needed = max(args.tokens, args.full_layer_tokens if args.full_layer else 0) // 200 + 2
    rows = make_rows(model.tokenizer, load_documents("wikipedia-sample"), bos_id=st.bos_id, eos_id=st.eos_id,
                     n_rows=max(args.mean_rows, n_rows_needed), seed=42)
    full_run, t_clean = timed(lambda: clean_run(model, rows, eval_rows=range(n_rows_needed), progress=False))
    run = truncate(full_run, args.tokens)
    neurons = list(range(args.neurons))
    print(f"model {args.model} on {args.device}; {args.neurons} neurons x {args.tokens} tokens, "
          f"vocab {model.cfg.d_vocab}; clean pass over {len(rows)} rows: {t_clean:.1f} s")

    _, t_compile = timed(lambda: ablate(model, run, neurons[:1], progress=False))
    engine, t_engine = timed(lambda: ablate(model, run, neurons, progress=False))
    print(f"(c) engine: {t_engine:.2f} s (first call, compilation included: {t_compile:.1f} s)")

    # Token-frequency effects (KL to P_freq, frequency-frozen loss) on top of the entropy sweep.
    p_freq = unigram_distribution(count_tokens(model, "wikipedia-sample", progress=False), model.cfg.d_vocab)
    ablate(model, run, neurons[:1], p_freq=p_freq, progress=False)  # compile the variant
    _, t_freq = timed(lambda: ablate(model, run, neurons, p_freq=p_freq, progress=False))
    print(f"(c') engine with token-frequency effects: {t_freq:.2f} s = {t_freq / t_engine:.2f}x the entropy-only sweep")

    n_b = args.neurons if args.full_baselines else min(args.authors_neurons, args.neurons)
    frame, t_b = timed(lambda: authors_ablation(model, run, neurons[:n_b]))
    t_authors = t_b * args.neurons / n_b
    print(f"(b) authors' way: {t_b:.1f} s for {n_b} neurons -> {t_authors:.1f} s for {args.neurons}"
          + ("" if n_b == args.neurons else " (scaled linearly)"))

    n_a = args.neurons if args.full_baselines else min(args.hooked_neurons, args.neurons)
    worst = {"authors": 0.0, "hooked": 0.0}
    start = time.perf_counter()
    clean_scale = final_norm_scale(model, run.rows)  # once, shared by every neuron's direct effect
    for i in range(n_a):
        for kind, frozen in (("te", False), ("de", True)):
            ref = hooked_ablation(model, run, i, frozen_scale=frozen, clean_scale=clean_scale)
            for metric in ("loss", "entropy"):
                diff = np.abs(ref[metric].numpy() - engine.per_token[f"{metric}_{kind}"][i]).max()
                worst["hooked"] = max(worst["hooked"], float(diff))
    t_a = time.perf_counter() - start
    t_hooked = t_a * args.neurons / n_a
    print(f"(a) hooked forward passes: {t_a:.1f} s for {n_a} neurons -> {t_hooked:.1f} s for {args.neurons}"
          + ("" if n_a == args.neurons else " (scaled linearly)"))

    for (n, kind), group in frame.groupby(["neuron", "kind"]):
        for metric in ("loss", "entropy"):
            diff = np.abs(group[metric].to_numpy() - engine.per_token[f"{metric}_{kind}"][n]).max()
            worst["authors"] = max(worst["authors"], float(diff))
    agree = all(v < 1e-3 for v in worst.values())
    print(f"agreement (max |difference| in loss/entropy, nats): authors {worst['authors']:.2e}, "
          f"hooked {worst['hooked']:.2e} -> {'OK' if agree else 'MISMATCH'}")
    print(f"ratios: engine is {t_authors / t_engine:.1f}x faster than (b) [target >= 10x], "
          f"{t_hooked / t_engine:.1f}x faster than (a) [target >= 100x]")

    result = {"model": args.model, "device": args.device, "device_name": _device_name(args.device),
              "neurons": args.neurons, "tokens": args.tokens, "engine_s": t_engine, "compile_s": t_compile,
              "engine_with_freq_s": t_freq, "authors_s": t_authors, "hooked_s": t_hooked, "agree": agree, "max_diff": worst,
              "torch": torch.__version__}
    if args.full_layer:
        big = truncate(full_run, args.full_layer_tokens)
        _, t_full = timed(lambda: ablate(model, big, progress=True))
        print(f"full final layer: {model.cfg.d_mlp} neurons x {args.full_layer_tokens} tokens in {t_full / 60:.1f} min "
              "[target < 15 min on 2 CPU cores]")
        result.update(full_layer_neurons=model.cfg.d_mlp, full_layer_tokens=args.full_layer_tokens, full_layer_s=t_full)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    if not agree:
        raise SystemExit(1)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


if __name__ == "__main__":
    main()
