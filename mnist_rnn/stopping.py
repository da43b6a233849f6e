"""Ctrl+C (SIGINT) and SIGTERM end the command with exit status 130 or 143 and one line, in every phase.

While a Trainer runs a stage, Lightning's SIGTERM handler and :class:`~mnist_rnn.checkpoint.SafeModelCheckpoint`'s
SIGINT handler are in place: they let the batch finish, save ``last.ckpt`` and say so. Before and after
(parsing, preparing the data, restoring a checkpoint, between ``fit`` and its test) the handler here raises
:class:`Stopped`, which ``main`` turns into the line and the exit status; in a DDP process other than the first, it
notes the stop, for the processes to take together (:func:`together`). Python's own default would end
SIGINT in a traceback and exit 1, and SIGTERM in a silent death.

It is installed first thing (``mnist_rnn/__main__.py``, before torch is imported) and imports nothing
heavy for that reason. While the command line itself is imported, :func:`exit_at_once` is the handler
instead: nothing has been done yet, and an exception raised in the middle of torch's import can abort.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

from mnist_rnn.errors import shown_text

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# What the command is doing, for the line a stop prints; the CLI updates it as it goes.
_doing = "before any work started; nothing was written"
# What the command is doing once its work is done (the CLI's command has returned).
DONE = "as it ended, after its work was done"
# The line's end for a second stop, which ends the command at once, after the first one's save.
SECOND_STOP = "a second time: stopped at once; the checkpoints written before are kept"
# In a process of a multi-process run other than the first (see :func:`together`): the stop signals noted outside
# a Trainer's stage, not raised. None: raised, as in a run of one process.
_noted: list[int] | None = None


class Stopped(BaseException):
    """A stop signal outside a Trainer's stage. A ``BaseException``, like ``KeyboardInterrupt``, so that no
    ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        # a path in the line (calibrate's checkpoint, export's file) as the other messages show it: a byte that is
        # not UTF-8 as \xe9, not as \udce9, a name no file has
        super().__init__(shown_text(f"stopped by {signal.Signals(signum).name} {_doing}"))

    @property
    def exit_status(self) -> int:
        """128 + the signal's number: the shell's convention for "ended by this signal"."""
        return 128 + self.signum

    def say(self) -> None:
        """Print the one line on stderr."""
        print(f"mnist-rnn: {self}", file=sys.stderr, flush=True)

    def end(self) -> NoReturn:
        """Print the one line on stderr and exit with :attr:`exit_status`."""
        self.say()
        sys.exit(self.exit_status)


def doing(what: str) -> None:
    """Set the end of the line a stop prints from now on: where the command was and what that leaves,
    e.g. ``"while preparing the data, before training; no checkpoint written"``."""
    global _doing
    _doing = what


def now_doing() -> str:
    """What the line a stop prints says the command is doing (what :func:`doing` set last)."""
    return _doing


def raise_stopped(signum: int, frame: FrameType | None) -> None:
    """The handler: raise :class:`Stopped`, unless a Trainer's own handler is the one in place.

    Lightning's SIGTERM handler calls the handler it replaced too (this one): the Trainer then handles
    the stop itself, after the batch, so this one must not raise in the middle of it.
    """
    if signal.getsignal(signum) is raise_stopped:
        if _noted is not None:
            _noted.append(signum)
            return
        raise Stopped(signum)


def together() -> None:
    """From now on, in this process, :func:`raise_stopped` notes a stop instead of raising it: the process is one of
    a multi-process run's (DDP) other than the first, and outside a Trainer's stage it stops only with the others,
    where all of them agree on it (at the stage's start, :class:`~mnist_rnn.checkpoint.SafeModelCheckpoint`; between
    fit and its test, the CLI's ``after_fit``). Stopped alone, it left the others waiting for it in a collective:
    gloo's "Connection closed by peer" traceback, Lightning's SIGKILL of the command (exit 137), or, under
    ``ddp_spawn``, a wait for good. The first process stops at once, as a run of one does: the others read its
    departure as the stop (:func:`noted_stop`)."""
    global _noted
    if _noted is None:
        _noted = []


def noted_stop() -> int | None:
    """The first stop signal noted since :func:`together` (or since the last call), or None; forgotten here."""
    if not _noted:
        return None
    signum = _noted[0]
    _noted.clear()
    return signum


def exit_at_once(signum: int, frame: FrameType | None) -> None:
    """The handler while the command line is imported: print the line and end the process here. An exception
    raised from a handler can surface inside a C++ extension's call back into Python (importing torch runs
    Python code from C++), where pybind11 turns it into an abort (SIGABRT) instead of passing it on; and
    nothing has been written yet, so there is nothing to finish first."""
    end_at_once(signum)


_ending = threading.Lock()  # taken by the first thread that ends the process at once: its line is the one


