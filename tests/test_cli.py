"""The real command line, run in-process on the fake data."""

from pathlib import Path

import pytest
import torch

from mnist_rnn.cli import main
from mnist_rnn.model import RNNClassifier

SEED_CONFIG = str(Path(__file__).parents[1] / "configs" / "seed.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def data_args(data_dir) -> list[str]:
    return ["--data.data_dir", str(data_dir), "--data.val_size", "40", "--data.batch_size", "20"]


def fit_tiny(data_dir, *extra: str) -> Path:
    """Train for one short epoch with the lab's config; return the run folder."""
    main(["fit", "--config", SEED_CONFIG, *data_args(data_dir), *QUIET, "--trainer.max_epochs", "1", *extra])
    runs = sorted(Path("lightning_logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    return runs[-1]


def test_seed_config_fast_dev_run(fake_data_dir, in_tmp_dir):
    main(["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *QUIET, "--trainer.fast_dev_run", "1"])


def test_fit_writes_checkpoints_logs_and_prints_the_test_accuracy(fake_data_dir, in_tmp_dir, capsys):
    run = fit_tiny(fake_data_dir)
    checkpoints = {p.name for p in (run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints
    assert any(name.startswith("best-epoch00-val_acc") for name in checkpoints)
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "config.yaml").is_file()
    out = capsys.readouterr()
    assert "Test accuracy" in out.out + out.err and "test error" in out.out + out.err
    # A rerun gets its own folder and never fails on an existing config file.
    assert fit_tiny(fake_data_dir) != run


def test_checkpoint_alone_rebuilds_the_model(fake_data_dir, in_tmp_dir):
    run = fit_tiny(fake_data_dir, "--model.hidden_size", "32", "--model.cell", "gru")
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    model = RNNClassifier.load_from_checkpoint(best, map_location="cpu").eval()
    assert model.hparams.hidden_size == 32 and model.hparams.cell == "gru"
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    fresh = RNNClassifier(**{k: v for k, v in model.hparams.items() if not k.startswith("_")}).eval()
    fresh.load_state_dict(state)
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    assert torch.equal(model(images), fresh(images))


def test_test_subcommand_reproduces_the_accuracy_from_the_checkpoint(fake_data_dir, in_tmp_dir, capsys):
    run = fit_tiny(fake_data_dir, "--model.hidden_size", "32")
    printed = capsys.readouterr()
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    main(["test", "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    tested = capsys.readouterr().out
    # The fit's final line and the table of the test subcommand give the same number.
    fit_accuracy = float(next(l for l in (printed.out + printed.err).splitlines() if "Test accuracy" in l).split()[2][:-1])
    test_accuracy = float(next(l for l in tested.splitlines() if "test/acc" in l).split()[-1])
    assert test_accuracy * 100 == pytest.approx(fit_accuracy, abs=0.01)


def test_missing_data_is_one_clear_line_and_exit_status_2(tmp_path, in_tmp_dir, capsys, monkeypatch):
    def no_network(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", no_network)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--data.data_dir", str(tmp_path / "nothing"), *QUIET])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "mnist-rnn: error: MNIST files not found in" in err
    assert "Traceback" not in err
