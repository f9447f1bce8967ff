"""Convolution-aware layers (survey §2.4): partial, gated and fast Fourier convolutions.

Partial convolution is checked against hand-computed numbers and against a direct
unfold-based computation of NVIDIA's formulas written here independently; gated
convolution against its formula with known weights; the Fourier unit against FFT
identities (odd sizes, channel layout, float32 under autocast).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.data.checks import InputError
from survey_lib.layers.blocks import count_parameters, effective_receptive_field
from survey_lib.layers.fourier import (
    FFC,
    FFC_BN_ACT,
    FFCResnetBlock,
    FFCStack,
    FourierUnit,
    SpectralTransform,
    concat_pair,
    split_channels,
)
from survey_lib.layers.gated import GatedConv2d, GatedUpsample, deepfill_input
from survey_lib.layers.partial import PartialConv2d, mask_eps, partial_conv_mask_update

# ---------------------------------------------------------------------------------------
# partial convolution
# ---------------------------------------------------------------------------------------

# valid mask (1 = known) of the hand-worked example
MASK_4x4 = torch.tensor([[1, 1, 0, 0],
                         [1, 1, 0, 0],
                         [0, 0, 0, 0],
                         [0, 0, 0, 1]], dtype=torch.float32)
# known pixels under each 3x3 window (zero padding), counted by hand
COUNT_4x4 = torch.tensor([[4, 4, 2, 0],
                          [4, 4, 2, 0],
                          [2, 2, 2, 1],
                          [0, 0, 1, 1]], dtype=torch.float32)


def direct_partial_conv(x, mask_valid, weight, bias, stride=1, padding=0, dilation=1, multi_channel=False):
    """NVIDIA's partial convolution written window by window with unfold (reference)."""
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    if not multi_channel:
        mask_valid = mask_valid.expand(b, cin, h, w)
    kw_ = dict(kernel_size=(kh, kw), dilation=dilation, padding=padding, stride=stride)
    cols_x = F.unfold(x * mask_valid, **kw_)  # (B, cin*kh*kw, L)
    cols_m = F.unfold(mask_valid, **kw_)  # (B, cin*kh*kw, L)
    raw = torch.einsum("ok,bkl->bol", weight.reshape(cout, -1), cols_x)
    if multi_channel:
        count, winsize = cols_m.sum(1, keepdim=True), cin * kh * kw
    else:
        count, winsize = cols_m[:, : kh * kw].sum(1, keepdim=True), kh * kw  # channel 0 (unfold is channel-major)
    ratio = winsize / (count + 1e-8)
    update = count.clamp(0, 1)
    ratio = ratio * update
    out = ((raw * ratio + bias[None, :, None]) * update) if bias is not None else raw * ratio
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    return out.view(b, cout, ho, wo), update.view(b, 1, ho, wo)


def test_mask_update_hand_computed_4x4():
    ratio, update = partial_conv_mask_update(MASK_4x4[None, None], (3, 3), 1, 1)
    expected_update = (COUNT_4x4 > 0).float()
    assert torch.equal(update[0, 0], expected_update)
    expected_ratio = torch.where(COUNT_4x4 > 0, 9.0 / COUNT_4x4, torch.zeros(()))
    torch.testing.assert_close(ratio[0, 0], expected_ratio)
    # the layer: ones weights on a ones image sum the known pixels, the ratio rescales to 9
    layer = PartialConv2d(1, 1, 3, padding=1, bias=False)
    nn.init.ones_(layer.weight)
    out, new_mask = layer(torch.ones(1, 1, 4, 4), MASK_4x4[None, None])
    assert torch.equal(new_mask[0, 0], expected_update)
    torch.testing.assert_close(out[0, 0], 9.0 * expected_update)


