"""Errors the user can fix: the CLI shows their message in one line, without a traceback."""


class UserError(Exception):
    """Bad input from the user (files, paths, settings); the message says what is wrong and where."""


class SettingsError(UserError, ValueError):
    """A setting that cannot work (a size <= 0, an unknown name). Also a ``ValueError``, so Python code that
    builds the model or the data module and catches ``ValueError`` keeps working."""


class DataError(UserError):
    """The data files are missing, unreadable or inconsistent."""


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite: training on would only spread it to every weight."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (or its type's name), to quote inside a one-line message."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
