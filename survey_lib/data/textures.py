"""``textures``: crops of scikit-image's texture photographs plus procedural periodic
textures, RGB.

Half the samples are crops of the grey brick, grass and gravel images that ship with
scikit-image (replicated to grey RGB, or tinted between a random dark and light colour);
the other half are procedural periodic patterns (:mod:`survey_lib.data.periodic`). Both
are cases where copying from elsewhere in the image is the right answer.

Split: the photographic textures are split *spatially*: training crops come from the
left three quarters of each image, test crops from the right quarter, so no test crop
overlaps a training crop. The procedural textures of the two splits are different random
draws of the same distribution.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from survey_lib.data.base import ImageSource
from survey_lib.data.crops import CropBox, build_pyramid, cut, random_box
from survey_lib.data.periodic import PERIODIC
from survey_lib.data.photos import SKIMAGE_DIR

TEXTURE_FILES = {"brick": SKIMAGE_DIR / "brick.png", "grass": SKIMAGE_DIR / "grass.png",
                 "gravel": SKIMAGE_DIR / "gravel.png"}
TRAIN_FRACTION = 0.75  # columns [0, 75 %) train, [75 %, 100 %) test
PHOTO_PROBABILITY = 0.5
MAX_CROP_FRACTION = 0.9


@cache
def texture_pyramid(name: str) -> tuple[np.ndarray, ...]:
    """Decoded grey texture ``name`` (H, W, 1) and its halvings, cached per process."""
    with Image.open(TEXTURE_FILES[name]) as img:
        return build_pyramid(np.asarray(img.convert("L")))


def texture_region(name: str, split: str) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the part of texture ``name`` that ``split`` may use."""
    h, w = texture_pyramid(name)[0].shape[:2]
    cut_col = int(w * TRAIN_FRACTION)
    return (0, 0, h, cut_col) if split == "train" else (0, cut_col, h, w - cut_col)


class Textures(ImageSource):
    """Texture photographs (split spatially) and procedural periodic textures."""

    name = "textures"

    def __init__(self, size: object = 64, split: str = "train", channels: int | None = None,
                 photo_probability: float = PHOTO_PROBABILITY) -> None:
        super().__init__(size, split, channels)
        if not 0.0 <= float(photo_probability) <= 1.0:
            raise ValueError(f"photo_probability must lie in [0, 1], got {photo_probability}")
        self.photo_probability = float(photo_probability)

    def _photo_crop(self, rng: np.random.Generator) -> tuple[str, CropBox, np.ndarray]:
        names = tuple(TEXTURE_FILES)
        name = names[int(rng.integers(len(names)))]
        box = random_box(rng, texture_region(name, self.split), self.height, self.width, MAX_CROP_FRACTION)
        grey = cut(texture_pyramid(name), box, self.height, self.width).reshape(self.height, self.width)
        if rng.random() < 0.5:
            rgb = np.repeat(grey[:, :, None], 3, axis=2)
        else:  # tint: map grey 0..255 onto a random dark..light colour ramp
            dark, light = rng.uniform(0, 110, 3), rng.uniform(145, 255, 3)
            ramp = (dark + np.linspace(0, 1, 256)[:, None] * (light - dark)).astype(np.uint8)
            rgb = ramp[grey]
        return name, box, rgb

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        if rng.random() < self.photo_probability:
            name, box, _ = self._photo_crop(rng)
            return {"texture": name, "box": box}
        kinds = tuple(PERIODIC)
        return {"texture": kinds[int(rng.integers(len(kinds)))], "box": None}

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.photo_probability:
            return self._photo_crop(rng)[2]
        kinds = tuple(PERIODIC)
        return PERIODIC[kinds[int(rng.integers(len(kinds)))]](rng, self.height, self.width)
