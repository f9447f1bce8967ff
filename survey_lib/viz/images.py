"""Image figures: grids, mask overlays, inpainting comparisons, error heat maps.

Every function validates its tensors (library convention: images float32 (B, C, H, W)
in [0, 1], masks float32 (B, 1, H, W) with 1 = hole) and returns a matplotlib
``Figure`` that a notebook shows as the cell's value; nothing opens a window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure

from survey_lib.data.checks import InputError, check_image
from survey_lib.viz._arrays import (
    check_count,
    check_positive,
    draw,
    image_batch,
    image_list,
    mask_batch,
    to_numpy,
)
from survey_lib.viz._env import new_figure

HOLE_COLOR = (1.0, 0.0, 0.0)


def show_images(
    images: torch.Tensor | Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 2.0,
) -> Figure:
    """A grid with one axis per image (grey or RGB; a list may mix both and sizes).

    ``images``: a batch (B, C, H, W), one sample (C, H, W), or a list of those.
    ``titles``: one per image. ``size``: inches per cell.
    """
    items = image_list(images)
    size = check_positive(size, "size")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(items):
            raise InputError(f"titles has {len(titles)} entries but there are {len(items)} images")
    ncols = min(len(items), 8) if ncols is None else check_count(ncols, "ncols")
    ncols = min(ncols, len(items))
    nrows = math.ceil(len(items) / ncols)
    fig = new_figure(ncols * size, nrows * size)
    for i, img in enumerate(items):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        draw(ax, img, titles[i] if titles else None)
    return fig


def overlay_mask(
    image: torch.Tensor,
    mask: torch.Tensor,
    color: Sequence[float] = HOLE_COLOR,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Tint the hole of ``image``: ``(1 - alpha) * image + alpha * color`` where mask = 1.

    Known pixels are returned unchanged. Grey images become RGB (the tint needs colour).
    Returns float32 (B, 3, H, W) in [0, 1].
    """
    img = image_batch(image, "image")
    m = mask_batch(mask, img)
    if isinstance(color, (str, bytes)) or len(color) != 3:
        raise InputError(f"color must be three numbers (r, g, b) in [0, 1], got {color!r}")
    rgb = [float(c) for c in color]
    if not all(0.0 <= c <= 1.0 for c in rgb):
        raise InputError(f"color values must lie in [0, 1], got {color!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    img3 = img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img
    tint = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)
    tinted = (1.0 - alpha) * img3 + alpha * tint
    return torch.where(m.bool().expand_as(img3), tinted, img3).clamp(0.0, 1.0).contiguous()


def _predictions(predictions: object, like: torch.Tensor) -> dict[str, torch.Tensor]:
    if not isinstance(predictions, Mapping):
        raise InputError(
            f"predictions must be a dict {{method name: (B, C, H, W) tensor}}, got {type(predictions).__name__}"
        )
    out = {}
    for name, pred in predictions.items():
        p = check_image(pred, f"predictions[{name!r}]").detach().cpu()
        if p.shape != like.shape:
            raise InputError(
                f"predictions[{name!r}] has shape {tuple(p.shape)} but the image has shape {tuple(like.shape)}"
            )
        out[str(name)] = p
    return out


def _check_scores(scores: object, preds: Mapping[str, torch.Tensor], rows: int) -> None:
    """``scores`` must map method names to at least one number per row shown."""
    if scores is None:
        return
    if not isinstance(scores, Mapping):
        raise InputError(f"scores must be a dict {{method name: per-image values}}, got {type(scores).__name__}")
    for name, values in scores.items():
        if name not in preds:
            raise InputError(f"scores[{name!r}] names no method in predictions ({', '.join(preds) or 'none'})")
        if isinstance(values, torch.Tensor):
            values = values.detach().flatten().tolist()
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) < rows:
            got = len(values) if isinstance(values, Sequence) else type(values).__name__
            raise InputError(f"scores[{name!r}] needs one value per row shown ({rows}), got {got}")


def show_inpainting(
    image: torch.Tensor,
    mask: torch.Tensor,
    predictions: Mapping[str, torch.Tensor],
    n: int = 4,
    size: float = 2.0,
    scores: Mapping[str, torch.Tensor | Sequence[float]] | None = None,
    score_name: str = "PSNR",
) -> Figure:
    """Rows = examples; columns = masked input (hole in red), each method's composite, truth.

    ``predictions`` maps a method name to its (B, C, H, W) prediction; the figure shows
    the *composite* (known pixels from ``image``), which is what metrics measure.
    ``scores`` (optional, e.g. per-image PSNR per method) is printed under the names.
    """
    from survey_lib.inpaint import composite

    img = image_batch(image, "image")
    m = mask_batch(mask, img)
    preds = _predictions(predictions, img)
    rows = min(check_count(n, "n"), img.shape[0])
    size = check_positive(size, "size")
    _check_scores(scores, preds, rows)
    masked = overlay_mask(img * (1.0 - m), m, alpha=1.0)
    columns = [("masked input", masked)]
    columns += [(name, composite(img, m, p)) for name, p in preds.items()]
    columns += [("ground truth", img)]
    fig = new_figure(len(columns) * size, rows * size)
    for r in range(rows):
        for c, (name, batch) in enumerate(columns):
            ax = fig.add_subplot(rows, len(columns), r * len(columns) + c + 1)
            title = name if r == 0 else None
            if scores is not None and name in scores:
                value = float(scores[name][r])
                title = f"{name + chr(10) if r == 0 else ''}{score_name} {value:.2f}"
            draw(ax, batch[r : r + 1], title)
    return fig


