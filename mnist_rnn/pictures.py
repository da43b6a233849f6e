"""TensorBoard pictures at the end of ``test``: a confusion matrix, the misclassified digits, the test
accuracy after reading each row, and the hyperparameters tab with the real ``val/acc`` and ``test/acc``.

A look at which digits a model confuses, and at the digits themselves, says more than one accuracy. This
is a callback that the model adds to every trainer (``RNNClassifier.configure_callbacks``), so it works
from the command line and from plain ``Trainer.test``; it does nothing unless the logger is TensorBoard.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.tensorboard.summary import hparams
from torchmetrics.classification import MulticlassConfusionMatrix


class TestPictures(Callback):
    """Collect the confusion matrix, up to ``max_misclassified`` wrong test digits and the accuracy after each
    row; draw them at the end.

    The test step returns ``{"logits": (B, classes), "row_logits": (B, rows, classes)}`` (``RNNClassifier.
    test_step`` does; ``row_logits`` only for one-way networks) or just the logits, so nothing is computed
    twice. Few misclassified digits, in large tiles: TensorBoard shrinks a picture to the width of its card.
    """

    def __init__(self, max_misclassified: int = 12) -> None:
        self.max_misclassified = max_misclassified
        self.confusion: MulticlassConfusionMatrix | None = None
        self.wrong: list[tuple[Tensor, int, int]] = []  # (image (1, H, W), true class, predicted class)
        # Right answers after reading k rows, per class (rows, classes), and the test images per class.
        self.reading_correct: Tensor | None = None
        self.class_counts: Tensor | None = None

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        num_classes = pl_module.hparams.num_classes
        self.confusion = MulticlassConfusionMatrix(num_classes).to(pl_module.device)
        self.wrong = []
        self.reading_correct = None
        self.class_counts = torch.zeros(num_classes, dtype=torch.long, device=pl_module.device)

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
        if isinstance(outputs, dict) and isinstance(outputs.get("row_logits"), Tensor):
            self._count_reading(outputs["row_logits"], labels)
        room = self.max_misclassified - len(self.wrong)
        if room > 0:
            wrong = (predicted != labels).nonzero().flatten()[:room].cpu()
            for image, true, guess in zip(
                images[wrong].cpu(), labels[wrong].tolist(), predicted[wrong].tolist(), strict=False
            ):
                self.wrong.append((image, true, guess))

    def _count_reading(self, row_logits: Tensor, labels: Tensor) -> None:
        hits = (row_logits.argmax(dim=-1) == labels.unsqueeze(1)).long()  # (B, rows)
        if self.reading_correct is None:
            self.reading_correct = hits.new_zeros(hits.shape[1], len(self.class_counts))
        self.reading_correct.index_add_(1, labels, hits.T)
        self.class_counts += torch.bincount(labels, minlength=len(self.class_counts))

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = _tensorboard(trainer)
        if self.confusion is None:
            return
        # Every process takes part in the syncs; only one draws.
        matrix = self.confusion.compute()
        reading = None
        if self.reading_correct is not None:
            reading = [trainer.strategy.reduce(t, reduce_op="sum") for t in (self.reading_correct, self.class_counts)]
        if logger is None or not trainer.is_global_zero:
            return
        hp = pl_module.hparams
        names = short_names(hp.class_names, hp.num_classes)
        step = trainer.global_step
        writer = logger.experiment
        writer.add_figure("test/confusion_matrix", confusion_figure(matrix.cpu(), names), step)
        total_wrong = int(matrix.sum() - matrix.trace())
        writer.add_figure("test/misclassified", misclassified_figure(self.wrong, names, total_wrong), step)
        if reading is not None:
            correct, counts = (t.cpu() for t in reading)
            writer.add_figure("test/reading_accuracy", reading_figure(correct, counts, names, hp.sequence), step)
        log_hparams_with_metrics(logger, dict(pl_module.hparams), _final_metrics(trainer, pl_module), step)
        writer.flush()


def _tensorboard(trainer: Trainer) -> TensorBoardLogger | None:
    return next((logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)), None)


def _final_metrics(trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
    """test/acc of this test, and val/acc of the same weights (saved in their checkpoint) where known."""
    metrics = {}
    val_acc = getattr(pl_module, "checkpoint_val_acc", None)
    if val_acc is None and "val/acc" in trainer.callback_metrics:
        val_acc = float(trainer.callback_metrics["val/acc"])
    if val_acc is not None:
        metrics["val/acc"] = float(val_acc)
    if "test/acc" in trainer.callback_metrics:
        metrics["test/acc"] = float(trainer.callback_metrics["test/acc"])
    return metrics


def short_names(class_names: list[str] | None, num_classes: int) -> list[str]:
    """Axis labels: MNIST's ``"7 - seven"`` becomes ``"7"``; other names stay; no names: the indices."""
    if not class_names or len(class_names) != num_classes:
        return [str(i) for i in range(num_classes)]
    return [name.split(" - ")[0] for name in class_names]


