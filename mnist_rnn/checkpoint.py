"""Checkpoints that survive interruption: atomic writes, a save on SIGINT/SIGTERM, and ``--ckpt_path last``.

- Lightning writes a checkpoint through fsspec, whose local "transaction" may first write to a temporary
  file elsewhere and then copy it: a SIGKILL during the copy leaves a truncated ``.ckpt``. Here every
  checkpoint is written to a hidden ``.partial`` file in the same folder, flushed to disk, then renamed over
  the old one (``os.replace`` is atomic): a ``.ckpt`` file is always complete or absent.
- On SIGTERM Lightning finishes the current batch and raises ``SIGTERMException``; this callback then saves
  ``last.ckpt`` and says how to resume. Ctrl+C (SIGINT) is turned into the same SIGTERM path, so the batch
  in flight is never cut in half; a second Ctrl+C aborts at once.
- Lightning resolves ``--ckpt_path last`` only in the *current* run's folder, which a new process has just
  created empty, so it would silently train from scratch; :func:`find_last_checkpoint` looks in the earlier
  run folders instead.
"""

from __future__ import annotations

import glob
import os
import signal
import sys
import threading
import zipfile
from pathlib import Path
from types import FrameType
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mnist_rnn.errors import UserError, first_line


class SafeModelCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose files are never half-written, and which saves ``last.ckpt`` when stopped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._previous_sigint: Any = None
        self._stop_signal = signal.SIGTERM

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        partial = os.path.join(os.path.dirname(filepath), f".{os.path.basename(filepath)}.partial")
        super()._save_checkpoint(trainer, partial)  # every process takes part; global rank 0 writes
        if trainer.is_global_zero:
            _fsync(partial)
            os.replace(partial, filepath)
            _fsync(os.path.dirname(filepath) or ".")  # make the rename itself durable
        self._last_checkpoint_saved = filepath

    # ----- resuming with fresh data order ---------------------------------------------------------------
    # A resumed process starts from the same seed as the first one, so without this its shuffles would
    # replay the first epochs' order (and, with limit_train_batches, the very same images). Saving torch's
    # RNG state (a plain tensor, safe for weights_only loading) lets it draw new ones, as the run would have.

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "torch_rng_state": torch.get_rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if "torch_rng_state" in state_dict:
            torch.set_rng_state(state_dict["torch_rng_state"])

    # ----- keeping last.ckpt current -------------------------------------------------------------------
    # Lightning (2.6) rewrites last.ckpt at the end of an epoch only when a top-k file was saved at the same
    # step: after an epoch that did not improve val/acc, last.ckpt would still hold an older epoch, and a
    # resumed run would redo it. These two hooks refresh it at the end of every epoch.

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def _refresh_last(self, trainer: pl.Trainer) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    # ----- stopping on a signal ------------------------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Here, not in setup: Lightning's own SIGTERM handler, which ours relies on, is in place by now.
        super().on_train_start(trainer, pl_module)
        if threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().teardown(trainer, pl_module, stage)
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        """First Ctrl+C: stop like SIGTERM, after this batch. A second one: the usual KeyboardInterrupt."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self._stop_signal = signal.SIGINT
        print("\nmnist-rnn: stopping after this batch (Ctrl+C again to abort at once)", file=sys.stderr)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if not isinstance(exception, SIGTERMException) or trainer.fast_dev_run or trainer.sanity_checking:
            return  # a crash or a non-finite loss: the weights may be bad, keep the last good checkpoint
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        name = signal.Signals(self._stop_signal).name
        exception.code = 128 + self._stop_signal  # the shell's convention for "killed by this signal"
        if trainer.is_global_zero:
            saved = (
                f"saved {self.last_model_path}" if self.last_model_path else "no checkpoint saved (save_last is off)"
            )
            print(
                f"mnist-rnn: stopped by {name} at epoch {trainer.current_epoch}, step {trainer.global_step}; "
                f"{saved}. Resume with the same command and --ckpt_path last",
                file=sys.stderr,
            )


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def find_last_checkpoint(folders: list[Path]) -> Path:
    """The newest ``last*.ckpt`` in ``folders`` (each a checkpoint folder or a glob of them).

    Raises:
        UserError: when there is none, rather than training from scratch without a word.
    """
    candidates = [Path(path) for folder in folders for path in glob.glob(str(folder / "last*.ckpt"))]
    if not candidates:
        where = " or ".join(f"{folder}/" for folder in folders)
        raise UserError(f"--ckpt_path last: no last.ckpt found in {where}")
    return max(candidates, key=lambda path: path.stat().st_mtime)


def check_checkpoint(path: str | Path) -> None:
    """Refuse a ``--ckpt_path`` that is missing or is not a Lightning checkpoint, before any work starts.

    Cheap: a checkpoint is a zip archive (torch's format since 1.6), and its keys are read memory-mapped.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--ckpt_path {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise UserError(f"--ckpt_path {path}: not a checkpoint (not a file written by torch.save, or truncated)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:
        raise UserError(f"--ckpt_path {path}: not a readable checkpoint ({first_line(error)})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"--ckpt_path {path}: a torch file, but not a Lightning checkpoint (no state_dict)")
