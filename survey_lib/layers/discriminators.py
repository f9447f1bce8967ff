"""Discriminators of the survey's adversarial losses (§4), shared by every GAN method.

* :class:`PatchDiscriminator` — pix2pix's PatchGAN (Isola et al., CVPR 2017): a stack of
  4x4 convolutions whose output is a *map* of logits, one per overlapping patch, so the
  adversarial signal is local (texture, sharpness) rather than global.
* :class:`SNPatchGAN` — DeepFill v2 (Yu et al., ICCV 2019): six 5x5 stride-2
  spectral-norm convolutions with LeakyReLU(0.2) on ``[image, mask]``; every element
  of the final feature map is a logit (trained with the hinge loss).
* :class:`GlobalDiscriminator`, :class:`LocalDiscriminator`,
  :class:`GlobalLocalDiscriminator` — Iizuka et al. (SIGGRAPH 2017): one network sees
  the whole image, one a fixed-size crop around the hole; their feature vectors are
  concatenated into one real/fake logit. :func:`crop_around_hole` makes the crops.

Every discriminator has ``forward(x) -> logits`` and ``features(x) -> list[Tensor]``
(the intermediate activations, for the feature-matching loss). All of them work from
32x32 inputs up: the global/local ones choose their depth from the input size they
are built for; the patch ones only need a minimum size (checked, with a clear message).

The discriminators take any number of input channels (``in_channels``): a caller that
conditions on the mask concatenates it itself, or passes ``mask=`` to ``forward`` where
that is offered, and builds the network with ``in_channels = C + 1``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from survey_lib.data.checks import InputError

__all__ = [
    "PatchDiscriminator",
    "SNPatchGAN",
    "GlobalDiscriminator",
    "LocalDiscriminator",
    "GlobalLocalDiscriminator",
    "crop_around_hole",
    "hole_boxes",
]

NORMS = ("batch", "instance", "none")


def _conv(cin: int, cout: int, k: int, s: int, p: int, spectral: bool, bias: bool = True) -> nn.Module:
    conv = nn.Conv2d(cin, cout, k, s, p, bias=bias)
    return spectral_norm(conv) if spectral else conv


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def _check_input(x: object, in_channels: int, who: str, min_size: int) -> torch.Tensor:
    """Discriminator inputs: a (B, in_channels, H, W) floating tensor, at least ``min_size``."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{who} expects a tensor (B, {in_channels}, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(f"{who} expects shape (B, {in_channels}, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{who} expects a floating-point tensor, got dtype {x.dtype}")
    if x.shape[1] != in_channels:
        raise InputError(
            f"{who} was built for {in_channels} input channels, got {x.shape[1]} (shape "
            f"{tuple(x.shape)}); if it conditions on the mask, concatenate it: "
            "torch.cat([image, mask], 1) and build with in_channels = C + 1"
        )
    if min(x.shape[-2:]) < min_size:
        raise InputError(f"{who} needs inputs of at least {min_size}x{min_size}, got {tuple(x.shape[-2:])}")
    return x


def _with_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x
    if not isinstance(mask, torch.Tensor) or mask.ndim != 4 or mask.shape[1] != 1:
        raise InputError(f"mask must be a (B, 1, H, W) tensor, got {getattr(mask, 'shape', type(mask))}")
    if mask.shape[0] != x.shape[0] or mask.shape[-2:] != x.shape[-2:]:
        raise InputError(f"mask of shape {tuple(mask.shape)} does not match input of shape {tuple(x.shape)}")
    return torch.cat([x, mask.to(x.dtype)], 1)


class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN: a map of real/fake logits, one per overlapping patch.

    ``n_layers`` 4x4 stride-2 convolutions (width doubling, capped at 8x), one 4x4
    stride-1 convolution and a final 4x4 stride-1 convolution to one channel. With
    ``n_layers=3`` each logit sees a 70x70 patch (the "70x70 PatchGAN"); the output of
    an HxW input is about (H/2^n - 2) x (W/2^n - 2), so inputs must be at least
    ``3 * 2**n_layers`` pixels (24 for the default, so 32x32 works).

    ``norm`` defaults to BatchNorm as in pix2pix, or to no normalisation when
    ``spectral=True`` (spectral norm then bounds each layer instead). Use
    ``norm="none"`` or ``"instance"`` with the WGAN gradient penalty, which is defined
    per sample and is broken by BatchNorm's mixing of the batch.
    """

    def __init__(
        self,
        in_channels: int,
        width: int = 64,
        n_layers: int = 3,
        spectral: bool = False,
        norm: str | None = None,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        norm = norm if norm is not None else ("none" if spectral else "batch")
        _norm(norm, 1)  # validates the name
        self.in_channels, self.n_layers = in_channels, n_layers
        self.min_size = 3 * 2**n_layers
        act = lambda: nn.LeakyReLU(0.2, inplace=False)  # noqa: E731
        blocks: list[nn.Module] = [nn.Sequential(_conv(in_channels, width, 4, 2, 1, spectral), act())]
        ch = width
        for i in range(1, n_layers):
            out = width * min(2**i, 8)
            blocks.append(nn.Sequential(_conv(ch, out, 4, 2, 1, spectral, bias=norm == "none"),
                                        _norm(norm, out), act()))
            ch = out
        out = width * min(2**n_layers, 8)
        blocks.append(nn.Sequential(_conv(ch, out, 4, 1, 1, spectral, bias=norm == "none"),
                                    _norm(norm, out), act()))
        self.blocks = nn.ModuleList(blocks)
        self.head = _conv(out, 1, 4, 1, 1, spectral)

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Activations after every block (for feature matching); the last item is the logit map."""
        h = _check_input(_with_mask(x, mask), self.in_channels, type(self).__name__, self.min_size)
        feats = []
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        feats.append(self.head(h))
        return feats

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logit map (B, 1, h, w); ``mask`` (optional) is concatenated to ``x`` first."""
        return self.features(x, mask)[-1]


class SNPatchGAN(nn.Module):
    """DeepFill v2's spectral-normalised PatchGAN.

    Six 5x5 stride-2 spectral-norm convolutions, each followed by LeakyReLU(0.2), widths
    ``w, 2w, 4w, 4w, 4w, 4w`` (``w = 64`` in the paper). As in DeepFill v2, *every*
    element of the last feature map (all ``4w`` channels at each position) is a logit:
    the output is (B, 4w, ceil(H/64), ceil(W/64)) and the hinge loss averages over all
    of it. DeepFill v2 feeds ``[image, mask]``: build with ``in_channels = C + 1`` and
    either concatenate yourself or pass ``mask=`` to :meth:`forward`.

    With padding 2 each stride-2 layer maps n -> ceil(n/2), so any input from 32x32
    works, but six layers reduce a 32x32 or 64x64 input to a single position (a global
    discriminator in disguise). Pass ``size`` (the training image side) to adapt the
    depth instead: ``n_layers = clamp(log2(size) - 2, 1, 6)`` keeps a 4x4 logit map
    (6 layers at 256x256 as in the paper, 3 at 32x32).
    """

    def __init__(self, in_channels: int, width: int = 64, n_layers: int = 6, size: int | None = None) -> None:
        super().__init__()
        if size is not None:
            n_layers = _n_down(size, 6)
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.in_channels = in_channels
        widths = [width * min(2**i, 4) for i in range(n_layers)]
        layers, ch = [], in_channels
        for out in widths:
            layers.append(nn.Sequential(_conv(ch, out, 5, 2, 2, spectral=True), nn.LeakyReLU(0.2)))
            ch = out
        self.blocks = nn.ModuleList(layers)
        self.out_channels = ch

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Activations after each of the six layers; the last one is the logit map."""
        h = _check_input(_with_mask(x, mask), self.in_channels, "SNPatchGAN", 2)
        feats = []
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logit map (B, 4w, ceil(H/64), ceil(W/64)); ``mask`` is concatenated to ``x`` first."""
        return self.features(x, mask)[-1]


def _n_down(size: int, max_layers: int) -> int:
    """Stride-2 layers that bring ``size`` down to about 4 pixels (at most ``max_layers``)."""
    return max(1, min(max_layers, int(math.floor(math.log2(max(size, 2)))) - 2))


class _ConvEmbedding(nn.Module):
    """Iizuka et al.'s discriminator trunk: 5x5 stride-2 convs, then a fully connected layer.

    The paper's global branch has six conv layers on 256x256 and the local one five on
    128x128, each down to a 4x4 map, then an FC layer to 1024 values. Here the depth is
    chosen from ``size`` so that the last map is about 4x4 (32 -> 3 layers, 128 -> 5,
    256 -> 6), widths ``w, 2w, 4w, 8w, 8w, 8w`` and the embedding has ``16 w`` values
    (1024 for the paper's w = 64).
    """

    def __init__(self, in_channels: int, size: int, width: int, max_layers: int,
                 norm: str, spectral: bool) -> None:
        super().__init__()
        if size < 8:
            raise ValueError(f"size must be at least 8, got {size}")
        self.in_channels, self.size = in_channels, size
        n = _n_down(size, max_layers)
        layers, ch, side = [], in_channels, size
        for i in range(n):
            out = width * min(2**i, 8)
            use_norm = i > 0 and norm != "none"
            layers.append(nn.Sequential(
                _conv(ch, out, 5, 2, 2, spectral, bias=not use_norm),
                _norm(norm, out) if use_norm else nn.Identity(),
                nn.LeakyReLU(0.2),
            ))
            ch, side = out, (side + 1) // 2
        self.blocks = nn.ModuleList(layers)
        self.embed_dim = 16 * width
        fc = nn.Linear(ch * side * side, self.embed_dim)
        self.fc = spectral_norm(fc) if spectral else fc

    def features(self, x: torch.Tensor, who: str) -> list[torch.Tensor]:
        _check_input(x, self.in_channels, who, 1)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise InputError(f"{who} was built for {self.size}x{self.size} inputs, got {tuple(x.shape[-2:])}")
        feats, h = [], x
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        feats.append(torch.nn.functional.leaky_relu(self.fc(h.flatten(1)), 0.2))
        return feats


class GlobalDiscriminator(nn.Module):
    """Iizuka et al.'s global discriminator: the whole ``size`` x ``size`` image -> one logit (B, 1).

    ``norm`` is BatchNorm as in the paper; choose ``"none"`` (or ``spectral=True``) for
    the WGAN gradient penalty.
    """

    max_layers = 6

    def __init__(self, in_channels: int, size: int, width: int = 64,
                 norm: str = "batch", spectral: bool = False) -> None:
        super().__init__()
        self.trunk = _ConvEmbedding(in_channels, size, width, self.max_layers, norm, spectral)
        self.head = nn.Linear(self.trunk.embed_dim, 1)
        self.in_channels, self.size = in_channels, size

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The feature vector (B, 16w) that :class:`GlobalLocalDiscriminator` concatenates."""
        return self.trunk.features(x, type(self).__name__)[-1]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Conv activations, the embedding and the logit."""
        feats = self.trunk.features(x, type(self).__name__)
        return feats + [self.head(feats[-1])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per image, shape (B, 1)."""
        return self.head(self.embed(x))


class LocalDiscriminator(GlobalDiscriminator):
    """Iizuka et al.'s local discriminator: a ``size`` x ``size`` crop around the hole -> (B, 1).

    ``forward(x)`` takes the crop itself; ``forward(images, mask=masks)`` crops with
    :func:`crop_around_hole` first. The paper's local branch has one layer fewer than
    the global one (five on 128x128 crops).
    """

    max_layers = 5

    def crop(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            return x
        return crop_around_hole(x, mask, self.size)

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:  # type: ignore[override]
        return super().features(self.crop(x, mask))

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return super().embed(self.crop(x, mask))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return self.head(self.embed(x, mask))


class GlobalLocalDiscriminator(nn.Module):
    """Iizuka et al. (SIGGRAPH 2017): global + local branches fused into one logit (B, 1).

    The global branch sees the whole ``size`` x ``size`` image, the local one a
    ``local_size`` crop centred on the hole (:func:`crop_around_hole`); their embeddings
    are concatenated and a linear layer gives the logit. ``forward(x, mask)`` needs the
    mask to place the crop; without it the crop is the image centre (the Context
    Encoders centre hole). Pass the *same* mask for real and fake images so both
    branches compare like with like.
    """

    def __init__(self, in_channels: int, size: int, local_size: int | None = None, width: int = 64,
                 norm: str = "batch", spectral: bool = False) -> None:
        super().__init__()
        local_size = local_size if local_size is not None else size // 2
        if local_size > size:
            raise ValueError(f"local_size {local_size} is larger than the image size {size}")
        self.in_channels, self.size, self.local_size = in_channels, size, local_size
        self.global_branch = GlobalDiscriminator(in_channels, size, width, norm, spectral)
        self.local_branch = LocalDiscriminator(in_channels, local_size, width, norm, spectral)
        self.head = nn.Linear(2 * self.global_branch.trunk.embed_dim, 1)

    def _crop(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        _check_input(x, self.in_channels, "GlobalLocalDiscriminator", self.local_size)
        if mask is None:
            top, left = (x.shape[-2] - self.local_size) // 2, (x.shape[-1] - self.local_size) // 2
            return x[..., top:top + self.local_size, left:left + self.local_size]
        return crop_around_hole(x, mask, self.local_size)

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Global activations, then local activations, then the fused logit."""
        g = self.global_branch.trunk.features(x, "GlobalLocalDiscriminator (global branch)")
        loc = self.local_branch.trunk.features(self._crop(x, mask), "GlobalLocalDiscriminator (local branch)")
        return g + loc + [self.head(torch.cat([g[-1], loc[-1]], 1))]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One logit per image, (B, 1)."""
        g = self.global_branch.embed(x)
        loc = self.local_branch.embed(self._crop(x, mask))
        return self.head(torch.cat([g, loc], 1))


def hole_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Bounding box of each mask's hole as (B, 4) long tensor ``top, left, bottom, right``
    (bottom/right exclusive). A mask without a hole gets the whole image."""
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4 or masks.shape[1] != 1:
        raise InputError(f"masks must be a (B, 1, H, W) tensor, got {getattr(masks, 'shape', type(masks))}")
    b, _, h, w = masks.shape
    hole = masks[:, 0] > 0.5
    rows, cols = hole.any(2), hole.any(1)  # (B, H), (B, W)
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    big = torch.tensor(10**9, device=masks.device)
    top = torch.where(rows, ar_h, big).amin(1)
    bottom = torch.where(rows, ar_h, -big).amax(1) + 1
    left = torch.where(cols, ar_w, big).amin(1)
    right = torch.where(cols, ar_w, -big).amax(1) + 1
    empty = ~rows.any(1)
    top, left = torch.where(empty, 0, top), torch.where(empty, 0, left)
    bottom, right = torch.where(empty, h, bottom), torch.where(empty, w, right)
    return torch.stack([top, left, bottom, right], 1).long()


def crop_around_hole(images: torch.Tensor, masks: torch.Tensor, size: int) -> torch.Tensor:
    """A ``size`` x ``size`` crop of each image centred on its hole's bounding box.

    The window is clamped to lie inside the image, so it contains the whole hole
    whenever the hole's box fits in ``size`` (otherwise it holds the box's centre part).
    Works on any tensor (B, C, H, W) — images, predictions, or ``[image, mask]`` stacks —
    and keeps gradients (it is plain indexing).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise InputError(f"images must be a (B, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4 or masks.shape[1] != 1:
        raise InputError(f"masks must be a (B, 1, H, W) tensor, got {getattr(masks, 'shape', type(masks))}")
    if masks.shape[0] != images.shape[0] or masks.shape[-2:] != images.shape[-2:]:
        raise InputError(f"masks of shape {tuple(masks.shape)} do not match images of shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if not 1 <= size <= min(h, w):
        raise InputError(f"crop size must be between 1 and {min(h, w)} for {h}x{w} images, got {size}")
    boxes = hole_boxes(masks).cpu()
    crops = []
    for i, (top, left, bottom, right) in enumerate(boxes.tolist()):
        cy, cx = (top + bottom) / 2, (left + right) / 2
        y0 = int(min(max(round(cy - size / 2), 0), h - size))
        x0 = int(min(max(round(cx - size / 2), 0), w - size))
        crops.append(images[i, :, y0:y0 + size, x0:x0 + size])
    return torch.stack(crops)
