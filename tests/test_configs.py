"""configs/default.yaml documents the plain `fit` defaults; configs/seed.yaml is the lab, exactly."""

from pathlib import Path

import pytest
import torch
import yaml

from mnist_rnn.cli import build_cli
from tests.helpers import data_args

CONFIGS = Path(__file__).parents[1] / "configs"


def test_default_config_is_what_a_plain_fit_uses(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    defaults = build_cli([], run=False).config
    documented = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    assert defaults.seed_everything == documented["seed_everything"]
    for section in ("trainer", "model", "data"):
        for key, value in documented[section].items():
            assert defaults[section][key] == value, f"{section}.{key}"


def test_seed_config_is_the_lab(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    lab = yaml.safe_load((CONFIGS / "seed.yaml").read_text())
    assert lab["trainer"]["max_epochs"] == 5
    assert lab["data"]["batch_size"] == 50
    assert {k: lab["model"][k] for k in ("cell", "hidden_size", "num_layers", "sequence", "optimizer", "lr")} == {
        "cell": "lstm",
        "hidden_size": 128,
        "num_layers": 2,
        "sequence": "rows",
        "optimizer": "adam",
        "lr": 0.01,
    }
    assert lab["model"]["lr_schedule"] == "constant" and lab["model"]["dropout"] == 0.0
    # Every training setting whose default differs from the lab's is set back explicitly.
    config = build_cli(["--config", str(CONFIGS / "seed.yaml")], run=False).config
    assert config.trainer.gradient_clip_val is None and config.data.batch_size == 50
    assert config.model.augment_shift == config.model.augment_rotation == config.model.augment_scale == 0
    assert config.model.label_smoothing == 0 and config.model.weight_decay == 0
    assert config.model.normalize is False  # the lab fed ToTensor's [0, 1] pixels to the LSTM


def test_fashion_config_is_the_lab_model_with_garment_augmentation(fake_data_dir, in_tmp_dir):
    """configs/fashion.yaml keeps the lab's 2x128 LSTM on rows (issue 16) and trains on Fashion-MNIST."""
    fashion = str(CONFIGS / "fashion.yaml")
    cli = build_cli(["fit", "--config", fashion, *data_args(fake_data_dir), "--trainer.fast_dev_run", "2"])
    hp = cli.model.hparams
    assert (hp.cell, hp.hidden_size, hp.num_layers, hp.sequence, hp.bidirectional) == ("lstm", 128, 2, "rows", False)
    assert hp.dataset == "fashion_mnist" and hp.class_names[0] == "T-shirt/top"
    assert hp.augment_flip and hp.augment_erase == 0.5 and hp.augment_rotation == 0
    assert yaml.safe_load(Path(fashion).read_text())["trainer"]["max_epochs"] <= 30
    assert cli.trainer.state.finished and torch.isfinite(cli.trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("name,sequence", [("smnist", "pixels"), ("psmnist", "permuted")])
def test_pixel_configs_train_the_lab_network_one_pixel_at_a_time(fake_data_dir, in_tmp_dir, name, sequence):
    """configs/smnist.yaml and psmnist.yaml (issue 24): the lab's 2x128 LSTM, 784 steps, training changed only;
    psMNIST's pixel order is fixed by permutation_seed, whatever the run's seed, and kept in the checkpoint."""
    config = str(CONFIGS / f"{name}.yaml")
    models = [build_cli(["--config", config, "--seed_everything", seed], run=False).model for seed in ("1", "2")]
    hp = models[0].hparams
    assert (hp.cell, hp.hidden_size, hp.num_layers, hp.bidirectional, hp.sequence) == ("lstm", 128, 2, False, sequence)
    assert hp.chrono_init and models[0].network.steps == 784
    assert not (hp.augment_shift or hp.augment_rotation or hp.augment_scale or hp.augment_erase or hp.augment_flip)
    assert not torch.equal(models[0].network.head.weight, models[1].network.head.weight)  # the seeds differ
    if sequence == "permuted":
        assert hp.permutation_seed == 0
        assert torch.equal(models[0].network.permutation, models[1].network.permutation)
        assert "network.permutation" in models[0].state_dict()
    # It trains (a smaller network: 784 steps are slow on a CPU).
    cli = build_cli(["fit", "--config", config, *data_args(fake_data_dir), "--trainer.fast_dev_run", "1",
                     "--model.hidden_size", "8", "--trainer.enable_progress_bar", "false"])  # fmt: skip
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])


def test_tuned_config_is_the_lab_network_trained_longer(fake_data_dir, in_tmp_dir):
    """configs/tuned.yaml (issue 25's search): the lab's 2x128 LSTM on rows; only the training differs."""
    tuned = str(CONFIGS / "tuned.yaml")
    cli = build_cli(["fit", "--config", tuned, *data_args(fake_data_dir), "--trainer.fast_dev_run", "1",
                     "--data.batch_size", "64", "--trainer.enable_progress_bar", "false"])  # fmt: skip
    hp = cli.model.hparams
    assert (hp.cell, hp.hidden_size, hp.num_layers, hp.sequence, hp.bidirectional) == ("lstm", 128, 2, "rows", False)
    assert yaml.safe_load(Path(tuned).read_text())["trainer"]["max_epochs"] == 30 and hp.augment_erase == 0.1
    assert cli.trainer.state.finished and torch.isfinite(cli.trainer.callback_metrics["train/loss"])
