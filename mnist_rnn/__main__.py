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
    end_with_the_first_process,
    exit_at_once,
    raise_stopped,
    stop_handlers,
)


def run() -> None:
    """Install the stop handlers, then import and run :func:`mnist_rnn.cli.main`. While importing, a stop
    ends the process at once (:func:`mnist_rnn.stopping.exit_at_once`): raised there, it could abort. After it,
    only the interpreter's exit is left (:func:`mnist_rnn.stopping.at_the_exit`)."""
    end_with_the_first_process()
    for signum in STOP_SIGNALS:  # for the process's life (the handlers before it, Python's, are not handed back)
        signal.signal(signum, raise_stopped)
    try:
        with stop_handlers(exit_at_once):
            from mnist_rnn.cli import main
    except Stopped as stop:  # a signal in the instant between the two handlers
        stop.end()
    try:
        main()
        doing(DONE)
    except SystemExit:
        doing("as it ended")  # after its own line, if any
        raise
    finally:
        at_the_exit()


if __name__ == "__main__":
    run()
