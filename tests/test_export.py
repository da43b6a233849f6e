"""``python -m mnist_rnn export``: ONNX (run in onnxruntime) and torch.export's .pt2 (loaded without this package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_rnn import export
from mnist_rnn.cli import main
from mnist_rnn.export import ProbabilityModel, compare, generated_images, run_exported
from mnist_rnn.network import RNNNetwork
from tests.helpers import fit_tiny_in, one_line_error

# Every cell, every sequence mode and a bidirectional network; pixel sequences on 8x8 images keep them short.
NETWORKS = {
    "lstm-rows": {"cell": "lstm"},
    "gru-permuted": {"cell": "gru", "sequence": "permuted", "image_size": 8},
    "rnn-pixels": {"cell": "rnn", "sequence": "pixels", "image_size": 8},
    "bidirectional-lstm": {"cell": "lstm", "bidirectional": True},
}


@pytest.mark.parametrize("format", export.FORMATS)
@pytest.mark.parametrize("name", NETWORKS)
def test_every_kind_of_network_exports_with_a_dynamic_batch_and_gives_pytorchs_answers(name, format, tmp_path):
    torch.manual_seed(0)
    network = RNNNetwork(hidden_size=8, **NETWORKS[name])
    model = ProbabilityModel(network)
    path = tmp_path / f"model.{format}"
    (export.write_onnx if format == "onnx" else export.write_pt2)(model, path)
    size = network.image_size
    for batch in (1, 5):  # not the batch of the example the export traced (2)
        images = generated_images(batch, size, seed=batch)
        outputs = run_exported(path, format, images)
        assert outputs[0].shape == (batch, 10)
        if network.bidirectional:
            assert len(outputs) == 1  # no per-step answers: it has read the whole image at every step
        else:
            assert outputs[1].shape == (batch, network.steps, 10)
        parity = compare(model, outputs, images, "generated images")
        assert parity.passed and parity.same_class == batch, parity


@pytest.fixture(scope="module")
def checkpoint(fake_data_dir, tmp_path_factory) -> Path:
    run = fit_tiny_in(tmp_path_factory.mktemp("train"), fake_data_dir, "--model.hidden_size", "16")
    return run / "checkpoints" / "last.ckpt"


def test_export_checks_the_file_on_test_images_and_prints_the_figures(checkpoint, fake_data_dir, tmp_path, capsys):
    output = tmp_path / "digits.onnx"
    main(["export", "--ckpt_path", str(checkpoint), "--format", "onnx", "--output", str(output),
          "--data_dir", str(fake_data_dir)])  # fmt: skip
    out = capsys.readouterr().out
    # The fake test set has 60 images.
    assert "same class on 60 of 60 mnist test images" in out
    difference = float(out.split("largest probability difference ")[1].split()[0])
    assert difference <= 1e-4
    assert output.is_file() and f"Wrote {output}" in out
    assert [p.name for p in tmp_path.iterdir()] == ["digits.onnx"]  # no partial file left


def test_without_the_data_the_check_uses_generated_images(checkpoint, tmp_path, capsys):
    main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--data_dir", str(tmp_path / "nothing"),
          "--output", str(tmp_path / "digits.pt2")])  # fmt: skip
    assert "same class on 1,000 of 1,000 generated images" in capsys.readouterr().out


@pytest.mark.slow
def test_the_pt2_file_runs_in_plain_torch_without_this_package(checkpoint, tmp_path):
    path = tmp_path / "digits.pt2"
    export.export_checkpoint(checkpoint, "pt2", path, check=False)
    code = (
        "import sys\n"
        "sys.modules['mnist_rnn'] = None; sys.modules['lightning'] = None  # importing either now fails\n"
        "import torch\n"
        "model = torch.export.load(sys.argv[1]).module()\n"
        "probabilities, per_step = model(torch.zeros(3, 1, 28, 28, dtype=torch.uint8))\n"
        "print(tuple(probabilities.shape), tuple(per_step.shape), round(float(probabilities.sum()), 4))\n"
    )
    # -I: no PYTHONPATH, no user site, not the current folder; run from elsewhere than the repository.
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(3,", "10)", "(3,", "28,", "10)", "3.0"]


def test_an_export_that_disagrees_with_pytorch_fails_and_writes_nothing(checkpoint, tmp_path, monkeypatch, capsys):
    def off_by_a_little(path, format, images):
        return [output + 1e-3 for output in run_exported(path, format, images)]

    monkeypatch.setattr(export, "run_exported", off_by_a_little)
    output = tmp_path / "digits.pt2"
    with pytest.raises(SystemExit) as exit:
        main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(output)])
    assert exit.value.code == 1
    assert "export check failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "onnx"], "the following arguments are required: --ckpt_path"),
        (["--ckpt_path", "missing.ckpt", "--format", "pt2"], "missing.ckpt: no such file"),
        (["--ckpt_path", "CKPT", "--format", "torchscript"], "invalid choice: 'torchscript'"),
        (["--ckpt_path", "CKPT", "--format", "pt2", "--output", "no/such/folder/x.pt2"], "does not exist"),
    ],
)
def test_bad_options_are_one_line(args, message, checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert message in one_line_error(["export", *[str(checkpoint) if a == "CKPT" else a for a in args]], capsys)
