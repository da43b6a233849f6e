"""Helpers shared by the test modules (and by docs/make_errors_table.py): fake data, the CLI, pictures.

Test modules import these from here, never from ``conftest.py`` or from each other; ``conftest.py`` holds
only fixtures.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).parents[1]
SEED_CONFIG = str(ROOT / "configs" / "seed.yaml")

# Small, but large enough for a 5,000-image-free split: val_size is set per test.
TRAIN_IMAGES = 240
TEST_IMAGES = 60
FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}

# Where torchvision downloads a missing data set; tests and the errors table make it fail as it does offline.
DOWNLOAD = "torchvision.datasets.mnist.download_and_extract_archive"

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


# --- Fake data in the real IDX format and folder layout, so torchvision's own reader runs ---


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
    """A train and a test split of :func:`fake_digits` in ``root/folder/raw``, named as torchvision expects."""
    raw = root / folder / "raw"
    for prefix, count, seed in (("train", TRAIN_IMAGES, 0), ("t10k", TEST_IMAGES, 1)):
        images, labels = fake_digits(count, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def refuse_download(*args, **kwargs) -> None:
    """Stand-in for the download of one file: fail as urllib does offline (no DNS), so that torchvision
    tries its next mirror and then raises its own error, which names every mirror it tried."""
    raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))


# --- Users' pictures ---


def render_digit(digit: int, canvas=(28, 28), size=20, at=(4, 2), ink=255, paper=0, mode="L") -> Image.Image:
    """A digit drawn with Pillow's own scalable font: ``ink`` on ``paper``, its top-left corner ``at``."""
    image = Image.new(mode, canvas, paper)
    font = ImageFont.load_default(size=size)
    ImageDraw.Draw(image).text(at, str(digit), fill=ink, font=font)
    return image


# --- The command line, in-process ---


def data_args(data_dir) -> list[str]:
    return ["--data.data_dir", str(data_dir), "--data.val_size", "40", "--data.batch_size", "20"]


def fit_tiny(data_dir, *extra: str) -> Path:
    """Train for one short epoch with the lab's config; return the run folder."""
    from mnist_rnn.cli import main

    main(["fit", "--config", SEED_CONFIG, *data_args(data_dir), *QUIET, "--trainer.max_epochs", "1", *extra])
    runs = sorted(Path("lightning_logs").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    return runs[-1]


def fit_tiny_in(folder: Path, data_dir, *extra: str) -> Path:
    """:func:`fit_tiny` run from ``folder``, for module-scoped fixtures (which get no ``monkeypatch``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr("sys.argv", ["mnist-rnn"])
        return folder / fit_tiny(data_dir, *extra)


# --- The command line in a subprocess (signals, DDP): these tests are marked slow ---


def free_port() -> int:
    """A TCP port nobody listens on now: for a server, or a DDP run's MASTER_PORT (tests run side by side)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli_subprocess(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start ``python -m mnist_rnn ARGS`` in ``cwd`` with this checkout's code (and ``extra_env`` in its
    environment), output to ``cwd/run.log``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **(extra_env or {}),
    }
    log = open(cwd / "run.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_rnn", *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, **kwargs
    )
    process.log_path = cwd / "run.log"  # shown by finish() when the command hangs
    return process


def processes() -> dict[int, tuple[int, list[bytes]]]:
    """Each process's parent and command line, from /proc (Linux), but for those that end meanwhile."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
        found[int(entry.name)] = (parent, arguments)
    return found


def spawned_by(parents: set[int], running: dict[int, tuple[int, list[bytes]]]) -> list[int]:
    """The processes of ``running`` (:func:`processes`) that multiprocessing spawned from one of ``parents``."""
    return sorted(
        pid
        for pid, (parent, arguments) in running.items()
        if parent in parents and any(b"spawn_main" in argument for argument in arguments)
    )


def no_process_left(group: int) -> bool:
    """Whether every process of the process group ``group`` has ended."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def finish(process: subprocess.Popen, timeout: float = 240) -> int:
    """Wait for a subprocess (killing it after ``timeout`` seconds, so a hang fails instead of blocking CI,
    with the end of its log: where it hung)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        log = getattr(process, "log_path", None)
        shown = log.read_text(errors="replace")[-6000:] if log is not None and log.exists() else "(no log)"
        pytest.fail(f"{' '.join(map(str, process.args[1:4]))} ... did not end in {timeout:g} s; its log:\n{shown}")


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process with ``args`` that must fail: exit status 2 and one ``mnist-rnn: error:`` line,
    which is returned."""
    from mnist_rnn.cli import main

    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mnist-rnn: error: ") and err.count("\n") == 1, err
    return err


def interrupt_itself() -> None:
    """In a spawned process: SIGINT to itself, as a Ctrl+C while it starts (``KeyboardInterrupt``, exit code 1, unless
    the signal is blocked)."""
    os.kill(os.getpid(), signal.SIGINT)
