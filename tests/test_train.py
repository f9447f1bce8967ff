"""The training engine: losses go down, every term is logged, divergence is caught.

The methods here are tiny test-only models (two convolutions; one variant with a
discriminator); other engine tests import them from this module.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from survey_lib.data.checks import InputError
from survey_lib.models.base import Method
from survey_lib.train import Trainer, TrainingDiverged, TrainResult, train


class Tiny(Method):
    """Two 3x3 convolutions on [blanked image, mask]; optionally a small discriminator.

    ``noise`` adds a random perturbation to the input during training, so runs use the
    torch RNG (resume must restore it). No BatchNorm: DDP tests need rank-independent
    statistics.
    """

    name = "tiny"
    lr = 1e-2

    def __init__(self, channels: int = 3, width: int = 8, adversarial: bool = False, noise: float = 0.0):
        super().__init__()
        self.channels, self.width, self.adversarial, self.noise = channels, width, adversarial, noise
        self.net = nn.Sequential(nn.Conv2d(channels + 1, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, channels, 3, padding=1))
        if adversarial:
            self.discriminators["patch"] = nn.Sequential(
                nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([image, mask], 1)))

    def _fill(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = image * (1 - mask)
        if self.noise and self.training:
            x = x + self.noise * torch.randn_like(x)
        return self(x, mask)

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = self._fill(image, mask)
        out = {"l1": (pred - image).abs().mean()}
        if self.adversarial:
            out["adv"] = 0.1 * nn.functional.softplus(-self.discriminators["patch"](pred)).mean()
        return out

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self._fill(image, mask)
        disc = self.discriminators["patch"]
        return {"real": nn.functional.softplus(-disc(image)).mean(),
                "fake": nn.functional.softplus(disc(fake)).mean()}


def tiny_data(n: int = 16, size: int = 16, channels: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random images (learnable from their surroundings) and random box holes."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 4, 4, generator=g)
    images = nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):
        y, x = torch.randint(0, size // 2, (2,), generator=g).tolist()
        masks[i, :, y:y + size // 3, x:x + size // 3] = 1.0
    return images.clamp(0, 1), masks


def test_training_lowers_the_loss_and_logs_every_step():
    torch.manual_seed(0)
    result = train(Tiny(), tiny_data(), steps=40, batch_size=8, live=False)
    assert isinstance(result, TrainResult) and result.steps == 40
    assert set(result.history) == {"l1", "total"}
    assert all(len(v) == 40 for v in result.history.values())
    # one loss term: total is exactly that term
    assert result.history["total"] == result.history["l1"]
    first, last = sum(result.history["l1"][:5]) / 5, sum(result.history["l1"][-5:]) / 5
    assert last < 0.7 * first, (first, last)
    assert result.seconds > 0 and result.checkpoint is None


def test_adversarial_method_logs_generator_and_discriminator_terms():
    torch.manual_seed(0)
    result = train(Tiny(adversarial=True), tiny_data(), steps=3, batch_size=4, live=False)
    assert set(result.history) == {"l1", "adv", "total", "d_real", "d_fake", "d_total"}
    for i in range(3):
        h = result.history
        assert math.isclose(h["total"][i], h["l1"][i] + h["adv"][i], rel_tol=1e-6)
        assert math.isclose(h["d_total"][i], h["d_real"][i] + h["d_fake"][i], rel_tol=1e-6)


def test_discriminator_only_moves_with_its_own_optimiser():
    """d_lr=0 freezes the discriminator although the generator's loss flows through it."""
    torch.manual_seed(0)
    method = Tiny(adversarial=True)
    d_before = {k: v.clone() for k, v in method.discriminators.state_dict().items()}
    g_before = method.net[0].weight.clone()
    train(method, tiny_data(), steps=3, batch_size=4, live=False, d_lr=0.0)
    for k, v in method.discriminators.state_dict().items():
        assert torch.equal(v, d_before[k]), k
    assert not torch.equal(method.net[0].weight, g_before)


class _NanAt(Tiny):
    """Loss 'l1' becomes NaN from the ``bad_step``-th training call on (the engine's gradient-free
    check of the weights before a checkpoint is not counted)."""

    def __init__(self, bad_step: int, **kw):
        super().__init__(**kw)
        self.bad_step, self.calls = bad_step, 0

    def generator_losses(self, image, mask):
        self.calls += torch.is_grad_enabled()
        out = super().generator_losses(image, mask)
        if self.calls >= self.bad_step:
            out["l1"] = out["l1"] * float("nan")
        return out


