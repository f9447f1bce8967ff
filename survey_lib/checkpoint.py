"""Checkpoints: safetensors + JSON, written atomically, never pickle.

A checkpoint is a directory ``<out_dir>/step_00001234`` holding

* ``model.safetensors``: the method's ``state_dict()`` (generator and discriminators);
* ``state.safetensors`` + ``state.json``: everything needed to resume exactly
  (optimisers, LR schedule, gradient scaler, RNG states, loss history, data position).
  Tensors go to the safetensors file; plain numbers and strings to JSON, with tensors
  replaced by ``{"__tensor__": key}``. Nothing is ever pickled, so loading a checkpoint
  from a stranger cannot run code;
* ``meta.json``: what the checkpoint is: format version, library version, the method's
  registry name, class and constructor arguments, step, preset, metrics.

``<out_dir>/latest.json`` names the newest complete checkpoint. A save writes a fresh
directory under a temporary name, renames it into place and only then replaces
``latest.json`` (temp file + ``os.replace``), so a run killed at any moment leaves the
previous checkpoint intact and pointed to.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from survey_lib import __version__

#: bumped whenever the layout changes incompatibly; loading another format fails clearly
CHECKPOINT_FORMAT = 1
LATEST = "latest.json"
META = "meta.json"
MODEL = "model.safetensors"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
# what a missing, truncated or garbled file raises while being read
_READ_ERRORS = (OSError, ValueError, SafetensorError)


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, from an incompatible version or for another model."""


# --- nested state <-> (JSON, tensors) ------------------------------------------------------

