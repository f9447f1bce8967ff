"""Context Encoders (Pathak et al., CVPR 2016): the survey's *autoencoder* structure (§3).

An encoder squeezes the image with its hole blanked down to a small feature map; a
**channel-wise fully connected** layer lets every position of that map see every other
position (so the centre of the hole can use context from the far border) while
keeping the parameter count at ``m·n⁴`` instead of the ``m²·n⁴`` of a full
fully-connected layer (m maps of n×n); a stride-1 1×1 convolution then mixes channels;
a decoder of up-convolutions paints the whole image back.

Which bottleneck: the channel-wise fully connected layer is the one the paper describes
with its AlexNet-style encoder (pool5, 6×6×256 maps). The authors' released 128×128
model uses a plain **4000-d fully connected bottleneck** instead (a 4×4 convolution to
4000 channels). This library builds the **paper's channel-wise layer**, on a small
strided-convolution encoder sized to the preset (not AlexNet); the 4000-d variant is not
built here.

Loss, as in the paper: ``(1 - λ)·L_rec + λ·L_adv`` with λ = 0.001 (0.999 / 0.001,
REFERENCE.md); ``adversarial_weight=0`` gives the L2-only model, whose blurry fills are
the paper's motivation for the adversarial term. ``L_rec`` is a masked L2:

* hole pixels, weight 1;
* a band of *known* pixels ``overlap`` pixels wide around the hole, weight 10. Pathak's
  released code predicts a region a few pixels larger than the hole and weights this
  overlap ×10 so the fill joins its border seamlessly; we keep the idea (the network
  predicts the full image, so the band is simply known pixels next to the hole).

The weighted squared errors are divided by the total weight, so ``L_rec`` is a mean
squared error per (weighted) pixel whatever the hole size.

How sharp the fills are (claim 1) is measured outside the model, with the course's one
definition, :func:`survey_lib.metrics.hole_gradient_energy`.

The fully connected bottleneck fixes the input size: the model is built for one
``image_size`` and rejects others with a clear message (a real limitation of the paper's
design, which later fully convolutional models remove).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.config import Preset, get_preset
from survey_lib.data.checks import InputError
from survey_lib.losses.adversarial import ADVERSARIAL, d_loss, g_loss, gradient_penalty
from survey_lib.models.base import Method

#: Pathak et al.'s relative weighting of the adversarial term
PATHAK_ADVERSARIAL_WEIGHT = 0.001
#: weight of the known band around the hole in the reconstruction loss (Pathak's code)
OVERLAP_WEIGHT = 10.0
#: gradient-penalty weight for ``gan_loss="wgan_gp"`` (Gulrajani et al.)
GP_WEIGHT = 10.0


class ChannelwiseFullyConnected(nn.Module):
    """Fully connect each channel's H×W map to itself, with no weights across channels.

    Input and output (B, C, H, W) for the fixed ``(channels, height, width)`` given at
    construction. Parameters: ``weight`` (C, HW, HW) and ``bias`` (C, HW), i.e.
    ``C·(HW)² + C·HW`` numbers — the paper's ``m·n⁴`` (+ bias). Output channel k
    depends on input channel k only; mixing channels is left to a 1×1 convolution.
    """

    def __init__(self, channels: int, height: int, width: int, bias: bool = True) -> None:
        super().__init__()
        self.channels, self.height, self.width = channels, height, width
        n = height * width
        bound = 1.0 / math.sqrt(n)  # nn.Linear's default initialisation, per channel
        self.weight = nn.Parameter(torch.empty(channels, n, n).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels, n).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.height, self.width)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise InputError(
                f"ChannelwiseFullyConnected expects input of shape (B, {expected[0]}, {expected[1]}, "
                f"{expected[2]}), got {tuple(x.shape)}"
            )
        flat = x.flatten(2)  # (B, C, HW)
        out = torch.einsum("bci,cij->bcj", flat, self.weight)
        if self.bias is not None:
            out = out + self.bias
        return out.view_as(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.height}x{self.width}, bias={self.bias is not None}"


def bottleneck_downsamplings(image_size: int, bottleneck: int = 4) -> int:
    """How many stride-2 stages take ``image_size`` down to about ``bottleneck`` pixels.

    Pathak's 128×128 network ends at a 4×4 map; we keep that side for every preset
    size, stopping earlier when the size stops being even.
    """
    n, side = 0, image_size
    while side % 2 == 0 and side // 2 >= bottleneck:
        side //= 2
        n += 1
    return n


def _down(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ContextEncoder(Method):
    """Encoder – channel-wise FC – decoder, trained with (1-λ)·masked L2 + λ·adversarial.

    The bottleneck is the paper's channel-wise fully connected layer (described with its
    AlexNet-style encoder), not the 4000-d fully connected layer of the authors' released
    128×128 model; the encoder is a small strided-convolution stack, not AlexNet.

    Args:
        channels: image channels (1 or 3).
        width: channels of the first encoder stage (doubling per stage, capped at 8×).
        image_size: the one square input size this model accepts (the FC bottleneck
            fixes it); ``None`` takes the preset's ``glyph_size`` for 1 channel and
            ``image_size`` otherwise, matching :func:`survey_lib.data.make_dataset`.
        preset: the preset (or its name) that ``image_size=None`` reads; ``None``: the
            one chosen by ``SURVEY_PRESET`` (the registry passes the preset it builds for).
        adversarial_weight: λ; 0 gives the L2-only model (no discriminator at all).
        gan_loss: adversarial loss kind (``survey_lib.losses.adversarial.ADVERSARIAL``);
            the paper used the standard (non-saturating) GAN loss.
        mask_channel: also feed the mask as an input channel (the paper's fixed centre
            hole needs none; for varying holes it tells the network where to paint).
        overlap: width in pixels of the known band around the hole weighted ×10.
        disc_width: base width of the discriminator (``None``: ``width // 2``; it only
            has to tell real from filled, and at full width it triples the step time).
        lr, d_lr: override the generator / discriminator learning rates.
    """

    name: ClassVar[str] = "context_encoder"

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        image_size: int | None = None,
        adversarial_weight: float = PATHAK_ADVERSARIAL_WEIGHT,
        gan_loss: str = "nsgan",
        mask_channel: bool = True,
        overlap: int = 2,
        disc_width: int | None = None,
        lr: float | None = None,
        d_lr: float | None = None,
        preset: Preset | str | None = None,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if not 0.0 <= adversarial_weight < 1.0:
            raise ValueError(f"adversarial_weight must be in [0, 1), got {adversarial_weight}")
        if gan_loss not in ADVERSARIAL:
            raise ValueError(f"gan_loss must be one of {ADVERSARIAL}, got {gan_loss!r}")
        if overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}")
        if image_size is None:
            p = preset if isinstance(preset, Preset) else get_preset(preset)
            image_size = p.glyph_size if channels == 1 else p.image_size
        n_down = bottleneck_downsamplings(image_size)
        if n_down < 2:
            raise ValueError(f"image_size {image_size} is too small or odd: need a multiple of 16")
        self.channels, self.image_size = channels, image_size
        self.adversarial_weight, self.gan_loss = float(adversarial_weight), gan_loss
        self.mask_channel, self.overlap = mask_channel, overlap
        if lr is not None:
            self.lr = float(lr)  # type: ignore[misc]
        if d_lr is not None:
            self.d_lr = float(d_lr)  # type: ignore[misc]
        self.stride = 2**n_down  # type: ignore[misc]  # instance value: depends on image_size
        side = image_size // self.stride

        widths = [min(width * 2**i, width * 8) for i in range(n_down)]
        cin = channels + (1 if mask_channel else 0)
        enc: list[nn.Module] = []
        for i, w in enumerate(widths):
            enc.append(_down(cin, w, norm=i > 0))  # no norm on the first layer (DCGAN practice)
            cin = w
        self.encoder = nn.Sequential(*enc)
        self.bottleneck = nn.Sequential(
            ChannelwiseFullyConnected(cin, side, side),
            nn.Conv2d(cin, cin, 1),  # the stride-1 convolution that mixes channels
            nn.ReLU(inplace=True),
        )
        dec: list[nn.Module] = []
        for w in reversed(widths[:-1]):
            dec.append(_up(cin, w))
            cin = w
        dec.append(nn.ConvTranspose2d(cin, channels, 4, stride=2, padding=1))
        self.decoder = nn.Sequential(*dec)

        if self.adversarial_weight > 0:
            from survey_lib.layers.discriminators import GlobalDiscriminator

            norm = "none" if gan_loss == "wgan_gp" else "batch"  # BatchNorm breaks the gradient penalty
            d_width = disc_width or max(width // 2, 4)
            self.discriminators["image"] = GlobalDiscriminator(channels, image_size, d_width, norm=norm)

    @classmethod
    def preset_kwargs(cls, preset: Preset) -> dict[str, Any]:
        """The registry's preset decides the default image size (see ``image_size``)."""
        return {"preset": preset}

    # -- inference ---------------------------------------------------------------------
    def check_inputs(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The base checks, plus the fixed size the fully connected bottleneck was built for."""
        image, mask = super().check_inputs(image, mask)
        if tuple(image.shape[-2:]) != (self.image_size, self.image_size):
            raise InputError(
                f"{self.name} was built for {self.image_size}x{self.image_size} images (its fully "
                f"connected bottleneck fixes the size), got {image.shape[-2]}x{image.shape[-1]}; "
                f"resize, or build it with image_size={image.shape[-1]}"
            )
        return image, mask

    def _predict(self, blanked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([blanked, mask], 1) if self.mask_channel else blanked
        return torch.sigmoid(self.decoder(self.bottleneck(self.encoder(x))))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Full-image prediction in [0, 1]; the hole of ``image`` is blanked again here."""
        image, mask = self.check_inputs(image, mask)
        return self._predict(image * (1 - mask), mask)

    # -- training ------------------------------------------------------------------------
    def reconstruction_weights(self, mask: torch.Tensor) -> torch.Tensor:
        """Per-pixel L2 weights: 1 in the hole, 10 on the known ``overlap`` band, 0 elsewhere."""
        if self.overlap == 0:
            return mask
        k = 2 * self.overlap + 1
        grown = F.max_pool2d(mask, k, stride=1, padding=self.overlap)
        return mask + OVERLAP_WEIGHT * (grown - mask)

    def reconstruction_loss(self, pred: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Weighted mean squared error (weights from :meth:`reconstruction_weights`)."""
        w = self.reconstruction_weights(mask).expand_as(image)
        return (w * (pred - image) ** 2).sum() / w.sum().clamp_min(1e-8)

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        pred = self._predict(image * (1 - mask), mask)
        lam = self.adversarial_weight
        losses = {"l2": (1 - lam) * self.reconstruction_loss(pred, image, mask)}
        if lam > 0:
            fake = mask * pred + (1 - mask) * image
            losses["adv"] = lam * g_loss(self.gan_loss, self.discriminators["image"](fake))
        return losses

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.adversarial_weight == 0:
            return {}
        image, mask = self.check_inputs(image, mask)
        with torch.no_grad():
            pred = self._predict(image * (1 - mask), mask)
        fake = mask * pred + (1 - mask) * image
        disc = self.discriminators["image"]
        losses = {"adv": d_loss(self.gan_loss, disc(image), disc(fake))}
        if self.gan_loss == "wgan_gp":
            losses["gp"] = GP_WEIGHT * gradient_penalty(disc, image, fake)
        return losses
