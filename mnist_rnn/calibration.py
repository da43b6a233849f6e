"""Temperature scaling (Guo et al., 2017): probabilities that mean what they say.

The default recipe trains with label smoothing, which teaches the network never to be more than about 91%
sure: its probabilities are too low, though its classes are right. One number fixes that: the logits are
divided by a temperature T before the softmax, with T chosen to minimise the negative log-likelihood of the
validation split (never the test set). Dividing by a positive number changes no argmax, so every class,
and the accuracy, stay the same.

T is the network's ``temperature`` buffer, so the checkpoint alone carries it, and everything that gives
probabilities (``predict``, ``serve``, the exported models) uses it. ``fit`` calibrates its best checkpoint
before testing it; ``python -m mnist_rnn calibrate --ckpt_path CKPT`` calibrates any checkpoint, and writes
the temperature back atomically (a new file renamed over the old one: never half-written).
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.functional.classification import multiclass_calibration_error

from mnist_rnn import stopping
from mnist_rnn.errors import NoSpaceError, UserError, muted, shown_name, warn

N_BINS = 15  # the confidence bins of the calibration error (Guo et al.'s choice)
# The fitted temperature is kept in this range: a validation split that the network classifies perfectly
# would otherwise drive T towards 0 (ever more confident answers always lower its NLL).
T_RANGE = (0.05, 20.0)
# How far the validation accuracy may be from the one an earlier calibration measured (see
# _check_the_run_validated_these): the same weights on the same images, computed on another device.
ACCURACY_TOLERANCE = 0.02
# Fewer validation images than this fit a temperature that varies from one sample of them to another by tenths
# (docs/predict.md, "Calibrated probabilities"): the fit says so.
STEADY_FIT_IMAGES = 1000
# Below this validation accuracy the model is wrong more often than right: a temperature makes its probabilities
# say so, and nothing more (one right a third of the time was calibrated, and written, without a word).
USEFUL_ACCURACY = 0.5


def temperature_text(temperature: float, decimals: int = 3) -> str:
    """``temperature`` with ``decimals`` decimals, or as many more as tell it from 1 ("1.0004", not "1.000"
    beside the uncalibrated "T = 1")."""
    while decimals < 8 and temperature != 1.0 and float(f"{temperature:.{decimals}f}") == 1.0:
        decimals += 1
    return f"{temperature:.{decimals}f}"


@dataclass
class Calibration:
    """A fitted temperature and what it did to the validation split."""

    temperature: float
    images: int
    accuracy: float
    ece_before: float  # expected calibration error at T = 1 (15 bins, L1)
    ece_after: float
    nll_before: float  # negative log-likelihood at T = 1
    nll_after: float

    def __str__(self) -> str:
        return (
            f"temperature {temperature_text(self.temperature)}; on the {self.images:,} validation images the "
            f"calibration error (ECE) went from {self.ece_before:.2%} to {self.ece_after:.2%} and the NLL from "
            f"{self.nll_before:.4f} to {self.nll_after:.4f}; accuracy {self.accuracy:.2%} in float32, unchanged by T"
            f"{self.at_limit}"
            f"{'. Note: ' + self.barely_trained if self.barely_trained else self.ece_rose}"  # the cause of both
            f"{'. Note: ' + self.few_images if self.few_images and not self.ece_rose else ''}"  # it says "too few"
        )

    @property
    def barely_trained(self) -> str:
        """A note when the model is wrong more often than right (:data:`USEFUL_ACCURACY`), else "": its fitted
        temperature, whatever it is, makes no use of it."""
        if self.accuracy >= USEFUL_ACCURACY:
            return ""
        return (
            f"the model is right on only {self.accuracy:.2%} of the validation images: calibration can make its "
            "probabilities say so, not make it useful; train it longer"
        )

    @property
    def few_images(self) -> str:
        """A note when the split is too small for a steady temperature (one fitted on a few dozen images was
        reported as one fitted on thousands), else ""."""
        if self.images >= STEADY_FIT_IMAGES:
            return ""
        return (
            f"{self.images:,} validation images fit a rough temperature; {STEADY_FIT_IMAGES:,} or more fit a steady "
            "one (the run's --data.val_size)"
        )

    @property
    def ece_rose(self) -> str:
        """A note when the temperature lowered the NLL (what it is fitted to, a proper score) but raised the
        binned calibration error: it was reported as if it had worked (a model trained 5 batches: 4.65% to
        9.36%)."""
        if self.ece_after <= self.ece_before:
            return ""
        return (
            f". Note: the ECE rose, though the NLL fell: no one temperature fits this model's confidences (barely "
            f"trained?), or {self.images:,} validation images are too few to measure them"
        )

    @property
    def at_limit(self) -> str:
        """A note when the fit stopped at an end of :data:`T_RANGE` (it was silent), else "": why, unless
        :attr:`barely_trained` says it."""
        if self.temperature >= T_RANGE[1]:
            why = "" if self.barely_trained else ": the model is barely better than a guess; train it longer"
            return f" (T at its upper limit, {T_RANGE[1]:g}{why})"
        if self.temperature <= T_RANGE[0]:
            why = "" if self.barely_trained else ": the validation split is read all but perfectly"
            return f" (T at its lower limit, {T_RANGE[0]:g}{why})"
        return ""


def calibration_error(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> float:
    """The expected calibration error of ``softmax(logits / temperature)``: torchmetrics', 15 bins, L1."""
    probabilities = (logits.float() / temperature).softmax(dim=-1)
    return float(multiclass_calibration_error(probabilities, labels, logits.shape[-1], n_bins=N_BINS, norm="l1"))


