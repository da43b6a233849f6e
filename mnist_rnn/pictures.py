"""TensorBoard pictures at the end of ``test``: a confusion matrix, the misclassified digits, and the
hyperparameters tab with the real ``val/acc`` and ``test/acc``.

A look at which digits a model confuses, and at the digits themselves, says more than one accuracy. This
is a callback that the model adds to every trainer (``RNNClassifier.configure_callbacks``), so it works
from the command line and from plain ``Trainer.test``; it does nothing unless the logger is TensorBoard.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.tensorboard.summary import hparams
from torchmetrics.classification import MulticlassConfusionMatrix


class TestPictures(Callback):
    """Collect the confusion matrix and up to ``max_misclassified`` wrong test digits; draw them at the end.

    The test step must return the logits of its batch (``RNNClassifier.test_step`` does), so nothing is
    computed twice.
    """

    def __init__(self, max_misclassified: int = 64) -> None:
        self.max_misclassified = max_misclassified
        self.confusion: MulticlassConfusionMatrix | None = None
        self.wrong: list[tuple[Tensor, int, int]] = []  # (image (1, H, W), true class, predicted class)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.confusion = MulticlassConfusionMatrix(pl_module.hparams.num_classes).to(pl_module.device)
        self.wrong = []

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.confusion is None or not isinstance(outputs, Tensor):
            return
        images, labels = batch
        predicted = outputs.argmax(dim=-1)
        self.confusion.update(predicted, labels)
        room = self.max_misclassified - len(self.wrong)
        if room > 0:
            wrong = (predicted != labels).nonzero().flatten()[:room].cpu()
            for image, true, guess in zip(
                images[wrong].cpu(), labels[wrong].tolist(), predicted[wrong].tolist(), strict=False
            ):
                self.wrong.append((image, true, guess))

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = _tensorboard(trainer)
        if self.confusion is None:
            return
        matrix = self.confusion.compute()  # every process takes part in the sync; only one draws
        if logger is None or not trainer.is_global_zero:
            return
        names = short_names(pl_module.hparams.class_names, pl_module.hparams.num_classes)
        step = trainer.global_step
        writer = logger.experiment
        writer.add_figure("test/confusion_matrix", confusion_figure(matrix.cpu(), names), step)
        writer.add_figure("test/misclassified", misclassified_figure(self.wrong, names), step)
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


def misclassified_figure(wrong: list[tuple[Tensor, int, int]], names: list[str]) -> Figure:
    """A grid of wrongly classified digits, each titled with its true and predicted class."""
    columns = max(1, min(8, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / columns))
    figure = Figure(figsize=(1.5 * columns, 1.7 * rows), layout="constrained")
    if not wrong:
        figure.text(0.5, 0.5, "no misclassified test images", ha="center", va="center")
        return figure
    for index, (image, true, guess) in enumerate(wrong):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image[0].float().numpy(), cmap="gray", vmin=0, vmax=255 if image.dtype == torch.uint8 else 1)
        axes.set_title(f"true {names[true]}\npred {names[guess]}", fontsize=8)
        axes.axis("off")
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
    plain = {key: value if isinstance(value, (int, float, str, bool)) else str(value) for key, value in params.items()}
    writer = logger.experiment
    for summary in hparams(plain, metrics):
        writer._get_file_writer().add_summary(summary)  # what Lightning itself does
    for name, value in metrics.items():
        writer.add_scalar(name, value, step)
