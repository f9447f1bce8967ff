"""One-stage control for the coarse-to-fine claim (survey §2.1.1, claim 6 of chapter 2.3).

Claim 6 says a second, *refining* stage improves the fill. Comparing DeepFill's refined
output with its own coarse output cannot test that: the coarse stage is a third of the
network, and it was trained to hand a rough guess to the refiner. The fair control is a
**one-stage network with the same parameters and the same compute**: if the two-stage
network wins against it, the win comes from splitting the work into stages, not from
being bigger. It tests the coarse-to-fine design of Yu et al. (CVPR 2018), who argue that
the refiner, seeing a more complete image, learns better features than the coarse
network; the one-stage network is this course's control, not a model of the paper.

``OneStage(width=w)`` is DeepFill v1's coarse network (:class:`~survey_lib.models.
deepfill_v1.CoarseNetwork`: 5x5 conv, two stride-2 stages, dilated middle, resize-conv
decoder) **alone**, widened by :data:`WIDEN` so that it matches the two-stage
``coarse_to_fine`` network (``DeepFillV1(width=w, attention=False)``):

=============================  ============  ==============================
network (cpu budget, w = 8)    parameters    MACs per 64 x 64 image
=============================  ============  ==============================
``coarse_to_fine`` (w = 8)     183 110       88.7 M
``one_stage`` (coarse, 13)     167 208       85.0 M
difference                     -8.7 %        -4.2 %
=============================  ============  ==============================

(at w = 32: -4.5 % / +5.0 %, at w = 64: -4.4 % / +6.1 %; the MAC ratio does not depend on
the image size). Convolutions' cost grows with the square of the width, so one factor
matches both; ``tests/test_models_attention.py`` asserts both within 10 %.

Training is coarse_to_fine's recipe on the one output: DeepFill v1's spatially discounted
L1 on the hole (the released γ = 0.9 by default, :data:`~survey_lib.losses.reconstruction.
DEEPFILL_GAMMA`) plus 1.2 x the L1 on the known pixels, both averaged over their region,
no adversarial term, the same optimiser settings and the same step budget. (The two-stage
network sums this loss over its two outputs; Adam's steps do not depend on that scale.)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from survey_lib.data.checks import InputError
from survey_lib.losses.reconstruction import DEEPFILL_GAMMA, spatially_discounted_l1, valid_l1
from survey_lib.models.base import Method
from survey_lib.models.deepfill_v1 import VALID_WEIGHT, CoarseNetwork

#: width factor that gives the coarse network alone the parameters and MACs of the
#: two-stage network of the same ``width`` (both within 10 %, see the module docstring)
WIDEN = 1.65


def params_and_macs(model: nn.Module, size: int) -> tuple[int, int]:
    """``(parameters, multiply-accumulates)`` of ``model`` filling one ``size`` x ``size`` image.

    Counted by ``torch.utils.flop_counter`` on one forward pass (convolutions, matrix
    products; a MAC is half a counted flop) with a centred square hole; attention's score
    matrices are counted too. This is how claim 6's control is shown to match the
    two-stage network in compute, not only in parameters.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(model, nn.Module):
        raise InputError(f"model must be a torch nn.Module (an inpainting network), got {type(model).__name__}")
    stride = int(getattr(model, "stride", 1))
    if isinstance(size, bool) or not isinstance(size, int) or size < stride or size % stride:
        raise InputError(f"size must be a positive int divisible by the model's stride {stride}, got {size!r}")
    channels = int(getattr(model, "channels", 3))
    image = torch.full((1, channels, size, size), 0.5)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 : size - size // 4, size // 4 : size - size // 4] = 1
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(image, mask)
    finally:
        model.train(was_training)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def matched_width(width: int) -> int:
    """First-layer width of the one-stage network matching a two-stage network of ``width``."""
    return max(1, round(WIDEN * width))


class OneStage(Method):
    """DeepFill v1's coarse network alone, as wide as the two-stage network is big.

    Args:
        channels: image channels (1 or 3).
        width: the width of the **two-stage** network this one is matched to
            (``coarse_to_fine``'s ``width``); the network's own first layer has
            :func:`matched_width` channels (``coarse_width``).
        valid_weight: weight of the known-pixel L1 (DeepFill v1's 1.2).
        gamma: the spatial discount of the hole L1 (released 0.9 by default, paper 0.99).
    """

    name: ClassVar[str] = "one_stage"
    stride: ClassVar[int] = 4

    def __init__(self, channels: int = 3, width: int = 32, valid_weight: float = VALID_WEIGHT,
                 gamma: float = DEEPFILL_GAMMA) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be an int >= 1, got {width!r}")
        self.channels, self.valid_weight, self.gamma = channels, valid_weight, gamma
        self.coarse_width = matched_width(width)
        self.coarse = CoarseNetwork(channels, self.coarse_width)

    def _predict(self, blanked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.coarse(torch.cat([blanked, torch.ones_like(mask), mask], 1)))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The prediction (B, C, H, W) in [0, 1]; the hole is blanked again here."""
        image, mask = self.check_inputs(image, mask)
        return self._predict(image * (1 - mask), mask)

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        pred = self._predict(image * (1 - mask), mask)
        return {"hole": spatially_discounted_l1(pred, image, mask, gamma=self.gamma, normalize="region"),
                "valid": self.valid_weight * valid_l1(pred, image, mask, normalize="region")}
