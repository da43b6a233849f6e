import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LambdaCallback
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from mnist_rnn.cli import build_cli
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.errors import UserError
from mnist_rnn.model import RNNClassifier
from mnist_rnn.precision import cpu_bf16
from mnist_rnn.serve.worker import TorchBackend
from tests.helpers import fit_tiny

# oneDNN builds no bfloat16 LSTM on a CPU without native bfloat16; the CLI's float32 fallback is tested in test_cli.
NEEDS_CPU_BF16 = pytest.mark.skipif(cpu_bf16() == "none", reason="oneDNN has no bfloat16 LSTM for this CPU")


def test_output_shape_for_uint8_and_float_images():
    model = RNNClassifier().eval()
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    logits = model(images)
    assert logits.shape == (5, 10)
    # float images in [0, 1] are the same pixels as uint8 0-255
    assert torch.allclose(model(images.float() / 255), logits, atol=1e-5)


def test_image_rows_are_the_time_steps():
    model = RNNClassifier(mean=0.5, std=0.25)
    images = torch.rand(3, 1, 28, 28)
    sequence = model.network.to_sequence(images)
    assert sequence.shape == (3, 28, 28)  # (batch, time steps, features)
    assert torch.allclose(sequence[:, 7], (images[:, 0, 7, :] - 0.5) / 0.25)  # step 7 is row 7
    # Without normalisation the rows are the [0, 1] pixels themselves, as the lab's ToTensor gave them.
    raw = RNNClassifier(mean=0.5, std=0.25, normalize=False).network.to_sequence(images)
    assert torch.equal(raw[:, 7], images[:, 0, 7, :])


def test_the_lab_model_is_a_2x128_lstm_with_a_linear_head():
    model = RNNClassifier()
    assert isinstance(model.network.rnn, torch.nn.LSTM)
    assert (model.network.rnn.input_size, model.network.rnn.hidden_size, model.network.rnn.num_layers) == (28, 128, 2)
    assert model.network.rnn.batch_first
    assert (model.network.head.in_features, model.network.head.out_features) == (128, 10)


def test_the_logits_come_from_the_last_time_step():
    model = RNNClassifier().eval()
    images = torch.rand(2, 1, 28, 28)
    outputs, _ = model.network.rnn(model.network.to_sequence(images))
    assert torch.allclose(model(images), model.network.head(outputs[:, -1]), atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [
        {"hidden_size": 0}, {"num_layers": 0}, {"lr": 0.0}, {"lr": -1.0}, {"dropout": 1.0}, {"cell": "tcn"},
        {"cell": "gru", "forget_bias": 1.0},
    ],
)  # fmt: skip
def test_settings_that_make_no_sense_are_refused(settings):
    with pytest.raises(ValueError):
        RNNClassifier(**settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bidirectional": "no"}, "bidirectional must be True or False, got 'no'"),  # built a bidirectional one
        ({"normalize": "false"}, "normalize must be True or False, got 'false'"),  # standardised
        ({"hidden_size": "128"}, "hidden_size must be a whole number, got '128'"),  # a comparison's TypeError
        ({"num_layers": 1.5}, "num_layers must be a whole number, got 1.5"),
        # numpy's scalars (from np.logspace): nn.LSTM's TypeError, a checkpoint weights_only cannot read
        ({"hidden_size": np.int64(8)}, "hidden_size must be a whole number (a Python int), got np.int64(8)"),
        ({"lr": "1e-3", "dropout": None}, "dropout must be a number, got None; lr must be a number, got '1e-3'"),
        ({"lr": np.float64(0.001)}, "lr must be a number (a Python float), got np.float64(0.001)"),
        ({"weight_decay": "0"}, "weight_decay must be a number or None, got '0'"),
    ],
)
def test_settings_of_the_wrong_kind_are_refused_from_python(settings, message):
    """The command line's types refuse them first; from Python they were taken, or failed in a comparison."""
    with pytest.raises(ValueError, match=re.escape(message)):
        RNNClassifier(**settings)
    assert RNNClassifier(lr=1, augment_shift=2, forget_bias=None).hparams.lr == 1  # whole numbers are numbers


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"optimizer": "sgd"}, "optimizer must be one of adam, adamw, got 'sgd'"),
        ({"lr_schedule": "linear"}, "lr_schedule must be one of constant, onecycle, cosine, got 'linear'"),
    ],
)
def test_unknown_optimizer_and_schedule_names_are_refused_not_replaced(settings, message):
    """From Python too (the command line's types refuse them already): no quiet Adam or cosine instead."""
    with pytest.raises(ValueError, match=message):
        RNNClassifier(**settings)


