"""Errors the user can fix, and the one-line messages the user sees.

The CLI shows an error's message in one line, without a traceback. :func:`tell` and :func:`warn` print the
other lines (what was resumed, what was replaced, what was written) once, from the process of global rank
0, through Lightning's ``rank_zero_only``: under DDP every process runs the same code, and would print each
line once per process. They print to ``sys.stderr`` as it is at the call (not through the ``logging``
handler of ``rank_zero_info``, which keeps the stream it found at import), so pytest's ``capsys`` and
``contextlib.redirect_stderr`` see them too; stdout stays free for results (the CSV of ``predict``).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

PREFIX = "mnist-rnn: "
_muted = False  # see muted()


def first_few(items: list[Any], shown: int = 3, separator: str = ", ") -> str:
    """The first ``shown`` of ``items`` for a message, then how many more: ``"a.png, b.png, c.png and 4 more"``."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return separator.join(str(item) for item in items[:shown]) + more


class UserError(Exception):
    """Bad input from the user (files, paths, settings); the message says what is wrong and where."""


class NoSpaceError(UserError):
    """A write that found the disk full (the message names the file and what was kept)."""


class SettingsError(UserError, ValueError):
    """A setting that cannot work (a size <= 0, an unknown name). Also a ``ValueError``, so Python code that
    builds the model or the data module and catches ``ValueError`` keeps working."""


class MissingFileError(UserError, FileNotFoundError):
    """A file the user named is not there. Also a ``FileNotFoundError``, as Python's and Lightning's own (its
    ``load_from_checkpoint`` of a missing path), so code that catches that keeps working."""


class DataError(UserError):
    """The data files are missing, unreadable or inconsistent."""


class MissingDataError(DataError, MissingFileError):
    """The data set's files are not in the data folder (and could not be downloaded)."""


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite: training on would only spread it to every weight."""


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a message shows it: a byte that is not UTF-8 (a name from an old archive or a network share,
    which Python holds as a surrogate) as ``\\xf6``, as the shell's ``$'...'`` writes it."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def byte_not_utf8(path: str | os.PathLike[str]) -> int | None:
    """The first byte of ``path`` that is not UTF-8 (Python holds it as a surrogate), or None where there is none:
    the settings saved as YAML and torch's memory map cannot take such a name."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return os.fsencode(text[error.start])[0]
    return None


_SURROGATE = re.compile("[\udc80-\udcff]")  # the bytes 0x80 to 0xff that were not UTF-8, as os.fsdecode holds them


def shown_text(text: str) -> str:
    """A message as the terminal should show it: a byte of a file name that is not UTF-8 (which Python holds as a
    surrogate, and stderr wrote as ``\\udce9``, a name no file has) as ``\\xe9``, as :func:`shown_path` and ``$'...'``
    write it; the rest as it is."""
    return _SURROGATE.sub(lambda found: f"\\x{ord(found[0]) - 0xDC00:02x}", text)


def pasted(path: str | os.PathLike[str]) -> str:
    """``path`` inside a command the user is told to paste: quoted as the shell reads it where it holds a space or
    another character the shell reads (``'/home/me/My runs/best.ckpt'``), as it is otherwise. Put in as it is, a
    folder with a space in its name gave a command that passed the shell two arguments.

    A name with a byte that is not UTF-8 (which Python holds as a surrogate, printed as ``\\udcf6``), or with a
    line break or another control character (which would break the one-line message), is written in bash's and
    zsh's ``$'...'``, its bytes as ``\\xf6``: pasted, it names the same file."""
    text = os.fspath(path)
    if text.isprintable():  # not a surrogate, nor a control character
        return shlex.quote(text)
    raw = os.fsencode(text)
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b"\\'" else f"\\x{b:02x}" for b in raw)
    return f"$'{escaped}'"


def with_slashes(path: str | os.PathLike[str]) -> str:
    """For a missing ``path`` written with Windows' backslashes (``configs\\fast.yaml``), a note naming the file
    or folder it means, where that is there: `` (\\ separates folders on Windows only: configs/fast.yaml is
    there)``; else "". Elsewhere a backslash is part of a name: "no such file" alone, next to the very file."""
    text = os.fspath(path)
    slashed = text.replace("\\", "/")
    if slashed == text or not os.path.exists(slashed):
        return ""
    return f" (\\ separates folders on Windows only: {pasted(slashed)} is there)"


