"""The boundary head looks at neighbours and never predicts past the last real sample."""

from __future__ import annotations

import torch

from app.model.heads import BoundaryHead, transition_mask


def test_transition_mask_excludes_each_last_real_sample() -> None:
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    expected = torch.tensor([[True, True, True, False], [True, False, False, False]])
    assert torch.equal(transition_mask(mask), expected)


def test_positions_without_a_next_sample_have_probability_zero() -> None:
    torch.manual_seed(0)
    head = BoundaryHead(d_model=8, hidden=16).eval()
    hidden = torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    with torch.no_grad():
        prob = torch.sigmoid(head(hidden, mask))
    assert prob[0, 3].item() == 0.0
    assert torch.equal(prob[1, 1:], torch.zeros(3))
    assert bool((prob[0, :3] > 0).all()) and prob[1, 0].item() > 0


def test_logit_at_i_depends_on_the_next_sample_only_among_later_ones() -> None:
    torch.manual_seed(0)
    head = BoundaryHead(d_model=8, hidden=16).eval()
    hidden = torch.randn(1, 5, 8)
    mask = torch.ones(1, 5, dtype=torch.bool)
    changed = hidden.clone()
    changed[0, 2] += 1.0  # sample 2 takes part in pairs (1, 2) and (2, 3) only
    with torch.no_grad():
        before, after = head(hidden, mask), head(changed, mask)
    differs = (before != after)[0].tolist()
    assert differs == [False, True, True, False, False]


def test_masked_bce_stays_finite() -> None:
    head = BoundaryHead(d_model=8, hidden=16)
    hidden = torch.randn(1, 3, 8)
    mask = torch.ones(1, 3, dtype=torch.bool)
    logits = head(hidden, mask)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.zeros_like(logits))
    loss.backward()
    assert torch.isfinite(loss)
