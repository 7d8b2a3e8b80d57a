"""Reference modes as one axis (benchmarks/datasets/refmodes.py): the alias table, the published
columns, a new mode added in one place, and several references reaching the methods that take them."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks import published
from benchmarks.datasets import DATASETS, load, normalize_ref_mode, refmodes
from benchmarks.datasets.refmodes import RefMode
from foundation.errors import UserError
from foundation.imageio import read_image
from tests.test_datasets import make_cufed5, quiet

#: spelling → (mode name, row label, published column); every alias the suite accepted before stays
ALIASES = {
    **{spelling.format(k=k): (f"L{k}", f"l{k}", f"l{k}") for k in range(1, 6)
       for spelling in ("{k}", "l{k}", "L{k}", "level{k}", "level-{k}", "level_{k}", "ref{k}", "lv{k}", "LV{k}")},
    **{s: ("stitched", "stitched", "stitched") for s in ("stitched", "Stitched", "stitch", "stitched5", "5refs",
                                                          "multi", "concat")},
    "all": ("all", "all", "stitched"), "ALL": ("all", "all", "stitched"),
    **{s: ("random", "random", "random") for s in ("random", "random1", "seeded", "random-seeded", "scene-match")},
    "random-hr": ("random-hr", "random-hr", "random-hr"),
    "graded": ("graded", "graded", "graded"),
    **{s: ("lr", "lr", "lr") for s in ("lr", "LR", "lr-as-ref", "lr_as_ref", "self")},
    **{s: ("none", "none", "*") for s in ("none", "", "sisr", "SISR")},
}


@pytest.mark.parametrize("spelling", sorted(ALIASES))
def test_alias_table(spelling):
    name, label, column = ALIASES[spelling]
    mode = refmodes.get(spelling)
    assert (mode.name, mode.label, mode.column) == (name, label, column)
    assert refmodes.label(spelling) == label and published.normalize_ref_mode(spelling) == column


def test_integer_levels_unknown_spellings_and_the_dataset_declaration():
    assert refmodes.get(3).name == "L3" and normalize_ref_mode("cufed5", 3) == "L3"
    assert refmodes.column_key("Table-X") == "table-x" and refmodes.column_key(None) is None  # a user file's own
    with pytest.raises(UserError, match="unknown ref_mode 'l6'; choose one of L1"):
        refmodes.get("l6")
    with pytest.raises(UserError, match="sun80: unknown ref_mode 'stitch' \\('stitched' is not offered by this set\\); "
                                        "choose one of random, lr, none"):
        normalize_ref_mode("sun80", "stitch")
    for info in DATASETS.values():  # every mode a dataset declares is in the table, its default too
        assert all(refmodes.find(m) is not None for m in info.ref_modes)
        assert info.default_ref_mode in info.ref_modes
    assert {m.name for m in refmodes.MODES.values() if not m.multiple and m.gives != refmodes.NONE} >= {"stitched"}
    assert refmodes.no_ref_modes() == ("lr", "none") and refmodes.get("all").multiple


def test_a_spelling_names_one_mode_only():
    with pytest.raises(ValueError, match="'stitch' already name mode 'stitched'"):
        refmodes.register(RefMode("mine", "clashes", refmodes.MODES["all"].choose, aliases=("stitch",)))
    assert "mine" not in refmodes.MODES


def test_a_new_mode_is_one_entry_plus_the_sets_declaration(tmp_path, monkeypatch):
    """Levels 1 and 2 as a list: no loader code changes, only the table and CUFED5's offered modes."""
    monkeypatch.setattr(refmodes, "MODES", dict(refmodes.MODES))
    refmodes.register(RefMode("first-two", "levels 1 and 2 as a list",
                              lambda item, context: tuple(item.candidates[:2]), gives=refmodes.SEVERAL,
                              aliases=("L1+L2",)))
    info = DATASETS["cufed5"]
    monkeypatch.setitem(DATASETS, "cufed5", dataclasses.replace(info, ref_modes=info.ref_modes + ("first-two",)))
    root = make_cufed5(tmp_path / "CUFED5")
    seq = quiet("cufed5", tmp_path, ref_mode="l1+l2")
    sample = seq[1]
    assert seq.ref_mode == "first-two" and sample.ref_mode == "first-two" and sample.meta["ref_choice"] == [1, 2]
    assert [np.array_equal(r, read_image(root / f"001_{k}.png")) for k, r in zip((1, 2), sample.refs)] == [True] * 2
    assert seq._entries[1].files == tuple(root / f"001_{k}.png" for k in (0, 1, 2))  # HR + refs: its data identity
    with pytest.raises(UserError, match="unknown ref_mode"):
        load("sun80", tmp_path, ref_mode="first-two")  # not declared by Sun80


def test_all_gives_every_level_as_a_list_and_stitched_one_image(tmp_path):
    root = make_cufed5(tmp_path / "CUFED5")
    every, stitched = quiet("cufed5", tmp_path, ref_mode="ALL")[0], quiet("cufed5", tmp_path, ref_mode="stitch")[0]
    assert [r.shape for r in every.refs] == [(20 + 4 * k, 24 + 4 * k, 3) for k in range(1, 6)]
    assert all(np.array_equal(r, read_image(root / f"000_{k}.png")) for k, r in enumerate(every.refs, 1))
    assert len(stitched.refs) == 1 and stitched.refs[0].shape == (2500, 500, 3)
    assert every.ref is None and stitched.ref is stitched.refs[0]
