"""The course-wide claims table: the 12 headline claims measured on the shipped checkpoints.

Each chapter decides its paper's claim on the models it trained. This module measures all
twelve in one place, from the *shipped* checkpoints only (:func:`survey_lib.pretrain.compared_model`,
hash checked) on the sets the chapters compare them on
(:func:`survey_lib.pretrain.comparison_set`, or a copy of its spec with other masks passed
to :func:`survey_lib.pretrain.evaluation_set`), evaluates with
:func:`survey_lib.metrics.evaluate`, and decides **only** through
:mod:`survey_lib.claims` (``claim_N_...``), with the evaluation set's source groups
(:func:`survey_lib.data.about.source_groups`: crops of one photograph, or one image under
several mask families, are resampled together) and a data label. Nothing here sets a
threshold.

``python -m survey_lib claims [--preset P] [--claims 1 4 ...] [--payoff] [--markdown]``
prints the table; :func:`course_table` returns it (a :class:`~survey_lib.claims.ClaimsTable`),
:func:`payoff_table` gives, per chapter, its main learned model against the best classical
baseline on large holes.

What each claim compares (controls are their treatment's network with one part off,
pretrained on the same budget):

====  =====================================================  ==========================================
claim  control → treatment                                    data (the comparison set of …)
====  =====================================================  ==========================================
1      context_encoder_l2 → context_encoder (03.1); also       shapes, centre + boxes; glyphs (03.3)
       global_local_l2 → global_local (03.3) as a second row
2      unet_paper → pconv; pconv under 3 hole fills            photos, bin masks
3      pconv → gated                                           photos, brush masks
4      coarse_to_fine → deepfill_v1                            textures, bin masks
5, 7   not measured: their chapters (2.1.x) are planned        —
6      one_stage → coarse_to_fine (refined output)             textures, bin masks
8      cvae samples (diversity) vs cvae_deterministic          glyphs, centre + boxes
9      repaint plain replacement → repaint with jumps          glyphs, brush masks (few images)
10     lama_conv → lama, at the training size and upscaled 2×  textures, lama_thick masks
11     every shipped photo model + telea, NS, biharmonic       photos, bin masks
12     gated (rule below) vs telea / NS / biharmonic           photos, bin masks + lama_thin masks
====  =====================================================  ==========================================

A missing checkpoint never crashes the table: that claim becomes INCONCLUSIVE with a
reason naming the checkpoint and the command that makes it. A checkpoint whose sha256
differs from the manifest is refused (:class:`~survey_lib.pretrain.CheckpointTampered`
propagates). When the images left for a claim come from too few sources for an interval,
the claim's own InputError is turned into an INCONCLUSIVE verdict quoting it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from survey_lib import claims as C
from survey_lib.config import Preset, get_preset, seed_everything
from survey_lib.data.about import source_groups, source_tag
from survey_lib.data.checks import InputError
from survey_lib.metrics.evaluate import EvalTable

__all__ = [
    "CHAPTER_MAIN",
    "CLASSICAL",
    "CLAIM_12_PREFERENCE",
    "Context",
    "PayoffTable",
    "course_table",
    "format_table",
    "measure_claim",
    "payoff_table",
] + [f"measure_claim_{k}" for k in range(1, 13)]

#: the classical baselines every learned model is compared with (exemplar is left out: minutes per set)
CLASSICAL = ("telea", "navier_stokes", "biharmonic")
#: each chapter's main learned model (the one it trains live)
CHAPTER_MAIN = {"02_3_attention": "deepfill_v1", "02_4_convolution_aware": "pconv", "03_1_autoencoder":
                "context_encoder", "03_2_vae": "cvae", "03_3_gan": "global_local", "03_4_diffusion": "repaint",
                "04_losses": "loss_lab"}
#: claim 12's learned model, fixed before any result: the newest architecture shipped for photos
#: (DeepFill v2's gated convolutions, 2019), then partial convolutions (2018), then the U-Net
CLAIM_12_PREFERENCE = ("gated", "pconv", "unet")
#: claim 11's learned models: every model chapter 2.4 and 4 ship for photos
CLAIM_11_LEARNED = ("unet_paper", "unet", "pconv", "gated", "loss_lab")
#: hole fills of claim 2's invariance part ("noise": seeded uniform noise)
FILLS: tuple[float | str, ...] = (0.0, 1.0, "noise")
#: completions drawn per input for claim 8's diversity (as chapter 03.2)
N_SAMPLES = 6
#: images per mask family in RePaint's sets (sampling a chain per image is the costly part)
REPAINT_PER_MASK = {"smoke": 2, "cpu": 8, "gpu": 32}
#: holes counted as large in the payoff table (claim 12's default)
LARGE = 0.3
#: bootstrap replicates per preset: smoke only checks the plumbing (a claim-11 interval over
#: groups is a Python loop of rank correlations), the others use the library's default
N_BOOT = {"smoke": 500}
MISSING = "not measured yet: chapter 2.1.{x} is planned (issue 11)"


class _Missing(Exception):
    """A checkpoint a claim needs is not there; carries the reason to print."""


# --------------------------------------------------------------------------- evaluation context


@dataclass
class Context:
    """One call's preset, checkpoint root and caches (models, sets, tables are shared by claims)."""

    preset: Preset
    root: Path | None = None
    models: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    sets: dict[str, tuple[torch.Tensor, torch.Tensor, dict[str, Any]]] = field(default_factory=dict)
    tables: dict[tuple[str, str], EvalTable] = field(default_factory=dict)
    n_boot: int = C.N_BOOT

    @classmethod
    def make(cls, preset: Preset | str | None = None, root: str | Path | None = None) -> Context:
        p = preset if isinstance(preset, Preset) else get_preset(preset)
        if not p.shipped:
            raise InputError(f"the claims table measures the shipped checkpoints: preset {p.name!r} trains its "
                             f"models in the chapters instead; use smoke or cpu")
        if root is not None and not isinstance(root, (str, Path)):
            raise InputError(f"root must be a directory path or None, got {type(root).__name__}")
        return cls(p, None if root is None else Path(root), n_boot=N_BOOT.get(p.name, C.N_BOOT))

    # -- models
    def model(self, name: str) -> Any:
        """The shipped checkpoint of ``name`` (hash checked); :class:`_Missing` when absent."""
        from survey_lib.models.registry import REGISTRY, build
        from survey_lib.pretrain import PRETRAIN, CheckpointMissing, compared_model

        if name in self.models:
            return self.models[name]
        if name in CLASSICAL:
            self.models[name], self.labels[name] = build(name), name
            return self.models[name]
        if name not in REGISTRY or name not in PRETRAIN:
            raise _Missing(f"checkpoint {name!r} is missing: {name!r} is not a registered pretrainable method "
                           f"yet; once it is, make it with: python -m survey_lib pretrain --methods {name}")
        try:
            model, label = compared_model(name, self.preset, root=self.root)
        except CheckpointMissing as err:
            raise _Missing(f"checkpoint {name!r} is missing; make it with: python -m survey_lib pretrain "
                           f"--methods {name} --preset {self.preset.name} ({_first_sentence(err)})") from None
        self.models[name], self.labels[name] = model, label
        return model

    # -- sets
    def spec(self, name: str, masks: Sequence[str] | None = None, per_mask: int | None = None,
             size: int | None = None) -> dict[str, Any]:
        """The comparison set spec of ``name`` (optionally other masks / images per family / size)."""
        from survey_lib.pretrain import comparison_set

        key = f"base:{name}"
        if key not in self.sets:
            self.sets[key] = comparison_set(name, self.preset, root=self.root)
            self.sets.setdefault(_key(self.sets[key][2]), self.sets[key])
        es = dict(self.sets[key][2])
        if masks is not None:
            es["masks"] = list(masks)
        if per_mask is not None:
            es["per_mask"] = int(per_mask)
        if size is not None:
            es["size"] = int(size)
        es["n"] = es["per_mask"] * len(es["masks"])
        return es

    def images(self, es: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        from survey_lib.pretrain import evaluation_set

        key = _key(es)
        if key not in self.sets:
            images, masks = evaluation_set(es)
            self.sets[key] = (images, masks, es)
        return self.sets[key][0], self.sets[key][1]

    def table(self, name: str, es: dict[str, Any], method: Any = None, tag: str = "",
              lpips: bool | None = None) -> EvalTable:
        """``evaluate`` of model ``name`` (or ``method``) on the set ``es``, seeded, cached."""
        from survey_lib.metrics import evaluate

        key = (name + tag, _key(es))
        if key not in self.tables:
            model = self.model(name) if method is None else method  # a missing checkpoint fails first, cheaply
            images, masks = self.images(es)
            seed_everything(0)
            self.tables[key] = evaluate(model, images, masks, lpips=lpips)
        return self.tables[key]


def _key(es: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in es.items() if k != "n"))


