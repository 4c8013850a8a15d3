"Answer format: parser fuzzing (never raises), codec round trips, SFT targets parse back exactly."
import json, math
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from topo_r1.answer import (PROBLEMS, ParsedAnswer, PixelCodec, Relative1000Codec, ResizedPixelCodec, SYSTEM_PROMPT,
                            codec_for, completion_text, format_completion, make_reasoning, parse_completion, user_prompt)
from topo_r1.core import Box, Detection, ERROR_TYPES

HW = st.tuples(st.integers(8, 2048), st.integers(8, 2048))


@st.composite
def boxes(draw, hw=(256, 256)):
    h, w = hw
    x1 = draw(st.floats(0, w - 1, allow_nan=False)); y1 = draw(st.floats(0, h - 1, allow_nan=False))
    x2 = draw(st.floats(x1 + 0.5, w, allow_nan=False)); y2 = draw(st.floats(y1 + 0.5, h, allow_nan=False))
    return Box(x1, y1, min(max(x2, x1 + 0.5), w), min(max(y2, y1 + 0.5), h))


@st.composite
def integer_dets(draw, hw=(256, 256)):
    h, w = hw
    n = draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        x1, x2 = sorted(draw(st.lists(st.integers(0, w), min_size=2, max_size=2, unique=True)))
        y1, y2 = sorted(draw(st.lists(st.integers(0, h), min_size=2, max_size=2, unique=True)))
        out.append(Detection(Box(x1, y1, x2, y2), draw(st.sampled_from(ERROR_TYPES))))
    return out


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parser_never_raises_on_text(s):
    p = parse_completion(s)
    assert isinstance(p, ParsedAnswer) and all(c in PROBLEMS for c in p.codes)


FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "[", "]", "{", "}", ",", '"bbox_2d"', '"type"', ":",
             '"broken_connection"', '"gap"', "1e999", "NaN", "-Infinity", "12", "3.5", "-4", "null", "true", "```json", "```",
             " ", "\n", "'label'", '"bbox"']


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.sampled_from([None, (64, 64), (0, 5), (float("nan"), 3)]),
       st.sampled_from(["pixels", "qwen3_vl", "qwen2_5_vl"]), st.sampled_from([None, (56, 56), "bad"]))
