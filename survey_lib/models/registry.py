"""The registry of methods: name -> how to build it, its survey section and paper.

Listing it gives the course's table of methods. Entries name their class by import
path, so importing the registry stays cheap and a method's module is loaded only when
it is built. Adding a method = one new file under ``survey_lib/models`` + one entry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from survey_lib.config import Preset, get_preset


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
register(MethodInfo("repaint", "survey_lib.models.repaint:RePaint", "3 Diffusion",
                    "Lugmayr et al., CVPR 2022 (RePaint); Ho et al., NeurIPS 2020 (DDPM)",
                    notebook="03_4_diffusion.ipynb",
                    summary="unconditional DDPM + resampling sampler"))


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
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    from_preset = cls.preset_kwargs(p) if hasattr(cls, "preset_kwargs") else {}
    kwargs: dict[str, Any] = {"channels": channels, "width": p.width, **from_preset, **info.kwargs, **overrides}
    return cls(**kwargs)


def list_methods(kind: str | None = None) -> list[MethodInfo]:
    """Registered methods in registration order (optionally only ``kind``)."""
    return [m for m in REGISTRY.values() if kind is None or m.kind == kind]


def methods_table(kind: str | None = None) -> str:
    """The registry as a Markdown table (for the README, notebooks and ``cli list``)."""
    rows = ["| method | survey section | paper | kind | notebook |", "|---|---|---|---|---|"]
    rows += [f"| `{m.name}` | {m.section} | {m.paper} | {m.kind} | {m.notebook} |"
             for m in list_methods(kind)]
    return "\n".join(rows)