def _first_sentence(err: BaseException) -> str:
    return str(err).split(";")[0]


def _data(es: dict[str, Any], extra: str = "") -> str:
    """The label a verdict prints under 'data': source with its counts, masks, size, images."""
    from survey_lib.pretrain import BIN_MASKS

    masks = list(es["masks"])
    what = "bin masks 1–60 %" if masks == list(BIN_MASKS) else "+".join(masks) + " masks"
    return f"{source_tag(es['source'])}, {what}, {es['size']} px{extra}"


def _groups(es: dict[str, Any]) -> np.ndarray | None:
    return source_groups(es)


def _unmeasured(claim: int, reason: str, data: str = "") -> C.Verdict:
    """An INCONCLUSIVE verdict with no numbers: the claim could not be measured (reason says why)."""
    info = C.claim_info(claim)
    return C.Verdict(claim, info.statement, "not measured", math.nan, (math.nan, math.nan), 0, C.INCONCLUSIVE,
                     reason, data=data)


def _decided(claim: int, data: str, decide: Callable[[], C.Verdict]) -> C.Verdict:
    """Run a claim function; its InputError (too few images or sources left) becomes INCONCLUSIVE."""
    try:
        return decide()
    except InputError as err:
        return _unmeasured(claim, f"could not be decided on this set: {err}", data)


