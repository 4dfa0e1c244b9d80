"""Turning one decoded frame into what a caller keeps: model input, a thumbnail, a gray patch.

Scaling happens in FFmpeg's swscale straight from YUV (0.3-0.5 ms a frame here), never on a
full-size RGB copy (4-7 ms). Display geometry is honoured: non-square pixels (sample aspect
ratio) and the display-matrix rotation of phone videos.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
from PIL import Image

# Past this aspect ratio the long side is squeezed: a 100:1 strip would otherwise become a
# 25600-pixel-wide image only to have its centre cropped.
MAX_ASPECT = 4.0
_INTERPOLATION = "BILINEAR"  # swscale's bilinear widens its filter when shrinking (no aliasing)


def rotation_quarters(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that make ``frame`` upright (display matrix), 0..3."""
    degrees = frame.rotation or 0
    return int(round(degrees / 90.0)) % 4


def display_size(width: int, height: int, sar: Fraction | None) -> tuple[float, float]:
    if sar and sar > 0:
        return width * float(sar), float(height)
    return float(width), float(height)


def scaled_size(width: int, height: int, sar: Fraction | None,
                short_side: int) -> tuple[int, int]:
    """Size with the displayed short side equal to ``short_side`` (aspect kept up to 4:1)."""
    disp_w, disp_h = display_size(width, height, sar)
    scale = short_side / min(disp_w, disp_h)
    out_w = max(short_side, round(disp_w * scale))
    out_h = max(short_side, round(disp_h * scale))
    limit = round(short_side * MAX_ASPECT)
    return min(out_w, limit), min(out_h, limit)


def to_model_input(frame: av.VideoFrame, sar: Fraction | None, short_side: int,
                   crop: int) -> np.ndarray:
    """(crop, crop, 3) uint8 RGB: short side scaled to ``short_side``, then a centre crop.

    When ``short_side < crop`` the short side is scaled to ``crop`` instead, so the output is
    always ``crop`` x ``crop`` without padding.
    """
    out_w, out_h = scaled_size(frame.width, frame.height, sar, max(short_side, crop))
    rgb = frame.to_ndarray(width=out_w, height=out_h, format="rgb24",
                           interpolation=_INTERPOLATION)  # (out_h, out_w, 3)
    top = (out_h - crop) // 2
    left = (out_w - crop) // 2
    patch = rgb[top:top + crop, left:left + crop]
    quarters = rotation_quarters(frame)
    if quarters:
        patch = np.rot90(patch, quarters)  # a centred square: rotating after the crop is equal
    return np.ascontiguousarray(patch)


def to_jpeg(frame: av.VideoFrame, sar: Fraction | None, max_side: int, quality: int) -> bytes:
    """The whole frame, upright, its long side at most ``max_side``, as JPEG bytes."""
    disp_w, disp_h = display_size(frame.width, frame.height, sar)
    scale = min(1.0, max_side / max(disp_w, disp_h))
    out_w = max(1, round(disp_w * scale))
    out_h = max(1, round(disp_h * scale))
    rgb: np.ndarray = frame.to_ndarray(width=out_w, height=out_h, format="rgb24",
                                       interpolation=_INTERPOLATION)
    quarters = rotation_quarters(frame)
    if quarters:
        rgb = np.ascontiguousarray(np.rot90(rgb, quarters))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def to_gray(frame: av.VideoFrame, size: int) -> np.ndarray:
    """(size, size) uint8 luma of the whole frame, aspect ignored: for frame differences only."""
    gray = frame.to_ndarray(width=size, height=size, format="gray",
                            interpolation=_INTERPOLATION)
    return np.ascontiguousarray(gray)
