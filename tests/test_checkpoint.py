"""Checkpoints: exact resume, atomic writes, no pickle, clear failures on mismatch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_train import Tiny, tiny_data
from torch import nn

from survey_lib import __version__
from survey_lib import checkpoint as ckpt_io
from survey_lib.checkpoint import CheckpointError, load_method, load_weights
from survey_lib.models import registry
from survey_lib.train import train


class _Killed(Exception):
    """Stands in for the process being killed between two steps."""


def _kill_at(step: int):
    def callback(k, losses):
        if k == step:
            raise _Killed(k)
    return callback


def test_state_encoding_round_trips_tuples_int_keys_arrays_and_tensors():
    state = {"betas": (0.5, 0.999), "per_param": {0: {"step": torch.tensor(3.0)}, 7: {}},
             "np": np.arange(5, dtype=np.uint32), "x": [1, "a", None, float("inf")],
             "t": torch.arange(6, dtype=torch.uint8).reshape(2, 3)}
    tensors: dict[str, torch.Tensor] = {}
    encoded = ckpt_io.encode_state(state, "s", tensors)
    text = json.dumps(encoded)  # plain JSON: numbers, strings, lists, dicts
    back = ckpt_io.decode_state(json.loads(text), tensors)
    assert back["betas"] == (0.5, 0.999) and isinstance(back["betas"], tuple)
    assert set(back["per_param"]) == {0, 7} and torch.equal(back["per_param"][0]["step"], torch.tensor(3.0))
    assert back["np"].dtype == np.uint32 and back["np"].tolist() == [0, 1, 2, 3, 4]
    assert back["x"] == [1, "a", None, float("inf")] and torch.equal(back["t"], state["t"])
    with pytest.raises(CheckpointError, match="cannot store object at 's.bad'"):
        ckpt_io.encode_state({"bad": object()}, "s", {})


@pytest.mark.parametrize("adversarial", [False, True])
def test_killed_and_resumed_run_ends_with_the_same_weights(tmp_path, adversarial):
    """Cosine schedule + RNG inside the loss + a discriminator: everything must come back."""
    data = tiny_data(12)  # 12 images, batch 4: epochs end mid-run, data order must resume too
    kwargs = dict(steps=7, batch_size=4, live=False, seed=5, schedule="cosine", checkpoint_every=3)

    torch.manual_seed(0)
    straight = Tiny(adversarial=adversarial, noise=0.2)
    full = train(straight, data, out_dir=tmp_path / "a", **kwargs)

    torch.manual_seed(0)
    with pytest.raises(_Killed):
        train(Tiny(adversarial=adversarial, noise=0.2), data, out_dir=tmp_path / "b",
              callback=_kill_at(5), **kwargs)
    assert ckpt_io.latest_checkpoint(tmp_path / "b").name == "step_00000003"
    torch.manual_seed(123)  # a fresh process would start from other weights and RNG state
    resumed_method = Tiny(adversarial=adversarial, noise=0.2)
    resumed = train(resumed_method, data, out_dir=tmp_path / "b", resume=True, **kwargs)

    assert resumed.steps == 7
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed_method.state_dict()[key]), key
    assert resumed.history == full.history  # history survives the resume


def test_checkpoint_files_hold_no_pickle_and_describe_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, "tiny", registry.MethodInfo(
        "tiny", f"{Tiny.__module__}:Tiny", "test", "none"))
    method = registry.build("tiny", channels=1, preset="smoke", width=6)
    images, masks = tiny_data(8, channels=1)
    result = train(method, (images, masks), steps=4, batch_size=4, live=False, out_dir=tmp_path,
                   eval_data=(images, masks), preset="smoke")
    ckpt = result.checkpoint
    assert sorted(p.name for p in ckpt.iterdir()) == ["meta.json", "model.safetensors",
                                                      "state.json", "state.safetensors"]
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["format"] == ckpt_io.CHECKPOINT_FORMAT and meta["library_version"] == __version__
    assert meta["method"]["name"] == "tiny" and meta["method"]["registry_name"] == "tiny"
    assert meta["method"]["init"] == {"channels": 1, "width": 6} and meta["method"]["init_from"] == "registry.build"
    assert meta["step"] == 4 and meta["preset"]["name"] == "smoke" and meta["image_shape"] == [1, 16, 16]
    assert meta["metrics"]["final"]["hole_mae"] == pytest.approx(result.final.overall["hole_mae"])
    for f in ckpt.iterdir():  # pickle streams start with 0x80 <protocol>; none here
        assert not f.read_bytes().startswith(b"\x80"), f

    rebuilt = load_method(tmp_path)  # the run directory resolves to its latest checkpoint
    assert isinstance(rebuilt, Tiny) and rebuilt.width == 6 and not rebuilt.training
    for key, value in method.state_dict().items():
        assert torch.equal(value, rebuilt.state_dict()[key])


def test_load_method_without_the_registry_needs_the_class_from_the_caller(tmp_path):
    method = Tiny(width=5, adversarial=True)
    ckpt_io.save_checkpoint(tmp_path, method, step=1)
    with pytest.raises(CheckpointError, match=r"meta\.json: field 'method\.registry_name' is None.*cls="):
        load_method(tmp_path)
    rebuilt = load_method(tmp_path, cls=Tiny)
    assert type(rebuilt) is Tiny and rebuilt.width == 5 and "patch" in rebuilt.discriminators


def _tamper(ckpt, **method_fields):
    meta_file = ckpt / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["method"].update(method_fields)
    meta_file.write_text(json.dumps(meta))
    return meta_file


def test_a_tampered_meta_json_cannot_run_code(tmp_path):
    """Regression (issue 8, finding 1): an unknown registry name made load_method import the
    ``class`` of meta.json and call it with ``init``: ``os:system`` ran a shell command."""
    marker = tmp_path / "pwned"
    ckpt = ckpt_io.save_checkpoint(tmp_path / "run", Tiny(), step=1)
    meta_file = _tamper(ckpt, **{"class": "os:system", "registry_name": None,
                                 "init": {"command": f"touch {marker}"}})
    with pytest.raises(CheckpointError) as info:
        load_method(ckpt)
    assert str(meta_file) in str(info.value) and "'method.registry_name'" in str(info.value)
    assert "never imported" in str(info.value)
    _tamper(ckpt, registry_name="os:system")  # a name that is not a registry key is no import path either
    with pytest.raises(CheckpointError, match="not a registered learned method"):
        load_method(ckpt)
    _tamper(ckpt, registry_name="telea", init={})  # registered, but classical: no weights to load
    with pytest.raises(CheckpointError, match="not a registered learned method"):
        load_method(ckpt)
    assert not marker.exists()


class _Needs(Tiny):
    """Required constructor arguments and a loop over an int (``blocks``)."""

    def __init__(self, channels: int, width: int, blocks: int = 0, scale: float = 1.0,
                 kernel: tuple[int, int] = (3, 3)):
        super().__init__(channels=channels, width=width)
        self.blocks, self.scale, self.kernel = blocks, scale, kernel
        self.extra = nn.ModuleList(nn.Conv2d(1, 1, 1) for _ in range(blocks))


@pytest.mark.parametrize(("init", "message"), [
    ({"channels": 3, "width": 8, "command": "ls"}, r"'method\.init\.command' is not a parameter of _Needs"),
    ({"channels": 3, "width": "8"}, r"'method\.init\.width' must be int for _Needs, got '8'"),
    ({"channels": 3, "width": True}, r"'method\.init\.width' must be int"),
    ({"channels": 3, "width": 8.0}, r"'method\.init\.width' must be int"),
    ({"channels": 3, "width": None}, r"'method\.init\.width' must be int"),
    ({"channels": 3, "width": [8]}, r"'method\.init\.width' must be int"),
    ({"channels": 3, "width": {"__preset__": {}}}, r"'method\.init\.width' is not a valid preset"),
    ({"channels": 3, "width": 8, "scale": float("nan")}, r"'method\.init\.scale' must be float"),
    ({"channels": 3, "width": 8, "scale": "1e9"}, r"'method\.init\.scale' must be float"),
    ({"channels": 3, "width": 8, "kernel": [3, 3, 3]}, r"'method\.init\.kernel' must be tuple"),
    ({"channels": 3}, r"'method\.init' lacks the required argument\(s\) width"),
    ({"channels": 3, "width": 10**9}, r"does not fit the saved weights: net\.0\.weight"),  # no 40 GB allocated
    ({"channels": 3, "width": 8, "blocks": 10**8}, r"more than \d+ parameter tensors"),  # no endless build
    ({"channels": 3, "width": 8, "blocks": -1}, None),  # range(-1) is empty: same model, accepted
])
def test_constructor_arguments_are_checked_against_the_signature(tmp_path, init, message):
    ckpt = ckpt_io.save_checkpoint(tmp_path, _Needs(3, 8), step=1)
    meta_file = _tamper(ckpt, init=init)
    if message is None:
        assert isinstance(load_method(ckpt, cls=_Needs), _Needs)
        return
    with pytest.raises(CheckpointError, match=message) as info:
        load_method(ckpt, cls=_Needs)
    assert str(meta_file) in str(info.value)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("method", ["tiny"], r"field 'method' must be an object"),
    ("method", {"init": {}}, r"field 'method\.name' must be a string"),
    ("step", -3, r"field 'step' must be a non-negative integer"),
    ("step", "7", r"field 'step' must be a non-negative integer"),
    ("metrics", {"evals": "x"}, r"field 'metrics\.evals' must be a list"),
    ("image_shape", [3, 10**12], r"field 'image_shape' must be \[channels, height, width\]"),
    ("format", "1", r"checkpoint format '1'"),
])
def test_tampered_meta_fields_are_named(tmp_path, field, value, message):
    ckpt = ckpt_io.save_checkpoint(tmp_path, Tiny(), step=1)
    meta = json.loads((ckpt / "meta.json").read_text())
    meta[field] = value
    (ckpt / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message):
        load_method(ckpt, cls=Tiny)
    with pytest.raises(CheckpointError, match=message):
        load_weights(Tiny(), ckpt)


def test_registered_methods_round_trip_with_tuple_arguments(tmp_path):
    """JSON has no tuples: ``dilations`` comes back as the tuple the signature asks for."""
    method = registry.build("global_local", channels=1, preset="smoke", dilations=(2, 4))
    ckpt_io.save_checkpoint(tmp_path, method, step=1)
    rebuilt = load_method(tmp_path)
    assert rebuilt.build_config["init"]["dilations"] == (2, 4)
    for key, value in method.state_dict().items():
        assert torch.equal(value, rebuilt.state_dict()[key]), key


def test_a_crash_while_writing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    method = Tiny()
    ckpt_io.save_checkpoint(tmp_path, method, step=3)
    good = {k: v.clone() for k, v in method.state_dict().items()}
    with torch.no_grad():
        method.net[0].weight.add_(1.0)

    real_save = ckpt_io.save_file
    calls = []

    def crash_on_second_file(tensors, path):
        calls.append(path)
        real_save(tensors, path)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(ckpt_io, "save_file", crash_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        ckpt_io.save_checkpoint(tmp_path, method, step=6)
    assert ckpt_io.latest_checkpoint(tmp_path).name == "step_00000003"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step_00000003"]
    fresh = Tiny()
    load_weights(fresh, tmp_path)
    assert all(torch.equal(fresh.state_dict()[k], good[k]) for k in good)


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    for step in (1, 2, 3):
        ckpt_io.save_checkpoint(tmp_path, Tiny(), step=step, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000002", "step_00000003"]


def test_wrong_architecture_or_method_is_named(tmp_path):
    ckpt_io.save_checkpoint(tmp_path, Tiny(width=8), step=1)
    with pytest.raises(CheckpointError, match=r"net\.0\.weight: checkpoint \(8, 4, 3, 3\) vs model \(16, 4, 3, 3\)"):
        load_weights(Tiny(width=16), tmp_path)
    with pytest.raises(CheckpointError, match="missing in the checkpoint: discriminators.patch"):
        load_weights(Tiny(adversarial=True), tmp_path)

    class Other(Tiny):
        name = "other"

    with pytest.raises(CheckpointError, match="holds method 'tiny'.*not 'other'"):
        load_weights(Other(), tmp_path)


def test_incompatible_format_and_non_checkpoints_are_refused(tmp_path):
    path = ckpt_io.save_checkpoint(tmp_path / "run", Tiny(), step=1)
    meta = json.loads((path / "meta.json").read_text())
    meta.update(format=99, library_version="9.0.0")
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"format 99 \(written by survey_lib 9\.0\.0\).*reads format 1"):
        load_method(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_method(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a survey_lib checkpoint"):
        load_method(tmp_path / "empty")


def test_resume_with_no_checkpoint_yet_starts_afresh(tmp_path):
    result = train(Tiny(), tiny_data(8), steps=2, batch_size=4, live=False, out_dir=tmp_path, resume=True)
    assert result.steps == 2 and len(result.history["l1"]) == 2
    assert result.checkpoint == tmp_path / "step_00000002"
    again = train(Tiny(), tiny_data(8), steps=2, batch_size=4, live=False, out_dir=tmp_path, resume=True)
    assert again.steps == 2 and again.history == result.history  # already done: nothing more to do


class _PresetSized(Tiny):
    """Takes the whole preset as a constructor argument (as some registered methods do)."""

    def __init__(self, channels: int = 3, width: int = 8, preset=None):
        super().__init__(channels=channels, width=width + (preset.image_size if preset else 0))
        self.preset_name = preset.name if preset else None

    @classmethod
    def preset_kwargs(cls, preset):
        return {"preset": preset}


def test_a_preset_constructor_argument_is_saved_as_its_fields(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.REGISTRY, "sized", registry.MethodInfo(
        "sized", f"{_PresetSized.__module__}:_PresetSized", "test", "none"))
    method = registry.build("sized", preset="smoke")
    ckpt_io.save_checkpoint(tmp_path, method, step=1)
    meta = json.loads((tmp_path / "step_00000001" / "meta.json").read_text())
    assert meta["method"]["init"]["preset"]["__preset__"]["name"] == "smoke"
    rebuilt = load_method(tmp_path)
    assert rebuilt.preset_name == "smoke" and rebuilt.net[0].out_channels == method.net[0].out_channels


def test_truncated_or_garbled_files_are_checkpoint_errors(tmp_path):
    """Regression: safetensors' own SafetensorError escaped (a traceback from the CLI)."""
    train(Tiny(), tiny_data(8), steps=1, batch_size=4, live=False, out_dir=tmp_path)
    ckpt = ckpt_io.latest_checkpoint(tmp_path)
    (ckpt / "state.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    with pytest.raises(CheckpointError, match="cannot read the training state .*corrupt or incomplete"):
        train(Tiny(), tiny_data(8), steps=2, batch_size=4, live=False, out_dir=tmp_path, resume=True)
    model_file = ckpt / "model.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read the weights .*corrupt or incomplete"):
        load_method(tmp_path, cls=Tiny)
    with pytest.raises(CheckpointError, match="must be a str or pathlib.Path, got NoneType"):
        load_method(None)


