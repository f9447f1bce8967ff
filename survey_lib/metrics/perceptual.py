"""Learned metrics: LPIPS, FID, and the diversity of pluralistic completions.

Both LPIPS and FID measure distances between *deep features*, so both need pretrained
network weights that torchvision downloads on first use into the torch hub cache
(``torch.hub.get_dir()/checkpoints``). This library never downloads at run time unless
you ask (``allow_download=True``): offline and uncached, it raises
:class:`WeightsUnavailable` naming the missing file and how to get it. It never falls
back silently to a randomly initialised network, whose "LPIPS" would look like a score
and mean nothing. For testing the plumbing only, :func:`lpips_plumbing_check` runs the
same code with a random trunk and says so in its name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from survey_lib.data.checks import InputError, check_image
from survey_lib.metrics.pixel import _work_dtype, check_pred_target

#: LPIPS trunks: torchvision weight file each needs (the linear heads ship with ``lpips``)
LPIPS_NETS = ("alex", "vgg", "squeeze")
#: below this side, the trunk's pooling layers run out of pixels
LPIPS_MIN_SIZE = {"alex": 32, "vgg": 16, "squeeze": 20}
#: FID's warning threshold: below it the estimate is strongly biased and noisy
FID_MIN_RELIABLE = 2000


class WeightsUnavailable(RuntimeError):
    """Pretrained weights a metric needs are neither cached nor allowed to be downloaded."""


class SmallSampleWarning(UserWarning):
    """A metric was computed on too few samples to be compared with published numbers."""


@dataclass(frozen=True)
class _Weights:
    what: str  # human name ("AlexNet trunk of LPIPS")
    url: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _torchvision_weights(arch: str) -> _Weights:
    from torchvision import models

    table = {
        "alex": ("AlexNet trunk of LPIPS (net='alex')", models.AlexNet_Weights.IMAGENET1K_V1),
        "vgg": ("VGG-16 trunk of LPIPS (net='vgg')", models.VGG16_Weights.IMAGENET1K_V1),
        "squeeze": ("SqueezeNet-1.1 trunk of LPIPS (net='squeeze')", models.SqueezeNet1_1_Weights.IMAGENET1K_V1),
        "inception": ("Inception-v3 feature extractor of FID", models.Inception_V3_Weights.IMAGENET1K_V1),
    }
    what, weights = table[arch]
    return _Weights(what, weights.url)


def hub_checkpoint_path(filename: str) -> str:
    """Where torchvision looks for (and downloads) a weight file: ``<hub dir>/checkpoints/<file>``."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def weights_cached(arch: str) -> bool:
    """Whether the torchvision weights for ``arch`` ('alex', 'vgg', 'squeeze', 'inception') are cached."""
    return os.path.isfile(hub_checkpoint_path(_torchvision_weights(arch).filename))


def _require_weights(arch: str, allow_download: bool) -> None:
    """Raise :class:`WeightsUnavailable` unless the weights are cached or may be downloaded."""
    w = _torchvision_weights(arch)
    path = hub_checkpoint_path(w.filename)
    if allow_download or os.path.isfile(path):
        return
    raise WeightsUnavailable(
        f"the {w.what} needs the torchvision weight file {w.filename!r}, which is not in the torch "
        f"hub cache: expected at {path}. To get it, either run this once with allow_download=True "
        f"on a machine with internet access (torchvision downloads {w.url} into that folder), or "
        f"copy {w.filename} there by hand (set TORCH_HOME to use another cache folder). Nothing was "
        "downloaded and no random network was used in its place."
    )


def _download_failed(arch: str, err: Exception) -> WeightsUnavailable:
    w = _torchvision_weights(arch)
    return WeightsUnavailable(
        f"downloading {w.filename} for the {w.what} from {w.url} failed ({type(err).__name__}: {err}); "
        f"copy the file by hand to {hub_checkpoint_path(w.filename)}"
    )


