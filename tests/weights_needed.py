"""Tests that need the installed LPIPS/VGG16 weights call :func:`require_installed`."""

from __future__ import annotations

import os

import pytest

from survey_lib import weights as weight_files


def require_installed(name: str) -> None:
    """Skip (locally) or fail (CI=true, where `make test` must have installed them)."""
    if weight_files.installed(name):
        return
    msg = f"weights {name!r} not installed: run `python -m survey_lib.tools.install_weights`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)
