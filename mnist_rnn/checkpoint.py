"""Checkpoints that survive interruption: atomic writes, a save on SIGINT/SIGTERM, and ``--ckpt_path last``.

- Lightning writes a checkpoint through fsspec, whose local "transaction" may first write to a temporary
  file elsewhere and then copy it: a SIGKILL during the copy leaves a truncated ``.ckpt``. Here the
  :class:`AtomicCheckpointIO` plugin (Lightning's public place for how checkpoints are written; the CLI
  gives it to the Trainer, ``Trainer(plugins=[AtomicCheckpointIO()])`` from Python) writes every checkpoint
  to a hidden ``.NAME.partial`` file in the same folder, flushes it to disk, then renames it over the old
  one (``os.replace`` is atomic): a ``.ckpt`` file is always complete or absent, and loggers that upload
  checkpoints hear of one only once its file is final. A full disk ends in one line naming the file and
  the space it needed, and leaves no ``.partial`` behind. A ``.partial`` left by a SIGKILL is removed by
  the next save into its folder, and ``--ckpt_path last`` never takes one (see below).
- On SIGTERM Lightning finishes the current batch and raises ``SIGTERMException``; this callback then saves
  ``last.ckpt`` and says how to resume. Ctrl+C (SIGINT) is turned into the same SIGTERM path, so the batch
  in flight is never cut in half; a second Ctrl+C aborts at once. The process ends with 128 + the signal's
  number whenever it was stopped, never 0 (outside a Trainer's stage, :mod:`mnist_rnn.stopping` sees to
  it). Only training saves: a stop during the sanity check, or during ``validate``, ``test`` or
  ``predict``, writes nothing. A stop during a validation of ``fit`` keeps the previous ``last.ckpt``
  (saving there would mark the epoch as validated, and the resumed run would skip its validation): the
  resumed run trains that epoch again and validates it. Under DDP the processes stop together, at the end
  of a training batch (see :meth:`SafeModelCheckpoint._agree_on_a_stop`): a stop during a validation or a
  test lets it finish first. One that a process other than the first had before the stage (while the data and the
  model were set up) is agreed on as the stage starts (:func:`mnist_rnn.stopping.together`).
- Lightning resolves ``--ckpt_path last`` only in the *current* run's folder, which a new process has just
  created empty, so it would silently train from scratch; :func:`find_last_checkpoint` looks in the earlier
  run folders instead, for the newest ``last.ckpt`` of a run with the command's settings. Where a SIGKILL
  cut the write of ``last.ckpt`` short (its ``.partial`` is still there), the newest complete checkpoint of
  that folder stands in for it.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import pickle
import shutil
import signal
import sys
import threading
import zipfile
import zlib
from pathlib import Path
from types import FrameType
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mnist_rnn import stopping
from mnist_rnn.errors import (
    MissingFileError,
    UserError,
    byte_not_utf8,
    first_few,
    first_line,
    pasted,
    shown_name,
    shown_path,
    tell,
    warn,
    with_slashes,
)
from mnist_rnn.model import resolved_weight_decay
from mnist_rnn.precision import precision_name


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint writer, made atomic: temporary file, fsync, ``os.replace``, fsync of the folder.

    Give it to a Trainer as ``plugins=[AtomicCheckpointIO()]`` (the CLI does). Only global rank 0 writes
    (Lightning's strategies call the plugin there only).
    """

    def __init__(self) -> None:
        super().__init__()
        self._swept: set[str] = set()  # folders already rid of stale .partial files

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        filepath = os.fspath(path)
        folder = os.path.dirname(filepath) or "."
        os.makedirs(folder, exist_ok=True)
        self._sweep(folder)
        partial = partial_path(filepath)
        try:
            super().save_checkpoint(checkpoint, partial, storage_options)
            if not os.path.exists(partial):
                # Lightning's writer (2.6) swallows a PermissionError (its except is meant for a copy across
                # devices): nothing was written, and the fsync below said "No such file or directory".
                raise PermissionError(errno.EACCES, "Permission denied", partial)
            _fsync(partial)
            os.replace(partial, filepath)
            _fsync(folder)  # make the rename itself durable
        except BaseException as error:  # a full disk, or a Ctrl+C in the middle: no half-written file stays
            written = os.path.getsize(partial) if os.path.exists(partial) else 0
            if os.path.exists(partial):
                os.remove(partial)
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise UserError(_disk_full_message(filepath, written)) from error
            raise

    def _sweep(self, folder: str) -> None:
        """Remove the ``.partial`` files a killed process left here (only this process writes in its folder)."""
        if folder in self._swept:
            return
        self._swept.add(folder)
        for stale in Path(folder).glob(".*.ckpt.partial"):
            stale.unlink(missing_ok=True)
            tell(f"removed {shown_name(stale)}, a checkpoint whose write was cut short by an earlier run's end")


def partial_path(filepath: str) -> str:
    """Where :class:`AtomicCheckpointIO` writes ``filepath`` before renaming it: ``.NAME.partial`` beside it."""
    return os.path.join(os.path.dirname(filepath), f".{os.path.basename(filepath)}.partial")


