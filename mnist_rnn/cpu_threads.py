"""One of torch's CPU threads per idle core, not per core.

torch runs one intra-op thread per core, and every matrix product waits for the slowest of them. When another
process keeps a core busy, the thread that shares it falls behind and each of the LSTM's many small products
waits for it: on the 2-core machines of docs/results.md a CPU fit with one core busy ran at about a third of
its speed, far slower than with one thread. Lightning already lowers the thread count when its own processes
share the CPU (DDP on a CPU sets ``OMP_NUM_THREADS``); :class:`CPUThreads` does the same for other processes'
work. At the start of a run on the CPU it reads how busy each core was over a moment (Linux's ``/proc/stat``),
uses one thread per idle core (at least one, never more than torch would), says so when that is fewer (fit's test
after it only where that changed), and puts torch's count back when the run ends.

A user's own choice wins: with ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` set, it changes nothing. That is also
the way to make float32 runs repeat bit for bit on a machine whose load varies: on CPUs without bfloat16,
oneDNN's float32 results depend (in their last bits) on the number of threads.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.accelerators import CPUAccelerator

from mnist_rnn.errors import tell

# The environment variables with which a user sets torch's CPU threads (read by its OpenMP and MKL).
THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# How long the cores are watched, and the share of that time (by others) that makes a core busy.
WATCH_SECONDS = 0.25
BUSY_SHARE = 0.5
PROC_STAT = Path("/proc/stat")


def _core_times(stat: Path) -> dict[int, tuple[int, int]]:
    """Per core of ``/proc/stat``: (time busy, time in all), in clock ticks since boot. Idle and I/O wait are
    not busy; time stolen by the hypervisor is (the core did not run this machine's work)."""
    times = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        # user nice system idle iowait irq softirq steal (guest time is counted in user already)
        ticks = [int(field) for field in fields[:8]]
        total = sum(ticks)
        times[int(name[3:])] = (total - ticks[3] - ticks[4], total)
    return times


def idle_cores(seconds: float = WATCH_SECONDS, stat: Path = PROC_STAT) -> tuple[int, int] | None:
    """How many of the cores this process may run on were idle (busy less than half the time) over the
    next ``seconds``, while this process sleeps, and how many it may run on; ``None`` where that cannot be
    read (not Linux)."""
    try:
        cores = os.sched_getaffinity(0)
        before = _core_times(stat)
        time.sleep(seconds)
        after = _core_times(stat)
    except (OSError, AttributeError, ValueError, IndexError):  # no /proc/stat, no affinity, another layout
        return None
    idle = 0
    for core in cores:
        if core not in before or core not in after:
            return None
        busy = after[core][0] - before[core][0]
        total = after[core][1] - before[core][1]
        idle += total <= 0 or busy < BUSY_SHARE * total
    return idle, len(cores)


class CPUThreads(Callback):
    """On the CPU, in one process, as many torch threads as idle cores while the run lasts (module
    docstring); nothing when ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set."""

    def __init__(self) -> None:
        self.torch_threads: int | None = None  # torch's count before this run, put back at its end
        # What the note said last: fit's test (the same callback) says it again only where the cores' load changed.
        self.said: tuple[int, int, int] | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if any(os.environ.get(name) for name in THREAD_SETTINGS):
            return
        if not isinstance(trainer.accelerator, CPUAccelerator) or trainer.world_size > 1:
            return  # several processes on a CPU: Lightning sets their threads itself
        threads = torch.get_num_threads()
        watched = idle_cores() if threads > 1 else None
        if watched is None or max(1, watched[0]) >= threads:
            return
        idle, cores = watched
        fewer = max(1, idle)
        self.torch_threads = threads
        torch.set_num_threads(fewer)
        busy, command = cores - idle, getattr(stage, "value", stage)  # Lightning's TrainerFn, or a name
        if self.said == (busy, cores, fewer):
            return
        self.said = (busy, cores, fewer)
        which = (
            ("both CPU cores are" if cores == 2 else f"all {cores} CPU cores are")
            if busy == cores
            else f"{busy} of the {cores} CPU cores {'is' if busy == 1 else 'are'}"
        )
        tell(
            f"{which} busy with other work: {command} runs on {fewer} thread{'s' if fewer > 1 else ''}, not "
            f"{threads}, which is faster while that lasts (OMP_NUM_THREADS=N chooses)"
        )

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
            self.torch_threads = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        # A run that raised gets no teardown from Lightning: a notebook stayed on one thread for good.
        self.teardown(trainer, pl_module, "exception")
