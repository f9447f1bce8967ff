"""Command line: ``python -m survey_lib list | train | eval | inpaint | pretrain | claims``.

* ``list`` — the registered methods and their survey sections.
* ``train --method M --data D [--preset P] [--masks K] [--steps N] [--out DIR] [--resume]``
  — train a registered learned method on a built-in data set (also under
  ``torchrun --nproc_per_node=N -m survey_lib train ...``).
* ``eval (--checkpoint C | --method M) --data D --masks K [--split S] [--n N]`` — the
  per-hole-ratio table of a trained checkpoint or of a classical method.
* ``inpaint IMAGE --mask MASK.png --method M [--checkpoint C] --out OUT.png`` — fill
  one image of any size.
* ``pretrain [--methods M ...] [--preset P] [--fresh] [--steps N] [--max-minutes T]`` —
  train the shipped checkpoints (:mod:`survey_lib.pretrain`): resumable, exported as
  float16 safetensors into ``checkpoints/`` and recorded in its ``manifest.json``.
* ``claims [--preset P] [--claims N ...] [--payoff] [--markdown]`` — the course-wide table
  of the 12 headline claims measured on the shipped checkpoints
  (:mod:`survey_lib.course_claims`): claim, chapter, data, measure, effect with its 95 %
  interval, images, distinct sources, verdict; ``--payoff`` adds each chapter's main
  model against the best classical baseline on large holes.

Images of any size (``inpaint``): a learned model runs at the size it was trained on,
by **resize-and-paste** (:func:`inpaint_resized`): the blanked image is shrunk (or
grown) to the training size, filled there, the low-resolution composite is scaled back
and pasted into the hole only. We chose it over tiling because the models here learn
a whole image's structure at their training size: a tile would hide the far context a
big hole needs. The cost is a blurrier fill when the image is much larger than the
training size. The known pixels of the output are always the input's, exactly.

Every mistake (missing or corrupt file, wrong mask size, unknown method...) is
reported as one line on stderr with exit status 2, never a traceback (set
``SURVEY_DEBUG=1`` to see the traceback). File names that are not valid UTF-8 are
printed with their odd bytes escaped (``caf\\xe9.png``), whatever the terminal's
encoding. ``eval --n`` and ``train --batch-size`` are bounded by the memory their
images take (:data:`MAX_BATCH_BYTES`), and a checkpoint's training size by
:data:`MAX_SIDE`, so a typo cannot run the machine out of memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

import torch
import torch.nn.functional as F

from survey_lib.checkpoint import CheckpointError
from survey_lib.data.checks import InputError, check_pair
from survey_lib.inpaint import blank_hole, composite, inpaint, predict

EXIT_USAGE = 2
#: most bytes the images and masks of one evaluation (``eval --n``) or one training batch may take
MAX_BATCH_BYTES = 2 * 1024**3
#: largest training height/width a checkpoint may claim (its ``image_shape``)
MAX_SIDE = 4096


class CliError(Exception):
    """A user mistake, reported as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) so every failure looks the same."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def printable(text: str, stream: Any = None) -> str:
    """``text`` as ``stream`` (default stdout) can write it: undecodable file-name bytes
    (surrogate escapes) become ``\\xNN``, characters the encoding lacks ``\\uNNNN``."""
    enc = getattr(stream if stream is not None else sys.stdout, "encoding", None) or "utf-8"
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeError:  # lone surrogates that are no escaped bytes
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        return text.encode(enc, "backslashreplace").decode(enc)
    except LookupError:  # an encoding Python does not know: plain ASCII always goes
        return text.encode("ascii", "backslashreplace").decode("ascii")


def say(text: str, stream: Any = None) -> None:
    """Print one line safely (see :func:`printable`)."""
    stream = stream if stream is not None else sys.stdout
    print(printable(text, stream), file=stream)


