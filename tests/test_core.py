"Core types under fuzzing and bad input: boxes, IoU, detections, mask/image validation."
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from topo_r1.core import Box, Detection, as_detections, as_image, as_mask, as_rng, iou_matrix, ERROR_TYPES

coord = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)

@st.composite
def boxes(draw):
    x1, y1 = draw(coord), draw(coord)
    w, h = draw(st.floats(0.01, 500)), draw(st.floats(0.01, 500))
    return Box(x1, y1, x1 + w, y1 + h)

@settings(max_examples=300, deadline=None)
@given(boxes(), boxes())
def test_iou_is_symmetric_bounded_and_matches_matrix(a, b):
    iou = a.iou(b)
    assert 0.0 <= iou <= 1.0 + 1e-12
    assert iou == pytest.approx(b.iou(a))
    assert iou_matrix([a], [b])[0, 0] == pytest.approx(iou, abs=1e-9)
    assert a.iou(a) == pytest.approx(1.0)

@settings(max_examples=200, deadline=None)
@given(boxes(), st.floats(0, 300), st.integers(1, 400), st.integers(1, 400))
def test_expand_reaches_min_side_and_stays_inside(b, min_side, h, w):
    try: clipped = b.clip((h, w))
    except ValueError: return                                  # box entirely outside the image
    e = clipped.expand(min_side, (h, w))
    assert e.width >= min(min_side, w) - 1e-9 and e.height >= min(min_side, h) - 1e-9
    assert e.x1 >= 0 and e.y1 >= 0 and e.x2 <= w + 1e-9 and e.y2 <= h + 1e-9
    assert e.intersection(clipped) == pytest.approx(clipped.area)   # the original is still covered

@pytest.mark.parametrize("bad, msg", [
    ([0, 0, 0, 1], "x1 < x2"), ([0, 5, 1, 5], "y1 < y2"), ([0, 0, float("inf"), 1], "finite"),
    ([1, 2, 3], "4 coordinates"), ("0 0 1 1", "4 coordinates"), ([True, 0, 2, 2], "numbers"),
])
def test_bad_boxes_say_what_was_expected(bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg): Box.from_list(bad) if not isinstance(bad[0], bool) else Box(*bad)

def test_detection_wire_round_trip_and_errors():
    for t in ERROR_TYPES:
        d = Detection(Box(0, 1, 2, 3), t)
        assert Detection.from_dict(d.to_dict()) == d
    with pytest.raises(ValueError, match="unknown error type"): Detection.from_dict({"bbox_2d": [0, 0, 1, 1], "type": "gap"})
    with pytest.raises(ValueError, match="list of detections"): as_detections("[]")

@pytest.mark.parametrize("bad, exc, msg", [
    (np.array([[0, 2]]), ValueError, "must be binary"), (np.array([[0.0, np.inf]]), ValueError, "NaN or infinite"),
    (np.zeros((2, 2, 2)), ValueError, "ndim"), (np.zeros((3, 0)), ValueError, "empty"),
    (np.array([["a", "b"]]), TypeError, "bool or numeric"), (None, TypeError, "must be an array"),
])
def test_as_mask_rejects_bad_input(bad, exc, msg):
    with pytest.raises(exc, match=msg): as_mask(bad)

@settings(max_examples=100, deadline=None)
@given(st.integers(1, 20), st.integers(1, 20), st.sampled_from(["bool", "01", "0255"]), st.integers(0, 2**31))
def test_as_mask_accepts_binary_encodings_without_mutating(h, w, enc, seed):
    m = np.random.default_rng(seed).random((h, w)) > 0.5
    x = {"bool": m, "01": m.astype(np.uint8), "0255": m.astype(np.uint8) * 255}[enc]
    before = x.copy()
    out = as_mask(x)
    assert out.dtype == bool and (out == m).all() and (x == before).all()
    out[...] = ~out
    assert (x == before).all()                                 # the result is a copy

def test_as_image_and_rng():
    rgba = np.zeros((3, 4, 4), np.uint8)
    assert as_image(rgba).shape == (3, 4, 3)
    with pytest.raises(ValueError, match="uint8"): as_image(np.zeros((3, 4, 3), np.float32))
    with pytest.raises(ValueError, match="H×W"): as_image(np.zeros((3, 4, 2), np.uint8))
    with pytest.raises(TypeError, match="rng must be"): as_rng(1.5)
