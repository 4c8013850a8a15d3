"""Two processes, as a user launches them: SFT, then GRPO with the CGRO reward, each through `accelerate launch
--multi_gpu --num_processes 2 -m topo_r1.cli train ...` in a real subprocess, on the CPU (torchrun and gloo underneath).

Not `accelerate launch --cpu --num_processes 2`: with `--cpu` accelerate starts its simple launcher, which runs ONE
process whatever `--num_processes` says (accelerate/commands/launch.py `launch_command`; huggingface/accelerate#2741).
So every run here also checks that two processes did run.

What each process did is recorded by a probe (`PROBE`): a script that runs `topo_r1.cli.main` as it is, and only
watches the CGRO reward's trace call and what every reward function returned, per process. bench/data_parallel.py
holds the launch helpers and the first-step comparison.
"""
import json
from pathlib import Path

import numpy as np
import pytest

PROBE = '''"`topo_r1.cli` as it is; in each process, record what the CGRO reward traced and what each reward returned."
import json, os, sys
import topo_r1.cgro as cgro, topo_r1.train as train

seen, made = {"traces": [], "rewards": []}, {}

def recorded(f, name):
    def g(*a, **kw):
        out = f(*a, **kw)
        t = made["trainer"]
        seen["rewards"].append({"rank": t.accelerator.process_index, "name": name, "step": t.state.global_step,
                                "values": [None if v is None else float(v) for v in out], "rows": list(kw.get("sample_id", []))})
        return out
    return g

_make_trainer = train.make_trainer
def keep_trainer(*a, **kw):
    made["trainer"] = t = _make_trainer(*a, **kw)
    t.reward_funcs = [recorded(f, n) for f, n in zip(t.reward_funcs, t.reward_func_names)]
    return t
train.make_trainer = keep_trainer

_trace_ids = cgro.trace_ids
def trace_ids(model, processor, conversations, completion_ids, *a, **kw):
    t = made["trainer"]
    seen["traces"].append({"rank": t.accelerator.process_index, "world": t.accelerator.num_processes,
                           "model": type(model).__name__, "is_policy": model is t.model,
                           "is_ddp_module": model is getattr(t.model_wrapped, "module", None),
                           "wrapper": type(t.model_wrapped).__name__, "n": len(completion_ids), "step": t.state.global_step})
    return _trace_ids(model, processor, conversations, completion_ids, *a, **kw)
cgro.trace_ids = trace_ids

from topo_r1.cli import main
rc = main(sys.argv[1:])
with open(os.path.join(os.environ["PROBE_DIR"], f"rank{made['trainer'].accelerator.process_index}.json"), "w") as f:
    json.dump(seen, f)
sys.exit(rc)
'''


def two_kinds_split(out):
    """sft: clean rows only, so 30 steps teach the tiny model its one answer (a `<think>` block CGRO can trace);
    rl: 2 clean rows, then 2 with errors, twice. Unshuffled (`shuffle_dataset=false`), GRPO gives process 0 the clean
    rows and process 1 the others (2 prompts × 2 answers each per step): their rewards differ by construction."""
    import datasets
    from topo_r1.curriculum import easy_rows
    clean = easy_rows(20, size=64, max_errors=0, rng=1, prefix="clean")
    errs = [r for r in easy_rows(12, size=64, max_errors=2, rng=2, prefix="err") if r["detections"]][:4]
    assert len(errs) == 4
    rl = [clean[16], clean[17], errs[0], errs[1], clean[18], clean[19], errs[2], errs[3]]
    datasets.DatasetDict({"sft": datasets.Dataset.from_list(clean[:16]), "rl": datasets.Dataset.from_list(rl),
                          "test": datasets.Dataset.from_list(clean[:2])}).save_to_disk(str(out))
    return out


