"""One resumable, sha256-checked downloader for every fetch command (docs/interfaces.md).

`download(url, dest, sha256=...)` streams into `<dest>.part`, resuming an interrupted transfer
with an HTTP Range request, checks the sha256 (the full digest, or a known prefix such as the
8 hex digits torchvision puts in its file names), then renames the part file onto `dest` in one
step. A hash mismatch deletes the part file; an interrupted transfer keeps it, so running the
same command again continues where it stopped. Everything a user can fix (no network, HTTP error,
bad hash) is a `UserError`. Only the standard library's urllib is used; progress is a tqdm bar.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from foundation.errors import UserError
from foundation.fileio import check_output_file, resolve_output_file, sha256_file

CHUNK = 1 << 20
USER_AGENT = "ttsr-bench-downloader/1"


def sha256_matches(digest: str, expected: str | None) -> bool:
    """True when `expected` is None, the full digest, or a prefix of it (case-insensitive)."""
    if not expected:
        return True
    expected = expected.strip().lower()
    return len(expected) >= 6 and digest.lower().startswith(expected)


URL_SCHEMES = ("http", "https")


def check_url(url: str, option: str | None = None) -> str:
    """`url` when it is an http(s) URL with a host; else a one-line `UserError` (`option` names
    the command-line option, e.g. ``"--url"``). Nothing is requested."""
    label = f"{option} {url!r}" if option else repr(url)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as err:
        raise UserError(f"{label}: not a valid URL ({err}); give an http:// or https:// address") from err
    if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
        raise UserError(f"{label}: not an http:// or https:// URL with a host name; "
                        "give the full address, e.g. https://example.org/file.pth")
    return url


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _open(url: str, offset: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URLs come from our tables or the user
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left after `offset`: the part file is complete
            return None
        raise UserError(f"{url}: HTTP {err.code} {err.reason}; check the URL, or download the file by hand") from err
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"{url}: cannot connect ({reason}); check the network connection or proxy, "
                        "or download the file by hand") from err


def _total_size(response, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length")
    if length and length.isdigit():
        return int(length) + (offset if response.status == 206 else 0)
    return None


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None, timeout: float = 60.0,
             progress: bool = True, desc: str | None = None) -> Path:
    """Download `url` to `dest` (resuming `<dest>.part`), verify `sha256`, rename atomically.

    An existing `dest` whose hash matches is kept and returned without a request. A malformed
    `url`, or a `dest` / part file that is not a regular file (see `foundation.fileio`), is a
    `UserError` before any request; a symlink `dest` gets its target replaced.
    """
    from tqdm import tqdm

    check_url(url)
    dest = Path(dest)
    target = check_output_file(dest)
    if dest.is_file():
        if sha256_matches(sha256_file(dest), sha256):
            return dest
        raise UserError(f"{dest}: exists but its sha256 is not {sha256}…; delete it and fetch again")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = resolve_output_file(part_path(target))
    offset = part.stat().st_size if part.is_file() else 0
    digest = hashlib.sha256()
    if offset:
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)

    response = _open(url, offset, timeout)
    if response is not None:
        with response:
            if offset and response.status != 206:  # the server ignored the Range: start again
                offset, digest = 0, hashlib.sha256()
            total = _total_size(response, offset)
            received = offset
            mode = "ab" if offset else "wb"
            try:
                with open(part, mode) as handle, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                                      unit_divisor=1024, desc=desc or dest.name, disable=not progress,
                                                      leave=False) as bar:
                    while True:
                        block = response.read(CHUNK)
                        if not block:
                            break
                        handle.write(block)
                        digest.update(block)
                        received += len(block)
                        bar.update(len(block))
                    handle.flush()
                    os.fsync(handle.fileno())
            except (http.client.IncompleteRead, socket.timeout, ConnectionError, OSError) as err:
                raise UserError(f"{url}: download interrupted after {part.stat().st_size if part.exists() else 0} "
                                f"bytes ({type(err).__name__}); run the same command again to resume from {part}") from err
            if total is not None and received < total:
                raise UserError(f"{url}: download interrupted at {received} of {total} bytes; "
                                f"run the same command again to resume from {part}")

    actual = digest.hexdigest()
    if not sha256_matches(actual, sha256):
        part.unlink(missing_ok=True)
        raise UserError(f"{url}: sha256 mismatch (expected {sha256}…, got {actual}); the partial file was "
                        "deleted; the source may have changed: check it, or download the file by hand")
    resolve_output_file(target)
    os.replace(part, target)
    return dest
