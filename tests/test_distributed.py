"""Two processes on the CPU (DDP over gloo), as a real subprocess: Lightning re-launches the command line."""

import contextlib
import multiprocessing
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mnist_rnn import cli
from mnist_rnn.checkpoint import SafeModelCheckpoint
from mnist_rnn.cli import build_cli
from tests.helpers import (
    QUIET,
    TRAIN_IMAGES,
    cli_subprocess,
    data_args,
    finish,
    free_port,
    interrupt_itself,
    no_process_left,
    one_line_error,
    processes,
    spawned_by,
)

DDP_ON_TWO = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]


def run_in_process(args: list[str], captured: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command line in this process (the processes it spawns are real ones): its exit status, and what it
    and they printed since the last read of ``captured`` (``capfd`` for what spawned processes print)."""
    try:
        cli.main(args)
        returncode = 0
    except SystemExit as exit:
        returncode = 0 if exit.code is None else exit.code if isinstance(exit.code, int) else 1
    out, err = captured.readouterr()
    return returncode, out + err


def test_fewer_validation_images_than_processes_is_refused_before_they_start(
    fake_data_dir, in_tmp_dir, capsys, caplog, monkeypatch
):
    """Each process validates a share of the held-out images: with fewer images than processes, Lightning's
    sampler stopped the one left without any with a bare AssertionError (and the other with gloo's traceback).
    In-process: ddp's launcher, which would start the second process, fails the test if it is reached."""

    def started(launcher) -> None:
        raise AssertionError("the run's processes were started before the refusal")

    monkeypatch.setattr(_SubprocessScriptLauncher, "_call_children_scripts", started)
    args = ["fit", *data_args(fake_data_dir), "--data.val_size", "1", *DDP_ON_TWO]
    returncode, log = run_in_process(args, capsys)
    assert returncode == 2, log
    assert f"\n{log}".endswith(  # its last line
        "\nmnist-rnn: error: val_size=1 is fewer held-out images than the run's 2 processes, which validate a share "
        "each: pass --data.val_size 2 or more (or fewer --trainer.devices)\n"
    )
    assert "Starting with 2 processes" not in log + caplog.text  # Lightning's logger: caught by caplog in-process
    assert not (in_tmp_dir / "lightning_logs").exists()


def test_each_process_of_a_multi_process_run_destroys_its_group_at_exit(tmp_path, monkeypatch):
    """A gloo group left to the interpreter's exit made a ddp_spawn process abort now and then after its work
    ("terminate called without an active exception", SIGABRT): the model's setup, which runs in every process,
    has the group destroyed at exit (once, and not in a single-process run)."""
    from mnist_rnn import process_group
    from mnist_rnn.model import RNNClassifier

    at_exit = []
    monkeypatch.setattr(process_group.atexit, "register", at_exit.append)
    monkeypatch.setattr(process_group, "_registered", False)
    model = RNNClassifier(hidden_size=4, num_layers=1)
    model.setup("validate")
    assert at_exit == []  # no group: nothing to destroy
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        model.setup("fit")
        model.setup("test")  # the test after fit, in the same process
        assert len(at_exit) == 1
        at_exit[0]()
        assert not torch.distributed.is_initialized()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_a_process_whose_first_process_ended_says_so_in_one_line(monkeypatch):
    """Not the 50 lines of torch.distributed's frames, after the first process's own message."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    closed = torch.distributed.DistNetworkError("Failed to recv, got 0 bytes. Connection was likely closed.")
    gloo = RuntimeError("[../gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:43410.")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    expected = "process 1 of the run stopped: the first process ended before it (its own message, if any, says why)"
    assert cli._process_lost_its_peers(closed) == cli._process_lost_its_peers(gloo) == expected
    assert cli._process_lost_its_peers(RuntimeError("a bug of ours")) is None
    monkeypatch.setattr(rank_zero_only, "rank", 0)  # the first process's own error is its own to say
    assert cli._process_lost_its_peers(closed) is None


@pytest.mark.slow
def test_data_the_first_process_refuses_is_said_once_without_a_traceback(fake_data_dir, tmp_path):
    """prepare_data runs in the first process only; the other waited for it, and printed a traceback when it
    ended."""
    args = ["fit", *data_args(fake_data_dir), "--data.val_size", "100000", *DDP_ON_TWO, *QUIET]
    returncode = finish(cli_subprocess(args, tmp_path), timeout=300)
    log = (tmp_path / "run.log").read_text()
    assert returncode == 2, log
    assert log.count("mnist-rnn: error: val_size=100000 leaves no training images") == 1, log
    assert "Traceback" not in log


SHARDED_VAL_SIZE, SHARDED_BATCH_SIZE = 40, 20


def sharded_fit(data_dir: Path, device_resident: str) -> list[str]:
    """A two-process ddp fit of two epochs (:func:`check_sharded_fit` checks what it wrote), its batches from a
    DataLoader with a DistributedSampler (``device_resident`` false) or from DeviceBatches (true)."""
    return [
        "fit", "--data.data_dir", str(data_dir), "--data.val_size", str(SHARDED_VAL_SIZE),
        "--data.batch_size", str(SHARDED_BATCH_SIZE), "--model.hidden_size", "16", "--trainer.max_epochs", "2",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--data.device_resident", device_resident, "--seed_everything", "true",
    ]  # fmt: skip


def check_sharded_fit(folder: Path, log: str) -> None:
    """What a :func:`sharded_fit` run in ``folder``, whose output is ``log``, must have done: each process trained
    on its own shard of the data, with one seed, and the first alone wrote the run's files and lines."""
    assert "Starting with 2 processes" in log
    # One seed drawn, for both processes: each drew its own, and their shuffled shards overlapped.
    assert log.count("drew seed") == 1 and len(set(re.findall(r"Seed set to (\d+)", log))) == 1, log
    assert log.count("Test accuracy") == 1  # printed by global rank 0 only
    # The temperature is fitted on the whole validation split, not on process 0's half of it.
    assert re.search(rf"Calibrated .*: temperature [0-9.]+; on the {SHARDED_VAL_SIZE} validation images", log), log
    assert "on 60 test images" in log  # both processes' shares of the 60, not one process's
    assert log.count("mnist-rnn: warning: val_size=40") == 1  # the project's messages: once, not once per process
    assert "sync_dist=True" not in log  # Lightning's warning when an epoch metric is not synchronised
    # One run folder, one set of checkpoints: rank 1 neither logs nor writes.
    assert [p.name for p in (folder / "lightning_logs").iterdir()] == ["version_0"]
    checkpoints = sorted(p.name for p in (folder / "lightning_logs" / "version_0" / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and "last.ckpt" in checkpoints and checkpoints[0].startswith("best-")
    # Each process trained on its own half: an epoch takes half the steps of a one-process run.
    last = torch.load(folder / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    steps_per_epoch = (TRAIN_IMAGES - SHARDED_VAL_SIZE) // 2 // SHARDED_BATCH_SIZE
    assert last["global_step"] == 2 * steps_per_epoch


@pytest.mark.slow
def test_two_process_ddp_fit_shards_the_data_and_writes_one_checkpoint_set(fake_data_dir, tmp_path):
    """With DeviceBatches; test_ctrl_c_as_a_ddp_run_exits_says_so checks the same of a run with a DataLoader and a
    DistributedSampler, which it stops as it exits."""
    args = sharded_fit(fake_data_dir, device_resident="true")
    assert finish(cli_subprocess(args, tmp_path), timeout=300) == 0, (tmp_path / "run.log").read_text()
    check_sharded_fit(tmp_path, (tmp_path / "run.log").read_text())


@pytest.mark.slow
def test_three_processes_evaluate_each_image_once(fake_data_dir, mnist_checkpoint, tmp_path, monkeypatch):
    """3 processes, 40 validation and 60 test images: Lightning's padded DistributedSampler counted 2 of the
    40 twice, and its sync_dist loss divided by the processes' image counts averaged as integers. The
    figures must be one process's, to the float."""
    monkeypatch.chdir(tmp_path)
    checkpoint = mnist_checkpoint.resolve()  # the session's (read only), trained as fit_tiny trains
    cli = build_cli(["validate", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir), *QUIET])
    one = {key: float(value) for key, value in cli.trainer.callback_metrics.items()}
    args = [
        "validate", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir), *QUIET, "--trainer.accelerator",
        "cpu", "--trainer.devices", "3", "--trainer.strategy", "ddp",
    ]  # fmt: skip
    folder = tmp_path / "three"
    folder.mkdir()
    returncode = finish(cli_subprocess(args, folder), timeout=300)
    log = (folder / "run.log").read_text()
    assert returncode == 0, log
    assert "Starting with 3 processes" in log and "DistributedSampler" not in log  # Lightning's padding warning
    three = {key: float(value) for key, value in re.findall(r"(val/(?:acc|loss))\s+([0-9.e-]+)", log)}
    assert 0 < one["val/acc"] < 1  # so that a repeated image would show
    assert three == pytest.approx({"val/acc": one["val/acc"], "val/loss": one["val/loss"]}, rel=1e-6)


@pytest.mark.slow
def test_ddp_spawn_fits_and_validates_to_the_end(fake_data_dir, in_tmp_dir, capfd):
    """Under ddp_spawn the stages run in spawned processes, and the command's own process never sets the data
    up: counting the images its batches covered ended fit, test and validate in a traceback (exit 1), after
    the work, and the test's run folder was removed as empty. The command's process is this one (in-process:
    what it does is not about signals), the spawned processes real ones."""
    spawn = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp_spawn"]
    fit = ["fit", *data_args(fake_data_dir), *QUIET, "--model.hidden_size", "8", "--trainer.max_epochs", "1", *spawn]
    returncode, log = run_in_process(fit, capfd)
    assert returncode == 0, log
    assert re.search(r"Test accuracy [0-9.]+% \(test error [0-9.]+%\) on the test images, from .*best-", log), log
    assert "holds an earlier run" not in log  # the test's processes took the run's own config.yaml for another's
    validate = ["validate", "--ckpt_path", "best", *data_args(fake_data_dir), *QUIET, *spawn]
    returncode, log = run_in_process(validate, capfd)
    assert returncode == 0, log
    assert "Traceback" not in log
    # ... from None: this process's Trainer never loaded the checkpoint
    validated = r"Validation accuracy [0-9.]+% \(error [0-9.]+%\) on the validation images \(held out of the "
    assert re.search(validated + r"training set\), from lightning_logs/version_0/checkpoints/best-", log), log
    assert sorted(p.name for p in (in_tmp_dir / "lightning_logs").iterdir()) == ["version_0", "version_1"]
    # the test command's line named no checkpoint ("from None"): this process's Trainer never loaded it
    test = ["test", "--ckpt_path", "best", *data_args(fake_data_dir), *QUIET, *spawn]
    returncode, log = run_in_process(test, capfd)
    assert returncode == 0, log
    assert re.search(r"on the test images, from lightning_logs/version_0/checkpoints/best-", log), log


def test_the_processes_ddp_spawn_starts_start_deaf_to_sigint_and_are_counted():
    """A Ctrl+C as a spawned process started (reading the Trainer it is handed, before any handler of ours) ended
    it in a KeyboardInterrupt traceback: it now waits, blocked, for the process's handler. The run's processes are
    counted by their ids as they start, the one being started too (the launcher had only those started before)."""
    from mnist_rnn import process_group

    started: list[int] = []
    with process_group._spawning_deaf_to_sigint(started):
        child = multiprocessing.get_context("spawn").Process(target=interrupt_itself)
        child.start()
    child.join(timeout=120)
    assert child.exitcode == 0  # the SIGINT it sent itself waited, blocked, and went with it
    assert started == [child.pid]  # the run's, not the resource tracker the first spawn may start
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # blocked here only for the fork


def signal_when(
    run,
    ready: Callable[[], bool],
    signum: int,
    timeout: float,
    hung: str,
    to: Callable[[], int] | None = None,
    then: Callable[[], None] | None = None,
) -> int:
    """Once ``ready()`` (within 3 minutes) and half a second more, send ``signum`` to the run's process group, as a
    terminal's Ctrl+C does (or to the process ``to()`` names), call ``then()`` if given, and return its exit
    status; a run still going ``timeout`` seconds later fails the test with ``hung``. The group is killed at the
    end, whatever happened."""
    try:
        deadline = time.monotonic() + 180
        while not ready():
            assert run.poll() is None and time.monotonic() < deadline, run.log_path.read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # well into what it was doing
        if to is None:
            os.killpg(run.pid, signum)
        else:
            os.kill(to(), signum)
        if then is not None:
            then()
        return run.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(hung) from None
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["Ctrl+C", "SIGTERM to the second process"])
def test_a_stop_ends_a_ddp_fit_and_saves_last(fake_data_dir, tmp_path, stop):
    """Ctrl+C in a terminal signals every process of the group. Lightning's SIGTERM handler, which ours ran,
    broadcast from inside the handler, wherever each process was: one waited there while the other waited
    in the gradients' all-reduce, for good, with nothing saved. A SIGTERM to the second process alone (the one
    Lightning starts) stopped it at the end of its batch, in its checkpoint's barrier, while the first went on
    into the next step's broadcast: both waited for good."""
    args = [
        "fit", *data_args(fake_data_dir), "--model.hidden_size", "16", "--trainer.max_epochs", "1000",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp", *QUIET,
        "--checkpoint.every_n_train_steps", "3",
    ]  # fmt: skip
    run = cli_subprocess(args, tmp_path, start_new_session=True)  # its own group, as a terminal's command
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"

    def second() -> int:  # the command line again, started by the first
        return next(pid for pid, (parent, _) in processes().items() if parent == run.pid)

    signum, to = (signal.SIGINT, None) if stop == "Ctrl+C" else (signal.SIGTERM, second)
    returncode = signal_when(run, last.exists, signum, timeout=90, hung=f"the DDP fit hung after {stop}", to=to)
    assert returncode == 128 + signum, (tmp_path / "run.log").read_text()
    log = (tmp_path / "run.log").read_text()
    assert f"mnist-rnn: stopped by {signal.Signals(signum).name}" in log and "Traceback" not in log
    assert torch.load(last, weights_only=True)["global_step"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM to the command", "Ctrl+C", "SIGTERM to one of its processes"])
def test_a_stop_ends_a_ddp_spawn_fit_after_saving_last(fake_data_dir, tmp_path, stop):
    """Under ddp_spawn the stage runs in spawned processes, outside Lightning's exception handling. A SIGTERM to
    the command (``kill PID``, a scheduler) said "stopped ... before training; no checkpoint written" while its
    processes trained on to the end, unsignalled; a Ctrl+C stopped them with status 0 and no last.ckpt. A SIGTERM
    to one of the processes stopped it alone at the end of its batch, in its checkpoint's barrier, while the
    other waited in the next step's broadcast: for good (and now and then so did one to the command, passed on
    to both a moment apart)."""
    args = [
        "fit", *data_args(fake_data_dir), "--model.hidden_size", "16", "--trainer.max_epochs", "1000",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp_spawn", *QUIET,
        "--checkpoint.every_n_train_steps", "3",
    ]  # fmt: skip
    run = cli_subprocess(args, tmp_path, start_new_session=True)
    last = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    try:
        deadline = time.monotonic() + 180
        while not last.exists():
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.05)
        saved_step = torch.load(last, weights_only=True)["global_step"]
        time.sleep(0.5)  # well into training
        if stop == "Ctrl+C":
            os.killpg(run.pid, signal.SIGINT)  # as a terminal sends it: to every process of the group
        elif stop == "SIGTERM to the command":
            run.send_signal(signal.SIGTERM)  # to the command's own process only
        else:
            os.kill(spawned_by({run.pid}, processes())[-1], signal.SIGTERM)
        status = run.wait(timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the ddp_spawn fit went on after {stop}:\n{(tmp_path / 'run.log').read_text()}") from None
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    log = (tmp_path / "run.log").read_text()
    name = "SIGINT" if stop == "Ctrl+C" else "SIGTERM"
    assert status == 128 + getattr(signal, name), log
    stopped = rf"mnist-rnn: stopped by {name} at (the end of )?epoch \d+, step \d+; saved .*last\.ckpt"
    assert re.search(stopped, log), log
    assert log.count("mnist-rnn: stopped by") == 1 and "Traceback" not in log, log
    assert torch.load(last, weights_only=True)["global_step"] > saved_step


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "hold_at", "held_rank"),
    [("ddp", "setup", 1), ("ddp_spawn", "setup", 1), ("ddp", "teardown", 0)],
    ids=["ddp, setting up", "ddp_spawn, setting up", "ddp, the calibration after fit"],
)
def test_a_sigterm_to_one_ddp_process_outside_a_stage_stops_all(fake_data_dir, tmp_path, strategy, hold_at, held_rank):
    """A SIGTERM to one of the processes but the first outside a Trainer's stage (while the data and the model are
    set up, or between fit and its test, while the first process calibrates) stopped it alone: the first, waiting
    for it in a collective, ended in gloo's "Connection closed by peer" traceback (status 1) or was killed by
    Lightning's observer (137); under ddp_spawn it waited for good. Its line said "before the calibration" after the
    calibration was done. The processes now stop together: one line, status 143, the checkpoints written kept."""
    args = [
        "fit", *data_args(fake_data_dir), "--model.hidden_size", "16", "--trainer.max_epochs", "1",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", strategy, *QUIET,
        "--trainer.callbacks", "tests.nan_model.HoldOutsideTheStage",
    ]  # fmt: skip
    env = {"HOLD_AT": hold_at, "HOLD_RANK": str(held_rank)}
    run = cli_subprocess(args, tmp_path, extra_env=env, start_new_session=True)

    def held() -> Path | None:  # the file of the process held (HoldOutsideTheStage), once it is
        return next(tmp_path.glob("held-*"), None)

    def second() -> int:  # the process of rank 1: the one held, or ddp's command line started by the first
        if held_rank == 1:
            return int(held().name.removeprefix("held-"))
        return next(pid for pid, (parent, command) in processes().items() if parent == run.pid and b"fit" in command)

    def let_it_go() -> None:  # the held process goes on, to where the processes agree on the stop
        time.sleep(0.5)
        held().unlink()

    # The signal while one process is held; to the second while it waits for the first, held.
    ready = lambda: held() is not None  # noqa: E731
    hung = f"the {strategy} fit went on after the SIGTERM"
    status = signal_when(run, ready, signal.SIGTERM, timeout=90, hung=hung, to=second, then=let_it_go)
    log = (tmp_path / "run.log").read_text()
    assert status == 128 + signal.SIGTERM, log
    assert log.count("mnist-rnn: stopped by") == 1 and "Traceback" not in log and "mnist-rnn: error" not in log, log
    checkpoints = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    if hold_at == "setup":
        assert "mnist-rnn: stopped by SIGTERM during the sanity check, before any training; no checkpoint" in log
        assert not list(tmp_path.rglob("*.ckpt"))
    else:  # the first saw the stop before its calibration, or (noted as it waited for the first) after it
        stopped = r"mnist-rnn: stopped by SIGTERM at the end of (training|the calibration), before the test; "
        assert re.search(stopped + r"(calibrate|test) it \(", log), log
        assert ("Calibrated" in log) == ("at the end of the calibration" in log) and "Test accuracy" not in log, log
        assert (checkpoints / "last.ckpt").is_file() and len(list(checkpoints.glob("best-*.ckpt"))) == 1


@pytest.mark.slow
def test_sigterm_ends_a_fit_waiting_for_the_other_nodes(fake_data_dir, tmp_path):
    """--trainer.num_nodes 2 on one machine waits in torch's rendezvous (in C++, 30 minutes), where no Python
    handler runs: SIGTERM and Ctrl+C did nothing. There the system's own action ends it; nothing is written yet."""
    args = ["fit", *data_args(fake_data_dir), *QUIET, "--trainer.accelerator", "cpu", "--trainer.num_nodes", "2"]
    run = cli_subprocess(args, tmp_path, extra_env={"MASTER_PORT": str(free_port())}, start_new_session=True)
    waiting = lambda: "Initializing distributed" in run.log_path.read_text()  # noqa: E731
    hung = "the fit went on waiting for the other nodes after SIGTERM"
    returncode = signal_when(run, waiting, signal.SIGTERM, timeout=30, hung=hung)
    assert returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), run.log_path.read_text()
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("strategy", ["ddp_fork", "ddp_notebook"])
def test_a_fork_strategy_is_refused_for_fit(strategy, fake_data_dir, in_tmp_dir, capsys):
    """fit's test after training, forked after the calibration, waited in OpenMP for good, deaf to signals."""
    args = ["fit", *data_args(fake_data_dir), *QUIET, "--trainer.accelerator", "cpu", "--trainer.strategy", strategy]
    error = one_line_error(args, capsys)
    assert f"--trainer.strategy {strategy} forks this process for the test after training, which then never" in error
    assert "use --trainer.strategy ddp (or ddp_spawn)" in error and not Path("lightning_logs").exists()


