"""The training engine: one loop for every learned method.

:func:`train` takes any :class:`survey_lib.models.base.Method` and a data set of
(image, mask) pairs and does everything a notebook should not have to: optimisers
(Adam or AdamW at the method's own ``lr``/``betas``/``d_lr``), an optional LR schedule,
gradient clipping, mixed precision on CUDA, a discriminator step before each generator
step, NaN/Inf detection, periodic evaluation, a progress bar and live plot,
checkpoints with exact resume, and DistributedDataParallel under ``torchrun``.

The pieces are split so each stays readable:

* :class:`Trainer` — optimisers + one optimisation step (no data, no logging). The
  benchmark uses it directly.
* :func:`train` — the loop: data order (:mod:`survey_lib.distributed`), evaluation,
  logging and checkpoints (:mod:`survey_lib.checkpoint`).

Under ``torchrun --nproc_per_node=N`` the same call trains with DistributedDataParallel
(NCCL on GPUs, gloo on CPU); the method is wrapped once, with both the generator and the
discriminator passes going through the wrapper's ``forward`` and
``find_unused_parameters=True`` (each pass leaves the other network's parameters
unused). Logging, evaluation, the live plot and checkpoints happen on rank 0. BatchNorm
statistics are per rank unless ``sync_batchnorm`` (on by default for multi-GPU runs).

Loss names in ``TrainResult.history``: the method's generator terms as it names them,
``total`` (their sum, what is minimised), and for adversarial methods its discriminator
terms prefixed ``d_`` (unless already so) plus ``d_total``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from survey_lib import checkpoint as ckpt_io
from survey_lib import distributed as dist_util
from survey_lib.config import PRECISIONS, Preset, get_preset, resolve_precision, seed_everything
from survey_lib.config import device as best_device
from survey_lib.data.checks import InputError, check_divisible, check_image, check_mask, check_pair

__all__ = ["PredictionCollapsed", "TrainResult", "Trainer", "TrainingDiverged", "load_method", "load_weights",
           "train"]

load_method = ckpt_io.load_method  # re-exported: rebuild a trained method from a checkpoint
load_weights = ckpt_io.load_weights

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = (None, "cosine", "step")
#: largest seed accepted (torch takes 64-bit seeds; rank and resume offsets are added to it)
MAX_SEED = 2**62
#: most bytes the images and masks of one training batch may take (a typo must not exhaust memory)
MAX_BATCH_BYTES = 2 * 1024**3
#: a prediction whose per-pixel spread over an evaluation batch stays below this is "constant"
COLLAPSE_STD = 1e-4
#: options of a run that a resume must repeat (else two runs are silently mixed)
RESUME_OPTIONS = ("optimizer", "lr", "d_lr", "betas", "weight_decay", "schedule", "clip_grad", "batch_size",
                  "seed", "data_length")


class TrainingDiverged(RuntimeError):
    """A loss, a gradient or the weights became NaN or infinite; training stopped.

    Attributes: ``step`` (1-based step that failed), ``what`` ("loss", "gradient of",
    "weights", "loss after the update"...), ``name`` (the loss or parameter name),
    ``checkpoint`` (the last good one or None). A checkpoint is only ever written, and so
    only ever named here, when every weight and optimiser value is finite and the loss of
    the saved weights on that step's batch is finite (see :func:`train`).
    """

    def __init__(self, step: int, what: str, name: str, value: float, checkpoint: Path | None = None):
        self.step, self.what, self.name, self.value, self.checkpoint = step, what, name, value, checkpoint
        kept = (f"; the last good checkpoint is {checkpoint}" if checkpoint is not None
                else "; no checkpoint was written (pass out_dir= to keep one)")
        super().__init__(
            f"training diverged at step {step}: {what} {name!r} is {value}{kept}. "
            "Try a lower learning rate (lr=...) or gradient clipping (clip_grad=1.0)."
        )


class PredictionCollapsed(UserWarning):
    """The model predicts the same image whatever the input (e.g. after an exploding update).

    Training goes on (the losses are finite), but such a model has stopped learning:
    lower the learning rate or clip gradients.
    """


@dataclass
class TrainResult:
    """What a run produced. ``history[name]`` holds one value per step (since step 1,
    across resumes); ``evals`` the (step, EvalTable) pairs of this call; ``final`` the
    table at the last step (``None`` without ``eval_data``)."""

    method: nn.Module
    history: dict[str, list[float]] = field(default_factory=dict)
    evals: list[tuple[int, Any]] = field(default_factory=list)
    final: Any | None = None
    seconds: float = 0.0
    steps: int = 0
    checkpoint: Path | None = None

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return (f"TrainResult(method={getattr(self.method, 'name', type(self.method).__name__)!r}, "
                f"steps={self.steps}, seconds={self.seconds:.1f}, last={last}, "
                f"evals={len(self.evals)}, checkpoint={self.checkpoint})")


class _LossModule(nn.Module):
    """Routes ``forward`` to the method's generator or discriminator losses.

    DistributedDataParallel synchronises gradients only for passes that go through
    its ``forward``; this wrapper makes both of a GAN's passes do so.
    """

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, which: str, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        if which == "d":
            return self.method.discriminator_losses(image, mask)
        return self.method.generator_losses(image, mask)


def _lr_lambda(schedule: str | None, total_steps: int, step_size: int | None, gamma: float
               ) -> Callable[[int], float]:
    if schedule == "cosine":
        return lambda k: 0.5 * (1.0 + math.cos(math.pi * min(k, total_steps) / max(total_steps, 1)))
    if schedule == "step":
        size = step_size or max(total_steps // 3, 1)
        return lambda k: gamma ** (k // size)
    return lambda k: 1.0


def _check_step_size(opt: torch.optim.Optimizer) -> None:
    """Refuse a learning rate whose first Adam step cannot be represented in the weights' dtype.

    Adam's first update moves each weight by up to ``lr / (1 - beta1)``; beyond the dtype's
    largest value (3.4e38 for float32) torch fails inside ``Adam.step`` with an overflow.
    """
    for group in opt.param_groups:
        biggest = min((torch.finfo(p.dtype).max for p in group["params"] if p.is_floating_point()),
                      default=torch.finfo(torch.float32).max)
        beta1 = float(group["betas"][0])
        step = float(group["lr"]) / max(1.0 - beta1, 1e-300)
        if not step <= biggest:
            raise InputError(f"lr={group['lr']!r} is too large: Adam's first step would move weights by "
                             f"lr / (1 - beta1) = {step:.3g}, beyond the largest {biggest:.3g} the weights can hold")


class Trainer:
    """Optimisers, mixed precision and one optimisation step of a :class:`Method`.

    ``step(images, masks)`` runs a discriminator update (when the method has
    discriminators) then a generator update, and returns the logged loss values.
    """

    def __init__(
        self,
        method: nn.Module,
        *,
        device: torch.device,
        total_steps: int,
        optimizer: str = "adam",
        lr: float | None = None,
        d_lr: float | None = None,
        betas: tuple[float, float] | None = None,
        weight_decay: float | None = None,
        schedule: str | None = None,
        step_size: int | None = None,
        gamma: float = 0.1,
        clip_grad: float | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
        sync_batchnorm: bool | None = None,
        ctx: dist_util.DistContext | None = None,
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if clip_grad is not None and not clip_grad > 0:
            raise InputError(f"clip_grad must be a positive number or None, got {clip_grad}")
        self.method, self.device = method, device
        self.ctx = ctx or dist_util.DistContext()
        self.channels_last = channels_last
        if sync_batchnorm is None:  # default: under DDP on GPUs (CPU/gloo SyncBatchNorm is not supported)
            sync_batchnorm = self.ctx.enabled and device.type == "cuda"
        if sync_batchnorm:  # one set of batch statistics over the global batch, as in one process
            nn.SyncBatchNorm.convert_sync_batchnorm(method)
        method.to(device)
        if channels_last:
            method.to(memory_format=torch.channels_last)
        self.param_names = {id(p): n for n, p in method.named_parameters()}
        discs = getattr(method, "discriminators", None)
        self.d_params = [p for p in discs.parameters() if p.requires_grad] if discs is not None else []
        d_ids = {id(p) for p in self.d_params}
        self.g_params = [p for p in method.parameters() if p.requires_grad and id(p) not in d_ids]
        if not self.g_params:
            raise ValueError(f"{type(method).__name__} has no trainable generator parameters")
        betas = tuple(betas or getattr(method, "betas", (0.9, 0.999)))  # type: ignore[assignment]
        opt_cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
        wd = weight_decay if weight_decay is not None else (0.01 if optimizer == "adamw" else 0.0)
        self.g_opt = opt_cls(self.g_params, lr=lr if lr is not None else getattr(method, "lr", 2e-4), betas=betas, weight_decay=wd)
        self.d_opt = (opt_cls(self.d_params, lr=d_lr if d_lr is not None else getattr(method, "d_lr", 2e-4), betas=betas,
                              weight_decay=wd) if self.d_params else None)
        for opt in self.optimizers():
            _check_step_size(opt)
        fn = _lr_lambda(schedule, total_steps, step_size, gamma)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, fn) for o in self.optimizers()]
        self.clip_grad = clip_grad
        try:
            self.amp_dtype = resolve_precision(precision, device)
        except ValueError as err:
            raise InputError(str(err)) from None
        self.precision = precision
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        module: nn.Module = dist_util.wrap(_LossModule(method), self.ctx, device)
        self.module = torch.compile(module) if compile else module

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [o for o in (self.g_opt, self.d_opt) if o is not None]

    # -- one step --------------------------------------------------------------------------
    def _losses(self, which: str, images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            out = self.module(which, images, masks)
        kind = "discriminator_losses" if which == "d" else "generator_losses"
        if not isinstance(out, Mapping) or not out:
            raise TypeError(f"{type(self.method).__name__}.{kind} must return a non-empty dict of "
                            f"scalar tensors, got {type(out).__name__} {out!r:.80}")
        for name, value in out.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise TypeError(f"{type(self.method).__name__}.{kind}: loss {name!r} must be a scalar "
                                f"tensor, got {got}")
        return {k: v.float().reshape(()) for k, v in out.items()}

    def _finite_values(self, named: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """Loss values as floats (averaged over ranks); raise on NaN/Inf naming the loss."""
        stacked = dist_util.all_mean(torch.stack([v.detach() for v in named.values()]), self.ctx)
        values = dict(zip(named, stacked.tolist()))
        for name, value in values.items():
            if not math.isfinite(value):
                raise TrainingDiverged(step, "loss", name, value)
        return values

    def _clip_and_check(self, opt: torch.optim.Optimizer, params: list[nn.Parameter], step: int) -> None:
        """Clip gradients if asked; raise naming the first parameter with a NaN/Inf gradient.

        Under fp16 the GradScaler expects occasional infinities (it skips that step and
        lowers the scale), so gradients are only checked without it.
        """
        check = not self.scaler.is_enabled()
        if not check:
            self.scaler.unscale_(opt)
        grads = [p.grad for p in params if p.grad is not None]
        if not grads or (not check and self.clip_grad is None):
            return
        if self.clip_grad is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.clip_grad)
        else:
            norm = torch.nn.utils.get_total_norm(grads)
        if check and not bool(torch.isfinite(norm)):
            for p in params:
                if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                    bad = p.grad[~torch.isfinite(p.grad)].flatten()[0].item()
                    raise TrainingDiverged(step, "gradient of", self.param_names.get(id(p), "?"), bad)
            raise TrainingDiverged(step, "gradient norm", "total", float(norm))

    def _optimizer_step(self, opt: torch.optim.Optimizer, step: int) -> None:
        """``opt.step()`` (through the scaler); an arithmetic overflow inside it stops the run cleanly."""
        try:
            self.scaler.step(opt)
        except RuntimeError as err:
            if "overflow" not in str(err):
                raise
            raise TrainingDiverged(step, "optimizer step", type(opt).__name__, float("inf")) from None

    def step(self, images: torch.Tensor, masks: torch.Tensor, step: int = 0) -> dict[str, float]:
        """One discriminator update (if any) then one generator update; the logged losses."""
        images = images.to(self.device, non_blocking=True)
        masks = masks.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
            masks = masks.contiguous(memory_format=torch.channels_last)
        logged: dict[str, float] = {}
        if self.d_opt is not None:
            d_terms = self._losses("d", images, masks)
            d_total = torch.stack(list(d_terms.values())).sum()
            named = {(k if k.startswith("d_") else f"d_{k}"): v for k, v in d_terms.items()}
            logged.update(self._finite_values({**named, "d_total": d_total}, step))
            self.d_opt.zero_grad(set_to_none=True)
            self.scaler.scale(d_total).backward()
            self._clip_and_check(self.d_opt, self.d_params, step)
            self._optimizer_step(self.d_opt, step)
        g_terms = self._losses("g", images, masks)
        total = torch.stack(list(g_terms.values())).sum()
        logged = {**self._finite_values({**g_terms, "total": total}, step), **logged}
        self.g_opt.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self._clip_and_check(self.g_opt, self.g_params, step)
        self._optimizer_step(self.g_opt, step)
        self.scaler.update()
        for sched in self.schedulers:
            sched.step()
        return logged

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict() if self.d_opt is not None else None,
            "schedulers": [s.state_dict() for s in self.schedulers],
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Put back a saved state; a state that does not fit (tampered, other model) is refused.

        Beyond what torch checks, every optimiser value must be finite and of the shape of
        its parameter, and the hyper-parameters numbers in range, so that a bad file fails
        here with a :class:`~survey_lib.checkpoint.CheckpointError`, not later inside Adam.
        """
        if not isinstance(state, Mapping) or not isinstance(state.get("g_opt"), Mapping):
            raise ckpt_io.CheckpointError("the saved trainer state lacks the generator optimiser ('trainer.g_opt')")
        if (state.get("d_opt") is None) != (self.d_opt is None):
            raise ckpt_io.CheckpointError("the checkpoint and the model disagree on having discriminators")
        schedulers = state.get("schedulers", [])
        if not isinstance(schedulers, list) or len(schedulers) not in (0, len(self.schedulers)):
            raise ckpt_io.CheckpointError(f"'trainer.schedulers' must be a list of {len(self.schedulers)} "
                                          f"schedule states, got {schedulers!r:.80}")
        try:
            for opt, key in ((self.g_opt, "g_opt"), (self.d_opt, "d_opt")):
                if opt is not None:
                    opt.load_state_dict(state[key])
                    _check_optimizer_state(opt, key)
            for sched, s in zip(self.schedulers, schedulers):
                sched.load_state_dict(s)
                if not (isinstance(sched.last_epoch, int) and sched.last_epoch >= 0):
                    raise ValueError(f"schedule position {sched.last_epoch!r} is not a non-negative int")
            if self.scaler.is_enabled() and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except ckpt_io.CheckpointError:
            raise
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as err:
            raise ckpt_io.CheckpointError(f"the saved optimiser/schedule state does not fit this model: "
                                          f"{' '.join(str(err).split())[:300]}") from None


