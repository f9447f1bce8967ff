"""``folder``: any directory of images (CelebA, Places2, Paris StreetView, your photos).

Files are found recursively by extension and sorted, so the order is the same on every
machine. Each image is resized to cover the requested size and centre-cropped (no
distortion); training samples are flipped left-right at random. JPEGs are decoded at a
reduced DCT scale when the target is small, and resized images stay in a per-process
memory cache (``cache_mb``, 256 MB by default) so later epochs skip decoding.

Robustness, because real data folders are messy:

* a missing path, a path that is not a directory, or a folder with no image files is a
  clear :class:`InputError` naming the path;
* at construction every file's header is read (``check=True``, fast: no pixels are
  decoded) and unreadable files are skipped with **one warning that lists them by name**;
* a file that passes the header check but fails to decode later (a truncated JPEG) is
  skipped at load time with a warning naming it, and the next file is used instead.

Split: ``split="train"``/``"test"`` keeps the files whose *relative path* hashes
(CRC-32, stable across runs and machines) into the train or test share
(``test_fraction``, 10 % by default); ``split="all"`` keeps every file. Adding files to
the folder never moves an existing file to the other split.
"""

from __future__ import annotations

import numbers
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from survey_lib.data.base import ImageSource, check_split, resize_cover_crop
from survey_lib.data.checks import InputError
from survey_lib.data.io import (
    HIGH_BIT_MODES,
    full_scale,
    high_bit_to_unit,
    oriented_size,
    show_path,
    upright,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm")
HASH_BUCKETS = 10_000


def list_images(root: Path) -> list[Path]:
    """All image files under ``root`` (recursive), sorted by relative path."""
    return sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def in_test_split(relative_path: str, test_fraction: float) -> bool:
    """Whether a file belongs to the test split: a stable hash of its relative path.

    The path is hashed as the bytes the file system stores (UTF-8 for ordinary names;
    names that are not valid UTF-8 keep their raw bytes instead of crashing the encoder).
    """
    bucket = zlib.crc32(relative_path.encode("utf-8", "surrogateescape")) % HASH_BUCKETS
    return bucket < test_fraction * HASH_BUCKETS


def _header_ok(path: Path) -> str | None:
    """None if Pillow can identify the file, else the reason it cannot."""
    try:
        with Image.open(path) as img:
            img.size  # noqa: B018 - reading the header is the check
        return None
    except Exception as err:  # any failure means "unreadable"
        return f"{type(err).__name__}: {err}"


def read_rgb_or_grey(path: Path, channels: int, at_least: tuple[int, int] | None = None) -> np.ndarray:
    """Decode ``path`` to (H, W, channels) uint8, upright (alpha dropped, palette expanded).

    The EXIF orientation is applied as viewers do, and 16-bit files are scaled by their
    bit depth (65535 = white), not clipped at 255. ``at_least`` = (height, width): JPEGs
    are decoded directly at the smallest DCT scale (1/2, 1/4, 1/8) that still covers it,
    several times faster than a full decode.
    """
    where = f"image file '{show_path(path)}'"
    with Image.open(path) as img:
        if at_least is not None and img.format == "JPEG":
            h, w = at_least
            shown_w, shown_h = oriented_size(img)
            if (shown_w, shown_h) != img.size:  # stored turned by 90 degrees: ask for the turned size
                h, w = w, h
            scale = max(h / img.height, w / img.width)
            img.draft("RGB" if channels == 3 else "L", (int(img.width * scale) + 1, int(img.height * scale) + 1))
        img.load()
        full = full_scale(img, where) if img.mode in HIGH_BIT_MODES else None
        upright(img, where)
        if full is not None:
            unit = high_bit_to_unit(img, full, where)
            arr = (unit * 255.0 + 0.5).astype(np.uint8)
            return np.repeat(arr[:, :, None], channels, axis=2)
        arr = np.asarray(img.convert("RGB" if channels == 3 else "L"))
    return arr if arr.ndim == 3 else arr[:, :, None]


class Folder(ImageSource):
    """Images from a directory tree, resized + centre-cropped; split by file-name hash."""

    name = "folder"
    splits = ("train", "test", "all")

    def __init__(self, size: object = 64, split: str = "train", channels: int | None = None,
                 root: str | Path | None = None, test_fraction: float = 0.1, check: bool = True,
                 flip: bool | None = None, cache_mb: float = 256.0) -> None:
        super().__init__(size, check_split(split, self.splits), channels)
        if root is None:
            raise InputError("the folder source needs root=<directory of images>")
        if not isinstance(root, (str, Path)):
            raise InputError(f"root must be a path (str or pathlib.Path), got {type(root).__name__}")
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise InputError(f"image folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise InputError(f"image folder {str(self.root)!r} is not a directory")
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) \
                or not 0.0 < float(test_fraction) < 1.0:
            raise InputError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
        for flag, value in (("flip", flip), ("check", check)):
            if value is not None and not isinstance(value, (bool, np.bool_)):
                raise InputError(f"{flag} must be True or False, got {type(value).__name__} {value!r}")
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, numbers.Real) \
                or not 0.0 <= float(cache_mb) < float("inf"):
            raise InputError(f"cache_mb must be a number of megabytes >= 0 (0 = no cache), got {cache_mb!r}")
        self.test_fraction = float(test_fraction)
        self.flip = (self.split == "train") if flip is None else bool(flip)
        files = list_images(self.root)
        if not files:
            raise InputError(
                f"image folder {str(self.root)!r} contains no image files "
                f"(looked recursively for {', '.join(IMAGE_EXTENSIONS)})"
            )
        if check:
            bad = {p: why for p in files if (why := _header_ok(p)) is not None}
            if bad:
                listing = "; ".join(f"{show_path(p.relative_to(self.root))} ({why})" for p, why in bad.items())
                warnings.warn(f"skipping {len(bad)} unreadable image file(s) in {show_path(self.root)}: {listing}", stacklevel=2)
                files = [p for p in files if p not in bad]
        if self.split != "all":
            want_test = self.split == "test"
            files = [p for p in files
                     if in_test_split(p.relative_to(self.root).as_posix(), self.test_fraction) == want_test]
        if not files:
            if self.split == "all":  # every file failed the header check (warned above)
                raise InputError(f"image folder {str(self.root)!r} has no readable image file: "
                                 "every image file in it failed to open (see the warning above)")
            raise InputError(
                f"image folder {str(self.root)!r} has no readable image in the {self.split!r} split "
                f"(test_fraction={self.test_fraction}); use split='all' (CLI: eval --split all) or add images"
            )
        self.files: list[Path] = files
        self.failed: set[Path] = set()
        self.cache_bytes = int(float(cache_mb) * 2**20)
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    def _load(self, file_index: int) -> np.ndarray:
        """File ``file_index`` decoded, resized and cropped; kept in memory while the
        per-process cache (``cache_mb``) has room, so later epochs skip the decoding."""
        hit = self._cache.get(file_index)
        if hit is not None:
            return hit
        pixels = read_rgb_or_grey(self.files[file_index], self.channels, (self.height, self.width))
        out = resize_cover_crop(pixels, self.height, self.width)
        out = np.ascontiguousarray(out if out.ndim == 3 else out[:, :, None])
        if self._cached_bytes + out.nbytes <= self.cache_bytes:
            self._cache[file_index] = out
            self._cached_bytes += out.nbytes
        return out

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        return {"file": self.files[index % len(self.files)], "flipped": self.flip and bool(rng.random() < 0.5)}

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        info = self.describe(index, rng)
        start = index % len(self.files)
        for offset in range(len(self.files)):
            file_index = (start + offset) % len(self.files)
            path = self.files[file_index]
            if path in self.failed:
                continue
            try:
                out = self._load(file_index)
            except Exception as err:  # a corrupt file must not stop training
                self.failed.add(path)
                warnings.warn(f"skipping unreadable image file {show_path(path)}: {type(err).__name__}: {err}",
                              stacklevel=2)
                continue
            return np.ascontiguousarray(out[:, ::-1]) if info["flipped"] else out
        raise InputError(f"no image in {str(self.root)!r} could be decoded")

    def __len__(self) -> int:
        return len(self.files)
