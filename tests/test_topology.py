"Topology core: exactness against gudhi (random and real masks), the skeleton graph, clDice, soft clDice, bad input, the tour and its CLI."
import math, subprocess, sys
import numpy as np
import pytest
import gudhi
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi
from skimage.morphology import skeletonize as skimage_skeletonize
from topo_r1 import topology as T
from topo_r1 import tour

def gudhi_betti(mask):
    "Reference: Betti numbers of the sublevel set {0} of a cubical complex on top cells (fg 0, bg 1, padded with 1)."
    f = np.where(np.pad(np.asarray(mask, bool), 1), 0.0, 1.0)
    cc = gudhi.CubicalComplex(top_dimensional_cells=f)
    cc.compute_persistence()
    return tuple(int(b) for b in cc.persistent_betti_numbers(0.0, 0.0))[:f.ndim]

def two_pass_betti(mask):
    "Independent definition: β0 = 8-conn fg components, β1 = 4-conn bg components of the padded mask minus 1."
    m = np.asarray(mask, bool)
    return ndi.label(m, np.ones((3, 3)))[1], ndi.label(~np.pad(m, 1), ndi.generate_binary_structure(2, 1))[1] - 1

# --- Betti numbers -----------------------------------------------------------------------------------------

def test_betti_matches_gudhi_on_random_masks():
    rng = np.random.default_rng(1)
    for _ in range(400):
        shape = tuple(rng.integers(1, 64, size=2))
        m = rng.random(shape) < rng.uniform(0.02, 0.98)
        if rng.random() < 0.3: m = ndi.binary_dilation(m, iterations=int(rng.integers(1, 3)))
        assert T.betti_numbers(m) == gudhi_betti(m) == two_pass_betti(m)

def test_betti_matches_gudhi_in_3d():
    rng = np.random.default_rng(2)
    for _ in range(150):
        m = rng.random(tuple(rng.integers(1, 12, size=3))) < rng.uniform(0.05, 0.95)
        assert T.betti_numbers(m) == gudhi_betti(m)

def test_betti_matches_gudhi_on_real_masks(real_roots):
    from topo_r1.sources import find_real_datasets, list_real
    found = find_real_datasets(real_roots)
    assert found
    rng = np.random.default_rng(3)
    for name in found:
        items = list_real(name, real_roots)
        for i in rng.choice(len(items), size=min(4, len(items)), replace=False):
            _, m = items[i].load()
            assert T.betti_numbers(m) == gudhi_betti(m), items[i].source_id
            for _ in range(4):                                   # random patches cut holes open at the border
                r, c = rng.integers(0, m.shape[0] - 64), rng.integers(0, m.shape[1] - 64)
                patch = m[r:r + 64, c:c + 64]
                assert T.betti_numbers(patch) == gudhi_betti(patch)

@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 20), st.integers(1, 20))))
def test_euler_matches_scikit_image(m):
    "An independent oracle: scikit-image's Euler number with 8-connected foreground (connectivity=2)."
    from skimage.measure import euler_number
    assert T.euler_characteristic(m) == euler_number(np.pad(m, 1), connectivity=2)

@given(arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))))
@settings(max_examples=60, deadline=None)
def test_euler_is_b0_minus_b1(m):
    b0, b1 = T.betti_numbers(m)
    assert T.euler_characteristic(m) == b0 - b1

def test_betti_accepts_0_1_and_0_255_and_does_not_mutate():
    m = (np.eye(6) * 255).astype(np.uint8); before = m.copy()
    assert T.betti_numbers(m) == T.betti_numbers(m > 0) == T.betti_numbers((m > 0).astype(int)) == (1, 0)
    np.testing.assert_array_equal(m, before)

@pytest.mark.parametrize("fn", [T.betti_numbers, T.euler_characteristic, T.skeleton, T.skeleton_graph,
                                T.count_endpoints, T.topology_signature])
@pytest.mark.parametrize("bad,exc,msg", [
    (np.zeros(5), ValueError, "ndim"), (np.zeros((0, 4)), ValueError, "empty"), (np.full((3, 3), 0.5), ValueError, "binary"),
    (np.array([[np.nan, 0]]), ValueError, "NaN"), ("mask", TypeError, "array"), (None, TypeError, "array"),
    (np.array([["a", "b"]]), TypeError, "dtype")])
