"""Command-line types the benchmarks share: paths checked and made absolute before anything runs.

The benchmarks run ``predict``, ``serve`` and other versions of the code in other folders (a temporary one,
the checkout), so a relative ``--ckpt-path`` must be made absolute first; and a folder given as another
version must hold one: with ``PYTHONPATH`` pointing at a folder without ``mnist_rnn/``, Python imports this
checkout (the editable install) instead, and the table compares this version with itself. A ``--data-dir``
must hold the real data set.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
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


def data_folder(dataset: str) -> Callable[[str], str]:
    """The argparse type of ``--data-dir``: a folder holding the data set in torchvision's layout (``MNIST/raw/``
    and its four files, or their ``.gz``), as an absolute path (a string: it goes on to command lines). The
    benchmarks measure on the real set and never download it; without this check, a wrong folder ended in a
    traceback naming fit's ``--data.data_dir``."""
    from mnist_rnn.data import DATASETS

    info = DATASETS[dataset]

    def check(value: str) -> str:
        path = Path(value).expanduser().resolve()
        raw = path / info.folder / "raw"
        missing = [name for name in info.file_names if not ((raw / name).is_file() or (raw / f"{name}.gz").is_file())]
        if missing:
            raise argparse.ArgumentTypeError(
                f"{value}: no {info.folder}/raw/ with {', '.join(missing)} in it: pass the folder that holds "
                f"{info.folder}/raw/ (the benchmarks read the real set and never download it)"
            )
        return str(path)

    return check
