"""``python -m mnist_rnn`` and the ``mnist-rnn`` script: the stop handlers first, then the command line.

The handlers go in before :mod:`mnist_rnn.cli` is imported (torch and Lightning take seconds to import), so
Ctrl+C or SIGTERM at any moment ends with exit status 130 or 143 and one line (:mod:`mnist_rnn.stopping`).
"""

from __future__ import annotations

import signal

from mnist_rnn.stopping import (
    DONE,
    STOP_SIGNALS,
    Stopped,
    at_the_exit,
    doing,
    end_after_the_exit_hooks,
    end_with_the_first_process,
    exit_at_once,
    exit_status,
    raise_stopped,
    stop_handlers,
)


def run() -> None:
    """Install the stop handlers, then import and run :func:`mnist_rnn.cli.main`. While importing, a stop
    ends the process at once (:func:`mnist_rnn.stopping.exit_at_once`): raised there, it could abort. After it,
    only the interpreter's exit is left (:func:`mnist_rnn.stopping.at_the_exit`), which ends after the ``atexit``
    hooks (:func:`mnist_rnn.stopping.end_after_the_exit_hooks`)."""
    end_with_the_first_process()
    end_after_the_exit_hooks()  # first: the last hook to run
    for signum in STOP_SIGNALS:  # for the process's life (the handlers before it, Python's, are not handed back)
        signal.signal(signum, raise_stopped)
    try:
        with stop_handlers(exit_at_once):
            from mnist_rnn.cli import main
    except Stopped as stop:  # a signal in the instant between the two handlers
        stop.end()
    status = None  # an error's traceback: Python's own end
    try:
        main()
        doing(DONE)
        status = 0
    except SystemExit as ended:
        doing("as it ended")  # after its own line, if any
        status = exit_status(ended.code)
        raise
    finally:
        at_the_exit(status)


if __name__ == "__main__":
    run()
