"""Does the CGRO term separate the G completions of one GRPO group? Spread of candidate CGRO terms on an SFT checkpoint.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cgro_spread.py --from-sft DIR [--n 32] [--g 8] [--seed 0]

G completions per prompt are sampled the way `tiny_grpo` samples them (its num_generations, temperature and
max_completion_length; generation stops at `</answer>`) on the first --n rows of the RL subset of the checkpoint's
split. Each completion is traced once (teacher-forced, as the CGRO reward traces it in GRPO) and scored by:

- `topo`: the Topo-R1 reward (the preset's weights), for comparison;
- `jaccard`: today's CGRO term, `consistency_reward(J)` with J the mean pairwise Jaccard of thresholded focus regions;
- `soft`: the same with J the mean pairwise weighted Jaccard (sum min / sum max) of the attention distributions;
- `boxes`: `topo_r1.cgro.box_agreement`: the share of the ReAL map's mass inside the answer's own boxes (anomalous
  rows), or 1 minus it (clean rows);
- `boxes_lift`: the same with the boxes' area share subtracted from the mass (a box over the whole mask earns 0).

Per term: the within-group standard deviation (population, mean and median over groups), the share of groups where
that term alone has zero spread, and the mean within-group Spearman correlation with the Topo-R1 reward. Diagnostics
of why the Jaccard saturates go with it. Results: bench/results/cgro_spread.json (git-ignored) and a markdown table.
"""
import argparse, json, sys, time
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

HERE = Path(__file__).resolve().parent
TERMS = ("topo", "jaccard", "soft", "boxes", "boxes_lift")


