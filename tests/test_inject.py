"Injected errors: every stored error matches its signature, boxes hold their pixels and keep apart, bad input."
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from topo_r1.core import ERROR_TYPES
from topo_r1.inject import (inject_errors, signature_ok, InjectionError, InjectedError, MIN_BOX_SIDE, MIN_GAP,
                            INJECTORS, error_box)
from topo_r1.synthetic import make_scene
from topo_r1.topology import topology_signature


def check_errors(clean, out, errs, n_requested):
    "Everything a stored error promises, checked from the masks alone."
    assert len(errs) <= n_requested
    diff = clean != out
    if not errs:
        assert not diff.any(); return
    assert errs[0].before == topology_signature(clean)
    assert errs[-1].after == topology_signature(out)
    for a, b in zip(errs, errs[1:]): assert a.after == b.before
    h, w = clean.shape
    for e in errs:
        assert e.type in ERROR_TYPES and signature_ok(e.type, e.before, e.after), e
        b = e.box
        assert 0 <= b.x1 < b.x2 <= w and 0 <= b.y1 < b.y2 <= h
        assert b.width >= min(MIN_BOX_SIDE, w) - 1e-9 and b.height >= min(MIN_BOX_SIDE, h) - 1e-9
        assert diff[b.slices()].sum() == e.n_changed > 0          # the box holds exactly this error's pixels
        for o in errs:
            if o is not e:
                gx = max(o.box.x1 - b.x2, b.x1 - o.box.x2); gy = max(o.box.y1 - b.y2, b.y1 - o.box.y2)
                assert max(gx, gy) >= MIN_GAP - 1e-9
    assert sum(e.n_changed for e in errs) == diff.sum()
    cur = clean.copy()                       # replay: each error's own pixels, applied in order, show its signature
    for e in errs:
        assert topology_signature(cur) == e.before
        cur[e.box.slices()] = out[e.box.slices()]
        assert topology_signature(cur) == e.after, e


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), domain=st.sampled_from(["roads", "cracks", "vessels"]), n=st.integers(1, 6))
def test_synthetic_signatures(seed, domain, n):
    clean = make_scene(domain, 192, rng=seed)[1]
    keep = clean.copy()
    out, errs = inject_errors(clean, n, rng=seed)
    assert np.array_equal(clean, keep)
    check_errors(clean, out, errs, n)


@pytest.mark.parametrize("t", ERROR_TYPES)
def test_each_type(t):
    clean = make_scene("roads", 192, rng=11)[1]
    out, errs = inject_errors(clean, 2, rng=1, types=[t])
    assert errs and all(e.type == t for e in errs)
    check_errors(clean, out, errs, 2)


def test_real_signatures(real_roots):
    from topo_r1.sources import find_real_datasets, list_real, extract_patches
    found = find_real_datasets(real_roots)
    rng = np.random.default_rng(0)
    for name in found:
        for item in list_real(name, real_roots)[:2]:
            im, m = item.load()
            _, clean, _ = extract_patches(im, m, 256, min_foreground=0.01)[0]
            out, errs, stats = inject_errors(clean, 3, rng=rng, return_stats=True)
            assert errs, (name, stats)
            check_errors(clean, out, errs, 3)


def test_deterministic_and_stats():
    clean = make_scene("cracks", 160, rng=2)[1]
    *a, s1 = inject_errors(clean, 3, rng=5, return_stats=True)
    *b, s2 = inject_errors(clean, 3, rng=5, return_stats=True)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and s1 == s2
    assert sum(v.get("accepted", 0) for v in s1.values()) == len(a[1])
    assert all(v.get("attempts", 0) >= v.get("accepted", 0) for v in s1.values())


def test_cannot_host():
    bar = np.pad(np.ones((3, 40), bool), 10)
    out, errs = inject_errors(bar, 2, rng=0, types="missing_branch")
    assert errs == [] and np.array_equal(out, bar)
    with pytest.raises(InjectionError, match="only 0 of 2"):
        inject_errors(bar, 2, rng=0, types=["missing_branch"], strict=True)
    with pytest.raises(InjectionError, match="empty"): inject_errors(np.zeros((40, 40), bool), 1)
    with pytest.raises(InjectionError, match="smaller"): inject_errors(np.ones((10, 40), bool), 1)
    for fn in INJECTORS.values(): assert fn(np.zeros((40, 40), bool), 0) is None


def test_bad_input():
    m = np.pad(np.ones((3, 40), bool), 10)
    with pytest.raises(ValueError, match="n_errors"): inject_errors(m, -1)
    with pytest.raises(ValueError, match="n_errors"): inject_errors(m, 1.5)
    with pytest.raises(ValueError, match="unknown error type"): inject_errors(m, 1, types=["crack"])
    with pytest.raises(ValueError, match="at least one"): inject_errors(m, 1, types=[])
    with pytest.raises(TypeError, match="rng"): inject_errors(m, 1, rng="x")
    with pytest.raises((ValueError, TypeError)): inject_errors("mask", 1)
    with pytest.raises(ValueError): inject_errors(np.full((20, 20), 0.5), 1)


