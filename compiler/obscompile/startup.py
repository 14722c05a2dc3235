"""Start the command line with Ctrl-C handled from its first statement.

Importing `obscompile.cli` took 0.09 to 0.12 s (`python -X importtime`, on a
machine of 2 shared CPUs). Python's default SIGINT handler raises KeyboardInterrupt
there, before `cli.run` can catch it, and the interpreter prints a traceback. This
module imports nothing but `os` and `signal`, so its handler is in place before the
slow imports start.
"""

from __future__ import annotations

import os
import signal

# 128 + SIGINT, the status that shells give a command that Ctrl-C ended.
EXIT_INTERRUPTED = 130


def _exit_interrupted(signum: int, frame: object) -> None:
    """End the process as `cli.run` ends an interrupted command."""
    os.write(2, b"obscompile: interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    """Load the command line and run it: the `obscompile` script and `python -m obscompile`."""
    # A process started with SIGINT ignored, as a background job is, keeps ignoring it.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _exit_interrupted)
    from obscompile.cli import run

    run()


def raise_on_interrupt() -> None:
    """Let Ctrl-C raise KeyboardInterrupt again, so that the command reports it.

    `cli.run` calls this inside the block that catches KeyboardInterrupt, and its
    report names the state of the output folder.
    """
    if signal.getsignal(signal.SIGINT) is _exit_interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
