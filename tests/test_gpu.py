"""The training step on a CUDA GPU (issue 23): device-resident batches, no host-device synchronisation inside
a step, and the CUDA graph of the network with checkpoints, resume, the NaN stop, clipping, the lr schedule,
mixed precision and the DDP wrapper. Marked ``gpu``: skipped without CUDA, run on a GPU machine by
``benchmarks/gpu_session.sh tests``."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from mnist_rnn.checkpoint import SafeModelCheckpoint
from mnist_rnn.cli import main
from mnist_rnn.data import DeviceBatches, MNISTDataModule
from mnist_rnn.errors import NonFiniteLossError
from mnist_rnn.finite_loss import StopOnNonFiniteLoss
from mnist_rnn.model import RNNClassifier
from tests.helpers import QUIET, SEED_CONFIG, TRAIN_IMAGES, cli_subprocess, data_args, finish
from tests.nan_model import NaNAtStep

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)"),
]

VAL_SIZE, BATCH = 40, 64  # 200 training images: three batches of 64 and a last one of 8, which runs eagerly
GPU = ["--trainer.accelerator", "gpu", "--trainer.devices", "1"]


def seed_model(**settings) -> RNNClassifier:
    """The lab's settings (no dropout, no augmentation: a deterministic step), small."""
    base = {"hidden_size": 32, "dropout": 0.0, "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0,
            "lr_schedule": "constant", "label_smoothing": 0.0, "augment_shift": 0.0, "augment_rotation": 0.0,
            "augment_scale": 0.0}  # fmt: skip
    return RNNClassifier(**{**base, **settings})


def gpu_trainer(**settings) -> Trainer:
    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
             "enable_model_summary": False, "num_sanity_val_steps": 0}  # fmt: skip
    return Trainer(accelerator="gpu", devices=1, **{**quiet, **settings})


def data(fake_data_dir: Path) -> MNISTDataModule:
    return MNISTDataModule(data_dir=str(fake_data_dir), val_size=VAL_SIZE, batch_size=BATCH)


class Watch(Callback):
    """Records, per training batch, whether the graph was there and fitted, the lr the step used and the
    clipped gradient norm."""

    def __init__(self) -> None:
        self.replayed: list[bool] = []
        self.clipped_norms: list[float] = []
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        graphed = pl_module.graphed
        self.replayed.append(graphed is not None and graphed.fits(batch[0]))
        norms = [p.grad.norm() for p in pl_module.parameters() if p.grad is not None]
        self.clipped_norms.append(float(torch.stack(norms).norm()))


def test_batches_live_on_the_gpu(fake_data_dir):
    module = data(fake_data_dir)
    model = seed_model()
    trainer = gpu_trainer(max_epochs=1, limit_val_batches=0)
    trainer.fit(model, module)
    loader = module.train_dataloader()
    assert isinstance(loader, DeviceBatches) and loader.images.is_cuda and module.train_set.images.is_cuda


class SyncGuard(Callback):
    """Turns any host-device synchronisation into an error from the start of a training batch to its end,
    after the first ``skip`` batches (the CUDA graph's capture synchronises, once)."""

    def __init__(self, skip: int = 3) -> None:
        self.skip, self.guarded = skip, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx >= self.skip:
            torch.cuda.set_sync_debug_mode("error")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if torch.cuda.get_sync_debug_mode():
            self.guarded += 1
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("cuda_graph", [False, True])
@pytest.mark.parametrize("recipe", ["seed", "default"])
def test_a_training_step_never_waits_for_the_gpu(fake_data_dir, cuda_graph, recipe):
    """Between logging points nothing in a step (augmentation, forward, loss, accuracy, the NaN record,
    backward, clipping, fused Adam, the schedule) copies to the host or synchronises."""
    module = MNISTDataModule(data_dir=str(fake_data_dir), val_size=VAL_SIZE, batch_size=10)  # 20 steps
    model = (
        seed_model(cuda_graph=cuda_graph) if recipe == "seed" else RNNClassifier(hidden_size=32, cuda_graph=cuda_graph)
    )
    guard = SyncGuard()
    callbacks = [guard, StopOnNonFiniteLoss(check_every_n_steps=1000)]
    trainer = gpu_trainer(max_epochs=1, limit_val_batches=0, log_every_n_steps=1000, gradient_clip_val=1.0,
                          callbacks=callbacks)  # fmt: skip
    trainer.fit(model, module)
    assert guard.guarded == 20 - guard.skip


