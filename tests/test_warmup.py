"The vision warm-up with image-level labels (`vision_warmup_labels: image`) inside a real SFT run, and its config key."
import json

import pytest

from topo_r1.curriculum import easy_split
from topo_r1.stages import train_model
from topo_r1.train_config import load_config


def test_sft_with_image_label_warmup_trains_and_records_the_labels(tmp_path, load_bench):
    split = easy_split(tmp_path / "split", n_sft=4, n_rl=1, n_test=1, size=64, seed=0)
    over = dict(split=str(split), output_dir=str(tmp_path / "sft"), max_steps=1, vision_warmup_steps=2,
                vision_warmup_labels="image", freeze_vision=True, save_steps=1000)
    out = train_model("sft", "tiny_sft", progress=False, **over)
    warm = json.loads((out / "vision_warmup.json").read_text())
    assert warm["labels"] == "image" and warm["steps"] == 2 and len(warm["loss"]) == 2
    assert json.loads((out / "train_config.json").read_text())["vision_warmup_labels"] == "image"
    assert (out / "model.safetensors").is_file()
    # bench/attention.py regimes reuses a finished run only when its recipe is the one asked for
    bench = load_bench("attention")
    assert bench.recipe_diff(out, over) == {}
    assert bench.recipe_diff(out, {**over, "vision_warmup_labels": "pixel"}) == {"vision_warmup_labels": ("image", "pixel")}


def test_unknown_warmup_labels_are_refused_before_anything_loads():
    with pytest.raises(ValueError, match="'vision_warmup_labels' in overrides: invalid choice: 'boxes'"):
        load_config("sft", "tiny_sft", {"vision_warmup_labels": "boxes"})
