"""The benchmarks' own helpers, where a run without validation or an unreadable image used to crash them."""

from benchmarks.accuracy import _mean, _percent


def test_accuracy_table_shows_a_missing_best_val_acc_as_a_dash():
    # fit with --trainer.limit_val_batches 0 saves no best checkpoint, so best_val_acc is None.
    assert _percent(None) == "-" and _percent(0.99125) == "99.12%"
    assert _mean([None, None]) is None and _mean([0.98, None, 0.99]) == 0.985
