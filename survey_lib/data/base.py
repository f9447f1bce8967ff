"""What every image source shares: size/split/channel checks, the per-sample generator,
and small image helpers (resize + centre-crop, grey/RGB conversion).

A *source* turns ``(index, rng)`` into one image, an (H, W, C) uint8 array. It holds no
random state of its own: all randomness comes from ``rng``, which the dataset derives from
``(seed, split, index)`` (:func:`sample_rng`), so a sample is the same in every process,
every DataLoader worker and every epoch. Sources keep no unpicklable objects (fonts and
decoded photos live in per-process caches), so datasets work with ``num_workers > 0``.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import cv2
import numpy as np

from survey_lib.data.checks import InputError

SPLITS: dict[str, int] = {"train": 0, "test": 1}
MIN_SIZE = 8  # smaller images cannot hold a glyph, a brush stroke and known context
IMAGE_STREAM, MASK_STREAM = 0, 1


def parse_size(size: object, name: str = "size", minimum: int = MIN_SIZE) -> tuple[int, int]:
    """``64`` or ``(48, 64)`` -> (height, width), each at least ``minimum`` pixels."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        hw = (int(size), int(size))
    elif (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
    ):
        hw = (int(size[0]), int(size[1]))
    else:
        raise InputError(f"{name} must be an int or a (height, width) pair of ints, got {size!r}")
    if min(hw) < minimum:
        raise InputError(f"{name} must be at least {minimum} pixel{'s' * (minimum > 1)} per side, got {size!r}")
    return hw


def check_split(split: object, allowed: tuple[str, ...] = tuple(SPLITS)) -> str:
    if not isinstance(split, str) or split not in allowed:
        raise InputError(f"split must be one of {', '.join(map(repr, allowed))}, got {split!r}")
    return split


def check_channels(channels: object) -> int:
    if channels not in (1, 3) or isinstance(channels, bool):
        raise InputError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    return int(channels)  # type: ignore[arg-type]


def sample_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The independent generator of one sample: image (stream 0) or mask (stream 1)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFF, SPLITS.get(split, 7), int(index), stream])


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) or (H, W, 1|3) uint8 -> (H, W, channels); RGB->grey uses ITU-R 601 luma."""
    if image.ndim == 2:
        image = image[:, :, None]
    have = image.shape[2]
    if have == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=2)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[:, :, None]


def resize_cover_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize so the image covers (height, width), then cut the centre (no distortion)."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    if (new_h, new_w) != (h, w):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        image = cv2.resize(image, (new_w, new_h), interpolation=interp)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return image[top : top + height, left : left + width]


class ImageSource:
    """Base of every built-in source; subclasses implement :meth:`render`.

    ``size``: int or (height, width); ``split``: "train" or "test"; ``channels``: 1 or 3.
    """

    name: ClassVar[str] = "source"
    default_channels: ClassVar[int] = 3
    splits: ClassVar[tuple[str, ...]] = tuple(SPLITS)

    def __init__(self, size: object, split: str = "train", channels: int | None = None) -> None:
        self.height, self.width = parse_size(size)
        self.split = check_split(split, self.splits)
        self.channels = check_channels(self.default_channels if channels is None else channels)

    @property
    def size(self) -> int | tuple[int, int]:
        return self.height if self.height == self.width else (self.height, self.width)

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """Image ``index`` as an (H, W, C) uint8 array, all randomness taken from ``rng``."""
        raise NotImplementedError

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        """Where sample ``index`` comes from (photo name, crop box, ...); empty by default."""
        return {}

    def image(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """:meth:`render` converted to this source's channel count, checked for shape."""
        out = to_channels(np.asarray(self.render(index, rng)), self.channels)
        if out.shape != (self.height, self.width, self.channels) or out.dtype != np.uint8:
            raise RuntimeError(
                f"source {self.name} rendered {out.shape} {out.dtype}, "
                f"expected ({self.height}, {self.width}, {self.channels}) uint8"
            )
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, split={self.split!r}, channels={self.channels})"
