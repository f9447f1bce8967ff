"""``faces``: the tiny LFW subset that ships with scikit-image, upsampled.

Be clear about its size: ``skimage.data.lfw_subset()`` holds 200 grey 25x25 crops, and
only the **first 100 are faces** (the other 100 are background patches, "non-faces", and
are not used here). So this source has 100 distinct faces at 25x25: 80 for training, the
last 20 for testing. Samples are upsampled (bicubic) to the requested size and training
samples are flipped left-right at random; a model trained on it learns "a face-like
blob", not faces. For real face inpainting, download CelebA(-HQ) and use the ``folder``
source (``data/README.md``).

Grey by default (``channels=1``, the data are grey); ``channels=3`` replicates the grey
into RGB for models built for colour input.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from survey_lib.data.base import ImageSource, resize_cover_crop
from survey_lib.data.photos import SKIMAGE_DIR

N_FACES = 100  # lfw_subset: images 0-99 are faces, 100-199 non-faces
N_TEST = 20


@lru_cache(maxsize=1)
def lfw_faces() -> np.ndarray:
    """The 100 face crops of scikit-image's LFW subset, (100, 25, 25) uint8."""
    data = np.load(SKIMAGE_DIR / "lfw_subset.npy")
    return (np.clip(data[:N_FACES], 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def face_indices(split: str) -> range:
    """Indices into :func:`lfw_faces` of ``split``: the first 80 train, the last 20 test."""
    return range(0, N_FACES - N_TEST) if split == "train" else range(N_FACES - N_TEST, N_FACES)


class Faces(ImageSource):
    """LFW-subset faces (80 train / 20 test), upsampled from 25x25; grey by default."""

    name = "faces"
    default_channels = 1

    def __init__(self, size: object = 64, split: str = "train", channels: int | None = None,
                 flip: bool | None = None) -> None:
        super().__init__(size, split, channels)
        self.indices = face_indices(self.split)
        self.flip = (self.split == "train") if flip is None else bool(flip)

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        face = self.indices[index % len(self.indices)]
        return {"face": face, "flipped": self.flip and bool(rng.random() < 0.5)}

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        info = self.describe(index, rng)
        face = lfw_faces()[info["face"]]
        out = resize_cover_crop(face, self.height, self.width)  # bicubic, no distortion
        return np.ascontiguousarray(out[:, ::-1]) if info["flipped"] else out
