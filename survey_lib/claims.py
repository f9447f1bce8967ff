"""The claims engine: one rule per headline claim of the survey, decided with an interval.

Every chapter ends by measuring its paper's claim (the 12 "headline claims" of
``SURVEY.md``). This module holds the *only* decision logic for them, so no chapter
invents its own threshold: each ``claim_N_...`` function takes the evaluated runs
(:class:`~survey_lib.metrics.EvalTable` objects from :func:`~survey_lib.metrics.evaluate`,
or per-image arrays) and returns a :class:`Verdict`.

**The interval.** Images are the unit of evidence: the two methods are run on the *same*
images and masks, so the per-image difference ``d_i`` is what varies. The effect is the
mean of ``d_i``, and its 95 % interval is a percentile bootstrap over images
(:func:`paired_bootstrap`). When several images are crops of one photograph, pass their
source ids as ``groups``: whole groups are resampled (a cluster bootstrap), since crops of
one photo are not independent evidence. When a run is cheap enough to repeat with 2–3
seeds, pass a list of runs (one per seed): :func:`paired_bootstrap_seeds` resamples seeds,
then images, and pools the differences. Per-image PSNR of a perfect fill is ``inf``; it is
capped at :data:`PSNR_CAP` dB (below 8-bit quantisation noise) before differences are taken.
Images where a value is NaN (e.g. no pair of hole pixels for sharpness) are left out and
the verdict says how many.

**The decision rule** (:func:`decide`, the one place it lives). Every effect is oriented
so that positive = the claim's direction ("improvement", e.g. hole-PSNR gain, LPIPS
reduction, seam-error reduction). For a claim with margin ``m``:

* ``HELD`` if the interval's lower end ``lo > m``;
* ``NOT HELD`` if its upper end ``hi < m``;
* ``INCONCLUSIVE`` otherwise (the interval contains ``m``: too few images to tell).

"A better than B" uses ``m = 0`` (or a stated positive margin). "A at least as good as B"
(claims 3 and 8's quality half, 12's thin half) is a *non-inferiority* test with
``m = -δ``: it holds when A is provably no worse than B by more than δ
(:data:`NONINFERIORITY_MARGINS`: 0.5 dB of PSNR, 0.02 LPIPS, 0.01 SSIM, 0.005 MAE), and
fails when A is provably worse by more than δ. A claim with several parts (2, 8, 10, 12)
holds only when every part holds; one part NOT HELD makes it NOT HELD; a part that could
not be measured makes it INCONCLUSIVE at best.

**Measures** (``metric=`` overrides; direction from
:func:`~survey_lib.metrics.is_higher_better`, extended by :func:`higher_is_better` to
``sharpness``, ``*f1`` and ``diversity``): claim 1 ``sharpness`` (the canonical
:func:`~survey_lib.metrics.hole_gradient_energy`, ideally as a ratio to the truth's); 5
``edge_f1`` when the tables carry it, else ``hole_psnr``; 8's quality ``lpips`` when
present, else ``hole_psnr``; 9 ``seam_error``; all others ``hole_psnr``. Add a per-image
column to a table with :func:`with_per_image`.

:data:`CLAIMS` lists the twelve claims with their statement, paper, chapter and function;
:class:`ClaimsTable` prints a list of verdicts as one course-wide table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from survey_lib.data.checks import InputError
from survey_lib.metrics.evaluate import EvalTable
from survey_lib.metrics.pixel import is_higher_better

__all__ = [
    "CLAIMS",
    "HELD",
    "INCONCLUSIVE",
    "NONINFERIORITY_MARGINS",
    "NOT_HELD",
    "PSNR_CAP",
    "ClaimInfo",
    "ClaimsTable",
    "Interval",
    "Verdict",
    "claim_1_adversarial_sharpens",
    "claim_2_partial_beats_vanilla",
    "claim_3_gated_at_least_partial",
    "claim_4_attention_helps",
    "claim_5_edges_improve_structure",
    "claim_6_refinement_improves",
    "claim_7_part_to_full_large_holes",
    "claim_8_pluralistic_diverse",
    "claim_9_resampling_harmonizes",
    "claim_10_fourier_large_masks",
    "claim_11_quality_falls_with_hole_ratio",
    "claim_12_learned_beats_classical_on_large_holes",
    "claim_info",
    "decide",
    "higher_is_better",
    "noninferiority_margin",
    "payoff",
    "paired_bootstrap",
    "paired_bootstrap_seeds",
    "spearman_bootstrap",
    "with_per_image",
]

HELD, NOT_HELD, INCONCLUSIVE = "HELD", "NOT HELD", "INCONCLUSIVE"
VERDICTS = (HELD, NOT_HELD, INCONCLUSIVE)
#: confidence level of every interval
LEVEL = 0.95
#: bootstrap replicates by default
N_BOOT = 2000
#: per-image PSNR above this (dB) counts as perfect: MSE 1e-6 on [0, 1] data, below the
#: quantisation noise of 8-bit images (1/(12·255²) ≈ 1.3e-6, 58.9 dB)
PSNR_CAP = 60.0
#: δ of the non-inferiority claims ("at least as good"), by metric family
NONINFERIORITY_MARGINS = {"psnr": 0.5, "lpips": 0.02, "ssim": 0.01, "mae": 0.005}
#: claim 2's fill invariance: the largest mean change (per image, max − min over fills) that
#: still counts as "does not care" — float rounding, not a modelling effect
FILL_TOLERANCES = {"psnr": 0.01}
FILL_TOLERANCE_DEFAULT = 1e-4
#: below this many distinct source images a verdict's reason warns that its cluster interval is rough
FEW_SOURCES = 5

#: what a claim accepts as one method's runs: a table, one table per seed, or per-image values ((n,) or (seeds, n))
Runs = EvalTable | Sequence[EvalTable] | np.ndarray | torch.Tensor | Sequence[float]


# --------------------------------------------------------------------------- the interval


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval, and what it was computed on."""

    effect: float
    lo: float
    hi: float
    n: int  # images
    n_groups: int | None = None  # distinct sources, when groups were given
    n_seeds: int = 1
    level: float = LEVEL


