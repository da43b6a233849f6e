"""Temperature scaling: the fitted temperature, ``python -m mnist_rnn calibrate``, and where it is used."""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import signal
import stat
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mnist_rnn import calibration
from mnist_rnn.calibration import calibrate, calibration_error, fit_temperature, temperature_text
from mnist_rnn.cli import calibration_line, main
from mnist_rnn.errors import UserError
from mnist_rnn.inference import ProbabilityModel
from mnist_rnn.model import RNNClassifier
from tests.helpers import QUIET, data_args, fit_tiny_in, one_line_error, render_digit, write_fake_set


def overconfident(count: int = 4000, true_temperature: float = 2.5, seed: int = 0):
    """Logits ``z`` whose labels are drawn from ``softmax(z / true_temperature)``: T = 2.5 calibrates them."""
    generator = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(count, 10, generator=generator)
    labels = torch.multinomial((logits / true_temperature).softmax(dim=-1), 1, generator=generator).squeeze(1)
    return logits, labels


def test_the_fitted_temperature_lowers_the_nll_and_changes_no_class():
    logits, labels = overconfident()
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.1)  # the temperature the labels were drawn with
    assert F.cross_entropy(logits / temperature, labels) < F.cross_entropy(logits, labels)
    for nearby in (0.9 * temperature, 1.1 * temperature):  # a minimum, not just lower
        assert F.cross_entropy(logits / temperature, labels) < F.cross_entropy(logits / nearby, labels)
    assert torch.equal((logits / temperature).argmax(dim=-1), logits.argmax(dim=-1))
    measured = calibrate(logits, labels)
    assert measured.ece_after < measured.ece_before / 3 and measured.nll_after < measured.nll_before


def test_an_underconfident_model_gets_a_temperature_below_one():
    """Label smoothing's case: the network is right more often than its probabilities say."""
    logits, labels = overconfident(true_temperature=0.5)
    assert fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.1)


def test_a_temperature_at_an_end_of_its_range_says_so():
    """A model that guesses fitted T = 20, the upper limit, and the line said nothing of it."""
    guesses = torch.randn(2000, 10) * 5  # confident logits, unrelated to the labels
    calibration = calibrate(guesses, torch.randint(0, 10, (2000,)))
    assert calibration.temperature == 20.0 and calibration.accuracy < 0.2
    assert str(calibration).endswith(
        "(T at its upper limit, 20). Note: the model is right on only "
        f"{calibration.accuracy:.2%} of the validation images: calibration can make its probabilities say so, not "
        "make it useful; train it longer"
    )
    assert calibrate(*overconfident(true_temperature=0.5)).at_limit == ""


def test_calibrate_says_a_barely_trained_model_is_not_made_useful(fake_data_dir, tmp_path, monkeypatch, capsys):
    """A model right a third of the time was calibrated (T = 0.169 on MNIST) and written without a word."""
    monkeypatch.chdir(tmp_path)
    run = fit_tiny_in(tmp_path, fake_data_dir, "--model.hidden_size", "4", "--trainer.max_steps", "1")
    path = run / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    main(["calibrate", "--ckpt_path", str(path), "--data.data_dir", str(fake_data_dir)])
    out, err = capsys.readouterr()
    accuracy = torch.load(path, weights_only=True)["calibration"]["accuracy"]
    assert accuracy < calibration.USEFUL_ACCURACY and f"Wrote temperature {temperature_of(path):.4f} into" in out
    assert (
        f"\nmnist-rnn: warning: the model is right on only {accuracy:.2%} of the validation images: calibration can "
        "make its probabilities say so, not make it useful; train it longer\n"
    ) in err


def test_a_temperature_that_raises_the_calibration_error_says_so():
    """Fitted to the NLL, a temperature can raise the binned ECE (a model trained 5 batches: 4.65% to 9.36%,
    reported as if it had worked)."""
    rose = calibration.Calibration(0.576, 256, 0.61, ece_before=0.0465, ece_after=0.0936, nll_before=2.0, nll_after=1.9)
    assert str(rose).startswith("temperature 0.576; on the 256 validation images the calibration error (ECE) went")
    assert str(rose).endswith(
        ". Note: the ECE rose, though the NLL fell: no one temperature fits this model's confidences (barely "
        "trained?), or 256 validation images are too few to measure them"
    )
    # That model was right on 31% of them: then that is said, the cause, in its place.
    rose.accuracy = 0.31
    assert str(rose).endswith(". Note: the model is right on only 31.00% of the validation images: calibration can "
                              "make its probabilities say so, not make it useful; train it longer")  # fmt: skip
    assert calibrate(*overconfident()).ece_rose == ""  # the usual case: both fall


