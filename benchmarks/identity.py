"""The identity of a result: everything that determines a row's value, hashed.

A number belongs to the command that printed it (README). Two rows are the same result only when
all of this is the same:

- the **configuration** of the pass (`config_id`): method name, weights sha256 (or `none`), the
  method's options (`Method.options()`: e.g. a TTSR variant's network configuration), protocol,
  dataset, reference mode, the loader's options, the reference seed, degradation and scale, the
  metric settings (Y channel, border crop, rounding), the device type (CPU and CUDA convolutions
  differ in the last bits, which can move a rounded pixel), `PROTOCOL_VERSION`, and for a method
  from a plug-in its `origin` (module, its file's sha256, distribution and version:
  `foundation.registry.Registry.origin`; an edited plug-in is recomputed, not reused);
- the **data** of the image (`data_sha256`): the bytes of its input files (HR, references, given
  LR), or of its decoded arrays for a built-in set that has no files.

Left out on purpose: the memory budget (`--max-memory` only changes how the texture search is
chunked, never its result: tested in tests/test_search_transfer.py), `--limit` (which images, not
their values), `--save-images`, thread counts and timings.

`PROTOCOL_VERSION` is raised whenever the evaluation code changes a number for the same inputs
(degradation, rounding, metric formulas, the PSNR cap); rows of another version are then
recomputed instead of reused.
"""
from __future__ import annotations

import hashlib
import json
from typing import Mapping

import numpy as np

#: raise when the evaluation code changes any number for the same inputs (see the module docstring)
PROTOCOL_VERSION = 2
#: `weights_sha256` of a method that needs no weights file
NO_WEIGHTS = "none"
_ID_LENGTH = 16


def canonical_json(value: object) -> str:
    """A stable text form: sorted keys, no spaces, non-JSON values as their str()."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def pass_config(*, method: str, weights_sha256: str | None, options: Mapping[str, object], evaluation,
                device_type: str, origin: Mapping[str, object] | None = None) -> dict[str, object]:
    """The full configuration of one (method, evaluation) pass: what `config_id` hashes.

    `evaluation` is a `benchmarks.protocols.Evaluation`; `device_type` is "cpu" or "cuda"; `origin`:
    where a plug-in method came from (None for the suite's own methods: no key, ids unchanged);
    its "file" is left out (where the file lies is not what it computes; the manifest records it).
    """
    config = {
        "method": method,
        "weights_sha256": weights_sha256 or NO_WEIGHTS,
        "options": dict(options),
        "protocol": evaluation.protocol,
        "dataset": evaluation.dataset,
        "ref_mode": evaluation.ref_mode,
        "load_options": dict(evaluation.load_options),
        "seed": evaluation.seed,
        "degradation": evaluation.degradation,
        "scale": evaluation.scale,
        "metric_settings": evaluation.metric_settings(),
        "device": device_type,
        "protocol_version": PROTOCOL_VERSION,
    }
    if origin is not None:
        config["origin"] = {key: value for key, value in origin.items() if key != "file"}
    return config


def config_id(config: Mapping[str, object]) -> str:
    """16 hex digits of the sha256 of the configuration's canonical JSON."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:_ID_LENGTH]


def files_digest(paths) -> str:
    """sha256 over the given files' contents, in order (each file's own sha256 and size)."""
    digest = hashlib.sha256()
    for path in paths:
        one = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                one.update(block)
                size += len(block)
        digest.update(f"{one.hexdigest()}:{size};".encode())
    return digest.hexdigest()


def arrays_digest(arrays) -> str:
    """sha256 over arrays (shape, dtype and bytes each), for inputs that have no files."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none;")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def sample_digest(entry) -> str:
    """`data_sha256` of one dataset entry (`benchmarks.datasets.sample.Entry`): its files' bytes,
    or the decoded sample's arrays for an entry without files (the built-in demo set).

    Raises OSError for a file that cannot be read, and whatever `entry.build()` raises (`UserError`).
    """
    if entry.files:
        return files_digest(entry.files)
    sample = entry.build()
    return arrays_digest([sample.hr, sample.lr, *sample.refs])
