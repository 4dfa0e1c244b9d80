"""The keyframe contact sheet (app/analysis/contact_sheet.py)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.analysis.contact_sheet import CAPTION_HEIGHT_PX, contact_sheet

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200),
           (200, 30, 200)]


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (160, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.convert("RGB")


def test_a_grid_of_six_has_two_rows_of_four_cells_with_captions() -> None:
    captions = [f"shot {i} · {2.5 * i:.1f} s" for i in range(6)]

    sheet = _open(contact_sheet([_jpeg(c) for c in COLOURS], captions))

    image_height = 135  # 160x90 scaled to the 240 px cell width
    assert sheet.size == (4 * 240, 2 * (image_height + CAPTION_HEIGHT_PX))
    pixels = np.asarray(sheet).astype(int)
    cell_height = image_height + CAPTION_HEIGHT_PX
    for i, colour in enumerate(COLOURS):  # each thumbnail sits in its own cell, in order
        centre = pixels[(i // 4) * cell_height + image_height // 2, (i % 4) * 240 + 120]
        assert np.abs(centre - colour).max() < 12
    caption_band = pixels[image_height:cell_height, :240]
    assert caption_band.max() > 150  # light text on the dark band
    assert np.asarray(sheet)[-CAPTION_HEIGHT_PX:, 2 * 240:].max() < 40  # empty cells stay dark


def test_one_thumbnail_gives_a_single_cell() -> None:
    sheet = _open(contact_sheet([_jpeg(COLOURS[0])], ["shot 0 · 0.0 s"], cell_width=120))

    assert sheet.size == (120, round(90 * 120 / 160) + CAPTION_HEIGHT_PX)


def test_a_tall_thumbnail_is_capped_at_twice_the_cell_width() -> None:
    sheet = _open(contact_sheet([_jpeg(COLOURS[0], (90, 400)), _jpeg(COLOURS[1])],
                                ["tall", "wide"], columns=2, cell_width=100))

    assert sheet.size == (200, 200 + CAPTION_HEIGHT_PX)


def test_a_caption_too_wide_for_its_cell_is_shortened() -> None:
    sheet = _open(contact_sheet([_jpeg(COLOURS[2])], ["x" * 500], cell_width=64))

    assert sheet.size == (64, 36 + CAPTION_HEIGHT_PX)


def test_quality_changes_the_encoding() -> None:
    thumbs = [_jpeg(c) for c in COLOURS]
    captions = [f"shot {i}" for i in range(6)]

    assert len(contact_sheet(thumbs, captions, quality=30)) < len(
        contact_sheet(thumbs, captions, quality=95))


def test_mismatched_or_broken_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="2 thumbnails but 1 captions"):
        contact_sheet([_jpeg(COLOURS[0])] * 2, ["a"])
    with pytest.raises(ValueError, match="at least one"):
        contact_sheet([], [])
    with pytest.raises(ValueError, match="thumbnail 1 is not a readable image"):
        contact_sheet([_jpeg(COLOURS[0]), b"not a jpeg"], ["a", "b"])
