"""How quick the explorers are: opening FailureExplorer on a 4.2K-row test split, and moving its controls;
updating AttentionExplorer's ReAL map when a slider moves.

The 4.2K-row split (the paper's test size) is made cheaply: the kit builds 32 test rows at 256 px, and they are
replicated with new sample ids up to 4,200 rows (the explorer's cost depends on the row count and the boxes, not on
what the pictures show). Its PRED.jsonl holds typical mistakes and a completion per row (`demo_predictions`).
Both are cached under --work. Times are wall-clock medians (`time.perf_counter`) over --repeats runs, with the
process CPU time beside them (robust to other jobs on a shared machine).

    .venv/bin/python bench/widgets.py [--rows 4200] [--size 256] [--repeats 5] [--work data/bench/widgets]
"""
import os
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"): os.environ[_v] = "1"
import argparse, statistics, time
from pathlib import Path

from topo_r1.build import build_dataset
from topo_r1.metrics import write_predictions
from topo_r1.splits import load_split, split_meta
from topo_r1.failure_explorer import ALL, FailureExplorer, demo_predictions

ROOT = Path(__file__).resolve().parents[1]


def big_split(work: Path, rows: int, size: int) -> tuple[Path, Path]:
    "A `rows`-row test split (32 built rows replicated with new ids) and its PRED.jsonl, cached in `work`."
    import datasets
    out, pred = work / f"split_{rows}_{size}", work / f"PRED_{rows}_{size}.jsonl"
    if (out / "dataset_dict.json").is_file() and pred.is_file(): return out, pred
    base = build_dataset(work / f"base_{size}", scale=0.01, size=size, limit=32, workers=1, sources="synthetic",
                         gallery=False, progress=False)["test"]
    k = -(-rows // len(base))
    ds = datasets.concatenate_datasets([base] * k).select(range(rows))
    ids = [f"{s}-r{i // len(base):03d}" for i, s in enumerate(ds["sample_id"])]
    ds = ds.remove_columns("sample_id").add_column("sample_id", ids)
    datasets.DatasetDict({"test": ds}).save_to_disk(str(out))
    write_predictions(pred, demo_predictions(split_meta(load_split(out)), rng=0))
    return out, pred


def timed(fn, repeats: int) -> tuple[float, float, object]:
    "(median wall s, median CPU s, last result) of `repeats` calls."
    wall, cpu, res = [], [], None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = fn()
        wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), res


def failure_explorer(split: Path, pred: Path, repeats: int) -> list[tuple[str, float, float]]:
    rows = []
    w, c, ex = timed(lambda: FailureExplorer(split, pred), repeats)
    rows.append((f"open FailureExplorer ({len(ex.table)} rows, PRED with completions)", w, c))
    w, c, _ = timed(ex.next_button.click, repeats * 4)
    rows.append(("click next (decode the row, draw, PNG, reward terms)", w, c))
    def flip():
        ex.outcome.value = "FN"; ex.outcome.value = ALL
    w, c, _ = timed(flip, repeats)
    rows.append(("change a filter and back (2 refreshes)", w / 2, c / 2))
    cell = next(k for k, b in ex.cell_buttons.items() if b.description != "0")
    w, c, _ = timed(lambda: (ex.cell_buttons[cell].click(), ex.cell_buttons[cell].click()), repeats)
    rows.append(("click a confusion cell and again (2 refreshes)", w / 2, c / 2))
    t, cc = time.perf_counter(), time.process_time()
    ex.sort.value = "reward"
    rows.append(("first sort by reward (scores every completion once)", time.perf_counter() - t, time.process_time() - cc))
    return rows


def attention_explorer(repeats: int) -> list[tuple[str, float, float]]:
    "AttentionExplorer on the tiny Qwen2.5-VL: a 256 px toy row on a 16×16 token grid, a ~200-token completion."
    try: from topo_r1.attention_explorer import AttentionExplorer, attention_maps
    except ImportError: return []
    from topo_r1.answer import format_completion, make_reasoning
    from topo_r1.attention import real_map
    from topo_r1.vlm import tiny_vlm, toy_row
    model, processor = tiny_vlm("qwen2_5_vl", seed=0, vision_patch_size=8, num_hidden_layers=4, min_pixels=256 * 256,
                                max_pixels=256 * 256)
    row = toy_row(256, rng=0, sample_id="bench")
    dets = row["detections"] * 3
    comp = format_completion(dets, make_reasoning(dets, (256, 256), "roads") + " I check every junction once more.")
    t, c = time.perf_counter(), time.process_time()
    ax = AttentionExplorer.from_model(model, processor, row, comp)
    tr = ax.trace
    rows = [(f"open AttentionExplorer (one traced pass; {len(tr.tokens)} tokens, grid {tr.grid_shape})",
             time.perf_counter() - t, time.process_time() - c)]
    vals = iter([0.1, 0.3, 0.5, 0.7] * (repeats * 4))
    w, c, _ = timed(lambda: setattr(ax.tau_t, "value", next(vals)), repeats * 4)
    rows.append(("move the τ_t slider: maps, chips, tables and figure updated (no forward pass)", w, c))
    vals = iter([0.1, 0.3, 0.5, 0.7] * (repeats * 4))
    w, c, _ = timed(lambda: real_map(tr, tau_t=next(vals)), repeats * 4)
    rows.append(("  of which the ReAL map itself (`real_map`)", w, c))
    w, c, _ = timed(lambda: attention_maps(tr, tr.reasoning[0]), repeats * 4)
    rows.append(("  of which the three maps (`attention_maps`)", w, c))
    k = iter(list(tr.reasoning) * repeats * 4)
    w, c, _ = timed(lambda: ax.chips[next(k)].click(), repeats * 4)
    rows.append(("click a token chip", w, c))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=4200)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--work", default=str(ROOT / "data" / "bench" / "widgets"))
    a = p.parse_args(argv)
    work = Path(a.work); work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    split, pred = big_split(work, a.rows, a.size)
    print(f"split {split} ({a.rows} rows, {a.size} px) and {pred.name} ready in {time.perf_counter() - t:.1f} s\n")
    rows = failure_explorer(split, pred, a.repeats) + attention_explorer(a.repeats)
    print("| step | median wall s | median CPU s |\n|---|---:|---:|")
    for name, w, c in rows: print(f"| {name} | {w:.3f} | {c:.3f} |")


if __name__ == "__main__":
    main()
