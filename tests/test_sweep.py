"""`reproduce TABLE --train` (benchmarks.sweep): the plan of each table (variants from ttsr.config.VARIANTS,
Table 1 from the recipes), one training per identity, finished trainings skipped, and an end-to-end
miniature (2 steps) that trains, evaluates and labels its rows."""
from __future__ import annotations

import json

import pytest

from benchmarks import reproduce, sweep
from ttsr.config import VARIANTS


def test_table2_and_table3_plans_come_from_the_variants(tmp_path):
    two = sweep.plan("table2", tmp_path, None)
    assert [t.config["model"]["variant"] for t in two] == ["base", "base+ha", "base+ha+sa", "base+ha+sa+lte"]
    assert all(t.config["loss"]["per"] == 0 and t.config["schedule"]["epochs"] == 200 for t in two)
    three = sweep.plan("table3", tmp_path, None)
    # Base+TT is the network of Table 2's last row; all four are distinct trainings
    assert [t.config["model"]["variant"] for t in three] == ["base+tt", "base+tt+csfi", "base+tt-c80", "base+tt-c96"]
    assert VARIANTS["base+tt"] == VARIANTS["base+ha+sa+lte"]
    assert three[0].identity == two[3].identity  # one network, one config, one data: one training
    one = {t.name: t for t in sweep.plan("table1", tmp_path, None)}
    assert three[1].identity == one["ttsr-rec"].identity  # Base+TT+CSFI is TTSR-rec
    assert len({t.identity for t in two + three}) == 7


def test_identity_ignores_what_does_not_change_the_weights(tmp_path):
    doc = sweep.plan("table2", tmp_path, None)[0].config
    data = sweep.data_digest(doc, None)
    base = sweep.identity(doc, data, False)
    moved = json.loads(json.dumps(doc))
    moved.update(name="other", log={"every": 7}, checkpoint={"every": 3})
    moved["data"]["num_workers"] = 0
    assert sweep.identity(moved, data, False) == base
    changed = json.loads(json.dumps(doc))
    changed["data"]["seed"] = 1
    assert sweep.identity(changed, data, False) != base
    assert sweep.identity(doc, data, True) != base
    assert sweep.identity(doc, "other data", False) != base


def test_table1_plan_trains_registered_methods_and_says_why_not_the_others(tmp_path):
    from training.table1 import SPECS
    from training.table1_recipe import registered

    trainings = {t.name: t for t in sweep.plan("table1", tmp_path, None)}
    assert trainings["ttsr"].config["loss"]["adv"] == 1e-3 and trainings["ttsr-rec"].config["loss"]["adv"] == 0
    assert "init-from" in trainings["srntt"].blocked
    assert "--ranker" in trainings["rsrgan"].blocked  # the sweep has no ranker to give it
    for name, training in trainings.items():
        if name in SPECS:
            assert bool(training.blocked) == (not registered(name) or bool(SPECS[name].rank)), name
            if not training.blocked:
                assert training.config["method"] == name and training.out.name.startswith(name + "-")


def test_dry_run_prints_the_plan_and_trains_nothing(tmp_path, capsys):
    status = reproduce.main(["table2", "--dry-run", "--time-steps", "0", "--runs-dir", str(tmp_path / "runs"),
                             "--reports-dir", str(tmp_path / "reports"), "--data-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert "table2: 4 training(s) planned" in out
    # CUFED absent: its 11,871 pairs, batch 9 → 1319 steps/epoch × 200 epochs
    assert "- ttsr-base [to train] rows Base: method ttsr" in out and "263800 steps" in out
    assert not (tmp_path / "runs" / "train-sweep").exists()


def test_miniature_trains_evaluates_and_skips_finished_trainings(tmp_path, capsys):
    args = ["table2", "--miniature", "--steps", "2", "--methods", "ttsr-base", "--runs-dir", str(tmp_path / "mini"),
            "--reports-dir", str(tmp_path / "mini" / "reports"), "--allow-random-vgg"]
    status = reproduce.main(args)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "sweep: ttsr-base finished at step 2" in out
    assert "trained here (checkpoint metadata: 'trained by ttsr-bench'): MINIATURE" in out
    (folder,) = (tmp_path / "mini" / "train-sweep").iterdir()
    done = json.loads((folder / "sweep.json").read_text())
    assert done["status"] == "finished" and done["step"] == 2 and done["rows"] == ["ttsr-base"]
    from foundation.checkpoints import read_checkpoint

    meta = read_checkpoint(folder / "model_last.pt", tensors=False).metadata
    assert meta["origin"].startswith("trained by ttsr-bench (ttsr recipe, config ttsr-base, step 2)")
    rows = (tmp_path / "mini" / "table2" / "rows.csv").read_text()
    assert "ttsr-base" in rows and "cufed5" in rows
    before = (folder / "train_state.pt").stat().st_mtime_ns
    assert reproduce.main(args) == 0
    out = capsys.readouterr().out
    assert "ttsr-base already trained" in out and "sweep: training" not in out
    assert (folder / "train_state.pt").stat().st_mtime_ns == before


def test_no_trainable_rows_is_one_line(tmp_path):
    from foundation.errors import UserError

    with pytest.raises(UserError, match="--train: table4 has no trained rows"):
        sweep.plan("table4", tmp_path, None)


def test_sweep_and_train_find_the_cufed_training_set_the_same_way(tmp_path):
    """One rule (benchmarks.train.find_cufed_train): `train/input` or `input` under root, CUFED or cufed."""
    from benchmarks.train import cufed_pair_folders, find_cufed_train

    for i in range(3):
        (tmp_path / "CUFED" / "input").mkdir(parents=True, exist_ok=True)
        (tmp_path / "CUFED" / "input" / f"{i}.png").write_bytes(b"x")
    assert find_cufed_train(tmp_path) == tmp_path / "CUFED"
    assert cufed_pair_folders(tmp_path / "CUFED") == (tmp_path / "CUFED" / "input", tmp_path / "CUFED" / "ref")
    assert sweep.training_pairs({"data": {"kind": "cufed"}}, tmp_path) == 3
    assert find_cufed_train(tmp_path / "nowhere") is None
