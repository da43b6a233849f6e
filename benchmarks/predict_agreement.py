"""Does ``predict`` on PNG files agree with the model on the test tensors? (issue 6's first "done when")

Saves the first N MNIST test images as PNG files, runs ``python -m mnist_rnn predict`` on them in-process,
and compares each row with the checkpoint's own prediction on the same test tensor. Preprocessing of an
MNIST image should change nothing that matters, so the two should agree on (nearly) every image.

    python -m benchmarks.predict_agreement --ckpt-path CKPT --data-dir /work/shared/mnist [--count 200]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import tempfile
from pathlib import Path

import torch
from PIL import Image

from benchmarks.options import data_folder
from mnist_rnn.cli import main
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier


def run_predict(ckpt: Path, folder: Path, workdir: Path) -> dict[str, tuple[str, str]]:
    """The CLI's CSV as {file name: (digit, probability)}, as written (a digit may be ``blank`` or ``error``,
    with the reason in place of the probability); its logs go to ``workdir``."""
    stdout = io.StringIO()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(stdout):
            main(["predict", "--ckpt_path", str(ckpt), "--data.predict_path", str(folder)])
    except SystemExit as exit_:  # exit status 2: some files could not be read; their rows say so
        if exit_.code != 2:
            raise
    finally:
        os.chdir(cwd)
    rows = list(csv.DictReader(io.StringIO(stdout.getvalue())))
    return {Path(row["path"]).name: (row["digit"], row["probability"]) for row in rows}


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt-path", type=Path, required=True, help="a checkpoint written by fit")
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()

    data = MNISTDataModule(data_dir=args.data_dir)
    data.setup("test")
    images, labels = data.test_set.images[: args.count], data.test_set.labels[: args.count]
    model = RNNClassifier.load_from_checkpoint(args.ckpt_path, map_location="cpu").eval()
    with torch.no_grad():
        probabilities = model.network.probabilities(images)  # calibrated, as predict gives them
    own_prob, own_digit = probabilities.max(-1)

    with tempfile.TemporaryDirectory() as tmp:
        folder, workdir = Path(tmp) / "png", Path(tmp) / "run"
        folder.mkdir()
        workdir.mkdir()
        names = [f"{i:05d}.png" for i in range(len(images))]
        for name, image in zip(names, images, strict=False):
            Image.fromarray(image[0].numpy()).save(folder / name)
        predicted = run_predict(args.ckpt_path.resolve(), folder, workdir)

    # A blank or unreadable image has no digit: -1, which agrees with nothing (and has probability 0).
    cli_digit = torch.tensor([int(d) if d.isdigit() else -1 for d, _ in (predicted[name] for name in names)])
    cli_prob = torch.tensor([float(p) if d.isdigit() else 0.0 for d, p in (predicted[name] for name in names)])
    agree = int((cli_digit == own_digit).sum())
    print(f"images: {len(names)}")
    for name in names:
        if not predicted[name][0].isdigit():
            print(f"  no digit: {name}: {predicted[name][0]} ({predicted[name][1]})")
    print(
        "predict (PNG files) agrees with the model on the test tensors: "
        f"{agree}/{len(names)} ({agree / len(names):.2%})"
    )
    print(
        f"accuracy on these images: test tensors {(own_digit == labels).float().mean():.2%}, "
        f"PNG via predict {(cli_digit == labels).float().mean():.2%}"
    )
    read = cli_digit >= 0
    gap = (cli_prob - own_prob)[read].abs().max().item() if read.any() else float("nan")
    print(f"largest probability difference (images with a digit): {gap:.4f}")
    for i in (cli_digit != own_digit).nonzero().flatten().tolist():
        print(f"  disagree: {names[i]} label {int(labels[i])}: tensor {int(own_digit[i])}, predict {int(cli_digit[i])}")


if __name__ == "__main__":
    main_cli()
