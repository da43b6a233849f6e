"""``python -m mnist_rnn tune``: search a recipe with Optuna, each trial a real ``fit`` of this project.

The study lives in an SQL database (``--storage``, SQLite by default, PostgreSQL or MySQL to share it between
machines): it holds the trials, their settings, their per-validation ``val/acc`` and their states, so the
same command continues a study after Ctrl+C, SIGTERM or SIGKILL, and several commands (``--workers`` each)
can work on one study at once.

How a trial runs: this process asks Optuna for settings, writes them into the trial's config (the base
config with the trial's values set), and runs :func:`run_trial` on it in a process of its own (forked from
a server that has imported torch once), which builds the model, data and Trainer through the project's own
CLI (so every check and default of ``fit`` applies) and trains without the test that ``fit`` runs after
training: the test set is never read while searching. Processes because a trial can then be stopped alone,
``--workers K`` trains K at once without sharing one Python interpreter, and a SIGKILL of this process takes
its trials with it (their heartbeats stop; the next command marks them failed and runs their settings again).

Pruning is done by :class:`ValAccPruning` inside the trial's process, which talks to the same storage. It
is this project's own callback, not optuna-integration's ``PyTorchLightningPruningCallback``: that one
imports ``lightning.pytorch`` and fits Lightning 2.6, but it reports ``val/acc`` at step = epoch, so with
several validations per epoch (``--trainer.val_check_interval 0.25``) all but the first of each epoch are
ignored by Optuna, and a 1-epoch study could never be pruned. Ours steps once per validation.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import csv
import datetime
import difflib
import errno
import hashlib
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import socket
import statistics
import sys
import threading
import time
import warnings
from argparse import ArgumentError
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from jsonargparse import get_loader
from lightning.pytorch import Callback, LightningModule, Trainer

from mnist_rnn.errors import (
    SettingsError,
    UserError,
    byte_not_utf8,
    first_few,
    first_line,
    pasted,
    shown_name,
    warn,
    with_slashes,
)
from mnist_rnn.stopping import sigterm_when_parent_ends
from mnist_rnn.tools import OneLineParser, expand_home, program_name

try:
    import optuna
except ImportError:  # an optional extra: `tune` says how to install it
    optuna = None

INSTALL_HINT = 'tune needs Optuna: pip install -e ".[tune]" (or pip install optuna)'
METRIC = "val/acc"
# A trial's process exits with this for a setting the model or the data refuse (the CLI's one-line error).
REFUSED_EXIT = 2
FINISHED_STATES = ("COMPLETE", "PRUNED")
# The ranges a space may give an option: {log: [low, high]}, {float: ...}, {int: ...}.
RANGE_KINDS = ("log", "float", "int")
# The largest float32: a float option beyond it ("model.lr: {log: [1.0e-3, 1.0e+300]}") failed every trial with
# "value cannot be converted to type float without overflow".
FLOAT32_MAX = float(np.finfo(np.float32).max)
# A study stops when this many trials in a row fail in one command (a broken base config, a full disk).
FAILURES_IN_A_ROW = 3
MAX_RETRY = 2  # how many times more a cut-off trial's settings run, at most


def load_yaml(text: str) -> Any:
    """YAML read as ``fit --config`` reads it: jsonargparse's safe loader, which takes ``1e-3`` for a number
    (PyYAML's YAML 1.1 wants ``1.0e-3`` and made ``lr: {log: [1e-4, 1e-2]}`` two strings)."""
    return get_loader("yaml")(text)


# ----- the search space --------------------------------------------------------------------------------


def read_space(path: Path) -> dict[str, Any]:
    """The search space of a YAML file, checked for its form (the options are checked by :func:`check_space`).

    Each key is an option of ``fit`` and each value one of: a list (the choices), ``{log: [low, high]}``
    (a float drawn on a log scale), ``{float: [low, high]}`` or ``{int: [low, high]}``, these two with an
    optional ``step``. Keys may also nest as in a ``fit`` config (``model: {lr: {log: [...]}}``).
    """
    from mnist_rnn.cli import project_recipe, repeated_key, yaml_problem

    recipe = project_recipe(path)
    if recipe:  # docs/tune.md's configs/tune_fast.yaml, from another folder
        raise UserError(f"--space {shown_name(path)}: no such file in {shown_name(Path.cwd())}; {recipe}")
    if not path.exists() and (slashed := with_slashes(path)):
        raise UserError(f"--space {shown_name(path)}: no such file{slashed}")
    try:
        text = path.read_text()
        space = load_yaml(text)
    except (OSError, UnicodeDecodeError) as error:  # not UTF-8: a traceback before
        raise UserError(f"--space {shown_name(path)}: cannot be read ({first_line(error)})") from error
    except yaml.YAMLError as error:
        raise UserError(f"--space {shown_name(path)}: not valid YAML{yaml_problem(error)}") from error

    if repeated := repeated_key(text):
        raise UserError(f"--space {shown_name(path)}: {repeated}: keep one")
    if not isinstance(space, dict) or not space:
        raise UserError(
            f"--space {shown_name(path)}: expected option: range lines (model.lr: {{log: [1.0e-4, 1.0e-2]}})"
        )
    space = _dotted(path, space)
    for key, spec in space.items():
        _check_spec(path, key, spec)
    return space


def _dotted(path: Path, space: dict[Any, Any], prefix: str = "") -> dict[str, Any]:
    """The space with nested keys joined by dots, as a fit config nests them (``model: {lr: ...}`` is
    ``model.lr``), so a space may be written either way; a key given both ways is refused."""
    dotted: dict[str, Any] = {}
    for key, spec in space.items():
        name = f"{prefix}{key}"
        is_group = isinstance(spec, dict) and spec and not set(RANGE_KINDS) & set(spec)
        for option, value in (_dotted(path, spec, f"{name}.") if is_group else {name: spec}).items():
            if option in dotted:
                raise UserError(f"--space {shown_name(path)}: {option} is given twice")
            dotted[option] = value
    return dotted


def _check_spec(path: Path, key: str, spec: Any) -> None:
    where = f"--space {shown_name(path)}: {key}"
    if isinstance(spec, list):
        if not spec:
            raise UserError(f"{where}: the list of choices is empty")
        return
    kinds = [kind for kind in RANGE_KINDS if isinstance(spec, dict) and kind in spec]
    if len(kinds) == 1 and set(spec) - {kinds[0], "step"}:
        (extra, *_) = sorted(set(spec) - {kinds[0], "step"}, key=str)
        close = difflib.get_close_matches(str(extra), ["step"], n=1)
        raise UserError(f"{where}: {extra!r} is not part of a range{' (did you mean step?)' if close else ''}")
    if len(kinds) != 1:
        raise UserError(
            f"{where}: expected a list of choices, {{log: [low, high]}}, {{float: [low, high]}} or "
            f"{{int: [low, high]}} (float and int take a step), got {spec!r}"
        )
    kind, bounds = kinds[0], spec[kinds[0]]
    number = int if kind == "int" else (int, float)
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)
    ):
        raise UserError(
            f"{where}: {kind} takes [low, high] ({'whole ' if kind == 'int' else ''}numbers), got {bounds!r}"
        )
    low, high = bounds
    if kind != "int" and not all(math.isfinite(bound) and abs(bound) <= FLOAT32_MAX for bound in bounds):
        raise UserError(
            f"{where}: the range [{low}, {high}] goes beyond the numbers training computes with (float32, up to "
            f"{FLOAT32_MAX:.1e}): every trial would fail"
        )
    if low > high:
        raise UserError(f"{where}: the range [{low}, {high}] is reversed (low > high)")
    if low == high:
        raise UserError(f"{where}: the range [{low}, {high}] is empty: set {key} in the base config instead")
    if kind == "log" and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0, got [{low}, {high}]")
    step = spec.get("step")
    if step is not None and kind == "log":  # Optuna draws a log range continuously: said "does not fit" the range
        raise UserError(
            f"{where}: a log range takes no step (it is drawn on a log scale); for values a step apart use "
            f"{{float: [{low}, {high}], step: {step}}}"
        )
    if step is not None and (not isinstance(step, number) or step <= 0 or step > high - low):
        raise UserError(f"{where}: step {step!r} does not fit the range [{low}, {high}]")


def candidate_values(spec: Any) -> list[Any]:
    """The values of a range to try against ``fit``'s parser before the first trial: its ends, or every choice."""
    if isinstance(spec, list):
        return spec
    return next(spec[kind] for kind in RANGE_KINDS if kind in spec)


def space_size(space: dict[str, Any]) -> int | None:
    """How many settings the space holds: the product of its options' counts of values; None when one of them
    is a continuous range (log, or float without a step)."""
    size = 1
    for spec in space.values():
        if isinstance(spec, list):
            size *= len({json.dumps(choice, sort_keys=True, default=str) for choice in spec})
        elif "int" in spec or ("float" in spec and spec.get("step")):
            low, high = spec["int"] if "int" in spec else spec["float"]
            step = spec.get("step") or 1
            size *= math.floor((high - low) / step + 1e-9) + 1  # Optuna's grid: low, low + step, ... up to high
        else:
            return None
    return size


def _check_space_size(space: dict[str, Any], space_path: Path, trials: int) -> None:
    """Warn of a space with fewer settings than ``--trials``: the sampler draws its settings again, and the same
    settings with the same seed train the same result again (a one-choice space trained it --trials times)."""
    size = space_size(space)
    if size is not None and size < trials:
        held = f"only {size} setting{'s' if size > 1 else ''}"
        again = f"{trials - size} trial{'s' if trials - size > 1 else ''}"
        warn(
            f"--space {shown_name(space_path)} holds {held}, fewer than --trials {trials}: at least {again} would "
            "train settings already tried, to the same result (the same seed); widen the space, or lower --trials"
        )


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Draw one value per option of the space for ``trial`` (Optuna names the parameters by the options)."""
    values = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            values[key] = trial.suggest_categorical(key, spec)
        elif "log" in spec:
            values[key] = trial.suggest_float(key, *spec["log"], log=True)
        elif "int" in spec:
            values[key] = trial.suggest_int(key, *spec["int"], step=spec.get("step") or 1)
        else:
            values[key] = trial.suggest_float(key, *spec["float"], step=spec.get("step"))
    return values


# ----- fit's own settings ------------------------------------------------------------------------------


def _settings_only_cli() -> Any:
    """A CLI class that parses and checks ``fit``'s settings like the project's, and instantiates nothing."""
    from mnist_rnn.cli import MNISTRNNCLI

    class SettingsOnly(MNISTRNNCLI):
        def instantiate_classes(self) -> None:  # no model, data or Trainer: settings only
            pass

    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)  # "Seed set to 42"
    return SettingsOnly


def _fit_settings(args: list[str]) -> Any:
    """``fit``'s CLI for ``args``, parsed and checked, with nothing instantiated (:func:`_settings_only_cli`)."""
    from mnist_rnn.cli import build_cli

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LightningCLI's about sys.argv, which holds tune's own options
        return build_cli(args, run=False, cli_class=_settings_only_cli())


