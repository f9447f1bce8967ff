"""Command line: list/train/eval/inpaint, exact known pixels, one-line errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_train import Tiny

from survey_lib.cli import inpaint_resized, main
from survey_lib.models import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_registered(monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, "tiny", registry.MethodInfo(
        "tiny", f"{Tiny.__module__}:Tiny", "test section", "test paper"))


@pytest.fixture
def files(tmp_path):
    """A 100x77 RGB PNG (sizes no model stride divides), its mask, a corrupt PNG, a wrong-size mask."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (77, 100, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    hole = np.zeros((77, 100), np.uint8)
    hole[20:41, 30:61] = 255
    Image.fromarray(hole).save(tmp_path / "mask.png")
    Image.fromarray(hole[:50]).save(tmp_path / "mask_small.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    return tmp_path


def _known_pixels_equal(a: Path, b: Path, mask: Path) -> bool:
    x, y = np.asarray(Image.open(a)), np.asarray(Image.open(b))
    known = np.asarray(Image.open(mask)) == 0
    return x.shape == y.shape and bool((x[known] == y[known]).all())


def test_list_prints_the_registry_with_sections(capsys, tiny_registered):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "| `tiny` | test section | test paper | learned |" in out
    assert "| `telea` |" in out


def test_train_eval_inpaint_round_trip(tmp_path, files, capsys, tiny_registered):
    out = tmp_path / "run"
    assert main(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--steps", "2",
                 "--batch-size", "4", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| all |" in printed and "step_00000002" in printed
    assert main(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--steps", "3",
                 "--batch-size", "4", "--out", str(out), "--resume", "--quiet"]) == 0
    assert "for 3 steps" in capsys.readouterr().out

    assert main(["eval", "--checkpoint", str(out), "--data", "shapes", "--masks", "boxes", "--n", "4"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("**tiny**") and "| all | 4 |" in table

    result = tmp_path / "filled.png"
    assert main(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"), "--method", "tiny",
                 "--checkpoint", str(out), "--out", str(result)]) == 0
    assert _known_pixels_equal(files / "in.png", result, files / "mask.png")


def test_classical_method_evaluates_and_inpaints_without_checkpoint(tmp_path, files, capsys):
    assert main(["eval", "--method", "telea", "--data", "shapes", "--masks", "brush", "--preset", "smoke",
                 "--n", "4"]) == 0
    assert "**telea**" in capsys.readouterr().out
    result = tmp_path / "telea.png"
    assert main(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"), "--method", "telea",
                 "--out", str(result)]) == 0
    assert _known_pixels_equal(files / "in.png", result, files / "mask.png")


class _Constant(torch.nn.Module):
    """Predicts 0.25 everywhere and records the size it was run at."""

    name = "constant"

    def forward(self, image, mask):
        self.seen = tuple(image.shape[-2:])
        return torch.full_like(image, 0.25)


@pytest.mark.parametrize("shape", [(77, 100), (20, 13)])  # shrink and grow
def test_resize_and_paste_runs_at_the_training_size_and_keeps_known_pixels(shape):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, *shape, generator=g)
    mask = torch.zeros(1, 1, *shape)
    mask[..., shape[0] // 4: shape[0] // 2, shape[1] // 4: shape[1] // 2] = 1
    model = _Constant()
    out = inpaint_resized(model, image, mask, (32, 32))
    assert model.seen == (32, 32) and out.shape == image.shape
    known = (mask == 0).expand_as(image)
    assert torch.equal(out[known], image[known])
    # deep inside the hole the pasted fill is the model's value (border pixels blend)
    h0, h1, w0, w1 = shape[0] // 4, shape[0] // 2, shape[1] // 4, shape[1] // 2
    centre = out[..., (h0 + h1) // 2, (w0 + w1) // 2]
    assert torch.allclose(centre, torch.full_like(centre, 0.25), atol=1e-6)


def _run_fails(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_bad_arguments_and_files_give_one_line_and_status_2(tmp_path, files, capsys, tiny_registered):
    out = str(tmp_path / "o.png")
    err = _run_fails(["inpaint", str(tmp_path / "missing.png"), "--mask", str(files / "mask.png"),
                      "--method", "telea", "--out", out], capsys)
    assert "image file not found" in err and "missing.png" in err
    err = _run_fails(["inpaint", str(files / "corrupt.png"), "--mask", str(files / "mask.png"),
                      "--method", "telea", "--out", out], capsys)
    assert "cannot read image file" in err and "corrupt.png" in err
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask_small.png"),
                      "--method", "telea", "--out", out], capsys)
    assert "mask is 100x50 pixels but the image is 100x77" in err
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"),
                      "--method", "nope", "--out", out], capsys)
    assert "unknown method 'nope'" in err
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"),
                      "--method", "tiny", "--out", out], capsys)
    assert "learned method: pass --checkpoint" in err
    err = _run_fails(["eval", "--checkpoint", str(tmp_path / "none"), "--data", "shapes"], capsys)
    assert "does not exist" in err
    err = _run_fails(["train", "--method", "telea", "--data", "shapes"], capsys)
    assert "nothing to train" in err
    err = _run_fails(["eval", "--method", "telea", "--data", "nodata", "--preset", "smoke"], capsys)
    assert "unknown data source 'nodata'" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "shapes"])  # argparse: missing --method
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--method" in err


