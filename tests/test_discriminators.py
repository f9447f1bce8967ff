"""Discriminators: output shapes from 32x32 up, features, spectral norm, hole crops."""

from __future__ import annotations

import pytest
import torch

from survey_lib.data.checks import InputError
from survey_lib.layers.discriminators import (
    GlobalDiscriminator,
    GlobalLocalDiscriminator,
    LocalDiscriminator,
    PatchDiscriminator,
    SNPatchGAN,
    crop_around_hole,
    hole_boxes,
)

SIZES = (32, 64, 128)


@pytest.mark.parametrize("size", SIZES)
def test_patch_discriminator_shape(size: int) -> None:
    d = PatchDiscriminator(4, width=4, n_layers=3)
    out = d(torch.rand(2, 4, size, size))
    # 3 stride-2 convs (k4 p1) halve, two k4 s1 p1 convs each remove one pixel
    assert out.shape == (2, 1, size // 8 - 2, size // 8 - 2)
    feats = d.features(torch.rand(2, 4, size, size))
    assert len(feats) == 5  # four LeakyReLU blocks, then the logit map
    assert feats[-1].shape == out.shape


def test_patch_discriminator_mask_argument_and_errors() -> None:
    d = PatchDiscriminator(4, width=4, spectral=True).eval()  # eval: no power-iteration update
    img, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    assert torch.allclose(d(img, mask=mask), d(torch.cat([img, mask], 1)))
    with pytest.raises(InputError, match="built for 4 input channels"):
        d(img)
    with pytest.raises(InputError, match="at least 24x24"):
        d(torch.rand(1, 4, 16, 16))


@pytest.mark.parametrize("size", SIZES)
def test_sn_patchgan_shapes(size: int) -> None:
    paper = SNPatchGAN(4, width=4)  # six layers: ceil(size / 64)
    assert paper(torch.rand(2, 4, size, size)).shape == (2, 16, -(-size // 64), -(-size // 64))
    adapted = SNPatchGAN(4, width=4, size=size)  # depth from size: a 4x4 logit map
    feats = adapted.features(torch.rand(2, 4, size, size))
    assert feats[-1].shape[-2:] == (4, 4)
    assert len(feats) == {32: 3, 64: 4, 128: 5}[size]


def test_sn_patchgan_layers_are_spectral_5x5_stride2() -> None:
    d = SNPatchGAN(4, width=8)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)
    assert all(hasattr(c, "parametrizations") and "weight" in c.parametrizations for c in convs)
    # spectral norm: the largest singular value of each (reshaped) weight is about 1
    d.train()
    for _ in range(30):  # power iterations run in training mode
        d(torch.rand(1, 4, 32, 32))
    for c in convs:
        sigma = torch.linalg.matrix_norm(c.weight.detach().flatten(1), ord=2)
        assert abs(float(sigma) - 1.0) < 0.05


@pytest.mark.parametrize("size", SIZES)
def test_global_local_shapes(size: int) -> None:
    x = torch.rand(2, 3, size, size)
    mask = torch.zeros(2, 1, size, size)
    mask[0, :, 2:10, 3:9] = 1
    mask[1, :, -6:, -6:] = 1
    assert GlobalDiscriminator(3, size, width=4)(x).shape == (2, 1)
    local = LocalDiscriminator(3, size // 2, width=4)
    assert local(x, mask=mask).shape == (2, 1)
    assert local(crop_around_hole(x, mask, size // 2)).shape == (2, 1)
    gl = GlobalLocalDiscriminator(3, size, size // 2, width=4)
    assert gl(x, mask).shape == (2, 1)
    feats = gl.features(x, mask)
    assert feats[-1].shape == (2, 1)
    assert torch.allclose(feats[-1], gl(x, mask), atol=1e-6)
    with pytest.raises(InputError, match=f"built for {size}x{size}"):
        GlobalDiscriminator(3, size, width=4)(torch.rand(1, 3, size + 8, size + 8))


def test_global_local_local_branch_sees_the_hole() -> None:
    """Changing pixels far from the hole leaves the local branch's embedding unchanged."""
    gl = GlobalLocalDiscriminator(3, 64, 32, width=4, norm="none").eval()
    x = torch.rand(1, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 40:50, 44:56] = 1
    y = x.clone()
    y[..., :16, :16] = 0.0  # outside the 32x32 crop around the hole
    a = gl.local_branch.embed(x, mask)
    b = gl.local_branch.embed(y, mask)
    assert torch.allclose(a, b)
    assert not torch.allclose(gl.global_branch.embed(x), gl.global_branch.embed(y))


def test_hole_boxes_and_crop_contains_hole() -> None:
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(6, 1, 48, 40)
    for i in range(6):
        t, lf = int(torch.randint(0, 40, (1,), generator=g)), int(torch.randint(0, 32, (1,), generator=g))
        masks[i, :, t:t + 8, lf:lf + 7] = 1
    boxes = hole_boxes(masks)
    for i, (t, lf, b, r) in enumerate(boxes.tolist()):
        assert masks[i, 0, t:b, lf:r].sum() == masks[i].sum()
        assert (b - t, r - lf) == (8, 7)
    crops = crop_around_hole(masks, masks, 16)
    assert crops.shape == (6, 1, 16, 16)
    assert torch.equal(crops.flatten(1).sum(1), masks.flatten(1).sum(1))  # the whole hole is inside
    # centred where the image allows: the hole's centre is the crop's centre (up to rounding)
    m = torch.zeros(1, 1, 64, 64)
    m[..., 30:34, 20:24] = 1
    ys, xs = torch.nonzero(crop_around_hole(m, m, 16)[0, 0], as_tuple=True)
    assert (int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())) == (6, 9, 6, 9)


def test_crop_clamped_and_gradients_flow() -> None:
    m = torch.zeros(1, 1, 32, 32)
    m[..., 0:3, 29:32] = 1  # corner hole: the window is clamped into the image
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    crop = crop_around_hole(x, m, 12)
    assert torch.equal(crop, x[..., 0:12, 20:32])
    crop.sum().backward()
    assert x.grad is not None and x.grad[..., 0:12, 20:32].eq(1).all() and x.grad.sum() == 3 * 144
    with pytest.raises(InputError, match="crop size"):
        crop_around_hole(x, m, 40)


def test_autocast_bfloat16() -> None:
    d = SNPatchGAN(4, width=4, size=32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = d(torch.rand(2, 4, 32, 32))
    assert out.shape == (2, 16, 4, 4) and torch.isfinite(out.float()).all()


# -- score_recorder: the game's monitor used by chapter 03.3 ---------------------------------------


def _gan_and_probe() -> tuple:
    from survey_lib.models.global_local import GlobalLocalGAN

    torch.manual_seed(0)
    model = GlobalLocalGAN(channels=1, width=8, image_size=32)
    image = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    return model, image, mask


def test_score_recorder_logs_step_1_and_every_k() -> None:
    from survey_lib.models.global_local import score_recorder

    model, image, mask = _gan_and_probe()
    log, callback = score_recorder(model, image, mask, every=3)
    for step in range(1, 8):
        callback(step, {})
    assert log["step"] == [1, 3, 6]
    expected = model.discriminator_scores(image, mask)
    assert log["d_real"][-1] == pytest.approx(expected["d_real"])
    assert log["d_fake"][-1] == pytest.approx(expected["d_fake"])
    assert len(log["d_real"]) == len(log["d_fake"]) == 3


def test_score_recorder_follows_training() -> None:
    from survey_lib.models.global_local import score_recorder
    from survey_lib.train import train

    model, image, mask = _gan_and_probe()
    log, callback = score_recorder(model, image, mask, every=2)
    train(model, (image.repeat(4, 1, 1, 1), mask.repeat(4, 1, 1, 1)), steps=4, batch_size=4, live=False,
          seed=0, callback=callback, eval_data=None)
    assert log["step"] == [1, 2, 4]
    assert len(set(log["d_real"])) > 1  # the discriminator moved between the records


@pytest.mark.parametrize("case,pattern", [
    ("model", "model must be a GlobalLocalGAN"),
    ("every0", "every must be an int >= 1"),
    ("everyf", "every must be an int"),
    ("channels", "built for 1-channel images, got 3"),
    ("mask", "mask"),
])
def test_score_recorder_bad_arguments(case: str, pattern: str) -> None:
    from survey_lib.models.global_local import score_recorder

    model, image, mask = _gan_and_probe()
    args = {"model": model, "image": image, "mask": mask, "every": 2}
    if case == "model":
        args["model"] = PatchDiscriminator(2, width=4)
    elif case == "every0":
        args["every"] = 0
    elif case == "everyf":
        args["every"] = 2.0
    elif case == "channels":
        args["image"] = torch.rand(2, 3, 32, 32)
    else:
        args["mask"] = mask[:1]
    with pytest.raises(InputError, match=pattern):
        score_recorder(**args)
