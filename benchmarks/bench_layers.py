"""Cost of the convolution-aware layers (survey §2.4) against a plain ``nn.Conv2d``.

Usage: ``OMP_NUM_THREADS=1 python -m benchmarks.bench_layers [--sizes 64 256] [--batch 8]
[--channels 64] [--repeats 3] [--device cpu]``

Every layer maps (B, C, H, W) to (B, C, H, W) with a 3×3 window (C = 64, B = 8 by
default), on a brush-like mask with about 30 % hole. We time one forward + backward
pass — the fastest of ``repeats``, the cases interleaved round by round so that other
load on a shared machine hits all of them alike (the median is printed too) — and
measure memory two ways:

* ``saved MiB`` — the tensors autograd keeps for the backward pass (activation memory,
  counted once per storage, parameters excluded): device-independent and exact;
* ``peak MiB`` — on CUDA, the peak allocated during the pass (``torch.cuda``); on a
  CPU there is no allocator counter, so it is left blank.

The goal set for the chapter: partial and gated convolution within 1.5× of the plain
convolution's time. A gated layer computes 2·C output channels, so it costs about twice
the multiply-adds of a plain one — the "conv, 2C outputs" row is that convolution alone,
so the difference between it and "gated" is the cost of the gating itself; the
"gated (C/√2)" row is the parameter-matched variant the U-Net offers
(``match_params=True``). The FFC row is LaMa's ``FFC_BN_ACT`` (its BatchNorm and ReLU
per branch included, as LaMa always uses it), with 75 % of the channels global: fewer
multiply-adds than the plain convolution, but FFTs, several small convolutions and the
normalisations, which cost time and activation memory. Contextual attention (DeepFill v1,
:mod:`survey_lib.layers.contextual_attention`) is added when that module is present;
its memory grows with (H·W)², so by default it is only run up to 64×64.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch starts its thread pool

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from survey_lib.layers.fourier import FFC_BN_ACT, concat_pair
from survey_lib.layers.gated import GatedConv2d
from survey_lib.layers.partial import PartialConv2d

Case = tuple[nn.Module, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def bench_mask(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    """A library mask (1 = hole) with a few thick strokes, about 30 % hole."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = torch.zeros(batch, 1, size, size)
    for b in range(batch):
        for _ in range(4):
            cy, cx = (torch.rand(2, generator=g) * size).tolist()
            angle = float(torch.rand(1, generator=g)) * math.pi
            dist = (xx - cx) * math.sin(angle) - (yy - cy) * math.cos(angle)
            along = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)
            stroke = (dist.abs() < size * 0.06) & (along.abs() < size * 0.35)
            masks[b, 0][stroke] = 1.0
    return masks


def layer_cases(channels: int) -> dict[str, Case]:
    """name -> (module, fn(x, hole_mask) -> output) for every layer compared."""
    c = channels
    conv = nn.Conv2d(c, c, 3, padding=1)
    partial = PartialConv2d(c, c, 3, padding=1)
    partial_mc = PartialConv2d(c, c, 3, padding=1, multi_channel=True)
    conv_2c = nn.Conv2d(c, 2 * c, 3, padding=1)
    gated = GatedConv2d(c, c, 3)
    gated_matched = GatedConv2d(c, max(1, round(c / math.sqrt(2))), 3)
    ffc = FFC_BN_ACT(c, c, 3, ratio_gin=0.75, ratio_gout=0.75, padding=1)
    cases: dict[str, Case] = {
        "conv (nn.Conv2d)": (conv, lambda x, m: conv(x)),
        "partial": (partial, lambda x, m: partial(x, 1 - m)[0]),
        "partial multi-channel": (partial_mc, lambda x, m: partial_mc(x, (1 - m).expand_as(x))[0]),
        "conv, 2C outputs": (conv_2c, lambda x, m: conv_2c(x)),
        "gated": (gated, lambda x, m: gated(x)),
        "gated (C/sqrt2)": (gated_matched, lambda x, m: gated_matched(x)),
        "FFC+BN+ReLU (ratio .75)": (ffc, lambda x, m: concat_pair(ffc(x))),
    }
    try:
        from survey_lib.layers.contextual_attention import ContextualAttention
    except ImportError:  # the attention chapter is optional here
        return cases
    attention = ContextualAttention(rate=2)
    cases["contextual attention"] = (attention, lambda x, m: attention(x, x, m))
    return cases


