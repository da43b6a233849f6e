"""``python -m mnist_rnn tune``: the search space checked against fit, bad storage and studies, and a real
study on tiny data that survives a SIGKILL (slow: it starts the command in subprocesses)."""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import datetime
import gzip
import json
import multiprocessing
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from mnist_rnn import tune
from mnist_rnn.cli import main
from tests.helpers import SEED_CONFIG, cli_subprocess, finish

optuna = pytest.importorskip("optuna")
from mnist_rnn import study_plots  # noqa: E402 (it needs Optuna)

SPACE = {"model.lr": {"log": [1.0e-3, 3.0e-2]}, "model.hidden_size": {"int": [8, 16], "step": 8}}


# A test that plays another tune command's trial with ``study.ask()`` on a storage with heartbeats: that command
# asks inside ``Study.optimize``, where Optuna expects heartbeats, so its warning that they are meant for
# ``optimize`` says nothing about tune here.
PLAYS_ANOTHER_COMMAND = pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize:UserWarning"
)


def write_study_files(folder: Path, data_dir: Path, space: dict | None = None) -> list[str]:
    """A base config (the lab's, tiny: two validations per epoch) and a space; the tune arguments for them."""
    base = yaml.safe_load(Path(SEED_CONFIG).read_text())
    base["trainer"].update(max_epochs=1, val_check_interval=0.5, enable_model_summary=False)
    base["model"].update(hidden_size=8, num_layers=1)
    base["data"] = {"val_size": 40, "batch_size": 20}
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    (folder / "space.yaml").write_text(yaml.safe_dump(space or SPACE))
    return [
        "--config",
        str(folder / "base.yaml"),
        "--space",
        str(folder / "space.yaml"),
        "--data.data_dir",
        str(data_dir),
    ]


COARSE_VAL = (
    "val/acc moves in steps of 2.50%, too coarse to choose the best checkpoint on (--data.val_size 1,000 or more "
    "gives steps of 0.1%)"
)


def tune_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``tune`` in-process with ``args`` that must fail before any trial: exit 2 and one line (after the
    warning that the tiny base config's 40 validation images give a coarse val/acc, when it got that far)."""
    with pytest.raises(SystemExit) as exit:
        main(["tune", *args])
    assert exit.value.code == 2
    err = capsys.readouterr().err.removeprefix(f"mnist-rnn: warning: val_size=40: {COARSE_VAL}\n")
    assert err.startswith("mnist-rnn: error: ") and err.count("\n") == 1, err
    return err


# ----- the search space, checked against fit before any trial ------------------------------------------


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"model.lrr": {"log": [1.0e-3, 1.0e-2]}}, "model.lrr is not an option of fit (did you mean model.lr?)"),
        ({"model.num_classes": [10, 20]}, "model.num_classes is not an option of fit"),
        ({"model.lr": {"log": [1.0e-2, 1.0e-3]}}, "model.lr: the range [0.01, 0.001] is reversed"),
        ({"model.dropout": {"float": [0.1, 0.1]}}, "model.dropout: the range [0.1, 0.1] is empty"),
        ({"data.batch_size": []}, "data.batch_size: the list of choices is empty"),
        ({"model.lr": {"log": [0, 1.0e-2]}}, "model.lr: a log range needs low > 0"),
        # beyond float32: every trial failed with "value cannot be converted to type float without overflow"
        ({"model.lr": {"log": [1.0e-3, 1.0e300]}}, "model.lr: the range [0.001, 1e+300] goes beyond the numbers"),
        ({"model.dropout": {"float": [0.0, float("nan")]}}, "model.dropout: the range [0.0, nan] goes beyond"),
        ({"model.hidden_size": {"int": [8.5, 16]}}, "model.hidden_size: int takes [low, high] (whole numbers)"),
        ({"model.lr": 0.01}, "model.lr: expected a list of choices"),
        ({"lr": {"log": [1.0e-3, 1.0e-2]}}, "lr is not an option of fit (did you mean model.lr?)"),
        ({"model.lr": {"log": [1.0e-3, 1.0e-2], "stpe": 0.001}}, "'stpe' is not part of a range (did you mean step?)"),
        # a step that fits the range, which Optuna refuses on a log scale: "step 0.001 does not fit the range"
        (
            {"model.lr": {"log": [1.0e-3, 1.0e-2], "step": 0.001}},
            "model.lr: a log range takes no step (it is drawn on a log scale); for values a step apart use "
            "{float: [0.001, 0.01], step: 0.001}",
        ),
        # whole ends pass for a whole-number option; the fractions a float or log range draws would fail each trial
        (
            {"model.hidden_size": {"float": [8, 16]}},
            "model.hidden_size: fit refuses fractions such as 11.056, which a float range draws: {int: [8, 16]}",
        ),
        ({"model.hidden_size": {"log": [8, 16]}}, "which a log range draws: {int: [8, 16]} draws whole numbers"),
        ({"model.lr": {"logg": [1.0e-3, 1.0e-2]}}, "model.lr: {logg: ...} is not a range (did you mean log?)"),
        (
            {"model.cell": ["lstm", "transformer"]},
            "model.cell: fit refuses 'transformer': --model.cell transformer: not one of lstm, gru, rnn\n",
        ),
        ({"data.batch_size": ["many"]}, "data.batch_size: fit refuses 'many'"),
        # Values of the right type that the model or the data module refuses: every trial failed on them.
        ({"model.lr": {"float": [-0.01, 0.01]}}, "model.lr: fit refuses -0.01: lr must be positive, got -0.01"),
        ({"model.dropout": [0.1, 1.5]}, "model.dropout: fit refuses 1.5: dropout must be in [0, 1), got 1.5"),
        ({"data.batch_size": [0, 64]}, "data.batch_size: fit refuses 0: batch_size must be positive, got 0"),
    ],
)
def test_a_bad_space_is_one_line_naming_the_option(space, message, fake_data_dir, in_tmp_dir, capsys):
    err = tune_error(write_study_files(in_tmp_dir, fake_data_dir, space), capsys)
    assert message in err
    assert not (in_tmp_dir / "tune").exists()  # refused before any study or folder


def test_numbers_are_read_as_fit_reads_them(tmp_path):
    """PyYAML reads 1e-3 as a string (YAML 1.1 wants 1.0e-3), jsonargparse and so fit --config as a number: the
    space {log: [1e-4, 1e-2]} was refused as "log takes [low, high] (numbers), got ['1e-4', '1e-2']"."""
    space = tmp_path / "space.yaml"
    space.write_text("model.lr: {log: [1e-4, 1E-2]}\nmodel.weight_decay: [0, 1e-5, 5.0e-4]\n")
    assert tune.read_space(space) == {"model.lr": {"log": [1e-4, 1e-2]}, "model.weight_decay": [0, 1e-5, 5e-4]}
    space.write_text("model:\n  lr: {log: [1e-4, 1e-2]}\n  cell: [lstm, gru]\ndata.batch_size: [64, 128]\n")
    assert tune.read_space(space) == {  # nested as in a fit config, or dotted, or both
        "model.lr": {"log": [1e-4, 1e-2]},
        "model.cell": ["lstm", "gru"],
        "data.batch_size": [64, 128],
    }
    space.write_text("model:\n  lr: [0.01]\nmodel.lr: [0.02]\n")
    with pytest.raises(tune.UserError, match=r"model.lr is given twice"):
        tune.read_space(space)
    space.write_text("model:\n  lr: [0.01]\n  dropout: [0, 0.1]\n  lr: {log: [1e-4, 1e-2]}\n")  # YAML keeps the last
    with pytest.raises(tune.UserError, match=r"model.lr is given twice \(lines 2 and 4\): keep one"):
        tune.read_space(space)
    assert tune.parse_overrides(["--model.lr", "3e-3", "--data.data_dir=1e5x"]) == {
        "model.lr": 3e-3,
        "data.data_dir": "1e5x",
    }
    base = tmp_path / "base.yaml"
    base.write_text("model:\n  lr: 2e-3\n")
    assert tune.merged_config(base, {})["model"]["lr"] == 2e-3


def test_a_bad_fit_option_or_base_config_is_one_line(fake_data_dir, in_tmp_dir, capsys):
    args = write_study_files(in_tmp_dir, fake_data_dir)
    assert "data.batch_sise" in tune_error([*args, "--data.batch_sise", "20"], capsys)
    # argparse took it for --trainer.max_epochs, but the study kept it as typed: "made with another base" later;
    # fit takes no shortened option now.
    short = tune_error([*args, "--trainer.max_epoch", "1"], capsys)
    assert short.endswith("unrecognized arguments: --trainer.max_epoch=1 (did you mean --trainer.max_epochs?)\n")
    # tune's own options, likewise (--trial was --trials)
    assert "--trial is not an option of tune (did you mean --trials?)" in tune_error([*args, "--trial", "1"], capsys)
    args[1] = str(in_tmp_dir / "missing.yaml")
    assert "missing.yaml: no such file" in tune_error(args, capsys)


def test_a_space_file_that_is_not_yaml_or_not_here_is_one_line(in_tmp_dir, capsys):
    """Not UTF-8 (a Latin-1 comment, a picture renamed): a UnicodeDecodeError traceback. Broken YAML: no line.
    docs/tune.md's configs/tune_fast.yaml from another folder: no word of the project's own."""
    args = ["--config", SEED_CONFIG, "--space"]
    Path("latin1.yaml").write_bytes(b"model.lr: {log: [1.0e-3, 3.0e-2]}  # caf\xe9\n")
    assert "--space latin1.yaml: cannot be read ('utf-8' codec can't decode byte 0xe9" in tune_error(
        [*args, "latin1.yaml"], capsys
    )
    Path("broken.yaml").write_text("model.lr: {log: [1.0e-3, 3.0e-2]\nmodel.hidden_size: [64, 128]\n")
    err = tune_error([*args, "broken.yaml"], capsys)
    assert "--space broken.yaml: not valid YAML at line 2, column 1: " in err and "starts at line 1)" in err
    err = tune_error([*args, "configs/tune_fast.yaml"], capsys)
    assert f"--space configs/tune_fast.yaml: no such file in {in_tmp_dir}; the project's own is " in err


