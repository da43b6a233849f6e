"""The bad inputs of issues 7 and 14, each with the way to make it and a piece of the message the user must see.

Shared by ``tests/test_cli.py`` (each must fail cleanly) and ``docs/make_errors_table.py`` (the table of
exact messages in ``docs/errors.md``), so that the documented messages are the tested ones.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tests.helpers import fake_digits, write_fake_set, write_idx

RAW = Path("MNIST") / "raw"


def _truncate(root: Path) -> None:
    path = root / RAW / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])


def _wrong_magic(root: Path) -> None:
    # A labels file where the images file should be: the classic mix-up of two downloads.
    path = root / RAW / "train-images-idx3-ubyte"
    path.write_bytes((root / RAW / "train-labels-idx1-ubyte").read_bytes())


def _wrong_size(root: Path) -> None:
    write_idx(root / RAW / "train-images-idx3-ubyte", np.zeros((240, 32, 32), dtype=np.uint8))


def _fewer_labels(root: Path) -> None:
    _, labels = fake_digits(240, seed=0)
    write_idx(root / RAW / "train-labels-idx1-ubyte", labels[:200])


def _bad_label(root: Path) -> None:
    _, labels = fake_digits(240, seed=0)
    labels[17] = 12
    write_idx(root / RAW / "train-labels-idx1-ubyte", labels)


def _no_files(root: Path) -> None:
    for path in (root / RAW).iterdir():
        path.unlink()


def _only_fashion(root: Path) -> None:
    _no_files(root)
    write_fake_set(root, "FashionMNIST")


def _text_file(root: Path) -> None:
    (root.parent / "notes.txt").write_text("not a checkpoint\n")


def _state_dict_file(root: Path) -> None:
    # What torch.save(model.state_dict()) users hand over: weights, but no Lightning checkpoint around them.
    torch.save({"state_dict": {"head.weight": torch.zeros(10, 128)}}, root.parent / "weights.pt")


def _bad_yaml(root: Path) -> None:
    (root.parent / "bad.yaml").write_text("model:\n  hidden_size: 64\n  cell: [lstm\ndata:\n  batch_size: 20\n")


def _search_space(root: Path) -> None:
    (root.parent / "space.yaml").write_text("model.lr: {log: [1.0e-3, 3.0e-2]}\ndata.batch_size: [64, 128]\n")


def _hparams_yaml(root: Path) -> None:
    # What Lightning writes beside a run's config.yaml: the model's settings, flat, and the class that built it.
    run = root.parent / "lightning_logs" / "version_0"
    (run / "config.yaml").write_text("model:\n  hidden_size: 16\n")
    (run / "hparams.yaml").write_text("_instantiator: lightning.pytorch.cli.instantiate_module\nhidden_size: 16\n")


def _empty_yaml(root: Path) -> None:
    (root.parent / "empty.yaml").write_text("# nothing yet\n")


def _empty_section(root: Path) -> None:
    (root.parent / "section.yaml").write_text("trainer:\n  # max_epochs: 2\nmodel:\n  hidden_size: 16\n")


def _folder_for_file(root: Path) -> None:
    path = root / RAW / "t10k-labels-idx1-ubyte"
    path.unlink()
    path.mkdir()


def _symlink_loop(root: Path) -> None:
    path = root / RAW / "t10k-labels-idx1-ubyte"
    path.unlink()
    path.symlink_to(path.name)


def lightning_checkpoint(path: Path, data: dict | None = None, **hyper_parameters) -> None:
    """A small file with the entries of a Lightning checkpoint that the CLI reads before it loads one: the
    model's ``hyper_parameters`` and the data module's (``data``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "state_dict": {"network.head.bias": torch.zeros(10)},
        "pytorch-lightning_version": "2.6.0",
        "hyper_parameters": hyper_parameters,
        "datamodule_hyper_parameters": data or {},
        "optimizer_states": [],
        "loops": {},
    }
    torch.save(checkpoint, path)


def _checkpoint_without_settings(root: Path) -> None:
    """A checkpoint "slimmed" by hand: its hyper_parameters removed."""
    lightning_checkpoint(root.parent / "slim.ckpt")
    checkpoint = torch.load(root.parent / "slim.ckpt", weights_only=True)
    del checkpoint["hyper_parameters"]
    torch.save(checkpoint, root.parent / "slim.ckpt")


def _other_models_checkpoint(root: Path) -> None:
    torch.save({"state_dict": {"layer.weight": torch.zeros(2, 3)}, "pytorch-lightning_version": "2.6.0"},
               root.parent / "boring.ckpt")  # fmt: skip


