"""One torch thread per idle core on the CPU (mnist_rnn/cpu_threads.py): how busy the cores are, as Linux
counts it, and what the command line does with that."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mnist_rnn import cpu_threads
from mnist_rnn.cli import main
from mnist_rnn.model import RNNClassifier
from tests.helpers import QUIET, SEED_CONFIG, data_args, fit_tiny

# The function itself: conftest's steady_cpu_threads replaces it in every test, after this module is imported.
IDLE_CORES = cpu_threads.idle_cores
# /proc/stat's core lines: user nice system idle iowait irq softirq steal guest guest_nice
STAT_LINE = "cpu{} {} 0 {} {} {} 0 0 {} 0 0\n"


def write_stat(path: Path, cores: dict[int, tuple[int, int, int, int, int]]) -> None:
    """A /proc/stat with, per core, (user, system, idle, iowait, steal) ticks."""
    lines = ["cpu 1 1 1 1 1 1 1 1 1 1\n"]
    lines += [STAT_LINE.format(core, *ticks) for core, ticks in cores.items()]
    path.write_text("".join(lines) + "intr 12 0\nctxt 99\n")


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})


def watch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, before: dict, after: dict) -> tuple[int, int] | None:
    """:func:`cpu_threads.idle_cores` on a /proc/stat that reads ``before`` and, once it has slept, ``after``."""
    stat = tmp_path / "stat"
    write_stat(stat, before)
    monkeypatch.setattr(cpu_threads.time, "sleep", lambda seconds: write_stat(stat, after))
    return IDLE_CORES(stat=stat)


def test_a_core_busy_with_others_or_stolen_by_the_hypervisor_is_not_idle(monkeypatch, tmp_path, two_cores):
    start = {0: (100, 100, 1000, 10, 0), 1: (100, 100, 1000, 10, 0)}
    # 25 ticks: core 0 busy 20 of them (user and system), core 1 busy 5 and idle or waiting for a disk 20.
    assert watch(monkeypatch, tmp_path, start, {0: (115, 105, 1005, 10, 0), 1: (103, 102, 1010, 20, 0)}) == (1, 2)
    # Stolen time: the hypervisor ran another machine on core 1 for 20 of its 25 ticks.
    assert watch(monkeypatch, tmp_path, start, {0: (101, 100, 1024, 10, 0), 1: (103, 102, 1000, 10, 20)}) == (1, 2)
    assert watch(monkeypatch, tmp_path, start, {0: (101, 100, 1024, 10, 0), 1: (101, 101, 1023, 10, 0)}) == (2, 2)
    # A core outside this process's affinity (core 2) is not counted.
    busy_third = {**start, 2: (0, 0, 0, 0, 0)}
    assert watch(monkeypatch, tmp_path, busy_third, {**start, 2: (50, 50, 0, 0, 0)}) == (2, 2)


def test_where_the_cores_cannot_be_read_nothing_is_said(monkeypatch, tmp_path, two_cores):
    assert IDLE_CORES(seconds=0, stat=tmp_path / "missing") is None
    (tmp_path / "stat").write_text("cpu 1 2 3\ncpux one two\n")
    assert IDLE_CORES(seconds=0, stat=tmp_path / "stat") is None
    # One of this process's cores missing from the file.
    write_stat(tmp_path / "stat", {0: (1, 1, 1, 1, 0)})
    assert IDLE_CORES(seconds=0, stat=tmp_path / "stat") is None


@pytest.mark.skipif(not Path("/proc/stat").exists() or not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_the_real_proc_stat_sees_a_core_kept_busy():
    """A process spinning on one of this machine's cores makes that core busy: at most all the others are idle
    (other work on this machine can only make fewer idle)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores")
    spin = "import os, time; os.sched_setaffinity(0, {%d}); end = time.time() + 5\nwhile time.time() < end: pass"
    spinner = subprocess.Popen([sys.executable, "-c", spin % cores[0]])
    try:
        time.sleep(0.5)  # its interpreter started and spinning
        idle, watched = IDLE_CORES(seconds=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert watched == len(cores)
    assert idle <= len(cores) - 1


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def fit_tiny_printing(data_dir, capsys) -> tuple[list[int], str]:
    """A one-batch fit through the command line; torch's thread counts seen by its training steps, and stderr."""
    seen = []
    original = RNNClassifier.training_step

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RNNClassifier, "training_step", spy)
        main(["fit", "--config", SEED_CONFIG, *data_args(data_dir), *QUIET, "--trainer.fast_dev_run", "true"])
    return seen, capsys.readouterr().err


