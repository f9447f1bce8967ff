"""Partial convolution (Liu et al., ECCV 2018) with NVIDIA's reference semantics (survey §2.4).

A vanilla convolution mixes whatever sits in the hole into its output, so a network
has to *learn* to ignore the hole's placeholder value. A partial convolution never
sees it: it convolves only the known pixels, rescales the result by how many of them
fell under the kernel, and passes on an updated mask that says which outputs had any
known input at all. Stacking layers "grows" the known region until it covers the hole.

Mask convention — read this before using the layer
--------------------------------------------------
**Inside this module a mask is a *valid* mask: 1 = known pixel, 0 = hole**, exactly as
in NVIDIA's ``partialconv`` reference code, so the formulas below can be checked
against it term by term. The rest of the library uses 1 = hole; callers convert at the
edge with ``mask_valid = 1 - mask`` (the U-Net in :mod:`survey_lib.models.unet` does).

The computation, for a kernel of size kh×kw over C_in input channels::

    slide_winsize = C_in·kh·kw   (multi_channel=True: one mask channel per input channel)
                  = kh·kw        (multi_channel=False: one mask shared by every channel)
    update  = conv(mask_valid, ones)            # known inputs under each window
    ratio   = slide_winsize / (update + eps)    # eps 1e-8 (float32), 1e-6 in half precision
    update  = clamp(update, 0, 1)               # the new valid mask
    ratio   = ratio · update
    raw     = conv(x · mask_valid)              # the weights, without the bias
    out     = (raw · ratio + b) · update        # with a bias b: hole outputs are exactly 0
    out     = raw · ratio                       # without a bias

(NVIDIA writes the biased case as ``((conv_with_bias - b)·ratio + b)·update``; it is the
same number.) With an all-valid mask and zero padding a 3×3 kernel with padding 1 gets
ratio 9/6 = 1.5 on the image border and 9/4 = 2.25 in the corners: partial convolution
doubles as a padding scheme. A non-binary mask gives a fractional update.

Pitfall avoided: a widely copied port drops the ``slide_winsize`` factor, which makes
every output ``slide_winsize`` times too small; the factor is kept here.

Efficiency: the mask path carries no gradient (it is computed under ``no_grad``), and
the mask is convolved with a *single-channel* ones kernel. For a multi-channel mask
the channels are summed first (convolution is linear, so ``conv(m, ones(C_out, C_in,
kh, kw))`` equals the channel sum convolved with ``ones(1, 1, kh, kw)``, the same for
every output channel); the updated mask is then returned as a broadcast view of shape
(B, C_out, H', W').
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.data.checks import InputError

__all__ = ["PartialConv2d", "mask_eps", "partial_conv_mask_update"]

#: eps in ``slide_winsize / (update + eps)``; 1e-8 underflows in float16, hence 1e-6 there
EPS_FLOAT32 = 1e-8
EPS_HALF = 1e-6
_HALF_DTYPES = (torch.float16, torch.bfloat16)


def mask_eps(dtype: torch.dtype, device_type: str = "cpu") -> float:
    """The eps of the ratio: 1e-6 in half precision (half dtype or autocast on), else 1e-8."""
    if dtype in _HALF_DTYPES or torch.is_autocast_enabled(device_type):
        return EPS_HALF
    return EPS_FLOAT32


def partial_conv_mask_update(
    mask_valid: torch.Tensor,
    kernel_size: tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    multi_channel: bool = False,
    eps: float = EPS_FLOAT32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ratio, update)`` of a partial convolution for a *valid* mask (1 = known).

    ``mask_valid``: (B, 1, H, W), or (B, C_in, H, W) with ``multi_channel=True``.
    Returns two (B, 1, H', W') tensors: ``ratio = slide_winsize / (count + eps) · clamp(count, 0, 1)``
    and ``update = clamp(count, 0, 1)``, where ``count = conv(mask_valid, ones)``.
    No gradient flows through the mask (as in the reference).
    """
    kh, kw = kernel_size
    with torch.no_grad():
        channels = mask_valid.shape[1]
        summed = mask_valid.sum(1, keepdim=True) if multi_channel and channels > 1 else mask_valid
        ones = torch.ones(1, 1, kh, kw, dtype=mask_valid.dtype, device=mask_valid.device)
        count = F.conv2d(summed, ones, None, stride, padding, dilation)
        slide_winsize = float(channels * kh * kw) if multi_channel else float(kh * kw)
        ratio = slide_winsize / (count + eps)
        update = count.clamp(0.0, 1.0)
        ratio = ratio * update
    return ratio, update


