"""Adversarial inpainting: the survey's *GAN* structure (§3).

Iizuka et al. (SIGGRAPH 2017, "Globally and Locally Consistent Image Completion") train
a fully convolutional encoder–decoder **generator** whose middle layers are *dilated*
convolutions (dilation 2, 4, 8, 16 at 1/4 resolution): a large receptive field without
more down-sampling, so the fill can use context far from the hole. Two discriminators
judge the result: a *global* one on the whole image (is the scene coherent?) and a
*local* one on a crop around the hole (is the fill itself sharp?); their features are
concatenated into one real/fake logit. Training minimises a masked MSE plus
α·adversarial with α = 0.0004.

The same generator with a **PatchGAN** discriminator (Isola et al., CVPR 2017), which
scores every receptive-field patch instead of the whole image — and its spectrally
normalised version SN-PatchGAN with a hinge loss (DeepFill v2) — is the other standard
choice; ``disc`` picks one.

Our generator is Iizuka's, shrunk for small images: two stride-2 stages (stride 4) and
``dilations=(2, 4, 8)`` by default (16 would mostly read padding at 16×16 features).
The adversarial loss type is a constructor argument (``gan_loss`` in
``survey_lib.losses.adversarial.ADVERSARIAL``) so the notebook can compare them;
``gp_weight=0`` with ``"wgan_gp"`` is a WGAN with no Lipschitz constraint at all — a
failure mode worth watching. Iizuka's three-phase schedule (generator alone, then
discriminator alone, then both) is left out: the engine trains both from step 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from survey_lib.config import Preset, get_preset
from survey_lib.data.checks import InputError, check_count
from survey_lib.losses.adversarial import ADVERSARIAL, d_loss, g_loss, gradient_penalty
from survey_lib.models.base import Method

DISCRIMINATORS = ("global_local", "patch", "sn_patch")
RECONSTRUCTION = ("l2", "l1")
#: Iizuka et al.'s weight of the adversarial term (with a masked MSE)
IIZUKA_ADVERSARIAL_WEIGHT = 0.0004


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DilatedGenerator(nn.Module):
    """Iizuka's completion network, small: conv encoder (stride 4), dilated middle, decoder.

    Widths ``w/2, w, 2w`` at full, 1/2 and 1/4 resolution (Iizuka: 64, 128, 256, i.e.
    this layout at ``w = 128``; halved twice so the CPU preset trains in minutes).
    Input ``[blanked image, mask]`` (C+1 channels); output C channels through a sigmoid.
    """

    def __init__(self, channels: int, width: int, dilations: tuple[int, ...] = (2, 4, 8)) -> None:
        super().__init__()
        c1, c2, c3 = max(width // 2, 4), max(width, 4), max(2 * width, 4)
        self.net = nn.Sequential(
            _conv(channels + 1, c1, k=5),
            _conv(c1, c2, stride=2),
            _conv(c2, c3, stride=2),
            _conv(c3, c3),
            *[_conv(c3, c3, dilation=d) for d in dilations],
            _conv(c3, c3),
            _deconv(c3, c2),
            _conv(c2, c2),
            _deconv(c2, c1),
            nn.Conv2d(c1, channels, 3, padding=1),
        )

    def forward(self, blanked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([blanked, mask], 1)))


class GlobalLocalGAN(Method):
    """Dilated-conv generator + (global & local | PatchGAN) discriminator.

    Args:
        channels: image channels (1 or 3).
        width: generator and discriminator base width.
        disc: ``"global_local"`` (Iizuka), ``"patch"`` (PatchGAN with spectral norm, fed
            ``[image, mask]``) or ``"sn_patch"`` (DeepFill v2's SN-PatchGAN).
        gan_loss: one of ``ADVERSARIAL`` ("nsgan", "lsgan", "hinge", "wgan_gp").
        adversarial_weight: α multiplying the generator's adversarial term.
        reconstruction: ``"l2"`` (Iizuka's masked MSE) or ``"l1"``; averaged over hole pixels.
        gp_weight: gradient-penalty weight used with ``"wgan_gp"`` (0 = plain WGAN, unstable).
        image_size: side of the square training images; only the global discriminator
            needs it (``None``: the preset's size for this channel count).
        local_size: side of the local discriminator's crop (``None``: image_size // 2).
        dilations: dilation rates of the middle layers.
        disc_width: base width of the discriminator (``None``: ``width // 2``, the
            generator's first-layer width, as Iizuka's networks both start at 64).
        lr, d_lr: override the generator / discriminator learning rates.
        preset: the preset (or its name) that ``image_size=None`` reads.
    """

    name: ClassVar[str] = "global_local"
    stride: ClassVar[int] = 4

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        disc: str = "global_local",
        gan_loss: str = "nsgan",
        adversarial_weight: float = IIZUKA_ADVERSARIAL_WEIGHT,
        reconstruction: str = "l2",
        gp_weight: float = 10.0,
        image_size: int | None = None,
        local_size: int | None = None,
        dilations: tuple[int, ...] = (2, 4, 8),
        disc_width: int | None = None,
        lr: float | None = None,
        d_lr: float | None = None,
        preset: Preset | str | None = None,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if disc not in DISCRIMINATORS:
            raise ValueError(f"disc must be one of {DISCRIMINATORS}, got {disc!r}")
        if gan_loss not in ADVERSARIAL:
            raise ValueError(f"gan_loss must be one of {ADVERSARIAL}, got {gan_loss!r}")
        if reconstruction not in RECONSTRUCTION:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTION}, got {reconstruction!r}")
        if adversarial_weight < 0 or gp_weight < 0:
            raise ValueError("adversarial_weight and gp_weight must be >= 0")
        if image_size is None:
            p = preset if isinstance(preset, Preset) else get_preset(preset)
            image_size = p.glyph_size if channels == 1 else p.image_size
        self.channels, self.image_size = channels, image_size
        self.disc_kind, self.gan_loss = disc, gan_loss
        self.adversarial_weight, self.reconstruction = float(adversarial_weight), reconstruction
        self.gp_weight = float(gp_weight)
        self.local_size = local_size or image_size // 2
        if disc != "global_local":
            self.name = "patchgan" if disc == "patch" else "sn_patchgan"  # type: ignore[misc]
        if lr is not None:
            self.lr = float(lr)  # type: ignore[misc]
        if d_lr is not None:
            self.d_lr = float(d_lr)  # type: ignore[misc]
        self.generator = DilatedGenerator(channels, width, dilations)
        self.discriminators["d"] = self._build_discriminator(disc_width or max(width // 2, 4))

    @classmethod
    def preset_kwargs(cls, preset: Preset) -> dict[str, Any]:
        """The registry's preset decides the default image size (see ``image_size``)."""
        return {"preset": preset}

    def _build_discriminator(self, width: int) -> nn.Module:
        from survey_lib.layers import discriminators as D

        if self.disc_kind == "global_local":
            # BatchNorm (the paper's) mixes the batch, which breaks the per-sample gradient
            # penalty: WGAN-GP gets the unnormalised version
            norm = "none" if self.gan_loss == "wgan_gp" else "batch"
            return D.GlobalLocalDiscriminator(self.channels, self.image_size, self.local_size, width, norm=norm)
        if self.disc_kind == "patch":
            return D.PatchDiscriminator(self.channels + 1, width, n_layers=3, spectral=True)
        return D.SNPatchGAN(self.channels + 1, width)

    # -- inference ---------------------------------------------------------------------
    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Full-image prediction in [0, 1]; fully convolutional, any size divisible by 4."""
        image, mask = self.check_inputs(image, mask)
        return self.generator(image * (1 - mask), mask)

    # -- training ------------------------------------------------------------------------
    def discriminate(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Real/fake logits of ``image`` (global+local: (B, 1); patch: a (B, 1, h, w) map)."""
        disc = self.discriminators["d"]
        if self.disc_kind == "global_local":
            return disc(image, mask)
        return disc(torch.cat([image, mask], 1))

    @torch.no_grad()
    def discriminator_scores(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
        """Mean discriminator logit on real images and on completed ones: D(real), D(fake).

        For monitoring training (the gap between the two is how easily D tells them
        apart). Runs the networks as they are (train or eval mode) but leaves no trace:
        BatchNorm statistics and spectral-norm vectors are restored afterwards.
        """
        image, mask = self.check_inputs(image, mask)
        dev = next(self.generator.parameters()).device
        image, mask = image.to(dev), mask.to(dev)
        saved = [b.clone() for b in self.buffers()]
        try:
            pred = self.generator(image * (1 - mask), mask)
            fake = mask * pred + (1 - mask) * image
            real_logit = float(self.discriminate(image, mask).float().mean())
            fake_logit = float(self.discriminate(fake, mask).float().mean())
        finally:
            for b, s in zip(self.buffers(), saved):
                b.copy_(s)
        return {"d_real": real_logit, "d_fake": fake_logit}

    def reconstruction_loss(self, pred: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean L2 (or L1) error over the hole pixels."""
        err = (pred - image) ** 2 if self.reconstruction == "l2" else (pred - image).abs()
        hole = mask.expand_as(image)
        return (err * hole).sum() / hole.sum().clamp_min(1.0)

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        pred = self.generator(image * (1 - mask), mask)
        fake = mask * pred + (1 - mask) * image
        losses = {self.reconstruction: self.reconstruction_loss(pred, image, mask)}
        if self.adversarial_weight > 0:
            losses["adv"] = self.adversarial_weight * g_loss(self.gan_loss, self.discriminate(fake, mask))
        return losses

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        with torch.no_grad():
            pred = self.generator(image * (1 - mask), mask)
        fake = mask * pred + (1 - mask) * image
        real_logits, fake_logits = self.discriminate(image, mask), self.discriminate(fake, mask)
        losses = {"adv": d_loss(self.gan_loss, real_logits, fake_logits)}
        if self.gan_loss == "wgan_gp" and self.gp_weight > 0:
            losses["gp"] = self.gp_weight * gradient_penalty(
                lambda x: self.discriminate(x, mask), image, fake
            )
        return losses


def score_recorder(model: GlobalLocalGAN, image: torch.Tensor, mask: torch.Tensor,
                   every: int) -> tuple[dict[str, list[float]], Callable[[int, dict[str, float]], None]]:
    """A :func:`survey_lib.train.train` callback that watches the two-player game.

    Returns ``(log, callback)``: at step 1 and every ``every`` steps the callback appends
    the step and :meth:`GlobalLocalGAN.discriminator_scores` on the fixed probe batch
    ``(image, mask)`` — the mean logits D(real) and D(fake) — to ``log["step"]``,
    ``log["d_real"]``, ``log["d_fake"]``. A fixed batch, so the curves show the players
    changing, not the data. The probe is checked now, not at step 1 of a long run.
    """
    if not isinstance(model, GlobalLocalGAN):
        raise InputError(f"model must be a GlobalLocalGAN (it has the discriminator to watch), got "
                         f"{type(model).__name__}")
    image, mask = model.check_inputs(image, mask)
    every = check_count(every, "every")
    log: dict[str, list[float]] = {"step": [], "d_real": [], "d_fake": []}

    def callback(step: int, losses: dict[str, float]) -> None:
        if step == 1 or step % every == 0:
            scores = model.discriminator_scores(image, mask)
            log["step"].append(step)
            log["d_real"].append(scores["d_real"])
            log["d_fake"].append(scores["d_fake"])

    return log, callback