def test_bad_input_is_rejected_with_a_clear_message(fn, bad, exc, msg):
    with pytest.raises(exc, match=msg): fn(bad)

@pytest.mark.parametrize("fn", [T.skeleton_graph, T.count_endpoints, T.topology_signature])
def test_graph_functions_are_2d_only(fn):
    with pytest.raises(ValueError, match="ndim"): fn(np.ones((3, 3, 3), bool))

# --- skeleton and graph ------------------------------------------------------------------------------------

def _thick_tree(rng):
    "A random tree of thick strokes: a trunk with side branches."
    m = np.zeros((96, 96), bool)
    r0 = int(rng.integers(30, 66)); w = int(rng.integers(1, 4))
    m[r0 - w:r0 + w + 1, 5:91] = True
    for c in rng.choice(np.arange(25, 72, 11), size=3, replace=False):   # stubs >= 20 px: not spurs
        up = rng.random() < 0.5
        rows = slice(8, r0) if up else slice(r0, 88)
        m[rows, c - w:c + w + 1] = True
    return m

def test_skeleton_is_thin_subset_with_same_topology():
    rng = np.random.default_rng(4)
    for _ in range(40):
        m = ndi.binary_dilation(rng.random((64, 64)) < 0.03, iterations=int(rng.integers(1, 4)))
        sk = T.skeleton(m)
        assert sk.dtype == bool and sk.shape == m.shape and not (sk & ~m).any()
        assert T.betti_numbers(sk) == T.betti_numbers(m)
        # thin: no deletable pixel (a simple false junction or inner corner) is left
        assert np.array_equal(T._thin_corners(sk), sk)

def test_skeleton_3d():
    v = np.zeros((12, 12, 12), bool); v[3:9, 3:9, 2:10] = True
    sk = T.skeleton(v)
    assert sk.shape == v.shape and sk.dtype == bool and sk.any() and not (sk & ~v).any()

def test_graph_on_trees_counts_branches():
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = _thick_tree(rng)
        g = T.skeleton_graph(m)
        assert T.betti_numbers(g.skeleton) == T.betti_numbers(m) == (1, 0)
        assert g.n_endpoints == 5 == T.count_endpoints(m) == len(g.endpoints)   # 2 trunk ends + 3 branch tips
        assert len(g.terminal_branches) == 5
        # every skeleton pixel lies on some branch path
        on = np.zeros_like(m)
        for b in g.branches: on[b.path[:, 0], b.path[:, 1]] = True
        assert np.array_equal(on, g.skeleton)

def test_branch_paths_are_8_connected_and_lengths_add_up():
    rng = np.random.default_rng(6)
    g = T.skeleton_graph(_thick_tree(rng))
    for b in g.branches:
        steps = np.abs(np.diff(b.path, axis=0))
        assert steps.max() <= 1 and steps.sum(1).min() >= 1
        assert math.isclose(b.length, sum(math.sqrt(2) if s.sum() == 2 else 1.0 for s in steps))
        assert b.start_kind in ("endpoint", "junction", "loop") and b.end_kind in ("endpoint", "junction", "loop")

def test_graph_loop_dot_and_empty():
    ring = np.zeros((30, 30), bool); ring[5:25, 5:25] = True; ring[8:22, 8:22] = False
    g = T.skeleton_graph(ring)
    assert [(b.start_kind, b.end_kind) for b in g.branches] == [("loop", "loop")] and g.n_endpoints == 0
    dot = np.zeros((5, 5), bool); dot[2, 2] = True
    gd = T.skeleton_graph(dot)
    assert gd.n_endpoints == 2 and len(gd.branches) == 1 and gd.branches[0].length == 0
    blob = np.zeros((9, 9), bool); blob[3:6, 3:6] = True                # thins to a dot or a dash: 2 either way
    assert T.count_endpoints(blob) == 2
    ge = T.skeleton_graph(np.zeros((5, 5), bool))
    assert ge.n_endpoints == 0 and ge.branches == [] and ge.endpoints.shape == (0, 2) and ge.junctions.shape == (0, 2)

