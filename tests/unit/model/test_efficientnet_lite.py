"""EfficientNet-Lite0: same numbers as the reference implementation, sensible labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from skimage import data as skimage_data

from app.model.efficientnet_lite import (
    EfficientNetLite0,
    convert_reference_state_dict,
    same_padding,
)
from app.model.videobert import VideoBert
from tests.media import sample_clip
from tests.unit.model.conftest import decode_frames

# ImageNet-1k: tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat
CAT_CLASSES = {281, 282, 283, 284, 285}


@pytest.fixture(scope="module")
def reference(lite0_weights: Path) -> Any:  # the reference package is untyped
    efficientnet_lite_pytorch = pytest.importorskip("efficientnet_lite_pytorch")
    model = efficientnet_lite_pytorch.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(lite0_weights))
    return model.eval()


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (224, 3, 2, (0, 1)),  # stem: TensorFlow pads only after
    (56, 5, 2, (1, 2)),
    (14, 3, 1, (1, 1)),
    (7, 5, 2, (2, 2)),
])
def test_same_padding_matches_tensorflow(size: int, kernel: int, stride: int,
                                         expected: tuple[int, int]) -> None:
    assert same_padding(size, kernel, stride) == expected


def test_every_released_tensor_has_a_home(lite0_weights: Path) -> None:
    state = torch.load(lite0_weights, map_location="cpu", weights_only=True)
    converted = convert_reference_state_dict(state)
    assert set(converted) == set(EfficientNetLite0().state_dict())
    assert len(converted) == len(state) == 296


def test_same_logits_as_reference_on_random_input(lite0: EfficientNetLite0,
                                                  reference: Any) -> None:
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        features, logits = lite0(x)
        expected = reference(x)
        expected_features = reference.extract_features(x).mean(dim=(2, 3))
    assert features.shape == (2, 1280) and logits.shape == (2, 1000)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(features, expected_features, atol=1e-4, rtol=0)


def test_same_logits_as_reference_on_a_real_frame(lite0_videobert: VideoBert,
                                                  reference: Any) -> None:
    frames = decode_frames(sample_clip("bikes.mp4"), [100])  # (1, 272, 640, 3)
    x = lite0_videobert.preprocess(frames)
    _, logits = lite0_videobert.encode_frames(x)
    with torch.inference_mode():
        expected = reference(x)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)


def test_labels_a_cat_photo_as_a_cat(lite0_videobert: VideoBert) -> None:
    cat = np.ascontiguousarray(skimage_data.chelsea())  # (300, 451, 3) uint8
    _, logits = lite0_videobert.encode_frames(lite0_videobert.preprocess(cat[None]))
    assert int(logits.argmax()) in CAT_CLASSES
