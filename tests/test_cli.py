"""The real command line, run in-process on the fake data."""

import io
import os
import re
import shlex
import signal
import subprocess
import sys
import warnings
from contextlib import redirect_stderr
from csv import DictReader
from pathlib import Path

import pytest
import torch
import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import ProgressBar

from mnist_rnn.cli import build_cli, main
from mnist_rnn.errors import UserError
from mnist_rnn.model import RNNClassifier
from mnist_rnn.precision import bf16_supported
from tests.bad_inputs import BAD_INPUTS, make_data
from tests.helpers import QUIET, ROOT, SEED_CONFIG, data_args, fit_tiny, one_line_error, render_digit, write_fake_set

# The fits here are checked for what they print and save, not for their test's pictures (tests/test_figures.py).
pytestmark = pytest.mark.usefixtures("figures_not_drawn")

# fit_tiny trains the lab's 128-unit, 2-layer LSTM; these checks need no more than a small one.
SMALL = ["--model.hidden_size", "16"]


def test_seed_config_fast_dev_run(fake_data_dir, in_tmp_dir, capsys):
    cli = build_cli(["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *QUIET, "--trainer.fast_dev_run", "1"])
    assert cli.trainer.state.finished and cli.trainer.global_step == 1
    # fit's test after it is left out, and said to be (Lightning's fast_dev_run runs train, val and test)
    err = capsys.readouterr().err
    assert "mnist-rnn: --trainer.fast_dev_run: no calibration nor test after it (test --trainer.fast_dev_run" in err
    assert cli.model.hparams.hidden_size == 128 and cli.datamodule.batch_size == 20  # the config, then the options
    # A smoke test writes nothing: Lightning's ModelCheckpoint left a checkpoints/last.ckpt in the working folder.
    assert sorted(in_tmp_dir.rglob("*")) == []


def test_fit_writes_checkpoints_logs_and_prints_the_test_accuracy(fake_data_dir, in_tmp_dir, capsys):
    run = fit_tiny(fake_data_dir, *SMALL)
    checkpoints = {p.name for p in (run / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints
    assert any(name.startswith("best-epoch00-val_acc") for name in checkpoints)
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "config.yaml").is_file()
    out = capsys.readouterr()
    assert "Test accuracy" in out.out + out.err and "test error" in out.out + out.err
    # A rerun gets its own folder and never fails on an existing config file.
    assert fit_tiny(fake_data_dir, *SMALL) != run


def test_validate_prints_the_validation_accuracy_of_the_checkpoint(fake_data_dir, in_tmp_dir, capsys):
    run = fit_tiny(fake_data_dir, *SMALL)
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    capsys.readouterr()
    main(["validate", "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    accuracy = float(best.stem.split("val_acc")[1])  # what fit saw on the same 40 held-out images
    assert line == (
        f"Validation accuracy {accuracy:.2%} (error {1 - accuracy:.2%}) on 40 validation images (held out of the "
        f"training set), from {best}"
    )
    # Without --data.val_size, the run's own split (40 images), not the default's 5,000 of 240 (refused) or
    # another draw that holds images the checkpoint trained on, called "held out" all the same.
    own_split = ["validate", "--ckpt_path", str(best), "--data.data_dir", str(fake_data_dir), *QUIET]
    main(own_split)
    assert capsys.readouterr().out.strip().splitlines()[-1] == line
    main([*own_split, "--data.split_seed", "7"])
    out, err = capsys.readouterr()
    assert "mnist-rnn: warning: --data.split_seed 7 (the run's: 0): not the split the checkpoint's run held out" in err
    assert "on 40 validation images (not the run's split)" in out.strip().splitlines()[-1]


def test_checkpoint_alone_rebuilds_the_model(fake_data_dir, in_tmp_dir):
    run = fit_tiny(fake_data_dir, "--model.hidden_size", "32", "--model.cell", "gru")
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    model = RNNClassifier.load_from_checkpoint(best, map_location="cpu").eval()
    assert model.hparams.hidden_size == 32 and model.hparams.cell == "gru"
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    fresh = RNNClassifier(**{k: v for k, v in model.hparams.items() if not k.startswith("_")}).eval()
    fresh.load_state_dict(state)
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    assert torch.equal(model(images), fresh(images))


def test_test_subcommand_reproduces_the_accuracy_from_the_checkpoint(fake_data_dir, in_tmp_dir, capsys):
    run = fit_tiny(fake_data_dir, "--model.hidden_size", "32")
    printed = capsys.readouterr()
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    main(["test", "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    tested = capsys.readouterr().out
    # The fit's final line and the table of the test subcommand give the same number.
    fit_accuracy = float(
        next(line for line in (printed.out + printed.err).splitlines() if "Test accuracy" in line).split()[2][:-1]
    )
    test_accuracy = float(next(line for line in tested.splitlines() if "test/acc" in line).split()[-1])
    assert test_accuracy * 100 == pytest.approx(fit_accuracy, abs=0.01)


def test_missing_data_is_one_clear_line_and_exit_status_2(tmp_path, in_tmp_dir, capsys, no_network):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--data.data_dir", str(tmp_path / "nothing"), *QUIET])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "mnist-rnn: error: MNIST files not found in" in err
    assert "Traceback" not in err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but the data, with its content: to see that nothing was written."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file() and "data" not in p.parts
    }


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda case: case.what)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, in_tmp_dir, capsys, no_network):
    if "gpu" in case.args and torch.cuda.is_available() or "mps" in case.args and torch.backends.mps.is_available():
        pytest.skip("this machine has that GPU")
    data = make_data(in_tmp_dir, case)  # with an earlier run, whose files must stay as they are
    before = snapshot(in_tmp_dir)
    with pytest.raises(SystemExit) as exit_info:
        main([case.command, *data_args(data), *QUIET, *case.args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("mnist-rnn: error: ")]
    assert len(errors) == 1 and case.expected in errors[0], err
    assert "Traceback" not in err
    assert snapshot(in_tmp_dir) == before


def test_a_folder_it_cannot_write_in_is_one_line_before_anything_starts(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """A read-only working folder, or lightning_logs/ in it, ended in TensorBoard's traceback. (The tests run as
    root, whom no permission stops: the check's answer is pretended.)"""
    monkeypatch.setattr("mnist_rnn.cli._writable", lambda folder: folder != in_tmp_dir)
    err = one_line_error(["fit", *data_args(fake_data_dir), *QUIET], capsys)
    assert f"cannot write this run's logs and checkpoints under {in_tmp_dir}: {in_tmp_dir} is not writable" in err
    assert "--trainer.default_root_dir DIR" in err and list(in_tmp_dir.iterdir()) == []
    # A read-only lightning_logs/ in a writable folder (a PermissionError traceback from TensorBoard's makedirs).
    logs = in_tmp_dir / "lightning_logs"
    logs.mkdir()
    monkeypatch.setattr("mnist_rnn.cli._writable", lambda folder: folder != logs)
    err = one_line_error(["fit", *data_args(fake_data_dir), *QUIET], capsys)
    assert f"cannot write this run's logs and checkpoints under {in_tmp_dir}: {logs} is not writable" in err
    assert list(logs.iterdir()) == []
    # test --ckpt_path best: with the advice alone, best then looked for runs under DIR ("no run found").
    err = one_line_error(["test", *data_args(fake_data_dir), *QUIET, "--ckpt_path", "best"], capsys)
    assert "DIR naming a writable folder (--ckpt_path best would then look for runs there: name the run's" in err
    # A read-only --checkpoint.dirpath: Lightning trained an epoch, then ended in a PermissionError traceback.
    saved = in_tmp_dir / "saved"
    saved.mkdir()
    monkeypatch.setattr("mnist_rnn.cli._writable", lambda folder: folder != saved)
    err = one_line_error(["fit", *data_args(fake_data_dir), *QUIET, "--checkpoint.dirpath", "saved/run1"], capsys)
    assert f"checkpoints in --checkpoint.dirpath saved/run1: {saved} is not writable" in err
    assert list(saved.iterdir()) == [] and list(logs.iterdir()) == []


def test_a_readme_recipe_outside_the_project_folder_names_the_projects_file(in_tmp_dir, capsys):
    """``--config configs/fast.yaml`` from another folder: jsonargparse said only "File does not exist"."""
    err = one_line_error(["fit", "--config", "configs/fast.yaml"], capsys)
    project = Path(__file__).resolve().parents[1]
    assert f"no such file in {in_tmp_dir}; the project's own is {project / 'configs' / 'fast.yaml'}" in err
    assert f"(run from {project}, or pass that path)" in err
    err = one_line_error(["fit", "--config", "configs/no_such_recipe.yaml"], capsys)
    assert err == "mnist-rnn: error: --config configs/no_such_recipe.yaml: no such file\n"
    assert "the project's own" not in one_line_error(["fit", "--config", "/elsewhere/configs/fast.yaml"], capsys)
    err = one_line_error(["tune", "--config", "configs/fast.yaml", "--space", "space.yaml"], capsys)  # docs/tune.md's
    assert f"no such file in {in_tmp_dir}; the project's own is {project / 'configs' / 'fast.yaml'}" in err


def test_debug_switch_shows_the_exception(fake_data_dir, in_tmp_dir, monkeypatch):
    monkeypatch.setenv("MNIST_RNN_DEBUG", "1")
    with pytest.raises(ValueError, match="hidden_size"):
        main(["fit", *data_args(fake_data_dir), *QUIET, "--model.hidden_size", "0"])


def test_same_seed_same_result(fake_data_dir, tmp_path, monkeypatch, capsys):
    results = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        run = fit_tiny(
            fake_data_dir, "--model.hidden_size", "32", "--trainer.max_epochs", "2", "--seed_everything", "7"
        )
        out = capsys.readouterr()
        accuracy = next(line for line in (out.out + out.err).splitlines() if line.startswith("Test accuracy"))
        best = next((run / "checkpoints").glob("best-*.ckpt")).name  # holds the epoch and val/acc
        weights = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
        results.append((accuracy.split(" on ")[0], best, weights))
    (accuracy_1, best_1, weights_1), (accuracy_2, best_2, weights_2) = results
    assert accuracy_1 == accuracy_2 and best_1 == best_2
    assert weights_1.keys() == weights_2.keys()
    assert all(torch.equal(weights_1[key], weights_2[key]) for key in weights_1)


FAST = str(Path(SEED_CONFIG).with_name("fast.yaml"))
ONE_EPOCH = ["--model.hidden_size", "16", "--trainer.max_epochs", "1"]


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16 (the fallback is tested)")
def test_fast_config_trains_in_bf16_mixed_precision(fake_data_dir, in_tmp_dir, capsys):
    """configs/fast.yaml runs the LSTM's matrix products in bfloat16 (float32 weights), on a CPU that has it."""
    cli = build_cli(["fit", "--config", FAST, *data_args(fake_data_dir), *QUIET, "--trainer.fast_dev_run", "2"])
    assert cli.trainer.precision == "bf16-mixed"
    assert cli.trainer.state.finished and torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    assert all(p.dtype == torch.float32 for p in cli.model.parameters())
    assert "replaced by" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("precision", "cpu", "why"),
    [
        ("bf16-mixed", "none", "and oneDNN cannot run the LSTM in it"),
        ("bf16-true", "none", "so the LSTM trains many times slower in it than in float32"),
        ("bf16-mixed", "emulated", "and oneDNN only emulates it, so the model trains slower in it than in float32"),
    ],
)
def test_bf16_falls_back_to_float32_on_a_cpu_without_it(
    fake_data_dir, in_tmp_dir, capsys, monkeypatch, precision, cpu, why
):
    """Without AVX512 oneDNN cannot build a bf16 LSTM; with AVX512 but not its bf16 instructions it emulates
    them, slower than float32: train in float32 and say so, once."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: cpu)
    extra = ["--trainer.precision", precision, "--trainer.fast_dev_run", "2"]
    cli = build_cli(["fit", "--config", FAST, *data_args(fake_data_dir), *QUIET, *extra])
    assert cli.trainer.precision == "32-true"
    assert cli.trainer.state.finished and torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    warnings = [line for line in capsys.readouterr().err.splitlines() if "bfloat16" in line]
    assert warnings == [
        f"mnist-rnn: warning: this CPU has no native bfloat16 (AVX512-BF16 or AMX), {why}: "
        f"--trainer.precision {precision} replaced by 32-true (float32)"
    ]


def test_float16_mixed_precision_on_a_cpu_is_bf16s_and_falls_back_likewise(
    fake_data_dir, in_tmp_dir, capsys, monkeypatch
):
    """Lightning trains 16-mixed as bf16-mixed on a CPU (torch has no float16 autocast there): without AVX512 it
    ended in oneDNN's "could not create a primitive descriptor" like bf16-mixed did."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    extra = ["--trainer.precision", "16-mixed", "--trainer.fast_dev_run", "2"]
    cli = build_cli(["fit", *data_args(fake_data_dir), *QUIET, *extra])
    assert cli.trainer.precision == "32-true" and cli.trainer.state.finished
    assert (
        "mnist-rnn: warning: on a CPU Lightning trains 16-mixed as bf16-mixed; this CPU "
        "has no native bfloat16 (AVX512-BF16 or AMX), and oneDNN cannot run the LSTM in it: --trainer.precision "
        "16-mixed replaced by 32-true (float32)"
    ) in capsys.readouterr().err


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16 (the fallback is tested)")
def test_bf16_true_trains_bfloat16_weights_and_tests_them(fake_data_dir, in_tmp_dir, capsys):
    """bf16-true casts the whole network (not the uint8 batches) to bfloat16; it once failed at the first step
    ("RNN input dtype (torch.float32) does not match weight dtype (torch.bfloat16)")."""
    cli = build_cli(["fit", *data_args(fake_data_dir), *QUIET, "--trainer.precision", "bf16-true", *ONE_EPOCH])
    assert {p.dtype for p in cli.model.parameters()} == {torch.bfloat16}
    assert "Test accuracy" in capsys.readouterr().out


def test_a_run_without_checkpoints_tests_its_final_weights(fake_data_dir, in_tmp_dir, capsys):
    """Lightning's --trainer.enable_checkpointing false (it once ended in a MisconfigurationException, as the
    CLI always adds its checkpoint callback): no checkpoint is written, and the test after fit says what it
    tested."""
    run = fit_tiny(fake_data_dir, *SMALL, "--trainer.enable_checkpointing", "false")
    assert list(run.glob("events.out.tfevents.*")) and not (run / "checkpoints").exists()
    assert not list(Path(".").rglob("*.ckpt"))
    out, err = capsys.readouterr()
    tested = [line for line in out.splitlines() if line.startswith("Test accuracy")]
    assert len(tested) == 1 and tested[0].endswith("test images, from the final weights")
    # Nothing was calibrated, and the test's calibration error is of the raw probabilities: said.
    assert "note: no best checkpoint was chosen (no validation, or no checkpoints), so none was calibrated" in err
    assert err.rstrip().endswith("are not how often they are right; none was saved")
    # Without validation: its last.ckpt, and how to calibrate it.
    run = fit_tiny(fake_data_dir, *SMALL, "--trainer.limit_val_batches", "0")
    err = capsys.readouterr().err
    assert f"right; `mnist-rnn calibrate --ckpt_path {run / 'checkpoints' / 'last.ckpt'}` fits one" in err


def test_a_progress_bar_among_the_callbacks_replaces_the_clis_own(fake_data_dir, in_tmp_dir):
    """--trainer.callbacks+=RichProgressBar (here a TQDMProgressBar of the user's): Lightning refused the two."""
    extra = ["--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate", "7"]
    cli = build_cli(["fit", *data_args(fake_data_dir), "--trainer.fast_dev_run", "1", *extra])
    bars = [callback for callback in cli.trainer.callbacks if isinstance(callback, ProgressBar)]
    assert len(bars) == 1 and bars[0].refresh_rate == 7 and cli.trainer.state.finished


def test_a_checkpoint_callback_of_the_users_saves_beside_the_clis_own(fake_data_dir, in_tmp_dir, capsys):
    """--trainer.callbacks+=ModelCheckpoint monitoring val/loss: its files are written too, and the test after fit
    still takes the best val/acc checkpoint (it took the user's, Lightning's first ModelCheckpoint)."""
    extra = ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.monitor", "val/loss"]
    run = fit_tiny(fake_data_dir, *SMALL, *extra)
    names = sorted(path.name for path in (run / "checkpoints").iterdir())
    assert "epoch=0-step=10.ckpt" in names and "last.ckpt" in names
    best = next(name for name in names if name.startswith("best-epoch00-val_acc"))
    assert capsys.readouterr().out.count(f"checkpoints/{best}") == 2  # calibrated, then tested


def test_barebones_trains_without_what_it_refuses(fake_data_dir, in_tmp_dir):
    """--trainer.barebones true (Lightning's mode for measuring its own overhead) ended in a ValueError about the
    logger the CLI adds; it trains with no logger, checkpoint, progress bar or test after fit."""
    cli = build_cli(["fit", *data_args(fake_data_dir), *ONE_EPOCH, "--trainer.barebones", "true"])
    assert cli.trainer.state.finished and cli.trainer.global_step == 10
    assert (
        cli.trainer.logger is None
        and cli.trainer.checkpoint_callback is None
        and cli.trainer.progress_bar_callback is None
    )
    assert not list(in_tmp_dir.rglob("*.ckpt")) and not (in_tmp_dir / "lightning_logs").exists()


def test_a_class_whose_package_is_missing_is_one_line(fake_data_dir, in_tmp_dir, capsys):
    """--trainer.logger WandbLogger without wandb ended in jsonargparse's traceback: Lightning's reason, in one line."""
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *data_args(fake_data_dir), "--trainer.callbacks+=tests.nan_model.NeedsAMissingPackage"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.endswith(
        "mnist-rnn: error: tests.nan_model.NeedsAMissingPackage: Requirement 'absent>=1.0' not met. HINT: Try running "
        "`pip install -U 'absent>=1.0'`\n"
    )
    assert not Path("lightning_logs").exists()
    # A package the Trainer itself asks for: Lightning's reason, in one line too.
    err = one_line_error(["fit", *data_args(fake_data_dir), "--trainer.precision", "transformer-engine"], capsys)
    assert err.startswith("mnist-rnn: error: Requirement 'transformer_engine>=")


def test_a_callback_that_asks_for_a_missing_package_as_the_run_starts_is_one_line(
    fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """DeviceStatsMonitor without psutil: 40 lines of traceback ending in Lightning's own one-line reason."""
    from lightning.fabric.utilities.imports import RequirementCache

    monkeypatch.setattr(
        "lightning.pytorch.callbacks.device_stats_monitor._PSUTIL_AVAILABLE", RequirementCache("absent-psutil")
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *data_args(fake_data_dir), *QUIET, "--trainer.callbacks+=DeviceStatsMonitor"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith(
        "mnist-rnn: error: `DeviceStatsMonitor` cannot log CPU stats as `psutil` is not installed. Requirement "
    )


def test_paths_under_the_home_folder_are_expanded_however_they_come(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """~/ reaches the CLI unexpanded from a YAML config or a quoted option: --trainer.default_root_dir '~/runs'
    logged into a folder named ~ in the working folder and failed writing the checkpoint."""
    home = in_tmp_dir / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "MNIST").symlink_to(fake_data_dir / "MNIST")
    monkeypatch.setenv("HOME", str(home))
    work = in_tmp_dir / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config = work / "run.yaml"
    config.write_text("trainer:\n  default_root_dir: ~/runs\ndata:\n  data_dir: ~/data\n")
    extra = ["--data.val_size", "40", "--data.batch_size", "20", *ONE_EPOCH]
    main(["fit", "--config", str(config), *QUIET, *extra])
    assert list(work.iterdir()) == [config]  # no folder named ~ here
    best = next((home / "runs" / "lightning_logs" / "version_0" / "checkpoints").glob("best-*.ckpt"))
    main(["export", "--ckpt_path", f"~/{best.relative_to(home)}", "--format", "pt2", "--output", "~/digits.pt2"])
    assert (home / "digits.pt2").is_file() and f"from {best}" in capsys.readouterr().out


def test_the_cli_built_without_a_subcommand_checks_the_settings_too(fake_data_dir, in_tmp_dir, capsys, monkeypatch):
    """tune's trials and the benchmarks build the CLI with run=False (no subcommand): the same float32
    fallback, or their bf16 configs fail on a CPU without bfloat16 ("could not create a primitive descriptor")."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    cli = build_cli(["--config", FAST, *data_args(fake_data_dir), *QUIET, "--trainer.fast_dev_run", "2"], run=False)
    assert cli.trainer.precision == "32-true" and "replaced by 32-true" in capsys.readouterr().err
    with pytest.raises(UserError, match="must be positive"):
        build_cli(["--config", FAST, *data_args(fake_data_dir), "--trainer.max_epochs", "0"], run=False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "a command is needed: fit, validate, test, predict, export, serve, calibrate or tune (see --help)"),
        (["serv"], "no command 'serv' (did you mean serve?): choose fit, validate, test, predict, export, serve, "),
        (["train", "--data.data_dir", "data"], "no command 'train' (did you mean fit?): choose fit, "),
    ],
)
def test_a_missing_or_unknown_command_lists_them_all(args, expected, capsys):
    """LightningCLI's own message listed fit, validate, test and predict only: not serve, the page's command."""
    assert one_line_error(args, capsys).startswith(f"mnist-rnn: error: {expected}")


def test_version_names_the_packages_a_bug_report_needs(capsys):
    main(["--version"])
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"mnist-rnn \S+ .*\(torch \S+ with (CUDA \S+|no CUDA), lightning \S+, Python 3\.\d+\.\d+\)\n", out
    )


def test_a_tool_without_its_extra_names_the_extra_to_install(monkeypatch, capsys):
    """pip install -e . alone has no LitServe: serve says how to get it, in one line, not a traceback."""
    for module in ("mnist_rnn.serve", "mnist_rnn.serve.app"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setitem(sys.modules, "litserve", None)  # import litserve: ModuleNotFoundError
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--ckpt_path", "model.ckpt"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        'mnist-rnn: error: serve needs litserve, which is not installed: pip install -e ".[serve]"\n'
    )


def test_serve_onnx_backend_without_onnxruntime_names_the_extra_before_any_work(monkeypatch, capsys):
    """Only serve's inference worker imports onnxruntime, in its own process: without it serve exported the
    checkpoint, then ended in two tracebacks of the worker's."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--ckpt_path", "model.ckpt", "--backend", "onnx"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        'mnist-rnn: error: serve needs onnxruntime, which is not installed: pip install -e ".[serve]"\n'
    )


def test_help_explains_ckpt_path_in_this_projects_terms_and_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "`last`: the newest last.ckpt of an earlier run with this command's settings" in out
    assert "hpc" not in out and "Path/URL of the checkpoint" not in out  # Lightning's own help for it
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: mnist-rnn [-h] [-c CONFIG] {fit,validate,test,predict,export,serve,calibrate,tune}")
    # Every command in the list, each described in whole sentences (Lightning's were cut mid-sentence).
    words = " ".join(out.split())
    assert "export write the model as ONNX" in words and "serve an HTTP server" in words
    assert "calibrate fit a checkpoint's" in words and "tune search fit's settings" in words
    assert "test score a checkpoint on the test set" in words and "make sure you never run on your" not in words
    # The commands first, under a title of their own, each on one line with its help (jsonargparse's "Available
    # subcommands:" stood after options only a config of every command uses, above "(required)"), and where to begin.
    assert "Available subcommands" not in out and "(required)" not in out
    assert out.index("\ncommands:\n  Add --help after a command for its options: fit --help.\n") < out.index("options:")
    assert re.search(r"\n  fit +train, then calibrate and test the best checkpoint\n", out)
    assert "\n  mnist-rnn fit --config configs/fast.yaml\n" in out
    assert "\n  mnist-rnn predict --ckpt_path best --data.predict_path my_digits/\n" in out
    # Each command's own --help too: it began with Lightning's cut sentence, also the title of --ckpt_path's group.
    for command in ("fit", "test"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        words = " ".join(capsys.readouterr().out.split())
        assert f"The checkpoint, and {command}'s own options: --ckpt_path CKPT_PATH" in words
    assert "Score a checkpoint on the test set, with TensorBoard's pictures of it." in words
    # Its --model options are the project's defaults, which the checkpoint's settings replace as it runs.
    assert (
        "It uses the checkpoint's model, with its settings: the --model options below (the project's defaults) do "
        "not change it; and unless given here, the data set, its folder (where it is still there) and the precision "
        "are the checkpoint's too." in words
    )
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert (
        "with its settings and its data set's classes: the --model options below (the project's defaults) do not "
        "change it; it runs in float32 (32-true)." in " ".join(capsys.readouterr().out.split())
    )
    assert "make sure you never run on your" not in words
    # --checkpoint.dirpath: Lightning's help said nothing is saved without one; the run's folder has them.
    assert "(lightning_logs/version_N/checkpoints/)" in words and "do not save anything to disk" not in words


def test_a_commands_help_lists_what_it_uses_and_it_still_takes_fits_own(capsys):
    """predict --help began with a usage line that listed every option, and described the options of training,
    of its checkpoints and of the progress bar that predict turns off."""
    helps = {}
    for command in ("fit", "predict"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = capsys.readouterr().out
    usage, _, rest = helps["predict"].partition("\n")
    assert usage == "usage: mnist-rnn predict [-h] [-c CONFIG] [--print_config[=flags]] [options]"
    assert "Options that do nothing in predict are not listed here" in " ".join(rest.split())
    for option in ("--data.predict_path", "--ckpt_path", "--checkpoint.dirpath", "--trainer.accelerator"):
        assert option in rest
    fits_own = ("--trainer.max_epochs", "--trainer.gradient_clip_val", "--checkpoint.filename", "--finite_loss.")
    # The progress bar's too: predict's never refreshes (stdout is its table), whatever they say.
    for option in (*fits_own, "--progress_bar.refresh_rate", "--trainer.enable_progress_bar"):
        assert option not in helps["predict"] and option in helps["fit"]
    assert len(helps["predict"].splitlines()) < 0.75 * len(helps["fit"].splitlines())
    # Still taken: a run's config.yaml holds them all, and is given to predict as its --config.
    with pytest.raises(SystemExit):
        main(["predict", "--trainer.max_epochs", "4", "--checkpoint.filename", "x", "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["max_epochs"] == 4 and printed["checkpoint"]["filename"] == "x"


def _option_helps(help_text: str) -> dict[str, str]:
    """Each option of a --help (``--trainer.max_epochs``) -> its help, in one line."""
    blocks = re.split(r"\n  (?=--)", help_text)
    return {block.split()[0]: " ".join(block.split()[1:]) for block in blocks[1:]}


def test_help_says_this_projects_defaults_in_plain_text(capsys):
    """fit --help showed Lightning's docstrings as written for Sphinx (``lstm``, :class:`datetime.timedelta`), and
    their defaults beside this project's: "Disabled by default (None) ... defaults to max_epochs = 1000" with
    "default: 15", "Default: None" with "default: 1.0"."""
    helps = {}
    for command in ("fit", "validate", "test", "predict"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = capsys.readouterr().out
        for markup in ("``", ":class:", ":paramref:", ">`_"):
            assert markup not in helps[command], (command, markup)
    options = _option_helps(helps["fit"])
    assert options["--trainer.max_epochs"] == (
        "MAX_EPOCHS Stop training once this number of epochs is reached. To enable infinite training, set "
        "max_epochs = -1. (type: Optional[int], default: 15)"
    )
    assert "Default: None" not in options["--trainer.gradient_clip_val"]
    assert options["--trainer.gradient_clip_val"].endswith("(type: Union[float, int, null], default: 1.0)")
    assert "Default: None" not in options["--checkpoint.save_last"]
    assert "By default it is None" not in options["--checkpoint.monitor"]
    assert "filename is None" not in options["--checkpoint.filename"]
    assert "Default: True" not in options["--trainer.logger"]
    assert "A true value uses the default TensorBoardLogger" in options["--trainer.logger"]  # what true does
    # No option states a default other than its own (null: Lightning chooses, as its sentence says).
    for option, text in options.items():
        stated = re.search(r"\bDefault: (\S+?)\.? \(.*\bdefault: (.+?)(?:, known subclasses.*)?\)$", text)
        if stated and stated[2] != "null":
            assert stated[1].strip("'\"") == stated[2], (option, text)
    # Where Lightning's default is the one used, its sentence stays, now in plain text; the project's own too.
    assert "Disabled by default (null)." in options["--trainer.min_epochs"]
    assert options["--trainer.num_sanity_val_steps"].endswith("(type: Optional[int], default: null, meaning 2)")
    assert "as a datetime.timedelta" in options["--trainer.max_time"]
    assert "Recurrent cell: lstm, gru or rnn (tanh)." in options["--model.cell"]
    assert "on Serialization Semantics (https://docs.pytorch" in options["--weights_only"]  # a link
    # A group's title: the progress bar's was its docstring's first lines, cut before the list they announced.
    assert "\nThe progress bar (Lightning's TQDMProgressBar):\n  --progress_bar CONFIG" in helps["fit"]
    assert "tqdm package and:" not in helps["fit"]


def _help(args: list[str], capsys, monkeypatch, columns: int = 80) -> str:
    """The --help that ``args`` print in a terminal of ``columns`` columns."""
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


FAST_CONFIG = str(ROOT / "configs" / "fast.yaml")


def test_help_after_a_config_shows_its_values(capsys, monkeypatch):
    """``fit -c configs/fast.yaml --help`` showed the project's defaults (max_epochs 15, precision null), not the
    config's (3, bf16-mixed), and nothing said that the config would replace them."""
    plain_help = _help(["fit", "--help"], capsys, monkeypatch)
    assert "The defaults shown are" not in plain_help
    assert _option_helps(plain_help)["--trainer.max_epochs"].endswith("default: 15)")
    out = _help(["fit", "-c", FAST_CONFIG, "--model.lr", "0.02", "--help"], capsys, monkeypatch)
    words = " ".join(out.split())
    assert (
        f"The defaults shown are the project's, overridden by those of --config {FAST_CONFIG} and the options "
        "before --help." in words
    )
    options = _option_helps(out)
    assert options["--trainer.max_epochs"].endswith("(type: Optional[int], default: 3)")
    assert options["--trainer.precision"].endswith("default: bf16-mixed)")
    assert "32-true'." not in options["--trainer.precision"]  # Lightning's default, not this command's
    assert options["--model.weight_decay"].endswith("(type: float | null, default: 0.01)")
    assert options["--model.lr"].endswith("(type: float, default: 0.02)")  # typed before --help
    assert options["--model.cell"].endswith("default: lstm)")  # the same either way
    # A config after --help is not read (argparse prints the help as it meets --help): said, not shown.
    out = " ".join(_help(["test", "--help", "--config", FAST_CONFIG], capsys, monkeypatch).split())
    assert "The defaults shown are the project's: a --config after --help is not read" in out
    assert "(type: Union[Literal[64, 32, 16]" in out and "default: null, meaning '32-true')" in out


def test_help_says_each_default_once(capsys, monkeypatch):
    """Lightning's docstrings say what null means ("Default: 1.0.") beside jsonargparse's "default: null": two
    defaults, for a newcomer. And "None", which the command line refuses (it takes null)."""
    for command in ("fit", "validate", "test", "predict"):
        out = _help([command, "--help"], capsys, monkeypatch)
        assert not re.search(r"(?<!=)(?<!= )\bNone\b", out), command  # (but Python's: ``max_epochs = None``)
        for option, text in _option_helps(out).items():
            if "default: null" in text:
                assert not re.search(r"\bDefaults?(:| to) ", text), (command, option, text)
    options = _option_helps(out)
    for option in ("limit_val_batches", "limit_test_batches", "limit_predict_batches"):
        assert options[f"--trainer.{option}"].endswith(
            ". Value is per device. (type: int | float | null, default: null, meaning 1.0)"
        )
    assert options["--trainer.enable_checkpointing"].endswith("(type: Optional[bool], default: null, meaning true)")
    assert options["--trainer.log_every_n_steps"] == (
        "LOG_EVERY_N_STEPS How often to log within steps. (type: Optional[int], default: null, meaning 50)"
    )
    assert options["--trainer.deterministic"].endswith(
        "If not set, defaults to false. (type: Union[bool, Literal['warn'], null], default: null)"
    )
    options = _option_helps(_help(["fit", "--help"], capsys, monkeypatch))
    assert options["--trainer.gradient_clip_algorithm"].endswith('default: null, meaning "norm")')
    # null as typed, also where it starts a sentence: "Null keeps ..." read as a noun, not the value to type
    assert "LSTM only. null keeps PyTorch's initial biases" in options["--model.forget_bias"]
    assert "null: 0.05 for AdamW, 0 for Adam." in options["--model.weight_decay"]
    # The seed's: LightningCLI's ran two sentences together ("before classes instantiation.Set to True").
    assert options["--seed_everything"].startswith(
        "SEED_EVERYTHING Seed of the random generators (Python's, NumPy's, torch's and the DataLoader workers'), set "
        "before the model and data are made: a whole number from 0 to 4294967295; true draws one at random (said, "
        "and saved in the run's config.yaml); false seeds nothing. (type: Union[bool, int], default: 42)"
    )
    # ModelCheckpoint's doctest, which argparse ran into the prose (">>> checkpoint_callback = ModelCheckpoint(
    # ... dirpath='my/path', ..."), is left out.
    assert options["--checkpoint.filename"] == (
        "FILENAME checkpoint filename. Can contain named formatting options to be auto-filled. (type: Optional[str], "
        "default: best-epoch{epoch:02d}-val_acc{val/acc:.4f})"
    )


# Python's True, False or None in prose: neither in Python's code ("shuffle=True", "max_epochs = None") nor, True
# or False, capitalised at a sentence's start ("CSVLogger. False will disable logging.").
_PYTHONS_IN_PROSE = re.compile(r"(?<!=)(?<!= )(?<![.!?] )\b(True|False)\b|(?<!=)(?<!= )\bNone\b")


def test_help_says_true_false_and_null_as_the_command_line_takes_them(capsys, monkeypatch):
    """A bool option's help said "default: False" beside its choices {true,false}, and a logger's default
    {'version': None}: Python's spellings, where the command line takes true, false and null (that dict, pasted
    back as --trainer.logger, set the version to the string "None")."""
    for command in ("fit", "validate", "test", "predict"):
        out = _help([command, "--help"], capsys, monkeypatch)
        assert not _PYTHONS_IN_PROSE.search(" ".join(out.split())), command
    options = _option_helps(out)
    assert options["--trainer.detect_anomaly"] == (
        "{true,false} Enable anomaly detection for the autograd engine. Default: false. (type: bool, default: false)"
    )
    assert options["--trainer.use_distributed_sampler"].endswith("(type: bool, default: true)")
    assert options["--trainer.fast_dev_run"].endswith("(type: Union[int, bool], default: false)")
    out = _help(["fit", "--trainer.logger", "CSVLogger", "--help"], capsys, monkeypatch)
    assert not _PYTHONS_IN_PROSE.search(" ".join(out.split()))
    shown = re.search(r", default: (\{.*\}), known subclasses", _option_helps(out)["--trainer.logger"])[1]
    assert "'version': null" in shown
    # As shown, it reads back (YAML, as the command line reads a dict) as the logger's default.
    assert yaml.safe_load(shown) == {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": ".", "name": "lightning_logs", "version": None, "prefix": ""},
    }


def test_help_of_lightnings_loggers_and_callbacks_reads_as_written(capsys, monkeypatch):
    """--trainer.logger.help TensorBoardLogger showed "default: null, meaning null in which logs are saved in
    /save_dir/name/version/" (a sentence taken for a value), an empty string as "default: )", and lowercasing
    Python's True and False ran into Python's code ("shuffle=true") and a sentence's start ("CSVLogger. false
    will disable logging.")."""
    options = _option_helps(_help(["fit", "--trainer.logger.help", "TensorBoardLogger"], capsys, monkeypatch, 200))
    assert options["--trainer.logger.sub_dir"].endswith(
        "Defaults to null in which logs are saved in /save_dir/name/version/. (type: Union[str, Path, null], "
        "default: null)"
    )
    assert options["--trainer.logger.prefix"].endswith("(type: str, default: '')")
    assert options["--trainer.logger.comment"].endswith("(type: Union[str, Untyped], default: '')")
    options = _option_helps(_help(["fit", "--trainer.logger.help", "CSVLogger"], capsys, monkeypatch, 200))
    assert options["--trainer.logger.prefix"].endswith("(type: str, default: '')")
    for callback in ("EarlyStopping", "ModelCheckpoint", "LearningRateMonitor"):
        out = _help(["fit", "--trainer.callbacks.help", callback], capsys, monkeypatch, 200)
        for option, text in _option_helps(out).items():
            assert not re.search(r"meaning \S+ ", text), (callback, option, text)  # a value, not a sentence
            assert "default: )" not in text, (callback, option, text)
    options = _option_helps(_help(["fit", "--help"], capsys, monkeypatch, 200))
    assert "otherwise CSVLogger. False will disable logging." in options["--trainer.logger"]
    assert (
        "it will add shuffle=True for the train sampler and shuffle=False for"
        in (options["--trainer.use_distributed_sampler"])
    )
    assert "use weights_only=False. If" in options["--weights_only"]
    assert options["--checkpoint.every_n_epochs"].startswith("EVERY_N_EPOCHS Number of epochs between checkpoints.")
    assert "saving of save_last=True checkpoints." in options["--checkpoint.every_n_epochs"]
    assert "LSTM only. null keeps PyTorch's initial biases" in options["--model.forget_bias"]


def test_a_percent_sign_in_a_default_is_shown_as_written():
    """jsonargparse fills the help from a template that reads %(...)s: a null's meaning with a % was shown with two
    ("meaning 50%%"), and a default written into it must not be read as one."""
    from jsonargparse import ArgumentParser

    from mnist_rnn.help import PlainHelpFormatter

    parser = ArgumentParser(prog="p", formatter_class=PlainHelpFormatter)
    parser.add_argument("--share", type=float | None, default=None, help="Part kept. Default: ``50%``.")
    parser.add_argument("--name", default="run-%(prog)s", help="A name.")
    options = _option_helps(parser.format_help())
    assert options["--share"] == "SHARE Part kept. (type: float | null, default: null, meaning 50%)"
    assert options["--name"] == "NAME A name. (default: run-%(prog)s)"


@pytest.mark.parametrize("columns", [80, 50])
def test_help_cuts_no_word(columns, capsys, monkeypatch):
    """argparse cut a URL, a class's path or a quoted value at the line's end ("https://docs.pytorch" /
    ".org/docs/...", "lightn" / "ing.pytorch...", "'transformer-" / "engine'"): copied, it was wrong. A group's
    title ran past the terminal's edge in one line."""
    out = _help(["fit", "--help"], capsys, monkeypatch, columns)
    lines = out.splitlines()
    for whole in (
        "(https://docs.pytorch.org/docs/main/notes/serialization.html#id3).",
        "lightning.pytorch.callbacks.GradientAccumulationScheduler,",
        "lightning.fabric.plugins.environments.TorchElasticEnvironment,",
        "'transformer-engine',",
        "best-epoch{epoch:02d}-val_acc{val/acc:.4f})",
    ):
        assert any(whole in line for line in lines), whole
    for line in lines[1:]:  # (the usage: one line, as cli.py writes it)
        if len(line) > columns - 2:  # argparse's width: a word longer than the room left, or an option's name
            assert " " not in line.strip() or re.match(r"  \S", line), line
    title = "ModelCheckpoint that keeps last.ckpt current, saves it when stopped, and says how to resume:"
    assert title in " ".join(out.split()) and title not in out  # in the terminal's width
    if columns == 50:
        # argparse kept the help at column 24, which left 24 columns of a 50-column terminal to it: class paths
        # ran past the edge. In a narrow terminal the help starts below its option, further left.
        assert "\n  --seed_everything SEED_EVERYTHING\n      Seed of the random generators" in out
        assert "      lightning.pytorch.callbacks.ModelCheckpoint," in lines


def test_help_in_a_narrow_ascii_terminal(tmp_path):
    """The real command, as a terminal with LANG=C and 50 columns runs it: the config's values, in ASCII."""
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "COLUMNS": "50", "PYTHONPATH": str(ROOT)}
    ran = subprocess.run(
        [sys.executable, "-m", "mnist_rnn", "fit", "-c", FAST_CONFIG, "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout.decode("ascii")
    words = " ".join(out.split())
    assert f"The defaults shown are the project's, overridden by those of --config {FAST_CONFIG}." in words
    assert "default: bf16-mixed)" in words and "(type: Optional[int], default: 3)" in words
    assert "lightning.pytorch.callbacks.GradientAccumulationScheduler," in out.split()


def test_last_resumes_a_run_that_saved_the_weight_decay_its_null_now_means(fake_data_dir, in_tmp_dir, capsys):
    """Runs of the defaults saved AdamW's decay, 0.05, before weight_decay null meant the optimiser's own: the same
    command's `--ckpt_path last` refused them ("model.weight_decay=0.05 (this command: None)")."""
    main(resume_args(fake_data_dir, 1, "--model.weight_decay", "0.05"))  # as the defaults saved it before
    main(resume_args(fake_data_dir, 2, "--ckpt_path", "last"))
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err
    last = torch.load(Path("lightning_logs/version_1/checkpoints/last.ckpt"), weights_only=False)
    assert last["global_step"] == 20  # the second epoch of 10 steps trained on from the first
    # Adam's own is 0: a run that gave Adam 0.05 is not the same command's run.
    err = one_line_error(resume_args(fake_data_dir, 3, "--model.optimizer", "adam", "--ckpt_path", "last"), capsys)
    assert "model.optimizer='adamw' (this command: 'adam'), model.weight_decay=0.05 (this command: 0.0)" in err


def test_resuming_with_fewer_steps_than_the_checkpoint_made_is_one_line(fake_data_dir, in_tmp_dir, capsys):
    main(resume_args(fake_data_dir, 1))  # 10 steps of a one-cycle schedule
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(resume_args(fake_data_dir, 2, "--trainer.limit_train_batches", "2", "--ckpt_path", "last"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        "mnist-rnn: error: the checkpoint has trained 10 steps, but this run's one-cycle lr schedule ends after 4"
        in err
    )
    assert "Traceback" not in err
    # Said before a step was trained: the run folder it had begun, holding only its settings, is gone.
    assert [path.name for path in Path("lightning_logs").iterdir()] == ["version_0"]


def test_help_names_the_program_and_what_it_does(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mnist-rnn ")  # sys.argv[0] is "mnist-rnn" here (the installed script)
    assert "recurrent network" in out and "Lightning Trainer command line tool" not in out


@pytest.mark.parametrize(
    ("argv0", "program"), [("mnist-rnn", "mnist-rnn"), ("/x/mnist_rnn/__main__.py", "python -m mnist_rnn")]
)
def test_a_classs_help_names_the_program(argv0, program, monkeypatch, capsys):
    """jsonargparse's parser of a class's help has no name of its own: it printed ``usage: __main__.py``."""
    monkeypatch.setattr("sys.argv", [argv0])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--trainer.callbacks.help", "EarlyStopping"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {program} --trainer.callbacks.monitor MONITOR")


def test_only_user_errors_become_one_line(fake_data_dir, in_tmp_dir, monkeypatch):
    # A bug inside torch or Lightning shows its traceback instead of hiding behind exit status 2.
    def bug(self):
        raise ValueError("a bug, not a bad input")

    monkeypatch.setattr(RNNClassifier, "configure_optimizers", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["fit", *data_args(fake_data_dir), *QUIET, "--trainer.fast_dev_run", "1"])


def resume_args(data_dir, max_epochs: int, *extra: str) -> list[str]:
    """The default recipe (one-cycle schedule) on the fake data, tiny."""
    return [
        "fit",
        *data_args(data_dir),
        *QUIET,
        "--model.hidden_size",
        "16",
        "--trainer.max_epochs",
        str(max_epochs),
        *extra,
    ]


def test_last_resumes_only_a_run_of_the_commands_precision_and_test_runs_in_the_runs(fake_data_dir, in_tmp_dir, capsys):
    """The precision is a setting of the run too: --ckpt_path last went on with a float64 run in float32 without
    a word (the checkpoint does not hold it: the run's config.yaml does)."""
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "64-true"))
    capsys.readouterr()
    # The same number of epochs: nothing to train (it went on to calibrate and test again, in a new run folder).
    with pytest.raises(SystemExit) as exit_info:
        main(resume_args(fake_data_dir, 1, "--trainer.precision", "64-true", "--ckpt_path", "last"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "its run has trained its one epoch (--trainer.max_epochs 1): nothing is left to train" in err
    assert "resuming from" not in err  # it said so before its refusal
    # What its fit ended with: the best checkpoint, calibrated (last.ckpt, at T = 1, was named).
    (best,) = Path("lightning_logs/version_0/checkpoints").glob("best-*.ckpt")
    assert err.rstrip().endswith(f"or test it (mnist-rnn test --ckpt_path {best})")
    assert not Path("lightning_logs/version_1").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(resume_args(fake_data_dir, 2, "--ckpt_path", "last"))
    assert exit_info.value.code == 2
    assert "has trainer.precision='64-true' (this command: '32-true')" in capsys.readouterr().err
    main(resume_args(fake_data_dir, 2, "--trainer.precision", "64", "--ckpt_path", "last"))  # 64: 64-true
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err
    # test runs in the run's precision, as fit's own test did (in float32 it gave other numbers); unless told.
    last = "lightning_logs/version_1/checkpoints/last.ckpt"
    tested = ["test", *data_args(fake_data_dir), *QUIET, "--ckpt_path", last]
    main(tested)
    err = capsys.readouterr().err
    assert "running in 64-true, the precision the checkpoint's run trained in (--trainer.precision sets another)" in err
    main([*tested, "--trainer.precision", "32-true"])
    assert "running in" not in capsys.readouterr().err


def test_a_finished_run_trains_longer_and_last_takes_the_commands_own_run(fake_data_dir, in_tmp_dir, capsys):
    main(resume_args(fake_data_dir, 1, "--model.cell", "gru"))  # version_0: the run to extend
    # version_1: newer, a smoke run of the same model (it was the one resumed: only the model was compared)
    main(resume_args(fake_data_dir, 1, "--model.cell", "gru", "--trainer.limit_train_batches", "2"))
    main(resume_args(fake_data_dir, 1, "--model.hidden_size", "32"))  # version_2: newer, another run
    capsys.readouterr()
    main(resume_args(fake_data_dir, 2, "--model.cell", "gru", "--ckpt_path", "last"))
    err = capsys.readouterr().err
    assert "mnist-rnn: resuming from lightning_logs/version_0/checkpoints/last.ckpt" in err
    assert "the onecycle lr schedule of the checkpoint spanned 10 steps, this run spans 20" in err
    final = torch.load("lightning_logs/version_3/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert final["global_step"] == 20 and final["hyper_parameters"]["cell"] == "gru"
    assert final["lr_schedulers"][0]["total_steps"] == 20
    # Typed options that disagree with the checkpoint: an error for fit, a warning naming them for test.
    with pytest.raises(SystemExit) as exit_info:
        main(resume_args(fake_data_dir, 3, "--ckpt_path", "lightning_logs/version_3", "--model.cell", "lstm"))
    assert exit_info.value.code == 2
    assert "model.cell='lstm' (checkpoint: 'gru')" in capsys.readouterr().err
    main(["test", *data_args(fake_data_dir), *QUIET, "--ckpt_path", "best", "--model.cell", "gru"])
    err = capsys.readouterr().err
    # The gru run's best, which its resumed part (version_3) records: its own, or version_0's if not beaten.
    (recorded,) = {state["best_model_path"] for state in final["callbacks"].values() if "best_model_path" in state}
    assert f"mnist-rnn: using {Path(recorded)}\n" in err and "best-epoch" in recorded
    main(["test", *data_args(fake_data_dir), *QUIET, "--ckpt_path", "lightning_logs/version_3", "--model.cell", "lstm"])
    err = capsys.readouterr().err
    assert (
        "mnist-rnn: warning: ignoring model.cell='lstm' (checkpoint: 'gru'): the checkpoint's settings are used" in err
    )


def test_default_root_dir_holds_logs_and_checkpoints_and_the_test_line_counts_the_tested(
    fake_data_dir, in_tmp_dir, capsys
):
    limits = ["--trainer.limit_train_batches", "2", "--trainer.limit_test_batches", "2"]
    main(resume_args(fake_data_dir, 1, "--trainer.default_root_dir", "out", *limits))
    assert (in_tmp_dir / "out" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    assert list((in_tmp_dir / "out" / "lightning_logs" / "version_0").glob("events.out.tfevents.*"))
    assert not (in_tmp_dir / "lightning_logs").exists()
    out = capsys.readouterr()
    assert "on 40 test images" in out.out + out.err  # 2 batches of 20, of the 60
    main(resume_args(fake_data_dir, 2, "--trainer.default_root_dir", "out", *limits, "--ckpt_path", "last"))
    assert "resuming from out/lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err


def test_a_run_early_stopping_ended_is_not_trained_again_by_the_same_command(fake_data_dir, in_tmp_dir, capsys):
    """Each repeat of the resume command (a scheduler's requeue) trained one more epoch past the early stop,
    and chose a new best, without a word."""
    stop = ["--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor=val/acc", "--trainer.callbacks.mode=max",
            "--trainer.callbacks.stopping_threshold=0.0"]  # fmt: skip
    main(resume_args(fake_data_dir, 3, *stop))
    assert torch.load("lightning_logs/version_0/checkpoints/last.ckpt", weights_only=True)["epoch"] == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(resume_args(fake_data_dir, 3, *stop, "--ckpt_path", "last"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "its run has trained until EarlyStopping stopped it after epoch 0 (Stopping threshold reached" in err
    assert "resume without the EarlyStopping callback (or with more patience) to train it on" in err
    assert not Path("lightning_logs/version_1").exists()
    main(resume_args(fake_data_dir, 2, "--ckpt_path", "last"))  # without it, the run trains on
    assert torch.load("lightning_logs/version_1/checkpoints/last.ckpt", weights_only=True)["epoch"] == 1


@pytest.mark.parametrize(
    ("written", "tested"),
    [
        (["--trainer.limit_test_batches", "1"], 20),  # it was 1.0, all 60: jsonargparse reads them as floats
        (["--trainer.limit_test_batches=1.0"], 60),
        (["--config", "limits.yaml"], 20),  # limit_test_batches: 1 in the file
    ],
)
def test_a_limit_of_1_batch_written_without_a_point_is_one_batch(fake_data_dir, in_tmp_dir, capsys, written, tested):
    (in_tmp_dir / "limits.yaml").write_text("trainer:\n  limit_test_batches: 1\n")
    one_batch = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    main(["fit", *data_args(fake_data_dir), *QUIET, *one_batch, *written])
    out = capsys.readouterr().out
    assert f"on {tested} test images" in out
    # The temperature is fitted on the whole split, which the line says where validation read a part.
    assert "(the whole split, not only the part validated): temperature" in out and "on the 40 validation images" in out
    # The run's config.yaml runs it again: it said 1.0 for the 1 (and --print_config too).
    main(["fit", "--config", "lightning_logs/version_0/config.yaml"])
    assert f"on {tested} test images" in capsys.readouterr().out


@pytest.mark.parametrize("device", [None, "cuda:1"])
def test_a_config_with_a_callbacks_device_is_written_so_that_it_runs_again(device, fake_data_dir, in_tmp_dir, capsys):
    """StochasticWeightAveraging's default device, torch.device("cpu"), was written as "Unable to serialize
    instance cpu": the run's config.yaml (and --print_config's) ended in torch's "Invalid device string"."""
    swa = ["--trainer.callbacks+=StochasticWeightAveraging", "--trainer.callbacks.swa_lrs", "0.01"]
    swa += ["--trainer.callbacks.device", device] if device else []
    with pytest.raises(SystemExit):
        main(["fit", *data_args(fake_data_dir), *swa, "--print_config"])
    printed = capsys.readouterr().out
    assert f"device: {device or 'cpu'}\n" in printed
    settings = yaml.safe_load(printed)
    del settings["ckpt_path"], settings["weights_only"]  # fit's own options; the run's settings are the rest
    (in_tmp_dir / "swa.yaml").write_text(yaml.safe_dump(settings))
    cli = build_cli(["--config", "swa.yaml", "--trainer.logger", "false"], run=False)
    (callback,) = [c for c in cli.trainer.callbacks if type(c).__name__ == "StochasticWeightAveraging"]
    assert torch.device(callback._device) == torch.device(device or "cpu")


def test_a_config_with_a_timer_callback_is_written_and_runs_again(fake_data_dir, in_tmp_dir, capsys):
    """Timer's interval defaults to Lightning's Interval.step, a string enum YAML's safe dumper refused: any fit
    with a Timer callback ended in a traceback as it wrote its config.yaml (and --print_config too)."""
    timer = ["--trainer.callbacks+=Timer", "--trainer.callbacks.duration", "00:00:01:00"]
    with pytest.raises(SystemExit):
        main(["fit", *data_args(fake_data_dir), *timer, "--print_config"])
    settings = yaml.safe_load(capsys.readouterr().out)
    (callback,) = settings["trainer"]["callbacks"]
    assert callback["init_args"] == {"duration": "00:00:01:00", "interval": "step", "verbose": True}
    del settings["ckpt_path"], settings["weights_only"]
    (in_tmp_dir / "timer.yaml").write_text(yaml.safe_dump(settings))
    cli = build_cli(["--config", "timer.yaml", "--trainer.logger", "false"], run=False)
    (timer_callback,) = [c for c in cli.trainer.callbacks if type(c).__name__ == "Timer"]
    assert timer_callback._duration == 60 and timer_callback._interval == "step"


def test_seed_everything_true_draws_a_seed_says_it_and_saves_it(fake_data_dir, in_tmp_dir, capsys):
    """ "true for a random seed" seeded 0 every time (Lightning 2.6's seed_everything(None)): runs meant to differ
    came out the same."""
    args = ["fit", *data_args(fake_data_dir), *QUIET, "--seed_everything", "true", "--trainer.max_steps", "1"]
    seeds = []
    for _ in range(2):
        main([*args, "--trainer.limit_val_batches", "1", "--trainer.limit_test_batches", "1"])
        (drawn,) = re.findall(
            r"--seed_everything true: drew seed (\d+) \(saved in the run's config.yaml\)", capsys.readouterr().err
        )
        seeds.append(int(drawn))
    assert seeds[0] != seeds[1] and all(0 <= seed < 2**32 for seed in seeds)
    saved = [yaml.safe_load(Path(f"lightning_logs/version_{k}/config.yaml").read_text()) for k in (0, 1)]
    assert [config["seed_everything"] for config in saved] == seeds


def test_a_misspelt_option_is_named_with_the_one_it_is_closest_to(tmp_path, capsys):
    """jsonargparse named the unknown option but not what was meant; tune's space said "did you mean" already."""
    err = one_line_error(["fit", "--modle.lr", "0.1"], capsys)
    assert "unrecognized arguments: --modle.lr 0.1 (did you mean --model.lr?); see fit --help" in err
    err = one_line_error(["predict", "--ckpt-path", "m.ckpt"], capsys)  # argparse's spelling, as the benchmarks'
    assert "unrecognized arguments: --ckpt-path m.ckpt (did you mean --ckpt_path?)" in err
    config = tmp_path / "typo.yaml"
    config.write_text("model:\n  hiden_size: 64\n")
    err = one_line_error(["fit", "--config", str(config)], capsys)
    assert "does not accept option 'model.hiden_size' (did you mean model.hidden_size?)" in err
    assert "did you mean" not in one_line_error(["fit", "--zzz", "3"], capsys)  # nothing close: no guess
    # With --print_config jsonargparse worded it otherwise ("Group 'model' ..."), where neither file nor guess was
    # said; it prints once the settings are complete now, and words it as the command does.
    err = one_line_error(["fit", "--config", str(config), "--print_config"], capsys)
    assert f"--config {config}: Subcommand 'fit' does not accept option 'model.hiden_size' (did you mean model." in err
    config.write_text("modle:\n  hidden_size: 64\n")
    err = one_line_error(["fit", "--config", str(config), "--print_config"], capsys)
    assert f"--config {config}: Subcommand 'fit' does not accept option 'modle.hidden_size' (did you mean model." in err


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict"])
@pytest.mark.parametrize(
    "typed, meant",
    [
        (["--trainer.max_epoch", "1"], "--trainer.max_epochs"),
        (["--model.cel", "gru"], "--model.cell"),
        (["--model.cel=gru"], "--model.cell"),
        (["--data.data_d", "data"], "--data.data_dir"),
    ],
)
def test_a_shortened_option_is_refused_with_the_one_meant(command, typed, meant, capsys):
    """argparse took a unique beginning of an option as the option: --trainer.max_epoch 1 trained for one epoch and
    --model.cel gru trained a GRU, with only jsonargparse's deprecation warning, in two blocks of text."""
    err = one_line_error([command, *typed], capsys)
    assert err == (
        f"mnist-rnn: error: unrecognized arguments: {' '.join(typed)} (did you mean {meant}?); see {command} --help\n"
    )


def test_a_shortened_option_before_the_command_is_refused(capsys):
    # --conf was --config; refused, it left its file to be read as the command ("no command 'configs/fast.yaml'").
    assert one_line_error(["--conf", "configs/fast.yaml", "fit"], capsys) == (
        "mnist-rnn: error: --conf is not an option before the command (did you mean --config?); see fit --help\n"
    )


def test_a_bad_setting_in_a_config_file_names_the_file(tmp_path, capsys):
    """jsonargparse's message named the option, not the file that set it: with a base config and a user's
    own on top, or a config written long ago, the user had to search for it."""
    base, mine = tmp_path / "base.yaml", tmp_path / "mine.yaml"
    base.write_text("model:\n  lr: 0.01\n")
    mine.write_text("model.lr: fast\ntrainer:\n  max_epochs: 3\n")
    err = one_line_error(["fit", "--config", str(base), "--config", str(mine)], capsys)
    assert err == f"mnist-rnn: error: --config {mine}: --model.lr fast: expected a number (see fit --help)\n"
    mine.write_text("trainer:\n  max_epoch: 3\n")
    err = one_line_error(["fit", "--config", str(base), f"--config={mine}"], capsys)
    assert f"--config {mine}: " in err and "(did you mean trainer.max_epochs?)" in err
    # YAML 1.1 reads an unquoted 12:00:00:00 as a number in base 60: max_time refused "2592000" without why.
    mine.write_text("trainer:\n  max_time: 12:00:00:00  # half a day\n")
    err = one_line_error(["fit", "--config", str(mine)], capsys)
    assert (
        f'--config {mine}: max_time: 12:00:00:00 is read by YAML as a number (base 60): quote it, "12:00:00:00"' in err
    )
    # The command line sets it too: the error may be its own, so no file is named.
    err = one_line_error(["fit", "--config", str(base), "--model.lr", "fast"], capsys)
    assert err == "mnist-rnn: error: --model.lr fast: expected a number (see fit --help)\n"


def test_a_config_on_the_wrong_side_of_the_command_is_refused(tmp_path, capsys):
    """Before the command a config holds a section per command; after it, the command's settings. Swapped,
    --print_config printed the defaults without a word and a run said "not accepted before subcommand"."""
    plain, sectioned = tmp_path / "plain.yaml", tmp_path / "sectioned.yaml"
    plain.write_text("model:\n  hidden_size: 16\n")
    sectioned.write_text("fit:\n  model:\n    hidden_size: 16\n")
    err = one_line_error(["--config", str(plain), "fit", "--print_config"], capsys)
    assert f"--config {plain} before the command fit holds its settings, not a section per command" in err
    assert f"put it after the command (mnist-rnn fit --config {plain})" in err
    err = one_line_error([f"--config={plain}", "fit", "--print_config"], capsys)
    assert f"--config {plain} before the command fit holds its settings" in err
    err = one_line_error(["fit", "--config", str(sectioned), "--print_config"], capsys)
    assert f"--config {sectioned} after the command fit has a section fit:" in err
    assert "put it before fit, or drop the fit: level" in err
    typo = tmp_path / "typo.yaml"  # a misspelt key in a command's section: the file is named too
    typo.write_text("fit:\n  model:\n    hiden_size: 16\n")
    err = one_line_error(["--config", str(typo), "fit"], capsys)
    assert f"--config {typo}: " in err and "(did you mean model.hidden_size?)" in err
    for args in (["--config", str(sectioned), "fit"], ["fit", "--config", str(plain)]):  # each where it belongs
        with pytest.raises(SystemExit) as printed:
            main([*args, "--print_config"])
        assert printed.value.code == 0 and "hidden_size: 16" in capsys.readouterr().out


def test_an_option_before_a_config_that_sets_it_too_is_warned_of(tmp_path, capsys):
    """jsonargparse applies the arguments in order: the file's hidden_size replaced the one typed before it."""
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  hidden_size: 64\ntrainer:\n  callbacks:\n  - class_path: LearningRateMonitor\n")
    with pytest.raises(SystemExit):
        main(
            [
                "fit",
                "--model.hidden_size",
                "16",
                "--trainer.callbacks+=ModelSummary",
                "--config",
                str(config),
                "--print_config",
            ]
        )
    out, err = capsys.readouterr()
    assert "hidden_size: 64" in out  # what jsonargparse does, now said:
    assert f"--model.hidden_size comes before --config {config}, which sets it too: the file's value is used" in err
    assert f"--trainer.callbacks comes before --config {config}, which sets it too" in err
    with pytest.raises(SystemExit):
        main(["fit", "--model.cell", "gru", "--config", str(config), "--model.hidden_size", "16", "--print_config"])
    assert "comes before --config" not in capsys.readouterr().err  # the file sets no cell; 16 comes after it
    with pytest.raises(SystemExit):
        main(
            ["fit", "--model.hidden_size", "16", "--config", str(config), "--model.hidden_size", "32", "--print_config"]
        )
    out, err = capsys.readouterr()
    assert "hidden_size: 32" in out and "comes before --config" not in err  # typed again after it: that one is used


def test_a_blank_setting_in_a_config_file_is_refused(fake_data_dir, in_tmp_dir, capsys):
    """``hidden_size:`` with no value reads as null, which jsonargparse took from a config file for any type: a
    TypeError traceback, and a blank ``normalize:`` trained without standardising the pixels, without a word."""
    config = in_tmp_dir / "mine.yaml"
    for section, line, default in [
        ("model", "normalize:", "true"),
        ("model", "hidden_size:", "128"),
        ("data", "split_seed:", "0"),
    ]:
        config.write_text(f"{section}:\n  {line}\n")
        err = one_line_error(["fit", "--config", str(config), *data_args(fake_data_dir), *QUIET], capsys)
        key = f"{section}.{line.rstrip(':')}"
        assert f"--config {config}: {key} is empty (null): give it a value, or leave the line out" in err
        assert f"for its default ({default})" in err
    assert not Path("lightning_logs").exists()
    config.write_text("seed_everything:\nmodel:\n  hidden_size: 8\n")  # Lightning seeded 0, saved as chosen
    err = one_line_error(["fit", "--config", str(config), *data_args(fake_data_dir), *QUIET], capsys)
    assert "seed_everything is empty (null): give a seed, true for a random one" in err
    config.write_text("model:\n  forget_bias:\n")  # null is one of its values (no initial bias)
    fit_tiny(fake_data_dir, "--config", str(config), "--model.hidden_size", "8")


def test_a_setting_given_twice_in_a_config_file_is_refused(tmp_path, capsys):
    """YAML keeps the last of two equal keys without a word: a config with lr 0.01 near the top and lr 0.5
    further down trained at 0.5 while its author read 0.01."""
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  lr: 0.01\n  cell: gru\n  lr: 0.5\ntrainer:\n  max_epochs: 3\n")
    err = one_line_error(["fit", "--config", str(config), "--print_config"], capsys)
    assert f"--config {config}: model.lr is given twice (lines 2 and 4): keep one" in err
    config.write_text("trainer:\n  callbacks:\n  - class_path: EarlyStopping\n    init_args: {mode: min, mode: max}\n")
    err = one_line_error(["fit", "--config", str(config)], capsys)
    assert "trainer.callbacks.init_args.mode is given twice (line 4)" in err


def test_a_bf16_runs_checkpoint_is_tested_in_float32_on_a_cpu_without_bfloat16(
    fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """test follows the run's precision only where this machine has it: a bf16-mixed run tested on a CPU
    without bfloat16 stays in float32 (emulated bfloat16 is slower), and says so (it said nothing, and its
    numbers differed from the run's own test without a word why)."""
    main(resume_args(fake_data_dir, 1))
    config = Path("lightning_logs/version_0/config.yaml")
    settings = yaml.safe_load(config.read_text())
    settings["trainer"]["precision"] = "bf16-mixed"  # as a run on a CPU with bfloat16 saves it
    config.write_text(yaml.safe_dump(settings))
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "emulated")
    capsys.readouterr()
    main(["test", *data_args(fake_data_dir), *QUIET, "--ckpt_path", "lightning_logs/version_0/checkpoints/last.ckpt"])
    assert (
        "mnist-rnn: running in 32-true (float32), not in bf16-mixed, the precision the checkpoint's run trained in, "
        "which this machine lacks\n"
    ) in capsys.readouterr().err
    # The same command resumes it here with --ckpt_path last, in float32: "none of the last.ckpt files has
    # trainer.precision='bf16-mixed' (this command: '32-true')" named a precision the user never typed.
    main(resume_args(fake_data_dir, 2, "--trainer.precision", "bf16-mixed", "--ckpt_path", "last"))
    err = capsys.readouterr().err
    assert "bf16-mixed replaced by 32-true" in err
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in err


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16: its resume trains in it")
def test_a_run_started_without_bfloat16_resumes_on_a_cpu_with_it(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """The reverse move: a bf16-mixed command on a CPU without bfloat16 trained, and saved its run, in float32;
    the same command on a CPU with bfloat16 refused it ("... has trainer.precision='32-true' (this command:
    'bf16-mixed'). Run the command that started the run"), which the user had done."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "bf16-mixed"))
    assert "bf16-mixed replaced by 32-true" in capsys.readouterr().err
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "native")
    main(resume_args(fake_data_dir, 2, "--trainer.precision", "bf16-mixed", "--ckpt_path", "last"))
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err
    # Another precision is another command's run still.
    err = one_line_error(resume_args(fake_data_dir, 3, "--trainer.precision", "64-true", "--ckpt_path", "last"), capsys)
    assert "has trainer.precision='bf16-mixed' or '32-true'" not in err and "(this command: '64-true')" in err


def test_a_run_without_a_logger_keeps_the_users_own_config_yaml(fake_data_dir, in_tmp_dir, capsys):
    """Without a logger the run's folder is the working folder, where LightningCLI saves the run's settings as
    config.yaml: it replaced the user's own, hand-written one (exit 0, its comments gone)."""
    mine = "# my recipe, with notes\ntrainer:\n  max_epochs: 1\n"
    (in_tmp_dir / "config.yaml").write_text(mine)
    no_logger = ["--trainer.logger", "false", "--trainer.max_epochs", "1", *QUIET]
    args = ["fit", "--config", SEED_CONFIG, "--config", "config.yaml", *data_args(fake_data_dir), *no_logger]
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the warning that 40 validation images are few
    assert last.startswith(f"mnist-rnn: error: {in_tmp_dir / 'config.yaml'} is not a config this command saved")
    assert (in_tmp_dir / "config.yaml").read_text() == mine
    # The settings it saved itself are replaced by the next run's, as before.
    (in_tmp_dir / "config.yaml").unlink()
    for epochs in ("1", "2"):
        main(["fit", "--config", SEED_CONFIG, *data_args(fake_data_dir), *no_logger, "--trainer.max_epochs", epochs])
        assert yaml.safe_load((in_tmp_dir / "config.yaml").read_text())["trainer"]["max_epochs"] == int(epochs)
    # Unless it is the command's own --config: a run's settings, copied and edited, keep LightningCLI's first line.
    saved = (in_tmp_dir / "config.yaml").read_text().replace("max_epochs: 2", "max_epochs: 3  # my edit")
    (in_tmp_dir / "config.yaml").write_text(saved)
    with pytest.raises(SystemExit):
        main(["fit", "--config", "config.yaml", "--trainer.max_epochs", "1"])
    assert "is not a config this command saved" in capsys.readouterr().err.splitlines()[-1]
    assert (in_tmp_dir / "config.yaml").read_text() == saved


def test_a_run_stopped_by_max_time_is_not_resumed_into_a_second_test(fake_data_dir, in_tmp_dir, capsys):
    """The restored timer stopped the resumed run before its first step; the command then calibrated and tested
    the run's best checkpoint again, in a new run folder, with exit status 0 and no word of it."""
    timed = [*resume_args(fake_data_dir, 1000), "--trainer.max_time", "00:00:00:01"]
    main(timed)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*timed, "--ckpt_path", "last"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(r"its run has trained for 0:00:0\d, --trainer.max_time 00:00:00:01: nothing is left to train", err)
    assert "resuming from" not in err  # only once it resumes
    assert "pass a larger max_time to train it longer" in err and not Path("lightning_logs/version_1").exists()
    # More time (and an end in epochs, so that the test does not train for all of it): it trains on.
    epoch = torch.load("lightning_logs/version_0/checkpoints/last.ckpt", weights_only=True)["epoch"]
    main([*resume_args(fake_data_dir, epoch + 2), "--trainer.max_time", "00:00:10:00", "--ckpt_path", "last"])
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err


@pytest.mark.parametrize(
    "loggers",
    [
        ["--trainer.logger+=CSVLogger", "--trainer.logger.save_dir", "else"],  # TensorBoard and CSV: a list
        ["--trainer.logger.init_args.name", "myexp", "--trainer.logger.init_args.version", "v1"],  # a named version
    ],
)
def test_last_resumes_a_run_of_several_loggers_or_of_a_named_version(loggers, fake_data_dir, in_tmp_dir, capsys):
    """A list of loggers was read as none: its TensorBoard files and checkpoints went to ./lightning_logs, not
    --trainer.default_root_dir, and --ckpt_path last resumed another run or found none. A named version was
    looked for as version_*."""
    root = ["--trainer.default_root_dir", "else"]
    main([*resume_args(fake_data_dir, 1), *loggers, *root])
    (last,) = Path("else").glob("**/last.ckpt")
    assert not Path("lightning_logs").exists()
    main([*resume_args(fake_data_dir, 1), "--trainer.max_epochs", "1"])  # another run, in ./lightning_logs
    capsys.readouterr()
    main([*resume_args(fake_data_dir, 2), *loggers, *root, "--ckpt_path", "last"])
    assert f"resuming from {last}" in capsys.readouterr().err


def test_a_new_run_into_an_earlier_runs_named_version_says_it_mixes_them(fake_data_dir, in_tmp_dir, capsys):
    """A version named by hand, used again: its config.yaml became the second run's, its checkpoints and events
    mixed with the first's, without a word (Lightning's own callback refuses). A resume into it is no news."""
    named = ["--trainer.logger.init_args.version", "v1"]
    main([*resume_args(fake_data_dir, 1), *named])
    assert "holds an earlier run" not in capsys.readouterr().err
    main([*resume_args(fake_data_dir, 1), *named, "--model.lr", "0.002"])
    err = capsys.readouterr().err
    assert "mnist-rnn: warning: lightning_logs/v1 holds an earlier run: its config.yaml is replaced by " in err
    main([*resume_args(fake_data_dir, 2), *named, "--model.lr", "0.002", "--ckpt_path", "last"])
    assert "holds an earlier run" not in capsys.readouterr().err


def test_a_second_run_without_a_logger_in_the_same_folder_is_told_to_name_another_root_dir(
    fake_data_dir, in_tmp_dir, capsys
):
    """Two runs of --trainer.logger false in one folder: the second was told that another
    --trainer.logger.version keeps the runs apart, an option of the logger it had turned off."""
    main([*resume_args(fake_data_dir, 1), "--trainer.logger", "false"])
    capsys.readouterr()
    main([*resume_args(fake_data_dir, 1), "--trainer.logger", "false", "--model.lr", "0.002"])
    err = capsys.readouterr().err
    assert "holds an earlier run" in err
    assert "(another --trainer.default_root_dir keeps them apart)" in err
    assert "--trainer.logger.version" not in err


def test_a_csv_logger_beside_tensorboard_writes_into_the_runs_folder(fake_data_dir, in_tmp_dir, capsys):
    """Each logger counted the versions for itself: the CSV file went to version_1, the events and checkpoints to
    version_0 (and a second run's to version_3 and version_2); the CSV logger warned that it would delete the
    folder's files. Its metrics.csv lacked test/checkpoint_val_acc, which TensorBoard alone was given."""
    csv = ["--trainer.logger+=CSVLogger", "--trainer.logger.save_dir", "."]
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            main([*resume_args(fake_data_dir, 1), *csv])
        assert not [str(w.message) for w in caught if "exists and is not empty" in str(w.message)]
    for version in ("version_0", "version_1"):
        run = Path("lightning_logs") / version
        assert (run / "metrics.csv").is_file() and list(run.glob("events.out.tfevents.*")), list(run.iterdir())
    assert sorted(path.name for path in Path("lightning_logs").iterdir()) == ["version_0", "version_1"]
    with open("lightning_logs/version_0/metrics.csv", newline="") as file:
        (val_acc,) = [row["test/checkpoint_val_acc"] for row in DictReader(file) if row["test/checkpoint_val_acc"]]
    best = next(Path("lightning_logs/version_0/checkpoints").glob("best-*.ckpt"))  # named for its val/acc
    assert f"{float(val_acc):.4f}" == best.stem.split("val_acc")[1]
    # resumed: into a new folder, beside its events (in the resumed one, the CSV logger deletes the metrics.csv)
    main([*resume_args(fake_data_dir, 2), *csv, "--ckpt_path", "last"])
    assert "resuming from lightning_logs/version_1/checkpoints/last.ckpt" in capsys.readouterr().err
    assert (Path("lightning_logs/version_1") / "metrics.csv").read_text().count("\n") > 1
    assert list(Path("lightning_logs/version_2").glob("metrics.csv"))


@pytest.mark.parametrize("fills", ["calibration", "test", "figure"])
def test_a_disk_that_fills_after_training_says_training_is_done_and_what_is_left(
    fills, fake_data_dir, in_tmp_dir, monkeypatch, capsys
):
    """The line said only "no space left on the device", with nothing of the training that was done nor of the
    calibration and test still to run. A file named in the error with a line break in its name (TensorBoard's,
    in bytes) is named as bash's ``$'...'`` writes it: the line was split, "to write" and the rest on two lines."""
    import errno

    from mnist_rnn import cli
    from mnist_rnn.errors import NoSpaceError
    from mnist_rnn.figures import TestFigures

    def full(*args, **kwargs):
        if fills == "calibration":
            raise NoSpaceError("no space left on the device to rewrite best.ckpt: it is unchanged")
        if fills == "figure":
            raise OSError(errno.ENOSPC, "No space left on device", b"figures/my\nfigure.png")
        raise OSError(errno.ENOSPC, "No space left on device")

    if fills == "calibration":
        monkeypatch.setattr(cli, "calibrate_checkpoint", full)
    else:
        monkeypatch.setattr(TestFigures, "on_test_end", full)  # the test's figures, the last files a fit writes
    with pytest.raises(SystemExit) as exit_info:
        fit_tiny(fake_data_dir, "--model.hidden_size", "8")
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    (best,) = Path("lightning_logs/version_0/checkpoints").glob("best-*.ckpt")
    best = f"./{best}"  # as Lightning names it
    if fills == "calibration":
        assert error == (
            "mnist-rnn: error: no space left on the device to rewrite best.ckpt: it is unchanged; training is done: "
            f"once there is space, calibrate it (calibrate --ckpt_path {best}), then test it (test --ckpt_path {best})"
        )
    else:
        where = " to write $'figures/my\\x0afigure.png'" if fills == "figure" else ""
        assert error == (
            f"mnist-rnn: error: no space left on the device{where}: free some space, or write the run on another disk "
            f"with --trainer.default_root_dir DIR; training is done: once there is space, test it (test --ckpt_path "
            f"{best})"
        )


def test_a_config_with_a_line_break_in_its_name_is_named_on_one_line(in_tmp_dir, monkeypatch, capsys):
    """``fit --config $'my\\nrun.yaml'``: "--config my run.yaml: no such file", the error's two lines joined by a
    space, naming ``my run.yaml``, which is not there. Now the name as bash's ``$'...'`` writes it: pasted, it names
    the file."""
    from mnist_rnn import cli

    err = one_line_error(["fit", "--config", "my\nrun.yaml"], capsys)
    assert err == "mnist-rnn: error: --config $'my\\x0arun.yaml': no such file\n"
    Path("my\nrun.yaml").write_text("# to do\n")
    err = one_line_error(["fit", "--config", "my\nrun.yaml"], capsys)
    assert err.startswith("mnist-rnn: error: --config $'my\\x0arun.yaml': the file is empty (or only comments)")

    # A message of ours that still holds a name as it is: its first two lines joined by a space named "a b", a
    # file that is not there, and the third line was dropped. Now all of it, each break as \n, as Python writes it.
    def said_with_a_raw_name(args):
        raise UserError("--config a\nb.yaml: no such file; the project's own is in\nc")

    monkeypatch.setattr(cli, "_check_config_files", said_with_a_raw_name)
    err = one_line_error(["fit", "--config", "x.yaml"], capsys)
    assert err == "mnist-rnn: error: --config a\\nb.yaml: no such file; the project's own is in\\nc\n"


def test_a_run_folder_removed_while_the_command_ran_is_one_line(tmp_path):
    """rm -rf of lightning_logs/version_0 during fit: TensorBoard's next event ended it in a 110-line traceback."""
    from mnist_rnn import cli

    run = tmp_path / "lightning_logs" / "version_0"
    events = os.fsencode(run / "events.out.tfevents.1")  # TensorBoard names its file in bytes
    error = FileNotFoundError(2, "No such file or directory", events)
    (tmp_path / "lightning_logs").mkdir()
    assert cli.known_failure(error) == (
        f"{run} was removed while the command ran (no {run}/events.out.tfevents.1 to write or read): the run cannot "
        "go on; its checkpoints, if they were elsewhere, are kept"
    )
    run.mkdir()
    assert cli.known_failure(error) is None  # its folder is there: something else, shown as a traceback


def test_bfloat16_for_an_lstm_on_a_cpu_without_it_is_refused_from_python(fake_data_dir, monkeypatch):
    """oneDNN's "could not create a primitive descriptor for the LSTM forward propagation primitive" traceback
    (the command line falls back to float32 itself)."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule

    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    data = MNISTDataModule(data_dir=str(fake_data_dir), val_size=40, batch_size=16)
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", precision="bf16-mixed", logger=False)
    with pytest.raises(UserError, match=re.escape("use Trainer(precision='32-true')")):
        trainer.fit(RNNClassifier(hidden_size=8, num_layers=1), datamodule=data)
    trainer = Trainer(fast_dev_run=True, accelerator="cpu", precision="bf16-mixed", logger=False)
    trainer.fit(RNNClassifier(cell="gru", hidden_size=8, num_layers=1), datamodule=data)  # slow, but it runs


def test_last_prefers_the_run_of_the_commands_own_precision(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """Where this CPU has no bfloat16 a bf16-mixed command trains in float32, and took any run as its own: a newer
    64-true run of the same recipe was resumed (in float32). Where it has, a newer 32-true run was resumed in bf16."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "bf16-mixed"))  # version_0, in float32
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "64-true"))  # version_1, newer
    capsys.readouterr()
    main(resume_args(fake_data_dir, 2, "--trainer.precision", "bf16-mixed", "--ckpt_path", "last"))
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err
    if not bf16_supported("cpu"):
        return
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "native")
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "bf16-mixed"))  # version_3, in bf16
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "32-true"))  # version_4, newer, in float32
    capsys.readouterr()
    main(resume_args(fake_data_dir, 2, "--trainer.precision", "bf16-mixed", "--ckpt_path", "last"))
    assert "resuming from lightning_logs/version_3/checkpoints/last.ckpt" in capsys.readouterr().err


def test_a_run_resumed_with_fewer_epochs_than_it_trained_is_told_how_many_resume_it(fake_data_dir, in_tmp_dir, capsys):
    """A 2-epoch run resumed with --trainer.max_epochs 1 was said to have trained "all 2 epochs of
    --trainer.max_epochs 1", and told to pass "a larger max_epochs": 2, which trained nothing either."""
    main(resume_args(fake_data_dir, 2))
    capsys.readouterr()
    error = one_line_error(resume_args(fake_data_dir, 1, "--ckpt_path", "last"), capsys)
    assert "its run has trained 2 epochs, more than --trainer.max_epochs 1: nothing is left to train" in error
    assert "pass --trainer.max_epochs 3 or more to train it longer" in error


def test_a_run_stopped_by_max_steps_inside_an_epoch_is_told_what_resumes_it(fake_data_dir, in_tmp_dir, capsys):
    """Stopped by max_steps in its last epoch, a run was refused as having "trained all 2 epochs", and a larger
    max_epochs alone then met a second refusal, of max_steps."""
    main(resume_args(fake_data_dir, 2, "--trainer.max_steps", "15"))  # 10 steps an epoch: cut inside epoch 1
    capsys.readouterr()
    error = one_line_error(resume_args(fake_data_dir, 2, "--trainer.max_steps", "15", "--ckpt_path", "last"), capsys)
    assert "its run has trained 15 steps, into epoch 1, which Lightning then counts as done" in error
    assert "pass --trainer.max_epochs 3 or more and a larger max_steps to train it longer" in error
    error = one_line_error(resume_args(fake_data_dir, 2, "--trainer.max_steps", "20", "--ckpt_path", "last"), capsys)
    assert "pass --trainer.max_epochs 3 or more to train it longer" in error  # 20 steps go on past 15
    main(resume_args(fake_data_dir, 3, "--trainer.max_steps", "25", "--ckpt_path", "last"))
    assert "resuming from lightning_logs/version_0/checkpoints/last.ckpt" in capsys.readouterr().err
    assert torch.load("lightning_logs/version_1/checkpoints/last.ckpt", weights_only=True)["global_step"] > 15


def test_a_run_stopped_by_max_steps_beyond_the_resumed_max_epochs_is_not_said_to_be_inside_them(
    fake_data_dir, in_tmp_dir, capsys
):
    """Cut by max_steps inside epoch 1 and resumed with --trainer.max_epochs 1, a run was said to have trained
    "into epoch 1, which Lightning then counts as done, as every epoch of --trainer.max_epochs 1": epoch 1 is
    not one of max_epochs 1's (epoch 0 alone is)."""
    main(resume_args(fake_data_dir, 2, "--trainer.max_steps", "15"))  # 10 steps an epoch: cut inside epoch 1
    capsys.readouterr()
    error = one_line_error(resume_args(fake_data_dir, 1, "--ckpt_path", "last"), capsys)
    assert (
        "its run has trained 15 steps, into epoch 1 (which Lightning then counts as done), beyond "
        "--trainer.max_epochs 1: nothing is left to train; pass --trainer.max_epochs 3 or more to train it longer"
        in error
    )  # and no "a larger max_steps or max_time": the command gave neither
    assert "every epoch" not in error


def test_another_data_set_than_the_checkpoints_is_refused_in_one_line(fake_data_dir, in_tmp_dir, capsys):
    """test of a Fashion-MNIST checkpoint on MNIST, typed: the refusal alone, not after a note on the precision
    it would have run in ("running in 64-true, the precision the checkpoint's run trained in" came first)."""
    main(resume_args(fake_data_dir, 1, "--data.dataset", "fashion_mnist", "--trainer.precision", "64-true"))
    last = "lightning_logs/version_0/checkpoints/last.ckpt"
    capsys.readouterr()
    for command in ("test", "validate"):
        err = one_line_error(
            [command, *data_args(fake_data_dir), *QUIET, "--ckpt_path", last, "--data.dataset", "mnist"], capsys
        )
        assert "the checkpoint was trained on fashion_mnist, not mnist" in err


@pytest.mark.parametrize("command", ["fit", "validate", "test", "predict", "export", "serve", "calibrate", "tune"])
def test_every_commands_error_is_one_line_that_names_it_once(command, capsys):
    """export's, serve's and calibrate's began "mnist-rnn: error: mnist-rnn export: ", tune's "mnist-rnn: error:
    python -m mnist_rnn tune: "; fit's named no command, and --help alone lists the commands, not their options."""
    refused = "unrecognized arguments: --hlep" if command in ("fit", "validate", "test", "predict") else "--hlep is not"
    assert one_line_error([command, "--hlep"], capsys) == (
        f"mnist-rnn: error: {refused}{' an option' if refused.endswith('not') else ''} (did you mean --help?); "
        f"see {command} --help\n"
    )


@pytest.mark.parametrize("command", ["export", "serve", "calibrate", "tune"])
def test_a_tools_help_names_the_program_as_typed(command, capsys, monkeypatch):
    """export's, serve's and calibrate's usage said `mnist-rnn export` to a user of `python -m mnist_rnn`."""
    for argv0, typed in (("/venv/bin/mnist-rnn", "mnist-rnn"), ("/src/mnist_rnn/__main__.py", "python -m mnist_rnn")):
        monkeypatch.setattr("sys.argv", [argv0])
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: {typed} {command} [-h]")


def test_a_misspelt_print_config_is_named_as_other_options_are(capsys):
    assert one_line_error(["fit", "--print_conf"], capsys) == (
        "mnist-rnn: error: unrecognized arguments: --print_conf (did you mean --print_config?); see fit --help\n"
    )


def test_a_config_that_is_no_file_is_one_clear_line(in_tmp_dir, capsys):
    """jsonargparse's "Parser key "config": File does not exist: '/the/absolute/path'" (or "Path is not a file")."""
    Path("configs").mkdir()
    assert one_line_error(["fit", "--config", "configs"], capsys) == (
        "mnist-rnn: error: --config configs: a folder, not a config file\n"
    )
    assert one_line_error(["validate", "-c", "nothere.yaml"], capsys) == (
        "mnist-rnn: error: --config nothere.yaml: no such file\n"
    )
    # Settings in the option itself are a config too.
    with pytest.raises(SystemExit):
        main(["fit", "--config", "{trainer: {max_epochs: 7}}", "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out)["trainer"]["max_epochs"] == 7


@pytest.mark.parametrize(
    "typed, expected",
    [
        (["--model.lr", "fast"], "--model.lr fast: expected a number"),
        (["--data.batch_size", "1.5"], "--data.batch_size 1.5: expected a whole number"),
        (
            ["--trainer.limit_val_batches", "all"],
            "--trainer.limit_val_batches all: expected a whole number, a number or null",
        ),
        (["--seed_everything", "random"], "--seed_everything random: expected true, false or a whole number"),
        # An empty value (an unset shell variable) was shown as nothing: "--trainer.max_epochs : expected ...".
        (["--trainer.max_epochs="], "--trainer.max_epochs '': expected a whole number or null"),
        (["--seed_everything="], "--seed_everything '': expected true, false or a whole number"),
    ],
)
def test_a_value_of_the_wrong_type_says_what_the_option_takes(typed, expected, capsys):
    """jsonargparse said 'Parser key "model.lr": Expected a <class 'float'>. Got value: fast', or for an option of
    several types "Does not validate against any of the Union subtypes (Given value: all)"."""
    assert one_line_error(["fit", *typed], capsys) == f"mnist-rnn: error: {expected} (see fit --help)\n"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (  # argparse: "argument --data.predict_path: expected one argument", next to the value
            ["predict", "--data.predict_path", "-name.png"],
            "--data.predict_path -name.png: a value that begins with - is read as an option: join them with = "
            "(--data.predict_path=-name.png), or write a file's name as ./-name.png (see predict --help)",
        ),
        (
            ["fit", "--model.lr", "-inf"],
            "--model.lr -inf: a value that begins with - is read as an option: join them with = (--model.lr=-inf); "
            "see fit --help",
        ),
        (  # the tools' own argparse too
            ["export", "--ckpt_path", "m.ckpt", "--output", "-m.onnx"],
            "--output -m.onnx: a value that begins with - is read as an option: join them with = (--output=-m.onnx), "
            "or write a file's name as ./-m.onnx (see export --help)",
        ),
        (["fit", "--model.lr", "--trainer.max_epochs", "3"], "--model.lr needs a value (see fit --help)"),
        (["fit", "--model.lr"], "--model.lr needs a value (see fit --help)"),
        # jsonargparse joined the arguments with spaces: "unrecognized arguments: --trainer.max_epochs 4", an
        # option and value that looked right, or "my value", two arguments to the eye
        (
            ["fit", "--model.hidden_size", "8", "--trainer.max_epochs 4"],
            "unrecognized arguments: '--trainer.max_epochs 4': an option and its value in one argument; pass them "
            "as two (--trainer.max_epochs 4) or joined with = (--trainer.max_epochs=4); see fit --help",
        ),
        (["fit", "--trainer.max_epochs", "3", "my value"], "unrecognized arguments: 'my value' (see fit --help)"),
        (
            ["fit", "--modle.lr", "1", "a b"],
            "unrecognized arguments: --modle.lr 1 'a b' (did you mean --model.lr?); see fit --help",
        ),
    ],
)
def test_an_argument_that_is_not_what_it_looks_like_is_said_as_the_shell_read_it(typed, expected, capsys):
    assert one_line_error(typed, capsys) == f"mnist-rnn: error: {expected}\n"


def test_a_model_written_as_a_class_in_a_config_is_told_where_its_settings_go(in_tmp_dir, capsys):
    """A config of another LightningCLI project names its model as a class: jsonargparse said "does not accept option
    'model.class_path' (did you mean model.class_names?)"; written so for this project's own class, it named only the
    first setting under init_args."""
    Path("other.yaml").write_text("model:\n  class_path: my_project.models.ResNet\n  init_args:\n    depth: 18\n")
    assert one_line_error(["test", "--config", "other.yaml"], capsys) == (
        "mnist-rnn: error: --config other.yaml: model: class_path my_project.models.ResNet: this project's model is "
        "always mnist_rnn's RNNClassifier (a config of another project?); its settings go straight under model: "
        "(see test --help)\n"
    )
    own = "data:\n  class_path: mnist_rnn.data.MNISTDataModule\n  init_args:\n    batch_size: 8\n"
    Path("own.yaml").write_text(own)
    assert one_line_error(["fit", "--config", "own.yaml"], capsys) == (
        "mnist-rnn: error: --config own.yaml: data: the settings (init_args's) go straight under data:, without "
        "class_path and init_args: the data is always mnist_rnn's MNISTDataModule\n"
    )


def test_more_processes_than_cpu_cores_is_warned_of(fake_data_dir, in_tmp_dir, capsys, monkeypatch):
    """--trainer.devices 3 on 2 cores started 3 processes without a word, each step waiting for the slowest."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    cpu = ["--trainer.accelerator", "cpu", *data_args(fake_data_dir), *QUIET]
    build_cli([*cpu, "--trainer.devices", "3"], run=False)
    assert "mnist-rnn: warning: --trainer.devices 3: 3 processes on 2 CPU cores take turns" in capsys.readouterr().err
    build_cli([*cpu, "--trainer.devices", "2"], run=False)
    assert "warning" not in capsys.readouterr().err


def test_a_stop_after_the_work_says_it_was_done(fake_data_dir, in_tmp_dir):
    """The line of a Ctrl+C as main returned said what the command did last: "after the calibration, before the
    test" after fit, "while preparing the data and the model, before testing; nothing was written" after test."""
    from mnist_rnn import stopping

    def line() -> str:
        return str(stopping.Stopped(signal.SIGINT))

    run = fit_tiny(fake_data_dir, *SMALL)
    assert line() == "stopped by SIGINT as it ended, after its work was done"
    main(["test", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), *data_args(fake_data_dir), *QUIET])
    assert line() == "stopped by SIGINT as it ended, after its work was done"


# The program's entry (mnist_rnn/__main__.py) with a command line that only does what `work` says: the real one
# imports torch and Lightning, for seconds.
ENTRY = """
import atexit, os, signal, sys, types

class Late:
    def __del__(self):  # run as Python tears the modules down, after the atexit hooks
        os.kill(os.getpid(), signal.SIGINT)

def main():
    print("the results")  # buffered: written at the end
    cli.late = Late()
    {work}

cli = types.ModuleType("mnist_rnn.cli")
cli.main = main
sys.modules["mnist_rnn.cli"] = cli
from mnist_rnn.__main__ import run
run()
"""


@pytest.mark.parametrize(
    ("work", "status", "err"),
    [
        ("pass", 0, ""),
        ("sys.exit(3)", 3, ""),
        ('sys.exit("mnist-rnn: error: no")', 1, "mnist-rnn: error: no\n"),
        # a stop while the atexit hooks run (the loggers' flush, the helper processes' end) is said
        (
            "atexit.register(os.kill, os.getpid(), signal.SIGINT)",
            130,
            "mnist-rnn: stopped by SIGINT as it ended, after its work was done\n",
        ),
    ],
)
def test_a_stop_as_python_tears_down_after_the_command_is_not_a_silent_death(work, status, err, tmp_path):
    """After the atexit hooks, Python puts the default handlers back and tears the modules down (torch's: a
    noticeable moment): a Ctrl+C then killed the process by SIGINT, without the line (the shell's 130; here -2).
    The process now ends after the hooks, with its status and what it printed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    ran = subprocess.run(
        [sys.executable, "-c", ENTRY.format(work=work)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (ran.returncode, ran.stderr) == (status, err)
    assert ran.stdout == "the results\n"


def test_export_names_a_missing_checkpoint_before_a_missing_format(in_tmp_dir, capsys):
    """`export --ckpt_path nothere.ckpt` asked for --format first; the mistyped checkpoint came to light only after."""
    for format in ([], ["--format", "onnx"]):
        err = one_line_error(["export", "--ckpt_path", "nothere.ckpt", *format], capsys)
        assert err.startswith("mnist-rnn: error: --ckpt_path nothere.ckpt: no such file"), err


@pytest.mark.parametrize("command", ["export", "serve", "calibrate", "tune"])
def test_a_tools_unknown_option_is_named_before_a_missing_required_one(command, capsys):
    """`export --nope` said "the following arguments are required: --ckpt_path" (argparse checks those before it
    refuses an unknown option); given --ckpt_path, "unrecognized arguments: --nope". Only an option close to one
    of the tool's was named (tune's `--nope`, close to --space)."""
    assert one_line_error([command, "--xyzzy"], capsys) == (
        f"mnist-rnn: error: --xyzzy is not an option (see {command} --help)\n"
    )
    if command == "tune":  # fit's option without a section, which tune passes on to every trial's fit
        err = one_line_error(["tune", "--seed_everything", "1"], capsys)
        assert "the following arguments are required: --config, --space" in err


def test_predict_without_images_says_so_before_lightning_starts(mnist_checkpoint, in_tmp_dir, caplog, capsys):
    """`predict --ckpt_path X.ckpt` without --data.predict_path printed Lightning's "Seed set to 42" and GPU lines
    before its error: the data module's check came once the seed was set and the Trainer built."""
    caplog.set_level("INFO")  # under pytest Lightning's lines go to the log capture, not to stderr
    err = one_line_error(["predict", "--ckpt_path", str(mnist_checkpoint)], capsys)
    assert err == "mnist-rnn: error: predict needs images: pass --data.predict_path FILE, FOLDER or GLOB\n"
    assert [record.getMessage() for record in caplog.records] == []
    assert not Path("lightning_logs").exists()


@pytest.mark.parametrize(
    ("argv0", "program"), [("/venv/bin/mnist-rnn", "mnist-rnn"), ("/x/mnist_rnn/__main__.py", "python -m mnist_rnn")]
)
def test_the_commands_to_paste_name_the_program_as_typed(argv0, program, tmp_path, monkeypatch):
    """The commands that messages give to paste said ``python -m mnist_rnn`` to a user of the ``mnist-rnn``
    script (where ``python`` may be another Python, without this package)."""
    from mnist_rnn.cli import _check_config_places
    from mnist_rnn.model import RNNClassifier

    monkeypatch.setattr("sys.argv", [argv0])
    plain = tmp_path / "plain.yaml"
    plain.write_text("model:\n  hidden_size: 16\n")
    with pytest.raises(UserError, match=re.escape(f": put it after the command ({program} fit --config {plain})")):
        _check_config_places(["--config", str(plain), "fit"])
    model = RNNClassifier(hidden_size=4)
    state = {key: value for key, value in model.state_dict().items() if key != "network.temperature"}
    old = {"state_dict": state, "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": "2.6.0"}
    torch.save(old, tmp_path / "old.ckpt")
    with redirect_stderr(io.StringIO()) as err:
        RNNClassifier.load_from_checkpoint(tmp_path / "old.ckpt")
    assert err.getvalue().endswith(f"`{program} calibrate --ckpt_path {tmp_path / 'old.ckpt'}` fits one\n")


def test_the_error_line_shows_a_name_that_is_not_utf8_as_its_bytes(mnist_checkpoint, in_tmp_dir, capsys):
    """``predict --data.predict_path lat`` of a folder holding a Latin-1 name alone: the error line named
    ``lat/caf\\udce9.pdf``, a name no file has (ls shows the byte itself); it is ``lat/caf\\xe9.pdf``."""
    Path("lat").mkdir()
    Path(os.fsdecode(b"lat/caf\xe9.pdf")).write_bytes(b"%PDF-1.4\n")
    err = one_line_error(["predict", "--ckpt_path", str(mnist_checkpoint), "--data.predict_path", "lat"], capsys)
    assert err.endswith("; other files there: lat/caf\\xe9.pdf)\n"), err


def test_every_bad_input_has_its_row_in_the_generated_errors_table():
    """docs/errors.md is generated from tests/bad_inputs.py: a case added without running
    docs/make_errors_table.py (predict without --data.predict_path) had no row."""
    table = (Path(__file__).parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table.splitlines() if line.startswith("| ")}
    for case in BAD_INPUTS:
        assert case.what in rows, f"{case.what}: no row in docs/errors.md (python docs/make_errors_table.py)"
        # the command and options as the table shows them (its messages come from other data: 2 batches, not 10)
        assert f" | `{case.command}` | " in rows[case.what], rows[case.what]


@pytest.mark.parametrize(
    "typed, meant",
    [
        (["--max_epochs", "3"], "--trainer.max_epochs"),  # Lightning's own Trainer argument, without its section
        (["--lr", "0.1"], "--model.lr"),
        (["--hidden", "8"], "--model.hidden_size"),
        (["--epochs", "3"], "--trainer.max_epochs or --trainer.min_epochs"),  # as near to both
        (["--ckpt", "m.ckpt"], "--ckpt_path"),  # a shortening, as argparse took it
        (["--model.hid", "8"], "--model.hidden_size"),  # difflib's nearest was --model.std
    ],
)
def test_an_option_without_its_section_or_shortened_is_refused_with_the_one_meant(typed, meant, capsys):
    """`fit --max_epochs 3`, `--lr 0.1`, `test --ckpt m.ckpt` named no option to use (`export --ckpt` did), and
    `--model.hid 8` was asked whether it meant --model.std."""
    command = "test" if typed[0] == "--ckpt" else "fit"
    assert one_line_error([command, *typed], capsys) == (
        f"mnist-rnn: error: unrecognized arguments: {' '.join(typed)} (did you mean {meant}?); see {command} --help\n"
    )


def bash_words(pasted: str) -> list[str]:
    """The arguments bash makes of ``pasted``, a command or a part of one that a message gives to paste, as the
    terminal shows it: stderr writes a byte that is not UTF-8 (held as a surrogate) as ``\\udce9``."""
    shown = f"printf '%s\\0' {pasted}".encode("utf-8", "backslashreplace")
    done = subprocess.run([b"bash", b"-c", shown], capture_output=True, check=True)
    return [os.fsdecode(word) for word in done.stdout.split(b"\0")[:-1]]


@pytest.mark.parametrize(
    "name", ["My runs", "it's", "données", os.fsdecode(b"caf\xe9")], ids=["space", "quote", "accent", "not-utf8"]
)
def test_the_paths_in_the_commands_messages_give_to_paste_reach_the_shell_whole(name, tmp_path, monkeypatch):
    """The commands and options that messages give to paste put their paths in as they were: from a folder
    ``My runs``, ``--config My runs/fast.yaml`` passed bash two arguments, a quote in a name opened a string, and a
    byte that is not UTF-8 was printed as ``\\udce9``, a name no file has."""
    from mnist_rnn.cli import _check_config_files, _check_config_places, _check_resumed_data
    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.export import FORMATS, a_folder

    folder = tmp_path / name
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    plain, space = folder / "plain.yaml", folder / "space.yaml"
    plain.write_text("model:\n  hidden_size: 16\n")
    space.write_text("model.lr: {log: [1.0e-3, 3.0e-2]}\n")
    # The checks themselves: main prints the messages, which begin with the path as typed, to a stderr that
    # writes a byte that is not UTF-8 as \\udce9, where pytest's capsys refuses it.
    with pytest.raises(UserError) as before:
        _check_config_places(["--config", str(plain), "fit"])
    command = re.search(r"\(mnist-rnn (fit --config .+)\)$", str(before.value))[1]
    assert bash_words(command) == ["fit", "--config", str(plain)]
    with pytest.raises(UserError) as searched:
        _check_config_files(["fit", "--config", str(space)])
    command = re.search(r"not a config: mnist-rnn (tune .+)$", str(searched.value))[1]
    assert bash_words(command) == ["tune", "--config", "BASE.yaml", "--space", str(space)]
    # a README recipe from another folder: the project's own file, and the folder to run from
    project = folder / "project"
    (project / "configs").mkdir(parents=True)
    (project / "configs" / "fast.yaml").write_text("model:\n  hidden_size: 16\n")
    monkeypatch.setattr("mnist_rnn.cli.PROJECT_CONFIGS", project / "configs")
    with pytest.raises(UserError) as recipe_error:
        _check_config_files(["fit", "--config", "configs/fast.yaml"])
    found = re.search(r"the project's own is (.+) \(run from (.+), or pass that path\)$", str(recipe_error.value))
    recipe, run_from = found.groups()
    assert bash_words(recipe) == [str(project / "configs" / "fast.yaml")] and bash_words(run_from) == [str(project)]
    # resuming a run with another split: its own settings
    run = folder / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("# lightning.pytorch==2.6.6\n")
    settings = {"dataset": "mnist", "batch_size": 20, "val_size": 40, "split_seed": 0}
    with pytest.raises(UserError) as resumed:
        _check_resumed_data(
            run / "checkpoints" / "last.ckpt", {"data.split_seed": 1}, Namespace(data=Namespace(**settings))
        )
    assert bash_words(re.search(r"own settings \((--config .+)\), so that", str(resumed.value))[1]) == [
        "--config",
        str(run / "config.yaml"),
    ]
    # the data set's own folder given as --data.data_dir: the folder to pass instead
    write_fake_set(folder, "MNIST")
    with pytest.raises(UserError) as inside:
        MNISTDataModule(data_dir=str(folder / "MNIST" / "raw")).prepare_data()
    assert bash_words(re.search(r"MNIST/raw/: (--data.data_dir .+)$", str(inside.value))[1])[1] == str(folder)
    (folder / "MNIST").rename(folder / "FashionMNIST")
    with pytest.raises(UserError) as other:
        MNISTDataModule(data_dir=str(folder / "FashionMNIST" / "raw")).prepare_data()
    assert bash_words(re.search(r": (--data.dataset .+) reads them$", str(other.value))[1]) == [
        "--data.dataset",
        "fashion_mnist",
        "--data.data_dir",
        str(folder),
    ]
    # export --output FOLDER: a file in it
    examples = re.search(r"e\.g\. (.+) or (.+)$", a_folder(folder, FORMATS)).groups()
    assert [bash_words(example) for example in examples] == [[str(folder / f"model.{f}")] for f in FORMATS]


@pytest.mark.parametrize("tool", ["calibrate", "export"])
def test_the_tools_that_read_the_data_take_its_folder_as_data_dir_too(tool, tmp_path):
    """export took ``--data_dir`` as the short form of ``--data.data_dir``; calibrate refused it with "did you mean
    --data.data_dir?", so the same folder took a second try there."""
    from mnist_rnn import calibration, export

    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"")  # parse_args checks only that it is there
    parse_args = {"calibrate": calibration.parse_args, "export": export.parse_args}[tool]
    for option in ("--data.data_dir", "--data_dir"):
        assert parse_args(["--ckpt_path", str(checkpoint), option, "my data"]).data_dir == "my data"


def test_print_config_of_a_checkpoints_command_shows_what_the_run_takes_from_the_checkpoint(
    fake_data_dir, in_tmp_dir, capsys
):
    """``test --ckpt_path best --print_config`` printed the settings as parsed, before the checkpoint was read:
    ``precision: null``, ``data_dir: data/`` and the default model (``hidden_size: 128``), where the test ran the
    checkpoint's model in its run's precision on its run's data folder. Given back with --config, they would
    have been the settings of another run."""
    main(resume_args(fake_data_dir, 1, "--trainer.precision", "64-true"))  # hidden_size 16
    render_digit(7).save("seven.png")
    capsys.readouterr()
    for command, precision in (("validate", "64-true"), ("test", "64-true"), ("predict", "32-true")):
        images = ["--data.predict_path", "seven.png"] if command == "predict" else []
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--ckpt_path", "best", *images, "--print_config"])
        assert exit_info.value.code == 0
        printed = yaml.safe_load(capsys.readouterr().out)
        assert printed["model"]["hidden_size"] == 16 and printed["trainer"]["precision"] == precision, command
        assert printed["ckpt_path"] == str(next(Path("lightning_logs/version_0/checkpoints").glob("best-*.ckpt")))
        if command != "predict":  # which reads no data set
            assert printed["data"]["data_dir"] == str(fake_data_dir)
        if command == "validate":  # on the split the run held out
            assert printed["data"]["val_size"] == 40
    Path("test.yaml").write_text(yaml.safe_dump(printed))  # predict's, as printed: the run again
    main(["predict", "--config", "test.yaml"])
    out, err = capsys.readouterr()
    assert out.startswith("path,") and "seven.png" in out and "ignoring" not in err
    # Without a checkpoint there is nothing to read: the settings as given (not "test needs a trained model").
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--print_config"])
    assert exit_info.value.code == 0 and yaml.safe_load(capsys.readouterr().out)["model"]["hidden_size"] == 128


def test_print_config_of_a_resumed_fit_shows_the_model_it_trains(fake_data_dir, in_tmp_dir, capsys):
    """``fit --ckpt_path RUN --print_config`` printed the default model (``hidden_size: 128``, ``dropout: 0.1``),
    where the run resumed, and trained on, the checkpoint's (16, 0.25): jsonargparse printed before the checkpoint
    was read. A recipe so made started the other model, from scratch, without the checkpoint's settings."""
    main(resume_args(fake_data_dir, 1, "--model.dropout", "0.25"))
    capsys.readouterr()
    resume = ["fit", *data_args(fake_data_dir), *QUIET, "--trainer.max_epochs", "2"]
    with pytest.raises(SystemExit) as exit_info:
        main([*resume, "--ckpt_path", "lightning_logs/version_0", "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert (printed["model"]["hidden_size"], printed["model"]["dropout"]) == (16, 0.25)
    assert printed["ckpt_path"] == str(Path("lightning_logs/version_0/checkpoints/last.ckpt"))
    assert printed["trainer"]["max_epochs"] == 2 and printed["trainer"]["enable_progress_bar"] is False  # as typed
    Path("resume.yaml").write_text(yaml.safe_dump(printed))
    main(["fit", "--config", "resume.yaml"])  # the run again: resumed (into a run folder of its own), one epoch on
    resumed = torch.load("lightning_logs/version_1/checkpoints/last.ckpt", weights_only=True)
    assert resumed["epoch"] == 1 and resumed["hyper_parameters"]["hidden_size"] == 16
    capsys.readouterr()
    # Without a checkpoint: the settings as given, as before.
    with pytest.raises(SystemExit) as exit_info:
        main([*resume, "--print_config"])
    assert exit_info.value.code == 0 and yaml.safe_load(capsys.readouterr().out)["model"]["hidden_size"] == 128


def test_a_config_in_the_home_folder_named_with_a_tilde_the_shell_left_as_it_is_is_read(tmp_path, monkeypatch, capsys):
    """Bash expands no ``~`` after ``=`` nor in quotes: ``fit --config=~/mine.yaml`` was "no such file", where every
    other path of the command line (``--ckpt_path=~/...``, ``--data.data_dir=~/...``) is expanded."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.yaml").write_text("model:\n  hidden_size: 24\n")
    (tmp_path / "sections.yaml").write_text("fit:\n  model:\n    hidden_size: 24\n")  # for before the command
    for args in (["fit", "--config=~/mine.yaml"], ["fit", "-c", "~/mine.yaml"], ["--config=~/sections.yaml", "fit"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--print_config"])
        assert exit_info.value.code == 0 and yaml.safe_load(capsys.readouterr().out)["model"]["hidden_size"] == 24
    error = one_line_error(["fit", "--config=~/missing.yaml"], capsys)
    assert error == f"mnist-rnn: error: --config {tmp_path / 'missing.yaml'}: no such file\n"


def test_a_path_written_with_windows_backslashes_names_the_file_it_means(in_tmp_dir, capsys):
    """A path copied from Windows (``my runs\\fast.yaml``) was "no such file" alone, next to the very file: outside
    Windows a backslash is part of a name. A README recipe so written, from another folder, got no pointer to the
    project's own either."""
    runs = in_tmp_dir / "my runs"
    runs.mkdir()
    for name in ("fast.yaml", "space.yaml", "last.ckpt"):
        (runs / name).write_text("")
    for args, option, name in (
        (["fit", "--config", "my runs\\fast.yaml"], "--config", "fast.yaml"),
        (["test", "--ckpt_path", "my runs\\last.ckpt"], "--ckpt_path", "last.ckpt"),
        (["tune", "--config", "my runs\\fast.yaml", "--space", "my runs/space.yaml"], "--config", "fast.yaml"),
        (["tune", "--config", "my runs/fast.yaml", "--space", "my runs\\space.yaml"], "--space", "space.yaml"),
    ):
        assert one_line_error(args, capsys) == (
            f"mnist-rnn: error: {option} my runs\\{name}: no such file (\\ separates folders on Windows only: "
            f"'my runs/{name}' is there)\n"
        )
    (runs / "seven.png").write_bytes(b"")  # predict's pictures too (a folder, a file)
    for name in ("my runs\\", "my runs\\seven.png"):
        args = ["predict", "--ckpt_path", "my runs/last.ckpt", "--data.predict_path", name]
        assert one_line_error(args, capsys) == (
            f"mnist-rnn: error: --data.predict_path {name}: no such file or folder (\\ separates folders on Windows "
            f"only: {shlex.quote(name.replace(chr(92), '/'))} is there)\n"
        )
    project = Path(__file__).resolve().parents[1]
    error = one_line_error(["fit", "--config", "configs\\fast.yaml"], capsys)
    assert f"no such file in {in_tmp_dir}; the project's own is {project / 'configs' / 'fast.yaml'}" in error


@pytest.mark.parametrize(
    ("settings", "meant"),
    [
        ("max_epochs: 3\n", "trainer.max_epochs"),
        ("optimizer:\n  lr: 0.01\n", "model.lr"),
        ("model:\n  epochs: 3\n", "trainer.max_epochs or trainer.min_epochs"),
    ],
)
def test_a_config_key_outside_its_section_is_named_as_the_option_typed_so_is(settings, meant, tmp_path, capsys):
    """``--max_epochs 3`` typed is told "did you mean --trainer.max_epochs?"; ``max_epochs: 3`` in a config file, a
    key in another section, or ``lr`` under a section fit lacks (``optimizer:``), was refused naming no option."""
    config = tmp_path / "mine.yaml"
    config.write_text(settings)
    error = one_line_error(["fit", "--config", str(config)], capsys)
    assert error.endswith(f"(did you mean {meant}?); see fit --help\n"), error


def test_a_checkpoints_precision_this_machine_lacks_is_set_as_the_float32_it_runs_in(monkeypatch, capsys):
    """test of a bf16 run on a CPU without bfloat16 runs in float32, and said so, but left the setting null, which
    --print_config showed (and the run's config.yaml saved) for what the run took from the checkpoint."""
    from mnist_rnn.cli import _run_in_the_precision_of

    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: "none")
    config = Namespace(trainer=Namespace(precision=None, accelerator="cpu"))
    _run_in_the_precision_of({"trainer.precision": "bf16-mixed", "model.cell": "lstm"}, config)
    assert config.trainer.precision == "32-true"
    assert capsys.readouterr().err == (
        "mnist-rnn: running in 32-true (float32), not in bf16-mixed, the precision the checkpoint's run trained in, "
        "which this machine lacks\n"
    )


def test_a_runs_config_yaml_names_its_data_folder_absolutely(fake_data_dir, in_tmp_dir, monkeypatch, capsys):
    """The run's config.yaml, the run again with --config, kept a relative --data.data_dir as typed: from any
    other folder it named another folder ("MNIST files not found", or online a download of MNIST into it)."""
    import shutil

    shutil.copytree(fake_data_dir, in_tmp_dir / "data")
    run = fit_tiny("data", *SMALL)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["data_dir"] == str(in_tmp_dir / "data")
    elsewhere = in_tmp_dir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    build_cli(["fit", "--config", str(in_tmp_dir / run / "config.yaml"), "--trainer.fast_dev_run", "1"])
    assert not (elsewhere / "data").exists()


def test_a_run_folder_or_a_checkpoint_given_as_a_config_names_the_runs_config(in_tmp_dir, capsys):
    """``--config lightning_logs/version_0`` was "a folder, not a config file", without its config.yaml; a
    checkpoint was "cannot be read ('utf-8' codec can't decode byte 0x80 in position 64: ...)"."""
    run = Path("lightning_logs", "version_0")
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model:\n  hidden_size: 16\n")
    torch.save({"state_dict": {}}, run / "checkpoints" / "last.ckpt")
    settings = f"--config {run / 'config.yaml'}"
    assert one_line_error(["fit", "--config", str(run)], capsys) == (
        f"mnist-rnn: error: --config {run}: a folder, not a config file; its run's settings are {settings}\n"
    )
    checkpoint = run / "checkpoints" / "last.ckpt"
    assert one_line_error(["fit", "--config", str(checkpoint)], capsys) == (
        f"mnist-rnn: error: --config {checkpoint}: a checkpoint (or another zip archive), not a config: a "
        f"checkpoint is given as --ckpt_path {checkpoint}, and its run's settings are {settings}\n"
    )


@pytest.mark.parametrize(
    ("option", "value", "meant"),
    [
        ("--trainer.accelerator", "GPU", "gpu"),
        ("--trainer.accelerator", "cuda:0", "cuda"),
        ("--trainer.precision", "bf16mixed", "bf16-mixed"),
        ("--trainer.precision", "BF16_mixed", "bf16-mixed"),
        ("--trainer.precision", "32true", "32-true"),
    ],
)
def test_a_misspelt_accelerator_or_precision_is_named_as_a_misspelt_option_is(option, value, meant, capsys):
    """``--trainer.accelerator GPU`` and ``--trainer.precision bf16mixed`` were refused with the list of names
    alone, where a misspelt option or data set is told the one it is near."""
    error = one_line_error(["fit", option, value], capsys)
    assert error.startswith(f"mnist-rnn: error: {option} {value}: no such ") and f" (did you mean {meant}?); " in error


def test_a_data_folder_written_with_windows_backslashes_is_named_not_downloaded_into(tmp_path, monkeypatch, no_network):
    """``--data.data_dir sets\\digits`` (copied from Windows) is a folder of that name here: MNIST was downloaded into
    it, or offline "not found", next to sets/digits holding the very files."""
    from mnist_rnn.data import MNISTDataModule

    monkeypatch.chdir(tmp_path)
    write_fake_set(tmp_path / "sets" / "digits", "MNIST")
    with pytest.raises(UserError) as error:
        MNISTDataModule(data_dir="sets\\digits").prepare_data()
    assert str(error.value) == (
        "--data.data_dir sets\\digits: no such folder (\\ separates folders on Windows only: sets/digits is there)"
    )
    assert no_network == [] and not (tmp_path / "sets\\digits").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--data.data_dir", "shared"],
            "--data.data_dir shared: the MNIST files are in shared/mnist/MNIST/raw/, not in ",
        ),
        (
            ["--data.data_dir", "shared/mnist", "--data.val_size", "40", "--data.batch_size", "500"],
            "batch_size=500 is more than the 200 training",
        ),
        (["--data.data_dir", "shared/mnist", "--data.val_size", "240"], "val_size=240 leaves no training images"),
        (
            ["--data.data_dir", "shared/mnist", "--data.val_size", "40", "--model.hidden_size", "0"],
            "hidden_size must be positive, got 0",
        ),
    ],
)
def test_what_fails_before_the_trainer_is_said_before_lightnings_lines(
    args, said, in_tmp_dir, caplog, capsys, no_network
):
    """The data's refusals came from prepare_data, once the Trainer was built: after Lightning's "Seed set to 42"
    and "GPU available: ..." lines, which a newcomer read first; the model's after "Seed set to 42". Now the data's
    come with the settings' checks, and the seed's line with the Trainer's."""
    write_fake_set(in_tmp_dir / "shared" / "mnist", "MNIST")
    caplog.set_level("INFO")  # under pytest Lightning's lines go to the log capture, not to stderr
    assert said in one_line_error(["fit", *QUIET, *args], capsys)
    assert [record.getMessage() for record in caplog.records] == [] and no_network == []


def test_the_seeds_line_still_comes_with_the_trainers(fake_data_dir, in_tmp_dir, caplog):
    """Held back until the model and the data are made, it is said (once) before the Trainer's own lines."""
    caplog.set_level("INFO")
    build_cli([*data_args(fake_data_dir), *QUIET, "--seed_everything", "7"], run=False)
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("Seed set to 7") == 1 and messages.index("Seed set to 7") < len(messages) - 1, messages


def test_a_relative_data_dir_in_a_config_run_from_another_folder_names_the_one_beside_the_config(
    fake_data_dir, in_tmp_dir, capsys, no_network
):
    """A config's ``data_dir: ../data`` is read from the working folder: from any other folder than the one it was
    written for, "MNIST files not found" (online, a download of MNIST into the folder it named there)."""
    import shutil

    shutil.copytree(fake_data_dir, in_tmp_dir / "project" / "data")
    (in_tmp_dir / "project" / "configs").mkdir()
    config = in_tmp_dir / "project" / "configs" / "mine.yaml"
    config.write_text("data:\n  data_dir: ../data\n")
    error = one_line_error(["fit", "--config", str(config)], capsys)
    assert error == (
        f"mnist-rnn: error: --config {config}: data_dir ../data is read from the working folder, {in_tmp_dir}, where "
        f"there is none; from the config's folder it is --data.data_dir {in_tmp_dir / 'project' / 'data'}\n"
    )
    assert no_network == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # images without --data.predict_path: all was put on an unquoted glob, counted one too many
        (
            ["predict", "--ckpt_path", "fast.ckpt", "d0.png", "d1.png", "d2.png"],
            "predict takes no paths as plain arguments (d0.png, d1.png, ...): pass the images with one "
            "--data.predict_path: a file, a folder or a quoted glob ('*.png'), where 3 paths came",
        ),
        (
            ["predict", "--ckpt_path", "fast.ckpt", "d0.png"],
            "predict takes no paths as plain arguments (d0.png): pass the images with --data.predict_path d0.png",
        ),
        (
            ["predict", "fast.ckpt", "imgs/"],
            "predict takes no paths as plain arguments (fast.ckpt, imgs/): pass the checkpoint with --ckpt_path "
            "fast.ckpt and the images with --data.predict_path imgs/",
        ),
        # the glob the shell expanded after the option: as many paths as came
        (
            ["predict", "--data.predict_path", "d0.png", "d1.png", "d2.png", "--ckpt_path", "fast.ckpt"],
            "--data.predict_path takes one path, but 3 came: the shell expanded a glob into files",
        ),
        (
            ["predict", "--ckpt_path", "fast.ckpt", "--data.predict_path=d0.png", "d1.png"],
            "--data.predict_path takes one path, but 2 came: the shell expanded a glob into files",
        ),
        # commands that take no images: no glob to blame; a checkpoint goes with --ckpt_path
        (["fit", "d0.png"], "unrecognized arguments: d0.png (see fit --help)"),
        (["test", "--ckpt_path", "fast.ckpt", "d0.png"], "unrecognized arguments: d0.png (see test --help)"),
        (["validate", "fast.ckpt"], "validate takes no paths as plain arguments (fast.ckpt): pass the checkpoint "),
        (["serve", "fast.ckpt"], "serve takes no paths as plain arguments (fast.ckpt): pass the checkpoint with "),
        (["export", "fast.ckpt"], "export takes no paths as plain arguments (fast.ckpt): pass the checkpoint with "),
        # a folder with a space, quoted as it should be: argparse's list split it in two ("my", "photos/")
        (
            ["predict", "fast.ckpt", "my photos/"],
            "predict takes no paths as plain arguments (fast.ckpt, 'my photos/'): pass the checkpoint with "
            "--ckpt_path fast.ckpt and the images with --data.predict_path 'my photos/' (a file, a folder or a quoted "
            "glob); see predict --help",
        ),
        # paths beside something else (a number, a name mistyped): the paths' options, then what the rest is
        (
            ["predict", "fast.ckpt", "imgs/", "5"],
            "predict takes no paths as plain arguments (fast.ckpt, imgs/, ...): pass the checkpoint with --ckpt_path "
            "fast.ckpt and the images with --data.predict_path imgs/ (a file, a folder or a quoted glob); 5: no file "
            "or folder here, nor a value of an option (a value goes right after its option); see predict --help",
        ),
        # a config as a plain argument (as other tools take it), and a checkpoint after the images
        (
            ["fit", "configs/fast.yaml"],
            "fit takes no paths as plain arguments (configs/fast.yaml): pass the config with --config "
            "configs/fast.yaml (see fit --help)",
        ),
        (
            ["predict", "--data.predict_path", "imgs/", "fast.ckpt"],
            "predict takes no paths as plain arguments (fast.ckpt): pass the checkpoint with --ckpt_path fast.ckpt "
            "(see predict --help)",
        ),
        (
            ["serve", "fast.ckpt", "8000"],
            "serve takes no paths as plain arguments (fast.ckpt, 8000): pass the checkpoint with --ckpt_path "
            "fast.ckpt; 8000: no file or folder here, nor a value of an option",
        ),
    ],
)
def test_paths_given_as_plain_arguments_name_the_option_that_takes_them(args, said, in_tmp_dir, capsys):
    """``predict --ckpt_path fast.ckpt d0.png`` said "--data.predict_path takes one path, but 2 came: the shell
    expanded a glob", of a glob nobody typed, counting one path too many; ``fit d0.png`` said the same, and
    ``serve fast.ckpt`` only "unrecognized arguments", without the option that takes a checkpoint."""
    Path("imgs").mkdir()
    Path("my photos").mkdir()
    for name in ("d0.png", "d1.png", "d2.png", "imgs/d0.png", "fast.ckpt"):
        Path(name).write_bytes(b"")
    err = one_line_error(args, capsys)
    assert err.startswith(f"mnist-rnn: error: {said}"), err


@pytest.mark.parametrize("given", ["", "  "])
def test_an_empty_data_dir_is_refused_before_anything_is_downloaded(given, in_tmp_dir, no_network, capsys):
    """``--data.data_dir "$DATA"`` with DATA unset: the empty name was the working folder, where the data set was
    downloaded without a word (online), beside the user's own files."""
    err = one_line_error(["fit", "--data.data_dir", given, *QUIET], capsys)
    assert err == (
        f"mnist-rnn: error: --data.data_dir {given!r}: an empty name (an unset shell variable?): pass the folder that "
        "holds MNIST/raw/, or leave the option out for data/\n"
    )
    assert no_network == [] and list(in_tmp_dir.iterdir()) == []