def _check_int(value: object, name: str, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{name} must be an int ≥ {minimum}, got {value!r}")
    return int(value)


def _check_level(level: object) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.5 <= float(level) < 1.0:
        raise InputError(f"level must be a confidence level in [0.5, 1), got {level!r}")
    return float(level)


def _as_matrix(x: object, name: str) -> np.ndarray:
    """(S, n) float64 from a (n,) or (S, n) array-like; refuses anything else."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be per-image numbers (an array of shape (n,) or (seeds, n)), "
                         f"got {type(x).__name__}") from err
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InputError(f"{name} must have shape (n,) or (seeds, n) with n ≥ 1, got shape {arr.shape}")
    return arr


def _check_groups(groups: object, n: int) -> np.ndarray | None:
    """Integer group ids 0..G-1 of each image, or None."""
    if groups is None:
        return None
    if isinstance(groups, torch.Tensor):
        groups = groups.detach().cpu().numpy()
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__len__"):
        raise InputError(f"groups must be one source id per image (length {n}), got {type(groups).__name__}")
    labels = list(groups)  # type: ignore[call-overload]
    if len(labels) != n:
        raise InputError(f"groups must give one source id per image: {n} images, got {len(labels)} ids")
    try:
        _, ids = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    except TypeError as err:
        raise InputError("groups must be hashable ids (ints or strings)") from err
    if ids.max() < 1:
        raise InputError("groups puts every image in one source: a bootstrap over one group cannot give "
                         "an interval (evaluate on images from several sources)")
    return ids.astype(np.int64)


def _counts(rng: np.random.Generator, n_boot: int, k: int) -> np.ndarray:
    """(n_boot, k): how often each of k units is drawn in each replicate of k draws."""
    draws = rng.integers(0, k, size=(n_boot, k))
    counts = np.zeros((n_boot, k))
    np.add.at(counts, (np.repeat(np.arange(n_boot), k), draws.ravel()), 1.0)
    return counts


def _stat_fn(stat: object) -> Callable[[np.ndarray], float] | None:
    """None for the (vectorised) mean; a function for anything else."""
    if stat == "mean":
        return None
    if stat == "median":
        return lambda v: float(np.median(v))
    if callable(stat):
        return lambda v: float(stat(v))  # type: ignore[operator]
    raise InputError(f"stat must be 'mean', 'median' or a function of a 1-D array, got {stat!r}")


def _bootstrap(d: np.ndarray, stat: object, n_boot: int, seed: int, groups: object, level: float) -> Interval:
    """Percentile interval of ``stat`` over the (S, n) differences: seeds, then images/groups."""
    n_boot = _check_int(n_boot, "n_boot", 100)
    seed = _check_int(seed, "seed", 0)
    level = _check_level(level)
    if not np.isfinite(d).all():
        raise InputError("the paired values contain NaN or inf; drop or cap them first (the claim "
                         "functions cap PSNR at PSNR_CAP and leave NaN images out)")
    s, n = d.shape
    if n < 2:
        raise InputError(f"a bootstrap needs at least 2 paired images, got {n}")
    ids = _check_groups(groups, n)
    fn = _stat_fn(stat)
    rng = np.random.default_rng(seed)
    seed_w = _counts(rng, n_boot, s) if s > 1 else np.ones((n_boot, 1))
    if ids is None:
        image_w = _counts(rng, n_boot, n)
    else:
        image_w = _counts(rng, n_boot, int(ids.max()) + 1)[:, ids]  # every image of a drawn group
    if fn is None:
        pooled = (seed_w @ d)  # (n_boot, n): per-image sums over the drawn seeds
        stats = (pooled * image_w).sum(1) / (seed_w.sum(1) * image_w.sum(1))
        effect = float(d.mean())
    else:
        stats = np.empty(n_boot)
        for b in range(n_boot):
            rows = np.repeat(np.arange(s), seed_w[b].astype(int))
            cols = np.repeat(np.arange(n), image_w[b].astype(int))
            stats[b] = fn(d[rows][:, cols].ravel())
        effect = fn(d.ravel())
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    n_groups = None if ids is None else int(ids.max()) + 1
    return Interval(effect, float(lo), float(hi), n, n_groups, s, level)


def paired_bootstrap(a: object, b: object, stat: object = "mean", n_boot: int = N_BOOT, seed: int = 0,
                     groups: object = None, level: float = LEVEL) -> Interval:
    """Percentile bootstrap interval of ``stat(a - b)`` over paired images.

    ``a``, ``b``: per-image values (n,) of two methods on the *same* images, in the same
    order. Each replicate resamples n images with replacement — or, with ``groups`` (one
    source id per image, e.g. the photograph a crop came from), resamples the distinct
    groups and takes all their images (a cluster bootstrap: crops of one photo move
    together, so they are not counted as independent). ``stat``: ``"mean"`` (default,
    vectorised), ``"median"`` or a function of a 1-D array. Returns an :class:`Interval`
    (effect on all images, [lo, hi] at ``level``).
    """
    am, bm = _as_matrix(a, "a"), _as_matrix(b, "b")
    if am.shape[0] != 1 or bm.shape[0] != 1:
        raise InputError("paired_bootstrap takes one run per side, shape (n,); for several seeds use "
                         "paired_bootstrap_seeds")
    if am.shape != bm.shape:
        raise InputError(f"a and b must hold the same images (paired): a has {am.shape[1]}, b has {bm.shape[1]}")
    return _bootstrap(am - bm, stat, n_boot, seed, groups, level)


def paired_bootstrap_seeds(a_runs: object, b_runs: object, stat: object = "mean", n_boot: int = N_BOOT,
                           seed: int = 0, groups: object = None, level: float = LEVEL) -> Interval:
    """Like :func:`paired_bootstrap`, for 2–3 training seeds per method.

    ``a_runs``, ``b_runs``: (S, n) per-image values, one row per seed, every row on the
    same n images; row s of ``a`` is paired with row s of ``b`` (same seed); a side with a
    single row (a deterministic method) is paired with every row of the other. Each
    replicate draws S seeds with replacement and, independently, n images (or the groups)
    with replacement, and takes ``stat`` of the pooled differences of the drawn seeds on
    the drawn images — so the interval widens when seeds disagree, and when images do.
    """
    am, bm = _as_matrix(a_runs, "a_runs"), _as_matrix(b_runs, "b_runs")
    if am.shape[1] != bm.shape[1]:
        raise InputError(f"a_runs and b_runs must hold the same images (paired): {am.shape[1]} and "
                         f"{bm.shape[1]} images")
    if am.shape[0] != bm.shape[0] and 1 not in (am.shape[0], bm.shape[0]):
        raise InputError(f"a_runs and b_runs must have the same number of seeds (or one run on a side), "
                         f"got {am.shape[0]} and {bm.shape[0]}")
    return _bootstrap(am - bm, stat, n_boot, seed, groups, level)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rx, ry = _ranks(x), _ranks(y)
    rx = rx - rx.mean(-1, keepdims=True)
    ry = ry - ry.mean(-1, keepdims=True)
    den = np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(-1) / den, 0.0)


def spearman_bootstrap(x: object, y: object, n_boot: int = N_BOOT, seed: int = 0, groups: object = None,
                       level: float = LEVEL) -> Interval:
    """Spearman rank correlation of per-image ``x`` and ``y`` with a bootstrap interval.

    Images (or, with ``groups``, whole groups) are resampled; a replicate whose values are
    all tied counts as ρ = 0.
    """
    xm, ym = _as_matrix(x, "x"), _as_matrix(y, "y")
    if xm.shape[0] != 1 or xm.shape != ym.shape:
        raise InputError(f"x and y must be two (n,) arrays over the same images, got shapes "
                         f"{xm.shape[1:]} and {ym.shape[1:]}")
    xv, yv = xm[0], ym[0]
    if not (np.isfinite(xv).all() and np.isfinite(yv).all()):
        raise InputError("x and y must be finite")
    n = len(xv)
    if n < 3:
        raise InputError(f"a rank correlation needs at least 3 images, got {n}")
    if np.ptp(xv) == 0:
        raise InputError("x takes one value on every image: a correlation with it is undefined")
    n_boot = _check_int(n_boot, "n_boot", 100)
    level = _check_level(level)
    ids = _check_groups(groups, n)
    rng = np.random.default_rng(_check_int(seed, "seed", 0))
    if ids is None:
        idx = rng.integers(0, n, size=(n_boot, n))
        stats = _spearman_rows(xv[idx], yv[idx])
    else:  # whole groups: replicates differ in length when groups differ in size
        members = [np.flatnonzero(ids == g) for g in range(int(ids.max()) + 1)]
        stats = np.empty(n_boot)
        for b in range(n_boot):
            rows = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
            stats[b] = _spearman_rows(xv[rows], yv[rows])
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    n_groups = None if ids is None else int(ids.max()) + 1
    return Interval(float(_spearman_rows(xv, yv)), float(lo), float(hi), n, n_groups, 1, level)


def decide(lo: float, hi: float, margin: float = 0.0) -> str:
    """The decision rule of every claim (module docstring): the interval [lo, hi] of an
    improvement against the margin. ``HELD`` if ``lo > margin``, ``NOT HELD`` if
    ``hi < margin``, else ``INCONCLUSIVE``. Superiority: margin ≥ 0; non-inferiority
    ("at least as good, within δ"): margin = −δ.
    """
    for name, v in (("lo", lo), ("hi", hi), ("margin", margin)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or math.isnan(v):
            raise InputError(f"{name} must be a number, got {v!r}")
    if lo > hi:
        raise InputError(f"lo must not exceed hi, got [{lo}, {hi}]")
    if lo > margin:
        return HELD
    if hi < margin:
        return NOT_HELD
    return INCONCLUSIVE


# --------------------------------------------------------------------------- metrics


def higher_is_better(metric: str) -> bool:
    """:func:`~survey_lib.metrics.is_higher_better`, plus ``sharpness``, ``*f1`` and ``diversity``."""
    if not isinstance(metric, str):
        raise InputError(f"metric must be a metric name (str), got {type(metric).__name__}")
    key = metric.lower()
    return is_higher_better(key) or any(k in key for k in ("sharp", "f1", "divers"))


def _family(metric: str) -> str | None:
    key = metric.lower()
    for fam in ("psnr", "lpips", "ssim", "mae"):
        if fam in key:
            return fam
    return None


def noninferiority_margin(metric: str) -> float:
    """δ for "at least as good" claims: 0.5 dB PSNR, 0.02 LPIPS, 0.01 SSIM, 0.005 MAE."""
    fam = _family(metric) if isinstance(metric, str) else None
    if fam is None:
        raise InputError(f"no default non-inferiority margin for metric {metric!r}; pass margin= "
                         f"(known: {', '.join(NONINFERIORITY_MARGINS)})")
    return NONINFERIORITY_MARGINS[fam]


def _unit(metric: str) -> str:
    return " dB" if "psnr" in metric.lower() else ""


def with_per_image(table: EvalTable, metric: str, values: object) -> EvalTable:
    """A copy of ``table`` with one more per-image column (e.g. ``sharpness``, ``edge_f1``,
    ``seam_error``) so a claim can be decided on it. ``values``: (n,) in the table's order.
    """
    if not isinstance(table, EvalTable):
        raise InputError(f"table must be an EvalTable (from evaluate), got {type(table).__name__}")
    if not isinstance(metric, str) or not metric:
        raise InputError(f"metric must be a non-empty name, got {metric!r}")
    arr = _as_matrix(values, "values")
    if arr.shape[0] != 1 or arr.shape[1] != table.n:
        raise InputError(f"values must be one number per image of the table ({table.n}), got shape "
                         f"{tuple(np.shape(values))}")
    return EvalTable(table.method, {**table.per_image, metric: arr[0]}, table.ratios, table.bins)


# --------------------------------------------------------------------------- runs


@dataclass
class _Runs:
    values: np.ndarray  # (S, n)
    ratios: np.ndarray | None
    label: str

    @property
    def n(self) -> int:
        return self.values.shape[1]

    def select(self, keep: np.ndarray) -> _Runs:
        return _Runs(self.values[:, keep], None if self.ratios is None else self.ratios[keep], self.label)


def _is_tables(x: object) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes)) and len(x) > 0 and all(
        isinstance(t, EvalTable) for t in x)


def _runs(x: object, metric: str, name: str) -> _Runs:
    """Per-image values of ``metric`` from a table, a list of tables (seeds) or an array."""
    if isinstance(x, EvalTable):
        x = [x]
    if _is_tables(x):
        tables: list[EvalTable] = list(x)  # type: ignore[arg-type]
        for i, t in enumerate(tables):
            if metric not in t.per_image:
                raise InputError(f"{name} has no per-image {metric!r} (it has {t.metrics}); choose metric= "
                                 f"or add the column with claims.with_per_image")
            if t.n != tables[0].n or not np.allclose(t.ratios, tables[0].ratios, atol=1e-9):
                raise InputError(f"{name}: seed {i} was not evaluated on the same images and masks as seed 0 "
                                 f"({t.n} vs {tables[0].n} images, or different hole ratios)")
        values = np.stack([np.asarray(t.per_image[metric], dtype=np.float64) for t in tables])
        return _Runs(values, np.asarray(tables[0].ratios, dtype=np.float64), tables[0].method)
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)) and any(isinstance(t, EvalTable) for t in x):
        raise InputError(f"{name} mixes EvalTables with other things; pass tables (one per seed) or an array")
    return _Runs(_as_matrix(x, name), None, name)


def _pick_metric(metric: str | None, preferences: tuple[str, ...], *xs: object) -> str:
    if metric is not None:
        if not isinstance(metric, str) or not metric:
            raise InputError(f"metric must be a metric name, got {metric!r}")
        return metric
    tables = [t for x in xs for t in ([x] if isinstance(x, EvalTable) else list(x) if _is_tables(x) else [])]
    for m in preferences:
        if all(m in t.per_image for t in tables):
            return m
    return preferences[-1]


def _pair(a: _Runs, b: _Runs, names: tuple[str, str], check_ratios: bool = True) -> None:
    if a.n != b.n:
        raise InputError(f"{names[0]} and {names[1]} must be evaluated on the same images (paired): "
                         f"{names[0]} has {a.n} images, {names[1]} has {b.n}")
    if a.values.shape[0] != b.values.shape[0] and 1 not in (a.values.shape[0], b.values.shape[0]):
        raise InputError(f"{names[0]} and {names[1]} must have the same number of seeds (or one run on a "
                         f"side), got {a.values.shape[0]} and {b.values.shape[0]}")
    if check_ratios and a.ratios is not None and b.ratios is not None:
        bad = np.flatnonzero(~np.isclose(a.ratios, b.ratios, atol=1e-9))
        if len(bad):
            i = int(bad[0])
            raise InputError(f"{names[0]} and {names[1]} were not evaluated on the same masks: the hole ratio "
                             f"of image {i} is {a.ratios[i]:.4f} in one and {b.ratios[i]:.4f} in the other")


def _clean(values: np.ndarray, metric: str) -> np.ndarray:
    out = values.astype(np.float64, copy=True)
    if "psnr" in metric.lower():
        out = np.minimum(out, PSNR_CAP)
    out[np.isinf(out)] = np.nan
    return out


@dataclass
class _Common:
    groups: object
    n_boot: int
    seed: int
    data: str


def _improvement(control: _Runs, treatment: _Runs, metric: str, common: _Common,
                 keep: np.ndarray | None = None) -> tuple[Interval, int, int | None]:
    """Interval of the treatment's improvement over the control (positive = better).

    Returns the interval, how many images were left out for NaN, and the distinct groups.
    """
    c, t = _clean(control.values, metric), _clean(treatment.values, metric)
    groups = common.groups
    n = control.n
    ok = np.isfinite(c).all(0) & np.isfinite(t).all(0)
    if keep is not None:
        ok &= keep
    dropped = int((~(np.isfinite(c).all(0) & np.isfinite(t).all(0)) & (keep if keep is not None else True)).sum())
    if groups is not None:
        groups = np.asarray(_check_groups(groups, n))[ok]
        if len(np.unique(groups)) < 2:
            raise InputError("the images compared come from one source only: no interval over sources")
    if ok.sum() < 2:
        raise InputError(f"only {int(ok.sum())} images have a value to compare; a bootstrap needs at least 2")
    diff_a, diff_b = (t, c) if higher_is_better(metric) else (c, t)
    iv = paired_bootstrap_seeds(diff_a[:, ok], diff_b[:, ok], n_boot=common.n_boot, seed=common.seed,
                                groups=groups)
    return iv, dropped, iv.n_groups


# --------------------------------------------------------------------------- verdicts


@dataclass
class Verdict:
    """The outcome of one claim (or of one part of it).

    ``effect`` and ``interval`` are oriented so that positive = the claim's direction
    (except claim 11, whose effect is the rank correlation ρ itself: the claim wants ρ < 0);
    ``margin`` is what the interval was compared with (negative: non-inferiority).
    """

    claim: int
    statement: str
    measure: str
    effect: float
    interval: tuple[float, float]
    n: int
    verdict: str
    reason: str
    n_sources: int | None = None
    n_seeds: int = 1
    margin: float = 0.0
    chapter: str = ""
    data: str = ""
    parts: list[Verdict] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None  # printed after the effect; None: " dB" for PSNR measures

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not self.chapter and 1 <= self.claim <= len(_STATEMENTS):
            self.chapter = _CHAPTERS[self.claim]

    @property
    def lo(self) -> float:
        return self.interval[0]

    @property
    def hi(self) -> float:
        return self.interval[1]

    @property
    def held(self) -> bool:
        return self.verdict == HELD

    def effect_text(self) -> str:
        if math.isnan(self.effect):  # a claim that could not be measured (a chapter not built yet)
            return "—"
        unit = _unit(self.measure) if self.unit is None else self.unit
        return f"{self.effect:+.3g}{unit} [{self.lo:+.3g}, {self.hi:+.3g}]"

    def sample_text(self) -> str:
        text = f"n = {self.n} images"
        if self.n_sources is not None:
            text += f" from {self.n_sources} sources"
        if self.n_seeds > 1:
            text += f", {self.n_seeds} seeds"
        return text

    def _numbers(self) -> str:
        return (f"{self.measure}: {self.effect_text()} (95 % interval; margin {self.margin:+g}); "
                f"{self.sample_text()}")

    def __str__(self) -> str:
        lines = [f"Claim {self.claim} ({self.statement}): {self.verdict}",
                 f"  {self._numbers()}" + (f"; data: {self.data}" if self.data else ""),
                 f"  {self.reason}"]
        lines += [f"  part {i}: {p.verdict} — {p._numbers()}\n    {p.reason}" for i, p in enumerate(self.parts, 1)]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = {HELD: "#1a7f37", NOT_HELD: "#cf222e", INCONCLUSIVE: "#9a6700"}[self.verdict]
        parts = "".join(f"<li>{p._repr_html_()}</li>" for p in self.parts)
        return (f"<div><b>Claim {self.claim}</b> — {html.escape(self.statement)}: "
                f"<b style='color:{colour}'>{self.verdict}</b><br>{html.escape(self.measure)}: "
                f"{html.escape(self.effect_text())} (95 % interval; margin {self.margin:+g}); "
                f"{html.escape(self.sample_text())}"
                + (f"; data: {html.escape(self.data)}" if self.data else "")
                + f"<br><i>{html.escape(self.reason)}</i>"
                + (f"<ul>{parts}</ul>" if parts else "") + "</div>")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary (parts nested)."""
        return {"claim": self.claim, "statement": self.statement, "chapter": self.chapter, "data": self.data,
                "measure": self.measure, "effect": self.effect, "lo": self.lo, "hi": self.hi,
                "margin": self.margin, "n": self.n, "n_sources": self.n_sources, "n_seeds": self.n_seeds,
                "unit": _unit(self.measure) if self.unit is None else self.unit,
                "verdict": self.verdict, "reason": self.reason,
                "details": {k: (float(v) if isinstance(v, (np.floating, float)) else v)
                            for k, v in self.details.items()},
                "parts": [p.to_dict() for p in self.parts]}


class ClaimsTable:
    """Several verdicts as one table: claim, chapter, data, measure, effect [lo, hi], verdict."""

    HEAD = ("claim", "chapter", "data", "measure", "effect [95 % interval]", "n", "verdict")

    def __init__(self, verdicts: Sequence[Verdict]) -> None:
        if isinstance(verdicts, Verdict):
            verdicts = [verdicts]
        if not isinstance(verdicts, Sequence) or not all(isinstance(v, Verdict) for v in verdicts):
            raise InputError("verdicts must be a list of Verdict objects (from the claim_N functions)")
        self.verdicts = list(verdicts)

    def _rows(self) -> list[list[str]]:
        return [[f"{v.claim}. {v.statement}", v.chapter, v.data or "—", v.measure, v.effect_text(),
                 str(v.n) + (f" ({v.n_sources} src)" if v.n_sources is not None else "")
                 + (f" × {v.n_seeds} seeds" if v.n_seeds > 1 else ""), v.verdict] for v in self.verdicts]

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.HEAD) + " |", "|" + "---|" * len(self.HEAD)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self._rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEAD)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._rows())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        return self.to_markdown()

    def __len__(self) -> int:
        return len(self.verdicts)


