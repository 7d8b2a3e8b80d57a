"""ttsr-bench from Python: the top layer, above `benchmarks/` (docs/interfaces.md).

    import ttsr_bench
    res = ttsr_bench.evaluate("bicubic", protocol="demo")     # Results: rows, summary, run_dir, status
    res = ttsr_bench.evaluate(my_fn, protocol="demo")         # my_fn(lr, lr_up, ref, ref_down_up) -> sr
    ttsr_bench.load_method("ttsr", weights="TTSR.pt"); ttsr_bench.list_methods()

Everything goes through the same runner, run folder, manifest and report as `python -m benchmarks.run`
(`ttsr_bench.api`: shapes, ranges, devices and errors of each call).
"""
from ttsr_bench.api import (CallableMethod, Results, evaluate, list_datasets, list_methods, list_metrics,
                            list_protocols, load_method)

__all__ = ["CallableMethod", "Results", "evaluate", "list_datasets", "list_methods", "list_metrics",
           "list_protocols", "load_method"]
