"""Does a tiny VLM trained from scratch on this CPU learn? Random init -> SFT -> GRPO, against SFT continued.

    .venv/bin/python bench/learning.py [--workdir DIR] [--size 64] [--sft-steps N] [--grpo-steps N] [--budget time|steps] [--repeats 3] [--from-sft DIR]

Builds the easy one-domain curriculum (`topo_r1.curriculum.easy_split`, cached in --workdir), then trains with the kit's own
TRL path (`topo_r1.stages.train_model`, presets `tiny_sft` / `tiny_grpo`) and evaluates every stage on the
held-out `test` subset with greedy decoding:

- `random`: the random-initialised tiny model (the preset's `tiny` sizes, no training);
- `sft`: SFT from scratch on the `sft` subset, after `--vision-warmup` steps that teach the vision tower to mark
  the tokens holding error pixels (`topo_r1.warmup.warm_up_vision`), then frozen during SFT;
- `sft+sft`: SFT continued from the `sft` checkpoint on the `rl` subset for the same extra budget GRPO gets
  (`--budget time`: as many SFT steps as fit in GRPO's measured wall time; `--budget steps`: as many steps as GRPO);
- `sft+grpo`: GRPO with the Topo-R1 reward from the same `sft` checkpoint on the `rl` subset;
- `sft+placebo` (with `--placebo`): the same GRPO with each group's rewards permuted among its answers
  (`shuffle_rewards`): the same advantages, update sizes and zero-spread groups, no signal. What GRPO gains over
  its placebo is what it learned from the reward; what both lose is the noise of the updates;
- `sft+grpo-ds` (with `--dynamic-sampling`): the same GRPO with `dynamic_sampling: true` (`topo_r1.dynamic_sampling`:
  groups whose rewards have no spread are dropped before the loss and refilled from more prompts), given plain GRPO's
  measured training time (equal wall time: it stops at the step that ends nearest to it). `dynamic_sampling()`
  reports, per GRPO run, the share of its compute spent on groups without spread and the prompts with signal per second;
- `empty`: the training-free baseline that always answers `[]`.

The two continuations start from one SFT checkpoint but sample (GRPO) and shuffle (SFT) by their seed, and at this
size one run moves F1@0.3 by several points either way: `--repeats N` trains each of them N times (seeds seed,
seed+1, ...) and reports the mean and the spread (sample standard deviation) over the repeats.

Per stage it prints F1@0.3, F1@0.5, aF1, the mean Topo-R1 reward of the greedy completions (`topo_reward`, the
preset's weights), the format-ok rate, the count error, the box scale (median answered box area over the median
true one: above 1, the answers hedge with larger boxes) and the training wall time; writes `learning.json` and
`learning.png` to --out (default bench/results/, git-ignored). All numbers come from one run, so they compare side
by side.
"""
import argparse, contextlib, functools, json, sys, tempfile, time
from pathlib import Path

import numpy as np

from topo_r1.curriculum import easy_split
from topo_r1.evaluate import box_scale, mean_sd, score_completions, training_log
from topo_r1.metrics import defined_mean, detection_scores, format_score, is_undefined
from topo_r1.stages import train_model
from topo_r1.train_config import load_config
from topo_r1.vlm import generate, load_rows, load_vlm, trained_prompt

STAGES = ("random", "sft", "sft+sft", "sft+grpo", "sft+grpo-ds", "sft+placebo")
CONTINUATIONS = ("sft+sft", "sft+grpo", "sft+grpo-ds", "sft+placebo")   # trained `repeats` times from the one SFT checkpoint
METRICS = ("F1@0.3", "F1@0.5", "P@0.5", "R@0.5", "aF1", "mean_reward", "format_ok", "image_accuracy", "count_error", "box_scale")
# The defaults: the preset that fits in <= 30 min on a 2-core CPU (see the tutorial nbs/tutorials/04_sft_then_grpo.ipynb).
DEFAULTS = dict(size=64, zoom=2, clarity=1.0, domain="roads", max_errors=1, types="broken_connection", n_sft=2048, n_rl=256, n_test=512,
                sft_steps=800, grpo_steps=15, vision_warmup=600, budget="time", seed=0, max_new_tokens=96, eval_batch=16,
                repeats=3, placebo=False, dynamic_sampling=False, max_refills=4)


