"Model families, tiny models, batched generation and `topo-r1 predict` (CPU, offline)."
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from topo_r1.core import Detection
from topo_r1.vlm import (FAMILIES, VIEWS, generate, load_rows, load_vlm, predict, render_view, tiny_processor,
                         tiny_vlm, toy_row)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rows():
    return [toy_row(96, rng=i, sample_id=f"toy-{i}") for i in range(3)] + [toy_row(64, rng=7, sample_id="toy-64")]


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def tiny(request):
    model, processor = tiny_vlm(request.param, seed=0)
    return model, processor, FAMILIES[request.param]


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    "A tiny Qwen2.5-VL saved like a real checkpoint, and a built-split-like DatasetDict on disk."
    import datasets
    d = tmp_path_factory.mktemp("ckpt")
    model, processor = tiny_vlm("qwen2_5_vl", seed=1)
    model.save_pretrained(d); processor.save_pretrained(d)
    rows = [toy_row(96, rng=i, sample_id=f"s{i}") for i in range(3)]
    for r in rows: r["detections"] = json.dumps(r["detections"])  # keep the schema simple for from_list
    split = datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
    sdir = tmp_path_factory.mktemp("split") / "toy"
    split.save_to_disk(str(sdir))
    return d, sdir


def test_tiny_architecture_and_tokens(tiny):
    model, processor, adapter = tiny
    assert type(model).__name__ == adapter.model_class
    assert type(processor).__name__ == adapter.processor_class
    tok = processor.tokenizer
    for t in ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|im_start|>", "<|im_end|>",
              "<think>", "</think>", "<answer>", "</answer>", "broken_connection", "extra_branch"]:
        assert len(tok(t)["input_ids"]) == 1, t
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.get_input_embeddings().num_embeddings == len(tok)


def test_generate_batched_and_parse(tiny, rows):
    model, processor, adapter = tiny
    comps = generate(model, processor, adapter, rows, batch_size=3, max_new_tokens=6, progress=False)
    assert len(comps) == len(rows) and all(isinstance(c, str) for c in comps)
    # left padding: a row's greedy completion does not depend on its batch mates
    assert generate(model, processor, adapter, rows[3:], batch_size=1, max_new_tokens=6, progress=False) == comps[3:]
    for c, r in zip(comps, rows):
        p = adapter.parse(c, r, processor=processor)  # garbage never raises
        assert isinstance(p.detections, list)


def test_sampling_seeded(rows):
    model, processor = tiny_vlm("qwen2_5_vl")
    a = FAMILIES["qwen2_5_vl"]
    s1 = generate(model, processor, a, rows[:2], greedy=False, temperature=1.5, seed=3, max_new_tokens=8, progress=False)
    s2 = generate(model, processor, a, rows[:2], greedy=False, temperature=1.5, seed=3, max_new_tokens=8, progress=False)
    assert s1 == s2
    with pytest.raises(ValueError, match="batch_size"):
        generate(model, processor, a, rows, batch_size=0)
    with pytest.raises(ValueError, match="view"):
        generate(model, processor, a, rows, view="stacked")


@pytest.mark.parametrize("view", VIEWS)
def test_views_and_messages(view, rows):
    ims = render_view(rows[0]["image"], rows[0]["mask"], view)
    assert len(ims) == (2 if view == "pair" else 1)
    assert all(im.mode == "RGB" for im in ims)
    for a in FAMILIES.values():
        msgs, images = a.messages(rows[0], view)
        assert len(images) == len(ims)
        assert sum(c["type"] == "image" for c in msgs[1]["content"]) == len(ims)


def test_show_views_boxes_on_pixel_edges(rows):
    "show_views draws the truth with core.draw_detections: half-open pixel boxes at -0.5 offsets, type colours."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from topo_r1.core import ERROR_COLORS
    from topo_r1.vlm import show_views
    r = rows[0]
    fig = show_views(r["image"], r["mask"], [Detection.from_dict(d) for d in r["detections"]])
    (patch,) = fig.axes[0].patches
    x1, y1, x2, y2 = r["detections"][0]["bbox_2d"]
    assert patch.get_xy() == (x1 - 0.5, y1 - 0.5) and (patch.get_width(), patch.get_height()) == (x2 - x1, y2 - y1)
    assert patch.get_edgecolor() == to_rgba(ERROR_COLORS["broken_connection"])
    assert [len(ax.patches) for ax in fig.axes[1:]] == [0, 0, 0]
    plt.close(fig)


