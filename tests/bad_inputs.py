"""The bad inputs of issue 7, each with the way to make it and a piece of the message the user must see.

Shared by ``tests/test_cli.py`` (each must fail cleanly) and ``docs/make_errors_table.py`` (the table of
exact messages in ``docs/errors.md``), so that the documented messages are the tested ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.helpers import fake_digits, write_fake_set, write_idx

RAW = Path("MNIST") / "raw"


def _truncate(root: Path) -> None:
    path = root / RAW / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])


def _wrong_magic(root: Path) -> None:
    # A labels file where the images file should be: the classic mix-up of two downloads.
    path = root / RAW / "train-images-idx3-ubyte"
    path.write_bytes((root / RAW / "train-labels-idx1-ubyte").read_bytes())


def _wrong_size(root: Path) -> None:
    write_idx(root / RAW / "train-images-idx3-ubyte", np.zeros((240, 32, 32), dtype=np.uint8))


def _fewer_labels(root: Path) -> None:
    _, labels = fake_digits(240, seed=0)
    write_idx(root / RAW / "train-labels-idx1-ubyte", labels[:200])


def _bad_label(root: Path) -> None:
    _, labels = fake_digits(240, seed=0)
    labels[17] = 12
    write_idx(root / RAW / "train-labels-idx1-ubyte", labels)


def _no_files(root: Path) -> None:
    for path in (root / RAW).iterdir():
        path.unlink()


def _text_file(root: Path) -> None:
    (root.parent / "notes.txt").write_text("not a checkpoint\n")


@dataclass(frozen=True)
class BadInput:
    what: str  # the row of the table
    args: list[str]  # options added to a normal fit command; "{data}" is the data folder
    expected: str  # a piece of the one-line message
    break_data: Callable[[Path], None] | None = None  # what to do to a good fake data folder


BAD_INPUTS = [
    BadInput("data missing, no network", [], "MNIST files not found in", _no_files),
    BadInput("truncated IDX file", [], "truncated: its header promises 240 images", _truncate),
    BadInput("wrong magic number", [], "not an IDX image file (magic number 0x00000801", _wrong_magic),
    BadInput("wrong image size", [], "images are 32x32 pixels, expected 28x28", _wrong_size),
    BadInput("image and label files of different lengths", [], "holds 240 images but", _fewer_labels),
    BadInput("label outside 0-9", [], "labels must be 0-9, found 12 at index 17", _bad_label),
    BadInput("`--ckpt_path` that does not exist", ["--ckpt_path", "missing.ckpt"], "missing.ckpt: no such file"),
    BadInput("`--ckpt_path` that is not a checkpoint", ["--ckpt_path", "notes.txt"], "not a checkpoint", _text_file),
    BadInput("`--ckpt_path last` with no earlier run", ["--ckpt_path", "last"], "no last.ckpt found"),
    BadInput("hidden size <= 0", ["--model.hidden_size", "0"], "hidden_size must be positive, got 0"),
    BadInput("layers <= 0", ["--model.num_layers", "0"], "num_layers must be positive, got 0"),
    BadInput("batch size <= 0", ["--data.batch_size", "0"], "batch_size must be positive, got 0"),
    BadInput("epochs <= 0", ["--trainer.max_epochs", "0"], "max_epochs must be positive"),
    BadInput("lr <= 0", ["--model.lr", "-0.1"], "lr must be positive, got -0.1"),
    BadInput("`val_size` >= the training set", ["--data.val_size", "240"], "val_size=240 leaves no training images"),
    BadInput("unknown cell", ["--model.cell", "tcn"], 'Parser key "model.cell"'),
    BadInput(
        "forget bias on a GRU",
        ["--model.cell", "gru", "--model.forget_bias", "1.0"],
        "forget_bias applies to LSTM cells only, not 'gru'",
    ),
    BadInput("unknown sequence mode", ["--model.sequence", "columns"], 'Parser key "model.sequence"'),
    BadInput("unknown optimizer", ["--model.optimizer", "sgd"], 'Parser key "model.optimizer"'),
    BadInput("unknown learning-rate schedule", ["--model.lr_schedule", "linear"], 'Parser key "model.lr_schedule"'),
    BadInput(
        "image size set by hand (it comes from the data)",
        ["--model.image_size", "32"],
        'Linked "model.image_size" must be given via "data.image_size"',
    ),
]


def make_data(root: Path, case: BadInput) -> Path:
    """A fake MNIST data folder under ``root``, broken the way ``case`` says."""
    data = root / "data"
    write_fake_set(data, "MNIST")
    if case.break_data is not None:
        case.break_data(data)
    return data
