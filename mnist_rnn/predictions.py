"""Writing predictions: one CSV row ``path,digit,probability`` per image, on stdout and, where asked, in the run's
folder (``lightning_logs/version_N/predictions.csv``, named on stderr). A model of another data set than MNIST
gets ``path,class,probability``, with the class's name (``Trouser``): its classes are not digits.

A Lightning callback, so it works from the command line and from ``Trainer(callbacks=[...]).predict``.
It takes the files from the data module's :class:`~mnist_rnn.user_images.UserImages` (``predict_set``), so
every file gets its row in the same table: files that could not be read have ``error`` as the digit and
the reason in place of the probability; images in which no digit was found (blank, one colour, fully
transparent, a single pixel) have ``blank`` and the reason, and a warning on stderr; so do images that hold
more than one digit (their row is about one of them), images whose digit is too small to read as surely as
its probability says, and animations and multi-page files (only their first frame is read). The messages say
"garment" or "character" for a model of Fashion-MNIST or KMNIST.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor

from mnist_rnn.errors import UserError, shown_name, tell, warn
from mnist_rnn.figures import short_names
from mnist_rnn.user_images import UserImages, natural_order, small_size, subject_of

HEADER = ("path", "digit", "probability")  # a model of MNIST; other data sets: "class" instead of "digit"
FILE_NAME = "predictions.csv"
BLANK = "blank"  # the class column of an image with nothing to read
# What a spreadsheet takes for the start of a formula in a cell (OWASP's "CSV injection"): =, +, -, @, a tab, a
# carriage return. A picture named =HYPERLINK(...).png became a live formula in Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_path(path: str | os.PathLike[str]) -> str:
    """A path as the table's cell holds it: one that begins as a formula would (``=1+1.png``, ``-2.png``: only a
    relative path can) as ``./=1+1.png``, the same file to every program and shell that opens it, plain text to
    a spreadsheet. OWASP's own advice, a ``'`` in front, keeps a spreadsheet from evaluating it too, but names no
    file: a script that opens each row's path would fail on exactly these."""
    text = os.fspath(path)
    return os.path.join(os.curdir, text) if text.startswith(FORMULA_STARTS) else text


def blank_reason(subject: str = "digit") -> str:
    """The probability column of a blank row: ``subject`` is what the model reads (:func:`subject_of`)."""
    # Blank paper, ruled lines and noise alone are all "blank": "the image is blank" was wrong for the noise.
    return f"no {subject} found (the picture is blank, or only lines or noise)"


def small_warning(dataset: str = "mnist") -> str:
    """The warning for a picture whose subject is too small to read surely by a model of ``dataset`` (see
    :func:`mnist_rnn.user_images.small_size`)."""
    return (
        f"the {subject_of(dataset)} is under {small_size(dataset)} pixels high and wide: an answer on one this "
        "small is wrong more often than its probability says; a larger picture of it reads better"
    )


def several_warning(subject: str = "digit") -> str:
    """The warning for a picture of more than one ``subject``."""
    return f"more than one {subject} found; the row is about one of them (one {subject} per image: crop the others out)"


def frames_warning(frames: int) -> str:
    """The warning for an animation or a multi-page file of ``frames`` frames or pages, of which the first alone
    was read: an animated GIF of a digit being drawn begins with an empty or half-drawn frame, and a row about
    it said nothing of the others."""
    return f"{frames} frames or pages (an animation, a multi-page scan): the first alone was read; save the one meant"


