"""Convolution-aware models (survey §2.4): the vanilla / partial / gated U-Net and LaMa."""

import pytest
import torch

from survey_lib.data.checks import InputError
from survey_lib.layers.fourier import FourierUnit
from survey_lib.layers.partial import PartialConv2d
from survey_lib.models.lama import LaMa
from survey_lib.models.registry import build, get_info
from survey_lib.models.unet import InpaintUNet, matched_gated_width

CONVS = ("vanilla", "partial", "gated")


def _batch(b=2, c=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, c, size, size, generator=g)
    mask = torch.zeros(b, 1, size, size)
    mask[0, :, 6:20, 8:26] = 1
    mask[1, :, 14:30, 2:12] = 1
    mask[1, :, 3:6, 20:31] = 1
    return image, mask


def _unet(conv, **kw):
    torch.manual_seed(0)
    return InpaintUNet(channels=3, width=8, conv=conv, **kw)


@pytest.mark.parametrize("conv", CONVS)
def test_unet_output_shape_and_range(conv):
    image, mask = _batch()
    net = _unet(conv)
    assert net.stride == 16
    out = net(image * (1 - mask), mask)
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1
    net1 = InpaintUNet(channels=1, width=8, conv=conv, depth=2)
    assert net1.stride == 4 and net1(torch.rand(1, 1, 12, 20), mask[:1, :, :12, :20]).shape == (1, 1, 12, 20)


@pytest.mark.parametrize("conv", CONVS)
def test_hole_content_of_the_input_is_never_used(conv):
    image, mask = _batch()
    net = _unet(conv).eval()
    other = torch.where(mask.bool().expand_as(image), torch.rand_like(image), image)  # new hole pixels
    with torch.no_grad():
        assert torch.equal(net(image, mask), net(other, mask))


def test_fill_value_matters_for_vanilla_and_gated_not_for_partial():
    image, mask = _batch()
    noise = torch.rand_like(image)
    for conv in CONVS:
        net = _unet(conv).eval()
        with torch.no_grad():
            outs = [net(image, mask, fill=f) for f in (0.0, 0.5, 1.0, noise)]
        if conv == "partial":
            assert all(torch.equal(outs[0], o) for o in outs[1:])
        else:
            assert all((outs[0] - o).abs().max() > 1e-4 for o in outs[1:])


def test_partial_unet_gets_the_valid_mask():
    """The library mask (1 = hole) is converted to NVIDIA's valid mask at the model's edge."""
    image, mask = _batch()
    net = _unet("partial").eval()
    first = net.encoder[0].layer
    assert isinstance(first, PartialConv2d)
    seen = {}
    first.register_forward_hook(lambda mod, args, out: seen.update(mask=args[1], new=out[1]))
    with torch.no_grad():
        net(image, mask)
    assert torch.equal(seen["mask"], 1 - mask)
    assert seen["new"].shape == (2, 1, 16, 16)
    decoder_layers = [up.layer for up in net.decoder]
    assert all(isinstance(x, PartialConv2d) and x.multi_channel for x in decoder_layers)


def test_unet_rejects_bad_inputs_with_clear_messages():
    net = _unet("partial")
    image, mask = _batch()
    with pytest.raises(InputError, match="divisible by 16"):
        net(image[..., :24], mask[..., :24])
    with pytest.raises(InputError, match="built for 3-channel images, got 1"):
        net(image[:, :1], mask)
    with pytest.raises(InputError, match="binary"):
        net(image, mask * 0.5)
    with pytest.raises(InputError, match="does not match"):
        net(image, mask[:1])
    with pytest.raises(ValueError, match="conv must be one of"):
        InpaintUNet(conv="dilated")


