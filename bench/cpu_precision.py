"""Seconds per SFT step of the tiny preset on this CPU: TRL's defaults (bf16 autocast, gradient checkpointing) against
the kit's CPU defaults (float32, no checkpointing), side by side.

    .venv/bin/python bench/cpu_precision.py [--steps 30] [--rounds 2] [--patch 7]

TRL turns on `bf16` and `gradient_checkpointing` by default. `topo_r1.train_config.trl_arguments` turns both off
when there is no GPU, because a CPU without bf16 instructions (AVX-512 BF16 or AMX) emulates every bf16 matmul.
This script trains the `tiny_sft` preset (one torch thread, 64 px easy roads) for `--steps` steps in each setting,
`--rounds` times in turn, and prints the median of TRL's `train_runtime` per step and the ratio to float32. The
CPU's flags (`avx512_bf16`, `amx_bf16`) are printed too: on a CPU that has them the gap shrinks.
"""
import argparse, statistics, sys, tempfile
from pathlib import Path

SETTINGS = {"bf16 + checkpointing (TRL's defaults)": {"bf16": True, "gradient_checkpointing": True},
            "float32 + checkpointing": {"bf16": False, "gradient_checkpointing": True},
            "float32 (the kit's CPU default)": {"bf16": False, "gradient_checkpointing": False}}


def cpu_flags() -> str:
    try: flags = set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split())
    except (OSError, StopIteration): return "unknown"
    return ", ".join(f"{f}: {'yes' if f in flags else 'no'}" for f in ("avx512f", "avx512_bf16", "amx_bf16"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--patch", type=int, default=7, help="vision patch of the tiny model, in pixels")
    ns = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from topo_r1.curriculum import easy_split
    from topo_r1.evaluate import training_log
    from topo_r1.stages import train_model
    from topo_r1.train_config import load_config
    work = Path(tempfile.mkdtemp(prefix="bench-cpu-precision-"))
    split = work / "split"
    easy_split(split, n_sft=8 * ns.steps, n_rl=8, n_test=8, seed=0, size=64, domain="roads", max_errors=1,
               types=("broken_connection",), zoom=2, clarity=1.0)
    tiny = {**load_config("sft", "tiny_sft", {"split": str(split)}).tiny, "vision_patch_size": ns.patch}
    per_step = {name: [] for name in SETTINGS}
    for r in range(ns.rounds):
        for i, (name, over) in enumerate(SETTINGS.items()):
            out = train_model("sft", "tiny_sft", progress=False, split=str(split), output_dir=str(work / f"r{r}-{i}"),
                              max_steps=ns.steps, tiny=tiny, seed=0, **over)
            runtime = next(float(e["train_runtime"]) for e in reversed(training_log(out)) if "train_runtime" in e)
            per_step[name].append(runtime / ns.steps)
            print(f"round {r}: {name}: {per_step[name][-1]:.3f} s/step", flush=True)
    base = statistics.median(per_step["float32 (the kit's CPU default)"])
    print(f"\nCPU flags: {cpu_flags()}; torch threads 1; {ns.steps} steps x {ns.rounds} rounds, patch {ns.patch} px\n")
    print("| setting | s / step (median) | × float32 |\n|---|---|---|")
    for name, v in per_step.items():
        print(f"| {name} | {statistics.median(v):.3f} | {statistics.median(v) / base:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
