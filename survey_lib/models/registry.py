"""The registry of methods: name -> how to build it, its survey section and paper.

Listing it gives the course's table of methods. Entries name their class by import
path, so importing the registry stays cheap and a method's module is loaded only when
it is built. Adding a method = one new file under ``survey_lib/models`` + one entry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from survey_lib.config import PRESETS, Preset, get_preset


@dataclass(frozen=True)
class MethodInfo:
    """One registered method."""

    name: str
    target: str  # "package.module:ClassName"
    section: str  # survey section, e.g. "3 Autoencoder"
    paper: str  # landmark paper
    kind: str = "learned"  # "learned" or "classical"
    notebook: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)  # fixed constructor arguments
    summary: str = ""
    # compute budget: per preset name, the sizes this method trains at instead of the
    # preset's (``width``, ``steps``), so that one training run of every method costs
    # about the same time (see :func:`preset_for` and ``make bench``)
    budget: dict[str, dict[str, int]] = field(default_factory=dict)

    def load(self) -> type:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


REGISTRY: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> MethodInfo:
    """Add ``info`` to the registry (names are unique)."""
    if info.name in REGISTRY:
        raise ValueError(f"method {info.name!r} is already registered")
    REGISTRY[info.name] = info
    return info


# --- classical baselines (survey: datasets/metrics chapter; notebook 00/01) -------------
register(MethodInfo("telea", "survey_lib.baselines:Telea", "Classical baseline",
                    "Telea, J. Graphics Tools 2004 (fast marching)", kind="classical",
                    notebook="01_data_masks_metrics.ipynb",
                    summary="OpenCV fast-marching diffusion"))
register(MethodInfo("navier_stokes", "survey_lib.baselines:NavierStokes", "Classical baseline",
                    "Bertalmio et al., CVPR 2001 (Navier-Stokes)", kind="classical",
                    notebook="01_data_masks_metrics.ipynb",
                    summary="OpenCV fluid-dynamics diffusion"))
register(MethodInfo("biharmonic", "survey_lib.baselines:Biharmonic", "Classical baseline",
                    "Damelin & Hoang 2018 (biharmonic)", kind="classical",
                    notebook="01_data_masks_metrics.ipynb",
                    summary="scikit-image biharmonic smooth fill"))
register(MethodInfo("exemplar", "survey_lib.baselines:Exemplar", "Classical baseline",
                    "Criminisi et al., IEEE TIP 2004 (exemplar-based)", kind="classical",
                    notebook="01_data_masks_metrics.ipynb",
                    summary="priority-ordered patch copying"))
# --- learned methods: one entry per survey method (added with their modules) ------------
register(MethodInfo("loss_lab", "survey_lib.models.loss_lab:LossLab", "4 Losses",
                    "Xiang et al. 2023, section 4 (losses); weights of Liu et al. ECCV 2018 (PConv), "
                    "Nazeri et al. 2019 (EdgeConnect), Suvorov et al. 2022 (LaMa)",
                    notebook="04_losses.ipynb",
                    summary="fixed U-Net, configurable CompositeLoss (+ SN-PatchGAN when adversarial)"))
register(MethodInfo("deepfill_v1", "survey_lib.models.deepfill_v1:DeepFillV1",
                    "2.3 Attention-based / 2.1.1 Coarse-to-fine",
                    "Yu et al., CVPR 2018 (DeepFill v1, contextual attention)",
                    notebook="02_3_attention.ipynb",
                    summary="coarse net, then refinement with dilated-conv + contextual-attention branches",
                    budget={"cpu": {"width": 8, "steps": 330}}))
register(MethodInfo("coarse_to_fine", "survey_lib.models.deepfill_v1:DeepFillV1", "2.1.1 Coarse-to-fine",
                    "Yu et al., CVPR 2018 (DeepFill v1 without contextual attention)",
                    notebook="02_3_attention.ipynb", kwargs={"attention": False},
                    summary="the same two-stage network with the attention layer skipped (the ablation)",
                    budget={"cpu": {"width": 8, "steps": 330}}))
register(MethodInfo("one_stage", "survey_lib.models.one_stage:OneStage", "2.1.1 Coarse-to-fine",
                    "Yu et al., CVPR 2018 (the coarse-to-fine design it tests) -- this course's control, "
                    "not a paper model: DeepFill v1's coarse network alone, widened to the two-stage size",
                    notebook="02_3_attention.ipynb",
                    summary="claim 6's control: one stage with coarse_to_fine's parameters and MACs (within 10 %), "
                            "its loss and step budget",
                    budget={"cpu": {"width": 8, "steps": 330}}))
register(MethodInfo("transformer", "survey_lib.models.transformer_inpainter:TransformerInpainter",
                    "2.3 Attention-based (transformers)",
                    "Wan et al., ICCV 2021 (ICT); Li et al., CVPR 2022 (MAT) -- a compact model in their "
                    "spirit, not either: global attention over patch tokens, MAT's valid-token key mask",
                    notebook="02_3_attention.ipynb",
                    summary="conv stem, patch tokens, mask-aware transformer blocks, conv head",
                    budget={"cpu": {"width": 16, "steps": 320}}))
register(MethodInfo("unet", "survey_lib.models.unet:InpaintUNet", "2.4 Convolutions-aware",
                    "Ronneberger et al., MICCAI 2015 (U-Net); PConv's U-Net (Liu et al., ECCV 2018) with plain "
                    "convolutions and a mask channel -- a stronger baseline than the paper's",
                    notebook="02_4_convolution_aware.ipynb", kwargs={"conv": "vanilla"},
                    summary="U-Net with plain convolutions, told where the hole is: input [x*(1-m), ones, m]; "
                            "PConv's L1 + TV loss"))
register(MethodInfo("unet_paper", "survey_lib.models.unet:InpaintUNet", "2.4 Convolutions-aware",
                    "Liu et al., ECCV 2018 (the vanilla-convolution baseline of the PConv paper)",
                    notebook="02_4_convolution_aware.ipynb", kwargs={"conv": "vanilla", "mask_channel": False},
                    summary="PConv's own baseline: the same U-Net with plain convolutions on the image alone, "
                            "holes set to 127.5 (mid-grey), no mask channel"))
register(MethodInfo("pconv", "survey_lib.models.unet:InpaintUNet", "2.4 Convolutions-aware",
                    "Liu et al., ECCV 2018 (partial convolutions)",
                    notebook="02_4_convolution_aware.ipynb", kwargs={"conv": "partial"},
                    summary="the same U-Net with partial convolutions (mask-renormalised, mask update); "
                            "encoder kernels 7, 5, 5, 3... as the paper"))
register(MethodInfo("gated", "survey_lib.models.unet:InpaintUNet", "2.4 Convolutions-aware",
                    "Yu et al., ICCV 2019 (DeepFill v2, gated convolutions)",
                    notebook="02_4_convolution_aware.ipynb", kwargs={"conv": "gated"},
                    summary="the same U-Net with gated convolutions (learned soft mask, ELU)",
                    budget={"cpu": {"width": 22}}))
register(MethodInfo("lama", "survey_lib.models.lama:LaMa", "2.4 Convolutions-aware",
                    "Suvorov et al., WACV 2022 (LaMa, fast Fourier convolutions)",
                    notebook="02_4_convolution_aware.ipynb",
                    summary="ResNet generator with fast Fourier convolution blocks (global receptive field)",
                    budget={"cpu": {"width": 20, "steps": 340}}))
register(MethodInfo("lama_conv", "survey_lib.models.lama:LaMa", "2.4 Convolutions-aware",
                    "Suvorov et al., WACV 2022 (LaMa's ablation: the same generator without the Fourier branch)",
                    notebook="02_4_convolution_aware.ipynb", kwargs={"ratio": 0.0},
                    summary="claim 10's control: LaMa's ResNet generator with every FFC's global share 0 "
                            "(ordinary convolutions only)",
                    budget={"cpu": {"width": 20, "steps": 340}}))
register(MethodInfo("context_encoder", "survey_lib.models.context_encoder:ContextEncoder",
                    "3 Autoencoder", "Pathak et al., CVPR 2016 (Context Encoders)",
                    notebook="03_1_autoencoder.ipynb",
                    summary="encoder + channel-wise FC (the paper's AlexNet-encoder bottleneck; the released "
                            "128 px model uses a 4000-d FC instead) + decoder; 0.999 L2 + 0.001 adversarial"))
register(MethodInfo("context_encoder_l2", "survey_lib.models.context_encoder:ContextEncoder",
                    "3 Autoencoder", "Pathak et al., CVPR 2016 (Context Encoders, the L2-only ablation)",
                    notebook="03_1_autoencoder.ipynb", kwargs={"adversarial_weight": 0.0},
                    summary="claim 1's control: the same encoder-decoder trained with the L2 loss alone"))
register(MethodInfo("cvae", "survey_lib.models.cvae:ConditionalVAE", "3 VAE",
                    "Sohn et al., NeurIPS 2015 (CVAE) -- a conditional VAE, not PICNet (Zheng et al., CVPR 2019), "
                    "whose learned prior and anchored KL it borrows",
                    notebook="03_2_vae.ipynb",
                    summary="conditional VAE: posterior on the full image, learned prior on the visible part",
                    budget={"cpu": {"width": 16}}))
register(MethodInfo("cvae_deterministic", "survey_lib.models.cvae:ConditionalVAE", "3 VAE",
                    "Sohn et al., NeurIPS 2015 (the CVAE's deterministic twin)",
                    notebook="03_2_vae.ipynb", kwargs={"z_channels": 0},
                    summary="claim 8's control: the CVAE's network with no latent (one completion per input)",
                    budget={"cpu": {"width": 16}}))
register(MethodInfo("global_local", "survey_lib.models.global_local:GlobalLocalGAN", "3 GAN",
                    "Iizuka et al., SIGGRAPH 2017 (globally and locally consistent completion)",
                    notebook="03_3_gan.ipynb",
                    summary="dilated-conv generator; global + local discriminators",
                    budget={"cpu": {"width": 24, "steps": 450}}))
register(MethodInfo("global_local_l2", "survey_lib.models.global_local:GlobalLocalGAN", "3 GAN",
                    "Iizuka et al., SIGGRAPH 2017 (their generator trained without the discriminators)",
                    notebook="03_3_gan.ipynb", kwargs={"adversarial_weight": 0.0},
                    summary="claim 1's control in 03_3: the same generator, adversarial weight 0 (L2 only)",
                    budget={"cpu": {"width": 24, "steps": 450}}))
register(MethodInfo("patchgan", "survey_lib.models.global_local:GlobalLocalGAN", "3 GAN",
                    "Isola et al., CVPR 2017 (PatchGAN); Yu et al., ICCV 2019 (SN-PatchGAN)",
                    notebook="03_3_gan.ipynb", kwargs={"disc": "patch", "gan_loss": "hinge"},
                    summary="the same generator judged patch by patch (spectral-norm PatchGAN, hinge)",
                    budget={"cpu": {"width": 24, "steps": 450}}))
register(MethodInfo("repaint", "survey_lib.models.repaint:RePaint", "3 Diffusion",
                    "Lugmayr et al., CVPR 2022 (RePaint); Ho et al., NeurIPS 2020 (DDPM)",
                    notebook="03_4_diffusion.ipynb",
                    summary="unconditional DDPM + resampling sampler",
                    budget={"cpu": {"width": 16, "steps": 420}}))


def get_info(name: str) -> MethodInfo:
    """The registry entry called ``name`` (clear error listing the choices otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(sorted(REGISTRY))}") from None


