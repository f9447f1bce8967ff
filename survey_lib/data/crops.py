"""Random crops at random scale from large images, fast: a per-image pyramid.

Cutting a 64x64 sample out of a 300 px wide region by resizing the whole region each time
would cost milliseconds. Instead each source image is decoded once per process into a
pyramid of halvings; a crop of scale ``f`` (crop side / output side) is cut from level
``floor(log2 f)``, which is at most 2x larger than the output, and resized from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MIN_LEVEL_SIDE = 16


def build_pyramid(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """``image`` (H, W[, C]) uint8 and its successive halvings (area-averaged)."""
    levels = [np.ascontiguousarray(image)]
    while min(levels[-1].shape[:2]) >= 2 * MIN_LEVEL_SIDE:
        prev = levels[-1]
        levels.append(cv2.resize(prev, (prev.shape[1] // 2, prev.shape[0] // 2), interpolation=cv2.INTER_AREA))
    return tuple(levels)


@dataclass(frozen=True)
class CropBox:
    """A crop in the coordinates of the full-resolution source image."""

    top: int
    left: int
    height: int
    width: int

    def overlaps(self, other: CropBox) -> bool:
        return not (
            self.top + self.height <= other.top or other.top + other.height <= self.top
            or self.left + self.width <= other.left or other.left + other.width <= self.left
        )


def random_box(
    rng: np.random.Generator,
    region: tuple[int, int, int, int],
    out_h: int,
    out_w: int,
    max_fraction: float = 0.6,
) -> CropBox:
    """A random crop inside ``region`` = (top, left, height, width) with the output's aspect.

    The scale (crop side / output side) is log-uniform between 1 and the value at which
    the crop spans ``max_fraction`` of the region's shorter fit; a region smaller than the
    output is taken whole (and upsampled).
    """
    r_top, r_left, r_h, r_w = region
    fit = min(r_h / out_h, r_w / out_w)
    f_max = fit * max_fraction
    if fit <= 1.0:
        f = fit
    elif f_max <= 1.0:
        f = 1.0
    else:
        f = math.exp(rng.uniform(0.0, math.log(f_max)))
    c_h = min(r_h, max(1, round(out_h * f)))
    c_w = min(r_w, max(1, round(out_w * f)))
    top = r_top + int(rng.integers(0, r_h - c_h + 1))
    left = r_left + int(rng.integers(0, r_w - c_w + 1))
    return CropBox(top, left, c_h, c_w)


def cut(pyramid: tuple[np.ndarray, ...], box: CropBox, out_h: int, out_w: int) -> np.ndarray:
    """The pixels of ``box`` resized to (out_h, out_w), read from the best pyramid level."""
    f = min(box.height / out_h, box.width / out_w)
    level = 0 if f < 2 else min(len(pyramid) - 1, int(math.log2(f)))
    s = 2**level
    img = pyramid[level]
    top, left = box.top // s, box.left // s
    bottom = max(top + 1, min(img.shape[0], (box.top + box.height) // s))
    right = max(left + 1, min(img.shape[1], (box.left + box.width) // s))
    patch = img[top:bottom, left:right]
    if patch.shape[:2] == (out_h, out_w):
        return patch.copy()
    interp = cv2.INTER_AREA if patch.shape[0] > out_h else cv2.INTER_LINEAR
    out = cv2.resize(patch, (out_w, out_h), interpolation=interp)
    return out if out.ndim == patch.ndim else out[:, :, None]
