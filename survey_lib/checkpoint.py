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
import math
import os
import random
import re
import shutil
import time
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
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
#: the only names ``latest.json`` may point to (a checkpoint directory of the same run)
_CHECKPOINT_NAME = re.compile(r"step_\d{8,}")
#: NumPy dtypes a ``{"__ndarray__": ...}`` entry of ``state.json`` may ask for
_NDARRAY_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                             "uint64", "float16", "float32", "float64"})


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


def decode_state(obj: Any, tensors: Mapping[str, torch.Tensor], where: str = "state") -> Any:
    """Inverse of :func:`encode_state`.

    The JSON may come from a tampered file: every tag is checked (a tensor key must exist,
    an array dtype must be numeric, a ``__dict__`` must hold key/value pairs) and a
    :class:`CheckpointError` names the place (``where``, a dotted path) that is wrong.
    """
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            key = obj["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise CheckpointError(f"{where} names tensor {key!r}, which the tensor file does not hold")
            return tensors[key]
        if "__ndarray__" in obj:
            dtype = obj.get("dtype")
            if dtype not in _NDARRAY_DTYPES or not isinstance(obj["__ndarray__"], list):
                raise CheckpointError(f"{where} is an array with dtype {dtype!r}; expected a list of numbers "
                                      f"and one of {sorted(_NDARRAY_DTYPES)}")
            try:
                return np.array(obj["__ndarray__"], dtype=dtype)
            except (TypeError, ValueError, OverflowError) as err:
                raise CheckpointError(f"{where} is not a valid {dtype} array: {err}") from None
        if "__tuple__" in obj:
            items = obj["__tuple__"]
            if not isinstance(items, list):
                raise CheckpointError(f"{where}: a tuple must be stored as a list, got {type(items).__name__}")
            return tuple(decode_state(v, tensors, f"{where}.{i}") for i, v in enumerate(items))
        if "__dict__" in obj:
            pairs = obj["__dict__"]
            ok = isinstance(pairs, list) and all(
                isinstance(kv, list) and len(kv) == 2 and (kv[0] is None or isinstance(kv[0], (str, int, float)))
                for kv in pairs)
            if not ok:
                raise CheckpointError(f"{where}: a __dict__ entry must be a list of [key, value] pairs "
                                      "with number or string keys")
            return {k: decode_state(v, tensors, f"{where}.{k}") for k, v in pairs}
        return {k: decode_state(v, tensors, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_state(v, tensors, f"{where}.{i}") for i, v in enumerate(obj)]
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


def remove_stale_temporaries(out_dir: str | Path) -> list[str]:
    """Delete the ``.tmp-*`` files and directories an interrupted save left in ``out_dir``.

    A save writes its checkpoint directory and the new ``latest.json`` under ``.tmp-``
    names first; a run killed in between leaves them behind. They are never read, so
    removing them is always safe while no other process writes to the same run. A
    symbolic link is unlinked, never followed. Returns the names removed.
    """
    removed = []
    for stale in Path(out_dir).glob(".tmp-*"):
        try:
            if stale.is_symlink() or not stale.is_dir():
                stale.unlink()
            else:
                shutil.rmtree(stale)
        except OSError:
            continue
        removed.append(stale.name)
    return removed


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
    remove_stale_temporaries(out)
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

def _read_json(path: Path, what: str) -> Any:
    """A JSON file's content; one-line CheckpointError when it is unreadable or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:  # Unicode/JSONDecodeError are ValueErrors
        raise CheckpointError(f"{path} is not readable JSON ({' '.join(str(err).split())}); {what}") from None


def _inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symbolic links followed) lies inside ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint ``out_dir/latest.json`` points to, or ``None`` when there is none yet.

    The pointer must name a ``step_NNNNNNNN`` directory of this run: a name with a
    separator or ``..``, or a directory that is a link to somewhere outside ``out_dir``,
    is refused (a tampered run directory cannot make a loader read elsewhere).
    """
    pointer = Path(out_dir) / LATEST
    if not pointer.is_file():
        return None
    data = _read_json(pointer, "delete it to start afresh")
    name = data.get("checkpoint") if isinstance(data, dict) else None
    if not isinstance(name, str) or not _CHECKPOINT_NAME.fullmatch(name):
        raise CheckpointError(f"{pointer}: field 'checkpoint' must name a step_NNNNNNNN directory of this run, "
                              f"got {name!r}; delete {LATEST} to start afresh")
    path = Path(out_dir) / name
    if path.is_symlink() or not _inside(path, Path(out_dir)):
        raise CheckpointError(f"{pointer} points to {path}, a link out of the run directory; refused")
    if not (path / META).is_file():
        raise CheckpointError(f"{pointer} points to {path}, which is missing or incomplete")
    return _plain_files(path)


def _plain_files(ckpt: Path) -> Path:
    """``ckpt``, after checking that none of its files is a symbolic link (to read elsewhere)."""
    for f in (META, MODEL, STATE_TENSORS, STATE_JSON):
        if (ckpt / f).is_symlink():
            raise CheckpointError(f"{ckpt / f} is a symbolic link; a checkpoint holds plain files only")
    return ckpt


def resolve(path: str | Path) -> Path:
    """A checkpoint directory from either itself or a run's ``out_dir`` (its latest)."""
    if not isinstance(path, (str, Path)):
        raise CheckpointError(f"a checkpoint path must be a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if (p / META).is_file():
        return _plain_files(p)
    if (p / LATEST).is_file():
        found = latest_checkpoint(p)
        assert found is not None
        return found
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    raise CheckpointError(f"{p} is not a survey_lib checkpoint (no {META} or {LATEST} inside)")


def _check_meta_fields(meta: dict[str, Any], where: Path) -> None:
    """Types of the metadata fields the library reads; a tampered one is named."""
    def bad(field: str, expected: str, value: Any) -> CheckpointError:
        return CheckpointError(f"{where}: field {field!r} must be {expected}, got {value!r:.80}")

    info = meta.get("method")
    if not isinstance(info, dict):
        raise bad("method", "an object", info)
    if not isinstance(info.get("name"), str):
        raise bad("method.name", "a string", info.get("name"))
    for key in ("registry_name", "class"):
        if info.get(key) is not None and not isinstance(info[key], str):
            raise bad(f"method.{key}", "a string or null", info[key])
    init = info.get("init")
    if init is not None and not (isinstance(init, dict) and all(isinstance(k, str) for k in init)):
        raise bad("method.init", "an object of constructor arguments or null", init)
    step = meta.get("step")
    if "step" in meta and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise bad("step", "a non-negative integer", step)
    for key in ("metrics", "options", "preset"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise bad(key, "an object", meta[key])
    evals = (meta.get("metrics") or {}).get("evals")
    if evals is not None and not (isinstance(evals, list) and all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], int) and isinstance(e[1], dict) for e in evals)):
        raise bad("metrics.evals", "a list of [step, {metric: value}] pairs", evals)
    shape = meta.get("image_shape")
    if shape is not None and shape != [] and not (
            isinstance(shape, list) and len(shape) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        raise bad("image_shape", "[channels, height, width] (positive integers)", shape)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's metadata, after checking that this library can read its format.

    The fields the library uses are type-checked; a wrong one fails naming the file and
    the field.
    """
    ckpt = resolve(path)
    meta = _read_json(ckpt / META, "the checkpoint is corrupt")
    if not isinstance(meta, dict) or meta.get("library") != "survey_lib":
        raise CheckpointError(f"{ckpt} was not written by survey_lib ({META} lacks its marks)")
    fmt = meta.get("format")
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{ckpt} has checkpoint format {fmt!r:.40} (written by survey_lib "
            f"{str(meta.get('library_version', '?'))[:40]}); this survey_lib {__version__} reads format "
            f"{CHECKPOINT_FORMAT} only"
        )
    _check_meta_fields(meta, ckpt / META)
    meta["path"] = str(ckpt)
    return meta


def read_train_state(path: str | Path) -> dict[str, Any]:
    """The resumable training state saved with a checkpoint (tags checked, see :func:`decode_state`)."""
    ckpt = resolve(path)
    try:
        tensors = load_file(str(ckpt / STATE_TENSORS))
    except _READ_ERRORS as err:
        raise CheckpointError(f"cannot read the training state of {ckpt} (corrupt or incomplete "
                              f"file?): {err}") from None
    encoded = _read_json(ckpt / STATE_JSON, "cannot read the training state (corrupt or incomplete file?)")
    try:
        return decode_state(encoded, tensors)
    except CheckpointError as err:
        raise CheckpointError(f"{ckpt / STATE_JSON}: {err}") from None


def _architecture_problems(model: Mapping[str, Any], saved: Mapping[str, Any]) -> list[str]:
    """Differences between two ``{key: shape or tensor}`` maps (missing, extra, other shapes)."""
    def shape(v: Any) -> tuple[int, ...]:
        return tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v)

    problems = []
    missing = [k for k in model if k not in saved]
    unexpected = [k for k in saved if k not in model]
    shapes = [k for k in model if k in saved and shape(model[k]) != shape(saved[k])]
    if missing:
        problems.append(f"missing in the checkpoint: {', '.join(missing[:5])}"
                        + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"not in the model: {', '.join(unexpected[:5])}"
                        + (f" (+{len(unexpected) - 5} more)" if len(unexpected) > 5 else ""))
    for k in shapes[:5]:
        problems.append(f"{k}: checkpoint {shape(saved[k])} vs model {shape(model[k])}")
    return problems


def load_weights(method: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into ``method`` (same architecture); return its metadata.

    Fails with a message naming the difference when the checkpoint holds another method
    or the same method with other sizes.
    """
    meta = read_meta(path)
    ckpt = Path(meta["path"])
    saved_name = meta["method"]["name"]
    name = str(getattr(method, "name", type(method).__name__))
    if saved_name != name:
        raise CheckpointError(
            f"{ckpt} holds method {saved_name!r} ({meta['method'].get('registry_name') or 'not registered'}), "
            f"not {name!r} ({type(method).__module__}:{type(method).__qualname__})"
        )
    try:
        saved = load_file(str(ckpt / MODEL))
    except _READ_ERRORS as err:
        raise CheckpointError(f"cannot read the weights in {ckpt} (corrupt or incomplete file?): {err}") from None
    own = method.state_dict()
    problems = _architecture_problems(own, saved)
    if problems:
        raise CheckpointError(
            f"{ckpt} does not fit this {name} model (other architecture or sizes; the checkpoint "
            f"was built with {meta['method'].get('init')}): " + "; ".join(problems)
        )
    for key, value in saved.items():
        if value.dtype != own[key].dtype:
            raise CheckpointError(f"{ckpt / MODEL}: tensor {key!r} is {value.dtype}, the model's is {own[key].dtype}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{ckpt / MODEL}: tensor {key!r} holds NaN or infinite values; these weights "
                                  "cannot predict anything")
    method.load_state_dict(saved)
    return meta


# --- rebuilding a method: registered classes only, arguments checked --------------------------

def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON-decoded ``value`` is an instance of the annotation ``hint``.

    Only what JSON can hold is accepted: None, bool, int, float (finite), str, lists (as
    lists or tuples), string-keyed objects (as mappings) and :class:`Preset`; any other
    class in an annotation (a module, a feature network...) matches nothing.
    """
    from survey_lib.config import Preset

    if hint is inspect.Parameter.empty or hint is Any or hint is object:
        return isinstance(value, Preset) or _plain_json(value)
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_conforms(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if hint is Preset:
        return isinstance(value, Preset)
    if origin in (tuple, list) or hint in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        if not args:
            return all(_plain_json(v) for v in value)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(value) == len(args) and all(_conforms(v, a) for v, a in zip(value, args))
        return all(_conforms(v, args[0]) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
            return False
        return all(_conforms(v, args[1] if len(args) == 2 else Any) for v in value.values())
    return False


def _plain_json(value: Any) -> bool:
    """None, bool, str, a finite number, or lists / string-keyed objects of those."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


def _as_hinted(value: Any, hint: Any) -> Any:
    """JSON lists become tuples where the annotation asks for a tuple."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        arms = [a for a in typing.get_args(hint) if _conforms(value, a)]
        return _as_hinted(value, arms[0]) if arms else value
    if (origin is tuple or hint is tuple) and isinstance(value, list):
        return tuple(value)
    return value


def check_init(cls: type, init: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Constructor arguments from a checkpoint, checked against ``cls.__init__``'s signature.

    Every name must be a parameter of the constructor, every required parameter present,
    every value of the annotated type (only JSON-able types can match, see
    :func:`_conforms`). ``where`` (the meta.json path) opens every error message.
    """
    from survey_lib.config import Preset

    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: cannot read the constructor signature of {cls.__name__}: {err}") from None
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to plain JSON values only
        hints = {}
    named = {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    kwargs: dict[str, Any] = {}
    for key, raw in init.items():
        field = f"method.init.{key}"
        if key not in named:
            raise CheckpointError(f"{where}: field {field!r} is not a parameter of {cls.__name__}"
                                  f"({', '.join(named)})")
        value = raw
        if isinstance(raw, dict) and "__preset__" in raw:
            fields = raw["__preset__"]
            if not (isinstance(fields, dict) and set(fields) == set(Preset.__dataclass_fields__)
                    and all(_conforms(fields[f], h) for f, h in typing.get_type_hints(Preset).items())):
                raise CheckpointError(f"{where}: field {field!r} is not a valid preset "
                                      f"(expected the fields {sorted(Preset.__dataclass_fields__)} with their types)")
            value = Preset(**fields)
        hint = hints.get(key, named[key].annotation)
        if not _conforms(value, hint):
            raise CheckpointError(f"{where}: field {field!r} must be {_describe(hint)} for {cls.__name__}, "
                                  f"got {raw!r:.80}")
        kwargs[key] = _as_hinted(value, hint)
    missing = [n for n, p in named.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise CheckpointError(f"{where}: field 'method.init' lacks the required argument(s) "
                              f"{', '.join(missing)} of {cls.__name__}")
    return kwargs


def _saved_shapes(ckpt: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the saved weights, read from the safetensors header only."""
    try:
        with safe_open(str(ckpt / MODEL), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
    except _READ_ERRORS as err:
        raise CheckpointError(f"cannot read the weights in {ckpt} (corrupt or incomplete file?): {err}") from None


def _probe_build(cls: type, kwargs: Mapping[str, Any], saved: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Build ``cls(**kwargs)`` on the meta device (no memory) and compare it with the saved weights.

    Arguments that would make a huge model (``width=10**9``) or an endless one
    (``n_blocks=10**9``) are caught here, before any real memory is allocated: the
    construction is stopped once it has registered more parameters than the weights
    file could fill.
    """
    limit = 4 * len(saved) + 64
    count = 0

    def hook(module: nn.Module, name: str, param: Any) -> None:
        nonlocal count
        count += 1
        if count > limit:
            raise CheckpointError(f"{where}: the arguments in 'method.init' build a model with more than "
                                  f"{limit} parameter tensors, but the weights file holds {len(saved)}")

    handle = nn.modules.module.register_module_parameter_registration_hook(hook)
    try:
        with torch.device("meta"):
            probe = cls(**kwargs)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - the class refused the arguments: say so in one line
        raise CheckpointError(f"{where}: {cls.__name__} cannot be built with 'method.init' "
                              f"{dict(kwargs)!r:.200}: {' '.join(str(err).split())}") from None
    finally:
        handle.remove()
    if not isinstance(probe, nn.Module):
        raise CheckpointError(f"{where}: {cls.__name__} does not build an nn.Module")
    problems = _architecture_problems({k: tuple(v.shape) for k, v in probe.state_dict().items()}, saved)
    if problems:
        raise CheckpointError(f"{where}: the model built from 'method.init' does not fit the saved "
                              f"weights: " + "; ".join(problems))


def load_method(path: str | Path, device: str | torch.device = "cpu", cls: type | None = None) -> nn.Module:
    """Rebuild the method saved in ``path`` (a checkpoint or a run's ``out_dir``) with its weights.

    Nothing named in the checkpoint is ever imported: the class is the registered one
    (``method.registry_name`` in ``meta.json``) or ``cls``, passed by the caller for
    a class of their own. The constructor arguments (``method.init``) are checked
    against that class's signature and annotations (:func:`check_init`), and the model
    they describe against the saved weights' shapes before any memory is allocated
    (:func:`_probe_build`). Errors name the ``meta.json`` and the field. Returned in
    eval mode.
    """
    meta = read_meta(path)
    where = str(Path(meta["path"]) / META)
    info = meta["method"]
    init = info.get("init")
    if init is None:
        raise CheckpointError(
            f"{meta['path']} does not record how to build {info['name']!r}; build the model "
            "yourself and call survey_lib.checkpoint.load_weights(model, path)"
        )
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise CheckpointError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from err
    from survey_lib.models import registry

    reg_name = info.get("registry_name")
    if cls is not None:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise CheckpointError(f"cls must be an nn.Module subclass, got {cls!r:.80}")
        reg_name = reg_name if reg_name in registry.REGISTRY and registry.get_info(reg_name).load() is cls else None
    elif reg_name in registry.REGISTRY and registry.get_info(reg_name).kind == "learned":
        cls = registry.get_info(reg_name).load()
    else:
        raise CheckpointError(
            f"{where}: field 'method.registry_name' is {reg_name!r}, not a registered learned method "
            f"(the file says class {str(info.get('class'))[:80]!r}, which is never imported); pass the "
            f"class yourself: load_method(path, cls=YourMethod)")
    kwargs = check_init(cls, init, where)
    _probe_build(cls, kwargs, _saved_shapes(Path(meta["path"])), where)
    try:
        method = cls(**kwargs)
    except Exception as err:  # noqa: BLE001 - one line naming the file, not a traceback
        raise CheckpointError(f"{where}: cannot rebuild {cls.__name__} with 'method.init': {err}") from None
    if reg_name is not None:
        method.build_config = {"registry_name": reg_name, "init": kwargs}
    load_weights(method, meta["path"])
    return method.to(device).eval()
