"""Atomic file writes and output-location checks (docs/interfaces.md: files are written atomically).

Every file the project writes goes through `atomic_open` (or `atomic_write_bytes/text`): the data
goes to a temporary file beside the target, which then replaces the target in one rename. A crash
leaves the old file or no file, never a torn one.

What may be replaced: only a regular file, or nothing (a new file). A device node (/dev/full),
FIFO, socket or folder at the output path is refused with `OutputPathError` naming the path, so
an output can never rename over something that is not a file. A symlink is followed: the
regular file it points to is replaced atomically (the temporary file goes beside that target,
the link itself stays as it is); a link to anything else is refused like that thing; a dangling
link creates its target, as shell redirection does.

The CLIs check their output locations right after parsing arguments, before any computing or
network (`check_output_dir` for a folder option, `check_output_file` for a file option): a probe
file is created and removed in the folder, or, when it does not exist yet, in its nearest existing
ancestor (where the folder will be created). The check leaves nothing behind, so a command that
fails later for another reason leaves no empty run folder. Every failure is a one-line
`OutputPathError` (a `UserError`: exit code 2 in the CLIs). `check_not_an_input` refuses, in the
same way, an output that is one of the command's inputs (or lies in a folder that is all input).

`sha256_file`: the one file digest (weights records, downloads, manifests).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

from foundation.errors import UserError


#: errno values that mean the storage refused the bytes (full disk, quota, file size limit,
#: read-only file system, I/O error): a user's problem, reported in one line
STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO})


def storage_error(label: str, err: OSError) -> "OutputPathError":
    """The one-line error for a write the storage refused (`STORAGE_ERRORS`)."""
    return OutputPathError(f"{label}: cannot be written ({err.strerror or err}); free some space or choose "
                           "another location (an earlier version of the file, if any, is unchanged)")


class OutputPathError(UserError):
    """An output location that must not or cannot be written: the path is a device node, FIFO,
    socket or folder where a file is expected, a file where a folder is expected, or a place
    without write permission. A `UserError`, so the CLIs print it as one line and exit 2."""


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def _label(path: str | os.PathLike, option: str | None) -> str:
    return f"{option} {path}" if option else str(path)


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _no_file_in_the_way(folder: Path, label: str) -> None:
    """`OutputPathError` when the nearest existing ancestor of `folder` (itself included) is a file."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise OutputPathError(f"{label}: cannot be written: {candidate} is a file, not a folder")
            return


def resolve_output_file(path: str | os.PathLike, option: str | None = None) -> Path:
    """The file an output to `path` replaces: `path`, or its target when `path` is a symlink.

    Raises `OutputPathError` when that target exists and is not a regular file (folder, device,
    FIFO, socket), or when a symlink loop or a file among the parents makes it unreachable.
    """
    label = _label(path, option)
    target = Path(os.path.realpath(path))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        _no_file_in_the_way(target.parent, label)
        return target
    except OSError as err:
        raise OutputPathError(f"{label}: cannot be written ({_reason(err)})") from err
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        shown = f"{label} (-> {target})" if str(target) != os.path.abspath(path) else label
        raise OutputPathError(f"{shown}: is {kind}, not a regular file; refusing to replace it, "
                              "give the path of a file to write")
    return target


def _make_folder(folder: Path, label: str) -> None:
    _no_file_in_the_way(folder, label)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(f"{label}: cannot create the folder {folder} ({_reason(err)}); "
                              "choose a writable location") from err


def _probe(folder: Path, label: str) -> None:
    """Create and remove a file in `folder`, or in its nearest existing ancestor when it is missing."""
    _no_file_in_the_way(folder, label)
    base = next(candidate for candidate in (folder, *folder.parents) if candidate.exists())
    try:
        fd, name = tempfile.mkstemp(dir=base, prefix=".write-probe.", suffix=".tmp")
    except OSError as err:
        what = f"cannot create files in {folder}" if base == folder else f"cannot create {folder} under {base}"
        raise OutputPathError(f"{label}: {what} ({_reason(err)}); choose a writable location") from err
    os.close(fd)
    os.unlink(name)


