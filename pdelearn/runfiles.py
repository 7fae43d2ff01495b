"""Files: the one way pdelearn writes a file, and the run-folder rules shared by every command and problem type.

:class:`AtomicFile` / :func:`atomic_write` (a new temporary sibling renamed into place) write every file the tool
writes: JSON, text, ``.npz``, PNG, ``torch.save``. Also the JSON conversion of numpy values, the equation files
(``equation.json`` / ``equation.tex``), the atomic output folder, the ``--force`` rules and the device choice.
A low layer (docs/architecture.md): it imports only ``errors`` and ``limits``; nothing imports torch at module level.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import ConfigError, DataError
from .limits import MAX_JSON_BYTES

__all__ = ["RECIPE", "SUMMARY", "MARKER", "output_folder", "check_replaceable", "made_by_pdelearn", "foreign_files",
           "WRITTEN_PATTERNS", "replaceable_file", "NPZ_MARKER", "npz_made_by_pdelearn", "created_parents",
           "missing_parents", "AtomicFile", "atomic_write", "write_json", "write_text", "write_npz", "save_npz",
           "read_json", "jsonable", "write_equation", "latex_document", "select_device", "device_name"]

RECIPE = "recipe.yaml"
SUMMARY = "summary.json"


def jsonable(value: Any) -> Any:
    """``json.dumps(default=...)`` hook: numpy scalars and arrays to Python, anything else to ``str``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return str(value)


class AtomicFile:
    """The one way pdelearn writes a file: into a new temporary sibling, renamed over ``path`` when the block succeeds.

    The temporary file (``.<name>.<random>.tmp``, permissions as for any new file) is created on construction, with
    ``O_EXCL``: never through a symbolic link, and an unwritable folder fails before any work. The rename replaces
    a link at ``path`` instead of writing through it. If the block raises, the temporary file is removed and
    ``path`` is left as it was. The block receives the file open for binary reading and writing::

        with AtomicFile(folder / "data.npz") as fh:
            np.savez(fh, u=u)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        for _ in range(100):
            self.tmp = self.path.with_name(f".{self.path.name[:40]}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 random names taken
            raise FileExistsError(f"no free temporary name beside {str(self.path)!r}")
        self.file: BinaryIO = os.fdopen(fd, "w+b")

    def __enter__(self) -> BinaryIO:
        return self.file

    def __exit__(self, kind, exc, tb) -> None:
        try:
            self.file.close()
            if kind is None:
                os.replace(self.tmp, self.path)
                return
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        self.tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Write ``path`` by ``write(fh)`` on an :class:`AtomicFile` (e.g. ``lambda fh: torch.save(state, fh)``)."""
    with AtomicFile(path) as fh:
        write(fh)


def write_json(path: str | os.PathLike, data: Any, indent: int = 2, default: Callable[[Any], Any] = jsonable) -> None:
    """Write ``data`` as JSON atomically (``default`` converts what JSON lacks: :func:`jsonable`)."""
    write_text(path, json.dumps(data, indent=indent, default=default) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically (UTF-8)."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def write_npz(path: str | os.PathLike, arrays: Mapping[str, Any], compressed: bool = False,
              comment: bytes | None = None) -> None:
    """Write ``arrays`` as an ``.npz`` atomically; ``comment`` becomes the zip comment (see :data:`NPZ_MARKER`)."""
    atomic_write(path, lambda fh: save_npz(fh, arrays, compressed, comment))


def save_npz(fh: BinaryIO, arrays: Mapping[str, Any], compressed: bool = False, comment: bytes | None = None) -> None:
    """Save ``arrays`` into the open file ``fh`` of an :class:`AtomicFile` (what :func:`write_npz` writes)."""
    (np.savez_compressed if compressed else np.savez)(fh, **arrays)
    if comment is not None:
        import zipfile

        fh.seek(0)
        with zipfile.ZipFile(fh, "a") as archive:
            archive.comment = comment


