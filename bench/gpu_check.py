"""The GPU check of issue 26: Qwen2.5-VL-3B and Qwen3-VL-4B at their true sizes, random weights, the kit's own code.

    python bench/gpu_check.py                     # one 80 GB GPU, about 5-8 minutes, downloads nothing
    python bench/gpu_check.py --smoke --out DIR   # the same code on the CPU at reduced width and depth (CI, ~1 minute)
    python bench/gpu_check.py --device cpu --true-size   # the true configurations on the CPU: one forward, one trace

For each model, on a 512x512 `pair` prompt (two pictures) with G = 8:
- `generate` throughput for 8 completions of 256 new tokens;
- `trace_attention` of those 8 completions (one traced forward) against one plain forward of the same batch;
- one SFT step and one GRPO step (Topo-R1 + ROAM + CGRO rewards), each with LoRA and with full fine-tuning, from the
  presets in topo_r1/configs (their batch sizes, gradient checkpointing, frozen vision) through `load_config` and
  the kit's TRL trainers (`topo_r1.train`), with max_steps=1. The GRPO step's wall time is split into generation,
  each reward function, forward-backward and the optimizer.

Random weights write random tokens, so every completion is forced, token by token, to a valid 256-token answer
(`<think>` reasoning, then boxes): generation costs what it costs (one forward per token), and the rewards and CGRO's
attention trace run their real paths. The tokenizer is the kit's tiny one; the vocabulary keeps its true size.
Writes gpu_check.json and gpu_check.md to --out (default bench/results) and prints the table.
With --true-size on the CPU it writes gpu_check_true_size_cpu.json (parameter counts, memory, time, token grids).
"""
from __future__ import annotations
import argparse, contextlib, functools, gc, importlib.metadata, importlib.util, json, math, os, platform, resource, sys
import tempfile, time, traceback
from pathlib import Path

MODELS = {"qwen2_5_vl_3b": "qwen2_5_vl", "qwen3_vl_4b": "qwen3_vl"}   # published name -> family
G = 8                                      # completions per prompt (GRPO's group)
SIZES = {  # picture side, new tokens per completion, gradient accumulation (None: the preset's)
    "check": dict(side=512, new_tokens=256, grad_accum=None, system_prompt=True),
    # 8x8 merged tokens (4 windows) per Qwen2.5-VL picture; no system prompt: 3x shorter sequences
    "smoke": dict(side=224, new_tokens=80, grad_accum=1, system_prompt=False),
}
EXTRA_REWARDS = dict(w_roam=0.5, cgro_weight=0.5)   # the presets run Topo-R1 alone; the check times all three rewards
SMOKE = {   # reduced width and depth; patch, merge, window, full-attention layout, head_dim and rope sections stay true
    "qwen2_5_vl_3b": dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=2,
                          num_key_value_heads=1, vocab_size=1024, vision_depth=4, vision_hidden_size=160,
                          vision_intermediate_size=320, vision_num_heads=2, vision_fullatt_block_indexes=[1, 3]),
    "qwen3_vl_4b": dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=2,
                        num_key_value_heads=1, vocab_size=1024, vision_depth=4, vision_hidden_size=128,
                        vision_intermediate_size=256, vision_num_heads=2, vision_deepstack_visual_indexes=[1, 2, 3]),
}
KIT_TRANSFORMERS = "5.20"   # the kit's lowest tested transformers (pyproject.toml)


# ---------------------------------------------------------------- device, clocks and memory

class Clock:
    "Accumulated wall time per named piece; synchronises the GPU around each piece so the times are honest."
    def __init__(self, device: str): self.device, self.s = device, {}

    def sync(self):
        import torch
        if self.device.startswith("cuda"): torch.cuda.synchronize()

    @contextlib.contextmanager
    def __call__(self, name: str):
        self.sync(); t = time.perf_counter()
        try: yield
        finally:
            self.sync(); self.s[name] = self.s.get(name, 0.0) + time.perf_counter() - t


def reset_peak(device: str):
    import torch
    if device.startswith("cuda"): torch.cuda.reset_peak_memory_stats()

