"""Charts that are not images: metric-per-hole-ratio curves and the taxonomy map."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from survey_lib.data.checks import InputError
from survey_lib.viz._env import agg_renderer, new_figure


def _bin_labels() -> list[str]:
    from survey_lib.data.masks import RATIO_BINS, bin_label

    labels = []
    for lo, hi in RATIO_BINS:
        label = bin_label((lo + hi) / 2)
        if label is None:  # the data module's own labels must cover its own bins
            raise RuntimeError(f"bin_label gave no label inside RATIO_BINS bin ({lo}, {hi})")
        labels.append(label)
    return labels


def _table_value(table: object, bin_name: str, metric: str) -> float:
    """``table.value(bin, metric)`` as a float; NaN where the table has no such bin."""
    try:
        value = float(table.value(bin_name, metric))
    except (KeyError, IndexError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def plot_bins(
    tables: Mapping[str, object],
    metric: str = "hole_psnr",
    bins: Sequence[str] | None = None,
    size: float = 4.0,
) -> Figure:
    """One line per method: ``metric`` per hole-ratio bin (x = bin, NVIDIA protocol).

    ``tables`` maps a method name to its ``EvalTable`` (from ``metrics.evaluate``);
    ``bins`` defaults to the labels of ``survey_lib.data.masks.RATIO_BINS``. A bin a
    table has no images in is left as a gap, and so is an infinite value (a perfect
    PSNR): a curve never invents numbers.
    """
    if not isinstance(tables, Mapping) or not tables:
        raise InputError(
            "tables must be a non-empty dict {method name: EvalTable}, got "
            f"{type(tables).__name__ if not isinstance(tables, Mapping) else 'an empty dict'}"
        )
    if not isinstance(metric, str) or not metric:
        raise InputError(f"metric must be a metric name such as 'hole_psnr', got {metric!r}")
    for name, table in tables.items():
        if not callable(getattr(table, "value", None)):
            raise InputError(f"tables[{name!r}] is a {type(table).__name__}, not an EvalTable (no .value)")
        try:  # every EvalTable has the "all" row: a KeyError here means an unknown metric
            table.value("all", metric)
        except KeyError as err:
            raise InputError(f"tables[{name!r}] has no metric {metric!r}: {err}") from None
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not size > 0:
        raise InputError(f"size must be a positive number of inches, got {size!r}")
    labels = list(bins) if bins is not None else _bin_labels()
    fig = new_figure(1.6 * size, size)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(labels)))
    for name, table in tables.items():
        ys = [_table_value(table, label, metric) for label in labels]
        ax.plot(xs, ys, marker="o", label=str(name))
    ax.set_xticks(xs, labels)
    ax.set_xlabel("hole ratio")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per hole-ratio bin")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


BRANCH_COLORS = ("#dbe9f6", "#e3f1df", "#fbe7d3")
PLANNED_COLOR = "#eeeeee"


TAXONOMY_FONT_PT = 9.0  # 12.5 px at 100 dpi: readable when the figure is shown unscaled


def _wrap(text: str, width_in: float, fontsize: float, weight: str, renderer: object) -> list[str]:
    """Greedy word wrap of ``text`` to ``width_in`` inches, measured with the renderer."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=fontsize, weight=weight)
    limit = width_in * renderer.points_to_pixels(72.0)

    def fits(line: str) -> bool:
        return renderer.get_text_width_height_descent(line, prop, ismath=False)[0] <= limit

    lines: list[str] = []
    for word in text.split():
        if lines and fits(lines[-1] + " " + word):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def plot_taxonomy(width: float = 9.4) -> Figure:
    """The survey's taxonomy as three columns of boxes, each with the covering notebook.

    Columns: strategies (2.x), network structures (3), losses (4). A leaf covered by a
    course notebook is drawn in its branch colour and names the notebook; a leaf no
    chapter covers yet is grey and says "planned".

    ``width`` (inches) defaults to a figure that JupyterLab shows unscaled at a 1400 px
    window, so every text is at least ``TAXONOMY_FONT_PT`` (12.5 px); long names wrap
    inside their box, and boxes grow to hold them.
    """
    from survey_lib.taxonomy import TAXONOMY

    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise InputError(f"width must be a positive number of inches, got {width!r}")
    width = float(width)
    fs = TAXONOMY_FONT_PT
    line_h = 1.3 * fs / 72.0  # inches
    col_w = width / len(TAXONOMY)
    pad = 0.06
    text_w = col_w - 2 * (0.04 * col_w + pad)
    renderer = agg_renderer(new_figure(width, 2.0, layout=None))
    # every leaf's lines: (text, weight, style, colour)
    cells: list[list[list[tuple[str, str, str, str]]]] = []
    for branch in TAXONOMY:
        col = []
        for leaf in branch.leaves:
            planned = not leaf.notebooks
            lines = [(t, "bold", "normal", "black")
                     for t in _wrap(f"{leaf.section} {leaf.name}", text_w, fs, "bold", renderer)]
            paper = leaf.papers[0] if leaf.papers else ""
            lines += [(t, "normal", "normal", "#333333") for t in _wrap(paper, text_w, fs, "normal", renderer)]
            where = ", ".join(leaf.notebooks) or leaf.chapter
            lines += [(t, "normal", "italic" if planned else "normal", "#666666" if planned else "#0b3d91")
                      for t in _wrap(where, text_w, fs, "normal", renderer)]
            col.append(lines)
        cells.append(col)
    n_rows = max(len(col) for col in cells)
    row_h = [max((len(col[r]) for col in cells if r < len(col)), default=1) * line_h + 2 * pad + 0.06
             for r in range(n_rows)]
    head_h = 0.45
    height = head_h + sum(row_h) + 0.1
    fig = new_figure(width, height, layout=None)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    for c, (branch, color) in enumerate(zip(TAXONOMY, BRANCH_COLORS)):
        x0 = c * col_w
        ax.text(x0 + col_w / 2, head_h / 2, f"{branch.section}  {branch.title}", ha="center", va="center",
                fontsize=fs + 2, fontweight="bold")
        y = head_h
        for r, (leaf, lines) in enumerate(zip(branch.leaves, cells[c])):
            planned = not leaf.notebooks
            box = FancyBboxPatch((x0 + 0.04 * col_w, y + 0.03), col_w * 0.92, row_h[r] - 0.06,
                                 boxstyle="round,pad=0.01", facecolor=PLANNED_COLOR if planned else color,
                                 edgecolor="#999999" if planned else "#444444", linewidth=0.8)
            ax.add_patch(box)
            for i, (text, weight, style, tcolor) in enumerate(lines):
                ax.text(x0 + 0.04 * col_w + pad, y + 0.03 + pad + (i + 0.5) * line_h, text, fontsize=fs,
                        fontweight=weight, style=style, color=tcolor, va="center", ha="left")
            y += row_h[r]
    return fig


