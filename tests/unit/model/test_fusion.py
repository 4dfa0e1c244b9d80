"""Conv -> BatchNorm -> activation fusion: the same answers as the unfused CNN, both ways of
running the fused layer agree, and what cannot be fused is left alone. (bf16 with fusion keeps
the fp32 top-1: ``test_videobert.py``.)"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from app.model import load_model
from app.model.efficientnet_lite import EfficientNetLite0
from app.model.fusion import FusedConv2d, fuse_conv_bn_act
from app.model.videobert import VideoBert
from tests.unit.model.conftest import REPO_ROOT
from tests.unit.model.test_videobert import real_frames


@pytest.fixture(scope="module")
def fused(lite0_videobert: VideoBert) -> VideoBert:
    model = copy.deepcopy(lite0_videobert)
    assert fuse_conv_bn_act(model.frame_encoder) == 49  # stem, head, and 16 blocks' layers
    return model


def test_nothing_of_the_batchnorms_and_activations_is_left(fused: VideoBert) -> None:
    kinds = {type(m) for m in fused.frame_encoder.modules()}
    assert FusedConv2d in kinds
    assert not kinds & {nn.BatchNorm2d, nn.Conv2d}
    # A ReLU6 lives on only inside its fused layer (for the fallback path).
    relu6 = [m for m in fused.frame_encoder.modules() if isinstance(m, nn.ReLU6)]
    holders = [m for m in fused.frame_encoder.modules()
               if isinstance(m, FusedConv2d) and m.activation is not None]
    assert len(relu6) == len(holders) > 0


def test_fp32_fused_gives_the_unfused_answers(lite0_videobert: VideoBert,
                                               fused: VideoBert) -> None:
    x = real_frames(lite0_videobert)
    features, logits = lite0_videobert.encode_frames(x)
    fused_features, fused_logits = fused.encode_frames(x)
    torch.testing.assert_close(fused_logits, logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(fused_features, features, atol=1e-4, rtol=0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_oneDNN_call_and_the_plain_fallback_agree(lite0_videobert: VideoBert,
                                                      fused: VideoBert, precision: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if not FusedConv2d.use_pointwise:
        pytest.skip("oneDNN's fused convolution is not available in this torch build")
    if precision == "bf16" and torch.bfloat16 not in FusedConv2d.pointwise_dtypes:
        pytest.skip("this CPU has no oneDNN bf16 convolution (needs AVX512 or AVX-NE-CONVERT); "
                    "the fused layer takes the plain path, which the fused test covers")
    model = copy.deepcopy(fused)
    model.set_precision(precision)  # type: ignore[arg-type]
    x = real_frames(lite0_videobert)[:2]
    _, pointwise = model.encode_frames(x)
    monkeypatch.setattr(FusedConv2d, "use_pointwise", False)
    _, plain = model.encode_frames(x)
    tolerance = 1e-4 if precision == "fp32" else 0.3  # bf16 rounds differently per path
    torch.testing.assert_close(pointwise, plain, atol=tolerance, rtol=0)
    assert pointwise.argmax(dim=1).tolist() == plain.argmax(dim=1).tolist()


def test_training_mode_is_refused_and_unfusable_layers_are_left_alone() -> None:
    with pytest.raises(ValueError, match="eval"):
        fuse_conv_bn_act(EfficientNetLite0())
    same_padding = nn.Sequential(nn.Conv2d(3, 4, 3, padding="same"), nn.BatchNorm2d(4),
                                 nn.ReLU())
    no_stats = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    gelu = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.GELU())
    model = nn.ModuleList([same_padding, no_stats, gelu]).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        before = gelu(x)
    assert fuse_conv_bn_act(model) == 1  # only gelu's conv and BatchNorm
    assert isinstance(gelu[0], FusedConv2d) and isinstance(gelu[2], nn.GELU)
    assert isinstance(same_padding[0], nn.Conv2d) and isinstance(no_stats[1], nn.BatchNorm2d)
    with torch.inference_mode():
        torch.testing.assert_close(gelu(x), before, atol=1e-5, rtol=0)


def test_load_model_fuses_on_the_cpu_unless_told_not_to(lite0_videobert: VideoBert) -> None:
    store = REPO_ROOT / "model_store"
    fused_model = load_model(store, "videobert-lite0").model
    plain_model = load_model(store, "videobert-lite0", fuse=False).model
    assert any(isinstance(m, FusedConv2d) for m in fused_model.frame_encoder.modules())
    assert not any(isinstance(m, FusedConv2d) for m in plain_model.frame_encoder.modules())
    x = real_frames(lite0_videobert)[:2]
    torch.testing.assert_close(fused_model.encode_frames(x)[1], plain_model.encode_frames(x)[1],
                               atol=1e-4, rtol=0)
