"""`foundation.download` and `python -m benchmarks.weights` against a local HTTP server on 127.0.0.1
(started here, Range support, a truncating route to test resume); nothing from the internet."""
from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from baselines import registry
from benchmarks import weights as weights_cli
from foundation.download import download, part_path, sha256_matches
from foundation.errors import UserError

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, a few chunks
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    truncate_once: set[str] = set()
    ignore_range: set[str] = set()
    requests: list[tuple[str, str | None]] = []

    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        name = self.path.lstrip("/")
        range_header = self.headers.get("Range")
        self.requests.append((name, range_header))
        data = self.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if range_header and name not in self.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in self.truncate_once:  # promise everything, send a third, hang up
            self.truncate_once.discard(name)
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    Handler.files = {"weights.pth": PAYLOAD, "norange.pth": PAYLOAD}
    Handler.truncate_once = set()
    Handler.ignore_range = {"norange.pth"}
    Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_checks_the_hash_and_renames(server, tmp_path):
    dest = tmp_path / "sub" / "w.pth"
    assert download(f"{server}/weights.pth", dest, sha256=SHA, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD and not part_path(dest).exists()
    # present and correct: no second request
    count = len(Handler.requests)
    download(f"{server}/weights.pth", dest, sha256=SHA[:8], progress=False)
    assert len(Handler.requests) == count


def test_resume_after_a_truncated_first_attempt(server, tmp_path):
    Handler.truncate_once = {"weights.pth"}
    dest = tmp_path / "w.pth"
    with pytest.raises(UserError, match="interrupted.*run the same command again to resume"):
        download(f"{server}/weights.pth", dest, sha256=SHA, progress=False)
    part = part_path(dest)
    assert part.is_file() and 0 < part.stat().st_size < len(PAYLOAD) and not dest.exists()
    kept = part.stat().st_size
    download(f"{server}/weights.pth", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    assert Handler.requests[-1] == ("weights.pth", f"bytes={kept}-")


def test_a_complete_part_file_is_verified_and_renamed(server, tmp_path):
    dest = tmp_path / "w.pth"
    part_path(dest).write_bytes(PAYLOAD)  # 416 from the server: nothing left to fetch
    download(f"{server}/weights.pth", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_server_without_range_support_restarts(server, tmp_path):
    dest = tmp_path / "w.pth"
    part_path(dest).write_bytes(PAYLOAD[:1000])
    download(f"{server}/norange.pth", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_sha_mismatch_deletes_the_part_file(server, tmp_path):
    dest = tmp_path / "w.pth"
    with pytest.raises(UserError, match="sha256 mismatch.*the download was deleted"):
        download(f"{server}/weights.pth", dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not part_path(dest).exists()
    with pytest.raises(UserError, match="sha256 mismatch"):
        download(f"{server}/weights.pth", dest, sha256="deadbeef", progress=False)


def test_http_error_and_no_network(server, tmp_path):
    with pytest.raises(UserError, match="HTTP 404"):
        download(f"{server}/absent.pth", tmp_path / "a.pth", progress=False)
    closed = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens on this port now
    with pytest.raises(UserError, match="cannot connect"):
        download(f"http://127.0.0.1:{port}/w.pth", tmp_path / "b.pth", progress=False, timeout=5)
    assert not (tmp_path / "a.pth").exists() and not (tmp_path / "b.pth").exists()


def test_sha256_prefix_rules():
    assert sha256_matches(SHA, None) and sha256_matches(SHA, SHA.upper()) and sha256_matches(SHA, SHA[:8])
    assert not sha256_matches(SHA, SHA[:4]) and not sha256_matches(SHA, "f" * 8)


# --------------------------------------------------------------------------- the CLI

def test_weights_list_shows_found_and_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(registry.WEIGHTS_ENV, str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "IMDN_x4.pth").write_bytes(b"x")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert weights_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]
    lines = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert " found " in lines["imdn"] and f"imdn: {tmp_path / 'w' / 'IMDN_x4.pth'}" in out
    assert "missing" in lines["rfdn"] and "e660c382" in lines["imdn"]
    assert "missing" in lines["vgg19"] and "dcbb9e9c" in lines["vgg19"]
    assert "not needed" in lines["bicubic"]
    assert "TTSR_BENCH_WEIGHTS" in out and "./weights" in out


def test_fetch_method_from_a_mirror(server, tmp_path, monkeypatch, capsys):
    fake = registry.WeightsSpec(files=("fake.pth",), source="test", url=f"{server}/weights.pth", sha256=SHA)
    monkeypatch.setattr(type(registry.get("imdn")), "weights", fake)
    assert weights_cli.main(["fetch", "imdn", "--dest", str(tmp_path)]) == 0  # the old name still works
    assert (tmp_path / "fake.pth").read_bytes() == PAYLOAD
    # the recorded hash is checked on a mirror too
    Handler.files["bad.pth"] = PAYLOAD + b"!"
    with pytest.raises(UserError, match="sha256 mismatch"):
        weights_cli.main(["fetch", "imdn", "--out", str(tmp_path / "x"), "--url", f"{server}/bad.pth"])


def test_fetch_backbone_into_the_hub_cache(server, tmp_path, monkeypatch):
    from foundation import pretrained

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = pretrained.BackboneWeights("vgg19", "vgg19-test.pth", f"{server}/weights.pth", SHA[:8])
    monkeypatch.setitem(pretrained.BACKBONES, "vgg19", spec)
    assert weights_cli.main(["fetch", "vgg19"]) == 0
    assert pretrained.find_backbone("vgg19") == Path(tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-test.pth")


def test_fetch_of_a_file_without_a_link_prints_the_manual_step(tmp_path):
    with pytest.raises(UserError, match=r"no direct or Google Drive download link.*models_ECCV2018RCAN.zip.*"
                                        r"RCAN_BIX4.pt.*--weights rcan=PATH"):
        weights_cli.main(["fetch", "rcan", "--out", str(tmp_path)])
    with pytest.raises(UserError, match=r"^rcan: .*no direct or Google Drive download link"):  # a name in any case
        weights_cli.main(["fetch", "RCAN", "--out", str(tmp_path)])
    with pytest.raises(UserError, match="unknown name 'nope'; valid names: .*imdn.*vgg19"):
        weights_cli.main(["fetch", "nope"])


def test_cli_exit_code_and_one_line_error(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "benchmarks.weights", "fetch", "rcan", "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: rcan: RCAN_BIX4.pt has no direct or Google Drive download link")
    assert len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- bad URLs and destinations

BAD_URLS = ("notaurl", "ftp://x/w.pth", "http://[bad", "http://", "https://host:port/w.pth", "file:///etc/passwd")


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_url_is_a_one_line_error_before_any_request(server, tmp_path, url):
    with pytest.raises(UserError, match="not a valid URL|not an http:// or https:// URL"):
        download(url, tmp_path / "w.pth", progress=False)
    assert not any(tmp_path.iterdir())  # nothing written, not even the folder's part file


@pytest.mark.parametrize("url", BAD_URLS)
def test_weights_fetch_with_malformed_url_exits_2(server, tmp_path, url, capsys):
    from foundation.errors import cli_main

    fake = registry.WeightsSpec(files=("fake.pth",), source="test", url=f"{server}/weights.pth", sha256=SHA)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(registry.get("imdn")), "weights", fake)
        code = cli_main(weights_cli.main)(["fetch", "imdn", "--out", str(tmp_path), "--url", url])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: --url {url!r}: not ") and len(err.strip().splitlines()) == 1
    assert Handler.requests == [] and not (tmp_path / "fake.pth").exists()


def _bad_folders(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "file.txt").write_text("x")
    return {"under /proc": Path("/proc/ttsr-bench-test/weights"), "a file": tmp_path / "file.txt",
            "below a file": tmp_path / "file.txt" / "sub"}


@pytest.mark.parametrize("case", ["under /proc", "a file", "below a file"])
def test_weights_fetch_to_unwritable_dest_exits_2_before_downloading(server, tmp_path, case, capsys):
    from foundation.errors import cli_main

    dest = _bad_folders(tmp_path)[case]
    fake = registry.WeightsSpec(files=("fake.pth",), source="test", url=f"{server}/weights.pth", sha256=SHA)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(registry.get("imdn")), "weights", fake)
        code = cli_main(weights_cli.main)(["fetch", "imdn", "--out", str(dest)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: --out {dest}: ") and len(err.strip().splitlines()) == 1
    assert Handler.requests == []  # checked before the network


def test_download_never_replaces_a_fifo(server, tmp_path):
    import os

    dest = tmp_path / "w.pth"
    os.mkfifo(dest)
    with pytest.raises(UserError, match=r"w.pth: is a FIFO \(named pipe\), not a regular file"):
        download(f"{server}/weights.pth", dest, sha256=SHA, progress=False)
    assert dest.is_fifo() and Handler.requests == []
    os.unlink(dest)
    os.mkfifo(part_path(dest))  # a FIFO as the part file would block the open for ever
    with pytest.raises(UserError, match=r"w.pth.part: is a FIFO"):
        download(f"{server}/weights.pth", dest, sha256=SHA, progress=False)
    assert part_path(dest).is_fifo() and not dest.exists() and Handler.requests == []


def test_download_through_a_dangling_symlink_creates_its_target(server, tmp_path):
    target = tmp_path / "store" / "w.pth"
    target.parent.mkdir()
    link = tmp_path / "w.pth"
    link.symlink_to(target)
    assert download(f"{server}/weights.pth", link, sha256=SHA, progress=False) == link
    assert link.is_symlink() and target.read_bytes() == PAYLOAD
    assert not part_path(link).exists() and not part_path(target).exists()