def _guard(claim: int, measure: Callable[[Context], C.Verdict], preset: Preset | str | None,
           root: str | Path | None, context: Context | None) -> C.Verdict:
    ctx = context if context is not None else Context.make(preset, root)
    try:
        return measure(ctx)
    except _Missing as err:
        return _unmeasured(claim, str(err))


# --------------------------------------------------------------------------- the claims


def _sharp_table(ctx: Context, name: str, es: dict[str, Any]) -> EvalTable:
    """``name``'s table with a per-image ``sharpness`` column (hole gradient energy of the composite)."""
    from survey_lib.inpaint import inpaint
    from survey_lib.metrics import hole_gradient_energy

    images, masks = ctx.images(es)
    table = ctx.table(name, es)
    if "sharpness" in table.per_image:
        return table
    seed_everything(0)
    with torch.no_grad():
        comp = inpaint(ctx.model(name), images, masks)
    return C.with_per_image(table, "sharpness", hole_gradient_energy(comp, masks).numpy())


def _claim_1(ctx: Context, control: str, treatment: str, chapter: str) -> C.Verdict:
    from survey_lib.metrics import hole_gradient_energy

    ctx.model(control), ctx.model(treatment)  # a missing checkpoint fails before any work
    es = ctx.spec(treatment)
    images, masks = ctx.images(es)
    l2, adv = _sharp_table(ctx, control, es), _sharp_table(ctx, treatment, es)
    truth = hole_gradient_energy(images, masks).numpy()
    data = _data(es)
    v = _decided(1, data, lambda: C.claim_1_adversarial_sharpens(
        l2, adv, truth_sharpness=truth, groups=_groups(es), n_boot=ctx.n_boot, data=data))
    v.chapter = chapter
    v.details.setdefault("control", control)
    v.details.setdefault("treatment", treatment)
    return v


