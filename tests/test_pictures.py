"""TensorBoard pictures at the end of test: read back from the event files that fit and test write."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from mnist_rnn.cli import main
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier
from mnist_rnn.pictures import TestPictures, misclassified_figure, reading_figure, short_names
from tests.helpers import QUIET, data_args, fit_tiny_in


def events(run: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def hparams_metrics(accumulator: EventAccumulator) -> set[str]:
    """The metric names declared in the run's hyperparameters-tab summary."""
    content = accumulator.PluginTagToContent("hparams")["_hparams_/experiment"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    return {info.name.tag for info in data.experiment.metric_infos}


@pytest.fixture(scope="module")
def run(fake_data_dir, tmp_path_factory) -> Path:
    """The run folder of one fit (and its test) of a small, weak model: some test digits are wrong."""
    folder = tmp_path_factory.mktemp("pictures")
    # log_every_n_steps 2: the 10 steps of this epoch get a few points of the learning-rate curve
    return fit_tiny_in(folder, fake_data_dir, "--model.hidden_size", "16", "--trainer.log_every_n_steps", "2")


def hparams_names(accumulator: EventAccumulator) -> set[str]:
    """The hyperparameter names (the table's columns) of the run's hyperparameters-tab summary."""
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    return set(plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams)


PICTURES = {"test/confusion_matrix", "test/misclassified", "test/reading_accuracy"}


def test_fit_then_test_writes_the_confusion_matrix_the_misclassified_and_the_hparams(run):
    accumulator = events(run)
    assert PICTURES <= set(accumulator.Tags()["images"])
    assert hparams_metrics(accumulator) == {"val/acc", "test/acc"}
    # Plain hyperparameters only: not LightningCLI's _instantiator, not the list of class names.
    names = hparams_names(accumulator)
    assert {"lr", "hidden_size", "optimizer", "forget_bias"} <= names
    assert not any(name.startswith("_") for name in names) and "class_names" not in names
    # The tab shows the real numbers: the last values of the val/acc and test/acc scalars...
    test_acc = accumulator.Scalars("test/acc")[-1].value
    val_acc = accumulator.Scalars("val/acc")[-1].value
    assert 0 < test_acc < 1  # some right, some wrong: a picture in each
    # ... and val/acc is that of the tested (best) checkpoint, as its file name says.
    best = next((run / "checkpoints").glob("best-*.ckpt")).stem
    assert f"{val_acc:.4f}" == best.split("val_acc")[1]


def test_the_test_subcommand_alone_writes_the_pictures_too(run, fake_data_dir, monkeypatch):
    monkeypatch.chdir(run.parents[1])
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    main(["test", "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    accumulator = events(run.parent / "version_1")
    assert PICTURES <= set(accumulator.Tags()["images"])
    assert hparams_metrics(accumulator) == {"val/acc", "test/acc"}  # val/acc comes from the checkpoint
    assert accumulator.Scalars("val/acc")[-1].value == pytest.approx(float(best.stem.split("val_acc")[1]), abs=1e-4)


def test_misclassified_grid_with_nothing_wrong_still_draws():
    figure = misclassified_figure([], short_names(None, 10))
    assert figure.texts  # says so, rather than an empty picture


def test_short_class_names():
    assert short_names(["0 - zero", "1 - one"], 2) == ["0", "1"]
    assert short_names(["T-shirt/top", "Trouser"], 2) == ["T-shirt/top", "Trouser"]
    assert short_names(None, 3) == ["0", "1", "2"]


def test_fit_draws_the_learning_rate_curve(run):
    """configs/seed.yaml trains with Adam at a constant lr 0.01: Lightning's LearningRateMonitor logs it."""
    accumulator = events(run)
    curve = accumulator.Scalars("lr-Adam")
    assert len(curve) >= 2 and all(point.value == pytest.approx(0.01) for point in curve)


def test_the_learning_rate_monitor_comes_only_with_a_logger(fake_data_dir, tmp_path):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    quiet = {"limit_train_batches": 4, "limit_val_batches": 1, "log_every_n_steps": 1, "enable_progress_bar": False}
    without = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, **quiet)
    without.fit(RNNClassifier(hidden_size=8), datamodule=data)  # LearningRateMonitor alone would refuse this
    assert without.state.finished
    assert not any(isinstance(callback, LearningRateMonitor) for callback in without.callbacks)
    logger = CSVLogger(tmp_path, name="", version="")
    with_logger = Trainer(max_epochs=1, logger=logger, enable_checkpointing=False, default_root_dir=tmp_path, **quiet)
    with_logger.fit(RNNClassifier(hidden_size=8), datamodule=data)
    assert "lr-AdamW" in (tmp_path / "metrics.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("sequence", ["rows", "pixels"])
def test_the_reading_accuracy_after_the_last_row_is_the_test_accuracy(fake_data_dir, in_tmp_dir, sequence):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    pictures = TestPictures()
    trainer = Trainer(logger=False, callbacks=[pictures], enable_progress_bar=False, enable_model_summary=False)
    accuracy = trainer.test(RNNClassifier(hidden_size=8, sequence=sequence), datamodule=data, verbose=False)[0]
    correct, counts = pictures.reading_correct, pictures.class_counts
    assert correct.shape == (28, 10) and int(counts.sum()) == 60  # the fake test set
    assert float(correct[-1].sum() / counts.sum()) == pytest.approx(accuracy["test/acc"])
    assert (correct <= counts).all()


def test_no_reading_accuracy_for_a_bidirectional_network(fake_data_dir, in_tmp_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    pictures = TestPictures()
    trainer = Trainer(logger=False, callbacks=[pictures], enable_progress_bar=False, enable_model_summary=False)
    trainer.test(RNNClassifier(hidden_size=8, bidirectional=True), datamodule=data, verbose=False)
    assert pictures.reading_correct is None and int(pictures.confusion.compute().sum()) == 60


def test_reading_figure_draws_each_class_and_all_in_percent():
    correct = torch.tensor([[0, 1], [2, 3], [4, 4]])  # 3 rows, 2 classes
    figure = reading_figure(correct, torch.tensor([4, 4]), ["cat", "dog"])
    axes = figure.axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in axes.get_lines()}
    assert lines == {"cat": [0, 50, 100], "dog": [25, 75, 100], "all": [12.5, 62.5, 100]}
    assert list(axes.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert "after reading k rows" in axes.get_title() and "%" in axes.get_ylabel()


def test_misclassified_titles_are_large_enough_to_read():
    wrong = [(torch.zeros(1, 28, 28, dtype=torch.uint8), 4, 9)] * 12
    figure = misclassified_figure(wrong, short_names(None, 10), total=49)
    titles = [axes.title for axes in figure.axes]
    assert len(titles) == 12 and titles[0].get_text() == "true 4\npredicted 9"
    assert min(title.get_fontsize() for title in titles) >= 14
    assert "12 of 49" in figure.get_suptitle()