def test_nan_loss_stops_with_the_loss_name_step_and_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged) as info:
        train(_NanAt(5), tiny_data(), steps=8, batch_size=4, live=False, out_dir=tmp_path,
              checkpoint_every=2)
    err = info.value
    assert (err.step, err.what, err.name) == (5, "loss", "l1")
    assert "step 5" in str(err) and "'l1'" in str(err)
    assert err.checkpoint == tmp_path / "step_00000004"
    assert str(err.checkpoint) in str(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step_00000004"]


class _NanGrad(Tiny):
    """A finite loss whose gradient w.r.t. ``net.2.bias`` is NaN: d/db sqrt(0*b) = 0*inf."""

    def generator_losses(self, image, mask):
        out = super().generator_losses(image, mask)
        out["trap"] = torch.sqrt(self.net[2].bias * 0.0).sum()
        return out


def test_nan_gradient_names_the_parameter():
    with pytest.raises(TrainingDiverged) as info:
        train(_NanGrad(), tiny_data(), steps=2, batch_size=4, live=False)
    assert info.value.what == "gradient of" and info.value.name == "net.2.bias"
    assert info.value.step == 1 and "no checkpoint" in str(info.value)


def test_periodic_and_final_evaluation():
    pytest.importorskip("survey_lib.metrics")
    images, masks = tiny_data(8, seed=1)
    result = train(Tiny(), tiny_data(), steps=6, batch_size=4, live=False, eval_data=(images, masks),
                   preset="smoke")  # smoke: eval_every = 4
    assert [s for s, _ in result.evals] == [4, 6]
    assert result.final is result.evals[-1][1]
    assert result.final.n == 8 and math.isfinite(result.final.value("all", "hole_mae"))


def test_cosine_and_step_schedules_follow_their_formulas():
    method = Tiny()
    trainer = Trainer(method, device=torch.device("cpu"), total_steps=10, schedule="cosine", lr=1.0)
    images, masks = tiny_data(4)
    lrs = []
    for k in range(10):
        trainer.step(images, masks, k + 1)
        lrs.append(trainer.g_opt.param_groups[0]["lr"])
    expected = [0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(1, 11)]
    assert lrs == pytest.approx(expected, abs=1e-12)
    trainer = Trainer(Tiny(), device=torch.device("cpu"), total_steps=9, schedule="step", lr=1.0, gamma=0.5)
    lrs = []
    for k in range(9):
        trainer.step(images, masks, k + 1)
        lrs.append(trainer.g_opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125])


def test_gradient_clipping_bounds_the_norm():
    trainer = Trainer(Tiny(), device=torch.device("cpu"), total_steps=1, clip_grad=1e-3)
    trainer.step(*tiny_data(4))
    norm = torch.nn.utils.get_total_norm([p.grad for p in trainer.g_params])
    assert float(norm) <= 1e-3 * (1 + 1e-5)


def test_adamw_option_uses_adamw_with_the_method_learning_rate():
    trainer = Trainer(Tiny(adversarial=True), device=torch.device("cpu"), total_steps=1, optimizer="adamw")
    assert isinstance(trainer.g_opt, torch.optim.AdamW)
    assert trainer.g_opt.param_groups[0]["lr"] == Tiny.lr
    assert trainer.d_opt.param_groups[0]["lr"] == Tiny.d_lr
    assert trainer.g_opt.param_groups[0]["betas"] == Tiny.betas


