"""Contextual attention: forward + backward time and peak memory per feature-map size.

Usage: ``OMP_NUM_THREADS=1 python -m benchmarks.bench_attention [--sizes 16 32 64] [--channels 64]``

For each square feature map (one image, ``channels`` channels, ``rate`` 2) we time a
forward + backward pass of :func:`survey_lib.layers.contextual_attention.contextual_attention`
on the one-shot path and on the chunked (memory-aware) path, and measure the peak
memory of the pass: ``torch.cuda.max_memory_allocated`` on a GPU, otherwise the growth
of the peak resident set size of a fresh process (each measurement runs in its own
process, so one run's peak does not hide the next; see :func:`measure`). Next to it we print the score
matrix size ``(HW/r^2)^2 * 4`` bytes and the library's estimate
:func:`~survey_lib.layers.contextual_attention.attention_memory_bytes`: the quadratic
growth is the layer's limit (the paper applies it at 64x64 features of 256x256 images).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch starts its thread pool

import argparse
import multiprocessing as mp
import resource
import time

import torch

from survey_lib.layers.contextual_attention import (
    attention_memory_bytes,
    contextual_attention,
    score_matrix_bytes,
)

MIB = 2**20


def _measure(size: int, channels: int, chunk: int | None, repeats: int, queue: mp.Queue) -> None:
    """Child process: time ``repeats`` forward+backward passes; report (seconds, peak bytes)."""
    torch.set_num_threads(1)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, size, size, generator=g).to(dev).requires_grad_(True)
    mask = torch.zeros(1, 1, size, size, device=dev)
    mask[..., size // 4 : size // 2, size // 4 : size // 2] = 1
    warm = torch.randn(1, channels, 8, 8, device=dev, requires_grad=True)  # load code paths first
    contextual_attention(warm, warm, chunk_size=chunk and 4, max_bytes=2**62).sum().backward()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = contextual_attention(x, x, mask, chunk_size=chunk, max_bytes=2**62)
        out.square().mean().backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        x.grad = None
        del out
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    queue.put((min(times), max(peak, 0)))


def _in_child(size: int, channels: int, chunk: int | None, repeats: int, env: dict[str, str]) -> tuple[float, int]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ctx = mp.get_context("spawn")
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(size, channels, chunk, repeats, queue))
        proc.start()
        result = queue.get()
        proc.join()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return result


def measure(size: int, channels: int = 64, chunk: int | None = None, repeats: int = 3) -> tuple[float, int]:
    """(best seconds of forward+backward, peak extra bytes), each in a fresh process.

    The memory run fixes glibc's mmap threshold low: otherwise freed blocks below its
    adaptive threshold (up to 32 MiB) stay in the heap and the resident set measures
    fragmentation. That setting slows allocation, so the time comes from a normal run.
    """
    seconds, _ = _in_child(size, channels, chunk, repeats, {})
    if torch.cuda.is_available():
        return seconds, _in_child(size, channels, chunk, 1, {})[1]
    _, peak = _in_child(size, channels, chunk, 1, {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)})
    return seconds, peak


def run(sizes: list[int], channels: int = 64, rate: int = 2) -> list[dict[str, float | int | str]]:
    rows: list[dict[str, float | int | str]] = []
    for size in sizes:
        positions = (size // rate) ** 2
        for label, chunk in (("one-shot", None), ("chunked", max(1, positions // 8))):
            seconds, peak = measure(size, channels, chunk)
            rows.append({
                "size": f"{size}x{size}",
                "path": label if chunk is None else f"chunked ({chunk})",
                "positions": positions,
                "score_MiB": score_matrix_bytes(size, size, rate) / MIB,
                "estimate_MiB": attention_memory_bytes(size, size, rate, chunk_size=chunk, channels=channels) / MIB,
                "peak_MiB": peak / MIB,
                "fwd_bwd_ms": seconds * 1000,
            })
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64], help="feature-map sides")
    parser.add_argument("--channels", type=int, default=64, help="feature channels")
    args = parser.parse_args(argv)
    where = "GPU" if torch.cuda.is_available() else "CPU, one thread"
    print(f"contextual attention, rate 2, {args.channels} channels, one image, {where}")
    print("memory: one score matrix = (H*W/r^2)^2 * 4 bytes per image; estimate = "
          "attention_memory_bytes(): ONE_SHOT_COPIES x that (one-shot) or CHUNKED_COPIES x "
          "chunk x H*W/r^2 x 4 (chunked), plus the linear patch/column terms")
    rows = run(args.sizes, args.channels)
    header = f"{'size':>8} {'path':>15} {'positions':>9} {'score MiB':>10} {'estimate MiB':>12} " \
             f"{'peak MiB':>9} {'fwd+bwd ms':>11}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['size']:>8} {r['path']:>15} {r['positions']:>9} {r['score_MiB']:>10.2f} "
              f"{r['estimate_MiB']:>12.2f} {r['peak_MiB']:>9.1f} {r['fwd_bwd_ms']:>11.1f}")


if __name__ == "__main__":
    main()
