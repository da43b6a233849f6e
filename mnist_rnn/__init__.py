"""Recurrent networks on MNIST-family images, as a PyTorch Lightning project."""

from mnist_rnn.data import MNISTDataModule
from mnist_rnn.model import RNNClassifier

__all__ = ["MNISTDataModule", "RNNClassifier"]