def test_spur_pruning_and_extra_branch_signature():
    line = np.zeros((40, 80), bool); line[16:24, 5:75] = True             # a thick bar: its skeleton forks at the ends
    raw, pruned = T.count_endpoints(line, prune=False), T.count_endpoints(line)
    assert pruned == 2 and raw >= pruned
    withbranch = line.copy(); withbranch[24:38, 39:41] = True             # a real side branch, 14 px beyond the bar
    b0, b1, e = T.topology_signature(withbranch)
    assert (b0, b1) == (1, 0) and e == 3
    cut = line.copy(); cut[:, 38:41] = False                              # a broken connection: +2 endpoints
    assert T.topology_signature(cut) == (2, 0, 4)

def test_is_skeleton_uses_the_given_pixels():
    sk = np.zeros((10, 10), bool); sk[5, 1:9] = True; sk[1:5, 4] = True
    g = T.skeleton_graph(sk, is_skeleton=True)
    assert g.n_endpoints == 3 and len(g.terminal_branches) == 3 and len(g.junctions) >= 1

def test_graph_does_not_mutate_input():
    m = _thick_tree(np.random.default_rng(7)); before = m.copy()
    T.skeleton_graph(m); T.count_endpoints(m); T.cldice(m, m); T.skeleton(m)
    np.testing.assert_array_equal(m, before)

# --- the skeleton graph against the original per-pixel walk (the oracle) -----------------------------------

def _ref_thin_corners(sk):
    "The original `_thin_corners`: each sub-grid's codes from 8 shifted fancy-index reads, until nothing changes."
    p = np.pad(sk, 1)
    changed = True
    while changed:
        changed = False
        for a in range(3):
            for b in range(3):
                r, c = np.nonzero(p[1 + a:-1:3, 1 + b:-1:3])
                r, c = r * 3 + 1 + a, c * 3 + 1 + b
                code = np.zeros(len(r), np.int32)
                for k, (dr, dc) in enumerate(T._OFFS): code |= p[r + dr, c + dc].astype(np.int32) << k
                kill = T._DELETABLE[code]
                if kill.any(): p[r[kill], c[kill]] = False; changed = True
    return p[1:-1, 1:-1]

def _ref_trace(sk):
    "The original `_trace`: label the junctions, then walk every chain pixel by pixel in Python."
    p = np.pad(sk, 1)
    deg = ndi.convolve(p.astype(np.uint8), np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.uint8), mode="constant")
    junc = p & (deg >= 3)
    jlab, _ = ndi.label(junc, T.STRUCT8)
    rs, cs = np.nonzero(p & ~junc)
    index = np.full(p.shape, -1, np.int64); index[rs, cs] = np.arange(len(rs))
    nbrs = [[q for q in row if q >= 0] for row in np.stack([index[rs + dr, cs + dc] for dr, dc in T._OFFS], 1).tolist()]
    seen, branches = bytearray(len(rs)), []
    jn = lambda r, c: [(r + dr, c + dc) for dr, dc in T._OFFS if junc[r + dr, c + dc]]
    length = lambda path: float(sum(math.sqrt(2) if s.sum() == 2 else 1.0 for s in np.abs(np.diff(path, axis=0))))

    def walk(start):
        path, prev, cur = [start], -1, start
        seen[start] = 1
        while True:
            nxt = [q for q in nbrs[cur] if q != prev and not seen[q]]
            if not nxt: return list(zip(rs[path].tolist(), cs[path].tolist()))
            prev, cur = cur, nxt[0]; seen[cur] = 1; path.append(cur)

    for e in [i for i, n in enumerate(nbrs) if len(n) <= 1]:
        if seen[e]: continue
        path = walk(e)
        js0 = jn(*path[0]); js1 = jn(*path[-1]) if len(path) > 1 else js0[1:]; js0 = js0[:1]
        full = np.array(js0 + path + js1[:1]) - 1
        branches.append(T.Branch(full, "junction" if js0 else "endpoint", "junction" if js1 else "endpoint", length(full)))
    for i in range(len(rs)):
        if seen[i]: continue
        path = walk(i); path = np.array(path + path[:1]) - 1
        branches.append(T.Branch(path, "loop", "loop", length(path)))
    ends = [b.path[0] for b in branches if b.start_kind == "endpoint"] + [b.path[-1] for b in branches if b.end_kind == "endpoint"]
    return branches, np.array(ends, int).reshape(-1, 2), np.argwhere(junc[1:-1, 1:-1]), jlab[1:-1, 1:-1]