def test_all_valid_mask_gives_partial_padding_ratios():
    ratio, update = partial_conv_mask_update(torch.ones(1, 1, 5, 5), (3, 3), 1, 1)
    assert torch.equal(update, torch.ones_like(update))
    r = ratio[0, 0]
    assert math.isclose(float(r[2, 2]), 1.0, rel_tol=1e-6)
    for y, x in [(0, 2), (2, 0), (4, 2), (2, 4)]:
        assert math.isclose(float(r[y, x]), 1.5, rel_tol=1e-6)
    for y, x in [(0, 0), (0, 4), (4, 0), (4, 4)]:
        assert math.isclose(float(r[y, x]), 2.25, rel_tol=1e-6)
    # so a constant image stays constant up to the border (zero padding would darken it)
    layer = PartialConv2d(1, 1, 3, padding=1, bias=False)
    nn.init.ones_(layer.weight)
    out, _ = layer(torch.ones(1, 1, 5, 5))  # mask None = all known
    torch.testing.assert_close(out, torch.full((1, 1, 5, 5), 9.0))
    plain = F.conv2d(torch.ones(1, 1, 5, 5), layer.weight, padding=1)
    plain = plain.detach()
    assert float(plain[0, 0, 0, 0]) == 4.0 and float(plain[0, 0, 0, 2]) == 6.0


def test_slide_winsize_is_kept():
    """The widely copied port without slide_winsize would give 1 here instead of 9."""
    layer = PartialConv2d(1, 1, 3, padding=1, bias=False)
    nn.init.ones_(layer.weight)
    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 2, 2] = 1.0  # a single known pixel
    with torch.no_grad():
        out, new_mask = layer(torch.ones(1, 1, 5, 5), mask)
    assert math.isclose(float(out[0, 0, 2, 2]), 9.0, rel_tol=1e-6)
    assert math.isclose(float(out[0, 0, 1, 1]), 9.0, rel_tol=1e-6)  # 1 known of 9 -> x9
    assert int(new_mask.sum()) == 9


def test_hole_outputs_are_exactly_zero_with_bias():
    torch.manual_seed(0)
    layer = PartialConv2d(3, 4, 3, padding=1, bias=True)
    nn.init.normal_(layer.bias, 1.0, 0.5)
    mask = torch.ones(2, 1, 12, 12)
    mask[:, :, 3:10, 2:9] = 0
    out, new_mask = layer(torch.randn(2, 3, 12, 12), mask)
    dead = new_mask[:, 0] == 0
    assert int(dead.sum()) == 2 * 5 * 5  # the hole shrinks by one pixel per side
    assert torch.all(out.permute(1, 0, 2, 3)[:, dead] == 0)  # exactly 0, not the bias
    assert torch.all(out.permute(1, 0, 2, 3)[:, ~dead] != 0)


@pytest.mark.parametrize("multi_channel", [False, True])
def test_output_does_not_depend_on_hole_values(multi_channel):
    torch.manual_seed(1)
    layer = PartialConv2d(3, 5, 3, stride=2, padding=1, multi_channel=multi_channel)
    x = torch.rand(2, 3, 16, 16)
    mask = torch.ones(2, 3 if multi_channel else 1, 16, 16)
    mask[:, :, 4:12, 5:11] = 0
    outs = []
    for fill in (torch.zeros_like(x), torch.ones_like(x), torch.randn_like(x) * 100):
        filled = torch.where(mask.bool().expand_as(x), x, fill)
        outs.append(layer(filled, mask)[0])
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    # a plain convolution with the same weights does depend on them
    plain = [F.conv2d(torch.where(mask.bool().expand_as(x), x, f), layer.weight, layer.bias, 2, 1)
             for f in (torch.zeros_like(x), torch.ones_like(x))]
    assert not torch.allclose(plain[0], plain[1])


