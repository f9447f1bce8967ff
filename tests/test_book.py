"""survey_lib.tools.book (`make book`): every notebook executed and timed, failures reported, not fatal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from survey_lib.tools import book


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three tiny notebooks: one runs (and records its working directory), one fails in its
    second cell, one sleeps past the cell timeout."""
    folder = tmp_path_factory.mktemp("nbs")
    _notebook(folder / "a_ok.ipynb", "import os, pathlib\npathlib.Path('cwd.txt').write_text(os.getcwd())",
              "print(6 * 7)")
    _notebook(folder / "b_fails.ipynb", "x = 1", "raise ValueError('broken on purpose')", "y = 2")
    _notebook(folder / "c_slow.ipynb", "import time\ntime.sleep(30)")
    return folder


def test_book_times_every_notebook_and_reports_a_failure_without_stopping(tiny, tmp_path, capsys):
    out = tmp_path / "book"
    rc = book.main(["--dir", str(tiny), "--out", str(out), "--notebooks", "b_fails", "a_ok.ipynb",
                    "--timeout", "60"])
    assert rc == 1  # one notebook failed
    printed = capsys.readouterr().out
    assert "failing cell 1" in printed and "raise ValueError('broken on purpose')" in printed
    assert "ValueError: broken on purpose" in printed
    assert (tiny / "cwd.txt").read_text() == str(tiny)  # run with the notebooks' folder as cwd
    executed = json.loads((out / "a_ok.ipynb").read_text())
    assert "".join(executed["cells"][1]["outputs"][0]["text"]) == "42\n"  # outputs kept in the executed copy
    failed = json.loads((out / "b_fails.ipynb").read_text())
    assert failed["cells"][2].get("outputs") == []  # the cell after the failure never ran
    times = (out / "times.md").read_text()
    from survey_lib.config import get_preset

    preset = get_preset().name
    rows = re.findall(r"^\| (\S+\.ipynb) \| (\w+) \| ([0-9.]+) \| (.+) \|$", times, re.M)
    assert [(r[0], r[1]) for r in rows] == [("b_fails.ipynb", preset), ("a_ok.ipynb", preset)]  # order given
    assert rows[0][3].startswith("failed at cell 1: ValueError: broken on purpose") and rows[1][3] == "ok"
    assert all(float(r[2]) > 0 for r in rows)
    assert "| **total** |" in times and "1 failed" in times
    assert re.search(r"date: \d{4}-\d\d-\d\d \d\d:\d\d UTC", times) and "machine: " in times and "CPUs" in times
    assert times in printed


def test_book_cell_timeout_fails_that_notebook_only(tiny, tmp_path):
    run = book.run_notebook(tiny / "c_slow.ipynb", tmp_path, timeout=2)
    assert not run.ok and run.cell == 0 and run.error.startswith("timeout: a cell ran longer than 2 s")
    assert run.seconds < 25 and run.result.startswith("failed at cell 0: timeout")
    assert book.main(["--dir", str(tiny), "--out", str(tmp_path / "o"), "--notebooks", "a_ok"]) == 0


def test_book_refuses_bad_arguments(tiny, tmp_path, capsys):
    for argv, message in ((["--notebooks", "nope"], "no notebook 'nope'"),
                          (["--timeout", "0"], "expected a positive integer, got 0"),
                          (["--timeout", "soon"], "expected a positive integer")):
        with pytest.raises(SystemExit) as exc:
            book.main(["--dir", str(tiny), "--out", str(tmp_path), *argv])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        book.main(["--dir", str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err
    assert [p.name for p in book.find_notebooks(None, tiny)] == ["a_ok.ipynb", "b_fails.ipynb", "c_slow.ipynb"]
    assert not (tmp_path / "times.md").exists()  # nothing ran, nothing written
