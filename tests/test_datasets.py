"""Dataset loaders: every reference mode on small fixture trees with the real names, the real
images in ../shared/data, bad input, and the built-in demo set."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.datasets import (DATASETS, DatasetWarning, Sample, SampleSkipped, find, load,
                                 normalize_ref_mode)
from benchmarks.datasets.refmodes import stitch
from tests.conftest import shared_path
from foundation.errors import UserError
from foundation.imageio import read_image


def img(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray | Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (array if isinstance(array, Image.Image) else Image.fromarray(array)).save(path)
    return path


def make_cufed5(folder: Path, groups=3, sizes=None) -> Path:
    """CUFED5 groups NNN_0..5.png; HR 32×40, ref k is (20+4k)×(24+4k) unless `sizes` says otherwise."""
    sizes = sizes or {}
    for g in range(groups):
        save(folder / f"{g:03d}_0.png", img(g * 10, 32, 40))
        for k in range(1, 6):
            h, w = sizes.get((g, k), (20 + 4 * k, 24 + 4 * k))
            save(folder / f"{g:03d}_{k}.png", img(g * 10 + k, h, w))
    return folder


def make_sun80(folder: Path, names=("abbey_sun_a", "canyon_sun_b", "fountain_sun_c"), refs=6,
               with_matches=True) -> Path:
    for i, name in enumerate(names):
        save(folder / "Sun_Hays_SR_groundtruth" / f"{name}.jpg", img(100 + i, 32, 48))
        if with_matches:
            for j in range(refs):
                save(folder / "Sun_Hays_SR_scenematches" / name / f"match_{j:02d}.jpg", img(200 + 10 * i + j, 36, 44))
    return folder


def make_srf(folder: Path, numbers=(1, 2, 3), scale=4) -> Path:
    for n in numbers:
        hr = img(300 + n, 48, 64)
        save(folder / f"image_SRF_{scale}" / f"img_{n:03d}_SRF_{scale}_HR.png", hr)
        save(folder / f"image_SRF_{scale}" / f"img_{n:03d}_SRF_{scale}_LR.png", img(400 + n, 48 // scale, 64 // scale))
        save(folder / f"image_SRF_{scale}" / f"img_{n:03d}_SRF_{scale}_bicubic.png", hr)  # ignored
    return folder


def quiet(name, root, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        return load(name, root, **options)


# ----------------------------------------------------------------------------- Sample

def test_sample_checks_arrays_and_modes():
    hr = img(0, 16, 16)
    sample = Sample("x", hr, [img(1, 8, 8)])
    assert sample.ref_mode == "given" and sample.ref.shape == (8, 8, 3)
    with pytest.raises(ValueError, match="uint8"):
        Sample("x", hr.astype(np.float32), [])
    with pytest.raises(ValueError, match="no reference"):
        Sample("x", hr, [img(1, 8, 8)], ref_mode="lr")
    assert Sample("x", hr, [], ref_mode="lr").ref is None


# ----------------------------------------------------------------------------- CUFED5

@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_cufed5_single_level(tmp_path, level):
    root = tmp_path / "data"
    make_cufed5(root / "CUFED5")
    seq = quiet("cufed5", root, ref_mode=level)
    assert seq.ref_mode == f"L{level}" and len(seq) == 3 and seq.names == ["000", "001", "002"]
    sample = seq[1]
    assert np.array_equal(sample.hr, img(10, 32, 40))
    assert len(sample.refs) == 1 and np.array_equal(sample.refs[0], img(10 + level, 20 + 4 * level, 24 + 4 * level))
    assert sample.ref_mode == f"L{level}" and sample.meta["ref_choice"] == [level]


def test_cufed5_ref_mode_spellings():
    assert [normalize_ref_mode("cufed5", m) for m in (1, "2", "l3", "L4")] == ["L1", "L2", "L3", "L4"]
    assert normalize_ref_mode("cufed5", "Stitched") == "stitched"
    assert normalize_ref_mode("cufed5") == "L1"
    with pytest.raises(UserError, match="ref_mode"):
        normalize_ref_mode("cufed5", 6)


def test_cufed5_stitched_is_2500x500_with_black_padding(tmp_path):
    root = make_cufed5(tmp_path / "CUFED5", groups=2, sizes={(0, 2): (500, 500), (0, 4): (7, 500)})
    sample = quiet("cufed5", root, ref_mode="stitched")[0]
    (ref,) = sample.refs
    assert ref.shape == (2500, 500, 3) and ref.dtype == np.uint8
    for k in range(1, 6):
        tile = ref[(k - 1) * 500:k * 500]
        original = read_image(root / f"000_{k}.png")
        h, w = original.shape[:2]
        assert np.array_equal(tile[:h, :w], original)
        assert not tile[h:].any() and not tile[:, w:].any()  # black below and to the right
    assert sample.meta["ref_choice"] == [1, 2, 3, 4, 5] and sample.meta["cropped"] == []


@pytest.mark.filterwarnings("ignore:CUFED5 at .* is incomplete")
def test_cufed5_stitched_crops_large_refs_with_warning(tmp_path):
    root = make_cufed5(tmp_path / "CUFED5", groups=1, sizes={(0, 3): (520, 60)})
    with pytest.warns(DatasetWarning, match=r"000_3.png \(60×520\).*cropped top-left"):
        seq = load("cufed5", root, ref_mode="stitched")
    sample = seq[0]
    assert sample.refs[0].shape == (2500, 500, 3)
    assert np.array_equal(sample.refs[0][1000:1500, :60], read_image(root / "000_3.png")[:500])
    assert sample.meta["cropped"] == ["ref 3: 60×520 cropped to 60×500"]


def test_stitch_helper_places_tiles_top_left():
    out, cropped = stitch([np.full((2, 3, 3), 7, np.uint8), np.full((4, 1, 3), 9, np.uint8)], canvas=5)
    assert out.shape == (10, 5, 3) and cropped == []
    assert out[:2, :3].min() == 7 and out[2:5].max() == 0 and out[5:9, :1].min() == 9 and out[5:, 1:].max() == 0


def test_cufed5_all_lr_none(tmp_path):
    root = make_cufed5(tmp_path / "cufed5")  # lower-case folder name, passed directly
    every = quiet("cufed5", root, ref_mode="all")[2]
    assert len(every.refs) == 5 and [r.shape for r in every.refs][0] == (24, 28, 3)
    lr = quiet("cufed5", tmp_path, ref_mode="lr")[0]  # found under the data root, any case
    assert lr.refs == [] and lr.ref_mode == "lr" and lr.lr is None
    assert quiet("cufed5", tmp_path, ref_mode="none")[0].refs == []


def test_cufed5_incomplete_group_warns_and_rest_is_evaluated(tmp_path):
    root = make_cufed5(tmp_path / "CUFED5")
    (root / "001_3.png").unlink()
    with pytest.warns(DatasetWarning, match="group 001 lacks 001_3.png") as record:
        seq = load("cufed5", root, ref_mode="stitched")
    assert len(record) == 1 and "left out for ref_mode 'stitched': 001" in str(record[0].message)
    assert seq.names == ["000", "002"] and "001_3.png" in seq.missing
    assert quiet("cufed5", root, ref_mode=1).names == ["000", "001", "002"]  # L1 does not need _3


def test_cufed5_complete_set_loads_without_warning(tmp_path):
    root = tmp_path / "CUFED5"
    root.mkdir()
    tiny = Image.fromarray(img(0, 12, 12))
    for g in range(126):
        for k in range(6):
            tiny.save(root / f"{g:03d}_{k}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        seq = load("cufed5", root, ref_mode="stitched")
    assert len(seq) == 126 and seq.names[-1] == "125"


# ----------------------------------------------------------------------------- Sun80

def test_sun80_random_is_seeded_repeatable_and_order_independent(tmp_path):
    root = make_sun80(tmp_path / "Sun80", refs=20)
    first = quiet("sun80", tmp_path)
    again = quiet("sun80", tmp_path, seed=0)
    chosen = {s.name: s.meta["ref_paths"][0] for s in first}
    assert chosen == {s.name: s.meta["ref_paths"][0] for s in again}
    subset = quiet("sun80", tmp_path, names=["fountain_sun_c", "abbey_sun_a"])
    assert subset.names == ["fountain_sun_c", "abbey_sun_a"]
    assert {s.name: s.meta["ref_paths"][0] for s in subset} == {k: chosen[k] for k in subset.names}
    assert first.seed == 0 and first[0].meta["seed"] == 0 and first.describe()["seed"] == 0
    other_seeds = [{s.name: s.meta["ref_paths"][0] for s in quiet("sun80", root, seed=seed)} for seed in (1, 2, 3)]
    assert any(choice != chosen for choice in other_seeds)
    sample = first[0]
    assert np.array_equal(sample.refs[0], read_image(sample.meta["ref_paths"][0]))
    assert sample.ref_mode == "random" and sample.meta["candidates"] == 20


def test_sun80_without_scenematches(tmp_path):
    root = make_sun80(tmp_path / "Sun80", with_matches=False)
    with pytest.raises(UserError, match="no scene-match references.*ref_mode='lr'"):
        quiet("sun80", root)
    with pytest.warns(DatasetWarning, match="scene-match references are missing"):
        seq = load("sun80", root, ref_mode="lr")
    assert len(seq) == 3 and seq[0].refs == [] and seq[0].ref_mode == "lr"


def test_sun80_image_without_matches_is_left_out_of_random(tmp_path):
    root = make_sun80(tmp_path / "Sun80")
    for path in (root / "Sun_Hays_SR_scenematches" / "canyon_sun_b").iterdir():
        path.unlink()
    with pytest.warns(DatasetWarning, match="no scene matches for canyon_sun_b"):
        seq = load("sun80", root)
    assert seq.names == ["abbey_sun_a", "fountain_sun_c"]
    assert quiet("sun80", root, ref_mode="none").names == ["abbey_sun_a", "canyon_sun_b", "fountain_sun_c"]


# ----------------------------------------------------------------------------- SISR sets

def test_srf_layout_given_lr_only_in_sisr_mode(tmp_path):
    make_srf(tmp_path / "Set5")
    sisr = quiet("set5", tmp_path)
    assert sisr.ref_mode == "none" and sisr.names == ["img_001", "img_002", "img_003"]
    sample = sisr[0]
    assert np.array_equal(sample.lr, img(401, 12, 16)) and sample.refs == []
    refsr = quiet("set5", tmp_path, ref_mode="lr")[0]
    assert refsr.lr is None and refsr.meta["given_lr_path"].endswith("img_001_SRF_4_LR.png")
    assert quiet("set5", tmp_path, ref_mode="lr", given_lr=True)[0].lr is not None
    assert quiet("set5", tmp_path, given_lr=False)[0].lr is None


def test_hr_plus_lr_bicubic_layout_and_alias(tmp_path):
    folder = tmp_path / "B100"
    for name in ("3096", "8023"):
        save(folder / "HR" / f"{name}.png", img(int(name), 40, 32))
        save(folder / "LR_bicubic" / "X4" / f"{name}x4.png", img(1, 10, 8))
    (folder / "LR_bicubic" / "X4" / "8023x4.png").unlink()
    with pytest.warns(DatasetWarning, match="no given LR for 8023"):
        seq = load("bsd100", tmp_path)
    assert seq.layout == "HR/ + LR_bicubic/X4/" and seq.names == ["3096", "8023"]
    assert seq[0].lr.shape == (10, 8, 3) and seq[1].lr is None


def test_flat_layout_and_urban_manga_defaults(tmp_path):
    for title in ("ARMS", "PLANET7"):
        save(tmp_path / "manga109" / f"{title}.png", img(len(title), 40, 28))
    make_srf(tmp_path / "URBAN100", numbers=(4, 12))
    manga = quiet("manga109", tmp_path)
    assert manga.ref_mode == "lr" and manga.layout == "flat HR folder" and manga[0].lr is None
    urban = quiet("urban100", tmp_path)
    assert urban.ref_mode == "lr" and urban.names == ["img_004", "img_012"]
    assert DATASETS["urban100"].default_ref_mode == "lr" and DATASETS["set14"].default_ref_mode == "none"


def test_random_hr_never_picks_itself_and_is_seeded(tmp_path):
    make_srf(tmp_path / "Urban100", numbers=(1, 2, 3, 4))
    for seed in range(8):
        seq = quiet("urban100", tmp_path, ref_mode="random-hr", seed=seed)
        assert seq.seed == seed
        for sample in seq:
            (ref_path,) = sample.meta["ref_paths"]
            assert f"{sample.name}_SRF" not in ref_path
            assert np.array_equal(sample.refs[0], read_image(ref_path))
    a = quiet("urban100", tmp_path, ref_mode="random-hr", seed=5)
    b = quiet("urban100", tmp_path, ref_mode="random-hr", seed=5, names=["img_003"])
    assert b[0].meta["ref_paths"] == a[2].meta["ref_paths"]


def test_random_hr_needs_two_images(tmp_path):
    make_srf(tmp_path / "Set5", numbers=(1,))
    with pytest.raises(UserError, match="at least two"):
        quiet("set5", tmp_path, ref_mode="random-hr")


def test_incomplete_srf_set_names_missing_images(tmp_path):
    make_srf(tmp_path / "Set5", numbers=(1, 2, 4, 5))
    with pytest.warns(DatasetWarning, match="4 of 5 images; missing img_003") as record:
        seq = load("set5", tmp_path)
    assert len(record) == 1 and len(seq) == 4 and seq.missing == ["img_003"]


def test_given_lr_of_wrong_size_is_an_error_naming_the_file(tmp_path):
    make_srf(tmp_path / "Set5", numbers=(1, 2, 3))
    save(tmp_path / "Set5" / "image_SRF_4" / "img_002_SRF_4_LR.png", img(0, 11, 16))
    save(tmp_path / "Set5" / "image_SRF_4" / "img_003_SRF_4_LR.png", img(0, 24, 32))  # an LR for ×2
    seq = quiet("set5", tmp_path)
    with pytest.raises(UserError, match=r"img_002_SRF_4_LR.png \(16×11\) and .*img_002_SRF_4_HR.png \(64×48\) "
                                        r"are not a ×4 LR/HR pair: the HR must be 64–67 × 44–47"):
        seq[1]
    lenient = quiet("set5", tmp_path, skip_bad=True)
    assert [s.name for s in lenient] == ["img_001"]
    reasons = {item["what"]: item["reason"] for item in lenient.skipped}
    assert set(reasons) == {"set5/img_002", "set5/img_003"}
    assert "img_003_SRF_4_LR.png (32×24)" in reasons["set5/img_003"] and "not a ×4 LR/HR pair" in reasons["set5/img_003"]


# ----------------------------------------------------------------------------- bad input

def test_missing_or_empty_root_and_unknown_names(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load("set5", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty"):
        load("set5", tmp_path / "empty")
    make_srf(tmp_path / "data" / "Set5")
    with pytest.raises(UserError, match="no Set14 folder found.*SelfExSR"):
        load("set14", tmp_path / "data")
    with pytest.raises(UserError, match="unknown dataset"):
        load("div2k", tmp_path / "data")
    with pytest.raises(UserError, match="unknown option"):
        load("set5", tmp_path / "data", ref_level=1)
    with pytest.raises(UserError, match="unknown ref_mode"):
        load("set5", tmp_path / "data", ref_mode="stitched")


def test_corrupt_image_errors_or_is_skipped(tmp_path):
    make_srf(tmp_path / "Set5")
    (tmp_path / "Set5" / "image_SRF_4" / "img_002_SRF_4_HR.png").write_bytes(b"not a png at all")
    with pytest.raises(UserError, match="img_002_SRF_4_HR.png: not a readable image"):
        quiet("set5", tmp_path)
    seq = quiet("set5", tmp_path, skip_bad=True)
    assert seq.names == ["img_001", "img_003"]
    assert seq.skipped[0]["what"] == "set5/img_002" and "img_002_SRF_4_HR.png" in seq.skipped[0]["reason"]
    assert set(seq.skipped[0]) == {"what", "reason", "fix"}


def test_truncated_image_errors_on_read_or_is_skipped(tmp_path):
    root = make_cufed5(tmp_path / "CUFED5")
    save(root / "001_0.png", img(5, 200, 240))
    data = (root / "001_0.png").read_bytes()
    (root / "001_0.png").write_bytes(data[: len(data) // 2])
    seq = quiet("cufed5", root)
    assert len(seq) == 3  # the header is intact; the damage shows when it is read
    with pytest.raises(UserError, match="001_0.png"):
        seq[1]
    lenient = quiet("cufed5", root, skip_bad=True)
    assert [s.name for s in lenient] == ["000", "002"]
    assert [item["what"] for item in lenient.skipped] == ["cufed5/001"]
    with pytest.raises(SampleSkipped):
        lenient[1]
    assert len(lenient.skipped) == 1


def test_grayscale_rgba_16bit_become_rgb_uint8(tmp_path):
    folder = tmp_path / "Set14"
    base = img(9, 24, 20)
    save(folder / "gray.png", Image.fromarray(base[..., 0]))
    save(folder / "rgba.png", Image.fromarray(base).convert("RGBA"))
    save(folder / "sixteen.png", Image.fromarray(base[..., 1].astype(np.uint16) * 257))
    seq = quiet("set14", tmp_path)
    for sample in seq:
        assert sample.hr.dtype == np.uint8 and sample.hr.shape == (24, 20, 3)
    assert np.array_equal(seq[2].hr[..., 0], base[..., 1])


def test_image_too_small_for_scale_is_skipped_with_reason(tmp_path):
    make_srf(tmp_path / "Set5", numbers=(1, 2))
    save(tmp_path / "Set5" / "image_SRF_4" / "img_002_SRF_4_HR.png", img(0, 11, 40))
    seq = quiet("set5", tmp_path)
    assert seq.names == ["img_001"]
    assert seq.skipped[0]["what"] == "set5/img_002" and "too small for ×4" in seq.skipped[0]["reason"]


# ----------------------------------------------------------------------------- demo

def test_demo_is_deterministic_with_graded_references():
    first, second = load("demo", None), load("demo", None)
    assert first.names == ["motorcycle_stereo", "astronaut_warped", "coffee_zoomed", "chelsea_unrelated"]
    for a, b in zip(first, second):
        assert np.array_equal(a.hr, b.hr) and np.array_equal(a.refs[0], b.refs[0])
        assert a.hr.shape == (144, 192, 3) and a.refs[0].shape == (144, 192, 3)
        assert Path(a.meta["hr_source"]["source"]).name in {"motorcycle_left.png", "astronaut.png",
                                                            "coffee.png", "chelsea.png"}
    sims = [s.meta["similarity"] for s in first]
    assert sims == ["high", "high", "medium", "low"]
    # graded: the stereo view is closer to its HR than the unrelated photo is to its HR
    diff = [np.abs(s.hr.astype(int) - s.refs[0].astype(int)).mean() for s in first]
    assert diff[0] < diff[3]


def test_demo_sisr_and_lr_modes():
    for mode in ("none", "lr"):
        seq = load("demo", None, ref_mode=mode)
        assert seq.ref_mode == mode and all(s.refs == [] and s.lr is None for s in seq)
    assert len(load("demo", None, limit=2)) == 2
    with pytest.raises(UserError, match="unknown ref_mode"):
        load("demo", None, ref_mode="stitched")


# ----------------------------------------------------------------------------- ../shared/data

def test_real_set5_set14_urban100_with_given_lr():
    root = shared_path("data")
    for name, count in (("set5", 5), ("set14", 14)):
        seq = load(name, root)
        assert len(seq) == count and seq.layout == "image_SRF_4/*_HR+_LR"
        sample = seq[count - 1]
        assert sample.lr.shape[:2] == (sample.hr.shape[0] // 4, sample.hr.shape[1] // 4)
    gray = load("set14", root)[2]  # img_003 is stored as grayscale
    assert gray.hr.shape == (512, 512, 3) and gray.lr.shape == (128, 128, 3)
    with pytest.warns(DatasetWarning, match="10 of 100 images; missing img_001"):
        urban = load("urban100", root, ref_mode="none")
    assert len(urban) == 10 and urban[0].lr.shape == (170, 256, 3)


def test_real_manga109_flat_and_set5_matlab_layout():
    root = shared_path("data")
    with pytest.warns(DatasetWarning, match="5 of 109"):
        manga = load("manga109", root)
    assert manga.layout == "flat HR folder" and manga.ref_mode == "lr" and manga[0].hr.shape == (1170, 827, 3)
    matlab = load("set5", root / "Set5_matlab")
    assert matlab.names == ["baby", "bird", "butterfly", "head", "woman"] and matlab[0].lr.shape == (128, 128, 3)


def test_real_sun80_groundtruth_only():
    root = shared_path("data")
    with pytest.raises(UserError, match="no scene-match references"):
        quiet("sun80", root)
    seq = quiet("sun80", root, ref_mode="lr")
    assert len(seq) == 5 and seq[0].hr.shape == (800, 1024, 3)


def test_find_on_real_data():
    found = find(shared_path("data"))
    assert set(found) == {"sun80", "urban100", "manga109", "set5", "set14"}
    assert found["set5"].name == "Set5"


def test_sequences_pickle_for_worker_processes(tmp_path):
    import pickle

    make_cufed5(tmp_path / "CUFED5", groups=2)
    for seq in (quiet("cufed5", tmp_path, ref_mode="stitched"), load("demo", None)):
        clone = pickle.loads(pickle.dumps(seq))
        assert clone.names == seq.names and np.array_equal(clone[1].refs[0], seq[1].refs[0])


def test_flat_folder_names_stay_unique(tmp_path):
    save(tmp_path / "Manga109" / "ARMS.png", img(1, 20, 20))
    save(tmp_path / "Manga109" / "ARMS.bmp", img(2, 20, 20))
    save(tmp_path / "Manga109" / "PLANET7.png", img(3, 20, 20))
    assert quiet("manga109", tmp_path).names == ["ARMS.bmp", "ARMS.png", "PLANET7"]


def test_basicsr_gtmod12_layout(tmp_path):
    save(tmp_path / "Set14" / "GTmod12" / "baboon.png", img(1, 48, 60))
    save(tmp_path / "Set14" / "LRbicx4" / "baboon.png", img(2, 12, 15))
    seq = quiet("set14", tmp_path)
    assert seq.layout == "GTmod12/ + LRbicx4/"
    assert seq[0].lr.shape == (12, 15, 3)