def peak_gb(device: str) -> float:
    "Peak GPU memory allocated since the last `reset_peak` (GB); on the CPU the process's peak RSS so far."
    import torch
    if device.startswith("cuda"): return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9   # Linux: kilobytes

def free(device: str):
    import torch
    gc.collect()
    if device.startswith("cuda"): torch.cuda.empty_cache()

def attention_implementation(device: str) -> str:
    "flash_attention_2 when `flash_attn` imports (on a GPU), else sdpa."
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        try:
            import flash_attn  # noqa: F401
            return "flash_attention_2"
        except Exception: pass
    return "sdpa"

def environment(device: str, attn: str, smoke: bool) -> dict:
    import torch
    def v(n):
        try: return importlib.metadata.version(n) if importlib.util.find_spec(n) else None
        except importlib.metadata.PackageNotFoundError: return "?"
    env = {"device": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
           "device_kind": device, "smoke": smoke, "python": platform.python_version(), "torch": torch.__version__,
           **{n: v(n) for n in ("transformers", "trl", "peft", "accelerate", "datasets", "vllm", "flash_attn")},
           "attn_implementation": attn, "threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        env["card_memory_gb"] = torch.cuda.get_device_properties(0).total_memory / 1e9
        env["free_memory_gb_at_start"] = torch.cuda.mem_get_info()[0] / 1e9
    return env


# ---------------------------------------------------------------- models, prompts and the forced completions

def build_model(name: str, tokenizer, device: str, dtype, attn: str, overrides: dict, seed: int = 0):
    "A random-initialised model of a published configuration, built in `dtype` directly on `device` (no float32 copy)."
    import torch, transformers
    from topo_r1.families import get_family
    from topo_r1.model_sizes import published_config
    cfg = published_config(name, tokenizer=tokenizer, **overrides)
    cls = getattr(transformers, get_family(MODELS[name]).model_class)
    torch.manual_seed(seed)
    with torch.device(device): model = cls._from_config(cfg, dtype=dtype, attn_implementation=attn)
    ids = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = ids, ids[1]
    return model.eval()

def processor_for(name: str, tokenizer, side: int):
    "The kit's tiny processor at the family's true patch size, letting a side x side picture through whole."
    from topo_r1.families import get_family
    from topo_r1.tiny import tiny_processor
    return tiny_processor(MODELS[name], tokenizer, max_pixels=side * side, patch_size=get_family(MODELS[name]).patch_size)

def write_split(out: Path, side: int, n_sft: int = 16, n_rl: int = 4) -> Path:
    "A synthetic split (sft, rl, test) of side x side rows, written by the kit's own `easy_split`: one step of each preset."
    from topo_r1.core import ERROR_TYPES
    from topo_r1.curriculum import easy_split
    return easy_split(out, n_sft=n_sft, n_rl=n_rl, n_test=1, seed=0, size=side, domain="vessels", max_errors=2,
                      types=ERROR_TYPES)

def forced_targets(adapter, processor, row: dict, length: int, n: int = G) -> list[list[int]]:
    "`n` different valid completions of exactly `length` tokens: the row's answer, boxes moved by 4k px, reasoning padded."
    from topo_r1.core import as_detections, row_detections, Detection, Box
    tok, out = processor.tokenizer, []
    for k in range(n):
        h, w = int(row["height"]), int(row["width"])
        dets = [Detection(Box(d.box.x1 + 4 * k, d.box.y1 + 4 * k, min(d.box.x2 + 4 * k, w), min(d.box.y2 + 4 * k, h)),
                          d.type) for d in as_detections(row_detections(row))]
        text = adapter.completion({**row, "detections": [d.to_dict() for d in dets]}, "pair", processor)
        head, _, rest = text.partition("</think>")
        tail = tok.encode("</think>" + rest, add_special_tokens=False)
        body = tok.encode(head, add_special_tokens=False)
        while len(body) < length: body = body + tok.encode(" " + head[len("<think>"):], add_special_tokens=False)
        ids = body[:length - len(tail)] + tail
        if len(ids) != length or "</think>" not in tok.decode(ids):
            raise ValueError(f"a forced completion must be {length} tokens with a closed think block; the answer alone takes {len(tail)}")
        out.append(ids)
    return out

def force_generation(model, targets: list[list[int]], clock: Clock | None = None):
    "Make `model.generate` write `targets` (row b gets target b mod len), timed as 'generation'; PEFT's generate reaches it too."
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList
    table = torch.tensor(targets)

    class Force(LogitsProcessor):
        "Every logit -inf but the target's: sampling then has one choice, at the full cost of the forward."
        def __init__(self): self.start = None
        def __call__(self, input_ids, scores):
            self.start = input_ids.shape[1] if self.start is None else self.start
            t = min(input_ids.shape[1] - self.start, table.shape[1] - 1)
            rows = torch.arange(input_ids.shape[0]) % table.shape[0]
            want = table[rows, t].to(scores.device)
            return torch.full_like(scores, float("-inf")).scatter_(1, want[:, None], 0.0)

    original = model.generate
    @functools.wraps(original)
    def generate(*args, **kw):
        kw["logits_processor"] = LogitsProcessorList([*(kw.get("logits_processor") or []), Force()])
        with (clock("generation") if clock else contextlib.nullcontext()): return original(*args, **kw)
    model.generate = generate
    return model


# ---------------------------------------------------------------- generate, trace and a plain forward

def measure_inference(model, processor, adapter, row: dict, targets, device: str, system_prompt: bool = True) -> dict:
    "generate throughput (G completions, as long as the targets), then `trace_attention` of them against one plain forward."
    import torch
    from topo_r1.tracing import teacher_forced_inputs, trace_attention, with_images
    clock, out = Clock(device), {}
    force_generation(model, targets, clock)
    messages, images = adapter.messages(row, "pair", processor, system_prompt)
    conv = with_images(messages, images)
    batch = processor.apply_chat_template([conv] * G, add_generation_prompt=True, tokenize=True, return_dict=True,
                                          return_tensors="pt", processor_kwargs={"padding": True, "padding_side": "left"})
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
    image_tokens = int((batch["input_ids"][0] == model.config.image_token_id).sum())
    out.update(prompt_tokens=int(batch["input_ids"].shape[1]), image_tokens=image_tokens,
               image_grid_thw=batch["image_grid_thw"][:2].tolist())
    n = len(targets[0])
    gen = dict(max_new_tokens=n, min_new_tokens=n, do_sample=True, temperature=1.0)
    warm = device.startswith("cuda")                      # the GPU's first calls set up kernels: not timed
    if warm:
        with torch.inference_mode(): model.generate(**batch, max_new_tokens=2, min_new_tokens=2)
    clock.s.clear(); reset_peak(device)
    with torch.inference_mode(): ids = model.generate(**batch, **gen)
    new = int((ids.shape[1] - batch["input_ids"].shape[1]) * ids.shape[0])
    out.update(generate_s=clock.s["generation"], generate_tokens=new, generate_tokens_per_s=new / clock.s["generation"],
               generate_peak_memory_gb=peak_gb(device))
    texts = [processor.tokenizer.decode(t) for t in targets]
    comp_ids = [processor.tokenizer.encode(t, add_special_tokens=False) for t in texts]
    tf = teacher_forced_inputs(processor, [conv] * G, comp_ids)
    plain = {k: v.to(device) for k, v in tf.items() if hasattr(v, "to")}
    plain["pixel_values"] = plain["pixel_values"].to(model.dtype)
    if warm:
        with torch.inference_mode(): model(**plain, use_cache=False, logits_to_keep=1)
    reset_peak(device)
    with clock("forward"), torch.inference_mode(): model(**plain, use_cache=False, logits_to_keep=1)
    out.update(forward_ms=1e3 * clock.s["forward"], forward_peak_memory_gb=peak_gb(device),
               traced_sequence_tokens=int(plain["input_ids"].shape[1]))
    del plain; free(device); reset_peak(device)
    with clock("trace"): traces = trace_attention(model, processor, row, texts, view="pair", system_prompt=system_prompt, chunk_size=G)
    out.update(trace_ms=1e3 * clock.s["trace"], trace_peak_memory_gb=peak_gb(device), traced_layers=len(traces[0].layers),
               trace_grid=list(traces[0].grid_shape))
    return out


# ---------------------------------------------------------------- one training step through the kit's trainers

def step_callback(clock: Clock):
    "A `TrainerCallback` timing the step (begin to end) and the optimizer (pre to post `optimizer.step()`)."
    from transformers import TrainerCallback

    class StepTimes(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw): clock.sync(); self.t0 = time.perf_counter()
        def on_pre_optimizer_step(self, args, state, control, **kw): clock.sync(); self.t1 = time.perf_counter()
        def on_optimizer_step(self, args, state, control, **kw):
            clock.sync(); clock.s["optimizer"] = clock.s.get("optimizer", 0.0) + time.perf_counter() - self.t1
        def on_step_end(self, args, state, control, **kw):
            clock.sync(); clock.s["step"] = clock.s.get("step", 0.0) + time.perf_counter() - self.t0
    return StepTimes()

def instrument(trainer, clock: Clock):
    "Time the trainer's pieces in place: training_step, input preparation (generation + rewards) and each reward."
    def timed(fn, name):
        @functools.wraps(fn)
        def run(*a, **kw):
            with clock(name): return fn(*a, **kw)
        return run
    trainer.training_step = timed(trainer.training_step, "training_step")
    trainer._prepare_inputs = timed(trainer._prepare_inputs, "prepare_inputs")
    if hasattr(trainer, "reward_funcs"):
        trainer.reward_funcs = [timed(f, f"reward:{n}") for f, n in zip(trainer.reward_funcs, trainer.reward_func_names)]
    trainer.add_callback(step_callback(clock))

def train_step(name: str, kind: str, mode: str, ctx: dict) -> dict:
    "One SFT or GRPO step of a preset (LoRA or full), with a fresh random model: step time, its pieces, peak memory."
    from topo_r1.families import get_family
    from topo_r1.train import make_trainer, training_dataset
    from topo_r1.train_config import load_config
    from topo_r1.warmup import vision_tower
    preset = f"{name}_{kind}" + ("_lora" if mode == "lora" else "")
    over = dict(model=name, split=str(ctx["split"]), output_dir=str(ctx["tmp"] / preset), max_steps=1, save_strategy="no",
                logging_steps=1, report_to="none", attn_implementation=ctx["attn"], resume=False)
    if kind == "grpo": over.update(EXTRA_REWARDS)
    if ctx["smoke"]: over.update(bf16=False, dtype="float32", system_prompt=ctx["sizes"]["system_prompt"])
    if ctx["sizes"]["grad_accum"]: over.update(gradient_accumulation_steps=ctx["sizes"]["grad_accum"])
    cfg = load_config(kind, preset, over, progress=False)
    adapter, processor, device = get_family(MODELS[name]), ctx["processors"][name], ctx["device"]
    free(device)
    model = build_model(name, processor.tokenizer, device, ctx["dtype"], ctx["attn"], ctx["overrides"][name])
    if cfg.freeze_vision:                                  # what `topo_r1.train.load_model` does to a loaded model
        for p in vision_tower(model).parameters(): p.requires_grad_(False)
    model.train()
    clock = Clock(device)
    if kind == "grpo": force_generation(model, ctx["targets"][name], clock)
    data = training_dataset(cfg.dataset, adapter, processor, cfg.view, cfg.system_prompt, cfg.think, keep_columns=kind == "grpo")
    trainer = make_trainer(cfg, model, processor, adapter, data)
    instrument(trainer, clock)
    reset_peak(device)
    trainer.train()
    s = clock.s
    rewards = {k.split(":", 1)[1]: v for k, v in s.items() if k.startswith("reward:")}
    fb = s["training_step"] - s.get("prepare_inputs", 0.0)
    out = {f"{kind}_step_s": s["step"], f"{kind}_peak_memory_gb": peak_gb(device),
           f"{kind}_breakdown": {"forward_backward_s": fb, "optimizer_s": s.get("optimizer", 0.0)}}
    if kind == "grpo":
        out["grpo_breakdown"] = {"generation_s": s.get("generation", 0.0), "rewards_s": rewards, **out["grpo_breakdown"],
                                 "other_s": s["step"] - s.get("generation", 0.0) - sum(rewards.values()) - fb - s.get("optimizer", 0.0)}
        out["grpo_completions"] = trainer.args.per_device_train_batch_size * trainer.args.steps_per_generation
        logged = next((h for h in trainer.state.log_history if "reward" in h), {})   # the forced answers parse and score
        out["grpo_rewards"] = {k: v for k, v in logged.items() if k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))}
    else:
        out["sft_breakdown"]["other_s"] = s["step"] - fb - s.get("optimizer", 0.0)
        out["sft_samples"] = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    out["trainable_parameters"] = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    del trainer, model; free(device)
    return out

