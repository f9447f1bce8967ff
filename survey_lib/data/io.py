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

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from survey_lib.data.base import check_channels, parse_size, resize_cover_crop
from survey_lib.data.checks import ROUNDING_SLACK, InputError, check_image, range_hint

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
        raise FileNotFoundError(f"{what} file not found: '{show_path(p)}'")
    if p.is_dir():
        raise InputError(f"{what} path '{show_path(p)}' is a directory, expected an image file")
    if not p.is_file():  # a FIFO or device would block or stream forever
        raise InputError(f"{what} path '{show_path(p)}' is not a regular file (a pipe or device?)")
    return p


def show_path(path: object) -> str:
    """A path as printable text, even when its name holds bytes that are not UTF-8.

    Such names (``b"photo\xff.jpg"`` on Linux) become lone surrogates in Python's str, which
    cannot be encoded to UTF-8, so printing them or writing them to a UTF-8 log would crash.
    The undecodable bytes are shown as ``\xff`` escapes instead.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace") if isinstance(path, (str, Path)) else str(path)


#: Pillow modes holding more than 8 bits per sample (grey only: Pillow reads 16-bit RGB as 8-bit RGB)
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16S", "I", "F")
#: modes that are grey, so ``channels=None`` keeps one channel
GREY_MODES = ("L", "1", "LA", "La", *HIGH_BIT_MODES)


def full_scale(img: Image.Image, where: str) -> float:
    """The value that means white in a high-bit image, from its bit depth (never its content).

    16-bit modes: 65535 (32767 signed); ``I`` (32-bit) from PNG and PGM/PPM files holds
    16-bit samples (Pillow stretches a PGM's ``maxval`` to 65535); from TIFF the
    BitsPerSample and SampleFormat tags decide; float (``F``) images are [0, 1] by convention.
    Content-based guesses (divide by 255 if the maximum is at most 255) turn a dark 16-bit
    photo 256 times too bright, hence none here.
    """
    if img.mode == "F":
        return 1.0
    if img.mode == "I;16S":
        return 32767.0
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode == "I":
        fmt = (img.format or "").upper()
        if fmt in ("PNG", "PPM"):
            return 65535.0
        tags = getattr(img, "tag_v2", None)
        if fmt == "TIFF" and tags is not None:
            bits = tags.get(258, (32,))
            bits = int(bits[0] if isinstance(bits, tuple) else bits)
            signed = int((tags.get(339, (1,)) or (1,))[0]) == 2
            return float(2 ** (bits - 1) - 1 if signed else 2**bits - 1)
        raise InputError(
            f"{where}: 32-bit integer pixels from a {fmt or 'unknown'} file have no known bit depth, "
            "so their brightness is ambiguous; save it as an 8- or 16-bit PNG")
    raise InputError(f"{where}: mode {img.mode} is not a high-bit mode")


def high_bit_to_unit(img: Image.Image, scale: float, where: str) -> np.ndarray:
    """A high-bit grey image as (H, W) float32 in [0, 1], divided by ``scale`` (:func:`full_scale`).

    Values that the bit depth cannot explain (negative integers, float pixels outside
    [0, 1] beyond rounding, NaN) are refused: clipping them would silently change the picture.
    """
    arr = np.asarray(img, dtype=np.float64) / scale
    if not np.isfinite(arr).all():
        raise InputError(f"{where} contains NaN or infinite pixel values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -ROUNDING_SLACK or hi > 1.0 + ROUNDING_SLACK:
        raw_lo, raw_hi = lo * scale, hi * scale
        what = "float pixels must lie in [0, 1]" if img.mode == "F" else f"pixels must lie in [0, {scale:.0f}]"
        raise InputError(f"{where}: {what}, got range [{raw_lo:.6g}, {raw_hi:.6g}]"
                         + (range_hint(raw_lo, raw_hi) if img.mode == "F" else ""))
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def upright(img: Image.Image, where: str) -> None:
    """Apply the file's EXIF orientation in place, as image viewers do.

    Cameras store a portrait photo as a landscape pixel grid plus an "Orientation" tag;
    ignoring the tag loads it sideways, and a mask painted on the picture as displayed
    then no longer matches. Unreadable EXIF is reported and the pixels are used as stored.
    """
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as err:  # a broken EXIF block must not make the picture unreadable
        warnings.warn(f"{where}: cannot read its EXIF orientation ({type(err).__name__}: {err}); "
                      "using the pixels as stored", stacklevel=3)


def oriented_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) as displayed: swapped when the EXIF orientation turns the image by 90°."""
    try:
        turned = img.getexif().get(0x0112) in (5, 6, 7, 8)
    except Exception:  # unreadable EXIF: upright() warns about it
        turned = False
    return (img.height, img.width) if turned else (img.width, img.height)


def _read(path: Path, what: str) -> tuple[Image.Image, float | None]:
    """The decoded, upright first frame of ``path`` and, for high-bit images, its full scale."""
    where = f"{what} file '{show_path(path)}'"
    try:
        with Image.open(path) as img:
            frames = int(getattr(img, "n_frames", 1) or 1)
            img.load()
            scale = full_scale(img, where) if img.mode in HIGH_BIT_MODES else None
            upright(img, where)
            out = img.copy()
    except InputError:
        raise
    except Exception as err:  # any decoder failure: name the file
        raise InputError(f"cannot read {where}: {type(err).__name__}: {err}") from err
    if frames > 1:
        warnings.warn(f"{where} holds {frames} frames (an animation or multi-page file); "
                      "using the first", stacklevel=3)
    return out, scale


def load_image(path: str | Path, size: object = None, channels: int | None = None) -> torch.Tensor:
    """Image file -> (1, C, H, W) float32 in [0, 1].

    ``channels``: None keeps grey files grey (C = 1) and makes everything else RGB (alpha
    dropped); 1 or 3 forces it. ``size``: int or (height, width): resize to cover, then
    centre-crop (no distortion). The EXIF orientation is applied (the picture loads as
    viewers show it); 16-bit grey files are scaled by their bit depth (16-bit colour files
    arrive at 8-bit precision: Pillow reads them so); only the first frame of an animation
    is used (with a warning). Missing or undecodable files raise an error naming the file.
    """
    p = _as_path(path, "image")
    img, scale = _read(p, "image")
    if channels is None:
        channels = 1 if img.mode in GREY_MODES else 3
    channels = check_channels(channels)
    if scale is not None:
        grey = high_bit_to_unit(img, scale, f"image file '{show_path(p)}'")
        arr = grey[:, :, None] if channels == 1 else np.repeat(grey[:, :, None], 3, axis=2)
    else:
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
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


def _mask_grey(img: Image.Image, scale: float | None, where: str) -> np.ndarray:
    """A mask file's pixels as (H, W) float32 in [0, 1].

    High-bit files are scaled by their bit depth. Transparent files are read by colour
    (a stroke painted on a transparent layer keeps its colour), except when the colour is
    uniform and only the transparency varies: then the alpha channel *is* the mask
    (opaque = white), and a warning says so.
    """
    if scale is not None:
        return high_bit_to_unit(img, scale, where)
    if img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        grey = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.float32) / 255.0
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        if grey.min() == grey.max() and alpha.min() != alpha.max():
            warnings.warn(f"{where}: its colour is uniform and only its transparency varies; "
                          "read the opaque pixels as white", stacklevel=3)
            return alpha
        return grey
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


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
    img, full = _read(p, "mask")
    grey = _mask_grey(img, full, f"mask '{show_path(p)}'")
    binary = (grey == 0.0) | (grey == 1.0)
    mid_share = float(((grey > MID_GREY[0]) & (grey < MID_GREY[1])).mean())
    if mid_share > MAX_MID_GREY_SHARE:
        raise InputError(
            f"mask '{show_path(p)}' does not look like a mask: {mid_share:.0%} of its pixels are mid-grey "
            "(neither near black nor near white). A mask file is black and white (one colour marks "
            "the hole); was a photo given as the mask?")
    if not binary.all():
        share = 1.0 - float(binary.mean())
        warnings.warn(
            f"mask {show_path(p.name)}: {share:.1%} of the pixels are neither black nor white; "
            "thresholded at 0.5 (white = value > 0.5)", stacklevel=2)
    white = grey > 0.5
    white_share = float(white.mean())
    if white_share in (0.0, 1.0):
        colour = "white" if white_share == 1.0 else "black"
        hint = ""
        if full is not None and colour == "black" and grey.max() > 0:
            hint = (f" (it is a {img.mode} file whose white is {full:.6g}, but its brightest pixel is only "
                    f"{grey.max() * full:.6g}; save the mask as an 8-bit PNG)")
        raise InputError(f"mask '{show_path(p)}' is entirely {colour}: it marks no hole, or no known pixel{hint}")
    if hole == "auto":
        hole = "white" if white_share <= 0.5 else "black"
        if AMBIGUOUS_BAND[0] <= white_share <= AMBIGUOUS_BAND[1]:
            warnings.warn(
                f"mask {show_path(p.name)}: white covers {white_share:.0%}, so its polarity is ambiguous; "
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
            raise InputError(f"mask '{show_path(p)}' resized to {h}x{w} has no hole or no known pixel left")
    return torch.from_numpy(np.ascontiguousarray(mask))[None, None]
