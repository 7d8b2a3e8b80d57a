"""One measurement in a fresh Python process, for the perf scripts (`python -m MODULE --child SPEC`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def run_child(module: str, spec: dict) -> dict:
    """Run ``python -m module --child JSON(spec)``; its last stdout line is a JSON dict.

    Returns that dict with ``peak`` set (if the child did not set it, e.g. to the CUDA max allocated)
    to the child's peak RSS in bytes (``os.wait4`` rusage: the whole process, Python and torch
    included), or ``{"error": "child exited with N"}``.
    """
    cmd = [sys.executable, "-m", module, "--child", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return {"error": f"child exited with {code}"}
    result = json.loads(out.strip().splitlines()[-1])
    result.setdefault("peak", usage.ru_maxrss * 1024)  # kB on Linux
    return result
