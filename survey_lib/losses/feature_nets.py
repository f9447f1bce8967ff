"""Feature networks for the perceptual, style and MRF losses.

The papers compute these losses on a network pretrained on ImageNet: PConv on VGG16's
pool1–pool3 outputs, EdgeConnect and GMCNN on VGG19 layers, LaMa on a segmentation
ResNet-50 ("high receptive field" perceptual loss). Those weights are a download this
library never makes at run time, so three kinds are offered and each says which it is
(:meth:`FeatureNet.describe`):

* ``"vgg16"`` — torchvision's ImageNet VGG16, outputs after pool1, pool2, pool3 (PConv's
  choice): the real loss network of the papers. Its weights are installed with the
  environment (``python -m survey_lib.tools.install_weights``, run by ``make venv``) and
  read as digest-checked safetensors; without them :class:`WeightsUnavailable` (the same
  class as :mod:`survey_lib.metrics`) says how to install them.
* ``"random"`` — a small conv net with fixed random (He-initialised, seeded) weights.
  Random convolutional features already capture texture statistics: Gram matrices of a
  single random conv layer synthesise convincing textures (Ustyuzhaninov, Brendel,
  Gatys & Bethge, "What does it take to generate natural textures?", ICLR 2017; He,
  Wang & Hopcroft, NeurIPS 2016; Ulyanov & Lebedev's 2016 random-network audio style
  transfer). What they lack is semantics: two images of the same object category
  are not "close" in them. Offline, deterministic, free.
* ``"trained"`` — the same architecture trained here for a few hundred steps as a small
  *inpainting autoencoder* on the library's built-in images (input: image with random
  boxes blanked; target: the full image), so its features have learned edges and shapes
  of this data. Cached in memory per (channels, source, size, steps, seed).

The random and trained networks are kept as labelled alternatives for the lesson on which
features matter (texture statistics vs. ImageNet semantics), not as stand-ins for VGG16.

All of them take images in [0, 1] with 1 or 3 channels and return a list of feature
maps at 1/2, 1/4 and 1/8 resolution, and are frozen (no gradients to their weights;
gradients do flow to the input).
"""

from __future__ import annotations

import time

import torch
from torch import nn

from survey_lib.data.checks import InputError
from survey_lib.metrics.perceptual import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    WeightsUnavailable,
    vgg16_layers,
)

__all__ = [
    "FEATURE_KINDS",
    "WeightsUnavailable",
    "FeatureNet",
    "VGG16Features",
    "RandomFeatures",
    "TrainedFeatures",
    "feature_network",
    "clear_feature_cache",
]

FEATURE_KINDS = ("vgg16", "random", "trained")