def _verdict(claim: int, measure: str, iv: Interval, margin: float, reason: str, common: _Common,
             dropped: int = 0, **details: Any) -> Verdict:
    verdict = decide(iv.lo, iv.hi, margin)
    if dropped:
        reason += f" ({dropped} images without a value left out)"
    if iv.n_groups is not None and iv.n_groups < FEW_SOURCES:
        reason += (f"; caution: only {iv.n_groups} distinct source images — a bootstrap over so few clusters "
                   f"is rough, read the interval as indicative")
    return Verdict(claim, _STATEMENTS[claim], measure, iv.effect, (iv.lo, iv.hi), iv.n, verdict, reason,
                   iv.n_groups, iv.n_seeds, margin, data=common.data, details=dict(details))


def _combine(claim: int, parts: list[Verdict], common: _Common, missing: str | None = None) -> Verdict:
    """All parts HELD → HELD; any NOT HELD → NOT HELD; else (or a part missing) INCONCLUSIVE."""
    verdicts = [p.verdict for p in parts]
    if NOT_HELD in verdicts:
        verdict = NOT_HELD
    elif all(v == HELD for v in verdicts) and missing is None:
        verdict = HELD
    else:
        verdict = INCONCLUSIVE
    summary = "; ".join(f"{p.measure}: {p.verdict}" for p in parts)
    reason = f"all parts must hold — {summary}" + (f"; {missing}" if missing else "")
    head = parts[0]
    return Verdict(claim, _STATEMENTS[claim], head.measure, head.effect, head.interval, head.n, verdict, reason,
                   head.n_sources, head.n_seeds, head.margin, data=common.data, parts=parts)


