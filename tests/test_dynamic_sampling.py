"Dynamic sampling for GRPO (`topo_r1.dynamic_sampling`): TRL's loss on the kept groups, and a tiny run's logs."
import json
import pytest

torch = pytest.importorskip("torch")

G = 2


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from topo_r1.curriculum import easy_split
    return easy_split(tmp_path_factory.mktemp("ds") / "easy", n_sft=2, n_rl=8, n_test=1, size=64, seed=0)


def _fake_generation(trainer):
    "Row i of any batch gets the completion `i % G + 1` copies of one token, then EOS: deterministic, varied in a group."
    eos = trainer.eos_token_ids[0]
    def generate(prompt_ids, images, multimodal_fields, num_generations):
        return [[100] * (i % G + 1) + [eos] for i in range(len(prompt_ids))], None
    trainer._generate_single_turn = generate


def _reward(prompts, completions, completion_ids, signal, **kw):
    "The completion's length where the row's `signal` is 1, else 0: a group of a `signal` 0 row has no spread."
    return [float(s) * len(ids) for s, ids in zip(signal, completion_ids)]


def _loss_and_grads(trainer, model, batch):
    torch.manual_seed(0)   # TRL shuffles the rows of a generation batch
    inputs = trainer._prepare_inputs(batch)
    model.zero_grad()
    loss = trainer.compute_loss(model, inputs)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None], inputs


def test_loss_and_gradient_on_kept_groups_equal_trls_on_those_groups_alone(split, tmp_path):
    from trl import GRPOTrainer
    from topo_r1.dynamic_sampling import dynamic_sampling_trainer
    from topo_r1.train import load_model, training_dataset
    from topo_r1.train_config import load_config
    cfg = load_config("grpo", "tiny_grpo", {"split": str(split), "model": "tiny", "num_generations": G, "max_completion_length": 4,
                                            "per_device_train_batch_size": 8, "output_dir": str(tmp_path), "report_to": "none",
                                            "dynamic_sampling": True, "max_refills": 2}, progress=False)
    model, processor, adapter = load_model(cfg)
    data = training_dataset(cfg.dataset, adapter, processor, cfg.view, cfg.system_prompt, cfg.think)
    signal = [1, 0, 0, 1, 0, 1, 0, 1]   # prompts 0, 3, 5, 7 have groups with spread
    data = data.add_column("signal", signal)
    kw = dict(model=model, reward_funcs=[_reward], args=cfg.trl_args, train_dataset=data, processing_class=processor)
    ds, plain = dynamic_sampling_trainer()(**kw, max_refills=2), GRPOTrainer(**kw)
    for t in (ds, plain):
        _fake_generation(t); t.current_gradient_accumulation_steps = 1
    rows = lambda prompts: [data[i] for i in prompts for _ in range(G)]
    refills = iter([rows([4, 5, 6, 7])])
    ds._ds_next_batch = lambda: next(refills)   # the refill batch, deterministic
    loss, grads, inputs = _loss_and_grads(ds, model, rows([0, 1, 2, 3]))
    m = ds._metrics["train"]
    assert (m["dynamic_sampling/groups_sampled"], m["dynamic_sampling/groups_kept"], m["dynamic_sampling/refills"]) == ([8.0], [4.0], [1.0])
    assert m["dynamic_sampling/frac_zero_std_sampled"] == [0.5] and m["dynamic_sampling/frac_zero_std_kept"] == [0.0]
    assert m["frac_reward_zero_std"] == [0.0]   # TRL's own count on the batch it trained on
    assert inputs["completion_ids"].shape[0] == 8 and (inputs["advantages"] != 0).all()
    ref_loss, ref_grads, _ = _loss_and_grads(plain, model, rows([0, 3, 5, 7]))
    assert torch.allclose(loss, ref_loss, atol=1e-6) and loss.abs() > 0
    assert len(grads) == len(ref_grads) > 0
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, ref_grads))


def test_dynamic_sampling_trains_on_the_tiny_preset_and_logs_no_kept_zero_spread(split, tmp_path, monkeypatch):
    import topo_r1.train as tr
    def parity(prompts, completions, completion_ids, detections, **kw):   # spread where the row has an error, none on clean rows
        return [float(sum(ids) % 2) if d else 0.0 for ids, d in zip(completion_ids, detections)]
    monkeypatch.setattr(tr, "reward_functions", lambda cfg, adapter, processor=None: ([parity], [1.0]))
    out = tr.train("grpo", "tiny_grpo", [f"split={split}", "model=tiny", "max_steps=2", "num_generations=4",
                                         "per_device_train_batch_size=8", "max_completion_length=4", "logging_steps=1",
                                         "dynamic_sampling=true", "max_refills=2", f"output_dir={tmp_path}"],
                   progress=False)
    log = [e for e in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert [e["step"] for e in log] == [1, 2]
    for e in log:
        assert e["dynamic_sampling/frac_zero_std_kept"] == 0 and e["frac_reward_zero_std"] == 0
        assert e["dynamic_sampling/groups_kept"] <= 2 and e["dynamic_sampling/groups_sampled"] >= 2
        assert {"dynamic_sampling/refills", "dynamic_sampling/frac_zero_std_sampled"} <= set(e)
    assert json.loads((out / "train_config.json").read_text())["dynamic_sampling"] is True


def test_bench_reports_where_grpo_compute_went(load_bench):
    "bench/learning.py's table: the zero-spread share of generation and of training, weighted by their measured time."
    b = load_bench("learning")
    plain = [{"step": s, "loss": 0.0, "frac_reward_zero_std": 0.4} for s in (1, 2)] + [{"step": 2, "train_runtime": 10.0}]
    ds = [{"step": 1, "loss": 0.0, "frac_reward_zero_std": 0.0, "dynamic_sampling/groups_sampled": 16, "dynamic_sampling/groups_kept": 8,
           "dynamic_sampling/frac_zero_std_sampled": 0.5, "dynamic_sampling/frac_zero_std_kept": 0.0}, {"step": 1, "train_runtime": 10.0}]
    clock = {"generate_s": 3.0, "reward_s": 1.0, "groups_per_step": 8}
    r = {"logs": {"sft+grpo": plain, "sft+grpo-ds": ds}, "clocks": {"sft+grpo": clock, "sft+grpo-ds": clock}}
    cells = [l.strip("| ").split(" | ") for l in b.dynamic_sampling(r).splitlines()]
    head, rows = cells[0], {c[0]: c for c in cells[2:]}
    col = lambda run, name: float(rows[run][head.index(name)].split()[0])
    assert col("sft+grpo", "zero-spread compute %") == 40.0 and col("sft+grpo", "prompts with signal/s") == 0.96
    assert col("sft+grpo-ds", "zero-spread trained %") == 0.0 and col("sft+grpo-ds", "zero-spread compute %") == 20.0  # 4 s x 50 %
    assert col("sft+grpo-ds", "generated, not trained %") == 50.0 and col("sft+grpo-ds", "prompts with signal/s") == 0.8
