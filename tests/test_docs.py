"""The README and docs/ as a newcomer reads them: the commands they show take the options they name, and their
links lead to a file and a heading that are there."""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import sys
from pathlib import Path

import pytest

from mnist_rnn.cli import MNISTRNNCLI, TOOLS, TRAINER_COMMANDS, build_cli, parser_options
from tests.helpers import ROOT

# docs/errors.md is left out: it shows misspelt options on purpose, as users type them.
PAGES = [ROOT / "README.md", *(path for path in sorted((ROOT / "docs").glob("*.md")) if path.name != "errors.md")]
# A command: python -m mnist_rnn ..., the installed mnist-rnn ..., or a benchmark, with or without python -m.
COMMAND = re.compile(r"(?:python -m mnist_rnn|\bmnist-rnn|(?:python -m )?\bbenchmarks\.[a-z_]+)\b(?: [^`\n]*)?")
OPTION = re.compile(r"(?<![\w-])--[A-Za-z][\w.-]*")
SECTIONS = ("model", "data", "trainer", "checkpoint", "progress_bar", "finite_loss")


def commands(text: str) -> list[str]:
    """The command lines of ``text``: in its code blocks, and inline in backticks, without the comments after
    them (``# or: best``), a line continued with a backslash taken whole."""
    text = text.replace("\\\n", " ")
    lines = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):  # fenced
        lines += block.splitlines()
    lines += [line for line in text.splitlines() if line.startswith("    ")]  # indented
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    lines += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]  # inline, wrapped or not
    found = []
    for line in lines:
        line = re.split(r"\s#\s", line)[0]
        found += [match.group(0).strip() for match in COMMAND.finditer(line)]
    return found


def doc_commands() -> list[tuple[str, str]]:
    return [(page.name, command) for page in PAGES for command in commands(page.read_text(encoding="utf-8"))]


class _Parsed(Exception):
    """Raised where a command's parser would parse: it carries the parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def _trainer_options() -> dict[str, set[str]]:
    """Each Trainer command's options, as typed (``trainer.logger.save_dir``, without jsonargparse's init_args)."""
    parsers = {}

    class Probe(MNISTRNNCLI):
        def parse_arguments(self, parser, args):
            parsers.update(self._subcommand_parsers)
            raise _Parsed(parser)

    with pytest.raises(_Parsed):
        build_cli(["fit"], cli_class=Probe)
    return {
        name: {option.replace(".init_args.", ".") for option in parser_options(parser)}
        for name, parser in parsers.items()
    }


def _argparse_options(module: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The options of a tool or benchmark's own argparse parser: its main run, stopped where it parses."""

    def parsed(self, args=None, namespace=None):
        raise _Parsed(self)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", parsed)
        patch.setattr(sys, "argv", [module])
        with pytest.raises(_Parsed) as caught:
            if module in TOOLS:  # the command line's own way in: main(argv) of the tool's module
                importlib.import_module(TOOLS[module][0]).main([])
            else:  # what the benchmark's `if __name__ == "__main__"` calls
                benchmark = importlib.import_module(module)
                getattr(benchmark, "main_cli", getattr(benchmark, "main", None))()
    return {option[2:] for option in caught.value.parser._option_string_actions if option.startswith("--")}


def _typed(words: list[str]) -> list[str]:
    """The options among ``words``, as their parser knows them: ``--trainer.logger+=CSVLogger`` is
    ``trainer.logger``."""
    return [word.split("=")[0].rstrip("+")[2:] for word in words if OPTION.fullmatch(word.split("=")[0].rstrip("+"))]


def unknown_options(command: str, trainer: dict[str, set[str]], tool_options) -> list[str]:
    """The options of ``command`` that its parser lacks: a benchmark's own, fit's after its ``--``, and the
    server's in serve_load's quoted ``--variants``."""
    words = [word.strip("[]") for word in shlex.split(command.removeprefix("$ "))]
    benchmark = next((word for word in words if word.startswith("benchmarks.")), None)
    if benchmark:
        own, fits = words[words.index(benchmark) + 1 :], []
        if "--" in own:
            own, fits = own[: own.index("--")], own[own.index("--") + 1 :]
        served = [part for word in own if " " in word for part in word.split()]
        wrong = [option for option in _typed(own) if option not in tool_options(benchmark)]
        wrong += [option for option in _typed(fits) if option not in trainer["fit"]]
        wrong += [option for option in _typed(served) if option not in tool_options("serve")]
        return [f"--{option}" for option in wrong]
    named = [word for word in words[1:] if word in (*TRAINER_COMMANDS, *TOOLS)]
    if not named:  # python -m mnist_rnn --help: the options that come before a command
        return [f"--{option}" for option in _typed(words) if option not in ("help", "config")]
    known = trainer[named[0]] if named[0] in TRAINER_COMMANDS else tool_options(named[0])
    if named[0] == "tune":  # tune passes fit's options on to its trials
        known = known | trainer["fit"]
    return [f"--{option}" for option in _typed(words) if option not in known]