class FeatureNet(nn.Module):
    """A frozen feature extractor: ``forward(x) -> list of feature maps`` (x in [0, 1])."""

    kind: str = "base"
    layer_names: tuple[str, ...] = ()

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3, got {channels}")
        self.channels = channels

    def freeze(self) -> FeatureNet:
        self.eval()
        self.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> FeatureNet:
        """Always stays in eval mode: a loss network must not change with the model's mode."""
        return super().train(False)

    def check(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
            raise InputError(f"{self.kind} features need a floating (B, C, H, W) tensor, got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if x.shape[1] != self.channels:
            raise InputError(f"this {self.kind} feature network was built for {self.channels}-channel "
                             f"images, got {x.shape[1]} channels")
        if min(x.shape[-2:]) < 8:
            raise InputError(f"feature networks need images of at least 8x8, got {tuple(x.shape[-2:])}")
        p = next(self.parameters(), None)
        if p is not None and p.device != x.device:
            self.to(x.device)  # the cached network follows the data
        return x

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class VGG16Features(FeatureNet):
    """torchvision's ImageNet VGG16, outputs of pool1, pool2, pool3 (PConv's loss network).

    Weights: :func:`survey_lib.metrics.perceptual.vgg16_layers` (installed with the
    environment; :class:`WeightsUnavailable` when not). Grey inputs are repeated to three
    channels; inputs are normalised with the ImageNet mean and standard deviation.
    """

    kind = "vgg16"
    layer_names = ("pool1", "pool2", "pool3")
    _cuts = (5, 10, 17)  # torchvision vgg16.features indices just after each pool

    def __init__(self, channels: int = 3, allow_download: bool = False) -> None:
        super().__init__(channels)
        # installed safetensors (digest-checked); a hub-cache file is read with weights_only=True
        feats = vgg16_layers(self._cuts[-1], allow_download=allow_download)
        self.stages = nn.ModuleList(
            [feats[a:b] for a, b in zip((0,) + self._cuts[:-1], self._cuts)]
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.check(x)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def describe(self) -> str:
        return ("VGG16 pretrained on ImageNet (torchvision), features after pool1, pool2, pool3 — "
                "exactly PConv's loss network (EdgeConnect uses VGG19, LaMa a segmentation ResNet-50).")


class _ConvStages(FeatureNet):
    """Three stages of conv3x3 -> ReLU -> 2x2 average pooling: features at 1/2, 1/4, 1/8."""

    layer_names = ("stage1", "stage2", "stage3")

    def __init__(self, channels: int, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__(channels)
        stages, cin = [], channels
        for w in widths:
            stages.append(nn.Sequential(nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.widths = widths

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.check(x) - 0.5  # centred input: features respond to structure, not brightness
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out


class RandomFeatures(_ConvStages):
    """Fixed random conv features (He-normal weights from ``seed``, zero biases)."""

    kind = "random"

    def __init__(self, channels: int, seed: int = 0, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__(channels, widths)
        self.seed = seed
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                    m.bias.zero_()
        self.freeze()

    def describe(self) -> str:
        return (f"RANDOM fixed conv net (seed {self.seed}, widths {self.widths}, 3 stages at 1/2, 1/4, 1/8) — "
                "NOT the papers' network (PConv: ImageNet VGG16 pool1-3). Random conv features still carry "
                "texture statistics (Ustyuzhaninov et al., ICLR 2017), so style/perceptual distances "
                "measure texture and edges, but no semantics.")


class TrainedFeatures(_ConvStages):
    """The three-stage encoder after training as an inpainting autoencoder here (see :func:`train_features`)."""

    kind = "trained"

    def __init__(self, channels: int, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__(channels, widths)
        self.info: dict[str, object] = {}

    def describe(self) -> str:
        i = self.info
        return (f"SMALL encoder trained here for {i.get('steps')} steps as an inpainting autoencoder on the "
                f"built-in '{i.get('source')}' images ({i.get('size')}px, seed {i.get('seed')}, final "
                f"reconstruction L1 {i.get('final_l1', float('nan')):.4f}, {i.get('seconds', 0):.1f} s) — "
                "NOT the papers' network (PConv: ImageNet VGG16 pool1-3); its features know this data's "
                "edges and shapes, nothing else.")


def _decoder(widths: tuple[int, ...], channels: int) -> nn.Module:
    layers: list[nn.Module] = []
    rev = list(widths[::-1]) + [widths[0]]
    for cin, cout in zip(rev[:-1], rev[1:]):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(widths[0], channels, 3, padding=1), nn.Sigmoid()]
    return nn.Sequential(*layers)


def train_features(channels: int, source: str | None = None, size: int = 32, steps: int = 300,
                   batch_size: int = 16, seed: int = 0, lr: float = 2e-3) -> TrainedFeatures:
    """Train a :class:`TrainedFeatures` encoder as an inpainting autoencoder, on the CPU.

    Each step takes a batch of built-in images (``glyphs`` for 1 channel, ``shapes`` for
    3, unless ``source`` says otherwise), blanks 1–3 random boxes, and trains encoder +
    a small decoder to restore the full image with an L1 loss (Adam). Deterministic
    given ``seed``. About 0.02 s per step at 32x32 on one CPU core.
    """
    from survey_lib.data import make_dataset, sample_batch

    source = source or ("glyphs" if channels == 1 else "shapes")
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        net = TrainedFeatures(channels)
        dec = _decoder(net.widths, channels)
        ds = make_dataset(source, split="train", size=size, length=max(steps * batch_size, batch_size),
                          masks="boxes", seed=seed)
        if ds.channels != channels:
            raise InputError(f"source {source!r} gives {ds.channels}-channel images, wanted {channels}")
        opt = torch.optim.Adam(list(net.parameters()) + list(dec.parameters()), lr=lr)
        loss, first = torch.zeros(()), float("nan")
        for step in range(steps):
            images, masks = sample_batch(ds, batch_size, start=(step * batch_size) % max(len(ds) - batch_size, 1))
            keep = (torch.rand(images.shape[0], 1, 1, 1, generator=g) < 0.5).float()
            masks = masks * keep  # half the batch: a plain autoencoder (no hole)
            recon = dec(net(images * (1 - masks))[-1])
            loss = (recon - images).abs().mean()
            if step == 0:
                first = float(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.info = {"steps": steps, "source": source, "size": size, "seed": seed,
                "initial_l1": first, "final_l1": float(loss.detach()), "seconds": time.perf_counter() - start}
    net.freeze()
    return net


_CACHE: dict[tuple, FeatureNet] = {}


def clear_feature_cache() -> None:
    """Forget every feature network built so far."""
    _CACHE.clear()


def feature_network(kind: str = "vgg16", channels: int = 3, *, allow_download: bool = False,
                    seed: int = 0, steps: int = 300, source: str | None = None, size: int = 32) -> FeatureNet:
    """The loss network of ``kind`` for ``channels``-channel images (cached in memory).

    ``"vgg16"`` (the papers' network) raises :class:`WeightsUnavailable` when its weights
    are not installed (and not in the torch hub cache, or ``allow_download`` is False); ``"random"`` uses ``seed``; ``"trained"`` trains for
    ``steps`` steps on ``source`` images of side ``size`` the first time it is asked.
    Call ``.describe()`` to see which network is in use and what the papers use.
    """
    if kind not in FEATURE_KINDS:
        raise InputError(f"unknown feature network {kind!r}; choose one of {', '.join(FEATURE_KINDS)}")
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    key: tuple
    if kind == "vgg16":
        key = (kind, channels)
    elif kind == "random":
        key = (kind, channels, seed)
    else:
        key = (kind, channels, seed, steps, source, size)
    if key not in _CACHE:
        if kind == "vgg16":
            _CACHE[key] = VGG16Features(channels, allow_download=allow_download)
        elif kind == "random":
            _CACHE[key] = RandomFeatures(channels, seed=seed)
        else:
            _CACHE[key] = train_features(channels, source=source, size=size, steps=steps, seed=seed)
    return _CACHE[key]


def extract(net: FeatureNet, x: torch.Tensor) -> list[torch.Tensor]:
    """``net(x)`` (a list of maps); a tiny helper so callers can swap in any callable."""
    feats = net(x)
    if not isinstance(feats, (list, tuple)) or not feats:
        raise InputError("a feature network must return a non-empty list of feature maps")
    return list(feats)