def measure_claim_1(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None, gan: bool = False) -> C.Verdict:
    """Claim 1 (an adversarial term sharpens): ``context_encoder_l2`` → ``context_encoder`` on
    03.1's shapes (``gan=True``: ``global_local_l2`` → ``global_local`` on 03.3's glyphs).
    Measure: the canonical hole gradient energy of the composites as a ratio to the truth's
    (:func:`~survey_lib.metrics.hole_gradient_energy`); the hole-PSNR change is reported."""
    pair = ("global_local_l2", "global_local", "03_3_gan") if gan else \
        ("context_encoder_l2", "context_encoder", "03_1_autoencoder")
    v = _guard(1, lambda ctx: _claim_1(ctx, *pair), preset, root, context)
    v.chapter = pair[2]  # also when a checkpoint is missing: the row still names its chapter
    return v


class _WithFill:
    """A fill-taking U-Net run with its hole holding ``fill`` ("noise": seeded uniform noise)."""

    def __init__(self, model: Any, fill: float | str) -> None:
        self.model, self.fill, self.name = model, fill, f"{getattr(model, 'name', 'model')} fill={fill}"

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        value: Any = self.fill
        if value == "noise":
            value = torch.rand(image.shape, generator=torch.Generator().manual_seed(0)).to(image.device)
        with torch.no_grad():
            return self.model(image, mask, fill=value)


def _claim_2(ctx: Context) -> C.Verdict:
    es = ctx.spec("pconv")
    vanilla, partial = ctx.table("unet_paper", es), ctx.table("pconv", es)
    model = ctx.model("pconv")
    fills = {str(f): ctx.table("pconv", es, method=_WithFill(model, f), tag=f"@fill={f}", lpips=False)
             for f in FILLS}  # decided on hole PSNR: LPIPS would only cost time
    data = _data(es)
    return _decided(2, data, lambda: C.claim_2_partial_beats_vanilla(
        vanilla, partial, fill_invariance=fills, groups=_groups(es), n_boot=ctx.n_boot, data=data))


