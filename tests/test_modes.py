"""Recurrent cells, sequence modes and MNIST-family data sets (issue 5)."""

import itertools
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from mnist_rnn.cli import main
from mnist_rnn.data import DATASETS, MNISTDataModule
from mnist_rnn.model import RNNClassifier
from tests.helpers import QUIET, data_args

# The fits here are checked for what they print and save, not for their test's pictures (tests/test_figures.py).
pytestmark = pytest.mark.usefixtures("figures_not_drawn")


@pytest.mark.parametrize(
    "cell,sequence,bidirectional",
    list(itertools.product(["lstm", "gru", "rnn"], ["rows", "pixels", "permuted"], [False, True])),
)
def test_every_cell_and_sequence_trains_under_fast_dev_run(fake_data_dir, in_tmp_dir, cell, sequence, bidirectional):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=8)
    still = {"augment_shift": 0, "augment_rotation": 0, "augment_scale": 0} if sequence == "permuted" else {}
    model = RNNClassifier(
        cell=cell, sequence=sequence, bidirectional=bidirectional, hidden_size=8, dropout=0.2, **still
    )
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=data)
    assert trainer.state.finished and torch.isfinite(trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("sequence,shape", [("rows", (2, 28, 28)), ("pixels", (2, 784, 1)), ("permuted", (2, 784, 1))])
def test_sequence_shapes(sequence, shape):
    model = RNNClassifier(sequence=sequence, mean=0.0, std=1.0)
    images = torch.rand(2, 1, 28, 28)
    steps = model.network.to_sequence(images)
    assert steps.shape == shape
    flat = images.reshape(2, -1)
    if sequence == "pixels":  # pixel t is step t, in reading order
        assert torch.equal(steps[:, :, 0], flat)
    if sequence == "permuted":  # the same pixels, in a fixed order that is not the reading order
        assert torch.equal(steps[:, :, 0], flat[:, model.network.permutation])
        assert not torch.equal(model.network.permutation, torch.arange(784))


def test_permutation_comes_from_its_seed():
    first, again, other = (RNNClassifier(sequence="permuted", permutation_seed=s) for s in (3, 3, 4))
    assert torch.equal(first.network.permutation, again.network.permutation)
    assert not torch.equal(first.network.permutation, other.network.permutation)


def test_bidirectional_head_sees_both_directions():
    model = RNNClassifier(cell="gru", bidirectional=True, hidden_size=16)
    assert model.network.head.in_features == 32
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_dataset_settings_reach_the_model_through_the_cli(fake_data_dir, in_tmp_dir, dataset):
    main(
        [
            "fit",
            *data_args(fake_data_dir),
            *QUIET,
            "--data.dataset",
            dataset,
            "--model.hidden_size",
            "8",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.limit_test_batches",
            "1",
        ]
    )
    checkpoint = next(Path("lightning_logs").glob("version_0/checkpoints/best-*.ckpt"))
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    info = DATASETS[dataset]
    assert model.hparams.dataset == dataset
    assert (model.hparams.mean, model.hparams.std) == (info.mean, info.std)
    assert model.hparams.class_names == info.class_names
    assert model.network.head.out_features == 10


def test_a_python_script_takes_the_models_settings_from_the_data_module(fake_data_dir):
    """The 5-line script of the README: a Fashion-MNIST data module with a default model ended in Lightning's
    "Error while merging hparams" (the model's dataset, mnist)."""
    data = MNISTDataModule(dataset="fashion_mnist", data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    model = RNNClassifier(**data.model_settings, hidden_size=8)
    Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False, enable_model_summary=False).fit(model, data)
    assert model.hparams.dataset == "fashion_mnist" and model.hparams.class_names[1] == "Trouser"
    assert (model.hparams.mean, model.hparams.std) == (DATASETS["fashion_mnist"].mean, DATASETS["fashion_mnist"].std)


def test_permuted_checkpoint_round_trip_through_the_cli(fake_data_dir, in_tmp_dir, capsys):
    main(
        [
            "fit",
            *data_args(fake_data_dir),
            *QUIET,
            "--model.sequence",
            "permuted",
            "--model.permutation_seed",
            "7",
            *("--model.augment_shift", "0", "--model.augment_rotation", "0", "--model.augment_scale", "0"),
            "--model.cell",
            "gru",
            "--model.hidden_size",
            "8",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "3",
        ]
    )
    checkpoint = next(Path("lightning_logs").glob("version_0/checkpoints/best-*.ckpt"))
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    assert torch.equal(
        model.network.permutation, RNNClassifier(sequence="permuted", permutation_seed=7).network.permutation
    )
    assert "permutation_seed" not in capsys.readouterr().err  # the seed is used: no warning
    # The test subcommand rebuilds the same model from the checkpoint alone and gets the fit's accuracy.
    main(["test", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir), *QUIET])
    tested = float(next(line for line in capsys.readouterr().out.splitlines() if "test/acc" in line).split()[-1])
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40)
    data.setup("test")
    with torch.no_grad():
        expected = (model(data.test_set.images).argmax(1) == data.test_set.labels).float().mean().item()
    assert tested == pytest.approx(expected)


