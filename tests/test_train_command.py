"`topo-r1 train --dry-run`: what a run will need, known before any weight loads, for the tiny and the real presets."
import json, subprocess, sys
import pytest, yaml

from topo_r1.curriculum import easy_split
from topo_r1.model_sizes import PUBLISHED_PARAMETERS, published_config
from topo_r1.tiny import tiny_processor, tiny_tokenizer
from topo_r1.train_command import launcher_problems, launcher_settings, run_needs
from topo_r1.train_config import CONFIG_DIR, list_presets, load_config

def go(*args):
    return subprocess.run([sys.executable, "-m", "topo_r1.cli", *args], capture_output=True, text=True)

@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return str(easy_split(tmp_path_factory.mktemp("split") / "easy", n_sft=4, n_rl=4, n_test=2, size=64, seed=0))

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    "Folders holding what --dry-run reads of a real checkpoint: the true config.json and a processor at its geometry."
    tok, out = tiny_tokenizer(), {}
    for name, fam, patch in (("qwen2_5_vl_3b", "qwen2_5_vl", 14), ("qwen3_vl_4b", "qwen3_vl", 16)):
        d = tmp_path_factory.mktemp(name)
        published_config(name, tokenizer=tok).save_pretrained(d)
        tiny_processor(fam, tok, max_pixels=1024 * 1024, patch_size=patch).save_pretrained(d)
        out[name] = d
    return out

def test_dry_run_prints_what_the_tiny_run_needs(split):
    cfg = load_config("sft", "tiny_sft", [f"split={split}"])
    needs = run_needs(cfg, launcher_settings(environ={}))
    from topo_r1.vlm import load_vlm
    model, _, _ = load_vlm("tiny", **cfg.tiny)
    assert needs["parameters"]["total"] == needs["parameters"]["trainable"] == sum(p.numel() for p in model.parameters())
    assert needs["bytes_per_process"]["total"] == 16 * needs["parameters"]["total"]   # fp32 weights, grads, 2 moments
    assert needs["tokens"]["prompt"]["max"] >= needs["tokens"]["prompt"]["mean"] > 25 and needs["problems"] == []
    r = go("train", "sft", "--config", "tiny_sft", f"split={split}", "--dry-run")   # as a user types it
    assert r.returncode == 0, r.stderr
    assert f"parameters: {needs['parameters']['total']:,} total" in r.stdout and "tokens per sample" in r.stdout

@pytest.mark.parametrize("preset", [p for p in list_presets() if p.startswith("qwen")])
def test_every_real_preset_agrees_with_both_deepspeed_configs(preset, split, checkpoints):
    name = "qwen2_5_vl_3b" if preset.startswith("qwen2_5") else "qwen3_vl_4b"
    kind = yaml.safe_load((CONFIG_DIR / f"{preset}.yaml").read_text())["kind"]
    cfg = load_config(kind, preset, [f"model={checkpoints[name]}", f"split={split}"])
    needs = run_needs(cfg, launcher_settings("accelerate_zero3"), token_rows=2)
    assert needs["problems"] == [] and launcher_problems(cfg, launcher_settings("accelerate_zero2")) == []
    assert abs(needs["parameters"]["total"] / PUBLISHED_PARAMETERS[name] - 1) < 0.03
    assert needs["dtype"] == "bfloat16"
    if cfg.lora: assert needs["parameters"]["trainable"] < 0.1 * needs["parameters"]["total"]
    else: assert needs["bytes_per_process"]["optimizer"] * 8 <= 4 * needs["parameters"]["trainable"] + 8   # ZeRO-3 over 8

def test_a_launch_that_contradicts_the_config_stops_the_dry_run(split, tmp_path, capsys):
    bad = tmp_path / "acc.yaml"
    bad.write_text("distributed_type: DEEPSPEED\nnum_processes: 2\nmixed_precision: fp16\n"
                   "deepspeed_config: {zero_stage: 2, gradient_accumulation_steps: 3}\n")
    from topo_r1.train_command import train_cli
    assert train_cli(["sft", "--config", "tiny_sft", f"split={split}", "--dry-run", "--accelerate-config", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "PROBLEM: the launch runs mixed_precision fp16" in out and "gradient_accumulation_steps (3)" in out

def test_vllm_absent_is_one_line_before_any_model_loads(split):
    import importlib.util   # vLLM is never installed in CI; where it is (a GPU machine), this case does not apply
    if importlib.util.find_spec("vllm") is not None: pytest.skip("vLLM is installed here")
    r = go("train", "grpo", "--config", "tiny_grpo", f"split={split}", "model=tiny", "use_vllm=true", "--dry-run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "config key 'use_vllm': vLLM is not installed; `pip install vllm`" in r.stderr
    for preset in ("qwen2_5_vl_3b_grpo", "qwen3_vl_4b_grpo_lora"):   # the presets carry the keys, off
        assert load_config("grpo", preset, [f"split={split}", "model=tiny"]).trl_args.use_vllm is False

@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_the_internvl_presets_agree_with_both_deepspeed_configs(kind, split):
    cfg = load_config(kind, f"internvl3_2b_{kind}", ["model=tiny:internvl", f"split={split}"])
    for launch in ("accelerate_zero2", "accelerate_zero3"): assert launcher_problems(cfg, launcher_settings(launch)) == []
