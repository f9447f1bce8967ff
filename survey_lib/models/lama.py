"""LaMa (Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier
Convolutions", WACV 2022), compact — survey §2.4.

LaMa's generator is a plain ResNet-style encoder/decoder whose residual blocks use
**fast Fourier convolutions** (:mod:`survey_lib.layers.fourier`): three quarters of the
channels of every block go through a convolution in the frequency domain, so each
block sees the whole image. That is LaMa's answer to large masks (the centre of a
big hole needs context from far away) and to periodic structure (bricks, fences,
textures are peaks in the spectrum), and it is why the model, trained at 256², still
works at 1–2k pixels: a global spectral filter does not care how many pixels it spans.

Generator (LaMa's ``FFCResNetGenerator``, shrunk by ``width`` and ``n_blocks``):

* input ``[img·(1-m), m]`` (C+1 channels; images in [0, 1], mask 1 = hole);
* reflect-pad 3 + 7×7 conv + BN + ReLU at ``width`` channels;
* ``n_downsampling`` (3, as in LaMa) stride-2 3×3 conv + BN + ReLU, width doubling
  (capped at 8·width); the last one splits its output into local/global parts;
* ``n_blocks`` FFC residual blocks with global ratio ``ratio`` (0.75; LaMa-Fourier has 9,
  Big-LaMa 18; the presets use fewer: smoke 1, cpu 3, gpu 9);
* concatenate the parts, ``n_downsampling`` transposed 3×3 stride-2 convs + BN + ReLU,
  reflect-pad 3 + 7×7 conv to C channels, sigmoid.

``ratio=0`` builds the same network with ordinary convolutions only — LaMa's own
ablation baseline, used in the notebook to isolate what the Fourier part does.

Loss. LaMa trains with L1 on the *known* pixels ×10, a high-receptive-field perceptual
loss ×30 (a pretrained segmentation network), a non-saturating adversarial loss ×10
with an R1 penalty (γ/2 = 0.001) and discriminator feature matching ×100. Without
pretrained weights (never downloaded here) the hole would get no pixel supervision, so
the default here is the same loss as the U-Nets of this chapter — PConv's valid L1 ×1 +
hole L1 ×6 + TV ×0.1 — which keeps the comparison fair and the model trainable on a
CPU. ``adversarial_weight > 0`` adds an SN-PatchGAN (on ``[image, mask]``) with the
non-saturating loss, R1 and (``feature_matching_weight``) feature matching, as LaMa.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from survey_lib.config import Preset, get_preset
from survey_lib.layers.blocks import count_parameters
from survey_lib.layers.fourier import FFC_BN_ACT, FFCPair, FFCResnetBlock, concat_pair
from survey_lib.losses.adversarial import ADVERSARIAL, d_loss, feature_matching, g_loss, r1_penalty
from survey_lib.losses.reconstruction import hole_l1, valid_l1
from survey_lib.losses.smoothness import total_variation
from survey_lib.models.base import Method

__all__ = ["LAMA_RATIO", "LaMa", "LamaGenerator", "PRESET_BLOCKS"]

#: LaMa's global channel fraction in the residual blocks
LAMA_RATIO = 0.75
#: residual blocks per preset (LaMa-Fourier: 9)
PRESET_BLOCKS = {"smoke": 1, "cpu": 3, "gpu": 9}
#: LaMa's R1 weight (γ/2)
LAMA_R1_WEIGHT = 0.001


class LamaGenerator(nn.Module):
    """LaMa's FFC ResNet generator: ``(B, in_channels, H, W) -> (B, out_channels, H, W)`` logits."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, n_downsampling: int = 3,
                 n_blocks: int = 9, ratio: float = LAMA_RATIO, max_width: int | None = None) -> None:
        super().__init__()
        if n_downsampling < 0 or n_blocks < 0:
            raise ValueError(f"n_downsampling and n_blocks must be >= 0, got {n_downsampling}, {n_blocks}")
        max_width = max_width or 8 * width
        self.stride = 2**n_downsampling
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), FFC_BN_ACT(in_channels, width, 7, padding=0))
        self.down = nn.ModuleList()
        ch = width
        for i in range(n_downsampling):
            out = min(max_width, width * 2 ** (i + 1))
            ratio_gout = ratio if i == n_downsampling - 1 else 0.0
            self.down.append(FFC_BN_ACT(ch, out, 3, 0.0, ratio_gout, stride=2, padding=1))
            ch = out
        self.blocks = nn.ModuleList(FFCResnetBlock(ch, ratio) for _ in range(n_blocks))
        up: list[nn.Module] = []
        for i in range(n_downsampling):
            out = min(max_width, width * 2 ** (n_downsampling - i - 1))
            up += [nn.ConvTranspose2d(ch, out, 3, stride=2, padding=1, output_padding=1),
                   nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        self.up = nn.Sequential(*up)
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pair: torch.Tensor | FFCPair = self.stem(x)
        for layer in self.down:
            pair = layer(pair)
        for block in self.blocks:
            pair = block(pair)
        return self.head(self.up(concat_pair(pair)))


class LaMa(Method):
    """Compact LaMa: FFC ResNet generator + (optionally) SN-PatchGAN; see the module docstring.

    Args:
        channels, width: image channels and base width (LaMa: 64).
        n_blocks: FFC residual blocks (default from the preset: smoke 1, cpu 3, gpu 9).
        n_downsampling: stride-2 stages (3 as in LaMa; ``stride = 2**n_downsampling``).
        ratio: global channel fraction of the residual blocks (0.75; 0 = plain convolutions).
        valid_weight, hole_weight, tv_weight: pixel loss weights (as the U-Nets: 1, 6, 0.1).
        adversarial_weight: weight of the non-saturating generator loss (0 = no discriminator).
        feature_matching_weight: discriminator feature matching (LaMa: 10× the adversarial weight).
        r1_weight: R1 penalty weight on real images (LaMa: 0.001).
        image_size: training image side, used only to size the discriminator.
    """

    name: ClassVar[str] = "lama"
    lr: ClassVar[float] = 1e-3
    betas: ClassVar[tuple[float, float]] = (0.9, 0.999)
    d_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        n_blocks: int | None = None,
        n_downsampling: int = 3,
        ratio: float = LAMA_RATIO,
        valid_weight: float = 1.0,
        hole_weight: float = 6.0,
        tv_weight: float = 0.1,
        adversarial_weight: float = 0.0,
        feature_matching_weight: float = 0.0,
        r1_weight: float = LAMA_R1_WEIGHT,
        gan_loss: str = "nsgan",
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if gan_loss not in ADVERSARIAL:
            raise ValueError(f"gan_loss must be one of {ADVERSARIAL}, got {gan_loss!r}")
        if adversarial_weight < 0 or feature_matching_weight < 0:
            raise ValueError("adversarial_weight and feature_matching_weight must be >= 0")
        preset = get_preset()
        if n_blocks is None:
            n_blocks = PRESET_BLOCKS.get(preset.name, 9)
        self.channels, self.n_blocks, self.ratio = channels, n_blocks, ratio
        self.generator = LamaGenerator(channels + 1, channels, width, n_downsampling, n_blocks, ratio)
        self.stride = self.generator.stride  # type: ignore[misc]
        self.valid_weight, self.hole_weight, self.tv_weight = valid_weight, hole_weight, tv_weight
        self.adversarial_weight, self.feature_matching_weight = adversarial_weight, feature_matching_weight
        self.r1_weight, self.gan_loss = r1_weight, gan_loss
        if adversarial_weight > 0 or feature_matching_weight > 0:
            from survey_lib.layers.discriminators import SNPatchGAN

            size = image_size or (preset.glyph_size if channels == 1 else preset.image_size)
            self.discriminators["patch"] = SNPatchGAN(channels + 1, width, size=size)

    @classmethod
    def preset_kwargs(cls, preset: Preset) -> dict[str, Any]:
        return {"n_blocks": PRESET_BLOCKS.get(preset.name, 9)}

    # -- inference ---------------------------------------------------------------------
    def _predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image * (1 - mask), mask], dim=1)
        return torch.sigmoid(self.generator(x))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Full-image prediction in [0, 1]; works at any size divisible by ``stride``."""
        image, mask = self.check_inputs(image, mask)
        return self._predict(image, mask)

    def parameter_count(self) -> int:
        """Trainable parameters of the generator."""
        return count_parameters(self.generator)

    # -- training ------------------------------------------------------------------------
    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        pred = self._predict(image, mask)
        losses = {
            "valid_l1": self.valid_weight * valid_l1(pred, image, mask),
            "hole_l1": self.hole_weight * hole_l1(pred, image, mask),
        }
        comp = mask * pred + (1 - mask) * image
        if self.tv_weight > 0:
            losses["tv"] = self.tv_weight * total_variation(comp, mask)
        if "patch" in self.discriminators:
            disc = self.discriminators["patch"]
            fake_feats = disc.features(pred, mask)
            if self.adversarial_weight > 0:
                losses["adv"] = self.adversarial_weight * g_loss(self.gan_loss, fake_feats[-1])
            if self.feature_matching_weight > 0:
                with torch.no_grad():
                    real_feats = disc.features(image, mask)
                losses["fm"] = self.feature_matching_weight * feature_matching(real_feats, fake_feats)
        return losses

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if "patch" not in self.discriminators:
            return {}
        image, mask = self.check_inputs(image, mask)
        with torch.no_grad():
            pred = self._predict(image, mask)
        disc = self.discriminators["patch"]
        real = image.detach().requires_grad_(self.r1_weight > 0)
        real_logits = disc(real, mask)
        losses = {"d": d_loss(self.gan_loss, real_logits, disc(pred, mask))}
        if self.r1_weight > 0:
            losses["r1"] = self.r1_weight * r1_penalty(real_logits, real)
        return losses