def value_like_an_option(message: str, args: Sequence[str]) -> str | None:
    """For argparse's ``message`` "argument --data.predict_path: expected one argument", said of the command line
    ``args``, the message to show instead, else None: a value that begins with ``-`` (``-name.png``, ``-inf``),
    which argparse takes for an option, next to the value; or no value at all."""
    found = re.fullmatch(r"argument (--[\w.-]+): expected one argument", message.strip())
    if found is None:
        return None
    option = found[1]
    value = next((args[i + 1] for i in range(len(args) - 1) if args[i] == option), None)
    if value == "--":  # what follows is no option: argparse's own words
        return None
    if value is None or value.startswith("--"):  # the end of the command line, or the next option
        return f"{option} needs a value"
    path = "" if re.fullmatch(r"-[\d.]+|-inf|-nan", value) else f", or write a file's name as {pasted('./' + value)}"
    told = "a value that begins with - is read as an option"
    return f"{option} {pasted(value)}: {told}: join them with = ({pasted(f'{option}={value}')}){path}"


# The commands that take ``--config FILE`` (LightningCLI's), and the suffixes of such a file.
WITH_CONFIG_FILES = ("fit", "validate", "test", "predict")
CONFIG_SUFFIXES = (".yaml", ".yml")


def unrecognized_arguments(message: str, args: Sequence[str]) -> list[str] | None:
    """The command line's arguments that argparse's ``message`` "unrecognized arguments: ..." lists, or None for
    another message: argparse joins them with spaces, so an argument that holds one (``"my photos/"``, quoted)
    read as two. Split at each space where they cannot be told apart from ``args`` (in their order)."""
    found = re.fullmatch(r"unrecognized arguments: (.+)", message.strip(), re.S)
    if found is None:
        return None
    left, listed = found[1], []
    for arg in args:
        if arg and (left == arg or left.startswith(f"{arg} ")):
            listed.append(arg)
            left = left[len(arg) + 1 :]
    return listed if listed and not left else found[1].split()


def paths_given_as_arguments(message: str, args: Sequence[str], command: str | None) -> str | None:
    """For argparse's ``message`` "unrecognized arguments: ..." (or a tool's "required: --ckpt_path"), said of
    the command line ``args`` of ``command``, the message to show instead, else None: a checkpoint or images
    given as plain arguments (``predict fast.ckpt photos/``), which the commands take only with an option; or
    ``--data.predict_path photos/*.jpg``, unquoted, which the shell made into several files."""
    left = unrecognized_arguments(message, args)
    if left is None and re.fullmatch(r"the following arguments are required: --ckpt_path", message.strip()):
        left = [arg for arg in args if not arg.startswith("-") and arg.lower().endswith(".ckpt")]
    if not left or any(arg.startswith("-") for arg in left) or left[0] not in args:
        return None
    # the first left over right after --data.predict_path's value (a file of the glob may be named twice)
    after_the_option = any(
        arg == left[0] and (args[i - 1].startswith("--data.predict_path=") or args[i - 2] == "--data.predict_path")
        for i, arg in enumerate(args)
        if i >= 2
    )
    # a checkpoint or a config after the images (predict --data.predict_path photos/ fast.ckpt): no glob's file
    if command == "predict" and after_the_option and not left[0].lower().endswith((".ckpt", *CONFIG_SUFFIXES)):
        return (
            f"--data.predict_path takes one path, but {len(left) + 1} came: the shell expanded a glob into files "
            f"before mnist-rnn saw it (left over: {left[0]}, ...); quote it (--data.predict_path 'photos/*.jpg') "
            "or pass their folder"
        )
    checkpoints = [arg for arg in left if arg.lower().endswith(".ckpt")]
    # fit configs/fast.yaml: the commands of LightningCLI take a config only with --config (the tools take none)
    configs = [arg for arg in left if arg.lower().endswith(CONFIG_SUFFIXES) and command in WITH_CONFIG_FILES]
    named = checkpoints + configs
    images = [arg for arg in left if arg not in named and (os.path.exists(arg) or re.search(r"[*?[]", arg))]
    # The rest (a number, a path mistyped): said after the paths' options. Alone, argparse's own words.
    others = [arg for arg in left if arg not in named and arg not in images]
    if not (named or images) or (images and command != "predict"):
        return None  # something else, or images where none are taken: argparse's own words
    if checkpoints and any(arg.partition("=")[0] == "--ckpt_path" for arg in args):
        return None
    ways = [f"the config with --config {pasted(configs[0])}"] if len(configs) == 1 else []
    if len(configs) > 1:
        ways.append("each config with a --config of its own")
    ways += [f"the checkpoint with --ckpt_path {pasted(checkpoints[0])}"] if len(checkpoints) == 1 else []
    if len(checkpoints) > 1:
        ways.append(f"one checkpoint with --ckpt_path (not {len(checkpoints)})")
    if len(images) == 1:
        ways.append(f"the images with --data.predict_path {pasted(images[0])} (a file, a folder or a quoted glob)")
    elif images:
        folders = {os.path.dirname(arg) for arg in images}
        suffixes = {os.path.splitext(arg)[1] for arg in images}
        glob = (
            pasted(os.path.join(folders.pop(), f"*{suffixes.pop()}"))
            if len(folders) == 1 and len(suffixes) == 1 and all(suffixes)
            else "'photos/*.jpg'"
        )
        ways.append(
            f"the images with one --data.predict_path: a file, a folder or a quoted glob ({glob}), "
            f"where {len(images)} paths came"
        )
    listed = ", ".join(pasted(arg) for arg in left[:2]) + (", ..." if len(left) > 2 else "")
    rest = ""
    if others:
        what = "no file or folder here, nor a value of an option (a value goes right after its option)"
        rest = f"; {', '.join(pasted(arg) for arg in others)}: {what}"
    return f"{command} takes no paths as plain arguments ({listed}): pass {' and '.join(ways)}{rest}"


