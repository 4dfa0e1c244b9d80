"""Inference-only fusion of a CNN's Conv -> BatchNorm -> ReLU/ReLU6 runs, for the CPU.

Profiled on EfficientNet-Lite0 (bf16, one thread, 8 frames): the convolutions were 29% of the
time, BatchNorm 22%, the ReLU6 clamps 25% (each a full pass over a large activation, which is
memory bound here) and autocast's weight casts 10%. Folding BatchNorm into the convolution's
weights removes the BatchNorm pass; oneDNN's fused convolution (``mkldnn._convolution_pointwise``,
what inductor itself emits on CPU) applies the activation while the output is still in cache.
Measured by ``python -m bench.fastpaths``; see docs/performance.md.

The fused layer keeps fp32 master weights and computes in the autocast dtype when autocast is
on (a bf16 copy is made once), so ``VideoBert.set_precision`` still decides the precision.
Where the fused oneDNN call is not available (a torch built without it, a CUDA tensor), the
layer runs a plain convolution with the folded weights and then the activation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

log = logging.getLogger(__name__)

# activation module -> (oneDNN post-op name, its scalars)
_ACTIVATIONS: dict[type[nn.Module], tuple[str, list[float]]] = {
    nn.ReLU: ("relu", []),
    nn.ReLU6: ("hardtanh", [0.0, 6.0]),
}


def _pointwise_conv_available() -> bool:
    """Whether oneDNN's fused convolution runs here (probed once, on a tiny input)."""
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    try:
        x = torch.ones(1, 2, 4, 4)
        w = torch.ones(2, 2, 1, 1)
        out = torch.ops.mkldnn._convolution_pointwise(
            x, w, None, [0, 0], [1, 1], [1, 1], 1, "hardtanh", [0.0, 6.0], "")
        return bool(torch.equal(out, torch.full((1, 2, 4, 4), 2.0)))
    except (RuntimeError, AttributeError):
        return False


def _reduced_precision_supported() -> set[torch.dtype]:
    """The 16-bit dtypes oneDNN's convolution runs here: its bf16 path needs AVX512 (BW, VL,
    DQ) or AVX-NE-CONVERT, which not every CPU has (an AMD EPYC without AVX512 refuses it)."""
    supported: set[torch.dtype] = set()
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            supported.add(torch.bfloat16)
        if torch.ops.mkldnn._is_mkldnn_fp16_supported():
            supported.add(torch.float16)
    except (RuntimeError, AttributeError):
        pass
    return supported


class FusedConv2d(nn.Module):
    """A Conv2d with its BatchNorm folded in and an optional ReLU/ReLU6 applied in the same
    oneDNN call. Inference only."""

    use_pointwise: bool = False  # set once by ``fuse_conv_bn_act``
    # fp32 always; bf16/fp16 only where oneDNN supports them (else the plain conv2d path).
    pointwise_dtypes: frozenset[torch.dtype] = frozenset({torch.float32})
    weight: Tensor
    bias: Tensor

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, activation: nn.Module | None
                 ) -> None:
        super().__init__()
        assert bn.running_mean is not None and bn.running_var is not None
        weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                            bn.running_var, bn.eps, bn.weight, bn.bias)
        self.register_buffer("weight", weight.detach().contiguous(
            memory_format=torch.channels_last))
        self.register_buffer("bias", bias.detach())
        self.stride = list(conv.stride)
        self.padding = [int(p) for p in conv.padding]  # ints: ``_fusable`` checked
        self.dilation = list(conv.dilation)
        self.groups = conv.groups
        self.activation = activation
        self.attr, self.scalars = (_ACTIVATIONS[type(activation)] if activation is not None
                                   else ("none", []))
        self._cast: dict[torch.dtype, tuple[Tensor, Tensor]] = {}

    def _weights(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        weight, bias = self.weight, self.bias
        if dtype == weight.dtype:
            return weight, bias
        if dtype not in self._cast:  # made once: casting per call cost 10% of the CNN
            self._cast[dtype] = (weight.to(dtype).contiguous(memory_format=torch.channels_last),
                                 bias.to(dtype))
        return self._cast[dtype]

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> FusedConv2d:
        self._cast.clear()  # moved or converted: the cached copies are stale
        return super()._apply(fn, recurse)  # type: ignore[no-untyped-call,no-any-return]

    def forward(self, x: Tensor) -> Tensor:
        dtype = (torch.get_autocast_dtype(x.device.type)
                 if torch.is_autocast_enabled(x.device.type) else x.dtype)
        weight, bias = self._weights(dtype)
        x = x.to(dtype)
        if self.use_pointwise and x.device.type == "cpu" and dtype in self.pointwise_dtypes:
            out: Tensor = torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, self.padding, self.stride, self.dilation, self.groups,
                self.attr, self.scalars, "")
            return out
        y = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        return self.activation(y) if self.activation is not None else y


def _fusable(conv: nn.Module, bn: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and bn.track_running_stats and not bn.training)


def fuse_conv_bn_act(module: nn.Module) -> int:
    """Replace, in every ``nn.Sequential`` inside ``module``, each Conv2d -> BatchNorm2d
    (-> ReLU/ReLU6) run by one ``FusedConv2d`` (the replaced slots become ``Identity``, so the
    Sequential's indices and any forward that wraps it stay valid). Eval mode only. Returns the
    number of fused runs."""
    if module.training:
        raise ValueError("fusing folds BatchNorm's running statistics: call .eval() first")
    FusedConv2d.use_pointwise = _pointwise_conv_available()
    FusedConv2d.pointwise_dtypes = frozenset({torch.float32, *_reduced_precision_supported()})
    fused = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        children = list(seq)
        i = 0
        while i + 1 < len(children):
            conv, bn = children[i], children[i + 1]
            if not _fusable(conv, bn):
                i += 1
                continue
            after = children[i + 2] if i + 2 < len(children) else None
            activation = after if type(after) in _ACTIVATIONS else None
            assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            seq[i] = FusedConv2d(conv, bn, activation)
            seq[i + 1] = nn.Identity()
            if activation is not None:
                seq[i + 2] = nn.Identity()
            fused += 1
            i += 3 if activation is not None else 2
    log.debug("fused %d conv/bn/activation runs (oneDNN pointwise: %s)", fused,
              FusedConv2d.use_pointwise)
    return fused
