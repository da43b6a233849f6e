import gzip
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import torch

from mnist_rnn import data as data_module
from mnist_rnn.data import DATASETS, MNISTDataModule
from mnist_rnn.errors import DataError
from tests.helpers import TEST_IMAGES, TRAIN_IMAGES, fake_digits, write_fake_set, write_idx


def make_data(data_dir: Path, **kwargs) -> MNISTDataModule:
    data = MNISTDataModule(data_dir=str(data_dir), val_size=40, batch_size=16, **kwargs)
    data.setup()
    return data


def test_split_sizes_no_overlap_and_test_set_apart(fake_data_dir):
    data = make_data(fake_data_dir)
    assert len(data.train_set) == TRAIN_IMAGES - 40
    assert len(data.val_set) == 40
    assert len(data.test_set) == TEST_IMAGES
    # Every training image lands in exactly one of train/val: compare the images themselves.
    train_images, _ = fake_digits(TRAIN_IMAGES, seed=0)
    split = torch.cat([data.train_set.images, data.val_set.images]).flatten(1)
    original = torch.from_numpy(train_images).flatten(1)
    assert torch.equal(split.unique(dim=0), original.unique(dim=0))
    assert len(split.unique(dim=0)) == len(split)  # no image twice


def test_split_is_the_same_on_every_call_and_instance(fake_data_dir):
    first, second = make_data(fake_data_dir), make_data(fake_data_dir)
    assert torch.equal(first.val_set.images, second.val_set.images)
    before = first.val_set
    first.setup("fit")  # idempotent: a second call keeps the same objects
    assert first.val_set is before
    other_seed = make_data(fake_data_dir, split_seed=1)
    assert not torch.equal(first.val_set.images, other_seed.val_set.images)


def test_batches_are_whole_uint8_tensors(fake_data_dir):
    data = make_data(fake_data_dir)
    images, labels = next(iter(data.train_dataloader()))
    assert images.shape == (16, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (16,) and labels.dtype == torch.int64
    assert labels.min() >= 0 and labels.max() <= 9
    # Validation batches come in order: the first batch is the first 16 validation images.
    images, labels = next(iter(data.val_dataloader()))
    assert torch.equal(images, data.val_set.images[:16])


def test_batches_with_worker_processes(fake_data_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=32, num_workers=2)
    data.setup("fit")
    seen = sum(len(labels) for _, labels in data.train_dataloader())
    assert seen == TRAIN_IMAGES - 40


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_each_dataset_reads_its_own_folder(fake_data_dir, dataset):
    data = make_data(fake_data_dir, dataset=dataset)
    assert data.num_classes == 10 and len(data.class_names) == 10
    assert data.raw_folder == fake_data_dir / DATASETS[dataset].folder / "raw"
    assert 0 < data.mean < 1 and 0 < data.std < 1


def test_missing_data_names_folder_and_files(tmp_path, no_network):
    data = MNISTDataModule(data_dir=str(tmp_path))
    with pytest.raises(DataError) as error:
        data.prepare_data()
    assert isinstance(error.value, FileNotFoundError)  # as Python's own, for code that catches that
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        assert name in message
    assert "\n" not in message
    # Why, from torchvision's lines below its first: every mirror it tried, and what went wrong.
    assert (
        "the download failed (tried ossci-datasets.s3.amazonaws.com, yann.lecun.com: Name or service not known)"
        in message
    )


@pytest.mark.parametrize(("dataset", "holder"), [("mnist", "my mnist"), ("fashion_mnist", "fashion-mnist")])
def test_a_data_dir_one_level_above_the_sets_folder_names_the_folder_to_pass(tmp_path, no_network, dataset, holder):
    """``--data.data_dir /work/shared`` where the files are in /work/shared/fashion-mnist/FashionMNIST/raw/: the
    folder right under it that holds the set's files is named, pasteable (quoted where it holds a space), before
    any download. Online, a second copy was downloaded into /work/shared/FashionMNIST/raw/ without a word; offline
    the folder was named only after the download failed. Another set's, and one two levels down, are not."""
    shared = tmp_path / "shared"
    write_fake_set(shared / "my mnist", "MNIST")
    write_fake_set(shared / "fashion-mnist", "FashionMNIST")
    write_fake_set(shared / "deeper" / "still", DATASETS[dataset].folder)  # two levels down: not looked for
    (shared / "notes.txt").write_text("not a folder")
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(shared), dataset=dataset).prepare_data()
    folder = DATASETS[dataset].folder
    assert str(error.value) == (
        f"--data.data_dir {shared}: the {folder} files are in {shared / holder / folder / 'raw'}/, not in "
        f"{shared / folder / 'raw'}/: pass the folder that holds {folder}/raw/: "
        f"--data.data_dir {shlex.quote(str(shared / holder))}"
    )
    assert no_network == [] and not (shared / folder).exists()  # nothing downloaded, no folder made


