"""Every checkpoint shipped in checkpoints/: its hash matches the manifest and it reproduces the
recorded metrics on the recorded evaluation set (survey_lib.pretrain.check_shipped)."""

from __future__ import annotations

import pytest

from survey_lib.pretrain import (
    CHECKPOINTS_DIR,
    MANIFEST,
    MAX_FILE_BYTES,
    MAX_TOTAL_BYTES,
    PRETRAIN,
    check_shipped,
    manifest_problems,
    read_manifest,
    rows_close,
    sha256_file,
)

MANIFEST_PATH = CHECKPOINTS_DIR / MANIFEST
SHIPPED = sorted(read_manifest(CHECKPOINTS_DIR)["checkpoints"]) if MANIFEST_PATH.is_file() else []


def test_manifest_is_valid_and_within_the_size_limits() -> None:
    manifest = read_manifest(CHECKPOINTS_DIR)  # a missing manifest reads as an empty, valid one
    assert manifest_problems(manifest) == []
    entries = manifest["checkpoints"]
    assert set(entries) <= set(PRETRAIN), "a shipped checkpoint for a method without a pretraining entry"
    assert sum(e["bytes"] for e in entries.values()) <= MAX_TOTAL_BYTES
    for name, entry in entries.items():
        path = CHECKPOINTS_DIR / entry["file"]
        assert path.is_file(), f"{path} is listed in {MANIFEST_PATH} but missing"
        assert path.stat().st_size == entry["bytes"] <= MAX_FILE_BYTES, name


def test_every_pretrainable_method_is_shipped() -> None:
    """Every learned method of every chapter (and every claim's control) has its checkpoint:
    the chapters load them at the smoke and cpu presets."""
    from survey_lib.pretrain import PRETRAIN

    assert sorted(PRETRAIN) == SHIPPED, f"not shipped: {sorted(set(PRETRAIN) - set(SHIPPED))}; make checkpoints"


def _reproduces(name: str) -> None:
    entry = read_manifest(CHECKPOINTS_DIR)["checkpoints"][name]
    assert sha256_file(CHECKPOINTS_DIR / entry["file"]) == entry["sha256"]
    entry, table = check_shipped(name, CHECKPOINTS_DIR)  # loads through the hash check again
    problems = rows_close(entry["evaluation"]["rows"], table.to_dict()["rows"],
                          {"psnr": 0.05, "hole_psnr": 0.05, "lpips": 0.002})
    assert problems == [], f"{name}: " + "; ".join(problems)


if SHIPPED:  # with no checkpoint shipped, only the manifest test above runs (nothing is skipped)
    @pytest.mark.parametrize("name", SHIPPED)
    def test_shipped_checkpoint_reproduces_its_recorded_metrics(name: str) -> None:
        _reproduces(name)
