"""The keyframe contact sheet: thumbnails in a grid, a caption under each, as one JPEG.

Sheet size (pixels), for n thumbnails:
    columns_used = min(columns, n);  rows = ceil(n / columns_used)
    image_height = tallest thumbnail scaled to ``cell_width`` (at most 2 x cell_width)
    width  = columns_used * cell_width
    height = rows * (image_height + CAPTION_HEIGHT_PX)
Thumbnails keep their aspect ratio and are centred in their cell.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

CAPTION_HEIGHT_PX = 22
FONT_SIZE_PX = 14
# A very tall thumbnail (a phone video's frame is 9:16) must not make every row huge.
MAX_ASPECT_HEIGHT = 2.0
_BACKGROUND = (18, 18, 18)
_TEXT = (235, 235, 235)
_ELLIPSIS = "..."


def contact_sheet(thumbnails: list[bytes], captions: list[str], columns: int = 4,
                  cell_width: int = 240, quality: int = 85) -> bytes:
    """One JPEG with every thumbnail (JPEG bytes) in a grid and its caption under it, e.g.
    "shot 2 · 12.5 s". Raises ValueError for mismatched inputs or an undecodable thumbnail."""
    if not thumbnails:
        raise ValueError("a contact sheet needs at least one thumbnail")
    if len(captions) != len(thumbnails):
        raise ValueError(f"{len(thumbnails)} thumbnails but {len(captions)} captions")
    if columns < 1 or cell_width < 16 or not 1 <= quality <= 95:
        raise ValueError("columns must be >= 1, cell_width >= 16 and quality in 1..95")

    max_height = int(cell_width * MAX_ASPECT_HEIGHT)
    images = [_fitted(_decoded(data, i), cell_width, max_height)
              for i, data in enumerate(thumbnails)]
    image_height = max(image.height for image in images)
    cols = min(columns, len(images))
    rows = math.ceil(len(images) / cols)
    cell_height = image_height + CAPTION_HEIGHT_PX
    sheet = Image.new("RGB", (cols * cell_width, rows * cell_height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=FONT_SIZE_PX)

    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        left, top = (i % cols) * cell_width, (i // cols) * cell_height
        sheet.paste(image, (left + (cell_width - image.width) // 2,
                            top + (image_height - image.height) // 2))
        text = _fit_text(draw, caption, font, cell_width - 8)
        text_width = draw.textlength(text, font=font)
        draw.text((left + (cell_width - text_width) / 2, top + image_height + 3), text,
                  fill=_TEXT, font=font)

    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _decoded(data: bytes, index: int) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"thumbnail {index} is not a readable image: {exc}") from exc


def _fitted(image: Image.Image, width: int, max_height: int) -> Image.Image:
    scale = min(width / image.width, max_height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont
              | ImageFont.ImageFont, max_width: float) -> str:
    """The caption, cut short with an ellipsis if it is wider than the cell."""
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + _ELLIPSIS, font=font) > max_width:
        text = text[:-1]
    return text.rstrip() + _ELLIPSIS


def keyframe_sheet(bodies: Sequence[Mapping[str, Any]],
                   caption: Callable[[Mapping[str, Any], Mapping[str, Any]], str]) -> bytes:
    """One sheet of every keyframe thumbnail in ``bodies`` (summarize bodies rendered with
    thumbnails), captioned by ``caption(body, keyframe)``. Raises ValueError if none has one."""
    thumbnails: list[bytes] = []
    captions: list[str] = []
    for body in bodies:
        for keyframe in body["keyframes"]:
            if keyframe.get("thumbnail_jpeg_base64"):
                thumbnails.append(base64.b64decode(keyframe["thumbnail_jpeg_base64"]))
                captions.append(caption(body, keyframe))
    return contact_sheet(thumbnails, captions)
