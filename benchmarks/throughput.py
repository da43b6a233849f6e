"""Training throughput: the lab's plain-PyTorch loop vs this project's Trainer.fit vs a plain loop on our pipeline.

    python -m benchmarks.throughput --data-dir ../shared/mnist [--images 20000] [--rounds 3] [--accelerator cpu]
        [--precision 32-true bf16-mixed]

In one run, on one machine, it alternates three ways of training the same 2x128 LSTM with Adam at batch 50
for the same number of training images each, and prints images/s (best of the rounds) and their ratios:

  (a) lab:      the lab's loop as the lab wrote it (benchmarks/lab.py): torchvision MNIST + ToTensor, its LSTM
  (b) fit:      this project's Trainer.fit with the seed config (in-memory pipeline, the LightningModule)
  (c) pipeline: a plain PyTorch loop over this project's DataModule and model, no Lightning around it

(b) and (c) run once per ``--precision`` (Lightning's names): ``32-true`` is the lab's float32 arithmetic,
``bf16-mixed`` keeps float32 weights and runs the LSTM's matrix products in bfloat16 (Lightning's
``--trainer.precision bf16-mixed``; (c) uses the same ``torch.autocast``). (a) is always the lab's float32.
It also prints b as a fraction of the compute limit: the measured GEMM peak at that precision / the model's
FLOPs per training image.

Ratios hold across noisy, shared machines; absolute times do not. Each figure is the best of its rounds (as
``timeit`` takes the fastest repeat): other work on a shared machine only ever slows a round down, and on
the 2-core development VM rounds of the same loop vary by up to 2x, so medians mix fast and slow phases.
Each measurement times the training loop only (batches fetched and trained) after 5 warm-up steps, not the
one-off decoding of the files or the setting up of the Trainer.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything

from benchmarks.lab import BATCH, lab_setup, lab_step
from mnist_rnn.cli import build_cli
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier

# Steps each loop runs before its clock starts: first-call costs (allocations, lazy optimizer state, the
# first autocast and oneDNN kernel setup) are not throughput, and they would weigh on short measurements.
WARMUP_STEPS = 5
# Lightning precision names measured here -> the dtype of their matrix products.
PRECISIONS = {"32-true": torch.float32, "bf16-mixed": torch.bfloat16}
SEED_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "seed.yaml"


def lab_model() -> RNNClassifier:
    """This project's model with the lab's settings (configs/seed.yaml: Adam at a fixed lr 0.01, no extras)."""
    return RNNClassifier(**yaml.safe_load(SEED_CONFIG.read_text())["model"])


def lab_loop(data_dir: str, steps: int, device: torch.device) -> float:
    """(a) The lab's loop: per-sample PIL -> ToTensor -> collate, loss.item() every 100 steps as it printed."""
    loader, model, criterion, optimizer = lab_setup(data_dir, device)
    for step, (images, labels) in enumerate(loader):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        if step == WARMUP_STEPS + steps:
            break
        loss = lab_step(model, criterion, optimizer, images.to(device), labels.to(device))
        if (step + 1) % 100 == 0:
            _ = loss.item()
    _sync(device)
    return steps * BATCH / (time.perf_counter() - start)


def pipeline_loop(data: MNISTDataModule, steps: int, device: torch.device, precision: str) -> float:
    """(c) A plain loop over this project's DataModule and LightningModule, no Trainer."""
    model = lab_model().to(device)
    optimizer = model.configure_optimizers()
    for step, (images, labels) in enumerate(data.train_dataloader()):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        if step == WARMUP_STEPS + steps:
            break
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * BATCH / (time.perf_counter() - start)