def _check_optimizer_state(opt: torch.optim.Optimizer, key: str) -> None:
    """Hyper-parameters in range, state tensors finite and shaped like their parameters."""
    for i, group in enumerate(opt.param_groups):
        for name in ("lr", "initial_lr", "eps", "weight_decay"):
            value = group.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ckpt_io.CheckpointError(f"'trainer.{key}.param_groups.{i}.{name}' must be a finite number "
                                              f">= 0, got {value!r:.40}")
        betas = group.get("betas", (0.9, 0.999))
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas)):
            raise ckpt_io.CheckpointError(f"'trainer.{key}.param_groups.{i}.betas' must be two numbers in [0, 1), "
                                          f"got {betas!r:.40}")
        _check_step_size(opt)
        for param in group["params"]:
            for name, value in opt.state.get(param, {}).items():
                if not isinstance(value, torch.Tensor):
                    raise ckpt_io.CheckpointError(f"'trainer.{key}.state.*.{name}' must be a tensor")
                if value.ndim and tuple(value.shape) != tuple(param.shape):
                    raise ckpt_io.CheckpointError(f"'trainer.{key}.state.*.{name}' has shape {tuple(value.shape)}, "
                                                  f"its parameter {tuple(param.shape)}")
                if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                    raise ckpt_io.CheckpointError(f"'trainer.{key}.state.*.{name}' holds NaN or infinite values")