def test_weights_files_must_hold_finite_tensors_of_the_models_dtypes(tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = ckpt_io.save_checkpoint(tmp_path, Tiny(), step=1)
    weights = load_file(str(ckpt / "model.safetensors"))
    for bad, message in ((torch.full_like(weights["net.0.bias"], float("nan")), "'net.0.bias' holds NaN"),
                         (weights["net.0.bias"].double(), "'net.0.bias' is torch.float64, the model's is torch.float32"),
                         (weights["net.0.bias"].to(torch.int32), "is torch.int32")):
        save_file({**weights, "net.0.bias": bad}, str(ckpt / "model.safetensors"))
        with pytest.raises(CheckpointError, match=message):
            load_method(ckpt, cls=Tiny)


def test_links_deep_json_and_bad_cls_are_refused(tmp_path):
    ckpt = ckpt_io.save_checkpoint(tmp_path / "run", Tiny(), step=1)
    with pytest.raises(CheckpointError, match="cls must be an nn.Module subclass, got <class 'int'>"):
        load_method(ckpt, cls=int)
    meta_file = ckpt / "meta.json"
    outside = tmp_path / "outside.json"
    outside.write_text(meta_file.read_text())
    meta_file.unlink()
    meta_file.symlink_to(outside)
    for path in (ckpt, tmp_path / "run"):
        with pytest.raises(CheckpointError, match="meta.json is a symbolic link"):
            load_method(path, cls=Tiny)
    meta_file.unlink()
    meta_file.write_text('{"library": "survey_lib", "format": 1, "x": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(CheckpointError, match="is not readable JSON .*recursion"):  # was a RecursionError
        load_method(ckpt, cls=Tiny)
