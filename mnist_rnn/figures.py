"""TensorBoard figures at the end of ``test``: a confusion matrix, the misclassified digits, the test
accuracy after reading each row, a reliability diagram (the calibration before and after temperature
scaling), and the hyperparameters tab with the run's deciding settings and its real metrics.

A look at which digits a model confuses, and at the digits themselves, says more than one accuracy. This
is a callback that the model adds to every trainer (``RNNClassifier.configure_callbacks``), so it works
from the command line and from plain ``Trainer.test``; it does nothing unless the logger is TensorBoard.
The figures are drawn for TensorBoard's image cards, which show them about 500 pixels wide: large type,
few words.
"""

from __future__ import annotations

import math
import os
import textwrap
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from torch import Tensor
from torch.utils.tensorboard.summary import hparams
from torchmetrics.classification import MulticlassConfusionMatrix

from mnist_rnn.calibration import N_BINS, temperature_text
from mnist_rnn.tools import program_name

# Lightning's warning that an epoch shorter than log_every_n_steps logs no training step, given as the data
# is set up: TrainingCharts.on_train_start then lowers the interval to an epoch's steps, so it no longer holds.
warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging")

BINS = N_BINS  # confidence bins of the reliability diagram: those of the calibration error
FEW = 20  # a bin with fewer images has an accuracy too noisy to draw a line through (+-0.2 at 50%)
INK = 0.5  # a row "has ink" where a pixel is at least this bright (of 1): faint noise is not a stroke
DPI = 80
CAPTION = 16  # points: the misclassified images' captions, large enough to read in TensorBoard's card
COUNT_FONTSIZE = 16  # points: the confusion matrix's counts, where they fit their cells (else smaller)
COUNT_FILL = 0.75  # the most of a cell's width (and height) a count may take: the rest keeps counts apart
WIDEST = 8.0  # inches (640 pixels): the widest grid of misclassified images; TensorBoard shrinks a wider one