def _ref_skeleton_graph(m, is_skeleton=False, prune=True):
    "The original `skeleton_graph`: the walk above, and spurs judged on the full distance transform."
    m = np.asarray(m, bool)
    sk = _ref_thin_corners(m if is_skeleton else skimage_skeletonize(m))
    branches, ends, juncs, jlab = _ref_trace(sk)
    if prune and any(b.is_terminal for b in branches):
        dist, out, changed = ndi.distance_transform_edt(m), sk.copy(), False
        for b in branches:
            if not b.is_terminal: continue
            j, tail = (b.path[0], b.path[1:]) if b.start_kind == "junction" else (b.path[-1], b.path[:-1])
            if b.length <= T.SPUR_SCALE * dist[tuple(j)] + T.SPUR_OFFSET: out[tail[:, 0], tail[:, 1]] = False; changed = True
        sk = _ref_thin_corners(out) if changed else out
        branches, ends, juncs, jlab = _ref_trace(sk)
    return T.SkeletonGraph(sk, ends, juncs, branches, jlab)

def _oracle_masks():
    "Synthetic scenes of every domain, real patches, dilated dots, random noise and the corner cases."
    from topo_r1.synthetic import make_scene
    rng = np.random.default_rng(11)
    ms = [make_scene(d, 256, rng)[1] for _ in range(4) for d in ("roads", "cracks", "vessels")]
    for _ in range(120):
        ms.append(ndi.binary_dilation(rng.random((48, 48)) < rng.uniform(0.01, 0.1), iterations=int(rng.integers(0, 3))))
        ms.append(rng.random(tuple(rng.integers(1, 30, size=2))) < rng.uniform(0.1, 0.9))
    ring = np.zeros((30, 30), bool); ring[5:25, 5:25] = True; ring[8:22, 8:22] = False
    return ms + [ring, np.zeros((5, 5), bool), np.ones((7, 9), bool), np.ones((1, 1), bool), np.eye(9, dtype=bool)]

def _same_graph(a, b):
    assert np.array_equal(a.skeleton, b.skeleton)
    assert [(x.start_kind, x.end_kind) for x in a.branches] == [(y.start_kind, y.end_kind) for y in b.branches]
    for x, y in zip(a.branches, b.branches):
        assert np.array_equal(x.path, y.path) and math.isclose(x.length, y.length, abs_tol=1e-9)
    for f in ("endpoints", "junctions", "junction_labels"):
        x, y = getattr(a, f), getattr(b, f)
        assert np.array_equal(x, y) and x.dtype == y.dtype, f

@pytest.mark.parametrize("kw", [{}, {"prune": False}, {"is_skeleton": True}])
def test_skeleton_graph_matches_the_per_pixel_walk(kw):
    "The vectorised graph (sub-grid codes, DFS order of the chains, windowed half-widths) equals the original walk."
    for m in _oracle_masks():
        ref = _ref_skeleton_graph(m, **kw)
        _same_graph(T.skeleton_graph(m, **kw), ref)
        assert T.count_endpoints(m, **kw) == ref.n_endpoints      # the count skips building the branches

def test_skeleton_graph_matches_the_walk_on_real_patches(real_roots):
    from topo_r1.sources import find_real_datasets, list_real
    rng = np.random.default_rng(12)
    for name in find_real_datasets(real_roots):
        items = list_real(name, real_roots)
        _, m = items[int(rng.integers(len(items)))].load()
        for _ in range(3):
            r, c = rng.integers(0, m.shape[0] - 256), rng.integers(0, m.shape[1] - 256)
            _same_graph(T.skeleton_graph(m[r:r + 256, c:c + 256]), _ref_skeleton_graph(m[r:r + 256, c:c + 256]))

def test_edt_at_matches_the_full_transform():
    rng = np.random.default_rng(13)
    for _ in range(60):
        m = ndi.binary_dilation(rng.random((int(rng.integers(1, 90)), int(rng.integers(1, 90)))) < 0.02,
                                iterations=int(rng.integers(0, 12)))
        if rng.random() < 0.1: m[:] = True
        pts = np.argwhere(m)[:40]
        np.testing.assert_array_equal(T._edt_at(m, pts), ndi.distance_transform_edt(m)[pts[:, 0], pts[:, 1]])

