"""RePaint's jump schedule, the DDPM pieces and the sampler's guarantees."""

import math

import pytest
import torch

from survey_lib.data.checks import InputError
from survey_lib.models.repaint import (
    NoiseSchedule,
    RePaint,
    count_steps,
    linear_betas,
    repaint_timesteps,
)


def test_schedule_counts_match_the_paper_setting():
    ts = repaint_timesteps(250, 10, 10)
    assert count_steps(ts) == (2410, 2160)
    assert ts[0] == 249 and ts[-1] == 0


def test_small_schedule_by_hand():
    # jump points are 0 and 2 (below N - j = 4); one resampling each
    assert repaint_timesteps(6, 2, 2) == [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0]
    assert count_steps(repaint_timesteps(6, 2, 2)) == (10, 4)


def test_no_resampling_is_a_plain_descent():
    assert repaint_timesteps(7, 3, 1) == [6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize("n,j,r", [(250, 10, 10), (50, 5, 5), (20, 10, 3), (30, 7, 2)])
def test_every_undo_is_followed_back_down(n, j, r):
    ts = repaint_timesteps(n, j, r)
    down, up = count_steps(ts)
    assert down == n + up  # each level re-noised is denoised again
    assert all(abs(a - b) == 1 for a, b in zip(ts[:-1], ts[1:]))
    assert max(ts) == n - 1 and min(ts) == 0


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="must be >= 1"):
        repaint_timesteps(10, 0, 2)


def test_betas_are_hos_for_1000_steps_and_end_near_pure_noise():
    b = linear_betas(1000)
    assert math.isclose(float(b[0]), 1e-4) and math.isclose(float(b[-1]), 0.02)
    for T in (20, 200, 1000):
        assert NoiseSchedule(T).abar(T - 1) < 0.01
        assert NoiseSchedule(T).abar(-1) == 1.0


def _model(**kw):
    torch.manual_seed(0)
    return RePaint(channels=1, width=8, timesteps=20, sample_steps=10, **kw)


def test_training_loss_is_finite_and_drops():
    m = _model()
    x = torch.rand(4, 1, 16, 16)
    mask = torch.zeros(4, 1, 16, 16)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    torch.manual_seed(1)
    first = None
    for _ in range(30):
        loss = m.generator_losses(x, mask)["eps_mse"]
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    with torch.no_grad():
        assert float(m.generator_losses(x, mask)["eps_mse"]) < first


def test_known_pixels_are_exact_and_output_in_range():
    m = _model(jump_length=2, jump_n_sample=2)
    x = torch.rand(2, 1, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:12, 4:12] = 1
    out = m(x * (1 - mask), mask)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(out[mask.expand_as(x) == 0], x[mask.expand_as(x) == 0], atol=1e-5, rtol=0)


def test_network_is_called_once_per_denoising_step():
    m = _model(jump_length=2, jump_n_sample=3)
    calls = []
    m.net.register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(1, 1, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    m(x, mask)
    assert len(calls) == count_steps(repaint_timesteps(10, 2, 3))[0]
    calls.clear()
    m.repaint(x, mask, jump_n_sample=1)
    assert len(calls) == 10


def test_samples_differ_and_are_repeatable():
    m = _model()
    x = torch.rand(1, 1, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    s = m.sample(x, mask, n=3)
    assert s.shape == (3, 1, 1, 8, 8)
    assert not torch.allclose(s[0], s[1])
    torch.testing.assert_close(m(x, mask), m(x, mask))


def test_bad_inputs():
    m = _model()
    with pytest.raises(InputError, match="divisible by 4"):
        m.repaint(torch.rand(1, 1, 10, 10), torch.ones(1, 1, 10, 10))
    with pytest.raises(InputError, match="1 channels"):
        m.repaint(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="must divide"):
        RePaint(channels=1, width=8, timesteps=20, sample_steps=7)
