"""Lightning classes that fail or wait on purpose: a model for the tests of the NaN stop, a callback whose
package is missing, callbacks that hold a run until it is stopped (kept apart from tests/helpers.py, which the
image tests import: this one needs Lightning)."""

from __future__ import annotations

import atexit
import math
import os
import signal
import time
from pathlib import Path

from lightning.pytorch import Callback

from mnist_rnn.model import RNNClassifier


class NaNAtStep(RNNClassifier):
    """A model whose loss becomes NaN at one training step, as after an exploding gradient."""

    def __init__(self, bad_step: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bad_step = bad_step

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * math.nan if self.global_step == self.bad_step else loss


class NeedsAMissingPackage(Callback):
    """A callback whose package is not installed, as Lightning's WandbLogger is without wandb."""

    def __init__(self) -> None:
        raise ModuleNotFoundError("Requirement 'absent>=1.0' not met. HINT: Try running `pip install -U 'absent>=1.0'`")


class HoldAfterAValidation(Callback):
    """In a process whose environment has ``HOLD_AFTER_A_VALIDATION=1``: after the first validation, wait before
    the next training batch until a SIGTERM arrives (at most two minutes). A test then stops a run mid-training
    whatever the machine's speed; elsewhere (the other processes of the same config) it does nothing."""

    def __init__(self) -> None:
        self.validated = False

    def on_validation_end(self, trainer, pl_module) -> None:
        self.validated = not trainer.sanity_checking

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not (self.validated and os.environ.get("HOLD_AFTER_A_VALIDATION") == "1"):
            return
        deadline = time.monotonic() + 120
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.05)


class HoldOutsideTheStage(Callback):
    """In the process of a multi-process run whose global rank is ``HOLD_RANK`` (environment), in fit's ``setup``
    or ``teardown`` hook (``HOLD_AT``), outside the stage's own signal handlers, or in an exit hook once the run's
    work is done (``HOLD_AT=exit``): write ``held-PID`` in the working folder and wait until the test removes it (at
    most two minutes). A test then signals a process outside a Trainer's stage whatever the machine's speed;
    elsewhere it does nothing."""

    def setup(self, trainer, pl_module, stage) -> None:
        self._hold(trainer, "setup", stage)

    def teardown(self, trainer, pl_module, stage) -> None:
        self._hold(trainer, "teardown", stage)

    def _hold(self, trainer, hook: str, stage: str) -> None:
        here = os.environ.get("HOLD_RANK") == str(trainer.global_rank)
        if here and os.environ.get("HOLD_AT") == "exit" and (hook, stage) == ("teardown", "test"):
            atexit.register(self._wait)  # the test is fit's last stage: held as the process exits
        elif here and os.environ.get("HOLD_AT") == hook and stage == "fit":
            self._wait()

    @staticmethod
    def _wait() -> None:
        held = Path(f"held-{os.getpid()}")
        held.touch()
        deadline = time.monotonic() + 120
        while held.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def _signal_itself() -> None:
    """Send this process the signal named by ``SIGNAL_AS_IT_STARTS`` (it ends by it: no handler is in place yet)."""
    os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_AS_IT_STARTS"]))


class EndAsItStarts(Callback):
    """Under ``ddp_spawn``: the first spawned process ends by a signal as it reads the Trainer it is handed, with
    more than a pipe's worth of it (a padding) still to read. The command's process is then in the middle of writing
    it, whatever the machine's speed: where a spawned process ends when Ctrl+C or ``kill`` comes as it starts."""

    def __reduce__(self) -> tuple:
        # Unpickling calls _signal_itself first, then reads the state that follows it: the padding.
        return _signal_itself, (), {"padding": bytes(4 << 20)}


class DiskFullAtTheStart(Callback):
    """A disk that is full when training starts (an OSError with ENOSPC, as a checkpoint or an event file gets)."""

    def on_train_start(self, trainer, pl_module) -> None:
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")