def test_the_docs_show_commands():
    """The parsing below finds what it is to check: the README's own commands, inline ones and benchmarks."""
    found = {command for _, command in doc_commands()}
    assert "python -m mnist_rnn fit --config configs/seed.yaml" in found
    assert "python -m benchmarks.busy_core --data-dir ../shared/mnist --rounds 3" in found
    assert "python -m mnist_rnn export --ckpt_path CKPT --format onnx" in found
    assert "benchmarks.accuracy --seeds 0" in found
    assert len(found) > 80


def test_every_option_the_docs_show_is_an_option_of_its_command(monkeypatch):
    """A newcomer copies the docs' commands: each option they show must be one of that command's (fit's, a
    tool's or a benchmark's), as spelt there: a renamed or misspelt one ends the command at once."""
    trainer = _trainer_options()
    cache: dict[str, set[str]] = {}

    def tool_options(module: str) -> set[str]:
        if module not in cache:
            cache[module] = _argparse_options(module, monkeypatch)
        return cache[module]

    wrong = [
        f"{page}: {command}: {option}"
        for page, command in doc_commands()
        for option in unknown_options(command, trainer, tool_options)
    ]
    assert not wrong, "\n".join(wrong)


# Misspelt on purpose: the docs quote the message a user gets for it.
MISSPELT = {"tune.md": {"trainer.max_epoch"}}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_option_named_in_the_prose_is_an_option(page):
    """The docs name options in their prose too (`--model.cell lstm|gru|rnn`, `--checkpoint.save_last link`),
    outside any whole command: each is an option of fit, validate, test or predict, as spelt there."""
    known = set().union(*_trainer_options().values())
    named = {option.split("=")[0].rstrip("+")[2:] for option in OPTION.findall(page.read_text(encoding="utf-8"))}
    sectioned = {option for option in named if option.split(".")[0] in SECTIONS}
    assert sorted(sectioned - known - MISSPELT.get(page.name, set())) == []


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation but hyphens and underscores dropped,
    spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", [*PAGES, ROOT / "docs" / "errors.md"], ids=lambda page: page.name)
def test_links_lead_to_a_file_and_heading_that_are_there(page):
    """Each relative link of the docs ([docs/results.md](docs/results.md#the-lowest-versions)) names a file of the
    project and, after #, one of its headings."""
    wrong = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"\w+://|mailto:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            wrong.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            wrong.append(f"{target}: no such heading")
    assert not wrong, "\n".join(wrong)


def test_the_readme_layout_names_every_module_and_only_those_there():
    """The README's Layout is a newcomer's map of mnist_rnn/: a module added without a line there, or a line left
    behind by a renamed one, sends them looking in the wrong file."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout") : text.index("## Known limits")]
    package = layout[layout.index("mnist_rnn/") : layout.index("configs/")]
    named = set(re.findall(r"(?<![\w/])([a-z_]\w*\.py|[a-z_]\w*/)", package)) - {"mnist_rnn/"}
    folder = ROOT / "mnist_rnn"
    modules = {path.name for path in folder.glob("*.py")} - {"__init__.py", "__main__.py"}
    folders = {f"{path.name}/" for path in folder.iterdir() if path.is_dir() and not path.name.startswith("__")}
    inside = {path.name for path in folder.glob("*/*.py")}  # serve/'s http.py, worker.py, app.py
    assert sorted((modules | folders) - named) == []
    assert sorted(named - modules - folders - inside) == []


def test_tunes_table_gives_each_of_its_options_with_its_default_and_choices():
    """docs/tune.md's table of tune's options is what a newcomer reads instead of --help: every option is in it,
    with the default the parser has (a required one as "(required)") and, where it lists them, its choices."""
    from mnist_rnn.tune import build_parser

    text = (ROOT / "docs" / "tune.md").read_text(encoding="utf-8")
    rows = {
        name: (shown, default)
        for name, shown, default in re.findall(r"^\| `(--[\w-]+)([^`]*)` \| ([^|]+?) \|", text, re.M)
    }
    options = {
        action.option_strings[0]: action for action in build_parser()._actions if "--help" not in action.option_strings
    }
    assert sorted(rows) == sorted(options)
    for name, action in options.items():
        shown, default = rows[name]
        if action.required:
            assert default == "(required)", name
        elif action.default is not None:
            assert default == str(action.default), name
        if action.choices:
            assert shown.strip().split("\\|") == list(action.choices), name
