"""Base class of every learned method: one interface for the engine and the notebooks.

A method is an ``nn.Module`` whose ``forward(image, mask)`` returns a full-image
prediction in [0, 1] (see :mod:`survey_lib.inpaint`). For training it also says how to
compute its named losses; the engine (:mod:`survey_lib.train`) does the rest:
optimisers, mixed precision, logging, checkpoints.

Discriminators live in ``self.discriminators`` (an ``nn.ModuleDict``): the engine
optimises their parameters with their own optimiser and everything else with the
generator's. Adding a method is one new file under ``survey_lib/models`` plus one
registry entry.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from survey_lib.config import Preset
from survey_lib.data.checks import InputError, check_count, check_divisible, check_pair


class Method(nn.Module):
    """A trainable inpainting method.

    Subclasses set ``name`` and implement :meth:`forward` and :meth:`generator_losses`;
    adversarial ones fill ``self.discriminators`` and implement
    :meth:`discriminator_losses`; stochastic ones override :meth:`sample`.
    """

    name: ClassVar[str] = "method"
    #: total down-sampling factor: inputs' H and W must be multiples of it
    stride: ClassVar[int] = 1
    #: learning rates and Adam betas used by the engine unless told otherwise
    lr: ClassVar[float] = 2e-4
    betas: ClassVar[tuple[float, float]] = (0.5, 0.999)
    d_lr: ClassVar[float] = 2e-4

    def __init__(self) -> None:
        super().__init__()
        self.discriminators = nn.ModuleDict()

    @classmethod
    def preset_kwargs(cls, preset: Preset) -> dict[str, Any]:
        """Constructor arguments this method takes from a preset beyond ``width``."""
        return {}

    def check_inputs(
        self, image: torch.Tensor, mask: torch.Tensor, **mask_kwargs: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate an (image, mask) pair for this model: conventions, channels, stride.

        ``mask_kwargs`` (``allow_empty``, ``allow_full``) go to :func:`check_mask`, for
        methods that do not need a hole (an unconditional model's training step).
        """
        image, mask = check_pair(image, mask, **mask_kwargs)
        channels = getattr(self, "channels", None)
        if channels is not None and image.shape[1] != channels:
            raise InputError(
                f"{self.name} was built for {channels}-channel images, got {image.shape[1]} "
                f"channels (shape {tuple(image.shape)})"
            )
        check_divisible(image, self.stride, self.name)
        return image, mask

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Prediction (B, C, H, W) in [0, 1] from the blanked image and the mask (1 = hole)."""
        raise NotImplementedError

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named, already-weighted loss terms for one batch of *full* images.

        ``image`` is the ground truth; blank the hole yourself (``image * (1 - mask)``)
        before feeding the network. The engine minimises the sum of the values and logs
        each term.
        """
        raise NotImplementedError

    def discriminator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named discriminator loss terms (only for methods with discriminators)."""
        return {}

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters of everything that is not a discriminator."""
        disc = {id(p) for p in self.discriminators.parameters()}
        return [p for p in self.parameters() if id(p) not in disc]

    @torch.no_grad()
    def sample(self, image: torch.Tensor, mask: torch.Tensor, n: int = 1) -> torch.Tensor:
        """``n`` predictions for one batch, shape (n, B, C, H, W); deterministic methods repeat."""
        n = check_count(n, "n")
        return self(image, mask).unsqueeze(0).expand(n, *image.shape).clone()
