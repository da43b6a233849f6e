"""``--help`` in plain text, each option's default said once: the one it has here.

jsonargparse builds the options' help from docstrings, Lightning's and this project's, written in reStructuredText
for Sphinx: a terminal showed their markup (``lstm``, :class:`datetime.timedelta`, .. note::) as typed. And
Lightning's docstrings state Lightning's defaults ("Disabled by default (None)", "Default: ``None``"), shown beside
jsonargparse's "default: 15" or "default: 1.0" where this project sets its own (``--trainer.max_epochs``,
``--trainer.gradient_clip_val``, ``--checkpoint.monitor``): such a sentence is left out of that option's help.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from jsonargparse import DefaultHelpFormatter

# The attribute on an option whose default was replaced (CommandParser.set_defaults): the one it had before.
LIBRARY_DEFAULT = "library_default"
_NO_DEFAULT = object()

# reStructuredText's markup, as a terminal shows it: ``x`` as x, :class:`a.b.C` as a.b.C (with ~: C), a link's
# `text <url>`_ as text (url), ".. note::" as "Note:", and a literal block's "Example::" as "Example:". `x` stays:
# it reads as quoted (`last`, `best`).
_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LINK = re.compile(r"`([^`<]+?)\s*<([^>`]+)>`__?")  # `text <url>`_ as text (url)
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_DIRECTIVE = re.compile(r"\.\. ([a-z]+)::")
_LITERAL_BLOCK = re.compile(r"(?<=\w)::(?=\s|$)")
# A sentence that states an option's default: "Default: ``None``.", "Disabled by default (None).", "By default
# it is ``None`` which ...", "... defaults to ``max_epochs = 1000``.", "If ``None`` (default), ...". Not
# "enable the progress bar by default." nor "uses the default ``TensorBoardLogger``": what the option does.
_STATES_A_DEFAULT = re.compile(r"\bdefault:|\bdefaults? to\b|\bby default\b(?!\.)|\(default\)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=\.)\s+|\n\s*\n")  # a sentence ends, or a paragraph (a literal block's)


def plain(text: str) -> str:
    """``text`` without reStructuredText's markup."""
    text = _ROLE.sub(lambda match: match[2].rsplit(".", 1)[-1] if match[1] else match[2], text)
    text = _LINK.sub(r"\1 (\2)", text)
    text = _LITERAL.sub(r"\1", text)
    text = _DIRECTIVE.sub(lambda match: f"{match[1].capitalize()}:", text)
    return _LITERAL_BLOCK.sub(":", text)


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
    another: this project's (:func:`keep_library_defaults`)."""

    _library_default: Any = _NO_DEFAULT

    def _expand_help(self, action: argparse.Action) -> str:
        # jsonargparse puts the default it shows (its defaults cache's) in action.default while it expands.
        self._library_default = getattr(action, LIBRARY_DEFAULT, action.default)
        try:
            return super()._expand_help(action)
        finally:
            self._library_default = _NO_DEFAULT

    def _get_help_string(self, action: argparse.Action) -> str:
        # The docstring, then jsonargparse's "(type: ..., default: %(default)s)", left as it is.
        text = super()._get_help_string(action)
        docstring = action.help or ""
        if not docstring or not text.startswith(docstring):
            return text
        if not _same(action.default, self._library_default):
            return plain(without_default_sentences(docstring)) + text[len(docstring) :]
        return plain(docstring) + text[len(docstring) :]

    def _format_text(self, text: str) -> str:  # the commands' and groups' descriptions
        return super()._format_text(plain(text))

    def start_section(self, heading: str | None) -> None:  # a group's title: its class's docstring, for some
        super().start_section(plain(heading) if heading else heading)


def _same(shown: Any, library: Any) -> bool:
    """Whether the default shown is the docstring's (a default that cannot be compared is taken as another)."""
    if library is _NO_DEFAULT:
        return True
    try:
        return bool(shown == library)
    except Exception:  # an array's ==, say
        return False
