"""Command line: ``python -m mnist_rnn fit|validate|test|predict`` (or ``mnist-rnn``), built on LightningCLI.

``export``, ``serve`` and ``calibrate`` (:mod:`mnist_rnn.export`, :mod:`mnist_rnn.serve`,
:mod:`mnist_rnn.calibration`) run no Trainer: ``main`` hands them their arguments before LightningCLI sees any.

Adds to LightningCLI: this project's defaults (TensorBoard under ``lightning_logs/``, a checkpoint of the best
``val/acc`` plus ``last.ckpt``, a seed, one CPU thread per idle core: :mod:`mnist_rnn.cpu_threads`), the values the
model takes from the data, the test of the best checkpoint after ``fit``, the CSV of ``predict``, and the one place
where known errors become a clear one-line message. Settings, config files and ``--ckpt_path`` are checked right
after parsing, so a bad one fails before any folder or file is written. ``--ckpt_path last`` means the newest
``last.ckpt`` of the earlier runs with this command's settings, ``--ckpt_path best`` that run's best checkpoint, and
``--ckpt_path FOLDER`` the ``last.ckpt`` of that run folder for ``fit``, its best checkpoint for the others (see
:mod:`mnist_rnn.checkpoint`).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import importlib
import inspect
import logging
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import sys
import threading
import traceback
import typing
import warnings
import zipfile
from argparse import ArgumentError
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import lightning
import torch
import yaml
from jsonargparse import Namespace
from jsonargparse.typing import register_type
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Trainer
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar, Timer, TQDMProgressBar
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities import LightningEnum

try:  # private in jsonargparse: without it, --print_config prints as jsonargparse parses, as before
    from jsonargparse._actions import _ActionPrintConfig

    _ActionPrintConfig.skip_print_config, _ActionPrintConfig.print_config_if_requested  # noqa: B018 (both used)
except (ImportError, AttributeError):  # pragma: no cover
    _ActionPrintConfig = None

from mnist_rnn import stopping
from mnist_rnn.calibration import N_BINS, calibrate_checkpoint, temperature_text
from mnist_rnn.checkpoint import (
    AtomicCheckpointIO,
    OneOf,
    SafeModelCheckpoint,
    calibrate_then_test,
    check_checkpoint,
    checkpoint_named,
    load_keys,
    run_config_section,
    saved_settings,
    setting_differences,
    state_dict_problem,
)
from mnist_rnn.data import DATA_TO_MODEL, NEEDS_IMAGES, MNISTDataModule, warn_run_folder_gone
from mnist_rnn.errors import (
    NoSpaceError,
    UserError,
    byte_not_utf8,
    first_line,
    pasted,
    paths_given_as_arguments,
    printed_name,
    shown_name,
    shown_text,
    tell,
    unrecognized_arguments,
    value_like_an_option,
    warn,
    with_slashes,
)
from mnist_rnn.finite_loss import StopOnNonFiniteLoss
from mnist_rnn.help import HelpWithTheValues, PlainHelpFormatter, keep_library_defaults
from mnist_rnn.inference import note_if_uncalibrated
from mnist_rnn.model import RNNClassifier, not_calibrated
from mnist_rnn.network import NETWORK_DEFAULTS
from mnist_rnn.precision import FALLBACK, FULL_PRECISIONS, precision_name, supported_precision
from mnist_rnn.predictions import PredictionWriter
from mnist_rnn.process_group import LOST_THE_FIRST, lost_a_peer, stop_spawned_processes_cleanly
from mnist_rnn.tools import expand_home, program_name
from mnist_rnn.user_images import missing, what_is_missing

# The data settings that make a run what it is (with the model's), compared by --ckpt_path last.
RUN_DATA_SETTINGS = ("dataset", "batch_size", "val_size", "split_seed")
# The trainer settings that tell a run from a shorter trial of the same model (a smoke run with
# --trainer.limit_train_batches 20); --ckpt_path last prefers the run that agrees with them. Not max_epochs,
# max_steps nor max_time: a resumed run may go on for longer.
RUN_TRAINER_SETTINGS = (
    "limit_train_batches",
    "limit_val_batches",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "val_check_interval",
    "check_val_every_n_epoch",
    "overfit_batches",
)
# Commands that run no Trainer, so not LightningCLI's: each has its own argparse and main(argv) in its module
# (tune runs its trials' Trainers in processes of its own).
# One entry each: the command -> (its module, what it does, for the top-level --help).
TOOLS: dict[str, tuple[str, str]] = {
    "export": ("mnist_rnn.export", "write the model as ONNX or torch.export, checked against PyTorch"),
    "serve": ("mnist_rnn.serve", "an HTTP server with a page to draw digits on"),
    "calibrate": ("mnist_rnn.calibration", "fit a checkpoint's probability temperature on its validation split"),
    "tune": ("mnist_rnn.tune", "search fit's settings with Optuna (pruned, resumable, parallel)"),
}
TRAINER_COMMANDS = ("fit", "validate", "test", "predict")
COMMAND_HELP = {
    "fit": "train, then calibrate and test the best checkpoint",
    "validate": "score a checkpoint on the validation images its run held out",
    "test": "score a checkpoint on the test set, with TensorBoard's pictures of it",
    "predict": "classify your own pictures (a file, a folder or a glob): a CSV of classes and probabilities",
}
# The top-level --help's words on the list of commands, and where to begin, for a newcomer.
COMMANDS_HELP = "Add --help after a command for its options: fit --help."
# Its commands indented, each in a line of its own (not cut where the line ends), to copy.
START_HELP = (
    "To begin, train with the quick recipe (MNIST is downloaded into data/ first), which ends by testing its best "
    "checkpoint:\n\n  {program} fit --config configs/fast.yaml\n\nthen classify your own pictures with that "
    "checkpoint:\n\n  {program} predict --ckpt_path best --data.predict_path my_digits/\n\nREADME.md says more."
)
# What the commands that use a checkpoint take from it, in their --help: the model's options there showed the
# project's defaults (hidden_size 128, ...), which the checkpoint's settings replace as the command runs.
_NOT_CHANGED = "the --model options below (the project's defaults) do not change it"
CHECKPOINT_SETTINGS_HELP = {
    **dict.fromkeys(
        ("validate", "test"),
        f"It uses the checkpoint's model, with its settings: {_NOT_CHANGED}; and unless given here, the data set, "
        "its folder (where it is still there) and the precision are the checkpoint's too.",
    ),
    "predict": f"It uses the checkpoint's model, with its settings and its data set's classes: {_NOT_CHANGED}; it "
    "runs in float32 (32-true).",
}
CHECKPOINT_DIRPATH_HELP = (
    "The folder of the run's checkpoints (best val/acc and last.ckpt); default: the run's folder's checkpoints/ "
    "(lightning_logs/version_N/checkpoints/)"
)
# What other tools call some of the commands, for "did you mean ...?".
OTHER_NAMES = {"train": "fit", "eval": "test", "evaluate": "test", "infer": "predict", "inference": "predict"}
# pyproject.toml's optional extras, by the packages they bring: a tool run without its extra says which to
# install, in one line, instead of a traceback ending in ModuleNotFoundError.
EXTRA_OF = {
    **dict.fromkeys(("litserve", "fastapi", "starlette", "multipart", "python_multipart", "anyio"), "serve"),
    **dict.fromkeys(("onnx", "onnxscript", "onnxruntime"), "serve"),
    "optuna": "tune",
}

# LightningCLI's help of --seed_everything ran two sentences together ("before classes instantiation.Set to True"),
# and said nothing of false.
SEED_HELP = (
    "Seed of the random generators (Python's, NumPy's, torch's and the DataLoader workers'), set before the model "
    "and data are made: a whole number from 0 to 4294967295; true draws one at random (said, and saved in the run's "
    "config.yaml); false seeds nothing."
)
# --ckpt_path in this project's terms (Lightning's own help speaks of "hpc" and "registry").
CKPT_PATH_HELP = (
    "The checkpoint to start from: a .ckpt file; `last`: the newest last.ckpt of an earlier run with this "
    "command's settings (under lightning_logs/version_*/checkpoints/, or --checkpoint.dirpath); `best`: that "
    "run's best val/acc checkpoint (not for fit, which resumes from a run's last state); or a run folder "
    "(lightning_logs/version_3): for fit its last.ckpt, else its best checkpoint. fit resumes training from it; "
    "validate, test and predict use its weights and its model settings."
)

# torch.device as its name ("cpu", "cuda:1"): jsonargparse wrote a default device (StochasticWeightAveraging's
# device=torch.device("cpu")) into the run's config.yaml as "Unable to serialize instance cpu", a config that
# ended in torch's "Invalid device string" when given back to --config.
register_type(torch.device, serializer=str, deserializer=torch.device)
# Lightning's string enums (Timer's interval=Interval.step) as their value: YAML's safe dumper refused them,
# and every fit with a Timer callback ended in a traceback writing its config.yaml (--print_config too).
yaml.SafeDumper.add_multi_representer(LightningEnum, lambda dumper, value: dumper.represent_str(value.value))

# Lightning warns that a run resumed in the middle of an epoch may give "unreliable results": the rest of
# that epoch reshuffles the training set (from the random state the checkpoint saved), so some images come
# twice and others not at all in that one epoch. Nothing a user can change; a stop by Ctrl+C always lands
# there.
warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended.*")
# Lightning (2.6) builds torch's LeafSpec when it moves a batch, which newer torch versions deprecate: a
# FutureWarning printed in the middle of predict's output that no user of this project can act on.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)
# Lightning's model summary cannot size bf16-mixed's weights, and says so in two lines on every run of
# configs/fast.yaml: its sizes are of the float32 weights, which are what bf16-mixed keeps.
warnings.filterwarnings("ignore", message="Precision bf16-mixed is not supported by the model summary")
# build_cli(args) is called in code (tune, benchmarks.throughput) with the settings it means: LightningCLI's
# warning that the process's own command line (the benchmark's options) goes unused is not for anyone.
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended to run from within Python")
# predict with no readable picture (each named in its own line, with an error row and exit status 2): Lightning's
# "Total length of `DataLoader` across ranks is zero. Please make sure this was your intention." among them. The
# training, validation and test sets are never empty (a data set that holds no image is refused before).
warnings.filterwarnings("ignore", message=r"Total length of .* across ranks is zero")


class _WithoutTips(logging.Filter):
    """Lightning's tips ("💡 Tip: ... try installing litlogger") advertise its cloud services on every run and
    say nothing about the run: the command line leaves them out of its output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


# Lightning's rank_zero_info logs through one of these two loggers (whichever its package set up last).
for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_WithoutTips())


def _quiet_tensorboard_writer(args: threading.ExceptHookArgs, previous: Any = threading.excepthook) -> None:
    """TensorBoard's writer thread prints the traceback of its failed write (a full disk) as it ends, and hands
    the error to the main thread, which ends the command with one line saying it (:func:`known_failure`)."""
    if type(args.thread).__name__ != "_AsyncWriterThread" or not isinstance(args.exc_value, OSError):
        previous(args)


threading.excepthook = _quiet_tensorboard_writer


class _WithoutSigtermNotice(logging.Filter):
    """Lightning logs "[rank: 0] Received SIGTERM: 15" on SIGTERM, and so on Ctrl+C, which the checkpoint
    callback turns into a SIGTERM: a signal the user did not send, named between our two lines that say
    what stops and why (:mod:`mnist_rnn.stopping`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Received SIGTERM" not in str(record.msg)


logging.getLogger("lightning.pytorch.trainer.connectors.signal_connector").addFilter(_WithoutSigtermNotice())


class _HeldBack(logging.Filter):
    """Keeps the records of a logger instead of printing them, for :meth:`release` to print later."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False

    def release(self) -> None:
        """Print the records kept, as they would have been printed then."""
        records, self.records = self.records, []
        for record in records:
            logging.getLogger(record.name).handle(record)


# Lightning's "Seed set to 42", logged as the seed is set, before the model and the data are made.
SEED_LOG = logging.getLogger("lightning.fabric.utilities.seed")


class SaveOwnConfig(SaveConfigCallback):
    """LightningCLI's copy of the run's settings (``config.yaml`` in the run's folder), which replaces only a file
    it saved itself and that is not one of the command's own ``--config`` files (a copy of a run's settings, edited,
    keeps LightningCLI's first line). Replacing is needed (a run resumed into its named version's folder saves its
    settings again), but without a logger the run's folder is the working folder: ``fit --config config.yaml
    --trainer.logger false`` replaced the user's own hand-written config.yaml with the dumped settings. It names
    the data folder absolutely, as the checkpoint does."""

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if stage == "predict" and trainer.logger is None:
            return  # a predict that logs nothing writes nothing: its table is on stdout
        data = self.config.get("data")
        if isinstance(data, Namespace) and isinstance(data.get("data_dir"), str):
            # The run again with --config, from any folder: a relative data_dir named another folder there (not
            # found offline; online, a download of the data set into it), as the checkpoint's does not.
            data.data_dir = os.path.abspath(os.path.expanduser(data.data_dir))
        if not self.already_saved and self.save_to_log_dir:
            path = Path(trainer.log_dir or ".") / self.config_filename  # (log_dir is a collective: every process)
            given = {os.path.realpath(str(p)) for p in (self.config.get("config") or [])}  # this command's --config
            yours = path.is_file() and (not _saved_settings(path) or os.path.realpath(path) in given)
            if trainer.is_global_zero and yours:
                raise UserError(
                    f"{shown_name(path)} is not a config this command saved, and the run would replace it with its own "
                    "settings (a run without a logger saves them in its --trainer.default_root_dir): move the file, "
                    "or pass --trainer.default_root_dir DIR"
                )
            if path.is_file() and not self.config.get("ckpt_path"):  # a resumed run saves its settings again
                # A version named by hand, used again (or one folder without a logger): Lightning's own callback
                # refuses; this one replaces the file, as a resume needs, so it says so. Without a logger there
                # is no version to name: the folder is the root dir (it advised --trainer.logger.version).
                apart = "--trainer.logger.version" if trainer.logger is not None else "--trainer.default_root_dir"
                warn(
                    f"{shown_name(path.parent)} holds an earlier run: its {self.config_filename} is replaced by this "
                    f"command's settings, and both runs' files are mixed there (another {apart} keeps them apart)"
                )
        super().setup(trainer, pl_module, stage)


def _saved_settings(path: Path) -> bool:
    """Whether ``path`` is settings LightningCLI saved: it starts with its line ``# lightning.pytorch==2.6.6``."""
    with open(path, "rb") as file:
        return file.read(40).startswith((b"# lightning.pytorch==", b"# lightning==", b"# pytorch_lightning=="))


