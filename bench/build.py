"""Dataset build throughput: verified samples/s at 256x256 with 1 and 2 workers, and where the time goes.

    python bench/build.py                                  # synthetic, 96 samples per run, 1 and 2 workers
    python bench/build.py --baseline 183d299 --repeat 3    # the same runs of an older commit, interleaved: old vs new
    python bench/build.py --sources real --domains roads   # real road masks only
    python bench/build.py --n 192 --workers 1 2 4 --json bench.json

Prints, from one run: (1) end-to-end `build_dataset` runs with each worker count (verified samples/s, the ratio to
the 100 samples/s goal, the projected time of the 67.4K paper-scale build), the median over `--repeat` runs; with
`--baseline REV` the same runs of the package as committed at REV (unpacked with `git archive` into a temporary
folder), old and new alternating so that the machine's load hits both alike; (2) the per-stage breakdown in ms per
sample (generate/read, skeleton, inject+verify, encode/write), CPU time summed over the worker processes;
(3) the acceptance rate per error type and the built type mix per domain, from the last run's manifest.
Each run is a fresh Python process (`python bench/build.py --one ...`), so imports and caches are alike for both.
"""
import argparse, inspect, json, os, statistics, subprocess, sys, tarfile, tempfile, time
from pathlib import Path

GOAL, FULL = 100.0, 67_400
ROOT = Path(__file__).resolve().parents[1]


def one_build(ns) -> dict:
    "One end-to-end build in this process: samples, seconds, per-stage CPU seconds, acceptance and type mix."
    from topo_r1 import build as B
    per_split = max(ns.n // 3, 1)
    kw = dict(scale=1.0, limit=per_split, seed=ns.seed, workers=ns.one, size=ns.size, sources=tuple(ns.sources.split(",")),
              domains=None if ns.domains is None else B._mix(ns.domains), shard_size=ns.shard_size, progress=False, gallery=False)
    kw = {k: v for k, v in kw.items() if k in inspect.signature(B.build_dataset).parameters}   # older builders take fewer
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        ds = B.build_dataset(d, **kw)
        dt = time.perf_counter() - t
        m = json.loads((Path(d) / "manifest.json").read_text())
    return {"samples": sum(len(x) for x in ds.values()), "seconds": dt, "stages_cpu": m["seconds"]["stages_cpu"],
            "acceptance": m.get("acceptance"), "types": m.get("types"), "scenes": m.get("scenes_drawn"),
            "errors": m.get("errors"), "package": B.__file__}


def run_one(ns, workers: int, pythonpath: str | None) -> dict:
    "One build in a fresh process, against the working tree or an unpacked older package."
    args = [sys.executable, str(Path(__file__).resolve()), "--one", str(workers), "--n", str(ns.n), "--size", str(ns.size),
            "--sources", ns.sources, "--shard-size", str(ns.shard_size), "--seed", str(ns.seed)]
    if ns.domains is not None: args += ["--domains", ns.domains]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if pythonpath: env["PYTHONPATH"] = pythonpath
    out = subprocess.run(args, env=env, cwd=pythonpath or ROOT, capture_output=True, text=True)
    if out.returncode: raise SystemExit(f"bench run failed ({'baseline' if pythonpath else 'new'}):\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if pythonpath and not r["package"].startswith(pythonpath): raise SystemExit(f"baseline imported {r['package']}")
    return r


def unpack(rev: str, into: str) -> str:
    "The `topo_r1` package as committed at `rev`, unpacked into `into`."
    tar = Path(into) / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(tar), rev, "topo_r1"], check=True)
    with tarfile.open(tar) as t: t.extractall(into, filter="data")
    return into


