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
