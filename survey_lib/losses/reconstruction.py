"""Reconstruction losses (survey §4): pixel distances between prediction and ground truth.

Notation: P prediction, T target, M mask (1 = hole), N = B·C·H·W the number of
elements. **Normalisation, everywhere in this module: a mean over all N elements**,
as in PConv (``L_hole = ‖M ⊙ (P - T)‖₁ / N``, ``L_valid = ‖(1-M) ⊙ (P - T)‖₁ / N``). A
hole-only loss therefore scales with the hole ratio; pass ``normalize="region"`` to
divide by the number of elements inside the weighted region instead (a per-pixel
average that does not depend on the hole size).

* :func:`l1`, :func:`l2` — ``mean(W ⊙ |P - T|)`` / ``mean(W ⊙ (P - T)²)`` with the weight
  map ``W = hole_weight·M + valid_weight·(1 - M)`` (PConv: valid 1, hole 6; W = 1 without
  a mask). :func:`hole_l1`, :func:`valid_l1`, :func:`hole_l2`, :func:`valid_l2` are the
  one-region cases.
* :func:`spatially_discounted_l1` — DeepFill v1: hole pixels weighted by γ^d, d the
  distance to the nearest known pixel: far from the border many fillings are plausible,
  so the loss there is discounted. **Which γ:** the paper states γ = 0.99
  (:data:`DEEPFILL_GAMMA_PAPER`); the authors' released TensorFlow config trains with
  0.9 (:data:`DEEPFILL_GAMMA_RELEASED`). The library's default is the released **0.9**
  (:data:`DEEPFILL_GAMMA`): this course trains at 32–128 px, where holes are only
  10–40 px deep, and 0.99^16 ≈ 0.85 would hardly discount anything there, while
  0.9^16 ≈ 0.19 does (at the paper's 256 px, 0.99 spans a hole ~100 px deep). Pass
  ``gamma=0.99`` or ``gamma="paper"`` for the paper's value (``"released"`` = 0.9).
* :func:`pyramid_l1` — multi-scale L1: the mean of L1 distances at 1, 1/2, 1/4, ...
  resolution (or of a list of multi-scale outputs against the resized target).

Validation: predictions may be any floating dtype (autocast gives bf16/fp16) and are
not range-checked (a network in training may overshoot [0, 1]); reductions are in
float32. Masks follow the library convention and are checked by
:func:`survey_lib.data.checks.check_mask`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from survey_lib.data.checks import InputError, check_mask

__all__ = [
    "check_loss_inputs",
    "weight_map",
    "l1",
    "l2",
    "hole_l1",
    "valid_l1",
    "hole_l2",
    "valid_l2",
    "DEEPFILL_GAMMA",
    "DEEPFILL_GAMMA_PAPER",
    "DEEPFILL_GAMMA_RELEASED",
    "resolve_gamma",
    "discount_weights",
    "box_discount_weights",
    "spatially_discounted_l1",
    "pyramid_l1",
]

NORMALIZE = ("all", "region")


def _check_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise InputError(f"{name} is empty: shape {tuple(x.shape)}")
    return x


def check_loss_inputs(
    pred: object, target: object, mask: object | None = None, require_mask: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate a loss's (prediction, target, mask) and return them.

    ``pred`` and ``target``: floating tensors of one shape (B, C, H, W) on one device;
    ``mask``: the library's (B, 1, H, W) 0/1 float32 mask, 1 = hole (a batch may contain
    images without a hole). Used by every loss in :mod:`survey_lib.losses`.
    """
    p = _check_tensor(pred, "pred")
    t = _check_tensor(target, "target")
    if p.shape != t.shape:
        raise InputError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} must have the same shape")
    if p.device != t.device:
        raise InputError(f"pred is on {p.device} but target is on {t.device}")
    if mask is None:
        if require_mask:
            raise InputError("this loss needs a mask (B, 1, H, W) with 1 = hole")
        return p, t, None
    m = check_mask(mask, like=p, allow_empty=True, allow_full=True)
    if m.device != p.device:
        raise InputError(f"pred is on {p.device} but mask is on {m.device}")
    return p, t, m


def weight_map(mask: torch.Tensor | None, hole_weight: float, valid_weight: float) -> torch.Tensor | None:
    """``hole_weight·M + valid_weight·(1 - M)``, or None when there is no mask."""
    if mask is None:
        return None
    return hole_weight * mask + valid_weight * (1.0 - mask)


def _reduce(err: torch.Tensor, w: torch.Tensor | None, normalize: str) -> torch.Tensor:
    """Weighted mean of a float32 error map ``err`` (B, C, H, W) by ``w`` (B, 1, H, W)."""
    if normalize not in NORMALIZE:
        raise InputError(f"normalize must be one of {NORMALIZE}, got {normalize!r}")
    if w is None:
        return err.mean()
    total = (err * w).sum()
    if normalize == "all":
        return total / err.numel()
    # "region": divide by the number of elements with a non-zero weight
    count = (w != 0).float().sum() * err.shape[1]
    return total / count.clamp_min(1.0)


