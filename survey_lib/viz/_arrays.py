"""Turn library tensors into arrays matplotlib can draw, validating them on the way.

Images arrive in the library's convention (float32 (B, C, H, W) in [0, 1], C = 1 or 3;
a single dataset sample (C, H, W) is accepted too) and leave as NumPy (H, W) grey or
(H, W, 3) RGB arrays. Masks are float32 (B, 1, H, W) of 0/1 with 1 = hole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from survey_lib.data.checks import InputError, check_image, check_mask


def image_batch(images: object, name: str = "images") -> torch.Tensor:
    """Validate an image batch; a single (C, H, W) sample becomes a batch of one."""
    if isinstance(images, torch.Tensor) and images.ndim == 3 and images.shape[0] in (1, 3):
        images = images.unsqueeze(0)
    return check_image(images, name).detach().cpu()


def mask_batch(mask: object, like: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """Validate a mask matching ``like``; for drawing, empty and full masks are fine."""
    if isinstance(mask, torch.Tensor) and mask.ndim == 3 and mask.shape[0] == 1 and like.shape[0] == 1:
        mask = mask.unsqueeze(0)
    return check_mask(mask, name, like=like, allow_empty=True, allow_full=True).detach().cpu()


def image_list(images: object, name: str = "images") -> list[torch.Tensor]:
    """A tensor batch or a list of images/batches -> a flat list of (1, C, H, W) tensors.

    A list may mix grey and RGB images and sizes (e.g. an image next to its mask).
    """
    if isinstance(images, torch.Tensor):
        batch = image_batch(images, name)
        return [batch[i : i + 1] for i in range(batch.shape[0])]
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if len(images) == 0:
            raise InputError(f"{name} is an empty list; give at least one image")
        out: list[torch.Tensor] = []
        for i, item in enumerate(images):
            out.extend(image_list_item(item, f"{name}[{i}]"))
        return out
    raise InputError(
        f"{name} must be a tensor (B, C, H, W) or a list of tensors, got {type(images).__name__}"
    )


def image_list_item(item: object, name: str) -> list[torch.Tensor]:
    if not isinstance(item, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor image, got {type(item).__name__}")
    batch = image_batch(item, name)
    return [batch[i : i + 1] for i in range(batch.shape[0])]


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) tensor -> (H, W) grey or (H, W, 3) RGB float array."""
    x = image[0] if image.ndim == 4 else image
    arr = x.detach().cpu().float().numpy()
    return arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))


def draw(ax: object, image: torch.Tensor, title: str | None = None) -> None:
    """Show one image on ``ax``: grey with a fixed [0, 1] grey map, RGB as is."""
    arr = to_numpy(image)
    if arr.ndim == 2:
        ax.imshow(arr, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(arr, 0.0, 1.0), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)


def tile(images: torch.Tensor, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Lay a batch (B, C, H, W) out as one (rows*H, cols*W[, 3]) array with white gaps."""
    b, c, h, w = images.shape
    ncols = ncols or max(1, math.ceil(math.sqrt(b)))
    nrows = math.ceil(b / ncols)
    canvas = np.ones((c, nrows * (h + pad) - pad, ncols * (w + pad) - pad), dtype=np.float32)
    for i in range(b):
        r, k = divmod(i, ncols)
        y, x = r * (h + pad), k * (w + pad)
        canvas[:, y : y + h, x : x + w] = images[i].detach().cpu().float().numpy()
    return canvas[0] if c == 1 else np.transpose(canvas, (1, 2, 0))


def check_positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive int, got {value!r}")
    return value
