"""STORE: what a run writes into its run folder (layout: docs/interfaces.md, "Runs").

- `RunStore`: the folder's lock (`benchmarks.runlock`), `rows.csv` (`results.RowStore`: one row
  appended durably per finished image; under torchrun each rank's part file, merged by rank 0 after
  every pass), and at the end `summary.csv`, `skipped.json` and `manifest.json`, each written
  atomically (`foundation.fileio`). A killed run loses at most the image in flight; the next command
  on the same folder resumes.
- `Skips`: everything that did not run (datasets, weights, metrics, images), one record per thing
  (`what`, `reason`, `fix`), gathered from every rank into rank 0's `skipped.json`.
- `image_path`: where `--save-images` puts an SR image or attention map.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from benchmarks import distributed, results, runlock
from benchmarks import manifest
from foundation.distributed import Dist
from foundation.errors import UserError
from foundation.fileio import atomic_write_text


@dataclass
class Skip:
    """One thing that did not run: `what`, `reason`, `fix` (skipped.json), plus a short form for
    the printed list (`kind` dataset/method/metric/…, `name`, `short`: file and where to get it)."""

    what: str
    reason: str
    fix: str
    kind: str = ""
    name: str = ""
    short: str = ""

    def as_dict(self) -> dict:
        record = {"what": self.what, "reason": self.reason, "fix": self.fix}
        if self.kind:
            record.update(kind=self.kind, name=self.name, short=self.short)
        return record


@dataclass
class Skips:
    """What did not run in one command: the plan's skips (`planned`: datasets, methods), skipped images
    (`images`: dict records) and incomplete test sets (`warnings`: one line each)."""

    planned: list[Skip] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, record: dict) -> None:
        """Record a skipped image once (the first wording of a `what` wins)."""
        if not any(r.get("what") == record.get("what") for r in self.images):
            self.images.append(dict(record))

    def image(self, evaluation, image: str, reason: str, fix: str, method: str = "") -> None:
        """One image of `evaluation` (a `protocols.Evaluation`) not measured (by `method`, when given)."""
        what = f"{evaluation.dataset}/{image}" + (f" ({method})" if method else "")
        self.add({"what": what, "reason": reason, "fix": fix})

    def records(self, unavailable_metrics: dict[str, str], created: str) -> list[dict]:
        """skipped.json: one record per thing skipped, in the first wording found, with `created`."""
        records = [s.as_dict() for s in self.planned]
        for name, reason in unavailable_metrics.items():
            records.append({"what": f"metric {name}", "reason": reason,
                            "fix": "see the reason; the column is left empty until then"})
        for message in self.warnings:
            records.append({"what": message.split(" ", 1)[0] + " (incomplete)", "reason": message,
                            "fix": "complete the set; `python -m benchmarks.data check --data-root DIR` lists what is missing",
                            "kind": "incomplete", "name": message.split(" ", 1)[0], "short": message})
        records.extend(dict(item) for item in self.images)
        unique: list[dict] = []
        for record in records:
            if not any(u.get("what") == record.get("what") for u in unique):
                unique.append(dict(record, created=created))
        return unique

    def gather(self, dist: Dist) -> None:
        """Under torchrun: images another rank skipped go into rank 0's skipped.json too."""
        if not dist.active:
            return
        import torch.distributed as tdist

        mine = [s.as_dict() for s in self.planned] + list(self.images) + [{"warning": w} for w in self.warnings]
        gathered: list = [None] * dist.world_size
        tdist.all_gather_object(gathered, mine)
        if not dist.is_main:
            return
        known = [s.as_dict() for s in self.planned]
        for records in gathered[1:]:
            for record in records or []:
                if "warning" in record:
                    if record["warning"] not in self.warnings:
                        self.warnings.append(record["warning"])
                elif record not in known:
                    self.add(record)


def image_path(out: Path, item, image: str, folder: str = "images", suffix: str = ".png") -> Path:
    """`<out>/images/<dataset>/<method>/<config_id>/<stem>.png` of one image of a pass (`plan.Pass`;
    attention maps likewise under `attention/`): a configuration never overwrites another one's images."""
    evaluation = item.evaluation
    stem = results.image_stem(image, evaluation.dataset, evaluation.ref_mode)
    return Path(out) / folder / evaluation.dataset / item.method / item.config_id / f"{stem}{suffix}"


class RunStore:
    """The rows of one run folder while a command runs (see the module docstring)."""

    def __init__(self, out: Path, dist: Dist, columns: Sequence[str]) -> None:
        self.out = Path(out)
        self.dist = dist
        self.columns = list(columns)
        self.rows: results.RowStore | None = None   # rank 0's rows.csv
        self.part: results.RowStore | None = None   # this rank's part file of the current pass
        self.lock = None
        self.finished: Callable[[results.Key], dict | None] = lambda key: None

    def open(self) -> None:
        """Rank 0 takes the run folder's lock and opens rows.csv; a failure (folder in use, a foreign
        or damaged rows.csv) reaches every rank as the same one-line UserError."""
        rows_path = self.out / results.ROWS_FILE
        failure = None
        if self.dist.is_main:
            try:
                self.lock = runlock.acquire(self.out)
                manifest.check(self.out)
                self.rows = results.RowStore(rows_path, self.columns)
                if self.dist.active or (self.out / distributed.PARTS_DIR).is_dir():
                    distributed.merge_parts(self.out, self.rows)  # rows a killed torchrun run left
                self.finished = self.rows.get
            except UserError as err:  # the folder is in use, or its rows/manifest are foreign or damaged
                failure = str(err)
        failure = self.dist.broadcast(failure)
        if failure is not None:
            self.release()
            raise UserError(failure)
        if not self.dist.is_main:  # other ranks only read rows.csv, to skip finished rows
            rows = {results.row_key(r): r for r in results.read_rows(rows_path)[1]}
            self.finished = rows.get

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def append(self, row: dict) -> None:
        if not self.dist.active:
            self.rows.append(row)
            return
        if self.part is None:
            self.part = results.RowStore(distributed.part_path(self.out, self.dist.rank), self.columns)
        self.part.append(row)

    def sync(self) -> None:
        """After a pass: rank 0 moves the ranks' rows into rows.csv."""
        if not self.dist.active:
            return
        self.dist.barrier()
        if self.dist.is_main:
            distributed.merge_parts(self.out, self.rows)
        self.part = None
        self.dist.barrier()

    def current_rows(self, plan_record: dict, requested: Sequence[str]) -> list[dict]:
        """The rows this command's views show (`results.select_current`), holding only the measures it
        asked for (a reused row may carry others from an earlier command: left empty here)."""
        if self.rows is None:
            return []
        return results.asked_measures(results.select_current(self.rows.rows(), plan_record), requested)

    def finalize(self, order: list[results.Key], plan_record: dict, requested: Sequence[str],
                 skipped: list[dict], write_manifest: Callable[[], None]) -> list[dict] | None:
        """Rank 0: rows.csv made canonical, then the manifest, summary.csv (its `weights` labels come
        from the manifest) and skipped.json; returns the rows the views show (None on other ranks, or
        when the store never opened)."""
        if not self.dist.is_main or self.rows is None:
            return None
        if self.dist.active:
            distributed.merge_parts(self.out, self.rows)
        self.rows.canonicalize(order)
        shown = self.current_rows(plan_record, requested)
        write_manifest()
        results.write_summary(self.out, shown)
        atomic_write_text(self.out / "skipped.json", json.dumps(skipped, indent=2) + "\n")
        return shown
