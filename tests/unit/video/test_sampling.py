from __future__ import annotations

import numpy as np
import pytest

from app.errors import InvalidOption
from app.video import SamplingSpec, plan_sample_times


def test_rate_samples_sit_mid_bin() -> None:
    times = plan_sample_times(10.0, SamplingSpec(fps=2.0))
    np.testing.assert_allclose(times, np.arange(20) * 0.5 + 0.25)


def test_partial_last_bin_counts_when_its_centre_is_inside() -> None:
    assert len(plan_sample_times(10.3, SamplingSpec(fps=2.0))) == 21
    assert len(plan_sample_times(10.2, SamplingSpec(fps=2.0))) == 20


def test_long_video_lowers_the_rate_to_max_frames() -> None:
    times = plan_sample_times(1000.0, SamplingSpec(fps=2.0, max_frames=256))
    step = 1000.0 / 256
    assert len(times) == 256
    np.testing.assert_allclose(times, (np.arange(256) + 0.5) * step)


def test_num_frames_is_uniform_over_the_video() -> None:
    times = plan_sample_times(8.0, SamplingSpec(num_frames=16))
    np.testing.assert_allclose(times, (np.arange(16) + 0.5) * 0.5)


def test_very_short_video_gets_one_sample_in_the_middle() -> None:
    np.testing.assert_allclose(plan_sample_times(0.04, SamplingSpec(fps=2.0)), [0.02])


def test_zero_duration_gets_one_sample_at_zero() -> None:
    np.testing.assert_allclose(plan_sample_times(0.0, SamplingSpec()), [0.0])


@pytest.mark.parametrize("kwargs", [
    {"fps": 0.0}, {"fps": float("nan")}, {"max_frames": 0}, {"num_frames": 0},
    {"num_frames": 300, "max_frames": 256}, {"mode": "slow"}, {"crop": 0},
])
def test_invalid_specs_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidOption):
        SamplingSpec(**kwargs)  # type: ignore[arg-type]
