"""The loss lab's board and controls (notebook 04, survey §4).

* :class:`LossLabBoard` keeps every run — its settings, a few completed samples and its
  metrics — side by side, for learned runs and classical baselines alike. Metrics: the
  usual pixel ones (``psnr``, ``ssim``, ``hole_psnr``, ``hole_mae`` from
  :func:`survey_lib.metrics.evaluate`), **hole gradient energy** (how much texture/edge
  the fill has, :func:`hole_gradient_energy`, the course's canonical sharpness from
  :mod:`survey_lib.metrics.sharpness`, re-exported here) with its ratio to the truth's
  (``sharpness``: 1 = as detailed as the real hole, < 1 = blurrier), and a perceptual
  score: LPIPS (AlexNet, installed with the environment) on images of at least 32 px;
  only below that size, or where the weights were not installed, a clearly labelled
  proxy — the perceptual distance on a *separate* random-feature network (see
  :attr:`LossLabBoard.perceptual_name`). Each run also keeps its per-image
  :class:`~survey_lib.metrics.EvalTable` (:meth:`LossLabBoard.table`, with a per-image
  ``sharpness`` column = hole gradient energy) so a claim of :mod:`survey_lib.claims` is
  decided on the board's own numbers; a method is run once per image for all of them.
* :class:`LossLabControls` — one slider per loss weight, a dropdown for the adversarial
  objective, a train button: it trains a :class:`~survey_lib.models.loss_lab.LossLab`
  through :func:`survey_lib.train.train` (live plot, progress bar) and adds the run to
  the board. Its feature terms use PConv's VGG16 pool1–pool3 by default
  (``feature_net="random"`` / ``"trained"`` are the labelled alternatives). Its budget is
  the chapter's live one (:func:`survey_lib.models.loss_lab.live_budget`: a short run at
  the ``smoke``/``cpu`` presets, and the same *compute*, so fewer steps, when the loss
  needs the VGG16 network), unless ``steps`` is set. Scriptable:
  ``controls.set(hole_l1=6, style=120)`` then ``controls.run()``.

Everything works without a browser; ``.widget`` builds the ipywidgets on request.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from survey_lib.config import Preset, get_preset
from survey_lib.data.checks import InputError, check_pair
from survey_lib.metrics.sharpness import (
    hole_gradient_energy,  # the canonical sharpness, re-exported
)

__all__ = [
    "LabRun",
    "LossLabBoard",
    "LossLabControls",
    "SLIDER_RANGES",
    "hole_gradient_energy",
]

#: the weights the controls expose, with (max, step) of their sliders
SLIDER_RANGES: dict[str, tuple[float, float]] = {
    "valid_l1": (10.0, 0.5),
    "hole_l1": (10.0, 0.5),
    "discounted_l1": (10.0, 0.5),
    "perceptual": (1.0, 0.01),
    "style": (500.0, 5.0),
    "tv": (1.0, 0.01),
    "mrf": (1.0, 0.01),
    "adversarial": (1.0, 0.01),
    "feature_matching": (20.0, 0.5),
}
#: the metrics shown by the board, in order (higher is better unless listed in LOWER_BETTER)
BOARD_METRICS = ("psnr", "ssim", "hole_psnr", "hole_mae", "hole_grad_energy", "sharpness", "perceptual")
LOWER_BETTER = {"hole_mae", "perceptual"}


@dataclass
class LabRun:
    """One entry of the board."""

    name: str
    settings: dict[str, Any]
    metrics: dict[str, float]
    samples: torch.Tensor  # composites on the board's first ``n_show`` images
    kind: str = "learned"  # or "classical"
    seconds: float | None = None
    steps: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    table: Any = None  # per-image EvalTable on the board's images, with a ``sharpness`` column


class _Replay:
    """Hands :func:`~survey_lib.metrics.evaluate` predictions already made, batch after batch,
    so a method (a slow classical one, say) runs once per image for every board metric."""

    def __init__(self, name: str, predictions: torch.Tensor) -> None:
        self.name, self.predictions, self.position = name, predictions, 0

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.predictions[self.position:self.position + len(image)]
        if len(out) != len(image):
            raise InputError(f"replay of {self.name!r} ran out of predictions at image {self.position}")
        self.position += len(image)
        return out


class LossLabBoard:
    """Every run's settings, samples and metrics on one fixed evaluation set.

    ``images``/``masks``: the evaluation set (every run is measured on exactly these);
    ``n_show``: how many of them the sample figure shows; ``perceptual``: ``"auto"``
    (LPIPS when its weights are installed and images are ≥ 32 px, else the proxy),
    ``"lpips"`` or ``"proxy"``.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, n_show: int = 4,
                 perceptual: str = "auto", proxy_seed: int = 1234) -> None:
        self.images, self.masks = check_pair(images, masks)
        if perceptual not in ("auto", "lpips", "proxy"):
            raise InputError(f"perceptual must be 'auto', 'lpips' or 'proxy', got {perceptual!r}")
        if perceptual == "auto":
            from survey_lib.metrics.perceptual import weights_cached

            perceptual = "lpips" if weights_cached("alex") and min(self.images.shape[-2:]) >= 32 else "proxy"
        self.perceptual_kind = perceptual
        self.proxy_seed = proxy_seed
        self.n_show = max(1, min(int(n_show), len(self.images)))
        self.runs: dict[str, LabRun] = {}
        #: per-image hole gradient energy of the truth (the reference of claim 1's sharpness)
        self.truth_sharpness = hole_gradient_energy(self.images, self.masks).double().numpy()
        self.truth_energy = float(np.nanmean(self.truth_sharpness))

    # -- measuring -----------------------------------------------------------------------
    @property
    def perceptual_name(self) -> str:
        """What the ``perceptual`` column holds (lower = closer to the truth)."""
        if self.perceptual_kind == "lpips":
            return "LPIPS (AlexNet)"
        return (f"PROXY, not LPIPS: perceptual distance on a random-feature network (seed {self.proxy_seed}, "
                "a different network from the loss's)")

    def perceptual_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-image perceptual distance (B,) of the board's kind."""
        if self.perceptual_kind == "lpips":
            from survey_lib.metrics import lpips_distance

            return lpips_distance(a, b)
        from survey_lib.losses.feature_nets import RandomFeatures

        if not hasattr(self, "_proxy") or self._proxy.channels != a.shape[1]:
            self._proxy = RandomFeatures(a.shape[1], seed=self.proxy_seed, widths=(48, 96, 192))
        with torch.no_grad():
            fa, fb = self._proxy(a), self._proxy(b)
        return torch.stack([(x - y).abs().flatten(1).mean(1) for x, y in zip(fa, fb)]).mean(0)

    def measure(self, method: Any) -> tuple[dict[str, float], torch.Tensor]:
        """All board metrics of ``method`` on the evaluation set, and the sample composites."""
        metrics, samples, _ = self._measure(method)
        return metrics, samples

    def _measure(self, method: Any) -> tuple[dict[str, float], torch.Tensor, Any]:
        """Board metrics, sample composites and the per-image table; ``method`` runs once per image."""
        from survey_lib.claims import with_per_image
        from survey_lib.inpaint import composite, method_name, predict
        from survey_lib.metrics import evaluate

        preds = torch.cat([predict(method, self.images[s:s + 32], self.masks[s:s + 32])
                           for s in range(0, len(self.images), 32)])
        comp = composite(self.images, self.masks, preds)
        lpips = self.perceptual_kind == "lpips"
        table = evaluate(_Replay(method_name(method), preds), self.images, self.masks, lpips=lpips)
        energy = hole_gradient_energy(comp, self.masks)
        table = with_per_image(table, "sharpness", energy)
        metrics = {k: table.overall[k] for k in ("psnr", "ssim", "hole_psnr", "hole_mae")}
        metrics["hole_grad_energy"] = float(torch.nanmean(energy))
        metrics["sharpness"] = metrics["hole_grad_energy"] / self.truth_energy if self.truth_energy > 0 else math.nan
        perceptual = table.per_image["lpips"] if lpips else self.perceptual_distance(comp, self.images).numpy()
        metrics["perceptual"] = float(np.mean(perceptual))
        return metrics, comp[: self.n_show].detach().cpu(), table

    def add(self, name: str, method: Any, settings: Mapping[str, Any] | None = None,
            result: Any | None = None, kind: str | None = None) -> LabRun:
        """Measure ``method`` and keep it under ``name`` (a later run of that name replaces it).

        ``result``: the :class:`~survey_lib.train.TrainResult` (its time, steps and loss
        history are kept). ``settings`` default to ``method.settings`` when it has one.
        """
        if settings is None:
            settings = getattr(method, "settings", {}) or {}
        if kind is None:
            kind = "learned" if isinstance(method, torch.nn.Module) else "classical"
        metrics, samples, table = self._measure(method)
        run = LabRun(name, dict(settings), metrics, samples, kind,
                     seconds=getattr(result, "seconds", None), steps=getattr(result, "steps", None),
                     history=dict(getattr(result, "history", {}) or {}), table=table)
        self.runs[name] = run
        return run

    def value(self, run: str, metric: str) -> float:
        """One number of the board."""
        if run not in self.runs:
            raise KeyError(f"no run {run!r}; the board has {list(self.runs)}")
        return self.runs[run].metrics[metric]

    def table(self, run: str) -> Any:
        """The per-image :class:`~survey_lib.metrics.EvalTable` of ``run`` on the board's images
        (PSNR, SSIM, MAE, hole PSNR/MAE, LPIPS when the board uses it, and ``sharpness`` = hole
        gradient energy): what :mod:`survey_lib.claims` decides on."""
        if run not in self.runs:
            raise KeyError(f"no run {run!r}; the board has {list(self.runs)}")
        return self.runs[run].table

    # -- showing -------------------------------------------------------------------------
    @staticmethod
    def _settings_text(run: LabRun) -> str:
        if run.kind == "classical":
            return "classical baseline"
        return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                         for k, v in run.settings.items())

    def to_markdown(self) -> str:
        """The board as a Markdown table (best value per metric in bold)."""
        heads = ["run", "settings", *BOARD_METRICS, "train s"]
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        best = self._best()
        for run in self.runs.values():
            cells = [run.name, self._settings_text(run)]
            for m in BOARD_METRICS:
                text = f"{run.metrics[m]:.4g}"
                cells.append(f"**{text}**" if best.get(m) == run.name else text)
            cells.append("" if run.seconds is None else f"{run.seconds:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"perceptual = {self.perceptual_name}; sharpness = hole gradient energy / the truth's "
                     f"({self.truth_energy:.4g}).")
        return "\n".join(lines)

    def _best(self) -> dict[str, str]:
        best: dict[str, str] = {}
        for m in BOARD_METRICS:
            if m == "hole_grad_energy":
                continue  # more is not better: 'sharpness' compares it with the truth's
            vals = {n: r.metrics[m] for n, r in self.runs.items() if math.isfinite(r.metrics[m])}
            if m == "sharpness":
                vals = {n: -abs(math.log(v)) for n, v in vals.items() if v > 0}  # closest to 1
            elif m in LOWER_BETTER:
                vals = {n: -v for n, v in vals.items()}
            if vals:
                best[m] = max(vals, key=vals.__getitem__)
        return best

    def _repr_html_(self) -> str:
        best = self._best()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["run", "settings", *BOARD_METRICS, "train s"])
        rows = []
        for run in self.runs.values():
            cells = [html.escape(run.name), html.escape(self._settings_text(run))]
            for m in BOARD_METRICS:
                text = html.escape(f"{run.metrics[m]:.4g}")
                cells.append(f"<b>{text}</b>" if best.get(m) == run.name else text)
            cells.append("" if run.seconds is None else f"{run.seconds:.1f}")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        caption = html.escape(f"loss lab board - {len(self.images)} evaluation images; perceptual = "
                              f"{self.perceptual_name}")
        return (f"<table><caption style='caption-side: top'>{caption}</caption><thead><tr>{head}</tr>"
                f"</thead><tbody>{''.join(rows)}</tbody></table>")

    def show_samples(self, size: float = 1.4) -> Any:
        """Rows: masked input, every run's composites, the truth; columns: the shown images."""
        from survey_lib.viz import overlay_mask, show_images

        if not self.runs:
            raise InputError("the board is empty: add a run first")
        img, m = self.images[: self.n_show], self.masks[: self.n_show]
        rows = [("masked input", overlay_mask(img * (1 - m), m, alpha=1.0))]
        rows += [(name, run.samples) for name, run in self.runs.items()]
        rows += [("truth", img)]
        items = [batch[i] for _, batch in rows for i in range(self.n_show)]
        titles = [name if i == 0 else "" for name, _ in rows for i in range(self.n_show)]
        return show_images(items, titles=titles, ncols=self.n_show, size=size)

    def perception_distortion(self, x: str = "hole_psnr", y: str = "perceptual") -> Any:
        """Scatter of the runs: distortion (``x``, higher = closer in pixels) against a
        perceptual score (``y``).

        Each run has its own colour (classical baselines: squares, learned runs:
        circles) and is named in a legend beside the axes, not by a label at its
        point: the classical methods score almost alike and their labels piled up
        unreadably on one another (issue 8, finding 15). Text is 9 pt or more and the
        figure fits a notebook's width, so nothing is scaled down on screen.
        """
        from matplotlib import colormaps

        from survey_lib.viz._env import new_figure

        if not self.runs:
            raise InputError("the board is empty: add a run first")
        for metric in (x, y):
            if metric not in BOARD_METRICS:
                raise InputError(f"metric {metric!r} is not on the board; choose from {', '.join(BOARD_METRICS)}")
        fig = new_figure(9.2, 4.2)
        ax = fig.add_subplot(1, 1, 1)
        colors = colormaps["tab10" if len(self.runs) <= 10 else "tab20"]
        for i, (name, run) in enumerate(self.runs.items()):
            marker = "s" if run.kind == "classical" else "o"
            ax.scatter([run.metrics[x]], [run.metrics[y]], marker=marker, s=55, color=colors(i % colors.N),
                       edgecolors="black", linewidths=0.5, label=name, zorder=3)
        ax.set_xlabel(f"{x} (higher = less distortion)", fontsize=10)
        ax.set_ylabel(("perceptual distance (lower = closer)" if y == "perceptual" else y), fontsize=10)
        ax.tick_params(labelsize=9)
        label = self.perceptual_name if y == "perceptual" else y
        short = "LPIPS" if self.perceptual_kind == "lpips" else "proxy (not LPIPS)"
        ax.set_title(f"perception-distortion ({short if y == 'perceptual' else label})", fontsize=10)
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  title="run (square = classical)", title_fontsize=9)
        ax.grid(alpha=0.3)
        return fig


