"""argparse ``type=`` functions for numeric options with a documented range.

A value out of range or not a number is reported by argparse as one line,
``<prog>: error: argument --limit: expected a whole number ≥ 1, got '-1'``, after the usage, and
exit code 2 (argparse's convention, the same code as `ttsr.errors.UserError`).
"""
from __future__ import annotations

import argparse
from typing import Callable


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
