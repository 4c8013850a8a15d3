"""Reward throughput on one core: completions scored per second, per reward and for the composite with clDice.

Realistic GRPO batches: 16 samples (256×256 synthetic vessels/roads/cracks with 0–4 injected errors) × G=8
completions, each with 0–10 boxes (perturbed truths, wrong types, random boxes) and ~200 tokens of reasoning.
"warm" reuses the per-sample cache (the G completions of a prompt share it, and a sample comes back every epoch);
"cold" clears it before each batch, so every sample's masks are skeletonised inside the timing.

    .venv/bin/python bench/rewards.py [--repeats 7]
"""
import os
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"): os.environ[_v] = "1"
import argparse, statistics, time

import numpy as np
from PIL import Image

from topo_r1.answer import format_completion, make_reasoning
from topo_r1.core import Box, Detection, ERROR_TYPES
from topo_r1.inject import inject_errors
from topo_r1.rewards import (accuracy_reward, format_reward, make_topo_reward, roam_reward, topo_reward,
                             topology_term)
from topo_r1.synthetic import make_scene

SIZE, N_SAMPLES, G = 256, 16, 8
FILLER = ("I look along each structure in the photo and follow it in the mask, checking where the mask stops, "
          "where it joins two pieces and where branches end. ")


def batch(rng):
    "Dataset columns (one row per completion) and the completions of one GRPO batch."
    cols, comps = {k: [] for k in ("sample_id", "detections", "mask", "clean_mask", "height", "width")}, []
    for s in range(N_SAMPLES):
        _, clean = make_scene(["vessels", "roads", "cracks"][s % 3], SIZE, rng=rng)
        corrupted, errs = inject_errors(clean, int(rng.integers(0, 5)), rng=rng)
        gts = [e.to_detection() for e in errs]
        row = dict(sample_id=f"b{s}-{rng.integers(1e9)}", detections=[d.to_dict() for d in gts],
                   mask=Image.fromarray(corrupted.astype(np.uint8) * 255), clean_mask=Image.fromarray(clean.astype(np.uint8) * 255),
                   height=SIZE, width=SIZE)
        for _ in range(G):
            dets = []
            for d in gts:
                if rng.random() < 0.8:
                    j = rng.normal(0, 4, 4)
                    b = np.clip(np.array(d.box.to_list()) + j, 0, SIZE)
                    if b[0] < b[2] and b[1] < b[3]:
                        dets.append(Detection(Box(*b), d.type if rng.random() < 0.8 else str(rng.choice(ERROR_TYPES))))
            while len(dets) < rng.integers(0, 11):
                x, y = rng.integers(0, SIZE - 24, 2)
                dets.append(Detection(Box(x, y, x + rng.integers(8, 24), y + rng.integers(8, 24)), str(rng.choice(ERROR_TYPES))))
            dets = dets[:10]
            reasoning = FILLER * 2 + make_reasoning(dets, (SIZE, SIZE))  # ~200 tokens
            comps.append(format_completion(dets, reasoning))
            for k in cols: cols[k].append(row[k])
    return comps, cols


def rate(fn, comps, cols, repeats, cold=False, clock=time.process_time):
    "Median completions/s over `repeats` calls, timed with `clock` (CPU time: robust to other jobs on the machine)."
    ts = []
    for _ in range(repeats):
        if cold and hasattr(fn, "cache"): fn.cache.clear()
        t = clock(); fn(comps, **cols); ts.append(clock() - t)
    return len(comps) / statistics.median(ts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    ns = p.parse_args()
    rng = np.random.default_rng(0)
    comps, cols = batch(rng)
    words = np.mean([len(c.split()) for c in comps])
    boxes = np.mean([c.count("bbox_2d") for c in comps])
    print(f"{len(comps)} completions ({N_SAMPLES} samples × G={G}), {SIZE}×{SIZE} masks, "
          f"{boxes:.1f} boxes and ~{words * 1.3:.0f} tokens each; one core; median of {ns.repeats}\n")
    no_cl = make_topo_reward(use_cldice=False)
    rows = [("format_reward", format_reward, False), ("accuracy_reward", accuracy_reward, False),
            ("topology_term (clDice)", topology_term, False), ("roam_reward", roam_reward, False),
            ("topo_reward without clDice", no_cl, False), ("topo_reward (composite, clDice), warm cache", topo_reward, False),
            ("topo_reward (composite, clDice), cold cache", topo_reward, True)]
    res, wall = {}, {}
    for name, fn, cold in rows:
        rate(fn, comps, cols, 1, cold)  # warm up
        res[name] = rate(fn, comps, cols, ns.repeats, cold)
        wall[name] = rate(fn, comps, cols, ns.repeats, cold, time.perf_counter)
    base = res["topo_reward (composite, clDice), warm cache"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall-clock rates suffer from other jobs; CPU-time rates less)")
    print(f"{'reward':48s} {'completions/s (CPU)':>20s} {'(wall)':>8s} {'vs composite':>13s}")
    for name, v in res.items(): print(f"{name:48s} {v:20,.0f} {wall[name]:8,.0f} {v / base:12.2f}x")
    print(f"\ngoal: composite with clDice >= 2,000 completions/s -> {'met' if base >= 2000 else 'NOT met'} "
          f"(CPU time: warm {base:,.0f}/s; cold {res['topo_reward (composite, clDice), cold cache']:,.0f}/s)")


if __name__ == "__main__":
    main()
