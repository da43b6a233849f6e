"""The command line of the tools that run no Trainer (``export``, ``serve``, ...): plain argparse.

LightningCLI builds its parser from a LightningModule and a Trainer; these commands take a checkpoint and
a few options of their own, so each has a :class:`ToolParser` instead, whose errors the CLI shows in one line.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnist_rnn.errors import UserError, paths_given_as_arguments, value_like_an_option


def program_name() -> str:
    """The program as the user typed it: ``mnist-rnn`` (the installed script) or ``python -m mnist_rnn``."""
    return "mnist-rnn" if Path(sys.argv[0]).name == "mnist-rnn" else "python -m mnist_rnn"


class OneLineParser(argparse.ArgumentParser):
    """The argparse of the tool ``command``, whose errors are one line (a :class:`UserError`), as the CLI's are,
    naming the option meant for a misspelt one, and that takes no abbreviation: ``--ckpt`` was taken as
    ``--ckpt_path``, ``--trial 5`` as ``--trials``, as LightningCLI's commands no longer do.

    The message is the CLI's line, ``mnist-rnn: error: MESSAGE (see --help)``, as fit's: it began with the parser's
    name too (``mnist-rnn: error: mnist-rnn export: ...``); ``main`` names the command in its ``--help``."""

    sections = True  # whether an option with a dot may be a misspelling of ours (see unknown_option)
    given: Sequence[str] = ()  # the arguments being parsed, for error's "did you mean"

    def __init__(self, command: str, **kwargs: Any) -> None:
        super().__init__(prog=f"{program_name()} {command}", allow_abbrev=False, **kwargs)
        self.command = command

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self.given = list(args) if args is not None else sys.argv[1:]
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        told = (
            unknown_option(self, self.given, self.sections)
            or value_like_an_option(message, self.given)
            or paths_given_as_arguments(message, self.given, self.command)
        )
        raise UserError(f"{told or message} (see --help)")


class ToolParser(OneLineParser):
    """argparse for one tool: ``--ckpt_path`` is required (unless ``ckpt_path_unless``, which names what may
    stand in for it, says otherwise: the tool then checks that one of them came), and a bad option is a
    :class:`UserError`."""

    def __init__(self, command: str, description: str, ckpt_path_unless: str | None = None) -> None:
        super().__init__(command, description=description)
        self.add_argument(
            "--ckpt_path",
            required=ckpt_path_unless is None,
            help=f"the Lightning checkpoint to {command}: a file, a run folder (lightning_logs/version_3: its "
            "best checkpoint), or last or best: the newest run's in lightning_logs/"
            + (f"; not needed with {ckpt_path_unless}" if ckpt_path_unless else ""),
        )

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        from mnist_rnn.checkpoint import checkpoint_named  # Lightning: only once the options are known good

        parsed = expand_home(super().parse_args(args, namespace))
        if parsed.ckpt_path is not None:
            parsed.ckpt_path = str(checkpoint_named(parsed.ckpt_path))
        return parsed


FITS_OWN = "--seed_everything"  # fit's one option without a section: tune passes it on with the dotted ones


def unknown_option(parser: argparse.ArgumentParser, args: Sequence[str], sections: bool = True) -> str | None:
    """The message for the first option of ``args`` that ``parser`` lacks ("--nope is not an option"), with the
    one of its own it is close to ("--ckpt is not an option (did you mean --ckpt_path?)"), else None. argparse
    refused it as unrecognized, naming nothing to use instead, or, as it checks the required options first, said
    that one was missing (``export --nope``: "the following arguments are required: --ckpt_path").
    ``sections=False``: only options without a dot (tune passes ``--model.*`` and the like on to fit, which says
    its own)."""
    own = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    for arg in args:
        name = arg.partition("=")[0]
        if name == "--":  # what follows it is no option
            break
        if name.startswith("--") and name not in own and (sections or ("." not in name and name != FITS_OWN)):
            close = difflib.get_close_matches(name, own, n=1)
            return f"{name} is not an option{f' (did you mean {close[0]}?)' if close else ''}"
    return None


def expand_home(settings: Any) -> Any:
    """Every setting that starts with ``~/`` as the path it means, in place (lists and nested settings too:
    argparse's and jsonargparse's namespaces, whose nested settings are namespaces as attributes).

    The shell expands ``~`` only in unquoted words: from a YAML config or a quoted option it reached Lightning
    as it was, and ``--trainer.default_root_dir '~/runs'`` logged into a folder named ``~`` in the working
    folder while the checkpoints went to the home folder's, and failed there.
    """
    if isinstance(settings, str) and (settings == "~" or settings.startswith("~/")):
        return os.path.expanduser(settings)
    if isinstance(settings, list):
        return [expand_home(item) for item in settings]
    if isinstance(settings, dict):
        return {key: expand_home(item) for key, item in settings.items()}
    if isinstance(settings, argparse.Namespace):
        for key, item in list(vars(settings).items()):
            setattr(settings, key, expand_home(item))
    return settings