class TwoProcessTrainer:
    """What SafeModelCheckpoint's stop agreement reads of a Trainer, as in one of two DDP processes; the other
    process's stop is ``other_stops``, and the strategy's all-reduce calls are kept."""

    def __init__(self, other_stops: bool, sanity_checking: bool = False) -> None:
        self.world_size, self.sanity_checking, self.calls = 2, sanity_checking, []
        self._signal_connector = SimpleNamespace(received_sigterm=False)
        reduce = lambda decision, all=True: self.calls.append(decision) or decision or other_stops  # noqa: E731
        self.strategy = SimpleNamespace(reduce_boolean_decision=reduce, launcher=None)

    @property
    def received_sigterm(self) -> bool:
        return self._signal_connector.received_sigterm


def test_ddp_processes_agree_on_a_stop_at_the_start_of_a_training_batch():
    """A process's own flag, set by the signal, stopped it alone at the end of its batch (in its checkpoint's
    barrier) while another went on into the next step's broadcast: both waited for good."""
    signalled, other = SafeModelCheckpoint(), SafeModelCheckpoint()
    signalled._trainer = here = TwoProcessTrainer(other_stops=False)
    signalled._on_sigterm(signal.SIGTERM, None)
    assert not here.received_sigterm  # noted only: Lightning's loops read the flag at the end of this batch
    signalled.on_train_batch_start(here, None, None, 0)
    there = TwoProcessTrainer(other_stops=True)
    other.on_train_batch_start(there, None, None, 0)
    assert here.received_sigterm and there.received_sigterm  # both stop at the end of the same batch
    assert (here.calls, there.calls) == ([True], [False])  # each joined the one all-reduce, signalled or not
    # A validation after that batch runs to its end (Lightning's loop stopped after its first batch, but not in a
    # process whose whole share was that batch), then every process stops, with last.ckpt saved.
    for callback, trainer in ((signalled, here), (other, there)):
        callback._previous_sigint = signal.getsignal(signal.SIGINT)  # its handlers as installed for the stage
        callback.on_validation_start(trainer, None)
        assert not trainer.received_sigterm
        callback._agree_on_a_stop(trainer)  # as on_validation_end does, before its save
        assert trainer.received_sigterm
    # In the sanity check, as in one process: stopped before any training, nothing written.
    checking = TwoProcessTrainer(other_stops=True, sanity_checking=True)
    with pytest.raises(SIGTERMException):
        other.on_validation_end(checking, None)