def test_a_temperature_fitted_on_few_images_says_it_is_rough():
    """On MNIST, 300 validation images fitted a temperature anywhere from 0.40 to 0.62 (10th to 90th
    percentile of 40 samples), where 5,000 fit 0.56: fit's line said nothing of it."""
    few = calibration.Calibration(0.81, 20, 0.95, ece_before=0.05, ece_after=0.02, nll_before=0.2, nll_after=0.15)
    assert str(few).endswith(
        "unchanged by T. Note: 20 validation images fit a rough temperature; 1,000 or more fit a steady one (the "
        "run's --data.val_size)"
    )
    assert calibrate(*overconfident()).few_images == ""  # 4,000 images


def test_the_calibration_error_is_torchmetrics_and_zero_for_a_perfectly_calibrated_bin():
    logits = torch.log(torch.tensor([[0.6, 0.4]] * 10))
    labels = torch.tensor([0] * 6 + [1] * 4)  # 60% right at 60% confidence
    assert calibration_error(logits, labels) == pytest.approx(0.0, abs=1e-6)
    assert calibration_error(logits, torch.zeros(10, dtype=torch.long)) == pytest.approx(0.4, abs=1e-6)


@pytest.fixture(scope="module")
def run(fake_data_dir, tmp_path_factory) -> Path:
    return fit_tiny_in(tmp_path_factory.mktemp("calibrate"), fake_data_dir, "--model.hidden_size", "16")


def temperature_of(path: Path) -> float:
    return float(torch.load(path, weights_only=True)["state_dict"]["network.temperature"])


def test_fit_calibrates_its_best_checkpoint_and_leaves_last_alone(run):
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    saved = torch.load(best, weights_only=True)["calibration"]
    assert temperature_of(best) == pytest.approx(saved["temperature"]) and saved["temperature"] != 1.0
    assert saved["images"] == 40 and saved["nll_after"] <= saved["nll_before"]
    assert temperature_of(run / "checkpoints" / "last.ckpt") == 1.0
    assert not list((run / "checkpoints").glob(".*partial"))


