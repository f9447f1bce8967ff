"""Gated convolution (Yu et al., "Free-Form Image Inpainting with Gated Convolution",
DeepFill v2, ICCV 2019) — survey §2.4.

Partial convolution decides *by rule* which pixels count (known = 1, hole = 0, a hard
mask updated by a max-pool-like step). Gated convolution *learns* that decision: one
convolution produces 2·C channels, split into C features and C gates, and

    out = act(features) · sigmoid(gate)

so every channel at every position gets a soft, learned validity in [0, 1] that can
depend on the mask, on the image and on user sketches alike. The price is twice the
convolution parameters of a plain layer of the same width.

Reference details kept here:

* the first C output channels of the convolution are the features, the last C the gate
  (DeepFill v2's ``split(x, 2)``); activation ELU by default;
* the final RGB layer is a plain convolution: no gate and no activation
  (``gated=False, activation=None``);
* upsampling is nearest-neighbour ×2 followed by a gated convolution
  (:class:`GatedUpsample`; a skip tensor may be concatenated in between, as a U-Net does);
* the network input is ``[x·(1-m), ones, m]`` (:func:`deepfill_input`): the all-ones
  channel tells zero-padded convolutions where the image border is. DeepFill works in
  [-1, 1], so its blanked hole is 0 = mid-grey; :func:`deepfill_input` maps a library
  image in [0, 1] to [-1, 1] the same way by default (``symmetric=True``).

Masks here follow the library: 1 = hole.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.data.checks import InputError

__all__ = [
    "ACTIVATIONS",
    "GatedConv2d",
    "GatedUpsample",
    "deepfill_input",
    "gated_activation",
    "make_activation",
]

#: activation names accepted by :class:`GatedConv2d`
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "elu": nn.ELU,
    "relu": nn.ReLU,
    "lrelu": lambda: nn.LeakyReLU(0.2),
    "identity": nn.Identity,
}


def make_activation(activation: str | nn.Module | None) -> nn.Module:
    """An activation module from a name in :data:`ACTIVATIONS`, a module, or None (identity)."""
    if activation is None:
        return nn.Identity()
    if isinstance(activation, nn.Module):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or an nn.Module, got {activation!r}")
    return ACTIVATIONS[activation]()


class _EluGate(torch.autograd.Function):
    """``elu(f) · sigmoid(g)`` for ``y = [f, g]``, with a hand-written backward pass.

    Plain autograd keeps f, g, elu(f) and sigmoid(g) (2.5× the memory of ``y``) and
    runs separate backward kernels for the ELU, the sigmoid and the product; this keeps
    only ``a = elu(f)`` and ``s = sigmoid(g)`` and needs no exponential in the backward
    pass: ``elu'(f) = min(a + 1, 1)`` and ``sigmoid'(g) = s (1 - s)``.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        f, g = y.chunk(2, dim=1)
        a, s = F.elu(f), torch.sigmoid(g)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        a, s = ctx.saved_tensors  # type: ignore[attr-defined]
        out = grad.new_empty((grad.shape[0], 2 * grad.shape[1], *grad.shape[2:]))
        grad_f, grad_g = out.chunk(2, dim=1)
        gs = grad * s
        torch.mul(gs, a.add(1.0).clamp_(max=1.0), out=grad_f)  # elu'(f) = 1 (f > 0) or exp(f) = a + 1
        torch.mul(gs.mul_(a), 1.0 - s, out=grad_g)
        return out


def gated_activation(y: torch.Tensor, activation: nn.Module) -> torch.Tensor:
    """``act(f) · sigmoid(g)`` for the two channel halves ``f, g`` of ``y``.

    With the default ELU (α = 1) a hand-written autograd function keeps 40 % less for the
    backward pass at the same speed; any other activation goes through plain autograd.
    """
    if isinstance(activation, nn.ELU) and activation.alpha == 1.0 and not activation.inplace:
        return _EluGate.apply(y)
    features, gate = y.chunk(2, dim=1)
    return activation(features) * torch.sigmoid(gate)


class GatedConv2d(nn.Module):
    """``act(f) · sigmoid(g)`` with ``(f, g)`` the two halves of one convolution's output.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, bias,
        padding_mode: as :class:`torch.nn.Conv2d` (the inner convolution, ``self.conv``,
            has ``2·out_channels`` outputs when gated).
        activation: applied to the features: ``"elu"`` (DeepFill v2), ``"relu"``,
            ``"lrelu"``, ``"identity"``, an ``nn.Module``, or None.
        gated: False gives a plain ``act(conv(x))`` with ``out_channels`` outputs — the
            reference's final RGB layer uses ``gated=False, activation=None``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = "same",
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        activation: str | nn.Module | None = "elu",
        gated: bool = True,
    ) -> None:
        super().__init__()
        if padding == "same":
            ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
            dl = (dilation, dilation) if isinstance(dilation, int) else dilation
            padding = (dl[0] * (ks[0] - 1) // 2, dl[1] * (ks[1] - 1) // 2)  # SAME for odd kernels
        self.in_channels, self.out_channels, self.gated = in_channels, out_channels, bool(gated)
        conv_out = 2 * out_channels if gated else out_channels
        self.conv = nn.Conv2d(in_channels, conv_out, kernel_size, stride, padding, dilation,
                              bias=bias, padding_mode=padding_mode)
        self.activation = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"GatedConv2d expects x of shape (B, {self.in_channels}, H, W), got {got}")
        y = self.conv(x)
        if not self.gated:
            return self.activation(y)
        return gated_activation(y, self.activation)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The soft validity ``sigmoid(g)`` alone (B, out_channels, H', W'), to look at."""
        if not self.gated:
            raise ValueError("this GatedConv2d was built with gated=False: it has no gate")
        return torch.sigmoid(self.conv(x).chunk(2, dim=1)[1])


class GatedUpsample(nn.Module):
    """DeepFill v2's upsampling block: nearest ×2, then a stride-1 gated convolution.

    ``forward(x, skip=None)``: a U-Net passes its encoder feature map as ``skip``; it is
    concatenated (channels) after the upsampling, so ``in_channels`` counts both.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 activation: str | nn.Module | None = "elu", gated: bool = True, bias: bool = True) -> None:
        super().__init__()
        self.conv = GatedConv2d(in_channels, out_channels, kernel_size, 1, "same",
                                activation=activation, gated=gated, bias=bias)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            if skip.shape[-2:] != x.shape[-2:]:
                raise InputError(
                    f"GatedUpsample: skip of spatial size {tuple(skip.shape[-2:])} does not match the "
                    f"upsampled input {tuple(x.shape[-2:])}"
                )
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


def deepfill_input(image: torch.Tensor, mask: torch.Tensor, symmetric: bool = True,
                   fill: float | torch.Tensor | None = None) -> torch.Tensor:
    """DeepFill v2's network input ``[x·(1-m), ones, m]``, shape (B, C+2, H, W).

    ``image`` in [0, 1], ``mask`` (B, 1, H, W) with 1 = hole. ``symmetric=True`` first
    maps the image to [-1, 1] as DeepFill does, so the blanked hole reads 0 (mid-grey);
    ``symmetric=False`` keeps [0, 1] (the hole reads 0 = black). ``fill`` (in the
    image's [0, 1] range) overrides what the hole holds — used to show that a plain
    convolution's output depends on it.
    """
    x = image * 2.0 - 1.0 if symmetric else image
    hole_value = 0.0
    if fill is not None:
        hole_value = fill * 2.0 - 1.0 if symmetric else fill
    x = x * (1.0 - mask) + hole_value * mask
    return torch.cat([x, torch.ones_like(mask), mask], dim=1)
