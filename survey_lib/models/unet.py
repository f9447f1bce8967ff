"""One U-Net, three convolutions: vanilla, partial (PConv) and gated (DeepFill v2) — survey §2.4.

The only thing that changes between the three models is the layer type, chosen by one
argument, so a comparison between them measures the convolution and nothing else:
same depth, same widths, same skip connections, same loss, same training budget.

Architecture (``depth`` = D levels; widths ``w, 2w, 4w, 8w, 8w, ...``):

* encoder: D stride-2 layers, each halving H and W, with PConv's kernel sizes: 7×7, then
  5×5, 5×5, then 3×3 for every deeper level (:func:`pconv_kernels`; Liu et al. 2018,
  table of the network). All three layer types use the same sizes, so a comparison still
  changes nothing but the layer; ``kernels=`` overrides them (e.g. ``(5, 3, 3, 3)``, the
  layout this library used before, closer to DeepFill v2's 5×5-then-3×3 encoder);
* decoder: D layers, each upsampling ×2 (nearest), concatenating the encoder map of the
  same resolution (the last one concatenates the network input), then a 3×3 layer; the
  last layer outputs the image channels with no normalisation and no activation, then a
  sigmoid gives [0, 1]. ``stride = 2**D``: inputs must be divisible by it.

Per convolution type (defaults follow each paper; ``norm=`` overrides):

* ``"vanilla"``: ``nn.Conv2d`` + BatchNorm (not on the first layer) + ReLU in the encoder,
  LeakyReLU(0.2) in the decoder (PConv's layout with plain convolutions). Two inputs:

  - ``mask_channel=False`` — **PConv's own baseline** (registry name ``unet_paper``): the
    image alone, holes set to mid-grey (127.5 of 255, i.e. ``fill`` 0.5, 0 in [-1, 1]),
    no mask channel: the network must tell hole from grey content by itself;
  - ``mask_channel=True`` (default, registry name ``unet``) — a stronger baseline than the
    paper's: ``[x·(1-m) + fill·m, ones, m]`` in [-1, 1], the same input as gated, so the
    network is told where the hole is.
* ``"partial"``: :class:`~survey_lib.layers.partial.PartialConv2d` in PConv's layout
  (BatchNorm, ReLU / LeakyReLU). Input: the image alone plus its **valid** mask
  ``1 - mask`` — the conversion from the library's 1 = hole happens here, at the
  model's edge; inside, masks are NVIDIA's 1 = known. Encoder layers use one shared
  mask channel; decoder layers use per-channel masks (``multi_channel=True``), because
  the upsampled features and the skip features have different masks. (For a mask
  repeated over channels the two modes give identical ratios, so one channel is enough
  in the encoder and cheaper.) The hole value never reaches the weights.
* ``"gated"``: :class:`~survey_lib.layers.gated.GatedConv2d` with ELU and no
  normalisation (DeepFill v2), the decoder built from
  :class:`~survey_lib.layers.gated.GatedUpsample`, the final layer ungated. Input
  DeepFill's ``[x·(1-m), ones, m]`` in [-1, 1] (hole = 0 = mid-grey). A gated layer has
  **twice the convolution weights** of the others at the same width;
  ``match_params=True`` divides the gated width by √2 so the parameter counts match.

Loss (PConv's pixel terms, via :mod:`survey_lib.losses`): ``valid_weight·L_valid +
hole_weight·L_hole + tv_weight·L_tv`` with 1, 6 and 0.1, L1 normalised over all
elements and TV on the composite over the hole dilated by one pixel. PConv's perceptual
(0.05) and style (120) terms, on the output and on the composite, are available
(``perceptual_weight``, ``style_weight``) but off by default: PConv's VGG16 weights are a
download this course never makes on its own, and the comparison here is between layer
types under one loss.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.data.checks import InputError
from survey_lib.layers.blocks import count_parameters, make_norm
from survey_lib.layers.gated import GatedConv2d, GatedUpsample, deepfill_input
from survey_lib.layers.partial import PartialConv2d
from survey_lib.losses.feature_nets import feature_network
from survey_lib.losses.perceptual import perceptual_and_style
from survey_lib.losses.reconstruction import hole_l1, valid_l1
from survey_lib.losses.smoothness import total_variation
from survey_lib.models.base import Method

__all__ = ["CONV_TYPES", "InpaintUNet", "matched_gated_width", "pconv_kernels", "unet_widths"]

CONV_TYPES = ("vanilla", "partial", "gated")
#: PConv's loss weights for the pixel terms (REFERENCE.md)
PCONV_VALID_WEIGHT, PCONV_HOLE_WEIGHT, PCONV_TV_WEIGHT = 1.0, 6.0, 0.1

Fill = float | torch.Tensor | None


def _check_fill(fill: object, image: torch.Tensor) -> Fill:
    """``fill`` as :meth:`InpaintUNet.forward` takes it: None, a number in [0, 1], or a tensor
    of one element or of ``image``'s shape with values in [0, 1] (what the hole holds is an
    image value; anything else would move the network's input out of its trained range)."""
    if fill is None:
        return None
    if isinstance(fill, torch.Tensor):
        if fill.shape != image.shape and fill.numel() != 1:
            raise InputError(f"fill must be a number or a tensor of shape {tuple(image.shape)}, "
                             f"got {tuple(fill.shape)}")
        if not fill.is_floating_point() or not bool(((fill >= 0) & (fill <= 1)).all()):
            raise InputError("fill must hold floating values in [0, 1] (an image value), got "
                             f"{fill.dtype} values in [{float(fill.min()):g}, {float(fill.max()):g}]")
        return fill
    if isinstance(fill, bool) or not isinstance(fill, (int, float)):
        raise InputError(f"fill must be None, a number in [0, 1] or an image-shaped tensor, got "
                         f"{type(fill).__name__}")
    if not 0.0 <= float(fill) <= 1.0:  # also refuses NaN
        raise InputError(f"fill must lie in [0, 1] (an image value), got {fill!r}")
    return float(fill)


