"""The temporal encoder: padding never changes a sequence's outputs, attention mass is a
distribution over the real samples."""

from __future__ import annotations

import pytest
import torch

from app.model.temporal import TemporalEncoder, sinusoidal_positions

D = 24


def make_encoder(positions: str = "sinusoidal", max_len: int = 64) -> TemporalEncoder:
    torch.manual_seed(0)
    encoder = TemporalEncoder(feature_dim=D, d_model=32, n_layers=2, n_heads=4,
                              max_len=max_len, positions=positions)  # type: ignore[arg-type]
    return encoder.eval()


def padded(*sequences: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [s.shape[0] for s in sequences]
    T = max(lengths)
    x = torch.full((len(sequences), T, D), 7.0)  # garbage in the padding on purpose
    mask = torch.zeros(len(sequences), T, dtype=torch.bool)
    for i, s in enumerate(sequences):
        x[i, :lengths[i]] = s
        mask[i, :lengths[i]] = True
    return x, mask


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_output_is_the_same_alone_and_padded_beside_a_longer_sequence(positions: str) -> None:
    encoder = make_encoder(positions)
    generator = torch.Generator().manual_seed(1)
    short = torch.randn(5, D, generator=generator)
    long = torch.randn(17, D, generator=generator)
    with torch.no_grad():
        hidden_alone, mass_alone = encoder(*padded(short))
        hidden_batch, mass_batch = encoder(*padded(long, short))
    torch.testing.assert_close(hidden_batch[1, :5], hidden_alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(mass_batch[1, :5], mass_alone[0], atol=1e-5, rtol=0)


def test_padded_positions_get_no_attention_and_zero_hidden() -> None:
    encoder = make_encoder()
    generator = torch.Generator().manual_seed(2)
    x, mask = padded(torch.randn(9, D, generator=generator),
                     torch.randn(3, D, generator=generator))
    with torch.no_grad():
        hidden, mass = encoder(x, mask)
    assert hidden.shape == (2, 9, 32) and mass.shape == (2, 9)
    assert torch.equal(mass[1, 3:], torch.zeros(6))
    assert torch.equal(hidden[1, 3:], torch.zeros(6, 32))
    torch.testing.assert_close(mass.sum(dim=1), torch.ones(2), atol=1e-6, rtol=0)
    assert bool((mass[mask] > 0).all())


def test_longer_than_max_len_is_refused() -> None:
    encoder = make_encoder(max_len=8)
    x, mask = padded(torch.zeros(9, D))
    with pytest.raises(ValueError, match="longer than max_len 8"):
        encoder(x, mask)


def test_an_empty_sequence_is_refused() -> None:
    encoder = make_encoder()
    x = torch.zeros(1, 4, D)
    with pytest.raises(ValueError, match="at least one valid position"):
        encoder(x, torch.zeros(1, 4, dtype=torch.bool))


def test_sinusoidal_table_starts_with_sin0_cos0() -> None:
    table = sinusoidal_positions(16, 6)
    assert table.shape == (16, 6)
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(table[3, 0], torch.sin(torch.tensor(3.0)))