def test_multi_channel_slide_winsize_and_update():
    layer = PartialConv2d(2, 3, 3, padding=1, bias=False, multi_channel=True)
    assert layer.slide_winsize == 2 * 9
    assert PartialConv2d(2, 3, 3, padding=1).slide_winsize == 9
    nn.init.ones_(layer.weight)
    mask = torch.stack([torch.ones(6, 6), torch.zeros(6, 6)])[None]  # channel 1 all hole
    out, new_mask = layer(torch.ones(1, 2, 6, 6), mask)
    assert new_mask.shape == (1, 3, 6, 6) and torch.equal(new_mask, torch.ones_like(new_mask))
    # interior window: 9 of 18 entries known -> ratio 2, raw 9 -> 18
    torch.testing.assert_close(out[0, :, 2, 2], torch.full((3,), 18.0))
    ratio, _ = partial_conv_mask_update(mask, (3, 3), 1, 1, multi_channel=True)
    assert math.isclose(float(ratio[0, 0, 2, 2]), 2.0, rel_tol=1e-6)
    assert math.isclose(float(ratio[0, 0, 0, 0]), 18 / 4, rel_tol=1e-6)


@pytest.mark.parametrize("multi_channel", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 0, 1)])
def test_matches_direct_unfold_computation(multi_channel, bias, stride, padding, dilation):
    g = torch.Generator().manual_seed(3)
    layer = PartialConv2d(3, 4, 3, stride, padding, dilation, bias=bias, multi_channel=multi_channel)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
        if bias:
            layer.bias.copy_(torch.randn(4, generator=g))
    x = torch.randn(2, 3, 9, 11, generator=g)
    mask = (torch.rand(2, 3 if multi_channel else 1, 9, 11, generator=g) > 0.6).float()
    out, new_mask = layer(x, mask)
    ref_out, ref_mask = direct_partial_conv(x, mask, layer.weight, layer.bias, stride, padding, dilation,
                                            multi_channel)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    assert torch.equal(new_mask[:, :1], ref_mask)


def test_non_binary_mask_gives_fractional_update():
    layer = PartialConv2d(1, 1, 1, bias=True)
    with torch.no_grad():
        layer.weight.fill_(3.0)
        layer.bias.fill_(1.0)
    out, new_mask = layer(torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 2, 2), 0.5))
    # count 0.5 -> update 0.5, ratio 1/0.5 * 0.5 = 1; raw 3*2*0.5 = 3; out (3 + 1) * 0.5
    torch.testing.assert_close(new_mask, torch.full((1, 1, 2, 2), 0.5))
    torch.testing.assert_close(out, torch.full((1, 1, 2, 2), 2.0))
    layer_nb = PartialConv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        layer_nb.weight.fill_(3.0)
    out_nb, _ = layer_nb(torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 2, 2), 0.5))
    torch.testing.assert_close(out_nb, torch.full((1, 1, 2, 2), 3.0))