def compare_methods(
    methods: Mapping[str, object] | Sequence[object],
    image: torch.Tensor,
    mask: torch.Tensor,
    n: int = 4,
    size: float = 2.0,
) -> Figure:
    """Run each method on (image, mask) and show them side by side with hole PSNR.

    ``methods``: ``{name: method}`` or a list of methods (named by their ``name``).
    Each runs through :func:`survey_lib.inpaint.predict` (validated, hole blanked).
    """
    from survey_lib.inpaint import method_name, predict
    from survey_lib.metrics import psnr

    if not isinstance(methods, Mapping):
        methods = {method_name(meth): meth for meth in methods}
    if not methods:
        raise InputError("methods is empty; give at least one method to compare")
    img = image_batch(image, "image")
    preds = {name: predict(meth, img, mask) for name, meth in methods.items()}
    m = mask_batch(mask, img)
    scores = {name: psnr(p, img, mask=m) for name, p in preds.items()}
    return show_inpainting(img, m, preds, n=n, size=size, scores=scores, score_name="hole PSNR")


def error_map(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    n: int = 4,
    size: float = 2.0,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Rows = examples; columns = prediction, target, |pred - target| heat map.

    The heat map is the absolute error averaged over channels, on one colour scale
    shared by all rows (a colour bar on the right). With ``mask`` the hole outline is
    drawn on it, so errors inside and outside the hole can be told apart. ``labels``
    (one per row, e.g. method names) title the prediction panels.
    """
    p = image_batch(pred, "pred")
    t = image_batch(target, "target")
    if p.shape != t.shape:
        raise InputError(f"pred has shape {tuple(p.shape)} but target has shape {tuple(t.shape)}")
    m = mask_batch(mask, t) if mask is not None else None
    rows = min(check_count(n, "n"), p.shape[0])
    size = check_positive(size, "size")
    if labels is not None and len(labels) < rows:
        raise InputError(f"labels has {len(labels)} entries but {rows} rows are shown")
    err = (p - t).abs().mean(dim=1)  # (B, H, W)
    vmax = max(float(err[:rows].max()), 1e-6)
    fig = new_figure(3 * size + 0.6, rows * size)
    heat = None
    for r in range(rows):
        base = r * 3
        label = str(labels[r]) if labels is not None else ("prediction" if r == 0 else None)
        draw(fig.add_subplot(rows, 3, base + 1), p[r : r + 1], label)
        draw(fig.add_subplot(rows, 3, base + 2), t[r : r + 1], "target" if r == 0 else None)
        ax = fig.add_subplot(rows, 3, base + 3)
        heat = ax.imshow(err[r].numpy(), cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
        if m is not None and 0 < float(m[r].mean()) < 1:
            ax.contour(to_numpy(m[r]), levels=[0.5], colors="cyan", linewidths=0.8)
        ax.set_axis_off()
        ax.set_title(f"|error| (MAE {float(err[r].mean()):.3f})", fontsize=8)
    fig.colorbar(heat, ax=fig.axes, shrink=0.8, label="absolute error")
    return fig


def show_maps(
    panels: Mapping[str, torch.Tensor],
    ncols: int | None = None,
    size: float = 1.8,
    cmap: str = "viridis",
    fontsize: float = 9.0,
) -> Figure:
    """Titled panels in a grid that fits a notebook's width: images and heat maps mixed.

    ``panels``: {title: tensor}; a 2-D tensor (H, W) is a heat map drawn with ``cmap``
    on its own range (e.g. a normalised gradient magnitude), anything else is an image
    in the library's convention ((C, H, W) or (1, C, H, W), values in [0, 1]).
    ``ncols`` defaults to as many ``size``-inch columns as fit the output width of
    JupyterLab (:data:`survey_lib.viz._env.SCREEN_WIDTH_PX`), so the figure is shown
    unscaled and ``fontsize`` (points; 9 pt = 12.5 px) is what the reader gets.
    """
    from survey_lib.viz._env import SCREEN_DPI, SCREEN_WIDTH_PX

    if not isinstance(panels, Mapping) or not panels:
        raise InputError(f"panels must be a non-empty dict {{title: tensor}}, got {type(panels).__name__}")
    size = check_positive(size, "size")
    fontsize = check_positive(fontsize, "fontsize")
    fit = max(1, int(SCREEN_WIDTH_PX // (size * SCREEN_DPI)))
    ncols = min(fit, len(panels)) if ncols is None else min(check_count(ncols, "ncols"), len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure(ncols * size, nrows * (size + 0.25))
    for i, (title, value) in enumerate(panels.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if isinstance(value, torch.Tensor) and value.ndim == 2:
            if not torch.isfinite(value).all():
                raise InputError(f"panels[{title!r}] holds NaN or inf values")
            ax.imshow(value.detach().cpu().float().numpy(), cmap=cmap, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(str(title), fontsize=fontsize)
        else:
            draw(ax, image_batch(value, f"panels[{title!r}]")[:1], None)
            ax.set_title(str(title), fontsize=fontsize)
    return fig


def image_axes(fig: Figure) -> list[object]:
    """The axes of ``fig`` that hold an image (tests and notebooks count panels)."""
    return [ax for ax in fig.axes if ax.get_images()]
