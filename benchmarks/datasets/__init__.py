"""Test sets for the benchmark: one `Sample` record, one loader per set, all registered by name.

`load(name, root, **options)` returns a lazy sequence of `Sample`; `DATASETS` says where each set
is published and how to lay it out; `find(root)` lists the sets present; `load("demo", None)` is
the built-in set that needs no files.
"""
from benchmarks.datasets.registry import (DATASETS, DatasetInfo, check_root, default_root, find,
                                          load, locate, normalize_ref_mode, survey)
from benchmarks.datasets.sample import DatasetWarning, Sample, SampleSequence, SampleSkipped
from benchmarks.datasets.survey import Survey

__all__ = ["DATASETS", "DatasetInfo", "DatasetWarning", "Sample", "SampleSequence",
           "SampleSkipped", "Survey", "check_root", "default_root", "find", "load", "locate",
           "normalize_ref_mode", "survey"]
