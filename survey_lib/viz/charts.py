"""Charts that are not images: metric-per-hole-ratio curves and the taxonomy map."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from survey_lib.data.checks import InputError
from survey_lib.viz._env import new_figure


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


def plot_taxonomy(width: float = 14.0) -> Figure:
    """The survey's taxonomy as three columns of boxes, each with the covering notebook.

    Columns: strategies (2.x), network structures (3), losses (4). A leaf covered by a
    course notebook is drawn in its branch colour and names the notebook; a leaf no
    chapter covers yet is grey and says "planned".
    """
    from survey_lib.taxonomy import TAXONOMY

    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise InputError(f"width must be a positive number of inches, got {width!r}")
    width = float(width)
    rows = max(len(branch.leaves) for branch in TAXONOMY)
    fig = new_figure(width, 0.75 * rows + 1.2, layout=None)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, len(TAXONOMY))
    ax.set_ylim(rows + 1.2, 0)
    ax.set_axis_off()
    for col, (branch, color) in enumerate(zip(TAXONOMY, BRANCH_COLORS)):
        ax.text(col + 0.5, 0.45, f"{branch.section}  {branch.title}", ha="center", va="center",
                fontsize=12, fontweight="bold")
        for row, leaf in enumerate(branch.leaves):
            y = row + 0.8
            planned = not leaf.notebooks
            box = FancyBboxPatch((col + 0.04, y + 0.05), 0.92, 0.8, boxstyle="round,pad=0.01",
                                 facecolor=PLANNED_COLOR if planned else color,
                                 edgecolor="#999999" if planned else "#444444", linewidth=0.8)
            ax.add_patch(box)
            ax.text(col + 0.07, y + 0.3, f"{leaf.section} {leaf.name}", fontsize=9,
                    fontweight="bold", va="center")
            paper = leaf.papers[0] if leaf.papers else ""
            ax.text(col + 0.07, y + 0.6, paper, fontsize=7.5, va="center", color="#333333")
            ax.text(col + 0.94, y + 0.3, ", ".join(leaf.notebooks) or leaf.chapter, fontsize=8, va="center", ha="right",
                    style="italic" if planned else "normal", color="#777777" if planned else "#0b3d91")
    return fig
