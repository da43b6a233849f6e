"""Training throughput: the lab's plain-PyTorch loop vs this project's Trainer.fit vs the fastest plain loop.

    python -m benchmarks.throughput --data-dir ../shared/mnist [--images 20000] [--rounds 3] [--accelerator cpu]
        [--precision 32-true bf16-mixed] [--batch-sizes 50 128] [--profile]

In one run, on one machine, it alternates three ways of training the same 2x128 LSTM with Adam for the same
number of training images each, at each batch size, and prints images/s and their ratios:

  (a) lab:   the lab's loop as the lab wrote it (benchmarks/lab.py): torchvision MNIST + ToTensor, its LSTM
  (b) fit:   this project's Trainer.fit with the seed config, built by its CLI (callbacks, logger, progress bar
             and all); on a GPU that means device-resident batches and the CUDA graph of the network (auto)
  (c) plain: the yardstick, a plain PyTorch loop with no Lightning. On a CPU: over this project's DataModule
             and model, as (b) is. On a GPU: the fastest loop we could write on the same device-resident
             data: the whole step (gather of the batch by on-device indices, forward, loss, backward, fused
             Adam) captured once as one CUDA graph and replayed, with the data's per-epoch permutation drawn
             on the device; it reads nothing back (no loss, no accuracy), so (b) does more work than (c).

(b) and (c) run once per ``--precision`` (Lightning's names): ``32-true`` is the lab's float32 arithmetic,
``bf16-mixed`` keeps float32 weights and runs the LSTM's matrix products in bfloat16. (a) is always the lab's
float32. The table gives, per batch size and precision, the median [lowest, highest] images/s over the rounds
and the median [lowest, highest] of each round's own ratios b/a and b/c: ratios measured seconds apart hold
on noisy, shared machines where absolute figures do not. Each measurement times the training loop only after
5 warm-up steps (and the graph's capture), not the decoding of the files or the setting up of the Trainer.

``--profile`` instead runs the PyTorch profiler over a few steps of (b) and of (c) (after the warm-up) and
prints where their time goes, by operator: Lightning's hooks and loops, the data, the copies, the kernels.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch import Callback, Trainer, seed_everything
from torch import Tensor

from benchmarks.lab import BATCH, lab_setup, lab_step
from benchmarks.options import data_folder
from mnist_rnn.cli import build_cli
from mnist_rnn.cpu_threads import CPUThreads
from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier
from mnist_rnn.precision import supported_precision

# Steps each loop runs before its clock starts: first-call costs (allocations, lazy optimizer state, the
# first autocast and oneDNN/cuDNN kernel setup, the graph's capture) are not throughput.
WARMUP_STEPS = 5
# Steps the profiler records in --profile.
PROFILED_STEPS = 5
# Lightning precision names measured here -> the dtype of their matrix products.
PRECISIONS = {"32-true": torch.float32, "bf16-mixed": torch.bfloat16}
SEED_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "seed.yaml"


def lab_model() -> RNNClassifier:
    """This project's model with the lab's settings (configs/seed.yaml: Adam at a fixed lr 0.01, no extras)."""
    return RNNClassifier(**yaml.safe_load(SEED_CONFIG.read_text())["model"])


def lab_loop(data_dir: str, steps: int, device: torch.device, batch: int) -> float:
    """(a) The lab's loop: per-sample PIL -> ToTensor -> collate, loss.item() every 100 steps as it printed."""
    loader, model, criterion, optimizer = lab_setup(data_dir, device, batch)
    for step, (images, labels) in enumerate(_epochs(loader)):
        if step == WARMUP_STEPS:
            _sync(device)
            start = time.perf_counter()
        if step == WARMUP_STEPS + steps:
            break
        loss = lab_step(model, criterion, optimizer, images.to(device), labels.to(device))
        if (step + 1) % 100 == 0:
            _ = loss.item()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def pipeline_loop(
    data: MNISTDataModule, steps: int, device: torch.device, precision: str, batch: int, profiler: Any = None
) -> float:
    """(c) on a CPU: a plain loop over this project's DataModule and LightningModule, no Trainer."""
    model = lab_model().to(device)
    optimizer = model.configure_optimizers()
    data.batch_size = batch
    profiling = profiler if profiler is not None else nullcontext()
    for step, (images, labels) in enumerate(_epochs(data.train_dataloader())):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
            profiling.__enter__()
        if step == WARMUP_STEPS + steps:
            profiling.__exit__(None, None, None)
            break
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