def test_eval_and_inpaint_refuse_silent_mistakes(tmp_path, files, capsys, tiny_registered):
    """Regressions: ``--n 0`` silently evaluated the preset's count; ``--method`` contradicting
    ``--checkpoint`` was ignored by eval; a bad ``--out`` failed only after the work; a
    truncated checkpoint escaped as a SafetensorError traceback."""
    run = tmp_path / "run"
    assert main(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--steps", "1",
                 "--batch-size", "4", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--method", "telea", "--data", "shapes", "--n", "0"])
    assert exit_info.value.code == 2 and "expected a positive integer, got 0" in capsys.readouterr().err
    err = _run_fails(["eval", "--checkpoint", str(run), "--method", "telea", "--data", "shapes"], capsys)
    assert "holds method 'tiny', not --method 'telea'" in err
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"), "--method", "telea",
                      "--out", str(tmp_path / "out.xyz")], capsys)
    assert "unknown image extension '.xyz'" in err
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "in.png"), "--method", "telea",
                      "--out", str(tmp_path / "o.png")], capsys)
    assert "does not look like a mask" in err  # the photo given twice: not thresholded into noise
    model_file = next(run.glob("step_*")) / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:100])
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"), "--method", "tiny",
                      "--checkpoint", str(run), "--out", str(tmp_path / "o.png")], capsys)
    assert "cannot read the weights" in err and "corrupt" in err
    assert not (tmp_path / "o.png").exists()


def test_a_small_folder_trains_and_evaluates_from_the_command_line(tmp_path, capsys, tiny_registered):
    """Regression: a folder with no file in its 10 % test split could not be used at all from
    the CLI (the error advised split='all', which the CLI had no way to pass)."""
    from survey_lib.data.folder import in_test_split

    root = tmp_path / "photos"
    root.mkdir()
    names = [n for n in (f"p{i}.png" for i in range(20)) if not in_test_split(n, 0.1)][:2]
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / name)
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="training without a held-out evaluation"):
        assert main(["train", "--method", "tiny", "--data", "folder", "--root", str(root), "--preset", "smoke",
                     "--steps", "1", "--batch-size", "2", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    err = _run_fails(["eval", "--checkpoint", str(run), "--data", "folder", "--root", str(root), "--n", "2"],
                     capsys)
    assert "eval --split all" in err
    assert main(["eval", "--checkpoint", str(run), "--data", "folder", "--root", str(root), "--split", "all",
                 "--n", "2"]) == 0
    assert "| all | 2 |" in capsys.readouterr().out


def test_python_dash_m_entry_point(tmp_path):
    env = {**os.environ, "SURVEY_PRESET": "smoke", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "survey_lib", "inpaint", str(tmp_path / "x.png"),
                          "--mask", "m.png", "--method", "telea", "--out", "o.png"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip() == (f"python -m survey_lib inpaint: error: image file not found: "
                                  f"'{tmp_path / 'x.png'}'")


# --- issue 8: trust (findings 1, 8, 9, 10) ----------------------------------------------------------------

def _weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(next(run.glob("step_*")) / "model.safetensors"))


def test_the_same_seed_trains_the_same_weights_from_the_command_line(tmp_path, capsys, tiny_registered):
    """Regression: the model was built before seeding, so two ``train --seed 0`` differed."""
    runs = []
    for name in ("a", "b"):
        torch.manual_seed(len(name) * 1000 + ord(name))  # whatever state the process happens to be in
        run = tmp_path / name
        assert main(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--steps", "2",
                     "--batch-size", "4", "--out", str(run), "--quiet", "--seed", "0"]) == 0
        runs.append(_weights(run))
    assert runs[0].keys() == runs[1].keys()
    for key, value in runs[0].items():
        assert torch.equal(value, runs[1][key]), key


def test_a_tampered_checkpoint_cannot_run_code_through_the_command_line(tmp_path, files, capsys, tiny_registered):
    import json

    run = tmp_path / "run"
    assert main(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--steps", "1",
                 "--batch-size", "4", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    marker = tmp_path / "pwned"
    meta_file = next(run.glob("step_*")) / "meta.json"
    meta = json.loads(meta_file.read_text())
    good = json.loads(json.dumps(meta))
    meta["method"].update({"class": "os:system", "registry_name": None, "init": {"command": f"touch {marker}"}})
    meta_file.write_text(json.dumps(meta))
    err = _run_fails(["eval", "--checkpoint", str(run), "--data", "shapes", "--n", "2"], capsys)
    assert "'method.registry_name'" in err and "meta.json" in err
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"), "--method", "tiny",
                      "--checkpoint", str(run), "--out", str(tmp_path / "o.png")], capsys)
    assert "never imported" in err
    assert not marker.exists()
    good["image_shape"] = [3, 100000, 100000]  # would make inpaint/eval allocate terabytes
    meta_file.write_text(json.dumps(good))
    err = _run_fails(["inpaint", str(files / "in.png"), "--mask", str(files / "mask.png"), "--method", "tiny",
                      "--checkpoint", str(run), "--out", str(tmp_path / "o.png")], capsys)
    assert "field 'image_shape' [3, 100000, 100000] is not a training size" in err
    good["image_shape"] = [1, 32, 32]  # the model was built for 3 channels
    meta_file.write_text(json.dumps(good))
    err = _run_fails(["eval", "--checkpoint", str(run), "--data", "shapes", "--n", "2"], capsys)
    assert "says 1 channels but the model was built for 3" in err