def unet_widths(width: int, depth: int) -> list[int]:
    """Channel widths of the encoder levels: ``width·2^i`` capped at ``8·width``."""
    return [min(width * 2**i, width * 8) for i in range(depth)]


def pconv_kernels(depth: int) -> tuple[int, ...]:
    """PConv's encoder kernel sizes for ``depth`` levels: 7, 5, 5, then 3 for the rest."""
    return (7, 5, 5, *([3] * max(0, depth - 3)))[:depth]


def matched_gated_width(channels: int, width: int, depth: int, norm: str = "none",
                        kernels: tuple[int, ...] | None = None) -> int:
    """The gated-U-Net width whose parameter count is closest to a vanilla U-Net at ``width``.

    A gated layer holds two convolutions' weights, so the answer is about ``width/√2``;
    the few widths around it are built and counted (``norm`` is the gated net's,
    ``kernels`` both nets' encoder kernel sizes, PConv's by default).
    """
    target = count_parameters(InpaintUNet(channels, width, "vanilla", depth, kernels=kernels))
    guess = max(1, round(width / math.sqrt(2)))
    candidates = range(max(1, guess - 2), guess + 3)
    counts = {w: count_parameters(InpaintUNet(channels, w, "gated", depth, norm, kernels=kernels))
              for w in candidates}
    return min(counts, key=lambda w: (abs(counts[w] - target), w))


class _Down(nn.Module):
    """One stride-2 encoder layer of the chosen type; carries the valid mask for partial."""

    def __init__(self, conv: str, cin: int, cout: int, kernel: int, norm: str) -> None:
        super().__init__()
        self.conv_type = conv
        pad = kernel // 2
        if conv == "gated":
            self.layer: nn.Module = GatedConv2d(cin, cout, kernel, 2, pad, activation="elu",
                                                bias=norm == "none")
        elif conv == "partial":
            self.layer = PartialConv2d(cin, cout, kernel, 2, pad, bias=norm == "none")
        else:
            self.layer = nn.Conv2d(cin, cout, kernel, 2, pad, bias=norm == "none")
        self.norm = make_norm(norm, cout)
        self.act = nn.Identity() if conv == "gated" else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, m: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.conv_type == "partial":
            x, m = self.layer(x, m)
        else:
            x = self.layer(x)
        return self.act(self.norm(x)), m