def test_parameter_counts_gated_twice_and_matched():
    counts = {c: _unet(c).parameter_count() for c in CONVS}
    assert abs(counts["partial"] - counts["vanilla"]) / counts["vanilla"] < 0.02  # only the first layer's inputs differ
    assert 1.9 < counts["gated"] / counts["vanilla"] < 2.1
    matched = _unet("gated", match_params=True)
    assert matched.width == matched_gated_width(3, 8, 4, "none") < 8
    assert abs(matched.parameter_count() - counts["vanilla"]) / counts["vanilla"] < 0.15


def test_encoder_kernels_follow_pconv():
    """Liu et al. 2018: encoder kernels 7x7, 5x5, 5x5, then 3x3 (the library used 5, 3, 3... before)."""
    for conv in CONVS:
        net = InpaintUNet(channels=3, width=8, conv=conv, depth=6).eval()
        sizes = [down.layer.kernel_size if conv != "gated" else down.layer.conv.kernel_size for down in net.encoder]
        assert sizes == [(7, 7), (5, 5), (5, 5), (3, 3), (3, 3), (3, 3)]
        assert net.kernels == (7, 5, 5, 3, 3, 3)
        # stride-2 with padding k // 2 still halves every even size: divisibility by 2**depth holds
        hole = torch.zeros(1, 1, 64, 64)
        hole[..., 20:40, 10:30] = 1
        out = net(torch.rand(1, 3, 64, 64), hole)
        assert out.shape == (1, 3, 64, 64)
    assert InpaintUNet(conv="partial", depth=2).kernels == (7, 5)
    old = InpaintUNet(channels=3, width=8, conv="partial", kernels=(5, 3, 3, 3))
    assert old.encoder[0].layer.kernel_size == (5, 5)
    with pytest.raises(ValueError, match="odd sizes"):
        InpaintUNet(conv="partial", depth=4, kernels=(7, 5, 5))
    with pytest.raises(ValueError, match="odd sizes"):
        InpaintUNet(conv="partial", depth=2, kernels=(4, 3))


def test_paper_vanilla_baseline_sees_the_image_alone():
    """PConv's vanilla baseline: plain convs on the image with holes at 127.5, no mask channel."""
    image, mask = _batch()
    paper = build("unet_paper", preset="smoke")
    assert paper.name == "unet_paper" and paper.conv_type == "vanilla" and not paper.mask_channel
    assert paper.encoder[0].layer.in_channels == 3  # image only (the mask-fed unet has 3 + 2)
    assert build("unet", preset="smoke").encoder[0].layer.in_channels == 5
    # where the image already holds mid-grey, a smaller mask gives the very same input, so the
    # same output: the network never sees the mask itself
    grey = torch.where(mask.bool().expand_as(image), torch.full_like(image, 0.5), image)
    smaller = mask.clone()
    smaller[..., ::2, :] = 0
    seen = {}
    paper.encoder[0].layer.register_forward_hook(lambda mod, args, out: seen.update(x=args[0]))
    paper.eval()
    fed = _unet("vanilla").eval()
    with torch.no_grad():
        assert torch.equal(paper(grey, mask), paper(grey, smaller))
        assert (fed(grey, mask) - fed(grey, smaller)).abs().max() > 1e-4  # the mask-fed one does see it
    hole = mask.bool().expand_as(image)
    assert torch.all(seen["x"][hole] == 0.0)  # 127.5 of 255 -> 0 in the network's [-1, 1]
    with pytest.raises(ValueError, match="only for conv='vanilla'"):
        InpaintUNet(conv="partial", mask_channel=False)


def _train_steps(method, image, mask, steps, lr):
    opt = torch.optim.Adam(method.generator_parameters(), lr=lr)
    totals = []
    for _ in range(steps + 1):
        total = sum(method.generator_losses(image, mask).values())
        totals.append(float(total.detach()))
        opt.zero_grad()
        total.backward()
        opt.step()
    return totals


