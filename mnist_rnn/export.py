"""``python -m mnist_rnn export``: a checkpoint as an ONNX file or a ``torch.export`` program (``.pt2``).

The exported computation (:class:`mnist_rnn.inference.ProbabilityModel`) takes uint8 images (batch, 1,
28, 28), any batch size, and gives the calibrated class probabilities (``softmax(logits / temperature)``, see
:mod:`mnist_rnn.calibration`) (batch, classes) and, for a one-way network,
the probabilities after every time step (batch, steps, classes). Scaling, standardisation and the
image-to-sequence step are inside, so a user feeds raw pixels as the checkpoint's data set has them (the
digit, garment or character light on black). Other pictures are prepared first as ``predict`` prepares them
for that data set (:func:`mnist_rnn.user_images.preparation_for`): MNIST's with
:func:`mnist_rnn.preparation.prepare` (``to_mnist`` gives its pixels), Fashion-MNIST's with
:func:`mnist_rnn.garments.prepare_garment`, KMNIST's with :func:`mnist_rnn.preparation.prepare_character`.

Each file carries its metadata (:func:`file_metadata`: data set, class names, input, preparation,
temperature, network, versions, checkpoint), for a user who holds only the file: ONNX's ``metadata_props``
(string values; lists, numbers and booleans as JSON) and ``doc_string``; in a ``.pt2`` archive the JSON file
``metadata.json``, read with ``torch.export.load(path, extra_files={"metadata.json": ""})``.

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
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mnist_rnn import stopping
from mnist_rnn.errors import DataError, UserError, first_line, pasted, printed_name, shown_name, shown_text
from mnist_rnn.inference import (
    Parity,
    ProbabilityModel,
    checkpoint_hparams,
    class_names_of,
    compare,
    generated_images,
    load_network,
    note_if_uncalibrated,
    onnx_bytes,
    pt2_bytes,
)
from mnist_rnn.network import RNNNetwork
from mnist_rnn.tools import ToolParser

FORMATS = ("onnx", "pt2")
CHECK_IMAGES = 1000
METADATA_FILE = "metadata.json"  # the metadata's name among a .pt2 archive's extra files
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "kmnist": "KMNIST"}


# ----- metadata --------------------------------------------------------------------------------------------


def file_metadata(ckpt_path: str | Path, network: RNNNetwork) -> dict[str, Any]:
    """What a user holding only the exported file needs to know, the one definition for both formats: from
    the checkpoint's hyperparameters (:func:`mnist_rnn.inference.checkpoint_hparams`), and from its
    ``network`` the temperature and the number of time steps. Values are JSON's types."""
    from importlib import metadata

    from mnist_rnn.user_images import preparation_for, subject_of

    hparams = checkpoint_hparams(ckpt_path)
    dataset = hparams.get("dataset") or "mnist"  # checkpoints from before Fashion-MNIST and KMNIST
    classes, size = hparams["num_classes"], hparams["image_size"]
    names = class_names_of(hparams)
    function = preparation_for(dataset)
    preparation = f"{function.__module__}.{function.__qualname__}"
    subject, title = subject_of(dataset), TITLES.get(dataset, dataset)
    try:
        version = metadata.version("mnist-rnn")
    except metadata.PackageNotFoundError:  # run from a checkout that was not installed
        version = "(not installed)"
    outputs = f"probabilities: float32 (batch, {classes}), calibrated: softmax(logits / temperature)"
    if not network.bidirectional:
        outputs += f"; per_step: float32 (batch, {network.steps}, {classes}), the probabilities after every step"
    return {
        "description": (
            f"mnist_rnn {hparams['cell'].upper()} ({hparams['sequence']}) classifying {title} images into "
            f"{classes} classes (class_names). Input: uint8 images (batch, 1, {size}, {size}), a {subject} light "
            f"on black as {title} has them; another picture is prepared first with "
            f"{preparation}(mnist_rnn.user_images.decode_image(path)).pixels, as predict does."
        ),
        "dataset": dataset,
        "class_names": list(names),
        "input": (
            f"images: uint8 (batch, 1, {size}, {size}), pixels 0-255 (float 0-1 is refused), any batch size "
            f"from 1 (onnxruntime aborts on 0); a {subject} light on black, as {title} has its images. Scaling, "
            f"standardisation and the image-to-sequence step are inside the model."
        ),
        "outputs": outputs,
        "preparation": preparation,
        "temperature": float(network.temperature),
        "cell": hparams["cell"],
        "sequence": hparams["sequence"],
        "bidirectional": bool(hparams["bidirectional"]),
        "hidden_size": hparams["hidden_size"],
        "num_layers": hparams["num_layers"],
        "image_size": size,
        "num_classes": classes,
        "mnist_rnn_version": version,
        "torch_version": torch.__version__,
        "checkpoint": Path(ckpt_path).name,
    }