def soft_agreement(trace, top):
    "Mean pairwise weighted Jaccard (sum min / sum max) of the normalised image attention of tokens `top`."
    ps = [trace.image_attn[i] / max(trace.image_attn[i].sum(), 1e-12) for i in top]
    js = [np.minimum(a, b).sum() / np.maximum(a, b).sum() for k, a in enumerate(ps) for b in ps[k + 1:]]
    return float(np.mean(js)) if js else 0.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--from-sft", required=True); p.add_argument("--n", type=int, default=32)
    p.add_argument("--g", type=int, default=None); p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from topo_r1.cgro import consistency_reward, region_agreement
    from topo_r1.core import row_detections
    from topo_r1.real import box_map, focus_regions, real_map
    from topo_r1.rewards import make_topo_reward
    from topo_r1.tracing import trace_attention, upsample
    from topo_r1.train import stop_at_answer
    from topo_r1.train_config import CONFIG_DIR
    from topo_r1.vlm import generate, load_rows, load_vlm, trained_prompt

    preset = yaml.safe_load((CONFIG_DIR / "tiny_grpo.yaml").read_text())
    g, temp, mcl = ns.g or preset["num_generations"], preset["temperature"], preset["max_completion_length"]
    sft = json.loads((Path(ns.from_sft) / "train_config.json").read_text())
    rows = load_rows(sft["split"], "rl", ns.n)
    model, proc, adapter = load_vlm(str(ns.from_sft)); model.eval()
    tp = trained_prompt(ns.from_sft); view, sp = tp["view"], tp["system_prompt"]
    stop_at_answer(model, proc)
    t0 = time.perf_counter()
    texts = generate(model, proc, adapter, [r for r in rows for _ in range(g)], batch_size=32, greedy=False,
                     max_new_tokens=mcl, temperature=temp, view=view, system_prompt=sp, seed=ns.seed, progress=False)
    gen_s = time.perf_counter() - t0
    topo = make_topo_reward(preset["w_fmt"], preset["w_acc"], preset["w_topo"], phi_kind=preset["phi_kind"],
                            use_cldice=preset["use_cldice"], codec=adapter.codec,
                            model_hw=lambda h, w: adapter.model_hw(h, w, view, proc))
    rep = [r for r in rows for _ in range(g)]
    r_topo = topo(texts, detections=[r["detections"] for r in rep], height=[r["height"] for r in rep],
                  width=[r["width"] for r in rep], mask=[r["mask"] for r in rep], clean_mask=[r.get("clean_mask") for r in rep])
    t0 = time.perf_counter()
    recs, diag = [], {"region_cells": [], "pair_identical": [], "pair_disjoint": [], "pair_cos": [], "n_reasoning": [],
                      "soft_J": [], "J": [], "answer_nonempty": [], "truth_anomalous": []}
    same_cell = []
    for k, row in enumerate(rows):
        cells = set()
        comps = texts[k * g:(k + 1) * g]
        ok = [i for i, c in enumerate(comps) if "</think>" in c and len(c.split("</think>")[0].split()) >= 2]
        trs = trace_attention(model, proc, row, [comps[i] for i in ok], view=view, system_prompt=sp, chunk_size=8) if ok else []
        trs = dict(zip(ok, trs if isinstance(trs, list) else [trs]))
        anomalous = len(row_detections(row)) > 0
        shape = np.asarray(row["mask"]).shape[:2]
        for i, c in enumerate(comps):
            rec = {"group": k, "topo": r_topo[k * g + i] or 0.0}
            ans = adapter.parse(c, row, view, proc).detections
            tr = trs.get(i)
            if tr is None or len(tr.reasoning) < 2:
                rec.update(jaccard=0.0, soft=0.0, boxes=0.0, boxes_lift=0.0, junk=True); recs.append(rec); continue
            j, top = region_agreement(tr)
            sj = soft_agreement(tr, top)
            amap = upsample(real_map(tr, grid=True).map, shape); amap = amap / max(amap.sum(), 1e-12)
            bm = box_map(ans, shape) > 0
            mass, area = float(amap[bm].sum()), float(bm.mean())
            lift = float(np.clip(mass - area, 0, 1))
            rec.update(jaccard=consistency_reward(j, anomalous), soft=consistency_reward(sj, anomalous),
                       boxes=mass if anomalous else 1 - mass, boxes_lift=lift if anomalous else 1 - lift, junk=False,
                       J=j, softJ=sj, mass=mass, area=area)
            recs.append(rec)
            regs = [focus_regions(tr.image_attn[t])[0] > 0 for t in top]
            cells.add(int(np.argmax(tr.image_attn[top[0]])))
            maps = [tr.image_attn[t].ravel() for t in top]
            diag["region_cells"] += [int(r.sum()) for r in regs]
            for a_ in range(len(top)):
                for b_ in range(a_ + 1, len(top)):
                    diag["pair_identical"].append(bool((regs[a_] == regs[b_]).all()))
                    diag["pair_disjoint"].append(bool(not (regs[a_] & regs[b_]).any()))
                    diag["pair_cos"].append(float(maps[a_] @ maps[b_] / (np.linalg.norm(maps[a_]) * np.linalg.norm(maps[b_]) + 1e-12)))
            diag["n_reasoning"].append(len(tr.reasoning)); diag["J"].append(j); diag["soft_J"].append(sj)
            diag["answer_nonempty"].append(len(ans) > 0); diag["truth_anomalous"].append(anomalous)
        if trs: same_cell.append(len(cells) == 1)
    trace_s = time.perf_counter() - t0
    grid = next(iter(trs.values())).grid_shape if trs else None
    out = {"from_sft": str(ns.from_sft), "split": sft["split"], "n_prompts": len(rows), "G": g, "temperature": temp,
           "max_completion_length": mcl, "grid": grid, "gen_s": gen_s, "trace_s": trace_s,
           "junk": float(np.mean([r["junk"] for r in recs])), "terms": {}}
    distinct = np.array([len(set(texts[k * g:(k + 1) * g])) > 1 for k in range(len(rows))])
    topo_flat = np.array([r["topo"] for r in recs]).reshape(len(rows), g).std(1) < 1e-9
    out["groups_distinct"] = float(distinct.mean())
    for t in TERMS:
        v = np.array([r[t] for r in recs]).reshape(len(rows), g)
        sd = v.std(1)
        rho = [stats.spearmanr(v[k], [recs[k * g + i]["topo"] for i in range(g)]).statistic
               for k in range(len(rows)) if sd[k] > 0 and np.std([recs[k * g + i]["topo"] for i in range(g)]) > 0]
        out["terms"][t] = {"sd_mean": float(sd.mean()), "sd_median": float(np.median(sd)), "zero_spread": float((sd < 1e-9).mean()),
                           "mean": float(v.mean()),
                           "zero_spread_distinct": float((sd[distinct] < 1e-9).mean()),
                           "sd_mean_distinct": float(sd[distinct].mean()), "sd_median_distinct": float(np.median(sd[distinct])),
                           "spread_where_topo_flat": float((sd[topo_flat] >= 1e-9).mean()) if topo_flat.any() else None,
                           "rho_topo": float(np.mean(rho)) if rho else None, "n_rho": len(rho)}
    d = {k: np.asarray(v) for k, v in diag.items()}
    J, an = d["J"], d["answer_nonempty"]
    out["diagnostics"] = {
        "focus region cells per top token (median, share 1-2 cells)": [float(np.median(d["region_cells"])),
                                                                        float(np.mean(d["region_cells"] <= 2))],
        "share of top-token pairs with identical regions": float(d["pair_identical"].mean()),
        "share of top-token pairs with disjoint regions": float(d["pair_disjoint"].mean()),
        "median cosine of top-token attention maps": float(np.median(d["pair_cos"])),
        "share of J in {0, 1}": float(np.mean((J == 0) | (J == 1))),
        "mean J | answer with boxes": float(J[an].mean()) if an.any() else None,
        "mean J | empty answer": float(J[~an].mean()) if (~an).any() else None,
        "mean soft J | answer with boxes": float(d["soft_J"][an].mean()) if an.any() else None,
        "mean soft J | empty answer": float(d["soft_J"][~an].mean()) if (~an).any() else None,
        "share answers with boxes": float(an.mean()), "share anomalous truth": float(d["truth_anomalous"].mean()),
        "median reasoning tokens": float(np.median(d["n_reasoning"])),
        "median mass in the boxes | errors in truth, boxes in answer": float(np.median(
            [r["mass"] for r in recs if not r["junk"] and r["area"] > 0 and r["boxes"] == r["mass"]] or [np.nan])),
        "median area share of the answer's boxes": float(np.median([r["area"] for r in recs if not r["junk"] and r["area"] > 0] or [np.nan])),
        "share of groups whose G reasoning texts are all equal": float(np.mean(
            [len({t.split("</think>")[0] for t in texts[k * g:(k + 1) * g]}) == 1 for k in range(len(rows))])),
        "share of groups whose G answers are all equal": float(np.mean(
            [len({t.split("</think>")[-1] for t in texts[k * g:(k + 1) * g]}) == 1 for k in range(len(rows))])),
        "share of groups whose top-token focus cell is the same for all G": float(np.mean(same_cell)) if same_cell else None,
    }
    print(f"{len(rows)} prompts x G={g} (T={temp}), grid {grid}, junk {out['junk']:.1%}; generate {gen_s:.0f} s, trace {trace_s:.0f} s\n")
    print(f"groups whose G completions are not all identical: {out['groups_distinct']:.0%}\n")
    print("| term | within-group sd, mean | median | mean, groups with distinct completions | median, those groups "
          "| groups with zero spread | ... of groups with distinct completions | groups with spread where Topo-R1 has none "
          "| mean | Spearman with Topo-R1 (groups) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t, s in out["terms"].items():
        rho = "–" if s["rho_topo"] is None else f"{s['rho_topo']:.2f} ({s['n_rho']})"
        print(f"| {t} | {s['sd_mean']:.3f} | {s['sd_median']:.3f} | {s['sd_mean_distinct']:.3f} | {s['sd_median_distinct']:.3f} | {s['zero_spread']:.0%} | {s['zero_spread_distinct']:.0%} | {s['spread_where_topo_flat']:.0%} | {s['mean']:.3f} | {rho} |")
    print("\n" + "\n".join(f"- {k}: {v}" for k, v in out["diagnostics"].items()))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "cgro_spread.json").write_text(json.dumps({**out, "completions": texts}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