# --- clDice and betti_error ---------------------------------------------------------------------------------

def test_cldice_values():
    z, e = np.zeros((8, 8), bool), np.eye(8, dtype=bool)
    assert T.cldice(z, z) == 1.0 and T.cldice(z, e) == 0.0 and T.cldice(e, z) == 0.0
    assert T.cldice(e, e) == 1.0
    assert T.cldice(e, np.eye(8, k=4, dtype=bool)) == 0.0
    m = _thick_tree(np.random.default_rng(8))
    half = m.copy(); half[:, 48:] = False
    v = T.cldice(half, m)
    assert 0 < v < 1 and math.isclose(v, T.cldice(m, half))               # symmetric by construction

def test_cldice_is_hard_definition():
    rng = np.random.default_rng(9)
    a, b = _thick_tree(rng), _thick_tree(rng)
    sa, sb = T.skeleton(a), T.skeleton(b)
    tprec, tsens = (sa & b).sum() / sa.sum(), (sb & a).sum() / sb.sum()
    want = 0.0 if tprec + tsens == 0 else 2 * tprec * tsens / (tprec + tsens)
    assert math.isclose(T.cldice(a, b), want)

def test_pair_functions_reject_mismatched_shapes():
    for fn in (T.cldice, T.betti_error):
        with pytest.raises(ValueError, match="same shape"): fn(np.eye(4), np.eye(5))
        with pytest.raises(TypeError, match="array"): fn(None, np.eye(4))

def test_betti_error():
    line = np.zeros((9, 30), bool); line[4, 2:28] = True
    cut = line.copy(); cut[4, 15] = False
    assert T.betti_error(cut, line) == 1 and T.betti_error(line, line) == 0

# --- soft skeleton ------------------------------------------------------------------------------------------

def test_soft_cldice_gradients_2d_and_3d():
    import torch
    for shape in [(2, 1, 32, 32), (1, 1, 12, 16, 16)]:
        target = (torch.rand(shape) > 0.7).float()
        pred = torch.rand(shape, requires_grad=True)
        loss = T.soft_cldice_loss(pred, target, iterations=5)
        assert loss.ndim == 0 and 0 <= float(loss) <= 1
        loss.backward()
        assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0

def test_soft_skeleton_approximates_hard_skeleton():
    import torch
    m = np.zeros((40, 40), bool); m[18:23, 3:37] = True
    s = T.soft_skeleton(torch.from_numpy(m.astype(np.float32))[None, None])[0, 0].numpy() > 0.5
    assert s.any() and not (s & ~m).any()
    assert float(T.soft_cldice_loss(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 8, 8))) < 1e-6

def test_soft_bad_input():
    import torch
    with pytest.raises(TypeError, match="torch.Tensor"): T.soft_skeleton(np.zeros((1, 1, 4, 4)))
    with pytest.raises(TypeError, match="floating"): T.soft_skeleton(torch.zeros(1, 1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"): T.soft_skeleton(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="iterations"): T.soft_skeleton(torch.zeros(1, 1, 4, 4), iterations=-1)
    with pytest.raises(ValueError, match="same shape"): T.soft_cldice_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))

# --- the tour -----------------------------------------------------------------------------------------------

def test_topology_tour_writes_report_and_figure(tmp_path):
    report = tour.topology_tour(tmp_path / "tour", rng=1)
    assert report == tmp_path / "tour" / "report.md"
    text = report.read_text()
    assert "| sample |" in text and "samples.png" in text
    assert (tmp_path / "tour" / "samples.png").stat().st_size > 1000
    for d in ("roads", "cracks", "vessels"): assert f"synthetic {d}" in text

def test_topology_tour_default_folder_is_under_runs_dir(tmp_settings):
    report = tour.topology_tour(rng=0)
    assert report.is_file() and (tmp_settings / "runs" / "tour") in report.parents

def test_tour_cli(tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "topo_r1.cli", "tour", "--out", str(out), "--seed", "3"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out / "report.md") and (out / "report.md").is_file()
    bad = subprocess.run([sys.executable, "-m", "topo_r1.cli", "tour", "--seed", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid int" in bad.stderr
