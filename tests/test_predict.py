"""``python -m mnist_rnn predict`` in-process: a tiny checkpoint from the fake data, and pictures made here."""

import csv
import io
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_rnn.cli import main
from mnist_rnn.errors import UserError
from mnist_rnn.model import RNNClassifier
from mnist_rnn.preparation import to_mnist
from mnist_rnn.user_images import decode_image, preparation_for
from tests.helpers import QUIET, data_args, render_digit


@pytest.fixture(scope="module")
def checkpoint(mnist_checkpoint) -> Path:
    """A small model trained one epoch on the fake data (its predictions are arbitrary but fixed): the session's
    (tests/conftest.py)."""
    return mnist_checkpoint


@pytest.fixture
def pictures(tmp_path) -> Path:
    """A folder of digits in several formats and modes: scans, a photo, a drawing app's PNG, MNIST-style."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    render_digit(3, canvas=(300, 200), size=120, at=(150, 40), ink=0, paper=255).save(folder / "scan.png")
    render_digit(7, canvas=(200, 300), size=150, ink=(20, 20, 80), paper=(230, 220, 200), mode="RGB").save(
        folder / "photo.jpg"
    )
    render_digit(1, canvas=(100, 100), size=70, ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA").save(
        folder / "drawn.png"
    )
    render_digit(5, canvas=(64, 64), size=50, ink=0, paper=255).save(folder / "five.bmp")
    render_digit(8).save(folder / "mnist_style.gif")
    return folder


def predict(checkpoint: Path, path, *extra: str) -> None:
    main(["predict", "--ckpt_path", str(checkpoint), "--data.predict_path", str(path), *extra])


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_predict_prints_csv_and_writes_predictions_csv(checkpoint, pictures, in_tmp_dir, capsys):
    for page in (2, 10):  # numbered scans: the table lists them as a file manager does, 2 before 10
        shutil.copy(pictures / "scan.png", pictures / f"page {page}.png")
    predict(checkpoint, pictures)
    out, err = capsys.readouterr()
    rows = read_csv(out)
    assert rows[0] == ["path", "digit", "probability"]
    assert [Path(row[0]).name for row in rows[1:]] == [
        "drawn.png", "five.bmp", "mnist_style.gif", "page 2.png", "page 10.png", "photo.jpg", "scan.png",
    ]  # fmt: skip
    assert_rows_are_the_models(rows, checkpoint)
    # Nothing else is written: each predict added a lightning_logs/version_N of its settings and a copy of the table.
    assert sorted(path.name for path in Path.cwd().iterdir()) == ["pictures"] and "table is also" not in err
    # A logger typed keeps them in a run folder, and stderr says where.
    for logger in (["--trainer.logger", "true"], ["--trainer.logger=CSVLogger"]):
        predict(checkpoint, pictures, *logger)
        out, err = capsys.readouterr()
        saved = max(Path("lightning_logs").glob("version_*/predictions.csv"))
        assert saved.read_text() == out
        assert f"mnist-rnn: the table is also in {saved}" in err
        # No TensorBoard file: it held hyperparameters only, an empty run in TensorBoard's list per predict.
        assert sorted(path.name for path in saved.parent.iterdir()) == ["config.yaml", "hparams.yaml", saved.name]


def test_a_table_of_the_users_own_is_never_written_over(checkpoint, pictures, in_tmp_dir, capsys):
    """Without a logger the writer puts the table in the working folder, where it replaced a predictions.csv of
    the user's own without a word."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.predictions import PredictionWriter

    Path("predictions.csv").write_text("my own spreadsheet\n")
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    for run in (1, 2):
        data = MNISTDataModule(predict_path=str(pictures), prepare_workers=0)
        trainer = Trainer(callbacks=[PredictionWriter()], logger=False, enable_progress_bar=False, accelerator="cpu")
        trainer.predict(model, datamodule=data)
        out, err = capsys.readouterr()
        assert Path(f"predictions-{run + 1}.csv").read_text() == out
        assert f"mnist-rnn: the table is also in {Path.cwd() / f'predictions-{run + 1}.csv'}" in err
    assert Path("predictions.csv").read_text() == "my own spreadsheet\n"