def test_render_view_does_not_mutate(rows):
    img, mask = np.asarray(rows[0]["image"]).copy(), np.asarray(rows[0]["mask"]).copy()
    render_view(img, mask, "overlay")
    assert (img == np.asarray(rows[0]["image"])).all() and (mask == np.asarray(rows[0]["mask"])).all()


@settings(max_examples=15, deadline=None)
@given(h=st.integers(20, 400), w=st.integers(20, 400), view=st.sampled_from(VIEWS),
       family=st.sampled_from([f for f, a in FAMILIES.items() if not a.tiles]),  # InternVL tiles: no grid
       max_side=st.sampled_from([64, 128, 256]))
def test_model_hw_matches_processor(h, w, view, family, max_side):
    "model_hw is the panel size the real image processor produces (grid × patch)."
    a = FAMILIES[family]
    proc = _procs(family, max_side)
    ims = render_view(np.zeros((h, w, 3), np.uint8), np.zeros((h, w), bool), view)
    grid = proc.image_processor(images=ims, return_tensors="pt")["image_grid_thw"][0]
    ph, pw = int(grid[1]) * a.patch_size, int(grid[2]) * a.patch_size
    assert a.model_hw(h, w, view, proc) == (ph, pw / 2 if view == "side_by_side" else pw)


_PROC_CACHE = {}
def _procs(family, max_side):
    key = (family, max_side)
    if key not in _PROC_CACHE: _PROC_CACHE[key] = tiny_processor(family, max_pixels=max_side * max_side)
    return _PROC_CACHE[key]


@pytest.mark.parametrize("family,coords,expected", [
    ("qwen2_5_vl", [42, 42, 84, 84], [48, 48, 96, 96]),      # 96 px seen as 84 px
    ("qwen3_vl", [500, 250, 1000, 750], [48, 24, 96, 72]),   # thousandths
])
def test_codec_decodes_to_mask_pixels(family, coords, expected, rows):
    a = FAMILIES[family]
    proc = tiny_processor(family)
    text = f'<think>gap</think><answer>[{{"bbox_2d": {coords}, "type": "broken_connection"}}]</answer>'
    dets = a.parse(text, rows[0], processor=proc).detections
    d = dets[0] if isinstance(dets[0], dict) else dets[0].to_dict()
    np.testing.assert_allclose(d["bbox_2d"], expected, atol=1e-6)


def test_predict_in_memory(tmp_path, rows):
    out = predict("tiny", rows, tmp_path / "sub" / "PRED.jsonl", limit=3, max_new_tokens=5, progress=False)
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert [l["sample_id"] for l in lines] == ["toy-0", "toy-1", "toy-2"]
    for l in lines:
        assert isinstance(l["completion"], str) and isinstance(l["detections"], list)
        for d in l["detections"]: Detection.from_dict(d)


def test_load_errors(tmp_path, saved_tiny):
    ckpt, _ = saved_tiny
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        FAMILIES["qwen2_5_vl"].load(tmp_path / "Qwen2.5-VL-3B-Instruct")
    with pytest.raises(FileNotFoundError, match="config.json"):
        FAMILIES["qwen2_5_vl"].load(tmp_path)
    with pytest.raises(ValueError, match="family 'qwen2_5_vl'"):
        FAMILIES["qwen3_vl"].load(ckpt)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ValueError, match="unsupported model_type 'llava'"):
        load_vlm(tmp_path)
    with pytest.raises(ValueError, match="unknown family"):
        load_vlm("tiny:llava")


def test_load_roundtrip_sets_offline(saved_tiny, monkeypatch, rows):
    ckpt, _ = saved_tiny
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    model, processor, adapter = load_vlm(ckpt)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    ref_model, ref_proc = tiny_vlm("qwen2_5_vl", seed=1)
    a = FAMILIES["qwen2_5_vl"]
    assert (generate(model, processor, adapter, rows[:2], max_new_tokens=6, progress=False)
            == generate(ref_model, ref_proc, a, rows[:2], max_new_tokens=6, progress=False))
    assert a.geometry(processor) == a.geometry(ref_proc)


