"""Paint a hole, fill it with any method, compare composites and metrics.

``InpaintPicker`` joins a :class:`~survey_lib.widgets.painter.MaskPainter` to a set of
methods (default: the classical baselines). ``run(name)`` inpaints the painted hole
with ``survey_lib.inpaint.inpaint`` (validated, hole blanked, known pixels kept exactly)
and scores the composite against the original with PSNR and SSIM; results are cached
until the mask changes. The widget adds a method menu, a button and a results table.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from survey_lib.data.checks import InputError
from survey_lib.widgets._common import display_scale, png_bytes, single_image
from survey_lib.widgets.painter import MaskPainter


@dataclass(frozen=True)
class PickerResult:
    """One method's fill of the current mask: the composite and its scores."""

    method: str
    composite: torch.Tensor  # (1, C, H, W)
    psnr: float  # whole image vs the original (inf when the fill is perfect)
    hole_psnr: float  # hole pixels only
    ssim: float


def default_methods() -> dict[str, object]:
    """One instance of each classical baseline, by name."""
    from survey_lib.baselines import BASELINES

    return {name: cls() for name, cls in BASELINES.items()}


class InpaintPicker:
    """Fill the hole painted on ``image`` with the methods in ``methods``.

    ``methods``: ``{name: method}`` (any ``method(image, mask) -> prediction``);
    default: the classical baselines. ``painter``: a :class:`MaskPainter` on the same
    image (default: a new one, which starts with an example stroke).
    """

    def __init__(
        self,
        image: torch.Tensor,
        methods: Mapping[str, object] | None = None,
        painter: MaskPainter | None = None,
    ) -> None:
        self.image = single_image(image)
        self.methods = dict(default_methods() if methods is None else methods)
        if not self.methods:
            raise InputError("methods is empty; give at least one {name: method}")
        for name, method in self.methods.items():
            if not callable(method):
                raise InputError(f"methods[{name!r}] is a {type(method).__name__}, not a callable method")
        if painter is None:
            painter = MaskPainter(self.image)
        elif not isinstance(painter, MaskPainter):
            raise InputError(f"painter must be a MaskPainter, got {type(painter).__name__}")
        elif painter.image.shape != self.image.shape or not torch.equal(painter.image, self.image):
            raise InputError("painter paints on a different image; build it on the picker's image")
        self.painter = painter
        self.results: dict[str, PickerResult] = {}
        self._widget = None
        painter.on_change(self._mask_changed)

    @property
    def mask(self) -> torch.Tensor:
        return self.painter.mask

    def run(self, method_name: str) -> torch.Tensor:
        """Inpaint the painted hole with ``method_name``; return the composite (1, C, H, W)."""
        from survey_lib.inpaint import inpaint
        from survey_lib.metrics import psnr, ssim

        if method_name not in self.methods:
            raise InputError(f"unknown method {method_name!r}; choose one of {', '.join(self.methods)}")
        if method_name not in self.results:
            mask = self.mask
            out = inpaint(self.methods[method_name], self.image, mask)
            self.results[method_name] = PickerResult(
                method=method_name,
                composite=out,
                psnr=float(psnr(out, self.image)[0]),
                hole_psnr=float(psnr(out, self.image, mask=mask)[0]),
                ssim=float(ssim(out, self.image)[0]),
            )
        return self.results[method_name].composite

    def run_all(self) -> dict[str, torch.Tensor]:
        """Run every method; ``{name: composite}``."""
        return {name: self.run(name) for name in self.methods}

    def table(self) -> list[dict[str, object]]:
        """The scores of the methods run so far, one row each."""
        return [
            {"method": r.method, "PSNR": r.psnr, "hole PSNR": r.hole_psnr, "SSIM": r.ssim}
            for r in self.results.values()
        ]

    def table_html(self) -> str:
        from survey_lib.metrics import format_metric

        rows = "".join(
            f"<tr><td>{html.escape(r.method)}</td><td>{format_metric('psnr', r.psnr)}</td>"
            f"<td>{format_metric('hole_psnr', r.hole_psnr)}</td><td>{format_metric('ssim', r.ssim)}</td></tr>"
            for r in self.results.values()
        )
        hole = f"hole: {100 * self.painter.hole_ratio:.1f} % of the image"
        return (
            f"<table><caption style='caption-side: top'>{hole}; metrics vs the original</caption>"
            "<thead><tr><th>method</th><th>PSNR ↑</th><th>hole PSNR ↑</th><th>SSIM ↑</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def figure(self):  # -> matplotlib Figure of the composites run so far
        from survey_lib.viz import show_inpainting

        preds = {name: r.composite for name, r in self.results.items()}
        return show_inpainting(self.image, self.mask, preds, n=1, size=2.5)

    def _repr_html_(self) -> str:
        return self.table_html()

    def _mask_changed(self, _painter: MaskPainter) -> None:
        self.results.clear()
        if self._widget is not None:
            self._show()

    # ----------------------------------------------------------------- the widget
    @property
    def widget(self):  # -> ipywidgets.VBox
        """The painter, a method menu with an 'inpaint' button, composites and a score table."""
        if self._widget is None:
            import ipywidgets as widgets

            self._choice = widgets.SelectMultiple(options=list(self.methods), value=list(self.methods)[:1],
                                                  description="methods", rows=min(6, len(self.methods)))
            button = widgets.Button(description="inpaint", icon="magic", button_style="primary")
            button.on_click(lambda _: self._run_selected())
            self._images = widgets.HBox()
            self._table = widgets.HTML()
            self._widget = widgets.VBox([
                self.painter.widget, widgets.HBox([self._choice, button]), self._images, self._table,
            ])
            self._show()
        return self._widget

    def _run_selected(self) -> None:
        try:
            for name in self._choice.value:
                self.run(name)
        except InputError as err:  # e.g. the mask was cleared: say so in the widget
            self._table.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return
        self._show()

    def _show(self) -> None:
        import ipywidgets as widgets

        scale = display_scale(*self.image.shape[-2:], target=160)
        boxes = []
        for name, r in self.results.items():
            picture = widgets.Image(value=png_bytes(r.composite, scale), format="png")
            boxes.append(widgets.VBox([widgets.HTML(f"<b>{html.escape(name)}</b>"), picture]))
        self._images.children = boxes
        self._table.value = self.table_html() if self.results else "press <b>inpaint</b> to fill the hole"
