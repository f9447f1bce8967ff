"""Brush strokes as data, rasterised exactly: the model behind the mask painter.

A stroke is a polyline of points (x = column, y = row, in image pixels) and a radius.
Its footprint is every pixel whose *centre* lies within ``radius`` of the polyline:
a disk for a single point, a capsule (a rectangle with round ends) for a segment.
Defining the mask by this distance rule, not by a drawing library's anti-aliasing
choices, makes it exact and reproducible: a test can compute the same set by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from survey_lib.data.checks import InputError

Point = tuple[float, float]


@dataclass(frozen=True)
class Stroke:
    """One brush stroke: polyline ``points`` [(x, y), ...] and brush ``radius`` (pixels)."""

    points: tuple[Point, ...]
    radius: float


def make_stroke(points: object, radius: object) -> Stroke:
    """Validate user input into a :class:`Stroke` (clear errors for bad points/radius)."""
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius <= 0:
        raise InputError(f"radius must be a positive number of pixels, got {radius!r}")
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence) or len(points) == 0:
        raise InputError(f"points must be a non-empty list of (x, y) pairs, got {points!r}")
    clean: list[Point] = []
    for i, p in enumerate(points):
        if isinstance(p, (str, bytes)) or not isinstance(p, Sequence) or len(p) != 2:
            raise InputError(f"points[{i}] must be an (x, y) pair, got {p!r}")
        x, y = p
        ok = all(not isinstance(v, bool) and isinstance(v, (int, float, np.number)) for v in (x, y))
        if not ok or not (math.isfinite(x) and math.isfinite(y)):
            raise InputError(f"points[{i}] must hold two finite numbers (x, y), got {p!r}")
        clean.append((float(x), float(y)))
    return Stroke(tuple(clean), float(radius))


def _segment_footprint(mask: np.ndarray, p0: Point, p1: Point, radius: float) -> None:
    """Set to 1 every pixel whose centre is within ``radius`` of segment p0-p1 (in place)."""
    h, w = mask.shape
    (x0, y0), (x1, y1) = p0, p1
    left = max(int(math.floor(min(x0, x1) - radius)), 0)
    right = min(int(math.ceil(max(x0, x1) + radius)), w - 1)
    top = max(int(math.floor(min(y0, y1) - radius)), 0)
    bottom = min(int(math.ceil(max(y0, y1) + radius)), h - 1)
    if left > right or top > bottom:
        return  # entirely outside the image
    ys, xs = np.mgrid[top : bottom + 1, left : right + 1].astype(np.float64)
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        t = np.zeros_like(xs)
    else:  # projection of each pixel centre onto the segment, clamped to its ends
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
    dist2 = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2
    mask[top : bottom + 1, left : right + 1] |= dist2 <= radius * radius


def rasterize(strokes: Sequence[Stroke], height: int, width: int) -> np.ndarray:
    """The union of the strokes' footprints as an (H, W) bool array (True = hole)."""
    for value, name in ((height, "height"), (width, "width")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive int (pixels), got {value!r}")
    mask = np.zeros((height, width), dtype=bool)
    for stroke in strokes:
        pts = stroke.points
        if len(pts) == 1:
            _segment_footprint(mask, pts[0], pts[0], stroke.radius)
        for p0, p1 in zip(pts[:-1], pts[1:]):
            _segment_footprint(mask, p0, p1, stroke.radius)
    return mask
