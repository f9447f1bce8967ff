"""Data throughput: (image, mask) pairs per second for every source and mask generator.

Measured on one core (``torch.set_num_threads(1)``) at 64x64 (glyphs at their native
32x32): each source paired with the DeepFill ``brush`` mask, then each mask generator
alone. Goal: at least 2,000 pairs/s per source, so training never waits for data.

Two rates are printed: wall-clock, and per CPU-second of this process (``process_time``),
which is what one free core would give when other jobs share the machine. The folder
source is shown cold (decoding a PNG every sample) and warm (its in-memory cache); so is
``emoji`` (each emoji drawn with FreeType on first use, ~1.3 ms, then cached per process).

Run: ``OMP_NUM_THREADS=1 python -m benchmarks.bench_data``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

SIZE = 64
GOAL = 2000.0


def _rates(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    fn(0)  # warm the per-process caches (decoded photos, fonts)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(1, n + 1):
        fn(i)
    return n / (time.perf_counter() - wall), n / max(time.process_time() - cpu, 1e-9)


def _demo_folder(tmp: Path) -> Path:
    from survey_lib.data import demo_image, save_image
    from survey_lib.data.demo import CLEAN_IMAGES

    for name in CLEAN_IMAGES:  # five 128x128 PNGs
        save_image(demo_image(name), tmp / f"{name}.png")
    return tmp


def _prepare_emoji(ds: object, warm: bool) -> None:
    """Empty the emoji drawing cache, or fill it with every emoji of the dataset's split."""
    from survey_lib.data.emoji import emoji_bitmap

    emoji_bitmap.cache_clear()
    if warm:
        for code in ds.source.emoji:  # type: ignore[attr-defined]
            emoji_bitmap(code, ds.source.side)  # type: ignore[attr-defined]


def main(n: int = 1000) -> list[tuple[str, str, float, float]]:
    """Print the table and return its rows (kind, name, wall pairs/s, CPU pairs/s)."""
    from survey_lib.data import MASKS, SOURCES, generate_masks, make_dataset

    torch.set_num_threads(1)
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = _demo_folder(Path(tmp))
        for name in SOURCES:
            size = 32 if name == "glyphs" else SIZE
            variants = [("", {})]
            if name == "folder":
                variants = [(" cold", {"root": folder, "split": "all", "cache_mb": 0}),
                            (" cached", {"root": folder, "split": "all"})]
            if name == "emoji":  # cold: each emoji drawn on first use; warm: all drawn already
                variants = [(" cold", {}), (" warm", {})]
            for label, kw in variants:
                try:
                    ds = make_dataset(name, size=size, length=n + 1, masks="brush", seed=0, **kw)
                except ImportError as err:  # an optional data package is missing
                    print(f"skipped {name}: {err}")
                    continue
                if name == "emoji":
                    _prepare_emoji(ds, warm=label == " warm")
                rows.append(("source + brush", f"{name}{label} ({size}x{size})", *_rates(ds.__getitem__, n)))
    for name in MASKS:
        rows.append(("mask", name, *_rates(lambda i, m=name: generate_masks(m, 1, SIZE, SIZE, seed=i), n)))
    print(f"{'kind':<16} {'name':<24} {'wall/s':>8} {'cpu/s':>8}   goal {GOAL:.0f} pairs/s per source")
    for kind, name, wall, cpu in rows:
        flag = "  below goal" if kind != "mask" and max(wall, cpu) < GOAL else ""
        print(f"{kind:<16} {name:<24} {wall:>8.0f} {cpu:>8.0f}{flag}")
    return rows


if __name__ == "__main__":
    main()