def _common(groups: object, n_boot: int, seed: int, data: str) -> _Common:
    if not isinstance(data, str):
        raise InputError(f"data must be a label (str), e.g. survey_lib.data.source_tag('photos'), got {data!r}")
    _check_int(n_boot, "n_boot", 100)
    _check_int(seed, "seed", 0)
    return _Common(groups, n_boot, seed, data)


def _margin(margin: object, name: str = "margin", nonnegative: bool = True) -> float:
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
        raise InputError(f"{name} must be a finite number, got {margin!r}")
    if nonnegative and margin < 0:
        raise InputError(f"{name} must be ≥ 0 (how much better the claim demands), got {margin!r}")
    return float(margin)


def _paired_improvement(base: object, other: object, names: tuple[str, str], metric: str, common: _Common,
                        keep: np.ndarray | None, what: str) -> tuple[Interval, int, str]:
    """The interval of ``other``'s improvement over ``base`` on the same images, the number of
    images dropped (NaN), and the measure's label — the part every two-run claim shares."""
    b, o = _runs(base, metric, names[0]), _runs(other, metric, names[1])
    _pair(b, o, names)
    iv, dropped, _ = _improvement(b, o, metric, common, keep)
    sign = "gain" if higher_is_better(metric) else "reduction"
    return iv, dropped, f"{metric} {sign} ({names[1]} vs {names[0]}{what})"