def vllm_generation(name: str, ctx: dict) -> dict:
    "Generation through TRL's `use_vllm` (colocate) for one GRPO step, when vLLM imports; else why not."
    if importlib.util.find_spec("vllm") is None: return {"installed": False, "note": "vllm is not installed: not measured"}
    from topo_r1.families import get_family
    from topo_r1.train import make_trainer, training_dataset
    from topo_r1.train_config import load_config
    device, processor = ctx["device"], ctx["processors"][name]
    folder = ctx["tmp"] / f"{name}_checkpoint"            # vLLM loads its copy of the policy from a folder
    model = build_model(name, processor.tokenizer, device, ctx["dtype"], ctx["attn"], ctx["overrides"][name])
    model.save_pretrained(folder); processor.save_pretrained(folder)
    over = dict(model=str(folder), split=str(ctx["split"]), output_dir=str(ctx["tmp"] / f"{name}_vllm"), max_steps=1,
                save_strategy="no", report_to="none", use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.3,
                resume=False, **EXTRA_REWARDS)
    cfg = load_config("grpo", f"{name}_grpo_lora", over, progress=False)
    model.config._name_or_path = model.name_or_path = str(folder)
    model.train()
    adapter = get_family(MODELS[name])
    data = training_dataset(cfg.dataset, adapter, processor, cfg.view, cfg.system_prompt, cfg.think, keep_columns=True)
    trainer = make_trainer(cfg, model, processor, adapter, data)
    clock = Clock(device)
    gen = trainer.vllm_generation.generate
    @functools.wraps(gen)
    def timed(*a, **kw):
        with clock("vllm_generation"): return gen(*a, **kw)
    trainer.vllm_generation.generate = timed
    instrument(trainer, clock)
    trainer.train()
    out = {"installed": True, "version": importlib.metadata.version("vllm"), "generation_s": clock.s.get("vllm_generation"),
           "grpo_step_s": clock.s.get("step"), "note": "random weights, unforced: completion lengths vary"}
    del trainer, model; free(device)
    return out


