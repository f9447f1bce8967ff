"""Strip outputs and execution counts from notebooks so they are committed clean.

Usage: ``python -m survey_lib.tools.strip_notebooks notebooks/*.ipynb``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def strip_notebook(path: Path) -> bool:
    """Remove outputs/execution counts from ``path`` in place; True if it changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            changed = True
        cell["outputs"] = []
        cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in ("execution", "collapsed", "scrolled"):
            if key in meta:
                meta.pop(key)
                changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def dirty_cells(path: Path) -> list[int]:
    """Indices of code cells that still hold outputs or an execution count."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        i for i, c in enumerate(nb.get("cells", []))
        if c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]


def main(argv: list[str] | None = None) -> int:
    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    for p in paths:
        if strip_notebook(p):
            print(f"stripped {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