def fit_temperature(logits: Tensor, labels: Tensor) -> float:
    """The temperature T that minimises the NLL of ``softmax(logits / T)``: L-BFGS on log T (so T stays > 0)."""
    # Clones: tensors made under inference_mode (logits_of's) cannot take part in autograd.
    logits, labels = logits.detach().double().cpu().clone(), labels.cpu().clone()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return min(max(float(log_t.detach().exp()), T_RANGE[0]), T_RANGE[1])


def calibrate(logits: Tensor, labels: Tensor) -> Calibration:
    """Fit a temperature on ``logits`` and ``labels`` and measure it."""
    temperature = fit_temperature(logits, labels)
    logits = logits.float().cpu()
    labels = labels.cpu()
    return Calibration(
        temperature=temperature,
        images=len(labels),
        accuracy=float((logits.argmax(dim=-1) == labels).float().mean()),
        ece_before=calibration_error(logits, labels),
        ece_after=calibration_error(logits, labels, temperature),
        nll_before=float(F.cross_entropy(logits, labels)),
        nll_after=float(F.cross_entropy(logits / temperature, labels)),
    )


@torch.inference_mode()
def logits_of(network: nn.Module, batches: Any, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """The network's logits (N, classes) and the labels (N,) of ``(images, labels)`` batches, on the CPU."""
    network = network.to(device).eval()
    logits, labels = [], []
    for images, batch_labels in batches:
        logits.append(network(images.to(device)).float().cpu())
        labels.append(batch_labels.cpu())
    return torch.cat(logits), torch.cat(labels)


def validation_split(ckpt_path: str | Path, data_dir: str | Path | None = None) -> Any:
    """The data module of the checkpoint's run (its data set, split and seed), set up: its ``val_set`` is the
    split the checkpoint was chosen on. ``data_dir`` replaces the folder the run read its data from."""
    from mnist_rnn.checkpoint import load_keys
    from mnist_rnn.data import DEFAULT_DATA_DIR, MNISTDataModule, warn_run_folder_gone

    keys = load_keys(ckpt_path)
    saved = keys.get("datamodule_hyper_parameters") or {}
    dataset = saved.get("dataset") or keys.get("hyper_parameters", {}).get("dataset", "mnist")
    settings = {key: saved[key] for key in ("data_dir", "batch_size", "val_size", "split_seed") if key in saved}
    if data_dir is not None:
        settings["data_dir"] = str(data_dir)
    elif "data_dir" in settings and not Path(settings["data_dir"]).expanduser().is_dir():
        # As test and validate do: the run's folder on another machine was downloaded into (or failed on).
        folder = settings.pop("data_dir")
        if Path(folder).resolve() != Path(DEFAULT_DATA_DIR).resolve():
            warn_run_folder_gone(folder, DEFAULT_DATA_DIR)
    datamodule = MNISTDataModule(dataset=dataset, **settings)
    datamodule.dataset_option = None  # the checkpoint's data set, which calibrate takes no option to change
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def calibrate_checkpoint(
    ckpt_path: str | Path,
    data_dir: str | Path | None = None,
    datamodule: Any = None,
    device: torch.device | str = "cpu",
) -> Calibration:
    """Fit the temperature of a checkpoint on its validation split and write it into the checkpoint.

    Args:
        ckpt_path: The Lightning checkpoint; rewritten atomically with the temperature in it.
        data_dir: Where the data set is, if not where the checkpoint's run read it.
        datamodule: The run's data module, already set up (``fit`` passes its own); else built from the
            checkpoint's saved data settings.
        device: Where the network computes the validation logits.
    """
    from mnist_rnn.data import DeviceBatches
    from mnist_rnn.inference import load_network

    with muted():  # the note of a checkpoint that predates calibration, which says to run this very command
        network = load_network(ckpt_path)
    if datamodule is None:
        datamodule = validation_split(ckpt_path, data_dir)
    elif datamodule.val_set is None:
        datamodule.setup("fit")
    # The whole split, in this one process: under DDP the data module's val_dataloader() is this process's
    # share, and fit calibrates in process 0 only (it fitted T on half the split with 2 processes).
    split = datamodule.val_set
    batches = DeviceBatches(split.images, split.labels, datamodule.batch_size, shuffle=False)
    calibration = calibrate(*logits_of(network, batches, device))
    _check_the_run_validated_these(ckpt_path, calibration, datamodule)
    write_temperature(ckpt_path, calibration)
    return calibration


def _check_the_run_validated_these(ckpt_path: str | Path, calibration: Calibration, datamodule: Any) -> None:
    """Refuse to write a temperature fitted on other images than the checkpoint was calibrated on before: the
    split is the run's (its val_size and split_seed), so the same weights read it as they did then (to a few
    images: another device). Another data set's files in the folder (MNIST's under FashionMNIST/raw/) read
    far worse, and the temperature fitted to them (0.68 became 7.59) was written over the good one.

    The run's own val/acc is no yardstick: a run validated with --trainer.limit_val_batches read a part."""
    from mnist_rnn.checkpoint import load_keys

    earlier = (load_keys(ckpt_path).get("calibration") or {}).get("accuracy")
    if earlier is None:
        return
    if abs(calibration.accuracy - earlier) <= max(ACCURACY_TOLERANCE, 3 / max(calibration.images, 1)):
        return
    raise UserError(
        f"the validation split reads at {calibration.accuracy:.2%} here, but read at {earlier:.2%} when "
        f"{shown_name(ckpt_path)} was calibrated before: these are not the images it was validated on (another data "
        f"set's files in {shown_name(datamodule.raw_folder)}?); the temperature was not written"
    )


def write_temperature(ckpt_path: str | Path, calibration: Calibration) -> None:
    """Store the temperature in the checkpoint's weights (and the measurements beside them), atomically,
    through the same writer as training's checkpoints (:class:`~mnist_rnn.checkpoint.AtomicCheckpointIO`).

    The file a symbolic link names is rewritten, not the link (replacing the link with a file left its target,
    which everything else loads, uncalibrated); a read-only file is refused, not replaced (a rename needs only
    the folder to be writable); the new file keeps the old one's permissions.
    """
    from mnist_rnn.checkpoint import AtomicCheckpointIO

    path = Path(os.path.realpath(ckpt_path))
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & stat.S_IWUSR:
        raise UserError(
            f"{shown_name(ckpt_path)} is read-only (mode {mode:o}): the temperature is not written; make it writable "
            "(chmod u+w) or calibrate a copy"
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["state_dict"]["network.temperature"] = torch.tensor(calibration.temperature)
    checkpoint["calibration"] = asdict(calibration)
    try:
        AtomicCheckpointIO().save_checkpoint(checkpoint, str(path))
    except UserError as error:  # a full disk; the writer's own line speaks of resuming a run, not of this file
        raise NoSpaceError(f"no space left on the device to rewrite {shown_name(path)}: it is unchanged") from error
    except OSError as error:
        # The file is replaced by a new one beside it: its folder must be writable, not only the file.
        folder = (
            f"; its folder {shown_name(path.parent)} must be writable too (or calibrate a copy)"
            if error.errno == errno.EACCES
            else ""
        )
        raise UserError(
            f"could not rewrite {shown_name(path)} ({error.strerror or error}): it is unchanged{folder}"
        ) from error
    os.chmod(path, mode)


# ----- the command -----------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    from mnist_rnn.tools import ToolParser

    parser = ToolParser(
        "calibrate",
        "Fit the checkpoint's temperature on its own validation split (temperature scaling), so that its "
        "probabilities match how often it is right, and write it into the checkpoint.",
    )
    parser.add_argument(
        "--data.data_dir",
        "--data_dir",  # the short form, as export takes it: refused here, the same folder took a second try
        dest="data_dir",
        help="folder holding the data set (default: where the checkpoint's run read it)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """``python -m mnist_rnn calibrate --ckpt_path CKPT [--data.data_dir DIR]``."""
    from mnist_rnn.checkpoint import check_checkpoint, load_keys

    args = parse_args(argv)
    check_checkpoint(args.ckpt_path)
    earlier = (load_keys(args.ckpt_path).get("calibration") or {}).get("temperature")
    # The checkpoint named as the errors name it (shown_name): a line break in its name split these lines in two.
    shown = shown_name(args.ckpt_path)
    stopping.doing(f"while calibrating; {shown} is unchanged")  # it is rewritten whole, at the end
    calibration = calibrate_checkpoint(args.ckpt_path, args.data_dir)
    # In float32, as predict, serve and the exports compute: a bf16-mixed run's validation said 99.06% where this
    # said 99.04%, "unchanged".
    print(
        f"Validation split, {calibration.images:,} images (accuracy {calibration.accuracy:.2%} in float32, unchanged "
        "by T), uncalibrated (T = 1) -> calibrated:"
    )
    print(f"  calibration error (ECE, {N_BINS} bins)  {calibration.ece_before:.2%} -> {calibration.ece_after:.2%}")
    print(f"  negative log-likelihood            {calibration.nll_before:.4f} -> {calibration.nll_after:.4f}")
    # Run again on a calibrated checkpoint, the figures above start from T = 1 all the same: say what it held.
    replaced = f" (it held {earlier:.4f}, from an earlier calibration)" if earlier is not None else ""
    temperature = temperature_text(calibration.temperature, 4)
    print(f"Wrote temperature {temperature} into {shown}{replaced}{calibration.at_limit}")
    if calibration.barely_trained:
        warn(calibration.barely_trained)
    if calibration.few_images:
        warn(calibration.few_images)
    sys.stdout.flush()
