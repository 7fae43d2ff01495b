"""Run-folder input and output shared by every command and problem type.

Atomic writes (a temporary sibling renamed into place), the JSON conversion of numpy values, the
equation files (``equation.json`` / ``equation.tex``), the atomic output folder and the device
choice. Nothing here imports torch at module level, and nothing imports the CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["RECIPE", "SUMMARY", "output_folder", "created_parents", "missing_parents", "write_json", "read_json", "jsonable", "write_equation", "latex_document",
           "select_device", "device_name"]

RECIPE = "recipe.yaml"
SUMMARY = "summary.json"


def jsonable(value: Any) -> Any:
    """``json.dumps(default=...)`` hook: numpy scalars and arrays to Python, anything else to ``str``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return str(value)


def write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> None:
    """Write ``data`` as JSON atomically (temporary file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=indent, default=jsonable) + "\n")
    os.replace(tmp, path)


def read_json(path: str | os.PathLike, name: str, missing: str) -> Any:
    """The JSON of ``path`` (a file, or a folder holding ``name``); :class:`DataError` when it is absent
    (``missing`` says how to make it) or not valid JSON."""
    file = Path(path)
    if file.is_dir():
        file = file / name
    if not file.is_file():
        raise DataError(f"{str(file)!r} does not exist; {missing}")
    try:
        return json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(file)!r} is not valid JSON ({exc}); was it written by pdelearn?") from None


def latex_document(equation: Any) -> str:
    """The body of ``equation.tex``: display math (an ``equation`` environment for systems)."""
    body = equation.latex()
    return ("\\begin{equation}\n" + body + "\n\\end{equation}\n") if "aligned" in body else f"\\[ {body} \\]\n"


def write_equation(folder: str | os.PathLike, equation: Any, extra: Mapping[str, Any] | None = None) -> None:
    """``equation.json`` (``equation.to_dict()`` with ``extra`` merged in) and ``equation.tex``."""
    folder = Path(folder)
    data = equation.to_dict()
    if extra:
        data.update(extra)
    write_json(folder / "equation.json", data)
    (folder / "equation.tex").write_text(latex_document(equation))


def missing_parents(path: str | os.PathLike) -> list[Path]:
    """The parent folders of ``path`` that do not exist yet, deepest first."""
    missing = []
    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    return missing


@contextlib.contextmanager
def created_parents(path: str | os.PathLike) -> Iterator[Path]:
    """Create the missing parent folders of ``path`` for the block; remove the ones created if it fails.

    Raises
    ------
    ConfigError
        When a parent exists as a file, or cannot be created.
    """
    target = Path(path)
    missing = missing_parents(target)
    parent = missing[-1].parent if missing else target.parent
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


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only if the block succeeds.

    Missing parent folders are created (and removed again if the block fails). An existing,
    non-empty ``path`` is an error unless ``force``.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise ConfigError(f"output folder {str(target)!r} already exists and is not empty; pass --force or another --out")
    parent = target.parent if str(target.parent) else Path(".")
    with created_parents(target):
        yield from _replace_folder(target, parent)


def _replace_folder(target: Path, parent: Path) -> Iterator[Path]:
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write to {str(parent)!r}; choose a writable --out")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; a run folder gets the usual permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    tmp.rename(target)


def select_device(name: str):
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without CUDA is a :class:`ConfigError`."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was requested but CUDA is not available to torch "
                          "(torch.cuda.is_available() is False); use --device cpu or --device auto")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, received {name!r}")
    return torch.device(name)


def device_name(device) -> str:
    """``"cpu"`` or ``"cuda (<GPU name>)"``."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"