def read_json(path: str | os.PathLike, name: str, missing: str) -> Any:
    """The JSON of ``path`` (a file, or a folder holding ``name``); :class:`DataError` when it is absent
    (``missing`` says how to make it) or not valid JSON."""
    file = Path(path)
    if file.is_dir():
        file = file / name
    if not file.is_file():
        raise DataError(f"{str(file)!r} does not exist; {missing}")
    MAX_JSON_BYTES.check(file.stat().st_size, f"{str(file)!r}")
    try:
        return json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(file)!r} is not valid JSON ({exc}); was it written by pdelearn?") from None
    except (RecursionError, ValueError, MemoryError) as exc:  # nested too deep, a number of thousands of digits
        why = str(exc).splitlines()[0][:100] if str(exc) else ""
        raise DataError(f"{str(file)!r} is JSON pdelearn cannot read ({type(exc).__name__}{': ' + why if why else ''}"
                        "); was it edited? Write it again with pdelearn") from None


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
    write_text(folder / "equation.tex", latex_document(equation))


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


MARKER = ".pdelearn-run"
"""The file pdelearn writes into every output folder it makes; ``--force`` replaces only folders holding it."""


def _resolved(path: Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path)))


def check_replaceable(target: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = (),
                      what: str = "--out") -> Path:
    """Refuse an output path that must never be replaced; return it as given.

    Refused (:class:`ConfigError`) whatever ``force`` says: the empty string, the current folder or any
    folder above it, the file-system root, a symbolic link, and a folder that is or holds one of
    ``inputs`` (or a file that is one of them).
    """
    text = os.fspath(target)
    if not text.strip():
        raise ConfigError(f"{what} is empty (an unset shell variable?); pass the path of a new folder, e.g. "
                          f"{what} runs/my-run")
    path = Path(text)
    full = _resolved(path)
    real = Path(os.path.realpath(full))
    cwd = Path(os.path.realpath(os.getcwd()))
    if real == cwd or real in cwd.parents or full.parent == full:
        raise ConfigError(f"{what} {text!r} is the current folder or a folder above it; pdelearn writes its results "
                          f"into a new folder: pass one, e.g. {what} runs/my-run")
    if path.is_symlink():
        raise ConfigError(f"{what} {text!r} is a symbolic link; pass the folder itself or a new path")
    for given in inputs:
        source = Path(os.path.realpath(_resolved(Path(given))))
        if source == real or real in source.parents:
            raise ConfigError(f"{what} {text!r} holds the input {str(given)!r}; write the results to a new folder "
                              "elsewhere (pdelearn never replaces its own inputs)")
    return path


#: The kinds of file pdelearn writes into its folders; ``--force`` keeps a folder holding anything else.
WRITTEN_PATTERNS = ("*.json", "*.jsonl", "*.tex", "*.png", "*.pt", "*.npz", "*.yaml", MARKER, ".*.tmp")


def foreign_files(folder: str | os.PathLike, depth: int = 3) -> list[str]:
    """Entries below ``folder`` (``depth`` levels) that pdelearn does not write (:data:`WRITTEN_PATTERNS`): files
    a user added to a run folder, such as notes, which ``--force`` must not delete."""
    import fnmatch

    out: list[str] = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
            out.append(entry.name)
        elif entry.is_dir():
            inner = foreign_files(entry, depth - 1) if depth > 1 else [entry.name]
            out += [f"{entry.name}/{name}" for name in inner]
        elif not any(fnmatch.fnmatch(entry.name, pattern) for pattern in WRITTEN_PATTERNS):
            out.append(entry.name)
    return out


