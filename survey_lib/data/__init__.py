"""Data: built-in image sources, a folder loader, mask generators, datasets and file IO.

Conventions: a sample is an image (C, H, W) float32 in [0, 1] and a mask (1, H, W)
float32 with **1 = hole**; batches add a leading B. Every sample is a pure function of
``(seed, split, index)``.

>>> from survey_lib.data import make_dataset, sample_batch, generate_masks
>>> ds = make_dataset("shapes", split="train", size=64, length=1000, masks="brush", seed=0)
>>> image, mask = ds[0]
>>> images, masks = sample_batch(ds, 16)
>>> masks = generate_masks("lama_thick", n=8, height=64, width=64, seed=1)

Sources (:data:`SOURCES`): glyphs, shapes, photos, textures, faces, emoji, folder; why a
chapter picks each and how many distinct images it holds: :func:`describe_source`.
Mask generators (:data:`MASKS`): center, boxes, brush, lama_thin, lama_medium,
lama_thick, ratio_<lo>_<hi>, mixed. Origins and licences of the data: ``data/README.md``.
"""

from __future__ import annotations

from survey_lib.data.about import SOURCE_REASONS, describe_source, source_counts, source_tag
from survey_lib.data.checks import InputError, check_divisible, check_image, check_mask, check_pair
from survey_lib.data.dataset import SOURCES, InpaintingDataset, make_dataset, sample_batch
from survey_lib.data.demo import DEMO_IMAGES, DEMO_MASKS, DEMO_TASKS, demo_image, demo_mask
from survey_lib.data.io import load_image, load_mask, save_image
from survey_lib.data.masks import (
    BIN_LABELS,
    MASKS,
    RATIO_BINS,
    bin_by_ratio,
    bin_label,
    generate_masks,
    hole_ratio,
    make_mask,
)

__all__ = [
    "InputError", "check_divisible", "check_image", "check_mask", "check_pair",
    "SOURCES", "InpaintingDataset", "make_dataset", "sample_batch",
    "SOURCE_REASONS", "describe_source", "source_counts", "source_tag",
    "DEMO_IMAGES", "DEMO_MASKS", "DEMO_TASKS", "demo_image", "demo_mask",
    "load_image", "load_mask", "save_image",
    "BIN_LABELS", "MASKS", "RATIO_BINS", "bin_by_ratio", "bin_label", "generate_masks", "hole_ratio",
    "make_mask",
]
