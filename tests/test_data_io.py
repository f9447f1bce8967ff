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
