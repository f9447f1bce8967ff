"""``glyphs``: single characters rendered with the fonts that ship with matplotlib.

A letter or digit in one of 21 typefaces (DejaVu Sans/Serif/Mono and their bold and
oblique variants, STIX General, Computer Modern), at a random size, position and small
rotation, white ink on black, 32x32 grey by default. It is the course's MNIST: tiny,
fast, and *genuinely ambiguous* under a hole (a masked E may be an F, a masked O a C),
which is what pluralistic methods are about.

Split by typeface: the test split draws only from four fonts that training never sees,
so a test score measures completion of unseen letter shapes, not memorised pixels.
Fonts are opened with Pillow's FreeType binding (fast) and cached per process.
"""

from __future__ import annotations

import math
import string
from functools import lru_cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from survey_lib.data.base import ImageSource

CHARACTERS = string.ascii_letters + string.digits
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
TRAIN_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmti10.ttf", "cmtt10.ttf",
)
TEST_FONTS = ("DejaVuSerif-Italic.ttf", "DejaVuSansMono-Bold.ttf", "STIXGeneralItalic.ttf", "cmss10.ttf")
GLYPH_SCALE = (0.55, 0.9)  # font size as a fraction of the image height
MAX_ROTATION = 15.0  # degrees


@lru_cache(maxsize=2048)
def _font(file_name: str, pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / file_name), pixels)


@lru_cache(maxsize=65536)
def _glyph_bitmap(file_name: str, pixels: int, char: str) -> np.ndarray:
    """The tight anti-aliased bitmap of one character (cached: rendering is the slow part)."""
    font = _font(file_name, pixels)
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(canvas).text((-left, -top), char, fill=255, font=font)
    return np.asarray(canvas)


class Glyphs(ImageSource):
    """Random characters in random matplotlib fonts: grey (1 channel) by default."""

    name = "glyphs"
    default_channels = 1

    def __init__(self, size: object = 32, split: str = "train", channels: int | None = None,
                 characters: str = CHARACTERS) -> None:
        super().__init__(size, split, channels)
        if not isinstance(characters, str) or not characters:
            raise ValueError("characters must be a non-empty string")
        self.characters = characters
        self.fonts = TRAIN_FONTS if self.split == "train" else TEST_FONTS

    def _draw(self, rng: np.random.Generator) -> tuple[str, str, int, float, float, float]:
        char = self.characters[int(rng.integers(len(self.characters)))]
        font = self.fonts[int(rng.integers(len(self.fonts)))]
        pixels = max(6, int(rng.uniform(*GLYPH_SCALE) * min(self.height, self.width)))
        angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION)
        return char, font, pixels, angle, rng.random(), rng.random()

    def describe(self, index: int, rng: np.random.Generator) -> dict[str, object]:
        char, font, pixels, angle, _, _ = self._draw(rng)
        return {"char": char, "font": font, "pixels": pixels, "angle": angle}

    def render(self, index: int, rng: np.random.Generator) -> np.ndarray:
        char, font, pixels, angle, u, v = self._draw(rng)
        bitmap = _glyph_bitmap(font, pixels, char)
        h, w = self.height, self.width
        gh, gw = bitmap.shape
        # Rotate the bitmap about its centre into a square canvas that holds any angle.
        side = int(math.ceil(math.hypot(gh, gw))) + 2
        rot = cv2.getRotationMatrix2D((gw / 2, gh / 2), angle, 1.0)
        rot[:, 2] += (side - gw) / 2, (side - gh) / 2
        glyph = cv2.warpAffine(bitmap, rot, (side, side), flags=cv2.INTER_LINEAR)
        ys, xs = np.nonzero(glyph)
        if len(ys):
            glyph = glyph[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        glyph = glyph[:h, :w]
        gh, gw = glyph.shape
        top, left = int(u * (h - gh + 1)), int(v * (w - gw + 1))
        out = np.zeros((h, w), np.uint8)
        out[top : top + gh, left : left + gw] = glyph
        return out
