"""MNIST-family data: IDX files on disk -> uint8 tensors in memory -> whole batches by index.

torchvision's dataset classes download the files and decode them, but their ``__getitem__`` turns every
sample into a PIL image and back into a tensor, one at a time, which costs more than the LSTM itself on a
CPU. Here the decoded uint8 tensors stay in memory and a DataLoader fetches a whole batch with one indexing
operation (``__getitems__``). Normalisation happens in the model, on the device, so the batch crosses to
the GPU as uint8 (4x fewer bytes) and a checkpoint alone knows how to normalise raw images.

On a GPU the whole split lives on the device instead (``device_resident``): 55,000 uint8 images are 43 MB,
and a batch is one ``index_select`` by on-device indices, so no DataLoader, sampler, collate or host-to-device
copy runs per step (:class:`DeviceBatches`).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import math
import numbers
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.datasets.mnist import read_image_file, read_label_file

from mnist_rnn.errors import (
    DataError,
    MissingDataError,
    SettingsError,
    UserError,
    first_few,
    first_line,
    pasted,
    shown_name,
    tell,
    warn,
    with_slashes,
)
from mnist_rnn.idx import check_idx_pair, fingerprint
from mnist_rnn.preparation import FRAME
from mnist_rnn.user_images import UserImages, small_size, subject_of

DatasetName = Literal["mnist", "fashion_mnist", "kmnist"]


@dataclass(frozen=True)
class DatasetInfo:
    """What the model needs to know about a data set: its torchvision class and pixel statistics."""

    torchvision_class: type[datasets.MNIST]
    mean: float  # of the training pixels, scaled to [0, 1]
    std: float

    @property
    def folder(self) -> str:
        """The folder under ``data_dir`` that torchvision reads, e.g. ``MNIST`` or ``FashionMNIST``."""
        return self.torchvision_class.__name__

    @property
    def class_names(self) -> list[str]:
        return list(self.torchvision_class.classes)

    @property
    def file_names(self) -> list[str]:
        """The four uncompressed IDX files torchvision expects under ``<data_dir>/<folder>/raw/``."""
        return [Path(url).stem for url, _ in self.torchvision_class.resources]


# Fewer validation images than this make val/acc too coarse to choose the best checkpoint on: a warning.
SMALL_VALIDATION = 1000

# Statistics of the 60,000 training images of each set (MNIST's measured on the real files here).
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(datasets.MNIST, mean=0.1307, std=0.3081),
    "fashion_mnist": DatasetInfo(datasets.FashionMNIST, mean=0.2860, std=0.3530),
    "kmnist": DatasetInfo(datasets.KMNIST, mean=0.1918, std=0.3483),
}

# The family's files, by their :func:`~mnist_rnn.idx.fingerprint`: a file under another name, or in another
# set's folder, is named instead of read. Measured on MNIST's four files (byte-identical to the originals) and
# on Fashion-MNIST's as Debian's dataset-fashion-mnist unpacks them; KMNIST's could not be had here. A file not
# in the table is read as before, so one missing here can only go unnamed, never be refused.
KNOWN_FILES: dict[str, tuple[str, str]] = {
    "829a8c37c4ce2209": ("mnist", "train-images-idx3-ubyte"),
    "65a50cbbf4e906d7": ("mnist", "train-labels-idx1-ubyte"),
    "9f245149ae612194": ("mnist", "t10k-images-idx3-ubyte"),
    "ff7bcfd416de3373": ("mnist", "t10k-labels-idx1-ubyte"),
    "85131e4e7b057a69": ("fashion_mnist", "train-images-idx3-ubyte"),
    "bad3541b69d91243": ("fashion_mnist", "train-labels-idx1-ubyte"),
    "1a49afb368079c88": ("fashion_mnist", "t10k-images-idx3-ubyte"),
    "0402a96d92fd2663": ("fashion_mnist", "t10k-labels-idx1-ubyte"),
}


def download_failure(error: Exception) -> str:
    """torchvision's download error in one line: the mirrors it tried and why they failed, e.g. "tried
    ossci-datasets.s3.amazonaws.com, yann.lecun.com: Name or service not known" (no network, or no DNS). Its
    own first line, "Error downloading train-images-idx3-ubyte.gz:", leaves the reason on the lines below."""
    tried = re.findall(r"^Tried (\S+), got:\n(.*)$", str(error), flags=re.MULTILINE)
    if not tried:
        return first_line(error)
    hosts = ", ".join(dict.fromkeys(urlsplit(url).netloc for url, _ in tried))
    reasons = dict.fromkeys(  # "<urlopen error [Errno -2] Name or service not known>": the words only
        re.sub(r"^<urlopen error (?:\[Errno -?\d+\] )?(.*)>$", r"\1", why.strip()) for _, why in tried
    )
    return f"tried {hosts}: {'; '.join(reasons)}"


class InMemoryImages(Dataset):
    """uint8 images of shape (N, 1, H, W) and int64 labels, served a whole batch per index list.

    The DataLoader's default fetcher calls ``__getitems__`` with the batch's indices (torch >= 2.1), so a
    batch is one tensor gather instead of ``batch_size`` Python calls and a collate. Samplers are untouched,
    so Lightning can still swap in a DistributedSampler to give each process its own shard.
    """

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(indices)
        # index_select is ~15x faster than advanced indexing (images[index]) for uint8 4-D tensors on CPU.
        return self.images.index_select(0, index), self.labels.index_select(0, index)


def keep_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """collate_fn for :class:`InMemoryImages`: its batches come already stacked."""
    return batch


class DeviceBatches:
    """Batches of a split that lives on the device, drawn by on-device indices: what a DataLoader over
    :class:`InMemoryImages` gives, without the DataLoader.

    Each process takes its own shard, as the data module's samplers give it: process ``rank`` takes every
    ``world_size``-th index from ``rank``. Training's shuffled indices are padded by repeating the first ones to
    a multiple of ``world_size``, so every process runs the same number of steps (DDP syncs every backward);
    evaluation's are not, so each image counts once (a shard may be one image shorter, which evaluation
    allows). Shuffled splits use a permutation seeded by ``seed + epoch``, the
    same in every process, so the shards of one epoch never overlap and a resumed run draws the epochs it
    would have drawn. The last batch may be smaller (no ``drop_last``). Lightning accepts any iterable with a
    length as a data loader; it moves nothing, since the batches are on the device already.

    Args:
        images: uint8 images (N, 1, H, W) on the device that trains.
        labels: int64 labels (N,) on the same device.
        batch_size: Images per batch.
        shuffle: Draw a new order every epoch (training) or keep the split's order (evaluation).
        seed: Seed of the per-epoch permutations.
        epoch: Returns the current epoch when an epoch's batches begin (the Trainer's ``current_epoch``).
        rank: This process's rank among ``world_size`` processes.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, epoch
        self.rank, self.world_size = rank, world_size
        padded = math.ceil(len(labels) / world_size)
        self.shard_size = padded if shuffle else len(range(rank, len(labels), world_size))

    def __len__(self) -> int:
        return math.ceil(self.shard_size / self.batch_size)

    def indices(self) -> Tensor:
        """This process's indices for the current epoch, on the device."""
        device = self.labels.device
        count = len(self.labels)
        if self.shuffle:
            generator = torch.Generator(device=device).manual_seed(self.seed + self.epoch())
            order = torch.randperm(count, generator=generator, device=device)
        else:
            order = torch.arange(count, device=device)
        padding = self.shard_size * self.world_size - count if self.shuffle else 0
        if padding:
            order = torch.cat([order, order[:padding]])
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for batch in self.indices().split(self.batch_size):
            yield self.images.index_select(0, batch), self.labels.index_select(0, batch)


