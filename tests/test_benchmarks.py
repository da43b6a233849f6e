"""benchmarks/accuracy.py's clock (the time and epoch at which validation first reached --threshold), and its
table where a run has no best validation accuracy; benchmarks/throughput.py's precisions."""

import sys
from types import SimpleNamespace

import pytest
import torch

from benchmarks import throughput
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


def test_throughput_measures_bf16_only_where_fit_trains_in_it(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """Where the CPU lacks native bfloat16, fit trains a bf16-mixed config in float32 (and the plain loop
    would fail or crawl): a bf16-mixed row would compare different arithmetic, so the benchmark leaves it out."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "emulated")
    args = ["--data-dir", str(fake_data_dir), "--images", "64", "--rounds", "1", "--batch-sizes", "16"]
    monkeypatch.setattr(sys, "argv", ["throughput", *args, "--val-size", "40"])
    throughput.main()
    out = capsys.readouterr().out
    assert "throughput: bf16-mixed left out: this CPU has no native bfloat16 (AVX512-BF16 or AMX)" in out
    rows = [line for line in out.splitlines() if line.startswith("| 16 |")]
    assert len(rows) == 1 and rows[0].startswith("| 16 | 32-true |")
    monkeypatch.setattr(sys, "argv", ["throughput", *args, "--precision", "bf16-mixed"])
    with pytest.raises(SystemExit) as stop:
        throughput.main()
    assert stop.value.code == 2 and "nothing left to measure" in capsys.readouterr().err
