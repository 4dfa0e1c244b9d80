"""What happens inside a gap between two samples, read from every frame decoded in it.

At 2 fps a fast pan or zoom changes the picture between two samples as much as a cut does, so the
boundary head's candidates are checked here at the full frame rate (small gray frames, the same
strip refinement decodes):

- a **cut** is one abrupt change between two consecutive frames that camera motion does not
  explain (the difference left after the best global shift or zoom stands far above the gap's
  usual frame-to-frame change and above its neighbours) and that does not come back (a flash
  returns to the picture before it);
- a **gradual** transition is a change between the gap's ends with no such step, in which the
  frames in between are mixes of the two ends (a dissolve) or the brightness carries the change
  (a fade);
- anything else (camera motion, a zoom, an object passing the lens, a flash, nothing) is
  **motion**: the candidate is dropped.

A gap may hold more than one cut (a shot shorter than the gap). Pure numpy; the thresholds are
named below with the reason for each.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Kind = Literal["cut", "gradual", "motion"]

# A step must stand this many times above the gap's usual frame-to-frame change (the median of
# the motion-compensated differences) ...
CUT_RATIO = 3.0
# ... and this many times above both neighbouring steps: a fade or a zoom changes every frame
# alike, while a cut inside fast motion still doubles what the motion does (bikes.mp4's cut at
# 3.04 s: 50.7 gray levels between steps of 19.6 and 4.1).
NEIGHBOUR_RATIO = 2.0
# ... and above this many gray levels (of 255), which compression noise does not reach.
CUT_MIN_LEVELS = 3.0
# A flash returns: a frame two or three later matches the frame before the step within this
# share of the step's size.
FLASH_RETURN_SHARE = 0.5
# A gradual transition changes the picture between the gap's two ends by at least this much,
# after the best global shift (less, and the ends match: the camera moved, or a flash or
# something passing the lens came and went).
GRADUAL_MIN_LEVELS = 6.0
# A fade: the change of mean brightness is at least this share of the visible steps' change.
FADE_SHARE = 0.6
# Zooms are tried only where the best shift leaves more than this share of the difference.
ZOOM_NOT_NEEDED = 0.3
# Zooms tried between consecutive frames (a crash zoom of 3x in half a second is 1.1 a frame).
ZOOM_STEPS = (0.9, 0.93, 0.96, 0.98, 1.02, 1.04, 1.07, 1.1)
# A dissolve's middle frames are mixes of its two ends: the best mix leaves at most
# (1 - this share) of the change between the ends unexplained in each of them.
BLEND_EXPLAINS = 0.6
# Largest global shift tried, as a share of the frame (a whip pan moves more than this between
# frames, and then nothing matches: that is fine, its change is spread evenly, with no step).
MAX_SHIFT_SHARE = 0.25


@dataclass
class GapEvidence:
    kind: Kind
    # Cut: the time of each cut (the midpoint between the two frames either side of it), the
    # strongest first.
    # Gradual: the middle of the changing span. Motion: empty.
    times_s: list[float] = field(default_factory=list)


def classify_gap(times_s: np.ndarray, frames_gray: np.ndarray) -> GapEvidence:
    """Read a gap's frames: cut(s) with their times, a gradual transition, or motion."""
    times = np.asarray(times_s, dtype=np.float64)
    frames = np.asarray(frames_gray, dtype=np.float32)
    if times.ndim != 1 or len(frames) != len(times) or frames.ndim != 3:
        raise ValueError(f"need (N, H, W) frames and N times, got {frames.shape} and "
                         f"{times.shape}")
    if len(times) < 3:
        # Too few frames to tell a step from steady change: keep the candidate where it is.
        middle = float((times[0] + times[-1]) / 2.0) if len(times) else 0.0
        return GapEvidence("cut", [middle])
    differences = [_differences(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True)]
    plain = np.array([d[0] for d in differences])  # (N-1,): as decoded
    steps = np.array([d[1] for d in differences])  # (N-1,): after the camera's motion
    cuts = sorted(_cut_steps(frames, steps), key=lambda k: -float(steps[k]))
    if cuts:
        return GapEvidence("cut", [float((times[k] + times[k + 1]) / 2.0) for k in cuts])
    if compensated_difference(frames[0], frames[-1]) < GRADUAL_MIN_LEVELS:
        # The ends match once aligned: the camera moved, or something came and went.
        return GapEvidence("motion")
    if not (_is_blend(frames) or _is_fade(frames, plain)):
        # Changed, but neither as a mix of the two ends nor as a change of brightness: the
        # camera or something in the picture moved.
        return GapEvidence("motion")
    changing = np.flatnonzero(steps >= 0.5 * float(steps.max()))
    first, last = int(changing[0]), int(changing[-1]) + 1
    return GapEvidence("gradual", [float((times[first] + times[last]) / 2.0)])


