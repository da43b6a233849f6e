"""benchmarks/accuracy.py's clock (the time and epoch at which validation first reached --threshold), and its
table where a run has no best validation accuracy."""

from types import SimpleNamespace

import torch

from benchmarks.accuracy import RunClock, _mean, _percent


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


def test_accuracy_table_shows_a_missing_best_val_acc_as_a_dash():
    # fit with --trainer.limit_val_batches 0 saves no best checkpoint, so best_val_acc is None.
    assert _percent(None) == "-" and _percent(0.99125) == "99.12%"
    assert _mean([None, None]) is None and _mean([0.98, None, 0.99]) == 0.985
