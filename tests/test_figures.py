"""TensorBoard figures at the end of test: read back from the event files that fit and test write."""

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import hparams_plugin, plugin_data_pb2
from werkzeug.test import Client

from mnist_rnn.cli import main
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.figures import (
    FEW,
    TestFigures,
    confusion_figure,
    first_ink_rows,
    log_hparams_with_metrics,
    misclassified_figure,
    plain_hparams,
    reading_figure,
    reliability_figure,
    run_settings,
    short_names,
    wilson_interval,
)
from mnist_rnn.model import RNNClassifier
from tests.helpers import QUIET, ROOT, data_args, fit_tiny_in


def events(run: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def served_experiment(logdir: Path) -> dict:
    """The hyperparameters tab's experiment (its columns, their filters, its metrics) as TensorBoard serves it
    for ``tensorboard --logdir LOGDIR``: the answer of its hparams plugin to the page's request."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    context = base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer, data_provider=provider)
    app = hparams_plugin.HParamsPlugin(context).get_plugin_apps()["/experiment"]
    response = Client(app).post("/experiment", data=json.dumps({"experimentName": "", "hparamsLimit": 1000}))
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


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


FIGURES = {"test/confusion_matrix", "test/misclassified", "test/reading_accuracy", "test/reliability"}
HP_METRICS = {"test/checkpoint_val_acc", "test/acc", "test/ece"}


def hparams_values(accumulator: EventAccumulator) -> dict:
    """The run's hyperparameters as the tab shows them: {name: number, string or bool}."""
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    values = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in values.items()}


def served_hparams(logdir: Path) -> dict[str, dict]:
    """The columns of the hyperparameters tab, as served: {name: its info (type, filter's values, differs)}."""
    return {info["name"]: info for info in served_experiment(logdir)["hparamInfos"]}