def test_the_tables_file_is_named_in_one_line(checkpoint, pictures, tmp_path, monkeypatch, capsys):
    """ "the table is also in ..." named the file as it is: a working folder with a line break in its name split
    the line. Written as bash's $'...' writes it, as the pictures' names are."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.predictions import PredictionWriter

    (tmp_path / "runs\n").mkdir()
    monkeypatch.chdir(tmp_path / "runs\n")
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    data = MNISTDataModule(predict_path=str(pictures), prepare_workers=0)
    trainer = Trainer(callbacks=[PredictionWriter()], logger=False, enable_progress_bar=False, accelerator="cpu")
    trainer.predict(model, datamodule=data)
    err = capsys.readouterr().err
    assert f"mnist-rnn: the table is also in $'{tmp_path}/runs\\x0a/predictions.csv'\n" in err


@pytest.mark.parametrize("cpu", ["native", "none"])
def test_a_bfloat16_recipe_still_predicts_float32_probabilities(
    checkpoint, pictures, in_tmp_dir, capsys, monkeypatch, cpu
):
    """predict --config configs/fast.yaml (bf16-mixed) gave probabilities in bfloat16's steps (0.9961 for 0.9978),
    other than serve's and the exported models'; on a CPU without bfloat16 it warned of a fallback to float32,
    which predict runs in anyway."""
    monkeypatch.setattr("mnist_rnn.precision.cpu_bf16", lambda: cpu)
    predict(checkpoint, pictures, "--trainer.precision", "bf16-mixed")
    out, err = capsys.readouterr()
    assert_rows_are_the_models(read_csv(out), checkpoint)
    assert "replaced by" not in err


def test_predict_with_worker_processes_writes_the_same_table(checkpoint, pictures, in_tmp_dir, capsys):
    (pictures / "broken.png").write_text("no picture")
    tables = []
    for workers in ("0", "2"):
        with pytest.raises(SystemExit):  # the broken file: exit status 2, after the table
            predict(checkpoint, pictures, "--data.prepare_workers", workers)
        tables.append(capsys.readouterr().out)
    assert tables[0] == tables[1] and len(read_csv(tables[1])) == 1 + 6
    assert read_csv(tables[1])[1][:2] == [str(pictures / "broken.png"), "error"]


def test_a_progress_bar_of_the_users_stays_out_of_the_table(checkpoint, pictures, in_tmp_dir, capsys):
    """Lightning's bars draw on stdout: a --trainer.callbacks+=TQDMProgressBar put its lines into the CSV."""
    predict(checkpoint, pictures)
    plain = capsys.readouterr().out
    predict(checkpoint, pictures, "--trainer.callbacks+=TQDMProgressBar", "--trainer.callbacks.refresh_rate", "1")
    captured = capsys.readouterr()
    assert captured.out == plain and len(read_csv(plain)) == 1 + 5
    assert "predict draws no progress bar: its table goes to stdout" in captured.err


def test_lightnings_tips_are_left_out_of_the_output(checkpoint, pictures, in_tmp_dir, caplog):
    caplog.set_level(logging.INFO)  # under pytest Lightning's lines go to the log capture, not to stderr
    predict(checkpoint, pictures)
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("GPU available:") for line in lines)  # its own lines, through the same logger
    assert not any("Tip" in line or "litlogger" in line for line in lines)


def assert_rows_are_the_models(rows: list[list[str]], checkpoint: Path) -> None:
    """Each row is what the checkpoint's model says of the preprocessed image: argmax and its probability;
    MNIST's classes are the digits, other data sets' their names."""
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    with torch.no_grad():
        preparation = preparation_for(model.hparams.dataset)  # a Fashion-MNIST checkpoint: as garments
        images = torch.stack([preparation(decode_image(row[0])).pixels for row in rows[1:]])
        probabilities = model(images).softmax(-1)
    names = [str(index) for index in range(10)] if model.hparams.dataset == "mnist" else model.hparams.class_names
    assert [row[1] for row in rows[1:]] == [names[index] for index in probabilities.argmax(-1).tolist()]
    assert [float(row[2]) for row in rows[1:]] == pytest.approx(probabilities.max(-1).values.tolist(), abs=1e-4)


