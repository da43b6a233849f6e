"""The network alone, as a plain ``torch.nn.Module``: raw images -> sequence -> recurrent layers -> logits.

No Lightning here, so that export, serving and the reading view can use a trained network without the
training machinery around it: ``RNNClassifier.load_from_checkpoint(path).network.eval()``. Scaling,
standardisation and the image-to-sequence step are part of the network, so it classifies raw images
(uint8 0-255 or float 0-1) whatever its sequence mode.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch import Tensor, nn

Cell = Literal["lstm", "gru", "rnn"]
Sequence = Literal["rows", "pixels", "permuted"]
CELLS: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
SEQUENCES = ("rows", "pixels", "permuted")
# How far float pixels may stray outside [0, 1] and still be taken (clipped) as pixels: a bicubic or
# antialiased resize overshoots at sharp edges (up to about 0.08 on a 0/1 drawing), where a standardised
# image reaches -0.42 and 0-255 pixels go far above 1.
RESAMPLING_OVERSHOOT = 0.1


def _shape_hint(images: Tensor, size: int) -> str:
    """How to make ``images`` of another shape what the network reads, where that is plain."""
    shape = tuple(images.shape)
    if images.dim() == 2:
        return ": one image is images[None, None]"
    if images.dim() == 3:
        return ": add the channel dimension, images.unsqueeze(1)"
    colour = ": the network reads one grey channel; prepare colour pictures with mnist_rnn.preparation.prepare"
    if images.dim() == 4 and shape[1] in (3, 4) and shape[2:] == (size, size):
        return colour
    if images.dim() == 4 and shape[1:] == (size, size, 1):
        return ": channels last; images.permute(0, 3, 1, 2) puts the channel first"
    if images.dim() == 4 and shape[3] in (3, 4) and shape[1:3] == (size, size):
        return colour
    if images.dim() == 4 and shape[1] == 1:
        return f": prepare pictures of other sizes with mnist_rnn.preparation.prepare, which makes them {size}x{size}"
    return ""


def _checked_range(images: Tensor) -> Tensor:
    """Float ``images`` whose pixels are in [0, 1] (a resize's small overshoot clipped), else a ValueError that
    says what they look like instead."""
    low, high = (value.item() for value in torch.aminmax(images))
    if math.isnan(low) or math.isnan(high):
        raise ValueError("float images hold NaN pixels: the network would answer nonsense for them")
    if low < -RESAMPLING_OVERSHOOT or high > 1 + RESAMPLING_OVERSHOOT:
        fix = (
            "they look standardised (torchvision's Normalize): pass the [0, 1] pixels, the network "
            "standardises them itself"
            if low < -RESAMPLING_OVERSHOOT
            else "divide 0-255 pixels by 255, or pass them as uint8"
        )
        raise ValueError(f"float images must hold pixels in [0, 1], got values from {low:.6g} to {high:.6g}: {fix}")
    if low < 0 or high > 1:  # a resize's overshoot, as a conversion to 8-bit pixels would clip it
        return images.clamp(0, 1)
    return images


# The same check run by Python under torch.compile (a graph break): its .item() cannot be compiled.
_checked_range_eagerly = torch.compiler.disable(_checked_range)


class RNNNetwork(nn.Module):
    """A recurrent classifier of square one-channel images, read as a sequence.

    The arguments are those of :class:`mnist_rnn.model.RNNClassifier` that describe the network (see there).
    Its state dict holds ``rnn.*``, ``head.*``, ``temperature`` and, in ``permuted`` mode, ``permutation``.

    ``temperature`` divides the logits before the softmax wherever probabilities are given (``predict``,
    ``serve``, the exported models): 1.0 until :mod:`mnist_rnn.calibration` fits it on the validation split
    (temperature scaling, Guo et al. 2017). The logits themselves, and so every class, are left as they are.

    Attributes:
        steps: Time steps per image: ``image_size`` for rows, ``image_size**2`` for pixels and permuted.
        image_size: Height (= width) of the images.
        bidirectional: Whether the sequence is read both ways (then there are no per-step logits).
    """

    def __init__(
        self,
        cell: Cell = "lstm",
        hidden_size: int = 128,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.1,
        forget_bias: float | None = None,
        chrono_init: bool = False,
        orthogonal_init: bool = False,
        sequence: Sequence = "rows",
        permutation_seed: int = 0,
        num_classes: int = 10,
        image_size: int = 28,
        mean: float = 0.1307,
        std: float = 0.3081,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if sequence not in SEQUENCES:
            raise ValueError(f"sequence must be one of {', '.join(SEQUENCES)}, got {sequence!r}")
        self.sequence = sequence
        self.image_size = image_size
        self.bidirectional = bidirectional
        self.mean, self.std, self.normalize = mean, std, normalize
        self.steps, step_size = image_size, image_size  # rows
        if sequence != "rows":
            self.steps, step_size = image_size * image_size, 1
        if sequence == "permuted":
            generator = torch.Generator().manual_seed(permutation_seed)
            self.register_buffer("permutation", torch.randperm(self.steps, generator=generator))
        self.step_size = step_size
        # The recurrent layers first, then the head: the order in which they draw their initial weights from
        # the global random generator, so a seeded run starts from the same weights as earlier versions.
        self.rnn = CELLS[cell](
            input_size=step_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        if orthogonal_init:
            set_orthogonal_recurrent_weights(self.rnn)
        if forget_bias is not None:
            set_forget_bias(self.rnn, forget_bias)
        if chrono_init:
            set_chrono_biases(self.rnn, self.steps)
        self.num_directions = 2 if bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * self.num_directions, num_classes)
        # A buffer, not a parameter: saved in the checkpoint and exported, but never trained by the optimiser.
        self.register_buffer("temperature", torch.tensor(1.0))

    def _apply(self, fn, recurse=True):  # nn.Module's own signature
        """Move and cast as nn.Module does, but keep ``temperature`` in float32: under bf16-true (or 16-true)
        Lightning turns the whole network to half precision, and the one scalar, rounded to bfloat16's 8 bits
        (0.615 became 0.617), shifted every probability and was saved so in the checkpoint, for no speed."""
        temperature = self.temperature
        super()._apply(fn, recurse)
        if temperature.dtype == torch.float32 and self.temperature.dtype != torch.float32:
            self.temperature = temperature.to(self.temperature.device)
        return self

    def forward(self, images: Tensor) -> Tensor:
        """Logits (B, num_classes) of raw images (B, 1, H, W): uint8 0-255 or float 0-1."""
        return self.classify(self.to_sequence(self.scale(self._checked(images))))

    def probabilities(self, images: Tensor) -> Tensor:
        """Calibrated class probabilities (B, num_classes): ``softmax(logits / temperature)``, in float32
        whatever the weights' or autocast's precision (in bfloat16, 99.8% came out as 0.9961 = 1 - 2**-8).

        Always of the network in eval mode (then put back as it was): a model fitted from Python is left in
        training mode, where its dropout made each call's probabilities differ and the images went unchecked.
        """
        if self.training:
            self.eval()
            try:
                return self.probabilities(images)
            finally:
                self.train()
        return (self(images).float() / self.temperature.float()).softmax(dim=-1)

    def _checked(self, images: Tensor) -> Tensor:
        """``images`` as they came, once they are known to be what the network reads: a wrong shape or float
        pixels of 0-255 (a tensor made from a PIL image) would give confident nonsense, not an error.

        The shape and the type in training too (a model fitted from Python is left in training mode, where
        int64 pixels and a missing channel were read without a word); the range only out of training (its step
        must not wait for the GPU) and only of float images (our own pipelines pass uint8), and never while
        torch.export or torch.jit traces the network. Under torch.compile it runs eagerly, outside the compiled
        graph: skipped there, a compiled network read float 0-255 pixels at 25% accuracy without a word.
        """
        size = self.image_size
        if not isinstance(images, Tensor):  # a numpy array: "'numpy.ndarray' object has no attribute 'dim'"
            fix = ": torch.from_numpy(array) makes one" if type(images).__name__ == "ndarray" else ""
            raise TypeError(f"expected a tensor of images (batch, 1, {size}, {size}), got {type(images).__name__}{fix}")
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, size, size):
            hint = _shape_hint(images, size)
            raise ValueError(f"expected images of shape (batch, 1, {size}, {size}), got {tuple(images.shape)}{hint}")
        if not images.is_floating_point() and images.dtype != torch.uint8:
            # int64 0-255 pixels (torch.from_numpy of an int array) would be read as 0-1 floats: nonsense
            raise ValueError(
                f"expected uint8 (pixels 0-255) or float (pixels 0-1) images, got {images.dtype}: pass 0-255 "
                "pixels as images.to(torch.uint8)"
            )
        # The range only out of training: its min and max would make each training step wait for the GPU.
        if self.training or not images.is_floating_point() or not images.numel() or torch.jit.is_tracing():
            return images
        if not torch.compiler.is_compiling():
            return _checked_range(images)
        if not torch.compiler.is_exporting():  # torch.compile, not torch.export (which must keep the graph whole)
            return _checked_range_eagerly(images)
        return images

    @staticmethod
    def scale(images: Tensor) -> Tensor:
        """Pixels as float in [0, 1]: uint8 images are divided by 255, float ones are taken as they are."""
        if images.dtype == torch.uint8:
            return images.float().div_(255)
        return images.float()

    def to_sequence(self, pixels: Tensor) -> Tensor:
        """Read [0, 1] images (B, 1, H, W) as sequences (B, steps, features), standardised if ``normalize``.

        Training augments the images between :meth:`scale` and this step.
        """
        # shape[0], not len(): len() returns a plain int, which would fix the batch size in torch.export. The
        # other size spelled out, not -1: with a batch of 0 images, -1 could be any size and reshape refused it.
        flat = pixels.reshape(pixels.shape[0], self.steps * self.step_size)
        if self.normalize:
            flat = (flat - self.mean) / self.std
        if self.sequence == "permuted":
            flat = flat[:, self.permutation]
        # The weights' dtype: float32 except under --trainer.precision 16-true or bf16-true, where Lightning
        # turns the whole network to half precision but not the uint8 batches, which scale() made float32.
        weights = self.head.weight.dtype
        if flat.dtype != weights:
            flat = flat.to(weights)
        return flat.view(pixels.shape[0], self.steps, self.step_size)

    def classify(self, sequences: Tensor) -> Tensor:
        """Logits from the final hidden state of the last layer (both directions when bidirectional).

        For a one-way network this is the output of the last time step, as in the lab.
        """
        return self._final_logits(self.rnn(sequences)[1])

    def step_logits(self, images: Tensor) -> Tensor:
        """Logits after every time step (B, steps, num_classes): the head on the top layer's output at each step.

        One-way networks only: a bidirectional network has read the whole image at every step. ``[:, -1]``
        equals :meth:`forward` in eval mode.
        """
        self._check_one_way()
        outputs, _ = self.rnn(self.to_sequence(self.scale(self._checked(images))))
        return self.head(self.dropout(outputs))

    def row_logits(self, images: Tensor) -> Tensor:
        """Logits after each row has been read (B, image_size, num_classes).

        For rows these are :meth:`step_logits`; for pixels the steps that end each row (every
        ``image_size``-th); for permuted, the steps after each ``1/image_size`` of the sequence.
        """
        return self.logits_and_row_logits(images)[1]

    def logits_and_row_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`forward` and :meth:`row_logits` from one pass of the recurrent layers.

        The logits are computed exactly as :meth:`forward` computes them (from the final state), so a test
        that uses them scores the same as one that calls the network.
        """
        self._check_one_way()
        outputs, state = self.rnn(self.to_sequence(self.scale(self._checked(images))))
        row_ends = outputs[:, row_end_steps(self.steps, self.image_size)]  # (B, image_size, hidden)
        return self._final_logits(state), self.head(self.dropout(row_ends))

    def _final_logits(self, state: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """The head on the last layer's final hidden state (both directions), as :meth:`classify` gives."""
        final = state[0] if isinstance(state, tuple) else state  # LSTMs return (h_n, c_n)
        last_layer = final[-self.num_directions :]  # (directions, B, hidden)
        return self.head(self.dropout(last_layer.transpose(0, 1).reshape(final.shape[1], self.head.in_features)))

    def _check_one_way(self) -> None:
        if self.bidirectional:
            raise ValueError(
                "per-step logits need a one-way network: a bidirectional one has read the whole image at every step"
            )


# The network's settings and their defaults, defined once (in the signature above): RNNClassifier takes the
# same settings as flat hyperparameters, with these defaults, and hands them on.
NETWORK_DEFAULTS: dict[str, Any] = {
    name: parameter.default for name, parameter in inspect.signature(RNNNetwork).parameters.items()
}


def row_end_steps(steps: int, image_size: int) -> slice:
    """The time steps that end each image row: every step for rows; for a pixel sequence (784 steps) steps
    27, 55, ..., 783; for permuted, the step after each ``1/image_size`` of the sequence. The one definition
    of "after each row", for :meth:`RNNNetwork.row_logits` and for per-step outputs of exported models."""
    stride = steps // image_size
    return slice(stride - 1, None, stride)


def set_forget_bias(lstm: nn.LSTM, value: float) -> None:
    """Set every bias of ``lstm`` to 0, except its forget gates' input biases, to ``value``."""
    hidden = lstm.hidden_size
    with torch.no_grad():
        for bias in _zeroed_biases(lstm):
            bias[hidden : 2 * hidden] = value  # PyTorch's gate order: input, forget, cell, output


def set_chrono_biases(lstm: nn.LSTM, steps: int) -> None:
    """Chrono initialisation (Tallec & Ollivier, 2018, "Can recurrent neural networks warp time?").

    Forget-gate biases ``log(u)`` with ``u ~ U(1, steps - 1)`` and input-gate biases ``-log(u)``, every other
    bias 0: each unit starts out keeping its cell for about ``u`` steps, so the layer covers time scales up to
    the sequence's length (784 pixels), where a forget bias of 1 forgets within a few steps. Drawn from the
    global random generator, like the other initial weights, so a seeded run is repeatable.
    """
    hidden = lstm.hidden_size
    with torch.no_grad():
        for bias in _zeroed_biases(lstm):
            timescales = torch.empty(hidden).uniform_(1, max(steps - 1, 2))
            bias[hidden : 2 * hidden] = timescales.log()  # forget gate
            bias[:hidden] = -timescales.log()  # input gate


def _zeroed_biases(lstm: nn.LSTM) -> Iterator[Tensor]:
    """Zero every bias of ``lstm`` and yield its input-side ones (``bias_ih_*``, one per layer and direction)
    for the caller to set: the gates add the two bias vectors, so one carries the values and the other stays
    0. In parameter order, so values drawn at random come out the same for a seed."""
    for name, bias in lstm.named_parameters():
        if name.startswith("bias_"):
            bias.zero_()
            if name.startswith("bias_ih"):
                yield bias


def set_orthogonal_recurrent_weights(rnn: nn.RNNBase) -> None:
    """Each gate's hidden-to-hidden matrix (``weight_hh_*``, gates stacked along the rows) an orthogonal one."""
    hidden = rnn.hidden_size
    with torch.no_grad():
        for name, weight in rnn.named_parameters():
            if name.startswith("weight_hh"):
                for gate in weight.split(hidden):
                    nn.init.orthogonal_(gate)
