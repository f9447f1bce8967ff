"""survey_lib.viz: figures hold the right panels and pixels, LivePlot throttles and stays headless-safe."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from IPython.display import Code, Image

from survey_lib import taxonomy, viz
from survey_lib.data.checks import InputError
from survey_lib.viz import _env


def _batch(b=3, c=3, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g)


def _mask(b=3, h=12, w=10):
    m = torch.zeros(b, 1, h, w)
    m[:, :, 3:7, 2:6] = 1
    return m


@pytest.fixture
def no_kernel(monkeypatch):
    monkeypatch.setattr(_env, "in_kernel", lambda: False)


# ----------------------------------------------------------------------------- grids
def test_show_images_one_axis_per_image_and_exact_pixels():
    x = _batch(5)
    fig = viz.show_images(x, titles=list("abcde"), ncols=3)
    axes = viz.image_axes(fig)
    assert len(fig.axes) == len(axes) == 5
    assert [ax.get_title() for ax in axes] == list("abcde")
    np.testing.assert_allclose(axes[2].get_images()[0].get_array(), x[2].permute(1, 2, 0).numpy())


def test_show_images_mixes_grey_and_rgb_samples():
    grey, rgb = _batch(1, c=1)[0], _batch(2)  # a (C, H, W) sample and a batch of two
    fig = viz.show_images([grey, rgb])
    axes = viz.image_axes(fig)
    assert len(axes) == 3
    first = axes[0].get_images()[0]
    assert first.get_array().shape == (12, 10) and first.get_cmap().name == "gray"
    assert first.get_clim() == (0.0, 1.0)  # a grey image is never rescaled by imshow


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(2, 3, 8, 8).double(), "float32"),
        (torch.rand(2, 4, 8, 8), "channels"),
        (torch.rand(2, 3, 8, 8) * 2, r"\[0, 1\]"),
        ([], "empty"),
        ("cat.png", "tensor"),
    ],
)
def test_show_images_rejects_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        viz.show_images(bad)


def test_show_images_title_count_must_match():
    with pytest.raises(InputError, match="titles has 2 entries but there are 3"):
        viz.show_images(_batch(3), titles=["a", "b"])


# ----------------------------------------------------------------------------- overlay
def test_overlay_colours_only_the_hole():
    x, m = _batch(2), _mask(2)
    out = viz.overlay_mask(x, m, color=(0.0, 1.0, 0.0), alpha=0.25)
    hole = m.bool().expand_as(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out[~hole], x[~hole])  # known pixels untouched, bit for bit
    expected = 0.75 * x + 0.25 * torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(out[hole], expected[hole])


def test_overlay_turns_grey_into_rgb():
    x, m = _batch(1, c=1), _mask(1)
    out = viz.overlay_mask(x, m, alpha=1.0)
    assert out.shape == (1, 3, 12, 10)
    assert torch.equal(out[0, :, 0, 0], x[0, 0, 0, 0].repeat(3))
    assert torch.equal(out[0, :, 4, 4], torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"alpha": 1.5}, "alpha"), ({"color": (1, 0)}, "color"), ({"color": (2, 0, 0)}, "color")],
)
def test_overlay_rejects_bad_colour_and_alpha(kwargs, match):
    with pytest.raises(InputError, match=match):
        viz.overlay_mask(_batch(1), _mask(1), **kwargs)


def test_overlay_rejects_mismatched_or_non_binary_mask():
    with pytest.raises(InputError, match="does not match"):
        viz.overlay_mask(_batch(2), _mask(2, h=8))
    with pytest.raises(InputError, match="binary"):
        viz.overlay_mask(_batch(1), _mask(1) * 0.5)


# ----------------------------------------------------------------------------- inpainting
def test_show_inpainting_grid_and_composites():
    x, m = _batch(3), _mask(3)
    preds = {"grey": torch.full_like(x, 0.5), "copy": x.clone()}
    fig = viz.show_inpainting(x, m, preds, n=2)
    axes = viz.image_axes(fig)
    assert len(axes) == 2 * 4  # rows = examples, columns = input, 2 methods, truth
    assert [ax.get_title() for ax in axes[:4]] == ["masked input", "grey", "copy", "ground truth"]
    grey_panel = axes[1].get_images()[0].get_array()  # (H, W, 3) of example 0
    hole = m[0, 0].bool().numpy()
    np.testing.assert_allclose(grey_panel[hole], 0.5)
    np.testing.assert_allclose(grey_panel[~hole], x[0].permute(1, 2, 0).numpy()[~hole])
    masked = axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(masked[hole], [[1.0, 0.0, 0.0]] * int(hole.sum()))  # hole shown in red


def test_show_inpainting_scores_in_titles_and_bad_predictions():
    x, m = _batch(2), _mask(2)
    fig = viz.show_inpainting(x, m, {"a": x}, n=2, scores={"a": [31.25, 12.5]})
    titles = [ax.get_title() for ax in viz.image_axes(fig)]
    assert titles[1] == "a\nPSNR 31.25" and titles[4] == "PSNR 12.50"
    with pytest.raises(InputError, match=r"predictions\['a'\] has shape"):
        viz.show_inpainting(x, m, {"a": x[:1]})
    with pytest.raises(InputError, match="dict"):
        viz.show_inpainting(x, m, [x])


def test_compare_methods_runs_methods_on_blanked_input():
    seen = {}

    class Half:
        name = "half"

        def __call__(self, image, mask):
            seen["hole_max"] = float((image * mask).max())
            return torch.full_like(image, 0.5)

    x, m = _batch(2), _mask(2)
    fig = viz.compare_methods([Half()], x, m)
    assert seen["hole_max"] == 0.0  # the method never saw the hole
    assert len(viz.image_axes(fig)) == 2 * 3
    expected = 10 * np.log10(1 / ((x[0] - 0.5)[m[0].expand(3, -1, -1).bool()] ** 2).mean().item())
    assert viz.image_axes(fig)[1].get_title() == f"half\nhole PSNR {expected:.2f}"


# ----------------------------------------------------------------------------- error map
def test_error_map_heat_is_mean_absolute_error():
    p, t = _batch(3, seed=1), _batch(3, seed=2)
    fig = viz.error_map(p, t, mask=_mask(3), n=2)
    axes = viz.image_axes(fig)
    assert len(axes) == 6 and len(fig.axes) == 7  # + the colour bar
    heat = axes[2].get_images()[0].get_array()
    np.testing.assert_allclose(heat, (p[0] - t[0]).abs().mean(0).numpy(), rtol=1e-6)
    assert axes[2].get_images()[0].get_clim()[1] == pytest.approx(float((p[:2] - t[:2]).abs().mean(1).max()))
    with pytest.raises(InputError, match="target has shape"):
        viz.error_map(p, t[:, :1])
    labelled = viz.image_axes(viz.error_map(p, t, n=2, labels=["telea", "exemplar"]))
    assert [labelled[0].get_title(), labelled[3].get_title()] == ["telea", "exemplar"]
    with pytest.raises(InputError, match="labels has 1 entries but 2 rows"):
        viz.error_map(p, t, n=2, labels=["one"])


# ----------------------------------------------------------------------------- charts
class _Table:
    """A stand-in with EvalTable's ``value(bin, metric)`` (bins it lacks raise KeyError)."""

    def __init__(self, values):
        self.values = values

    def value(self, bin, metric):
        if metric != "hole_psnr":
            raise KeyError(f"no metric {metric!r}")
        if bin == "all":
            return float(np.mean(list(self.values.values())))
        return self.values[bin]


