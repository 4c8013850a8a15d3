"The InternVL and Qwen3.5 families on their tiny models: predict, traces equal to eager, SFT and GRPO with CGRO."
import json
import numpy as np
import pytest
import torch

from topo_r1.tracing import attention_layers, language_model, token_grids, trace_attention
from topo_r1.curriculum import easy_split
from topo_r1.families import FAMILIES
from topo_r1.metrics import read_predictions
from topo_r1.train import train
from topo_r1.vlm import predict, tiny_vlm, toy_row
from test_attention import _eager_reference

NEW = ["internvl", "qwen3_5"]

@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return easy_split(tmp_path_factory.mktemp("fam") / "split", n_sft=4, n_rl=4, n_test=2, size=64, seed=0)

@pytest.fixture(scope="module", params=NEW)
def tiny(request):
    model, proc = tiny_vlm(request.param)
    return request.param, model, proc

def test_predict_writes_one_prediction_per_row(tiny, split, tmp_path):
    fam, model, proc = tiny
    out = predict((model, proc, FAMILIES[fam]), split, tmp_path / "PRED.jsonl", limit=2, max_new_tokens=8, progress=False)
    preds = read_predictions(out)
    assert len(preds) == 2

_eager = _eager_reference   # the one eager reference, shared with tests/test_attention.py

@pytest.mark.parametrize("view", ["pair", "side_by_side"])
def test_trace_matches_eager(tiny, view):
    fam, model, proc = tiny
    row = toy_row(128, rng=0)
    comp = FAMILIES[fam].completion(row, view, proc)
    trs = trace_attention(model, proc, row, [comp, comp[:90] + "</think><answer>[]</answer>"], view=view)
    inp, cs = trs[0].inputs, trs[0].inputs["completion_start"]
    grids = token_grids(model, inp, view)
    for b, tr in enumerate(trs):
        n = len(tr.tokens)
        ref = _eager(model, inp, tr.layers, b, n)
        for panel, pos in grids[b].items():
            np.testing.assert_allclose(tr.select(panel=panel).image_attn, ref[:, pos.ravel()].reshape(n, *pos.shape), atol=1e-5)
        text_cols = [p for p in range(cs) if inp["attention_mask"][b, p] and inp["input_ids"][b, p] != model.config.image_token_id]
        np.testing.assert_allclose(tr.text_attn, ref[:, text_cols], atol=1e-5)

def test_qwen3_5_traces_its_full_attention_layers_only():
    model, proc = tiny_vlm("qwen3_5", num_hidden_layers=8)
    assert attention_layers(model) == [3, 7]
    row = toy_row(64, rng=0)
    comp = FAMILIES["qwen3_5"].completion(row, "pair", proc)
    assert trace_attention(model, proc, row, comp).layers == [7]   # the full-attention layers of the last half
    with pytest.raises(ValueError, match=r"\[5\] are linear-attention layers.*full-attention layers \[3, 7\]"):
        trace_attention(model, proc, row, comp, layers=[5, 7])

@pytest.mark.parametrize("fam", NEW)
def test_sft_then_grpo_with_cgro(fam, split, tmp_path):
    common = [f"split={split}", f"model=tiny:{fam}", "max_steps=2", "per_device_train_batch_size=2", "logging_steps=1",
              "save_steps=1000", "report_to=none"]
    sft = train("sft", "tiny_sft", common + [f"output_dir={tmp_path / 'sft'}", "lora=true", "lora_r=4"], progress=False)
    assert (sft / "adapter").is_dir()   # LoRA adapters, merged into the saved model
    preds = read_predictions(predict(str(sft), split, tmp_path / "PRED.jsonl", limit=1, max_new_tokens=4, progress=False))
    assert len(preds) == 1              # the saved folder loads back through the family's own classes
    grpo = train("grpo", "tiny_grpo", common + [f"output_dir={tmp_path / 'grpo'}", "cgro_weight=1", "num_generations=2",
                                                "max_completion_length=12"], progress=False)
    log = json.loads((grpo / "trainer_state.json").read_text())["log_history"]
    assert "rewards/cgro_reward/mean" in set().union(*map(set, log))

def test_attention_explorer_and_real_map(tiny):
    "The widget takes the model, its processor and a completion; ReAL maps the trace to the mask's pixels."
    from topo_r1.attention_explorer import AttentionExplorer
    from topo_r1.real import real_map
    fam, model, proc = tiny
    row = toy_row(64, rng=0)
    ex = AttentionExplorer.from_model(model, proc, row, FAMILIES[fam].completion(row, "pair", proc))
    assert ex.trace.layers == ([3] if fam == "qwen3_5" else [1])
    assert real_map(ex.trace).map.shape == (64, 64)

def test_internvl_several_tiles_and_a_thumbnail_match_eager():
    "As released: a picture cut into several tiles plus a thumbnail; the stitched grid still equals eager."
    model, proc = tiny_vlm("internvl")
    proc.image_processor.max_patches = 4
    row = toy_row(96, rng=0)
    tr = trace_attention(model, proc, row, FAMILIES["internvl"].completion(row, "side_by_side", proc), view="side_by_side")
    inp = tr.inputs
    assert inp["image_tiles"] == [(1, 2, 1)] and inp["pixel_values"].shape[0] == 3   # 2 tiles + the thumbnail
    n, grids = len(tr.tokens), token_grids(model, inp, "side_by_side")[0]
    ref = _eager(model, inp, tr.layers, 0, n)
    assert {k: g.shape for k, g in grids.items()} == {"image": (4, 4), "mask": (4, 4)}
    for panel, pos in grids.items():
        np.testing.assert_allclose(tr.select(panel=panel).image_attn, ref[:, pos.ravel()].reshape(n, *pos.shape), atol=1e-5)
