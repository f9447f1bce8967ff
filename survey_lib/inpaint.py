"""The one interface every inpainting method follows, and the composite.

A *method* is anything callable as ``method(image, mask) -> prediction``:

* ``image``: float32 (B, C, H, W) in [0, 1] **with the hole already blanked to 0** (the
  method must never see the pixels it is asked to fill),
* ``mask``: float32 (B, 1, H, W), 1 = hole,
* ``prediction``: float32 (B, C, H, W) in [0, 1], a full image; only its hole pixels
  are used.

Learned models (``torch.nn.Module`` subclasses of :class:`survey_lib.models.base.Method`)
and classical baselines (:mod:`survey_lib.baselines`) both follow it, so the library
composites, evaluates and plots any of them the same way, through :func:`inpaint`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from survey_lib.data.checks import InputError, check_divisible, check_mask, check_pair


@runtime_checkable
class Inpainter(Protocol):
    """Structural type of a method: a name and ``__call__(image, mask) -> prediction``."""

    name: str

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


def blank_hole(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``image * (1 - mask)``: the input a method is allowed to see."""
    return image * (1.0 - mask)


def composite(image: torch.Tensor, mask: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """``mask * prediction + (1 - mask) * image``: known pixels kept exactly, hole filled.

    The mask must match the image (B, 1, H, W) and be binary: a mismatched or soft mask
    would otherwise broadcast into a wrong picture or fail deep inside torch.
    """
    if not isinstance(image, torch.Tensor) or not isinstance(prediction, torch.Tensor):
        raise InputError("composite(image, mask, prediction) takes three tensors")
    check_mask(mask, like=image, allow_empty=True, allow_full=True)
    if prediction.shape != image.shape:
        raise InputError(
            f"prediction of shape {tuple(prediction.shape)} does not match the image of shape "
            f"{tuple(image.shape)}"
        )
    return torch.where(mask.bool().expand_as(image), prediction.to(image.dtype), image)


def method_name(method: object) -> str:
    """A readable name for any method (its ``name`` attribute, else its class name)."""
    return str(getattr(method, "name", None) or type(method).__name__)


@torch.no_grad()
def predict(method: Inpainter, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Validate, blank the hole, run ``method`` and check its raw prediction.

    A method with a ``stride`` attribute (its total down-sampling, e.g. 16 for a U-Net
    with four stride-2 stages) gets inputs whose height and width are multiples of it;
    anything else is refused here, naming the method, instead of failing inside it.
    """
    if not callable(method):
        raise InputError(
            f"method must be callable as method(image, mask) -> prediction, got {type(method).__name__} "
            f"{method!r:.60}; build one with survey_lib.models.registry.build(name)"
        )
    image, mask = check_pair(image, mask)
    stride = getattr(method, "stride", 1)
    if isinstance(stride, int) and not isinstance(stride, bool) and stride > 1:
        check_divisible(image, stride, method_name(method))
    module = method if isinstance(method, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
        dev = next((p.device for p in module.parameters()), image.device)
        x, m = blank_hole(image, mask).to(dev), mask.to(dev)
    else:
        x, m = blank_hole(image, mask), mask
    try:
        out = method(x, m)
    finally:
        if module is not None and was_training:
            module.train()
    if not isinstance(out, torch.Tensor) or out.shape != image.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{method_name(method)} returned {got}, expected shape {tuple(image.shape)}")
    out = out.to(image.device, torch.float32)
    if not torch.isfinite(out).all():
        raise FloatingPointError(f"{method_name(method)} produced NaN or infinite values")
    return out.clamp(0.0, 1.0)


def inpaint(method: Inpainter, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole of ``image`` with ``method`` and return the composite."""
    pred = predict(method, image, mask)
    return composite(image, mask, pred)
