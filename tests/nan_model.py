"""Lightning classes that fail or wait on purpose: a model for the tests of the NaN stop, a callback whose
package is missing, callbacks that hold a run until it is stopped (kept apart from tests/helpers.py, which the
image tests import: this one needs Lightning)."""

from __future__ import annotations

import math
import os
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
    or ``teardown`` hook (``HOLD_AT``), outside the stage's own signal handlers: write ``held-PID`` in the working
    folder and wait until the test removes it (at most two minutes). A test then signals a process outside a
    Trainer's stage whatever the machine's speed; elsewhere it does nothing."""

    def setup(self, trainer, pl_module, stage) -> None:
        self._hold(trainer, "setup", stage)

    def teardown(self, trainer, pl_module, stage) -> None:
        self._hold(trainer, "teardown", stage)

    def _hold(self, trainer, hook: str, stage: str) -> None:
        held_here = os.environ.get("HOLD_AT") == hook and os.environ.get("HOLD_RANK") == str(trainer.global_rank)
        if stage != "fit" or not held_here:
            return
        held = Path(f"held-{os.getpid()}")
        held.touch()
        deadline = time.monotonic() + 120
        while held.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class DiskFullAtTheStart(Callback):
    """A disk that is full when training starts (an OSError with ENOSPC, as a checkpoint or an event file gets)."""

    def on_train_start(self, trainer, pl_module) -> None:
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")
