"""The command line of the tools that run no Trainer (``export``, ``serve``, ...): plain argparse.

LightningCLI builds its parser from a LightningModule and a Trainer; these commands take a checkpoint and
a few options of their own, so each has a :class:`ToolParser` instead, whose errors the CLI shows in one line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from mnist_rnn.errors import UserError


class ToolParser(argparse.ArgumentParser):
    """argparse for one tool: ``--ckpt_path`` is required, and a bad option is a :class:`UserError`."""

    def __init__(self, command: str, description: str) -> None:
        super().__init__(prog=f"mnist-rnn {command}", description=description)
        self.add_argument(
            "--ckpt_path",
            required=True,
            help=f"the Lightning checkpoint to {command}: a file, a run folder (lightning_logs/version_3: its "
            "best checkpoint), or last or best: the newest run's in lightning_logs/",
        )

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        from mnist_rnn.checkpoint import checkpoint_named  # Lightning: only once the options are known good

        parsed = expand_home(super().parse_args(args, namespace))
        parsed.ckpt_path = str(checkpoint_named(parsed.ckpt_path))
        return parsed

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


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
