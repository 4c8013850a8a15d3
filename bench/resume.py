"""How far a resumed training run ends from the same run never interrupted: the largest weight difference.

    python bench/resume.py                      # tiny SFT then tiny GRPO, resumed with the kit's reload and without it
    python bench/resume.py --kinds sft --lora   # the same for LoRA adapters
    python bench/resume.py --grpo-set steps_per_generation=2 save_steps=1   # a checkpoint inside a generation batch

For each stage, one run goes from start to end (`save_steps` apart checkpoints, constant learning rate). A second run
starts in a fresh output folder holding a copy of the first run's first checkpoint, and `topo_r1.train.train` resumes
it (`resume: true`, the default), in this same process: no kill, so any difference is the resume's own. It is done
twice: with the kit's reload of the checkpoint's weights (`topo_r1.train.resume_weights`), and without it (the
trainer's own reload, as before the fix). GRPO starts from the SFT run's model (a random model never earns a reward,
so its gradients would all be zero). Prints a markdown table of max |w_resumed - w_uninterrupted| over all weights,
at the second checkpoint and at the end, and writes it to --out as JSON. `tests/test_resume.py` checks the same with
a real SIGKILL.
"""
import argparse, contextlib, json, shutil, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMON = {"lr_scheduler_type": "constant", "warmup_steps": 0, "save_total_limit": None, "logging_steps": 1,
          "report_to": "none"}
STAGES = {  # the tiny presets, cut to a few seconds a run
    "sft": {"max_steps": 24, "save_steps": 8, "per_device_train_batch_size": 2},
    "grpo": {"max_steps": 6, "save_steps": 2, "per_device_train_batch_size": 4, "num_generations": 2,
             "max_completion_length": 24},
}


def split(out: Path) -> Path:
    "A tiny easy split: 8 SFT rows, 8 RL rows, each with 0 or 1 error."
    from topo_r1.curriculum import easy_split
    return easy_split(out, n_sft=8, n_rl=8, n_test=1, size=64, seed=0, max_errors=1)


def weights(folder: Path) -> dict:
    "The tensors a run saved in `folder` (the model, or the adapter when LoRA)."
    from safetensors.torch import load_file
    for f in (folder / "adapter" / "adapter_model.safetensors", folder / "adapter_model.safetensors"):
        if f.exists(): return load_file(str(f))
    return load_file(str(folder / "model.safetensors"))


def max_diff(a: Path, b: Path) -> float:
    "max |a - b| over every weight the two folders hold (they must hold the same names)."
    wa, wb = weights(a), weights(b)
    if set(wa) != set(wb): raise ValueError(f"{a} and {b} hold different weights")
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


@contextlib.contextmanager
def without_kit_reload():
    "Within the block, resumed runs reload weights the trainer's own way (the kit's fix off)."
    import topo_r1.train as t
    keep = t.resume_weights
    t.resume_weights = lambda trainer: None
    try: yield
    finally: t.resume_weights = keep


def run(kind: str, overrides: dict, out: Path, resume_from: Path | None = None) -> Path:
    "Train one stage into `out`; with `resume_from`, `out` starts with a copy of that checkpoint."
    from topo_r1.train import train
    shutil.rmtree(out, ignore_errors=True)
    if resume_from is not None: shutil.copytree(resume_from, out / resume_from.name)
    return train(kind, f"tiny_{kind}", {**overrides, "output_dir": str(out)}, progress=False)


def stage(kind: str, overrides: dict, work: Path) -> tuple[dict, Path]:
    "One uninterrupted run and its resumed copies (kit reload, trainer's reload): the weight differences, and the run."
    save, steps = overrides["save_steps"], overrides["max_steps"]
    t = time.perf_counter()
    ref = run(kind, overrides, work / f"{kind}_ref")
    seconds = time.perf_counter() - t
    first, second = ref / f"checkpoint-{save}", f"checkpoint-{2 * save}"   # the first two checkpoints
    out = {"steps": steps, "save_steps": save, "resumed_from": first.name, "compared_at": second, "run_s": round(seconds, 1)}
    for name, ctx in (("kit", contextlib.nullcontext), ("trainer", without_kit_reload)):
        with ctx(): res = run(kind, overrides, work / f"{kind}_{name}", resume_from=first)
        state = json.loads((res / "trainer_state.json").read_text())
        out[name] = {"max_diff_end": max_diff(ref, res), "max_diff_at": max_diff(ref / second, res / second),
                     "global_step": state["global_step"]}
    out["moved_after_checkpoint"] = max_diff(first, ref)   # the run went on from the checkpoint
    return out, ref


def table(result: dict) -> str:
    "The markdown table of a result."
    rows = ["| stage | weights reloaded by | resumed from | steps | max abs diff at 2nd checkpoint | at the end "
            "| moved after the 1st checkpoint |", "|---|---|---|---|---|---|---|"]
    for kind, r in result["stages"].items():
        for name, label in (("trainer", "the trainer (before)"), ("kit", "the kit (after)")):
            d = r[name]
            rows.append(f"| {kind} | {label} | {r['resumed_from']} | {d['global_step']} | {d['max_diff_at']:.3g} "
                        f"| {d['max_diff_end']:.3g} | {r['moved_after_checkpoint']:.3g} |")
    return "\n".join(rows)


def start_model(data: Path, work: Path, lora: bool) -> Path:
    "The SFT model GRPO starts from, when SFT was not measured."
    return run("sft", {**COMMON, **STAGES["sft"], "split": str(data), "lora": lora}, work / "sft_start")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kinds", nargs="+", default=["sft", "grpo"], choices=list(STAGES), help="stages to measure")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (compares the adapters)")
    p.add_argument("--sft-set", nargs="*", default=[], metavar="KEY=VALUE", help="SFT config overrides")
    p.add_argument("--grpo-set", nargs="*", default=[], metavar="KEY=VALUE", help="GRPO config overrides")
    p.add_argument("--out", default=None, help="JSON file to write (default: bench/results/resume[_lora].json)")
    p.add_argument("--keep", action="store_true", help="keep the run folders (printed)")
    ns = p.parse_args(argv)
    import torch, transformers, trl
    from topo_r1.train_config import parse_overrides
    torch.set_num_threads(1)   # the same arithmetic in every run
    work = Path(tempfile.mkdtemp(prefix="topo_r1_resume_"))
    data = split(work / "split")
    result = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
              "lora": ns.lora, "sft_set": ns.sft_set, "grpo_set": ns.grpo_set, "stages": {}}
    sft_model = None
    for kind in ns.kinds:
        ov = {**COMMON, **STAGES[kind], "split": str(data), "lora": ns.lora,
              **parse_overrides(ns.sft_set if kind == "sft" else ns.grpo_set)}
        if kind == "grpo": ov["model"] = str(sft_model or start_model(data, work, ns.lora))
        result["stages"][kind], ref = stage(kind, ov, work)
        if kind == "sft": sft_model = ref
    print(table(result))
    out = Path(ns.out) if ns.out else ROOT / "bench" / "results" / f"resume{'_lora' if ns.lora else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out}")
    if ns.keep: print(f"run folders: {work}")
    else: shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
