"""A checkpoint as a ready network, outside training: what ``export`` and ``serve`` both use.

- :func:`checkpoint_hparams` and :func:`load_network` read a checkpoint (refusing, in one line, a Lightning
  checkpoint of another model);
- :class:`ProbabilityModel` is the computation that is exported and served: uint8 images -> probabilities
  (and the probabilities after every time step);
- :class:`Parity` and :func:`compare` tell whether another runtime (onnxruntime, a ``.pt2`` program) gives the
  PyTorch network's answers, on images from :func:`generated_images` when no test set is at hand.

Neither ``export`` nor ``serve`` imports the other; both import this module.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mnist_rnn.errors import UserError, first_line, pasted, shown_name, tell
from mnist_rnn.network import NETWORK_DEFAULTS, RNNNetwork
from mnist_rnn.tools import program_name

TOLERANCE = 1e-4  # the largest difference of a probability that still counts as the same answer


def checkpoint_hparams(ckpt_path: str | Path) -> dict[str, Any]:
    """The model's hyperparameters saved in a checkpoint, over the network's defaults (for older checkpoints
    that lack a setting), read without building the model."""
    from mnist_rnn.checkpoint import load_keys

    return {**NETWORK_DEFAULTS, **(load_keys(ckpt_path).get("hyper_parameters") or {})}


def class_names_of(hparams: dict[str, Any]) -> list[str]:
    """The class names a checkpoint answers with: its own; for a checkpoint trained without the CLI (which
    links them from the data), its data set's; else the class numbers. export and serve both name them so."""
    from mnist_rnn.data import DATASETS

    classes, names = hparams["num_classes"], hparams.get("class_names")
    if names and len(names) == classes:
        return list(names)
    dataset = hparams.get("dataset") or "mnist"  # checkpoints from before Fashion-MNIST and KMNIST
    known = DATASETS[dataset].class_names if dataset in DATASETS else []
    return list(known) if len(known) == classes else [str(k) for k in range(classes)]


def load_network(ckpt_path: str | Path) -> RNNNetwork:
    """The plain network of a checkpoint, in eval mode, on the CPU.

    Raises:
        UserError: the file is a Lightning checkpoint, but of another model (other hyperparameters or weights).
    """
    from mnist_rnn.checkpoint import NOT_OURS, holds_network_weights, load_keys, state_dict_problem
    from mnist_rnn.model import RNNClassifier

    # Checked first, so that no note about this model's checkpoints (e.g. a missing temperature) comes before
    # the refusal of another model's.
    if not holds_network_weights(load_keys(ckpt_path).get("state_dict")):
        raise UserError(NOT_OURS.format(path=shown_name(ckpt_path), why="no network weights"))
    try:
        return RNNClassifier.load_from_checkpoint(ckpt_path, map_location="cpu").network.eval()
    except (TypeError, KeyError, RuntimeError, ValueError) as error:
        # TypeError: hyperparameters this model does not take; RuntimeError: weights of other names or shapes.
        why = state_dict_problem(error) or first_line(error)
        raise UserError(NOT_OURS.format(path=shown_name(ckpt_path), why=why)) from error


def note_if_uncalibrated(ckpt_path: str | Path | None) -> None:
    """A line on stderr if ``calibrate`` (or ``fit``) never fitted the checkpoint's temperature (a run's
    ``last.ckpt``): predict, test, validate, serve and export give its raw probabilities. Said once their
    work succeeded, not above a one-line error."""
    from mnist_rnn.checkpoint import load_keys
    from mnist_rnn.model import NOT_CALIBRATED_NOTE, not_calibrated

    if ckpt_path is not None and not_calibrated(load_keys(ckpt_path)):
        tell(NOT_CALIBRATED_NOTE.format(program=program_name(), path=pasted(ckpt_path)))


class ProbabilityModel(nn.Module):
    """What is exported and served: uint8 images -> calibrated probabilities (``softmax(logits / temperature)``,
    see :mod:`mnist_rnn.calibration`), and per-step probabilities if one-way.

    For a one-way network both outputs come from one pass of the recurrent layers: the probabilities are
    those of the last step, which is what the network's ``forward`` classifies from.
    """

    def __init__(self, network: RNNNetwork) -> None:
        super().__init__()
        self.network = network.eval()
        self.per_step = not network.bidirectional

    def forward(self, images: Tensor) -> tuple[Tensor] | tuple[Tensor, Tensor]:
        # Always a tuple, as ONNX gives a list: a bidirectional model's bare tensor, unpacked as the one-way
        # model's pair (``probabilities, per_step = model(x)``), split a batch of 2 into its two rows.
        if not self.per_step:
            return (self.network.probabilities(images),)
        per_step = (self.network.step_logits(images) / self.network.temperature).softmax(dim=-1)
        return per_step[:, -1], per_step

    @property
    def output_names(self) -> list[str]:
        return ["probabilities", "per_step"] if self.per_step else ["probabilities"]


