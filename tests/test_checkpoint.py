"""Checkpoints survive interruption: atomic writes, SIGKILL then resume, SIGTERM/SIGINT save and stop, a full
disk, and ``--ckpt_path last`` taking the command's own run."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from mnist_rnn.checkpoint import (
    AtomicCheckpointIO,
    SafeModelCheckpoint,
    _disk_full_message,
    best_checkpoint,
    check_checkpoint,
    checkpoint_named,
    find_last_checkpoint,
    load_keys,
)
from mnist_rnn.cli import main
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.errors import UserError
from mnist_rnn.model import RNNClassifier
from tests.bad_inputs import lightning_checkpoint
from tests.helpers import QUIET, SEED_CONFIG, cli_subprocess, data_args, finish, one_line_error, render_digit

# The fits here are checked for what they print and save, not for their test's pictures (tests/test_figures.py).
pytestmark = pytest.mark.usefixtures("figures_not_drawn")

STEPS_PER_EPOCH = 10  # 200 training images (240 - 40 for validation) in batches of 20


def fit_args(data_dir: Path, max_epochs: int, *extra: str) -> list[str]:
    return [
        "fit", "--data.data_dir", str(data_dir), "--data.val_size", "40", "--data.batch_size", "20",
        "--model.hidden_size", "16", "--trainer.max_epochs", str(max_epochs),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra,
    ]  # fmt: skip


def wait_for(pattern: str, folder: Path, process, timeout: float = 120) -> list[Path]:
    """Poll until files matching ``pattern`` exist under ``folder``; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(folder.glob(pattern))
        if found:
            return found
        assert process.poll() is None, (folder / "run.log").read_text()
        time.sleep(0.02)
    raise AssertionError(f"no {pattern} after {timeout}s")


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_a_failed_write_leaves_the_previous_checkpoint_whole(fake_data_dir, in_tmp_dir, monkeypatch):
    checkpoint = SafeModelCheckpoint(dirpath=in_tmp_dir / "ckpts", save_last=True, monitor="val/acc", mode="max")
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    trainer = Trainer(
        max_epochs=1, callbacks=[checkpoint], logger=False, enable_progress_bar=False, plugins=[AtomicCheckpointIO()]
    )
    trainer.fit(RNNClassifier(hidden_size=16), datamodule=data)
    last = in_tmp_dir / "ckpts" / "last.ckpt"
    good = last.read_bytes()

    def crash_halfway(self, checkpoint, path, storage_options=None):  # a kill in the middle of a write
        Path(path).write_bytes(b"PK half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", crash_halfway)  # what the plugin writes with
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint(last)
    assert last.read_bytes() == good
    for path in last.parent.glob("*.ckpt"):
        assert "state_dict" in load(path)
    assert not list(last.parent.glob(".*"))  # no half-written file left either


class CheckpointSeen(CSVLogger):
    """A logger that uploads checkpoints (as MLflow's or W&B's ``log_model`` do): what was on disk when it heard."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, bool]] = []

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        for path in (checkpoint_callback.best_model_path, checkpoint_callback.last_model_path):
            self.seen.append((Path(path).name, Path(path).is_file() and load(path)["global_step"] > 0))


def test_loggers_hear_of_a_checkpoint_once_its_file_is_final(fake_data_dir, in_tmp_dir):
    checkpoint = SafeModelCheckpoint(dirpath="ckpts", save_last=True, monitor="val/acc", mode="max")
    logger = CheckpointSeen(in_tmp_dir)
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    trainer = Trainer(
        max_epochs=1, callbacks=[checkpoint], logger=logger, enable_progress_bar=False, plugins=[AtomicCheckpointIO()]
    )
    trainer.fit(RNNClassifier(hidden_size=16), datamodule=data)
    assert ("last.ckpt", True) in logger.seen
    assert all(final for name, final in logger.seen if name), logger.seen


def test_a_stale_partial_file_is_swept_and_last_takes_the_newer_complete_checkpoint(tmp_path, capsys):
    folder = tmp_path / "version_0" / "checkpoints"
    lightning_checkpoint(folder / "last.ckpt", hidden_size=16)  # epoch 0
    time.sleep(0.01)
    lightning_checkpoint(folder / "best-epoch01.ckpt", hidden_size=16)  # epoch 1: saved, then...
    (folder / ".last.ckpt.partial").write_bytes(b"PK half")  # ...SIGKILL between last.ckpt's write and rename
    assert find_last_checkpoint([tmp_path / "version_*" / "checkpoints"]) == folder / "best-epoch01.ckpt"
    # The next save into that folder removes it, and says so.
    AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, folder / "last.ckpt")
    assert not list(folder.glob(".*")) and "state_dict" in load(folder / "last.ckpt")
    assert f"mnist-rnn: removed {folder / '.last.ckpt.partial'}" in capsys.readouterr().err


def test_a_full_disk_advises_resuming_only_where_there_is_a_last_checkpoint(tmp_path):
    assert "run the command again" in _disk_full_message(str(tmp_path / "best.ckpt"), 1000)
    # The best checkpoint was saved, the first last.ckpt was not: it said "No checkpoint of this run was saved".
    lightning_checkpoint(tmp_path / "best-epoch00.ckpt")
    message = _disk_full_message(str(tmp_path / "last.ckpt"), 1000)
    assert (
        f"best-epoch00.ckpt was saved whole; free some space and resume from it with --ckpt_path {tmp_path}" in message
    )
    lightning_checkpoint(tmp_path / "last.ckpt")
    assert "resume with --ckpt_path last" in _disk_full_message(str(tmp_path / "best.ckpt"), 1000)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_from_last(fake_data_dir, tmp_path):
    max_epochs = 4
    args = fit_args(fake_data_dir, max_epochs, "--checkpoint.every_n_train_steps", "3")
    run = cli_subprocess(args, tmp_path)
    wait_for("lightning_logs/version_0/checkpoints/last.ckpt", tmp_path, run)
    run.send_signal(signal.SIGKILL)
    assert finish(run) == -signal.SIGKILL
    checkpoints = list(tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    killed_at = {path.name: load(path)["global_step"] for path in checkpoints}  # each loads: none truncated
    assert 0 < killed_at["last.ckpt"] < max_epochs * STEPS_PER_EPOCH

    # A new process: Lightning alone would look for last.ckpt in its new, empty version_1 folder.
    resumed = cli_subprocess([*args, "--ckpt_path", "last"], tmp_path)
    assert finish(resumed) == 0, (tmp_path / "run.log").read_text()
    final = load(tmp_path / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt")
    assert final["epoch"] == max_epochs - 1
    assert final["global_step"] > killed_at["last.ckpt"]
    log = (tmp_path / "run.log").read_text()
    # fit's own restore (the test after fit restores its best checkpoint in the same words): of last.ckpt, or of
    # the best checkpoint saved just before it where the SIGKILL came while last.ckpt was being rewritten (its
    # .partial left beside it: see checkpoint._last_of), as a loaded machine makes it now and then.
    resumed_from = re.search(r"mnist-rnn: resuming from (\S+)", log)[1]
    assert resumed_from.startswith("lightning_logs/version_0/checkpoints/"), log
    assert resumed_from.endswith("/last.ckpt") or "/best-" in resumed_from, log
    assert f"Restoring states from the checkpoint path at {resumed_from}" in log
    assert "unreliable results" not in log  # Lightning's warning on a mid-epoch resume: nothing a user can do
    assert f"`Trainer.fit` stopped: `max_epochs={max_epochs}` reached." in log and "Test accuracy" in log


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_last_and_stop(fake_data_dir, tmp_path, signum):
    run = cli_subprocess(fit_args(fake_data_dir, 1000, "--checkpoint.every_n_train_steps", "3"), tmp_path)
    wait_for("lightning_logs/version_0/checkpoints/last.ckpt", tmp_path, run)
    run.send_signal(signum)
    assert finish(run) == 128 + signum
    log = (tmp_path / "run.log").read_text()
    assert "Traceback" not in log and "Received SIGTERM" not in log  # Lightning's, and of Ctrl+C too
    last = load(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt")
    name = signal.Signals(signum).name
    # The signal lands where the host's load puts it: mid-epoch mostly, as an epoch ends or in its validation at times
    # (on a busy CI host), each with its own words.
    if f"mnist-rnn: stopped by {name} at the end of epoch" in log:
        assert f"step {last['global_step']}; saved" in log and "drawn anew" not in log
    elif f"mnist-rnn: stopped by {name} during the validation of epoch" in log:
        assert "checkpoints/last.ckpt, so a resumed run trains this epoch again" in log
    else:
        assert f"mnist-rnn: stopped by {name} at epoch" in log
        assert f"step {last['global_step']};" in log
        # ... and says that the resumed run will not be the unbroken one's (the rest of the epoch is reshuffled).
        assert f"(the rest of epoch {last['epoch']} is then drawn anew: some of its images come twice" in log


def pretend_best_score(last: Path, score: float) -> None:
    """Rewrite the best score that ``last``'s checkpoint callback recorded, as if its best epoch had scored it."""
    checkpoint = load(last)
    state = next(state for key, state in checkpoint["callbacks"].items() if key.startswith("SafeModelCheckpoint"))
    state["best_k_models"] = dict.fromkeys(state["best_k_models"], torch.tensor(score))
    state["best_model_score"] = state["kth_value"] = torch.tensor(score)
    torch.save(checkpoint, last)


