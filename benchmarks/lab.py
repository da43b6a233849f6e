"""The lab's set-up, as the lab wrote it in plain PyTorch: the reference that the benchmarks compare against.

torchvision MNIST with ``ToTensor`` (pixels in [0, 1]), a shuffled DataLoader at batch 50, a 2x128 LSTM with
zero initial states and a Linear on the last step, cross-entropy, Adam at a fixed lr 0.01. Nothing here comes
from this project, so that the comparison measures the project, not a copy of it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

BATCH = 50
LR = 0.01


class LabRNN(nn.Module):
    """The lab's model, as written in the report (zero initial states made on the input's device)."""

    def __init__(self, input_size: int = 28, hidden_size: int = 128, num_layers: int = 2, num_classes: int = 10):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size, device=x.device)
        c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size, device=x.device)
        out, _ = self.lstm(x, (h0, c0))
        return self.fc(out[:, -1, :])


def lab_setup(
    data_dir: str, device: torch.device, batch_size: int = BATCH
) -> tuple[DataLoader, LabRNN, nn.CrossEntropyLoss, torch.optim.Adam]:
    """The lab's training set-up: torchvision MNIST with ToTensor, a shuffled DataLoader, its model, Adam
    (the lab's batch was 50; the benchmarks also run it at other sizes)."""
    train_set = datasets.MNIST(data_dir, train=True, transform=transforms.ToTensor(), download=False)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    model = LabRNN().to(device)
    return loader, model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=LR)


def lab_step(
    model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """One step of the lab's loop: each (1, 28, 28) image read as 28 rows of 28 pixels; returns the loss."""
    loss = criterion(model(images.reshape(-1, 28, 28)), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def lab_test_set(data_dir: str) -> datasets.MNIST:
    """The lab's test set: torchvision's MNIST test images with ToTensor."""
    return datasets.MNIST(data_dir, train=False, transform=transforms.ToTensor(), download=False)


def lab_test_accuracy(model: nn.Module, test_set: datasets.MNIST) -> float:
    """The lab's test: accuracy on ``test_set``, in batches of 1,000."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in DataLoader(test_set, batch_size=1000):
            correct += (model(images.reshape(-1, 28, 28)).argmax(dim=1) == labels).sum().item()
    model.train()
    return correct / len(test_set)
