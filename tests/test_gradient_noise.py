"bench/gradient_noise.py: the noise-scale estimate on gradients of known statistics, and one end-to-end run at toy size."
import json

import numpy as np
import pytest

def test_noise_scale_recovers_a_known_one(load_bench):
    "Unit gradients G + N(0, σ²I) in P dimensions have B = P σ² / |G|²: the estimate and its interval find it."
    gn = load_bench("gradient_noise")
    rng = np.random.default_rng(0)
    P, sigma, G = 500, 1.0, np.full(500, 0.1)         # B = 500 / 5 = 100
    r = gn.noise_scale(G + rng.normal(0, sigma, (400, P)))
    assert r["units"] == 400 and r["zero_units"] == 0
    assert abs(r["B"] - 100) < 15 and r["B_interval"][0] < 100 < r["B_interval"][1]
    assert abs(r["trace"] - P * sigma ** 2) < 0.05 * P
    # pure noise (G = 0): the signal estimate is ~0 and B is huge or infinite; identical units: no noise at all
    assert gn.noise_scale(rng.normal(0, 1, (400, P)))["B"] > 1000
    same = gn.noise_scale(np.tile(G, (5, 1)))
    assert abs(same["B"]) < 1e-9 and abs(same["trace"]) < 1e-12
    with pytest.raises(ValueError, match="at least 3"): gn.noise_scale(np.zeros((2, P)))

def test_gradient_noise_end_to_end(tmp_path, load_bench):
    "From a (toy) SFT folder of bench/learning.py: both stages' unit gradients, the table and gradient_noise.json."
    lb, gn = load_bench("learning"), load_bench("gradient_noise")
    assert lb.main(["--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "o"), "--n-sft", "8", "--n-rl", "4", "--n-test", "2",
                    "--sft-steps", "1", "--grpo-steps", "1", "--vision-warmup", "0", "--budget", "steps", "--max-new-tokens", "8",
                    "--repeats", "1", "--grpo-set", "max_completion_length=8", "num_generations=2", "per_device_train_batch_size=4"]) == 0
    sft = next(d for d in (tmp_path / "w" / "runs").iterdir() if d.name.endswith("-sft"))
    out = tmp_path / "noise"
    assert gn.main(["--from-sft", str(sft), "--units", "3", "--out", str(out), "--budget", "60",
                    "--grpo-set", "num_generations=2", "max_completion_length=8"]) == 0
    r = json.loads((out / "gradient_noise.json").read_text())
    for kind in ("sft", "grpo"):
        m = r[kind]
        assert m["units"] == 3 and m["s_per_unit"] > 0 and m["trace"] >= 0
        assert m["units_in_budget"] == pytest.approx(60 / m["s_per_unit"])
    assert r["sft"]["zero_units"] == 0            # a cross-entropy gradient is never zero
    assert -1 <= r["cosine_sft_grpo"] <= 1 or r["grpo"]["zero_units"] == 3
    assert "| SFT, one row |" in gn.table(r) and "| GRPO, one prompt, G answers |" in gn.table(r)
    with pytest.raises(FileNotFoundError, match="no train_config.json"):
        gn.run(tmp_path)
