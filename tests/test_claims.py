"""The claims engine: intervals, the decision rule, each claim on synthetic tables, and the
one definition of sharpness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from survey_lib import claims
from survey_lib.claims import (
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    ClaimsTable,
    Verdict,
    decide,
    paired_bootstrap,
    paired_bootstrap_seeds,
    spearman_bootstrap,
    with_per_image,
)
from survey_lib.data.checks import InputError
from survey_lib.data.masks import bin_label
from survey_lib.metrics import EvalTable

N = 60


def _table(name: str, ratios: np.ndarray, **metrics: np.ndarray) -> EvalTable:
    return EvalTable(name, {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}, np.asarray(ratios),
                     [bin_label(float(r)) for r in ratios])


def _ratios(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.02, 0.58, n)


def _pair(effect: float, noise: float, n: int = N, seed: int = 1, metric: str = "hole_psnr",
          base: float = 25.0) -> tuple[EvalTable, EvalTable]:
    """Control and treatment on the same images; treatment = control + effect + noise."""
    rng = np.random.default_rng(seed)
    r = _ratios(n)
    control = base + rng.normal(0, 2, n)
    treat = control + effect + rng.normal(0, noise, n)
    return _table("control", r, **{metric: control}), _table("treatment", r, **{metric: treat})


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    reps, hits = 300, 0
    for k in range(reps):
        d = rng.normal(0.3, 1.0, 40)
        iv = paired_bootstrap(d, np.zeros(40), n_boot=500, seed=k)
        hits += iv.lo <= 0.3 <= iv.hi
    assert 0.88 <= hits / reps <= 0.99  # percentile bootstrap at n = 40 runs slightly under 95 %


def test_bootstrap_known_cases():
    a = np.linspace(0, 1, 20)
    iv = paired_bootstrap(a + 0.5, a)  # the difference is exactly 0.5 on every image
    assert iv.effect == pytest.approx(0.5) and iv.lo == pytest.approx(0.5) and iv.hi == pytest.approx(0.5)
    d = np.random.default_rng(3).normal(1.0, 0.5, 50)
    iv = paired_bootstrap(d, np.zeros(50))
    assert iv.effect == pytest.approx(d.mean()) and iv.lo < d.mean() < iv.hi
    half = 1.96 * d.std(ddof=1) / np.sqrt(50)  # the normal-theory interval, for scale
    assert iv.hi - iv.lo == pytest.approx(2 * half, rel=0.2)
    assert paired_bootstrap(d, np.zeros(50), seed=5) == paired_bootstrap(d, np.zeros(50), seed=5)
    med = paired_bootstrap(d, np.zeros(50), stat="median")
    assert med.effect == pytest.approx(np.median(d)) and med.lo < med.effect < med.hi


def test_cluster_bootstrap_widens_the_interval_when_images_share_a_source():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(6), 10)  # 6 photographs, 10 crops each
    d = rng.normal(0.2, 1.0, 6)[groups] + rng.normal(0, 0.1, 60)  # crops of one photo agree
    naive = paired_bootstrap(d, np.zeros(60))
    cluster = paired_bootstrap(d, np.zeros(60), groups=groups)
    assert cluster.n_groups == 6 and naive.n_groups is None
    assert (cluster.hi - cluster.lo) > 2 * (naive.hi - naive.lo)
    # string source names work the same way as ints
    named = paired_bootstrap(d, np.zeros(60), groups=[f"photo{g}" for g in groups])
    assert (named.lo, named.hi) == pytest.approx((cluster.lo, cluster.hi))


def test_seed_bootstrap_pools_seeds_and_widens_when_seeds_disagree():
    rng = np.random.default_rng(2)
    base = rng.normal(0, 1, 30)
    agree = np.stack([base + 1.0 + rng.normal(0, 0.05, 30) for _ in range(3)])
    disagree = np.stack([base + s + rng.normal(0, 0.05, 30) for s in (-1.0, 1.0, 3.0)])
    iv_a = paired_bootstrap_seeds(agree, base)  # one deterministic run paired with every seed
    iv_d = paired_bootstrap_seeds(disagree, base)
    assert iv_a.n_seeds == 3 and iv_a.effect == pytest.approx((agree - base).mean())
    assert (iv_d.hi - iv_d.lo) > 5 * (iv_a.hi - iv_a.lo)
    # the general-statistic path (a loop over replicates) draws exactly what the vectorised mean does
    groups = np.arange(30) // 5
    fast = paired_bootstrap_seeds(disagree, base, groups=groups, n_boot=300)
    slow = paired_bootstrap_seeds(disagree, base, groups=groups, n_boot=300, stat=np.mean)
    assert (slow.effect, slow.lo, slow.hi) == pytest.approx((fast.effect, fast.lo, fast.hi))
    assert fast.n_groups == 6 and fast.n_seeds == 3
    with pytest.raises(InputError, match="same number of seeds"):
        paired_bootstrap_seeds(agree, agree[:2])
    with pytest.raises(InputError, match="paired_bootstrap_seeds"):
        paired_bootstrap(agree, agree)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: paired_bootstrap([1.0, 2.0], [1.0]), "same images"),
    (lambda: paired_bootstrap([1.0], [1.0]), "at least 2"),
    (lambda: paired_bootstrap([1.0, np.nan], [1.0, 2.0]), "NaN or inf"),
    (lambda: paired_bootstrap([1.0, 2.0], [1.0, 2.0], n_boot=10), "n_boot"),
    (lambda: paired_bootstrap([1.0, 2.0], [1.0, 2.0], seed=-1), "seed"),
    (lambda: paired_bootstrap([1.0, 2.0], [1.0, 2.0], level=95), "level"),
    (lambda: paired_bootstrap([1.0, 2.0], [1.0, 2.0], groups=[0]), "one source id per image"),
    (lambda: paired_bootstrap([1.0, 2.0], [1.0, 2.0], groups=[7, 7]), "one source"),
    (lambda: paired_bootstrap([1.0, 2.0], [1.0, 2.0], stat="mode"), "stat"),
    (lambda: paired_bootstrap("abc", [1.0, 2.0]), "per-image numbers"),
    (lambda: paired_bootstrap(np.zeros((2, 2, 2)), [1.0, 2.0]), "shape"),
    (lambda: spearman_bootstrap([0.1, 0.1, 0.1], [1.0, 2.0, 3.0]), "one value"),
])
def test_bootstrap_refuses_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_decision_rule():
    assert decide(0.2, 0.9) == HELD
    assert decide(-0.9, -0.2) == NOT_HELD
    assert decide(-0.3, 0.4) == INCONCLUSIVE
    assert decide(0.2, 0.9, margin=0.5) == INCONCLUSIVE  # better, but not provably by the margin
    assert decide(0.1, 0.3, margin=0.5) == NOT_HELD  # provably less than the margin
    assert decide(-0.3, 0.1, margin=-0.5) == HELD  # non-inferiority within δ = 0.5
    assert decide(-0.9, -0.6, margin=-0.5) == NOT_HELD
    with pytest.raises(InputError, match="lo must not exceed hi"):
        decide(1.0, 0.0)
    with pytest.raises(InputError, match="lo must be a number"):
        decide(float("nan"), 0.0)


# --------------------------------------------------------------------------- claims


@pytest.mark.parametrize(("effect", "noise", "expected"), [(1.0, 0.5, HELD), (-1.0, 0.5, NOT_HELD),
                                                           (0.0, 3.0, INCONCLUSIVE)])
def test_superiority_claims_decide_by_the_interval(effect, noise, expected):
    control, treatment = _pair(effect, noise)
    for fn in (claims.claim_4_attention_helps, claims.claim_6_refinement_improves,
               claims.claim_5_edges_improve_structure):
        v = fn(control, treatment, n_boot=500)
        assert v.verdict == expected, (fn.__name__, v)
        assert v.n == N and v.measure.startswith("hole_psnr gain")
    v = claims.claim_4_attention_helps(control, treatment, n_boot=500, data="textures (4 test)")
    assert v.claim == 4 and v.chapter == "02_3_attention" and v.data == "textures (4 test)"


def test_lower_is_better_metrics_are_turned_around():
    rng = np.random.default_rng(4)
    r = _ratios()
    lp = rng.uniform(0.1, 0.3, N)
    worse, better = _table("a", r, lpips=lp), _table("b", r, lpips=lp - 0.05 + rng.normal(0, 0.01, N))
    v = claims.claim_4_attention_helps(worse, better, metric="lpips", n_boot=500)
    assert v.verdict == HELD and v.effect == pytest.approx(0.05, abs=0.01) and "reduction" in v.measure
    assert claims.claim_4_attention_helps(better, worse, metric="lpips", n_boot=500).verdict == NOT_HELD


def test_claim_5_prefers_edge_f1_when_the_tables_carry_it():
    a, b = _pair(0.0, 3.0)  # hole PSNR says nothing
    f1 = np.random.default_rng(5).uniform(0.3, 0.5, N)
    a, b = with_per_image(a, "edge_f1", f1), with_per_image(b, "edge_f1", f1 + 0.1)
    v = claims.claim_5_edges_improve_structure(a, b, n_boot=500)
    assert "edge_f1" in v.measure and v.verdict == HELD
    assert claims.claim_5_edges_improve_structure(a, b, metric="hole_psnr", n_boot=500).verdict == INCONCLUSIVE


def test_mismatched_tables_are_refused():
    a, b = _pair(1.0, 0.5)
    short = _table("short", a.ratios[:-1], hole_psnr=b.per_image["hole_psnr"][:-1])
    with pytest.raises(InputError, match="same images"):
        claims.claim_4_attention_helps(a, short)
    other_masks = _table("other", a.ratios[::-1], hole_psnr=b.per_image["hole_psnr"])
    with pytest.raises(InputError, match="not evaluated on the same masks"):
        claims.claim_4_attention_helps(a, other_masks)
    with pytest.raises(InputError, match="no per-image 'lpips'"):
        claims.claim_4_attention_helps(a, b, metric="lpips")
    with pytest.raises(InputError, match="seed 1 was not evaluated on the same images"):
        claims.claim_4_attention_helps(a, [b, short])
    with pytest.raises(InputError, match="same number of seeds"):
        claims.claim_4_attention_helps([a, a], [b, b, b])
    with pytest.raises(InputError, match="mixes EvalTables"):
        claims.claim_4_attention_helps(a, [b, np.zeros(N)])
    with pytest.raises(InputError, match="data must be a label"):
        claims.claim_4_attention_helps(a, b, data=3)
    with pytest.raises(InputError, match="margin must be ≥ 0"):
        claims.claim_4_attention_helps(a, b, margin=-1.0)


def test_claims_accept_seeds_and_groups():
    a, b = _pair(1.0, 0.5)
    b2 = _table("t2", b.ratios, hole_psnr=b.per_image["hole_psnr"] + 0.2)
    v = claims.claim_4_attention_helps(a, [b, b2], groups=np.arange(N) // 6, n_boot=500)
    assert v.n_seeds == 2 and v.n_sources == 10 and v.verdict == HELD
    assert "10 sources" in str(v) and "2 seeds" in str(v)


def test_infinite_psnr_is_capped_not_propagated():
    a, b = _pair(1.0, 0.5)
    pa, pb = a.per_image["hole_psnr"].copy(), b.per_image["hole_psnr"].copy()
    pa[0] = pb[0] = np.inf  # a perfect fill by both: a difference of 0, not NaN
    pb[1] = np.inf  # a perfect fill by one: at most PSNR_CAP - pa[1]
    v = claims.claim_4_attention_helps(_table("a", a.ratios, hole_psnr=pa), _table("b", a.ratios, hole_psnr=pb),
                                       n_boot=500)
    assert np.isfinite(v.effect) and v.verdict == HELD and v.n == N


def test_claim_1_sharpness_with_truth_ratio_and_psnr_reported():
    r = _ratios()
    rng = np.random.default_rng(6)
    truth = rng.uniform(0.01, 0.02, N)
    l2 = _table("l2", r, sharpness=truth * 0.4, hole_psnr=np.full(N, 24.0) + rng.normal(0, 0.3, N))
    adv = _table("adv", r, sharpness=truth * rng.uniform(0.7, 0.9, N), hole_psnr=l2.per_image["hole_psnr"] - 1.0)
    v = claims.claim_1_adversarial_sharpens(l2, adv, truth_sharpness=truth, n_boot=500)
    assert v.verdict == HELD and v.effect == pytest.approx(0.4, abs=0.05) and "truth" in v.measure
    assert v.details["quality_change"] == pytest.approx(-1.0) and "reported, not decisive" in v.reason
    truth[:3] = 0.0  # flat truth: no ratio on those images
    v = claims.claim_1_adversarial_sharpens(l2, adv, truth_sharpness=truth, n_boot=500)
    assert v.n == N - 3 and "3 images without a value left out" in v.reason
    assert claims.claim_1_adversarial_sharpens(adv, l2, n_boot=500).verdict == NOT_HELD
    with pytest.raises(InputError, match="no per-image 'sharpness'"):
        claims.claim_1_adversarial_sharpens(*_pair(1.0, 0.5))
    with pytest.raises(InputError, match="truth_sharpness"):
        claims.claim_1_adversarial_sharpens(l2, adv, truth_sharpness=truth[:5])


def test_claim_2_needs_both_parts():
    vanilla, partial = _pair(1.0, 0.5)
    p = partial.per_image["hole_psnr"]
    fills = {f: _table(f"fill {f}", partial.ratios, hole_psnr=p + 1e-6 * i) for i, f in enumerate((0.0, 0.5, 1.0))}
    v = claims.claim_2_partial_beats_vanilla(vanilla, partial, fill_invariance=fills, n_boot=500)
    assert v.verdict == HELD and len(v.parts) == 2 and all(x.held for x in v.parts)
    # without part b the claim cannot be HELD
    v = claims.claim_2_partial_beats_vanilla(vanilla, partial, n_boot=500)
    assert v.verdict == INCONCLUSIVE and "not measured" in v.reason
    # a model that cares about the fill (0.5 dB per fill value) fails part b
    cares = {f: p + 0.5 * i for i, f in enumerate((0.0, 0.5, 1.0))}
    v = claims.claim_2_partial_beats_vanilla(vanilla, partial, fill_invariance=cares, n_boot=500)
    assert v.parts[1].verdict == NOT_HELD and v.verdict == NOT_HELD
    assert -v.parts[1].effect == pytest.approx(1.0)  # mean spread max - min
    with pytest.raises(InputError, match="at least 2 fill"):
        claims.claim_2_partial_beats_vanilla(vanilla, partial, fill_invariance={0.0: p})


def test_claim_3_is_non_inferiority_with_a_stated_margin():
    partial, gated = _pair(-0.2, 0.3)  # gated slightly worse, but well within 0.5 dB
    v = claims.claim_3_gated_at_least_partial(partial, gated, n_boot=500)
    assert v.verdict == HELD and v.margin == -0.5 and "δ = 0.5" in v.reason
    partial, gated = _pair(-1.5, 0.3)
    assert claims.claim_3_gated_at_least_partial(partial, gated, n_boot=500).verdict == NOT_HELD
    with pytest.raises(InputError, match="no default non-inferiority margin"):
        claims.claim_3_gated_at_least_partial(with_per_image(partial, "edge_f1", np.ones(N)),
                                              with_per_image(gated, "edge_f1", np.ones(N)), metric="edge_f1")


def test_claim_6_refuses_an_unequal_control():
    a, b = _pair(1.0, 0.5)
    assert claims.claim_6_refinement_improves(a, b, params=(1000, 1050), n_boot=500).verdict == HELD
    with pytest.raises(InputError, match="within 10 %"):
        claims.claim_6_refinement_improves(a, b, params=(1000, 2000))


def test_claim_7_uses_only_large_holes():
    r = _ratios()
    rng = np.random.default_rng(7)
    base = 25 + rng.normal(0, 1, N)
    gain = np.where(r >= 0.4, 1.0, -2.0) + rng.normal(0, 0.2, N)  # worse on small holes, better on large
    one_shot, staged = _table("one", r, hole_psnr=base), _table("staged", r, hole_psnr=base + gain)
    v = claims.claim_7_part_to_full_large_holes(one_shot, staged, n_boot=500)
    assert v.verdict == HELD and v.n == int((r >= 0.4).sum())
    assert claims.claim_7_part_to_full_large_holes(one_shot, staged, min_ratio=0.0, n_boot=500).verdict == NOT_HELD
    with pytest.raises(InputError, match="carries no hole ratios"):
        claims.claim_7_part_to_full_large_holes(base, base + gain)
    v = claims.claim_7_part_to_full_large_holes(base, base + gain, ratios=r, n_boot=500)
    assert v.verdict == HELD
    with pytest.raises(InputError, match="hole ratio ≥ 90%"):
        claims.claim_7_part_to_full_large_holes(one_shot, staged, min_ratio=0.9)


def test_claim_8_diversity_and_quality():
    det, samples = _pair(-0.2, 0.3)
    div = np.random.default_rng(8).uniform(0.03, 0.06, N)
    v = claims.claim_8_pluralistic_diverse(div, samples, det, n_boot=500)
    assert v.verdict == HELD and [p.verdict for p in v.parts] == [HELD, HELD]
    v = claims.claim_8_pluralistic_diverse(np.zeros(N), samples, det, n_boot=500)  # a deterministic "sampler"
    assert v.parts[0].verdict == NOT_HELD and v.verdict == NOT_HELD
    r = samples.ratios
    lp = np.random.default_rng(9).uniform(0.1, 0.2, N)
    det_l, samp_l = with_per_image(det, "lpips", lp), with_per_image(samples, "lpips", lp + 0.05)
    v = claims.claim_8_pluralistic_diverse(div, samp_l, det_l, n_boot=500)  # LPIPS preferred when present
    assert "lpips" in v.parts[1].measure and v.parts[1].margin == -0.02 and v.verdict == NOT_HELD
    with pytest.raises(InputError, match="same images"):
        claims.claim_8_pluralistic_diverse(div[:10], samples, det)
    assert len(r) == N


def test_claim_9_needs_the_interval_not_a_positive_mean():
    rng = np.random.default_rng(10)
    plain = rng.uniform(0.05, 0.1, 12)
    noise = rng.normal(0, 0.02, 12)
    diff = noise - noise.mean() + 0.002  # a small positive mean, a large spread
    jumps = plain - diff
    assert diff.mean() > 0  # the old notebook rule (diff.mean() > 0) would have said HELD
    v = claims.claim_9_resampling_harmonizes(plain, jumps)
    assert v.verdict == INCONCLUSIVE and v.lo < 0 < v.hi and v.effect == pytest.approx(diff.mean())
    clear = claims.claim_9_resampling_harmonizes(plain, plain - 0.02 + rng.normal(0, 0.002, 12))
    assert clear.verdict == HELD and "seam_error reduction" in clear.measure


def test_claim_10_parts():
    conv, ffc = _pair(1.0, 0.5)
    v = claims.claim_10_fourier_large_masks(conv, ffc, n_boot=500)
    assert v.verdict == INCONCLUSIVE and "higher resolution not measured" in v.reason
    cp, fp = conv.per_image["hole_psnr"], ffc.per_image["hole_psnr"]
    conv_hi = _table("conv 2x", conv.ratios, hole_psnr=cp - 3.0)
    ffc_hi = _table("ffc 2x", conv.ratios, hole_psnr=fp - 1.0)
    v = claims.claim_10_fourier_large_masks(conv, ffc, conv_only_hires=conv_hi, ffc_hires=ffc_hi, n_boot=500)
    assert v.verdict == HELD and len(v.parts) == 3 and v.parts[2].effect == pytest.approx(2.0)
    ffc_hi_bad = _table("ffc 2x", conv.ratios, hole_psnr=fp - 5.0)  # loses more than conv does
    v = claims.claim_10_fourier_large_masks(conv, ffc, conv_only_hires=conv_hi, ffc_hires=ffc_hi_bad, n_boot=500)
    assert v.verdict == NOT_HELD
    with pytest.raises(InputError, match="pass both"):
        claims.claim_10_fourier_large_masks(conv, ffc, conv_only_hires=conv_hi)


def test_claim_11_for_classical_and_learned_models():
    r = _ratios(80)
    rng = np.random.default_rng(11)
    falls = _table("telea", r, hole_psnr=30 - 20 * r + rng.normal(0, 1, 80))
    learned = _table("unet", r, hole_psnr=28 - 15 * r + rng.normal(0, 1, 80))
    flat = _table("flat", r, hole_psnr=25 + rng.normal(0, 1, 80))
    rises = _table("odd", r, hole_psnr=20 + 20 * r + rng.normal(0, 1, 80))
    v = claims.claim_11_quality_falls_with_hole_ratio(falls, n_boot=500)
    assert v.verdict == HELD and v.hi < 0 and v.effect < -0.8 and "dB" not in v.effect_text()  # ρ has no unit
    assert claims.claim_11_quality_falls_with_hole_ratio(rises, n_boot=500).verdict == NOT_HELD
    assert claims.claim_11_quality_falls_with_hole_ratio(flat, n_boot=500).verdict == INCONCLUSIVE
    both = claims.claim_11_quality_falls_with_hole_ratio({"telea": falls, "unet": learned}, n_boot=500)
    assert both.verdict == HELD and len(both.parts) == 2
    mixed = claims.claim_11_quality_falls_with_hole_ratio({"telea": falls, "flat": flat}, n_boot=500)
    assert mixed.verdict == INCONCLUSIVE and "flat" in mixed.measure  # the least favourable is shown
    # lower-is-better metric: MAE rising with the ratio is quality falling
    mae = _table("telea", r, hole_mae=0.02 + 0.2 * r + rng.normal(0, 0.01, 80))
    assert claims.claim_11_quality_falls_with_hole_ratio(mae, metric="hole_mae", n_boot=500).verdict == HELD
    same = _table("same", np.full(10, 0.2), hole_psnr=np.arange(10.0))
    with pytest.raises(InputError, match="same hole ratio"):
        claims.claim_11_quality_falls_with_hole_ratio(same)
    grouped = claims.claim_11_quality_falls_with_hole_ratio(falls, groups=np.arange(80) % 8, n_boot=300)
    assert grouped.n_sources == 8 and grouped.verdict == HELD


def test_claim_12_both_halves():
    r = np.concatenate([np.full(30, 0.05), np.full(30, 0.45)])
    rng = np.random.default_rng(12)
    base = 26 + rng.normal(0, 1, 60)
    large = r >= 0.3
    telea = _table("telea", r, hole_psnr=base)
    weak = _table("mean_fill", r, hole_psnr=base - 5)
    learned = _table("unet", r, hole_psnr=base + np.where(large, 2.0, 0.1) + rng.normal(0, 0.3, 60))
    v = claims.claim_12_learned_beats_classical_on_large_holes(learned, {"telea": telea, "mean": weak},
                                                               n_boot=500)
    assert v.verdict == HELD and [p.verdict for p in v.parts] == [HELD, HELD]
    assert "telea" in v.parts[0].measure  # the strongest classical method is the opponent
    assert v.parts[0].n == 30 and v.parts[1].n == 30
    # learned far better on thin holes too: classical is no longer "strong on thin" -> NOT HELD
    strong = _table("unet", r, hole_psnr=base + 2.0 + rng.normal(0, 0.3, 60))
    v = claims.claim_12_learned_beats_classical_on_large_holes(strong, telea, n_boot=500)
    assert v.parts[0].verdict == HELD and v.parts[1].verdict == NOT_HELD and v.verdict == NOT_HELD
    # separate thin-mask runs
    t_l, t_c = _pair(-0.1, 0.2)
    v = claims.claim_12_learned_beats_classical_on_large_holes(learned, telea, learned_thin=t_l, classical_thin=t_c,
                                                               n_boot=500)
    assert v.verdict == HELD and "thin masks" in v.parts[1].measure
    with pytest.raises(InputError, match="pass both"):
        claims.claim_12_learned_beats_classical_on_large_holes(learned, telea, learned_thin=t_l)
    with pytest.raises(InputError, match="same images"):
        claims.claim_12_learned_beats_classical_on_large_holes(
            learned, {"telea": telea, "short": _table("short", r[:10], hole_psnr=base[:10])})


def test_an_unmeasured_claim_prints_a_dash_not_nan():
    v = claims.Verdict(5, "edges", "not measured", float("nan"), (float("nan"), float("nan")), 0, INCONCLUSIVE,
                       "chapter planned")
    row = claims.ClaimsTable([v]).to_markdown().splitlines()[-1]
    assert "nan" not in row and "| — |" in row


def test_few_sources_are_flagged_in_the_reason():
    a, b = _pair(1.0, 0.5)
    n = len(a.ratios)
    few, many = np.arange(n) % 3, np.arange(n) % 10
    v = claims.claim_4_attention_helps(a, b, groups=few, n_boot=300)
    assert v.n_sources == 3 and "only 3 distinct source images" in v.reason
    assert "caution" not in claims.claim_4_attention_helps(a, b, groups=many, n_boot=300).reason


def test_payoff_large_holes_strongest_opponent_and_fallback():
    r = np.concatenate([np.full(20, 0.05), np.full(20, 0.45)])
    rng = np.random.default_rng(3)
    base = 24 + rng.normal(0, 1, 40)
    large = r >= 0.3
    telea = _table("telea", r, hole_psnr=base, lpips=np.full(40, 0.10))
    weak = _table("mean", r, hole_psnr=base - 6, lpips=np.full(40, 0.30))
    # learned: worse than telea on thin holes, better on large ones -> the payoff looks at large ones only
    learned = _table("unet", r, hole_psnr=base + np.where(large, 1.5, -3.0) + rng.normal(0, 0.2, 40),
                     lpips=np.where(large, 0.12, 0.05) + rng.normal(0, 0.005, 40))
    v = claims.payoff(learned, {"telea": telea, "mean": weak}, learned_name="unet", n_boot=500)
    assert v.verdict == HELD and v.n == 20 and "telea" in v.measure and "holes ≥ 30%" in v.measure
    assert v.statement == claims.PAYOFF_STATEMENT and v.effect > 1.0
    # LPIPS: lower is better, so the effect is oriented as a reduction; learned is worse there
    v = claims.payoff(learned, {"telea": telea, "mean": weak}, metric="lpips", n_boot=500)
    assert v.verdict == NOT_HELD and v.effect == pytest.approx(-0.02, abs=0.005)
    # the opponent is chosen per metric on the kept images: a method best in LPIPS is picked for LPIPS
    sharp = _table("sharp", r, hole_psnr=base - 8, lpips=np.full(40, 0.01))
    v = claims.payoff(learned, {"telea": telea, "sharp": sharp}, metric="lpips", n_boot=500)
    assert "sharp" in v.measure
    # no large holes (centre masks): all images, said in the measure
    small = np.full(40, 0.25)
    v = claims.payoff(_table("ce", small, hole_psnr=base + 1), _table("telea", small, hole_psnr=base), n_boot=500)
    assert v.n == 40 and "all holes" in v.measure and v.verdict == HELD
    with pytest.raises(InputError, match="learned_name"):
        claims.payoff(learned, telea, learned_name="")
    with pytest.raises(InputError, match="large"):
        claims.payoff(learned, telea, large=1.5)


def test_verdict_outputs_and_registry():
    a, b = _pair(1.0, 0.5)
    v = claims.claim_4_attention_helps(a, b, n_boot=500, data="textures <4>")
    text = str(v)
    assert "Claim 4" in text and "HELD" in text and f"n = {N} images" in text
    assert "&lt;4&gt;" in v._repr_html_()
    d = v.to_dict()
    assert json.loads(json.dumps(d))["verdict"] == HELD and d["lo"] <= d["effect"] <= d["hi"]
    c, p = _pair(0.0, 3.0)
    table = ClaimsTable([v, claims.claim_3_gated_at_least_partial(c, p, n_boot=500)])
    md = table.to_markdown()
    assert md.count("\n") == 3 and "| verdict |" in md.splitlines()[0] and "02_3_attention" in md
    assert "<table>" in table._repr_html_() and len(table) == 2
    assert [c.number for c in claims.CLAIMS] == list(range(1, 13))
    assert claims.claim_info(9).function is claims.claim_9_resampling_harmonizes
    assert claims.claim_info(9).chapter == "03_4_diffusion"
    with pytest.raises(InputError, match="claim number"):
        claims.claim_info(13)
    with pytest.raises(InputError, match="verdict must be one of"):
        Verdict(1, "x", "m", 0.0, (0.0, 0.0), 2, "MAYBE", "")
    with pytest.raises(InputError, match="list of Verdict"):
        ClaimsTable([1, 2])


def test_with_per_image_refuses_wrong_lengths():
    a, _ = _pair(1.0, 0.5)
    with pytest.raises(InputError, match="one number per image"):
        with_per_image(a, "sharpness", np.ones(N - 1))
    with pytest.raises(InputError, match="EvalTable"):
        with_per_image({"hole_psnr": 1}, "sharpness", np.ones(N))
    assert with_per_image(a, "sharpness", np.ones(N)).metrics == ["hole_psnr", "sharpness"]


def test_claims_module_imports_no_notebooks_or_widgets():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(claims))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and ("widgets" in m or "viz" in m or "models" in m or "train" in m)]


# --------------------------------------------------------------------------- sharpness


def test_sharpness_has_one_definition():
    import survey_lib.models.context_encoder as ce
    from survey_lib.metrics import hole_gradient_energy
    from survey_lib.metrics import sharpness as canonical
    from survey_lib.widgets.losslab import hole_gradient_energy as lab_energy

    assert lab_energy is canonical.hole_gradient_energy is hole_gradient_energy
    assert not hasattr(ce, "hole_sharpness")  # the model file's own Sobel copy is gone


def test_hole_gradient_energy_dilate_and_ratio():
    from survey_lib.metrics import hole_gradient_energy, sharpness_ratio

    img = torch.zeros(1, 1, 8, 8)
    img[..., 4:] = 1.0  # a step between columns 3 and 4
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 4:6] = 1  # hole right of the step: no pair inside it crosses the step
    assert float(hole_gradient_energy(img, mask)) == 0.0
    # grown by one pixel, the hole spans columns 3..6 and the seam pair (3, 4) counts
    grown = float(hole_gradient_energy(img, mask, dilate=1))
    # rows 1..6 (6 rows) x 3 horizontal pairs + 4 columns x 5 vertical pairs = 38 pairs; 6 cross the step
    assert grown == pytest.approx(6 / 38)
    blurred = torch.nn.functional.avg_pool2d(img, 3, stride=1, padding=1, count_include_pad=False)
    ratio = sharpness_ratio(blurred, img, mask, dilate=1)
    assert 0 < float(ratio) < 1
    assert torch.isnan(sharpness_ratio(img, torch.full_like(img, 0.5), mask))  # flat truth: no ratio
    with pytest.raises(InputError, match="dilate"):
        hole_gradient_energy(img, mask, dilate=-1)
    with pytest.raises(InputError, match="same shape"):
        sharpness_ratio(img, img[..., :4], mask)
