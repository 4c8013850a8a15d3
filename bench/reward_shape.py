"""Does the Topo-R1 reward pay for hedging with bigger boxes? Expected reward per box scale, per term.

    .venv/bin/python bench/reward_shape.py [--samples 12] [--draws 40] [--seed 0] [--displacements 1 0.5]

Vessel masks (256 px) with one broken connection whose box sits away from the border. An answer is one box of the
right type, `scale` × the true area (same aspect), centred at the truth displaced uniformly by up to `d` box sides
in x and y (d = 1: the policy only knows the error's position to within one side; d = 0.5: to within half a side).
For each scale (×1, ×1.5, ×2, ×3) and d it prints the mean over all draws (and, for the composite, the median) of:

- `R` — the kit's composite Topo-R1 reward (`topo_r1.rewards.topo_reward`: 0.10·fmt + 0.85·acc + 0.05·topo,
  piecewise φ, size calibration `SIZE_POWER`);
- its terms: `fmt`, `soft_f1`, `loc` (localisation), `cov` (type coverage), `topo` (the clDice term); `acc` is
  0.7·soft_f1 + 0.2·loc + 0.1·cov;
- `R raw-φ` (φ(IoU) = IoU, the paper's ablation), `R size 0` (without the size calibration: the reward GRPO hedged
  against) with its `soft_f1` and `loc` terms, and the plain `IoU` of the box with the truth.

design.md's contract: at d = 1 (and 0.5) a true-size box (×1) beats ×1.5 and larger in expectation. The last lines
say, from these numbers, whether it holds for `R`. All numbers come from one run (one seed).
"""
import os
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"): os.environ[_v] = "1"
import argparse

import numpy as np
from PIL import Image

from topo_r1.answer import format_completion
from topo_r1.core import Box, Detection
from topo_r1.inject import inject_errors
from topo_r1.metrics import iou_matrix
from topo_r1.rewards import SIZE_POWER, make_topo_reward, topo_reward
from topo_r1.synthetic import make_vessels

SCALES, DISPLACEMENTS = (1.0, 1.5, 2.0, 3.0), (1.0, 0.5)
TERM_KEYS = ("fmt", "soft_f1", "loc", "cov", "acc", "topo")


def one_gap_samples(k=12, size=256, seed=100):
    "Vessel masks with one broken connection whose box sits at least 3 sides from the border (as tests/test_rewards.py)."
    out = []
    while len(out) < k:
        _, clean = make_vessels(size, rng=seed)
        corrupted, errs = inject_errors(clean, 1, rng=seed, types=["broken_connection"])
        seed += 1
        if len(errs) != 1: continue
        b = errs[0].box
        if min(b.x1, b.y1) < 3 * b.width or max(b.x2, b.y2) > size - 3 * max(b.width, b.height): continue
        out.append(dict(sample_id=f"g{seed}", detections=[errs[0].to_detection().to_dict()], height=size, width=size,
                        mask=Image.fromarray(corrupted.astype(np.uint8) * 255),
                        clean_mask=Image.fromarray(clean.astype(np.uint8) * 255)))
    return out


def answers(sample, scale, d, n, rng):
    "`n` one-box answers of `scale` × the true area, centred up to `d` sides off the truth."
    g = Detection.from_dict(sample["detections"][0])
    w, h = g.box.width * np.sqrt(scale), g.box.height * np.sqrt(scale)
    out = []
    for dx, dy in rng.uniform(-d, d, (n, 2)):
        cx, cy = g.box.center[0] + dx * g.box.width, g.box.center[1] + dy * g.box.height
        out.append(Detection(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), g.type))
    return g, out


def measure(samples, n=40, seed=0, displacements=DISPLACEMENTS) -> dict:
    "{(d, scale): {column: list of values over all draws}}."
    raw, flat = make_topo_reward(phi_kind="raw"), make_topo_reward(size_power=0)
    res = {}
    for d in displacements:
        for scale in SCALES:
            rng = np.random.default_rng(seed)     # the same displacements for every scale: a paired comparison
            cols = {k: [] for k in ("R", *TERM_KEYS, "R raw-φ", "R size 0", "soft_f1 size 0", "loc size 0", "IoU")}
            for s in samples:
                g, dets = answers(s, scale, d, n, rng)
                comps = [format_completion([p], "r") for p in dets]
                kw = {k: [v] * len(comps) for k, v in s.items()}
                cols["R"] += topo_reward(comps, **kw)
                for t in topo_reward.terms(comps, **kw):
                    for k in TERM_KEYS: cols[k].append(t[k])
                cols["R raw-φ"] += raw(comps, **kw)
                cols["R size 0"] += flat(comps, **kw)
                for t in flat.terms(comps, **kw): cols["soft_f1 size 0"].append(t["soft_f1"]); cols["loc size 0"].append(t["loc"])
                cols["IoU"] += iou_matrix(np.array([p.box.to_list() for p in dets]), np.array([g.box.to_list()]))[:, 0].tolist()
            res[(d, scale)] = cols
    return res


def table(res) -> str:
    cols = ("R", "R median", *TERM_KEYS, "R raw-φ", "R size 0", "soft_f1 size 0", "loc size 0", "IoU")
    lines = ["| displacement | box scale | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for (d, scale), c in res.items():
        vals = [np.mean(c["R"]), np.median(c["R"]), *(np.mean(c[k]) for k in cols[2:])]
        lines.append(f"| ≤ {d:g} side | ×{scale:g} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines)


def verdict(res) -> list[str]:
    out = []
    for key in ("R", "R raw-φ", "R size 0"):
        for d in dict.fromkeys(d for d, _ in res):
            m = {s: float(np.mean(res[(d, s)][key])) for s in SCALES}
            best = max(m, key=m.get)
            ok = all(m[1.0] > m[s] for s in SCALES if s >= 1.5)
            out.append(f"{key:9s} d ≤ {d:g}: best scale ×{best:g} ({m[best]:.3f}); ×1 beats ×1.5+: {'yes' if ok else 'NO'}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=12, help="vessel masks with one broken connection")
    ap.add_argument("--draws", type=int, default=40, help="displacements drawn per mask, scale and d")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--displacements", type=float, nargs="+", default=list(DISPLACEMENTS),
                    help="largest displacements, in box sides (design.md's contract is about 1)")
    a = ap.parse_args()
    res = measure(one_gap_samples(a.samples), a.draws, a.seed, tuple(a.displacements))
    print(f"{a.samples} masks × {a.draws} draws per cell; SIZE_POWER = {SIZE_POWER:g}; means unless 'median'\n")
    print(table(res))
    print()
    print("\n".join(verdict(res)))
