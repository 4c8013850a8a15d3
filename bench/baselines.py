"""Each training-free baseline's F1@0.3 / aF1 per domain on a built test split.

    .venv/bin/topo-r1 build --scale 0.05 --seed 0 --limit 300 --out data/baselines-s0.05
    .venv/bin/python bench/baselines.py --split data/baselines-s0.05 [--subset test] [--limit N] [--workers 2]

Runs every baseline of `topo_r1.baselines.BASELINES` on the subset (the same PRED.jsonl `topo-r1 baseline` writes),
scores it with `topo_r1.metrics.evaluate` and prints one markdown table: per baseline and domain, F1@0.3, aF1,
P@0.3, R@0.3 and the seconds per sample (wall clock of the run over its sample count). The predictions and a
`baselines.json` with every score go to --out.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", required=True, help="a built split folder or its name under data_root")
    p.add_argument("--subset", default="test")
    p.add_argument("--limit", type=int, default=None, help="only the first N samples")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="seed of the random baseline")
    p.add_argument("--baselines", default=None, help="comma-separated names (default: all)")
    p.add_argument("--out", default=None, help="folder for PRED files and baselines.json (default: a temp folder)")
    ns = p.parse_args(argv)
    from topo_r1.baselines import BASELINES, run_baseline
    from topo_r1.metrics import evaluate, format_score
    names = ns.baselines.split(",") if ns.baselines else list(BASELINES)
    out = Path(ns.out or tempfile.mkdtemp(prefix="bench-baselines-"))
    results, lines = {}, []
    for name in names:
        t = time.perf_counter()
        pred = run_baseline(name, ns.split, out / f"{name}.jsonl", ns.subset, ns.limit, ns.workers, ns.seed)
        dt = time.perf_counter() - t
        truth_ids = [json.loads(l)["sample_id"] for l in pred.read_text().splitlines()]
        from topo_r1.metrics import load_truth
        truth = [r for r in load_truth(ns.split, ns.subset) if r["sample_id"] in set(truth_ids)]
        res = evaluate(pred, truth)
        results[name] = {"all": res["scores"], **res["by_domain"], "seconds_per_sample": dt / max(res["n"], 1), "n": res["n"]}
        for dom, s in [("all", res["scores"]), *res["by_domain"].items()]:
            n = res["n"] if dom == "all" else sum(r["domain"] == dom for r in truth)
            lines.append(f"| {name} | {dom} | {n} | {format_score(s['F1@0.3'])} | {format_score(s['aF1'])} | "
                         f"{format_score(s['P@0.3'])} | {format_score(s['R@0.3'])} | {dt / max(res['n'], 1):.3f} |")
    (out / "baselines.json").write_text(json.dumps(results, indent=2))
    print(f"split {ns.split} [{ns.subset}], workers {ns.workers}\n")
    print("| baseline | domain | n | F1@0.3 | aF1 | P@0.3 | R@0.3 | s/sample |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print(f"\nwrote {out / 'baselines.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
