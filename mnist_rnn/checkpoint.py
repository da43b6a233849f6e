"""Checkpoints that survive interruption: atomic writes, a save on SIGINT/SIGTERM, and ``--ckpt_path last``.

- Lightning writes a checkpoint through fsspec, whose local "transaction" may first write to a temporary
  file elsewhere and then copy it: a SIGKILL during the copy leaves a truncated ``.ckpt``. Here every
  checkpoint is written to a hidden ``.partial`` file in the same folder, flushed to disk, then renamed over
  the old one (``os.replace`` is atomic): a ``.ckpt`` file is always complete or absent.
  A full disk ends in one line naming the file and the space it needed, and leaves no ``.partial`` behind.
- On SIGTERM Lightning finishes the current batch and raises ``SIGTERMException``; this callback then saves
  ``last.ckpt`` and says how to resume. Ctrl+C (SIGINT) is turned into the same SIGTERM path, so the batch
  in flight is never cut in half; a second Ctrl+C aborts at once. The process ends with 128 + the signal's
  number whenever it was stopped, never 0. Only training saves: a stop during the sanity check, or during
  ``validate``, ``test`` or ``predict``, writes nothing. A stop during a validation of ``fit`` keeps the
  previous ``last.ckpt`` (saving there would mark the epoch as validated, and the resumed run would skip its
  validation): the resumed run trains that epoch again and validates it.
- Lightning resolves ``--ckpt_path last`` only in the *current* run's folder, which a new process has just
  created empty, so it would silently train from scratch; :func:`find_last_checkpoint` looks in the earlier
  run folders instead, for the newest ``last.ckpt`` of a run with the command's settings.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
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
from lightning.pytorch.trainer.states import TrainerFn
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
        try:
            super()._save_checkpoint(trainer, partial)  # every process takes part; global rank 0 writes
            if trainer.is_global_zero:
                _fsync(partial)
                os.replace(partial, filepath)
                _fsync(os.path.dirname(filepath) or ".")  # make the rename itself durable
        except OSError as error:
            written = os.path.getsize(partial) if os.path.exists(partial) else 0
            if os.path.exists(partial):
                os.remove(partial)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise UserError(_disk_full_message(filepath, written)) from error
            raise
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

    # Each stage's first hook: here, not in setup, because Lightning's own SIGTERM handler, which ours
    # relies on, is in place by now (it is installed just before the stage runs).

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._catch_sigint()

    def _on_stage_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._catch_sigint()

    # ModelCheckpoint has none of these hooks of its own, so there is nothing to hand on to.
    on_sanity_check_start = on_validation_start = on_test_start = on_predict_start = _on_stage_start

    def _catch_sigint(self) -> None:
        if self._previous_sigint is None and threading.current_thread() is threading.main_thread():
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
        if not isinstance(exception, SIGTERMException):
            return  # a crash or a non-finite loss: the weights may be bad, keep the last good checkpoint
        # SIGTERMException is a SystemExit whose code is None, which would end the process with status 0.
        exception.code = 128 + self._stop_signal  # the shell's convention for "killed by this signal"
        name = signal.Signals(self._stop_signal).name
        where = f"at epoch {trainer.current_epoch}, step {trainer.global_step}"
        if trainer.state.fn != TrainerFn.FITTING:
            stage = trainer.state.stage.value if trainer.state.stage else trainer.state.fn.value
            outcome = f"stopped by {name} while {_ING.get(stage, stage)}; no checkpoint written"
            if self.best_model_path:  # the test after fit: training had finished
                outcome += f" (training had finished: the best checkpoint is {self.best_model_path})"
        elif trainer.sanity_checking:
            outcome = f"stopped by {name} during the sanity check, before any training; no checkpoint written"
        elif trainer.fast_dev_run or not self.save_last:
            outcome = f"stopped by {name} {where}; no checkpoint saved (fast_dev_run or save_last off)"
        elif trainer.validating:
            kept = f"kept {self.last_model_path}" if self.last_model_path else "no checkpoint saved yet"
            outcome = (
                f"stopped by {name} during the validation of epoch {trainer.current_epoch}; {kept}, so a resumed "
                f"run trains this epoch again and validates it. Resume with the same command and --ckpt_path last"
            )
        else:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            outcome = (
                f"stopped by {name} {where}; saved {self.last_model_path}. "
                f"Resume with the same command and --ckpt_path last"
            )
        if trainer.is_global_zero:
            print(f"mnist-rnn: {outcome}", file=sys.stderr)


_ING = {"validate": "validating", "test": "testing", "predict": "predicting"}


def _disk_full_message(filepath: str, written: int) -> str:
    """Which file could not be written, about how much space it needed, and how much there is."""
    folder = os.path.dirname(filepath) or "."
    siblings = [path.stat().st_size for path in Path(folder).glob("*.ckpt")]
    needed = f"about {_size(max(siblings))}" if siblings else f"more than the {_size(written)} written"
    free = _size(shutil.disk_usage(folder).free)
    return (
        f"no space left on the device to write {filepath}: it needs {needed}, {free} are free in {folder}/. "
        f"Earlier checkpoints are intact; free some space and resume with --ckpt_path last"
    )


def _size(size: int) -> str:
    """A size in the unit that shows it best: "84 kB", "2.1 MB", "3.5 GB"."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.0f} kB"


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def find_last_checkpoint(folders: list[Path], settings: dict[str, Any] | None = None) -> Path:
    """The newest ``last*.ckpt`` in ``folders`` (each a checkpoint folder or a glob of them) of a run whose
    saved settings agree with ``settings`` (flat, e.g. ``{"model.cell": "gru", "data.val_size": 5000}``;
    a setting the checkpoint does not hold is not compared).

    Raises:
        UserError: when there is none, rather than training from scratch, or another run on, without a word.
    """
    candidates = [Path(path) for folder in folders for path in glob.glob(str(folder / "last*.ckpt"))]
    where = " or ".join(f"{folder}/" for folder in folders)
    if not candidates:
        raise UserError(f"--ckpt_path last: no last.ckpt found in {where}")
    candidates.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    if not settings:
        return candidates[0]
    match = next((path for path in candidates if not setting_differences(settings, saved_settings(path))), None)
    if match is not None:
        return match
    newest = candidates[0]
    differences = setting_differences(settings, saved_settings(newest))
    listed = ", ".join(f"{key}={saved!r} (this command: {ours!r})" for key, ours, saved in differences[:3])
    raise UserError(
        f"--ckpt_path last: none of the {len(candidates)} last.ckpt files in {where} is of a run with this "
        f"command's settings; the newest, {newest}, has {listed}. Run the command that started the run, or "
        f"pass --ckpt_path with its folder or file"
    )


