"""Peak memory and time of TTSR's texture search/transfer: dense (the release) vs chunked.

    python -m benchmarks.perf.ttsr_memory [--cases cufed5,urban100,manga109] [--device cpu|cuda]
                                          [--stages stage,full] [--repeat N] [--max-memory BYTES]

Every measurement runs in a fresh child process (random inputs, random weights: memory and time do
not depend on the values). CPU: the child's peak RSS (``os.wait4`` rusage of that child, which
includes Python and torch, ~0.3 GB); CUDA: ``torch.cuda.max_memory_allocated``. ``working`` is the
peak minus the memory held just before the measured call (inputs, weights). The dense version is
run only where its estimated size (from the matrix shapes, §3.2) fits the memory limit; otherwise
the estimate is printed as ``est.``. Stages: ``stage`` = search + transfer alone on LTE-shaped
random features (C = 64/128/256 at 1×, ½×, ¼×), ``full`` = the whole TTSR forward (n_feats=64,
blocks 16/16/8/4) under ``torch.no_grad``, ``srntt`` = SRNTT's texture swap (`baselines.srntt.swap`,
'VALID' patches, averaged paste) on VGG-shaped random features, dense oracle vs bounded (its dense
estimate reuses the TTSR stage's: the same matrix and unfold shapes up to the border patches).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

from benchmarks.perf.child import run_child
from foundation.devices import DEVICE_HELP, device_arg, resolve_device

GiB = 1 << 30
MB = 1e6


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    hr_wh: tuple[int, int]  # HR (= LR↑) width, height before cropping to a multiple of 4
    ref_wh: tuple[int, int] | None  # reference width, height (None: the LR image itself)


CASES = {
    "cufed5": Case("cufed5", "CUFED5, 5 refs stitched", (500, 332), (2500, 500)),
    "urban100": Case("urban100", "Urban100, LR as ref", (1024, 644), None),
    "manga109": Case("manga109", "Manga109, HR page as ref", (827, 1170), (827, 1170)),
}


def geometry(case: Case) -> dict:
    """LR (h, w), search grids and reference size of a case, cropped as the release's test mode."""
    w, h = (case.hr_wh[0] // 4 * 4, case.hr_wh[1] // 4 * 4)
    lh, lw = h // 4, w // 4
    if case.ref_wh is None:  # the LR image is the reference, cropped to a multiple of 4
        rw, rh = case.hr_wh[0] // 4 // 4 * 4, case.hr_wh[1] // 4 // 4 * 4
    else:
        rw, rh = case.ref_wh[0] // 4 * 4, case.ref_wh[1] // 4 * 4
    return {"lr_hw": (lh, lw), "ref_hw": (rh, rw), "q": lh * lw, "r": (rh // 4) * (rw // 4)}


def dense_estimate(case: Case, es: int = 4) -> int:
    """Bytes the dense stage holds at its peak (search: LR and Ref patch matrices + relevance
    matrix, the normalisation copy; transfer: the lv2 and lv1 unfolds of the reference and the
    gathered columns), from the shapes alone."""
    g = geometry(case)
    q, r, k = g["q"], g["r"], 256 * 9
    search = es * (k * q + 2 * k * r + r * q)
    transfer = es * ((128 * 36 + 64 * 144) * r + 64 * 144 * q + 128 * 36 * q)
    return max(search, transfer)


def mem_available() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 16 * GiB


# ----------------------------------------------------------------------------------------- child
def _rss_now() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(spec: dict) -> dict:
    import torch

    from ttsr.search_transfer import SearchTransfer

    device = torch.device(spec["device"])
    case = CASES[spec["case"]]
    g = geometry(case)
    (lh, lw), (rh, rw) = g["lr_hw"], g["ref_hw"]
    torch.manual_seed(0)
    mode, budget = spec["version"], spec.get("max_memory")

    if spec["stage"] == "srntt":  # SRNTT's swap on VGG-shaped features (relu3_1/2_1/1_1)
        from baselines.srntt.swap import swap, swap_dense

        def r(*shape):
            return torch.randn(*shape, device=device)
        content, conditions = r(256, lh, lw), [r(256, rh // 4, rw // 4)]
        styles = [[r(256, rh // 4, rw // 4), r(128, rh // 2, rw // 2), r(64, rh, rw)]]

        def call():
            with torch.no_grad():
                if mode == "dense":
                    return swap_dense(content, conditions, styles)
                return swap(content, conditions, styles, max_memory=budget)
    elif spec["stage"] == "stage":
        def r(*shape):
            return torch.randn(1, *shape, device=device)
        args = (r(256, lh, lw), r(256, rh // 4, rw // 4), r(64, rh, rw), r(128, rh // 2, rw // 2),
                r(256, rh // 4, rw // 4))
        module = SearchTransfer(mode=mode, max_memory=budget)

        def call():
            with torch.no_grad():
                return module(*args)
    else:
        from ttsr.config import TTSRConfig
        from ttsr.lte import LTE
        from ttsr.model import TTSR

        if spec.get("band_rows"):  # the LTE's inference bands over a large reference (`LTE.band_rows`)
            LTE.band_rows = int(spec["band_rows"])
        model = TTSR(TTSRConfig()).to(device).eval()
        model.SearchTransfer.mode = mode
        model.set_max_memory(budget)

        def img(h, w):
            return torch.rand(1, 3, h, w, device=device) * 2 - 1
        args = (img(lh, lw), img(4 * lh, 4 * lw), img(rh, rw), img(rh, rw))

        def call():
            with torch.no_grad():
                return model(*args)

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _rss_now()
    times = []
    for _ in range(spec["repeat"]):
        t0 = time.perf_counter()
        out = call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        del out
    result = {"time": min(times), "before": before}
    if device.type == "cuda":
        result["peak"] = torch.cuda.max_memory_allocated()
    return result


# ---------------------------------------------------------------------------------------- parent
def measure(spec: dict) -> dict:
    """Run one measurement in a fresh process; CPU peak = that child's ru_maxrss (os.wait4)."""
    return run_child("benchmarks.perf.ttsr_memory", spec)


def fmt_bytes(n: float) -> str:
    return f"{n / MB:,.0f} MB" if n < 10 * GiB else f"{n / 1e9:,.1f} GB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="cufed5,urban100,manga109")
    ap.add_argument("--stages", default="stage,full",
                    help="stage (search+transfer alone), full (TTSR forward), srntt (SRNTT's texture swap)")
    ap.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    ap.add_argument("--repeat", type=int, default=1, help="timed calls per measurement (min is shown)")
    ap.add_argument("--max-memory", type=float, default=None,
                    help="chunked working-memory budget in bytes (default: 128 MiB on CPU, half the free GPU memory)")
    ap.add_argument("--small-budget", type=float, default=128 * 2**20,
                    help="also run the search+transfer stage chunked with this budget (0: skip)")
    ap.add_argument("--dense-limit", type=float, default=16 * GiB,
                    help="run dense only when its estimate is below this and 60%% of the available memory")
    ap.add_argument("--lte-band-rows", type=int, default=None,
                    help="rows per LTE inference band over a large reference (stage full; default ttsr.lte.LTE.band_rows)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    import torch

    device = str(resolve_device(args.device))
    if device.startswith("cuda"):
        limit = min(args.dense_limit, 0.8 * torch.cuda.mem_get_info()[0])
    else:
        limit = min(args.dense_limit, 0.6 * mem_available())
    budget = None if args.max_memory is None else int(args.max_memory)
    peak_name = "CUDA max allocated" if device.startswith("cuda") else "peak RSS (child)"
    print(f"# device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"lte band rows={args.lte_band_rows or 'default'} "
          f"chunked budget={'default' if budget is None else fmt_bytes(budget)} dense limit={fmt_bytes(limit)}")
    header = ("case", "LR↑ / Ref", "stage", "version", "time s", peak_name, "working", "peak vs dense")
    rows = []
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        case = CASES[name]
        g = geometry(case)
        size = f"{4 * g['lr_hw'][1]}×{4 * g['lr_hw'][0]} / {g['ref_hw'][1]}×{g['ref_hw'][0]}"
        est = dense_estimate(case)
        for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
            found = {}
            versions = [("dense", None), ("chunked", budget)]
            if stage in ("stage", "srntt") and args.small_budget:
                versions.append(("chunked", int(args.small_budget)))
            for version, vbudget in versions:
                label = f"{case.what}"
                if version == "dense" and est > limit:
                    rows.append((label, size, stage, version, "-", f"est. {fmt_bytes(est)} (not run)", "-", "-"))
                    found[version] = {"peak": est, "estimated": True}
                    continue
                spec = {"case": name, "stage": stage, "version": version, "device": device,
                        "repeat": args.repeat, "max_memory": vbudget, "band_rows": args.lte_band_rows}
                res = measure(spec)
                if "error" in res:
                    rows.append((label, size, stage, version, "-", res["error"], "-", "-"))
                    print("  " + " | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
                    continue
                if version == "chunked":
                    version = ("chunked, budget " + (f"{vbudget / 2**20:.0f} MiB" if vbudget is not None
                               else "default" + (" (128 MiB)" if device == "cpu" else " (½ free)")))
                found.setdefault(version, res)
                ratio = "1.00" if version == "dense" else "-"
                if version.startswith("chunked") and "dense" in found:
                    d = found["dense"]
                    ratio = f"{res['peak'] / d['peak']:.2f}" + (" (vs est.)" if d.get("estimated") else "")
                    if not d.get("estimated"):
                        ratio += f", time {res['time'] / d['time']:.2f}×"
                rows.append((label, size, stage, version, f"{res['time']:.1f}", fmt_bytes(res["peak"]),
                             fmt_bytes(max(0, res["peak"] - res["before"])), ratio))
                print("  " + " | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
