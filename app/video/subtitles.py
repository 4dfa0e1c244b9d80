"""Text subtitle tracks -> cues: mov_text (MP4), SubRip, ASS/SSA and WebVTT (Matroska/WebM).

Runs in a decode process like the frame decoders, on the same sniffed demuxer and policy. Only
the subtitle packets are demuxed and decoded (no picture is decoded). Bitmap subtitles (DVD,
PGS) carry no text and are skipped. A hostile file cannot make the list unbounded: cues, the
characters of one cue and the characters of all of them are capped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import av

from app.video.container import open_input
from app.video.sniff import sniff_container
from app.video.types import Cue, VideoPolicy

MAX_CUES = 5000
MAX_CUE_CHARS = 500
MAX_TOTAL_CHARS = 200_000
# A cue without a duration stays until the next one, at most this long.
DEFAULT_CUE_S = 4.0
_ASS_BREAK = re.compile(r"\\[Nnh]")
_ASS_TAG = re.compile(r"\{[^}]*\}")
_SPACE = re.compile(r"\s+")


def read_subtitles(path: str | os.PathLike[str], policy: VideoPolicy | None = None,
                   container: str | None = None) -> list[Cue]:
    """Every text cue of every text subtitle track, by start time."""
    policy = policy or VideoPolicy()
    kind = container if container is not None else sniff_container(path)
    cues: list[Cue] = []
    total = 0
    with open_input(Path(path), kind, policy) as fh:
        streams = list(fh.streams.subtitles)
        if not streams:
            return []
        tracks = {s.index: n for n, s in enumerate(streams)}
        for packet in fh.demux(*streams):
            if packet.size == 0 or packet.pts is None or packet.time_base is None:
                continue
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                continue  # one broken cue does not lose the others
            text = " ".join(t for t in (_text(sub) for sub in decoded) if t)
            if not text:
                continue
            text = text[:MAX_CUE_CHARS]
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            stream = packet.stream
            language = stream.metadata.get("language") or None
            cues.append(Cue(start_s=max(start, 0.0), end_s=max(end, start), text=text,
                            language=None if language == "und" else language,
                            track=tracks[stream.index]))
            total += len(text)
            if len(cues) >= MAX_CUES or total >= MAX_TOTAL_CHARS:
                break
    cues.sort(key=lambda c: (c.start_s, c.track))
    return _with_ends(cues)


def _text(sub: object) -> str:
    raw = getattr(sub, "dialogue", None) or getattr(sub, "text", None) or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = _ASS_TAG.sub("", _ASS_BREAK.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


def _with_ends(cues: list[Cue]) -> list[Cue]:
    """A cue with no duration lasts until the next cue of its track, at most DEFAULT_CUE_S."""
    out = []
    for i, cue in enumerate(cues):
        if cue.end_s > cue.start_s:
            out.append(cue)
            continue
        later = [c.start_s for c in cues[i + 1:] if c.track == cue.track and
                 c.start_s > cue.start_s]
        end = min([cue.start_s + DEFAULT_CUE_S, *later[:1]])
        out.append(Cue(cue.start_s, end, cue.text, cue.language, cue.track))
    return out
