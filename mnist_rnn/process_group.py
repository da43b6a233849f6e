"""How the processes of a command end: those of a multi-process run on the CPU (``ddp``, ``ddp_spawn`` with gloo),
and those a command starts, which end with it (:func:`sigterm_when_parent_ends`).

A process that ends without destroying its torch.distributed process group leaves gloo's worker threads to the
interpreter's finalisation, and now and then one of them is still joinable there: the process aborts with
"terminate called without an active exception" (SIGABRT) after its work is done (pytorch issue #190489). Under
``ddp_spawn`` that failed a whole ``validate`` whose metrics were already printed. Lightning destroys the group
at exit for NCCL only (``lightning.fabric.utilities.distributed._init_dist_connection``); this does it for every
backend, while the interpreter is still whole.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import signal
import sys

import torch

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
