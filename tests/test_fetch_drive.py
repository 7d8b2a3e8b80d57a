"""`python -m benchmarks.weights fetch` of Google Drive links (gdown) against a local server on 127.0.0.1
that plays Drive's part: the folder listing gdown reads (embeddedfolderview), the large-file
confirmation page of drive.google.com/uc, and the file from drive.usercontent.google.com/download
with Range / If-Range. Requests to those hosts are routed to the server by a transport adapter;
gdown's own flow (parsing, confirmation form, resume) runs unchanged. Nothing from the internet."""
from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import requests
import requests.adapters

from baselines import registry
from baselines.ttsr_methods import TTSR_DRIVE
from benchmarks import weights as weights_cli
from foundation import provenance
from foundation.download import RECORD_FILE, download_drive, recorded_sha256
from foundation.errors import UserError

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 6144 + b"TTSR"  # 1.5 MiB (three of gdown's 512 KiB chunks), stands in for TTSR.pt
SHA = hashlib.sha256(PAYLOAD).hexdigest()
REC_PAYLOAD = b"rec" * 1000
FOLDER_ID = TTSR_DRIVE.rsplit("/", 1)[1]
FILE_IDS = {"TTSR.pt": "1" + "a" * 32, "TTSR-rec.pt": "1" + "b" * 32}
DRIVE_HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com")


class Drive(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}  # file id -> bytes
    names: dict[str, str] = {}  # file id -> name
    folders: dict[str, list[str]] = {}  # folder id -> file ids
    cut_once: set[str] = set()  # file ids whose next full transfer stops after CUT bytes
    log: list[tuple[str, str | None]] = []  # (path, Range header)
    CUT = 700_000  # gdown keeps the whole chunks it received: one

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.log.append((url.path, self.headers.get("Range")))
        if url.path == "/embeddedfolderview" and query.get("id") in self.folders:
            links = "".join(f'<a href="https://drive.google.com/file/d/{i}/view?usp=drive_web">{self.names[i]}</a>'
                            for i in self.folders[query["id"]])
            return self._send(200, f"<html><head><title>models</title></head><body>{links}</body></html>".encode(),
                              "text/html; charset=utf-8")
        if url.path == "/uc" and query.get("id") in self.files:  # too large to scan: the confirmation page
            form = ('<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">'
                    f'<input type="hidden" name="id" value="{query["id"]}">'
                    '<input type="hidden" name="export" value="download">'
                    '<input type="hidden" name="confirm" value="t"></form>')
            return self._send(200, f"<html><body><p>Google Drive can't scan this file.</p>{form}</body></html>"
                              .encode(), "text/html; charset=utf-8")
        if url.path == "/download" and query.get("id") in self.files and query.get("confirm") == "t":
            return self._file(query["id"])
        self._send(404, b"<html><p class=\"uc-error-subcaption\">Not found</p></html>", "text/html")

    def _send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _file(self, file_id):
        data, etag = self.files[file_id], f'"{hashlib.sha256(self.files[file_id]).hexdigest()[:16]}"'
        headers = [("Content-Disposition", f'attachment; filename="{self.names[file_id]}"'), ("ETag", etag),
                   ("Accept-Ranges", "bytes")]
        range_header = self.headers.get("Range")
        if range_header and self.headers.get("If-Range", etag) == etag:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            headers.append(("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"))
            return self._send(206, data[start:], "application/octet-stream", headers)
        self.send_response(200)
        for key, value in [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data))),
                           *headers]:
            self.send_header(key, value)
        self.end_headers()
        try:
            if file_id in self.cut_once:  # promise everything, send CUT bytes, hang up
                self.cut_once.discard(file_id)
                self.wfile.write(data[: self.CUT])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # gdown closes the first response when it resumes
            pass