def test_same_seed_same_run():
    data = tiny_data()
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        method = Tiny(noise=0.1)
        train(method, data, steps=4, batch_size=4, live=False, seed=7)
        runs.append(method.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_bad_inputs_fail_clearly():
    images, masks = tiny_data(4)
    with pytest.raises(InputError, match="generator_losses"):
        train(nn.Conv2d(3, 3, 1), (images, masks), steps=1, live=False)
    with pytest.raises(InputError, match="3-channel images but the data has 1"):
        train(Tiny(), (images[:, :1], masks), steps=1, batch_size=2, live=False)
    with pytest.raises(InputError, match=r"values must lie in \[0, 1\]"):
        train(Tiny(), (images * 255, masks), steps=1, batch_size=2, live=False)
    with pytest.raises(InputError, match="resume=True needs out_dir"):
        train(Tiny(), (images, masks), steps=1, resume=True, live=False)
    with pytest.raises(InputError, match="steps must be"):
        train(Tiny(), (images, masks), steps=-1, live=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train(Tiny(), (images, masks), steps=1, batch_size=2, live=False, optimizer="sgd")


@pytest.mark.parametrize(("options", "message"), [
    ({"seed": -1}, "seed must be a non-negative int"),  # was numpy's "expected non-negative integer"
    ({"seed": "a"}, "seed must be a non-negative int"),  # was a TypeError about str + int
    ({"device": "tpu"}, "device must be a torch device"),  # was torch's list of 20 device types
    ({"lr": float("nan")}, "lr must be a learning rate >= 0"),
    ({"betas": (1.5, 0.9)}, r"betas must be two numbers in \[0, 1\)"),
    ({"checkpoint_every": -1}, "checkpoint_every must be a positive int"),  # was: saved every step
    ({"num_workers": -1}, "num_workers must be a non-negative int"),
    ({"keep_checkpoints": -1}, "keep_checkpoints must be a non-negative int"),
    # issue 8: were TypeErrors from inside the loop or torch's "Invalid weight_decay value"
    ({"clip_grad": "1"}, "clip_grad must be a positive number"),
    ({"clip_grad": float("nan")}, "clip_grad must be a positive number"),
    ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
    ({"weight_decay": "x"}, "weight_decay must be a finite number >= 0"),
    ({"eval_batch_size": 0}, "eval_batch_size must be a positive int"),
    ({"callback": 5}, "callback must be callable"),
    ({"precision": "yes"}, "precision must be one of auto, fp32, bf16, fp16"),
    ({"precision": "fp16"}, "precision=.fp16. needs a CUDA device"),
    ({"preview": -3}, "preview must be a non-negative int"),
    ({"batch_size": 10**9}, r"batch_size=1000000000 needs 3814\.7 GiB .* at most 524288 fit"),  # was: hung
])
def test_bad_options_fail_before_training(options, message):
    with pytest.raises(InputError, match=message):
        train(Tiny(), tiny_data(4), **{"steps": 1, "batch_size": 2, "live": False, **options})


def test_unavailable_device_and_a_file_as_out_dir_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available on this machine"):
        train(Tiny(), tiny_data(4), steps=1, batch_size=2, live=False, device="cuda")
    blocker = tmp_path / "run.txt"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is a file; checkpoints need a directory"):  # was FileExistsError
        train(Tiny(), tiny_data(4), steps=1, batch_size=2, live=False, out_dir=blocker)


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, images, masks):
        self.images, self.masks = images, masks

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.masks[i]


def test_a_batch_with_the_wrong_layout_names_the_step():
    images, masks = tiny_data(4)
    with pytest.raises(InputError, match="batch of step 1: training masks must have shape"):
        train(Tiny(), _Dataset(images, masks[:, 0]), steps=1, batch_size=2, live=False)


class _RecordingPlot:
    instances: list[_RecordingPlot] = []

    def __init__(self, title="", every_s=None):
        self.title, self.updates, self.closed = title, [], False
        _RecordingPlot.instances.append(self)

    def update(self, step, losses, preview=None):
        self.updates.append((step, dict(losses), preview))

    def close(self):
        self.closed = True


def test_live_mode_feeds_the_plot_with_losses_and_a_composite_preview(monkeypatch):
    import survey_lib.viz as viz

    monkeypatch.setattr(viz, "LivePlot", _RecordingPlot)
    images, masks = tiny_data(8, seed=2)
    train(Tiny(), tiny_data(), steps=3, batch_size=4, live=True, preset="smoke", preview=3,
          eval_data=(images, masks))  # first step, then every plot_every_s, and the last step
    plot = _RecordingPlot.instances[-1]
    assert plot.title == "tiny" and plot.closed
    steps = [u[0] for u in plot.updates]
    assert steps[0] == 1 and steps[-1] == 3 and steps == sorted(set(steps))
    step, losses, preview = plot.updates[-1]
    assert set(losses) == {"l1", "total"}
    assert preview.shape == (3, 3, 16, 16)
    # a composite: the known pixels of the preview are the eval images' own
    known = (1 - masks[:3]).bool().expand(-1, 3, -1, -1)
    assert torch.equal(preview[known], images[:3][known])


def test_channels_last_trains_to_the_same_weights():
    weights = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        method = Tiny(adversarial=True)
        train(method, tiny_data(), steps=3, batch_size=4, live=False, channels_last=channels_last)
        weights.append(method.state_dict())
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, rtol=0, atol=1e-5, msg=key)


