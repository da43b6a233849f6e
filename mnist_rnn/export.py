"""``python -m mnist_rnn export``: a checkpoint as an ONNX file or a ``torch.export`` program (``.pt2``).

The exported computation (:class:`ProbabilityModel`) takes uint8 images (batch, 1, 28, 28), any batch size,
and gives the calibrated class probabilities (``softmax(logits / temperature)``, see
:mod:`mnist_rnn.calibration`) (batch, classes) and, for a one-way network, the probabilities after
every time step (batch, steps, classes). Scaling, standardisation and the image-to-sequence step are
inside, so a user feeds raw pixels, prepared as MNIST's (light digit on black, centred; see
:func:`mnist_rnn.preparation.to_mnist`).

- ONNX runs in onnxruntime (``pip install -e ".[serve]"``).
- The ``.pt2`` file loads with ``torch.export.load(path).module()`` in plain PyTorch, without this package.
- TorchScript is not offered: it is deprecated in the PyTorch versions this project installs.

Before it reports success the export checks itself: on 1,000 test images (or generated images when the
data is not at hand), the exported model must give the same class as the PyTorch network for every image,
and no probability may differ by more than :data:`TOLERANCE`. The file is written under a temporary name
and renamed only when the check passes.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mnist_rnn.errors import UserError

FORMATS = ("onnx", "pt2")
TOLERANCE = 1e-4  # the largest difference of a probability the check accepts
CHECK_IMAGES = 1000


class ToolParser(argparse.ArgumentParser):
    """argparse for ``export`` and ``serve``: a bad option is a :class:`UserError`, shown in one line."""

    def __init__(self, command: str, description: str) -> None:
        super().__init__(prog=f"mnist-rnn {command}", description=description)
        self.add_argument("--ckpt_path", required=True, help=f"the Lightning checkpoint to {command}")

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


class ProbabilityModel(nn.Module):
    """What is exported and served: uint8 images -> probabilities (and per-step probabilities if one-way).

    For a one-way network both outputs come from one pass of the recurrent layers: the probabilities are
    those of the last step, which is what the network's ``forward`` classifies from.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network.eval()
        self.per_step = not network.bidirectional

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if not self.per_step:
            return (self.network(images) / self.network.temperature).softmax(dim=-1)
        per_step = (self.network.step_logits(images) / self.network.temperature).softmax(dim=-1)
        return per_step[:, -1], per_step

    @property
    def output_names(self) -> list[str]:
        return ["probabilities", "per_step"] if self.per_step else ["probabilities"]


def checkpoint_hparams(ckpt_path: str | Path) -> dict[str, Any]:
    """The model's hyperparameters saved in a checkpoint, read without building the model."""
    from mnist_rnn.checkpoint import load_keys

    return dict(load_keys(ckpt_path).get("hyper_parameters", {}))


def load_network(ckpt_path: str | Path) -> nn.Module:
    """The plain network (:class:`mnist_rnn.network.RNNNetwork`) of a checkpoint, in eval mode, on the CPU."""
    from mnist_rnn.model import RNNClassifier

    return RNNClassifier.load_from_checkpoint(ckpt_path, map_location="cpu").network.eval()


# ----- writing ---------------------------------------------------------------------------------------------


def write_onnx(model: ProbabilityModel, path: Path) -> None:
    example = torch.zeros(2, 1, model.network.image_size, model.network.image_size, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about its own internals
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            input_names=["images"],
            output_names=model.output_names,
            dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
            external_data=False,
            verbose=False,
        )


