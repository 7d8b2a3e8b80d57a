"""SRNTT training with the project's trainer (issue 6, "Build", last bullet; baselines.md §1.5).

No official weights here: the frozen content extractor and VGG19 come from release-format files of
random values (`random_release`), converted and labelled random, so every run needs
`allow_random_vgg`. Small patches (32×32 HR), batch 2, one CPU thread.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from baselines.srntt import convert
from srntt_random_release import write_random_release
from benchmarks.train import build, main
from train_helpers import generator_state, synthetic_images
from training.config import TrainConfig, load_config
from training.data import RefSRTrainSet, SelfReferencePairs
from training.trainer import STATE_FILE

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def init_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("srntt_init")
    upscale, texture, vgg = write_random_release(folder / "release", seed=7)
    out = folder / "srntt-random.safetensors"
    assert convert.main(["--upscale", str(upscale), "--texture", str(texture), "--vgg", str(vgg),
                         "--out", str(out)]) == 0
    return out


def tiny_config(**changes) -> TrainConfig:
    cfg = TrainConfig.from_dict({
        "name": "srntt-test", "method": "srntt",
        "data": {"kind": "folder", "patch": 32, "batch_size": 2, "num_workers": 0, "repeats": 2, "seed": 1},
        "schedule": {"init_epochs": 1, "epochs": 1},
        "optim": {"betas_d": [0.9, 0.999]},
        "loss": {"rec": 1.0, "per": 1e-4, "tpl": 1e-4, "adv": 1e-6},
        "val": {"dataset": "none"}, "checkpoint": {"every": 2}, "log": {"every": 1}})
    for section, values in changes.items():
        for key, value in values.items():
            setattr(getattr(cfg, section), key, value)
    return cfg


class SameEveryEpoch(RefSRTrainSet):
    """The epoch-0 samples in every epoch (a fixed batch to overfit)."""

    def __getitem__(self, key):
        return super().__getitem__((0, key[1]))


def tiny_trainer(cfg: TrainConfig, out: Path, init: Path, images=None, fixed: bool = False):
    images = images if images is not None else synthetic_images()
    kind = SameEveryEpoch if fixed else RefSRTrainSet
    dataset = kind(SelfReferencePairs(images, cfg.data.patch, cfg.data.repeats), patch=cfg.data.patch,
                   scale=cfg.data.scale, seed=cfg.data.seed, gan_k=cfg.loss.gan_k)
    return build(cfg, allow_random_vgg=True, root=out, out=out, device="cpu", progress=False,
                 with_validation=False, dataset=dataset, options={"init_from": init})


def train_rows(out: Path) -> list[dict]:
    import csv

    with open(out / "log.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["kind"] == "train"]


def test_steps_are_finite_frozen_parts_stay_and_the_export_loads(init_file, tmp_path):
    from baselines import registry

    out = tmp_path / "run"
    trainer = tiny_trainer(tiny_config(), out, init_file)
    assert trainer.fit()["step"] == 4
    rows = train_rows(out)
    assert [r["phase"] for r in rows] == ["init", "init", "main", "main"]
    for row in rows:
        assert math.isfinite(float(row["loss"])) and math.isfinite(float(row["rec"]))
    for name in ("per", "tex", "adv", "d_loss", "d_gp"):  # every loss of the full phase ran
        assert all(math.isfinite(float(r[name])) for r in rows[2:]), name
    init = load_file(init_file)
    trained = generator_state(out / STATE_FILE)
    frozen = [k for k in trained if k.startswith("network.content_extractor.")]
    assert frozen and all(torch.equal(trained[k], init[k]) for k in frozen)  # BN statistics included
    texture = [k for k in trained if k.startswith("network.texture_transfer.") and k.endswith("head.weight")]
    assert all(not torch.equal(trained[k], init[k]) for k in texture)  # release-initialised, then trained
    exported = out / "model_last.safetensors"
    state = load_file(exported)
    assert all(torch.equal(state[k], init[k]) for k in init if k.startswith("vgg."))
    with safe_open(str(exported), framework="pt") as handle:
        origin = handle.metadata()["origin"]
    assert "trained by ttsr-bench" in origin and "random" in origin
    from foundation.provenance import weights_record

    record = weights_record(exported, "--weights")
    assert record["random"] is True and record["metadata"]["random"] == "True"
    assert "RANDOM initialisation: random content extractor and VGG19" in record["metadata"]["origin"]
    method = registry.get("srntt").load(exported, "cpu")
    lr = torch.rand(1, 3, 8, 8) * 255
    lr_up = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 255)
    ref = torch.rand(1, 3, 32, 32) * 255
    sr = method({"lr": lr, "lr_up": lr_up, "ref": ref, "ref_down_up": ref})
    assert sr.shape == (1, 3, 32, 32) and torch.isfinite(sr).all()


def test_resume_after_a_stop_equals_the_uninterrupted_run(init_file, tmp_path):
    """Stopped at step 5 (mid full-loss epoch: critic, texture and perceptual losses in play) → bitwise equal."""
    cfg = tiny_config(schedule={"epochs": 2})
    assert tiny_trainer(cfg, tmp_path / "full", init_file).fit()["step"] == 6
    assert tiny_trainer(cfg, tmp_path / "part", init_file).fit(stop_after=5)["status"] == "stopped"
    assert tiny_trainer(cfg, tmp_path / "part", init_file).fit(resume=True)["step"] == 6
    a, b = (torch.load(tmp_path / name / STATE_FILE, weights_only=True) for name in ("full", "part"))
    for part in ("generator", "critic"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert [r["step"] for r in train_rows(tmp_path / "part")] == [str(i) for i in range(1, 7)]


def test_content_batch_statistics_option_keeps_the_loaded_statistics(init_file, tmp_path):
    """`content_batch_stats` (the release's is_train=True graph): batch statistics in training, moving ones kept."""
    cfg = tiny_config(schedule={"init_epochs": 1, "epochs": 0}, checkpoint={"every": 100})
    cfg.model = {"content_batch_stats": True}
    trainer = tiny_trainer(cfg, tmp_path / "bn", init_file)
    extractor = trainer.recipe.generator.network.content_extractor
    trainer.generator.train()
    assert extractor.training and trainer.recipe.generator.network.texture_transfer.training
    lr = torch.rand(2, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        batch_features = extractor(lr)[0]
        trainer.generator.eval()
        moving_features = extractor(lr)[0]
    assert not torch.allclose(batch_features, moving_features)
    trainer.fit()
    init, trained = load_file(init_file), generator_state(tmp_path / "bn" / STATE_FILE)
    keys = [k for k in trained if k.startswith("network.content_extractor.") and "num_batches" not in k]
    assert any("running_var" in k for k in keys) and all(torch.equal(trained[k], init[k]) for k in keys)


def test_reconstruction_training_drives_the_loss_down(init_file, tmp_path):
    """SRNTT-rec fitting one fixed batch: the L1 of the last steps is well below that of the first ones."""
    cfg = tiny_config(schedule={"init_epochs": 0, "epochs": 12}, optim={"lr": 1e-3},
                      loss={"per": 0.0, "tpl": 0.0, "adv": 0.0}, data={"repeats": 1}, checkpoint={"every": 100})
    cfg.method = "srntt-rec"
    trainer = tiny_trainer(cfg, tmp_path / "rec", init_file, fixed=True)
    assert trainer.critic is None and trainer.vgg is None
    trainer.fit()
    losses = [float(r["rec"]) for r in train_rows(tmp_path / "rec")]
    print("rec loss per step:", " ".join(f"{v:.3f}" for v in losses))
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_configs_and_command_line(init_file, tmp_path, capsys):
    paper = load_config(REPO / "configs" / "srntt.toml")
    schedule, loss = paper.schedule, paper.loss
    assert (schedule.init_epochs, schedule.epochs, paper.data.batch_size, paper.data.patch) == (5, 50, 9, 160)
    assert (loss.rec, loss.per, loss.tpl, loss.adv, loss.gp_weight) == (1, 1e-4, 1e-4, 1e-6, 10)
    assert (paper.optim.lr, paper.optim.betas[0], paper.loss.rec_type) == (1e-4, 0.9, "l1")
    rec = load_config(REPO / "configs" / "srntt-rec.toml")
    assert (rec.method, rec.loss.per, rec.loss.tpl, rec.loss.adv, rec.schedule.init_epochs) == ("srntt-rec", 0, 0, 0, 0)
    for name in ("srntt", "srntt-rec", "srntt-tiny"):
        assert main(["--config", str(REPO / "configs" / f"{name}.toml"), "--dry-run"]) == 0
        assert "texture transfer 2.865M trained" in capsys.readouterr().out
    # one-line user errors, exit 2
    unknown = tmp_path / "mine.toml"  # (edsr has a recipe now: training.table1)
    unknown.write_text('name = "e"\nmethod = "my-net"\n', encoding="utf-8")
    ttsr = REPO / "configs" / "tiny.toml"
    cases = [
        (main, ["--config", str(unknown), "--dry-run"],
         f"{unknown}: method = 'my-net' has no training recipe (known: "),
        (main, ["--config", str(ttsr), "--dry-run", "--init-from", str(init_file)],
         "--init-from: an option of the srntt recipe, not of"),
        (main, ["--config", str(REPO / "configs" / "srntt-tiny.toml")], "--init-from is required"),
        (main, ["--config", str(REPO / "configs" / "srntt-tiny.toml"), "--init-from", str(init_file)],
         "--allow-random-vgg"),
        (main, ["--config", str(REPO / "configs" / "srntt-tiny.toml"), "--init-from", str(tmp_path / "no.safetensors"),
                "--allow-random-vgg"], "not found"),
    ]
    for entry, argv, expected in cases:
        assert entry(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
