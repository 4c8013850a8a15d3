"Real segmenter errors: the injectors run backwards, `topo-r1 segment` and `topo-r1 diff` (synthetic and real data)."
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from topo_r1.build import FEATURES
from topo_r1.cli import main
from topo_r1.inject import inject_errors
from topo_r1.segmenter_errors import diff_folders, diff_samples, segmenter_errors, vessel_segmenter
from topo_r1.sources import find_real_datasets, list_real
from topo_r1.splits import load_split
from topo_r1.synthetic import make_scene

REAL = find_real_datasets()


@pytest.mark.parametrize("domain", ["roads", "vessels", "cracks"])
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_recovers_the_injectors_own_errors(domain, seed):
    _, clean = make_scene(domain, 256, seed)
    corrupted, injected = inject_errors(clean, 5, rng=seed)
    found, counts = segmenter_errors(corrupted, clean)
    assert sorted(e.type for e in found) == sorted(e.type for e in injected)
    for e in injected:   # the injectors box the changed pixels the same way; a 1-px sliver of a tube can split off
        f = max((f for f in found if f.type == e.type), key=lambda f: f.box.iou(e.box))
        assert f.box.iou(e.box) > 0.5
    assert counts["other"] == 0 and counts["regions"] >= len(injected)


def test_each_type_by_hand():
    truth = np.zeros((64, 64), bool); truth[30:33, 4:60] = True; truth[8:30, 30:33] = True   # a T
    gap = truth.copy(); gap[30:33, 10:13] = False
    stump = truth.copy(); stump[8:27, 30:33] = False
    bridge = truth.copy(); bridge[45:48, 4:60] = True; bridge[33:45, 50:53] = True
    grow = truth.copy(); grow[33:50, 12:15] = True
    want = {"broken_connection": gap, "missing_branch": stump, "extra_branch": grow}
    for t, pred in want.items():
        errs, _ = segmenter_errors(pred, truth)
        assert [e.type for e in errs] == [t], t
    two = truth.copy(); two[45:48, 4:60] = True                  # two separate bars; the prediction bridges them
    errs, _ = segmenter_errors(bridge, two)
    assert [e.type for e in errs] == ["spurious_connection"]
    assert errs[0].box.width >= 16 and errs[0].box.height >= 16