def test_a_run_resumed_from_a_calibrated_checkpoint_does_not_keep_its_temperature(
    run, fake_data_dir, tmp_path, monkeypatch, capsys
):
    """The temperature is fitted to the weights it was fitted with: a run resumed from a calibrated last.ckpt
    saved it into every later checkpoint, fitted to weights they no longer hold, with no note."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    last = copy / "checkpoints" / "last.ckpt"
    main(["calibrate", "--ckpt_path", str(last), "--data.data_dir", str(fake_data_dir)])
    assert temperature_of(last) != 1.0
    monkeypatch.chdir(tmp_path)
    main(["fit", "--config", str(copy / "config.yaml"), "--trainer.max_epochs", "2", "--ckpt_path", str(last), *QUIET])
    (resumed,) = Path("lightning_logs").glob("version_*")
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
    assert temperature_of(resumed / "checkpoints" / "last.ckpt") == 1.0  # marked not calibrated, as a new run's
    best = next((resumed / "checkpoints").glob("best-*.ckpt"))
    fitted = torch.load(best, weights_only=True)["calibration"]["temperature"]  # calibrated anew by fit
    assert temperature_of(best) == pytest.approx(fitted)


def test_calibrate_fits_on_the_validation_split_and_writes_the_checkpoint(run, fake_data_dir, tmp_path, capsys):
    path = tmp_path / "model.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", path)
    main(["calibrate", "--ckpt_path", str(path), "--data.data_dir", str(fake_data_dir)])
    out, err = capsys.readouterr()
    assert "Validation split, 40 images" in out and "calibration error (ECE, 15 bins)" in out
    # 40 images fitted a temperature without a word of how rough it is (on MNIST, 300 fitted anywhere from 0.40
    # to 0.62, where 5,000 fit 0.56)
    assert err.endswith(
        "mnist-rnn: warning: 40 validation images fit a rough temperature; 1,000 or more fit a steady one (the "
        "run's --data.val_size)\n"
    )
    # in float32 (as predict and serve compute it): "unchanged" beside a bf16 run's validation said otherwise
    assert " in float32, unchanged by T), uncalibrated (T = 1) -> calibrated:" in out
    temperature = temperature_of(path)
    assert f"Wrote temperature {temperature:.4f} into {path}" in out
    assert temperature != 1.0 and [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]  # no partial file
    # The same split as fit's: the numbers match those fit wrote into its best checkpoint's neighbour.
    model = RNNClassifier.load_from_checkpoint(path)
    logits, labels = calibration.logits_of(model.network, calibration.validation_split(path).val_dataloader())
    measured = calibrate(logits, labels)
    assert measured.temperature == pytest.approx(temperature, rel=1e-4)
    assert f"{measured.nll_before:.4f} -> {measured.nll_after:.4f}" in out
    assert measured.nll_after < measured.nll_before
    # Everything that gives probabilities divides the logits by it; the classes stay.
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    network = model.network.eval()
    with torch.no_grad():
        expected = (network(images) / temperature).softmax(dim=-1)
        assert torch.allclose(ProbabilityModel(network)(images)[0], expected, atol=1e-6)
        assert torch.allclose(model.predict_step(images, 0), expected, atol=1e-6)
        assert torch.equal(expected.argmax(dim=-1), network(images).argmax(dim=-1))
    assert "it held" not in out
    # Again: its figures start from T = 1 as before, and it says what the checkpoint held.
    main(["calibrate", "--ckpt_path", str(path), "--data.data_dir", str(fake_data_dir)])
    assert f"into {path} (it held {temperature:.4f}, from an earlier calibration)" in capsys.readouterr().out


def test_predict_gives_the_calibrated_probability(run, fake_data_dir, tmp_path, monkeypatch, capsys):
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    folder = tmp_path / "digits"
    folder.mkdir()
    render_digit(3, canvas=(60, 60), size=44, ink=0, paper=255).save(folder / "three.png")
    monkeypatch.chdir(tmp_path)
    main(["predict", "--ckpt_path", str(best), "--data.predict_path", str(folder)])
    (_, digit, probability) = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1]
    from mnist_rnn.preparation import to_mnist
    from mnist_rnn.user_images import decode_image

    network = RNNClassifier.load_from_checkpoint(best).network.eval()
    with torch.no_grad():
        expected = network.probabilities(to_mnist(decode_image(folder / "three.png"))[None])[0]
    assert int(digit) == int(expected.argmax()) and float(probability) == pytest.approx(float(expected.max()), abs=1e-4)
    assert "not calibrated" not in capsys.readouterr().err


def test_a_checkpoint_never_calibrated_says_so_wherever_it_gives_probabilities(run, tmp_path, monkeypatch, capsys):
    """last.ckpt keeps T = 1: predict, test, serve and export gave its raw probabilities without a word."""
    last = run / "checkpoints" / "last.ckpt"
    folder = tmp_path / "digits"
    folder.mkdir()
    render_digit(3, canvas=(60, 60), size=44, ink=0, paper=255).save(folder / "three.png")
    monkeypatch.chdir(tmp_path)
    main(["predict", "--ckpt_path", str(last), "--data.predict_path", str(folder)])
    note = "not calibrated (temperature 1: the fit command calibrates its best checkpoint only, not last.ckpt nor one "
    note += "saved from Python)"
    err = capsys.readouterr().err
    assert note in err and f"calibrate --ckpt_path {last}` fits one" in err
    main(["export", "--ckpt_path", str(last), "--format", "pt2", "--output", str(tmp_path / "model.pt2")])
    err = capsys.readouterr().err  # said once the file is written (not above a one-line error)
    assert err.endswith(f"{note}, so its probabilities are not how often it is right; `mnist-rnn calibrate "
                        f"--ckpt_path {last}` fits one\n")  # fmt: skip


def test_the_notes_command_to_calibrate_quotes_a_path_with_a_space(tmp_path, capsys):
    """The notes put the path in their command as it was: ``calibrate --ckpt_path /home/me/My runs/last.ckpt``,
    pasted, passed the shell two arguments. A plain path stays as it is."""
    from mnist_rnn.inference import note_if_uncalibrated

    model = RNNClassifier(hidden_size=4)
    state = {key: value for key, value in model.state_dict().items() if key != "network.temperature"}
    old = {"state_dict": state, "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": "2.6.0"}
    never = {"state_dict": {"network.temperature": torch.tensor(1.0)}}  # this version's, never calibrated
    for folder, quote in (("My runs", "'"), ("runs", "")):
        (tmp_path / folder).mkdir()
        torch.save(never, tmp_path / folder / "last.ckpt")
        torch.save(old, tmp_path / folder / "old.ckpt")
        note_if_uncalibrated(tmp_path / folder / "last.ckpt")
        RNNClassifier.load_from_checkpoint(tmp_path / folder / "old.ckpt")
        err = capsys.readouterr().err
        for name in ("last.ckpt", "old.ckpt"):
            command = f"mnist-rnn calibrate --ckpt_path {quote}{tmp_path / folder / name}{quote}"
            assert f"`{command}` fits one" in err, err


def test_a_checkpoint_that_predates_calibration_is_named_in_its_note(run, fake_data_dir, tmp_path, monkeypatch, capsys):
    """A checkpoint without a temperature (an earlier version's) got a note whose command named no file
    ("calibrate --ckpt_path CKPT"): its load hook is given only the state dict."""
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    del checkpoint["state_dict"]["network.temperature"]
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    folder = tmp_path / "digits"
    folder.mkdir()
    render_digit(3, canvas=(60, 60), size=44, ink=0, paper=255).save(folder / "three.png")
    monkeypatch.chdir(tmp_path)
    note = "no calibration temperature (it predates calibration), so its probabilities are uncalibrated; "
    note += f"`mnist-rnn calibrate --ckpt_path {old}` fits one"
    capsys.readouterr()
    RNNClassifier.load_from_checkpoint(old)
    assert capsys.readouterr().err == f"mnist-rnn: note: this checkpoint has {note}\n"
    for command in (
        ["predict", "--ckpt_path", str(old), "--data.predict_path", str(folder)],
        ["test", "--ckpt_path", str(old), *data_args(fake_data_dir), *QUIET],
        ["export", "--ckpt_path", str(old), "--format", "pt2", "--output", str(tmp_path / "model.pt2")],
    ):
        main(command)
        assert capsys.readouterr().err.count(note) == 1, command[0]
    # calibrate itself says what it wrote, not to run calibrate
    main(["calibrate", "--ckpt_path", str(old), "--data.data_dir", str(fake_data_dir)])
    out, err = capsys.readouterr()
    assert f"into {old}" in out and "predates" not in err


def error_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI with ``args`` that must fail: exit status 2, and its last stderr line is the error (the data
    module may warn first that 40 validation images are few)."""
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("mnist-rnn: error: ")
    return last


def test_a_failed_write_leaves_the_checkpoint_as_it_was(run, fake_data_dir, tmp_path, monkeypatch, capsys):
    path = tmp_path / "model.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(calibration.torch, "save", full_disk)
    error = error_line(["calibrate", "--ckpt_path", str(path), "--data.data_dir", str(fake_data_dir)], capsys)
    assert f"no space left on the device to rewrite {path}: it is unchanged" in error
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--ckpt_path", "missing.ckpt"], "--ckpt_path missing.ckpt: no such file", id="no checkpoint"),
        pytest.param([], "the following arguments are required: --ckpt_path", id="no --ckpt_path"),
        pytest.param(["--ckpt_path", "CKPT", "--data.data_dir", "nowhere"], "nowhere", id="no data"),
        pytest.param(  # it named --data.dataset, which calibrate has not: the data set is the checkpoint's
            ["--ckpt_path", "CKPT", "--data.data_dir", "fashion"],
            "fashion holds FashionMNIST/raw/, another data set than the checkpoint's.",
            id="another data set's folder",
        ),
    ],
)
def test_bad_calibrate_options_are_one_line(args, message, run, tmp_path, monkeypatch, capsys, no_network):
    monkeypatch.chdir(tmp_path)
    write_fake_set(tmp_path / "fashion", "FashionMNIST")
    path = tmp_path / "model.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", path)
    before = path.read_bytes()
    assert message in one_line_error(["calibrate", *[str(path) if a == "CKPT" else a for a in args]], capsys)
    assert path.read_bytes() == before