# ---------------------------------------------------------------- the check, its table

def run_check(device: str, smoke: bool, out: Path, models) -> dict:
    import torch
    from topo_r1.families import get_family
    from topo_r1.model_sizes import parameter_counts, published_config
    from topo_r1.splits import load_split
    from topo_r1.tiny import tiny_tokenizer
    from topo_r1.train import lora_config
    from topo_r1.train_config import load_config
    t0 = time.perf_counter()
    attn = attention_implementation(device)
    env = environment(device, attn, smoke)
    from packaging.version import Version
    if Version(importlib.metadata.version("transformers")) < Version(KIT_TRANSFORMERS):
        print(f"warning: transformers {env['transformers']} is older than the kit's tested >= {KIT_TRANSFORMERS}; "
              f"install the wheels of bench/gpu_wheels.sh", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    tok, sizes = tiny_tokenizer(), SIZES["smoke" if smoke else "check"]
    accum = sizes["grad_accum"] or 4                      # the presets accumulate 4 micro-batches
    env.update(sizes, grad_accum=accum, G=G)
    ctx = dict(device=device, smoke=smoke, attn=attn, tmp=tmp, dtype=torch.float32 if smoke else torch.bfloat16, sizes=sizes,
               overrides={n: SMOKE[n] if smoke else {} for n in models},
               split=write_split(tmp / "split", sizes["side"], n_sft=4 * accum, n_rl=accum),
               processors={n: processor_for(n, tok, sizes["side"]) for n in models}, targets={})
    row = dict(load_split(ctx["split"], "rl")[0])
    results, errors = {"environment": env, "models": {}}, []
    for name in models:
        adapter, proc = get_family(MODELS[name]), ctx["processors"][name]
        ctx["targets"][name] = forced_targets(adapter, proc, row, sizes["new_tokens"])
        cfg = published_config(name, tokenizer=tok, **ctx["overrides"][name])
        lora = lora_config(load_config("sft", f"{name}_sft_lora", dict(split=str(ctx["split"])), progress=False))
        res = results["models"][name] = {"parameters": {"total": parameter_counts(cfg)["total"],
                                                        "lora_trainable": parameter_counts(cfg, lora)["trainable"]}}
        def phase(label, fn):
            print(f"[{time.perf_counter() - t0:6.0f} s] {name}: {label}", flush=True)
            try:
                got = fn()
                print(f"[{time.perf_counter() - t0:6.0f} s] {name}: {label}: " + ", ".join(
                    f"{k} {v:.3g}" for k, v in (got or {}).items() if isinstance(v, float)), flush=True)
                return got
            except Exception as e:
                errors.append(f"{name} {label}: {type(e).__name__}: {e}"); traceback.print_exc()
                res.setdefault("errors", {})[label] = f"{type(e).__name__}: {e}"
                free(device); return None
        def inference():
            model = build_model(name, tok, device, ctx["dtype"], attn, ctx["overrides"][name])
            try: return measure_inference(model, proc, adapter, row, ctx["targets"][name], device, sizes["system_prompt"])
            finally: del model; free(device)
        res.update(phase("generate + trace", inference) or {})
        for mode in ("lora", "full"):
            res[mode] = {}
            for kind in ("sft", "grpo"): res[mode].update(phase(f"{kind} {mode}", lambda: train_step(name, kind, mode, ctx)) or {})
        res["vllm"] = phase("vllm", lambda: vllm_generation(name, ctx)) if device.startswith("cuda") else \
            {"installed": importlib.util.find_spec("vllm") is not None, "note": "vLLM needs a GPU: not measured"}
        peaks = [v for d in (res, res.get("lora", {}), res.get("full", {})) for k, v in d.items() if k.endswith("peak_memory_gb")]
        res["peak_memory_gb"] = max(peaks, default=float("nan"))
        if "card_memory_gb" in env: res["peak_memory_fraction"] = res["peak_memory_gb"] / env["card_memory_gb"]
    env["wall_s"] = time.perf_counter() - t0
    results["errors"] = errors
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    table = markdown(results)
    (out / "gpu_check.md").write_text(table)
    print(table)
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'} in {env['wall_s']:.0f} s")
    return results

def _f(v, fmt="{:.1f}"):
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)

