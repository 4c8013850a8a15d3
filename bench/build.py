"""Dataset build throughput: verified samples/s at 256x256 with 1 and 2 workers, and where the time goes.

    python bench/build.py                                  # synthetic, 96 samples per run, 1 and 2 workers
    python bench/build.py --sources real --domains roads   # real road masks only
    python bench/build.py --n 192 --workers 1 2 4

Prints, from one run: (1) end-to-end `build_dataset` runs with each worker count (verified samples/s, the ratio to
the 100 samples/s goal, the projected time of the 67.4K paper-scale build); (2) the per-stage breakdown in ms per
sample (generate/read, skeleton, inject+verify, encode/write), summed over the worker processes of the last run;
(3) the acceptance rate per error type and the built type mix per domain, from that run's manifest.
"""
import argparse, json, tempfile, time
from pathlib import Path
from topo_r1 import build as B

GOAL, FULL = 100.0, sum(B.SPLIT_SIZES.values())


def one_build(out, ns, workers):
    "One end-to-end build; returns (samples, seconds, manifest)."
    per_split = max(ns.n // 3, 1)
    t = time.perf_counter()
    ds = B.build_dataset(out, scale=1.0, limit=per_split, seed=ns.seed, workers=workers, size=ns.size,
                         sources=ns.sources, domains=ns.domains, shard_size=ns.shard_size, progress=False, gallery=False)
    dt = time.perf_counter() - t
    return sum(len(d) for d in ds.values()), dt, json.loads((Path(out) / "manifest.json").read_text())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=96, help="samples per end-to-end build (split evenly over sft/rl/test)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sources", default="synthetic")
    p.add_argument("--domains", default=None, help="e.g. roads or roads=0.6,cracks=0.2,vessels=0.2 (default: the kit's mix)")
    p.add_argument("--shard-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    ns = p.parse_args()
    ns.sources = tuple(s for s in ns.sources.split(",") if s)
    ns.domains = None if ns.domains is None else B._mix(ns.domains)
    print(f"end to end: {ns.n} samples of {ns.size}x{ns.size} per build, sources={','.join(ns.sources)}, "
          f"domains={ns.domains or 'default'}")
    print(f"{'workers':>8}{'samples':>9}{'seconds':>9}{'samples/s':>11}{'ratio to 100/s':>16}{'67.4K build':>13}")
    rates = {}
    for w in ns.workers:
        with tempfile.TemporaryDirectory() as d:
            n, dt, m = one_build(d, ns, w)
        rates[w] = n / dt
        print(f"{w:>8}{n:>9}{dt:>9.1f}{rates[w]:>11.1f}{rates[w] / GOAL:>16.2f}{FULL / rates[w] / 60:>10.0f} min")
    if len(rates) > 1:
        a, b = min(rates), max(rates)
        print(f"speed-up {b} vs {a} workers: {rates[b] / rates[a]:.2f}x")
    st = m["seconds"]["stages_cpu"]
    tot = sum(st.values())
    print(f"\nper-stage CPU time of the last build (all workers), ms per sample:")
    print("  " + "  ".join(f"{k} {v / n * 1000:.1f} ({v / tot:.0%})" for k, v in st.items()) + f"  total {tot / n * 1000:.1f}")
    print(f"  scenes drawn: {m['scenes_drawn']} for {n} samples; errors injected {m['errors']['injected']} of "
          f"{m['errors']['planned']} planned")
    acc = m["acceptance"]
    print(f"\nacceptance {acc['accepted']}/{acc['attempts']} = {acc['rate']:.0%}; per type (accepted/attempts, no-site calls):")
    for t, v in acc["per_type"].items():
        print(f"  {t:<22}{v['accepted']:>5}/{v['attempts']:<5}{v['rate']:>6.0%}   no site {v['no_site']}")
    print("\nbuilt type mix per split and domain (share of that domain's errors; asked: uniform unless --types):")
    for split, doms in m["types"]["built_share"].items():
        for dom, share in doms.items():
            asked = m["types"]["asked"][split][dom]
            print(f"  {split:<5}{dom:<9}" + "  ".join(f"{t.split('_')[0]} {s:.0%}" for t, s in share.items())
                  + f"   (built {sum(m['types']['built'][split][dom].values())} of {sum(asked.values())} asked)")


if __name__ == "__main__":
    main()
