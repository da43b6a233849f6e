"""Checkpoints survive interruption: atomic writes, SIGKILL then resume, SIGTERM/SIGINT save and stop."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from mnist_rnn.checkpoint import SafeModelCheckpoint, check_checkpoint, find_last_checkpoint
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.errors import UserError
from mnist_rnn.model import RNNClassifier
from tests.helpers import cli_subprocess, finish

STEPS_PER_EPOCH = 10  # 200 training images (240 - 40 for validation) in batches of 20


def fit_args(data_dir: Path, max_epochs: int, *extra: str) -> list[str]:
    return [
        "fit", "--data.data_dir", str(data_dir), "--data.val_size", "40", "--data.batch_size", "20",
        "--model.hidden_size", "16", "--trainer.max_epochs", str(max_epochs),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra,
    ]  # fmt: skip


def wait_for(pattern: str, folder: Path, process, timeout: float = 120) -> list[Path]:
    """Poll until files matching ``pattern`` exist under ``folder``; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(folder.glob(pattern))
        if found:
            return found
        assert process.poll() is None, (folder / "run.log").read_text()
        time.sleep(0.02)
    raise AssertionError(f"no {pattern} after {timeout}s")


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_a_failed_write_leaves_the_previous_checkpoint_whole(fake_data_dir, in_tmp_dir, monkeypatch):
    checkpoint = SafeModelCheckpoint(dirpath=in_tmp_dir / "ckpts", save_last=True, monitor="val/acc", mode="max")
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    trainer = Trainer(max_epochs=1, callbacks=[checkpoint], logger=False, enable_progress_bar=False)
    trainer.fit(RNNClassifier(hidden_size=16), datamodule=data)
    last = in_tmp_dir / "ckpts" / "last.ckpt"
    good = last.read_bytes()

    def crash_halfway(checkpoint, path, storage_options=None):  # a kill in the middle of a write
        Path(path).write_bytes(b"PK half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.strategy.checkpoint_io, "save_checkpoint", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        checkpoint._save_checkpoint(trainer, str(last))
    assert last.read_bytes() == good
    for path in last.parent.glob("*.ckpt"):
        assert "state_dict" in load(path)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_from_last(fake_data_dir, tmp_path):
    max_epochs = 4
    args = fit_args(fake_data_dir, max_epochs, "--checkpoint.every_n_train_steps", "3")
    run = cli_subprocess(args, tmp_path)
    wait_for("lightning_logs/version_0/checkpoints/last.ckpt", tmp_path, run)
    run.send_signal(signal.SIGKILL)
    assert finish(run) == -signal.SIGKILL
    checkpoints = list(tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    killed_at = {path.name: load(path)["global_step"] for path in checkpoints}  # each loads: none truncated
    assert 0 < killed_at["last.ckpt"] < max_epochs * STEPS_PER_EPOCH

    # A new process: Lightning alone would look for last.ckpt in its new, empty version_1 folder.
    resumed = cli_subprocess([*args, "--ckpt_path", "last"], tmp_path)
    assert finish(resumed) == 0, (tmp_path / "run.log").read_text()
    final = load(tmp_path / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt")
    assert final["epoch"] == max_epochs - 1
    assert final["global_step"] > killed_at["last.ckpt"]
    log = (tmp_path / "run.log").read_text()
    assert "Restoring states from the checkpoint path at" in log
    assert f"`Trainer.fit` stopped: `max_epochs={max_epochs}` reached." in log and "Test accuracy" in log


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_last_and_stop(fake_data_dir, tmp_path, signum):
    run = cli_subprocess(fit_args(fake_data_dir, 1000, "--checkpoint.every_n_train_steps", "3"), tmp_path)
    wait_for("lightning_logs/version_0/checkpoints/last.ckpt", tmp_path, run)
    run.send_signal(signum)
    assert finish(run) == 128 + signum
    log = (tmp_path / "run.log").read_text()
    assert f"mnist-rnn: stopped by {signal.Signals(signum).name} at epoch" in log
    assert "Traceback" not in log
    last = load(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt")
    assert f"step {last['global_step']};" in log  # the message names the step that was saved


def test_last_checkpoint_is_refreshed_every_epoch(fake_data_dir, in_tmp_dir):
    # Lightning alone rewrites last.ckpt only when val/acc improves; a constant lr of 0 never improves it.
    checkpoint = SafeModelCheckpoint(dirpath="ckpts", save_last=True, monitor="val/acc", mode="max")
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    trainer = Trainer(max_epochs=3, callbacks=[checkpoint], logger=False, enable_progress_bar=False)
    model = RNNClassifier(hidden_size=16)
    model.configure_optimizers = lambda: torch.optim.SGD(model.parameters(), lr=0.0)
    trainer.fit(model, datamodule=data)
    assert load(in_tmp_dir / "ckpts" / "last.ckpt")["global_step"] == 3 * STEPS_PER_EPOCH


def test_find_last_checkpoint_takes_the_newest(tmp_path):
    for version in (0, 1):
        folder = tmp_path / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        torch.save({"state_dict": {}}, folder / "last.ckpt")
        time.sleep(0.01)
    assert find_last_checkpoint([tmp_path / "version_*" / "checkpoints"]).parent.parent.name == "version_1"
    with pytest.raises(UserError, match="no last.ckpt"):
        find_last_checkpoint([tmp_path / "nothing"])


def test_check_checkpoint_refuses_what_is_not_one(tmp_path):
    (tmp_path / "text.ckpt").write_text("hello")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    torch.save({"state_dict": {}}, tmp_path / "good.ckpt")
    for name, message in (
        ("missing.ckpt", "no such file"),
        ("text.ckpt", "not a checkpoint"),
        ("other.pt", "no state_dict"),
    ):
        with pytest.raises(UserError, match=message):
            check_checkpoint(tmp_path / name)
    check_checkpoint(tmp_path / "good.ckpt")


def test_the_random_state_travels_with_the_checkpoint():
    # So a resumed run shuffles on as the first one would have, instead of replaying its first epochs.
    torch.manual_seed(0)
    first_epoch = torch.randperm(100)
    state = SafeModelCheckpoint().state_dict()
    second_epoch = torch.randperm(100)
    torch.manual_seed(0)  # what a resumed process does first
    SafeModelCheckpoint().load_state_dict(state)
    resumed = torch.randperm(100)
    assert torch.equal(resumed, second_epoch) and not torch.equal(resumed, first_epoch)