def end_at_once(signum: int, say: bool = True) -> NoReturn:
    """End the process now with 128 + ``signum``, after the line (unless ``say`` is False, or another thread is
    ending it meanwhile: a Ctrl+C reaches a DDP run's first process and its observer of the others at once)."""
    if _ending.acquire(blocking=False) and say:
        sys.stderr.write(f"mnist-rnn: {Stopped(signum)}\n")
    _exit_now(128 + signum)


def _exit_now(status: int) -> NoReturn:
    """``os._exit(status)``, after what was printed (os._exit flushes nothing)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


_exit_status: int | None = None  # the command's exit status, once its work is done (see at_the_exit)


def end_after_the_exit_hooks() -> None:
    """Have the process end right after the last ``atexit`` hook, with the status :func:`at_the_exit` was given
    (and no later than that hook): call it first thing, before any module registers a hook of its own (the hooks
    run last registered first, so this one runs after all of them).

    After the hooks, Python's finalization puts the default handlers of SIGINT and SIGTERM back and then tears
    down the modules (torch's among them), which takes a noticeable moment: a Ctrl+C in it killed the process,
    which the shell reports as 130, without the line. Ended here instead, the process has nothing left to do
    (the hooks have flushed the loggers and ended the helper processes; the files of the command's work are
    closed by the code that wrote them); a stop before it is said as any other."""
    import atexit

    atexit.register(_end_now)


def _end_now() -> None:
    if _exit_status is not None:
        _exit_now(_exit_status)


def exit_status(code: object) -> int:
    """The exit status a ``SystemExit`` of ``code`` gives: None: 0; a number: itself; anything else (a message,
    which Python prints): 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def at_the_exit(status: int | None = None) -> None:
    """For the interpreter's exit, after the command's work: a stop ends the process at once. Left to Python's
    defaults, Ctrl+C raised ``KeyboardInterrupt`` in an exit hook (torch's, the process group's destroy), which
    Python prints as "Exception ignored" with its traceback, and the command ended with status 0: a script's next
    command ran although the user had stopped it. The command's process now ends with its line and 130 (or 143,
    as a SIGTERM there gave); a process that ``ddp``'s launcher started ends with 0, without a word, its work done:
    the first process has the signal too (Ctrl+C), or ends on its own, and a non-zero status has Lightning's
    observer kill it (exit 137).

    It also freezes the garbage collector's objects (:func:`gc.freeze`): at exit Python collects every
    generation, which walks the hundreds of thousands of objects torch, ``torch._dynamo`` and Lightning made at
    import to find the few cycles among them, and every command paid for that before the prompt came back
    (docs/results.md, "The command's exit"). Objects made later are collected as before; the atexit hooks still
    run, files are closed by the code that wrote them, and the frozen objects go with the process.

    ``status``: the process's exit status, with which it ends after the ``atexit`` hooks, where
    :func:`end_after_the_exit_hooks` was called; None: Python's own end (an error's traceback, status 1)."""
    global _exit_status
    _exit_status = status
    launched = os.environ.get("LOCAL_RANK", "0") != "0"
    handler = _exit_with_zero if launched else exit_at_once
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    gc.freeze()


def _exit_with_zero(signum: int, frame: FrameType | None) -> None:
    _exit_now(0)


@contextmanager
def stop_handlers(handler: Callable[[int, FrameType | None], None] = raise_stopped) -> Iterator[None]:
    """Install ``handler`` (:func:`raise_stopped` unless told otherwise) for SIGINT and SIGTERM, and hand the
    previous handlers back at the end (so a test that runs ``main`` in-process leaves pytest's own Ctrl+C
    handling as it was)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous: dict[int, Any] = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def deferred_stops() -> Iterator[list[int]]:
    """Inside the block, SIGINT and SIGTERM are recorded in the list it gives, not handled: for code that must
    not be interrupted at an arbitrary point (a DataLoader's queues hold locks that an exception raised by a
    handler would leave held, and its iterator's clean-up then waits on them for ever). The block looks at the
    list where it can wind down. On leaving it, the first signal recorded is raised again, for the handler that
    was in place before, as if it came then."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield []
        return
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        signal.raise_signal(received[0])


def stop_signal_of(exit_code: int | None) -> int | None:
    """SIGINT or SIGTERM where a process's ``exit_code`` says one ended it: by the system's action (-signum) or
    with the status a stop gives (128 + signum); None for any other code, or a process still running."""
    for signum in STOP_SIGNALS:
        if exit_code in (-signum, 128 + signum):
            return signum
    return None


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


def end_with_the_first_process() -> None:
    """In a process that ``ddp``'s launcher started by running the command line again (``LOCAL_RANK`` set and not
    0): SIGTERM when the command's own process ends. Killed as it waited in torch's rendezvous (whose handlers are
    the system's), that process left this one waiting there for good. Called first thing, before torch's import."""
    if os.environ.get("LOCAL_RANK", "0") != "0":
        sigterm_when_parent_ends()
