"""Seconds per training epoch of a config on this machine, from a few timed training steps: how many epochs
fit in a given time.

    python -m benchmarks.epoch_time --config configs/smnist.yaml --data-dir data --accelerator gpu [--steps 30]

It times ``--steps`` training steps of the real ``fit`` (after the warm-up steps and the CUDA graph's capture,
as benchmarks/throughput.py does) and prints one line, ``EPOCH_SECONDS <seconds>``: the time of one epoch of
the config's training split at that rate, validation left out. ``benchmarks/gpu_session.sh pixels`` runs one
per planned run, all at once, so that each step is timed with the card as shared as the runs will share it,
and gives the runs the number of epochs that fits its time: a one-cycle schedule cut short by a clock would
end at its peak learning rate instead of annealed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml

from benchmarks.options import data_folder
from benchmarks.throughput import fit_loop
from mnist_rnn.data import DATASETS
from mnist_rnn.idx import check_idx_pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="a YAML config of the CLI")
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="gpu")
    parser.add_argument("--steps", type=int, default=30, help="training steps timed")
    parser.add_argument("--val-size", type=int, default=5000, help=argparse.SUPPRESS)  # for tiny generated data
    parser.add_argument("extra", nargs="*", help="more CLI arguments (after --), e.g. --model.hidden_size 8")
    args = parser.parse_args()
    settings = yaml.safe_load(args.config.read_text())
    batch = settings["data"]["batch_size"]
    # An extra --data.batch_size N is the one fit trains at.
    for flag, value in zip(args.extra, args.extra[1:], strict=False):
        if flag == "--data.batch_size":
            batch = int(value)
    precision = str(settings.get("trainer", {}).get("precision", "32-true"))
    with tempfile.TemporaryDirectory() as log_dir:
        images_per_second = fit_loop(
            str(args.data_dir), args.steps, args.accelerator, precision, log_dir, batch,
            val_size=args.val_size, config=args.config, extra=args.extra,
        )  # fmt: skip
    # The training files' image count (fit has unpacked them), less the validation split.
    mnist = DATASETS["mnist"]
    images, labels = (Path(args.data_dir) / mnist.folder / "raw" / name for name in mnist.file_names[:2])
    print(f"EPOCH_SECONDS {(check_idx_pair(images, labels) - args.val_size) / images_per_second:.2f}")


if __name__ == "__main__":
    main()
