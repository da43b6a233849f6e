"""Batches drawn by on-device indices (issue 23): forced on the CPU here, the same code path a GPU runs."""

from pathlib import Path

import pytest
import torch

from mnist_rnn.cli import main
from mnist_rnn.data import DeviceBatches, InMemoryImages, MNISTDataModule
from tests.helpers import QUIET, SEED_CONFIG, TRAIN_IMAGES, data_args


def numbered(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose first pixel is their index, so a batch tells which images it holds."""
    images = torch.zeros(count, 1, 28, 28, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(count, dtype=torch.uint8)
    return images, torch.arange(count) % 10


def drawn(batches: DeviceBatches) -> list[int]:
    return [int(i) for images, _ in batches for i in images[:, 0, 0, 0]]


def test_an_epoch_draws_every_image_once_in_a_seeded_order_that_changes_per_epoch():
    images, labels = numbered(100)
    epoch = {"now": 0}
    batches = DeviceBatches(images, labels, batch_size=32, shuffle=True, seed=3, epoch=lambda: epoch["now"])
    sizes = [len(b) for _, b in batches]
    assert sizes == [32, 32, 32, 4] and len(batches) == 4  # the last batch is smaller: nothing dropped
    first = drawn(batches)
    assert sorted(first) == list(range(100)) and first != list(range(100))
    assert drawn(batches) == first  # the same epoch, the same order
    epoch["now"] = 1
    second = drawn(batches)
    assert sorted(second) == list(range(100)) and second != first
    # Labels travel with their images.
    for images_batch, labels_batch in batches:
        assert torch.equal(labels_batch, images_batch[:, 0, 0, 0].long() % 10)
    other_seed = DeviceBatches(images, labels, batch_size=32, shuffle=True, seed=4, epoch=lambda: 1)
    assert drawn(other_seed) != second


def test_two_processes_get_disjoint_shards_that_cover_the_split_as_distributed_sampler_does():
    images, labels = numbered(101)  # odd: the shards are padded to equal length with repeated indices
    ranks = [DeviceBatches(images, labels, 16, shuffle=True, seed=0, rank=r, world_size=2) for r in (0, 1)]
    shards = [drawn(batches) for batches in ranks]
    assert len(shards[0]) == len(shards[1]) == 51 and len(ranks[0]) == len(ranks[1]) == 4
    together = shards[0] + shards[1]
    assert set(together) == set(range(101)) and len(together) - len(set(together)) == 1  # one padding repeat
    # Unshuffled (validation): rank r takes every second image from r, in order.
    evaluation = [drawn(DeviceBatches(images, labels, 16, shuffle=False, rank=r, world_size=2)) for r in (0, 1)]
    assert evaluation[0][:3] == [0, 2, 4] and evaluation[1][:3] == [1, 3, 5]


def test_evaluation_shards_count_every_image_once_on_either_path(fake_data_dir):
    """Padded shards made 3 processes test 10,002 of MNIST's 10,000 images, 2 of them twice: evaluation's
    shares are unpadded (one may be an image shorter), on the DataLoader path as on the device's."""
    images, labels = numbered(100)
    ranks = [DeviceBatches(images, labels, 16, shuffle=False, rank=r, world_size=3) for r in range(3)]
    shards = [drawn(batches) for batches in ranks]
    assert [len(s) for s in shards] == [34, 33, 33] and [len(b) for b in ranks] == [3, 3, 3]
    assert sorted(shards[0] + shards[1] + shards[2]) == list(range(100))

    class ThreeProcesses:  # what the data module asks of a Trainer under DDP
        world_size = 3
        global_rank = 0
        current_epoch = 0
        strategy = type("Strategy", (), {"root_device": torch.device("cpu")})()

        def __init__(self, rank: int) -> None:
            self.distributed_sampler_kwargs = {"num_replicas": 3, "rank": rank}
            self.global_rank = rank

    for resident in (False, True):
        seen = []
        for rank in range(3):
            module = MNISTDataModule(data_dir=str(fake_data_dir), batch_size=16, device_resident=resident)
            module.val_set = InMemoryImages(images, labels)
            module.trainer = ThreeProcesses(rank)
            loader = module.val_dataloader()
            assert isinstance(loader, DeviceBatches) == resident
            if not resident:  # Lightning keeps a DistributedSampler it is given (no padded one of its own)
                assert isinstance(loader.sampler, torch.utils.data.DistributedSampler)
            seen += drawn(loader)
        assert sorted(seen) == list(range(100))


def test_the_data_module_serves_device_batches_when_asked_and_dataloaders_otherwise(fake_data_dir):
    resident = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16, device_resident=True)
    resident.setup()
    assert isinstance(resident.train_dataloader(), DeviceBatches)
    # Evaluation batches are the split in order, as the DataLoader gives them.
    images, labels = next(iter(resident.val_dataloader()))
    assert torch.equal(images, resident.val_set.images[:16]) and images.dtype == torch.uint8
    assert sum(len(b) for _, b in resident.train_dataloader()) == TRAIN_IMAGES - 40
    plain = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)  # auto: DataLoader on a CPU
    plain.setup()
    assert isinstance(plain.train_dataloader(), torch.utils.data.DataLoader)


def test_fit_with_device_batches_on_the_cpu_trains_and_tests(fake_data_dir, in_tmp_dir, capsys):
    main(["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *QUIET, "--trainer.max_epochs", "2",
          "--data.device_resident", "true", "--data.num_workers", "2"])  # fmt: skip
    out, err = capsys.readouterr()
    assert "Test accuracy" in out
    # The workers cannot serve batches drawn on the device: said once, not ignored without a word.
    assert err.count("warning: --data.num_workers 2 is not used: with --data.device_resident the batches") == 1
    last = torch.load(next(Path("lightning_logs").glob("version_0/checkpoints/last.ckpt")), weights_only=True)
    assert last["global_step"] == 2 * ((TRAIN_IMAGES - 40) // 20)  # every batch of both epochs


@pytest.mark.parametrize("resident", ["false", "true"])
def test_a_seeded_run_repeats_itself_on_either_path(fake_data_dir, tmp_path, monkeypatch, resident):
    results = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        main(["fit", *data_args(fake_data_dir), *QUIET, "--model.hidden_size", "16", "--trainer.max_epochs", "1",
              "--trainer.limit_train_batches", "4", "--data.device_resident", resident])  # fmt: skip
        last = torch.load(next(Path("lightning_logs").glob("version_0/checkpoints/last.ckpt")), weights_only=True)
        results.append(last["state_dict"]["network.head.weight"])
    assert torch.equal(*results)
