"""Why a chapter picks each built-in source, and how many distinct images lie behind it.

A score means little without knowing what it was measured on: a U-Net that "loses to
biharmonic on photos" was trained on crops of six photographs. Notebooks print
:func:`describe_source` when they pick a data set and :func:`source_tag` next to every
result, e.g. ``photos (6 train / 3 test photographs)``.

    from survey_lib.data import describe_source, source_tag
    print(describe_source("emoji"))  # emoji (1,676 train / 184 test emoji) - learned prior: ...
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from survey_lib.data.checks import InputError
from survey_lib.data.dataset import SOURCES

# (what a method needs to succeed on the source, why a chapter would pick it)
SOURCE_REASONS: dict[str, tuple[str, str]] = {
    "emoji": ("learned prior", "distinct colour drawings with recurring parts (eyes, mouths, "
              "outlines): a hole over a mouth is filled by knowing emoji, not by smoothing the border"),
    "glyphs": ("learned prior", "letters are ambiguous under a hole (E or F?): completing them needs a "
               "learned shape prior, and several answers can be right"),
    "faces": ("learned prior", "a masked eye is completed from knowing faces; only 100 tiny faces "
              "ship here, so the prior learned is 'a face-like blob'"),
    "shapes": ("structure", "edges, lines and flat regions continue across the hole: tests whether a "
               "method carries structure (edges, gradients) into the hole"),
    "textures": ("repetition", "the answer is elsewhere in the image: rewards copying patches "
                 "(exemplar methods, attention, Fourier convolutions)"),
    "photos": ("natural images", "real photographs, but crops of only a few of them: good for looking "
               "at results, too few for a learned prior to generalise"),
    "folder": ("your data", "any directory of images, e.g. CelebA or Places2 downloaded by you"),
}


class SourceCount(NamedTuple):
    """Distinct underlying images of a source: ``train`` and ``test`` counts of ``unit``."""

    train: int
    test: int
    unit: str


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in SOURCES:
        raise InputError(f"unknown data source {name!r}; choose one of {', '.join(SOURCES)}")
    return name


def source_counts(name: str) -> SourceCount | None:
    """How many distinct source images (photographs, emoji, faces, fonts) each split of
    ``name`` draws from; None for procedural sources and folders (unbounded / yours).
    Counts come from the sources' own split tables, so they follow any change there."""
    name = _check_name(name)
    if name == "photos":
        from survey_lib.data.photos import PHOTO_SPLITS

        return SourceCount(len(PHOTO_SPLITS["train"]), len(PHOTO_SPLITS["test"]), "photographs")
    if name == "emoji":
        from survey_lib.data.emoji import emoji_split

        return SourceCount(len(emoji_split("train")), len(emoji_split("test")), "emoji")
    if name == "faces":
        from survey_lib.data.faces import face_indices

        return SourceCount(len(face_indices("train")), len(face_indices("test")), "faces")
    if name == "glyphs":
        from survey_lib.data.glyphs import TEST_FONTS, TRAIN_FONTS

        return SourceCount(len(TRAIN_FONTS), len(TEST_FONTS), "fonts")
    if name == "textures":
        from survey_lib.data.textures import TEXTURE_FILES

        n = len(TEXTURE_FILES)  # split spatially: the same photographs, disjoint regions
        return SourceCount(n, n, "texture photos + procedural patterns")
    return None


def source_tag(name: str) -> str:
    """A short label to print next to a result: ``photos (6 train / 3 test photographs)``."""
    count = source_counts(name)
    if count is None:
        return f"{name} (procedural)" if name == "shapes" else name
    return f"{name} ({count.train:,} train / {count.test:,} test {count.unit})"


def describe_source(name: str) -> str:
    """One paragraph: what the source tests and why a chapter picks it, with its counts."""
    kind, reason = SOURCE_REASONS[_check_name(name)]
    return f"{source_tag(name)} - {kind}: {reason}."


