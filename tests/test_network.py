"""The plain network module: no Lightning, per-step and per-row logits, and the lab's initial weights."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from lightning.pytorch import seed_everything
from torch import nn

from mnist_rnn.model import RNNClassifier
from mnist_rnn.network import RNNNetwork, row_end_steps


def test_the_network_imports_no_lightning():
    code = "import sys, mnist_rnn.network; print(sorted(m for m in sys.modules if m.startswith('lightning')))"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "[]"


def test_the_package_still_offers_the_lightning_classes():
    from mnist_rnn import MNISTDataModule, RNNClassifier  # noqa: F401  (imported lazily, on first use)


@pytest.mark.parametrize(
    ("sequence", "cell", "steps"), [("rows", "lstm", 28), ("pixels", "gru", 784), ("permuted", "rnn", 784)]
)
def test_step_and_row_logits_end_with_the_logits(sequence, cell, steps):
    network = RNNNetwork(cell=cell, sequence=sequence, hidden_size=8, num_layers=2, dropout=0.3).eval()
    assert network.steps == steps
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    logits = network(images)
    assert logits.shape == (3, 10)
    every_step = network.step_logits(images)
    assert every_step.shape == (3, steps, 10)
    assert torch.allclose(every_step[:, -1], logits, atol=1e-6)
    rows = network.row_logits(images)
    assert rows.shape == (3, 28, 10)
    assert torch.equal(rows, every_step[:, steps // 28 - 1 :: steps // 28])  # the step that ends each row
    # The pair the test step uses: the logits exactly as forward computes them, and the rows of one pass.
    same_logits, same_rows = network.logits_and_row_logits(images)
    assert torch.equal(same_logits, logits) and torch.equal(same_rows, rows)


def test_logits_after_reading_only_the_first_rows_ignore_the_rest():
    network = RNNNetwork(hidden_size=8).eval()
    images = torch.rand(2, 1, 28, 28)
    changed = images.clone()
    changed[:, :, 10:] = torch.rand(2, 1, 18, 28)  # rows 10-27 differ
    first, second = network.row_logits(images), network.row_logits(changed)
    assert torch.equal(first[:, :10], second[:, :10])
    assert not torch.allclose(first[:, 10:], second[:, 10:])


def test_bidirectional_networks_have_no_per_step_logits():
    network = RNNNetwork(bidirectional=True, hidden_size=8)
    assert network(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    for method in (network.step_logits, network.row_logits):
        with pytest.raises(ValueError, match="one-way"):
            method(torch.rand(2, 1, 28, 28))


def test_the_network_is_the_model_forward():
    model = RNNClassifier(hidden_size=8, sequence="permuted").eval()
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(images), model.network(images))
    assert set(model.network.state_dict()) >= {"permutation", "rnn.weight_ih_l0", "head.weight"}


@pytest.mark.parametrize("forget_bias", [None, 1.0])
def test_a_seeded_model_starts_from_the_lab_weights(forget_bias):
    """The recurrent layers draw their initial weights first, then the head, as before the network was its own
    module: configs/seed.yaml's runs start from the same weights (those of the lab's LSTM + Linear)."""
    seed_everything(42, verbose=False)
    lstm = nn.LSTM(input_size=28, hidden_size=128, num_layers=2, batch_first=True)
    head = nn.Linear(128, 10)
    seed_everything(42, verbose=False)
    network = RNNClassifier(dropout=0.0, forget_bias=forget_bias).network
    expected = {
        **{f"rnn.{k}": v for k, v in lstm.state_dict().items()},
        **{f"head.{k}": v for k, v in head.state_dict().items()},
    }
    weights = {name: value for name, value in network.state_dict().items() if name != "temperature"}
    assert list(weights) == list(expected)
    assert float(network.temperature) == 1.0  # no scaling until the network is calibrated
    for name, value in weights.items():
        if forget_bias is None or not name.startswith("rnn.bias"):
            assert torch.equal(value, expected[name]), name


def test_row_end_steps_picks_the_step_that_ends_each_row():
    assert list(range(784))[row_end_steps(784, 28)] == list(range(27, 784, 28))  # pixels: 27, 55, ..., 783
    assert list(range(28))[row_end_steps(28, 28)] == list(range(28))  # rows: every step


@pytest.mark.parametrize("sequence", ["rows", "permuted"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_network_reads_uint8_images(sequence, dtype):
    """``--trainer.precision bf16-true`` / ``16-true`` turn the network's weights to half precision but leave
    the uint8 batches alone: the network feeds its recurrent layers in its weights' dtype."""
    torch.manual_seed(0)
    network = RNNNetwork(hidden_size=8, sequence=sequence).eval()
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    expected = network(images)
    half = network.to(dtype)
    logits, row_logits = half.logits_and_row_logits(images)
    assert logits.dtype == row_logits.dtype == dtype and logits.shape == (3, 10)
    torch.testing.assert_close(logits.float(), expected, atol=0.05, rtol=0.05)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_network_keeps_its_temperature_in_float32(dtype):
    """bf16-true rounded the temperature to bfloat16 (0.615 to 0.617): in probabilities, the test's logged
    temperature and the checkpoint. The weights are cast, the temperature is not, and it still moves."""
    network = RNNNetwork(hidden_size=8)
    network.temperature.fill_(0.615)
    half = network.to(dtype)
    assert half.head.weight.dtype == dtype and half.temperature.dtype == torch.float32
    assert half.temperature.item() == pytest.approx(0.615, abs=1e-7)
    assert half.state_dict()["temperature"].dtype == torch.float32
    half.load_state_dict({**half.state_dict(), "temperature": torch.tensor(0.75, dtype=dtype)})
    assert half.temperature.dtype == torch.float32 and half.temperature.item() == 0.75
    assert half.double().temperature.dtype == torch.float32 and half.head.weight.dtype == torch.float64