def test_noise_is_not_an_error_and_pieces_are_other():
    _, clean = make_scene("vessels", 128, 7)
    errs, c = segmenter_errors(ndi.binary_dilation(clean), clean)
    assert errs == [] and c["no_change"] >= 1
    blob = clean.copy()
    far = np.argwhere(ndi.distance_transform_edt(~clean) > 8)
    far = far[len(far) // 2]
    blob[far[0] - 1:far[0] + 2, far[1] - 1:far[1] + 2] = True
    errs, c = segmenter_errors(blob, clean)
    assert errs == [] and c["other"] == 1 and any("extra" in k for k in c["other_changes"])


def _triples(root: Path, n: int = 2):
    for sub in ("images", "pred", "truth"): (root / sub).mkdir(parents=True, exist_ok=True)
    for k in range(n):
        im, clean = make_scene("roads", 256, k)
        corrupted, _ = inject_errors(clean, 3, rng=k)
        Image.fromarray(im).save(root / "images" / f"s{k}.png")
        Image.fromarray(clean.astype(np.uint8) * 255).save(root / "truth" / f"s{k}.png")
        Image.fromarray(corrupted.astype(np.uint8) * 255).save(root / "pred" / f"s{k}.png")
    return im, clean


def test_diff_bad_input(tmp_path, capsys):
    im, clean = _triples(tmp_path)
    Image.fromarray(clean[:100].astype(np.uint8) * 255).save(tmp_path / "pred" / "small.png")
    Image.fromarray(clean.astype(np.uint8) * 255).save(tmp_path / "truth" / "small.png")
    Image.fromarray(im).save(tmp_path / "images" / "small.png")
    Image.fromarray((clean * 90 + 3).astype(np.uint8)).save(tmp_path / "pred" / "grey.png")
    Image.fromarray(clean.astype(np.uint8) * 255).save(tmp_path / "truth" / "grey.png")
    Image.fromarray(im).save(tmp_path / "images" / "grey.png")
    Image.fromarray(im).save(tmp_path / "images" / "nopred.png")
    rows, counts, skipped = diff_folders(tmp_path / "pred", tmp_path / "truth", tmp_path / "images", "roads", progress=False)
    assert {r["sample_id"].split("/")[1].split("@")[0] for r in rows} == {"s0", "s1"}
    why = {Path(s["file"]).name: s["reason"] for s in skipped}
    assert "same size" in why["small.png"] and "must be binary" in why["grey.png"]
    lonely = " ".join(s["reason"] for s in skipped if Path(s["file"]).name == "nopred.png")
    assert "no predicted mask" in lonely and "no true mask" in lonely
    with pytest.raises(FileNotFoundError, match="not a folder"): diff_folders(tmp_path / "x", tmp_path / "truth", tmp_path / "images", "roads")
    with pytest.raises(ValueError, match="unknown domain"): diff_folders(tmp_path / "pred", tmp_path / "truth", tmp_path / "images", "rivers")
    (tmp_path / "none").mkdir()
    assert main(["diff", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "none"), "--images",
                 str(tmp_path / "images"), "--domain", "roads", "--out", str(tmp_path / "o")]) == 2
    assert "no (image, prediction, truth) triple" in capsys.readouterr().err
    for d in ("pred", "truth", "images"):   # only the grey prediction left: the headline names the real reason
        for f in (tmp_path / d).iterdir():
            if f.stem != "grey": f.unlink()
    assert main(["diff", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth"), "--images",
                 str(tmp_path / "images"), "--domain", "roads", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "\ntopo-r1 diff: error: the masks must be binary" in err and "grey" in err and "enough true foreground" not in err


def test_diff_split_is_scored_like_any_split(tmp_path):
    _triples(tmp_path)
    out = tmp_path / "split"
    assert main(["diff", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / "truth"), "--images",
                 str(tmp_path / "images"), "--domain", "roads", "--out", str(out), "--size", "128", "--no-gallery"]) == 0
    ds = load_split(out)
    assert ds.features == FEATURES and set(ds["source"]) == {"segmenter"}
    assert 0 < len(ds) <= 8                                     # 4 windows per image, those with >= 1 % truth
    assert main(["baseline", "classical", "--split", str(out), "--out", str(tmp_path / "PRED.jsonl")]) == 0
    assert main(["eval", "--pred", str(tmp_path / "PRED.jsonl"), "--split", str(out)]) == 0
    scores = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 <= scores["F1@0.3"] <= 1
    m = json.loads((out / "manifest.json").read_text())
    assert m["errors"] == sum(ds["n_errors"]) and m["source"] == "segmenter"


@pytest.mark.skipif("drive" not in REAL, reason="DRIVE not under real_data_roots")
def test_frangi_on_drive_fast_path_matches_exact():
    it = next(i for i in list_real("drive") if i.source_id.endswith("_test"))
    image, truth = it.load()
    pred = vessel_segmenter(image)
    dice = 2 * (pred & truth).sum() / (pred.sum() + truth.sum())
    assert 0.5 < dice < 0.9                                  # a real, imperfect segmenter
    p, t = pred[300:428, 300:428], truth[300:428, 300:428]
    fast, cf = segmenter_errors(p, t)
    exact, ce = segmenter_errors(p, t, exact=True)
    assert [(e.type, e.box) for e in fast] == [(e.type, e.box) for e in exact]
    assert cf == ce


@pytest.mark.skipif("drive" not in REAL, reason="DRIVE not under real_data_roots")
def test_segment_and_diff_drive(tmp_path):
    assert main(["segment", "--dataset", "drive", "--segmenter", "frangi", "--out", str(tmp_path / "seg"), "--limit", "1"]) == 0
    stem = next((tmp_path / "seg" / "pred").iterdir()).stem
    assert (tmp_path / "seg" / "truth" / f"{stem}.gif").is_symlink()          # linked, never copied
    assert (tmp_path / "seg" / "images" / f"{stem}.tif").is_symlink()
    assert main(["diff", "--pred", str(tmp_path / "seg" / "pred"), "--truth", str(tmp_path / "seg" / "truth"),
                 "--images", str(tmp_path / "seg" / "images"), "--domain", "vessels", "--out", str(tmp_path / "split")]) == 0
    ds = load_split(tmp_path / "split")
    assert len(ds) == 9 and sum(ds["n_errors"]) > 0 and set(ds["domain"]) == {"vessels"}


@pytest.mark.skipif("cfd" not in REAL, reason="CrackForest not under real_data_roots")
def test_cfd_mat_truth_with_ridge_segmenter(tmp_path):
    assert main(["segment", "--dataset", "cfd", "--segmenter", "ridge", "--out", str(tmp_path / "seg"), "--limit", "2"]) == 0
    rows, counts, skipped = diff_folders(tmp_path / "seg" / "pred", tmp_path / "seg" / "truth", tmp_path / "seg" / "images",
                                         "cracks", progress=False)
    assert skipped == [] and len(rows) >= 2 and counts["regions"] > 0
