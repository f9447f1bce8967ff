"""Shipped checkpoints: every learned method trained by the project itself, longer than a chapter does.

A chapter trains its method for a few minutes (the ``cpu`` preset's budget). The
checkpoints under ``checkpoints/`` are the *same networks* — the same registry entry,
width, data source and training masks as the chapter's notebook — trained for the longer
budget of :data:`PRETRAIN`, so a reader can load a better model in a second::

    from survey_lib.pretrain import load_pretrained
    pconv = load_pretrained("pconv")          # eval mode, fp32, hash checked

``python -m survey_lib pretrain [--methods ...] [--preset ...]`` (``make checkpoints``)
makes them with :func:`pretrain`:

1. trains into a resumable run directory (``runs/pretrain/<method>``, git-ignored) with
   :func:`survey_lib.train.train` and its exact resume: an interrupted pretraining (or
   one paused after ``max_minutes``) continues where it stopped when run again;
2. exports the final weights compactly — float16 safetensors (bfloat16 when a value does
   not fit float16's range) — to ``checkpoints/<method>/model.safetensors`` with a
   ``meta.json`` saying how to rebuild the model;
3. loads the exported file back as a user would (:func:`load_pretrained`) and evaluates
   it per hole-ratio bin on a recorded, seeded evaluation set (:func:`evaluation_set`);
4. records everything in ``checkpoints/manifest.json``: method, init arguments, data,
   masks, steps, wall time, machine, library commit, the exact command, the weights'
   sha256 and size, the evaluation set's spec and its table (PSNR, SSIM, MAE, hole
   PSNR, hole MAE, LPIPS).

Trust: :func:`load_pretrained` checks the file's sha256 against the manifest before
reading it, reads only safetensors (never a pickle), builds only the registered class
with constructor arguments checked against its signature
(:func:`survey_lib.checkpoint.check_init`) and probed on the meta device before any
memory is used, and upcasts the weights to float32.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from survey_lib import __version__
from survey_lib import checkpoint as ckpt_io
from survey_lib.config import Preset, get_preset, seed_everything
from survey_lib.data.checks import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
#: where the shipped checkpoints live (``$SURVEY_CHECKPOINTS_DIR`` overrides)
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
#: where the resumable training runs go (git-ignored)
RUNS_DIR = REPO_ROOT / "runs" / "pretrain"
MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
META = "meta.json"
MANIFEST_FORMAT = 1
#: limits the issue sets on the shipped files
MAX_FILE_BYTES = 10 * 1024**2
MAX_TOTAL_BYTES = 100 * 1024**2
#: one sitting's unit of work: a checkpoint every this many steps (an interruption loses fewer)
CHECKPOINT_EVERY = {"smoke": 4, "cpu": 100, "gpu": 1000}
#: images per mask family in an evaluation set
EVAL_PER_MASK = {"smoke": 2, "cpu": 32, "gpu": 100}
#: the per-hole-ratio-bin masks (NVIDIA irregular-mask protocol) used for most evaluation sets
BIN_MASKS = ("ratio_1_10", "ratio_10_20", "ratio_20_30", "ratio_30_40", "ratio_40_50", "ratio_50_60")

# The ``cpu`` budget: ~3 minutes of training per method on the reference 2-core CPU (the whole
# set in about an hour there; a chapter's live run is a quarter of the registry budget, ~1/4-1/6 of this).
# ``make bench`` measured each method's optimisation steps per second with one thread at
# its ``cpu`` budget width (batch 32); two threads run 1.6-1.9x faster (1.75 used).
BENCH_STEPS_PER_S_1T = {"unet": 1.57, "pconv": 1.37, "gated": 1.54, "lama": 0.86, "deepfill_v1": 0.89,
                        "coarse_to_fine": 1.30, "transformer": 0.94, "context_encoder": 1.48, "cvae": 1.46,
                        "global_local": 1.28, "patchgan": 1.47, "repaint": 1.38, "loss_lab": 2.04,
                        "unet_paper": 1.57,  # not benched: the unet's network without the mask channel
                        # not benched: controls that are their treatment's network with a term or branch off
                        "lama_conv": 0.86, "context_encoder_l2": 1.48, "cvae_deterministic": 1.46,
                        "global_local_l2": 1.28,
                        # claim 6's control: coarse_to_fine's rate, so the same steps and, at equal
                        # GFLOP per step (15.9 vs 16.8), equal training compute; measured beside
                        # coarse_to_fine on a loaded machine it ran ~1.3x more steps/s (fewer layers)
                        "one_stage": 1.30}
CPU_MINUTES = 3.0
TWO_THREAD_SPEEDUP = 1.75


def cpu_steps(name: str, minutes: float = CPU_MINUTES) -> int:
    """Steps that take ``minutes`` on 2 cores for method ``name`` (rounded to 50)."""
    steps = minutes * 60.0 * TWO_THREAD_SPEEDUP * BENCH_STEPS_PER_S_1T[name]
    return int(50 * round(steps / 50))


def center_or_boxes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Context Encoders' and Iizuka et al.'s training holes: the centre square half of the
    time, random boxes otherwise (the mask callable of chapters 03.1 and 03.3)."""
    from survey_lib.data.masks import MASKS

    family = "center" if rng.random() < 0.5 else "boxes"
    return MASKS[family](rng, height, width)