class LossLabControls:
    """Sliders for the loss weights, a dropdown for the adversarial kind, and a train button.

    ``train_data``: a dataset of (image, mask) for :func:`survey_lib.train.train`;
    ``channels``: its image channels; ``steps`` defaults to the chapter's live budget of
    the current weights (:func:`~survey_lib.models.loss_lab.live_budget`, so a VGG16 run
    gets fewer, dearer steps), ``batch_size`` to the preset's; ``feature_net``: the loss network of the feature terms — ``"vgg16"`` (PConv's, default),
    or the labelled alternatives ``"random"`` / ``"trained"``.
    """

    def __init__(self, board: LossLabBoard, train_data: Any, channels: int, *,
                 preset: Preset | str | None = None, steps: int | None = None,
                 batch_size: int | None = None, feature_net: str = "vgg16",
                 weights: Mapping[str, float] | None = None, adversarial: str = "hinge",
                 seed: int = 0) -> None:
        from survey_lib.losses.feature_nets import FEATURE_KINDS
        from survey_lib.models.loss_lab import DEFAULT_WEIGHTS

        if feature_net not in FEATURE_KINDS:
            raise InputError(f"feature_net must be one of {', '.join(FEATURE_KINDS)}, got {feature_net!r}")
        self.board, self.train_data, self.channels = board, train_data, channels
        self.preset = preset if isinstance(preset, Preset) else get_preset(preset)
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise InputError(f"steps must be a positive int or None (the live budget), got {steps!r}")
        self.steps = steps
        self.batch_size = batch_size
        self.feature_net, self.seed = feature_net, seed
        self.weights: dict[str, float] = {k: 0.0 for k in SLIDER_RANGES}
        self.adversarial = adversarial
        self.set(**dict(DEFAULT_WEIGHTS if weights is None else weights), adversarial=adversarial)
        self._widget: Any = None
        self.last_result: Any = None

    def set(self, adversarial: str | None = None, **weights: float) -> LossLabControls:
        """Change weights (by term name) and/or the adversarial kind; updates the sliders."""
        from survey_lib.losses.adversarial import ADVERSARIAL

        unknown = sorted(set(weights) - set(SLIDER_RANGES))
        if unknown:
            raise InputError(f"the lab has no slider for {unknown}; choose from {', '.join(SLIDER_RANGES)}")
        for k, v in weights.items():
            if not (isinstance(v, (int, float)) and 0 <= v <= SLIDER_RANGES[k][0]):
                raise InputError(f"{k} must be a number in [0, {SLIDER_RANGES[k][0]}], got {v!r}")
            self.weights[k] = float(v)
        if adversarial is not None:
            if adversarial not in ADVERSARIAL:
                raise InputError(f"adversarial must be one of {', '.join(ADVERSARIAL)}, got {adversarial!r}")
            self.adversarial = adversarial
        if getattr(self, "_widget", None) is not None:
            for k, s in self._sliders.items():
                s.value = self.weights[k]
            self._dropdown.value = self.adversarial
        return self

    def run_name(self) -> str:
        active = [f"{k}={v:g}" for k, v in self.weights.items() if v > 0]
        adv = f" [{self.adversarial}]" if self.weights["adversarial"] + self.weights["feature_matching"] > 0 else ""
        return ", ".join(active) + adv

    def budget(self) -> Preset:
        """The preset the next run trains with: the live budget of the current weights, with
        ``steps`` when it was set."""
        from survey_lib.models.loss_lab import live_budget

        weights = {k: v for k, v in self.weights.items() if v > 0}
        if not weights:
            raise InputError("every weight is zero: set at least one loss term")
        budget = live_budget(weights, self.preset)
        return budget if self.steps is None else budget.with_overrides(steps=self.steps)

    def run(self, name: str | None = None, live: bool = True) -> LabRun:
        """Train a LossLab with the current settings (budget: :meth:`budget`) and add it to the board."""
        from survey_lib.models.loss_lab import LossLab
        from survey_lib.train import train

        budget = self.budget()
        weights = {k: v for k, v in self.weights.items() if v > 0}
        size = int(self.train_data[0][0].shape[-1])  # the training images' side: the discriminator's input
        model = LossLab(self.channels, budget.width, weights=weights, adversarial=self.adversarial,
                        feature_net=self.feature_net, image_size=size)
        result = train(model, self.train_data, preset=budget, steps=budget.steps,
                       batch_size=self.batch_size, live=live, seed=self.seed)
        self.last_result = result
        return self.board.add(name or self.run_name(), result.method, model.settings, result)

    @property
    def widget(self) -> Any:
        """The controls and the board (ipywidgets); built on first access, no browser needed."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:
        import ipywidgets as w
        from IPython.display import display

        from survey_lib.losses.adversarial import ADVERSARIAL

        self._sliders = {
            k: w.FloatSlider(value=self.weights[k], min=0.0, max=hi, step=step, description=k,
                             continuous_update=False, style={"description_width": "110px"},
                             layout=w.Layout(width="360px"))
            for k, (hi, step) in SLIDER_RANGES.items()
        }
        self._dropdown = w.Dropdown(options=list(ADVERSARIAL), value=self.adversarial,
                                    description="adversarial", style={"description_width": "110px"})
        steps = w.IntText(value=self.steps or 0, description="steps (0 = auto)",
                          style={"description_width": "110px"})
        button = w.Button(description="train", button_style="primary", icon="play")
        out_train, out_board = w.Output(), w.Output()

        def on_slider(change: dict, key: str) -> None:
            self.weights[key] = float(change["new"])

        for k, s in self._sliders.items():
            s.observe(lambda ch, k=k: on_slider(ch, k), names="value")
        self._dropdown.observe(lambda ch: setattr(self, "adversarial", ch["new"]), names="value")
        steps.observe(lambda ch: setattr(self, "steps", int(ch["new"]) if int(ch["new"]) > 0 else None),
                      names="value")

        def on_click(_: Any) -> None:
            button.disabled = True
            try:
                with out_train:
                    out_train.clear_output()
                    self.run()
                with out_board:
                    out_board.clear_output()
                    display(self.board)
                    display(self.board.show_samples())
            except Exception as err:  # show the message in the widget instead of losing it
                with out_train:
                    print(f"{type(err).__name__}: {err}")
            finally:
                button.disabled = False

        button.on_click(on_click)
        with out_board:
            if self.board.runs:
                display(self.board)
        left = w.VBox(list(self._sliders.values()))
        right = w.VBox([self._dropdown, steps, button])
        return w.VBox([w.HBox([left, right]), out_train, out_board])


def summary_numbers(board: LossLabBoard, runs: list[str], metrics: tuple[str, ...] = BOARD_METRICS) -> np.ndarray:
    """``(len(runs), len(metrics))`` array of board values (for plots and checks)."""
    return np.array([[board.value(r, m) for m in metrics] for r in runs], dtype=float)
