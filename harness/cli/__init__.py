"""The ffi-harness command (harness.cli.main.main is the console script)."""

import os
import signal
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C while the command's modules load: one line, not a traceback from an import."""
    sys.stderr.write("ffi-harness: interrupted\n")
    os._exit(128 + signum)


signal.signal(signal.SIGINT, _interrupted_while_starting)

from harness.cli.main import main  # noqa: E402  (after the handler: loading takes a moment)

__all__ = ["main"]
