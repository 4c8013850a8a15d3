"""Is a 2-process step the same step? First-step loss and gradient norm of 2 processes × batch b against 1 process × 2b.

    .venv/bin/python bench/data_parallel.py [--batch 4] [--kind sft grpo] [--out FILE.json]

Each run is the user's own command, in a subprocess, on the CPU: `accelerate launch --multi_gpu --num_processes 2 -m
topo_r1.cli train KIND --config tiny_KIND ...` for 2 processes, `python -m topo_r1.cli train KIND ...` for one, on one
tiny split built in a temporary folder, with OMP_NUM_THREADS=1 and no GPU visible. It reads the first entry of each
run's `trainer_state.json` (`logging_steps=1`): the loss and the gradient norm of step 1, before any update.

Why `--multi_gpu` on a CPU: `accelerate launch --cpu --num_processes 2` starts ONE process (with `--cpu`, accelerate's
simple launcher runs the script once unless an MPI hostfile is given; huggingface/accelerate#2741). `--multi_gpu` goes
through torchrun, which starts the 2 processes; with no GPU they join over gloo (accelerate's MULTI_CPU).

Data-parallel training promises that the two layouts match: the same seed shuffles the same rows, process k takes the
k-th slice of b rows of the global batch, and the gradients are averaged across processes. For SFT they do, exactly,
since `topo_r1.train.token_mean_loss` (before it, each process took the mean over its own tokens: 6.3014 / 4.628
against 6.2980 / 4.608 at b = 4).

GRPO starts from a short SFT run (its completions need a `<think>` block for CGRO to trace anything). Its first step
cannot match: it samples G completions per prompt, and TRL seeds each process differently (`set_seed(seed,
device_specific=True)`: seed + process index, so that processes do not draw the same completions), and even with one
seed the draws of a batch of 2b prompts are not those of two batches of b. Other completions, other rewards, another
loss: the script prints them, rewards included, to show by how much. Measured (2-core CPU, b = 4, --sft-steps 80):
mean reward 1.251 vs 0.976, loss 0 vs 0.0480, gradient norm 0 vs 1.077 (in the 2-process step every group's answers
happened to score alike, so no advantage and no gradient). SFT: loss 6.297976, gradient norm 4.608224 in both layouts.
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SFT_SET = ("lr_scheduler_type=constant", "warmup_steps=0", "logging_steps=1", "save_steps=1000", "vision_warmup_steps=0")
GRPO_SET = ("logging_steps=1", "save_steps=1000", "num_generations=2", "max_completion_length=48", "cgro_weight=1")


def env() -> dict:
    "The subprocesses' environment: one thread each (2 processes on 2 cores), no GPU, the kit from this checkout."
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}


def command(kind: str, # "sft" or "grpo"
            nproc: int, # processes: 1 runs plain python, more run `accelerate launch --multi_gpu` (torchrun)
            overrides=(), # key=value config overrides
            script=None,  # a script to launch instead of `-m topo_r1.cli` (it takes the CLI's arguments)
           ) -> list[str]:
    "The command line of one training run, as a user types it."
    target = [str(script)] if script else ["-m", "topo_r1.cli"]
    if nproc == 1: head = [sys.executable, *target]
    else: head = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(nproc),
                  "--num_machines", "1", "--main_process_port", "0", # 0: a free port, so that runs side by side never clash
                  "--mixed_precision", "no", "--dynamo_backend", "no", *target]
    return [*head, "train", kind, "--config", f"tiny_{kind}", *overrides]


def launch(kind, nproc, overrides=(), script=None, extra_env=None, timeout=600) -> subprocess.CompletedProcess:
    "Run one training; raise with the end of its stderr when it fails."
    r = subprocess.run(command(kind, nproc, overrides, script), capture_output=True, text=True, env={**env(), **(extra_env or {})},
                       timeout=timeout)
    if r.returncode != 0: raise RuntimeError(f"{kind} with {nproc} process(es) failed:\n{r.stderr[-3000:]}")
    return r


def log_history(output_dir) -> list[dict]:
    "The run's `trainer_state.json` log, one entry per logged step (and a last summary)."
    return json.loads((Path(output_dir) / "trainer_state.json").read_text())["log_history"]


def first_step(output_dir) -> dict:
    "Loss and gradient norm of the run's first step (`logging_steps=1`)."
    e = log_history(output_dir)[0]
    if e.get("step") != 1: raise ValueError(f"{output_dir}: the first log entry is step {e.get('step')}, not 1: use logging_steps=1")
    return {k: e[k] for k in ("loss", "grad_norm", "reward") if k in e}


def make_split(out, n_sft=16, n_rl=8):
    "A tiny easy split (64 px) in `out`."
    from topo_r1.curriculum import easy_split
    return easy_split(Path(out), n_sft=n_sft, n_rl=n_rl, n_test=2, size=64, seed=0)


def compare(kind, split, work, batch=4, extra=()) -> dict:
    "First step of 2 processes × `batch` and of 1 process × 2·`batch`, and their absolute differences."
    runs = {}
    for nproc, b in ((2, batch), (1, 2 * batch)):
        out = Path(work) / f"{kind}_{nproc}x{b}"
        base = SFT_SET if kind == "sft" else GRPO_SET
        launch(kind, nproc, [f"split={split}", f"output_dir={out}", "max_steps=1", f"per_device_train_batch_size={b}", *base, *extra])
        runs[f"{nproc}x{b}"] = first_step(out)
    a, b = runs.values()
    return {"runs": runs, "abs_diff": {k: abs(a[k] - b[k]) for k in a}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4, help="per-device batch b of the 2-process run (SFT rows, GRPO completions)")
    p.add_argument("--kind", nargs="+", default=["sft", "grpo"], choices=["sft", "grpo"])
    p.add_argument("--sft-steps", type=int, default=80, help="steps of the SFT run GRPO starts from (80: its answers are well formed)")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    a = p.parse_args(argv)
    res = {"batch": a.batch}
    with tempfile.TemporaryDirectory() as work:
        split = make_split(Path(work) / "split")
        if "sft" in a.kind: res["sft"] = compare("sft", split, work, a.batch)
        if "grpo" in a.kind:
            start = Path(work) / "sft_start"
            launch("sft", 1, [f"split={split}", f"output_dir={start}", f"max_steps={a.sft_steps}", *SFT_SET])
            res["grpo"] = compare("grpo", split, work, a.batch, [f"model={start}"])
    for kind in ("sft", "grpo"):
        if kind not in res: continue
        print(f"{kind}: first step, 2 processes x {a.batch} vs 1 process x {2 * a.batch}")
        for name, r in res[kind]["runs"].items(): print(f"  {name:>5}: " + "  ".join(f"{k} {v:.7g}" for k, v in r.items()))
        print("  |diff|: " + "  ".join(f"{k} {v:.2e}" for k, v in res[kind]["abs_diff"].items()))
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__": main()