def check_settings(base: Path, overrides: dict[str, Any], space: dict[str, Any], space_path: Path) -> Any:
    """Every option of the space is an option of ``fit`` and each of its ends or choices is a value ``fit``
    takes, with the base config and the command line's fit options: one line naming the first that is not.
    Returns the base settings as ``fit`` parsed them."""
    from mnist_rnn.cli import flat_keys, short_message

    base_args = ["--config", str(base), *override_args(overrides)]
    try:
        cli = _fit_settings(base_args)
    except ArgumentError as error:
        raise UserError(f"--config {shown_name(base)} with the fit options given: {_one_line(error)}") from error
    several = _several_processes(cli.config.trainer)
    if several:
        raise UserError(f"{several} {ONE_PROCESS_PER_TRIAL}")
    options = {key for key in flat_keys(cli.config) if not key.startswith("__")}
    for key, spec in space.items():
        setting = key.removeprefix("trainer.")
        if key.startswith("trainer.") and setting in PROCESS_SETTINGS:
            for value in candidate_values(spec):
                several = _several_processes({**cli.config.trainer, setting: value})
                if several:
                    raise UserError(f"--space {shown_name(space_path)}: {key}: {value!r} {ONE_PROCESS_PER_TRIAL}")
        option, _, last = key.rpartition(".")
        is_leaf = option in options and not any(name.startswith(f"{option}.") for name in options)
        if key not in options and is_leaf:  # {logg: [...]}: a misspelt range, read as a group of options
            close = difflib.get_close_matches(last, RANGE_KINDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(
                f"--space {shown_name(space_path)}: {option}: {{{last}: ...}} is not a range{hint}: expected a list of "
                "choices, {log: [low, high]}, {float: [low, high]} or {int: [low, high]}"
            )
        if key not in options:
            close = (
                difflib.get_close_matches(key, sorted(options), n=1)
                or [option for option in sorted(options) if option.endswith(f".{key}")][:1]
            )
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"--space {shown_name(space_path)}: {key} is not an option of fit{hint}")
        for value in candidate_values(spec):
            try:
                parsed = cli.parser.parse_args([*base_args, f"--{key}={_as_argument(value)}"])
                _build_section(parsed, key)
            except SettingsError as error:
                if _fits_with_another_searched_value(cli, base_args, space, key, value):
                    continue
                raise UserError(
                    f"--space {shown_name(space_path)}: {key}: fit refuses {value!r}: {_one_line(error)}"
                ) from error
            except ArgumentError as error:
                why = short_message(error).removesuffix(" (see --help)")
                raise UserError(f"--space {shown_name(space_path)}: {key}: fit refuses {value!r}: {why}") from error
        kind = next((kind for kind in ("log", "float") if isinstance(spec, dict) and kind in spec), None)
        if kind is not None:  # whole ends pass for a whole-number option, and the fractions drawn between fail
            low, high = spec[kind]
            inside = low + (high - low) * 0.382  # a fraction, as a drawn value would be
            try:
                cli.parser.parse_args([*base_args, f"--{key}={_as_argument(inside)}"])
            except ArgumentError as error:
                raise UserError(
                    f"--space {shown_name(space_path)}: {key}: fit refuses fractions such as {inside:g}, which a "
                    f"{kind} range draws: {{int: [{low}, {high}]}} draws whole numbers ({_one_line(error)})"
                ) from error
    return cli.config


# The Trainer's settings that can start several processes for one run (DDP and its kin).
PROCESS_SETTINGS = ("devices", "num_nodes", "strategy")
ONE_PROCESS_PER_TRIAL = (
    "would start several processes per trial, which a trial cannot (Lightning starts them by running the "
    "command again): leave it out, and use --workers K to train K trials at once"
)


def _several_processes(trainer: Any) -> str | None:
    """The option of ``trainer`` (fit's parsed trainer settings) that would make one run start several
    processes, as ``--trainer.devices 2``; None for one process. A trial's process started the others by
    running its own command line, which is not a command: each trial failed, killed, after its seconds of
    start-up."""
    devices, nodes, strategy = (trainer.get(name) for name in PROCESS_SETTINGS)
    strategy = str(getattr(strategy, "class_path", strategy) or "auto")
    if any(name in strategy.lower() for name in ("ddp", "fsdp", "deepspeed", "model_parallel")):
        return f"--trainer.strategy {strategy}"
    if isinstance(nodes, int) and nodes > 1:
        return f"--trainer.num_nodes {nodes}"
    text = str(devices).strip()
    listed = devices if isinstance(devices, list | tuple) else [p for p in text.strip("[]").split(",") if p.strip()]
    several = text == "-1" or (text.isdigit() and int(text) > 1) or len(listed) > 1
    return f"--trainer.devices {devices}" if several else None


def _one_device(config: Path, gpu: int | None = None) -> list[str]:
    """One device, unless the trial's config chooses its devices: Lightning's default, every GPU of the
    machine, would make a trial on a machine with several start a process per GPU (which it cannot, as
    :func:`_several_processes` says). ``gpu``: the GPU :class:`GPUShares` gave the trial, for a trial that
    runs on a GPU (``--trainer.devices [gpu]``); else ``--trainer.devices 1``."""
    trainer = (yaml.safe_load(config.read_text()) or {}).get("trainer") or {}
    if trainer.get("devices") not in (None, "auto"):
        return []
    on_a_gpu = str(trainer.get("accelerator") or "auto") in ("auto", "gpu", "cuda")
    return ["--trainer.devices", f"[{gpu}]" if gpu is not None and on_a_gpu else "1"]


class GPUShares:
    """The machine's GPUs shared among the trials running at once: each trial takes the GPU with the fewest
    trials on it (every trial took the first GPU before, leaving the others idle). None where there are fewer
    than two GPUs, where the one device a trial gets is the GPU anyway."""

    def __init__(self, count: int) -> None:
        self.running = [0] * count if count > 1 else []
        self.lock = threading.Lock()

    def take(self) -> int | None:
        with self.lock:
            if not self.running:
                return None
            gpu = self.running.index(min(self.running))
            self.running[gpu] += 1
            return gpu

    def give_back(self, gpu: int | None) -> None:
        if gpu is not None:
            with self.lock:
                self.running[gpu] -= 1


def _fits_with_another_searched_value(
    cli: Any, base_args: list[str], space: dict[str, Any], key: str, value: Any
) -> bool:
    """Whether a value the model or data refuse with the base config's settings is taken with one value of
    another searched option: ``model.cell: [lstm, gru]`` beside ``model.forget_bias: [null, 1.0]``, from a
    base config with ``forget_bias: 1.0`` (which a GRU refuses). The trials that draw a refused combination
    fail with the model's reason, as documented; the space itself is not wrong."""
    for other, spec in space.items():
        if other == key:
            continue
        for other_value in candidate_values(spec):
            pair = [f"--{key}={_as_argument(value)}", f"--{other}={_as_argument(other_value)}"]
            try:
                _build_section(cli.parser.parse_args([*base_args, *pair]), key)
            except (ArgumentError, SettingsError):
                continue
            return True
    return False


def _build_section(settings: Any, key: str) -> None:
    """Build the model or the data module of ``settings`` (the section ``key`` is in) as fit would: their own
    checks refuse values of the right type that cannot work (an lr range from -0.01: every trial failed with
    "lr must be positive"). Building either touches no file and trains nothing."""
    from mnist_rnn.data import MNISTDataModule
    from mnist_rnn.model import RNNClassifier

    section = key.split(".", 1)[0]
    built = {"model": RNNClassifier, "data": MNISTDataModule}.get(section)
    if built is not None:
        built(**{name: value for name, value in settings[section].items() if not name.startswith("_")})


def prepare_data(settings: Any) -> None:
    """Download (or unpack) and check the data set of the base ``settings`` (:func:`check_settings`'s) once,
    here, before any trial. Trials that start at once on a fresh folder would each download it into the same
    files; and a data set that is not there would fail every trial, three in a row, instead of this command
    at once, in one line."""
    from mnist_rnn.data import MNISTDataModule

    MNISTDataModule(**settings.data.as_dict()).prepare_data()


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


def _check_no_misspelt_tune_option(parser: argparse.ArgumentParser, overrides: dict[str, Any]) -> None:
    """An unknown option without a section (``--trails 3``) is a misspelt option of tune's, not of fit's: fit's
    are ``--model.*``, ``--data.*``, ``--trainer.*`` and ``--seed_everything``. It went on to fit's parser, whose
    "unrecognized arguments: --trails=3" named no option to use."""
    ours = [option.removeprefix("--") for action in parser._actions for option in action.option_strings]
    for key in overrides:
        if "." not in key and key != "seed_everything":
            close = difflib.get_close_matches(key, ours, n=1)
            if close:
                raise UserError(f"--{key} is not an option of tune (did you mean --{close[0]}?) (see --help)")
            # fit's without its section (--max_epochs 1, --lr 0.01): said "not an option of tune" and no more
            meant = _fit_option_meant(key)
            hint = f" or fit (did you mean {meant}?)" if meant else ""
            raise UserError(f"--{key} is not an option of tune{hint} (see --help)")


def _fit_option_meant(key: str) -> str | None:
    """The option of fit that ``--key``, typed without its section, most likely meant (``--trainer.max_epochs``
    for ``--max_epochs``), as fit's own parser would name it, or None."""
    from mnist_rnn.cli import options_meant

    return options_meant(key, _fit_settings([]).parser)


def parse_overrides(extra: list[str]) -> dict[str, Any]:
    """``fit`` options typed after tune's own (``--data.data_dir DIR``, ``--trainer.max_epochs=1``), as
    {option: value}, each value read as YAML the way jsonargparse reads it."""
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(extra):
        arg = extra[index]
        if not arg.startswith("--") or arg == "--":
            raise UserError(f"unexpected argument {arg!r}: fit options are given as --section.name VALUE")
        name, has_value, value = arg[2:].partition("=")
        if name == "print_config":  # "--print_config needs a value", taken for a setting of fit
            raise UserError(
                f"--print_config is fit's, not tune's: {program_name()} fit --config BASE.yaml, the same fit "
                "options and --print_config prints the settings of a trial, but for those the space draws"
            )
        if not has_value:
            if index + 1 >= len(extra) or extra[index + 1].startswith("--"):
                raise UserError(f"--{name} needs a value")
            index += 1
            value = extra[index]
        overrides[name] = load_yaml(value) if value else value
        index += 1
    return overrides


