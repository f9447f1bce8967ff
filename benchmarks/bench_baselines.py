"""Time the classical baselines: seconds per 64×64 image with a brush mask, on one core.

Usage: ``OMP_NUM_THREADS=1 python -m benchmarks.bench_baselines [--n 16] [--size 64]``

Each method fills the same ``n`` photos (the built-in ``photos`` source) under the same
DeepFill-v2 brush masks; we report the median and mean time per image and, to show what
the time buys, the mean hole PSNR of the composite.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch start their thread pools

import argparse
import statistics
import time

import cv2
import torch

from survey_lib.baselines import BASELINES
from survey_lib.data import hole_ratio, make_dataset, sample_batch
from survey_lib.inpaint import inpaint
from survey_lib.metrics import psnr


def run(n: int = 16, size: int = 64, source: str = "photos", masks: str = "brush") -> list[dict[str, float | str]]:
    """Time every baseline on ``n`` images; one dict per method."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    ds = make_dataset(source, split="test", size=size, length=n, masks=masks, seed=0)
    images, holes = sample_batch(ds, n)
    rows = []
    for name, cls in BASELINES.items():
        method = cls()
        inpaint(method, images[:1], holes[:1])  # warm-up (imports, caches)
        times, scores = [], []
        for i in range(n):
            start = time.perf_counter()
            out = inpaint(method, images[i : i + 1], holes[i : i + 1])
            times.append(time.perf_counter() - start)
            scores.append(float(psnr(out, images[i : i + 1], holes[i : i + 1])))
        rows.append({
            "method": name,
            "median_s": statistics.median(times),
            "mean_s": statistics.fmean(times),
            "max_s": max(times),
            "hole_psnr": statistics.fmean(scores),
        })
    ratio = float(hole_ratio(holes).mean())
    print(f"{n} {source} images {size}x{size}, {masks} masks (mean hole {ratio:.1%}), one core")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="images to time")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--source", default="photos", help="built-in image source")
    parser.add_argument("--masks", default="brush", help="mask generator")
    args = parser.parse_args(argv)
    rows = run(args.n, args.size, args.source, args.masks)
    print(f"{'method':<15}{'median ms':>11}{'mean ms':>10}{'max ms':>10}{'hole PSNR':>11}")
    for r in rows:
        print(
            f"{r['method']:<15}{1000 * r['median_s']:>11.1f}{1000 * r['mean_s']:>10.1f}"
            f"{1000 * r['max_s']:>10.1f}{r['hole_psnr']:>11.2f}"
        )


if __name__ == "__main__":
    main()