class _RandomForward(Tiny):
    """A stochastic method: ``forward`` itself draws random numbers (as samplers do)."""

    def forward(self, image, mask):
        return (super().forward(image, mask) + 0.01 * torch.rand_like(image)).clamp(0, 1)


def test_previews_and_evaluations_do_not_change_the_training_run(monkeypatch):
    """Previews are drawn on a wall-clock timer: they must not consume the training's RNG."""
    import survey_lib.viz as viz

    monkeypatch.setattr(viz, "LivePlot", _RecordingPlot)
    eval_data = tiny_data(4, seed=3)
    weights = []
    for live, evals in ((False, None), (True, eval_data)):
        torch.manual_seed(0)
        method = _RandomForward(noise=0.1)
        train(method, tiny_data(), steps=4, batch_size=4, live=live, eval_data=evals, preset="smoke")
        weights.append(method.state_dict())
    assert len(_RecordingPlot.instances[-1].updates) >= 2
    for key, value in weights[0].items():
        assert torch.equal(weights[1][key], value), key


# --- divergence: a checkpoint is only "good" when its own weights are (issue 8, finding 4) ----------------

class _Unbounded(Tiny):
    """No sigmoid and an L2 loss: an exploding update gives finite but huge weights whose loss is inf."""

    def forward(self, image, mask):
        return self.net(torch.cat([image, mask], 1))

    def generator_losses(self, image, mask):
        return {"l2": ((self._fill(image, mask) - image) ** 2).mean()}


def test_exploded_weights_are_never_saved_or_named_as_the_last_good_checkpoint(tmp_path):
    """Regression: at lr=1e10 step 1's weights (~1e10, finite) were saved and named "the last good
    checkpoint" although their output is already inf/NaN."""
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged) as info:
        train(_Unbounded(), tiny_data(8), steps=4, batch_size=4, live=False, lr=1e10, out_dir=tmp_path,
              checkpoint_every=1)
    err = info.value
    assert (err.step, err.what, err.name) == (1, "loss after the update", "l2")
    assert err.checkpoint is None and "no checkpoint was written" in str(err)
    assert not list(tmp_path.glob("step_*")) and not (tmp_path / "latest.json").exists()


def test_lama_at_an_exploding_learning_rate_keeps_only_good_checkpoints(tmp_path):
    """The issue's case: LaMa at lr=1e10. The first good checkpoint is written at a sane rate;
    resuming at lr=1e10 is refused (other lr), training afresh diverges without naming a bad one."""
    from survey_lib.models.registry import build

    images, masks = tiny_data(4, size=32, channels=1)
    torch.manual_seed(0)
    with pytest.raises(TrainingDiverged) as info:
        train(build("lama", channels=1, preset="smoke"), (images, masks), steps=3, batch_size=2, live=False,
              lr=1e10, out_dir=tmp_path, checkpoint_every=1)
    assert info.value.checkpoint is None and info.value.step == 1
    assert not list(tmp_path.glob("step_*"))