class PartialConv2d(nn.Conv2d):
    """``nn.Conv2d`` that skips hole pixels: ``forward(x, mask_valid) -> (out, new_mask_valid)``.

    Constructor: the arguments of :class:`torch.nn.Conv2d` (``in_channels, out_channels,
    kernel_size, stride, padding, dilation, groups, bias``; zero padding only), plus

    * ``multi_channel``: the mask has one channel per input channel (shape (B, C_in, H, W))
      and the updated mask one per output channel; otherwise one mask channel
      (B, 1, H, W) is shared by every channel.

    ``mask_valid`` uses **1 = known, 0 = hole** (NVIDIA's convention; see the module
    docstring); ``None`` means every pixel is known (the layer then still applies the
    partial-convolution padding ratios at the border). Values between 0 and 1 are
    allowed and give a fractional updated mask. The weights are the ``weight`` and
    ``bias`` of ``nn.Conv2d``, so a state dict moves between the two.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        multi_channel: bool = False,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(
                f"PartialConv2d supports only zero padding (the mask ratio handles the border), "
                f"got padding_mode={padding_mode!r}"
            )
        if multi_channel and groups != 1:
            raise ValueError("PartialConv2d with multi_channel=True supports only groups=1")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            padding_mode, device=device, dtype=dtype,
        )
        self.multi_channel = bool(multi_channel)

    @property
    def slide_winsize(self) -> int:
        """Number of mask entries under one window: C_in·kh·kw (multi-channel) or kh·kw."""
        kh, kw = self.kernel_size
        return (self.in_channels if self.multi_channel else 1) * kh * kw

    def _check(self, x: torch.Tensor, mask_valid: torch.Tensor | None) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"PartialConv2d expects x of shape (B, {self.in_channels}, H, W), got {got}")
        if mask_valid is None:
            return
        mask_channels = self.in_channels if self.multi_channel else 1
        if (
            not isinstance(mask_valid, torch.Tensor)
            or mask_valid.ndim != 4
            or mask_valid.shape[1] != mask_channels
            or mask_valid.shape[0] not in (1, x.shape[0])
            or mask_valid.shape[-2:] != x.shape[-2:]
        ):
            got = tuple(mask_valid.shape) if isinstance(mask_valid, torch.Tensor) else type(mask_valid).__name__
            what = "one channel per input channel" if self.multi_channel else "one channel"
            raise InputError(
                f"PartialConv2d expects mask_valid of shape ({x.shape[0]}, {mask_channels}, "
                f"{x.shape[2]}, {x.shape[3]}) ({what}; 1 = known pixel), got {got}"
            )

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask_valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(out, updated_mask_valid)``; see the module docstring for the formulas."""
        self._check(x, mask_valid)
        if mask_valid is None:
            shape = (x.shape[0], self.in_channels if self.multi_channel else 1, *x.shape[-2:])
            mask_valid = torch.ones(shape, dtype=x.dtype, device=x.device)
        # the mask path runs in x's dtype without autocast (autocast would turn the ones-conv
        # into float16 where eps=1e-8 vanishes); the eps follows the precision in use
        eps = mask_eps(x.dtype, x.device.type)
        with torch.autocast(device_type=x.device.type, enabled=False):
            ratio, update = partial_conv_mask_update(
                mask_valid.to(x.dtype), self.kernel_size, self.stride, self.padding, self.dilation,
                self.multi_channel, eps,
            )
        raw = F.conv2d(x * mask_valid.to(x.dtype), self.weight, None, self.stride, self.padding,
                       self.dilation, self.groups)
        ratio, update_out = ratio.to(raw.dtype), update.to(raw.dtype)
        # in place on the fresh convolution output (its backward pass does not need it)
        out = raw.mul_(ratio)
        if self.bias is not None:
            out = out.add_(self.bias.to(raw.dtype).view(1, -1, 1, 1)).mul_(update_out)
        if self.multi_channel:
            update = update.expand(-1, self.out_channels, -1, -1)
        return out, update

    def extra_repr(self) -> str:
        return super().extra_repr() + f", multi_channel={self.multi_channel}"
