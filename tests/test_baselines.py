"Baselines: bad input, determinism, the classical detector on injected errors, and the CLI round trip with `topo-r1 eval`."
import json, subprocess, sys
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from topo_r1.baselines import (BASELINES, classical_baseline, empty_baseline, image_evidence, random_baseline,
                               run_baseline, show_failures)
from topo_r1.core import Box, Detection, ERROR_TYPES


def _hand_scene():
    "Two horizontal dark vessels on a light background, and their mask."
    from scipy import ndimage as ndi
    axis = np.zeros((128, 128), bool); axis[40, 5:123] = True; axis[90, 5:123] = True
    d = ndi.distance_transform_edt(~axis)
    noise = np.random.default_rng(0).normal(0, 5, d.shape)
    image = np.clip(200 - 120 * np.exp(-d**2 / 8) + noise, 0, 255).astype(np.uint8)[..., None].repeat(3, 2)
    return image, d <= 2.5


def _found(dets, truth: Detection, tau=0.3) -> bool:
    return any(d.type == truth.type and d.box.iou(truth.box) >= tau for d in dets)


# --- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BASELINES))
def test_bad_input_raises_with_a_message(name):
    image, mask = _hand_scene()
    f = BASELINES[name]
    with pytest.raises(ValueError, match="same height and width"): f(image, mask[:64])
    with pytest.raises(ValueError, match="uint8"): f(image.astype(float), mask)
    with pytest.raises(ValueError, match="binary"): f(image, mask * 7 + 3)
    with pytest.raises(TypeError, match="array"): f("image.png", mask)
    with pytest.raises(ValueError, match="ndim"): f(image, mask[None])


def test_bad_parameters():
    image, mask = _hand_scene()
    with pytest.raises(ValueError, match="min_side <= max_side"): random_baseline(image, mask, min_side=9, max_side=3)
    with pytest.raises(ValueError, match="mean_count"): random_baseline(image, mask, mean_count=-1)
    with pytest.raises(TypeError, match="rng"): random_baseline(image, mask, rng="seed")
    with pytest.raises(ValueError, match="unknown classical parameter"): classical_baseline(image, mask, threshold=1)
    with pytest.raises(ValueError, match="polarity"): image_evidence(image, mask, polarity="bright")
    with pytest.raises(ValueError, match="unknown baseline"): run_baseline("oracle", "nowhere")


def test_inputs_are_not_mutated():
    image, mask = _hand_scene()
    i0, m0 = image.copy(), mask.copy()
    for f in BASELINES.values(): f(image, mask, rng=0, domain="vessels")
    assert (image == i0).all() and (mask == m0).all()


def test_empty_and_degenerate_masks():
    image, mask = _hand_scene()
    h, w = mask.shape
    for name, f in BASELINES.items():
        for m in (np.zeros_like(mask), np.ones_like(mask)):
            out = f(image, m, rng=0, domain="vessels")
            assert all(isinstance(d, Detection) and 0 <= d.box.x1 < d.box.x2 <= w and 0 <= d.box.y1 < d.box.y2 <= h for d in out)
            if name != "random" and not m.any(): assert out == [], name   # nothing to get wrong on an empty mask


# --- random: seeded and plausible ----------------------------------------------------------------------------------

def test_random_is_deterministic_per_seed():
    image, mask = _hand_scene()
    a = random_baseline(image, mask, rng=7, mean_count=5)
    assert a == random_baseline(image, mask, rng=7, mean_count=5)
    assert a == random_baseline(image, mask, rng=np.random.default_rng(7), mean_count=5)
    assert any(random_baseline(image, mask, rng=s, mean_count=5) != a for s in range(8, 12))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(4, 80), w=st.integers(4, 80), fill=st.floats(0, 1))
def test_random_boxes_are_valid_and_inside(seed, h, w, fill):
    rng = np.random.default_rng(seed)
    mask = rng.random((h, w)) < fill
    image = np.zeros((h, w, 3), np.uint8)
    for d in random_baseline(image, mask, rng=seed, mean_count=4):
        assert d.type in ERROR_TYPES
        assert 0 <= d.box.x1 < d.box.x2 <= w and 0 <= d.box.y1 < d.box.y2 <= h


# --- the classical detector finds what was injected ----------------------------------------------------------------

def test_classical_is_quiet_on_a_clean_mask():
    image, mask = _hand_scene()
    assert classical_baseline(image, mask, domain="vessels") == []


def test_classical_finds_a_hand_made_gap_and_spur():
    from topo_r1.inject import tube
    image, clean = _hand_scene()
    mask = clean.copy(); mask[30:51, 60:70] = False                                  # a gap in the upper vessel
    mask |= tube(mask.shape, np.array([[90, 30], [120, 50]]), 2.5)                   # a spur the image does not show
    dets = classical_baseline(image, mask, domain="vessels")
    assert _found(dets, Detection(Box(57, 32, 73, 48), "broken_connection")), dets
    assert _found(dets, Detection(Box(28, 88, 53, 123), "extra_branch")), dets


