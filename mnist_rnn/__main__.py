"""``python -m mnist_rnn`` and the ``mnist-rnn`` script: the stop handlers first, then the command line.

The handlers go in before :mod:`mnist_rnn.cli` is imported (torch and Lightning take seconds to import), so
Ctrl+C or SIGTERM at any moment ends with exit status 130 or 143 and one line (:mod:`mnist_rnn.stopping`).
"""

from __future__ import annotations

from mnist_rnn.stopping import Stopped, end_with_the_first_process, exit_at_once, stop_handlers


def run() -> None:
    """Install the stop handlers, then import and run :func:`mnist_rnn.cli.main`. While importing, a stop
    ends the process at once (:func:`mnist_rnn.stopping.exit_at_once`): raised there, it could abort."""
    end_with_the_first_process()
    with stop_handlers():
        try:
            with stop_handlers(exit_at_once):
                from mnist_rnn.cli import main
        except Stopped as stop:  # a signal in the instant between the two handlers
            stop.end()
        main()


if __name__ == "__main__":
    run()
