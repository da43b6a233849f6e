"""A model that fails on purpose, for the tests of the NaN stop (kept apart from tests/helpers.py, which the
image tests import: this one needs Lightning)."""

from __future__ import annotations

import math

from mnist_rnn.model import RNNClassifier


class NaNAtStep(RNNClassifier):
    """A model whose loss becomes NaN at one training step, as after an exploding gradient."""

    def __init__(self, bad_step: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bad_step = bad_step

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * math.nan if self.global_step == self.bad_step else loss