def test_same_weights_as_conv2d_and_gradients_skip_the_hole():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    layer = PartialConv2d(2, 3, 3, padding=1)
    layer.load_state_dict(conv.state_dict())
    x = torch.rand(1, 2, 8, 8, requires_grad=True)
    out, _ = layer(x, torch.ones(1, 1, 8, 8))
    torch.testing.assert_close(out[..., 1:-1, 1:-1], conv(x)[..., 1:-1, 1:-1])  # interior: ratio 1
    mask = torch.ones(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 0
    out, new_mask = layer(x, mask)
    out.sum().backward()
    assert torch.all(x.grad[..., 2:6, 2:6] == 0) and x.grad.abs().sum() > 0
    assert not new_mask.requires_grad


def test_half_precision_eps_and_no_nan():
    assert mask_eps(torch.float32) == 1e-8
    assert mask_eps(torch.float16) == 1e-6 and mask_eps(torch.bfloat16) == 1e-6
    layer = PartialConv2d(2, 2, 3, padding=1).to(torch.bfloat16)
    mask = torch.ones(1, 1, 8, 8, dtype=torch.bfloat16)
    mask[..., :, :5] = 0
    out, new_mask = layer(torch.rand(1, 2, 8, 8, dtype=torch.bfloat16), mask)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert torch.all(out[..., :4] == 0) and torch.all(new_mask[..., 4:] == 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # float32 tensors under autocast
        out32, _ = PartialConv2d(2, 2, 3, padding=1)(torch.rand(1, 2, 8, 8), mask.float())
    assert torch.isfinite(out32).all() and torch.all(out32[..., :4] == 0)


def test_partial_conv_rejects_bad_inputs():
    layer = PartialConv2d(3, 4, 3, padding=1)
    with pytest.raises(InputError, match=r"mask_valid of shape \(2, 1, 8, 8\)"):
        layer(torch.rand(2, 3, 8, 8), torch.ones(2, 3, 8, 8))
    with pytest.raises(InputError, match=r"x of shape \(B, 3, H, W\)"):
        layer(torch.rand(2, 1, 8, 8), torch.ones(2, 1, 8, 8))
    with pytest.raises(InputError, match="one channel per input channel"):
        PartialConv2d(3, 4, 3, multi_channel=True)(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="zero padding"):
        PartialConv2d(3, 4, 3, padding_mode="reflect")


def test_partial_conv_shapes():
    layer = PartialConv2d(3, 8, 5, stride=2, padding=2)
    out, m = layer(torch.rand(2, 3, 17, 20), torch.ones(2, 1, 17, 20))
    assert out.shape == (2, 8, 9, 10) and m.shape == (2, 1, 9, 10)
    out, m = PartialConv2d(3, 8, 3, 2, 1, multi_channel=True)(torch.rand(2, 3, 16, 16), torch.ones(2, 3, 16, 16))
    assert out.shape == (2, 8, 8, 8) and m.shape == (2, 8, 8, 8)


# ---------------------------------------------------------------------------------------
# gated convolution
# ---------------------------------------------------------------------------------------


def test_gated_output_is_elu_of_features_times_sigmoid_of_gate():
    layer = GatedConv2d(1, 1, kernel_size=1, padding=0)
    assert layer.conv.out_channels == 2
    with torch.no_grad():
        layer.conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))  # feature, gate
        layer.conv.bias.copy_(torch.tensor([0.5, 0.25]))
    x = torch.tensor([-3.0, -0.5, 0.0, 1.0, 2.5]).view(1, 1, 1, 5)
    out = layer(x)
    for v, o in zip(x.flatten().tolist(), out.flatten().tolist()):
        f, g = 2 * v + 0.5, -v + 0.25
        elu = f if f > 0 else math.exp(f) - 1
        assert math.isclose(o, elu / (1 + math.exp(-g)), rel_tol=1e-5, abs_tol=1e-7)


def test_ungated_final_layer_is_a_plain_conv():
    layer = GatedConv2d(4, 3, 3, activation=None, gated=False)
    x = torch.rand(2, 4, 8, 8)
    torch.testing.assert_close(layer(x), layer.conv(x))
    assert layer.conv.out_channels == 3
    with pytest.raises(ValueError, match="no gate"):
        layer.gate(x)


def test_gated_shapes_params_and_gate_range():
    layer = GatedConv2d(4, 6, 3, stride=2, dilation=1)
    x = torch.randn(2, 4, 15, 16)
    assert layer(x).shape == (2, 6, 8, 8)
    assert GatedConv2d(4, 6, 3, dilation=2)(x).shape == (2, 6, 15, 16)  # "same" padding
    g = layer.gate(x)
    assert g.min() > 0 and g.max() < 1
    plain = nn.Conv2d(4, 6, 3)
    assert count_parameters(layer) == 2 * count_parameters(plain)
    with pytest.raises(InputError, match=r"\(B, 4, H, W\)"):
        layer(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="activation"):
        GatedConv2d(1, 1, activation="swish")


def test_gated_upsample_is_nearest_then_gated_conv():
    torch.manual_seed(0)
    up = GatedUpsample(3 + 2, 4)
    x, skip = torch.randn(1, 3, 5, 6), torch.randn(1, 2, 10, 12)
    manual = up.conv(torch.cat([x.repeat_interleave(2, -2).repeat_interleave(2, -1), skip], 1))
    torch.testing.assert_close(up(x, skip), manual)
    with pytest.raises(InputError, match="does not match"):
        up(x, torch.randn(1, 2, 9, 12))


