"""Two processes on the CPU (DDP over gloo), as a real subprocess: Lightning re-launches the command line."""

import pytest
import torch

from tests.helpers import TRAIN_IMAGES, cli_subprocess, finish


@pytest.mark.slow
@pytest.mark.parametrize("device_resident", ["false", "true"])  # DataLoader + DistributedSampler, or DeviceBatches
def test_two_process_ddp_fit_shards_the_data_and_writes_one_checkpoint_set(fake_data_dir, tmp_path, device_resident):
    val_size, batch_size = 40, 20
    args = [
        "fit", "--data.data_dir", str(fake_data_dir), "--data.val_size", str(val_size),
        "--data.batch_size", str(batch_size), "--model.hidden_size", "16", "--trainer.max_epochs", "2",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--data.device_resident", device_resident,
    ]  # fmt: skip
    assert finish(cli_subprocess(args, tmp_path), timeout=300) == 0, (tmp_path / "run.log").read_text()
    log = (tmp_path / "run.log").read_text()
    assert "Starting with 2 processes" in log
    assert log.count("Test accuracy") == 1  # printed by global rank 0 only
    assert "sync_dist=True" not in log  # Lightning's warning when an epoch metric is not synchronised
    # One run folder, one set of checkpoints: rank 1 neither logs nor writes.
    assert [p.name for p in (tmp_path / "lightning_logs").iterdir()] == ["version_0"]
    checkpoints = sorted(p.name for p in (tmp_path / "lightning_logs" / "version_0" / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and "last.ckpt" in checkpoints and checkpoints[0].startswith("best-")
    # Each process trained on its own half: an epoch takes half the steps of a one-process run.
    last = torch.load(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    steps_per_epoch = (TRAIN_IMAGES - val_size) // 2 // batch_size
    assert last["global_step"] == 2 * steps_per_epoch