# What predict says without images (the command line says it before Lightning starts; this module for Python use).
NEEDS_IMAGES = "predict needs images: pass --data.predict_path FILE, FOLDER or GLOB"

# The values the model takes from the data module (the CLI links each), so nobody types them twice.
DATA_TO_MODEL = ("num_classes", "image_size", "mean", "std", "dataset", "class_names")


DEFAULT_DATA_DIR = "data/"  # where the first fit downloads the data set


def warn_run_folder_gone(folder: str | Path, instead: str | Path) -> None:
    """The data folder a checkpoint's run read is not there from here (another machine, or a path relative to
    another folder): say which one is read instead, rather than fail on, or download into, the old one. Each
    folder as :func:`shown_name` writes it: a line break in its name split the warning."""
    warn(
        f"the checkpoint's run read its data from {shown_name(folder)}, which is not there from here: reading "
        f"{shown_name(instead)} "
        "instead (--data.data_dir names the folder)"
    )


class MNISTDataModule(LightningDataModule):
    """MNIST, Fashion-MNIST or KMNIST from torchvision's folder layout, held in memory.

    Args:
        data_dir: Folder holding ``MNIST/raw/`` (or ``FashionMNIST/raw/``, ``KMNIST/raw/``). Files missing
            there are downloaded by ``prepare_data``.
        dataset: Which MNIST-family set to use.
        batch_size: Images per training, validation and test batch.
        num_workers: DataLoader worker processes; 0 loads in the main process (fastest for in-memory data).
        val_size: Images held out of the 60,000 training images for validation and checkpoint selection.
        split_seed: Seed of the train/val split, so that every process and every call get the same split.
        predict_path: Images to classify with ``predict``: an image file, a folder of images or a glob.
            Predicting needs only these and a checkpoint, not the MNIST files.
        save_prepared: A folder where ``predict`` saves the 28x28 images the model sees, one PNG per
            image file, named after it: to check what the preparation made of a digit read wrongly.
        prepare_workers: Processes that decode and prepare ``predict``'s images, each a share of the files;
            0 prepares them in this process. ``None``: one per CPU core this process may use, when each
            gets at least 32 files.
        device_resident: Keep the train, val and test images on the training device and draw batches there
            (:class:`DeviceBatches`) instead of through a DataLoader. ``None``: on a CUDA GPU only (on a CPU
            the DataLoader path is as fast, and ``num_workers`` can apply); ``true`` also on a CPU.
    """

    #: The option that chooses the data set, as the missing-files message names it. ``calibrate`` reads the
    #: data set from the checkpoint and takes no such option: it sets None, and the message names the
    #: checkpoint's data set instead.
    dataset_option: str | None = "--data.dataset"

    def __init__(
        self,
        data_dir: str = DEFAULT_DATA_DIR,
        dataset: DatasetName = "mnist",
        batch_size: int = 128,
        num_workers: int = 0,
        val_size: int = 5000,
        split_seed: int = 0,
        predict_path: str | None = None,
        save_prepared: str | None = None,
        prepare_workers: int | None = None,
        device_resident: bool | None = None,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise SettingsError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        counts = {"batch_size": batch_size, "num_workers": num_workers, "val_size": val_size, "split_seed": split_seed}
        for name, value in {**counts, "prepare_workers": prepare_workers or 0}.items():
            # From Python, not the CLI (which checks types): val_size=0.1, a fraction as some data modules
            # take it, ended in "slice indices must be integers", batch_size="64" in a comparison's TypeError.
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                fraction = " (a number of images, not a fraction of them)" if name == "val_size" else ""
                raise SettingsError(f"{name} must be a whole number{fraction}, got {value!r}")
        if batch_size <= 0:
            raise SettingsError(f"batch_size must be positive, got {batch_size}")
        if num_workers < 0:
            raise SettingsError(f"num_workers must be 0 or more, got {num_workers}")
        if prepare_workers is not None and prepare_workers < 0:
            raise SettingsError(f"prepare_workers must be 0 or more, got {prepare_workers}")
        if val_size <= 0:
            raise SettingsError(f"val_size must be positive, got {val_size}")
        if isinstance(data_dir, str) and not data_dir.strip():
            # --data.data_dir "$DATA" with DATA unset: Path("") is the working folder, where the download went
            # without a word (a MNIST/raw/ beside the user's files)
            raise SettingsError(
                f"--data.data_dir {data_dir!r}: an empty name (an unset shell variable?): pass the folder that holds "
                f"{DATASETS[dataset].folder}/raw/, or leave the option out for {DEFAULT_DATA_DIR}"
            )
        self.save_hyperparameters()
        self.data_dir = Path(data_dir).expanduser()
        # The checkpoint keeps the folder as an absolute path: test, validate, calibrate and export of it then
        # read the data its run read, wherever they are started (a relative "data" named another folder there,
        # and export took generated images for its check when that folder was missing).
        self.hparams["data_dir"] = os.path.abspath(self.data_dir)  # links kept as named
        self.dataset = dataset
        self.info = DATASETS[dataset]
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_size = val_size
        self.split_seed = split_seed
        self.predict_path = predict_path
        self.save_prepared = save_prepared
        self.prepare_workers = prepare_workers
        self.device_resident = device_resident
        self.train_set: InMemoryImages | None = None
        self.val_set: InMemoryImages | None = None
        self.test_set: InMemoryImages | None = None
        # For predict: the prepared images, their files, the files that could not be read, the blank ones.
        self.predict_set: UserImages | None = None
        self._warned_val_size = False
        self._warned_workers = False

    # Values the CLI links into the model, so the user never types them twice.
    @property
    def model_settings(self) -> dict[str, Any]:
        """What the model takes from the data set, for Python code: ``RNNClassifier(**dm.model_settings)``.
        Without them a Fashion-MNIST data module and a default model (MNIST's classes and normalisation) ended
        in Lightning's "Error while merging hparams" on ``dataset``."""
        return {name: getattr(self, name) for name in DATA_TO_MODEL}

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)

    @property
    def class_names(self) -> list[str]:
        return self.info.class_names

    @property
    def mean(self) -> float:
        return self.info.mean

    @property
    def std(self) -> float:
        return self.info.std

    @property
    def image_size(self) -> int:
        """Height (= width) of the images: 28 in every MNIST-family set (the IDX checks refuse other sizes, and
        users' images are framed at 28x28)."""
        return FRAME

    @property
    def raw_folder(self) -> Path:
        return self.data_dir / self.info.folder / "raw"

    def prepare_data(self) -> None:
        """Unpack or download the files if they are missing (only the download touches the network), then
        check them.

        The checks run here too (not only in ``setup``) because Lightning calls ``prepare_data`` before it
        creates the log folder: bad files then leave no empty ``lightning_logs/version_N`` behind.
        Not when predicting: that reads only the user's images.
        """
        if self.trainer is not None and self.trainer.predicting:
            return
        splits = self._splits()
        self._check_data_dir()
        self._unpack_gz_files(splits)
        if not self._files_present(splits):
            self._check_layout(splits)
            self._download()
        counts = {train: self._check_files(train) for train in splits}
        if True in counts:
            self._check_val_size(counts[True])
            if self.trainer is None or self.trainer.state.fn == "fit":
                self._check_batch_size(counts[True])

    def check_folder(self, splits: tuple[bool, ...], fitting: bool) -> None:
        """The checks of ``prepare_data`` that download, unpack and write nothing, for the splits ``splits``
        (``train=True``, ``False``; ``fitting``: the training batch too): the folder, and the files where they are
        all there, else (where there is nothing to unpack either) a folder inside or above the set's layout. The
        CLI runs them before it builds the Trainer: from ``prepare_data`` alone, their one line came after
        Lightning's ("Seed set to 42", "GPU available: ...")."""
        self._check_data_dir()
        files = [path for train in splits for path in self._split_files(train)]
        if all(path.is_file() for path in files):
            counts = {train: self._check_files(train) for train in splits}
            if True in counts:
                self._check_training_left(counts[True])
                if fitting:
                    self._check_batch_size(counts[True])
        elif not any(path.is_file() or _gz(path).is_file() for path in files):  # prepare_data would download
            self._check_layout(splits)

    def _check_data_dir(self) -> None:
        """A file given as the data folder, or a data file there that cannot be one."""
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise DataError(
                f"--data.data_dir {shown_name(self.data_dir)}: a file, not a folder: pass the folder that holds "
                f"{self.info.folder}/raw/"
            )
        self._check_paths()

    def _check_layout(self, splits: tuple[bool, ...]) -> None:
        """Before a download: a data_dir that names a folder inside the set's layout or above it, or one written
        with Windows' backslashes, where the files are there."""
        self._check_not_inside_the_layout()
        self._check_not_above_the_layout(splits)
        if not self.data_dir.exists() and with_slashes(self.data_dir):  # data\mnist, as Windows writes it: the
            # download made a folder of that name (offline: "not found", next to the very files)
            raise DataError(f"--data.data_dir {shown_name(self.data_dir)}: no such folder{with_slashes(self.data_dir)}")
        text = str(self.data_dir)
        if not self.data_dir.exists() and text.strip() not in (text, "") and Path(text.strip()).expanduser().is_dir():
            # a space pasted with the name ("/data/mnist ", or in a config's quotes): a download into a folder of
            # that name, beside the very files
            raise DataError(
                f"--data.data_dir {pasted(text)}: no such folder (a space or a line break begins or ends the name: "
                f"{pasted(text.strip())} is there)"
            )

    def _splits(self) -> tuple[bool, ...]:
        """The splits this run reads (``train=True``, ``False``): ``test`` reads only the test files, so a folder
        that holds only those serves it, and a damaged training file does not stop it."""
        testing = self.trainer is not None and self.trainer.state.fn == "test"
        return (False,) if testing else (True, False)

    def _split_files(self, train: bool) -> list[Path]:
        """A split's images and labels files: torchvision lists train images, train labels, test images, test
        labels."""
        names = self.info.file_names[:2] if train else self.info.file_names[2:]
        return [self.raw_folder / name for name in names]

    def _check_paths(self) -> None:
        """Name a data file that is there but cannot be a file: a folder, a symbolic link that loops, one to
        nothing. Otherwise it would read as "files not found", and a download would try to write over it."""
        for name in self.info.file_names:
            path = self.raw_folder / name
            try:
                path.stat()
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise DataError(
                        f"{shown_name(path)}: a symbolic link that loops (points back to itself)"
                    ) from error
                if error.errno in (errno.EACCES, errno.EPERM):  # a folder on the way this user may not open
                    raise DataError(
                        f"{shown_name(path)}: cannot be reached ({error.strerror}): check its folders' permissions"
                    ) from error
                if path.is_symlink():
                    raise DataError(
                        f"{shown_name(path)}: a symbolic link to {shown_name(os.readlink(path))}, which does not exist"
                    ) from error
                continue  # simply missing: unpacked or downloaded below
            if path.is_dir():
                raise DataError(
                    f"{shown_name(path)}: a folder, not a file: put the {name} file there (or its {name}.gz)"
                )

    def _unpack_gz_files(self, splits: tuple[bool, ...]) -> None:
        """Unpack ``NAME.gz`` files in ``raw/`` whose uncompressed file is missing (what people download by
        hand), and check each pair like uncompressed files: by their IDX content, not by a checksum."""
        for train in splits:
            pair = self._split_files(train)
            if all(path.is_file() for path in pair) or not any(_gz(path).is_file() for path in pair):
                continue
            missing = [path for path in pair if not path.is_file() and not _gz(path).is_file()]
            if missing:
                raise MissingDataError(self._missing_message(", nor their .gz files", splits, gz=True))
            unpacked: dict[Path, Path] = {}
            try:
                for path in pair:
                    if not path.is_file():
                        unpacked[path] = _unpack(_gz(path))
                check_idx_pair(*(unpacked.get(path, path) for path in pair), num_classes=self.num_classes)
            except DataError as error:
                message = str(error)
                for path, partial in unpacked.items():
                    partial.unlink()
                    message = message.replace(shown_name(partial), f"{shown_name(_gz(path))} (unpacked)")
                raise DataError(message) from error
            for path, partial in unpacked.items():
                os.replace(partial, path)
                tell(f"unpacked {shown_name(_gz(path))}")

    def _check_not_inside_the_layout(self) -> None:
        """A --data.data_dir that names the files' own folder (``MNIST/raw/``, or ``MNIST/``): say which folder
        to pass, instead of downloading a second copy into ``MNIST/raw/MNIST/raw/`` (or failing offline with
        "not found" next to the very files)."""
        folder = self.info.folder
        for holder in (self.data_dir, self.data_dir / "raw"):
            if not all((holder / name).is_file() or _gz(holder / name).is_file() for name in self.info.file_names):
                continue
            named = holder.parent if holder.name == "raw" else holder  # MNIST/ or FashionMNIST/, perhaps
            other = next((name for name, info in DATASETS.items() if info.folder == named.name), self.dataset)
            if other != self.dataset and named.parent != named:
                # Fashion-MNIST's folder with the default data set: "move them" would train on garments as digits.
                choose = f"{self.dataset_option} {other} " if self.dataset_option else ""
                raise DataError(
                    f"--data.data_dir {shown_name(self.data_dir)}: {named.name}'s files (by their folder), not "
                    f"{folder}'s: "
                    f"{choose}--data.data_dir {pasted(named.parent)} reads them"
                )
            if holder.name == "raw" and holder.parent.name == folder:
                fix = f"pass the folder that holds {folder}/raw/: --data.data_dir {pasted(holder.parent.parent)}"
            else:
                fix = f"move them into {shown_name(self.raw_folder)}/, or pass the folder that holds {folder}/raw/"
            where = f"the {folder} files are in {shown_name(holder)}/, not in {shown_name(self.raw_folder)}/"
            raise DataError(f"--data.data_dir {shown_name(self.data_dir)}: {where}: {fix}")

    def _check_not_above_the_layout(self, splits: tuple[bool, ...]) -> None:
        """A --data.data_dir one level above the set's folder (``../shared`` for ``../shared/mnist/MNIST/raw/``):
        say which folder to pass, instead of downloading a second copy into ``../shared/MNIST/raw/`` without a
        word (offline, the folder was named only after the download failed)."""
        folder = self.info.folder
        names = [path.name for train in splits for path in self._split_files(train)]
        for holder in _subfolders_holding(self.data_dir, folder):
            raw = holder / folder / "raw"
            if all((raw / name).is_file() or _gz(raw / name).is_file() for name in names):
                raise DataError(
                    f"--data.data_dir {shown_name(self.data_dir)}: the {folder} files are in {shown_name(raw)}/, "
                    f"not in {shown_name(self.raw_folder)}/: pass the folder that holds {folder}/raw/: "
                    f"--data.data_dir {pasted(holder)}"
                )

    def _download(self) -> None:
        # torchvision creates data_dir/<folder>/raw/ before it downloads: after a failure (no network, a
        # mistyped --data.data_dir) remove the folders it made, so no empty folders are left behind.
        made = []  # the folders that are not there yet, deepest first
        folder = self.raw_folder.absolute()
        while not folder.exists():
            made.append(folder)
            folder = folder.parent
        for train in (True, False):
            # torchvision prints each failed mirror to stdout; keep that out of the user's way and say
            # once, clearly, what is missing.
            noise = io.StringIO()
            try:
                with contextlib.redirect_stdout(noise):
                    self.info.torchvision_class(str(self.data_dir), train=train, download=True)
            except Exception as error:  # no network, a mirror down, a bad checksum...
                for path in made:
                    with contextlib.suppress(OSError):
                        path.rmdir()  # only if empty: never a file
                raise MissingDataError(
                    self._missing_message(f", and the download failed ({download_failure(error)})", self._splits())
                ) from error

    def setup(self, stage: str | None = None) -> None:
        """Decode the files into memory once; the split is the same on every call and in every process."""
        if stage in (None, "fit", "validate") and self.train_set is None:
            images, labels = self.load_split(train=True)
            self._check_val_size(len(labels))
            order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.split_seed))
            val_index, train_index = order[: self.val_size], order[self.val_size :]
            self.train_set = InMemoryImages(images[train_index], labels[train_index])
            self.val_set = InMemoryImages(images[val_index], labels[val_index])
        if stage in (None, "test") and self.test_set is None:
            self.test_set = InMemoryImages(*self.load_split(train=False))
        if stage == "predict" and self.predict_set is None and self.predict_path:
            # Without a predict_path, a Trainer that tested with this data module and now predicts on dataloaders
            # of its own still calls this: refused here, it refused them ("predict needs images").
            self.read_predict_images()

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader | DeviceBatches:
        return self._loader(self.test_set, shuffle=False)

    def teardown(self, stage: str) -> None:
        """After a ``Trainer.predict`` without a prediction writer (Python code; the CLI writes the table with
        :class:`mnist_rnn.predictions.PredictionWriter`), say which files have no prediction and which showed
        nothing: its list of probabilities had no entry for a file that could not be read, so it no longer
        lined up with the files, and a blank page got a confident class, without a word."""
        from lightning.pytorch.callbacks import BasePredictionWriter

        images, trainer = self.predict_set, self.trainer
        if stage != "predict" or images is None or trainer is None:
            return
        if any(isinstance(callback, BasePredictionWriter) for callback in trainer.callbacks):
            return
        # Each name in one line (shown_name): a name with a line break split the warning, its rest read as a line.
        blank = [shown_name(path) for path, empty in zip(images.files, images.blank, strict=True) if empty]
        small = [shown_name(path) for path, tiny in zip(images.files, images.small, strict=True) if tiny]
        if not (images.failures or blank or small):
            return
        subject = subject_of(self.dataset)
        parts = []
        if images.failures:
            named = first_few([f"{shown_name(path)} ({why})" for path, why in images.failures])
            parts.append(f"{len(images.failures)} could not be read and have none: {named}")
        if blank:
            parts.append(f"{len(blank)} show no {subject}, so their probabilities are a guess: {first_few(blank)}")
        if small:
            parts.append(
                f"{len(small)} show a {subject} under {small_size(self.dataset)} pixels high and wide, whose "
                f"probabilities overstate how sure its answer is: {first_few(small)}"
            )
        warn(
            f"of {len(images.files) + len(images.failures)} files, {'; '.join(parts)}. The predictions follow "
            "datamodule.predict_set.files; its .blank, .small and .failures say which, and "
            "mnist_rnn.predictions.PredictionWriter writes them all as rows"
        )

    def predict_dataloader(self) -> DataLoader:
        """Batches of (images uint8 (B, 1, 28, 28), their indices into ``predict_set.files``), in file order."""
        if self.predict_set is None:
            self.read_predict_images()
        return self._loader(self.predict_set, shuffle=False)

    def read_predict_images(self) -> None:
        """Read every image before the first batch, so one unreadable file never ends the run halfway and
        the writer can report good and bad files together at the end."""
        if not self.predict_path:
            raise UserError(NEEDS_IMAGES)
        if self.save_prepared and Path(self.save_prepared).exists() and not Path(self.save_prepared).is_dir():
            # before every picture is read and prepared, not after ("File exists")
            raise UserError(
                f"--data.save_prepared {shown_name(self.save_prepared)}: a file, not a folder: name a folder"
            )
        self.predict_set = UserImages.load(self.predict_path, workers=self.prepare_workers, dataset=self.dataset)
        if self.save_prepared:
            self.predict_set.save(self.save_prepared)

    def resident_device(self) -> torch.device | None:
        """The device the splits live on when batches are drawn there (:class:`DeviceBatches`), else ``None``."""
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        wanted = device.type == "cuda" if self.device_resident is None else self.device_resident
        return device if wanted else None

    def _loader(self, dataset: InMemoryImages | UserImages | None, shuffle: bool) -> DataLoader | DeviceBatches:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        device = self.resident_device() if isinstance(dataset, InMemoryImages) else None
        if device is not None:
            if self.num_workers and not self._warned_workers:  # else ignored without a word
                self._warned_workers = True
                warn(
                    f"--data.num_workers {self.num_workers} is not used: with --data.device_resident the batches "
                    f"are drawn from the images held on the {device.type}, in this process"
                )
            if dataset.images.device != device:  # once per split: the tensors stay there for every epoch
                dataset.images, dataset.labels = dataset.images.to(device), dataset.labels.to(device)
            trainer = self.trainer
            return DeviceBatches(
                dataset.images,
                dataset.labels,
                self.batch_size,
                shuffle=shuffle,
                # Lightning's DistributedSampler takes its seed from here too.
                seed=int(os.environ.get("PL_GLOBAL_SEED", 0)),
                epoch=(lambda: trainer.current_epoch) if trainer is not None else (lambda: 0),
                rank=trainer.global_rank if trainer is not None else 0,
                world_size=trainer.world_size if trainer is not None else 1,
            )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=self._evaluation_shard(dataset) if not shuffle else None,
            collate_fn=keep_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def _evaluation_shard(self, dataset: InMemoryImages | UserImages) -> UnrepeatedDistributedSampler | None:
        """Under DDP, this process's share of a validation or test split, each image in one share only.

        Lightning would give each process a ``DistributedSampler``, which pads the split to a multiple of the
        processes by repeating its first images: with 3 processes the 10,000 test images were 10,002, two
        counted twice in the accuracy (it warns so during ``validate`` and ``test`` only). Evaluation needs no
        equal shares (no backward, no gradient sync), so its shares are not padded, as Lightning's own for
        ``predict``, which it handles itself. ``None``: one process, or ``predict``.
        """
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1 or not isinstance(dataset, InMemoryImages):
            return None
        return UnrepeatedDistributedSampler(dataset, shuffle=False, **trainer.distributed_sampler_kwargs)

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        """Decode one split with torchvision's own IDX reader: uint8 images (N, 1, H, W), int64 labels (N,).
        Its functions, not its data set class, which wants all four files there to read one split's two."""
        self._check_files(train)
        images, labels = self._split_files(train)
        return read_image_file(str(images)).unsqueeze(1).contiguous(), read_label_file(str(labels)).long()

    def _check_files(self, train: bool) -> int:
        """Check one split's pair of IDX files (cheap: headers, sizes, labels, which set's files they are);
        return its number of images."""
        if not self._files_present((train,)):
            self._check_not_inside_the_layout()  # export reads a split without prepare_data
            raise MissingDataError(self._missing_message("", (train,)))
        images, labels = self._split_files(train)
        count = check_idx_pair(images, labels, num_classes=self.num_classes)
        for path in (images, labels):
            self._check_known_file(path)
        return count

    def _check_known_file(self, path: Path) -> None:
        """Refuse a file that is another known file of the family (:data:`KNOWN_FILES`): another set's (the
        Fashion-MNIST files copied under MNIST/raw/), or the other split's (the train and t10k files swapped,
        or the test files copied over with the training ones). Each of these trained and tested without a
        word, on the wrong images."""
        known = KNOWN_FILES.get(fingerprint(path))
        if known is None or known == (self.dataset, path.name):
            return
        dataset, name = known
        folder = DATASETS[dataset].folder
        if dataset == self.dataset:
            raise DataError(
                f"{shown_name(path)}: {folder}'s {name}, not its {path.name}: the files were swapped or copied over "
                "each other; put each under its own name, or download them again"
            )
        read_it = ""
        if self.dataset_option:
            read_it = f"{self.dataset_option} {dataset} reads {folder}'s files (in {folder}/raw/); "
        raise DataError(
            f"{shown_name(path)}: {folder}'s {name}, not {self.info.folder}'s: {read_it}put {self.info.folder}'s "
            f"own files in {shown_name(self.raw_folder)}/ (or remove these, and fit downloads them)"
        )

    def check_processes(self, processes: int) -> None:
        """Each of a run's processes validates its own share of the held-out images: refuse fewer of them than
        processes (Lightning's sampler stopped the process left without one with a bare AssertionError). The
        CLI asks before the processes start, so that one process says it, once."""
        if self.val_size < processes:
            raise DataError(
                f"val_size={self.val_size} is fewer held-out images than the run's {processes} processes, which "
                f"validate a share each: pass --data.val_size {processes} or more (or fewer --trainer.devices)"
            )

    def _check_val_size(self, train_count: int) -> None:
        self._check_training_left(train_count)
        fitting = self.trainer is None or self.trainer.state.fn in ("fit", "validate")
        if fitting and self.trainer is not None and self.trainer.limit_val_batches != 0:
            self.check_processes(self.trainer.world_size)
        if self.val_size < SMALL_VALIDATION and fitting and not self._warned_val_size:
            self._warned_val_size = True
            warn(
                f"val_size={self.val_size}: val/acc moves in steps of "
                f"{1 / self.val_size:.2%}, too coarse to choose the best checkpoint on "
                f"(--data.val_size {SMALL_VALIDATION:,} or more gives steps of {1 / SMALL_VALIDATION:.1%})"
            )

    def _check_training_left(self, train_count: int) -> None:
        if self.val_size >= train_count:
            raise DataError(
                f"val_size={self.val_size} leaves no training images: {shown_name(self.raw_folder)} holds only "
                f"{train_count:,} training images (pass a smaller --data.val_size)"
            )

    def _check_batch_size(self, train_count: int) -> None:
        """A batch larger than the training set would silently become one batch of all of it (and as much
        memory as that needs); refuse it."""
        train_images = train_count - self.val_size
        if self.batch_size > train_images:
            raise DataError(
                f"batch_size={self.batch_size:,} is more than the {train_images:,} training images "
                f"({train_count:,} minus val_size={self.val_size:,}): pass a smaller --data.batch_size"
            )

    def _files_present(self, splits: tuple[bool, ...]) -> bool:
        return all(path.is_file() for train in splits for path in self._split_files(train))

    def _missing_message(self, reason: str, splits: tuple[bool, ...], gz: bool = False) -> str:
        """The files of ``splits`` not in ``raw/`` (``gz``: nor as ``NAME.gz``), and where they might be;
        ``reason`` follows the folder (", and the download failed (...)")."""
        # The folder of another data set of the family there: most likely the --data.dataset left out.
        others = [
            name
            for name, info in DATASETS.items()
            if name != self.dataset and (Path(self.data_dir) / info.folder / "raw").is_dir()
        ]
        missing = [
            path.name
            for train in splits
            for path in self._split_files(train)
            if not path.is_file() and not (gz and _gz(path).is_file())  # a .gz there is not missing
        ]
        hint = ""
        legacy = self.data_dir / self.info.folder / "processed"
        if legacy.is_dir():  # torchvision's reader still takes it, and so skips the download
            hint = f" {shown_name(legacy)}/ holds the layout of torchvision before 0.9, which is not read: remove it."
        # NumPy archives of the set (Keras's mnist.npz, KMNIST's kmnist-train-imgs.npz): the same images, not read.
        archives = [path for folder in (self.raw_folder, Path(self.data_dir)) for path in sorted(folder.glob("*.npz"))]
        if archives:
            hint += (
                f" {shown_name(archives[0])} is a NumPy archive, which is not read: get the IDX files (the MNIST "
                "format, offered beside it as .gz files)."
            )
        if others:
            there = f" {shown_name(self.data_dir)} holds {DATASETS[others[0]].folder}/raw/"
            if self.dataset_option:
                hint += f"{there}: {self.dataset_option} {others[0]} reads that."
            else:
                hint += f"{there}, another data set than the checkpoint's."
        # The folder one level up from the set's: /work/shared for /work/shared/fashion-mnist/FashionMNIST/raw/.
        nested = _subfolders_holding(Path(self.data_dir), self.info.folder)
        if nested:
            hint += f" --data.data_dir {pasted(nested[0])} holds {self.info.folder}/raw/: pass that."
        return (
            f"{self.info.folder} files not found in {shown_name(self.raw_folder)}/{reason}: missing "
            f"{', '.join(missing)}. "
            "Pass --data.data_dir pointing at a folder that holds "
            f"{self.info.folder}/raw/.{hint}"
        )


