"""``python -m mnist_rnn export``: ONNX (run in onnxruntime) and torch.export's .pt2 (loaded without this package)."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from mnist_rnn import export
from mnist_rnn.cli import main
from mnist_rnn.errors import shown_path
from mnist_rnn.export import run_exported
from mnist_rnn.inference import (
    EXPORTERS,
    ProbabilityModel,
    class_names_of,
    compare,
    generated_images,
    load_network,
    pt2_bytes,
)
from mnist_rnn.network import RNNNetwork
from mnist_rnn.user_images import preparation_for
from tests.helpers import ROOT, one_line_error

# Every cell, every sequence mode and a bidirectional network, on small images: an export's time grows with the
# sequence's length, and the 28x28 rows of a trained network are exported from a checkpoint below.
NETWORKS = {
    "lstm-rows": {"cell": "lstm", "image_size": 8},
    "gru-permuted": {"cell": "gru", "sequence": "permuted", "image_size": 4},
    "rnn-pixels": {"cell": "rnn", "sequence": "pixels", "image_size": 4},
    "bidirectional-lstm": {"cell": "lstm", "bidirectional": True, "image_size": 8},
}


@pytest.mark.parametrize("format", export.FORMATS)
@pytest.mark.parametrize("name", NETWORKS)
def test_every_kind_of_network_exports_with_a_dynamic_batch_and_gives_pytorchs_answers(name, format):
    torch.manual_seed(0)
    network = RNNNetwork(hidden_size=8, **NETWORKS[name])
    model = ProbabilityModel(network)
    data = EXPORTERS[format](model)
    size = network.image_size
    for batch in (1, 5):  # not the batch of the example the export traced (2)
        images = generated_images(batch, size, seed=batch)
        outputs = run_exported(data, format, images)
        assert outputs[0].shape == (batch, 10)
        if network.bidirectional:
            assert len(outputs) == 1  # no per-step answers: it has read the whole image at every step
        else:
            assert outputs[1].shape == (batch, network.steps, 10)
        parity = compare(model, outputs, images, "generated images")
        assert parity.passed and parity.same_class == batch, parity


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_each_layer_exports_to_onnx_as_one_operator_without_working_through_the_steps(cell, bidirectional, monkeypatch):
    """onnxscript translates only the LSTM and the GRU: torch unrolled the tanh RNN into every step's
    operations, so a 784-step pixel model's export took many minutes and wrote a file a hundred times its
    weights. And before any translation torch worked out the shapes of every cell's layers by running their
    decomposition (``_rnn_helper``), the operations of every step, up to three times: a GRU on pixels took
    minutes to export. Each layer is one ONNX operator now, its shapes known at once, with PyTorch's answers."""
    import onnx
    import torch._decomp.decompositions as decompositions

    stepped = []
    unrolled = decompositions._rnn_helper
    monkeypatch.setattr(decompositions, "_rnn_helper", lambda *args: stepped.append(1) or unrolled(*args))
    torch.manual_seed(0)
    network = RNNNetwork(
        cell=cell, sequence="pixels", image_size=6, hidden_size=8, num_layers=2, bidirectional=bidirectional
    )
    network.temperature.fill_(0.5)
    model = ProbabilityModel(network)
    data = EXPORTERS["onnx"](model)
    assert stepped == []  # torch's decomposition of the layers, which works through every step
    kinds = [node.op_type for node in onnx.load_from_string(data).graph.node]
    assert kinds.count({"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]) == 2  # one per layer
    assert "Tanh" not in kinds and len(kinds) < 30  # a Tanh per step and layer, unrolled
    for batch in (1, 7):
        images = generated_images(batch, network.image_size, seed=batch)
        parity = compare(model, run_exported(data, "onnx", images), images, "generated images")
        assert parity.passed and parity.same_class == batch, parity
    assert isinstance(model.network.rnn, torch.nn.RNNBase)  # the caller's network is left as it was
    if cell == "rnn":  # No images give empty answers, as unrolled (onnxruntime's LSTM and GRU abort on them)
        outputs = run_exported(data, "onnx", torch.zeros(0, 1, 6, 6, dtype=torch.uint8))
        assert [tuple(output.shape) for output in outputs] == [(0, 10), (0, 36, 10)][: len(outputs)]


@pytest.fixture(scope="module")
def checkpoint(mnist_checkpoint) -> Path:
    """The session's tiny MNIST checkpoint (tests/conftest.py)."""
    return mnist_checkpoint


def test_export_checks_the_file_on_test_images_and_prints_the_figures(checkpoint, fake_data_dir, tmp_path, capsys):
    output = tmp_path / "digits.onnx"
    main(
        [
            "export",
            "--ckpt_path",
            str(checkpoint),
            "--format",
            "onnx",
            "--output",
            str(output),
            "--data.data_dir",
            str(fake_data_dir),
        ]
    )  # fmt: skip  (as fit and calibrate name it; --data_dir too)
    out = capsys.readouterr().out
    # The fake test set has 60 images.
    assert "same class on 60 of 60 mnist test images" in out
    difference = float(out.split("largest probability difference ")[1].split()[0])
    assert difference <= 1e-4
    assert output.is_file() and f"Wrote {output}" in out
    assert [p.name for p in tmp_path.iterdir()] == ["digits.onnx"]  # no partial file left


FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]  # fmt: skip
MNIST_NAMES = [f"{k} - {name}" for k, name in enumerate("zero one two three four five six seven eight nine".split())]


def read_back(path: Path) -> dict:
    """A file's metadata as docs/serve.md reads it: only onnx, onnxruntime or torch, not this package."""
    if path.suffix == ".onnx":
        import onnx
        import onnxruntime

        model = onnx.load(str(path))
        props = {prop.key: prop.value for prop in model.metadata_props}
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_modelmeta().custom_metadata_map == props  # what onnxruntime's users see
        assert model.doc_string == props["description"]
        # Strings as they are, the rest as JSON.
        return {key: value if key in STRINGS else json.loads(value) for key, value in props.items()}
    extra_files = {"metadata.json": ""}
    torch.export.load(str(path), extra_files=extra_files)
    return json.loads(extra_files["metadata.json"])


@pytest.mark.parametrize("format", export.FORMATS)
def test_the_file_carries_no_source_paths_of_the_machine_that_wrote_it(format):
    """The exporters recorded every operation's Python stack: the user's home folder and virtual environment
    went out with each file that was handed on."""
    data = EXPORTERS[format](ProbabilityModel(RNNNetwork(hidden_size=8)))
    if format == "pt2":  # a zip archive: its members, as they are once unpacked
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = b"".join(archive.read(name) for name in archive.namelist())
    for folder in (Path(torch.__file__).parent, Path(export.__file__).parent):
        assert str(folder).encode() not in data
    assert b"LSTM" in data  # the operations still name the module they came from


STRINGS = {"description", "dataset", "input", "outputs", "preparation", "cell", "sequence", "mnist_rnn_version",
           "torch_version", "checkpoint"}  # fmt: skip


@pytest.mark.parametrize("format", export.FORMATS)
@pytest.mark.parametrize("dataset", ["fashion_mnist", "mnist"])
def test_the_file_says_what_it_classifies_and_how_its_input_is_prepared(
    dataset, format, checkpoint, fashion_checkpoint, fake_data_dir, tmp_path, capsys
):
    """The files carried no metadata: a user holding only the file could not tell a Fashion-MNIST model from
    an MNIST one, what class 7 is, what the input is, how to prepare a picture, or the temperature."""
    ckpt = fashion_checkpoint if dataset == "fashion_mnist" else checkpoint
    output = tmp_path / f"model.{format}"
    main(["export", "--ckpt_path", str(ckpt), "--format", format, "--output", str(output),
          "--data.data_dir", str(fake_data_dir)])  # fmt: skip
    assert f"same class on 60 of 60 {dataset} test images" in capsys.readouterr().out  # the check still passes
    metadata = read_back(output)
    assert set(metadata) == STRINGS | {"class_names", "temperature", "bidirectional", "hidden_size", "num_layers",
                                       "image_size", "num_classes"}  # fmt: skip
    assert metadata["dataset"] == dataset
    assert metadata["class_names"] == (FASHION_NAMES if dataset == "fashion_mnist" else MNIST_NAMES)
    # The function predict prepares a picture with, for this data set (to_mnist turned garments into digits).
    module, _, name = metadata["preparation"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is preparation_for(dataset)
    assert metadata["preparation"] == {"fashion_mnist": "mnist_rnn.garments.prepare_garment",
                                       "mnist": "mnist_rnn.preparation.prepare"}[dataset]  # fmt: skip
    assert metadata["preparation"] in metadata["description"]
    title = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}[dataset]
    assert f"classifying {title} images into 10 classes" in metadata["description"]
    assert metadata["input"].startswith("images: uint8 (batch, 1, 28, 28), pixels 0-255 (float 0-1 is refused)")
    assert metadata["outputs"].endswith("per_step: float32 (batch, 28, 10), the probabilities after every step")
    assert metadata["temperature"] == float(load_network(ckpt).temperature)
    assert (metadata["cell"], metadata["sequence"], metadata["bidirectional"]) == ("lstm", "rows", False)
    hidden = 8 if dataset == "fashion_mnist" else 16
    assert (metadata["hidden_size"], metadata["image_size"], metadata["num_classes"]) == (hidden, 28, 10)
    assert metadata["checkpoint"] == "last.ckpt"
    assert metadata["mnist_rnn_version"] and metadata["torch_version"] == torch.__version__


def failed_pt2_export(checkpoint: Path, folder: Path, capsys) -> str:
    """stderr of an export to ``folder`` whose check fails: exit status 1, and nothing written there."""
    with pytest.raises(SystemExit) as exit:
        main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(folder / "digits.pt2")])
    assert exit.value.code == 1
    assert list(folder.iterdir()) == []
    return capsys.readouterr().err


