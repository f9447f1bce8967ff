"""DeepFill v1 (Yu et al., CVPR 2018): coarse-to-fine with contextual attention (survey §2.1.1, §2.3).

Two ideas in one network:

* **Coarse-to-fine** (§2.1.1). A *coarse* encoder-decoder (stride 4, dilated
  convolutions in the middle for a large receptive field) makes a first, blurry guess
  of the hole, trained with a reconstruction loss only. Its guess is pasted into the
  hole and a *refinement* network starts again from that more complete image: it no
  longer has to invent the content from nothing, only to correct and sharpen it.
* **Contextual attention** (§2.3). The refinement network has two parallel encoders:
  one of dilated convolutions (what any CNN would do), one ending in a contextual
  attention layer (:mod:`survey_lib.layers.contextual_attention`) that lets every hole
  position *copy* the features of the known patches it matches best -- the learned
  version of exemplar-based patch copying. Their outputs are concatenated and decoded.

``DeepFillV1(attention=False)`` keeps every layer and parameter but skips the attention
operation (the attention branch becomes plain convolutions): the fair "with vs without
attention" ablation of the notebook, registered as ``coarse_to_fine``.

Losses (as in the paper, on **both** stages): the spatially discounted L1 on the hole
(``survey_lib.losses.reconstruction.spatially_discounted_l1``: far from the border many
fillings are plausible, so errors there count less) plus 1.2 x the L1 on the
known pixels (the paper's ``ae_loss`` weight); both averaged over their region
(``normalize="region"``) so they do not depend on the hole size. The paper adds a WGAN-GP
global + local adversarial loss; we offer DeepFill v2's SN-PatchGAN with the hinge loss
instead (``adversarial_weight > 0``). It is **off by default**: at the smoke/cpu presets'
budgets (hundreds of steps at 32-64 px) a GAN term mostly adds noise to a comparison
that is about copying, and it doubles the cost of every step.

Which γ: the paper states γ = 0.99, the authors' released config trains with 0.9. This
model uses the **released 0.9** by default (``DEEPFILL_GAMMA``): on this course's 32-128 px
images holes are only 10-40 px deep, where 0.99^d stays near 1 and would hardly discount;
``gamma=0.99`` (``DEEPFILL_GAMMA_PAPER``) gives the paper's value.

Sizes are scaled down from the paper (its width is 32 at 256 px with 4x that at the
bottleneck): ``width`` is the first layer's channel count, the 1/4-resolution layers
have ``4 * width``. Activations are ELU as in the paper; the output is a sigmoid
(the paper clips to [-1, 1]) so predictions lie in [0, 1].
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.config import get_preset
from survey_lib.layers.contextual_attention import ContextualAttention
from survey_lib.losses.reconstruction import DEEPFILL_GAMMA, spatially_discounted_l1, valid_l1
from survey_lib.models.base import Method

#: weight of the known-pixel L1 relative to the discounted hole L1 (DeepFill v1's ae_loss_alpha)
VALID_WEIGHT = 1.2
#: dilation rates of the middle layers (the paper uses 2, 4, 8, 16 at 256 px; 16 would
#: exceed the 1/4-resolution map of a 64 px image)
DILATIONS = (2, 4, 8)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, act: bool = True) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation)]
    if act:
        layers.append(nn.ELU())
    return nn.Sequential(*layers)


def _up(cin: int, cout: int) -> nn.Sequential:
    """Nearest x2 upsampling then a 3x3 conv (the paper's resize-convolution)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), *_conv(cin, cout))


def _encoder(cin: int, width: int) -> list[nn.Module]:
    """5x5 conv, then two stride-2 stages: (B, cin, H, W) -> (B, 4w, H/4, W/4)."""
    return [_conv(cin, width, 5), _conv(width, 2 * width, 3, 2), _conv(2 * width, 2 * width),
            _conv(2 * width, 4 * width, 3, 2), _conv(4 * width, 4 * width)]


def _decoder(cin: int, width: int, channels: int) -> list[nn.Module]:
    """(B, cin, H/4, W/4) -> (B, channels, H, W) logits."""
    return [_conv(cin, 4 * width), _up(4 * width, 2 * width), _conv(2 * width, 2 * width),
            _up(2 * width, width), _conv(width, max(width // 2, 1)),
            _conv(max(width // 2, 1), channels, act=False)]


class CoarseNetwork(nn.Module):
    """Stage 1: encoder, dilated middle, decoder; input ``[x, ones, mask]``."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        w4 = 4 * width
        self.net = nn.Sequential(
            *_encoder(channels + 2, width),
            *[_conv(w4, w4, dilation=d) for d in DILATIONS],
            *_decoder(w4, width, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class RefinementNetwork(nn.Module):
    """Stage 2: a dilated-conv branch and a contextual-attention branch, one decoder."""

    def __init__(self, channels: int, width: int, attention: bool, rate: int) -> None:
        super().__init__()
        w4 = 4 * width
        self.conv_branch = nn.Sequential(
            *_encoder(channels + 2, width), *[_conv(w4, w4, dilation=d) for d in DILATIONS]
        )
        self.attention_in = nn.Sequential(*_encoder(channels + 2, width))
        # ReLU before matching, as in the paper: non-negative features to compare
        self.attention_pre = nn.Sequential(nn.Conv2d(w4, w4, 3, padding=1), nn.ReLU())
        self.attention = ContextualAttention(rate=rate, mask_downsample="max") if attention else None
        self.attention_out = nn.Sequential(_conv(w4, w4), _conv(w4, w4))
        self.decoder = nn.Sequential(*_decoder(2 * w4, width, channels))

    def features_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The hole at the 1/4-resolution feature size: a cell is hole if any pixel is."""
        return F.max_pool2d(mask, 4)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        conv_feats = self.conv_branch(x)
        a = self.attention_pre(self.attention_in(x))
        weights = None
        if self.attention is not None:
            small = self.features_mask(mask)
            if return_attention:
                a, weights = self.attention(a, a, small, return_attention=True)
            else:
                a = self.attention(a, a, small)
        a = self.attention_out(a)
        return self.decoder(torch.cat([conv_feats, a], dim=1)), weights


class DeepFillV1(Method):
    """Two-stage coarse-to-fine generator with an optional contextual-attention branch.

    Args:
        channels: image channels (1 or 3).
        width: channels of the first layer (the 1/4-resolution layers have 4x).
        attention: use the contextual attention layer in the refinement network;
            ``False`` gives the same network without it (``coarse_to_fine``).
        attention_rate: the layer's ``rate``: it matches on a grid of H/(4r) x W/(4r)
            cells and pastes patches of 2r x 2r feature pixels (8r x 8r image pixels).
            The paper uses 2 on 256 px images (a 32 x 32 grid); our images are 32-128 px,
            so the default 1 keeps the grid as fine relative to the image (32 x 32 at
            128 px). With 2 at 64 px the grid is 8 x 8 cells of 8 pixels and a 3 x 3
            patch spans 24 pixels: most patches touch a large hole and are masked out.
        adversarial_weight: weight of the SN-PatchGAN hinge term (0 = none, the default).
        gamma: the spatial discount; 0.9 as the released config (default), 0.99 as the paper.
        image_size: training size, only used to choose the discriminator's depth
            (default: the preset's ``image_size``).
    """

    name: ClassVar[str] = "deepfill_v1"
    stride: ClassVar[int] = 4  # 4 * attention_rate (set per instance)

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        attention: bool = True,
        attention_rate: int = 1,
        adversarial_weight: float = 0.0,
        valid_weight: float = VALID_WEIGHT,
        gamma: float = DEEPFILL_GAMMA,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}")
        self.name = "deepfill_v1" if attention else "coarse_to_fine"  # type: ignore[misc]
        self.stride = 4 * attention_rate  # type: ignore[misc]  # the attention grid must be whole
        self.channels, self.use_attention, self.attention_rate = channels, attention, attention_rate
        self.adversarial_weight, self.valid_weight, self.gamma = float(adversarial_weight), valid_weight, gamma
        self.coarse = CoarseNetwork(channels, width)
        self.refine = RefinementNetwork(channels, width, attention, attention_rate)
        if self.adversarial_weight > 0:
            from survey_lib.layers.discriminators import SNPatchGAN

            size = image_size or get_preset().image_size
            self.discriminators["patch"] = SNPatchGAN(channels + 1, width=2 * width, size=size)

    # -- inference ---------------------------------------------------------------------
    def _stages(
        self, blanked: torch.Tensor, mask: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        ones = torch.ones_like(mask)
        coarse = torch.sigmoid(self.coarse(torch.cat([blanked, ones, mask], 1)))
        filled = mask * coarse + (1 - mask) * blanked
        logits, weights = self.refine(torch.cat([filled, ones, mask], 1), mask, return_attention)
        return coarse, torch.sigmoid(logits), weights

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The refined prediction (B, C, H, W) in [0, 1]; the hole is blanked again here."""
        image, mask = self.check_inputs(image, mask)
        return self._stages(image * (1 - mask), mask)[1]

    def forward_stages(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(coarse, refined)`` raw predictions: the coarse-vs-refined comparison (claim 6)."""
        image, mask = self.check_inputs(image, mask)
        coarse, refined, _ = self._stages(image * (1 - mask), mask)
        return coarse, refined

    def attention_map(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The refinement's attention weights (B, L, H/s, W/s) and s, image pixels per cell.

        Feed the weights to :func:`survey_lib.layers.contextual_attention.attention_offsets`
        and multiply the result by ``s`` for image coordinates.
        """
        if not self.use_attention:
            raise RuntimeError(f"{self.name} was built with attention=False: there is no attention map")
        image, mask = self.check_inputs(image, mask)
        weights = self._stages(image * (1 - mask), mask, return_attention=True)[2]
        assert weights is not None
        return weights, self.stride

    # -- training ------------------------------------------------------------------------
    def _reconstruction(self, pred: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hole = spatially_discounted_l1(pred, image, mask, gamma=self.gamma, normalize="region")
        valid = valid_l1(pred, image, mask, normalize="region")
        return hole, self.valid_weight * valid

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        coarse, refined, _ = self._stages(image * (1 - mask), mask)
        losses: dict[str, torch.Tensor] = {}
        losses["coarse_hole"], losses["coarse_valid"] = self._reconstruction(coarse, image, mask)
        losses["refine_hole"], losses["refine_valid"] = self._reconstruction(refined, image, mask)
        if self.adversarial_weight > 0:
            from survey_lib.losses.adversarial import g_loss

            fake = mask * refined + (1 - mask) * image
            losses["adv"] = self.adversarial_weight * g_loss("hinge", self.discriminators["patch"](fake, mask))
        return losses

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.adversarial_weight == 0:
            return {}
        from survey_lib.losses.adversarial import d_loss

        image, mask = self.check_inputs(image, mask)
        with torch.no_grad():
            refined = self._stages(image * (1 - mask), mask)[1]
        fake = mask * refined + (1 - mask) * image
        disc = self.discriminators["patch"]
        return {"d": d_loss("hinge", disc(image, mask), disc(fake, mask))}
