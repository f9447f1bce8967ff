"""The shipped-checkpoint machinery (survey_lib.pretrain) at the smoke preset, in temporary folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from survey_lib import checkpoint as ckpt_io
from survey_lib import cli
from survey_lib.config import get_preset
from survey_lib.data.checks import InputError
from survey_lib.models.registry import build, live_preset, preset_for
from survey_lib.pretrain import (
    ENTRY_FIELDS,
    EVAL_PER_MASK,
    MAX_FILE_BYTES,
    PRETRAIN,
    CheckpointMissing,
    CheckpointTampered,
    _compact,
    check_shipped,
    compared_model,
    comparison_set,
    export,
    load_pretrained,
    manifest_problems,
    pretrain_one,
    read_manifest,
    rows_close,
    sha256_file,
)

STEPS = 8  # smoke: checkpoints every 4 steps


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("pretrain")
    out, runs = root / "checkpoints", root / "runs"
    result = pretrain_one("pconv", "smoke", out_root=out, runs_root=runs, steps=STEPS)
    return {"out": out, "runs": runs, "result": result}


def _copy(shipped: dict, tmp_path: Path) -> Path:
    dst = tmp_path / "checkpoints"
    shutil.copytree(shipped["out"], dst)
    return dst


def test_every_learned_method_has_an_entry_from_its_chapter() -> None:
    from survey_lib.models.registry import list_methods

    learned = {m.name: m for m in list_methods("learned")}
    assert set(PRETRAIN) == set(learned)
    for name, spec in PRETRAIN.items():
        assert spec.chapter == learned[name].notebook, name
        # well over twice the chapter's live run at cpu (the chapter then loads this longer one)
        assert spec.steps["cpu"] >= 2.5 * live_preset(name, "cpu").steps, name


def test_live_preset_is_short_only_where_shipped_checkpoints_are_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    from survey_lib import config

    cpu = get_preset("cpu")
    assert cpu.shipped and not get_preset("gpu").shipped
    assert live_preset("pconv", "cpu").steps == round(preset_for("pconv", "cpu").steps * cpu.live_fraction)
    assert live_preset("pconv", "cpu").steps < preset_for("pconv", "cpu").steps
    assert live_preset("deepfill_v1", "cpu").width == preset_for("deepfill_v1", "cpu").width  # only steps shrink
    assert live_preset("pconv", "gpu") == preset_for("pconv", "gpu")
    assert live_preset("pconv", "smoke").steps == get_preset("smoke").steps  # smoke runs the real code, tiny
    # SURVEY_FROM_SCRATCH=1: the env preset trains everything in full
    monkeypatch.setenv("SURVEY_PRESET", "cpu")
    for value, shipped in (("1", False), ("0", True), ("", True)):
        monkeypatch.setenv(config.FROM_SCRATCH_ENV, value)
        config._preset_from_env.cache_clear()
        p = get_preset()
        assert p.shipped is shipped and p.name == "cpu"
        assert live_preset("pconv", p).steps == (preset_for("pconv", p).steps if not shipped else
                                                  live_preset("pconv", "cpu").steps)
    monkeypatch.setenv(config.FROM_SCRATCH_ENV, "maybe")
    config._preset_from_env.cache_clear()
    with pytest.raises(ValueError, match="SURVEY_FROM_SCRATCH='maybe'"):
        get_preset()
    config._preset_from_env.cache_clear()


def test_compared_model_is_the_shipped_checkpoint_or_the_live_one(shipped: dict, tmp_path: Path) -> None:
    root = _copy(shipped, tmp_path)
    smoke = get_preset("smoke")
    model, label = compared_model("pconv", smoke, root=root)
    reference = load_pretrained("pconv", root)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    assert not model.training and f"{STEPS} steps" in label and "shipped" in label
    live = build("pconv", channels=3, preset=smoke)
    scratch = smoke.with_overrides(shipped=False)
    same, label = compared_model("pconv", scratch, live=live, root=root)
    assert same is live and "trained here" in label
    with pytest.raises(InputError, match="live must be the model trained"):
        compared_model("pconv", scratch, root=root)
    with pytest.raises(CheckpointMissing, match="SURVEY_FROM_SCRATCH=1"):
        compared_model("gated", smoke, root=root)


def test_comparison_set_is_the_recorded_set_at_the_presets_count(shipped: dict, tmp_path: Path) -> None:
    root = _copy(shipped, tmp_path)
    recorded = read_manifest(root)["checkpoints"]["pconv"]["evaluation"]["set"]
    images, masks, spec = comparison_set("pconv", "smoke", root=root)
    assert {k: v for k, v in spec.items() if k not in ("per_mask", "n")} == \
        {k: v for k, v in recorded.items() if k not in ("per_mask", "n")}
    assert spec["per_mask"] == EVAL_PER_MASK["smoke"] and images.shape[0] == spec["n"] == masks.shape[0]
    again = comparison_set("pconv", "smoke", root=root)
    assert torch.equal(images, again[0]) and torch.equal(masks, again[1])  # seeded: every method sees the same set
    # a method with no checkpoint yet: the set its checkpoint would be evaluated on, at the cpu size
    _, _, lama_spec = comparison_set("lama", "smoke", root=root)
    assert lama_spec["source"] == PRETRAIN["lama"].source and lama_spec["size"] == get_preset("cpu").image_size
    # without shipped checkpoints: the chapter's set at the preset's own size
    _, _, gpu_spec = comparison_set("pconv", get_preset("smoke").with_overrides(shipped=False), root=root)
    assert gpu_spec["size"] == get_preset("smoke").image_size


def test_manifest_records_everything(shipped: dict) -> None:
    manifest = read_manifest(shipped["out"])
    assert manifest_problems(manifest) == []
    entry = manifest["checkpoints"]["pconv"]
    assert set(ENTRY_FIELDS) <= set(entry)
    assert entry["steps"] == STEPS and entry["preset"] == "smoke" and entry["registry_name"] == "pconv"
    assert entry["data"]["source"] == "photos" and entry["data"]["train_masks"] == "mixed"
    assert entry["machine"]["torch"] == torch.__version__ and entry["machine"]["cpu"]
    assert entry["wall_seconds"] > 0 and "pconv" in entry["command"]
    assert entry["evaluation"]["set"]["n"] == 12  # 2 test photos x 6 hole-ratio bins
    bins = [r["bin"] for r in entry["evaluation"]["rows"]]
    assert bins[-1] == "all" and len(bins) >= 2
    for row in entry["evaluation"]["rows"]:
        assert {"psnr", "ssim", "mae", "hole_psnr"} <= set(row)


def test_file_is_fp16_safetensors_with_the_recorded_hash(shipped: dict) -> None:
    entry = read_manifest(shipped["out"])["checkpoints"]["pconv"]
    path = shipped["out"] / entry["file"]
    assert sha256_file(path) == entry["sha256"]
    assert path.stat().st_size == entry["bytes"] <= MAX_FILE_BYTES
    with safe_open(str(path), framework="pt") as fh:
        dtypes = {fh.get_slice(k).get_dtype() for k in fh.keys()}  # noqa: SIM118
    assert "F16" in dtypes and "F32" not in dtypes and entry["dtype"] == "float16"


def test_load_pretrained_reproduces_the_recorded_metrics(shipped: dict) -> None:
    method = load_pretrained("pconv", shipped["out"])
    assert not method.training
    assert all(p.dtype == torch.float32 for p in method.parameters())
    entry, table = check_shipped("pconv", shipped["out"])
    assert rows_close(entry["evaluation"]["rows"], table.to_dict()["rows"]) == []
    # the fp16 weights are the run's final fp32 weights rounded, nothing else
    trained = ckpt_io.load_method(shipped["runs"] / "pconv-smoke")
    for (key, mine), theirs in zip(method.state_dict().items(), trained.state_dict().values()):
        if mine.is_floating_point():
            assert torch.equal(mine, theirs.half().float()), key


def test_rows_close_sees_a_changed_metric(shipped: dict) -> None:
    rows = read_manifest(shipped["out"])["checkpoints"]["pconv"]["evaluation"]["rows"]
    moved = [dict(r) for r in rows]
    moved[-1]["psnr"] += 0.2
    problems = rows_close(rows, moved)
    assert len(problems) == 1 and "psnr" in problems[0]


def test_a_changed_weights_file_is_refused_by_name(shipped: dict, tmp_path: Path) -> None:
    root = _copy(shipped, tmp_path)
    weights = root / "pconv" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointTampered, match=r"pconv/model\.safetensors has sha256"):
        load_pretrained("pconv", root)


def test_a_linked_weights_file_is_refused(shipped: dict, tmp_path: Path) -> None:
    root = _copy(shipped, tmp_path)
    weights = root / "pconv" / "model.safetensors"
    weights.rename(tmp_path / "elsewhere.safetensors")
    weights.symlink_to(tmp_path / "elsewhere.safetensors")  # same bytes, same hash, but a link
    with pytest.raises(CheckpointTampered, match="symbolic link"):
        load_pretrained("pconv", root)


def test_a_changed_meta_is_refused_even_with_a_matching_manifest(shipped: dict, tmp_path: Path) -> None:
    root = _copy(shipped, tmp_path)
    meta_path, man_path = root / "pconv" / "meta.json", root / "manifest.json"
    meta = json.loads(meta_path.read_text())
    meta["method"]["init"]["width"] = 16  # another model than the weights
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointTampered, match=r"pconv/meta\.json has sha256"):
        load_pretrained("pconv", root)
    manifest = json.loads(man_path.read_text())  # an attacker who also rewrites the manifest
    manifest["checkpoints"]["pconv"]["meta_sha256"] = sha256_file(meta_path)
    man_path.write_text(json.dumps(manifest))
    with pytest.raises(ckpt_io.CheckpointError, match=r"meta\.json: the model built from 'method.init' does not fit"):
        load_pretrained("pconv", root)
    meta["method"] = {"registry_name": "telea", "init": {}}  # not a learned method: nothing is built
    meta_path.write_text(json.dumps(meta))
    manifest["checkpoints"]["pconv"]["meta_sha256"] = sha256_file(meta_path)
    man_path.write_text(json.dumps(manifest))
    with pytest.raises(ckpt_io.CheckpointError, match="not a registered learned method"):
        load_pretrained("pconv", root)


def test_missing_checkpoints_say_how_to_make_them(shipped: dict, tmp_path: Path) -> None:
    with pytest.raises(CheckpointMissing, match=r"pretrain --methods gated.*make checkpoints"):
        load_pretrained("gated", shipped["out"])
    with pytest.raises(CheckpointMissing, match="not a pretrainable method"):
        load_pretrained("telea", shipped["out"])
    with pytest.raises(CheckpointMissing, match="shipped: none yet"):
        load_pretrained("pconv", tmp_path / "empty")
    root = _copy(shipped, tmp_path)
    (root / "pconv" / "model.safetensors").unlink()
    with pytest.raises(CheckpointMissing, match=r"pconv/model\.safetensors is missing.*--methods pconv"):
        load_pretrained("pconv", root)
    with pytest.raises(InputError, match="name must be"):
        load_pretrained(3, root)  # type: ignore[arg-type]


def test_a_broken_manifest_is_named(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointTampered, match=r"manifest\.json is not readable JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"format": 1, "library": "survey_lib", "checkpoints": {"pconv": {"method": "pconv"}}}))
    with pytest.raises(CheckpointTampered, match=r"checkpoints\.pconv\.sha256 missing"):
        read_manifest(tmp_path)


def test_an_interrupted_pretraining_continues_where_it_stopped(shipped: dict, tmp_path: Path) -> None:
    out, runs = tmp_path / "checkpoints", tmp_path / "runs"
    paused = pretrain_one("pconv", "smoke", out_root=out, runs_root=runs, steps=STEPS, max_minutes=1e-9)
    assert not paused.done and paused.step == 4 and paused.started_at == 0
    assert not (out / "manifest.json").exists()  # nothing is shipped before the run is complete
    done = pretrain_one("pconv", "smoke", out_root=out, runs_root=runs, steps=STEPS)
    assert done.done and done.started_at == 4 and done.step == STEPS  # continued, not restarted
    # exact resume: the same weights as the uninterrupted run, byte for byte
    assert done.entry["sha256"] == read_manifest(shipped["out"])["checkpoints"]["pconv"]["sha256"]
    again = pretrain_one("pconv", "smoke", out_root=out, runs_root=runs, steps=STEPS, fresh=True,
                         max_minutes=1e-9)
    assert again.started_at == 0 and not again.done  # --fresh starts over


def test_export_is_compact_and_only_for_registered_methods(tmp_path: Path) -> None:
    tensors, dtype = _compact({"w": torch.tensor([1.0, 70000.0]), "n": torch.tensor(3)})
    assert dtype == "bfloat16" and tensors["w"].dtype == torch.bfloat16 and tensors["n"].dtype == torch.int64
    tensors, dtype = _compact({"w": torch.tensor([1.0, -2.5])})
    assert dtype == "float16"
    from survey_lib.models.unet import InpaintUNet

    with pytest.raises(InputError, match="registry"):
        export(InpaintUNet(channels=3, width=8), tmp_path)


def test_bad_pretrain_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no pretraining entry for 'telea'"):
        pretrain_one("telea", "smoke", out_root=tmp_path, runs_root=tmp_path)
    with pytest.raises(InputError, match="steps must be a positive int"):
        pretrain_one("pconv", "smoke", out_root=tmp_path, runs_root=tmp_path, steps=0)
    with pytest.raises(InputError, match="max_minutes"):
        pretrain_one("pconv", "smoke", out_root=tmp_path, runs_root=tmp_path, max_minutes=-1)


@pytest.mark.parametrize("argv, message", [
    (["--methods", "nope"], "no pretraining entry for nope"),
    (["--methods", "pconv", "unet", "--steps", "4"], "exactly one --methods"),
    (["--methods", "pconv", "--max-minutes", "nan"], "--max-minutes must be a positive"),
    (["--methods", "pconv", "--max-minutes", "-2"], "--max-minutes must be a positive"),
    (["--methods", "pconv", "--preset", "huge"], "unknown preset"),
])
def test_cli_refuses_bad_input_in_one_line(argv: list, message: str, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["pretrain", *argv]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_pretrain_records_its_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("SURVEY_CHECKPOINTS_DIR", str(tmp_path / "ck"))
    monkeypatch.setenv("SURVEY_PRETRAIN_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cli.main(["pretrain", "--methods", "pconv", "--preset", "smoke", "--steps", "4", "--quiet"]) == 0
    assert "pretrained 1 of 1" in capsys.readouterr().out
    entry = read_manifest(tmp_path / "ck")["checkpoints"]["pconv"]
    assert entry["command"] == "OMP_NUM_THREADS=1 python -m survey_lib pretrain --methods pconv --preset smoke --steps 4"
    assert entry["steps"] == 4


def test_exporting_the_same_weights_gives_the_same_file_bytes(tmp_path: Path) -> None:
    """The manifest's sha256 must be reproducible: safetensors writes metadata maps in a random
    order per process, so the export keeps a single metadata key (two keys made this flaky)."""
    from survey_lib.models.registry import build

    model = build("pconv", channels=3, preset="smoke")
    digests = {export(model, tmp_path / f"e{i}")["sha256"] for i in range(8)}
    assert len(digests) == 1
