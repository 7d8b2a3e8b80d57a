"""Trainer behaviour: config parsing and parameter counts, the missing-VGG message, NaN stop, learning."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from train_helpers import small_config, small_trainer
from foundation.errors import UserError
from training.config import TrainConfig, load_config
from training.trainer import STATE_FILE, NonFiniteLoss

REPO = Path(__file__).resolve().parents[1]
# TTSR's configs (SRNTT's configs: tests/test_srntt_train.py)
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.toml") if load_config(p).method == "ttsr")


def test_every_config_parses_and_prints_its_parameter_count(capsys):
    from benchmarks.train import main

    assert {p.stem for p in CONFIGS} >= {"ttsr", "ttsr-rec", "tiny", "ablation-base", "ablation-ha",
                                         "ablation-ha-sa", "ablation-ha-sa-lte", "ablation-no-csfi",
                                         "ablation-c80", "ablation-c96"}
    counts = {}
    for path in CONFIGS:
        assert main(["--config", str(path), "--dry-run"]) == 0
        line = capsys.readouterr().out.strip()
        assert "M parameters" in line, line
        counts[path.stem] = float(line.split("TTSR ")[1].split("M")[0])
    paper = load_config(REPO / "configs" / "ttsr.toml")
    assert (paper.schedule.init_epochs, paper.schedule.epochs, paper.data.batch_size, paper.data.patch) == (2, 50, 9, 160)
    assert (paper.loss.rec, paper.loss.per, paper.loss.tpl, paper.loss.adv, paper.loss.gan_k) == (1, 1e-2, 1e-2, 1e-3, 2)
    assert (paper.optim.lr, paper.optim.lr_lte, paper.optim.lr_d, paper.optim.betas_d) == (1e-4, 1e-5, 1e-4, [0.0, 0.9])
    rec = load_config(REPO / "configs" / "ttsr-rec.toml")
    assert (rec.schedule.init_epochs, rec.schedule.epochs, rec.loss.per, rec.loss.adv) == (0, 200, 0, 0)
    # CSFI adds parameters, wider models have more, the published model is 6.7M (release keys)
    assert counts["ttsr"] == counts["ttsr-rec"] > counts["ablation-no-csfi"]
    assert counts["ablation-c96"] > counts["ablation-c80"] > counts["ablation-no-csfi"]
    assert 6.5 < counts["ttsr"] < 7.0


def test_config_typos_are_user_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[loss]\nrecc = 1.0\n")
    with pytest.raises(UserError, match="recc"):
        load_config(bad)
    with pytest.raises(UserError, match="amp"):
        TrainConfig.from_dict({"device": {"amp": "fp8"}})


def test_missing_vgg_weights_stop_with_one_line(tmp_path, monkeypatch, capsys):
    from benchmarks.train import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    code = main(["--config", str(REPO / "configs" / "tiny.toml"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "vgg19-dcbb9e9c.pth" in err and "python -m benchmarks.weights fetch vgg19" in err
    assert "--allow-random-vgg" in err
    assert not (tmp_path / "run" / STATE_FILE).exists()


def test_random_vgg_is_recorded_in_the_exported_generator(tmp_path):
    """Test-made weights (random VGG19/LTE): every file the trainer writes is labelled random for the manifest."""
    from foundation.provenance import weights_record
    from ttsr.checkpoint import load_ttsr, save_ttsr

    cfg = small_config(schedule={"init_epochs": 1, "epochs": 0})
    trainer = small_trainer(cfg, tmp_path)
    trainer.validator = lambda predict: {"val_psnr": 20.0}
    trainer.fit()
    model = load_ttsr(tmp_path / "model_last.pt")
    assert model.checkpoint_metadata["allow_random_vgg"] is True and model.checkpoint_metadata["random"] is True
    assert "RANDOM initialisation" in model.checkpoint_metadata["origin"]
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    assert state["metadata"]["allow_random_vgg"] is True
    for name in ("model_last.pt", "model_best.pt", STATE_FILE):
        record = weights_record(tmp_path / name, "--weights")
        assert record["random"] is True and "RANDOM" in record["origin"], name
    # the same network saved as a plain state dict, without metadata: nothing says it is random
    save_ttsr(model, tmp_path / "plain.pt", release_format=True)
    assert weights_record(tmp_path / "plain.pt", "--weights")["random"] is False


def test_a_cli_run_with_random_vgg_says_so_in_its_checkpoints(tmp_path):
    """`benchmarks.train.build(allow_random_vgg=True)` (what --allow-random-vgg runs): the exports' metadata has
    "random": true and an "origin" naming the random VGG19; the manifest labels them random."""
    from foundation.provenance import is_random_label, weights_record
    from benchmarks.train import build

    cfg = small_config(data={"kind": "demo", "repeats": 1}, schedule={"init_epochs": 1, "epochs": 0, "max_steps": 2})
    trainer = build(cfg, allow_random_vgg=True, root=tmp_path, out=tmp_path / "run", device="cpu", progress=False,
                    with_validation=False)
    trainer.fit()
    for name in ("model_last.pt", STATE_FILE):
        record = weights_record(tmp_path / "run" / name, "--weights")
        assert record["random"] is True, name
        assert "random VGG19" in record["metadata"]["origin" if name != STATE_FILE else "random_parts"], record
    exported = torch.load(tmp_path / "run" / "model_last.pt", weights_only=True)["metadata"]
    assert exported["random"] is True and exported["allow_random_vgg"] is True
    assert exported["origin"].startswith("trained by ttsr-bench (ttsr recipe, config test, step 2); RANDOM")
    # what the trainer writes for a run from ImageNet VGG19 is not labelled random
    real = {**exported, "random": False, "allow_random_vgg": False, "vgg19_weights": "imagenet", "random_parts": "",
            "origin": "trained by ttsr-bench (ttsr recipe, config test, step 2)"}
    assert not is_random_label({k: str(v) for k, v in real.items()})


@pytest.mark.parametrize("meta, random", [
    ({}, False),
    ({"origin": "random weights (test)"}, True),
    ({"origin": "converted from the official SRNTT release files"}, False),
    ({"allow_random_vgg": "True"}, True),
    ({"allow_random_vgg": "False"}, False),
    ({"random": "True", "origin": "trained by ttsr-bench"}, True),
    ({"random": "False", "allow_random_vgg": "True", "origin": "trained by ttsr-bench"}, False),
    ({"random": "False", "origin": "trained from random values in the release layout (test-made)"}, True),
    ({"init_origin": "random values in the release layout (test-made, not the official SRNTT weights)"}, True),
    ({"note": "untrained"}, True),
])
def test_is_random_label(meta, random):
    from foundation.provenance import is_random_label

    assert is_random_label(meta) is random


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import training.trainer as trainer_module

    real = trainer_module.reconstruction_loss
    calls = {"n": 0}

    def poisoned(sr, hr, kind="l1"):
        calls["n"] += 1
        value = real(sr, hr, kind)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(trainer_module, "reconstruction_loss", poisoned)
    cfg = small_config(checkpoint={"every": 2})
    trainer = small_trainer(cfg, tmp_path)
    with pytest.raises(NonFiniteLoss, match="at step 3"):
        trainer.fit()
    state = torch.load(tmp_path / STATE_FILE, weights_only=True)
    assert state["position"]["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())


def test_a_short_run_learns(tmp_path):
    """Demo photos, tiny TTSR, reconstruction loss: validation PSNR rises by ≥ 5 dB."""
    from benchmarks.datasets import load
    from benchmarks.train import make_validator

    from types import SimpleNamespace

    demo = load("demo", None)
    images = [s.hr for s in demo]
    cfg = small_config(model={}, schedule={"init_epochs": 0, "epochs": 100, "max_steps": 100},
                       loss={"per": 0.0, "tpl": 0.0, "adv": 0.0}, optim={"lr": 1e-3, "lr_lte": 1e-4},
                       data={"batch_size": 4, "repeats": 8}, checkpoint={"every": 1000}, log={"every": 1})
    cfg.model = {"n_feats": 16, "num_res_blocks": [1, 1, 1, 1]}
    trainer = small_trainer(cfg, tmp_path, images=images)
    # held-in photos, central crops (validation cost stays small); references as the demo set gives them
    crops = [SimpleNamespace(hr=s.hr[48:144, 64:192], ref=s.ref[32:160, 48:208]) for s in (demo[0], demo[1])]
    trainer.validator = make_validator(crops, trainer.device, 4)
    before = trainer.validate()["val_psnr"]
    trainer.fit()
    after = trainer.validate()["val_psnr"]
    rows = [line.split(",") for line in (tmp_path / "log.csv").read_text().splitlines()[1:] if line.startswith("train")]
    rec = [float(r[6]) for r in rows]
    first, last = sum(rec[:10]) / 10, sum(rec[-10:]) / 10
    print(f"val PSNR {before:.2f} -> {after:.2f} dB; rec loss (mean of 10 steps) {first:.4f} -> {last:.4f}")
    assert last < 0.6 * first
    assert math.isfinite(after) and after >= before + 5.0


def test_training_images_too_small_for_the_patch_are_refused(tmp_path):
    """A 3×3 'HR image' enlarged to a 160×160 patch is no HR image: left out with a warning; none left
    is one line."""
    import numpy as np

    from foundation.errors import UserError
    from training.data import SelfReferencePairs

    tiny = np.zeros((3, 3, 3), np.uint8)
    with pytest.raises(UserError, match=r"no training image is large enough: each needs at least 40 px per side "
                                        r"for 160×160 HR patches \(got image 0 \(3×3\)"):
        SelfReferencePairs([tiny], patch=160)
    with pytest.warns(UserWarning, match=r"1 training image\(s\) under 40 px per side left out: image 1 \(3×3\)"):
        pairs = SelfReferencePairs([np.zeros((48, 64, 3), np.uint8), tiny], patch=160)
    assert len(pairs.images) == 1 and min(pairs.images[0].shape[:2]) == 160  # mild enlargement still allowed


def test_recipes_are_found_by_method_and_training_never_imports_the_harness():
    """`training.recipes.RECIPES` finds each method's recipe by the config's `method` (its module
    registers itself); importing the training package and every recipe loads nothing of `benchmarks`."""
    import subprocess
    import sys

    from training.recipes import RECIPES, recipe_for
    from training.srntt_recipe import SRNTTRecipe
    from training.ttsr_recipe import TTSRRecipe

    from training.table1 import SPECS

    assert sorted(RECIPES.names()) == sorted(["srntt", "srntt-rec", "ttsr", *SPECS])  # Table 1's: training.table1
    assert recipe_for(load_config(REPO / "configs" / "tiny.toml")) is TTSRRecipe
    assert recipe_for(load_config(REPO / "configs" / "srntt-rec.toml")) is SRNTTRecipe
    spelled = load_config(REPO / "configs" / "srntt-rec.toml")
    spelled.method = "SRNTT-Rec"  # a config's method in any case: the registered name from here on
    assert recipe_for(spelled) is SRNTTRecipe and spelled.method == "srntt-rec"
    code = ("import sys; from training.recipes import RECIPES; RECIPES.names(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'benchmarks'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
