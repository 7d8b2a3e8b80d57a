"""The results store: append-only rows, torn-line recovery, canonical order, summary, protocols."""
from __future__ import annotations

import json

import pytest

from benchmarks import protocols
from benchmarks import manifest
from benchmarks.results import (BASE_COLUMNS, ROWS_FILE, RowsFileError, RowStore, columns_for, data_key,
                                image_stem, load_frame, read_rows, row_key, select_current, summarize,
                                write_summary)
from foundation.errors import UserError


def _row(image: str, psnr: float, method: str = "bicubic", config: str = "c1", data: str = "d1", **extra) -> dict:
    return {"method": method, "dataset": "demo", "protocol": "demo", "ref_mode": "demo", "image": image,
            "config_id": config, "weights_sha256": "none", "data_sha256": data,
            "psnr": psnr, "ssim": 0.5, "lpips": None, "seconds": 0.01, "peak_mem_mb": 12.0, **extra}


def test_append_reload_and_torn_last_line(tmp_path):
    path = tmp_path / ROWS_FILE
    store = RowStore(path)
    store.append(_row("a", 30.123456789012345))
    store.append(_row("b", 31.0))
    assert path.read_text().splitlines()[0] == ",".join(BASE_COLUMNS)
    # a kill in the middle of a write leaves a line without its newline
    with open(path, "ab") as handle:
        handle.write(b"bicubic,demo,demo,demo,c,c1,none,d1,29.")
    again = RowStore(path)
    assert [r["image"] for r in again.rows()] == ["a", "b"]
    assert float(again.get(("bicubic", "demo", "demo", "demo", "a", "c1", "d1"))["psnr"]) == 30.123456789012345
    assert path.read_bytes().endswith(b"\n")  # the torn tail was cut before appending
    again.append(_row("c", 29.5))
    assert [r["image"] for r in read_rows(path)[1]] == ["a", "b", "c"]
    # a whole line with the wrong number of fields (torn inside a quoted cell) is dropped as well
    with open(path, "ab") as handle:
        handle.write(b"bicubic,demo,demo\n")
    assert len(RowStore(path)) == 3


def test_later_row_wins_and_canonical_order(tmp_path):
    store = RowStore(tmp_path / ROWS_FILE)
    for image in ("b", "a", "c"):
        store.append(_row(image, 1.0))
    store.append(_row("a", 2.0))  # --force recomputed it
    order = [row_key(_row(i, 0)) for i in ("a", "b")]
    store.canonicalize(order)
    columns, rows = read_rows(tmp_path / ROWS_FILE)
    assert [(r["image"], float(r["psnr"])) for r in rows] == [("a", 2.0), ("b", 1.0), ("c", 1.0)]
    assert store.is_done(order[0], ["psnr", "ssim"]) and not store.is_done(order[0], ["lpips"])


def test_extra_columns_and_old_runs_without_them(tmp_path):
    path = tmp_path / ROWS_FILE
    # an old run's file with fewer columns (no lpips, no peak memory)
    path.write_text("method,dataset,protocol,ref_mode,image,psnr,ssim,seconds\n"
                    "bicubic,demo,demo,demo,a,30.0,0.9,0.1\n")
    frame = load_frame(tmp_path)
    assert set(BASE_COLUMNS) <= set(frame.columns) and frame["lpips"].isna().all()
    store = RowStore(path, columns_for(["ms-ssim"]))
    assert "ms-ssim" in store.columns and "lpips" in store.columns
    store.append(_row("b", 31.0, **{"ms-ssim": 0.99}))
    columns, rows = read_rows(path)
    assert rows[0]["ms-ssim"] == "" and rows[1]["ms-ssim"] == "0.99"
    summary = summarize(load_frame(path))
    # the old row has no identity recorded: it is its own configuration ("")
    assert list(summary["config_id"]) == ["", "c1"] and list(summary["images"]) == [1, 1]
    assert list(summary["psnr"]) == [30.0, 31.0]
    write_summary(tmp_path)
    assert (tmp_path / "summary.csv").read_text().startswith(
        "method,dataset,protocol,ref_mode,config_id,weights_sha256,weights,images,psnr")


@pytest.mark.parametrize("content, words", [
    (b"Image,PSNR,SSIM\nbaby,31.2,0.9\n", "lacks the columns method"),
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim,notes\nx,demo,demo,demo,a,30,0.9,hi\n",
     "columns this suite does not write ('notes')"),
    (bytes(range(256)) * 4, "not a rows file"),
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo,demo,demo,a,1e308,0.9\n",
     "line 2: psnr = '1e308' is not a number in [0, 100]"),
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo,demo,demo,a,-inf,0.9\n", "psnr = '-inf'"),
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo,demo,demo,a,30,inf\n", "ssim = 'inf'"),
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo,demo,demo,a,30,2.5\n", "ssim = '2.5'"),
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo,demo,demo,a,thirty,0.5\n", "psnr = 'thirty'"),
    # a damaged line in the middle (not a torn last line): never truncated away
    (b"method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo\nx,demo,demo,demo,b,30,0.5\n",
     "line 2: not a row of this file (2 fields, the header has 7)"),
])
def test_foreign_or_damaged_rows_files_are_refused_untouched(tmp_path, content, words):
    path = tmp_path / ROWS_FILE
    path.write_bytes(content)
    for action in (lambda: RowStore(path), lambda: read_rows(path), lambda: load_frame(tmp_path)):
        with pytest.raises(RowsFileError) as caught:
            action()
        message = str(caught.value)
        assert words in message and str(path) in message and "\n" not in message
    assert path.read_bytes() == content  # nothing rewritten, merged or truncated


