"The papermill runner (`topo-r1 run` / `topo-r1 runs`) and every experiment notebook at its smallest size."
import json, math, subprocess, sys
from pathlib import Path
import nbformat, pytest
import datasets
from topo_r1.experiments import (EXPERIMENTS_DIR, ExperimentFailed, list_experiments, list_runs, notebook_parameters,
                                 parse_value, run_experiment, runs_table, start_run)
from topo_r1.vlm import toy_row

def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "topo_r1.cli", *args], capture_output=True, text=True, cwd=cwd)

def toy(path, extra=""):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("seed = 1\nlr = 0.01\nname = 'x'\nfail = False\nout_dir = '.'",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib, sys\nprint('executable', sys.executable)" + extra),
                nbformat.v4.new_code_cell("if fail: raise ValueError('planned failure')"),
                nbformat.v4.new_code_cell("pathlib.Path(out_dir, 'metrics.json').write_text(json.dumps("
                                          "{'F1@0.3': lr, 'mean_reward': 0.5, 'name': name, 'seed': seed}))")]
    nbformat.write(nb, path)
    return path

@pytest.fixture(scope="module")
def nb(tmp_path_factory): return toy(tmp_path_factory.mktemp("nb") / "toy.ipynb")

@pytest.fixture(scope="module")
def runs(nb, tmp_path_factory):
    "One finished and one failed run of the toy notebook, shared by the tests below."
    root = tmp_path_factory.mktemp("runs")
    good = run_experiment(nb, {"lr": 0.25, "name": "y"}, runs_dir=root, run_id="good", progress=False)
    with pytest.raises(ExperimentFailed, match="planned failure") as e:
        run_experiment(nb, {"fail": True}, runs_dir=root, run_id="bad", progress=False)
    return root, good, e.value.run_dir

def test_experiments_dir_holds_the_notebooks():
    assert EXPERIMENTS_DIR.is_dir()
    assert (EXPERIMENTS_DIR / ".notest").exists()  # nbdev-test skips them; this file runs them via papermill
    for name in list_experiments():
        p = notebook_parameters(name)
        assert "seed" in p and "out_dir" in p, name

def test_parse_value_reads_yaml_scalars():
    assert [parse_value(s) for s in ["8", "2.5", "5e-4", "false", "~", "tiny", "a b"]] == [8, 2.5, 5e-4, False, None, "tiny", "a b"]

def test_run_writes_notebook_metrics_and_manifest(runs):
    root, d, _ = runs
    assert d.parent == (root / "toy").resolve()
    assert {p.name for p in d.iterdir()} == {"toy.ipynb", "metrics.json", "manifest.json"}
    m = json.loads((d / "manifest.json").read_text())
    assert m["status"] == "finished" and m["error"] is None and m["duration_s"] > 0
    assert m["parameters"] == {"seed": 1, "lr": 0.25, "name": "y", "fail": False, "out_dir": str(d)}
    assert m["overrides"] == {"lr": 0.25, "name": "y"} and m["seed"] == 1 and m["device"] in ("cpu", "cuda")
    assert m["packages"]["papermill"] != "not installed" and set(m["git"]) == {"sha", "dirty"}
    assert m["start"] <= m["end"]
    assert json.loads((d / "metrics.json").read_text())["name"] == "y"
    out = nbformat.read(d / "toy.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in out.cells)
    text = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.outputs)
    assert f"executable {sys.executable}" in text  # the kernel is this interpreter

