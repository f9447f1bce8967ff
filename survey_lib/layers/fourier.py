"""Fast Fourier convolution (Chi et al., NeurIPS 2020) as used by LaMa (Suvorov et al.,
WACV 2022) — survey §2.4.

A 3×3 convolution sees 3×3 pixels; a U-Net needs many layers before the centre of a
large hole sees any known pixel. A *Fourier unit* instead mixes channels in the
frequency domain: a 1×1 convolution on the 2-D spectrum is a convolution whose kernel
covers the **whole image**, so one layer already has a global receptive field, and it
responds naturally to periodic structure (a repeated texture is a few spectral peaks).

Pieces, following LaMa's ``ffc.py`` facts (REFERENCE.md):

* :class:`FourierUnit`: ``rfftn(x, dim=(-2, -1), norm="ortho")`` → real and imaginary
  parts stacked as channels (interleaved per channel, ``[c0.re, c0.im, c1.re, ...]``, as
  LaMa's ``stack(dim=-1)`` + ``permute`` gives) → 1×1 conv (no bias) + BatchNorm + ReLU
  → back to complex → ``irfftn(s=(H, W), norm="ortho")``. The whole unit runs in
  float32 with autocast disabled: half-precision FFTs need power-of-two sizes and lose
  accuracy. ``s=(H, W)`` makes odd sizes round-trip exactly.
* :class:`SpectralTransform`: 1×1 conv halving the channels (+BN+ReLU), a Fourier
  unit with a residual, a 1×1 conv back up: ``conv2(x + fu(x))``. LaMa's optional local
  Fourier unit (LFU) is left out: the released Big-LaMa configuration disables it, and it
  needs even sizes.
* :class:`FFC`: channels split into a local part (fraction ``1 - ratio``) and a global
  part (``ratio``; LaMa uses 0.75). ``out_local = l2l(x_l) + g2l(x_g)`` (two ordinary
  convolutions) and ``out_global = l2g(x_l) + spectral(x_g)``. Tensors travel as a pair
  ``(x_local, x_global)``; a part with zero channels is ``None``.
* :class:`FFC_BN_ACT` (FFC + BatchNorm + activation per part) and :class:`FFCResnetBlock`
  (two of them with an identity shortcut per part), LaMa's generator block.
"""

from __future__ import annotations

import torch
from torch import nn

from survey_lib.data.checks import InputError

__all__ = [
    "FFC",
    "FFC_BN_ACT",
    "FFCPair",
    "FFCResnetBlock",
    "FFCStack",
    "FourierUnit",
    "SpectralTransform",
    "concat_pair",
    "split_channels",
]

#: a feature map split in (local, global) parts; a part without channels is None
FFCPair = tuple["torch.Tensor | None", "torch.Tensor | None"]


def split_channels(channels: int, ratio: float) -> tuple[int, int]:
    """``(local, global)`` channel counts: ``global = int(channels·ratio)`` as in LaMa."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must lie in [0, 1], got {ratio}")
    n_global = int(channels * ratio)
    return channels - n_global, n_global


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class FourierUnit(nn.Module):
    """Global 1×1 convolution in the frequency domain (see the module docstring).

    Input (B, in_channels, H, W), any H and W (odd too); output (B, out_channels, H, W)
    in float32.
    """

    def __init__(self, in_channels: int, out_channels: int, fft_norm: str = "ortho") -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.fft_norm = in_channels, out_channels, fft_norm
        self.conv = nn.Conv2d(2 * in_channels, 2 * out_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(2 * out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"FourierUnit expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.fft.rfftn(x.float(), dim=(-2, -1), norm=self.fft_norm)  # (B, C, H, W//2+1)
            # (B, C, 2, H, W') -> (B, 2C, H, W'): channel 2c is Re(c), 2c+1 is Im(c)
            stacked = torch.stack((spec.real, spec.imag), dim=2).reshape(b, -1, h, spec.shape[-1])
            y = self.relu(self.bn(self.conv(stacked)))
            y = y.view(b, self.out_channels, 2, h, spec.shape[-1])
            spec_out = torch.complex(y[:, :, 0].contiguous(), y[:, :, 1].contiguous())
            return torch.fft.irfftn(spec_out, s=(h, w), dim=(-2, -1), norm=self.fft_norm)


class SpectralTransform(nn.Module):
    """LaMa's global branch: ``conv2(x + fu(x))`` with ``x = relu(bn(conv1(input)))``.

    ``stride=2`` average-pools the input by 2 first (LaMa's downsampling variant).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"SpectralTransform supports stride 1 or 2, got {stride}")
        hidden = out_channels // 2
        if hidden < 1:
            raise ValueError(f"SpectralTransform needs out_channels >= 2, got {out_channels}")
        self.downsample = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
        )
        self.fu = FourierUnit(hidden, hidden)
        self.conv2 = nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.downsample(x))
        fu = self.fu(x)
        return self.conv2(x + fu.to(x.dtype))