def _superiority(claim: int, control: object, treatment: object, names: tuple[str, str], metric: str,
                 margin: float, common: _Common, keep: np.ndarray | None = None, what: str = "") -> Verdict:
    iv, dropped, measure = _paired_improvement(control, treatment, names, metric, common, keep, what)
    reason = (f"{names[1]} {'better' if iv.effect > 0 else 'worse'} than {names[0]} by "
              f"{abs(iv.effect):.3g}{_unit(metric)} {metric} on average; HELD needs the whole interval "
              f"above {margin:+g}")
    return _verdict(claim, measure, iv, margin, reason, common, dropped)


def _noninferiority(claim: int, reference: object, candidate: object, names: tuple[str, str], metric: str,
                    margin: float | None, common: _Common, keep: np.ndarray | None = None,
                    what: str = "") -> Verdict:
    delta = noninferiority_margin(metric) if margin is None else _margin(margin, "margin")
    iv, dropped, measure = _paired_improvement(reference, candidate, names, metric, common, keep, what)
    reason = (f"non-inferiority, δ = {delta:g}{_unit(metric)} {metric}: HELD if {names[1]} is provably no "
              f"worse than {names[0]} by more than δ (interval above −δ)")
    return _verdict(claim, measure, iv, -delta, reason, common, dropped, delta=delta)


def _ratio_subset(runs: _Runs, ratios: object, name: str) -> np.ndarray:
    if ratios is not None:
        arr = _as_matrix(ratios, "ratios")
        if arr.shape != (1, runs.n):
            raise InputError(f"ratios must give one hole ratio per image ({runs.n}), got shape {arr.shape}")
        return arr[0]
    if runs.ratios is None:
        raise InputError(f"{name} carries no hole ratios (it is an array): pass EvalTables or ratios=")
    return runs.ratios


def _holes_at_least(ratios: np.ndarray, minimum: float, advice: str) -> np.ndarray:
    """The images whose hole ratio is ≥ ``minimum`` (a claim about large holes needs two at least)."""
    keep = ratios >= minimum
    if keep.sum() < 2:
        raise InputError(f"only {int(keep.sum())} images have a hole ratio ≥ {minimum:.0%}{advice}")
    return keep