IDX_START = b"\x00\x00\x08"  # every IDX file of unsigned bytes begins so (then its number of dimensions)


def _gz(path: Path) -> Path:
    return path.with_name(path.name + ".gz")


def _subfolders_holding(data_dir: Path, folder: str) -> list[Path]:
    """The folders right under ``data_dir`` (one level: a large folder costs one listing, nothing deeper) that
    hold ``folder/raw/``, sorted: a data_dir given one level too high read as "not found", next to the files."""
    try:
        with os.scandir(data_dir) as entries:
            subfolders = sorted(Path(entry.path) for entry in entries if entry.is_dir())  # follows symbolic links
    except OSError:  # not there, not a folder, or not readable: nothing to name
        return []
    holding = []
    for subfolder in subfolders:
        try:
            if (subfolder / folder / "raw").is_dir():
                holding.append(subfolder)
        except OSError:  # a subfolder this user may not open
            continue
    return holding


def _remove_partials_of_ended_processes(folder: Path, name: str) -> None:
    """Remove the ``.NAME.PID.partial`` files of unpacks that were killed (their process is gone), which
    would otherwise stay, unseen, as large as the data."""
    for stale in folder.glob(f".{name}.*.partial"):
        pid = stale.name[len(name) + 2 : -len(".partial")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                stale.unlink()
        except OSError:  # alive, another user's
            pass


def _unpack(gz_path: Path) -> Path:
    """Unpack ``NAME.gz`` into a hidden ``.NAME.PID.partial`` beside it; the caller checks it, then renames it.

    The process id keeps runs that start at once on the same fresh folder (``tune --workers``, several seeds
    side by side) out of each other's way: with one name for all, one run's rename took away the file another
    was still writing or about to rename (FileNotFoundError in two trials of a 6-worker study on the GPU).
    Each renames its own whole copy over ``NAME``, atomically, so whichever comes last leaves the same bytes.
    """
    name = gz_path.name[: -len(".gz")]
    partial = gz_path.with_name(f".{name}.{os.getpid()}.partial")
    _remove_partials_of_ended_processes(gz_path.parent, name)
    head = b""
    try:
        with open(gz_path, "rb") as start:
            head = start.read(3)
        # Already unpacked (a browser unpacks a .gz it downloads and may keep the name): taken as it is.
        opener = open if head == IDX_START else gzip.open
        with opener(gz_path, "rb") as source, open(partial, "wb") as target:
            shutil.copyfileobj(source, target)
    except (OSError, EOFError) as error:  # not gzip, truncated, or a read-only folder
        with contextlib.suppress(OSError):  # a read-only folder refuses even this
            partial.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise DataError(
                f"{shown_name(gz_path)}: cannot be unpacked beside it ({first_line(error)}): unpack the .gz files "
                f"into a folder you can write to (gunzip -k), or copy {shown_name(gz_path.parent.parent.parent)} "
                "there, and pass that as --data.data_dir"
            ) from error
        if head.startswith(b"<"):
            why = "an HTML page, not the data (a download that was answered with an error page?)"
        elif isinstance(error, EOFError):
            why = "truncated (an interrupted download?)"
        else:
            why = first_line(error)
        raise DataError(f"{shown_name(gz_path)}: cannot be unpacked: {why}; download it again") from error
    return partial