@pytest.fixture(scope="module")
def dp(load_bench):
    return load_bench("data_parallel")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dp):
    "SFT (30 steps) then GRPO with CGRO (2 steps) on 2 processes; the GRPO run under the probe."
    d = tmp_path_factory.mktemp("two_processes")
    split = two_kinds_split(d / "split")
    sft, grpo, ranks = d / "sft", d / "grpo", d / "ranks"
    dp.launch("sft", 2, [*dp.SFT_SET, f"split={split}", f"output_dir={sft}", "max_steps=30", "per_device_train_batch_size=2"])
    (d / "probe.py").write_text(PROBE); ranks.mkdir()
    dp.launch("grpo", 2, [*dp.GRPO_SET, f"split={split}", f"model={sft}", f"output_dir={grpo}", "max_steps=2",
                          "per_device_train_batch_size=4", "max_completion_length=32", "shuffle_dataset=false"],
              script=d / "probe.py", extra_env={"PROBE_DIR": str(ranks)})
    seen = {r: json.loads((ranks / f"rank{r}.json").read_text()) for r in (0, 1)}
    return {"sft": sft, "grpo": grpo, "seen": seen, "split": split}


def test_sft_and_grpo_finish_on_two_processes_and_their_models_load(runs):
    from topo_r1.vlm import load_vlm
    sft_log, grpo_log = (json.loads((runs[k] / "trainer_state.json").read_text())["log_history"] for k in ("sft", "grpo"))
    assert sft_log[0]["epoch"] == pytest.approx(0.25)   # 2 processes × 2 of the 16 rows: one process would make it 0.125
    assert sft_log[-2]["step"] == 30 and grpo_log[-2]["step"] == 2
    assert sft_log[-2]["loss"] < 1.0                     # it learned its one answer
    for k in ("sft", "grpo"):
        model, processor, adapter = load_vlm(runs[k])
        assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration" and processor is not None


def test_cgro_traced_the_unwrapped_policy_in_each_process(runs):
    for rank, seen in runs["seen"].items():
        traces = seen["traces"]
        assert traces and sum(t["n"] for t in traces) > 0, f"process {rank} traced nothing"
        for t in traces:
            assert t["rank"] == rank and t["world"] == 2
            assert t["wrapper"] == "DistributedDataParallel"     # what TRL trains through
            assert t["is_policy"] and t["is_ddp_module"]         # what the reward traced: the module inside it
            assert t["model"] == "Qwen2_5_VLForConditionalGeneration"


def test_logged_rewards_are_gathered_from_both_processes(runs):
    "Each step's logged reward means are over both processes' answers, not the main process's alone."
    log = json.loads((runs["grpo"] / "trainer_state.json").read_text())["log_history"]
    calls = [c for s in runs["seen"].values() for c in s["rewards"]]
    assert {c["rank"] for c in calls} == {0, 1}
    assert all(r.startswith("clean") for c in calls if c["rank"] == 0 for r in c["rows"])   # the construction
    assert all(r.startswith("err") for c in calls if c["rank"] == 1 for r in c["rows"])
    for step in (0, 1):
        entry = next(e for e in log if e.get("step") == step + 1)
        for name in ("topo_reward", "cgro_reward"):
            per_rank = {c["rank"]: c["values"] for c in calls if c["step"] == step and c["name"] == name}
            both = np.nanmean(np.array(per_rank[0] + per_rank[1], dtype=float))
            assert entry[f"rewards/{name}/mean"] == pytest.approx(both, abs=1e-6), (step, name, per_rank)
        topo = {c["rank"]: np.mean(c["values"]) for c in calls if c["step"] == step and c["name"] == "topo_reward"}
        assert topo[0] > topo[1] + 0.2        # clean rows answered "no error" earn more than rows with errors (~0.1)
        assert entry["rewards/topo_reward/mean"] < topo[0] - 0.1   # so the main process alone would log another mean


def test_sft_first_step_is_the_same_on_two_processes_as_on_one(dp, tmp_path):
    "2 processes × 4 rows and 1 process × 8 rows: the same first-step loss and gradient norm (rows of unequal lengths)."
    split = dp.make_split(tmp_path / "split", n_sft=16, n_rl=2)
    res = dp.compare("sft", split, tmp_path, batch=4)
    assert res["abs_diff"]["loss"] < 1e-4 and res["abs_diff"]["grad_norm"] < 1e-4, res