def test_fit_trains_on_the_idle_cores_says_so_and_gives_torch_its_threads_back(
    fake_data_dir, in_tmp_dir, capsys, monkeypatch, two_torch_threads
):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: (1, 2))
    seen, err = fit_tiny_printing(fake_data_dir, capsys)
    assert seen == [1]
    assert "1 of the 2 CPU cores is busy with other work: fit runs on 1 thread, not 2" in err
    assert "OMP_NUM_THREADS=N chooses" in err
    assert torch.get_num_threads() == 2
    # No core idle: still one thread. All idle: torch's own count, and not a word.
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: (0, 2))
    seen, err = fit_tiny_printing(fake_data_dir, capsys)
    assert seen == [1] and "both CPU cores are busy with other work: fit runs on 1 thread, not 2, which is" in err
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: (2, 2))
    seen, err = fit_tiny_printing(fake_data_dir, capsys)
    assert seen == [2] and "busy" not in err


def test_a_thread_count_the_user_set_is_kept(fake_data_dir, in_tmp_dir, capsys, monkeypatch, two_torch_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: pytest.fail("looked at the cores"))
    seen, err = fit_tiny_printing(fake_data_dir, capsys)
    assert seen == [2] and "busy" not in err


def test_a_run_that_fails_gives_torch_its_threads_back(fake_data_dir, in_tmp_dir, monkeypatch, two_torch_threads):
    """Lightning calls no teardown after an exception: a notebook whose fit raised stayed on one thread."""
    from lightning.pytorch import Callback, Trainer

    from mnist_rnn.data import MNISTDataModule

    class Fails(Callback):
        def on_train_batch_start(self, *args):
            raise ValueError("a bug in a callback")

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: (1, 2))
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, callbacks=[cpu_threads.CPUThreads(), Fails()], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    with pytest.raises(ValueError, match="a bug in a callback"):
        trainer.fit(RNNClassifier(hidden_size=8), datamodule=MNISTDataModule(data_dir=str(fake_data_dir), val_size=40))
    assert torch.get_num_threads() == 2


def test_a_fit_from_python_trains_on_the_idle_cores_too(fake_data_dir, monkeypatch, two_torch_threads, capsys):
    """Only the command line added the callback: a notebook's Trainer.fit beside other work ran on every core's
    thread, at a fraction of the speed."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: (1, 2))
    seen = []
    model = RNNClassifier(hidden_size=8, num_layers=1)
    monkeypatch.setattr(model, "training_step", lambda *args: seen.append(torch.get_num_threads()) or None)
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)
    Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False).fit(model, datamodule=data)
    assert seen == [1] and torch.get_num_threads() == 2
    assert "1 of the 2 CPU cores is busy with other work: fit runs on 1 thread, not 2" in capsys.readouterr().err


def test_fit_and_its_test_say_it_once_unless_the_load_changed(
    fake_data_dir, in_tmp_dir, capsys, monkeypatch, two_torch_threads
):
    """fit printed the note, then the test after it printed it again, the same, one screen apart."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: (1, 2))
    fit_tiny(fake_data_dir)
    err = capsys.readouterr().err
    assert err.count("busy with other work") == 1 and "fit runs on 1 thread" in err
    # Both cores busy by the test: said, as it is news.
    watched = iter([(1, 2), (0, 2)])
    monkeypatch.setattr(cpu_threads, "idle_cores", lambda: next(watched))
    fit_tiny(fake_data_dir)
    err = capsys.readouterr().err
    assert "1 of the 2 CPU cores is busy with other work: fit runs on 1 thread" in err
    assert "both CPU cores are busy with other work: test runs on 1 thread" in err
