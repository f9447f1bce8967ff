"""Run the course's notebooks at the current preset and time each one: ``make book``.

Issue 10 asks every chapter to run start to finish in at most five minutes at the ``cpu``
preset on a 2-core machine; this is the measurement. Each notebook is executed top to
bottom in a fresh ``python3`` kernel (nbclient), with the notebooks' folder as working
directory and the preset taken from ``SURVEY_PRESET`` as the kernel inherits it. The
executed copies (outputs kept) go to ``build/book/``, and a table — notebook, preset, wall
seconds, ok or failed — is printed and written to ``build/book/times.md`` together with
the machine (:func:`survey_lib.pretrain.machine_info`) and the date.

A failing notebook does not stop the others: its failing cell (number and source) and
the error are printed, its row says ``failed``, and the command exits with status 1
after the last notebook::

    SURVEY_PRESET=cpu python -m survey_lib.tools.book                 # every notebook
    python -m survey_lib.tools.book --notebooks 00_tour 04_losses --timeout 900

``--timeout`` is nbclient's limit for one cell, in seconds (a cell running longer fails
its notebook with a timeout).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from survey_lib.cli import positive_int  # the CLI's argparse type: an int >= 1

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
OUT_DIR = REPO_ROOT / "build" / "book"
TIMES = "times.md"
KERNEL = "python3"
#: nbclient's per-cell limit when none is given (seconds)
DEFAULT_TIMEOUT = 3600
#: characters of a failing cell's source and error shown
SHOW_CHARS = 1500


@dataclass
class BookRun:
    """One notebook's execution: how long it took and, when it failed, where and why."""

    notebook: str
    seconds: float
    ok: bool
    cell: int | None = None  # index of the failing cell
    source: str = ""  # its source
    error: str = ""  # the error's name and message (or the timeout)

    @property
    def result(self) -> str:
        if self.ok:
            return "ok"
        where = f"cell {self.cell}" if self.cell is not None else "before the first cell"
        first = self.error.strip().splitlines()[0] if self.error.strip() else "error"
        return f"failed at {where}: {first[:120]}"


def find_notebooks(names: Sequence[str] | None = None, directory: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The notebooks to run: every ``*.ipynb`` in ``directory`` (sorted), or those ``names``
    (with or without ``.ipynb``) in the order given. An unknown name is an error that lists
    the available ones."""
    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"notebook folder {folder} does not exist")
    available = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        if not available:
            raise ValueError(f"no notebooks (*.ipynb) in {folder}")
        return available
    by_name = {p.name: p for p in available} | {p.stem: p for p in available}
    chosen, unknown = [], []
    for name in names:
        key = Path(name).name
        (chosen if key in by_name else unknown).append(by_name.get(key, key))
    if unknown:
        raise ValueError(f"no notebook {', '.join(map(repr, unknown))} in {folder}; available: "
                         f"{', '.join(p.stem for p in available)}")
    return list(dict.fromkeys(chosen))


def run_notebook(path: Path, out_dir: Path, timeout: int = DEFAULT_TIMEOUT, kernel: str = KERNEL) -> BookRun:
    """Execute ``path`` in a fresh ``kernel`` with its folder as working directory, write the
    executed copy to ``out_dir`` and return the wall time and outcome."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellControlSignal,
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    nb = nbformat.read(path, as_version=4)
    current: dict[str, int] = {}

    def on_cell_start(cell: object, cell_index: int) -> None:
        current["cell"] = cell_index

    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_start=on_cell_start)
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellTimeoutError as err:
        error = f"timeout: a cell ran longer than {timeout} s ({' '.join(str(err).split())[:200]})"
    except CellExecutionError as err:
        error = f"{err.ename}: {err.evalue}"
    except (DeadKernelError, CellControlSignal, RuntimeError, OSError) as err:
        error = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    if not error:
        return BookRun(path.name, seconds, True)
    cell = current.get("cell")
    source = nb.cells[cell].source if cell is not None and cell < len(nb.cells) else ""
    return BookRun(path.name, seconds, False, cell, source, error)


def machine_line() -> str:
    """One line naming the machine the times were measured on."""
    from survey_lib.pretrain import machine_info

    m = machine_info()
    gpu = m["gpu"] or "no GPU"
    return (f"{m['cpu']}, {m['cpu_count']} CPUs (torch threads {m['torch_threads']}), {gpu}; "
            f"torch {m['torch']}, Python {m['python']}, {m['platform']}")


def times_table(runs: Sequence[BookRun], preset: str) -> str:
    """The Markdown table of ``runs`` with a total row."""
    lines = ["| notebook | preset | wall s | result |", "|---|---|---|---|"]
    lines += [f"| {r.notebook} | {preset} | {r.seconds:.1f} | {r.result.replace('|', '/')} |" for r in runs]
    failed = sum(not r.ok for r in runs)
    lines.append(f"| **total** | {preset} | {sum(r.seconds for r in runs):.1f} | "
                 f"{'all ok' if not failed else f'{failed} failed'} |")
    return "\n".join(lines)


def report(runs: Sequence[BookRun], preset: str, machine: str, when: dt.datetime, label: str = "") -> str:
    """The whole ``times.md``: what was run, where and when, and the table."""
    return (f"# Notebook wall times\n\npreset: {label or preset} · date: {when:%Y-%m-%d %H:%M} UTC\n\n"
            f"machine: {machine}\n\n{times_table(runs, preset)}\n")


def _preset() -> tuple[str, str]:
    """The current preset's name and a label saying whether chapters load shipped checkpoints."""
    from survey_lib.config import get_preset

    p = get_preset()
    return p.name, p.name + (" (chapters compare the shipped checkpoints)" if p.shipped
                             else " (chapters train every model)")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the notebooks, print and write the table; 0 if all ran, 1 if not."""
    parser = argparse.ArgumentParser(prog="python -m survey_lib.tools.book", description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", nargs="+", metavar="NAME",
                        help="notebooks to run (e.g. 00_tour 04_losses); default: all")
    parser.add_argument("--timeout", type=positive_int, default=DEFAULT_TIMEOUT,
                        help=f"seconds one cell may run (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--dir", default=str(NOTEBOOKS_DIR), help="folder of the notebooks (default notebooks/)")
    parser.add_argument("--out", default=str(OUT_DIR), help="folder for executed copies and times.md "
                                                            "(default build/book/)")
    args = parser.parse_args(argv)
    try:
        paths = find_notebooks(args.notebooks, args.dir)
    except ValueError as err:
        parser.error(str(err))
    preset, label = _preset()
    out = Path(args.out)
    print(f"running {len(paths)} notebook(s) at preset {label}; executed copies in {out}", flush=True)
    runs = []
    for path in paths:
        print(f"- {path.name} ...", end=" ", flush=True)
        run = run_notebook(path, out, args.timeout)
        runs.append(run)
        print(f"{run.seconds:.1f} s, {'ok' if run.ok else 'FAILED'}", flush=True)
        if not run.ok:
            print(f"  failing cell {run.cell}:\n" + "\n".join("    " + line for line in
                                                            run.source[:SHOW_CHARS].splitlines()))
            print("  error:\n" + "\n".join("    " + line for line in run.error[:SHOW_CHARS].splitlines()),
                  flush=True)
    text = report(runs, preset, machine_line(), dt.datetime.now(dt.timezone.utc), label)
    out.mkdir(parents=True, exist_ok=True)
    (out / TIMES).write_text(text, encoding="utf-8")
    print("\n" + text + f"\n(written to {out / TIMES})")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
