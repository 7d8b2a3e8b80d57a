"""One resumable, sha256-checked downloader for every fetch command (docs/interfaces.md).

`download(url, dest, sha256=...)` streams into `<dest>.part`, resuming an interrupted transfer
with an HTTP Range request, checks the sha256 (the full digest, or a known prefix such as the
8 hex digits torchvision puts in its file names), then renames the part file onto `dest` in one
step. A hash mismatch deletes the part file; an interrupted transfer keeps it, so running the
same command again continues where it stopped. Everything a user can fix (no network, HTTP error,
bad hash) is a `UserError`. Only the standard library's urllib is used; progress is a tqdm bar.

`download_drive(link, dest, sha256=...)` does the same for a public Google Drive file or folder
link through gdown (Drive's confirmation page, resume). `record_sha256` / `check_recorded` keep
the digest of a file that has no published one in its folder's `SHA256SUMS` (sha256sum format):
written on the first fetch, checked on every later fetch and use.
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
from foundation.fileio import atomic_write_text, check_output_file, resolve_output_file, sha256_file

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
    target = _target(dest, sha256)
    if target is None:
        return dest
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

    _publish(part, target, digest.hexdigest(), sha256, url)
    return dest


def _target(dest: Path, sha256: str | None) -> Path | None:
    """The regular file to download `dest` into (its folder made); None when `dest` already holds a
    file whose hash matches `sha256`; a `UserError` when it holds another."""
    target = check_output_file(dest)
    if dest.is_file():
        if sha256_matches(sha256_file(dest), sha256):
            return None
        raise UserError(f"{dest}: exists but its sha256 is not {sha256}…; delete it and fetch again")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _publish(staged: Path, target: Path, actual: str, sha256: str | None, url: str) -> None:
    """Rename the finished download `staged` (sha256 `actual`) onto `target` in one step, or delete
    it when `actual` does not match `sha256` (a one-line `UserError`)."""
    if not sha256_matches(actual, sha256):
        staged.unlink(missing_ok=True)
        raise UserError(f"{url}: sha256 mismatch for {target.name} (expected {sha256}…, got {actual}); the download "
                        "was deleted; the source may have changed: check it, or download the file by hand")
    resolve_output_file(target)
    os.replace(staged, target)


# --------------------------------------------------------------------------- Google Drive links

def is_drive_link(link: str) -> bool:
    """True for a drive.google.com / docs.google.com address (a file or a folder link)."""
    from gdown.parse_url import is_google_drive_url

    return is_google_drive_url(link)


def _drive_file_id(link: str, filename: str, timeout: float) -> str:
    """The file id behind `link`: a file link's own id, or the id of the file named `filename`
    in a folder link (the folder is listed with gdown, one request)."""
    import gdown

    file_id, _ = gdown.parse_url.parse_url(link)
    if file_id:
        return file_id
    try:
        entries = gdown.download_folder(url=link, skip_download=True, quiet=True, use_cookies=False,
                                        timeout=timeout)
    except Exception as err:  # gdown / requests: network, HTTP status, a page it cannot parse
        raise UserError(f"{link}: cannot list this Google Drive folder ({_first_line(err)}); check the "
                        f"network connection, or download {filename} by hand from it") from err
    for entry in entries:
        if Path(entry.path).name == filename:
            return entry.id
    names = ", ".join(sorted(Path(e.path).name for e in entries)) or "nothing"
    raise UserError(f"{link}: the Google Drive folder holds no {filename} (it holds {names}); "
                    "the release may have moved: download the file by hand")


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " …"


def download_drive(link: str, dest: str | os.PathLike, *, sha256: str | None = None, timeout: float = 60.0,
                   progress: bool = True) -> Path:
    """Download a public Google Drive file to `dest` with gdown, verify `sha256`, rename atomically.

    `link`: a Drive file link (``…/file/d/ID/view``, ``…/uc?id=ID``) or a folder link
    (``…/drive/folders/ID``), in which the file named ``dest.name`` is looked up. gdown handles
    Drive's large-file confirmation page and resumes an interrupted transfer from its
    ``<dest>.drive…part`` file on the next call. An existing `dest` whose hash matches is kept
    without a request; a hash mismatch deletes the download. Every failure is a one-line `UserError`.
    """
    import gdown

    dest = Path(dest)
    target = _target(dest, sha256)
    if target is None:
        return dest
    staging = resolve_output_file(target.with_name(target.name + ".drive"))  # gdown's output; then checked
    file_id = _drive_file_id(link, dest.name, timeout)
    try:
        gdown.download(id=file_id, output=str(staging), quiet=not progress, resume=True, use_cookies=False,
                       timeout=timeout)
    except Exception as err:  # gdown / requests: interrupted, quota page, HTTP error, no network
        raise UserError(f"{link}: Google Drive download of {dest.name} failed ({_first_line(err)}); run the "
                        f"same command again to resume, or download the file by hand") from err
    _publish(staging, target, sha256_file(staging), sha256, link)
    return dest


# --------------------------------------------------------------------------- recorded digests

#: The record of digests in a weights folder: `sha256sum` format (``<hex>  <file name>``), so
#: ``sha256sum -c SHA256SUMS`` checks it too. Written when a file without a published sha256 is
#: first fetched; checked on every later fetch and use (`check_recorded`).
RECORD_FILE = "SHA256SUMS"


def _record_lines(folder: Path) -> dict[str, str]:
    record = folder / RECORD_FILE
    if not record.is_file():
        return {}
    found = {}
    for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) == 64 and name:
            found[name] = digest.lower()
    return found


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 that `<folder>/SHA256SUMS` records for `path`'s file name, or None."""
    path = Path(path)
    return _record_lines(path.parent).get(path.name)


def record_sha256(path: str | os.PathLike, digest: str) -> Path:
    """Add (or replace) `path`'s line in `<folder>/SHA256SUMS`, written atomically; returns the record."""
    path = Path(path)
    lines = {**_record_lines(path.parent), path.name: digest.lower()}
    record = path.parent / RECORD_FILE
    atomic_write_text(record, "".join(f"{d}  {n}\n" for n, d in sorted(lines.items())))
    return record


def check_recorded(path: str | os.PathLike, digest: str | None = None) -> None:
    """A one-line `UserError` when `path`'s sha256 (`digest`, computed when None) differs from the
    one its folder's SHA256SUMS records; nothing when there is no record for it."""
    path = Path(path)
    expected = recorded_sha256(path)
    if expected is None:
        return
    digest = digest or sha256_file(path)
    if digest.lower() != expected:
        raise UserError(f"{path}: sha256 {digest[:16]}… differs from the one recorded when it was fetched "
                        f"({expected[:16]}…, in {path.parent / RECORD_FILE}); the file changed: delete it and "
                        f"fetch it again, or remove its line from {RECORD_FILE} if you replaced it on purpose")
