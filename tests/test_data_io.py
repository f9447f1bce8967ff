"""Image/mask file IO: round trips, polarity handling of user masks, clear errors, demos."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from survey_lib.data import (
    DEMO_IMAGES,
    DEMO_MASKS,
    DEMO_TASKS,
    InputError,
    check_mask,
    demo_image,
    demo_mask,
    load_image,
    load_mask,
    save_image,
)
from survey_lib.data.demo import DEMO_DIR


def _png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def test_save_and_load_image_round_trip(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 12, 17)
    path = save_image(image, tmp_path / "sub" / "x.png")
    back = load_image(path)
    assert back.shape == (1, 3, 12, 17) and back.dtype == torch.float32
    assert float((back - image).abs().max()) <= 0.5 / 255 + 1e-6  # 8-bit rounding only
    grey = save_image(torch.rand(1, 12, 17), tmp_path / "g.png")  # (C, H, W) accepted
    assert load_image(grey).shape == (1, 1, 12, 17)
    assert load_image(grey, channels=3).shape == (1, 3, 12, 17)


def test_load_image_resizes_and_centre_crops(tmp_path: Path) -> None:
    arr = np.zeros((30, 90, 3), np.uint8)
    arr[:, 30:60] = 200  # the centre third of a wide image
    image = load_image(_png(tmp_path / "w.png", arr), size=10)
    assert image.shape == (1, 3, 10, 10)
    assert torch.allclose(image, torch.full_like(image, 200 / 255), atol=1e-6)
    assert load_image(tmp_path / "w.png", size=(6, 12)).shape == (1, 3, 6, 12)


def test_load_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match="cannot read image file .*bad.png"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)
    with pytest.raises(InputError, match="path must be a str"):
        load_image(3)
    with pytest.raises(InputError, match="must lie in \\[0, 1\\]"):
        save_image(torch.full((1, 3, 4, 4), 2.0), tmp_path / "x.png")


def _hole() -> np.ndarray:
    m = np.zeros((16, 20), bool)
    m[4:9, 5:12] = True  # 35 of 320 pixels: a minority
    return m


def test_load_mask_white_hole(tmp_path: Path) -> None:
    path = _png(tmp_path / "white.png", (_hole() * 255).astype(np.uint8))
    for hole in ("white", "auto"):
        m = load_mask(path, hole=hole)
        assert m.shape == (1, 1, 16, 20) and torch.equal(m[0, 0].bool(), torch.from_numpy(_hole()))
        check_mask(m)


def test_load_mask_black_hole_is_inverted(tmp_path: Path) -> None:
    path = _png(tmp_path / "black.png", (~_hole() * 255).astype(np.uint8))  # NVIDIA style
    for hole in ("black", "auto"):
        assert torch.equal(load_mask(path, hole=hole)[0, 0].bool(), torch.from_numpy(_hole()))
    # forcing the wrong polarity gives the complement: the argument really decides
    assert torch.equal(load_mask(path, hole="white")[0, 0].bool(), torch.from_numpy(~_hole()))


def test_load_mask_ambiguous_polarity_warns(tmp_path: Path) -> None:
    half = np.zeros((10, 10), np.uint8)
    half[:, :5] = 255
    with pytest.warns(UserWarning, match="polarity is ambiguous"):
        load_mask(_png(tmp_path / "half.png", half))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mask(tmp_path / "half.png", hole="white")  # explicit: no warning


def test_load_mask_grey_values_are_thresholded_with_a_warning(tmp_path: Path) -> None:
    grey = np.zeros((8, 8), np.uint8)
    grey[2:4, 2:6] = 255
    grey[2:4, 6] = 200  # anti-aliased edge: counts as hole (> 0.5)
    grey[5, 5] = 100  # faint noise: not a hole (< 0.5)
    with pytest.warns(UserWarning, match="neither black nor white; thresholded at 0.5"):
        m = load_mask(_png(tmp_path / "grey.png", grey), hole="white")
    expected = torch.zeros(8, 8)
    expected[2:4, 2:7] = 1
    assert torch.equal(m[0, 0], expected)


def test_load_mask_colour_file_and_resize(tmp_path: Path) -> None:
    rgb = np.zeros((16, 20, 3), np.uint8)
    rgb[_hole()] = 255
    m = load_mask(_png(tmp_path / "rgb.png", rgb), size=8)
    assert m.shape == (1, 1, 8, 8) and set(m.unique().tolist()) == {0.0, 1.0}


def test_load_mask_rejects_useless_masks(tmp_path: Path) -> None:
    for value, word in ((0, "entirely black"), (255, "entirely white")):
        path = _png(tmp_path / f"flat{value}.png", np.full((6, 6), value, np.uint8))
        with pytest.raises(InputError, match=word):
            load_mask(path)
    with pytest.raises(InputError, match="hole must be 'auto', 'white' or 'black'"):
        load_mask(tmp_path / "flat0.png", hole="1")
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        load_mask(tmp_path / "nothing.png")


def test_demo_images_and_masks() -> None:
    for name in DEMO_IMAGES:
        image = demo_image(name)
        assert image.shape == (1, 3, 128, 128) and image.dtype == torch.float32
    for name in DEMO_MASKS:
        check_mask(demo_mask(name))
    assert demo_image("coffee", size=32).shape == (1, 3, 32, 32)
    for damaged, mask_name, clean in DEMO_TASKS.values():
        d, m, c = demo_image(damaged), demo_mask(mask_name), demo_image(clean)
        keep = ~m.bool().expand_as(c)
        assert torch.equal(d[keep], c[keep])  # damage only inside the mask
    scratched, m = demo_image("astronaut_scratched"), demo_mask("scratches").bool().expand(1, 3, -1, -1)
    assert torch.allclose(scratched[m], torch.tensor(0.92))
    with pytest.raises(InputError, match="unknown demo image 'lena'.*astronaut"):
        demo_image("lena")
    with pytest.raises(InputError, match="unknown demo mask"):
        demo_mask("blob")


def test_demo_folder_is_small() -> None:
    total = sum(p.stat().st_size for p in DEMO_DIR.iterdir())
    assert total < 300 * 1024


def test_a_photo_given_as_the_mask_is_refused(tmp_path: Path) -> None:
    """Regression: a photo passed as the mask was thresholded into a noise 'mask' with a warning."""
    ramp = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (32, 1))  # mostly mid-grey
    with pytest.raises(InputError, match=r"does not look like a mask: \d+% of its pixels are mid-grey"):
        load_mask(_png(tmp_path / "photo.png", ramp))


def test_save_image_refuses_unknown_extensions_and_paths_under_a_file(tmp_path: Path) -> None:
    """Regression: Pillow's bare 'unknown file extension' ValueError, or FileExistsError from mkdir."""
    with pytest.raises(InputError, match=r"unknown image extension '\.xyz'; use one of \.png"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.xyz")
    with pytest.raises(InputError, match=r"unknown image extension '\(none\)'"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out")
    blocker = tmp_path / "file.png"
    blocker.write_bytes(b"x")
    with pytest.raises(InputError, match="is a file, not a directory"):
        save_image(torch.rand(1, 3, 4, 4), blocker / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.png"]  # nothing written


def test_folder_of_only_unreadable_files_says_so(tmp_path: Path) -> None:
    """Regression: split='all' was told to 'use split=all' when every file was corrupt."""
    from survey_lib.data import make_dataset

    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="bad.png"), pytest.raises(InputError, match="no readable image file"):
        make_dataset("folder", root=tmp_path, split="all", size=8)


def test_checks_give_dtype_hints_and_validate_the_stride() -> None:
    from survey_lib.data import check_divisible, check_image

    with pytest.raises(InputError, match=r"got dtype torch.float16 \(convert it with .float\(\)\)"):
        check_image(torch.rand(1, 3, 4, 4).half())
    with pytest.raises(InputError, match="stride must be a positive int"):  # was ZeroDivisionError
        check_divisible(torch.rand(1, 3, 8, 8), 0)


# ------------------------------------------------------------ bit depth, orientation, odd files
def _exif_jpeg(path: Path, arr: np.ndarray, orientation: int) -> Path:
    """A JPEG whose pixels are stored as ``arr`` with an EXIF orientation tag (6 = turn 90° clockwise)."""
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(path, exif=exif.tobytes(), quality=95)
    return path


def test_16bit_files_are_scaled_by_bit_depth_not_content(tmp_path: Path) -> None:
    """Regression (issue 8.5): a dark 16-bit PNG (max <= 255) loaded 256 times too bright."""
    for ext in ("png", "tif"):
        dark = _png(tmp_path / f"dark.{ext}", np.full((6, 7), 200, np.uint16))
        image = load_image(dark)
        assert image.shape == (1, 1, 6, 7)
        assert torch.allclose(image, torch.full_like(image, 200 / 65535))  # old code: 200 / 255
        mid = load_image(_png(tmp_path / f"mid.{ext}", np.full((6, 7), 32768, np.uint16)), channels=3)
        assert mid.shape == (1, 3, 6, 7) and torch.allclose(mid, torch.full_like(mid, 32768 / 65535))


def test_high_bit_files_with_impossible_values_are_refused(tmp_path: Path) -> None:
    """Float TIFFs outside [0, 1] were clipped silently and NaN passed through."""
    Image.fromarray(np.full((4, 4), 0.25, np.float32), "F").save(tmp_path / "ok.tif")
    assert torch.allclose(load_image(tmp_path / "ok.tif"), torch.full((1, 1, 4, 4), 0.25))
    Image.fromarray(np.full((4, 4), 3.0, np.float32), "F").save(tmp_path / "bright.tif")
    with pytest.raises(InputError, match=r"float pixels must lie in \[0, 1\], got range \[3, 3\]"):
        load_image(tmp_path / "bright.tif")
    Image.fromarray(np.full((4, 4), np.nan, np.float32), "F").save(tmp_path / "nan.tif")
    with pytest.raises(InputError, match="nan.tif' contains NaN"):
        load_image(tmp_path / "nan.tif")
    # a 32-bit integer TIFF is scaled by its BitsPerSample/SampleFormat tags (signed: 2**31 - 1)
    Image.fromarray(np.full((4, 4), 2**30, np.int32), "I").save(tmp_path / "i32.tif")
    assert torch.allclose(load_image(tmp_path / "i32.tif"), torch.full((1, 1, 4, 4), 2**30 / (2**31 - 1)))


def test_exif_orientation_is_applied_to_images_and_masks(tmp_path: Path) -> None:
    """Regression (issue 8.6): a portrait photo stored turned, with an orientation tag, loaded sideways."""
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, :16] = 255  # left half white as stored; orientation 6 shows it on top
    image = load_image(_exif_jpeg(tmp_path / "portrait.jpg", stored, 6))
    assert image.shape == (1, 3, 32, 16)  # old code: (1, 3, 16, 32)
    assert float(image[0, :, :14].mean()) > 0.95 and float(image[0, :, 18:].mean()) < 0.05
    # a mask painted on the picture as displayed (a PNG without EXIF) now matches it
    painted = np.zeros((32, 16), np.uint8)
    painted[4:10, 4:12] = 255
    mask = load_mask(_png(tmp_path / "painted.png", painted))
    check_mask(mask, like=image)
    # and a mask saved by a camera app with the same tag turns the same way
    with pytest.warns(UserWarning, match="thresholded"):  # JPEG noise around the edges
        turned = load_mask(_exif_jpeg(tmp_path / "mask.jpg", np.rot90(painted, 1).copy(), 6), hole="white")
    assert turned.shape == (1, 1, 32, 16) and torch.equal(turned, mask)


def test_size_mismatch_hints_at_rotation_or_resizing() -> None:
    image = torch.rand(1, 3, 32, 16)
    hole = torch.zeros(1, 1, 16, 32)
    hole[..., 2:5, 2:5] = 1
    with pytest.raises(InputError, match="height and width are swapped: was one of them rotated.*EXIF"):
        check_mask(hole, like=image)
    with pytest.raises(InputError, match="resized or rotated copy"):
        check_mask(hole[..., :8, :8], like=image)


def test_only_the_first_frame_of_an_animation_with_a_warning(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (40, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="anim.gif' holds 2 frames.*using the first"):
        image = load_image(tmp_path / "anim.gif")
    assert abs(float(image.mean()) - 40 / 255) < 0.02


def test_a_pipe_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    """Regression: load_image on a FIFO waited forever for a writer."""
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("named pipes need a POSIX system")
    os.mkfifo(tmp_path / "pipe.png")
    for loader in (load_image, load_mask):
        with pytest.raises(InputError, match="not a regular file"):
            loader(tmp_path / "pipe.png")


def test_odd_but_valid_files_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 2), dtype=np.uint8), "LA").save(tmp_path / "la.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey.jpg")
    Image.fromarray(rgb).save(tmp_path / "with space.tiff")
    expected = {"palette.png": 3, "la.png": 1, "rgba.png": 3, "cmyk.jpg": 3, "grey.jpg": 1, "with space.tiff": 3}
    for name, channels in expected.items():
        image = load_image(tmp_path / name)
        assert image.shape == (1, channels, 8, 8), name
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    hole = np.zeros((8, 8), bool)
    hole[2:4, 2:5] = True
    Image.fromarray(hole).save(tmp_path / "one_bit.png")  # mode "1"
    assert torch.equal(load_mask(tmp_path / "one_bit.png")[0, 0].bool(), torch.from_numpy(hole))