def markdown(results: dict) -> str:
    "The check's two tables (per model; the GRPO step's pieces) under one line naming the environment."
    e = results["environment"]
    card = f", {e['card_memory_gb']:.0f} GB card" if "card_memory_gb" in e else ""
    lines = [f"GPU check{' (smoke: reduced width and depth, CPU)' if e['smoke'] else ''}: {e['device']}{card}; torch {e['torch']}, "
             f"transformers {e['transformers']}, trl {e['trl']}, peft {e['peft']}, attention {e['attn_implementation']}; "
             f"{e['side']}² pair prompt, G = {e['G']}, {e['new_tokens']} new tokens, gradient accumulation {e['grad_accum']}, "
             f"random weights.", "",
             "| model | params (B) | prompt tokens | generate tok/s | forward ms | trace ms | SFT LoRA s | SFT full s "
             "| GRPO LoRA s | GRPO full s | peak GB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["models"].items():
        lo, fu = r.get("lora", {}), r.get("full", {})
        peak = _f(r.get("peak_memory_gb")) + (f" ({100 * r['peak_memory_fraction']:.0f} %)" if "peak_memory_fraction" in r else "")
        lines.append(f"| {name} | {r['parameters']['total'] / 1e9:.3f} | {r.get('prompt_tokens', '–')} | {_f(r.get('generate_tokens_per_s'))} "
                     f"| {_f(r.get('forward_ms'), '{:.0f}')} | {_f(r.get('trace_ms'), '{:.0f}')} | {_f(lo.get('sft_step_s'), '{:.2f}')} "
                     f"| {_f(fu.get('sft_step_s'), '{:.2f}')} | {_f(lo.get('grpo_step_s'), '{:.2f}')} | {_f(fu.get('grpo_step_s'), '{:.2f}')} | {peak} |")
    lines += ["", "The GRPO step's wall time, in seconds:", "",
              "| model | fine-tuning | generation | rewards (each) | forward-backward | optimizer | other | peak GB |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in results["models"].items():
        for mode in ("lora", "full"):
            b = r.get(mode, {}).get("grpo_breakdown")
            if not b: continue
            rw = ", ".join(f"{k} {v:.2f}" for k, v in b["rewards_s"].items())
            lines.append(f"| {name} | {mode} | {b['generation_s']:.2f} | {rw} | {b['forward_backward_s']:.2f} | {b['optimizer_s']:.2f} "
                         f"| {b['other_s']:.2f} | {_f(r[mode].get('grpo_peak_memory_gb'))} |")
    vl = [f"{n}: " + (f"generation {r['vllm']['generation_s']:.2f} s of a {r['vllm']['grpo_step_s']:.2f} s step ({r['vllm']['note']})"
                      if r["vllm"].get("generation_s") else r["vllm"].get("note", "")) for n, r in results["models"].items() if r.get("vllm")]
    lines += ["", "vLLM (TRL use_vllm, colocate): " + "; ".join(vl)]
    if results["errors"]: lines += ["", "Errors:"] + [f"- {e}" for e in results["errors"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- --true-size on the CPU

def true_size(device: str, out: Path, models) -> dict:
    "Each true configuration on `device` in bf16: exact counts, one forward over a 512x512 pair prompt, one trace."
    import torch
    from topo_r1.families import get_family, resized_hw
    from topo_r1.model_sizes import parameter_counts, published_config, gib, training_bytes
    from topo_r1.splits import load_split
    from topo_r1.tiny import tiny_tokenizer
    from topo_r1.tracing import trace_attention, with_images
    t0, tok = time.perf_counter(), tiny_tokenizer()
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    side = SIZES["check"]["side"]
    row = dict(load_split(write_split(tmp / "split", side, n_sft=1, n_rl=1), "rl")[0])
    res = {"environment": environment(device, "sdpa", False), "models": {}}
    for name in models:
        adapter, proc = get_family(MODELS[name]), processor_for(name, tok, side)
        cfg = published_config(name, tokenizer=tok)
        counts = parameter_counts(cfg)
        r = res["models"][name] = {"parameters": counts, "bf16_weights": gib(2 * counts["total"])}
        t = time.perf_counter()
        model = build_model(name, tok, device, torch.bfloat16, "sdpa", {})
        r["build_s"] = time.perf_counter() - t
        r["built_parameters"] = sum(p.numel() for p in model.parameters())
        assert r["built_parameters"] == counts["total"], (r["built_parameters"], counts)
        tc, vc = cfg.text_config, cfg.vision_config
        assert model.lm_head.weight.shape == (151936, tc.hidden_size), model.lm_head.weight.shape   # the true vocabulary
        messages, images = adapter.messages(row, "pair", proc)
        batch = proc.apply_chat_template(with_images(messages, images), add_generation_prompt=True, tokenize=True,
                                         return_dict=True, return_tensors="pt")
        batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
        cell = vc.patch_size * vc.spatial_merge_size                    # 28 px (Qwen2.5-VL), 32 px (Qwen3-VL)
        h, w = resized_hw(side, side, vc.patch_size, vc.spatial_merge_size, cell * cell, side * side)
        per_picture = (h // cell) * (w // cell)
        n_image = int((batch["input_ids"] == cfg.image_token_id).sum())
        assert n_image == 2 * per_picture, (n_image, per_picture)
        seen = {}
        def vision_out(module, args, output):   # the merged image tokens the tower hands the language model
            o = getattr(output, "pooler_output", None)
            seen["vision"] = tuple((o if o is not None else output[0] if isinstance(output, tuple) else output.last_hidden_state).shape)
        hook = model.model.visual.register_forward_hook(vision_out)
        t = time.perf_counter()
        with torch.inference_mode(): logits = model(**batch, use_cache=False).logits
        r["forward_s"] = time.perf_counter() - t
        hook.remove()
        assert logits.shape[-1] == 151936 and logits.shape[1] == batch["input_ids"].shape[1], logits.shape
        assert seen["vision"][0] == n_image and seen["vision"][-1] == tc.hidden_size, seen   # merged tokens, LM width
        del logits
        text = adapter.completion(row, "pair", proc)
        t = time.perf_counter()
        tr = trace_attention(model, proc, row, text, view="pair")
        r["trace_s"] = time.perf_counter() - t
        assert tr.grid_shape == (h // cell, w // cell), tr.grid_shape
        r.update(cell_px=cell, resized_hw=[h, w], image_tokens=n_image, image_tokens_per_picture=per_picture,
                 prompt_tokens=int(batch["input_ids"].shape[1]), completion_tokens=len(tr.tokens), vision_output=list(seen["vision"]),
                 vocab_size=int(logits_vocab := model.lm_head.weight.shape[0]), hidden_size=tc.hidden_size,
                 vision={k: getattr(vc, k, None) for k in ("depth", "hidden_size", "patch_size", "spatial_merge_size", "window_size",
                                                            "fullatt_block_indexes", "deepstack_visual_indexes")},
                 trace_grid=list(tr.grid_shape), traced_layers=tr.layers,
                 peak_rss_gb=peak_gb("cpu"),
                 training_bytes_full_bf16=gib(training_bytes(counts, "bfloat16")["total"]))
        del model, tr; free(device)
        print(f"{name}: {counts['total'] / 1e9:.3f} B parameters, built in {r['build_s']:.0f} s, forward {r['forward_s']:.0f} s over "
              f"{r['prompt_tokens']} tokens ({n_image} image tokens = 2 x {h // cell} x {w // cell} at {cell} px), "
              f"trace {r['trace_s']:.0f} s, peak RSS {r['peak_rss_gb']:.1f} GB", flush=True)
    res["environment"]["wall_s"] = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    f = out / f"gpu_check_true_size_{device.split(':')[0]}.json"
    f.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"wrote {f}")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="reduced width and depth, float32, on the CPU (CI)")
    p.add_argument("--true-size", action="store_true", help="the true configurations: one forward and one trace (with --device cpu)")
    p.add_argument("--device", default=None, help="cuda (default when there is a GPU) or cpu")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--out", default=None, help="folder for the JSON and markdown (default bench/results; --smoke: a temp folder)")
    ns = p.parse_args(argv)
    import torch
    models = [m.strip() for m in ns.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad or not models: p.error(f"--models takes {', '.join(MODELS)}, got {ns.models!r}")
    device = ns.device or ("cpu" if ns.smoke or not torch.cuda.is_available() else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available(): p.error("--device cuda: no GPU is visible")
    if device == "cpu" and not (ns.smoke or ns.true_size):
        p.error("no GPU: the full check needs one; on the CPU use --smoke, or --true-size (one forward of each true model)")
    out = Path(ns.out) if ns.out else (Path(tempfile.gettempdir()) / "gpu_check_smoke" if ns.smoke else Path("bench/results"))
    if ns.true_size: true_size(device, out, models); return 0
    res = run_check(device, ns.smoke, out, models)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
