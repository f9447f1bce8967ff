"""The course-wide claims table on smoke stand-in checkpoints made once for this module.

Every claim is measured from shipped checkpoints only (a tmp directory here, never the
repository's ``checkpoints/``), decided through ``survey_lib.claims``, and a missing or
tampered checkpoint is handled: INCONCLUSIVE naming the command, or refused by name.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from survey_lib import claims as C
from survey_lib import course_claims as cc
from survey_lib.cli import main
from survey_lib.data.about import source_groups
from survey_lib.data.checks import InputError
from survey_lib.pretrain import MANIFEST, CheckpointTampered, pretrain_one

NEEDED = ("context_encoder", "context_encoder_l2", "global_local", "global_local_l2", "unet_paper", "unet",
          "pconv", "gated", "loss_lab", "coarse_to_fine", "deepfill_v1", "one_stage", "cvae",
          "cvae_deterministic", "repaint", "lama", "lama_conv")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Smoke checkpoints (1 step each) of every method the claims use, in a tmp root."""
    root = tmp_path_factory.mktemp("ck")
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SURVEY_CHECKPOINTS_DIR", str(root))
        mp.setenv("SURVEY_PRETRAIN_RUNS", str(runs))
        with _quiet():
            for name in NEEDED:
                pretrain_one(name, "smoke", out_root=root, runs_root=runs, steps=1)
        yield root