def _weighted(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, hole_weight: float,
              valid_weight: float, normalize: str, power: int) -> torch.Tensor:
    pred, target, mask = check_loss_inputs(pred, target, mask)
    diff = pred.float() - target.float()
    err = diff.abs() if power == 1 else diff * diff
    return _reduce(err, weight_map(mask, hole_weight, valid_weight), normalize)


def l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
       hole_weight: float = 1.0, valid_weight: float = 1.0, normalize: str = "all") -> torch.Tensor:
    """``mean(W ⊙ |P - T|)`` with ``W = hole_weight·M + valid_weight·(1-M)`` (W = 1 without mask)."""
    return _weighted(pred, target, mask, hole_weight, valid_weight, normalize, 1)


def l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
       hole_weight: float = 1.0, valid_weight: float = 1.0, normalize: str = "all") -> torch.Tensor:
    """``mean(W ⊙ (P - T)²)`` (mean squared error; Context Encoders' reconstruction loss)."""
    return _weighted(pred, target, mask, hole_weight, valid_weight, normalize, 2)


def hole_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalize: str = "all") -> torch.Tensor:
    """PConv's ``L_hole = ‖M ⊙ (P - T)‖₁ / N``: only hole pixels count."""
    check_loss_inputs(pred, target, mask, require_mask=True)
    return l1(pred, target, mask, 1.0, 0.0, normalize)


def valid_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalize: str = "all") -> torch.Tensor:
    """PConv's ``L_valid = ‖(1-M) ⊙ (P - T)‖₁ / N``: only known pixels count."""
    check_loss_inputs(pred, target, mask, require_mask=True)
    return l1(pred, target, mask, 0.0, 1.0, normalize)


def hole_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalize: str = "all") -> torch.Tensor:
    """``‖M ⊙ (P - T)‖₂² / N``: squared error on hole pixels only."""
    check_loss_inputs(pred, target, mask, require_mask=True)
    return l2(pred, target, mask, 1.0, 0.0, normalize)


def valid_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, normalize: str = "all") -> torch.Tensor:
    """``‖(1-M) ⊙ (P - T)‖₂² / N``: squared error on known pixels only."""
    check_loss_inputs(pred, target, mask, require_mask=True)
    return l2(pred, target, mask, 0.0, 1.0, normalize)


# --- spatially discounted L1 (DeepFill v1) ----------------------------------------------

#: γ as stated in the DeepFill v1 paper (Yu et al., CVPR 2018)
DEEPFILL_GAMMA_PAPER = 0.99
#: γ in the authors' released TensorFlow config
DEEPFILL_GAMMA_RELEASED = 0.9
#: the library's default: the released value, which still discounts on this course's
#: small images (see the module docstring)
DEEPFILL_GAMMA = DEEPFILL_GAMMA_RELEASED
_GAMMA_NAMES = {"paper": DEEPFILL_GAMMA_PAPER, "released": DEEPFILL_GAMMA_RELEASED}


def resolve_gamma(gamma: float | str) -> float:
    """The discount factor: a number in (0, 1], or ``"paper"`` (0.99) / ``"released"`` (0.9)."""
    if isinstance(gamma, str):
        if gamma not in _GAMMA_NAMES:
            raise InputError(f"gamma must be a number in (0, 1] or one of {sorted(_GAMMA_NAMES)}, got {gamma!r}")
        return _GAMMA_NAMES[gamma]
    gamma = float(gamma)
    if not 0.0 < gamma <= 1.0:
        raise InputError(f"gamma must lie in (0, 1], got {gamma}")
    return gamma


def discount_weights(mask: torch.Tensor, gamma: float | str = DEEPFILL_GAMMA) -> torch.Tensor:
    """Exact discount map: ``γ^d`` on hole pixels, d = Euclidean distance (in pixels, between
    pixel centres) to the nearest known pixel, and 0 on known pixels.

    A hole pixel touching the border has d = 1, weight γ. Computed with
    ``scipy.ndimage.distance_transform_edt`` on the CPU (the map depends on the mask
    only, so it carries no gradient); an image without any known pixel gets weight 1.
    """
    mask = check_mask(mask, allow_empty=True, allow_full=True)
    gamma = resolve_gamma(gamma)
    from scipy.ndimage import distance_transform_edt

    holes = mask[:, 0].detach().cpu().numpy() > 0.5
    out = np.zeros(holes.shape, dtype=np.float32)
    for i, hole in enumerate(holes):
        if hole.all():
            out[i] = 1.0
        elif hole.any():
            dist = distance_transform_edt(hole)
            out[i] = np.where(hole, gamma**dist, 0.0)
    return torch.from_numpy(out).unsqueeze(1).to(mask.device)


