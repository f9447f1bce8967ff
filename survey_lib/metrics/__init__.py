"""Metrics of image inpainting: pixel, perceptual, distributional, and per-bin evaluation.

* :mod:`~survey_lib.metrics.pixel` — PSNR, SSIM, MAE, MSE (+ hole-only variants);
* :mod:`~survey_lib.metrics.perceptual` — LPIPS, FID, FD/KD on VGG16 features (labelled, not
  FID), diversity of pluralistic samples;
* :mod:`~survey_lib.metrics.boundary` — the seam error at the hole boundary;
* :mod:`~survey_lib.metrics.sharpness` — the one definition of sharpness inside the hole
  (:func:`hole_gradient_energy`, :func:`sharpness_ratio`; the Sobel variant chapters
  03.1–03.3 printed earlier is kept, not canonical, as :func:`sobel_hole_sharpness`);
* :mod:`~survey_lib.metrics.evaluate` — :func:`evaluate` a method per hole-ratio bin,
  :func:`compare_tables` of several methods.
"""

from __future__ import annotations

from survey_lib.metrics.boundary import boundary_ring, seam_error
from survey_lib.metrics.evaluate import (
    METRICS,
    CompareTable,
    EvalTable,
    bin_labels,
    compare_tables,
    evaluate,
    metric_label,
)
from survey_lib.metrics.perceptual import (
    SmallSampleWarning,
    WeightsCorrupt,
    WeightsUnavailable,
    clear_model_cache,
    diversity,
    fd_vgg16,
    fid,
    frechet_distance,
    hub_checkpoint_path,
    inception_features,
    kid_from_features,
    kid_vgg16,
    lpips_available,
    lpips_distance,
    lpips_plumbing_check,
    vgg16_features,
    weights_cached,
)
from survey_lib.metrics.pixel import (
    format_metric,
    is_higher_better,
    mae,
    mse,
    psnr,
    ssim,
    ssim_map,
)
from survey_lib.metrics.sharpness import hole_gradient_energy, sharpness_ratio, sobel_hole_sharpness

__all__ = [
    "METRICS",
    "boundary_ring",
    "seam_error",
    "CompareTable",
    "EvalTable",
    "SmallSampleWarning",
    "WeightsCorrupt",
    "WeightsUnavailable",
    "bin_labels",
    "clear_model_cache",
    "compare_tables",
    "diversity",
    "evaluate",
    "fd_vgg16",
    "fid",
    "format_metric",
    "frechet_distance",
    "hole_gradient_energy",
    "hub_checkpoint_path",
    "inception_features",
    "is_higher_better",
    "kid_from_features",
    "kid_vgg16",
    "lpips_available",
    "lpips_distance",
    "lpips_plumbing_check",
    "mae",
    "metric_label",
    "mse",
    "psnr",
    "sharpness_ratio",
    "sobel_hole_sharpness",
    "ssim",
    "ssim_map",
    "vgg16_features",
    "weights_cached",
]
