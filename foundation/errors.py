"""User errors: one clear line, exit code 2, no traceback (docs/interfaces.md, shared conventions).

Raise `UserError` for anything the user can fix (missing file, bad image, wrong checkpoint);
let bugs raise normally. Command-line entry points wrap their `main` with `cli_main`.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable

# Exit statuses of every command (README, "Exit status"; each command's --help says which it uses).
EXIT_OK = 0
EXIT_STRICT = 1            # `reproduce --strict`: a requested cell unmeasured or far from the paper
EXIT_USER_ERROR = 2        # bad input: one line on stderr naming the file/option and the fix
EXIT_NOTHING_MEASURED = 3  # the command ran but measured nothing (no method, dataset or image usable)
EXIT_INTERRUPTED = 130     # Ctrl-C: finished work is kept


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
            return EXIT_INTERRUPTED

    return wrapper
