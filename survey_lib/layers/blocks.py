"""Small building blocks shared by the convolution-aware models (survey §2.4).

* :func:`count_parameters` — trainable parameter count, to make comparisons between
  layer types fair (a gated convolution has twice the weights of a plain one).
* :func:`make_norm` — a normalisation layer by name.
* :func:`effective_receptive_field` — how much each input pixel moves one output pixel
  (|∂ out[centre] / ∂ input|), the map that shows a Fourier convolution seeing the whole
  image after one layer while a stack of 3×3 convolutions sees a small window.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from survey_lib.data.checks import InputError

__all__ = ["NORMS", "count_parameters", "effective_receptive_field", "make_norm"]

NORMS = ("batch", "instance", "none")


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def make_norm(kind: str, channels: int) -> nn.Module:
    """``"batch"`` → BatchNorm2d, ``"instance"`` → InstanceNorm2d (affine), ``"none"`` → Identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def effective_receptive_field(
    fn: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    position: tuple[int, int] | None = None,
) -> torch.Tensor:
    """|∂ output[:, :, y, x].sum() / ∂ inputs| summed over batch and channels: (H, W).

    ``fn`` maps ``inputs`` (B, C, H, W) to a (B, C', H', W') output at the same
    resolution; ``position`` is the output pixel (default: the centre). Put models in
    ``eval()`` mode first so BatchNorm does not mix the batch. The map is normalised to
    a maximum of 1 (all zeros stays zeros).
    """
    if inputs.ndim != 4:
        raise InputError(f"inputs must have shape (B, C, H, W), got {tuple(inputs.shape)}")
    x = inputs.detach().clone().requires_grad_(True)
    out = fn(x)
    if out.ndim != 4:
        raise InputError(f"fn must return (B, C, H, W), got {tuple(out.shape)}")
    h, w = out.shape[-2:]
    y0, x0 = position if position is not None else (h // 2, w // 2)
    if not (0 <= y0 < h and 0 <= x0 < w):
        raise InputError(f"position {(y0, x0)} lies outside the {h}x{w} output")
    (grad,) = torch.autograd.grad(out[:, :, y0, x0].sum(), x)
    erf = grad.abs().sum(dim=(0, 1))
    peak = erf.max()
    return erf / peak if peak > 0 else erf