class _Up(nn.Module):
    """Nearest ×2, concatenate the skip, one 3×3 layer; ``last`` = plain output layer."""

    def __init__(self, conv: str, cin: int, cskip: int, cout: int, norm: str, last: bool) -> None:
        super().__init__()
        self.conv_type, self.last = conv, last
        norm = "none" if last else norm
        bias = norm == "none"
        if conv == "gated":
            self.layer: nn.Module = GatedUpsample(cin + cskip, cout, 3, activation=None if last else "elu",
                                                  gated=not last, bias=bias)
        elif conv == "partial":
            self.layer = PartialConv2d(cin + cskip, cout, 3, 1, 1, bias=bias, multi_channel=True)
        else:
            self.layer = nn.Conv2d(cin + cskip, cout, 3, 1, 1, bias=bias)
        self.norm = make_norm(norm, cout)
        self.act = nn.Identity() if (last or conv == "gated") else nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor, m: torch.Tensor | None, skip: torch.Tensor,
                skip_m: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.conv_type == "gated":
            return self.layer(x, skip), None
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = torch.cat([x, skip], dim=1)
        if self.conv_type == "partial":
            assert m is not None and skip_m is not None
            m = F.interpolate(m, scale_factor=2.0, mode="nearest")
            b, _, h, w = x.shape
            full_m = torch.cat([m.expand(b, x.shape[1] - skip.shape[1], h, w),
                                skip_m.expand(b, skip.shape[1], h, w)], dim=1)
            x, m = self.layer(x, full_m)
            m = m[:, :1]  # every output channel has the same updated mask
        else:
            x = self.layer(x)
        return self.act(self.norm(x)), m


