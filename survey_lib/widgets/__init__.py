"""Interactive pieces of the course, all scriptable without a browser.

* :class:`MaskPainter` — paint a hole on an image (strokes kept as data, exact mask);
* :class:`MaskExplorer` — the mask generators' families, parameters and seeds;
* :class:`InpaintPicker` — fill the painted hole with any method, compare scores.

Each object works in plain Python (tests, scripts); its ``.widget`` (ipywidgets +
ipycanvas) is built only on request, and building it needs no browser either.
"""

from __future__ import annotations

from survey_lib.widgets.explorer import MaskExplorer, family_parameters
from survey_lib.widgets.painter import MaskPainter, example_stroke
from survey_lib.widgets.picker import InpaintPicker, PickerResult, default_methods
from survey_lib.widgets.strokes import Stroke, make_stroke, rasterize

__all__ = [
    "InpaintPicker",
    "MaskExplorer",
    "MaskPainter",
    "PickerResult",
    "Stroke",
    "default_methods",
    "example_stroke",
    "family_parameters",
    "make_stroke",
    "rasterize",
]
