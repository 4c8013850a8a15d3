"Attention traces against an independent eager forward, left padding, pixel scores against scikit-learn, CGRO in GRPO."
import json, os, subprocess, sys
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from topo_r1.attention import (AttentionTrace, image_token_grids, language_model, make_cgro_reward, pixel_scores,
                               real_map, trace_attention, trace_ids, with_images, auroc, average_precision)
from topo_r1.curriculum import easy_rows, easy_split
from topo_r1.families import FAMILIES
from topo_r1.tracing import attention_layers
from topo_r1.vlm import tiny_vlm, toy_row

PATCH = {"qwen2_5_vl": 7, "qwen3_vl": 8}   # 128 px -> 9×9 / 8×8 tokens per panel

@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def tiny(request):
    fam = request.param
    model, proc = tiny_vlm(fam, vision_patch_size=PATCH[fam], num_hidden_layers=3)
    return fam, model, proc

def _eager_reference(model, inputs, layers, b, n):
    "Head- and layer-mean attention rows of batch row b's n completion tokens, from output_attentions=True."
    before = model.config.get_text_config()._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            att = model(**{k: v for k, v in inputs.items() if hasattr(v, "to")}, output_attentions=True).attentions
    finally: model.set_attn_implementation(before)
    if len(att) < len(language_model(model).layers): att = dict(zip(attention_layers(model), att))  # Qwen3.5: full layers only
    c0 = inputs["completion_start"] - 1
    return torch.stack([att[l][b, :, c0:c0 + n].float().mean(0) for l in layers]).mean(0).numpy()

@pytest.mark.parametrize("view", ["pair", "side_by_side", "overlay"])
def test_trace_matches_eager_output_attentions(tiny, view):
    fam, model, proc = tiny
    row = toy_row(128, rng=0)
    comp = FAMILIES[fam].completion(row, view, proc)
    trs = trace_attention(model, proc, row, [comp, comp[:90] + "</think><answer>[]</answer>"], layers=[1, 2], view=view)
    inp = trs[0].inputs
    cs = inp["completion_start"]
    grids = image_token_grids(inp["input_ids"][:, :cs], inp["image_grid_thw"], model.config.image_token_id,
                              model.config.vision_config.spatial_merge_size, view)
    for b, tr in enumerate(trs):
        n = len(tr.tokens)
        ref = _eager_reference(model, inp, [1, 2], b, n)
        for panel, pos in grids[b].items():
            got = tr.select(panel=panel).image_attn
            np.testing.assert_allclose(got, ref[:, pos.ravel()].reshape(n, *pos.shape), atol=1e-5)
        text_cols = [p for p in range(cs) if inp["attention_mask"][b, p] and inp["input_ids"][b, p] != model.config.image_token_id]
        np.testing.assert_allclose(tr.text_attn, ref[:, text_cols], atol=1e-5)

def test_left_padding_and_chunking_change_nothing(tiny):
    "Two prompts of different lengths in one left-padded batch trace like each alone; chunk size does not matter."
    fam, model, proc = tiny
    a, b = toy_row(128, rng=0), toy_row(96, rng=1)
    ad = FAMILIES[fam]
    convs = [with_images(*ad.messages(r, "pair", proc, False)) for r in (a, b)]
    ids = [proc.tokenizer.encode(ad.completion(r, "pair", proc), add_special_tokens=False) for r in (a, b)]
    together = trace_ids(model, proc, convs, ids)
    assert together[0].inputs["attention_mask"][1].min() == 0 or together[0].inputs["attention_mask"][0].min() == 0
    for k in range(2):
        alone = trace_ids(model, proc, [convs[k]], [ids[k]])[0]
        np.testing.assert_allclose(together[k].image_attn, alone.image_attn, atol=1e-5)
        np.testing.assert_allclose(together[k].text_attn, alone.text_attn, atol=1e-5)
        assert together[k].tokens == alone.tokens
    comp = ad.completion(a, "pair", proc)
    one = trace_attention(model, proc, a, [comp] * 3, chunk_size=1)
    three = trace_attention(model, proc, a, [comp] * 3, chunk_size=3)
    for x, y in zip(one, three): np.testing.assert_allclose(x.image_attn, y.image_attn, atol=1e-6)

def _state(model):
    lm = language_model(model)
    return (model.config.get_text_config()._attn_implementation, [m.training for m in model.modules()],
            sum(len(l.self_attn._forward_hooks) + len(l.self_attn._forward_pre_hooks) for l in lm.layers))

