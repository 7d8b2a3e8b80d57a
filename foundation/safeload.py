"""Reading torch files without running code: one reader and one refusal message for every loader.

`load_torch_file` is `torch.load(weights_only=True)` onto the CPU, so a file can hold tensors,
dicts, lists, numbers and strings, and nothing that needs code to rebuild. A file that holds
other pickled Python objects (a model class, argparse.Namespace, NumPy arrays, a payload) is
refused with `refused_pickle_message`: which file, why (pickled objects could run code when
loaded), and how to re-save the weights alone. It never suggests turning the safety off; the
re-save is for the user to run on a file they trust. Other unreadable files are a one-line
`UserError` too. Used by foundation.checkpoints (every method's weights), baselines.srntt.convert (its
.npz reader), foundation.pretrained, training.trainer and the metrics' weight files.
"""
from __future__ import annotations

import os
import pickle
import re
import zipfile
from typing import Any

from foundation.errors import UserError

#: The re-save advice: the weights alone, as a state dict (run where the model object is loaded).
RESAVE_STATE_DICT = "torch.save(model.state_dict(), 'weights.pt')"

_GLOBAL = (re.compile(r"GLOBAL\s+([\w.]+)"), re.compile(r"[Uu]nsupported (?:global|class):?\s+(?!GLOBAL)([\w.]+)"))


def refused_pickle_message(path: str | os.PathLike, found: str | None = None,
                           fix: str = f"if you trust the file, re-save just its weights: {RESAVE_STATE_DICT}") -> str:
    """The one message for a refused file (one line, about 200 characters plus the path).

    `found` names the refused object (e.g. ``argparse.Namespace``); `fix` says how to get a file
    that loads (default: re-save the state dict).
    """
    what = f" ({found})" if found else ""
    return f"{path}: refused: it holds pickled Python objects{what} besides the weights, and loading them could run code; {fix}"


def refused_global(err: BaseException) -> str | None:
    """The `module.name` an unpickler refused, as named in `err`, or None."""
    found = next((m for pattern in _GLOBAL if (m := pattern.search(str(err)))), None)
    return found.group(1) if found else None


def _detail(err: BaseException) -> str:
    """A short, safe reason from a load error: torch's own advice (weights_only=False) is dropped."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = next((line.split("error:", 1)[1].strip() for line in lines if "Unpickler error:" in line), None)
    if reason is None:
        reason = lines[0] if lines else type(err).__name__
    if "weights_only" in reason:
        reason = "not a readable pickle"
    if not reason:
        return type(err).__name__
    return reason if len(reason) <= 120 else reason[:120].rsplit(" ", 1)[0] + " …"


def load_torch_file(path: str | os.PathLike, what: str = "a PyTorch checkpoint",
                    fix: str = "re-download it or check the path") -> Any:
    """`torch.load(path, map_location="cpu", weights_only=True)`, every failure a one-line `UserError`.

    A file holding pickled objects other than tensors and containers raises the
    `refused_pickle_message` (nothing in it is run); any other unreadable file raises
    ``"{path}: not {what} ({reason}); {fix}"``.
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = refused_global(err)
        if found or "Unsupported class" in str(err):  # a pickled object, not a garbled file
            raise UserError(refused_pickle_message(path, found)) from err
        raise UserError(f"{path}: not {what} ({_detail(err)}); {fix}") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError,
            IndexError, KeyError, TypeError, ImportError, MemoryError) as err:
        raise UserError(f"{path}: not {what} ({_detail(err)}); {fix}") from err


def load_mat_file(path: str | os.PathLike, what: str, fix: str, **options: Any) -> dict[str, Any]:
    """`scipy.io.loadmat(path, **options)` (MATLAB v4–v7.2 files: arrays only, no code runs), with
    every failure of the parser on a damaged or foreign file (it raises IndexError, KeyError,
    struct errors, EOFError, … besides its own `MatReadError`) as one line: "PATH: not a readable
    `what` (reason); `fix`". Used by the SRCNN release reader and the MatConvNet VGG19 converter."""
    from scipy.io import loadmat

    try:
        return loadmat(os.fspath(path), **options)
    except MemoryError:
        raise UserError(f"{path}: too large to read as {what}; {fix}") from None
    except Exception as err:  # noqa: BLE001 - a damaged file: the parser's error is the reason, never a crash
        reason = f"{type(err).__name__}: {err}".strip().rstrip(":")
        raise UserError(f"{path}: not a readable {what} ({reason[:160]}); {fix}") from None
