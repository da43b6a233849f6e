"""Training throughput: the lab's plain-PyTorch loop vs this project's Trainer.fit vs a plain loop on our pipeline.

    python benchmarks/throughput.py --data-dir ../shared/mnist [--images 20000] [--rounds 3] [--accelerator cpu]

In one run, on one machine, it alternates three ways of training the same 2x128 LSTM with Adam at batch 50
for the same number of training images each, and prints images/s (median of the rounds) and their ratios:

  (a) lab:      the lab's loop as the lab wrote it: torchvision MNIST + ToTensor + DataLoader, its nn.Module
  (b) fit:      this project's Trainer.fit with the seed config (in-memory pipeline, the LightningModule)
  (c) pipeline: a plain PyTorch loop over this project's DataModule and model, no Lightning around it

and b as a fraction of the compute limit: measured float32 GEMM peak / the model's FLOPs per training image.
Ratios hold across noisy, shared machines; absolute times do not. Each measurement times the training loop
only (batches fetched and trained), not the one-off decoding of the files.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier

BATCH = 50
LR = 0.01
SEED_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "seed.yaml"


def lab_model() -> RNNClassifier:
    """This project's model with the lab's settings (configs/seed.yaml: Adam at a fixed lr 0.01, no extras)."""
    return RNNClassifier(**yaml.safe_load(SEED_CONFIG.read_text())["model"])


class LabRNN(nn.Module):
    """The lab's model, as written in the report (zero initial states made on the input's device)."""

    def __init__(self, input_size: int = 28, hidden_size: int = 128, num_layers: int = 2, num_classes: int = 10):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size, device=x.device)
        c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size, device=x.device)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


def lab_loop(data_dir: str, steps: int, device: torch.device) -> float:
    """(a) The lab's loop: per-sample PIL -> ToTensor -> collate, loss.item() every 100 steps as it printed."""
    train_set = datasets.MNIST(data_dir, train=True, transform=transforms.ToTensor(), download=False)
    loader = DataLoader(train_set, batch_size=BATCH, shuffle=True)
    model = LabRNN().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    for step, (images, labels) in enumerate(loader):
        if step == steps:
            break
        images = images.reshape(-1, 28, 28).to(device)
        labels = labels.to(device)
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            _ = loss.item()
    _sync(device)
    return steps * BATCH / (time.perf_counter() - start)


def pipeline_loop(data: MNISTDataModule, steps: int, device: torch.device) -> float:
    """(c) A plain loop over this project's DataModule and LightningModule, no Trainer."""
    model = lab_model().to(device)
    optimizer = model.configure_optimizers()
    start = time.perf_counter()
    for step, (images, labels) in enumerate(data.train_dataloader()):
        if step == steps:
            break
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * BATCH / (time.perf_counter() - start)


class _TrainTimer(Callback):
    """Times Trainer.fit's training loop, from the first batch to the end of training."""

    def on_train_epoch_start(self, trainer: Trainer, pl_module: RNNClassifier) -> None:
        if not hasattr(self, "start"):
            self.start = time.perf_counter()

    def on_train_end(self, trainer: Trainer, pl_module: RNNClassifier) -> None:
        _sync(pl_module.device)
        self.seconds = time.perf_counter() - self.start


def fit_loop(data: MNISTDataModule, steps: int, accelerator: str, log_dir: str) -> float:
    """(b) This project's Trainer.fit, with its logger and progress bar, validation left out."""
    timer = _TrainTimer()
    trainer = Trainer(
        accelerator=accelerator,
        devices=1,
        max_steps=steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_model_summary=False,
        logger=TensorBoardLogger(log_dir, name="throughput", default_hp_metric=False),
        callbacks=[timer],
    )
    trainer.fit(lab_model(), datamodule=data)
    return steps * BATCH / timer.seconds


def gemm_peak(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """Measured float32 matrix-multiply FLOP/s: the compute limit of this machine for the LSTM's GEMMs."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def training_flops_per_image(model: RNNClassifier) -> float:
    """Multiply-adds of the recurrent and linear weights at every step, x2 for FLOPs, x3 for forward+backward."""
    steps = model.sequence_shape[0]
    recurrent = sum(p.numel() for name, p in model.rnn.named_parameters() if name.startswith("weight"))
    head = model.head.weight.numel()
    return 3 * 2 * (recurrent * steps + head)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--images", type=int, default=20_000, help="training images per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of (a), (b), (c)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    args = parser.parse_args()
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    steps = args.images // BATCH

    seed_everything(0, verbose=False)
    data = MNISTDataModule(args.data_dir, batch_size=BATCH)
    data.setup("fit")
    results: dict[str, list[float]] = {"lab": [], "fit": [], "pipeline": []}
    with tempfile.TemporaryDirectory() as log_dir:
        for round_ in range(args.rounds):
            results["lab"].append(lab_loop(args.data_dir, steps, device))
            results["fit"].append(fit_loop(data, steps, args.accelerator, log_dir))
            results["pipeline"].append(pipeline_loop(data, steps, device))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} img/s" for k, v in results.items()))

    lab, fit, pipeline = (statistics.median(results[k]) for k in ("lab", "fit", "pipeline"))
    peak = gemm_peak(device)
    flops = training_flops_per_image(lab_model())
    limit = peak / flops
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{name}; {steps * BATCH:,} training images per measurement, batch {BATCH}, median of {args.rounds}")
    print(f"(a) lab loop (torchvision + ToTensor)  {lab:10,.0f} images/s")
    print(f"(b) this project's Trainer.fit         {fit:10,.0f} images/s")
    print(f"(c) plain loop on this pipeline        {pipeline:10,.0f} images/s")
    print(f"b/a = {fit / lab:.2f}x   b/c = {fit / pipeline:.3f}")
    print(
        f"compute limit: GEMM peak {peak / 1e9:,.0f} GFLOP/s / {flops / 1e6:.1f} MFLOP per training image "
        f"= {limit:,.0f} images/s; b reaches {fit / limit:.0%} of it"
    )


if __name__ == "__main__":
    main()
