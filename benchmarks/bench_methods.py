"""Training throughput of every registered learned method, read against the machine's peak.

For each learned method in the registry and each preset that fits the machine (smoke and
cpu on a CPU; also gpu with CUDA), one engine step (:class:`survey_lib.train.Trainer`:
discriminator + generator updates, exactly as in training) is timed on a fixed batch at
the preset's image size, batch size and width. Printed per row:

* steps/s and images/s (batch size x steps/s);
* peak memory: CUDA ``max_memory_allocated``; on CPU the rise of the process's peak
  resident set (Linux: the peak is reset before each row via ``/proc/self/clear_refs``;
  elsewhere ``ru_maxrss`` growth, a lower bound once an earlier row peaked higher);
* counted GFLOP per step (``torch.utils.flop_counter.FlopCounterMode``: convolutions,
  matmuls and attention, plus FFTs counted here by the usual estimate — 2.5·N·log2 N
  for a real transform of N points, 5·N·log2 N for a complex one — so LaMa's Fourier
  units are not left out; element-wise ops and norms are not counted);
* achieved GFLOP/s and its fraction of the machine's measured float32 matmul rate
  (a large square matmul, the best case for the CPU's or GPU's arithmetic units).

Data loading is excluded (one batch generated up front): this measures the model.
Run: ``OMP_NUM_THREADS=1 python -m benchmarks.bench_methods [--presets smoke cpu]
[--methods unet lama] [--seconds 2]`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")


def matmul_gflops(device: torch.device, n: int = 1024, seconds: float = 1.0,
                  dtype: torch.dtype = torch.float32) -> float:
    """Best observed GFLOP/s of one ``n x n @ n x n`` matmul (2 n^3 flops) in ``dtype``.

    The fastest of the repetitions in ``seconds``: a peak, so that a machine shared with
    other work is measured at its least disturbed moment.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    _sync(device)
    best, reps, start = float("inf"), 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
        reps += 1
    return 2 * n**3 / best / 1e9


def _fft_flops(shape: Any, dims: Any) -> int:
    """Real flops of FFTs over ``dims`` of a tensor of ``shape``: 2.5 N log2 N per real
    transform of N points (half the complex 5 N log2 N), times the number of transforms."""
    import math

    n = math.prod(int(shape[d]) for d in dims)
    return int(2.5 * math.prod(int(x) for x in shape) * math.log2(max(n, 2)))


