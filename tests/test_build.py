"Dataset builder: CLI, schema, every stored error verified, determinism across workers, resume, bad arguments."
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from datasets import load_from_disk
from topo_r1 import build as B
from topo_r1.core import ERROR_TYPES
from topo_r1.inject import signature_ok, MIN_GAP
from topo_r1.topology import topology_signature
from topo_r1.answer import SYSTEM_PROMPT, user_prompt

COLUMNS = {"sample_id", "split", "image", "mask", "clean_mask", "detections", "n_errors", "domain", "source", "source_id",
           "height", "width", "betti_clean", "betti", "endpoints_clean", "endpoints", "seed", "prompt", "completion"}


def quick(out, **kw):
    args = dict(scale=0.001, limit=4, workers=1, sources=("synthetic",), shard_size=2, progress=False, gallery=False, size=128)
    return B.build_dataset(out, **(args | kw))


def rows(ds):
    "Comparable content of a DatasetDict (images as arrays)."
    out = {}
    for s, d in ds.items():
        for r in d:
            out[r["sample_id"]] = {k: (np.asarray(v).tobytes() if k in ("image", "mask", "clean_mask") else v) for k, v in r.items()}
    return out


def verify_sample(r):
    "Replay each stored error from the masks alone and check its signature; boxes keep apart."
    clean, bad = np.asarray(r["clean_mask"]) > 127, np.asarray(r["mask"]) > 127
    assert topology_signature(clean) == (*r["betti_clean"], r["endpoints_clean"])
    assert topology_signature(bad) == (*r["betti"], r["endpoints"])
    assert len(r["detections"]) == r["n_errors"]
    cur, covered = clean.copy(), np.zeros_like(clean)
    for d in r["detections"]:
        x1, y1, x2, y2 = d["bbox_2d"]
        sl = (slice(int(np.floor(y1)), int(np.ceil(y2))), slice(int(np.floor(x1)), int(np.ceil(x2))))
        before = topology_signature(cur)
        cur[sl] = bad[sl]; covered[sl] = True
        assert signature_ok(d["type"], before, topology_signature(cur)), (r["sample_id"], d)
    assert np.array_equal(cur, bad) and not (clean != bad)[~covered].any()
    boxes = [d["bbox_2d"] for d in r["detections"]]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3]) >= MIN_GAP - 1e-9


def test_cli_quick_build(tmp_path):
    out = tmp_path / "ds"
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "build", "--scale", "0.001", "--limit", "3", "--seed", "3",
                        "--out", str(out), "--workers", "2", "--sources", "synthetic", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ds = load_from_disk(str(out))
    assert set(ds) == {"sft", "rl", "test"} and all(len(d) == 3 for d in ds.values())
    assert set(ds["sft"].column_names) == COLUMNS
    m = json.loads((out / "manifest.json").read_text())
    assert m["seed"] == 3 and 0 < m["acceptance"]["rate"] <= 1 and m["checksums"]["arrow_sha256"]
    assert (out / "gallery.png").stat().st_size > 1000 and not (out / ".shards").exists()
    row = ds["test"][0]
    assert row["prompt"][0] == {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}
    assert row["prompt"][1]["content"][2]["text"] == user_prompt(row["height"], row["width"])
    assert [c["type"] for c in row["prompt"][1]["content"]] == ["image", "image", "text"]
    assert row["completion"][0]["role"] == "assistant" and "<answer>" in row["completion"][0]["content"][0]["text"]
    assert row["image"].mode == "RGB" and row["mask"].mode == "L" and set(np.unique(np.asarray(row["mask"]))) <= {0, 255}
    ids = [r for d in ds.values() for r in d["sample_id"]]
    assert len(ids) == len(set(ids))


def test_every_error_verified_synthetic(tmp_path):
    ds = quick(tmp_path / "a", limit=5, seed=1)
    types = set()
    for d in ds.values():
        for r in d:
            verify_sample(r); types |= {x["type"] for x in r["detections"]}
    assert types == set(ERROR_TYPES)


def test_every_error_verified_real(tmp_path, real_roots):
    ds = quick(tmp_path / "r", sources=("real",), real_roots=real_roots, limit=3, real_fraction=1.0)
    sources = set()
    for d in ds.values():
        for r in d:
            verify_sample(r); sources.add(r["source"])
    assert sources <= {"drive", "cfd", "roads"} and len(sources) >= 2


