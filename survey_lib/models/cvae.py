"""Conditional VAE for inpainting: the survey's *VAE* structure (§3).

A masked glyph "E" with its bottom-right stroke missing might be an E or an F: one input,
several right answers. A deterministic network trained with L1 answers with their blurry
average. A conditional VAE (Sohn et al., NeurIPS 2015) instead learns a latent ``z`` that
says *which* completion, and samples it at test time. This module is such a **conditional
VAE** (Sohn et al.) — not PICNet (Zheng et al., CVPR 2019). PICNet's two paths share one
generator, its reconstructive path encodes *only the hole*, both paths are decoded, the
generative path gets no pixel loss against the hidden truth in the hole (only an
adversarial loss and a KL to the prior), and it adds a short+long term attention layer; a
plain CVAE trained with L1, as here, has none of that. What is borrowed from PICNet is
named below (the learned prior, the anchored KL):

* **posterior** ``q(z | image, mask)`` — an encoder that sees the *full* image (training
  only: it knows what is in the hole);
* **prior** ``p(z | visible)`` — an encoder of the blanked image and mask, the only thing
  available at test time (``prior="learned"``, in the role of PICNet's generative path), or a fixed
  N(0, I) (``prior="standard"``, the plain CVAE/VAE choice);
* **decoder** ``(z, visible, mask) -> image`` — a U-Net over the visible image whose
  bottleneck also receives ``z``.

Training maximises the evidence lower bound (ELBO) of the conditional likelihood:

    log p(x | visible) >= E_q[log p(x | z, visible)] - KL(q(z | x, m) || p(z | visible))

The first term is a reconstruction loss — here an L1 (a Laplace likelihood) on the hole
plus an L1 on the known pixels, each averaged over its own pixels — and the second keeps
the posterior close to what the prior can produce. ``kl_weight`` (β) scales the KL: β→0
lets ``z`` copy the hole (great reconstructions, a prior that no longer matches, poor
samples); large β forces ``q`` onto ``p`` so ``z`` carries nothing and the decoder
ignores it ("posterior collapse", no diversity). KL values are summed over the latent
and divided by the number of image values C·H·W, so they sit on the same per-pixel scale
as the L1 terms.

With a *learned* prior the plain KL(q || p) has a flat direction: scaling the latent of
both q and p (and undoing it in the decoder) leaves it unchanged, so the latent can drift
to huge values and saturate the decoder. PICNet anchors it, and this CVAE borrows that
anchor (REFERENCE.md):

* ``kl_posterior`` = β·KL(q || N(0, I)) — the VAE term, it fixes the latent's scale;
* ``kl_prior`` = β·KL(sg[q] || p), q detached (``sg``) — trains the prior to cover the
  posterior without pulling the posterior towards the prior.

With ``prior="standard"`` both are the same KL(q || N(0, I)) and only ``kl`` is used.

``forward`` is deterministic: it decodes the prior *mean*. ``sample`` draws completions.
``z_channels=0`` gives the same network with no latent at all: the deterministic model
of the same size used as the comparison in the notebook.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from survey_lib.data.checks import check_count
from survey_lib.models.base import Method

PRIORS = ("learned", "standard")
#: log-variances are clamped to this range for numerical safety
LOGVAR_RANGE = (-10.0, 10.0)


def gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per element, for diagonal Gaussians.

    ``0.5·(log var_p − log var_q + (var_q + (mu_q − mu_p)²)/var_p − 1)``; zero exactly
    when the two distributions are equal.
    """
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Conv + BatchNorm + LeakyReLU. The normalisation matters: glyphs are mostly black, so
    the first L1 gradients push every output down together; without it the activations
    grow until the sigmoid saturates at 0 and the network is stuck predicting blank."""
    k, p = (4, 1) if stride == 2 else (3, 1)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=p, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


class _Encoder(nn.Module):
    """Conv stem + ``n_down`` stride-2 convolutions; returns every level's features (for skips)."""

    def __init__(self, cin: int, width: int, n_down: int) -> None:
        super().__init__()
        self.stem = _conv(cin, width)
        widths = [2 * width] * n_down
        stages, c = [], width
        for w in widths:
            stages.append(_conv(c, w, stride=2))
            c = w
        self.stages = nn.ModuleList(stages)
        self.out_channels = [width, *widths]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


class _Decoder(nn.Module):
    """U-Net decoder: bottleneck (+ z), then per level upsample ×2, concatenate the skip, conv."""

    def __init__(self, enc_channels: list[int], z_channels: int, out_channels: int) -> None:
        super().__init__()
        c = enc_channels[-1]
        self.inject = _conv(c + z_channels, c)
        fuses = []
        for skip in reversed(enc_channels[:-1]):
            fuses.append(_conv(c + skip, skip))
            c = skip
        self.fuses = nn.ModuleList(fuses)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(self, feats: list[torch.Tensor], z: torch.Tensor | None) -> torch.Tensor:
        h = feats[-1] if z is None else torch.cat([feats[-1], z], 1)
        h = self.inject(h)
        for fuse, skip in zip(self.fuses, reversed(feats[:-1])):
            h = fuse(torch.cat([self.up(h), skip], 1))
        return torch.sigmoid(self.out(h))