def test_weight_decay_defaults_to_the_optimisers_own(fake_data_dir, in_tmp_dir, capsys):
    """AdamW's 0.05 given to Adam (an L2 term in its gradient) kept the weights near zero: nothing trained."""
    assert RNNClassifier(optimizer="adamw").weight_decay == 0.05
    assert RNNClassifier(optimizer="adam").weight_decay == 0.0
    assert RNNClassifier(optimizer="adam", weight_decay=1e-4).weight_decay == 1e-4
    optimizer = RNNClassifier(optimizer="adam", lr_schedule="constant").configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["weight_decay"] == 0.0
    # A config's AdamW decay kept with --model.optimizer adam: trained, with a line saying why it may not learn.
    run = fit_tiny(
        fake_data_dir, "--model.hidden_size", "8", "--model.optimizer", "adam", "--model.weight_decay", "0.05"
    )
    assert (
        "--model.optimizer adam with weight_decay 0.05: Adam adds the decay to the gradient" in capsys.readouterr().err
    )
    saved = torch.load(next(run.glob("checkpoints/last.ckpt")), weights_only=False)["hyper_parameters"]
    assert saved["weight_decay"] == 0.05


def test_the_image_size_comes_from_the_data(fake_data_dir, in_tmp_dir):
    cli = build_cli(["--data.data_dir", str(fake_data_dir), "--trainer.logger", "false"], run=False)
    assert cli.datamodule.image_size == 28
    assert cli.model.hparams.image_size == 28 and cli.model.network.steps == 28


def test_fast_dev_run_fit_on_cpu(fake_data_dir, in_tmp_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)
    model = RNNClassifier()
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", enable_progress_bar=False)
    trainer.fit(model, datamodule=data)
    assert trainer.state.finished
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=False))
    assert set(trainer.callback_metrics) >= {"train/loss", "train/acc", "val/loss", "val/acc"}
    # With label smoothing (the default recipe's), the training batches' plain cross-entropy too, the measure of
    # val/loss: the smoothed loss never falls below its floor, and read as worse than val/loss.
    metrics = trainer.callback_metrics
    assert torch.isfinite(metrics["train/cross_entropy"]) and metrics["train/cross_entropy"] != metrics["train/loss"]


@pytest.mark.parametrize("first", ["validate", "test"])
def test_a_model_validated_or_tested_first_then_fits(first, fake_data_dir, in_tmp_dir):
    """Check a model, then fine-tune it: validate's inference_mode left the metrics' states inference tensors,
    and fit's validation ended in "Inplace update to inference tensor outside InferenceMode is not allowed"."""
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)
    model = RNNClassifier(hidden_size=8, num_layers=1)
    quiet = {"accelerator": "cpu", "logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    getattr(Trainer(**quiet), first)(model, datamodule=data, verbose=False)
    trainer = Trainer(max_epochs=1, limit_train_batches=2, enable_checkpointing=False, **quiet)
    trainer.fit(model, datamodule=data)
    assert trainer.state.finished and 0 <= float(trainer.callback_metrics["val/acc"]) <= 1


def test_train_loss_is_logged_on_the_steps_the_logger_writes(fake_data_dir, tmp_path):
    """train/loss is only logged where Lightning writes step metrics (every log_every_n_steps), plus the last
    batch of each epoch, so the logger's curve is the one it would write if every step were logged."""
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)  # 10 batches per epoch
    logger = CSVLogger(tmp_path, name="", version="")
    trainer = Trainer(
        max_epochs=2, log_every_n_steps=3, logger=logger, limit_val_batches=0, accelerator="cpu",
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
    )  # fmt: skip
    logged_steps = []
    original_log = RNNClassifier.log

    def spy(self, name, *args, **kwargs):
        if name == "train/loss":
            logged_steps.append(self.trainer.global_step)
        return original_log(self, name, *args, **kwargs)

    model = RNNClassifier()
    model.log = spy.__get__(model)
    trainer.fit(model, datamodule=data)
    # steps 2, 5, 8, ... (global_step + 1 divisible by 3) and 9, 19: the last batch of each epoch
    assert logged_steps == [2, 5, 8, 9, 11, 14, 17, 19]
    with open(tmp_path / "metrics.csv") as file:
        written = [int(row["step"]) for row in csv.DictReader(file) if row.get("train/loss")]
    assert written == [2, 5, 8, 11, 14, 17]
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_forget_bias_opens_every_forget_gate_and_zeroes_the_other_biases(bidirectional):
    model = RNNClassifier(hidden_size=8, num_layers=2, bidirectional=bidirectional, forget_bias=1.0)
    biases = {name: p for name, p in model.network.rnn.named_parameters() if name.startswith("bias_")}
    assert len(biases) == (8 if bidirectional else 4)  # ih and hh, per layer and direction
    for name, bias in biases.items():
        expected = torch.zeros(32)
        if name.startswith("bias_ih"):
            expected[8:16] = 1.0  # gates in PyTorch's order: input, forget, cell, output
        assert torch.equal(bias.detach(), expected), name
    # Without it, PyTorch's own uniform initialisation is kept, as in the lab.
    assert RNNClassifier(hidden_size=8).network.rnn.bias_ih_l0.detach().abs().sum() > 0


