"""How much of a GRPO step is signal? The gradient noise scale of GRPO and of SFT at one checkpoint, side by side.

    .venv/bin/python bench/gradient_noise.py --from-sft DIR [--units 256] [--seed 0] [--grpo-set KEY=VALUE ...]

From one SFT checkpoint (a `bench/learning.py` or `topo-r1 train sft` output folder, on its own split) it takes the
gradient of one *unit* at a time, with the kit's own TRL trainers and presets (`tiny_sft`, `tiny_grpo`):

- SFT: one `rl` row, its completion-only cross-entropy (`SFTTrainer.compute_loss`);
- GRPO: one `rl` prompt with its G sampled answers, scored by the Topo-R1 reward, advantages within the group
  (`GRPOTrainer`'s own generation, scoring and loss).

From the N unit gradients g_i (trainable weights only) it estimates the mean gradient G and the trace of the
per-unit covariance tr(Σ), and reports the simple noise scale B = tr(Σ) / |G|² (McCandlish et al. 2018, "An
empirical model of large-batch training"): the batch, in units, at which a step's gradient holds as much signal as
noise. With a batch b far below B, each step is mostly noise, and whatever the learning rate and batch, a run of
N units carries a signal-to-noise ratio of about sqrt(N / B). So the number to compare is N_budget / B: how many
noise scales of data one wall-clock budget buys, from the seconds each unit costs. The interval of B is ±1.96
jackknife standard errors (leaving one unit out). It also prints the cosine between the two mean gradients (do they point the same way?).

Writes gradient_noise.json to --out (default bench/results/). Uses TRL's internal
`GRPOTrainer._generate_and_score_completions` (TRL 1.x) so that a GRPO unit is exactly what a GRPO step computes.
"""
import argparse, json, sys, time
from pathlib import Path

import numpy as np


def noise_scale(grads: np.ndarray, # (N, P): one gradient per unit
               ) -> dict:
    """B = tr(Σ)/|G|², with tr(Σ) the per-unit covariance trace and |G|² unbiased (|mean|² − tr(Σ)/N); inf when |G|² ≤ 0.
    `B_interval` is ±1.96 jackknife standard errors (leave one unit out)."""
    g = np.asarray(grads, dtype=np.float64)
    n = len(g)
    if n < 3: raise ValueError(f"the noise scale needs at least 3 unit gradients, got {n}")
    gram = g @ g.T          # every estimate is a function of the units' inner products: leaving one out is cheap

    def estimate(keep):     # keep: 0/1 per unit
        m = keep.sum()
        mean2 = float(keep @ gram @ keep) / m ** 2
        trace = (float(keep @ np.diag(gram)) - m * mean2) / (m - 1)
        g2 = mean2 - trace / m
        return trace, g2, trace / g2 if g2 > 0 else float("inf")
    trace, g2, b = estimate(np.ones(n))
    loo = np.array([estimate(np.arange(n) != i)[2] for i in range(n)])
    se = float(np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum())) if np.isfinite(loo).all() else float("inf")
    return {"units": n, "trace": float(trace), "g2": float(g2), "B": float(b), "B_interval": [float(b - 1.96 * se), float(b + 1.96 * se)],
            "zero_units": int((np.abs(g).sum(1) == 0).sum())}


def _flat_grad(model) -> np.ndarray:
    import torch
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().flatten()
                      for p in model.parameters() if p.requires_grad]).double().numpy()


def _trainer(kind, sft_dir, split, seed, over):
    "The kit's TRL trainer of a continuation from `sft_dir`, as `topo_r1.train.train` sets it up (vision frozen)."
    import tempfile
    import torch
    from topo_r1.train import make_trainer, load_model, training_dataset
    from topo_r1.train_config import load_config
    cfg = load_config(kind, f"tiny_{kind}", {"split": split, "model": str(sft_dir), "subset": "rl", "seed": seed,
                                            "freeze_vision": True, "output_dir": tempfile.mkdtemp(prefix=f"noise-{kind}-"), **over})
    torch.manual_seed(seed)
    model, processor, adapter = load_model(cfg)
    data = training_dataset(cfg.dataset, adapter, processor, cfg.view, cfg.system_prompt, cfg.think,
                            keep_columns=kind == "grpo")
    tr = make_trainer(cfg, model, processor, adapter, data)
    tr.current_gradient_accumulation_steps = 1   # set by Trainer.train(); GRPO's loss normaliser reads it
    tr.model.train()
    return tr, cfg