def override_args(overrides: dict[str, Any]) -> list[str]:
    return [f"--{key}={_as_argument(value)}" for key, value in overrides.items()]


def _as_argument(value: Any) -> str:
    """A value as a command-line argument that jsonargparse reads back as the same value."""
    if isinstance(value, str) and load_yaml(value) == value:
        return value  # a plain word or path: quotes would be kept as part of it
    return json.dumps(value)


def _differences(study: Any, here: Any, shown: int = 3) -> str:
    """The settings in which ``here`` differs from the ``study``'s, by name ("trainer.limit_train_batches 300,
    here 100"): the whole of both, as JSON, hid the one setting among forty."""
    from mnist_rnn.cli import flat_settings

    made, ours = flat_settings(study), flat_settings(here)
    keys = [key for key in {**made, **ours} if _shown(made, key) != _shown(ours, key)]
    listed = [f"{key or 'the metric'} {_shown(made, key)}, here {_shown(ours, key)}" for key in keys]
    return first_few(listed, shown, separator="; ")


def _shown(settings: dict[str, Any], key: str) -> str:
    return json.dumps(settings[key]) if key in settings else "unset"


def merged_config(base: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The base config's settings with ``settings`` ({"model.lr": 0.01, ...}) set in their sections."""
    config = load_yaml(base.read_text()) or {}
    for key, value in settings.items():
        *sections, name = key.split(".")
        node = config
        for section in sections:
            if not isinstance(node.get(section), dict):
                node[section] = {}
            node = node[section]
        node[name] = value
    return config


# ----- one trial, in its own process -------------------------------------------------------------------


class ValAccPruning(Callback):
    """Report ``val/acc`` to the trial after every validation, and stop training when the pruner says so.

    The step is the number of validations so far (the epoch with the default validation once per epoch), so
    trials with other batch sizes are compared at the same point of training. Training stops cleanly (the
    checkpoints of this validation are written first); the trial's process then says it was pruned.
    """

    def __init__(self, trial: Any | None) -> None:
        self.trial = trial  # None: only keep the figures (a confirming run)
        self.step = 0
        self.best: float | None = None
        self.last: float | None = None
        self.epochs = 0.0
        self.pruned = False

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or METRIC not in trainer.callback_metrics:
            return
        value = self.last = float(trainer.callback_metrics[METRIC])
        self.step += 1
        self.best = value if self.best is None else max(self.best, value)
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.ready
        self.epochs = trainer.current_epoch + batches / max(1, trainer.num_training_batches)
        if self.trial is None:
            return
        self.trial.report(value, self.step)
        if self.trial.should_prune() and not self._trained_in_full(trainer, batches):
            self.pruned = True
            trainer.should_stop = True

    @staticmethod
    def _trained_in_full(trainer: Trainer, batches: int) -> bool:
        """Whether this validation is the one after the last training step: a trial the pruner would stop
        there has nothing left to save by stopping, and its value is a finished one (it was recorded
        PRUNED, so the study's table and best trial left a complete run out)."""
        end_of_epoch = batches >= trainer.num_training_batches
        last_epoch = trainer.max_epochs not in (None, -1) and trainer.current_epoch + 1 >= trainer.max_epochs
        last_step = trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps
        return (end_of_epoch and last_epoch) or last_step


def run_trial(request: dict[str, Any], log: Path) -> None:
    """The body of a trial's own process (or of a confirming run's): train, and write ``result.json`` into
    its folder.

    Its output goes to ``log``; a setting the model or the data refuse ends it with the CLI's one-line
    error and exit status 2.
    """
    # The forkserver it comes from blocks SIGTERM (Tuner.__init__): one that came as it started ends it now.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    with open(log, "ab", buffering=0) as file:
        os.dup2(file.fileno(), sys.stdout.fileno())
        os.dup2(file.fileno(), sys.stderr.fileno())
    end_with_tune()
    sys.argv = sys.argv[:1]  # LightningCLI warns about arguments it was not given
    import torch

    # cores / --workers threads each: more threads than free cores makes torch's threads wait for each other
    # (docs/tune.md: a confirming run with 2 threads on the busy 2-core machine crawled).
    torch.set_num_threads(request["threads"])
    from mnist_rnn.cli import known_failure
    from mnist_rnn.errors import shown_text

    try:
        (_confirm_run if request.get("confirm") else _train_trial)(request)
    except (UserError, ArgumentError) as error:
        # a name that is not UTF-8 as the terminal shows it (\xe9), not as stderr wrote it (\udce9, no file's name)
        print(f"mnist-rnn: error: {shown_text(_one_line(error))}", file=sys.stderr)
        sys.exit(REFUSED_EXIT)
    except Exception as error:  # what fit says in one line too (a full disk), else its traceback
        message = known_failure(error)
        if message is None:
            raise
        print(f"mnist-rnn: error: {shown_text(message)}", file=sys.stderr)
        sys.exit(REFUSED_EXIT)


def end_with_tune() -> None:
    """In a trial's process: get SIGTERM when the tune command ends, even by SIGKILL (Linux; SIGTERM makes the
    trial save ``last.ckpt`` and end).

    PR_SET_PDEATHSIG signals the death of the parent, which is the forkserver, not tune; and the forkserver
    ends only once every holder of its "alive" pipe has, a pipe every process it forks inherits. So this
    process closes its copy too: before, a tune killed with SIGKILL left its running trials training on,
    for hours, with no one to read their results.
    """
    sigterm_when_parent_ends()
    from multiprocessing import forkserver

    server = forkserver._forkserver  # CPython's private state; the fd is None outside a forkserver's child
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None


def _train_trial(request: dict[str, Any]) -> None:
    from mnist_rnn.cli import build_cli

    storage = optuna.storages.RDBStorage(request["storage"], engine_kwargs=_engine_kwargs(request["storage"]))
    pruner = make_pruner(request["pruner"], **request["pruning"])
    study = optuna.load_study(study_name=request["study"], storage=storage, pruner=pruner)
    trial = optuna.trial.Trial(study, request["trial_id"])
    folder = Path(request["folder"])
    args = ["--config", str(folder / "config.yaml"), "--trainer.default_root_dir", str(folder)]
    args += _one_device(folder / "config.yaml", request.get("gpu"))
    # The trial's log is a file: no progress bar in it (a setting of this run, not of the recipe).
    cli = build_cli([*args, "--trainer.enable_progress_bar", "false"], run=False)
    pruning = ValAccPruning(trial)
    cli.trainer.callbacks.append(pruning)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)  # no test: the test set is not for choosing
    if cli.trainer.interrupted:
        sys.exit(130)
    result = {"best": pruning.best, "epochs": pruning.epochs, "validations": pruning.step, "pruned": pruning.pruned}
    _log_trial_hparams(cli.trainer, cli.model, request["number"], result)
    (folder / "result.json").write_text(json.dumps(result))


def _log_trial_hparams(trainer: Trainer, model: LightningModule, number: int, result: dict[str, Any]) -> None:
    """TensorBoard's HParams tab for a trial, which ``fit`` fills only at its test (a trial has none): the run's
    settings with the trial's number and state, and its best val/acc, so that ``tensorboard --logdir ROOT``
    compares the trials in one table. A trial that never validated writes none."""
    from mnist_rnn.figures import log_hparams_with_metrics, run_settings, tensorboard_of

    logger = tensorboard_of(trainer)
    if logger is None or result["best"] is None:
        return
    settings = {**run_settings(trainer, model), "trial": number, "state": "pruned" if result["pruned"] else "complete"}
    metrics = {"tune/best_val_acc": result["best"], "tune/epochs": result["epochs"]}
    log_hparams_with_metrics(logger, settings, metrics, trainer.global_step)
    logger.experiment.flush()


def _confirm_run(request: dict[str, Any]) -> None:
    """``fit --config best.yaml`` with another seed, with its test after training; its test/acc, and the
    val/acc of the weights tested (the best checkpoint's, or the last validation's without checkpoints)."""
    from mnist_rnn.cli import build_cli

    folder = Path(request["folder"])
    args = ["--config", request["config"], "--seed_everything", str(request["seed"])]
    args += _one_device(Path(request["config"]), request.get("gpu"))
    cli = build_cli(
        [*args, "--trainer.default_root_dir", str(folder), "--trainer.enable_progress_bar", "false"], run=False
    )
    validations = ValAccPruning(trial=None)
    cli.trainer.callbacks.append(validations)
    cli.before_fit()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    cli.after_fit()  # calibrate and test, as fit does
    if not hasattr(cli, "test_results"):  # stopped before the test
        sys.exit(1)
    checkpoints = cli.trainer.checkpoint_callback
    tested = checkpoints.best_model_score if checkpoints is not None and checkpoints.best_model_path else None
    result = {
        "test": float(cli.test_results["test/acc"]),
        "val": float(tested if tested is not None else validations.last),
    }
    (folder / "result.json").write_text(json.dumps(result))


# ----- the study ---------------------------------------------------------------------------------------


def make_pruner(name: str, startup: int, warmup: int) -> Any:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup))
    return optuna.pruners.NopPruner()


def _engine_kwargs(url: str) -> dict[str, Any]:
    # SQLite lets one process write at a time; the others wait for it this long before "database is locked".
    return {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}


