"""One `benchmarks.run` at a time per run folder: an exclusive lock on `<out>/.lock`.

Two processes appending to one rows.csv would both compute everything, and the one finishing
last would rewrite the file without the other's rows. So the runner takes this lock before it
reads rows.csv and holds it until it has written the folder's views; a second command on the same
folder stops at once with one line (exit 2) naming the folder and the process that holds it. The
lock is the operating system's (`filelock`: `fcntl.flock` on Linux), so a killed holder (kill -9)
releases it; the file itself may stay behind and means nothing. Readers (`benchmarks.report`)
need no lock: every file of the folder is replaced atomically.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from filelock import FileLock, Timeout

from foundation.errors import UserError

LOCK_FILE = ".lock"


def acquire(out: str | os.PathLike) -> FileLock:
    """Take the run folder's lock (creating the folder); `UserError` when another process holds it."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {out}: cannot create the run folder ({err.strerror or err}); "
                        "choose a folder you can write") from err
    lock = FileLock(str(out / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = _holder(out)
        raise UserError(f"--out {out}: another benchmarks.run is using this run folder{holder}; wait for it "
                        "to finish (then run again: its rows are reused) or choose another --out") from None
    except OSError as err:
        raise UserError(f"--out {out}: cannot lock the run folder ({err.strerror or err}); "
                        "choose a folder you can write") from err
    try:  # who holds it, for the message another process prints (informational only)
        (out / f"{LOCK_FILE}.owner").write_text(f"pid {os.getpid()} on {socket.gethostname()}\n")
    except OSError:
        pass
    return lock


def _holder(out: Path) -> str:
    try:
        text = (out / f"{LOCK_FILE}.owner").read_text().strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""