#: training-mask names beyond the library's (:data:`survey_lib.data.masks.MASKS`)
TRAIN_MASKS = {"center_or_boxes": center_or_boxes}


@dataclass(frozen=True)
class PretrainSpec:
    """How one learned registry method is pretrained and evaluated.

    ``source``/``source_kw``/``train_masks`` repeat the chapter notebook's training set;
    ``eval_masks`` are the mask families of the evaluation set (each drawn over the same
    ``EVAL_PER_MASK[preset]`` test images); ``steps`` per preset (``cpu``: the longer
    budget, see :func:`cpu_steps`; a preset missing here uses the registry budget's).
    """

    method: str
    chapter: str
    source: str
    train_masks: str
    eval_masks: tuple[str, ...] = BIN_MASKS
    source_kw: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    eval_seed: int = 7
    mask_seed: int = 10
    eval_during_training: bool = True

    def steps_at(self, preset: Preset) -> int:
        """Training steps at ``preset`` (the registry budget's when the table names none)."""
        from survey_lib.models.registry import preset_for

        return self.steps.get(preset.name, preset_for(self.method, preset).steps)


def _spec(method: str, chapter: str, source: str, train_masks: str, **kw: Any) -> PretrainSpec:
    return PretrainSpec(method, chapter, source, train_masks, steps={"cpu": cpu_steps(method)}, **kw)


_TEXTURES = {"photo_probability": 0.0}  # chapter 2.3's periodic textures
#: one entry per learned registry method, with the chapter whose network it is
PRETRAIN: dict[str, PretrainSpec] = {s.method: s for s in (
    _spec("deepfill_v1", "02_3_attention.ipynb", "textures", "mixed", source_kw=_TEXTURES),
    _spec("coarse_to_fine", "02_3_attention.ipynb", "textures", "mixed", source_kw=_TEXTURES),
    _spec("one_stage", "02_3_attention.ipynb", "textures", "mixed", source_kw=_TEXTURES),
    _spec("transformer", "02_3_attention.ipynb", "textures", "mixed", source_kw=_TEXTURES),
    _spec("unet", "02_4_convolution_aware.ipynb", "photos", "mixed"),
    _spec("unet_paper", "02_4_convolution_aware.ipynb", "photos", "mixed"),
    # trained first, at an earlier 500-step budget (its run directory holds those steps)
    PretrainSpec("pconv", "02_4_convolution_aware.ipynb", "photos", "mixed", steps={"cpu": 500}),
    _spec("gated", "02_4_convolution_aware.ipynb", "photos", "mixed"),
    _spec("lama", "02_4_convolution_aware.ipynb", "textures", "lama_thick", source_kw=_TEXTURES),
    _spec("lama_conv", "02_4_convolution_aware.ipynb", "textures", "lama_thick", source_kw=_TEXTURES),
    _spec("context_encoder", "03_1_autoencoder.ipynb", "shapes", "center_or_boxes",
          eval_masks=("center", "boxes")),
    _spec("context_encoder_l2", "03_1_autoencoder.ipynb", "shapes", "center_or_boxes",
          eval_masks=("center", "boxes")),
    _spec("cvae", "03_2_vae.ipynb", "glyphs", "center", eval_masks=("center", "boxes")),
    _spec("cvae_deterministic", "03_2_vae.ipynb", "glyphs", "center", eval_masks=("center", "boxes")),
    _spec("global_local", "03_3_gan.ipynb", "glyphs", "center_or_boxes", eval_masks=("center", "boxes")),
    _spec("global_local_l2", "03_3_gan.ipynb", "glyphs", "center_or_boxes", eval_masks=("center", "boxes")),
    _spec("patchgan", "03_3_gan.ipynb", "glyphs", "center_or_boxes", eval_masks=("center", "boxes")),
    # evaluating a diffusion model samples (sample_steps denoising passes): only at the end
    _spec("repaint", "03_4_diffusion.ipynb", "glyphs", "brush", eval_during_training=False),
    _spec("loss_lab", "04_losses.ipynb", "photos", "mixed"),
)}