class QueueAgainOnce:
    """The storage's callback for a trial whose heartbeats stopped (its command was killed): once it is marked
    FAIL, its settings are queued again (as Optuna's ``RetryHeartbeatStaleTrialCallback`` does), with a line.

    Once per trial, across the commands of a study: each worker thread of each command checks for such trials as
    its next trial begins, and on SQLite (no row locks) two that looked at the same moment both marked the trial
    FAIL, and both queued it: the killed trial's settings were trained twice (a lock within a command, and a look
    at the queue, left two commands free to). The command that queues a trial first marks it, in one insert that
    the storage refuses a second time, in the transaction that queues it (:func:`mark_queued`); a command that
    finds the mark there leaves it.

    ``settings``: the options of the space. A trial killed after its first heartbeat but before it took all of
    them is not queued: its "re-run" drew new settings, and trials.csv called it a re-run of the killed one.
    """

    def __init__(self, settings: Any = ()) -> None:
        self.lock = threading.Lock()
        self.settings = set(settings)
        self.by = f"{socket.gethostname()}:{os.getpid()}"  # which command queued it, as a trial's "worker"

    def __call__(
        self, study: Any, trial: Any, why: str = "stopped sending heartbeats", marked: bool = True, fail: bool = False
    ) -> None:
        """Queue ``trial`` again (:meth:`queue`) and say so; ``fail``: the trial is still RUNNING, and is marked
        FAIL as it is queued."""
        queued = self.queue(study, trial, fail)
        said = f"tune: trial {trial.number} {why}: "
        if queued == "queued":
            say(f"{said}{'marked FAIL, ' if marked else ''}queued again")
        elif queued == "too often":
            say(f"{said}{'marked FAIL; ' if marked else ''}cut off {MAX_RETRY + 1} times, not run again")
        elif queued == "no settings":
            say(f"{said}{'marked FAIL; ' if marked else ''}it had taken no settings yet, so none run again")

    def queue(self, study: Any, trial: Any, fail: bool = False) -> str | None:
        """Queue ``trial``'s settings again: "queued"; "too often" where it was cut off too often; "no settings"
        where it had taken none (or not all) of them; None where it is queued (or run) again already, or another
        command or thread is at it."""
        history = [*trial.system_attrs.get("retry_history", []), trial.number]  # as Optuna's callback counts
        with self.lock:
            for other in study.get_trials(deepcopy=False):
                if other.system_attrs.get("retry_history", [None])[-1] == trial.number:
                    return None
            if not trial.params or not self.settings <= trial.params.keys():
                outcome, rerun = "no settings", None
            elif len(history) > MAX_RETRY:
                outcome, rerun = "too often", None
            else:
                outcome, rerun = "queued", rerun_of(trial, history)
            return outcome if mark_queued(study, trial, self.by, rerun, fail) else None

    def queue_lost(self, study: Any) -> None:
        """Queue the settings of the trials marked FAIL for their stopped heartbeats whose queuing was lost: a
        command killed inside Optuna's ``fail_stale_trials``, between the marking and its callback, left them
        FAIL with their settings never run again. Such a trial sent heartbeats, has no reason recorded by tune
        (each failure tune sees gets one), and no command's mark."""
        found = unqueued_heartbeat_failures(study)
        if not found:
            return
        trials = study.get_trials(deepcopy=False)
        run_again = {
            trial.system_attrs["retry_history"][-1] for trial in trials if trial.system_attrs.get("retry_history")
        }
        for trial in trials:  # queued again by a tune without the mark, or not
            if trial._trial_id in found and trial.number not in run_again:
                lost = copy.deepcopy(study._storage.get_trial(trial._trial_id))
                why = "was marked FAIL for its stopped heartbeats by a command cut off before it queued its settings"
                self(study, lost, why=why, marked=False)


# A FAIL trial's system attr: the command (host:pid) that queued its settings again, or found none to queue.
QUEUED_BY = "tune:queued_again_by"
# A trial's user attr: the --heartbeat of the command that runs it, by which the other commands judge it.
HEARTBEAT = "heartbeat"


def _rdb(study: Any) -> Any:
    storage = study._storage
    return getattr(storage, "_backend", storage)  # the RDBStorage under Optuna's cache


def rerun_of(trial: Any, history: list[int]) -> Any:
    """The WAITING trial that runs the FAIL ``trial``'s settings again, as Optuna's
    ``RetryHeartbeatStaleTrialCallback`` makes it (its ``failed_trial`` and ``retry_history``, which Optuna's
    ``retried_trial_number`` reads), without the trial's :data:`QUEUED_BY` mark."""
    system_attrs = {"failed_trial": trial.number, **trial.system_attrs, "retry_history": history}
    system_attrs.pop(QUEUED_BY, None)
    return optuna.create_trial(
        state=optuna.trial.TrialState.WAITING,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=trial.user_attrs,
        system_attrs=system_attrs,
    )


def mark_queued(study: Any, trial: Any, by: str, rerun: Any = None, fail: bool = False) -> bool:
    """Mark the FAIL ``trial`` as queued again by ``by`` and add ``rerun`` (None: nothing to run again) to the
    study: True; False, and nothing written, where a command marked it before. ``fail``: the trial is still
    RUNNING and is marked FAIL too (False where it is not RUNNING any more: another command did it).

    The mark is one INSERT, which the storage's unique (trial, key) refuses a second time, on SQLite too (a look
    and then a write, as Optuna's ``set_trial_system_attr`` does, let two commands both pass). The mark, the
    re-run and the FAIL are one transaction: a command killed between them, as separate writes (the mark, then
    Optuna's ``add_trial``), left a mark without its re-run, and the settings were never run again. Written to
    the tables, since Optuna lets no attr of a finished trial be set, and makes a trial in a transaction of its
    own."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy.exc import IntegrityError

    storage = _rdb(study)
    attr = models.TrialSystemAttributeModel(trial_id=trial._trial_id, key=QUEUED_BY, value_json=json.dumps(by))
    try:
        with _create_scoped_session(storage.scoped_session) as session:
            if rerun is not None:  # first, as Optuna's add_trial: the lock under which a trial takes its number
                models.StudyModel.find_or_raise_by_id(study._study_id, session, for_update=True)
            if fail:
                running = session.query(models.TrialModel).filter(
                    models.TrialModel.trial_id == trial._trial_id,
                    models.TrialModel.state == optuna.trial.TrialState.RUNNING,
                )
                values = {"state": optuna.trial.TrialState.FAIL, "datetime_complete": datetime.datetime.now()}
                if not running.update(values, synchronize_session=False):
                    return False  # another command marked it FAIL
            session.add(attr)
            session.flush()  # refused here where another command marked it
            if rerun is not None:
                storage._get_prepared_new_trial(study._study_id, rerun, session)
    except IntegrityError:
        return False
    return True


def unqueued_heartbeat_failures(study: Any) -> set[int]:
    """The ids of the study's FAIL trials that sent heartbeats, for which tune recorded no reason and no command
    has its :data:`QUEUED_BY` mark: marked FAIL for their stopped heartbeats, and not yet queued again."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    trial = models.TrialModel
    with _create_scoped_session(_rdb(study).scoped_session) as session:
        query = session.query(trial.trial_id).filter(
            trial.study_id == study._study_id,
            trial.state == optuna.trial.TrialState.FAIL,
            trial.heartbeats.any(),
            ~trial.user_attributes.any(models.TrialUserAttributeModel.key == "reason"),
            ~trial.system_attributes.any(models.TrialSystemAttributeModel.key == QUEUED_BY),
        )
        return {trial_id for (trial_id,) in query}


def stale_trial_ids(storage: Any, study_id: int) -> list[int]:
    """The ids of the study's running trials whose last heartbeat is older than two intervals of their own
    command's ``--heartbeat`` (the trial's :data:`HEARTBEAT`; the storage's for a trial without one). Optuna
    judges every trial by the interval of the command that looks: a command run with ``--heartbeat 5`` beside
    one with 30 took the other's live trials for dead after 10 s, and ran their settings again beside them."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func

    beat, attr = models.TrialHeartbeatModel, models.TrialUserAttributeModel
    with _create_scoped_session(storage.scoped_session, True) as session:
        now = session.execute(func.now()).scalar_one().replace(tzinfo=None)  # the database's clock, as Optuna's
        beats = (
            session.query(beat.trial_id, beat.heartbeat)
            .join(models.TrialModel)
            .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == optuna.trial.TrialState.RUNNING)
            .all()
        )
        recorded = session.query(attr.trial_id, attr.value_json).filter(
            attr.key == HEARTBEAT, attr.trial_id.in_([trial_id for trial_id, _ in beats])
        )
        intervals = {trial_id: json.loads(value) for trial_id, value in recorded}
    own = storage.heartbeat_interval
    return [
        trial_id
        for trial_id, last in beats
        if now - last > datetime.timedelta(seconds=2 * _interval(intervals.get(trial_id), own))
    ]


def _interval(recorded: Any, own: int) -> float:
    is_number = isinstance(recorded, int | float) and not isinstance(recorded, bool) and recorded > 0
    return recorded if is_number else own


def open_storage(url: str, heartbeat: int, callback: Any) -> Any:
    """The study's storage for a command with ``--heartbeat`` ``heartbeat``: a trial whose heartbeats stopped (no
    heartbeat for 2 intervals of its own command's, :func:`stale_trial_ids`) is marked FAIL and ``callback``
    queues its settings again, so a killed trial is re-run rather than lost."""

    class OwnIntervals(optuna.storages.RDBStorage):
        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            return stale_trial_ids(self, study_id)

    return OwnIntervals(
        url, engine_kwargs=_engine_kwargs(url), heartbeat_interval=heartbeat, heartbeat_stale_trial_callback=callback
    )


def last_heartbeats(study: Any) -> dict[int, datetime.datetime]:
    """The last heartbeat of each of the study's FAIL trials that sent any, by this machine's clock (as Optuna's
    ``datetime_start``): Optuna records heartbeats by the database's clock, which is UTC on SQLite, and may be
    another machine's on a server."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func

    beat = models.TrialHeartbeatModel
    with _create_scoped_session(_rdb(study).scoped_session) as session:
        here = datetime.datetime.now()
        ahead = session.execute(func.now()).scalar_one().replace(tzinfo=None) - here
        query = (
            session.query(beat.trial_id, beat.heartbeat)
            .join(models.TrialModel)
            .filter(
                models.TrialModel.study_id == study._study_id, models.TrialModel.state == optuna.trial.TrialState.FAIL
            )
        )
        return {trial_id: last.replace(tzinfo=None) - ahead for trial_id, last in query}


def trials_without_heartbeat(study: Any) -> set[int]:
    """The ids of the study's running trials that never recorded a heartbeat, which Optuna's own check of
    stale trials passes over. (Optuna has no public way to read heartbeats: this reads its tables.)"""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    storage = study._storage
    storage = getattr(storage, "_backend", storage)  # the RDBStorage under Optuna's cache
    with _create_scoped_session(storage.scoped_session) as session:
        query = session.query(models.TrialModel.trial_id).filter(
            models.TrialModel.study_id == study._study_id,
            models.TrialModel.state == optuna.trial.TrialState.RUNNING,
            ~models.TrialModel.heartbeats.any(),
        )
        return {trial_id for (trial_id,) in query}


class TrialFailed(Exception):
    """A trial that did not finish training: its reason is the last line of its log, or the signal."""