def test_real_test_split_held_out(tmp_path, real_roots):
    cfg = B.BuildConfig(scale=0.05, sources=("synthetic", "real"), real_roots=tuple(map(str, real_roots)))
    plan = B.make_plan(cfg, B.check_config(cfg))
    train = {i for s in ("sft", "rl") for r in plan[s] if r["item"] for i in [r["item"], *r["alt_items"]]}
    test = {i for r in plan["test"] if r["item"] for i in [r["item"], *r["alt_items"]]}   # fallbacks stay on their side too
    assert train and test and not train & test


def test_deterministic_across_workers(tmp_path):
    a = quick(tmp_path / "w1", workers=1, seed=5, limit=3)
    b = quick(tmp_path / "w2", workers=2, seed=5, limit=3)
    assert rows(a) == rows(b)
    ma, mb = (json.loads((tmp_path / w / "manifest.json").read_text()) for w in ("w1", "w2"))
    assert ma["checksums"]["content_sha256"] == mb["checksums"]["content_sha256"]
    assert rows(quick(tmp_path / "other", seed=6, limit=1)) != rows(a)


def test_resume(tmp_path, monkeypatch):
    ref = rows(quick(tmp_path / "ref"))
    out, calls, real = tmp_path / "int", [], B.write_shard
    def flaky(path, *a, **k):
        calls.append(path.name)
        if len(calls) == 3: raise KeyboardInterrupt("simulated interruption")
        return real(path, *a, **k)
    monkeypatch.setattr(B, "write_shard", flaky)
    with pytest.raises(KeyboardInterrupt): quick(out)
    done = sorted(p.name for p in (out / ".shards").glob("*.parquet"))
    assert len(done) == 2
    (out / ".shards" / "rl-00001.parquet.tmp123").write_bytes(b"half a shard")   # debris of a killed write
    calls.clear()
    monkeypatch.setattr(B, "write_shard", lambda path, *a, **k: (calls.append(path.name), real(path, *a, **k))[1])
    assert rows(quick(out)) == ref
    assert not set(calls) & set(done) and len(calls) == 6 - 2      # finished shards were not redone


def test_unfinished_build_with_other_arguments(tmp_path):
    out = tmp_path / "o"
    (out / ".shards").mkdir(parents=True); (out / ".shards" / "config.json").write_text('{"fingerprint": "x"}')
    with pytest.raises(ValueError, match="other arguments"): quick(out, limit=1)
    assert len(quick(out, limit=1, overwrite=True)["sft"]) == 1


def test_holdout_domain(tmp_path):
    ds = quick(tmp_path / "h", holdout_domain="cracks", limit=3)
    assert set(ds["test"]["domain"]) == {"cracks"}
    assert "cracks" not in set(ds["sft"]["domain"]) | set(ds["rl"]["domain"])