def test_the_checkpoint_decides_the_data_set(fashion_checkpoint, fake_data_dir, pictures, in_tmp_dir, capsys):
    # Trained on Fashion-MNIST: predict must use its statistics without being told --data.dataset.
    fashion = fashion_checkpoint
    Image.new("RGB", (200, 100), "white").save(pictures / "empty_page.jpg")
    capsys.readouterr()
    predict(fashion, pictures)
    captured = capsys.readouterr()
    rows = read_csv(captured.out)
    # Its messages speak of garments: the model reads no digits.
    assert [
        str(pictures / "empty_page.jpg"),
        "blank",
        "no garment found (the picture is blank, or only lines or noise)",
    ] in rows
    assert f"{pictures / 'empty_page.jpg'}: no garment found" in captured.err
    rows = [row for row in rows if row[1] != "blank"]
    assert rows[0] == ["path", "class", "probability"]  # its classes are not digits: named, like "Trouser"
    assert {row[1] for row in rows[1:]} <= {
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    }
    assert_rows_are_the_models(rows, fashion)
    # Told another data set, typed, predict refuses, as test does: the user believes in another model.
    with pytest.raises(SystemExit) as exit_info:
        predict(fashion, pictures, "--data.dataset", "mnist")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "mnist-rnn: error: the checkpoint was trained on fashion_mnist, not mnist: pass --data.dataset "
        "fashion_mnist or leave --data.dataset out\n"
    )
    # Testing it on another data set, typed, is a mistake, said in one line.
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--ckpt_path", str(fashion), *data_args(fake_data_dir), "--data.dataset", "mnist", *QUIET])
    assert exit_info.value.code == 2
    assert "trained on fashion_mnist, not mnist: pass --data.dataset fashion_mnist" in capsys.readouterr().err


def test_predict_one_file_or_a_glob(checkpoint, pictures, in_tmp_dir, capsys):
    predict(checkpoint, pictures / "scan.png")
    assert [row[0] for row in read_csv(capsys.readouterr().out)[1:]] == [str(pictures / "scan.png")]
    predict(checkpoint, pictures / "*.png")
    assert [Path(row[0]).name for row in read_csv(capsys.readouterr().out)[1:]] == ["drawn.png", "scan.png"]


def test_a_file_name_that_is_not_utf8_gets_its_row(checkpoint, pictures, in_tmp_dir, capfdbinary):
    """A Latin-1 name (an old USB stick, a Windows zip) ended the run with a UnicodeEncodeError and no table."""
    latin = pictures / os.fsdecode(b"caf\xe9.png")
    (pictures / "scan.png").rename(latin)
    predict(checkpoint, pictures, "--trainer.logger", "true")
    out = capfdbinary.readouterr().out
    assert out.count(b"\n") == 6 and bytes(pictures) + b"/caf\xe9.png," in out  # the name's own bytes, as ls shows it
    assert Path("lightning_logs/version_0/predictions.csv").read_bytes() == out


def test_a_name_a_spreadsheet_would_take_for_a_formula_is_written_as_a_path_to_the_same_file(
    checkpoint, pictures, monkeypatch, capsys
):
    """A picture named =1+1.png, read by a glob in its folder, had the cell =1+1.png: a live formula once the table
    was opened in Excel, LibreOffice or Sheets (OWASP's CSV injection). ./=1+1.png is plain text there, and the
    same file to whatever opens the row's path."""
    names = ["=1+1.png", "+1.png", "-1.png", "@SUM(A1).png", "\tindented.png"]
    for name in names:
        shutil.copy(pictures / "scan.png", pictures / name)
    monkeypatch.chdir(pictures)
    predict(checkpoint, "*.png", "--data.save_prepared=-prepared")
    rows = read_csv(capsys.readouterr().out)
    cells = {row[0]: row for row in rows[1:]}
    for name in names:
        row = cells[f"./{name}"]
        assert Path(row[0]).samefile(name) and row[1] == cells["scan.png"][1]
        assert row[3].startswith("./-prepared/") and Path(row[3]).is_file()
    assert not [cell for row in rows for cell in row if cell[:1] in tuple("=+-@\t\r")]  # no cell a formula


