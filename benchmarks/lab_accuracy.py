"""The lab's own training loop, as the lab wrote it, for its test accuracy: the reference of configs/seed.yaml.

    python -m benchmarks.lab_accuracy --data-dir ../shared/mnist --seeds 0 1 2

Plain PyTorch, no part of this project: torchvision MNIST with ``ToTensor`` (pixels in [0, 1]), all 60,000
training images, batch 50, the lab's 2x128 LSTM, Adam at a fixed lr 0.01 (``benchmarks/lab.py``), 5 epochs.
It prints the test accuracy after every epoch; the lab reported the last one (97.3%).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.lab import lab_setup, lab_step, lab_test_accuracy, lab_test_set
from benchmarks.options import data_folder


def train_lab(data_dir: str, seed: int, epochs: int) -> list[float]:
    """Test accuracy after each epoch of the lab's loop, seeded with ``seed``."""
    torch.manual_seed(seed)
    loader, model, criterion, optimizer = lab_setup(data_dir, torch.device("cpu"))
    test_set = lab_test_set(data_dir)
    accuracies = []
    start = time.perf_counter()
    for epoch in range(epochs):
        for images, labels in loader:
            lab_step(model, criterion, optimizer, images, labels)
        accuracies.append(lab_test_accuracy(model, test_set))
        print(f"seed {seed}, epoch {epoch + 1}: test {accuracies[-1]:.2%} ({time.perf_counter() - start:.0f} s)")
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    finals = [train_lab(args.data_dir, seed, args.epochs)[-1] for seed in args.seeds]
    spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
    print(
        f"lab loop, {args.epochs} epochs, seeds {args.seeds}: final test accuracy "
        f"{', '.join(f'{a:.2%}' for a in finals)}; mean {statistics.mean(finals):.2%} +- {spread:.2%}"
    )


if __name__ == "__main__":
    main()