@pytest.mark.parametrize("conv", CONVS)
def test_one_training_step_reduces_the_loss(conv):
    image, mask = _batch()
    net = _unet(conv)
    losses = net.generator_losses(image, mask)
    assert set(losses) == {"valid_l1", "hole_l1", "tv"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    totals = _train_steps(net, image, mask, 1, 1e-3)
    assert totals[1] < totals[0]


def test_loss_weights_follow_pconv():
    image, mask = _batch()
    net = _unet("partial")
    net.eval()
    with torch.no_grad():
        pred = net(image, mask)
        losses = net.generator_losses(image, mask)
    err = (pred - image).abs()
    n = err.numel()
    torch.testing.assert_close(losses["hole_l1"], 6.0 * (err * mask).sum() / n)
    torch.testing.assert_close(losses["valid_l1"], 1.0 * (err * (1 - mask)).sum() / n)


def test_registry_builds_the_chapter_methods():
    kinds = {"unet": "vanilla", "unet_paper": "vanilla", "pconv": "partial", "gated": "gated"}
    for name, conv in kinds.items():
        m = build(name, preset="smoke")
        assert isinstance(m, InpaintUNet) and m.conv_type == conv and m.name == name
        assert get_info(name).section == "2.4 Convolutions-aware"
    lama = build("lama", preset="smoke")
    assert isinstance(lama, LaMa) and lama.n_blocks == 1 and lama.stride == 8
    assert build("lama", preset="cpu").n_blocks == 3


def test_lama_shapes_range_and_higher_resolution():
    torch.manual_seed(0)
    model = LaMa(channels=3, width=8, n_blocks=2).eval()
    image, mask = _batch()
    with torch.no_grad():
        out = model(image, mask)
        assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
        big_mask = torch.nn.functional.interpolate(mask, scale_factor=2.0)
        big = model(torch.rand(2, 3, 64, 64), big_mask)  # a size it was not "trained" at
    assert big.shape == (2, 3, 64, 64)
    assert sum(isinstance(m, FourierUnit) for m in model.modules()) == 2 * 2  # two per block
    plain = LaMa(channels=3, width=8, n_blocks=2, ratio=0.0)
    assert not any(isinstance(m, FourierUnit) for m in plain.modules())
    with pytest.raises(InputError, match="divisible by 8"):
        model(torch.rand(1, 3, 36, 36), torch.ones(1, 1, 36, 36).triu())
    with pytest.raises(InputError, match="built for 3-channel"):
        model(torch.rand(1, 1, 32, 32), mask[:1])


def test_lama_hole_content_unused_and_training_reduces_loss():
    torch.manual_seed(0)
    model = LaMa(channels=3, width=8, n_blocks=1)
    image, mask = _batch()
    model.eval()
    other = torch.where(mask.bool().expand_as(image), torch.rand_like(image), image)
    with torch.no_grad():
        assert torch.equal(model(image, mask), model(other, mask))
    model.train()
    totals = _train_steps(model, image, mask, 1, 1e-3)
    assert totals[1] < totals[0]


def test_lama_adversarial_terms():
    torch.manual_seed(0)
    model = LaMa(channels=3, width=8, n_blocks=1, adversarial_weight=0.1, feature_matching_weight=1.0,
                 image_size=32)
    image, mask = _batch()
    g = model.generator_losses(image, mask)
    assert {"adv", "fm"} <= set(g) and all(torch.isfinite(v) for v in g.values())
    d = model.discriminator_losses(image, mask)
    assert set(d) == {"d", "r1"} and all(torch.isfinite(v) for v in d.values())
    gen_ids = {id(p) for p in model.generator_parameters()}
    assert not any(id(p) in gen_ids for p in model.discriminators.parameters())
    assert LaMa(channels=3, width=8, n_blocks=1).discriminator_losses(image, mask) == {}


def test_optional_perceptual_and_style_terms():
    image, mask = _batch()
    net = _unet("partial", perceptual_weight=0.05, style_weight=120.0, feature_net="random")
    losses = net.generator_losses(image, mask)
    assert {"perceptual", "style"} <= set(losses)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert net.encoder[0].layer.weight.grad is not None
