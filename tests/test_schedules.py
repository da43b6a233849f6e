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
