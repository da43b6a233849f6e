import pytest
import torch
from lightning.pytorch import Trainer

from mnist_rnn.checkpoint import SafeModelCheckpoint
from mnist_rnn.cli import main
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.errors import NonFiniteLossError
from mnist_rnn.finite_loss import StopOnNonFiniteLoss
from mnist_rnn.model import RNNClassifier
from tests.nan_model import NaNAtStep


def fit(model, data_dir, precision="32-true", accumulate_grad_batches=1, **callback_args) -> Trainer:
    data = MNISTDataModule(data_dir=str(data_dir), val_size=40, batch_size=20)
    trainer = Trainer(
        max_epochs=1, callbacks=[StopOnNonFiniteLoss(**callback_args)], logger=False, enable_progress_bar=False,
        enable_checkpointing=False, precision=precision, accumulate_grad_batches=accumulate_grad_batches,
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    return trainer


@pytest.mark.parametrize("check_every_n_steps", [None, 4])
def test_nan_loss_stops_the_run_and_names_the_step(fake_data_dir, in_tmp_dir, check_every_n_steps):
    model = NaNAtStep(bad_step=6, hidden_size=16)
    with pytest.raises(NonFiniteLossError, match="NaN or infinite at step 6 "):
        fit(model, fake_data_dir, check_every_n_steps=check_every_n_steps)
    # Read every step on a CPU, so the NaN never reaches a second optimiser step.
    if check_every_n_steps is None:
        assert model.global_step == 7


def test_with_accumulated_gradients_the_step_named_is_the_one_the_nan_went_into(fake_data_dir, in_tmp_dir):
    """With --trainer.accumulate_grad_batches 2 the first batch of step 3 was named "step 2" (the step before),
    and a NaN in the very first batch was not recorded at all (step -1, the mark for "none yet")."""
    for bad_step in (3, 0):
        with pytest.raises(NonFiniteLossError, match=f"NaN or infinite at step {bad_step} "):
            fit(NaNAtStep(bad_step=bad_step, hidden_size=16), fake_data_dir, accumulate_grad_batches=2)


def test_under_float16_weights_the_advice_is_the_precision_not_the_learning_rate(fake_data_dir, in_tmp_dir):
    """With 16-true Adam's eps (1e-8) is 0 in float16: on MNIST fast.yaml's run became NaN within 21 steps
    whatever the learning rate. The message says so instead of suggesting a lower one."""
    with pytest.raises(NonFiniteLossError, match=r"at step 3 .*With float16 weights \(--trainer.precision 16-true\)"):
        fit(NaNAtStep(bad_step=3, hidden_size=16), fake_data_dir, precision="16-true")


def test_a_nan_in_the_last_step_of_an_epoch_reaches_no_checkpoint(fake_data_dir, tmp_path):
    """On an accelerator the record is read only every few steps. When validation runs more than once per epoch
    (or not every epoch) Lightning saves the checkpoints at the end of each validation, before
    on_train_epoch_end: the record is read before validating, so last.ckpt keeps the last good weights and
    ``--ckpt_path last`` resumes from a sound state."""
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)  # 10 steps per epoch
    checkpoints = SafeModelCheckpoint(dirpath=tmp_path, monitor="val/acc", mode="max", save_last=True)
    trainer = Trainer(
        max_epochs=3, val_check_interval=0.5, callbacks=[StopOnNonFiniteLoss(check_every_n_steps=1000), checkpoints],
        logger=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    with pytest.raises(NonFiniteLossError, match="at step 19 "):  # the last step of the second epoch
        trainer.fit(NaNAtStep(bad_step=19, hidden_size=16, lr_schedule="constant"), datamodule=data)
    last = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert last["global_step"] == 15  # from the validation in the middle of the epoch, the last before the NaN
    for path in tmp_path.glob("*.ckpt"):
        checkpoint = torch.load(path, weights_only=False)
        assert all(torch.isfinite(value).all() for value in checkpoint["state_dict"].values()), path.name


def test_finite_losses_train_to_the_end(fake_data_dir, in_tmp_dir):
    trainer = fit(RNNClassifier(hidden_size=16), fake_data_dir)
    assert trainer.state.finished and trainer.current_epoch == 1


def test_cli_reports_it_in_one_line(fake_data_dir, in_tmp_dir, capsys, monkeypatch):
    monkeypatch.setattr("mnist_rnn.cli.RNNClassifier", NaNAtStep2)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                "--data.data_dir",
                str(fake_data_dir),
                "--data.val_size",
                "40",
                "--data.batch_size",
                "20",
                "--trainer.enable_progress_bar",
                "false",
                "--model.hidden_size",
                "16",
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "mnist-rnn: error: the training loss became NaN or infinite at step 2 (epoch 0)" in err
    # The default recipe clips at 1.0 already: the advice is a tighter clip, not the one the run had.
    assert "Try a lower --model.lr, or a smaller --trainer.gradient_clip_val (this run's: 1.0)" in err
    assert "Traceback" not in err


class NaNAtStep2(NaNAtStep):
    def __init__(self, **kwargs) -> None:
        super().__init__(bad_step=2, **kwargs)
