"""A training run killed with SIGKILL after its first checkpoint resumes (`resume: true`, the default) and ends with the
same step count and the same weights as the run never interrupted: SFT, then GRPO from that SFT model.

Each stage starts two `topo-r1 train` processes with the same command: the reference, left alone, and the victim,
killed as soon as its first checkpoint is complete (its `trainer_state.json`, written last, reads: the test polls the
folder for it). The same command then runs again in the victim's folder and resumes. All three run with one thread, so
their arithmetic is the same (`bench/resume.py` measures the same without a kill, with the kit's reload and without).
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from safetensors.torch import load_file
from topo_r1.curriculum import easy_split
from topo_r1.train import last_checkpoint

pytestmark = pytest.mark.slow

COMMON = ["lr_scheduler_type=constant", "warmup_steps=0", "logging_steps=1"]
SFT = ["max_steps=24", "save_steps=8", "per_device_train_batch_size=2"]
GRPO = ["max_steps=4", "save_steps=2", "per_device_train_batch_size=4", "num_generations=2", "max_completion_length=24"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
STARTED: list[subprocess.Popen] = []   # ended by the fixture if a test fails half-way


def start(kind: str, out: Path, args: list[str]) -> subprocess.Popen:
    "Start `topo-r1 train KIND` into `out`; its output goes to `out.log`."
    cmd = [sys.executable, "-m", "topo_r1.cli", "train", kind, "--config", f"tiny_{kind}", f"output_dir={out}", *COMMON, *args]
    with open(f"{out}.log", "w") as log:
        STARTED.append(p := subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV))
    return p


def finish(p: subprocess.Popen, out: Path) -> None:
    assert p.wait(timeout=600) == 0, Path(f"{out}.log").read_text()[-3000:]


def kill_at_first_checkpoint(p: subprocess.Popen, out: Path) -> Path:
    "Wait until a checkpoint in `out` is complete, SIGKILL the process, and return that checkpoint."
    deadline = time.monotonic() + 600   # a bound against a hang, not a guess at the timing
    while (ckpt := last_checkpoint(out)) is None:
        assert p.poll() is None, f"the run ended before its first checkpoint:\n{Path(f'{out}.log').read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint within 600 s"
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "model.safetensors").exists()   # it never reached its end
    return Path(ckpt)


def weights(folder: Path) -> dict:
    return load_file(str(folder / "model.safetensors"))


def max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def crash(kind: str, args: list[str], root: Path) -> dict:
    "Start the reference run and the victim of one stage, kill the victim at its first checkpoint, start its resumption."
    ref, run = root / f"{kind}_ref", root / f"{kind}_run"
    p_ref, p_run = start(kind, ref, args), start(kind, run, args)
    ckpt = kill_at_first_checkpoint(p_run, run)
    at_kill = weights(ckpt)                 # the checkpoint may be rotated away once the resumed run saves the next one
    logged = json.loads((ckpt / "trainer_state.json").read_text())["log_history"]
    p_res = start(kind, run, args)          # the same command again: it resumes
    return {"ref": ref, "run": run, "ckpt": ckpt, "at_kill": at_kill, "logged": logged, "procs": (p_ref, p_res)}


def finished(r: dict) -> dict:
    "A stage's runs, once both processes ended well, with their trainer states and the resumed run's log."
    for p, out in zip(r.pop("procs"), (r["ref"], r["run"])): finish(p, out)
    return {**r, "state": json.loads((r["run"] / "trainer_state.json").read_text()),
            "ref_state": json.loads((r["ref"] / "trainer_state.json").read_text()), "log": Path(f"{r['run']}.log").read_text()}


def check_same_run(r: dict, max_steps: int) -> None:
    assert r["state"]["global_step"] == r["ref_state"]["global_step"] == max_steps
    assert max_diff(weights(r["run"]), weights(r["ref"])) <= 1e-6
    assert max_diff(weights(r["run"]), r["at_kill"]) > 1e-5           # it trained on after the checkpoint
    steps = [e["step"] for e in r["state"]["log_history"] if "loss" in e]
    assert steps == list(range(1, max_steps + 1))                      # each step once: none lost, none done twice
    assert r["state"]["log_history"][:len(r["logged"])] == r["logged"]  # the checkpoint's history, then the rest
    assert "There were missing keys" not in r["log"]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return easy_split(tmp_path_factory.mktemp("data") / "easy", n_sft=8, n_rl=8, n_test=1, size=64, seed=0, max_errors=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """SFT, then GRPO from the SFT reference model (a random model earns no reward, so no gradient). GRPO starts as
    soon as that model is saved, while the resumed SFT run goes on: two or three one-thread processes at a time."""
    root = tmp_path_factory.mktemp("resume")
    split = easy_split(root / "easy", n_sft=8, n_rl=8, n_test=1, size=64, seed=0, max_errors=1)
    try:
        sft = crash("sft", [f"split={split}", *SFT], root)
        finish(sft["procs"][0], sft["ref"])
        grpo = crash("grpo", [f"split={split}", f"model={sft['ref']}", *GRPO], root)
        yield {"sft": finished(sft), "grpo": finished(grpo)}
    finally:
        for p in STARTED:
            if p.poll() is None: p.kill(); p.wait()


def test_sft_killed_after_a_checkpoint_resumes_to_the_same_weights(runs):
    r = runs["sft"]
    assert r["ckpt"].name == "checkpoint-8"
    check_same_run(r, 24)


def test_grpo_killed_after_a_checkpoint_resumes_to_the_same_weights(runs):
    "Each step samples its answers afresh (`steps_per_generation` = gradient accumulation): none is lost in the crash."
    r = runs["grpo"]
    assert r["ckpt"].name == "checkpoint-2"
    assert any(e.get("grad_norm", 0) > 0 for e in r["logged"])       # a real gradient before the checkpoint
    check_same_run(r, 4)
