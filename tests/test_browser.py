"""The widgets in a real JupyterLab, in headless Chromium: run all cells, click "next" and a token chip, see the pictures change.

JupyterLab is started from this venv on 127.0.0.1 with a token; Debian's `chromium` is driven by Playwright
through `executable_path` (no browser download). Screenshots of each state go to `tests/artifacts/` (git-ignored;
`TOPO_R1_TEST_ARTIFACTS` overrides it). Without chromium the test is skipped with the reason; under `CI=true` a
missing browser fails. `TOPO_R1_UPDATE_PICTURES=1` also copies the first screenshot to
`nbs/images/failure_explorer.png` and `attention_explorer.png`, the pictures the widgets notebook shows to readers
without a kernel.
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
        "from topo_r1.vlm import tiny_vlm, toy_row\nfrom topo_r1.widgets import AttentionExplorer\n"
        "model, processor = tiny_vlm('qwen2_5_vl', seed=0, vision_patch_size=8, num_hidden_layers=4)\n"
        "row = toy_row(128, rng=0, sample_id='toy')\n"
        "ax = AttentionExplorer.from_model(model, processor, row, '<think>I find one topological error: a broken connection, "
        "a gap that cuts the long stroke in the middle.</think><answer>[]</answer>')\nax.select([0])\nax",
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


def _small_png(src: Path, out: Path):
    "A screenshot as a 256-colour PNG (a third of the size; the docs carry it)."
    from PIL import Image
    Image.open(src).convert("RGB").quantize(256).save(out, optimize=True)


def _changed(page, selector: str, src: str):
    "Wait until the image at `selector` shows a new, loaded picture."
    page.wait_for_function("([q, s]) => { const i = document.querySelector(q);"
                           " return i && i.src !== s && i.complete && i.naturalWidth > 0; }", arg=[selector, src], timeout=WAIT_MS)


def _loaded(page, selector: str):
    page.wait_for_function("(q) => { const i = document.querySelector(q); return i && i.complete && i.naturalWidth > 0; }",
                           arg=selector, timeout=WAIT_MS)


def test_explorers_in_jupyterlab(browser, lab):   # the browser first: no server is started for a skip
    url, token, d = lab
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    try:
        page.goto(f"{url}/lab/tree/explore.ipynb?token={token}", timeout=WAIT_MS)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=WAIT_MS)
        _kernel_ready(page)
        page.keyboard.press("Control+b")           # hide the file browser: the pictures are for the docs too
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        # the failure explorer: "next" changes the picture
        fimg, nxt = "img.topo-failure-image", page.locator("button.jupyter-button", has_text="next")
        nxt.wait_for(timeout=WAIT_MS); _loaded(page, fimg)
        img = page.locator(fimg)
        src0, pic0 = img.get_attribute("src"), img.screenshot()
        shot0 = _shot(page, "failure_explorer_0_open.png")
        # in a 1400 px window with the file browser open, the type-confusion matrix is whole: its last column is inside
        page.set_viewport_size({"width": 1400, "height": 1100}); page.keyboard.press("Control+b")
        last = page.locator("button.jupyter-button[title='predicted missed / true background']")
        page.locator("#filebrowser").wait_for(state="visible", timeout=WAIT_MS)
        box, out_box = last.bounding_box(), page.locator(".jp-OutputArea-output", has=page.locator(fimg)).bounding_box()
        assert box["x"] + box["width"] <= out_box["x"] + out_box["width"] + 1, (box, out_box)
        page.keyboard.press("Control+b"); page.set_viewport_size({"width": 1500, "height": 1100})
        readout = page.locator(".widget-label", has_text=" of ").first
        assert readout.inner_text().startswith("1 of")
        nxt.click()
        _changed(page, fimg, src0)
        assert img.screenshot() != pic0, "the picture did not change after clicking 'next'"
        assert readout.inner_text().startswith("2 of")
        _shot(page, "failure_explorer_1_next.png")
        # the attention explorer: a token chip changes the picture
        aimg = "img.topo-attention-image"
        page.locator(".topo-token").nth(5).wait_for(timeout=WAIT_MS); _loaded(page, aimg)
        area = page.locator(".jp-OutputArea-output", has=page.locator(aimg))
        area.scroll_into_view_if_needed()
        img = page.locator(aimg)
        src0, pic0 = img.get_attribute("src"), img.screenshot()
        shot1 = ARTIFACTS / "attention_explorer_0_open.png"; area.screenshot(path=str(shot1)); print(f"screenshot: {shot1}")
        page.locator(".topo-token").nth(5).click()
        _changed(page, aimg, src0)
        assert img.screenshot() != pic0, "the picture did not change after clicking a token chip"
        shot2 = ARTIFACTS / "attention_explorer_1_token.png"; area.screenshot(path=str(shot2)); print(f"screenshot: {shot2}")
        if os.environ.get("TOPO_R1_UPDATE_PICTURES") == "1":
            for src, name in ((shot0, "failure_explorer.png"), (shot2, "attention_explorer.png")):
                _small_png(src, ROOT / "nbs" / "images" / name)
    except Exception:
        _shot(page, "explorers_error.png")
        print((d / "jupyterlab.log").read_text()[-3000:])
        raise
    finally:
        page.close()
