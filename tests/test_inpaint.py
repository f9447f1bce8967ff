"""The method interface's entry points refuse bad input with messages that say what to do."""

from __future__ import annotations

import pytest
import torch

from survey_lib.data.checks import InputError
from survey_lib.inpaint import composite, inpaint, predict
from survey_lib.models.registry import build


class _Strided:
    """A method that needs multiples of 8 and does not check it itself (like a user's own)."""

    name = "strided"
    stride = 8

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.full_like(image, 0.5)


def _pair(size: int = 32, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4 : size // 2, size // 4 : size // 2] = 1.0
    return image, mask


def test_predict_checks_the_methods_stride_before_running_it():
    method = _Strided()
    image, mask = _pair(30)
    with pytest.raises(InputError, match="strided needs height and width divisible by 8, got 30x30; "
                                         "resize or pad to 32x32"):
        predict(method, image, mask)
    assert method.calls == 0  # refused at the entry point, not inside the method
    image, mask = _pair(32)
    assert predict(method, image, mask).shape == image.shape and method.calls == 1


def test_a_learned_model_refuses_float64_channels_last_and_non_divisible_sizes():
    unet = build("unet", channels=3, preset="smoke")
    image, mask = _pair(32)
    with pytest.raises(InputError, match=r"float32 .* got dtype torch.float64 \(convert it with .float\(\)\)"):
        predict(unet, image.double(), mask)
    with pytest.raises(InputError, match=r"channels come second: \(B, C, H, W\)"):
        predict(unet, image.permute(0, 2, 3, 1).contiguous(), mask)
    small, small_mask = _pair(30)
    with pytest.raises(InputError, match=f"unet needs height and width divisible by {unet.stride}, got 30x30"):
        inpaint(unet, small, small_mask)


def test_predict_refuses_a_method_that_is_not_callable():
    image, mask = _pair()
    with pytest.raises(InputError, match="method must be callable.*got str"):
        predict("telea", image, mask)


def test_composite_refuses_a_mask_that_does_not_match_or_is_soft():
    image, mask = _pair(32, batch=2)
    pred = torch.zeros_like(image)
    with pytest.raises(InputError, match=r"mask of shape \(2, 1, 16, 32\) does not match the image"):
        composite(image, mask[:, :, :16], pred)
    with pytest.raises(InputError, match="must be binary"):
        composite(image, mask * 0.5, pred)
    out = composite(image, mask, pred)
    assert torch.equal(out[mask.expand_as(image) == 0], image[mask.expand_as(image) == 0])
    assert (out[mask.expand_as(image) == 1] == 0).all()
