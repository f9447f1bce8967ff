"""The survey's taxonomy as data: strategies, network structures, losses.

Xiang et al. (Pattern Recognition 2023) sort deep inpainting three ways. Each leaf
below names its survey section, the landmark papers of the idea and the course
notebook that builds it (``PLANNED`` where no chapter covers it yet), so the tour
notebook can draw the map (:func:`survey_lib.viz.plot_taxonomy`) and a reader can go
from an idea to the notebook that implements it. Update ``notebooks`` here when a
chapter is added; the figure and the tables follow.
"""

from __future__ import annotations

from dataclasses import dataclass

PLANNED = "planned"

NOTEBOOKS = (
    "00_tour",
    "01_data_masks_metrics",
    "02_3_attention",
    "02_4_convolution_aware",
    "03_1_autoencoder",
    "03_2_vae",
    "03_3_gan",
    "03_4_diffusion",
    "04_losses",
)


@dataclass(frozen=True)
class Leaf:
    """One idea of the taxonomy."""

    section: str  # section number, e.g. "2.1.1"; structures 3.x and losses 4.x as the course numbers them
    name: str
    papers: tuple[str, ...]  # landmark papers (author, venue year)
    notebooks: tuple[str, ...] = ()  # course notebooks that build it, main one first
    summary: str = ""

    @property
    def chapter(self) -> str:
        """The notebook that covers this leaf, or ``"planned"``."""
        return self.notebooks[0] if self.notebooks else PLANNED


@dataclass(frozen=True)
class Branch:
    """One of the survey's three ways of sorting methods."""

    section: str
    title: str
    leaves: tuple[Leaf, ...]


STRATEGIES = Branch("2", "Inpainting strategies", (
    Leaf("2.1.1", "Progressive: coarse-to-fine",
         ("DeepFill v1 (Yu et al., CVPR 2018)", "DeepFill v2 (ICCV 2019)", "PEPSI (CVPR 2019)"),
         summary="a coarse network, then a refinement network"),
    Leaf("2.1.2", "Progressive: part-to-full",
         ("PGN (Zhang et al., ACM MM 2018)", "RFR (Li et al., CVPR 2020)", "PRVS (ICCV 2019)"),
         summary="fill the hole ring by ring, from the boundary inwards"),
    Leaf("2.1.3", "Progressive: low-to-high resolution",
         ("Multi-scale patch synthesis (Yang et al., CVPR 2017)", "HiFill (CVPR 2020)",
          "Zoom-to-Inpaint (CVPR 2022)"),
         summary="fill at low resolution, then refine at high resolution"),
    Leaf("2.1.4", "Progressive: structure-to-content",
         ("EdgeConnect (Nazeri et al., ICCVW 2019)", "SPG-Net (BMVC 2018)", "StructureFlow (ICCV 2019)"),
         summary="complete edges/structure first, then the content"),
    Leaf("2.1.5", "Progressive: mask-to-image (blind)",
         ("VCNet (Wang et al., ECCV 2020)",),
         summary="predict the mask, then inpaint"),
    Leaf("2.2", "Structural-information guided",
         ("MEDFE (ECCV 2020)", "CTSDG (ICCV 2021)"),
         summary="structure as a jointly learned branch"),
    Leaf("2.3", "Attention-based",
         ("Contextual attention / DeepFill v1 (CVPR 2018)", "Shift-Net (ECCV 2018)",
          "PEN-Net (CVPR 2019)", "ICT (ICCV 2021)", "MAT (CVPR 2022)"),
         ("02_3_attention",), "borrow features from distant known regions"),
    Leaf("2.4", "Convolutions-aware",
         ("Partial conv (Liu et al., ECCV 2018)", "Gated conv / DeepFill v2 (ICCV 2019)",
          "LBAM (ICCV 2019)", "LaMa / FFC (Suvorov et al., WACV 2022)"),
         ("02_4_convolution_aware",), "make the convolution aware of the hole"),
    Leaf("2.5", "Pluralistic",
         ("PICNet (Zheng et al., CVPR 2019)", "UCTGAN (CVPR 2020)", "Hierarchical VQ-VAE (CVPR 2021)"),
         ("03_2_vae",), "many plausible completions per input"),
))

STRUCTURES = Branch("3", "Network structures", (
    Leaf("3.1", "Autoencoder",
         ("Context Encoders (Pathak et al., CVPR 2016)",),
         ("03_1_autoencoder",), "encoder-decoder, L2 + small adversarial term"),
    Leaf("3.2", "Variational autoencoder",
         ("PICNet (CVPR 2019)", "VQ-VAE diverse inpainting (CVPR 2021)",
          "Conditional VAE (Sohn et al., NeurIPS 2015; the model chapter 03_2 builds)"),
         ("03_2_vae",), "a latent distribution gives diverse fills"),
    Leaf("3.3", "GAN",
         ("Global & local (Iizuka et al., SIGGRAPH 2017)", "Semantic inpainting (Yeh et al., CVPR 2017)"),
         ("03_3_gan",), "a discriminator judges realism"),
    Leaf("3.4", "Diffusion",
         ("RePaint (Lugmayr et al., CVPR 2022)",),
         ("03_4_diffusion",), "condition a DDPM on the known region while sampling"),
))

LOSSES = Branch("4", "Loss functions", (
    Leaf("4.1", "Reconstruction",
         ("L1/L2", "Spatially discounted L1 (DeepFill v1)", "Pyramid L1"),
         ("04_losses",), "pixel losses, weighted by hole/valid/distance"),
    Leaf("4.2", "Adversarial",
         ("Non-saturating GAN", "WGAN-GP", "LSGAN", "Hinge", "SN-PatchGAN (DeepFill v2)"),
         ("04_losses", "03_3_gan"), "a discriminator as a learned loss"),
    Leaf("4.3", "Others",
         ("Perceptual & style (Johnson et al., ECCV 2016)", "ID-MRF (GMCNN, NeurIPS 2018)",
          "Total variation", "Feature matching"),
         ("04_losses",), "feature-space, texture and smoothness losses"),
))

TAXONOMY: tuple[Branch, ...] = (STRATEGIES, STRUCTURES, LOSSES)


def leaves() -> list[tuple[Branch, Leaf]]:
    """Every leaf with its branch, in survey order."""
    return [(branch, leaf) for branch in TAXONOMY for leaf in branch.leaves]


def chapter_of(name: str) -> str:
    """The notebook that covers the leaf called ``name`` (or its section number)."""
    key = name.strip().lower()
    for _, leaf in leaves():
        if key in (leaf.name.lower(), leaf.section):
            return leaf.chapter
    known = ", ".join(leaf.name for _, leaf in leaves())
    raise KeyError(f"no taxonomy leaf called {name!r}; leaves: {known}")


def rows() -> list[dict[str, str]]:
    """The taxonomy as table rows (branch, section, idea, papers, notebook)."""
    return [
        {
            "branch": branch.title,
            "section": leaf.section,
            "idea": leaf.name,
            "papers": "; ".join(leaf.papers),
            "notebook": ", ".join(leaf.notebooks) or PLANNED,
        }
        for branch, leaf in leaves()
    ]
