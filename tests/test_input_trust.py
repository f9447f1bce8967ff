"""No bad input passes silently (issue 8): metric data ranges, range advice that fits the
values, sample counts, and the shared checks every method uses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from survey_lib.data.checks import InputError, check_count, check_image, range_hint
from survey_lib.metrics.pixel import psnr, ssim, ssim_map
from survey_lib.models.base import Method


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 16, 16, generator=g)
    return (target + 0.05 * torch.randn(target.shape, generator=g)).clamp(0, 1), target


# ------------------------------------------------------------------ metrics' data_range
@pytest.mark.parametrize("metric", [psnr, ssim, ssim_map])
def test_a_data_range_the_values_cannot_have_is_refused(metric) -> None:
    """Regression (issue 8.10): psnr(data_range=255) on [0, 1] images added 48 dB."""
    pred, target = _pair()
    with pytest.raises(InputError, match=r"data_range=255 does not fit images in \[0, 1\].*48\.1 dB"):
        metric(pred, target, data_range=255)
    with pytest.raises(InputError, match=r"data_range=0\.1 is smaller than the span of the values"):
        metric(pred, target, data_range=0.1)
    for bad in (0, -1, float("nan"), float("inf"), "1", True, None):
        with pytest.raises(InputError, match="data_range must be a positive finite number"):
            metric(pred, target, data_range=bad)


def test_a_data_range_that_fits_gives_the_textbook_number() -> None:
    pred, target = _pair()
    mse = float(((pred.double() - target.double()) ** 2).flatten(1).mean(1)[0])
    assert float(psnr(pred, target)[0]) == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    assert torch.equal(psnr(pred, target, data_range=np.float32(1.0)), psnr(pred, target))  # numpy scalars
    # values spanning only [0.2, 0.6] may state a range of 0.5 (it covers them)
    small_p, small_t = 0.2 + 0.4 * pred, 0.2 + 0.4 * target
    expected = float(psnr(small_p, small_t)[0]) + 20 * math.log10(0.5)
    assert float(psnr(small_p, small_t, data_range=0.5)[0]) == pytest.approx(expected, rel=1e-5)
    stated = ssim(small_p, small_t, data_range=0.5)  # accepted, and it changes SSIM's constants
    assert stated.shape == (2,) and not torch.allclose(stated, ssim(small_p, small_t))


def test_ssim_sigma_is_checked() -> None:
    pred, target = _pair()
    for bad in (0, -1.5, float("nan"), "1.5"):
        with pytest.raises(InputError, match="sigma must be a number"):
            ssim_map(pred, target, sigma=bad)


# ------------------------------------------------------------------ range advice
@pytest.mark.parametrize(
    "lo, hi, advice",
    [
        (0.0, 1.0000001, "clip it with .clamp(0, 1)"),  # was told to divide by 255
        (-1e-6, 1.0, "clip it with .clamp(0, 1)"),  # was told it looks like [-1, 1]
        (-0.9, 0.95, "map it with (x + 1) / 2"),
        (0.0, 200.0, "divide by 255"),
        (3.0, 255.0, "divide by 255"),
        (0.0, 4000.0, "divide by 65535"),
        (-2.1, 2.6, "normalised by a mean and std"),  # was told to divide by 255
    ],
)
def test_range_advice_fits_the_values(lo: float, hi: float, advice: str) -> None:
    x = torch.linspace(lo, hi, 48, dtype=torch.float64).float().view(1, 3, 4, 4)
    with pytest.raises(InputError, match="values must lie in \\[0, 1\\]") as info:
        check_image(x)
    assert advice in str(info.value)


@pytest.mark.parametrize("lo, hi", [(0.0, 1.2), (-1.0, 300.0), (0.0, 1e6)])
def test_no_advice_when_no_convention_fits(lo: float, hi: float) -> None:
    """A wrong guess is worse than none: 1.2 is neither rounding error nor [0, 255]."""
    assert range_hint(lo, hi) == ""
    with pytest.raises(InputError, match=r"got range \[[-\d.e+]+, [\d.e+]+\]$"):
        check_image(torch.linspace(lo, hi, 48).view(1, 3, 4, 4))


# ------------------------------------------------------------------ sample counts
class _Copy(Method):
    """The smallest deterministic method: returns the image it is given."""

    name = "copy"

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        image, mask = self.check_inputs(image, mask)
        return image


def test_method_sample_refuses_a_count_below_one() -> None:
    """Regression (issue 8.10): Method.sample(n=0) returned an empty tensor, n=-1 too."""
    image, mask = torch.rand(2, 3, 8, 8), torch.zeros(2, 1, 8, 8)
    mask[..., 2:5, 2:5] = 1
    assert _Copy().sample(image, mask, n=3).shape == (3, 2, 3, 8, 8)
    for n in (0, -1):
        with pytest.raises(InputError, match=f"n must be an int >= 1, got {n}"):
            _Copy().sample(image, mask, n=n)
    for n in (2.0, True, "2", None):
        with pytest.raises(InputError, match="n must be an int >= 1, got"):
            _Copy().sample(image, mask, n=n)


def test_check_count() -> None:
    assert check_count(np.int64(3), "steps") == 3
    assert check_count(0, "seed", 0) == 0
    with pytest.raises(InputError, match="steps must be an int >= 2, got 1"):
        check_count(1, "steps", 2)


def test_check_inputs_passes_mask_options_through() -> None:
    image, empty = torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)
    with pytest.raises(InputError, match="has no hole"):
        _Copy().check_inputs(image, empty)
    assert _Copy().check_inputs(image, empty, allow_empty=True)[1] is empty


def test_metric_helpers_refuse_what_they_cannot_format() -> None:
    """Regression: format_metric('psnr', 'abc') raised a bare TypeError, is_higher_better(3) an AttributeError."""
    from survey_lib.metrics.pixel import format_metric, is_higher_better

    assert format_metric("psnr", np.float32(31.256)) == "31.26"
    assert format_metric("lpips", torch.tensor(0.12345)) == "0.1235"
    assert format_metric("ssim", None) == "—" and format_metric("psnr", float("inf")) == "inf"
    for bad in ("abc", True, torch.ones(2), [1.0]):
        with pytest.raises(InputError, match="value must be one number"):
            format_metric("psnr", bad)
    with pytest.raises(InputError, match="metric must be a metric name"):
        is_higher_better(3)
    with pytest.raises(InputError, match="metric must be a metric name"):
        format_metric(None, 1.0)


def test_checks_do_not_warn_on_tensors_that_require_grad() -> None:
    """Regression: checking a prediction with requires_grad=True raised autograd's scalar warning."""
    import warnings

    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_image(x)
        assert torch.isfinite(psnr(x, x.detach().clamp(0, 1) * 0.5)).all()


@pytest.mark.parametrize("n", [True, 0, -1, 2.0])
def test_cvae_sample_refuses_a_count_that_is_not_a_positive_int(n):
    from survey_lib.models.registry import build

    model = build("cvae", channels=1, preset="smoke").eval()
    image = torch.rand(1, 1, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    with pytest.raises(InputError, match="n must be an int >= 1"):
        model.sample(image, mask, n=n)


def test_cli_data_help_lists_every_source():
    import subprocess
    import sys

    from survey_lib.data.dataset import SOURCES

    out = subprocess.run([sys.executable, "-m", "survey_lib", "train", "--help"], capture_output=True,
                         text=True, check=True).stdout
    flat = " ".join(out.split())
    assert all(name in flat for name in SOURCES) and "emoji" in flat