def saved_bytes(fn: Callable[[], torch.Tensor], exclude: set[int]) -> tuple[torch.Tensor, int]:
    """Run ``fn`` and count the bytes of distinct storages autograd saves for backward."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in exclude:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def _step(case: Case, x: torch.Tensor, mask: torch.Tensor) -> tuple[float, int, float]:
    """One forward + backward of ``case``: (seconds, saved bytes, CUDA peak MiB or nan)."""
    module, fn = case
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    cuda = x.device.type == "cuda"
    peak, base = float("nan"), 0
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    inp = x.detach().requires_grad_(True)
    out, saved = saved_bytes(lambda: fn(inp, mask), params)
    out.float().square().mean().backward()
    if cuda:
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    seconds = time.perf_counter() - start
    module.zero_grad(set_to_none=True)
    return seconds, saved, peak


def measure(cases: dict[str, Case], x: torch.Tensor, mask: torch.Tensor,
            repeats: int) -> dict[str, dict[str, float]]:
    """Per case: the *fastest* of ``repeats`` forward+backward passes, saved MiB, peak MiB.

    The cases are interleaved round by round (conv, partial, gated, ..., conv, partial,
    ...) and the minimum is kept, so that load from other processes on a shared machine
    inflates every case alike and mostly drops out of the ratios.
    """
    for case in cases.values():
        _step(case, x, mask)  # warm-up: allocator, kernels, lazy imports
    times: dict[str, list[float]] = {name: [] for name in cases}
    info: dict[str, tuple[int, float]] = {}
    for _ in range(repeats):
        for name, case in cases.items():
            seconds, saved, peak = _step(case, x, mask)
            times[name].append(seconds)
            info[name] = (saved, peak)
    return {name: {"seconds": min(times[name]), "median_s": statistics.median(times[name]),
                   "saved_mib": info[name][0] / 2**20, "peak_mib": info[name][1]} for name in cases}


def run(sizes: tuple[int, ...] = (64, 256), batch: int = 8, channels: int = 64, repeats: int = 5,
        device: str = "cpu", attention_max_size: int = 64) -> list[dict[str, object]]:
    """One row per (size, layer): time, ratio to the plain convolution, memory."""
    dev = torch.device(device)
    torch.manual_seed(0)
    all_cases = {k: (m.to(dev), f) for k, (m, f) in layer_cases(channels).items()}
    rows: list[dict[str, object]] = []
    for size in sizes:
        x = torch.randn(batch, channels, size, size, device=dev)
        mask = bench_mask(batch, size).to(dev)
        cases = {k: v for k, v in all_cases.items()
                 if not (k == "contextual attention" and size > attention_max_size)}
        results = measure(cases, x, mask, repeats)
        base = results["conv (nn.Conv2d)"]["seconds"]
        for name, r in results.items():
            rows.append({"size": size, "layer": name, **r, "vs_conv": r["seconds"] / base,
                         "params": sum(p.numel() for p in cases[name][0].parameters())})
    return rows


def format_table(rows: list[dict[str, object]]) -> str:
    lines = [f"{'size':>5}  {'layer':<24}{'best ms':>9}{'median ms':>11}{'x conv':>8}{'saved MiB':>11}"
             f"{'peak MiB':>10}{'params':>9}"]
    for r in rows:
        peak = r["peak_mib"]
        peak_s = "" if isinstance(peak, float) and math.isnan(peak) else f"{peak:.1f}"
        lines.append(
            f"{r['size']:>5}  {r['layer']:<24}{1000 * float(r['seconds']):>9.1f}"
            f"{1000 * float(r['median_s']):>11.1f}{float(r['vs_conv']):>8.2f}"
            f"{float(r['saved_mib']):>11.1f}{peak_s:>10}{r['params']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sides")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--attention-max-size", type=int, default=64,
                        help="largest side for contextual attention (memory grows with (HW)^2)")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rows = run(tuple(args.sizes), args.batch, args.channels, args.repeats, args.device, args.attention_max_size)
    print(f"batch {args.batch}, {args.channels} channels, 3x3, forward + backward, {args.device}, "
          f"{torch.get_num_threads()} thread(s)")
    print(format_table(rows))


if __name__ == "__main__":
    main()