def measure_claim_2(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 2 (partial beats vanilla, ignores the fill): ``unet_paper`` → ``pconv`` on photos
    with bin masks (hole PSNR), and ``pconv`` re-run with the hole filled by 0, 1 and noise
    (as chapter 02.4 measures it): the per-image spread over fills must stay under the
    claim's tolerance."""
    return _guard(2, _claim_2, preset, root, context)


def _claim_3(ctx: Context) -> C.Verdict:
    base = ctx.spec("pconv")
    es = ctx.spec("pconv", masks=["brush"], per_mask=base["per_mask"])
    partial, gated = ctx.table("pconv", es), ctx.table("gated", es)
    data = _data(es)
    return _decided(3, data, lambda: C.claim_3_gated_at_least_partial(partial, gated, groups=_groups(es),
                                                                       n_boot=ctx.n_boot, data=data))


def measure_claim_3(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 3 (gated ≥ partial on free-form masks): ``pconv`` vs ``gated`` on photos with
    DeepFill v2's brush masks (the comparison set's images, masks changed); non-inferiority."""
    return _guard(3, _claim_3, preset, root, context)


def _claim_4(ctx: Context) -> C.Verdict:
    es = ctx.spec("deepfill_v1")
    without, with_ = ctx.table("coarse_to_fine", es), ctx.table("deepfill_v1", es)
    data = _data(es, ", the answer elsewhere in the image")
    return _decided(4, data, lambda: C.claim_4_attention_helps(without, with_, groups=_groups(es),
                                                                n_boot=ctx.n_boot, data=data))


def measure_claim_4(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 4 (contextual attention helps where the content exists elsewhere):
    ``coarse_to_fine`` (DeepFill v1 without attention) → ``deepfill_v1`` on periodic textures."""
    return _guard(4, _claim_4, preset, root, context)


def measure_claim_5(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 5 (edge guidance): not measured — the EdgeConnect chapter (2.1.4) is planned."""
    return _unmeasured(5, MISSING.format(x=4))


def _claim_6(ctx: Context) -> C.Verdict:
    from survey_lib.layers.blocks import count_parameters

    es = ctx.spec("coarse_to_fine")
    one, two = ctx.table("one_stage", es), ctx.table("coarse_to_fine", es)
    params = (count_parameters(ctx.model("one_stage"), False), count_parameters(ctx.model("coarse_to_fine"), False))
    data = _data(es)
    return _decided(6, data, lambda: C.claim_6_refinement_improves(one, two, params=params, groups=_groups(es),
                                                                    n_boot=ctx.n_boot, data=data))


def measure_claim_6(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 6 (a refinement stage improves on the coarse result): ``one_stage`` (DeepFill v1's
    coarse network alone at the same parameters and compute) → ``coarse_to_fine``'s refined
    output, on textures; the parameter counts are handed to the claim, which refuses an
    unfair control."""
    return _guard(6, _claim_6, preset, root, context)


def measure_claim_7(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 7 (part-to-full on large holes): not measured — chapter 2.1.2 is planned."""
    return _unmeasured(7, MISSING.format(x=2))


def _per_image_quality(samples: torch.Tensor, images: torch.Tensor, masks: torch.Tensor, metric: str) -> np.ndarray:
    """(n,) ``metric`` per image averaged over the S composited samples (PSNR capped first)."""
    from survey_lib.metrics import lpips_distance, psnr

    rows = []
    for s in samples:
        if metric == "lpips":
            rows.append(lpips_distance(s, images).double().numpy())
        else:
            rows.append(np.minimum(psnr(s, images, masks).double().numpy(), C.PSNR_CAP))
    return np.mean(rows, axis=0)


def _claim_8(ctx: Context) -> C.Verdict:
    from survey_lib.data import hole_ratio
    from survey_lib.inpaint import composite
    from survey_lib.metrics import diversity

    es = ctx.spec("cvae")
    images, masks = ctx.images(es)
    det = ctx.table("cvae_deterministic", es)
    model = ctx.model("cvae")
    with torch.no_grad():
        raw = model.sample(images * (1 - masks), masks, N_SAMPLES, generator=torch.Generator().manual_seed(0))
    samples = torch.stack([composite(images, masks, s) for s in raw])
    div = (diversity(samples) / hole_ratio(masks)).double().numpy()  # per hole pixel, as chapter 03.2
    metric = "lpips" if "lpips" in det.per_image else "hole_psnr"
    quality = _per_image_quality(samples, images, masks, metric)
    data = _data(es, f", {N_SAMPLES} samples per input")
    return _decided(8, data, lambda: C.claim_8_pluralistic_diverse(
        div, quality, det, metric=metric, groups=_groups(es), n_boot=ctx.n_boot, data=data))


def measure_claim_8(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 8 (diverse completions at similar quality): ``cvae``'s L1 diversity per hole pixel
    over 6 samples per input, and their quality (LPIPS when available, else hole PSNR,
    averaged over samples) against ``cvae_deterministic`` on glyphs."""
    return _guard(8, _claim_8, preset, root, context)


def _claim_9(ctx: Context) -> C.Verdict:
    from survey_lib.inpaint import inpaint
    from survey_lib.metrics import seam_error
    from survey_lib.models.repaint import RePaintSampler

    model = ctx.model("repaint")
    es = ctx.spec("repaint", masks=["brush"], per_mask=_repaint_per_mask(ctx))
    images, masks = ctx.images(es)
    plain = RePaintSampler(model, jump_length=model.jump_length, jump_n_sample=1)
    jumps = RePaintSampler(model, jump_length=model.jump_length, jump_n_sample=model.jump_n_sample)
    with torch.no_grad():
        seams = [seam_error(inpaint(s, images, masks), images, masks).double().numpy() for s in (plain, jumps)]
    data = _data(es, f", j={model.jump_length}, r={model.jump_n_sample}")
    return _decided(9, data, lambda: C.claim_9_resampling_harmonizes(seams[0], seams[1], groups=_groups(es),
                                                                      n_boot=ctx.n_boot, data=data))


def _repaint_per_mask(ctx: Context) -> int:
    return REPAINT_PER_MASK.get(ctx.preset.name, 8)


def measure_claim_9(preset: Preset | str | None = None, root: str | Path | None = None, *,
                    context: Context | None = None) -> C.Verdict:
    """Claim 9 (RePaint's jumps harmonize): the shipped ``repaint`` sampled with plain
    replacement (r = 1) and with its jumps (same noise seed), on glyphs with brush masks
    (:data:`REPAINT_PER_MASK` images: each is a whole sampling chain); seam error."""
    return _guard(9, _claim_9, preset, root, context)


def _claim_10(ctx: Context) -> C.Verdict:
    es = ctx.spec("lama")
    conv, ffc = ctx.table("lama_conv", es), ctx.table("lama", es)
    images, masks = ctx.images(es)
    big = (2 * images.shape[-2], 2 * images.shape[-1])
    hi_images = F.interpolate(images, size=big, mode="bicubic", align_corners=False).clamp(0.0, 1.0)
    hi_masks = F.interpolate(masks, size=big, mode="nearest")
    hi_es = {**es, "upscaled": 2}
    ctx.sets.setdefault(_key(hi_es), (hi_images, hi_masks, hi_es))
    conv_hi, ffc_hi = ctx.table("lama_conv", hi_es), ctx.table("lama", hi_es)
    data = _data(es, f"; hi-res: the same images upscaled to {big[0]} px")
    return _decided(10, data, lambda: C.claim_10_fourier_large_masks(
        conv, ffc, conv_only_hires=conv_hi, ffc_hires=ffc_hi, groups=_groups(es), n_boot=ctx.n_boot, data=data))


def measure_claim_10(preset: Preset | str | None = None, root: str | Path | None = None, *,
                     context: Context | None = None) -> C.Verdict:
    """Claim 10 (Fourier convolutions: large masks, periodic structure, higher resolution):
    ``lama_conv`` (the same generator without the Fourier branch) → ``lama`` on textures
    with LaMa's thick masks, at the training size and on the same images and masks
    upscaled 2× (bicubic / nearest)."""
    return _guard(10, _claim_10, preset, root, context)


def _claim_11(ctx: Context) -> C.Verdict:
    es = ctx.spec("pconv")
    tables: dict[str, EvalTable] = {}
    missing = []
    for name in CLAIM_11_LEARNED:
        try:
            tables[name] = ctx.table(name, es)
        except _Missing:
            missing.append(name)
    if not tables:  # the claim is about learned models too: none to measure
        raise _Missing(f"no learned photo model is shipped (checkpoints {', '.join(missing)} are missing); make "
                       f"them with: python -m survey_lib pretrain --methods {' '.join(missing)} "
                       f"--preset {ctx.preset.name}")
    tables.update({name: ctx.table(name, es) for name in CLASSICAL})
    data = _data(es)
    v = _decided(11, data, lambda: C.claim_11_quality_falls_with_hole_ratio(tables, groups=_groups(es),
                                                                             n_boot=ctx.n_boot, data=data))
    if missing:
        v.reason += f"; not measured (checkpoint missing): {', '.join(missing)}"
    v.details["methods"] = list(tables)
    return v


def measure_claim_11(preset: Preset | str | None = None, root: str | Path | None = None, *,
                     context: Context | None = None) -> C.Verdict:
    """Claim 11 (quality falls with the hole ratio): Spearman ρ(hole ratio, hole PSNR) for
    every shipped photo model (:data:`CLAIM_11_LEARNED`, those present) and the classical
    :data:`CLASSICAL`, on photos with bin masks; the least favourable method is shown."""
    return _guard(11, _claim_11, preset, root, context)


def _claim_12(ctx: Context) -> C.Verdict:
    learned_name = None
    for name in CLAIM_12_PREFERENCE:
        try:
            ctx.model(name)
        except _Missing:
            continue
        learned_name = name
        break
    if learned_name is None:
        raise _Missing(f"none of {', '.join(CLAIM_12_PREFERENCE)} is shipped; make one with: python -m "
                       f"survey_lib pretrain --methods {CLAIM_12_PREFERENCE[0]} --preset {ctx.preset.name}")
    es = ctx.spec(learned_name)
    thin = ctx.spec(learned_name, masks=["lama_thin"])
    learned, learned_thin = ctx.table(learned_name, es), ctx.table(learned_name, thin)
    classical = {n: ctx.table(n, es) for n in CLASSICAL}
    classical_thin = {n: ctx.table(n, thin) for n in CLASSICAL}
    data = _data(es, f"; thin: lama_thin masks; learned: {learned_name}")
    v = _decided(12, data, lambda: C.claim_12_learned_beats_classical_on_large_holes(
        learned, classical, learned_thin=learned_thin, classical_thin=classical_thin, groups=_groups(es),
        n_boot=ctx.n_boot, data=data))
    v.details["learned"] = learned_name
    return v


def measure_claim_12(preset: Preset | str | None = None, root: str | Path | None = None, *,
                     context: Context | None = None) -> C.Verdict:
    """Claim 12 (learned beats classical on large holes, classical strong on thin ones): the
    learned model is chosen by a rule fixed before any result — the first shipped of
    :data:`CLAIM_12_PREFERENCE` (newest photo architecture first) — against the best of
    :data:`CLASSICAL` on photos with bin masks (holes ≥ 30 %) and on LaMa's thin masks."""
    return _guard(12, _claim_12, preset, root, context)


MEASURES: dict[int, Callable[..., C.Verdict]] = {k: globals()[f"measure_claim_{k}"] for k in range(1, 13)}


def measure_claim(number: int, preset: Preset | str | None = None, root: str | Path | None = None, *,
                  context: Context | None = None) -> C.Verdict:
    """:func:`measure_claim_N` by number (1–12)."""
    C.claim_info(number)  # validates
    return MEASURES[number](preset, root, context=context)


def _check_claims(claims: object) -> list[int]:
    if claims is None:
        return list(MEASURES)
    if isinstance(claims, int) and not isinstance(claims, bool):
        claims = [claims]
    if isinstance(claims, (str, bytes)) or not isinstance(claims, Sequence) or not claims:
        raise InputError(f"claims must be a non-empty list of claim numbers 1–12, got {claims!r:.80}")
    bad = [c for c in claims if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= len(MEASURES)]
    if bad:
        raise InputError(f"claims must be numbers 1–12, got {', '.join(map(repr, bad))}")
    return list(dict.fromkeys(claims))  # type: ignore[arg-type]


def course_table(preset: Preset | str | None = None, root: str | Path | None = None,
                 claims: Sequence[int] | None = None, *, context: Context | None = None) -> C.ClaimsTable:
    """The verdicts of ``claims`` (default all 12; claim 1 gets a second row from 03.3's GAN
    pair) measured on the shipped checkpoints, sharing models and tables."""
    numbers = _check_claims(claims)
    ctx = context if context is not None else Context.make(preset, root)
    verdicts = []
    for k in numbers:
        verdicts.append(measure_claim(k, context=ctx))
        if k == 1:
            verdicts.append(measure_claim_1(context=ctx, gan=True))
    return C.ClaimsTable(verdicts)


# --------------------------------------------------------------------------- printing


def _fmt(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:+.3g}"


def _effect(v: C.Verdict) -> str:
    if not math.isfinite(v.effect):
        return "—"
    unit = v.to_dict()["unit"]
    return f"{_fmt(v.effect)}{unit} [{_fmt(v.lo)}, {_fmt(v.hi)}]"


HEAD = ("claim", "chapter", "data", "measure", "effect [95 % interval]", "n", "sources", "verdict")


def verdict_row(v: C.Verdict) -> list[str]:
    """The printed cells of one verdict (unmeasured numbers as '—')."""
    return [str(v.claim), v.chapter, v.data or "—", v.measure, _effect(v), str(v.n),
            "—" if v.n_sources is None else str(v.n_sources), v.verdict]


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    """Rows as a Markdown table, or as aligned plain text."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the payoff table


@dataclass
class PayoffTable:
    """Per chapter: its main learned model vs the best classical baseline on large holes."""

    rows: list[dict[str, Any]]

    HEAD = ("chapter", "learned", "classical", "holes", "n", "sources", "LPIPS (classical − learned)",
            "LPIPS winner", "hole PSNR (learned − classical)", "PSNR winner")

    def cells(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            if r.get("missing"):
                out.append([r["chapter"], r["learned"], "—", "—", "0", "—", "—", "—", "—", r["missing"]])
                continue
            classical = r["classical"] + (f" (LPIPS: {r['lpips_classical']})" if "lpips_classical" in r else "")
            out.append([r["chapter"], r["learned"], classical, r["holes"], str(r["n"]),
                        "—" if r["sources"] is None else str(r["sources"]),
                        _iv_text(r.get("lpips")), r.get("lpips_winner", "—"),
                        _iv_text(r.get("hole_psnr"), " dB"), r.get("hole_psnr_winner", "—")])
        return out

    def to_markdown(self) -> str:
        return format_table(self.HEAD, self.cells(), markdown=True)

    def __str__(self) -> str:
        return format_table(self.HEAD, self.cells())


def _iv_text(iv: C.Interval | None, unit: str = "") -> str:
    if iv is None:
        return "—"
    return f"{_fmt(iv.effect)}{unit} [{_fmt(iv.lo)}, {_fmt(iv.hi)}]"


def _payoff_row(ctx: Context, chapter: str, name: str) -> dict[str, Any]:
    try:
        ctx.model(name)
    except _Missing as err:
        return {"chapter": chapter, "learned": name, "missing": _first_sentence(err)}
    es = ctx.spec(name)
    if name == "repaint":
        es = ctx.spec(name, per_mask=min(es["per_mask"], _repaint_per_mask(ctx)))
    learned = ctx.table(name, es)
    classical = {n: ctx.table(n, es) for n in CLASSICAL}
    groups = _groups(es)
    row: dict[str, Any] = {"chapter": chapter, "learned": name}
    for metric in ("hole_psnr", "lpips"):  # hole PSNR first: its opponent names the row's classical column
        if metric not in learned.per_image or not all(metric in t.per_image for t in classical.values()):
            continue
        try:  # the claims engine's payoff: strongest classical method on these images, paired interval
            v = C.payoff(learned, classical, metric=metric, large=LARGE, learned_name=name, groups=groups,
                         n_boot=ctx.n_boot, data=_data(es))
        except InputError as err:
            row[f"{metric}_winner"] = f"no interval ({_first_sentence(err)})"
            continue
        if "classical" not in row:
            row.update(classical=v.details["opponent"], n=v.n, sources=v.n_sources,
                       holes=f"all (none ≥ {LARGE:.0%})" if v.details["all_holes"] else f"≥ {LARGE:.0%}")
        elif v.details["opponent"] != row["classical"]:
            row[f"{metric}_classical"] = v.details["opponent"]
        row[metric] = C.Interval(v.effect, v.lo, v.hi, v.n, v.n_sources)
        row[f"{metric}_winner"] = {C.HELD: "learned", C.NOT_HELD: "classical"}.get(v.verdict, "neither")
    if "classical" not in row:
        row["missing"] = row.get("hole_psnr_winner", "no metric could be compared")
    return row


def payoff_table(preset: Preset | str | None = None, root: str | Path | None = None, *,
                 context: Context | None = None) -> PayoffTable:
    """Per chapter (:data:`CHAPTER_MAIN`), its main learned model against the strongest
    classical baseline on that model's comparison set, by :func:`survey_lib.claims.payoff`:
    holes ≥ 30 % (all holes where fewer than two reach it, e.g. the 25 % centre masks, said
    in the 'holes' column); per metric (LPIPS, hole PSNR) the opponent is the classical
    method with the best mean on those images, the difference is oriented so > 0 favours
    the learned model and read off its paired (cluster) bootstrap interval ("neither" when
    it contains 0)."""
    ctx = context if context is not None else Context.make(preset, root)
    return PayoffTable([_payoff_row(ctx, chapter, name) for chapter, name in CHAPTER_MAIN.items()])
