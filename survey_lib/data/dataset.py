"""Datasets of (image, mask) pairs: :class:`InpaintingDataset`, :func:`make_dataset`,
:func:`sample_batch`, and the :data:`SOURCES` registry.

A dataset pairs an image *source* with a *mask generator*. Sample ``i`` is a pure
function of ``(seed, split, i)``: two independent numpy generators are derived from it,
one for the image and one for the mask (so changing the mask family never changes the
images). Nothing random is kept in the object, so it gives the same tensors in every
process, in every DataLoader worker and in every epoch, and it pickles cheaply.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.utils.data import Dataset

from survey_lib.config import get_preset
from survey_lib.data.base import IMAGE_STREAM, MASK_STREAM, ImageSource, sample_rng
from survey_lib.data.checks import InputError
from survey_lib.data.emoji import Emoji
from survey_lib.data.faces import Faces
from survey_lib.data.folder import Folder
from survey_lib.data.glyphs import Glyphs
from survey_lib.data.masks import make_mask, resolve_mask
from survey_lib.data.photos import Photos
from survey_lib.data.shapes import Shapes
from survey_lib.data.textures import Textures

SOURCES: dict[str, type[ImageSource]] = {
    "glyphs": Glyphs,
    "shapes": Shapes,
    "photos": Photos,
    "textures": Textures,
    "faces": Faces,
    "emoji": Emoji,
    "folder": Folder,
}


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


class InpaintingDataset(Dataset):
    """``ds[i] -> (image (C, H, W), mask (1, H, W))``, float32, image in [0, 1], 1 = hole.

    ``source``: an :class:`~survey_lib.data.base.ImageSource`; ``masks``: a mask name
    (see :data:`survey_lib.data.masks.MASKS`) or ``fn(rng, height, width)``; ``length``:
    the number of samples (sources are procedural or cycle over their images); ``seed``.
    A custom mask callable must be picklable (a module-level function, not a lambda) for
    DataLoader workers started with "spawn" (the default on macOS and Windows).
    """

    def __init__(self, source: ImageSource, masks: object = "brush", length: int = 1000, seed: int = 0) -> None:
        if not isinstance(source, ImageSource):
            raise InputError(f"source must be an ImageSource, got {type(source).__name__}")
        self.mask_fn = resolve_mask(masks)  # fail now, with the list of names, not inside a worker
        self.source = source
        self.masks = masks
        self.length = _check_int(length, "length", 1)
        self.seed = _check_int(seed, "seed", 0)

    @property
    def channels(self) -> int:
        return self.source.channels

    @property
    def size(self) -> int | tuple[int, int]:
        """Side of the square images, or (height, width) when they are not square."""
        return self.source.size

    @property
    def split(self) -> str:
        return self.source.split

    @property
    def height(self) -> int:
        return self.source.height

    @property
    def width(self) -> int:
        return self.source.width

    def __len__(self) -> int:
        return self.length

    def _index(self, index: object) -> int:
        if isinstance(index, torch.Tensor) and index.numel() == 1:
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"dataset index must be an int, got {type(index).__name__}")
        i = int(index) + (self.length if index < 0 else 0)
        if not 0 <= i < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        return i

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` alone, (C, H, W) float32 in [0, 1]."""
        i = self._index(index)
        pixels = self.source.image(i, sample_rng(self.seed, self.split, i, IMAGE_STREAM))
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div_(255.0)

    def mask(self, index: int) -> torch.Tensor:
        """Mask ``index`` alone, (1, H, W) float32, 1 = hole."""
        i = self._index(index)
        m = make_mask(self.mask_fn, sample_rng(self.seed, self.split, i, MASK_STREAM), self.height, self.width)
        return torch.from_numpy(m).unsqueeze(0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.image(index), self.mask(index)

    def describe(self, index: int) -> dict[str, object]:
        """Where sample ``index`` comes from (photo and crop box, font and character, ...)."""
        i = self._index(index)
        return self.source.describe(i, sample_rng(self.seed, self.split, i, IMAGE_STREAM))

    def __repr__(self) -> str:
        return (f"InpaintingDataset({self.source!r}, masks={self.masks!r}, "
                f"length={self.length}, seed={self.seed})")


def make_dataset(
    name: str,
    split: str = "train",
    size: object = None,
    length: int | None = None,
    masks: object = "brush",
    seed: int = 0,
    **source_kw: object,
) -> InpaintingDataset:
    """A dataset of built-in source ``name`` (see :data:`SOURCES`) with ``masks`` holes.

    ``size``: int or (height, width); default from the preset (``glyph_size`` for glyphs,
    ``image_size`` otherwise). ``length``: default ``preset.train_images`` for the train
    split, ``preset.eval_images`` for test (``split="all"`` of a folder: its file count).
    ``source_kw`` go to the source (``channels``, ``root=`` for ``folder``, ...).
    """
    if not isinstance(name, str) or name not in SOURCES:
        raise InputError(f"unknown data source {name!r}; choose one of {', '.join(SOURCES)}")
    preset = get_preset()
    if size is None:
        size = preset.glyph_size if name == "glyphs" else preset.image_size
    try:
        source = SOURCES[name](size=size, split=split, **source_kw)
    except TypeError as err:  # an unknown keyword: list the ones this source takes
        import inspect

        params = [p for p in inspect.signature(SOURCES[name].__init__).parameters if p != "self"]
        raise InputError(f"source {name!r}: {err}; it accepts {', '.join(params)}") from err
    if length is None:
        if split == "train":
            length = preset.train_images
        elif split == "test":
            length = preset.eval_images
        else:
            length = len(source)  # type: ignore[arg-type]
    return InpaintingDataset(source, masks=masks, length=length, seed=seed)


def sample_batch(ds: Dataset, n: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``start .. start + n - 1`` of ``ds`` stacked: (n, C, H, W), (n, 1, H, W)."""
    n = _check_int(n, "n", 1)
    start = _check_int(start, "start", 0)
    if not hasattr(ds, "__getitem__"):
        raise InputError(f"ds must be a dataset of (image, mask) pairs, got {type(ds).__name__}")
    if hasattr(ds, "__len__") and start + n > len(ds):  # type: ignore[arg-type]
        raise InputError(f"asked for samples {start}..{start + n - 1} of a dataset of length {len(ds)}")  # type: ignore[arg-type]
    pairs = [ds[start + i] for i in range(n)]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