# --- helpers of the loop ------------------------------------------------------------------------

def _as_dataset(data: Any) -> torch.utils.data.Dataset:
    """A Dataset of (image, mask) from a Dataset or an (images, masks) pair of tensors."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        images, masks = check_pair(data[0], data[1], allow_empty=True, allow_full=True)
        return torch.utils.data.TensorDataset(images, masks)
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise InputError(f"data must be a Dataset of (image, mask) pairs or an (images, masks) "
                         f"tuple of tensors, got {type(data).__name__}")
    if len(data) == 0:
        raise InputError("data is empty (length 0)")
    return data


def _check_options(*, seed: object, lr: object, d_lr: object, betas: object, checkpoint_every: object,
                   num_workers: object, keep_checkpoints: object, out_dir: object) -> None:
    """Refuse bad options before anything is built (torch would fail later, less clearly)."""
    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(seed) or not 0 <= seed < MAX_SEED:  # type: ignore[operator]
        raise InputError(f"seed must be a non-negative int below 2**62, got {seed!r:.40}")
    for name, value in (("lr", lr), ("d_lr", d_lr)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise InputError(f"{name} must be a learning rate >= 0 (0 freezes) or None, got {value!r}")
    if betas is not None:
        ok = isinstance(betas, (tuple, list)) and len(betas) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0.0 <= b < 1.0 for b in betas)
        if not ok:
            raise InputError(f"betas must be two numbers in [0, 1) (Adam's beta1, beta2), got {betas!r}")
    if checkpoint_every is not None and (not is_int(checkpoint_every) or checkpoint_every < 1):  # type: ignore[operator]
        raise InputError(f"checkpoint_every must be a positive int (steps) or None, got {checkpoint_every!r}")
    if num_workers is not None and (not is_int(num_workers) or num_workers < 0):  # type: ignore[operator]
        raise InputError(f"num_workers must be a non-negative int or None, got {num_workers!r}")
    if not is_int(keep_checkpoints) or keep_checkpoints < 0:  # type: ignore[operator]
        raise InputError(f"keep_checkpoints must be a non-negative int (0 keeps all), got {keep_checkpoints!r}")
    if out_dir is not None:
        if not isinstance(out_dir, (str, Path)):
            raise InputError(f"out_dir must be a str or pathlib.Path, got {type(out_dir).__name__}")
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise InputError(f"out_dir {str(out_dir)!r} is a file; checkpoints need a directory")


def _check_more_options(*, weight_decay: object, clip_grad: object, eval_batch_size: object, preview: object,
                        precision: object, callback: object) -> None:
    """The remaining options, named (torch's own messages say "Invalid weight_decay value" or
    fail with a TypeError at the first step)."""
    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if weight_decay is not None and not (number(weight_decay) and weight_decay >= 0):  # type: ignore[operator]
        raise InputError(f"weight_decay must be a finite number >= 0 or None, got {weight_decay!r:.40}")
    if clip_grad is not None and not (isinstance(clip_grad, (int, float)) and not isinstance(clip_grad, bool)
                                      and clip_grad > 0):
        raise InputError(f"clip_grad must be a positive number (max gradient norm) or None, got {clip_grad!r:.40}")
    if not (isinstance(eval_batch_size, int) and not isinstance(eval_batch_size, bool) and eval_batch_size >= 1):
        raise InputError(f"eval_batch_size must be a positive int, got {eval_batch_size!r:.40}")
    if not (isinstance(preview, int) and not isinstance(preview, bool) and preview >= 0):
        raise InputError(f"preview must be a non-negative int (images in the live plot), got {preview!r:.40}")
    if precision is not None and precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)} or None (the preset's), "
                         f"got {precision!r:.40}")
    if callback is not None and not callable(callback):
        raise InputError(f"callback must be callable as callback(step, losses) or None, got {type(callback).__name__}")


def _check_batch_memory(dataset: Any, batch_size: int) -> None:
    """Refuse a batch whose images alone would take more than :data:`MAX_BATCH_BYTES`."""
    first = dataset[0]
    per_sample = sum(t.numel() * t.element_size() for t in first if isinstance(t, torch.Tensor)) \
        if isinstance(first, (tuple, list)) else 0
    if per_sample and batch_size * per_sample > MAX_BATCH_BYTES:
        raise InputError(f"batch_size={batch_size} needs {batch_size * per_sample / 1024**3:.1f} GiB for its images "
                         f"and masks alone; at most {MAX_BATCH_BYTES // per_sample} fit the "
                         f"{MAX_BATCH_BYTES / 1024**3:.0f} GiB limit")


def _check_device(device: object) -> None:
    """A device torch knows and this machine has (clear message instead of a driver error)."""
    if device is None:
        return
    try:
        dev = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError) as err:
        raise InputError(f"device must be a torch device such as 'cpu', 'cuda' or 'mps', got {device!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r} but CUDA is not available on this machine; use device='cpu'")
    mps = getattr(torch.backends, "mps", None)
    if dev.type == "mps" and not (mps is not None and mps.is_available()):
        raise InputError(f"device={device!r} but Apple MPS is not available on this machine; use device='cpu'")


def _check_batch(batch: Any, step: int, method: nn.Module, first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate one collated training batch; errors say it came from the training data."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise InputError(f"the training data must yield (image, mask) pairs; step {step} got "
                         f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
    try:
        images = check_image(batch[0], "training images")
        masks = check_mask(batch[1], "training masks", like=images, allow_empty=True, allow_full=True)
        if first:
            check_divisible(images, int(getattr(method, "stride", 1)), getattr(method, "name", "this model"))
            want = getattr(method, "channels", None)
            if isinstance(want, int) and want != images.shape[1]:
                raise InputError(f"{getattr(method, 'name', 'the method')} was built for {want}-channel "
                                 f"images but the data has {images.shape[1]} channels")
    except InputError as err:
        raise InputError(f"batch of step {step}: {err}") from None
    return images, masks


@contextmanager
def _rng_untouched() -> Iterator[None]:
    """Run a side computation (evaluation, preview) without moving the training's RNG streams.

    Stochastic methods draw random numbers in ``forward``; without this, whether and when
    a preview was drawn (it depends on the wall clock) would change the training run.
    """
    state = ckpt_io.capture_rng()
    try:
        yield
    finally:
        ckpt_io.restore_rng(state)


def _evaluate(method: nn.Module, eval_data: tuple[torch.Tensor, torch.Tensor], batch_size: int,
              lpips: bool, step: int = 0) -> Any:
    """The evaluation table; warns :class:`PredictionCollapsed` when every prediction is the same image."""
    from survey_lib.metrics import evaluate

    outputs: list[torch.Tensor] = []

    def record(module: nn.Module, args: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor) and sum(len(o) for o in outputs) < 64:
            outputs.append(out.detach().float().cpu())

    handle = method.register_forward_hook(record)
    was_training = method.training
    method.eval()
    try:
        with _rng_untouched():
            table = evaluate(method, eval_data[0], eval_data[1], batch_size=batch_size, lpips=lpips)
    finally:
        handle.remove()
        method.train(was_training)
    preds = torch.cat(outputs) if outputs else torch.empty(0)
    if len(preds) >= 2 and float(preds.std(dim=0).max()) < COLLAPSE_STD:
        warnings.warn(
            f"{getattr(method, 'name', type(method).__name__)} predicts the same image for every input at "
            f"step {step} (largest per-pixel spread over {len(preds)} evaluation images: "
            f"{float(preds.std(dim=0).max()):.2g}); it has collapsed to a constant. Try a lower learning "
            "rate (lr=...) or gradient clipping (clip_grad=1.0).", PredictionCollapsed, stacklevel=3)
    return table


def _first_nonfinite(trainer: Trainer) -> tuple[str, float] | None:
    """(name, value) of the first NaN/Inf weight, buffer or optimiser value; None when all are finite."""
    for name, t in [*trainer.method.named_parameters(), *trainer.method.named_buffers()]:
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name, float(t[~torch.isfinite(t)].flatten()[0])
    for key, opt in (("g_opt", trainer.g_opt), ("d_opt", trainer.d_opt)):
        for param, values in (opt.state.items() if opt is not None else []):
            for k, v in values.items():
                if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
                    return f"{key} {k} of {trainer.param_names.get(id(param), '?')}", float("nan")
    return None


@torch.no_grad()
def _loss_of_weights(trainer: Trainer, images: torch.Tensor, masks: torch.Tensor, step: int) -> None:
    """Raise :class:`TrainingDiverged` unless the *updated* weights give a finite loss on this batch.

    A loss is computed before its update, so a finite loss at step k says nothing about
    the weights written after it (an exploding step leaves finite but huge weights whose
    output is NaN). This evaluates the generator losses of the current weights, without
    gradients, with the RNG streams and every buffer (BatchNorm statistics) put back: the
    training run is unchanged.
    """
    buffers = {k: v.clone() for k, v in trainer.method.named_buffers()}
    try:
        with _rng_untouched():
            terms = trainer._losses("g", images.to(trainer.device), masks.to(trainer.device))
            terms["total"] = torch.stack(list(terms.values())).sum()
            try:
                trainer._finite_values(terms, step)
            except TrainingDiverged as err:
                raise TrainingDiverged(step, "loss after the update", err.name, err.value) from None
    finally:
        for k, v in trainer.method.named_buffers():
            v.copy_(buffers[k])


def _preview(method: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Composites of the fixed preview batch (CPU), for the live plot."""
    from survey_lib.inpaint import inpaint

    with _rng_untouched():
        return inpaint(method, batch[0], batch[1]).cpu()


