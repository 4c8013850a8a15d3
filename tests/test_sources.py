"Real sources: listers on the shared data, generic folder, patches, splitting by source, clear errors."
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from hypothesis import given, settings, strategies as st
from topo_r1.sources import (list_folder, extract_patches, patch_positions, split_sources, list_real,
                             find_real_datasets, read_mask, SourceItem)


def test_real_datasets(real_roots):
    found = find_real_datasets(real_roots)
    counts = {"drive": 40, "cfd": 118, "roads": 144}
    for name in found:
        items = list_real(name, real_roots)
        assert len(items) == counts[name]
        assert len({i.source_id for i in items}) == len(items)
        im, m = items[0].load()
        assert im.dtype == np.uint8 and im.shape[2] == 3 and m.shape == im.shape[:2] and m.any()
        ps = extract_patches(im, m, 256, stride=128)
        assert ps and all(p[0].shape == (256, 256, 3) and p[1].mean() >= 0.01 for p in ps)


def test_folder(tmp_path):
    (tmp_path / "images").mkdir(); (tmp_path / "masks").mkdir()
    for s in ("b", "a", "c"):
        Image.fromarray(np.full((40, 50, 3), 9, np.uint8)).save(tmp_path / "images" / f"{s}.png")
        if s != "c": Image.fromarray(np.full((40, 50), 255, np.uint8)).save(tmp_path / "masks" / f"{s}.tif")
    items = list_folder(tmp_path, "vessels")
    assert [i.source_id.split("/")[1] for i in items] == ["a", "b"] and items[0].domain == "vessels"
    im, m = items[0].load()
    assert m.all() and im.shape == (40, 50, 3)
    Image.fromarray(np.zeros((41, 50), np.uint8)).save(tmp_path / "masks" / "c.png")
    with pytest.raises(ValueError, match="c.png"):       # size mismatch names the files
        list_folder(tmp_path)[2].load()


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"): list_folder(tmp_path / "missing")
    (tmp_path / "images").mkdir()
    with pytest.raises(FileNotFoundError, match="masks/"): list_folder(tmp_path)
    (tmp_path / "masks").mkdir()
    with pytest.raises(FileNotFoundError, match="no image/mask pairs"): list_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="mask file not found"): read_mask(tmp_path / "x.png")
    (tmp_path / "bad.mat").write_text("not matlab")
    with pytest.raises(ValueError, match="CrackForest"): read_mask(tmp_path / "bad.mat", "cfd")


@settings(max_examples=40, deadline=None)
@given(h=st.integers(8, 90), w=st.integers(8, 90), size=st.integers(1, 8), stride=st.integers(1, 8))
def test_positions_cover(h, w, size, stride):
    stride = min(stride, size)   # a stride larger than the window samples sparsely by design
    pos = patch_positions((h, w), size, stride)
    cover = np.zeros((h, w), bool)
    for r, c in pos:
        assert 0 <= r <= h - size and 0 <= c <= w - size
        cover[r:r + size, c:c + size] = True
    assert cover.all()


def test_patches_do_not_mutate():
    rng = np.random.default_rng(0)
    im, m = rng.integers(0, 255, (70, 80, 3), dtype=np.uint8), rng.random((70, 80)) < 0.1
    im0, m0 = im.copy(), m.copy()
    for pi, pm, (r, c) in extract_patches(im, m, 32, 16):
        assert np.array_equal(pi, im[r:r + 32, c:c + 32]) and np.array_equal(pm, m[r:r + 32, c:c + 32])
        pm[:] = False
    assert np.array_equal(im, im0) and np.array_equal(m, m0)


def test_split_sources():
    items = [SourceItem("folder", "roads", f"r/{i}", Path("."), Path(".")) for i in range(50)]
    s = split_sources(items, {"sft": 0.2, "rl": 0.7, "test": 0.1}, rng=3)
    assert [len(v) for v in s.values()] == [10, 35, 5]
    ids = [i.source_id for v in s.values() for i in v]
    assert sorted(ids) == sorted(i.source_id for i in items)
    assert s == split_sources(list(reversed(items)), {"sft": 0.2, "rl": 0.7, "test": 0.1}, rng=3)
    with pytest.raises(ValueError, match="sum to 1"): split_sources(items, {"a": 0.3, "b": 0.3})
    with pytest.raises(ValueError, match="unique"): split_sources(items + items[:1], {"a": 1.0})
