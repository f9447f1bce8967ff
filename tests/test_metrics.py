"""Metrics against scikit-image and hand computations, per-bin evaluation, input checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from survey_lib import weights as weight_files
from survey_lib.data import InputError, bin_label
from survey_lib.metrics import (
    SmallSampleWarning,
    WeightsUnavailable,
    clear_model_cache,
    compare_tables,
    diversity,
    evaluate,
    fd_vgg16,
    fid,
    frechet_distance,
    kid_from_features,
    kid_vgg16,
    lpips_available,
    lpips_distance,
    lpips_plumbing_check,
    mae,
    mse,
    psnr,
    ssim,
    ssim_map,
)
from tests.weights_needed import require_installed


def _no_weights(tmp_path, monkeypatch) -> None:
    """No installed weights and an empty torch hub cache, for this test only."""
    monkeypatch.setenv(weight_files.WEIGHTS_DIR_ENV, str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    clear_model_cache()


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _noisy(x: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return (x + sigma * noise).clamp(0, 1)


def _np(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) tensor -> (H, W, C) float64 array for scikit-image."""
    return x.double().permute(1, 2, 0).numpy()


def _box_mask(b: int, h: int, w: int, top: int = 8, left: int = 8, size: int = 12) -> torch.Tensor:
    m = torch.zeros(b, 1, h, w)
    m[..., top : top + size, left : left + size] = 1
    return m


def _structured(size: int = 40) -> torch.Tensor:
    """A real photo (scikit-image's astronaut) at ``size``: edges, flat areas, texture."""
    from skimage import data

    img = resize(data.astronaut(), (size, size), anti_aliasing=True)
    return torch.from_numpy(img).permute(2, 0, 1).float().unsqueeze(0).clamp(0, 1)


# ----------------------------------------------------------------------------- PSNR / SSIM
@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_matches_skimage(channels: int) -> None:
    target = _rand(3, channels, 24, 20)
    pred = _noisy(target, 0.05)
    ours = psnr(pred, target)
    assert ours.shape == (3,)
    for i in range(3):
        ref = peak_signal_noise_ratio(_np(target[i]), _np(pred[i]), data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)
    # data_range rescales by 20 log10(R): images that use only [0, 0.5] scored with R = 0.5
    half_pred, half_target = pred / 2, target / 2
    assert psnr(half_pred, half_target, data_range=0.5)[0].item() == pytest.approx(ours[0].item(), abs=1e-4)
    assert psnr(half_pred, half_target)[0].item() == pytest.approx(ours[0].item() + 20 * math.log10(2), abs=1e-4)


def test_psnr_is_inf_for_identical_images_and_hole_variant() -> None:
    x = _rand(2, 3, 16, 16)
    assert torch.isinf(psnr(x, x)).all() and (psnr(x, x) > 0).all()
    # prediction that differs only outside the hole: hole PSNR is inf, full PSNR finite
    m = _box_mask(2, 16, 16, 4, 4, 6)
    y = torch.where(m.bool().expand_as(x), x, 1 - x)
    assert torch.isinf(psnr(y, x, m)).all()
    assert torch.isfinite(psnr(y, x)).all()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["random", "structured"])
def test_ssim_matches_skimage_gaussian(channels: int, kind: str) -> None:
    if kind == "random":
        target = _rand(2, channels, 37, 29)
        pred = _noisy(target, 0.1)
    else:
        photo = _structured(40)
        target = photo if channels == 3 else photo.mean(1, keepdim=True)
        target = torch.cat([target, target.flip(-1)])
        pred = torch.cat([_noisy(target[:1], 0.03), torch.roll(target[1:], 2, dims=-1)])
    ours = ssim(pred, target)
    for i in range(len(target)):
        ref = structural_similarity(
            _np(target[i]), _np(pred[i]), gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=1.0, channel_axis=-1,
        )
        assert abs(ours[i].item() - ref) < 1e-4, (i, ours[i].item(), ref)
    assert ssim_map(pred, target).shape == (len(target), channels, target.shape[2] - 10, target.shape[3] - 10)