def build_split(workdir, size=64, domain="roads", max_errors=1, types=("broken_connection",), n_sft=2048, n_rl=256,
                n_test=512, seed=0, zoom=2, clarity=1.0) -> Path:
    "The easy split for these options, built once and cached under `workdir`."
    types = tuple(types.split(",")) if isinstance(types, str) else tuple(types)
    key = f"easy-{domain}-{size}px-z{zoom}-c{clarity:g}-e{max_errors}-{'+'.join(t[:5] for t in types)}-{n_sft}-{n_rl}-{n_test}-s{seed}"
    out = Path(workdir) / key
    if not (out / "dataset_dict.json").is_file():
        easy_split(out, n_sft=n_sft, n_rl=n_rl, n_test=n_test, seed=seed, size=size, domain=domain,
                   max_errors=max_errors, types=types, zoom=zoom, clarity=clarity)
    return out


def evaluate_model(model_spec, rows, tiny=None, seed=0, batch_size=16, max_new_tokens=96, view="pair",
                   system_prompt=False) -> dict:
    "Greedy completions of `rows` scored (`score_completions`: detection metrics, mean Topo-R1 reward, format-ok rate)."
    kw = {"seed": seed, **(tiny or {})} if str(model_spec).startswith("tiny") else {}
    # a trained folder knows its prompt (train_config.json); the untrained model gets the SFT preset's
    if not str(model_spec).startswith("tiny"):
        tp = trained_prompt(model_spec); view, system_prompt = tp["view"], tp["system_prompt"]
    model, processor, adapter = load_vlm(str(model_spec), **kw)
    model.eval()
    t = time.perf_counter()
    comps = generate(model, processor, adapter, rows, batch_size=batch_size, max_new_tokens=max_new_tokens, view=view,
                     system_prompt=system_prompt, progress=False)   # prompts exactly as in training
    gen_s = time.perf_counter() - t
    # the reward with the presets' weights (0.10 / 0.85 / 0.05, piecewise φ, clDice): what GRPO maximises
    scores = score_completions(comps, rows, adapter, processor, view)
    boxes = [d.box for c, r in zip(comps, rows) for d in adapter.parse(c, r, view, processor).detections]
    return {**scores, "box_scale": box_scale(boxes, rows), "eval_s": gen_s, "completions": comps}


def _log(output_dir) -> list[dict]:
    try: return training_log(output_dir)
    except FileNotFoundError: return []


def _steps(log) -> int:
    return max((e.get("step", 0) for e in log), default=0)

def _runtime(log, default: float) -> float:
    "TRL's `train_runtime` of a finished run (seconds spent in the training loop), else `default`."
    return next((float(e["train_runtime"]) for e in reversed(log) if "train_runtime" in e), default)


