"The `topo-r1` console script as a user runs it."
import json, subprocess, sys

def run(*args):
    return subprocess.run([sys.executable, "-m", "topo_r1.cli", *args], capture_output=True, text=True)

def test_help_lists_every_command():
    from topo_r1.cli import COMMANDS
    r = run("--help")
    assert r.returncode == 0
    for name in COMMANDS: assert name in r.stdout

def test_info_json_reports_versions_device_and_settings():
    r = run("info", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["packages"]["torch"] != "not installed"
    assert isinstance(info["cuda"], bool)
    assert info["settings"]["data_root"].endswith("data")

def test_unknown_command_fails_with_usage():
    r = run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr

def test_every_command_handler_exists():
    import importlib
    from topo_r1.cli import COMMANDS
    for name, (module, fn, _) in COMMANDS.items():
        assert callable(getattr(importlib.import_module(module), fn)), name
