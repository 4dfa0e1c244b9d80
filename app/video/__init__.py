"""Video input: the only package that imports PyAV.

Sniff the container from magic bytes, open it with that one demuxer, check the policy, and decode
only the frames a sampling plan needs. Everything takes plain arguments (no settings object).
"""

from app.video.decode import (
    DecodedVideo,
    decode,
    decode_gray_strip,
    decode_gray_strips,
    decode_thumbnails,
)
from app.video.probe import (
    DEFAULT_ALLOWED_CODECS,
    DEFAULT_ALLOWED_CONTAINERS,
    VideoInfo,
    VideoPolicy,
    probe,
)
from app.video.sampling import SamplingSpec, plan_sample_times
from app.video.sniff import sniff_container

__all__ = [
    "DEFAULT_ALLOWED_CODECS",
    "DEFAULT_ALLOWED_CONTAINERS",
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
    "sniff_container",
]
