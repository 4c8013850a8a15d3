"Shared pytest fixtures: the real-data roots and a clean settings environment."
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT

@pytest.fixture(scope="session")
def real_roots():
    "The real-data roots from settings.ini (../shared/data beside the project); skips if none exists."
    from topo_r1.settings import load_settings
    roots = load_settings(ROOT).real_data_roots
    if not roots: pytest.skip("no real data found (set TOPO_R1_REAL_DATA_ROOTS to a folder with drive/, cfd/, roads/)")
    return roots

@pytest.fixture
def tmp_settings(tmp_path, monkeypatch):
    "Point data_root and runs_dir at a temporary folder for one test."
    monkeypatch.setenv("TOPO_R1_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("TOPO_R1_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path