def test_test_prints_the_calibration_error_before_and_after(run, fake_data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    best = next((run / "checkpoints").glob("best-*.ckpt"))
    main(["test", "--ckpt_path", str(best), *data_args(fake_data_dir), *QUIET])
    *_, accuracy_line, line = capsys.readouterr().out.strip().splitlines()
    # The same headline as after fit: test alone gives the final numbers too.
    assert accuracy_line.startswith("Test accuracy ") and accuracy_line.endswith(f"on 60 test images, from {best}")
    temperature = temperature_of(best)
    assert line.startswith("Test calibration error (ECE, 15 bins) ")
    assert f"at temperature {temperature:.3f}" in line and "uncalibrated, at 1.0" in line


def test_an_uncalibrated_checkpoints_test_line_gives_its_error_once_and_says_how_to_calibrate():
    """It said "ECE 3.10% at temperature 1.000 (3.10% uncalibrated, at 1.0)": one number twice."""
    results = {"test/ece": 0.031, "test/ece_uncalibrated": 0.031, "test/temperature": 1.0}
    assert calibration_line(results) == (
        "Test calibration error (ECE, 15 bins) 3.10% at temperature 1.0, uncalibrated (calibrate fits a "
        "temperature to the validation split)"
    )
    results.update({"test/ece": 0.0027, "test/temperature": 0.54114})
    assert calibration_line(results) == (
        "Test calibration error (ECE, 15 bins) 0.27% at temperature 0.541 (3.10% uncalibrated, at 1.0)"
    )


def test_a_temperature_is_written_with_the_decimals_that_tell_it_from_1():
    """A fitted 1.0004 was printed "1.000", which reads as uncalibrated (T = 1)."""
    assert temperature_text(0.54114) == "0.541"
    assert temperature_text(1.0004) == "1.0004" and temperature_text(0.99996, 2) == "0.99996"
    assert temperature_text(1.0) == "1.000" and temperature_text(20.0, 2) == "20.00"


def test_a_temperature_fitted_on_other_images_than_before_is_not_written(tmp_path):
    """MNIST's files under FashionMNIST/raw/: the Fashion checkpoint's split read at 18% (45% when fit calibrated
    it), and calibrate wrote the temperature fitted to them over the good one (0.68 became 7.59)."""
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}, "calibration": {"accuracy": 0.4520}}, path)
    datamodule = type("Split", (), {"raw_folder": tmp_path / "data" / "FashionMNIST" / "raw"})()

    def measured(accuracy: float, images: int = 5000) -> calibration.Calibration:
        return calibration.Calibration(0.7, images, accuracy, 0.1, 0.01, 0.5, 0.4)

    refused = (
        r"reads at 18.36% here, but read at 45.20% when .*model.ckpt was calibrated before: these are not the images "
        r".* files in .*FashionMNIST/raw\?\); the temperature was not written"
    )
    with pytest.raises(UserError, match=refused):
        calibration._check_the_run_validated_these(path, measured(0.1836), datamodule)
    calibration._check_the_run_validated_these(path, measured(0.4519), datamodule)  # the same, on another device
    calibration._check_the_run_validated_these(path, measured(0.40, images=40), datamodule)  # 2 of 40 images
    torch.save({"state_dict": {}}, path)  # never calibrated: nothing to compare with
    calibration._check_the_run_validated_these(path, measured(0.1836), datamodule)