class _Live:
    """Progress bar + live plot, both only on rank 0 and only with ``live=True``.

    The plot is fed the mean of the losses since its last refresh and a fresh preview
    every ``every_s`` seconds. A preview costs a forward pass (a whole sampling chain
    for diffusion models), so the interval grows to at least 5x the time a preview
    takes: showing progress never costs more than a sixth of the run.
    """

    def __init__(self, enabled: bool, title: str, total: int, initial: int, every_s: float,
                 preview_batch: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        self.enabled, self.every_s, self.preview_batch = enabled, every_s, preview_batch
        self.bar = self.plot = None
        self._sums: dict[str, float] = {}
        self._count = 0
        self._drawn = 0
        self._last = time.perf_counter()
        if not enabled:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=title, unit="step", dynamic_ncols=True)
        try:
            from survey_lib.viz import LivePlot
        except ImportError as err:  # the plot is a convenience; the bar is enough to go on
            warnings.warn(f"live plot unavailable ({err}); showing the progress bar only", stacklevel=3)
        else:
            self.plot = LivePlot(title, every_s=0)

    def update(self, step: int, losses: dict[str, float], method: nn.Module, force: bool = False) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
            self.bar.update(1)
        for k, v in losses.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        now = time.perf_counter()
        first = self._drawn == 0  # draw at once, so the reader sees the plot from the start
        if self.plot is not None and (force or first or now - self._last >= self.every_s):
            self._drawn += 1
            means = {k: v / self._count for k, v in self._sums.items()}
            preview = None
            if self.preview_batch is not None:
                preview = _preview(method, self.preview_batch)
                self.every_s = max(self.every_s, 5 * (time.perf_counter() - now))
            self.plot.update(step, means, preview)
            self._sums, self._count, self._last = {}, 0, time.perf_counter()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.plot is not None:
            self.plot.close()


