"""fp32 against bf16 per learned method: the speed of one training step, and what training reaches.

Two tables.

**Speed** — for each learned method at its own budget of the chosen preset
(:func:`survey_lib.models.registry.preset_for`: width and steps), one engine step
(:class:`survey_lib.train.Trainer`) is timed in CPU seconds in fp32, fp32 with
``channels_last`` and bf16 autocast; the speed-up of each over fp32, and what
``precision="auto"`` picks on this machine. On a CPU without native bf16 (AVX2 only,
e.g. AMD Zen 3) oneDNN *emulates* bf16 and the step is many times slower: ``auto`` then
keeps fp32, and this table shows why.

**Parity** — each method is trained twice from the same seed on the same batches, in fp32
and in bf16, for ``--parity-steps`` steps at a small size (32 px, width 8, batch 8: cheap
enough to run in bf16 even where it is emulated), then evaluated on the same held-out
pairs (hole PSNR, and LPIPS when its weights are installed). The goal: the two runs end
within 0.3 dB hole PSNR and 0.01 LPIPS. A difference here would mean a method needs fp32
somewhere (a loss or a normalisation that bf16's 8-bit mantissa breaks).

Run: ``python -m benchmarks.bench_precision [--methods unet lama] [--preset cpu]
[--parity-steps 150] [--no-parity]`` (part of ``make bench``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

PSNR_BAR_DB = 0.3
LPIPS_BAR = 0.01


def _batch(size: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    from survey_lib.data import generate_masks

    g = torch.Generator().manual_seed(0)
    return torch.rand(batch, 3, size, size, generator=g), generate_masks("boxes", batch, size, size, seed=0)


def step_seconds(name: str, preset: Any, precision: str, channels_last: bool = False,
                 seconds: float = 3.0, max_steps: int = 8) -> float:
    """CPU seconds of one engine step of ``name`` at ``preset`` (its budget width), after a warm-up."""
    from survey_lib.models.registry import build
    from survey_lib.train import Trainer

    images, masks = _batch(preset.image_size, preset.batch_size)
    torch.manual_seed(0)
    method = build(name, channels=3, preset=preset)
    trainer = Trainer(method, device=torch.device("cpu"), total_steps=10**6, precision=precision,
                      channels_last=channels_last)
    trainer.step(images, masks, 1)
    n, start = 0, time.process_time()
    while n < 1 or (time.process_time() - start < seconds and n < max_steps):
        trainer.step(images, masks, n + 2)
        n += 1
    return (time.process_time() - start) / n


def speed_rows(methods: list[str], preset_name: str, seconds: float) -> list[dict[str, Any]]:
    """One row per method: CPU-s per step in fp32 / fp32+channels_last / bf16, at its budget."""
    from survey_lib.config import get_preset
    from survey_lib.models.registry import preset_for

    rows = []
    for name in methods:
        p = preset_for(name, get_preset(preset_name))
        row: dict[str, Any] = {"method": name, "width": p.width, "steps": p.steps}
        try:
            row["fp32"] = step_seconds(name, p, "fp32", seconds=seconds)
            row["fp32_cl"] = step_seconds(name, p, "fp32", channels_last=True, seconds=seconds)
            row["bf16"] = step_seconds(name, p, "bf16", seconds=seconds, max_steps=2)
        except Exception as err:  # a benchmark reports a broken method, it does not stop
            row["error"] = f"{type(err).__name__}: {' '.join(str(err).split())[:100]}"
        rows.append(row)
        print(_speed_line(row), flush=True)
    return rows


def _speed_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['method']:<16} failed: {r['error']}"
    return (f"{r['method']:<16} {r['width']:>5} {r['fp32']:>9.3f} {r['fp32_cl']:>9.3f} {r['bf16']:>9.3f} "
            f"{r['fp32'] / r['fp32_cl']:>7.2f}x {r['fp32'] / r['bf16']:>7.2f}x")


def parity_row(name: str, steps: int) -> dict[str, Any]:
    """Train ``name`` in fp32 and in bf16 (same seed, same data) and compare what they reach."""
    from survey_lib.config import get_preset
    from survey_lib.data import make_dataset, sample_batch
    from survey_lib.metrics import evaluate
    from survey_lib.models.registry import build
    from survey_lib.train import train

    p = get_preset("smoke").with_overrides(image_size=32, width=8, batch_size=8, steps=steps,
                                           eval_every=10**9)
    data = make_dataset("shapes", split="train", size=32, length=steps * 8, masks="mixed", seed=0)
    images, masks = sample_batch(make_dataset("shapes", split="test", size=32, length=64,
                                              masks="mixed", seed=1), 64)
    out: dict[str, Any] = {"method": name, "steps": steps}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        method = build(name, channels=3, preset=p)
        start = time.process_time()
        train(method, data, preset=p, steps=steps, seed=0, live=False, precision=precision)
        out[f"{precision}_cpu_s"] = time.process_time() - start
        table = evaluate(method, images, masks)
        out[f"{precision}_psnr"] = table.overall["hole_psnr"]
        out[f"{precision}_lpips"] = table.overall.get("lpips")
    return out


def _parity_line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['method']:<16} failed: {r['error']}"
    d_psnr = r["bf16_psnr"] - r["fp32_psnr"]
    lp = ("     n/a        n/a       n/a" if r["fp32_lpips"] is None else
          f"{r['fp32_lpips']:>8.4f} {r['bf16_lpips']:>10.4f} {r['bf16_lpips'] - r['fp32_lpips']:>+9.4f}")
    ok = abs(d_psnr) <= PSNR_BAR_DB and (r["fp32_lpips"] is None
                                         or abs(r["bf16_lpips"] - r["fp32_lpips"]) <= LPIPS_BAR)
    return (f"{r['method']:<16} {r['fp32_psnr']:>9.2f} {r['bf16_psnr']:>9.2f} {d_psnr:>+7.2f} {lp} "
            f"{r['fp32_cpu_s']:>7.0f} {r['bf16_cpu_s']:>7.0f}  {'yes' if ok else 'NO'}")


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=None, help="default: every learned method")
    parser.add_argument("--preset", default="cpu", help="preset whose per-method budget is timed")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per cell")
    parser.add_argument("--parity-steps", type=int, default=150)
    parser.add_argument("--no-parity", action="store_true", help="only the speed table")
    args = parser.parse_args(argv)
    from survey_lib.config import cpu_bf16_native, resolve_precision
    from survey_lib.models.registry import list_methods

    names = args.methods or [m.name for m in list_methods("learned")]
    auto = resolve_precision("auto", "cpu")
    print(f"CPU, {torch.get_num_threads()} thread(s); native bf16: {cpu_bf16_native()}; "
          f"precision='auto' uses {'bf16' if auto == torch.bfloat16 else 'fp32'} here")
    print(f"speed: CPU seconds per engine step at the {args.preset} budget of each method")
    print(f"{'method':<16} {'width':>5} {'fp32':>9} {'fp32 cl':>9} {'bf16':>9} {'cl gain':>8} {'bf16 gain':>8}")
    speed = speed_rows(names, args.preset, args.seconds)
    parity: list[dict[str, Any]] = []
    if not args.no_parity:
        print(f"\nparity: {args.parity_steps} steps at 32 px, width 8, batch 8 on shapes, fp32 vs bf16 "
              f"(goal: within {PSNR_BAR_DB} dB hole PSNR and {LPIPS_BAR} LPIPS)")
        print(f"{'method':<16} {'PSNR fp32':>9} {'PSNR bf16':>9} {'diff':>7} {'LPIPS fp32':>8} "
              f"{'LPIPS bf16':>10} {'diff':>9} {'cpu-s':>7} {'cpu-s':>7}  within")
        for name in names:
            try:
                row = parity_row(name, args.parity_steps)
            except Exception as err:
                row = {"method": name, "error": f"{type(err).__name__}: {' '.join(str(err).split())[:100]}"}
            parity.append(row)
            print(_parity_line(row), flush=True)
    return {"speed": speed, "parity": parity}


if __name__ == "__main__":
    main()
