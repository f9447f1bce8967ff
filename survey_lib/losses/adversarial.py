"""Adversarial losses (survey §4): the GAN objectives inpainting methods use, as
generator/discriminator pairs, plus the regularisers that keep the discriminator tame.

Every function takes raw logits (any shape: (B, 1) for global discriminators, a patch
map for PatchGANs) and averages over all their elements. Reductions run in float32 so
the losses are safe under autocast/mixed precision.

========  ==========================================  =============================
kind      discriminator loss                          generator loss
========  ==========================================  =============================
nsgan     E[softplus(-D(x))] + E[softplus(D(G))]      E[softplus(-D(G))]
          (= BCE(D(x), 1) + BCE(D(G), 0))             (non-saturating: -log sigmoid)
lsgan     ½E[(D(x) - 1)²] + ½E[D(G)²]                 ½E[(D(G) - 1)²]
hinge     ½E[relu(1 - D(x))] + ½E[relu(1 + D(G))]     -E[D(G)]
wgan_gp   E[D(G)] - E[D(x)]  (+ λ·gradient_penalty)   -E[D(G)]
========  ==========================================  =============================

``nsgan``: Goodfellow et al. 2014 (used by Context Encoders, EdgeConnect, LaMa);
``lsgan``: Mao et al. 2017; ``hinge``: as in DeepFill v2's SN-PatchGAN (the ½ factors
are the reference's); ``wgan_gp``: Gulrajani et al. 2017 (DeepFill v1, λ = 10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from survey_lib.data.checks import InputError

__all__ = [
    "ADVERSARIAL",
    "d_loss",
    "g_loss",
    "gradient_penalty",
    "r1_penalty",
    "feature_matching",
]

ADVERSARIAL = ("nsgan", "lsgan", "hinge", "wgan_gp")


def _check_kind(kind: str) -> str:
    if kind not in ADVERSARIAL:
        raise InputError(f"unknown adversarial loss {kind!r}; choose one of {', '.join(ADVERSARIAL)}")
    return kind


def _logits(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a tensor of discriminator logits, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise InputError(f"{name} is empty (shape {tuple(x.shape)})")
    return x.float()


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of ``kind`` (see the module table); a scalar float32 tensor.

    ``fake_logits`` must come from *detached* generator outputs in a discriminator step.
    The WGAN-GP gradient penalty is separate: add ``λ * gradient_penalty(...)``.
    """
    _check_kind(kind)
    real, fake = _logits(real_logits, "real_logits"), _logits(fake_logits, "fake_logits")
    if kind == "nsgan":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind == "hinge":
        return 0.5 * F.relu(1 - real).mean() + 0.5 * F.relu(1 + fake).mean()
    return fake.mean() - real.mean()  # wgan_gp


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss of ``kind`` (see the module table); a scalar float32 tensor."""
    _check_kind(kind)
    fake = _logits(fake_logits, "fake_logits")
    if kind == "nsgan":
        return F.softplus(-fake).mean()
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    return -fake.mean()  # hinge and wgan_gp


def gradient_penalty(
    disc: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(‖∇_x̂ D(x̂)‖₂ - 1)²]`` at ``x̂ = ε·real + (1-ε)·fake``, ε ~ U(0, 1) per sample.

    ``disc`` is any callable on a batch (wrap extra arguments: ``lambda x: D(x, mask)``);
    a patch map is summed per sample, so the norm is that of the gradient of the
    sample's total score. Multiply by λ (10 in Gulrajani et al.) and add to the
    discriminator loss. The graph is kept (``create_graph=True``) so the penalty trains D.
    """
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise InputError("real and fake must be tensors")
    if real.shape != fake.shape:
        raise InputError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    real, fake = real.detach().float(), fake.detach().float()
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(shape, generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = disc(x_hat)
    (grad,) = torch.autograd.grad(out.float().sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - 1) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018): ``E_b[‖∇_x Σ D(x_b)‖²]`` on real images.

    ``real`` must have had ``requires_grad_(True)`` *before* ``real_logits = D(real)`` was
    computed. The regulariser added to the discriminator loss is ``(γ/2) * r1_penalty``
    (LaMa: γ/2 = 0.001). Returns a scalar float32 tensor with the graph kept.
    """
    if not isinstance(real, torch.Tensor) or not real.requires_grad:
        raise InputError(
            "r1_penalty needs the real images with gradients: call real.requires_grad_(True) "
            "before computing real_logits = D(real)"
        )
    logits = _logits(real_logits, "real_logits")
    if not logits.requires_grad:
        raise InputError("real_logits carry no graph: compute them from real (with requires_grad) inside this step")
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True, allow_unused=True)
    if grad is None:  # D ignores its input (e.g. a constant discriminator): the gradient is 0
        return logits.sum() * 0.0
    return grad.float().flatten(1).pow(2).sum(1).mean()


def feature_matching(
    real_feats: Sequence[torch.Tensor],
    fake_feats: Sequence[torch.Tensor],
    reduce: str = "sum",
) -> torch.Tensor:
    """Feature-matching loss: L1 between discriminator activations of real and fake images.

    ``Σ_l mean|D_l(fake) - D_l(real)|`` over the layers (``reduce="sum"``, as in
    EdgeConnect, whose weight is 10) or their mean (``reduce="mean"``). Real features
    are detached: the loss trains the generator only. Pass lists from
    ``discriminator.features(...)`` (the final logit may be included or sliced off).
    """
    if reduce not in ("sum", "mean"):
        raise InputError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    if len(real_feats) != len(fake_feats) or len(real_feats) == 0:
        raise InputError(
            f"feature_matching needs two equally long, non-empty feature lists, got "
            f"{len(real_feats)} and {len(fake_feats)}"
        )
    total = None
    for i, (r, f) in enumerate(zip(real_feats, fake_feats)):
        if r.shape != f.shape:
            raise InputError(f"feature {i}: real {tuple(r.shape)} and fake {tuple(f.shape)} differ in shape")
        term = (f.float() - r.detach().float()).abs().mean()
        total = term if total is None else total + term
    assert total is not None
    return total / len(real_feats) if reduce == "mean" else total
