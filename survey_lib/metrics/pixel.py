"""Pixel metrics: PSNR, SSIM, MAE (L1), MSE and their hole-only variants.

These are the numbers every inpainting paper prints. Two details decide whether they
are comparable with published ones, and both are fixed here:

* **PSNR** is ``10 log10(R² / MSE)`` with R the data range (1 for [0, 1] images). It
  is *infinite* for identical images, and reported as ``inf`` (never clipped to 0 or
  to some large number, which would silently bias a mean).
* **SSIM** is the Gaussian-window SSIM of Wang et al. (2004): an 11×11 window with
  σ = 1.5, population (not sample) covariances, K1 = 0.01, K2 = 0.03, computed per
  channel and averaged over channels. Like scikit-image we average the SSIM map only
  where the whole window lies inside the image (a crop of (11 - 1) / 2 = 5 pixels from
  each border), so the value equals ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``.
  (torchmetrics does not crop, so its numbers differ slightly at the borders.)

A ``mask`` argument (1 = hole) restricts a metric to the hole pixels: this is what
MMagic calls MAE for inpainting, and it is the honest number for a method, because the
composite copies the known pixels and would otherwise inflate every score.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from survey_lib.data.checks import InputError, check_image, check_mask

#: SSIM constants of Wang et al. (2004), also scikit-image's defaults
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scikit-image's Gaussian truncation: radius int(3.5 * 1.5 + 0.5) = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def ssim_window_size(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> int:
    """Side of the Gaussian window scikit-image uses for ``sigma`` (11 for σ = 1.5)."""
    return 2 * int(truncate * sigma + 0.5) + 1


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for accuracy, except on Apple MPS which has no float64."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def check_pred_target(
    pred: object, target: object, mask: object = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Validate a prediction/target pair (and optional hole mask) for a metric."""
    pred = check_image(pred, "pred")
    target = check_image(target, "target")
    if pred.shape != target.shape:
        raise InputError(
            f"pred of shape {tuple(pred.shape)} and target of shape {tuple(target.shape)} must have "
            "the same shape (B, C, H, W)"
        )
    if pred.device != target.device:
        raise InputError(f"pred is on {pred.device} but target is on {target.device}; use one device")
    if mask is not None:
        mask = check_mask(mask, "mask", like=pred)
        if mask.device != pred.device:
            raise InputError(f"pred is on {pred.device} but mask is on {mask.device}; use one device")
    return pred, target, mask


def check_data_range(data_range: object, pred: torch.Tensor, target: torch.Tensor) -> float:
    """Validate ``data_range`` (R in PSNR and SSIM) against the values it describes.

    Images here are in [0, 1], so R is 1. A larger R (255, the habit from uint8 code)
    inflates PSNR by ``20 log10(R)`` (48 dB for 255) and makes SSIM's constants too large,
    so it is refused. A smaller R is accepted only when the values actually fit in a span
    of R (checked on ``pred`` and ``target`` together): otherwise it is not their range.
    """
    if isinstance(data_range, bool) or not isinstance(data_range, numbers.Real) or not (
        math.isfinite(float(data_range)) and float(data_range) > 0
    ):
        raise InputError(f"data_range must be a positive finite number (1 for [0, 1] images), got {data_range!r}")
    r = float(data_range)
    if r > 1.0:
        raise InputError(
            f"data_range={data_range!r} does not fit images in [0, 1], whose range is 1 (with it PSNR would "
            f"gain {20 * math.log10(r):.1f} dB and SSIM's constants grow {r * r:.4g} times); "
            "pass data_range=1 (the default)"
        )
    lo = min(float(pred.detach().min()), float(target.detach().min()))
    hi = max(float(pred.detach().max()), float(target.detach().max()))
    if hi - lo > r * (1 + 1e-6):
        raise InputError(
            f"data_range={data_range!r} is smaller than the span of the values, [{lo:.4g}, {hi:.4g}]; "
            "pass data_range=1 (the default) for images in [0, 1]"
        )
    return r