def checkpoint_tested(out: str) -> Path:
    """The checkpoint that fit's closing "Test accuracy ... from CKPT" line names."""
    (line,) = [line for line in out.splitlines() if line.startswith("Test accuracy")]
    return Path(line.rsplit(" from ", 1)[1])


def test_a_resumed_run_keeps_the_earlier_best_until_it_beats_it(fake_data_dir, in_tmp_dir, capsys, recwarn):
    main(fit_args(fake_data_dir, 1))
    earlier_best = next(Path("lightning_logs/version_0/checkpoints").glob("best-*.ckpt"))
    pretend_best_score(Path("lightning_logs/version_0/checkpoints/last.ckpt"), 1.0)  # no epoch can beat 100%
    capsys.readouterr()
    main(fit_args(fake_data_dir, 2, "--ckpt_path", "last"))  # writes version_1
    out = capsys.readouterr().out
    # Lightning alone forgot the earlier scores: the resumed run's first checkpoint was "best" and was tested.
    assert checkpoint_tested(out) == earlier_best
    assert not list(Path("lightning_logs/version_1/checkpoints").glob("best-*.ckpt"))
    assert earlier_best.is_file()  # the earlier run's files stay where they are
    main(["test", "--data.data_dir", str(fake_data_dir), "--data.val_size", "40", "--ckpt_path", "best", *QUIET])
    assert f"mnist-rnn: using {earlier_best}" in capsys.readouterr().err
    # The earlier folder out of the way: it said "recorded no best checkpoint (was it validated?)".
    shutil.move("lightning_logs/version_0", "aside")
    error = one_line_error(["test", "--data.data_dir", str(fake_data_dir), "--ckpt_path", "best", *QUIET], capsys)
    assert error.startswith("mnist-rnn: error: --ckpt_path best: the run of lightning_logs/version_1/checkpoints/")
    assert f"recorded {earlier_best} as its best checkpoint, which is not there any more (its folder" in error
    shutil.move("aside", "lightning_logs/version_0")

    # The run's folder moved: its best is found beside the checkpoint resumed from.
    shutil.move("lightning_logs/version_0", "moved")
    main(fit_args(fake_data_dir, 3, "--ckpt_path", "moved"))
    assert checkpoint_tested(capsys.readouterr().out) == Path("moved/checkpoints", earlier_best.name)
    # Gone altogether: said, and the resumed run chooses among its own.
    shutil.rmtree("moved")
    main(fit_args(fake_data_dir, 3, "--ckpt_path", "lightning_logs/version_1"))
    out, err = capsys.readouterr()
    assert f"the best checkpoint of the run resumed, {earlier_best}, is gone" in err
    assert checkpoint_tested(out).match("lightning_logs/version_4/checkpoints/best-epoch02-*.ckpt")
    # Lightning's "The dirpath has changed ..." warning, on every resume and test in a new folder, is gone.
    assert not [warning for warning in recwarn if "dirpath" in str(warning.message)]


def test_a_resumed_run_that_does_better_saves_its_own_best(fake_data_dir, in_tmp_dir, capsys):
    main(fit_args(fake_data_dir, 1))
    earlier_best = next(Path("lightning_logs/version_0/checkpoints").glob("best-*.ckpt"))
    pretend_best_score(Path("lightning_logs/version_0/checkpoints/last.ckpt"), -1.0)  # any epoch beats it
    capsys.readouterr()
    main(fit_args(fake_data_dir, 2, "--ckpt_path", "last"))
    (new_best,) = Path("lightning_logs/version_1/checkpoints").glob("best-epoch01-*.ckpt")
    assert checkpoint_tested(capsys.readouterr().out) == new_best
    assert earlier_best.is_file()  # not deleted: it belongs to the earlier run's folder


