"""User errors: one clear line, exit code 2, no traceback (DESIGN.md, conventions).

Raise `UserError` for anything the user can fix (missing file, bad image, wrong checkpoint);
let bugs raise normally. Command-line entry points wrap their `main` with `cli_main`.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with the user's input: the message names the file, what is wrong, and the fix."""


def cli_main(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a CLI `main`: a `UserError` prints `error: <message>` on one line and exits 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return int(main(*args, **kwargs) or 0)
        except UserError as err:
            message = " ".join(str(err).split())  # one line, whatever the message held
            print(f"error: {message}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("interrupted: finished work is kept; run the same command again to resume",
                  file=sys.stderr)
            return 130

    return wrapper
