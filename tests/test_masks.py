"""Mask generators: bins, reproducibility, the 1 = hole convention, the DeepFill brush
recipe (non-square sizes, the random flip), LaMa families, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from survey_lib.data import (
    MASKS,
    RATIO_BINS,
    InputError,
    bin_by_ratio,
    bin_label,
    check_mask,
    generate_masks,
    hole_ratio,
)
from survey_lib.data.mask_drawing import LAMA_MAX_RATIO, brush_strokes, deepfill_box
from survey_lib.data.masks import mask_rng

BIN_NAMES = [f"ratio_{round(lo * 100)}_{round(hi * 100)}" for lo, hi in RATIO_BINS]


@pytest.mark.parametrize("name", BIN_NAMES)
@pytest.mark.parametrize("size", [(32, 32), (40, 56)])
def test_ratio_masks_land_in_their_bin(name: str, size: tuple[int, int]) -> None:
    masks = generate_masks(name, 40, *size, seed=11)
    lo, hi = (int(p) / 100 for p in name.split("_")[1:])
    label = f"{round(lo * 100)}-{round(hi * 100)}%"
    assert bin_by_ratio(masks) == [label] * 40
    counts = masks.flatten(1).sum(1)  # hand count of hole pixels
    ratios = counts / (size[0] * size[1])
    assert torch.all(ratios >= lo) and torch.all(ratios < hi)
    assert torch.allclose(hole_ratio(masks), ratios)
    assert len(set(counts.tolist())) > 10  # spread over the bin, not one fixed size


def test_ratio_mask_custom_bin_and_too_small_image() -> None:
    masks = generate_masks("ratio_5_7", 20, 64, 64, seed=0)
    r = hole_ratio(masks)
    assert torch.all(r >= 0.05) and torch.all(r < 0.07)
    with pytest.raises(InputError, match="no hole size in the bin"):
        generate_masks("ratio_1_2", 1, 4, 4)  # 16 pixels: no count between 0.16 and 0.32


@pytest.mark.parametrize("name", list(MASKS))
def test_every_generator_follows_the_convention(name: str) -> None:
    masks = generate_masks(name, 24, 24, 40, seed=5)
    assert masks.shape == (24, 1, 24, 40) and masks.dtype == torch.float32
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    check_mask(masks)  # raises on an empty or a full mask
    r = hole_ratio(masks)
    assert torch.all(r > 0) and torch.all(r < 1)


@pytest.mark.parametrize("name", ["brush", "lama_thick", "ratio_20_30", "mixed", "boxes"])
def test_masks_are_reproducible_per_seed_and_index(name: str) -> None:
    a = generate_masks(name, 6, 32, 48, seed=3)
    b = generate_masks(name, 6, 32, 48, seed=3)
    c = generate_masks(name, 6, 32, 48, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(generate_masks(name, 2, 32, 48, seed=3), a[:2])  # mask i depends on (seed, i) only
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    assert torch.equal(generate_masks(name, 3, 32, 32, seed=g1), generate_masks(name, 3, 32, 32, seed=g2))


def test_center_box_matches_hand_computation() -> None:
    m = generate_masks("center", 2, 64, 64)[0, 0]
    expected = torch.zeros(64, 64)
    expected[16:48, 16:48] = 1  # ratio 0.25 -> half the side, centred
    assert torch.equal(m, expected)
    assert bin_label(hole_ratio(m[None, None])) == "20-30%"


def _strokes(seed: int, h: int, w: int, flip: bool = True) -> np.ndarray:
    return brush_strokes(np.random.default_rng(seed), h, w, flip=flip)


def test_brush_flips_really_happen_in_both_directions() -> None:
    seen = {"none": 0, "lr": 0, "ud": 0, "both": 0}
    for seed in range(60):
        plain, flipped = _strokes(seed, 48, 64, flip=False), _strokes(seed, 48, 64)
        candidates = {"none": plain, "lr": plain[:, ::-1], "ud": plain[::-1], "both": plain[::-1, ::-1]}
        matches = [k for k, v in candidates.items() if np.array_equal(v, flipped)]
        assert matches, "the flipped mask must be one of the four flips of the unflipped strokes"
        seen[matches[0]] += 1
    assert all(count >= 5 for count in seen.values()), seen


@pytest.mark.parametrize("h, w", [(32, 128), (128, 32)])
def test_brush_covers_all_of_a_non_square_image(h: int, w: int) -> None:
    # With H and W swapped (the reference bug) the vertices of a 32x128 image stay in the
    # first 32 columns; done right, strokes reach the far half too.
    total = sum(_strokes(seed, h, w).astype(np.int64) for seed in range(80))
    assert total.shape == (h, w)
    far = total[:, w // 2 :].sum() if w > h else total[h // 2 :, :].sum()
    assert far / total.sum() > 0.3


def _median_width(mask: np.ndarray) -> float:
    """Typical stroke width: twice the distance to the border, on the medial axis
    (the median is robust to the blobs where strokes cross)."""
    from skimage.morphology import skeletonize

    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)
    return float(np.median(2 * dist[skeletonize(padded.astype(bool))]))


def test_brush_stroke_width_scales_with_the_image() -> None:
    # Width U(12, 40) at 256x256, scaled: U(1.5, 5) at 32x32.
    big = [_median_width(_strokes(seed, 256, 256)) for seed in range(12)]
    assert 10 <= min(big) and max(big) <= 44 and np.ptp(big) > 8
    small = [_median_width(_strokes(seed, 32, 32)) for seed in range(12)]
    assert max(small) <= 7.0  # (unscaled, they would be 12-40 px wide)


def test_deepfill_box_is_half_the_side_with_jitter() -> None:
    for seed in range(30):
        m = deepfill_box(np.random.default_rng(seed), 256, 192)
        rows, cols = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
        assert 128 - 2 * 16 <= len(rows) <= 128 and 96 - 2 * 12 <= len(cols) <= 96
        assert m.sum() == len(rows) * len(cols)  # one solid rectangle


def test_lama_families_respect_their_limits() -> None:
    ratios = {}
    for kind in ("thin", "medium", "thick"):
        masks = generate_masks(f"lama_{kind}", 40, 64, 64, seed=1)
        r = hole_ratio(masks)
        assert torch.all(r <= LAMA_MAX_RATIO), kind  # LaMa rejects masks over half the image
        ratios[kind] = float(r.mean())
    assert ratios["thin"] < ratios["thick"]
    thin = generate_masks("lama_thin", 10, 256, 256, seed=2)[:, 0].numpy()
    thick = generate_masks("lama_thick", 10, 256, 256, seed=2)[:, 0].numpy()
    thin_w = [_median_width(m) for m in thin]
    assert max(thin_w) <= 11.5  # width <= 10 px at 256x256
    assert np.median([_median_width(m) for m in thick]) > 2 * np.median(thin_w)


def test_hole_ratio_and_bins_by_hand() -> None:
    m = torch.zeros(2, 1, 4, 4)
    m[0, 0, 0, :3] = 1
    m[1, 0, :2] = 1
    assert hole_ratio(m).tolist() == [3 / 16, 0.5]
    assert bin_by_ratio(m) == ["10-20%", "50-60%"]
    assert bin_label(0.0099) is None and bin_label(0.01) == "1-10%" and bin_label(0.1) == "10-20%"
    assert bin_label(0.6) == "50-60%" and bin_label(0.61) is None and bin_label(0.0) is None
    assert bin_label(torch.tensor(0.35)) == "30-40%"


def test_custom_generator_callable() -> None:
    def stripe(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        m = np.zeros((h, w))
        m[:, int(rng.integers(w))] = 1
        return m

    masks = generate_masks(stripe, 4, 8, 10, seed=0)
    assert masks.shape == (4, 1, 8, 10) and torch.all(masks.flatten(1).sum(1) == 8)
    with pytest.raises(InputError, match="returned shape"):
        generate_masks(lambda rng, h, w: np.ones((3, 3)), 1, 8, 8)


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(InputError, match="unknown mask generator 'swirl'.*brush.*lama_thin"):
        generate_masks("swirl", 1, 8, 8)
    with pytest.raises(InputError, match="lo < hi"):
        generate_masks("ratio_50_40", 1, 8, 8)
    with pytest.raises(InputError, match="n must be a positive int"):
        generate_masks("brush", 0, 8, 8)
    with pytest.raises(InputError, match="height must be at least 2"):
        generate_masks("brush", 1, 0, 8)
    with pytest.raises(InputError, match="width must be a positive int"):
        generate_masks("brush", 1, 8, 8.5)
    with pytest.raises(InputError, match="seed must be"):
        generate_masks("brush", 1, 8, 8, seed="a")
    with pytest.raises(InputError, match="mask name or a callable"):
        generate_masks(3, 1, 8, 8)
    with pytest.raises(InputError, match="ratio must be a number"):
        bin_label("0.2")
    with pytest.raises(InputError, match="masks must have shape"):
        hole_ratio(torch.zeros(4, 4))


def test_mask_rng_streams_are_independent() -> None:
    a, b = mask_rng(0, 0).random(4), mask_rng(0, 1).random(4)
    assert not np.allclose(a, b)


def test_bin_label_refuses_values_that_are_not_ratios() -> None:
    """Regression: 1.5 or NaN silently got None, as if they were valid ratios outside the bins."""
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(InputError, match="must be a hole ratio in"):
            bin_label(bad)
    assert bin_label(1.0) is None and bin_label(0.0) is None  # valid ratios outside 1-60 %


def test_family_parameters_out_of_range_are_named() -> None:
    """Regression: bad generator parameters failed as 'math domain error' / 'low >= high' or gave garbage."""
    from functools import partial

    from survey_lib.data import mask_drawing as draw

    cases = [
        (partial(draw.center_box, ratio=-5.0), r"center_box\(ratio=-5.0\): ratio must be a fraction"),
        (partial(draw.random_boxes, max_boxes=0), "max_boxes must be a positive int"),
        (partial(draw.in_ratio_bin, lo=-5.0, hi=0.3), "need 0 <= lo < hi <= 1"),
    ]
    for fn, message in cases:
        with pytest.raises(InputError, match=message):
            generate_masks(fn, 1, 16, 16)
