"""The LightningModule: the plain network of :mod:`mnist_rnn.network` plus how it is trained.

The network (scaling, standardisation, image to sequence, recurrent layers, head) is ``self.network``;
this class adds the loss, the metrics, the optimiser and its schedule, the augmentation and Lightning's
hooks. Augmentation runs on the device as a batch hook (``on_after_batch_transfer``), so the training step
calls the whole network exactly as validation does. Its hyperparameters stay flat, so the command line and
the configs name them as before and a checkpoint alone rebuilds the model.
"""

from __future__ import annotations

import math
import numbers
import warnings
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import Tensor
from torch.utils.flop_counter import flop_registry, register_flop_formula
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

from mnist_rnn import precision as precisions
from mnist_rnn.augment import random_affine, random_erase, random_flip
from mnist_rnn.calibration import N_BINS
from mnist_rnn.cpu_threads import CPUThreads
from mnist_rnn.cuda_graph import CudaGraphSetting, GraphedNetwork, wanted
from mnist_rnn.errors import SettingsError, UserError, pasted, tell
from mnist_rnn.figures import TestFigures, TrainingCharts, run_settings
from mnist_rnn.network import CELLS, NETWORK_DEFAULTS, SEQUENCES, Cell, RNNNetwork, Sequence
from mnist_rnn.process_group import destroy_at_exit
from mnist_rnn.schedules import StretchableCosineAnnealingLR, StretchableOneCycleLR
from mnist_rnn.tools import program_name

# Lightning warns whenever the model, not the data module, transforms batches (on_after_batch_transfer): here
# that is the design (the augmentation settings are the model's), so the warning would only mislead users.
warnings.filterwarnings("ignore", message=r"You have overridden `on_after_batch_transfer` in `LightningModule`")


def _recurrent_flops(input_shape: torch.Size, weight_shapes: list[torch.Size]) -> int:
    """The multiply-adds of fused recurrent layers, counted as torch counts a matrix product (2 per multiply-add):
    every weight matrix meets every step of every sequence once (biases and gate arithmetic, like torch's own
    formulas for elementwise work, are not counted). ``input_shape`` is (steps, batch, features), batch first, or
    (steps of all sequences, features) when packed."""
    steps = math.prod(input_shape[:-1])
    return sum(2 * steps * math.prod(shape) for shape in weight_shapes if len(shape) == 2)


# torch's FlopCounterMode, which Lightning's model summary runs on the model's example input (its FLOPs column),
# has no formula for the fused ops an LSTM runs on a CPU (oneDNN) and every cell on a GPU (cuDNN): the LSTM's
# FLOPs were 0 and the summary said "0 Total Flops". (A GRU or plain RNN on a CPU runs as matrix products,
# which torch counts.) Registered once, unless a torch version comes with formulas of its own.
_FUSED_RECURRENT_OPS = {
    # one layer, one direction: (input, weight_ih, weight_hh, bias_ih, bias_hh, ...)
    "mkldnn_rnn_layer": lambda input_shape, w_ih, w_hh, *args, **kwargs: _recurrent_flops(input_shape, [w_ih, w_hh]),
    # every layer and direction: (input, [weight_ih, weight_hh, (biases), (weight_hr)] per layer and direction, ...)
    "_cudnn_rnn": lambda input_shape, weights, *args, **kwargs: _recurrent_flops(input_shape, weights),
}
for _name, _formula in _FUSED_RECURRENT_OPS.items():
    _op = getattr(torch.ops.aten, _name, None)
    if _op is not None and _op not in flop_registry:
        register_flop_formula(_op)(_formula)


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
# weight_decay's default per optimiser: Adam's is an L2 term in the gradient, not AdamW's decay (docstring below).
DEFAULT_WEIGHT_DECAY = {"adam": 0.0, "adamw": 0.05}
LR_SCHEDULES = ("constant", "onecycle", "cosine")


def resolved_weight_decay(weight_decay: float | None, optimizer: str) -> float:
    """The decay an optimiser is given: ``weight_decay``, or where it is None the optimiser's own."""
    return DEFAULT_WEIGHT_DECAY.get(optimizer, 0.0) if weight_decay is None else weight_decay


# The augmentation settings; each is off at 0 (False).
AUGMENTATIONS = ("augment_shift", "augment_rotation", "augment_scale", "augment_flip", "augment_erase")


class TrainLearningRate(LearningRateMonitor):
    """Lightning's learning-rate curve, as ``train/lr`` beside train/loss and train/acc. Lightning names it by
    the optimiser's class (``lr-Adam``, ``lr-AdamW``): a group of its own, sorted before train/ and val/ in
    TensorBoard, and another for each recipe's optimiser, so that two recipes' runs never shared one chart."""

    def _extract_stats(self, trainer: Any, interval: str) -> dict[str, Any]:  # Lightning's, renamed on the way out
        stats = super()._extract_stats(trainer, interval)
        return {
            ("train/lr" if name.startswith("lr-") and "/" not in name else name): value for name, value in stats.items()
        }