def compensated_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference between two frames after the global motion that best aligns
    them: a shift (phase correlation, to a fraction of a pixel) or a zoom about the centre,
    over the part they share; the plain difference if that is less."""
    return _differences(a, b)[1]


def _differences(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(plain, compensated) mean absolute differences of two frames."""
    plain = float(np.abs(a - b).mean())
    shifted = _shifted_difference(a, b, plain)
    if shifted <= ZOOM_NOT_NEEDED * plain:
        return plain, shifted  # a shift explains it already; zooms only where it does not
    return plain, min(shifted, _zoomed_difference(a, b))


def _zoomed_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The least difference between ``b`` and ``a`` zoomed by one of ``ZOOM_STEPS``, over the
    frame's central part (which every zoom covers)."""
    h, w = a.shape
    margin_y, margin_x = h // 8, w // 8
    centre = b[margin_y:h - margin_y, margin_x:w - margin_x]
    best = float(np.abs(a - b)[margin_y:h - margin_y, margin_x:w - margin_x].mean())
    for factor in ZOOM_STEPS:
        zoomed = _zoom(a, factor)[margin_y:h - margin_y, margin_x:w - margin_x]
        best = min(best, float(np.abs(zoomed - centre).mean()))
    return best


def _zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` magnified by ``factor`` about its centre (bilinear; edges repeat). Bilinear
    resampling is separable: one interpolation matrix for the rows, one for the columns."""
    rows, columns = _zoom_matrices(*image.shape, factor)
    zoomed: np.ndarray = rows @ image @ columns
    return zoomed


@functools.lru_cache(maxsize=64)
def _zoom_matrices(h: int, w: int, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, H) and (W, W) matrices of a zoom, made once per size and factor."""
    return _interpolation(h, factor), _interpolation(w, factor).T


def _interpolation(n: int, factor: float) -> np.ndarray:
    source = np.clip((np.arange(n) - (n - 1) / 2) / factor + (n - 1) / 2, 0, n - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    weight = (source - low).astype(np.float32)
    matrix = np.zeros((n, n), dtype=np.float32)
    matrix[np.arange(n), low] += 1 - weight
    matrix[np.arange(n), high] += weight
    return matrix


def _shifted_difference(a: np.ndarray, b: np.ndarray, plain: float) -> float:
    dy, dx = global_shift(a, b)
    if dy == 0.0 and dx == 0.0:
        return plain
    h, w = a.shape
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = dy - iy, dx - ix
    # b(y, x) ~ a(y - dy, x - dx), bilinear between the four integer shifts around it; compared
    # over the rows and columns every one of them covers.
    top, bottom = max(0, iy + 1), h + min(0, iy)
    left, right = max(0, ix + 1), w + min(0, ix)
    if (bottom - top) * (right - left) < a.size // 4:
        return plain

    def shifted(sy: int, sx: int) -> np.ndarray:
        return a[top - sy:bottom - sy, left - sx:right - sx]

    warped = ((1 - fy) * (1 - fx) * shifted(iy, ix) + (1 - fy) * fx * shifted(iy, ix + 1)
              + fy * (1 - fx) * shifted(iy + 1, ix) + fy * fx * shifted(iy + 1, ix + 1))
    return min(plain, float(np.abs(warped - b[top:bottom, left:right]).mean()))


def global_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The (dy, dx) with b(y, x) ~ a(y - dy, x - dx), by phase correlation, refined to a
    fraction of a pixel by a parabola through the peak; (0, 0) beyond ``MAX_SHIFT_SHARE``."""
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))  # no false peak from the frame's edges
    fa = np.fft.rfft2((a - a.mean()) * window)
    fb = np.fft.rfft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-6)
    correlation = np.fft.irfft2(cross, s=(h, w))  # (H, W): peak at the shift
    py, px = divmod(int(np.argmax(correlation)), w)

    def vertex(minus: float, centre: float, plus: float) -> float:
        curvature = minus - 2 * centre + plus
        return 0.0 if curvature >= 0 else float(np.clip(0.5 * (minus - plus) / curvature,
                                                        -0.5, 0.5))

    dy = py + vertex(correlation[py - 1, px], correlation[py, px],
                     correlation[(py + 1) % h, px])
    dx = px + vertex(correlation[py, px - 1], correlation[py, px],
                     correlation[py, (px + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    if abs(dy) > MAX_SHIFT_SHARE * h or abs(dx) > MAX_SHIFT_SHARE * w:
        return 0.0, 0.0
    return dy, dx


def _cut_steps(frames: np.ndarray, steps: np.ndarray) -> list[int]:
    """Indices k of steps between frames k and k+1 that are cuts: each stands well above the
    gap's usual change and above both its neighbours, and does not go away again (a flash)."""
    cuts = []
    for k in np.flatnonzero(steps >= CUT_MIN_LEVELS).tolist():
        others = np.delete(steps, k)
        usual = float(np.median(others)) if len(others) else 0.0
        neighbours = steps[max(0, k - 1):k].tolist() + steps[k + 1:k + 2].tolist()
        if steps[k] < CUT_RATIO * max(usual, 1.0) or \
                steps[k] < NEIGHBOUR_RATIO * max(neighbours, default=0.0):
            continue
        if _is_flash(frames, k, float(steps[k])):
            continue
        cuts.append(k)
    return cuts


def _is_flash(frames: np.ndarray, k: int, step: float) -> bool:
    """The step from frame k to k+1 goes away again: the picture after it matches one from just
    before it (the flash's end), or the picture before it matches one soon after (its start)."""
    pairs = [(k + 1, earlier) for earlier in (k - 1, k - 2)] + \
        [(k, later) for later in (k + 2, k + 3)]
    return any(0 <= j < len(frames) and
               compensated_difference(frames[i], frames[j]) <= FLASH_RETURN_SHARE * step
               for i, j in pairs)


def _is_fade(frames: np.ndarray, plain: np.ndarray) -> bool:
    """The brightness moves a long way (to or from black) and carries most of the visible
    change: a fade. Camera motion moves pixels around and leaves the mean where it was."""
    means = frames.reshape(len(frames), -1).mean(axis=1)  # (N,)
    if float(means.max() - means.min()) < GRADUAL_MIN_LEVELS:
        return False
    moving = plain >= CUT_MIN_LEVELS
    if not moving.any():
        return False
    brightness = np.abs(np.diff(means))[moving]
    return bool(brightness.sum() >= FADE_SHARE * float(plain[moving].sum()))


def _is_blend(frames: np.ndarray) -> bool:
    """Every frame between the gap's ends is a mix of the two, moving one way: a dissolve."""
    first, last = frames[0], frames[-1]
    direction = (last - first).ravel()
    norm = float(direction @ direction)
    if norm <= 0.0:
        return False
    total = float(np.abs(direction).mean())
    alphas = []
    for frame in frames[1:-1]:
        offset = (frame - first).ravel()
        alpha = float(np.clip(offset @ direction / norm, 0.0, 1.0))
        if float(np.abs(offset - alpha * direction).mean()) > (1.0 - BLEND_EXPLAINS) * total:
            return False
        alphas.append(alpha)
    return not np.any(np.diff(alphas) < -0.15)