def _preview_batch(data: torch.utils.data.Dataset, eval_data: tuple[torch.Tensor, torch.Tensor] | None,
                   n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    if n <= 0:
        return None
    if eval_data is not None:
        return eval_data[0][:n], eval_data[1][:n]
    items = []
    for i in range(min(len(data), 8 * n)):  # the first samples that have a hole and known pixels
        image, mask = data[i]
        if 0 < float(mask.mean()) < 1:
            items.append((image, mask))
        if len(items) == n:
            break
    if not items:
        return None
    return torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items])


def _check_saved_state(state: Any, meta: Mapping[str, Any], ckpt: Path) -> tuple[int, int, dict[str, list[float]]]:
    """(step, samples seen, loss history) of a saved training state, every field checked.

    A tampered ``state.json`` fails here with one line naming the file and the field,
    instead of a KeyError or a silently wrong resume.
    """
    where = ckpt / ckpt_io.STATE_JSON

    def bad(field: str, expected: str, value: Any) -> ckpt_io.CheckpointError:
        return ckpt_io.CheckpointError(f"{where}: field {field!r} must be {expected}, got {value!r:.80}")

    if not isinstance(state, dict):
        raise bad("(top level)", "an object", state)
    values = {}
    for key in ("step", "samples_seen"):
        v = state.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**62:
            raise bad(key, "a non-negative integer", v)
        values[key] = v
    if meta.get("step", values["step"]) != values["step"]:
        raise ckpt_io.CheckpointError(f"{where}: field 'step' is {values['step']} but meta.json says "
                                      f"{meta.get('step')}; the checkpoint is inconsistent")
    history = state.get("history")
    if not isinstance(history, dict):
        raise bad("history", "an object of loss histories", history)
    for name, h in history.items():
        if not (isinstance(h, torch.Tensor) and h.ndim == 1 and h.is_floating_point() and len(h) == values["step"]):
            got = f"tensor of shape {tuple(h.shape)}" if isinstance(h, torch.Tensor) else h
            raise bad(f"history.{name}", f"a 1-D float tensor of {values['step']} values (one per step)", got)
    if not isinstance(state.get("trainer"), dict):
        raise bad("trainer", "an object (optimiser and schedule states)", state.get("trainer"))
    rngs = state.get("rng")
    if not (isinstance(rngs, list) and rngs and all(isinstance(r, dict) for r in rngs)):
        raise bad("rng", "a non-empty list of random-generator states (one per process)", rngs)
    return values["step"], values["samples_seen"], {k: v.tolist() for k, v in history.items()}