class ConditionalVAE(Method):
    """Two-path conditional VAE (posterior on the full image, prior on the visible part).

    Args:
        channels: image channels (1 or 3).
        width: channels of the full-resolution stem (2× that at every lower level).
        z_channels: channels of the spatial latent at 1/``stride`` resolution; 0 = no
            latent (a deterministic U-Net of the same size).
        kl_weight: β, the weight of KL(q || p) (per-pixel scale, see the module doc).
        prior: ``"learned"`` p(z | visible) or ``"standard"`` N(0, I).
        n_down: stride-2 stages (``stride = 2**n_down``).
    """

    name: ClassVar[str] = "cvae"
    lr: ClassVar[float] = 1e-3  # no adversary: a plain Adam rate trains fastest
    betas: ClassVar[tuple[float, float]] = (0.9, 0.999)

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        z_channels: int = 8,
        kl_weight: float = 0.05,
        prior: str = "learned",
        n_down: int = 3,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if z_channels < 0 or kl_weight < 0 or n_down < 1:
            raise ValueError("z_channels and kl_weight must be >= 0 and n_down >= 1")
        self.channels, self.z_channels = channels, z_channels
        self.kl_weight, self.prior = float(kl_weight), prior
        self.stride = 2**n_down  # type: ignore[misc]
        self.visible_encoder = _Encoder(channels + 1, width, n_down)
        bottom = self.visible_encoder.out_channels[-1]
        self.decoder = _Decoder(self.visible_encoder.out_channels, z_channels, channels)
        if z_channels:
            self.posterior = nn.Sequential(
                _Encoder(channels + 1, width, n_down), _LastFeature(),
                nn.Conv2d(bottom, 2 * z_channels, 3, padding=1),
            )
            if prior == "learned":
                self.prior_head = nn.Conv2d(bottom, 2 * z_channels, 3, padding=1)

    @property
    def stochastic(self) -> bool:
        return self.z_channels > 0

    @staticmethod
    def _split(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def prior_distribution(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of p(z | visible) from the visible encoder's features."""
        bottom = feats[-1]
        if self.prior == "standard":
            shape = (bottom.shape[0], self.z_channels, *bottom.shape[-2:])
            zeros = bottom.new_zeros(shape)
            return zeros, zeros
        return self._split(self.prior_head(bottom))

    def posterior_distribution(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | image, mask): sees the full image (training only)."""
        return self._split(self.posterior(torch.cat([image, mask], 1)))

    def _visible(self, image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return self.visible_encoder(torch.cat([image * (1 - mask), mask], 1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Deterministic completion: decode the prior mean (z = 0 for the standard prior)."""
        image, mask = self.check_inputs(image, mask)
        feats = self._visible(image, mask)
        z = self.prior_distribution(feats)[0] if self.stochastic else None
        return self.decoder(feats, z)

    @torch.no_grad()
    def sample(
        self, image: torch.Tensor, mask: torch.Tensor, n: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` completions with z ~ p(z | visible): shape (n, B, C, H, W), in [0, 1]."""
        image, mask = self.check_inputs(image, mask)
        n = check_count(n, "n")
        feats = self._visible(image, mask)
        if not self.stochastic:
            return self.decoder(feats, None).unsqueeze(0).expand(n, *image.shape).clone()
        mu, logvar = self.prior_distribution(feats)
        std = (0.5 * logvar).exp()
        outs = []
        for _ in range(n):
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            outs.append(self.decoder(feats, mu + std * eps))
        return torch.stack(outs)

    def decode(self, image: torch.Tensor, mask: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The completion for a given latent ``z`` (B, z_channels, H/stride, W/stride)."""
        image, mask = self.check_inputs(image, mask)
        return self.decoder(self._visible(image, mask), z)

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """``hole_l1 + valid_l1`` with z ~ q (reparameterised) + the β-weighted KL terms."""
        image, mask = self.check_inputs(image, mask)
        feats = self._visible(image, mask)
        losses: dict[str, torch.Tensor] = {}
        z = None
        if self.stochastic:
            mu_q, logvar_q = self.posterior_distribution(image, mask)
            z = mu_q + (0.5 * logvar_q).exp() * torch.randn_like(mu_q)
            per_pixel = self.kl_weight / image[0].numel()
            zeros = torch.zeros_like(mu_q)
            to_normal = gaussian_kl(mu_q, logvar_q, zeros, zeros).flatten(1).sum(1).mean()
            if self.prior == "standard":
                losses["kl"] = per_pixel * to_normal
            else:
                mu_p, logvar_p = self.prior_distribution(feats)
                to_prior = gaussian_kl(mu_q.detach(), logvar_q.detach(), mu_p, logvar_p)
                losses["kl_posterior"] = per_pixel * to_normal
                losses["kl_prior"] = per_pixel * to_prior.flatten(1).sum(1).mean()
        pred = self.decoder(feats, z)
        err = (pred - image).abs()
        hole = mask.expand_as(image)
        losses["hole_l1"] = (err * hole).sum() / hole.sum().clamp_min(1.0)
        losses["valid_l1"] = (err * (1 - hole)).sum() / (1 - hole).sum().clamp_min(1.0)
        return losses


class _LastFeature(nn.Module):
    """Take the deepest feature map from an :class:`_Encoder`'s list."""

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return feats[-1]