def test_ssim_is_one_for_identical_and_lower_for_noise() -> None:
    x = _structured(32)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert ssim(_noisy(x, 0.2), x).item() < 0.8


def test_ssim_rejects_images_smaller_than_its_window() -> None:
    x = _rand(1, 1, 10, 40)
    with pytest.raises(InputError, match="at least 11x11"):
        ssim(x, x)


# ----------------------------------------------------------------------------- MAE / MSE
def test_mae_mse_match_hand_computation_full_and_hole_only() -> None:
    target, pred = _rand(2, 3, 12, 12, seed=3), _rand(2, 3, 12, 12, seed=4)
    m = _box_mask(2, 12, 12, 2, 3, 5)
    d = (pred - target).double().numpy()
    hole = m.bool().expand_as(pred).numpy()
    for i in range(2):
        assert mae(pred, target)[i].item() == pytest.approx(np.abs(d[i]).mean(), rel=1e-6)
        assert mse(pred, target)[i].item() == pytest.approx((d[i] ** 2).mean(), rel=1e-6)
        assert mae(pred, target, m)[i].item() == pytest.approx(np.abs(d[i][hole[i]]).mean(), rel=1e-6)
        assert mse(pred, target, m)[i].item() == pytest.approx((d[i][hole[i]] ** 2).mean(), rel=1e-6)
        hole_psnr = 10 * np.log10(1.0 / (d[i][hole[i]] ** 2).mean())
        assert psnr(pred, target, m)[i].item() == pytest.approx(hole_psnr, abs=1e-4)


def test_hole_metrics_ignore_the_valid_region_exactly() -> None:
    target, pred = _rand(2, 3, 16, 16, seed=5), _rand(2, 3, 16, 16, seed=6)
    m = _box_mask(2, 16, 16, 3, 3, 7)
    other = torch.where(m.bool().expand_as(pred), pred, _rand(2, 3, 16, 16, seed=7))
    for fn in (mae, mse, psnr):
        assert torch.equal(fn(pred, target, m), fn(other, target, m)), fn.__name__
        assert not torch.equal(fn(pred, target), fn(other, target)), fn.__name__


# ----------------------------------------------------------------------------- input checks
BAD_PAIRS = {
    "3-D image": (lambda x: x[0], "shape \\(B, C, H, W\\)"),
    "uint8": (lambda x: (x * 255).to(torch.uint8), "float32"),
    "0-255 range": (lambda x: x * 255, "divide by 255"),
    "[-1,1] range": (lambda x: x * 2 - 1, "\\(x \\+ 1\\) / 2"),
    "NaN": (lambda x: x.masked_fill(x > 0.9, float("nan")), "NaN"),
    "2 channels": (lambda x: x[:, :2], "1 or 3 channels"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAIRS))
@pytest.mark.parametrize("fn", [psnr, ssim, mae, mse])
def test_metrics_reject_bad_images(case: str, fn) -> None:
    x = _rand(2, 3, 16, 16)
    make_bad, message = BAD_PAIRS[case]
    with pytest.raises(InputError, match=message):
        fn(make_bad(x), make_bad(x) if case in ("3-D image", "2 channels") else x)


def test_metrics_reject_shape_mismatch_with_both_shapes() -> None:
    a, b = _rand(2, 3, 16, 16), _rand(2, 3, 16, 18)
    for fn in (psnr, ssim, mae, mse):
        with pytest.raises(InputError, match=r"pred of shape \(2, 3, 16, 16\) and target of shape \(2, 3, 16, 18\)"):
            fn(a, b)


BAD_MASKS = {
    "non-binary": (lambda m: m * 0.5, "binary"),
    "bool": (lambda m: m.bool(), "bool"),
    "empty": (lambda m: torch.zeros_like(m), "no hole"),
    "full (inverted convention)": (lambda m: torch.ones_like(m), "1 - mask"),
    "3 channels": (lambda m: m.expand(-1, 3, -1, -1), "mask\\[:, :1\\]"),
    "wrong size": (lambda m: m[..., :8], "does not match"),
    "NaN": (lambda m: m.masked_fill(m > 0, float("nan")), "NaN"),
}


