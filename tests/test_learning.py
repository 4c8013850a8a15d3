"bench/learning.py end to end at a toy size: every stage trains (TRL), is evaluated, and lands in learning.json."
import json

import pytest
from topo_r1.core import Box
from topo_r1.metrics import is_undefined

def test_learning_pipeline_writes_json(tmp_path, load_bench):
    b = load_bench("learning")
    out = tmp_path / "out"
    rc = b.main(["--workdir", str(tmp_path / "work"), "--out", str(out), "--n-sft", "8", "--n-rl", "4", "--n-test", "3",
                 "--sft-steps", "1", "--grpo-steps", "1", "--vision-warmup", "2", "--budget", "steps", "--max-new-tokens", "8", "--repeats", "2",
                 "--grpo-set", "max_completion_length=8", "num_generations=2", "per_device_train_batch_size=4"])
    assert rc == 0
    r = json.loads((out / "learning.json").read_text())
    assert {"options", "split", "n_test", "build_s", "total_s", "stages", "logs", "examples"} <= set(r)
    assert list(r["stages"]) == ["empty", "random", "sft", "sft+sft", "sft+grpo"]
    for name, m in r["stages"].items():
        assert {"F1@0.3", "aF1", "mean_reward", "format_ok", "train_s"} <= set(m), name
        for k in ("F1@0.3", "aF1"): assert is_undefined(m[k]) or 0 <= m[k] <= 1, (name, k)   # NaN: nothing true, nothing answered
        assert m["box_scale"] is None or m["box_scale"] > 0
    e = r["stages"]["empty"]
    assert e["F1@0.3"] == 0.0 or is_undefined(e["F1@0.3"])   # undefined (NaN) when every test row is clean (0-1 errors, 3 rows)
    assert is_undefined(e["P@0.5"])   # `empty` answers nothing: it has no precision, never 1.0 (null: a mean of none)
    for name in ("random", "sft", "sft+sft", "sft+grpo"): assert 0 <= r["stages"][name]["mean_reward"] <= 1
    for name in ("sft", "sft+sft", "sft+grpo"): assert r["stages"][name]["train_s"] > 0
    assert r["options"]["sft_continued_steps"] == [1, 1] and r["n_test"] == 3
    # the two continuations ran twice each (seeds 0 and 1): their stage rows are means with a spread
    for name in ("sft+sft", "sft+grpo"):
        runs = r["repeats"][name]
        assert [x["seed"] for x in runs] == [0, 1] and r["stages"][name]["n_runs"] == 2
        defined = [x["F1@0.3"] for x in runs if not is_undefined(x["F1@0.3"])]   # the mean skips undefined runs
        assert r["stages"][name]["F1@0.3"] == (pytest.approx(sum(defined) / len(defined)) if defined else None)
        assert r["stages"][name]["sd"]["mean_reward"] >= 0
    assert r["stages"]["sft"]["n_runs"] == 1 and r["stages"]["sft"]["sd"] is None
    assert {"sft+grpo", "sft+grpo#1", "sft+sft#1"} <= set(r["logs"])
    assert r["options"]["vision_warmup"] == 2 and r["options"]["zoom"] == 2 and r["options"]["clarity"] == 1.0
    sft_dirs = [d for d in (tmp_path / "work" / "runs").iterdir() if d.name.endswith("-sft")]
    assert len(json.loads((sft_dirs[0] / "vision_warmup.json").read_text())["loss"]) == 2
    assert (out / "learning.png").stat().st_size > 0
    assert "| sft+grpo | 2 |" in b.table(r) and " ± " in b.table(r) and "P@0.5" in b.table(r)
    sig = b.grpo_signal(r).splitlines()   # what TRL logged per GRPO run: one row each, the spread of the groups among them
    assert "frac_reward_zero_std" in sig[0] and [l.split(" | ")[0] for l in sig[2:]] == ["| sft+grpo", "| sft+grpo#1"]
    truth = [{"detections": [{"bbox_2d": [0, 0, 16, 16]}]}, {"detections": []}]
    assert b.box_scale([Box(0, 0, 32, 16)], truth) == 2.0 and b.box_scale([], truth) is None


def test_learning_from_an_earlier_sft_run(tmp_path, load_bench):
    "--from-sft: the SFT stage is evaluated, not trained again; continuations start from it on its own split."
    b = load_bench("learning")
    small = ["--n-sft", "8", "--n-rl", "4", "--n-test", "3", "--sft-steps", "1", "--grpo-steps", "1", "--vision-warmup", "0",
             "--budget", "steps", "--max-new-tokens", "8", "--repeats", "1",
             "--grpo-set", "max_completion_length=8", "num_generations=2", "per_device_train_batch_size=4"]
    assert b.main(["--workdir", str(tmp_path / "w1"), "--out", str(tmp_path / "o1"), *small]) == 0
    sft = next(d for d in (tmp_path / "w1" / "runs").iterdir() if d.name.endswith("-sft"))
    assert b.main(["--workdir", str(tmp_path / "w2"), "--out", str(tmp_path / "o2"), "--from-sft", str(sft), "--placebo", *small]) == 0
    r = json.loads((tmp_path / "o2" / "learning.json").read_text())
    assert r["options"]["from_sft"] == str(sft) and r["split"] == json.loads((sft / "train_config.json").read_text())["split"]
    runs = {d.name.split("-", 2)[-1] for d in (tmp_path / "w2" / "runs").iterdir()}
    assert runs == {"sft_grpo", "sft_placebo", "sft_sft"}          # no SFT stage trained again
    # the placebo is the same GRPO run with its rewards shuffled within each group
    placebo = next(d for d in (tmp_path / "w2" / "runs").iterdir() if d.name.endswith("sft_placebo"))
    assert json.loads((placebo / "train_config.json").read_text())["shuffle_rewards"] is True
    assert list(r["stages"])[-1] == "sft+placebo" and r["stages"]["sft+placebo"]["n_runs"] == 1
    assert "| sft+placebo" in b.grpo_signal(r)
    f1 = r["stages"]["sft"]["F1@0.3"]; assert is_undefined(f1) or 0 <= f1 <= 1   # undefined when the 3 test rows are clean
    with pytest.raises(FileNotFoundError, match="no train_config.json"):
        b.run(tmp_path / "w3", tmp_path / "o3", from_sft=tmp_path)