def _check_same_options(options: Mapping[str, Any], saved: Mapping[str, Any], ckpt: Path) -> None:
    """Refuse to resume with other settings than the run was started with.

    Restoring the optimiser would silently keep the stored learning rate while the data
    order would silently follow the new seed and batch size: a mix of two runs that is
    neither. Every option of :data:`RESUME_OPTIONS` must be the stored one (so must
    ``steps`` under an LR schedule, whose length it sets); ``steps`` alone may grow.
    """
    where = ckpt / ckpt_io.META
    names = list(RESUME_OPTIONS) + (["steps"] if saved.get("schedule") is not None else [])
    for name in names:
        if name in saved and saved[name] != options[name]:
            arg = {"data_length": "the training data's length"}.get(name, f"{name}={options[name]!r}")
            fix = ("use the same data" if name == "data_length" else f"pass {name}={saved[name]!r}")
            raise InputError(
                f"resume: {arg} differs from the run's {saved[name]!r} (field 'options.{name}' of {where}); "
                f"resuming with other settings would mix two runs. {fix.capitalize()}, or train into a new "
                "out_dir")


def _method_preset(method: nn.Module, preset: Preset | str | None) -> Preset:
    """The preset with the method's compute budget applied (its own ``steps`` there) when it
    was built by the registry (:func:`survey_lib.models.registry.preset_for`)."""
    from survey_lib.models import registry

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    name = (getattr(method, "build_config", None) or {}).get("registry_name")
    return registry.preset_for(name, p) if name in registry.REGISTRY else p


def _resolve_device(device: str | torch.device | None, ctx: dist_util.DistContext) -> torch.device:
    dev = torch.device(device) if device is not None else best_device()
    if ctx.enabled and dev.type == "cuda":
        dev = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(dev)
    return dev


# --- the loop ----------------------------------------------------------------------------------

