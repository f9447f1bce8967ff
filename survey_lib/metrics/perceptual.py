"""Learned metrics: LPIPS, FID, Fréchet/kernel distances on VGG16 features, and diversity.

LPIPS and FID measure distances between *deep features*, so both need pretrained weights.
Nothing downloads at run time:

* **LPIPS** (``net='alex'`` or ``'vgg'``) uses the ImageNet AlexNet/VGG16 trunks and the
  v0.1 linear heads that ``python -m survey_lib.tools.install_weights`` installs (``make venv``
  does it) as verified safetensors (:mod:`survey_lib.weights`), run by the ``lpips``
  package's own network code. Without them, :class:`WeightsUnavailable` says how to
  install them. ``net='squeeze'`` still needs torchvision's file in the torch hub cache.
* **FID** needs torchvision's Inception-v3 file in the torch hub cache; no package ships it,
  so offline it raises :class:`WeightsUnavailable`. For distribution-level comparisons
  offline use :func:`fd_vgg16` / :func:`kid_vgg16`, which are labelled as what they are —
  distances on VGG16 features, **not** FID, not comparable with published FIDs.

Every weight file is read either as safetensors or with ``torch.load(weights_only=True)``
(tensors only, no code), and a damaged file raises :class:`WeightsCorrupt` naming it.
:func:`lpips_plumbing_check` runs the LPIPS code with a random trunk and says so in its
name: for plumbing tests only, never a score.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from survey_lib import weights as weight_files
from survey_lib.data.checks import InputError, check_image
from survey_lib.metrics.pixel import _work_dtype, check_pred_target
from survey_lib.weights import WeightsCorrupt, WeightsUnavailable

#: LPIPS trunks (alex and vgg are installed; squeeze needs torchvision's hub file)
LPIPS_NETS = ("alex", "vgg", "squeeze")
#: below this side, the trunk's pooling layers run out of pixels
LPIPS_MIN_SIZE = {"alex": 32, "vgg": 16, "squeeze": 20}
#: FID's warning threshold: below it the estimate is strongly biased and noisy
FID_MIN_RELIABLE = 2000

__all__ = [
    "LPIPS_NETS", "LPIPS_MIN_SIZE", "WeightsUnavailable", "WeightsCorrupt", "SmallSampleWarning",
    "lpips_available", "lpips_distance", "lpips_plumbing_check", "weights_cached", "hub_checkpoint_path",
    "vgg16_layers", "vgg16_features", "fd_vgg16", "kid_vgg16", "kid_from_features",
    "inception_features", "frechet_distance", "fid", "diversity", "clear_model_cache",
]


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
    """Whether the weights for ``arch`` ('alex', 'vgg', 'squeeze', 'inception') are on this machine.

    'alex' and 'vgg' count as present when installed (:mod:`survey_lib.weights`) or in the
    torch hub cache; 'squeeze' and 'inception' only come from the hub cache.
    """
    if arch in weight_files.WEIGHT_FILES and weight_files.installed(arch):
        return True
    return os.path.isfile(hub_checkpoint_path(_torchvision_weights(arch).filename))


def load_hub_state(arch: str, allow_download: bool = False) -> dict[str, torch.Tensor]:
    """torchvision's state dict for ``arch`` from the torch hub cache, read with ``weights_only=True``.

    Downloads only when ``allow_download``; checks the sha256 prefix torchvision puts in the
    file name, so a truncated or substituted file raises :class:`WeightsCorrupt` naming it.
    """
    w = _torchvision_weights(arch)
    path = hub_checkpoint_path(w.filename)
    if not os.path.isfile(path):
        if not allow_download:
            raise WeightsUnavailable(
                f"the {w.what} needs the torchvision weight file {w.filename!r}, which is not in the torch "
                f"hub cache: expected at {path}. Either run this once with allow_download=True on a machine "
                f"with internet access (torchvision downloads {w.url} into that folder), or copy {w.filename} "
                "there by hand (TORCH_HOME selects another cache folder). Nothing was downloaded and no "
                "random network was used in its place."
            )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            torch.hub.download_url_to_file(w.url, path, progress=False)
        except OSError as err:  # no network: a URLError is an OSError
            raise WeightsUnavailable(f"downloading {w.filename} for the {w.what} from {w.url} failed "
                                     f"({type(err).__name__}: {err}); copy the file by hand to {path}") from err
    stem = os.path.splitext(w.filename)[0]
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else ""
    if len(prefix) >= 8 and all(c in "0123456789abcdef" for c in prefix):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if not h.hexdigest().startswith(prefix):
            raise WeightsCorrupt(f"weight file {path} has sha256 {h.hexdigest()[:16]}..., but its name says "
                                 f"{prefix}...: damaged or truncated; delete it and fetch {w.url} again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as err:
        raise WeightsCorrupt(f"weight file {path} cannot be loaded as plain tensors ({type(err).__name__}: "
                             f"{str(err)[:300]}); delete it and fetch {w.url} again") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsCorrupt(f"weight file {path} does not hold a state dict of tensors")
    return state


# One model per (kind, net, random trunk): building them is slow, using them is cheap.
_MODELS: dict[tuple[str, str, bool], nn.Module] = {}


def clear_model_cache() -> None:
    """Forget the LPIPS/VGG/Inception models built so far (they are rebuilt on next use)."""
    _MODELS.clear()


def _lpips_heads(net: str) -> dict[str, torch.Tensor]:
    """The v0.1 linear heads: from the installed file, else the ``lpips`` package (tensors only)."""
    if net in weight_files.WEIGHT_FILES and weight_files.installed(net):
        return {k: v for k, v in weight_files.load(net).items() if k.startswith("lin")}
    import lpips as lpips_pkg

    path = os.path.join(os.path.dirname(lpips_pkg.__file__), "weights", "v0.1", f"{net}.pth")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise WeightsCorrupt(f"LPIPS head file {path} cannot be loaded ({type(err).__name__}: {err})") from err


def _lpips_trunk(net: str, allow_download: bool) -> dict[str, torch.Tensor]:
    """torchvision-named ``features.<i>.*`` trunk weights: installed safetensors, else the hub cache."""
    if net in weight_files.WEIGHT_FILES:
        if weight_files.installed(net) or not (allow_download or weights_cached(net)):
            try:
                return {k: v for k, v in weight_files.load(net).items() if k.startswith("features.")}
            except WeightsCorrupt:
                raise
            except WeightsUnavailable as err:
                raise WeightsUnavailable(f"LPIPS (net={net!r}) is unavailable: {err}") from err
    state = load_hub_state(net, allow_download)
    return {k: v for k, v in state.items() if k.startswith("features.")}


def _build_lpips(net: str, trunk: dict[str, torch.Tensor] | None, heads: dict[str, torch.Tensor]) -> nn.Module:
    """``lpips.LPIPS`` built without any download (``pnet_rand=True``) and then filled in.

    ``trunk`` None keeps the seeded random trunk (the plumbing check).
    """
    import lpips as lpips_pkg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" notices
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # a reproducible random trunk for the plumbing check
            model = lpips_pkg.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False)
    state: dict[str, torch.Tensor] = dict(heads)
    # lpips registers each head twice (``lin<k>`` and ``lins.<k>``, one module): fill both names
    state.update({"lins." + k[len("lin"):]: v for k, v in heads.items()})
    if trunk is not None:
        names = {}  # "features.<i>.<p>" -> "net.slice<k>.<i>.<p>": lpips keeps torchvision's indices
        for name, _ in model.net.named_parameters():
            _, rest = name.split(".", 1)  # "slice<k>.<i>.<param>" (squeeze: "<i>.squeeze.weight")
            names[f"features.{rest}"] = f"net.{name}"
        missing = sorted(set(names) - set(trunk))
        if missing:
            raise WeightsCorrupt(f"the {net} trunk weights lack {missing[:4]}: a damaged file?")
        state.update({names[k]: v for k, v in trunk.items() if k in names})
    result = model.load_state_dict(state, strict=False)
    unexpected = list(result.unexpected_keys)
    missing_keys = [k for k in result.missing_keys if not k.startswith("scaling_layer.")
                    and not (trunk is None and k.startswith("net."))]
    if unexpected or missing_keys:
        raise WeightsCorrupt(f"LPIPS {net}: weights do not fit the network (missing {missing_keys[:4]}, "
                             f"unexpected {unexpected[:4]})")
    model.eval().requires_grad_(False)
    return model


def _lpips_model(net: str, random_trunk: bool, allow_download: bool) -> nn.Module:
    if net not in LPIPS_NETS:
        raise InputError(f"net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    key = ("lpips", net, random_trunk)
    if key in _MODELS:
        return _MODELS[key]
    trunk = None if random_trunk else _lpips_trunk(net, allow_download)
    model = _build_lpips(net, trunk, _lpips_heads(net))
    _MODELS[key] = model
    return model


def lpips_available(net: str = "alex") -> bool:
    """Whether :func:`lpips_distance` with ``net`` can run here without a download."""
    return net in LPIPS_NETS and weights_cached(net)


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
        d = model(a.float(), b.float(), normalize=True)  # normalize=True: inputs are in [0, 1]
    return d.flatten().float()


def lpips_distance(
    a: torch.Tensor, b: torch.Tensor, net: str = "alex", allow_download: bool = False
) -> torch.Tensor:
    """LPIPS (Zhang et al. 2018) between two [0, 1] image batches, shape (B,); lower = closer.

    The ``lpips`` package's network (v0.1 linear heads) on an ImageNet-trained trunk
    (``net='alex'`` as in the LPIPS paper; LaMa reports ``net='vgg'``), with the weights
    installed by ``python -m survey_lib.tools.install_weights``. Not installed:
    :class:`WeightsUnavailable`; damaged: :class:`WeightsCorrupt` naming the file.
    Grey images are repeated to three channels.
    """
    return _lpips(a, b, net, random_trunk=False, allow_download=allow_download)


def lpips_plumbing_check(a: torch.Tensor, b: torch.Tensor, net: str = "alex") -> torch.Tensor:
    """The LPIPS code path with a *random* trunk (``pnet_rand=True``): NOT A SCORE.

    Needs no trunk weights, so tests can check shapes, devices and that identical inputs
    give 0. Its values mean nothing perceptually: never report them.
    """
    return _lpips(a, b, net, random_trunk=True, allow_download=False)


# ----------------------------------------------------------------------------- VGG16 features
#: torchvision ``vgg16().features`` configuration (conv widths, "M" = 2x2 max pool)
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
#: index just after ReLU5_3 in torchvision's ``vgg16().features``
VGG16_RELU5_3 = 30
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg16_layers(end: int, allow_download: bool = False) -> nn.Sequential:
    """torchvision's ImageNet VGG16 ``features[:end]`` (same layout and indices), frozen, CPU.

    Weights from the installed, digest-checked ``lpips_vgg.safetensors`` (the same
    torchvision trunk LPIPS-vgg uses); when that is not installed, from torchvision's file in
    the torch hub cache (read with ``weights_only=True``; downloaded only if
    ``allow_download``); else :class:`WeightsUnavailable`.
    """
    layers: list[nn.Module] = []
    cin = 3
    for item in VGG16_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(item), 3, padding=1), nn.ReLU(inplace=True)]
            cin = int(item)
    if not isinstance(end, int) or not 0 < end <= len(layers):
        raise InputError(f"end must be an int in 1..{len(layers)}, got {end!r}")
    feats = nn.Sequential(*layers[:end])
    if weight_files.installed("vgg") or not (allow_download or weights_cached("vgg")):
        state = weight_files.load("vgg")  # WeightsUnavailable with the install hint when absent
    else:
        state = load_hub_state("vgg", allow_download)
    wanted = feats.state_dict()
    sub = {n: state[f"features.{n}"] for n in wanted if f"features.{n}" in state}
    missing = sorted(set(wanted) - set(sub))
    if missing:
        raise WeightsCorrupt(f"the VGG16 weights lack {missing[:4]}: a damaged file?")
    feats.load_state_dict(sub)
    return feats.eval().requires_grad_(False)


def _vgg_relu5_3() -> nn.Module:
    key = ("vgg16", "relu5_3", False)
    if key not in _MODELS:
        _MODELS[key] = vgg16_layers(VGG16_RELU5_3)
    return _MODELS[key]


def vgg16_features(images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """512-d features (N, 512) of [0, 1] images: VGG16 ReLU5_3, averaged over positions.

    ImageNet-normalised; grey repeated to RGB; images below 32 px a side are upsampled
    (bilinear) to 32 so ReLU5_3 still has 2x2 positions. Used by :func:`fd_vgg16` and
    :func:`kid_vgg16` — not Inception, so nothing computed on them is an FID.
    """
    images = check_image(images, "images")
    model = _vgg_relu5_3().to(images.device)
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    feats = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].float()
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if min(x.shape[-2:]) < 32:
                s = 32 / min(x.shape[-2:])
                x = torch.nn.functional.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
            feats.append(model((x - mean) / std).mean(dim=(2, 3)).cpu())
    return torch.cat(feats)


def _check_sets(real: torch.Tensor, fake: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    real = check_image(real, "real")
    fake = check_image(fake, "fake")
    if len(real) < 2 or len(fake) < 2:
        raise InputError(f"{what} needs at least 2 images per set, got {len(real)} real and {len(fake)} fake")
    return real, fake


def fd_vgg16(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to VGG16 ReLU5_3 features ("FD-VGG16"; lower = closer).

    The FID *formula* on ImageNet-VGG16 features (:func:`vgg16_features`), because the
    Inception weights of real FID are not available offline. It is **not FID**: its scale
    differs, it cannot be compared with any published FID, and like FID it is biased on
    small sets (a :class:`SmallSampleWarning` says so below 2,000 images). Use it only to
    rank methods evaluated on the same images; :func:`kid_vgg16` is unbiased.
    """
    real, fake = _check_sets(real, fake, "FD-VGG16")
    n = min(len(real), len(fake))
    if n < FID_MIN_RELIABLE:
        warnings.warn(f"FD-VGG16 on {n} images is biased: compare it only between methods on these same images",
                      SmallSampleWarning, stacklevel=2)
    fr = vgg16_features(real).double().numpy()
    ff = vgg16_features(fake).double().numpy()
    return frechet_distance(fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False))