def test_a_fit_lays_out_its_main_curves_in_the_custom_scalars_tab(run):
    """Accuracy, loss and learning rate, train beside val, where a newcomer finds them at once."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    accumulator = events(run)
    layout = layout_pb2.Layout.FromString(accumulator.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    assert charts == {
        "accuracy: train/acc (per epoch) and val/acc": [r"^train/acc$", r"^val/acc$"],
        "loss: train/loss (with label smoothing), train/cross_entropy and val/loss (without)": [
            r"^train/loss$",
            r"^train/cross_entropy$",
            r"^val/loss$",
        ],
        "learning rate": [r"^train/lr$"],
    }
    scalars = accumulator.Tags()["scalars"]  # each pattern draws a curve of this run
    plain = r"^train/cross_entropy$"  # the lab's recipe has no label smoothing: train/loss is its cross-entropy
    assert "train/cross_entropy" not in scalars
    assert all(
        any(re.search(tag, name) for name in scalars) for tags in charts.values() for tag in tags if tag != plain
    )


def test_fit_then_test_writes_the_figures_the_calibration_and_the_hparams(run):
    accumulator = events(run)
    assert FIGURES <= set(accumulator.Tags()["images"])
    # The run's values only, no experiment summary: TensorBoard builds one from every run's (see below).
    assert "_hparams_/experiment" not in accumulator.PluginTagToContent("hparams")
    served = served_experiment(run.parent)
    assert HP_METRICS <= {info["name"]["tag"] for info in served["metricInfos"]}
    # Plain hyperparameters only: not LightningCLI's _instantiator, not the list of class names.
    names = hparams_names(accumulator)
    assert {"lr", "hidden_size", "optimizer", "forget_bias"} <= names
    assert not any(name.startswith("_") for name in names) and "class_names" not in names
    # The data module's and the trainer's deciding settings, as readable values: booleans as words.
    values = hparams_values(accumulator)
    assert values["batch_size"] == 20 and values["val_size"] == 40 and values["dataset"] == "mnist"
    assert values["max_epochs"] == 1 and values["precision"] == "32-true" and values["seed"] == 42
    # a whole epoch (a smoke run's limit told it apart), as a word: 1.0 beside another run's 200 read as 1 batch
    assert values["limit_train_batches"] == "all" and values["command"] == "fit"
    assert "checkpoint" not in values and "mean" not in values and "std" not in values  # std follows the data set
    assert values["bidirectional"] == "false" and values["normalize"] == "false"  # seed.yaml: no standardising
    # Every string setting has its values (without them TensorBoard's page warns "cannot process domain type").
    infos = {info["name"]: info for info in served["hparamInfos"]}
    assert all(value in infos[name]["domainDiscrete"] for name, value in values.items() if isinstance(value, str))
    # The calibration scalars of the test: before and after temperature scaling, and the temperature.
    before = accumulator.Scalars("test/ece_uncalibrated")[-1].value
    after = accumulator.Scalars("test/ece")[-1].value
    temperature = accumulator.Scalars("test/temperature")[-1].value
    assert 0 <= after < 1 and 0 <= before < 1 and temperature > 0 and temperature != 1.0  # fit calibrated it
    # No copies of the test's scalars under hp/ (three lone points, the charts TensorBoard opened first)...
    assert not [tag for tag in accumulator.Tags()["scalars"] if tag.startswith("hp/")]
    test_acc = accumulator.Scalars("test/acc")[-1].value
    assert 0 < test_acc < 1  # some right, some wrong: a figure in each
    # ... test/checkpoint_val_acc is the val/acc of the tested (best) checkpoint, as its file name says...
    best = next((run / "checkpoints").glob("best-*.ckpt")).stem
    assert f"{accumulator.Scalars('test/checkpoint_val_acc')[-1].value:.4f}" == best.split("val_acc")[1]
    # ... and val/acc has one point per epoch (one epoch here): no extra point at the last step.
    assert len(accumulator.Scalars("val/acc")) == 1


def test_every_curve_and_figure_the_docs_name_is_written(run):
    """The README and docs/ name the curves and figures a newcomer looks for in TensorBoard (`train/grad_norm`,
    `test/reliability`, ...): each is a tag that a fit and its test write, spelt as they write it."""
    accumulator = events(run)
    written = {*accumulator.Tags()["scalars"], *accumulator.Tags()["images"]}
    named = set()
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        if page.name == "errors.md":  # its misspelt monitors (val/accuracy) are the errors it shows
            continue
        for span in re.findall(r"`([^`\n]+)`", page.read_text(encoding="utf-8")):
            named |= set(re.findall(r"(?<![\w./-])(?:train|val|test)/\w+", span))
    # This run's recipe, the lab's, has no label smoothing: train/cross_entropy is logged only with it (above).
    assert {"train/grad_norm", "test/reliability", "val/loss"} <= named
    assert sorted(named - written - {"train/cross_entropy"}) == []


def test_the_test_subcommand_alone_writes_the_pictures_too(run, fake_data_dir, monkeypatch):
    monkeypatch.chdir(run.parents[1])
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    main(["test", "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    accumulator = events(run.parent / "version_1")
    assert FIGURES <= set(accumulator.Tags()["images"])
    assert HP_METRICS <= set(accumulator.Tags()["scalars"])  # checkpoint_val_acc comes from the checkpoint
    val_acc = accumulator.Scalars("test/checkpoint_val_acc")[-1].value
    assert val_acc == pytest.approx(float(best.stem.split("val_acc")[1]), abs=1e-4)
    assert "val/acc" not in accumulator.Tags()["scalars"]  # a test draws no validation curve
    # The HParams row is the tested run's (batch 20, 1 epoch), not the test command's defaults (128, 15).
    values = hparams_values(accumulator)
    assert (values["batch_size"], values["max_epochs"], values["val_size"]) == (20, 1, 40)
    # marked as a test of that checkpoint: a copy of its run's row at epoch 0 read as a run trained for none
    assert values.pop("command") == "test" and values.pop("checkpoint") == f"version_0/checkpoints/{best.name}"
    assert hparams_values(events(run)) == {**values, "command": "fit"}


@pytest.mark.parametrize("command", ["test", "validate"])
def test_a_checkpoint_tested_by_itself_is_logged_at_the_step_it_was_saved_at(run, fake_data_dir, tmp_path, command):
    """Lightning counts no step outside fit: a test of a trained checkpoint drew its scalars and pictures at step 0
    and epoch 0, beside the start of training. They go where fit's own test puts them: at the end of the training
    that made the weights."""
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    saved_at = torch.load(best, map_location="cpu", weights_only=False)["global_step"]
    assert saved_at > 0
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        main([command, "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    accumulator = events(tmp_path / "lightning_logs" / "version_0")
    scalars = accumulator.Tags()["scalars"]
    assert f"{'val' if command == 'validate' else 'test'}/acc" in scalars
    assert "epoch" not in scalars and "step" not in scalars  # no "epoch 0" point, and the step is no curve
    assert {point.step for tag in scalars for point in accumulator.Scalars(tag)} == {saved_at}
    images = accumulator.Tags()["images"]
    assert set(images) == (FIGURES if command == "test" else set())
    assert {image.step for tag in images for image in accumulator.Images(tag)} <= {saved_at}
    # where fit's own test of these weights (its last, here its only epoch's) put its scalars and pictures
    fitted = events(run)
    assert {point.step for point in fitted.Scalars("test/acc")} == {saved_at}
    assert {image.step for tag in FIGURES for image in fitted.Images(tag)} == {saved_at}


def test_the_epoch_curve_ends_at_the_last_epoch_trained(run):
    """Lightning adds an ``epoch`` point to each log call without a ``step``: fit's own test, after the loop had
    counted its epoch done, put 1.0 after training's 0.0 (2.0 after 1.0 on a resume), a curve read as one more
    epoch trained. The test logs its step as a test of a checkpoint by itself does, and so adds no such point."""
    accumulator = events(run)
    epochs = accumulator.Scalars("epoch")
    assert epochs and {point.value for point in epochs} == {0.0}  # one epoch trained: epoch 0 only
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert {point.step for point in accumulator.Scalars("test/acc")} == {last}  # still at the end of the training
    assert "step" not in accumulator.Tags()["scalars"]


def test_an_epoch_shorter_than_the_logging_interval_still_draws_the_training_curves(
    fake_data_dir, tmp_path, figures_not_drawn
):
    """A smoke run (--trainer.limit_train_batches 3, under log_every_n_steps 50) logged no train/* point: its
    loss and learning-rate charts were empty. It logs once an epoch, at the epoch's last step."""
    short = ["--trainer.limit_train_batches", "3", "--trainer.max_epochs", "2"]
    run = fit_tiny_in(tmp_path, fake_data_dir, "--model.hidden_size", "16", *short)  # its curves, not its pictures
    accumulator = events(run)
    for tag in ("train/loss", "train/lr", "train/grad_norm"):
        assert [point.step for point in accumulator.Scalars(tag)] == [2, 5], tag


def test_the_hparams_tab_shows_the_weight_decay_the_optimiser_got():
    """weight_decay null means the optimiser's own (0.05 AdamW, 0 Adam): the tab showed "None", read as none."""
    fitting = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_epochs=1)
    fitting.state.fn = "fit"
    assert run_settings(fitting, RNNClassifier())["weight_decay"] == 0.05
    assert run_settings(fitting, RNNClassifier(optimizer="adam"))["weight_decay"] == 0.0
    assert run_settings(fitting, RNNClassifier(optimizer="adam", weight_decay=0.001))["weight_decay"] == 0.001


def test_the_hparams_row_of_an_older_checkpoint_gives_its_share_of_each_epoch_in_words():
    """Checkpoints from before the column was put in words hold Lightning's number: "1.0000" beside "all"."""
    testing = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    testing.state.fn = TrainerFn.TESTING
    model = RNNClassifier()
    for saved, shown in ((1.0, "all"), (0.25, "25%"), (20, "20 batches"), ("all", "all")):
        model.checkpoint_run_settings = {"batch_size": 50, "limit_train_batches": saved}
        assert run_settings(testing, model)["limit_train_batches"] == shown


def test_misclassified_grid_with_nothing_wrong_still_draws():
    figure = misclassified_figure([], short_names(None, 10))
    assert figure.texts  # says so, rather than an empty picture


def test_short_class_names():
    assert short_names(["0 - zero", "1 - one"], 2) == ["0", "1"]
    assert short_names(["T-shirt/top", "Trouser"], 2) == ["T-shirt/top", "Trouser"]
    assert short_names(None, 3) == ["0", "1", "2"]


def test_fit_draws_the_learning_rate_curve(run):
    """configs/seed.yaml trains with Adam at a constant lr 0.01: Lightning's LearningRateMonitor logs it, as
    train/lr (Lightning's own name, lr-Adam, made a group of its own, sorted before train/ and val/)."""
    accumulator = events(run)
    assert not any(tag.startswith("lr-") for tag in accumulator.Tags()["scalars"])
    curve = accumulator.Scalars("train/lr")
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
    assert "train/lr" in (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")


@pytest.mark.parametrize("sequence", ["rows", "pixels"])
def test_the_reading_accuracy_after_the_last_row_is_the_test_accuracy(fake_data_dir, in_tmp_dir, sequence):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    pictures = TestFigures()
    trainer = Trainer(logger=False, callbacks=[pictures], enable_progress_bar=False, enable_model_summary=False)
    accuracy = trainer.test(RNNClassifier(hidden_size=8, sequence=sequence), datamodule=data, verbose=False)[0]
    correct, counts = pictures.reading_correct, pictures.class_counts
    assert correct.shape == (28, 10) and int(counts.sum()) == 60  # the fake test set
    assert float(correct[-1].sum() / counts.sum()) == pytest.approx(accuracy["test/acc"])
    assert (correct <= counts).all()


def test_no_reading_accuracy_for_a_bidirectional_network(fake_data_dir, in_tmp_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    pictures = TestFigures()
    trainer = Trainer(logger=False, callbacks=[pictures], enable_progress_bar=False, enable_model_summary=False)
    trainer.test(RNNClassifier(hidden_size=8, bidirectional=True), datamodule=data, verbose=False)
    assert pictures.reading_correct is None and int(pictures.confusion.compute().sum()) == 60


def test_reading_figure_draws_each_class_and_all_in_percent_and_marks_chance():
    correct = torch.tensor([[0, 1], [2, 3], [4, 4]])  # 3 rows, 2 classes
    figure = reading_figure(correct, torch.tensor([4, 4]), ["cat", "dog"])
    axes = figure.axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in axes.get_lines() if line.get_label()[0] != "_"}
    assert lines == {"cat": [0, 50, 100], "dog": [25, 75, 100], "all": [12.5, 62.5, 100], "chance": [50, 50]}
    assert legend_texts(figure)[2:4] == ["all", "chance"]  # chance marked in the legend, where no curve runs
    assert list(axes.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert "after reading k rows" in axes.get_title() and "%" in axes.get_ylabel()


@pytest.mark.parametrize(
    ("sequence", "title", "axis"),
    [
        ("rows", "Test accuracy after reading k rows", "rows read, from the first row with ink"),
        (
            "pixels",
            "Test accuracy after the pixels of k rows",
            "rows read (pixel by pixel), from the first row with ink",
        ),
        ("permuted", "Test accuracy after k/28 of the permuted pixels", "k/28 of the permuted pixels read"),
    ],
)
def test_the_reading_figure_says_what_the_model_reads_in_its_title_too(sequence, title, axis):
    """A 784-step model's figure said "k/28 of the permuted pixels read" below and "after reading k rows" above:
    the title says what a step is for each sequence mode, as the axis does (the title in one or two lines), in
    the axis's words: the permuted title said "shuffled pixels" over an axis of "permuted pixels", as if two
    different things."""
    correct, counts = weak_reading()
    figure = reading_figure(correct, counts, short_names(FASHION_NAMES, 10), sequence)
    axes = figure.axes[0]
    assert (" ".join(axes.get_title().split()), axes.get_xlabel()) == (title, axis)
    assert cut_off(figure) == []


def drawn_by_test(name: str, model: RNNClassifier, data_dir, folder, monkeypatch) -> list:
    """The figures that the callback draws with ``mnist_rnn.figures.<name>`` when ``model`` is tested."""
    import mnist_rnn.figures as figures

    drawn = []
    draw_figure = getattr(figures, name)

    def draw(*args):
        drawn.append(draw_figure(*args))
        return drawn[-1]

    monkeypatch.setattr(figures, name, draw)
    data = MNISTDataModule(data_dir=str(data_dir), val_size=40, batch_size=20)
    trainer = Trainer(enable_progress_bar=False, enable_model_summary=False, default_root_dir=folder)
    trainer.test(model, datamodule=data, verbose=False)
    return drawn


@pytest.mark.parametrize(
    ("sequence", "title"),
    [
        ("pixels", "Test accuracy after the pixels of k rows"),
        ("permuted", "Test accuracy after k/28 of the permuted pixels"),
    ],
)
def test_testing_a_pixel_model_titles_its_reading_figure_by_its_sequence(
    fake_data_dir, in_tmp_dir, monkeypatch, sequence, title
):
    """What the callback hands the figure: the tested model's own sequence mode (its hparams)."""
    model = RNNClassifier(hidden_size=8, sequence=sequence)
    (figure,) = drawn_by_test("reading_figure", model, fake_data_dir, in_tmp_dir, monkeypatch)
    assert " ".join(figure.axes[0].get_title().split()) == title


def test_misclassified_titles_are_large_enough_to_read():
    wrong = [(torch.zeros(1, 28, 28, dtype=torch.uint8), 4, 9)] * 12
    figure = misclassified_figure(wrong, short_names(None, 10), total=49)
    titles = [axes.title for axes in figure.axes]
    assert len(titles) == 12 and titles[0].get_text() == "true 4\npredicted 9"
    assert min(title.get_fontsize() for title in titles) >= 14
    assert "12 of 49" in figure.get_suptitle()


# The class names of the data sets, as their checkpoints keep them (torchvision's): the figures' long and short.
MNIST_NAMES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]  # fmt: skip
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]  # fmt: skip
BOTH = pytest.mark.parametrize("class_names", [MNIST_NAMES, FASHION_NAMES], ids=["mnist", "fashion"])


def legend_texts(figure: Figure) -> list[str]:
    """The labels of the figure's legends, in order (an axes' legend, wherever it is drawn)."""
    legends = [axes.get_legend() for axes in figure.axes if axes.get_legend()] + figure.legends
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def text_boxes(figure: Figure) -> dict[Text, Bbox]:
    """Every written text of ``figure`` (titles, labels, tick labels, the texts in the axes, legends) and its
    box in pixels, drawn as TensorBoard's ``add_figure`` draws it (Agg, the figure's own size)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    texts = list(figure.texts)  # the suptitle and supxlabel among them
    texts += [text for legend in figure.legends for text in legend.get_texts()]
    for axes in figure.axes:
        texts += [axes.title, *axes.texts, *(axes.get_legend().get_texts() if axes.get_legend() else [])]
        for axis in (axes.xaxis, axes.yaxis) if axes.axison else ():
            low, high = sorted(axis.get_view_interval())  # the ticks drawn: the locator offers some beyond
            ticks = axis.get_major_ticks(len(axis.get_majorticklocs()))
            texts += [axis.label, *(tick.label1 for tick in ticks if low - 1e-9 <= tick.get_loc() <= high + 1e-9)]
    renderer = canvas.get_renderer()
    return {text: text.get_window_extent(renderer) for text in texts if text.get_visible() and text.get_text()}


def cut_off(figure: Figure) -> list[str]:
    """The texts of ``figure`` that do not lie wholly inside it: cut at its edge in the picture."""
    page = figure.bbox
    return [
        text.get_text()
        for text, box in text_boxes(figure).items()
        if box.x0 < page.x0 or box.y0 < page.y0 or box.x1 > page.x1 or box.y1 > page.y1
    ]


def overlap(first: Bbox, second: Bbox) -> bool:
    """Whether two boxes share some area (not just an edge)."""
    return min(first.x1, second.x1) > max(first.x0, second.x0) and min(first.y1, second.y1) > max(first.y0, second.y0)


@BOTH
@pytest.mark.parametrize("sequence", ["rows", "pixels", "permuted"])
@pytest.mark.parametrize("guessing", [True, False], ids=["weak", "good"])
def test_the_reading_figure_title_lies_inside_the_figure_over_its_axes(class_names, sequence, guessing):
    """The permuted title, "Test accuracy after k/28 of the permuted pixels", was 453 pixels wide over axes of
    377: centred over them, it ran over the "100" of the accuracy axis at its left, and looked cut off at the
    figure's top edge. Every title now lies inside the figure, within its axes' width, clear of every other
    text, whatever the sequence mode, the class names (the legend's width) and the caption."""
    if guessing:
        correct, counts = weak_reading()
    else:  # 32% right after one row, 86% after all: no guessing band, no caption under the axes
        correct, counts = (30 + 2 * torch.arange(1, 29)).unsqueeze(1).repeat(1, 10), torch.full((10,), 100)
    figure = reading_figure(correct, counts, short_names(class_names, 10), sequence)
    boxes = text_boxes(figure)  # drawn as TensorBoard draws it (FigureCanvasAgg(figure).draw())
    axes = figure.axes[0]
    title, page, plot = boxes[axes.title], figure.bbox, axes.get_window_extent()
    assert page.x0 <= title.x0 and title.x1 <= page.x1 and page.y0 <= title.y0 and title.y1 <= page.y1
    assert plot.x0 <= title.x0 and title.x1 <= plot.x1
    assert [text.get_text() for text, box in boxes.items() if text is not axes.title and overlap(box, title)] == []
    assert bool(figure.texts) == guessing  # the caption under the axes, where the network guesses


def a_confusion_matrix(errors: int = 4086) -> torch.Tensor:
    """10 classes of 1,000 test images, ``errors`` of them wrong, spread over every pair of classes."""
    wrong = ~torch.eye(10, dtype=torch.bool)
    matrix = torch.zeros(10, 10, dtype=torch.long)
    matrix[wrong] = errors // 90 + (torch.arange(90) < errors % 90).long()
    return matrix + torch.diag(1000 - matrix.sum(dim=1))


@BOTH
def test_the_confusion_matrix_title_and_labels_are_whole(class_names):
    """Fashion-MNIST's names ("T-shirt/top") push the matrix right: its title, centred over it, ran past the
    figure's edge ("4,086 errors in rec"). It wraps where it must (:func:`wrap_to_fit`); with the names alone
    (no "T-shirt/top 0") both titles fit on one line."""
    matrix = a_confusion_matrix()
    figure = confusion_figure(matrix, short_names(class_names, 10))
    assert int(matrix.sum() - matrix.trace()) == 4086
    assert cut_off(figure) == []
    assert figure.axes[0].get_title() == "Test confusion matrix: 4,086 errors in red"


def test_the_confusion_matrix_names_the_predicted_classes_as_it_names_the_true_ones():
    """Fashion-MNIST's columns were numbers ("predicted class (number)"): each error took a look back at the
    rows ("Shirt 6") to read what the garment was taken for. Both axes carry the names; long ones are slanted
    under their columns, digits (MNIST's names) stand upright."""
    for class_names, slant in ((FASHION_NAMES, 45), (MNIST_NAMES, 0)):
        names = short_names(class_names, 10)
        figure = confusion_figure(a_confusion_matrix(), names)
        axes = figure.axes[0]
        assert [label.get_text() for label in axes.get_xticklabels()] == names
        assert [label.get_text() for label in axes.get_yticklabels()] == names
        assert axes.get_xlabel() == "predicted class"
        assert {label.get_rotation() for label in axes.get_xticklabels()} == {slant}
        assert cut_off(figure) == []


def a_misclassified_grid(class_names: list[str], count: int = 12, total: int = 4086) -> Figure:
    """The grid of ``count`` misclassified images, among them the longest captions of these names."""
    names = short_names(class_names, 10)
    longest = sorted(range(10), key=lambda k: len(names[k]), reverse=True)  # the widest first
    pairs = [(longest[k % 10], longest[(k + 1) % 10]) for k in range(count)]
    return misclassified_figure([(torch.zeros(1, 28, 28, dtype=torch.uint8), t, p) for t, p in pairs], names, total)


@BOTH
def test_misclassified_captions_are_whole_and_apart(class_names):
    """Fashion-MNIST's captions ("predicted Ankle boot") were wider than a digit's tile: they ran into each
    other and past the figure's edge. Long names get fewer, wider columns; digits keep their 4 by 3 grid."""
    figure = a_misclassified_grid(class_names)
    assert cut_off(figure) == []
    boxes = text_boxes(figure)
    captions = [boxes[axes.title] for axes in figure.axes]
    tiles = [axes.get_window_extent() for axes in figure.axes]  # the images
    title = next(box for text, box in boxes.items() if text.get_text() == figure.get_suptitle())
    for k, caption in enumerate(captions):
        assert not caption.overlaps(title)
        assert not any(caption.overlaps(other) for other in captions[k + 1 :])
        assert not any(caption.overlaps(tile) for tile in tiles)
    assert min(axes.title.get_fontsize() for axes in figure.axes) >= 14
    rows, columns = figure.axes[0].get_subplotspec().get_geometry()[:2]
    if class_names is MNIST_NAMES:  # as it was: 640 pixels, 4 columns
        assert (figure.bbox.width, rows, columns) == (640, 3, 4)
    assert figure.bbox.width <= 640  # TensorBoard's card shrinks a wider picture, and its type with it


@pytest.mark.parametrize("count", [0, 1, 2])
def test_a_grid_of_one_or_two_images_or_none_has_its_title_whole(count):
    """One tile is 160 pixels wide: "Misclassified test images (1 of 4,086)", and "no misclassified test images"
    in a figure of one empty tile, were cut at both edges."""
    figure = a_misclassified_grid(FASHION_NAMES, count)
    assert cut_off(figure) == []
    assert len(figure.axes) == count and figure.texts


@BOTH
def test_the_reading_and_reliability_figures_keep_their_texts_whole(class_names):
    """Their texts fit (the legend of long names too): that they keep fitting, with every label of the x axis."""
    correct = torch.arange(1, 29).unsqueeze(1) * torch.arange(1, 11) * 3  # (rows, classes), up to 840 of 1,000
    for sequence in ("rows", "pixels", "permuted"):
        assert cut_off(reading_figure(correct, torch.full((10,), 1000), short_names(class_names, 10), sequence)) == []
    bins = torch.zeros(3, 2, 15, dtype=torch.float64)
    bins[:, :, 14] = torch.tensor([980.0, 975.0, 975.0]).unsqueeze(1)
    assert cut_off(reliability_figure(bins, 1.37, (0.0412, 0.0081))) == []


def test_the_reading_accuracy_counts_rows_from_the_first_row_with_ink():
    """An image whose digit starts at row 2: its rows 0-1 are guesses, not reading, and are not counted."""
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    images[0, 0, 2:, 1] = 255
    images[1, 0, 0, 1] = 255
    assert first_ink_rows(images).tolist() == [2, 0]
    figures = TestFigures()
    figures.class_counts = torch.zeros(2, dtype=torch.long)
    # Image 0 (class 1) is answered 1 on the empty rows and 0 once the digit begins; image 1 (class 0) always 0.
    row_logits = torch.tensor([[[0.0, 1], [0, 1], [1, 0], [1, 0]], [[1.0, 0], [1, 0], [1, 0], [1, 0]]])
    figures._count_reading(row_logits, torch.tensor([1, 0]), first_ink_rows(images))
    # Class 1's count starts at its first inked row (wrong from there), padded with its last answer.
    assert figures.reading_correct[:, 1].tolist() == [0, 0, 0, 0]
    assert figures.reading_correct[:, 0].tolist() == [1, 1, 1, 1]


def test_the_confusion_matrix_writes_every_count_upright_and_colours_errors():
    matrix = torch.tensor([[1000, 15, 0], [3, 1100, 31], [0, 0, 980]])
    figure = confusion_figure(matrix, ["0", "1", "2"])
    axes = figure.axes[0]
    assert [label.get_rotation() for label in axes.get_xticklabels()] == [0, 0, 0]
    written = {text.get_text() for text in axes.texts}
    assert {"1000", "1100", "980", "15", "3", "31"} <= written
    errors = axes.images[1].get_array()  # the red layer: the errors only, by share of their true class
    assert errors.count() == 3 and errors.max() == pytest.approx(31 / 1134)


def a_matrix_of_counts(digits: int | str) -> torch.Tensor:
    """10 by 10 counts of ``digits`` digits in every cell (1s, 4s and 8s: 111, 444, 888), or ``"mixed"``: counts
    of 1 to 5 digits side by side, 10,000 among them (a class all in one cell); or ``"fashion"``: like a poorly
    trained Fashion-MNIST model's matrix, whose Dress row read "316312"."""
    if digits == "fashion":
        matrix = torch.randint(0, 60, (10, 10), generator=torch.Generator().manual_seed(0))
        matrix[3] = torch.tensor([162, 12, 14, 316, 312, 5, 150, 0, 20, 9])
        matrix[6] = torch.tensor([288, 3, 199, 44, 170, 0, 240, 0, 56, 0])
        return matrix + torch.diag(1000 - matrix.sum(dim=1)).clamp(min=0)
    if digits == "mixed":
        row = torch.tensor([1, 22, 333, 4444, 10000, 8888, 888, 88, 8, 10000])
        return torch.stack([row.roll(k) for k in range(10)])
    cells = torch.tensor([8, 1, 4]).repeat(34)[:100].reshape(10, 10)
    return cells * (10**digits - 1) // 9  # 8 -> 88...8: each cell's count has ``digits`` digits


@BOTH
@pytest.mark.parametrize("digits", [1, 2, 3, 4, 5, "mixed", "fashion"])
def test_every_count_of_the_confusion_matrix_fits_its_cell_apart_from_its_neighbours(class_names, digits):
    """A poorly trained Fashion-MNIST model's Dress row read "316312": two bold 3-digit counts in a type made
    for a cell as wide as digits' names leave (long names make the matrix narrower) ran into each other. Every
    count, of 1 to 5 digits, lies inside its cell with a gap to each neighbour, as large as that allows."""
    matrix = a_matrix_of_counts(digits)
    figure = confusion_figure(matrix, short_names(class_names, 10))
    axes = figure.axes[0]
    boxes = {text: box for text, box in text_boxes(figure).items() if text in axes.texts}
    assert len(boxes) == int((matrix > 0).sum())
    cell = np.abs(np.diff(axes.transData.transform([(0, 0), (1, 1)]), axis=0))[0]
    gap = 0.08 * cell  # each side: neighbours at least 16% of a cell apart (some 6 pixels)
    outside = []
    for text, box in boxes.items():
        (x, y) = axes.transData.transform(text.get_position())  # the cell's centre
        if not (x - cell[0] / 2 + gap[0] <= box.x0 and box.x1 <= x + cell[0] / 2 - gap[0]):
            outside.append(text.get_text())
        if not (y - cell[1] / 2 + gap[1] <= box.y0 and box.y1 <= y + cell[1] / 2 - gap[1]):
            outside.append(text.get_text())
    assert outside == []
    pairs = itertools.combinations(boxes.items(), 2)
    assert [(a.get_text(), b.get_text()) for (a, box_a), (b, box_b) in pairs if box_a.overlaps(box_b)] == []
    # As large as the cells allow: 16 points (a digit's), or the widest count takes most of its cell.
    size = max(text.get_fontsize() for text in boxes)
    assert size == 16 or (size < 16 and max(box.width for box in boxes.values()) > 0.6 * cell[0])
    assert cut_off(figure) == []


def test_booleans_and_none_become_words_in_the_hparams_tab():
    assert plain_hparams({"flip": False, "bias": None, "lr": 0.1, "names": ["a"], "_x": 1, "std": 0.3}) == {
        "flip": "false",
        "bias": "None",
        "lr": 0.1,
    }


def test_the_hparams_tab_offers_every_value_of_the_runs_and_shows_the_settings_that_differ_first(tmp_path):
    """Each run wrote an experiment summary with its own value of each setting as the only one, and
    TensorBoard takes one run's summary for the whole folder: with lstm and gru runs, the cell filter offered
    "lstm" alone (or "gru" alone), so the other runs could not be picked; nothing "differed", and the columns
    shown at first were the first five by name, the augment_* zeros. As the page asks for it, the experiment
    now lists every run's values, and the settings that differ come first (the page shows the first five)."""
    folder = tmp_path / "lightning_logs"
    runs = [
        ("lstm", "rows", False, 64, "32-true"),
        ("gru", "permuted", True, 128, "bf16-mixed"),
        ("lstm", "pixels", False, 64, "bf16-mixed"),
    ]
    for cell, sequence, bidirectional, hidden_size, precision in runs:
        model = RNNClassifier(cell=cell, sequence=sequence, bidirectional=bidirectional, hidden_size=hidden_size)
        logger = TensorBoardLogger(str(tmp_path), name="lightning_logs", default_hp_metric=False)
        log_hparams_with_metrics(logger, {**model.hparams, "precision": precision}, {"test/acc": 0.9}, 10)
        logger.experiment.close()
    infos = served_hparams(folder)
    assert sorted(infos["cell"]["domainDiscrete"]) == ["gru", "lstm"]
    assert sorted(infos["sequence"]["domainDiscrete"]) == ["permuted", "pixels", "rows"]
    assert sorted(infos["bidirectional"]["domainDiscrete"]) == ["false", "true"]
    assert sorted(infos["precision"]["domainDiscrete"]) == ["32-true", "bf16-mixed"]
    assert infos["hidden_size"]["domainInterval"] == {"minValue": 64, "maxValue": 128}
    differ = ["bidirectional", "cell", "hidden_size", "precision", "sequence"]
    assert [name for name, info in infos.items() if info.get("differs")] == differ
    assert list(infos)[:5] == differ and "augment_erase" in list(infos)[5:]  # the columns shown at first
    assert [info["name"]["tag"] for info in served_experiment(folder)["metricInfos"]] == ["test/acc"]


def test_the_reliability_diagram_names_each_temperature_with_its_calibration_error():
    bins = torch.zeros(3, 2, 15, dtype=torch.float64)
    bins[:, 0, 13] = torch.tensor([100, 90, 99])  # T = 1: 100 images about 90% sure, 99 right: 9 points off
    bins[:, 1, 14] = torch.tensor([100, 99, 99])  # calibrated: 99% sure, 99 right
    figure = reliability_figure(bins, 0.5)
    axes = figure.axes[0]
    assert legend_texts(figure) == [
        "T = 1: ECE 9.00%",
        "T = 0.50: ECE 0.00%",
        "a bin (area: its share of the images)",
        f"under {FEW} images: too few to say",
    ]
    points = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axes.get_lines()}
    assert points["T = 1: ECE 9.00%"] == ([0.9], [0.99])
    # The test's own (torchmetrics') figures win where given.
    assert legend_texts(reliability_figure(bins, 0.5, errors=(0.087, 0.0019)))[:2] == [
        "T = 1: ECE 8.70%",
        "T = 0.50: ECE 0.19%",
    ]


def test_bins_with_a_handful_of_images_are_hollow_points_off_the_line():
    """A calibrated model leaves a few images in each low bin: 1 of 3 right is no evidence of anything."""
    bins = torch.zeros(3, 2, 15, dtype=torch.float64)
    bins[:, :, 14] = torch.tensor([980.0, 975.0, 975.0]).unsqueeze(1)  # nearly all sure and right
    bins[:, :, 8] = torch.tensor([3.0, 1.7, 1.0]).unsqueeze(1)  # 3 images 57% sure, 1 right
    bins[:, :, 12] = torch.tensor([FEW, 0.8 * FEW, 0.5 * FEW]).unsqueeze(1)  # enough to be drawn: too sure
    figure = reliability_figure(bins, 0.5)
    axes = figure.axes[0]
    line = next(line for line in axes.get_lines() if line.get_label().startswith("T = 1:"))
    assert list(line.get_xdata()) == pytest.approx([0.8, 975 / 980]) and 1 / 3 not in list(line.get_ydata())
    points = [c for c in axes.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    hollow = [c for c in points if not len(c.get_facecolor())]
    assert [list(c.get_offsets()[0]) for c in hollow] == [pytest.approx([1.7 / 3, 1 / 3])] * 2
    assert legend_texts(figure)[-1] == f"under {FEW} images: too few to say"
    assert {text.get_text() for text in axes.texts} == {"too shy", "too sure"}
    # A good model's story is its fullest bin, said in words below the axes (its point sits in the corner).
    assert figure.get_supxlabel() == (
        "The fullest bin:\nT = 1: 98% of the images, 99.5% sure, 99.5% right\n"
        "T = 0.50: 98% of the images, 99.5% sure, 99.5% right"
    )


def test_the_wilson_interval_is_the_textbook_one_and_stays_within_0_and_1():
    low, high = wilson_interval(np.array([5.0, 0.0, 20.0]), np.array([10.0, 20.0, 20.0]))
    assert low[0] == pytest.approx(0.2366, abs=1e-4) and high[0] == pytest.approx(0.7634, abs=1e-4)
    assert low[1] == 0 and 0 < high[1] < 0.2 and 0.8 < low[2] < 1 and high[2] == pytest.approx(1)


def test_the_reading_figure_shades_the_rows_where_the_network_guesses():
    correct = torch.tensor([[10, 0], [10, 1], [10, 9], [10, 10]])  # class 0 guessed for all at first
    figure = reading_figure(correct, torch.tensor([10, 10]), ["a", "b"])
    assert legend_texts(figure)[-1] == "guessing"
    assert figure.axes[0].patches  # the shaded band
    assert "under 100% right overall (twice chance)" in figure.get_supxlabel().replace("\n", " ")
    # Without a band, no word of it.
    figure = reading_figure(torch.tensor([[10, 10], [10, 10]]), torch.tensor([10, 10]), ["a", "b"])
    assert "guessing" not in legend_texts(figure) and not figure.get_supxlabel()


def curve_points(line, step: float = 1.0) -> np.ndarray:
    """Points along a drawn line, in pixels, ``step`` pixels or less apart: where the line runs."""
    xy = line.get_transform().transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
    points = [xy[:1]]
    for start, end in zip(xy[:-1], xy[1:], strict=True):
        count = max(1, int(np.ceil(np.hypot(*(end - start)) / step)))
        points.append(start + np.linspace(0, 1, count + 1)[1:, None] * (end - start))
    return np.concatenate(points)


def inside(points: np.ndarray, box: Bbox, margin: float = 0.0) -> np.ndarray:
    """Which of ``points`` (pixels) lie within ``box`` grown by ``margin`` pixels."""
    return (
        (points[:, 0] >= box.x0 - margin)
        & (points[:, 0] <= box.x1 + margin)
        & (points[:, 1] >= box.y0 - margin)
        & (points[:, 1] <= box.y1 + margin)
    )


def weak_reading() -> tuple[torch.Tensor, torch.Tensor]:
    """A weak Fashion-MNIST model's reading: classes still climbing through 20-60% at the last rows, where the
    note on the guessing band used to be (right of the axes, at 32%), one class guessed for all at first."""
    rows = torch.arange(1, 29).double().unsqueeze(1)
    final = torch.tensor([62.0, 89, 79, 25, 0, 72, 32, 50, 54, 3])
    correct = (final * (1 - torch.exp(-rows / 12))).round().long()  # of 100 images per class
    correct[:2] = 0
    correct[:2, 5] = 100  # every image called a Sandal: 10% right overall
    return correct, torch.full((10,), 100)


@pytest.mark.parametrize("sequence", ["rows", "permuted"])
def test_no_curve_of_the_reading_figure_runs_through_a_word(sequence):
    """The note on the guessing band sat at a fixed place in the axes, where a weak model's curves (Shirt,
    Sneaker, "all") ran through it; it was 10-point grey, unreadable at TensorBoard's card size. Every word is
    now outside the curves' area: the note a caption below, readable, "chance" and "guessing" in the legend."""
    correct, counts = weak_reading()
    figure = reading_figure(correct, counts, FASHION_NAMES, sequence)
    boxes = text_boxes(figure)
    axes = figure.axes[0]
    assert len(axes.get_lines()) == 12  # 10 classes, all and chance
    crossed = {
        (line.get_label(), text.get_text())
        for line in axes.get_lines()
        for text, box in boxes.items()
        if inside(curve_points(line), box).any()
    }
    assert crossed == set()
    legend = axes.get_legend().get_window_extent()
    assert not any(box.overlaps(axes.bbox) for box in [legend, *boxes.values()])  # nothing in the curves' area
    caption = figure.get_supxlabel()
    assert "under 20% right overall (twice chance)" in caption.replace("\n", " ")
    (text,) = [text for text in boxes if text.get_text() == caption]
    # TensorBoard's card shows the figure about 500 pixels wide: the caption stays as large as a tick label.
    assert text.get_fontsize() * 500 / figure.bbox.width >= 12 and text.get_color() != "dimgrey"
    assert cut_off(figure) == []


def calibrated_bins() -> torch.Tensor:
    """Bins of 2,560 test images before (T = 1) and after scaling, as `test --trainer.limit_test_batches 20` gave:
    single wrong images at accuracy 0, single right ones at accuracy 1 at mid confidence, where the legend sat."""
    bins = torch.zeros(3, 2, 15, dtype=torch.float64)
    for column, points in enumerate(
        [
            [(13, 2480, 0.912, 2475), (12, 25, 0.835, 19), (7, 1, 0.5, 1), (10, 1, 0.69, 1), (9, 1, 0.63, 0),
             (11, 1, 0.77, 0), (4, 1, 0.3, 0), (6, 1, 0.42, 0)],
            [(14, 2535, 0.998, 2520), (7, 2, 0.5, 2), (8, 1, 0.54, 1), (10, 1, 0.72, 1), (11, 1, 0.77, 0),
             (13, 1, 0.9, 1), (12, 1, 0.82, 0)],
        ]
    ):  # fmt: skip
        for index, images, confidence, right in points:
            bins[:, column, index] = torch.tensor([images, images * confidence, right], dtype=torch.float64)
    return bins


def drawn_points(figure: Figure) -> list[tuple[np.ndarray, float]]:
    """Every point of the reliability diagram, drawn: (its centre, its radius), in pixels."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    points = []
    for collection in figure.axes[0].collections:
        if isinstance(collection, PathCollection) and len(collection.get_offsets()):
            centres = collection.get_offset_transform().transform(collection.get_offsets())
            # A marker's size is its area in points^2: sqrt of it is the circle's diameter in points.
            radii = np.broadcast_to(np.sqrt(collection.get_sizes()) / 2 * figure.dpi / 72, len(centres))
            points += list(zip(centres, radii, strict=True))
    return points


@pytest.mark.parametrize("temperature", [0.54, 1.0])
def test_the_reliability_legend_and_notes_cover_no_point(temperature):
    """The legend sat in the upper left, over the bins right at mid confidence (a point at (0.5, 1.0)), and the
    note on the fullest bin in the lower right, over the bins wrong (accuracy 0): both are below the axes."""
    figure = reliability_figure(calibrated_bins(), temperature)
    points = drawn_points(figure)
    assert len(points) >= 8
    renderer = figure.canvas.get_renderer()
    legends = [axes.get_legend() for axes in figure.axes if axes.get_legend()] + figure.legends
    covers = {f"legend {k}": legend.get_window_extent(renderer) for k, legend in enumerate(legends)}
    covers |= {text.get_text(): box for text, box in text_boxes(figure).items()}
    del covers["too shy"], covers["too sure"]  # drawn under the points: a point on them is seen
    covered = [(name, tuple(c)) for name, box in covers.items() for c, r in points if inside(c[None], box, r)[0]]
    assert covered == []
    assert not any(box.overlaps(figure.axes[0].bbox) for box in covers.values())
    assert cut_off(figure) == []


@pytest.mark.parametrize("temperature", [0.54, 1.0])
def test_the_reliability_points_at_accuracy_0_and_1_are_whole(temperature):
    """Hollow points at accuracy 0 were cut in half by the bottom of the axes. The axes leave a margin below 0
    and above 1, the largest point's (in the corner (1, 1)) included: each point is whole inside them."""
    figure = reliability_figure(calibrated_bins(), temperature)
    axes = figure.axes[0].bbox
    points = drawn_points(figure)
    assert any(c[1] == pytest.approx(figure.axes[0].transData.transform((0, 0))[1]) for c, _ in points)
    outside = [tuple(c) for c, r in points if not (axes.x0 <= c[0] - r and c[0] + r <= axes.x1)]
    outside += [tuple(c) for c, r in points if not (axes.y0 <= c[1] - r and c[1] + r <= axes.y1)]
    assert outside == []


def test_an_uncalibrated_checkpoint_gets_one_curve_and_how_to_calibrate_it(monkeypatch):
    """A checkpoint fit did not calibrate (last.ckpt, one from before calibration) has T = 1: its diagram said
    "before and after scaling" and drew "T = 1" and "T = 1.00", one curve exactly on the other. Its command to
    paste names the program as typed, as the CLI's do: it said ``python -m mnist_rnn`` under ``mnist-rnn test``."""
    bins = calibrated_bins()
    bins[:, 1] = bins[:, 0]  # at T = 1 both columns are the same
    monkeypatch.setattr("sys.argv", ["/src/mnist_rnn/__main__.py", "test"])
    figure = reliability_figure(bins, 1.0, (0.0783, 0.0783))
    axes = figure.axes[0]
    curves = [line for line in axes.get_lines() if line.get_label().startswith("T =")]
    assert [line.get_label() for line in curves] == ["T = 1: ECE 7.83%"]
    assert legend_texts(figure) == [
        "T = 1: ECE 7.83%",
        "a bin (area: its share of the images)",
        f"under {FEW} images: too few to say",
    ]
    # The bins once: filled (2) and hollow (6), not each twice on top of itself.
    assert sorted(len(c.get_offsets()) for c in axes.collections if isinstance(c, PathCollection)) == [0, 0, 2, 6]
    assert "uncalibrated" in axes.get_title() and "after" not in axes.get_title()
    assert "python -m mnist_rnn calibrate --ckpt_path CKPT" in figure.get_supxlabel()
    assert cut_off(figure) == []
    monkeypatch.setattr("sys.argv", ["/venv/bin/mnist-rnn", "test"])
    assert "\nmnist-rnn calibrate --ckpt_path CKPT" in reliability_figure(bins, 1.0, (0.0783, 0.0783)).get_supxlabel()
    # Calibrated, it says nothing of the kind.
    figure = reliability_figure(calibrated_bins(), 0.54, (0.0874, 0.0056))
    assert "calibrate --ckpt_path" not in figure.get_supxlabel() and "uncalibrated" not in figure.axes[0].get_title()
    assert [line.get_label() for line in figure.axes[0].get_lines() if line.get_label().startswith("T =")] == [
        "T = 1: ECE 8.74%",
        "T = 0.54: ECE 0.56%",
    ]
    # A temperature that rounds to 1.00 is not written "T = 1.00" beside "T = 1".
    figure = reliability_figure(calibrated_bins(), 1.004, (0.0874, 0.0056))
    assert [line.get_label() for line in figure.axes[0].get_lines() if line.get_label().startswith("T =")] == [
        "T = 1: ECE 8.74%",
        "T = 1.004: ECE 0.56%",
    ]


def test_testing_an_uncalibrated_model_draws_its_reliability_as_uncalibrated(fake_data_dir, in_tmp_dir, monkeypatch):
    """What the callback hands the figure: an untrained, uncalibrated network's temperature is 1.0."""
    model = RNNClassifier(hidden_size=8)
    (figure,) = drawn_by_test("reliability_figure", model, fake_data_dir, in_tmp_dir, monkeypatch)
    assert "uncalibrated" in figure.axes[0].get_title()
    assert "calibrate --ckpt_path" in figure.get_supxlabel()