def test_a_file_that_lost_its_metadata_fails_the_check_and_is_not_written(checkpoint, tmp_path, monkeypatch, capsys):
    """As a torch whose torch.export.save left out extra_files would write it."""
    monkeypatch.setattr(export, "pt2_bytes", lambda model, extra_files=None: pt2_bytes(model))
    assert "the exported file does not carry its metadata" in failed_pt2_export(checkpoint, tmp_path, capsys)


def test_without_the_data_the_check_uses_generated_images(checkpoint, tmp_path, monkeypatch, capsys):
    """The folder the checkpoint was trained from is not on this machine (a checkpoint handed on)."""
    monkeypatch.setattr("mnist_rnn.export.default_data_dir", lambda ckpt_path: str(tmp_path / "gone"))
    main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(tmp_path / "digits.pt2")])
    out = capsys.readouterr().out
    assert "same class on 1,000 of 1,000 generated images" in out
    assert f"(no mnist test set found in {tmp_path / 'gone'})" in out  # where it looked: a relative folder
    # A folder whose name holds a line break, on the check's one line, as the shell takes it
    monkeypatch.setattr("mnist_rnn.export.default_data_dir", lambda ckpt_path: str(tmp_path / "gone\nfor good"))
    main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(tmp_path / "again.pt2")])
    out = capsys.readouterr().out
    assert f"(no mnist test set found in $'{tmp_path}/gone\\x0afor good')" in out
    assert not [line for line in out.splitlines() if line.startswith("for good")]  # one line


