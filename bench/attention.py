"""Attention-token analysis on this machine: what tracing costs, and whether ReAL / CGRO localise the errors.

    .venv/bin/python bench/attention.py perf   [--repeats 7] [--g 8]
    .venv/bin/python bench/attention.py maps   [--checkpoint NAME=DIR ...] [--n 96] [--split DIR]
    .venv/bin/python bench/attention.py cgro   --from-sft DIR [--grpo-steps 100] [--repeats 3] [--n 96] [--terms jaccard boxes] [--batch 16]
    .venv/bin/python bench/attention.py regimes [--pixel-sft DIR] [--workdir DIR] [--n 128] [--long-image-warmup 600]

`perf` (tiny model, 1 thread, G completions of one prompt):
- the time of `trace_attention` for G completions against one no-grad forward pass with sdpa over the same batch
  (median of --repeats, interleaved; the ratio is the goal's number: at most 2x);
- the peak memory (resident-memory growth during the pass, sampled every ms, each variant in a fresh process) of
  the trace against `output_attentions=True` and against a plain sdpa forward, and the bytes each keeps;
- the share of a GRPO step that the CGRO reward takes: two short `tiny_grpo` runs, cgro_weight 0 and 1, same
  seed and sizes; share = 1 - t(GRPO) / t(GRPO + CGRO), from TRL's train_runtime.

`maps`: on held-out rows of the easy curriculum (bench/learning.py's split), each checkpoint traces its own greedy
answers and every map method of `topo_r1.attention.map_methods` is scored (`pixel_scores`) against the error boxes;
the random-initialised tiny model (teacher-forced on the targets) is the control. ReAL is also scored at the
thresholds of --taus (tau_t = tau_i), on the same traces. Each trained checkpoint's greedy answers are also scored
for detection (F1@0.3, F1@0.5, `topo_r1.evaluate.score_completions`); the control's teacher-forced targets are not.
Detection F1@0.1/0.3/0.5 of the written answer and of the same answer moved onto its ReAL map's blobs
(`topo_r1.map_boxes.attention_detections`, defaults) come from the same completions.

`regimes`: which supervision does the localisation need? Three SFT checkpoints of the random tiny model, trained on
the quickstart's recipe (nbs/experiments/quickstart.ipynb: the easy curriculum of 512 SFT rows, 4 px vision patches,
450 SFT steps, one seed) and differing only in the vision warm-up: 120 steps with pixel labels (a label per vision
token), 120 steps with image labels (one per picture, `vision_warmup_labels: image`), or none. A warmed-up tower is
frozen during SFT, as the quickstart does; without a warm-up the tower trains with SFT (the kit's default). The SFT
budget is equal (same steps, rows, seed); the warm-up arms also spend 120 steps on the tower alone. `--pixel-sft`
reuses a checkpoint already trained with exactly the pixel recipe (the quickstart's `sft/`). Then `maps` on the
split's test rows for each, and a summary table (pixel AUROC of every map, F1 of the answers). A finished run of
the same recipe in --workdir is reused. `--long-image-warmup N` adds a fourth arm, image labels for N warm-up steps:
one label per picture teaches the tower more slowly than one per token.

`cgro`: GRPO and GRPO + CGRO (one arm per CGRO term of --terms) from one SFT checkpoint, same steps, --repeats seeds
each: detection F1@0.3/0.5, pixel AUROC of the ReAL map, ROAM agreement of the greedy answers, and from the training
logs the CGRO term's within-group std and share of zero-spread groups (`cgro_reward/group_std`, `/frac_zero_std`).

Results go to bench/results/attention_<command>.json (git-ignored) and are printed as markdown tables.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from learning import DEFAULTS, build_split   # the easy curriculum the learning benchmark trains on

from topo_r1.core import row_detections
from topo_r1.map_boxes import attention_detections
from topo_r1.metrics import detection_scores
from topo_r1.real import evaluate_maps
from topo_r1.baselines import classical_baseline
from topo_r1.evaluate import mean_sd, score_completions
from topo_r1.metrics import format_score
from topo_r1.rewards import make_roam_reward
from topo_r1.stages import train_model
from topo_r1.train_config import CONFIG_DIR
from topo_r1.tracing import teacher_forced_inputs, trace_attention, trace_rows, with_images
from topo_r1.vlm import FAMILIES, generate, load_rows, load_vlm, tiny_vlm, toy_row, trained_prompt

RESULTS = HERE / "results"
DETECTION = ("F1@0.1", "F1@0.3", "F1@0.5", "image_accuracy", "count_error")   # of a checkpoint's greedy answers
KEYS = ("pixel_AUROC", "pixel_AUPR", "AUPRO", "image_AUROC")
F1_KEYS = ("F1@0.1", "F1@0.3", "F1@0.5")


def table(results: dict, keys=KEYS, label="") -> str:
    "A markdown table: one row per result, one column per key (floats to 3 places)."
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join([label, *keys]) + " |", "|" + "---|" * (len(keys) + 1)]
    return "\n".join(lines + ["| " + " | ".join([str(n), *(fmt(r.get(k)) for k in keys)]) + " |" for n, r in results.items()])


def preset_tiny() -> dict:
    "The `tiny` model sizes of the `tiny_sft` preset (the model bench/learning.py trains)."
    import yaml
    return yaml.safe_load((CONFIG_DIR / "tiny_sft.yaml").read_text())["tiny"]


# ---------------------------------------------------------------- perf
def _perf_inputs(g: int):
    model, proc = tiny_vlm("qwen2_5_vl", vision_patch_size=7, num_hidden_layers=4)
    row = toy_row(128, rng=0)
    comp = FAMILIES["qwen2_5_vl"].completion(row, "pair", proc)
    return model, proc, row, [comp] * g


def _plain_forward(model, inputs):
    import torch
    with torch.no_grad():
        model(**{k: v for k, v in inputs.items() if hasattr(v, "to")}, use_cache=False, logits_to_keep=1)


def perf_times(g=8, repeats=7) -> dict:
    "Median seconds of one trace of G completions and of one sdpa forward over the same batch, interleaved."
    model, proc, row, comps = _perf_inputs(g)
    inputs = trace_attention(model, proc, row, comps, chunk_size=g)[0].inputs   # the exact batch
    tr, fw = [], []
    for _ in range(repeats):
        t = time.perf_counter(); trace_attention(model, proc, row, comps, chunk_size=g); tr.append(time.perf_counter() - t)
        t = time.perf_counter(); _plain_forward(model, inputs); fw.append(time.perf_counter() - t)
    # the trace also tokenises the prompt and renders the view; count that separately
    conv = with_images(*FAMILIES["qwen2_5_vl"].messages(row, "pair", proc, True))
    ids = [proc.tokenizer.encode(c, add_special_tokens=False) for c in comps]
    prep = []
    for _ in range(repeats):
        t = time.perf_counter(); teacher_forced_inputs(proc, [conv] * g, ids); prep.append(time.perf_counter() - t)
    return {"G": g, "seq_len": int(inputs["input_ids"].shape[1]), "trace_s": statistics.median(tr),
            "forward_s": statistics.median(fw), "tokenise_s": statistics.median(prep),
            "ratio": statistics.median(tr) / statistics.median(fw),
            "ratio_forward_only": (statistics.median(tr) - statistics.median(prep)) / statistics.median(fw)}


def _rss_now_mb() -> float:
    "The process's resident memory now (Linux /proc/self/statm)."
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


class _PeakRSS:
    "Sample the resident memory every millisecond in a thread; `.growth` is the peak over the value at entry."
    def __enter__(self):
        import threading
        self.base = self.peak = _rss_now_mb(); self._stop = threading.Event()
        def sample():
            while not self._stop.wait(0.001): self.peak = max(self.peak, _rss_now_mb())
        self._t = threading.Thread(target=sample, daemon=True); self._t.start()
        return self
    def __exit__(self, *exc):
        self._stop.set(); self._t.join(); self.peak = max(self.peak, _rss_now_mb()); self.growth = self.peak - self.base


def memory_child(variant: str, g: int) -> dict:
    "Run in a fresh process: peak RSS growth of one pass (sdpa forward, trace, output_attentions) over the loaded model."
    import torch
    torch.set_num_threads(1)
    model, proc, row, comps = _perf_inputs(g)
    conv = with_images(*FAMILIES["qwen2_5_vl"].messages(row, "pair", proc, True))
    inputs = teacher_forced_inputs(proc, [conv] * g, [proc.tokenizer.encode(c, add_special_tokens=False) for c in comps])
    if variant == "output_attentions": model.set_attn_implementation("eager")
    kept = 0
    with _PeakRSS() as mem:
        if variant == "sdpa": _plain_forward(model, inputs)
        elif variant == "hooks":
            trs = trace_attention(model, proc, row, comps, chunk_size=g)
            kept = sum(a.nbytes for t in trs for a in [*t.layer_panels.values(), *t.layer_panels_max.values(), t.layer_text])
        elif variant == "output_attentions":
            with torch.no_grad():
                att = model(**{k: v for k, v in inputs.items() if hasattr(v, "to")}, output_attentions=True).attentions
            kept = sum(a.numel() * a.element_size() for a in att)
        else: raise ValueError(f"unknown variant {variant!r}")
    return {"variant": variant, "peak_growth_mb": mem.growth, "kept_mb": kept / 2 ** 20}


def perf_memory(g=8) -> dict:
    "Each variant in a fresh process: peak resident-memory growth during the pass, and the bytes each keeps."
    out = {}
    for v in ("sdpa", "hooks", "output_attentions"):
        r = subprocess.run([sys.executable, __file__, "_memory", v, str(g)], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
        if r.returncode: raise RuntimeError(r.stderr[-2000:])
        out[v] = json.loads(r.stdout.strip().splitlines()[-1])
    out["peak_ratio"] = out["hooks"]["peak_growth_mb"] / max(out["output_attentions"]["peak_growth_mb"], 1e-9)
    out["peak_ratio_vs_forward"] = out["hooks"]["peak_growth_mb"] / max(out["sdpa"]["peak_growth_mb"], 1e-9)
    out["kept_ratio"] = out["hooks"]["kept_mb"] / out["output_attentions"]["kept_mb"]
    return out


def perf_cgro_share(steps=6, from_sft=None, workdir=None) -> dict:
    "Wall time of GRPO runs without and with the CGRO reward (tiny preset, G = 8, 2 prompts per step), interleaved."
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-attn-"))
    if from_sft:   # a model that writes reasoning: CGRO traces every completion
        cfg = json.loads((Path(from_sft) / "train_config.json").read_text())
        over = dict(split=cfg["split"], model=str(from_sft), view=cfg["view"], system_prompt=cfg["system_prompt"])
    else:          # the random model writes junk: CGRO skips most completions, so this is a lower bound
        from topo_r1.curriculum import easy_split
        split = easy_split(workdir / "split", n_sft=2, n_rl=4 * steps, n_test=2, size=64)
        over = dict(split=str(split), model="tiny", tiny=preset_tiny())
    times, junk = {}, []
    for w in (0, 1, 0, 1):   # interleaved, twice each
        d = workdir / f"grpo-cgro{w}-{len(times.get(w, []))}"
        train_model("grpo", "tiny_grpo", progress=False, output_dir=str(d), cgro_weight=w, max_steps=steps,
                    per_device_train_batch_size=16, save_steps=10 ** 6, logging_steps=1, **over)   # 2 prompts x G = 8
        log = json.loads((d / "trainer_state.json").read_text())["log_history"]
        times.setdefault(w, []).append(next(e["train_runtime"] for e in reversed(log) if "train_runtime" in e))
        junk += [e["cgro_reward/junk"] for e in log if "cgro_reward/junk" in e]
    t0, t1 = statistics.median(times[0]), statistics.median(times[1])
    return {"steps": steps, "model": over["model"], "grpo_s": t0, "grpo_cgro_s": t1, "cgro_share": 1 - t0 / t1,
            "junk": float(np.mean(junk)) if junk else None}


# ---------------------------------------------------------------- maps
def _split(path=None, n=96):
    d = DEFAULTS
    split = Path(path) if path else build_split(Path(tempfile.gettempdir()) / "bench-attention", d["size"], d["domain"],
                                                d["max_errors"], d["types"], d["n_sft"], d["n_rl"], d["n_test"], d["seed"],
                                                d["zoom"], d["clarity"])
    return split, load_rows(split, "test", n)


def map_table(spec, rows, max_new_tokens=96, progress=False, taus=(), tiny=None) -> dict:
    "Trace a checkpoint's greedy answers on `rows` and score every map method; a random 'tiny' (sizes `tiny`) is teacher-forced."
    random_tiny = str(spec).startswith("tiny")
    if random_tiny:
        model, proc, adapter = load_vlm("tiny", **(tiny or preset_tiny())); view, sp = "overlay", False
    else:
        model, proc, adapter = load_vlm(spec); p = trained_prompt(spec); view, sp = p["view"], p["system_prompt"]
    model.eval()
    texts = ([adapter.completion(r, view, proc) for r in rows] if random_tiny else
             generate(model, proc, adapter, rows, batch_size=16, max_new_tokens=max_new_tokens, view=view,
                      system_prompt=sp, progress=progress))
    answers = [adapter.parse(t, r, view, proc).detections for t, r in zip(texts, rows)]
    det = None if random_tiny else score_completions(texts, rows, adapter, proc, view)   # the control's texts are the targets
    classical = [classical_baseline(np.asarray(r["image"]), np.asarray(r["mask"]) > 0) for r in rows]
    t = time.perf_counter()
    traces = trace_rows(model, proc, rows, texts, view=view, system_prompt=sp, progress=progress)
    trace_s = time.perf_counter() - t
    res = evaluate_maps(traces, rows, answers, classical)
    for tau in taus:   # ReAL's thresholds swept on the same traces (no new forward pass)
        res[f"ReAL tau={tau:g}"] = evaluate_maps(traces, rows, tau_t=tau, tau_i=tau)["ReAL"]
    grid = next(tr.grid_shape for tr in traces if tr is not None)
    gts = [row_detections(r) for r in rows]   # the written answer and the same answer moved onto its ReAL map's blobs
    f1 = lambda preds: {k: v for k, v in detection_scores(preds, gts).items() if k in F1_KEYS}
    boxes = {"VLM, written answer": f1(answers), "VLM, boxes from attention": f1(attention_detections(traces, answers)[0])}
    return {"methods": res, "boxes": boxes, "n_traced": sum(t is not None for t in traces), "grid": list(grid), "view": view,
            "trace_s_per_row": trace_s / len(rows), "completions": texts,
            "detection": {k: det[k] for k in DETECTION} if det else None}


def run_maps(checkpoints: dict, split=None, n=96, taus=()) -> dict:
    split, rows = _split(split, n)
    out = {"split": str(split), "n": len(rows), "checkpoints": {}}
    for name, spec in {"random init (control)": "tiny", **checkpoints}.items():
        r = map_table(spec, rows, taus=taus); r.pop("completions")
        out["checkpoints"][name] = r
        print(f"\n### {name}: {r['n_traced']} of {len(rows)} traced, grid {r['grid']}, view {r['view']}, detection {_f1(r)}")
        print(table(r["methods"], label="map"))
        print("\n" + table(r["boxes"], F1_KEYS, label="boxes"))
    return out


def _f1(r) -> str:
    "A checkpoint's detection F1 in words (the control has none: it is teacher-forced on the targets)."
    d = r.get("detection")
    return ", ".join(f"{k} {d[k]:.3f}" for k in DETECTION if k in d) if d else "none (teacher-forced targets)"


# ---------------------------------------------------------------- regimes
REGIMES = {"pixel labels": "pixel", "image labels": "image", "no warm-up": None}   # name -> vision_warmup_labels
SUMMARY = ("ReAL", "S_T only", "S_I only", "all tokens", "reasoning tokens", "last answer token", "answer boxes",
           "classical boxes", "structure prior", "uniform")


def quickstart_split(workdir, seed=0) -> Path:
    "The quickstart's easy curriculum (64 px roads, one broken connection at most; 512 SFT, 64 RL, 128 test rows)."
    return build_split(workdir, 64, "roads", 1, ("broken_connection",), 512, 64, 128, seed, 2, 1.0)


def regime_overrides(split, labels, seed=0, warmup=120, sft_steps=450, patch=4) -> dict:
    "The quickstart's SFT overrides (its `train_model` call) for one warm-up regime: labels 'pixel', 'image' or None."
    steps = warmup if labels else 0
    return dict(model="tiny", split=str(split), seed=seed, max_steps=sft_steps, logging_steps=max(1, sft_steps // 30),
                vision_warmup_steps=steps, freeze_vision=steps > 0, vision_warmup_labels=labels or "pixel",
                tiny={**preset_tiny(), "vision_patch_size": patch})


def recipe_diff(sft_dir, over) -> dict:
    "`{key: (found, wanted)}` where the run in `sft_dir` was not trained with `over` on the tiny_sft preset ({}: same recipe)."
    from topo_r1.train_config import load_config
    want = load_config("sft", "tiny_sft", over, progress=False).to_flat()
    have = {"vision_warmup_labels": "pixel", **json.loads((Path(sft_dir) / "train_config.json").read_text())}
    return {k: (have.get(k), v) for k, v in want.items() if k not in ("output_dir", "resume") and have.get(k) != v}


def _run_facts(sft_dir) -> dict:
    "What an SFT folder says about its training: TRL's runtime and loss, the warm-up's labels and last losses."
    d = Path(sft_dir)
    log = json.loads((d / "trainer_state.json").read_text())["log_history"]
    end = next((e for e in reversed(log) if "train_runtime" in e), {})
    warm = json.loads((d / "vision_warmup.json").read_text()) if (d / "vision_warmup.json").is_file() else None
    return {"sft": str(d), "sft_runtime_s": end.get("train_runtime"), "sft_train_loss": end.get("train_loss"),
            "warmup_steps": warm["steps"] if warm else 0, "warmup_labels": warm.get("labels", "pixel") if warm else None,
            "warmup_loss_last20": float(np.mean(warm["loss"][-20:])) if warm else None}


def run_regimes(workdir=None, pixel_sft=None, split=None, n=128, seed=0, warmup=120, sft_steps=450, patch=4, taus=(),
                long_image_warmup=0) -> dict:
    "Train the three warm-up regimes at an equal SFT budget (a finished run of the same recipe is reused), then `maps` on each."
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-regimes-"))
    if split is None:
        split = json.loads((Path(pixel_sft) / "train_config.json").read_text())["split"] if pixel_sft else quickstart_split(workdir, seed)
    rows = load_rows(split, "test", n)
    out = {"split": str(split), "n": len(rows), "recipe": dict(seed=seed, warmup=warmup, sft_steps=sft_steps, patch=patch),
           "regimes": {}, "checkpoints": {}}
    ckpts = {}
    arms = [(name, labels, warmup if labels else 0) for name, labels in REGIMES.items()]
    if long_image_warmup: arms.append((f"image labels, {long_image_warmup} warm-up steps", "image", long_image_warmup))
    for name, labels, steps in arms:
        over = regime_overrides(split, labels, seed, steps, sft_steps, patch)
        d = Path(pixel_sft) if labels == "pixel" and pixel_sft else workdir / f"sft-{labels or 'none'}{'' if steps in (0, warmup) else f'-w{steps}'}"
        if (d / "model.safetensors").is_file() or (labels == "pixel" and pixel_sft):   # a finished run: reused if its recipe is this one
            diff = recipe_diff(d, over)
            if diff: raise ValueError(f"{d} was not trained with the {name!r} recipe: {diff}")
            ckpts[name], wall = d, None
        else:
            t = time.perf_counter()
            ckpts[name] = train_model("sft", "tiny_sft", progress=False, output_dir=str(d), **over)
            wall = time.perf_counter() - t
        out["regimes"][name] = {**_run_facts(ckpts[name]), "reused": wall is None, "wall_s": wall}
        print(f"{name}: {out['regimes'][name]}", flush=True)
    tiny = {**preset_tiny(), "vision_patch_size": patch}
    for name, spec in {"random init (control)": "tiny", **ckpts}.items():
        r = map_table(spec, rows, taus=taus, tiny=tiny); r.pop("completions")
        out["checkpoints"][name] = r
        print(f"\n### {name}: {r['n_traced']} of {len(rows)} traced, grid {r['grid']}, view {r['view']}, detection {_f1(r)}")
        print(table(r["methods"], label="map"))
    print("\n" + regimes_summary(out))
    return out


def regimes_summary(res) -> str:
    "One row per checkpoint: pixel AUROC of each map of SUMMARY, then the answers' F1@0.3, F1@0.5 and image accuracy."
    rows = {}
    for name, r in res["checkpoints"].items():
        d = r.get("detection") or {}
        rows[name] = {**{k: r["methods"][k]["pixel_AUROC"] for k in SUMMARY if k in r["methods"]},
                      **{k: d.get(k, "–") for k in ("F1@0.3", "F1@0.5", "image_accuracy")}}
    return table(rows, (*SUMMARY, "F1@0.3", "F1@0.5", "image_accuracy"), label="pixel AUROC")


def regimes_markdown(res, command: str) -> str:
    "The regimes' results as a markdown page: the command, the runs, the summary and each checkpoint's full table."
    runs = ["| regime | warm-up | SFT steps | SFT s (TRL) | SFT loss | warm-up loss (last 20) | checkpoint |", "|---|---|---|---|---|---|---|"]
    for name, f in res["regimes"].items():
        fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else "–" if v is None else str(v)
        runs.append(f"| {name} | {f['warmup_steps']} steps, {f['warmup_labels'] or 'none'} | {res['recipe']['sft_steps']} | "
                    f"{fmt(f['sft_runtime_s'])} | {fmt(f['sft_train_loss'])} | {fmt(f['warmup_loss_last20'])} | "
                    f"`{f['sft']}`{' (reused)' if f['reused'] else ''} |")
    parts = [f"# Attention maps by vision warm-up regime\n\n```\n{command}\n```\n",
             f"Split `{res['split']}`, {res['n']} test rows; truth = the error boxes. Pixel AUROC pooled over the traced rows. "
             "The control (the random model) is teacher-forced on the SFT targets: its 'answer boxes' are the true boxes "
             "and it has no F1. Image accuracy: the share of rows whose answer has the right number of errors.\n",
             "## Runs\n", "\n".join(runs), "\n## Summary (pixel AUROC of each map; detection scores of the greedy answers)\n", regimes_summary(res)]
    for name, r in res["checkpoints"].items():
        parts += [f"\n## {name}\n\n{r['n_traced']} of {res['n']} rows traced, grid {r['grid']}, view {r['view']}, "
                  f"detection {_f1(r)}.\n", table(r["methods"], label="map")]
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- cgro
def _log_mean(output_dir, key):
    "Mean of a logged metric over a run's log history (trainer_state.json), None when it was not logged."
    f = Path(output_dir) / "trainer_state.json"
    vals = [e[key] for e in json.loads(f.read_text())["log_history"] if key in e] if f.is_file() else []
    return float(np.mean(vals)) if vals else None


def run_cgro(from_sft, grpo_steps=100, repeats=3, n=96, seed=0, workdir=None, grpo_set=(), terms=("jaccard", "boxes"),
             batch=16) -> dict:
    "GRPO vs GRPO + CGRO (one arm per term) from one SFT checkpoint, equal steps: F1, ReAL AUROC, ROAM, per seed."
    from topo_r1.train_config import parse_overrides
    sft_cfg = json.loads((Path(from_sft) / "train_config.json").read_text())
    split = Path(sft_cfg["split"])
    rows = load_rows(split, "test", n)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-cgro-"))
    extra = parse_overrides(list(grpo_set))
    arms = {"GRPO": (0.0, None), **{f"GRPO + CGRO {t}": (1.0, t) for t in terms}}
    res = {a: [] for a in arms}
    for i in range(repeats):
        for arm, (w, term) in arms.items():
            d = workdir / f"{arm.replace(' + ', '_').replace(' ', '_')}-s{seed + i}"
            t = time.perf_counter()
            path = train_model("grpo", "tiny_grpo", progress=False, split=str(split), model=str(from_sft), output_dir=str(d),
                               seed=seed + i, max_steps=grpo_steps, cgro_weight=w, view=sft_cfg["view"],
                               system_prompt=sft_cfg["system_prompt"],
                               **{"per_device_train_batch_size": batch, **({"cgro_term": term} if term else {}), **extra})
            train_s = time.perf_counter() - t
            r = map_table(path, rows)
            model, proc, adapter = load_vlm(str(path))
            det = score_completions(r["completions"], rows, adapter, proc, r["view"])
            roam = make_roam_reward(codec=adapter.codec, model_hw=lambda h, w_: adapter.model_hw(h, w_, r["view"], proc))
            agree = roam(r["completions"], detections=[x["detections"] for x in rows], height=[x["height"] for x in rows],
                         width=[x["width"] for x in rows])
            rec = {"F1@0.3": det["F1@0.3"], "F1@0.5": det["F1@0.5"], "ReAL pixel_AUROC": r["methods"]["ReAL"]["pixel_AUROC"],
                   "all-token pixel_AUROC": r["methods"]["all tokens"]["pixel_AUROC"],
                   "ROAM": float(np.mean([a for a in agree if a is not None])),
                   "CGRO group std": _log_mean(d, "cgro_reward/group_std"),
                   "CGRO zero-std groups": _log_mean(d, "cgro_reward/frac_zero_std"),
                   "frac_reward_zero_std": _log_mean(d, "frac_reward_zero_std"), "train_s": train_s}
            res[arm].append(rec)
            print(f"{arm} seed {seed + i}: " + ", ".join(f"{k} {v:.3f}" for k, v in rec.items() if v is not None), flush=True)
    keys = list(res["GRPO"][0])
    summary = {arm: {k: mean_sd([r[k] for r in rs]) if all(r[k] is not None for r in rs) else (None, None) for k in keys}
               for arm, rs in res.items()}
    fmt = lambda m, s: format_score(m, False, 3) + (f" ± {s:.3f}" if s is not None and m is not None else "")
    print("\n" + table({a: {k: fmt(m, s) for k, (m, s) in v.items()} for a, v in summary.items()}, keys, label="arm"))
    return {"from_sft": str(from_sft), "grpo_steps": grpo_steps, "batch": batch, "repeats": repeats, "n": len(rows),
            "terms": list(terms), "runs": res, "summary": {a: {k: list(v) for k, v in s.items()} for a, s in summary.items()}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("perf"); pp.add_argument("--repeats", type=int, default=7); pp.add_argument("--g", type=int, default=8)
    pp.add_argument("--grpo-steps", type=int, default=6)
    pp.add_argument("--from-sft", default=None, help="an SFT folder whose model writes reasoning (default: the random tiny model)")
    pm = sub.add_parser("maps"); pm.add_argument("--checkpoint", nargs="*", default=[], metavar="NAME=DIR")
    pm.add_argument("--n", type=int, default=96); pm.add_argument("--split", default=None)
    pm.add_argument("--taus", nargs="*", type=float, default=[0.0, 0.25, 0.75], help="ReAL thresholds (tau_t = tau_i) also scored")
    pc = sub.add_parser("cgro"); pc.add_argument("--from-sft", required=True); pc.add_argument("--grpo-steps", type=int, default=100)
    pc.add_argument("--repeats", type=int, default=3); pc.add_argument("--n", type=int, default=96)
    pc.add_argument("--seed", type=int, default=0); pc.add_argument("--workdir", default=None)
    pc.add_argument("--grpo-set", nargs="*", default=[], metavar="KEY=VALUE")
    pc.add_argument("--terms", nargs="*", default=["jaccard", "boxes"], help="CGRO terms, one arm each (topo_r1.cgro.CGRO_TERMS)")
    pc.add_argument("--batch", type=int, default=16, help="completions per GRPO step (num_generations per prompt)")
    pr = sub.add_parser("regimes"); pr.add_argument("--pixel-sft", default=None, help="reuse this SFT folder as the pixel arm (same recipe)")
    pr.add_argument("--split", default=None); pr.add_argument("--n", type=int, default=128); pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--workdir", default=None); pr.add_argument("--warmup", type=int, default=120)
    pr.add_argument("--sft-steps", type=int, default=450); pr.add_argument("--patch", type=int, default=4)
    pr.add_argument("--taus", nargs="*", type=float, default=[0.0, 0.25, 0.75], help="ReAL thresholds (tau_t = tau_i) also scored")
    pr.add_argument("--long-image-warmup", type=int, default=0, help="also an image-label arm with this many warm-up steps (0: none)")
    pk = sub.add_parser("_memory"); pk.add_argument("variant"); pk.add_argument("g", type=int)
    ns = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    if ns.cmd == "_memory": print(json.dumps(memory_child(ns.variant, ns.g))); return 0
    if ns.cmd == "perf":
        times, mem, share = perf_times(ns.g, ns.repeats), perf_memory(ns.g), perf_cgro_share(ns.grpo_steps, ns.from_sft)
        res = {"times": times, "memory": mem, "cgro": share}
        print(f"trace of G={times['G']} ({times['seq_len']} tokens): {times['trace_s'] * 1e3:.0f} ms; sdpa forward "
              f"{times['forward_s'] * 1e3:.0f} ms; ratio {times['ratio']:.2f} (without tokenising: {times['ratio_forward_only']:.2f})")
        print(f"peak RSS growth: sdpa forward {mem['sdpa']['peak_growth_mb']:.1f} MB, trace {mem['hooks']['peak_growth_mb']:.1f} MB, output_attentions "
              f"{mem['output_attentions']['peak_growth_mb']:.1f} MB (ratio {mem['peak_ratio']:.2f}); kept: "
              f"{mem['hooks']['kept_mb']:.2f} vs {mem['output_attentions']['kept_mb']:.2f} MB (ratio {mem['kept_ratio']:.3f})")
        print(f"GRPO step: {share['grpo_s'] / share['steps']:.2f} s, with CGRO {share['grpo_cgro_s'] / share['steps']:.2f} s: "
              f"CGRO share {share['cgro_share']:.0%} (junk completions skipped: {share['junk']})")
    elif ns.cmd == "maps":
        res = run_maps(dict(c.split("=", 1) for c in ns.checkpoint), ns.split, ns.n, ns.taus)
    elif ns.cmd == "regimes":
        res = run_regimes(ns.workdir, ns.pixel_sft, ns.split, ns.n, ns.seed, ns.warmup, ns.sft_steps, ns.patch, ns.taus,
                          ns.long_image_warmup)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "attention_regimes.md").write_text(regimes_markdown(res, "python bench/attention.py " + " ".join(argv or sys.argv[1:])))
    else:
        res = run_cgro(ns.from_sft, ns.grpo_steps, ns.repeats, ns.n, ns.seed, ns.workdir, ns.grpo_set, ns.terms, ns.batch)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"attention_{ns.cmd}.json").write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
