"""The widgets in a real JupyterLab, in headless Chromium: run all cells, click "next", see the picture change.

JupyterLab is started from this venv on 127.0.0.1 with a token; Debian's `chromium` is driven by Playwright
through `executable_path` (no browser download). Screenshots of each state go to `tests/artifacts/` (git-ignored;
`TOPO_R1_TEST_ARTIFACTS` overrides it). Without chromium the test is skipped with the reason; under `CI=true` a
missing browser fails. `TOPO_R1_UPDATE_PICTURES=1` also copies the first screenshot to
`nbs/images/failure_explorer.png`, the picture the widgets notebook shows to readers without a kernel.
"""
import json, os, secrets, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("TOPO_R1_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
WAIT_MS = 120_000   # generous: the kernel imports the kit and draws the first sample on a busy CPU


def _need(what: str, reason: str):
    "Skip with the reason, or fail under CI=true (CI installs the browser, so a missing one is a bug there)."
    if os.environ.get("CI", "").lower() == "true": pytest.fail(f"{what} is required under CI=true: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path, cells: list[str]):
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": c} for i, c in enumerate(cells)],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "A JupyterLab server from this venv on 127.0.0.1 with a token, serving a folder with a split, PRED and notebook."
    from topo_r1.build import build_dataset
    from topo_r1.metrics import write_predictions
    from topo_r1.splits import load_split
    from topo_r1.widgets import demo_predictions, split_meta
    d = tmp_path_factory.mktemp("lab")
    build_dataset(d / "split", scale=0.002, size=64, limit=16, workers=1, sources="synthetic", gallery=False, progress=False)
    write_predictions(d / "PRED.jsonl", demo_predictions(split_meta(load_split(d / "split")), rng=0))
    _notebook(d / "explore.ipynb", [
        "from topo_r1.widgets import FailureExplorer",
        f"ex = FailureExplorer({str(d / 'split')!r}, {str(d / 'PRED.jsonl')!r})\nex",
    ])
    settings = d / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(d / "lab-settings"), JUPYTERLAB_WORKSPACES_DIR=str(d / "ws"),
               JUPYTER_CONFIG_DIR=str(d / "jconfig"), JUPYTER_RUNTIME_DIR=str(d / "jruntime"), OMP_NUM_THREADS="1")
    log = open(d / "jupyterlab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={d}",
                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                             *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI containers run as root
                            cwd=d, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None: raise RuntimeError(f"JupyterLab exited: {(d / 'jupyterlab.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200: break
            except OSError: time.sleep(0.5)
        else: raise RuntimeError(f"JupyterLab did not answer on {url}: {(d / 'jupyterlab.log').read_text()[-2000:]}")
        yield url, token, d
    finally:
        proc.terminate()
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None: _need("chromium", "no chromium on PATH (Debian: apt-get install chromium; .ci/run does it)")
    try: from playwright.sync_api import sync_playwright
    except ImportError: _need("playwright", "playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    p = ARTIFACTS / name
    page.screenshot(path=str(p), full_page=True)
    print(f"screenshot: {p}")
    return p


def _kernel_ready(page):
    "Wait until the notebook's kernel is idle, answering JupyterLab's 'Select Kernel' dialog if it asks."
    t0 = time.monotonic()
    while time.monotonic() - t0 < WAIT_MS / 1000:
        sel = page.locator(".jp-Dialog button.jp-mod-accept")
        if sel.count() and sel.first.is_visible(): sel.first.click()
        status = page.locator(".jp-StatusBar-TextItem", has_text="Idle")
        if status.count() and not page.locator(".jp-Dialog").count(): return
        page.wait_for_timeout(500)
    raise TimeoutError("the notebook's kernel did not become idle")


def test_failure_explorer_in_jupyterlab(lab, browser):
    url, token, d = lab
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.goto(f"{url}/lab/tree/explore.ipynb?token={token}", timeout=WAIT_MS)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=WAIT_MS)
        _kernel_ready(page)
        page.keyboard.press("Control+b")           # hide the file browser: the picture is for the docs too
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        nxt = page.locator("button.jupyter-button", has_text="next")
        nxt.wait_for(timeout=WAIT_MS)
        img = page.locator("img.widget-image").first
        img.wait_for(timeout=WAIT_MS)
        page.wait_for_function("() => { const i = document.querySelector('img.widget-image');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=WAIT_MS)
        src0, pic0 = img.get_attribute("src"), img.screenshot()
        shot0 = _shot(page, "failure_explorer_0_open.png")
        assert "1 of" in page.locator(".widget-label", has_text=" of ").first.inner_text()
        nxt.click()
        page.wait_for_function("(s) => { const i = document.querySelector('img.widget-image');"
                               " return i && i.src !== s && i.complete && i.naturalWidth > 0; }", arg=src0, timeout=WAIT_MS)
        pic1 = img.screenshot()
        _shot(page, "failure_explorer_1_next.png")
        assert pic1 != pic0, "the picture did not change after clicking 'next'"
        assert "2 of" in page.locator(".widget-label", has_text=" of ").first.inner_text()
        if os.environ.get("TOPO_R1_UPDATE_PICTURES") == "1":
            shutil.copy(shot0, ROOT / "nbs" / "images" / "failure_explorer.png")
    except Exception:
        _shot(page, "failure_explorer_error.png")
        print((d / "jupyterlab.log").read_text()[-3000:])
        raise
    finally:
        page.close()