@pytest.mark.parametrize("validated_every", [1, 2])
def test_last_checkpoint_is_refreshed_every_epoch(validated_every, fake_data_dir, in_tmp_dir):
    # Lightning alone rewrites last.ckpt only when val/acc improves; a constant lr of 0 never improves it. With
    # check_val_every_n_epoch 2, the last epoch of 3, not validated, was not saved: --ckpt_path last redid it.
    checkpoint = SafeModelCheckpoint(dirpath="ckpts", save_last=True, monitor="val/acc", mode="max")
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=20)
    trainer = Trainer(max_epochs=3, callbacks=[checkpoint], logger=False, enable_progress_bar=False,
                      plugins=[AtomicCheckpointIO()], check_val_every_n_epoch=validated_every)  # fmt: skip
    model = RNNClassifier(hidden_size=16)
    model.configure_optimizers = lambda: torch.optim.SGD(model.parameters(), lr=0.0)
    trainer.fit(model, datamodule=data)
    last = load(in_tmp_dir / "ckpts" / "last.ckpt")
    assert last["global_step"] == 3 * STEPS_PER_EPOCH
    assert sorted(path.name for path in (in_tmp_dir / "ckpts").iterdir() if path.name.startswith("last")) == [
        "last.ckpt"
    ]
    # The val/acc a later test reports for these weights: theirs, or none where the last epoch was not validated
    # (it carried the second epoch's).
    assert ("val_acc" in last) == (validated_every == 1)
    assert "val_acc" in load(next((in_tmp_dir / "ckpts").glob("epoch=*.ckpt")))


def test_find_last_checkpoint_takes_the_newest(tmp_path):
    for version in (0, 1):
        folder = tmp_path / f"version_{version}" / "checkpoints"
        folder.mkdir(parents=True)
        torch.save({"state_dict": {}}, folder / "last.ckpt")
        time.sleep(0.01)
    assert find_last_checkpoint([tmp_path / "version_*" / "checkpoints"]).parent.parent.name == "version_1"
    with pytest.raises(UserError, match="no last.ckpt"):
        find_last_checkpoint([tmp_path / "nothing"])