def per_stage_ms(r: dict) -> dict:
    return {k: v / r["samples"] * 1000 for k, v in r["stages_cpu"].items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=96, help="samples per end-to-end build (split evenly over sft/rl/test)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--sources", default="synthetic")
    p.add_argument("--domains", default=None, help="e.g. roads or roads=0.6,cracks=0.2,vessels=0.2 (default: the kit's mix)")
    p.add_argument("--shard-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="runs per worker count and code; the medians are printed")
    p.add_argument("--baseline", default=None, help="a git revision to compare with (e.g. 183d299), run alternately")
    p.add_argument("--json", default=None, help="also write every run's numbers to this file")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)   # internal: one build, JSON on stdout
    ns = p.parse_args()
    if ns.one is not None:
        print(json.dumps(one_build(ns))); return
    print(f"end to end: {ns.n} samples of {ns.size}x{ns.size} per build, sources={ns.sources}, domains={ns.domains or 'default'}, "
          f"median of {ns.repeat} run(s)" + (f", baseline {ns.baseline}" if ns.baseline else ""))
    with tempfile.TemporaryDirectory() as tmp:
        codes = {"new": None}
        if ns.baseline: codes = {"old": unpack(ns.baseline, tmp), "new": None}
        runs = {(c, w): [] for c in codes for w in ns.workers}
        for _ in range(ns.repeat):
            for w in ns.workers:
                for c, path in codes.items(): runs[c, w].append(run_one(ns, w, path))
    rate = {k: statistics.median(r["samples"] / r["seconds"] for r in v) for k, v in runs.items()}
    print(f"{'code':>5}{'workers':>8}{'samples':>9}{'seconds':>9}{'samples/s':>11}{'ratio to 100/s':>16}{'67.4K build':>13}")
    for (c, w), v in runs.items():
        sec = statistics.median(r["seconds"] for r in v)
        print(f"{c:>5}{w:>8}{v[0]['samples']:>9}{sec:>9.1f}{rate[c, w]:>11.1f}{rate[c, w] / GOAL:>16.2f}"
              f"{FULL / rate[c, w] / 60:>10.1f} min")
    for c in codes:
        if len(ns.workers) > 1:
            a, b = min(ns.workers), max(ns.workers)
            print(f"{c}: speed-up {b} vs {a} workers {rate[c, b] / rate[c, a]:.2f}x")
    if ns.baseline:
        print("new vs old: " + ", ".join(f"{w} worker(s) {rate['new', w] / rate['old', w]:.2f}x" for w in ns.workers))
    print("\nper-stage CPU time (all workers), ms per sample, median over runs and worker counts:")
    stages = {}
    for c in codes:
        ms = [per_stage_ms(r) for w in ns.workers for r in runs[c, w]]
        stages[c] = {k: statistics.median(m.get(k, 0.0) for m in ms) for k in ms[0]}
        tot = sum(stages[c].values())
        print(f"  {c:>4}: " + "  ".join(f"{k} {v:.1f} ({v / tot:.0%})" for k, v in stages[c].items()) + f"  total {tot:.1f}")
    last = runs["new", ns.workers[-1]][-1]
    print(f"  scenes drawn: {last['scenes']} for {last['samples']} samples; errors injected {last['errors']['injected']} of "
          f"{last['errors']['planned']} planned")
    acc = last["acceptance"]
    print(f"\nacceptance {acc['accepted']}/{acc['attempts']} = {acc['rate']:.0%}; per type (accepted/attempts, no-site calls):")
    for t, v in acc["per_type"].items():
        print(f"  {t:<22}{v['accepted']:>5}/{v['attempts']:<5}{v['rate']:>6.0%}   no site {v['no_site']}")
    print("\nbuilt type mix per split and domain (share of that domain's errors; asked: uniform unless --types):")
    m = last["types"]
    for split, doms in m["built_share"].items():
        for dom, share in doms.items():
            asked = m["asked"][split][dom]
            print(f"  {split:<5}{dom:<9}" + "  ".join(f"{t.split('_')[0]} {s:.0%}" for t, s in share.items())
                  + f"   (built {sum(m['built'][split][dom].values())} of {sum(asked.values())} asked)")
    if ns.json:
        Path(ns.json).write_text(json.dumps({"args": {k: v for k, v in vars(ns).items() if k != "one"},
                                             "rates": {f"{c}/{w}": r for (c, w), r in rate.items()},
                                             "stages_ms": stages,
                                             "runs": {f"{c}/{w}": [{k: r[k] for k in ("samples", "seconds", "stages_cpu", "scenes")}
                                                                   for r in v] for (c, w), v in runs.items()}},
                                            indent=1, default=str))
        print(f"\nwrote {ns.json}")


if __name__ == "__main__":
    main()
