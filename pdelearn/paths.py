"""Output paths: missing parent folders are created, and removed again when the block fails."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .errors import ConfigError

__all__ = ["created_parents"]


@contextlib.contextmanager
def created_parents(path: str | os.PathLike):
    """Create the missing parent folders of ``path`` for the block; remove the ones created if it fails.

    Raises
    ------
    ConfigError
        When a parent exists as a file, or cannot be created.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with created_parents(root / "runs" / "a" / "out"):
    ...     (root / "runs" / "a").is_dir()
    True
    """
    target = Path(path)
    missing = []
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot create {str(target)!r}: {str(parent)!r} is not a folder; choose another path")
    try:
        for folder in reversed(missing):
            folder.mkdir()
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {str(folder)!r} for {str(target)!r} ({exc}); choose another "
                          "path") from None
    try:
        yield target
    except BaseException:
        for folder in missing:  # deepest first
            shutil.rmtree(folder, ignore_errors=True)
        raise