def test_output_whose_reader_closes_it_is_the_pipes_line(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """`tune ... | head -1`: it said "tune/base: [Errno 32] Broken pipe", which reads as a fault of the folder."""

    def closed(self, *args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    stand_in_trials(monkeypatch)  # what a trial trains is not what this is about
    monkeypatch.setattr(tune.Tuner, "write_results", closed)
    with pytest.raises(SystemExit):
        main(["tune", *write_study_files(in_tmp_dir, fake_data_dir), "--trials", "1"])
    err = capsys.readouterr().err
    assert "the program reading the output closed it (a pipe to head?)" in err and "Errno 32" not in err, err


def test_bad_tune_options_are_one_line(capsys):
    assert "the following arguments are required: --space" in tune_error(["--config", SEED_CONFIG], capsys)
    err = tune_error(["--config", SEED_CONFIG, "--space", "s.yaml", "--trials", "many"], capsys)
    assert "--trials: invalid int value: 'many'" in err
    assert "--workers must be 1 or more, got 0" in tune_error(
        ["--config", SEED_CONFIG, "--space", "s", "--workers", "0"], capsys
    )
    # Passed on to fit's parser, whose "unrecognized arguments: --trails=3" named no option to use.
    space = Path(SEED_CONFIG).parent / "tune_fast.yaml"
    err = tune_error(["--config", SEED_CONFIG, "--space", str(space), "--trails", "3"], capsys)
    assert err == "mnist-rnn: error: --trails is not an option of tune (did you mean --trials?); see tune --help\n"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        # Optuna's ValueError traceback ("Number of startup trials cannot be negative"), before any trial
        (["--startup-trials", "-1"], "--startup-trials must be 0 or more, got -1"),
        (["--warmup-steps", "-2"], "--warmup-steps must be 0 or more, got -2"),
        # the whole study ran first, then statistics.StatisticsError
        (["--confirm-seeds", "-1"], "--confirm-seeds must be 0 or more, got -1"),
        # the sampler's seed raised ValueError (numpy's SeedSequence); fit refuses it in every trial too
        (["--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
        (["--seed", "4294967296"], "--seed must be between 0 and 4294967295, got 4294967296"),
    ],
)
def test_negative_counts_and_seeds_are_refused_as_they_are_parsed(option, message, capsys):
    assert message in tune_error(["--config", SEED_CONFIG, "--space", "no_such_space.yaml", *option], capsys)


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["tune", "--help"])
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    for action in tune.build_parser()._actions:
        for option in action.option_strings:
            assert option in shown


def test_without_optuna_it_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(tune, "optuna", None)
    err = tune_error(["--config", SEED_CONFIG, "--space", "space.yaml"], capsys)
    assert 'pip install -e ".[tune]"' in err


# ----- storage and study faults ----------------------------------------------------------------------


def test_an_unreachable_storage_is_one_line_and_leaves_no_folder(fake_data_dir, in_tmp_dir, capsys):
    args = write_study_files(in_tmp_dir, fake_data_dir)
    missing = in_tmp_dir / "no" / "such" / "folder"
    err = tune_error([*args, "--storage", f"sqlite:///{missing}/study.db"], capsys)
    assert f"the folder {missing} does not exist: make it first" in err  # SQLite said "unable to open database file"
    err = tune_error([*args, "--storage", f"sqlite:///{in_tmp_dir}"], capsys)  # a folder, not a database file
    assert "cannot be reached (unable to open database file)" in err
    assert not (in_tmp_dir / "tune").exists()  # the empty study folder was left behind
    err = tune_error([*args, "--storage", "postgresql://me:secret@host:notaport/db"], capsys)  # a ValueError traceback
    assert "--storage postgresql://me:***@host:notaport/db: not a database URL (invalid literal for int()" in err
    for memory in ("sqlite:///:memory:", "sqlite://"):  # every trial failed with Optuna's traceback
        err = tune_error([*args, "--storage", memory], capsys)
        assert f"--storage {memory}: a database in memory is this process's own" in err
    err = tune_error([*args, "--storage", "notaurl"], capsys)
    assert "--storage notaurl: not a database URL (Could not parse SQLAlchemy URL" in err
    # A folder whose name holds a line break: the URL and the folder on the one line, as the shell takes them (the
    # message ran on in a second line, which the CLI dropped).
    err = tune_error([*args, "--storage", f"sqlite:///{in_tmp_dir}/my\nfolder/study.db"], capsys)
    assert err.count("\n") == 1, err
    assert (
        f"--storage $'sqlite:///{in_tmp_dir}/my\\x0afolder/study.db': the folder $'{in_tmp_dir}/my\\x0afolder' " in err
    )


def test_a_read_only_storage_or_a_missing_driver_is_one_line(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """A database tune may read but not write (a read-only file or folder) ended in a traceback of Optuna's
    StorageInternalError ("invalid data in the commit, e.g. exceeding max length"); a URL whose driver is not
    installed in one of Optuna's ImportError, and the advice named psycopg2-binary, which SQLAlchemy 2.1's
    postgresql:// does not use (it is psycopg 3)."""
    args = write_study_files(in_tmp_dir, fake_data_dir)
    optuna.create_study(study_name="other", storage=f"sqlite:///{in_tmp_dir}/study.db")
    url = f"sqlite:///file:{in_tmp_dir}/study.db?mode=ro&uri=true"  # read-only, as for a user without write access
    err = tune_error([*args, "--storage", url], capsys)
    assert f"--storage {url}: the database cannot be written (attempt to write a readonly database)" in err
    assert "allow writing to the file and its folder, or pass another --storage" in err
    for module in ("psycopg", "psycopg2", "MySQLdb"):
        monkeypatch.setitem(sys.modules, module, None)  # not installed, whatever this machine has
    # A bare postgresql:// is psycopg 3 with SQLAlchemy 2.1, psycopg2 with 2.0 (the newest on Python 3.10)
    from sqlalchemy.engine import make_url

    bare = {
        "psycopg": 'postgresql:// needs psycopg: pip install "psycopg[binary]" (or postgresql+psycopg2:// with pip '
        "install psycopg2-binary)",
        "psycopg2": "postgresql:// needs psycopg2: pip install psycopg2-binary (or postgresql+psycopg:// with pip "
        'install "psycopg[binary]")',
    }
    advice = {
        "postgresql://u:SECRET@localhost/db": bare[make_url("postgresql://").get_dialect().driver],
        "postgresql+psycopg2://u@localhost/db": "postgresql+psycopg2:// needs psycopg2: pip install psycopg2-binary",
        "mysql://u@localhost/db": "mysql:// needs mysqldb: pip install mysqlclient (or mysql+pymysql:// with pip "
        "install PyMySQL, which needs no compiler)",
    }
    for url, needs in advice.items():
        err = tune_error([*args, "--storage", url], capsys)
        shown = url.replace("SECRET", "***")  # a password is not for the terminal, or a CI log
        assert f"--storage {shown}: its database driver is not installed (" in err and needs in err, err
        assert "SECRET" not in err
    # libpq's form, a password among the URL's query
    shown = tune.without_password("postgresql://u@localhost/db?password=SECRET&sslmode=require")
    assert shown == "postgresql://u@localhost/db?password=***&sslmode=require"


def test_a_locked_storage_is_one_line_and_loses_nothing(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    args = write_study_files(in_tmp_dir, fake_data_dir)
    url = f"sqlite:///{in_tmp_dir}/study.db"
    optuna.create_study(study_name="base", storage=url, direction="maximize").set_user_attr("kept", 1)
    monkeypatch.setattr(tune, "_engine_kwargs", lambda url: {"connect_args": {"timeout": 0.2}})
    holder = sqlite3.connect(in_tmp_dir / "study.db")
    holder.execute("BEGIN EXCLUSIVE")  # another program writing
    try:
        err = tune_error([*args, "--storage", url], capsys)
    finally:
        holder.rollback()
        holder.close()
    assert "the database is locked by another program" in err
    assert optuna.load_study(study_name="base", storage=url).user_attrs == {"kept": 1}


def test_a_study_name_reused_with_another_space_is_one_line(fake_data_dir, in_tmp_dir, capsys):
    args = write_study_files(in_tmp_dir, fake_data_dir)
    url = f"sqlite:///{in_tmp_dir}/study.db"
    study = optuna.create_study(study_name="base", storage=url, direction="maximize")
    study.set_user_attr("space", {"model.lr": [0.01, 0.02]})
    # a result: the space must stay (without one it may change)
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"folder": "trial_0000", "best_val_acc": 0.5}))
    err = tune_error([*args, "--storage", url], capsys)
    assert "study 'base'" in err and "was made with another space: model.lr [0.01, 0.02], here " in err
    assert "pass another --study" in err
    assert optuna.load_study(study_name="base", storage=url).user_attrs["space"] == {"model.lr": [0.01, 0.02]}


def test_a_study_tune_cannot_continue_is_refused_before_any_trial(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """A study of that name made elsewhere: one made to minimize kept its direction (Optuna keeps it), so tune
    minimized val/acc, wrote the worst trial as best.yaml and pruned the good ones; one whose trials tune did
    not write ended, after the whole study, in KeyError: 'folder'. Both are refused at once now."""
    requests = stand_in_trials(monkeypatch)
    args = write_study_files(in_tmp_dir, fake_data_dir)
    url = f"sqlite:///{in_tmp_dir}/study.db"
    optuna.create_study(study_name="base", storage=url, direction="minimize")
    err = tune_error([*args, "--storage", url], capsys)
    assert f"study 'base' in {url} minimizes (minimize), and Optuna keeps the direction" in err
    assert "tune maximizes val/acc; pass another --study name, or another --storage" in err
    foreign = optuna.create_study(study_name="foreign", storage=url, direction="maximize")
    foreign.add_trial(optuna.trial.create_trial(value=0.5))
    err = tune_error([*args, "--storage", url, "--study", "foreign"], capsys)
    assert (
        "study 'foreign'" in err
        and "is not a study written by mnist_rnn tune (its finished trial has no run folder" in err
    )
    assert not requests and optuna.load_study(study_name="foreign", storage=url).user_attrs == {}  # unchanged
    # tune's own study, and one made empty elsewhere to maximize, are taken as before
    main(["tune", *args, "--storage", url, "--study", "ours", "--trials", "1"])
    optuna.create_study(study_name="empty", storage=url, direction="maximize")
    main(["tune", *args, "--storage", url, "--study", "empty", "--trials", "1"])
    capsys.readouterr()
    main(["tune", *args, "--storage", url, "--study", "ours", "--trials", "2"])
    assert "tune: best trial" in capsys.readouterr().out and len(requests) == 3
    optuna.load_study(study_name="ours", storage=url).add_trial(optuna.trial.create_trial(value=0.99))
    err = tune_error([*args, "--storage", url, "--study", "ours"], capsys)
    assert "mnist_rnn tune (1 of its 3 finished trials has no run folder or val/acc recorded by tune)" in err


def test_the_pruning_callback_reports_every_validation_and_stops_when_told():
    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) == 2

    class Progress:
        class current:
            ready = 5

    class Loop:
        epoch_loop = type("EpochLoop", (), {"batch_progress": Progress})

    class FakeTrainer:
        sanity_checking = False
        callback_metrics = {"val/acc": 0.5}
        current_epoch = 0
        num_training_batches = 10
        max_epochs = 2
        max_steps = -1
        global_step = 5
        fit_loop = Loop
        should_stop = False

    trial, trainer = Trial(), FakeTrainer()
    pruning = tune.ValAccPruning(trial)
    pruning.on_validation_end(trainer, None)
    assert trial.reports == [(1, 0.5)] and not trainer.should_stop and pruning.epochs == 0.5
    trainer.callback_metrics = {"val/acc": 0.25}
    pruning.on_validation_end(trainer, None)  # the same epoch: a step of its own, so Optuna keeps it
    assert trial.reports == [(1, 0.5), (2, 0.25)]
    assert trainer.should_stop and pruning.pruned and pruning.best == 0.5

    # The validation after the last step: trained in full, so its value stands (it was recorded PRUNED).
    for epoch, max_steps, global_step in ((1, -1, 15), (0, 5, 5)):  # the last epoch's end; max_steps reached
        trial = Trial()
        pruning = tune.ValAccPruning(trial)
        trainer.current_epoch, trainer.max_steps, trainer.global_step, trainer.should_stop = (
            epoch,
            max_steps,
            global_step,
            False,
        )
        Progress.current.ready = 10 if max_steps == -1 else 5
        pruning.on_validation_end(trainer, None)
        pruning.on_validation_end(trainer, None)  # the pruner says stop here
        assert len(trial.reports) == 2 and not trainer.should_stop and not pruning.pruned


# ----- a real study, killed and continued --------------------------------------------------------------


def study_column(db: Path, query: str, *params: str) -> list:
    """The one column ``query`` selects from the study's SQLite file (nothing before the file or its tables are
    made)."""
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as connection:
        try:
            return [value for (value,) in connection.execute(query, params)]
        except sqlite3.OperationalError:  # the tables are not made yet
            return []


def study_states(db: Path) -> list[str]:
    return study_column(db, "SELECT state FROM trials ORDER BY number")


def trial_attrs(db: Path, key: str) -> list[str]:
    """The values (JSON) the study's trials have recorded under ``key``."""
    return study_column(db, "SELECT value_json FROM trial_user_attributes WHERE key = ?", key)