def test_psnr_of_an_exact_reproduction_reads_as_the_cap(tmp_path):
    """Rows written before PSNR was capped hold inf for identical images: read as 100 dB everywhere."""
    from metrics import PSNR_MAX_DB

    path = tmp_path / ROWS_FILE
    path.write_text("method,dataset,protocol,ref_mode,image,psnr,ssim\nx,demo,demo,demo,a,inf,1.0\n"
                    "x,demo,demo,demo,b,30.0,0.9\n")
    frame = load_frame(tmp_path)
    assert list(frame["psnr"]) == [PSNR_MAX_DB, 30.0] and PSNR_MAX_DB == 100.0
    assert summarize(frame).loc[0, "psnr"] == 65.0


def test_current_rows_follow_the_latest_plan(tmp_path):
    """A run folder shows the rows its latest command asked for: configuration and data exact."""
    store = RowStore(tmp_path / ROWS_FILE)
    store.append(_row("a", 20.0, config="A"))
    store.append(_row("b", 21.0, config="A"))
    store.append(_row("a", 30.0, config="B"))
    store.append(_row("a", 31.0, config="B", data="d2"))  # the same image after its file changed
    store.append(_row("a", 40.0, method="other", config="C"))
    plan = lambda config, data: {"passes": [{"method": "bicubic", "dataset": "demo", "protocol": "demo",  # noqa: E731
                                             "ref_mode": "demo", "config_id": config}],
                                 "data": {data_key("demo", "demo", "demo"): data}}
    pick = lambda p: [(r["image"], float(r["psnr"])) for r in select_current(store.rows(), p)]  # noqa: E731
    assert pick(plan("A", {"a": "d1", "b": "d1"})) == [("a", 20.0), ("b", 21.0)]
    assert pick(plan("B", {"a": "d1", "b": "d1"})) == [("a", 30.0)]  # b not measured under B
    assert pick(plan("B", {"a": "d2"})) == [("a", 31.0)]
    assert pick(plan("A", {"a": "d2"})) == []  # A never saw the new data
    assert len(select_current(store.rows(), None)) == 5  # a folder without a plan: every row


def test_protocols_are_data():
    table1 = protocols.get("table1")
    assert [(e.dataset, e.ref_mode) for e in table1.evaluations] == [
        ("cufed5", "stitched"), ("sun80", "random"), ("urban100", "lr"), ("manga109", "lr"),
        ("cufed5", "l1")]
    assert all(e.crop_border == 0 and e.y_channel and not e.round_y for e in table1.evaluations)
    assert table1.evaluations[1].seed == 0 and table1.evaluations[1].load_options["seed"] == 0
    sisr = protocols.get("sisr")
    assert all(e.crop_border == e.scale == 4 and e.degradation == "sisr" and e.kinds == ("sisr",)
               for e in sisr.evaluations)
    table4 = protocols.get("table4")
    assert [e.ref_mode for e in table4.evaluations] == [f"l{k}" for k in range(1, 6)] + ["lr"]
    assert all(e.kinds == ("refsr",) for e in table4.evaluations)
    with pytest.raises(UserError, match="table1"):
        protocols.get("table9")
    assert image_stem("000", "cufed5", "stitched") == "000"
    assert image_stem("000", "cufed5", "l3") == "000@l3"


def test_manifest_labels_random_weights(tmp_path):
    torch = pytest.importorskip("torch")
    ckpt = tmp_path / "w.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "metadata": {"origin": "random weights (test)"}}, ckpt)
    record = manifest.weights_record(ckpt, "--weights")
    assert record["random"] and "RANDOM" in record["origin"] and len(record["sha256"]) == 64
    plain = tmp_path / "p.pt"
    torch.save({"w": torch.zeros(2)}, plain)
    assert not manifest.weights_record(plain, "./weights")["random"]
    data = manifest.build(argv=["x"], protocol={"name": "demo"}, device="cpu", seeds={"torch": 0},
                          weights={"ttsr": record}, metrics={}, peak_memory="rss", world_size=1,
                          data_root=None)
    manifest.write(tmp_path, data)
    manifest.write(tmp_path, {**data, "created": "later"})
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["random_weights"] == ["ttsr"] and len(saved["invocations"]) == 2
    assert saved["versions"]["torch"]


def test_weights_label_says_what_the_weights_are():
    from benchmarks.results import weights_label

    assert weights_label({"random": True, "sha256": "ab", "published": True}) == "RANDOM"
    assert weights_label({"user_method": True, "sha256": None}) == "user"
    assert weights_label({"found_in": "--sr", "sha256": "cd"}) == "user"
    assert weights_label({"sha256": "ab", "published": True}) == "published"
    assert weights_label({"sha256": "ab", "published": False}) == "unverified"
    assert weights_label({"sha256": "ab", "published": None}) == "unverified"
    assert weights_label({"sha256": None}) == weights_label(None) == "none"
