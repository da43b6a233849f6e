"""Fixtures only; the helpers they use live in tests/helpers.py.

No test touches the network or the real data set: ``fake_data_dir`` writes a tiny fake MNIST family.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.helpers import DOWNLOAD, FOLDERS, fit_tiny_in, refuse_download, write_fake_set


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


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """In-process runs on one torch thread, whatever the machine's core count: the suite's networks are tiny, and
    the many small products of an LSTM on several threads each wait for the slowest thread, which crawls while
    anything else (the suite's own servers and subprocesses, other work) keeps a core busy. It also keeps float32
    results independent of the machine. tests/test_cpu_threads.py sets the count it tests itself."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- Tiny checkpoints, trained once for the session, and servers of them (a subprocess each) ---
# The tests that use them read them and never write them: export, predict, test_serve.py and test_page.py.


@pytest.fixture(scope="session")
def mnist_checkpoint(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """last.ckpt of a small model trained one epoch on the fake MNIST (its answers are arbitrary but fixed)."""
    run = fit_tiny_in(tmp_path_factory.mktemp("train"), fake_data_dir, "--model.hidden_size", "16")
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def fashion_checkpoint(fake_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """last.ckpt of a smaller model trained one epoch on the fake Fashion-MNIST."""
    run = fit_tiny_in(tmp_path_factory.mktemp("fashion"), fake_data_dir, "--model.hidden_size", "8",
                      "--data.dataset", "fashion_mnist")  # fmt: skip
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def server(mnist_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one ``serve`` of :func:`mnist_checkpoint` for the session's tests."""
    from tests.test_serve import serving

    with serving(mnist_checkpoint, tmp_path_factory.mktemp("serve")) as url:
        yield url


@pytest.fixture(scope="session")
def fashion_server(fashion_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of one ``serve`` of :func:`fashion_checkpoint` for the session's tests."""
    from tests.test_serve import serving

    with serving(fashion_checkpoint, tmp_path_factory.mktemp("serve_fashion")) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless Chromium for the session's page tests, each in a tab of its own (tests/page_driver.py's
    ``new_tab``)."""
    from tests.page_driver import chromium

    with chromium() as driver:
        yield driver


@pytest.fixture
def figures_not_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's four figures as blank pictures, for tests of the command line that never look at them: their
    layout and rendering (matplotlib) are most of a tiny fit's time. The callback still counts, reduces and logs
    what it draws from, and TensorBoard still gets a picture per tag; tests/test_figures.py draws them for real."""
    from matplotlib.figure import Figure

    for name in ("confusion_figure", "misclassified_figure", "reading_figure", "reliability_figure"):
        monkeypatch.setattr(f"mnist_rnn.figures.{name}", lambda *args, **kwargs: Figure(figsize=(1, 1), dpi=10))
