"""Text subtitle tracks read through PyAV, from files muxed here with FFmpeg's own encoders."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.video import VideoPolicy, probe
from app.video.subtitles import MAX_CUE_CHARS, read_subtitles
from tests.media import SUBTITLE_FORMATS, sample_clip, with_subtitles

CUES = [(0.5, 2.5, "a man rides a bicycle"), (4.0, 6.0, "the {\\i1}election{\\i0} is today")]


@pytest.mark.parametrize("codec", sorted(SUBTITLE_FORMATS))
def test_every_text_format_gives_its_cues(codec: str, tmp_path: Path) -> None:
    suffix = SUBTITLE_FORMATS[codec][1]
    path = with_subtitles(sample_clip("bikes.mp4"), tmp_path / f"subs{suffix}",
                          [("eng", CUES)], codec=codec)
    assert probe(path, VideoPolicy()).subtitle_streams == 1
    cues = read_subtitles(path)
    assert [(c.start_s, c.end_s, c.text, c.language, c.track) for c in cues] == [
        (0.5, 2.5, "a man rides a bicycle", "eng", 0),
        (4.0, 6.0, "the election is today", "eng", 0)]  # ASS styling tags are dropped


def test_tracks_are_kept_apart_and_sorted_by_time(tmp_path: Path) -> None:
    path = with_subtitles(sample_clip("bikes.mp4"), tmp_path / "two.mkv",
                          [("eng", [(3.0, 4.0, "later"), (1.0, 2.0, "first")]),
                           (None, [(2.0, 3.0, "ein Fahrrad")])], codec="subrip")
    cues = read_subtitles(path)
    assert [(c.text, c.track, c.language) for c in cues] == [
        ("first", 0, "eng"), ("ein Fahrrad", 1, None), ("later", 0, "eng")]


def test_a_file_without_subtitles_has_no_cues() -> None:
    assert read_subtitles(sample_clip("bikes.mp4")) == []


def test_a_long_cue_is_cut(tmp_path: Path) -> None:
    path = with_subtitles(sample_clip("bikes.mp4"), tmp_path / "long.mp4",
                          [("eng", [(0.0, 1.0, "word " * 400)])])
    [cue] = read_subtitles(path)
    assert len(cue.text) == MAX_CUE_CHARS
