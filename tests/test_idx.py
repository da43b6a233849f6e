import re

import numpy as np
import pytest

from mnist_rnn.errors import DataError
from mnist_rnn.idx import check_idx_pair
from tests.helpers import fake_digits, write_idx


@pytest.fixture
def pair(tmp_path):
    images, labels = fake_digits(30, seed=0)
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", labels)
    return tmp_path / "images", tmp_path / "labels"


def test_a_good_pair_gives_its_count(pair):
    assert check_idx_pair(*pair) == 30


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda images, labels: images.write_bytes(images.read_bytes() + b"\0"), "too long"),
        (lambda images, labels: images.write_bytes(images.read_bytes()[:10]), "truncated"),
        (lambda images, labels: images.write_bytes(b""), "the file is empty"),
        (lambda images, labels: labels.write_bytes(images.read_bytes()), "not an IDX label file"),
        (lambda images, labels: write_idx(labels, np.array([0, 1, 255], dtype=np.uint8)), "30 images but"),
        (
            lambda images, labels: write_idx(labels, np.full(30, 10, dtype=np.uint8)),
            "found 10 at index 0 (30 of 30 labels out of range)",
        ),
    ],
)
def test_damaged_pairs_name_the_file_and_the_problem(pair, damage, message):
    damage(*pair)
    with pytest.raises(DataError, match=re.escape(message)) as error:
        check_idx_pair(*pair)
    assert str(pair[0].parent) in str(error.value) and "\n" not in str(error.value)