class CheckpointMissing(FileNotFoundError):
    """A shipped checkpoint is not there (not made yet, or deleted)."""


class CheckpointTampered(ckpt_io.CheckpointError):
    """A shipped file's sha256 differs from the manifest's, or the manifest is malformed."""


# --- small helpers ------------------------------------------------------------------------------

def _root(path: str | Path | None, default: Path, env: str) -> Path:
    if path is not None:
        return Path(path)
    return Path(os.environ[env]) if os.environ.get(env) else default


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, allow_nan=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def machine_info() -> dict[str, Any]:
    """Where a checkpoint was trained: OS, CPU model, threads, torch, GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "torch": torch.__version__, "gpu": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def library_commit() -> dict[str, Any]:
    """``git rev-parse HEAD`` of the library's checkout and whether ``survey_lib/`` had local changes."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    changes = git("status", "--porcelain", "--", "survey_lib") if head else None
    return {"commit": head, "library_modified": bool(changes) if changes is not None else None,
            "library_version": __version__}


def _check_methods(methods: Sequence[str] | str | None) -> list[str]:
    if methods is None:
        return list(PRETRAIN)
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
        raise InputError(f"methods must be a list of method names, got {methods!r:.80}")
    unknown = [m for m in methods if m not in PRETRAIN]
    if unknown:
        raise InputError(f"no pretraining entry for {', '.join(map(repr, unknown))}; learned methods: "
                         f"{', '.join(PRETRAIN)}")
    return list(dict.fromkeys(methods))


# --- data ---------------------------------------------------------------------------------------

def _size(spec: PretrainSpec, preset: Preset) -> int:
    return preset.glyph_size if spec.source == "glyphs" else preset.image_size


def training_set(spec: PretrainSpec, preset: Preset) -> Any:
    """The chapter's training set at ``preset``'s size and length (seed 0, as the notebooks)."""
    from survey_lib.data import make_dataset

    masks = TRAIN_MASKS.get(spec.train_masks, spec.train_masks)
    return make_dataset(spec.source, split="train", size=_size(spec, preset), length=preset.train_images,
                        masks=masks, seed=0, **spec.source_kw)


