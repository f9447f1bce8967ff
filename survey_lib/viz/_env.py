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
