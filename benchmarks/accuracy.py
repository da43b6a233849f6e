r"""Accuracy over seeds: train a config once per seed on a local MNIST folder and print a table.

    python -m benchmarks.accuracy --config configs/default.yaml --seeds 0 1 2 --data-dir ../shared/mnist
    python -m benchmarks.accuracy --config configs/seed.yaml --seeds 0 1 2 --data-dir ../shared/mnist \
        --parallel 3 -- --trainer.accelerator gpu

Each seed runs the real CLI (``fit``, then the test of its best checkpoint, as ``python -m mnist_rnn fit``
does) in its own process; ``--parallel`` runs several at once (useful on a GPU, which one small LSTM leaves
mostly idle; on a 2-core CPU keep 1, or the wall times mean nothing). Arguments after ``--`` go to the CLI.

Columns: test accuracy of the best-val checkpoint, best validation accuracy, epochs trained, training wall
time (fit only, validation included, the final test not), and the training time at which the run first
reached ``--threshold`` validation accuracy (99.0% unless given; '-' if never) and its epoch. The summary
gives mean and sample std over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer

from benchmarks.options import data_folder

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 0.99  # of "time to X% val accuracy" unless --threshold says otherwise
RESULT_PREFIX = "ACCURACY_RESULT "


class RunClock(Callback):
    """Training wall time, and when (seconds, epoch) validation accuracy first reached ``threshold``."""

    def __init__(self, threshold: float = THRESHOLD, stop_after: float | None = None) -> None:
        self.threshold = threshold
        self.stop_after = stop_after  # seconds: end the run at the first epoch's end past this
        self.start = 0.0
        self.train_seconds = 0.0
        self.seconds_to_target: float | None = None
        self.epochs_to_target: int | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        accuracy = trainer.callback_metrics.get("val/acc")
        reached = accuracy is not None and float(accuracy) >= self.threshold
        if not trainer.sanity_checking and reached and self.seconds_to_target is None:
            self.seconds_to_target = time.perf_counter() - self.start
            self.epochs_to_target = trainer.current_epoch + 1

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Not Lightning's Timer: its elapsed time is restored on resume, so a resumed run would stop at once.
        if self.stop_after is not None and time.perf_counter() - self.start > self.stop_after:
            trainer.should_stop = True

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.train_seconds = time.perf_counter() - self.start


def run_one(
    cli_args: list[str], threshold: float = THRESHOLD, ckpt_path: str | None = None, stop_after: float | None = None
) -> dict:
    """Train and test one seed in this process, the way ``python -m mnist_rnn fit`` does (resuming from
    ``ckpt_path`` when given)."""
    from mnist_rnn.cli import build_cli

    cli = build_cli(cli_args, run=False)
    clock = RunClock(threshold, stop_after)
    cli.trainer.callbacks.append(clock)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    cli.after_fit()
    checkpoint = cli.trainer.checkpoint_callback
    return {
        "test_acc": cli.test_results["test/acc"],
        "best_val_acc": float(checkpoint.best_model_score)
        if checkpoint and checkpoint.best_model_score is not None
        else None,
        "epochs": cli.trainer.current_epoch,
        "train_seconds": clock.train_seconds,
        "seconds_to_target": clock.seconds_to_target,
        "epochs_to_target": clock.epochs_to_target,
        "device": _device_name(cli.trainer),
        # what ran: a bf16 recipe trains in float32 on a CPU or GPU without bfloat16, which the table must say
        "precision": str(cli.trainer.precision),
    }


def _device_name(trainer: Trainer) -> str:
    import platform

    import torch

    if trainer.strategy.root_device.type == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def _dataset(config: str, cli_extra: list[str]) -> str:
    """The data set a run of ``config`` with the CLI arguments ``cli_extra`` trains on (the last one named)."""
    import yaml

    dataset = "mnist"
    try:
        dataset = (yaml.safe_load(Path(config).read_text()) or {}).get("data", {}).get("dataset") or dataset
    except (OSError, yaml.YAMLError, AttributeError):
        pass  # the CLI names what is wrong with the config
    for index, arg in enumerate(cli_extra):
        if arg == "--data.dataset" and index + 1 < len(cli_extra):
            dataset = cli_extra[index + 1]
        elif arg.startswith("--data.dataset="):
            dataset = arg.partition("=")[2]
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a YAML config of the CLI, e.g. configs/default.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--data-dir", default="data/", help="folder holding the config's data set (MNIST/raw/, FashionMNIST/raw/...)"
    )
    parser.add_argument("--parallel", type=int, default=1, help="seeds trained at once (each its own process)")
    parser.add_argument("--log-dir", default="lightning_logs", help="where the runs' logs go")
    parser.add_argument("--name", help="the runs' folder under --log-dir (default: the config's name)")
    parser.add_argument(
        "--threshold", type=float, default=THRESHOLD, help="validation accuracy of the 'time to' column (0.99: 99%%)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="name each seed's folder seedN (no time stamp) and continue from its last.ckpt when there is one: "
        "a run that does not fit one sitting goes on in the next",
    )
    parser.add_argument(
        "--stop-after", type=float, help="seconds: stop each run at the end of the first epoch past this (see --resume)"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: a single seed
    args, cli_extra = parser.parse_known_args()
    cli_extra = [a for a in cli_extra if a != "--"]
    # The data set is the config's, or a --data.dataset after "--": its folder is checked, not always MNIST's
    # (configs/fashion.yaml's commands in docs/results.md were refused for a folder without MNIST/raw/).
    try:
        args.data_dir = data_folder(_dataset(args.config, cli_extra))(args.data_dir)
    except argparse.ArgumentTypeError as error:
        parser.error(f"argument --data-dir: {error}")
    except KeyError:  # no such data set: the CLI says so, naming --data.dataset
        args.data_dir = str(Path(args.data_dir).expanduser().resolve())

    name = args.name or Path(args.config).stem
    if args.one:
        # Each seed its own folder, named up front: runs in parallel must never share a checkpoint folder.
        version = f"seed{args.seeds[0]}" + ("" if args.resume else f"-{time.strftime('%Y%m%d-%H%M%S')}")
        last = Path(args.log_dir) / name / version / "checkpoints" / "last.ckpt"
        ckpt_path = str(last) if args.resume and last.is_file() else None
        cli_args = [
            "--config",
            args.config,
            "--seed_everything",
            str(args.seeds[0]),
            "--data.data_dir",
            args.data_dir,
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.logger.init_args.save_dir",
            args.log_dir,
            "--trainer.logger.init_args.name",
            name,
            "--trainer.logger.init_args.version",
            version,
            *cli_extra,
        ]
        print(RESULT_PREFIX + json.dumps(run_one(cli_args, args.threshold, ckpt_path, args.stop_after)), flush=True)
        return

    # The children import this checkout's code, wherever the command was started from.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def run_seed(seed: int) -> dict:
        command = [
            sys.executable,
            "-m",
            "benchmarks.accuracy",
            "--one",
            "--config",
            args.config,
            "--seeds",
            str(seed),
            "--data-dir",
            args.data_dir,
            "--log-dir",
            args.log_dir,
            "--name",
            name,
            "--threshold",
            str(args.threshold),
            *(["--resume"] if args.resume else []),
            *(["--stop-after", str(args.stop_after)] if args.stop_after is not None else []),
            *cli_extra,
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode != 0 or not lines:
            sys.exit(f"seed {seed} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        result = json.loads(lines[-1][len(RESULT_PREFIX) :])
        print(
            f"seed {seed}: test {result['test_acc']:.2%}, best val {_percent(result['best_val_acc'])}, "
            f"{result['epochs']} epochs in {result['train_seconds']:.0f} s",
            flush=True,
        )
        return {"seed": seed, **result}

    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        results = list(pool.map(run_seed, args.seeds))

    precisions = ", ".join(sorted({str(r.get("precision")) for r in results}))
    print(
        f"\n{name}: {args.config} {' '.join(cli_extra)} on {results[0]['device']} in {precisions} precision, "
        f"{args.parallel} run(s) at a time"
    )
    print(f"| seed | test acc | best val acc | epochs | train time | time to {args.threshold:.1%} val |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        seconds, epochs = r["seconds_to_target"], r["epochs_to_target"]
        to_target = f"{seconds:.0f} s ({epochs} epochs)" if seconds is not None else "-"
        print(
            f"| {r['seed']} | {r['test_acc']:.2%} | {_percent(r['best_val_acc'])} | {r['epochs']} "
            f"| {r['train_seconds']:.0f} s | {to_target} |"
        )
    accuracies = [r["test_acc"] for r in results]
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    print(
        f"mean test accuracy {statistics.mean(accuracies):.2%} +- {spread:.2%} (min {min(accuracies):.2%}), "
        f"mean best val {_percent(_mean([r['best_val_acc'] for r in results]))}, "
        f"mean train time {statistics.mean(r['train_seconds'] for r in results):.0f} s"
    )


def _percent(value: float | None) -> str:
    """A percentage, or "-" where there is none (no validation ran, so no checkpoint had a best val/acc)."""
    return "-" if value is None else f"{value:.2%}"


def _mean(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.mean(present) if present else None


if __name__ == "__main__":
    main()
