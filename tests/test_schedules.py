"""A resumed run with another length keeps its own schedule length and takes only the step from the checkpoint."""

import pytest
import torch

from mnist_rnn.schedules import StretchableCosineAnnealingLR, StretchableOneCycleLR


def finished(schedule_class, steps: int, **kwargs):
    """The scheduler state at the end of a run of ``steps`` steps (lr 0.1)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = schedule_class(optimizer, **kwargs)
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return scheduler.state_dict()


@pytest.mark.parametrize(
    "schedule_class,length",
    [(StretchableOneCycleLR, {"max_lr": 0.1, "total_steps": 10}), (StretchableCosineAnnealingLR, {"T_max": 10})],
)
def test_a_longer_run_continues_at_the_restored_step_of_its_own_schedule(schedule_class, length, capsys):
    state = finished(schedule_class, 10, **length)
    longer = {key: 20 if key in ("total_steps", "T_max") else value for key, value in length.items()}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = schedule_class(optimizer, **longer)  # what configure_optimizers builds for the longer run
    for _ in range(10):  # the lr of step 10 on a schedule planned for 20 steps
        optimizer.step()
        scheduler.step()
    expected = optimizer.param_groups[0]["lr"]
    resumed_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    resumed = schedule_class(resumed_optimizer, **longer)
    resumed.load_state_dict(state)  # what Lightning does on --ckpt_path
    assert resumed_optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert "spanned 10 steps, this run spans 20" in capsys.readouterr().err
    for _ in range(9):  # on to the new end (the first schedule would have failed at once), as planned
        for opt, sched in ((optimizer, scheduler), (resumed_optimizer, resumed)):
            opt.step()
            sched.step()
        assert resumed_optimizer.param_groups[0]["lr"] == pytest.approx(optimizer.param_groups[0]["lr"])


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_the_schedule_spans_the_steps_of_a_changing_accumulation(schedule, fake_data_dir, in_tmp_dir):
    """Lightning's estimate of the optimiser steps ignores GradientAccumulationScheduler: the one-cycle schedule
    was planned for every batch, and the run ended near its peak lr instead of annealed."""
    from pathlib import Path

    from mnist_rnn.cli import main
    from tests.helpers import QUIET, data_args

    accumulation = [
        "--trainer.callbacks+=GradientAccumulationScheduler", "--trainer.callbacks.scheduling", "{0: 2, 1: 4}"
    ]  # fmt: skip
    args = [*data_args(fake_data_dir), *QUIET, "--model.hidden_size", "8", "--model.lr_schedule", schedule]
    main(["fit", *args, "--trainer.max_epochs", "2", *accumulation])
    last = torch.load(Path("lightning_logs/version_0/checkpoints/last.ckpt"), weights_only=False)
    # 10 batches of 20 per epoch: 5 steps accumulating 2, then 3 accumulating 4 (the last one of 2 batches).
    assert last["global_step"] == 8
    state = last["lr_schedulers"][0]
    assert state["last_epoch"] == state.get("total_steps", state.get("T_max")) == 8
    assert state["_last_lr"][0] < 0.1 * last["hyper_parameters"]["lr"]  # annealed, not stopped near its peak


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_the_schedule_starts_from_the_lr_a_learning_rate_finder_found(schedule, fake_data_dir, in_tmp_dir):
    """Lightning's LearningRateFinder sets the model's lr after the optimiser and its schedule were made: the
    schedule kept the config's lr, while the checkpoint named the found one as the lr it trained with."""
    from pathlib import Path

    from mnist_rnn.cli import main
    from tests.helpers import QUIET, data_args

    finder = [
        "--trainer.callbacks+=LearningRateFinder", "--trainer.callbacks.num_training_steps", "30",
        "--trainer.callbacks.early_stop_threshold", "null", "--data.batch_size", "5",  # 40 batches: 30 lrs tried
    ]  # fmt: skip
    args = [*data_args(fake_data_dir), *QUIET, "--model.hidden_size", "8", "--model.lr_schedule", schedule]
    main(["fit", *args, "--model.lr", "0.01", "--trainer.max_epochs", "1", *finder])
    last = torch.load(Path("lightning_logs/version_0/checkpoints/last.ckpt"), weights_only=False)
    found = last["hyper_parameters"]["lr"]
    assert found != 0.01  # the finder chose another lr
    start = last["lr_schedulers"][0]["base_lrs"][0]  # one-cycle starts at its peak / 25, cosine at its peak
    assert start == pytest.approx(found / 25 if schedule == "onecycle" else found)
