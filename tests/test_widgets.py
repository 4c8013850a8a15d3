"Headless tests of the widgets: driven through their widgets' values, checked against the plain functions."
import json, math
import numpy as np
import pytest
from PIL import Image

from topo_r1.build import build_dataset
from topo_r1.core import ERROR_TYPES
from topo_r1.metrics import (CONFUSION_COLS, CONFUSION_ROWS, OUTCOMES, detection_scores, match_outcomes, prf,
                             write_predictions)
from topo_r1.splits import load_split
from topo_r1.views import toy_row
from topo_r1.widgets import (ALL, FailureExplorer, demo_predictions, filter_samples, render_sample, run_files,
                             split_meta)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    "A tiny split built with the kit (64 px) and a PRED.jsonl with typical mistakes and completions."
    d = tmp_path_factory.mktemp("widgets")
    build_dataset(d / "split", scale=0.002, size=64, limit=24, workers=1, sources="synthetic", gallery=False, progress=False)
    meta = split_meta(load_split(d / "split"))
    preds = demo_predictions(meta, rng=1)
    write_predictions(d / "PRED.jsonl", preds)
    return d, meta, preds


def _outcomes(ex):
    return match_outcomes([ex.by_id[s["sample_id"]]["detections"] for s in ex.table], [s["detections"] for s in ex.table], ex.tau)


def test_filters_count_as_match_outcomes_says(built):
    d, meta, preds = built
    ex = FailureExplorer(d / "split", d / "PRED.jsonl")
    recs = _outcomes(ex)
    assert ex.count == len(meta) and ex.readout.value == f"1 of {len(meta)}"
    for o in OUTCOMES:
        ex.outcome.value = o
        assert ex.count == len({r["image"] for r in recs if r["outcome"] == o}), o
    ex.outcome.value = ALL
    for t in ERROR_TYPES:
        ex.error_type.value = t
        assert ex.count == len({r["image"] for r in recs if r["type"] == t}), t
    ex.error_type.value, ex.iou.value = ALL, (0.5, 1.0)
    assert ex.count == len({r["image"] for r in recs if r["iou"] >= 0.5})
    ex.iou.value, ex.failures_only.value = (0.0, 1.0), True
    assert ex.count == len({r["image"] for r in recs if r["outcome"] != "TP"})
    ex.failures_only.value = False
    dom = ex.domain.options[1]
    ex.domain.value = dom
    assert ex.count == sum(m["domain"] == dom for m in meta)


def test_sample_counts_add_up_to_detection_scores(built):
    d, meta, preds = built
    ex = FailureExplorer(d / "split", preds)
    tp, fp, fn = (sum(s[k] for s in ex.table) for k in ("TP", "FP", "FN"))
    s = detection_scores([p["detections"] for p in preds], [m["detections"] for m in meta])
    assert prf(tp, fp, fn)[2] == pytest.approx(s["F1@0.3"])


def test_next_prev_slider_change_the_picture(built):
    d, _, _ = built
    ex = FailureExplorer(d / "split", d / "PRED.jsonl")
    pics = [ex.image.value]
    ex.next_button.click(); pics.append(ex.image.value)
    assert ex.position == 1 and pics[1] != pics[0] and ex.readout.value.startswith("2 of")
    ex.prev_button.click()
    assert ex.position == 0 and ex.image.value == pics[0]
    ex.prev_button.click()
    assert ex.position == ex.count - 1                                  # wraps around
    ex.slider.value = 3
    assert ex.position == 3 and ex.current is ex.table[ex.shown[3]]
    z = ex.zoom.options[1][1]
    ex.zoom.value = z
    assert len(ex.figure().axes) == 4


def test_confusion_cell_click_filters_to_it(built):
    d, _, _ = built
    ex = FailureExplorer(d / "split", d / "PRED.jsonl")
    cells = [k for k, b in ex.cell_buttons.items() if b.description != "0"]
    assert cells
    for cell in cells[:4]:
        n = int(ex.cell_buttons[cell].description)
        ex.cell_buttons[cell].click()
        ci = CONFUSION_ROWS.index(cell[0]), CONFUSION_COLS.index(cell[1])
        assert ex.cell == cell and ex.shown == filter_samples(ex.table, cell=cell)
        assert sum(ex.table[k]["confusion"][ci] for k in ex.shown) == n
        assert ex.cell_buttons[cell].description == str(n)             # the matrix ignores its own cell filter
        ex.cell_buttons[cell].click()
        assert ex.cell is None and ex.count == len(ex.table)


