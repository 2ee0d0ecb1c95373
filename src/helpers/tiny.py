"""Seeded tiny random models for tests: exactness and pipeline checks, never scientific claims.

Each is a real Hugging Face architecture (so it goes through the same ``TransformerBridge`` path
as the paper's models) with a byte-level tokenizer built offline: id 0 is ``<|endoftext|>``
(BOS = EOS), ids 1..256 are the 256 byte symbols.
"""

from __future__ import annotations

from typing import Callable

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

SPECIAL = "<|endoftext|>"
N_CTX = 512


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A 257-token byte-level tokenizer (no merges) that needs no download."""
    vocab = {SPECIAL: 0}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL,
        eos_token=SPECIAL,
        add_bos_token=True,  # TransformerBridge otherwise re-fetches the tokenizer from the Hub
        name_or_path="byte-tokenizer",
    )


def _common(vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=0, pad_token_id=0)


def _gpt2(v: int) -> PreTrainedModel:
    cfg = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_inner=128, n_positions=N_CTX, **_common(v))
    return GPT2LMHeadModel(cfg)


def _llama(v: int) -> PreTrainedModel:
    cfg = LlamaConfig(hidden_size=32, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=N_CTX, tie_word_embeddings=False,
                      **_common(v))
    return LlamaForCausalLM(cfg)


def _opt(v: int) -> PreTrainedModel:
    cfg = OPTConfig(hidden_size=32, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                    max_position_embeddings=N_CTX, word_embed_proj_dim=32, **_common(v))
    return OPTForCausalLM(cfg)


def _gemma3(v: int) -> PreTrainedModel:
    cfg = Gemma3TextConfig(hidden_size=32, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=1, head_dim=8, max_position_embeddings=N_CTX,
                           sliding_window=16, layer_types=["sliding_attention", "full_attention"],
                           **_common(v))
    return Gemma3ForCausalLM(cfg)


BUILDERS: dict[str, Callable[[int], PreTrainedModel]] = {
    "gpt2": _gpt2,     # LayerNorm, GELU
    "llama": _llama,   # RMSNorm, SiLU-gated MLP, untied unembedding
    "opt": _opt,       # LayerNorm, ReLU (Voita et al.'s family)
    "gemma3": _gemma3,  # RMSNorm with sandwich (post-feedforward) norms
}


def build(arch: str, seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Build the seeded tiny ``arch`` model and its tokenizer.

    Norm gains and biases are randomised too, so that folding them into the weights matters.
    """
    if arch not in BUILDERS:
        raise ValueError(f"no tiny architecture {arch!r}; choose from {sorted(BUILDERS)}")
    tokenizer = byte_tokenizer()
    torch.manual_seed(seed)
    model = BUILDERS[arch](len(tokenizer))
    model.config.architectures = [type(model).__name__]
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name or "ln_" in name or "layer_norm" in name:
                param.add_(0.3 * torch.randn(param.shape, generator=generator))
    return model.eval(), tokenizer