def test_load_rows(saved_tiny):
    _, sdir = saved_tiny
    assert [r["sample_id"] for r in load_rows(sdir, "test", limit=2)] == ["s0", "s1"]
    with pytest.raises(ValueError, match="no subset 'rl'"):
        load_rows(sdir, "rl")
    with pytest.raises(FileNotFoundError, match="topo-r1 build"):
        load_rows(sdir.parent / "nope")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "topo_r1.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)


def test_predict_cli(saved_tiny, tmp_path):
    ckpt, sdir = saved_tiny
    out = tmp_path / "PRED.jsonl"
    r = _cli("predict", "--model", ckpt, "--split", sdir, "--limit", 2, "--out", out, "--max-new-tokens", 5,
             "--batch-size", 2, "--view", "side_by_side")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert [l["sample_id"] for l in lines] == ["s0", "s1"]
    assert "wrote 2 predictions" in r.stdout


def _write_split(folder, n=3):
    "A tiny built-split-like DatasetDict saved at `folder`; returns the sample ids."
    import datasets
    rows = [dict(toy_row(64, rng=i, sample_id=f"n{i}")) for i in range(n)]
    for r in rows: r["detections"] = json.dumps(r["detections"])
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(folder))
    return [r["sample_id"] for r in rows]


@pytest.mark.parametrize("how", ["name", "path", "name_under_data_root"])
def test_predict_cli_split_by_name_and_path(how, tmp_settings, saved_tiny, capsys):
    "`topo-r1 predict --split` takes a folder, or a name under data_root/splits (then data_root), like every command."
    from topo_r1.cli import main
    from topo_r1.metrics import read_predictions
    ckpt, _ = saved_tiny
    data = tmp_settings / "data"
    folder = data / ("toy" if how == "name_under_data_root" else "splits/toy")
    ids = _write_split(folder)
    split = str(folder) if how == "path" else "toy"
    out = tmp_settings / "out" / "PRED.jsonl"
    assert main(["predict", "--model", str(ckpt), "--split", split, "--limit", "2", "--out", str(out),
                 "--max-new-tokens", "4"]) == 0
    assert "wrote 2 predictions" in capsys.readouterr().out
    preds = read_predictions(out)
    assert [p["sample_id"] for p in preds] == ids[:2]
    assert all({"completion", "format_ok"} <= set(p) for p in preds)   # write_predictions keeps the extra keys
    assert [r["sample_id"] for r in load_rows(split)] == ids


def test_predict_cli_unknown_split_name(tmp_settings, saved_tiny, capsys):
    from topo_r1.cli import main
    ckpt, _ = saved_tiny
    assert main(["predict", "--model", str(ckpt), "--split", "nope", "--out", str(tmp_settings / "P.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no built split at 'nope'" in err and str(tmp_settings / "data" / "splits") in err
    assert not (tmp_settings / "P.jsonl").exists()


def test_old_names_still_import_from_vlm():
    "Every public name of the former vlm module stays importable from topo_r1.vlm, as the same object."
    import topo_r1.vlm as vlm, topo_r1.views as views, topo_r1.families as families, topo_r1.tiny as tiny
    from topo_r1.answer import VIEWS as ANSWER_VIEWS
    for mod in (views, families, tiny):
        for name in mod.__all__: assert getattr(vlm, name) is getattr(mod, name), name
    assert vlm.VIEWS is views.VIEWS is ANSWER_VIEWS   # one home for the view names


def test_predict_cli_missing_model(saved_tiny, tmp_path, capsys):
    from topo_r1.cli import main
    _, sdir = saved_tiny
    assert main(["predict", "--model", str(tmp_path / "no-such-model"), "--split", str(sdir)]) == 2
    assert "never downloaded" in capsys.readouterr().err


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_completion_roundtrip(family, view, rows):
    "The SFT target written in the family's frame parses back to the row's boxes (up to one model unit)."
    a = FAMILIES[family]
    proc = _procs(family, 128)
    for r in rows:
        back = a.parse(a.completion(r, view, proc), r, view, proc)
        assert back.format_ok, back.problems
        want = r["detections"][0]["bbox_2d"]
        scale = 1000 / r["width"] if a.coords == "relative1000" else a.model_hw(r["height"], r["width"], view, proc)[1] / r["width"]
        np.testing.assert_allclose(back.detections[0].box.to_list(), want, atol=1 / scale + 1e-6)