class TestFigures(Callback):
    """Collect the confusion matrix, up to ``max_misclassified`` wrong test digits, the accuracy after each
    row and the confidence bins; draw them at the end.

    The test step returns ``{"logits": (B, classes), "row_logits": (B, rows, classes)}`` (``RNNClassifier.
    test_step`` does; ``row_logits`` only for one-way networks) or just the logits, so nothing is computed
    twice. Few misclassified digits, in large tiles: TensorBoard shrinks a picture to the width of its card.
    """

    __test__ = False  # a callback, not a test class, whatever pytest makes of its name

    def __init__(self, max_misclassified: int = 12) -> None:
        self.max_misclassified = max_misclassified
        self.confusion: MulticlassConfusionMatrix | None = None
        self.wrong: list[tuple[Tensor, int, int]] = []  # (image (1, H, W), true class, predicted class)
        # Right answers after reading k rows from each image's first row with ink, per class (rows, classes),
        # and the test images per class.
        self.reading_correct: Tensor | None = None
        self.class_counts: Tensor | None = None
        # (3, 2, BINS): images, the sum of their confidences and right answers, at T = 1 and at the network's
        # temperature, per confidence bin. Sums, so that several processes add theirs up.
        self.bins: Tensor | None = None

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        num_classes = pl_module.hparams.num_classes
        self.confusion = MulticlassConfusionMatrix(num_classes).to(pl_module.device)
        self.wrong = []
        self.reading_correct = None
        self.class_counts = torch.zeros(num_classes, dtype=torch.long, device=pl_module.device)
        self.bins = torch.zeros(3, 2, BINS, dtype=torch.float64, device=pl_module.device)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        logits = outputs.get("logits") if isinstance(outputs, dict) else outputs
        if self.confusion is None or not isinstance(logits, Tensor):
            return
        images, labels = batch
        predicted = logits.argmax(dim=-1)
        self.confusion.update(predicted, labels)
        temperature = getattr(getattr(pl_module, "network", None), "temperature", 1.0)
        self._count_confidences(logits.float(), labels, temperature)
        if isinstance(outputs, dict) and isinstance(outputs.get("row_logits"), Tensor):
            shift = pl_module.hparams.get("sequence", "rows") != "permuted"
            self._count_reading(outputs["row_logits"], labels, first_ink_rows(images) if shift else None)
        room = self.max_misclassified - len(self.wrong)
        if room > 0:
            wrong = (predicted != labels).nonzero().flatten()[:room].cpu()
            for image, true, guess in zip(
                images[wrong].cpu(), labels[wrong].tolist(), predicted[wrong].tolist(), strict=False
            ):
                self.wrong.append((image, true, guess))

    def _count_reading(self, row_logits: Tensor, labels: Tensor, first_ink: Tensor | None = None) -> None:
        """Count right answers after k rows, counted from each image's first row with ink (``first_ink``): the
        answers on the empty rows above a digit are guesses, and one class would get them all right."""
        hits = (row_logits.argmax(dim=-1) == labels.unsqueeze(1)).long()  # (B, rows)
        rows = hits.shape[1]
        if first_ink is not None:  # row k of the figure is the image's row first_ink + k (the last one past it)
            index = (first_ink.unsqueeze(1) + torch.arange(rows, device=hits.device)).clamp(max=rows - 1)
            hits = hits.gather(1, index)
        if self.reading_correct is None:
            self.reading_correct = hits.new_zeros(rows, len(self.class_counts))
        self.reading_correct.index_add_(1, labels, hits.T)
        self.class_counts += torch.bincount(labels, minlength=len(self.class_counts))

    def _count_confidences(self, logits: Tensor, labels: Tensor, temperature: Tensor | float) -> None:
        for column, scale in enumerate((1.0, temperature)):
            confidence, predicted = (logits / scale).softmax(dim=-1).max(dim=-1)
            index = (confidence * BINS).ceil().long().clamp(1, BINS) - 1  # bins (0, 1/15], ..., (14/15, 1]
            for row, values in enumerate((torch.ones_like(confidence), confidence, (predicted == labels).float())):
                self.bins[row, column].index_add_(0, index, values.double())

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = tensorboard_of(trainer)
        if self.confusion is None:
            return
        # Every process takes part in the syncs; only one draws.
        matrix = self.confusion.compute()
        bins = trainer.strategy.reduce(self.bins, reduce_op="sum")
        reading = None
        if self.reading_correct is not None:
            reading = [trainer.strategy.reduce(t, reduce_op="sum") for t in (self.reading_correct, self.class_counts)]
        if not trainer.is_global_zero:
            return
        step = logged_step(trainer)
        final = _final_metrics(trainer, pl_module)
        for other in trainer.loggers:
            # TensorBoard gets it from log_hparams_with_metrics (below); the model does not log it, and the other
            # loggers (a CSVLogger's metrics.csv) had it from nothing.
            if other is not logger and final:
                other.log_metrics(final, step)
                other.save()
        if logger is None:
            return
        hp = pl_module.hparams
        names = short_names(hp.class_names, hp.num_classes)
        writer = logger.experiment
        writer.add_figure("test/confusion_matrix", confusion_figure(matrix.cpu(), names), step)
        total_wrong = int(matrix.sum() - matrix.trace())
        writer.add_figure("test/misclassified", misclassified_figure(self.wrong, names, total_wrong), step)
        if reading is not None:
            correct, counts = (t.cpu() for t in reading)
            sequence = hp.get("sequence", "rows")  # as on_test_batch_end reads it
            writer.add_figure("test/reading_accuracy", reading_figure(correct, counts, names, sequence), step)
        temperature = float(getattr(getattr(pl_module, "network", None), "temperature", 1.0))
        logged = trainer.callback_metrics
        errors = None
        if "test/ece" in logged and "test/ece_uncalibrated" in logged:
            errors = (float(logged["test/ece_uncalibrated"]), float(logged["test/ece"]))
        writer.add_figure("test/reliability", reliability_figure(bins.cpu(), temperature, errors), step)
        log_hparams_with_metrics(logger, run_settings(trainer, pl_module), final, step)
        writer.flush()


def logged_step(trainer: Trainer) -> int:
    """The step at which the Trainer logged the test's scalars, for the figures beside them: the ``step`` a
    model logged (``RNNClassifier`` logs its checkpoint's when it tests one by itself), else the global step."""
    step = trainer.logged_metrics.get("step")
    return trainer.global_step if step is None else int(step)


