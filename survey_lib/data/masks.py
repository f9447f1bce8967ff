"""Mask generators by name, hole ratios and the hole-ratio bins of the evaluation protocol.

Masks follow the library convention: float32 (B, 1, H, W), only 0 and 1, **1 = hole**.

* :func:`generate_masks` draws ``n`` masks of a named family (see :data:`MASKS`):
  ``center``, ``boxes``, ``brush`` (DeepFill v2 free-form), ``lama_thin``,
  ``lama_medium``, ``lama_thick``, ``ratio_<lo>_<hi>`` (hole ratio inside that bin, e.g.
  ``ratio_20_30``) and ``mixed``. Mask ``i`` depends only on ``(seed, i)``, so the first
  masks of a larger batch equal a smaller batch drawn with the same seed.
* :func:`hole_ratio`, :data:`RATIO_BINS`, :func:`bin_label`, :func:`bin_by_ratio` group
  masks as NVIDIA's irregular-mask protocol does (1-10 %, 10-20 %, ..., 50-60 %), the way
  the survey's comparison tables report results.

Every generator guarantees a mask with at least one hole pixel and at least one known
pixel: neither an empty nor a full mask is an inpainting problem.
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import torch

from survey_lib.data import mask_drawing as draw
from survey_lib.data.checks import InputError, check_mask

# NVIDIA irregular-mask protocol: hole ratio bins, lower edge included, upper edge excluded
# (the last bin also includes 60 % exactly).
RATIO_BINS: tuple[tuple[float, float], ...] = (
    (0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6),
)

MaskFn = draw.MaskFn


def _label(lo: float, hi: float) -> str:
    return f"{round(lo * 100)}-{round(hi * 100)}%"


BIN_LABELS: tuple[str, ...] = tuple(_label(lo, hi) for lo, hi in RATIO_BINS)


def hole_ratio(masks: torch.Tensor) -> torch.Tensor:
    """Fraction of hole pixels of each mask: (B, 1, H, W) -> (B,) float32.

    Counted in float64 and then rounded, so a ratio k / (H*W) is as exact as float32 allows.
    """
    check_mask(masks, "masks", allow_empty=True, allow_full=True)
    return masks.flatten(1).double().mean(1).float()


def bin_label(ratio: float | torch.Tensor) -> str | None:
    """The bin label ("1-10%", ..., "50-60%") of a hole ratio, or None outside 1-60 %.

    A value outside [0, 1] (or NaN) is not a hole ratio and raises :class:`InputError`.
    """
    if isinstance(ratio, torch.Tensor):
        if ratio.numel() != 1:
            raise InputError(f"ratio must be one number, got a tensor of shape {tuple(ratio.shape)}")
        ratio = float(ratio)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating, np.integer)):
        raise InputError(f"ratio must be a number in [0, 1], got {type(ratio).__name__}")
    r = float(ratio)
    if not 0.0 <= r <= 1.0:  # also NaN: a hole ratio is a fraction of the pixels
        raise InputError(f"ratio must be a hole ratio in [0, 1], got {ratio!r}")
    for i, (lo, hi) in enumerate(RATIO_BINS):
        last = i == len(RATIO_BINS) - 1
        if lo <= r < hi or (last and r == hi):
            return BIN_LABELS[i]
    return None


def bin_by_ratio(masks: torch.Tensor) -> list[str | None]:
    """The bin label of every mask in a batch (None for masks outside 1-60 %)."""
    return [bin_label(float(r)) for r in hole_ratio(masks)]


# --------------------------------------------------------------------------- registry
def _mixed(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random one of the families (centre box, boxes, brush, LaMa thin/medium/thick)."""
    name = MIXED_FAMILIES[int(rng.integers(len(MIXED_FAMILIES)))]
    return MASKS[name](rng, height, width)


def ratio_mask(lo_percent: int, hi_percent: int) -> MaskFn:
    """The generator of masks whose hole ratio lies in [lo_percent, hi_percent) %."""
    return partial(draw.in_ratio_bin, lo=lo_percent / 100.0, hi=hi_percent / 100.0)


MASKS: dict[str, MaskFn] = {
    "center": draw.center_box,
    "boxes": draw.random_boxes,
    "brush": draw.brush,
    "lama_thin": partial(draw.lama, kind="thin"),
    "lama_medium": partial(draw.lama, kind="medium"),
    "lama_thick": partial(draw.lama, kind="thick"),
    "mixed": _mixed,
}
MIXED_FAMILIES = ("center", "boxes", "brush", "lama_thin", "lama_medium", "lama_thick")
for _lo, _hi in RATIO_BINS:
    MASKS[f"ratio_{round(_lo * 100)}_{round(_hi * 100)}"] = ratio_mask(round(_lo * 100), round(_hi * 100))

