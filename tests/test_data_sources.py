"""Built-in sources and datasets: shapes and ranges, determinism, DataLoader workers,
leak-free splits (photos, textures, faces, glyphs), the folder loader, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from survey_lib.config import get_preset
from survey_lib.data import (
    SOURCES,
    InpaintingDataset,
    InputError,
    check_pair,
    make_dataset,
    sample_batch,
)
from survey_lib.data.faces import N_FACES, lfw_faces
from survey_lib.data.folder import Folder
from survey_lib.data.glyphs import TEST_FONTS, TRAIN_FONTS
from survey_lib.data.photos import PHOTO_SPLITS
from survey_lib.data.textures import TEXTURE_FILES, texture_region

BUILT_IN = ["glyphs", "shapes", "photos", "textures", "faces"]
CHANNELS = {"glyphs": 1, "shapes": 3, "photos": 3, "textures": 3, "faces": 1}


@pytest.mark.parametrize("name", BUILT_IN)
@pytest.mark.parametrize("split", ["train", "test"])
def test_sources_give_valid_pairs(name: str, split: str) -> None:
    ds = make_dataset(name, split=split, size=24, length=6, masks="brush", seed=0)
    assert len(ds) == 6 and ds.channels == CHANNELS[name] and ds.size == 24
    images, masks = sample_batch(ds, 6)
    assert images.shape == (6, CHANNELS[name], 24, 24) and masks.shape == (6, 1, 24, 24)
    check_pair(images, masks)  # float32, [0, 1], binary non-empty non-full masks
    assert float(images.std()) > 0.02  # not blank
    assert len({img.numpy().tobytes() for img in images}) == 6  # six different images


@pytest.mark.parametrize("name", BUILT_IN)
def test_datasets_are_deterministic_per_seed(name: str) -> None:
    a = make_dataset(name, size=16, length=4, seed=1)
    b = make_dataset(name, size=16, length=4, seed=1)
    c = make_dataset(name, size=16, length=4, seed=2)
    for i in range(4):
        assert all(torch.equal(x, y) for x, y in zip(a[i], b[i]))
    assert not torch.equal(sample_batch(a, 4)[0], sample_batch(c, 4)[0])
    assert not torch.equal(sample_batch(a, 4)[1], sample_batch(c, 4)[1])
    # changing the mask family never changes the images (independent streams)
    d = make_dataset(name, size=16, length=4, seed=1, masks="lama_thin")
    assert torch.equal(sample_batch(a, 4)[0], sample_batch(d, 4)[0])
    assert torch.equal(a[-1][0], a[3][0])


def test_dataloader_with_workers_gives_the_same_tensors() -> None:
    ds = make_dataset("photos", size=16, length=8, masks="ratio_10_20", seed=3)
    direct = sample_batch(ds, 8)
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=workers)
        images, masks = (torch.cat(t) for t in zip(*loader))
        assert torch.equal(images, direct[0]) and torch.equal(masks, direct[1])


def test_non_square_sizes_and_channel_choice() -> None:
    ds = make_dataset("shapes", size=(24, 40), length=2)
    image, mask = ds[0]
    assert image.shape == (3, 24, 40) and mask.shape == (1, 24, 40) and ds.size == (24, 40)
    grey = make_dataset("photos", size=16, length=2, channels=1)
    assert grey[0][0].shape == (1, 16, 16)
    rgb_faces = make_dataset("faces", size=16, length=2, channels=3)[0][0]
    assert rgb_faces.shape == (3, 16, 16)
    assert torch.equal(rgb_faces[0], rgb_faces[1]) and torch.equal(rgb_faces[1], rgb_faces[2])


def test_defaults_come_from_the_preset() -> None:
    preset = get_preset()
    assert make_dataset("glyphs").size == preset.glyph_size
    train, test = make_dataset("shapes"), make_dataset("shapes", split="test")
    assert train.size == preset.image_size
    assert len(train) == preset.train_images and len(test) == preset.eval_images


def test_photo_split_leaks_nothing() -> None:
    train = make_dataset("photos", "train", size=16, length=150, seed=0)
    test = make_dataset("photos", "test", size=16, length=60, seed=0)
    train_photos = {train.describe(i)["photo"] for i in range(len(train))}
    test_photos = {test.describe(i)["photo"] for i in range(len(test))}
    assert train_photos.isdisjoint(test_photos)
    assert test_photos == set(PHOTO_SPLITS["test"]) and len(test_photos) >= 2
    assert train_photos == set(PHOTO_SPLITS["train"])
    train_crops = {train.image(i).numpy().tobytes() for i in range(len(train))}
    assert not any(test.image(i).numpy().tobytes() in train_crops for i in range(len(test)))
    # the test split is never flipped; the training split is, about half the time
    assert not any(test.describe(i)["flipped"] for i in range(len(test)))
    assert 0.3 < np.mean([train.describe(i)["flipped"] for i in range(len(train))]) < 0.7


def test_texture_crops_of_the_two_splits_never_overlap() -> None:
    boxes = {}
    for split in ("train", "test"):
        ds = make_dataset("textures", split, size=32, length=80, seed=0)
        infos = [ds.describe(i) for i in range(len(ds))]
        boxes[split] = [(d["texture"], d["box"]) for d in infos if d["box"] is not None]
        for name, box in boxes[split]:
            top, left, h, w = texture_region(name, split)
            assert left <= box.left and box.left + box.width <= left + w
    assert boxes["train"] and boxes["test"]
    for name_a, a in boxes["train"]:
        assert not any(name_a == name_b and a.overlaps(b) for name_b, b in boxes["test"])
    assert set(TEXTURE_FILES) == {n for n, _ in boxes["train"]}


def test_faces_split_by_index() -> None:
    assert lfw_faces().shape == (N_FACES, 25, 25)
    train = make_dataset("faces", "train", size=16, length=200)
    test = make_dataset("faces", "test", size=16, length=40)
    train_ids = {train.describe(i)["face"] for i in range(len(train))}
    test_ids = {test.describe(i)["face"] for i in range(len(test))}
    assert train_ids == set(range(80)) and test_ids == set(range(80, 100))


def test_glyph_fonts_are_split_and_glyphs_drawn() -> None:
    assert set(TRAIN_FONTS).isdisjoint(TEST_FONTS)
    test = make_dataset("glyphs", "test", size=32, length=40)
    assert {test.describe(i)["font"] for i in range(40)} <= set(TEST_FONTS)
    image = test.image(0)[0]
    ink = image > 0.5
    assert 10 < int(ink.sum()) < 32 * 32 // 2  # a character, not a blank or a blot


# --------------------------------------------------------------------------- folder
def _write_images(root: Path, n: int = 4) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"img_{i}.png")


def test_folder_skips_a_corrupt_file_and_names_it(tmp_path: Path) -> None:
    _write_images(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable image file.*broken\.jpg"):
        ds = make_dataset("folder", split="all", root=tmp_path, size=16, masks="center")
    assert len(ds) == 4 and len(ds.source.files) == 4
    images, masks = sample_batch(ds, 4)
    assert images.shape == (4, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the good files load without any warning
        ds[0]


def test_folder_truncated_file_is_skipped_at_load_time(tmp_path: Path) -> None:
    _write_images(tmp_path, 2)
    good = (tmp_path / "img_0.png").read_bytes()
    (tmp_path / "img_0.png").write_bytes(good[: len(good) // 2])  # header fine, pixels cut
    ds = make_dataset("folder", split="all", root=tmp_path, size=16, flip=False)
    with pytest.warns(UserWarning, match=r"skipping unreadable image file .*img_0\.png"):
        image, _ = ds[0]
    assert torch.equal(image, ds[1][0])  # the next file stands in for the broken one


def test_folder_resizes_and_centre_crops(tmp_path: Path) -> None:
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, 20:60] = 255  # a white centre square in a wide image
    Image.fromarray(arr).save(tmp_path / "wide.png")
    ds = make_dataset("folder", split="all", root=tmp_path, size=20, flip=False)
    image = ds.image(0)
    assert image.shape == (3, 20, 20) and float(image.min()) > 0.95  # the crop is the white square


def test_folder_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        make_dataset("folder", root=tmp_path / "nope")
    with pytest.raises(InputError, match="contains no image files"):
        make_dataset("folder", root=tmp_path)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(InputError, match="is not a directory"):
        make_dataset("folder", root=tmp_path / "a.png")
    with pytest.raises(InputError, match="needs root="):
        make_dataset("folder")


def test_folder_split_by_name_hash(tmp_path: Path) -> None:
    for i in range(40):
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"{i:03d}.png")
    train = Folder(8, "train", root=tmp_path, test_fraction=0.3)
    test = Folder(8, "test", root=tmp_path, test_fraction=0.3)
    everything = Folder(8, "all", root=tmp_path)
    assert set(train.files).isdisjoint(test.files)
    assert set(train.files) | set(test.files) == set(everything.files)
    assert 4 <= len(test.files) <= 20
    assert Folder(8, "test", root=tmp_path, test_fraction=0.3).files == test.files  # stable
    for i in range(40, 50):  # adding files never moves an existing one
        Image.fromarray(np.full((8, 8), i, np.uint8)).save(tmp_path / f"{i:03d}.png")
    grown = Folder(8, "test", root=tmp_path, test_fraction=0.3)
    assert set(test.files) <= set(grown.files)


def test_folder_scales_16bit_files_by_bit_depth(tmp_path: Path) -> None:
    """Regression (issue 8.5): 16-bit values were clipped at 255, so 50 % grey became white."""
    Image.fromarray(np.full((12, 12), 32768, np.uint16)).save(tmp_path / "grey16.png")
    Image.fromarray(np.full((12, 12), 200, np.uint16)).save(tmp_path / "dark16.png")
    ds = make_dataset("folder", split="all", root=tmp_path, size=8, masks="center", flip=False, channels=1)
    values = {p.name: float(ds.image(i).mean()) for i, p in enumerate(ds.source.files)}
    assert abs(values["grey16.png"] - 128 / 255) < 1e-6  # old code: 1.0
    assert abs(values["dark16.png"] - 1 / 255) < 1e-6  # 200 / 65535 rounds to 1 / 255 in the 8-bit pipeline


def test_folder_applies_the_exif_orientation(tmp_path: Path) -> None:
    """Regression (issue 8.6): a photo stored turned (EXIF orientation 6) loaded sideways."""
    stored = np.zeros((60, 120, 3), np.uint8)
    stored[:, :60] = 255  # left half as stored = top half as displayed
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "portrait.jpg", exif=exif.tobytes(), quality=95)
    for size in ((40, 20), (16, 8)):  # (16, 8) takes the reduced-scale JPEG decode
        ds = make_dataset("folder", split="all", root=tmp_path, size=size, masks="center", flip=False)
        image = ds.image(0)
        h = size[0]
        assert image.shape == (3, *size)
        assert float(image[:, : h // 2 - 1].mean()) > 0.9 and float(image[:, h // 2 + 1 :].mean()) < 0.1


def test_folder_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    """Regression (issue 8.10): a Latin-1 file name crashed the split hash with UnicodeEncodeError."""
    import os

    _write_images(tmp_path, 3)
    try:
        for name in (b"caf\xe9.png", b"bad\xff.jpg"):
            with open(os.fsencode(tmp_path) + b"/" + name, "wb") as f:
                Image.fromarray(np.full((10, 10, 3), 99, np.uint8)).save(f, format="PNG")
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    train = Folder(8, "train", root=tmp_path, test_fraction=0.5)
    test = Folder(8, "test", root=tmp_path, test_fraction=0.5)
    assert len(train) + len(test) == 5 and set(train.files).isdisjoint(test.files)
    (tmp_path / "zero\udcff.png").write_bytes(b"")  # unreadable *and* badly named: the warning names it
    with pytest.warns(UserWarning, match=r"zero\\xff.png") as record:
        Folder(8, "all", root=tmp_path)
    str(record[0].message).encode("utf-8")  # printable and loggable


def test_folder_options_are_checked(tmp_path: Path) -> None:
    """Regression: flip="no" meant True, cache_mb=-1 was accepted, NaN or "x" raised bare ValueErrors."""
    _write_images(tmp_path, 1)
    for kwargs, pattern in (
        ({"flip": "no"}, "flip must be True or False, got str"),
        ({"check": 0}, "check must be True or False, got int"),
        ({"cache_mb": -1}, "cache_mb must be a number of megabytes >= 0"),
        ({"cache_mb": float("nan")}, "cache_mb must be"),
        ({"cache_mb": "x"}, "cache_mb must be"),
        ({"test_fraction": "0.1"}, "test_fraction must be a number strictly between 0 and 1"),
        ({"test_fraction": 1.0}, "test_fraction must be"),
    ):
        with pytest.raises(InputError, match=pattern):
            Folder(8, "all", root=tmp_path, **kwargs)
    assert Folder(8, "all", root=tmp_path, flip=np.bool_(False), cache_mb=0).flip is False


# --------------------------------------------------------------------------- errors
def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="unknown data source 'mnist'.*glyphs.*folder"):
        make_dataset("mnist")
    for size in (0, -3, 4):
        with pytest.raises(InputError, match="at least 8 pixels"):
            make_dataset("shapes", size=size)
    with pytest.raises(InputError, match="int or a \\(height, width\\)"):
        make_dataset("shapes", size="64")
    with pytest.raises(InputError, match="length must be at least 1"):
        make_dataset("shapes", length=0)
    with pytest.raises(InputError, match="split must be one of 'train', 'test'"):
        make_dataset("shapes", split="val")
    with pytest.raises(InputError, match="unknown mask generator 'holes'"):
        make_dataset("shapes", masks="holes")
    with pytest.raises(InputError, match="accepts .*channels"):
        make_dataset("shapes", colour=True)
    with pytest.raises(InputError, match="channels must be 1"):
        make_dataset("shapes", channels=2)
    ds = make_dataset("shapes", size=8, length=3)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(TypeError, match="index must be an int"):
        ds[1.0]
    with pytest.raises(InputError, match="samples 2..4 of a dataset of length 3"):
        sample_batch(ds, 3, start=2)
    with pytest.raises(InputError, match="source must be an ImageSource"):
        InpaintingDataset("shapes")
    assert {*BUILT_IN, "folder"} <= set(SOURCES)  # other sources (emoji, ...) may join


# --- source_groups: the source image behind each evaluated image (claims' cluster bootstrap) ---

def _spec(source: str, per_mask: int, masks: list[str], **kw: object) -> dict[str, object]:
    return {"source": source, "split": "test", "size": 32, "source_kw": kw, "per_mask": per_mask,
            "masks": masks, "image_seed": 7, "mask_seed": 10}


def test_source_groups_follow_the_photographs_and_the_mask_families() -> None:
    from survey_lib.data.about import source_groups
    from survey_lib.pretrain import evaluation_set

    spec = _spec("photos", 12, ["ratio_1_10", "ratio_30_40", "brush"])
    groups = source_groups(spec)
    images, _ = evaluation_set(spec)
    assert groups is not None and groups.shape == (len(images),) == (36,) and groups.dtype == np.int64
    ds = make_dataset("photos", split="test", size=32, length=12, masks="center", seed=7)
    photos = [ds.describe(i)["photo"] for i in range(12)]
    for i in range(12):
        for j in range(12):  # same id exactly when the crops come from the same photograph
            assert (groups[i] == groups[j]) == (photos[i] == photos[j])
    assert (groups[:12] == groups[12:24]).all() and (groups[:12] == groups[24:]).all()  # one image, 3 masks
    assert len(np.unique(groups)) == len(set(photos)) <= len(PHOTO_SPLITS["test"]) < 12
    # images that share an id are the same image under another mask (the order evaluation_set uses)
    assert torch.equal(images[3], images[15])
    assert np.array_equal(source_groups(spec), groups)  # deterministic


def test_source_groups_of_procedural_and_drawn_sources() -> None:
    from survey_lib.data.about import source_groups

    assert source_groups(_spec("shapes", 5, ["center"])) is None  # independent: nothing to cluster
    assert source_groups(_spec("textures", 4, ["brush"], photo_probability=0.0)) is None
    assert source_groups(_spec("shapes", 3, ["center", "boxes"])).tolist() == [0, 1, 2, 0, 1, 2]
    glyphs = source_groups(_spec("glyphs", 40, ["center"]))
    ds = make_dataset("glyphs", split="test", size=32, length=40, masks="center", seed=7)
    keys = [(ds.describe(i)["font"], ds.describe(i)["char"]) for i in range(40)]
    assert glyphs is not None and len(np.unique(glyphs)) == len(set(keys)) < 40  # repeats share a source
    textures = source_groups(_spec("textures", 20, ["brush"], photo_probability=1.0))
    assert textures is not None and len(np.unique(textures)) <= len(TEXTURE_FILES)  # crops of few photos


def test_source_groups_input_errors() -> None:
    from survey_lib.data.about import source_groups

    with pytest.raises(InputError, match="spec must be an evaluation spec"):
        source_groups(["photos"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="lacks a field"):
        source_groups({"source": "photos", "size": 32})
    with pytest.raises(InputError, match="unknown data source 'pictures'"):
        source_groups(_spec("pictures", 2, ["center"]))
    with pytest.raises(InputError, match=r"spec\['per_mask'\] must be a positive int, got 0"):
        source_groups(_spec("photos", 0, ["center"]))
    with pytest.raises(InputError, match=r"spec\['masks'\] must be a non-empty list"):
        source_groups(_spec("photos", 2, "center"))  # type: ignore[arg-type]
