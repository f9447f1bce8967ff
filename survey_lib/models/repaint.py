"""RePaint (Lugmayr et al., CVPR 2022): inpainting with an *unconditional* DDPM.

The network never sees a mask while it is trained: it is a plain DDPM (Ho et al.,
NeurIPS 2020) that learns to predict the noise added to clean images. Inpainting
happens only at sampling time:

* every **denoising step** from level ``t`` to ``t-1`` merges two images by the mask:
  the known region is the original image forward-noised to level ``t-1``
  (``sqrt(abar) * x0 + sqrt(1 - abar) * eps``), the hole is the model's reverse step;
* every so often the sampler **jumps back**: it re-noises the merged sample for
  ``jump_length`` steps (``x <- sqrt(1 - beta) * x + sqrt(beta) * eps``) and denoises
  again, ``jump_n_sample - 1`` times, which lets the fill *harmonize* with its border.
  ``jump_n_sample = 1`` is plain replacement (no resampling).

Time indexing follows the reference implementation and diffusers' ``RePaintScheduler``
(0-based model timesteps ``0..N-1``; after processing timestep ``t`` the sample is at
noise level ``t - 1``, level ``-1`` being the clean image). With N = 250,
jump length 10 and 10 resamplings the schedule has 2410 denoising and 2160 undo steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.config import Preset
from survey_lib.data.base import check_channels
from survey_lib.data.checks import InputError, check_count
from survey_lib.models.base import Method

# --------------------------------------------------------------------------------------
# The noise schedule and the jump schedule
# --------------------------------------------------------------------------------------


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's linear beta schedule, rescaled so short schedules add the same total noise.

    For ``timesteps = 1000`` these are exactly Ho et al.'s (1e-4 ... 0.02); shorter
    schedules scale both ends by ``1000 / timesteps`` (as improved-DDPM does) so that
    ``abar_T`` stays close to 0 and the last level is nearly pure noise.
    """
    if timesteps < 2:
        raise ValueError(f"timesteps must be at least 2, got {timesteps}")
    scale = 1000.0 / timesteps
    return torch.linspace(beta_start * scale, min(beta_end * scale, 0.999), timesteps, dtype=torch.float64)


def repaint_timesteps(num_steps: int, jump_length: int = 10, jump_n_sample: int = 10) -> list[int]:
    """RePaint's sequence of model timesteps (0-based), jumps included.

    Walk ``t`` down from ``num_steps - 1`` to 0 one step at a time. Each time ``t``
    reaches a jump point ``0, j, 2j, ...`` below ``num_steps - j``, while that point has
    resamplings left (``jump_n_sample - 1`` of them), walk back **up** ``j`` steps
    (these entries are undo steps) and come down again. An entry smaller than the
    previous one is a denoising step, a larger one an undo step; the first entry is a
    denoising step.

    >>> ts = repaint_timesteps(250, 10, 10)
    >>> count_steps(ts)
    (2410, 2160)
    """
    if num_steps < 1 or jump_length < 1 or jump_n_sample < 1:
        raise ValueError(
            f"num_steps, jump_length and jump_n_sample must be >= 1, got "
            f"{num_steps}, {jump_length}, {jump_n_sample}"
        )
    remaining = {p: jump_n_sample - 1 for p in range(0, num_steps - jump_length, jump_length)}
    out: list[int] = []
    t = num_steps
    while t >= 1:
        t -= 1
        out.append(t)
        if remaining.get(t, 0) > 0:
            remaining[t] -= 1
            for _ in range(jump_length):
                t += 1
                out.append(t)
    return out


def count_steps(timesteps: list[int]) -> tuple[int, int]:
    """(denoising steps, undo steps) of a RePaint timestep sequence."""
    down, up = 1 if timesteps else 0, 0
    for prev, cur in zip(timesteps[:-1], timesteps[1:]):
        if cur < prev:
            down += 1
        else:
            up += 1
    return down, up


