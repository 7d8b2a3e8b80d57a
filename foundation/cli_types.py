"""The command lines' shared parts: a parser whose usage errors are one line, and ``type=``
functions for options with a documented range (numbers; devices: `foundation.devices`).

Every CLI uses `OneLineParser`: a usage error (unknown option, a value out of range, not a number)
becomes a `UserError`, which `foundation.errors.cli_main` prints as ONE line,
``error: python -m benchmarks.run: argument --limit: expected a whole number ≥ 1, got '-1' (see
--help)``, with exit code 2 — no usage block.
"""
from __future__ import annotations

import argparse
from typing import Callable

from foundation.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (`UserError`, exit 2 through `cli_main`)."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help)")


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A ``type=`` function accepting integers in [minimum, maximum] (no maximum when None)."""
    wanted = f"≥ {minimum}" if maximum is None else f"in {minimum}…{maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected a whole number {wanted}, got {text!r}")
        return value

    parse.__name__ = f"whole number {wanted}"
    return parse
