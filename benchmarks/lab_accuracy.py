"""The lab's own training loop, as the lab wrote it, for its test accuracy: the reference of configs/seed.yaml.

    python benchmarks/lab_accuracy.py --data-dir ../shared/mnist --seeds 0 1 2

Plain PyTorch, no part of this project: torchvision MNIST with ``ToTensor`` (pixels in [0, 1]), all 60,000
training images, batch 50, the lab's 2x128 LSTM, Adam at a fixed lr 0.01 (``throughput.lab_setup``), 5 epochs.
It prints the test accuracy after every epoch; the lab reported the last one (97.3%).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from throughput import lab_setup
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


def test_accuracy(model: nn.Module, test_set: datasets.MNIST) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in DataLoader(test_set, batch_size=1000):
            correct += (model(images.reshape(-1, 28, 28)).argmax(dim=1) == labels).sum().item()
    model.train()
    return correct / len(test_set)


def train_lab(data_dir: str, seed: int, epochs: int) -> list[float]:
    """Test accuracy after each epoch of the lab's loop, seeded with ``seed``."""
    torch.manual_seed(seed)
    loader, model, criterion, optimizer = lab_setup(data_dir, torch.device("cpu"))
    test_set = datasets.MNIST(data_dir, train=False, transform=transforms.ToTensor())
    accuracies = []
    start = time.perf_counter()
    for epoch in range(epochs):
        for images, labels in loader:
            loss = criterion(model(images.reshape(-1, 28, 28)), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        accuracies.append(test_accuracy(model, test_set))
        print(f"seed {seed}, epoch {epoch + 1}: test {accuracies[-1]:.2%} ({time.perf_counter() - start:.0f} s)")
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data/", help="folder holding MNIST/raw/")
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