@pytest.mark.parametrize("case", sorted(BAD_MASKS))
def test_hole_metrics_reject_bad_masks(case: str) -> None:
    x, y = _rand(2, 3, 16, 16), _rand(2, 3, 16, 16, seed=1)
    make_bad, message = BAD_MASKS[case]
    for fn in (psnr, mae, mse):
        with pytest.raises(InputError, match=message):
            fn(x, y, make_bad(_box_mask(2, 16, 16, 2, 2, 5)))


def test_data_range_must_be_positive() -> None:
    x = _rand(1, 1, 16, 16)
    for bad in (0, -1.0, "1"):
        with pytest.raises(InputError, match="data_range"):
            psnr(x, x, data_range=bad)
        with pytest.raises(InputError, match="data_range"):
            ssim(x, x, data_range=bad)


# ----------------------------------------------------------------------------- LPIPS / FID
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_without_installed_weights_says_how_to_install(tmp_path, monkeypatch, net: str) -> None:
    _no_weights(tmp_path, monkeypatch)
    x = _rand(1, 3, 32, 32)
    assert not lpips_available(net)
    with pytest.raises(WeightsUnavailable) as info:
        lpips_distance(x, x, net=net)
    msg = str(info.value)
    assert str(tmp_path / "no-weights" / f"lpips_{net}.safetensors") in msg
    assert "python -m survey_lib.tools.install_weights" in msg
    assert not (tmp_path / "hub").exists()  # nothing was downloaded
    clear_model_cache()


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_is_zero_for_identical_images_and_grows_with_distortion(net: str) -> None:
    require_installed(net)
    clear_model_cache()
    x = _structured(64)
    assert lpips_available(net)
    assert float(lpips_distance(x, x, net=net)[0]) == 0.0
    d = [float(lpips_distance(_noisy(x, s), x, net=net)[0]) for s in (0.02, 0.08, 0.25)]
    assert 0 < d[0] < d[1] < d[2] < 1.5, d
    grey = lpips_distance(x[:, :1], _noisy(x, 0.08)[:, :1], net=net)  # grey repeated to RGB
    assert grey.shape == (1,) and float(grey[0]) > 0


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_the_lpips_package_bit_for_bit_with_the_same_trunk(net: str) -> None:
    import lpips

    require_installed(net)
    clear_model_cache()
    a, b = _rand(2, 3, 48, 48, seed=3), _rand(2, 3, 48, 48, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the package's own construction: its v0.1 heads, a trunk that we fill in
        ref = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False).eval()
    state = weight_files.load(net)
    with torch.no_grad():
        for name, p in ref.net.named_parameters():
            _, idx, param = name.split(".")
            p.copy_(state[f"features.{idx}.{param}"])
        expected = ref(a, b, normalize=True).flatten()
    assert torch.equal(lpips_distance(a, b, net=net), expected)


def test_lpips_alex_equals_an_independent_float64_computation() -> None:
    # LPIPS written out from its definition (Zhang et al. 2018, v0.1): scale to [-1, 1], the
    # scaling layer, AlexNet's five ReLU outputs, unit-normalise channels, squared
    # difference weighted by the heads, spatial mean, summed over layers.
    import torch.nn.functional as F

    require_installed("alex")
    sd = {k: v.double() for k, v in weight_files.load("alex").items()}
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)

    def feats(x):
        h = ((2 * x.double() - 1) - shift) / scale
        outs = []
        for idx, stride, pad, pool in ((0, 4, 2, True), (3, 1, 2, True), (6, 1, 1, False), (8, 1, 1, False),
                                       (10, 1, 1, False)):
            h = F.relu(F.conv2d(h, sd[f"features.{idx}.weight"], sd[f"features.{idx}.bias"], stride, pad))
            outs.append(h)
            if pool:
                h = F.max_pool2d(h, 3, 2)
        return outs

    a, b = _structured(64), _noisy(_structured(64), 0.1)
    total = torch.zeros(1, dtype=torch.float64)
    for k, (fa, fb) in enumerate(zip(feats(a), feats(b))):
        na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += F.conv2d((na - nb) ** 2, sd[f"lin{k}.model.1.weight"]).mean(dim=(1, 2, 3))
    assert float(lpips_distance(a, b)[0]) == pytest.approx(float(total[0]), rel=1e-5)