def test_a_damaged_or_missing_last_checkpoint_gives_way_to_the_whole_one_beside_it(tmp_path, capsys):
    """A last.ckpt cut short (a full disk, a copy stopped halfway) or empty ended the lookup of ``last`` and
    ``best`` in a traceback; a second Ctrl+C during the save left none, and ``last`` found nothing to resume."""
    folder = tmp_path / "version_0" / "checkpoints"
    folder.mkdir(parents=True)
    best = folder / "best-epoch00-val_acc0.5000.ckpt"
    torch.save({"state_dict": {}, "epoch": 0}, best)
    time.sleep(0.01)
    torch.save({"state_dict": {}, "epoch": 1}, folder / "last.ckpt")
    whole = (folder / "last.ckpt").read_bytes()
    for damaged in (whole[: len(whole) // 2], b""):
        (folder / "last.ckpt").write_bytes(damaged)
        assert find_last_checkpoint([tmp_path / "version_*" / "checkpoints"], {"model.cell": "lstm"}) == best
    (folder / "last.ckpt").unlink()
    assert find_last_checkpoint([tmp_path / "version_*" / "checkpoints"]) == best
    # A zip archive of something else, whole by its end (its contents are read only then): one line.
    with zipfile.ZipFile(folder / "last.ckpt", "w") as archive:
        archive.writestr("notes.txt", "not a checkpoint")
    with pytest.raises(UserError, match=r"last.ckpt: not a readable checkpoint \(.*\); pass another --ckpt_path"):
        find_last_checkpoint([tmp_path / "version_*" / "checkpoints"], {"model.cell": "lstm"})


def test_a_missing_checkpoint_is_told_what_is_there(tmp_path):
    """The README's best.ckpt, or a mistyped name, was "no such file" alone, beside the run's best-epoch....ckpt."""
    lightning_checkpoint(tmp_path / "best-epoch03-val_acc0.9912.ckpt")
    with pytest.raises(UserError) as missing:
        check_checkpoint(tmp_path / "best.ckpt")
    assert str(missing.value) == (
        f"--ckpt_path {tmp_path / 'best.ckpt'}: no such file; {tmp_path} holds best-epoch03-val_acc0.9912.ckpt"
    )
    with pytest.raises(UserError) as missing:
        check_checkpoint(tmp_path / "nowhere" / "last.ckpt", resume=True)
    assert str(missing.value).endswith(": no such file; --ckpt_path last takes the newest run's in lightning_logs/")


def test_check_checkpoint_refuses_what_is_not_one(tmp_path):
    (tmp_path / "text.ckpt").write_text("hello")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    torch.save({"state_dict": {}}, tmp_path / "weights.pt")  # torch.save(model.state_dict()), wrapped
    weights = {"network.head.bias": torch.zeros(10)}
    torch.save({"state_dict": weights, "pytorch-lightning_version": "2.6.0"}, tmp_path / "no_settings.ckpt")
    # save_weights_only: Lightning leaves out the callbacks', optimisers' and schedulers' states, not the settings
    torch.save({"state_dict": weights, "pytorch-lightning_version": "2.6.0", "hyper_parameters": {"hidden_size": 128}},
               tmp_path / "weights_only.ckpt")  # fmt: skip
    torch.save({"state_dict": {"layer.weight": torch.zeros(2)}, "pytorch-lightning_version": "2.6.0"},
               tmp_path / "boring.ckpt")  # fmt: skip
    lightning_checkpoint(tmp_path / "good.ckpt")
    torch.save(torch.nn.Linear(2, 3), tmp_path / "model.pt")  # a whole model: torch's refusal was in colour codes
    for name, message in (
        ("missing.ckpt", "no such file"),
        ("text.ckpt", "not a checkpoint"),
        ("other.pt", "no state_dict"),
        ("weights.pt", "saved with torch.save, not a Lightning checkpoint"),
        ("boring.ckpt", "not of this project's model"),  # was a traceback of unexpected keys, in test and fit
        ("model.pt", r"a pickled Python object \(torch.save\(model\)\?\), not a Lightning checkpoint"),
        ("no_settings.ckpt", "holds no hyper_parameters"),  # rebuilt from the defaults: silently wrong answers
    ):
        with pytest.raises(UserError, match=message):
            check_checkpoint(tmp_path / name)
    check_checkpoint(tmp_path / "weights_only.ckpt")  # enough to test or predict with
    with pytest.raises(UserError, match="holds only the weights"):
        check_checkpoint(tmp_path / "weights_only.ckpt", resume=True)
    check_checkpoint(tmp_path / "good.ckpt", resume=True)


def test_a_run_folder_means_its_last_checkpoint_to_resume_and_its_best_otherwise(tmp_path, capsys):
    """test, predict and export on a run folder took its last.ckpt, whose temperature was never fitted (T = 1):
    uncalibrated probabilities, and often not the best weights."""
    folder = tmp_path / "version_0" / "checkpoints"
    lightning_checkpoint(folder / "best-epoch01-val_acc0.9000.ckpt")
    torch.save({"callbacks": {"ModelCheckpoint": {"best_model_path": str(folder / "best-epoch01-val_acc0.9000.ckpt")}}},
               folder / "last.ckpt")  # fmt: skip
    run = str(tmp_path / "version_0")
    assert checkpoint_named(run, resume=True) == folder / "last.ckpt"
    assert checkpoint_named(run) == folder / "best-epoch01-val_acc0.9000.ckpt"
    torch.save({"callbacks": {}}, folder / "last.ckpt")  # a run that recorded no best: its last.ckpt
    assert checkpoint_named(run) == folder / "last.ckpt"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"--ckpt_path .*empty: a folder with no checkpoint \(.ckpt file\) in it or in"):
        checkpoint_named(str(tmp_path / "empty"))  # not "--ckpt_path last: ...", which the user never typed


def test_the_commands_a_checkpoint_message_gives_quote_a_path_with_a_space(tmp_path):
    """The path went into the command as it was: ``--ckpt_path /home/me/My runs/version_0``, pasted, passed the
    shell two arguments. A plain path stays as it is."""
    from mnist_rnn.checkpoint import calibrate_then_test

    for folder, quote in (("My runs", "'"), ("runs", "")):
        run = tmp_path / folder / "version_0"
        lightning_checkpoint(run / "checkpoints" / "last.ckpt")
        with pytest.raises(UserError) as runs:
            checkpoint_named(str(tmp_path / folder))
        assert str(runs.value).endswith(f"such as the newest, --ckpt_path {quote}{run}{quote}")
        best = run / "checkpoints" / "best.ckpt"
        assert calibrate_then_test(best) == (
            f"(calibrate --ckpt_path {quote}{best}{quote}), then test it (test --ckpt_path {quote}{best}{quote})"
        )
        lightning_checkpoint(best)  # a whole checkpoint saved before the disk filled, with no last.ckpt yet
        (run / "checkpoints" / "last.ckpt").unlink()
        full = _disk_full_message(str(run / "checkpoints" / "last.ckpt"), 1000)
        assert full.endswith(f"resume from it with --ckpt_path {quote}{best}{quote}")


def test_last_and_best_with_no_run_name_the_folder_they_looked_in(fake_data_dir, in_tmp_dir, capsys):
    """It said "no last.ckpt found in lightning_logs/version_*/checkpoints/", without which folder's
    lightning_logs/: whoever ran the command from another folder than the runs' was not told so."""
    runs = Path.cwd() / "lightning_logs" / "version_*" / "checkpoints"  # the working folder as the OS names it
    error = one_line_error(fit_args(fake_data_dir, 1, "--ckpt_path", "last"), capsys)
    assert error == f"mnist-rnn: error: --ckpt_path last: no last.ckpt found in {runs}/\n"
    error = one_line_error(["test", *data_args(fake_data_dir), "--ckpt_path", "best"], capsys)
    assert error.startswith(f"mnist-rnn: error: --ckpt_path best: no run found in {runs}/ (the best checkpoint")
    root = ["--trainer.default_root_dir", "experiments"]  # relative: named from the working folder
    error = one_line_error(fit_args(fake_data_dir, 1, *root, "--ckpt_path", "last"), capsys)
    experiments = Path.cwd() / "experiments" / "lightning_logs" / "version_*" / "checkpoints"
    assert error.endswith(f": no last.ckpt found in {experiments}/\n")


def test_a_recorded_best_is_read_from_where_its_run_started_and_never_for_a_copy(tmp_path, monkeypatch):
    """A run records its best checkpoint's path relative to the folder it started in. From another working
    folder that path named another run's file of the same name; and for a checkpoint copied into a folder of
    its own, calibrate rewrote the run's best (test read it) instead of the copy the user named."""

    def run_checkpoint(version: int, best_of: int) -> Path:
        folder = tmp_path / "project" / "lightning_logs" / f"version_{version}" / "checkpoints"
        lightning_checkpoint(folder / f"best-v{version}.ckpt")
        state = {"best_model_path": f"./lightning_logs/version_{best_of}/checkpoints/best-v{best_of}.ckpt",
                 "dirpath": f"./lightning_logs/version_{version}/checkpoints"}  # fmt: skip
        torch.save({"callbacks": {"SafeModelCheckpoint{}": state}}, folder / "last.ckpt")
        return folder

    first = run_checkpoint(0, best_of=0)
    resumed = run_checkpoint(1, best_of=0)  # a resumed run whose best is still the first run's
    unrelated = tmp_path / "elsewhere" / "lightning_logs" / "version_0" / "checkpoints" / "best-v0.ckpt"
    lightning_checkpoint(unrelated)  # another project's run, of the same name
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert checkpoint_named(str(first.parent)) == first / "best-v0.ckpt"
    assert checkpoint_named(str(resumed.parent)) == first / "best-v0.ckpt"
    monkeypatch.chdir(tmp_path / "project")  # where the run started: the path as the run wrote it
    assert checkpoint_named("lightning_logs/version_1") == Path("lightning_logs/version_0/checkpoints/best-v0.ckpt")
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(first / "last.ckpt", mine / "model.ckpt")
    assert checkpoint_named(str(mine)) == mine / "model.ckpt"


def test_find_last_checkpoint_takes_the_newest_of_the_commands_run(tmp_path):
    for version, hidden_size in ((0, 128), (1, 64)):  # the 64-unit run is newer
        lightning_checkpoint(tmp_path / f"version_{version}/checkpoints/last.ckpt", hidden_size=hidden_size)
        time.sleep(0.01)
    folders = [tmp_path / "version_*" / "checkpoints"]
    assert find_last_checkpoint(folders, {"model.hidden_size": 128}).parent.parent.name == "version_0"
    assert find_last_checkpoint(folders, {"model.hidden_size": 64}).parent.parent.name == "version_1"
    with pytest.raises(UserError, match=r"has model.hidden_size=64 \(this command: 32\)"):
        find_last_checkpoint(folders, {"model.hidden_size": 32})


def test_the_random_state_travels_with_the_checkpoint():
    # So a resumed run shuffles on as the first one would have, instead of replaying its first epochs.
    torch.manual_seed(0)
    first_epoch = torch.randperm(100)
    state = SafeModelCheckpoint().state_dict()
    second_epoch = torch.randperm(100)
    torch.manual_seed(0)  # what a resumed process does first
    SafeModelCheckpoint().load_state_dict(state)
    resumed = torch.randperm(100)
    assert torch.equal(resumed, second_epoch) and not torch.equal(resumed, first_epoch)


# ----- stops at every moment of fit, run in-process: the signal goes to this process, Lightning's handler
# (in place during each stage) turns it into a stop -----------------------------------------------------

VALIDATED_EPOCHS: list[int] = []


class SignalAt(Callback):
    """Send ``signum`` to this process at the first batch of ``stage``: "sanity", "validation" (of epoch
    ``epoch``), "train" (the second batch of epoch ``epoch``) or "test". Records the epochs it sees validated
    (outside the sanity check)."""

    def __init__(self, stage: str = "none", signum: int = 15, epoch: int = 0) -> None:
        self.stage, self.signum, self.epoch = stage, signum, epoch

    def _send(self) -> None:
        self.stage = "sent"
        os.kill(os.getpid(), self.signum)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.sanity_checking:
            if self.stage == "sanity":
                self._send()
            return
        if batch_idx == 0:
            VALIDATED_EPOCHS.append(trainer.current_epoch)
        if self.stage == "validation" and trainer.current_epoch == self.epoch:
            self._send()

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.stage == "test":
            self._send()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.stage == "twice" and trainer.current_epoch == self.epoch:  # Ctrl+C, and again
            self._send()
            os.kill(os.getpid(), self.signum)
        elif self.stage == "train" and trainer.current_epoch == self.epoch and batch_idx == 1:  # mid-epoch
            self._send()

    def on_train_end(self, trainer, pl_module) -> None:
        if self.stage == "train_end":  # after the training loop's last check for a signal
            self._send()

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.stage == "validation_end" and not trainer.sanity_checking and trainer.current_epoch == self.epoch:
            self._send()  # handled as the epoch ends, after its validation


def stop_at(
    data_dir: Path, stage: str, *extra: str, signum: int = signal.SIGTERM, command: str = "fit", epoch: int = 1
) -> int:
    args = fit_args(data_dir, 3)[1:] if command == "fit" else fit_args(data_dir, 3)[1:9]
    callback = ["--trainer.callbacks", "tests.test_checkpoint.SignalAt", "--trainer.callbacks.stage", stage]
    with pytest.raises(SystemExit) as stop:
        main(
            [
                command,
                *args,
                *callback,
                "--trainer.callbacks.epoch",
                str(epoch),
                "--trainer.callbacks.signum",
                str(int(signum)),
                *extra,
            ]
        )
    return stop.value.code


def test_a_stop_during_the_sanity_check_exits_128_plus_the_signal(fake_data_dir, in_tmp_dir, capsys):
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a shell started the tests in the background
    assert stop_at(fake_data_dir, "sanity", signum=signal.SIGINT) == 130
    assert (
        "stopped by SIGINT during the sanity check, before any training; no checkpoint written"
        in capsys.readouterr().err
    )
    assert not list(in_tmp_dir.rglob("*.ckpt"))
    assert signal.getsignal(signal.SIGINT) is before  # handed back


def test_a_stop_during_validation_keeps_the_epoch_for_the_resumed_run(fake_data_dir, in_tmp_dir, capsys):
    VALIDATED_EPOCHS.clear()
    assert stop_at(fake_data_dir, "validation") == 143
    assert "stopped by SIGTERM during the validation of epoch 1; kept" in capsys.readouterr().err
    last = in_tmp_dir / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert load(last)["global_step"] == STEPS_PER_EPOCH  # the end of epoch 0, not a half-validated epoch 1
    VALIDATED_EPOCHS.clear()
    main([*fit_args(fake_data_dir, 3), "--trainer.callbacks", "tests.test_checkpoint.SignalAt", "--ckpt_path", "last"])
    assert VALIDATED_EPOCHS == [1, 2]  # the interrupted epoch is validated, and may become the best
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err


def test_a_stop_as_an_epoch_ends_is_not_called_a_stop_in_the_middle_of_one(fake_data_dir, in_tmp_dir, capsys):
    """It said the rest of the next epoch would be drawn anew and the result differ a little, where none of
    that epoch had run: a resumed run starts it from its first batch, as an unbroken run does."""
    assert stop_at(fake_data_dir, "validation_end") == 143
    err = capsys.readouterr().err
    last = in_tmp_dir / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert load(last)["global_step"] == 2 * STEPS_PER_EPOCH  # epochs 0 and 1, whole
    assert f"stopped by SIGTERM at the end of epoch 1, step {2 * STEPS_PER_EPOCH}; saved " in err
    assert "drawn anew" not in err


def test_a_stop_as_the_last_epoch_ends_says_training_is_done(fake_data_dir, in_tmp_dir, capsys):
    """It said "Resume with the same command and --ckpt_path last", which then refused: every epoch trained."""
    assert stop_at(fake_data_dir, "validation_end", epoch=2) == 143
    err = capsys.readouterr().err
    assert "stopped by SIGTERM at the end of epoch 2, the last: training is done, saved " in err
    assert "), then test it (test --ckpt_path " in err and "Resume" not in err


def test_a_stop_on_the_last_batch_of_fits_test_exits_143(fake_data_dir, in_tmp_dir, capsys):
    """Lightning finishes a test whose last batch a signal came in (as does DDP's, agreed on at its end): fit
    ended with status 0, as if never stopped."""
    assert stop_at(fake_data_dir, "test", "--data.batch_size", "60") == 143  # the 60 test images: one batch
    err = capsys.readouterr().err
    assert "mnist-rnn: stopped by SIGTERM at the end of testing: the results above are complete" in err


def test_a_stop_while_testing_writes_no_checkpoint(fake_data_dir, in_tmp_dir, capsys):
    assert stop_at(fake_data_dir, "test") == 143  # the test after fit
    assert "stopped by SIGTERM while testing; no checkpoint written (training had finished" in capsys.readouterr().err
    last = in_tmp_dir / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    finished = last.read_bytes()
    assert load(last)["global_step"] == 3 * STEPS_PER_EPOCH
    assert stop_at(fake_data_dir, "test", "--ckpt_path", str(last), command="test") == 143  # the test subcommand
    assert last.read_bytes() == finished
    assert sorted(path.relative_to(in_tmp_dir) for path in in_tmp_dir.rglob("last*.ckpt")) == [
        last.relative_to(in_tmp_dir)
    ]
    # The test subcommand names no best checkpoint: the one recorded in the file may be another machine's.
    assert "the best checkpoint is" not in capsys.readouterr().err


def test_a_stop_during_the_first_validation_does_not_advise_a_resume(fake_data_dir, in_tmp_dir, capsys):
    assert stop_at(fake_data_dir, "validation", epoch=0) == 143
    err = capsys.readouterr().err
    assert "during the validation of epoch 0; no checkpoint saved yet: run the same command again" in err
    assert "--ckpt_path last" not in err and not list(in_tmp_dir.rglob("*.ckpt"))


def test_a_ctrl_c_after_the_training_loop_exits_130_before_the_test(fake_data_dir, in_tmp_dir, capsys):
    assert stop_at(fake_data_dir, "train_end", signum=signal.SIGINT) == 130
    err = capsys.readouterr().err
    # Its best checkpoint is not calibrated yet (T = 1): the line says so, not only "test it".
    assert "mnist-rnn: stopped by SIGINT at the end of training, before the test; calibrate it (calibrate " in err
    assert "), then test it (test --ckpt_path " in err


def test_a_run_stopped_inside_an_epoch_then_resumed_with_fewer_epochs_is_told_which_epoch_it_stopped_in(
    fake_data_dir, in_tmp_dir, capsys
):
    """Ctrl+C two batches into epoch 1 of 3, resumed with --trainer.max_epochs 1: the refusal said the run had
    trained "into epoch 0", where the stop's own line had said epoch 1, and asked for a larger max_steps or
    max_time, which no run of this one needs (it was cut by the signal, not by a max_steps)."""
    assert stop_at(fake_data_dir, "train", signum=signal.SIGINT, epoch=1) == 130
    assert f"stopped by SIGINT at epoch 1, step {STEPS_PER_EPOCH + 2}; saved " in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main([*fit_args(fake_data_dir, 1), "--ckpt_path", "last"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert f"its run has trained {STEPS_PER_EPOCH + 2} steps, into epoch 1, " in err
    assert "pass --trainer.max_epochs 2 or more to train it longer" in err and "max_steps" not in err


def test_a_second_ctrl_c_aborts_at_once_with_130(fake_data_dir, in_tmp_dir, capsys):
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where a shell started the tests in the background
    assert stop_at(fake_data_dir, "twice", signum=signal.SIGINT, epoch=0) == 130
    err = capsys.readouterr().err
    assert "mnist-rnn: stopped by SIGINT a second time: stopped at once" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGINT) is before  # handed back


def test_best_and_last_find_a_newer_runs_checkpoints_in_its_own_dirpath(fake_data_dir, in_tmp_dir, capsys):
    """A run whose checkpoints went to --checkpoint.dirpath models: a test with --ckpt_path best (and no dirpath)
    took the older run's in lightning_logs/version_0/checkpoints, without a word. The runs' config.yaml say
    where theirs went."""
    main([*fit_args(fake_data_dir, 1), "--trainer.limit_train_batches", "2"])
    main([*fit_args(fake_data_dir, 1), "--trainer.limit_train_batches", "3", "--checkpoint.dirpath", "models"])
    (newest_best,) = Path("models").glob("best-*.ckpt")
    capsys.readouterr()
    main(["test", "--ckpt_path", "best", "--data.data_dir", str(fake_data_dir), "--trainer.enable_progress_bar=false"])
    assert checkpoint_tested(capsys.readouterr().out) == in_tmp_dir / newest_best
    main([*fit_args(fake_data_dir, 2), "--trainer.limit_train_batches", "3", "--ckpt_path", "last"])
    assert "resuming from models/last.ckpt" in capsys.readouterr().err


def test_a_stop_on_the_last_test_batch_still_exits_143(fake_data_dir, in_tmp_dir, capsys):
    # Lightning stops only between batches, so a signal during the last one (here the only one) lets the test finish.
    checkpoint = in_tmp_dir / "model.ckpt"
    main([*fit_args(fake_data_dir, 1), "--trainer.limit_train_batches", "2", "--checkpoint.dirpath", str(in_tmp_dir)])
    (in_tmp_dir / "last.ckpt").rename(checkpoint)
    capsys.readouterr()
    assert (
        stop_at(fake_data_dir, "test", "--ckpt_path", str(checkpoint), "--data.batch_size", "60", command="test") == 143
    )
    assert (
        "mnist-rnn: stopped by SIGTERM at the end of testing: the results above are complete" in capsys.readouterr().err
    )
    assert list((in_tmp_dir / "lightning_logs" / "version_1").glob("events.out.tfevents.*"))  # the results, kept


@pytest.mark.parametrize(
    ("where", "signum", "message"),
    [
        ("mnist_rnn.cli._check_config_files", signal.SIGINT, "while reading the settings; nothing was written"),
        (  # in prepare_data only (its checks of the folder run with the settings' too)
            "mnist_rnn.data.MNISTDataModule._unpack_gz_files",
            signal.SIGTERM,
            "while preparing the data and the model, before training; no checkpoint written",
        ),
        (  # the run folder is made by then (its config.yaml, the logger's first file)
            "mnist_rnn.model.RNNClassifier.configure_optimizers",
            signal.SIGTERM,
            "while preparing the data and the model, before training; no checkpoint written",
        ),
    ],
)
def test_a_stop_before_the_trainer_handles_signals_is_one_line(
    fake_data_dir, in_tmp_dir, capsys, monkeypatch, where, signum, message
):
    monkeypatch.setattr(where, lambda *args: os.kill(os.getpid(), signum))
    with pytest.raises(SystemExit) as stop:
        main(fit_args(fake_data_dir, 1))
    assert stop.value.code == 128 + signum
    err = capsys.readouterr().err
    assert f"mnist-rnn: stopped by {signal.Signals(signum).name} {message}" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # main hands the handlers back
    assert not list(Path("lightning_logs").rglob("*"))  # no run folder holding only the settings


@pytest.mark.slow
def test_ctrl_c_while_the_command_line_starts_exits_130(fake_data_dir, tmp_path):
    run = cli_subprocess(fit_args(fake_data_dir, 1), tmp_path)
    time.sleep(0.5)  # importing torch and Lightning takes longer
    run.send_signal(signal.SIGINT)
    assert finish(run) == 130
    log = (tmp_path / "run.log").read_text()
    assert log.startswith("mnist-rnn: stopped by SIGINT ") and log.count("\n") == 1, log


# ----- a full disk ------------------------------------------------------------------------------------


class FillDisk(Callback):
    """Fill the disk of the run folder when epoch ``epoch`` starts, but for ``leave`` bytes."""

    def __init__(self, epoch: int = 1, leave: int = 1000) -> None:
        self.epoch, self.leave = epoch, leave

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            free = shutil.disk_usage(trainer.log_dir).free
            Path(trainer.log_dir, "filler").write_bytes(bytes(max(0, free - self.leave)))


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_earlier_checkpoints(fake_data_dir, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.decode().strip()}")
    try:
        args = [*fit_args(fake_data_dir, 3), "--trainer.default_root_dir", str(disk)]
        run = cli_subprocess([*args, "--trainer.callbacks", "tests.test_checkpoint.FillDisk"], tmp_path)
        assert finish(run) == 2
        log = (tmp_path / "run.log").read_text()
        errors = [line for line in log.splitlines() if line.startswith("mnist-rnn: error:")]
        assert len(errors) == 1 and "Traceback" not in log, log
        assert f"no space left on the device to write {disk}/lightning_logs/version_0/checkpoints/" in errors[0]
        assert "it needs about 8" in errors[0] and "kB are free" in errors[0]  # an 84 kB checkpoint
        checkpoints = disk / "lightning_logs" / "version_0" / "checkpoints"
        assert not list(checkpoints.glob(".*partial"))
        assert load(checkpoints / "last.ckpt")["global_step"] == STEPS_PER_EPOCH  # epoch 0's, whole
        assert not (tmp_path / "lightning_logs").exists()  # default_root_dir is honoured

        # Full from the start: TensorBoard's first event file failed, in a traceback (its writer thread's too).
        with contextlib.suppress(OSError), open(disk / "rest", "wb") as rest:
            while True:
                rest.write(bytes(4096))
                rest.flush()
        (tmp_path / "run.log").unlink()
        assert finish(cli_subprocess(args, tmp_path)) == 2
        log = (tmp_path / "run.log").read_text()
        assert "Traceback" not in log and "Exception in thread" not in log, log
        assert "mnist-rnn: error: no space left on the device" in log.splitlines()[-1]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_weights_of_another_shape_are_one_line_naming_the_weight(fake_data_dir, tmp_path, in_tmp_dir, capsys):
    """A checkpoint whose weights do not fit its own settings (edited, or of a changed network) was a traceback
    in test and predict, and its first line, "Error(s) in loading state_dict for RNNClassifier:", in export."""
    model = RNNClassifier(hidden_size=16)
    state_dict = model.state_dict()
    state_dict["network.rnn.weight_ih_l0"] = torch.zeros(32, 28)  # of 8 hidden units: 4 gates x 8
    path = tmp_path / "odd.ckpt"
    torch.save({"state_dict": state_dict, "pytorch-lightning_version": "2.6.0",
                "hyper_parameters": dict(model.hparams)}, path)  # fmt: skip
    render_digit(3).save(tmp_path / "three.png")
    expected = "(size mismatch for network.rnn.weight_ih_l0: copying a param with shape torch.Size([32, 28])"
    for command in (
        ["test", "--data.data_dir", str(fake_data_dir), "--data.val_size", "40", *QUIET],
        ["predict", "--data.predict_path", str(tmp_path / "three.png")],
        ["export", "--format", "pt2", "--output", str(tmp_path / "odd.pt2")],
    ):
        error = one_line_error([*command, "--ckpt_path", str(path)], capsys)
        assert expected in error, error


def test_an_exported_model_given_as_a_checkpoint_is_named_as_one(tmp_path):
    """export's own files said "PytorchStreamReader failed ... your checkpoint file is corrupted" (.pt2) or "not a
    file written by torch.save, or truncated" (ONNX): intact files, of another kind."""
    program = tmp_path / "model.pt2"
    with zipfile.ZipFile(program, "w") as archive:  # the layout of torch.export.save's archive
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/models/model.json", "{}")
    with pytest.raises(UserError, match=r"model.pt2: a torch.export program written by export, not a Lightning .*"
                       r"checkpoint: give the .ckpt it was exported from \(in Python: torch.export.load"):  # fmt: skip
        check_checkpoint(program)
    onnx = tmp_path / "digits.onnx"
    onnx.write_bytes(b"\x08\x08\x12\x07pytorch")  # ir_version 8, producer_name
    with pytest.raises(
        UserError,
        match=r"digits.onnx: an ONNX model written by export, .* with --onnx FILE, alone or beside its checkpoint",
    ):
        check_checkpoint(onnx)
    renamed = tmp_path / "digits.bin"
    shutil.copy(onnx, renamed)
    with pytest.raises(UserError, match="an ONNX model written by export"):
        check_checkpoint(renamed)


def test_without_a_logger_last_and_best_are_found_where_lightning_put_them(fake_data_dir, in_tmp_dir, capsys):
    """With --trainer.logger false the checkpoints go to ./checkpoints/: last and best looked for them only under
    lightning_logs/ ("no last.ckpt found")."""
    main(fit_args(fake_data_dir, 1, "--trainer.logger", "false"))
    main(fit_args(fake_data_dir, 2, "--trainer.logger", "false", "--ckpt_path", "last"))
    assert "mnist-rnn: resuming from checkpoints/last.ckpt" in capsys.readouterr().err
    main(["test", *fit_args(fake_data_dir, 2, "--trainer.logger", "false", "--ckpt_path", "best")[1:]])
    assert f"mnist-rnn: using {Path('checkpoints').absolute()}/best-epoch" in capsys.readouterr().err


def test_a_checkpoint_copied_out_of_its_run_keeps_its_own_precision(tmp_path):
    """saved_settings read any config.yaml two folders up as the run's: a bf16 checkpoint copied to
    models/ beside an unrelated config was tested in that file's 64-true. The checkpoint holds its own now."""
    from mnist_rnn.checkpoint import saved_settings

    for folder in ("run/checkpoints", "alone/models"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder).parent.joinpath("config.yaml").write_text("trainer:\n  precision: 64-true\n")
        torch.save({"hyper_parameters": {"cell": "gru"}, "precision": "bf16-mixed"}, tmp_path / folder / "m.ckpt")
    assert saved_settings(tmp_path / "run/checkpoints/m.ckpt")["trainer.precision"] == "64-true"  # its run's
    assert saved_settings(tmp_path / "alone/models/m.ckpt")["trainer.precision"] == "bf16-mixed"
    torch.save({"hyper_parameters": {"cell": "gru"}}, tmp_path / "alone/models/old.ckpt")  # saved before
    assert "trainer.precision" not in saved_settings(tmp_path / "alone/models/old.ckpt")


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes: Linux")
def test_a_checkpoint_whose_name_is_not_utf8_is_one_line_naming_the_fix(tmp_path):
    """A file name with a Latin-1 byte (an old archive, a network share): torch's memory map encodes the path as
    UTF-8, "not a readable checkpoint (... surrogates not allowed)"; read whole, test and calibrate then failed
    printing the path in a UTF-8 terminal, after their work."""
    path = tmp_path / os.fsdecode(b"m\xf6del.ckpt")
    torch.save({"global_step": 7, "state_dict": {"w": torch.ones(2)}}, path)
    with pytest.raises(UserError, match=r"m\\xf6del.ckpt: a file name that is not UTF-8 text: rename the file"):
        load_keys(path)


def test_a_checkpoint_saved_without_checksums_is_not_taken_for_damaged(tmp_path):
    """torch.save with torch.serialization.set_crc32_options(False) stores every CRC-32 as 0, which torch.load
    reads: the damage check refused such a file as damaged."""
    from mnist_rnn.checkpoint import check_checkpoint, damaged_record
    from tests.bad_inputs import _damaged_checkpoint, lightning_checkpoint

    torch.serialization.set_crc32_options(False)
    try:
        lightning_checkpoint(tmp_path / "unchecked.ckpt", cell="gru")
    finally:
        torch.serialization.set_crc32_options(True)
    with zipfile.ZipFile(tmp_path / "unchecked.ckpt") as archive:
        assert {record.CRC for record in archive.infolist() if record.file_size} == {0}
    assert damaged_record(tmp_path / "unchecked.ckpt") is None
    check_checkpoint(tmp_path / "unchecked.ckpt")
    _damaged_checkpoint(tmp_path / "data")  # writes tmp_path / "damaged.ckpt", with its CRC-32s
    assert damaged_record(tmp_path / "damaged.ckpt").startswith("damaged/data/")


def test_an_error_before_any_progress_bar_is_drawn_leaves_stdout_empty(tmp_path, in_tmp_dir, no_network, capsys):
    """The newline that ends a progress bar's line before a one-line error was printed whenever a bar callback
    existed: data not found, before any bar, put an empty line on stdout."""
    with pytest.raises(SystemExit) as ended:
        main(["fit", "--config", SEED_CONFIG, "--data.data_dir", str(tmp_path / "nothing")])
    assert ended.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "mnist-rnn: error: MNIST files not found" in captured.err


def test_a_stop_of_a_run_saving_weights_only_does_not_advise_a_resume(fake_data_dir, in_tmp_dir, capsys):
    """It said "Resume with the same command and --ckpt_path last", which then refused the file (weights only)."""
    assert stop_at(fake_data_dir, "validation_end", "--checkpoint.save_weights_only", "true") == 143
    err = capsys.readouterr().err
    last = in_tmp_dir / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    saved = f"saved ./{last.relative_to(in_tmp_dir)}, "
    assert f"stopped by SIGTERM at the end of epoch 1, step {2 * STEPS_PER_EPOCH}; {saved}" in err
    assert "weights only (--checkpoint.save_weights_only), which training cannot resume from: test or" in err
    assert "Resume with" not in err and "optimizer_states" not in load(last)


def test_save_last_link_saves_last_as_a_file_that_a_stop_brings_up_to_date(fake_data_dir, in_tmp_dir, capsys):
    """With --checkpoint.save_last link, last.ckpt was a link to the best checkpoint: a stop said it saved step
    N where the link held an older best's step, and --ckpt_path last went back to it."""
    assert stop_at(fake_data_dir, "validation_end", "--checkpoint.save_last", "link") == 143
    err = capsys.readouterr().err
    assert "warning: --checkpoint.save_last link: last.ckpt is saved as a file, not a link" in err
    last = in_tmp_dir / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert not last.is_symlink() and load(last)["global_step"] == 2 * STEPS_PER_EPOCH


def test_best_of_a_weights_only_run_is_the_checkpoint_beside_its_last(tmp_path):
    """A weights-only last.ckpt (--checkpoint.save_weights_only) records no best: --ckpt_path best said "was it
    validated?" of a run that was, in calibrate, test and predict alike."""
    folder = tmp_path / "version_0" / "checkpoints"
    lightning_checkpoint(folder / "best-epoch00-val_acc0.8838.ckpt")
    torch.save({"state_dict": {}}, folder / "last.ckpt")  # weights only: no callbacks, no optimizer states
    assert best_checkpoint(folder / "last.ckpt") == folder / "best-epoch00-val_acc0.8838.ckpt"
    lightning_checkpoint(folder / "best-epoch01-val_acc0.9000.ckpt")  # save_top_k 2: which is best is unknown
    with pytest.raises(UserError, match=r"holds weights only .* 2 others \(best-epoch00"):
        best_checkpoint(folder / "last.ckpt")


def test_last_and_best_point_at_the_checkpoints_of_a_run_without_a_logger(fake_data_dir, in_tmp_dir, capsys):
    """A run trained with --trainer.logger false saves in ./checkpoints/: `test --ckpt_path best` without that
    option said only "no run found in lightning_logs/version_*/checkpoints/"."""
    lightning_checkpoint(in_tmp_dir / "checkpoints" / "last.ckpt")
    hint = "; checkpoints/ holds the checkpoints of a run without a logger: add --trainer.logger false to use them"
    for command in (["test", *data_args(fake_data_dir)], ["fit", *data_args(fake_data_dir)]):
        option = "best" if command[0] == "test" else "last"
        error = one_line_error([*command, "--ckpt_path", option], capsys)
        assert error.startswith(f"mnist-rnn: error: --ckpt_path {option}: no ") and error.rstrip().endswith(hint)


def test_find_last_checkpoint_says_how_many_differences_it_did_not_name(tmp_path):
    # A plain `fit --ckpt_path last` after a `configs/fast.yaml` run named three of its six differences only:
    # whoever changed those three was refused again for the next ones.
    lightning_checkpoint(tmp_path / "version_0/checkpoints/last.ckpt", dropout=0.0, lr=0.01, hidden_size=64, cell="gru")
    folders = [tmp_path / "version_*" / "checkpoints"]
    settings = {"model.dropout": 0.1, "model.lr": 0.005, "model.hidden_size": 128, "model.cell": "lstm"}
    with pytest.raises(UserError, match=r"\(this command: 128\) and 1 other setting\. Run the command"):
        find_last_checkpoint(folders, settings)
    with pytest.raises(UserError, match=r"\(this command: 128\)\. Run the command"):  # three: all named
        find_last_checkpoint(folders, {key: value for key, value in settings.items() if key != "model.cell"})
