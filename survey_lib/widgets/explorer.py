"""Explore the mask generators: family, parameters and seed -> a batch of masks.

The parameters shown are read from each generator's signature (the keyword arguments
after ``rng, height, width``, with the values the family fixes as defaults), so a new
family in :mod:`survey_lib.data.masks` appears here with its sliders and no change to
this file. Everything is scriptable: ``explorer.set(family="boxes", seed=3)`` then
``explorer.masks``; ``.widget`` adds the controls and the picture.
"""

from __future__ import annotations

import functools
import html
import inspect
from typing import Any

import torch

from survey_lib.data.checks import InputError

FIXED = ("rng", "height", "width")


def family_parameters(family: str) -> dict[str, int | float | bool]:
    """The tunable numeric/boolean parameters of mask family ``family`` with defaults."""
    from survey_lib.data.masks import resolve_mask

    fn = resolve_mask(family)
    bound: dict[str, Any] = {}
    while isinstance(fn, functools.partial):
        bound = {**fn.keywords, **bound}
        fn = fn.func
    params: dict[str, int | float | bool] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in FIXED:
            continue
        value = bound.get(name, p.default)
        if isinstance(value, (bool, int, float)) and value is not inspect.Parameter.empty:
            params[name] = value
    return params


class MaskExplorer:
    """A batch of ``n`` masks of ``family`` (size ``size``², seed ``seed``), with controls.

    ``.masks`` (n, 1, size, size) float32, 1 = hole; ``.ratios`` their hole ratios;
    ``.params`` the current generator parameters; ``.set(...)`` changes any of them.
    """

    def __init__(self, family: str = "brush", n: int = 8, size: int | None = None, seed: int = 0) -> None:
        from survey_lib.config import get_preset

        self.size = get_preset().image_size if size is None else size
        self.n = n
        self.seed = seed
        self.family = ""
        self.params: dict[str, int | float | bool] = {}
        self._widget = None
        self._masks: torch.Tensor | None = None
        self.set(family=family, n=n, size=self.size, seed=seed)

    @staticmethod
    def families() -> list[str]:
        from survey_lib.data.masks import mask_names

        return mask_names()

    def set(
        self,
        family: str | None = None,
        seed: int | None = None,
        n: int | None = None,
        size: int | None = None,
        **params: int | float | bool,
    ) -> torch.Tensor:
        """Change the family / seed / count / size / generator parameters; return the masks.

        Changing the family resets the parameters to that family's defaults.
        """
        new_family, new_params = self.family, dict(self.params)
        if family is not None:
            if family not in self.families():
                raise InputError(f"unknown mask family {family!r}; choose one of {', '.join(self.families())}")
            if family != self.family:
                new_family, new_params = family, family_parameters(family)
        for value, label in ((seed, "seed"), (n, "n"), (size, "size")):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InputError(f"{label} must be an int, got {value!r}")
        if seed is not None and seed < 0:
            raise InputError(f"seed must be >= 0, got {seed}")
        if n is not None and n < 1:
            raise InputError(f"n must be at least 1, got {n}")
        if size is not None and size < 2:
            raise InputError(f"size must be at least 2 pixels, got {size}")
        unknown = set(params) - set(new_params)
        if unknown:
            raise InputError(
                f"mask family {new_family!r} has no parameter(s) {sorted(unknown)}; it has {sorted(new_params)}"
            )
        for key, value in params.items():
            kind = type(new_params[key])
            ok = isinstance(value, bool) if kind is bool else (
                isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or float(value).is_integer()))
            if not ok:
                raise InputError(f"parameter {key!r} of {new_family!r} must be a {kind.__name__}, got {value!r}")
            new_params[key] = kind(value)
        # Apply, then draw: a combination the generator refuses (e.g. lo >= hi) leaves the
        # explorer as it was, so a script or a widget can go on after the error.
        old = (self.family, self.params, self.seed, self.n, self.size, self._masks)
        self.family, self.params = new_family, new_params
        self.seed = self.seed if seed is None else seed
        self.n = self.n if n is None else n
        self.size = self.size if size is None else size
        self._masks = None
        try:
            masks = self.masks
        except InputError:
            self.family, self.params, self.seed, self.n, self.size, self._masks = old
            raise
        if self._widget is not None:
            self._refresh()
        return masks

    def generator(self):  # -> a fn(rng, height, width) with the current parameters
        from survey_lib.data.masks import resolve_mask

        return functools.partial(resolve_mask(self.family), **self.params)

    @property
    def masks(self) -> torch.Tensor:
        if self._masks is None:
            from survey_lib.data.masks import generate_masks

            self._masks = generate_masks(self.generator(), self.n, self.size, self.size, seed=self.seed)
        return self._masks

    @property
    def ratios(self) -> torch.Tensor:
        from survey_lib.data.masks import hole_ratio

        return hole_ratio(self.masks)

    def figure(self):  # -> matplotlib Figure
        from survey_lib.viz import show_images

        titles = [f"{100 * float(r):.1f} % hole" for r in self.ratios]
        return show_images(self.masks, titles=titles, ncols=min(self.n, 8), size=1.5)

    # ----------------------------------------------------------------- the widget
    @property
    def widget(self):  # -> ipywidgets.VBox
        """Family dropdown, one control per parameter, seed and count sliders, the masks."""
        if self._widget is None:
            import ipywidgets as widgets

            self._syncing = False
            self._family = widgets.Dropdown(options=self.families(), value=self.family, description="family")
            self._seed = widgets.IntSlider(value=self.seed, min=0, max=999, description="seed")
            self._count = widgets.IntSlider(value=self.n, min=1, max=32, description="masks")
            self._params_box = widgets.VBox()
            self._picture = widgets.Image(format="png")
            self._status = widgets.HTML()
            self._family.observe(lambda c: self._safe(family=c["new"]), names="value")
            self._seed.observe(lambda c: self._safe(seed=c["new"]), names="value")
            self._count.observe(lambda c: self._safe(n=c["new"]), names="value")
            controls = widgets.HBox([widgets.VBox([self._family, self._seed, self._count]), self._params_box])
            self._widget = widgets.VBox([controls, self._picture, self._status])
            self._refresh()
        return self._widget

    def _safe(self, **changes: Any) -> None:
        """Apply a change from a control; show a bad combination as a message, not a traceback.

        A refused combination puts the controls back to the explorer's state, so they
        never show values the picture does not have.
        """
        if self._syncing:  # the change came from _sync_controls, not from the reader
            return
        try:
            self.set(**changes)
        except InputError as err:
            self._sync_controls()
            self._status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"

    def _param_control(self, name: str, value: int | float | bool):
        import ipywidgets as widgets

        if isinstance(value, bool):
            control = widgets.Checkbox(value=value, description=name)
        elif isinstance(value, int):
            control = widgets.IntSlider(value=value, min=1, max=max(10, 3 * value), description=name)
        elif 0.0 <= value <= 1.0:
            control = widgets.FloatSlider(value=value, min=0.0, max=1.0, step=0.01, description=name)
        else:
            control = widgets.FloatSlider(value=value, min=0.0, max=3 * value, description=name)
        control.observe(lambda c: self._safe(**{name: c["new"]}), names="value")
        return control

    @staticmethod
    def _show_value(control: Any, value: int | float | bool) -> None:
        """Set a control to ``value``, widening a slider's range first if it lies outside."""
        if hasattr(control, "max") and value > control.max:
            control.max = value
        if hasattr(control, "min") and value < control.min:
            control.min = value
        control.value = value

    def _sync_controls(self) -> None:
        """Make every control show the explorer's state (after ``set`` from a script, too).

        Regression (issue 8, finding 13): ``set(...)`` changed the picture but not the
        dropdown and sliders, so the controls lied and choosing the shown family again
        did nothing (the dropdown's value did not change, so no event fired).
        """
        self._syncing = True
        try:
            if [c.description for c in self._params_box.children] != list(self.params):
                self._params_box.children = [self._param_control(k, v) for k, v in self.params.items()]
            self._family.value = self.family
            self._show_value(self._seed, self.seed)
            self._show_value(self._count, self.n)
            for control in self._params_box.children:
                self._show_value(control, self.params[control.description])
        finally:
            self._syncing = False

    def _refresh(self) -> None:
        from survey_lib.viz._env import figure_to_png

        self._sync_controls()
        self._picture.value = figure_to_png(self.figure(), dpi=72)
        r = self.ratios
        self._status.value = (
            f"{self.family}: hole ratio mean {100 * float(r.mean()):.1f} % "
            f"(min {100 * float(r.min()):.1f} %, max {100 * float(r.max()):.1f} %)"
        )