class MNISTRNNCLI(LightningCLI):
    """LightningCLI with this project's defaults, early checks, safe checkpoints and the test-after-fit step."""

    # validate on a split other than the checkpoint's run held out (chosen by the user): said in its line.
    split_differs = False
    # The model.* and data.* options typed on the command line.
    typed: frozenset[str] = frozenset()
    # --print_config of a command that reads a checkpoint: what jsonargparse would have printed it with, kept
    # until the checkpoint's settings are in (see parse_arguments).
    print_config_later: dict[str, Any] | None = None
    # test or validate with a data set typed that is not the checkpoint's: refused once the model is built.
    other_data_set = False
    # Lightning's "Seed set to N", kept from when the seed is set until the Trainer is made (see _set_seed).
    seed_line: _HeldBack | None = None

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The bar refreshes every 20 steps, not every step: each refresh reads the logged loss, which waits
        # for the GPU. --trainer.enable_progress_bar false still works (it sets refresh_rate to 0).
        parser.add_lightning_class_args(TQDMProgressBar, "progress_bar")
        # Its --help title was its docstring's first lines, cut at "It prints to stdout using the tqdm package and:".
        parser.groups["progress_bar"].title = "The progress bar (Lightning's TQDMProgressBar)"
        parser.set_defaults({"progress_bar.refresh_rate": 20})
        parser.add_lightning_class_args(SafeModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(StopOnNonFiniteLoss, "finite_loss")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                # No "/" from the metric name in the file name: it would make a sub-folder.
                "checkpoint.filename": "best-epoch{epoch:02d}-val_acc{val/acc:.4f}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        for name in DATA_TO_MODEL:
            parser.link_arguments(f"data.{name}", f"model.{name}", apply_on="instantiate")
        # Lightning's int-or-float batch counts come to jsonargparse as Union[float, int, None] (typing keeps
        # one object for equal unions, whichever order was made first), so it tried float first:
        # --trainer.limit_test_batches 1, one batch, was read as 1.0, every batch. The run itself was put
        # right as the Trainer was made, but its saved config.yaml and --print_config said 1.0, and ran every
        # batch when given back to --config. Whole numbers first.
        for action in parser._actions:
            if action.dest.removeprefix("trainer.") in BATCH_COUNTS and hasattr(action, "_typehint"):
                action._typehint = int | float | None  # a new object, made here: not typing's cached one

    def setup_parser(
        self, add_subcommands: bool, main_kwargs: dict[str, Any], subparser_kwargs: dict[str, Any]
    ) -> None:
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        for name, parser in getattr(self, "_subcommand_parsers", {}).items():
            # `fit --help` began with Lightning's Trainer docstring, cut mid-sentence ("Perform one evaluation
            # epoch over the test set. It's separated from fit to make sure you never run on your"), also the
            # title of the group of --ckpt_path.
            what = COMMAND_HELP.get(name, name)
            parser.description = f"{what[0].upper()}{what[1:]}."
            if name in CHECKPOINT_SETTINGS_HELP:
                parser.description += f" {CHECKPOINT_SETTINGS_HELP[name]}"
            for group in parser._action_groups:
                if any(action.dest == "ckpt_path" for action in group._group_actions):
                    group.title = f"The checkpoint, and {name}'s own options"
            for action in parser._actions:
                if action.dest == "ckpt_path":
                    action.help = CKPT_PATH_HELP
                elif action.dest == "checkpoint.dirpath":  # Lightning's says nothing is saved without one
                    action.help = CHECKPOINT_DIRPATH_HELP
                elif action.dest == "seed_everything":
                    action.help = SEED_HELP
            _hide_options_of_fit(name, parser)
        # --help's list of commands: Lightning's Trainer docstrings cut mid-sentence ("It's separated from fit to
        # make sure you never run on your"), and without the tools, which main() runs before LightningCLI.
        commands = next((a for a in self.parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if commands is not None:
            for choice in commands._choices_actions:
                choice.help = COMMAND_HELP.get(choice.dest, choice.help)
            listed = {choice.dest for choice in commands._choices_actions}
            commands._choices_actions += [
                argparse._SubParsersAction._ChoicesPseudoAction(name, (), what)
                for name, (_, what) in TOOLS.items()
                if name not in listed
            ]
            # Under "subcommands:", jsonargparse's "For more details of each subcommand, add it as an argument
            # followed by --help.", after the options that only a config of every command's sections uses: the list
            # a newcomer looks for, first, in this project's words.
            groups = self.parser._action_groups
            group = next(group for group in groups if commands in group._group_actions)
            group.title, group.description = "commands", COMMANDS_HELP
            groups.insert(0, groups.pop(groups.index(group)))

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parse, then refuse settings and checkpoints that cannot work, before anything is built or written."""
        stopping.doing("while reading the settings; nothing was written")
        raw_args = [str(arg) for arg in (sys.argv[1:] if args is None else args)] if not isinstance(args, dict) else []
        expanded = _home_in_config_paths(raw_args)
        if expanded != raw_args:  # parsed as the shell would have given them, and checked so
            raw_args = args = expanded
        self.typed = frozenset(_typed_options(raw_args))
        self.raw_args = raw_args
        _check_config_files(raw_args)
        _check_config_places(raw_args)
        _warn_of_options_a_config_replaces(raw_args)
        _check_run_folder_name(raw_args)
        # jsonargparse prints --print_config as it parses, before the checkpoint is read: it showed the defaults
        # (precision: null, data_dir: data/, the default model), not what the run takes from the checkpoint (a
        # resumed fit trains the checkpoint's model). The commands print it once their settings are complete
        # (after the checkpoint's, in before_instantiate_classes).
        later = _ActionPrintConfig is not None and _print_config_given(raw_args) and _command_of(raw_args) is not None
        try:
            with (
                _ActionPrintConfig.skip_print_config() if later else contextlib.nullcontext(),
                warnings.catch_warnings(),
            ):
                # LightningCLI warns of arguments given beside sys.argv's: they are sys.argv's, ~ expanded (above)
                warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
                super().parse_arguments(parser, args)
        except ArgumentError as error:
            # The command's parser holds its options; a CLI built without subcommands (tune's check of its base
            # config) has none, and its own parser holds them.
            commands = getattr(self, "_subcommand_parsers", None)
            stray = _stray_option_before_the_command(parser, raw_args) if commands else None
            command = next((arg for arg in raw_args if arg in commands), None) if commands else None
            said = (
                stray
                or value_like_an_option(str(error), raw_args)
                or paths_given_as_arguments(str(error), raw_args, command)
            )
            if said:
                raise ArgumentError(None, said) from None
            own = commands.get(next((arg for arg in raw_args if arg in commands), "")) if commands else parser
            meant = _option_meant(error, own)
            given_in = _config_file_giving(error, raw_args)
            spaced = _arguments_with_a_space(error, raw_args)
            if meant is None and given_in is None and spaced is None:
                raise
            message = spaced or short_message(error).removesuffix(" (see --help)")
            message = f"--config {shown_name(given_in)}: {message}" if given_in else message
            raise ArgumentError(None, f"{message} (did you mean {meant}?)" if meant else message) from None
        subcommand = self.config.get("subcommand")
        # Without a subcommand (build_cli(run=False): tune's trials, benchmarks) the settings are at the top.
        config = self.config[subcommand] if subcommand else self.config
        if later and hasattr(parser, "print_config"):
            if not config.get("ckpt_path"):  # no checkpoint to read: the settings as given, as jsonargparse prints
                _ActionPrintConfig.print_config_if_requested(parser, self.config)
            # else printed by before_instantiate_classes (not by the parse of the checkpoint's hyperparameters)
            self.print_config_later = vars(parser).pop("print_config")
        expand_home(config)
        _check_blank_settings(config, {"model": self.model_class, "data": self.datamodule_class}, raw_args)
        max_epochs = config.trainer.max_epochs
        if max_epochs is not None and (max_epochs == 0 or max_epochs < -1):
            raise UserError(f"trainer.max_epochs must be positive (or -1 for no limit), got {max_epochs}")
        _check_seed(config.seed_everything)
        if config.seed_everything is True and _launched_by_the_first_process():
            # A DDP process that Lightning started by running this command line again: the first process's
            # seed, which it inherits (a seed of its own shuffled its shard apart from the others').
            config.seed_everything = int(os.environ["PL_GLOBAL_SEED"])
        if config.seed_everything is True:
            # "true: a random seed", but Lightning 2.6's seed_everything(None) seeds 0 every time ("No seed
            # found, seed set to 0"): runs meant to differ came out the same. Drawn here, said, and saved.
            config.seed_everything = secrets.randbelow(2**32)
            if subcommand:
                tell(f"--seed_everything true: drew seed {config.seed_everything} (saved in the run's config.yaml)")
        _check_accelerator(config.trainer.accelerator)
        _check_no_fork(config.trainer, subcommand)
        _check_cpu_devices(config.trainer)
        _check_trainer_counts(config.trainer)
        self.precision_replaced = False
        self.requested_precision = config.trainer.precision  # before a replacement: what --ckpt_path last looks for
        if subcommand != "predict":  # predict runs in float32 whatever the recipe says (below)
            cell = str((config.get("model") or {}).get("cell", "lstm"))
            verb = "runs" if subcommand in ("test", "validate") else "trains"
            precision, replaced = supported_precision(config.trainer.precision, config.trainer.accelerator, cell, verb)
            config.trainer.precision = precision
            if replaced:
                warn(replaced)
                self.precision_replaced = True
        if subcommand is None:
            return
        _check_lengths(subcommand, config)
        if subcommand == "fit":
            _check_data_dir_of_a_config(config, raw_args, self.typed)
            _warn_of_adams_weight_decay(config.model)
            _warn_of_an_unused_permutation_seed(config.model)
            _check_monitors(config)
            _check_no_lr_search_on_resume(config)
        _check_writable(
            config.trainer, subcommand, (config.get("checkpoint") or {}).get("dirpath"), config.get("ckpt_path")
        )  # before Lightning makes the run's folder there
        predict_path = (config.get("data") or {}).get("predict_path") if subcommand == "predict" else None
        if predict_path and missing(predict_path):
            # shown_name: a name with a line break in $'...', on the one line (it split the error in two); with_slashes:
            # photos\a.png, copied from Windows, was "no such file or folder" beside photos/a.png (as --ckpt_path says)
            raise UserError(
                f"--data.predict_path {shown_name(predict_path)}: {what_is_missing(predict_path)}"
                f"{with_slashes(predict_path)}"
            )  # before the Trainer
        if subcommand in ("test", "validate", "predict") and not config.get("ckpt_path"):
            # Lightning would score the untrained weights, and predict print confident nonsense. Here, before
            # the Trainer: predict's own check came after Lightning's lines, without last or best.
            raise UserError(f"{subcommand} needs a trained model: pass --ckpt_path CHECKPOINT (or last, or best)")
        if subcommand == "predict" and not predict_path:
            # The data module's own check came once the Trainer was built, after Lightning's seed and GPU lines.
            raise UserError(NEEDS_IMAGES)
        if config.get("ckpt_path") not in (None, "hpc"):
            config.ckpt_path = str(self._resolve_checkpoint(subcommand, config, self.typed))
        if subcommand != "predict" and not self.other_data_set:  # that data set is refused first (the model's)
            # The data's checks that download and write nothing, before Lightning's lines ("Seed set to 42", "GPU
            # available: ..."), which came first where prepare_data made them. The data settings are the run's
            # now: a checkpoint's, where test and validate read those.
            keys = ("data_dir", "dataset", "batch_size", "val_size")
            data = MNISTDataModule(**{key: config.data[key] for key in keys})
            data.check_folder((False,) if subcommand == "test" else (True, False), fitting=subcommand == "fit")

    def _resolve_checkpoint(self, subcommand: str, config: Any, typed: set[str]) -> Path:
        """The file ``--ckpt_path`` names, checked; say which one when it was found (``last``, ``best``, a folder).

        A resumed ``fit`` refuses model options that disagree with the checkpoint (LightningCLI would replace
        them with its settings without a word); ``test`` and ``predict`` warn that they are ignored.
        """
        resume = subcommand == "fit"
        model = {f"model.{key}": value for key, value in config.model.items() if key not in DATA_TO_MODEL}
        defaults = self._subcommand_parsers[subcommand].get_defaults()
        chosen = {key: value for key, value in model.items() if key in typed or value != defaults.get(key)}
        if resume:  # every setting of the run, its precision too, so the same command resumes its own run
            wanted = {**model, **{f"data.{key}": config.data[key] for key in RUN_DATA_SETTINGS}}
            if config.ckpt_path == "last":
                # Where this machine replaced the command's precision (bf16-mixed, without bfloat16), its run
                # may have trained in either: one moved here from a machine with bfloat16, or one started here.
                # Likewise a run started on such a machine, moved here: it saved the float32 it trained in.
                precision = precision_name(self.requested_precision)
                wanted["trainer.precision"] = (
                    precision if precision in FULL_PRECISIONS else OneOf({precision, FALLBACK})
                )
        else:  # only what the user chose: the checkpoint brings the rest, its data set too (unless typed)
            wanted = {**chosen, **({"data.dataset": config.data.dataset} if "data.dataset" in typed else {})}
        if config.ckpt_path == "best" and resume:
            raise UserError("--ckpt_path best: fit resumes a run from its last state: pass --ckpt_path last")
        folders = self._checkpoint_folders(config)
        preferred = {f"trainer.{key}": config.trainer[key] for key in RUN_TRAINER_SETTINGS} if resume else None
        if resume and config.ckpt_path == "last":
            # Of the runs in either precision, one in the command's own (as trained here) first: a newer float32
            # run of the same recipe was resumed in bf16 by the bf16 command.
            preferred["trainer.precision"] = precision_name(config.trainer.precision)
        # A resumed run says which file once its checks pass (not "resuming from" just before a refusal).
        try:
            path = checkpoint_named(config.ckpt_path, folders, wanted, None if resume else "using", resume, preferred)
        except UserError as error:
            if config.ckpt_path not in ("last", "best"):
                raise
            raise UserError(f"{error}{_loggerless_hint(config.trainer)}") from None
        check_checkpoint(path, resume=resume)
        saved = saved_settings(path)  # read once: the checks below and the data's settings all compare with it
        ignored = setting_differences(chosen, saved)
        if ignored:
            listed = ", ".join(f"{key}={ours!r} (checkpoint: {theirs!r})" for key, ours, theirs in ignored)
            if resume:
                raise UserError(
                    f"--ckpt_path {shown_name(path)} was trained with other settings: {listed}; a resumed run keeps "
                    f"the checkpoint's, so drop these options (or start a new run without --ckpt_path)"
                )
            warn(f"ignoring {listed}: the checkpoint's settings are used")
        if resume:
            _check_resumed_data(path, saved, config)
            _check_something_left_to_train(path, config.trainer)
            if path != Path(config.ckpt_path):  # looked up: last, or a run folder
                tell(f"resuming from {shown_name(path)}")
        if subcommand in ("test", "validate"):
            # another data set than the checkpoint's, typed, is refused once the model is built: in one line,
            # without a note first on the precision it would have run in
            refused = self.other_data_set = _read_the_data_of(saved, config, typed)
            chosen_precision = self._typed_precision()
            if not (refused or chosen_precision) and str(config.trainer.precision) == str(defaults.trainer.precision):
                _run_in_the_precision_of(saved, config)
        if subcommand == "validate":
            self._validate_on_the_split_of(saved, config, typed, defaults)
        return path

    def _validate_on_the_split_of(
        self, saved: dict[str, Any], config: Any, typed: set[str], defaults: dict[str, Any]
    ) -> None:
        """``validate`` scores the images the checkpoint's run held out: its ``val_size`` and ``split_seed``
        (the command's defaults drew another split, partly of images the checkpoint trained on, and called
        them held out). Chosen other values are used, with a warning that the split is not the run's. ``saved``:
        the checkpoint's settings (:func:`mnist_rnn.checkpoint.saved_settings`)."""
        differ = []
        for key in ("val_size", "split_seed"):
            trained, name = saved.get(f"data.{key}"), f"data.{key}"
            if trained is None:
                continue
            if name in typed or config.data[key] != defaults.get(name):
                if config.data[key] != trained:
                    differ.append(f"--{name} {config.data[key]} (the run's: {trained})")
            else:
                config.data[key] = trained
        self.split_differs = bool(differ)
        if differ:
            warn(
                f"{', '.join(differ)}: not the split the checkpoint's run held out, so some of these validation "
                "images were trained on; drop the option to validate on the run's own"
            )

    @staticmethod
    def _checkpoint_folders(config: Any) -> list[Path]:
        """Where earlier runs wrote checkpoints: ``checkpoint.dirpath``, or ``<logs>/version_*/checkpoints``;
        without a logger (``--trainer.logger false``), Lightning's ``<default_root_dir>/checkpoints``."""
        if config.checkpoint.dirpath:
            return [Path(config.checkpoint.dirpath)]
        if config.trainer.logger is False:
            return [Path(_log_root(config.trainer)) / "checkpoints"]
        init_args = _run_logger_args(config.trainer)
        save_dir = _log_root(config.trainer)
        name = init_args.get("name") or "lightning_logs"
        version = init_args.get("version")  # one named (--trainer.logger.init_args.version v1): as the logger names it
        folder = "version_*" if version is None else f"version_{version}" if isinstance(version, int) else str(version)
        runs = Path(save_dir) / name / folder
        # and the folders that runs logged here wrote their checkpoints to (fit --checkpoint.dirpath models):
        # without them, a newer run's were passed over for an older run's, tested without a word
        dirpaths = (
            run_config_section(path, "checkpoint").get("dirpath")
            for path in runs.parent.glob(f"{runs.name}/config.yaml")
        )
        elsewhere = sorted({Path(dirpath) for dirpath in dirpaths if isinstance(dirpath, str) and dirpath})
        return [runs / "checkpoints", *elsewhere]

    def _set_seed(self) -> None:
        """LightningCLI's seed, its line ("Seed set to 42") said as the Trainer is made, with Lightning's others: a
        setting that the model or the data refuses (``--model.hidden_size 0``) ended in its one line after it."""
        self.seed_line = _HeldBack()
        SEED_LOG.addFilter(self.seed_line)
        try:
            super()._set_seed()
        finally:
            SEED_LOG.removeFilter(self.seed_line)

    def instantiate_classes(self) -> None:
        """A class named in the settings that cannot be built (``--trainer.logger WandbLogger`` without wandb,
        a callback whose package is missing): one line with Lightning's reason, not jsonargparse's traceback."""
        try:
            super().instantiate_classes()
        except ValueError as error:
            problem = re.search(r"Problem with given class_path '([^']+)':\s*\n\s*(.+)", str(error))
            if problem is None or isinstance(error, UserError):
                raise
            raise UserError(f"{problem[1]}: {problem[2].strip()}") from error

    def before_instantiate_classes(self) -> None:
        config = self.config.get(str(self.subcommand), self.config)  # flat when run=False
        if self.subcommand == "fit" and self.print_config_later is not None:
            # The resumed run's settings, its checkpoint's model among them, as a recipe to run again: the
            # precision asked for, not this machine's stand-in for it (said in its own line, on every run), and
            # before the changes below, which are this CLI's way of running the settings, not settings.
            config.trainer.precision = self.requested_precision
            self._print_config()
        for logger in _logger_settings(config.trainer):
            init_args = getattr(logger, "init_args", None)
            if init_args is not None and init_args.get("save_dir") == "." and config.trainer.default_root_dir:
                # The loggers' folders (and so the checkpoints' folder) follow --trainer.default_root_dir.
                init_args.save_dir = str(config.trainer.default_root_dir)
        if config.trainer.enable_progress_bar is False:
            # Lightning refuses a progress-bar callback beside enable_progress_bar=False; a bar that never
            # refreshes is the same thing.
            config.trainer.enable_progress_bar = True
            config.progress_bar.refresh_rate = 0
        if config.trainer.enable_checkpointing is False:
            # Likewise for the checkpoint callback, which also stops a run cleanly on a signal: one that saves
            # nothing. The test after fit then tests the final weights, uncalibrated.
            config.trainer.enable_checkpointing = True
            config.checkpoint.save_top_k, config.checkpoint.save_last = 0, False
        if config.get("ckpt_path"):
            # LightningCLI put the checkpoint's hyperparameters in model.*, but the links above would
            # overwrite its data set, statistics and class names with those of --data.dataset.
            trained_on = config.model.get("dataset")
            if trained_on and trained_on != config.data.dataset:
                # predict reads no data set, so one from a config file is the checkpoint's; one typed is the
                # user's belief about the model, wrong (digits for clothes, at 99%, with exit 0 after a warning).
                if self.subcommand != "predict" or "data.dataset" in self.typed:
                    # predict, test and validate read the checkpoint's data set when none is typed; fit does not.
                    reads_its_own = self.subcommand == "predict" or (
                        self.subcommand in ("test", "validate") and "data.dataset" in self.typed
                    )
                    leave_out = " or leave --data.dataset out" if reads_its_own else ""
                    raise UserError(
                        f"the checkpoint was trained on {trained_on}, not {config.data.dataset}: "
                        f"pass --data.dataset {trained_on}{leave_out}"
                    )
                config.data.dataset = trained_on
        if self.subcommand == "predict":
            # stdout is for the CSV; the progress bar would print there too.
            config.progress_bar.refresh_rate = 0
            # One process: the table is written by one process from its own rows, and a folder of
            # images is too little work to share.
            typed = any(arg.startswith("--trainer.devices") for arg in self.raw_args)  # a config's is a recipe's
            if typed and str(config.trainer.devices) not in ("1", "auto"):
                warn(f"predict runs in one process: --trainer.devices {config.trainer.devices} is not used")
            config.trainer.devices = 1
            logger = config.trainer.logger
            if not any(arg.startswith("--trainer.logger") for arg in self.raw_args):  # a config's is fit's recipe
                # predict has nothing to log, and its table is on stdout: each run added a lightning_logs/version_N
                # of its settings and a copy of the table. A logger typed keeps them in a run folder.
                config.trainer.logger = False
            elif logger is True or getattr(logger, "class_path", None) == TENSORBOARD:
                # predict logs no curve: its TensorBoard file, of hyperparameters only, added an empty run to
                # TensorBoard's list for every folder read. The run folder keeps its config and the CSV.
                ours = {"save_dir": config.trainer.default_root_dir or ".", "name": "lightning_logs"}  # for true
                init_args = ours if logger is True else logger.init_args
                kept = {key: init_args.get(key) for key in ("save_dir", "name", "version", "prefix")}
                config.trainer.logger = Namespace(class_path=CSV_LOGGER, init_args=Namespace(**kept))
            # float32: the probabilities serve and the exported models give. A recipe's bf16-mixed (fast.yaml's)
            # rounded them to bfloat16's steps (0.9961 for 0.9978), for no speed that a folder of images needs.
            if str(config.trainer.precision) not in FULL_PRECISIONS:
                if self._typed_precision():  # not dropped unsaid
                    warn(
                        f"predict runs in {FALLBACK} (float32), the probabilities serve and export give: "
                        f"--trainer.precision {config.trainer.precision} is not used"
                    )
                config.trainer.precision = FALLBACK
        if self.print_config_later is not None:  # the settings the run takes, the checkpoint's among them
            self._print_config()

    def _print_config(self) -> None:
        """Print ``--print_config``'s settings (:attr:`print_config_later`), which ends the command."""
        self.parser.print_config = self.print_config_later
        _ActionPrintConfig.print_config_if_requested(self.parser, self.config)

    def _typed_precision(self) -> bool:
        """Whether the command line names a precision (a config's is a recipe's, not the user's choice here)."""
        return any(arg.startswith("--trainer.precision") for arg in self.raw_args)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The Trainer, writing checkpoints through :class:`AtomicCheckpointIO` unless the user chose a
        ``CheckpointIO`` plugin of their own."""
        plugins = self._get(self.config_init, "trainer", default={}).get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            kwargs["plugins"] = [*plugins, AtomicCheckpointIO()]
        if self.seed_line is not None:  # the model and the data are made: the seed's line, before the Trainer's
            self.seed_line.release()
        trainer = super().instantiate_trainer(**kwargs)
        spawning = isinstance(trainer.strategy.launcher, _MultiProcessingLauncher)  # its processes: the launcher's
        if trainer.world_size > 1 and trainer.global_rank != 0 and not spawning:
            stopping.together()  # ddp's processes other than the first: a stop outside a stage is taken with it
        stop_spawned_processes_cleanly(trainer.strategy)
        _stop_the_rendezvous_at_once(trainer.strategy)
        return trainer

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Trainer:
        """A progress bar among ``--trainer.callbacks`` (``RichProgressBar``) replaces this CLI's own; Lightning
        refuses two ("You added multiple progress bar callbacks"). ``--trainer.barebones true`` leaves out both.

        This CLI's checkpoint callback goes first, before any ``ModelCheckpoint`` of the user's: Lightning's
        ``trainer.checkpoint_callback`` is the first one, and the test after fit, ``--ckpt_path best`` and the
        clean stop on a signal use it (a user's callback monitoring val/loss once chose the tested weights).
        """
        chosen = config.get("callbacks") or []
        chosen = chosen if isinstance(chosen, list) else [chosen]
        if self.subcommand == "predict" and any(isinstance(callback, ProgressBar) for callback in chosen):
            # Lightning's bars draw on stdout, which is predict's table: their lines went into the CSV.
            tell("predict draws no progress bar: its table goes to stdout (the one of --trainer.callbacks is left out)")
            chosen = [callback for callback in chosen if not isinstance(callback, ProgressBar)]
        if any(isinstance(callback, ProgressBar) for callback in chosen):
            callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
        if config.get("barebones"):
            # Lightning's mode for measuring its own overhead refuses what this CLI turns on (a logger, the
            # checkpoint and progress-bar callbacks, ...): leave them out, as a plain Trainer(barebones=True) does.
            callbacks = [callback for callback in callbacks if not isinstance(callback, ModelCheckpoint | ProgressBar)]
            off = ("enable_checkpointing", "enable_progress_bar", "enable_model_summary", "logger")
            config.update(dict.fromkeys(off, False), log_every_n_steps=0, num_sanity_val_steps=0)
        ours = [callback for callback in callbacks if isinstance(callback, SafeModelCheckpoint)]
        config["callbacks"] = [*ours, *chosen]
        callbacks = [callback for callback in callbacks if callback not in ours]  # CPUThreads: the model's own
        try:
            return super()._instantiate_trainer(config, callbacks)
        except ModuleNotFoundError as error:  # --trainer.precision transformer-engine without the package
            if not str(error).startswith("Requirement "):  # Lightning's own message, naming what to install
                raise
            raise UserError(str(error)) from error

    def _run_subcommand(self, subcommand: str) -> None:
        """Run the command; one that fails or is stopped before its first training step (a setting Lightning
        refuses only then, a checkpoint that does not fit the run, Ctrl+C while the data loads) leaves no run
        folder holding nothing but its settings."""
        _one_version_for_the_loggers(self.trainer.loggers)
        logger = self.trainer.logger
        folder = Path(logger.log_dir) if logger is not None and logger.log_dir else None
        new = folder is not None and not folder.exists()
        try:
            super()._run_subcommand(subcommand)
            # A stop now is past all the work: the line said what before_* or after_fit had set ("after the
            # calibration, before the test", "before testing; nothing was written") after the results.
            stopping.doing(stopping.DONE)
        except BaseException:  # a stop too (SystemExit, KeyboardInterrupt, stopping.Stopped)
            # not one that came as the command's stage had finished: a test's results are in its folder
            finished = self.trainer.state.status == TrainerStatus.FINISHED
            if new and self.trainer.is_global_zero and not finished and not self._trained(subcommand):
                _remove_if_unused(folder)
            raise

    def _trained(self, subcommand: str) -> bool:
        """Whether this command trained a step: a run that failed later keeps its curves (where it went wrong)."""
        if subcommand != "fit":
            return False
        ckpt_path = self.config[subcommand].get("ckpt_path")
        start = load_keys(ckpt_path).get("global_step", 0) if ckpt_path else 0  # a resumed run's first step
        return self.trainer.global_step > start

    def before_fit(self) -> None:
        stopping.doing("while preparing the data and the model, before training; no checkpoint written")
        if self.trainer.limit_val_batches != 0:
            self.datamodule.check_processes(self.trainer.world_size)

    def before_validate(self) -> None:
        stopping.doing("while preparing the data and the model, before validating; nothing was written")
        self.datamodule.check_processes(self.trainer.world_size)
        self._data_set_of_the_checkpoint("validate")

    def before_test(self) -> None:
        stopping.doing("while preparing the data and the model, before testing; nothing was written")
        self._data_set_of_the_checkpoint("test")

    def _data_set_of_the_checkpoint(self, subcommand: str) -> None:
        """The data set is the checkpoint's (unless typed): a missing data folder's hint then names no
        ``--data.dataset`` (which the checkpoint would refuse), as calibrate's does."""
        if self.config[subcommand].get("ckpt_path") and "data.dataset" not in self.typed:
            self.datamodule.dataset_option = None

    def before_predict(self) -> None:
        """Read the images now, before the Trainer creates the run folder: a bad ``--data.predict_path`` leaves
        none. (A missing ``--ckpt_path`` was refused before the Trainer was built.)"""
        stopping.doing("while reading the images, before predicting; nothing was written")
        self.datamodule.read_predict_images()
        self.prediction_writer = PredictionWriter(save=self.trainer.logger is not None)  # in the run's folder
        self.trainer.callbacks.append(self.prediction_writer)

    def after_predict(self) -> None:
        """Some files could not be read: their rows say why; the exit status says so too.

        A blank image is not a failure: the file was read, its row says ``blank`` and stderr warns, but
        the exit status stays 0, so a folder of scans with one empty page still counts as done.
        """
        images = self.datamodule.predict_set
        self._exit_if_stopped("predicting")
        if images.failures:
            total = len(images.failures) + len(images)
            column = self.prediction_writer.header[1]
            raise UserError(f"{len(images.failures)} of {total} files could not be read (rows with {column} 'error')")
        note_if_uncalibrated(self.trainer.ckpt_path)

    def after_validate(self) -> None:
        """The validation accuracy in one line, as ``test`` gives its own, below Lightning's table."""
        trainer = self.trainer
        accuracy = trainer.callback_metrics.get("val/acc")
        # under ddp_spawn the stage ran in spawned processes, and this one's Trainer has no ckpt_path ("from None")
        checkpoint = trainer.ckpt_path or self.config.validate.get("ckpt_path")
        if trainer.is_global_zero and accuracy is not None:
            images = self._images_run(trainer.num_val_batches, self.datamodule.val_set)
            held_out = "not the run's split" if self.split_differs else "held out of the training set"
            print(
                f"Validation accuracy {float(accuracy):.2%} (error {1 - float(accuracy):.2%}) on {images} "
                f"validation images ({held_out}), from {printed_name(checkpoint)}"
            )
        note_if_uncalibrated(checkpoint)
        self._exit_if_stopped("validating")

    def _exit_if_stopped(self, stage: str, then: str = ": the results above are complete") -> None:
        """A signal during the last batch of a stage: Lightning finishes the stage without a word (it stops
        only between batches). The results are complete, but the exit status still says it was stopped;
        ``then`` ends the line with what that leaves."""
        if self.trainer.received_sigterm:
            signum = _stop_signal(self.trainer)
            tell(f"stopped by {signal.Signals(signum).name} at the end of {stage}{then}")
            sys.exit(128 + signum)

    def _stop_together(self) -> None:
        """Under DDP, between fit and its test (where every process is): the processes agree on a stop that one of
        them had there, noted and not taken alone (:func:`mnist_rnn.stopping.together`; one during fit's last
        moments, after the loop's last agreement, by the checkpoint callback), so that all of them stop. Alone,
        the one stopped left the others in gloo's "Connection closed by peer" traceback, or waiting until
        Lightning's observer killed the command (exit 137); and a stop after that last agreement was forgotten."""
        trainer = self.trainer
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # not ddp_spawn's command
            noted = stopping.noted_stop() is not None
            stop = noted or getattr(trainer.checkpoint_callback, "_stop_requested", False) or trainer.received_sigterm
            if trainer.strategy.reduce_boolean_decision(stop, all=False):
                trainer._signal_connector.received_sigterm = True

    def after_fit(self) -> None:
        """Calibrate the best checkpoint on the validation split (:mod:`mnist_rnn.calibration`), then test it, as
        the lab did, so one command gives the final numbers."""
        trainer = self.trainer
        if trainer.fast_dev_run and not trainer.interrupted:  # a smoke run, which saves nothing to test
            tell(
                "--trainer.fast_dev_run: no calibration nor test after it (test --trainer.fast_dev_run true runs one)",
                after_progress_bar=True,
            )
        if trainer.fast_dev_run or trainer.interrupted or trainer.barebones:  # barebones: self.log is off
            return
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        # Stopped before the calibration, the best checkpoint still has T = 1: its probabilities are not yet
        # calibrated, and predict, serve and export would give them as they are.
        finish_it = f"calibrate it {calibrate_then_test(best)}"
        finish_it = finish_it if best else "no checkpoint was saved"
        self._stop_together()
        self._exit_if_stopped("training", f", before the test; {finish_it}")  # after the loop's last check
        stopping.doing(f"after training, before the calibration and the test; {finish_it}")
        left = finish_it
        try:
            if best:  # temperature scaling on the validation split, written into the checkpoint the test loads
                if trainer.is_global_zero:
                    calibration = calibrate_checkpoint(
                        best, datamodule=self.datamodule, device=trainer.strategy.root_device
                    )
                    # The whole split: the part a smoke run validated (limit_val_batches) fits T poorly, and the
                    # checkpoint's T is read wherever it goes. Said, as its image count differs from validation's.
                    limit = trainer.limit_val_batches  # a float: a share of the batches; an int: that many
                    size = self.datamodule.batch_size
                    part = limit < 1.0 if isinstance(limit, float) else limit * size < calibration.images
                    whole = " (the whole split, not only the part validated)" if part else ""
                    print(f"Calibrated {printed_name(best)}{whole}: {calibration}")
                trainer.strategy.barrier()  # the others wait for it here; a stop they noted meanwhile is seen below
                left = f"test it (test --ckpt_path {pasted(best)})"
                stopping.doing(f"after the calibration, before the test; test it with --ckpt_path {pasted(best)}")
                self._stop_together()
                self._exit_if_stopped("the calibration", f", before the test; {left}")
            # Saved as fit began: under ddp_spawn that was in the spawned processes, and this process's callback
            # took the run's config.yaml for an earlier run's ("holds an earlier run ... mixed there").
            for callback in trainer.callbacks:
                if isinstance(callback, SaveConfigCallback):
                    callback.already_saved = True
            results = trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None, verbose=False)
            stopping.doing("after the test, as it ended")
        except (NoSpaceError, OSError) as error:
            # The disk filled after training (the test's figures, the calibrated checkpoint): the line said only
            # "no space left", not that training was done nor what was left to do.
            if isinstance(error, OSError) and error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            said = str(error) if isinstance(error, NoSpaceError) else known_failure(error)
            then = f"once there is space, {left}" if best else "no checkpoint was saved"
            raise NoSpaceError(f"{said}; training is done: {then}") from error
        self.test_results = results[0]
        self._print_test_results(results[0], best or "the final weights")
        if not best:  # no validation (or no checkpoints): nothing was calibrated, and the test said nothing of it
            last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
            command = f"{program_name()} calibrate --ckpt_path {pasted(Path(last))}"
            fit_one = f"`{command}` fits one" if last else "none was saved"
            tell(
                "note: no best checkpoint was chosen (no validation, or no checkpoints), so none was calibrated: "
                "the test scored the final weights, whose probabilities (temperature 1) are not how often they are "
                f"right; {fit_one}"
            )
        # Under DDP a stop during the test is agreed on at its end (SafeModelCheckpoint.on_test_end), after
        # Lightning's last check: the command ended with status 0 after "stopping after this batch".
        self._exit_if_stopped("testing")

    def after_test(self) -> None:
        """The test's accuracy and calibration in the same lines as after ``fit``, below Lightning's table."""
        metrics = {key: float(value) for key, value in self.trainer.callback_metrics.items()}
        # under ddp_spawn the test ran in spawned processes, and this one's Trainer has no ckpt_path ("from None")
        tested = self.trainer.ckpt_path or self.config.test.get("ckpt_path")
        self._print_test_results(metrics, str(tested))
        note_if_uncalibrated(tested)
        self._exit_if_stopped("testing")

    def _images_run(self, batches: list[int | float], dataset: Any) -> str:
        """How many images of ``dataset`` the batches of a stage covered, to say "on 1,280 test images":
        ``limit_val_batches`` or ``limit_test_batches`` may have cut it short, and under DDP each process runs
        its own share. "the" where this process ran none itself: under ``ddp_spawn`` the stage ran in spawned
        processes, and this one never set the data up (its count ended the command in a traceback)."""
        if dataset is None or not batches:
            return "the"
        return f"{min(len(dataset), int(sum(batches)) * self.trainer.world_size * self.datamodule.batch_size):,}"

    def _print_test_results(self, results: dict[str, float], tested_weights: str) -> None:
        """Say the test accuracy, and how well the probabilities match how often the model is right, before and
        after calibration."""
        trainer = self.trainer
        if not trainer.is_global_zero or "test/acc" not in results:
            return
        tested = self._images_run(trainer.num_test_batches, self.datamodule.test_set)
        accuracy = results["test/acc"]
        print(
            f"Test accuracy {accuracy:.2%} (test error {1 - accuracy:.2%}) on {tested} test images, "
            f"from {tested_weights}"
        )
        if "test/ece" in results:
            print(calibration_line(results))


def _read_the_data_of(saved: dict[str, Any], config: Any, typed: set[str]) -> bool:
    """``test`` and ``validate`` read the data set the checkpoint was trained on, from the folder it was
    trained from (where that folder is there): a Fashion-MNIST checkpoint needed ``--data.dataset
    fashion_mnist`` and its ``--data.data_dir`` again, which ``predict``, ``export`` and ``calibrate`` take
    from it. What the command typed wins (a data set other than the checkpoint's is then refused). ``saved``:
    the checkpoint's settings (:func:`mnist_rnn.checkpoint.saved_settings`). True where the data set typed is
    not the checkpoint's (refused once the model is built)."""
    dataset, folder = saved.get("data.dataset"), saved.get("data.data_dir")
    if dataset and "data.dataset" in typed and dataset != config.data.dataset:
        return True  # no note that it reads as the checkpoint was trained
    changed = []
    if dataset and "data.dataset" not in typed and dataset != config.data.dataset:
        config.data.dataset = dataset
        changed.append(dataset)
    same_folder = folder and Path(folder).resolve() == Path(config.data.data_dir).expanduser().resolve()
    if folder and "data.data_dir" not in typed and not same_folder:
        if Path(folder).is_dir():
            config.data.data_dir = folder
            changed.append(f"in {shown_name(folder)}")
        else:  # checkpoints keep it absolute now; older ones as typed, relative to a folder not this one
            warn_run_folder_gone(folder, config.data.data_dir)
    if len(changed) == 2:
        tell(f"reading {config.data.dataset} in {shown_name(config.data.data_dir)}, as the checkpoint was trained")
    elif changed == [dataset]:  # in the folder typed: not "as the checkpoint was trained", which read another
        tell(f"reading {dataset}, the checkpoint's data set, in {shown_name(config.data.data_dir)}")
    elif changed:
        tell(f"reading {config.data.dataset} in {shown_name(folder)}, the folder the checkpoint was trained from")
    return False


def _run_in_the_precision_of(saved: dict[str, Any], config: Any) -> None:
    """``test`` and ``validate`` of a checkpoint run in the precision its run trained in (its ``config.yaml``),
    as the test at the end of ``fit`` did: in the default float32 ``test --ckpt_path best`` gave other numbers
    than fit's own test of a bf16-mixed run. Called only when the command chose none; where this
    machine lacks that precision (bfloat16 on a CPU without it), it stays float32. ``saved``: the checkpoint's
    settings (:func:`mnist_rnn.checkpoint.saved_settings`)."""
    trained = saved.get("trainer.precision")
    if trained is None or trained == precision_name(config.trainer.precision):
        return
    cell = str(saved.get("model.cell", "lstm"))
    precision, replaced = supported_precision(trained, config.trainer.accelerator, cell, "runs")
    if replaced:  # the numbers may then differ from the run's own test in their last digits: said, not left to guess
        tell(
            f"running in {FALLBACK} (float32), not in {trained}, the precision the checkpoint's run trained in, "
            "which this machine lacks"
        )
    else:
        tell(
            f"running in {precision}, the precision the checkpoint's run trained in (--trainer.precision sets another)"
        )
    config.trainer.precision = precision  # 32-true, not the default's null, in --print_config where it was replaced


def calibration_line(results: dict[str, float]) -> str:
    """The test set's calibration error before and after temperature scaling, in one line."""
    error = f"Test calibration error (ECE, {N_BINS} bins) {results['test/ece']:.2%}"
    if results["test/temperature"] == 1.0:  # not calibrated: the same number twice said nothing
        return f"{error} at temperature 1.0, uncalibrated (calibrate fits a temperature to the validation split)"
    return (
        f"{error} at temperature {temperature_text(results['test/temperature'])} "
        f"({results['test/ece_uncalibrated']:.2%} uncalibrated, at 1.0)"
    )


def _stop_signal(trainer: Trainer) -> int:
    """The signal that stopped ``trainer``: SIGINT when it came as Ctrl+C (turned into SIGTERM), else SIGTERM."""
    spawned = getattr(trainer.strategy.launcher, "stop_signal", None)  # ddp_spawn's (StoppableSpawnLauncher)
    return spawned or getattr(trainer.checkpoint_callback, "_stop_signal", signal.SIGTERM)


def main(args: ArgsType = None) -> None:
    """Run the command line; ``args`` (a list like ``["fit", "--config", ...]``) lets tests run it in-process.

    Errors the user can fix end with one line on stderr and exit status 2; set ``MNIST_RNN_DEBUG=1`` to see
    the full traceback instead. SIGINT and SIGTERM end with 130 and 143 and one line, whenever they come.
    """
    with stopping.stop_handlers():
        stopping.doing("before any work started; nothing was written")
        try:
            argv = sys.argv[1:] if args is None else args
            if isinstance(argv, list) and argv and argv[0] in ("--version", "-V"):
                print(versions())
            elif isinstance(argv, list) and argv and argv[0] in TOOLS:
                _run_tool(argv[0], argv[1:])
            else:
                build_cli(args)
        except stopping.Stopped as stop:
            stop.end()
        except Exception as error:
            lost = _process_lost_its_peers(error)
            if lost and not os.environ.get("MNIST_RNN_DEBUG"):
                noted = stopping.noted_stop()
                if noted is not None:  # stopped too (Ctrl+C): the first process's line says so
                    sys.exit(128 + noted)
                print(f"mnist-rnn: error: {shown_text(lost)}", file=sys.stderr)
                sys.exit(1)
            message = known_failure(error)
            if message is None or os.environ.get("MNIST_RNN_DEBUG"):
                raise
            if isinstance(error, BrokenPipeError):  # Python's recipe: the exit's own flush fails no more
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            print(f"mnist-rnn: error: {shown_text(_see_its_help(message, argv))}", file=sys.stderr)
            sys.exit(2)


def _see_its_help(message: str, argv: Any) -> str:
    """A message's ``(see --help)`` as ``(see fit --help)``: the help of the command typed lists its options, the
    program's only the commands. After an aside of the message's own in brackets, as ``; see fit --help``: two
    brackets back to back ("... (did you mean --model.lr?) (see fit --help)", "... (a file, a folder or a quoted
    glob) (see predict --help)") read as one aside broken in two."""
    if not message.endswith(" (see --help)"):
        return message
    commands = (*TRAINER_COMMANDS, *TOOLS)
    command = next((arg for arg in argv if arg in commands), None) if isinstance(argv, list | tuple) else None
    text, helps = message.removesuffix(" (see --help)"), f"{command} --help" if command else "--help"
    return f"{text}; see {helps}" if text.endswith(")") else f"{text} (see {helps})"


def versions() -> str:
    """This package's version and those a bug report needs: ``mnist-rnn 0.1.0 (torch ..., lightning ..., ...)``."""
    try:
        own = metadata.version("mnist-rnn")
    except metadata.PackageNotFoundError:  # run from a checkout that was not installed
        own = "(not installed)"
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
    return (
        f"mnist-rnn {own} (torch {torch.__version__} with {cuda}, lightning {lightning.__version__}, "
        f"Python {platform.python_version()})"
    )


def _run_tool(name: str, argv: list[str]) -> None:
    """Run the tool ``name`` (``export``, ``serve``, ...); one that lacks its optional extra names it."""
    try:
        importlib.import_module(TOOLS[name][0]).main(argv)
    except ModuleNotFoundError as error:
        extra = EXTRA_OF.get((error.name or "").partition(".")[0])
        if extra is None:
            raise
        raise UserError(f'{name} needs {error.name}, which is not installed: pip install -e ".[{extra}]"') from error


def build_cli(args: ArgsType = None, run: bool = True, cli_class: type[MNISTRNNCLI] | None = None) -> MNISTRNNCLI:
    """The CLI with this project's settings; ``run=False`` only builds the model, data and trainer.

    ``cli_class``: a subclass of :class:`MNISTRNNCLI` (``tune`` checks settings with one that builds nothing).
    """
    return (cli_class or MNISTRNNCLI)(
        RNNClassifier,
        MNISTDataModule,
        seed_everything_default=42,
        save_config_callback=SaveOwnConfig,
        parser_class=CommandParser,
        save_config_kwargs={"overwrite": True},
        trainer_defaults=TRAINER_DEFAULTS,
        auto_configure_optimizers=False,  # the model owns its optimiser and schedule
        args=args,
        run=run,
        parser_kwargs={
            # Bad options raise ArgumentError (shown in one line by main) instead of printing the whole usage.
            "exit_on_error": False,
            "prog": program_name(),
            "usage": f"{program_name()} [-h] [-c CONFIG] {{{','.join([*TRAINER_COMMANDS, *TOOLS])}}} ...",
            "description": "Train, test and use a recurrent network (LSTM, GRU, RNN) that reads MNIST-family "
            "images row by row.",
            "epilog": START_HELP.format(program=program_name()),
            # Each command's usage in one line: argparse's listed every option (a screenful or two of --help),
            # under the main usage line followed by "[options] predict".
            **{
                command: {"usage": f"{program_name()} {command} [-h] [-c CONFIG] [--print_config[=flags]] [options]"}
                for command in TRAINER_COMMANDS
            },
        },
    )


class CommandHelpFormatter(PlainHelpFormatter):
    """The plain --help (:mod:`mnist_rnn.help`), without the options a command marked ``left_out_of_help``
    (:func:`_hide_options_of_fit`) (argparse.SUPPRESS would leave them out of --print_config and config.yaml too)."""

    def add_argument(self, action: argparse.Action) -> None:
        if not getattr(action, "left_out_of_help", False):
            super().add_argument(action)


class CommandParser(LightningArgumentParser):
    """Lightning's parser, named as the user typed the command wherever none is given: jsonargparse makes the
    parser of a class's help (``fit --trainer.callbacks.help EarlyStopping``) without a name, and argparse's
    default, ``sys.argv[0]``, printed ``usage: __main__.py``.

    Without abbreviations (``allow_abbrev=False``, for the main parser and each command's): argparse took a
    misspelt option that begins another (``--trainer.max_epoch 1``, ``--model.cel gru``) as that option, with
    only jsonargparse's deprecation warning; now it is refused as unrecognized, with the option meant."""

    def __init__(
        self,
        *args: Any,
        prog: str | None = None,
        allow_abbrev: bool = False,
        formatter_class: type[argparse.HelpFormatter] = CommandHelpFormatter,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            *args, prog=prog or program_name(), allow_abbrev=allow_abbrev, formatter_class=formatter_class, **kwargs
        )

    def register(self, registry_name: str, value: Any, object: Any) -> None:
        if registry_name == "action" and value == "help":  # -h/--help shows the values given before it
            object = HelpWithTheValues
        super().register(registry_name, value, object)

    def set_defaults(self, *args: dict[str, Any], **kwargs: Any) -> None:
        keep_library_defaults(self, *args, kwargs)  # --help leaves out the docstrings' defaults these replace
        super().set_defaults(*args, **kwargs)


def _typed_options(args: list[str]) -> set[str]:
    """The ``model.*`` and ``data.*`` options typed on the command line (``--model.cell gru`` or
    ``--model.cell=gru``)."""
    return {arg[2:].split("=", 1)[0] for arg in args if arg.startswith(("--model.", "--data."))}


def _command_of(args: list[str]) -> str | None:
    """The command of the command line ``args`` (``fit``, ``test``, ...: the first that names one), or None."""
    return next((arg for arg in args if arg in TRAINER_COMMANDS), None)


def _print_config_given(args: list[str]) -> bool:
    """Whether the command line ``args`` asks for ``--print_config`` (or ``--print_config=FLAGS``)."""
    return any(arg == "--print_config" or arg.startswith("--print_config=") for arg in args)


def _home_in_config_paths(args: list[str]) -> list[str]:
    """``args`` with the ``--config`` files (``-c``, ``--config=``) that start with ``~/`` as the paths they mean.
    The shell leaves ``~`` as it is in a quoted word and after ``=`` (``--config=~/fast.yaml``); jsonargparse took
    it for a file name, "no such file", where the other paths (:func:`mnist_rnn.tools.expand_home`) are expanded."""
    expanded = list(args)
    for i, path in _config_places(args):
        home = expand_home(str(path))
        if home != str(path):
            if args[i].startswith("--config="):
                expanded[i] = f"--config={home}"
            else:
                expanded[i + 1] = home
    return expanded


def _config_paths(args: list[str]) -> list[Path]:
    """The files of the ``--config`` (``-c``, ``--config=``) options, in their order."""
    return [path for _, path in _config_places(args)]


def _config_places(args: list[str]) -> list[tuple[int, Path]]:
    """(index in ``args``, file) of each ``--config`` (``-c``, ``--config=``) option, in their order."""
    places = []
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            places.append((i, Path(args[i + 1])))
        elif arg.startswith("--config="):
            places.append((i, Path(arg.split("=", 1)[1])))
    return places


# Lightning's settings that are a number of batches as an int and a fraction of them as a float.
BATCH_COUNTS = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
    "overfit_batches",
)


# The kinds of range of a tune search space, as a config file's values: mnist_rnn.tune.RANGE_KINDS (not imported
# from there, which would import Optuna at every start of the command line).
SPACE_RANGES = {"log", "float", "int"}


def repeated_key(text: str) -> str | None:
    """A key given twice in one mapping of a YAML text, with both lines, or ``None``.

    YAML's loaders keep the last of two equal keys without a word, so a config (or a search space) with
    ``lr: 0.01`` and, further down, ``lr: 0.5`` ran with 0.5 while its author read 0.01.
    """
    try:
        nodes = [(yaml.compose(text, Loader=yaml.SafeLoader), "")]
    except yaml.YAMLError:
        return None  # not valid YAML: the loader's own message says where
    while nodes:
        node, prefix = nodes.pop()
        if isinstance(node, yaml.SequenceNode):
            nodes.extend((item, prefix) for item in node.value)
        if not isinstance(node, yaml.MappingNode):
            continue
        lines: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            line = key.start_mark.line + 1
            if name in lines and name != "<<":  # merge keys ("<<: *defaults") may repeat
                where = f"line {line}" if lines[name] == line else f"lines {lines[name]} and {line}"
                return f"{prefix}{name} is given twice ({where})"
            lines[name] = line
            nodes.append((value, f"{prefix}{name}."))
    return None


def _check_run_folder_name(args: list[str]) -> None:
    """A ``--trainer.default_root_dir`` whose name holds a byte that is not UTF-8 (a folder from an old archive
    or a network share): the run's settings, saved as YAML text, cannot hold it, and jsonargparse failed on it
    in 60 lines of traceback. Data folders and images with such names are read, and are not refused."""
    for index, option in enumerate(args):
        given, _, joined = option.partition("=")
        if not (given.startswith("--trainer.default_r") and "--trainer.default_root_dir".startswith(given)):
            continue  # argparse takes an unambiguous abbreviation: --trainer.default_root
        folder = joined or (args[index + 1] if index + 1 < len(args) else "")
        byte = byte_not_utf8(folder)
        if byte is not None:
            raise UserError(
                f"--trainer.default_root_dir {shown_name(folder)}: its name holds the byte 0x{byte:02x}, which is "
                "not UTF-8 text, which the loggers' settings do not take: rename the folder, or pass another"
            )


def _check_config_places(args: list[str]) -> None:
    """A ``--config`` before the command holds one section per command (``fit: {model: ...}``), one after it the
    command's own settings. The other way round, ``--print_config`` printed the defaults without a word, and a run
    was refused with "Option 'trainer.max_epochs' is not accepted before subcommand 'fit'" (or, the other way,
    "Group 'fit' does not accept option 'model.hidden_size' (did you mean model.hidden_size?)")."""
    command_at = next((i for i, arg in enumerate(args) if arg in TRAINER_COMMANDS), None)
    if command_at is None:
        return
    command = args[command_at]
    for i, value in _config_places(args):
        settings = None
        with contextlib.suppress(OSError, UnicodeDecodeError, yaml.YAMLError):
            settings = yaml.safe_load(value.read_text())
        if not isinstance(settings, dict) or not settings:
            continue  # _check_config_files or jsonargparse says what is wrong with it
        sections = [key for key in settings if key in TRAINER_COMMANDS]
        if i < command_at and not sections:
            raise UserError(
                f"--config {shown_name(value)} before the command {command} holds its settings, not a section per "
                f"command ({command}: ...): put it after the command ({program_name()} {command} --config "
                f"{pasted(value)})"
            )
        if i > command_at and sections:
            raise UserError(
                f"--config {shown_name(value)} after the command {command} has a section {sections[0]}:, the layout of "
                f"a config given before the command: put it before {command}, or drop the {sections[0]}: level"
            )


def _warn_of_options_a_config_replaces(args: list[str]) -> None:
    """jsonargparse applies the arguments in order: an option typed before a ``--config`` that sets it too
    (``fit --model.hidden_size 16 --config configs/fast.yaml``) was replaced by the file's value without a word."""
    places = _config_places(args)
    options = [(i, arg[2:].split("=", 1)[0].removesuffix("+")) for i, arg in enumerate(args) if arg.startswith("--")]
    for i, key in options:
        if key == "config":
            continue
        setting = [(at, path) for at, path in places if at > i and _file_sets(path, key)]
        if not setting:
            continue
        at, replacing = setting[-1]
        if not any(later > at and later_key == key for later, later_key in options):  # else typed again after it
            warn(
                f"--{key} comes before --config {replacing}, which sets it too: the file's value is used (the last "
                "given wins); put options after --config"
            )


# The recipes of the README, in a checkout of the project (an editable install); a wheel has none.
PROJECT_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def project_recipe(path: Path) -> str | None:
    """Where a README recipe (``configs/fast.yaml``) given from another folder than the project's is, said for
    the message that ``path`` does not exist; None for any other path. Written with Windows' backslashes
    (``configs\\fast.yaml``) too."""
    path = Path(str(path).replace("\\", "/"))
    project_config = PROJECT_CONFIGS / path.name
    if path.is_absolute() or path.exists() or path.parent != Path("configs") or not project_config.is_file():
        return None
    return (
        f"the project's own is {pasted(project_config)} (run from {pasted(PROJECT_CONFIGS.parent)}, or pass that path)"
    )


def yaml_problem(error: yaml.YAMLError) -> str:
    """Where and what YAML's parser found wrong: `` at line 4, column 3: expected ',' or '}', but got '<scalar>'
    (while parsing a flow mapping that starts at line 2)``."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or first_line(error)
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start:  # where the unclosed bracket or quote began
        problem += f" ({context} that starts at line {start.line + 1})"
    return f"{where}: {problem}"


def _check_config_files(args: list[str]) -> None:
    """Name the file and the line of a config file that is not valid YAML, or that is empty; point a README
    recipe (``configs/fast.yaml``) given outside the project's folder at the project's own file.

    jsonargparse reports these without the file's name ("Unexpected config" for an empty one).
    """
    for path in _config_paths(args):
        recipe = project_recipe(path)
        if recipe:  # from another folder jsonargparse said only that the file does not exist
            raise UserError(f"--config {shown_name(path)}: no such file in {shown_name(Path.cwd())}; {recipe}")
        if path.is_dir():
            settings = path / "config.yaml"  # a run's folder (lightning_logs/version_3): its settings are there
            held = f"; its run's settings are --config {pasted(settings)}" if settings.is_file() else ""
            raise UserError(f"--config {shown_name(path)}: a folder, not a config file{held}")
        if not path.exists():
            # jsonargparse's "Parser key "config": File does not exist: '/abs/path'"; it takes settings given in
            # the option itself too (--config '{trainer: {max_epochs: 1}}')
            with contextlib.suppress(yaml.YAMLError):
                if isinstance(yaml.safe_load(str(path)), dict):
                    continue
            raise UserError(f"--config {shown_name(path)}: no such file{with_slashes(path)}")
        if zipfile.is_zipfile(path):  # read as text: "'utf-8' codec can't decode byte 0x80 in position 64"
            config = path.parent.parent / "config.yaml"  # as a run's checkpoints/ folder holds it
            also = f", and its run's settings are --config {pasted(config)}" if config.is_file() else ""
            raise UserError(
                f"--config {shown_name(path)}: a checkpoint (or another zip archive), not a config: a checkpoint is "
                f"given as --ckpt_path {pasted(path)}{also}"
            )
        try:
            text = path.read_text()
            settings = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise UserError(f"--config {shown_name(path)}: not valid YAML{yaml_problem(error)}") from error
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"--config {shown_name(path)}: cannot be read ({first_line(error)})") from error
        if settings is None:
            raise UserError(
                f"--config {shown_name(path)}: the file is empty (or only comments): put settings in it or drop it"
            )
        if repeated := repeated_key(text):
            raise UserError(f"--config {shown_name(path)}: {repeated}: keep one")
        if not isinstance(settings, dict):
            raise UserError(
                f"--config {shown_name(path)}: expected settings (key: value lines), found a {type(settings).__name__}"
            )
        hparams = path.name == "hparams.yaml" and not set(settings) & {*SECTIONS, "seed_everything"}
        if "_instantiator" in settings or hparams:  # Lightning's hparams.yaml, beside a run's config.yaml:
            # jsonargparse said only that fit "does not accept option '_instantiator'" (or 'augment_erase')
            config = path.parent / "config.yaml"
            rerun = (
                f"the run's settings are --config {pasted(config)}"
                if config.is_file()
                else "a run of fit saves its config.yaml beside it"
            )
            raise UserError(
                f"--config {shown_name(path)}: the model's hyperparameters as Lightning saves them, not a config: "
                f"{rerun}"
            )
        sexagesimal = re.search(r"^\s*max_time:\s*([1-9]\d*(?::\d+)+)\s*(?:#.*)?$", text, re.MULTILINE)
        if sexagesimal:  # YAML 1.1 reads 12:00:00:00 as a number in base 60 (2592000), which max_time refused
            raise UserError(
                f"--config {shown_name(path)}: max_time: {sexagesimal[1]} is read by YAML as a number (base 60): "
                f'quote it, "{sexagesimal[1]}"'
            )
        # "model.lr: {log: [0.001, 0.03]}": a range of tune's search space (docs/tune.md), not a setting of fit
        # (jsonargparse takes dotted keys with plain values, "model.lr: 0.01", as settings).
        ranges = [key for key, value in settings.items() if isinstance(value, dict) and set(value) & SPACE_RANGES]
        if ranges and all("." in str(key) for key in settings):
            raise UserError(
                f"--config {shown_name(path)}: a search space for tune ({ranges[0]} is a range), not a config: "
                f"{program_name()} tune --config BASE.yaml --space {pasted(path)}"
            )
        for where, section, value in _sections(settings):
            if value is None:  # jsonargparse takes it as trainer: null, and Lightning ends in a traceback
                raise UserError(
                    f"--config {shown_name(path)}: {where}{section}: has no settings under it (all commented out?): "
                    f"drop the line or put settings under it"
                )
            if not isinstance(value, dict):
                raise UserError(
                    f"--config {shown_name(path)}: {where}{section}: expected settings under it ({section}:, then "
                    f"indented key: value lines), got {value!r}"
                )
            _check_class_path(path, where, section, value)


# The class of each section that holds one: the only one there is (not chosen by class_path, as a callback is).
SECTION_CLASSES = {"model": "RNNClassifier", "data": "MNISTDataModule"}


def _check_class_path(path: Path, where: str, section: str, value: dict[str, Any]) -> None:
    """Refuse ``model:`` or ``data:`` written as a class (``class_path:`` and ``init_args:``, as a config of another
    LightningCLI project names its own): jsonargparse said "does not accept option 'model.class_path' (did you mean
    model.class_names?)", or, for this project's own class, named only the first of its settings."""
    own = SECTION_CLASSES.get(section)
    if own is None or not {"class_path", "init_args"} & set(value):
        return
    named = str(value.get("class_path", ""))
    if named.rpartition(".")[2] in ("", own):
        raise UserError(
            f"--config {shown_name(path)}: {where}{section}: the settings (init_args's) go straight under {section}:, "
            f"without class_path and init_args: the {section} is always mnist_rnn's {own}"
        )
    raise UserError(
        f"--config {shown_name(path)}: {where}{section}: class_path {named}: this project's {section} is always "
        f"mnist_rnn's {own} (a config of another project?); its settings go straight under {section}: (see --help)"
    )


# The groups of settings in a config file (trainer:, model:, ...), each a mapping.
SECTIONS = ("trainer", "model", "data", "checkpoint", "progress_bar", "finite_loss")


def _sections(settings: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(where, name, value) of each group of settings in a config file: at its top, or under a command's
    name (a file given before the command: ``fit: {trainer: ...}``)."""
    found = [("", name, settings[name]) for name in SECTIONS if name in settings]
    for command in TRAINER_COMMANDS:
        nested = settings.get(command)
        if isinstance(nested, dict):
            found += [(f"{command}.", name, nested[name]) for name in SECTIONS if name in nested]
    return found


def _check_data_dir_of_a_config(config: Any, raw_args: list[str], typed: frozenset[str]) -> None:
    """A relative ``data_dir`` in a config file is read from the working folder, as jsonargparse reads every path,
    not from the file's: run from another folder, ``data_dir: ../shared/mnist`` beside the config was "MNIST files
    not found" (or, online, a download into the folder it named there)."""
    folder = (config.get("data") or {}).get("data_dir")
    given_in = _config_file_setting("data.data_dir", raw_args) if "data.data_dir" not in typed else None
    if not isinstance(folder, str) or given_in is None or Path(folder).is_absolute() or Path(folder).exists():
        return
    beside = given_in.parent / folder
    if beside.is_dir():
        raise UserError(
            f"--config {shown_name(given_in)}: data_dir {shown_name(folder)} is read from the working folder, "
            f"{shown_name(Path.cwd())}, where there is none; from the config's folder it is --data.data_dir "
            f"{pasted(os.path.abspath(beside))}"
        )


def _check_blank_settings(config: Any, classes: dict[str, Any], raw_args: list[str]) -> None:
    """A key left blank in a YAML file (``hidden_size:``) reads as null, which jsonargparse takes from a config
    file for any type (not from the command line): a TypeError traceback, or, for ``normalize:``, a run
    without its standardisation, silently."""
    for section, cls in classes.items():
        settings = config.get(section)
        if cls is None or not isinstance(settings, Namespace):
            continue
        hints = typing.get_type_hints(cls.__init__)
        defaults = inspect.signature(cls.__init__).parameters
        for name, value in vars(settings).items():
            hint = hints.get(name, Any)
            if value is not None or hint is Any or type(None) in typing.get_args(hint):
                continue
            given_in = _config_file_setting(f"{section}.{name}", raw_args)
            where = f"--config {shown_name(given_in)}: " if given_in else ""
            raise UserError(
                f"{where}{section}.{name} is empty (null): give it a value, or leave the line out for its default "
                f"({yaml.safe_dump(defaults[name].default, default_flow_style=True).splitlines()[0]})"
            )


# What a callback's ``monitor`` may name during fit: the metrics the model logs (train/cross_entropy with label
# smoothing, train/grad_norm on logging steps) and the two ModelCheckpoint adds.
MONITORED = (
    "val/acc",
    "val/loss",
    "train/acc",
    "train/loss",
    "train/cross_entropy",
    "train/grad_norm",
    "epoch",
    "step",
)


def _callback_settings(trainer: Any) -> list[Any]:
    """The callbacks ``--trainer.callbacks`` sets, as their settings (class_path, init_args): one or a list."""
    callbacks = trainer.get("callbacks") or []
    return callbacks if isinstance(callbacks, list) else [callbacks]  # one, given without +=


def _check_no_lr_search_on_resume(config: Any) -> None:
    """Lightning's LearningRateFinder searches before training and then restores the state it saved before the
    search: a resumed run trained again from its first epoch (its steps logged from 0), without a word."""
    names = [str(getattr(callback, "class_path", callback)) for callback in _callback_settings(config.trainer)]
    if config.get("ckpt_path") and any(name.endswith("LearningRateFinder") for name in names):
        raise UserError(
            "--trainer.callbacks LearningRateFinder with --ckpt_path: the search would restart the resumed run from "
            "its first epoch; drop the LearningRateFinder when resuming, and pass the lr it found with --model.lr"
        )


def _check_monitors(config: Any) -> None:
    """A ``monitor`` naming no metric of the model (``val/accuracy``, ``val_acc``): Lightning found out after the
    first epoch, and the run ended with nothing saved (ModelCheckpoint) or in a traceback (EarlyStopping)."""
    checkpoint = config.get("checkpoint") or {}
    monitors = [("--checkpoint.monitor", checkpoint.get("monitor"))]
    for callback in _callback_settings(config.trainer):
        init_args = getattr(callback, "init_args", None)
        if isinstance(init_args, Namespace):
            name = str(callback.class_path).rpartition(".")[2]
            monitors.append((f"{name}'s monitor", init_args.get("monitor")))
    for option, monitor in monitors:
        if monitor is None or monitor in MONITORED:
            continue
        close = difflib.get_close_matches(str(monitor), MONITORED, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UserError(f"{option} {monitor}: the model logs no such metric{hint}; it logs {', '.join(MONITORED[:6])}")


def _warn_of_adams_weight_decay(model: Any) -> None:
    """Adam's weight decay is an L2 term in the gradient, which Adam's scaling makes far stronger than AdamW's
    decay of the same number: a config's AdamW decay (0.05) kept with ``--model.optimizer adam`` trained nothing
    (docs/results.md, "Adam and weight decay")."""
    decay = model.get("weight_decay")
    if model.get("optimizer") == "adam" and decay is not None and decay >= 0.01:
        warn(
            f"--model.optimizer adam with weight_decay {decay}: Adam adds the decay to the gradient (L2), far "
            "stronger than AdamW's decay of the same number, and may not train; pass --model.weight_decay 0 "
            "(or about 1e-4), or keep adamw"
        )


def _warn_of_an_unused_permutation_seed(model: Any) -> None:
    """The seed orders the pixels of permuted runs only; any other sequence ignores it (kept in the checkpoint
    all the same, so not refused: a psmnist.yaml run switched to ``--model.sequence pixels`` still loads)."""
    seed, sequence = model.get("permutation_seed"), model.get("sequence", "rows")
    if sequence != "permuted" and seed not in (None, NETWORK_DEFAULTS["permutation_seed"]):
        warn(
            f"--model.permutation_seed {seed} orders the pixels of --model.sequence permuted only: this {sequence} "
            "model reads them in their own order and ignores it"
        )


def _check_trainer_counts(trainer: Any) -> None:
    """Counts that Lightning divides by (a ZeroDivisionError after the run's folder was made)."""
    for name in ("accumulate_grad_batches", "check_val_every_n_epoch"):
        value = trainer.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            hint = " (or null: validate by --trainer.val_check_interval steps only)" if name.startswith("check") else ""
            raise UserError(f"--trainer.{name} must be 1 or more{hint}, got {value}")


# The Trainer's option that limits each command's batches.
STAGE_LIMITS = {"fit": "limit_train_batches", "validate": "limit_val_batches", "test": "limit_test_batches"}


def _check_lengths(subcommand: str, config: Any) -> None:
    """A command that would run no batch (Lightning skips the stage without a word, and fit then tested
    untrained weights), or a fit whose lr schedule would have no end."""
    trainer = config.trainer
    limit = STAGE_LIMITS.get(subcommand)
    if limit and trainer[limit] is not None and trainer[limit] == 0:
        if subcommand == "fit":
            raise UserError(
                "--trainer.limit_train_batches 0 trains nothing: fit would test untrained weights (to score a "
                "trained model, run validate or test with --ckpt_path)"
            )
        raise UserError(f"--trainer.{limit} 0 leaves {subcommand} nothing to do: drop it, or give a number of batches")
    if subcommand != "fit":
        return
    schedule = config.model.get("lr_schedule")
    endless = trainer.max_epochs == -1 and trainer.max_steps in (None, -1)
    if endless and schedule not in (None, "constant"):
        raise UserError(
            f"--trainer.max_epochs -1 (no limit) leaves the {schedule} lr schedule without an end: set "
            "--trainer.max_epochs or --trainer.max_steps, or --model.lr_schedule constant"
        )


# What each command writes in its run folder, for the message when it cannot.
RUN_FOLDER_FILES = {"fit": "logs and checkpoints", "predict": "settings and predictions.csv"}


def _check_writable(
    trainer: Any, subcommand: str = "fit", checkpoints: str | None = None, ckpt_path: str | None = None
) -> None:
    """The folder of the run's logs and checkpoints can be made (a read-only working folder, or a read-only
    lightning_logs/ in it, ended in TensorBoard's traceback), and so can ``--checkpoint.dirpath`` for fit."""
    root = Path(_log_root(trainer)).absolute()  # "~/" already expanded (expand_home)
    files = RUN_FOLDER_FILES.get(subcommand, "logs")
    if trainer.logger is False:
        runs = root / "checkpoints"  # Lightning's folder for the checkpoints of a run without a logger
    else:
        name = _run_logger_args(trainer).get("name", "lightning_logs")
        runs = root / name if isinstance(name, str) and name else root
    problem = _unwritable(runs)
    if problem:
        # --ckpt_path best or last looks for the newest run under DIR then: the advice alone led to "no run found".
        found_there = (
            f" (--ckpt_path {ckpt_path} would then look for runs there: name the run's folder or checkpoint instead)"
            if ckpt_path in ("best", "last")
            else ""
        )
        raise UserError(
            f"cannot write this run's {files} under {shown_name(root)}: {problem}; run from another folder or pass "
            f"--trainer.default_root_dir DIR naming a writable folder{found_there}"
        )
    problem = _unwritable(Path(checkpoints).absolute()) if checkpoints and subcommand == "fit" else None
    if problem:  # else Lightning trained an epoch, then ended in a PermissionError traceback saving its checkpoint
        raise UserError(
            f"cannot write this run's checkpoints in --checkpoint.dirpath {shown_name(checkpoints)}: {problem}"
        )


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be made or written in (its nearest existing folder is a file or read-only), or None."""
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if existing is not None and not existing.is_dir():  # Lightning's makedirs ended in NotADirectoryError
        return f"{shown_name(existing)} is a file, not a folder"
    if existing is not None and not _writable(existing):
        return f"{shown_name(existing)} is not writable (a read-only folder?)"
    return None


# What a run writes before its first step: its settings, and TensorBoard's or the CSV logger's first file.
UNUSED_RUN_FILES = ("config.yaml", "hparams.yaml", "metrics.csv", "events.out.tfevents.*")


def _remove_if_unused(folder: Path) -> None:
    """Remove a run folder that holds only what a run writes before its first step (no checkpoint)."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    if all(any(path.match(pattern) for pattern in UNUSED_RUN_FILES) for path in files):
        shutil.rmtree(folder, ignore_errors=True)


def known_failure(error: Exception) -> str | None:
    """The one-line message of an error the user can fix, or None for a bug (shown as a traceback)."""
    if isinstance(error, UserError | ArgumentError) or _lightnings_complaint(error):
        return short_message(error)
    if isinstance(error, ModuleNotFoundError) and "Requirement '" in str(error):
        # Lightning's own, with the package to install: --trainer.callbacks+=DeviceStatsMonitor without psutil
        return first_line(error).strip()
    weights = state_dict_problem(error)  # test, validate, predict: the Trainer loads them, after our checks
    if weights:
        return f"the checkpoint's weights do not fit the model its settings make ({weights})"
    if isinstance(error, BrokenPipeError):
        # `fit | head -1`: tqdm's next line, or the test's table, raised it (a 96-line traceback)
        return (
            "the program reading the output closed it (a pipe to head?): the command stopped; what it wrote "
            "before is kept"
        )
    gone = _removed_folder(error)
    if gone is not None:
        return (
            f"{gone} was removed while the command ran (no {shown_name(error.filename)} to write or read): the "
            "run cannot go on; its checkpoints, if they were elsewhere, are kept"
        )
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        # a full disk where no write of ours catches it: TensorBoard's first event file, a figure
        if error.filename is None and _full_standard_output():  # `... > out.txt`: the run's disk may be fine
            return (
                "no space left on the device of the standard output (the file it is sent to): free some space "
                "there, or send the output elsewhere"
            )
        where = f" to write {shown_name(error.filename)}" if error.filename else ""
        return (
            f"no space left on the device{where}: free some space, or write the run on another disk with "
            "--trainer.default_root_dir DIR"
        )
    return None


def _removed_folder(error: Exception) -> str | None:
    """The folder that no longer exists, for a file that could not be written into it (a run's folder deleted
    while fit ran: TensorBoard's next event ended the command in a 110-line traceback)."""
    name = getattr(error, "filename", None) if isinstance(error, FileNotFoundError) else None
    if not name:
        return None
    folder = Path(os.fsdecode(name)).parent
    if folder.exists():
        return None
    while not folder.parent.exists() and folder.parent != folder:  # the highest folder that went
        folder = folder.parent
    return shown_name(folder)


def _full_standard_output() -> bool:
    """Whether standard output can take no more (a file on a full disk, /dev/full), tried with a line break: a
    failed write leaves nothing to tell where it went, and Python drops what its buffer held. Not a terminal,
    which never fills."""
    try:
        descriptor = sys.__stdout__.fileno()
        if os.isatty(descriptor):
            return False
        os.write(descriptor, b"\n")
    except OSError as error:
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    except (AttributeError, ValueError):  # closed, or no stream at all
        return False
    return False


def _process_lost_its_peers(error: Exception) -> str | None:
    """In a process of a multi-process run other than the first: the line for a connection to the others that
    closed. The first process ended (its own message says why: data that fails a check in ``prepare_data``,
    which only it runs), and this one's traceback of torch.distributed's frames, 50 lines after that message,
    said nothing more."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    rank = getattr(rank_zero_only, "rank", 0)
    if rank == 0 or not lost_a_peer(error):
        return None
    return LOST_THE_FIRST.format(rank=rank)


def _lightnings_complaint(error: Exception) -> bool:
    """An error Lightning raises about its settings (``--trainer.strategy ddpp``, ``--trainer.val_check_interval``
    beyond the epoch, a checkpoint past ``max_epochs``): its message is the one line to show. Its
    MisconfigurationException, and a ValueError raised in Lightning's own code (where it checks settings)."""
    if isinstance(error, MisconfigurationException):
        return True
    if not isinstance(error, ValueError) or error.__traceback__ is None:
        return False
    raised_in = traceback.extract_tb(error.__traceback__)[-1].filename
    return f"{os.sep}lightning{os.sep}" in raised_in


def _writable(folder: Path) -> bool:
    """Whether this process may make files in ``folder`` (False on a read-only file system, even for root)."""
    return os.access(folder, os.W_OK)


def _check_something_left_to_train(path: Path, trainer: Any) -> None:
    """Refuse to resume a run that has trained all its ``max_epochs`` (or ``max_steps``), or that an
    ``EarlyStopping`` of the command's stopped: Lightning trained nothing (or, stopped early, one more epoch at
    each repeat of the command, with a new best), and the command went on to calibrate and test the best
    checkpoint again in a new run folder, without a word that nothing had been trained."""
    checkpoint = load_keys(path)
    fit_loop = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    epochs = fit_loop.get("epoch_progress", {}).get("current", {})
    done = epochs.get("processed", 0)  # epochs whose batches all ran (saved at an epoch's end: not yet "completed")
    batches = fit_loop.get("epoch_loop.batch_progress") or {}
    # A max_steps or max_time stop in the middle of an epoch: Lightning counts that epoch as done all the same,
    # and a resumed run starts the next one (with max_epochs reached, none: the command trained nothing).
    cut = not batches.get("is_last_batch", True)
    # A stop by a signal inside an epoch saves before Lightning counts that epoch: it is then the epoch after
    # the ones processed, where a max_steps stop's epoch is the last of them.
    stopped_in = checkpoint.get("epoch", done - 1)
    steps = checkpoint.get("global_step", 0)
    states = [state for state in (checkpoint.get("callbacks") or {}).values() if isinstance(state, dict)]
    stopped = next((state for state in states if state.get("stopping_reason", 0) != 0), None)  # 0: NOT_STOPPED
    callbacks = trainer.callbacks or []
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]  # one given alone: not in a list
    early_stopping = any("EarlyStopping" in str(getattr(callback, "class_path", callback)) for callback in callbacks)
    max_epochs, max_steps = trainer.max_epochs, trainer.max_steps
    # Lightning's Timer (which --trainer.max_time adds) keeps the run's training time in the checkpoint.
    trained = next((state["time_elapsed"].get("train") for state in states if "time_elapsed" in state), None)
    max_time = Timer(duration=trainer.max_time)._duration if trainer.get("max_time") else None
    if max_epochs is not None and max_epochs > 0 and done >= max_epochs:
        if cut and stopped_in >= done:
            # It said "into epoch 0" of a run that a Ctrl+C stopped in epoch 1 (as its line said), resumed with a
            # smaller max_epochs, and asked for a larger max_steps or max_time, which such a run does not need.
            limit = f"{steps:,} steps, into epoch {stopped_in}, beyond --trainer.max_epochs {max_epochs}"
            longer = f"pass --trainer.max_epochs {stopped_in + 1} or more to train it longer"
        elif cut:
            # It said "trained all 2 epochs" of a run cut at step 40 of 60, and "a larger max_epochs" alone then
            # met the max_steps refusal below. Cut beyond the command's max_epochs, that epoch is not one of them:
            # it said "into epoch 1, which Lightning then counts as done, as every epoch of --trainer.max_epochs 1".
            counted = "which Lightning then counts as done"
            limit = (
                f"{steps:,} steps, into epoch {done - 1}, {counted}, as every epoch of "
                if done == max_epochs
                else f"{steps:,} steps, into epoch {done - 1} ({counted}), beyond "
            ) + f"--trainer.max_epochs {max_epochs}"
            # A larger max_steps or max_time only where the command's own would stop it again: one that gave
            # neither was told to pass "a larger max_steps or max_time" all the same.
            spent = [
                f"a larger {name}"
                for name, reached in (
                    ("max_steps", max_steps is not None and 0 < max_steps <= steps),
                    ("max_time", max_time is not None and trained is not None and trained >= max_time),
                )
                if reached
            ]
            longer = f"pass --trainer.max_epochs {done + 1} or more{''.join(f' and {it}' for it in spent)}"
            longer += " to train it longer"
        elif done > max_epochs:
            # It said "all 4 epochs of --trainer.max_epochs 3", and "a larger max_epochs": 4 was refused again.
            limit = f"{done} epochs, more than --trainer.max_epochs {max_epochs}"
            longer = f"pass --trainer.max_epochs {done + 1} or more to train it longer"
        else:
            limit = (
                f"all {done} epochs of --trainer.max_epochs {max_epochs}"
                if done > 1
                else "its one epoch (--trainer.max_epochs 1)"
            )
            longer = "pass a larger max_epochs to train it longer"
    elif max_steps is not None and max_steps > 0 and steps >= max_steps:
        limit = f"{steps:,} steps, --trainer.max_steps {max_steps:,}"
        longer = "pass a larger max_steps to train it longer"
    elif stopped is not None and early_stopping:
        why = (stopped.get("stopping_reason_message") or "").rstrip(".")
        limit = f"until EarlyStopping stopped it after epoch {stopped.get('stopped_epoch')}"
        limit += f" ({why})" if why else ""
        longer = "resume without the EarlyStopping callback (or with more patience) to train it on"
    elif max_time is not None and trained is not None and trained >= max_time:
        # The restored timer stopped it before its first step, and the command went on to test it again.
        limit = f"for {timedelta(seconds=round(trained))}, --trainer.max_time {trainer.max_time}"
        longer = "pass a larger max_time to train it longer"
    else:
        return
    # What the run's fit would have ended with: its best checkpoint, calibrated, tested (not last.ckpt at T = 1).
    bests = [Path(state["best_model_path"]) for state in states if state.get("monitor") == "val/acc"]
    best = next((file for file in bests if str(file) != "." and file.is_file()), path)
    finish = f"test it ({program_name()} test --ckpt_path {pasted(best)})"
    if not_calibrated(load_keys(best)):
        finish = f"calibrate it ({program_name()} calibrate --ckpt_path {pasted(best)}), then {finish}"
    raise UserError(
        f"--ckpt_path {shown_name(path)}: its run has trained {limit}: nothing is left to train; {longer}, or {finish}"
    )


def _check_resumed_data(path: Path, saved: dict[str, Any], config: Any) -> None:
    """Refuse to resume from ``path`` (a file or folder named; ``last`` finds only a run with the command's own
    settings) with data settings other than its run's: another split puts images the model trained on among
    the validation ones, which its best score was measured without; another batch size changes its steps and
    its lr schedule. They were taken without a word, where model options were refused."""
    wanted = {f"data.{key}": config.data[key] for key in RUN_DATA_SETTINGS}
    differences = setting_differences(wanted, saved)
    if not differences:
        return
    listed = ", ".join(f"{key}={ours!r} (its run: {theirs!r})" for key, ours, theirs in differences)
    run_config = path.parent.parent / "config.yaml"  # LightningCLI's copy of the run's settings
    again = f" (--config {pasted(run_config)})" if run_config.is_file() else ""
    raise UserError(
        f"--ckpt_path {shown_name(path)}: its run read the data with other settings than this command: {listed}; "
        f"resume it with the run's own settings{again}, so that its validation images and steps stay the run's"
    )


def _launched_by_the_first_process() -> bool:
    """Whether this process is one that Lightning's ``ddp`` launcher started (its ``LOCAL_RANK`` is set and not 0)
    after the first process seeded itself (``PL_GLOBAL_SEED``, which the launched processes inherit)."""
    return os.environ.get("LOCAL_RANK", "0") != "0" and os.environ.get("PL_GLOBAL_SEED", "").isdigit()


def _check_seed(seed: Any) -> None:
    """A seed numpy cannot take (Lightning would end in a traceback), or none at all: a config's blank
    ``seed_everything:`` reads as null, which Lightning took as seed 0 ("No seed found, seed set to 0")."""
    if seed is None:
        raise UserError(
            "seed_everything is empty (null): give a seed, true for a random one (said and saved), or false to "
            "seed nothing"
        )
    if not isinstance(seed, bool) and isinstance(seed, int) and not 0 <= seed <= 2**32 - 1:
        raise UserError(f"--seed_everything must be between 0 and 4294967295 (or true for a random one), got {seed}")


# Lightning's precisions by their full names, for "did you mean" (the message lists them with what they are).
PRECISIONS = ["32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"]


def _check_accelerator(accelerator: Any) -> None:
    """An accelerator that does not exist, or that this machine lacks (``gpu`` where torch sees no GPU, ``mps``
    off a Mac, ``tpu`` without torch_xla): say so in one line, not in a Lightning traceback."""
    if not isinstance(accelerator, str) or accelerator == "auto":
        return  # an Accelerator object (from Python or a config's class_path): Lightning checks it
    known = sorted(AcceleratorRegistry.available_accelerators())
    if accelerator not in (*known, "gpu", "auto"):
        choices = ", ".join(["auto", "gpu", *known])
        close = difflib.get_close_matches(accelerator.lower(), ["auto", "gpu", *known], n=1)  # GPU, cuda:0
        meant = f" (did you mean {close[0]}?)" if close else ""
        raise UserError(f"--trainer.accelerator {accelerator}: no such accelerator{meant}; choose one of {choices}")
    if accelerator not in ("gpu", "cuda"):
        if not AcceleratorRegistry[accelerator]["accelerator"].is_available():
            raise UserError(
                f"--trainer.accelerator {accelerator}: not available on this machine (torch sees no such device); "
                f"--trainer.accelerator cpu or auto runs on the CPU"
            )
        return
    if torch.cuda.is_available():
        return
    if accelerator == "gpu" and torch.backends.mps.is_available():
        return  # Apple's GPU
    build = f"this torch build has CUDA {torch.version.cuda}" if torch.version.cuda else "this torch build has no CUDA"
    raise UserError(
        f"--trainer.accelerator {accelerator}: no GPU is visible to torch ({build}); "
        f"--trainer.accelerator cpu or auto runs on the CPU"
    )


def _check_no_fork(trainer: Any, subcommand: str | None) -> None:
    """``ddp_fork`` and ``ddp_notebook`` fork this process for each stage: the test after ``fit`` is forked after
    this process calibrated the checkpoint, and the copy waited for good in OpenMP (libgomp), deaf to Ctrl+C
    and SIGTERM. They are for notebooks; ``ddp`` and ``ddp_spawn`` do the same from a command line."""
    strategy = trainer.get("strategy")
    if subcommand == "fit" and isinstance(strategy, str) and strategy.startswith(("ddp_fork", "ddp_notebook")):
        raise UserError(
            f"--trainer.strategy {strategy} forks this process for the test after training, which then never ends "
            "(OpenMP does not survive a fork): use --trainer.strategy ddp (or ddp_spawn)"
        )


def _stop_the_rendezvous_at_once(strategy: Any) -> None:
    """``ddp``'s processes meet in torch's rendezvous, which waits in C++ (for ``--trainer.num_nodes``' other
    machines: 30 minutes), where no Python signal handler runs: Ctrl+C and SIGTERM did nothing. Nothing has been
    written yet, so a stop there ends the process at once. The command's own process waits there in a thread, so
    that its handler runs and says the line (:func:`mnist_rnn.stopping.exit_at_once`, status 130 or 143: ended
    by the system's action it had no line, and the shell showed 130 for SIGINT but a script saw -2). A process it
    started ends by the system's action, without a word (the first's observer says it; a Ctrl+C reaches both)."""
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    setup_distributed = getattr(strategy, "setup_distributed", None)
    if setup_distributed is None or not isinstance(strategy.launcher, _SubprocessScriptLauncher):
        return  # (ddp_spawn pickles the strategy, and a closure with it)

    def rendezvous() -> None:
        if os.environ.get("LOCAL_RANK", "0") != "0":  # started by the command's process
            with stopping.stop_handlers(signal.SIG_DFL):
                setup_distributed()
        else:
            with stopping.stop_handlers(stopping.exit_at_once), ThreadPoolExecutor(1) as pool:
                pool.submit(setup_distributed).result()
        strategy.launcher.met = True  # (StoppableScriptLauncher) its observer kills as Lightning's from now on

    strategy.setup_distributed = rendezvous


def _check_cpu_devices(trainer: Any) -> None:
    """``--trainer.devices`` naming GPUs (``0,1``, ``1,``, ``-1``: every GPU) for a run on the CPU, where it is a
    number of processes: Lightning's TypeError traceback, and each of tune's trials failed with it."""
    accelerator, devices = trainer.get("accelerator"), trainer.get("devices")
    gpu_seen = torch.cuda.is_available() or torch.backends.mps.is_available()
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not gpu_seen)
    count = str(devices).strip()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if on_cpu and count.isdigit() and int(count) > cores and not _launched_by_the_first_process():
        # Lightning starts them without a word, one thread each: the processes take turns on the cores, and every
        # step waits for the last of them
        warn(
            f"--trainer.devices {count}: {count} processes on {cores} CPU core{'s' if cores > 1 else ''} take "
            f"turns, and each step waits for the slowest: {cores} or fewer runs faster"
        )
    if not on_cpu or devices in (None, "auto") or (count.isdigit() and int(count) > 0):
        return
    shown = str(list(devices)) if isinstance(devices, list | tuple) else devices
    why = "--trainer.accelerator cpu" if accelerator == "cpu" else "torch sees no GPU"
    raise UserError(
        f"--trainer.devices {shown}: on the CPU ({why}) devices is a number of processes, 1 or more "
        "(a list such as 0,1, or -1, names GPUs)"
    )


def _one_version_for_the_loggers(loggers: list[Any]) -> None:
    """Loggers that write under the same folder (``--trainer.logger+=CSVLogger --trainer.logger.save_dir .``
    beside TensorBoard) take the first one's version: each counted the versions for itself, and the CSV file went
    to ``version_1`` while the run's events and checkpoints were in ``version_0``. Not a version set by hand."""
    root = getattr(loggers[0], "root_dir", None) if loggers else None
    for logger in loggers[1:]:
        # _version: Lightning's CSV and TensorBoard loggers keep the version given (None: the next free one) there
        if root is not None and getattr(logger, "_version", 0) is None and getattr(logger, "root_dir", None) == root:
            first = loggers[0]
            if isinstance(logger, CSVLogger):
                if (Path(first.log_dir) / "metrics.csv").exists():
                    continue  # a resumed run's: the CSV logger would delete the file it has, so a folder of its own
                # its warning that the folder holds files (the first logger's), whose metrics.csv it would delete
                warnings.filterwarnings("ignore", message=f"Experiment logs directory {re.escape(first.log_dir)} ")
            logger._version = first.version


def _logger_settings(trainer: Any) -> list[Any]:
    """The loggers ``--trainer.logger`` sets: none, one, or a list of several (``--trainer.logger+=CSVLogger``)."""
    logger = trainer.logger
    if logger is None or isinstance(logger, bool):  # False: none; True: Lightning's default
        return []
    return list(logger) if isinstance(logger, list | tuple) else [logger]


def _run_logger_args(trainer: Any) -> dict[str, Any]:
    """The settings of the logger that makes the run's folder: the first of several, as Lightning takes it (a list
    of loggers was read as none: checkpoints were looked for, and written, in another folder)."""
    loggers = _logger_settings(trainer)
    return (getattr(loggers[0], "init_args", None) or {}) if loggers else {}


def _loggerless_hint(trainer: Any) -> str:
    """Where ``last`` or ``best`` found nothing: a run trained with ``--trainer.logger false`` keeps its
    checkpoints in Lightning's ``<root>/checkpoints``, looked in only with that option again."""
    folder = Path(_log_root(trainer)) / "checkpoints"
    if trainer.logger is False or not list(folder.glob("last*.ckpt")):
        return ""
    return (
        f"; {shown_name(f'{folder}/')} holds the checkpoints of a run without a logger: add --trainer.logger false "
        "to use them"
    )


def _log_root(trainer: Any) -> str:
    """Where logs and checkpoints go: the run logger's ``save_dir``, unless it is the default "." and
    ``--trainer.default_root_dir`` names a folder."""
    save_dir = _run_logger_args(trainer).get("save_dir")
    if save_dir in (None, ".") and trainer.default_root_dir:
        return str(trainer.default_root_dir)
    return save_dir or "."


# Options that only fit uses (training, its checkpoints, the training loss): validate's, test's and predict's --help
# leave them out, but the commands take them, so that a run's config.yaml, which holds them all, works as their
# --config. checkpoint.dirpath stays: it is where --ckpt_path last and best look.
FIT_ONLY_OPTIONS = (
    *(
        f"trainer.{name}"
        for name in (
            "max_epochs",
            "min_epochs",
            "max_steps",
            "min_steps",
            "max_time",
            "limit_train_batches",
            "val_check_interval",
            "check_val_every_n_epoch",
            "num_sanity_val_steps",
            "accumulate_grad_batches",
            "gradient_clip_val",
            "gradient_clip_algorithm",
            "reload_dataloaders_every_n_epochs",
        )
    ),
    "checkpoint",
    "finite_loss",
)
FIT_ONLY_KEPT = ("checkpoint.dirpath",)


def _hide_options_of_fit(command: str, parser: LightningArgumentParser) -> None:
    """Leave the options of :data:`FIT_ONLY_OPTIONS` out of ``command``'s --help (predict's: its progress bar's
    too, which it turns off), keeping them as options: they made a long --help longer, and did nothing there."""
    if command == "fit":
        return
    # predict's bar never refreshes (stdout is its table), whatever --trainer.enable_progress_bar says.
    hidden = FIT_ONLY_OPTIONS
    if command == "predict":
        hidden = (*hidden, "progress_bar", "trainer.enable_progress_bar")
    for group in parser._action_groups:
        left_out = False
        for action in group._group_actions:
            dest = action.dest
            if dest not in FIT_ONLY_KEPT and any(dest == name or dest.startswith(f"{name}.") for name in hidden):
                # Not argparse.SUPPRESS: jsonargparse leaves such options out of --print_config and config.yaml.
                action.left_out_of_help = True  # type: ignore[attr-defined]
                left_out = True
        if left_out:
            group.description = (
                f"Options that do nothing in {command} are not listed here, but taken (a run's config.yaml holds "
                "them): see fit --help."
            )


def _stray_option_before_the_command(parser: LightningArgumentParser, raw_args: list[str]) -> str | None:
    """The message for an unknown option before the command (``--conf fast.yaml fit``), else None: argparse left
    it aside and took its value for the command, and said "no command 'fast.yaml'"."""
    own = parser._option_string_actions
    index = 0
    while index < len(raw_args) and raw_args[index].startswith("-"):
        name, joined, _ = raw_args[index].partition("=")
        if name not in own:
            close = difflib.get_close_matches(name, [option for option in own if option.startswith("--")], n=1)
            return f"{name} is not an option before the command{f' (did you mean {close[0]}?)' if close else ''}"
        # --config FILE takes the next argument (--print_config only its =FLAGS)
        index += 2 if own[name].nargs is None and not joined else 1
    return None


def _arguments_with_a_space(error: ArgumentError, raw_args: list[str]) -> str | None:
    """jsonargparse's "unrecognized arguments" with each argument that holds a space quoted, as the shell takes it,
    or None where none does: "unrecognized arguments: --trainer.max_epochs 4" named an option and a value that
    looked right, where one argument held both (``"--trainer.max_epochs 4"``, quoted, or a script's ``"$ARGS"``)."""
    unknown = unrecognized_arguments(str(error), raw_args)
    if unknown is None or not any(re.search(r"\s", arg) for arg in unknown):  # none, or not told apart
        return None
    listed = " ".join(shlex.quote(arg) for arg in unknown)
    option = next((arg for arg in unknown if arg.startswith("--") and re.search(r"\s", arg)), None)
    if option is None:
        return f"unrecognized arguments: {listed}"
    name, value = option.split(maxsplit=1)
    return (
        f"unrecognized arguments: {listed}: an option and its value in one argument; pass them as two "
        f"({name} {shlex.quote(value)}) or joined with = ({shlex.quote(f'{name}={value}')})"
    )


def _option_meant(error: ArgumentError, parser: LightningArgumentParser | None) -> str | None:
    """The option a misspelt one (``--modle.lr``, ``--trainer.max_epoch``, ``model: {lrr: ...}`` in a config) is
    closest to, among those of ``parser`` (the command's), or None: jsonargparse named it, but not what it may
    have meant."""
    unknown = _unknown_key(error)
    if unknown is None or parser is None:
        return None
    if "unrecognized arguments" in str(error):
        return options_meant(unknown, parser)
    # a config file's key, or a nested class's ("Option 'save_dirr' is not accepted")
    options = parser_options(parser)
    close = difflib.get_close_matches(unknown.replace("-", "_"), options, n=1, cutoff=0.75)
    if close:
        return close[0] if close[0] != unknown else None
    # A key outside any section (max_epochs: 3), or in another section (model: {epochs: 3}) or one the command
    # lacks (optimizer: {lr: 0.01}): by its last part, as an option typed so on the command line (--max_epochs).
    meant = closest_options(unknown.rpartition(".")[2], options)
    return " or ".join(option.replace(".init_args.", ".") for option in meant) or None  # as options_meant


def parser_options(parser: LightningArgumentParser) -> list[str]:
    """Every option of ``parser``, dotted, without ``--``: its settings, and the options that set none
    (--print_config: "--print_conf" was refused without a word)."""
    actions = (option[2:] for option in parser._option_string_actions if option.startswith("--"))
    return sorted({*flat_keys(parser.get_defaults()), *actions})


def options_meant(unknown: str, parser: LightningArgumentParser) -> str | None:
    """The option of ``parser`` that the command line's unknown ``--unknown`` most likely meant, as typed
    (``--model.lr``, or ``--trainer.max_epochs or --trainer.min_epochs``), or None (see :func:`closest_options`)."""
    meant = [option for option in closest_options(unknown, parser_options(parser)) if option != unknown]
    # --trainer.logger.save_dir as typed: jsonargparse takes a class's settings without their init_args.
    return " or ".join(f"--{option.replace('.init_args.', '.')}" for option in meant) or None


def closest_options(unknown: str, options: list[str]) -> list[str]:
    """Of ``options`` (dotted, without ``--``), the one ``unknown`` most likely meant, or the two or three it is
    equally near, or none: the one it begins (``--ckpt``, ``--model.hid``: argparse took such a shortening for
    the option, and difflib's nearest to ``model.hid`` was ``model.std``), else the nearest in spelling
    (``--trainer.max_epoch``), else, for a name typed without its section, the options whose last part it begins
    or is near (``--lr``, ``--max_epochs``, ``--epochs``: plain argparse's and Lightning's own
    Trainer arguments are spelt so)."""
    # --ckpt-path: argparse's usual spelling of --ckpt_path (the benchmarks' own options are spelt so)
    unknown = unknown.replace("-", "_")
    found = _nearest(unknown, options)
    if found or "." in unknown:
        return found
    by_last_part = {option.rpartition(".")[2]: option for option in reversed(options)}  # the first of equal ones
    return [by_last_part[name] for name in _nearest(unknown, list(by_last_part))]


def _nearest(name: str, names: list[str]) -> list[str]:
    """The one of ``names`` that ``name`` begins, else those nearest to it in spelling (ties: ``epochs`` is as near
    to ``max_epochs`` as to ``min_epochs``), if near enough."""
    begun = [other for other in names if other.startswith(name)]
    if len(begun) == 1:
        return begun
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    ratio = {other: difflib.SequenceMatcher(None, name, other).ratio() for other in close}
    return sorted(other for other in close if ratio[other] == max(ratio.values()))


def _unknown_key(error: ArgumentError) -> str | None:
    """The dotted key jsonargparse refused as no option: "Group 'model' does not accept option 'hiden_size'"
    (a config file's key in a known section), "Option 'modle.lr' is not accepted" (an unknown section), or
    "unrecognized arguments: --model.lrr" (the command line)."""
    text = str(error)
    grouped = re.search(r"Group '([^']+)' does not accept option '([^']+)'", text)
    if grouped:
        return f"{grouped[1]}.{grouped[2]}"
    unknown = re.search(
        r"does not accept option '([^']+)'|Option '([^']+)' is not accepted|unrecognized arguments: --([\w.-]+)", text
    )
    return next((key for key in unknown.groups() if key), None) if unknown else None


def _config_file_giving(error: ArgumentError, raw_args: list[str]) -> Path | None:
    """The --config file that sets the option jsonargparse refused (a misspelt key, a value of the wrong
    type), which its message does not name: with several config files, or one written long ago, the user has
    to know where to look. None when the command line sets it too (the error may be the command line's)."""
    value = re.search(r"Parser key \"([^\"]+)\"", str(error))
    key = value[1] if value else _unknown_key(error)
    if key is None:
        return None
    if any(arg == f"--{key}" or arg.startswith(f"--{key}=") for arg in raw_args):
        return None
    return _config_file_setting(key, raw_args)


def _config_file_setting(key: str, raw_args: list[str]) -> Path | None:
    """The last ``--config`` file that sets ``key`` (a dotted option, or a group of them), at its top or in a
    command's section (``fit: {model: ...}``, a config given before the command), or None."""
    # the last file given wins, as in jsonargparse
    return next((path for path in reversed(_config_paths(raw_args)) if _file_sets(path, key)), None)


def _file_sets(path: Path, key: str) -> bool:
    """Whether the config file ``path`` sets ``key``, at its top or in a command's section; False where it
    cannot be read (other checks say why)."""
    wanted = [key, *(f"{command}.{key}" for command in TRAINER_COMMANDS)]
    with contextlib.suppress(OSError, UnicodeDecodeError, yaml.YAMLError):
        settings = yaml.safe_load(path.read_text())
        keys = flat_settings(settings) if isinstance(settings, dict) else {}
        return any(name in keys or any(set_.startswith(f"{name}.") for set_ in keys) for name in wanted)
    return False


def flat_settings(settings: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys: {"trainer": {"max_epochs": 3}} -> {"trainer.max_epochs": 3} (a YAML
    config's ``model.lr: 1`` stays ``model.lr``)."""
    if not isinstance(settings, dict) or not settings:
        return {prefix: settings}
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        flat.update(flat_settings(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def flat_keys(config: Namespace, prefix: str = "") -> list[str]:
    """Every key of a nested jsonargparse namespace, dotted: ``model``, ``model.lr``, ..."""
    keys = []
    for key, value in vars(config).items():
        keys.append(prefix + key)
        if isinstance(value, Namespace):
            keys += flat_keys(value, f"{prefix}{key}.")
    return keys


def short_message(error: BaseException) -> str:
    """The message of an error in one line: jsonargparse's span several, the last naming the given value."""
    linked = re.search(r'Linked "model\.(\w+)" must be given via', str(error))
    if linked:  # jsonargparse names data.<name>, which is no option (a property of the data module) but for dataset
        name = linked.group(1)
        via = f"; choose the data set with --data.{name}" if name == "dataset" else ""
        return f"--model.{name} is not an option: the model takes it from the data set it is trained on{via}"
    commands = [*TRAINER_COMMANDS, *TOOLS]
    listed_commands = ", ".join(commands[:-1]) + f" or {commands[-1]}"
    if 'expected "subcommand" to be one of' in str(error):  # LightningCLI's list leaves out the tools
        return f"a command is needed: {listed_commands} (see --help)"
    unknown = re.search(r"argument subcommand: invalid choice: '([^']*)'", str(error))
    if unknown:
        close = (
            [OTHER_NAMES[unknown[1]]]
            if unknown[1] in OTHER_NAMES
            else difflib.get_close_matches(unknown[1], commands, n=1)
        )
        meant = f" (did you mean {close[0]}?)" if close else ""
        return f"no command {unknown[1]!r}{meant}: choose {listed_commands} (see --help)"
    wrong_type = _wrong_type(str(error))
    if wrong_type:
        return wrong_type
    precision = re.search(r'Parser key "trainer\.precision".*^\s*Given value: (.+)$', str(error), re.DOTALL | re.M)
    if precision:  # jsonargparse lists the Union's subtypes' failures, none of which names a valid value
        given = precision.group(1)
        close = difflib.get_close_matches(given.lower().replace("_", "-"), PRECISIONS, n=1)  # bf16mixed, BF16-mixed
        meant = f" (did you mean {close[0]}?)" if close else ""
        return (
            f"--trainer.precision {given}: no such precision{meant}; choose one of 32-true (float32, the "
            "default), bf16-mixed, 16-mixed (float16 on a GPU), bf16-true, 16-true or 64-true"
        )
    # Anchored: a message that quotes one further on (tune's "--space ...: fit refuses ...") keeps its start.
    choice = re.match(
        r'Parser key "([^"]+)":\s+Expected a typing\.Literal\[(.*?)\]\. Got value: (.*)$', str(error), re.M
    )
    if choice:  # a Literal's choices in Python's notation: --data.dataset fashion
        key, listed, given = choice.groups()
        options = re.findall(r"'([^']*)'", listed)
        close = difflib.get_close_matches(given.lower().replace("-", "_"), options, n=1, cutoff=0.5)
        meant = f" (did you mean {close[0]}?)" if close else ""
        return f"--{key} {given}: not one of {', '.join(options)}{meant}"
    problem = re.search(
        r'Parser key "([^"]+)".*?Problem with given class_path \'([^\']+)\':\n(.*?)\n\s*- ', str(error), re.S
    )
    if problem:  # the class's own complaint, first among the Union's subtypes': --trainer.callbacks+=EarlyStopping
        key, class_path, reason = problem.groups()
        return f"--{key} {class_path}: {' '.join(reason.split())} (see --help)"
    if isinstance(error, UserError):
        # Ours, one line: one that still breaks (a file's name put in as it is, not by shown_name) keeps each break
        # as \n, as Python writes it. Its first two lines joined by a space named "a b" for the file a<newline>b,
        # a file that is not there, and dropped what came after.
        return str(error).strip().replace("\r", "\\r").replace("\n", "\\n")
    # jsonargparse's, in several lines: the first two say what is wrong, the last the value given
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = " ".join(lines[:2])
    if len(lines) > 2 and lines[-1].startswith("Given value"):
        text += f" ({lines[-1]})"
    if isinstance(error, ArgumentError):
        text += " (see --help)"
    return text


# What a value of these types is, for "--model.lr fast: expected a number".
TYPE_NAMES = {"int": "a whole number", "float": "a number", "bool": "true, false", "str": "text", "NoneType": "null"}


def _wrong_type(text: str) -> str | None:
    """jsonargparse's message for a value of the wrong type, in words: ``Parser key "model.lr": Expected a <class
    'float'>. Got value: fast``, or for an option that takes several (``int | None``) "Does not validate against any
    of the Union subtypes", which named neither the option as typed nor what it takes. None for other types (a
    class, a Literal: jsonargparse's own words say more)."""
    found = re.match(
        r'Parser key "([^"]+)":\s+(?:Expected a (<class \'\w+\'>)\. Got value: (.*?)$|Does not validate against any '
        r"of the Union subtypes\s+Subtypes: \[(.*?)\]\n.*^\s*Given value: (.*?)$)",
        text,
        re.M | re.S,
    )
    if found is None:
        return None
    key, one, given, several, given_to_several = found.groups()
    types = one or several
    simple = re.fullmatch(r"<class '(\w+)'>(, <class '(\w+)'>)*", types)
    names = [TYPE_NAMES.get(name) for name in re.findall(r"<class '(\w+)'>", types)]
    if simple is None or None in names:
        return None
    words = ", ".join(names).split(", ")  # bool's two
    expected = f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else words[0]
    # An empty value (--trainer.max_epochs= or an unset "$EPOCHS") shown as '', not as nothing after the name.
    value = given or given_to_several or "''"
    return f"--{key} {value}: expected {expected} (see --help)"


TENSORBOARD = "lightning.pytorch.loggers.TensorBoardLogger"
CSV_LOGGER = "lightning.pytorch.loggers.CSVLogger"
TRAINER_DEFAULTS: dict[str, Any] = {
    "logger": {
        "class_path": TENSORBOARD,
        # default_hp_metric=False: the hyperparameters tab shows the real val/acc and test/acc, not -1.
        "init_args": {"save_dir": ".", "name": "lightning_logs", "default_hp_metric": False},
    },
    # The default recipe (configs/default.yaml); configs/seed.yaml restores the lab's 5 epochs.
    "max_epochs": 15,
    "gradient_clip_val": 1.0,
}
