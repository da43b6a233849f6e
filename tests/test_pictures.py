"""TensorBoard pictures at the end of test: read back from the event files that fit and test write."""

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from mnist_rnn.cli import main
from mnist_rnn.pictures import misclassified_figure, short_names
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
    return fit_tiny_in(tmp_path_factory.mktemp("pictures"), fake_data_dir, "--model.hidden_size", "16")


def test_fit_then_test_writes_the_confusion_matrix_the_misclassified_and_the_hparams(run):
    accumulator = events(run)
    assert {"test/confusion_matrix", "test/misclassified"} <= set(accumulator.Tags()["images"])
    assert hparams_metrics(accumulator) == {"val/acc", "test/acc"}
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
    assert {"test/confusion_matrix", "test/misclassified"} <= set(accumulator.Tags()["images"])
    assert hparams_metrics(accumulator) == {"val/acc", "test/acc"}  # val/acc comes from the checkpoint
    assert accumulator.Scalars("val/acc")[-1].value == pytest.approx(float(best.stem.split("val_acc")[1]), abs=1e-4)


def test_misclassified_grid_with_nothing_wrong_still_draws():
    figure = misclassified_figure([], short_names(None, 10))
    assert figure.texts  # says so, rather than an empty picture


def test_short_class_names():
    assert short_names(["0 - zero", "1 - one"], 2) == ["0", "1"]
    assert short_names(["T-shirt/top", "Trouser"], 2) == ["T-shirt/top", "Trouser"]
    assert short_names(None, 3) == ["0", "1", "2"]
