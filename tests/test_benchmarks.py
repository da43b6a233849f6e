"""benchmarks/accuracy.py's clock: the time and epoch at which validation first reached --threshold."""

from types import SimpleNamespace

import torch

from benchmarks.accuracy import RunClock


def test_the_clock_records_the_first_validation_at_the_threshold():
    clock = RunClock(threshold=0.94)
    clock.on_train_start(None, None)
    for epoch, accuracy in enumerate([0.90, 0.95, 0.97]):
        trainer = SimpleNamespace(callback_metrics={"val/acc": torch.tensor(accuracy)}, sanity_checking=False,
                                  current_epoch=epoch)  # fmt: skip
        clock.on_validation_end(trainer, None)
    assert clock.epochs_to_target == 2 and clock.seconds_to_target is not None
    never = RunClock(threshold=0.99)
    never.on_validation_end(trainer, None)
    assert never.seconds_to_target is None and never.epochs_to_target is None