def test_a_ddp_process_but_the_first_notes_a_stop_outside_a_stage_and_agrees_on_it_as_the_stage_starts(monkeypatch):
    """Stopped alone while the data and the model were set up, it left the first process waiting for it in a
    collective (gloo's traceback, or exit 137); the stop is noted, then agreed on as the stage starts."""
    from mnist_rnn import stopping

    monkeypatch.setattr(stopping, "_noted", None)  # as in a run of one process, until together()
    stopping.together()
    with stopping.stop_handlers():
        signal.raise_signal(signal.SIGTERM)  # noted, not raised
    callback = SafeModelCheckpoint()
    callback._trainer = trainer = TwoProcessTrainer(other_stops=False)
    callback._previous_sigint = signal.getsignal(signal.SIGINT)  # its handlers as installed for the stage
    callback.on_sanity_check_start(trainer, None)
    assert stopping.noted_stop() is None  # taken by the stage
    callback._agree_on_a_stop(trainer)  # as the sanity check's end does
    assert trainer.received_sigterm and trainer.calls == [True]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_ddp_spawn_process_that_ends_as_it_starts_ends_the_command(fake_data_dir, tmp_path, signum):
    """A spawned process that ended (Ctrl+C, ``kill``) while it read the Trainer it is handed left the command's
    process waiting for good to write it the rest (it holds the pipe's other end too). The command now ends: as
    stopped by the signal for SIGTERM, with torch's own error for SIGKILL, and no process is left."""
    args = [
        "fit", *data_args(fake_data_dir), "--model.hidden_size", "8", "--trainer.max_epochs", "1", *QUIET,
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp_spawn",
        "--trainer.callbacks", "tests.nan_model.EndAsItStarts",
    ]  # fmt: skip
    env = {"SIGNAL_AS_IT_STARTS": signal.Signals(signum).name}
    run = cli_subprocess(args, tmp_path, extra_env=env, start_new_session=True)
    try:
        returncode = run.wait(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the command hung:\n{run.log_path.read_text()}") from None
    finally:
        left = spawned_by({run.pid}, processes())
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    log = run.log_path.read_text()
    assert left == [], log
    if signum == signal.SIGTERM:
        assert returncode == 128 + signal.SIGTERM, log
        stopped = "mnist-rnn: stopped by SIGTERM while preparing the data and the model, before training; no checkpoint"
        assert stopped in log and "Traceback" not in log, log
    else:
        error = "mnist-rnn: error: process 0 terminated with signal SIGKILL as it started; the run cannot go on"
        assert returncode == 1 and error in log and "Traceback" not in log, log
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.slow
def test_a_sigterm_to_the_second_ddp_process_as_it_starts_stops_the_command(fake_data_dir, tmp_path):
    """The second process, stopped as it imported torch (or as it waited in the rendezvous), ended alone, and
    Lightning's observer then killed the first, waiting for it in the rendezvous: exit 137 and its "zombies" line.
    The command now ends as stopped by SIGTERM, in one line; nothing is written."""
    args = ["fit", *data_args(fake_data_dir), *QUIET, "--model.hidden_size", "8", "--trainer.max_epochs", "1"]
    args += DDP_ON_TWO
    run = cli_subprocess(args, tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not (
            second := [pid for pid, (up, command) in processes().items() if up == run.pid and b"fit" in command]
        ):
            assert run.poll() is None and time.monotonic() < deadline, run.log_path.read_text()
            time.sleep(0.02)
        os.kill(second[0], signal.SIGTERM)  # at its birth: it takes seconds to import torch
        returncode = run.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the command went on:\n{run.log_path.read_text()}") from None
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    log = run.log_path.read_text()
    assert returncode == 128 + signal.SIGTERM, log
    assert log.count("mnist-rnn: stopped by SIGTERM") == 1 and "zombies" not in log and "Traceback" not in log, log
    assert not list(tmp_path.rglob("*.ckpt"))


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``signum`` (its ``SigCgt`` mask in /proc, Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def ended_within_a_minute(group: int) -> bool:
    """Whether every process of the process group ``group`` ends within a minute."""
    deadline = time.monotonic() + 60
    while not no_process_left(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    return no_process_left(group)


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["Ctrl+C", "SIGTERM to the first"])
def test_a_stop_in_the_ddp_rendezvous_ends_in_one_line(fake_data_dir, tmp_path, stop):
    """Both processes wait in torch's rendezvous (in C++, for the second node's, which never come), where the
    system's handlers were in place: the command's process ended by the signal itself (-2: no line, or the line of
    its observer, which saw the second end), and killed by SIGTERM it had left the second waiting there for good.
    Now its handler runs there: status 130 or 143, one line, and the second ends with it."""
    args = ["fit", *data_args(fake_data_dir), *QUIET, "--model.hidden_size", "8", "--trainer.max_epochs", "1"]
    args += [*DDP_ON_TWO, "--trainer.num_nodes", "2"]
    env = {"MASTER_PORT": str(free_port())}
    run = cli_subprocess(args, tmp_path, extra_env=env, start_new_session=True)
    both = lambda: all(f"GLOBAL_RANK: {rank}," in run.log_path.read_text() for rank in (0, 1))  # noqa: E731
    signum, to = (signal.SIGINT, None) if stop == "Ctrl+C" else (signal.SIGTERM, lambda: run.pid)
    returncode = signal_when(run, both, signum, timeout=30, hung=f"the rendezvous went on after {stop}", to=to)
    left = not ended_within_a_minute(run.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.pid, signal.SIGKILL)
    log = run.log_path.read_text()
    assert returncode == 128 + signum, log
    assert log.count("mnist-rnn: stopped by") == 1, log
    assert f"mnist-rnn: stopped by {signal.Signals(signum).name} while preparing the data and the model" in log, log
    assert not left, f"a process of the run was still waiting a minute later:\n{log}"
    assert "Traceback" not in log and "zombies" not in log and not list(tmp_path.rglob("*.ckpt")), log


@pytest.mark.slow
def test_ctrl_c_as_ddp_spawn_starts_its_processes_ends_in_one_line(fake_data_dir, tmp_path):
    """A spawned process got the terminal's SIGINT as it read the Trainer it is handed (seconds: the imports),
    before any handler of ours, and printed its KeyboardInterrupt traceback under the command's line. It now starts
    with SIGINT blocked, until its handler is in place; the command stops it."""
    args = [
        "fit", *data_args(fake_data_dir), "--model.hidden_size", "8", "--trainer.max_epochs", "1", *QUIET,
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp_spawn",
    ]  # fmt: skip
    run = cli_subprocess(args, tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        # The first spawned process has Python's handler (it runs Python): it is reading what it is handed.
        while not ((spawned := spawned_by({run.pid}, processes())) and catches(spawned[0], signal.SIGINT)):
            assert run.poll() is None and time.monotonic() < deadline, run.log_path.read_text()
            time.sleep(0.02)
        os.killpg(run.pid, signal.SIGINT)
        returncode = run.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the command went on:\n{run.log_path.read_text()}") from None
    finally:
        left = ended_within_a_minute(run.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    log = run.log_path.read_text()
    assert returncode == 128 + signal.SIGINT, log
    stopped = "mnist-rnn: stopped by SIGINT while preparing the data and the model, before training; no checkpoint"
    assert log.count("mnist-rnn: stopped by") == 1 and stopped in log, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log and left, log


def test_a_stop_that_ends_the_spawned_processes_as_they_start_says_what_the_command_was_doing(monkeypatch):
    """A Ctrl+C once every ``ddp_spawn`` process had started, but before the first had its handler (it was still
    importing): the SIGTERM passed on ended it silently, and the command's line, made then, said "stopped by SIGINT
    a second time", for the one Ctrl+C there was (seen in CI, test_ctrl_c_as_ddp_spawn_starts_its_processes...)."""
    from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
    from torch.multiprocessing import ProcessExitedException

    from mnist_rnn import stopping
    from mnist_rnn.process_group import StoppableSpawnLauncher

    def started_then_ended(self, function, *args, **kwargs):
        self.procs = [SimpleNamespace(pid=None)]  # all started (torch's join would follow)
        os.kill(os.getpid(), signal.SIGINT)  # the Ctrl+C, handled here, in the main thread
        raise ProcessExitedException("process 0 terminated with signal SIGTERM", 0, 0, -15, "SIGTERM")

    monkeypatch.setattr(_MultiProcessingLauncher, "launch", started_then_ended)
    monkeypatch.setattr(multiprocessing, "active_children", list)  # none of this test's process to pass it on to
    monkeypatch.setattr(stopping, "_doing", "while preparing the data and the model, before training")
    with pytest.raises(stopping.Stopped) as stop:
        StoppableSpawnLauncher(SimpleNamespace(), start_method="spawn").launch(print)
    assert str(stop.value) == "stopped by SIGINT while preparing the data and the model, before training"


@pytest.mark.slow
def test_ctrl_c_as_a_ddp_run_exits_says_so(fake_data_dir, tmp_path):
    """Its work done, the first process exits (its exit hooks: torch's, the process group's destroy). A Ctrl+C there
    raised KeyboardInterrupt in a hook: Python's "Exception ignored" traceback, in both processes, and status 0, so
    that a script's next command ran although the user had stopped it. It now ends with its line and 130.
    The run is a whole :func:`sharded_fit` (with a DataLoader and a DistributedSampler), checked as one too: a stop
    after its work takes nothing from it, and one run, not two, pays for the processes' imports."""
    holding = ["--trainer.callbacks", "tests.nan_model.HoldOutsideTheStage"]
    args = [*sharded_fit(fake_data_dir, device_resident="false"), *holding]
    run = cli_subprocess(args, tmp_path, extra_env={"HOLD_AT": "exit", "HOLD_RANK": "0"}, start_new_session=True)
    held = lambda: next(tmp_path.glob("held-*"), None)  # noqa: E731
    let_it_go = lambda: held() and held().unlink()  # noqa: E731
    returncode = signal_when(run, held, signal.SIGINT, timeout=60, hung="the run did not end", then=let_it_go)
    log = run.log_path.read_text()
    assert returncode == 128 + signal.SIGINT, log
    assert log.count("mnist-rnn: stopped by") == 1, log
    assert "mnist-rnn: stopped by SIGINT as it ended, after its work was done" in log and "Test accuracy" in log, log
    assert "Traceback" not in log and "Exception ignored" not in log, log
    check_sharded_fit(tmp_path, log)