class RNNClassifier(LightningModule):
    """A recurrent classifier of MNIST-style images, read as a sequence.

    With the defaults the network is the lab's: 28 time steps (the image rows) of 28 pixels, a 2-layer LSTM
    with 128 hidden units, and a Linear layer on the last time step. The training defaults are this
    project's recipe (``configs/default.yaml``: AdamW, one-cycle, dropout, label smoothing, augmentation);
    ``configs/seed.yaml`` gives the lab's training exactly (Adam at a fixed lr 0.01).

    Args:
        cell: Recurrent cell: ``lstm``, ``gru`` or ``rnn`` (tanh).
        hidden_size: Units per recurrent layer (and direction).
        num_layers: Stacked recurrent layers.
        bidirectional: Read each sequence both ways and classify from both final states.
        dropout: Dropout between recurrent layers (needs ``num_layers`` > 1) and before the Linear layer.
        forget_bias: LSTM only. ``None`` keeps PyTorch's initial biases (uniform, as in the lab); a number
            starts every bias at 0 except the forget gates', which start at this value. With 1.0 the
            gates start open, so the gradient reaches early rows from the first step (Jozefowicz et al.,
            2015); it trains faster in short runs (``configs/fast.yaml``).
        chrono_init: LSTM only, instead of ``forget_bias``: chrono initialisation (Tallec & Ollivier, 2018):
            forget-gate biases ``log(U(1, steps - 1))`` and input-gate biases their negatives, so the cells
            start out remembering over spans of 1 to ``steps`` time steps: for 784-step pixel sequences.
        orthogonal_init: Start the recurrent (hidden-to-hidden) weights as orthogonal matrices, one per gate,
            which keep the norm of the state through many steps (Saxe et al., 2014; Henaff et al., 2016).
        sequence: How an image becomes a sequence: ``rows`` (28 steps of 28 pixels), ``pixels`` (784 steps
            of 1 pixel) or ``permuted`` (784 steps of 1 pixel in a fixed random order).
        permutation_seed: Seed of the pixel order in ``permuted`` mode (saved, so a reload gets the same one).
        num_classes: Output classes; linked from the data by the CLI.
        image_size: Height (= width) of the images; linked from the data by the CLI.
        mean: Pixel mean of the training set in [0, 1]; linked from the data by the CLI.
        std: Pixel standard deviation of the training set; linked from the data by the CLI.
        normalize: Standardise the pixels with ``mean`` and ``std`` before the recurrent layers. ``False``
            feeds them in [0, 1], as torchvision's ``ToTensor`` did in the lab (``configs/seed.yaml``).
        dataset: Name of the data set the model is trained on; linked from the data by the CLI.
        class_names: Names of the classes, index order; linked from the data by the CLI.
        optimizer: ``adam`` or ``adamw`` (decoupled weight decay).
        lr: Learning rate (the peak one under a schedule).
        weight_decay: Weight decay: AdamW's decay of the weights, apart from the gradient; for Adam an L2 term
            added to the gradient, which Adam's scaling makes far stronger (at AdamW's 0.05 Adam's weights stayed
            near zero and nothing trained). ``None``: 0.05 for AdamW, 0 for Adam.
        lr_schedule: ``constant``, ``onecycle`` (warm-up then cosine annealing, per step) or ``cosine``
            (cosine annealing to zero, per step).
        label_smoothing: Label smoothing of the cross-entropy loss.
        augment_shift: Largest random shift of training images, in pixels (0: none).
        augment_rotation: Largest random rotation of training images, in degrees (0: none).
        augment_scale: Largest random relative change of size of training images (0: none).
        augment_flip: Mirror half of the training images left-right. For clothes (Fashion-MNIST), where a
            mirrored garment is still the same garment; never for digits.
        augment_erase: Probability of blanking one random rectangle of a training image (random erasing;
            0: none).
        cuda_graph: Replay the network's training forward and backward as CUDA graphs (one launch for all
            of a step's kernels, :mod:`mnist_rnn.cuda_graph`): ``auto`` on a CUDA GPU, off elsewhere;
            ``true`` is refused off a GPU.
    """

    def __init__(
        self,
        cell: Cell = NETWORK_DEFAULTS["cell"],
        hidden_size: int = NETWORK_DEFAULTS["hidden_size"],
        num_layers: int = NETWORK_DEFAULTS["num_layers"],
        bidirectional: bool = NETWORK_DEFAULTS["bidirectional"],
        dropout: float = NETWORK_DEFAULTS["dropout"],
        forget_bias: float | None = NETWORK_DEFAULTS["forget_bias"],
        chrono_init: bool = NETWORK_DEFAULTS["chrono_init"],
        orthogonal_init: bool = NETWORK_DEFAULTS["orthogonal_init"],
        sequence: Sequence = NETWORK_DEFAULTS["sequence"],
        permutation_seed: int = NETWORK_DEFAULTS["permutation_seed"],
        num_classes: int = NETWORK_DEFAULTS["num_classes"],
        image_size: int = NETWORK_DEFAULTS["image_size"],
        mean: float = NETWORK_DEFAULTS["mean"],
        std: float = NETWORK_DEFAULTS["std"],
        normalize: bool = NETWORK_DEFAULTS["normalize"],
        dataset: str = "mnist",
        class_names: list[str] | None = None,
        optimizer: Literal["adam", "adamw"] = "adamw",
        lr: float = 0.005,
        weight_decay: float | None = None,
        lr_schedule: Literal["constant", "onecycle", "cosine"] = "onecycle",
        label_smoothing: float = 0.1,
        augment_shift: float = 2.0,
        augment_rotation: float = 10.0,
        augment_scale: float = 0.1,
        augment_flip: bool = False,
        augment_erase: float = 0.0,
        cuda_graph: CudaGraphSetting = "auto",
    ) -> None:
        super().__init__()
        _check_settings(locals())
        # cuda_graph says how this machine runs a step, not what the model is: not kept in the checkpoint.
        self.save_hyperparameters(ignore=["cuda_graph"])
        self.cuda_graph = cuda_graph
        self.network = RNNNetwork(**{name: self.hparams[name] for name in NETWORK_DEFAULTS})
        # One blank image, which Lightning's model summary runs through the model at the start of fit for its
        # FLOPs column (a forward pass of one image) and its input and output sizes: without one every FLOPs
        # count was 0, and the summary said "0 Total Flops".
        self.example_input_array = torch.zeros(1, 1, image_size, image_size, dtype=torch.uint8)
        # Checkpoints of earlier versions hold the network's weights at the top level (rnn.*, head.*).
        self.register_load_state_dict_pre_hook(_move_old_keys_into_network)
        # One metric object per stage, so their states never mix.
        # validate_args=False: the inputs are our own logits and labels, and the checks cost more than the
        # update itself (they scan the labels on every call).
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        # The evaluation loss as a metric object too, for the same reason as the accuracy: it syncs its sum and
        # count across processes, where Lightning's sync_dist averages the processes' counts as integers, off
        # when their shares differ by an image (data.py gives evaluation unpadded shares).
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        # The test set's expected calibration error, as the probabilities come out before temperature scaling
        # (T = 1) and after it (the network's temperature); see mnist_rnn.calibration.
        self.test_ece_uncalibrated = calibration_error_metric(num_classes)
        self.test_ece = calibration_error_metric(num_classes)
        # val/acc of the weights, read from their checkpoint, for TensorBoard's hyperparameters tab.
        self.checkpoint_val_acc: float | None = None
        self._validated_at_step: int | None = None  # the global step of the last validation (not a sanity check)
        self.checkpoint_run_settings: dict[str, Any] | None = None  # see figures.run_settings
        self.checkpoint_step: int | None = None  # the global step the weights were saved at (_log_at_their_step)
        # The network's training pass as a CUDA graph, captured on the first training batch (on a GPU).
        self.graphed: GraphedNetwork | None = None
        self.optimizer_lr: float | None = None  # the lr configure_optimizers made the optimiser and schedule with

    def forward(self, images: Tensor) -> Tensor:
        """Logits (B, num_classes) of a batch of images (B, 1, H, W): uint8 0-255 or float 0-1."""
        if self.graphed is not None and self.training and self.graphed.fits(images):
            return self.graphed(images)
        return self.network(images)

    # ----- checks that need the Trainer ---------------------------------------------------------------

    def prepare_data(self) -> None:
        # Lightning calls this before it creates the run's folder: a refused setting leaves nothing behind.
        self._check_data_set()
        self._check_fit_settings()

    def setup(self, stage: str) -> None:
        # prepare_data runs in one process per node; this runs in every one
        self._check_data_set()
        self._check_fit_settings()
        self._check_precision()
        destroy_at_exit()  # a gloo group left to the interpreter's exit can abort the process after its work
        if stage == "fit":
            # A validate or test before (checking a loaded checkpoint, then fine-tuning it) ran under
            # inference_mode, which left the metrics' states inference tensors: fit's validation, under no_grad,
            # then failed to add to them ("Inplace update to inference tensor outside InferenceMode").
            for metric in self.modules():
                if isinstance(metric, Metric):
                    metric.reset()
            # load_from_checkpoint hands the model out in eval mode, for reading images, and Lightning's fit keeps
            # the mode it finds: fine-tuned from Python, it trained without its dropout (and on a GPU cuDNN refuses
            # an LSTM's backward pass in eval mode). A model wholly in eval mode is not one with parts frozen on
            # purpose: it trains in training mode. Here, before the callbacks' on_fit_start: Lightning's model
            # summary said "0 Modules in train mode".
            if not any(module.training for module in self.modules()):
                self.train()

    def _check_data_set(self) -> None:
        """Refuse a data module of another data set than the model's (the CLI refuses it before; this is for
        Python code): a Fashion-MNIST checkpoint with a default ``MNISTDataModule`` had its pictures prepared as
        digits and read a quarter of them as "no garment found", and tested on MNIST scored 9%, without a word;
        a new model without the data module's settings ended in Lightning's "Error while merging hparams"."""
        trainer = self._trainer
        theirs = getattr(getattr(trainer, "datamodule", None), "dataset", None)
        ours = self.hparams.get("dataset")
        if isinstance(theirs, str) and ours and theirs != ours:
            raise SettingsError(
                f"the model is of {ours}, the data module reads {theirs}: give the data module "
                f"dataset={ours!r}, or, for a new model, build it as RNNClassifier(**datamodule.model_settings)"
            )

    def _check_precision(self) -> None:
        """Refuse, from Python, bfloat16 for an LSTM on a CPU that oneDNN has no bfloat16 LSTM for: it ended in
        oneDNN's "could not create a primitive descriptor" traceback (the command line falls back to float32
        itself, with a line saying so)."""
        trainer = self._trainer
        if trainer is None or not isinstance(trainer.accelerator, CPUAccelerator) or self.hparams.cell != "lstm":
            return
        precision = str(trainer.precision)
        if (
            precision in (*precisions.BF16_PRECISIONS, *precisions.FP16_MIXED_PRECISIONS)
            and precisions.cpu_bf16() == "none"
        ):
            raise SettingsError(
                f"precision {precision!r}: this CPU has no native bfloat16 (AVX512-BF16 or AMX), and oneDNN cannot "
                "run the LSTM in it: use Trainer(precision='32-true')"
            )

    def _check_fit_settings(self) -> None:
        """Refuse training settings that need the Trainer to judge (fit only: a checkpoint tests anywhere)."""
        trainer = self._trainer
        if trainer is None or trainer.state.fn != "fit":
            return
        hp = self.hparams
        if self.cuda_graph is True and not isinstance(trainer.accelerator, CUDAAccelerator):
            raise SettingsError(
                "--model.cuda_graph true needs a CUDA GPU (--trainer.accelerator gpu); "
                "use auto or false on this accelerator"
            )
        used = [name for name in AUGMENTATIONS if hp[name]]
        if hp.sequence == "permuted" and used:
            off = ", ".join(f"--model.{name} {'false' if name == 'augment_flip' else 0}" for name in used)
            raise SettingsError(
                f"--model.sequence permuted reads the pixels in a fixed shuffled order, so augmentation that moves "
                f"them in 2-D does not apply: set {off} (or use --config configs/psmnist.yaml)"
            )

    # ----- augmentation, on the device ----------------------------------------------------------------

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment training batches once they are on the device: float pixels in [0, 1], each image moved,
        mirrored or erased at random as the settings say. Validation, test and predict batches pass as they
        came (uint8), so ``training_step`` and ``validation_step`` both simply call the network."""
        trainer = self._trainer
        if trainer is None or not trainer.training or isinstance(batch, Tensor):  # a Tensor: the summary's image
            return batch
        images, labels = batch
        hp = self.hparams
        if not any(hp[name] for name in AUGMENTATIONS):
            return batch
        pixels = self.network.scale(images)
        pixels = random_affine(pixels, hp.augment_shift, hp.augment_rotation, hp.augment_scale)
        pixels = random_flip(pixels, 0.5 if hp.augment_flip else 0.0)
        pixels = random_erase(pixels, hp.augment_erase)
        return pixels, labels

    # ----- training and evaluation ------------------------------------------------------------------

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Capture the CUDA graph on the first training batch (already augmented, so of the training dtype)."""
        if self.graphed is not None or not wanted(self.cuda_graph, self.device):
            return
        precision = str(self.trainer.precision)
        autocast_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.graphed = GraphedNetwork(self.network, batch[0], autocast_dtype)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)
        # Tensors, not numbers: Lightning reads them only when it writes a log line or refreshes the
        # progress bar, so the step itself never waits for the GPU.
        self.train_acc.update(logits.detach(), labels)  # update only: no per-batch accuracy is computed
        if self._logs_this_step():
            self.log("train/loss", loss.detach(), prog_bar=True)
            if self.hparams.label_smoothing:
                # The loss with label smoothing cannot fall below its floor (about 0.5 at 0.1 over 10 classes),
                # so beside val/loss (plain cross-entropy) it read as a model better on unseen images than on
                # its training batches. This is the training batches' own plain cross-entropy, to compare.
                self.log("train/cross_entropy", F.cross_entropy(logits.detach(), labels))
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the global gradient norm before clipping (Lightning clips after this hook), on logging steps
        only: a device tensor, so the step does not wait for it. A plateau (vanishing) or a spike (exploding
        gradients, what clipping cuts) shows in TensorBoard's ``train/grad_norm`` curve."""
        if not self._logs_this_step():
            return
        norms = [p.grad.detach().norm() for p in self.parameters() if p.grad is not None]
        if not norms:
            return
        norm = torch.stack(norms).norm()
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)  # float16 mixed precision's loss scale
        if scaler is not None and getattr(optimizer, "_step_supports_amp_scaling", False):
            # Lightning unscales the gradients before this hook only for an optimiser that does not unscale them
            # itself; a fused Adam does, in its step: the norm was the loss scale (65,536 at first) times too big.
            norm = norm / scaler.get_scale()
        self.log("train/grad_norm", norm)

    def _logs_this_step(self) -> bool:
        """Whether the Trainer writes step metrics after this step (every ``log_every_n_steps``), or the
        epoch ends (so that even a short run has its last loss in ``trainer.callback_metrics``).

        Each ``self.log`` is a noticeable share of a small model's step in Python, and the values of the other
        steps are never written: the logger sees exactly the same curve.
        """
        trainer = self.trainer
        every = trainer.log_every_n_steps
        return (every > 0 and (trainer.global_step + 1) % every == 0) or trainer.is_last_batch

    def on_train_epoch_end(self) -> None:
        # Logged once per epoch, not from every step: each self.log of a metric object walks its whole state,
        # which costs a small model's step a sizeable share of its time.
        self.log("train/acc", self.train_acc)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        images, labels = batch
        self._evaluate(self(images), labels, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """The batch's logits and, for a one-way network, its logits after each row, for the figures of
        :class:`TestFigures`. Both come from one pass of the recurrent layers, and the logits are computed
        exactly as :meth:`forward` computes them, so the test accuracy is the same as without the rows."""
        images, labels = batch
        if self.network.bidirectional:  # it has read the whole image at every step: no reading curve
            outputs = {"logits": self._evaluate(self(images), labels, "test")}
        else:
            logits, row_logits = self.network.logits_and_row_logits(images)
            outputs = {
                "logits": self._evaluate(logits, labels, "test"),
                "row_logits": row_logits.detach(),
            }
        self._log_calibration(outputs["logits"].float(), labels)
        return outputs

    def _log_calibration(self, logits: Tensor, labels: Tensor) -> None:
        """The test set's calibration error before temperature scaling (T = 1) and after it."""
        temperature = self.network.temperature
        self.test_ece_uncalibrated.update(logits.softmax(dim=-1), labels)
        self.test_ece.update((logits / temperature).softmax(dim=-1), labels)
        self.log("test/ece_uncalibrated", self.test_ece_uncalibrated)
        self.log("test/ece", self.test_ece)
        # The same in every process; sync_dist only says so to Lightning (it warns about epoch values otherwise).
        self.log("test/temperature", temperature.float(), sync_dist=True)

    def _evaluate(self, logits: Tensor, labels: Tensor, stage: Literal["val", "test"]) -> Tensor:
        """Update and log the stage's loss and accuracy objects (each syncs its own state across processes,
        once, at the end of the epoch)."""
        loss, accuracy = getattr(self, f"{stage}_loss"), getattr(self, f"{stage}_acc")
        loss.update(F.cross_entropy(logits, labels), weight=len(labels))
        accuracy.update(logits, labels)
        self.log(f"{stage}/loss", loss, prog_bar=True)
        self.log(f"{stage}/acc", accuracy, prog_bar=True)
        return logits.detach()

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Calibrated class probabilities (B, num_classes) of a batch of images, or of (images, ...) tuples."""
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.network.probabilities(images)

    def configure_callbacks(self) -> list[Any]:
        """Callbacks that come with the model, whatever runs it: the TensorBoard figures at the end of test, the
        Custom Scalars charts of a fit, the learning-rate curve wherever there is a logger to draw it (without one
        Lightning's ``LearningRateMonitor`` refuses to run), and one torch thread per idle core on a CPU
        (:mod:`mnist_rnn.cpu_threads`: a fit from Python beside other work ran at a fraction of the CLI's speed)."""
        present = self.trainer.callbacks  # the test after fit reuses the trainer, which has ours already
        callbacks: list[Any] = []
        if not any(isinstance(callback, CPUThreads) for callback in present):
            callbacks.append(CPUThreads())
        if not any(isinstance(callback, TestFigures) for callback in present):
            callbacks.append(TestFigures())
        if not any(isinstance(callback, TrainingCharts) for callback in present):
            callbacks.append(TrainingCharts())
        if self.trainer.loggers and not any(isinstance(callback, LearningRateMonitor) for callback in present):
            callbacks.append(TrainLearningRate(logging_interval="step"))
        return callbacks

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._validated_at_step = self.trainer.global_step
        self._log_at_their_step()

    def on_test_epoch_end(self) -> None:
        self._log_at_their_step()

    def _log_at_their_step(self) -> None:
        """A test or validation of a checkpoint by itself logs its results at the step the checkpoint was saved
        at, as fit's own test logs at its last step: Lightning's Trainer counts no step outside fit, and put
        the test of a 3-epoch checkpoint at step 0 and epoch 0, beside the start of training. A logged ``step``
        is Lightning's way to give its loggers the step (it then logs no ``epoch`` point).

        Fit's own test (and a test or validation after ``fit`` in Python) logs its step too, the one Lightning
        would give it: its ``epoch`` point was the Trainer's ``current_epoch``, which the loop had already
        counted on past the last epoch trained, so the ``epoch`` curve ended one above it (1 after a run of
        epoch 0 alone), read as one more epoch trained."""
        trainer = self.trainer
        step = trainer.global_step or self.checkpoint_step  # fit's last step, else the checkpoint's
        if trainer.state.fn in ("test", "validate") and step:
            self.log("step", float(step), sync_dist=True)  # the same in every process

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the val/acc of these weights in their checkpoint, so a later test can report it, and the
        precision they trained in, so a test of the checkpoint alone (copied out of its run) runs in it.
        Only where these weights are the validated ones: ``last.ckpt``, also saved at an epoch's end without a
        validation (``check_val_every_n_epoch 2``) or on a stop, carried the val/acc of earlier weights."""
        val_acc = self.trainer.callback_metrics.get("val/acc") if self._trainer is not None else None
        if val_acc is not None and self._validated_at_step == self.trainer.global_step:
            checkpoint["val_acc"] = float(val_acc)
        if self._trainer is not None:
            checkpoint["precision"] = str(self.trainer.precision)
            if self.trainer.state.fn == "fit":  # the settings of the run that trained these weights
                checkpoint["run_settings"] = run_settings(self.trainer, self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoint_val_acc = checkpoint.get("val_acc")
        self.checkpoint_run_settings = checkpoint.get("run_settings")
        self.checkpoint_step = checkpoint.get("global_step")

    @classmethod
    def load_from_checkpoint(cls, *args: Any, **kwargs: Any) -> RNNClassifier:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``, the model in eval mode: ``.network`` (the README's) is for
        reading images, and in training mode its dropout made each call's answer differ and its input checks
        were off. Here, not in ``on_load_checkpoint``, which the Trainer calls too when it resumes a run: Lightning
        2.6's fit loop keeps the mode it finds, and a resumed run trained in eval mode, without its dropout (on
        a GPU, cuDNN refuses an LSTM's backward pass in eval mode)."""
        from fsspec.utils import get_protocol

        from mnist_rnn.checkpoint import check_checkpoint

        path = kwargs.get("checkpoint_path", args[0] if args else None)
        if isinstance(path, (str, Path)) and get_protocol(str(path)) == "file":  # not a URL (http, s3, ...)
            try:  # torch's own errors: "KeyError: 101" for a text file, a zip reader's for a truncated checkpoint
                check_checkpoint(path)
            except UserError as error:  # without the command line's names (--ckpt_path, and its best and last)
                raise type(error)(str(error).removeprefix("--ckpt_path ").split("; --ckpt_path ")[0]) from None
        loading = _loading.set(str(path) if isinstance(path, (str, Path)) else None)  # for the load hook's note
        try:
            return super().load_from_checkpoint(*args, **kwargs).eval()
        finally:
            _loading.reset(loading)

    def on_train_start(self) -> None:
        # Training changes the weights: a loaded val/acc no longer holds, nor does a loaded temperature (a run
        # resumed from a calibrated checkpoint saved that temperature, fitted to the old weights, into every
        # checkpoint after it, as if calibrated: its probabilities were wrong without a note). Back to 1, and
        # fit calibrates its best checkpoint at the end, as for a new run.
        self.checkpoint_val_acc = self.checkpoint_run_settings = self.checkpoint_step = None
        self.network.temperature.fill_(1.0)
        # Lightning's LearningRateFinder sets hparams.lr after the optimiser and its schedule were made: the
        # schedule kept the config's peak (one-cycle) or base (cosine) lr while the checkpoint named the found
        # one. Before the first step, they are made again with the lr it found.
        if self.global_step == 0 and self.optimizer_lr is not None and self.optimizer_lr != self.hparams.lr:
            self.trainer.strategy.setup_optimizers(self.trainer)

    def on_train_end(self) -> None:
        self.graphed = None  # its memory pool is the graph's: free it when training ends

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        self.optimizer_lr = hp.lr
        optimizer = OPTIMIZERS[hp.optimizer](
            self.parameters(), lr=hp.lr, weight_decay=self.weight_decay, fused=self._can_fuse_optimizer()
        )
        if hp.lr_schedule == "constant":
            return optimizer
        total_steps = max(1, self._optimizer_steps())
        if hp.lr_schedule == "onecycle":
            scheduler = StretchableOneCycleLR(optimizer, max_lr=hp.lr, total_steps=total_steps)
        else:  # cosine, the only other name _check_settings lets through
            scheduler = StretchableCosineAnnealingLR(optimizer, T_max=total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @property
    def weight_decay(self) -> float:
        """The decay the optimiser is given: the setting, or where it is None the optimiser's own."""
        return resolved_weight_decay(self.hparams.weight_decay, self.hparams.optimizer)

    def _optimizer_steps(self) -> int:
        """The optimiser steps of the whole fit, which the lr schedule spans: Lightning's estimate, unless a
        ``GradientAccumulationScheduler`` changes the accumulation from epoch to epoch (Lightning's estimate
        counts none: the one-cycle schedule was planned for 80 steps of which 30 ran, and ended near its peak).
        An epoch's last, partial accumulation makes a step too."""
        from lightning.pytorch.callbacks import GradientAccumulationScheduler

        trainer = self.trainer
        estimate = int(trainer.estimated_stepping_batches)
        scheduler = next((c for c in trainer.callbacks if isinstance(c, GradientAccumulationScheduler)), None)
        if scheduler is None or trainer.max_epochs is None or trainer.max_epochs < 1:
            return estimate
        batches = trainer.num_training_batches
        epochs = range(trainer.max_epochs)
        steps = sum(math.ceil(batches / scheduler.get_accumulate_grad_batches(epoch)) for epoch in epochs)
        return min(steps, trainer.max_steps) if trainer.max_steps > 0 else steps

    def _can_fuse_optimizer(self) -> bool:
        """Whether Adam(W) may run fused: one kernel updates every weight instead of about ten operations per
        weight tensor: a shorter optimiser step on a CPU (docs/results.md, "Performance") and fewer kernel
        launches on a GPU.

        Not where Lightning's mixed-precision plugin clips the gradients: it refuses to clip for any fused
        optimiser (fused steps unscale float16 gradients themselves, after clipping would have seen them).
        """
        if self.device.type not in ("cpu", "cuda"):
            return False  # other devices have fused kernels only in newer torch versions than we require
        trainer = self._trainer
        clips = trainer is not None and bool(trainer.gradient_clip_val)
        return not (clips and isinstance(trainer.precision_plugin, MixedPrecision))


# The settings' kinds, checked for Python callers (the CLI's types refuse others first): bidirectional="no" built
# a bidirectional network, normalize="false" standardised, hidden_size="128" ended in a comparison's TypeError.
WHOLE_SETTINGS = ("hidden_size", "num_layers", "num_classes", "image_size", "permutation_seed")
TRUE_OR_FALSE_SETTINGS = ("bidirectional", "chrono_init", "orthogonal_init", "normalize", "augment_flip")
NUMBER_SETTINGS = (
    "dropout", "mean", "std", "lr", "label_smoothing", "augment_shift", "augment_rotation", "augment_scale",
    "augment_erase",
)  # fmt: skip
NUMBER_OR_NONE_SETTINGS = ("forget_bias", "weight_decay")


def _wrong_kinds(settings: dict[str, Any]) -> list[str]:
    """The settings whose value is not of their kind (a number given as a string, a string for true or false)."""

    # Python's own int and float: numpy's scalars (np.int64 from an array) reach the checkpoint's hparams, which
    # torch.load(weights_only=True) then refuses to read, and nn.LSTM refuses an np.int64 hidden_size.
    def whole(value: Any) -> bool:
        return type(value) is int

    def number(value: Any) -> bool:
        return type(value) in (int, float)

    kinds = [
        *((name, whole, "a whole number") for name in WHOLE_SETTINGS),
        *((name, lambda value: isinstance(value, bool), "True or False") for name in TRUE_OR_FALSE_SETTINGS),
        *((name, number, "a number") for name in NUMBER_SETTINGS),
        *((name, lambda value: value is None or number(value), "a number or None") for name in NUMBER_OR_NONE_SETTINGS),
    ]

    def python(value: Any) -> str:  # np.float64(0.001) is a number: say which kind is wanted
        return (
            f" (a Python {'int' if isinstance(value, numbers.Integral) else 'float'})"
            if type(value).__module__ == "numpy"
            else ""
        )

    def shown(value: Any) -> str:  # np.int64(8) as numpy 2 writes it; numpy 1 writes 8, hiding why it is refused
        numpy_scalar = isinstance(value, numbers.Number) and type(value).__module__ == "numpy"
        return f"np.{type(value).__name__}({value.item()!r})" if numpy_scalar else repr(value)

    return [
        f"{name} must be {kind}{python(settings[name])}, got {shown(settings[name])}"
        for name, fits, kind in kinds
        if not fits(settings[name])
    ]


def _check_settings(settings: dict[str, Any]) -> None:
    """Refuse settings that make no sense before anything is built or trained."""
    wrong = _wrong_kinds(settings)
    if wrong:
        raise SettingsError("; ".join(wrong))
    problems = []
    for name in ("hidden_size", "num_layers", "num_classes", "image_size"):
        if settings[name] <= 0:
            problems.append(f"{name} must be positive, got {settings[name]}")
    for name in ("lr", "std"):
        if not settings[name] > 0:
            problems.append(f"{name} must be positive, got {settings[name]}")
    if not 0 <= settings["dropout"] < 1:
        problems.append(f"dropout must be in [0, 1), got {settings['dropout']}")
    if not 0 <= settings["label_smoothing"] < 1:
        problems.append(f"label_smoothing must be in [0, 1), got {settings['label_smoothing']}")
    if not 0 <= settings["augment_erase"] <= 1:
        problems.append(f"augment_erase must be in [0, 1], got {settings['augment_erase']}")
    if settings["weight_decay"] is not None and settings["weight_decay"] < 0:
        problems.append(f"weight_decay must be 0 or more, got {settings['weight_decay']}")
    if settings["cell"] not in CELLS:
        problems.append(f"cell must be one of {', '.join(CELLS)}, got {settings['cell']!r}")
    if settings["forget_bias"] is not None and settings["cell"] != "lstm":
        problems.append(
            f"forget_bias applies to LSTM cells only, not {settings['cell']!r}: pass --model.forget_bias null"
        )
    if settings["chrono_init"] and settings["cell"] != "lstm":
        problems.append(
            f"chrono_init applies to LSTM cells only, not {settings['cell']!r}: pass --model.chrono_init false"
        )
    if settings["chrono_init"] and settings["forget_bias"] is not None:
        problems.append("chrono_init sets the forget-gate biases itself: drop forget_bias (or chrono_init)")
    if settings["cuda_graph"] not in ("auto", True, False):
        problems.append(f"cuda_graph must be auto, true or false, got {settings['cuda_graph']!r}")
    if settings["sequence"] not in SEQUENCES:
        problems.append(f"sequence must be one of {', '.join(SEQUENCES)}, got {settings['sequence']!r}")
    if settings["optimizer"] not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {settings['optimizer']!r}")
    if settings["lr_schedule"] not in LR_SCHEDULES:
        problems.append(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {settings['lr_schedule']!r}")
    if problems:
        raise SettingsError("; ".join(problems))


def calibration_error_metric(num_classes: int) -> MulticlassCalibrationError:
    """The expected calibration error this project reports: 15 equal-width confidence bins, L1 (Guo et al.)."""
    return MulticlassCalibrationError(num_classes, n_bins=N_BINS, norm="l1")


# The state-dict entries of the network in checkpoints written before it became its own module.
OLD_NETWORK_KEYS = ("rnn.", "head.", "permutation")
# This note's {path}, and NOT_CALIBRATED_NOTE's, is a command's argument: given as errors.pasted quotes it; its
# {program}, the program as the user typed it (tools.program_name).
UNCALIBRATED_NOTE = (
    "note: this checkpoint has no calibration temperature (it predates calibration), so its "
    "probabilities are uncalibrated; `{program} calibrate --ckpt_path {path}` fits one"
)
# The checkpoint that RNNClassifier.load_from_checkpoint is reading: its load hook (below) is given only the
# state dict, and its note named no file ("--ckpt_path CKPT").
_loading: ContextVar[str | None] = ContextVar("_loading", default=None)


NOT_CALIBRATED_NOTE = (
    "note: this checkpoint is not calibrated (temperature 1: the fit command calibrates its best checkpoint only, "
    "not last.ckpt nor one saved from Python), "
    "so its probabilities are not how often it is right; `{program} calibrate --ckpt_path {path}` fits one"
)


def not_calibrated(checkpoint: dict[str, Any]) -> bool:
    """A checkpoint of this version that ``calibrate`` never wrote to (one of an earlier version, without a
    temperature at all, gets :data:`UNCALIBRATED_NOTE` instead, as it loads)."""
    temperature = (checkpoint.get("state_dict") or {}).get("network.temperature")
    return temperature is not None and float(temperature) == 1.0 and "calibration" not in checkpoint


def _move_old_keys_into_network(
    module: RNNClassifier, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
) -> None:
    """Load a checkpoint of an earlier version: its ``rnn.*``, ``head.*`` and ``permutation`` entries are
    the network's, now under ``network.``, and one without a temperature gets 1.0 (no scaling), with a note.
    Runs before every ``load_state_dict`` (``load_from_checkpoint``, ``Trainer.fit/test/predict(ckpt_path=
    ...)``), and changes nothing in a checkpoint of this version."""
    for key in list(state_dict):
        name = key[len(prefix) :]
        if key.startswith(prefix) and name.startswith(OLD_NETWORK_KEYS):
            state_dict[f"{prefix}network.{name}"] = state_dict.pop(key)
    if f"{prefix}network.temperature" not in state_dict:
        state_dict[f"{prefix}network.temperature"] = torch.tensor(1.0)
        trainer = module._trainer  # Trainer.fit/test/validate/predict(ckpt_path=...): the file it loads
        if trainer is not None and trainer.state.fn == "fit":
            return  # training sets the temperature to 1 anyway, and fit calibrates its best checkpoint at the end
        path = _loading.get() or (trainer.ckpt_path if trainer is not None else None) or "CKPT"
        # Once, from rank 0 (every process loads the checkpoint).
        tell(UNCALIBRATED_NOTE.format(program=program_name(), path=pasted(path)))