def test_plot_bins_one_line_per_method_with_gaps_for_missing_bins():
    from survey_lib.data.masks import BIN_LABELS

    a = _Table({label: 30.0 - i for i, label in enumerate(BIN_LABELS)})
    b = _Table({BIN_LABELS[0]: 25.0, BIN_LABELS[2]: float("inf")})
    fig = viz.plot_bins({"a": a, "b": b})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(BIN_LABELS)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), [30, 29, 28, 27, 26, 25])
    yb = np.asarray(ax.get_lines()[1].get_ydata(), dtype=float)
    assert yb[0] == 25.0 and np.isnan(yb[1:]).all()  # missing bins and inf stay gaps


def test_plot_bins_with_real_eval_tables():
    from survey_lib.metrics import EvalTable

    ratios = np.array([0.05, 0.15, 0.15])
    table = EvalTable("m", {"hole_psnr": np.array([20.0, 10.0, 14.0])}, ratios, ["1-10%", "10-20%", "10-20%"])
    fig = viz.plot_bins({"m": table}, metric="hole_psnr")
    y = np.asarray(fig.axes[0].get_lines()[0].get_ydata(), dtype=float)
    # a bin's PSNR is the PSNR of its mean MSE (EvalTable): 10 dB -> MSE 0.1, 14 dB -> 10**-1.4
    expected = -10.0 * np.log10((10**-1.0 + 10**-1.4) / 2)
    assert y[0] == pytest.approx(20.0) and y[1] == pytest.approx(expected) and np.isnan(y[2:]).all()