_RATIO_NAME = re.compile(r"^ratio_(\d{1,3})_(\d{1,3})$")


def mask_names() -> list[str]:
    """Names accepted by :func:`generate_masks` (plus any ``ratio_<lo>_<hi>``)."""
    return list(MASKS)


def resolve_mask(spec: object) -> MaskFn:
    """Turn a mask name (or a callable ``fn(rng, height, width) -> (H, W) array``) into a generator."""
    if callable(spec):
        return spec  # type: ignore[return-value]
    if not isinstance(spec, str):
        raise InputError(
            f"masks must be a mask name or a callable fn(rng, height, width), got {type(spec).__name__}; "
            f"names: {', '.join(MASKS)}"
        )
    key = spec.strip().lower()
    if key in MASKS:
        return MASKS[key]
    match = _RATIO_NAME.match(key)
    if match:
        lo, hi = int(match.group(1)), int(match.group(2))
        if not 0 <= lo < hi <= 100:
            raise InputError(f"mask {spec!r}: need 0 <= lo < hi <= 100 (percent), got lo={lo}, hi={hi}")
        return ratio_mask(lo, hi)
    raise InputError(f"unknown mask generator {spec!r}; choose one of {', '.join(MASKS)} or ratio_<lo>_<hi>")


def _check_size(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be a positive int, got {type(value).__name__}")
    if value < 2:
        raise InputError(f"{name} must be at least 2 pixels (a mask needs a hole and a known pixel), got {value}")
    return int(value)


def _guarantee_proper(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Make a mask neither empty nor full (a last resort: the families rarely need it)."""
    total = int(mask.sum())
    if 0 < total < mask.size:
        return mask
    mask = mask.copy()
    idx = int(rng.integers(mask.size))
    mask.flat[idx] = 0 if total == mask.size else 1
    return mask


def _spec_name(spec: object) -> str:
    if isinstance(spec, partial):  # a named family resolved to a partial: show its arguments
        return f"{getattr(spec.func, '__name__', repr(spec.func))}({', '.join(f'{k}={v!r}' for k, v in spec.keywords.items())})"
    return repr(spec) if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))


def make_mask(spec: object, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One (H, W) float32 mask (1 = hole) of family ``spec`` drawn from ``rng``.

    Redraws (up to 20 times) a mask that is empty or full; datasets call this per sample.
    """
    fn = resolve_mask(spec)
    for _ in range(20):
        try:
            raw = np.asarray(fn(rng, height, width))
        except InputError:
            raise
        except ValueError as err:  # e.g. a ratio bin that a tiny image cannot hold
            raise InputError(f"mask generator {_spec_name(spec)}: {err}") from err
        if raw.shape != (height, width):
            raise InputError(
                f"mask generator {_spec_name(spec)} returned shape {raw.shape}, expected ({height}, {width})")
        mask = raw > 0.5
        if 0 < int(mask.sum()) < mask.size:
            return mask.astype(np.float32)
    return _guarantee_proper(mask.astype(np.uint8), rng).astype(np.float32)


def mask_rng(seed: int | np.random.Generator, index: int) -> np.random.Generator:
    """The independent generator of mask ``index`` for ``seed`` (so mask i never depends on n)."""
    if isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed.integers(0, 2**63))
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFF, 0x6D61736B, index])


def generate_masks(
    name_or_generator: object,
    n: int,
    height: int,
    width: int,
    seed: int | np.random.Generator = 0,
) -> torch.Tensor:
    """``n`` masks (n, 1, height, width), float32, 1 = hole, from a named family.

    ``name_or_generator``: a name from :data:`MASKS`, ``ratio_<lo>_<hi>`` (percent), or a
    callable ``fn(rng, height, width) -> (H, W) array`` of your own. Same seed, same masks;
    with an int seed, mask ``i`` depends only on ``(seed, i)``.
    """
    fn = resolve_mask(name_or_generator)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n must be a positive int, got {n!r}")
    height, width = _check_size(height, "height"), _check_size(width, "width")
    if not isinstance(seed, np.random.Generator) and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise InputError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    out = np.stack([make_mask(fn, mask_rng(seed, i), height, width) for i in range(int(n))])
    return torch.from_numpy(out).unsqueeze(1)
