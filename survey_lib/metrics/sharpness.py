"""Sharpness inside the hole: the one definition the course decides claims with.

Claim 1 of the survey (an adversarial term sharpens what an L2 loss blurs) needs a number
for "how much detail the fill has". The canonical one is :func:`hole_gradient_energy`:

    per image, the mean squared finite difference between neighbouring pixels whose
    both ends lie in the hole (horizontal and vertical pairs, averaged over channels).

Why this one: an L2 fill is the *average* of the plausible completions, and averaging
removes exactly the high-frequency energy that squared differences measure; counting only
pairs inside the hole keeps the seam (a separate question, see
:func:`~survey_lib.metrics.seam_error`) from making a blurry but badly matched fill look
"sharp". ``dilate=k`` grows the hole by ``k`` pixels first, for those who want the seam
included. :func:`sharpness_ratio` divides by the ground truth's value, so 1 means "as
detailed as the real hole", < 1 blurrier, > 1 noisier than reality.

:func:`sobel_hole_sharpness` is the mean Sobel gradient *magnitude* over hole pixels that
chapters 03.1–03.3 printed before this module existed (the chapters now use the canonical
measure); it stays as a named alternative for comparison, not canonical (its 3×3 stencil
reads pixels outside the hole, so the seam counts). ``survey_lib.widgets.losslab.hole_gradient_energy`` is the canonical
function itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from survey_lib.data.checks import InputError, check_image, check_pair

__all__ = ["hole_gradient_energy", "sharpness_ratio", "sobel_hole_sharpness"]

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def _check_dilate(dilate: object) -> int:
    if not isinstance(dilate, int) or isinstance(dilate, bool) or dilate < 0:
        raise InputError(f"dilate must be a non-negative int (pixels to grow the hole by), got {dilate!r}")
    return dilate


def hole_gradient_energy(images: torch.Tensor, masks: torch.Tensor, dilate: int = 0) -> torch.Tensor:
    """Mean squared finite difference between neighbouring pixels *both inside the hole*,
    per image (B,): ``Σ (Δx² over horizontal pairs + Δy² over vertical pairs) / #pairs``,
    averaged over channels. A flat or blurred fill scores low, a textured one high; the
    seam with the known region does not count unless ``dilate`` (pixels, a 3×3 max filter
    applied that many times) grows the hole over it. Images without a pair inside their
    hole give NaN. The canonical sharpness of the course (see the module docstring).
    """
    images, masks = check_pair(images, masks, allow_empty=True)
    dilate = _check_dilate(dilate)
    m = masks.double()
    for _ in range(dilate):
        m = F.max_pool2d(m, 3, stride=1, padding=1)
    x = images.double()
    dx, mx = (x[..., :, 1:] - x[..., :, :-1]) ** 2, m[..., :, 1:] * m[..., :, :-1]
    dy, my = (x[..., 1:, :] - x[..., :-1, :]) ** 2, m[..., 1:, :] * m[..., :-1, :]
    total = (dx.mean(1, keepdim=True) * mx).flatten(1).sum(1) + (dy.mean(1, keepdim=True) * my).flatten(1).sum(1)
    pairs = mx.flatten(1).sum(1) + my.flatten(1).sum(1)
    return (total / pairs).float()  # 0/0 -> NaN when an image has no pair inside its hole


def sharpness_ratio(composites: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor,
                    dilate: int = 0) -> torch.Tensor:
    """Per image (B,): ``hole_gradient_energy(composites) / hole_gradient_energy(truth)``.

    1 = as much detail in the hole as the real image, < 1 blurrier. NaN where the truth's
    hole is flat (no energy to compare with) or has no pair of hole pixels.
    """
    composites, truth = check_image(composites, "composites"), check_image(truth, "truth")
    if composites.shape != truth.shape:
        raise InputError(f"composites and truth must have the same shape, got {tuple(composites.shape)} "
                         f"and {tuple(truth.shape)}")
    own = hole_gradient_energy(composites, masks, dilate).double()
    ref = hole_gradient_energy(truth, masks, dilate).double()
    ratio = own / ref
    ratio[ref == 0] = float("nan")
    return ratio.float()


def sobel_hole_sharpness(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean Sobel gradient magnitude over the hole pixels of each image, shape (B,).

    The measure chapters 03.1–03.3 used for claim 1 before :func:`hole_gradient_energy`
    became canonical (kept so their numbers stay reproducible). Colour images are
    averaged to grey first; borders are replicated; the Sobel kernel is scaled by 1/8 (a
    ramp of slope s per pixel gives exactly s). Its 3×3 stencil reads the pixels just
    outside the hole, so the seam counts.
    """
    images, masks = check_pair(images, masks)
    grey = images.mean(1, keepdim=True)
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    kx = _SOBEL_X.to(images.device, images.dtype).view(1, 1, 3, 3)
    gx = F.conv2d(padded, kx)
    gy = F.conv2d(padded, kx.transpose(-1, -2))
    magnitude = torch.sqrt(gx**2 + gy**2)
    return (magnitude * masks).flatten(1).sum(1) / masks.flatten(1).sum(1)
