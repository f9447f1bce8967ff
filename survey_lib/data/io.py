"""Reading and writing images and masks.

* :func:`load_image` -> (1, C, H, W) float32 in [0, 1]; :func:`save_image` writes a PNG.
* :func:`load_mask` reads a user's mask file and converts it to the library convention
  (1 = hole). Mask files in the wild use either polarity (white = hole in DeepFill,
  LaMa and most painting tools; white = *known* in NVIDIA's irregular-mask set), so the
  polarity is an explicit argument: ``hole="white"``, ``hole="black"``, or ``"auto"``,
  which takes the *minority* value as the hole (holes are usually smaller than the
  known part) and warns when the two are too close to call.

The demo pictures and masks of ``data/demo`` are in :mod:`survey_lib.data.demo`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from survey_lib.data.base import check_channels, parse_size, resize_cover_crop
from survey_lib.data.checks import InputError, check_image

AMBIGUOUS_BAND = (0.4, 0.6)  # "auto" polarity warns when the white share falls in here
# A mask file whose pixels are mostly mid-grey (neither near black nor near white) is not
# a mask at all (typically a photo passed by mistake): thresholding it would give noise.
MID_GREY = (0.1, 0.9)
MAX_MID_GREY_SHARE = 0.25


def _as_path(path: object, what: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise InputError(f"{what} path must be a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{what} file not found: {str(p)!r}")
    if p.is_dir():
        raise InputError(f"{what} path {str(p)!r} is a directory, expected an image file")
    return p


def _read(path: Path, what: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except Exception as err:  # any decoder failure: name the file
        raise InputError(f"cannot read {what} file {str(path)!r}: {type(err).__name__}: {err}") from err


def _to_unit_float(img: Image.Image) -> np.ndarray:
    """Pixels as float32 in [0, 1], (H, W) or (H, W, C), whatever the bit depth."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        return arr / (65535.0 if arr.max() > 255 else 255.0)
    if img.mode == "F":
        return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    if img.mode == "1":
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return np.asarray(img, dtype=np.float32) / 255.0


def load_image(path: str | Path, size: object = None, channels: int | None = None) -> torch.Tensor:
    """Image file -> (1, C, H, W) float32 in [0, 1].

    ``channels``: None keeps grey files grey (C = 1) and makes everything else RGB (alpha
    dropped); 1 or 3 forces it. ``size``: int or (height, width): resize to cover, then
    centre-crop (no distortion). Missing or undecodable files raise an error naming the file.
    """
    p = _as_path(path, "image")
    img = _read(p, "image")
    if channels is None:
        channels = 1 if img.mode in ("L", "1", "I;16", "I;16B", "I;16L", "I", "F", "LA") else 3
    channels = check_channels(channels)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = _to_unit_float(img)
        arr = grey[:, :, None] if channels == 1 else np.repeat(grey[:, :, None], 3, axis=2)
    else:
        arr = _to_unit_float(img.convert("L" if channels == 1 else "RGB"))
        arr = arr[:, :, None] if arr.ndim == 2 else arr
    if size is not None:
        h, w = parse_size(size, minimum=1)
        arr = np.clip(resize_cover_crop(arr, h, w), 0.0, 1.0)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().unsqueeze(0)


