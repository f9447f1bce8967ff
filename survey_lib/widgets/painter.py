"""A mask painter on an image: brush strokes recorded in Python, exact, scriptable.

Strokes are stored as data (points + radius, see :mod:`survey_lib.widgets.strokes`)
and rasterised by a distance rule, so the mask a person paints with the mouse is the
same one a script gets from ``painter.add_stroke([(x0, y0), (x1, y1)], radius)``.
The ipycanvas widget is built only when ``.widget`` is asked for: the painter works
in tests and scripts without a browser, and a notebook cell that builds it runs
headless too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from survey_lib.data.checks import InputError
from survey_lib.widgets._common import display_scale, single_image, to_uint8_rgb
from survey_lib.widgets.strokes import Point, Stroke, make_stroke, rasterize


def example_stroke(height: int, width: int, radius: float) -> Stroke:
    """A gentle zig-zag across the middle: the default stroke, so a headless run has a hole."""
    pts = [(0.25 * width, 0.40 * height), (0.45 * width, 0.60 * height), (0.70 * width, 0.45 * height)]
    return Stroke(tuple(pts), float(radius))


class MaskPainter:
    """Paint a hole on ``image`` with a round brush; ``.mask`` is (1, 1, H, W), 1 = hole.

    ``brush``: stroke *width* in image pixels (the radius is half of it).
    ``initial_strokes``: None = one example stroke; ``[]`` = start empty; or a list of
    :class:`Stroke` / ``(points, radius)`` pairs. ``scale``: screen pixels per image
    pixel in the widget (default: about 256 px on screen).
    """

    def __init__(
        self,
        image: torch.Tensor,
        brush: float = 8,
        initial_strokes: Sequence[Stroke | tuple[Sequence[Point], float]] | None = None,
        scale: int | None = None,
    ) -> None:
        self.image = single_image(image)
        self.height, self.width = self.image.shape[-2:]
        self.brush = self._check_brush(brush)
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
            raise InputError(f"scale must be a positive int (screen pixels per image pixel), got {scale!r}")
        self.scale = display_scale(self.height, self.width) if scale is None else scale
        self._strokes: list[Stroke] = []
        self._listeners: list[Callable[[MaskPainter], None]] = []
        self._cache: tuple[int, np.ndarray] | None = None
        self._version = 0
        self._widget = None
        self._drag: list[Point] | None = None
        if initial_strokes is None:
            initial_strokes = [example_stroke(self.height, self.width, self.brush / 2)]
        if isinstance(initial_strokes, (str, bytes)) or not isinstance(initial_strokes, Sequence):
            raise InputError(f"initial_strokes must be a list of strokes, got {type(initial_strokes).__name__}")
        for i, item in enumerate(initial_strokes):
            if isinstance(item, Stroke):
                s = item
            elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) == 2:
                s = make_stroke(*item)
            else:
                raise InputError(
                    f"initial_strokes[{i}] must be a Stroke or a (points, radius) pair, got {item!r:.80}")
            self._strokes.append(make_stroke(s.points, s.radius))
        self._changed(redraw=False)

    # ----------------------------------------------------------------- the model
    @staticmethod
    def _check_brush(brush: object) -> float:
        if isinstance(brush, bool) or not isinstance(brush, (int, float)) or not brush > 0:
            raise InputError(f"brush must be a positive stroke width in pixels, got {brush!r}")
        return float(brush)

    @property
    def strokes(self) -> list[Stroke]:
        """The strokes painted so far, oldest first (a copy)."""
        return list(self._strokes)

    def add_stroke(self, points: Sequence[Point], radius: float | None = None) -> Stroke:
        """Paint a polyline through ``points`` [(x, y), ...] (x = column, y = row).

        ``radius`` defaults to half the current brush width.
        """
        stroke = make_stroke(points, self.brush / 2 if radius is None else radius)
        self._strokes.append(stroke)
        self._changed()
        return stroke

    def undo(self) -> bool:
        """Remove the last stroke; False when there was none."""
        if not self._strokes:
            return False
        self._strokes.pop()
        self._changed()
        return True

    def clear(self) -> None:
        """Remove every stroke (the mask becomes empty)."""
        self._strokes.clear()
        self._changed()

    def mask_array(self) -> np.ndarray:
        """The painted hole as an (H, W) bool array (cached until the strokes change)."""
        if self._cache is None or self._cache[0] != self._version:
            self._cache = (self._version, rasterize(self._strokes, self.height, self.width))
        return self._cache[1]

    @property
    def mask(self) -> torch.Tensor:
        """float32 (1, 1, H, W), 1 = hole (the library's mask convention)."""
        return torch.from_numpy(self.mask_array().astype(np.float32))[None, None]

    @property
    def hole_ratio(self) -> float:
        return float(self.mask_array().mean())

    def on_change(self, callback: Callable[[MaskPainter], None]) -> None:
        """Call ``callback(painter)`` after every change of the strokes."""
        self._listeners.append(callback)

    def _changed(self, redraw: bool = True) -> None:
        self._version += 1
        if redraw and self._widget is not None:
            self._redraw()
        if redraw:
            for callback in list(self._listeners):
                callback(self)

    # ----------------------------------------------------------------- the widget
    @property
    def widget(self):  # -> ipywidgets.VBox (untyped: ipywidgets is imported lazily)
        """Canvas (drag to paint) + brush slider + undo/clear buttons + hole ratio."""
        if self._widget is None:
            self._widget = self._build()
            self._redraw()
        return self._widget

    def _build(self):
        import ipywidgets as widgets
        from ipycanvas import Canvas

        canvas = Canvas(width=self.width * self.scale, height=self.height * self.scale)
        canvas.layout.border = "1px solid #888"
        self._canvas = canvas
        self._fit_canvas()
        canvas.on_mouse_down(self._on_mouse_down)
        canvas.on_mouse_move(self._on_mouse_move)
        canvas.on_mouse_up(self._on_mouse_up)
        canvas.on_mouse_out(self._on_mouse_up)
        top = max(2, min(self.height, self.width) // 2)
        slider = widgets.IntSlider(value=int(min(max(round(self.brush), 1), top)), min=1, max=top,
                                   description="brush (px)")
        slider.observe(lambda change: setattr(self, "brush", float(change["new"])), names="value")
        undo = widgets.Button(description="undo", icon="undo")
        clear = widgets.Button(description="clear", icon="trash")
        undo.on_click(lambda _: self.undo())
        clear.on_click(lambda _: self.clear())
        zooms = sorted({1, 2, 3, 4, 6, 8, self.scale})
        zoom = widgets.Dropdown(options=[(f"{z}x", z) for z in zooms], value=self.scale, description="zoom",
                                layout=widgets.Layout(width="140px"), style={"description_width": "40px"})
        zoom.observe(lambda change: self.set_zoom(change["new"]), names="value")
        self._slider, self._zoom = slider, zoom
        self._status = widgets.HTML()
        return widgets.VBox([canvas, widgets.HBox([slider, zoom, undo, clear]), self._status])

    def set_zoom(self, scale: int) -> None:
        """Show each image pixel as ``scale`` x ``scale`` screen pixels (the canvas is resized)."""
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise InputError(f"scale must be a positive int (screen pixels per image pixel), got {scale!r}")
        if self._widget is None or scale == self.scale:
            self.scale = scale
            return
        self.scale = scale
        self._canvas.width, self._canvas.height = self.width * scale, self.height * scale
        self._fit_canvas()
        if self._zoom.value != scale:  # a script chose the zoom: the dropdown shows it
            values = sorted({v for _, v in self._zoom.options} | {scale})
            self._zoom.options = [(f"{z}x", z) for z in values]
            self._zoom.value = scale
        self._redraw()

    def _fit_canvas(self) -> None:
        """Give the canvas its pixel size on screen.

        Why: ipycanvas stretches a canvas to the output width by default (968 px in
        JupyterLab at a 1400 px window), which blurs the image and pushes the controls
        and the picker's button below the fold. Fixed CSS size = drawing size: sharp
        pixels, and mouse coordinates map 1:1 to canvas pixels.
        """
        self._canvas.layout.width = f"{self._canvas.width}px"
        self._canvas.layout.height = f"{self._canvas.height}px"
        self._canvas.layout.min_width = f"{self._canvas.width}px"

    def _redraw(self) -> None:
        from survey_lib.viz import overlay_mask

        shown = overlay_mask(self.image, self.mask, alpha=0.5)
        self._canvas.put_image_data(to_uint8_rgb(shown, self.scale), 0, 0)
        self._status.value = (
            f"hole: {100 * self.hole_ratio:.1f} % of the image, {len(self._strokes)} stroke(s)"
        )

    def _to_image(self, x: float, y: float) -> Point:
        """Canvas coordinates -> image pixel-centre coordinates."""
        return (x / self.scale - 0.5, y / self.scale - 0.5)

    def _on_mouse_down(self, x: float, y: float) -> None:
        self._drag = [self._to_image(x, y)]
        self._paint_feedback(x, y)

    def _on_mouse_move(self, x: float, y: float) -> None:
        if self._drag is not None:
            self._drag.append(self._to_image(x, y))
            self._paint_feedback(x, y)

    def _on_mouse_up(self, x: float, y: float) -> None:
        if self._drag is None:
            return
        points, self._drag = self._drag, None
        self.add_stroke(points)

    def _paint_feedback(self, x: float, y: float) -> None:
        """Draw the brush under the mouse at once; the exact mask is drawn on mouse-up."""
        if self._widget is None:
            return
        self._canvas.fill_style = "rgba(255, 0, 0, 0.5)"
        self._canvas.fill_circle(x, y, self.brush / 2 * self.scale)
