"""Benchmark: the streaming activation-count pass (Voita et al.) against a plain forward pass.

    python bench/bench_activation_counts.py [--model smollm2-135m] [--rows 16] [--seq-len 512] [--device cpu]

Times, in one process and on the same rows, (a) a forward pass with no hooks and (b) the counting
pass of every layer (overall, per position, per token); prints tokens/second, the ratio (b)/(a) (the
cost of counting on top of the model), and what the paper's 20M tokens would take at this speed.
Random-initialised models of a real size run with ``--model random:<smollm2-135m|opt-125m|...>``
(for GPU machines without the weights).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from helpers import activations, tiny
from helpers.corpus import load_documents, make_rows
from helpers.models import ModelSpec, from_hf, load_model, special_tokens

RANDOM_CONFIGS = {  # real sizes, random weights (no download)
    "opt-125m": ("opt", dict(hidden_size=768, ffn_dim=3072, num_hidden_layers=12, num_attention_heads=12,
                             word_embed_proj_dim=768, max_position_embeddings=2048, vocab_size=50272)),
    "smollm2-135m": ("llama", dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                   num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                                   max_position_embeddings=8192, tie_word_embeddings=True)),
}


def random_model(name: str, device: str):
    from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM

    arch, cfg = RANDOM_CONFIGS[name]
    config = (OPTConfig if arch == "opt" else LlamaConfig)(bos_token_id=0, eos_token_id=0, pad_token_id=0, **cfg)
    config.architectures = ["OPTForCausalLM" if arch == "opt" else "LlamaForCausalLM"]
    torch.manual_seed(0)
    hf = (OPTForCausalLM if arch == "opt" else LlamaForCausalLM)(config).eval()
    spec = ModelSpec(f"random:{name}", "tiny", arch, f"random-initialised {name} (benchmarks only)")
    return from_hf(hf, tiny.byte_tokenizer(), spec, device=device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--record", type=Path, help="append the result as a JSON line to this file")
    args = parser.parse_args()

    if args.model.startswith("random:"):
        model = random_model(args.model.split(":", 1)[1], args.device)
        rows = torch.randint(1, model.cfg.d_vocab, (args.rows, args.seq_len))
        rows[:, 0] = bos = 0
    else:
        model = load_model(args.model, device=args.device)
        st = special_tokens(model)
        bos = st.bos_id
        rows = make_rows(model.tokenizer, load_documents("wikipedia-sample"), bos_id=bos, eos_id=st.eos_id,
                         seq_len=args.seq_len, n_rows=args.rows)
    n_tokens = rows.numel()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    with torch.no_grad():  # warm-up
        model(rows[: args.batch_size].to(args.device), return_type=None)
    sync()
    start = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, len(rows), args.batch_size):
            model(rows[lo: lo + args.batch_size].to(args.device), return_type=None)
    sync()
    t_forward = time.perf_counter() - start

    start = time.perf_counter()
    counts = activations.count_activations(model, rows, bos_id=bos, batch_size=args.batch_size, progress=False)
    sync()
    t_count = time.perf_counter() - start
    assert int(counts.n_rows) == len(rows)

    rate = n_tokens / t_count
    result = {
        "bench": "activation_counts", "model": args.model, "device": args.device, "machine": platform.node(),
        "tokens": n_tokens, "seq_len": args.seq_len, "layers": model.cfg.n_layers, "d_mlp": model.cfg.d_mlp,
        "forward_s": round(t_forward, 2), "count_s": round(t_count, 2), "tokens_per_s": round(rate, 1),
        "ratio_count_over_forward": round(t_count / t_forward, 3), "hours_for_20M_tokens": round(20e6 / rate / 3600, 2),
    }
    print(f"{args.model} on {args.device}: {n_tokens} tokens ({len(rows)} rows x {args.seq_len}), "
          f"{model.cfg.n_layers} layers x {model.cfg.d_mlp} neurons")
    print(f"plain forward pass: {t_forward:.1f} s; counting pass: {t_count:.1f} s "
          f"({rate:.0f} tokens/s); ratio {t_count / t_forward:.2f}x the forward pass "
          "(the count pass skips the unembedding, so it can be below 1)")
    print(f"20M tokens (the paper's dead-neuron data) at this speed: {20e6 / rate / 3600:.1f} h")
    if args.record:
        with args.record.open("a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
