"""Classical baselines: fill only the hole, exact on easy cases, agree with OpenCV/scikit-image."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch
from skimage.restoration import inpaint_biharmonic

from survey_lib.baselines import BASELINES, Biharmonic, Exemplar, MeanFill, NavierStokes, Telea
from survey_lib.data import InputError, generate_masks
from survey_lib.inpaint import blank_hole, inpaint, predict

ALL = [Telea, NavierStokes, Biharmonic, Exemplar, MeanFill]


def _box(h: int, w: int, top: int, left: int, size: int) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., top : top + size, left : left + size] = 1
    return m


def _textured(channels: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, channels, size // 4, size // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def test_registry_names_match_classes() -> None:
    assert set(BASELINES) == {"telea", "navier_stokes", "biharmonic", "exemplar"}
    for name, cls in BASELINES.items():
        assert cls.name == name and cls().name == name


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
@pytest.mark.parametrize("channels", [1, 3])
def test_fills_only_the_hole_grey_and_rgb(cls, channels: int) -> None:
    images = torch.cat([_textured(channels, 32, seed) for seed in range(2)])
    masks = generate_masks("brush", 2, 32, 32, seed=3)
    raw = predict(cls(), images, masks)
    assert raw.shape == images.shape and raw.dtype == torch.float32
    assert raw.min() >= 0 and raw.max() <= 1
    out = inpaint(cls(), images, masks)
    known = ~masks.bool().expand_as(images)
    assert torch.equal(out[known], images[known])
    hole = masks.bool().expand_as(images)
    # the hole was filled with something image-like, not left at the blanked 0
    assert out[hole].mean() > 0.2
    assert (out[hole] - images[hole]).abs().mean() < 0.25
    # deterministic
    assert torch.equal(predict(cls(), images, masks), raw)


def test_mean_fill_uses_the_mean_known_colour_per_channel() -> None:
    image = _textured(3, 16, seed=4)
    mask = _box(16, 16, 3, 3, 6)
    out = inpaint(MeanFill(), image, mask)
    known = ~mask.bool()[0, 0]
    for c in range(3):
        expected = image[0, c][known].double().mean()
        assert torch.allclose(out[0, c][~known].double(), expected.expand(36), atol=1e-6)
    assert "mean_fill" not in BASELINES  # a reference floor, not a baseline method


def test_biharmonic_reproduces_a_linear_ramp() -> None:
    h = w = 24
    yy, xx = torch.meshgrid(torch.arange(h) / (h - 1), torch.arange(w) / (w - 1), indexing="ij")
    ramp = torch.stack([0.2 + 0.5 * xx, 0.1 + 0.3 * yy + 0.4 * xx, 0.9 - 0.6 * yy]).unsqueeze(0)
    mask = _box(h, w, 6, 7, 10)
    for image in (ramp, ramp[:, 1:2]):
        out = inpaint(Biharmonic(), image, mask)
        assert (out - image).abs().max() < 1e-6


@pytest.mark.parametrize("cls", [Telea, NavierStokes, Exemplar, Biharmonic], ids=lambda c: c.name)
def test_constant_image_is_filled_with_the_constant(cls) -> None:
    value = 77 / 255  # representable in 8 bits, so OpenCV's quantisation is exact
    image = torch.full((1, 3, 20, 20), value)
    out = inpaint(cls(), image, _box(20, 20, 5, 5, 9))
    # OpenCV's Telea is off by up to 2 grey levels even here (a direct cv2.inpaint call on
    # uint8 gives the same 76..79 for 77): its weights are not exactly normalised.
    tolerance = 2.01 / 255 if cls is Telea else 1e-6
    assert (out - value).abs().max() < tolerance


def test_exemplar_continues_a_periodic_texture_exactly() -> None:
    h = w = 48
    xx = torch.arange(w).expand(h, w)
    stripes = ((xx % 8) < 3).float() * 0.8 + 0.1
    image = torch.stack([stripes, stripes.T, 1 - stripes]).unsqueeze(0)
    mask = _box(h, w, 17, 15, 12)
    out = inpaint(Exemplar(), image, mask)
    assert (out - image).abs().max() < 1e-6
    # the diffusion methods cannot do this: they blur the stripes
    assert (inpaint(Telea(), image, mask) - image).abs().max() > 0.2


def test_opencv_and_skimage_wrappers_agree_with_direct_calls() -> None:
    image = _textured(3, 32, seed=5)
    mask = generate_masks("lama_medium", 1, 32, 32, seed=2)
    src = np.round(blank_hole(image, mask)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    m8 = (mask[0, 0].numpy() > 0.5).astype(np.uint8) * 255
    hole = mask[0, 0].numpy() > 0.5
    for cls, flag in ((Telea, cv2.INPAINT_TELEA), (NavierStokes, cv2.INPAINT_NS)):
        ref = cv2.inpaint(src, m8, 3, flag).astype(np.float64) / 255
        ours = predict(cls(), image, mask)[0].permute(1, 2, 0).double().numpy()
        assert np.abs(ours[hole] - ref[hole]).max() < 1e-6, cls.name
    blanked = blank_hole(image, mask)[0].permute(1, 2, 0).double().numpy()
    ref = inpaint_biharmonic(blanked, hole, channel_axis=-1).clip(0, 1)
    ours = predict(Biharmonic(), image, mask)[0].permute(1, 2, 0).double().numpy()
    assert np.abs(ours[hole] - ref[hole]).max() < 1e-5


def test_exemplar_is_fast_on_a_64px_image_with_a_20_percent_hole() -> None:
    image = _textured(3, 64, seed=1)
    mask = _box(64, 64, 18, 20, 29)  # 841 px = 20.5 %
    start = time.perf_counter()
    Exemplar()(blank_hole(image, mask), mask)
    assert time.perf_counter() - start < 2.0


def test_exemplar_falls_back_to_small_patches_and_respects_the_source_cap() -> None:
    image = _textured(3, 24, seed=2)
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., ::4, :] = 1  # every 4th row: no 9x9 or 5x5 patch is fully known, 3x3 ones are
    out = inpaint(Exemplar(patch_size=9), image, mask)
    known = ~mask.bool().expand_as(image)
    assert torch.equal(out[known], image[known])
    assert (out - image).abs().max() < 0.5
    capped = Exemplar(max_sources=5)
    assert len(capped._source_centres(mask[0, 0].numpy() > 0.5, 3)[0]) <= 5
    inpaint(capped, image, mask)  # still completes


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_baselines_reject_bad_input(cls) -> None:
    image, mask = _textured(3, 16), _box(16, 16, 4, 4, 5)
    method = cls()
    cases = [
        ((image * 255).to(torch.uint8), mask, "float32"),
        (image * 255, mask, "divide by 255"),
        (image.masked_fill(image > 0.5, float("nan")), mask, "NaN"),
        (image[0], mask, r"shape \(B, C, H, W\)"),
        (image, mask * 0.5, "binary"),
        (image, torch.zeros_like(mask), "no hole"),
        (image, torch.ones_like(mask), "1 - mask"),
        (image, mask[..., :8, :8], "does not match"),
        (image, mask.bool(), "bool"),
    ]
    for img, m, message in cases:
        with pytest.raises(InputError, match=message):
            method(img, m)


def test_constructor_arguments_are_checked() -> None:
    for bad in (0, -3, 2.5, True):
        with pytest.raises(InputError, match="radius"):
            Telea(radius=bad)
        with pytest.raises(InputError, match="radius"):
            NavierStokes(radius=bad)
    assert [Exemplar.auto_patch_size(s, s) for s in (16, 32, 64, 128, 512)] == [5, 5, 7, 9, 9]
    for bad in (8, 1, "9"):
        with pytest.raises(InputError, match="patch_size"):
            Exemplar(patch_size=bad)
    with pytest.raises(InputError, match="max_sources"):
        Exemplar(max_sources=0)