def test_plot_bins_rejects_bad_input():
    with pytest.raises(InputError, match="non-empty dict"):
        viz.plot_bins({})
    with pytest.raises(InputError, match="no metric 'ssim'"):
        viz.plot_bins({"a": _Table({})}, metric="ssim")
    with pytest.raises(InputError, match="not an EvalTable"):
        viz.plot_bins({"a": 3.0})


def test_plot_taxonomy_draws_every_leaf_with_its_chapter():
    fig = viz.plot_taxonomy()
    ax = fig.axes[0]
    leaves = taxonomy.leaves()
    assert len(ax.patches) == len(leaves)
    texts = [t.get_text() for t in ax.texts]
    joined = " ".join(texts)  # long names wrap onto several lines of one box
    for _, leaf in leaves:
        assert f"{leaf.section} {leaf.name}" in joined
    assert texts.count("planned") == sum(1 for _, leaf in leaves if not leaf.notebooks)


def _text_boxes(fig):
    """(text, window extent) of every visible, non-empty text of a drawn figure."""
    renderer = _env.agg_renderer(fig)
    fig.draw(renderer)
    return [(t, t.get_window_extent(renderer)) for t in _env.visible_texts(fig)]


def _overlaps(boxes):
    return [(a.get_text(), b.get_text()) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
            if ba.width > 0 and bb.width > 0 and ba.overlaps(bb)
            and min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 1 and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 1]


def test_taxonomy_text_is_readable_on_screen_and_stays_inside_its_box():
    """Regression (issue 8, finding 15): a 14-inch figure with 7.5 pt text was shown scaled to
    the 968 px output, about 7 px. Now every text is >= 9 screen px and inside its box."""
    fig = viz.plot_taxonomy()
    sizes = _env.shown_text_px(fig)
    assert min(sizes.values()) >= _env.MIN_TEXT_PX, sorted(sizes.items(), key=lambda kv: kv[1])[:3]
    boxes = _text_boxes(fig)
    assert _overlaps(boxes) == []
    renderer = _env.agg_renderer(fig)
    patches = [p.get_window_extent(renderer) for p in fig.axes[0].patches]
    for text, box in boxes:
        if text.get_fontweight() == "bold" and text.get_fontsize() > taxonomy_font():
            continue  # the three column headings
        assert any(p.x0 <= box.x0 and box.x1 <= p.x1 and p.y0 <= box.y0 and box.y1 <= p.y1 for p in patches), \
            text.get_text()
    assert _env.shown_text_px(viz.plot_taxonomy(width=20.0))  # a wide figure is scaled, not refused


