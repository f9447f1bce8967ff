"""Losses of the survey's chapter 4: reconstruction, adversarial, perceptual/style,
total variation, MRF, and a composite of named weighted terms.

* :mod:`~survey_lib.losses.reconstruction` — L1/L2 (whole, hole, valid), spatially
  discounted L1, pyramid L1;
* :mod:`~survey_lib.losses.adversarial` — nsgan, lsgan, hinge, wgan_gp pairs, gradient
  and R1 penalties, feature matching;
* :mod:`~survey_lib.losses.perceptual` — perceptual and Gram-matrix style losses on a
  loss network from :mod:`~survey_lib.losses.feature_nets` (VGG16, random or trained);
* :mod:`~survey_lib.losses.smoothness` — total variation; :mod:`~survey_lib.losses.mrf` — ID-MRF;
* :mod:`~survey_lib.losses.composite` — :class:`CompositeLoss` and the papers' weight sets.

Normalisation convention: every pixel loss is a mean over all B·C·H·W elements (PConv).
"""

from survey_lib.losses.adversarial import (
    ADVERSARIAL,
    d_loss,
    feature_matching,
    g_loss,
    gradient_penalty,
    r1_penalty,
)
from survey_lib.losses.composite import (
    EDGECONNECT_EDGE_WEIGHTS,
    EDGECONNECT_IMAGE_WEIGHTS,
    EDGECONNECT_WEIGHTS,
    LAMA_R1_WEIGHT,
    LAMA_WEIGHTS,
    PAPER_WEIGHTS,
    PCONV_WEIGHTS,
    TERMS,
    CompositeLoss,
)
from survey_lib.losses.feature_nets import (
    FEATURE_KINDS,
    FeatureNet,
    WeightsUnavailable,
    feature_network,
)
from survey_lib.losses.mrf import id_mrf, mrf_loss
from survey_lib.losses.perceptual import gram_matrix, perceptual_loss, style_loss
from survey_lib.losses.reconstruction import (
    hole_l1,
    hole_l2,
    l1,
    l2,
    pyramid_l1,
    spatially_discounted_l1,
    valid_l1,
    valid_l2,
)
from survey_lib.losses.smoothness import total_variation

__all__ = [
    "ADVERSARIAL", "d_loss", "g_loss", "gradient_penalty", "r1_penalty", "feature_matching",
    "l1", "l2", "hole_l1", "valid_l1", "hole_l2", "valid_l2", "spatially_discounted_l1", "pyramid_l1",
    "FEATURE_KINDS", "FeatureNet", "WeightsUnavailable", "feature_network",
    "gram_matrix", "perceptual_loss", "style_loss", "total_variation", "id_mrf", "mrf_loss",
    "TERMS", "CompositeLoss", "PCONV_WEIGHTS", "EDGECONNECT_WEIGHTS", "EDGECONNECT_IMAGE_WEIGHTS",
    "EDGECONNECT_EDGE_WEIGHTS", "LAMA_WEIGHTS", "LAMA_R1_WEIGHT",
    "PAPER_WEIGHTS",
]