def write_pt2(model: ProbabilityModel, path: Path) -> None:
    example = torch.zeros(2, 1, model.network.image_size, model.network.image_size, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a note that the LSTM's flat weights are not buffers: harmless here
        program = torch.export.export(model, (example,), dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    torch.export.save(program, str(path))


def run_exported(path: Path, format: str, images: Tensor) -> list[Tensor]:
    """The outputs of an exported file on ``images``, run the way a user would run it."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return [torch.from_numpy(output) for output in session.run(None, {"images": images.numpy()})]
    program = torch.export.load(str(path))
    with torch.inference_mode():
        outputs = program.module()(images)
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


# ----- checking --------------------------------------------------------------------------------------------


@dataclass
class Parity:
    """How an exported model compares with the PyTorch network on the check images."""

    images: int
    source: str  # where the images came from
    same_class: int  # images given the same class
    max_difference: float  # the largest |probability difference|, over every output

    @property
    def passed(self) -> bool:
        return self.same_class == self.images and self.max_difference <= TOLERANCE

    def __str__(self) -> str:
        return (
            f"same class on {self.same_class:,} of {self.images:,} {self.source}; "
            f"largest probability difference {self.max_difference:.2e} (bound {TOLERANCE:g})"
        )


def check_images(hparams: dict[str, Any], data_dir: str | Path | None, count: int = CHECK_IMAGES) -> tuple[Tensor, str]:
    """``count`` test images of the checkpoint's data set if its files are at ``data_dir``, else generated ones."""
    from mnist_rnn.data import DATASETS

    dataset = hparams.get("dataset") or "mnist"
    size = hparams.get("image_size", 28)
    if data_dir is not None and dataset in DATASETS:
        try:
            test_set = DATASETS[dataset].torchvision_class(str(data_dir), train=False, download=False)
        except (RuntimeError, OSError, ValueError):
            pass  # not there, or unreadable: fall back to generated images
        else:
            images = test_set.data[:count].unsqueeze(1).contiguous()
            if images.shape[-1] == size:
                return images, f"{dataset} test images from {data_dir}"
    return generated_images(count, size), "generated images (no test set found)"


def generated_images(count: int, size: int = 28, seed: int = 0) -> Tensor:
    """Stroke-like uint8 images: a few bright bars on faint noise, so the classes vary and are clear-cut."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 30, (count, 1, size, size), generator=generator, dtype=torch.uint8)
    length = max(2, size // 3)
    for image in images:
        for _ in range(3):
            row, col = torch.randint(0, size - length + 1, (2,), generator=generator).tolist()
            if torch.rand(1, generator=generator).item() < 0.5:
                image[0, row : row + 2, col : col + length] = 255
            else:
                image[0, row : row + length, col : col + 2] = 255
    return images


def compare(model: ProbabilityModel, outputs: list[Tensor], images: Tensor, source: str) -> Parity:
    """Compare an exported model's ``outputs`` on ``images`` with the PyTorch network's own answers."""
    network = model.network
    with torch.inference_mode():
        reference = [network.probabilities(images)]
        if model.per_step:
            reference.append((network.step_logits(images) / network.temperature).softmax(dim=-1))
    if len(outputs) != len(reference):
        raise RuntimeError(f"the exported model gave {len(outputs)} outputs, expected {len(reference)}")
    same = int((outputs[0].argmax(dim=-1) == reference[0].argmax(dim=-1)).sum())
    difference = max(float((got.float() - want).abs().max()) for got, want in zip(outputs, reference, strict=True))
    return Parity(len(images), source, same, difference)


# ----- the command -----------------------------------------------------------------------------------------


def export_checkpoint(
    ckpt_path: str | Path,
    format: str,
    output: str | Path | None = None,
    data_dir: str | Path | None = None,
    check: bool = True,
    check_count: int = CHECK_IMAGES,
) -> tuple[Path, Parity | None]:
    """Export a checkpoint and (unless ``check=False``) check the file; return its path and the check.

    Raises:
        ExportCheckError: the exported model disagrees with PyTorch; nothing is written then.
    """
    if format not in FORMATS:
        raise UserError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    ckpt_path = Path(ckpt_path)
    output = Path(output) if output is not None else ckpt_path.with_suffix(f".{format}")
    if output.parent and not output.parent.is_dir():
        raise UserError(f"--output {output}: the folder {output.parent} does not exist")
    model = ProbabilityModel(load_network(ckpt_path))
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")  # torch.export insists on .pt2
    try:
        (write_onnx if format == "onnx" else write_pt2)(model, partial)
        parity = None
        if check:
            images, source = check_images(checkpoint_hparams(ckpt_path), data_dir, check_count)
            parity = compare(model, run_exported(partial, format, images), images, source)
            if not parity.passed:
                raise ExportCheckError(parity, output)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return output, parity


class ExportCheckError(Exception):
    """The exported model does not give PyTorch's answers (within :data:`TOLERANCE`)."""

    def __init__(self, parity: Parity, output: Path) -> None:
        super().__init__(f"the exported model disagrees with PyTorch: {parity}; {output} not written")
        self.parity = parity


def default_data_dir(ckpt_path: str | Path) -> str:
    """Where the checkpoint's data module read its data (saved by LightningCLI), else the data module's default."""
    from mnist_rnn.checkpoint import load_keys
    from mnist_rnn.data import MNISTDataModule

    saved = (load_keys(ckpt_path).get("datamodule_hyper_parameters") or {}).get("data_dir")
    if saved:
        return str(saved)
    import inspect

    return inspect.signature(MNISTDataModule).parameters["data_dir"].default


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = ToolParser(
        "export",
        "Export a checkpoint as ONNX or as a torch.export program (.pt2), and check the file against PyTorch on "
        "1,000 test images (or generated images when the data is not found).",
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="onnx (onnxruntime) or pt2 (torch.export)")
    parser.add_argument("--output", help="the file to write (default: the checkpoint's name with .onnx or .pt2)")
    parser.add_argument(
        "--data_dir",
        help="folder holding the test set for the check (default: where the checkpoint was trained from)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """``python -m mnist_rnn export ...``: export, check, print the check's figures."""
    from mnist_rnn.checkpoint import check_checkpoint

    args = parse_args(argv)
    check_checkpoint(args.ckpt_path)
    if args.format == "onnx":
        _require_onnx()
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir(args.ckpt_path)
    try:
        output, parity = export_checkpoint(args.ckpt_path, args.format, args.output, data_dir)
    except ExportCheckError as error:
        print(f"mnist-rnn: export check failed: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"Check: {parity}")
    print(f"Wrote {output} ({output.stat().st_size / 1e6:.2f} MB)")


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if _absent(name)]
    if missing:
        raise UserError(f'ONNX export needs {", ".join(missing)}: pip install -e ".[serve]"')


def _absent(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None