class GraphedStep:
    """(c) on a GPU: one whole training step as one CUDA graph, on device-resident uint8 data.

    The step gathers the batch from a static index buffer, runs the network (the project's, with the lab's
    settings), the loss and the backward pass, and fused, capturable Adam: one ``replay`` per step. The
    host only copies the next slice of the epoch's on-device permutation into the index buffer.
    """

    def __init__(self, images: Tensor, labels: Tensor, batch: int, precision: str) -> None:
        self.images, self.labels, self.batch = images, labels, batch
        device = images.device
        self.network = lab_model().network.to(device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=0.01, fused=True, capturable=True)
        self.index = torch.zeros(batch, dtype=torch.long, device=device)
        self.autocast: Any = nullcontext()
        if precision == "bf16-mixed":
            self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)
        self.order = self._permutation()
        self.position = 0
        # Warm up on a side stream (cuDNN picks its kernels, Adam makes its state), then capture.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._next_index()
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step()

    def _permutation(self) -> Tensor:
        return torch.randperm(len(self.labels), device=self.labels.device)

    def _next_index(self) -> None:
        if self.position + self.batch > len(self.order):  # a new epoch: a new order (the last partial batch dropped)
            self.order, self.position = self._permutation(), 0
        self.index.copy_(self.order[self.position : self.position + self.batch])
        self.position += self.batch

    def _step(self) -> None:
        self.optimizer.zero_grad(set_to_none=False)
        with self.autocast:
            images = self.images.index_select(0, self.index)
            loss = F.cross_entropy(self.network(images), self.labels.index_select(0, self.index))
        loss.backward()
        self.optimizer.step()

    def __call__(self) -> None:
        self._next_index()
        self.graph.replay()


def graphed_loop(images: Tensor, labels: Tensor, steps: int, precision: str, batch: int, profiler: Any = None) -> float:
    """(c) on a GPU: :class:`GraphedStep` replayed ``steps`` times after the warm-up."""
    step = GraphedStep(images, labels, batch, precision)
    for _ in range(WARMUP_STEPS):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    with profiler if profiler is not None else nullcontext():
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


