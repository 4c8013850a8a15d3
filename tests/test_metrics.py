"Detection metrics: matching optimality against brute force, score invariants, PRED.jsonl I/O and `topo-r1 eval`."
import itertools, json, subprocess, sys
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from topo_r1.core import Box, Detection, ERROR_TYPES, iou_matrix
from topo_r1.metrics import (detection_scores, is_undefined, match_detections, read_predictions, score_keys, scores_table,
                             type_confusion, write_predictions, evaluate)


@st.composite
def dets(draw, max_n=5, types=ERROR_TYPES[:2]):
    out = []
    for _ in range(draw(st.integers(0, max_n))):
        x, y = draw(st.integers(0, 40)), draw(st.integers(0, 40))
        w, h = draw(st.integers(1, 20)), draw(st.integers(1, 20))
        out.append(Detection(Box(x, y, x + w, y + h), draw(st.sampled_from(types))))
    return out


def brute(preds, gts, tau):
    "Best (count, total IoU) over every type-aware one-to-one assignment."
    iou = iou_matrix([d.box for d in preds], [d.box for d in gts]) if preds and gts else np.zeros((len(preds), len(gts)))
    best = (0, 0.0)
    n = len(preds)
    for perm in itertools.permutations(list(range(len(gts))) + [None] * n, n):
        pairs = [(i, j) for i, j in enumerate(perm) if j is not None and preds[i].type == gts[j].type and iou[i, j] >= tau]
        best = max(best, (len(pairs), round(sum(iou[i, j] for i, j in pairs), 9)))
    return best


@settings(max_examples=150, deadline=None)
@given(dets(4), dets(4), st.sampled_from([0.1, 0.3, 0.5]))
def test_matching_is_optimal(preds, gts, tau):
    m = match_detections(preds, gts, tau)
    assert len({i for i, _, _ in m}) == len(m) == len({j for _, j, _ in m})
    for i, j, v in m: assert preds[i].type == gts[j].type and v >= tau
    assert (len(m), round(sum(v for *_, v in m), 9)) == brute(preds, gts, tau)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(dets(), dets()), max_size=5))
def test_scores_are_bounded_and_keys_exact(images):
    s = detection_scores([p for p, _ in images], [g for _, g in images])
    assert list(s) == score_keys()
    for k, v in s.items():
        assert is_undefined(v) or (v >= 0 and (k == "count_error" or v <= 1))
    n_pred, n_true = sum(len(p) for p, _ in images), sum(len(g) for _, g in images)
    # undefined (NaN) exactly where the denominator is 0: never a flattering 1.0 for nothing answered or nothing true
    assert is_undefined(s["P@0.5"]) == (n_pred == 0) and is_undefined(s["R@0.5"]) == (n_true == 0)
    assert is_undefined(s["F1@0.5"]) == is_undefined(s["aF1"]) == (n_pred + n_true == 0)
    for t in ERROR_TYPES:
        present = any(d.type == t for p, g in images for d in (*p, *g))
        assert is_undefined(s[f"F1@0.3/{t}"]) == (not present)


@settings(max_examples=100, deadline=None)
@given(st.lists(dets(), max_size=5), st.randoms())
def test_perfect_answers_score_one_in_any_order(gts, rnd):
    preds = [rnd.sample(g, len(g)) for g in gts]
    s = detection_scores(preds, gts)
    assert all(v == 1.0 for k, v in s.items() if k != "count_error" and not is_undefined(v))
    assert s["count_error"] == 0 if gts else is_undefined(s["count_error"])   # no image: no mean to take
    for t in ERROR_TYPES:   # a type absent from the truth (and so from the answers) has no F1, not 1.0
        assert is_undefined(s[f"F1@0.3/{t}"]) == (not any(d.type == t for g in gts for d in g))


def test_micro_averaging():
    g = Detection(Box(0, 0, 10, 10), "broken_connection")
    # image 1: 10 truths all found; image 2: 1 truth missed -> R = 10/11, not the mean of 1 and 0
    s = detection_scores([[g] * 10, []], [[g] * 10, [g]])
    assert s["R@0.5"] == pytest.approx(10 / 11) and s["P@0.5"] == 1.0
    assert s["image_accuracy"] == 0.5 and s["count_error"] == 0.5


