import re

import numpy as np
import pytest

from mnist_rnn.errors import DataError, shown_name
from mnist_rnn.idx import check_idx_pair
from tests.helpers import QUIET, SEED_CONFIG, data_args, fake_digits, one_line_error, write_fake_set, write_idx


@pytest.fixture(params=["data", "my\ndata"])  # a folder with a line break in its name: each message on one line
def pair(tmp_path, request):
    images, labels = fake_digits(30, seed=0)
    write_idx(tmp_path / request.param / "images", images)
    write_idx(tmp_path / request.param / "labels", labels)
    return tmp_path / request.param / "images", tmp_path / request.param / "labels"


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
    assert any(shown_name(path) in str(error.value) for path in pair) and "\n" not in str(error.value)


@pytest.mark.parametrize(("folder", "written"), [("my\ndata", "my\\x0adata"), ("tab\tdata", "tab\\x09data")])
def test_a_damaged_file_in_a_folder_with_a_line_break_or_a_tab_is_named_as_bash_writes_it(
    folder, written, tmp_path, in_tmp_dir, capsys
):
    """``fit --data.data_dir $'my\\ndata'`` with a truncated file: the error was split at the line break, and the
    command line's one line joined the halves with a space, naming ``my data/...``, which is not there (a tab was
    shown as blank space). Now the file as bash's ``$'...'`` writes it: pasted, it names the file."""
    write_fake_set(tmp_path / folder, "MNIST")
    labels = tmp_path / folder / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:30])
    err = one_line_error(["fit", "--config", SEED_CONFIG, *data_args(tmp_path / folder), *QUIET], capsys)
    assert err.startswith(
        f"mnist-rnn: error: $'{tmp_path}/{written}/MNIST/raw/t10k-labels-idx1-ubyte': truncated: its header promises "
    )
