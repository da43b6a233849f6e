"""configs/default.yaml documents the plain `fit` defaults; configs/seed.yaml is the lab, exactly."""

from pathlib import Path

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