def test_calibrate_rewrites_a_links_file_and_refuses_a_read_only_one(run, fake_data_dir, tmp_path, capsys):
    """calibrate replaced a symbolic link with a calibrated file, leaving the file it named (which everything
    else loads) at T = 1; and it replaced a read-only checkpoint (a rename needs only the folder writable)."""
    target, link = tmp_path / "model.ckpt", tmp_path / "link.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", target)
    target.chmod(0o640)
    link.symlink_to(target)
    main(["calibrate", "--ckpt_path", str(link), "--data.data_dir", str(fake_data_dir)])
    assert link.is_symlink() and temperature_of(target) != 1.0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # its permissions kept
    capsys.readouterr()
    target.chmod(0o444)
    before = target.read_bytes()
    error = error_line(["calibrate", "--ckpt_path", str(target), "--data.data_dir", str(fake_data_dir)], capsys)
    assert f"{target} is read-only (mode 444): the temperature is not written" in error
    assert target.read_bytes() == before and stat.S_IMODE(target.stat().st_mode) == 0o444


def test_a_checkpoint_in_a_folder_this_user_cannot_write_is_named_so(run, fake_data_dir, tmp_path, monkeypatch, capsys):
    """Someone else's checkpoint, in their folder: Lightning's writer swallows the PermissionError, and calibrate
    said "(No such file or directory)" of a file that was there."""
    from fsspec.implementations.local import LocalFileSystem

    target = tmp_path / "theirs.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", target)
    before = target.read_bytes()

    def refused(self, path, mode="rb", *args, **kwargs):
        if "w" in mode:  # as for a user without write access to the folder (this test may run as root)
            raise PermissionError(13, "Permission denied", path)
        return original(self, path, mode, *args, **kwargs)

    original = LocalFileSystem.open
    monkeypatch.setattr(LocalFileSystem, "open", refused)
    error = error_line(["calibrate", "--ckpt_path", str(target), "--data.data_dir", str(fake_data_dir)], capsys)
    assert error == (
        f"mnist-rnn: error: could not rewrite {target} (Permission denied): it is unchanged; its folder {tmp_path} "
        "must be writable too (or calibrate a copy)"
    )
    assert target.read_bytes() == before and not list(tmp_path.glob(".*.partial"))


