"""Helpers of the command line (:mod:`pdelearn.cli`) that turn bad paths and unexpected failures into one line.

Imported by the CLI only; nothing in ``pdelearn`` imports the CLI or this module's callers.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["check_out_path", "os_error_line", "existing_run_hint"]

_NAME_MAX, _PATH_MAX = 255, 4096


def _limit(path: Path, name: str, default: int) -> int:
    """``os.pathconf`` of the nearest existing folder above ``path`` (``default`` where unknown)."""
    probe = path
    while not _exists(probe) and probe != probe.parent:
        probe = probe.parent
    try:
        return int(os.pathconf(probe if _exists(probe) else ".", name))
    except (OSError, ValueError, AttributeError):
        return default


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name too long to look up
        return False


def check_out_path(out: str | os.PathLike, what: str = "--out") -> None:
    """Refuse an output path the file system cannot hold (a name or the whole path too long) before any work.

    Raises
    ------
    ConfigError
        Naming the limit, the length received and what to do.
    """
    text = os.fspath(out)
    full = Path(os.path.abspath(text)) if text.strip() else None
    if full is None:
        return  # the empty path is refused by the output-folder checks
    name_max = _limit(full, "PC_NAME_MAX", _NAME_MAX)
    for part in Path(text).parts:
        n = len(os.fsencode(part))
        if n > name_max:
            raise ConfigError(f"{what} has a name of {n} characters ({part[:24]}...); names in a path are limited to "
                              f"{name_max} characters on this file system: choose a shorter {what}")
    n = len(os.fsencode(str(full)))
    path_max = _limit(full, "PC_PATH_MAX", _PATH_MAX)
    if n >= path_max:
        raise ConfigError(f"{what} is a path of {n} characters ({text[:24]}...); paths are limited to {path_max - 1} "
                          f"characters on this file system: choose a shorter {what}")


def os_error_line(exc: OSError) -> str:
    """One line for an :class:`OSError` that reached the CLI: what failed, on which path, and what to do."""
    where = f" on {str(exc.filename)[:120]!r}" if exc.filename is not None else ""
    what = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a path you may write to (e.g. a folder under your home or the current folder)"
    elif exc.errno == errno.ENAMETOOLONG:
        fix = "choose a shorter path (names of at most 255 characters)"
    elif exc.errno == errno.ENOSPC:
        fix = "free some disk space or write elsewhere"
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        fix = "check that the path exists and that its folders are folders"
    else:
        fix = "check the path and its permissions"
    return f"{what}{where}; {fix}"


def existing_run_hint(folder: str | os.PathLike) -> str | None:
    """What an existing output folder of ``pdelearn fit`` holds, for the message that refuses it (None: say nothing).

    A pdelearn run folder with a checkpoint can be resumed; one without (a run stopped before its first
    checkpoint) holds nothing worth keeping, and ``--force`` replaces it.
    """
    from .runfiles import RECIPE, made_by_pdelearn

    path = Path(folder)
    try:
        if not path.is_dir() or not any(path.iterdir()):
            return None
        ours = made_by_pdelearn(path)
        checkpoints = [path / "checkpoint.pt"] if (path / "checkpoint.pt").is_file() else sorted(
            path.glob("*/checkpoint.pt"))
        names = {p.name for p in path.iterdir()}
    except OSError:
        return None
    if ours and checkpoints:
        return (f"output folder {str(folder)!r} holds a pdelearn run with a checkpoint; continue it with: pdelearn fit "
                f"--resume {folder}; or pass --force to replace it, or another --out")
    if ours:
        return (f"output folder {str(folder)!r} is a pdelearn run folder without a checkpoint (its run stopped before "
                "the first one, so there is nothing to resume); pass --force to replace it, or another --out")
    if names <= {RECIPE, "metrics.jsonl"}:
        return (f"output folder {str(folder)!r} holds only {', '.join(sorted(names))}: a pdelearn run folder of an older "
                "version that stopped before its first checkpoint? It carries no marker, so --force will not replace "
                "it: delete it yourself, or pass another --out")
    return None


def describe(value: Any, width: int = 60) -> str:
    """A short ``repr`` for messages."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