def test_a_data_dir_above_a_folder_without_all_the_files_downloads_and_names_it(tmp_path, no_network):
    """A folder under data_dir whose raw/ lacks a file this run reads is no copy to read: the download goes on as
    before, and the message after it fails still names that folder."""
    shared = tmp_path / "shared"
    write_fake_set(shared / "mnist", "MNIST")
    (shared / "mnist" / "MNIST" / "raw" / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(shared)).prepare_data()
    assert str(error.value).startswith(f"MNIST files not found in {shared / 'MNIST' / 'raw'}/, and the download")
    assert str(error.value).endswith(f"--data.data_dir {shared / 'mnist'} holds MNIST/raw/: pass that.")
    assert no_network != []


@pytest.mark.parametrize("pasted_with", [" ", "\n", "leading"])
def test_a_data_dir_with_a_space_pasted_around_it_names_the_folder_meant(tmp_path, no_network, pasted_with):
    """``--data.data_dir "/data/mnist "`` (a name copied with the space after it, or with a line break from a file)
    named another folder: online MNIST was downloaded into ``/data/mnist /MNIST/raw/``, beside the very files."""
    folder = tmp_path / "mnist"
    write_fake_set(folder, "MNIST")
    given = f" {folder}" if pasted_with == "leading" else f"{folder}{pasted_with}"
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=given).prepare_data()
    shown = shlex.quote(given) if pasted_with != "\n" else f"$'{folder}\\x0a'"
    assert str(error.value) == (
        f"--data.data_dir {shown}: no such folder (a space or a line break begins or ends the name: {folder} is there)"
    )
    assert no_network == [] and list(tmp_path.iterdir()) == [folder]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be positive, got 0"),
        ({"val_size": 0}, "val_size must be positive, got 0"),
        ({"num_workers": -1}, "num_workers must be 0 or more, got -1"),
        # From Python: a fraction ended in "slice indices must be integers", a string in a comparison's TypeError.
        ({"val_size": 0.1}, "val_size must be a whole number (a number of images, not a fraction of them), got 0.1"),
        ({"batch_size": "64"}, "batch_size must be a whole number, got '64'"),
        ({"split_seed": 1.5}, "split_seed must be a whole number, got 1.5"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MNISTDataModule(**kwargs)


def test_val_size_larger_than_training_set(fake_data_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=TRAIN_IMAGES)
    with pytest.raises(DataError, match="val_size"):
        data.setup("fit")


def gzip_all(raw: Path) -> dict[str, bytes]:
    """Compress each file of ``raw`` as people download them (NAME.gz, no NAME); return the originals."""
    originals = {}
    for path in list(raw.iterdir()):
        originals[path.name] = path.read_bytes()
        # Compressed here, so not the official bytes: judged by their content, not by a checksum.
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(originals[path.name], mtime=0))
        path.unlink()
    return originals


def test_gz_files_alone_are_unpacked_and_used(tmp_path, no_network):
    write_fake_set(tmp_path, "MNIST")
    originals = gzip_all(tmp_path / "MNIST" / "raw")
    data = MNISTDataModule(data_dir=str(tmp_path), val_size=40)
    data.prepare_data()
    data.setup()
    assert len(data.train_set) == TRAIN_IMAGES - 40 and len(data.test_set) == TEST_IMAGES
    for name, content in originals.items():
        assert (tmp_path / "MNIST" / "raw" / name).read_bytes() == content


