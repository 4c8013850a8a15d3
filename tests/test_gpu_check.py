"bench/gpu_check.py --smoke: the GPU check's code runs on the CPU at reduced width and depth and writes every key (issue 26)."
import json, math, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("qwen2_5_vl_3b", "qwen3_vl_4b")
REWARDS = {"topo_reward", "roam_reward", "cgro_reward"}

def positive(x) -> bool: return isinstance(x, (int, float)) and math.isfinite(x) and x > 0

@pytest.mark.slow
def test_gpu_check_smoke_writes_every_key(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "bench/gpu_check.py", "--smoke", "--out", str(tmp_path)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    assert res["errors"] == [] and res["environment"]["smoke"] is True
    for k in ("device", "torch", "transformers", "trl", "attn_implementation"): assert res["environment"][k], k
    assert set(res["models"]) == set(MODELS)
    for name, m in res["models"].items():
        for k in ("generate_tokens_per_s", "trace_ms", "forward_ms", "peak_memory_gb"): assert positive(m[k]), (name, k, m.get(k))
        assert m["image_tokens"] == 2 * math.prod(m["image_grid_thw"][0]) // 4   # two pictures, 2x2 patches merged
        for mode in ("lora", "full"):
            d = m[mode]
            assert positive(d["sft_step_s"]) and positive(d["grpo_step_s"]), (name, mode, d)
            b = d["grpo_breakdown"]
            assert set(b["rewards_s"]) == REWARDS and all(positive(v) for v in b["rewards_s"].values()), (name, mode, b)
            for k in ("generation_s", "forward_backward_s", "optimizer_s"): assert positive(b[k]), (name, mode, k, b)
            assert math.isfinite(b["other_s"]) and sum(b["rewards_s"].values()) + b["generation_s"] < d["grpo_step_s"]
            assert d["grpo_rewards"]["rewards/topo_reward/mean"] > 0   # the forced answers parse and score
        assert m["lora"]["trainable_parameters"] < m["full"]["trainable_parameters"]
    md = (tmp_path / "gpu_check.md").read_text()
    assert all(n in md for n in MODELS) and "| model |" in md and md in r.stdout
