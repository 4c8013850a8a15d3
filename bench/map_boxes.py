"""Boxes from attention: the written answer against the same answer moved onto its ReAL map's blobs, and the choice
of `min_side` / `rel` (`topo_r1.map_boxes`), made on rows that are not the reported test rows.

    .venv/bin/python bench/map_boxes.py --model DIR [DIR ...] --split DIR [--subset rl] [--limit N]
                                        [--min-side 8 12 16 20] [--rel 0.3 0.5 0.7]

Each checkpoint answers the rows greedily, as it was trained (view, system prompt), each completion is traced once,
and every (min_side, rel) pair is scored on the same traces: detection F1@0.1/0.3/0.5 of the attention boxes, next
to the written answer's. Pick the pair on the `rl` (or `sft`) subset; report the test subset at that pair only
(`topo-r1 predict --boxes attention`). Results go to bench/results/map_boxes.json and are printed as markdown.
"""
import argparse, itertools, json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KEYS = ("F1@0.1", "F1@0.3", "F1@0.5")


def sweep(spec, split, subset="rl", limit=None, min_sides=(8, 12, 16, 20), rels=(0.3, 0.5, 0.7), max_new_tokens=96) -> dict:
    "F1 of the written answer and of the attention boxes at each (min_side, rel), from one set of greedy completions."
    from topo_r1.core import row_detections
    from topo_r1.map_boxes import attention_detections
    from topo_r1.metrics import detection_scores
    from topo_r1.tracing import trace_rows
    from topo_r1.vlm import generate, load_rows, load_vlm, trained_prompt
    rows = load_rows(split, subset, limit)
    model, proc, adapter = load_vlm(spec); model.eval()
    p = trained_prompt(spec)
    texts = generate(model, proc, adapter, rows, batch_size=16, max_new_tokens=max_new_tokens, view=p["view"],
                     system_prompt=p["system_prompt"], progress=False)
    answers = [adapter.parse(t, r, p["view"], proc).detections for t, r in zip(texts, rows)]
    traces = trace_rows(model, proc, rows, texts, view=p["view"], system_prompt=p["system_prompt"], progress=False)
    gts = [row_detections(r) for r in rows]
    f1 = lambda preds: {k: v for k, v in detection_scores(preds, gts).items() if k in KEYS}
    out = {"written answer": f1(answers)}
    for ms, rel in itertools.product(min_sides, rels):
        out[f"attention, min_side {ms:g}, rel {rel:g}"] = f1(attention_detections(traces, answers, min_side=ms, rel=rel)[0])
    return {"model": str(spec), "split": str(split), "subset": subset, "n": len(rows),
            "n_traced": sum(t is not None for t in traces), "scores": out}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", required=True); p.add_argument("--split", required=True)
    p.add_argument("--subset", default="rl"); p.add_argument("--limit", type=int, default=None)
    p.add_argument("--min-side", nargs="+", type=float, default=[8, 12, 16, 20])
    p.add_argument("--rel", nargs="+", type=float, default=[0.3, 0.5, 0.7])
    ns = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    res = []
    for spec in ns.model:
        r = sweep(spec, ns.split, ns.subset, ns.limit, ns.min_side, ns.rel); res.append(r)
        print(f"\n### {spec}: {ns.subset} subset, {r['n']} rows, {r['n_traced']} traced")
        print("| boxes | " + " | ".join(KEYS) + " |\n|---|" + "---:|" * len(KEYS))
        for name, s in r["scores"].items(): print(f"| {name} | " + " | ".join(f"{s[k]:.3f}" for k in KEYS) + " |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "map_boxes.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