@pytest.mark.parametrize("etype", ["broken_connection", "extra_branch"])
def test_classical_finds_injected_errors_on_synthetic_scenes(etype):
    from topo_r1.inject import inject_errors
    from topo_r1.synthetic import make_scene
    hits = 0
    for seed in range(4):
        image, clean = make_scene("vessels", size=256, rng=seed)
        mask, errors = inject_errors(clean, 1, rng=seed, types=[etype])
        hits += _found(classical_baseline(image, mask, domain="vessels"), errors[0].to_detection())
    assert hits >= 3, f"found {hits} of 4 injected {etype}"


def test_classical_runs_on_real_patches(real_roots):
    from topo_r1.sources import list_real
    from topo_r1.inject import inject_errors
    for name in ("drive", "cfd", "roads"):
        try: item = list_real(name, real_roots)[0]
        except FileNotFoundError: continue
        image, clean = item.load()
        image, clean = image[:256, :256], clean[:256, :256]
        try: mask, _ = inject_errors(clean, 2, rng=0)
        except ValueError: mask = clean
        for d in classical_baseline(image, mask, domain=item.domain):
            assert 0 <= d.box.x1 < d.box.x2 <= 256 and 0 <= d.box.y1 < d.box.y2 <= 256


# --- the CLI round trip -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_split(tmp_path_factory):
    "A small split on disk in the built format: synthetic scenes with injected errors."
    import datasets
    from PIL import Image
    from topo_r1.inject import inject_errors
    from topo_r1.synthetic import make_scene
    rows = {k: [] for k in ("sample_id", "image", "mask", "clean_mask", "detections", "domain", "source", "height", "width")}
    for i, dom in enumerate(["roads", "cracks", "vessels"] * 2):
        image, clean = make_scene(dom, size=128, rng=i)
        mask, errs = inject_errors(clean, i % 3, rng=i)
        for k, v in {"sample_id": f"toy/{i}", "image": Image.fromarray(image),
                     "mask": Image.fromarray(mask.astype(np.uint8) * 255), "clean_mask": Image.fromarray(clean.astype(np.uint8) * 255),
                     "detections": [e.to_detection().to_dict() for e in errs], "domain": dom, "source": "synthetic",
                     "height": 128, "width": 128}.items(): rows[k].append(v)
    ds = datasets.Dataset.from_dict(rows)
    path = tmp_path_factory.mktemp("split") / "toy"
    datasets.DatasetDict({"sft": ds, "rl": ds, "test": ds}).save_to_disk(str(path))
    return path


def cli(*args):
    return subprocess.run([sys.executable, "-m", "topo_r1.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_cli_writes_predictions(toy_split, tmp_path, name):
    out = tmp_path / "PRED.jsonl"
    r = cli("baseline", name, "--split", str(toy_split), "--out", str(out), "--limit", "4")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["sample_id"] for r in rows] == [f"toy/{i}" for i in range(4)]
    for row in rows:
        for d in row["detections"]: Detection.from_dict(d)


def test_cli_reports_bad_arguments(toy_split, tmp_path):
    r = cli("baseline", "oracle", "--split", str(toy_split))
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = cli("baseline", "empty", "--split", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no built split" in r.stderr
    r = cli("baseline", "empty", "--split", str(toy_split), "--subset", "val")
    assert r.returncode == 2 and "expected one of" in r.stderr


def test_parallel_run_matches_serial(toy_split, tmp_path):
    a = run_baseline("random", toy_split, tmp_path / "a.jsonl", seed=3)
    b = run_baseline("random", toy_split, tmp_path / "b.jsonl", seed=3, workers=2)
    assert a.read_text() == b.read_text()


def test_eval_reads_baseline_predictions(toy_split, tmp_path):
    out = tmp_path / "PRED.jsonl"
    assert cli("baseline", "classical", "--split", str(toy_split), "--out", str(out)).returncode == 0
    r = cli("eval", "--pred", str(out), "--split", str(toy_split))
    assert r.returncode == 0, r.stderr
    assert "F1@0.3" in r.stdout
    m = json.loads((tmp_path / "metrics.json").read_text())          # written next to --pred
    assert 0 <= m["F1@0.3"] <= 1 and set(m) >= {"F1@0.5", "aF1", "P@0.3", "R@0.3"}


def test_show_failures_draws_image_and_mask(toy_split, tmp_path):
    import matplotlib; matplotlib.use("Agg")
    p = run_baseline("empty", toy_split, tmp_path / "PRED.jsonl")
    fig = show_failures(toy_split, p, n=3)
    assert len(fig.axes) == 6