class NoiseSchedule(nn.Module):
    """Betas and their cumulative products for ``timesteps`` training steps.

    ``alphas_cumprod[t]`` is the signal fraction at level ``t`` (0-based); level -1 is
    the clean image (abar = 1).
    """

    def __init__(self, timesteps: int) -> None:
        super().__init__()
        betas = linear_betas(timesteps)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.timesteps = timesteps
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alphas_cumprod", alphas_cumprod.float(), persistent=False)

    def abar(self, t: int) -> float:
        """Signal fraction at level ``t`` (1 for the clean level -1)."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward-noise ``x0`` to levels ``t`` (one per image): ``sqrt(abar) x0 + sqrt(1-abar) eps``."""
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1.0 - a).sqrt() * noise


# --------------------------------------------------------------------------------------
# The noise-prediction network: a small U-Net with a sinusoidal time embedding
# --------------------------------------------------------------------------------------


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style sinusoidal embedding of integer timesteps, shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class TimeResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time embedding added in between."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class DenoisingUNet(nn.Module):
    """Predicts the noise in ``x_t`` given ``t``; two down-samplings (stride 4)."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        w = width
        self.tdim = 4 * w
        self.time_mlp = nn.Sequential(nn.Linear(w, self.tdim), nn.SiLU(), nn.Linear(self.tdim, self.tdim))
        self.stem = nn.Conv2d(channels, w, 3, padding=1)
        self.down1 = TimeResBlock(w, w, self.tdim)
        self.down2 = TimeResBlock(w, 2 * w, self.tdim)
        self.mid = TimeResBlock(2 * w, 2 * w, self.tdim)
        self.up2 = TimeResBlock(4 * w, w, self.tdim)
        self.up1 = TimeResBlock(2 * w, w, self.tdim)
        self.out = nn.Sequential(nn.GroupNorm(_groups(w), w), nn.SiLU(), nn.Conv2d(w, channels, 3, padding=1))
        self.width = w

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.width))
        h0 = self.down1(self.stem(x), temb)  # full res
        h1 = self.down2(F.avg_pool2d(h0, 2), temb)  # 1/2
        h2 = self.mid(F.avg_pool2d(h1, 2), temb)  # 1/4
        u1 = self.up2(torch.cat([F.interpolate(h2, scale_factor=2.0, mode="nearest"), h1], 1), temb)
        u0 = self.up1(torch.cat([F.interpolate(u1, scale_factor=2.0, mode="nearest"), h0], 1), temb)
        return self.out(u0)


# --------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------


class RePaint(Method):
    """An unconditional DDPM trained on clean images, inpainting with RePaint's sampler.

    ``timesteps`` is the training schedule length T; ``sample_steps`` (N, a divisor of
    T) is how many levels the sampler visits (stride T // N, as diffusers does);
    ``jump_length`` and ``jump_n_sample`` set the resampling (1 = plain replacement).
    """

    name = "repaint"
    stride = 4
    lr = 2e-4
    betas = (0.9, 0.999)

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        timesteps: int = 200,
        sample_steps: int = 50,
        jump_length: int = 5,
        jump_n_sample: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        channels = check_channels(channels)
        width = check_count(width, "width", 2)
        timesteps = check_count(timesteps, "timesteps", 2)
        sample_steps = check_count(sample_steps, "sample_steps")
        jump_length = check_count(jump_length, "jump_length")
        jump_n_sample = check_count(jump_n_sample, "jump_n_sample")
        seed = check_count(seed, "seed", 0)
        if timesteps % sample_steps:
            raise InputError(
                f"sample_steps ({sample_steps}) must divide timesteps ({timesteps}): the sampler visits "
                "every (timesteps // sample_steps)-th level")
        self.channels = channels
        self.net = DenoisingUNet(channels, width)
        self.schedule = NoiseSchedule(timesteps)
        self.sample_steps = sample_steps
        self.jump_length = jump_length
        self.jump_n_sample = jump_n_sample
        self.seed = seed

    @classmethod
    def preset_kwargs(cls, preset: Preset) -> dict[str, int]:
        """Schedule sizes from the preset: T, N and the paper's (10, 10) jumps scaled to N."""
        n = preset.sample_steps
        return {
            "timesteps": preset.diffusion_steps,
            "sample_steps": n,
            "jump_length": max(1, min(10, n // 10)),
            "jump_n_sample": 10 if n >= 250 else 5,
        }

    # -- training: the plain DDPM objective, no mask involved ---------------------------
    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """``|| eps - eps_theta(sqrt(abar) x0 + sqrt(1-abar) eps, t) ||^2`` (Ho et al.'s simple loss)."""
        image, mask = self.check_inputs(image, mask, allow_empty=True, allow_full=True)  # the mask is unused
        x0 = image * 2.0 - 1.0
        t = torch.randint(0, self.schedule.timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        pred = self.net(self.schedule.q_sample(x0, t, noise), t)
        return {"eps_mse": F.mse_loss(pred.float(), noise.float())}

    # -- sampling ----------------------------------------------------------------------
    def _reverse_step(self, x: torch.Tensor, t: int, prev: int, gen: torch.Generator | None) -> torch.Tensor:
        """One DDPM ancestral step from level ``t`` to level ``prev`` (< t).

        Predict x0 from the noise estimate (clipped to [-1, 1]), then sample the
        Gaussian posterior q(x_prev | x_t, x0) whose variance is
        ``(1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)``; no noise is added
        when ``prev`` is the clean level.
        """
        s = self.schedule
        a_t, a_prev = s.abar(t), s.abar(prev)
        beta = 1.0 - a_t / a_prev
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        eps = self.net(x, tt).float()
        x0 = ((x - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)).clamp(-1.0, 1.0)
        mean = (math.sqrt(a_prev) * beta / (1 - a_t)) * x0 + (math.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t)) * x
        if prev < 0:
            return mean
        var = (1 - a_prev) / (1 - a_t) * beta
        return mean + math.sqrt(var) * _randn_like(x, gen)

    def _undo(self, x: torch.Tensor, level: int, target: int, gen: torch.Generator | None) -> torch.Tensor:
        """Re-noise from ``level`` (-1 = clean) up to ``target``, one training step at a time:
        ``x <- sqrt(1 - beta_k) x + sqrt(beta_k) eps`` for k = level+1 ... target."""
        for k in range(level + 1, target + 1):
            b = float(self.schedule.betas[k])
            x = math.sqrt(1 - b) * x + math.sqrt(b) * _randn_like(x, gen)
        return x

    @torch.no_grad()
    def repaint(
        self,
        image: torch.Tensor,
        mask: torch.Tensor,
        jump_length: int | None = None,
        jump_n_sample: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Inpaint ``image`` (hole = ``mask`` == 1) with the RePaint sampler; returns [0, 1].

        The inputs are checked like every method's (:meth:`Method.check_inputs`): float32
        images in [0, 1], one binary mask per image, channels and stride of this model.
        """
        image, mask = self.check_inputs(image, mask)
        j = self.jump_length if jump_length is None else check_count(jump_length, "jump_length")
        r = self.jump_n_sample if jump_n_sample is None else check_count(jump_n_sample, "jump_n_sample")
        _check_generator(generator)
        stride = self.schedule.timesteps // self.sample_steps
        known = image * 2.0 - 1.0
        keep = 1.0 - mask
        x = _randn_like(known, generator)
        steps = repaint_timesteps(self.sample_steps, j, r)
        last = steps[0] + 1
        for step in steps:
            t, t_last = step * stride, last * stride
            if step < last:
                prev = t - stride
                unknown = self._reverse_step(x, t, prev, generator)
                noised_known = math.sqrt(self.schedule.abar(prev)) * known + math.sqrt(
                    1 - self.schedule.abar(prev)
                ) * _randn_like(known, generator)
                x = keep * noised_known + mask * unknown
            else:
                # the sample sits at level t_last - stride (or clean); the next entry needs t_last
                x = self._undo(x, max(t_last - stride, -1), t_last, generator)
            last = step
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        image, mask = self.check_inputs(image, mask)
        gen = torch.Generator(device=image.device).manual_seed(self.seed)
        return self.repaint(image, mask, generator=gen)

    @torch.no_grad()
    def sample(self, image: torch.Tensor, mask: torch.Tensor, n: int = 1) -> torch.Tensor:
        """``n`` independent completions (different noise seeds), shape (n, B, C, H, W)."""
        n = check_count(n, "n")
        image, mask = self.check_inputs(image, mask)
        outs = []
        for k in range(n):
            gen = torch.Generator(device=image.device).manual_seed(self.seed + 1 + k)
            outs.append(self.repaint(image, mask, generator=gen))
        return torch.stack(outs)


def _check_generator(gen: object) -> None:
    if gen is not None and not isinstance(gen, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None, got {type(gen).__name__}")


def _randn_like(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


class RePaintSampler:
    """A trained :class:`RePaint` model used with fixed jump settings, as an Inpainter.

    Lets a notebook put "plain replacement" (``jump_n_sample=1``) and "with jumps" side
    by side in one comparison table without copying the network.
    """

    def __init__(self, model: RePaint, jump_length: int, jump_n_sample: int, seed: int = 0) -> None:
        if not isinstance(model, RePaint):
            raise InputError(f"model must be a RePaint model, got {type(model).__name__}")
        self.model = model
        self.jump_length = check_count(jump_length, "jump_length")
        self.jump_n_sample = check_count(jump_n_sample, "jump_n_sample")
        self.seed = check_count(seed, "seed", 0)
        kind = "plain replacement" if jump_n_sample == 1 else f"jumps j={jump_length}, r={jump_n_sample}"
        self.name = f"repaint ({kind})"

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        image, mask = self.model.check_inputs(image, mask)
        gen = torch.Generator(device=image.device).manual_seed(self.seed)
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.repaint(image, mask, self.jump_length, self.jump_n_sample, generator=gen)
        finally:
            self.model.train(was_training)


class _Replay:
    """An inpainter that hands back completions sampled beforehand, batch by batch, in the
    order :func:`~survey_lib.metrics.evaluate` asks for them (it checks the masks match)."""

    def __init__(self, name: str, predictions: torch.Tensor, masks: torch.Tensor) -> None:
        self.name, self.predictions, self.masks, self.start = name, predictions, masks, 0

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        stop = self.start + image.shape[0]
        if stop > len(self.masks) or not torch.equal(mask.to(self.masks.device), self.masks[self.start:stop]):
            raise RuntimeError("evaluate asked for other masks than were sampled (internal error)")
        out, self.start = self.predictions[self.start:stop], stop
        return out


def evaluate_sampler(sampler: RePaintSampler, images: torch.Tensor, masks: torch.Tensor,
                     seeds: Sequence[int] = (0,), batch_size: int = 32, lpips: bool | None = None) -> list[Any]:
    """Sample every (image, mask) **once per seed** and tabulate it: one
    :class:`~survey_lib.metrics.EvalTable` per seed, with the usual per-bin metrics
    (:func:`~survey_lib.metrics.evaluate`) plus a per-image ``seam_error`` column
    (:func:`~survey_lib.metrics.seam_error` of the composite: claim 9's measure).

    Why here: one RePaint completion is a whole sampling chain, so evaluating a sampler and
    then measuring its seam with ``inpaint`` would run every chain twice; this runs it once
    and reuses the completions for every metric. Seed ``s`` gives what
    ``RePaintSampler(model, j, r, seed=s)`` gives on the same batches (``batch_size``), so
    the list can go straight to :func:`survey_lib.claims.claim_9_resampling_harmonizes` as
    (seeds × images) runs.
    """
    from survey_lib.claims import with_per_image
    from survey_lib.data.checks import check_pair
    from survey_lib.inpaint import composite, predict
    from survey_lib.metrics import evaluate, seam_error

    if not isinstance(sampler, RePaintSampler):
        raise InputError(f"sampler must be a RePaintSampler, got {type(sampler).__name__}")
    images, masks = check_pair(images, masks)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise InputError(f"seeds must be a non-empty list of sampling seeds (ints >= 0), got {seeds!r}")
    seeds = [check_count(s, f"seeds[{i}]", 0) for i, s in enumerate(seeds)]
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds must be distinct (a repeated seed repeats the same samples), got {seeds}")
    batch_size = check_count(batch_size, "batch_size")
    tables = []
    for seed in seeds:
        seeded = RePaintSampler(sampler.model, sampler.jump_length, sampler.jump_n_sample, seed=seed)
        preds = torch.cat([predict(seeded, images[i:i + batch_size], masks[i:i + batch_size])
                           for i in range(0, len(images), batch_size)])
        table = evaluate(_Replay(seeded.name, preds, masks), images, masks, batch_size=batch_size, lpips=lpips)
        seam = seam_error(composite(images, masks, preds), images, masks)
        tables.append(with_per_image(table, "seam_error", seam))
    return tables
