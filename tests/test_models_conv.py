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


# --- chapter 02.4's measurements on these models, decided by survey_lib.claims ---------------


def _eval_set(per=4, size=32):
    """Smooth test images under one small and one large hole-ratio bin (paired across methods)."""
    from survey_lib.data import generate_masks

    g = torch.Generator().manual_seed(3)
    coarse = torch.rand(per, 3, size // 8, size // 8, generator=g)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    masks = torch.cat([generate_masks(name, per, size, size, seed=10 + i)
                       for i, name in enumerate(("ratio_10_20", "ratio_40_50"))])
    return images.repeat(2, 1, 1, 1), masks


class _WithFill:
    """A U-Net run with its hole holding ``fill`` ("noise": seeded uniform noise), as chapter 02.4."""

    def __init__(self, model, fill):
        self.model, self.fill, self.name = model, fill, f"{model.name} fill={fill}"

    def __call__(self, image, mask):
        value = self.fill
        if value == "noise":
            value = torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            return self.model(image, mask, fill=value)


def test_claim_2_fill_part_holds_for_partial_and_fails_for_the_paper_vanilla():
    """Chapter 02.4 decides claim 2b by re-running the model with other hole fills: the
    partial U-Net's spread is exactly 0 (HELD); PConv's vanilla baseline, which sees the
    fill as image content, moves far beyond the engine's tolerance (NOT HELD)."""
    from survey_lib import claims
    from survey_lib.metrics import evaluate

    images, masks = _eval_set()
    torch.manual_seed(0)
    partial, vanilla = build("pconv", preset="smoke").eval(), build("unet_paper", preset="smoke").eval()
    fills = (0.0, 0.5, 1.0, "noise")
    runs = {name: {str(f): evaluate(_WithFill(m, f), images, masks, lpips=False) for f in fills}
            for name, m in (("pconv", partial), ("unet_paper", vanilla))}
    base = {name: evaluate(m, images, masks, lpips=False) for name, m in (("pconv", partial), ("unet_paper", vanilla))}
    held = claims.claim_2_partial_beats_vanilla(base["unet_paper"], base["pconv"], fill_invariance=runs["pconv"],
                                                n_boot=200)
    fill_part = held.parts[1]
    assert fill_part.verdict == claims.HELD and fill_part.effect == 0.0 and fill_part.interval == (0.0, 0.0)
    leaky = claims.claim_2_partial_beats_vanilla(base["unet_paper"], base["pconv"],
                                                 fill_invariance=runs["unet_paper"], n_boot=200)
    assert leaky.parts[1].verdict == claims.NOT_HELD and leaky.verdict == claims.NOT_HELD
    assert -leaky.parts[1].effect > 0.1  # mean per-image spread in dB


def test_claim_10_pairs_each_image_with_itself_upscaled_twice():
    """Claim 10's higher resolution in chapter 02.4: the same images (bicubic) and masks
    (nearest) at 2x keep every hole ratio, both LaMa variants run there, and part c is the
    per-image change of LaMa minus that of its convolution-only twin (lama_conv)."""
    from survey_lib import claims
    from survey_lib.data import hole_ratio
    from survey_lib.metrics import evaluate

    images, masks = _eval_set()
    big = (2 * images.shape[-2], 2 * images.shape[-1])
    hi_images = torch.nn.functional.interpolate(images, size=big, mode="bicubic", align_corners=False).clamp(0, 1)
    hi_masks = torch.nn.functional.interpolate(masks, size=big, mode="nearest")
    assert torch.equal(hole_ratio(hi_masks), hole_ratio(masks))
    torch.manual_seed(0)
    ffc, conv = build("lama", preset="smoke"), build("lama_conv", preset="smoke")
    assert type(conv) is type(ffc) and conv.n_blocks == ffc.n_blocks and (conv.ratio, ffc.ratio) == (0.0, 0.75)
    assert conv.build_config["init"]["width"] == ffc.build_config["init"]["width"]
    assert any(isinstance(m, FourierUnit) for m in ffc.modules())
    assert not any(isinstance(m, FourierUnit) for m in conv.modules())
    t = {(name, s): evaluate(m, i, k, lpips=False) for name, m in (("ffc", ffc), ("conv", conv))
         for s, (i, k) in ((1, (images, masks)), (2, (hi_images, hi_masks)))}
    v = claims.claim_10_fourier_large_masks(t["conv", 1], t["ffc", 1], conv_only_hires=t["conv", 2],
                                            ffc_hires=t["ffc", 2], n_boot=200)
    assert len(v.parts) == 3 and all(p.n == len(images) for p in v.parts)
    cap = claims.PSNR_CAP

    def psnr(name, s):
        return torch.tensor(t[name, s].per_image["hole_psnr"]).clamp(max=cap)

    change = (psnr("ffc", 2) - psnr("ffc", 1)) - (psnr("conv", 2) - psnr("conv", 1))
    assert v.parts[2].effect == pytest.approx(float(change.mean()), abs=1e-9)
    with pytest.raises(InputError, match="same images"):
        claims.claim_10_fourier_large_masks(t["conv", 1], t["ffc", 1], conv_only_hires=t["conv", 2],
                                            ffc_hires=evaluate(ffc, hi_images[:-1], hi_masks[:-1], lpips=False))


@pytest.mark.parametrize("conv", CONVS)
def test_unet_fill_must_be_an_image_value(conv):
    """``fill`` is what the hole holds (a value in [0, 1], or an image of them): a value
    outside, NaN, a bool or a string is refused by name instead of silently shifting the
    vanilla and gated inputs out of the range they were trained on."""
    net = _unet(conv).eval()
    image, mask = _batch()
    for bad, match in ((2.0, r"fill must lie in \[0, 1\] \(an image value\), got 2.0"), (-0.1, r"\[0, 1\]"),
                       (float("nan"), r"\[0, 1\]"), (True, "got bool"), ("noise", "got str"),
                       (torch.full_like(image, 1.5), r"values in \[0, 1\]"),
                       (torch.full_like(image, float("nan")), r"values in \[0, 1\]"),
                       (torch.rand(1, 3, 5, 5), "shape")):
        with pytest.raises(InputError, match=match):
            net(image, mask, fill=bad)
    with torch.no_grad():  # what the chapter passes is accepted
        for ok in (None, 0, 0.0, 0.5, 1.0, torch.rand_like(image), torch.tensor(0.25)):
            assert net(image, mask, fill=ok).shape == image.shape