def _check_memory(n: int, channels: int, size: Any, what: str) -> None:
    """Refuse ``n`` images of ``size`` (+ masks) that would take more than :data:`MAX_BATCH_BYTES`."""
    height, width = (size, size) if isinstance(size, int) else size
    per_image = (channels + 1) * height * width * 4  # float32 image + mask
    if n * per_image > MAX_BATCH_BYTES:
        raise CliError(f"{what} {n} needs {n * per_image / 1024**3:.1f} GiB for {width}x{height} images and "
                       f"masks; at most {MAX_BATCH_BYTES // per_image} fit the {MAX_BATCH_BYTES / 1024**3:.0f} GiB "
                       "limit: use fewer")


# --- image of any size -------------------------------------------------------------------------

def inpaint_resized(method: Any, image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Fill ``image`` (any size) with a model that works at ``size`` (its training size).

    Resize-and-paste: the blanked image is averaged and the mask max-pooled over the same
    cells (a cell touching the hole is hole), the model fills that small image, the small
    composite is scaled back bilinearly and pasted into the hole. Known pixels are the
    input's exactly (:func:`survey_lib.inpaint.composite`).
    """
    image, mask = check_pair(image, mask)
    if tuple(image.shape[-2:]) == tuple(size):
        return inpaint(method, image, mask)
    small_mask = F.adaptive_max_pool2d(mask, size)
    small_image = F.adaptive_avg_pool2d(blank_hole(image, mask), size).clamp(0.0, 1.0) * (1 - small_mask)
    small_fill = composite(small_image, small_mask, predict(method, small_image, small_mask))
    back = F.interpolate(small_fill, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return composite(image, mask, back.clamp(0.0, 1.0))


# --- commands ----------------------------------------------------------------------------------

def _preset(name: str | None):  # noqa: ANN202 - a Preset
    from survey_lib.config import get_preset

    try:
        return get_preset(name)
    except ValueError as err:
        raise CliError(str(err)) from None


def _dataset(args: argparse.Namespace, split: str, size: Any, length: int, channels: int | None = None):  # noqa: ANN202
    from survey_lib.data import make_dataset

    kw: dict[str, Any] = {}
    if args.root is not None:
        kw["root"] = args.root
    if channels is not None:
        kw["channels"] = channels
    return make_dataset(args.data, split=split, size=size, length=length, masks=args.masks,
                        seed=args.seed, **kw)


def _size_for(data: str, preset: Any) -> int:
    return preset.glyph_size if data == "glyphs" else preset.image_size


def cmd_list(args: argparse.Namespace) -> int:
    from survey_lib.models.registry import methods_table

    say(methods_table(args.kind))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from survey_lib.config import seed_everything
    from survey_lib.data import sample_batch
    from survey_lib.models.registry import build, get_info
    from survey_lib.train import train

    info = get_info(args.method)
    if info.kind != "learned":
        raise CliError(f"{args.method!r} is a {info.kind} method: there is nothing to train "
                       f"(evaluate it with: eval --method {args.method} --data {args.data})")
    p = _preset(args.preset)
    size = _size_for(args.data, p)
    if args.batch_size is not None:
        _check_memory(args.batch_size, 3, size, "--batch-size")
    if not 0 <= args.seed < 2**62:
        raise CliError(f"--seed must be a non-negative integer below 2**62, got {args.seed}")
    ds = _dataset(args, "train", size, p.train_images)
    try:
        eval_ds = _dataset(args, "test", size, p.eval_images)
    except InputError as err:
        if args.data != "folder":
            raise
        # a small folder can have no file in its 10 % test split: train anyway, say so
        warnings.warn(f"training without a held-out evaluation: {err}", stacklevel=1)
        eval_data = None
    else:
        eval_data = sample_batch(eval_ds, len(eval_ds))
    # seeded before the model draws its initial weights: the same --seed gives the same run
    seed_everything(args.seed)
    method = build(args.method, channels=ds.channels, preset=p)
    out = args.out or f"runs/{args.method}-{args.data}"
    result = train(method, ds, preset=p, steps=args.steps, batch_size=args.batch_size,
                   eval_data=eval_data, out_dir=out, resume=args.resume, live=not args.quiet,
                   seed=args.seed)
    import torch.distributed as dist

    is_main = not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    if is_main:
        if result.final is not None:
            say(result.final.to_markdown())
        say(f"trained {args.method} for {result.steps} steps in {result.seconds:.1f} s; "
            f"checkpoint: {result.checkpoint}")
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


def _load_learned(checkpoint: str) -> tuple[Any, dict[str, Any]]:
    from survey_lib.checkpoint import load_method, read_meta

    meta = read_meta(checkpoint)
    shape = meta.get("image_shape") or []
    if len(shape) != 3:
        raise CliError(f"checkpoint {meta['path']} does not record its training image size")
    channels, height, width = shape
    if channels not in (1, 3) or height > MAX_SIDE or width > MAX_SIDE:
        raise CliError(f"checkpoint {meta['path']}: field 'image_shape' {shape} is not a training size this "
                       f"library makes (1 or 3 channels, sides up to {MAX_SIDE})")
    method = load_method(checkpoint)
    if getattr(method, "channels", channels) != channels:
        raise CliError(f"checkpoint {meta['path']}: field 'image_shape' says {channels} channels but the "
                       f"model was built for {method.channels}")
    return method, meta


def _check_same_method(meta: dict[str, Any], method: str | None) -> None:
    """``--method`` given with ``--checkpoint`` must name the method the checkpoint holds."""
    saved = meta["method"].get("registry_name") or meta["method"].get("name")
    if method is not None and saved != method:
        raise CliError(f"checkpoint {meta['path']} holds method {saved!r}, not --method {method!r}")


def cmd_eval(args: argparse.Namespace) -> int:
    from survey_lib.data import sample_batch
    from survey_lib.metrics import evaluate
    from survey_lib.models.registry import build, get_info

    p = _preset(args.preset)
    if args.checkpoint is not None:
        method, meta = _load_learned(args.checkpoint)
        _check_same_method(meta, args.method)
        channels, height, width = meta["image_shape"]
        size: Any = (height, width)
    else:
        if args.method is None:
            raise CliError("give --checkpoint (a trained model) or --method (a classical method)")
        if get_info(args.method).kind == "learned":
            raise CliError(f"{args.method!r} is a learned method: pass --checkpoint with its trained weights")
        method, channels, size = build(args.method), None, _size_for(args.data, p)
    n = p.eval_images if args.n is None else args.n
    _check_memory(n, channels or 3, size, "--n")
    ds = _dataset(args, args.split, size, n, channels)
    images, masks = sample_batch(ds, len(ds))
    say(evaluate(method, images, masks).to_markdown())
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from survey_lib.data.io import check_save_path, load_image, load_mask, save_image
    from survey_lib.models.registry import build, get_info

    info = get_info(args.method)
    if info.kind == "learned" and args.checkpoint is None:
        raise CliError(f"{args.method!r} is a learned method: pass --checkpoint with its trained weights")
    check_save_path(args.out)  # a bad --out fails now, not after the work is done
    if args.checkpoint is not None:
        method, meta = _load_learned(args.checkpoint)
        _check_same_method(meta, args.method)
        channels, height, width = meta["image_shape"]
        image = load_image(args.image, channels=channels)
    else:
        method, image = build(args.method), load_image(args.image)
    mask = load_mask(args.mask, hole=args.hole)
    if mask.shape[-2:] != image.shape[-2:]:
        raise CliError(f"the mask is {mask.shape[-1]}x{mask.shape[-2]} pixels but the image is "
                       f"{image.shape[-1]}x{image.shape[-2]} (width x height); they must match")
    if args.checkpoint is not None:
        out = inpaint_resized(method, image, mask, (height, width))
    else:
        out = inpaint(method, image, mask)
    path = save_image(out, args.out)
    say(f"wrote {path}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from survey_lib.pretrain import PRETRAIN, pretrain, pretrain_one

    names = list(args.methods) if args.methods else list(PRETRAIN)
    unknown = [m for m in names if m not in PRETRAIN]
    if unknown:
        raise CliError(f"--methods: no pretraining entry for {', '.join(unknown)}; choose from {', '.join(PRETRAIN)}")
    if args.steps is not None and len(names) != 1:
        raise CliError("--steps overrides one method's step count: give exactly one --methods name with it")
    if args.max_minutes is not None and not (0 < args.max_minutes < float("inf")):
        raise CliError(f"--max-minutes must be a positive number of minutes, got {args.max_minutes}")
    p = _preset(args.preset)
    threads = os.environ.get("OMP_NUM_THREADS")
    command = (f"OMP_NUM_THREADS={threads} " if threads else "") + \
        f"python -m survey_lib pretrain --methods {' '.join(names)} --preset {p.name}" + \
        (f" --steps {args.steps}" if args.steps is not None else "")
    if args.steps is not None:
        results = [pretrain_one(names[0], p, fresh=args.fresh, max_minutes=args.max_minutes, command=command,
                                live=not args.quiet, steps=args.steps)]
        say(str(results[0]))
    else:
        results = pretrain(names, p, fresh=args.fresh, max_minutes=args.max_minutes, command=command,
                           live=not args.quiet)
    done = sum(r.done for r in results)
    say(f"pretrained {done} of {len(names)} method(s)" + ("" if done == len(names) else
        "; run the same command again to continue (training resumes where it stopped)"))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    import time

    from survey_lib.course_claims import (
        HEAD,
        Context,
        course_table,
        format_table,
        payoff_table,
        verdict_row,
    )
    from survey_lib.pretrain import CHECKPOINTS_DIR, machine_info

    bad = [k for k in args.claims or () if not 1 <= k <= 12]
    if bad:
        raise CliError(f"--claims takes claim numbers 1-12, got {', '.join(map(str, bad))}")
    p = _preset(args.preset)
    ctx = Context.make(p)
    started = time.perf_counter()
    table = course_table(claims=args.claims, context=ctx)
    info = machine_info()
    root = os.environ.get("SURVEY_CHECKPOINTS_DIR") or str(CHECKPOINTS_DIR)
    say(f"claims on the shipped checkpoints ({root}), preset {p.name}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{info['cpu']} ({info['cpu_count']} cores, {info['torch_threads']} torch threads"
        + (f", GPU {info['gpu']}" if info["gpu"] else "") + f"), torch {info['torch']}")
    say(format_table(HEAD, [verdict_row(v) for v in table.verdicts], markdown=args.markdown))
    if args.payoff:
        payoff = payoff_table(context=ctx)
        say("")
        say(payoff.to_markdown() if args.markdown else str(payoff))
    say(f"measured in {time.perf_counter() - started:.0f} s")
    return 0


# --- parser --------------------------------------------------------------------------------------

def positive_int(text: str) -> int:
    """argparse type: an int >= 1 (so ``--n 0`` is refused, not read as "the default")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _sources() -> list[str]:
    """The data sources ``--data`` accepts (the library's registry, so the help never goes stale)."""
    from survey_lib.data.dataset import SOURCES

    return list(SOURCES)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m survey_lib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p_list = sub.add_parser("list", help="the registered methods and their survey sections")
    p_list.add_argument("--kind", choices=("learned", "classical"), default=None)
    p_list.set_defaults(func=cmd_list)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", required=True, help="built-in source: " + ", ".join(_sources()))
        p.add_argument("--masks", default="brush", help="mask generator (center, boxes, brush, lama_thin, ...)")
        p.add_argument("--root", default=None, help="image directory for --data folder")
        p.add_argument("--preset", default=None, help="smoke, cpu or gpu (default: $SURVEY_PRESET)")
        p.add_argument("--seed", type=int, default=0)

    p_train = sub.add_parser("train", help="train a learned method")
    p_train.add_argument("--method", required=True)
    data_args(p_train)
    p_train.add_argument("--steps", type=int, default=None, help="default: the preset's")
    p_train.add_argument("--batch-size", type=int, default=None, help="global batch; default: the preset's")
    p_train.add_argument("--out", default=None, help="checkpoint directory (default runs/METHOD-DATA)")
    p_train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p_train.add_argument("--quiet", action="store_true", help="no progress bar")
    p_train.set_defaults(func=cmd_train)

    p_eval = sub.add_parser("eval", help="per-hole-ratio metrics of a checkpoint or classical method")
    p_eval.add_argument("--checkpoint", default=None)
    p_eval.add_argument("--method", default=None)
    data_args(p_eval)
    p_eval.add_argument("--split", choices=("test", "train", "all"), default="test",
                        help="which images: the held-out test split (default); 'all' (folder only) "
                             "uses every image of --root")
    p_eval.add_argument("--n", type=positive_int, default=None, help="number of test images (default: the preset's)")
    p_eval.set_defaults(func=cmd_eval)

    p_inp = sub.add_parser("inpaint", help="fill the hole of one image")
    p_inp.add_argument("image")
    p_inp.add_argument("--mask", required=True, help="mask image, same size as IMAGE")
    p_inp.add_argument("--hole", choices=("auto", "white", "black"), default="auto",
                       help="which mask pixels are the hole (auto: the minority)")
    p_inp.add_argument("--method", required=True)
    p_inp.add_argument("--checkpoint", default=None, help="trained weights (learned methods)")
    p_inp.add_argument("--out", required=True)
    p_inp.set_defaults(func=cmd_inpaint)

    p_pre = sub.add_parser("pretrain", help="train the shipped checkpoints into checkpoints/ (resumable)")
    p_pre.add_argument("--methods", nargs="+", default=None, help="registry names (default: every learned method)")
    p_pre.add_argument("--preset", default=None, help="smoke, cpu or gpu (default: $SURVEY_PRESET)")
    p_pre.add_argument("--fresh", action="store_true", help="discard an earlier run instead of resuming it")
    p_pre.add_argument("--steps", type=positive_int, default=None, help="one method only: override its step count")
    p_pre.add_argument("--max-minutes", type=float, default=None,
                       help="end this sitting after about this long (at a checkpoint); run again to continue")
    p_pre.add_argument("--quiet", action="store_true", help="no progress bar")
    p_pre.set_defaults(func=cmd_pretrain)

    p_cl = sub.add_parser("claims", help="the 12 headline claims measured on the shipped checkpoints")
    p_cl.add_argument("--preset", default=None, help="smoke or cpu (default: $SURVEY_PRESET)")
    p_cl.add_argument("--claims", type=int, nargs="+", default=None, metavar="N",
                      help="claim numbers 1-12 (default: all)")
    p_cl.add_argument("--payoff", action="store_true",
                      help="also each chapter's main model vs the best classical baseline on large holes")
    p_cl.add_argument("--markdown", action="store_true", help="Markdown tables instead of aligned text")
    p_cl.set_defaults(func=cmd_claims)
    return parser


def _message(err: BaseException) -> str:
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    text = str(err) or type(err).__name__
    return " ".join(text.split())  # one line


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return int(args.func(args))
    except (CliError, InputError, CheckpointError, FileNotFoundError, KeyError, ValueError,
            OSError, RuntimeError) as err:
        if os.environ.get("SURVEY_DEBUG"):  # developers: the full traceback
            raise
        say(f"{parser.prog} {args.command}: error: {_message(err)}", sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        say(f"{parser.prog} {args.command}: interrupted", sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
