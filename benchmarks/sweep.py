"""The trainings a paper table needs, planned, run and found again: `reproduce TABLE --train` (`benchmarks.reproduce`).

Plan (`plan`): one `Training` per row of the table (`benchmarks/published.toml`):
- Tables 2 and 3: the row's `variant` (`ttsr.config.VARIANTS`, the one variant definition) over
  `configs/ttsr-rec.toml` (TTSR-rec: reconstruction loss only, 200 epochs), `[model] variant`;
- Table 1: `ttsr` / `ttsr-rec` from `configs/ttsr.toml` / `configs/ttsr-rec.toml`; the other methods
  from their recipe (`training.table1.config_dict`), when their network is registered; SRNTT needs
  its converted release parts (`--init-from`) and is left to `benchmarks.train` (the plan says so).
Rows that train the same network with the same config and data (Table 3's Base+TT and Table 2's
Base+HA+SA+LTE; Table 3's Base+TT+CSFI and Table 1's TTSR-rec) have one identity: one training,
whichever table's sweep runs it first.

Identity: sha256 over the recipe, the config (without what does not change the weights: name,
`[val]`, `[log]`, `[checkpoint]`, workers, data root, threads), the training data's digest (CUFED:
the names and sizes of `train/input` and `train/ref`; the demo set: its pixels) and
`allow_random_vgg`. The run folder is `<train root>/<name>-<identity[:12]>`; a folder whose
`sweep.json` has the identity and "finished" is not trained again; an interrupted one resumes
exactly (`train_state.pt`).

Run (`run_trainings`), one launcher:
- "local": one after another in this process (the device: `--device`, else CUDA when present);
- "torchrun": each training over the `--gpus` GPUs of this machine (`torchrun --nproc_per_node N -m
  benchmarks.train --config <run>/config.toml --out <run> --resume`);
- "slurm": each training a SLURM job through submitit (`pip install 'ttsr-bench[slurm]'`), `--gpus`
  GPUs per job, `--slurm-partition`, `--slurm-hours`; the command waits for the jobs.

Estimate (`estimate`): the seconds of one step measured on the current device (a warm-up step,
then the mean of `steps` steps of the config's batch on synthetic data), times the run's steps, in
device-hours.

The miniature (`MINIATURE`, `miniature_config`, `write_standin_cufed5`): the same plan with reduced
networks (TTSR n_feats 16, one block per stage; Table 1 `training.table1.REDUCED`), `steps`
steps each on the built-in demo photos with self-references (the reference = another random crop of
the same photo, `training.data.SelfReferencePairs`), evaluated on a stand-in "CUFED5" of four other
photos bundled with scikit-image (rocket, hubble_deep_field, immunohistochemistry, retina): HR = a
160×120 crop, reference level k (1…5) = the same photo cropped 12·k px further right and down
(level 1 most similar). Its numbers are the real pipeline's on tiny models and data, never the paper's.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.train import cufed_pair_folders, find_cufed_train
from foundation.errors import UserError
from foundation.fileio import atomic_write_text

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
DONE_FILE = "sweep.json"
TRAINABLE_TABLES = ("table1", "table2", "table3")
#: config keys that do not change the trained weights (left out of the identity)
NOT_IN_IDENTITY = (("name",), ("val",), ("log",), ("checkpoint",), ("data", "num_workers"), ("data", "root"),
                   ("device", "threads"))
LAUNCHERS = ("local", "torchrun", "slurm")


@dataclass
class Training:
    """One training of a sweep: the rows it serves, its config document, identity and run folder."""

    name: str
    methods: list[str]
    labels: list[str]
    config: dict[str, Any] | None
    identity: str = ""
    out: Path | None = None
    blocked: str = ""  # why it cannot be trained by the sweep ("" when it can)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.out is not None and finished_identity(self.out) == self.identity

    def export(self) -> Path | None:
        """The trained generator (the last export), or None."""
        for name in ("model_last.safetensors", "model_last.pt"):
            if self.out is not None and (self.out / name).is_file():
                return self.out / name
        return None


def finished_identity(out: Path) -> str | None:
    try:
        done = json.loads((out / DONE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return done.get("identity") if done.get("status") == "finished" else None


# ----------------------------------------------------------------------------- configs

def _base(name: str) -> dict[str, Any]:
    from training.config import read_with_bases

    return read_with_bases(CONFIGS / name)


def row_config(table: str, row) -> tuple[dict[str, Any] | None, str]:
    """(config document, "") for a table row, or (None, why it is not trained here)."""
    from training.table1 import SPECS
    from training.table1_recipe import registered

    if table in ("table2", "table3"):
        if row.variant is None:
            return None, "the row names no variant"
        doc = _base("ttsr-rec.toml")
        doc.update(name=row.method, model={"variant": row.variant})
        return doc, ""
    if row.method in ("ttsr", "ttsr-rec"):
        doc = _base(f"{row.method}.toml")
        doc["name"] = row.method
        return doc, ""
    if row.method in ("srntt", "srntt-rec"):
        return None, (f"SRNTT trains from its release's converted parts: python -m benchmarks.train --config "
                      f"configs/{row.method}.toml --init-from FILE (python -m baselines.srntt.convert)")
    if row.method in SPECS:
        if not registered(row.method):
            return None, f"its network is not in the suite yet (recipe training.table1.SPECS[{row.method!r}])"
        if SPECS[row.method].rank:
            return None, (f"its rank-content loss needs the ranker network (mmsr_Ranker_NIQE, as TorchScript): "
                          f"python -m benchmarks.train --config FILE (method = \"{row.method}\") --ranker RANKER.pt")
        from training.table1 import config_dict

        return config_dict(row.method), ""
    return None, "no training recipe"


MINIATURE = {"ttsr_model": {"n_feats": 16, "num_res_blocks": [1, 1, 1, 1]},
             "data": {"kind": "demo", "patch": 48, "batch_size": 4, "repeats": 8, "num_workers": 0},
             "val": {"dataset": "none"}, "checkpoint": {"every": 100}, "log": {"every": 25}}


def miniature_config(doc: dict[str, Any], steps: int) -> dict[str, Any]:
    """The miniature of a config: reduced network, the demo photos with self-references, `steps` steps."""
    from training.table1 import REDUCED, SPECS

    doc = copy.deepcopy(doc)
    if doc.get("method", "ttsr") == "ttsr":
        doc["model"] = {**doc.get("model", {}), **MINIATURE["ttsr_model"]}
    elif doc["method"] in SPECS:
        doc["model"] = {"network": REDUCED.get(doc["method"], {}), "critic_nf": 8}
    doc["data"] = {**doc.get("data", {}), **MINIATURE["data"]}
    schedule = doc.setdefault("schedule", {})
    if schedule.get("init_epochs", 0):  # a GAN recipe's pretraining: a tenth of the steps
        schedule["init_epochs"] = 1
    schedule["max_steps"] = steps
    schedule["epochs"] = max(schedule.get("epochs", 1), steps)
    for key in ("lr_decay_steps",):
        if schedule.get(key):
            schedule[key] = max(1, steps // 2)
    if schedule.get("lr_milestones"):
        schedule["lr_milestones"] = [max(1, steps // 2)]
    if schedule.get("cosine_periods"):
        schedule["cosine_periods"] = [steps]
    doc["val"], doc["checkpoint"], doc["log"] = (dict(MINIATURE[k]) for k in ("val", "checkpoint", "log"))
    doc.setdefault("device", {})["threads"] = 0
    return doc


# ----------------------------------------------------------------------------- identity

def data_digest(doc: dict[str, Any], root: Path | None) -> str:
    """A digest of the training data a config reads (see the module docstring)."""
    digest = hashlib.sha256()
    kind = doc.get("data", {}).get("kind", "cufed")
    digest.update(kind.encode())
    if kind == "demo":
        from benchmarks.datasets import load

        for sample in load("demo", None):
            digest.update(sample.hr.tobytes())
        return digest.hexdigest()
    folders = []
    if kind == "cufed" and root is not None and (found := find_cufed_train(root)) is not None:
        folders = list(cufed_pair_folders(found))
    elif kind == "folder" and root is not None:
        folders = [root / f for f in doc["data"].get("folders", [])]
    for folder in folders:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file():
                digest.update(f"{entry.name}\0{entry.stat().st_size}\n".encode())
    if not folders:
        digest.update(b"(not found)")
    return digest.hexdigest()


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for path in NOT_IN_IDENTITY:
        holder = doc
        for key in path[:-1]:
            holder = holder.get(key, {})
        holder.pop(path[-1], None)
    return doc


def identity(doc: dict[str, Any], data: str, allow_random_vgg: bool) -> str:
    """sha256 of what determines the trained weights: the checked config (defaults filled in, its
    recipe), the data digest and the VGG flag."""
    from training.config import TrainConfig

    checked = TrainConfig.from_dict(copy.deepcopy(doc), source=f"sweep config {doc.get('name')}").to_dict()
    if checked["method"] == "ttsr":  # the network, not the variant's name: Base+TT is Base+HA+SA+LTE
        from ttsr.config import TTSRConfig

        checked["model"] = TTSRConfig.from_dict(checked["model"]).to_dict()
    payload = {"config": _strip(checked), "data": data, "allow_random_vgg": bool(allow_random_vgg),
               "format": "ttsr-bench-sweep/1"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# ----------------------------------------------------------------------------- plan

def plan(table: str, train_root: Path, data_root: Path | None, *, allow_random_vgg: bool = False,
         miniature_steps: int | None = None, methods: list[str] | None = None) -> list[Training]:
    """Every training `table` needs (one per distinct identity), in the table's row order."""
    from benchmarks import published

    if table not in TRAINABLE_TABLES:
        raise UserError(f"--train: {table} has no trained rows (trainable: {', '.join(TRAINABLE_TABLES)})")
    rows = [r for r in published.tables()[table].rows if not methods or r.method in methods]
    if not rows:
        raise UserError(f"--methods {' '.join(methods or [])}: none is a row of {table}")
    out: list[Training] = []
    by_identity: dict[str, Training] = {}
    digests: dict[str, str] = {}
    for row in rows:
        doc, why = row_config(table, row)
        if doc is None:
            out.append(Training(row.method, [row.method], [row.label], None, blocked=why))
            continue
        if miniature_steps is not None:
            doc = miniature_config(doc, miniature_steps)
        kind = doc.get("data", {}).get("kind", "cufed")
        if kind not in digests:
            digests[kind] = data_digest(doc, data_root)
        ident = identity(doc, digests[kind], allow_random_vgg)
        if ident in by_identity:
            by_identity[ident].methods.append(row.method)
            by_identity[ident].labels.append(row.label)
            continue
        training = Training(doc["name"], [row.method], [row.label], doc, ident, run_folder(train_root, doc["name"], ident))
        by_identity[ident] = training
        out.append(training)
    return out