def test_deepfill_input_layout():
    img = torch.rand(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1
    x = deepfill_input(img, mask)
    assert x.shape == (2, 5, 4, 4)
    torch.testing.assert_close(x[:, :3], (img * 2 - 1) * (1 - mask))  # [-1, 1], hole = 0
    assert torch.equal(x[:, 3:4], torch.ones_like(mask)) and torch.equal(x[:, 4:], mask)
    x01 = deepfill_input(img, mask, symmetric=False, fill=0.25)
    torch.testing.assert_close(x01[:, :3], img * (1 - mask) + 0.25 * mask)


# ---------------------------------------------------------------------------------------
# fast Fourier convolution
# ---------------------------------------------------------------------------------------


def _set_fourier_unit(fu: FourierUnit, weight: torch.Tensor, shift: float) -> None:
    """Make the unit's conv ``weight`` and its BatchNorm an exact ``+ shift`` (eval mode)."""
    fu.eval()
    with torch.no_grad():
        fu.conv.weight.copy_(weight.view(*weight.shape, 1, 1))
        fu.bn.running_mean.zero_()
        fu.bn.running_var.fill_(1.0 - fu.bn.eps)
        fu.bn.weight.fill_(1.0)
        fu.bn.bias.fill_(shift)


@pytest.mark.parametrize("hw", [(33, 47), (16, 16), (7, 10)])
def test_fourier_unit_identity_roundtrip_odd_sizes(hw):
    torch.manual_seed(0)
    c, (h, w) = 2, hw
    fu = FourierUnit(c, c)
    shift = 1000.0  # keeps every spectral value positive, so the ReLU is the identity
    _set_fourier_unit(fu, torch.eye(2 * c), shift)
    x = torch.randn(2, c, h, w)
    const = torch.fft.irfftn(torch.full((h, w // 2 + 1), shift * (1 + 1j), dtype=torch.complex64),
                             s=(h, w), norm="ortho")
    with torch.no_grad():
        out = fu(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x + const, rtol=1e-4, atol=2e-3)


def test_fourier_unit_channels_are_interleaved_real_imag():
    """Channel 2c is Re(c) and 2c+1 is Im(c): swapping each pair maps z -> i*conj(z)."""
    c, h, w = 3, 9, 12
    swap = torch.zeros(2 * c, 2 * c)
    for k in range(c):
        swap[2 * k, 2 * k + 1] = swap[2 * k + 1, 2 * k] = 1.0
    fu = FourierUnit(c, c)
    shift = 1000.0
    _set_fourier_unit(fu, swap, shift)
    x = torch.randn(1, c, h, w)
    spec = torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")
    expected = torch.fft.irfftn(1j * spec.conj() + shift * (1 + 1j), s=(h, w), norm="ortho")
    with torch.no_grad():
        torch.testing.assert_close(fu(x), expected, rtol=1e-4, atol=2e-3)


def test_fourier_unit_runs_in_float32_under_autocast():
    torch.manual_seed(0)
    fu = FourierUnit(4, 4).eval()
    x = torch.randn(1, 4, 33, 47)
    with torch.no_grad():
        ref = fu(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = fu(x.to(torch.bfloat16))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0.05, atol=0.05)  # only the input was rounded


def test_fourier_unit_sees_the_whole_image():
    torch.manual_seed(0)
    fu = FourierUnit(2, 2).eval()
    x = torch.randn(1, 2, 21, 21)
    erf = effective_receptive_field(fu, x, position=(10, 10))
    assert (erf[0, 0] > 0) and (erf[20, 20] > 0)  # the far corners matter
    conv = nn.Conv2d(2, 2, 3, padding=1)
    erf_conv = effective_receptive_field(conv, x, position=(10, 10))
    assert int((erf_conv > 0).sum()) == 9


def test_ffc_split_and_branches_on_odd_sizes():
    assert split_channels(16, 0.75) == (4, 12) and split_channels(10, 0.0) == (10, 0)
    torch.manual_seed(0)
    ffc = FFC(16, 8, 3, ratio_gin=0.75, ratio_gout=0.75, padding=1).eval()
    assert (ffc.in_cl, ffc.in_cg, ffc.out_cl, ffc.out_cg) == (4, 12, 2, 6)
    x_l, x_g = torch.randn(2, 4, 33, 47), torch.randn(2, 12, 33, 47)
    with torch.no_grad():
        out_l, out_g = ffc((x_l, x_g))
        torch.testing.assert_close(out_l, ffc.convl2l(x_l) + ffc.convg2l(x_g))
        torch.testing.assert_close(out_g, ffc.convl2g(x_l) + ffc.convg2g(x_g))
    assert out_l.shape == (2, 2, 33, 47) and out_g.shape == (2, 6, 33, 47)
    assert isinstance(ffc.convg2g, SpectralTransform)
    with pytest.raises(InputError, match="global part with 12 channels"):
        ffc((x_l, torch.randn(2, 11, 33, 47)))


def test_ffc_with_ratio_zero_is_a_plain_conv():
    ffc = FFC(3, 5, 3, 0.0, 0.0, padding=1, padding_mode="zeros")
    x = torch.randn(1, 3, 9, 9)
    out_l, out_g = ffc(x)
    assert out_g is None
    torch.testing.assert_close(out_l, F.conv2d(x, ffc.convl2l.weight, None, 1, 1))
    assert not any(isinstance(m, FourierUnit) for m in ffc.modules())


def test_ffc_bn_act_downsampling_and_resnet_block():
    layer = FFC_BN_ACT(8, 16, 3, ratio_gin=0.0, ratio_gout=0.75, stride=2, padding=1)
    x_l, x_g = layer(torch.randn(2, 8, 33, 47))
    assert x_l.shape == (2, 4, 17, 24) and x_g.shape == (2, 12, 17, 24)
    assert x_l.min() >= 0 and x_g.min() >= 0  # ReLU
    block = FFCResnetBlock(16, 0.75)
    y_l, y_g = block((x_l, x_g))
    assert y_l.shape == x_l.shape and y_g.shape == x_g.shape
    assert concat_pair((y_l, y_g)).shape == (2, 16, 17, 24)
    # with every convolution zeroed, a residual block is the identity
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.zeros_(m.weight)
    z_l, z_g = block((x_l, x_g))
    torch.testing.assert_close(z_l, x_l)
    torch.testing.assert_close(z_g, x_g)


def test_ffc_stack_receptive_field_is_global_conv_stack_is_local():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 33, 33)
    ffc = FFCStack(8, 2, ratio=0.75).eval()
    conv = FFCStack(8, 2, ratio=0.0).eval()
    assert ffc(x).shape == x.shape
    erf_ffc = effective_receptive_field(ffc, x)
    erf_conv = effective_receptive_field(conv, x)
    # two blocks of two 3x3 convolutions: radius 4 around the centre (16), nothing beyond
    assert int((erf_conv > 0).sum()) == 9 * 9
    assert float(erf_conv[16, 4]) == 0.0 and float(erf_ffc[16, 4]) > 0
    assert float(erf_ffc[0, 0]) > 0


def test_fused_elu_gate_gradients_match_autograd():
    torch.manual_seed(0)
    layer = GatedConv2d(3, 4, 3).double()
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    y = layer.conv(x)
    f, g = y.chunk(2, dim=1)
    ref = F.elu(f) * torch.sigmoid(g)
    torch.testing.assert_close(layer(x), ref)
    (gx,) = torch.autograd.grad(layer(x).sin().sum(), x)
    (rx,) = torch.autograd.grad(ref.sin().sum(), x)
    torch.testing.assert_close(gx, rx)
