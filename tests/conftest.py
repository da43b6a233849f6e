"""A tiny fake MNIST family in the real IDX format and folder layout, so torchvision's own reader runs.

No test touches the network or the real data set.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Small, but large enough for a 5,000-image-free split: val_size is set per test.
TRAIN_IMAGES = 240
TEST_IMAGES = 60
FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file: magic (0, 0, 0x08 = ubyte, ndim), the sizes, then the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def fake_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is easy to see: class k lights up a bar at row 2 + 2k, plus a little noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels, strict=False):
        image[2 + 2 * label : 4 + 2 * label, 4:24] = 255
    return images, labels.astype(np.uint8)


def write_fake_set(root: Path, folder: str) -> None:
    raw = root / folder / "raw"
    for prefix, count, seed in (("train", TRAIN_IMAGES, 0), ("t10k", TEST_IMAGES, 1)):
        images, labels = fake_digits(count, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir holding fake MNIST, FashionMNIST and KMNIST folders."""
    root = tmp_path_factory.mktemp("data")
    for folder in FOLDERS.values():
        write_fake_set(root, folder)
    return root


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """LightningCLI warns when it sees pytest's own arguments beside the ones a test passes to main()."""
    monkeypatch.setattr("sys.argv", ["mnist-rnn"])


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run a test in its own folder, so lightning_logs/ lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


ROOT = Path(__file__).parents[1]


def cli_subprocess(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    """Start ``python -m mnist_rnn ARGS`` in ``cwd`` with this checkout's code, output to ``cwd/run.log``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = open(cwd / "run.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_rnn", *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, **kwargs
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> int:
    """Wait for a subprocess (killing it after ``timeout`` seconds, so a hang fails instead of blocking CI)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