def test_lpips_loads_a_cached_trunk_file_without_downloading(tmp_path, monkeypatch) -> None:
    # A stand-in for a cached download: SqueezeNet (small) weights in a temporary hub cache,
    # read with weights_only=True. The values are meaningless here (random weights), only
    # the path is tested. The stand-in is named without torchvision's hash suffix, since
    # its bytes cannot match it (a hash-suffixed name is checked: see test_weights).
    from torchvision.models import squeezenet1_1

    from survey_lib.metrics import perceptual

    real = perceptual._torchvision_weights
    monkeypatch.setattr(perceptual, "_torchvision_weights",
                        lambda arch: perceptual._Weights(real(arch).what, "https://example.invalid/squeeze.pth"))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(squeezenet1_1().state_dict(), checkpoints / "squeeze.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    clear_model_cache()
    try:
        a = _rand(2, 3, 24, 24)
        d = lpips_distance(a, _noisy(a, 0.3), net="squeeze")
        assert d.shape == (2,) and (d > 0).all()
        assert torch.allclose(lpips_distance(a, a, net="squeeze"), torch.zeros(2), atol=1e-6)
        assert sorted(p.name for p in checkpoints.iterdir()) == ["squeeze.pth"]
    finally:
        clear_model_cache()  # never leave a model with fake weights cached for other tests


def test_fid_offline_without_cache_names_the_missing_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    clear_model_cache()
    x = _rand(4, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        with pytest.raises(WeightsUnavailable, match="inception_v3_google-0cc3c7bd.pth"):
            fid(x, x)


def test_lpips_plumbing_check_shapes_zero_and_positive() -> None:
    a = _rand(2, 3, 32, 32)
    b = _noisy(a, 0.2)
    same = lpips_plumbing_check(a, a)
    diff = lpips_plumbing_check(a, b)
    assert same.shape == (2,) and torch.allclose(same, torch.zeros(2), atol=1e-6)
    assert (diff > 0).all()
    grey = lpips_plumbing_check(a[:, :1], b[:, :1])  # grey is repeated to RGB
    assert grey.shape == (2,) and (grey > 0).all()
    with pytest.raises(InputError, match="at least 32x32"):
        lpips_plumbing_check(a[..., :16, :16], a[..., :16, :16])
    with pytest.raises(InputError, match="net must be one of"):
        lpips_plumbing_check(a, b, net="resnet")


def test_kid_estimator_matches_a_hand_computation() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(0.5, 1.0, size=(5, 3))

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(4) for j in range(4) if i != j) / 12
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(x[i], y[j]) for i in range(4) for j in range(5)) / 20
    assert kid_from_features(x, y) == pytest.approx(xx + yy - 2 * xy)
    with pytest.raises(InputError, match="N >= 2"):
        kid_from_features(x[:1], y)


def test_vgg16_distribution_distances_rank_distortion_and_are_labelled() -> None:
    require_installed("vgg")
    clear_model_cache()
    real = torch.cat([_structured(40), _rand(5, 3, 40, 40, seed=7)])
    near, far = _noisy(real, 0.03), _noisy(real, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        fd = [fd_vgg16(real, x) for x in (real, near, far)]
    # identical sets: 0 up to sqrtm's error on these rank-deficient (6 images, 512-d) covariances
    assert abs(fd[0]) < 1e-5 * fd[2] and fd[0] < fd[1] < fd[2]
    assert kid_vgg16(real, near) < kid_vgg16(real, far)
    assert "not FID" in fd_vgg16.__doc__ and "not KID" in kid_vgg16.__doc__
    with pytest.raises(InputError, match="at least 2 images per set"):
        kid_vgg16(real[:1], real)
    with pytest.warns(SmallSampleWarning, match="FD-VGG16"):
        fd_vgg16(real, near)


def test_frechet_distance_matches_closed_form_for_diagonal_covariances() -> None:
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, abs=1e-8)
    assert frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-8)


