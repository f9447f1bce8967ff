"""A real browser on the course: JupyterLab on 127.0.0.1 + headless Chromium (Playwright).

Why a separate folder: these tests start a Jupyter server and a browser and take
minutes, so ``make test`` does not collect them; ``make e2e`` (and ``.ci/run`` after
``make test``) does. A missing browser or Playwright is a failure with a message saying
what to install, never a skip: a skipped browser test proves nothing.

Isolation: the notebooks are copied to a temporary folder (the browser's runs and any
save never touch the committed, stripped notebooks), every Jupyter/IPython/Chromium
state folder is temporary, the server listens on 127.0.0.1 with a random token, and
every server this file starts is stopped (kernels first, then the server) even when
a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1400, "height": 1000}
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: user settings for the test's JupyterLab: no autosave, no news fetching (offline)
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    # every cell stays in the page, so the test can read all prompts and outputs
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def chromium_path() -> str:
    """The Chromium executable: $SURVEY_CHROMIUM, else `chromium` on PATH (Debian's package)."""
    for candidate in (os.environ.get("SURVEY_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no Chromium found for the browser test: install Debian's `chromium` package "
                "(apt-get update && apt-get install -y chromium; .ci/run does this) or set SURVEY_CHROMIUM "
                "to a Chromium executable", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where it is, its token, and its temporary folders."""

    url: str
    token: str
    root: Path
    runtime: Path
    process: subprocess.Popen

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def kernel_client(self, notebook: str, timeout: float = 60.0):
        """A jupyter_client connected to the kernel the browser started for ``notebook``."""
        from jupyter_client import BlockingKernelClient

        deadline = time.monotonic() + timeout
        while True:
            sessions = [s for s in self.api("/api/sessions") if s["path"].endswith(notebook)]
            if sessions:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the browser started no kernel for {notebook}")
            time.sleep(0.5)
        kernel_id = sessions[0]["kernel"]["id"]
        client = BlockingKernelClient()
        client.load_connection_file(str(self.runtime / f"kernel-{kernel_id}.json"))
        client.start_channels()
        client.wait_for_ready(timeout=30)
        return client


@pytest.fixture(scope="session")
def kernel_eval():
    """``kernel_eval(client, expression)``: a value computed in the notebook's kernel."""
    return _kernel_eval


def _kernel_eval(client, expression: str, timeout: float = 60.0) -> object:
    """Evaluate ``expression`` in the notebook's kernel and return its value (via JSON)."""
    code = f"import json as _j; print('@@' + _j.dumps({expression}))"
    out: list[str] = []

    def keep(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])

    client.execute_interactive(code, timeout=timeout, output_hook=keep, store_history=False)
    text = "".join(out)
    lines = [ln for ln in text.splitlines() if ln.startswith("@@")]
    assert lines, f"kernel gave no value for {expression!r}: {text}"
    return json.loads(lines[-1][2:])


def _stop(lab: Lab) -> None:
    """Shut every kernel down, then the server (SIGTERM, then SIGKILL if it lingers)."""
    try:
        for kernel in lab.api("/api/kernels"):
            lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
    except OSError:
        pass
    if lab.process.poll() is None:
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.process.pid, signal.SIGKILL)
            lab.process.wait(timeout=10)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 (random port and token) serving a copy of notebooks/."""
    import secrets

    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(REPO / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = base / "settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    runtime = base / "runtime"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_RUNTIME_DIR": str(runtime),
           "IPYTHONDIR": str(base / "ipython"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.port_retries=0", "--ServerApp.open_browser=False"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "lab.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, runtime, process)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}:\n{(base / 'lab.log').read_text()[-3000:]}")
            try:
                lab.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not answer within 90 s:\n" + (base / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield lab
    finally:
        _stop(lab)
        log.close()
    assert process.poll() is not None, "JupyterLab is still running"


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """A headless Chromium context (fresh profile, 1400x1000 viewport)."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Python Playwright is missing: pip install -e '.[test]' (make venv)", pytrace=False)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where screenshots go (build/e2e, ignored by git): look at them to judge readability."""
    out = REPO / "build" / "e2e"
    out.mkdir(parents=True, exist_ok=True)
    return out