def box_discount_weights(mask: torch.Tensor, gamma: float | str = DEEPFILL_GAMMA) -> torch.Tensor:
    """DeepFill v1's per-box approximation: inside each hole's bounding box (h x w), pixel
    (i, j) gets ``max(γ^min(i, h-i), γ^min(j, w-j))``; multiplied by the mask.

    For a rectangular hole this is γ to the distance from the box's nearest edge, counted
    from 0 on the box's first row/column but from 1 on its last (the reference formula's
    asymmetry, kept): it lies between the exact map and the exact map divided by γ.
    """
    from survey_lib.layers.discriminators import hole_boxes

    mask = check_mask(mask, allow_empty=True, allow_full=True)
    gamma = resolve_gamma(gamma)
    out = torch.zeros_like(mask)
    for b, (top, left, bottom, right) in enumerate(hole_boxes(mask).tolist()):
        h, w = bottom - top, right - left
        i = torch.arange(h, device=mask.device, dtype=torch.float32)
        j = torch.arange(w, device=mask.device, dtype=torch.float32)
        wi = gamma ** torch.minimum(i, h - i)
        wj = gamma ** torch.minimum(j, w - j)
        out[b, 0, top:bottom, left:right] = torch.maximum(wi[:, None], wj[None, :])
    return out * mask


def spatially_discounted_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                            gamma: float | str = DEEPFILL_GAMMA, method: str = "distance",
                            normalize: str = "all") -> torch.Tensor:
    """DeepFill v1's spatially discounted L1 on the hole: ``mean(γ^d ⊙ M ⊙ |P - T|)``.

    ``method="distance"`` (default, right for any mask shape) uses the exact distance
    to the nearest known pixel (:func:`discount_weights`); ``method="box"`` the
    paper's per-box formula (:func:`box_discount_weights`), meant for rectangular holes.
    Known pixels get weight 0: pair it with :func:`valid_l1` for them. ``gamma``: the
    released config's 0.9 by default, ``"paper"`` / 0.99 for the paper's (:func:`resolve_gamma`).
    """
    pred, target, mask = check_loss_inputs(pred, target, mask, require_mask=True)
    assert mask is not None
    if method == "distance":
        w = discount_weights(mask, gamma)
    elif method == "box":
        w = box_discount_weights(mask, gamma)
    else:
        raise InputError(f"method must be 'distance' or 'box', got {method!r}")
    err = (pred.float() - target.float()).abs()
    return _reduce(err, w, normalize)


# --- multi-scale ------------------------------------------------------------------------

def _down(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x`` area-averaged by 2**k (float32)."""
    return x.float() if k == 0 else F.avg_pool2d(x.float(), 2**k)


def pyramid_l1(pred: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor, levels: int = 3,
               mask: torch.Tensor | None = None, hole_weight: float = 1.0,
               valid_weight: float = 1.0) -> torch.Tensor:
    """Multi-scale L1: the mean over scales s = 1, 1/2, ..., 1/2^(levels-1) of
    ``mean(W_s ⊙ |down_s(P) - down_s(T)|)`` (down_s: area averaging, W_s the weight map of
    the area-averaged mask, so a half-hole cell gets the average weight).

    ``pred`` may also be a list of outputs at several resolutions (PICNet's decoder
    scales); each is compared with the target (and mask) resized to its size, and
    ``levels`` is ignored.
    """
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
    if isinstance(pred, torch.Tensor):
        if levels < 1:
            raise InputError(f"levels must be >= 1, got {levels}")
        pred, target, mask = check_loss_inputs(pred, target, mask)
        if min(pred.shape[-2:]) < 2 ** (levels - 1):
            raise InputError(f"{levels} levels need images of at least {2 ** (levels - 1)} pixels, "
                             f"got {tuple(pred.shape[-2:])}")
        for k in range(levels):
            pairs.append((_down(pred, k), _down(target, k), None if mask is None else _down(mask, k)))
    else:
        preds = list(pred)
        if not preds:
            raise InputError("pred is an empty list")
        check_loss_inputs(target, target, mask)  # validates target and mask
        for p in preds:
            _check_tensor(p, "pred")
            if p.shape[:2] != target.shape[:2]:
                raise InputError(f"pred level {tuple(p.shape)} does not match target {tuple(target.shape)}")
            size = tuple(p.shape[-2:])
            same = size == tuple(target.shape[-2:])
            t = target.float() if same else F.adaptive_avg_pool2d(target.float(), size)
            m = mask if (mask is None or same) else F.adaptive_avg_pool2d(mask, size)
            pairs.append((p.float(), t, m))
    total = None
    for p, t, m in pairs:
        term = _reduce((p - t).abs(), weight_map(m, hole_weight, valid_weight), "all")
        total = term if total is None else total + term
    assert total is not None
    return total / len(pairs)
