"""Losses: hand-computed values, zeros where they belong, gradient signs, mask respect,
adversarial pairs on known logits, penalties, feature networks and the composite."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from survey_lib import weights as weight_files
from survey_lib.data.checks import InputError
from survey_lib.losses import (
    ADVERSARIAL,
    EDGECONNECT_EDGE_WEIGHTS,
    EDGECONNECT_IMAGE_WEIGHTS,
    EDGECONNECT_WEIGHTS,
    LAMA_WEIGHTS,
    PAPER_WEIGHTS,
    PCONV_WEIGHTS,
    TERMS,
    CompositeLoss,
    WeightsUnavailable,
    d_loss,
    feature_matching,
    feature_network,
    g_loss,
    gradient_penalty,
    gram_matrix,
    hole_l1,
    hole_l2,
    id_mrf,
    l1,
    l2,
    mrf_loss,
    perceptual_loss,
    pyramid_l1,
    r1_penalty,
    spatially_discounted_l1,
    style_loss,
    total_variation,
    valid_l1,
)
from survey_lib.losses.feature_nets import RandomFeatures, clear_feature_cache, train_features
from survey_lib.losses.mrf import contextual_similarity
from survey_lib.losses.perceptual import perceptual_from_features, style_from_features
from survey_lib.losses.reconstruction import box_discount_weights, discount_weights
from tests.weights_needed import require_installed


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))




def _small_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pred, target = _rand(2, 1, 3, 3, seed=1), _rand(2, 1, 3, 3, seed=2)
    mask = torch.zeros(2, 1, 3, 3)
    mask[0, 0, 0, 0] = mask[0, 0, 1, 1] = mask[1, 0, 2, :] = 1
    return pred, target, mask


def _descends(loss_fn, x: torch.Tensor, lr: float = 0.05) -> tuple[float, float]:
    """Loss before and after one gradient-descent step on ``x``."""
    x = x.clone().requires_grad_(True)
    before = loss_fn(x)
    before.backward()
    with torch.no_grad():
        after = loss_fn(x - lr * x.grad / (x.grad.abs().max() + 1e-12))
    return float(before.detach()), float(after)


# --- reconstruction ---------------------------------------------------------------------

def test_l1_l2_match_explicit_formulas() -> None:
    pred, target, mask = _small_case()
    total1 = total2 = hole = valid = 0.0
    for b in range(2):
        for i in range(3):
            for j in range(3):
                d = float(pred[b, 0, i, j] - target[b, 0, i, j])
                w = 6.0 if mask[b, 0, i, j] == 1 else 1.0
                total1 += w * abs(d)
                total2 += w * d * d
                hole += abs(d) if mask[b, 0, i, j] == 1 else 0.0
                valid += abs(d) if mask[b, 0, i, j] == 0 else 0.0
    assert float(l1(pred, target, mask, hole_weight=6, valid_weight=1)) == pytest.approx(total1 / 18, rel=1e-6)
    assert float(l2(pred, target, mask, hole_weight=6, valid_weight=1)) == pytest.approx(total2 / 18, rel=1e-6)
    assert float(hole_l1(pred, target, mask)) == pytest.approx(hole / 18, rel=1e-6)
    assert float(valid_l1(pred, target, mask)) == pytest.approx(valid / 18, rel=1e-6)
    n_hole = int(mask.sum())
    assert float(hole_l1(pred, target, mask, normalize="region")) == pytest.approx(hole / n_hole, rel=1e-6)
    assert float(l1(pred, target)) == pytest.approx(float((pred - target).abs().mean()))


def test_reconstruction_zero_for_identical() -> None:
    pred, _, mask = _small_case()
    for fn in (l1, l2):
        assert float(fn(pred, pred, mask, hole_weight=6)) == 0.0
    assert float(hole_l1(pred, pred, mask)) == 0.0
    assert float(spatially_discounted_l1(pred, pred, mask)) == 0.0
    assert float(pyramid_l1(pred, pred, levels=2)) == 0.0


@pytest.mark.parametrize("loss", [hole_l1, hole_l2, spatially_discounted_l1,
                                  lambda p, t, m: spatially_discounted_l1(p, t, m, method="box")])
def test_hole_terms_ignore_valid_region(loss) -> None:
    pred, target = _rand(2, 3, 16, 16, seed=3), _rand(2, 3, 16, 16, seed=4)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 4:10, 3:12] = 1
    mask[1, :, 8:, 8:] = 1
    x = pred.clone().requires_grad_(True)
    value = loss(x, target, mask)
    value.backward()
    assert x.grad is not None
    assert torch.all(x.grad * (1 - mask) == 0)  # exactly zero gradient on known pixels
    assert x.grad.abs().sum() > 0
    perturbed = pred + (1 - mask) * _rand(2, 3, 16, 16, seed=5) * 0.5
    assert float(loss(perturbed, target, mask)) == float(value.detach())


def test_valid_l1_ignores_hole() -> None:
    pred, target, mask = _small_case()
    assert float(valid_l1(pred + mask * 0.3, target, mask)) == pytest.approx(float(valid_l1(pred, target, mask)))


def test_reconstruction_gradient_descends() -> None:
    pred, target, mask = _small_case()
    for fn in (lambda x: l1(x, target, mask, 6, 1), lambda x: l2(x, target, mask, 6, 1),
               lambda x: pyramid_l1(x, target, levels=2)):
        before, after = _descends(fn, pred)
        assert after < before


def test_discount_weights_exact_distance() -> None:
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 1:4, 1:4] = 1
    w = discount_weights(mask, gamma=0.9)[0, 0]
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = 0.9
    expected[2, 2] = 0.81  # the centre is 2 pixels from the nearest known pixel
    assert torch.allclose(w, expected)
    # arbitrary mask: compare with brute-force Euclidean distances
    rng = np.random.default_rng(0)
    hole = rng.random((9, 11)) < 0.6
    m = torch.from_numpy(hole.astype(np.float32))[None, None]
    known = np.argwhere(~hole)
    brute = np.zeros(hole.shape)
    for i, j in np.argwhere(hole):
        brute[i, j] = 0.8 ** np.sqrt(((known - [i, j]) ** 2).sum(1)).min()
    assert np.allclose(discount_weights(m, 0.8)[0, 0].numpy(), brute, atol=1e-6)


def test_discount_gamma_default_is_the_released_config_and_the_paper_value_selectable() -> None:
    """DeepFill v1: γ = 0.99 in the paper, 0.9 in the released config; the library says which."""
    import inspect

    from survey_lib.losses.reconstruction import (
        DEEPFILL_GAMMA,
        DEEPFILL_GAMMA_PAPER,
        DEEPFILL_GAMMA_RELEASED,
        resolve_gamma,
    )
    from survey_lib.models.deepfill_v1 import DeepFillV1
    from survey_lib.models.transformer_inpainter import TransformerInpainter

    assert (DEEPFILL_GAMMA_PAPER, DEEPFILL_GAMMA_RELEASED, DEEPFILL_GAMMA) == (0.99, 0.9, 0.9)
    for fn in (spatially_discounted_l1, discount_weights, box_discount_weights, DeepFillV1, TransformerInpainter):
        assert inspect.signature(fn).parameters["gamma"].default == DEEPFILL_GAMMA
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 1:8, 1:8] = 1  # the centre is 4 pixels from the nearest known pixel
    assert float(discount_weights(mask)[0, 0, 4, 4]) == pytest.approx(0.9**4)
    assert float(discount_weights(mask, "paper")[0, 0, 4, 4]) == pytest.approx(0.99**4)
    assert torch.equal(discount_weights(mask, "paper"), discount_weights(mask, 0.99))
    assert torch.equal(box_discount_weights(mask, "released"), box_discount_weights(mask, 0.9))
    pred, target = _rand(1, 3, 9, 9, seed=3), _rand(1, 3, 9, 9, seed=4)
    assert float(spatially_discounted_l1(pred, target, mask, gamma="paper")) > float(
        spatially_discounted_l1(pred, target, mask))  # 0.99 discounts less
    assert resolve_gamma(1) == 1.0
    for bad in ("Paper", 0.0, 1.5, -0.9):
        with pytest.raises(InputError, match="gamma"):
            discount_weights(mask, bad)


def test_box_discount_matches_reference_formula() -> None:
    mask = torch.zeros(1, 1, 6, 7)
    mask[..., 1:4, 2:5] = 1  # 3x3 box
    g = 0.9
    w = box_discount_weights(mask, g)[0, 0, 1:4, 2:5]
    expected = torch.tensor([[max(g ** min(i, 3 - i), g ** min(j, 3 - j)) for j in range(3)] for i in range(3)])
    assert torch.allclose(w, expected)
    assert box_discount_weights(mask, g).sum() == pytest.approx(float(expected.sum()))
    # on rectangles the exact map lies between gamma * box and box
    big = torch.zeros(2, 1, 20, 20)
    big[0, :, 3:15, 5:12] = 1
    big[1, :, 1:9, 2:19] = 1  # (a hole touching the image border is farther from known pixels)
    exact, box = discount_weights(big, g), box_discount_weights(big, g)
    assert torch.all(exact <= box + 1e-6) and torch.all(exact >= g * box - 1e-6)


def test_spatially_discounted_value() -> None:
    pred, target = torch.ones(1, 1, 5, 5), torch.zeros(1, 1, 5, 5)
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 1:4, 1:4] = 1
    assert float(spatially_discounted_l1(pred, target, mask)) == pytest.approx((8 * 0.9 + 0.81) / 25)


def test_pyramid_l1_hand_value() -> None:
    pred, target = _rand(1, 1, 4, 4, seed=7), _rand(1, 1, 4, 4, seed=8)
    d0 = (pred - target).abs().mean()
    d1 = (F.avg_pool2d(pred, 2) - F.avg_pool2d(target, 2)).abs().mean()
    assert float(pyramid_l1(pred, target, levels=2)) == pytest.approx(float((d0 + d1) / 2), rel=1e-6)
    # a list of multi-scale outputs is compared with the resized target
    outs = [pred, F.avg_pool2d(pred, 2)]
    assert float(pyramid_l1(outs, target)) == pytest.approx(float((d0 + d1) / 2), rel=1e-6)


def test_reconstruction_input_errors() -> None:
    pred, target, mask = _small_case()
    with pytest.raises(InputError, match="same shape"):
        l1(pred, target[:, :, :2])
    with pytest.raises(InputError, match="binary"):
        l1(pred, target, mask * 0.5)
    with pytest.raises(InputError, match="needs a mask"):
        hole_l1(pred, target, None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="method"):
        spatially_discounted_l1(pred, target, mask, method="nearest")


def test_reconstruction_under_autocast() -> None:
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    x, target = _rand(2, 3, 8, 8, seed=9), _rand(2, 3, 8, 8, seed=10)
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:5, 2:6] = 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(x)
        assert out.dtype == torch.bfloat16
        value = l1(out, target, mask, 6, 1)
    assert value.dtype == torch.float32
    assert float(value.detach()) == pytest.approx(float(l1(conv(x), target, mask, 6, 1).detach()), rel=2e-2)


# --- adversarial ------------------------------------------------------------------------

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_adversarial_values_on_known_logits() -> None:
    assert float(d_loss("hinge", REAL, FAKE)) == pytest.approx(0.5 * (0 + 2) / 2 + 0.5 * (1.5 + 0) / 2)
    assert float(g_loss("hinge", FAKE)) == pytest.approx(1.25)
    ns_d = (_softplus(-2) + _softplus(1)) / 2 + (_softplus(0.5) + _softplus(-3)) / 2
    assert float(d_loss("nsgan", REAL, FAKE)) == pytest.approx(ns_d, rel=1e-6)
    bce = F.binary_cross_entropy_with_logits
    assert float(d_loss("nsgan", REAL, FAKE)) == pytest.approx(
        float(bce(REAL, torch.ones(2)) + bce(FAKE, torch.zeros(2))), rel=1e-6)
    assert float(g_loss("nsgan", FAKE)) == pytest.approx((_softplus(-0.5) + _softplus(3)) / 2, rel=1e-6)
    assert float(d_loss("lsgan", REAL, FAKE)) == pytest.approx(0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2)
    assert float(g_loss("lsgan", FAKE)) == pytest.approx(0.5 * (0.25 + 16) / 2)
    assert float(d_loss("wgan_gp", REAL, FAKE)) == pytest.approx(-1.25 - 0.5)
    assert float(g_loss("wgan_gp", FAKE)) == pytest.approx(1.25)
    with pytest.raises(InputError, match="choose one of nsgan, lsgan, hinge, wgan_gp"):
        d_loss("vanilla", REAL, FAKE)


@pytest.mark.parametrize("kind", ADVERSARIAL)
def test_adversarial_gradient_signs(kind: str) -> None:
    """A generator step raises D(fake); a discriminator step separates real from fake."""
    # logits in (0, 1): LSGAN pulls logits towards its targets 1 and 0, so outside that
    # interval its gradients change sign by design
    real_logits, fake_logits = torch.tensor([0.2, 0.7]), torch.tensor([0.3, 0.6])
    fake = fake_logits.clone().requires_grad_(True)
    g_loss(kind, fake).backward()
    assert torch.all(fake.grad < 0)  # descending the loss increases the fake logits
    real, fake = real_logits.clone().requires_grad_(True), fake_logits.clone().requires_grad_(True)
    d_loss(kind, real, fake).backward()
    assert torch.all(real.grad <= 0) and torch.all(fake.grad >= 0)
    assert real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0


def test_adversarial_autocast_patch_maps() -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = torch.nn.Conv2d(3, 1, 3)(torch.rand(2, 3, 8, 8))
        value = d_loss("hinge", logits, -logits)
    assert value.dtype == torch.float32 and torch.isfinite(value)


def test_gradient_penalty_linear_critic() -> None:
    w = _rand(1, 3, 8, 8, seed=11) - 0.5

    def critic(weight: torch.Tensor):
        return lambda x: (x * weight).flatten(1).sum(1, keepdim=True)

    real, fake = _rand(4, 3, 8, 8, seed=12), _rand(4, 3, 8, 8, seed=13)
    unit = w / w.norm()
    assert float(gradient_penalty(critic(unit), real, fake)) == pytest.approx(0.0, abs=1e-9)
    assert float(gradient_penalty(critic(2 * unit), real, fake)) == pytest.approx(1.0, rel=1e-5)
    # it trains the critic: the graph reaches the critic's weights
    weight = (3 * unit).clone().requires_grad_(True)
    gradient_penalty(critic(weight), real, fake).backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_r1_penalty() -> None:
    real = _rand(3, 1, 4, 4, seed=14).requires_grad_(True)
    bias = torch.nn.Parameter(torch.tensor([0.7]))
    constant_logits = bias.expand(3, 1) + 0 * real.sum()
    assert float(r1_penalty(constant_logits, real).detach()) == 0.0
    assert float(r1_penalty(bias.expand(3, 1) * 1.0, real).detach()) == 0.0  # D ignores x entirely
    w = _rand(1, 1, 4, 4, seed=15)
    logits = (real * w).flatten(1).sum(1)
    assert float(r1_penalty(logits, real)) == pytest.approx(float((w**2).sum()), rel=1e-6)
    with pytest.raises(InputError, match="requires_grad"):
        r1_penalty(logits, real.detach())


def test_feature_matching() -> None:
    real = [_rand(2, 4, 4, 4, seed=16), _rand(2, 8, 2, 2, seed=17)]
    fake = [_rand(2, 4, 4, 4, seed=18).requires_grad_(True), _rand(2, 8, 2, 2, seed=19)]
    expected = sum(float((f.detach() - r).abs().mean()) for f, r in zip(fake, real))
    assert float(feature_matching(real, fake).detach()) == pytest.approx(expected, rel=1e-6)
    assert float(feature_matching(real, fake, reduce="mean").detach()) == pytest.approx(expected / 2, rel=1e-6)
    assert float(feature_matching(real, real)) == 0.0
    r0 = real[0].clone().requires_grad_(True)
    feature_matching([r0, real[1]], fake).backward()
    assert r0.grad is None and fake[0].grad is not None  # real features are detached
    with pytest.raises(InputError, match="equally long"):
        feature_matching(real, fake[:1])


# --- perceptual, style, feature networks ------------------------------------------------

def test_gram_matrix_hand_value() -> None:
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]]])  # (1, 2, 2, 2)
    flat = f.reshape(2, 4)
    expected = flat @ flat.T / (2 * 2 * 2)
    assert torch.allclose(gram_matrix(f)[0], expected)
    assert torch.allclose(gram_matrix(f)[0], torch.tensor([[30.0, 5.0], [5.0, 2.0]]) / 8)


def test_style_is_position_free_perceptual_is_not() -> None:
    feats = [_rand(2, 4, 6, 6, seed=20), _rand(2, 8, 3, 3, seed=21)]
    rolled = [torch.roll(f, shifts=(1, 2), dims=(2, 3)) for f in feats]
    assert float(style_from_features(rolled, feats)) == pytest.approx(0.0, abs=1e-7)
    assert float(perceptual_from_features(rolled, feats)) > 0.05
    assert float(style_from_features(feats, feats)) == 0.0


def test_perceptual_and_style_on_random_net() -> None:
    net = feature_network("random", 3, seed=0)
    assert "RANDOM" in net.describe() and "VGG16" in net.describe()
    x, y = _rand(2, 3, 32, 32, seed=22), _rand(2, 3, 32, 32, seed=23)
    assert float(perceptual_loss(x, x, net)) == 0.0
    assert float(style_loss(x, x, net)) == 0.0
    assert float(perceptual_loss(x, y, net)) > 0 and float(style_loss(x, y, net)) > 0
    before, after = _descends(lambda p: style_loss(p, y, net), x, lr=0.05)
    assert after < before
    before, after = _descends(lambda p: perceptual_loss(p, y, net), x, lr=0.05)
    assert after < before
    # frozen: no gradient reaches the network's weights
    p = x.clone().requires_grad_(True)
    perceptual_loss(p, y, net).backward()
    assert all(w.grad is None for w in net.parameters()) and p.grad is not None


def test_random_net_is_seeded_and_grey_works() -> None:
    a, b = RandomFeatures(1, seed=3), RandomFeatures(1, seed=3)
    x = _rand(1, 1, 16, 16, seed=24)
    assert all(torch.equal(u, v) for u, v in zip(a(x), b(x)))
    assert not torch.equal(RandomFeatures(1, seed=4)(x)[0], a(x)[0])
    assert [f.shape[1:] for f in a(x)] == [(32, 8, 8), (64, 4, 4), (128, 2, 2)]
    with pytest.raises(InputError, match="1-channel"):
        a(_rand(1, 3, 16, 16))
    with pytest.raises(InputError, match="choose one of vgg16, random, trained"):
        feature_network("resnet")


def test_style_under_autocast() -> None:
    net = feature_network("random", 3, seed=0)
    x, y = _rand(2, 3, 16, 16, seed=25), _rand(2, 3, 16, 16, seed=26)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = style_loss(x, y, net)
    assert value.dtype == torch.float32
    assert float(value) == pytest.approx(float(style_loss(x, y, net)), rel=0.1)


def test_vgg16_offline_error_names_the_install_command(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(weight_files.WEIGHTS_DIR_ENV, str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    clear_feature_cache()
    try:
        with pytest.raises(WeightsUnavailable, match="survey_lib.tools.install_weights") as info:
            feature_network("vgg16", 3)
        assert str(tmp_path / "none" / "lpips_vgg.safetensors") in str(info.value)
        assert not (tmp_path / "hub").exists()  # nothing was downloaded
    finally:
        clear_feature_cache()


def test_vgg16_loss_network_is_imagenet_vgg16_pool1_to_pool3() -> None:
    from survey_lib.metrics.perceptual import vgg16_layers

    require_installed("vgg")
    clear_feature_cache()
    net = feature_network("vgg16", 1)
    assert "VGG16" in net.describe() and net.layer_names == ("pool1", "pool2", "pool3")
    state = weight_files.load("vgg")
    assert torch.equal(net.stages[0][0].weight, state["features.0.weight"])
    assert torch.equal(net.stages[2][4].weight, state["features.14.weight"])  # conv3_3, last before pool3
    x = _rand(2, 1, 32, 32, seed=27)
    feats = net(x)
    assert [f.shape[1:] for f in feats] == [(64, 16, 16), (128, 8, 8), (256, 4, 4)]
    manual = vgg16_layers(17)((x.expand(-1, 3, -1, -1) - net.mean) / net.std)  # torchvision layout
    assert torch.equal(feats[-1], manual)
    # a real (ImageNet) loss network: zero for the same image, larger for a bigger change
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    z = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert float(perceptual_loss(x, x)) == 0.0 and float(style_loss(x, x)) == 0.0
    assert 0 < float(perceptual_loss(y, x)) < float(perceptual_loss(z, x))  # default net: vgg16
    assert float(perceptual_loss(y, x, "vgg16")) == float(perceptual_loss(y, x, net))
    with pytest.raises(InputError, match="net must be a FeatureNet or one of"):
        perceptual_loss(y, x, "resnet")


def test_trained_feature_net_learns() -> None:
    net = train_features(1, steps=12, batch_size=8, size=32, seed=0)
    assert net.info["final_l1"] < net.info["initial_l1"]
    assert "trained here for 12 steps" in net.describe()
    assert [f.shape[1:] for f in net(_rand(2, 1, 32, 32))] == [(32, 16, 16), (64, 8, 8), (128, 4, 4)]
    assert all(not p.requires_grad for p in net.parameters())


# --- total variation --------------------------------------------------------------------

def test_tv_hand_value_and_constant() -> None:
    x = torch.tensor([[[[0.0, 1.0, 0.0], [0.0, 0.0, 0.5], [1.0, 0.0, 0.0]]]])
    dx = 1 + 1 + 0 + 0.5 + 1 + 0
    dy = 0 + 1 + 0.5 + 1 + 0 + 0.5
    assert float(total_variation(x)) == pytest.approx((dx + dy) / 9)
    assert float(total_variation(torch.full((2, 3, 8, 8), 0.3))) == 0.0


def test_tv_masked_region() -> None:
    x = _rand(1, 1, 6, 6, seed=29)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., 2, 2] = 1  # one hole pixel: the dilated region is rows/cols 1..3
    region = np.zeros((6, 6), bool)
    region[1:4, 1:4] = True
    v = x[0, 0].numpy()
    total = 0.0
    for i in range(6):
        for j in range(6):
            if j + 1 < 6 and region[i, j] and region[i, j + 1]:
                total += abs(v[i, j + 1] - v[i, j])
            if i + 1 < 6 and region[i, j] and region[i + 1, j]:
                total += abs(v[i + 1, j] - v[i, j])
    assert float(total_variation(x, mask)) == pytest.approx(total / 36, rel=1e-6)
    # pixels outside the dilated hole do not matter
    y = x.clone().requires_grad_(True)
    total_variation(y, mask).backward()
    outside = torch.from_numpy(~region)[None, None]
    assert torch.all(y.grad[outside] == 0)
    before, after = _descends(lambda z: total_variation(z, mask), x)
    assert after < before


# --- MRF ---------------------------------------------------------------------------------

def test_mrf_minimal_for_identical_and_position_free() -> None:
    f = _rand(2, 8, 6, 6, seed=30)
    g = _rand(2, 8, 6, 6, seed=31)
    same = float(id_mrf(f, f))
    assert same == pytest.approx(0.0, abs=1e-4)
    assert float(id_mrf(g, f)) > same + 0.5
    perm = torch.randperm(36, generator=torch.Generator().manual_seed(0))
    shuffled = f.flatten(2)[:, :, perm].reshape(f.shape)  # same patches, other places
    assert float(id_mrf(shuffled, f)) == pytest.approx(0.0, abs=1e-4)
    rs = contextual_similarity(g, f)
    assert rs.shape == (2, 36, 36) and torch.allclose(rs.sum(2), torch.ones(2, 36), atol=1e-5)


def test_mrf_loss_gradient_and_downsampling() -> None:
    net = feature_network("random", 3, seed=0)
    x, y = _rand(1, 3, 32, 32, seed=32), _rand(1, 3, 32, 32, seed=33)
    assert float(mrf_loss(y, y, net)) == pytest.approx(0.0, abs=1e-3)
    before, after = _descends(lambda p: mrf_loss(p, y, net), x, lr=0.1)
    assert after < before
    f, g = _rand(1, 4, 16, 16, seed=34), _rand(1, 4, 16, 16, seed=35)
    assert float(id_mrf(g, f, max_positions=64)) == pytest.approx(
        float(id_mrf(F.avg_pool2d(g, 2), F.avg_pool2d(f, 2))), rel=1e-5)


def test_mrf_and_tv_under_autocast() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    x, y = _rand(2, 3, 12, 12, seed=42), _rand(2, 3, 12, 12, seed=43)
    with torch.no_grad():
        reference = float(id_mrf(conv(x), conv(y)))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fx, fy = conv(x), conv(y)
            assert fx.dtype == torch.bfloat16
            value = id_mrf(fx, fy)
            tv = total_variation(fx)
    assert value.dtype == torch.float32 and tv.dtype == torch.float32
    assert float(value) == pytest.approx(reference, rel=0.1)


# --- composite ----------------------------------------------------------------------------

def test_paper_weight_sets() -> None:
    assert PCONV_WEIGHTS == {"valid_l1": 1, "hole_l1": 6, "perceptual": 0.05, "perceptual_comp": 0.05,
                             "style": 120, "style_comp": 120, "tv": 0.1}
    # EdgeConnect: two generators, two sets; feature matching belongs to the edge stage only
    assert EDGECONNECT_EDGE_WEIGHTS == {"adversarial": 1, "feature_matching": 10}
    assert EDGECONNECT_WEIGHTS == EDGECONNECT_IMAGE_WEIGHTS == {"l1": 1, "adversarial": 0.1, "perceptual": 0.1,
                                                                "style": 250}
    assert PAPER_WEIGHTS["edgeconnect"][0] is EDGECONNECT_IMAGE_WEIGHTS
    assert PAPER_WEIGHTS["edgeconnect_edge"] == (EDGECONNECT_EDGE_WEIGHTS, "nsgan")
    assert LAMA_WEIGHTS["valid_l1"] == 10 and LAMA_WEIGHTS["feature_matching"] == 100
    assert set(PCONV_WEIGHTS) | set(EDGECONNECT_WEIGHTS) | set(LAMA_WEIGHTS) <= set(TERMS)


def test_composite_terms_are_weighted_functions() -> None:
    x, y = _rand(2, 3, 16, 16, seed=36), _rand(2, 3, 16, 16, seed=37)
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 4:12, 5:11] = 1
    net = feature_network("random", 3, seed=0)
    loss = CompositeLoss({"hole_l1": 6, "valid_l1": 1, "style": 120, "tv": 0.1, "l2": 0.0},
                         feature_net=net)
    out = loss(x, y, mask)
    assert list(out) == ["hole_l1", "valid_l1", "style", "tv"]  # zero weight: skipped
    comp = mask * x + (1 - mask) * y
    assert float(out["hole_l1"]) == pytest.approx(6 * float(hole_l1(x, y, mask)), rel=1e-6)
    assert float(out["valid_l1"]) == pytest.approx(float(valid_l1(x, y, mask)), rel=1e-6)
    assert float(out["style"]) == pytest.approx(120 * float(style_loss(x, y, net)), rel=1e-5)
    assert float(out["tv"]) == pytest.approx(0.1 * float(total_variation(comp, mask)), rel=1e-6)


def test_composite_and_loss_lab_default_to_pconvs_vgg16() -> None:
    """Regression (issue 9): the feature terms defaulted to the random network; PConv's
    recipe is ImageNet VGG16 pool1-pool3, and random/trained are the labelled alternatives."""
    from survey_lib.losses.feature_nets import VGG16Features
    from survey_lib.models.loss_lab import LAB_RUNS, LossLab

    require_installed("vgg")
    x, y = _rand(2, 3, 32, 32, seed=42), _rand(2, 3, 32, 32, seed=43)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 6:20] = 1
    loss = CompositeLoss(PCONV_WEIGHTS)
    assert isinstance(loss.feature_net(3), VGG16Features) and "loss network: vgg16" in loss.describe()
    out = loss(x, y, mask)
    vgg = feature_network("vgg16", 3)
    assert float(out["style"]) == pytest.approx(120 * float(style_loss(x, y, vgg)), rel=1e-5)
    assert float(out["style"]) != pytest.approx(120 * float(style_loss(x, y, feature_network("random", 3))))
    lab = LossLab(3, 4, **LAB_RUNS["L1 + perceptual + style"])
    assert lab.loss.feature_net(3).kind == "vgg16" and "VGG16" in lab.describe()
    assert LossLab(3, 4, weights={"style": 1.0}, feature_net="random").loss.feature_net(3).kind == "random"
    grey = LossLab(1, 4, weights={"perceptual": 1.0})  # glyphs: grey repeated to three channels
    assert grey.loss.feature_net(1).kind == "vgg16"
    assert torch.isfinite(grey.generator_losses(x[:, :1], mask)["perceptual"])


def test_composite_zero_weight_skips_feature_net_and_errors() -> None:
    class Exploding(RandomFeatures):
        def forward(self, x):  # type: ignore[override]
            raise AssertionError("feature network used although its terms have weight 0")

    x, y = _rand(1, 3, 16, 16), _rand(1, 3, 16, 16, seed=1)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :4, :4] = 1
    out = CompositeLoss({"l1": 1, "perceptual": 0, "style": 0}, feature_net=Exploding(3))(x, y, mask)
    assert list(out) == ["l1"]
    with pytest.raises(InputError, match="unknown loss term.*choose from: l1, l2, hole_l1"):
        CompositeLoss({"hole_L1": 6})
    with pytest.raises(InputError, match="needs fake_logits"):
        CompositeLoss({"adversarial": 0.1})(x, y, mask)
    with pytest.raises(InputError, match=">= 0"):
        CompositeLoss({"l1": -1})
    logits = torch.tensor([[0.3], [-0.2]])
    out = CompositeLoss({"adversarial": 0.1}, adversarial="hinge")(x.expand(2, -1, -1, -1),
                                                                    y.expand(2, -1, -1, -1),
                                                                    mask.expand(2, -1, -1, -1),
                                                                    fake_logits=logits)
    assert float(out["adversarial"]) == pytest.approx(-0.1 * 0.05)


def test_composite_comp_terms_ignore_valid_prediction() -> None:
    """hole_l1 and the composite-based terms see the prediction only inside the hole."""
    require_installed("vgg")  # the default loss network
    x, y = _rand(1, 3, 16, 16, seed=38), _rand(1, 3, 16, 16, seed=39)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5:11, 4:10] = 1
    loss = CompositeLoss({"hole_l1": 6, "perceptual_comp": 0.05, "style_comp": 120, "tv": 0.1,
                          "discounted_l1": 1})
    p = x.clone().requires_grad_(True)
    total = sum(loss(p, y, mask).values())
    total.backward()
    assert torch.all(p.grad * (1 - mask) == 0)
    moved = x + (1 - mask) * 0.3
    assert float(sum(loss(moved, y, mask).values())) == pytest.approx(float(total.detach()), rel=1e-6)


def test_composite_pconv_descends_under_autocast() -> None:
    require_installed("vgg")  # the default loss network
    x, y = _rand(2, 3, 16, 16, seed=40), _rand(2, 3, 16, 16, seed=41)
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 3:12, 3:12] = 1
    loss = CompositeLoss(PCONV_WEIGHTS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(x, y, mask)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in out.values())
    before, after = _descends(lambda p: sum(loss(p, y, mask).values()), x)
    assert after < before


# --- the loss lab (model + board) ---------------------------------------------------------

def _lab_batch(n: int = 4, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    images = _rand(n, 3, size, size, seed=50)
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):
        masks[i, :, 4 + i:16 + i, 6:20] = 1
    return images, masks


@pytest.mark.parametrize("kind", ADVERSARIAL)
def test_loss_lab_terms_and_discriminator(kind: str) -> None:
    from survey_lib.models.loss_lab import LossLab

    images, masks = _lab_batch()
    lab = LossLab(3, 4, weights={"hole_l1": 6, "valid_l1": 1, "adversarial": 0.1, "feature_matching": 1},
                  adversarial=kind, image_size=32, r1_weight=0.001 if kind == "nsgan" else 0.0)
    assert "patch" in lab.discriminators
    g = lab.generator_losses(images, masks)
    assert list(g) == ["hole_l1", "valid_l1", "adversarial", "feature_matching"]
    d = lab.discriminator_losses(images, masks)
    assert "adv" in d and ("gp" in d) == (kind == "wgan_gp") and ("r1" in d) == (kind == "nsgan")
    sum(d.values()).backward()
    assert all(p.grad is not None for p in lab.discriminators.parameters() if p.requires_grad)
    assert lab.settings["adversarial_kind"] == kind


def test_loss_lab_without_adversary_and_errors() -> None:
    from survey_lib.models.loss_lab import LAB_RUNS, LossLab

    plain = LossLab(3, 4, **LAB_RUNS["L1 only"])
    assert len(plain.discriminators) == 0 and plain.discriminator_losses(*_lab_batch()) == {}
    images, masks = _lab_batch()
    with torch.no_grad():
        pred = plain(images, masks)
    assert pred.shape == images.shape and 0 <= float(pred.min()) and float(pred.max()) <= 1
    with pytest.raises(InputError, match="every loss weight is zero"):
        LossLab(3, 4, weights={"l1": 0.0})
    with pytest.raises(InputError, match="unknown loss term"):
        LossLab(3, 4, weights={"L1": 1.0})


def test_hole_gradient_energy_hand_value() -> None:
    from survey_lib.widgets.losslab import hole_gradient_energy

    img = torch.zeros(1, 1, 4, 4)
    img[..., :, 1] = 1.0  # a vertical line
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 0:3] = 1  # 2x3 hole
    # horizontal pairs in the hole: 2 rows x 2 pairs, each |difference| = 1; vertical pairs: 3, all 0
    assert float(hole_gradient_energy(img, mask)) == pytest.approx(4 / 7)
    assert float(hole_gradient_energy(torch.full((1, 1, 4, 4), 0.5), mask)) == 0.0


def test_board_and_controls_record_runs() -> None:
    from survey_lib.baselines import Telea
    from survey_lib.widgets.losslab import LossLabBoard, LossLabControls

    require_installed("vgg")  # the controls train with the default loss network

    images, masks = _lab_batch()
    board = LossLabBoard(images, masks, n_show=2, perceptual="proxy")
    assert "PROXY" in board.perceptual_name
    run = board.add("telea", Telea())
    assert run.kind == "classical" and run.samples.shape == (2, 3, 32, 32)
    assert run.metrics["sharpness"] == pytest.approx(run.metrics["hole_grad_energy"] / board.truth_energy)
    controls = LossLabControls(board, (images, masks), 3, steps=1, batch_size=2)
    controls.set(style=50.0, adversarial="lsgan")
    assert controls.weights["style"] == 50.0 and controls.adversarial == "lsgan"
    with pytest.raises(InputError, match="no slider"):
        controls.set(gan=1.0)
    lab_run = controls.run(live=False)
    assert controls.last_result.method.loss.feature_net(3).kind == "vgg16"  # PConv's network by default
    assert lab_run.steps == 1 and lab_run.settings["style"] == 50.0 and "telea" in board.runs
    assert "| telea | classical baseline |" in board.to_markdown()
    assert controls.widget is not None  # builds headless
