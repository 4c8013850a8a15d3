"Synthetic scenes: shapes, determinism, structure present, image shows the structure, bad input."
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings, strategies as st
from topo_r1.synthetic import GENERATORS, make_scene, make_roads, make_cracks, make_vessels


@pytest.mark.parametrize("domain", list(GENERATORS))
def test_scene_contract(domain):
    im, m = make_scene(domain, (120, 200), rng=7)
    assert im.shape == (120, 200, 3) and im.dtype == np.uint8
    assert m.shape == (120, 200) and m.dtype == bool and m.mean() >= 0.005
    im2, m2 = make_scene(domain, (120, 200), rng=7)
    assert np.array_equal(im, im2) and np.array_equal(m, m2)
    assert not np.array_equal(m, make_scene(domain, (120, 200), rng=8)[1])


@pytest.mark.parametrize("domain", list(GENERATORS))
def test_image_shows_structure(domain):
    "The structure differs in colour from the background: the mask is predictable from the image."
    rng = np.random.default_rng(0)
    for _ in range(5):
        im, m = make_scene(domain, 256, rng)
        inner = ndi.binary_erosion(m) if ndi.binary_erosion(m).sum() > 50 else m
        ring = ndi.binary_dilation(m, iterations=6) & ~ndi.binary_dilation(m, iterations=2)
        diff = np.abs(im[inner].astype(float).mean(0) - im[ring].astype(float).mean(0)).max()
        assert diff > 20, (domain, diff)


def test_generators_public_names():
    assert GENERATORS == {"roads": make_roads, "cracks": make_cracks, "vessels": make_vessels}


@settings(max_examples=15, deadline=None)
@given(h=st.integers(16, 160), w=st.integers(16, 160), seed=st.integers(0, 2**31), domain=st.sampled_from(list(GENERATORS)))
def test_any_size(h, w, seed, domain):
    im, m = GENERATORS[domain]((h, w), seed)
    assert im.shape == (h, w, 3) and m.shape == (h, w)


def test_bad_input():
    with pytest.raises(ValueError, match="expected one of"): make_scene("rivers")
    with pytest.raises(ValueError, match="at least 16"): make_scene("roads", 8)
    with pytest.raises(TypeError, match="int or an"): make_scene("roads", 2.5)
    with pytest.raises(TypeError, match="rng must be"): make_vessels(64, rng="seed")