def _check_fraction(x: object, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= float(x) <= 1.0:
        raise InputError(f"{name} must be a hole ratio in [0, 1] (0.4 = 40 %), got {x!r}")
    return float(x)


# --------------------------------------------------------------------------- the claims


def claim_1_adversarial_sharpens(l2_only: Runs, with_adv: Runs, *, truth_sharpness: object = None,
                                 metric: str = "sharpness", quality_metric: str = "hole_psnr",
                                 margin: float = 0.0, groups: object = None, n_boot: int = N_BOOT,
                                 seed: int = 0, data: str = "") -> Verdict:
    """Claim 1 (Context Encoders): adding an adversarial term sharpens the fill.

    ``l2_only``/``with_adv``: tables carrying a per-image ``sharpness`` column (add it with
    :func:`with_per_image` from :func:`~survey_lib.metrics.hole_gradient_energy` of the
    composites), or the per-image values themselves. ``truth_sharpness``: the ground
    truth's value per image (or one number); when given, both sides become ratios to it
    (1 = as sharp as reality; images whose truth is flat are left out). HELD if the
    sharpness gain's interval lies above ``margin``. The survey adds "and usually lowers
    PSNR": when both sides are tables with ``quality_metric``, that change is measured and
    reported (details and reason) but does not decide the verdict.
    """
    common = _common(groups, n_boot, seed, data)
    a, b = _runs(l2_only, metric, "l2_only"), _runs(with_adv, metric, "with_adv")
    _pair(a, b, ("l2_only", "with_adv"))
    measure_name = metric
    if truth_sharpness is not None:
        if isinstance(truth_sharpness, (int, float)) and not isinstance(truth_sharpness, bool):
            truth = np.full(a.n, float(truth_sharpness))
        else:
            tm = _as_matrix(truth_sharpness, "truth_sharpness")
            if tm.shape != (1, a.n):
                raise InputError(f"truth_sharpness must be one number or one per image ({a.n}), got shape "
                                 f"{tm.shape}")
            truth = tm[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            safe = np.where(truth > 0, truth, np.nan)
            a = _Runs(a.values / safe, a.ratios, a.label)
            b = _Runs(b.values / safe, b.ratios, b.label)
        measure_name = f"{metric} / truth's"
    iv, dropped, _ = _improvement(a, b, metric, common)
    details: dict[str, Any] = {}
    reason = f"the adversarial model's {measure_name} is {iv.effect:+.3g} vs L2 only"
    try:
        qa, qb = _runs(l2_only, quality_metric, "l2_only"), _runs(with_adv, quality_metric, "with_adv")
    except InputError:
        qa = qb = None
    if qa is not None and qb is not None and (qa.ratios is not None or qb.ratios is not None):
        q, _, _ = _improvement(qa, qb, quality_metric, common)
        details.update(quality_change=q.effect, quality_lo=q.lo, quality_hi=q.hi)
        reason += (f"; {quality_metric} change {q.effect:+.3g}{_unit(quality_metric)} [{q.lo:+.3g}, {q.hi:+.3g}] "
                   f"(the survey expects a drop; reported, not decisive)")
    return _verdict(1, f"{measure_name} gain (with_adv vs l2_only)", iv, _margin(margin), reason, common,
                    dropped, **details)


def claim_2_partial_beats_vanilla(vanilla: Runs, partial: Runs, *, fill_invariance: object = None,
                                  metric: str = "hole_psnr", fill_tolerance: float | None = None,
                                  margin: float = 0.0, groups: object = None, n_boot: int = N_BOOT,
                                  seed: int = 0, data: str = "") -> Verdict:
    """Claim 2 (PConv): partial convolution beats a vanilla one on irregular holes (part a)
    and does not care what value the hole was filled with (part b).

    Part a: improvement of ``partial`` over ``vanilla`` on the same images. Part b:
    ``fill_invariance`` maps each fill value to the partial model's run with that fill
    (≥ 2 fills, one table or array each, same images); per image the spread max − min of
    ``metric`` over fills is bootstrapped, and part b holds if its interval lies below
    ``fill_tolerance`` (default 0.01 dB for PSNR, 1e-4 otherwise: float rounding). Without
    ``fill_invariance`` the claim is at best INCONCLUSIVE (half of it unmeasured).
    """
    common = _common(groups, n_boot, seed, data)
    part_a = _superiority(2, vanilla, partial, ("vanilla", "partial"), metric, _margin(margin), common)
    if fill_invariance is None:
        return _combine(2, [part_a], common, missing="part b (fill invariance) not measured")
    if isinstance(fill_invariance, Mapping):
        items = list(fill_invariance.items())
    elif isinstance(fill_invariance, Sequence) and not isinstance(fill_invariance, (str, bytes)):
        items = list(enumerate(fill_invariance))
    else:
        raise InputError(f"fill_invariance must map fill values to runs, got {type(fill_invariance).__name__}")
    if len(items) < 2:
        raise InputError(f"fill_invariance needs runs with at least 2 fill values, got {len(items)}")
    runs = [_runs(r, metric, f"fill_invariance[{k!r}]") for k, r in items]
    ref = _runs(partial, metric, "partial")
    for (k, _), r in zip(items, runs):
        if r.values.shape[0] != 1:
            raise InputError(f"fill_invariance[{k!r}] must be one run (one table or (n,) array)")
        _pair(ref, r, ("partial", f"fill_invariance[{k!r}]"))
    stack = np.concatenate([_clean(r.values, metric) for r in runs])  # (F, n)
    spread = stack.max(0) - stack.min(0)
    tol = (FILL_TOLERANCES.get(_family(metric) or "", FILL_TOLERANCE_DEFAULT) if fill_tolerance is None
           else _margin(fill_tolerance, "fill_tolerance"))
    zero = _Runs(np.zeros((1, ref.n)), None, "zero")
    # "improvement" = -spread, so the interval lies above -tol exactly when the spread's lies below tol
    iv, dropped, _ = _improvement(zero, _Runs(spread[None], None, "spread"), "spread_error", common)
    part_b = _verdict(2, f"−(max − min) {metric} over {len(items)} fills", iv, -tol,
                      f"fill invariance: mean per-image spread {-iv.effect:.3g}{_unit(metric)}; HELD if the "
                      f"interval stays under the tolerance {tol:g}", common, dropped, tolerance=tol)
    return _combine(2, [part_a, part_b], common)


def claim_3_gated_at_least_partial(partial: Runs, gated: Runs, *, metric: str = "hole_psnr",
                                   margin: float | None = None, groups: object = None,
                                   n_boot: int = N_BOOT, seed: int = 0, data: str = "") -> Verdict:
    """Claim 3 (DeepFill v2): gated convolution does at least as well as partial convolution
    on free-form masks. Non-inferiority with δ = ``margin`` (default
    :func:`noninferiority_margin`: 0.5 dB hole PSNR, 0.02 LPIPS).
    """
    common = _common(groups, n_boot, seed, data)
    return _noninferiority(3, partial, gated, ("partial", "gated"), metric, margin, common)


def claim_4_attention_helps(without: Runs, with_: Runs, *, metric: str = "hole_psnr", margin: float = 0.0,
                            groups: object = None, n_boot: int = N_BOOT, seed: int = 0,
                            data: str = "") -> Verdict:
    """Claim 4 (DeepFill v1): contextual attention helps where the missing content exists
    elsewhere in the image. Evaluate both on such data (textures, repeats; say so in
    ``data``); HELD if the improvement's interval lies above ``margin``.
    """
    common = _common(groups, n_boot, seed, data)
    return _superiority(4, without, with_, ("without attention", "with attention"), metric,
                        _margin(margin), common)


def claim_5_edges_improve_structure(without_edges: Runs, with_edges: Runs, *, metric: str | None = None,
                                    margin: float = 0.0, groups: object = None, n_boot: int = N_BOOT,
                                    seed: int = 0, data: str = "") -> Verdict:
    """Claim 5 (EdgeConnect): edge guidance improves structure inside the hole. Measure:
    ``edge_f1`` (edge-map F1 inside the hole; higher is better) when both tables carry it,
    else ``hole_psnr``.
    """
    common = _common(groups, n_boot, seed, data)
    metric = _pick_metric(metric, ("edge_f1", "hole_psnr"), without_edges, with_edges)
    return _superiority(5, without_edges, with_edges, ("without edges", "with edges"), metric,
                        _margin(margin), common)


def claim_6_refinement_improves(one_stage: Runs, two_stage: Runs, *, params: tuple[int, int] | None = None,
                                metric: str = "hole_psnr", margin: float = 0.0, groups: object = None,
                                n_boot: int = N_BOOT, seed: int = 0, data: str = "") -> Verdict:
    """Claim 6 (coarse-to-fine): a refinement stage improves on the coarse result.

    The fair control is a *one-stage* network of the same parameter count and compute
    (comparing the refined output with its own coarse stage credits the refinement with
    the extra capacity). ``params=(one_stage, two_stage)`` parameter counts, when given,
    must agree within 10 % (else InputError: the control cannot test the claim).
    """
    common = _common(groups, n_boot, seed, data)
    if params is not None:
        if (not isinstance(params, (tuple, list)) or len(params) != 2
                or not all(isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in params)):
            raise InputError(f"params must be (one_stage, two_stage) positive parameter counts, got {params!r}")
        if abs(params[0] - params[1]) > 0.1 * max(params):
            raise InputError(f"claim 6's control must have the two-stage model's size (within 10 %): "
                             f"one_stage has {params[0]:,} parameters, two_stage {params[1]:,}")
    return _superiority(6, one_stage, two_stage, ("one stage", "two stages"), metric, _margin(margin), common)


def claim_7_part_to_full_large_holes(one_shot: Runs, staged: Runs, *, min_ratio: float = 0.4,
                                     ratios: object = None, metric: str = "hole_psnr", margin: float = 0.0,
                                     groups: object = None, n_boot: int = N_BOOT, seed: int = 0,
                                     data: str = "") -> Verdict:
    """Claim 7 (part-to-full): filling from the boundary inward beats one-shot filling on
    large holes. Only images whose hole ratio is ≥ ``min_ratio`` count (ratios from the
    tables, or ``ratios=`` with arrays).
    """
    common = _common(groups, n_boot, seed, data)
    min_ratio = _check_fraction(min_ratio, "min_ratio")
    r = _ratio_subset(_runs(one_shot, metric, "one_shot"), ratios, "one_shot")
    keep = _holes_at_least(r, min_ratio, ": evaluate on large masks (e.g. ratio_40_50, ratio_50_60)")
    return _superiority(7, one_shot, staged, ("one-shot", "boundary-inward"), metric, _margin(margin), common,
                        keep, what=f", holes ≥ {min_ratio:.0%}")


def claim_8_pluralistic_diverse(diversity: object, samples: Runs, deterministic: Runs, *,
                                min_diversity: float = 0.01, metric: str | None = None,
                                margin: float | None = None, groups: object = None, n_boot: int = N_BOOT,
                                seed: int = 0, data: str = "") -> Verdict:
    """Claim 8 (PICNet): diverse completions (part a) at similar quality to a deterministic
    model (part b).

    ``diversity``: per image, the mean pairwise distance between the model's samples
    (e.g. :func:`~survey_lib.metrics.diversity` per hole pixel); part a holds if its
    interval lies above ``min_diversity`` (0.01 by default: a deterministic model gives
    0). ``samples``/``deterministic``: the quality of the samples (a table or per-image
    values averaged over the samples) and of the deterministic twin on the same images;
    part b is non-inferiority on ``metric`` (``lpips`` when both tables have it, else
    ``hole_psnr``) with δ = ``margin`` (0.02 LPIPS / 0.5 dB by default).
    """
    common = _common(groups, n_boot, seed, data)
    div = _runs(diversity, "diversity", "diversity")
    metric = _pick_metric(metric, ("lpips", "hole_psnr"), samples, deterministic)
    if div.n != _runs(samples, metric, "samples").n:
        raise InputError(f"diversity and samples must be measured on the same images: {div.n} and "
                         f"{_runs(samples, metric, 'samples').n} images")
    floor = _margin(min_diversity, "min_diversity")
    iv, dropped, _ = _improvement(_Runs(np.zeros_like(div.values), None, "zero"), div, "diversity", common)
    part_a = _verdict(8, "diversity between samples", iv, floor,
                      f"mean per-image diversity {iv.effect:.3g}; HELD if the interval lies above {floor:g}",
                      common, dropped)
    part_b = _noninferiority(8, deterministic, samples, ("deterministic", "samples"), metric, margin, common)
    return _combine(8, [part_a, part_b], common)


def claim_9_resampling_harmonizes(plain: Runs, jumps: Runs, *, metric: str = "seam_error", margin: float = 0.0,
                                  groups: object = None, n_boot: int = N_BOOT, seed: int = 0,
                                  data: str = "") -> Verdict:
    """Claim 9 (RePaint): resampling (jumps > 1) harmonizes the fill with its border better
    than plain replacement. Measure: the seam error (:func:`~survey_lib.metrics.seam_error`
    per image, lower is better). HELD only if the interval of the reduction lies above
    ``margin`` — a positive mean with an interval that straddles 0 is INCONCLUSIVE.
    Several sampling seeds: pass (seeds, n) arrays.
    """
    common = _common(groups, n_boot, seed, data)
    return _superiority(9, plain, jumps, ("plain replacement", "jumps"), metric, _margin(margin), common)


def claim_10_fourier_large_masks(conv_only: Runs, ffc: Runs, *, conv_only_hires: Runs | None = None,
                                 ffc_hires: Runs | None = None, large: float | None = None,
                                 metric: str = "hole_psnr", margin: float = 0.0, groups: object = None,
                                 n_boot: int = N_BOOT, seed: int = 0, data: str = "") -> Verdict:
    """Claim 10 (LaMa): Fourier convolutions handle large masks and periodic structure, and
    generalize to a higher resolution than trained on.

    Parts: (a) ``ffc`` better than ``conv_only`` (same size, e.g. both LaMa with the
    global ratio 0 vs > 0) at the training size — on holes ≥ ``large`` when given;
    (b) better at the higher resolution (``*_hires``: the same images, upscaled);
    (c) degrades less from training size to the higher one (per image:
    (ffc_hires − ffc) − (conv_hires − conv)). Without the hi-res runs the claim is at
    best INCONCLUSIVE. Periodic structure: evaluate on textures and say so in ``data``.
    """
    common = _common(groups, n_boot, seed, data)
    margin = _margin(margin)
    keep = None
    what = ""
    if large is not None:
        large = _check_fraction(large, "large")
        keep = _ratio_subset(_runs(conv_only, metric, "conv_only"), None, "conv_only") >= large
        what = f", holes ≥ {large:.0%}"
        if keep.sum() < 2:
            raise InputError(f"only {int(keep.sum())} images have a hole ratio ≥ {large:.0%}")
    parts = [_superiority(10, conv_only, ffc, ("conv", "FFC"), metric, margin, common, keep, what)]
    if (conv_only_hires is None) != (ffc_hires is None):
        raise InputError("pass both conv_only_hires and ffc_hires (the same images at the higher resolution), "
                         "or neither")
    if conv_only_hires is None:
        return _combine(10, parts, common, missing="higher resolution not measured")
    parts.append(_superiority(10, conv_only_hires, ffc_hires, ("conv", "FFC"), metric, margin, common, keep,
                              what + ", higher resolution"))
    lo_c, lo_f = _runs(conv_only, metric, "conv_only"), _runs(ffc, metric, "ffc")
    hi_c, hi_f = _runs(conv_only_hires, metric, "conv_only_hires"), _runs(ffc_hires, metric, "ffc_hires")
    _pair(lo_c, hi_c, ("conv_only", "conv_only_hires"), check_ratios=False)
    _pair(lo_f, hi_f, ("ffc", "ffc_hires"), check_ratios=False)
    conv_change = _Runs(_clean(hi_c.values, metric) - _clean(lo_c.values, metric), None, "conv")
    ffc_change = _Runs(_clean(hi_f.values, metric) - _clean(lo_f.values, metric), None, "ffc")
    _pair(conv_change, ffc_change, ("conv change", "FFC change"))
    iv, dropped, _ = _improvement(conv_change, ffc_change, metric, common, keep)
    parts.append(_verdict(10, f"{metric} change to the higher resolution, FFC vs conv{what}", iv, margin,
                          "FFC loses less than conv when the resolution grows", common, dropped))
    return _combine(10, parts, common)


def claim_11_quality_falls_with_hole_ratio(tables: EvalTable | Mapping[str, EvalTable] | Sequence[EvalTable], *,
                                           metric: str = "hole_psnr", groups: object = None,
                                           n_boot: int = N_BOOT, seed: int = 0, data: str = "") -> Verdict:
    """Claim 11: quality falls steadily as the hole ratio grows — for every method given
    (classical *and* learned).

    Per method: Spearman ρ between each image's hole ratio and its quality (``metric``,
    turned so higher = better), with a bootstrap interval over images. A method HELD if
    the whole interval is below 0, NOT HELD if above 0. Several methods (a dict name →
    table): every one must hold; the headline numbers are the least favourable method's.
    """
    common = _common(groups, n_boot, seed, data)
    if isinstance(tables, EvalTable):
        named = {tables.method: tables}
    elif isinstance(tables, Mapping):
        named = dict(tables)
    elif _is_tables(tables):
        named = {f"{t.method} [{i}]" if [u.method for u in tables].count(t.method) > 1 else t.method: t
                 for i, t in enumerate(tables)}  # type: ignore[union-attr]
    else:
        raise InputError(f"tables must be an EvalTable or a dict name → EvalTable, got {type(tables).__name__}")
    if not named:
        raise InputError("tables is empty")
    sign = 1.0 if higher_is_better(metric) else -1.0
    parts = []
    for name, t in named.items():
        if not isinstance(t, EvalTable):
            raise InputError(f"tables[{name!r}] must be an EvalTable (from evaluate), got {type(t).__name__}")
        run = _runs(t, metric, f"tables[{name!r}]")
        q = sign * _clean(run.values, metric)[0]
        ok = np.isfinite(q)
        g = None
        if groups is not None:
            g = np.asarray(_check_groups(groups, t.n))[ok]
        if ok.sum() == 0 or np.ptp(t.ratios[ok]) == 0:
            raise InputError(f"tables[{name!r}]: every image has the same hole ratio; claim 11 needs a range "
                             f"of ratios (e.g. masks='mixed' or one batch per ratio bin)")
        iv = spearman_bootstrap(t.ratios[ok], q[ok], n_boot=n_boot, seed=seed, groups=g)
        verdict = decide(-iv.hi, -iv.lo, 0.0)  # the claim's direction is ρ < 0
        reason = (f"{name}: Spearman ρ(hole ratio, quality) = {iv.effect:+.2f}; HELD if the whole interval "
                  f"is below 0")
        if (~ok).sum():
            reason += f" ({int((~ok).sum())} images without a value left out)"
        parts.append(Verdict(11, _STATEMENTS[11], f"ρ(hole ratio, {metric}{'' if sign > 0 else ' negated'}) — "
                             f"{name}", iv.effect, (iv.lo, iv.hi), iv.n, verdict, reason, iv.n_groups, 1, 0.0,
                             data=common.data, unit=""))
    if len(parts) == 1:
        return parts[0]
    worst = max(parts, key=lambda p: p.hi)
    combined = _combine(11, parts, common)
    combined.measure, combined.effect, combined.interval = worst.measure, worst.effect, worst.interval
    combined.n, combined.n_sources, combined.unit = worst.n, worst.n_sources, ""
    combined.reason = f"least favourable shown; {combined.reason}"
    return combined


def _best(runs: object, metric: str, keep: np.ndarray | None, name: str) -> tuple[object, str]:
    """The classical method with the best mean ``metric`` on the kept images (the strongest opponent)."""
    if not isinstance(runs, Mapping):
        return runs, name
    if not runs:
        raise InputError(f"{name} is an empty dict")
    sign = 1.0 if higher_is_better(metric) else -1.0
    scores = {}
    for k, r in runs.items():
        v = _clean(_runs(r, metric, f"{name}[{k!r}]").values, metric)
        if keep is not None and v.shape[1] != len(keep):
            raise InputError(f"{name}[{k!r}] has {v.shape[1]} images, the learned run {len(keep)}: the same "
                             f"images are needed (paired)")
        v = v if keep is None else v[:, keep]
        scores[k] = sign * float(np.nanmean(v))
    best = max(scores, key=scores.__getitem__)
    return runs[best], f"{name} ({best})"


def claim_12_learned_beats_classical_on_large_holes(
        learned: Runs, classical: Runs | Mapping[str, Runs], *, large: float = 0.3, thin: float = 0.1,
        learned_thin: Runs | None = None, classical_thin: Runs | Mapping[str, Runs] | None = None,
        metric: str = "hole_psnr", margin: float = 0.0, thin_margin: float | None = None,
        groups: object = None, n_boot: int = N_BOOT, seed: int = 0, data: str = "") -> Verdict:
    """Claim 12: a learned model beats classical diffusion-based inpainting on large holes
    (part a), while classical methods stay strong on thin ones (part b). Both must hold.

    ``classical``: one run, or a dict name → run of the classical methods (Telea,
    Navier–Stokes, biharmonic); the one with the best mean on the images concerned is
    the opponent (the strongest, so a HELD part a is not won against a weak baseline).
    Part a: learned better than classical on images with hole ratio ≥ ``large`` (30 %).
    Part b: classical at least as good as learned (non-inferiority, δ = ``thin_margin``,
    default 0.5 dB) on thin holes: the runs ``learned_thin``/``classical_thin`` (e.g.
    evaluated on ``lama_thin`` masks) when given, else the images with ratio < ``thin``.
    ``groups`` applies to the main runs only.
    """
    common = _common(groups, n_boot, seed, data)
    large, thin = _check_fraction(large, "large"), _check_fraction(thin, "thin")
    ratios = _ratio_subset(_runs(learned, metric, "learned"), None, "learned")
    keep_large = _holes_at_least(ratios, large, "; claim 12 needs large holes (e.g. ratio_30_40 … ratio_50_60 masks)")
    opponent, label = _best(classical, metric, keep_large, "classical")
    part_a = _superiority(12, opponent, learned, (label, "learned"), metric, _margin(margin), common,
                          keep_large, what=f", holes ≥ {large:.0%}")
    if (learned_thin is None) != (classical_thin is None):
        raise InputError("pass both learned_thin and classical_thin (the same thin masks), or neither")
    if learned_thin is not None:
        opponent_t, label_t = _best(classical_thin, metric, None, "classical_thin")
        thin_common = _Common(None, common.n_boot, common.seed, common.data)
        part_b = _noninferiority(12, learned_thin, opponent_t, ("learned", label_t), metric, thin_margin,
                                 thin_common, what=", thin masks")
    else:
        keep_thin = ratios < thin
        if keep_thin.sum() < 2:
            raise InputError(f"only {int(keep_thin.sum())} images have a hole ratio < {thin:.0%}; pass "
                             f"learned_thin/classical_thin runs on thin masks")
        opponent_t, label_t = _best(classical, metric, keep_thin, "classical")
        part_b = _noninferiority(12, learned, opponent_t, ("learned", label_t), metric, thin_margin, common,
                                 keep_thin, what=f", holes < {thin:.0%}")
    return _combine(12, [part_a, part_b], common)


PAYOFF_STATEMENT = "payoff: the chapter's learned model beats the strongest classical fill on large holes"


def payoff(learned: Runs, classical: Runs | Mapping[str, Runs], *, metric: str = "hole_psnr",
           large: float = 0.3, learned_name: str = "learned", groups: object = None, n_boot: int = N_BOOT,
           seed: int = 0, data: str = "") -> Verdict:
    """A chapter's payoff line: does its main learned model beat the strongest classical
    method on large holes? (Claim 12's large-hole part, for any chapter's data.)

    The opponent is the classical run with the best mean ``metric`` on the images concerned
    (as in claim 12); the effect is learned minus classical, oriented so > 0 favours the
    learned model (an LPIPS *reduction*, a hole-PSNR *gain*), with its paired (cluster)
    bootstrap interval and the usual rule (HELD: learned better; NOT HELD: classical
    better; INCONCLUSIVE: cannot tell). Images with hole ratio ≥ ``large``; when fewer than
    two reach it (the 25 % centre masks of chapters 3.x) all images are used and the
    measure says "all holes". ``details``: ``opponent`` (its key when ``classical`` is a
    dict) and ``all_holes``.
    """
    common = _common(groups, n_boot, seed, data)
    large = _check_fraction(large, "large")
    if not isinstance(learned_name, str) or not learned_name:
        raise InputError(f"learned_name must be a non-empty str, got {learned_name!r}")
    ratios = _ratio_subset(_runs(learned, metric, "learned"), None, "learned")
    keep = ratios >= large
    what = f", holes ≥ {large:.0%}"
    if keep.sum() < 2:
        keep = np.ones(len(ratios), bool)
        what = f", all holes (fewer than 2 reach {large:.0%})"
    opponent, label = _best(classical, metric, keep, "classical")
    verdict = _superiority(12, opponent, learned, (label, learned_name), metric, 0.0, common, keep, what=what)
    name = label[len("classical ("):-1] if isinstance(classical, Mapping) else None
    return replace(verdict, statement=PAYOFF_STATEMENT,
                   details={**verdict.details, "opponent": name, "all_holes": "all holes" in what})


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ClaimInfo:
    """One headline claim of SURVEY.md: its statement, paper, chapter and deciding function."""

    number: int
    statement: str
    paper: str
    chapter: str
    function: Callable[..., Verdict]


_CLAIM_TEXT = {
    1: ("adding an adversarial term sharpens results (and usually lowers PSNR)", "Context Encoders",
        "03_1_autoencoder"),
    2: ("partial convolution beats a vanilla one on irregular holes and ignores the fill value", "PConv",
        "02_4_convolution_aware"),
    3: ("gated convolution does at least as well as partial convolution on free-form masks", "DeepFill v2",
        "02_4_convolution_aware"),
    4: ("contextual attention helps where the missing content exists elsewhere", "DeepFill v1",
        "02_3_attention"),
    5: ("edge guidance improves structure inside the hole", "EdgeConnect", "planned (2.1.4)"),
    6: ("a refinement stage improves on the coarse result", "coarse-to-fine", "02_3_attention"),
    7: ("filling from the boundary inward beats one-shot filling on large holes", "part-to-full",
        "planned (2.1.2)"),
    8: ("a pluralistic model gives diverse completions at similar quality to a deterministic one", "PICNet",
        "03_2_vae"),
    9: ("RePaint resampling (jumps > 1) harmonizes the fill with its border", "RePaint", "03_4_diffusion"),
    10: ("Fourier convolutions handle large masks and periodic structure, and generalize to a higher "
         "resolution", "LaMa", "02_4_convolution_aware"),
    11: ("quality falls steadily as the hole ratio grows", "per-bin benchmark tables", "01_data_masks_metrics"),
    12: ("a learned model beats classical diffusion inpainting on large holes; classical stays strong on thin",
         "survey §2 vs classical", "01_data_masks_metrics"),
}
_STATEMENTS = {k: v[0] for k, v in _CLAIM_TEXT.items()}
_CHAPTERS = {k: v[2] for k, v in _CLAIM_TEXT.items()}

CLAIMS: tuple[ClaimInfo, ...] = tuple(
    ClaimInfo(k, text, paper, chapter, fn)
    for (k, (text, paper, chapter)), fn in zip(_CLAIM_TEXT.items(), (
        claim_1_adversarial_sharpens, claim_2_partial_beats_vanilla, claim_3_gated_at_least_partial,
        claim_4_attention_helps, claim_5_edges_improve_structure, claim_6_refinement_improves,
        claim_7_part_to_full_large_holes, claim_8_pluralistic_diverse, claim_9_resampling_harmonizes,
        claim_10_fourier_large_masks, claim_11_quality_falls_with_hole_ratio,
        claim_12_learned_beats_classical_on_large_holes))
)


def claim_info(number: int) -> ClaimInfo:
    """The registry entry of claim ``number`` (1–12)."""
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(CLAIMS):
        raise InputError(f"number must be a claim number 1–{len(CLAIMS)}, got {number!r}")
    return CLAIMS[number - 1]
