"""RePaint's jump schedule, the DDPM pieces and the sampler's guarantees."""

import math

import pytest
import torch

from survey_lib.data.checks import InputError
from survey_lib.models.repaint import (
    NoiseSchedule,
    RePaint,
    RePaintSampler,
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
    hole = torch.zeros(1, 1, 10, 10)
    hole[..., 3:6, 3:6] = 1
    with pytest.raises(InputError, match="divisible by 4"):
        m.repaint(torch.rand(1, 1, 10, 10), hole)
    with pytest.raises(InputError, match="built for 1-channel images, got 3"):
        m.repaint(torch.rand(1, 3, 8, 8), hole[..., :8, :8])
    with pytest.raises(InputError, match="must divide"):
        RePaint(channels=1, width=8, timesteps=20, sample_steps=7)


def _pair(b: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(b, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    return torch.rand(b, 1, 8, 8), mask


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("uint8", "got dtype torch.uint8 .divide uint8 images by 255"),
        ("0..255", r"must lie in \[0, 1\].*divide by 255"),
        ("nan", "image contains NaN"),
        ("soft mask", "mask must be binary"),
        ("empty batch", "image is empty"),
        ("one mask for the batch", r"give one mask per image"),
        ("float64", "got dtype torch.float64 .convert it with .float"),
        ("no hole", r"mask\[0\] has no hole"),
    ],
)
def test_every_entry_point_checks_its_inputs(case, pattern):
    """Regression (issue 8.7): repaint() accepted all of these (or failed deep inside torch)."""
    m = _model()
    image, mask = _pair()
    image, mask = {
        "uint8": lambda: ((image * 255).to(torch.uint8), mask),
        "0..255": lambda: (image * 255, mask),
        "nan": lambda: (image * float("nan"), mask),
        "soft mask": lambda: (image, mask * 0.5),
        "empty batch": lambda: (image[:0], mask[:0]),
        "one mask for the batch": lambda: (image, mask[:1]),
        "float64": lambda: (image.double(), mask.double()),
        "no hole": lambda: (image, torch.zeros_like(mask)),
    }[case]()
    calls = [m.repaint, m, lambda x, y: m.sample(x, y, n=2), RePaintSampler(m, 1, 1)]
    if case != "no hole":  # training is unconditional: any valid mask, even an empty one, will do
        calls.append(m.generator_losses)
    for call in calls:
        with pytest.raises(InputError, match=pattern):
            call(image, mask)


def test_bad_sampler_arguments_are_clear():
    m = _model()
    image, mask = _pair()
    for n in (0, -1, 2.0, True):
        with pytest.raises(InputError, match="n must be an int >= 1"):
            m.sample(image, mask, n=n)
    with pytest.raises(InputError, match="jump_length must be an int >= 1, got 0"):
        m.repaint(image, mask, jump_length=0)
    with pytest.raises(InputError, match="jump_n_sample must be an int >= 1, got float"):
        m.repaint(image, mask, jump_n_sample=2.5)
    with pytest.raises(InputError, match="generator must be a torch.Generator"):
        m.repaint(image, mask, generator=0)
    with pytest.raises(InputError, match="model must be a RePaint model"):
        RePaintSampler("repaint", 1, 1)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"sample_steps": 0}, "sample_steps must be an int >= 1, got 0"),  # was ZeroDivisionError
        ({"sample_steps": -5}, "sample_steps must be an int >= 1"),  # was accepted
        ({"timesteps": 20.0}, "timesteps must be an int >= 2, got float"),
        ({"jump_length": 0}, "jump_length must be an int >= 1"),
        ({"jump_n_sample": -1}, "jump_n_sample must be an int >= 1"),
        ({"channels": 2}, "channels must be 1 .grey. or 3"),
        ({"width": 0}, "width must be an int >= 2"),
        ({"seed": -1}, "seed must be an int >= 0"),
    ],
)
def test_bad_constructor_arguments_are_clear(kwargs, pattern):
    args = {"channels": 1, "width": 8, "timesteps": 20, "sample_steps": 10, **kwargs}
    with pytest.raises(InputError, match=pattern):
        RePaint(**args)


