"""``--help`` in plain text, each option's default said once: the one it has here.

jsonargparse builds the options' help from docstrings, Lightning's and this project's, written in reStructuredText
for Sphinx: a terminal showed their markup (``lstm``, :class:`datetime.timedelta`, .. note::) as typed. And
Lightning's docstrings state Lightning's defaults ("Disabled by default (None)", "Default: ``None``"), shown beside
jsonargparse's "default: 15" or "default: 1.0" where this project sets its own (``--trainer.max_epochs``,
``--trainer.gradient_clip_val``, ``--checkpoint.monitor``): such a sentence is left out of that option's help.
Where the default is null and the docstring says what null means ("Default: ``1.0``." of
``--trainer.limit_val_batches``), it is said once, after it: "default: null, meaning 1.0". None is written null,
as the command line takes it (``--model.forget_bias None`` is refused), and True and False true and false, its
bools' choices: in a docstring and in the default shown, a logger's ``{'version': null}`` too. Not in Python's code
(``shuffle=True``), and True and False capitalised where they start a sentence ("False will disable logging."), null
not (a value to type, not a word: "Null keeps ..." read as a noun). An empty string is shown '', as typed.

The defaults shown are the command line's before ``--help``: ``fit -c configs/fast.yaml --help`` shows the config's
(:class:`HelpWithTheValues`). No word is cut at a line's end: a URL, a class's path or a quoted value
(``'transformer-engine'``) stays whole, as it would be copied.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from contextvars import ContextVar
from typing import Any

from jsonargparse import ActionConfigFile, DefaultHelpFormatter, Namespace

# The attribute on an option whose default was replaced (CommandParser.set_defaults): the one it had before.
LIBRARY_DEFAULT = "library_default"
_NO_DEFAULT = object()
_MISSING = object()
# The settings the command line before --help changed, while HelpWithTheValues prints it.
_GIVEN: ContextVar[dict[str, Any]] = ContextVar("given_before_help", default={})  # noqa: B039 (never changed)
# Actions that are not settings: they have no value to show.
_NOT_SETTINGS = (argparse._HelpAction, argparse._VersionAction, ActionConfigFile)

# reStructuredText's markup, as a terminal shows it: ``x`` as x, :class:`a.b.C` as a.b.C (with ~: C), a link's
# `text <url>`_ as text (url), ".. note::" as "Note:", and a literal block's "Example::" as "Example:". `x` stays:
# it reads as quoted (`last`, `best`).
_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LINK = re.compile(r"`([^`<]+?)\s*<([^>`]+)>`__?")  # `text <url>`_ as text (url)
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_DIRECTIVE = re.compile(r"\.\. ([a-z]+)::")
_LITERAL_BLOCK = re.compile(r"(?<=\w)::(?=\s|$)")
# A doctest in a literal block (ModelCheckpoint's filename: "Example::" and ">>> ModelCheckpoint(...)"): argparse
# flows it into the prose, ">>>" and "..." included. Left out, with its "Example::" line.
_EXAMPLE_LINE = re.compile(r"\n?[ \t]*Examples?::[ \t]*$")
_PARAGRAPHS = re.compile(r"\n[ \t]*\n")
_PYTHONS = re.compile(r"\b(True|False|None)\b")
_AS_TYPED = {"True": "true", "False": "false", "None": "null"}
# Where a value stays as written: in Python's code (``shuffle=True``, ``every_n_train_steps == None``), which
# "shuffle=true" was not; and True or False where it starts a sentence, capitalised ("False will disable
# logging."), as the command line takes it too (YAML's), not "CSVLogger. false will disable logging.".
_IN_CODE = re.compile(r"\w\s*[!=]?=\s*$")
# Not after "e.g." or "i.e.", which end no sentence ("e.g. True" is not "e.g. true" capitalised).
_SENTENCE_START = re.compile(r"(?:^|(?<!\be\.g)(?<!\bi\.e)[.!?]\s+)$")
# A sentence that says only what the default is: "Default: ``1.0``.", "Defaults to ``None``.", "By default it will
# be set to ``"norm"``." (Lightning's gradient_clip_algorithm).
_SAYS_THE_DEFAULT = re.compile(r"(?:Defaults? to|Default:|By default it will be set to)\s+(.+?)\.?", re.IGNORECASE)
# A value, as a default's sentence names one: 1.0, '32-true', "norm", os.getcwd().
_A_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")
_DEFAULT_SHOWN = "default: %(default)s"  # jsonargparse's, in an option's help
_NULL_SHOWN = "default: null"  # ... where the default is None (:func:`_as_typed`)
# A sentence that states an option's default: "Default: ``None``.", "Disabled by default (None).", "By default
# it is ``None`` which ...", "... defaults to ``max_epochs = 1000``.", "If ``None`` (default), ...". Not
# "enable the progress bar by default." nor "uses the default ``TensorBoardLogger``": what the option does.
_STATES_A_DEFAULT = re.compile(r"\bdefault:|\bdefaults? to\b|\bby default\b(?!\.)|\(default\)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=\.)\s+|\n\s*\n")  # a sentence ends, or a paragraph (a literal block's)
# The fewest columns an option's help is given: argparse starts it at column 24 down to 44 columns, so that at 50
# it had 24, and class paths (lightning.pytorch.callbacks.ModelCheckpoint, known subclasses) ran past the edge. In
# a narrow terminal the help starts on the line below its option, further left.
_HELP_COLUMNS = 42


def plain(text: str) -> str:
    """``text`` without reStructuredText's markup (and its doctests: :func:`without_doctests`), None as null, True
    and False as true and false (:func:`_as_the_command_line_takes_it`)."""
    text = without_doctests(text)
    text = _ROLE.sub(lambda match: match[2].rsplit(".", 1)[-1] if match[1] else match[2], text)
    text = _LINK.sub(r"\1 (\2)", text)
    text = _LITERAL.sub(r"\1", text)
    text = _DIRECTIVE.sub(lambda match: f"{match[1].capitalize()}:", text)
    return _PYTHONS.sub(_as_the_command_line_takes_it, _LITERAL_BLOCK.sub(":", text))


def _as_the_command_line_takes_it(match: re.Match[str]) -> str:
    """True, False or None as the command line takes it (true, false or null; True at a sentence's start), or as
    written in Python's code (see :data:`_IN_CODE`)."""
    text, start = match.string, match.start()
    if _IN_CODE.search(text, max(start - 40, 0), start):
        return match[1]
    typed = _AS_TYPED[match[1]]
    if typed == "null":  # a value to type, not a word: "Null keeps PyTorch's biases" read as a noun
        return typed
    return typed.capitalize() if _SENTENCE_START.search(text, max(start - 40, 0), start) else typed


def without_doctests(text: str) -> str:
    """``text`` without its literal blocks of doctest (indented lines, one of them ``>>> ...``) nor the
    ``Example::`` line before one: argparse flows them into the prose."""
    kept: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        lines = paragraph.splitlines()
        is_doctest = all(line[:1] in " \t" for line in lines) and any(line.lstrip().startswith(">>>") for line in lines)
        if not is_doctest:
            kept.append(paragraph)
        elif kept:
            kept[-1] = _EXAMPLE_LINE.sub("", kept[-1])
    return "\n\n".join(paragraph for paragraph in kept if paragraph.strip())


def without_default_sentences(text: str) -> str:
    """``text`` without its sentences that state a default (see :data:`_STATES_A_DEFAULT`)."""
    return " ".join(sentence for sentence in _SENTENCE_END.split(text) if not _STATES_A_DEFAULT.search(sentence))


def keep_library_defaults(parser: argparse.ArgumentParser, *defaults: dict[str, Any]) -> None:
    """Note on each option of ``defaults`` (``{"trainer.max_epochs": 15}``, as ``parser.set_defaults`` takes
    them) the default it had before: its docstring states that one."""
    actions = {action.dest: action for action in parser._actions}
    for given in defaults:
        for dest in given:
            action = actions.get(dest.replace("-", "_"))
            if action is not None and not hasattr(action, LIBRARY_DEFAULT):
                setattr(action, LIBRARY_DEFAULT, action.default)


class PlainHelpFormatter(DefaultHelpFormatter):
    """jsonargparse's --help in plain text (:func:`plain`), without a docstring's default where the option has
    another: this project's (:func:`keep_library_defaults`), or the command line's (:class:`HelpWithTheValues`)."""

    _library_default: Any = _NO_DEFAULT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        room = self._width - _HELP_COLUMNS  # (argparse's width: the terminal's columns less 2)
        self._max_help_position = max(min(self._max_help_position, room), 3 * self._indent_increment)

    def _format_action(self, action: argparse.Action) -> str:
        if not isinstance(action, argparse._SubParsersAction):
            return super()._format_action(action)
        # Each command in a line, as an option is: jsonargparse's "Available subcommands:", with "(required)" in a
        # line below it, stood above the list (the section's description says one is needed). Their help starts
        # after the longest name, not in the options' column: in a narrow terminal that one was below each name.
        commands = action._get_subactions()
        longest = self._current_indent + max((len(command.dest) for command in commands), default=0)
        kept = self._action_max_length, self._max_help_position
        self._action_max_length, self._max_help_position = longest, min(longest + 2, max(self._width - 20, 0))
        try:
            return "".join(self._format_action(command) for command in commands)
        finally:
            self._action_max_length, self._max_help_position = kept

    def _expand_help(self, action: argparse.Action) -> str:
        # jsonargparse puts the default it shows (its defaults cache's) in action.default while it expands.
        self._library_default = getattr(action, LIBRARY_DEFAULT, action.default)
        given = _GIVEN.get()
        before = action.default
        if action.dest in given:
            action.default = given[action.dest]  # what the command line before --help sets: the default shown
        try:
            return super()._expand_help(action)
        finally:
            self._library_default = _NO_DEFAULT
            action.default = before

    def _get_help_string(self, action: argparse.Action) -> str:
        # The docstring, then jsonargparse's "(type: ..., default: %(default)s)".
        text = (
            super()._get_help_string(action).replace(_DEFAULT_SHOWN, f"default: {_escaped(_as_typed(action.default))}")
        )
        docstring = action.help or ""
        if not docstring or not text.startswith(docstring):
            return text
        rest = text[len(docstring) :]
        docstring = without_doctests(docstring)  # first: the sentences below are joined in one paragraph
        if not _same(action.default, self._library_default):
            return plain(without_default_sentences(docstring)) + rest
        if action.default is None and _NULL_SHOWN in rest:
            docstring, meaning = _null_said_once(docstring)
            if meaning is not None:
                rest = rest.replace(_NULL_SHOWN, f"{_NULL_SHOWN}, meaning {_escaped(meaning)}", 1)
        return plain(docstring) + rest

    def _format_text(self, text: str) -> str:  # the commands' and groups' descriptions
        return super()._format_text(plain(text))

    def start_section(self, heading: str | None) -> None:  # a group's title: its class's docstring, for some
        # Wrapped as the rest is: argparse writes a heading in one line, past the terminal's edge.
        super().start_section("\n".join(_wrapped(plain(heading), self._width - 1)) if heading else heading)

    def _split_lines(self, text: str, width: int) -> list[str]:  # an option's help
        return _wrapped(self._whitespace_matcher.sub(" ", text).strip(), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:  # a description, by paragraphs
        return "\n\n".join(
            self._filled(paragraph, width, indent) for paragraph in _PARAGRAPHS.split(text) if paragraph.strip()
        )

    def _filled(self, paragraph: str, width: int, indent: str) -> str:
        """A paragraph in lines of ``width``; one indented as a whole (a command to copy, a literal block) as
        written, a line each."""
        lines = paragraph.strip("\n").splitlines()
        if all(line[:1] in " \t" for line in lines):
            return "\n".join(f"{indent}  {line.rstrip()}" for line in textwrap.dedent("\n".join(lines)).splitlines())
        text = self._whitespace_matcher.sub(" ", paragraph).strip()
        return "\n".join(_wrapped(text, width, initial_indent=indent, subsequent_indent=indent))


def _as_typed(value: Any, inside: bool = False) -> str:
    """``value`` as the command line takes it, for jsonargparse's "default: %(default)s": None, True and False as
    null, true and false, in a dict or list too (``{'version': null}``: YAML's flow style, which a dict option
    takes; a string in one quoted, as Python writes it). Python's spellings stood beside the choices {true,false},
    and a dict's None, pasted back, is the string "None" (a CSVLogger's version: a folder named None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and not value and not inside:  # as typed: "default: )" showed nothing
        return "''"
    if isinstance(value, Namespace):  # a group's value (a logger's class_path and init_args): as jsonargparse
        value = value.as_dict()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_as_typed(key, True)}: {_as_typed(item, True)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_as_typed(item, True) for item in value) + "]"
    return repr(value) if inside else str(value)


def _escaped(text: str) -> str:
    """``text`` as it is shown from jsonargparse's help template, which reads ``%(...)``."""
    return text.replace("%(", "%(%%(")


def _wrapped(text: str, width: int, **kwargs: Any) -> list[str]:
    """``text`` in lines of ``width``, cut only at spaces: argparse's textwrap cut a long word (a URL, a class's
    path) where the line ended, and a word at its hyphens (``'transformer-`` / ``engine'``), so that a copied
    value was wrong. A word longer than the line runs past it."""
    return textwrap.wrap(text, max(width, 1), break_long_words=False, break_on_hyphens=False, **kwargs)


def _null_said_once(docstring: str) -> tuple[str, str | None]:
    """``docstring`` without its sentences that say what null means ("Default: ``1.0``.", "By default it will be
    set to ``"norm"``.", "Default: ``None``."), and what they say it means (None if none of them does)."""
    kept, meaning = [], None
    for sentence in _SENTENCE_END.split(docstring):
        said = _SAYS_THE_DEFAULT.fullmatch(" ".join(sentence.split()))
        value = plain(said[1]) if said is not None else ""
        value = {typed.capitalize(): typed for typed in _AS_TYPED.values()}.get(value, value)  # (not a sentence)
        if said is None or not _A_VALUE.fullmatch(value):  # "Defaults to ``None`` in which logs are saved in ...":
            kept.append(sentence)  # not a value but what null does: said in Lightning's words
        elif value != "null":
            meaning = value
    return " ".join(kept), meaning


class HelpWithTheValues(argparse._HelpAction):
    """-h/--help that shows, as each option's default, the value the command line before it sets:
    ``fit -c configs/fast.yaml --help`` shows the config's (jsonargparse shows the parser's own, whatever the
    config says), under a line saying so. argparse calls it with the settings parsed so far (the defaults, then the
    options and configs before ``--help``, in order)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None) -> None:
        given = _given_before_help(parser, namespace)
        description = parser.description
        note = _where_the_defaults_come_from(parser, given, namespace, option)
        if note:
            parser.description = f"{description}\n\n{note}" if description else note
        token = _GIVEN.set(given)
        try:
            parser.print_help()
        finally:
            _GIVEN.reset(token)
            parser.description = description
        parser.exit()


def _given_before_help(parser: argparse.ArgumentParser, namespace: Any) -> dict[str, Any]:
    """Each option's value in ``namespace`` where it is not the parser's default (``{"trainer.max_epochs": 3}``).
    Compared with the parser's defaults as jsonargparse parses them (a logger's init_args filled in), not as
    --help shows them; any failure to get them shows the parser's own."""
    get_defaults = getattr(parser, "get_defaults", None)
    try:
        defaults = get_defaults() if get_defaults is not None else None
    except Exception:  # (a default jsonargparse cannot check): the help as before
        return {}
    if defaults is None:
        return {}
    given = {}
    for action in parser._actions:
        if isinstance(action, _NOT_SETTINGS) or action.default is argparse.SUPPRESS:
            continue  # not a setting, or a group's (--trainer CONFIG)
        value, default = _get(namespace, action.dest), _get(defaults, action.dest)
        if value is not _MISSING and not _same(value, default):
            given[action.dest] = value
    return given


def _where_the_defaults_come_from(
    parser: argparse.ArgumentParser, given: dict[str, Any], namespace: Any, option: Any
) -> str | None:
    """The line that says where the defaults shown come from, where it is not the project alone (None then)."""
    args = [arg for arg in getattr(parser, "args", None) or [] if isinstance(arg, str)]
    at = args.index(option) if option in args else len(args)
    if any(arg in ("-c", "--config") or arg.startswith("--config=") for arg in args[at + 1 :]):
        return (
            "The defaults shown are the project's: a --config after --help is not read (put it before --help to "
            "see its values)."
        )
    if not given:
        return None
    configs = _get(namespace, "config")
    configs = [str(path) for path in configs if path is not None] if isinstance(configs, list) else []
    sources = [f"those of --config {', '.join(configs)}"] if configs else []
    if any(arg.startswith("--") and arg.split("=", 1)[0] != "--config" for arg in args[:at]):
        sources.append("the options before --help")
    sources = sources or ["the --config before the command"]
    return f"The defaults shown are the project's, overridden by {' and '.join(sources)}."


def _get(namespace: Any, key: str) -> Any:
    """``namespace``'s ``key`` (``trainer.max_epochs``), or :data:`_MISSING` where it has none."""
    try:
        return namespace[key] if key in namespace else _MISSING
    except Exception:  # not a jsonargparse Namespace, or a key it cannot take
        return _MISSING


def _same(shown: Any, library: Any) -> bool:
    """Whether the default shown is the docstring's (a default that cannot be compared is taken as another)."""
    if library is _NO_DEFAULT:
        return True
    try:
        return bool(shown == library)
    except Exception:  # an array's ==, say
        return False