def _bar_line_open(callback: Any) -> bool:
    """Whether a tqdm progress bar (Lightning's default) is on stdout's last line, unfinished: one that is
    open, not yet closed (tqdm disables a bar as it closes it). An error before any bar was drawn (data not
    found) had an empty line printed before it all the same; Rich's bars end their own lines."""
    names = ("_train_progress_bar", "_val_progress_bar", "_test_progress_bar", "_predict_progress_bar")
    bars = (getattr(callback, name, None) for name in names)
    return any(bar is not None and not getattr(bar, "disable", True) for bar in bars)


# A stop's line for a run whose last.ckpt holds the weights alone: fit refuses to resume from it (not "Resume with").
WEIGHTS_ONLY = (
    "weights only (--checkpoint.save_weights_only), which training cannot resume from: test or predict with it"
)


def calibrate_then_test(best: str | Path) -> str:
    """The commands that finish a best checkpoint that training left uncalibrated and untested, as a stop's line
    and fit's advice give them: "(calibrate --ckpt_path BEST), then test it (test --ckpt_path BEST)"."""
    return f"(calibrate --ckpt_path {pasted(best)}), then test it (test --ckpt_path {pasted(best)})"


class SafeModelCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps ``last.ckpt`` current, saves it when stopped, and says how to resume.

    Its files are atomic when the Trainer writes through :class:`AtomicCheckpointIO`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.save_last == "link":
            # Lightning links last.ckpt to the newest top-k file: a stop, or an epoch that did not improve the
            # monitored score, left it pointing at an older state ("saved last.ckpt at step 50" linked step 30), and
            # --ckpt_path last went back to it, retraining a finished run's last epoch.
            warn(
                "--checkpoint.save_last link: last.ckpt is saved as a file, not a link to the best checkpoint "
                "(a link cannot hold the state a stop or an epoch that did not improve leaves)"
            )
            self.save_last = True
        self._previous_sigint: Any = None
        self._stop_signal = signal.SIGTERM
        self._stop_requested = False  # under DDP: a stop signal this process received, not yet agreed on
        self._trained_best = ""  # the best checkpoint of a fit that ended in this process
        self._trainer: pl.Trainer | None = None

    # ----- resuming with fresh data order ---------------------------------------------------------------
    # A resumed process starts from the same seed as the first one, so without this its shuffles would
    # replay the first epochs' order (and, with limit_train_batches, the very same images). Saving torch's
    # RNG state (a plain tensor, safe for weights_only loading) lets it draw new ones, as the run would have.
    # On a GPU the augmentation draws from the GPU's own generator: its state travels too.

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "torch_rng_state": torch.get_rng_state()}
        device = self._cuda_device()
        if device is not None:
            state["cuda_rng_state"] = torch.cuda.get_rng_state(device)
        return state

    def _cuda_device(self) -> torch.device | None:
        """The GPU this process trains on, or None (on the CPU, or before setup)."""
        device = self._trainer.strategy.root_device if self._trainer is not None else None
        return device if device is not None and device.type == "cuda" else None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("dirpath", self.dirpath) != self.dirpath:
            if self._trainer is not None and self._trainer.state.fn == TrainerFn.FITTING:
                state_dict = self._carried_over_best(state_dict)
            else:  # test, predict: nothing is saved, so the scores do not matter; no warning about them
                state_dict = {**state_dict, "dirpath": self.dirpath, "last_model_path": ""}
        super().load_state_dict(state_dict)
        if "torch_rng_state" in state_dict:
            torch.set_rng_state(state_dict["torch_rng_state"])
        device = self._cuda_device()
        if "cuda_rng_state" in state_dict and device is not None:  # not a GPU run resumed on the CPU
            torch.cuda.set_rng_state(state_dict["cuda_rng_state"], device)

    # ----- resuming into a new run folder ----------------------------------------------------------------
    # A resumed fit writes into a new version_N folder. Lightning (2.6) then forgets the earlier folder's
    # best checkpoints and scores ("The dirpath has changed ..."), so the resumed run's first checkpoint became
    # "best" however bad it was, and the test after fit and --ckpt_path best took it. Here the earlier best
    # files stay in the running: a checkpoint of the resumed run is saved as best only when it beats them.
    # Lightning never deletes a file outside its own folder, so the earlier run's files stay where they are.

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._trainer = trainer  # its ckpt_path is set after setup, before the callbacks' state is loaded
        self._stop_requested = False

    def _carried_over_best(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """``state_dict`` of a run saved in another folder, as if saved in this one: its best checkpoints and
        their scores kept where their files still are (looked for in the restored checkpoint's folder too,
        for a run folder that moved), its ``last.ckpt`` left to the earlier run."""
        restored_from = self._trainer.ckpt_path if self._trainer is not None else None
        restored_folder = Path(restored_from).parent if restored_from else None
        best_k_models = {}
        for recorded, score in state_dict.get("best_k_models", {}).items():
            moved = restored_folder / Path(recorded).name if restored_folder else None
            if Path(recorded).is_file():
                best_k_models[recorded] = score
            elif moved is not None and moved.is_file():
                best_k_models[str(moved)] = score
        carried = {**state_dict, "dirpath": self.dirpath, "last_model_path": "", "best_k_models": best_k_models}
        if not best_k_models:  # nothing left to compare with: the resumed run chooses its best afresh
            if state_dict.get("best_model_path"):
                gone = shown_name(Path(state_dict["best_model_path"]))
                tell(f"the best checkpoint of the run resumed, {gone}, is gone: this run chooses its best of its own")
            return {**carried, "best_model_path": "", "best_model_score": None, "kth_best_model_path": ""}
        best, worst = (min, max) if self.mode == "min" else (max, min)
        best_path, kth_path = best(best_k_models, key=best_k_models.get), worst(best_k_models, key=best_k_models.get)
        return {
            **carried,
            "best_model_path": best_path,
            "best_model_score": best_k_models[best_path],
            "kth_best_model_path": kth_path,
            "kth_value": best_k_models[kth_path],
        }

    # ----- keeping last.ckpt current -------------------------------------------------------------------
    # Lightning (2.6) rewrites last.ckpt at the end of an epoch only when a top-k file was saved at the same
    # step: after an epoch that did not improve val/acc, last.ckpt would still hold an older epoch, and a
    # resumed run would redo it. These two hooks refresh it at each validation and at the end of every epoch.

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._agree_on_a_stop(trainer)  # a signal during the validation (below)
        if trainer.sanity_checking and trainer.received_sigterm and trainer.world_size > 1:
            raise SIGTERMException  # as where one process runs it: stopped before any training, nothing written
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        # Every epoch, validated or not: with --trainer.check_val_every_n_epoch 2 the epochs between validations
        # were never saved, and a run of 3 epochs left a last.ckpt of 2, redone by --ckpt_path last. (A save at
        # this step already, at the validation that ended the epoch, is not repeated.)
        self._refresh_last(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning (2.6) saves last.ckpt here even under fast_dev_run, which saves nothing else: each smoke
        # test left a checkpoints/last-vN.ckpt in the working folder (fast_dev_run logs nowhere).
        if not trainer.fast_dev_run:
            super().on_train_end(trainer, pl_module)
        self._agree_on_a_stop(trainer)  # a signal during the last batch, its validation or that save: no test

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

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._catch_sigint()
        if trainer.world_size > 1 and trainer.received_sigterm and not trainer.sanity_checking:
            # A stop agreed at the start of the training batch this validation follows (below): the validation
            # runs to its end, where the stop is agreed on again, and the run stops after it, with last.ckpt
            # saved. Lightning's loop, reading the flag, would stop after the first validation batch, but not in
            # a process whose whole share is that batch, which then waited for the others in the metrics' sync.
            self._stop_requested = True
            trainer._signal_connector.received_sigterm = False

    # ModelCheckpoint has none of these hooks of its own, so there is nothing to hand on to.
    on_sanity_check_start = on_test_start = on_predict_start = _on_stage_start

    def _catch_sigint(self) -> None:
        if self._trainer is not None and self._trainer.world_size > 1 and stopping.noted_stop() is not None:
            # A stop this process had before the stage, noted to be taken with the others (stopping.together):
            # agreed on as one during the stage is (a sanity check's end, a training batch's start, a test's end).
            self._stop_requested = True
        if self._previous_sigint is None and threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)
            trainer = self._trainer
            if trainer is not None and trainer.world_size > 1:
                # Lightning's (2.6) SIGTERM handler broadcasts a tensor from inside the handler, wherever each
                # process is: one waiting in that broadcast while another waits in the gradients' all-reduce
                # never returns (a Ctrl+C hung a 2-process DDP fit for good, nothing saved). Ours notes the
                # signal, and the processes agree on it where all of them are (below). (Lightning's teardown
                # puts the handler it replaced back.)
                signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Under DDP, Lightning's SIGTERM handler without its broadcast: the signal noted, for the processes to
        agree on at the next batch (:meth:`_agree_on_a_stop`), and, from the process that launched the others,
        passed on to them, as Lightning's does."""
        trainer = self._trainer
        if not self._stop_requested and not trainer.received_sigterm and trainer.strategy.launcher is not None:
            trainer.strategy.launcher.kill(signal.SIGTERM)
        self._stop_requested = True

    # Lightning's loops (2.6) read each process's own flag at the end of every training and evaluation batch
    # and at an epoch's end, and stop there: the flag set by the signal itself, under DDP, stopped the process
    # that had the signal at the end of its batch, to wait in its checkpoint's barrier, while one that had not
    # had it yet went on into the next step's broadcast, and both waited for good (a SIGTERM to one process
    # hung the run every time; one to the command, passed on to both, now and then). So the flag is set only
    # where every process is, in all of them at once when any had the signal: at the start of a training batch
    # (each process trains as many, as DDP's gradient sync needs), so that all stop at the end of that batch;
    # and at the end of a stage. Not at each validation or test batch: their shares differ by a batch where the
    # split does not divide evenly (unpadded, mnist_rnn.data), and the processes would wait for each other's
    # call. A signal during a validation or a test stops the run once it is done.

    def _agree_on_a_stop(self, trainer: pl.Trainer) -> None:
        if trainer.world_size > 1:  # every process joins, whatever it received (Lightning's handler may have set
            # the flag in one, before ours was in place)
            stop = self._stop_requested or trainer.received_sigterm
            if trainer.strategy.reduce_boolean_decision(stop, all=False):
                trainer._signal_connector.received_sigterm = True

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._agree_on_a_stop(trainer)  # (ModelCheckpoint has no such hook of its own)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._agree_on_a_stop(trainer)  # the CLI then says the test's results are complete

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().teardown(trainer, pl_module, stage)
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        """First Ctrl+C: stop like SIGTERM, after this batch. A second one: stop at once (exit status 130)."""
        signal.signal(signal.SIGINT, stopping.raise_stopped)
        stopping.doing(stopping.SECOND_STOP)
        self._stop_signal = signal.SIGINT
        tell("stopping after this batch (Ctrl+C again to abort at once)", after_progress_bar=True)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_end(trainer, pl_module)
        self._trained_best = self.best_model_path

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if not isinstance(exception, SIGTERMException):
            drawn = trainer.is_global_zero and _bar_line_open(trainer.progress_bar_callback)
            if isinstance(exception, UserError) and drawn:
                # The bar leaves stdout's cursor at the end of its line: the one-line error (a full disk)
                # went on after it, in the middle of the bar's figures. Not when stdout is what is full: its
                # error replaced the one being shown.
                with contextlib.suppress(OSError):
                    print(file=sys.stdout, flush=True)
            return  # a crash or a non-finite loss: the weights may be bad, keep the last good checkpoint
        # SIGTERMException is a SystemExit whose code is None, which would end the process with status 0.
        exception.code = 128 + self._stop_signal  # the shell's convention for "killed by this signal"
        name = signal.Signals(self._stop_signal).name
        where = f"at epoch {trainer.current_epoch}, step {trainer.global_step}"
        if trainer.state.fn != TrainerFn.FITTING:
            stage = trainer.state.stage.value if trainer.state.stage else trainer.state.fn.value
            outcome = f"stopped by {name} while {_ING.get(stage, stage)}; no checkpoint written"
            if self._trained_best:  # the test after fit: training had finished, in this process
                outcome += f" (training had finished: the best checkpoint is {shown_name(self._trained_best)})"
        elif trainer.sanity_checking:
            outcome = f"stopped by {name} during the sanity check, before any training; no checkpoint written"
        elif trainer.fast_dev_run or not self.save_last:
            outcome = f"stopped by {name} {where}; no checkpoint saved (fast_dev_run, save_last or checkpointing off)"
        elif trainer.validating:
            saved = bool(self.last_model_path) and os.path.isfile(self.last_model_path)
            if saved and self.save_weights_only:
                kept = f"kept {shown_name(self.last_model_path)}, {WEIGHTS_ONLY}"
            elif saved:
                kept = (
                    f"kept {shown_name(self.last_model_path)}, so a resumed run trains this epoch again and validates "
                    "it. Resume with the same command and --ckpt_path last"
                )
            else:  # the first validation: nothing to resume from
                kept = "no checkpoint saved yet: run the same command again to start over"
            outcome = f"stopped by {name} during the validation of epoch {trainer.current_epoch}; {kept}"
        else:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            resume = f"saved {shown_name(self.last_model_path)}. Resume with the same command and --ckpt_path last"
            if self.save_weights_only:  # a file of weights alone: fit refuses to resume from it
                resume = f"saved {shown_name(self.last_model_path)}, {WEIGHTS_ONLY}"
            if trainer.fit_loop.epoch_loop.batch_progress.current.completed >= trainer.num_training_batches:
                # Stopped as an epoch ended (its validation done): the next one starts from its first batch.
                done = trainer.current_epoch - 1
                if trainer.max_epochs is not None and 0 <= trainer.max_epochs <= trainer.current_epoch:
                    # The last epoch (under DDP a stop in its validation is agreed on once it is done): nothing
                    # is left to train, and --ckpt_path last, as advised, refused to.
                    best = self.best_model_path or self.last_model_path
                    outcome = (
                        f"stopped by {name} at the end of epoch {done}, the last: training is done, saved "
                        f"{shown_name(self.last_model_path)}; calibrate {shown_name(best)} {calibrate_then_test(best)}"
                    )
                else:
                    outcome = f"stopped by {name} at the end of epoch {done}, step {trainer.global_step}; {resume}"
            elif self.save_weights_only:
                outcome = f"stopped by {name} {where}; {resume}"
            else:
                # Lightning's loaders cannot pick up an epoch where it stopped: the rest of it is shuffled anew.
                outcome = (
                    f"stopped by {name} {where}; {resume} (the rest of epoch {trainer.current_epoch} is then drawn "
                    f"anew: some of its images come twice, others not at all, so the result differs a little from "
                    f"an unbroken run's)"
                )
        # On a line of its own: the bar leaves the cursor at the end of its line ("val/acc=0.950]mnist-rnn: ...").
        tell(outcome, after_progress_bar=trainer.progress_bar_callback is not None)


_ING = {"validate": "validating", "test": "testing", "predict": "predicting"}


def _disk_full_message(filepath: str, written: int) -> str:
    """Which file could not be written, about how much space it needed, and how much there is."""
    folder = os.path.dirname(filepath) or "."
    siblings = [path.stat().st_size for path in Path(folder).glob("*.ckpt")]
    needed = f"about {_size(max(siblings))}" if siblings else f"more than the {_size(written)} written"
    free = _size(shutil.disk_usage(folder).free)
    saved = [path for path in Path(folder).glob("*.ckpt") if path != Path(filepath)]
    if list(Path(folder).glob("last*.ckpt")):
        then = "Earlier checkpoints are intact; free some space and resume with --ckpt_path last"
    elif saved:  # the best one, saved just before the first last.ckpt: a whole checkpoint, to resume from
        newest = max(saved, key=lambda path: path.stat().st_mtime)
        then = (
            f"{shown_name(newest.name)} was saved whole; free some space and resume from it with --ckpt_path "
            f"{pasted(newest)}"
        )
    else:  # nothing to resume from yet
        then = "No checkpoint of this run was saved yet; free some space and run the command again"
    return (
        f"no space left on the device to write {shown_name(filepath)}: it needs {needed}, {free} are free in "
        f"{shown_name(folder + '/')}. {then}"
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


def find_last_checkpoint(
    folders: list[Path],
    settings: dict[str, Any] | None = None,
    option: str = "last",
    preferred: dict[str, Any] | None = None,
) -> Path:
    """The newest ``last*.ckpt`` in ``folders`` (each a checkpoint folder or a glob of them) of a run whose
    saved settings agree with ``settings`` (flat, e.g. ``{"model.cell": "gru", "data.val_size": 5000}``;
    a setting the checkpoint does not hold is not compared); of those, the newest that agrees with
    ``preferred`` too, where one does (the run's trainer settings: a newer smoke run of the same model, with
    ``--trainer.limit_train_batches 20``, was resumed in place of the run whose command was repeated).
    ``option``: the ``--ckpt_path`` value being resolved, for the messages (``best`` is looked up through the
    run's ``last.ckpt``).

    Raises:
        UserError: when there is none, rather than training from scratch, or another run on, without a word.
    """
    candidates = [path for folder in folders for found in glob.glob(str(folder)) for path in _last_of(Path(found))]
    where = " or ".join(shown_name(f"{folder}/") for folder in folders)
    if not candidates:
        # Named whole: "no last.ckpt found in lightning_logs/version_*/checkpoints/" did not say which folder's
        # lightning_logs/, to whoever ran the command from another folder than the run's.
        looked_in = " or ".join(shown_name(f"{Path(folder).absolute()}/") for folder in folders)
        if option == "best":
            raise UserError(
                f"--ckpt_path best: no run found in {looked_in} (the best checkpoint is looked up through a run's "
                f"last.ckpt); pass the checkpoint file, or the run folder"
            )
        raise UserError(f"--ckpt_path {option}: no last.ckpt found in {looked_in}")
    candidates.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    if not settings:
        return candidates[0]
    saved = {path: saved_settings(path) for path in candidates}  # each read once
    matches = [path for path in candidates if not setting_differences(settings, saved[path])]
    if matches:
        best = (path for path in matches if not setting_differences(preferred or {}, saved[path]))
        return next(best, matches[0])
    newest = candidates[0]
    differences = setting_differences(settings, saved[newest])
    listed = ", ".join(f"{key}={saved!r} (this command: {ours!r})" for key, ours, saved in differences[:3])
    if len(differences) > 3:  # said, so that whoever changes the three named is not refused again for a fourth
        listed += f" and {len(differences) - 3} other setting{'s' if len(differences) > 4 else ''}"
    runs = f"{len(candidates)} run{'s' if len(candidates) > 1 else ''}"
    raise UserError(
        f"--ckpt_path {option}: none of the {runs} in {where} (read from their last.ckpt) has this "
        f"command's settings; the newest, {shown_name(newest)}, has {listed}. Run the command that started the run, or "
        f"pass --ckpt_path with its folder or file"
    )


def _last_of(folder: Path) -> list[Path]:
    """The ``last*.ckpt`` files of a checkpoint folder. Where a SIGKILL cut the write of one short (its
    ``.partial`` is still there), or none is whole (a damaged file; none written, a second Ctrl+C having
    cut the save short), the newest whole checkpoint of the folder instead, when it is newer: the run saved
    it just before (Lightning saves the best checkpoint, then ``last.ckpt``). A damaged last.ckpt ended the
    lookup of ``last`` and ``best`` in a traceback."""
    # Whole: a zip archive, as every checkpoint is; a cheap look at its end, where a file cut short has no
    # central directory (is_zipfile answers False for an unreadable file too), not a read of its contents.
    lasts = [path for path in folder.glob("last*.ckpt") if zipfile.is_zipfile(path)]
    if lasts and not list(folder.glob(".last*.ckpt.partial")):
        return lasts
    whole = [path for path in folder.glob("*.ckpt") if zipfile.is_zipfile(path)]
    newest = max(whole, key=lambda path: path.stat().st_mtime, default=None)
    return [newest] if newest is not None else []


def saved_settings(path: str | Path) -> dict[str, Any]:
    """The model's and the data's settings saved in a checkpoint, flat: ``{"model.cell": "lstm", ...}``; the
    precision it trained in, ``trainer.precision``: as its run's ``config.yaml`` says, for a checkpoint in
    its run's ``checkpoints/`` folder, else as the checkpoint says (those saved since it holds it); and, from
    that ``config.yaml``, the run's other trainer settings (``trainer.limit_train_batches``...). Any
    ``config.yaml`` two folders up was read before: a checkpoint copied to ``models/`` took an unrelated
    file's precision for its run's."""
    checkpoint = _keys_of_found(Path(path))
    flat = {f"model.{key}": value for key, value in checkpoint.get("hyper_parameters", {}).items()}
    flat.update({f"data.{key}": value for key, value in checkpoint.get("datamodule_hyper_parameters", {}).items()})
    settings = {key: value for key, value in flat.items() if not key.split(".", 1)[1].startswith("_")}
    in_its_run = Path(path).parent.name == "checkpoints"
    trainer = run_config_section(Path(path).parent.parent / "config.yaml", "trainer") if in_its_run else {}
    settings.update({f"trainer.{key}": value for key, value in trainer.items() if key != "precision"})
    precision = precision_name(trainer["precision"]) if trainer.get("precision") is not None else None
    if precision is None and isinstance(checkpoint.get("precision"), str):
        precision = precision_name(checkpoint["precision"])
    if precision is not None:
        settings["trainer.precision"] = precision
    return settings


def run_config_section(config: Path, section: str) -> dict[str, Any]:
    """One section (``trainer``, ``checkpoint``...) of a run's saved ``config.yaml``; none without one, or one
    not readable."""
    try:
        settings = (yaml.safe_load(config.read_text()) or {}).get(section)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return {}
    return settings if isinstance(settings, dict) else {}


class OneOf(frozenset):
    """A setting's values, any of which matches a saved one: a run's precision where the machine it trained on
    may have replaced the command's (bf16-mixed by 32-true, without bfloat16)."""

    def __repr__(self) -> str:
        return " or ".join(repr(value) for value in sorted(self))


def setting_differences(settings: dict[str, Any], saved: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value in ``settings``, value in ``saved``) of each key both hold with different values (not one of
    them, for a :class:`OneOf`); a null weight decay as the optimiser's own, which it is."""
    settings, saved = _decay_resolved(settings, saved), _decay_resolved(saved, saved)
    return [
        (key, value, saved[key])
        for key, value in settings.items()
        if key in saved and not (saved[key] in value if isinstance(value, OneOf) else saved[key] == value)
    ]


def _decay_resolved(settings: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with a null ``model.weight_decay`` replaced by the optimiser's own (0.05 AdamW, 0 Adam), the
    optimiser taken from them or else from ``saved``: a run of the defaults saved 0.05 before null meant it, and
    `--ckpt_path last` refused to resume it with the same command."""
    if "model.weight_decay" not in settings or settings["model.weight_decay"] is not None:
        return settings
    optimizer = settings.get("model.optimizer", saved.get("model.optimizer", "adamw"))
    return {**settings, "model.weight_decay": resolved_weight_decay(None, optimizer)}


def best_checkpoint(last: Path) -> Path:
    """The best checkpoint of the run that wrote ``last``, as its checkpoint callback recorded it.

    Raises:
        UserError: when the run recorded none (no validation yet, or no monitored metric).
    """
    states = _keys_of_found(last).get("callbacks", {})
    state = next((state for state in states.values() if state.get("best_model_path")), None)
    if state is not None:
        places = _recorded_places(last, state["best_model_path"], state.get("dirpath"))
        for path in places:
            if path.is_file():
                return path
        # A resumed run that has not beaten the earlier folder's best records that one: it said "recorded no
        # best checkpoint (was it validated?)" once that folder was deleted.
        raise UserError(
            f"--ckpt_path best: the run of {shown_name(last)} recorded {shown_name(places[0])} as its best checkpoint, "
            "which is not there any more (its folder removed or moved?): pass a checkpoint itself with --ckpt_path"
        )
    if "callbacks" not in _keys_of_found(last):
        # A weights-only last.ckpt (--checkpoint.save_weights_only) holds no callback states, so no record of the
        # best: it said "was it validated?" of a run that was. The run's other checkpoints lie beside it.
        others = sorted(p for p in last.parent.glob("*.ckpt") if not p.name.startswith("last"))
        if len(others) == 1:
            return others[0]
        if others:
            raise UserError(
                f"--ckpt_path best: {shown_name(last)} holds weights only (--checkpoint.save_weights_only), with no "
                f"record of its run's best checkpoint, and {shown_name(last.parent)} holds {len(others)} others "
                f"({', '.join(shown_name(p.name) for p in others)}): pass one with --ckpt_path"
            )
    raise UserError(f"--ckpt_path best: the run of {shown_name(last)} recorded no best checkpoint (was it validated?)")


def _recorded_places(last: Path, recorded: str, dirpath: str | None) -> list[Path]:
    """Where the best checkpoint that ``last``'s run recorded (``recorded``, written into ``dirpath``) may be.

    Beside ``last``, always: a run folder that was moved keeps its files together. At the recorded path only
    where ``last`` still lies in the folder its run wrote it to, and a relative path read from the folder that
    run started in, not from this command's: a checkpoint copied into a folder of its own led ``calibrate``
    to rewrite the run's file instead (and ``test`` to read it), and from another working folder a relative
    path could name an unrelated run's file of the same name."""
    beside = last.parent / Path(recorded).name
    if not dirpath:
        return [beside]
    written, here = Path(dirpath), last.parent.resolve()
    if ".." in written.parts:  # where the run started cannot be told from the path: as recorded
        return [Path(recorded), beside]
    if written.is_absolute():
        return [Path(recorded), beside] if Path(os.path.realpath(written)) == here else [beside]
    if len(written.parts) >= len(here.parts) or here.parts[-len(written.parts) :] != written.parts:
        return [beside]  # copied or moved out of its run's folder
    started = Path(*here.parts[: -len(written.parts)])
    at = started / recorded
    return [Path(recorded) if os.path.abspath(recorded) == os.path.abspath(at) else at, beside]


def load_keys(path: str | Path) -> dict[str, Any]:
    """A checkpoint's top-level entries, memory-mapped: its tensors are not read. A file name that is not UTF-8
    text (a byte of another encoding, from an old archive or a network share) is refused in one line: torch
    cannot map it, and the commands print the path, which a UTF-8 terminal's Python cannot write."""
    if byte_not_utf8(path) is not None:
        raise UserError(
            f"{shown_path(path)}: a file name that is not UTF-8 text: rename the file (or copy it) and pass that"
        )
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _keys_of_found(path: Path) -> dict[str, Any]:
    """:func:`load_keys` of a checkpoint that a lookup found; one that cannot be read is one line."""
    try:
        return load_keys(path)
    except UserError:
        raise
    except Exception as error:
        raise UserError(
            f"{shown_name(path)}: not a readable checkpoint ({first_line(error)}); pass another --ckpt_path"
        ) from error


def checkpoint_named(
    given: str,
    folders: list[Path] | None = None,
    settings: dict[str, Any] | None = None,
    verb: str | None = "using",
    resume: bool = False,
    preferred: dict[str, Any] | None = None,
) -> Path:
    """The file a ``--ckpt_path`` names: a file as it is; ``last`` and ``best``: the newest run's in ``folders``
    (default ``lightning_logs/version_*/checkpoints``) whose settings agree with ``settings`` (see
    :func:`find_last_checkpoint`, with ``preferred``): its ``last.ckpt``, or the best checkpoint it recorded;
    a run folder: to ``resume`` from, its own ``last.ckpt``, else the best checkpoint it recorded (the
    calibrated one; its ``last.ckpt`` where it recorded none). Says which file when it was looked up (``verb``: "using";
    None: the caller says it)."""
    if given not in ("last", "best") and not Path(given).is_dir():
        return Path(given)
    if Path(given).is_dir():  # a run folder the user named
        try:
            path = find_last_checkpoint([Path(given), Path(given) / "checkpoints"])
        except UserError:
            raise UserError(f"--ckpt_path {shown_name(given)}: {_no_checkpoint_in(Path(given))}") from None
        if not resume:  # test, predict, export...: not last.ckpt, whose temperature was never fitted (T = 1)
            with contextlib.suppress(UserError):
                path = best_checkpoint(path)
    else:
        default = [Path("lightning_logs") / "version_*" / "checkpoints"]
        path = find_last_checkpoint(folders or default, settings, option=given, preferred=preferred)
        if given == "best":
            path = best_checkpoint(path)
    if verb:
        tell(f"{verb} {shown_name(path)}")
    return path


def _no_checkpoint_in(folder: Path) -> str:
    """Why a folder given as ``--ckpt_path`` names no checkpoint. One that holds runs (``lightning_logs``, a
    ``--trainer.default_root_dir``) is a folder of runs, not a run: it was said to have "no last.ckpt", though
    each of its runs had one, and the newest is named for the user to pass."""
    try:
        newest = find_last_checkpoint([folder / "*" / "checkpoints", folder / "*"])
    except UserError:  # any whole .ckpt is taken, not only last.ckpt
        return "a folder with no checkpoint (.ckpt file) in it or in its checkpoints/"
    run = newest.parent.parent if newest.parent.name == "checkpoints" else newest.parent
    return f"a folder of runs, not a run: pass one of them, such as the newest, --ckpt_path {pasted(run)}"


NOT_OURS = "--ckpt_path {path}: a Lightning checkpoint, but not of this project's model ({why})"


def state_dict_problem(error: BaseException) -> str | None:
    """The first problem a ``load_state_dict`` error names, with its key ("size mismatch for
    network.rnn.weight_ih_l0: ..."), or None for any other error: its first line named none ("Error(s) in
    loading state_dict for RNNClassifier:")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not isinstance(error, RuntimeError) or not lines or not lines[0].startswith("Error(s) in loading state_dict"):
        return None
    more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
    return (lines[1] if len(lines) > 1 else lines[0]) + more


def holds_network_weights(state_dict: dict[str, Any] | None) -> bool:
    """Whether a checkpoint's ``state_dict`` holds this project's network: ``network.*`` (``rnn.*`` and
    ``head.*`` in checkpoints of earlier versions)."""
    return any(name.startswith(("network.", "rnn.", "head.")) for name in state_dict or {})


def exported_model(path: Path) -> str | None:
    """What ``export`` wrote, when ``path`` is one of its files: "an ONNX model" or "a torch.export program";
    else None. By its contents (a .pt2 is a zip archive as a checkpoint is) or, for ONNX, its suffix."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        # archive_format: torch 2.6 and newer; serialized_exported_program: the format of torch 2.4-2.5.
        if any(name.endswith(("/archive_format", "serialized_exported_program.json")) for name in names):
            return "a torch.export program"
        return None
    with open(path, "rb") as file:
        head = file.read(3)
    # An ONNX ModelProto starts with its ir_version (field 1, a varint) and its producer_name (field 2).
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and head[2:3] == b"\x12"):
        return "an ONNX model"
    return None


def damaged_record(path: str | Path) -> str | None:
    """The first record of a checkpoint (a zip archive) whose bytes fail the CRC-32 that torch.save stored, or
    None. torch.load never checks them: a checkpoint with a block of its weights overwritten loaded, tested at
    10% and predicted NaN probabilities, with exit status 0. Reading the file once costs little beside loading it."""
    try:
        with zipfile.ZipFile(path) as archive:
            for record in archive.infolist():
                if record.CRC == 0 and record.file_size:  # torch.save with set_crc32_options(False): none stored
                    continue
                try:
                    with archive.open(record) as stream:
                        while stream.read(2**20):  # zipfile checks the CRC-32 as it reaches the end
                            pass
                except zipfile.BadZipFile:
                    return record.filename
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        return f"(unreadable: {first_line(error)})"
    return None


def _checkpoint_names(folder: Path, *patterns: str) -> list[str]:
    """The checkpoint files in ``folder`` that ``patterns`` match, by their paths in it, for a message (none
    where the folder cannot be read), each as :func:`~mnist_rnn.errors.shown_name` writes it."""
    try:
        return sorted(
            shown_name(p.relative_to(folder)) for pattern in patterns for p in folder.glob(pattern) if p.is_file()
        )
    except OSError:
        return []


def _checkpoints_beside(path: Path, resume: bool) -> str:
    """What a missing ``--ckpt_path`` may have meant: the checkpoints in its folder (a name copied from the
    README, ``best.ckpt``, or mistyped), or the name that finds the newest run's."""
    found = _checkpoint_names(path.parent, "*.ckpt")
    if found:
        return f"; {shown_name(path.parent)} holds {first_few(found)}"
    return f"; --ckpt_path {'last' if resume else 'best'} takes the newest run's in lightning_logs/"


def check_checkpoint(path: str | Path, resume: bool = False) -> None:
    """Refuse a ``--ckpt_path`` that is missing or is not a Lightning checkpoint, before any work starts.

    Cheap: a checkpoint is a zip archive (torch's format since 1.6), and its keys are read memory-mapped.
    With ``resume``, also refuse a file that holds only weights (``save_weights_only``): training cannot
    go on from it.
    """
    path = Path(path)
    named = shown_name(path)  # a name with a line break in $'...': the error joined its halves with a space
    if path.is_dir():
        found = _checkpoint_names(path, "*.ckpt", "checkpoints/*.ckpt")
        held = f"; it holds {first_few(found)}" if found else ""
        raise UserError(f"--ckpt_path {named}: a folder, not a checkpoint file{held}")
    if not path.is_file():
        beside = with_slashes(path) or _checkpoints_beside(path, resume)
        raise MissingFileError(f"--ckpt_path {named}: no such file{beside}")
    exported = exported_model(path)
    if exported:
        use = (
            "serve runs an ONNX model with --onnx FILE, alone or beside its checkpoint"
            if "ONNX" in exported
            else "in Python: torch.export.load(FILE).module()"
        )
        raise UserError(
            f"--ckpt_path {named}: {exported} written by export, not a Lightning checkpoint: give the .ckpt it "
            f"was exported from ({use})"
        )
    if not zipfile.is_zipfile(path):
        raise UserError(f"--ckpt_path {named}: not a checkpoint (not a file written by torch.save, or truncated)")
    damaged = damaged_record(path)
    if damaged:
        raise UserError(
            f"--ckpt_path {named}: damaged: its record {damaged} does not match the checksum torch.save wrote (bytes "
            f"changed on the disk or in a copy); use another copy of it, or another checkpoint of its run"
        )
    try:
        checkpoint = load_keys(path)
    except UserError as error:  # its own line, naming the file
        raise UserError(f"--ckpt_path {error}") from None
    except pickle.UnpicklingError as error:  # torch's "Weights only load failed", with terminal colour codes
        raise UserError(
            f"--ckpt_path {named}: a pickled Python object (torch.save(model)?), not a Lightning checkpoint; it "
            f"is not loaded, as loading it could run any code"
        ) from error
    except Exception as error:
        raise UserError(f"--ckpt_path {named}: not a readable checkpoint ({first_line(error)})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"--ckpt_path {named}: a torch file, but not a Lightning checkpoint (no state_dict)")
    if "pytorch-lightning_version" not in checkpoint:
        raise UserError(
            f"--ckpt_path {named}: a state_dict saved with torch.save, not a Lightning checkpoint (no "
            f"pytorch-lightning_version); load it in Python with RNNClassifier(...).load_state_dict"
        )
    if not holds_network_weights(checkpoint["state_dict"]):  # test, fit...: else a traceback of unexpected keys
        raise UserError(NOT_OURS.format(path=named, why="no network weights"))
    if "hyper_parameters" not in checkpoint:
        # The network's settings: without them it was rebuilt from the defaults, and weights of the same shapes
        # loaded into a network that read its pixels otherwise (the seed recipe's unnormalised input): most
        # answers wrong, silently.
        raise UserError(
            f"--ckpt_path {named}: holds no hyper_parameters (the model's settings, which Lightning saves beside "
            f"the weights), so the network these weights belong to cannot be rebuilt; use the checkpoint as its "
            f"run saved it"
        )
    if resume and ("optimizer_states" not in checkpoint or "loops" not in checkpoint):
        raise UserError(
            f"--ckpt_path {named}: holds only the weights (saved with save_weights_only), so training cannot "
            f"resume from it; test or predict with it instead"
        )