def test_sorts(built):
    d, _, _ = built
    ex = FailureExplorer(d / "split", d / "PRED.jsonl")
    ex.sort.value = "f1"
    f1 = [ex.table[k]["f1"] for k in ex.shown]
    defined = [v for v in f1 if not math.isnan(v)]   # undefined F1 (a clean mask answered `[]`) comes last
    assert f1[:len(defined)] == sorted(defined) and all(math.isnan(v) for v in f1[len(defined):])
    ex.sort.value = "errors"
    ne = [ex.table[k]["n_errors"] for k in ex.shown]
    assert ne == sorted(ne, reverse=True)
    ex.sort.value = "reward"
    r = [ex.rewards()[k] for k in ex.shown]
    assert r == sorted(r) and all(v is not None for v in r)
    assert "Topo-R1 reward" in ex.reward.value and "ROAM" in ex.reward.value


def test_malformed_lines_are_failures_of_their_samples_and_never_crash(built, tmp_path):
    d, meta, preds = built
    lines = (d / "PRED.jsonl").read_text().splitlines()
    rng = np.random.default_rng(0)
    bad = {1: lines[1][: len(lines[1]) // 2],                                   # cut short
           3: json.dumps({"sample_id": meta[3]["sample_id"], "detections": [{"bbox_2d": [5, 5, 1, 1], "type": "x"}],
                          "completion": "<think>hm</think><answer>[{bad</answer>"}),
           5: json.dumps({"sample_id": meta[5]["sample_id"], "detections": "nope"}),
           6: "".join(chr(c) for c in rng.integers(32, 127, 80))}                # names no sample
    for k, v in bad.items(): lines[k] = v
    (tmp_path / "PRED.jsonl").write_text("\n".join(lines) + "\n")
    ex = FailureExplorer(d / "split", tmp_path / "PRED.jsonl")
    assert any("names no sample" in p for p in ex.problems)
    ex.failures_only.value = True
    ids = [ex.table[k]["sample_id"] for k in ex.shown]
    for k in (1, 3, 5):
        sid = meta[k]["sample_id"]
        assert sid in ids and ex.by_id[sid]["error"]
        ex.show(ids.index(sid))
        assert "malformed PRED line" in ex.completion.value and ex.image.value
    ex.show(ids.index(meta[3]["sample_id"]))
    assert "hm" in ex.completion.value                                          # the completion is kept
    for _ in range(ex.count): ex.next_button.click()                           # every sample draws


def test_bad_input(built, tmp_path):
    d, meta, _ = built
    write_predictions(tmp_path / "P.jsonl", [{"sample_id": meta[0]["sample_id"], "detections": []},
                                             {"sample_id": "zz-1", "detections": []}, {"sample_id": "zz-2", "detections": []}])
    with pytest.raises(ValueError, match=r"2 predicted sample ids are not in the split, first: \['zz-1', 'zz-2'\]"):
        FailureExplorer(d / "split", tmp_path / "P.jsonl")
    with pytest.raises(ValueError, match="lacks the columns"):
        FailureExplorer([{"sample_id": "a", "detections": []}], {"a": []})
    with pytest.raises(ValueError, match="has no subset"):
        FailureExplorer(d / "split", tmp_path / "P.jsonl", subset="nope")
    with pytest.raises(FileNotFoundError):
        FailureExplorer(d / "split", tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="tau"):
        FailureExplorer(d / "split", {meta[0]["sample_id"]: []}, tau=0)


def test_size_mismatch_named_from_png_headers(built, tmp_path):
    import datasets
    d, meta, _ = built
    ds = datasets.load_from_disk(str(d / "split"))["test"]
    ds = ds.map(lambda r, i: {"mask": Image.new("L", (48, 64))} if i == 2 else {}, with_indices=True)
    ds.save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(ValueError, match=rf"1 rows have a mask whose size .* first: {meta[2]['sample_id']} \(image \(64, 64\), mask \(64, 48\)\)"):
        FailureExplorer(tmp_path / "odd", {m["sample_id"]: [] for m in meta})
    rows = [toy_row(64, rng=0, sample_id="a"), dict(toy_row(64, rng=1, sample_id="b"), clean_mask=np.zeros((64, 40), bool))]
    with pytest.raises(ValueError, match="clean_mask"):
        FailureExplorer(rows, {"a": [], "b": []})
    with pytest.raises(ValueError, match="differ in size"):
        render_sample(dict(rows[0], image=np.zeros((10, 10, 3), np.uint8)))


def test_from_run_reads_the_run_folder(built, tmp_path):
    d, meta, preds = built
    run = tmp_path / "runs" / "quickstart" / "20260101-000000"
    run.mkdir(parents=True)
    for name in ("empty", "classical", "untrained", "sft", "grpo"):
        write_predictions(run / f"PRED_{name}.jsonl", preds[:8] if name != "empty" else [dict(p, detections=[]) for p in preds[:8]])
    (run / "manifest.json").write_text(json.dumps({"experiment": "quickstart", "parameters": {"split": ""}}))
    (run / "metrics.json").write_text(json.dumps({"F1@0.3": 0.0, "split": str(d / "split")}))
    ex = FailureExplorer.from_run(run)
    assert ex.count == 8 and ex.unpredicted == len(meta) - 8
    assert run_files(run)[1].name == "PRED_grpo.jsonl"
    assert FailureExplorer.from_run(run, "empty").table[0]["TP"] == 0
    (run / "metrics.json").unlink()
    with pytest.raises(ValueError, match="does not say which split"):
        FailureExplorer.from_run(run)
    (run / "manifest.json").write_text(json.dumps({"parameters": {"split": str(d / "split")}}))
    assert FailureExplorer.from_run(run, "PRED_sft.jsonl").count == 8
    with pytest.raises(FileNotFoundError, match="no PRED file"):
        FailureExplorer.from_run(run, "nope")



def test_from_run_shows_the_reward_the_run_trained_with(built, tmp_path):
    "A run whose GRPO train config sets other weights and phi: the shown reward is what its own reward function gives."
    from topo_r1.core import row_detections
    from topo_r1.rewards import REWARD_SETTINGS, make_topo_reward, reward_terms
    d, meta, preds = built
    run = tmp_path / "runs" / "grpo" / "20260101-000000"
    (run / "model").mkdir(parents=True)
    write_predictions(run / "PRED.jsonl", preds)
    (run / "metrics.json").write_text(json.dumps({"split": str(d / "split")}))
    (run / "manifest.json").write_text(json.dumps({"experiment": "grpo", "parameters": {"split": "", "phi_kind": "raw"}}))
    cfg = {"kind": "grpo", "output_dir": str(run / "model"), "w_fmt": 0.3, "w_acc": 0.4, "w_topo": 0.3, "phi_kind": "raw",
           "use_cldice": True, "size_power": 0.0, "w_roam": 0.0, "learning_rate": 1e-6}
    (run / "model" / "train_config.json").write_text(json.dumps(cfg))
    settings = {k: cfg[k] for k in REWARD_SETTINGS}
    assert settings != REWARD_SETTINGS
    ex = FailureExplorer.from_run(run)
    assert ex.reward_settings == settings
    reward = make_topo_reward(**settings)               # the reward function training built from that config
    differs = 0
    for k in range(ex.count):
        ex.show(k)
        row, p = ex.row(), ex.by_id[ex.current["sample_id"]]
        cols = dict(row, detections=row_detections(row))
        want = reward([p["completion"]], **{c: [v] for c, v in cols.items()})[0]
        assert ex.terms["reward"] == pytest.approx(want, abs=1e-12)
        assert f"{want:.3f}" in ex.reward.value
        differs += abs(want - reward_terms(row, p)["reward"]) > 1e-3   # the default reward would show another number
    assert differs > 0
    assert FailureExplorer(d / "split", d / "PRED.jsonl").reward_settings == REWARD_SETTINGS

def test_cli_run_hints_at_the_one_line_that_opens_the_explorer(built, tmp_path):
    "`topo-r1 run` prints the run folder on stdout, and on stderr the line that opens its predictions; that line works."
    import subprocess, sys
    import nbformat
    d, _, preds = built
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("out_dir = '.'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "import json, pathlib, shutil\n"
                    f"shutil.copy({str(d / 'PRED.jsonl')!r}, pathlib.Path(out_dir, 'PRED.jsonl'))\n"
                    f"pathlib.Path(out_dir, 'metrics.json').write_text(json.dumps({{'split': {str(d / 'split')!r}}}))")]
    nbformat.write(nb, tmp_path / "toy.ipynb")
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "run", str(tmp_path / "toy.ipynb"), "--runs-dir",
                        str(tmp_path / "runs"), "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    run_dir = r.stdout.strip().splitlines()[-1]
    hint = next(l for l in r.stderr.splitlines() if "FailureExplorer.from_run" in l)
    assert repr(run_dir) in hint
    ns = {}
    exec(hint.split(": ", 1)[1].replace("FailureExplorer.from_run", "ex = FailureExplorer.from_run"), ns)
    assert ns["ex"].count == len(preds)