def plot_curves(
    x: Sequence[float] | object,
    curves: Mapping[str, Sequence[float] | object],
    xlabel: str = "",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    title: str = "",
    ax: object | None = None,
    size: float = 4.0,
) -> Figure:
    """One line per entry of ``curves`` ({label: y values}) against ``x``.

    A curve equal to an earlier one (to 1e-6) would hide exactly under it; it is drawn
    dashed on top and labelled ``"name (= earlier)"``, so the reader sees both. ``ax``:
    draw into an existing axes (its figure is returned); otherwise a new figure of
    ``size`` inches high is made.
    """
    import numpy as np

    xs = np.asarray(_as_numbers(x, "x"), dtype=float).ravel()
    if not isinstance(curves, Mapping) or not curves:
        raise InputError(f"curves must be a non-empty dict {{label: y values}}, got {type(curves).__name__}")
    ys = {}
    for name, values in curves.items():
        arr = np.asarray(_as_numbers(values, f"curves[{name!r}]"), dtype=float).ravel()
        if arr.shape != xs.shape:
            raise InputError(f"curves[{name!r}] has {arr.size} values but x has {xs.size}")
        ys[str(name)] = arr
    if ax is None:
        fig = new_figure(1.6 * size, size)
        ax = fig.add_subplot(1, 1, 1)
    else:
        fig = ax.figure
    drawn: dict[str, tuple[np.ndarray, object]] = {}
    for name, arr in ys.items():
        twin = next((other for other, (prev, _) in drawn.items()
                     if np.allclose(arr, prev, rtol=0.0, atol=1e-6, equal_nan=True)), None)
        if twin is None:
            (line,) = ax.plot(xs, arr, label=name, linewidth=1.6)
        else:  # same values: dashed, thicker, on top, named after its twin
            (line,) = ax.plot(xs, arr, label=f"{name} (= {twin})", linestyle=(0, (4, 3)), linewidth=2.4,
                              zorder=3)
        drawn[name] = (arr, line)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def _as_numbers(values: object, name: str) -> list[float]:
    """A 1-D sequence / array / tensor of numbers as a list of floats (clear error otherwise)."""
    import numpy as np

    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a list/array of numbers, got {type(values).__name__}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D list of numbers, got shape {arr.shape}")
    return arr.tolist()
