"""Precision (fp32 / bf16 autocast) and the per-method compute budget of the presets."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from survey_lib import config
from survey_lib.config import PRESETS, cpu_bf16_native, get_preset, resolve_precision
from survey_lib.data.checks import InputError
from survey_lib.models import registry
from survey_lib.models.registry import build, preset_for
from survey_lib.train import Trainer, train
from tests.test_train import Tiny, tiny_data


def test_resolve_precision_names_and_devices():
    assert resolve_precision("fp32", "cpu") is None
    assert resolve_precision("bf16", "cpu") is torch.bfloat16
    assert resolve_precision("fp32", "mps") is None
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA device"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half", "cpu")


@pytest.mark.parametrize("native", [True, False])
def test_auto_uses_bf16_on_a_cpu_only_where_it_is_native(monkeypatch, native):
    monkeypatch.setattr(config, "cpu_bf16_native", lambda: native)
    assert resolve_precision("auto", "cpu") is (torch.bfloat16 if native else None)


def test_native_bf16_needs_the_cpu_flags(monkeypatch):
    """oneDNN may call bf16 'supported' where it only emulates it: the CPU flags decide."""
    cpu_bf16_native.cache_clear()
    try:
        monkeypatch.setattr(config, "_cpu_flags", lambda: {"avx2", "fma"})
        assert cpu_bf16_native() is False
    finally:
        cpu_bf16_native.cache_clear()


def test_every_preset_names_a_valid_precision_and_smoke_is_fp32():
    for p in PRESETS.values():
        assert p.precision in config.PRECISIONS
    assert PRESETS["smoke"].precision == "fp32"  # tests give the same numbers on every CPU


class _RecordsAutocast(Tiny):
    """Tiny, noting whether its losses ran under CPU autocast and at which dtype."""

    def generator_losses(self, image, mask):
        self.seen = (torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"),
                     self.net(torch.cat([image, mask], 1)).dtype)
        return super().generator_losses(image, mask)


@pytest.mark.parametrize("precision, expect", [("fp32", (False, torch.float32)),
                                               ("bf16", (True, torch.bfloat16))])
def test_the_trainer_runs_the_losses_in_the_chosen_precision(precision, expect):
    torch.manual_seed(0)
    method = _RecordsAutocast()
    images, masks = tiny_data(4)
    trainer = Trainer(method, device=torch.device("cpu"), total_steps=2, precision=precision)
    trainer.step(images, masks, 1)
    enabled, _, out_dtype = method.seen
    assert (enabled, out_dtype) == expect
    assert all(p.dtype == torch.float32 for p in method.parameters())  # weights stay fp32


def test_bf16_training_lowers_the_loss_like_fp32():
    images, masks = tiny_data(16)
    finals = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        result = train(Tiny(), (images, masks), steps=30, batch_size=8, live=False, seed=0,
                       precision=precision)
        total = result.history["l1"]
        assert total[-1] < total[0]
        finals[precision] = total[-1]
    assert finals["bf16"] == pytest.approx(finals["fp32"], rel=0.2)


def test_trainer_rejects_an_unknown_precision():
    with pytest.raises(InputError, match="precision must be one of"):
        Trainer(Tiny(), device=torch.device("cpu"), total_steps=1, precision="float8")


# -- compute budget ------------------------------------------------------------------------------
def test_heavy_methods_get_a_smaller_width_and_fewer_steps_at_cpu():
    cpu = get_preset("cpu")
    assert preset_for("unet", cpu) == cpu  # the reference cost: no budget change
    deepfill = preset_for("deepfill_v1", cpu)
    assert (deepfill.width, deepfill.steps) == (8, 330)
    assert build("deepfill_v1", preset="cpu").build_config["init"]["width"] == 8
    # ablation pairs share one budget, so their comparison stays fair
    assert preset_for("coarse_to_fine", cpu) == deepfill
    assert preset_for("global_local", cpu) == preset_for("patchgan", cpu)


def test_a_size_you_set_yourself_wins_over_the_budget():
    mine = get_preset("cpu").with_overrides(width=48)
    p = preset_for("deepfill_v1", mine)
    assert (p.width, p.steps) == (48, 330)  # width kept, steps still budgeted
    assert build("deepfill_v1", preset=mine).build_config["init"]["width"] == 48


def test_every_budget_names_preset_fields():
    fields = {f.name for f in dataclasses.fields(config.Preset)}
    for info in registry.list_methods():
        for preset_name, changes in info.budget.items():
            assert preset_name in PRESETS, info.name
            assert set(changes) <= fields, info.name


def test_train_defaults_to_the_methods_budgeted_steps(monkeypatch):
    info = registry.REGISTRY["pconv"]
    monkeypatch.setitem(registry.REGISTRY, "pconv",
                        dataclasses.replace(info, budget={"smoke": {"steps": 3}}))
    method = build("pconv", preset="smoke")
    images, masks = tiny_data(8, size=32)
    result = train(method, (images, masks), preset="smoke", batch_size=4, live=False)
    assert result.steps == 3
    assert {len(v) for v in result.history.values()} == {3}
    # an explicit steps= still wins
    assert train(build("pconv", preset="smoke"), (images, masks), preset="smoke", steps=1,
                 batch_size=4, live=False).steps == 1


def test_channels_last_follows_the_preset_unless_given():
    assert PRESETS["smoke"].channels_last is False and PRESETS["cpu"].channels_last is True
    images, masks = tiny_data(4)
    for preset, given, expect in (("smoke", None, False), ("cpu", None, True), ("cpu", False, False)):
        method = Tiny()
        train(method, (images, masks), preset=preset, steps=1, batch_size=2, live=False, channels_last=given)
        weight = method.net[0].weight
        assert weight.is_contiguous(memory_format=torch.channels_last) is expect
