"""What every command group shares: how a command stops, and the settings."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gateway.config import ConfigError, Settings, load_settings


class CommandError(Exception):
    """A command stops: `main` prints `<prog>: <message>` on stderr and exits with `code`.
    `prog` is the command's name (`gateway audit query`) unless given."""

    def __init__(self, message: str, *, code: int = 2, prog: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.prog = prog


Run = Callable[[argparse.Namespace], int]


def command(parser: argparse.ArgumentParser, run: Run) -> None:
    """`parser`'s command is `run` (and `parser.prog` its name in error messages)."""
    parser.set_defaults(handler=run, command_name=parser.prog)


def settings() -> Settings:
    """The gateway's settings from the environment; an error in them stops the command."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise CommandError(f"configuration error: {exc}", prog="gateway") from None
