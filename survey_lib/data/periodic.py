"""Procedural periodic textures: tilings, checkerboards, sinusoidal gratings, dot lattices.

Each returns an (H, W, 3) uint8 RGB image from a :class:`numpy.random.Generator`. They
are the cases where *copying from elsewhere in the image* is exactly the right answer:
the hole's content repeats outside it, which is what contextual attention and
exemplar-based (patch-copying) methods exploit and what pure convolution struggles with.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _colours(rng: np.random.Generator, n: int = 2) -> np.ndarray:
    return rng.uniform(0, 255, (n, 3)).astype(np.float32)


def _rotated_coords(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, math.pi)
    c, s = math.cos(theta), math.sin(theta)
    off_u, off_v = rng.uniform(0, 100, 2)
    return xs * c + ys * s + off_u, -xs * s + ys * c + off_v


def _blend(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    out = colours[0] + t[:, :, None] * (colours[1] - colours[0])
    return (out + 0.5).astype(np.uint8)


def checkerboard(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Two-colour checkerboard of random period and orientation."""
    u, v = _rotated_coords(rng, h, w)
    period = rng.uniform(3, max(4.0, min(h, w) / 3))
    t = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    return _blend(t, _colours(rng))


def grating(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Sum of one or two sinusoidal gratings (random frequencies, orientations, phases)."""
    t = np.zeros((h, w), np.float32)
    n = int(rng.integers(1, 3))
    for _ in range(n):
        u, _ = _rotated_coords(rng, h, w)
        period = rng.uniform(3, max(4.0, min(h, w) / 2))
        t += np.sin(2 * math.pi * u / period)
    return _blend(0.5 + 0.5 * t / n, _colours(rng))


def dot_lattice(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Round dots on a square or hexagonal lattice, anti-aliased, random spacing/angle."""
    u, v = _rotated_coords(rng, h, w)
    spacing = rng.uniform(4, max(5.0, min(h, w) / 4))
    radius = spacing * rng.uniform(0.15, 0.4)

    def nearest(uu: np.ndarray, vv: np.ndarray, du: float, dv: float) -> np.ndarray:
        a = (uu % du) - du / 2
        b = (vv % dv) - dv / 2
        return np.sqrt(a * a + b * b)

    if rng.random() < 0.5:
        dist = nearest(u, v, spacing, spacing)
    else:  # hexagonal: two rectangular lattices offset by half a cell
        dv = spacing * math.sqrt(3)
        dist = np.minimum(nearest(u, v, spacing, dv), nearest(u + spacing / 2, v + dv / 2, spacing, dv))
    t = np.clip(radius - dist + 0.5, 0.0, 1.0)
    return _blend(t, _colours(rng))


def tiling(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random motif (a small tile of a few shapes) repeated exactly across the image."""
    th = int(rng.integers(5, max(6, min(h, w) // 3) + 1))
    tw = int(rng.integers(5, max(6, min(h, w) // 3) + 1))
    colours = rng.uniform(0, 255, (4, 3))
    tile = np.empty((th, tw, 3), np.uint8)
    tile[:] = colours[0].astype(np.uint8)
    for k in range(1, 4):
        colour = tuple(float(c) for c in colours[k])
        if rng.random() < 0.5:
            centre = (int(rng.integers(tw)), int(rng.integers(th)))
            cv2.circle(tile, centre, max(1, int(rng.uniform(0.1, 0.4) * min(th, tw))), colour, -1, cv2.LINE_AA)
        else:
            p0 = (int(rng.integers(tw)), int(rng.integers(th)))
            p1 = (int(rng.integers(tw)), int(rng.integers(th)))
            cv2.rectangle(tile, p0, p1, colour, -1)
    reps = (h // th + 2, w // tw + 2, 1)
    big = np.tile(tile, reps)
    top, left = int(rng.integers(th)), int(rng.integers(tw))
    return np.ascontiguousarray(big[top : top + h, left : left + w])


PERIODIC = {"checkerboard": checkerboard, "grating": grating, "dots": dot_lattice, "tiling": tiling}
