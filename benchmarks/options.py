"""Command-line types the benchmarks share: paths checked and made absolute before anything runs.

The benchmarks run ``predict``, ``serve`` and other versions of the code in other folders (a temporary one,
the checkout), so a relative ``--ckpt-path`` must be made absolute first; and a folder given as another
version must hold one: with ``PYTHONPATH`` pointing at a folder without ``mnist_rnn/``, Python imports this
checkout (the editable install) instead, and the table compares this version with itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def existing_file(value: str) -> Path:
    """A file that exists, as an absolute path."""
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return path


def checkout(value: str) -> Path:
    """A checkout of this project (a folder holding ``mnist_rnn/__init__.py``), as an absolute path."""
    path = Path(value).expanduser().resolve()
    if not (path / "mnist_rnn" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(
            f"{value}: not a checkout of this project (no mnist_rnn/ in it; e.g. git worktree add ../base HEAD~1)"
        )
    return path