def taxonomy_font():
    from survey_lib.viz.charts import TAXONOMY_FONT_PT

    return TAXONOMY_FONT_PT


def test_show_maps_fits_the_page_and_keeps_titles_readable():
    """Regression (issue 8, finding 15): 04's gradient maps were nine panels in one 18-inch
    row, titles ~5 px on screen. show_maps wraps into as many columns as fit the page."""
    maps = {f"map {i}\n{i} % in hole": torch.rand(12, 12) for i in range(7)}
    fig = viz.show_maps({"image": _batch(1), "grey": _batch(1, c=1)[0], **maps})
    assert len(viz.image_axes(fig)) == 9
    sizes = _env.shown_text_px(fig)
    assert min(sizes.values()) >= _env.MIN_TEXT_PX
    assert fig.get_figwidth() * _env.SCREEN_DPI <= _env.SCREEN_WIDTH_PX
    assert _overlaps(_text_boxes(fig)) == []
    with pytest.raises(InputError, match="panels must be a non-empty dict"):
        viz.show_maps({})
    with pytest.raises(InputError, match="NaN or inf"):
        viz.show_maps({"bad": torch.full((4, 4), float("nan"))})
    with pytest.raises(InputError, match=r"panels\['x'\]"):
        viz.show_maps({"x": torch.rand(2, 5, 4, 4)})


def test_plot_curves_keeps_an_identical_curve_visible():
    """Regression (issue 8, finding 15): in 04's generator-loss plot the WGAN curve lay
    exactly under the hinge one. An equal curve is drawn dashed on top and named after its twin."""
    x = torch.linspace(-3, 3, 31)
    fig = viz.plot_curves(x, {"hinge": -x, "nsgan": torch.nn.functional.softplus(-x), "wgan_gp": -x.clone()},
                          "logit", "loss")
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["hinge", "nsgan", "wgan_gp (= hinge)"]
    assert lines[0].get_linestyle() == "-" and lines[2].get_linestyle() != "-"
    assert lines[2].get_zorder() > lines[0].get_zorder() and lines[2].get_linewidth() > lines[0].get_linewidth()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1] == "wgan_gp (= hinge)"
    with pytest.raises(InputError, match=r"curves\['a'\] has 2 values but x has 31"):
        viz.plot_curves(x, {"a": [1.0, 2.0]})
    with pytest.raises(InputError, match="curves must be a non-empty dict"):
        viz.plot_curves(x, {})
    with pytest.raises(InputError, match="x must be a list/array of numbers"):
        viz.plot_curves(["a", "b"], {"a": [1.0, 2.0]})


def test_taxonomy_names_only_course_notebooks():
    for _, leaf in taxonomy.leaves():
        assert set(leaf.notebooks) <= set(taxonomy.NOTEBOOKS), leaf
    assert taxonomy.chapter_of("2.4") == "02_4_convolution_aware"
    assert taxonomy.chapter_of("Diffusion") == "03_4_diffusion"
    assert taxonomy.chapter_of("2.1.2") == taxonomy.PLANNED
    with pytest.raises(KeyError, match="no taxonomy leaf"):
        taxonomy.chapter_of("telepathy")


# ----------------------------------------------------------------------------- show_code
def test_show_code_prints_source_outside_a_kernel(no_kernel, capsys):
    from survey_lib.inpaint import composite

    viz.show_code(composite)
    out = capsys.readouterr().out
    assert out.startswith("# survey_lib/inpaint.py, lines ")
    assert "def composite(" in out and "torch.where" in out
    viz.show_code("survey_lib.inpaint.composite")
    assert capsys.readouterr().out == out


def test_show_code_displays_highlighted_code_in_a_kernel(monkeypatch):
    shown = []
    monkeypatch.setattr(_env, "in_kernel", lambda: True)
    monkeypatch.setattr(_env, "display", lambda obj, **kw: shown.append(obj))
    viz.show_code(viz.LivePlot.update)
    assert len(shown) == 1 and isinstance(shown[0], Code)
    assert "def update(self" in shown[0].data
    assert "<span" in shown[0]._repr_html_()  # pygments highlighting


