"""Recreate ``data/demo``: the course's small demo images and application masks.

Run once: ``python -m survey_lib.tools.make_demo_data``. Deterministic (fixed seed), so
running it again reproduces the committed files. What it writes (all 128x128 PNG):

* clean square crops of photographs that ship with scikit-image (astronaut, chelsea,
  coffee, rocket; public domain / CC0) and scikit-learn (china; CC BY 2.0);
* ``scratches.png``: thin curved scratches and dust specks (photo restoration), for the
  astronaut;
* ``text.png``: a two-line caption rendered in DejaVu Sans Bold and dilated by a pixel
  (text removal), for the coffee cup;
* ``object.png``: the right-hand lightning tower of the rocket photo, a hand-placed
  polygon around it, dilated (object removal).

Masks are stored white = hole. The damaged inputs (scratched astronaut, captioned coffee)
are composited from these at load time by :mod:`survey_lib.data.demo`, so they cost no
space.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from survey_lib.data.glyphs import FONT_DIR
from survey_lib.data.photos import PHOTO_FILES

SIDE = 128
# name -> (photo, (top, left, side)) of the square crop in the photo's own pixels
CROPS = {
    "astronaut": ("astronaut", (20, 100, 320)),
    "chelsea": ("chelsea", (0, 60, 300)),
    "coffee": ("coffee", (0, 80, 400)),
    "rocket": ("rocket", (0, 180, 427)),
    "china": ("china", (0, 110, 427)),
}
CAPTION = ("\u00a9 SURVEY", "2023")
# right lightning tower of rocket.jpg, (x, y) in the photo's pixels
TOWER_POLYGON = [(440, 116), (455, 116), (482, 427), (428, 427)]


def crop(name: str) -> np.ndarray:
    photo, (top, left, side) = CROPS[name]
    with Image.open(PHOTO_FILES[photo]) as img:
        rgb = np.asarray(img.convert("RGB"))[top : top + side, left : left + side]
    return cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def scratches(rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros((SIDE, SIDE), np.uint8)
    for _ in range(7):  # long, gently curving scratches
        x, y = rng.uniform(0, SIDE, 2)
        angle = rng.uniform(0, 2 * math.pi)
        pts = [(x, y)]
        for _ in range(int(rng.integers(6, 14))):
            angle += rng.normal(0, 0.15)
            x, y = x + 6 * math.cos(angle), y + 6 * math.sin(angle)
            pts.append((x, y))
        cv2.polylines(mask, [np.asarray(pts, np.int32)], False, 1, int(rng.integers(1, 3)))
    for _ in range(12):  # dust specks
        centre = (int(rng.integers(SIDE)), int(rng.integers(SIDE)))
        cv2.circle(mask, centre, int(rng.integers(0, 2)), 1, -1)
    return mask


def text_mask() -> np.ndarray:
    canvas = Image.new("L", (SIDE, SIDE), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), 17)
    for i, line in enumerate(CAPTION):
        width = draw.textlength(line, font=font)
        draw.text(((SIDE - width) / 2, 70 + 22 * i), line, fill=255, font=font)
    ink = (np.asarray(canvas) > 64).astype(np.uint8)
    return cv2.dilate(ink, np.ones((3, 3), np.uint8))


def object_mask() -> np.ndarray:
    _, (top, left, side) = CROPS["rocket"]
    scale = SIDE / side
    pts = np.array([((x - left) * scale, (y - top) * scale) for x, y in TOWER_POLYGON])
    mask = np.zeros((SIDE, SIDE), np.uint8)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return cv2.dilate(mask, np.ones((5, 5), np.uint8))


def main(out_dir: Path | None = None) -> None:
    out = out_dir or Path(__file__).resolve().parents[2] / "data" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    for name in CROPS:
        Image.fromarray(crop(name)).save(out / f"{name}.png", optimize=True)
    masks = {"scratches": scratches(np.random.default_rng(2023)), "text": text_mask(), "object": object_mask()}
    for name, mask in masks.items():
        Image.fromarray(mask * 255).convert("1").save(out / f"{name}.png", optimize=True)
    total = sum(p.stat().st_size for p in out.glob("*.png"))
    print(f"wrote {len(CROPS) + len(masks)} files to {out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
