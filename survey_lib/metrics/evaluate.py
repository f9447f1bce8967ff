"""Evaluate any method per hole-ratio bin, and compare methods side by side.

Published inpainting tables report each metric separately for masks covering 1–10 %,
10–20 %, …, 50–60 % of the image (the NVIDIA irregular-mask protocol), because a
single average hides the most important fact about a method: how fast it degrades as
the hole grows. :func:`evaluate` reproduces that protocol for any method (a classical
baseline or a trained network), and :func:`compare_tables` puts several methods in one
table with the best value of each bin in bold.

Every metric is computed per image on the *composite* (known pixels copied from the
input), then averaged over the images of a bin; the ``hole_`` metrics use only hole
pixels. Masks covering less than 1 % or more than 60 % count only in the "all" row.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from survey_lib.data.checks import InputError, check_pair
from survey_lib.data.masks import RATIO_BINS, bin_by_ratio, bin_label, hole_ratio
from survey_lib.inpaint import Inpainter, composite, method_name, predict
from survey_lib.metrics.perceptual import (
    LPIPS_MIN_SIZE,
    LPIPS_NETS,
    lpips_available,
    lpips_distance,
)
from survey_lib.metrics.pixel import format_metric, is_higher_better, mae, psnr, ssim

ALL = "all"
#: metric keys of every table, in display order (``lpips`` follows when available, see evaluate)
METRICS = ("psnr", "ssim", "mae", "hole_psnr", "hole_mae")
METRIC_LABELS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "mae": "MAE",
    "mse": "MSE",
    "hole_psnr": "hole PSNR",
    "hole_mae": "hole MAE",
    "hole_mse": "hole MSE",
    "lpips": "LPIPS",
}


def bin_labels() -> list[str]:
    """The hole-ratio bin labels in order ("1-10%", …, "50-60%")."""
    return [str(bin_label((lo + hi) / 2)) for lo, hi in RATIO_BINS]


def metric_label(metric: str) -> str:
    """A column header with the direction of improvement, e.g. 'hole PSNR ↑'."""
    arrow = "↑" if is_higher_better(metric) else "↓"
    return f"{METRIC_LABELS.get(metric, metric)} {arrow}"


def _aggregate(metric: str, values: np.ndarray) -> float:
    """Mean of ``values``; for PSNR metrics, the PSNR of the mean MSE (see EvalTable)."""
    if "psnr" not in metric:
        return float(np.mean(values))
    mse = np.power(10.0, -np.asarray(values, dtype=np.float64) / 10.0)  # inf -> 0
    mean = float(np.mean(mse))
    return float("inf") if mean == 0.0 else float(-10.0 * np.log10(mean))


@dataclass
class EvalTable:
    """Per-image metrics of one method and their means per hole-ratio bin.

    ``rows`` holds one dict per non-empty bin, in bin order, then the "all" row; each has
    ``bin``, ``n`` and one value per metric. ``per_image[metric]`` keeps the raw (N,)
    values, ``ratios`` the hole ratio and ``bins`` the bin label (or None) of each image.
    PSNR is ``inf`` for a perfect fill. A bin's PSNR is therefore the PSNR of the bin's
    mean MSE (each image's PSNR turned back into an MSE, averaged, turned back): one
    perfect fill — a hole that fell on flat background — does not make a whole bin
    "infinite", and the bin is ``inf`` only when every fill in it is perfect. Every other
    metric is the plain mean over the bin's images.
    """

    method: str
    per_image: dict[str, np.ndarray]
    ratios: np.ndarray
    bins: list[str | None]
    rows: list[dict[str, object]] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = []
        labels = np.array([b if b is not None else "" for b in self.bins], dtype=object)
        for label in [*bin_labels(), ALL]:
            sel = np.ones(len(labels), bool) if label == ALL else labels == label
            if not sel.any():
                continue
            row: dict[str, object] = {"bin": label, "n": int(sel.sum())}
            for metric, values in self.per_image.items():
                row[metric] = _aggregate(metric, values[sel])
            self.rows.append(row)

    @property
    def metrics(self) -> list[str]:
        return list(self.per_image)

    @property
    def bin_names(self) -> list[str]:
        """Labels of the rows, "all" last."""
        return [str(r["bin"]) for r in self.rows]

    @property
    def overall(self) -> dict[str, float]:
        """The "all" row: each metric aggregated over every image (see the class docstring)."""
        return {m: float(self._row(ALL)[m]) for m in self.metrics}  # type: ignore[arg-type]

    @property
    def n(self) -> int:
        return len(self.ratios)

    def _row(self, bin: str) -> dict[str, object]:
        for row in self.rows:
            if row["bin"] == bin:
                return row
        raise KeyError(f"no images in bin {bin!r}; this table has bins {self.bin_names}")

    def value(self, bin: str, metric: str) -> float:
        """Mean of ``metric`` over the images of ``bin`` ("1-10%", …, or "all")."""
        if metric not in self.per_image:
            raise KeyError(f"no metric {metric!r}; this table has {self.metrics}")
        return float(self._row(bin)[metric])  # type: ignore[arg-type]

    def count(self, bin: str) -> int:
        """Number of images in ``bin``."""
        return int(self._row(bin)["n"])  # type: ignore[call-overload]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able summary (rows only; inf stays a float)."""
        return {"method": self.method, "rows": [dict(r) for r in self.rows]}

    def to_markdown(self) -> str:
        head = ["hole ratio", "n", *(metric_label(m) for m in self.metrics)]
        lines = [f"**{self.method}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            cells = [str(row["bin"]), str(row["n"])]
            cells += [format_metric(m, row[m]) for m in self.metrics]  # type: ignore[arg-type]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["hole ratio", "n", *map(metric_label, self.metrics)])
        body = []
        for row in self.rows:
            style = ' style="border-top: 1px solid #888; font-weight: bold"' if row["bin"] == ALL else ""
            cells = [str(row["bin"]), str(row["n"])]
            cells += [format_metric(m, row[m]) for m in self.metrics]  # type: ignore[arg-type]
            body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        return (
            f"<table><caption style='caption-side: top'>{html.escape(self.method)} — per hole-ratio bin"
            f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def __str__(self) -> str:
        return self.to_markdown()


def _check_batch_size(batch_size: object) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def evaluate(
    method: Inpainter,
    images: torch.Tensor,
    masks: torch.Tensor,
    batch_size: int = 32,
    lpips: bool | None = None,
    lpips_net: str = "alex",
    allow_download: bool = False,
) -> EvalTable:
    """Run ``method`` on every (image, mask) pair and tabulate metrics per hole-ratio bin.

    ``method`` is any inpainter: a baseline object or an ``nn.Module`` (it is put in
    eval mode and run without gradients by :func:`survey_lib.inpaint.predict`, which
    also blanks the hole). Metrics: ``psnr``, ``ssim``, ``mae`` on the composite,
    ``hole_psnr``, ``hole_mae`` on hole pixels, and ``lpips`` on the composite
    (:func:`survey_lib.metrics.lpips_distance` with ``lpips_net``). ``lpips=None`` (the
    default) includes LPIPS whenever it can run here — weights installed (``make venv``
    installs them) and images at least ``LPIPS_MIN_SIZE[lpips_net]`` pixels a side — and
    leaves the column out otherwise; ``True`` demands it (raising
    :class:`~survey_lib.metrics.WeightsUnavailable` or ``InputError`` when it cannot);
    ``False`` skips it (faster, e.g. inside training loops).
    """
    if not callable(method):
        raise InputError(f"method must be callable as method(image, mask), got {type(method).__name__}")
    images, masks = check_pair(images, masks)
    batch_size = _check_batch_size(batch_size)
    if lpips_net not in LPIPS_NETS:
        raise InputError(f"lpips_net must be one of {', '.join(LPIPS_NETS)}, got {lpips_net!r}")
    if lpips is None:
        lpips = (min(images.shape[-2:]) >= LPIPS_MIN_SIZE[lpips_net]
                 and (allow_download or lpips_available(lpips_net)))
    elif not isinstance(lpips, bool):
        raise InputError(f"lpips must be None (when available), True or False, got {lpips!r}")
    per_image: dict[str, list[torch.Tensor]] = {m: [] for m in METRICS}
    if lpips:
        per_image["lpips"] = []
    for start in range(0, len(images), batch_size):
        img, m = images[start : start + batch_size], masks[start : start + batch_size]
        comp = composite(img, m, predict(method, img, m))
        per_image["psnr"].append(psnr(comp, img))
        per_image["ssim"].append(ssim(comp, img))
        per_image["mae"].append(mae(comp, img))
        per_image["hole_psnr"].append(psnr(comp, img, m))
        per_image["hole_mae"].append(mae(comp, img, m))
        if lpips:
            per_image["lpips"].append(lpips_distance(comp, img, net=lpips_net, allow_download=allow_download))
    values = {k: torch.cat(v).double().cpu().numpy() for k, v in per_image.items()}
    ratios = hole_ratio(masks).double().cpu().numpy()
    return EvalTable(method_name(method), values, ratios, bin_by_ratio(masks))


@dataclass
class CompareTable:
    """One metric for several methods: rows are hole-ratio bins, columns are methods."""

    metric: str
    methods: list[str]
    bins: list[str]
    values: dict[str, dict[str, float]]  # values[bin][method]
    counts: dict[str, str]  # n per bin ("16", or "16/12" when tables disagree)

    def value(self, bin: str, method: str) -> float:
        return self.values[bin][method]

    def best(self, bin: str) -> list[str]:
        """Method(s) with the best finite-or-inf value in ``bin`` (ties: all of them)."""
        vals = {m: v for m, v in self.values[bin].items() if not math.isnan(v)}
        if not vals:
            return []
        target = max(vals.values()) if is_higher_better(self.metric) else min(vals.values())
        return [m for m, v in vals.items() if v == target]

    def to_markdown(self) -> str:
        head = ["hole ratio", "n", *self.methods]
        lines = [f"**{metric_label(self.metric)}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for b in self.bins:
            best = self.best(b)
            cells = [b, self.counts[b]]
            for m in self.methods:
                text = format_metric(self.metric, self.values[b][m])
                cells.append(f"**{text}**" if m in best and len(self.methods) > 1 else text)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["hole ratio", "n", *self.methods])
        body = []
        for b in self.bins:
            best = self.best(b)
            style = ' style="border-top: 1px solid #888"' if b == ALL else ""
            cells = [f"<td>{html.escape(b)}</td>", f"<td>{html.escape(self.counts[b])}</td>"]
            for m in self.methods:
                text = html.escape(format_metric(self.metric, self.values[b][m]))
                cells.append(f"<td><b>{text}</b></td>" if m in best and len(self.methods) > 1 else f"<td>{text}</td>")
            body.append(f"<tr{style}>{''.join(cells)}</tr>")
        return (
            f"<table><caption style='caption-side: top'>{html.escape(metric_label(self.metric))} per "
            f"hole-ratio bin (best in bold)</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    def __str__(self) -> str:
        return self.to_markdown()


def compare_tables(tables: Mapping[str, EvalTable] | Sequence[EvalTable], metric: str = "hole_psnr") -> CompareTable:
    """Put one ``metric`` of several :class:`EvalTable` side by side, best per bin in bold.

    ``tables`` maps a column name to a table (a list uses each table's method name).
    Bins missing from a table show as "—".
    """
    if isinstance(tables, Sequence) and not isinstance(tables, (str, bytes)):
        tables = {t.method if isinstance(t, EvalTable) else str(i): t for i, t in enumerate(tables)}
    if not isinstance(tables, Mapping) or not tables:
        raise InputError("tables must be a non-empty dict {name: EvalTable}")
    for name, t in tables.items():
        if not isinstance(t, EvalTable):
            raise InputError(f"tables[{name!r}] must be an EvalTable (from evaluate), got {type(t).__name__}")
        if metric not in t.per_image:
            raise InputError(f"tables[{name!r}] has no metric {metric!r}; it has {t.metrics}")
    present = {b for t in tables.values() for b in t.bin_names}
    bins = [b for b in [*bin_labels(), ALL] if b in present]
    values: dict[str, dict[str, float]] = {}
    counts: dict[str, str] = {}
    for b in bins:
        values[b] = {}
        ns = []
        for name, t in tables.items():
            has = b in t.bin_names
            values[b][name] = t.value(b, metric) if has else float("nan")
            ns.append(t.count(b) if has else 0)
        counts[b] = str(ns[0]) if len(set(ns)) == 1 else "/".join(map(str, ns))
    return CompareTable(metric, list(tables), bins, values, counts)
