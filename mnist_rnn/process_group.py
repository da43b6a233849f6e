"""How the processes of a command end: those of a multi-process run on the CPU (``ddp``, ``ddp_spawn`` with gloo),
and those a command starts, which end with it (:func:`sigterm_when_parent_ends`).

A process that ends without destroying its torch.distributed process group leaves gloo's worker threads to the
interpreter's finalisation, and now and then one of them is still joinable there: the process aborts with
"terminate called without an active exception" (SIGABRT) after its work is done (pytorch issue #190489). Under
``ddp_spawn`` that failed a whole ``validate`` whose metrics were already printed. Lightning destroys the group
at exit for NCCL only (``lightning.fabric.utilities.distributed._init_dist_connection``); this does it for every
backend, while the interpreter is still whole.

Under ``ddp_spawn`` the stages run in processes that Lightning's launcher spawns, and they stop on Ctrl+C or
SIGTERM as ``ddp``'s do only through :class:`StoppableSpawnLauncher`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, NamedTuple

import lightning.pytorch as pl
import torch
from lightning.pytorch.strategies import Strategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.trainer.call import _interrupt
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.multiprocessing import ProcessExitedException

from mnist_rnn import stopping

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def sigterm_when_parent_ends() -> bool:
    """Have Linux send this process SIGTERM when its parent ends, even by SIGKILL (``PR_SET_PDEATHSIG``); False
    where it cannot (macOS). Linux sends it when the *thread* that started this process ends, so the parent
    must start it from a thread that lives as long as itself (its main thread)."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    return False


_registered = False


def destroy_at_exit() -> None:
    """In a process of a multi-process run (its group is initialised): destroy the group when the process ends.
    Once per process; nothing in a single-process run."""
    global _registered
    if _registered or not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    atexit.register(_destroy)
    _registered = True


def _destroy() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


LOST_THE_FIRST = (
    "process {rank} of the run stopped: the first process ended before it (its own message, if any, says why)"
)


def lost_a_peer(error: BaseException) -> bool:
    """Whether ``error`` is torch.distributed's for a connection to another process of the run that closed: that
    process ended (gloo says "Connection closed by peer" in a collective, "Connection reset by peer" in a read)."""
    dist_error = getattr(torch.distributed, "DistError", ())  # absent from a torch built without distributed
    text = str(error) if isinstance(error, RuntimeError) else ""
    return isinstance(error, dist_error) or "Connection closed by peer" in text or "Connection reset by peer" in text


class _StoppedBySignal(NamedTuple):
    """What the first spawned process hands back instead of its results when a signal stopped the stage."""

    exit_status: int


