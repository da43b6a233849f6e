"""The end of a process of a multi-process run on the CPU (``ddp``, ``ddp_spawn`` with gloo).

A process that ends without destroying its torch.distributed process group leaves gloo's worker threads to the
interpreter's finalisation, and now and then one of them is still joinable there: the process aborts with
"terminate called without an active exception" (SIGABRT) after its work is done (pytorch issue #190489). Under
``ddp_spawn`` that failed a whole ``validate`` whose metrics were already printed. Lightning destroys the group
at exit for NCCL only (``lightning.fabric.utilities.distributed._init_dist_connection``); this does it for every
backend, while the interpreter is still whole.
"""

from __future__ import annotations

import atexit

import torch

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
