"""``photos``: random crops of the natural photographs that ship with scikit-image and
scikit-learn (nothing is downloaded).

Split **by source photograph**: the test crops come from three photos that training
never sees (a cat, a rocket launch, a flower), so a test score is never inflated by a
crop that overlaps a training crop. Crops have a random position and scale (a 64x64
sample covers between 64 and ~60 % of the photo's shorter side); training crops are also
flipped left-right at random. Each photo is decoded once per process (see
:mod:`survey_lib.data.crops`). Origins and licences: ``data/README.md``.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from survey_lib.data.base import ImageSource
from survey_lib.data.crops import CropBox, build_pyramid, cut, random_box


def package_dir(name: str) -> Path:
    """Install folder of a package, found without importing it (importing scikit-learn
    alone takes seconds; only its image files are needed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the package {name!r} is needed for its sample images; install it")
    return Path(next(iter(spec.submodule_search_locations)))


SKIMAGE_DIR = package_dir("skimage") / "data"
SKLEARN_DIR = package_dir("sklearn") / "datasets" / "images"

# name -> file; all RGB photographs, loaded straight from the installed packages.
PHOTO_FILES: dict[str, Path] = {
    "astronaut": SKIMAGE_DIR / "astronaut.png",
    "coffee": SKIMAGE_DIR / "coffee.png",
    "motorcycle_left": SKIMAGE_DIR / "motorcycle_left.png",
    "hubble_deep_field": SKIMAGE_DIR / "hubble_deep_field.jpg",
    "retina": SKIMAGE_DIR / "retina.jpg",
    "china": SKLEARN_DIR / "china.jpg",
    "chelsea": SKIMAGE_DIR / "chelsea.png",
    "rocket": SKIMAGE_DIR / "rocket.jpg",
    "flower": SKLEARN_DIR / "flower.jpg",
}
PHOTO_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "coffee", "motorcycle_left", "hubble_deep_field", "retina", "china"),
    "test": ("chelsea", "rocket", "flower"),
}
MAX_CROP_FRACTION = 0.6  # the largest crop spans 60 % of the photo's shorter side
MIN_CROP_STD = 6.0  # grey-level std below which a crop is "flat" (black sky, fundus border)
CROP_TRIES = 4


@cache
def photo_pyramid(name: str) -> tuple[np.ndarray, ...]:
    """Decoded RGB photo ``name`` and its halvings, cached once per process."""
    with Image.open(PHOTO_FILES[name]) as img:
        return build_pyramid(np.asarray(img.convert("RGB")))


class Photos(ImageSource):
    """Random crops of shipped photographs; train/test split by photograph."""

    name = "photos"

    def __init__(self, size: object = 64, split: str = "train", channels: int | None = None,
                 flip: bool | None = None) -> None:
        super().__init__(size, split, channels)
        self.photos = PHOTO_SPLITS[self.split]
        self.flip = (self.split == "train") if flip is None else bool(flip)

    def _choose(self, rng: np.random.Generator) -> tuple[str, CropBox, bool, np.ndarray]:
        name = self.photos[int(rng.integers(len(self.photos)))]
        pyramid = photo_pyramid(name)
        region = (0, 0, pyramid[0].shape[0], pyramid[0].shape[1])
        for _ in range(CROP_TRIES):  # avoid featureless crops (black space, fundus border)
            box = random_box(rng, region, self.height, self.width, MAX_CROP_FRACTION)
            pixels = cut(pyramid, box, self.height, self.width)
            if float(pixels.std()) >= MIN_CROP_STD:
                break
        flipped = self.flip and bool(rng.random() < 0.5)
        return name, box, flipped, pixels

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        name, box, flipped, _ = self._choose(rng)
        return {"photo": name, "box": box, "flipped": flipped}

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        _, _, flipped, pixels = self._choose(rng)
        return np.ascontiguousarray(pixels[:, ::-1]) if flipped else pixels