def eval_spec(spec: PretrainSpec, preset: Preset) -> dict[str, Any]:
    """The evaluation set as plain JSON (what the manifest records, :func:`evaluation_set` reads)."""
    per_mask = EVAL_PER_MASK.get(preset.name, max(8, preset.eval_images // 4))
    return {"source": spec.source, "split": "test", "size": _size(spec, preset), "source_kw": dict(spec.source_kw),
            "per_mask": per_mask, "masks": list(spec.eval_masks), "n": per_mask * len(spec.eval_masks),
            "image_seed": spec.eval_seed, "mask_seed": spec.mask_seed}


def evaluation_set(es: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, masks) of an evaluation spec: ``per_mask`` test images, each once per mask
    family, mask family ``i`` drawn with seed ``mask_seed + i``. Deterministic."""
    from survey_lib.data import generate_masks, make_dataset, sample_batch

    try:
        source, size, per_mask, names = es["source"], int(es["size"]), int(es["per_mask"]), list(es["masks"])
        kw, image_seed, mask_seed = dict(es.get("source_kw") or {}), int(es["image_seed"]), int(es["mask_seed"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"evaluation spec {es!r:.200} lacks a field or has a wrong type: {err}") from None
    images = sample_batch(make_dataset(source, split=es.get("split", "test"), size=size, length=per_mask,
                                       masks="center", seed=image_seed, **kw), per_mask)[0]
    masks = torch.cat([generate_masks(name, per_mask, size, size, seed=mask_seed + i) for i, name in enumerate(names)])
    return images.repeat(len(names), 1, 1, 1), masks


def evaluate_recorded(method: Any, es: dict[str, Any], seed: int = 0) -> Any:
    """Evaluate ``method`` on the evaluation set ``es`` (seeded first: stochastic samplers repeat)."""
    from survey_lib.metrics import evaluate

    images, masks = evaluation_set(es)
    seed_everything(seed)
    return evaluate(method, images, masks)


# --- export and load ----------------------------------------------------------------------------

def _compact(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Floating tensors as float16, or bfloat16 when some value overflows float16; others as they are."""
    for dtype in (torch.float16, torch.bfloat16):
        out = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        if all(bool(torch.isfinite(v).all()) for v in out.values() if v.is_floating_point()):
            return out, str(dtype).removeprefix("torch.")
    raise ckpt_io.CheckpointError("the weights hold values that neither float16 nor bfloat16 can store")


def export(method: nn.Module, directory: str | Path, extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``method``'s weights compactly (:func:`_compact`) to ``directory/model.safetensors``
    with ``directory/meta.json``; return the file facts (dtype, sha256, bytes)."""
    config = ckpt_io.method_config(method)
    if config.get("registry_name") is None or config.get("init") is None:
        raise InputError(f"only a method built by survey_lib.models.registry.build can be shipped, got "
                         f"{config.get('name')!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors, dtype = _compact(ckpt_io.model_tensors(method))
    tmp = out / f".tmp-{WEIGHTS}-{os.getpid()}"
    # one metadata key: safetensors writes its metadata map in a per-process random order, so
    # two keys would give the same weights different file bytes (and a different sha256)
    save_file(tensors, str(tmp), metadata={"format": f"survey_lib-pretrained/{dtype}"})
    os.replace(tmp, out / WEIGHTS)
    meta = {"format": MANIFEST_FORMAT, "library": "survey_lib", "kind": "pretrained",
            "method": {"name": config["name"], "registry_name": config["registry_name"], "init": config["init"]},
            "dtype": dtype, **(extra_meta or {})}
    _write_json_atomic(out / META, meta)
    size = (out / WEIGHTS).stat().st_size
    return {"dtype": dtype, "sha256": sha256_file(out / WEIGHTS), "bytes": size,
            "meta_sha256": sha256_file(out / META)}


def read_manifest(root: str | Path | None = None) -> dict[str, Any]:
    """``checkpoints/manifest.json`` (an empty one when the file is absent), schema checked."""
    base = _root(root, CHECKPOINTS_DIR, "SURVEY_CHECKPOINTS_DIR")
    path = base / MANIFEST
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "library": "survey_lib", "checkpoints": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointTampered(f"{path} is not readable JSON ({' '.join(str(err).split())}); restore it "
                                 "from git or re-create it: make checkpoints") from None
    problems = manifest_problems(manifest)
    if problems:
        raise CheckpointTampered(f"{path}: " + "; ".join(problems))
    return manifest


#: fields every manifest entry has, with their JSON types
ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "method": str, "chapter": str, "registry_name": str, "init": dict, "data": dict, "steps": int,
    "preset": str, "wall_seconds": (int, float), "machine": dict, "library": dict, "command": str,
    "file": str, "dtype": str, "sha256": str, "bytes": int, "meta_sha256": str, "evaluation": dict,
}


def manifest_problems(manifest: Any) -> list[str]:
    """What is wrong with a manifest's structure (empty when it is valid)."""
    if not isinstance(manifest, dict):
        return [f"expected a JSON object, got {type(manifest).__name__}"]
    problems = []
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("library") != "survey_lib":
        problems.append(f"field 'format' must be {MANIFEST_FORMAT} and 'library' 'survey_lib'")
    entries = manifest.get("checkpoints")
    if not isinstance(entries, dict):
        return [*problems, "field 'checkpoints' must be an object {method: entry}"]
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            problems.append(f"checkpoints.{name} must be an object")
            continue
        for key, kind in ENTRY_FIELDS.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                problems.append(f"checkpoints.{name}.{key} missing or not {getattr(kind, '__name__', kind)}")
        if entry.get("method") != name:
            problems.append(f"checkpoints.{name}.method is {entry.get('method')!r}, not {name!r}")
        if entry.get("file") != f"{name}/{WEIGHTS}":
            problems.append(f"checkpoints.{name}.file must be {name}/{WEIGHTS}")
        ev = entry.get("evaluation")
        if isinstance(ev, dict) and not (isinstance(ev.get("set"), dict) and isinstance(ev.get("rows"), list)):
            problems.append(f"checkpoints.{name}.evaluation needs 'set' (object) and 'rows' (list)")
    return problems


def _verified(base: Path, name: str, entry: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The weights path and meta of ``name`` after checking both files' sha256 against ``entry``."""
    weights, meta_path = base / name / WEIGHTS, base / name / META
    for path in (weights, meta_path):
        if path.is_symlink():
            raise CheckpointTampered(f"{path} is a symbolic link; shipped checkpoint files must be plain files")
        if not path.is_file():
            raise CheckpointMissing(f"{path} is missing although {base / MANIFEST} lists {name!r}; re-create it: "
                                    f"python -m survey_lib pretrain --methods {name} (or make checkpoints)")
    for path, want in ((weights, entry["sha256"]), (meta_path, entry["meta_sha256"])):
        got = sha256_file(path)
        if got != want:
            raise CheckpointTampered(f"{path} has sha256 {got}, but {base / MANIFEST} records {want}: the file "
                                     f"was changed or damaged; restore it (git checkout) or re-create it: "
                                     f"python -m survey_lib pretrain --methods {name}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    return weights, meta


def _build_from(meta: dict[str, Any], weights: Path, where: str) -> nn.Module:
    """The registered learned method ``meta`` names, built with checked arguments, weights upcast to fp32."""
    from survey_lib.models import registry

    info = meta.get("method") if isinstance(meta, dict) else None
    reg_name = info.get("registry_name") if isinstance(info, dict) else None
    if reg_name not in registry.REGISTRY or registry.get_info(reg_name).kind != "learned":
        raise ckpt_io.CheckpointError(f"{where}: field 'method.registry_name' is {reg_name!r:.80}, not a "
                                      "registered learned method")
    init = info.get("init")
    if not isinstance(init, dict):
        raise ckpt_io.CheckpointError(f"{where}: field 'method.init' must be an object of constructor arguments")
    cls = registry.get_info(reg_name).load()
    kwargs = ckpt_io.check_init(cls, init, where)
    try:
        with safe_open(str(weights), framework="pt") as fh:
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
    except (OSError, ValueError, SafetensorError) as err:
        raise ckpt_io.CheckpointError(f"cannot read {weights} (corrupt file?): {err}") from None
    ckpt_io._probe_build(cls, kwargs, shapes, where)  # meta-device build: sizes checked before memory is used
    method = cls(**kwargs)
    method.build_config = {"registry_name": reg_name, "init": kwargs}
    saved = load_file(str(weights))
    own = method.state_dict()
    state = {}
    for key, value in saved.items():
        if value.is_floating_point() != own[key].is_floating_point():
            raise ckpt_io.CheckpointError(f"{weights}: tensor {key!r} is {value.dtype}, the model's is {own[key].dtype}")
        value = value.to(own[key].dtype)
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ckpt_io.CheckpointError(f"{weights}: tensor {key!r} holds NaN or infinite values")
        state[key] = value
    method.load_state_dict(state)
    return method.eval()


def load_pretrained(name: str, root: str | Path | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped checkpoint of registry method ``name``, in eval mode, float32.

    Checks the weights' and ``meta.json``'s sha256 against ``checkpoints/manifest.json``
    first (a changed file is refused, naming it), reads safetensors only and builds only
    the registered class. ``root`` defaults to ``$SURVEY_CHECKPOINTS_DIR`` or the
    repository's ``checkpoints/``. A missing checkpoint raises :class:`CheckpointMissing`
    saying how to make it.
    """
    if not isinstance(name, str):
        raise InputError(f"name must be a method name (str), got {type(name).__name__}")
    base = _root(root, CHECKPOINTS_DIR, "SURVEY_CHECKPOINTS_DIR")
    manifest = read_manifest(base)
    entry = manifest["checkpoints"].get(name)
    if entry is None:
        known = ", ".join(manifest["checkpoints"]) or "none yet"
        hint = (f"python -m survey_lib pretrain --methods {name} (or make checkpoints)" if name in PRETRAIN
                else f"it is not a pretrainable method (choose one of {', '.join(PRETRAIN)})")
        raise CheckpointMissing(f"no shipped checkpoint for {name!r} in {base / MANIFEST} (shipped: {known}); "
                                f"make it with: {hint}")
    weights, meta = _verified(base, name, entry)
    return _build_from(meta, weights, str(base / name / META)).to(device)


def comparison_set(name: str, preset: Preset | str | None = None,
                   root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """(images, masks, spec) on which a chapter compares method ``name`` with the others.

    At a preset that uses the shipped checkpoints (``preset.shipped``: ``smoke``, ``cpu``)
    it is the checkpoint's *recorded* evaluation set (its data, image size and masks, as
    in the manifest) with ``EVAL_PER_MASK[preset]`` images per mask family, so the shipped
    model meets the images it was trained for; otherwise (``gpu``) the chapter's set at the
    preset's size (:func:`eval_spec`). Seeded: every method in a chapter sees the same set.
    """
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    spec = PRETRAIN[_check_methods([name])[0]]
    if p.shipped:
        entry = read_manifest(_root(root, CHECKPOINTS_DIR, "SURVEY_CHECKPOINTS_DIR"))["checkpoints"].get(name)
        es = dict(entry["evaluation"]["set"]) if entry else eval_spec(spec, get_preset("cpu"))
        es["per_mask"] = EVAL_PER_MASK.get(p.name, es["per_mask"])
        es["n"] = es["per_mask"] * len(es["masks"])
    else:
        es = eval_spec(spec, p)
    images, masks = evaluation_set(es)
    return images, masks, es


def compared_model(name: str, preset: Preset | str | None = None, live: nn.Module | None = None,
                   root: str | Path | None = None) -> tuple[nn.Module, str]:
    """The model a chapter's tables, claims and widgets use for ``name``, and a label saying which.

    With ``preset.shipped`` (``smoke``, ``cpu``) it is the shipped checkpoint
    (:func:`load_pretrained`, hash checked), labelled with its steps and training time —
    "the same network after N minutes of training"; otherwise (``gpu``,
    ``SURVEY_FROM_SCRATCH=1``) it is ``live``, the model the chapter has just trained. A
    missing checkpoint raises :class:`CheckpointMissing` saying how to make it (or to set
    ``SURVEY_FROM_SCRATCH=1`` and train it in the chapter).
    """
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if not p.shipped:
        if live is None:
            raise InputError(f"live must be the model trained in the chapter for {name!r} at preset "
                             f"{p.name!r} (no shipped checkpoint is used there), got None")
        return live.eval(), f"{name} (trained here, {p.name} preset)"
    base = _root(root, CHECKPOINTS_DIR, "SURVEY_CHECKPOINTS_DIR")
    try:
        model = load_pretrained(name, base)
    except CheckpointMissing as err:
        raise CheckpointMissing(f"{err}; or run the chapter with SURVEY_FROM_SCRATCH=1 to train every model "
                                f"in it instead") from None
    entry = read_manifest(base)["checkpoints"][name]
    seconds = float(entry.get("wall_seconds", 0.0))
    took = f"{seconds / 60.0:.1f} min" if seconds >= 60.0 else f"{seconds:.0f} s"
    return model, f"{name} (shipped: {entry['steps']} steps, {took} of training on {entry['machine']['cpu']})"


def check_shipped(name: str, root: str | Path | None = None, seed: int = 0) -> tuple[dict[str, Any], Any]:
    """Load ``name``'s shipped checkpoint (hash checked) and re-evaluate it on its recorded
    evaluation set; return (manifest entry, fresh EvalTable) for comparison."""
    base = _root(root, CHECKPOINTS_DIR, "SURVEY_CHECKPOINTS_DIR")
    entry = read_manifest(base)["checkpoints"][name]
    method = load_pretrained(name, base)
    return entry, evaluate_recorded(method, entry["evaluation"]["set"], seed=entry["evaluation"].get("seed", seed))


def rows_close(recorded: list[dict[str, Any]], fresh: list[dict[str, Any]],
               tolerance: dict[str, float] | None = None) -> list[str]:
    """Differences between two tables' rows beyond ``tolerance`` (per metric); empty when they agree."""
    tol = {"psnr": 0.05, "hole_psnr": 0.05, "ssim": 0.002, "mae": 5e-4, "hole_mae": 5e-4, "lpips": 0.002,
           **(tolerance or {})}
    problems = []
    if [r.get("bin") for r in recorded] != [r.get("bin") for r in fresh]:
        return [f"bins differ: recorded {[r.get('bin') for r in recorded]}, now {[r.get('bin') for r in fresh]}"]
    for old, new in zip(recorded, fresh):
        if old.get("n") != new.get("n"):
            problems.append(f"bin {old['bin']}: {old.get('n')} images recorded, {new.get('n')} now")
        for metric, limit in tol.items():
            if metric not in old and metric not in new:
                continue
            if metric not in old or metric not in new:
                problems.append(f"bin {old['bin']}: metric {metric!r} only in one table")
                continue
            a, b = float(old[metric]), float(new[metric])
            if not (a == b or abs(a - b) <= limit):  # inf == inf counts as equal
                problems.append(f"bin {old['bin']} {metric}: recorded {a:.4f}, now {b:.4f} (tolerance {limit})")
    return problems


# --- the pretraining ----------------------------------------------------------------------------

class _SittingOver(Exception):
    """Raised from the training callback when a sitting's time is up (at a checkpoint step)."""


@dataclass
class PretrainResult:
    """One method's outcome: ``done`` (exported) or paused at ``step`` of ``steps``;
    ``started_at`` is the step this sitting resumed from (0 for a new run)."""

    method: str
    done: bool
    step: int
    steps: int
    seconds: float
    entry: dict[str, Any] | None = None
    started_at: int = 0

    def __str__(self) -> str:
        if not self.done:
            return (f"{self.method}: paused at step {self.step}/{self.steps} after {self.seconds:.0f} s; "
                    "run the same command again to continue")
        e = self.entry or {}
        overall = next((r for r in e.get("evaluation", {}).get("rows", []) if r.get("bin") == "all"), {})
        return (f"{self.method}: {self.steps} steps, {e.get('wall_seconds', 0.0):.0f} s of training, "
                f"{e.get('bytes', 0) / 1024**2:.2f} MiB {e.get('dtype')}; all: PSNR {overall.get('psnr', math.nan):.2f}, "
                f"hole PSNR {overall.get('hole_psnr', math.nan):.2f}, SSIM {overall.get('ssim', math.nan):.3f}")


def _run_seconds(run_dir: Path) -> float:
    """Training seconds spent in earlier sittings (stored next to the run's checkpoints)."""
    try:
        value = json.loads((run_dir / "pretrain_clock.json").read_text(encoding="utf-8"))["seconds"]
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0 else 0.0
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def pretrain_one(name: str, preset: Preset | str | None = None, out_root: str | Path | None = None,
                 runs_root: str | Path | None = None, fresh: bool = False, max_minutes: float | None = None,
                 command: str | None = None, live: bool = False, steps: int | None = None) -> PretrainResult:
    """Train (or continue training) method ``name`` per :data:`PRETRAIN`, export and record it.

    ``steps`` overrides the table's step count (tests); ``max_minutes`` ends this sitting
    at the first checkpoint after that much time (re-run to continue); ``fresh`` discards
    an earlier run of the method instead of resuming it.
    """
    from survey_lib.models.registry import build, preset_for
    from survey_lib.train import train

    spec = PRETRAIN[_check_methods([name])[0]]
    p = preset_for(name, preset if isinstance(preset, Preset) else get_preset(preset))
    total = spec.steps_at(p) if steps is None else steps
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise InputError(f"steps must be a positive int, got {total!r}")
    if max_minutes is not None and not (isinstance(max_minutes, (int, float)) and max_minutes > 0):
        raise InputError(f"max_minutes must be a positive number or None, got {max_minutes!r}")
    out_base = _root(out_root, CHECKPOINTS_DIR, "SURVEY_CHECKPOINTS_DIR")
    run_dir = _root(runs_root, RUNS_DIR, "SURVEY_PRETRAIN_RUNS") / f"{name}-{p.name}"
    if fresh and run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    data = training_set(spec, p)
    es = eval_spec(spec, p)
    eval_data = evaluation_set(es) if spec.eval_during_training else None
    seed_everything(0)  # the initial weights, as the notebooks draw them
    method = build(name, channels=data.channels, preset=p)
    every = min(CHECKPOINT_EVERY.get(p.name, 100), total)
    before = _run_seconds(run_dir)
    commit = library_commit()  # the code this sitting trains with
    t0 = time.perf_counter()
    first: list[int] = []

    def clock(step: int, losses: dict[str, float]) -> None:
        if not first:
            first.append(step - 1)
        if step % every == 0:  # a checkpoint was just written: the sitting's time is accounted there
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_json_atomic(run_dir / "pretrain_clock.json", {"seconds": before + time.perf_counter() - t0})
            if max_minutes is not None and step < total and time.perf_counter() - t0 > 60.0 * max_minutes:
                raise _SittingOver(step)

    try:
        result = train(method, data, preset=p, steps=total, eval_data=eval_data, out_dir=run_dir, resume=True,
                       live=live, seed=0, checkpoint_every=every, callback=clock)
    except _SittingOver as stop:
        return PretrainResult(name, False, int(stop.args[0]), total, time.perf_counter() - t0,
                              started_at=first[0] if first else 0)
    wall = before + time.perf_counter() - t0
    _write_json_atomic(run_dir / "pretrain_clock.json", {"seconds": wall})
    trained = ckpt_io.load_method(result.checkpoint or run_dir)  # the run's final weights, validated
    fp32_table = evaluate_recorded(trained, es)

    data_spec = {"source": spec.source, "source_kw": dict(spec.source_kw), "split": "train",
                 "size": _size(spec, p), "channels": data.channels, "length": len(data),
                 "train_masks": spec.train_masks, "seed": 0}
    files = export(trained, out_base / name, {"data": data_spec, "image_shape": [data.channels, _size(spec, p),
                                                                                   _size(spec, p)]})
    if files["bytes"] > MAX_FILE_BYTES:
        raise InputError(f"{out_base / name / WEIGHTS} is {files['bytes'] / 1024**2:.1f} MiB, above the "
                         f"{MAX_FILE_BYTES // 1024**2} MiB a shipped checkpoint may take: use a smaller width")
    shipped = _build_from(json.loads((out_base / name / META).read_text(encoding="utf-8")),
                          out_base / name / WEIGHTS, str(out_base / name / META))
    table = evaluate_recorded(shipped, es)
    config = ckpt_io.method_config(trained)
    entry = {
        "method": name, "chapter": spec.chapter, "registry_name": config["registry_name"], "init": config["init"],
        "data": data_spec, "steps": int(result.steps), "preset": p.name, "batch_size": p.batch_size,
        "wall_seconds": round(wall, 1), "machine": machine_info(), "library": commit,
        "command": command or f"survey_lib.pretrain.pretrain([{name!r}], preset={p.name!r})",
        "file": f"{name}/{WEIGHTS}", **files,
        "evaluation": {"set": es, "seed": 0, "rows": table.to_dict()["rows"],
                       "fp32_rows": fp32_table.to_dict()["rows"]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    manifest = read_manifest(out_base)
    manifest["checkpoints"][name] = entry
    total_bytes = sum(e["bytes"] for e in manifest["checkpoints"].values())
    if total_bytes > MAX_TOTAL_BYTES:
        raise InputError(f"the shipped checkpoints would take {total_bytes / 1024**2:.1f} MiB, above the "
                         f"{MAX_TOTAL_BYTES // 1024**2} MiB limit")
    _write_json_atomic(out_base / MANIFEST, manifest)
    return PretrainResult(name, True, int(result.steps), total, wall, entry,
                          started_at=first[0] if first else int(result.steps))


def pretrain(methods: Sequence[str] | str | None = None, preset: Preset | str | None = None,
             out_root: str | Path | None = None, runs_root: str | Path | None = None, fresh: bool = False,
             max_minutes: float | None = None, command: str | None = None, live: bool = False,
             ) -> list[PretrainResult]:
    """Pretrain ``methods`` (default: every entry of :data:`PRETRAIN`) one after the other.

    Each is resumed from its run directory when one exists (``fresh=True`` restarts it),
    exported to ``out_root/<method>/`` and recorded in ``out_root/manifest.json``.
    ``max_minutes`` bounds this sitting (shared by all methods); re-run to continue.
    """
    names = _check_methods(methods)
    results: list[PretrainResult] = []
    t0 = time.perf_counter()
    for name in names:
        left = None if max_minutes is None else max_minutes - (time.perf_counter() - t0) / 60.0
        if left is not None and left <= 0:
            break
        result = pretrain_one(name, preset, out_root, runs_root, fresh=fresh, max_minutes=left, command=command,
                              live=live)
        results.append(result)
        print(result, file=sys.stderr, flush=True)
        if not result.done:
            break
    return results
