"""Lightning's own cost per training step: ``fit`` against a plain loop, on a network too small to cost anything.

    python -m benchmarks.lightning_overhead --data-dir ../shared/mnist [--steps 800] [--rounds 3]

Both train the seed config's model, shrunk to one layer of 2 units, at batch 50 on the CPU: (b) through this
project's ``Trainer.fit`` (built by its CLI: callbacks, logger and progress bar, as benchmarks/throughput.py's
(b)), (p) a plain loop (forward, loss, backward, Adam) over the same device-resident kind of batch. What (b)
takes beyond (p) is the host time a training step spends outside the network: Lightning's loop, hooks and
optimiser wrapper, and this project's per-step work (accuracy update, NaN record). On a GPU that time decides
the speed of a small network's step (docs/results.md, "The training step on a GPU"). One thread, so that the
2-core machines measure the same thing each round; ms per step, median [lowest, highest] over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
import yaml

from benchmarks.options import data_folder
from benchmarks.throughput import SEED_CONFIG, fit_loop
from mnist_rnn.model import RNNClassifier

BATCH = 50
TINY = {"hidden_size": 2, "num_layers": 1}


def plain_loop(steps: int) -> float:
    """(p): ms per step of a plain loop over the tiny model (after 20 warm-up steps)."""
    settings = {**yaml.safe_load(SEED_CONFIG.read_text())["model"], **TINY}
    model = RNNClassifier(**settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], fused=True)
    images = torch.randint(0, 256, (BATCH, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (BATCH,))
    for step in range(20 + steps):
        if step == 20:
            start = time.perf_counter()
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--steps", type=int, default=800, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of (b) and (p)")
    parser.add_argument("--val-size", type=int, default=5000, help=argparse.SUPPRESS)  # for tiny generated data
    args = parser.parse_args()
    torch.set_num_threads(1)
    tiny = [f"--model.{name}={value}" for name, value in TINY.items()]
    fit_ms, plain_ms = [], []
    with tempfile.TemporaryDirectory() as log_dir:
        for _ in range(args.rounds):
            images_per_second = fit_loop(
                args.data_dir, args.steps, "cpu", "32-true", log_dir, BATCH, val_size=args.val_size, extra=tiny
            )
            fit_ms.append(BATCH / images_per_second * 1e3)
            plain_ms.append(plain_loop(args.steps))

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"

    extra = [fit - plain for fit, plain in zip(fit_ms, plain_ms, strict=True)]
    network = f"{TINY['num_layers']}x{TINY['hidden_size']} LSTM"
    print(f"ms per step at batch {BATCH}, a {network}, 1 thread, {args.rounds} rounds")
    print(f"(b) fit {spread(fit_ms)}, (p) plain {spread(plain_ms)}, (b) - (p) {spread(extra)}")


if __name__ == "__main__":
    main()