def _gru_checkpoint(root: Path) -> None:
    lightning_checkpoint(root.parent / "gru.ckpt", cell="gru")


def _other_split_checkpoint(root: Path) -> None:
    lightning_checkpoint(root.parent / "split1.ckpt", data={"val_size": 40, "split_seed": 1})


def _damaged_checkpoint(root: Path) -> None:
    """gru.ckpt with bytes of its weights overwritten, as a bad disk sector or a broken copy leaves it."""
    path = root.parent / "damaged.ckpt"
    lightning_checkpoint(path, cell="gru")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        record = next(info for info in archive.infolist() if "/data/" in info.filename)
    header = record.header_offset  # its local header: name and extra-field lengths at bytes 26-29, then its bytes
    start = header + 30 + int.from_bytes(data[header + 26 : header + 28], "little")
    start += int.from_bytes(data[header + 28 : header + 30], "little")
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _exported_onnx(root: Path) -> None:
    (root.parent / "digits.onnx").write_bytes(b"\x08\x08\x12\x07pytorch")  # an ONNX file's first fields


def _other_run(root: Path) -> None:
    lightning_checkpoint(root.parent / "lightning_logs/version_0/checkpoints/last.ckpt", hidden_size=64)


@dataclass(frozen=True)
class BadInput:
    what: str  # the row of the table
    args: list[str]  # options added to a normal command
    expected: str  # a piece of the one-line message
    break_data: Callable[[Path], None] | None = None  # what to do to a good fake data folder
    command: str = "fit"
    earlier_run: bool = True  # whether the folder holds an earlier run's last.ckpt (which must stay as it is)