def build(name: str, channels: int = 3, preset: Preset | str | None = None, **overrides: Any) -> Any:
    """Build method ``name`` for ``channels``-channel images at the preset's width.

    Classical baselines take no sizes; learned methods get ``channels`` and ``width``
    (from the preset) plus the entry's fixed ``kwargs`` and any ``overrides``.
    """
    info = get_info(name)
    cls = info.load()
    if info.kind == "classical":
        return cls(**{**info.kwargs, **overrides})
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    p = preset_for(name, preset)
    from_preset = cls.preset_kwargs(p) if hasattr(cls, "preset_kwargs") else {}
    kwargs: dict[str, Any] = {"channels": channels, "width": p.width, **from_preset, **info.kwargs, **overrides}
    method = cls(**kwargs)
    # remembered so that a checkpoint can rebuild the same model (checkpoint.load_method)
    method.build_config = {"registry_name": name, "init": kwargs}
    return method


def preset_for(name: str, preset: Preset | str | None = None) -> Preset:
    """``preset`` with method ``name``'s compute budget applied (its width and steps there).

    The presets give one width and step count; a method whose step costs several times a
    U-Net's would then train for several times as long. Each entry's ``budget`` names,
    per preset, the sizes that make one training run cost about the same time as every
    other method's (measured on the reference 2-core CPU: ~300 CPU-seconds at ``cpu``;
    ``make bench`` prints the times). A budget value replaces only a field still at the
    stock preset's value: a width or step count you set yourself
    (``preset.with_overrides(width=48)``) wins.
    """
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    stock = PRESETS.get(p.name)
    wanted = get_info(name).budget.get(p.name, {})
    changes = {k: v for k, v in wanted.items() if stock is None or getattr(p, k) == getattr(stock, k)}
    return p.with_overrides(**changes) if changes else p


def live_preset(name: str, preset: Preset | str | None = None) -> Preset:
    """:func:`preset_for`, shortened for a chapter's *live* run when the preset compares the
    shipped checkpoints (``preset.shipped``): ``steps × preset.live_fraction`` (at least 1),
    so the reader watches the loss fall for a minute and then meets the same network
    trained longer. Without shipped checkpoints (``gpu``, ``SURVEY_FROM_SCRATCH=1``) it is
    the full budget."""
    p = preset_for(name, preset)
    if not p.shipped or p.live_fraction >= 1.0:
        return p
    return p.with_overrides(steps=max(1, round(p.steps * p.live_fraction)))


def list_methods(kind: str | None = None) -> list[MethodInfo]:
    """Registered methods in registration order (optionally only ``kind``)."""
    return [m for m in REGISTRY.values() if kind is None or m.kind == kind]


def methods_table(kind: str | None = None) -> str:
    """The registry as a Markdown table (for the README, notebooks and ``cli list``)."""
    rows = ["| method | survey section | paper | kind | notebook |", "|---|---|---|---|---|"]
    rows += [f"| `{m.name}` | {m.section} | {m.paper} | {m.kind} | {m.notebook} |"
             for m in list_methods(kind)]
    return "\n".join(rows)