def first_ink_rows(images: Tensor) -> Tensor:
    """The index of each image's first row with a pixel of at least :data:`INK` (0 for a blank image)."""
    pixels = images[:, 0].float() / (255 if images.dtype == torch.uint8 else 1)  # (B, rows, columns)
    return (pixels >= INK).any(dim=-1).int().argmax(dim=1)


# TensorBoard's "Custom Scalars" tab: the curves a newcomer looks for first, each pair on one chart (the
# Time Series and Scalars tabs sort their groups by name and open the first two, epoch and test's lone points,
# with train and val folded away, on separate charts).
CHARTS = {
    "Training": {
        "accuracy: train/acc (per epoch) and val/acc": ["Multiline", [r"^train/acc$", r"^val/acc$"]],
        # train/loss is what training minimises, label smoothing included; train/cross_entropy (logged with
        # label smoothing only) is the same measure as val/loss, which the two lines of a chart invite comparing.
        "loss: train/loss (with label smoothing), train/cross_entropy and val/loss (without)": [
            "Multiline",
            [r"^train/loss$", r"^train/cross_entropy$", r"^val/loss$"],
        ],
        "learning rate": ["Multiline", [r"^train/lr$"]],
    },
}


class TrainingCharts(Callback):
    """Write the layout of TensorBoard's Custom Scalars tab (:data:`CHARTS`) into a fit's log, and log the
    training curves at least once an epoch."""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = tensorboard_of(trainer)
        if logger is not None and trainer.is_global_zero:
            logger.experiment.add_custom_scalars(CHARTS)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """An epoch of fewer steps than ``log_every_n_steps`` (50: a smoke run's ``--trainer.limit_train_batches
        40``, or a large batch) wrote no ``train/*`` point at all: the loss and learning-rate charts stayed empty.
        Such a run logs every epoch's steps instead: once an epoch, at its last step."""
        batches = trainer.num_training_batches  # known now, not before the data is set up; inf if unknown
        if not math.isfinite(batches):
            return
        steps = math.ceil(batches / trainer.accumulate_grad_batches)  # an epoch's last batch always steps
        if 0 < steps < trainer.log_every_n_steps:
            trainer.log_every_n_steps = steps


def tensorboard_of(trainer: Trainer) -> TensorBoardLogger | None:
    """The run's TensorBoard logger, if it has one (``--trainer.logger`` may add others, or none)."""
    return next((logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)), None)