class ToLocal(requests.adapters.HTTPAdapter):
    """Sends what is addressed to a Drive host to the local server instead (path and query kept)."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        parts = urllib.parse.urlsplit(request.url)
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


@pytest.fixture()
def drive(monkeypatch):
    Drive.files = {FILE_IDS["TTSR.pt"]: PAYLOAD, FILE_IDS["TTSR-rec.pt"]: REC_PAYLOAD}
    Drive.names = {i: n for n, i in FILE_IDS.items()}
    Drive.folders = {FOLDER_ID: list(FILE_IDS.values())}
    Drive.cut_once, Drive.log = set(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drive)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    adapter = ToLocal(f"http://127.0.0.1:{httpd.server_address[1]}")
    original = requests.Session.get_adapter

    def get_adapter(self, url):
        return adapter if urllib.parse.urlsplit(url).hostname in DRIVE_HOSTS else original(self, url)

    monkeypatch.setattr(requests.Session, "get_adapter", get_adapter)
    try:
        yield Drive
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_ttsr_is_fetched_from_the_release_folder_and_its_digest_recorded(drive, tmp_path, capsys):
    out = tmp_path / "weights"
    assert weights_cli.main(["fetch", "ttsr", "--out", str(out)]) == 0
    assert (out / "TTSR.pt").read_bytes() == PAYLOAD
    # the whole Drive flow: the folder listing, the confirmation page, the confirmed download
    assert [p for p, _ in drive.log] == ["/embeddedfolderview", "/uc", "/download"]
    assert (out / RECORD_FILE).read_text() == f"{SHA}  TTSR.pt\n"  # sha256sum format
    assert recorded_sha256(out / "TTSR.pt") == SHA
    assert f"recorded this file's ({SHA})" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [RECORD_FILE, "TTSR.pt"]  # no part / staging file left

    # a later fetch: the file matches its record, no request
    drive.log.clear()
    assert weights_cli.main(["fetch", "TTSR", "--out", str(out)]) == 0
    assert drive.log == []
    # ttsr-rec joins the record; TTSR.pt's line stays
    assert weights_cli.main(["fetch", "ttsr-rec", "--out", str(out)]) == 0
    rec_sha = hashlib.sha256(REC_PAYLOAD).hexdigest()
    assert (out / RECORD_FILE).read_text() == f"{rec_sha}  TTSR-rec.pt\n{SHA}  TTSR.pt\n"
    # `list` finds it and shows the recorded digest
    assert weights_cli.main(["list", "--weights", f"ttsr={out / 'TTSR.pt'}"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("ttsr "))
    assert " found " in line and f"{SHA[:8]}…{SHA[-4:]} (recorded)" in line


def test_a_file_changed_after_its_fetch_is_refused_on_fetch_and_on_use(drive, tmp_path):
    out = tmp_path / "w"
    assert weights_cli.main(["fetch", "ttsr", "--out", str(out)]) == 0
    (out / "TTSR.pt").write_bytes(PAYLOAD[:-1] + b"X")  # one byte changed
    drive.log.clear()
    with pytest.raises(UserError, match=rf"TTSR.pt: sha256 .* differs from the one recorded when it was fetched "
                                        rf"\({SHA[:16]}…, in .*SHA256SUMS\)"):
        weights_cli.main(["fetch", "ttsr", "--out", str(out)])
    assert drive.log == []  # refused before any request
    with pytest.raises(UserError, match="differs from the one recorded"):  # the runner's use of the file
        provenance.weights_record(out / "TTSR.pt", "test")
    # from the shell: exit 2, one line
    result = subprocess.run([sys.executable, "-m", "benchmarks.weights", "fetch", "ttsr", "--out", str(out)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"error: {out / 'TTSR.pt'}: sha256 ")
    # the intact file is accepted again
    (out / "TTSR.pt").write_bytes(PAYLOAD)
    assert provenance.weights_record(out / "TTSR.pt", "test")["sha256"] == SHA


def test_an_interrupted_drive_download_resumes(drive, tmp_path):
    out = tmp_path / "w"
    drive.cut_once.add(FILE_IDS["TTSR.pt"])
    with pytest.raises(UserError, match=r"Google Drive download of TTSR.pt failed .* run the same command again "
                                        r"to resume"):
        weights_cli.main(["fetch", "ttsr", "--out", str(out)])
    parts = list(out.glob("TTSR.pt.drive*.part"))
    kept = parts[0].stat().st_size
    assert len(parts) == 1 and 0 < kept <= Drive.CUT and parts[0].read_bytes() == PAYLOAD[:kept]
    assert not (out / "TTSR.pt").exists() and not (out / RECORD_FILE).exists()
    drive.log.clear()
    assert weights_cli.main(["fetch", "ttsr", "--out", str(out)]) == 0
    assert (out / "TTSR.pt").read_bytes() == PAYLOAD and recorded_sha256(out / "TTSR.pt") == SHA
    assert ("/download", f"bytes={kept}-") in drive.log  # continued from the partial file
    assert not list(out.glob("*.part"))


def test_a_known_sha256_is_checked_and_a_mismatch_leaves_nothing(drive, tmp_path):
    link = f"https://drive.google.com/file/d/{FILE_IDS['TTSR.pt']}/view?usp=sharing"
    assert download_drive(link, tmp_path / "a" / "TTSR.pt", sha256=SHA[:8], progress=False).read_bytes() == PAYLOAD
    assert [p for p, _ in drive.log] == ["/uc", "/download"]  # a file link needs no folder listing
    with pytest.raises(UserError, match=rf"sha256 mismatch for TTSR.pt \(expected {'0' * 64}…, got {SHA}\)"):
        download_drive(link, tmp_path / "b" / "TTSR.pt", sha256="0" * 64, progress=False)
    assert list((tmp_path / "b").iterdir()) == []


def test_a_file_missing_from_the_folder_and_an_unknown_id_are_one_line(drive, tmp_path):
    drive.folders[FOLDER_ID] = [FILE_IDS["TTSR-rec.pt"]]
    with pytest.raises(UserError, match=r"the Google Drive folder holds no TTSR.pt \(it holds TTSR-rec.pt\)"):
        weights_cli.main(["fetch", "ttsr", "--out", str(tmp_path)])
    with pytest.raises(UserError, match=r"Google Drive download of x.pt failed \(.*Not found.*\)"):
        download_drive(f"https://drive.google.com/uc?id=1{'z' * 32}", tmp_path / "x.pt", progress=False)


def test_fetch_without_names_gets_every_fetchable_file_and_goes_on_after_a_failure(drive, tmp_path, monkeypatch,
                                                                                  capsys):
    names = weights_cli.fetchable_names()
    assert {"ttsr", "ttsr-rec", "esrgan", "rrdb-psnr", "msrgan", "imdn", "vgg19"} <= set(names)
    assert not {"rcan", "srntt", "ttsr-base", "bicubic"} & set(names)
    monkeypatch.setattr(weights_cli, "fetchable_names", lambda: ["imdn", "ttsr", "ttsr-rec"])
    fake = registry.WeightsSpec(files=("fake.pth",), source="test", url="http://127.0.0.1:9/nothing")
    monkeypatch.setattr(type(registry.get("imdn")), "weights", fake)  # port 9: nothing listens, fails fast
    with pytest.raises(UserError, match=r"1 of 3 files not fetched \(imdn; reasons above\)"):
        weights_cli.main(["fetch", "--out", str(tmp_path)])
    assert "error: http://127.0.0.1:9/nothing: cannot connect" in capsys.readouterr().err
    assert (tmp_path / "TTSR.pt").read_bytes() == PAYLOAD and (tmp_path / "TTSR-rec.pt").read_bytes() == REC_PAYLOAD


def test_the_readme_main_job_evaluates_the_fetched_ttsr_on_the_demo_set(drive, clean_env, capsys):
    """`python -m benchmarks.weights fetch ttsr` then `python -m benchmarks.run` (the README's main job):
    TTSR is found in ./weights and evaluated on the demo set beside bicubic. The served file is a
    tiny random-weights TTSR (labelled so); its recorded sha256 is the one the run records."""
    import json

    from benchmarks import run
    from tests.fixture_runs import random_ttsr

    served = random_ttsr(clean_env.parent / "served.pt").read_bytes()
    drive.files[FILE_IDS["TTSR.pt"]] = served
    assert weights_cli.main(["fetch", "ttsr"]) == 0
    fetched = clean_env / "weights" / "TTSR.pt"
    assert fetched.read_bytes() == served
    assert run.main(["--limit", "1", "--metrics", "psnr", "ssim"]) == 0
    printed = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in printed
    run_dir = clean_env / "runs" / "default"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    passes = [(p["method"], p["dataset"], p["ref_mode"]) for p in manifest["plan"]["passes"]]
    assert ("ttsr", "demo", "graded") in passes and ("bicubic", "demo", "graded") in passes
    assert manifest["weights"]["ttsr"]["sha256"] == hashlib.sha256(served).hexdigest() == recorded_sha256(fetched)
    assert manifest["weights"]["ttsr"]["path"] == str(fetched.resolve()) and manifest["weights"]["ttsr"]["random"]
    rows = (run_dir / "rows.csv").read_text().splitlines()
    header = rows[0].split(",")
    ttsr_rows = [dict(zip(header, r.split(","))) for r in rows[1:] if r.startswith("ttsr,")]
    assert len(ttsr_rows) == 1 and ttsr_rows[0]["weights_sha256"] == recorded_sha256(fetched)
    assert 5 < float(ttsr_rows[0]["psnr"]) < 60  # a number was computed (random weights: no paper value)
    # the file changed after its fetch: the next run refuses it in one line, before computing
    fetched.write_bytes(served + b"\0")
    assert run.main(["--limit", "1", "--metrics", "psnr", "--out", str(clean_env / "runs" / "again")]) == 2
    assert "differs from the one recorded when it was fetched" in capsys.readouterr().err