class _InfBuffer(Tiny):
    """A buffer that turns infinite at the second training step (a BatchNorm variance blowing up)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.register_buffer("running", torch.zeros(3))

    def generator_losses(self, image, mask):
        if torch.is_grad_enabled():
            self.running += 1
            if self.running[0] == 2:
                self.running.fill_(float("inf"))
        return super().generator_losses(image, mask)


def test_a_non_finite_buffer_stops_the_run_before_it_is_saved(tmp_path):
    with pytest.raises(TrainingDiverged) as info:
        train(_InfBuffer(), tiny_data(8), steps=4, batch_size=4, live=False, out_dir=tmp_path, checkpoint_every=1)
    err = info.value
    assert (err.step, err.what, err.name) == (2, "weights", "running")
    assert err.checkpoint == tmp_path / "step_00000001"
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000001"]


def test_a_learning_rate_adam_cannot_represent_is_refused_before_training():
    """Regression: lr=1e38 crashed inside Adam.step ("value cannot be converted to type float
    without overflow"): its first step is lr / (1 - beta1) = 1e39 > 3.4e38."""
    with pytest.raises(InputError, match=r"lr=1e\+38 is too large: .*1e\+39"):
        train(Tiny(), tiny_data(4), steps=1, batch_size=2, live=False, lr=1e38, betas=(0.9, 0.999))
    trainer = Trainer(Tiny(), device=torch.device("cpu"), total_steps=2)
    trainer.g_opt.param_groups[0]["lr"] = 1e39  # set behind the check's back: still a clean stop
    with pytest.raises(TrainingDiverged, match="optimizer step"):
        trainer.step(*tiny_data(4), step=1)


class _Collapsed(Tiny):
    """Finite losses, but the prediction is the same image whatever the input."""

    def forward(self, image, mask):
        return super().forward(image, mask) * 0.0 + 1.0


def test_a_constant_prediction_is_warned_about_at_evaluation():
    from survey_lib.train import PredictionCollapsed

    eval_data = tiny_data(4, seed=1)
    with pytest.warns(PredictionCollapsed, match="predicts the same image for every input at step 2"):
        train(_Collapsed(), tiny_data(4), steps=2, batch_size=2, live=False, eval_data=eval_data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PredictionCollapsed)
        train(Tiny(), tiny_data(4), steps=2, batch_size=2, live=False, eval_data=eval_data)


# --- resume: stored settings must be repeated (finding 9); tampered run files (finding 3) ----------------

@pytest.mark.parametrize(("change", "field"), [
    ({"lr": 1e-3}, "lr"), ({"batch_size": 2}, "batch_size"), ({"seed": 1}, "seed"),
    ({"optimizer": "adamw"}, "optimizer"), ({"clip_grad": 1.0}, "clip_grad"),
    ({"betas": (0.9, 0.99)}, "betas"), ({"data": tiny_data(12)}, "data_length"),
    ({"schedule": "cosine"}, "schedule"),
])
def test_resume_with_other_settings_is_refused_naming_the_stored_value(tmp_path, change, field):
    """Regression: a changed lr was silently replaced by the stored one, a changed batch size or
    seed silently used (the data order of another run)."""
    base = {"data": tiny_data(8), "batch_size": 4, "seed": 3}
    train(Tiny(), live=False, out_dir=tmp_path, steps=2, **base)
    with pytest.raises(InputError, match=rf"resume: .*field 'options\.{field}' of .*meta\.json"):
        train(Tiny(), live=False, out_dir=tmp_path, resume=True, steps=4, **{**base, **change})
    assert train(Tiny(), live=False, out_dir=tmp_path, resume=True, steps=4, **base).steps == 4  # more steps: fine


def test_resume_under_a_schedule_keeps_its_length(tmp_path):
    kwargs = {"batch_size": 4, "live": False, "out_dir": tmp_path, "schedule": "cosine"}
    train(Tiny(), tiny_data(8), steps=2, **kwargs)
    with pytest.raises(InputError, match=r"resume: steps=4 differs from the run's 2 .*Pass steps=2"):
        train(Tiny(), tiny_data(8), steps=4, resume=True, **kwargs)


def _run_dir(tmp_path):
    train(Tiny(), tiny_data(8), steps=2, batch_size=4, live=False, out_dir=tmp_path)
    return tmp_path, tmp_path / "step_00000002"


@pytest.mark.parametrize(("pointer", "message"), [
    ('{"checkpoint": "../elsewhere", "step": 2}', r"must name a step_NNNNNNNN directory of this run"),
    ('{"checkpoint": "/etc", "step": 2}', r"must name a step_NNNNNNNN directory"),
    ('{"checkpoint": 2}', r"field 'checkpoint' must name"),
    ('["step_00000002"]', r"field 'checkpoint' must name"),
    ('{"checkpoint": "step_00000009"}', r"missing or incomplete"),
    ("{not json", r"latest\.json is not readable JSON"),
    (b"\xff\xfe", r"latest\.json is not readable JSON"),
])
def test_a_tampered_latest_json_is_one_clear_error(tmp_path, pointer, message):
    from survey_lib.checkpoint import CheckpointError

    run, _ = _run_dir(tmp_path)
    latest = run / "latest.json"
    latest.write_bytes(pointer if isinstance(pointer, bytes) else pointer.encode())
    with pytest.raises(CheckpointError, match=message):
        train(Tiny(), tiny_data(8), steps=3, batch_size=4, live=False, out_dir=run, resume=True)


def test_a_checkpoint_linked_from_outside_the_run_is_refused(tmp_path):
    from survey_lib.checkpoint import CheckpointError, load_method

    _, ckpt = _run_dir(tmp_path / "outside")
    run = tmp_path / "run"
    run.mkdir()
    (run / "step_00000002").symlink_to(ckpt, target_is_directory=True)
    (run / "latest.json").write_text('{"checkpoint": "step_00000002", "step": 2}')
    with pytest.raises(CheckpointError, match="a link out of the run directory"):
        train(Tiny(), tiny_data(8), steps=3, batch_size=4, live=False, out_dir=run, resume=True)
    with pytest.raises(CheckpointError, match="a link out of the run directory"):
        load_method(run, cls=Tiny)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.pop("step"), r"field 'step' must be a non-negative integer, got None"),
    (lambda s: s.update(step="2"), r"field 'step' must be a non-negative integer"),
    (lambda s: s.update(step=3), r"field 'step' is 3 but meta\.json says 2"),
    (lambda s: s.update(samples_seen=-4), r"field 'samples_seen' must be a non-negative integer"),
    (lambda s: s.update(history=[]), r"field 'history' must be an object"),
    (lambda s: s["history"].update(l1=[0.1, 0.2]), r"field 'history\.l1' must be a 1-D float tensor"),
    (lambda s: s.update(rng={}), r"field 'rng' must be a non-empty list"),
    (lambda s: s["rng"][0].update(torch={"__tensor__": "nope"}), r"names tensor 'nope'"),
    (lambda s: s["rng"][0].update(python=[3]), r"field 'rng' is not a valid random-generator state"),
    (lambda s: s["rng"][0].update(numpy={"__ndarray__": [1], "dtype": "object"}), r"dtype 'object'"),
    (lambda s: s["trainer"].pop("g_opt"), r"lacks the generator optimiser"),
    (lambda s: s["trainer"]["g_opt"]["param_groups"][0].update(lr=1e300), r"does not fit this model: lr=1e\+300 is too large"),
    (lambda s: s["trainer"]["g_opt"]["param_groups"][0].update(lr="fast"), r"param_groups\.0\.lr' must be a finite"),
    (lambda s: s["trainer"]["g_opt"]["param_groups"][0].update(betas={"__tuple__": [2, 0]}), r"betas' must be two"),
    (lambda s: s["trainer"]["g_opt"]["param_groups"][0].update(params=[0]), r"optimiser/schedule state does not fit"),
    (lambda s: s["trainer"].update(schedulers=7), r"'trainer\.schedulers' must be a list"),
    (lambda s: s["trainer"]["g_opt"].update(state={"__dict__": "x"}), r"__dict__ entry must be a list"),
])
def test_a_tampered_state_json_names_the_file_and_field(tmp_path, edit, message):
    """Regression: a tampered state.json escaped as KeyError/TypeError tracebacks (or crashed later in Adam)."""
    import json

    from survey_lib.checkpoint import CheckpointError

    run, ckpt = _run_dir(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    edit(state)
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=message) as info:
        train(Tiny(), tiny_data(8), steps=3, batch_size=4, live=False, out_dir=run, resume=True)
    assert "state.json" in str(info.value)


