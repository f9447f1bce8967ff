"""Show the library's own source in a notebook, so chapters never copy code into cells.

A notebook that explains a layer calls ``show_code(PartialConv2d)``: the reader sees
the exact code that runs, syntax highlighted, and it can never drift from the library.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from survey_lib.data.checks import InputError
from survey_lib.viz import _env


def _resolve(obj: object) -> object:
    """An object, or a dotted path such as ``"survey_lib.inpaint.composite"``."""
    if not isinstance(obj, str):
        return obj
    parts = obj.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(target, attr):
                raise InputError(f"show_code: {'.'.join(parts[:cut])} has no attribute {attr!r} (from {obj!r})")
            target = getattr(target, attr)
        return target
    raise InputError(f"show_code: cannot import {obj!r}; give an object or a dotted path 'package.module.name'")


def source_of(obj: object) -> tuple[str, str]:
    """(header, source) of a function, class, method or module; header says where it lives."""
    target = _resolve(obj)
    target = getattr(target, "__func__", target)  # bound/class methods
    try:
        lines, start = inspect.getsourcelines(target)
        path = inspect.getsourcefile(target) or "?"
    except (TypeError, OSError) as err:
        raise InputError(
            f"show_code: no source available for {obj!r} ({type(target).__name__}); give a function, "
            "class, method or module of the library"
        ) from err
    here = Path(path)
    parts = here.parts
    shown = "/".join(parts[parts.index("survey_lib"):]) if "survey_lib" in parts else here.name
    first = max(start, 1)
    header = f"# {shown}, lines {first}-{first + len(lines) - 1}"
    return header, "".join(lines)


def show_code(obj: object) -> None:
    """Display the source of ``obj`` (syntax highlighted in a notebook, printed elsewhere)."""
    header, source = source_of(obj)
    text = f"{header}\n{source}"
    if _env.in_kernel():
        from IPython.display import Code

        _env.display(Code(text, language="python"))
    else:
        print(text)
