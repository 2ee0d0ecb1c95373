"""Benchmark: fast exact BOS ablation of attention heads against one forward pass per position.

    python bench/bench_bos_ablation.py [--model smollm2-135m] [--seqs 2] [--half 50]

On BOS + n + n repeated corpus tokens (101 positions for n = 50, as in the paper's Fig 5c), both
ways ablate the top induction head at every position and read the top-rho final-layer neuron's
activation there; the script checks they agree and prints the ratio (target: at least 20x).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from helpers import induction
from helpers.corpus import load_documents, make_rows
from helpers.models import load_model, special_tokens
from helpers.weights import neuron_weight_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--seqs", type=int, default=2)
    parser.add_argument("--half", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None, help="append the results as a JSON line here")
    args = parser.parse_args()

    model = load_model(args.model, device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, load_documents("wikipedia-sample"), bos_id=st.bos_id, eos_id=st.eos_id,
                     n_rows=max(8, args.seqs))
    seqs = induction.repeated_sequences(rows, n=args.half, n_seqs=args.seqs, seed=42)
    head = induction.induction_head_scores(model, n_seqs=8, seq_len=50).iloc[0]
    heads = [(int(head.layer), int(head["head"]))]
    neuron = int(neuron_weight_table(model).nlargest(1, "rho").neuron.iloc[0])
    print(f"{args.model}: {len(seqs)} sequences x {seqs.shape[1] - 1} positions; head {head.label} "
          f"(induction score {head.score:.2f}); neuron {model.cfg.n_layers - 1}.{neuron}")
    start = time.perf_counter()
    fast = induction.bos_ablation(model, seqs, heads, neuron, progress=False)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    naive = induction.bos_ablation_naive(model, seqs, heads, neuron)
    t_naive = time.perf_counter() - start
    diff = (fast - naive).abs().max().item()
    print(f"fast: {t_fast:.2f} s; one forward pass per position: {t_naive:.1f} s; max |difference| {diff:.1e}")
    print(f"ratio: {t_naive / t_fast:.1f}x [target >= 20x]")
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps({"bench": "bos_ablation", "model": args.model, "seqs": args.seqs, "half": args.half,
                                "head": head.label, "fast_s": t_fast, "naive_s": t_naive, "max_diff": diff}) + "\n")
    if diff > 1e-3:
        raise SystemExit("MISMATCH")


if __name__ == "__main__":
    main()
