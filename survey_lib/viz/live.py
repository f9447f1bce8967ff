"""A live training plot that redraws in place in a notebook and is silent elsewhere.

Why this design: a training loop calls :meth:`LivePlot.update` every step, so an update
must be cheap. Values are only appended to the history; a figure is drawn (Agg, to
PNG) at most every ``every_s`` seconds, and once more on :meth:`close` if the last
values are not drawn yet, so the final state is always on screen. No GUI backend,
no ``plt.show()``: it works the same in JupyterLab and in a headless nbconvert/nbval
run (both are kernels), and in a plain script it only records the history (or prints
a line per refresh when ``stdout=True``).

Where the picture goes: in a kernel, into one ``ipywidgets.Image`` that is displayed
once and whose ``value`` is set at every refresh. Why not an IPython display handle
(``display(..., display_id=True)`` then ``handle.update``): inside an
``ipywidgets.Output`` (the loss lab's train button writes into one) JupyterLab's
widget manager drops ``update_display_data`` messages, so the plot stayed at its first
step for the whole run; a widget's value is a comm message and arrives in both places.
An injected ``display`` function (tests, other front ends) still gets display handles.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from survey_lib.data.checks import InputError
from survey_lib.viz import _env
from survey_lib.viz._arrays import image_batch, tile

DisplayFn = Callable[..., Any]


class LivePlot:
    """Loss curves (one line per loss name) plus a preview grid, refreshed in place.

    ``every_s``: seconds between refreshes (default: the preset's ``plot_every_s``;
    0 = every update). ``log_scale``: True, False or ``"auto"`` (log when every value
    is positive). ``display``: a function with IPython's ``display(obj, display_id=True)
    -> handle`` signature (tests inject one; default: IPython's, in a kernel only).
    ``clock``: a time function (tests inject a fake one). ``stdout``: outside a kernel,
    print one line per refresh instead of staying silent.

    After use: ``history[name]`` (values), ``steps[name]`` (their steps), ``preview``
    (last preview batch), ``renders`` (number of refreshes drawn), ``widget`` (the
    ``ipywidgets.Image`` showing the plot in a kernel; None elsewhere).
    """

    def __init__(
        self,
        title: str = "",
        every_s: float | None = None,
        log_scale: bool | str = "auto",
        max_preview: int = 16,
        display: DisplayFn | None = None,
        clock: Callable[[], float] | None = None,
        stdout: bool = False,
    ) -> None:
        if every_s is None:
            from survey_lib.config import get_preset

            every_s = get_preset().plot_every_s
        if isinstance(every_s, bool) or not isinstance(every_s, (int, float)) or every_s < 0:
            raise InputError(f"every_s must be a number of seconds >= 0, got {every_s!r}")
        if log_scale not in (True, False, "auto"):
            raise InputError(f"log_scale must be True, False or 'auto', got {log_scale!r}")
        self.title = str(title)
        self.every_s = float(every_s)
        self.log_scale = log_scale
        if isinstance(max_preview, bool) or not isinstance(max_preview, int) or max_preview < 1:
            raise InputError(f"max_preview must be a positive int (images shown), got {max_preview!r}")
        self.max_preview = max_preview
        self.stdout = bool(stdout)
        self._clock = clock or time.monotonic
        self._use_widget = display is None and _env.in_kernel()
        self._display = display if display is not None else (_env.display if self._use_widget else None)
        self._handle: Any = None
        self.widget: Any = None
        self._last_render: float | None = None
        self._last_step: int | None = None
        self.history: dict[str, list[float]] = {}
        self.steps: dict[str, list[int]] = {}
        self.preview: torch.Tensor | None = None
        self.renders = 0
        self.closed = False
        self._dirty = False

    @property
    def active(self) -> bool:
        """True when refreshes are shown somewhere (a kernel, an injected display, stdout)."""
        return self._display is not None or self.stdout

    def update(self, step: int, losses: Mapping[str, float], preview: torch.Tensor | None = None) -> bool:
        """Record ``losses`` at ``step`` (and the latest ``preview`` batch); maybe refresh.

        Returns True when this call redrew the plot.
        """
        if self.closed:
            raise RuntimeError("LivePlot.update after close(); make a new LivePlot")
        if isinstance(step, bool) or not isinstance(step, int):
            raise InputError(f"step must be an int, got {step!r}")
        if not isinstance(losses, Mapping):
            raise InputError(f"losses must be a dict {{name: value}}, got {type(losses).__name__}")
        values = {}
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise InputError(f"losses[{name!r}] must be a single number, got shape {tuple(value.shape)}")
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"losses[{name!r}] must be a number, got {type(value).__name__}")
            values[str(name)] = float(value)
        if preview is not None:
            self.preview = image_batch(preview, "preview")[: self.max_preview].clone()
        for name, value in values.items():
            self.history.setdefault(name, []).append(value)
            self.steps.setdefault(name, []).append(step)
        self._last_step = step
        self._dirty = True
        now = self._clock()
        due = self._last_render is None or now - self._last_render >= self.every_s
        if due and self.active:
            self._render(now)
            return True
        return False

    def close(self) -> None:
        """Draw the final state (whatever the throttle says) and stop accepting updates.

        Only updates not drawn yet trigger a redraw: the screen always ends on the last
        values, without a duplicate refresh when the last update was already drawn.
        """
        if not self.closed and self.active and self._dirty:
            self._render(self._clock())
        self.closed = True

    def __enter__(self) -> LivePlot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def figure(self) -> Figure:
        """The current plot as a figure: loss curves, plus the preview grid if any."""
        has_preview = self.preview is not None
        fig = _env.new_figure(9.4 if has_preview else 6.0, 3.4)
        ax = fig.add_subplot(1, 2 if has_preview else 1, 1)
        for name, values in self.history.items():
            ax.plot(self.steps[name], values, label=name, linewidth=1.2)
        if self._use_log():
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        if self.history:
            ax.legend(fontsize=9, loc="upper right")
        ax.set_title(f"{self.title}  step {self._last_step}".strip(), fontsize=10)
        if has_preview:
            pax = fig.add_subplot(1, 2, 2)
            grid = tile(self.preview)
            if grid.ndim == 2:
                pax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                pax.imshow(grid, interpolation="nearest")
            pax.set_axis_off()
            pax.set_title("preview", fontsize=10)
        return fig

    def _use_log(self) -> bool:
        if self.log_scale != "auto":
            return bool(self.log_scale)
        finite = [v for vals in self.history.values() for v in vals if math.isfinite(v)]
        return bool(finite) and min(finite) > 0

    def _summary(self) -> str:
        latest = ", ".join(f"{n}={vals[-1]:.4g}" for n, vals in self.history.items())
        return f"{self.title + ': ' if self.title else ''}step {self._last_step}: {latest}"

    def _render(self, now: float) -> None:
        self._last_render = now
        self._dirty = False
        self.renders += 1
        if self._display is None:
            print(self._summary(), flush=True)
            return
        png = _env.figure_to_png(self.figure(), dpi=_env.SCREEN_DPI)  # shown unscaled: text >= 9 px
        if self._use_widget:
            if self.widget is None:
                import ipywidgets

                self.widget = ipywidgets.Image(value=png, format="png")
                self._display(self.widget)
            else:
                self.widget.value = png
            return
        from IPython.display import Image

        image = Image(data=png, format="png")
        if self._handle is None:
            self._handle = self._display(image, display_id=True)
        else:
            self._handle.update(image)