def test_a_checkpoint_with_a_line_break_in_its_name_is_named_on_one_line(
    run, fake_data_dir, tmp_path, monkeypatch, capsys
):
    """``calibrate --ckpt_path $'my\\nmodel.ckpt'``: "Wrote temperature ... into .../my" and "model.ckpt" each on a
    line of their own, and so the line of a stop and the errors; the name now as bash's ``$'...'`` writes it (as
    the other messages name such a file), pasted, it names the checkpoint."""
    path = tmp_path / "my\nmodel.ckpt"
    shutil.copy(run / "checkpoints" / "last.ckpt", path)
    shown = f"$'{tmp_path}/my\\x0amodel.ckpt'"
    args = ["calibrate", "--ckpt_path", str(path), "--data.data_dir", str(fake_data_dir)]
    main(args)
    wrote = capsys.readouterr().out.splitlines()[-1]
    assert wrote == f"Wrote temperature {temperature_text(temperature_of(path), 4)} into {shown}"

    def stopped(*args, **kwargs):  # Ctrl+C while the validation split is read
        os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patched:
        patched.setattr(calibration, "calibrate_checkpoint", stopped)
        with pytest.raises(SystemExit) as exit:
            main(args)
    assert exit.value.code == 130
    assert capsys.readouterr().err == f"mnist-rnn: stopped by SIGINT while calibrating; {shown} is unchanged\n"
    path.chmod(0o444)
    error = error_line(args, capsys)
    assert error.startswith(f"mnist-rnn: error: {shown} is read-only (mode 444): the temperature is not written")
    # A mistyped name: it, and the checkpoint beside it that it may have meant, each named as bash writes them.
    error = one_line_error(["calibrate", "--ckpt_path", str(tmp_path / "my\nmodel")], capsys)
    assert error == (
        f"mnist-rnn: error: --ckpt_path $'{tmp_path}/my\\x0amodel': no such file; {tmp_path} holds "
        "$'my\\x0amodel.ckpt'\n"
    )


def test_a_checkpoint_whose_data_folder_is_gone_is_calibrated_on_the_default_one(run, tmp_path, monkeypatch, capsys):
    """As test and validate: the run's absolute folder on another machine was read (an error naming it), or,
    online, downloaded into, a folder made there."""
    path = tmp_path / "model.ckpt"
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    elsewhere = tmp_path / "home" / "alice" / "data"
    checkpoint["datamodule_hyper_parameters"]["data_dir"] = str(elsewhere)
    torch.save(checkpoint, path)
    write_fake_set(tmp_path / "data", "MNIST")
    monkeypatch.chdir(tmp_path)
    main(["calibrate", "--ckpt_path", str(path)])
    captured = capsys.readouterr()
    assert (
        f"mnist-rnn: warning: the checkpoint's run read its data from {elsewhere}, which is not there from here: "
        "reading data/ instead (--data.data_dir names the folder)" in captured.err
    )
    assert "Validation split, 40 images" in captured.out and temperature_of(path) != 1.0
    assert not (tmp_path / "home").exists()