def check_output_dir(path: str | os.PathLike, option: str | None = None) -> Path:
    """Make sure `path` is a folder this process can create files in, before any work starts.

    Creates and removes a probe file in it (in its nearest existing ancestor when it is missing;
    nothing is left behind, the folder is made by the writes later). `option` (e.g. ``"--out"``)
    prefixes the message. Returns `path` as a `Path`. Raises `OutputPathError` (one line) when
    `path` or an ancestor is a file, or the folder cannot be created (e.g. under /proc) or written.
    """
    folder = Path(path)
    label = _label(path, option)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{label}: exists and is not a folder; give a folder to write into")
    _probe(folder, label)
    return folder


def check_output_file(path: str | os.PathLike, option: str | None = None) -> Path:
    """Make sure the file `path` can be written (atomically), before any work starts.

    The target must be missing or a regular file (symlinks followed, see the module docstring);
    its folder (or, when missing, the ancestor it will be created in) must accept new files, as
    the temporary file of the atomic write needs. Nothing is left behind. Returns the file that
    will be replaced. Raises `OutputPathError` (one line).
    """
    label = _label(path, option)
    target = resolve_output_file(path, option)
    _probe(target.parent, label)
    return target


def _is_same(path: str | os.PathLike, other: str | os.PathLike) -> bool:
    """Whether two paths name one file or folder: `os.path.samefile` when both exist (hard links, bind
    mounts), else their resolved paths (symlinks and ``..`` followed) are equal."""
    try:
        return os.path.samefile(path, other)
    except OSError:
        return os.path.realpath(path) == os.path.realpath(other)


def _lies_in(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` (resolved) is `folder` or somewhere below it."""
    real = Path(os.path.realpath(path))
    return any(_is_same(candidate, folder) for candidate in (real, *real.parents))


def check_not_an_input(out: str | os.PathLike, option: str,
                       inputs: Iterable[tuple[str, str | os.PathLike | None]] = (),
                       holders: Iterable[tuple[str, str | os.PathLike | None]] = ()) -> None:
    """Refuse an output location that is one of the command's inputs, before any work starts.

    `out` (a file or folder the command writes, named by `option`, e.g. ``"--out"``) must not be the
    same file or folder as any path of `inputs`, nor be or lie inside any folder of `holders` (folders
    whose every file is an input, e.g. run folders). Each is a ``(label, path)`` pair, the label
    naming where the path came from (``"--lr"``); a None path is skipped. Symlinks and ``..`` are
    resolved; where both exist `os.path.samefile` decides. Raises `OutputPathError` (one line).
    """
    for label, path in inputs:
        if path is not None and _is_same(out, path):
            kind = "folder" if Path(path).is_dir() else "file"
            shown = "" if os.fspath(out) == os.fspath(path) else f" ({path})"
            raise OutputPathError(f"{option} {out}: is the {label} {kind}{shown}; the output would replace an "
                                  f"input, give another {kind}")
    for label, folder in holders:
        if folder is not None and _lies_in(out, folder):
            raise OutputPathError(f"{option} {out}: is in {label} {folder}, an input; the output would change "
                                  "it, give a path outside it")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a temporary file next to `path`; on success it replaces `path` in one rename.

    A crash or exception leaves `path` untouched (the old content or no file at all). Only a
    regular file is ever replaced (a symlink's target when `path` is a symlink); anything else
    at `path`, or a folder that cannot be created or written, raises `OutputPathError` before
    the caller writes anything.
    """
    label = str(path)
    target = resolve_output_file(path)
    _make_folder(target.parent, label)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise OutputPathError(f"{label}: cannot create files in {target.parent} ({_reason(err)}); "
                              "choose a writable location") from err
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        resolve_output_file(target)  # still a regular file or nothing: something may have appeared
        os.replace(tmp_name, target)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(err, OSError) and err.errno in STORAGE_ERRORS:
            raise storage_error(label, err) from err
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_open`; `OutputPathError` on a bad target)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (see `atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes as 64 lower-case hex digits, read in `chunk`-byte blocks.

    Raises `OSError` when the file cannot be read (callers name the file in their own error).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