# -- AttentionExplorer -------------------------------------------------------------------------------------------
COMPLETION = ("<think>I find one topological error: a broken connection, a gap that cuts the long stroke in the middle."
              "</think><answer>[]</answer>")


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def tiny_att(request):
    "A tiny VLM of each family with an 8×8 token grid on 128 px, 4 layers (two traced), and a toy row."
    from topo_r1.vlm import tiny_vlm
    patch = {"qwen2_5_vl": 8, "qwen3_vl": 8}[request.param]
    model, processor = tiny_vlm(request.param, seed=0, vision_patch_size=patch, num_hidden_layers=4, min_pixels=128 * 128)
    return model, processor, toy_row(128, rng=0, sample_id="toy-att")


def test_token_click_shows_pixel_map_and_sliders_give_real_map(tiny_att):
    from topo_r1.attention import real_map, trace_attention
    from topo_r1.widgets import AttentionExplorer
    model, processor, row = tiny_att
    trace = trace_attention(model, processor, row, COMPLETION)
    ax = AttentionExplorer.from_model(model, processor, row, COMPLETION)
    assert ax.trace.tokens == trace.tokens and len(ax.chips) == len(trace.tokens)
    pics = {ax.image.value}
    for i in trace.reasoning[:6]:
        ax.chips[i].click()
        assert ax.selected == [i] and np.allclose(ax.maps["token"], trace.pixel_map(i))
        assert ax.chips[i].layout.border.startswith("2px")
        pics.add(ax.image.value)
    assert len(pics) > 1
    a, b = trace.reasoning[:2]
    ax.chips[a].click()
    ax.multi.value = True
    ax.chips[b].click()
    assert ax.selected == [a, b] and np.allclose(ax.maps["token"], trace.pixel_map([a, b]))
    ax.chips[a].click()                                           # a second click removes it
    assert ax.selected == [b]
    for tau in (0.0, 0.3, 0.9):
        ax.tau_t.value = tau
        assert np.allclose(ax.maps["ReAL"], real_map(trace, tau_t=tau).map)
    ax.tau_i.value, ax.alpha.value, ax.beta.value = 0.1, 0.7, 0.2
    assert np.allclose(ax.maps["ReAL"], real_map(trace, tau_t=0.9, tau_i=0.1, alpha=0.7, beta=0.2).map)
    last = trace.layers[-1]
    ax.layers.value, ax.heads.value = (last, last), "max"
    v = trace.select(layers=[last], heads="max")
    assert np.allclose(ax.maps["ReAL"], real_map(v, tau_t=0.9, tau_i=0.1, alpha=0.7, beta=0.2).map)
    assert np.allclose(ax.maps["token"], v.pixel_map(b))
    assert "pixel AUROC" in ax.scores.value and "top reasoning tokens" in ax.table.value


