"""A loss built from named, weighted terms: how inpainting papers actually train.

``CompositeLoss({"valid_l1": 1, "hole_l1": 6, "perceptual": 0.05, ...})(pred, target, mask)``
returns a dict ``{name: weight * term}`` that the training engine sums and logs term by
term. A zero weight skips the term entirely (it is not computed); an unknown name is an
error that lists the choices (:data:`TERMS`). Terms that need a discriminator
(``adversarial``, ``feature_matching``) take its outputs as arguments, so the same
object serves any method and any discriminator.

Weight sets of three papers are provided (facts from REFERENCE.md, LaMa's adversarial
weight from its public training configs):

* :data:`PCONV_WEIGHTS` — ``L_valid + 6 L_hole + 0.05 L_perceptual + 120 (L_style_out +
  L_style_comp) + 0.1 L_tv`` (PConv's perceptual loss also has an output and a
  composite part: both at 0.05);
* EdgeConnect (Nazeri et al. 2019) trains **two generators with two weight sets**:
  :data:`EDGECONNECT_EDGE_WEIGHTS` for the edge generator — adversarial 1, feature
  matching 10 (feature matching belongs to this stage only) — and
  :data:`EDGECONNECT_WEIGHTS` (alias :data:`EDGECONNECT_IMAGE_WEIGHTS`) for the image
  generator, the one that fills the hole — L1 1, adversarial 0.1, perceptual 0.1, style
  250. Both adversarial terms are non-saturating. These are the paper's values (the
  repository's ``config.yml`` fallbacks differ);
* :data:`LAMA_WEIGHTS` — L1 on known pixels 10, adversarial 10 (non-saturating, with an
  R1 penalty γ/2 = 0.001 on the discriminator: :data:`LAMA_R1_WEIGHT`), feature
  matching 100, high-receptive-field perceptual 30 — here ``perceptual`` on whatever
  feature network is chosen (VGG16 by default), since LaMa's segmentation ResNet-50 is
  not shipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from survey_lib.data.checks import InputError
from survey_lib.losses import adversarial, mrf, reconstruction, smoothness
from survey_lib.losses.feature_nets import FEATURE_KINDS, FeatureNet, extract, feature_network
from survey_lib.losses.perceptual import perceptual_from_features, style_from_features

__all__ = [
    "TERMS",
    "CompositeLoss",
    "PCONV_WEIGHTS",
    "EDGECONNECT_WEIGHTS",
    "EDGECONNECT_IMAGE_WEIGHTS",
    "EDGECONNECT_EDGE_WEIGHTS",
    "LAMA_WEIGHTS",
    "LAMA_R1_WEIGHT",
    "PAPER_WEIGHTS",
]

#: every term name and what it computes (P prediction, T target, M mask, C composite)
TERMS: dict[str, str] = {
    "l1": "mean|P - T| over the whole image",
    "l2": "mean (P - T)^2 over the whole image",
    "hole_l1": "sum M|P - T| / N (PConv L_hole)",
    "valid_l1": "sum (1-M)|P - T| / N (PConv L_valid)",
    "hole_l2": "sum M(P - T)^2 / N",
    "valid_l2": "sum (1-M)(P - T)^2 / N",
    "discounted_l1": "DeepFill v1 spatially discounted L1 on the hole (gamma^distance)",
    "pyramid_l1": "multi-scale L1 at 1, 1/2, 1/4 resolution",
    "perceptual": "feature L1 of P against T on the loss network",
    "perceptual_comp": "feature L1 of the composite C against T",
    "style": "Gram-matrix L1 of P against T",
    "style_comp": "Gram-matrix L1 of the composite C against T",
    "tv": "total variation of C on the 1-px dilated hole (PConv L_tv)",
    "tv_full": "total variation of P over the whole image",
    "mrf": "ID-MRF patch loss between P and T features (GMCNN)",
    "adversarial": "generator adversarial loss g_loss(kind, D(fake))",
    "feature_matching": "L1 between discriminator features of real and fake images",
}
_FEATURE_TERMS = {"perceptual", "perceptual_comp", "style", "style_comp", "mrf"}
_DISC_TERMS = {"adversarial", "feature_matching"}

PCONV_WEIGHTS: dict[str, float] = {
    "valid_l1": 1.0, "hole_l1": 6.0, "perceptual": 0.05, "perceptual_comp": 0.05,
    "style": 120.0, "style_comp": 120.0, "tv": 0.1,
}
#: EdgeConnect's image (content) generator: the stage that fills the hole
EDGECONNECT_IMAGE_WEIGHTS: dict[str, float] = {
    "l1": 1.0, "adversarial": 0.1, "perceptual": 0.1, "style": 250.0,
}
EDGECONNECT_WEIGHTS = EDGECONNECT_IMAGE_WEIGHTS
#: EdgeConnect's edge generator (its output is an edge map, judged by its own discriminator)
EDGECONNECT_EDGE_WEIGHTS: dict[str, float] = {"adversarial": 1.0, "feature_matching": 10.0}
LAMA_WEIGHTS: dict[str, float] = {
    "valid_l1": 10.0, "adversarial": 10.0, "feature_matching": 100.0, "perceptual": 30.0,
}
LAMA_R1_WEIGHT = 0.001
#: paper -> (weights, adversarial kind or None)
PAPER_WEIGHTS: dict[str, tuple[dict[str, float], str | None]] = {
    "pconv": (PCONV_WEIGHTS, None),
    "edgeconnect": (EDGECONNECT_IMAGE_WEIGHTS, "nsgan"),
    "edgeconnect_edge": (EDGECONNECT_EDGE_WEIGHTS, "nsgan"),
    "lama": (LAMA_WEIGHTS, "nsgan"),
}


class CompositeLoss:
    """Named weighted loss terms (see :data:`TERMS`); call it to get ``{name: weighted term}``.

    ``feature_net``: a :class:`FeatureNet`, or a kind for :func:`feature_network`:
    ``"vgg16"`` by default (ImageNet VGG16 pool1–pool3, PConv's loss network, installed
    with the environment); ``"random"`` and ``"trained"`` are the labelled alternatives for
    the lesson on which features matter. Built lazily for the images' channel count when a
    feature term is used, so a pixel-only loss never loads VGG16.
    ``adversarial``: the GAN objective of the ``adversarial`` term (one of
    :data:`~survey_lib.losses.adversarial.ADVERSARIAL`).

    Not an ``nn.Module`` on purpose: the frozen loss network is not part of a model's
    parameters or checkpoints; it follows the data's device on use.
    """

    def __init__(self, weights: Mapping[str, float], *, feature_net: str | FeatureNet = "vgg16",
                 adversarial: str = "nsgan", gamma: float = 0.9, pyramid_levels: int = 3,
                 feature_kwargs: Mapping[str, object] | None = None) -> None:
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise InputError(f"unknown loss term(s) {unknown}; choose from: {', '.join(TERMS)}")
        for name, w in weights.items():
            w = float(w)
            if not (w >= 0.0 and w < float("inf")):
                raise InputError(f"weight of {name!r} must be a finite number >= 0, got {w}")
        if adversarial not in adversarial_kinds():
            raise InputError(f"unknown adversarial loss {adversarial!r}; choose one of "
                             f"{', '.join(adversarial_kinds())}")
        if isinstance(feature_net, str) and feature_net not in FEATURE_KINDS:
            raise InputError(f"unknown feature network {feature_net!r}; choose one of {', '.join(FEATURE_KINDS)}")
        self.weights = {k: float(v) for k, v in weights.items()}
        self.active = {k: v for k, v in self.weights.items() if v > 0}
        self.adversarial = adversarial
        self.gamma, self.pyramid_levels = gamma, pyramid_levels
        self._feature_net = feature_net
        self._feature_kwargs = dict(feature_kwargs or {})

    @property
    def needs_features(self) -> bool:
        """Whether a loss network will be used."""
        return bool(_FEATURE_TERMS & set(self.active))

    @property
    def needs_discriminator(self) -> bool:
        """Whether the caller must pass discriminator outputs."""
        return bool(_DISC_TERMS & set(self.active))

    def feature_net(self, channels: int) -> FeatureNet:
        """The loss network for ``channels``-channel images (built on first use)."""
        net = self._feature_net
        if isinstance(net, FeatureNet):
            if net.channels != channels:
                raise InputError(f"the feature network takes {net.channels}-channel images, got {channels}")
            return net
        return feature_network(net, channels, **self._feature_kwargs)  # type: ignore[arg-type]

    def describe(self) -> str:
        """One line per active term: weight, name, what it computes."""
        lines = [f"{w:>8g} x {name:<17} {TERMS[name]}" for name, w in self.active.items()]
        if "adversarial" in self.active:
            lines.append(f"adversarial kind: {self.adversarial}")
        if self.needs_features:
            kind = self._feature_net.kind if isinstance(self._feature_net, FeatureNet) else self._feature_net
            lines.append(f"loss network: {kind}")
        return "\n".join(lines) if lines else "(no active term)"

    def __repr__(self) -> str:
        return f"CompositeLoss({self.active}, adversarial={self.adversarial!r})"

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *,
                 fake_logits: torch.Tensor | None = None,
                 real_feats: Sequence[torch.Tensor] | None = None,
                 fake_feats: Sequence[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """``{name: weight * term}`` for every term with a positive weight (float32 scalars).

        ``pred`` is the raw network output, ``target`` the ground truth, ``mask`` 1 = hole.
        ``fake_logits`` (D on the generator's output, not detached) is needed for
        ``adversarial``; ``real_feats``/``fake_feats`` (``D.features`` of real and fake)
        for ``feature_matching``.
        """
        pred, target, m = reconstruction.check_loss_inputs(pred, target, mask, require_mask=True)
        assert m is not None
        a = self.active
        out: dict[str, torch.Tensor] = {}
        comp = m * pred + (1 - m) * target.to(pred.dtype)
        r = reconstruction
        simple = {
            "l1": lambda: r.l1(pred, target),
            "l2": lambda: r.l2(pred, target),
            "hole_l1": lambda: r.hole_l1(pred, target, m),
            "valid_l1": lambda: r.valid_l1(pred, target, m),
            "hole_l2": lambda: r.hole_l2(pred, target, m),
            "valid_l2": lambda: r.valid_l2(pred, target, m),
            "discounted_l1": lambda: r.spatially_discounted_l1(pred, target, m, self.gamma),
            "pyramid_l1": lambda: r.pyramid_l1(pred, target, self.pyramid_levels),
            "tv": lambda: smoothness.total_variation(comp, m),
            "tv_full": lambda: smoothness.total_variation(pred),
        }
        for name, fn in simple.items():
            if name in a:
                out[name] = a[name] * fn()
        if self.needs_features:
            net = self.feature_net(pred.shape[1])
            with torch.no_grad():
                tf = extract(net, target)
            if {"perceptual", "style", "mrf"} & set(a):
                pf = extract(net, pred)
                if "perceptual" in a:
                    out["perceptual"] = a["perceptual"] * perceptual_from_features(pf, tf)
                if "style" in a:
                    out["style"] = a["style"] * style_from_features(pf, tf)
                if "mrf" in a:
                    deep = range(max(0, len(pf) - 2), len(pf))
                    out["mrf"] = a["mrf"] * sum(mrf.id_mrf(pf[i], tf[i]) for i in deep)  # type: ignore[operator]
            if {"perceptual_comp", "style_comp"} & set(a):
                cf = extract(net, comp)
                if "perceptual_comp" in a:
                    out["perceptual_comp"] = a["perceptual_comp"] * perceptual_from_features(cf, tf)
                if "style_comp" in a:
                    out["style_comp"] = a["style_comp"] * style_from_features(cf, tf)
        if "adversarial" in a:
            if fake_logits is None:
                raise InputError("the 'adversarial' term needs fake_logits = D(generator output)")
            out["adversarial"] = a["adversarial"] * adversarial.g_loss(self.adversarial, fake_logits)
        if "feature_matching" in a:
            if real_feats is None or fake_feats is None:
                raise InputError("the 'feature_matching' term needs real_feats and fake_feats "
                                 "(discriminator.features of real and fake images)")
            out["feature_matching"] = a["feature_matching"] * adversarial.feature_matching(real_feats, fake_feats)
        return {k: out[k].float() for k in a if k in out}  # in the order the weights were given


def adversarial_kinds() -> tuple[str, ...]:
    """The adversarial objectives a :class:`CompositeLoss` accepts."""
    return adversarial.ADVERSARIAL
