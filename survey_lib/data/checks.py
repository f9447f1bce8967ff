"""Input checks shared by every public entry point.

The library's conventions, checked here and nowhere else:

* images are float32 tensors in [0, 1] of shape (B, C, H, W), C = 1 (grey) or 3 (RGB);
* masks are float32 tensors of shape (B, 1, H, W) holding only 0 and 1, **1 = hole**.

Each check raises :class:`InputError` (a ``ValueError``) whose message names the
argument, what was expected and what arrived, so a user never meets a cryptic torch
error deep inside a model.
"""

from __future__ import annotations

import numbers

import torch

IMAGE_CHANNELS = (1, 3)


class InputError(ValueError):
    """An argument does not follow the library's image/mask conventions."""


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_image(image: object, name: str = "image", channels: tuple[int, ...] = IMAGE_CHANNELS) -> torch.Tensor:
    """Validate an image batch and return it unchanged.

    Accepts float32 (B, C, H, W) in [0, 1]; rejects anything else with a clear message.
    """
    if not isinstance(image, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {_describe(image)}")
    if image.ndim != 4:
        hint = " (add a batch dimension with .unsqueeze(0))" if image.ndim == 3 else ""
        raise InputError(f"{name} must have shape (B, C, H, W), got shape {tuple(image.shape)}{hint}")
    if image.dtype != torch.float32:
        hint = ""
        if image.dtype == torch.uint8:
            hint = " (divide uint8 images by 255 and call .float())"
        elif image.is_floating_point():
            hint = " (convert it with .float())"
        raise InputError(f"{name} must be float32 in [0, 1], got dtype {image.dtype}{hint}")
    if image.shape[1] not in channels:
        raise InputError(
            f"{name} must have {' or '.join(map(str, channels))} channels, got {image.shape[1]} "
            f"(shape {tuple(image.shape)}; channels come second: (B, C, H, W))"
        )
    if image.shape[0] == 0 or image.shape[2] == 0 or image.shape[3] == 0:
        raise InputError(f"{name} is empty: shape {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise InputError(f"{name} contains NaN or infinite values")
    lo, hi = float(image.detach().min()), float(image.detach().max())  # no autograd warning
    if lo < 0.0 or hi > 1.0:
        raise InputError(f"{name} values must lie in [0, 1], got range [{lo:.8g}, {hi:.8g}]{range_hint(lo, hi)}")
    return image


#: how far outside [0, 1] values may stray and still be called rounding error
ROUNDING_SLACK = 1e-3


def range_hint(lo: float, hi: float) -> str:
    """Advice for an image whose values span [lo, hi] instead of [0, 1], fitted to the values.

    Each hint names the convention the values most plausibly follow and the one-line fix;
    values that fit none of them get no guess (a wrong guess is worse than none).
    """
    slack = ROUNDING_SLACK
    if lo >= -slack and hi <= 1.0 + slack:
        return " (only rounding error away from [0, 1]; clip it with .clamp(0, 1))"
    if -1.0 - slack <= lo < 0.0 and hi <= 1.0 + slack:
        return " (it looks like [-1, 1]; map it with (x + 1) / 2)"
    if lo >= -slack and 1.5 < hi <= 255.0 + slack:
        return " (it looks like [0, 255]; divide by 255)"
    if lo >= -slack and 255.0 + slack < hi <= 65535.0 + slack:
        return " (it looks like 16-bit [0, 65535]; divide by 65535)"
    if lo < -1.0 - slack and hi <= 255.0:
        return " (it looks normalised by a mean and std, e.g. ImageNet's; undo that normalisation)"
    return ""


def check_count(value: object, name: str = "n", minimum: int = 1) -> int:
    """An integer count (samples, steps, ...) of at least ``minimum``; bools and floats refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def check_mask(
    mask: object,
    name: str = "mask",
    like: torch.Tensor | None = None,
    allow_empty: bool = False,
    allow_full: bool = False,
) -> torch.Tensor:
    """Validate a mask batch (B, 1, H, W) of 0/1 floats, 1 = hole, and return it.

    ``like`` is an image batch the mask must match in batch size and spatial size.
    By default a mask with no hole at all, or one that is entirely hole, is rejected:
    neither is an inpainting problem (pass ``allow_empty``/``allow_full`` to accept).
    """
    if not isinstance(mask, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B, 1, H, W), got {_describe(mask)}")
    if mask.ndim != 4 or mask.shape[1] != 1:
        hint = ""
        if mask.ndim == 3:
            hint = " (add a channel dimension with .unsqueeze(1))"
        elif mask.ndim == 4 and mask.shape[1] == 3:
            hint = " (a mask has one channel; take mask[:, :1])"
        raise InputError(f"{name} must have shape (B, 1, H, W), got shape {tuple(mask.shape)}{hint}")
    if mask.dtype == torch.bool:
        raise InputError(f"{name} must be float32 (1 = hole), got bool: use mask.float()")
    if mask.dtype != torch.float32:
        raise InputError(f"{name} must be float32 holding 0 and 1 (1 = hole), got dtype {mask.dtype}")
    if not torch.isfinite(mask).all():
        raise InputError(f"{name} contains NaN or infinite values")
    if not ((mask == 0) | (mask == 1)).all():
        lo, hi = float(mask.detach().min()), float(mask.detach().max())
        raise InputError(
            f"{name} must be binary (only 0 and 1, 1 = hole), got values in [{lo:.4g}, {hi:.4g}]; "
            "threshold it, e.g. (mask > 0.5).float()"
        )
    if like is not None:
        if mask.shape[0] != like.shape[0] or mask.shape[-2:] != like.shape[-2:]:
            hint = ""
            if mask.shape[0] != like.shape[0]:
                hint = "; give one mask per image (repeat it with mask.expand(B, -1, -1, -1))"
            elif tuple(mask.shape[-2:]) == tuple(like.shape[-2:])[::-1]:
                hint = ("; height and width are swapped: was one of them rotated? (photos carry an EXIF "
                        "orientation that viewers apply; load_image/load_mask apply it too)")
            else:
                hint = "; was the mask drawn on a resized or rotated copy of the image?"
            raise InputError(
                f"{name} of shape {tuple(mask.shape)} does not match the image of shape "
                f"{tuple(like.shape)}: expected ({like.shape[0]}, 1, {like.shape[2]}, {like.shape[3]}){hint}"
            )
    per_image = mask.flatten(1).mean(1)
    if not allow_empty and bool((per_image == 0).any()):
        i = int((per_image == 0).nonzero()[0])
        raise InputError(f"{name}[{i}] has no hole (all zeros); 1 marks the pixels to fill")
    if not allow_full and bool((per_image == 1).any()):
        i = int((per_image == 1).nonzero()[0])
        raise InputError(
            f"{name}[{i}] is all hole (all ones): nothing is known. If 1 marks *known* pixels in "
            "your data, invert it with 1 - mask (this library uses 1 = hole)"
        )
    return mask


def check_pair(image: object, mask: object, **mask_kwargs: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an (image, mask) pair and check that they match."""
    img = check_image(image)
    m = check_mask(mask, like=img, **mask_kwargs)
    if m.device != img.device:
        raise InputError(f"image is on {img.device} but mask is on {m.device}; move both to one device")
    return img, m


def check_divisible(x: torch.Tensor, stride: int, who: str = "this model") -> torch.Tensor:
    """Check that H and W are multiples of ``stride`` (a model's total downsampling)."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise InputError(f"stride must be a positive int (a model's total down-sampling), got {stride!r}")
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise InputError(f"expected an image tensor (..., H, W), got {_describe(x)}")
    h, w = x.shape[-2:]
    if h % stride or w % stride:
        up_h, up_w = -(-h // stride) * stride, -(-w // stride) * stride
        raise InputError(
            f"{who} needs height and width divisible by {stride}, got {h}x{w}; "
            f"resize or pad to {up_h}x{up_w}"
        )
    return x
