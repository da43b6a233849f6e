"""Stop a run whose training loss becomes NaN or infinite, and say at which step.

Once the loss is NaN the next optimiser step spreads it to every weight, and the run goes on for hours
producing nothing. Reading the loss on the host every step would make each GPU step wait for the device,
so the check is done on the device (a running "first bad step" tensor, no synchronisation) and read only
every ``check_every_n_steps`` steps: every step on a CPU, where reading is free, and every 50 steps
elsewhere by default. The step it names is still the exact first bad one.

It is also read before every validation of ``fit``. Lightning validates inside the training epoch, before
``on_train_epoch_end`` (2.6: ``_TrainingEpochLoop.on_advance_end`` runs the validation loop, then
``_FitLoop.on_advance_end`` calls ``on_train_epoch_end``), and when validation runs more than once per epoch
or not every epoch, the checkpoint callback saves the best checkpoint and ``last.ckpt`` at the end of each
validation. A NaN in the last steps before it must stop the run there, not reach a checkpoint that
``--ckpt_path last`` would resume from. (With one validation per epoch the checkpoint callback saves in its
``on_train_epoch_end``, which Lightning calls after this callback's.)
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

from mnist_rnn.errors import NonFiniteLossError, SettingsError


class StopOnNonFiniteLoss(Callback):
    """Raise :class:`NonFiniteLossError` (a one-line message from the CLI) when the training loss is not finite.

    Args:
        check_every_n_steps: How often the device-side record is read on the host; ``None``: every step on
            a CPU, every 50 steps on an accelerator.
    """

    def __init__(self, check_every_n_steps: int | None = None) -> None:
        if check_every_n_steps is not None and check_every_n_steps <= 0:
            raise SettingsError(f"check_every_n_steps must be positive, got {check_every_n_steps}")
        self.check_every_n_steps = check_every_n_steps
        self._first_bad: Tensor | None = None  # global step of the first non-finite loss, or -1
        self._step = 0  # the optimiser step of the current batch (on_train_batch_start)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.check_every_n_steps is None:
            self.check_every_n_steps = 1 if pl_module.device.type == "cpu" else 50
        self._first_bad = torch.tensor(-1, device=pl_module.device)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # The optimiser step this batch's loss goes into (0-based): with accumulate_grad_batches > 1 the batches
        # before the step see the same global_step, which only the last one increments.
        self._step = trainer.global_step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, Tensor) or self._first_bad is None:
            return  # a skipped step (training_step returned None)
        step = self._step
        bad = ~torch.isfinite(loss.detach()).all()
        self._first_bad = torch.where(bad & (self._first_bad < 0), step, self._first_bad)
        if (step + 1) % self.check_every_n_steps == 0:
            self._check(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Before the validation whose end writes checkpoints; not in the sanity check before training.
        if self._first_bad is not None and trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._check(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # For epochs without validation; runs before the checkpoint callback's on_train_epoch_end (Lightning
        # calls the monitoring callbacks last).
        if self._first_bad is not None:
            self._check(trainer)

    def _check(self, trainer: pl.Trainer) -> None:
        first_bad = int(self._first_bad)  # the one host-device synchronisation
        # Every process must stop together, or the others wait forever in the next all-reduce.
        if trainer.strategy.reduce_boolean_decision(first_bad >= 0, all=False):
            where = f"at step {first_bad} (epoch {trainer.current_epoch})" if first_bad >= 0 else "in another process"
            clip = trainer.gradient_clip_val
            # Clipping is on by default (1.0): advise a tighter one, not what the run already had.
            clipping = f"a smaller --trainer.gradient_clip_val (this run's: {clip})" if clip else "gradient clipping"
            advice = f"Try a lower --model.lr, or {clipping}" + ("" if clip else " (--trainer.gradient_clip_val 1.0)")
            if str(trainer.precision) == "16-true":
                # Adam's eps (1e-8) is 0 in float16 and the squares of small gradients too: a step of m / 0.
                advice = (
                    "With float16 weights (--trainer.precision 16-true) Adam's steps overflow: train in "
                    "16-mixed on a GPU, bf16-mixed or 32-true"
                )
            raise NonFiniteLossError(
                f"the training loss became NaN or infinite {where}; stopped instead of training on it. {advice}"
            )