def test_model_state_restored_even_when_the_call_raises(tiny):
    fam, model, proc = tiny
    row = toy_row(128, rng=0)
    comp = FAMILIES[fam].completion(row, "pair", proc)
    model.train(); model.model.visual.eval()          # a mixed state must come back exactly
    before = _state(model)
    trace_attention(model, proc, row, comp)
    assert _state(model) == before
    for bad, msg in [(dict(completion="<answer>[]</answer>"), "no reasoning"), (dict(layers=[7]), "out of range"),
                     (dict(row={**row, "mask": np.zeros((40, 40), bool)}), "same height and width")]:
        kw = {"row": row, "completion": comp, **bad}
        with pytest.raises(ValueError, match=msg): trace_attention(model, proc, kw.pop("row"), kw.pop("completion"), **kw)
        assert _state(model) == before
    # an error inside the forward pass itself (a broken batch) also restores everything
    with pytest.raises(Exception):
        trace_ids(model, proc, [with_images(*FAMILIES[fam].messages(row, "pair", proc, False))], [[10 ** 7]])
    assert _state(model) == before
    model.eval()

def test_model_without_vision_tower_is_refused():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    model = Qwen2ForCausalLM(Qwen2Config(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, vocab_size=64))
    _, proc = tiny_vlm("qwen2_5_vl")
    with pytest.raises(ValueError, match="no vision tower"):
        trace_attention(model, proc, toy_row(64), "<think>a gap</think><answer>[]</answer>")

