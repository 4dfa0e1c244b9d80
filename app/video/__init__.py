"""Video input: the only package that imports PyAV, and only in the decode processes.

Sniff the container from magic bytes, open it with that one demuxer, check the policy, and decode
only the frames a sampling plan needs. Everything takes plain arguments (no settings object).

Importing this package loads no PyAV: the plain records (``types``), the sampling plan and the
sniffer are imported at once; ``probe`` and the ``decode*`` functions load ``app.video.container`` /
``app.video.decoder`` (and so FFmpeg) on first use. The API process only names the records, so it
never maps FFmpeg's libraries; the decode worker processes import the decoders directly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from app.video.sample_plan import SamplingSpec, plan_sample_times
from app.video.sniff import sniff_container
from app.video.types import (
    DEFAULT_ALLOWED_CODECS,
    DEFAULT_ALLOWED_CONTAINERS,
    Cue,
    DecodedVideo,
    VideoInfo,
    VideoPolicy,
)

if TYPE_CHECKING:
    from app.video.container import probe
    from app.video.decoder import decode, decode_gray_strip, decode_gray_strips, decode_thumbnails
    from app.video.subtitles import read_subtitles

# name -> the module (which imports PyAV) that defines it
_LAZY = {
    "decode": "app.video.decoder",
    "decode_gray_strip": "app.video.decoder",
    "decode_gray_strips": "app.video.decoder",
    "decode_thumbnails": "app.video.decoder",
    "probe": "app.video.container",
    "read_subtitles": "app.video.subtitles",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'app.video' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_ALLOWED_CODECS",
    "DEFAULT_ALLOWED_CONTAINERS",
    "Cue",
    "DecodedVideo",
    "SamplingSpec",
    "VideoInfo",
    "VideoPolicy",
    "decode",
    "decode_gray_strip",
    "decode_gray_strips",
    "decode_thumbnails",
    "plan_sample_times",
    "probe",
    "read_subtitles",
    "sniff_container",
]
