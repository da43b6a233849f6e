from pathlib import Path

import pytest
import torch

from mnist_rnn.data import DATASETS, MNISTDataModule
from mnist_rnn.errors import DataError
from tests.helpers import TEST_IMAGES, TRAIN_IMAGES, fake_digits


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


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"val_size": 0}, {"num_workers": -1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        MNISTDataModule(**kwargs)


def test_val_size_larger_than_training_set(fake_data_dir):
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=TRAIN_IMAGES)
    with pytest.raises(DataError, match="val_size"):
        data.setup("fit")