@pytest.mark.parametrize("sequence", ["rows", "pixels"])
def test_a_permutation_seed_the_sequence_ignores_is_warned_of(sequence, fake_data_dir, in_tmp_dir, capsys):
    """It orders the pixels of permuted runs only: a rows run with a seed of its own trained as if it had none,
    without a word."""
    fit = ["fit", *data_args(fake_data_dir), *QUIET, "--model.hidden_size", "4", "--trainer.fast_dev_run", "true"]
    main([*fit, "--model.sequence", sequence, "--model.permutation_seed", "7"])
    assert (
        f"mnist-rnn: warning: --model.permutation_seed 7 orders the pixels of --model.sequence permuted only: this "
        f"{sequence} model reads them in their own order and ignores it\n"
    ) in capsys.readouterr().err


def test_test_and_validate_read_the_checkpoints_data_set_and_refuse_another(
    fake_data_dir, in_tmp_dir, capsys, no_network
):
    main(
        [
            "fit",
            *data_args(fake_data_dir),
            *QUIET,
            "--data.dataset",
            "kmnist",
            "--model.hidden_size",
            "8",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "1",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.limit_test_batches",
            "1",
        ]
    )
    checkpoint = next(Path("lightning_logs").glob("version_0/checkpoints/last.ckpt"))
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir), "--data.dataset", "mnist", *QUIET])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "trained on kmnist, not mnist: pass --data.dataset kmnist or leave --data.dataset out\n" in err
    # Refused the same without --data.data_dir, and no note first that it reads "as the checkpoint was trained".
    with pytest.raises(SystemExit):
        main(["validate", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir)[2:], "--data.dataset", "mnist"])
    err = capsys.readouterr().err
    assert "trained on kmnist, not mnist" in err and "as the checkpoint was trained" not in err
    # A folder of another data set only: the hint named --data.dataset mnist, which the checkpoint refuses.
    (in_tmp_dir / "other" / "MNIST").mkdir(parents=True)
    (in_tmp_dir / "other" / "MNIST" / "raw").symlink_to(fake_data_dir / "MNIST" / "raw")
    with pytest.raises(SystemExit):
        main(["test", "--ckpt_path", str(checkpoint), "--data.data_dir", "other", *data_args(fake_data_dir)[2:]])
    err = capsys.readouterr().err
    assert err.rstrip().endswith("other holds MNIST/raw/, another data set than the checkpoint's.")
    # Without --data.dataset and --data.data_dir: the checkpoint's data set, from the folder it was trained
    # from (it needed both again).
    for command, given in (("test", str(checkpoint)), ("validate", str(checkpoint)), ("test", "best")):
        # best: the newest run's, whatever its data set (it looked for the newest run on MNIST, and found none)
        main([command, "--ckpt_path", given, *data_args(fake_data_dir)[2:], *QUIET])
        captured = capsys.readouterr()
        assert f"mnist-rnn: reading kmnist in {fake_data_dir}, as the checkpoint was trained" in captured.err
        assert {"test": "Test accuracy ", "validate": "Validation accuracy "}[command] in captured.out
    # The folder typed, the data set the checkpoint's: not "as the checkpoint was trained", which read another.
    main(["test", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir), *QUIET])
    assert f"mnist-rnn: reading kmnist, the checkpoint's data set, in {fake_data_dir}\n" in capsys.readouterr().err


def test_a_run_on_a_relative_data_dir_is_tested_on_its_data_from_another_folder(
    fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """The checkpoint kept --data.data_dir as typed ("digits"): test from another folder looked for digits/
    there, and read another folder's files or none (export then checked itself on generated images)."""
    (in_tmp_dir / "project").mkdir()
    (in_tmp_dir / "project" / "digits").symlink_to(fake_data_dir)
    monkeypatch.chdir(in_tmp_dir / "project")
    main(["fit", *data_args("digits"), *QUIET, "--model.hidden_size", "8", "--trainer.max_steps", "1"])
    checkpoint = in_tmp_dir / "project" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["datamodule_hyper_parameters"]
    assert saved["data_dir"] == str(in_tmp_dir / "project" / "digits")
    (in_tmp_dir / "elsewhere").mkdir()
    monkeypatch.chdir(in_tmp_dir / "elsewhere")
    capsys.readouterr()
    main(["test", "--ckpt_path", str(checkpoint), *data_args("digits")[2:], *QUIET])
    captured = capsys.readouterr()
    assert f"reading mnist in {in_tmp_dir / 'project' / 'digits'}, the folder the checkpoint was trained from" in (
        captured.err
    )
    assert "Test accuracy " in captured.out
    # From the run's own folder, named as it was typed: no note that it reads another folder.
    monkeypatch.chdir(in_tmp_dir / "project")
    main(["test", "--ckpt_path", str(checkpoint), *data_args("digits"), *QUIET])
    assert "as the checkpoint was trained" not in capsys.readouterr().err
    # A checkpoint from before, which kept the folder as typed: from elsewhere, the note says it is not there.
    checkpoint_data = torch.load(checkpoint, map_location="cpu", weights_only=False)
    checkpoint_data["datamodule_hyper_parameters"]["data_dir"] = "digits"
    torch.save(checkpoint_data, in_tmp_dir / "older.ckpt")
    monkeypatch.chdir(in_tmp_dir / "elsewhere")
    with pytest.raises(SystemExit):  # no data/ here, and downloads are refused in tests
        main(["test", "--ckpt_path", str(in_tmp_dir / "older.ckpt"), *data_args("digits")[2:], *QUIET])
    err = capsys.readouterr().err
    assert "the checkpoint's run read its data from digits, which is not there from here: reading data/ instead" in err