def reported(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as connection:
        return connection.execute("SELECT COUNT(*) FROM trial_intermediate_values").fetchone()[0]


def held(db: Path) -> list[int]:
    """The numbers of the running trials that have reported a validation."""
    reported = "SELECT trial_id FROM trial_intermediate_values"
    return study_column(
        db, f"SELECT number FROM trials WHERE state = 'RUNNING' AND trial_id IN ({reported}) ORDER BY number"
    )


def tune_training(args: list[str], folder: Path, db: Path) -> subprocess.Popen:
    """``tune`` started in a session of its own, once one of its trials has reported a validation."""
    run = cli_subprocess(args, folder, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (study_states(db).count("RUNNING") and reported(db)):  # a trial is training
        assert run.poll() is None and time.monotonic() < deadline, (folder / "run.log").read_text()
        time.sleep(0.2)
    return run


# The trial imports tune itself (torch, Lightning): the stand-in for tune, and its forkserver (which imports this
# script, as tune's imports the project), need not, which spares two of those imports.
KILLED_PARENT = """
import multiprocessing, os, signal, sys, time
from pathlib import Path

def trial(marker):
    from mnist_rnn.tune import end_with_tune

    signal.signal(signal.SIGTERM, lambda *_: (Path(marker).write_text("SIGTERM"), os._exit(0)))
    end_with_tune()
    Path(marker + ".started").touch()
    time.sleep(120)

if __name__ == "__main__":
    process = multiprocessing.get_context("forkserver").Process(target=trial, args=(sys.argv[1],))
    process.start()
    process.join()
"""


def test_a_trial_gets_sigterm_when_tune_is_killed(tmp_path):
    """A trial is the forkserver's child, which lived on while the trial held its "alive" pipe: SIGKILL of
    tune left the trial training, for hours. A stand-in for tune (a forkserver Process, as tune starts its
    trials) is killed; its trial must be told."""
    (tmp_path / "parent.py").write_text(KILLED_PARENT)
    marker = tmp_path / "trial"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    parent = subprocess.Popen([sys.executable, "parent.py", str(marker)], cwd=tmp_path, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.with_suffix(".started").exists():
            assert parent.poll() is None and time.monotonic() < deadline, "the trial did not start"
            time.sleep(0.1)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 60  # a hang's limit: the old trial slept its 120 s through
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists() and marker.read_text() == "SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)


def made_seconds_ago(db: Path, trials: list, seconds: float) -> None:
    """Date the start of ``trials`` (Optuna's) back by ``seconds``, as if they had been made that long ago. Optuna
    keeps it in UTC (and gives it in the local time)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    then = (now - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection, connection:
        for trial in trials:
            connection.execute("UPDATE trials SET datetime_start = ? WHERE trial_id = ?", (then, trial._trial_id))


def test_trials_cut_off_before_their_first_heartbeat_do_not_hold_up_the_next_ones(
    fake_data_dir, tmp_path, monkeypatch, capsys
):
    """A kill between a trial's creation and its first heartbeat (sent from a thread, maybe after the trial took
    its settings; a re-run's come with it from the queue) leaves it RUNNING where Optuna's heartbeat check never
    looks: the next command waited for it for ever (a CI hang). It is marked FAIL, and settings it had are run
    again. The study holds one trial cut off before it took any settings and one that had taken a re-run's: each
    is a branch of the same look at the study's running trials, which one command makes. (In this process, with
    a --timeout far beyond the study's: a trial waited for in vain ends the command there, and the counts fail.)"""
    monkeypatch.chdir(tmp_path)
    args = ["tune", *write_study_files(tmp_path, fake_data_dir), "--trials", "2", "--workers", "2", "--heartbeat", "2",
            "--timeout", "180"]  # fmt: skip
    db = tmp_path / "tune" / "base" / "study.db"
    db.parent.mkdir(parents=True)
    study = optuna.create_study(study_name="base", storage=f"sqlite:///{db}", direction="maximize")
    none_yet = study.ask()  # RUNNING, no heartbeat, no settings: as a SIGKILL at that instant leaves it
    params = {"model.lr": 0.01, "model.hidden_size": 16}
    distributions = {  # as Optuna queues a trial whose heartbeats stopped
        "model.lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True),
        "model.hidden_size": optuna.distributions.IntDistribution(8, 16, step=8),
    }
    study.add_trial(
        optuna.create_trial(state=optuna.trial.TrialState.WAITING, params=params, distributions=distributions)
    )
    a_re_runs = study.ask()  # takes the queued settings, then cut off likewise
    assert a_re_runs.params == params
    made_seconds_ago(db, [none_yet, a_re_runs], 4.5)  # older than two heartbeat intervals
    main(args)
    out = capsys.readouterr().out
    states = study_states(db)
    assert states.count("COMPLETE") == 2 and states[none_yet.number] == states[a_re_runs.number] == "FAIL", out
    assert f"tune: trial {none_yet.number} was cut off before it began: marked FAIL" in out
    said = f"tune: trial {a_re_runs.number} was cut off before its first heartbeat: marked FAIL, queued again"
    assert said in out
    again = [t for t in study.get_trials() if t.system_attrs.get("failed_trial") == a_re_runs.number]
    assert len(again) == 1 and again[0].state.name == "COMPLETE" and again[0].params == params


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@PLAYS_ANOTHER_COMMAND
def test_a_killed_trial_that_two_workers_find_at_once_runs_again_once(tmp_path, capsys):
    """Each worker thread looks for trials whose heartbeats stopped as its next trial begins. On SQLite (no row
    locks) two that looked at once both marked a killed trial FAIL and both called the storage's callback: its
    settings were queued, and trained, twice. Two calls for one trial queue it once, with one line; a trial cut
    off a third time is not queued again, and says so."""
    callback = tune.QueueAgainOnce()
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path / 'study.db'}", heartbeat_interval=3, heartbeat_stale_trial_callback=callback
    )
    study = optuna.create_study(storage=storage, direction="maximize")
    lr = {"model.lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)}

    def killed(trial) -> optuna.trial.FrozenTrial:
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        return storage.get_trial(trial._trial_id)

    first = killed(study.ask(lr))
    for _ in range(2):  # the two workers
        callback(study, copy.deepcopy(first))
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(queued) == 1 and queued[0].params == first.params
    said = capsys.readouterr().out
    assert said == f"tune: trial {first.number} stopped sending heartbeats: marked FAIL, queued again\n"
    second = killed(study.ask())  # the re-run, cut off in turn: queued again
    callback(study, second)
    third = killed(study.ask())
    callback(study, third)
    assert [t.params for t in study.get_trials()] == [first.params] * 3
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"tune: trial {third.number} stopped sending heartbeats: marked FAIL; cut off 3 times, not run again"
    )


def study_beside(
    tmp_path: Path, fake_data_dir: Path, interval: int, timeout: int
) -> tuple[list[str], Path, optuna.Study]:
    """The arguments of a tune command with ``--trials 1 --heartbeat 2 --timeout timeout``, its study's database,
    and the study, opened by another command with ``--heartbeat interval`` beforehand."""
    args = ["tune", *write_study_files(tmp_path, fake_data_dir), "--trials", "1", "--heartbeat", "2",
            "--timeout", str(timeout)]  # fmt: skip
    db = tmp_path / "tune" / "base" / "study.db"
    db.parent.mkdir(parents=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}", heartbeat_interval=interval)
    return args, db, optuna.create_study(study_name="base", storage=storage, direction="maximize")


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@PLAYS_ANOTHER_COMMAND
def test_a_command_that_waits_for_trials_running_elsewhere_says_so(fake_data_dir, tmp_path, monkeypatch, capsys):
    """The same command again right after a SIGKILL, once the study's other trials are all running (a killed one
    looks alive until its heartbeat is two intervals old): it waited without a word, a minute with the default
    --heartbeat. It says what it waits for; then the killed trial's settings run again."""
    monkeypatch.chdir(tmp_path)
    args, db, study = study_beside(tmp_path, fake_data_dir, interval=2, timeout=180)
    killed = study.ask()
    params = {"model.lr": killed.suggest_float("model.lr", 1e-3, 3e-2, log=True)}
    params["model.hidden_size"] = killed.suggest_int("model.hidden_size", 8, 16, step=8)
    study._storage.record_heartbeat(killed._trial_id)  # its last, as the kill came
    main(args)
    out = capsys.readouterr().out
    waiting = "tune: 0 of 1 trials finished; waiting for the 1 running elsewhere (a killed one's settings run again "
    assert out.count(waiting) == 1, out
    said = f"tune: trial {killed.number} stopped sending heartbeats: marked FAIL, queued again"
    assert out.index(waiting) < out.index(said)
    again = [t for t in study.get_trials() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(again) == 1 and again[0].state.name == "COMPLETE" and again[0].params == params


def heartbeat_seconds_ago(db: Path, trial, seconds: int) -> None:
    """Date ``trial``'s last heartbeat back by ``seconds`` (the database's clock, UTC, as Optuna records it)."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection, connection:
        connection.execute(
            "UPDATE trial_heartbeats SET heartbeat = datetime('now', ?) WHERE trial_id = ?",
            (f"-{seconds} seconds", trial._trial_id),
        )


def trial_of_another_command(study, heartbeat: int, settings: bool = True):
    """A running trial of another tune command with ``--heartbeat`` ``heartbeat``, which has taken its settings
    (or not yet) and sent a heartbeat."""
    trial = study.ask()
    trial.set_user_attr("heartbeat", heartbeat)
    if settings:
        tune.suggest(trial, SPACE)
    study._storage.record_heartbeat(trial._trial_id)
    return trial


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@PLAYS_ANOTHER_COMMAND
def test_a_command_with_a_short_heartbeat_judges_each_trial_by_its_own_commands(
    fake_data_dir, tmp_path, monkeypatch, capsys
):
    """Optuna judges a trial dead by the heartbeat interval of the command that looks: a command run with
    --heartbeat 2 beside one with the default 30 took the other's live trials, silent for 6 s, for dead after 4 s,
    and ran their settings again beside them. Each trial records its command's interval and is judged by it: the
    30 s command's trials (one before its first heartbeat) are waited for, and the wait says how long a killed
    one takes to find; the 2 s command's killed one is queued again. (--trials 1: the queued re-run has no place
    while the other trials run, so no trial trains here; --timeout ends the wait.)"""
    monkeypatch.chdir(tmp_path)
    args, db, study = study_beside(tmp_path, fake_data_dir, interval=30, timeout=3)
    alive = trial_of_another_command(study, heartbeat=30)
    killed = trial_of_another_command(study, heartbeat=2)
    for trial in (alive, killed):
        heartbeat_seconds_ago(db, trial, 6)
    starting = study.ask()  # the 30 s command's, before its first heartbeat (a very busy machine)
    starting.set_user_attr("heartbeat", 30)
    made_seconds_ago(db, [starting], 6)
    main(args)
    out = capsys.readouterr().out
    assert [t.state.name for t in study.get_trials()] == ["RUNNING", "FAIL", "RUNNING", "WAITING"], out
    assert f"tune: trial {killed.number} stopped sending heartbeats: marked FAIL, queued again" in out
    assert "waiting for the 2 running elsewhere (a killed one's settings run again once it has sent no heartbeat " \
        "for 60 s)" in out  # fmt: skip
    assert study.get_trials()[3].params == killed.params


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@PLAYS_ANOTHER_COMMAND
def test_a_killed_trials_seconds_end_at_its_last_heartbeat(fake_data_dir, tmp_path, monkeypatch, capsys):
    """A SIGKILLed trial is marked FAIL by the command that finds it, up to two heartbeats after its death (or
    much later, where no command ran meanwhile): trials.csv counted its seconds until then, not until it died.
    They end at its last heartbeat, which Optuna records by the database's clock (UTC on SQLite), not by this
    machine's (Tokyo here) as the trial's start. (An alive trial holds the one place, so none trains.)"""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    try:
        args, db, study = study_beside(tmp_path, fake_data_dir, interval=30, timeout=3)
        trial_of_another_command(study, heartbeat=30)
        killed = trial_of_another_command(study, heartbeat=2)
        made_seconds_ago(db, [killed], 60)
        heartbeat_seconds_ago(db, killed, 40)
        main(args)
    finally:
        monkeypatch.undo()
        time.tzset()
    out = capsys.readouterr().out
    assert f"tune: trial {killed.number} stopped sending heartbeats: marked FAIL, queued again" in out
    with open(tmp_path / "tune" / "base" / "trials.csv") as file:
        row = next(row for row in csv.DictReader(file) if row["number"] == str(killed.number))
    assert row["state"] == "FAIL" and 19 <= int(row["seconds"]) <= 21, row


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@PLAYS_ANOTHER_COMMAND
def test_trials_killed_at_awkward_moments_are_run_again_as_they_were_or_not_at_all(
    fake_data_dir, tmp_path, monkeypatch, capsys
):
    """Two kills that lost or faked a re-run. A command killed inside Optuna's check of stale trials, between
    marking a trial FAIL and queuing its settings, left it FAIL with its settings never run again: the next
    command queues them. A trial killed after its first heartbeat but before it took its settings was queued
    with none: its "re-run" drew new settings, and trials.csv called it a re-run. It is not queued."""
    monkeypatch.chdir(tmp_path)
    args, db, study = study_beside(tmp_path, fake_data_dir, interval=2, timeout=180)
    lost = trial_of_another_command(study, heartbeat=2)
    study._storage.set_trial_state_values(lost._trial_id, optuna.trial.TrialState.FAIL)  # and killed before it queued
    unset = trial_of_another_command(study, heartbeat=2, settings=False)
    heartbeat_seconds_ago(db, unset, 6)
    main(args)
    out = capsys.readouterr().out
    trials = study.get_trials()
    assert [t.state.name for t in trials[:2]] == ["FAIL", "FAIL"] and len(trials) == 3, out
    again = trials[2]
    assert again.state.name in ("COMPLETE", "PRUNED") and again.params == lost.params
    assert again.system_attrs["failed_trial"] == lost.number
    said = (
        f"tune: trial {lost.number} was marked FAIL for its stopped heartbeats by a command cut off before it "
        "queued its settings: queued again"
    )
    assert said in out
    none = "marked FAIL; it had taken no settings yet, so none run again"
    assert f"tune: trial {unset.number} stopped sending heartbeats: {none}" in out
    with open(tmp_path / "tune" / "base" / "trials.csv") as file:
        notes = [row["note"] for row in csv.DictReader(file)]
    assert notes[2] == f"re-run of {lost.number}"
    main(args)  # once, not at each start
    assert "queued again" not in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_killed_trial_that_two_commands_find_at_once_runs_again_once(tmp_path, monkeypatch, capsys):
    """Two commands on one SQLite study each hold a lock of their own: both looked at the queue, found no re-run
    of the killed trial, and both queued it. One command's whole look and queuing comes here between the other's
    look and its queuing (the moment that lost); the first to queue marks the trial in one insert the storage
    refuses a second time, and the other leaves it."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first, second = tune.QueueAgainOnce(), tune.QueueAgainOnce()  # a lock each, as two commands have
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    other = optuna.load_study(storage=url, study_name="s")  # a storage of its own, as another command's
    killed = study.ask({"model.lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)})
    study._storage.set_trial_state_values(killed._trial_id, optuna.trial.TrialState.FAIL)
    frozen = study._storage.get_trial(killed._trial_id)
    queue = tune.mark_queued

    def the_other_looks_meanwhile(*args) -> bool:
        monkeypatch.setattr(tune, "mark_queued", queue)
        second(other, copy.deepcopy(frozen))
        return queue(*args)

    monkeypatch.setattr(tune, "mark_queued", the_other_looks_meanwhile)
    first(study, copy.deepcopy(frozen))
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(queued) == 1 and queued[0].params == killed.params
    assert capsys.readouterr().out.count("queued again") == 1
    assert tune.QUEUED_BY not in queued[0].system_attrs  # the re-run, cut off in turn, is queued again


def killed_as_it_writes_a_trial(*args, **kwargs) -> None:
    """In place of Optuna's writing of a new trial's rows: a SIGKILL there, after which nothing more of the command
    is written (its open transaction is rolled back)."""
    raise KeyboardInterrupt


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_command_killed_as_it_queues_a_killed_trial_loses_no_re_run(tmp_path, monkeypatch, capsys):
    """A killed trial's mark and its re-run were two writes: a command killed between them (the mark written,
    Optuna's add_trial not yet) left the trial marked, which every command then took for queued, and its settings
    never ran again. They are one transaction: a kill as the re-run is written leaves neither, and the next
    commands (two here, each with a storage of its own) queue the trial's settings once."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="s", direction="maximize")
    killed = study.ask({"model.lr": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)})
    study._storage.record_heartbeat(killed._trial_id)
    study._storage.set_trial_state_values(killed._trial_id, optuna.trial.TrialState.FAIL)  # its heartbeats stopped

    with monkeypatch.context() as patched:
        patched.setattr(optuna.storages.RDBStorage, "_get_prepared_new_trial", killed_as_it_writes_a_trial)
        with pytest.raises(KeyboardInterrupt):
            tune.QueueAgainOnce()(study, copy.deepcopy(study._storage.get_trial(killed._trial_id)))
    for command in (tune.QueueAgainOnce(), tune.QueueAgainOnce()):
        command.queue_lost(optuna.load_study(storage=url, study_name="s"))
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(queued) == 1 and queued[0].params == killed.params, capsys.readouterr().out
    assert queued[0].system_attrs["failed_trial"] == killed.number
    assert capsys.readouterr().out.count(f"tune: trial {killed.number} was marked FAIL") == 1


def test_a_command_killed_as_it_queues_a_trial_cut_off_before_its_first_heartbeat_loses_no_re_run(
    tmp_path, monkeypatch, capsys
):
    """A trial cut off before its first heartbeat was marked FAIL, then queued: a command killed between the two
    writes left it FAIL with no heartbeat (which the look for lost re-runs needs) and its settings never ran
    again. The FAIL is written in the transaction that queues it: a kill there leaves it RUNNING, and the next
    commands (two here) mark it FAIL and queue its settings once."""
    db = tmp_path / "study.db"
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="s", direction="maximize")
    cut_off = study.ask()
    tune.suggest(cut_off, SPACE)  # its settings taken, no heartbeat sent
    made_seconds_ago(db, [cut_off], 60)

    def a_command() -> tune.Tuner:
        tuner = object.__new__(tune.Tuner)
        tuner.study = optuna.load_study(storage=f"sqlite:///{db}", study_name="s")
        tuner.options, tuner.queue_again = argparse.Namespace(heartbeat=2), tune.QueueAgainOnce(SPACE)
        return tuner

    with monkeypatch.context() as patched:
        patched.setattr(optuna.storages.RDBStorage, "_get_prepared_new_trial", killed_as_it_writes_a_trial)
        with pytest.raises(KeyboardInterrupt):
            a_command().fail_unstarted_trials()
    for _ in range(2):
        a_command().fail_unstarted_trials()
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"], capsys.readouterr().out
    assert trials[1].params == cut_off.params and trials[1].system_attrs["failed_trial"] == cut_off.number
    said = f"tune: trial {cut_off.number} was cut off before its first heartbeat: marked FAIL, queued again"
    assert capsys.readouterr().out.count(said) == 1


def test_a_trials_error_naming_a_file_that_is_not_utf8_shows_its_bytes(tmp_path, monkeypatch):
    """A trial's one-line error is written to its log and told by tune as the trial's reason: a name with a byte
    that is not UTF-8 came out as \\udce9, as stderr writes the character Python holds it as, a name no file has;
    it is \\xe9, as the shell's $'...' writes it."""
    named = tmp_path / os.fsdecode(b"caf\xe9")

    def refused(request) -> None:
        raise tune.UserError(f"--data.data_dir {named}: no such folder")

    monkeypatch.setattr(tune, "_train_trial", refused)
    trial = multiprocessing.get_context("fork").Process(
        target=tune.run_trial, args=({"threads": 1}, tmp_path / "fit.log")
    )
    trial.start()
    trial.join()
    assert trial.exitcode == tune.REFUSED_EXIT
    assert (
        tune.Tuner._failure_reason(tmp_path, trial.exitcode) == f"--data.data_dir {tmp_path}/caf\\xe9: no such folder"
    )


@pytest.mark.slow
@pytest.mark.parametrize("to", ["tune", "its group"])
def test_ctrl_c_as_the_first_trial_starts_stops_the_study(to, fake_data_dir, tmp_path):
    """The first trial's start waits seconds for the process server to import torch. A SIGINT then hung tune for
    good: its handler, in the same thread, waited for the lock that thread held (--workers 1). Sent to the group
    (Ctrl+C in a terminal) it also killed the server as it imported torch: a traceback, exit 1."""
    args = ["tune", *write_study_files(tmp_path, fake_data_dir), "--trials", "2"]
    db = tmp_path / "tune" / "base" / "study.db"
    run = cli_subprocess(args, tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not trial_attrs(db, "worker"):  # its last word in the study before it starts the trial's process
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.05)
        if to == "tune":
            os.kill(run.pid, signal.SIGINT)
        else:
            os.killpg(run.pid, signal.SIGINT)
        assert finish(run, timeout=120) == 128 + signal.SIGINT, (tmp_path / "run.log").read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    log = (tmp_path / "run.log").read_text()
    assert "tune: SIGINT: stopping the running trials" in log and "Traceback" not in log, log
    # The trial is cut off. It had been trained to its end ("complete"): the SIGTERM that tune sends a trial
    # that starts as it stops came while the trial still ignored SIGTERM, as its forkserver did, and was lost.
    assert "tune: trial 0 fail: " in log and "with 0 of 2 trials finished" in log, log


@pytest.mark.slow
def test_a_killed_study_continues_with_the_same_command(fake_data_dir, tmp_path, monkeypatch, capsys):
    """4 trials, 2 at once, on SQLite; SIGKILL of the tune process while both its trials train; the same command
    again ends the study with 4 finished trials, the 2 killed ones run again with their settings, a table, plots
    and a best config that fit takes. The command again runs in this process (its trials in their own, as
    always); its --timeout, far beyond the study's, ends it there if it waited for the killed trials in vain, and
    the counts fail, rather than hang the suite."""
    study_files = write_study_files(tmp_path, fake_data_dir)
    # The first command's trials wait after their first report until the kill ends them (their SIGTERM), so the
    # kill comes at a known moment: the refused trial recorded, the two others training. Sent one look of the loop
    # below after any report, it came wherever the trials then were (the reporting trial over, the refused one
    # ended but not yet recorded, a trial just made without settings), and the counts expected only some of those.
    base = yaml.safe_load((tmp_path / "base.yaml").read_text())
    base["trainer"]["callbacks"] = [{"class_path": "tests.nan_model.HoldAfterAValidation"}]
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    args = ["tune", *study_files, "--trials", "4", "--workers", "2", "--heartbeat", "3", "--timeout", "240"]
    db = tmp_path / "tune" / "base" / "study.db"
    db.parent.mkdir(parents=True)
    # A trial whose settings the model refuses (queued first, as a user's guess would be): it fails with the
    # model's reason and the study goes on.
    study = optuna.create_study(study_name="base", storage=f"sqlite:///{db}", direction="maximize")
    study.enqueue_trial({"model.lr": 0.01, "model.hidden_size": 0})

    first = cli_subprocess(args, tmp_path, extra_env={"HOLD_AFTER_A_VALIDATION": "1"}, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (study_states(db) == ["FAIL", "RUNNING", "RUNNING"] and held(db) == [1, 2]):  # refused; both train
        assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    assert finish(first) == -signal.SIGKILL
    while True:  # its trials end with it (they are told of their parent's death), leaving nothing behind
        try:
            os.killpg(first.pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            os.killpg(first.pid, signal.SIGKILL)
            pytest.fail("the trials of a killed tune kept running")
        time.sleep(0.2)
    assert study_states(db) == ["FAIL", "RUNNING", "RUNNING"]  # cut off: no result, no heartbeat any more

    monkeypatch.chdir(tmp_path)
    main(args)  # ends normally (exit status 0)
    out = capsys.readouterr().out
    log = (tmp_path / "run.log").read_text() + out  # the first command's, then this one's
    study = optuna.load_study(study_name="base", storage=f"sqlite:///{db}")
    trials = study.get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4 and len(trials) == 3 + 4  # no trial lost, none run twice
    refused, *killed = trials[:3]
    assert [t.state.name for t in trials[:3]] == ["FAIL", "FAIL", "FAIL"]
    assert refused.user_attrs["reason"] == "hidden_size must be positive, got 0"
    assert "trial 0 fail: hidden_size must be positive, got 0" in log
    assert all("reason" not in t.user_attrs for t in killed)  # no word from them: their heartbeats stopped
    for number in (1, 2):  # told once each (the command said nothing of them before)
        assert out.count(f"tune: trial {number} stopped sending heartbeats: marked FAIL, queued again\n") == 1, out
    # Each killed trial's settings run again, once, and finish.
    rerun_of = {t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs}
    assert sorted(rerun_of) == [1, 2] and all(t in finished for t in rerun_of.values())
    assert all(rerun_of[t.number].params == t.params for t in killed)
    assert all(t.user_attrs["seed"] == 42 for t in finished)
    # The test set is never read while searching: fit's test after training is not run.
    assert not any("Test accuracy" in log.read_text() for log in tmp_path.glob("tune/base/trial_*/fit.log"))

    root = tmp_path / "tune" / "base"
    with open(root / "trials.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["number"] for row in rows] == [str(t.number) for t in trials]
    assert {row["state"] for row in rows} <= {"COMPLETE", "PRUNED", "FAIL"}
    assert all(0 <= float(row["val/acc"]) <= 1 for row in rows if row["state"] != "FAIL")
    notes = {int(row["number"]): row["note"] for row in rows}
    assert notes[1] == notes[2] == "its heartbeat stopped: the process was killed"
    assert {notes[t.number] for t in rerun_of.values()} == {"re-run of 1", "re-run of 2"}
    for name in ("optimization_history", "parallel_coordinate", "intermediate_values"):
        assert (root / "plots" / f"{name}.png").stat().st_size > 1000
    best = yaml.safe_load((root / "best.yaml").read_text())
    assert best["model"]["lr"] == study.best_trial.params["model.lr"]
    assert best["data"]["data_dir"] == str(fake_data_dir) and best["seed_everything"] == 42
    main(["fit", "--config", str(root / "best.yaml"), "--trainer.fast_dev_run", "true"])


def confirmed_tests(root: Path) -> list[float]:
    """test/acc of the confirming runs, read back from their TensorBoard logs."""
    return [scalars(root / "confirm" / f"seed_{seed}", "test/acc")[-1].value for seed in (0, 1)]


@pytest.mark.slow
def test_two_commands_share_a_study_and_sigterm_hands_a_trial_over(fake_data_dir, tmp_path, monkeypatch, capsys):
    """Two commands on one SQLite study (as two machines on one PostgreSQL database would be). SIGTERM stops
    one (exit 143): its running trial is cut off and queued again, and the other command runs it. Then the
    best config is confirmed on 2 seeds. The other command runs in this process (its trials in their own, as
    always), from once the first one's trial trains; a thread sends the SIGTERM once the other's trial runs too."""
    space = {"model.lr": {"log": [1.0e-3, 3.0e-2]}}
    study_files = write_study_files(tmp_path, fake_data_dir, space)
    # The first command's trials wait after their first report until the SIGTERM comes (without it, a trial of
    # 8 epochs was over between two looks of the loop below on a busy CI machine, and no SIGTERM cut it).
    base = yaml.safe_load((tmp_path / "base.yaml").read_text())
    base["trainer"]["callbacks"] = [{"class_path": "tests.nan_model.HoldAfterAValidation"}]
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    # --heartbeat 4: a command whose places are all taken by the other's running trials looks again every
    # 2 s, not every 15 s (the default's)
    args = ["tune", *study_files, "--trials", "2", "--trainer.max_epochs", "2", "--heartbeat", "4"]
    db = tmp_path / "tune" / "base" / "study.db"
    db.parent.mkdir(parents=True)
    optuna.create_study(study_name="base", storage=f"sqlite:///{db}", direction="maximize")  # made once
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    root = ["--root", str(db.parent), "--storage", f"sqlite:///{db}"]
    stopped = cli_subprocess([*args, *root], tmp_path / "a", extra_env={"HOLD_AFTER_A_VALIDATION": "1"})
    storage = f"sqlite:///{db}"

    def running_of(pid: int) -> list:
        trials = optuna.load_study(study_name="base", storage=storage).get_trials()
        return [t for t in trials if t.state.name == "RUNNING" and t.user_attrs.get("worker", "").endswith(f":{pid}")]

    deadline = time.monotonic() + 240
    while not ((running := running_of(stopped.pid)) and running[0].intermediate_values):  # its trial trains
        assert stopped.poll() is None and time.monotonic() < deadline, (tmp_path / "a" / "run.log").read_text()
        time.sleep(0.3)

    over = threading.Event()

    def sigterm_once_both_run() -> None:
        while not (running_of(os.getpid()) or over.is_set() or stopped.poll() is not None):
            time.sleep(0.3)
        stopped.send_signal(signal.SIGTERM)

    watcher = threading.Thread(target=sigterm_once_both_run, daemon=True)
    watcher.start()
    monkeypatch.chdir(tmp_path / "b")
    try:
        main([*args, *root])  # the other command; it ends normally (exit status 0)
    except BaseException:
        stopped.kill()  # not when it ends well: the first command may still be writing its results, to exit 143
        raise
    finally:
        over.set()
        watcher.join()
    assert finish(stopped) == 128 + signal.SIGTERM
    log = (tmp_path / "a" / "run.log").read_text()
    assert f"trial {running[0].number} fail: stopped by SIGTERM" in log
    assert "the same command continues the study" in log
    capsys.readouterr()

    trials = optuna.load_study(study_name="base", storage=storage).get_trials()
    cut = trials[running[0].number]
    assert cut.state.name == "FAIL" and cut.user_attrs["cut_off"] is True
    rerun = next(t for t in trials if t.user_attrs.get("retry_of") == cut.number)
    assert rerun.params == cut.params and rerun.state.name in ("COMPLETE", "PRUNED")
    assert rerun.user_attrs["worker"].endswith(f":{os.getpid()}")
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) == 2
    assert list(Path(cut.user_attrs["folder"]).rglob("last.ckpt"))  # saved on the way out

    # --confirm-seeds: fit --config best.yaml on seeds 0 and 1 at once, with the test after training.
    monkeypatch.chdir(tmp_path)
    main([*args, *root, "--confirm-seeds", "2", "--workers", "2"])
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="base", storage=storage)
    assert len(study.get_trials()) == len(trials)  # the study had its 2: no trial more
    tests = confirmed_tests(db.parent)
    assert f"trial {study.best_trial.number}, chosen by val/acc {study.best_value:.2%} (seed 42)" in out
    assert f"test/acc {sum(tests) / 2:.2%} +- " in out and ", ".join(f"{t:.2%}" for t in tests) in out


@pytest.mark.parametrize("checkpointing", [True, False])
def test_a_confirming_run_reports_the_val_acc_of_the_weights_it_tested(checkpointing, fake_data_dir, in_tmp_dir):
    """--confirm-seeds with --trainer.enable_checkpointing false ended in "float() argument must be ... not
    'NoneType'": no checkpoint, no best score. The test is then of the final weights, and so is the val/acc."""
    write_study_files(in_tmp_dir, fake_data_dir)
    config = yaml.safe_load((in_tmp_dir / "base.yaml").read_text())
    config["trainer"]["enable_checkpointing"] = checkpointing
    config["data"]["data_dir"] = str(fake_data_dir)
    (in_tmp_dir / "best.yaml").write_text(yaml.safe_dump(config))
    folder = in_tmp_dir / "confirm"
    tune._confirm_run({"config": str(in_tmp_dir / "best.yaml"), "seed": 0, "folder": str(folder)})
    result = json.loads((folder / "result.json").read_text())
    checkpoints = list(folder.rglob("*.ckpt"))
    assert bool(checkpoints) == checkpointing
    validations = [scalar.value for scalar in scalars(folder, "val/acc")]
    assert len(validations) == 2  # two validations per epoch in the base config
    assert result["val"] == pytest.approx(max(validations) if checkpointing else validations[-1])
    assert result["test"] == pytest.approx(scalars(folder, "test/acc")[-1].value)


def scalars(folder: Path, tag: str) -> list:
    """The values logged under ``tag`` in the TensorBoard logs below ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found = []
    for events in sorted(folder.rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            found += accumulator.Scalars(tag)
    return found


@pytest.mark.parametrize("base", ["fast", "default"])
def test_the_shipped_spaces_fit_their_configs(base):
    configs = Path(__file__).parents[1] / "configs"
    space_path = configs / f"tune_{base}.yaml"
    space = tune.read_space(space_path)
    tune.check_settings(configs / f"{base}.yaml", {}, space, space_path)  # no error
    assert {"model.lr", "data.batch_size"} <= set(space)


def test_a_resumed_study_draws_new_settings(fake_data_dir, in_tmp_dir, monkeypatch):
    """The sampler was seeded with --seed alone: every command that resumed a study (or joined it from another
    terminal) drew the first command's settings again, as new trials."""
    drawn = []

    def one_trial(tuner: tune.Tuner) -> None:
        trial = tuner.study.ask({"model.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
        drawn.append(trial.params["model.lr"])
        trial.set_user_attr("folder", "trial")  # as tune's own trials (a study without them is refused)
        trial.set_user_attr("best_val_acc", 0.5)
        tuner.study.tell(trial, 0.5)

    monkeypatch.setattr(tune.Tuner, "run", one_trial)
    monkeypatch.setattr(tune.Tuner, "write_results", lambda tuner: None)
    args = write_study_files(in_tmp_dir, fake_data_dir)
    for _ in range(3):
        main(["tune", *args])
    assert len(set(drawn)) == 3, drawn


def test_ctrl_c_with_two_workers_queues_both_cut_off_trials_and_starts_none(fake_data_dir, tmp_path, monkeypatch):
    """With --workers 2, Ctrl+C let Optuna go on asking for trials: each took a cut-off trial's queued settings
    and failed it at once ("not started: tune was stopping"), so the continued study never ran them. The trials
    here are stand-ins (no training) that run until the stop, as a trial's process does after its SIGTERM."""
    import threading

    started = []

    def stand_in(self, folder, request):
        started.append(request["trial_id"])
        while self.stopped_by is None:
            time.sleep(0.02)
        return 128 + self.stopped_by

    monkeypatch.setattr(tune.Tuner, "_train", stand_in)
    db = tmp_path / "study.db"
    args = ["tune", *write_study_files(tmp_path, fake_data_dir), "--trials", "6", "--workers", "2",
            "--root", str(tmp_path / "tune"), "--storage", f"sqlite:///{db}"]  # fmt: skip

    def ctrl_c_once_both_run() -> None:
        deadline = time.monotonic() + 60
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c_once_both_run, daemon=True).start()
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 128 + signal.SIGINT and len(started) == 2
    trials = optuna.load_study(study_name="base", storage=f"sqlite:///{db}").get_trials()
    cut = [t for t in trials if t.state.name == "FAIL"]
    assert len(cut) == 2 and all(t.user_attrs.get("cut_off") for t in cut)  # no "not started" trial
    queued = [t for t in trials if t.state.name == "WAITING"]
    assert sorted(t.user_attrs["retry_of"] for t in queued) == sorted(t.number for t in cut)
    assert sorted(str(t.system_attrs["fixed_params"]) for t in queued) == sorted(str(t.params) for t in cut)


def test_timeout_starts_no_trial_after_it_and_lets_the_running_ones_finish(
    fake_data_dir, tmp_path, monkeypatch, capsys
):
    """--timeout: a search for a given time. The trials here are stand-ins (no training): the first ends at
    once, the second runs until 0.3 s past the 5 s limit. It finishes (it is not cut off), no third starts,
    and the results and the best config are written as after the last trial; the command ends normally.
    (An earlier version of this test took trials of 0.4 s and asserted that the last ended after the limit,
    which failed in CI when Optuna's bookkeeping after a trial, not the trial, crossed it.)"""
    started = []

    def stand_in(self, folder, request):
        started.append(request["trial_id"])
        if len(started) == 2:
            time.sleep(max(0.0, self.started + 5.3 - time.monotonic()))  # past the limit, while running
        result = {"best": 0.5 + 0.01 * len(started), "epochs": 1.0, "validations": 2, "pruned": False}
        (folder / "result.json").write_text(json.dumps(result))
        return 0

    monkeypatch.setattr(tune.Tuner, "_train", stand_in)
    root = tmp_path / "tune"
    root.mkdir()
    # The study made beforehand, and 5 s: tune's clock starts before it opens the study, and making a new SQLite
    # one took over 2 s on a busy machine (the limit once: no trial started at all).
    optuna.create_study(study_name="base", storage=f"sqlite:///{root / 'study.db'}", direction="maximize")
    main(["tune", *write_study_files(tmp_path, fake_data_dir), "--trials", "50", "--timeout", "5", "--root", str(root)])
    out = capsys.readouterr().out
    assert len(started) == 2
    assert "tune: --timeout 5 s reached with 2 of 50 trials finished" in out
    with open(root / "trials.csv") as file:
        assert [row["state"] for row in csv.DictReader(file)] == ["COMPLETE", "COMPLETE"]
    assert (root / "best.yaml").is_file()


def test_timeout_must_be_positive(capsys):
    assert "--timeout must be more than 0 seconds, got 0" in tune_error(
        ["--config", SEED_CONFIG, "--space", "x.yaml", "--timeout", "0"], capsys
    )


# ----- the plots: Optuna's, made readable ---------------------------------------------------------------


def plotted_study(finals: list[float], pruned: list[float] = (), validations: int = 5):
    """An in-memory study with a complete trial per value of ``finals`` (its learning curve rising to it over
    ``validations``) and a pruned trial per value of ``pruned`` (stopped after 2 validations)."""
    study = optuna.create_study(direction="maximize")
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0), "y": optuna.distributions.IntDistribution(1, 9)}
    states = [("COMPLETE", value, validations) for value in finals] + [("PRUNED", value, 2) for value in pruned]
    for index, (state, value, steps) in enumerate(states):
        curve = {step: value - 0.01 * (steps - step) for step in range(1, steps + 1)}
        study.add_trial(
            optuna.trial.create_trial(
                state=getattr(optuna.trial.TrialState, state),
                value=value,
                params={"x": index / len(states), "y": 1 + index % 9},
                distributions=space,
                intermediate_values=curve,
            )
        )
    return study


@pytest.fixture
def plotting():
    """Draw an Optuna plot of a study and make it readable as ``tune`` does; close the figures after."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    def draw(study, name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's plots are experimental
            axes = getattr(plots, f"plot_{name}")(study)
        study_plots.tidy(name, axes, study)
        return axes

    yield draw
    plt.close("all")


def texts(axes) -> list[str]:
    return [text.get_text() for text in axes.texts]


# 20 good trials within 0.7 points of each other, trial 3 a training that failed to learn, 3 pruned ones
GOOD = [0.990 + 0.0003 * i for i in range(20)]
FINALS = [*GOOD[:3], 0.524, *GOOD[3:]]
PRUNED = [0.975, 0.985, 0.98]


def test_the_history_plot_zooms_on_the_good_trials_and_names_the_one_below(plotting):
    from matplotlib.ticker import PercentFormatter

    axes = plotting(plotted_study(FINALS, PRUNED), "optimization_history")
    low, high = axes.get_ylim()
    assert 0.524 < 0.95 < low <= min(GOOD) and max(GOOD) < high < 1.0  # 0.7 points fill the axis, not 50
    assert isinstance(axes.yaxis.get_major_formatter(), PercentFormatter)
    assert any("1 trial below the axis" in text and "trial 3 (52.4%)" in text for text in texts(axes))
    assert f"best: trial 20, {max(GOOD):.2%}" in texts(axes)
    axes.figure.canvas.draw()
    label = next(text for text in axes.texts if text.get_text().startswith("best:")).get_window_extent()
    inside = axes.get_window_extent()
    assert inside.x0 <= label.x0 and label.x1 <= inside.x1  # a best on the right ran past the axes, under the legend
    assert "below the axis" in [text.get_text() for text in axes.get_legend().get_texts()]
    assert axes.get_xlabel() == "trial"


def test_the_intermediate_plot_colours_by_state_with_no_legend_per_trial(plotting):
    study = plotted_study(FINALS, PRUNED)
    axes = plotting(study, "intermediate_values")
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["complete (21)", "pruned (3)", f"best: trial 20 ({max(GOOD):.2%})"]
    assert axes.get_xlabel().startswith("validation (one per epoch")
    colours = {}
    for line in axes.get_lines():
        colours.setdefault(line.get_color(), []).append(line)
    assert len(colours) == 3  # complete, pruned and the best trial's
    assert sorted(len(lines) for lines in colours.values()) == [1, 3, 20]
    low, high = axes.get_ylim()
    assert 0.524 < low <= min(PRUNED) and max(GOOD) < high  # the pruned trials' last values are still shown
    notes = [text for text in texts(axes) if text.startswith("Under the axis")]
    assert len(notes) == 1 and "trial 3 (52.4%) at its last validation" in notes[0]
    assert "earlier validations of" in notes[0]  # the first validations of the others lie below too
    assert not any(text.isdigit() for text in texts(axes))  # 24 trials: no number at each curve's end


def test_few_trials_keep_their_numbers_on_the_intermediate_plot(plotting):
    axes = plotting(plotted_study([0.9, 0.95, 0.97], [0.8]), "intermediate_values")
    assert sorted(text for text in texts(axes) if text.isdigit()) == ["0", "1", "2", "3"]
    low, high = axes.get_ylim()
    assert low < 0.8 and 0.97 < high  # 4 trials: none is called an outlier
    assert not any(text.startswith("Under the axis") for text in texts(axes))


@pytest.mark.parametrize(
    "finals, pruned",
    [([0.9], []), ([0.98, 0.98, 0.98], []), ([0.98] * 12, [0.98]), ([], [0.5, 0.6]), ([], []), ([1.0, 0.0], [])],
    ids=["one trial", "equal values", "many equal values", "no complete trial", "no trial", "two far apart"],
)
def test_tiny_studies_get_their_plots(finals, pruned, plotting, tmp_path, capsys):
    study = plotted_study(finals, pruned)
    for name in ("optimization_history", "intermediate_values"):
        if finals or pruned:
            low, high = plotting(study, name).get_ylim()
            shown = finals if name == "optimization_history" else [*finals, *pruned]
            assert all(low < value < high for value in shown)
    study_plots.write_plots(study, tmp_path / "plots", parameters=2)
    assert "left as Optuna draws it" not in capsys.readouterr().out
    assert (tmp_path / "plots").is_dir() is bool(finals or pruned)  # no trial: no empty axes


def test_the_plots_of_a_study_are_written_readable(tmp_path, capsys):
    written = study_plots.write_plots(plotted_study(FINALS, PRUNED), tmp_path / "plots", parameters=2)
    out = capsys.readouterr().out
    assert "left as Optuna draws it" not in out
    names = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values")
    assert written == [f"{name}.png" for name in names]
    assert all((tmp_path / "plots" / f"{name}.png").stat().st_size > 1000 for name in names)


def test_the_parallel_coordinates_spread_their_colours_over_the_good_trials(plotting):
    """Optuna's fixed 6.4 inches overlapped the labels of many options, it cut their names, and one trial that
    failed to learn made every other line the same colour."""
    study = optuna.create_study(direction="maximize")
    space = {f"model.augment_option_{k}": optuna.distributions.FloatDistribution(0.0, 1.0) for k in range(8)}
    for number, value in enumerate(FINALS):
        params = {name: (number * (k + 1) % 7) / 7 for k, name in enumerate(space)}
        study.add_trial(optuna.trial.create_trial(value=value, params=params, distributions=space))
    axes = plotting(study, "parallel_coordinate")
    assert axes.figure.get_size_inches()[0] >= 9  # an inch per axis
    labels = [label.get_text() for label in axes.get_xticklabels()]
    assert labels == ["val/acc", *(f"augment_option_{k}" for k in range(8))]  # whole, without "model."
    (lines,) = [c for c in axes.collections if c.get_array() is not None]
    low, high = lines.get_clim()
    assert 0.524 < low <= min(GOOD) and high >= max(GOOD)
    assert any("below" in text and "trial 3 (52.4%)" in text for text in texts(axes))


def test_the_data_is_prepared_once_before_any_trial(fake_data_dir, tmp_path, monkeypatch, capsys):
    """Trials starting at once on a fresh folder each downloaded (or unpacked) the data into the same files;
    a data set that is not there failed three trials in a row before the command stopped. Now tune unpacks and
    checks it once, first, and refuses a missing one in one line, with no folder or study made."""
    data = tmp_path / "data"
    shutil.copytree(fake_data_dir, data)
    raw = data / "MNIST" / "raw"
    for path in list(raw.iterdir()):  # as people download them: NAME.gz
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    monkeypatch.setattr(tune.Tuner, "run", lambda tuner: None)
    monkeypatch.setattr(tune.Tuner, "write_results", lambda tuner: None)
    args = [*write_study_files(tmp_path, data), "--root", str(tmp_path / "tune")]
    main(["tune", *args])
    assert "unpacked" in capsys.readouterr().err and (raw / "train-images-idx3-ubyte").is_file()
    args[args.index(str(data))] = str(tmp_path / "nowhere")
    args[-1] = str(tmp_path / "tune2")
    err = tune_error(args, capsys)
    assert "nowhere" in err and "MNIST" in err and not (tmp_path / "tune2").exists()


def test_more_workers_than_cores_on_the_cpu_is_said_once(fake_data_dir, tmp_path, monkeypatch, capsys):
    """--workers 8 on a 2-core CPU started 8 trials without a word: each got one thread, and they waited for each
    other. On a GPU it may be intended: nothing is said there."""
    monkeypatch.setattr(tune.Tuner, "run", lambda tuner: None)
    monkeypatch.setattr(tune.Tuner, "write_results", lambda tuner: None)
    monkeypatch.setattr(tune, "_cores", lambda: 2)
    args = [*write_study_files(tmp_path, fake_data_dir), "--root", str(tmp_path / "tune"), "--workers", "8"]
    warning = (
        "mnist-rnn: warning: --workers 8 is more than the 2 CPU cores the trials train on: each gets 1 thread and "
        "they wait for each other, so each trial takes longer and the study no less time (--workers 2 or fewer)\n"
    )
    for gpus, accelerator, said in ((0, "auto", True), (1, "cpu", True), (1, "auto", False)):
        monkeypatch.setattr(tune, "_gpu_count", lambda gpus=gpus: gpus)
        main(["tune", *args, "--trainer.accelerator", accelerator])
        assert capsys.readouterr().err.count(warning) == int(said), (gpus, accelerator)
    main(["tune", *args[:-1], "2", "--trainer.accelerator", "cpu"])
    assert "--workers" not in capsys.readouterr().err


# ----- what a user of tune ran into (a helper's session as a user, on real MNIST) -------------------------


def stand_in_trials(monkeypatch, pruned: bool = False, refused: bool = False) -> list[dict]:
    """Trials and confirming runs without training: each request is recorded; a trial ends complete (or
    pruned, or refused by fit), a confirming run with its test."""
    requests = []

    def stand_in(self, folder, request):
        requests.append(request)
        if refused:
            (folder / "fit.log").write_text("mnist-rnn: error: hidden_size must be positive, got 0\n")
            return tune.REFUSED_EXIT
        if request.get("confirm"):
            result = {"test": 0.99 + 0.001 * request["seed"], "val": 0.98}
        else:
            result = {"best": 0.9, "epochs": 1.0, "validations": 2, "pruned": pruned}
        (folder / "result.json").write_text(json.dumps(result))
        return 0

    monkeypatch.setattr(tune.Tuner, "_train", stand_in)
    return requests


def test_confirm_seeds_with_no_complete_trial_is_one_line(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """It ended with a traceback (ValueError: Record does not exist) when every trial had been pruned or had
    failed before --timeout."""
    stand_in_trials(monkeypatch, pruned=True)
    args = [*write_study_files(in_tmp_dir, fake_data_dir), "--trials", "2", "--confirm-seeds", "2"]
    assert "--confirm-seeds: no complete trial to confirm (see the table above)" in tune_error(args, capsys)


def test_a_second_command_keeps_the_confirmed_seeds(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """The same command again on a finished study trained every confirming seed again (on the GPU recipe,
    minutes each), to the same numbers; now a seed confirmed with the same best.yaml is kept."""
    requests = stand_in_trials(monkeypatch)
    args = ["tune", *write_study_files(in_tmp_dir, fake_data_dir), "--trials", "1", "--confirm-seeds", "2"]
    main(args)
    assert sum(bool(r.get("confirm")) for r in requests) == 2
    capsys.readouterr()
    main(args)
    out = capsys.readouterr().out
    assert sum(bool(r.get("confirm")) for r in requests) == 2  # none trained again
    assert "tune: seed 1: test/acc 99.10%, val/acc 98.00% (confirmed before, with the same best.yaml)" in out
    assert "on seeds 0-1: test/acc 99.05% +- 0.07%" in out


def test_ctrl_c_while_confirming_says_so_and_prints_the_table_once(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """Ctrl+C during --confirm-seeds printed the table, the best trial and the plots a second time, and said
    the trials had been stopped."""

    def confirming_interrupted(self, folder, request):
        if not request.get("confirm"):
            (folder / "result.json").write_text(
                json.dumps({"best": 0.9, "epochs": 1.0, "validations": 2, "pruned": False})
            )
            return 0
        os.kill(os.getpid(), signal.SIGINT)  # tune's handler: stopped_by; the run ends as after its SIGTERM
        return 128 + signal.SIGTERM

    monkeypatch.setattr(tune.Tuner, "_train", confirming_interrupted)
    args = ["tune", *write_study_files(in_tmp_dir, fake_data_dir), "--trials", "1", "--confirm-seeds", "1"]
    with pytest.raises(SystemExit) as stop:
        main(args)
    captured = capsys.readouterr()
    assert stop.value.code == 128 + signal.SIGINT
    assert captured.out.count("tune: table of 1 trial in") == 1
    assert "stopped by SIGINT while confirming; the same command confirms again" in captured.err


def test_an_option_both_searched_and_set_on_the_command_line_is_one_line(fake_data_dir, in_tmp_dir, capsys):
    """The space's values silently won over --data.batch_size 256 in every trial."""
    args = [*write_study_files(in_tmp_dir, fake_data_dir, {"data.batch_size": [20, 40]}), "--data.batch_size", "10"]
    err = tune_error(args, capsys)
    assert "data.batch_size is both searched (--space" in err and "set (--data.batch_size 10)" in err


def test_a_study_with_no_finished_trial_takes_a_fixed_space(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """Every trial failed on a space fit refuses; tune said "fix that and run the same command again", and
    then refused the fixed space as "made with another space"."""
    stand_in_trials(monkeypatch, refused=True)
    args = write_study_files(in_tmp_dir, fake_data_dir)
    assert "3 trials in a row failed" in tune_error([*args, "--trials", "4"], capsys)
    (in_tmp_dir / "space.yaml").write_text(yaml.safe_dump({"model.lr": {"log": [1.0e-3, 1.0e-2]}}))
    stand_in_trials(monkeypatch)
    main(["tune", *args, "--trials", "1"])
    assert "tune: study 'base' has no finished trial yet: it takes the new space" in capsys.readouterr().out


def test_a_trials_config_names_its_data_folder_absolutely(fake_data_dir, in_tmp_dir, monkeypatch):
    """best.yaml (and each trial's config.yaml) kept a relative --data.data_dir as given: fit --config
    best.yaml failed from any other folder."""
    stand_in_trials(monkeypatch)
    shutil.copytree(fake_data_dir, in_tmp_dir / "data")
    args = write_study_files(in_tmp_dir, Path("data"))
    main(["tune", *args, "--trials", "1"])
    best = yaml.safe_load((in_tmp_dir / "tune" / "base" / "best.yaml").read_text())
    assert best["data"]["data_dir"] == str(in_tmp_dir / "data")


PER_TRIAL = "would start several processes per trial, which a trial cannot"


@pytest.mark.parametrize(
    ("where", "setting"),
    [
        ("line", ["--trainer.devices", "2"]),
        ("line", ["--trainer.devices", "0,1"]),
        ("line", ["--trainer.strategy", "ddp"]),
        ("base", {"devices": -1}),
        ("base", {"num_nodes": 2}),
        ("space", {"trainer.devices": [1, 2]}),
    ],
)
def test_settings_that_start_several_processes_per_trial_are_refused(
    where, setting, fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """Lightning starts a run's other processes by running its command again: a trial's process has no command
    to run, so every trial failed, killed, with "a command is needed" in its log."""
    requests = stand_in_trials(monkeypatch)
    monkeypatch.setattr("mnist_rnn.cli._check_cpu_devices", lambda trainer: None)  # GPU lists, as on a GPU machine
    args = write_study_files(in_tmp_dir, fake_data_dir, {**SPACE, **setting} if where == "space" else None)
    if where == "base":
        base = yaml.safe_load((in_tmp_dir / "base.yaml").read_text())
        base["trainer"].update(setting)
        (in_tmp_dir / "base.yaml").write_text(yaml.safe_dump(base))
    err = tune_error([*args, "--trainer.accelerator", "cpu", *(setting if where == "line" else [])], capsys)
    if where == "line":
        shown = " ".join(setting)
    else:
        shown = f"--trainer.{next(iter(setting))}" if where == "base" else "trainer.devices: 2"
    assert shown in err and PER_TRIAL in err and "--workers K" in err
    assert requests == []


def test_gpu_indices_on_the_cpu_are_refused_before_any_trial(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """``--trainer.devices 1,`` (GPU 1) passed the one-process check, then every trial failed with Lightning's
    TypeError on the CPU."""
    requests = stand_in_trials(monkeypatch)
    args = write_study_files(in_tmp_dir, fake_data_dir)
    err = tune_error([*args, "--trainer.accelerator", "cpu", "--trainer.devices", "1,"], capsys)
    assert "--trainer.devices 1,: on the CPU (--trainer.accelerator cpu) devices is a number of processes" in err
    assert requests == []


def test_a_trial_trains_on_one_device_unless_its_config_chooses(tmp_path):
    """Lightning's default devices, every GPU, made a trial on a machine with several GPUs start a process per
    GPU; one the config names is kept."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"max_epochs": 1}, "model": {"lr": 0.01}}))
    assert tune._one_device(config) == ["--trainer.devices", "1"]
    config.write_text(yaml.safe_dump({"trainer": {"devices": "auto"}}))
    assert tune._one_device(config) == ["--trainer.devices", "1"]
    config.write_text(yaml.safe_dump({"trainer": {"devices": [1]}}))
    assert tune._one_device(config) == []


def test_a_value_refused_with_the_base_config_but_taken_with_another_searched_value_is_searched(
    fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """A GRU refuses the base config's forget_bias 1.0, and the space also searches forget_bias null: the space
    was refused as a whole, though half its combinations train."""
    requests = stand_in_trials(monkeypatch)
    args = write_study_files(in_tmp_dir, fake_data_dir, {"model.cell": ["lstm", "gru"]})
    base = yaml.safe_load((in_tmp_dir / "base.yaml").read_text())
    base["model"]["forget_bias"] = 1.0
    (in_tmp_dir / "base.yaml").write_text(yaml.safe_dump(base))
    err = tune_error(args, capsys)  # gru alone: every trial that drew it would fail
    assert "model.cell: fit refuses 'gru': forget_bias applies to LSTM cells only" in err
    space = {"model.cell": ["lstm", "gru"], "model.forget_bias": [None, 1.0]}
    (in_tmp_dir / "space.yaml").write_text(yaml.safe_dump(space))
    main(["tune", *args, "--trials", "1"])
    assert len(requests) == 1


def test_a_font_cache_without_matplotlibs_fonts_adds_no_lines_to_the_plots_output(tmp_path, monkeypatch, caplog):
    """A ~/.cache/matplotlib built without matplotlib's own fonts (as on the CI machine) made every plot print
    a "findfont: Font family ['STIXGeneral'] not found" line per mathtext font: twenty lines amid tune's own."""
    import logging

    from matplotlib import font_manager

    own = [font for font in font_manager.fontManager.ttflist if not font.name.startswith(("STIX", "cm"))]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", own)
    font_manager.fontManager._findfont_cached.cache_clear()
    monkeypatch.setattr(logging.getLogger("matplotlib.font_manager"), "level", logging.NOTSET)
    try:
        written = study_plots.write_plots(log_scaled_study(), tmp_path, parameters=1)
    finally:
        font_manager.fontManager._findfont_cached.cache_clear()
    assert written == ["optimization_history.png", "parallel_coordinate.png", "intermediate_values.png"]
    assert not [record.getMessage() for record in caplog.records if record.name.startswith("matplotlib")]


def log_scaled_study():
    """A study of a learning rate on a log scale, whose axis labels (10^-3...) matplotlib draws as mathtext."""
    study = optuna.create_study(direction="maximize")
    space = {"model.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    for index, lr in enumerate([2e-4, 3e-3, 5e-2]):
        curve = {1: 0.5 + index / 10, 2: 0.6 + index / 10}
        study.add_trial(
            optuna.trial.create_trial(
                value=curve[2], params={"model.lr": lr}, distributions=space, intermediate_values=curve
            )
        )
    return study


def test_trials_at_once_share_the_machines_gpus(tmp_path):
    """With several GPUs every trial took the first (Lightning's devices auto became 1): with --workers 4 on two
    GPUs, four trials on GPU 0 and none on GPU 1. Each now takes the GPU with the fewest trials on it."""
    shares = tune.GPUShares(2)
    taken = [shares.take() for _ in range(3)]
    assert taken == [0, 1, 0]
    shares.give_back(1)
    assert shares.take() == 1
    assert tune.GPUShares(1).take() is None and tune.GPUShares(0).take() is None  # the one device is the GPU

    config = tmp_path / "config.yaml"
    for trainer, gpu, args in [
        ({}, 1, ["--trainer.devices", "[1]"]),
        ({"accelerator": "gpu"}, 0, ["--trainer.devices", "[0]"]),
        ({"accelerator": "cpu"}, 1, ["--trainer.devices", "1"]),
        ({}, None, ["--trainer.devices", "1"]),
        ({"devices": "[2]"}, 1, []),  # the config's own choice
    ]:
        config.write_text(yaml.safe_dump({"trainer": trainer}))
        assert tune._one_device(config, gpu) == args, trainer

    class Process:  # records the request a trial's process would get
        requests = []

        def __init__(self, target, args):
            self.requests.append(args[0])
            self.exitcode = 0

        def start(self):
            pass

        def join(self):
            pass

    tuner = object.__new__(tune.Tuner)
    tuner.gpus, tuner.lock, tuner.stopped_by, tuner.processes = tune.GPUShares(2), threading.Lock(), None, set()
    tuner.processes_context = type("Context", (), {"Process": Process})
    assert tuner._train(tmp_path, {"seed": 0}) == 0 and tuner._train(tmp_path, {"seed": 1}) == 0
    assert [request["gpu"] for request in Process.requests] == [0, 0]  # each given back when its trial ended
    assert tuner.gpus.running == [0, 0]


def test_quoted_paths_under_the_home_folder_are_expanded(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """--root '~/study' (quoted, or --root=~/study, which bash leaves alone) made a folder named ~ in the working
    folder, and --config '~/base.yaml' was "no such file"."""
    stand_in_trials(monkeypatch)  # paths, not training
    home = in_tmp_dir / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    write_study_files(home, fake_data_dir, {"model.lr": {"log": [1.0e-3, 3.0e-2]}})
    main(["tune", "--config", "~/base.yaml", "--space=~/space.yaml", "--root", "~/study", "--trials", "1",
          "--data.data_dir", str(fake_data_dir)])  # fmt: skip
    assert (home / "study" / "trials.csv").is_file() and not (in_tmp_dir / "~").exists()
    assert f"tune: table of 1 trial in {home / 'study' / 'trials.csv'}" in capsys.readouterr().out
    # the storage's URL too (a "~" inside it is left alone by every shell): it was refused, "the folder ~ does
    # not exist"
    main(["tune", "--config", "~/base.yaml", "--space=~/space.yaml", "--root", "~/other", "--trials", "1",
          "--storage", "sqlite:///~/studies.db", "--data.data_dir", str(fake_data_dir)])  # fmt: skip
    assert optuna.load_study(study_name="base", storage=f"sqlite:///{home / 'studies.db'}").trials
    assert not (in_tmp_dir / "~").exists()


def test_a_trial_that_finds_the_disk_full_stops_the_study_in_one_line(fake_data_dir, in_tmp_dir, capsys):
    """Each next trial failed the same way, and on a disk full enough Optuna could not record the failure: its own
    AssertionError ("Should not reach.") ended tune in a 120-line traceback, the trial left RUNNING."""
    args = write_study_files(in_tmp_dir, fake_data_dir)
    base = yaml.safe_load((in_tmp_dir / "base.yaml").read_text())
    base["trainer"]["callbacks"] = [{"class_path": "tests.nan_model.DiskFullAtTheStart"}]
    (in_tmp_dir / "base.yaml").write_text(yaml.safe_dump(base))
    err = tune_error([*args, "--trials", "3"], capsys)
    assert err == (
        "mnist-rnn: error: trial 0 failed: no space left on the device; no trial more was started: free some space, "
        "then the same command continues the study\n"
    )  # not fit's advice too (write the run elsewhere with --trainer.default_root_dir)
    study = optuna.load_study(study_name="base", storage=f"sqlite:///{in_tmp_dir / 'tune' / 'base' / 'study.db'}")
    assert [trial.state.name for trial in study.trials] == ["FAIL"]


def test_a_full_disk_while_saving_a_checkpoint_is_told_as_the_studys(tmp_path):
    """fit's advice, "resume with --ckpt_path last", was told after the trial's failure, against tune's own: the
    same tune command continues the study."""
    from mnist_rnn.checkpoint import _disk_full_message

    (tmp_path / "last.ckpt").write_bytes(b"0" * 2000)
    fits = _disk_full_message(str(tmp_path / "last-v1.ckpt"), 1000)
    assert fits.endswith("free some space and resume with --ckpt_path last")
    shown = tune.without_fits_advice(fits)
    assert shown.startswith(f"no space left on the device to write {tmp_path / 'last-v1.ckpt'}: it needs about 2 kB, ")
    assert shown.endswith(f" are free in {tmp_path}") and "--ckpt_path" not in shown


def test_optunas_assertion_after_a_storage_failure_is_the_storages_line():
    """Optuna's "Should not reach." AssertionError, raised as it failed to record a trial's end on a full disk,
    was a traceback: the storage's own error behind it is the line."""
    from sqlalchemy.exc import OperationalError

    internal = optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
    internal.__cause__ = OperationalError("UPDATE trials", {}, Exception("database or disk is full"))
    error = AssertionError("Should not reach.")
    error.__context__ = internal
    assert tune._storage_message(error, "sqlite:///study.db") == (
        "--storage sqlite:///study.db: the disk is full (database or disk is full); the study is kept: free some "
        "space and run the same command again"
    )


def test_a_root_that_holds_another_studys_trials_is_refused(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """Trial folders are named by number alone: a second study in the same --root (the advice for a study made
    with another space is "pass another --study name") wrote over the first one's trials, whose best.yaml,
    written again, then held the second study's trial."""
    stand_in_trials(monkeypatch)
    args = [*write_study_files(in_tmp_dir, fake_data_dir), "--trials", "1", "--root", "shared"]
    main(["tune", *args, "--study", "a"])
    first = (in_tmp_dir / "shared" / "trial_0000" / "config.yaml").read_text()
    capsys.readouterr()
    message = tune_error([*args, "--study", "b"], capsys)
    assert message == (
        "mnist-rnn: error: --root shared holds the trials of study 'a', which study 'b' would write over: pass "
        "another --root (tune/b, say), or --study a to continue that one\n"
    )
    assert (in_tmp_dir / "shared" / "trial_0000" / "config.yaml").read_text() == first
    # The same study again: nothing trained, and it says why (Optuna's n_trials would have added one).
    main(["tune", *args, "--study", "a"])
    out = capsys.readouterr().out
    assert "tune: study 'a' already has 1 finished trials (--trials 1): none trained; --trials 2 runs 1 more" in out


def test_a_stop_after_the_last_trial_without_confirming_says_the_results_are_written(
    fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """A SIGTERM after every trial had finished, with no --confirm-seeds, said "stopped ... while confirming"."""
    stand_in_trials(monkeypatch)
    plots = tune.Tuner._write_plots

    def stopped_while_plotting(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # tune's handler: stopped_by
        plots(self)

    monkeypatch.setattr(tune.Tuner, "_write_plots", stopped_while_plotting)
    with pytest.raises(SystemExit) as stop:
        main(["tune", *write_study_files(in_tmp_dir, fake_data_dir), "--trials", "1"])
    assert stop.value.code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "tune: SIGTERM came after the trials had finished: the table, plots and best.yaml are written" in err
    assert "confirming" not in err and (in_tmp_dir / "tune" / "base" / "best.yaml").is_file()


def test_a_study_with_no_finished_trial_gets_no_empty_plots(tmp_path, capsys):
    from mnist_rnn.study_plots import write_plots

    study = optuna.create_study(direction="maximize")
    trial = study.ask({"model.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1)})
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert write_plots(study, tmp_path / "plots", parameters=2) == []
    assert not (tmp_path / "plots").exists()
    assert capsys.readouterr().out == "tune: no plots yet: no trial has finished\n"


def test_a_trial_fills_tensorboards_hparams_tab_with_its_settings_and_result(fake_data_dir, in_tmp_dir):
    """Trials wrote no HParams (fit writes them at its test, which a trial skips): `tensorboard --logdir ROOT`
    showed one learning curve per trial and no table to compare their settings in."""
    from tests.test_figures import events, hparams_values

    write_study_files(in_tmp_dir, fake_data_dir)
    config = yaml.safe_load((in_tmp_dir / "base.yaml").read_text())
    config["data"]["data_dir"] = str(fake_data_dir)
    folder = in_tmp_dir / "trial_0003"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    storage = f"sqlite:///{in_tmp_dir / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial = study.ask()
    request = {"storage": storage, "study": "s", "trial_id": trial._trial_id, "number": 3, "folder": str(folder)}
    tune._train_trial({**request, "pruner": "none", "pruning": {"startup": 0, "warmup": 0}})
    result = json.loads((folder / "result.json").read_text())
    (run,) = folder.glob("lightning_logs/version_0")
    accumulator = events(run)
    values = hparams_values(accumulator)
    assert values["trial"] == 3 and values["state"] == "complete" and values["hidden_size"] == 8
    assert accumulator.Scalars("tune/best_val_acc")[-1].value == pytest.approx(result["best"])


@pytest.mark.slow
def test_sigterm_to_the_whole_process_group_stops_the_trials_as_sigterm_to_tune_does(fake_data_dir, tmp_path):
    """timeout, kill -- -PGID and Slurm send SIGTERM to every process of the job: it killed the forkserver the
    trials come from, and with it their exit status, so a trial still saving was told as "exit status 255"."""
    args = ["tune", *write_study_files(tmp_path, fake_data_dir), "--trials", "1", "--trainer.max_epochs", "4"]
    db = tmp_path / "tune" / "base" / "study.db"
    run = tune_training(args, tmp_path, db)
    os.killpg(run.pid, signal.SIGTERM)
    assert finish(run) == 128 + signal.SIGTERM
    log = (tmp_path / "run.log").read_text()
    assert "exit status 255" not in log, log
    study = optuna.load_study(study_name="base", storage=f"sqlite:///{db}")
    cut_off = [t for t in study.get_trials() if t.user_attrs.get("cut_off")]
    assert cut_off and all(t.user_attrs["reason"] == "stopped by SIGTERM" for t in cut_off), log


def test_the_terminals_table_reads_at_a_glance():
    """With the default recipe's space the table was 226 characters wide (a failed trial's note made it 400),
    val/acc a fraction where every other line says a percentage, and nothing marked the best trial."""
    row = {"number": 0, "state": "COMPLETE", "val/acc": "0.9774", "epochs": 1.0, "seconds": 331, "seed": 42}
    rows = [
        {**row, "model.lr": 0.00291, "data.batch_size": 64, "note": ""},
        {**row, "number": 1, "state": "FAIL", "val/acc": "", "model.lr": 0.001, "data.batch_size": 128,
         "note": "exit status 1: " + "x" * 100},
    ]  # fmt: skip
    lines = tune._text_table(rows, best=0).splitlines()
    assert lines[0].split() == ["number", "state", "val/acc", "epochs", "seconds", "seed", "lr", "batch_size", "note"]
    assert lines[1].split()[:3] == ["*", "0", "COMPLETE"] and "97.74%" in lines[1]
    note = lines[2].rsplit("  ", 1)[-1]
    assert lines[2].startswith("  1 ") and note.startswith("exit status 1: x") and len(note) == tune.TERMINAL_NOTE
    same_name = [{**rows[0], "data.lr": 1}]  # two options called lr: their whole names
    assert "model.lr" in tune._text_table(same_name).splitlines()[0]


def test_a_file_where_the_root_or_the_storage_needs_a_folder_is_named(fake_data_dir, in_tmp_dir, capsys):
    """--root run1.out/x said "run1.out/x: [Errno 20] Not a directory", naming no option; the storage's folder
    was said not to exist."""
    args = write_study_files(in_tmp_dir, fake_data_dir)
    (in_tmp_dir / "run1.out").write_text("a log")
    err = tune_error([*args, "--root", "run1.out/x"], capsys)
    assert err.endswith("error: --root run1.out/x: run1.out is a file, not a folder\n")
    err = tune_error([*args, "--storage", "sqlite:///run1.out/x.db"], capsys)
    assert err.endswith(
        "error: --storage sqlite:///run1.out/x.db: run1.out is a file, not a folder: name a file in a folder\n"
    )


def test_a_file_name_with_a_line_break_is_named_on_one_line(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """``tune --root $'a\\nb'`` where ``a\\nb`` is a file: "--root a b: a b is a file, not a folder", the halves
    joined by a space, naming ``a b``, which is not there; so --space's and --config's messages, and the line of a
    --root that holds another study's trials. Now each name as bash's ``$'...'`` writes it: pasted, it names the
    file."""
    args = write_study_files(in_tmp_dir, fake_data_dir)
    (in_tmp_dir / "a\nb").write_text("a log")
    err = tune_error([*args, "--root", "a\nb"], capsys)
    assert err == "mnist-rnn: error: --root $'a\\x0ab': $'a\\x0ab' is a file, not a folder\n"
    (in_tmp_dir / "my\nspace.yaml").write_text("# nothing yet\n[]\n")
    err = tune_error([*args[:2], "--space", "my\nspace.yaml"], capsys)
    assert err.startswith("mnist-rnn: error: --space $'my\\x0aspace.yaml': expected option: range lines (")
    err = tune_error(["--config", "my\nbase.yaml", *args[2:]], capsys)
    assert err == "mnist-rnn: error: --config $'my\\x0abase.yaml': no such file\n"
    (in_tmp_dir / "my\nspace.yaml").write_text("model.lrx: {log: [1.0e-3, 1.0e-2]}\n")
    err = tune_error([*args[:2], "--space", "my\nspace.yaml"], capsys)
    assert err.startswith("mnist-rnn: error: --space $'my\\x0aspace.yaml': model.lrx is not an option of fit")
    stand_in_trials(monkeypatch)
    # A base config with a line break in its name: each trial's config.yaml began with a comment line that broke,
    # its second half a line of YAML, and fit refused the file.
    (in_tmp_dir / "my\nbase.yaml").write_text((in_tmp_dir / "base.yaml").read_text())
    args[1] = "my\nbase.yaml"
    main(["tune", *args, "--trials", "1", "--root", "my\nshared", "--study", "a"])
    capsys.readouterr()
    config = (in_tmp_dir / "my\nshared" / "trial_0000" / "config.yaml").read_text()
    assert config.startswith("# tune study 'a', trial 0: $'my\\x0abase.yaml' with\n")
    assert yaml.safe_load(config)["trainer"]["max_epochs"] == 1
    err = tune_error([*args, "--trials", "1", "--root", "my\nshared", "--study", "b"], capsys)
    assert err.startswith("mnist-rnn: error: --root $'my\\x0ashared' holds the trials of study 'a', which study 'b' ")


@pytest.mark.parametrize(
    ("space", "size"),
    [
        ({"model.lr": [0.01]}, 1),
        ({"model.lr": [0.01, 0.01], "data.batch_size": [64, 128, 256]}, 3),  # a repeated choice is one setting
        ({"model.hidden_size": {"int": [8, 64], "step": 8}, "model.cell": ["lstm", "gru"]}, 16),
        ({"model.dropout": {"float": [0.0, 0.3], "step": 0.1}}, 4),
        ({"model.dropout": {"float": [0.0, 0.3]}, "model.cell": ["lstm"]}, None),
        ({"model.lr": {"log": [1.0e-3, 1.0e-2]}}, None),
    ],
)
def test_the_size_of_a_space_counts_its_settings(space, size):
    assert tune.space_size(space) == size


def test_a_space_with_fewer_settings_than_trials_is_warned_of(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """A one-choice space with --trials 3 trained the same settings three times, to the same result, unsaid."""
    requests = stand_in_trials(monkeypatch)
    args = write_study_files(in_tmp_dir, fake_data_dir, space={"model.hidden_size": [8, 16]})
    main(["tune", *args, "--trials", "3"])
    err = capsys.readouterr().err
    assert (
        f"mnist-rnn: warning: --space {in_tmp_dir / 'space.yaml'} holds only 2 settings, fewer than --trials 3: at "
        "least 1 trial would train settings already tried"
    ) in err
    assert len(requests) == 3  # a warning: the study runs as asked
    main(["tune", *args, "--study", "two", "--trials", "2"])
    assert "holds only" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["--max_epochs", "1"], "--trainer.max_epochs"),  # Lightning's own Trainer argument, without its section
        (["--lr=0.01"], "--model.lr"),
        (["--epochs", "1"], "--trainer.max_epochs or --trainer.min_epochs"),
    ],
)
def test_a_fit_option_typed_without_its_section_is_named_by_tune(typed, meant, capsys):
    """`tune ... --max_epochs 1` said "--max_epochs is not an option of tune" and no more, where fit's own
    options may follow tune's and fit names the one meant."""
    space = Path(SEED_CONFIG).parent / "tune_fast.yaml"
    err = tune_error(["--config", SEED_CONFIG, "--space", str(space), *typed], capsys)
    name = typed[0].partition("=")[0]
    assert err == (
        f"mnist-rnn: error: {name} is not an option of tune or fit (did you mean {meant}?); see tune --help\n"
    )


def test_the_commands_tune_gives_to_paste_keep_a_path_or_name_with_a_space_whole(
    fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """The best config's command and the advice for a --root that another study's trials hold put their paths and
    names in as they were: a base config ``my base.yaml`` (so the study ``my base``, in ``tune/my base/``) gave
    ``fit --config tune/my base/best.yaml``, two arguments to the shell."""
    stand_in_trials(monkeypatch)
    args = write_study_files(in_tmp_dir, fake_data_dir)
    base = in_tmp_dir / "my base.yaml"
    Path(args[1]).rename(base)
    args[1] = str(base)
    main(["tune", *args, "--trials", "1"])
    command = re.search(r"\ntune: its config: .+ \(mnist-rnn (.+)\)\n", capsys.readouterr().out)[1]
    assert shlex.split(command) == ["fit", "--config", str(in_tmp_dir / "tune" / "my base" / "best.yaml")]
    error = tune_error([*args, "--trials", "1", "--root", "tune/my base", "--study", "it's new"], capsys)
    root, study = re.search(
        r"pass another --root \((.+), say\), or --study (.+) to continue that one\n", error
    ).groups()
    assert shlex.split(root) == [str(Path("tune", "it's new"))] and shlex.split(study) == ["my base"]


def test_print_config_given_to_tune_says_whose_option_it_is(fake_data_dir, in_tmp_dir, capsys):
    """tune passes the options it lacks on to fit, as settings: ``--print_config`` was "--print_config needs a
    value", as if it were a setting left without one."""
    error = tune_error([*write_study_files(in_tmp_dir, fake_data_dir), "--print_config"], capsys)
    assert error.startswith("mnist-rnn: error: --print_config is fit's, not tune's: mnist-rnn fit --config ")


def test_a_root_whose_path_is_not_utf8_is_refused_before_the_study(fake_data_dir, in_tmp_dir, capsys):
    """``--root caf$'\\xe9'`` (a Latin-1 name): every trial's run folder under it was refused by fit, and tune
    stopped after three failed trials, with the study made; now one line before it."""
    args = [*write_study_files(in_tmp_dir, fake_data_dir), "--root", os.fsdecode(b"caf\xe9")]
    err = tune_error(args, capsys)
    assert err == (
        f"mnist-rnn: error: --root {in_tmp_dir}/caf\\xe9: its path holds the byte 0xe9, which is not UTF-8 text, "
        "and the trials' run folders cannot be in such a folder (the loggers' settings do not take it): pass --root "
        "naming another folder\n"
    )
    assert not (in_tmp_dir / os.fsdecode(b"caf\xe9")).exists()  # no study made


def test_a_root_with_a_line_break_is_named_on_one_line_in_the_results(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """``--root $'my\\nstudy'``: the lines naming the table, the plots, best.yaml and each confirming run's folder
    were each split at the line break, the rest of the name on a line of its own ("study/trials.csv (* the best)").
    Now each path as bash's ``$'...'`` writes it, as the command to paste already was."""
    stand_in_trials(monkeypatch)
    args = [*write_study_files(in_tmp_dir, fake_data_dir), "--trials", "1", "--confirm-seeds", "1"]
    main(["tune", *args, "--root", "my\nstudy"])
    out = capsys.readouterr().out
    root = f"$'{in_tmp_dir}/my\\x0astudy"  # absolute, as tune names its folder
    assert f"\ntune: table of 1 trial in {root}/trials.csv' (* the best)\n" in out
    assert f"\ntune: its config: {root}/best.yaml' (mnist-rnn fit --config {root}/best.yaml')\n" in out
    assert f"\ntune: confirming trial 0 with seed 0 ({root}/confirm/seed_0')\n" in out
    assert not [line for line in out.splitlines() if line.startswith("study")], out