def test_the_graph_trains_as_the_eager_step_does(fake_data_dir):
    weights = []
    for cuda_graph in (False, True):
        torch.manual_seed(0)
        model = seed_model(cuda_graph=cuda_graph)
        watch = Watch()
        gpu_trainer(max_epochs=2, limit_val_batches=0, callbacks=[watch]).fit(model, data(fake_data_dir))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        if cuda_graph:  # every full batch replayed the graph; the last, smaller one of each epoch ran eagerly
            assert watch.replayed == [True, True, True, False] * 2
    assert torch.allclose(weights[0], weights[1], rtol=1e-3, atol=1e-4)


def test_clipping_and_the_lr_schedule_work_with_the_graph(fake_data_dir):
    model = seed_model(cuda_graph=True, lr_schedule="onecycle")
    watch = Watch()
    trainer = gpu_trainer(max_epochs=2, limit_val_batches=0, gradient_clip_val=1e-3, log_every_n_steps=1,
                          callbacks=[watch])  # fmt: skip
    trainer.fit(model, data(fake_data_dir))
    assert max(watch.clipped_norms) <= 1e-3 * 1.01  # clipped after the graph's backward
    assert trainer.callback_metrics["train/grad_norm"] > 1e-2  # logged before clipping
    # 2 epochs of 4 batches: the schedule's 8 steps, warming up to the peak lr and annealed at the last step
    # (the scheduler's own lr after that step is past the schedule's end, and never used).
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == len(watch.lrs) == 8
    assert max(watch.lrs) > 0.9 * model.hparams.lr and watch.lrs[-1] < 1e-3 * model.hparams.lr


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true"])  # bf16-true: bfloat16 weights, float32 batches
def test_bf16_precision_with_the_graph(fake_data_dir, precision):
    model = seed_model(cuda_graph=True)
    trainer = gpu_trainer(max_epochs=1, limit_val_batches=0, precision=precision, log_every_n_steps=1)
    trainer.fit(model, data(fake_data_dir))
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_the_nan_stop_names_the_step_with_the_graph(fake_data_dir):
    model = NaNAtStep(bad_step=5, hidden_size=32, cuda_graph=True, lr_schedule="constant")
    trainer = gpu_trainer(max_epochs=3, limit_val_batches=0, callbacks=[StopOnNonFiniteLoss(check_every_n_steps=4)])
    with pytest.raises(NonFiniteLossError, match="at step 5 "):
        trainer.fit(model, data(fake_data_dir))


def test_the_gpus_random_state_travels_with_the_checkpoint():
    """The augmentation draws on the GPU from its own generator: a resumed run replayed the first epochs'
    moves (tests/test_checkpoint.py has the CPU's)."""
    on_the_gpu = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cuda", 0)))
    saving, resuming = SafeModelCheckpoint(), SafeModelCheckpoint()
    saving._trainer = resuming._trainer = on_the_gpu
    torch.cuda.manual_seed(0)
    first_epoch = torch.rand(100, device="cuda")
    state = saving.state_dict()
    second_epoch = torch.rand(100, device="cuda")
    torch.cuda.manual_seed(0)  # what a resumed process does first
    resumed_state = torch.load(_saved(state), weights_only=True)  # as a checkpoint file holds it
    resuming.load_state_dict(resumed_state)
    resumed = torch.rand(100, device="cuda")
    assert torch.equal(resumed, second_epoch) and not torch.equal(resumed, first_epoch)


def _saved(state: dict) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_checkpoint_and_resume_through_the_cli_with_the_graph(fake_data_dir, in_tmp_dir, capsys):
    args = ["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *QUIET, *GPU, "--data.batch_size", "64",
            "--model.cuda_graph", "true"]  # fmt: skip
    main([*args, "--trainer.max_epochs", "1"])
    main([*args, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert capsys.readouterr().out.count("Test accuracy") == 2
    last = torch.load(Path("lightning_logs/version_1/checkpoints/last.ckpt"), weights_only=True)
    assert last["global_step"] == 2 * math.ceil((TRAIN_IMAGES - VAL_SIZE) / 64) and last["epoch"] == 1


@pytest.mark.slow
def test_the_ddp_wrapper_with_the_graph(fake_data_dir, tmp_path):
    """One GPU, so one process under DDP: the graph's backward feeds DDP's gradient hooks. (Two processes'
    shards of device-resident batches are tested on the CPU: tests/test_distributed.py.)"""
    args = ["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *QUIET, *GPU, "--trainer.strategy", "ddp",
            "--model.cuda_graph", "true", "--trainer.max_epochs", "2"]  # fmt: skip
    assert finish(cli_subprocess(args, tmp_path), timeout=300) == 0, (tmp_path / "run.log").read_text()
    assert "Test accuracy" in (tmp_path / "run.log").read_text()
