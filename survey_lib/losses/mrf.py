"""An ID-MRF-style patch loss (survey §4, "Markov random field losses").

CNNMRF (Li & Wand, CVPR 2016) asks every generated feature patch to have a close
nearest neighbour among the target's patches. GMCNN's *implicit diversified* MRF
(Wang et al., NeurIPS 2018) makes the matching *relative* so that many generated
patches cannot all collapse onto the same few target patches; its computation is the
contextual loss of Mechrez et al. (ECCV 2018). For generated patches v_i and target
patches s_j (feature vectors of size p x p, centred on the target's mean, L2-normalised):

    d_ij   = (1 - cos(v_i, s_j)) / 2                      cosine distance in [0, 1]
    d̃_ij   = d_ij / (min_k d_ik + ε)                      relative to v_i's nearest target patch
    w_ij   = exp((1 - d̃_ij) / h)                          h = 0.5 ("bandwidth")
    RS_ij  = w_ij / Σ_k w_ik                             contextual similarity, in (0, 1]
    L      = -log( (1/M) Σ_j max_i RS_ij )              M target patches

L = 0 exactly when every target patch is the clear nearest neighbour of some generated
patch (e.g. identical, distinct features); it grows as target patches go unmatched.

**Memory**: the similarity matrix holds (H·W)² values per image and layer, about
``4·B·(H·W)²`` bytes per float32 temporary (a 32x32 map: 4 MB per image; 64x64: 64 MB).
Feature maps larger than ``max_positions`` positions are average-pooled by 2 until they
fit (default 1024 = 32x32); that is why the papers apply it to deep, small layers
(GMCNN: VGG19 relu3_2 and relu4_2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from survey_lib.data.checks import InputError
from survey_lib.losses.feature_nets import FeatureNet, extract
from survey_lib.losses.reconstruction import check_loss_inputs

__all__ = ["contextual_similarity", "id_mrf", "mrf_loss"]


def _patches(f: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, D, N): every p x p patch as a column (stride 1, no padding)."""
    if patch_size == 1:
        return f.flatten(2)
    return F.unfold(f, patch_size)


def contextual_similarity(gen: torch.Tensor, target: torch.Tensor, h: float = 0.5,
                          patch_size: int = 1, eps: float = 1e-5) -> torch.Tensor:
    """The normalised relative similarity RS (B, N_gen, N_target) between two feature maps."""
    if gen.shape != target.shape or gen.ndim != 4:
        raise InputError(f"gen {tuple(gen.shape)} and target {tuple(target.shape)} must be equal (B, C, H, W)")
    if h <= 0:
        raise InputError(f"bandwidth h must be positive, got {h}")
    if patch_size < 1 or patch_size > min(gen.shape[-2:]):
        raise InputError(f"patch_size must be between 1 and {min(gen.shape[-2:])}, got {patch_size}")
    with torch.autocast(device_type=gen.device.type, enabled=False):
        g = _patches(gen.float(), patch_size)
        t = _patches(target.detach().float(), patch_size)
        mu = t.mean(dim=2, keepdim=True)
        g = F.normalize(g - mu, dim=1)
        t = F.normalize(t - mu, dim=1)
        cos = torch.bmm(g.transpose(1, 2), t)  # (B, N_gen, N_target)
        dist = ((1.0 - cos) / 2.0).clamp_min(0.0)
        rel = dist / (dist.min(dim=2, keepdim=True).values + eps)
        w = torch.exp((1.0 - rel) / h)
        return w / w.sum(dim=2, keepdim=True)


def id_mrf(gen: torch.Tensor, target: torch.Tensor, h: float = 0.5, patch_size: int = 1,
           max_positions: int = 1024, eps: float = 1e-5) -> torch.Tensor:
    """ID-MRF loss between one layer's generated and target features (a float32 scalar)."""
    while gen.shape[-2] * gen.shape[-1] > max_positions and min(gen.shape[-2:]) >= 2:
        gen, target = F.avg_pool2d(gen, 2), F.avg_pool2d(target, 2)
    rs = contextual_similarity(gen, target, h, patch_size, eps)
    score = rs.max(dim=1).values.mean(dim=1)  # (B,): each target patch's best match
    return -torch.log(score.clamp_min(eps)).mean()


def mrf_loss(pred: torch.Tensor, target: torch.Tensor, net: FeatureNet,
             layers: Sequence[int] | None = None, h: float = 0.5, patch_size: int = 1,
             max_positions: int = 1024) -> torch.Tensor:
    """Σ over ``layers`` (default: the network's two deepest maps) of :func:`id_mrf`."""
    pred, target, _ = check_loss_inputs(pred, target)
    pf = extract(net, pred)
    with torch.no_grad():
        tf = extract(net, target)
    chosen = list(layers) if layers is not None else list(range(max(0, len(pf) - 2), len(pf)))
    if not chosen or any(not -len(pf) <= i < len(pf) for i in chosen):
        raise InputError(f"layers must index the {len(pf)} feature maps, got {layers}")
    return sum(id_mrf(pf[i], tf[i], h, patch_size, max_positions) for i in chosen)  # type: ignore[return-value]