def test_a_mask_drawn_only_in_the_alpha_channel(tmp_path: Path) -> None:
    """Regression: a hole marked by opacity alone was read as 'entirely black'."""
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:4, 2:5, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    with pytest.warns(UserWarning, match="only its transparency varies"):
        m = load_mask(tmp_path / "alpha.png")
    assert int(m.sum()) == 6 and float(m[0, 0, 2:4, 2:5].min()) == 1.0


def test_a_16bit_mask_too_dark_for_its_depth_says_why(tmp_path: Path) -> None:
    hole = np.zeros((8, 8), np.uint16)
    hole[2:4, 2:4] = 65535
    assert int(load_mask(_png(tmp_path / "m16.png", hole)).sum()) == 4
    with pytest.raises(InputError, match="entirely black.*white is 65535, but its brightest pixel is only 255"), \
            pytest.warns(UserWarning, match="neither black nor white"):
        load_mask(_png(tmp_path / "m8in16.png", (hole > 0).astype(np.uint16) * 255))


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    import os

    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"  # Latin-1 bytes: not valid UTF-8
    try:
        with open(raw, "wb") as f:
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(f, format="PNG")
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    path = Path(os.fsdecode(raw))
    assert load_image(path).shape == (1, 1, 4, 4)
    with pytest.raises(InputError, match=r"caf\\xe9.png' is entirely black") as info:
        load_mask(path)
    str(info.value).encode("utf-8")  # the message can be printed and logged
