"""The mask families, drawn with numpy + OpenCV: each returns an (H, W) uint8 array, 1 = hole.

Every function here has the signature ``family(rng, height, width) -> ndarray`` and takes
*all* its randomness from ``rng`` (a :class:`numpy.random.Generator`), so a mask is a pure
function of its generator's seed. Sizes in the published recipes are given for 256x256
images; they are scaled here by ``sqrt(H * W) / 256`` so that a family looks the same at
any resolution (a 12-40 px DeepFill brush is 1.5-5 px wide at 32x32).

The public entry points (names, validation, the non-empty/non-full guarantee, tensors)
live in :mod:`survey_lib.data.masks`; this module only draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

MaskFn = Callable[[np.random.Generator, int, int], np.ndarray]

REFERENCE_SIZE = 256.0  # the published mask recipes are stated for 256x256 images


def size_scale(height: int, width: int) -> float:
    """Factor that maps lengths from the 256x256 recipes to a (height, width) image."""
    return math.sqrt(height * width) / REFERENCE_SIZE


def _fill_box(mask: np.ndarray, top: int, left: int, bh: int, bw: int) -> None:
    mask[max(top, 0) : max(top + bh, 0), max(left, 0) : max(left + bw, 0)] = 1


# --------------------------------------------------------------------------- boxes
def center_box(rng: np.random.Generator, height: int, width: int, ratio: float = 0.25) -> np.ndarray:
    """A centred rectangle covering about ``ratio`` of the image (Context Encoders' hole).

    Each side is ``sqrt(ratio)`` of the image side, so ``ratio=0.25`` is the classic
    half-side centre square. ``rng`` is unused: the centre hole is the same every time.
    """
    del rng
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be a fraction of the image in (0, 1], got {ratio!r}")
    side = math.sqrt(ratio)
    bh = min(max(1, round(height * side)), height)
    bw = min(max(1, round(width * side)), width)
    mask = np.zeros((height, width), np.uint8)
    _fill_box(mask, (height - bh) // 2, (width - bw) // 2, bh, bw)
    return mask


def random_boxes(rng: np.random.Generator, height: int, width: int, max_boxes: int = 3) -> np.ndarray:
    """1 to ``max_boxes`` axis-aligned rectangles, each side 10-40 % of the image side."""
    if isinstance(max_boxes, bool) or not isinstance(max_boxes, (int, np.integer)) or max_boxes < 1:
        raise ValueError(f"max_boxes must be a positive int, got {max_boxes!r}")
    n = int(rng.integers(1, max_boxes + 1))
    bh = np.maximum(1, (rng.uniform(0.1, 0.4, n) * height).astype(int))
    bw = np.maximum(1, (rng.uniform(0.1, 0.4, n) * width).astype(int))
    top = (rng.random(n) * (height - bh + 1)).astype(int)
    left = (rng.random(n) * (width - bw + 1)).astype(int)
    mask = np.zeros((height, width), np.uint8)
    for i in range(n):
        _fill_box(mask, top[i], left[i], bh[i], bw[i])
    return mask


# --------------------------------------------------------------------------- DeepFill v2
BRUSH_STROKES = (1, 3)  # strokes per mask (inclusive)
BRUSH_VERTICES = (4, 12)  # vertices per stroke (inclusive)
BRUSH_MEAN_ANGLE = 2 * math.pi / 5
BRUSH_ANGLE_RANGE = 2 * math.pi / 15
BRUSH_WIDTH = (12.0, 40.0)  # at 256x256


def brush_strokes(rng: np.random.Generator, height: int, width: int, flip: bool = True) -> np.ndarray:
    """DeepFill v2's free-form strokes (without its box), following REFERENCE.md.

    1-3 strokes; each a zig-zag of 4-12 vertices whose turning angles alternate around
    the mean 2pi/5 (range 2pi/15), step lengths ``clip(N(R, R/2), 0, 2R)`` with
    ``R = sqrt(H^2 + W^2) / 8``, width ``U(12, 40)`` scaled to the image, vertices drawn
    as disks so the joints are round. Then a random left-right and a random up-down flip.

    Two bugs of the published copies are *not* reproduced: the flips are really applied
    (the originals drop the flipped image), and x runs over the width and y over the
    height (the originals swap them, so non-square images get clipped strokes).
    ``flip=False`` skips applying the flips (the coin tosses are still drawn so the
    strokes stay identical); the tests use it to prove that flipping happens.
    """
    scale = size_scale(height, width)
    radius = math.sqrt(height * height + width * width) / 8.0
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(BRUSH_STROKES[0], BRUSH_STROKES[1] + 1))):
        n_vertex = int(rng.integers(BRUSH_VERTICES[0], BRUSH_VERTICES[1] + 1))
        angle_min = BRUSH_MEAN_ANGLE - rng.uniform(0, BRUSH_ANGLE_RANGE)
        angle_max = BRUSH_MEAN_ANGLE + rng.uniform(0, BRUSH_ANGLE_RANGE)
        angles = rng.uniform(angle_min, angle_max, n_vertex)
        angles[::2] = 2 * math.pi - angles[::2]  # alternate the turning direction
        steps = np.clip(rng.normal(radius, radius / 2, n_vertex), 0, 2 * radius)
        x, y = rng.uniform(0, width), rng.uniform(0, height)  # x runs over the width
        dx, dy = (steps * np.cos(angles)).tolist(), (steps * np.sin(angles)).tolist()
        xs, ys = [int(x)], [int(y)]
        for step_x, step_y in zip(dx, dy):  # clip after every step, as the recipe does
            x = min(max(x + step_x, 0.0), width - 1.0)
            y = min(max(y + step_y, 0.0), height - 1.0)
            xs.append(int(x))
            ys.append(int(y))
        stroke_width = max(1, int(rng.uniform(*BRUSH_WIDTH) * scale))
        cv2.polylines(mask, [np.array([xs, ys], np.int32).T.copy()], False, 1, thickness=stroke_width)
        for vx, vy in zip(xs, ys):
            cv2.circle(mask, (vx, vy), stroke_width // 2, 1, thickness=-1)
    flip_lr, flip_ud = rng.random() < 0.5, rng.random() < 0.5
    if flip and flip_lr:
        mask = mask[:, ::-1]
    if flip and flip_ud:
        mask = mask[::-1, :]
    return np.ascontiguousarray(mask)


def deepfill_box(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """DeepFill's random box: half the image side, at a random place, each edge jittered
    inwards by up to 1/16 of the side (128x128 with up to 16 px jitter at 256x256)."""
    bh, bw = max(1, height // 2), max(1, width // 2)
    u = rng.random(6).tolist()  # one draw for position and the four edge jitters
    top, left = int(u[0] * (height - bh + 1)), int(u[1] * (width - bw + 1))
    jh, jw = max(1, height // 16) + 1, max(1, width // 16) + 1
    d_top, d_bottom, d_left, d_right = int(u[2] * jh), int(u[3] * jh), int(u[4] * jw), int(u[5] * jw)
    mask = np.zeros((height, width), np.uint8)
    _fill_box(mask, top + d_top, left + d_left, max(1, bh - d_top - d_bottom), max(1, bw - d_left - d_right))
    return mask


def brush(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """DeepFill v2 training mask: free-form strokes OR'ed with a random box."""
    return brush_strokes(rng, height, width) | deepfill_box(rng, height, width)


# --------------------------------------------------------------------------- LaMa
# LaMa's three training-mask families at 256x256 (REFERENCE.md): stroke count range,
# max stroke width, max segment length, (box min side, box max side) or None, box probability.
LAMA_FAMILIES: dict[str, dict[str, object]] = {
    "thin": {"strokes": (4, 50), "max_width": 10, "max_len": 40, "boxes": None, "box_p": 0.0},
    "medium": {"strokes": (4, 5), "max_width": 50, "max_len": 100, "boxes": (10, 50), "box_p": 0.3},
    "thick": {"strokes": (1, 5), "max_width": 100, "max_len": 200, "boxes": (30, 150), "box_p": 0.3},
}
LAMA_MAX_RATIO = 0.5  # LaMa rejects masks that cover more than half the image
LAMA_MAX_ANGLE = 4.0  # radians of random turn between segments
LAMA_SEGMENTS = (1, 4)  # straight segments per stroke (inclusive)


def _lama_once(rng: np.random.Generator, height: int, width: int, family: dict) -> np.ndarray:
    """One LaMa-style draw: random-walk strokes (all randomness drawn at once), maybe boxes."""
    scale = size_scale(height, width)
    mask = np.zeros((height, width), np.uint8)
    lo, hi = family["strokes"]
    n = int(rng.integers(lo, hi + 1))
    n_seg = rng.integers(LAMA_SEGMENTS[0], LAMA_SEGMENTS[1] + 1, n)
    seg_max = LAMA_SEGMENTS[1]
    start = rng.random((n, 2)) * (width, height)
    heading = rng.uniform(0, 2 * math.pi, (n, 1)) + np.cumsum(
        rng.uniform(-LAMA_MAX_ANGLE, LAMA_MAX_ANGLE, (n, seg_max)), axis=1)
    length = rng.uniform(0.1, 1.0, (n, seg_max)) * family["max_len"] * scale
    widths = np.maximum(1, (rng.uniform(0.1, 1.0, n) * family["max_width"] * scale).astype(int)).tolist()
    path = np.empty((n, seg_max + 1, 2))
    path[:, 0] = start
    path[:, 1:, 0] = start[:, :1] + np.cumsum(length * np.cos(heading), axis=1)
    path[:, 1:, 1] = start[:, 1:] + np.cumsum(length * np.sin(heading), axis=1)
    np.clip(path[..., 0], 0, width - 1, out=path[..., 0])
    np.clip(path[..., 1], 0, height - 1, out=path[..., 1])
    path = path.astype(np.int32)
    for i, segments in enumerate(n_seg.tolist()):
        cv2.polylines(mask, [path[i, : segments + 1]], False, 1, thickness=widths[i])
    if family["boxes"] is not None and rng.random() < family["box_p"]:
        b_lo, b_hi = family["boxes"]
        k = int(rng.integers(1, 4))
        sides = np.maximum(1, (rng.uniform(b_lo, b_hi, (k, 2)) * scale).astype(int))
        sides = np.minimum(sides, [height - 1, width - 1]).clip(min=1)
        corners = (rng.random((k, 2)) * (np.array([height, width]) - sides + 1)).astype(int)
        for (bh, bw), (top, left) in zip(sides.tolist(), corners.tolist()):
            _fill_box(mask, top, left, bh, bw)
    return mask


def lama(rng: np.random.Generator, height: int, width: int, kind: str = "medium") -> np.ndarray:
    """A LaMa training mask of family ``kind`` (thin, medium or thick), scaled to the image.

    Masks covering more than half the image are rejected and redrawn, as in LaMa.
    """
    family = LAMA_FAMILIES[kind]
    mask = _lama_once(rng, height, width, family)
    for _ in range(100):
        if 0 < mask.mean() <= LAMA_MAX_RATIO:
            break
        mask = _lama_once(rng, height, width, family)
    return mask


# --------------------------------------------------------------------------- hole-ratio bins
def ratio_bounds(lo: float, hi: float, n_pixels: int) -> tuple[int, int]:
    """Smallest and largest hole pixel counts whose ratio lies inside (lo, hi) with half a
    pixel of margin, so float32 rounding can never push a mask over a bin edge."""
    k_min = max(1, math.ceil(lo * n_pixels + 0.5))
    k_max = min(n_pixels - 1, math.floor(hi * n_pixels - 0.5))
    return k_min, k_max


def in_ratio_bin(rng: np.random.Generator, height: int, width: int, lo: float, hi: float) -> np.ndarray:
    """An irregular stroke mask whose hole ratio lies in [lo, hi) (NVIDIA-protocol bins).

    A target count ``k`` of hole pixels is drawn uniformly from the bin. Thin random
    strokes (the skeleton) are drawn, then the hole *grows outwards from the skeleton*:
    the ``k`` pixels closest to it (distance transform, ties broken by a smooth random
    field so the border looks organic) become the hole. The ratio is therefore exactly
    ``k / (H * W)``, and the growth is deterministic given ``rng``.
    """
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"need 0 <= lo < hi <= 1 (hole-ratio fractions), got lo={lo!r}, hi={hi!r}")
    n_pixels = height * width
    k_min, k_max = ratio_bounds(lo, hi, n_pixels)
    if k_min > k_max:
        raise ValueError(f"a {height}x{width} image has no hole size in the bin {lo:g}-{hi:g}")
    k = int(rng.integers(k_min, k_max + 1))
    mean_width = rng.uniform(1.5, 6.0) * max(1.0, size_scale(height, width) * 4)
    budget = max(1, int(k / mean_width))  # skeleton pixels: about k / stroke width
    skeleton = np.zeros((height, width), np.uint8)
    step = max(2.0, math.sqrt(height * width) / 8)
    n_max = 64
    angles = (rng.uniform(0, 2 * math.pi) + np.cumsum(rng.uniform(-1.5, 1.5, n_max))).tolist()
    restarts = (rng.random(n_max) < 0.15).tolist()  # start a new stroke somewhere else
    jumps = (rng.random((n_max, 2)) * (width, height)).tolist()
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    drawn = 0.0  # skeleton length so far (overlaps counted twice: a budget, not a count)
    for angle, restart, (jx, jy) in zip(angles, restarts, jumps):
        if drawn >= budget:
            break
        if restart:
            x, y = jx, jy
        nx = min(max(x + step * math.cos(angle), 0.0), width - 1.0)
        ny = min(max(y + step * math.sin(angle), 0.0), height - 1.0)
        cv2.line(skeleton, (int(x), int(y)), (int(nx), int(ny)), 1, 1)
        drawn += max(abs(int(nx) - int(x)), abs(int(ny) - int(y))) + 1
        x, y = nx, ny
    skeleton[min(int(y), height - 1), min(int(x), width - 1)] = 1
    distance = cv2.distanceTransform(1 - skeleton, cv2.DIST_L2, 3)
    noise = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 1.5)
    noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)
    priority = (distance + 1.5 * noise).ravel()
    order = np.argpartition(priority, k - 1)[:k]
    mask = np.zeros(n_pixels, np.uint8)
    mask[order] = 1
    return mask.reshape(height, width)