def _source_key(source: str, info: dict[str, object], index: int) -> tuple[object, ...]:
    """What makes two samples of ``source`` the same underlying image (see :func:`source_groups`)."""
    if source == "photos":
        return ("photo", info.get("photo"))
    if source == "emoji":
        return ("emoji", info.get("emoji"))
    if source == "faces":
        return ("face", info.get("face"))
    if source == "folder":
        return ("file", str(info.get("file")))
    if source == "glyphs":
        return ("glyph", info.get("font"), info.get("char"))
    if source == "textures" and info.get("box") is not None:
        return ("texture photo", info.get("texture"))
    return ("sample", index)  # procedural: every sample is drawn afresh


def source_groups(spec: dict[str, object]) -> np.ndarray | None:
    """Which distinct source image each image of an evaluation set comes from.

    ``spec``: an evaluation spec as :func:`survey_lib.pretrain.evaluation_set` reads it
    (``source``, ``split``, ``size``, ``source_kw``, ``per_mask``, ``masks``,
    ``image_seed``; ``mask_seed`` is not needed). Returns an int array (n,), n =
    ``per_mask × len(masks)``, aligned with ``evaluation_set``'s order — the ``per_mask``
    images repeated once per mask family — holding one id per distinct source, numbered
    in order of first appearance; or ``None`` when every evaluated image is independent
    (one mask family over a procedural source). A source with named images (photos,
    emoji, ...) always gets the array, even when each image has its own source, so a
    verdict can print how many distinct sources it rests on.

    Why: the claims' bootstrap (:mod:`survey_lib.claims`, ``groups=``) must resample whole
    sources, since crops of one photograph — or one image under several mask families —
    are not independent evidence. What counts as one source: the photograph a ``photos``
    crop was cut from; the emoji of an ``emoji`` sample; the face of ``faces``; the file of
    ``folder``; the (font, character) of ``glyphs`` (the same letter in the same font at
    another scale and angle is nearly the same image); the texture photograph of a
    ``textures`` photo crop, while a procedural texture and a ``shapes`` image are each
    their own source. The sample descriptions come from the sources' own ``describe``
    (no image is rendered beyond what ``describe`` needs), so the ids follow any change
    there. Deterministic: the same spec gives the same ids.
    """
    from survey_lib.data.dataset import make_dataset

    if not isinstance(spec, dict):
        raise InputError(f"spec must be an evaluation spec (a dict with source, size, per_mask, masks, "
                         f"image_seed), got {type(spec).__name__}")
    try:
        source, size, per_mask = spec["source"], spec["size"], spec["per_mask"]
        masks, image_seed = spec["masks"], spec["image_seed"]
        split, kw = spec.get("split", "test"), dict(spec.get("source_kw") or {})  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"spec lacks a field or has a wrong type ({err}); it needs source, size, per_mask, "
                         f"masks and image_seed, got {spec!r:.200}") from None
    source = _check_name(source)
    for name, value in (("per_mask", per_mask), ("image_seed", image_seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (name == "per_mask"):
            raise InputError(f"spec[{name!r}] must be a{' positive' if name == 'per_mask' else ' non-negative'} "
                             f"int, got {value!r}")
    if isinstance(masks, (str, bytes)) or not isinstance(masks, (list, tuple)) or not masks:
        raise InputError(f"spec['masks'] must be a non-empty list of mask family names, got {masks!r}")
    ds = make_dataset(source, split=split, size=size, length=int(per_mask), masks="center",
                      seed=int(image_seed), **kw)
    keys = [_source_key(source, ds.describe(i), i) for i in range(int(per_mask))]
    if len(masks) == 1 and all(k[0] == "sample" for k in keys):
        return None  # procedural images, each evaluated once: every image is its own evidence
    ids: dict[tuple[object, ...], int] = {}
    per_image = np.array([ids.setdefault(k, len(ids)) for k in keys], dtype=np.int64)
    return np.tile(per_image, len(masks))