def test_wire_dicts_and_bad_input():
    g = {"bbox_2d": [0, 0, 10, 10], "type": "extra_branch"}
    assert detection_scores([[g]], [[g]])["F1@0.75"] == 1.0
    with pytest.raises(ValueError, match="unknown error type"): detection_scores([[{"bbox_2d": [0, 0, 1, 1], "type": "x"}]], [[]])
    with pytest.raises(ValueError, match="per-image"): detection_scores("abc", [])
    with pytest.raises(ValueError, match="tau"): match_detections([], [], 1.5)
    assert "aF1" in scores_table(detection_scores([[g]], [[]]))
    none = detection_scores([[]], [[g]])   # answered nothing on an error: precision undefined, F1 0
    assert is_undefined(none["P@0.5"]) and none["F1@0.5"] == 0 and is_undefined(none["F1@0.3/broken_connection"])
    assert "| 0.5 |     – |   0.0 |   0.0 |" in scores_table(none) and "| broken_connection |     – |" in scores_table(none)


def test_confusion_accounts_for_every_box():
    rng = np.random.default_rng(0)
    P, G = [], []
    for _ in range(20):
        mk = lambda: [Detection(Box(x, y, x + 12, y + 12), str(rng.choice(ERROR_TYPES))) for x, y in rng.integers(0, 40, (rng.integers(0, 4), 2))]
        P.append(mk()); G.append(mk())
    c = np.array(type_confusion(P, G)["counts"])
    assert c[:4].sum() == sum(map(len, P))                     # every prediction in one cell
    tp = sum(len(match_detections(p, g, 0.3)) for p, g in zip(P, G))
    assert np.trace(c[:4, :4]) == tp


def _split(tmp_path):
    from datasets import Dataset, DatasetDict
    rows = [{"sample_id": f"s{i}", "detections": [{"bbox_2d": [i, i, i + 10, i + 10], "type": ERROR_TYPES[i % 4]}] if i % 3 else [],
             "domain": ["roads", "cracks"][i % 2]} for i in range(12)]
    DatasetDict({"test": Dataset.from_list(rows), "rl": Dataset.from_list(rows[:2])}).save_to_disk(str(tmp_path / "split"))
    return rows


def test_eval_cli_subprocess(tmp_path):
    rows = _split(tmp_path)
    write_predictions(tmp_path / "PRED.jsonl", [{"sample_id": r["sample_id"], "detections": r["detections"], "completion": "x"} for r in rows])
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "eval", "--pred", str(tmp_path / "PRED.jsonl"),
                        "--split", str(tmp_path / "split")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert list(m) == score_keys() and m["F1@0.5"] == 1.0
    assert set(json.loads((tmp_path / "metrics_by_domain.json").read_text())) == {"roads", "cracks"}
    assert "broken_connection" in (tmp_path / "metrics.md").read_text() and "F1" in r.stdout


def test_eval_cli_errors(tmp_path):
    rows = _split(tmp_path)
    write_predictions(tmp_path / "part.jsonl", [{"sample_id": r["sample_id"], "detections": []} for r in rows[:5]])
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "eval", "--pred", str(tmp_path / "part.jsonl"),
                        "--split", str(tmp_path / "split")], capture_output=True, text=True)
    assert r.returncode == 2 and "7 of 12 samples have no prediction" in r.stderr
    with pytest.raises(ValueError, match="not in the split"):
        evaluate([{"sample_id": r["sample_id"], "detections": []} for r in rows], tmp_path / "split", "rl")
    with pytest.raises(ValueError, match="predicted twice"):
        evaluate([{"sample_id": "s0", "detections": []}] * 2, tmp_path / "split")
    with pytest.raises(FileNotFoundError, match="no built split"):
        evaluate([], tmp_path / "nope")
    (tmp_path / "bad.jsonl").write_text('{"sample_id": "s0"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"): read_predictions(tmp_path / "bad.jsonl")