def saved_settings(path: str | Path) -> dict[str, Any]:
    """The model's and the data's settings saved in a checkpoint, flat: ``{"model.cell": "lstm", ...}``."""
    checkpoint = load_keys(path)
    flat = {f"model.{key}": value for key, value in checkpoint.get("hyper_parameters", {}).items()}
    flat.update({f"data.{key}": value for key, value in checkpoint.get("datamodule_hyper_parameters", {}).items()})
    return {key: value for key, value in flat.items() if not key.split(".", 1)[1].startswith("_")}


def setting_differences(settings: dict[str, Any], saved: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value in ``settings``, value in ``saved``) of each key both hold with different values."""
    return [(key, value, saved[key]) for key, value in settings.items() if key in saved and saved[key] != value]


def best_checkpoint(last: Path) -> Path:
    """The best checkpoint of the run that wrote ``last``, as its checkpoint callback recorded it.

    Raises:
        UserError: when the run recorded none (no validation yet, or no monitored metric).
    """
    states = load_keys(last).get("callbacks", {})
    recorded = next((state.get("best_model_path") for state in states.values() if "best_model_path" in state), "")
    if recorded:
        for path in (Path(recorded), last.parent / Path(recorded).name):  # the run folder may have moved
            if path.is_file():
                return path
    raise UserError(f"--ckpt_path best: the run of {last} recorded no best checkpoint (was it validated?)")


def load_keys(path: str | Path) -> dict[str, Any]:
    """A checkpoint's top-level entries, memory-mapped: its tensors are not read."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def check_checkpoint(path: str | Path, resume: bool = False) -> None:
    """Refuse a ``--ckpt_path`` that is missing or is not a Lightning checkpoint, before any work starts.

    Cheap: a checkpoint is a zip archive (torch's format since 1.6), and its keys are read memory-mapped.
    With ``resume``, also refuse a file that holds only weights (``save_weights_only``): training cannot
    go on from it.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--ckpt_path {path}: a folder with no last.ckpt, not a checkpoint file")
    if not path.is_file():
        raise UserError(f"--ckpt_path {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise UserError(f"--ckpt_path {path}: not a checkpoint (not a file written by torch.save, or truncated)")
    try:
        checkpoint = load_keys(path)
    except Exception as error:
        raise UserError(f"--ckpt_path {path}: not a readable checkpoint ({first_line(error)})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"--ckpt_path {path}: a torch file, but not a Lightning checkpoint (no state_dict)")
    if "pytorch-lightning_version" not in checkpoint:
        raise UserError(
            f"--ckpt_path {path}: a state_dict saved with torch.save, not a Lightning checkpoint (no "
            f"pytorch-lightning_version); load it in Python with RNNClassifier(...).load_state_dict"
        )
    if resume and ("optimizer_states" not in checkpoint or "loops" not in checkpoint):
        raise UserError(
            f"--ckpt_path {path}: holds only the weights (saved with save_weights_only), so training cannot "
            f"resume from it; test or predict with it instead"
        )
