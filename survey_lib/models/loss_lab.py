"""The loss lab (survey §4): one generator, any mix of the chapter's losses.

Every inpainting paper changes its architecture *and* its loss at the same time, so the
effect of a loss is hard to see in the literature. Here the network is fixed — the
library's vanilla-convolution U-Net (:class:`~survey_lib.models.unet.InpaintUNet`) — and
only the training objective changes: a :class:`~survey_lib.losses.composite.CompositeLoss`
whose weights and adversarial objective are constructor arguments. When the
adversarial or feature-matching weight is positive the model also gets DeepFill v2's
SN-PatchGAN discriminator on ``[completed image, mask]``, its depth adapted to the
image size (:class:`~survey_lib.layers.discriminators.SNPatchGAN`).

The discriminator judges the *composite* ``M ⊙ G(x) + (1-M) ⊙ x`` (as DeepFill v2 does):
only the hole can give a fake away. ``wgan_gp`` adds the gradient penalty (λ =
``gp_weight``, 10); ``r1_weight`` > 0 adds LaMa's R1 penalty (γ/2) on real images.

:func:`live_budget` is a lab run's live budget in the chapter (compute, not steps: a VGG16 run
gets fewer, dearer steps). :data:`LAB_RUNS` are the chapter's fixed experiments (L1 only; L1 + perceptual + style;
L1 + adversarial); the notebook and ``python -m survey_lib train loss_lab`` build them
with ``LossLab(**LAB_RUNS[name])``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from survey_lib.config import Preset, get_preset
from survey_lib.data.checks import InputError
from survey_lib.layers.discriminators import SNPatchGAN
from survey_lib.losses.adversarial import ADVERSARIAL, d_loss, gradient_penalty, r1_penalty
from survey_lib.losses.composite import PCONV_WEIGHTS, CompositeLoss
from survey_lib.losses.feature_nets import FeatureNet
from survey_lib.models.base import Method
from survey_lib.models.unet import InpaintUNet

__all__ = ["LossLab", "DEFAULT_WEIGHTS", "LAB_RUNS", "STEP_COST_DISCRIMINATOR", "STEP_COST_FEATURES", "live_budget"]

#: PConv's pixel terms: the plain reconstruction baseline of the lab
DEFAULT_WEIGHTS: dict[str, float] = {"valid_l1": 1.0, "hole_l1": 6.0}

#: the chapter's fixed runs: name -> LossLab keyword arguments
LAB_RUNS: dict[str, dict[str, Any]] = {
    "L1 only": {"weights": dict(DEFAULT_WEIGHTS)},
    "L1 + perceptual + style": {"weights": dict(PCONV_WEIGHTS)},  # PConv's full loss
    "L1 + adversarial": {"weights": {**DEFAULT_WEIGHTS, "adversarial": 0.1}, "adversarial": "hinge"},
}


class LossLab(Method):
    """A U-Net inpainter trained with a configurable :class:`CompositeLoss` (see module doc).

    Args:
        channels, width: image channels and base width (the registry passes the preset's).
        weights: ``{term: weight}`` (names in :data:`survey_lib.losses.TERMS`); default
            :data:`DEFAULT_WEIGHTS`. At least one weight must be positive.
        adversarial: the GAN objective (``nsgan``, ``lsgan``, ``hinge``, ``wgan_gp``).
        feature_net: loss network for perceptual/style/MRF terms: ``"vgg16"`` (default,
            PConv's ImageNet pool1–pool3, installed with the environment), or the labelled
            alternatives ``"random"`` / ``"trained"``, or a FeatureNet.
        depth: U-Net levels (inputs must be divisible by ``2**depth``).
        image_size: side the discriminator's depth is chosen for (default: the preset's).
        gp_weight: λ of the WGAN gradient penalty; r1_weight: γ/2 of the R1 penalty.
    """

    name: ClassVar[str] = "loss_lab"
    lr: ClassVar[float] = 1e-3
    d_lr: ClassVar[float] = 4e-4
    betas: ClassVar[tuple[float, float]] = (0.5, 0.999)

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        weights: Mapping[str, float] | None = None,
        adversarial: str = "hinge",
        feature_net: str | FeatureNet = "vgg16",
        depth: int = 3,
        image_size: int | None = None,
        gp_weight: float = 10.0,
        r1_weight: float = 0.0,
        preset: Preset | str | None = None,
        feature_kwargs: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        if adversarial not in ADVERSARIAL:
            raise InputError(f"unknown adversarial loss {adversarial!r}; choose one of {', '.join(ADVERSARIAL)}")
        self.loss = CompositeLoss(weights, feature_net=feature_net, adversarial=adversarial,
                                  feature_kwargs=feature_kwargs)
        if not self.loss.active:
            raise InputError(f"every loss weight is zero in {weights}: nothing to train")
        self.channels, self.width, self.depth = channels, width, depth
        self.stride = 2**depth  # type: ignore[misc]
        self.adversarial = adversarial
        self.gp_weight, self.r1_weight = float(gp_weight), float(r1_weight)
        self.generator = InpaintUNet(channels, width, conv="vanilla", depth=depth)
        if self.loss.needs_discriminator:
            p = preset if isinstance(preset, Preset) else get_preset(preset)
            size = image_size if image_size is not None else p.image_size
            self.discriminators["patch"] = SNPatchGAN(channels + 1, width, size=size)

    @property
    def settings(self) -> dict[str, Any]:
        """What distinguishes this run: the active weights and the adversarial kind."""
        out: dict[str, Any] = dict(self.loss.active)
        if self.loss.needs_discriminator:
            out["adversarial_kind"] = self.adversarial
        return out

    def describe(self) -> str:
        """The loss, term by term, and the loss network (when one is used)."""
        text = self.loss.describe()
        if self.loss.needs_features:
            text += "\n" + self.loss.feature_net(self.channels).describe()
        return text

    # -- inference ---------------------------------------------------------------------
    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction in [0, 1] (the U-Net validates and blanks the hole itself)."""
        return self.generator(image, mask)

    # -- training ------------------------------------------------------------------------
    def _composite(self, image: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        return mask * pred + (1 - mask) * image

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = self(image, mask)
        extra: dict[str, Any] = {}
        if self.loss.needs_discriminator:
            disc = self.discriminators["patch"]
            fake_feats = disc.features(self._composite(image, mask, pred), mask)
            extra["fake_logits"] = fake_feats[-1]
            if "feature_matching" in self.loss.active:
                with torch.no_grad():
                    extra["real_feats"] = disc.features(image, mask)
                extra["fake_feats"] = fake_feats
        return self.loss(pred, image, mask, **extra)

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if not self.loss.needs_discriminator:
            return {}
        disc = self.discriminators["patch"]
        with torch.no_grad():
            fake = self._composite(image, mask, self(image, mask))
        real = image.detach().requires_grad_(self.r1_weight > 0)
        real_logits = disc(real, mask)
        losses = {"adv": d_loss(self.adversarial, real_logits, disc(fake, mask))}
        if self.adversarial == "wgan_gp":
            losses["gp"] = self.gp_weight * gradient_penalty(lambda x: disc(x, mask), image, fake)
        if self.r1_weight > 0:
            losses["r1"] = self.r1_weight * r1_penalty(real_logits, real)
        return losses


#: what one optimisation step of a lab run costs relative to an "L1 only" step (CPU-seconds
#: at the ``cpu`` preset: width 32, batch 32, 64 px, one thread; measured for issue 10 on the
#: 2-core reference machine, 0.6 s per L1-only step): the VGG16 loss network's forward and
#: backward through pool3 for the perceptual / style / MRF terms makes a step ~8.5x dearer;
#: a discriminator step (SN-PatchGAN) about doubles it.
STEP_COST_FEATURES = 8.5
STEP_COST_DISCRIMINATOR = 2.1


def live_budget(weights: Mapping[str, float] | None = None, preset: Preset | str | None = None) -> Preset:
    """The preset one loss-lab run trains with *live* in chapter 04.

    :func:`survey_lib.models.registry.live_preset` of ``loss_lab``: at a preset that
    compares the shipped checkpoints (``smoke``, ``cpu``) a short run (``cpu``: a quarter of
    the shipped model's budget); at ``gpu`` or with ``SURVEY_FROM_SCRATCH=1`` the full
    budget, unchanged. A budget is compute, not steps: when the loss needs the VGG16
    feature network (perceptual, style, MRF), a step costs :data:`STEP_COST_FEATURES`
    times an L1-only one, so at a short-run preset such a run gets the L1-only run's steps
    divided by it (at least 1) — the same minutes, far fewer updates. The adversarial
    term's discriminator step is *not* discounted: claim 1 compares a run with it and one
    without at equal steps (the papers' protocol), and the discriminator is part of what
    is compared.
    """
    from survey_lib.models.registry import live_preset

    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    loss = CompositeLoss(weights)  # validates the names; builds no feature network
    if not loss.active:
        raise InputError(f"every loss weight is zero in {weights}: nothing to train")
    p = live_preset("loss_lab", preset)
    if not p.shipped or not loss.needs_features:
        return p
    return p.with_overrides(steps=max(1, round(p.steps / STEP_COST_FEATURES)))