def encode_state(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON-able copy of ``obj``; tensors are moved into ``tensors`` under dotted keys.

    Tuples, dicts with non-string keys and NumPy arrays are tagged so that
    :func:`decode_state` restores them exactly (an optimiser's ``betas`` stays a tuple,
    its integer state keys stay integers).
    """
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {k: encode_state(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {"__dict__": [[k, encode_state(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"cannot store {type(obj).__name__} at {prefix!r} in a checkpoint")


def decode_state(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return np.array(obj["__ndarray__"], dtype=obj["dtype"])
        if "__tuple__" in obj:
            return tuple(decode_state(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: decode_state(v, tensors) for k, v in obj["__dict__"]}
        return {k: decode_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_state(v, tensors) for v in obj]
    return obj


# --- RNG ------------------------------------------------------------------------------------

def capture_rng() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Put back the generator states captured by :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"].to(torch.uint8))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in state["cuda"]])


# --- method identity -------------------------------------------------------------------------

def _json_able(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _encode_init(init: Mapping[str, Any]) -> dict[str, Any] | None:
    """Constructor arguments as JSON (a :class:`Preset` argument becomes its fields); None if impossible."""
    from survey_lib.config import Preset

    out = {k: {"__preset__": v.as_dict()} if isinstance(v, Preset) else v for k, v in init.items()}
    return out if _json_able(out) else None


def _decode_init(init: Mapping[str, Any]) -> dict[str, Any]:
    from survey_lib.config import Preset

    return {k: Preset(**v["__preset__"]) if isinstance(v, dict) and "__preset__" in v else v
            for k, v in init.items()}


def method_config(method: nn.Module) -> dict[str, Any]:
    """How to rebuild ``method``: its name, class path and constructor arguments.

    Methods built by :func:`survey_lib.models.registry.build` carry their arguments in
    ``build_config``. For others the arguments are read back from same-named attributes
    (``self.channels``, ``self.width``...); ``init`` is ``None`` when that is impossible
    and :func:`load_method` then asks the caller to build the model themselves.
    """
    cls = type(method)
    target = f"{cls.__module__}:{cls.__qualname__}"
    name = str(getattr(method, "name", cls.__name__))
    built = getattr(method, "build_config", None)
    if isinstance(built, dict) and isinstance(built.get("init"), Mapping):
        encoded = _encode_init(built["init"])
        if encoded is not None:
            return {"name": name, "class": target, "registry_name": built.get("registry_name"),
                    "init": encoded, "init_from": "registry.build"}
    init: dict[str, Any] | None = {}
    for pname, param in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if hasattr(method, pname) and _json_able(getattr(method, pname)):
            init[pname] = getattr(method, pname)  # type: ignore[index]
        elif param.default is inspect.Parameter.empty:
            init = None
            break
    return {"name": name, "class": target, "registry_name": None, "init": init,
            "init_from": "attributes"}


# --- writing ----------------------------------------------------------------------------------

def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def model_tensors(method: nn.Module) -> dict[str, torch.Tensor]:
    """The method's state dict as separate contiguous CPU tensors (safetensors refuses shared ones)."""
    out = {}
    for key, value in method.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor")
        out[key] = value.detach().cpu().contiguous().clone()
    return out


def save_checkpoint(
    out_dir: str | Path,
    method: nn.Module,
    step: int,
    train_state: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    keep: int = 1,
) -> Path:
    """Write a checkpoint of ``method`` at ``step`` under ``out_dir`` atomically; return its path.

    ``train_state`` is any nesting of dicts/lists/tuples/numbers/strings/tensors (see
    :func:`encode_state`); ``meta`` extra JSON fields. The newest ``keep`` checkpoints
    are kept, older ones deleted after the new one is in place.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):  # left by a run killed mid-write
        shutil.rmtree(stale, ignore_errors=True)
    name = f"step_{step:08d}"
    tmp = out / f".tmp-{name}-{os.getpid()}"
    tmp.mkdir()
    try:
        save_file(model_tensors(method), str(tmp / MODEL))
        tensors: dict[str, torch.Tensor] = {}
        encoded = encode_state(dict(train_state or {}), "state", tensors)
        save_file(tensors, str(tmp / STATE_TENSORS))
        _write_json(tmp / STATE_JSON, encoded)
        full_meta = {
            "format": CHECKPOINT_FORMAT,
            "library": "survey_lib",
            "library_version": __version__,
            "torch_version": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "method": method_config(method),
            "step": int(step),
            **dict(meta or {}),
        }
        _write_json(tmp / META, full_meta)
        for f in (MODEL, STATE_TENSORS):
            _fsync_file(tmp / f)
        final = out / name
        if final.exists():  # re-saving a step (e.g. after a resume): move the old one aside
            old = out / f".tmp-old-{name}-{os.getpid()}"
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer_tmp = out / f".tmp-{LATEST}-{os.getpid()}"
    _write_json(pointer_tmp, {"checkpoint": name, "step": int(step)})
    os.replace(pointer_tmp, out / LATEST)
    ckpts = sorted(p for p in out.glob("step_*") if p.is_dir())
    for old_ckpt in ckpts[:-keep] if keep > 0 else []:
        if old_ckpt.name != name:
            shutil.rmtree(old_ckpt, ignore_errors=True)
    return out / name


# --- reading ----------------------------------------------------------------------------------

def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint ``out_dir/latest.json`` points to, or ``None`` when there is none yet."""
    pointer = Path(out_dir) / LATEST
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{pointer} is corrupt ({err}); delete it to start afresh") from None
    path = Path(out_dir) / name
    if not (path / META).is_file():
        raise CheckpointError(f"{pointer} points to {path}, which is missing or incomplete")
    return path


def resolve(path: str | Path) -> Path:
    """A checkpoint directory from either itself or a run's ``out_dir`` (its latest)."""
    if not isinstance(path, (str, Path)):
        raise CheckpointError(f"a checkpoint path must be a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if (p / META).is_file():
        return p
    if (p / LATEST).is_file():
        found = latest_checkpoint(p)
        assert found is not None
        return found
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    raise CheckpointError(f"{p} is not a survey_lib checkpoint (no {META} or {LATEST} inside)")


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata, after checking that this library can read its format."""
    ckpt = resolve(path)
    try:
        meta = json.loads((ckpt / META).read_text(encoding="utf-8"))
    except ValueError as err:
        raise CheckpointError(f"{ckpt / META} is not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("library") != "survey_lib":
        raise CheckpointError(f"{ckpt} was not written by survey_lib ({META} lacks its marks)")
    fmt = meta.get("format")
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{ckpt} has checkpoint format {fmt} (written by survey_lib "
            f"{meta.get('library_version', '?')}); this survey_lib {__version__} reads format "
            f"{CHECKPOINT_FORMAT} only"
        )
    meta["path"] = str(ckpt)
    return meta


def read_train_state(path: str | Path) -> dict[str, Any]:
    """The resumable training state saved with a checkpoint."""
    ckpt = resolve(path)
    try:
        tensors = load_file(str(ckpt / STATE_TENSORS))
        encoded = json.loads((ckpt / STATE_JSON).read_text(encoding="utf-8"))
    except _READ_ERRORS as err:
        raise CheckpointError(f"cannot read the training state of {ckpt} (corrupt or incomplete "
                              f"file?): {err}") from None
    return decode_state(encoded, tensors)


def _architecture_problems(model: Mapping[str, torch.Tensor], saved: Mapping[str, torch.Tensor]) -> list[str]:
    problems = []
    missing = [k for k in model if k not in saved]
    unexpected = [k for k in saved if k not in model]
    shapes = [k for k in model if k in saved and tuple(model[k].shape) != tuple(saved[k].shape)]
    if missing:
        problems.append(f"missing in the checkpoint: {', '.join(missing[:5])}"
                        + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"not in the model: {', '.join(unexpected[:5])}"
                        + (f" (+{len(unexpected) - 5} more)" if len(unexpected) > 5 else ""))
    for k in shapes[:5]:
        problems.append(f"{k}: checkpoint {tuple(saved[k].shape)} vs model {tuple(model[k].shape)}")
    return problems


def load_weights(method: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into ``method`` (same architecture); return its metadata.

    Fails with a message naming the difference when the checkpoint holds another method
    or the same method with other sizes.
    """
    meta = read_meta(path)
    ckpt = Path(meta["path"])
    saved_name = meta.get("method", {}).get("name")
    name = str(getattr(method, "name", type(method).__name__))
    if saved_name is not None and saved_name != name:
        raise CheckpointError(
            f"{ckpt} holds method {saved_name!r} ({meta['method'].get('class')}), "
            f"not {name!r} ({type(method).__module__}:{type(method).__qualname__})"
        )
    try:
        saved = load_file(str(ckpt / MODEL))
    except _READ_ERRORS as err:
        raise CheckpointError(f"cannot read the weights in {ckpt} (corrupt or incomplete file?): {err}") from None
    problems = _architecture_problems(method.state_dict(), saved)
    if problems:
        raise CheckpointError(
            f"{ckpt} does not fit this {name} model (other architecture or sizes; the checkpoint "
            f"was built with {meta.get('method', {}).get('init')}): " + "; ".join(problems)
        )
    method.load_state_dict(saved)
    return meta


def _import_class(target: str) -> type:
    import importlib

    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load_method(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the method saved in ``path`` (a checkpoint or a run's ``out_dir``) with its weights.

    The class comes from the registry when the checkpoint names a registered method, else
    from its import path; the constructor arguments from the metadata. Returned in eval mode.
    """
    meta = read_meta(path)
    info = meta.get("method") or {}
    init = info.get("init")
    if init is None:
        raise CheckpointError(
            f"{meta['path']} does not record how to build {info.get('name')!r}; build the model "
            "yourself and call survey_lib.checkpoint.load_weights(model, path)"
        )
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise CheckpointError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    from survey_lib.models import registry

    reg_name = info.get("registry_name")
    try:
        cls = registry.get_info(reg_name).load() if reg_name in registry.REGISTRY else _import_class(info["class"])
    except (ImportError, AttributeError, KeyError) as err:
        raise CheckpointError(f"cannot find the class {info.get('class')} of {meta['path']}: {err}") from None
    try:
        method = cls(**_decode_init(init))
    except TypeError as err:
        raise CheckpointError(f"cannot rebuild {cls.__name__} with the saved arguments {init}: {err}") from None
    if reg_name is not None:
        method.build_config = {"registry_name": reg_name, "init": _decode_init(init)}
    load_weights(method, meta["path"])
    return method.to(device).eval()