def test_a_compiled_network_refuses_pixels_it_cannot_read_too():
    """torch.compile skipped the range check (its .item() cannot be compiled): a compiled network read float
    0-255 pixels at 25% accuracy without a word. The check now runs eagerly, beside the compiled graph."""
    network = RNNNetwork(hidden_size=8).eval()
    torch._dynamo.reset()
    compiled = torch.compile(network, backend="eager")  # dynamo's tracing, without a C++ compiler
    images = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(compiled(images), network(images))
        with pytest.raises(ValueError, match=r"float images must hold pixels in \[0, 1\].*: divide 0-255 pixels"):
            compiled(images * 255)
        with pytest.raises(ValueError, match="they look standardised"):
            compiled((images - 0.1307) / 0.3081)
        overshoot = images.clone()
        overshoot[0, 0, 0, 0] = 1.04  # a resize's overshoot: clipped, as in eager mode
        assert torch.equal(compiled(overshoot), network(overshoot.clamp(0, 1)))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 1, 28, 28), np.uint8), "got ndarray: torch.from_numpy(array) makes one"),  # 'no attribute dim'
        (torch.zeros(2, 3, 28, 28), "got (2, 3, 28, 28): the network reads one grey channel; prepare colour"),
        (torch.zeros(2, 28, 28, 3), "got (2, 28, 28, 3): the network reads one grey channel; prepare colour"),
        (torch.zeros(2, 28, 28, 1), "got (2, 28, 28, 1): channels last; images.permute(0, 3, 1, 2) puts the channel"),
        (torch.zeros(2, 1, 32, 32), "got (2, 1, 32, 32): prepare pictures of other sizes with mnist_rnn.preparation"),
    ],
)
def test_arrays_colour_and_other_sizes_are_refused_with_the_fix(images, message):
    """A numpy array was "'numpy.ndarray' object has no attribute 'dim'"; colour, channels-last and other sizes
    got no hint."""
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        RNNNetwork(hidden_size=8).eval()(images)


@pytest.mark.parametrize(
    ("picture", "message"),
    [
        ("digit.png", "expected a PIL image, got str: decode_image(path) reads a file"),
        (np.zeros((28, 28), np.uint8), "expected a PIL image, got ndarray: Image.fromarray(array) makes one"),
        (None, "expected a PIL image, got NoneType"),
    ],
)
def test_the_preparation_takes_pictures_and_says_how_to_make_one(picture, message):
    """to_mnist("digit.png") was "'str' object has no attribute 'size'"."""
    from mnist_rnn.preparation import to_mnist

    with pytest.raises(TypeError, match=re.escape(message)):
        to_mnist(picture)