def exported_bytes(model: ProbabilityModel, format: str, metadata: dict[str, Any]) -> bytes:
    """The file's bytes in ``format``, carrying ``metadata``: ONNX's ``metadata_props`` (strings as they are,
    other values as JSON) and ``doc_string`` (the description), or the ``.pt2`` archive's ``metadata.json``."""
    if format == "onnx":
        return onnx_bytes(model, onnx_metadata(metadata), doc_string=metadata["description"])
    return pt2_bytes(model, {METADATA_FILE: json.dumps(metadata, indent=2)})


def onnx_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """``metadata`` as ONNX's ``metadata_props`` hold it: strings as they are, other values as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in metadata.items()}


def read_metadata(data: bytes, format: str) -> dict[str, Any]:
    """The metadata of an exported file's bytes, read as a user reads it: ONNX's ``metadata_props`` (all
    strings), or the ``.pt2`` archive's ``metadata.json`` (JSON's types); empty if it has none."""
    if format == "onnx":
        import onnx

        return {prop.key: prop.value for prop in onnx.load_from_string(data).metadata_props}
    extra_files = {METADATA_FILE: ""}
    torch.export.load(io.BytesIO(data), extra_files=extra_files)
    return json.loads(extra_files[METADATA_FILE]) if extra_files[METADATA_FILE] else {}


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
    from mnist_rnn.data import DATASETS, MNISTDataModule

    dataset = hparams.get("dataset") or "mnist"
    size = hparams["image_size"]
    if data_dir is not None and dataset in DATASETS:
        data = MNISTDataModule(data_dir=str(data_dir), dataset=dataset)
        data.dataset_option = None  # the checkpoint's data set: no option chooses it here
        try:
            images = data.load_split(train=False)[0][:count]
        except DataError as error:
            if required:
                leave_out = (
                    "or leave --data.data_dir out: the export is checked on the test set of the folder the "
                    "checkpoint was trained from, or on generated images where it is not there"
                )
                raise UserError(f"{str(error).rstrip('.')}; {leave_out}") from error
            # not there, or unreadable: fall back to generated images
        else:
            if images.shape[-1] == size:
                return images, f"{dataset} test images from {printed_name(data_dir)}"
    where = f" in {printed_name(data_dir)}" if data_dir is not None else ""  # a relative one: from the working one
    return generated_images(count, size), f"generated images (no {dataset} test set found{where})"


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

    The check runs on the exported bytes before anything is written (their metadata too, read back as a
    user reads it), and the file is written whole or not at all (see :func:`write_file`). It reads the
    checkpoint's test set from ``data_dir``, or generated images where that is not there, unless
    ``data_dir_required``.

    Raises:
        UserError: a bad ``output`` (a folder, a missing folder, an existing file without ``overwrite``, a
            name whose suffix is not the format's, a place that cannot be written), or no test set in a
            ``data_dir_required``.
        ExportCheckError: the exported model disagrees with PyTorch; nothing is written then.
    """
    if format not in FORMATS:
        raise UserError(f"--format {format}: choose one of {', '.join(FORMATS)}")
    ckpt_path = Path(ckpt_path)
    named = output is not None
    output = Path(output) if output is not None else ckpt_path.with_suffix(f".{format}")
    check_output(output, format, overwrite, named)
    network = load_network(ckpt_path)
    model = ProbabilityModel(network)
    if check:  # the images first: a missing test set is refused before the export's half a minute
        images, source = check_images(checkpoint_hparams(ckpt_path), data_dir, required=data_dir_required)
    metadata = file_metadata(ckpt_path, network)
    data = exported_bytes(model, format, metadata)
    parity = None
    if check:
        parity = compare(model, run_exported(data, format, images), images, source)
        if not parity.passed:
            raise ExportCheckError(
                f"the exported model disagrees with PyTorch: {parity}; {shown_name(output)} not written"
            )
        expected = onnx_metadata(metadata) if format == "onnx" else metadata
        if read_metadata(data, format) != expected:
            raise ExportCheckError(f"the exported file does not carry its metadata; {shown_name(output)} not written")
    with stopping.deferred_stops():  # a stop while writing is told after it, as written or not
        try:
            write_file(output, data)
        except OSError as error:
            raise UserError(
                f"--output {shown_name(output)}: cannot be written ({first_line(error)}); nothing written"
            ) from error
        stopping.doing(f"after writing {shown_name(output)}, which is complete")
    return output, parity


def a_folder(output: Path, formats: tuple[str, ...]) -> str:
    """The line for an ``--output`` that is a folder, with a file in it for each of ``formats`` as examples."""
    examples = " or ".join(pasted(output / f"model.{format}") for format in formats)
    return f"--output {shown_name(output)}: a folder; name a file in it, e.g. {examples}"


