"""The benchmarks' own arithmetic (they are run by `make bench`, not by the tests; these
check the pieces that decide their numbers)."""

from __future__ import annotations

import math

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.bench_methods import _fft_flops, bench_one, count_fft_flops
from survey_lib.config import get_preset


def test_fft_flops_follow_the_n_log_n_estimate_and_are_counted():
    assert _fft_flops((2, 4, 16, 16), (2, 3)) == int(2.5 * 2 * 4 * 256 * math.log2(256))
    count_fft_flops()
    count_fft_flops()  # idempotent
    x = torch.randn(2, 4, 16, 16)
    with FlopCounterMode(display=False) as counter:
        torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")
    assert counter.get_total_flops() == _fft_flops((2, 4, 16, 16), (2, 3))


def test_a_method_row_reports_its_dtype_budget_and_run_time():
    smoke = get_preset("smoke")
    row = bench_one("lama", smoke, torch.device("cpu"), seconds=0.0, max_steps=1)
    assert row["dtype"] == "float32" and row["steps"] == smoke.steps
    assert row["run_s"] == smoke.steps / row["steps_per_s"]
    assert row["gflop_per_step"] > 0