class _TrainTimer(Callback):
    """Times Trainer.fit's training steps after the warm-up ones, as the plain loops are timed; with a
    profiler, records the steps after the warm-up (the fetch of each batch included)."""

    def __init__(self, profiler: torch.profiler.profile | None = None) -> None:
        self.profiler = profiler

    def on_train_batch_start(self, trainer: Trainer, pl_module: RNNClassifier, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == WARMUP_STEPS:
            _sync(pl_module.device)
            self.start = time.perf_counter()
            if self.profiler is not None:
                self.profiler.start()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: RNNClassifier, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step == trainer.max_steps:
            _sync(pl_module.device)
            self.seconds = time.perf_counter() - self.start
            if self.profiler is not None:
                self.profiler.stop()


def fit_loop(
    data_dir: str,
    steps: int,
    accelerator: str,
    precision: str,
    log_dir: str,
    batch: int,
    profiler: Any = None,
    val_size: int = 5000,
    config: Path = SEED_CONFIG,
    extra: Sequence[str] = (),
) -> float:
    """(b) This project's Trainer.fit, built by its CLI from ``config`` (configs/seed.yaml unless given;
    callbacks, logger, progress bar and all) and ``extra`` arguments, with validation left out so that only
    training is timed."""
    cli = build_cli(
        [
            "--config", str(config),
            "--data.data_dir", data_dir,
            "--data.batch_size", str(batch),
            "--data.val_size", str(val_size),
            "--trainer.accelerator", accelerator,
            "--trainer.devices", "1",
            "--trainer.precision", precision,
            "--trainer.max_steps", str(WARMUP_STEPS + steps),
            "--trainer.limit_val_batches", "0",
            "--trainer.num_sanity_val_steps", "0",
            "--trainer.enable_model_summary", "false",
            "--trainer.logger.init_args.save_dir", log_dir,
            *extra,
        ],
        run=False,
    )  # fmt: skip
    # (a), (b) and (c) run on the same torch threads: without the CLI's one thread per idle core, which on a
    # busy machine would measure (b) with fewer threads than the loops beside it.
    cli.trainer.callbacks = [callback for callback in cli.trainer.callbacks if not isinstance(callback, CPUThreads)]
    timer = _TrainTimer(profiler)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return steps * batch / timer.seconds


def plain_loop(
    data: MNISTDataModule, steps: int, device: torch.device, precision: str, batch: int, profiler: Any = None
) -> float:
    """(c): the graphed loop on a GPU, the plain loop over the DataModule on a CPU."""
    if device.type == "cuda":
        return graphed_loop(data.train_set.images, data.train_set.labels, steps, precision, batch, profiler)
    return pipeline_loop(data, steps, device, precision, batch, profiler)


def profile(args: argparse.Namespace, device: torch.device, data: MNISTDataModule, log_dir: str) -> None:
    """Print where one step of (b) and of (c) spends its time, by operator, per batch size and precision."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    for batch in args.batch_sizes:
        for precision in args.precision:
            recorded = {name: torch.profiler.profile(activities=activities) for name in ("(b) fit", "(c) plain")}
            fit_loop(
                args.data_dir,
                PROFILED_STEPS,
                args.accelerator,
                precision,
                log_dir,
                batch,
                recorded["(b) fit"],
                args.val_size,
            )
            plain_loop(data, PROFILED_STEPS, device, precision, batch, recorded["(c) plain"])
            for name, profiler in recorded.items():
                print(f"\n=== {name}, batch {batch}, {precision}: {PROFILED_STEPS} steps, by {sort}")
                print(profiler.key_averages().table(sort_by=sort, row_limit=25, max_name_column_width=60))
                if device.type == "cuda":  # host side too: Python, Lightning's loops, kernel launches
                    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def _ratios(numerators: list[float], denominators: list[float]) -> str:
    """Median and range of the ratios of each round's pair, measured seconds apart on the same machine."""
    return _spread([n / d for n, d in zip(numerators, denominators, strict=True)], "{:.2f}")


def _spread(values: list[float], form: str = "{:,.0f}") -> str:
    ordered = sorted(values)
    low, middle, high = ordered[0], statistics.median(ordered), ordered[-1]
    return f"{form.format(middle)} [{form.format(low)}, {form.format(high)}]"


def _epochs(loader: Any) -> Any:
    """The batches of ``loader``, epoch after epoch: a measurement may be longer than one epoch."""
    while True:
        yield from loader


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(args: argparse.Namespace, device: torch.device, data: MNISTDataModule, log_dir: str) -> None:
    results: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        for batch in args.batch_sizes:
            steps = max(1, args.images // batch)
            results.setdefault(f"lab {batch}", []).append(lab_loop(args.data_dir, steps, device, batch))
            for precision in args.precision:
                fit = fit_loop(
                    args.data_dir, steps, args.accelerator, precision, log_dir, batch, val_size=args.val_size
                )
                results.setdefault(f"fit {batch} {precision}", []).append(fit)
                plain = plain_loop(data, steps, device, precision, batch)
                results.setdefault(f"plain {batch} {precision}", []).append(plain)
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in results.items()) + " img/s")

    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{name}; about {args.images:,} training images per measurement, {args.rounds} rounds")
    print("images/s and ratios: median [lowest, highest] over the rounds; (a) is float32 at every precision")
    print("| batch | precision | (a) lab | (b) fit | (c) plain | b/a | b/c |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for batch in args.batch_sizes:
        lab = results[f"lab {batch}"]
        for precision in args.precision:
            fit, plain = results[f"fit {batch} {precision}"], results[f"plain {batch} {precision}"]
            print(
                f"| {batch} | {precision} | {_spread(lab)} | {_spread(fit)} | {_spread(plain)} "
                f"| {_ratios(fit, lab)}x | {_ratios(fit, plain)} |"
            )
    flops = training_flops_per_image(lab_model())
    for precision in args.precision:
        peak = gemm_peak(device, PRECISIONS[precision])
        print(
            f"compute limit, {precision}: GEMM peak {peak / 1e9:,.0f} GFLOP/s / {flops / 1e6:.1f} MFLOP per "
            f"training image = {peak / flops:,.0f} images/s"
        )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data/", help="folder holding MNIST/raw/")
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
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", help=f"batch sizes (default: {BATCH} on a CPU, {BATCH} and 128 on a GPU)"
    )
    parser.add_argument("--profile", action="store_true", help="profile a few steps of (b) and (c) instead")
    parser.add_argument("--val-size", type=int, default=5000, help=argparse.SUPPRESS)  # for tiny generated data
    args = parser.parse_args()
    if args.accelerator == "gpu" and not torch.cuda.is_available():
        parser.exit(2, "throughput: --accelerator gpu: torch sees no CUDA GPU here\n")
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    args.batch_sizes = args.batch_sizes or ([BATCH, 128] if device.type == "cuda" else [BATCH])
    # Where the device lacks native bfloat16, fit trains bf16 configs in float32 and (c) would fail or crawl:
    # a bf16-mixed row would compare different arithmetic, so there is none.
    _, fallback = supported_precision("bf16-mixed", args.accelerator)
    if fallback and "bf16-mixed" in args.precision:
        args.precision = [precision for precision in args.precision if precision != "bf16-mixed"]
        print(f"throughput: bf16-mixed left out: {fallback.split(':')[0]}")
        if not args.precision:
            parser.exit(2, "throughput: nothing left to measure (add --precision 32-true)\n")

    seed_everything(0, verbose=False)
    data = MNISTDataModule(args.data_dir, batch_size=BATCH, val_size=args.val_size)
    data.prepare_data()  # unpacks .gz files (what benchmarks/gpu_session.sh carries), which (a) reads too
    data.setup("fit")
    if device.type == "cuda":  # (c)'s data, resident on the device like (b)'s
        data.train_set.images = data.train_set.images.to(device)
        data.train_set.labels = data.train_set.labels.to(device)
    with tempfile.TemporaryDirectory() as log_dir:
        (profile if args.profile else measure)(args, device, data, log_dir)


if __name__ == "__main__":
    main()