def run_folder(train_root: Path, name: str, ident: str) -> Path:
    """`<train root>/<name>-<identity[:12]>`, or the folder of another table's row with this identity."""
    root = Path(train_root)
    for folder in sorted(root.glob(f"*-{ident[:12]}")) if root.is_dir() else []:
        if finished_identity(folder) == ident or (folder / "train_state.pt").exists():
            return folder
    return root / f"{name}-{ident[:12]}"


def total_steps(doc: dict[str, Any], pairs: int) -> int:
    from training.config import TrainConfig

    cfg = TrainConfig.from_dict(copy.deepcopy(doc))
    steps = (pairs // cfg.data.batch_size) * cfg.total_epochs
    return min(steps, cfg.schedule.max_steps) if cfg.schedule.max_steps else steps


def training_pairs(doc: dict[str, Any], data_root: Path | None) -> int:
    """How many training pairs a config sees: CUFED's count when the set is not here."""
    from training.table1 import CUFED_PAIRS

    kind = doc.get("data", {}).get("kind", "cufed")
    if kind == "demo":
        return 4 * doc["data"].get("repeats", 1)
    if kind == "cufed" and data_root is not None and (found := find_cufed_train(data_root)) is not None:
        return sum(1 for e in os.scandir(cufed_pair_folders(found)[0]) if e.is_file())
    return CUFED_PAIRS


def estimate(training: Training, *, device: str | None, allow_random_vgg: bool, steps: int = 2) -> float:
    """Seconds per step of `training` on `device`, measured (a warm-up step, then `steps` steps)."""
    import numpy as np
    import torch

    from benchmarks.train import build
    from training.config import TrainConfig
    from training.data import RefSRTrainSet, SelfReferencePairs

    cfg = TrainConfig.from_dict(copy.deepcopy(training.config))
    cfg.val.dataset = "none"
    rng = np.random.default_rng(0)
    patch = cfg.data.patch
    images = [rng.integers(0, 256, (patch, patch, 3), dtype=np.uint8) for _ in range(cfg.data.batch_size)]
    data = RefSRTrainSet(SelfReferencePairs(images, patch), patch=patch, scale=cfg.data.scale, seed=0,
                         gan_k=cfg.loss.gan_k)
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        trainer = build(cfg, allow_random_vgg=allow_random_vgg, root=Path(scratch), out=Path(scratch), device=device,
                        progress=False, with_validation=False, dataset=data, options=training.options)
        batch = torch.utils.data.default_collate([data[(0, i)] for i in range(cfg.data.batch_size)])
        phase = "main" if cfg.schedule.epochs > 0 else "init"

        def sync():
            if trainer.device.type == "cuda":
                torch.cuda.synchronize(trainer.device)

        trainer.train_step(batch, phase)
        sync()
        started = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(batch, phase)
        sync()
        return (time.perf_counter() - started) / steps


def describe(training: Training, data_root: Path | None) -> str:
    """One plan line block: name, rows, config summary, identity and folder, or why it is blocked."""
    if training.blocked:
        return f"- {training.name}: NOT TRAINED HERE: {training.blocked}"
    doc = training.config
    model = doc.get("model", {})
    data, sched = doc.get("data", {}), doc.get("schedule", {})
    pairs = training_pairs(doc, data_root)
    status = "finished" if training.finished else ("resumes" if (training.out / "train_state.pt").exists() else "to train")
    return (f"- {training.name} [{status}] rows {', '.join(training.labels)}: method {doc.get('method', 'ttsr')}"
            f"{' ' + json.dumps(model, sort_keys=True) if model else ''}; data {data.get('kind', 'cufed')} "
            f"({pairs} pairs), HR patch {data.get('patch', 160)}, batch {data.get('batch_size', 9)}, "
            f"{total_steps(doc, pairs)} steps (init epochs {sched.get('init_epochs', 0)}); identity "
            f"{training.identity[:12]}; checkpoint {training.out}")


# ----------------------------------------------------------------------------- run

def write_config(training: Training) -> Path:
    import tomli_w

    training.out.mkdir(parents=True, exist_ok=True)
    path = training.out / "config.toml"
    atomic_write_text(path, tomli_w.dumps(training.config))
    return path


def mark_finished(training: Training, step: int) -> None:
    atomic_write_text(training.out / DONE_FILE, json.dumps(
        {"identity": training.identity, "status": "finished", "step": step, "rows": training.methods,
         "config": training.name}, indent=2) + "\n")


def train_one(doc: dict[str, Any], out: str, data_root: str | None, allow_random_vgg: bool,
              device: str | None, progress: bool = True, options: dict | None = None) -> dict:
    """Train (or resume) one config into `out` in this process; the trainer's result."""
    from benchmarks.train import build
    from training.config import TrainConfig

    cfg = TrainConfig.from_dict(copy.deepcopy(doc), source=str(Path(out) / "config.toml"))
    root = Path(data_root) if data_root else Path("data")
    trainer = build(cfg, allow_random_vgg=allow_random_vgg, root=root, out=Path(out), device=device,
                    progress=progress, options=options)
    try:
        return trainer.fit(resume=True)
    finally:
        trainer.dist.close()


def _torchrun(training: Training, config: Path, data_root: Path | None, gpus: int, allow_random_vgg: bool) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "benchmarks.train", "--config", str(config), "--out", str(training.out), "--resume",
               "--no-progress"]
    if data_root is not None:
        command += ["--data-root", str(data_root)]
    if allow_random_vgg:
        command.append("--allow-random-vgg")
    print("  $ " + " ".join(command), flush=True)
    status = subprocess.run(command, check=False).returncode
    if status:
        raise UserError(f"training {training.name} failed under torchrun (exit {status}); its folder "
                        f"{training.out} keeps the last checkpoint: run the sweep again to resume it")