def test_a_data_folder_with_a_line_break_is_named_on_one_line(tmp_path, no_network, capsys):
    """``--data.data_dir $'my\\ndata'``: "unpacked", the run folder's warning and the errors naming the folder
    each split in two at the name's line break, its rest read as a line of its own."""
    folder = tmp_path / "my\ndata"
    write_fake_set(folder, "MNIST")
    gzip_all(folder / "MNIST" / "raw")
    MNISTDataModule(data_dir=str(folder), val_size=40).prepare_data()
    shown = f"$'{tmp_path}/my\\x0adata"  # as bash's $'...' writes it, pasted, it names the folder
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if "unpacked" in line] == [
        f"mnist-rnn: unpacked {shown}/MNIST/raw/{name}.gz'" for name in DATASETS["mnist"].file_names
    ]
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(folder), dataset="fashion_mnist").prepare_data()
    assert str(error.value).startswith(f"FashionMNIST files not found in {shown}/FashionMNIST/raw'/, and the")
    assert str(error.value).endswith(f" {shown}' holds MNIST/raw/: --data.dataset mnist reads that.")
    assert "\n" not in str(error.value)
    data_module.warn_run_folder_gone(folder / "gone", folder)
    assert capsys.readouterr().err == (
        f"mnist-rnn: warning: the checkpoint's run read its data from {shown}/gone', which is not there from "
        f"here: reading {shown}' instead (--data.data_dir names the folder)\n"
    )


def test_a_missing_gz_file_is_the_one_named(tmp_path, no_network):
    # Three of the four .gz files: the message named all four as missing, the three .gz there among them.
    write_fake_set(tmp_path, "KMNIST")
    raw = tmp_path / "KMNIST" / "raw"
    gzip_all(raw)
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"nor their \.gz files: missing train-labels-idx1-ubyte\. Pass") as error:
        MNISTDataModule(data_dir=str(tmp_path), dataset="kmnist", val_size=40).prepare_data()
    assert "train-images" not in str(error.value) and not no_network


def test_a_numpy_archive_of_the_set_is_said_not_to_be_read(tmp_path, no_network):
    # KMNIST's page offers its images as .npz too (and Keras's mnist.npz is common): only "missing ..." was said.
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "kmnist-train-imgs.npz").write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path), dataset="kmnist", val_size=40).prepare_data()
    archive = raw / "kmnist-train-imgs.npz"
    assert f"{archive} is a NumPy archive, which is not read: get the IDX files" in str(error.value)


def test_a_bad_gz_file_is_named_and_nothing_is_left(tmp_path, no_network):
    write_fake_set(tmp_path, "MNIST")
    raw = tmp_path / "MNIST" / "raw"
    write_idx(raw / "t10k-labels-idx1-ubyte", fake_digits(50, seed=1)[1])  # 60 images, 50 labels
    gzip_all(raw)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz \(unpacked\) holds 50 labels"):
        MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()
    assert sorted(path.name for path in raw.iterdir() if not path.name.startswith("t")) == []
    assert sorted(path.name for path in raw.iterdir() if "t10k" in path.name) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    gz = raw / "t10k-images-idx3-ubyte.gz"
    whole = gz.read_bytes()
    for content, why in (
        (b"not gzip", r"Not a gzipped file \(b'no'\)"),
        (whole[: len(whole) // 2], r"truncated \(an interrupted download\?\)"),
        (b"<!DOCTYPE html><title>404", r"an HTML page, not the data \(a download .* error page\?\)"),
    ):
        gz.write_bytes(content)
        with pytest.raises(DataError, match=f"t10k-images-idx3-ubyte.gz: cannot be unpacked: {why}; download it again"):
            MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()
        assert not list(raw.glob(".*"))
    # An IDX file already unpacked under the .gz name (a browser unpacks what it downloads): read as it is.
    gz.write_bytes(gzip.decompress(whole))
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    write_idx(raw / "t10k-labels-idx1-ubyte", fake_digits(TEST_IMAGES, seed=1)[1])
    MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()
    assert (raw / "t10k-images-idx3-ubyte").read_bytes() == gzip.decompress(whole)


def test_runs_unpacking_the_same_gz_files_at_once_do_not_trip_each_other(tmp_path, no_network, monkeypatch):
    """Six trials of a GPU study started at once on a folder of .gz files; two failed with FileNotFoundError on
    the shared ``.NAME.partial``: another run had unpacked into the same file and renamed it away. Here a
    second run (another process id) does all its unpacking in the middle of the first's, the worst moment."""
    write_fake_set(tmp_path, "MNIST")
    originals = gzip_all(tmp_path / "MNIST" / "raw")
    check_pair = data_module.check_idx_pair
    interleaved = []

    def second_run_meanwhile(*args, **kwargs):
        if not interleaved:
            interleaved.append(True)
            with monkeypatch.context() as other:
                other.setattr(data_module.os, "getpid", lambda: 999_999)
                MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()
        return check_pair(*args, **kwargs)

    monkeypatch.setattr(data_module, "check_idx_pair", second_run_meanwhile)
    MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()  # no error
    assert interleaved
    for name, content in originals.items():
        assert (tmp_path / "MNIST" / "raw" / name).read_bytes() == content
    assert not list((tmp_path / "MNIST" / "raw").glob(".*"))  # no partial file left


def test_a_killed_unpack_leaves_no_partial_file_for_good(tmp_path, no_network):
    """A partial file of a process that is gone (killed while unpacking) is removed by the next unpack; one of
    a live process is left to it."""
    write_fake_set(tmp_path, "MNIST")
    raw = tmp_path / "MNIST" / "raw"
    gzip_all(raw)
    ended = _an_ended_pid()
    (raw / f".train-images-idx3-ubyte.{ended}.partial").write_bytes(b"half")
    (raw / f".train-images-idx3-ubyte.{os.getppid()}.partial").write_bytes(b"still being written")
    MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()
    assert [path.name for path in raw.glob(".*")] == [f".train-images-idx3-ubyte.{os.getppid()}.partial"]


def _an_ended_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("given", ["MNIST/raw", "MNIST"])
def test_a_data_dir_inside_the_layout_names_the_folder_to_pass(tmp_path, no_network, given):
    """--data.data_dir ../shared/mnist/MNIST/raw: the files are right there; no download of a second copy."""
    write_fake_set(tmp_path, "MNIST")
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path / given)).prepare_data()
    assert str(error.value) == (
        f"--data.data_dir {tmp_path / given}: the MNIST files are in {tmp_path / 'MNIST' / 'raw'}/, not in "
        f"{tmp_path / given / 'MNIST' / 'raw'}/: pass the folder that holds MNIST/raw/: --data.data_dir {tmp_path}"
    )
    assert no_network == [] and not (tmp_path / given / "MNIST").exists()
    loose = tmp_path / "my_mnist"  # the four files in a folder of another name
    (tmp_path / "MNIST" / "raw").rename(loose)
    with pytest.raises(DataError, match=f"move them into {loose / 'MNIST' / 'raw'}/, or pass the folder"):
        MNISTDataModule(data_dir=str(loose)).prepare_data()