# -- evaluate_sampler: one chain per image and seed, every metric from it -------------------------


def _eval_pair(b: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    images = torch.rand(b, 1, 12, 12, generator=g)  # SSIM needs 11 px
    masks = torch.zeros(b, 1, 12, 12)
    for i in range(b):
        masks[i, :, 2 + i % 3:8 + i % 3, 3:9] = 1  # hole ratios differ, so bins differ
    return images, masks


def test_evaluate_sampler_samples_once_and_matches_the_sampler():
    from survey_lib.inpaint import inpaint
    from survey_lib.metrics import evaluate, seam_error
    from survey_lib.models.repaint import evaluate_sampler

    m = _model(jump_length=2, jump_n_sample=2)
    images, masks = _eval_pair()
    sampler = RePaintSampler(m, 2, 2)
    calls = []
    hook = m.net.register_forward_hook(lambda *a: calls.append(1))
    tables = evaluate_sampler(sampler, images, masks, seeds=[0, 4], batch_size=2, lpips=False)
    hook.remove()
    chain = count_steps(repaint_timesteps(10, 2, 2))[0]
    assert len(calls) == chain * 3 * 2  # 3 batches of ≤ 2 images, 2 seeds: each chain run once
    assert len(tables) == 2
    for seed, table in zip((0, 4), tables):
        s = RePaintSampler(m, 2, 2, seed=seed)
        parts = [inpaint(s, images[i:i + 2], masks[i:i + 2]) for i in range(0, 5, 2)]
        comp = torch.cat(parts)
        torch.testing.assert_close(torch.as_tensor(table.per_image["seam_error"]).float(),
                                   seam_error(comp, images, masks))
        direct = evaluate(s, images, masks, batch_size=2, lpips=False)
        for metric in direct.per_image:
            assert (table.per_image[metric] == direct.per_image[metric]).all(), metric
        assert table.method == s.name
    # different sampling seeds give different completions
    assert not (tables[0].per_image["hole_mae"] == tables[1].per_image["hole_mae"]).all()


def test_evaluate_sampler_feeds_claim_9():
    from survey_lib.claims import claim_9_resampling_harmonizes
    from survey_lib.models.repaint import evaluate_sampler

    m = _model(jump_length=2, jump_n_sample=2)
    images, masks = _eval_pair()
    plain = evaluate_sampler(RePaintSampler(m, 2, 1), images, masks, seeds=[0, 1], lpips=False)
    jumps = evaluate_sampler(RePaintSampler(m, 2, 2), images, masks, seeds=[0, 1], lpips=False)
    verdict = claim_9_resampling_harmonizes(plain, jumps, n_boot=200)
    assert verdict.n == 5 and verdict.n_seeds == 2 and verdict.measure.startswith("seam_error")


@pytest.mark.parametrize("kwargs,pattern", [
    ({"seeds": []}, "non-empty list"),
    ({"seeds": 0}, "non-empty list"),
    ({"seeds": "01"}, "non-empty list"),
    ({"seeds": [0, -1]}, r"seeds\[1\] must be an int >= 0"),
    ({"seeds": [0, 1.5]}, r"seeds\[1\] must be an int"),
    ({"seeds": [2, 2]}, "distinct"),
    ({"batch_size": 0}, "batch_size must be an int >= 1"),
])
def test_evaluate_sampler_bad_arguments(kwargs, pattern):
    from survey_lib.models.repaint import evaluate_sampler

    m = _model()
    images, masks = _eval_pair(2)
    with pytest.raises(InputError, match=pattern):
        evaluate_sampler(RePaintSampler(m, 2, 1), images, masks, **kwargs)


def test_evaluate_sampler_refuses_a_model_and_bad_pairs():
    from survey_lib.models.repaint import evaluate_sampler

    m = _model()
    images, masks = _eval_pair(2)
    with pytest.raises(InputError, match="sampler must be a RePaintSampler, got RePaint"):
        evaluate_sampler(m, images, masks)
    with pytest.raises(InputError, match="mask"):
        evaluate_sampler(RePaintSampler(m, 2, 1), images, masks[:1])
