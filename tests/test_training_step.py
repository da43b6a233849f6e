"""The training step (issues 23, 24): augmentation as a batch hook, the network called whole, the gradient
norm in the logs, the CUDA-graph option off a GPU, and the initialisations for long sequences."""

import math

import pytest
import torch
from lightning.pytorch import Trainer

from mnist_rnn.cli import main
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier
from tests.helpers import QUIET, SEED_CONFIG, data_args


def refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI with ``args`` that must be refused: exit status 2 and one error line (the tiny fake data set
    adds its own warning line about val_size), which is returned."""
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("mnist-rnn: error: "), errors
    return errors[0]


def quiet_trainer(**settings) -> Trainer:
    return Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, **settings)  # fmt: skip


def test_training_batches_are_augmented_by_the_hook_and_the_network_is_called_whole(fake_data_dir):
    """The network's own forward sees the augmented float pixels in training, the raw uint8 ones in validation."""
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    model = RNNClassifier(hidden_size=8, augment_shift=2.0, augment_rotation=10.0)
    seen: dict[str, list[torch.dtype]] = {"train": [], "eval": []}
    model.network.register_forward_pre_hook(
        lambda module, args: seen["train" if module.training else "eval"].append(args[0].dtype)
    )
    quiet_trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=2, num_sanity_val_steps=0).fit(model, data)
    assert seen["train"] == [torch.float32] * 3 and seen["eval"] == [torch.uint8] * 2
    # The hook moves the pixels: an augmented batch differs from its scaled original, values stay in [0, 1].
    images = next(iter(data.train_dataloader()))[0]
    model.trainer.training = True
    moved, _ = model.on_after_batch_transfer((images, torch.zeros(len(images))), 0)
    assert moved.dtype == torch.float32 and not torch.equal(moved, images.float() / 255)
    assert 0 <= moved.min() and moved.max() <= 1


def test_grad_norm_is_the_norm_before_clipping_on_logging_steps(fake_data_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    model = RNNClassifier(hidden_size=8)
    clip = 1e-4
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=4, limit_val_batches=0, gradient_clip_val=clip,
                            log_every_n_steps=2)  # fmt: skip
    trainer.fit(model, data)
    norm = trainer.callback_metrics["train/grad_norm"]
    assert norm > 100 * clip  # clipped gradients would have a norm of at most `clip`
    # It is the global norm of the gradients the optimiser got, before clipping: recompute it for one batch.
    model.train()
    images, labels = next(iter(data.train_dataloader()))
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(images), labels, label_smoothing=0.1).backward()
    total = torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]).norm()
    assert 0.1 * total < norm < 10 * total


def test_grad_norm_under_float16_mixed_precision_is_of_the_unscaled_gradients(fake_data_dir, monkeypatch):
    """Lightning unscales the gradients before the hook that logs the norm only for an optimiser that does not do
    it in its step; the fused Adam (the default without clipping) does: the norm logged was the loss scale times
    too big. The plugin's loss scaling (1,024) against the same step without it, on the CPU, without its
    autocast (no float16 LSTM there)."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    # No autocast here, so no bfloat16 LSTM: the model's refusal of 16-mixed on a CPU without one does not apply.
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "native")

    class LossScalingOnly(MixedPrecision):
        def autocast_context_manager(self) -> torch.autocast:
            return torch.autocast("cpu", enabled=False)

    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    norms = {}
    for name in ("float32", "16-mixed"):
        torch.manual_seed(0)
        model = RNNClassifier(hidden_size=8)
        plugins = []
        if name == "16-mixed":
            scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
            plugins = [LossScalingOnly("16-mixed", "cpu", scaler=scaler)]
        trainer = quiet_trainer(max_steps=1, limit_val_batches=0, log_every_n_steps=1, plugins=plugins)
        trainer.fit(model, data)
        assert model._can_fuse_optimizer()
        norms[name] = float(trainer.callback_metrics["train/grad_norm"])
    assert norms["16-mixed"] == pytest.approx(norms["float32"], rel=1e-4), norms


def test_permuted_runs_refuse_2d_augmentation_in_one_line_and_write_nothing(fake_data_dir, in_tmp_dir, capsys):
    error = refused(
        ["fit", *data_args(fake_data_dir), *QUIET, "--model.sequence", "permuted", "--model.augment_erase", "0.5"],
        capsys,
    )
    assert "--model.augment_shift 0" in error and "--model.augment_erase 0" in error and "psmnist" in error
    assert not (in_tmp_dir / "lightning_logs").exists()


def test_cuda_graph_true_off_a_gpu_is_one_line(fake_data_dir, in_tmp_dir, capsys):
    error = refused(
        ["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *QUIET, "--model.cuda_graph", "true"], capsys
    )
    assert "cuda_graph true needs a CUDA GPU" in error
    assert not (in_tmp_dir / "lightning_logs").exists()


@pytest.mark.parametrize("setting", ["auto", "false"])
def test_cuda_graph_auto_and_false_train_eagerly_on_a_cpu(fake_data_dir, setting):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    model = RNNClassifier(hidden_size=8, cuda_graph={"auto": "auto", "false": False}[setting])
    quiet_trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(model, data)
    assert model.graphed is None and "cuda_graph" not in model.hparams  # a property of the machine, not saved


def test_chrono_init_spans_the_sequence_and_orthogonal_init_keeps_norms():
    model = RNNClassifier(sequence="pixels", chrono_init=True, orthogonal_init=True, hidden_size=16)
    lstm, hidden = model.network.rnn, 16
    for layer in range(2):
        bias_ih, bias_hh = getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}")
        forget, input_gate = bias_ih[hidden : 2 * hidden], bias_ih[:hidden]
        assert forget.min() >= 0 and forget.max() <= math.log(783) and forget.max() > math.log(20)
        assert torch.equal(input_gate, -forget)
        assert not bias_ih[2 * hidden :].any() and not bias_hh.any()
        for gate in getattr(lstm, f"weight_hh_l{layer}").split(hidden):
            assert torch.allclose(gate @ gate.T, torch.eye(hidden), atol=1e-5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"cell": "gru", "chrono_init": True}, "chrono_init applies to LSTM"),
     ({"chrono_init": True, "forget_bias": 1.0}, "drop forget_bias")],
)  # fmt: skip
def test_chrono_init_refuses_what_it_cannot_do(settings, message):
    with pytest.raises(ValueError, match=message):
        RNNClassifier(**settings)
