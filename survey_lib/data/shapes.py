"""``shapes``: procedural RGB scenes with strong structure and edges.

A background (flat, a linear colour gradient, or stripes) and 2-6 objects drawn with
OpenCV's anti-aliased primitives: filled polygons, ellipses, thick lines, rectangles and
patches of a sinusoidal grating. Any size; 64x64 is the course's default.

Why: the edges continue *through* a hole and the regions are flat, so a good completion
is well defined and easy to judge by eye, the case where structure-guided methods
(EdgeConnect) and diffusion-like smoothing differ most. Both splits come from the same
distribution (different random draws; nothing to leak).
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from survey_lib.data.base import ImageSource

OBJECTS = (2, 6)


def _colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0, 255, 3))  # type: ignore[return-value]


@lru_cache(maxsize=16)
def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index grids (float32), cached: every scene needs them."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ys.flags.writeable = False
    xs.flags.writeable = False
    return ys, xs


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = rng.random()
    c0, c1 = np.asarray(_colour(rng), np.float32), np.asarray(_colour(rng), np.float32)
    if kind < 0.25:
        return np.broadcast_to(c0.astype(np.uint8), (h, w, 3)).copy()
    ys, xs = _coords(h, w)
    theta = rng.uniform(0, 2 * math.pi)
    along = xs * math.cos(theta) + ys * math.sin(theta)
    if kind < 0.7:  # linear gradient
        lo, hi = float(along.min()), float(along.max())
        t = (along - lo) / max(hi - lo, 1e-6)
    else:  # stripes: a square-wave grating with a one-pixel anti-aliased edge
        period = rng.uniform(4, max(5.0, min(h, w) / 3))
        wave = np.sin(2 * math.pi * along / period + rng.uniform(0, 2 * math.pi))
        t = np.clip(0.5 + wave * period / (2 * math.pi), 0.0, 1.0)
    return (c0 + t[:, :, None] * (c1 - c0) + 0.5).astype(np.uint8)


def _grating_patch(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    region = np.zeros((h, w), np.uint8)
    centre = (int(rng.integers(w)), int(rng.integers(h)))
    axes = (int(rng.uniform(0.15, 0.4) * w), int(rng.uniform(0.15, 0.4) * h))
    cv2.ellipse(region, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    ys, xs = _coords(h, w)
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(3, max(4.0, min(h, w) / 4))
    t = 0.5 + 0.5 * np.sin(2 * math.pi * (xs * math.cos(theta) + ys * math.sin(theta)) / period)
    c0, c1 = np.asarray(_colour(rng), np.float32), np.asarray(_colour(rng), np.float32)
    inside = region.astype(bool)
    canvas[inside] = (c0 + t[inside][:, None] * (c1 - c0) + 0.5).astype(np.uint8)


def _draw_object(canvas: np.ndarray, rng: np.random.Generator) -> None:
    h, w = canvas.shape[:2]
    kind = int(rng.integers(5))
    colour = _colour(rng)
    if kind == 0:  # polygon: 3-7 vertices around a centre, sorted by angle (star-shaped)
        n = int(rng.integers(3, 8))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        radii = rng.uniform(0.1, 0.45, n) * min(h, w)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
    elif kind == 1:  # ellipse
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (max(1, int(rng.uniform(0.05, 0.35) * w)), max(1, int(rng.uniform(0.05, 0.35) * h)))
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    elif kind == 2:  # thick line
        p0 = (int(rng.integers(w)), int(rng.integers(h)))
        p1 = (int(rng.integers(w)), int(rng.integers(h)))
        thickness = max(1, int(rng.uniform(0.02, 0.08) * min(h, w)))
        cv2.line(canvas, p0, p1, colour, thickness, cv2.LINE_AA)
    elif kind == 3:  # rectangle, possibly rotated
        centre = (float(rng.uniform(0, w)), float(rng.uniform(0, h)))
        box = (float(rng.uniform(0.1, 0.5) * w), float(rng.uniform(0.1, 0.5) * h))
        pts = cv2.boxPoints((centre, box, float(rng.uniform(0, 90))))
        cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)
    else:
        _grating_patch(canvas, rng)


class Shapes(ImageSource):
    """Procedural RGB scenes (uint8, OpenCV anti-aliased drawing) of polygons, ellipses, lines, gradients, stripes and gratings."""

    name = "shapes"

    def __init__(self, size: object = 64, split: str = "train", channels: int | None = None) -> None:
        super().__init__(size, split, channels)

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        canvas = _background(rng, self.height, self.width)
        for _ in range(int(rng.integers(OBJECTS[0], OBJECTS[1] + 1))):
            _draw_object(canvas, rng)
        return canvas
