"The `topo-r1` console script as a user runs it."
import json, os, subprocess, sys
import pytest

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

def test_every_command_answers_help(capsys):
    "Each handler imports its command's module and runs its parser: `--help` prints usage and exits 0."
    from topo_r1.cli import COMMANDS
    for name, (handler, _) in COMMANDS.items():
        with pytest.raises(SystemExit) as e: handler(["--help"])
        assert e.value.code == 0 and f"topo-r1 {name}" in capsys.readouterr().out, name

def test_help_imports_no_command_module():
    "`topo-r1 --help` stays fast: the command table imports no command module (and no torch, TRL or datasets)."
    code = ("import sys, topo_r1.cli; heavy = {'numpy', 'torch', 'trl', 'datasets', 'transformers', 'topo_r1.build', "
            "'topo_r1.train', 'topo_r1.experiments', 'topo_r1.vlm', 'topo_r1.environment'}; print(sorted(heavy & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr

def test_environment_info_is_importable_from_its_old_home():
    from topo_r1 import cli, environment
    assert cli.environment_info is environment.environment_info and cli.info_cli is environment.info_cli


# ---- a split given by name (under data_root/splits) or by path works in every command that reads one ----

@pytest.fixture(scope="module")
def named_split(tmp_path_factory):
    "A tiny easy split saved as data_root/splits/easy; returns (data_root, its path)."
    from topo_r1.curriculum import easy_split
    root = tmp_path_factory.mktemp("data")
    return root, easy_split(root / "splits" / "easy", n_sft=2, n_rl=2, n_test=2, size=64, seed=0)

@pytest.mark.parametrize("by", ["name", "path"])
def test_every_split_command_takes_a_name_or_a_path(named_split, by, tmp_path):
    root, path = named_split
    split = "easy" if by == "name" else str(path)
    env = {**os.environ, "TOPO_R1_DATA_ROOT": str(root), "TOPO_R1_RUNS_DIR": str(tmp_path / "runs")}
    go = lambda *a: subprocess.run([sys.executable, "-m", "topo_r1.cli", *a], capture_output=True, text=True, env=env)
    pred = tmp_path / "PRED.jsonl"
    r = go("baseline", "classical", "--split", split, "--out", str(pred)); assert r.returncode == 0, r.stderr
    r = go("eval", "--pred", str(pred), "--split", split); assert r.returncode == 0, r.stderr
    r = go("predict", "--model", "tiny", "--split", split, "--limit", "1", "--max-new-tokens", "4", "--out", str(tmp_path / "P2.jsonl"))
    assert r.returncode == 0, r.stderr
    r = go("train", "sft", "--config", "tiny_sft", f"split={split}", "--dry-run", "--json"); assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config"]["split"] == split
    r = go("train", "sft", "--config", "tiny_sft", "split=nowhere", "--dry-run")
    assert r.returncode == 2 and "no built split" in r.stderr

def test_a_bug_keeps_its_traceback():
    "Only user errors (ValueError, FileNotFoundError) become one line; anything else is a bug and keeps its traceback."
    from topo_r1.cli import USER_ERRORS
    assert set(USER_ERRORS) == {ValueError, FileNotFoundError}
    code = ("import sys, topo_r1.cli as c; c.COMMANDS['info'] = (lambda argv: {}['missing'], ''); "
            "sys.exit(c.main(['info']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" in r.stderr and "KeyError" in r.stderr

def test_predict_boxes_from_attention(named_split, tmp_path, capsys):
    "`predict --boxes attention` traces a PRED.jsonl's completions and writes their boxes from the map; api: is refused."
    from topo_r1.cli import main
    from topo_r1.core import row_detections
    from topo_r1.metrics import read_predictions, write_predictions
    from topo_r1.vlm import load_processor, load_rows
    root, path = named_split
    proc, adapter = load_processor("tiny")
    rows = load_rows(path, "test")
    targets = write_predictions(tmp_path / "targets.jsonl", [{"sample_id": r["sample_id"], "detections": row_detections(r),
                                                              "completion": adapter.completion(r, "pair", proc)} for r in rows])
    pred = tmp_path / "PRED.jsonl"
    assert main(["predict", "--boxes", "attention", "--model", "tiny", "--split", str(path), "--completions", str(targets),
                 "--min-side", "12", "--out", str(pred)]) == 0
    assert "boxes from attention on 2" in capsys.readouterr().out
    got = read_predictions(pred)
    assert [g["boxes"] for g in got] == ["attention"] * len(rows)
    assert all(0 < len(g["detections"]) <= len(row_detections(x)) for g, x in zip(got, rows))
    assert all(min(d["bbox_2d"][2] - d["bbox_2d"][0], d["bbox_2d"][3] - d["bbox_2d"][1]) >= 12 for g in got for d in g["detections"])
    assert main(["predict", "--boxes", "attention", "--model", "api:some-model", "--split", str(path)]) == 2
    assert "no attention to trace" in capsys.readouterr().err