def _final_metrics(trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
    """The one metric of the hyperparameters tab that no curve has: ``test/checkpoint_val_acc``, the val/acc of
    the tested weights (saved in their checkpoint, where known), under a name of its own, so that writing it adds
    no point to the ``val/acc`` curve. The tab takes the others from the run's scalars (``test/acc``,
    ``test/ece``). They had copies under ``hp/``, whose three lone points were the charts TensorBoard opens first
    (after ``epoch``), the training curves folded away below."""
    val_acc = getattr(pl_module, "checkpoint_val_acc", None)
    if val_acc is None and "val/acc" in trainer.callback_metrics:
        val_acc = float(trainer.callback_metrics["val/acc"])
    return {} if val_acc is None else {"test/checkpoint_val_acc": float(val_acc)}


def run_settings(trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
    """The settings that make a run what it is: the model's hyperparameters, and the data module's and the
    trainer's that decide the result (batch size, split, seed, epochs, the share of each epoch trained,
    precision, gradient clipping).

    Outside ``fit``, those of the run that trained the weights, which their checkpoint holds: a ``test`` of a
    batch-50, 5-epoch run put the test command's own batch size and epochs (128, 15) in the HParams tab."""
    trained = getattr(pl_module, "checkpoint_run_settings", None)
    if trained and isinstance(trained.get("limit_train_batches"), (int, float)):
        # A checkpoint written before the column was put in words holds Lightning's 1.0: "1.0000" beside "all".
        trained = {**trained, "limit_train_batches": _batches_shown(trained["limit_train_batches"])}
    if trainer.state.fn != "fit" and trained:
        if trainer.global_step > 0:  # fit's own test of its best checkpoint, in its run's folder
            return dict(trained)
        # A test command's row is marked as such: a copy of the run's settings at epoch 0, it read as another run
        # trained for no epoch.
        return {**trained, "command": trainer.state.fn.value, "checkpoint": _checkpoint_name(trainer.ckpt_path)}
    settings = dict(pl_module.hparams)
    if settings.get("weight_decay", 0) is None:  # the optimiser's own (model.py), shown as the number it is
        settings["weight_decay"] = getattr(pl_module, "weight_decay", None)
    datamodule = getattr(trainer, "datamodule", None)
    data = dict(getattr(datamodule, "hparams", {}) or {})
    for key in ("dataset", "batch_size", "val_size", "split_seed"):
        if key in data:
            settings[key] = data[key]
    settings["seed"] = int(os.environ["PL_GLOBAL_SEED"]) if "PL_GLOBAL_SEED" in os.environ else None
    settings["max_epochs"] = trainer.max_epochs
    # A smoke run with --trainer.limit_train_batches 20 differed from the full run only by its epochs.
    settings["limit_train_batches"] = _batches_shown(trainer.limit_train_batches)
    settings["precision"] = str(trainer.precision)
    settings["gradient_clip_val"] = trainer.gradient_clip_val
    settings["command"] = "fit"
    return settings


def _batches_shown(limit: int | float) -> str:
    """``limit_train_batches`` in words: Lightning's 1.0 (all) and 20 (batches), in one column of numbers, read as
    one batch and twenty."""
    if isinstance(limit, int):
        return f"{limit} batch{'' if limit == 1 else 'es'}"
    return "all" if limit >= 1.0 else f"{limit:.0%}"


def _checkpoint_name(path: str | None) -> str:
    """The tested checkpoint as its run's folder and file (``version_0/checkpoints/best-....ckpt``)."""
    return "/".join(Path(path).parts[-3:]) if path else "None"


def short_names(class_names: list[str] | None, num_classes: int) -> list[str]:
    """Axis labels: MNIST's ``"7 - seven"`` becomes ``"7"``; other names stay; no names: the indices."""
    if not class_names or len(class_names) != num_classes:
        return [str(i) for i in range(num_classes)]
    return [name.split(" - ")[0] for name in class_names]


def confusion_figure(matrix: Tensor, names: list[str]) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted), every count written in its cell.

    The right answers (the diagonal) are grey; the errors are red, their shade the share of the true class
    they take, on a scale up to the largest error: on a colour scale shared with the diagonal (about 1,000
    per class) 15 errors would look like none.
    """
    counts = matrix.long().numpy()
    n = len(names)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    diagonal = np.eye(n, dtype=bool)
    errors = np.ma.masked_where(diagonal | (counts == 0), share)
    side = max(6.4, 0.5 * n + 1.4)  # 512 pixels for 10 classes: about the width of TensorBoard's card
    figure = Figure(figsize=(side, side), layout="constrained", dpi=DPI)
    axes = figure.add_subplot()
    axes.imshow(np.ma.masked_where(~diagonal, share), cmap="Greys", vmin=0, vmax=2.5)
    worst = float(errors.max()) if errors.count() else 1.0
    axes.imshow(errors, cmap="Reds", vmin=0, vmax=worst * 1.15)
    # The same names on both axes: with numbers on the columns ("predicted class (number)") every error in
    # Fashion-MNIST's matrix took a look back at the rows to read what it was mistaken for. Words too long to
    # stand side by side under a cell ("Ankle boot") are slanted, each ending under its column.
    long_names = max(len(name) for name in names) > 2
    axes.set_xticks(range(n), names, fontsize=14)
    if long_names:
        axes.tick_params(axis="x", labelrotation=45)
        for label in axes.get_xticklabels():
            label.set(ha="right", rotation_mode="anchor")
    axes.set_yticks(range(n), names, fontsize=14)
    axes.set_xlabel("predicted class", fontsize=15)
    axes.set_ylabel("true class", fontsize=15)
    axes.set_title(f"Test confusion matrix: {int(counts.sum() - counts.trace()):,} errors in red", fontsize=17)
    axes.tick_params(length=0)
    # The title is centred over the matrix, which long names ("T-shirt/top") push to the right: on one line
    # it would run past the figure's edge.
    wrap_to_fit(figure, axes.title)
    # The counts last, sized to the laid-out cells (long names leave the matrix narrower).
    texts = []
    for (row, column), count in np.ndenumerate(counts):
        if count or row == column:
            dark = row != column and share[row, column] > 0.6 * worst
            weight = "bold" if row != column else "normal"
            text = axes.text(column, row, f"{count}", ha="center", va="center", fontsize=COUNT_FONTSIZE,
                             fontweight=weight, color="white" if dark else "black")  # fmt: skip
            texts.append(text)
    fit_counts(figure, axes, texts)
    return figure


def fit_counts(figure: Figure, axes: Any, texts: list[Text]) -> None:
    """Write the counts of a matrix drawn in ``axes`` (a cell per unit) in the largest type, up to
    :data:`COUNT_FONTSIZE`, in which the widest of them, as drawn, takes at most :data:`COUNT_FILL` of its cell:
    a gap between neighbouring counts ("316 312", not "316312"), whether they have 1 digit or 5 (10,000: a
    class all in one cell)."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    # The cells' size in pixels as the picture has them, laid out without the counts: a count too large for
    # its cell, sticking out of the matrix, would make the layout shrink it.
    for text in texts:
        text.set_visible(False)
    figure.draw_without_rendering()
    cell = np.abs(np.diff(axes.transData.transform([(0, 0), (1, 1)]), axis=0))[0]  # (width, height)
    for text in texts:
        text.set_visible(True)
    boxes = [text.get_window_extent(renderer) for text in texts]  # at COUNT_FONTSIZE; type scales with its size
    widest = max((box.width for box in boxes), default=1.0)
    tallest = max((box.height for box in boxes), default=1.0)
    scale = min(1.0, COUNT_FILL * cell[0] / widest, COUNT_FILL * cell[1] / tallest)
    for text in texts:
        text.set_fontsize(COUNT_FONTSIZE * scale)


def misclassified_figure(wrong: list[tuple[Tensor, int, int]], names: list[str], total: int | None = None) -> Figure:
    """A grid of wrongly classified images, each captioned with its true and predicted class in a large font.

    A tile is as wide as its widest caption: Fashion-MNIST's "predicted Ankle boot" needs more than a digit's
    "predicted 9", so long class names get fewer, wider columns rather than captions that run into each other.
    """
    figure = Figure(layout="constrained", dpi=DPI)
    renderer = FigureCanvasAgg(figure).get_renderer()  # TensorBoard draws with Agg: measure the text with it
    of_total = f" of {total:,}" if total is not None and total > len(wrong) else ""
    title = f"Misclassified test images ({len(wrong)}{of_total})" if wrong else "no misclassified test images"
    captions = [f"true {names[true]}\npredicted {names[guess]}" for _, true, guess in wrong]
    widest = max((_width(line, CAPTION, renderer) for caption in captions for line in caption.split("\n")), default=0)
    tile = max(2.0, widest + 0.3)  # inches; 0.3: a gap between neighbouring captions
    columns = max(1, min(4, len(wrong), int(WIDEST // tile)))
    rows = max(1, math.ceil(len(wrong) / columns))
    # Wide enough for the title too, over one or two images (or none); in whole pixels, as the picture is.
    width = max(columns * tile, _width(title, 18, renderer) + 0.3)
    figure.set_size_inches(math.ceil(width * DPI) / DPI, 2.2 * rows + 0.5)
    if not wrong:
        figure.text(0.5, 0.5, title, ha="center", va="center", fontsize=16)
        return figure
    figure.suptitle(title, fontsize=18)
    for index, ((image, _, _), caption) in enumerate(zip(wrong, captions, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image[0].float().numpy(), cmap="gray", vmin=0, vmax=255 if image.dtype == torch.uint8 else 1)
        axes.set_title(caption, fontsize=CAPTION)
        axes.axis("off")
    return figure


def _width(text: str, fontsize: float, renderer: Any) -> float:
    """The width in inches of one line of ``text`` in the default font at ``fontsize`` points."""
    return renderer.get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)[0] / DPI


def wrap_to_fit(figure: Figure, text: Text, over: Any = None) -> None:
    """Break ``text`` into as few lines as keep it inside the laid-out ``figure`` (none if it fits), each about
    as long as the others ("Test confusion matrix:" over "4,086 errors in red", not a lone last word); with
    ``over`` (an axes), also within that axes' width: a title over its axes, clear of its tick labels."""
    words = text.get_text()
    renderer = FigureCanvasAgg(figure).get_renderer()
    for lines in range(1, len(words.split()) + 1):
        # The narrowest wrap in at most this many lines: the most even one.
        width = next(w for w in range(1, len(words) + 1) if len(textwrap.wrap(words, w)) <= lines)
        text.set_text("\n".join(textwrap.wrap(words, width)))
        figure.draw_without_rendering()  # the layout moves the text, and makes room for one more line
        box = text.get_window_extent(renderer)
        left, right = (0, figure.bbox.width) if over is None else over.get_window_extent(renderer).intervalx
        inside = box.y0 >= 0 and box.y1 <= figure.bbox.height
        if inside and max(0, left) <= box.x0 and box.x1 <= min(right, figure.bbox.width):
            return


def reading_figure(correct: Tensor, counts: Tensor, names: list[str], sequence: str = "rows") -> Figure:
    """Test accuracy after reading k rows, k = 1..rows, counted from each image's first row with ink (for
    ``permuted``, k/rows of the sequence): of all images (thick) and of each class, with chance marked.

    Every word is outside the curves' area (the legend on the right, the note on the guessing band as a
    caption below), so that no curve runs through it, however weak the model and wherever its curves go.

    Args:
        correct: (rows, classes) right answers after each row, per true class.
        counts: (classes,) test images per class.
        sequence: The model's sequence mode (its ``hparams.sequence``), for the title and the label of the
            horizontal axis.
    """
    rows = correct.shape[0]
    read = range(1, rows + 1)
    figure = Figure(figsize=(7, 5.4), layout="constrained", dpi=DPI)
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    for index, name in enumerate(names):
        if counts[index] > 0:
            accuracy = 100 * correct[:, index].double() / counts[index]
            axes.plot(read, accuracy.numpy(), color=colours(index % colours.N), linewidth=1.5, label=name)
    overall = 100 * correct.sum(dim=1).double() / max(1, int(counts.sum()))
    axes.plot(read, overall.numpy(), color="black", linewidth=4, label="all")
    chance = 100 / len(names)
    handles = axes.get_lines()  # the classes and "all", then chance and the band
    handles.append(axes.axhline(chance, color="grey", linestyle="--", linewidth=1.5, zorder=1, label="chance"))
    # Until the network is right twice as often as chance it is guessing: a class it guesses for every image
    # scores 100% there. Shade those rows, so that such a start is not read as knowledge, and say so below.
    above = (overall >= 2 * chance).nonzero()
    guessing = int(above[0]) + 1 if len(above) else rows
    caption = None
    if guessing > 1:
        handles.append(axes.axvspan(1, guessing, color="grey", alpha=0.15, linewidth=0, label="guessing"))
        caption = figure.supxlabel(
            f"Shaded (guessing): under {2 * chance:.0f}% right overall (twice chance), so a class it guesses "
            "for every image scores high there",
            fontsize=CAPTION - 2,
            color="#333333",
        )
    # What a step of the figure is, said as the model reads: a row, a row's pixels, or 1/rows of the pixels.
    title = {
        "pixels": "Test accuracy after the pixels of k rows",
        "permuted": f"Test accuracy after k/{rows} of the permuted pixels",
    }.get(sequence, "Test accuracy after reading k rows")
    axes.set_title(title, fontsize=18, pad=8)  # 2 points over the default: a title of two lines, clear of the axes
    axes.set_xlabel(
        {
            "rows": "rows read, from the first row with ink",
            "pixels": "rows read (pixel by pixel), from the first row with ink",
            "permuted": f"k/{rows} of the permuted pixels read",
        }.get(sequence, "k"),
        fontsize=15,
    )
    axes.set_ylabel("test accuracy (%)", fontsize=15)
    axes.set_xlim(1, rows)
    axes.set_ylim(0, 100)
    axes.tick_params(labelsize=14)
    axes.grid(alpha=0.3)
    axes.legend(
        handles=handles, title="class", fontsize=12, title_fontsize=12, loc="center left", bbox_to_anchor=(1.01, 0.5)
    )
    # Centred over the axes, and no wider: wider, "Test accuracy after k/28 of the permuted pixels" ran over the
    # label of 100% at its left.
    wrap_to_fit(figure, axes.title, over=axes)
    if caption is not None:
        wrap_to_fit(figure, caption)  # the figure's width, in as few even lines as fit
    return figure


def reliability_figure(bins: Tensor, temperature: float, errors: tuple[float, float] | None = None) -> Figure:
    """A reliability diagram before (T = 1) and after temperature scaling: per confidence bin, how often the
    answer was right against how sure it was (the diagonal if calibrated). Above the diagonal: too shy;
    below: too sure. A point's area is its bin's share of the images.

    A good model puts nearly every test image in the top bin or two, so the lower bins hold a handful of
    images each, whose accuracy is noise (3 of 4 right is 75%). Those bins (under :data:`FEW` images) are
    drawn as hollow points off the line, and every other point has its 95% interval: a point off the
    diagonal says "miscalibrated" only where its bar does too.

    A checkpoint that was never calibrated has T = 1 (a temperature fitted to exactly 1.0 cannot be told from
    it): one curve, and a line saying how to calibrate it. The legend and the note on the fullest bin are
    below the axes, where they cover no point; the axes leave room around 0 and 1 for the points there.

    Args:
        bins: (3, 2, BINS): images, sum of confidences and right answers per bin, at T = 1 and at ``temperature``.
        errors: The calibration errors before and after as the test logged them (torchmetrics'), for the
            legend; else computed from ``bins`` (which may differ in the last digit: a confidence on a bin's
            edge can fall on either side).
    """
    calibrated = float(temperature) != 1.0
    figure = Figure(figsize=(6.4, 7.6), layout="constrained", dpi=DPI)
    grid = figure.add_gridspec(2, 1, height_ratios=(1, 0.001))
    axes = figure.add_subplot(grid[0])
    axes.plot([0, 1], [0, 1], "--", color="grey", linewidth=1.5)
    # Under the points: a point on a word is still seen.
    axes.text(0.04, 0.62, "too shy", color="grey", fontsize=14, rotation=45, ha="left", va="bottom", zorder=0.5)
    axes.text(0.50, 0.40, "too sure", color="grey", fontsize=14, rotation=45, ha="left", va="top", zorder=0.5)
    fullest = []  # per column: the bin that holds the most images, in words (a good model's whole story)
    columns = (("T = 1", "#f59e0b"), (f"T = {temperature_text(temperature, 2)}", "#3b2fc9"))[: 2 if calibrated else 1]
    for column, (name, colour) in enumerate(columns):
        images, confidence, right = (bins[row, column].numpy() for row in range(3))
        total = max(1.0, float(images.sum()))
        ece = errors[column] if errors is not None else float(np.abs(right - confidence).sum() / total)
        many, few = images >= FEW, (images > 0) & (images < FEW)
        accuracy = right / np.maximum(images, 1)
        mean_confidence = confidence / np.maximum(images, 1)
        low, high = wilson_interval(right[many], images[many])
        label = f"{name}: ECE {ece:.2%}"
        # With a marker, so that a column whose images all fall in one bin still shows in the legend as a line.
        axes.plot(mean_confidence[many], accuracy[many], "-o", markersize=4, color=colour, linewidth=2, label=label)
        axes.errorbar(
            mean_confidence[many],
            accuracy[many],
            yerr=(accuracy[many] - low, high - accuracy[many]),
            fmt="none",
            ecolor=colour,
            elinewidth=1.5,
            capsize=3,
        )
        # Not clipped: a good model's largest point sits in the corner (1, 1), a wrong bin's at accuracy 0.
        sizes = 20 + 400 * images[many] / total
        axes.scatter(mean_confidence[many], accuracy[many], s=sizes, color=colour, alpha=0.8, zorder=3, clip_on=False)
        axes.scatter(
            mean_confidence[few], accuracy[few], s=20, facecolors="none", edgecolors=colour, alpha=0.6, clip_on=False
        )
        top = int(images.argmax())
        fullest.append(
            f"{name + ': ' if calibrated else ''}{images[top] / total:.0%} of the images, "
            f"{mean_confidence[top]:.1%} sure, {accuracy[top]:.1%} right"
        )
    axes.scatter([], [], s=120, color="grey", alpha=0.8, label="a bin (area: its share of the images)")
    axes.scatter([], [], s=20, facecolors="none", edgecolors="grey", label=f"under {FEW} images: too few to say")
    note = ("The fullest bin:\n" if calibrated else "The fullest bin: ") + "\n".join(fullest)
    if not calibrated:
        # as the user typed the program (mnist-rnn, the installed script), as the other commands to paste
        note += f"\nTo calibrate this checkpoint (fit T):\n{program_name()} calibrate --ckpt_path CKPT"
    # Below the axes, under the label of x: in an empty axes of no height, whose legend the layout makes room for.
    key = figure.add_subplot(grid[1])
    key.axis("off")
    key.legend(*axes.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 1), fontsize=13)
    figure.supxlabel(note, fontsize=13, color="#333333", multialignment="left")
    title = "Test reliability (before and after scaling)" if calibrated else "Test reliability: uncalibrated (T = 1)"
    axes.set_title(title, fontsize=16)
    axes.set_xlabel("confidence (top probability)", fontsize=15)
    axes.set_ylabel("accuracy", fontsize=15)
    # A margin below 0 and above 1: the points there are whole, and the largest (up to 420 points^2) too.
    axes.set_xlim(0, 1.04)
    axes.set_ylim(-0.04, 1.04)
    axes.tick_params(labelsize=14)
    axes.grid(alpha=0.3)
    return figure


def wilson_interval(right: np.ndarray, images: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score intervals of the accuracies ``right / images`` (scipy's): unlike the normal
    approximation's, within [0, 1], and exactly 0 or 1 at an accuracy of 0% or 100%."""
    from scipy.stats import binomtest  # scipy.stats takes a while to import: only when a figure is drawn

    intervals = [
        binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
        for k, n in zip(np.rint(right), np.rint(images), strict=True)
    ]
    return np.array([i.low for i in intervals]), np.array([i.high for i in intervals])


def log_hparams_with_metrics(
    logger: TensorBoardLogger, params: dict[str, Any], metrics: dict[str, float], step: int
) -> None:
    """Fill TensorBoard's hyperparameters tab: the run's settings and its final metrics.

    ``TensorBoardLogger.log_hyperparams(params, metrics)`` would do it but logs the metrics at step 0, which
    draws a false first point on the metric's curve. Here ``metrics`` (scalars that no curve has, see
    :func:`_final_metrics`) are logged once at ``step``; the tab lists every scalar of the runs as a metric.
    Booleans go as ``"true"``/``"false"``, which torch would write as 0 and 1.

    Only the run's values (the session's start and end) are written, no experiment summary. TensorBoard takes
    one run's experiment summary for the whole folder, and a run knows only its own values: its filters
    would offer one value of each setting (``lstm``, not ``gru``), and its columns would come in the order
    of their names (the ``augment_*`` ones shown). Without one, TensorBoard builds the experiment from every
    run's values: each string setting's filter lists every value the runs have, each number's the range,
    and the settings that differ between the runs come first: the columns shown at first.
    """
    _experiment, start, end = hparams(plain_hparams(params), metrics)
    writer = logger.experiment
    for summary in (start, end):
        writer._get_file_writer().add_summary(summary)  # what Lightning itself does
    for name, value in metrics.items():
        writer.add_scalar(name, value, step)


# The pixels' normalisation, which the data set decides (the CLI links it): as columns, they took two of the five
# the table shows at first (those whose values differ between the runs) from the test accuracy, beside dataset.
FOLLOW_FROM_THE_DATA_SET = ("mean", "std")


def plain_hparams(params: dict[str, Any]) -> dict[str, int | float | str]:
    """The settings worth a column in TensorBoard's table, as it shows them best: numbers, strings, booleans
    as ``"true"``/``"false"`` and ``None`` as ``"None"``; without Lightning's private entries
    (``_instantiator``, the class that LightningCLI built), :data:`FOLLOW_FROM_THE_DATA_SET` and lists such as
    ``class_names``."""
    plain: dict[str, int | float | str] = {}
    for key, value in params.items():
        if key.startswith("_") or key in FOLLOW_FROM_THE_DATA_SET:
            continue
        if isinstance(value, bool):
            plain[key] = "true" if value else "false"
        elif value is None:
            plain[key] = "None"
        elif isinstance(value, (int, float, str)):
            plain[key] = value
    return plain