def check_save_path(path: object) -> Path:
    """Validate where :func:`save_image` will write, before any work is done.

    The format comes from the extension, so it must be one Pillow can write; the parent
    must be (or become) a directory and the path itself must not be one.
    """
    if not isinstance(path, (str, Path)):
        raise InputError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    out = Path(path).expanduser()
    Image.init()
    writable = sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE)
    if out.suffix.lower() not in writable:
        common = ", ".join(e for e in (".png", ".jpg", ".bmp", ".tif", ".webp") if e in writable)
        raise InputError(
            f"cannot write {str(out)!r}: unknown image extension {out.suffix or '(none)'!r}; "
            f"use one of {common} (PNG is lossless)")
    if out.is_dir():
        raise InputError(f"cannot write {str(out)!r}: it is a directory; give a file name such as out.png")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write {str(out)!r}: {str(parent)!r} is a file, not a directory")
            break
    return out


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write an image (1, C, H, W) or (C, H, W) in [0, 1] (or a mask, white = hole) as 8-bit.

    The format follows the file extension (PNG recommended: lossless). Returns the path.
    """
    if isinstance(image, torch.Tensor) and image.ndim == 3:
        image = image.unsqueeze(0)
    check_image(image, "image")
    if image.shape[0] != 1:
        raise InputError(f"save_image writes one image, got a batch of {image.shape[0]}; index it: image[i:i+1]")
    out = check_save_path(path)
    arr = (image[0].detach().cpu().permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(out)
    return out


def load_mask(path: str | Path, hole: str = "auto", size: object = None) -> torch.Tensor:
    """Mask file -> (1, 1, H, W) float32, **1 = hole**, whatever the file's polarity.

    ``hole``: which pixels of the file are the hole: ``"white"`` (bright, DeepFill/LaMa
    style), ``"black"`` (dark, NVIDIA irregular masks) or ``"auto"``: the minority value
    is the hole, with a warning when white covers 40-60 % of the file (pass the polarity
    explicitly then). Colour files are converted to grey; values other than pure black
    and white (anti-aliased edges, JPEG noise) are thresholded at 0.5 with a warning. A
    file that ends up all hole or all known is rejected. ``size`` resizes (nearest) and
    centre-crops like :func:`load_image`.
    """
    if hole not in ("auto", "white", "black"):
        raise InputError(f"hole must be 'auto', 'white' or 'black', got {hole!r}")
    p = _as_path(path, "mask")
    img = _read(p, "mask")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA").convert("RGB")
    grey = _to_unit_float(img if img.mode in ("L", "1", "I;16", "I;16B", "I;16L", "I", "F") else img.convert("L"))
    if grey.ndim == 3:
        grey = grey[:, :, 0]
    binary = (grey == 0.0) | (grey == 1.0)
    mid_share = float(((grey > MID_GREY[0]) & (grey < MID_GREY[1])).mean())
    if mid_share > MAX_MID_GREY_SHARE:
        raise InputError(
            f"mask {str(p)!r} does not look like a mask: {mid_share:.0%} of its pixels are mid-grey "
            "(neither near black nor near white). A mask file is black and white (one colour marks "
            "the hole); was a photo given as the mask?")
    if not binary.all():
        share = 1.0 - float(binary.mean())
        warnings.warn(
            f"mask {p.name}: {share:.1%} of the pixels are neither black nor white; "
            "thresholded at 0.5 (white = value > 0.5)", stacklevel=2)
    white = grey > 0.5
    white_share = float(white.mean())
    if white_share in (0.0, 1.0):
        colour = "white" if white_share == 1.0 else "black"
        raise InputError(f"mask {str(p)!r} is entirely {colour}: it marks no hole, or no known pixel")
    if hole == "auto":
        hole = "white" if white_share <= 0.5 else "black"
        if AMBIGUOUS_BAND[0] <= white_share <= AMBIGUOUS_BAND[1]:
            warnings.warn(
                f"mask {p.name}: white covers {white_share:.0%}, so its polarity is ambiguous; "
                f"assumed the {hole} pixels are the hole. Pass hole='white' or hole='black' to be sure",
                stacklevel=2)
    mask = (white if hole == "white" else ~white).astype(np.float32)
    if size is not None:
        import cv2

        h, w = parse_size(size, minimum=1)
        sh, sw = mask.shape
        scale = max(h / sh, w / sw)
        nh, nw = max(h, round(sh * scale)), max(w, round(sw * scale))
        mask = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_NEAREST)
        top, left = (nh - h) // 2, (nw - w) // 2
        mask = mask[top : top + h, left : left + w]
        if mask.min() == mask.max():
            raise InputError(f"mask {str(p)!r} resized to {h}x{w} has no hole or no known pixel left")
    return torch.from_numpy(np.ascontiguousarray(mask))[None, None]