def confusion_figure(matrix: Tensor, names: list[str]) -> Figure:
    """The confusion matrix (rows: true class, columns: predicted) with counts, as torchmetrics draws it."""
    figure, axes = MulticlassConfusionMatrix(len(names)).plot(val=matrix, labels=names)  # torchmetrics' own drawing
    figure.set_size_inches(max(6, 0.6 * len(names)), max(6, 0.6 * len(names)))
    axes.set_title("Test confusion matrix")
    return figure


def misclassified_figure(wrong: list[tuple[Tensor, int, int]], names: list[str], total: int | None = None) -> Figure:
    """A grid of wrongly classified digits, each titled with its true and predicted class in a large font."""
    columns = max(1, min(4, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / columns))
    figure = Figure(figsize=(2.4 * columns, 2.6 * rows + 0.6), layout="constrained", dpi=80)
    if not wrong:
        figure.text(0.5, 0.5, "no misclassified test images", ha="center", va="center", fontsize=16)
        return figure
    of_total = f" of {total:,}" if total is not None and total > len(wrong) else ""
    figure.suptitle(f"Misclassified test images ({len(wrong)}{of_total})", fontsize=20)
    for index, (image, true, guess) in enumerate(wrong):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image[0].float().numpy(), cmap="gray", vmin=0, vmax=255 if image.dtype == torch.uint8 else 1)
        axes.set_title(f"true {names[true]}\npredicted {names[guess]}", fontsize=18)
        axes.axis("off")
    return figure


def reading_figure(correct: Tensor, counts: Tensor, names: list[str], sequence: str = "rows") -> Figure:
    """Test accuracy after reading the first k rows, k = 1..rows: of all images (thick) and of each class.

    Args:
        correct: (rows, classes) right answers after each row, per true class.
        counts: (classes,) test images per class.
        sequence: The model's sequence mode, for the label of the horizontal axis.
    """
    rows = correct.shape[0]
    read = range(1, rows + 1)
    figure = Figure(figsize=(10, 6), layout="constrained", dpi=80)
    axes = figure.add_subplot()
    colours = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    for index, name in enumerate(names):
        if counts[index] > 0:
            accuracy = 100 * correct[:, index].double() / counts[index]
            axes.plot(read, accuracy.numpy(), color=colours(index % colours.N), linewidth=1.5, label=name)
    overall = 100 * correct.sum(dim=1).double() / max(1, int(counts.sum()))
    axes.plot(read, overall.numpy(), color="black", linewidth=4, label="all")
    axes.set_title(f"Test accuracy after reading k rows (of {rows})", fontsize=18)
    axes.set_xlabel(
        {
            "rows": "rows read, k",
            "pixels": f"rows read, k (pixel steps {rows}k)",
            "permuted": f"k/{rows} of the permuted pixels read",
        }.get(sequence, "k"),
        fontsize=15,
    )
    axes.set_ylabel("test accuracy (%)", fontsize=15)
    axes.set_xlim(1, rows)
    axes.set_ylim(0, 100)
    axes.tick_params(labelsize=13)
    axes.grid(alpha=0.3)
    axes.legend(title="true class", fontsize=12, title_fontsize=13, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def log_hparams_with_metrics(
    logger: TensorBoardLogger, params: dict[str, Any], metrics: dict[str, float], step: int
) -> None:
    """Fill TensorBoard's hyperparameters tab: the hyperparameters and the final metrics of this run.

    ``TensorBoardLogger.log_hyperparams(params, metrics)`` would do it but logs the metrics at step 0, which
    draws a false first point on the ``val/acc`` curve of a training run; here they go at ``step``.
    """
    if not metrics:
        return
    plain = plain_hparams(params)
    writer = logger.experiment
    for summary in hparams(plain, metrics):
        writer._get_file_writer().add_summary(summary)  # what Lightning itself does
    for name, value in metrics.items():
        writer.add_scalar(name, value, step)


def plain_hparams(params: dict[str, Any]) -> dict[str, int | float | str | bool]:
    """The hyperparameters worth a column in TensorBoard's table: numbers, strings, booleans and ``None`` (as
    ``"None"``), without Lightning's private entries (``_instantiator``, the class that LightningCLI built)
    and without lists such as ``class_names``."""
    return {
        key: "None" if value is None else value
        for key, value in params.items()
        if not key.startswith("_") and (value is None or isinstance(value, (int, float, str, bool)))
    }