def test_a_file_name_with_a_line_break_keeps_its_row_and_its_line(checkpoint, pictures, in_tmp_dir, capsys):
    """A carriage return in a name was left unquoted (Python's writer quotes its lineterminator's "\\n" only):
    csv.reader stopped on the table with "new-line character seen in unquoted field". A line feed in a blank
    picture's name split its warning in two lines on stderr, the second a "page.png: no digit found" of no file."""
    shutil.copy(pictures / "scan.png", pictures / "old\rmac.png")
    Image.new("L", (50, 50), 255).save(pictures / "blank\npage.png")
    predict(checkpoint, pictures)
    captured = capsys.readouterr()
    rows = {Path(row[0]).name: row[1:] for row in read_csv(captured.out)[1:]}
    assert rows["old\rmac.png"][0] == rows["scan.png"][0] and rows["blank\npage.png"][0] == "blank"
    warning = f"mnist-rnn: warning: $'{pictures}/blank\\x0apage.png': no digit found"
    assert [line for line in captured.err.splitlines() if line.startswith(warning)]


def test_predict_needs_no_training_data_and_no_network(checkpoint, pictures, in_tmp_dir, capsys, no_network):
    predict(checkpoint, pictures, "--data.data_dir", str(in_tmp_dir / "no-data-here"))
    assert len(read_csv(capsys.readouterr().out)) == 1 + 5
    assert no_network == []  # not one download tried


