"""Dataset build throughput: verified samples/s at 256×256 and where the time goes.

    python bench/build.py                      # synthetic, 2 workers, ~100 samples end to end
    python bench/build.py --sources synthetic,real --n 60 --workers 2

Prints (1) a per-stage breakdown measured in one process (generate/read, skeleton, inject+verify, encode/write),
mean and median ms per sample per domain, and (2) an end-to-end `build_dataset` run with W worker processes:
verified samples/s and the ratio to the 100 samples/s goal. All numbers come from this one run.
"""
import argparse, statistics, tempfile, time
from collections import defaultdict
import numpy as np
from topo_r1 import build as B
from topo_r1.core import add_counts


def stage_breakdown(cfg, real, n):
    plan = B.make_plan(cfg, real)
    rows = [r for rows in plan.values() for r in rows][:n]
    items = {i.source_id: i for its in real.values() for i in its}
    per = defaultdict(lambda: defaultdict(list))
    errors = defaultdict(list)
    inj_total = {}
    for r in rows:
        stats = {}
        t = time.perf_counter()
        s = B.make_sample(r, cfg, items, stats)
        B.pa.Table.from_pylist([s], schema=B.FEATURES.arrow_schema)     # the Arrow encode a shard does
        total = time.perf_counter() - t
        key = f"{s['domain']}/{s['source']}"
        for k, v in stats["seconds"].items(): per[key][k].append(v)
        per[key]["total"].append(total)
        errors[key].append(s["n_errors"])
        add_counts(inj_total, stats["injection"])
    return per, errors, inj_total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=60, help="samples for the stage breakdown (one process)")
    p.add_argument("--e2e", type=int, default=96, help="samples for the end-to-end build")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sources", default="synthetic")
    p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args()
    sources = tuple(s for s in ns.sources.split(",") if s)
    cfg = B.BuildConfig(scale=1.0, seed=ns.seed, size=ns.size, sources=sources)
    real = B.check_config(cfg)
    print(f"stage breakdown, one process, {ns.n} samples of {ns.size}x{ns.size}, sources={','.join(sources)}")
    per, errors, inj = stage_breakdown(cfg, real, ns.n)
    stages = list(B.STAGES) + ["total"]
    print(f"{'domain/source':<22}{'n':>4}{'errors':>8}" + "".join(f"{s + ' ms':>15}" for s in stages) + "   (mean | median)")
    allt = defaultdict(list)
    for key in sorted(per):
        cells = []
        for s in stages:
            v = np.array(per[key][s]) * 1000
            allt[s] += list(v)
            cells.append(f"{v.mean():7.1f}|{np.median(v):6.1f}")
        print(f"{key:<22}{len(per[key]['total']):>4}{np.mean(errors[key]):>8.1f}" + "".join(f"{c:>15}" for c in cells))
    tot = np.mean(allt["total"])
    print("share of time: " + ", ".join(f"{s} {np.mean(allt[s]) / tot:.0%}" for s in B.STAGES)
          + f"; one process: {1000 / tot:.1f} samples/s")
    att, acc = sum(v["attempts"] for v in inj.values()), sum(v["accepted"] for v in inj.values())
    print(f"injection acceptance {acc}/{att} = {acc / max(att, 1):.0%}: "
          + ", ".join(f"{t} {v['accepted']}/{v['attempts']}" for t, v in sorted(inj.items())))
    with tempfile.TemporaryDirectory() as d:
        per_split = max(ns.e2e // 3, 1)
        t = time.perf_counter()
        ds = B.build_dataset(d, scale=1.0, limit=per_split, seed=ns.seed, workers=ns.workers, size=ns.size,
                             sources=sources, shard_size=8, progress=False, gallery=False)
        dt = time.perf_counter() - t
        n = sum(len(x) for x in ds.values())
    rate = n / dt
    print(f"end to end: {n} verified samples in {dt:.1f} s with {ns.workers} workers = {rate:.1f} samples/s "
          f"(goal 100/s: ratio {rate / 100:.2f}); full scale (67.4K) would take {67400 / rate / 60:.0f} min")


if __name__ == "__main__":
    main()
