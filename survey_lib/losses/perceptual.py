"""Perceptual (feature) and style (Gram-matrix) losses (survey §4, "other losses").

With ψ_l the l-th feature map of a frozen loss network (:mod:`survey_lib.losses.feature_nets`),
of shape (C_l, H_l, W_l) — by default ImageNet VGG16's pool1, pool2, pool3 outputs, PConv's
recipe (installed with the environment); a random or self-trained network can be passed
instead, to see which features matter:

* perceptual: ``L_perc = Σ_l mean|ψ_l(P) - ψ_l(T)|`` — L1 between features (PConv's
  ``Σ_p ‖ψ_p(I_out) - ψ_p(I_gt)‖₁ / N_ψp``); it compares *what is where* at a coarser,
  more tolerant level than pixels.
* style: ``L_style = Σ_l mean|G_l(P) - G_l(T)|`` with the Gram matrix
  ``G_l = ψ_l ψ_lᵀ / (C_l·H_l·W_l)`` (C_l x C_l): channel co-activations summed over all
  positions, so it compares texture statistics and ignores *where* they occur. PConv
  and EdgeConnect use this L1-of-Gram form (Gatys et al. use a squared distance).

PConv applies both to the raw output and to the composite (``perceptual_comp``,
``style_comp`` in :class:`~survey_lib.losses.composite.CompositeLoss`). Gram matrices
and reductions are computed in float32 (a half-precision Gram overflows easily).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from survey_lib.data.checks import InputError
from survey_lib.losses.feature_nets import FEATURE_KINDS, FeatureNet, extract, feature_network
from survey_lib.losses.reconstruction import check_loss_inputs

__all__ = [
    "gram_matrix",
    "perceptual_from_features",
    "style_from_features",
    "perceptual_loss",
    "style_loss",
    "perceptual_and_style",
]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ / (C·H·W)`` per image: (B, C, H, W) -> (B, C, C), in float32."""
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        raise InputError(f"gram_matrix needs features (B, C, H, W), got {getattr(features, 'shape', features)}")
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    with torch.autocast(device_type=f.device.type, enabled=False):
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def _check_lists(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> None:
    if len(a) != len(b) or not a:
        raise InputError(f"need two equally long, non-empty feature lists, got {len(a)} and {len(b)}")
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise InputError(f"feature {i}: shapes {tuple(x.shape)} and {tuple(y.shape)} differ")


def _layer_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise InputError(f"layer_weights has {len(weights)} entries for {n} feature maps")
    return [float(w) for w in weights]


def perceptual_from_features(pred_feats: Sequence[torch.Tensor], target_feats: Sequence[torch.Tensor],
                             layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """``Σ_l w_l · mean|ψ_l(P) - ψ_l(T)|`` from precomputed feature lists (target detached)."""
    _check_lists(pred_feats, target_feats)
    ws = _layer_weights(len(pred_feats), layer_weights)
    return sum(w * (p.float() - t.detach().float()).abs().mean()
               for w, p, t in zip(ws, pred_feats, target_feats))  # type: ignore[return-value]


def style_from_features(pred_feats: Sequence[torch.Tensor], target_feats: Sequence[torch.Tensor],
                        layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """``Σ_l w_l · mean|G_l(P) - G_l(T)|`` from precomputed feature lists (target detached)."""
    _check_lists(pred_feats, target_feats)
    ws = _layer_weights(len(pred_feats), layer_weights)
    return sum(w * (gram_matrix(p) - gram_matrix(t.detach())).abs().mean()
               for w, p, t in zip(ws, pred_feats, target_feats))  # type: ignore[return-value]


def _resolve(net: FeatureNet | str, channels: int) -> FeatureNet:
    if isinstance(net, str):
        if net not in FEATURE_KINDS:
            raise InputError(f"net must be a FeatureNet or one of {', '.join(FEATURE_KINDS)}, got {net!r}")
        return feature_network(net, channels)
    if not callable(net):
        raise InputError(f"net must be a FeatureNet or one of {', '.join(FEATURE_KINDS)}, got {type(net).__name__}")
    return net


def _features(net: FeatureNet | str, pred: torch.Tensor, target: torch.Tensor) -> tuple[list, list]:
    pred, target, _ = check_loss_inputs(pred, target)
    net = _resolve(net, pred.shape[1])
    with torch.no_grad():
        tf = extract(net, target)
    return extract(net, pred), tf


def perceptual_loss(pred: torch.Tensor, target: torch.Tensor, net: FeatureNet | str = "vgg16",
                    layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """Perceptual loss of ``pred`` against ``target`` on the loss network ``net``.

    ``net``: a :class:`FeatureNet` or a kind for :func:`feature_network` (default
    ``"vgg16"``, the papers' ImageNet VGG16 pool1-3).
    """
    pf, tf = _features(net, pred, target)
    return perceptual_from_features(pf, tf, layer_weights)


def style_loss(pred: torch.Tensor, target: torch.Tensor, net: FeatureNet | str = "vgg16",
               layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """Gram-matrix style loss of ``pred`` against ``target`` on the loss network ``net``."""
    pf, tf = _features(net, pred, target)
    return style_from_features(pf, tf, layer_weights)


def perceptual_and_style(pred: torch.Tensor, target: torch.Tensor,
                         net: FeatureNet | str = "vgg16") -> tuple[torch.Tensor, torch.Tensor]:
    """Both losses from one pass of the network over each image."""
    pf, tf = _features(net, pred, target)
    return perceptual_from_features(pf, tf), style_from_features(pf, tf)