class StoppableSpawnLauncher(_MultiProcessingLauncher):
    """``ddp_spawn``'s launcher (Lightning's), stopping on Ctrl+C or SIGTERM as ``ddp``'s processes do: each
    process finishes its batch, the first saves ``last.ckpt`` and says how to resume, and the command ends with
    status 130 or 143.

    Lightning's runs the stage in the spawned processes without the exception handling its other launchers
    get (``_call_and_handle_interrupt`` runs in the command's process only): a SIGTERM ended them with status
    0 and no callback's ``on_exception``, so no ``last.ckpt``; and the command's own process, which is what
    ``kill PID`` or a scheduler signals, said it had stopped "before training" and then waited while its
    processes trained on to the end.
    """

    doing = ""  # what the command was doing when it started the processes: the line of a stop before their stage
    stop_signal: int | None = None  # in the command's process: the signal that came after the stage had ended

    def launch(self, function: Callable, *args: Any, trainer: pl.Trainer | None = None, **kwargs: Any) -> Any:
        """Spawn the processes and wait for them; a stop signal meanwhile is passed on to them as SIGTERM (a
        terminal's Ctrl+C reaches them itself, and a second SIGINT would abort them at once)."""
        self.doing = stopping.now_doing()
        received: list[int] = []

        def pass_on(signum: int, frame: FrameType | None) -> None:
            stop = stopping.Stopped(signum)  # its line says what was being done, before the line below changes it
            received.append(signum)
            stopping.doing(stopping.SECOND_STOP)  # one more, here or after the processes ended, ends it at once
            # The children started so far: self.procs is set only once all are.
            for child in multiprocessing.active_children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
            if not self.procs:
                # Still starting them: the process object is written to each child's pipe while the child reads
                # it, and the write waits for ever on a child the signal ended (this process holds the pipe's
                # other end). Raising stops the write; the child then reads a cut-off pickle (a traceback).
                raise stop

        self.procs = []  # those of the stage before (fit's, for the test after it)
        try:
            with stopping.stop_handlers(pass_on):
                results = super().launch(function, *args, trainer=trainer, **kwargs)
        except ProcessExitedException:  # killed by the signal, starting up before any handler of ours
            if received:
                raise stopping.Stopped(received[0]) from None
            raise
        if received and trainer is not None:
            # The processes had finished the stage when the signal came: the command stops at its next check
            # (the CLI's, after the stage), as in a process that ran the stage itself.
            trainer._signal_connector.received_sigterm = True
            self.stop_signal = received[0]
        return results

    def _wrapping_function(
        self,
        process_idx: int,
        trainer: pl.Trainer | None,
        function: Callable,
        args: Any,
        kwargs: Any,
        return_queue: multiprocessing.SimpleQueue | queue.Queue,
        global_states: Any = None,
    ) -> None:
        """In each spawned process: run the stage as Lightning does, with what ``_call_and_handle_interrupt``
        does elsewhere on an exception (the callbacks' ``on_exception``, the Trainer's teardown); a stop ends it
        with status 0, and the first process hands the command the stop's exit status."""
        stopping.doing(self.doing)
        if process_idx != 0:  # a stop outside the stage is taken with the first process (stopping.together)
            stopping.together()
        with stopping.stop_handlers():
            try:
                super()._wrapping_function(process_idx, trainer, function, args, kwargs, return_queue, global_states)
                return
            except BaseException as exception:
                if trainer is not None:
                    _interrupt(trainer, exception)
                    trainer._teardown()
                if isinstance(exception, stopping.Stopped):  # before the stage's handlers, or a second Ctrl+C
                    status = exception.exit_status
                    if process_idx == 0:
                        exception.say()
                elif isinstance(exception, SIGTERMException):  # the checkpoint callback saved and said so
                    status = exception.code if isinstance(exception.code, int) else 128 + signal.SIGTERM
                elif process_idx != 0 and lost_a_peer(exception):
                    # The first process ended outside the stage (stopped: its line says so, and it hands the command
                    # the status) while this one waited for it: its traceback, through torch's spawn, ended the
                    # command with status 1. Stopped too (Ctrl+C, a stop passed on by the command): nothing to add.
                    if stopping.noted_stop() is None:
                        print(f"mnist-rnn: error: {LOST_THE_FIRST.format(rank=process_idx)}", file=sys.stderr)
                    return
                else:
                    raise
        # Status 0: a non-zero one makes the command's process end the others at once, maybe in their save.
        if process_idx == 0:
            return_queue.put(_StoppedBySignal(status))

    def _recover_results_in_main_process(self, worker_output: Any, trainer: pl.Trainer) -> None:
        if isinstance(worker_output, _StoppedBySignal):  # the processes said why; the command only ends
            raise SystemExit(worker_output.exit_status)
        super()._recover_results_in_main_process(worker_output, trainer)


def stop_spawned_processes_cleanly(strategy: Strategy) -> None:
    """Give ``strategy`` (``ddp_spawn``'s, or ``ddp_fork``'s) :class:`StoppableSpawnLauncher`; nothing for others."""
    launcher = strategy.launcher
    if type(launcher) is _MultiProcessingLauncher:
        strategy._launcher = StoppableSpawnLauncher(strategy, start_method=launcher._start_method)