def run(workdir=None, out=None, size=64, domain="roads", max_errors=1, types="broken_connection", n_sft=2048, n_rl=256,
        n_test=512, sft_steps=800, grpo_steps=15, budget="time", seed=0, max_new_tokens=96, eval_batch=16,
        sft_over=None, grpo_over=None, more_over=None, threads=1, figure=True, progress=False, log=print, zoom=2,
        clarity=1.0, vision_warmup=600, repeats=3, from_sft=None, placebo=False, dynamic_sampling=False, max_refills=4) -> dict:
    """The whole benchmark; returns (and writes to `out`/learning.json) the results dict.

    `from_sft`: an SFT output folder of an earlier run; its stage is evaluated, not trained again, and the
    continuations start from it on its own split (a cheap way to compare GRPO or SFT-continued settings).
    `placebo`: also train GRPO with shuffled rewards (`sft+placebo`) in every repeat.
    `dynamic_sampling`: also train GRPO with dynamic sampling (`sft+grpo-ds`, `max_refills`) for plain GRPO's time."""
    import torch
    if repeats < 1: raise ValueError(f"repeats must be at least 1, got {repeats}")
    sft_run = _sft_run(from_sft) if from_sft else None
    if threads: torch.set_num_threads(threads)  # 1: a tiny model gains nothing from 2 threads, and loses 10x when shared
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-learning-"))
    out = Path(out or Path(__file__).resolve().parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    split = Path(sft_run["split"]) if sft_run else \
        build_split(workdir, size, domain, max_errors, types, n_sft, n_rl, n_test, seed, zoom, clarity)
    build_s = time.perf_counter() - t0
    rows = load_rows(split, "test")
    # eyes first (warmup.warm_up_vision), then kept fixed while SFT teaches the language model to read them
    sft_over = {"vision_warmup_steps": vision_warmup, "freeze_vision": vision_warmup > 0, **(sft_over or {})}
    if sft_run: sft_over = {k: sft_run[k] for k in ("vision_warmup_steps", "freeze_vision")}
    cfg = load_config("sft", "tiny_sft", {"split": str(split), **sft_over})
    b = _Bench(split, workdir / "runs", lambda spec: evaluate_model(spec, rows, cfg.tiny, seed, eval_batch, max_new_tokens,
                                                                     cfg.view, cfg.system_prompt), progress, log)
    b.baselines(rows)
    sft = b.sft(from_sft, seed, sft_steps, sft_over)
    more_steps = [b.continuations(i, sft, seed, grpo_steps, budget, sft_over["freeze_vision"], grpo_over, more_over, placebo,
                                  dynamic_sampling and {"max_refills": max_refills}) for i in range(repeats)]
    result = {
        "options": dict(size=size, zoom=zoom, vision_warmup=vision_warmup, clarity=clarity, domain=domain, max_errors=max_errors, types=types, n_sft=n_sft, n_rl=n_rl,
                        n_test=n_test, sft_steps=sft_steps, grpo_steps=grpo_steps, budget=budget, seed=seed, repeats=repeats,
                        max_new_tokens=max_new_tokens, threads=torch.get_num_threads(), sft_over=sft_over, grpo_over=grpo_over or {},
                        more_over=more_over or {}, sft_continued_steps=more_steps, from_sft=str(from_sft) if from_sft else None,
                        placebo=placebo, dynamic_sampling=dynamic_sampling, max_refills=max_refills),
        "split": str(split), "n_test": len(rows), "build_s": build_s, "total_s": time.perf_counter() - t0,
        **b.summary(repeats, seed, rows),
    }
    (out / "learning.json").write_text(json.dumps(result, indent=2, default=str))
    if figure:
        fig = plot_stages(result)
        fig.savefig(out / "learning.png", dpi=110, bbox_inches="tight")
    return result


class _Bench:
    "The stages of one benchmark run: trains them, evaluates them and keeps their results, wall times and logs."
    def __init__(self, split, runs, evaluate, progress, log):
        self.split, self.runs, self.ev, self.progress, self.log = split, runs, evaluate, progress, log
        self.res, self.walls, self.logs, self.clocks, self.stamp = {}, {}, {}, {}, time.strftime("%Y%m%d-%H%M%S")

    def stage(self, name, kind, time_limit=None, **over):
        "Train one stage with the kit's TRL path (GRPO timed, `time_limit` seconds of training at most); returns its output folder."
        d = self.runs / f"{self.stamp}-{name.replace('+', '_').replace('#', '-')}"
        t = time.perf_counter()
        with _grpo_clock(time_limit) as clock:
            path = train_model(kind, f"tiny_{kind}", progress=self.progress, split=str(self.split), output_dir=str(d), **over)
        self.walls[name], self.logs[name] = time.perf_counter() - t, _log(path)
        if kind == "grpo": self.clocks[name] = {**clock, "groups_per_step": _groups_per_step(path)}
        self.log(f"{name}: trained in {self.walls[name]:.0f} s")
        return path

    def report(self, name):
        m = self.res[name]
        self.log(f"{name}: F1@0.3 {m['F1@0.3']:.3f} aF1 {m['aF1']:.3f} reward {m['mean_reward'] or 0:.3f}")

    def baselines(self, rows):
        "`empty` (always []) and the random-initialised model."
        empty = detection_scores([[] for _ in rows], [list(r["detections"]) for r in rows])
        self.res["empty"], self.walls["empty"] = {**empty, "mean_reward": None, "format_ok": None}, 0.0
        self.res["random"], self.walls["random"] = self.ev("tiny"), 0.0
        self.report("random")

    def sft(self, from_sft, seed, steps, over):
        "The SFT stage: trained here, or an earlier run's folder evaluated again."
        if from_sft:
            sft = Path(from_sft); self.logs["sft"] = _log(sft); self.walls["sft"] = _runtime(self.logs["sft"], 0.0)
            self.log(f"sft: {sft} (trained earlier, {_steps(self.logs['sft'])} steps)")
        else: sft = self.stage("sft", "sft", **{"seed": seed, "max_steps": steps, **over})   # --sft-set seed=N wins
        self.res["sft"] = self.ev(sft); self.report("sft")
        return sft

    def continuations(self, i, sft, seed, grpo_steps, budget, freeze_vision, grpo_over, more_over, placebo=False, ds=None) -> int:
        "Repeat `i` of GRPO (its placebo, its dynamic sampling) and of SFT continued from `sft` on the same budget; returns SFT-continued's steps."
        tag = "" if i == 0 else f"#{i}"
        grpo = self.stage(f"sft+grpo{tag}", "grpo", seed=seed + i, model=str(sft), max_steps=grpo_steps, **(grpo_over or {}))
        self.res[f"sft+grpo{tag}"] = self.ev(grpo)
        if ds:   # dynamic sampling for plain GRPO's training time (TRL's train_runtime), at most 10x its steps
            limit = _runtime(self.logs[f"sft+grpo{tag}"], self.walls[f"sft+grpo{tag}"])
            dyn = self.stage(f"sft+grpo-ds{tag}", "grpo", time_limit=limit, seed=seed + i, model=str(sft), max_steps=10 * grpo_steps,
                             **{**(grpo_over or {}), "dynamic_sampling": True, **ds})
            self.res[f"sft+grpo-ds{tag}"] = self.ev(dyn)
            self.report(f"sft+grpo-ds{tag}")
        if placebo:   # the same run with each group's rewards shuffled among its answers: no signal, the same noise
            shuffled = self.stage(f"sft+placebo{tag}", "grpo", seed=seed + i, model=str(sft), max_steps=grpo_steps,
                                  **{**(grpo_over or {}), "shuffle_rewards": True})
            self.res[f"sft+placebo{tag}"] = self.ev(shuffled)
            self.report(f"sft+placebo{tag}")
        # the budget counts optimiser time (TRL's train_runtime), not model loading and dataset preparation
        sec_per_sft_step = _runtime(self.logs["sft"], self.walls["sft"]) / max(_steps(self.logs["sft"]), 1)
        glog = self.logs[f"sft+grpo{tag}"]
        n = (_steps(glog) or grpo_steps) if budget == "steps" else \
            max(1, round(_runtime(glog, self.walls[f"sft+grpo{tag}"]) / sec_per_sft_step))
        more = self.stage(f"sft+sft{tag}", "sft", seed=seed + i, model=str(sft), subset="rl", max_steps=n,
                          **{"freeze_vision": freeze_vision, **(more_over or {})})   # the same recipe continued
        self.res[f"sft+sft{tag}"] = self.ev(more)
        for name in (f"sft+grpo{tag}", f"sft+sft{tag}"): self.report(name)
        return n

    def summary(self, repeats, seed, rows) -> dict:
        "Per stage the mean (± sd over repeats) of every metric, the repeats themselves, the logs and a few examples."
        per_run = lambda k, i: k if i == 0 else f"{k}#{i}"
        names = [k for k in STAGES if k in self.res]
        repeated = {k: [self.res[per_run(k, i)] for i in range(repeats)] for k in CONTINUATIONS if k in self.res}
        stages = {}
        for k in ["empty", *names]:
            runs_k = repeated.get(k, [self.res[k]])
            stats = {m: mean_sd([r.get(m) for r in runs_k]) for m in METRICS}
            stages[k] = {m: v[0] for m, v in stats.items()}
            stages[k]["sd"] = {m: v[1] for m, v in stats.items()} if k in repeated else None
            skipped = {m: defined_mean([r.get(m) for r in runs_k])[1] for m in METRICS}   # undefined scores the means skipped
            stages[k]["skipped"] = {m: n for m, n in skipped.items() if n} if k in repeated else None
            stages[k]["train_s"] = mean_sd([self.walls[per_run(k, i)] for i in range(len(runs_k))])[0] if k in repeated else self.walls[k]
            stages[k]["eval_s"] = mean_sd([r.get("eval_s") for r in runs_k])[0]
            stages[k]["n_runs"] = len(runs_k)
        return {"stages": stages,
                "repeats": {k: [{m: r.get(m) for m in METRICS} | {"seed": seed + i, "train_s": self.walls[per_run(k, i)]}
                                for i, r in enumerate(v)] for k, v in repeated.items()},
                "logs": self.logs, "clocks": self.clocks,
                "examples": {k: [{"sample_id": r["sample_id"], "truth": list(r["detections"]), "completion": c}
                                 for r, c in zip(rows[:8], self.res[k]["completions"][:8])] for k in names}}


@contextlib.contextmanager
def _grpo_clock(time_limit=None):
    "While training: time a GRPO trainer's generation and rewards (yields the totals), and stop it near `time_limit` s."
    import topo_r1.train as tr
    from transformers import TrainerCallback
    clock = {"generate_s": 0.0, "reward_s": 0.0}
    def timed(f, key):
        @functools.wraps(f)
        def g(*a, **k):
            t = time.perf_counter()
            try: return f(*a, **k)
            finally: clock[key] += time.perf_counter() - t
        return g

    class Stop(TrainerCallback):   # ends at the step whose end lies nearest to the limit
        def on_train_begin(self, args, state, control, **kw): self.t0 = time.perf_counter()
        def on_step_end(self, args, state, control, **kw):
            spent = time.perf_counter() - self.t0
            if spent + spent / max(state.global_step, 1) / 2 >= time_limit: control.should_training_stop = True

    own = tr.make_trainer
    def make(cfg, *a, **k):
        trainer = own(cfg, *a, **k)
        if cfg.kind != "grpo": return trainer
        trainer._generate_single_turn = timed(trainer._generate_single_turn, "generate_s")
        trainer.reward_funcs = [timed(f, "reward_s") for f in trainer.reward_funcs]
        if time_limit: trainer.add_callback(Stop())
        return trainer
    tr.make_trainer = make
    try: yield clock
    finally: tr.make_trainer = own


def _groups_per_step(output_dir) -> int:
    "Groups of one optimiser step of a GRPO run (one process): per-device batch x accumulation / G."
    c = json.loads((Path(output_dir) / "train_config.json").read_text())
    return c.get("per_device_train_batch_size", 8) * c.get("gradient_accumulation_steps", 1) // c.get("num_generations", 8)


def dynamic_sampling(result: dict) -> str:
    """Per GRPO stage (mean ± sd over repeats): where its compute went, as a markdown table.

    zero-spread share of compute = (generation + reward time) x the share of generated groups without spread
    + (the rest of the training time: forward, backward, optimiser) x the share of trained groups without spread."""
    def per_run(name, log, clock):
        steps = [e for e in log if "loss" in e]
        runtime = _runtime(log, 0.0) or float("nan")
        ds = any("dynamic_sampling/groups_kept" in e for e in steps)
        n = clock["groups_per_step"]
        z_gen = [e["dynamic_sampling/frac_zero_std_sampled" if ds else "frac_reward_zero_std"] for e in steps]
        z_fb = [e["dynamic_sampling/frac_zero_std_kept" if ds else "frac_reward_zero_std"] for e in steps]
        n_steps = _steps(log)
        signal = sum(e["dynamic_sampling/groups_kept"] * (1 - e["dynamic_sampling/frac_zero_std_kept"]) if ds else n * (1 - e["frac_reward_zero_std"])
                     for e in steps) * n_steps / max(len(steps), 1)
        sampled = np.mean([e["dynamic_sampling/groups_sampled"] for e in steps]) if ds else n
        n_trained = np.mean([e["dynamic_sampling/groups_kept"] for e in steps]) if ds else n
        gen = clock["generate_s"] + clock["reward_s"]
        share = (gen * np.mean(z_gen) + max(runtime - gen, 0) * np.mean(z_fb)) / runtime
        return {"steps": n_steps, "train s": runtime, "gen+reward s": gen, "groups sampled/step": sampled,
                "zero-spread generated %": 100 * np.mean(z_gen), "zero-spread trained %": 100 * np.mean(z_fb),
                "zero-spread compute %": 100 * share, "generated, not trained %": 100 * (1 - n_trained / sampled),
                "prompts with signal/s": signal / runtime}
    rows = {}
    for name, log in result["logs"].items():
        if name in result.get("clocks", {}) and any("loss" in e for e in log):
            rows.setdefault(name.split("#")[0], []).append(per_run(name, log, result["clocks"][name]))
    if not rows: return ""
    keys = list(next(iter(rows.values()))[0])
    lines = ["| run | runs | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
    for name, rs in rows.items():
        fmt = lambda k, v: f"{v:.2f}" if k.endswith("/s") else f"{v:.1f}"
        cells = [fmt(k, m) if len(rs) == 1 else f"{fmt(k, m)} ± {fmt(k, sd)}" for k, (m, sd) in ((k, mean_sd([r[k] for r in rs])) for k in keys)]
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sft_run(folder) -> dict:
    "The run config (`train_config.json`) of an earlier SFT output folder; its split must still exist."
    f = Path(folder) / "train_config.json"
    if not f.is_file(): raise FileNotFoundError(f"--from-sft {folder}: no train_config.json there (not a kit training folder)")
    c = json.loads(f.read_text())
    if not (Path(c.get("split", "")) / "dataset_dict.json").is_file():
        raise FileNotFoundError(f"--from-sft {folder}: its split {c.get('split')!r} is gone; rebuild it or train SFT again")
    return c


def table(result: dict) -> str:
    "A markdown table of the stages; a repeated stage shows its mean ± the spread over its runs."
    head = "| stage | runs | F1@0.3 | F1@0.5 | P@0.5 | aF1 | mean reward | format ok | count err | box scale | train s | eval s |"
    lines = [head, "|" + "---|" * 12]

    def f(m, key, pct=False):
        v, sd, n = m.get(key), (m.get("sd") or {}).get(key), (m.get("skipped") or {}).get(key)
        if is_undefined(v): return "–"
        s = format_score(v, pct, 1 if pct else 3)
        s = s if is_undefined(sd) else s + (f" ± {100 * sd:.1f}" if pct else f" ± {sd:.3f}")
        return s + (f" ({n} undefined skipped)" if n else "")
    for k, m in result["stages"].items():
        lines.append(f"| {k} | {m.get('n_runs', 1)} | {f(m, 'F1@0.3', True)} | {f(m, 'F1@0.5', True)} | {f(m, 'P@0.5', True)} | {f(m, 'aF1', True)} | "
                     f"{f(m, 'mean_reward')} | {f(m, 'format_ok')} | {f(m, 'count_error')} | {f(m, 'box_scale')} | {m['train_s']:.0f} | "
                     f"{'–' if m.get('eval_s') is None else round(m['eval_s'])} |")
    return "\n".join(lines)


SIGNAL = ("reward", "reward_std", "frac_reward_zero_std", "kl", "entropy", "completions/mean_length", "completions/clipped_ratio")


def grpo_signal(result: dict) -> str:
    "What TRL logged during each GRPO run (the mean over its logged steps), as a markdown table: is there signal per group?"
    lines = ["| run | " + " | ".join(SIGNAL) + " |", "|" + "---|" * (len(SIGNAL) + 1)]
    for name, log in result["logs"].items():
        if not name.startswith(("sft+grpo", "sft+placebo")): continue
        cells = []
        for k in SIGNAL:
            v = [e[k] for e in log if isinstance(e.get(k), (int, float))]
            cells.append(f"{np.mean(v):.3f}" if v else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_stages(result: dict):
    "Bars of F1@0.3, aF1 and mean reward per stage (with the spread over repeats), next to the training curves."
    import matplotlib.pyplot as plt
    st = result["stages"]
    names = list(st)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    x = np.arange(len(names))
    for i, (key, lab) in enumerate((("F1@0.3", "F1@0.3"), ("aF1", "aF1"), ("mean_reward", "mean reward"))):
        err = [(st[n].get("sd") or {}).get(key) or 0 for n in names]
        axes[0].bar(x + (i - 1) * 0.27, [st[n][key] or 0 for n in names], 0.27, yerr=err, capsize=2, label=lab)
    axes[0].set_xticks(x, names, fontsize=8); axes[0].legend(fontsize=7); axes[0].set_title("held-out test, greedy")
    for name, log in result["logs"].items():
        pts = [(e["step"], e["loss"]) for e in log if "loss" in e]
        if pts and name.split("#")[0] in ("sft", "sft+sft"): axes[1].plot(*zip(*pts), ".-", label=name, alpha=0.8)
        pts = [(e["step"], e["reward"]) for e in log if "reward" in e]
        if pts and name.startswith(("sft+grpo", "sft+placebo")): axes[2].plot(*zip(*pts), ".-", label=name, alpha=0.8)
    axes[1].set_xlabel("step"); axes[1].set_title("SFT loss")
    axes[2].set_xlabel("step"); axes[2].set_title("GRPO mean reward (sampled)")
    for ax in axes[1:]:
        if ax.lines: ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _kv(items) -> dict:
    from topo_r1.train_config import parse_overrides
    return parse_overrides(items)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = DEFAULTS
    p.add_argument("--workdir", default=None, help="split cache and run folders (default: a new temp folder)")
    p.add_argument("--out", default=None, help="where learning.json / learning.png go (default: bench/results)")
    p.add_argument("--size", type=int, default=d["size"])
    p.add_argument("--zoom", type=int, default=d["zoom"], help="scenes drawn at size/zoom and enlarged (errors zoom× larger)")
    p.add_argument("--clarity", type=float, default=d["clarity"], help="0: textured photo, 1: the true structure drawn plainly")
    p.add_argument("--domain", default=d["domain"])
    p.add_argument("--max-errors", type=int, default=d["max_errors"])
    p.add_argument("--types", default=d["types"], help="comma-separated error types")
    p.add_argument("--n-sft", type=int, default=d["n_sft"])
    p.add_argument("--n-rl", type=int, default=d["n_rl"])
    p.add_argument("--n-test", type=int, default=d["n_test"])
    p.add_argument("--sft-steps", type=int, default=d["sft_steps"], help="-1: one epoch of the sft subset")
    p.add_argument("--grpo-steps", type=int, default=d["grpo_steps"])
    p.add_argument("--vision-warmup", type=int, default=d["vision_warmup"], help="vision warm-up steps before SFT (0: none)")
    p.add_argument("--repeats", type=int, default=d["repeats"],
                   help="runs of GRPO and of SFT-continued from the SFT checkpoint (seeds seed, seed+1, ...): mean ± spread")
    p.add_argument("--from-sft", default=None, metavar="DIR",
                   help="skip SFT: start the continuations from this earlier SFT output folder (and its split)")
    p.add_argument("--placebo", action="store_true",
                   help="also train GRPO with each group's rewards shuffled (sft+placebo): what GRPO learns beyond the noise")
    p.add_argument("--dynamic-sampling", action="store_true",
                   help="also train GRPO with dynamic_sampling: true (sft+grpo-ds) for plain GRPO's training time")
    p.add_argument("--max-refills", type=int, default=d["max_refills"], help="max_refills of sft+grpo-ds")
    p.add_argument("--budget", choices=("time", "steps"), default=d["budget"],
                   help="extra budget of SFT-continued: GRPO's wall time or its step count")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--max-new-tokens", type=int, default=d["max_new_tokens"])
    p.add_argument("--eval-batch", type=int, default=d["eval_batch"])
    p.add_argument("--sft-set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="overrides of the SFT stage (seed=N: another SFT start on the same split)")
    p.add_argument("--grpo-set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the GRPO stage")
    p.add_argument("--more-set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of SFT-continued")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--progress", action="store_true", help="show TRL's progress bars")
    ns = p.parse_args(argv)
    r = run(ns.workdir, ns.out, ns.size, ns.domain, ns.max_errors, ns.types, ns.n_sft, ns.n_rl, ns.n_test, ns.sft_steps,
            ns.grpo_steps, ns.budget, ns.seed, ns.max_new_tokens, ns.eval_batch, _kv(ns.sft_set), _kv(ns.grpo_set),
            _kv(ns.more_set), ns.threads, progress=ns.progress, zoom=ns.zoom, clarity=ns.clarity, vision_warmup=ns.vision_warmup,
            repeats=ns.repeats, from_sft=ns.from_sft, placebo=ns.placebo, dynamic_sampling=ns.dynamic_sampling,
            max_refills=ns.max_refills)
    o = r["options"]
    print(f"\ntorch threads {o['threads']}; {o['domain']}, {o['size']} px (zoom {o['zoom']}, clarity {o['clarity']:g}), 0-{o['max_errors']} errors of {o['types']}; test n={r['n_test']}; "
          f"{o['repeats']} run(s) of each continuation; SFT-continued: {o['sft_continued_steps']} steps (budget: {o['budget']})\n")
    print(table(r))
    print("\nGRPO signal (TRL's logs, mean over the logged steps):\n")
    print(grpo_signal(r))
    if o["dynamic_sampling"]:
        print("\nWhere GRPO's compute went (zero-spread: groups whose rewards do not vary; bench/learning.py dynamic_sampling):\n")
        print(dynamic_sampling(r))
    print(f"\nsplit built in {r['build_s']:.0f} s; total wall time {r['total_s']:.0f} s ({r['total_s'] / 60:.1f} min)")
    print(f"wrote {Path(ns.out or Path(__file__).resolve().parent / 'results') / 'learning.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