def kid_from_features(fr: np.ndarray, ff: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic kernel ``k(x, y) = (x·y / d + 1)³`` (KID's estimator).

    ``fr`` (m, d), ``ff`` (n, d) with m, n >= 2. Unbiased, so it can be slightly negative
    when both sets come from one distribution.
    """
    fr, ff = np.asarray(fr, dtype=np.float64), np.asarray(ff, dtype=np.float64)
    if fr.ndim != 2 or ff.ndim != 2 or fr.shape[1] != ff.shape[1] or len(fr) < 2 or len(ff) < 2:
        raise InputError(f"features must be (N, D) with one D and N >= 2, got {fr.shape} and {ff.shape}")
    d = fr.shape[1]
    kxx = (fr @ fr.T / d + 1) ** 3
    kyy = (ff @ ff.T / d + 1) ** 3
    kxy = (fr @ ff.T / d + 1) ** 3
    m, n = len(fr), len(ff)
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2 * kxy.mean())


def kid_vgg16(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Kernel distance (KID's unbiased cubic-kernel MMD²) on VGG16 ReLU5_3 features ("KD-VGG16").

    Unbiased, so usable on the few hundred images of this course; but on VGG16 features,
    so it is **not KID** as published (Inception) and not comparable with papers' values.
    """
    real, fake = _check_sets(real, fake, "KD-VGG16")
    return kid_from_features(vgg16_features(real).numpy(), vgg16_features(fake).numpy())


# ----------------------------------------------------------------------------- FID
def _inception_model(allow_download: bool) -> nn.Module:
    key = ("inception", "v3", False)
    if key in _MODELS:
        return _MODELS[key]
    state = load_hub_state("inception", allow_download)  # tensors only, hash-checked
    from torchvision.models import inception_v3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "init_weights" notice: the weights are loaded next
        # transform_input=False: we feed the [-1, 1] inputs the Google weights expect
        model = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise WeightsCorrupt(f"{hub_checkpoint_path(_torchvision_weights('inception').filename)} does not "
                             f"fit Inception-v3 ({str(err)[:300]})") from err
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
