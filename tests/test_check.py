"`topo-r1 check`: tiling, mapping back and merging, the outputs, bad input, a VLM detector, real DRIVE images."
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from topo_r1.check import (check_masks, merge_detections, pair_files, read_binary_mask, tile_grid, to_image_frame,
                           VLMDetector)
from topo_r1.cli import main
from topo_r1.core import Box, Detection, ERROR_TYPES
from topo_r1.metrics import read_predictions
from topo_r1.sources import find_real_datasets, list_real
from topo_r1.synthetic import make_scene


def _save(folder: Path, name: str, a: np.ndarray):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a.astype(np.uint8) * 255 if a.dtype == bool else a).save(folder / name)


@pytest.mark.parametrize("shape,tile,overlap", [((584, 565), 256, 32), ((1000, 700), 256, 48), ((300, 120), 128, 16),
                                               ((100, 90), 256, 32)])
def test_cores_partition_the_image(shape, tile, overlap):
    cover = np.zeros(shape, int)
    for g in tile_grid(shape, tile, overlap):
        assert g["row"] + g["height"] <= shape[0] and g["col"] + g["width"] <= shape[1]
        rows, cols = g["core"].slices(); cover[rows, cols] += 1
        # the owner sees at least half an overlap of context past its core (except at the image border)
        c = g["core"]
        if c.x1 > 0: assert c.x1 - g["col"] >= overlap // 2
        if c.x2 < shape[1]: assert g["col"] + g["width"] - c.x2 >= overlap // 2
    assert (cover == 1).all()


