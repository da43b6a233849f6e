"""Fixtures only; the helpers they use live in tests/helpers.py.

No test touches the network or the real data set: ``fake_data_dir`` writes a tiny fake MNIST family.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DOWNLOAD, FOLDERS, refuse_download, write_fake_set


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir holding fake MNIST, FashionMNIST and KMNIST folders."""
    root = tmp_path_factory.mktemp("data")
    for folder in FOLDERS.values():
        write_fake_set(root, folder)
    return root


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """torchvision's download fails as it does offline; returns the list of attempts, to assert none was made."""
    attempts: list[str] = []

    def fail(url: str, *args, **kwargs) -> None:
        attempts.append(url)
        refuse_download()

    monkeypatch.setattr(DOWNLOAD, fail)
    return attempts


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """LightningCLI warns when it sees pytest's own arguments beside the ones a test passes to main()."""
    monkeypatch.setattr("sys.argv", ["mnist-rnn"])


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run a test in its own folder, so lightning_logs/ lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def steady_cpu_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs keep torch's thread count whatever else the machine runs: the CLI's look at how busy
    the cores are (:mod:`mnist_rnn.cpu_threads`) would make float32 results depend on the CI machine's load,
    and cost a quarter of a second per run. tests/test_cpu_threads.py tests it."""
    monkeypatch.setattr("mnist_rnn.cpu_threads.idle_cores", lambda: None)