@pytest.mark.parametrize(
    ("precision", "clip", "fused"),
    [
        ("32-true", None, True),
        ("32-true", 1.0, True),
        pytest.param("bf16-mixed", None, True, marks=NEEDS_CPU_BF16),
        pytest.param("bf16-mixed", 1.0, False, marks=NEEDS_CPU_BF16),
    ],
)
def test_adam_is_fused_except_where_lightning_clips_under_mixed_precision(
    fake_data_dir, in_tmp_dir, precision, clip, fused
):
    """Lightning's mixed-precision plugin raises when it clips the gradients of a fused optimiser, so that one
    combination trains with the plain Adam(W); every other one gets the faster fused step."""
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)
    trainer = Trainer(
        fast_dev_run=True, accelerator="cpu", precision=precision, gradient_clip_val=clip, enable_progress_bar=False
    )
    trainer.fit(RNNClassifier(hidden_size=8), datamodule=data)
    assert trainer.state.finished
    assert trainer.optimizers[0].defaults["fused"] is fused


def test_a_checkpoint_of_the_earlier_layout_loads_and_predicts_the_same(fake_data_dir, in_tmp_dir, capsys):
    """Checkpoints written before the network became its own module hold ``rnn.*``, ``head.*`` and
    ``permutation`` at the top of their state dict, and no temperature: they load everywhere a checkpoint is
    read, to the same predictions (at temperature 1.0, with a one-line note)."""
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    # constant lr: a one-cycle schedule refuses to step past the run it was made for, as the resume below does
    settings = {"hidden_size": 8, "sequence": "permuted", "permutation_seed": 5, "lr_schedule": "constant"}
    settings |= {"augment_shift": 0, "augment_rotation": 0, "augment_scale": 0}  # no 2-D moves of permuted pixels
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False, "accelerator": "cpu"}
    trainer = Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, enable_checkpointing=False, **quiet)
    model = RNNClassifier(**settings)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint("new.ckpt")
    checkpoint = torch.load("new.ckpt", weights_only=False)
    old_state = {key.removeprefix("network."): value for key, value in checkpoint["state_dict"].items()}
    assert {"rnn.weight_ih_l0", "head.weight", "permutation", "temperature"} <= set(old_state)  # today's layout
    del old_state["temperature"]  # the earlier layout had none
    torch.save({**checkpoint, "state_dict": old_state}, "old.ckpt")

    images = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    expected = model.eval()(images)
    capsys.readouterr()
    loaded = RNNClassifier.load_from_checkpoint("old.ckpt").eval()
    assert torch.equal(loaded(images), expected)
    assert float(loaded.network.temperature) == 1.0
    note = capsys.readouterr().err
    assert note.count("\n") == 1 and "no calibration temperature" in note and "`mnist-rnn calibrate" in note
    TorchBackend("old.ckpt")  # each of serve's workers loads it again: the command has said it already
    assert capsys.readouterr().err == ""
    assert torch.equal(loaded.network.permutation, model.network.permutation)

    # Through the Trainer: test and predict give the same as the checkpoint of the new layout ...
    def test_and_predict(path):
        fresh = RNNClassifier(**settings)
        accuracy = Trainer(**quiet).test(fresh, datamodule=data, ckpt_path=path, verbose=False)[0]["test/acc"]
        batches = Trainer(**quiet).predict(fresh, DataLoader(TensorDataset(images), batch_size=6), ckpt_path=path)
        return accuracy, torch.cat(batches)

    (old_acc, old_probabilities), (new_acc, new_probabilities) = (
        test_and_predict("old.ckpt"),
        test_and_predict("new.ckpt"),
    )
    assert old_acc == new_acc and torch.equal(old_probabilities, new_probabilities)
    assert torch.allclose(old_probabilities, expected.softmax(dim=-1), atol=1e-6)
    # ... and fit resumes from it, optimiser state included.
    resumed = Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1, enable_checkpointing=False, **quiet)
    resumed.fit(RNNClassifier(**settings), data, ckpt_path="old.ckpt")
    assert resumed.global_step == 6