BAD_INPUTS = [
    BadInput("data missing, no network", [], "MNIST files not found in", _no_files),
    BadInput(
        "Fashion-MNIST's folder without `--data.dataset`",
        [],
        "data holds FashionMNIST/raw/: --data.dataset fashion_mnist reads that.",
        _only_fashion,
    ),
    BadInput("truncated IDX file", [], "truncated: its header promises 240 images", _truncate),
    BadInput("wrong magic number", [], "not an IDX image file (magic number 0x00000801", _wrong_magic),
    BadInput("wrong image size", [], "images are 32x32 pixels, expected 28x28", _wrong_size),
    BadInput("image and label files of different lengths", [], "holds 240 images but", _fewer_labels),
    BadInput("label outside 0-9", [], "labels must be 0-9, found 12 at index 17", _bad_label),
    BadInput("`--ckpt_path` that does not exist", ["--ckpt_path", "missing.ckpt"], "missing.ckpt: no such file"),
    BadInput("`--ckpt_path` that is not a checkpoint", ["--ckpt_path", "notes.txt"], "not a checkpoint", _text_file),
    BadInput(
        "`--trainer.default_root_dir` that names a file",
        ["--trainer.default_root_dir", "notes.txt"],
        "notes.txt is a file, not a folder; run from another folder or pass --trainer.default_root_dir DIR naming a "
        "writable folder",
        _text_file,
    ),
    BadInput(  # jsonargparse's "Parser key "config": File does not exist: '/the/absolute/path'"
        "a `--config` file that does not exist", ["--config", "recipe.yaml"], "--config recipe.yaml: no such file"
    ),
    BadInput(  # jsonargparse's "Does not validate against any of the Union subtypes (Given value: two)"
        "a word for a number",
        ["--trainer.max_epochs", "two"],
        "--trainer.max_epochs two: expected a whole number or null (see fit --help)",
    ),
    BadInput(  # argparse took it for --trainer.max_epochs, and trained for 1 epoch
        "a shortened option",
        ["--trainer.max_epoch", "1"],
        "unrecognized arguments: --trainer.max_epoch 1 (did you mean --trainer.max_epochs?); see fit --help",
    ),
    BadInput(  # Lightning's own Trainer argument; no option was named
        "an option without its section",
        ["--max_epochs", "1"],
        "unrecognized arguments: --max_epochs 1 (did you mean --trainer.max_epochs?); see fit --help",
    ),
    BadInput(
        "`--trainer.devices` naming GPUs on the CPU",
        ["--trainer.accelerator", "cpu", "--trainer.devices", "0,1"],
        "--trainer.devices 0,1: on the CPU (--trainer.accelerator cpu) devices is a number of processes, 1 or more",
    ),
    BadInput(
        "`--checkpoint.monitor` naming no metric of the model",
        ["--checkpoint.monitor", "val/accuracy"],
        "--checkpoint.monitor val/accuracy: the model logs no such metric (did you mean val/acc?); it logs val/acc",
    ),
    BadInput(
        "an `EarlyStopping` monitor naming no metric of the model",
        ["--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor", "val_acc"],
        "EarlyStopping's monitor val_acc: the model logs no such metric (did you mean val/acc?)",
    ),
    BadInput(
        "a single callback (no `+=`) whose monitor names no metric of the model",
        ["--trainer.callbacks", "EarlyStopping", "--trainer.callbacks.monitor", "val/accuracy"],
        "EarlyStopping's monitor val/accuracy: the model logs no such metric (did you mean val/acc?)",
    ),
    BadInput(
        "a `LearningRateFinder` on a resumed run",
        ["--trainer.callbacks+=LearningRateFinder", "--ckpt_path", "last"],
        "--trainer.callbacks LearningRateFinder with --ckpt_path: the search would restart the resumed run from its "
        "first epoch",
    ),
    BadInput(
        "`--checkpoint.dirpath` inside a file",
        ["--checkpoint.dirpath", "notes.txt/checkpoints"],
        "cannot write this run's checkpoints in --checkpoint.dirpath notes.txt/checkpoints: ",
        _text_file,
    ),
    BadInput(
        "`--trainer.default_root_dir` whose name is not UTF-8 text",
        ["--trainer.default_root_dir", os.fsdecode(b"r\xfcns")],
        "r\\xfcns: its name holds the byte 0xfc, which is not UTF-8 text, which the loggers' settings do not take",
    ),
    BadInput(
        "`--ckpt_path last` with no earlier run", ["--ckpt_path", "last"], "no last.ckpt found", earlier_run=False
    ),
    BadInput(
        "`--ckpt_path last` where only another run's (64 units) is",
        ["--ckpt_path", "last"],
        "has model.hidden_size=64 (this command: 128)",
        _other_run,
        earlier_run=False,
    ),
    BadInput(
        "resuming with a model option that disagrees with the checkpoint",
        ["--ckpt_path", "gru.ckpt", "--model.cell", "lstm"],
        "was trained with other settings: model.cell='lstm' (checkpoint: 'gru')",
        _gru_checkpoint,
    ),
    BadInput(
        "resuming with a data split (or batch size, data set) other than the checkpoint's run's",
        ["--ckpt_path", "split1.ckpt"],
        "its run read the data with other settings than this command: data.split_seed=0 (its run: 1); resume it",
        _other_split_checkpoint,
    ),
    BadInput(
        "an ONNX model written by `export` as `--ckpt_path`",
        ["--ckpt_path", "digits.onnx"],
        "an ONNX model written by export, not a Lightning checkpoint: give the .ckpt it was exported from",
        _exported_onnx,
    ),
    BadInput(
        "a `torch.save(model.state_dict())` file as `--ckpt_path`",
        ["--ckpt_path", "weights.pt"],
        "a state_dict saved with torch.save, not a Lightning checkpoint",
        _state_dict_file,
        command="test",
    ),
    BadInput(
        "a checkpoint whose bytes changed on the disk",
        ["--ckpt_path", "damaged.ckpt"],
        "does not match the checksum torch.save wrote (bytes changed on the disk or in a copy)",
        _damaged_checkpoint,
        command="test",
    ),
    BadInput("`test` without `--ckpt_path`", [], "test needs a trained model: pass --ckpt_path", command="test"),
    BadInput(
        "`test` with another model's Lightning checkpoint",
        ["--ckpt_path", "boring.ckpt"],
        "a Lightning checkpoint, but not of this project's model (no network weights)",
        _other_models_checkpoint,
        command="test",
    ),
    BadInput(
        "`test` with a checkpoint stripped of its `hyper_parameters`",
        ["--ckpt_path", "slim.ckpt"],
        "slim.ckpt: holds no hyper_parameters (the model's settings, which Lightning saves beside the weights)",
        _checkpoint_without_settings,
        command="test",
    ),
    BadInput(
        "`test` of no batches",
        ["--ckpt_path", "gru.ckpt", "--trainer.limit_test_batches", "0"],
        "--trainer.limit_test_batches 0 leaves test nothing to do",
        _gru_checkpoint,
        command="test",
    ),
    BadInput(
        "`test --ckpt_path lightning_logs`: the folder of the runs, not a run",
        ["--ckpt_path", "lightning_logs"],
        "--ckpt_path lightning_logs: a folder of runs, not a run: pass one of them, such as the newest, --ckpt_path "
        "lightning_logs/version_0",
        command="test",
    ),
    BadInput(
        "`test --ckpt_path best` when the run recorded no best",
        ["--ckpt_path", "best"],
        "recorded no best checkpoint",
        command="test",
    ),
    BadInput("YAML syntax error", ["--config", "bad.yaml"], "bad.yaml: not valid YAML at line 4", _bad_yaml),
    BadInput(
        "a search space of `tune` given to `fit` as a config",
        ["--config", "space.yaml"],
        "space.yaml: a search space for tune (model.lr is a range), not a config: ",
        _search_space,
    ),
    BadInput(
        "a run's `hparams.yaml` given as a config",
        ["--config", "lightning_logs/version_0/hparams.yaml"],
        "hparams.yaml: the model's hyperparameters as Lightning saves them, not a config: the run's settings are "
        "--config lightning_logs/version_0/config.yaml",
        _hparams_yaml,
    ),
    BadInput("empty YAML", ["--config", "empty.yaml"], "empty.yaml: the file is empty", _empty_yaml),
    BadInput(
        "a YAML section whose settings are all commented out",
        ["--config", "section.yaml"],
        "section.yaml: trainer: has no settings under it",
        _empty_section,
    ),
    BadInput("a data file that is a folder", [], "t10k-labels-idx1-ubyte: a folder, not a file", _folder_for_file),
    BadInput("a data file that is a symbolic link loop", [], "a symbolic link that loops", _symlink_loop),
    BadInput(
        "mistyped `--data.data_dir`, no network", ["--data.data_dir", "dta"], "MNIST files not found in dta/MNIST/raw/"
    ),
    BadInput(
        "`--data.data_dir` naming the files' own folder",
        ["--data.data_dir", "data/MNIST/raw"],
        "the MNIST files are in data/MNIST/raw/, not in data/MNIST/raw/MNIST/raw/: pass the folder that holds "
        "MNIST/raw/: --data.data_dir data",
    ),
    BadInput(
        "batch larger than the training set",
        ["--data.batch_size", "500"],
        "batch_size=500 is more than the 200 training images",
    ),
    BadInput(
        "`--trainer.accelerator gpu` where torch sees no GPU",
        ["--trainer.accelerator", "gpu"],
        "no GPU is visible to torch",
    ),
    BadInput(
        "forget bias on a GRU",
        ["--model.cell", "gru", "--model.forget_bias", "1.0"],
        "forget_bias applies to LSTM cells only, not 'gru'",
    ),
    BadInput(
        "chrono initialisation on a GRU",
        ["--model.cell", "gru", "--model.chrono_init", "true"],
        "chrono_init applies to LSTM cells only, not 'gru': pass --model.chrono_init false",
    ),
    BadInput(
        "2-D augmentation on a permuted sequence",
        ["--model.sequence", "permuted", "--model.augment_shift", "2"],
        "reads the pixels in a fixed shuffled order, so augmentation that moves them in 2-D does not apply",
    ),
    BadInput(
        "image size set by hand (it comes from the data)",
        ["--model.image_size", "32"],
        "--model.image_size is not an option: the model takes it from the data set",
    ),
    BadInput(
        "`--data.data_dir` naming a file",
        ["--data.data_dir", "notes.txt"],
        "notes.txt: a file, not a folder",
        _text_file,
    ),
    BadInput(
        "`test --ckpt_path best` with no earlier run",
        ["--ckpt_path", "best"],
        "/lightning_logs/version_*/checkpoints/ (the best checkpoint is looked up through a run's last.ckpt)",
        command="test",
        earlier_run=False,
    ),
    BadInput(
        "`predict` where `--data.predict_path` does not exist",
        ["--ckpt_path", "gru.ckpt", "--data.predict_path", "nothing"],
        "--data.predict_path nothing: no such file or folder",
        _gru_checkpoint,
        command="predict",
    ),
    BadInput(
        "`predict` without `--ckpt_path`",
        ["--data.predict_path", "data"],
        "predict needs a trained model: pass --ckpt_path CHECKPOINT (or last, or best)",
        command="predict",
    ),
    BadInput(
        "`predict` without `--data.predict_path`",
        ["--ckpt_path", "gru.ckpt"],
        "predict needs images: pass --data.predict_path FILE, FOLDER or GLOB",
        _gru_checkpoint,
        command="predict",
    ),
    BadInput(
        "`predict` where `--data.predict_path` finds no image",
        ["--ckpt_path", "gru.ckpt", "--data.predict_path", "nothing*.png"],
        "no images found at nothing*.png",
        _gru_checkpoint,
        command="predict",
    ),
]