def test_parser_never_raises_on_structured_junk(parts, hw, family, mhw):
    p = parse_completion("".join(parts), codec=codec_for(family), image_hw=hw, model_hw=mhw)
    assert all(c in PROBLEMS for c in p.codes)
    for d in p.detections:
        assert isinstance(d, Detection) and all(math.isfinite(v) for v in d.box.to_list())


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_parsed_boxes_lie_inside_the_image(data):
    h, w = data.draw(HW)
    coords = data.draw(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=4, max_size=4))
    text = f'<think>x</think><answer>[{{"bbox_2d": {json.dumps(coords)}, "type": "extra_branch"}}]</answer>'
    for d in parse_completion(text, image_hw=(h, w)).detections:
        assert 0 <= d.box.x1 < d.box.x2 <= w and 0 <= d.box.y1 < d.box.y2 <= h


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_codec_round_trips(data):
    h, w = data.draw(HW)
    b = data.draw(boxes((h, w)))
    mhw = data.draw(st.tuples(st.integers(28, 4000), st.integers(28, 4000)))
    for c in (PixelCodec(), Relative1000Codec(), ResizedPixelCodec()):
        back = c.decode(c.encode(b, (h, w), mhw), (h, w), mhw)
        np.testing.assert_allclose(back.to_list(), b.to_list(), rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(integer_dets())
def test_sft_target_parses_back_exactly(dets):
    c = format_completion(dets, make_reasoning(dets, (256, 256), "vessels"))
    p = parse_completion(c, image_hw=(256, 256))
    assert p.format_ok and p.detections == dets


@settings(max_examples=100, deadline=None)
@given(integer_dets(), st.sampled_from(["qwen3_vl", "qwen2_5_vl"]))
def test_integer_frames_round_trip_within_a_pixel(dets, family):
    c = codec_for(family)
    hw, mhw = (256, 256), (252, 252)
    p = parse_completion(format_completion(dets, "r", c, hw, mhw), c, hw, mhw)
    assert p.format_ok and [d.type for d in p.detections] == [d.type for d in dets]
    for a, b in zip(p.detections, dets):
        np.testing.assert_allclose(a.box.to_list(), b.box.to_list(), atol=1.0)


def test_named_problems():
    T = "<think>t</think>"
    ok = '{"bbox_2d": [1, 1, 5, 5], "type": "missing_branch"}'
    cases = {
        "text only": ["no_think_block", "no_answer_block"],
        T + f"<answer>[{ok}]</answer><answer>[]</answer>": ["multiple_answer_blocks"],
        T + T + "<answer>[]</answer>": ["multiple_think_blocks"],
        T + '<answer>[{"bbox_2d": [1, 1, 5, 5], "type": "hole"}]</answer>': ["unknown_type"],
        T + '<answer>[{"bbox_2d": [1, 1, Infinity, 5], "type": "missing_branch"}]</answer>': ["non_finite_coordinates"],
        T + '<answer>[{"bbox_2d": [5, 1, 5, 5], "type": "missing_branch"}]</answer>': ["empty_box"],
        T + '<answer>[{"bbox_2d": [1, 1, 5], "type": "missing_branch"}]</answer>': ["bad_coordinates"],
        T + '<answer>[{"bbox_2d": ["1", 1, 5, 5], "type": "missing_branch"}]</answer>': ["bad_coordinates"],
        T + f"<answer>{ok}</answer>": ["not_a_list"],
        T + '<answer>"none"</answer>': ["not_a_list"],
        T + "<answer>[3]</answer>": ["not_an_object"],
        T + '<answer>[{"type": "missing_branch"}]</answer>': ["missing_bbox"],
    }
    for text, want in cases.items():
        assert parse_completion(text).codes == want, text


def test_tolerated_variants():
    for ans in ['[{"bbox_2d": [1, 1, 5, 5], "type": "missing_branch"}]',
                ' \n```json\n[{"bbox_2d": [1.0, 1, 5, 5.0], "label": "missing_branch"}]\n``` ',
                '[{"bbox": [1, 1, 5, 5], "type": "Missing Branch"}]', '[{"box": [1, 1, 5, 5], "type": "missing-branch"}]']:
        p = parse_completion(f"\n<think> x </think>\n\n<answer>{ans}</answer>\n")
        assert p.format_ok, (ans, p.problems)
        assert p.detections == [Detection(Box(1, 1, 5, 5), "missing_branch")]


def test_conversational_completions():
    text = '<think>x</think><answer>[]</answer>'
    for c in ([{"role": "assistant", "content": text}], [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
              {"role": "assistant", "content": text}):
        assert completion_text(c) == text and parse_completion(c).format_ok


def test_prompts_mention_everything():
    for t in ERROR_TYPES: assert t in SYSTEM_PROMPT
    assert "<think>" in SYSTEM_PROMPT and "<answer>" in SYSTEM_PROMPT and "bbox_2d" in SYSTEM_PROMPT
    assert "second image is the segmentation mask" in user_prompt(64, 64)
    assert "on the left" in user_prompt(64, 64, view="side_by_side")
    assert "yellow" in user_prompt(64, 64, view="overlay")
    assert "1000" in user_prompt(64, 64, coords="relative1000")
    assert "448×224" in user_prompt(224, 448, coords="resized_pixels")
    with pytest.raises(ValueError, match="expected one of"): user_prompt(64, 64, coords="normalized")
    with pytest.raises(ValueError, match="positive"): user_prompt(0, 64)


def test_reasoning_mentions_count_types_and_places():
    dets = [Detection(Box(0, 0, 10, 10), "broken_connection"), Detection(Box(240, 240, 256, 256), "spurious_connection")]
    r = make_reasoning(dets, (256, 256), "roads")
    assert "two topological errors" in r and "broken connection" in r and "spurious connection" in r
    assert "top left" in r and "bottom right" in r and "road network" in r
    assert "no topological errors" in make_reasoning([], (256, 256))
    with pytest.raises(ValueError, match="unknown error type"): make_reasoning([{"bbox_2d": [0, 0, 1, 1], "type": "x"}], (8, 8))