def _state_step(out: Path) -> int:
    import torch

    state = torch.load(out / "train_state.pt", map_location="cpu", weights_only=True)
    return int(state["position"]["step"])


def run_trainings(trainings: list[Training], *, data_root: Path | None, allow_random_vgg: bool,
                  device: str | None, launcher: str = "local", gpus: int = 1, slurm_partition: str | None = None,
                  slurm_hours: float = 72.0, progress: bool = True) -> list[Training]:
    """Train what is not finished; the trainings with an export, in plan order."""
    todo = [t for t in trainings if not t.blocked and not t.finished]
    for t in trainings:
        if not t.blocked and t.finished:
            print(f"sweep: {t.name} already trained ({t.out}, identity {t.identity[:12]}): skipped", flush=True)
    if launcher == "slurm" and todo:
        _run_slurm(todo, data_root, allow_random_vgg, gpus, slurm_partition, slurm_hours)
    for t in todo if launcher != "slurm" else []:
        config = write_config(t)
        print(f"sweep: training {t.name} → {t.out}", flush=True)
        started = time.perf_counter()
        if launcher == "torchrun":
            _torchrun(t, config, data_root, gpus, allow_random_vgg)
            result = {"status": "finished", "step": _state_step(t.out)}
        else:
            result = train_one(t.config, str(t.out), str(data_root) if data_root else None, allow_random_vgg,
                               device, progress, t.options)
        if result["status"] == "finished":
            mark_finished(t, result["step"])
        print(f"sweep: {t.name} {result['status']} at step {result['step']} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    return [t for t in trainings if not t.blocked and t.finished and t.export() is not None]


def _run_slurm(todo: list[Training], data_root, allow_random_vgg, gpus, partition, hours) -> None:
    try:
        import submitit
    except ImportError:
        raise UserError("--launcher slurm needs submitit: pip install 'ttsr-bench[slurm]'") from None
    root = todo[0].out.parent / "slurm"
    executor = submitit.AutoExecutor(folder=str(root / "%j"))
    executor.update_parameters(timeout_min=int(hours * 60), gpus_per_node=gpus, tasks_per_node=1,
                               cpus_per_task=8, name="ttsr-bench-train",
                               **({"slurm_partition": partition} if partition else {}))
    jobs = []
    for t in todo:
        write_config(t)
        jobs.append((t, executor.submit(train_one, t.config, str(t.out), str(data_root) if data_root else None,
                                        allow_random_vgg, None, False, t.options)))
        print(f"sweep: {t.name} submitted as SLURM job {jobs[-1][1].job_id} → {t.out}", flush=True)
    for t, job in jobs:
        result = job.result()  # raises with the job's error
        if result["status"] == "finished":
            mark_finished(t, result["step"])


# ----------------------------------------------------------------------------- the miniature's test set

STANDIN_PHOTOS = ("rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def write_standin_cufed5(folder: Path) -> Path:
    """The miniature's stand-in CUFED5 (module docstring) in `folder`/CUFED5; returns that folder."""
    import numpy as np
    import skimage.data
    from PIL import Image

    target = Path(folder) / "CUFED5"
    target.mkdir(parents=True, exist_ok=True)
    width, height, step = 160, 120, 12
    for number, name in enumerate(STANDIN_PHOTOS):
        photo = np.asarray(getattr(skimage.data, name)())[..., :3]
        scale = 240 / min(photo.shape[:2])  # the shorter side 240 px: room for the five shifted crops
        image = Image.fromarray(photo).resize((round(photo.shape[1] * scale), round(photo.shape[0] * scale)),
                                              Image.BICUBIC)
        array = np.asarray(image)
        top, left = (array.shape[0] - height - 5 * step) // 2, (array.shape[1] - width - 5 * step) // 2
        for level in range(6):
            y, x = max(0, top + level * step), max(0, left + level * step)
            crop = array[y:y + height, x:x + width]
            path = target / f"{number:03d}_{level}.png"
            if not path.exists():
                Image.fromarray(np.ascontiguousarray(crop)).save(path)
    return target
