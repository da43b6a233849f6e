"""Command line: ``python -m mnist_rnn fit|validate|test|predict`` (or ``mnist-rnn``), built on LightningCLI.

Adds to LightningCLI: this project's defaults (TensorBoard under ``lightning_logs/``, a checkpoint of the
best ``val/acc`` plus ``last.ckpt``, a seed), the values the model takes from the data, the test of the best
checkpoint after ``fit``, the CSV of ``predict``, and the one place where known errors become a clear
one-line message. Settings and ``--ckpt_path`` are checked right after parsing, so a bad one fails before
any folder or file is written; ``--ckpt_path last`` means the newest ``last.ckpt`` of the earlier runs (see
:mod:`mnist_rnn.checkpoint`).
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentError
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from mnist_rnn.checkpoint import SafeModelCheckpoint, check_checkpoint, find_last_checkpoint
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.errors import UserError
from mnist_rnn.finite_loss import StopOnNonFiniteLoss
from mnist_rnn.model import RNNClassifier
from mnist_rnn.predictions import PredictionWriter

# Values the model takes from the data module, so nobody types them twice.
DATA_TO_MODEL = ("num_classes", "image_size", "mean", "std", "dataset", "class_names")


class MNISTRNNCLI(LightningCLI):
    """LightningCLI with this project's defaults, early checks, safe checkpoints and the test-after-fit step."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The bar refreshes every 20 steps, not every step: each refresh reads the logged loss, which waits
        # for the GPU. --trainer.enable_progress_bar false still works (it sets refresh_rate to 0).
        parser.add_lightning_class_args(TQDMProgressBar, "progress_bar")
        parser.set_defaults({"progress_bar.refresh_rate": 20})
        parser.add_lightning_class_args(SafeModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(StopOnNonFiniteLoss, "finite_loss")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                # No "/" from the metric name in the file name: it would make a sub-folder.
                "checkpoint.filename": "best-epoch{epoch:02d}-val_acc{val/acc:.4f}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        for name in DATA_TO_MODEL:
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse, then refuse settings and checkpoints that cannot work, before anything is built or written."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        max_epochs = config.trainer.max_epochs
        if max_epochs is not None and (max_epochs == 0 or max_epochs < -1):
            raise UserError(f"trainer.max_epochs must be positive (or -1 for no limit), got {max_epochs}")
        if config.get("ckpt_path") == "last":
            config.ckpt_path = str(find_last_checkpoint(self._checkpoint_folders(config)))
        if config.get("ckpt_path") not in (None, "best", "last", "hpc"):
            check_checkpoint(config.ckpt_path)

    @staticmethod
    def _checkpoint_folders(config: Any) -> list[Path]:
        """Where earlier runs wrote checkpoints: ``checkpoint.dirpath``, or ``<logs>/version_*/checkpoints``."""
        if config.checkpoint.dirpath:
            return [Path(config.checkpoint.dirpath)]
        logger = config.trainer.logger
        init_args = getattr(logger, "init_args", None) or {}
        save_dir = init_args.get("save_dir") or config.trainer.default_root_dir or "."
        name = init_args.get("name") or "lightning_logs"
        return [Path(save_dir) / name / "version_*" / "checkpoints"]

    def before_instantiate_classes(self) -> None:
        config = self.config.get(str(self.subcommand), self.config)  # flat when run=False
        if config.trainer.enable_progress_bar is False:
            # Lightning refuses a progress-bar callback beside enable_progress_bar=False; a bar that never
            # refreshes is the same thing.
            config.trainer.enable_progress_bar = True
            config.progress_bar.refresh_rate = 0
        if config.get("ckpt_path"):
            # LightningCLI put the checkpoint's hyperparameters in model.*, but the links above would
            # overwrite its data set, statistics and class names with those of --data.dataset.
            trained_on = config.model.get("dataset")
            if trained_on and trained_on != config.data.dataset:
                if self.subcommand != "predict":
                    raise UserError(
                        f"the checkpoint was trained on {trained_on}, not {config.data.dataset}: "
                        f"pass --data.dataset {trained_on}"
                    )
                config.data.dataset = trained_on  # predict reads no data set: the checkpoint decides
        if self.subcommand == "predict":
            # stdout is for the CSV; the progress bar would print there too.
            config.progress_bar.refresh_rate = 0
            # One process: the table is written by one process from its own rows, and a folder of
            # images is too little work to share.
            config.trainer.devices = 1

    def before_predict(self) -> None:
        """Predicting with untrained weights would print confident nonsense: insist on a checkpoint."""
        if not self.config.predict.ckpt_path:
            raise UserError("predict needs a trained model: pass --ckpt_path CHECKPOINT")
        self.prediction_writer = PredictionWriter()
        self.trainer.callbacks.append(self.prediction_writer)

    def after_predict(self) -> None:
        """Some files could not be read: their rows say why; the exit status says so too."""
        if not self.datamodule.predict_files:  # no batches, so Lightning ran no hooks: write the table here
            self.prediction_writer.write_table(self.trainer)
        failures = self.datamodule.predict_failures
        if failures:
            total = len(failures) + len(self.datamodule.predict_files)
            raise UserError(f"{len(failures)} of {total} files could not be read (rows with digit 'error')")

    def after_fit(self) -> None:
        """Test the best checkpoint, as the lab did, so one command gives the final number."""
        trainer = self.trainer
        if trainer.fast_dev_run or trainer.interrupted:
            return
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        results = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
        self.test_results = results[0]
        accuracy = results[0]["test/acc"]
        if trainer.is_global_zero:
            print(
                f"Test accuracy {accuracy:.2%} (test error {1 - accuracy:.2%}) on "
                f"{len(self.datamodule.test_set):,} test images, from {best or 'the final weights'}"
            )


def main(args: ArgsType = None) -> None:
    """Run the command line; ``args`` (a list like ``["fit", "--config", ...]``) lets tests run it in-process.

    Errors the user can fix end with one line on stderr and exit status 2; set ``MNIST_RNN_DEBUG=1`` to see
    the full traceback instead.
    """
    try:
        build_cli(args)
    except (UserError, ValueError, ArgumentError) as error:
        if os.environ.get("MNIST_RNN_DEBUG"):
            raise
        print(f"mnist-rnn: error: {_short(error)}", file=sys.stderr)
        sys.exit(2)


def build_cli(args: ArgsType = None, run: bool = True) -> MNISTRNNCLI:
    """The CLI with this project's settings; ``run=False`` only builds the model, data and trainer."""
    return MNISTRNNCLI(
        RNNClassifier,
        MNISTDataModule,
        seed_everything_default=42,
        save_config_kwargs={"overwrite": True},
        trainer_defaults=TRAINER_DEFAULTS,
        auto_configure_optimizers=False,  # the model owns its optimiser and schedule
        args=args,
        run=run,
        # Bad options raise ArgumentError (shown in one line by main) instead of printing the whole usage.
        parser_kwargs={"exit_on_error": False},
    )


def _short(error: BaseException) -> str:
    """The message of an error in one line: jsonargparse's span several, the last naming the given value."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = " ".join(lines[:2])
    if len(lines) > 2 and lines[-1].startswith("Given value"):
        text += f" ({lines[-1]})"
    if isinstance(error, ArgumentError):
        text += " (see --help)"
    return text


TRAINER_DEFAULTS: dict[str, Any] = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        # default_hp_metric=False: the hyperparameters tab shows the real val/acc and test/acc, not -1.
        "init_args": {"save_dir": ".", "name": "lightning_logs", "default_hp_metric": False},
    },
    # The default recipe (configs/default.yaml); configs/seed.yaml restores the lab's 5 epochs.
    "max_epochs": 15,
    "gradient_clip_val": 1.0,
}
