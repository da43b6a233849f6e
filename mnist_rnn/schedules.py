"""Learning-rate schedules whose length is the current run's, so a resumed run may train longer.

A one-cycle or cosine schedule is planned over the run's total number of steps. Lightning restores a
resumed run's scheduler with ``load_state_dict``, which would bring back the *first* run's length: a run
extended with a larger ``--trainer.max_epochs`` then stops with torch's "Tried to step 21 times. The
specified number of total steps is 20". These schedules keep the length planned for the current run and
take only the position (the step) from the checkpoint: the resumed run continues at the restored step of a
schedule planned for the new length, as if the longer run had been planned from the start.
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR

from mnist_rnn.errors import SettingsError, tell


class StretchableOneCycleLR(OneCycleLR):
    """``OneCycleLR`` that keeps its own ``total_steps`` when a checkpoint's state is loaded into it."""

    def step(self, epoch: int | None = None) -> None:
        # A run resumed with fewer steps than the checkpoint has made (a smaller --trainer.limit_train_batches
        # or max_epochs) is past the end of its schedule: torch would raise "Tried to step N times".
        if self.last_epoch >= self.total_steps:
            raise SettingsError(self._past_the_end(self.last_epoch))
        super().step(epoch)

    def _past_the_end(self, steps: int) -> str:
        return (
            f"the checkpoint has trained {steps:,} steps, but this run's one-cycle lr schedule ends after "
            f"{self.total_steps:,} (max_epochs x optimiser steps per epoch): resume with the first run's "
            f"--trainer.limit_train_batches, --trainer.accumulate_grad_batches and --data.batch_size, or a "
            f"larger --trainer.max_epochs"
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        planned = {"total_steps": self.total_steps, "_schedule_phases": self._schedule_phases}
        saved_total = state_dict.get("total_steps", self.total_steps)
        if state_dict.get("last_epoch", 0) > self.total_steps:  # said before a step of training, not at the first
            raise SettingsError(self._past_the_end(state_dict["last_epoch"]))
        super().load_state_dict({**state_dict, **planned})
        if saved_total != self.total_steps:
            _say_stretched("onecycle", saved_total, self.total_steps, self.last_epoch)
        if self.last_epoch < self.total_steps:
            # The lr of the restored step on this schedule (the same lr when the length did not change).
            self.last_epoch -= 1
            self.step()


class StretchableCosineAnnealingLR(CosineAnnealingLR):
    """``CosineAnnealingLR`` that keeps its own ``T_max`` when a checkpoint's state is loaded into it."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_total = state_dict.get("T_max", self.T_max)
        super().load_state_dict({**state_dict, "T_max": self.T_max})
        if saved_total != self.T_max:
            _say_stretched("cosine", saved_total, self.T_max, self.last_epoch)
        # torch's cosine steps from the current lr (a ratio of cosines), which from an lr of 0 at the end
        # of the first schedule would stay 0: set the closed-form lr of the restored step instead.
        step = min(self.last_epoch, self.T_max)
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def _say_stretched(name: str, saved_total: int, total: int, step: int) -> None:
    tell(
        f"the {name} lr schedule of the checkpoint spanned {saved_total:,} steps, this run spans "
        f"{total:,}: training continues at step {step:,} of a schedule planned for {total:,} steps"
    )