def _oracle(truth: list[Detection], jitter: int = 0):
    "A detector that reports, in each tile, every true box lying wholly inside it (optionally jittered per tile)."
    def detect(tiles):
        out = []
        for t in tiles:
            r, c = map(int, t["sample_id"].rsplit("@", 1)[1].split(","))
            h, w = t["height"], t["width"]
            dets = []
            for k, d in enumerate(truth):
                b = d.box
                if c <= b.x1 and b.x2 <= c + w and r <= b.y1 and b.y2 <= r + h:
                    j = jitter * (((r + c) // 7 + k) % 3 - 1)
                    dets.append(Detection(Box(b.x1 - c + j, b.y1 - r + j, b.x2 - c + j, b.y2 - r + j), d.type))
            out.append(dets)
        return out
    detect.name = "oracle"
    return detect


@pytest.mark.parametrize("jitter", [0, 1])
def test_every_error_comes_back_once_in_image_pixels(jitter):
    rng = np.random.default_rng(0)
    shape = (584, 565)
    truth = []
    for _ in range(40):                                   # boxes smaller than the overlap, anywhere
        w, h = rng.uniform(8, 30, 2)
        x, y = rng.uniform(1, shape[1] - w - 1), rng.uniform(1, shape[0] - h - 1)
        truth.append(Detection(Box(x, y, x + w, y + h), ERROR_TYPES[rng.integers(4)]))
    truth = [d for i, d in enumerate(truth) if all(d.type != e.type or d.box.iou(e.box) == 0 for e in truth[:i])]
    image, mask = np.zeros((*shape, 3), np.uint8), np.ones(shape, bool)
    rows = check_masks([(image, mask)], _oracle(truth, jitter), progress=False)
    got = sorted((d["type"], *np.round(d["bbox_2d"])) for d in rows[0]["detections"])
    assert len(got) == len(truth)
    if jitter == 0: assert got == sorted((d.type, *np.round(d.box.to_list())) for d in truth)


def test_merge_keeps_types_apart_and_prefers_context():
    a, b = Detection(Box(0, 0, 20, 20), "broken_connection"), Detection(Box(2, 2, 20, 20), "broken_connection")
    c = Detection(Box(0, 0, 20, 20), "extra_branch")
    assert merge_detections([(a, 1.0), (b, 9.0), (c, 0.0)]) == [c, b]     # sorted top to bottom, left to right
    inner = Detection(Box(5, 5, 10, 10), "broken_connection")      # mostly inside a: the same error
    assert merge_detections([(a, 5.0), (inner, 1.0)]) == [a]
    with pytest.raises(ValueError, match="nms_iou"): merge_detections([], nms_iou=0)


def test_ownership_drops_the_copy_seen_near_a_tile_border():
    g = tile_grid((584, 565))
    d = Detection(Box(230, 100, 250, 120), "missing_branch")      # centre x = 240, the cut between the first two
    assert to_image_frame([d], g[0], (584, 565)) == []
    assert len(to_image_frame([Detection(Box(6, 100, 26, 120), "missing_branch")], g[1], (584, 565))) == 1


@pytest.fixture
def folder(tmp_path):
    im, m = make_scene("roads", (300, 420), 1)
    for k in range(2): _save(tmp_path / "images", f"r{k}.png", im); _save(tmp_path / "masks", f"r{k}.gif", m)
    _save(tmp_path / "images", "size.png", im); _save(tmp_path / "masks", "size.png", m[:, :300])
    _save(tmp_path / "images", "grey.jpg", im); _save(tmp_path / "masks", "grey.jpg", m)   # JPEG: not binary
    _save(tmp_path / "images", "empty.png", im); _save(tmp_path / "masks", "empty.png", np.zeros_like(m))
    _save(tmp_path / "images", "alone.png", im); _save(tmp_path / "masks", "orphan.png", m)
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png"); _save(tmp_path / "masks", "broken.png", m)
    return tmp_path


def test_cli_writes_everything_and_reports_bad_files(folder, capsys):
    out = folder / "out"
    assert main(["check", "--images", str(folder / "images"), "--masks", str(folder / "masks"), "--out", str(out),
                 "--domain", "roads", "--quiet"]) == 0
    rows = read_predictions(out / "detections.jsonl")
    assert [r["sample_id"] for r in rows] == ["r0", "r1"]
    for r in rows:
        assert (r["height"], r["width"], r["tile"], r["overlap"], r["n_tiles"]) == (300, 420, 256, 32, 4)
        assert all(0 <= d["bbox_2d"][0] < d["bbox_2d"][2] <= 420 and 0 <= d["bbox_2d"][1] < d["bbox_2d"][3] <= 300
                   for d in r["detections"])
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["r0.png", "r1.png"]
    report = (out / "report.md").read_text()
    for name, why in [("size.png", "size mismatch"), ("grey.jpg", "must be binary"), ("empty.png", "empty mask"),
                      ("alone.png", "no mask with stem"), ("orphan.png", "no image with stem"),
                      ("broken.png", "not an image file")]:
        line = next(l for l in report.splitlines() if f"`{name}`" in l)
        assert why in line, line
    m = json.loads((out / "manifest.json").read_text())
    assert m["images"] == 2 and len(m["skipped"]) == 6 and m["parameters"]["detector"] == "classical"
    assert m["versions"]
    said = capsys.readouterr()
    assert "checked 2 images, " in said.out and "6 files skipped" in said.out
    assert said.err.count("  skipped ") == 5 and "... and 1 more" in said.err   # the first reasons on the terminal


def test_cli_fails_when_every_file_is_skipped(tmp_path, capsys):
    im, m = make_scene("roads", (64, 64), 1)
    _save(tmp_path / "images", "grey.jpg", im); _save(tmp_path / "masks", "grey.jpg", m)   # JPEG: not binary
    _save(tmp_path / "images", "alone.png", im)
    assert main(["check", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"), "--out", str(tmp_path / "out"),
                 "--quiet"]) == 1
    said = capsys.readouterr()
    assert said.out.startswith("checked 0 images, 0 errors found, 2 files skipped") and "every file was skipped" in said.err
    assert "skipped grey.jpg: " in said.err and "must be binary" in said.err and "skipped alone.png: " in said.err


def test_cli_bad_folders(tmp_path, capsys):
    assert main(["check", "--images", str(tmp_path / "nope"), "--masks", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    _save(tmp_path / "a", "x.png", np.zeros((8, 8, 3), np.uint8))
    assert main(["check", "--images", str(tmp_path / "a"), "--masks", str(tmp_path / "b")]) == 2
    assert "no image/mask pairs" in capsys.readouterr().err


def test_bad_arguments():
    with pytest.raises(ValueError, match="overlap"): check_masks([(np.zeros((9, 9, 3), np.uint8), np.ones((9, 9)))], overlap=200)
    with pytest.raises(ValueError, match="detector must be"): check_masks([(np.zeros((9, 9, 3), np.uint8), np.ones((9, 9)))], detector="")
    with pytest.raises(ValueError, match="pairs is empty"): check_masks([])


def test_mask_encodings(tmp_path):
    m = np.eye(6, dtype=bool)
    for name, a in [("b.png", m.astype(np.uint8) * 255), ("c.png", m.astype(np.uint8)), ("d.tif", m.astype(np.uint8) * 255),
                    ("e.png", np.repeat(m[..., None].astype(np.uint8) * 255, 3, 2))]:
        Image.fromarray(a).save(tmp_path / name)
        assert (read_binary_mask(tmp_path / name) == m).all(), name
    Image.fromarray(np.dstack([m * 255, m * 0, m * 0]).astype(np.uint8)).save(tmp_path / "red.png")
    with pytest.raises(ValueError, match="colour image"): read_binary_mask(tmp_path / "red.png")


def test_tiny_vlm_detector_batches_tiles():
    im, m = make_scene("vessels", (300, 300), 0)
    det = VLMDetector("tiny", batch_size=4, max_new_tokens=24)
    rows = check_masks([(im, m)], det, progress=False)
    assert rows[0]["n_tiles"] == 4 and rows[0]["detector"] == "vlm:tiny"
    for d in rows[0]["detections"]: Detection.from_dict(d)


@pytest.mark.skipif("drive" not in find_real_datasets(), reason="DRIVE not under real_data_roots")
def test_full_size_drive_image(tmp_path):
    it = next(i for i in list_real("drive") if i.source_id.endswith("_test"))
    (tmp_path / "im").mkdir(); (tmp_path / "ms").mkdir()
    (tmp_path / "im" / it.image_path.name).symlink_to(it.image_path)
    (tmp_path / "ms" / f"{it.image_path.stem}.gif").symlink_to(it.mask_path)
    pairs, skipped = pair_files(tmp_path / "im", tmp_path / "ms")
    assert skipped == []
    rows = check_masks(pairs, "classical", domain="vessels", progress=False)
    assert (rows[0]["height"], rows[0]["width"], rows[0]["n_tiles"]) == (584, 565, 9)
    for d in rows[0]["detections"]:
        x1, y1, x2, y2 = d["bbox_2d"]
        assert 0 <= x1 < x2 <= 565 and 0 <= y1 < y2 <= 584