class Tuner:
    """One ``tune`` command: the study, the trials it runs, their processes and the results it writes."""

    def __init__(self, options: argparse.Namespace, space: dict[str, Any], overrides: dict[str, Any]) -> None:
        self.options = options
        self.space = space
        self.overrides = overrides
        self.root = Path(os.path.abspath(options.root))  # absolute, and without ".." (printed in the results)
        # Trials' processes are forked from a server that has imported torch and the project once, rather
        # than started afresh: a fresh start spends many seconds importing torch and Lightning again.
        self.processes_context = multiprocessing.get_context("forkserver")
        self.processes_context.set_forkserver_preload(["mnist_rnn.cli", "mnist_rnn.tune"])
        # Started now, ignoring SIGINT (inherited through its exec): CPython's forkserver ignores Ctrl+C only after
        # its preload, and a Ctrl+C in the seconds it imports torch killed it (the trial's start: EOFError).
        # SIGTERM is blocked (a mask, inherited likewise): one sent to the whole process group (timeout, kill --
        # -PGID, Slurm) killed the forkserver, and with it the exit status of every running trial (multiprocessing
        # then reads 255): a trial still saving its last.ckpt was told as "exit status 255". Blocked rather than
        # ignored: a trial inherits the mask, and a SIGTERM sent to it as it starts (Ctrl+C then) waits until
        # run_trial unblocks it; an ignored one was lost, and the trial trained to its end.
        from multiprocessing import forkserver, resource_tracker

        resource_tracker.ensure_running()  # first: starting it unblocks SIGTERM, which would undo the block below
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            signal.signal(signal.SIGINT, previous)
        self.processes: set[Any] = set()
        # Reentrant: the signal handler takes it in the main thread, which with --workers 1 may hold it itself (Optuna
        # runs the trial there, and process.start() takes seconds while the forkserver imports torch).
        self.lock = threading.RLock()
        self.gpus = GPUShares(_gpu_count())
        self.disk_full: str | None = None  # why a trial failed for want of space: no trial more starts
        self.stopped_by: int | None = None
        self.failures_in_a_row = 0
        self.last_failure = ""
        self.started = time.monotonic()
        self.queue_again = QueueAgainOnce(space)
        self.study = self._open_study()

    # --- the study and its storage ---

    def _open_study(self) -> Any:
        options = self.options
        storage = open_storage(options.storage, options.heartbeat, self.queue_again)
        self._check_found_study(storage)
        study = optuna.create_study(
            storage=storage,
            study_name=options.study,
            direction="maximize",
            load_if_exists=True,
            pruner=make_pruner(options.pruner, options.startup_trials, options.warmup_steps),
        )
        study.sampler = optuna.samplers.TPESampler(seed=self._sampler_seed(study), constant_liar=True)
        # One ask at a time in this command: SQLite has no row locks, so two threads could both take the same
        # queued trial.
        ask, lock = study.ask, threading.Lock()

        def ask_alone(*args: Any, **kwargs: Any) -> Any:
            with lock:
                trial = ask(*args, **kwargs)
            # Before its first heartbeat (Optuna sends it once the trial is asked for): the interval the other
            # commands judge the trial by (a re-run's was its killed command's)
            trial.set_user_attr(HEARTBEAT, options.heartbeat)
            return trial

        study.ask = ask_alone
        made_with = {"space": self.space, "base": self.base_settings(), "metric": METRIC}
        changed = [key for key, value in made_with.items() if study.user_attrs.get(key, value) != value]
        states = {trial.state.name for trial in study.get_trials(deepcopy=False)}
        if changed and not states & {*FINISHED_STATES, "RUNNING"}:
            # No result yet (every trial failed, e.g. on a space fit refused): nothing to keep comparable, so
            # the study takes the fixed space or base; settings queued for the old one are dropped.
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
                study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            print(f"tune: study {options.study!r} has no finished trial yet: it takes the new {' and '.join(changed)}")
            for key in changed:
                study.set_user_attr(key, made_with[key])
        for key, value in made_with.items():
            if key not in study.user_attrs:
                study.set_user_attr(key, value)
            elif study.user_attrs[key] != value:
                raise UserError(
                    f"study {options.study!r} in {shown_url(options.storage)} was made with another {key}: "
                    f"{_differences(study.user_attrs[key], value)}; pass another --study name or the study's "
                    f"own {'--space' if key == 'space' else '--config and fit options'}"
                )
        return study

    def _check_found_study(self, storage: Any) -> None:
        """Refuse a study of that name already in the storage that tune cannot continue: one that minimizes
        (Optuna keeps the direction it was made with: tune's ``maximize`` was dropped, the best trial was the
        worst and the pruner stopped the good ones), or one that tune did not write (its trials have no run
        folder or val/acc: the results ended in ``KeyError: 'folder'``)."""
        options = self.options
        try:
            found = optuna.load_study(study_name=options.study, storage=storage)
        except KeyError:  # no such study yet: tune makes it
            return
        where = f"study {options.study!r} in {shown_url(options.storage)}"
        fix = "pass another --study name, or another --storage"
        directions = [direction.name.lower() for direction in found.directions]
        if directions != ["maximize"]:
            made = "minimizes" if directions == ["minimize"] else f"has {len(directions)} objectives"
            raise UserError(
                f"{where} {made} ({', '.join(directions)}), and Optuna keeps the direction a study was made "
                f"with: tune maximizes {METRIC}; {fix}"
            )
        # Tune's finished trials all have their run folder and val/acc (what the results and best.yaml read);
        # unfinished ones (queued with enqueue_trial, or cut off) are taken as they are.
        finished = [trial for trial in found.get_trials(deepcopy=False) if trial.state.name in FINISHED_STATES]
        theirs = [trial for trial in finished if not {"folder", "best_val_acc"} <= trial.user_attrs.keys()]
        if theirs:
            if len(finished) == 1:
                counted = "its finished trial has"
            elif len(theirs) == len(finished):
                counted = f"its {len(finished)} finished trials have"
            else:
                counted = (
                    f"{len(theirs)} of its {len(finished)} finished trials {'has' if len(theirs) == 1 else 'have'}"
                )
            raise UserError(
                f"{where} is not a study written by mnist_rnn tune ({counted} no run folder or {METRIC} "
                f"recorded by tune); {fix}"
            )

    def _sampler_seed(self, study: Any) -> int:
        """The sampler's seed: from ``--seed``, the trials the study holds and this process. Seeded with
        ``--seed`` alone, every command that resumed a study, or joined it from another terminal or machine,
        drew the first command's settings again (its first trials, repeated as new ones)."""
        made = len(study.get_trials(deepcopy=False))
        return int(np.random.SeedSequence([self.options.seed, made, os.getpid()]).generate_state(1)[0])

    def base_settings(self) -> dict[str, Any]:
        """The base config with the fit options, as compared between the commands of a study; the data's
        folder is left out, since each machine may keep the data elsewhere."""
        settings = merged_config(Path(self.options.config), self.overrides)
        if isinstance(settings.get("data"), dict):
            settings["data"].pop("data_dir", None)
        return settings

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.study.get_trials(deepcopy=False):
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts

    def finished(self) -> int:
        counts = self.counts()
        return sum(counts.get(state, 0) for state in FINISHED_STATES)

    def run(self) -> None:
        """Run trials until the study has ``--trials`` finished (complete or pruned) ones, with the trials of
        other commands on the same study: while theirs are running, wait for them (or for their heartbeats
        to stop, which frees their places). With ``--timeout``, no trial starts after that many seconds and
        the running ones finish (Optuna's own ``timeout``): the results and the confirmation follow as after
        the last trial."""
        wanted = self.options.trials
        timeout = self.options.timeout
        states = [getattr(optuna.trial.TrialState, state) for state in (*FINISHED_STATES, "RUNNING")]
        first = True
        waiting = False  # for trials running elsewhere, said once
        while self.stopped_by is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
                optuna.storages.fail_stale_trials(self.study)  # each one found says so (QueueAgainOnce)
            self.fail_unstarted_trials()
            self.queue_again.queue_lost(self.study)
            counts = self.counts()
            finished = sum(counts.get(state, 0) for state in FINISHED_STATES)
            if finished >= wanted:
                if first:  # Optuna's n_trials adds trials; --trials is the study's total: say why none ran
                    print(
                        f"tune: study {self.options.study!r} already has {finished} finished trials (--trials "
                        f"{wanted}): none trained; --trials {finished + wanted} runs {wanted} more"
                    )
                break
            first = False
            left = None if timeout is None else timeout - (time.monotonic() - self.started)
            if left is not None and left <= 0:
                print(
                    f"tune: --timeout {timeout:g} s reached with {finished} of {wanted} trials finished; the "
                    "same command continues the study",
                    flush=True,
                )
                break
            running = counts.get("RUNNING", 0)
            todo = wanted - finished - running
            if todo <= 0:  # the rest are running in other commands
                if not waiting:  # else silent, for up to two heartbeats after a kill (a minute by default)
                    say(
                        f"tune: {finished} of {wanted} trials finished; waiting for the {running} running elsewhere "
                        f"(a killed one's settings run again once it has sent no heartbeat for "
                        f"{2 * self.longest_heartbeat():g} s)"
                    )
                waiting = True
                time.sleep(max(1.0, self.options.heartbeat / 2))
                continue
            waiting = False
            try:
                self.study.optimize(
                    self.objective,
                    n_trials=todo,
                    n_jobs=min(self.options.workers, todo),
                    timeout=left,
                    catch=(TrialFailed,),
                    callbacks=[optuna.study.MaxTrialsCallback(wanted, states=states), self.progress],
                )
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as error:
                # The trial was finished by someone else: a command took it for dead (a late heartbeat on a very
                # busy machine) and queued its settings again, or (SQLite has no row locks) another command
                # took the same queued re-run at the same moment. Its result is dropped here.
                if not isinstance(error, optuna.exceptions.UpdateFinishedTrialError) and "Cannot tell" not in str(
                    error
                ):
                    raise
                print(f"tune: {first_line(error)} (finished elsewhere meanwhile: this run of it is dropped)")
            if self.disk_full is not None:
                raise UserError(
                    f"{self.disk_full}; no trial more was started: free some space, then the same command "
                    "continues the study"
                )
            if self.failures_in_a_row >= FAILURES_IN_A_ROW:
                raise UserError(
                    f"{self.failures_in_a_row} trials in a row failed, the last with: {self.last_failure}; "
                    "the study is kept: fix that and run the same command again (while a study has no finished "
                    "trial, it takes a changed --space or base config)"
                )

    def longest_heartbeat(self) -> float:
        """The longest ``--heartbeat`` of the commands running the study's running trials (this one's for a trial
        that recorded none): a killed trial is found once it has been silent for twice its own command's."""
        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        own = self.options.heartbeat
        return max((_interval(trial.user_attrs.get(HEARTBEAT), own) for trial in running), default=own)

    def fail_unstarted_trials(self) -> None:
        """Mark FAIL the running trials that never sent a heartbeat: their command was killed between creating
        the trial and the first heartbeat (Optuna sends it from a thread, which may come after the settings),
        so Optuna's heartbeat check never sees them, and each would hold a place in the study for ever (the
        next command waited for it: a hang). A live trial sends one at once; one without any after two
        heartbeat intervals (its own command's, as :func:`stale_trial_ids` judges) never will. Settings it had
        taken (a re-run's come with it from the queue) are queued again, as Optuna does for a trial whose
        heartbeats stopped."""
        now = datetime.datetime.now()
        silent = trials_without_heartbeat(self.study)
        storage = self.study._storage
        for trial in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            interval = _interval(trial.user_attrs.get(HEARTBEAT), self.options.heartbeat)
            too_old = now - datetime.timedelta(seconds=2 * interval)
            if trial._trial_id not in silent or trial.datetime_start is None or trial.datetime_start > too_old:
                continue
            if not trial.params:
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another command did it
                    storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
                    print(f"tune: trial {trial.number} was cut off before it began: marked FAIL")
                continue
            # Marked FAIL in the transaction that queues its settings: a command killed between the two, as two
            # writes, left it FAIL with no heartbeat and no mark, which no command queued (queue_lost looks for
            # trials that sent heartbeats).
            why = "was cut off before its first heartbeat"
            self.queue_again(self.study, copy.deepcopy(trial), why=why, fail=True)

    # --- one trial ---

    def objective(self, trial: Any) -> float:
        values = suggest(trial, self.space)
        if self.stopped_by is not None:  # Optuna had asked for this trial as the signal came
            self.study.stop()
            trial.set_user_attr("reason", "not started: tune was stopping")
            if "retry_of" in trial.user_attrs:  # a cut-off trial's settings, taken from the queue: back in it
                self.study.enqueue_trial(values, user_attrs={"retry_of": trial.user_attrs["retry_of"]})
            raise TrialFailed("not started: tune was stopping")
        seed = self.options.seed if "seed_everything" not in values else values["seed_everything"]
        settings = {"seed_everything": seed, **self.overrides, **values}
        folder = self.root / f"trial_{trial.number:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        config = merged_config(Path(self.options.config), settings)
        data = config.get("data")
        if isinstance(data, dict) and isinstance(data.get("data_dir"), str):
            # absolute, so that the config (and best.yaml) runs from any folder, as fit --config
            data["data_dir"] = os.path.abspath(os.path.expanduser(data["data_dir"]))
        header = f"# tune study {self.options.study!r}, trial {trial.number}: {shown_name(self.options.config)} with\n"
        header += "".join(f"#   {key}: {json.dumps(value)}\n" for key, value in values.items())
        (folder / "config.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("folder", str(folder))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # which command ran it
        request = {
            "storage": self.options.storage,
            "study": self.options.study,
            "trial_id": trial._trial_id,
            "number": trial.number,
            "folder": str(folder),
            "pruner": self.options.pruner,
            "pruning": {"startup": self.options.startup_trials, "warmup": self.options.warmup_steps},
            "threads": max(1, _cores() // self.options.workers),
        }
        returncode = self._train(folder, request)
        result_file = folder / "result.json"
        if returncode != 0 or not result_file.is_file():
            reason = self._failure_reason(folder, returncode)
            trial.set_user_attr("reason", reason)
            if self.stopped_by is not None and returncode != REFUSED_EXIT:
                # Cut off by this command's stop: the same settings come first when the study continues.
                trial.set_user_attr("cut_off", True)
                self.study.enqueue_trial(values, user_attrs={"retry_of": trial.number})
            if self.stopped_by is not None:
                # No new trial: Optuna would take the one just queued, and fail it as "not started". (The
                # signal handler's own stop() is refused with --workers over 1: Optuna lets only its worker
                # threads stop the loop, and the handler runs in the main one.)
                self.study.stop()
            elif "no space left" in reason.lower():
                # Each next trial would fail the same way, and on a disk full enough Optuna could not record it:
                # its own assertion then ended tune in a traceback, the trial left RUNNING.
                self.disk_full = f"trial {trial.number} failed: {without_fits_advice(reason)}"
                self.study.stop()
            raise TrialFailed(reason)
        result = json.loads(result_file.read_text())
        trial.set_user_attr("best_val_acc", result["best"])
        trial.set_user_attr("epochs", round(result["epochs"], 3))
        if result["pruned"]:
            raise optuna.TrialPruned(f"pruned after validation {result['validations']}")
        return result["best"]

    def _train(self, folder: Path, request: dict[str, Any]) -> int:
        """Run the trial in its own process and wait for it; its exit status (negative: killed by a signal)."""
        gpu = self.gpus.take()
        process = self.processes_context.Process(target=run_trial, args=({**request, "gpu": gpu}, folder / "fit.log"))
        try:
            with self.lock:
                if self.stopped_by is not None:  # a signal came as this trial was being set up
                    return 128 + self.stopped_by
                process.start()
                self.processes.add(process)
                if self.stopped_by is not None:  # the signal came while it started: the handler did not see it
                    os.kill(process.pid, signal.SIGTERM)
            try:
                process.join()
                return process.exitcode
            finally:
                with self.lock:
                    self.processes.discard(process)
        finally:
            self.gpus.give_back(gpu)

    @staticmethod
    def _failure_reason(folder: Path, returncode: int) -> str:
        if returncode < 0:
            return f"killed by {signal.Signals(-returncode).name}"
        lines = [line.strip() for line in _tail(folder / "fit.log").splitlines() if line.strip()]
        if returncode in (130, 143):
            return f"stopped by {'SIGINT' if returncode == 130 else 'SIGTERM'}"
        errors = [line.removeprefix("mnist-rnn: error: ") for line in lines if line.startswith("mnist-rnn: error: ")]
        # else a crash: the last line of its traceback (the exception), or whatever the log kept
        return errors[-1] if errors else f"exit status {returncode}" + (f": {lines[-1]}" if lines else "")

    def progress(self, study: Any, trial: Any) -> None:
        """One line per trial this command ran, when it ends."""
        value = trial.user_attrs.get("best_val_acc")
        shown = f"val/acc {value:.2%}" if value is not None else "no val/acc"
        state = trial.state.name
        if state == "FAIL":
            shown = trial.user_attrs.get("reason", "")
            if self.stopped_by is None:  # a failure of its own, not this command's stop
                self.failures_in_a_row += 1
                self.last_failure = shown
        else:
            self.failures_in_a_row = 0
        if state == "PRUNED":
            shown += f" after {trial.user_attrs.get('epochs', 0):.2f} epochs"
        finished = self.finished()
        best = ""
        with contextlib.suppress(ValueError):
            best = f"; best so far {study.best_value:.2%} (trial {study.best_trial.number})"
        elapsed = _clock(time.monotonic() - self.started)
        counted = f"{finished}/{self.options.trials} finished{best}"
        say(f"tune: trial {trial.number} {state.lower()}: {shown} | {counted} | {elapsed}")
        if self.failures_in_a_row >= FAILURES_IN_A_ROW:
            study.stop()

    # --- signals ---

    def on_signal(self, signum: int, frame: Any) -> None:
        """Stop: no new trial, and the running ones get SIGTERM (they save ``last.ckpt`` and end); a second
        signal kills them at once."""
        again = self.stopped_by is not None
        self.stopped_by = signum
        with contextlib.suppress(RuntimeError):
            self.study.stop()
        print(f"\ntune: {signal.Signals(signum).name}: stopping the running trials", file=sys.stderr, flush=True)
        with self.lock:
            for process in self.processes:
                with contextlib.suppress(ProcessLookupError, TypeError):
                    os.kill(process.pid, signal.SIGKILL if again else signal.SIGTERM)

    # --- results ---

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        last_beats = last_heartbeats(self.study)
        for trial in self.study.get_trials(deepcopy=False):
            start, end = trial.datetime_start, trial.datetime_complete
            last = last_beats.get(trial._trial_id)
            if start and end and last and trial.state.name == "FAIL" and "reason" not in trial.user_attrs:
                # Marked FAIL for its stopped heartbeats by the command that found it, up to two heartbeats (or a
                # whole command) after it died: its last heartbeat is its end, to within one heartbeat.
                end = min(end, max(last, start))
            seconds = (end - start).total_seconds() if end and start else None
            value = trial.user_attrs.get("best_val_acc")
            note = trial.user_attrs.get("reason", "")
            if trial.state.name == "FAIL" and not note:
                note = "its heartbeat stopped: the process was killed"
            if trial.user_attrs.get("retry_of") is not None or trial.system_attrs.get("failed_trial") is not None:
                again = trial.user_attrs.get("retry_of", trial.system_attrs.get("failed_trial"))
                note = f"re-run of {again}" + (f"; {note}" if note else "")
            rows.append(
                {
                    "number": trial.number,
                    "state": trial.state.name,
                    METRIC: "" if value is None else f"{value:.4f}",
                    "epochs": trial.user_attrs.get("epochs", ""),
                    "seconds": "" if seconds is None else round(seconds),
                    "seed": trial.user_attrs.get("seed", ""),
                    **{key: _short_value(trial.params.get(key, "")) for key in self.space},
                    "note": note,
                }
            )
        return rows

    def write_results(self) -> None:
        rows = self.rows()
        table = self.root / "trials.csv"
        with open(table, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["number"])
            writer.writeheader()
            writer.writerows(rows)
        try:
            best = self.study.best_trial
        except ValueError:
            best = None
        print(_text_table(rows, None if best is None else best.number))
        marked = " (* the best)" if best is not None else ""
        # Each path as shown_name writes it: a --root with a line break split these lines, the rest of its name alone
        print(f"tune: table of {len(rows)} trial{'s' if len(rows) != 1 else ''} in {shown_name(table)}{marked}")
        self._write_plots()
        if best is None:
            print("tune: no complete trial yet, so no best config")
            return
        best_yaml = self.root / "best.yaml"
        text = Path(best.user_attrs["folder"], "config.yaml").read_text()
        value = best.user_attrs["best_val_acc"]
        best_yaml.write_text(
            f"# The best of study {self.options.study!r}: trial {best.number}, val/acc {value:.4f}\n{text}"
        )
        print(f"tune: best trial {best.number}: val/acc {value:.2%} with {_settings_line(best.params)}")
        print(f"tune: its config: {shown_name(best_yaml)} ({program_name()} fit --config {pasted(best_yaml)})")

    def _write_plots(self) -> None:
        from mnist_rnn.study_plots import write_plots

        written = write_plots(self.study, self.root / "plots", parameters=len(self.space))
        if written:
            print(f"tune: plots in {shown_name(self.root / 'plots')}: {', '.join(written)}")

    def confirm(self, seeds: int) -> None:
        """Train the best config again on seeds 0..seeds-1 (``--workers`` at once), each with the test after
        training, as ``fit`` does, and print test/acc mean +- std beside the val/acc it was chosen by. A seed
        that an earlier command confirmed with the same best.yaml is not trained again (on a GPU recipe each
        is minutes of training)."""
        try:
            best = self.study.best_trial
        except ValueError:
            raise UserError("--confirm-seeds: no complete trial to confirm (see the table above)") from None
        best_yaml = self.root / "best.yaml"
        config = hashlib.sha256(best_yaml.read_bytes()).hexdigest()

        def one(seed: int) -> dict[str, float]:
            folder = self.root / "confirm" / f"seed_{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError, ValueError):
                result = json.loads((folder / "result.json").read_text())
                if result.get("config") == config:
                    shown = f"test/acc {result['test']:.2%}, val/acc {result['val']:.2%}"
                    say(f"tune: seed {seed}: {shown} (confirmed before, with the same best.yaml)")
                    return result
            (folder / "result.json").unlink(missing_ok=True)
            say(f"tune: confirming trial {best.number} with seed {seed} ({shown_name(folder)})")
            request = {"confirm": True, "config": str(best_yaml), "seed": seed, "folder": str(folder)}
            returncode = self._train(folder, {**request, "threads": max(1, _cores() // self.options.workers)})
            if returncode != 0 or not (folder / "result.json").is_file():
                raise UserError(f"confirming with seed {seed}: {self._failure_reason(folder, returncode)}")
            result = {**json.loads((folder / "result.json").read_text()), "config": config}
            (folder / "result.json").write_text(json.dumps(result))  # with what it confirmed
            say(f"tune: seed {seed}: test/acc {result['test']:.2%}, val/acc {result['val']:.2%}")
            return result

        with ThreadPoolExecutor(self.options.workers) as pool:
            results = list(pool.map(one, range(seeds)))
        tests, vals = [r["test"] for r in results], [r["val"] for r in results]
        chosen = f"tune: trial {best.number}, chosen by val/acc {best.user_attrs['best_val_acc']:.2%} (seed "
        chosen += f"{best.user_attrs['seed']})"
        if seeds == 1:
            print(f"{chosen}, on seed 0: test/acc {tests[0]:.2%}, val/acc {vals[0]:.2%}")
            return
        print(
            f"{chosen}, on seeds 0-{seeds - 1}: test/acc {statistics.mean(tests):.2%} +- "
            f"{statistics.stdev(tests):.2%} ({', '.join(f'{t:.2%}' for t in tests)}), val/acc "
            f"{statistics.mean(vals):.2%} +- {statistics.stdev(vals):.2%}"
        )


def _cores() -> int:
    """The cores this process may run on (Linux), else the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _warn_if_more_workers_than_cores(workers: int, trainer: Any) -> None:
    """One line when the trials train on the CPU and ``--workers`` is more than its cores: each trial then gets
    one thread, and they take turns on the cores (``--workers 8`` on 2 cores started 8 trials without a word).
    On a GPU more trials than cores may be what is wanted: nothing is said there."""
    cores = _cores()
    if workers <= cores:
        return
    accelerator = str(trainer.get("accelerator") or "auto")
    if accelerator != "cpu" and (accelerator not in ("auto", "gpu", "cuda") or _gpu_count() > 0):
        return
    warn(
        f"--workers {workers} is more than the {cores} CPU cores the trials train on: each gets 1 thread and they "
        f"wait for each other, so each trial takes longer and the study no less time (--workers {cores} or fewer)"
    )


def _gpu_count() -> int:
    """The CUDA GPUs this process sees (``CUDA_VISIBLE_DEVICES`` narrows them); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(max(0, path.stat().st_size - size))
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def say(line: str) -> None:
    """Print a line from one of the trials' threads: in one write, so that two threads' lines never run into
    each other (``print`` writes the text and its newline apart)."""
    print(line + "\n", end="", flush=True)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60:d}:{minutes % 60:02d}:{seconds:02d}"


def _short_value(value: Any) -> Any:
    """A value as the table shows it: 4 significant digits, and YAML's null for None."""
    if value is None:
        return "null"
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _settings_line(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={_short_value(value)}" for key, value in params.items())


TERMINAL_NOTE = 60  # characters of a trial's note on the terminal; trials.csv holds it whole


def _text_table(rows: list[dict[str, Any]], best: int | None = None) -> str:
    """The trials as the terminal shows them, to be read at a glance (trials.csv keeps every column as it is):
    val/acc in percent, as every other line of tune says it; each option by its last part where those stay
    unique (``hidden_size``, not ``model.hidden_size``), as the parallel-coordinates plot names them; notes cut
    to :data:`TERMINAL_NOTE` characters; the ``best`` trial marked with a star. With the default recipe's space
    the whole table was far wider than a terminal, a failed trial's note more so."""
    if not rows:
        return "(no trials)"
    names = {c: c.rsplit(".", 1)[-1] for c in rows[0]}
    if len(set(names.values())) < len(names):  # two options of one name (model.x, data.x): whole names
        names = {c: c for c in rows[0]}
    shown = []
    for row in rows:
        value, note = row[METRIC], str(row["note"])
        cells = {**row, METRIC: f"{float(value):.2%}" if value != "" else ""}
        cells["note"] = note if len(note) <= TERMINAL_NOTE else note[: TERMINAL_NOTE - 3].rstrip() + "..."
        shown.append({names[c]: str(v) for c, v in cells.items()})
    columns = list(names.values())
    widths = {c: max(len(c), *(len(row[c]) for row in shown)) for c in columns}
    lines = ["  " + "  ".join(c.ljust(widths[c]) for c in columns)]
    for row, cells in zip(rows, shown, strict=True):
        mark = "* " if row["number"] == best else "  "
        lines.append(mark + "  ".join(cells[c].ljust(widths[c]) for c in columns))
    return "\n".join(line.rstrip() for line in lines)


# ----- the command -------------------------------------------------------------------------------------


class _Parser(OneLineParser):
    """tune's: its errors (a missing --space, a word for --trials) one line; an option with a dot is fit's, which
    says its own."""

    sections = False


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        "tune",
        description="Search fit's settings with Optuna: each trial is a real fit (its own run folder, "
        "checkpoints and TensorBoard log under --root), scored by its best val/acc and pruned on its val/acc "
        "at every validation. The storage holds the study: run the same command again to continue it after "
        "a stop, or on more machines (a PostgreSQL or MySQL URL) to share it. Options of fit (--data.data_dir "
        "DIR, --trainer.max_epochs 1, ...) may follow; they are set in every trial.",
    )
    parser.add_argument("--config", required=True, help="the base config of every trial (a fit --config file)")
    parser.add_argument(
        "--space",
        required=True,
        help="YAML of fit options to search: model.lr: {log: [1.0e-4, 1.0e-2]}, data.batch_size: [64, 128], "
        "model.dropout: {float: [0.0, 0.3], step: 0.05}, model.hidden_size: {int: [64, 256], step: 64}",
    )
    parser.add_argument("--trials", type=int, default=20, help="finished trials (complete or pruned) to reach (20)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds after which no new trial starts; the running ones finish, then the results and "
        "--confirm-seeds follow as after the last trial (none)",
    )
    parser.add_argument("--study", help="the study's name (default: the base config's name)")
    parser.add_argument("--root", help="folder of the trials' runs, table, plots and best.yaml (tune/STUDY)")
    parser.add_argument("--storage", help="database URL of the study (sqlite:///ROOT/study.db)")
    parser.add_argument("--workers", type=int, default=1, help="trials trained at once by this command (1)")
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed of every trial's fit, and with the study's trials so far and the process, of the sampler (42)",
    )
    parser.add_argument(
        "--pruner",
        choices=("median", "hyperband", "none"),
        default="median",
        help="how unpromising trials are stopped early: median (below the median of the trials so far at the same "
        "validation), hyperband, or none (median)",
    )
    parser.add_argument(
        "--startup-trials",
        "--startup_trials",
        type=int,
        default=2,
        help="complete trials before the median pruner prunes any (2)",
    )
    parser.add_argument(
        "--warmup-steps",
        "--warmup_steps",
        type=int,
        default=1,
        help="validations a trial always gets before it can be pruned (1)",
    )
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=30,
        help="seconds between a running trial's signs of life in the storage; a trial silent for twice its own "
        "command's --heartbeat is marked failed and run again (30)",
    )
    parser.add_argument(
        "--confirm-seeds",
        "--confirm_seeds",
        type=int,
        default=0,
        help="train the best config again on seeds 0..N-1 with the test after training, and print test/acc "
        "mean +- std (0: no)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """``tune``'s command line (``main`` of :mod:`mnist_rnn.cli` shows a ``UserError`` in one line)."""
    parser = build_parser()
    options, extra = parser.parse_known_args(argv)
    options = expand_home(options)  # a quoted '~/study' made a folder named ~ in the working folder
    if optuna is None:
        raise UserError(INSTALL_HINT)
    for name in ("trials", "workers", "heartbeat"):
        if getattr(options, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be 1 or more, got {getattr(options, name)}")
    for name in ("startup_trials", "warmup_steps", "confirm_seeds"):  # Optuna's ValueError, or after the study
        if getattr(options, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(options, name)}")
    if not 0 <= options.seed <= 2**32 - 1:  # every trial's fit refuses it (and the sampler's seed raised first)
        raise UserError(f"--seed must be between 0 and 4294967295, got {options.seed}")
    if options.timeout is not None and not options.timeout > 0:
        raise UserError(f"--timeout must be more than 0 seconds, got {options.timeout:g}")
    config = Path(options.config)
    if not config.is_file():
        from mnist_rnn.cli import project_recipe

        recipe = project_recipe(config)
        raise UserError(
            f"--config {shown_name(config)}: no such file"
            + (f" in {shown_name(Path.cwd())}; {recipe}" if recipe else with_slashes(config))
        )
    options.study = options.study or config.stem
    options.root = options.root or str(Path("tune") / options.study)
    _check_root_is_utf8(options.root)
    if options.storage:
        options.storage = _home_expanded(options.storage)
        _check_storage_url(options.storage)
    options.storage = options.storage or f"sqlite:///{Path(options.root) / 'study.db'}"
    space_path = Path(options.space)
    space = read_space(space_path)
    overrides = parse_overrides(extra)
    _check_no_misspelt_tune_option(parser, overrides)
    both = sorted(set(space) & set(overrides))
    if both:
        raise UserError(
            f"{both[0]} is both searched (--space {shown_name(space_path)}) and set (--{both[0]} "
            f"{overrides[both[0]]}): the space's values would win in every trial; drop one of them"
        )
    settings = check_settings(config, overrides, space, space_path)
    prepare_data(settings)
    _warn_if_more_workers_than_cores(options.workers, settings.trainer)
    _check_space_size(space, space_path, options.trials)  # once the space is known to be fit's
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial instead of Optuna's
    # heartbeats and their callback are marked experimental; they are what makes a study survive a SIGKILL
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    root = Path(options.root)
    check_root_is_the_studys(root, options.study)
    made = [folder for folder in (root, *root.parents) if not folder.exists()]  # the folders mkdir will make
    try:
        root.mkdir(parents=True, exist_ok=True)
        tuner = Tuner(options, space, overrides)
        previous = {sig: signal.signal(sig, tuner.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        written = False  # the table, plots and best.yaml
        try:
            tuner.run()
            if tuner.stopped_by is None:
                tuner.write_results()
                written = True
                if options.confirm_seeds:
                    tuner.confirm(options.confirm_seeds)
        except UserError:
            if tuner.stopped_by is None:
                raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if tuner.stopped_by is not None:
            name = signal.Signals(tuner.stopped_by).name
            if written:  # the trials had all finished: it was the confirming runs that were stopped, or none
                print(
                    f"tune: stopped by {name} while confirming; the same command confirms again (the seeds "
                    "already confirmed are kept)"
                    if options.confirm_seeds
                    else f"tune: {name} came after the trials had finished: the table, plots and best.yaml are written",
                    file=sys.stderr,
                )
                sys.exit(128 + tuner.stopped_by)
            print(
                f"tune: stopped by {name} with {tuner.finished()} of {options.trials} trials finished; "
                "the same command continues the study",
                file=sys.stderr,
            )
            tuner.write_results()
            sys.exit(128 + tuner.stopped_by)
    except UserError:
        raise
    except BrokenPipeError:
        raise  # `tune ... | head`: the CLI's one line for a closed output (it named the study's folder)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise UserError(
                f"the disk is full ({shown_name(error.filename or options.root)}); the study in "
                f"{shown_url(options.storage)} is kept: free some space and run the same command again"
            ) from error
        path = Path(options.root)
        files = [part for part in (path, *path.parents) if part.exists() and not part.is_dir()]
        if files:  # a file where --root needs a folder: it said "[Errno 20] Not a directory", naming no option
            raise UserError(
                f"--root {shown_name(options.root)}: {shown_name(files[-1])} is a file, not a folder"
            ) from error
        raise UserError(f"{shown_name(error.filename or options.root)}: {first_line(error)}") from error
    except Exception as error:
        raise UserError(_storage_message(error, options.storage)) from error
    finally:
        for folder in made:  # no empty folders left by a refused start (the deepest first)
            with contextlib.suppress(OSError):  # not empty: the study's files
                folder.rmdir()


def check_root_is_the_studys(root: Path, study: str) -> None:
    """Refuse a ``--root`` that holds another study's trials: the trial folders are named by number alone, so
    a second study there wrote its trials' configs over the first one's, and the first one's best.yaml, written
    again, then held a trial of the second (found by following the advice "pass another --study name" with the
    same --root). Each trial's config.yaml says whose it is in its first line."""
    for config in sorted(root.glob("trial_*/config.yaml")):
        try:
            with open(config) as file:
                found = re.match(r"# tune study (.+), trial \d+: ", file.readline())
        except OSError:
            continue
        owner = found and ast.literal_eval(found[1])
        if owner and owner != study:
            raise UserError(
                f"--root {shown_name(root)} holds the trials of study {owner!r}, which study {study!r} would write "
                f"over: pass another --root ({pasted(Path('tune', study))}, say), or --study {pasted(owner)} to "
                "continue that one"
            )
        return  # one trial says it: the others were written by the same study


def without_fits_advice(reason: str) -> str:
    """A trial's full-disk error without fit's advice after it ("resume with --ckpt_path last", "or write the run on
    another disk with --trainer.default_root_dir"), which is not a study's: the same tune command continues it."""
    for advice in ("/. ", ": free some space"):  # after "... are free in FOLDER/." (a checkpoint's), or the rest
        reason = reason.split(advice, 1)[0]
    return reason


def _home_expanded(url: str) -> str:
    """``sqlite:///~/tune.db`` with ``~`` read as the shell reads it (it does not inside a URL): SQLite took it for
    a folder named ``~`` in the working folder."""
    prefix = "sqlite:///"
    return prefix + os.path.expanduser(url.removeprefix(prefix)) if url.startswith(prefix + "~") else url


def _check_root_is_utf8(root: str) -> None:
    """A study's folder whose path holds a byte that is not UTF-8 (a folder from an old archive or a network
    share, the working folder's included): each trial's run folder, under it, was refused by fit, and tune
    stopped after three failed trials, having made the study. Refused before it is made."""
    folder = os.path.abspath(root)
    byte = byte_not_utf8(folder)
    if byte is not None:
        raise UserError(
            f"--root {shown_name(folder)}: its path holds the byte 0x{byte:02x}, which is not UTF-8 text, and the "
            "trials' run folders cannot be in such a folder (the loggers' settings do not take it): pass --root "
            "naming another folder"
        )


def _check_storage_url(url: str) -> None:
    """Refuse a ``--storage`` that is not a URL SQLAlchemy can read (a port that is not a number was a ValueError
    traceback), or a SQLite file in a folder that does not exist, naming it (SQLite says only "unable to open
    database file")."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError as URLError

    try:
        make_url(url)
    except (URLError, ValueError) as error:  # "Could not parse SQLAlchemy URL", or a port that is not a number
        raise UserError(
            f"--storage {shown_url(url)}: not a database URL ({first_line(error)}); e.g. sqlite:///tune.db, "
            "postgresql://user@host:5432/db"
        ) from error
    if not url.startswith("sqlite://"):
        return
    database = url.removeprefix("sqlite://").removeprefix("/").split("?", 1)[0]
    if "uri=true" in url.lower():  # sqlite:///file:PATH?mode=ro&uri=true: SQLite's own URI of the file
        database = database.removeprefix("file:")
    if database in ("", ":memory:"):  # each trial, a process of its own, failed with a traceback
        raise UserError(
            f"--storage {shown_url(url)}: a database in memory is this process's own, which the trials, each a "
            "process of its own, cannot reach: name a file (sqlite:///tune.db), or leave --storage out"
        )
    folder = Path(database).parent
    if folder.exists() and not folder.is_dir():  # it said "the folder ... does not exist" of a file
        raise UserError(
            f"--storage {shown_url(url)}: {shown_name(folder)} is a file, not a folder: name a file in a folder"
        )
    if not folder.is_dir():
        raise UserError(
            f"--storage {shown_url(url)}: the folder {shown_name(folder)} does not exist: make it first, or name a "
            "file in a folder that does"
        )


# The pip package of each of SQLAlchemy's database drivers (its name for it: make_url(URL).get_dialect().driver).
DRIVER_PACKAGES = {
    "psycopg": '"psycopg[binary]"',
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "pymysql": "PyMySQL",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
    "mariadbconnector": "mariadb",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}


def _driver_advice(url: str, missing: str) -> str:
    """Which driver the URL needs, by SQLAlchemy's own reading of it, and how to install it: postgresql:// is
    psycopg 3 with SQLAlchemy 2.1 and psycopg2 with 2.0 (pip install psycopg2-binary was wrong for 2.1)."""
    from sqlalchemy.engine import make_url

    try:
        dialect = make_url(url).get_dialect()
    except Exception:  # not a URL SQLAlchemy reads: name the module it missed
        return f"pip install {missing}"
    scheme = url.split("://", 1)[0]
    advice = f"{scheme}:// needs {dialect.driver}: pip install {DRIVER_PACKAGES.get(dialect.driver, missing)}"
    if dialect.name == "postgresql" and dialect.driver != "psycopg2":
        advice += " (or postgresql+psycopg2:// with pip install psycopg2-binary)"
    elif dialect.name == "postgresql":
        advice += ' (or postgresql+psycopg:// with pip install "psycopg[binary]")'
    elif dialect.name in ("mysql", "mariadb") and dialect.driver != "pymysql":
        advice += f" (or {dialect.name}+pymysql:// with pip install PyMySQL, which needs no compiler)"
    return advice


def without_password(url: str) -> str:
    """``url`` as messages show it: a database password (``postgresql+psycopg://user:SECRET@host/db``) as
    ``***``, since terminals and CI logs are read by others."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError as URLError

    try:
        parsed = make_url(url)
    except (URLError, ValueError):  # not a URL SQLAlchemy reads (a port that is not a number): its user:PASSWORD@
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
    shown = parsed.render_as_string(hide_password=True) if parsed.password else url
    return re.sub(r"([?&]password=)[^&]*", r"\1***", shown)  # libpq's ?password=, which SQLAlchemy passes on


def shown_url(url: str) -> str:
    """A ``--storage`` URL in a message: without its password (:func:`without_password`), on one line
    (:func:`~mnist_rnn.errors.shown_name`: a study's folder, in the default sqlite:///ROOT/study.db, may hold a line
    break)."""
    return shown_name(without_password(url))


def _storage_message(error: Exception, url: str) -> str:
    """A database error (or a missing driver) in one line; anything else is raised as it is."""
    from sqlalchemy.exc import ArgumentError as URLError
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(error, AssertionError) and isinstance(error.__context__, optuna.exceptions.StorageInternalError):
        error = error.__context__  # Optuna's "Should not reach." after it failed to record a trial's end
    if isinstance(error, optuna.exceptions.StorageInternalError) and isinstance(error.__cause__, SQLAlchemyError):
        error = error.__cause__  # Optuna's own text ("invalid data in the commit, e.g. exceeding max length") misleads
    text = first_line(getattr(error, "orig", None) or error)
    hidden, url = without_password(url), shown_url(url)
    # Optuna raises an ImportError ("Failed to import DB access module") from SQLAlchemy's ModuleNotFoundError
    missing = next((e for e in (error, error.__cause__) if isinstance(e, ModuleNotFoundError)), None)
    if missing is not None and (missing is error or "DB access module" in str(error)):
        advice = _driver_advice(hidden, missing.name or "its driver")
        return f"--storage {url}: its database driver is not installed ({first_line(missing)}): {advice}"
    if isinstance(error, URLError):
        return f"--storage {url}: not a database URL ({text}); e.g. sqlite:///tune.db, postgresql://user@host/db"
    if isinstance(error, SQLAlchemyError):
        if "locked" in text:
            again = "nothing was lost: run the same command again when it is free"
            return f"--storage {url}: the database is locked by another program ({text}); {again}"
        if "full" in text:
            again = "the study is kept: free some space and run the same command again"
            return f"--storage {url}: the disk is full ({text}); {again}"
        if "readonly" in text or "read-only" in text:
            return (
                f"--storage {url}: the database cannot be written ({text}); tune writes its trials there: allow "
                "writing to the file and its folder, or pass another --storage; the study, if any, is unchanged"
            )
        return f"--storage {url}: cannot be reached ({text}); the study, if any, is unchanged"
    raise error
