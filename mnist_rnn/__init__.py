"""Recurrent networks on MNIST-family images, as a PyTorch Lightning project.

``from mnist_rnn import RNNClassifier, MNISTDataModule`` works as usual, but Lightning is imported only when
one of them is first used: ``mnist_rnn.network`` (the plain network, for export and serving) needs torch only.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.model import RNNClassifier

__all__ = ["MNISTDataModule", "RNNClassifier"]

_HOMES = {"MNISTDataModule": "mnist_rnn.data", "RNNClassifier": "mnist_rnn.model"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
