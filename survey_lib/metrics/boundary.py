"""How well a fill joins its border: the seam error.

A fill can be the "wrong" content and still be seamless, or be roughly right and leave
a visible edge at the hole boundary. PSNR mixes both; the seam error isolates the
second. It compares the image gradients of the composite with those of the ground
truth on the one-pixel ring on both sides of the hole boundary, where a seam shows up
as a gradient the original image does not have. RePaint's claim (resampling
harmonizes the fill with its border) is measured with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from survey_lib.data.checks import check_mask
from survey_lib.metrics.pixel import check_pred_target


def boundary_ring(mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) 0/1 map of pixels within one pixel of the hole boundary, on either side.

    ``mask``: float32 (B, 1, H, W), 1 = hole (validated: a (B, H, W) or soft mask would
    give a plausible-looking but wrong ring).
    """
    check_mask(mask, "mask", allow_empty=True, allow_full=True)
    return _ring(mask)


def _ring(mask: torch.Tensor) -> torch.Tensor:
    dilated = F.max_pool2d(mask, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-mask, 3, stride=1, padding=1)
    return dilated - eroded


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y, zero-padded back to (B, C, H, W)."""
    gx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return gx, gy


def seam_error(composite: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |grad(composite) - grad(target)| over the boundary ring, per image, shape (B,).

    0 means the composite's gradients across the hole boundary are exactly the
    original's; a visible seam makes it grow. Pass the composite (known pixels equal to
    the target), not the raw prediction.
    """
    composite, target, mask = check_pred_target(composite, target, mask)
    ring = _ring(mask.double())
    cx, cy = _gradients(composite.double())
    tx, ty = _gradients(target.double())
    diff = ((cx - tx).abs() + (cy - ty).abs()) / 2
    weight = ring.expand_as(diff)
    return ((diff * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)).float()