def test_resume_with_another_seed_or_batch_size_is_refused_in_one_line(tmp_path, capsys, tiny_registered):
    run = tmp_path / "run"
    common = ["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--out", str(run), "--quiet"]
    assert main([*common, "--steps", "1", "--batch-size", "4", "--seed", "5"]) == 0
    capsys.readouterr()
    err = _run_fails([*common, "--steps", "2", "--batch-size", "4", "--resume"], capsys)  # --seed defaults to 0
    assert "resume: seed=0 differs from the run's 5" in err and "Pass seed=5" in err
    err = _run_fails([*common, "--steps", "2", "--batch-size", "2", "--seed", "5", "--resume"], capsys)
    assert "resume: batch_size=2 differs from the run's 4" in err


def test_sizes_that_cannot_fit_in_memory_are_refused_at_once(capsys, tiny_registered):
    """Regression: ``eval --n 100000000`` ran until the machine's memory was exhausted."""
    err = _run_fails(["eval", "--method", "telea", "--data", "shapes", "--preset", "smoke", "--n", "100000000"],
                     capsys)
    assert "--n 100000000 needs 1525.9 GiB for 32x32 images and masks; at most 131072 fit the 2 GiB limit" in err
    err = _run_fails(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke",
                      "--batch-size", "1000000000"], capsys)
    assert "--batch-size 1000000000 needs" in err
    err = _run_fails(["train", "--method", "tiny", "--data", "shapes", "--preset", "smoke", "--seed", str(2**70)],
                     capsys)
    assert "--seed must be a non-negative integer below 2**62" in err


def test_file_names_that_are_not_utf8_are_printed_escaped(tmp_path, files):
    """Regression: with a strict UTF-8 (or ASCII) stdout, ``wrote <name>`` raised UnicodeEncodeError
    after the file was written, and the command reported failure."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    folder.mkdir()
    image = folder / os.fsdecode(b"in\xff.png")
    image.write_bytes((files / "in.png").read_bytes())
    out = folder / os.fsdecode(b"out\xff.png")
    for encoding in ("utf-8", "ascii"):
        env = {**os.environ, "SURVEY_PRESET": "smoke", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": encoding}
        run = subprocess.run([sys.executable, "-m", "survey_lib", "inpaint", os.fsencode(image), "--mask",
                              str(files / "mask.png"), "--method", "telea", "--out", os.fsencode(out)],
                             cwd=ROOT, env=env, capture_output=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert run.stdout.decode("ascii").strip() == f"wrote {tmp_path}/caf\\xe9/out\\xff.png"
        assert out.exists()
        out.unlink()
    from survey_lib.cli import printable

    assert printable("caf\udce9 \u2191", io.StringIO()) == "caf\\xe9 \u2191"
    assert printable("\ud800", io.StringIO()) == "\\ud800"  # a lone surrogate that is no escaped byte


def test_claims_without_any_checkpoint_prints_every_row_inconclusive(tmp_path, capsys, monkeypatch):
    # nothing shipped yet: every claim says which checkpoint to make, none crashes the table
    monkeypatch.setenv("SURVEY_CHECKPOINTS_DIR", str(tmp_path))
    assert main(["claims", "--preset", "smoke", "--payoff"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("claims on the shipped checkpoints") and "preset smoke" in lines[0]
    rows = [line for line in lines[3:16]]
    assert [r.split()[0] for r in rows] == ["1", "1", *map(str, range(2, 13))]
    assert all(r.rstrip().endswith("INCONCLUSIVE") for r in rows)
    assert "checkpoint 'deepfill_v1' is missing" in out  # the payoff table names what to make
    from survey_lib.course_claims import measure_claim_4

    v = measure_claim_4("smoke", tmp_path)
    assert "python -m survey_lib pretrain --methods coarse_to_fine --preset smoke" in v.reason
