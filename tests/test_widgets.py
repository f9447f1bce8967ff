"""survey_lib.widgets: exact stroke rasterisation, painter/explorer/picker scripted headless."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from survey_lib.data.checks import InputError, check_mask
from survey_lib.widgets import (
    InpaintPicker,
    MaskExplorer,
    MaskPainter,
    Stroke,
    make_stroke,
    rasterize,
)


def _image(c=3, h=16, w=20, seed=0):
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed))


def _disk(h, w, x0, y0, r):
    """Pixels whose centre (col, row) lies within r of (x0, y0), computed pixel by pixel."""
    out = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            out[i, j] = (j - x0) ** 2 + (i - y0) ** 2 <= r * r
    return out


# ----------------------------------------------------------------------------- strokes
def test_single_point_stroke_is_the_exact_disk():
    mask = rasterize([make_stroke([(5, 7)], 3)], 16, 16)
    assert mask.sum() == 29  # lattice points with x^2 + y^2 <= 9
    np.testing.assert_array_equal(mask, _disk(16, 16, 5, 7, 3))


def test_horizontal_segment_is_a_capsule():
    mask = rasterize([make_stroke([(2, 5), (10, 5)], 1.5)], 12, 14)
    expected = np.zeros((12, 14), bool)
    expected[4:7, 1:12] = True  # rows 5 +- 1, columns 2 - 1 .. 10 + 1 (corners at sqrt(2) <= 1.5)
    np.testing.assert_array_equal(mask, expected)


def test_polyline_is_the_union_of_its_segments_and_direction_free():
    pts = [(1.0, 1.0), (9.5, 4.0), (3.0, 12.0)]
    whole = rasterize([make_stroke(pts, 2.0)], 15, 12)
    parts = rasterize([make_stroke(pts[:2], 2.0), make_stroke(pts[1:], 2.0)], 15, 12)
    reverse = rasterize([make_stroke(pts[::-1], 2.0)], 15, 12)
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(whole, reverse)
    diag = rasterize([make_stroke([(0, 0), (11, 11)], 0.5)], 12, 12)
    np.testing.assert_array_equal(diag, np.eye(12, dtype=bool))  # off-diagonal centres are 0.707 away


def test_strokes_outside_the_image_are_clipped():
    assert not rasterize([make_stroke([(-5, -5), (-3, -1)], 1.0)], 8, 8).any()
    mask = rasterize([make_stroke([(-5, -5), (-1, 2)], 1.0)], 8, 8)
    assert mask.sum() == 1 and mask[2, 0]  # only the end cap reaches pixel (x=0, y=2), at distance 1
    mask = rasterize([make_stroke([(-3, 3)], 3.0)], 8, 8)
    np.testing.assert_array_equal(mask, _disk(8, 8, -3, 3, 3))


@pytest.mark.parametrize(
    "points, radius, match",
    [([], 2, "non-empty"), ([(1, 2, 3)], 2, r"points\[0\]"), ([(1, float("nan"))], 2, "finite"),
     ([(1, 2)], 0, "radius"), ([(1, 2)], -1, "radius"), ("ab", 2, "non-empty")],
)
def test_make_stroke_rejects_bad_input(points, radius, match):
    with pytest.raises(InputError, match=match):
        make_stroke(points, radius)


# ----------------------------------------------------------------------------- painter
def test_painter_starts_with_an_example_stroke_in_the_library_convention():
    painter = MaskPainter(_image())
    mask = painter.mask
    assert mask.shape == (1, 1, 16, 20) and mask.dtype == torch.float32
    check_mask(mask)  # binary, neither empty nor full
    assert 0 < painter.hole_ratio < 0.6
    assert MaskPainter(_image(), initial_strokes=[]).mask.sum() == 0


def test_painter_add_undo_clear():
    painter = MaskPainter(_image(), brush=4, initial_strokes=[])
    painter.add_stroke([(5, 7)], 3)
    np.testing.assert_array_equal(painter.mask[0, 0].numpy(), _disk(16, 20, 5, 7, 3))
    painter.add_stroke([(15, 2), (15, 12)])  # default radius = brush / 2
    assert painter.strokes[-1] == Stroke(((15.0, 2.0), (15.0, 12.0)), 2.0)
    two = painter.mask.clone()
    assert two.sum() > 29
    assert painter.undo() is True
    np.testing.assert_array_equal(painter.mask[0, 0].numpy(), _disk(16, 20, 5, 7, 3))
    painter.add_stroke([(15, 2), (15, 12)])
    assert torch.equal(painter.mask, two)
    painter.clear()
    assert painter.mask.sum() == 0 and painter.strokes == []
    assert painter.undo() is False


def test_painter_initial_strokes_and_change_listener():
    calls = []
    painter = MaskPainter(_image(c=1), initial_strokes=[([(5, 7)], 3)])
    painter.on_change(lambda p: calls.append(len(p.strokes)))
    np.testing.assert_array_equal(painter.mask[0, 0].numpy(), _disk(16, 20, 5, 7, 3))
    painter.add_stroke([(1, 1)], 1)
    painter.undo()
    assert calls == [2, 1]


@pytest.mark.parametrize(
    "image, kwargs, match",
    [(torch.rand(2, 3, 8, 8), {}, "one image"), (torch.rand(1, 3, 8, 8), {"brush": 0}, "brush"),
     (torch.rand(1, 3, 8, 8) * 3, {}, r"\[0, 1\]")],
)
def test_painter_rejects_bad_input(image, kwargs, match):
    with pytest.raises(InputError, match=match):
        MaskPainter(image, **kwargs)


def test_painter_widget_builds_headless_and_mouse_paints_in_image_coordinates():
    painter = MaskPainter(_image(), brush=2, initial_strokes=[], scale=4)
    widget = painter.widget
    canvas = widget.children[0]
    assert (canvas.width, canvas.height) == (80, 64)
    # a drag along image row 6 from column 3 to column 9 (canvas pixel centres: 4 * j + 2)
    painter._on_mouse_down(4 * 3 + 2, 4 * 6 + 2)
    painter._on_mouse_move(4 * 6 + 2, 4 * 6 + 2)
    painter._on_mouse_up(4 * 9 + 2, 4 * 6 + 2)
    assert painter.strokes == [Stroke(((3.0, 6.0), (6.0, 6.0)), 1.0)]
    expected = np.zeros((16, 20), bool)
    expected[5:8, 3:7] = True  # radius 1: one row above/below, one pixel past each end
    expected[5, 2] = expected[7, 2] = expected[5, 7] = expected[7, 7] = False
    expected[6, 2] = expected[6, 7] = True
    np.testing.assert_array_equal(painter.mask[0, 0].numpy(), expected)
    assert "1 stroke" in widget.children[2].value
    widget.children[1].children[0].value = 6  # the brush slider sets the width
    assert painter.brush == 6.0


def test_painter_canvas_is_shown_at_its_pixel_size_and_zoom_resizes_it():
    """Regression (issue 8, finding 12): ipycanvas stretched the 256 px canvas to the output
    width (968 px), blurring it and pushing the controls below the fold. The canvas layout now
    equals its pixel size, and the zoom control changes both together (mouse mapping too)."""
    painter = MaskPainter(_image(h=64, w=64), brush=2, initial_strokes=[])
    canvas = painter.widget.children[0]
    assert painter.scale == 4 and (canvas.width, canvas.height) == (256, 256)
    assert (canvas.layout.width, canvas.layout.height) == ("256px", "256px")
    zoom = painter._zoom
    assert zoom.value == 4 and zoom in painter.widget.children[1].children
    zoom.value = 2
    assert painter.scale == 2 and (canvas.width, canvas.height) == (128, 128)
    assert (canvas.layout.width, canvas.layout.height) == ("128px", "128px")
    painter._on_mouse_down(2 * 10 + 1, 2 * 20 + 1)  # canvas pixel centre of image pixel (10, 20)
    painter._on_mouse_up(2 * 10 + 1, 2 * 20 + 1)
    assert painter.strokes[-1].points == ((10.0, 20.0),)
    painter.set_zoom(5)  # a zoom the menu lacks: added, and the dropdown shows it
    assert zoom.value == 5 and canvas.layout.width == "320px" and canvas.width == 320
    with pytest.raises(InputError, match="scale must be a positive int"):
        painter.set_zoom(0)


# ----------------------------------------------------------------------------- explorer
def test_explorer_masks_follow_seed_and_family():
    from survey_lib.data.masks import generate_masks

    ex = MaskExplorer(family="boxes", n=4, size=24, seed=0)
    first = ex.masks.clone()
    assert first.shape == (4, 1, 24, 24)
    check_mask(first)
    torch.testing.assert_close(first, generate_masks("boxes", 4, 24, 24, seed=0))
    assert not torch.equal(ex.set(seed=1), first)
    assert torch.equal(ex.set(seed=0), first)
    centre = ex.set(family="center")
    torch.testing.assert_close(centre, generate_masks("center", 4, 24, 24, seed=0))


def test_explorer_parameters_come_from_the_generator():
    ex = MaskExplorer(family="center", n=2, size=20)
    assert ex.params == {"ratio": 0.25}
    torch.testing.assert_close(ex.ratios, torch.full((2,), 0.25))  # a 10x10 box in 20x20
    ex.set(ratio=0.09)
    torch.testing.assert_close(ex.ratios, torch.full((2,), 0.36 / 4))  # a 6x6 box
    ex.set(family="ratio_20_30", n=3)
    assert ex.params == {"lo": 0.2, "hi": 0.3}
    assert ((ex.ratios >= 0.2) & (ex.ratios < 0.3)).all()


def test_explorer_rejects_bad_settings():
    ex = MaskExplorer(family="center", n=2, size=16)
    with pytest.raises(InputError, match="unknown mask family"):
        ex.set(family="zebra")
    with pytest.raises(InputError, match="no parameter"):
        ex.set(max_boxes=4)
    with pytest.raises(InputError, match="n must be at least 1"):
        ex.set(n=0)


def test_explorer_widget_builds_headless_and_controls_drive_it():
    ex = MaskExplorer(family="center", n=2, size=16)
    widget = ex.widget
    assert widget.children[1].value[:8] == b"\x89PNG\r\n\x1a\n"
    ex._family.value = "boxes"
    assert ex.family == "boxes" and ex.params == {"max_boxes": 3}
    assert [c.description for c in ex._params_box.children] == ["max_boxes"]
    ex._seed.value = 5
    assert ex.seed == 5
    ex._family.value = "ratio_20_30"
    ex._params_box.children[0].value = 0.5  # lo above hi: shown as a message, not raised
    assert "color:#b00" in ex._status.value


def test_explorer_set_from_a_script_updates_the_controls():
    """Regression (issue 8, finding 13): ``set(...)`` changed the picture, not the dropdown and
    sliders, so the controls lied and choosing the shown family again did nothing."""
    ex = MaskExplorer(family="center", n=2, size=16)
    assert ex.widget is not None  # builds the controls
    picture = ex._picture.value
    ex.set(family="boxes", seed=7, n=3, max_boxes=2)
    assert ex._picture.value != picture
    assert (ex._family.value, ex._seed.value, ex._count.value) == ("boxes", 7, 3)
    assert [(c.description, c.value) for c in ex._params_box.children] == [("max_boxes", 2)]
    ex.set(family="center")  # ... and back with the dropdown: the event fires again
    assert ex._family.value == "center"
    ex._family.value = "boxes"
    assert ex.family == "boxes" and ex._count.value == 3
    ex.set(seed=5000, n=40)  # outside the sliders' ranges: the ranges widen, values shown
    assert (ex._seed.value, ex._count.value) == (5000, 40) and ex.masks.shape[0] == 40
    ex.set(family="ratio_20_30")
    lo = ex._params_box.children[0]
    lo.value = 0.5  # refused (lo above hi): the slider goes back to the explorer's value
    assert "color:#b00" in ex._status.value and lo.value == ex.params["lo"] == 0.2
    with pytest.raises(InputError, match="seed must be >= 0"):
        ex.set(seed=-1)
    assert ex._seed.value == 5000


# ----------------------------------------------------------------------------- picker
class _Fill:
    """A stand-in method: fills everything with one value."""

    def __init__(self, value):
        self.value = value
        self.name = f"fill {value}"

    def __call__(self, image, mask):
        return torch.full_like(image, self.value)


def test_picker_runs_a_method_on_the_painted_hole_and_keeps_known_pixels():
    img = _image()
    painter = MaskPainter(img, initial_strokes=[([(5, 7), (12, 9)], 2.5)])
    picker = InpaintPicker(img, methods={"half": _Fill(0.5)}, painter=painter)
    out = picker.run("half")
    hole = painter.mask.bool().expand_as(img)
    assert torch.equal(out[~hole], img[~hole])
    assert (out[hole] == 0.5).all()
    row = picker.table()[0]
    hole_mse = ((img - 0.5)[hole] ** 2).mean().item()
    assert row["hole PSNR"] == pytest.approx(10 * np.log10(1 / hole_mse), rel=1e-5)
    whole_mse = ((out - img) ** 2).mean().item()
    assert row["PSNR"] == pytest.approx(10 * np.log10(1 / whole_mse), rel=1e-5)
    assert 0 < row["SSIM"] < 1


def test_picker_default_baselines_keep_known_pixels_and_results_follow_the_mask():
    img = _image(c=1)
    picker = InpaintPicker(img)
    assert set(picker.methods) == {"telea", "navier_stokes", "biharmonic", "exemplar"}
    out = picker.run("telea")
    known = ~picker.mask.bool()
    assert torch.equal(out[known], img[known])
    assert list(picker.results) == ["telea"]
    picker.painter.add_stroke([(2, 2)], 2)  # a new mask invalidates old fills
    assert picker.results == {}
    assert set(picker.run_all()) == set(picker.methods)


def test_picker_rejects_bad_input():
    img = _image()
    with pytest.raises(InputError, match="unknown method"):
        InpaintPicker(img, methods={"half": _Fill(0.5)}).run("magic")
    with pytest.raises(InputError, match="empty"):
        InpaintPicker(img, methods={})
    with pytest.raises(InputError, match="different image"):
        InpaintPicker(img, methods={"half": _Fill(0.5)}, painter=MaskPainter(_image(seed=1)))
    picker = InpaintPicker(img, methods={"half": _Fill(0.5)}, painter=MaskPainter(img, initial_strokes=[]))
    with pytest.raises(InputError, match="no hole"):
        picker.run("half")


def test_picker_widget_builds_headless_and_inpaints_on_click():
    img = _image()
    picker = InpaintPicker(img, methods={"half": _Fill(0.5), "dark": _Fill(0.0)})
    widget = picker.widget
    picker._choice.value = ("half", "dark")
    picker._run_selected()
    assert len(picker._images.children) == 2
    assert "hole PSNR" in picker._table.value and "dark" in picker._table.value
    picker.painter.clear()
    picker._run_selected()
    assert "no hole" in picker._table.value  # a message in the widget, not a traceback
    assert widget.children[0] is picker.painter.widget


def test_bad_painter_arguments_are_clear_errors():
    """Regression: initial_strokes=[3] raised a TypeError about '*' and scale=2.5 became 2."""
    with pytest.raises(InputError, match=r"initial_strokes\[0\] must be a Stroke or a \(points, radius\) pair"):
        MaskPainter(_image(), initial_strokes=[3])
    with pytest.raises(InputError, match="scale must be a positive int"):
        MaskPainter(_image(), scale=2.5)
    with pytest.raises(InputError, match="height must be a positive int"):
        rasterize([], -1, 4)


def test_explorer_keeps_its_state_when_a_parameter_is_refused():
    """Regression: a bad value was stored first, so every later call failed too."""
    explorer = MaskExplorer("center", n=2, size=16)
    before = explorer.masks.clone()
    with pytest.raises(InputError, match="ratio must be a fraction"):
        explorer.set(ratio=-5)
    with pytest.raises(InputError, match="parameter 'ratio' of 'center' must be a float"):
        explorer.set(ratio="abc")
    assert explorer.params == {"ratio": 0.25} and torch.equal(explorer.masks, before)
    assert explorer.set(ratio=0.5).mean().item() == 11 * 11 / 256  # side round(16 * sqrt(0.5)) = 11


# ----------------------------------------------------------------------------- loss lab board
def test_perception_distortion_names_every_run_readably_without_overlaps():
    """Regression (issue 8, finding 15): runs with almost equal scores (the three classical
    baselines) had their labels written on top of one another at their points."""
    from survey_lib.viz import _env
    from survey_lib.widgets.losslab import LossLabBoard

    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 16, 16, generator=g)
    masks = torch.zeros(4, 1, 16, 16)
    masks[..., 4:12, 4:12] = 1
    board = LossLabBoard(images, masks, n_show=2, perceptual="proxy")
    for name, value in (("telea", 0.50), ("navier_stokes", 0.501), ("biharmonic", 0.502), ("L1 only", 0.3)):
        board.add(name, _Fill(value), kind="classical" if value > 0.4 else "learned")
    fig = board.perception_distortion()
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(board.runs)
    assert min(_env.shown_text_px(fig).values()) >= _env.MIN_TEXT_PX
    renderer = _env.agg_renderer(fig)
    fig.draw(renderer)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _env.visible_texts(fig)]
    clash = [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
             if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 1 and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 1]
    assert clash == []
    markers = [c.get_paths()[0].vertices.shape[0] for c in ax.collections]
    assert markers[0] != markers[3]  # classical squares, learned circles
    with pytest.raises(InputError, match="not on the board"):
        board.perception_distortion(x="fid")


def test_loss_lab_controls_default_to_vgg16_and_refuse_unknown_networks():
    """Regression (issue 9): the controls trained feature terms on the random network by
    default, and a misspelt network was only refused when ``run()`` was pressed."""
    from survey_lib.widgets.losslab import LossLabBoard, LossLabControls

    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(2, 1, 16, 16)
    masks[..., 4:12, 4:12] = 1
    board = LossLabBoard(images, masks, n_show=1, perceptual="proxy")
    assert LossLabControls(board, (images, masks), 3, steps=1).feature_net == "vgg16"
    assert LossLabControls(board, (images, masks), 3, steps=1, feature_net="random").feature_net == "random"
    for bad in ("VGG16", "resnet", None):
        with pytest.raises(InputError, match="feature_net must be one of vgg16, random, trained"):
            LossLabControls(board, (images, masks), 3, steps=1, feature_net=bad)


class _Counting:
    """A stand-in method that counts the images it is asked to fill (and blurs nothing)."""

    name = "counting"

    def __init__(self):
        self.images = 0

    def __call__(self, image, mask):
        self.images += len(image)
        return torch.rot90(image, 1, (-2, -1)).contiguous()  # a textured, wrong fill


def _lab_set(n=6, side=16, seed=2):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, side, side, generator=g)
    masks = torch.zeros(n, 1, side, side)
    for i in range(n):  # holes of growing size: a range of hole ratios
        masks[i, :, 2:4 + 2 * i, 3:9 + i] = 1
    return images, masks


def test_board_keeps_per_image_tables_that_decide_claims_and_runs_a_method_once():
    """Issue 10: the chapter decides claims 1, 11 and 12 on the board's runs, so the board
    keeps each run's per-image table with the canonical sharpness; and a slow classical
    method was run twice per image (once by evaluate, once for the composites)."""
    from survey_lib.claims import claim_1_adversarial_sharpens
    from survey_lib.inpaint import blank_hole, composite
    from survey_lib.metrics import hole_gradient_energy
    from survey_lib.widgets.losslab import LossLabBoard

    images, masks = _lab_set()
    board = LossLabBoard(images, masks, n_show=2, perceptual="proxy")
    counting = _Counting()
    board.add("rotated", counting, kind="learned")
    assert counting.images == len(images)  # once per image for every board metric
    board.add("flat", _Fill(0.5), kind="classical")
    table = board.table("rotated")
    assert table.n == len(images) and np.allclose(table.ratios, masks.mean((1, 2, 3)).numpy())
    fill = torch.rot90(blank_hole(images, masks), 1, (-2, -1))  # what the method returned
    expected = hole_gradient_energy(composite(images, masks, fill), masks)
    assert np.allclose(table.per_image["sharpness"], expected.numpy(), equal_nan=True)
    assert board.value("rotated", "hole_grad_energy") == pytest.approx(float(torch.nanmean(expected)))
    assert np.allclose(board.truth_sharpness, hole_gradient_energy(images, masks).numpy())
    assert board.table("flat").per_image["sharpness"] == pytest.approx(np.zeros(len(images)))
    verdict = claim_1_adversarial_sharpens(board.table("flat"), board.table("rotated"),
                                           truth_sharpness=board.truth_sharpness, n_boot=200)
    assert verdict.verdict == "HELD" and verdict.n == len(images)  # texture vs flat: sharper
    with pytest.raises(KeyError, match="no run 'nope'"):
        board.table("nope")


def test_lab_budget_is_compute_not_steps_and_the_controls_use_it():
    """Issue 10: a VGG16 perceptual/style step costs ~8.5 L1-only steps, so a live lab run at
    the cpu preset with the feature network gets the same minutes, not the same steps; at
    gpu (or from scratch) every run keeps the full budget. The controls trained the
    preset's full step count whatever the loss."""
    from survey_lib.config import get_preset
    from survey_lib.models.loss_lab import STEP_COST_FEATURES, live_budget
    from survey_lib.models.registry import live_preset
    from survey_lib.widgets.losslab import LossLabBoard, LossLabControls

    cpu = get_preset("cpu")
    plain = live_budget({"valid_l1": 1, "hole_l1": 6}, cpu)
    assert plain.steps == live_preset("loss_lab", cpu).steps < cpu.steps
    style = live_budget({"hole_l1": 6, "style": 120}, cpu)
    assert style.steps == round(plain.steps / STEP_COST_FEATURES) and style.steps < plain.steps
    assert live_budget({"hole_l1": 6, "adversarial": 0.1}, cpu).steps == plain.steps  # claim 1: equal steps
    assert live_budget({"hole_l1": 6, "style": 120}, "gpu").steps == get_preset("gpu").steps
    assert live_budget({"style": 1.0}, cpu.with_overrides(steps=4, live_fraction=1.0)).steps == 1  # at least 1
    with pytest.raises(InputError, match="every loss weight is zero"):
        live_budget({"hole_l1": 0.0}, cpu)
    with pytest.raises(InputError, match="unknown loss term"):
        live_budget({"L1": 1.0}, cpu)

    images, masks = _lab_set()
    board = LossLabBoard(images, masks, n_show=1, perceptual="proxy")
    controls = LossLabControls(board, (images, masks), 3, preset=cpu)
    assert controls.budget().steps == plain.steps
    assert controls.set(style=120.0).budget().steps == style.steps
    assert LossLabControls(board, (images, masks), 3, preset=cpu, steps=3).budget().steps == 3
    for bad in (0, -2, 2.5, True, "10"):
        with pytest.raises(InputError, match="steps must be a positive int or None"):
            LossLabControls(board, (images, masks), 3, preset=cpu, steps=bad)
