"""Benchmark: the entropy sweep of one model (entropy.run_sweep), end to end, not cached.

    python bench/bench_sweep.py --model gemma-3-270m --k 1 [--n-rows 64] [--out bench/results_cpu.jsonl]

Times the model's load and run_sweep (clean pass over n_rows rows, closed-form ablation of every
final-layer neuron on the filtered tokens of k rows, weight statistics) in a fresh results directory,
and prints the evaluated tokens, the (neuron, token, vocabulary) elements and the peak memory: what
a profile's sizes cost per model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from helpers import cache, entropy
from helpers.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=4, help="evaluated rows")
    parser.add_argument("--n-rows", type=int, default=64, help="rows whose tokens give the activation means")
    parser.add_argument("--tokens-per-row", type=int, default=0, help="evaluated tokens per row (0: all)")
    parser.add_argument("--out", type=Path, default=None, help="append the results as a JSON line here")
    args = parser.parse_args()

    os.environ[cache.RESULTS_ENV] = tempfile.mkdtemp(prefix="bench-sweep-")
    start = time.perf_counter()
    model = load_model(args.model, device="cpu")
    t_load = time.perf_counter() - start
    start = time.perf_counter()
    sweep = entropy.run_sweep(model, n_rows=args.n_rows, k=args.k, tokens_per_row=args.tokens_per_row, progress=False)
    t_sweep = time.perf_counter() - start
    elements = model.cfg.d_mlp * sweep.info["n_tokens"] * model.cfg.d_vocab
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{args.model}: load {t_load:.1f} s; sweep with k = {args.k} of {args.n_rows} rows: {t_sweep:.1f} s for "
          f"{sweep.info['n_tokens']} tokens ({elements:.3g} elements); peak memory {peak:.1f} GB")
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps({"bench": "sweep", "model": args.model, "k": args.k, "n_rows": args.n_rows,
                                "tokens": sweep.info["n_tokens"], "elements": elements, "load_s": t_load,
                                "sweep_s": t_sweep, "peak_rss_gb": peak}) + "\n")
    shutil.rmtree(os.environ[cache.RESULTS_ENV], ignore_errors=True)


if __name__ == "__main__":
    main()
