"""Training speed on the CPU with torch's own thread count and with the CLI's one thread per idle core
(mnist_rnn/cpu_threads.py), on a quiet machine, with one core kept busy by another process, and with every core
kept busy.

    python -m benchmarks.busy_core --data-dir ../shared/mnist [--rounds 2] [--batches 80]

Each round runs the real ``fit --config configs/fast.yaml`` for ``--batches`` training batches, twice per
condition, alternately: with ``OMP_NUM_THREADS`` set to torch's own count (the CLI then keeps it: the behaviour
before), and without (the CLI counts the idle cores). "busy" starts a Python loop spinning on one core first,
"all busy" one on each core (the CLI then trains on one thread).
It prints the training batches per second of each run (Lightning's progress bar's own rate) and, per
condition, the median ratio of the two. A "quiet" row where the CLI itself found a core busy (another program
was running) says so: its ratio is not the quiet machine's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.options import data_folder

ROOT = Path(__file__).resolve().parents[1]


def batches_per_second(data_dir: str, batches: int, env: dict[str, str], log_dir: str) -> tuple[float, bool]:
    """One short ``fit`` of configs/fast.yaml: the training batches per second its progress bar shows, and
    whether the CLI found a core busy (its line "... busy with other work: fit runs on 1 thread")."""
    command = [
        sys.executable, "-m", "mnist_rnn", "fit", "--config", str(ROOT / "configs" / "fast.yaml"),
        "--data.data_dir", data_dir, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", str(batches),
        "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "2",
        "--trainer.default_root_dir", log_dir,
    ]  # fmt: skip
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    bar = run.stdout + run.stderr
    finished = [line for line in re.split(r"[\r\n]", bar) if line.startswith("Epoch 0: 100%")]
    rate = re.search(r"([0-9.]+)(it/s|s/it)", finished[0])
    return float(rate[1]) if rate[2] == "it/s" else 1 / float(rate[1]), "busy with other work" in run.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=data_folder("mnist"), default="data/", help="folder holding MNIST/raw/")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=80, help="training batches per run")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    plain = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    kinds = {"torch's threads": {**plain, "OMP_NUM_THREADS": str(threads)}, "idle cores": plain}
    print(f"CPU {os.cpu_count()} cores, torch's threads {threads}; training batches per second, configs/fast.yaml")
    with tempfile.TemporaryDirectory() as log_dir:
        for condition, spinning in (("quiet", 0), ("busy", 1), ("all busy", os.cpu_count() or 1)):
            spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(spinning)]
            try:
                rates: dict[str, list[float]] = {kind: [] for kind in kinds}
                busy_found = 0  # runs in which the CLI saw a busy core
                for _ in range(args.rounds):
                    for kind, env in kinds.items():
                        rate, busy = batches_per_second(str(args.data_dir), args.batches, env, log_dir)
                        rates[kind].append(rate)
                        busy_found += busy
            finally:
                for spinner in spinners:
                    spinner.kill()
                    spinner.wait()
            shown = "; ".join(f"{kind}: {', '.join(f'{rate:.1f}' for rate in got)}" for kind, got in rates.items())
            ratio = statistics.median(new / old for old, new in zip(*rates.values(), strict=True))
            print(f"{condition}: {shown}; idle cores / torch's threads {ratio:.2f}x (median of rounds)")
            if condition == "quiet" and busy_found:
                print(
                    f"  not quiet: the CLI found a core busy with other work in {busy_found} of {args.rounds} runs; "
                    "rerun on a quiet machine"
                )


if __name__ == "__main__":
    main()
