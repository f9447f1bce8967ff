"""`make lab` (issue 8, finding 14): starts as root too, at the repository root, with the tour open.

Regression: Jupyter refused to start as root (containers, cloud machines) without
``--allow-root``, and ``--notebook-dir=notebooks`` hid README.md and data/README.md from
Lab's file browser. ``make -n`` prints the command without running it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lab_command(uid: int) -> list[str]:
    # run as a fresh make (under `make test` the parent's MAKEFLAGS/MAKELEVEL would add
    # "Entering/Leaving directory" lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    out = subprocess.run(["make", "--no-print-directory", "-n", "-o", ".venv/.installed-stamp", "lab",
                          f"LAB_UID={uid}"], cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
    line = out.replace("\\\n", " ").strip().splitlines()[-1]
    return shlex.split(line)


@pytest.mark.parametrize("uid, root", [(0, True), (1000, False)])
def test_make_lab_allows_root_only_for_root(uid, root):
    cmd = _lab_command(uid)
    assert cmd[:2] == [".venv/bin/jupyter", "lab"]
    assert ("--allow-root" in cmd) is root


def test_make_lab_serves_the_repository_root_with_the_tour_open():
    cmd = _lab_command(1000)
    assert "--ServerApp.root_dir=." in cmd and not any("notebook-dir" in c for c in cmd)
    assert "--ServerApp.ip=127.0.0.1" in cmd
    opened = [c for c in cmd if c.endswith(".ipynb")]
    assert opened == ["notebooks/00_tour.ipynb"] and (REPO / opened[0]).is_file()
    for readme in ("README.md", "data/README.md"):  # reachable from Lab's file browser (root = repo)
        assert (REPO / readme).is_file()
