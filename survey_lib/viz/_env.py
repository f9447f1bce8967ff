"""Where are we running? A live Jupyter kernel, or a plain script / CLI.

Every display helper asks here instead of calling IPython directly, so that the same
code draws in JupyterLab, still runs when a notebook is executed headless (nbconvert,
nbval: those *are* kernels, with no browser) and is a quiet no-op in ``python script.py``.
Tests monkeypatch :func:`in_kernel` and :func:`display` to check both paths.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is a dependency, but a script must never crash on it
        return None
    return get_ipython()


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a browser, or a headless nbconvert/nbval run).

    A terminal IPython session counts as *not* a kernel: it cannot show images, and
    printing ``<IPython.core.display.Image object>`` at every refresh helps nobody.
    """
    shell = _shell()
    return shell is not None and getattr(shell, "kernel", None) is not None


def display(obj: object, **kwargs: Any) -> Any:
    """``IPython.display.display`` (returns a handle when ``display_id=True``)."""
    from IPython.display import display as ipython_display

    return ipython_display(obj, **kwargs)


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a matplotlib figure with Agg to PNG bytes (no GUI backend involved)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A matplotlib ``Figure`` that is *not* registered with pyplot.

    Why not ``plt.figure()``: pyplot figures are shown a second time at the end of the
    cell by the inline backend, pile up in pyplot's registry, and may open a GUI
    window in a script. A bare ``Figure`` is drawn only when returned or displayed;
    :func:`_ensure_png_formatter` makes sure a kernel knows how to show it.
    """
    _ensure_png_formatter()
    return Figure(figsize=(max(width, 1.0), max(height, 1.0)), layout=layout)


def _ensure_png_formatter() -> None:
    """Teach IPython to show a bare ``Figure`` as PNG unless something already does."""
    shell = _shell()
    if shell is None:
        return
    try:
        formatter = shell.display_formatter.formatters["image/png"]
    except (AttributeError, KeyError):
        return
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, figure_to_png)


#: Width of a notebook's output area in JupyterLab 4 at a 1400 px wide window (sidebar
#: open). A figure drawn wider than this is scaled down on screen, and its text with it.
SCREEN_WIDTH_PX = 960
#: Smallest text height (screen pixels, = font size in px) the course's figures use.
MIN_TEXT_PX = 9.0
#: The resolution figures are shown at (``figure_to_png`` and the inline backend's default).
SCREEN_DPI = 100


def agg_renderer(fig: Figure) -> Any:
    """An Agg renderer for ``fig`` (to measure text before or after drawing)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    return canvas.get_renderer()


def shown_text_px(fig: Figure, dpi: float = SCREEN_DPI) -> dict[str, float]:
    """Each visible text of ``fig`` -> its font size in *screen* pixels when the figure is
    shown in a notebook: ``points * dpi / 72``, times the shrink factor when the (tight)
    figure is wider than :data:`SCREEN_WIDTH_PX`. Why: a font size in points says nothing
    about readability once JupyterLab scales a 14-inch figure down to the output width.
    """
    fig.set_dpi(dpi)
    renderer = agg_renderer(fig)
    fig.draw(renderer)
    width_px = fig.get_tightbbox(renderer).width * dpi
    shrink = min(1.0, SCREEN_WIDTH_PX / width_px) if width_px > 0 else 1.0
    sizes: dict[str, float] = {}
    for text in visible_texts(fig):
        key = text.get_text()
        px = text.get_fontsize() * dpi / 72.0 * shrink
        sizes[key] = min(px, sizes.get(key, px))
    return sizes


def visible_texts(fig: Figure) -> list[Any]:
    """The texts a reader sees: titles, labels, annotations, legends, and tick labels of
    axes that are switched on (an ``axis('off')`` panel keeps hidden tick labels)."""
    found = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        found += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_visible():
                    found += [axis.label, *axis.get_ticklabels()]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            found += [*legend.get_texts(), legend.get_title()]
    return [t for t in found if t.get_visible() and t.get_text().strip()]