def test_unknown_parameter_fails_before_running(nb, tmp_path):
    with pytest.raises(ValueError, match="unknown parameter.*lrr.*valid parameters: seed, lr, name, fail"):
        run_experiment(nb, {"lrr": 1}, runs_dir=tmp_path / "runs")
    with pytest.raises(ValueError, match="set by the runner"):
        run_experiment(nb, {"out_dir": "x"}, runs_dir=tmp_path / "runs")
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        run_experiment("nope", runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()

def test_failed_run_keeps_notebook_and_records_error(runs):
    d = runs[2]
    assert d.name == "bad" and (d / "toy.ipynb").exists() and not (d / "metrics.json").exists()
    m = json.loads((d / "manifest.json").read_text())
    assert m["status"] == "failed" and m["error"]["type"] == "ValueError" and m["error"]["message"] == "planned failure"
    assert m["end"] is not None and m["duration_s"] > 0

def test_run_id_must_be_new_and_safe(nb, runs):
    with pytest.raises(ValueError, match="already exists"): run_experiment(nb, runs_dir=runs[0], run_id="good")
    with pytest.raises(ValueError, match="run id must be"): run_experiment(nb, runs_dir=runs[0], run_id="../up")

def test_runs_table_lines_up_runs(runs):
    root = runs[0]
    assert [(r["run_id"], r["status"]) for r in list_runs(root)] == [("good", "finished"), ("bad", "failed")]
    lines = runs_table(root).splitlines()
    assert lines[0] == "| experiment | run id | status | duration | F1@0.3 | mean_reward |"
    assert lines[2].startswith("| toy | good | finished |") and lines[2].endswith("| 0.250 | 0.500 |")
    assert lines[3].startswith("| toy | bad | failed |")
    assert runs_table(root, experiment="other") == "no runs found"

def _start_in_process(args):
    "Start one run in a separate process (a worker of the process pool below); returns its run id."
    nb, root, rid = args
    return start_run(nb, runs_dir=root, run_id=rid)[0].name

def test_runs_are_listed_in_start_order_within_one_second_and_concurrently(nb, tmp_path):
    import concurrent.futures as cf, multiprocessing as mp
    seq = tmp_path / "sequential"
    ids = ["e", "d", "c", "b", "a"]                          # ids sort opposite to the start order
    for rid in ids: start_run(nb, runs_dir=seq, run_id=rid)   # all well within one second
    runs = list_runs(seq)
    assert [r["run_id"] for r in runs] == ids and [r["seq"] for r in runs] == [1, 2, 3, 4, 5]
    assert [r["start"] for r in runs] == sorted(r["start"] for r in runs)
    for name, pool in (("threads", cf.ThreadPoolExecutor(4)), ("processes", cf.ProcessPoolExecutor(2, mp.get_context("spawn")))):
        root = tmp_path / name
        with pool: started = list(pool.map(_start_in_process, [(nb, root, f"r{i}") for i in range(6)]))
        runs = list_runs(root)
        assert sorted(r["run_id"] for r in runs) == sorted(started)
        assert [r["seq"] for r in runs] == list(range(1, 7))                 # one number each, in start order
        assert [r["start"] for r in runs] == sorted(r["start"] for r in runs)

def test_cli_run_and_runs(nb, tmp_settings):
    tmp_path = tmp_settings
    (tmp_path / "p.yaml").write_text("lr: 0.125\nname: from_file\n")
    r = cli("run", str(nb), "-f", str(tmp_path / "p.yaml"), "-p", "name", "from_cli", "--run-id", "c1", "--no-progress")
    assert r.returncode == 0, r.stderr
    d = Path(r.stdout.strip().splitlines()[-1])
    assert d == (tmp_path / "runs" / "toy" / "c1").resolve()
    assert json.loads((d / "metrics.json").read_text()) == {"F1@0.3": 0.125, "mean_reward": 0.5, "name": "from_cli", "seed": 1}
    assert "| run | F1@0.3 | mean_reward |" in r.stderr and "| c1 | 0.125 | 0.500 |" in r.stderr   # the headline, at the end
    r = cli("run", str(nb), "-p", "fail", "true", "--runs-dir", str(tmp_path / "runs"), "--run-id", "c2", "--no-progress")
    assert r.returncode == 1 and "planned failure" in r.stderr and r.stdout.strip().endswith("c2")
    r = cli("run", str(nb), "-p", "bogus", "1", "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 2 and "valid parameters: seed, lr, name, fail" in r.stderr
    r = cli("runs", "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 0 and "| toy | c1 | finished |" in r.stdout and "| toy | c2 | failed |" in r.stdout
    r = cli("runs", "--runs-dir", str(tmp_path / "missing"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = cli("runs", "--runs-dir", str(tmp_path / "runs"), "--experiment", "nosuch")
    assert r.returncode == 2 and "the experiments with runs there: toy" in r.stderr
    r = cli("run", str(nb), "--show")
    assert r.returncode == 0 and "lr = 0.01" in r.stdout


def test_a_killed_run_shows_as_interrupted_and_its_folder_is_never_reused(tmp_path):
    "`topo-r1 run` killed with SIGKILL while its notebook runs: `topo-r1 runs` says `interrupted`, not `running` forever."
    import os, signal, time, psutil
    nb = toy(tmp_path / "toy.ipynb", "\npathlib.Path(out_dir, 'started').touch()\nimport threading; threading.Event().wait()")
    runs = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "topo_r1.cli", "run", str(nb), "--runs-dir", str(runs), "--run-id", "k",
                          "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300   # a bound against a hang, not a guess at the timing
    while not (runs / "toy" / "k" / "started").exists():   # the notebook's cell runs: it waits there until killed
        assert p.poll() is None and time.monotonic() < deadline, "the run ended (or hung) before its notebook started"
        time.sleep(0.01)
    kernel = psutil.Process(p.pid).children(recursive=True)
    try:
        assert "| toy | k | running |" in cli("runs", "--runs-dir", str(runs)).stdout
        p.send_signal(signal.SIGKILL); p.wait()
        r = cli("runs", "--runs-dir", str(runs))
        assert r.returncode == 0 and "| toy | k | interrupted |" in r.stdout, r.stdout
        assert [(m["status"], m["process"]["pid"]) for m in list_runs(runs)] == [("interrupted", p.pid)]
        with pytest.raises(ValueError, match="already exists"): start_run(nb, runs_dir=runs, run_id="k")
    finally:   # the kernel ends by itself once its parent is gone (ipykernel polls it); if not, here
        for k in kernel:
            try: k.kill()
            except psutil.NoSuchProcess: pass
        psutil.wait_procs(kernel, timeout=30)

# ---- the experiment notebooks, each at its smallest size, through the runner ----

@pytest.fixture(scope="module")
def toy_split(tmp_path_factory):
    "A 3-row test split (and a 3-row sft subset for in-context examples) of hand-made rows, saved like `topo-r1 build` saves one."
    rows = [toy_row(64, rng=i, sample_id=f"toy-{i}") for i in range(6)]
    rows[2]["detections"] = rows[5]["detections"] = []
    feats = datasets.Features({"sample_id": datasets.Value("string"), "image": datasets.Image(), "mask": datasets.Image(),
                               "clean_mask": datasets.Image(), "height": datasets.Value("int32"), "width": datasets.Value("int32"),
                               "domain": datasets.Value("string"),
                               "detections": [{"bbox_2d": datasets.Sequence(datasets.Value("float32")), "type": datasets.Value("string")}]})
    out = tmp_path_factory.mktemp("split") / "toy"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows[:3], features=feats),
                          "sft": datasets.Dataset.from_list(rows[3:], features=feats)}).save_to_disk(str(out))
    return out

@pytest.mark.slow
def test_zero_shot_tiny(toy_split, tmp_settings):
    d = run_experiment("zero_shot", {"split": str(toy_split), "limit": 3, "max_new_tokens": 8}, progress=False)
    m = json.loads((d / "metrics.json").read_text())
    assert {"F1@0.3", "aF1", "format_ok", "empty_baseline"} <= set(m) and m["n"] == 3
    assert (d / "gallery.png").exists() and len((d / "PRED.jsonl").read_text().splitlines()) == 3
    assert set(m["shots"]) == {"0", "1", "3"} and (d / "PRED_3shot.jsonl").is_file()   # K = 0, 1, 3 side by side

@pytest.mark.slow
def test_zero_shot_with_three_shots_from_the_cli(toy_split, tmp_settings):
    r = cli("run", "zero_shot", "-p", "shots", "3", "-p", "split", str(toy_split), "-p", "limit", "2",
            "-p", "max_new_tokens", "8", "--no-progress")
    assert r.returncode == 0, r.stderr
    m = json.loads((Path(r.stdout.strip().splitlines()[-1]) / "metrics.json").read_text())
    assert list(m["shots"]) == ["3"] and m["n"] == 2

@pytest.mark.slow
def test_quickstart_writes_a_report(tmp_settings):
    d = run_experiment("quickstart", {"n_train": 16, "n_rl": 16, "vision_warmup_steps": 1, "sft_steps": 1, "grpo_steps": 1,
                                      "num_generations": 2, "eval_limit": 2, "max_new_tokens": 16}, progress=False)
    report = (d / "report.md").read_text()
    assert "| stage |" in report and "VLM: SFT + GRPO" in report and "baseline: empty" in report
    for fig in ("data", "sft_loss", "grpo_reward", "answers"): assert (d / f"{fig}.png").exists()
    m = json.loads((d / "metrics.json").read_text())
    assert "F1@0.3" in m and all(json.dumps(m[k]) == json.dumps(v) for k, v in m["stages"]["VLM: SFT + GRPO"].items())   # repeats the last stage (NaN too)
    assert math.isnan(m["stages"]["baseline: empty"]["P@0.3"])   # `empty` answers no box: its precision is undefined, not 1.0
    assert "`image_accuracy` is no box score" in report and "top-level keys of `metrics.json` repeat" in report
    assert "## How far this is" in report and "Against the paper" in report and (d / "sft" / "vision_warmup.json").is_file()

@pytest.mark.slow
@pytest.mark.parametrize("name,params", [
    ("sft", {"max_steps": 1, "eval_limit": 2, "max_new_tokens": 8}),
    ("grpo", {"max_steps": 1, "num_generations": 2, "eval_limit": 2, "max_new_tokens": 8, "phi_kind": "raw"}),
    ("reward_ablation", {"max_steps": 1, "num_generations": 2, "eval_limit": 2, "max_new_tokens": 8, "repeats": 2,
                         "variants": ["piecewise+cldice+size0", "raw+cgro+shuffled"]}),
])
def test_training_experiments(name, params, tmp_settings):
    d = run_experiment(name, params, progress=False)
    m = json.loads((d / "metrics.json").read_text())
    assert "F1@0.3" in m and "aF1" in m
    if name == "grpo": assert isinstance(m["mean_reward"], float)
    if name == "reward_ablation":
        assert set(m["variants"]) == {"piecewise+cldice+size0", "raw+cgro+shuffled"} and m["best_variant"] in m["variants"]
        assert m["repeats"] == 2
        for v in m["variants"].values():   # each variant: the mean of its two seeds, their spread and the runs
            assert isinstance(v["mean_reward"], float) and {"ReAL_pixel_AUROC", "ROAM"} <= set(v)
            assert [r["F1@0.3"] for r in v["runs"]] and len(v["runs"]) == 2
            assert v["F1@0.3"] == sum(r["F1@0.3"] for r in v["runs"]) / 2 and v["sd"]["mean_reward"] >= 0
        d_seeds = sorted(p.name for p in (d / "raw+cgro+shuffled").iterdir() if p.is_dir())
        cfg = json.loads((d / "raw+cgro+shuffled" / "seed0" / "train_config.json").read_text())
        assert cfg["shuffle_rewards"] is True and cfg["cgro_weight"] == 1.0 and cfg["phi_kind"] == "raw"   # the placebo arm
        assert d_seeds == ["seed0", "seed1"]