class FFC(nn.Module):
    """Fast Fourier convolution on a (local, global) pair of feature maps.

    Args:
        in_channels, out_channels: total channels (local + global) in and out.
        kernel_size, stride, padding, dilation, bias, padding_mode: of the three spatial
            convolutions l2l, l2g, g2l (LaMa: reflect padding, no bias).
        ratio_gin, ratio_gout: the global fraction of the input and output channels
            (0 = an ordinary convolution; LaMa's residual blocks use 0.75 both).

    ``forward(x)`` takes a tensor (all local) or a pair and returns a pair
    ``(out_local, out_global)``; a part with zero channels is None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_gin: float,
        ratio_gout: float,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = False,
        padding_mode: str = "reflect",
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"FFC supports stride 1 or 2, got {stride}")
        self.in_cl, self.in_cg = split_channels(in_channels, ratio_gin)
        self.out_cl, self.out_cg = split_channels(out_channels, ratio_gout)
        self.ratio_gin, self.ratio_gout = ratio_gin, ratio_gout

        def conv(cin: int, cout: int) -> nn.Module | None:
            if cin == 0 or cout == 0:
                return None
            return nn.Conv2d(cin, cout, kernel_size, stride, padding, dilation, bias=bias,
                             padding_mode=padding_mode)

        self.convl2l = conv(self.in_cl, self.out_cl)
        self.convl2g = conv(self.in_cl, self.out_cg)
        self.convg2l = conv(self.in_cg, self.out_cl)
        self.convg2g = (SpectralTransform(self.in_cg, self.out_cg, stride)
                        if self.in_cg > 0 and self.out_cg > 0 else None)

    def _split_input(self, x: torch.Tensor | FFCPair) -> FFCPair:
        if isinstance(x, torch.Tensor):
            if self.in_cg == 0:
                x_l, x_g = x, None
            elif self.in_cl == 0:
                x_l, x_g = None, x
            else:  # a plain tensor with both parts: split it by the configured ratio
                x_l, x_g = x[:, : self.in_cl], x[:, self.in_cl:]
        else:
            x_l, x_g = x
        for part, n, what in ((x_l, self.in_cl, "local"), (x_g, self.in_cg, "global")):
            got = 0 if part is None else part.shape[1]
            if got != n or (part is not None and part.ndim != 4):
                shape = None if part is None else tuple(part.shape)
                raise InputError(f"FFC expects a {what} part with {n} channels, got {shape}")
        return x_l, x_g

    def forward(self, x: torch.Tensor | FFCPair) -> FFCPair:
        x_l, x_g = self._split_input(x)
        out_l = out_g = None
        if self.out_cl > 0:
            out_l = _add(
                self.convl2l(x_l) if self.convl2l is not None and x_l is not None else None,
                self.convg2l(x_g) if self.convg2l is not None and x_g is not None else None,
            )
        if self.out_cg > 0:
            out_g = _add(
                self.convl2g(x_l) if self.convl2g is not None and x_l is not None else None,
                self.convg2g(x_g) if self.convg2g is not None and x_g is not None else None,
            )
        return out_l, out_g


class FFC_BN_ACT(nn.Module):  # noqa: N801 - LaMa's name, kept so the code can be compared
    """FFC followed, per part, by BatchNorm and an activation (ReLU in LaMa's generator)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        ratio_gin: float = 0.0,
        ratio_gout: float = 0.0,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = False,
        padding_mode: str = "reflect",
        activation: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        super().__init__()
        self.ffc = FFC(in_channels, out_channels, kernel_size, ratio_gin, ratio_gout, stride,
                       padding, dilation, bias, padding_mode)
        out_cl, out_cg = self.ffc.out_cl, self.ffc.out_cg
        self.bn_l = nn.BatchNorm2d(out_cl) if out_cl > 0 else None
        self.bn_g = nn.BatchNorm2d(out_cg) if out_cg > 0 else None
        self.act_l = activation() if activation is not None and out_cl > 0 else nn.Identity()
        self.act_g = activation() if activation is not None and out_cg > 0 else nn.Identity()

    def forward(self, x: torch.Tensor | FFCPair) -> FFCPair:
        x_l, x_g = self.ffc(x)
        if x_l is not None and self.bn_l is not None:
            x_l = self.act_l(self.bn_l(x_l))
        if x_g is not None and self.bn_g is not None:
            x_g = self.act_g(self.bn_g(x_g))
        return x_l, x_g


class FFCResnetBlock(nn.Module):
    """Two 3×3 ``FFC_BN_ACT`` layers with an identity shortcut on each part (LaMa)."""

    def __init__(self, channels: int, ratio: float = 0.75, dilation: int = 1,
                 padding_mode: str = "reflect") -> None:
        super().__init__()
        kw = dict(ratio_gin=ratio, ratio_gout=ratio, padding=dilation, dilation=dilation,
                  padding_mode=padding_mode)
        self.conv1 = FFC_BN_ACT(channels, channels, 3, **kw)  # type: ignore[arg-type]
        self.conv2 = FFC_BN_ACT(channels, channels, 3, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor | FFCPair) -> FFCPair:
        x_l, x_g = self.conv1.ffc._split_input(x)
        y_l, y_g = self.conv2(self.conv1((x_l, x_g)))
        return _add(x_l, y_l), _add(x_g, y_g)


def concat_pair(x: torch.Tensor | FFCPair) -> torch.Tensor:
    """Concatenate ``(local, global)`` along channels (LaMa's ``ConcatTupleLayer``)."""
    if isinstance(x, torch.Tensor):
        return x
    parts = [p for p in x if p is not None]
    if not parts:
        raise InputError("concat_pair got a pair with no tensors")
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class FFCStack(nn.Module):
    """``n_blocks`` :class:`FFCResnetBlock` at one resolution, tensor in, tensor out.

    ``ratio=0`` gives the same stack with ordinary 3×3 convolutions only (a plain ResNet
    of the same depth): the pair used to compare receptive fields.
    """

    def __init__(self, channels: int, n_blocks: int, ratio: float = 0.75,
                 padding_mode: str = "reflect") -> None:
        super().__init__()
        self.channels, self.ratio = channels, ratio
        self.blocks = nn.ModuleList(FFCResnetBlock(channels, ratio, padding_mode=padding_mode)
                                    for _ in range(n_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise InputError(f"FFCStack expects (B, {self.channels}, H, W), got {tuple(x.shape)}")
        pair: torch.Tensor | FFCPair = x
        for block in self.blocks:
            pair = block(pair)
        return concat_pair(pair)
