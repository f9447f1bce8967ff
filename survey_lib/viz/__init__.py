"""Figures for the course: image grids, mask overlays, comparisons, curves, live plots.

Everything takes tensors in the library's convention (images float32 (B, C, H, W) in
[0, 1], C = 1 or 3; masks float32 (B, 1, H, W), 1 = hole), validates them (bad input
raises :class:`survey_lib.data.checks.InputError`) and returns a matplotlib ``Figure``
that is drawn with Agg: a notebook shows it as the cell's value, a script can save it
with ``fig.savefig(...)``. Nothing here opens a window.

Modules: ``images`` (grids, overlays, inpainting comparisons, error maps), ``charts``
(per-bin curves, curves that stay visible when equal, taxonomy map), ``code`` (``show_code``), ``live`` (``LivePlot``).
"""

from __future__ import annotations

from survey_lib.viz._env import figure_to_png, new_figure
from survey_lib.viz.charts import plot_bins, plot_curves, plot_taxonomy
from survey_lib.viz.code import show_code
from survey_lib.viz.images import (
    compare_methods,
    error_map,
    image_axes,
    overlay_mask,
    show_images,
    show_inpainting,
    show_maps,
)
from survey_lib.viz.live import LivePlot

__all__ = [
    "LivePlot",
    "compare_methods",
    "error_map",
    "figure_to_png",
    "image_axes",
    "new_figure",
    "overlay_mask",
    "plot_bins",
    "plot_curves",
    "plot_taxonomy",
    "show_code",
    "show_images",
    "show_inpainting",
    "show_maps",
]
