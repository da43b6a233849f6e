"""benchmarks/accuracy.py's clock (the time and epoch at which validation first reached --threshold), and its
table where a run has no best validation accuracy; benchmarks/throughput.py's precisions; the paths the
benchmarks take."""

import argparse
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks import epoch_time, lightning_overhead, predict_agreement, small_digits, throughput
from benchmarks.accuracy import RunClock, _mean, _percent
from benchmarks.options import checkout, data_folder, existing_file


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


def test_another_version_must_be_a_checkout_and_a_checkpoint_is_made_absolute(tmp_path, monkeypatch):
    """With PYTHONPATH at a folder without mnist_rnn/, the 'old' version imported this checkout instead, and
    the table compared this version with itself; a relative --ckpt-path failed in predict's other folder."""
    with pytest.raises(argparse.ArgumentTypeError, match="not a checkout of this project"):
        checkout(str(tmp_path))
    assert checkout(str(Path(__file__).parents[1])) == Path(__file__).parents[1].resolve()
    (tmp_path / "model.ckpt").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert existing_file("model.ckpt") == tmp_path.resolve() / "model.ckpt"
    with pytest.raises(argparse.ArgumentTypeError, match="missing.ckpt: no such file"):
        existing_file("missing.ckpt")


def test_a_data_dir_without_the_data_set_is_a_usage_error(fake_data_dir, tmp_path, monkeypatch, capsys):
    """It was a traceback from deep in the benchmark, naming fit's --data.data_dir instead of --data-dir."""
    monkeypatch.setattr("sys.argv", ["predict_agreement", "--ckpt-path", "x.ckpt", "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        predict_agreement.main_cli()
    assert stop.value.code == 2
    assert f"argument --data-dir: {tmp_path}: no MNIST/raw/ with train-images-idx3-ubyte" in capsys.readouterr().err
    assert data_folder("fashion_mnist")(str(fake_data_dir)) == str(fake_data_dir.resolve())


def test_epoch_time_prints_the_seconds_of_one_epoch_of_the_config(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """What benchmarks/gpu_session.sh pixels reads to plan its epochs: one line, from the generated training
    files' 240 images less the 40 held out (a constant 60,000 would have planned from the wrong set)."""
    config = Path(__file__).parents[1] / "configs" / "smnist.yaml"
    args = ["--config", str(config), "--data-dir", str(fake_data_dir), "--accelerator", "cpu", "--steps", "2",
            "--val-size", "40", "--", "--model.hidden_size", "4", "--data.batch_size", "100"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["epoch_time", *args])
    seconds_per_step = []
    fit_loop = epoch_time.fit_loop

    def timed(*args, **kwargs):
        images_per_second = fit_loop(*args, **kwargs)
        seconds_per_step.append(args[5] / images_per_second)  # args[5]: the batch size, the extra one
        return images_per_second

    monkeypatch.setattr(epoch_time, "fit_loop", timed)
    epoch_time.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("EPOCH_SECONDS ")
    assert float(lines[-1].split()[1]) == pytest.approx(seconds_per_step[0] * 200 / 100, rel=0.01, abs=0.01)


def test_lightning_overhead_prints_both_loops_and_their_difference(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["lightning_overhead", "--data-dir", str(fake_data_dir), "--steps", "3",
                                      "--rounds", "1", "--val-size", "40"])  # fmt: skip
    monkeypatch.setattr(lightning_overhead.torch, "set_num_threads", lambda threads: None)  # not for the suite
    lightning_overhead.main()
    out = capsys.readouterr().out
    assert "ms per step at batch 50, a 1x2 LSTM, 1 thread, 1 rounds" in out
    line = next(line for line in out.splitlines() if line.startswith("(b) fit "))
    fit, plain, extra = (float(median) for median in re.findall(r"(-?\d+\.\d+) \[", line))
    assert fit > 0 and plain > 0 and extra == pytest.approx(fit - plain, abs=2e-3)


@pytest.mark.parametrize("side", [6, 9, 10, 20])
def test_small_digits_shrinks_a_digit_to_its_size_and_prepare_flags_it_below_ten_pixels(side):
    from mnist_rnn.preparation import SMALL_DIGIT, prepare

    digit = torch.zeros(28, 28, dtype=torch.uint8)
    digit[4:24, 12:16] = 255  # a 1, 20 pixels tall
    picture = small_digits.thumbnail(digit.numpy(), side)
    assert picture.height == side + 4 and picture.getpixel((0, 0)) == 255  # white paper, a 2-pixel margin
    assert prepare(picture).small is (side < SMALL_DIGIT)


def test_accuracy_checks_the_folder_of_the_configs_data_set(tmp_path, monkeypatch, capsys):
    """docs/results.md's Fashion-MNIST commands were refused: --data-dir was checked for MNIST/raw/ whatever
    the config (configs/fashion.yaml) or a --data.dataset after "--" trained on."""
    from benchmarks import accuracy

    root = Path(__file__).parents[1]
    assert accuracy._dataset(str(root / "configs/fashion.yaml"), []) == "fashion_mnist"
    assert accuracy._dataset(str(root / "configs/default.yaml"), ["--data.dataset", "fashion_mnist"]) == "fashion_mnist"
    assert accuracy._dataset(str(root / "configs/default.yaml"), ["--data.dataset=kmnist"]) == "kmnist"
    assert accuracy._dataset(str(root / "configs/default.yaml"), []) == "mnist"
    config = str(root / "configs/fashion.yaml")
    monkeypatch.setattr("sys.argv", ["accuracy", "--config", config, "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        accuracy.main()
    assert stop.value.code == 2
    assert f"argument --data-dir: {tmp_path}: no FashionMNIST/raw/ with" in capsys.readouterr().err


def test_phone_photos_are_stored_sideways_as_phones_store_them_and_named_by_their_digit(
    fake_data_dir, tmp_path, monkeypatch
):
    """benchmarks/phone_photos.py: a photo of kind exif6 holds the sensor's pixels sideways and EXIF orientation
    6, which decode_image turns upright (landscape to portrait, or the other way); its name ends with the digit's
    label."""
    from PIL import Image

    from benchmarks import phone_photos
    from benchmarks.prepare_speed import mnist_test
    from mnist_rnn.user_images import decode_image

    out = tmp_path / "photos"
    argv = ["phone_photos", str(out), "--data-dir", str(fake_data_dir), "--kinds", "exif6", "--per-kind", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    phone_photos.main()
    _, labels = mnist_test(str(fake_data_dir), 12)
    photos = sorted(out.iterdir())
    assert [p.name for p in photos] == [f"exif6_{i:03d}_{labels[5 * 2 + i]}.jpg" for i in range(2)]
    for path in photos:
        with Image.open(path) as stored:
            assert stored.getexif()[0x0112] == 6 and stored.width in (3000, 4000, 3024, 4032)
            sideways = stored.size
        upright = decode_image(path)  # reduced as it is decoded: its shape, not its size
        assert (upright.width > upright.height) == (sideways[1] > sideways[0])
