"A training config is built once and checked once: `load_config` loads the split and builds TRL's config, `train` uses them."
import warnings
from unittest import mock
import pytest
import trl
import topo_r1.train_config as tc
from topo_r1.curriculum import easy_split
from topo_r1.train import train

@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return easy_split(tmp_path_factory.mktemp("data") / "easy", n_sft=2, n_rl=2, n_test=2, size=64, seed=0)

def test_train_loads_the_split_once_and_builds_trl_config_once(split, tmp_path):
    with mock.patch.object(tc, "load_split", wraps=tc.load_split) as load, \
         mock.patch.object(trl.SFTConfig, "__post_init__", autospec=True, side_effect=trl.SFTConfig.__post_init__) as built, \
         warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = train("sft", "tiny_sft", [f"split={split}", "max_steps=1", f"output_dir={tmp_path / 'sft'}"], progress=False)
    assert (load.call_count, built.call_count) == (1, 1)
    said = [str(w.message) for w in caught if "checkpointing" in str(w.message)]
    assert not said, said   # transformers 5.2x warns about `gradient_checkpointing` (TRL's default): the kit spells it as installed
    assert (out / "train_config.json").is_file()

def test_a_loaded_config_holds_what_training_needs(split):
    cfg = tc.load_config("grpo", "tiny_grpo", {"split": str(split), "w_roam": 0.5, "per_device_train_batch_size": 8}, progress=False)
    assert isinstance(cfg.trl_args, trl.GRPOConfig) and len(cfg.dataset) == 2
    assert cfg.trl_args.reward_weights == [1.0, 0.5] and cfg.trl_args.disable_tqdm

def test_a_bad_key_fails_before_any_model_loads(split):
    with mock.patch("topo_r1.train.load_model") as load_model:
        with pytest.raises(ValueError, match=r"unknown config key 'learnig_rate'.*did you mean 'learning_rate'"):
            train("sft", "tiny_sft", [f"split={split}", "learnig_rate=1e-4"])
        with pytest.raises(ValueError, match=r"config key 'max_steps' in overrides: invalid int value"):
            train("sft", "tiny_sft", [f"split={split}", "max_steps=ten"])
    load_model.assert_not_called()

def test_train_refuses_a_config_it_was_not_given_by_load_config():
    with pytest.raises(ValueError, match="load_config"):
        train("sft", tc.TrainConfig(split="x"))