def unit_gradients(kind: str, sft_dir, split: str, units: int, seed: int = 0, over=None, progress=True):
    "(N × P gradients, seconds per unit) of `units` random `rl` rows: SFT rows, or GRPO prompts with their G answers."
    from tqdm.auto import tqdm
    tr, cfg = _trainer(kind, sft_dir, split, seed, over or {})
    data = tr.train_dataset
    G = cfg.trl_value("num_generations")
    idx = np.random.default_rng(seed).choice(len(data), units, replace=units > len(data))
    out, t = [], time.perf_counter()
    for i in tqdm(idx, desc=f"{kind} unit gradients", disable=not progress):
        if kind == "sft": inputs = tr._prepare_inputs(tr.data_collator([data[int(i)]]))
        else: inputs = tr._generate_and_score_completions([data[int(i)]] * G)   # one prompt, G answers: a GRPO group
        tr.model.zero_grad()
        tr.compute_loss(tr.model, inputs).backward()
        out.append(_flat_grad(tr.model))
    return np.stack(out), (time.perf_counter() - t) / units


def run(from_sft, units=256, seed=0, grpo_over=None, budget_s=180.0, out=None, threads=1, progress=True, log=print) -> dict:
    "Both noise scales at one checkpoint, their cost per unit and what one `budget_s` of training buys; writes gradient_noise.json."
    import torch
    if threads: torch.set_num_threads(threads)
    cfg_file = Path(from_sft) / "train_config.json"
    if not cfg_file.is_file(): raise FileNotFoundError(f"--from-sft {from_sft}: no train_config.json there (not a kit training folder)")
    split = json.loads(cfg_file.read_text())["split"]
    res, means = {}, {}
    for kind in ("sft", "grpo"):
        g, s = unit_gradients(kind, from_sft, split, units, seed, grpo_over if kind == "grpo" else None, progress)
        res[kind] = noise_scale(g) | {"s_per_unit": s}
        res[kind]["units_in_budget"] = budget_s / s
        res[kind]["budget_over_B"] = res[kind]["units_in_budget"] / res[kind]["B"]
        means[kind] = g.mean(0)
        log(f"{kind}: B = {res[kind]['B']:.0f} units, {s * 1000:.0f} ms per unit")
    a, b = means["sft"], means["grpo"]
    result = {"from_sft": str(from_sft), "units": units, "seed": seed, "budget_s": budget_s, "grpo_over": grpo_over or {},
              "threads": torch.get_num_threads(), **res,
              "cosine_sft_grpo": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))}
    out = Path(out or Path(__file__).resolve().parent / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradient_noise.json").write_text(json.dumps(result, indent=2))
    return result


def table(r: dict) -> str:
    "A markdown table: per stage, B with its interval, the cost of a unit and the noise scales one budget buys."
    lines = [f"| gradient of | noise scale B (units) | 95 % interval | zero-gradient units | s per unit | units in {r['budget_s']:.0f} s | budget / B |",
             "|---|---|---|---|---|---|---|"]
    for kind, unit in (("sft", "one row"), ("grpo", "one prompt, G answers")):
        m = r[kind]; lo, hi = m["B_interval"]
        lines.append(f"| {kind.upper()}, {unit} | {m['B']:.0f} | {lo:.0f}–{hi:.0f} | {m['zero_units']} of {m['units']} | "
                     f"{m['s_per_unit']:.3f} | {m['units_in_budget']:.0f} | {m['budget_over_B']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from topo_r1.train_config import parse_overrides
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from-sft", required=True, metavar="DIR", help="an SFT output folder (train_config.json + its split)")
    p.add_argument("--units", type=int, default=256, help="unit gradients per stage (rows for SFT, prompts for GRPO)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=float, default=180.0, help="the wall-clock budget (s) to price the units in")
    p.add_argument("--grpo-set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the GRPO preset")
    p.add_argument("--out", default=None, help="where gradient_noise.json goes (default: bench/results)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ns = p.parse_args(argv)
    r = run(ns.from_sft, ns.units, ns.seed, parse_overrides(ns.grpo_set), ns.budget, ns.out, ns.threads)
    print(f"\n{r['units']} units per stage from {r['from_sft']} (seed {r['seed']}, {r['threads']} torch thread(s))\n")
    print(table(r))
    print(f"\ncosine between the mean SFT and mean GRPO gradients: {r['cosine_sft_grpo']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