def first_line(error: BaseException) -> str:
    """The first line of an error's message (or its type's name), to quote inside a one-line message."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def tell(text: str, after_progress_bar: bool = False) -> None:
    """Print ``mnist-rnn: TEXT`` on stderr, from global rank 0 only; ``after_progress_bar``: on a line of its
    own even while a progress bar is drawn (it leaves the cursor at the end of its line)."""
    # Lightning's rank, imported at the first message: importing this module (as the preparation, the export
    # and serve's upload side do) then does not import Lightning, which takes seconds.
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank != 0 or _muted:
        return
    print(f"{chr(10) if after_progress_bar else ''}{PREFIX}{shown_text(text)}", file=sys.stderr, flush=True)


def warn(text: str) -> None:
    """Print ``mnist-rnn: warning: TEXT`` on stderr, from global rank 0 only."""
    tell(f"warning: {text}")


@contextmanager
def muted() -> Iterator[None]:
    """:func:`tell` and :func:`warn` say nothing inside, in this process: for a process that repeats work
    whose lines another has printed already (each of ``serve``'s workers loads the checkpoint that the command
    itself loaded and noted on)."""
    global _muted
    before, _muted = _muted, True
    try:
        yield
    finally:
        _muted = before


def shown_name(path: str | bytes | os.PathLike[str]) -> str:
    """A file's name in a line on stderr: as it is, unless it holds a line break, a tab or another character that
    is not printed as itself (a right-to-left mark, which shows the rest backwards); then in bash's ``$'...'``,
    as :func:`pasted` writes it, so the line stays one line and names the file. A byte that is
    not UTF-8 alone is shown as ``\\xe9`` by :func:`tell`, as before. A name in bytes (an OSError's filename, as
    TensorBoard's writer gives it) is decoded as the file system does."""
    text = os.fsdecode(path)
    return text if shown_path(text).isprintable() else pasted(text)


def printed_name(path: str | bytes | os.PathLike[str]) -> str:
    """A file's name in a line on stdout: :func:`shown_name`, and a byte that is not UTF-8 as ``\\xe9``, as stderr's
    lines show it (stdout's strict UTF-8, a desktop's, refused the surrogate, after the file was written)."""
    return shown_path(shown_name(path))
