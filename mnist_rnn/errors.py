"""Errors the user can fix: the CLI shows their message in one line, without a traceback."""


class UserError(Exception):
    """Bad input from the user (files, paths, settings); the message says what is wrong and where."""


class DataError(UserError):
    """The data files are missing, unreadable or inconsistent."""
