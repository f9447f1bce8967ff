"""Small helpers shared by the widgets: image validation and tensor -> uint8 pixels."""

from __future__ import annotations

import numpy as np
import torch

from survey_lib.data.checks import InputError, check_image


def single_image(image: object, name: str = "image") -> torch.Tensor:
    """Validate one image: (1, C, H, W) or a dataset sample (C, H, W) -> (1, C, H, W)."""
    if isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[0] in (1, 3):
        image = image.unsqueeze(0)
    img = check_image(image, name)
    if img.shape[0] != 1:
        raise InputError(f"{name} must be one image (1, C, H, W), got a batch of {img.shape[0]}: pass image[:1]")
    return img.detach().cpu()


def to_uint8_rgb(image: torch.Tensor, scale: int = 1) -> np.ndarray:
    """(1, C, H, W) in [0, 1] -> (H*scale, W*scale, 3) uint8, nearest-neighbour upscaled."""
    arr = image[0].detach().cpu().float().numpy()
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    rgb = np.round(np.transpose(arr, (1, 2, 0)) * 255.0).clip(0, 255).astype(np.uint8)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return rgb


def png_bytes(image: torch.Tensor, scale: int = 1) -> bytes:
    """PNG encoding of one (1, C, H, W) image (for ``ipywidgets.Image``)."""
    import cv2

    ok, buf = cv2.imencode(".png", to_uint8_rgb(image, scale)[:, :, ::-1])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 array
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def display_scale(height: int, width: int, target: int = 256) -> int:
    """Integer upscale so a small image is about ``target`` pixels on screen."""
    return max(1, target // max(height, width))