def test_a_data_dir_without_the_test_set_is_refused_before_the_export(checkpoint, tmp_path, capsys):
    """A mistyped --data_dir was checked quietly on generated images, where the user meant their test set."""
    missing = tmp_path / "nothing"
    args = ["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--data_dir", str(missing),
            "--output", str(tmp_path / "digits.pt2")]  # fmt: skip
    error = one_line_error(args, capsys)
    assert error == (
        f"mnist-rnn: error: MNIST files not found in {missing / 'MNIST' / 'raw'}/: missing t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte. Pass --data.data_dir pointing at a folder that holds MNIST/raw/; or leave "
        "--data.data_dir out: the export is checked on the test set of the folder the checkpoint was trained from, "
        "or on generated images where it is not there\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_data_dir_inside_the_layout_names_the_folder_to_pass(checkpoint, fake_data_dir, tmp_path, capsys):
    """The files' own folder (MNIST/raw) was "not found" next to the very files, as fit and test no longer say."""
    raw = fake_data_dir / "MNIST" / "raw"
    args = ["export", "--ckpt_path", str(checkpoint), "--data_dir", str(raw), "--output", str(tmp_path / "m.pt2")]
    error = one_line_error(args, capsys)
    assert error.startswith(
        f"mnist-rnn: error: --data.data_dir {raw}: the MNIST files are in {raw}/, not in {raw / 'MNIST' / 'raw'}/: "
        f"pass the folder that holds MNIST/raw/: --data.data_dir {fake_data_dir}; or leave --data.data_dir out"
    )
    assert list(tmp_path.iterdir()) == []


def test_best_last_and_a_run_folder_name_a_checkpoint_as_for_test_and_predict(
    checkpoint, tmp_path, monkeypatch, capsys
):
    """export --ckpt_path best ended in "best: no such file", where test and predict took it."""
    run = checkpoint.parents[1]
    monkeypatch.chdir(run.parents[1])  # where lightning_logs/ is
    best = next(run.glob("checkpoints/best-*.ckpt")).relative_to(run.parents[1])
    last = checkpoint.relative_to(run.parents[1])
    for given, expected in [("best", best), ("last", last), (str(run), best)]:  # a folder: its best, calibrated
        output = tmp_path / "exported.pt2"
        main(["export", "--ckpt_path", given, "--format", "pt2", "--output", str(output), "--overwrite"])
        assert capsys.readouterr().err.partition("\n")[0] in (
            f"mnist-rnn: using {p}" for p in (expected, run.parents[1] / expected)
        )


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
    assert "export check failed" in failed_pt2_export(checkpoint, tmp_path, capsys)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "onnx"], "the following arguments are required: --ckpt_path"),
        (["--ckpt_path", "missing.ckpt", "--format", "pt2"], "missing.ckpt: no such file"),
        (["--ckpt_path", "CKPT", "--format", "torchscript"], "invalid choice: 'torchscript'"),
        (["--ckpt_path", "CKPT", "--format", "pt2", "--output", "no/such/folder/x.pt2"], "does not exist"),
        (["--ckpt_path", "CKPT", "--format", "pt2", "--output", "CKPT/x.pt2"], "ckpt is a file, not a folder"),
        (["--ckpt_path", "CKPT", "--format", "pt2", "--output", "."], "--output .: a folder; name a file in it"),
        (["--ckpt_path", "CKPT", "--output", "."], "--output .: a folder; name a file in it, e.g. model.onnx or"),
        (["--ckpt_path", "CKPT", "--format", "pt2", "--output", "x.onnx"], "a pt2 file must end in .pt2"),
        (["--ckpt_path", "CKPT", "--format", "onnx", "--output", "x.pt2"], "an onnx file must end in .onnx"),
        (["--ckpt_path", "CKPT"], "pass --format onnx or --format pt2 (or an --output ending in .onnx or .pt2"),
        (["--ckpt_path", "CKPT", "--output", "x.pkl"], "pass --format onnx or --format pt2"),
        # Path(".onnx").suffix is "": it was asked for a --format, or told it must end in .pt2
        (
            ["--ckpt_path", "CKPT", "--output", ".onnx"],
            "--output .onnx: a name that is only a suffix; name the file, "
            "e.g. model.onnx (or --format onnx without --output writes ",
        ),  # fmt: skip
        (["--ckpt_path", "CKPT", "--format", "pt2", "--output", "d/.PT2"], "name the file, e.g. d/model.pt2"),
    ],
)
def test_bad_options_are_one_line(args, message, checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = [a.replace("CKPT", str(checkpoint)) for a in args]
    assert message in one_line_error(["export", *args], capsys)


@pytest.fixture(scope="module")
def other_models_checkpoint(tmp_path_factory) -> Path:
    """A Lightning checkpoint, but of another LightningModule (a linear layer with its own hyperparameter)."""
    path = tmp_path_factory.mktemp("other") / "other.ckpt"
    torch.save(
        {
            "state_dict": {"layer.weight": torch.zeros(2, 3), "layer.bias": torch.zeros(2)},
            "pytorch-lightning_version": "2.6.6",
            "hyper_parameters": {"in_features": 3},
        },
        path,
    )
    return path


def test_a_checkpoint_of_another_model_is_one_line(other_models_checkpoint, tmp_path, capsys):
    args = [
        "export",
        "--ckpt_path",
        str(other_models_checkpoint),
        "--format",
        "pt2",
        "--output",
        str(tmp_path / "x.pt2"),
    ]
    assert "a Lightning checkpoint, but not of this project's model" in one_line_error(args, capsys)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_with_overwrite(checkpoint, tmp_path, capsys):
    output = tmp_path / "digits.pt2"
    output.write_bytes(b"the user's own file")
    args = ["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(output)]
    assert "the file exists; pass --overwrite to replace it" in one_line_error(args, capsys)
    assert output.read_bytes() == b"the user's own file"
    main([*args, "--overwrite"])
    assert f"Wrote {output}" in capsys.readouterr().out
    # the default output, exported a second time: it named --output, which the user had not passed
    default = ["export", "--ckpt_path", str(checkpoint), "--format", "pt2"]
    main(default)
    capsys.readouterr()
    assert one_line_error(default, capsys) == (
        f"mnist-rnn: error: {checkpoint.with_suffix('.pt2')} exists (the default --output, the checkpoint's name "
        "with .pt2); pass --overwrite to replace it, or --output another file\n"
    )
    checkpoint.with_suffix(".pt2").unlink()
    assert torch.export.load(str(output)).module()(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))[0].shape == (1, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["digits.pt2"]


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs mounted at tmp_path/disk: ``request.param`` is its mount options (a full or read-only disk)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", request.param, "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("small_disk", ["size=16k"], indirect=True)
def test_a_pt2_file_on_a_full_disk_is_one_line_and_leaves_no_file(checkpoint, small_disk):
    output = small_disk / "digits.pt2"
    # A subprocess: torch's own .pt2 writer used to abort the whole process (SIGABRT) on a full disk.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = ["--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(output)]
    result = subprocess.run(
        [sys.executable, "-m", "mnist_rnn", "export", *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mnist-rnn: error: "), result.stderr
    assert f"--output {output}: cannot be written ([Errno 28] No space left on device" in result.stderr
    assert list(small_disk.iterdir()) == []  # no partial file


@pytest.mark.parametrize(
    "small_disk, format, reason",
    [
        pytest.param(
            "size=16k", "onnx", ": cannot be written ([Errno 28] No space left on device", id="full disk, onnx"
        ),
        # before the export and its check (it named the hidden .partial file, after them)
        pytest.param(
            "ro,size=1m", "pt2", ": the folder DISK cannot be written to (a read-only file system)", id="read-only"
        ),
    ],
    indirect=["small_disk"],
)
def test_an_output_that_cannot_be_written_is_one_line_and_leaves_no_file(
    checkpoint, small_disk, format, reason, capsys
):
    """In-process, unlike pt2 on a full disk (above): no writer of torch's is involved that could abort it (the
    ONNX file's bytes are written in Python; a read-only folder is refused before the export)."""
    output = small_disk / f"digits.{format}"
    args = ["export", "--ckpt_path", str(checkpoint), "--format", format, "--output", str(output)]
    error = one_line_error(args, capsys)
    assert f"--output {output}{reason.replace('DISK', str(small_disk))}" in error
    assert list(small_disk.iterdir()) == []  # no partial file


def test_a_bidirectional_pt2_file_gives_a_tuple_as_a_one_way_one_does():
    """It gave a bare tensor: ``probabilities, per_step = model(x)``, as the docs show for one-way models,
    split a batch of 2 into its rows without an error; ONNX gives a list of one output."""
    model = ProbabilityModel(RNNNetwork(hidden_size=8, bidirectional=True))
    program = torch.export.load(io.BytesIO(EXPORTERS["pt2"](model))).module()
    outputs = program(generated_images(2, 28, seed=0))
    assert isinstance(outputs, tuple) and len(outputs) == 1 and outputs[0].shape == (2, 10)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_batch_of_no_images_gives_empty_answers(bidirectional):
    """reshape(B, -1) refused a batch of 0 (-1 could be any size), in the network and in its .pt2 program.
    (onnxruntime aborts the process on one, in its LSTM kernel: docs/serve.md says so.)"""
    model = ProbabilityModel(RNNNetwork(hidden_size=8, bidirectional=bidirectional))
    empty = torch.zeros(0, 1, 28, 28, dtype=torch.uint8)
    program = torch.export.load(io.BytesIO(EXPORTERS["pt2"](model))).module()
    for outputs in (model(empty), program(empty)):
        assert [tuple(output.shape) for output in outputs] == [(0, 10), (0, 28, 10)][: len(outputs)]
        assert len(outputs) == (1 if bidirectional else 2)


def test_export_and_serve_name_the_classes_alike_whatever_the_checkpoint_holds():
    """One fallback for both: a checkpoint's own names; its data set's when it has none (trained without the
    CLI, which links them); the class numbers for a set of another size. serve gave Fashion-MNIST's checkpoints
    without names the numbers 0-9 where export wrote "T-shirt/top" and the rest."""
    fashion = {"num_classes": 10, "dataset": "fashion_mnist", "class_names": None}
    assert class_names_of(fashion)[:2] == ["T-shirt/top", "Trouser"]
    assert class_names_of({**fashion, "class_names": list("abcdefghij")})[0] == "a"
    assert class_names_of({**fashion, "num_classes": 3}) == ["0", "1", "2"]
    assert class_names_of({"num_classes": 10})[0] == "0 - zero"


@pytest.mark.parametrize("name", ["digits.pt2", os.fsdecode(b"caf\xe9.pt2")])
def test_a_stop_while_the_file_is_written_says_it_was_written(checkpoint, tmp_path, monkeypatch, capsys, name):
    """Ctrl+C during the write (or after it, during the last lines) said "nothing was written" of a complete
    file: now the write finishes, and the line says the file is complete. A name that is not UTF-8 (a byte of
    Latin-1) is shown as ``\\xe9``, as the other lines show it: the stop's line said ``\\udce9``, a name no file has."""
    import signal

    write_file = export.write_file

    def write_then_stop(path, data):
        signal.raise_signal(signal.SIGINT)  # as if Ctrl+C came in the middle of the write
        write_file(path, data)

    monkeypatch.setattr(export, "write_file", write_then_stop)
    output = tmp_path / name
    with pytest.raises(SystemExit) as exit:
        main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(output)])
    assert exit.value.code == 130
    assert f"stopped by SIGINT after writing {shown_path(output)}, which is complete" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [name]  # whole, and no partial file left


def test_a_file_name_that_is_not_utf8_is_written_and_said(checkpoint, tmp_path, capsys):
    """``--output caf$'\\xe9'.pt2`` (a Latin-1 name): the file was written, then its "Wrote" line ended in a
    UnicodeEncodeError traceback and exit status 1 where standard output is strict UTF-8 (a desktop's en_US.UTF-8
    locale; pytest's capture too)."""
    output = tmp_path / os.fsdecode(b"caf\xe9.pt2")
    main(["export", "--ckpt_path", str(checkpoint), "--format", "pt2", "--output", str(output)])
    assert f"Wrote {tmp_path}/caf\\xe9.pt2 (" in capsys.readouterr().out
    assert os.listdir(os.fsencode(tmp_path)) == [b"caf\xe9.pt2"]


def test_a_file_name_with_a_line_break_is_named_on_one_line(checkpoint, tmp_path, monkeypatch, capsys):
    """``--output $'my\\nmodel.pt2'``: "Wrote .../my" and "model.pt2 (... MB)" on two lines; a missing folder or a
    name that is only a suffix in such a folder was one line with the halves joined by a space, naming a file that
    is not there. Now each name as bash's ``$'...'`` writes it: pasted, it names the file."""
    monkeypatch.chdir(tmp_path)
    export_args = ["export", "--ckpt_path", str(checkpoint), "--output"]
    main([*export_args, "my\nmodel.pt2"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("Wrote $'my\\x0amodel.pt2' (")
    err = one_line_error([*export_args, "no\nsuch/x.pt2"], capsys)
    assert err == "mnist-rnn: error: --output $'no\\x0asuch/x.pt2': the folder $'no\\x0asuch' does not exist\n"
    err = one_line_error([*export_args, "my\nmodel.pt2"], capsys)
    assert err == "mnist-rnn: error: --output $'my\\x0amodel.pt2': the file exists; pass --overwrite to replace it\n"
    err = one_line_error([*export_args, "my\nmodel.pt2/.onnx"], capsys)
    assert err.startswith(
        "mnist-rnn: error: --output $'my\\x0amodel.pt2/.onnx': a name that is only a suffix; name the file, e.g. "
        "$'my\\x0amodel.pt2/model.onnx' (or --format onnx without --output writes "
    )


def test_the_format_is_taken_from_the_output_when_left_out_and_in_any_case(checkpoint, tmp_path, capsys):
    """`--output model.onnx` said "the following arguments are required: --format"; `--format PT2` was refused
    while `--output model.PT2` was taken."""
    for args in (["--output", str(tmp_path / "digits.PT2")], ["--format", "PT2", "--output", str(tmp_path / "b.pt2")]):
        main(["export", "--ckpt_path", str(checkpoint), *args])
        assert f"Wrote {args[-1]}" in capsys.readouterr().out
        assert torch.export.load(args[-1]).module()(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))[0].shape == (2, 10)


def test_the_serve_docs_preparation_example_runs_as_written_and_reads_the_frame_count(
    checkpoint, tmp_path, monkeypatch
):
    """docs/serve.md's example of preparing a picture for the exported file, as serve does, said nothing of an
    animation's frames, which serve's answer and predict give (``info["frames"]``); run as written, on an
    animated PNG named as the example names its picture."""
    import re

    from tests.helpers import render_digit

    export.export_checkpoint(checkpoint, "onnx", tmp_path / "model.onnx", check=False)
    frames = [render_digit(k, canvas=(120, 120), size=90, ink=0, paper=255) for k in (7, 1, 4)]
    frames[0].save(tmp_path / "scan.png", save_all=True, append_images=frames[1:], duration=200)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "serve.md").read_text(encoding="utf-8"), re.S)
    (example,) = [block for block in blocks if "decode_image(" in block]
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(example, "docs/serve.md", "exec"), names)
    assert names["images_uint8"].shape == (1, 1, 28, 28) and not names["prepared"].blank
    assert names["image"].info["frames"] == 3