def _mean_per_image(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, C, H, W) ``values`` per image, over all pixels or over hole pixels only."""
    if mask is None:
        return values.flatten(1).mean(1)
    weight = mask.to(values.dtype).expand_as(values)
    return (values * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)


def mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per image, shape (B,); with ``mask`` (1 = hole) over hole pixels only."""
    pred, target, mask = check_pred_target(pred, target, mask)
    dt = _work_dtype(pred)
    diff = pred.to(dt) - target.to(dt)
    return _mean_per_image(diff * diff, mask).float()


def mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error (L1) per image, shape (B,); with ``mask`` over hole pixels only.

    The hole-only version on [0, 1] values is the "MAE" of MMagic's inpainting tables.
    """
    pred, target, mask = check_pred_target(pred, target, mask)
    dt = _work_dtype(pred)
    return _mean_per_image((pred.to(dt) - target.to(dt)).abs(), mask).float()


def psnr(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Peak signal-to-noise ratio ``10 log10(R² / MSE)`` in dB per image, shape (B,).

    Identical images give ``inf`` (MSE = 0). With ``mask`` the MSE is taken over the
    hole pixels only ("hole PSNR"), which ignores the copied known region.
    """
    pred, target, mask = check_pred_target(pred, target, mask)
    data_range = check_data_range(data_range, pred, target)
    dt = _work_dtype(pred)
    diff = pred.to(dt) - target.to(dt)
    err = _mean_per_image(diff * diff, mask)
    with torch.no_grad():
        out = 10.0 * torch.log10(float(data_range) ** 2 / err)  # err == 0 -> +inf, by design
    return out.float()


def _gaussian_kernel_1d(sigma: float, truncate: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def ssim_map(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    sigma: float = SSIM_SIGMA,
) -> torch.Tensor:
    """The SSIM map (B, C, H - 10, W - 10) on the pixels where the 11×11 window fits.

    This is scikit-image's full SSIM image after its border crop; :func:`ssim` is its mean.
    """
    pred, target, _ = check_pred_target(pred, target)
    data_range = check_data_range(data_range, pred, target)
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 0 < float(sigma) <= 10:
        raise InputError(f"sigma must be a number in (0, 10] (the SSIM Gaussian's width; 1.5 is standard), "
                         f"got {sigma!r}")
    win = ssim_window_size(sigma)
    h, w = pred.shape[-2:]
    if h < win or w < win:
        raise InputError(
            f"SSIM needs images of at least {win}x{win} pixels (its Gaussian window), got {h}x{w}"
        )
    dt = _work_dtype(pred)
    b, c = pred.shape[:2]
    x = pred.to(dt).reshape(b * c, 1, h, w)
    y = target.to(dt).reshape(b * c, 1, h, w)
    k = _gaussian_kernel_1d(sigma, SSIM_TRUNCATE, dt, pred.device)
    kh, kw = k.view(1, 1, -1, 1), k.view(1, 1, 1, -1)

    def blur(z: torch.Tensor) -> torch.Tensor:  # separable Gaussian, "valid" = skimage's crop
        return F.conv2d(F.conv2d(z, kh), kw)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    vxy = blur(x * y) - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.reshape(b, c, h - win + 1, w - win + 1)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity per image, shape (B,), Gaussian 11×11 window, σ = 1.5.

    Matches scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=...)``: mean over the
    border-cropped map of each channel, then mean over channels.
    """
    return ssim_map(pred, target, data_range).flatten(1).mean(1).float()


def is_higher_better(metric: str) -> bool:
    """True for PSNR/SSIM-like scores, False for errors and distances (MAE, MSE, LPIPS, FID)."""
    if not isinstance(metric, str):
        raise InputError(f"metric must be a metric name (str), got {type(metric).__name__}")
    key = metric.lower()
    return "psnr" in key or "ssim" in key


def format_metric(metric: str, value: float) -> str:
    """A metric value as printed in tables: PSNR with 2 decimals, others with 4; inf as 'inf'."""
    if not isinstance(metric, str):
        raise InputError(f"metric must be a metric name (str), got {type(metric).__name__}")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor))
                              or (isinstance(value, torch.Tensor) and value.numel() != 1)):
        raise InputError(f"value must be one number, got {type(value).__name__} {value!r:.40}")
    value = None if value is None else float(value)
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.2f}" if "psnr" in metric.lower() else f"{value:.4f}"
