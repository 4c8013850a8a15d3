"Shared pytest fixtures: the real-data roots, a clean settings environment and the bench/ scripts as modules."
import importlib.util, os
from pathlib import Path
from unittest import mock
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

@pytest.fixture(scope="session")
def load_bench():
    "A loader of `bench/<name>.py` as a module; what a script sets in os.environ on import (thread counts) stays with it."
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        with mock.patch.dict(os.environ): spec.loader.exec_module(mod)
        return mod
    return load