def test_images_the_network_cannot_read_are_refused_with_the_fix():
    """A user's own inference on the plain network: float pixels of 0-255 (a tensor made from a PIL image) or a
    missing dimension gave confident answers, or a reshape error about 28x28x28."""
    network = RNNNetwork(hidden_size=8).eval()
    with pytest.raises(
        ValueError, match=r"float images must hold pixels in \[0, 1\], got values from 0 to 255: divide"
    ):
        network(torch.linspace(0, 255, 784).reshape(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"got \(5, 28, 28\): add the channel dimension, images.unsqueeze\(1\)"):
        network.probabilities(torch.rand(5, 28, 28))
    with pytest.raises(ValueError, match=r"got \(28, 28\): one image is images\[None, None\]"):
        network.logits_and_row_logits(torch.rand(28, 28))
    with pytest.raises(ValueError, match=r"of shape \(batch, 1, 28, 28\), got \(2, 1, 32, 32\): prepare pictures"):
        network.step_logits(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(
        ValueError, match=r"expected uint8 \(pixels 0-255\) or float \(pixels 0-1\) images, got torch.int64"
    ):
        network(torch.randint(0, 256, (2, 1, 28, 28)))  # torch.from_numpy of an int array: was read as 0-1
    assert network(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # torchvision's Normalize: told so, not "divide by 255"; NaN pixels: refused, not a class 0 of NaN.
    standardised = (torch.linspace(0, 1, 784).reshape(1, 1, 28, 28) - 0.1307) / 0.3081
    with pytest.raises(ValueError, match=r"got values from -0.424\d* to 2.82\d*: they look standardised"):
        network(standardised)
    with pytest.raises(ValueError, match="float images hold NaN pixels"):
        network(torch.full((1, 1, 28, 28), float("nan")))
    # A bicubic resize's overshoot at sharp edges is clipped, as an 8-bit conversion would: it was refused as
    # "values from 0 to 1" (%g of 1.0000001).
    drawing = (torch.rand(2, 1, 28, 28) > 0.5).float()
    overshoot = drawing.clone()
    overshoot[drawing == 1] = 1.0000001
    overshoot[0, 0, 0, 0] = -0.04
    assert torch.equal(network(overshoot), network(overshoot.clamp(0, 1)))
    network.train()  # augmented training batches are float and may leave [0, 1]; their range is never read
    assert network(torch.rand(2, 1, 28, 28) * 2 - 0.5).shape == (2, 10)
    # ... but their shape and type are: a model fitted from Python is left in training mode, where int64 pixels
    # and images without their channel were read without a word (int64 at 31% accuracy).
    with pytest.raises(ValueError, match="got torch.int64"):
        network(torch.randint(0, 256, (2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"expected images of shape \(batch, 1, 28, 28\), got \(2, 28, 28\)"):
        network(torch.rand(2, 28, 28))
    # Probabilities are an answer, not a training step: of the network in eval mode, whatever mode it is in (a
    # model fitted from Python is left in training mode, and dropout made each call's answer differ).
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    assert torch.equal(network.probabilities(images), network.probabilities(images)) and network.training
    with pytest.raises(ValueError, match="divide 0-255 pixels by 255"):
        network.probabilities(images.float())


def matrix_flops(cell: str, bidirectional: bool, hidden: int = 16, layers: int = 2, steps: int = 28) -> int:
    """A forward pass of one image, by hand: each weight matrix meets each of the steps once (2 FLOPs a
    multiply-add), and the head meets the last output."""
    gates, directions = {"lstm": 4, "gru": 3, "rnn": 1}[cell], 2 if bidirectional else 1
    inputs = [28] + [hidden * directions] * (layers - 1)
    recurrent = sum(2 * steps * gates * hidden * (size + hidden) * directions for size in inputs)
    return recurrent + 2 * hidden * directions * 10


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_model_summary_counts_the_recurrent_layers_flops(cell, bidirectional):
    """Lightning's model summary at the start of fit printed a FLOPs column of 0s and "0 Total Flops": it had no
    example input to run, and torch's counter has no formula for the LSTM's fused CPU op (or any cell's cuDNN
    op). Now the network's count is its matrix products' for one image."""
    from lightning.pytorch.utilities.model_summary import summarize

    model = RNNClassifier(cell=cell, hidden_size=16, bidirectional=bidirectional)
    summary = summarize(model, max_depth=1)
    assert summary.total_flops == matrix_flops(cell, bidirectional)
    assert summary.in_sizes[0] == [1, 1, 28, 28] and summary.out_sizes[0] == [1, 10]
    assert "Total Flops" in str(summary) and "0         Total Flops" not in str(summary)


def test_the_flops_of_cudnns_recurrent_op_are_counted():
    """On a GPU every cell runs as cuDNN's one op for all layers and directions: its count, on meta tensors
    (no GPU needed), is its weight matrices' over every step of every sequence."""
    from torch.utils.flop_counter import FlopCounterMode

    import mnist_rnn.model  # noqa: F401  (registers the formulas)

    steps, batch, size, hidden = 28, 3, 28, 16

    def meta(*shape: int) -> torch.Tensor:
        return torch.empty(*shape, device="meta")

    weights = [meta(4 * hidden, size), meta(4 * hidden, hidden), meta(4 * hidden), meta(4 * hidden)]  # layer 1
    weights += [meta(4 * hidden, hidden), meta(4 * hidden, hidden), meta(4 * hidden), meta(4 * hidden)]  # layer 2
    state = meta(2, batch, hidden)
    with FlopCounterMode(display=False) as counter:
        # input, weights, stride, buffer, hx, cx, mode (2: LSTM), hidden, proj, layers, batch_first, dropout,
        # train, bidirectional, batch_sizes, dropout_state
        torch.ops.aten._cudnn_rnn(
            meta(batch, steps, size), weights, 4, None, state, state, 2, hidden, 0, 2, True, 0.0, False, False, [], None
        )
    assert counter.get_total_flops() == 2 * steps * batch * 4 * hidden * (size + hidden + hidden + hidden)
