"""What a run folder records so that it can be reproduced and checked: versions, the command line, recipe changes.

Nothing here imports torch or any other part of pdelearn at module level.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["versions", "command_line", "recipe_changes", "RESUME_MAY_CHANGE"]

_PACKAGES = ("pdelearn", "torch", "numpy", "scipy", "sympy", "pysindy")

#: recipe keys a resumed run may change (run length, time budget and target, logging, device, where files are):
#: anything else must match the recipe the checkpoint was made with
RESUME_MAY_CHANGE = ("description", "device", "training.steps", "training.epochs", "training.max_minutes",
                     "training.target_rel_l2", "training.target_top1", "training.log_every",
                     "training.checkpoint_every", "training.eval_every", "reference.file", "data.root",
                     "data.workers", "data.eval_batch_size", "model.init_from")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on (``pysindy`` only where installed)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def command_line(argv: Sequence[str] | None, program: str = "pdelearn") -> str | None:
    """``pdelearn fit r.yaml --out run`` from the arguments after the program name (None: unknown)."""
    if argv is None:
        return None
    return shlex.join([program, *map(str, argv)])


def recipe_changes(old: Mapping[str, Any], new: Mapping[str, Any], allowed: Iterable[str] = RESUME_MAY_CHANGE,
                   limit: int = 6) -> list[str]:
    """``["model.width (64 -> 128)", ...]``: the keys where ``new`` differs from ``old``, except ``allowed`` ones."""
    allowed = set(allowed)
    out: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k), b.get(k), f"{prefix}{k}.")
            return
        key = prefix[:-1]
        if a != b and key not in allowed:
            out.append(f"{key} ({_short(a)} -> {_short(b)})")

    walk(old, new, "")
    return out[:limit] + ([f"and {len(out) - limit} more"] if len(out) > limit else [])


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