@pytest.mark.parametrize("seed", range(6))
def test_auroc_and_aupr_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 3000))
    labels = rng.random(n) < rng.uniform(0.05, 0.6)
    labels[0], labels[1] = True, False
    scores = np.round(rng.random(n) + labels * rng.uniform(0, 1), int(rng.integers(1, 4)))   # ties included
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    maps = [scores[: n // 2].reshape(1, -1), scores[n // 2:].reshape(1, -1)]
    truths = [labels[: n // 2].reshape(1, -1), labels[n // 2:].reshape(1, -1)]
    s = pixel_scores(maps, truths)
    assert s["pixel_AUROC"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert s["pixel_AUPR"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert 0 <= s["AUPRO"] <= 1

def test_saved_trace_round_trips(tiny, tmp_path):
    fam, model, proc = tiny
    row = toy_row(128, rng=0)
    tr = trace_attention(model, proc, row, FAMILIES[fam].completion(row, "pair", proc))
    back = AttentionTrace.load(tr.save(tmp_path / "t"))
    np.testing.assert_allclose(back.select(heads="max").image_attn, tr.select(heads="max").image_attn)
    np.testing.assert_allclose(real_map(back).map, real_map(tr).map)
    assert back.shape == tr.shape and back.layers == tr.layers

def test_cgro_reward_with_trl_style_arguments(tiny):
    "Called like TRL calls a reward (conversational prompts and completions, completion_ids, images, junk rows)."
    fam, model, proc = tiny
    ad = FAMILIES[fam]
    rows = easy_rows(3, size=64, rng=0)
    rows[0]["detections"] = []
    msgs = [ad.messages(r, "pair", proc, False) for r in rows]
    texts = [ad.completion(r, "pair", proc) for r in rows]
    completions = [[{"role": "assistant", "content": t}] for t in texts] + [[{"role": "assistant", "content": "<think>cut"}]]
    ids = [proc.tokenizer.encode(t, add_special_tokens=False) for t in texts] + [[5, 6]]
    reward = make_cgro_reward(top_t=3, term="jaccard").bind(model, proc)
    logged = {}
    out = reward(completions, prompts=[m for m, _ in msgs] + [msgs[0][0]], images=[i for _, i in msgs] + [msgs[0][1]],
                 detections=[r["detections"] for r in rows] + [[]], completion_ids=ids,
                 log_metric=lambda k, v: logged.update({k: v}), trainer_state=None)
    assert len(out) == 4 and out[3] == 0.0 and all(0 <= v <= 1 for v in out)
    assert logged["cgro_reward/junk"] == pytest.approx(0.25)
    # TRL 1.x hands rewards the prompts with their images already filled in, and the images column as well
    filled = [with_images(m, i) for m, i in msgs]
    again = reward(completions[:3], prompts=filled, images=[i for _, i in msgs], detections=[r["detections"] for r in rows],
                   completion_ids=ids[:3])
    assert again == pytest.approx(out[:3])

@pytest.mark.slow
def test_grpo_trains_with_cgro_and_logs_it(tmp_path):
    "`topo-r1 train grpo --config tiny_grpo cgro_weight=1` trains, and the log shows the consistency term."
    split = easy_split(tmp_path / "split", n_sft=2, n_rl=4, n_test=2, size=64)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "train", "grpo", "--config", "tiny_grpo", f"split={split}",
                        "model=tiny", f"output_dir={out}", "cgro_weight=1", "max_steps=2", "num_generations=2",
                        "per_device_train_batch_size=4", "max_completion_length=24", "logging_steps=1",
                        "tiny={vision_patch_size: 7}"], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    log = json.loads((out / "trainer_state.json").read_text())["log_history"]
    keys = set().union(*map(set, log))
    assert {"rewards/cgro_reward/mean", "cgro_reward/J", "cgro_reward/junk", "cgro_reward/group_std"} <= keys, sorted(keys)
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["cgro_weight"] == 1

@pytest.mark.slow
def test_attention_experiment_writes_table_gallery_and_traces(tmp_settings):
    "`topo-r1 run attention` on the random tiny model: the map table, the two figures and loadable traces."
    from topo_r1.experiments import run_experiment
    d = run_experiment("attention", {"limit": 3, "scale": 0.001, "save_traces": 2}, progress=False)
    m = json.loads((d / "metrics.json").read_text())
    assert m["n"] == 3 and m["n_traced"] == 3 and m["completions"] == "target"
    assert {"ReAL", "S_T only", "S_I only", "all tokens", "uniform", "answer boxes", "classical boxes"} <= set(m["methods"])
    assert m["methods"]["uniform"]["pixel_AUROC"] == pytest.approx(0.5)
    assert m["methods"]["answer boxes"]["pixel_AUROC"] > 0.9     # the SFT targets' own boxes
    assert set(m["boxes"]) == {"VLM, written answer", "VLM, boxes from attention"}   # F1 of both, same completions
    assert m["boxes"]["VLM, written answer"]["F1@0.3"] == 1.0 and 0 <= m["boxes"]["VLM, boxes from attention"]["F1@0.3"] <= 1
    for fig in ("gallery", "tokens"): assert (d / f"{fig}.png").stat().st_size > 1000
    saved = sorted((d / "traces").glob("*.json"))
    assert len(saved) == 2 and AttentionTrace.load(saved[0]).image_attn.shape[1:] == (9, 9)

def test_trace_inside_a_bf16_autocast_training_step(tiny):
    "GRPO runs rewards inside TRL's bf16 autocast: the trace still computes its weights in fp32."
    fam, model, proc = tiny
    row = toy_row(128, rng=0)
    comp = FAMILIES[fam].completion(row, "pair", proc)
    plain = trace_attention(model, proc, row, comp)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = trace_attention(model, proc, row, comp)
    assert cast.image_attn.dtype == np.float32
    np.testing.assert_allclose(cast.image_attn, plain.image_attn, atol=0.02)

@pytest.mark.parametrize("module", ["topo_r1.tracing", "topo_r1.real", "topo_r1.map_boxes", "topo_r1.cgro", "topo_r1.attention"])
def test_reading_traces_loads_no_torch(module):
    "Reading, mapping and scoring traces needs no torch: each module imports without it, in a fresh interpreter."
    probe = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch was imported'"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr

def test_real_map_unpacks_and_is_frozen(tiny):
    fam, model, proc = tiny
    row = toy_row(128, rng=0)
    rm = real_map(trace_attention(model, proc, row, FAMILIES[fam].completion(row, "pair", proc)))
    amap, selected = rm                       # the README's `amap, selected = real_map(trace)`
    assert amap is rm.map and selected == rm.selected and isinstance(rm.fallback, bool)
    with pytest.raises(AttributeError): rm.fallback = False

def test_moved_names_are_the_same_objects_in_attention():
    "topo_r1.attention re-exports every old name from its one home, so old imports keep working."
    import topo_r1.attention as att, topo_r1.cgro, topo_r1.map_boxes, topo_r1.metrics, topo_r1.real, topo_r1.tracing
    homes = [topo_r1.tracing, topo_r1.real, topo_r1.metrics, topo_r1.map_boxes, topo_r1.cgro]
    assert len(att.__all__) == 44
    for name in att.__all__:
        home = [m for m in homes if name in m.__all__]
        assert len(home) == 1 and getattr(home[0], name) is getattr(att, name), name
    assert "save" in vars(att.AttentionTrace) and isinstance(vars(att.AttentionTrace)["load"], classmethod)