class PredictionWriter(BasePredictionWriter):
    """Collect the most likely class and its probability per image; print and save the table at the end.

    Args:
        stdout: Also print the CSV on standard output (the command line's result).
        save: Also write it as ``predictions.csv`` in the run's folder (``trainer.log_dir``; without a logger, the
            working folder). The command line's ``predict`` saves it only where a logger is typed.
    """

    def __init__(self, stdout: bool = True, save: bool = True) -> None:
        super().__init__(write_interval="batch")
        self.stdout = stdout
        self.save = save
        self.rows: list[tuple[Path, str, str]] = []
        self.path: Path | None = None  # where the CSV was written, once it is
        self.header: tuple[str, str, str] = HEADER
        self._labels: Sequence[str] = []  # the class names the table uses (MNIST: the digits)
        self._dataset = "mnist"  # what the model reads, for the messages
        self.written = False  # whether write_table ran in this predict

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Tensor,
        batch_indices: Any,
        batch: tuple[Tensor, Tensor],
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        images: UserImages = trainer.datamodule.predict_set
        probability, digit = prediction.max(dim=-1)
        blank_row = (BLANK, blank_reason(subject_of(self._dataset)))
        for index, p, d in zip(batch[1].tolist(), probability.tolist(), digit.tolist(), strict=True):
            row = blank_row if images.blank[index] else (self._labels[d], f"{p:.4f}")
            self.rows.append((images.files[index], *row))

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if getattr(trainer.datamodule, "predict_set", None) is None:  # it ended in "'NoneType' ... 'predict_set'"
            raise UserError(
                "PredictionWriter names each row's file from the data module: pass "
                "trainer.predict(model, datamodule=MNISTDataModule(predict_path=...)), not dataloaders="
            )
        self.rows = []
        self.path = None
        self.set_classes(pl_module)

    def set_classes(self, pl_module: LightningModule) -> None:
        """Name the column and the classes after the model's data set."""
        hparams = getattr(pl_module, "hparams", {})
        self._labels = short_names(hparams.get("class_names"), hparams.get("num_classes", 10))  # MNIST's: digits
        dataset = hparams.get("dataset", "mnist")
        self.header = HEADER if dataset == "mnist" else ("path", "class", "probability")
        self._dataset = dataset

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "predict":
            self.written = False

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.write_table(trainer)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # No image could be read: Lightning skipped the predict loop and all its hooks, so from Python the
        # failed files' rows and messages were never written (the CLI wrote them itself). Lightning calls
        # teardown all the same.
        if stage == "predict" and not self.written and getattr(trainer.datamodule, "predict_set", None) is not None:
            self.write_table(trainer)

    def write_table(self, trainer: Trainer) -> None:
        """Print and save the table: at the end of predict, or at its teardown when no image could be read
        (Lightning skips a predict loop without batches, and its hooks with it)."""
        if not trainer.is_global_zero:
            return
        self.written = True
        if trainer.lightning_module is not None:
            self.set_classes(trainer.lightning_module)
        failures = [(path, "error", reason) for path, reason in trainer.datamodule.predict_set.failures]
        rows = sorted(self.rows + failures, key=lambda row: natural_order(row[0]))  # find_images' order
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        # Python's writer quotes a field with a line break of lineterminator's ("\n") only: a name with a carriage
        # return ("\r", a file from a classic Mac or an upload) was left unquoted, and csv.reader stopped on it
        # ("new-line character seen in unquoted field"). Such a row is quoted whole.
        quoting = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        predict_set = trainer.datamodule.predict_set
        # With --data.save_prepared, which 28x28 image is whose: scan.jpg's may be scan-2.png, when scan.png or
        # another folder's scan.jpg came first. A file that could not be read has none.
        saved = None if predict_set.saved is None else dict(zip(predict_set.files, predict_set.saved, strict=True))
        writer.writerow(self.header if saved is None else (*self.header, "prepared"))
        for path, digit, probability in rows:
            row = (cell_path(path), digit, probability)
            if saved is not None:
                row = (*row, cell_path(saved[path]) if path in saved else "")
            (quoting if any("\r" in cell for cell in row) else writer).writerow(row)
        # A file name that is not UTF-8 (Latin-1 from an old USB stick or a Windows zip) holds surrogates,
        # which a strict encoding refuses: it ended the run with a traceback and no table. Written back as
        # the bytes of the name, the table names the file as ls does.
        data = buffer.getvalue().encode("utf-8", "surrogateescape")
        unwritten: OSError | None = None
        if self.stdout:  # first: the answers are on the screen even where the file cannot be written (a full disk)
            try:
                _write_stdout(data)
            except OSError as error:  # output sent to a file on a full disk: the run's file still gets the table
                unwritten = error
        if self.save and trainer.log_dir is not None:
            self.path = _write_new(Path(trainer.log_dir), FILE_NAME, data)
        if unwritten is not None:
            kept = f"; the table is in {shown_name(self.path)}" if self.path else ""
            raise UserError(
                f"the table could not be written on the standard output ({unwritten.strerror or unwritten}){kept}"
            )
        several = {path for path, flag in zip(predict_set.files, predict_set.several, strict=True) if flag}
        small = {path for path, flag in zip(predict_set.files, predict_set.small, strict=True) if flag}
        frames = dict(zip(predict_set.files, predict_set.frames, strict=True))
        for path, digit, reason in rows:
            name = shown_name(path)  # one line each, even for a name with a line break
            if frames.get(path, 1) > 1:
                warn(f"{name}: {frames_warning(frames[path])}")
            if digit == "error":
                tell(f"{name}: {reason}")
            elif digit == BLANK:
                warn(f"{name}: {reason}")
            else:
                if path in several:
                    warn(f"{name}: {several_warning(subject_of(self._dataset))}")
                if path in small:
                    warn(f"{name}: {small_warning(self._dataset)}")
        if self.path is not None:
            tell(f"the table is also in {shown_name(self.path)}")


def _write_new(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` in ``folder`` under ``name``, or ``stem-2.csv``, ``stem-3.csv``... when that is taken:
    never over a file already there. Without a logger the folder is the working folder, where a
    ``predictions.csv`` of the user's own was overwritten without a word."""
    folder.mkdir(parents=True, exist_ok=True)
    path, count = folder / name, 1
    while True:
        try:
            file = open(path, "xb")  # x: fails on an existing file, atomically
        except FileExistsError:
            count += 1
            path = folder / f"{Path(name).stem}-{count}{Path(name).suffix}"
            continue
        try:
            with file:
                file.write(data)
        except OSError:  # a full disk: no empty or cut-short table left behind
            path.unlink(missing_ok=True)
            raise
        return path


def _write_stdout(data: bytes) -> None:
    """Write bytes on standard output, through its text layer where it has no byte layer (a test's capture)."""
    sys.stdout.flush()
    if hasattr(sys.stdout, "buffer"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))
        sys.stdout.flush()