def test_optimizer_state_of_the_wrong_shape_or_not_finite_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    from survey_lib.checkpoint import CheckpointError

    run, ckpt = _run_dir(tmp_path)
    tensors = load_file(str(ckpt / "state.safetensors"))
    key = next(k for k in tensors if k.endswith("exp_avg"))
    for bad, message in ((torch.zeros(2), "has shape"), (torch.full_like(tensors[key], float("nan")), "NaN")):
        save_file({**tensors, key: bad}, str(ckpt / "state.safetensors"))
        with pytest.raises(CheckpointError, match=message):
            train(Tiny(), tiny_data(8), steps=3, batch_size=4, live=False, out_dir=run, resume=True)


def test_stale_temporaries_of_an_interrupted_save_are_removed(tmp_path):
    """Regression: the ``.tmp-latest.json-PID`` *file* a killed save leaves was never removed
    (rmtree cannot delete a file and its error was ignored)."""
    run, _ = _run_dir(tmp_path)
    (run / ".tmp-latest.json-999").write_text("{}")
    (run / ".tmp-step_00000004-999").mkdir()
    (run / ".tmp-link").symlink_to(tmp_path.parent)  # a link is unlinked, never followed
    train(Tiny(), tiny_data(8), steps=3, batch_size=4, live=False, out_dir=run, resume=True)
    assert sorted(p.name for p in run.iterdir()) == ["latest.json", "step_00000003"]
    assert tmp_path.parent.exists()


def test_a_seed_torch_cannot_take_is_refused():
    with pytest.raises(InputError, match="seed must be a non-negative int below 2"):
        train(Tiny(), tiny_data(4), steps=1, batch_size=2, live=False, seed=2**64)
