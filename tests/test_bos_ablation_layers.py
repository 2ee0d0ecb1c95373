"""The fast BOS ablation starts at the earliest ablated head's layer: still exact, and the layers
before it run once per sequence (the clean pass), not twice."""

import pytest
import torch

from helpers import induction
from helpers.models import load_model


@pytest.mark.parametrize("name", ["tiny-random-gpt2", "tiny-random-llama", "tiny-random-opt", "tiny-random-gemma3"])
def test_heads_after_the_first_layer_match_the_naive_way_and_skip_layer_0(name):
    model = load_model(name)
    length = 15 if name.endswith("gemma3") else 21  # tiny Gemma's sliding window is 16
    seqs = torch.randint(1, 250, (3, length), generator=torch.Generator().manual_seed(2))
    seqs[:, 0] = 0
    layer0 = induction._decoder_layers(model.original_model, model.cfg.n_layers)[0]
    calls = []
    handle = layer0.register_forward_hook(lambda module, args, out: calls.append(1))
    try:
        one_by_one = induction.bos_ablation(model, seqs, [(1, 0), (1, 2)], neuron=5, batch_size=1, progress=False)
    finally:
        handle.remove()
    assert len(calls) == len(seqs)  # the clean pass of each sequence; the ablated pass starts at layer 1
    fast = induction.bos_ablation(model, seqs, [(1, 0), (1, 2)], neuron=5, progress=False)  # both in one batch
    torch.testing.assert_close(fast, one_by_one, rtol=1e-5, atol=1e-5)
    assert induction._decoder_layers(model.original_model, model.cfg.n_layers)[0] is layer0  # put back
    if name.endswith("opt"):
        return  # the naive reference cannot ablate OPT (see bos_ablation_naive); the count above still holds
    naive = induction.bos_ablation_naive(model, seqs, [(1, 0), (1, 2)], neuron=5)
    torch.testing.assert_close(fast, naive, rtol=1e-4, atol=1e-4)
    layer = model.cfg.n_layers - 1
    with torch.no_grad():
        _, cache = model.run_with_cache(seqs)
    assert (cache[f"blocks.{layer}.mlp.hook_post"][:, 1:, 5] - naive).abs().max() > 1e-3  # the ablation matters