def test_from_trace_opens_a_saved_trace_without_a_model(tiny_att, tmp_path):
    from topo_r1.attention import AttentionTrace, real_map, trace_attention
    from topo_r1.widgets import AttentionExplorer
    model, processor, row = tiny_att
    trace = trace_attention(model, processor, row, COMPLETION)
    path = trace.save(tmp_path / "t")
    for t in (path, AttentionTrace.load(path), trace):
        ax = AttentionExplorer.from_trace(t, row)
        assert np.allclose(ax.maps["ReAL"], real_map(trace).map)
        ax.chips[trace.reasoning[0]].click()
        assert np.allclose(ax.maps["token"], trace.pixel_map(trace.reasoning[0]))
    with pytest.raises(ValueError, match="mask"):
        AttentionExplorer.from_trace(trace, toy_row(96, rng=0))
    with pytest.raises(FileNotFoundError):
        AttentionExplorer.from_trace(tmp_path / "nope", row)
    with pytest.raises(ValueError, match="AttentionTrace"):
        AttentionExplorer.from_trace({"tokens": []}, row)


def test_generates_when_no_completion_is_given(tiny_att, monkeypatch):
    import topo_r1.attention_explorer as ae
    from topo_r1.widgets import AttentionExplorer
    model, processor, row = tiny_att
    calls = []
    monkeypatch.setattr(ae, "generate", lambda *a, **k: calls.append(k) or [COMPLETION])
    ax = AttentionExplorer.from_model(model, processor, row)
    assert calls and ax.trace.completion == COMPLETION
    monkeypatch.setattr(ae, "generate", lambda *a, **k: ["no think block here <answer>[]</answer>"])
    with pytest.raises(ValueError, match="cannot trace this completion: .*no reasoning"):
        AttentionExplorer.from_model(model, processor, row)