def train(
    method: nn.Module,
    data: Any,
    *,
    preset: Preset | str | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    eval_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    live: bool = True,
    seed: int = 0,
    optimizer: str = "adam",
    lr: float | None = None,
    d_lr: float | None = None,
    betas: tuple[float, float] | None = None,
    weight_decay: float | None = None,
    schedule: str | None = None,
    clip_grad: float | None = None,
    precision: str | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    sync_batchnorm: bool | None = None,
    device: str | torch.device | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 1,
    num_workers: int | None = None,
    deterministic: bool = False,
    preview: int = 4,
    eval_batch_size: int = 32,
    lpips: bool = False,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``method`` on ``data`` for ``steps`` optimisation steps and return a :class:`TrainResult`.

    Data and budget:
        ``data``: a Dataset of (image (C,H,W), mask (1,H,W)) or an (images, masks) tuple.
        ``preset`` (name or :class:`Preset`, default ``SURVEY_PRESET``) gives the default
        ``steps``, ``batch_size`` (the *global* batch: each of N ``torchrun`` processes
        takes ``batch_size / N``), ``eval_every``, ``plot_every_s`` and ``num_workers``.
        ``seed`` fixes the data order and every random draw of the run.
    Evaluation and display:
        ``eval_data``: (images, masks) evaluated with :func:`survey_lib.metrics.evaluate`
        every ``preset.eval_every`` steps and at the end (``eval_batch_size``, ``lpips``).
        ``live``: tqdm progress bar + :class:`survey_lib.viz.LivePlot` (losses and the
        composites of the first ``preview`` eval images, refreshed every
        ``preset.plot_every_s`` seconds). ``callback(step, losses)`` runs after each step.
    Optimisation:
        ``optimizer`` "adam" | "adamw" (``weight_decay``, default 0 / 0.01) at the
        method's ``lr``, ``betas`` and ``d_lr`` unless given; ``schedule`` None |
        "cosine" | "step"; ``clip_grad`` max gradient norm; ``precision`` "auto" | "fp32" |
        "bf16" | "fp16" (default ``preset.precision``; "auto" = bf16 autocast on a GPU or a
        CPU that computes bf16 natively, fp16 + GradScaler on older GPUs, else fp32 — see
        :func:`survey_lib.config.resolve_precision`);
        ``channels_last`` NHWC layout (default ``preset.channels_last``); ``compile``
        (torch.compile); ``sync_batchnorm`` (default: on under multi-GPU DDP);
        ``deterministic`` kernels; ``device``.
    Checkpoints:
        with ``out_dir``, every ``checkpoint_every`` (default ``preset.eval_every``) steps
        and at the end, keeping the newest ``keep_checkpoints``; ``resume=True`` continues
        from the latest one there, exactly (same weights as an uninterrupted run on CPU).

    Raises :class:`TrainingDiverged` when a loss or gradient turns NaN/Inf (the last good
    checkpoint stays), :class:`InputError` for bad data.
    """
    if not isinstance(method, nn.Module) or not callable(getattr(method, "generator_losses", None)):
        raise InputError(f"method must be a survey_lib Method (an nn.Module with generator_losses), "
                         f"got {type(method).__name__}")
    t0 = time.perf_counter()
    p = _method_preset(method, preset)
    steps = p.steps if steps is None else steps
    batch_size = p.batch_size if batch_size is None else batch_size
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "steps" else 1):
            raise InputError(f"{name} must be a {'non-negative' if name == 'steps' else 'positive'} int, got {value!r}")
    if resume and out_dir is None:
        raise InputError("resume=True needs out_dir= (where the checkpoints are)")
    _check_options(seed=seed, lr=lr, d_lr=d_lr, betas=betas, checkpoint_every=checkpoint_every,
                   num_workers=num_workers, keep_checkpoints=keep_checkpoints, out_dir=out_dir)
    _check_more_options(weight_decay=weight_decay, clip_grad=clip_grad, eval_batch_size=eval_batch_size,
                        preview=preview, precision=precision, callback=callback)
    _check_device(device)
    dataset = _as_dataset(data)
    _check_batch_memory(dataset, batch_size)
    if eval_data is not None:
        if not (isinstance(eval_data, (tuple, list)) and len(eval_data) == 2):
            raise InputError("eval_data must be an (images, masks) tuple of tensors")
        eval_data = check_pair(eval_data[0], eval_data[1])
    ckpt_every = checkpoint_every or p.eval_every

    ctx = dist_util.setup((torch.device(device) if device is not None else best_device()).type)
    dev = _resolve_device(device, ctx)
    seed_everything(seed + ctx.rank, deterministic=deterministic)

    start_step, samples_seen = 0, 0
    history: dict[str, list[float]] = {}
    last_ckpt: Path | None = None
    saved_state: dict[str, Any] | None = None
    saved_options: dict[str, Any] = {}
    past_evals: list[list[Any]] = []
    if out_dir is not None and ctx.is_main and Path(out_dir).is_dir():
        ckpt_io.remove_stale_temporaries(out_dir)  # left by a save that was interrupted
    if resume:
        last_ckpt = ckpt_io.latest_checkpoint(out_dir)  # type: ignore[arg-type]
        if last_ckpt is not None:
            meta = ckpt_io.load_weights(method, last_ckpt)
            past_evals = list((meta.get("metrics") or {}).get("evals") or [])
            saved_options = dict(meta.get("options") or {})
            saved_state = ckpt_io.read_train_state(last_ckpt)
            start_step, samples_seen, history = _check_saved_state(saved_state, meta, last_ckpt)

    trainer = Trainer(
        method, device=dev, total_steps=steps, optimizer=optimizer, lr=lr, d_lr=d_lr, betas=betas,
        weight_decay=weight_decay, schedule=schedule, clip_grad=clip_grad,
        precision=p.precision if precision is None else precision,
        channels_last=p.channels_last if channels_last is None else bool(channels_last), compile=compile,
        sync_batchnorm=sync_batchnorm, ctx=ctx,
    )
    options = {"optimizer": optimizer, "lr": trainer.g_opt.param_groups[0]["initial_lr"],
               "d_lr": trainer.d_opt.param_groups[0]["initial_lr"] if trainer.d_opt else None,
               "betas": list(trainer.g_opt.param_groups[0]["betas"]),
               "weight_decay": trainer.g_opt.param_groups[0]["weight_decay"],
               "schedule": schedule, "clip_grad": clip_grad, "precision": str(trainer.amp_dtype or torch.float32),
               "batch_size": batch_size, "steps": steps, "seed": seed, "world_size": ctx.world_size,
               "data_length": len(dataset)}
    if saved_state is not None:
        assert last_ckpt is not None
        _check_same_options(options, saved_options, last_ckpt)
        where = last_ckpt / ckpt_io.STATE_JSON
        try:
            trainer.load_state_dict(saved_state["trainer"])
        except ckpt_io.CheckpointError as err:
            raise ckpt_io.CheckpointError(f"{where}: {err}") from None
        rngs = saved_state["rng"]
        if len(rngs) == ctx.world_size:
            try:
                ckpt_io.restore_rng(rngs[ctx.rank])
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as err:
                raise ckpt_io.CheckpointError(f"{where}: field 'rng' is not a valid random-generator state "
                                              f"({' '.join(str(err).split())[:200]})") from None
        else:  # other number of processes than when saved: fresh, still deterministic streams
            warnings.warn(f"resuming {len(rngs)}-process checkpoint {last_ckpt} with {ctx.world_size} "
                          "process(es): the random streams restart from the seed (the data order is kept)",
                          stacklevel=2)
            seed_everything(seed + ctx.rank + 100_003 * start_step)
    method.train()

    sampler = dist_util.ResumableBatchSampler(
        len(dataset), batch_size, seed, start=samples_seen, num_batches=max(steps - start_step, 0),
        rank=ctx.rank, world_size=ctx.world_size)
    workers = p.num_workers if num_workers is None else num_workers
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, pin_memory=dev.type == "cuda",
        generator=torch.Generator().manual_seed(seed))  # own generator: the global RNG stays untouched

    evals: list[tuple[int, Any]] = []
    image_shape: list[int] = []

    def save(step: int) -> Path | None:
        rng = dist_util.gather_objects(ckpt_io.capture_rng(), ctx)  # every rank takes part
        if not ctx.is_main:
            return None
        state = {"trainer": trainer.state_dict(), "rng": rng, "step": step, "samples_seen": samples_seen,
                 "history": {k: torch.tensor(v, dtype=torch.float64) for k, v in history.items()}}
        all_evals = past_evals + [[s, dict(t.overall)] for s, t in evals]
        meta = {"samples_seen": samples_seen, "preset": p.as_dict(), "image_shape": image_shape,
                "options": options,
                "metrics": {"evals": all_evals, "final": all_evals[-1][1] if all_evals else None}}
        return ckpt_io.save_checkpoint(out_dir, method, step, state, meta, keep=keep_checkpoints)  # type: ignore[arg-type]

    def run_eval(step: int) -> None:
        if eval_data is not None and ctx.is_main:
            try:
                evals.append((step, _evaluate(method, eval_data, eval_batch_size, lpips, step)))
            except FloatingPointError:  # NaN/Inf predictions although the weights looked finite
                raise TrainingDiverged(step, "prediction", "output", float("nan"), last_ckpt) from None

    def check_good(step: int, images: torch.Tensor, masks: torch.Tensor, loss_too: bool) -> None:
        """Stop unless the weights (and, before a save, their loss on this batch) are finite."""
        bad = _first_nonfinite(trainer)
        if bad is not None:
            raise TrainingDiverged(step, "weights", bad[0], bad[1], last_ckpt)
        if loss_too:
            try:
                _loss_of_weights(trainer, images, masks, step)
            except TrainingDiverged as err:
                raise TrainingDiverged(err.step, err.what, err.name, err.value, last_ckpt) from None

    show = _Live(live and ctx.is_main, str(getattr(method, "name", type(method).__name__)), steps,
                 start_step, p.plot_every_s, _preview_batch(dataset, eval_data, preview) if live else None)
    step, losses = start_step, {}
    try:
        for batch in loader:
            images, masks = _check_batch(batch, step + 1, method, first=step == start_step)
            image_shape = list(images.shape[1:])
            try:
                losses = trainer.step(images, masks, step + 1)
            except TrainingDiverged as err:
                raise TrainingDiverged(err.step, err.what, err.name, err.value, last_ckpt) from None
            step += 1
            samples_seen += batch_size
            for k, v in losses.items():
                history.setdefault(k, []).append(v)
            show.update(step, losses, method, force=step == steps)
            eval_now = step % p.eval_every == 0 or step == steps
            save_now = out_dir is not None and (step % ckpt_every == 0 or step == steps)
            if eval_now or save_now:
                check_good(step, images, masks, loss_too=save_now)
            if eval_now:
                run_eval(step)
            if save_now:
                last_ckpt = save(step) or last_ckpt
            if callback is not None:
                callback(step, losses)
        if eval_data is not None and ctx.is_main and (not evals or evals[-1][0] != step):
            run_eval(step)  # resumed at or past the end: still report the final table
        if out_dir is not None and start_step >= steps and last_ckpt is None:
            last_ckpt = save(step)
    finally:
        show.close()
    dist_util.barrier(ctx)
    if out_dir is not None and last_ckpt is None:
        last_ckpt = ckpt_io.latest_checkpoint(out_dir)
    return TrainResult(method=method, history=history, evals=evals,
                       final=evals[-1][1] if evals and evals[-1][0] == step else None,
                       seconds=time.perf_counter() - t0, steps=step, checkpoint=last_ckpt)