def test_bad_files_get_a_row_the_others_are_predicted_and_the_exit_status_says_so(
    checkpoint, pictures, in_tmp_dir, capsys
):
    (pictures / "text.png").write_text("this is not a picture\n")
    (pictures / "empty.jpg").touch()
    good = (pictures / "scan.png").read_bytes()
    (pictures / "truncated.png").write_bytes(good[: len(good) // 2])
    (pictures / "moved.jpg").symlink_to(pictures / "elsewhere.jpg")  # a link whose photo was moved away
    with pytest.raises(SystemExit) as exit_info:
        predict(checkpoint, pictures, "--trainer.logger", "true")
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    rows = {Path(row[0]).name: row[1:] for row in read_csv(captured.out)[1:]}
    assert len(rows) == 9
    for name in ("text.png", "empty.jpg", "truncated.png"):
        assert rows[name][0] == "error" and "not a readable image" in rows[name][1]
        assert str(pictures / name) in captured.err
    assert rows["moved.jpg"] == ["error", f"a symbolic link to {pictures / 'elsewhere.jpg'}, which does not exist"]
    for name in ("scan.png", "photo.jpg", "drawn.png", "five.bmp", "mnist_style.gif"):
        assert rows[name][0].isdigit() and 0 < float(rows[name][1]) <= 1
    assert "4 of 9 files could not be read" in captured.err
    assert "Traceback" not in captured.err
    saved = read_csv(Path("lightning_logs/version_0/predictions.csv").read_text())
    assert len(saved) == 1 + 9


def test_no_images_or_no_checkpoint_is_one_clear_line(checkpoint, tmp_path, in_tmp_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict(checkpoint, tmp_path / "nowhere")
    assert exit_info.value.code == 2
    # Before the Trainer starts (no "GPU available" first) and without a run folder.
    expected = f"mnist-rnn: error: --data.predict_path {tmp_path / 'nowhere'}: no such file or folder\n"
    assert capsys.readouterr().err == expected
    assert not Path("lightning_logs").exists()
    (tmp_path / "moved.png").symlink_to(tmp_path / "elsewhere.png")  # its picture was moved away
    with pytest.raises(SystemExit):
        predict(checkpoint, tmp_path / "moved.png")
    link = f"--data.predict_path {tmp_path / 'moved.png'}: a symbolic link to {tmp_path / 'elsewhere.png'}, which"
    assert capsys.readouterr().err == f"mnist-rnn: error: {link} does not exist\n"
    with pytest.raises(SystemExit):  # a name with a line break: the error on its one line, the name as bash writes it
        predict(checkpoint, tmp_path / "a\nb")
    assert (
        capsys.readouterr().err
        == f"mnist-rnn: error: --data.predict_path $'{tmp_path}/a\\x0ab': no such file or folder\n"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        predict(checkpoint, tmp_path / "empty")
    assert exit_info.value.code == 2
    assert "no images found at" in capsys.readouterr().err
    # Not one readable image: still the table, with the file's row, and the exit status.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "only.png").write_text("no picture here")
    with pytest.raises(SystemExit) as exit_info:
        predict(checkpoint, tmp_path / "bad")
    assert exit_info.value.code == 2
    assert read_csv(capsys.readouterr().out)[1][:2] == [str(tmp_path / "bad" / "only.png"), "error"]
    Image.new("L", (28, 28)).save(tmp_path / "blank.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--data.predict_path", str(tmp_path / "blank.png")])
    assert exit_info.value.code == 2
    assert "--ckpt_path" in capsys.readouterr().err


def test_a_phone_photo_with_an_exif_tag_and_a_16_bit_scan_predict_as_their_8_bit_originals(
    checkpoint, tmp_path, in_tmp_dir, capsys
):
    folder = tmp_path / "variants"
    folder.mkdir()
    original = render_digit(4, canvas=(280, 280), size=200, at=(50, 20), ink=20, paper=235)
    original.save(folder / "a_original.png")
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees counter-clockwise to view"
    original.transpose(Image.Transpose.ROTATE_270).save(folder / "b_phone.jpg", exif=exif, quality=95)
    Image.fromarray(np.asarray(original, dtype=np.uint16) * 257).save(folder / "c_scan16.png")  # mode I;16
    predict(checkpoint, folder)
    rows = read_csv(capsys.readouterr().out)[1:]
    assert [Path(row[0]).name for row in rows] == ["a_original.png", "b_phone.jpg", "c_scan16.png"]
    digits = {row[1] for row in rows}
    assert len(digits) == 1 and digits != {"blank"}
    assert float(rows[1][2]) == pytest.approx(float(rows[0][2]), abs=0.02)
    assert float(rows[2][2]) == pytest.approx(float(rows[0][2]), abs=0.002)


def test_blank_images_are_flagged_in_their_row_and_on_stderr_and_the_exit_status_stays_0(
    checkpoint, pictures, in_tmp_dir, capsys
):
    Image.new("RGB", (200, 100), "white").save(pictures / "empty_page.jpg")
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(pictures / "nothing_drawn.png")
    Image.new("L", (1, 1), 0).save(pictures / "one_pixel.png")
    predict(checkpoint, pictures)  # no SystemExit: every file was read
    captured = capsys.readouterr()
    rows = {Path(row[0]).name: row[1:] for row in read_csv(captured.out)[1:]}
    for name in ("empty_page.jpg", "nothing_drawn.png", "one_pixel.png"):
        assert rows[name] == ["blank", "no digit found (the picture is blank, or only lines or noise)"]
        assert f"mnist-rnn: warning: {pictures / name}: no digit found" in captured.err
    for name in ("scan.png", "photo.jpg", "drawn.png", "five.bmp", "mnist_style.gif"):
        assert rows[name][0].isdigit()
        assert str(pictures / name) not in captured.err


def test_an_animation_is_read_by_its_first_frame_with_a_warning(checkpoint, pictures, in_tmp_dir, capsys):
    """A GIF of a digit being drawn: its first frame, empty, was read as blank without a word of the others."""
    drawn = render_digit(2, canvas=(100, 100), size=80, at=(20, 0), ink=0, paper=255)
    Image.new("L", (100, 100), 255).save(pictures / "drawing.gif", save_all=True, append_images=[drawn])
    predict(checkpoint, pictures)
    captured = capsys.readouterr()
    rows = {Path(row[0]).name: row[1:] for row in read_csv(captured.out)[1:]}
    assert rows["drawing.gif"][0] == "blank"
    warning = (
        f"mnist-rnn: warning: {pictures / 'drawing.gif'}: 2 frames or pages (an animation, a multi-page scan): "
        "the first alone was read; save the one meant"
    )
    assert warning in captured.err
    assert str(pictures / "mnist_style.gif") not in captured.err  # one frame: nothing to say


def test_a_picture_of_two_digits_is_read_with_a_warning(checkpoint, pictures, in_tmp_dir, capsys):
    left = np.asarray(render_digit(3, canvas=(400, 200), size=120, at=(40, 40), ink=0, paper=255))
    right = np.asarray(render_digit(8, canvas=(400, 200), size=120, at=(240, 40), ink=0, paper=255))
    Image.fromarray(np.minimum(left, right)).save(pictures / "two.png")
    predict(checkpoint, pictures)  # no SystemExit: the file was read, and has its row
    captured = capsys.readouterr()
    rows = {Path(row[0]).name: row[1:] for row in read_csv(captured.out)[1:]}
    assert rows["two.png"][0].isdigit()
    assert f"mnist-rnn: warning: {pictures / 'two.png'}: more than one digit found" in captured.err
    assert str(pictures / "scan.png") not in captured.err


def test_a_thumbnail_is_read_with_a_warning_that_its_answer_is_less_sure_than_it_says(
    checkpoint, pictures, in_tmp_dir, capsys
):
    render_digit(1, canvas=(300, 300), size=260, at=(60, -30), ink=0, paper=255).resize((8, 8)).save(
        pictures / "icon.png"
    )
    predict(checkpoint, pictures)
    captured = capsys.readouterr()
    rows = {Path(row[0]).name: row[1:] for row in read_csv(captured.out)[1:]}
    assert rows["icon.png"][0].isdigit()  # answered, as every digit is
    warning = f"mnist-rnn: warning: {pictures / 'icon.png'}: the digit is under 10 pixels high and wide: an answer"
    assert warning in captured.err
    assert str(pictures / "scan.png") not in captured.err and "photo.jpg" not in captured.err


def test_save_prepared_writes_the_images_the_model_saw(checkpoint, pictures, in_tmp_dir, capsys):
    render_digit(2, canvas=(90, 90), size=60, ink=0, paper=255).save(pictures / "scan.jpg")  # same stem as scan.png
    predict(checkpoint, pictures, "--data.save_prepared", "prepared")
    table = read_csv(capsys.readouterr().out)
    saved = sorted(path.name for path in Path("prepared").iterdir())
    assert saved == ["drawn.png", "five.png", "mnist_style.png", "photo.png", "scan-2.png", "scan.png"]
    # Which image is whose is in the table: scan.jpg's is scan.png, scan.png's scan-2.png.
    assert table[0] == ["path", "digit", "probability", "prepared"]
    for row in table[1:]:
        name = {"scan.png": "scan-2.png", "scan.jpg": "scan.png"}.get(Path(row[0]).name, Path(row[0]).stem + ".png")
        assert row[3] == str(Path("prepared") / name)
        image = np.array(Image.open(row[3]))
        assert image.shape == (28, 28) and torch.equal(torch.from_numpy(image)[None], to_mnist(decode_image(row[0])))
    assert "replaced" not in capsys.readouterr().err
    # Into a folder that holds files of those names (an earlier run's, or the user's own): replaced, not unsaid.
    predict(checkpoint, pictures / "five.bmp", "--data.save_prepared", "prepared")
    err = capsys.readouterr().err
    assert "mnist-rnn: warning: --data.save_prepared prepared: replaced 1 file already there: five.png" in err


def test_the_agreement_benchmark_reads_error_and_blank_rows(checkpoint, pictures, tmp_path, capsys):
    from benchmarks.predict_agreement import run_predict

    (pictures / "text.png").write_text("this is not a picture\n")
    Image.new("L", (28, 28)).save(pictures / "blank.png")
    workdir = tmp_path / "run"
    workdir.mkdir()
    rows = run_predict(checkpoint, pictures, workdir)  # exit status 2 for text.png, yet every row comes back
    assert rows["text.png"][0] == "error" and rows["blank.png"][0] == "blank" and rows["scan.png"][0].isdigit()


def test_an_unquoted_glob_and_a_file_as_the_save_folder_are_one_line_each(checkpoint, pictures, in_tmp_dir, capsys):
    """The shell expands an unquoted photos/*.jpg into many arguments: jsonargparse listed them all, with no
    fix. A file named as the folder to save into failed only once every picture had been prepared."""
    files = sorted(str(path) for path in pictures.glob("*.png"))
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--ckpt_path", str(checkpoint), "--data.predict_path", *files])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mnist-rnn: error: --data.predict_path takes one path, but {len(files)} came: the shell")
    assert "quote it (--data.predict_path 'photos/*.jpg') or pass their folder" in err and err.count("\n") == 1
    Path("afile").write_text("notes")
    with pytest.raises(SystemExit) as exit_info:
        predict(checkpoint, pictures, "--data.save_prepared", "afile")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "mnist-rnn: error: --data.save_prepared afile: a file, not a folder: name a folder" in err
    assert Path("afile").read_text() == "notes"


def test_a_plain_trainer_predict_names_the_files_without_a_prediction_and_the_blank_ones(
    checkpoint, pictures, in_tmp_dir, capsys
):
    """Trainer.predict from Python, without the CLI's PredictionWriter: a file that could not be read had no
    entry in its list (which then no longer lined up with the files) and a blank page got a class, unsaid."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule

    Image.new("L", (64, 64), 255).save(pictures / "blank.png")
    (pictures / "notes.png").write_text("not an image")
    render_digit(7, canvas=(200, 200), size=180, ink=0, paper=255).resize((7, 7)).save(pictures / "tiny.png")
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    data = MNISTDataModule(predict_path=str(pictures), prepare_workers=1)
    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    capsys.readouterr()
    probabilities = torch.cat(trainer.predict(model, datamodule=data))
    assert len(probabilities) == len(data.predict_set.files) == 7  # the unreadable file has no row
    err = capsys.readouterr().err
    assert f"warning: of 8 files, 1 could not be read and have none: {pictures / 'notes.png'} (" in err
    assert f"; 1 show no digit, so their probabilities are a guess: {pictures / 'blank.png'}; 1 show" in err
    assert (
        f"under 10 pixels high and wide, whose probabilities overstate how sure its answer is: {pictures / 'tiny.png'}"
        in err
    )
    assert "datamodule.predict_set.files; its .blank, .small and .failures say which" in err


def test_a_plain_trainer_predicts_warning_names_a_file_with_a_line_break_in_one_line(tmp_path, capsys):
    """The warning after Trainer.predict without the writer listed the names as they are: a blank page named
    "blank\\npage.png" split it, its second line beginning "page.png; 1 show ...". Each is written as bash's
    $'...' writes it, as predict's own warnings write it."""
    from types import SimpleNamespace

    from mnist_rnn.data import MNISTDataModule

    render_digit(3).save(tmp_path / "three.png")
    Image.new("L", (64, 64), 255).save(tmp_path / "blank\npage.png")
    (tmp_path / "notes\n.png").write_text("not an image")
    data = MNISTDataModule(predict_path=str(tmp_path), prepare_workers=0)
    data.read_predict_images()
    data.trainer = SimpleNamespace(callbacks=[])  # a Trainer without a prediction writer, as teardown sees it
    capsys.readouterr()
    data.teardown("predict")
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"1 could not be read and have none: $'{tmp_path}/notes\\x0a.png' (not a readable image" in err
    assert f"1 show no digit, so their probabilities are a guess: $'{tmp_path}/blank\\x0apage.png'. The" in err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("command", ["predict", "test"])
def test_output_sent_to_a_full_disk_says_so_and_predict_keeps_its_table(
    command, checkpoint, pictures, fake_data_dir, tmp_path
):
    """`predict ... > table.csv` on a full disk: the error blamed the run's folder (--trainer.default_root_dir)
    and the run's predictions.csv was never written; a progress bar's closing line then hid the error."""
    args = ["--ckpt_path", str(checkpoint)]
    args += ["--data.predict_path", str(pictures), "--trainer.logger", "true"] if command == "predict" else []
    args += data_args(fake_data_dir) if command == "test" else []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    with open("/dev/full", "wb") as full:  # every write fails with ENOSPC, as on a full disk
        result = subprocess.run(
            [sys.executable, "-m", "mnist_rnn", command, *args], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
            env=env, text=True, timeout=300,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    error = result.stderr.splitlines()[-1]
    if command == "predict":
        table = tmp_path / "lightning_logs" / "version_0" / "predictions.csv"
        assert error == (
            "mnist-rnn: error: the table could not be written on the standard output (No space left on device); "
            "the table is in lightning_logs/version_0/predictions.csv"
        )
        assert len(read_csv(table.read_text())) == 1 + 5
    else:
        assert error == (
            "mnist-rnn: error: no space left on the device of the standard output (the file it is sent to): free "
            "some space there, or send the output elsewhere"
        )


def test_files_cut_short_by_a_full_disk_are_not_left_behind(tmp_path, monkeypatch):
    """A full disk left an empty predictions.csv in the run's folder, and an empty PNG among the prepared images."""
    import errno

    from mnist_rnn import predictions
    from mnist_rnn.user_images import UserImages

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    class FullFile:  # opened (the file is made), then every write fails
        def __init__(self, path, mode):
            self.file = open(path, mode)  # noqa: SIM115

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        write = staticmethod(no_space)

    monkeypatch.setattr(predictions, "open", FullFile, raising=False)
    with pytest.raises(OSError):
        predictions._write_new(tmp_path, "predictions.csv", b"path,digit,probability\n")
    assert list(tmp_path.iterdir()) == []

    folder = tmp_path / "pictures"
    folder.mkdir()
    for digit in (3, 5):
        render_digit(digit, canvas=(100, 100), size=70, ink=0, paper=255).save(folder / f"d{digit}.png")
    images = UserImages.load(folder)
    real_save = Image.Image.save

    def save_once_then_fill(self, path, *args, **kwargs):
        if Path(path).name == "d5.png":
            Path(path).write_bytes(b"")  # the file made, then the disk full
            no_space()
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_once_then_fill)
    with pytest.raises(Exception, match="cannot save the prepared images in .*: No space left on device"):
        images.save(tmp_path / "prepared")
    assert [path.name for path in (tmp_path / "prepared").iterdir()] == ["d3.png"]


def test_a_typed_precision_predict_does_not_use_is_said(checkpoint, pictures, in_tmp_dir, capsys):
    """predict runs in float32 (a recipe's bf16-mixed is left without a word); a typed one was dropped unsaid."""
    predict(checkpoint, pictures, "--trainer.precision", "bf16-mixed")
    err = capsys.readouterr().err
    assert (
        "mnist-rnn: warning: predict runs in 32-true (float32), the probabilities serve and export give: "
        "--trainer.precision bf16-mixed is not used\n"
    ) in err
    predict(checkpoint, pictures)
    assert "is not used" not in capsys.readouterr().err
    # so are more processes, which it ran as one without a word
    predict(checkpoint, pictures, "--trainer.devices", "2", "--trainer.accelerator", "cpu")
    assert (
        "mnist-rnn: warning: predict runs in one process: --trainer.devices 2 is not used\n" in capsys.readouterr().err
    )


@pytest.mark.slow
def test_output_whose_reader_closes_it_is_one_line(checkpoint, fake_data_dir, tmp_path):
    """`test ... | head -1`: tqdm's next write raised BrokenPipeError, a 43-line traceback (96 for fit)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    command = [sys.executable, "-m", "mnist_rnn", "test", "--ckpt_path", str(checkpoint), *data_args(fake_data_dir)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    process.stdout.read(1)  # as head does: a little, then it closes its end
    process.stdout.close()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2, err.decode()
    assert err.decode().splitlines()[-1] == (
        "mnist-rnn: error: the program reading the output closed it (a pipe to head?): the command stopped; what it "
        "wrote before is kept"
    )


def test_a_plain_trainer_predict_with_the_writer_writes_the_table_when_no_image_can_be_read(
    checkpoint, tmp_path, in_tmp_dir, capsys
):
    """docs/predict.md's Trainer(callbacks=[PredictionWriter()]).predict on a folder of unreadable files wrote
    nothing at all: Lightning skips a predict loop without batches, and its hooks with it."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.predictions import PredictionWriter

    folder = tmp_path / "unreadable"
    folder.mkdir()
    (folder / "a.png").write_text("not an image")
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    data = MNISTDataModule(predict_path=str(folder), prepare_workers=0)
    trainer = Trainer(callbacks=[PredictionWriter()], logger=False, enable_progress_bar=False, accelerator="cpu")
    trainer.predict(model, datamodule=data)
    captured = capsys.readouterr()
    assert read_csv(captured.out)[1][:2] == [str(folder / "a.png"), "error"]
    assert f"mnist-rnn: {folder / 'a.png'}: not a readable image" in captured.err
    assert (in_tmp_dir / "predictions.csv").read_text().count("\n") == 2  # the header and the row, once


def test_the_writer_without_the_data_module_says_what_it_needs(checkpoint, pictures, in_tmp_dir):
    """trainer.predict(model, dataloaders=...) with the writer ended in AttributeError: 'NoneType' object has no
    attribute 'predict_set'."""
    from lightning.pytorch import Trainer

    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.predictions import PredictionWriter

    data = MNISTDataModule(predict_path=str(pictures), prepare_workers=0)
    model = RNNClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    trainer = Trainer(callbacks=[PredictionWriter()], logger=False, enable_progress_bar=False, accelerator="cpu")
    with pytest.raises(UserError, match=r"PredictionWriter names each row's file from the data module: pass "):
        trainer.predict(model, dataloaders=data.predict_dataloader())
