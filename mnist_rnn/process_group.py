"""How the processes of a command end: those of a multi-process run on the CPU (``ddp``, ``ddp_spawn`` with gloo),
and those a command starts, which end with it (:func:`mnist_rnn.stopping.sigterm_when_parent_ends`).

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
import multiprocessing
import multiprocessing.util
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, NamedTuple

import lightning.pytorch as pl
import torch
from lightning.fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.strategies import Strategy
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher
from lightning.pytorch.trainer.call import _interrupt
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.multiprocessing import ProcessExitedException

from mnist_rnn import stopping

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


class _EndedAsItStarted(Exception):
    """A process the launcher was starting ended: its ``os.waitid`` result and its process index."""

    def __init__(self, ended: os.waitid_result, index: int) -> None:
        self.pid, self.index = ended.si_pid, index
        killed = ended.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
        self.signal_name = signal.Signals(ended.si_status).name if killed else None
        self.exit_code = -ended.si_status if killed else ended.si_status
        super().__init__(
            f"process {self.index} terminated with signal {self.signal_name} as it started"
            if killed
            else f"process {self.index} exited with status {self.exit_code} as it started"
        )

    @property
    def stop_signal(self) -> int | None:
        """SIGINT or SIGTERM where that ended it (:func:`mnist_rnn.stopping.stop_signal_of`)."""
        return stopping.stop_signal_of(self.exit_code)


@contextlib.contextmanager
def _handling(signum: int, handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for ``signum`` inside the block (in the main thread: elsewhere none can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


@contextlib.contextmanager
def _spawning_deaf_to_sigint(started: list[int]) -> Iterator[None]:
    """Inside the block, the processes multiprocessing spawns (``ddp_spawn``'s) start with SIGINT blocked, and their
    ids go into ``started``, in their order. A Ctrl+C reached a process as it started, reading the Trainer it is
    handed (seconds: the imports), and ended it in a ``KeyboardInterrupt`` traceback: blocked (a mask is inherited
    across fork and exec), it waits for the process's handler (:meth:`StoppableSpawnLauncher._wrapping_function`),
    while this process, which gets it too, stops them. Blocked here only around the fork: a signal that comes then
    is this process's once the fork is done. (The standard library's resource tracker is started the same way.)"""
    spawnv_passfds = multiprocessing.util.spawnv_passfds

    def spawn(path: str, args: list[str], passfds: Any) -> int:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = spawnv_passfds(path, args, passfds)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if "--multiprocessing-fork" in args:  # one of the run's (not the resource tracker)
            started.append(pid)
        return pid

    multiprocessing.util.spawnv_passfds = spawn
    try:
        yield
    finally:
        multiprocessing.util.spawnv_passfds = spawnv_passfds


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
        # The line of each stop, made as it came: the line is changed to SECOND_STOP's at once (see pass_on).
        stops: list[stopping.Stopped] = []
        started: list[int] = []  # the run's processes, the one being started too (spawn; fork's are the children)

        def processes() -> set[int]:
            return {*started, *(child.pid for child in multiprocessing.active_children())}

        def pass_on(signum: int, frame: FrameType | None) -> None:
            stop = stopping.Stopped(signum)  # its line says what was being done, before the line below changes it
            received.append(signum)
            stops.append(stop)
            stopping.doing(stopping.SECOND_STOP)  # one more, here or after the processes ended, ends it at once
            for pid in processes():  # self.procs is set only once all have started
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            if not self.procs:
                # Still starting them: the process object is written to each child's pipe while the child reads
                # it, and the write waits for ever on a child the signal ended (this process holds the pipe's
                # other end). Raising stops the write; the child, ended by the SIGTERM above, reads no cut-off pickle.
                raise stop

        def child_ended(signum: int, frame: FrameType | None) -> None:
            if self.procs:  # all started: torch's join sees one that ends
                return
            for index, pid in enumerate(started):  # one of the run's, not any child of this process
                with contextlib.suppress(ChildProcessError):  # reaped already
                    ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # left for its Popen
                    if ended is not None:
                        raise _EndedAsItStarted(ended, index)

        self.procs = []  # those of the stage before (fit's, for the test after it)
        try:
            with (
                stopping.stop_handlers(pass_on),
                _handling(signal.SIGCHLD, child_ended),
                _spawning_deaf_to_sigint(started),
            ):
                results = super().launch(function, *args, trainer=trainer, **kwargs)
        except BaseException as error:
            if not self.procs:
                # Stopped while it started them (a signal here, or one that ended a process as it started, for which
                # this one waited for good to write it the process object: it holds the pipe's other end too). Those
                # started wait in the rendezvous for the others, deaf to signals, and the exit joins them: kill them
                # (nothing is written before all have started), and reap the one being started, which no
                # multiprocessing object holds.
                for pid in processes():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                for child in multiprocessing.active_children():
                    child.join()
                for pid in started:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
            if isinstance(error, _EndedAsItStarted) and (received or error.stop_signal):
                raise (stops[0] if stops else stopping.Stopped(error.stop_signal)) from None
            if isinstance(error, _EndedAsItStarted):  # as torch's own join says it
                error = ProcessExitedException(str(error), error.index, error.pid, error.exit_code, error.signal_name)
            if not isinstance(error, ProcessExitedException):
                raise
            if received:  # killed by the signal passed on, starting up before any handler of ours
                # The stop's own line: one made now said "a second time" (pass_on has changed the line since).
                raise stops[0] from None
            if error.signal_name is None:  # its own traceback said why
                raise error from None
            # SIGKILL from outside (the system, short of memory): torch's traceback said no more than this
            print(f"mnist-rnn: error: {error}; the run cannot go on without it", file=sys.stderr)
            raise SystemExit(1) from None
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
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked as it started, until this handler
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


class _StopObserver(_ChildProcessObserver):
    """Lightning's observer of the processes ``ddp`` launches (it kills them all, the command's own process too, when
    one ends with a non-zero status), but for one that a stop signal ended before the processes met in torch's
    rendezvous (as it imported torch, or as it waited there): the command's process, waiting there for it, was
    killed (exit 137, Lightning's "zombies" line). It ends as stopped by the signal instead, with the line unless
    that process said it; nothing has been written yet."""

    def __init__(self, launcher: StoppableScriptLauncher) -> None:
        super().__init__(main_pid=os.getpid(), child_processes=launcher.procs)
        self._launcher = launcher

    def _run(self) -> bool:
        codes = [proc.poll() for proc in self._child_processes]
        signum = next(filter(None, map(stopping.stop_signal_of, codes)), None)
        if signum is None or self._launcher.met:
            return super()._run()
        for proc in self._child_processes:
            if proc.returncode is None:
                proc.kill()
        # The line where it ended by the system's action, without a word (the rendezvous's handler); said once, with
        # the command's own handler there (a Ctrl+C reaches both).
        stopping.end_at_once(signum, say=-signum in codes)


class StoppableScriptLauncher(_SubprocessScriptLauncher):
    """``ddp``'s launcher (Lightning's), with :class:`_StopObserver` for Lightning's observer of the processes it
    starts. ``met`` is set once the processes have met (the CLI's rendezvous, ``_stop_the_rendezvous_at_once``)."""

    met = False

    def launch(self, function: Callable, *args: Any, trainer: pl.Trainer | None = None, **kwargs: Any) -> Any:
        """Lightning's ``launch``, but for the observer."""
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            _StopObserver(self).start()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


def stop_spawned_processes_cleanly(strategy: Strategy) -> None:
    """Give ``strategy`` (``ddp_spawn``'s, or ``ddp_fork``'s) :class:`StoppableSpawnLauncher`, and ``ddp``'s
    :class:`StoppableScriptLauncher`; nothing for others."""
    launcher = strategy.launcher
    if type(launcher) is _MultiProcessingLauncher:
        strategy._launcher = StoppableSpawnLauncher(strategy, start_method=launcher._start_method)
    elif type(launcher) is _SubprocessScriptLauncher:
        environment, processes, nodes = launcher.cluster_environment, launcher.num_processes, launcher.num_nodes
        strategy._launcher = StoppableScriptLauncher(environment, processes, nodes)