@pytest.mark.parametrize("bad", [3, "survey_lib.inpaint.nothing_here", "no_such_package.x"])
def test_show_code_rejects_objects_without_source(bad, no_kernel):
    with pytest.raises(InputError, match="show_code"):
        viz.show_code(bad)


# ----------------------------------------------------------------------------- LivePlot
class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class _Display:
    """Records IPython-style display calls: display(obj, display_id=True) -> handle."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, display_id=None):
        assert display_id is True
        self.shown.append(obj)
        return self

    def update(self, obj):
        self.updates.append(obj)


def test_liveplot_throttles_and_always_draws_on_close():
    clock, disp = _Clock(), _Display()
    live = viz.LivePlot("run", every_s=10, display=disp, clock=clock)
    drawn = []
    for step, t in enumerate([0.0, 4.0, 9.9, 10.0, 12.0, 25.0, 26.0]):
        clock.t = t
        drawn.append(live.update(step, {"l1": 1.0 / (step + 1)}))
    assert drawn == [True, False, False, True, False, True, False]
    live.close()  # step 6 was throttled: close draws it
    assert live.renders == 4 and len(disp.shown) == 1 and len(disp.updates) == 3
    assert all(isinstance(img, Image) and img.data[:8] == b"\x89PNG\r\n\x1a\n" for img in disp.shown + disp.updates)
    assert live.history == {"l1": [1.0, 0.5, 1 / 3, 0.25, 0.2, 1 / 6, 1 / 7]}
    assert live.steps["l1"] == [0, 1, 2, 3, 4, 5, 6]
    with pytest.raises(RuntimeError, match="after close"):
        live.update(6, {"l1": 0.1})


def test_liveplot_every_s_zero_draws_every_update_and_default_comes_from_preset():
    from survey_lib.config import get_preset

    disp = _Display()
    live = viz.LivePlot(every_s=0, display=disp, clock=_Clock())
    for step in range(3):
        assert live.update(step, {"a": 1.0})
    live.close()  # the last update is already on screen: no duplicate refresh
    assert live.renders == 3 and len(disp.updates) == 2
    assert viz.LivePlot(display=disp).every_s == get_preset().plot_every_s


def test_liveplot_without_kernel_is_silent_and_keeps_history(no_kernel, capsys):
    live = viz.LivePlot("cli", every_s=0)
    assert not live.active
    for step in range(4):
        assert live.update(step, {"g": torch.tensor(2.0), "d": -1}, preview=_batch(2)) is False
    live.close()
    assert capsys.readouterr().out == ""
    assert live.renders == 0 and live.history == {"g": [2.0] * 4, "d": [-1.0] * 4}
    assert live.preview.shape == (2, 3, 12, 10)


def test_liveplot_stdout_mode_prints_sparse_lines(no_kernel, capsys):
    clock = _Clock()
    live = viz.LivePlot("cli", every_s=5, stdout=True, clock=clock)
    for step in range(10):
        clock.t = float(step)
        live.update(step, {"loss": 0.5})
    live.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["cli: step 0: loss=0.5", "cli: step 5: loss=0.5", "cli: step 9: loss=0.5"]


def test_liveplot_in_a_kernel_draws_into_one_image_widget_even_inside_an_output(monkeypatch):
    """Regression (issue 8, finding 11): in a kernel the plot was a display handle, and inside
    the loss lab's ``ipywidgets.Output`` JupyterLab drops ``update_display_data``: the plot
    stayed at step 1. Now it is one ``ipywidgets.Image`` displayed once whose value is set at
    every refresh (a comm message), and no display-handle update is ever sent."""
    import ipywidgets
    from PIL import Image as PILImage

    shown, handle_updates = [], []

    class Handle:
        def update(self, obj):
            handle_updates.append(obj)

    def fake_display(obj, **kwargs):
        shown.append((obj, kwargs))
        return Handle()

    monkeypatch.setattr(_env, "in_kernel", lambda: True)
    monkeypatch.setattr(_env, "display", fake_display)
    out = ipywidgets.Output()
    values = []
    with out:
        live = viz.LivePlot("lab", every_s=0)
        for step in range(3):
            live.update(step, {"a": 1.0 / (step + 1)})
            values.append(live.widget.value)
        live.close()
    assert isinstance(live.widget, ipywidgets.Image) and live.widget.format == "png"
    assert len(shown) == 1 and shown[0][0] is live.widget and "display_id" not in shown[0][1]
    assert handle_updates == []
    assert live.renders == 3 and len(set(values)) == 3  # every refresh changed the picture
    for png in values:
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert PILImage.open(io.BytesIO(png)).size[0] > 100


def test_liveplot_figure_has_curves_preview_and_log_scale_choice():
    live = viz.LivePlot(every_s=0, display=_Display(), clock=_Clock())
    live.update(0, {"a": 1.0, "b": 2.0}, preview=_batch(4, c=1))
    fig = live.figure()
    curves, preview = fig.axes
    assert [ln.get_label() for ln in curves.get_lines()] == ["a", "b"]
    assert curves.get_yscale() == "log"
    assert preview.get_images()[0].get_array().shape == (2 * 12 + 1, 2 * 10 + 1)  # 2x2 tiles, 1 px gap
    live.update(1, {"a": -0.5})  # a hinge loss can be negative: "auto" falls back to linear
    assert live.figure().axes[0].get_yscale() == "linear"


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, [1.0]), "dict"),
        ((0, {"a": "big"}), "number"),
        ((0, {"a": torch.ones(2)}), "single number"),
        ((1.5, {"a": 1.0}), "step"),
        ((0, {"a": 1.0}, torch.rand(2, 3, 8)), "preview"),
    ],
)
def test_liveplot_rejects_bad_updates(args, match, no_kernel):
    with pytest.raises(InputError, match=match):
        viz.LivePlot(every_s=0).update(*args)


def test_liveplot_rejects_bad_settings():
    with pytest.raises(InputError, match="every_s"):
        viz.LivePlot(every_s=-1)
    with pytest.raises(InputError, match="log_scale"):
        viz.LivePlot(every_s=0, log_scale="maybe")


def test_bad_scores_sizes_and_preview_counts_are_clear_errors():
    """Regression: short scores gave an IndexError, max_preview=0 a numpy error at draw time,
    and non-positive figure sizes were accepted."""
    x, m = _batch(2), _mask(2)
    with pytest.raises(InputError, match=r"scores\['a'\] needs one value per row shown \(2\), got 1"):
        viz.show_inpainting(x, m, {"a": x}, n=2, scores={"a": [31.25]})
    with pytest.raises(InputError, match=r"scores\['b'\] names no method"):
        viz.show_inpainting(x, m, {"a": x}, n=2, scores={"b": [1.0, 2.0]})
    with pytest.raises(InputError, match="max_preview must be a positive int"):
        viz.LivePlot(every_s=0, max_preview=0)
    with pytest.raises(InputError, match="width must be a positive number"):
        viz.plot_taxonomy(width=-1)
    from survey_lib.metrics import EvalTable

    table = EvalTable("m", {"hole_psnr": np.array([20.0])}, np.array([0.05]), ["1-10%"])
    with pytest.raises(InputError, match="size must be a positive number"):
        viz.plot_bins({"m": table}, size=0)


def test_liveplot_text_is_readable_at_the_size_it_is_shown():
    live = viz.LivePlot("run", every_s=0, display=_Display(), clock=_Clock())
    live.update(0, {"a": 1.0, "b": 2.0}, preview=_batch(4))
    sizes = _env.shown_text_px(live.figure())
    assert min(sizes.values()) >= _env.MIN_TEXT_PX, sizes
