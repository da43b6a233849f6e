"""Batch augmentation: identity when switched off, shapes and value ranges kept, and each move bounded."""

import pytest
import torch

from mnist_rnn.augment import random_affine, random_erase, random_flip


def digits(count: int = 64) -> torch.Tensor:
    """[0, 1] images with a bright 6x6 square in the middle, on a black background."""
    images = torch.zeros(count, 1, 28, 28)
    images[:, :, 11:17, 11:17] = 1.0
    return images


def test_everything_off_is_the_identity():
    images = torch.rand(8, 1, 28, 28)
    assert random_affine(images) is images
    assert random_flip(images, 0.0) is images
    assert random_erase(images, 0.0) is images


def test_affine_keeps_shape_range_and_moves_at_most_the_shift():
    torch.manual_seed(0)
    images = digits()
    moved = random_affine(images, shift=2.0)
    assert moved.shape == images.shape
    assert moved.min() >= 0 and moved.max() <= 1 + 1e-6
    assert not torch.equal(moved, images)
    rows = torch.arange(28.0).view(1, 28, 1)
    mass = moved[:, 0].sum(dim=(1, 2))
    centre_row = (moved[:, 0] * rows).sum(dim=(1, 2)) / mass
    centre_col = (moved[:, 0] * rows.transpose(1, 2)).sum(dim=(1, 2)) / mass
    assert (centre_row - 13.5).abs().max() <= 2.0 + 1e-4
    assert (centre_col - 13.5).abs().max() <= 2.0 + 1e-4


def test_rotation_and_scale_keep_the_ink_near_its_amount():
    torch.manual_seed(0)
    images = digits()
    moved = random_affine(images, rotation=10.0, scale=0.1)
    ratio = moved.sum(dim=(1, 2, 3)) / images.sum(dim=(1, 2, 3))
    # Scaling by at most 10% changes the area by at most (1.1)^2 or (0.9)^2.
    assert ratio.min() >= 0.9**2 - 0.05 and ratio.max() <= 1.1**2 + 0.05


def test_flip_mirrors_about_half_the_images_and_nothing_else():
    torch.manual_seed(0)
    images = torch.rand(2000, 1, 28, 28)
    flipped = random_flip(images, 0.5)
    same = (flipped == images).flatten(1).all(dim=1)
    mirrored = (flipped == images.flip(-1)).flatten(1).all(dim=1)
    assert bool((same | mirrored).all())
    assert 0.45 < mirrored.float().mean() < 0.55
    assert torch.equal(random_flip(images, 1.0), images.flip(-1))


@pytest.mark.parametrize("probability", [0.5, 1.0])
def test_erase_blanks_one_bounded_rectangle(probability):
    torch.manual_seed(0)
    images = torch.rand(1000, 1, 28, 28) + 0.5  # never 0 by itself
    erased = random_erase(images, probability, max_area=0.25)
    blank = erased == 0
    share = blank.flatten(1).any(dim=1).float().mean()
    assert abs(float(share) - probability) < 0.06
    area = blank.flatten(1).float().mean(dim=1)
    assert area.max() <= 0.25 + 2 * 28 / 784  # the box's edges round outwards by at most a row and a column
    for image in blank[:50, 0]:  # each blank region is one rectangle: its rows x its columns
        rows, cols = image.any(dim=1), image.any(dim=0)
        assert int(image.sum()) == int(rows.sum()) * int(cols.sum())
    untouched = ~blank
    assert torch.equal(erased[untouched], images[untouched])
