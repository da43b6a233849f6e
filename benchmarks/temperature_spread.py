"""How many validation images does a steady temperature need?

The checkpoint's logits on its whole validation split (the images ``calibrate`` fits on) are computed once;
then the temperature is fitted, as ``calibrate`` fits it, on ``--samples`` random subsets of each size, and
the 10th, 50th and 90th percentiles of the fitted temperatures are printed beside the whole split's. This is
what ``STEADY_FIT_IMAGES`` in ``mnist_rnn/calibration.py`` rests on.

    python -m benchmarks.temperature_spread --ckpt-path CKPT [--data-dir DIR] [--sizes 20,100,300,1000,2000]
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.options import existing_file
from mnist_rnn.calibration import fit_temperature, logits_of, validation_split
from mnist_rnn.data import DeviceBatches
from mnist_rnn.inference import load_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-path", type=existing_file, required=True)
    parser.add_argument("--data-dir", help="where the data set is, if not where the checkpoint's run read it")
    parser.add_argument("--sizes", default="20,100,300,1000,2000", help="subset sizes, comma-separated")
    parser.add_argument("--samples", type=int, default=40, help="random subsets of each size")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    split = validation_split(args.ckpt_path, args.data_dir).val_set
    batches = DeviceBatches(split.images, split.labels, 500, shuffle=False)
    logits, labels = logits_of(load_network(args.ckpt_path), batches)
    accuracy = float((logits.argmax(dim=-1) == labels).float().mean())
    print(f"whole split: {len(labels):,} images, accuracy {accuracy:.2%}, T {fit_temperature(logits, labels):.3f}")
    print("| images | T, 10th percentile | median | 90th percentile |")
    print("|---|---|---|---|")
    generator = torch.Generator().manual_seed(0)
    for size in sizes:
        fitted = []
        for _ in range(args.samples):
            chosen = torch.randperm(len(labels), generator=generator)[:size]
            fitted.append(fit_temperature(logits[chosen], labels[chosen]))
        low, median, high = torch.tensor(fitted).quantile(torch.tensor([0.1, 0.5, 0.9])).tolist()
        print(f"| {size:,} | {low:.3f} | {median:.3f} | {high:.3f} |")


if __name__ == "__main__":
    main()