def count_fft_flops() -> None:
    """Teach ``FlopCounterMode`` the FFT ops (it counts none by default); idempotent."""
    from torch.utils.flop_counter import flop_registry, register_flop_formula

    aten = torch.ops.aten
    if aten._fft_r2c in flop_registry:
        return

    @register_flop_formula(aten._fft_r2c)
    def _r2c(self_shape: Any, dim: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return _fft_flops(self_shape, dim)

    @register_flop_formula(aten._fft_c2r)
    def _c2r(self_shape: Any, dim: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return _fft_flops(out_shape, dim)

    @register_flop_formula(aten._fft_c2c)
    def _c2c(self_shape: Any, dim: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * _fft_flops(self_shape, dim)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _status_kib(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_memory() -> None:
    """Give memory freed by earlier rows back to the OS (glibc ``malloc_trim``), so the
    next row's peak-RSS rise counts its own allocations rather than reusing resident pages."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or the CPU process's peak RSS rise (MiB)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib: float | None = None
        self.how = ""

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._reset = False
        _release_free_memory()
        try:  # Linux >= 4.0: "5" resets VmHWM (the peak RSS) to the current RSS
            CLEAR_REFS.write_text("5")
            self._reset = _status_kib("VmHWM") is not None
        except OSError:
            pass
        self._base = _status_kib("VmRSS") if self._reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.mib = torch.cuda.max_memory_allocated(self.device) / 2**20
            self.how = "cuda max allocated"
        elif self._reset:
            self.mib = ((_status_kib("VmHWM") or 0) - (self._base or 0)) / 1024
            self.how = "peak RSS rise"
        else:  # ru_maxrss: KiB on Linux, bytes on macOS
            scale = 2**20 if sys.platform == "darwin" else 1024
            self.mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - (self._base or 0)) / scale
            self.how = "ru_maxrss rise (lower bound)"


def _batch(preset: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from survey_lib.data import generate_masks

    g = torch.Generator().manual_seed(0)
    size = preset.image_size
    images = torch.rand(preset.batch_size, 3, size, size, generator=g)
    masks = generate_masks("boxes", preset.batch_size, size, size, seed=0)
    return images.to(device), masks.to(device)


def bench_one(name: str, preset: Any, device: torch.device, seconds: float = 2.0,
              max_steps: int = 50) -> dict[str, Any]:
    """Time engine steps of method ``name`` at ``preset``; the row of the table."""
    from torch.utils.flop_counter import FlopCounterMode

    from survey_lib.models.registry import build, get_info, preset_for

    count_fft_flops()
    from survey_lib.train import Trainer

    preset = preset_for(name, preset)  # the method's own compute budget (width, steps)
    images, masks = _batch(preset, device)
    get_info(name).load()  # import the method's module outside the measured block
    with PeakMemory(device) as memory:
        torch.manual_seed(0)
        method = build(name, channels=3, preset=preset)
        trainer = Trainer(method, device=device, total_steps=10**6, precision=preset.precision)
        with FlopCounterMode(display=False) as counter:  # also the warm-up (allocations, autotune)
            trainer.step(images, masks, 1)
        _sync(device)
        steps, start = 0, time.perf_counter()
        while True:  # at least one timed step; more until ``seconds`` have passed
            trainer.step(images, masks, steps + 2)
            steps += 1
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds or steps >= max_steps:
                break
    rate = steps / elapsed
    return {"method": name, "preset": preset.name, "batch": preset.batch_size, "size": preset.image_size,
            "width": preset.width, "steps": preset.steps, "run_s": preset.steps / rate,
            "dtype": _dtype_name(trainer.amp_dtype), "steps_per_s": rate, "images_per_s": rate * preset.batch_size,
            "peak_mib": memory.mib, "memory": memory.how,
            "gflop_per_step": counter.get_total_flops() / 1e9,
            "params_m": sum(p.numel() for p in method.parameters()) / 1e6}


def run(presets: list[str] | None = None, methods: list[str] | None = None, seconds: float = 2.0,
        device: torch.device | None = None, peaks: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """One row per (method, preset), printed as it finishes; failures become rows with ``error``.

    ``peaks``: matmul GFLOP/s per compute dtype ("float32", and "amp" on CUDA) for the
    "of peak" column (measured when not given).
    """
    from survey_lib.config import get_preset
    from survey_lib.models.registry import list_methods

    dev = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if presets is None:
        presets = ["smoke", "cpu", "gpu"]
    presets = _fitting(presets, dev)
    names = methods or [m.name for m in list_methods("learned")]
    peaks = peaks or machine_peaks(dev)
    for first in names[:1]:  # one-time costs (kernel caches, first allocations) must not land on row 1
        try:
            bench_one(first, get_preset("smoke"), dev, seconds=0.0, max_steps=1)
        except Exception:  # noqa: S110 - its own row reports the failure
            pass
    rows = []
    for name in names:
        for preset_name in presets:
            preset = get_preset(preset_name)
            try:
                rows.append(bench_one(name, preset, dev, seconds))
            except Exception as err:  # a benchmark reports a broken method, it does not stop
                rows.append({"method": name, "preset": preset_name,
                             "error": f"{type(err).__name__}: {' '.join(str(err).split())[:120]}"})
            print(_format_row(rows[-1], peaks), flush=True)
    return rows


def _fitting(presets: list[str], device: torch.device, say: bool = False) -> list[str]:
    """The presets this machine can run: the gpu preset only with CUDA."""
    if device.type != "cuda" and "gpu" in presets:
        if say:
            print("gpu preset skipped: no CUDA device (it needs a GPU's memory and speed)")
        return [p for p in presets if p != "gpu"]
    return presets


def _dtype_name(dtype: torch.dtype | None) -> str:
    return str(dtype or torch.float32).removeprefix("torch.")


def machine_peaks(device: torch.device) -> dict[str, float]:
    """Matmul GFLOP/s in float32 and in every lower-precision dtype ``precision="auto"`` may
    pick here (bf16/fp16 on CUDA; bf16 on a CPU that computes it natively)."""
    from survey_lib.config import resolve_precision

    n = 4096 if device.type == "cuda" else 1024
    peaks = {"float32": matmul_gflops(device, n=n)}
    auto = resolve_precision("auto", device)
    if auto is not None:
        peaks[_dtype_name(auto)] = matmul_gflops(device, n=n, dtype=auto)
    return peaks


HEADER = (f"{'method':<16} {'preset':<6} {'batch':>5} {'size':>4} {'width':>5} {'Mparam':>7} {'dtype':>8} "
          f"{'steps/s':>8} {'img/s':>8} {'peak MiB':>9} {'GFLOP/step':>10} {'GFLOP/s':>8} {'of peak':>7} "
          f"{'steps':>6} {'run min':>7}")


def _format_row(r: dict[str, Any], peaks: dict[str, float]) -> str:
    if "error" in r:
        return f"{r['method']:<16} {r['preset']:<6} failed: {r['error']}"
    achieved = r["gflop_per_step"] * r["steps_per_s"]
    mem = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else "?"
    peak = peaks.get(r["dtype"], peaks["float32"])
    return (f"{r['method']:<16} {r['preset']:<6} {r['batch']:>5} {r['size']:>4} {r['width']:>5} "
            f"{r['params_m']:>7.2f} {r['dtype']:>8} {r['steps_per_s']:>8.2f} {r['images_per_s']:>8.1f} {mem:>9} "
            f"{r['gflop_per_step']:>10.2f} {achieved:>8.2f} {achieved / peak:>7.1%} {r['steps']:>6} "
            f"{r['run_s'] / 60:>7.1f}")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Print the table (rows as they finish) and return the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: every preset that fits")
    parser.add_argument("--methods", nargs="+", default=None, help="default: every registered learned method")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per row")
    args = parser.parse_args(argv)

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"training throughput per method ({where}); one engine step = D update (if any) + G update")
    peaks = machine_peaks(dev)
    print("matmul rate (the 'of peak' column divides by it): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items())
          + "; each row's 'of peak' uses the rate of the dtype it trains in")
    print("GFLOP counted by FlopCounterMode: conv/matmul/attention + FFTs (2.5 N log2 N); element-wise ops not counted")
    presets = _fitting(args.presets or ["smoke", "cpu", "gpu"], dev, say=True)
    print(HEADER)
    print("-" * len(HEADER))
    rows = run(presets, args.methods, args.seconds, dev, peaks)
    mem = next((r["memory"] for r in rows if "memory" in r), "")
    print(f"peak MiB: {mem}")
    again = machine_peaks(dev)  # a drift here means the machine's load changed during the run
    print("matmul rate again at the end: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in again.items()))
    best = {k: max(v, again[k]) for k, v in peaks.items()}
    if any(best[k] > 1.1 * peaks[k] for k in peaks):  # the first rate was measured under load
        print("the machine was busier when the first rate was measured; 'of peak' against the best rate:")
        print(HEADER)
        for row in rows:
            print(_format_row(row, best))
    return rows


if __name__ == "__main__":
    main()