def onnx_bytes(model: ProbabilityModel, metadata: dict[str, str] | None = None, doc_string: str = "") -> bytes:
    """The model as an ONNX file's bytes, with a dynamic batch size; ``metadata`` becomes the model's
    ``metadata_props`` (onnxruntime: ``session.get_modelmeta().custom_metadata_map``), ``doc_string`` its
    ``doc_string``.

    The recurrent layers are exported as one operation (:class:`OneOperationLayers`), which becomes one ONNX
    ``LSTM``, ``GRU`` or ``RNN`` operator per layer (:func:`onnx_recurrent_layers`).
    """
    exported = copy.deepcopy(model)  # the caller's model keeps its own recurrent layers
    exported.network.rnn = OneOperationLayers(exported.network.rnn)
    example = torch.zeros(2, 1, model.network.image_size, model.network.image_size, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about its own internals
        program = torch.onnx.export(
            exported,
            (example,),
            dynamo=True,
            input_names=["images"],
            output_names=model.output_names,
            dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
            custom_translation_table={
                torch.ops.mnist_rnn.recurrent_layers.default: onnx_recurrent_layers,
                torch.ops.mnist_rnn.lstm_layers.default: onnx_lstm_layers,
            },
            verbose=False,
        )
    proto = program.model_proto
    _drop_onnx_stack_traces(proto)
    if doc_string:
        proto.doc_string = doc_string
    for key, value in (metadata or {}).items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


# ----- the recurrent layers as one operation, for the ONNX export -------------------------------------------
#
# torch's exporter works out the shape of every operation's output before it translates the graph, on
# placeholder tensors, up to three times over (export, its decompositions, ONNX's type promotion). PyTorch's
# ``aten::lstm``, ``aten::gru`` and ``aten::rnn_tanh`` have no shape function of their own: their shapes were
# worked out by running their decompositions, the operations of every cell at every time step, each with a
# symbolic batch size. For 784-step pixel models that was minutes, although the layers were translated into
# one ONNX operator each in the end. The operations below stand for whole layers with a shape function that
# answers at once; they exist only while an ONNX file is made, and the file holds ONNX's own operators.


def _layer_states(input: Tensor, params: list[Tensor], num_layers: int, bidirectional: bool) -> Tensor:
    """The zero initial state of the layers (layers * directions, batch, hidden), as the network starts from."""
    hidden = params[1].shape[1]  # weight_hh_l0: (gates * hidden, hidden)
    return input.new_zeros(num_layers * (2 if bidirectional else 1), input.shape[0], hidden)


def _output(input: Tensor, params: list[Tensor], bidirectional: bool) -> Tensor:
    """The top layer's outputs (batch, steps, directions * hidden), of a batch-first ``input``."""
    hidden = params[1].shape[1]
    return input.new_empty(input.shape[0], input.shape[1], (2 if bidirectional else 1) * hidden)


@torch.library.custom_op("mnist_rnn::recurrent_layers", mutates_args=())
def recurrent_layers(
    input: Tensor, params: list[Tensor], cell: str, num_layers: int, bidirectional: bool
) -> tuple[Tensor, Tensor]:
    """``nn.GRU`` (``cell`` "gru") or ``nn.RNN`` ("rnn") in eval mode from a zero state, batch first, with
    biases: (outputs, final states)."""
    run = torch.gru if cell == "gru" else torch.rnn_tanh
    hx = _layer_states(input, params, num_layers, bidirectional)
    outputs, final = run(input, hx, params, True, num_layers, 0.0, False, bidirectional, True)
    return outputs, final


@recurrent_layers.register_fake
def _(input: Tensor, params: list[Tensor], cell: str, num_layers: int, bidirectional: bool) -> tuple[Tensor, Tensor]:
    return _output(input, params, bidirectional), _layer_states(input, params, num_layers, bidirectional)


@torch.library.custom_op("mnist_rnn::lstm_layers", mutates_args=())
def lstm_layers(
    input: Tensor, params: list[Tensor], num_layers: int, bidirectional: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """``nn.LSTM`` in eval mode from a zero state, batch first, with biases: (outputs, final h, final c)."""
    zeros = _layer_states(input, params, num_layers, bidirectional)
    outputs, h, c = torch.lstm(input, (zeros, zeros), params, True, num_layers, 0.0, False, bidirectional, True)
    return outputs, h, c


@lstm_layers.register_fake
def _(input: Tensor, params: list[Tensor], num_layers: int, bidirectional: bool) -> tuple[Tensor, Tensor, Tensor]:
    states = _layer_states(input, params, num_layers, bidirectional)
    return _output(input, params, bidirectional), states, states.clone()


class OneOperationLayers(nn.Module):
    """The network's recurrent layers (``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``, batch first, with biases) as one
    operation of :func:`recurrent_layers` or :func:`lstm_layers`, for the ONNX export: the same answers, the
    same weights under the same names, the same outputs as the module (an LSTM's final state a pair)."""

    CELLS = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn"}  # by torch's name of the module's mode

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        if not (rnn.batch_first and rnn.bias and rnn.proj_size == 0 and rnn.mode in self.CELLS):
            raise ValueError("the recurrent layers must be an LSTM, a GRU or a tanh RNN, batch first, with biases")
        self.cell, self.num_layers, self.bidirectional = self.CELLS[rnn.mode], rnn.num_layers, rnn.bidirectional
        # weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse: torch's order of the layers' weights
        self.names = [name for name, _ in rnn.named_parameters()]
        for name, weight in rnn.named_parameters():
            self.register_parameter(name, weight)

    def forward(self, input: Tensor) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        params = [getattr(self, name) for name in self.names]
        if self.cell == "lstm":
            outputs, h, c = lstm_layers(input, params, self.num_layers, self.bidirectional)
            return outputs, (h, c)
        return recurrent_layers(input, params, self.cell, self.num_layers, self.bidirectional)


# ONNX's gate order, as the positions of PyTorch's gates in its weights: LSTM i, o, f, c of PyTorch's i, f, g, o;
# GRU z, r, h of PyTorch's r, z, n.
ONNX_GATES = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}


def onnx_recurrent_layers(
    input: Any, params: list[Any], cell: str, num_layers: int, bidirectional: bool
) -> tuple[Any, Any]:
    """:func:`recurrent_layers` as ONNX's ``GRU`` or ``RNN`` operator, one per layer, for ``torch.onnx.export``."""
    outputs, finals, _ = _onnx_layers(input, params, cell, num_layers, bidirectional)
    return outputs, finals


def onnx_lstm_layers(input: Any, params: list[Any], num_layers: int, bidirectional: bool) -> tuple[Any, Any, Any]:
    """:func:`lstm_layers` as ONNX's ``LSTM`` operator, one per layer, for ``torch.onnx.export``."""
    return _onnx_layers(input, params, "lstm", num_layers, bidirectional)


def _onnx_layers(
    input: Any, params: list[Any], cell: str, num_layers: int, bidirectional: bool
) -> tuple[Any, Any, Any]:
    """The layers as ONNX operators: (outputs, final h, final c (an LSTM's; else None)). Inference only: the
    dropout between layers, a training-time operation, is left out. The GRU is ONNX's with
    ``linear_before_reset=1``, PyTorch's formula (the reset gate applied after the hidden state's product)."""
    from onnxscript import opset18 as op

    directions = 2 if bidirectional else 1
    gates = ONNX_GATES[cell]
    hidden = params[1].shape[1]  # weight_hh_l0: (gates * hidden, hidden)

    def reordered(weight: Any) -> Any:  # PyTorch's gates in ONNX's order, along the first axis
        if len(gates) == 1:
            return weight
        pieces = [op.Slice(weight, [gate * hidden], [(gate + 1) * hidden], axes=[0]) for gate in gates]
        return op.Concat(*pieces, axis=0)

    input = op.Transpose(input, perm=[1, 0, 2])  # ONNX's layers read (steps, batch, features)
    finals_h, finals_c = [], []
    for layer in range(num_layers):
        first = layer * directions * 4
        own = [params[first + d * 4 : first + (d + 1) * 4] for d in range(directions)]  # w_ih, w_hh, b_ih, b_hh
        W = op.Concat(*[op.Unsqueeze(reordered(w[0]), [0]) for w in own], axis=0)  # (directions, gates*hidden, in)
        R = op.Concat(*[op.Unsqueeze(reordered(w[1]), [0]) for w in own], axis=0)  # (directions, gates*hidden, hidden)
        # ONNX's bias: the input's and the hidden state's side by side, (directions, 2 * gates * hidden)
        B = op.Concat(*[op.Unsqueeze(op.Concat(reordered(w[2]), reordered(w[3]), axis=0), [0]) for w in own], axis=0)
        common = {"direction": "bidirectional" if bidirectional else "forward", "hidden_size": hidden}
        if cell == "lstm":
            outputs, final_h, final_c = op.LSTM(input, W, R, B, **common)
            finals_c.append(final_c)
        elif cell == "gru":
            outputs, final_h = op.GRU(input, W, R, B, **common, linear_before_reset=1)
        else:
            outputs, final_h = op.RNN(input, W, R, B, **common)
        # (steps, directions, batch, hidden) -> (steps, batch, directions * hidden), as torch gives the next layer
        # (the size spelled out, not -1, which a batch of 0 images leaves undecided)
        input = op.Reshape(op.Transpose(outputs, perm=[0, 2, 1, 3]), [0, 0, directions * hidden])
        finals_h.append(final_h)
    input = op.Transpose(input, perm=[1, 0, 2])
    return input, op.Concat(*finals_h, axis=0), op.Concat(*finals_c, axis=0) if finals_c else None


# The exporters record, for each operation, the Python stack that made it: this machine's source paths
# (/home/<user>/..., the virtual environment's). A file that is handed on should not carry them; the
# operations keep their module names (``namespace``, ``nn_module_stack``).
ONNX_STACK_TRACE = "pkg.torch.onnx.stack_trace"


def _drop_onnx_stack_traces(proto: Any) -> None:
    """Remove the source stack of every node of an ONNX ``ModelProto``, its functions' and subgraphs' too."""
    graphs = [proto.graph, *proto.functions]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            kept = [prop for prop in node.metadata_props if prop.key != ONNX_STACK_TRACE]
            del node.metadata_props[:]
            node.metadata_props.extend(kept)
            for attribute in node.attribute:  # If's and Loop's bodies
                graphs.extend([attribute.g] if attribute.HasField("g") else attribute.graphs)


def pt2_bytes(model: ProbabilityModel, extra_files: dict[str, str] | None = None) -> bytes:
    """The model as a ``torch.export`` archive's bytes (a ``.pt2`` file), with a dynamic batch size;
    ``extra_files`` (name -> text) are stored in the archive, read back by ``torch.export.load(path,
    extra_files={name: ""})``, which fills in the dict it is given."""
    example = torch.zeros(2, 1, model.network.image_size, model.network.image_size, dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a note that the LSTM's flat weights are not buffers: harmless here
        program = torch.export.export(model, (example,), dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    for node in program.graph.nodes:  # the source paths, as for ONNX above
        node.meta.pop("stack_trace", None)
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files=extra_files)
    return buffer.getvalue()


EXPORTERS = {"onnx": onnx_bytes, "pt2": pt2_bytes}  # the portable forms, by format name


@dataclass
class Parity:
    """How another runtime's outputs compare with the PyTorch network's on the same images."""

    images: int
    source: str  # where the images came from
    same_class: int  # images given the same class
    max_difference: float  # the largest |probability difference|, over every output

    @property
    def passed(self) -> bool:
        return self.same_class == self.images and self.max_difference <= TOLERANCE

    def __str__(self) -> str:
        return (
            f"same class on {self.same_class:,} of {self.images:,} {self.source}; "
            f"largest probability difference {self.max_difference:.2e} (bound {TOLERANCE:g})"
        )


def compare(model: ProbabilityModel, outputs: list[Tensor], images: Tensor, source: str) -> Parity:
    """Compare another runtime's ``outputs`` on ``images`` with the PyTorch network's own answers.

    Raises:
        ValueError: the outputs are not those of this model (another number of outputs, or other shapes).
    """
    with torch.inference_mode():
        reference = model(images)
    reference = list(reference) if isinstance(reference, tuple) else [reference]
    shapes = [tuple(output.shape) for output in outputs]
    if shapes != [tuple(output.shape) for output in reference]:
        raise ValueError(f"outputs of shapes {shapes}, expected {[tuple(r.shape) for r in reference]}")
    same = int((outputs[0].argmax(dim=-1) == reference[0].argmax(dim=-1)).sum())
    difference = max(float((got.float() - want).abs().max()) for got, want in zip(outputs, reference, strict=True))
    return Parity(len(images), source, same, difference)


def generated_images(count: int, size: int = 28, seed: int = 0) -> Tensor:
    """Stroke-like uint8 images: a few bright bars on faint noise, so the classes vary and are clear-cut."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 30, (count, 1, size, size), generator=generator, dtype=torch.uint8)
    length = max(2, size // 3)
    for image in images:
        for _ in range(3):
            row, col = torch.randint(0, size - length + 1, (2,), generator=generator).tolist()
            if torch.rand(1, generator=generator).item() < 0.5:
                image[0, row : row + 2, col : col + length] = 255
            else:
                image[0, row : row + length, col : col + 2] = 255
    return images