def test_another_sets_folder_given_as_the_data_dir_names_the_data_set(tmp_path, no_network):
    """Fashion-MNIST's raw/ folder with the default data set: the fix for MNIST's own folder ("move them into
    .../MNIST/raw/") would have trained on garments as digits."""
    write_fake_set(tmp_path, "FashionMNIST")
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path / "FashionMNIST" / "raw")).prepare_data()
    assert str(error.value) == (
        f"--data.data_dir {tmp_path / 'FashionMNIST' / 'raw'}: FashionMNIST's files (by their folder), not "
        f"MNIST's: --data.dataset fashion_mnist --data.data_dir {tmp_path} reads them"
    )
    assert no_network == []


@pytest.mark.parametrize("how", ["another set's", "swapped", "test copied from train"])
def test_files_of_another_set_or_split_are_named_not_trained_on(tmp_path, monkeypatch, no_network, how):
    """The official files are known by their fingerprint (here the fake set's stand in for them): files
    under the wrong name trained and tested without a word (65% "MNIST" test accuracy on garments)."""
    write_fake_set(tmp_path, "MNIST")
    raw = tmp_path / "MNIST" / "raw"
    owner = "fashion_mnist" if how == "another set's" else "mnist"
    monkeypatch.setattr(
        data_module, "KNOWN_FILES", {data_module.fingerprint(path): (owner, path.name) for path in raw.iterdir()}
    )
    if owner == "mnist":
        MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()  # each under its own name: read
    train_images, test_images = raw / "train-images-idx3-ubyte", raw / "t10k-images-idx3-ubyte"
    if how == "swapped":
        for kind in ("images-idx3", "labels-idx1"):
            train, test = raw / f"train-{kind}-ubyte", raw / f"t10k-{kind}-ubyte"
            train.rename(raw / "held"), test.rename(train), (raw / "held").rename(test)
    elif how == "test copied from train":
        for kind in ("images-idx3", "labels-idx1"):
            (raw / f"t10k-{kind}-ubyte").write_bytes((raw / f"train-{kind}-ubyte").read_bytes())
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path), val_size=20).prepare_data()
    assert (
        str(error.value)
        == {
            "another set's": f"{train_images}: FashionMNIST's train-images-idx3-ubyte, not MNIST's: --data.dataset "
            f"fashion_mnist reads FashionMNIST's files (in FashionMNIST/raw/); put MNIST's own files in {raw}/ (or "
            "remove these, and fit downloads them)",
            "swapped": f"{train_images}: MNIST's t10k-images-idx3-ubyte, not its train-images-idx3-ubyte: the files "
            "were swapped or copied over each other; put each under its own name, or download them again",
            "test copied from train": f"{test_images}: MNIST's train-images-idx3-ubyte, not its "
            "t10k-images-idx3-ubyte: "
            "the files were swapped or copied over each other; put each under its own name, or download them again",
        }[how]
    )


