"The offline docs site (docs/, Sphinx + myst-nb): it builds from the committed notebooks with warnings as errors."
import os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("myst_nb", reason="the docs extra is not installed (pip install -e '.[docs]')")


def sphinx(src, out, conf_dir=None) -> subprocess.CompletedProcess:
    "Run the documented build command (`python -m sphinx -W -b html docs _site`) on `src` into `out`."
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src), str(out)]
    if conf_dir: cmd[3:3] = ["-c", str(conf_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def notebooks() -> list[Path]:
    "Every notebook under nbs/, relative to it."
    return sorted(p.relative_to(ROOT / "nbs") for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = sphinx(ROOT / "docs", out)
    assert r.returncode == 0, f"the docs build failed (warnings are errors):\n{r.stderr[-6000:]}"
    return out


def test_every_notebook_is_a_page_in_the_toc(site):
    index = (site / "index.html").read_text()
    linked = set(re.findall(r'href="(nbs/[^"#]+\.html)"', index))
    for nb in notebooks():
        page = Path("nbs") / nb.with_suffix(".html")
        assert (site / page).is_file(), f"{nb} has no page in the site"
        assert page.as_posix() in linked, f"{nb} is missing from the table of contents (docs/index.md)"


def test_tutorial_figures_are_on_their_pages(site):
    for nb in notebooks():
        if nb.parts[0] != "tutorials": continue
        assert "<img" in (site / "nbs" / nb.with_suffix(".html")).read_text(), f"{nb}: its committed figures are not shown"


def test_api_reference_has_every_module(site):
    api = (site / "api.html").read_text()
    mods = sorted(p.stem for p in (ROOT / "topo_r1").glob("*.py") if not p.stem.startswith("_"))
    for m in mods: assert f'id="module-topo_r1.{m}"' in api, f"topo_r1.{m} is missing from the API reference"
    assert "betti_numbers" in api and "Betti numbers" in api       # a docstring made it through


def test_broken_links_and_orphan_notebooks_fail_the_build(tmp_path):
    src = tmp_path / "src"; src.mkdir()
    (src / "index.md").write_text("# Home\n\nSee [a page that is not there](missing.ipynb).\n")
    (src / "orphan.ipynb").write_text('{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Orphan"}], '
                                      '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    r = sphinx(src, tmp_path / "out", conf_dir=ROOT / "docs")
    assert r.returncode != 0
    assert "missing" in r.stderr and "orphan" in r.stderr and "toctree" in r.stderr, r.stderr[-3000:]
