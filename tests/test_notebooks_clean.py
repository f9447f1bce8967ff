"""Committed notebooks carry no outputs and no execution counts."""

from pathlib import Path

import pytest

from survey_lib.tools.strip_notebooks import dirty_cells

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "the course has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stripped(path):
    assert dirty_cells(path) == [], f"{path.name}: strip with `make strip` before committing"