class _quiet:
    """Silence the PredictionCollapsed warnings of 1-step models (expected: they are untrained)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


@pytest.fixture(scope="module")
def table(shipped):
    ctx = cc.Context.make("smoke", shipped)
    with _quiet():
        return ctx, cc.course_table(context=ctx)


def _copy(shipped, tmp_path):
    dst = tmp_path / "ck"
    shutil.copytree(shipped, dst)
    return dst


def test_every_claim_is_measured_or_says_why(table):
    ctx, t = table
    assert [v.claim for v in t.verdicts] == [1, 1, *range(2, 13)]  # claim 1 in 03.1 and 03.3
    assert [v.chapter for v in t.verdicts[:2]] == ["03_1_autoencoder", "03_3_gan"]
    for v in t.verdicts:
        assert isinstance(v, C.Verdict) and v.verdict in C.VERDICTS
        if v.claim in (5, 7):
            assert v.verdict == C.INCONCLUSIVE and v.n == 0 and "planned (issue 11)" in v.reason
            continue
        assert v.n > 0, (v.claim, v.reason)
        assert v.lo - 1e-12 <= v.effect <= v.hi + 1e-12, (v.claim, v.effect, v.interval)
        assert v.data and v.measure != "not measured"
    # the decision is the claims module's rule on the printed interval (no threshold of our own)
    for v in t.verdicts:
        if v.claim not in (2, 5, 7, 8, 10, 11, 12):  # single-part claims
            assert v.verdict == C.decide(v.lo, v.hi, v.margin), v.claim


def test_source_groups_reach_the_bootstrap(table):
    ctx, t = table
    by = {v.claim: v for v in t.verdicts}
    for k in (2, 11):  # photos, 6 mask families over 2 test crops: 12 images, fewer photographs
        v = by[k]
        groups = source_groups(ctx.spec("pconv"))
        assert v.n_sources == len(np.unique(groups)) < v.n == 12
    assert by[12].details["learned"] == "gated"  # the stated rule: the newest photo architecture
    assert set(by[11].details["methods"]) == {*cc.CLAIM_11_LEARNED, *cc.CLASSICAL}
    # claim 2's fill part ran pconv with each fill: partial convolutions do not look at the hole
    assert by[2].parts[1].verdict == C.HELD and by[2].parts[1].effect == 0.0


def test_payoff_table_rows(table):
    ctx, _ = table
    with _quiet():
        pay = cc.payoff_table(context=ctx)
    assert [r["chapter"] for r in pay.rows] == list(cc.CHAPTER_MAIN)
    for r in pay.rows:
        assert r["classical"] in cc.CLASSICAL and r["n"] >= 2
        iv = r["hole_psnr"]
        assert iv.lo <= iv.effect <= iv.hi
        assert r["hole_psnr_winner"] == {C.HELD: "learned", C.NOT_HELD: "classical"}.get(
            C.decide(iv.lo, iv.hi), "neither")
    rows = {r["chapter"]: r for r in pay.rows}
    assert rows["03_1_autoencoder"]["holes"].startswith("all")  # centre/boxes: no hole ≥ 30 %
    assert rows["02_4_convolution_aware"]["holes"] == "≥ 30%"
    assert "| 02_4_convolution_aware | pconv |" in pay.to_markdown()


def test_cli_prints_every_claim(shipped, capsys, monkeypatch):
    monkeypatch.setenv("SURVEY_CHECKPOINTS_DIR", str(shipped))
    with _quiet():
        assert main(["claims", "--preset", "smoke", "--markdown"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "preset smoke" in lines[0] and "cores" in lines[0] and str(shipped) in lines[0]
    assert lines[1] == "| " + " | ".join(cc.HEAD) + " |"
    rows = [line for line in lines[3:] if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows] == ["| 1", "| 1", *(f"| {k}" for k in range(2, 13))]
    assert all(r.rstrip(" |").rsplit(" | ", 1)[1] in C.VERDICTS for r in rows)


def test_deleted_checkpoint_is_inconclusive_not_a_crash(shipped, tmp_path, capsys, monkeypatch):
    root = _copy(shipped, tmp_path)
    manifest = json.loads((root / MANIFEST).read_text())
    del manifest["checkpoints"]["gated"]
    (root / MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(root / "gated")
    shutil.rmtree(root / "one_stage")  # listed in the manifest, files gone
    ctx = cc.Context.make("smoke", root)
    with _quiet():
        v3, v6, v12 = (cc.measure_claim(k, context=ctx) for k in (3, 6, 12))
    for v, name in ((v3, "gated"), (v6, "one_stage")):
        assert v.verdict == C.INCONCLUSIVE and v.n == 0 and math.isnan(v.effect)
        assert f"checkpoint {name!r} is missing" in v.reason
        assert f"python -m survey_lib pretrain --methods {name}" in v.reason
    assert v12.details["learned"] == "pconv" and v12.n > 0  # the rule's next choice
    monkeypatch.setenv("SURVEY_CHECKPOINTS_DIR", str(root))
    with _quiet():
        assert main(["claims", "--preset", "smoke", "--claims", "3", "5"]) == 0
    out = capsys.readouterr().out
    assert out.count("INCONCLUSIVE") == 2 and "not measured" in out


def test_tampered_checkpoint_is_refused(shipped, tmp_path, capsys, monkeypatch):
    root = _copy(shipped, tmp_path)
    weights = root / "pconv" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointTampered, match="sha256"):
        cc.measure_claim_2(preset="smoke", root=root)
    monkeypatch.setenv("SURVEY_CHECKPOINTS_DIR", str(root))
    assert main(["claims", "--preset", "smoke", "--claims", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pconv" in err[0] and "sha256" in err[0]


@pytest.mark.parametrize("argv, expected", [
    (["--claims", "0"], "claim numbers 1-12, got 0"),
    (["--claims", "4", "13"], "claim numbers 1-12, got 13"),
    (["--claims", "x"], "invalid int value"),
    (["--claims"], "expected at least one argument"),
    (["--preset", "gpu"], "smoke or cpu"),
    (["--preset", "huge"], "huge"),
])
def test_bad_claims_arguments_exit_2(argv, expected, capsys):
    try:
        code = main(["claims", *argv])
    except SystemExit as exc:  # argparse's own errors (one line too, see cli._Parser)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]


def test_api_input_checks():
    with pytest.raises(InputError, match="claim numbers|claims must be numbers"):
        cc.course_table("smoke", claims=[0])
    with pytest.raises(InputError, match="non-empty list"):
        cc.course_table("smoke", claims="1")
    with pytest.raises(InputError, match="number must be a claim number"):
        cc.measure_claim(13, "smoke")
    with pytest.raises(InputError, match="shipped checkpoints"):
        cc.Context.make("gpu")