class InpaintUNet(Method):
    """U-Net inpainter with ``conv="vanilla" | "partial" | "gated"`` layers (see module doc).

    Args:
        channels: image channels (1 or 3).
        width: channels of the first level (doubling per level, capped at 8×).
        conv: the layer type.
        depth: number of stride-2 levels; ``stride = 2**depth``.
        norm: ``"auto"`` (BatchNorm for vanilla/partial as in PConv, none for gated as in
            DeepFill v2), or ``"batch"``, ``"instance"``, ``"none"`` for all three.
        kernels: encoder kernel sizes, one odd size per level; default PConv's
            (:func:`pconv_kernels`: 7, 5, 5, 3, ...).
        mask_channel: for ``conv="vanilla"``: ``True`` feeds ``[x, ones, m]`` (the library's
            mask-fed baseline, ``unet``); ``False`` feeds the image alone with the hole at
            mid-grey, as PConv's vanilla baseline (``unet_paper``). Only vanilla may drop it.
        match_params: for ``conv="gated"``, use the width near ``width/√2`` whose parameter
            count is closest to the vanilla U-Net's at ``width`` (:func:`matched_gated_width`).
        valid_weight, hole_weight, tv_weight: loss weights (PConv: 1, 6, 0.1).
        perceptual_weight, style_weight: PConv's feature losses (0.05 and 120 in the paper),
            each applied to the raw output and to the composite; off by default.
        feature_net: the loss network for them (:func:`survey_lib.losses.feature_nets.feature_network`
            kind: ``"vgg16"`` as PConv — ImageNet weights installed with the environment by
            ``python -m survey_lib.tools.install_weights`` — or the labelled alternatives
            ``"random"`` / ``"trained"``, for the lesson on which features matter).
    """

    name: ClassVar[str] = "unet"
    #: PConv trained at 2e-4 for hundreds of thousands of steps; our budgets are hundreds
    lr: ClassVar[float] = 5e-4
    betas: ClassVar[tuple[float, float]] = (0.9, 0.999)

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        conv: str = "vanilla",
        depth: int = 4,
        norm: str = "auto",
        match_params: bool = False,
        kernels: tuple[int, ...] | None = None,
        mask_channel: bool = True,
        valid_weight: float = PCONV_VALID_WEIGHT,
        hole_weight: float = PCONV_HOLE_WEIGHT,
        tv_weight: float = PCONV_TV_WEIGHT,
        perceptual_weight: float = 0.0,
        style_weight: float = 0.0,
        feature_net: str = "vgg16",
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if conv not in CONV_TYPES:
            raise ValueError(f"conv must be one of {CONV_TYPES}, got {conv!r}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if not mask_channel and conv != "vanilla":
            raise ValueError(f"mask_channel=False is only for conv='vanilla' (PConv's baseline); "
                             f"the {conv} layers need the mask")
        kernels = pconv_kernels(depth) if kernels is None else tuple(int(k) for k in kernels)
        if len(kernels) != depth or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must hold {depth} odd sizes >= 1 (one per level), got {kernels}")
        self.channels, self.conv_type, self.depth = channels, conv, depth
        self.kernels, self.mask_channel = kernels, mask_channel
        self.name = {"vanilla": "unet" if mask_channel else "unet_paper",  # type: ignore[misc]
                     "partial": "pconv", "gated": "gated"}[conv]
        self.stride = 2**depth  # type: ignore[misc]
        if norm == "auto":
            norm = "none" if conv == "gated" else "batch"
        self.norm = norm
        if match_params and conv == "gated":
            width = matched_gated_width(channels, width, depth, norm, kernels)
        self.width = width
        self.valid_weight, self.hole_weight, self.tv_weight = valid_weight, hole_weight, tv_weight
        if perceptual_weight < 0 or style_weight < 0:
            raise ValueError("perceptual_weight and style_weight must be >= 0")
        self.perceptual_weight, self.style_weight, self.feature_net = perceptual_weight, style_weight, feature_net

        widths = unet_widths(width, depth)
        in_ch = channels if (conv == "partial" or not mask_channel) else channels + 2
        self.encoder = nn.ModuleList()
        cin = in_ch
        for i, w in enumerate(widths):
            self.encoder.append(_Down(conv, cin, w, kernels[i], "none" if i == 0 else norm))
            cin = w
        self.decoder = nn.ModuleList()
        skips = [in_ch, *widths[:-1]]  # skip channels for decoder levels D-1 .. 0, reversed
        for j in reversed(range(depth)):
            last = j == 0
            cout = channels if last else widths[j - 1]
            self.decoder.append(_Up(conv, cin, skips[j], cout, norm, last))
            cin = cout

    # -- inference ---------------------------------------------------------------------
    def _network_input(self, image: torch.Tensor, mask: torch.Tensor,
                       fill: Fill) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.conv_type == "partial" or not self.mask_channel:
            hole_value = 0.5 if fill is None else fill  # 0.5 = PConv's 127.5 of 255
            x = (image * (1 - mask) + hole_value * mask) * 2.0 - 1.0
            if not self.mask_channel:
                return x, None  # PConv's vanilla baseline: the image alone, no mask
            return x, 1.0 - mask  # library mask (1 = hole) -> NVIDIA's valid mask (1 = known)
        return deepfill_input(image, mask, symmetric=True, fill=fill), None

    def _predict(self, image: torch.Tensor, mask: torch.Tensor, fill: Fill = None) -> torch.Tensor:
        x, m = self._network_input(image, mask, fill)
        feats: list[tuple[torch.Tensor, torch.Tensor | None]] = [(x, m)]
        for down in self.encoder:
            x, m = down(x, m)
            feats.append((x, m))
        for k, up in enumerate(self.decoder):
            skip, skip_m = feats[self.depth - 1 - k]
            x, m = up(x, m, skip, skip_m)
        return torch.sigmoid(x)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, fill: Fill = None) -> torch.Tensor:
        """Full-image prediction in [0, 1] from ``image`` (its hole is ignored) and ``mask`` (1 = hole).

        ``fill`` sets what the hole holds before the network sees it (a number in [0, 1]
        or an image-shaped tensor; default 0.5, i.e. 0 in the network's [-1, 1] range).
        A partial-convolution U-Net's output does not depend on it; the others' does.
        """
        image, mask = self.check_inputs(image, mask)
        return self._predict(image, mask, _check_fill(fill, image))

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
        if self.perceptual_weight > 0 or self.style_weight > 0:
            net = feature_network(self.feature_net, self.channels)
            perc_out, style_out = perceptual_and_style(pred, image, net)
            perc_comp, style_comp = perceptual_and_style(comp, image, net)
            if self.perceptual_weight > 0:
                losses["perceptual"] = self.perceptual_weight * (perc_out + perc_comp)
            if self.style_weight > 0:
                losses["style"] = self.style_weight * (style_out + style_comp)
        return losses

    def parameter_count(self) -> int:
        """Trainable parameters (gated U-Nets have about twice as many at the same width)."""
        return count_parameters(self)