def test_a_data_module_of_another_data_set_is_refused_from_python(fake_data_dir, in_tmp_dir):
    """The CLI refuses it; from Python a Fashion-MNIST model with a default (MNIST) data module was tested on
    digits (9%) and had its pictures prepared as digits, without a word."""
    fashion = MNISTDataModule(dataset="fashion_mnist", data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    model = RNNClassifier(**fashion.model_settings, hidden_size=8)
    digits = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    message = (
        "the model is of fashion_mnist, the data module reads mnist: give the data module dataset='fashion_mnist', "
        r"or, for a new model, build it as RNNClassifier\(\*\*datamodule.model_settings\)"
    )
    for run in (trainer.test, trainer.predict, trainer.fit):
        with pytest.raises(ValueError, match=message):
            run(model, datamodule=digits)
    assert trainer.test(model, datamodule=fashion, verbose=False)[0]["test/acc"] >= 0


def test_a_loaded_checkpoint_reads_images_as_the_readme_says(fake_data_dir, in_tmp_dir):
    """RNNClassifier.load_from_checkpoint(path).network (the README's) came back in training mode: dropout
    made each call's answer differ, and float pixels of 0-255 were read without a word."""
    model = RNNClassifier(hidden_size=8, dropout=0.5)
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(model, datamodule=MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20))
    trainer.save_checkpoint("model.ckpt")
    assert torch.load("model.ckpt", weights_only=True)["precision"] == "32-true"  # for a test of it alone
    network = RNNClassifier.load_from_checkpoint("model.ckpt").network
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    assert not network.training and torch.equal(network(images), network(images))
    with pytest.raises(ValueError, match="float images must hold pixels in"):
        network(images.float())
    # A run resumed from it trains in training mode (the Trainer loads the checkpoint too, and eval mode there
    # turned dropout off for the rest of the run).
    modes = []
    probe = LambdaCallback(on_train_batch_start=lambda trainer, module, *_: modes.append(module.training))
    resumed = Trainer(max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu", callbacks=[probe])  # fmt: skip
    resumed.fit(RNNClassifier(hidden_size=8, dropout=0.5), MNISTDataModule(data_dir=str(fake_data_dir), val_size=40,
                batch_size=20), ckpt_path="model.ckpt")  # fmt: skip
    assert modes == [True, True]
    # So does the loaded model fine-tuned from Python (Lightning's fit keeps the mode it finds: it trained in
    # eval mode, without its dropout), and it stays in training mode afterwards, as any fitted module does.
    # By the callbacks' on_fit_start too: Lightning's model summary said "0 Modules in train mode".
    modes.clear()
    at_start = LambdaCallback(on_fit_start=lambda trainer, module: modes.append(module.training))
    tuned = Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, accelerator="cpu", callbacks=[at_start, probe])  # fmt: skip
    loaded = RNNClassifier.load_from_checkpoint("model.ckpt")
    tuned.fit(loaded, MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20))
    assert modes == [True, True, True] and all(module.training for module in loaded.modules())


def test_loading_a_file_that_is_no_checkpoint_from_python_says_what_it_is(in_tmp_dir):
    """It was torch's own error: KeyError: 101 for a text file, "PytorchStreamReader failed reading zip archive"
    for a truncated checkpoint."""
    Path("notes.txt").write_text("my notes")
    with pytest.raises(UserError, match=r"^notes.txt: not a checkpoint \(not a file written by torch.save, or"):
        RNNClassifier.load_from_checkpoint("notes.txt")
    with pytest.raises(UserError, match=r"^missing.ckpt: no such file$") as missing:
        RNNClassifier.load_from_checkpoint(Path("missing.ckpt"))
    assert isinstance(missing.value, FileNotFoundError)  # as Lightning's own, for code that catches that
    # A run folder: it said "a folder with no last.ckpt" of one whose checkpoints/ held it.
    Path("run/checkpoints").mkdir(parents=True)
    Path("run/checkpoints/last.ckpt").write_bytes(b"")
    with pytest.raises(UserError, match=r"^run: a folder, not a checkpoint file; it holds checkpoints/last.ckpt$"):
        RNNClassifier.load_from_checkpoint("run")