# One model per (kind, net, random trunk): building them is slow, using them is cheap.
_MODELS: dict[tuple[str, str, bool], nn.Module] = {}


def clear_model_cache() -> None:
    """Forget the LPIPS/Inception models built so far (they are rebuilt on next use)."""
    _MODELS.clear()


def _lpips_model(net: str, random_trunk: bool, allow_download: bool) -> nn.Module:
    if net not in LPIPS_NETS:
        raise InputError(f"net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    key = ("lpips", net, random_trunk)
    if key in _MODELS:
        return _MODELS[key]
    if not random_trunk:
        _require_weights(net, allow_download)
    import lpips as lpips_pkg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" notices
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # a reproducible random trunk for the plumbing check
                model = lpips_pkg.LPIPS(net=net, pnet_rand=random_trunk, verbose=False)
        except OSError as err:  # no network / no file: a URLError is an OSError
            raise _download_failed(net, err) from err
    model.eval().requires_grad_(False)
    _MODELS[key] = model
    return model


def _lpips(a: torch.Tensor, b: torch.Tensor, net: str, random_trunk: bool, allow_download: bool) -> torch.Tensor:
    a, b, _ = check_pred_target(a, b)
    if net in LPIPS_MIN_SIZE and min(a.shape[-2:]) < LPIPS_MIN_SIZE[net]:
        raise InputError(
            f"LPIPS with net={net!r} needs images of at least {LPIPS_MIN_SIZE[net]}x{LPIPS_MIN_SIZE[net]} "
            f"pixels, got {a.shape[-2]}x{a.shape[-1]}; upsample them or use net='vgg'"
        )
    model = _lpips_model(net, random_trunk, allow_download).to(a.device)
    if a.shape[1] == 1:  # grey: the trunks expect RGB
        a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
    with torch.no_grad():
        d = model(a, b, normalize=True)  # normalize=True: inputs are in [0, 1]
    return d.flatten().float()


def lpips_distance(
    a: torch.Tensor, b: torch.Tensor, net: str = "alex", allow_download: bool = False
) -> torch.Tensor:
    """LPIPS (Zhang et al. 2018) between two [0, 1] image batches, shape (B,); lower = closer.

    Uses the ``lpips`` package (v0.1 linear heads) on an ImageNet-trained trunk
    (``net='alex'`` as in the LPIPS paper; LaMa reports ``net='vgg'``). The trunk's
    weights must be in the torch hub cache, or ``allow_download=True`` lets torchvision
    fetch them; otherwise :class:`WeightsUnavailable` says which file is missing.
    Grey images are repeated to three channels.
    """
    return _lpips(a, b, net, random_trunk=False, allow_download=allow_download)


def lpips_plumbing_check(a: torch.Tensor, b: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """The LPIPS code path with a *random* trunk (``pnet_rand=True``): NOT A SCORE.

    Needs no download, so tests and offline demos can check shapes, devices and that
    identical inputs give 0. Its values mean nothing perceptually: never report them.
    """
    return _lpips(a, b, net, random_trunk=True, allow_download=False)


# ----------------------------------------------------------------------------- FID
def _inception_model(allow_download: bool) -> nn.Module:
    key = ("inception", "v3", False)
    if key in _MODELS:
        return _MODELS[key]
    _require_weights("inception", allow_download)
    from torchvision.models import Inception_V3_Weights, inception_v3

    try:
        # transform_input=False: we feed the [-1, 1] inputs the Google weights expect
        model = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, transform_input=False)
    except OSError as err:
        raise _download_failed("inception", err) from err
    model.fc = nn.Identity()  # 2048-d pool features instead of class logits
    model.eval().requires_grad_(False)
    _MODELS[key] = model
    return model


def inception_features(images: torch.Tensor, allow_download: bool = False, batch_size: int = 50) -> torch.Tensor:
    """2048-d Inception-v3 pool features (N, 2048) of [0, 1] images, resized to 299×299."""
    images = check_image(images, "images")
    model = _inception_model(allow_download).to(images.device)
    feats = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size]
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            feats.append(model(2 * x - 1).float().cpu())
    return torch.cat(feats)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between two Gaussians: ``|μ1 - μ2|² + Tr(Σ1 + Σ2 - 2 (Σ1 Σ2)^½)``."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise InputError(
            f"means {mu1.shape}/{mu2.shape} and covariances {s1.shape}/{s2.shape} do not match"
        )
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise the diagonals
        eps = 1e-6 * np.eye(len(s1))
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise FloatingPointError(f"matrix square root has a large imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid(
    real: torch.Tensor,
    fake: torch.Tensor,
    allow_download: bool = False,
    extractor: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Fréchet Inception Distance between two image sets (lower = closer distributions).

    Fits a Gaussian to the Inception-v3 pool features of each set and returns their
    Fréchet distance. **Caveat**: FID is biased upwards and noisy on small sets; papers
    use 10k–50k images, and below ~2,000 (always the case at this course's scale) the
    number is only good for comparing methods on the *same* images, never with a paper.
    A :class:`SmallSampleWarning` says so. The features come from torchvision's
    Inception-v3 weights, not the TensorFlow ones of pytorch-fid/clean-fid, so even at
    full scale the values are not identical to published FIDs.
    ``extractor`` replaces the Inception features (any ``images -> (N, D)`` function).
    """
    real = check_image(real, "real")
    fake = check_image(fake, "fake")
    if len(real) < 2 or len(fake) < 2:
        raise InputError(f"FID needs at least 2 images per set, got {len(real)} real and {len(fake)} fake")
    n = min(len(real), len(fake))
    if n < FID_MIN_RELIABLE:
        warnings.warn(
            f"FID on {n} images is biased and noisy (papers use 10k-50k): compare it only between "
            "methods evaluated on these same images, never with published numbers",
            SmallSampleWarning,
            stacklevel=2,
        )
    extract = extractor or (lambda x: inception_features(x, allow_download=allow_download))
    fr = np.asarray(extract(real), dtype=np.float64)
    ff = np.asarray(extract(fake), dtype=np.float64)
    if fr.ndim != 2 or ff.ndim != 2 or fr.shape[1] != ff.shape[1]:
        raise InputError(f"features must be (N, D) with one D, got {fr.shape} and {ff.shape}")
    return frechet_distance(fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False))


# ----------------------------------------------------------------------------- diversity
DIVERSITY_METRICS = ("l1", "lpips")


def diversity(
    samples: torch.Tensor, metric: str = "l1", net: str = "alex", allow_download: bool = False
) -> torch.Tensor:
    """Mean pairwise distance between the S completions of each input, shape (B,).

    ``samples`` is (S, B, C, H, W), e.g. from ``method.sample(image, mask, S)``.
    ``metric='l1'`` uses the mean absolute difference, ``'lpips'`` the LPIPS distance
    (PICNet's diversity score). 0 means every sample is the same completion.
    """
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5:
        got = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise InputError(f"samples must be a tensor of shape (S, B, C, H, W), got {got}")
    if samples.shape[0] < 2:
        raise InputError(f"diversity needs at least 2 samples per input (S >= 2), got S = {samples.shape[0]}")
    if metric not in DIVERSITY_METRICS:
        raise InputError(f"metric must be one of {', '.join(DIVERSITY_METRICS)}, got {metric!r}")
    s = samples.shape[0]
    for i in range(s):
        check_image(samples[i], f"samples[{i}]")
    dt = _work_dtype(samples)
    total = torch.zeros(samples.shape[1], dtype=dt, device=samples.device)
    pairs = 0
    for i in range(s):
        for j in range(i + 1, s):
            if metric == "l1":
                d = (samples[i].to(dt) - samples[j].to(dt)).abs().flatten(1).mean(1)
            else:
                d = lpips_distance(samples[i], samples[j], net=net, allow_download=allow_download).to(dt)
            total += d
            pairs += 1
    return (total / pairs).float()
