"""Lightning classes that fail on purpose: a model for the tests of the NaN stop, a callback whose package is
missing (kept apart from tests/helpers.py, which the image tests import: this one needs Lightning)."""

from __future__ import annotations

import math

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