@pytest.mark.parametrize("args, msg", [
    (["--scale", "0"], "positive number"), (["--scale", "nan"], "positive number"),
    (["--workers", "0"], "workers"), (["--sources", "web"], "sources must be"),
    (["--domains", "rivers=1"], "domains must map"), (["--size", "8"], "size must be"),
    (["--domains", "roads=1", "--holdout-domain", "roads"], "nothing to train on"),
])
def test_bad_args_fail_before_work(tmp_path, args, msg, capsys):
    from topo_r1.cli import main
    out = tmp_path / "bad"
    assert main(["build", "--out", str(out), "--quiet", *args]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()


def test_bad_args_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "build", "--out", str(tmp_path / "x"), "--scale", "-1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "scale must be a positive number" in r.stderr and not (tmp_path / "x").exists()


def test_finished_build_not_overwritten(tmp_path):
    quick(tmp_path / "f", limit=1)
    with pytest.raises(ValueError, match="finished build"): quick(tmp_path / "f", limit=1)
    assert len(quick(tmp_path / "f", limit=2, overwrite=True)["sft"]) == 2


def test_type_mix_follows_the_plan_on_real_roads(tmp_path, real_roots):
    "A real-only roads build: all four types, built as asked, each type's acceptance >= 50%."
    ds = quick(tmp_path / "roads", sources=("real",), real_roots=real_roots, domains={"roads": 1.0}, limit=10,
               shard_size=5, size=256)
    m = json.loads((tmp_path / "roads" / "manifest.json").read_text())
    asked, built = m["types"]["asked"], m["types"]["built"]
    for split in ("sft", "rl", "test"):
        a, b = asked[split]["roads"], built[split]["roads"]
        assert set(a) == set(ERROR_TYPES) and max(a.values()) - min(a.values()) <= 1     # the plan: uniform, exactly
        assert sum(b.values()) >= 0.8 * sum(a.values()) and all(b.get(t, 0) >= a[t] - 2 for t in a)
    for t, v in m["acceptance"]["per_type"].items(): assert v["rate"] >= 0.5, (t, v)
    for d in ds.values():
        for r in d: verify_sample(r)


def _write_folder(root, masks_dir="masks", n=3):
    from PIL import Image
    from topo_r1.synthetic import make_scene
    (root / "images").mkdir(parents=True); (root / masks_dir).mkdir()
    for i in range(n):
        im, m = make_scene("cracks", 160, rng=i)
        Image.fromarray(im).save(root / "images" / f"p{i}.png")
        Image.fromarray(m.astype(np.uint8) * 255).save(root / masks_dir / f"p{i}.png")
    return root


def test_build_from_folder_cli(tmp_path):
    lab = _write_folder(tmp_path / "lab", "groundtruth")
    out = tmp_path / "ds"
    from topo_r1.cli import main
    assert main(["build", "--folder", str(lab), "--domain", "cracks", "--masks-dir", "groundtruth", "--size", "128",
                 "--limit", "3", "--scale", "0.001", "--workers", "1", "--out", str(out), "--quiet", "--no-gallery"]) == 0
    ds = load_from_disk(str(out))
    assert {r for d in ds.values() for r in d["source"]} == {"folder"}
    assert {r for d in ds.values() for r in d["domain"]} == {"cracks"}
    assert all(sid.startswith("lab/p") for d in ds.values() for sid in d["source_id"])
    for d in ds.values():
        for r in d: verify_sample(r)
    m = json.loads((out / "manifest.json").read_text())
    assert m["parameters"]["folders"] == [[str(lab), "cracks", "groundtruth"]] and m["versions"]["numpy"]
    assert main(["build", "--folder", str(lab), "--out", str(tmp_path / "x"), "--quiet"]) == 2         # no --domain
    assert main(["build", "--folder", str(tmp_path / "nope"), "--domain", "roads", "--out", str(tmp_path / "y")]) == 2


def test_settings_folders_are_a_source(tmp_path, monkeypatch):
    lab = _write_folder(tmp_path / "lab")
    (tmp_path / "settings.ini").write_text(f"[topo_r1]\nreal_data_roots = {tmp_path / 'none'}\nfolder_lab = {lab}, vessels\n")
    monkeypatch.setenv("TOPO_R1_SETTINGS", str(tmp_path / "settings.ini"))
    ds = quick(tmp_path / "o", sources=("real",), domains={"vessels": 1.0}, limit=2)
    assert set(ds["sft"]["source"]) == {"folder"} and set(ds["sft"]["domain"]) == {"vessels"}


def test_dask_local_cluster_writes_the_same_data(tmp_path):
    "A LocalCluster of 2 workers writes exactly what the local executor writes; a worker killed mid-run loses nothing."
    distributed = pytest.importorskip("dask.distributed")
    ref = rows(quick(tmp_path / "local", seed=2, limit=3))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
         distributed.Client(cluster) as client:
        assert rows(quick(tmp_path / "dask", seed=2, limit=3, executor="dask", scheduler=client)) == ref
        import threading, os
        def kill_first_busy_worker():
            for _ in range(2000):
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    try: client.run(os._exit, 1, workers=busy[:1])
                    except Exception: pass                  # the worker died before it could answer: that is the point
                    return
                threading.Event().wait(0.005)
        killer = threading.Thread(target=kill_first_busy_worker); killer.start()
        again = rows(quick(tmp_path / "killed", seed=2, limit=3, executor="dask", scheduler=client))
        killer.join()
        assert again == ref
    assert rows(quick(tmp_path / "dask2", seed=2, limit=3, executor="dask", workers=2)) == ref   # its own LocalCluster


def test_bad_executor(tmp_path):
    with pytest.raises(ValueError, match="executor"): quick(tmp_path / "e", executor="spark")
    assert not (tmp_path / "e").exists()
