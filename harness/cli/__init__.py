"""The ffi-harness command (harness.cli.main.main is the console script)."""

from harness.cli.main import main

__all__ = ["main"]
