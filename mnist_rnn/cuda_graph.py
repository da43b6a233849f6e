"""The network's training forward and backward as one CUDA graph each, for the fixed training batch shape.

A 2x128 LSTM step on a GPU is launch-bound: a few hundred small kernels, each costing more to launch from
Python than to run. A CUDA graph replays all of a step's kernels with one launch
(``torch.cuda.make_graphed_callables``; the known cure for launch-bound small recurrent models, which
Lightning itself leaves to the user: Lightning issue #10174). Only the network is graphed: the loss, the
optimiser, gradient clipping and the lr schedule stay Lightning's, eager, so checkpoints, resume, the NaN
stop and DDP's gradient all-reduce work as without a graph.

A graph replays fixed shapes on fixed memory: batches of another shape (the last, smaller batch of an
epoch), validation, test and prediction (no gradient, or eval mode) run the network eagerly.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Literal

import torch
from torch import Tensor, nn

CudaGraphSetting = Literal["auto"] | bool


def wanted(setting: CudaGraphSetting, device: torch.device) -> bool:
    """Whether to graph on ``device``: ``auto`` means on a CUDA GPU only; ``true`` on a CPU is refused earlier."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


class GraphedNetwork:
    """The network's forward (and, through autograd, its backward) captured for one input shape and dtype.

    Args:
        network: The module to graph (its parameters stay where they are; the optimiser updates them in place).
        sample: A batch of the shape, dtype and device of the training batches that will use the graph.
        autocast_dtype: The mixed-precision dtype the Trainer runs the step in (``None``: full precision).
            The capture runs under the same autocast, without autocast's weight cache (which a graph would
            freeze: the weights change every step).
    """

    def __init__(self, network: nn.Module, sample: Tensor, autocast_dtype: torch.dtype | None = None) -> None:
        self.shape, self.dtype, self.device = sample.shape, sample.dtype, sample.device
        precision: Any = nullcontext()
        if autocast_dtype is not None:
            precision = torch.autocast(sample.device.type, dtype=autocast_dtype, cache_enabled=False)
        with precision:
            # make_graphed_callables runs a few warm-up passes on a side stream, then captures; it replaces
            # the module's forward with the graphed one. Take that and give the module its own forward back,
            # so evaluation, odd-sized batches and export keep calling the plain network.
            torch.cuda.make_graphed_callables(network, (sample.detach().clone(),))
        self.graphed = network.forward
        del network.forward

    def fits(self, images: Tensor) -> bool:
        """Whether ``images`` can replay the graph: the captured shape, dtype and device, with gradients on."""
        return (
            torch.is_grad_enabled()
            and images.shape == self.shape
            and images.dtype == self.dtype
            and images.device == self.device
        )

    def __call__(self, images: Tensor) -> Tensor:
        # The graph's output is its own static tensor, overwritten by the next replay: the caller uses it
        # within the step (loss, accuracy update), as a training step does.
        return self.graphed(images)