def test_error_box():
    ch = np.zeros((50, 50), bool); ch[0, 0] = True
    b = error_box(ch)
    assert (b.x1, b.y1, b.x2, b.y2) == (0, 0, 16, 16)
    ch = np.zeros((50, 50), bool); ch[20:40, 25] = True
    b = error_box(ch)
    assert (b.y1, b.y2) == (20, 40) and b.width == 16 and b.x1 <= 25 < b.x2


def test_missing_branch_leaves_no_stub():
    "A T: erasing the vertical branch cuts it back to the bar's outline; nothing sticks out of the bar."
    m = np.zeros((64, 64), bool)
    m[20:27, 4:60] = True                 # the bar (7 px thick)
    m[26:56, 29:34] = True                # the branch hanging from it
    out = INJECTORS["missing_branch"](m, rng=0)
    assert out is not None
    bar = np.zeros_like(m); bar[20:27, 4:60] = True
    assert not (out & ~bar)[28:].any()                             # no stub: at most one pixel row of outline below the bar
    assert (out[20:27] == bar[20:27]).mean() > 0.97                # and no notch in the bar
    assert topology_signature(out)[2] == topology_signature(m)[2] - 1


@pytest.mark.parametrize("t", ERROR_TYPES)
def test_planned_types_on_real_masks(t, real_roots):
    "On real patches each type is placed (acceptance >= 50%) and every stored error replays to its signature."
    from topo_r1.sources import find_real_datasets, list_real, extract_patches
    acc = att = 0
    for name in sorted(find_real_datasets(real_roots)):
        for item in list_real(name, real_roots)[:3]:
            im, m = item.load()
            clean = extract_patches(im, m, 256, min_foreground=0.01)[0][1]
            out, errs, st = inject_errors(clean, rng=0, planned=[t, t], return_stats=True)
            assert all(e.type == t for e in errs)
            check_errors(clean, out, errs, 2)
            acc += st.get(t, {}).get("accepted", 0); att += st.get(t, {}).get("attempts", 0)
    assert att and acc / att >= 0.5, (t, acc, att)


def test_stats_are_returned_not_written():
    clean = make_scene("roads", 128, rng=4)[1]
    with pytest.raises(TypeError): inject_errors(clean, 1, rng=0, stats={})
    with pytest.raises(ValueError, match="planned"): inject_errors(clean, 2, rng=0, planned=["extra_branch"])


def test_site_names_and_tube():
    from topo_r1.inject import Site, tube
    from topo_r1.synthetic import tube_mask
    s = Site(np.pad(np.ones((5, 30), bool), 8))
    assert s.radius_at((10, 20)) == s.r((10, 20)) == 3.0 and s.is_free((10, 20)) and s.free((0, 0))
    path = np.array([[10.0, 2.0], [10.0, 17.0]])
    assert np.array_equal(tube((20, 20), path, 1.5), tube_mask((20, 20), path, 1.5))


def test_capped_map_reads_equal_the_full_transform():
    "The lazy map (window searches for points, windowed transforms for slices, forgetting around a change) is exact."
    from topo_r1.inject import CappedMap, _capped_edt
    from scipy import ndimage as ndi
    rng = np.random.default_rng(21)
    for k in range(40):
        shape = tuple(int(s) for s in rng.integers(8, 96, size=2))
        m = ndi.binary_dilation(rng.random(shape) < 0.02, iterations=int(rng.integers(0, 10)))
        if k % 10 == 0: m[:] = bool(k % 20)                     # all background / all foreground
        for mask in (m, ~m):
            lazy, full = CappedMap(mask), _capped_edt(mask)
            for _ in range(6):
                if rng.random() < 0.5:
                    n = int(rng.integers(1, 100))
                    r, c = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
                    np.testing.assert_array_equal(lazy[r, c], full[r, c])
                else:
                    a, b = sorted(rng.integers(0, shape[0] + 1, 2)); c, d = sorted(rng.integers(0, shape[1] + 1, 2))
                    np.testing.assert_array_equal(lazy[a:b, c:d], full[a:b, c:d])
            out = mask.copy(); rr, cc = rng.integers(0, shape[0], 5), rng.integers(0, shape[1], 5); out[rr, cc] = ~out[rr, cc]
            changed = np.nonzero(out != mask)
            if len(changed[0]): np.testing.assert_array_equal(np.asarray(lazy.after(out, *changed)), _capped_edt(out))


def test_capped_map_any_below():
    from topo_r1.inject import CappedMap, _capped_edt
    from scipy import ndimage as ndi
    rng = np.random.default_rng(22)
    for _ in range(60):
        m = ndi.binary_dilation(rng.random((64, 64)) < 0.01, iterations=int(rng.integers(0, 6)))
        lazy, full = CappedMap(~m), _capped_edt(~m)
        if rng.random() < 0.5: lazy[10:30, 10:30]
        r, c = rng.integers(0, 64, 30), rng.integers(0, 64, 30)
        t = float(rng.uniform(0.5, 20))
        assert lazy.any_below(r, c, t) == bool((full[r, c] < t).any())