def made_by_pdelearn(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a folder pdelearn made (it holds :data:`MARKER`)."""
    folder = Path(folder)
    return folder.is_dir() and not folder.is_symlink() and (folder / MARKER).is_file()


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, force: bool = False,
                  inputs: Sequence[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only if the block succeeds.

    Missing parent folders are created (and removed again if the block fails). ``path`` must be new,
    an empty folder, or (with ``force``) a folder pdelearn made earlier (:func:`made_by_pdelearn`);
    anything else is a :class:`ConfigError`, as are the paths :func:`check_replaceable` refuses.
    The new folder holds :data:`MARKER`.
    """
    target = check_replaceable(path, inputs=inputs)
    refusal = _refusal(target, str(path), force)
    if refusal:
        raise ConfigError(refusal)
    parent = target.parent if str(target.parent) else Path(".")
    with created_parents(target):
        yield from _replace_folder(target, parent)


def _refusal(target: Path, name: str, force: bool) -> str | None:
    """Why the existing ``target`` may not be replaced (None: it is new, an empty folder, or with ``force`` a folder
    pdelearn made that holds only kinds of file pdelearn writes). Checked before the run and again before the
    rename, so a folder something else made meanwhile is left alone."""
    if not target.exists() or (target.is_dir() and not target.is_symlink() and not any(target.iterdir())):
        return None
    if not target.is_dir() or target.is_symlink():
        return (f"output folder {name!r} exists as a file or link; pdelearn does not replace what it did not write: "
                "pass another --out")
    if not made_by_pdelearn(target):
        return (f"output folder {name!r} already exists, is not empty and was not made by pdelearn (no {MARKER} "
                "file); --force only replaces folders pdelearn made: pass another --out")
    if not force:
        return (f"output folder {name!r} already exists (an earlier pdelearn run); pass --force to replace it, or "
                "another --out")
    added = foreign_files(target)
    if added:
        shown = ", ".join(added[:3]) + (f" and {len(added) - 3} more" if len(added) > 3 else "")
        return (f"output folder {name!r} is an earlier pdelearn run, but it also holds files pdelearn does not write "
                f"({shown}); --force will not delete them: move them out, or pass another --out")
    return None


def _replace_folder(target: Path, parent: Path) -> Iterator[Path]:
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write to {str(parent)!r}; choose a writable --out")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {str(target)!r} ({exc.strerror or exc}); choose another "
                          "--out") from None
    try:
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; a run folder gets the usual permissions
        write_json(tmp / MARKER, {"created_by": "pdelearn", "note": "this folder was written by pdelearn; "
                                  "`--force` may replace it"})
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if _refusal(target, str(target), force=True):
        shutil.rmtree(tmp, ignore_errors=True)  # something else took the path during the run: leave it alone
        raise ConfigError(f"{str(target)!r} was created by something else while pdelearn ran; it was left as it is "
                          "and nothing was written: run again with another --out")
    if target.exists():  # an empty folder, or one pdelearn made (checked above): moved aside, then removed
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced.", dir=parent))
        os.replace(target, old / "old")
    try:
        tmp.rename(target)
    except BaseException:
        if old is not None:
            os.replace(old / "old", target)
            old.rmdir()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


NPZ_MARKER = b"written by pdelearn generate"
"""The zip comment of every ``.npz`` that ``pdelearn generate`` writes (``np.load`` ignores it)."""


def npz_made_by_pdelearn(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ``.npz`` written by ``pdelearn generate`` (its zip comment is :data:`NPZ_MARKER`)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.comment == NPZ_MARKER
    except (OSError, zipfile.BadZipFile):
        return False


def replaceable_file(target: str | os.PathLike, force: bool, made_by_us, what: str = "--out") -> Path:
    """Check that the file ``target`` may be written: new, or (with ``force``) a file ``made_by_us(path)`` says
    pdelearn wrote; :class:`ConfigError` otherwise."""
    path = check_replaceable(target, what=what)
    if path.is_dir():
        raise ConfigError(f"{what} {str(target)!r} is a folder; pass a file name")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{what} {str(target)!r} exists and is not a regular file (a pipe, socket or device); "
                          f"pass another {what}")
    if path.exists():
        if not force:
            raise ConfigError(f"{str(target)!r} already exists; pass --force or another {what}")
        if not made_by_us(path):
            raise ConfigError(f"{str(target)!r} already exists and was not written by pdelearn; pdelearn does not "
                              f"replace files it did not write: pass another {what}")
    return path


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