def test_fid_with_custom_features_warns_on_small_samples() -> None:
    real, fake = _rand(40, 1, 2, 2, seed=1), _rand(40, 1, 2, 2, seed=2) * 0.5

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    with pytest.warns(SmallSampleWarning, match="40 images"):
        same = fid(real, real, extractor=flat)
    with pytest.warns(SmallSampleWarning):
        far = fid(real, fake, extractor=flat)
    fr, ff = real.flatten(1).double().numpy(), fake.flatten(1).double().numpy()
    expected = frechet_distance(fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert far == pytest.approx(expected) and far > 0.05
    with pytest.raises(InputError, match="at least 2 images"):
        fid(real[:1], fake, extractor=flat)


# ----------------------------------------------------------------------------- diversity
def test_diversity_zero_for_identical_samples_and_hand_value_otherwise() -> None:
    base = _rand(1, 2, 3, 8, 8)
    assert torch.equal(diversity(base.expand(4, -1, -1, -1, -1)), torch.zeros(2))
    s = _rand(3, 2, 3, 8, 8, seed=9)
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = sum((s[i] - s[j]).abs().flatten(1).mean(1) for i, j in pairs) / 3
    got = diversity(s)
    assert got.shape == (2,) and (got > 0).all()
    assert torch.allclose(got, expected.float(), atol=1e-6)


def test_diversity_rejects_bad_input() -> None:
    with pytest.raises(InputError, match=r"\(S, B, C, H, W\)"):
        diversity(_rand(2, 3, 8, 8))
    with pytest.raises(InputError, match="S >= 2"):
        diversity(_rand(1, 2, 3, 8, 8))
    with pytest.raises(InputError, match="metric must be one of"):
        diversity(_rand(2, 2, 3, 8, 8), metric="l2")
    with pytest.raises(InputError, match=r"samples\[0\] values must lie in \[0, 1\]"):
        diversity(_rand(2, 2, 3, 8, 8) * 3)


# ----------------------------------------------------------------------------- evaluate
class _Grey:
    """A stand-in method: fills with mid-grey and records what it was shown."""

    name = "grey"

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.seen.append(image.clone())
        return torch.full_like(image, 0.5)


def _masks_with_ratios(ratios: list[float], size: int = 32) -> torch.Tensor:
    """Masks whose hole is the first round(r * size²) pixels in raster order."""
    out = torch.zeros(len(ratios), 1, size, size)
    for i, r in enumerate(ratios):
        out[i].view(-1)[: round(r * size * size)] = 1
    return out


def test_evaluate_bins_images_and_all_row_is_the_mean() -> None:
    ratios = [0.05, 0.15, 0.16, 0.35, 0.004, 0.75]  # the last two lie outside 1-60 %
    masks = _masks_with_ratios(ratios)
    images = _rand(len(ratios), 3, 32, 32, seed=11)
    method = _Grey()
    table = evaluate(method, images, masks, batch_size=4)
    assert table.bins == ["1-10%", "10-20%", "10-20%", "30-40%", None, None]
    assert table.bin_names == ["1-10%", "10-20%", "30-40%", "all"]
    assert [r["n"] for r in table.rows] == [1, 2, 1, 6]
    # the method never saw the hole, and per-image values equal the metrics of the composite
    for seen, m in zip(torch.cat(method.seen), masks):
        assert (seen * m).abs().max() == 0
    comp = torch.where(masks.bool().expand_as(images), torch.full_like(images, 0.5), images)
    assert np.allclose(table.per_image["hole_psnr"], psnr(comp, images, masks).numpy())
    assert np.allclose(table.per_image["ssim"], ssim(comp, images).numpy())
    assert np.allclose(table.per_image["mae"], mae(comp, images).numpy())
    for metric in ("ssim", "mae", "hole_mae"):
        values = table.per_image[metric]
        assert table.overall[metric] == pytest.approx(values.mean())
        assert table.value("all", metric) == pytest.approx(values.mean())
        assert table.value("10-20%", metric) == pytest.approx(values[1:3].mean())
    # PSNR rows are the PSNR of the mean MSE, so a perfect image cannot make a bin infinite
    for metric, mask in (("psnr", None), ("hole_psnr", masks)):
        per_mse = mse(comp, images, mask).double().numpy()
        assert table.overall[metric] == pytest.approx(-10 * np.log10(per_mse.mean()))
        assert table.value("10-20%", metric) == pytest.approx(-10 * np.log10(per_mse[1:3].mean()))

    assert bin_label(ratios[0]) == "1-10%"
    # batching does not change the numbers
    again = evaluate(_Grey(), images, masks, batch_size=32)
    assert all(np.array_equal(again.per_image[k], table.per_image[k]) for k in table.per_image)
    with pytest.raises(KeyError, match="no images in bin '50-60%'"):
        table.value("50-60%", "psnr")
    with pytest.raises(KeyError, match="no metric 'lpips'"):
        evaluate(_Grey(), images, masks, lpips=False).value("all", "lpips")


def test_evaluate_reports_lpips_per_bin_by_default_when_available(tmp_path, monkeypatch) -> None:
    require_installed("alex")
    clear_model_cache()
    masks = _masks_with_ratios([0.05, 0.15, 0.35])
    images = torch.cat([_structured(32), _rand(2, 3, 32, 32, seed=12)])
    table = evaluate(_Grey(), images, masks)
    assert table.metrics[-1] == "lpips"
    comp = torch.where(masks.bool().expand_as(images), torch.full_like(images, 0.5), images)
    assert np.allclose(table.per_image["lpips"], lpips_distance(comp, images).numpy())
    assert table.value("10-20%", "lpips") == pytest.approx(table.per_image["lpips"][1])
    assert "LPIPS ↓" in table.to_markdown()
    # too small for AlexNet: left out by default, an error when demanded
    assert "lpips" not in evaluate(_Grey(), images[..., :24, :24], masks[..., :24, :24]).metrics
    with pytest.raises(InputError, match="at least 32x32"):
        evaluate(_Grey(), images[..., :24, :24], masks[..., :24, :24], lpips=True)
    # not installed: left out by default, WeightsUnavailable when demanded
    _no_weights(tmp_path, monkeypatch)
    assert "lpips" not in evaluate(_Grey(), images, masks).metrics
    with pytest.raises(WeightsUnavailable, match="install_weights"):
        evaluate(_Grey(), images, masks, lpips=True)
    with pytest.raises(InputError, match="lpips_net must be one of"):
        evaluate(_Grey(), images, masks, lpips_net="resnet")
    clear_model_cache()


def test_one_perfect_fill_does_not_make_a_bin_infinite() -> None:
    from survey_lib.metrics.evaluate import EvalTable

    t = EvalTable("m", {"hole_psnr": np.array([np.inf, 20.0]), "mae": np.array([0.0, 0.1])},
                  np.array([0.15, 0.15]), ["10-20%", "10-20%"])
    assert t.value("10-20%", "hole_psnr") == pytest.approx(-10 * np.log10(0.01 / 2))
    assert t.value("10-20%", "mae") == pytest.approx(0.05)


def test_evaluate_accepts_a_torch_module_and_restores_training_mode() -> None:
    class Net(torch.nn.Module):
        name = "net"

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.conv(image))

    net = Net().train()
    images, masks = _rand(3, 3, 16, 16), _masks_with_ratios([0.12, 0.25, 0.45], 16)
    table = evaluate(net, images, masks)
    assert net.training and table.method == "net" and table.n == 3


