"""``python -m mnist_rnn export``: a checkpoint as an ONNX file or a ``torch.export`` program (``.pt2``).

The exported computation (:class:`mnist_rnn.inference.ProbabilityModel`) takes uint8 images (batch, 1,
28, 28), any batch size, and gives the calibrated class probabilities (``softmax(logits / temperature)``, see
:mod:`mnist_rnn.calibration`) (batch, classes) and, for a one-way network,
the probabilities after every time step (batch, steps, classes). Scaling, standardisation and the
image-to-sequence step are inside, so a user feeds raw pixels, prepared as MNIST's (light digit on black,
centred; see :func:`mnist_rnn.preparation.to_mnist`).

- ONNX runs in onnxruntime (``pip install -e ".[serve]"``).
- The ``.pt2`` file loads with ``torch.export.load(path).module()`` in plain PyTorch, without this package.
- TorchScript is not offered: it is deprecated in the PyTorch versions this project installs.

Before it reports success the export checks itself: on 1,000 test images (or generated images when the
data is not at hand), the exported model must give the same class as the PyTorch network for every image,
and no probability may differ by more than :data:`mnist_rnn.inference.TOLERANCE`. The check runs on the
exported bytes; only then is the file written, under a temporary name renamed when complete. An existing
file is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mnist_rnn.errors import UserError, first_line
from mnist_rnn.inference import (
    EXPORTERS,
    Parity,
    ProbabilityModel,
    checkpoint_hparams,
    compare,
    generated_images,
    load_network,
    note_if_uncalibrated,
)
from mnist_rnn.tools import ToolParser

FORMATS = ("onnx", "pt2")
CHECK_IMAGES = 1000


# ----- writing ---------------------------------------------------------------------------------------------


def run_exported(data: bytes, format: str, images: Tensor) -> list[Tensor]:
    """The outputs of an exported file's bytes on ``images``, run the way a user would run the file."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        return [torch.from_numpy(output) for output in session.run(None, {"images": images.numpy()})]
    program = torch.export.load(io.BytesIO(data))
    with torch.inference_mode():
        outputs = program.module()(images)
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a hidden temporary file beside it, then a rename.

    In Python, so a full disk or a read-only folder is an ``OSError`` here (torch's own ``.pt2`` writer
    aborts the process on a full disk).
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# ----- checking --------------------------------------------------------------------------------------------


def check_images(
    hparams: dict[str, Any], data_dir: str | Path | None, count: int = CHECK_IMAGES, required: bool = False
) -> tuple[Tensor, str]:
    """``count`` test images of the checkpoint's data set if its files are at ``data_dir``, else generated ones.

    ``required``: the user named ``data_dir``, so a test set not there is an error, not a quiet fallback to
    generated images (a mistyped folder would otherwise pass the check on other images than they meant).
    """
    from mnist_rnn.data import DATASETS

    dataset = hparams.get("dataset") or "mnist"
    size = hparams["image_size"]
    if data_dir is not None and dataset in DATASETS:
        try:
            test_set = DATASETS[dataset].torchvision_class(str(data_dir), train=False, download=False)
        except (RuntimeError, OSError, ValueError) as error:
            if required:
                folder = DATASETS[dataset].folder
                raise UserError(
                    f"--data.data_dir {data_dir}: no readable {folder} test set in {Path(data_dir) / folder / 'raw'} "
                    f"({first_line(error)}): pass the folder that holds {folder}/raw/, or leave --data.data_dir out"
                ) from error
            # not there, or unreadable: fall back to generated images
        else:
            images = test_set.data[:count].unsqueeze(1).contiguous()
            if images.shape[-1] == size:
                return images, f"{dataset} test images from {data_dir}"
    return generated_images(count, size), "generated images (no test set found)"


# ----- the command -----------------------------------------------------------------------------------------


def export_checkpoint(
    ckpt_path: str | Path,
    format: str,
    output: str | Path | None = None,
    data_dir: str | Path | None = None,
    check: bool = True,
    overwrite: bool = False,
    data_dir_required: bool = False,
) -> tuple[Path, Parity | None]:
    """Export a checkpoint and (unless ``check=False``) check it; write the file; return its path and the check.

    The check runs on the exported bytes before anything is written, and the file is written whole or not
    at all (see :func:`write_file`). It reads the checkpoint's test set from ``data_dir``, or generated
    images where that is not there, unless ``data_dir_required``.

    Raises:
        UserError: a bad ``output`` (a folder, a missing folder, an existing file without ``overwrite``, a
            name whose suffix is not the format's, a place that cannot be written), or no test set in a
            ``data_dir_required``.
        ExportCheckError: the exported model disagrees with PyTorch; nothing is written then.
    """
    if format not in FORMATS:
        raise UserError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    ckpt_path = Path(ckpt_path)
    output = Path(output) if output is not None else ckpt_path.with_suffix(f".{format}")
    check_output(output, format, overwrite)
    model = ProbabilityModel(load_network(ckpt_path))
    if check:  # the images first: a missing test set is refused before the export's half a minute
        images, source = check_images(checkpoint_hparams(ckpt_path), data_dir, required=data_dir_required)
    data = EXPORTERS[format](model)
    parity = None
    if check:
        parity = compare(model, run_exported(data, format, images), images, source)
        if not parity.passed:
            raise ExportCheckError(f"the exported model disagrees with PyTorch: {parity}; {output} not written")
    try:
        write_file(output, data)
    except OSError as error:
        raise UserError(f"--output {output}: cannot be written ({first_line(error)}); nothing written") from error
    return output, parity


def check_output(output: Path, format: str, overwrite: bool) -> None:
    """Refuse, before the work, an ``--output`` that cannot be or should not be written."""
    if output.is_dir():
        raise UserError(f"--output {output}: a folder; name a file in it, e.g. {output / f'model.{format}'}")
    if not output.parent.is_dir():
        raise UserError(f"--output {output}: the folder {output.parent} does not exist")
    if output.suffix.lower() != f".{format}":
        raise UserError(
            f"--output {output}: {'an' if format == 'onnx' else 'a'} {format} file must end in .{format}, or a "
            f"reader takes it for something else"
        )
    if output.exists() and not overwrite:
        raise UserError(f"--output {output}: the file exists; pass --overwrite to replace it")


class ExportCheckError(Exception):
    """The exported model does not give PyTorch's answers (within :data:`mnist_rnn.inference.TOLERANCE`)."""


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
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument(
        "--data.data_dir",
        "--data_dir",  # the name of earlier releases
        dest="data_dir",
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
        output, parity = export_checkpoint(
            args.ckpt_path,
            args.format,
            args.output,
            data_dir,
            overwrite=args.overwrite,
            data_dir_required=args.data_dir is not None,
        )
    except ExportCheckError as error:
        print(f"mnist-rnn: export check failed: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"Check: {parity}")
    print(f"Wrote {output} ({output.stat().st_size / 1e6:.2f} MB)")
    note_if_uncalibrated(args.ckpt_path)


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if _absent(name)]
    if missing:
        raise UserError(f'ONNX export needs {", ".join(missing)}: pip install -e ".[serve]"')


def _absent(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None
