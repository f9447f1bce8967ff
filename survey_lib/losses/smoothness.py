"""Total variation (survey §4, "other losses"): a smoothness prior on the filled region.

Anisotropic L1 total variation of an image X (B, C, H, W)::

    TV(X) = ( Σ |X[i, j+1] - X[i, j]| + Σ |X[i+1, j] - X[i, j]| ) / N,    N = B·C·H·W

With a mask, only the differences between two pixels that *both* lie in the hole
dilated by one pixel count: PConv's ``L_tv`` on the composite, where P is "the region
of 1-pixel dilation of the hole region". The dilation makes the seam between filled
and known pixels part of the penalty, which is what removes checkerboard and border
artefacts. The normalisation is PConv's N (all elements of X), like every loss in
:mod:`survey_lib.losses.reconstruction`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from survey_lib.data.checks import InputError, check_mask
from survey_lib.losses.reconstruction import _check_tensor

__all__ = ["dilate_hole", "total_variation"]


def dilate_hole(mask: torch.Tensor, pixels: int = 1) -> torch.Tensor:
    """The hole grown by ``pixels`` in every direction (3x3 max-pooling per pixel)."""
    mask = check_mask(mask, allow_empty=True, allow_full=True)
    if pixels < 0:
        raise InputError(f"pixels must be >= 0, got {pixels}")
    k = 2 * pixels + 1
    return F.max_pool2d(mask, k, stride=1, padding=pixels) if pixels else mask


def total_variation(x: torch.Tensor, mask: torch.Tensor | None = None, dilation: int = 1) -> torch.Tensor:
    """Anisotropic L1 TV of ``x`` divided by its number of elements (see the module docstring).

    ``mask`` (1 = hole) restricts the sum to neighbour pairs inside the hole dilated by
    ``dilation`` pixels (PConv: 1; apply it to the composite image). A constant image
    has TV 0. Computed in float32.
    """
    x = _check_tensor(x, "x")
    xf = x.float()
    dx = (xf[..., :, 1:] - xf[..., :, :-1]).abs()
    dy = (xf[..., 1:, :] - xf[..., :-1, :]).abs()
    if mask is not None:
        m = check_mask(mask, like=x, allow_empty=True, allow_full=True)
        if m.device != x.device:
            raise InputError(f"x is on {x.device} but mask is on {m.device}")
        region = dilate_hole(m, dilation)
        dx = dx * (region[..., :, 1:] * region[..., :, :-1])
        dy = dy * (region[..., 1:, :] * region[..., :-1, :])
    return (dx.sum() + dy.sum()) / x.numel()