def test_tables_render_inf_counts_and_bold_best() -> None:
    images = torch.full((2, 1, 16, 16), 0.5)  # the grey fill is perfect here
    masks = _masks_with_ratios([0.05, 0.25], 16)
    perfect = evaluate(_Grey(), images, masks)
    assert math.isinf(perfect.value("all", "hole_psnr"))
    html = perfect._repr_html_()
    md = perfect.to_markdown()
    assert "<table" in html and ">inf<" in html and "| inf |" in md and "| 1-10% | 1 |" in md

    class Black:
        name = "black"

        def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return torch.zeros_like(image)

    worse = evaluate(Black(), images, masks)
    cmp = compare_tables({"grey": perfect, "black": worse}, "hole_mae")
    assert cmp.methods == ["grey", "black"] and cmp.bins == ["1-10%", "20-30%", "all"]
    assert cmp.best("all") == ["grey"]  # lower MAE is better
    assert cmp.value("all", "black") == pytest.approx(0.5)
    assert "<b>0.0000</b>" in cmp._repr_html_() and "**0.0000**" in cmp.to_markdown()
    assert compare_tables([perfect, worse], "hole_psnr").best("all") == ["grey"]


def test_evaluate_and_compare_reject_bad_input() -> None:
    images, masks = _rand(2, 3, 16, 16), _masks_with_ratios([0.1, 0.2], 16)
    with pytest.raises(InputError, match="callable"):
        evaluate("telea", images, masks)
    with pytest.raises(InputError, match="batch_size"):
        evaluate(_Grey(), images, masks, batch_size=0)
    with pytest.raises(InputError, match="does not match"):
        evaluate(_Grey(), images, masks[:1])
    with pytest.raises(InputError, match="1 - mask"):
        evaluate(_Grey(), images, torch.ones_like(masks))
    with pytest.raises(InputError, match="non-empty"):
        compare_tables({})
    with pytest.raises(InputError, match="EvalTable"):
        compare_tables({"a": 1.0})
    table = evaluate(_Grey(), images, masks)
    with pytest.raises(InputError, match="no metric 'lpips'"):
        compare_tables({"a": table}, "lpips")