# One option given a value the command refuses, on good data: (the row, the option, its value, the message).
REFUSED_VALUES = [
    ("hidden size <= 0", "--model.hidden_size", "0", "hidden_size must be positive, got 0"),
    ("layers <= 0", "--model.num_layers", "0", "num_layers must be positive, got 0"),
    ("batch size <= 0", "--data.batch_size", "0", "batch_size must be positive, got 0"),
    ("preparing processes < 0", "--data.prepare_workers", "-1", "prepare_workers must be 0 or more, got -1"),
    ("epochs <= 0", "--trainer.max_epochs", "0", "max_epochs must be positive"),
    ("lr <= 0", "--model.lr", "-0.1", "lr must be positive, got -0.1"),
    ("`val_size` >= the training set", "--data.val_size", "240", "val_size=240 leaves no training images"),
    ("unknown cell", "--model.cell", "tcn", "--model.cell tcn: not one of lstm, gru, rnn"),
    (
        "misspelled sequence mode",
        "--model.sequence",
        "row",
        "--model.sequence row: not one of rows, pixels, permuted (did you mean rows?)",
    ),
    ("unknown optimizer", "--model.optimizer", "sgd", "--model.optimizer sgd: not one of adam, adamw"),
    (
        "unknown learning-rate schedule",
        "--model.lr_schedule",
        "linear",
        "--model.lr_schedule linear: not one of constant, onecycle, cosine",
    ),
    (
        "a data set's name as its folder has it",
        "--data.dataset",
        "FashionMNIST",
        "--data.dataset FashionMNIST: not one of mnist, fashion_mnist, kmnist (did you mean fashion_mnist?)",
    ),
    ("a negative seed", "--seed_everything", "-1", "--seed_everything must be between 0 and 4294967295"),
    ("`--trainer.accelerator mps` off a Mac", "--trainer.accelerator", "mps", "mps: not available"),
    ("`--trainer.accelerator tpu` without torch_xla", "--trainer.accelerator", "tpu", "tpu: not available"),
    (
        "a misspelled accelerator",
        "--trainer.accelerator",
        "cpux",
        "cpux: no such accelerator (did you mean cpu?); choose one",
    ),
    ("a precision Lightning has no name for", "--trainer.precision", "fp16", "fp16: no such precision; choose one"),
    ("`--model.cuda_graph true` without a CUDA GPU", "--model.cuda_graph", "true", "cuda_graph true needs a CUDA GPU"),
    ("no training batches", "--trainer.limit_train_batches", "0", "limit_train_batches 0 trains nothing"),
    ("gradients accumulated over 0 batches", "--trainer.accumulate_grad_batches", "0", "must be 1 or more, got 0"),
    ("validation every 0 epochs", "--trainer.check_val_every_n_epoch", "0", "must be 1 or more (or null"),
    ("no epoch limit under the one-cycle schedule", "--trainer.max_epochs", "-1", "lr schedule without an end"),
    # Lightning's own checks, made when the run starts (after the run folder was begun: it is removed).
    ("validation beyond the epoch", "--trainer.val_check_interval", "1000", "`val_check_interval` (1000) must be"),
    ("a fraction of the batches that is none", "--trainer.limit_train_batches", "0.001", "0.001 * 10 < 1"),
    ("a misspelled strategy", "--trainer.strategy", "ddpp", "invalid strategy name: `strategy='ddpp'`"),
]
BAD_INPUTS += [BadInput(what, [option, value], expected) for what, option, value, expected in REFUSED_VALUES]


def make_data(root: Path, case: BadInput) -> Path:
    """A fake MNIST data folder under ``root``, broken the way ``case`` says, and an earlier run's
    ``lightning_logs/version_0/checkpoints/last.ckpt`` unless the case says there is none."""
    data = root / "data"
    write_fake_set(data, "MNIST")
    if case.earlier_run:
        earlier = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
        earlier.parent.mkdir(parents=True)
        torch.save({"state_dict": {}, "epoch": 3}, earlier)
    if case.break_data is not None:
        case.break_data(data)
    return data


BAD_INPUTS += [
    BadInput(
        "a Lightning callback without its required setting",
        ["--trainer.callbacks+=EarlyStopping"],
        "--trainer.callbacks lightning.pytorch.callbacks.EarlyStopping: the following arguments are required: monitor",
    ),
    BadInput(
        "a Lightning logger with a misspelled setting",
        ["--trainer.logger", "CSVLogger", "--trainer.logger.save_dirr", "logs"],
        "CSVLogger: Option 'save_dirr' is not accepted (did you mean trainer.logger.save_dir?)",
    ),
]