def test_a_test_run_needs_only_the_test_files(tmp_path, in_tmp_dir, capsys, no_network):
    """test reads the t10k pair alone: a folder holding only those served it not ("expected train-images..."),
    and with a network it would have downloaded the 47 MB it never reads."""
    from mnist_rnn.cli import main
    from tests.helpers import fit_tiny

    write_fake_set(tmp_path, "MNIST")
    checkpoint = next((fit_tiny(tmp_path) / "checkpoints").glob("best*.ckpt"))
    for path in (tmp_path / "MNIST" / "raw").glob("train-*"):
        path.unlink()
    capsys.readouterr()
    main(["test", "--ckpt_path", str(checkpoint), "--trainer.enable_progress_bar", "false"])
    assert f"on {TEST_IMAGES} test images" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["validate", "--ckpt_path", str(checkpoint), "--trainer.enable_progress_bar", "false"])
    assert "missing train-images-idx3-ubyte, train-labels-idx1-ubyte. Pass" in capsys.readouterr().err


def test_the_layout_of_old_torchvision_versions_is_named(tmp_path, no_network):
    """MNIST/processed/training.pt and test.pt: torchvision's reader takes them and skips the download, so
    the files were "not found" with no word of why."""
    (tmp_path / "MNIST" / "processed").mkdir(parents=True)
    for name in ("training.pt", "test.pt"):
        torch.save(
            (torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)),
            tmp_path / "MNIST" / "processed" / name,
        )
    with pytest.raises(DataError) as error:
        MNISTDataModule(data_dir=str(tmp_path)).prepare_data()
    assert str(error.value).endswith(
        f"{tmp_path / 'MNIST' / 'processed'}/ holds the layout of torchvision before 0.9, which is not read: remove it."
    )


def test_a_mistyped_data_dir_leaves_no_empty_folders(tmp_path, no_network):
    with pytest.raises(DataError, match="files not found"):
        MNISTDataModule(data_dir=str(tmp_path / "dta" / "mnist")).prepare_data()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["folder", "loop", "dangling"])
def test_a_data_file_that_cannot_be_a_file_is_named(tmp_path, no_network, how):
    write_fake_set(tmp_path, "MNIST")
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.unlink()
    if how == "folder":
        path.mkdir()
    else:
        path.symlink_to(path.name if how == "loop" else "elsewhere")
    message = {"folder": "a folder, not a file", "loop": "loops", "dangling": "elsewhere, which does not exist"}[how]
    with pytest.raises(DataError, match=f"{path}: .*{message}"):
        MNISTDataModule(data_dir=str(tmp_path), val_size=40).prepare_data()


def test_a_batch_larger_than_the_training_set_is_refused(fake_data_dir):
    with pytest.raises(DataError, match="batch_size=201 is more than the 200 training images"):
        MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=201).prepare_data()
    MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=200).prepare_data()


def test_a_small_validation_set_is_warned_once(fake_data_dir, capsys):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40)
    data.prepare_data()
    data.setup("fit")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mnist-rnn: warning:")]
    assert warnings == [
        "mnist-rnn: warning: val_size=40: val/acc moves in steps of 2.50%, too coarse to choose the best "
        "checkpoint on (--data.val_size 1,000 or more gives steps of 0.1%)"
    ]


def test_a_trainer_that_tested_with_the_data_module_predicts_on_dataloaders_of_its_own(fake_data_dir):
    """Lightning keeps the data module of the last call and sets it up for predict too: without a predict_path
    that was refused ("predict needs images"), though the dataloaders were given. The module's own predict
    loader still says what it needs."""
    from lightning.pytorch import Trainer
    from torch.utils.data import DataLoader

    from mnist_rnn.errors import UserError
    from mnist_rnn.model import RNNClassifier

    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)
    model = RNNClassifier(hidden_size=8, num_layers=1)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(model, datamodule=data, verbose=False)
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    (probabilities,) = trainer.predict(model, dataloaders=DataLoader(images, batch_size=8))
    assert probabilities.shape == (5, 10)
    with pytest.raises(UserError, match="predict needs images: pass --data.predict_path"):
        trainer.predict(model, datamodule=data)
