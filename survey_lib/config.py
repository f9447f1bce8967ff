"""Presets, device choice and seeding: the one place that decides how big a run is.

Every notebook and script asks :func:`get_preset` for sizes and step counts instead of
hard-coding them, so the same code runs as a seconds-long smoke test (``smoke``), a
few-minute laptop run (``cpu``) or a full-size GPU run (``gpu``).

The preset is chosen by the ``SURVEY_PRESET`` environment variable, read once per
process; without it the default is ``gpu`` when a CUDA device is present and ``cpu``
otherwise. (Apple's MPS counts as a GPU *device* in :func:`device`, but it gets the
``cpu`` sizes by default: it is rarely fast enough for the full-size runs.)
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np
import torch

PRESET_ENV = "SURVEY_PRESET"
#: ``SURVEY_FROM_SCRATCH=1``: train every model of a chapter at full budget instead of loading
#: the shipped checkpoints (the ``gpu`` preset does so anyway)
FROM_SCRATCH_ENV = "SURVEY_FROM_SCRATCH"
PRESET_NAMES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Preset:
    """Sizes and budgets of one run size. Notebooks read these, never literals."""

    name: str
    image_size: int  # side of RGB training images (shapes, photos, textures, faces)
    glyph_size: int  # side of the grey glyph images
    batch_size: int
    steps: int  # optimisation steps of a chapter's main model
    width: int  # base channel width of the chapter models
    train_images: int  # length of one pass over a (procedural) training set
    eval_images: int  # images in a held-out evaluation set
    eval_every: int  # steps between evaluations during training
    plot_every_s: float  # seconds between live-plot refreshes (0 = every call)
    diffusion_steps: int  # T of the DDPM noise schedule
    sample_steps: int  # denoising steps used when sampling (RePaint's T)
    num_workers: int  # DataLoader worker processes
    precision: str  # "auto" | "fp32" | "bf16" | "fp16": see resolve_precision
    channels_last: bool  # NHWC memory layout in training (1.0-1.45x faster per step on a 2-core CPU)
    # compare the project's shipped checkpoints (checkpoints/) instead of the live-trained
    # models; a chapter then trains live only briefly, to show the loss fall
    shipped: bool = False
    live_fraction: float = 1.0  # share of a method's step budget a chapter trains live when ``shipped``

    def with_overrides(self, **changes: object) -> Preset:
        """A copy with some fields changed (e.g. ``steps=50`` for a quick experiment)."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"Preset has no field(s) {sorted(unknown)}; fields: {sorted(asdict(self))}")
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke", image_size=32, glyph_size=32, batch_size=8, steps=8, width=8,
        train_images=64, eval_images=16, eval_every=4, plot_every_s=1.0,
        diffusion_steps=20, sample_steps=10, num_workers=0, precision="fp32", channels_last=False,
        shipped=True, live_fraction=1.0,
    ),
    "cpu": Preset(
        name="cpu", image_size=64, glyph_size=32, batch_size=32, steps=600, width=32,
        train_images=20_000, eval_images=128, eval_every=200, plot_every_s=3.0,
        diffusion_steps=200, sample_steps=25, num_workers=0, precision="auto", channels_last=True,
        shipped=True, live_fraction=0.25,
    ),
    "gpu": Preset(
        name="gpu", image_size=128, glyph_size=32, batch_size=64, steps=20_000, width=64,
        train_images=200_000, eval_images=1000, eval_every=2000, plot_every_s=10.0,
        diffusion_steps=1000, sample_steps=250, num_workers=4, precision="auto", channels_last=True,
    ),
}


def default_preset_name() -> str:
    """``gpu`` when CUDA is available, else ``cpu``."""
    return "gpu" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=1)
def _preset_from_env() -> Preset:
    name = os.environ.get(PRESET_ENV, "").strip().lower() or default_preset_name()
    if name not in PRESETS:
        raise ValueError(
            f"{PRESET_ENV}={name!r} is not a preset; choose one of {', '.join(PRESET_NAMES)}"
        )
    scratch = os.environ.get(FROM_SCRATCH_ENV, "").strip().lower()
    if scratch not in ("", "0", "1", "false", "true", "no", "yes"):
        raise ValueError(f"{FROM_SCRATCH_ENV}={scratch!r}: expected 1 (train everything) or 0")
    if scratch in ("1", "true", "yes"):
        return PRESETS[name].with_overrides(shipped=False, live_fraction=1.0)
    return PRESETS[name]


def get_preset(name: str | None = None) -> Preset:
    """The preset called ``name``, or the one chosen by ``SURVEY_PRESET`` (read once)."""
    if name is None:
        return _preset_from_env()
    key = name.strip().lower()
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    return PRESETS[key]


def device() -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch generator with ``seed``.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPU).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


# -- numeric precision -------------------------------------------------------------------------
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@lru_cache(maxsize=1)
def cpu_bf16_native() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX).

    Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` such a CPU runs convolutions
    about twice as fast as in fp32; without the instructions oneDNN emulates bf16 and the
    same convolution is *many times slower* (measured on an AVX2-only AMD EPYC: 33×). The
    answer comes from oneDNN itself, confirmed by the CPU flags where Linux exposes them.
    """
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    flags = _cpu_flags()
    if flags:  # Linux: oneDNN's "supported" also covers emulation on plain AVX512 cores
        supported = supported and bool(flags & {"avx512_bf16", "amx_bf16"})
    return supported


def resolve_precision(precision: str, dev: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``dev``; ``None`` means plain fp32.

    ``auto``: bf16 on a CUDA GPU that supports it (else fp16 with a gradient scaler), bf16
    on a CPU that computes it natively (:func:`cpu_bf16_native`), fp32 everywhere else.
    ``bf16`` / ``fp16`` force that dtype (fp16 only on CUDA); ``fp32`` turns autocast off.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = torch.device(dev).type
    if precision == "fp32" or kind not in ("cuda", "cpu"):
        return None
    if precision == "fp16":
        if kind != "cuda":
            raise ValueError("precision='fp16' needs a CUDA device (CPU autocast supports bf16 only)")
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_bf16_native() else None
