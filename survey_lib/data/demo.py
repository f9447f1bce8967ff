"""The course's demo pictures and application masks (files in ``data/demo``).

* :data:`DEMO_IMAGES` / :func:`demo_image`: 128x128 crops of shipped photographs, plus the
  damaged inputs of three applications of inpainting, composited at load time from a
  clean crop and a demo mask (so they take no disk space).
* :data:`DEMO_MASKS` / :func:`demo_mask`: ``scratches`` (photo restoration), ``text``
  (text removal), ``object`` (object removal: a lightning tower beside the rocket).
* :data:`DEMO_TASKS`: application -> (damaged image, mask, clean image).

The files are made by ``python -m survey_lib.tools.make_demo_data`` (deterministic).
"""

from __future__ import annotations

from pathlib import Path

import torch

from survey_lib.data.checks import InputError
from survey_lib.data.io import load_image, load_mask

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
CLEAN_IMAGES = ["astronaut", "chelsea", "coffee", "rocket", "china"]
# damaged image -> (clean image, mask painted over it, paint value in [0, 1])
DAMAGED_IMAGES: dict[str, tuple[str, str, float | None]] = {
    "astronaut_scratched": ("astronaut", "scratches", 0.92),
    "coffee_text": ("coffee", "text", 1.0),
    "rocket_object": ("rocket", "object", None),  # the object is real: nothing painted
}
DEMO_IMAGES: list[str] = CLEAN_IMAGES + list(DAMAGED_IMAGES)
DEMO_MASKS: list[str] = ["scratches", "text", "object"]
DEMO_TASKS: dict[str, tuple[str, str, str]] = {
    "photo restoration": ("astronaut_scratched", "scratches", "astronaut"),
    "text removal": ("coffee_text", "text", "coffee"),
    "object removal": ("rocket_object", "object", "rocket"),
}


def _demo_file(name: str) -> Path:
    p = DEMO_DIR / f"{name}.png"
    if not p.exists():
        raise FileNotFoundError(
            f"demo file {str(p)!r} is missing; recreate the demo data with "
            "`python -m survey_lib.tools.make_demo_data`")
    return p


def demo_mask(name: str, size: object = None) -> torch.Tensor:
    """Demo application mask ``name`` (see :data:`DEMO_MASKS`): (1, 1, H, W), 1 = hole."""
    if not isinstance(name, str) or name not in DEMO_MASKS:
        raise InputError(f"unknown demo mask {name!r}; choose one of {', '.join(DEMO_MASKS)}")
    return load_mask(_demo_file(name), hole="white", size=size)


def demo_image(name: str, size: object = None) -> torch.Tensor:
    """Demo picture ``name`` (see :data:`DEMO_IMAGES`): (1, 3, H, W) float32 in [0, 1]."""
    if not isinstance(name, str) or name not in DEMO_IMAGES:
        raise InputError(f"unknown demo image {name!r}; choose one of {', '.join(DEMO_IMAGES)}")
    if name in CLEAN_IMAGES:
        return load_image(_demo_file(name), size=size, channels=3)
    clean, mask_name, paint = DAMAGED_IMAGES[name]
    image = demo_image(clean, size=size)
    if paint is None:
        return image
    mask = demo_mask(mask_name, size=size)
    return torch.where(mask.bool().expand_as(image), torch.full_like(image, paint), image)