# --- seam error (boundary harmonization) ------------------------------------------------
def test_boundary_ring_is_one_pixel_each_side():
    from survey_lib.metrics import boundary_ring

    m = torch.zeros(1, 1, 8, 8)
    m[..., 3:5, 3:5] = 1
    ring = boundary_ring(m)
    assert int(ring.sum()) == 16  # the 4x4 dilated block; a 2x2 hole erodes to nothing
    assert ring[0, 0, 2:6, 2:6].sum() == 16 and ring.sum() == ring[0, 0, 2:6, 2:6].sum()


def test_seam_error_zero_for_truth_and_grows_with_a_seam():
    from survey_lib.metrics import seam_error

    target = torch.linspace(0, 1, 16).repeat(1, 1, 16, 1)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    assert float(seam_error(target, target, mask)) == 0.0
    offset = target.clone()
    offset[..., 4:12, 4:12] = (offset[..., 4:12, 4:12] + 0.3).clamp(0, 1)
    flat = target.clone()
    flat[..., 4:12, 4:12] = 0.5
    e_offset, e_flat = float(seam_error(offset, target, mask)), float(seam_error(flat, target, mask))
    assert e_offset > 0.01 and e_flat > 0.0
    # far-from-boundary changes leave the seam error alone
    inner = target.clone()
    inner[..., 7:9, 7:9] = 0.0
    assert float(seam_error(inner, target, mask)) == 0.0


def test_boundary_ring_validates_its_mask_and_matches_a_hand_ring() -> None:
    """Regression: a (B, H, W) or soft mask gave a plausible-looking but wrong ring."""
    from survey_lib.metrics import boundary_ring

    mask = torch.zeros(1, 1, 6, 6)
    mask[..., 2:4, 2:4] = 1.0
    expected = torch.zeros(6, 6)
    expected[1:5, 1:5] = 1.0  # the 2x2 hole and the 1-pixel band around it, minus the core
    # (erosion of a 2x2 hole is empty, so every hole pixel is on the ring)
    assert torch.equal(boundary_ring(mask)[0, 0], expected)
    with pytest.raises(InputError, match=r"must have shape \(B, 1, H, W\)"):
        boundary_ring(mask[:, 0])
    with pytest.raises(InputError, match="must be binary"):
        boundary_ring(mask * 0.5)