def check_output(output: Path, format: str, overwrite: bool, named: bool = True) -> None:
    """Refuse, before the work, an ``--output`` that cannot be or should not be written (``named``: by the user;
    else it is the checkpoint's name with the format's suffix)."""
    if output.is_dir():
        raise UserError(a_folder(output, (format,)))
    if not output.parent.is_dir():
        above = next((folder for folder in output.parents if folder.exists()), None)
        if above is not None and not above.is_dir():  # not "does not exist": it does, as a file
            raise UserError(f"--output {shown_name(output)}: {shown_name(above)} is a file, not a folder")
        raise UserError(f"--output {shown_name(output)}: the folder {shown_name(output.parent)} does not exist")
    if output.suffix.lower() != f".{format}":
        raise UserError(
            f"--output {shown_name(output)}: {'an' if format == 'onnx' else 'a'} {format} file must end in "
            f".{format}, or a reader takes it for something else"
        )
    if output.exists() and not overwrite:
        if not named:  # the second export of a checkpoint: the user passed no --output
            raise UserError(
                f"{shown_name(output)} exists (the default --output, the checkpoint's name with .{format}); pass "
                "--overwrite to replace it, or --output another file"
            )
        raise UserError(f"--output {shown_name(output)}: the file exists; pass --overwrite to replace it")
    if not os.access(output.parent, os.W_OK | os.X_OK):  # refused after the export and its check, naming a .partial
        read_only = os.statvfs(output.parent).f_flag & os.ST_RDONLY
        why = "a read-only file system" if read_only else "no permission to write there"
        message = (
            f"--output {shown_name(output)}: the folder {shown_name(output.parent)} cannot be written to ({why}); "
            "nothing written"
        )
        if not named:  # the user typed no --output: the default, beside the checkpoint
            message += "; pass --output to write the file elsewhere"
        raise UserError(message)


class ExportCheckError(Exception):
    """The exported model does not give PyTorch's answers (within :data:`mnist_rnn.inference.TOLERANCE`)."""


def default_data_dir(ckpt_path: str | Path) -> str:
    """Where the checkpoint's data module read its data (saved by LightningCLI), else the data module's default."""
    from mnist_rnn.checkpoint import load_keys
    from mnist_rnn.data import DEFAULT_DATA_DIR

    saved = (load_keys(ckpt_path).get("datamodule_hyper_parameters") or {}).get("data_dir")
    return str(saved) if saved else DEFAULT_DATA_DIR


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = ToolParser(
        "export",
        "Export a checkpoint as ONNX or as a torch.export program (.pt2), and check the file against PyTorch on "
        "1,000 test images (or generated images when the data is not found).",
    )
    parser.add_argument(
        "--format",
        type=str.lower,
        choices=FORMATS,
        help="onnx (onnxruntime) or pt2 (torch.export); left out, the suffix of --output says which",
    )
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
    check_checkpoint(args.ckpt_path)  # first: a mistyped checkpoint is the mistake to hear of, not a missing --format
    output = Path(args.output) if args.output else None
    if output is not None and output.name.lower() in {f".{format}" for format in FORMATS}:
        # A file of that name only (Path(".onnx").suffix is ""), which neither chose the format nor ended in it.
        format = output.name.lower().lstrip(".")
        example = output.with_name(f"model.{format}")
        default = Path(args.ckpt_path).with_suffix(f".{format}")
        raise UserError(
            f"--output {shown_name(output)}: a name that is only a suffix; name the file, e.g. {pasted(example)} (or "
            f"--format {format} without --output writes {shown_name(default)})"
        )
    if args.format is None:  # `--output model.onnx` says it already
        suffix = Path(args.output).suffix.lower().lstrip(".") if args.output else ""
        if suffix not in FORMATS and args.output and Path(args.output).is_dir():  # not a missing --format's fault
            raise UserError(a_folder(Path(args.output), FORMATS))
        if suffix not in FORMATS:
            raise UserError(
                "pass --format onnx or --format pt2 (or an --output ending in .onnx or .pt2, which chooses it)"
            )
        args.format = suffix
    if args.format == "onnx":
        _require_onnx()
    stopping.doing("while exporting and checking the model; nothing was written")
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
        print(f"mnist-rnn: export check failed: {shown_text(str(error))}", file=sys.stderr)
        sys.exit(1)
    print(f"Check: {parity}")
    print(f"Wrote {printed_name(output)} ({output.stat().st_size / 1e6:.2f} MB)")
    note_if_uncalibrated(args.ckpt_path)


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if _absent(name)]
    if missing:
        raise UserError(f'ONNX export needs {", ".join(missing)}: pip install -e ".[serve]"')


def _absent(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None