class _TrainTimer(Callback):
    """Times Trainer.fit's training steps after the warm-up ones, as the plain loops are timed."""

    def on_train_batch_start(self, trainer: Trainer, pl_module: RNNClassifier, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == WARMUP_STEPS:
            self.start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: RNNClassifier, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == trainer.max_steps:
            _sync(pl_module.device)
            self.seconds = time.perf_counter() - self.start


def fit_loop(data_dir: str, steps: int, accelerator: str, precision: str, log_dir: str) -> float:
    """(b) This project's Trainer.fit, built by its CLI from configs/seed.yaml (callbacks, logger, progress
    bar and all), with validation left out so that only training is timed."""
    cli = build_cli(
        [
            "--config", str(SEED_CONFIG),
            "--data.data_dir", data_dir,
            "--trainer.accelerator", accelerator,
            "--trainer.devices", "1",
            "--trainer.precision", precision,
            "--trainer.max_steps", str(WARMUP_STEPS + steps),
            "--trainer.limit_val_batches", "0",
            "--trainer.num_sanity_val_steps", "0",
            "--trainer.enable_model_summary", "false",
            "--trainer.logger.init_args.save_dir", log_dir,
        ],
        run=False,
    )  # fmt: skip
    timer = _TrainTimer()
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return steps * BATCH / timer.seconds


def gemm_peak(device: torch.device, dtype: torch.dtype, size: int = 1024, repeats: int = 20) -> float:
    """Measured matrix-multiply FLOP/s in ``dtype``: the compute limit of this machine for the LSTM's GEMMs."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
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
    steps = model.network.steps
    recurrent = sum(p.numel() for name, p in model.network.rnn.named_parameters() if name.startswith("weight"))
    head = model.network.head.weight.numel()
    return 3 * 2 * (recurrent * steps + head)


def _ratios(numerators: list[float], denominators: list[float]) -> str:
    """Median and range of the ratios of each round's pair, measured seconds apart on the same machine."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators, strict=False))
    return f"{statistics.median(ratios):.2f} [{ratios[0]:.2f}, {ratios[-1]:.2f}]"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--images", type=int, default=20_000, help="training images per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of (a), (b), (c)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["32-true", "bf16-mixed"],
        choices=list(PRECISIONS),
        help="precisions of (b) and (c), each measured in every round",
    )
    args = parser.parse_args()
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    steps = args.images // BATCH

    seed_everything(0, verbose=False)
    data = MNISTDataModule(args.data_dir, batch_size=BATCH)
    data.setup("fit")
    results: dict[str, list[float]] = {"lab": []}
    with tempfile.TemporaryDirectory() as log_dir:
        for round_ in range(args.rounds):
            results["lab"].append(lab_loop(args.data_dir, steps, device))
            for precision in args.precision:
                fit = fit_loop(args.data_dir, steps, args.accelerator, precision, log_dir)
                results.setdefault(f"fit {precision}", []).append(fit)
                pipeline = pipeline_loop(data, steps, device, precision)
                results.setdefault(f"pipeline {precision}", []).append(pipeline)
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in results.items()) + " img/s")

    best = {name: max(values) for name, values in results.items()}
    lab = best["lab"]
    flops = training_flops_per_image(lab_model())
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{name}; {steps * BATCH:,} training images per measurement, batch {BATCH}, best of {args.rounds} rounds")
    print(f"(a) lab loop (torchvision + ToTensor), float32     {lab:10,.0f} images/s")
    for precision in args.precision:
        fit, pipeline = best[f"fit {precision}"], best[f"pipeline {precision}"]
        limit = gemm_peak(device, PRECISIONS[precision]) / flops
        print(f"--- precision {precision}")
        print(f"(b) this project's Trainer.fit                     {fit:10,.0f} images/s")
        print(f"(c) plain loop on this pipeline                    {pipeline:10,.0f} images/s")
        print(f"b/a = {fit / lab:.2f}x   b/c = {fit / pipeline:.3f}   (best of the rounds)")
        per_round_a = _ratios(results[f"fit {precision}"], results["lab"])
        per_round_c = _ratios(results[f"fit {precision}"], results[f"pipeline {precision}"])
        print(f"b/a = {per_round_a}x   b/c = {per_round_c}   (median of the rounds' own ratios [lowest, highest])")
        print(
            f"compute limit: {PRECISIONS[precision]} GEMM peak {limit * flops / 1e9:,.0f} GFLOP/s / "
            f"{flops / 1e6:.1f} MFLOP per training image = {limit:,.0f} images/s; b reaches {fit / limit:.0%} of it"
        )


if __name__ == "__main__":
    main()
