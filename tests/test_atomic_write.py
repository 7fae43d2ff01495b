"""The one file writer (``runfiles.AtomicFile``): every kind of file the tool writes goes through a new temporary
sibling renamed into place, never through a link, and a failure leaves the old file and no temporary behind."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import pdelearn
from pdelearn.runfiles import (
    NPZ_MARKER,
    WRITTEN_PATTERNS,
    AtomicFile,
    atomic_write,
    foreign_files,
    npz_made_by_pdelearn,
    write_json,
    write_npz,
    write_text,
)

PACKAGE = Path(pdelearn.__file__).parent


def test_text_json_and_npz_round_trip(tmp_path):
    write_text(tmp_path / "a.txt", "héllo\n")
    write_json(tmp_path / "b.json", {"x": np.float64(1.5), "v": np.arange(2)})
    write_json(tmp_path / "c.json", {"p": Path("/d")}, default=str)
    write_npz(tmp_path / "d.npz", {"u": np.arange(3.0)}, compressed=True, comment=NPZ_MARKER)
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "b.json").read_text() == json.dumps({"x": 1.5, "v": [0, 1]}, indent=2) + "\n"
    assert json.loads((tmp_path / "c.json").read_text()) == {"p": "/d"}
    assert npz_made_by_pdelearn(tmp_path / "d.npz") and np.load(tmp_path / "d.npz")["u"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json", "c.json", "d.npz"]


def test_permissions_are_those_of_a_new_file(tmp_path):
    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    write_text(tmp_path / "a.txt", "old")

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.txt", boom)
    assert (tmp_path / "a.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_never_writes_through_a_link(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("keep")
    (tmp_path / "out.txt").symlink_to(secret)
    write_text(tmp_path / "out.txt", "new")
    assert secret.read_text() == "keep" and not (tmp_path / "out.txt").is_symlink()
    assert (tmp_path / "out.txt").read_text() == "new"


def test_an_unwritable_folder_fails_before_the_work(tmp_path):
    with pytest.raises(OSError):
        AtomicFile(tmp_path / "missing" / "a.npz")


def test_a_leftover_temporary_is_a_file_pdelearn_writes(tmp_path):
    made = AtomicFile(tmp_path / ("a" * 200))  # a long name: the temporary's name stays short
    assert len(made.tmp.name) < 60
    made.file.close()
    assert foreign_files(tmp_path) == [] and any(made.tmp.match(p) for p in WRITTEN_PATTERNS)
    made.tmp.unlink()


def _writes(tree: ast.AST):
    """Calls that write a file by name: ``Path.write_text/write_bytes``, ``mkstemp``, ``np.savez*``, and
    ``savefig`` / ``torch.save`` to anything but the open file ``fh`` of an AtomicFile."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, args = node.func.attr, node.args
        target = args[1] if name == "save" and len(args) > 1 else args[0] if args else None
        to_fh = isinstance(target, ast.Name) and target.id == "fh"
        if name in ("write_text", "write_bytes", "mkstemp", "savez", "savez_compressed") and not to_fh:
            yield node.lineno, name
        elif (name == "savefig" or (name == "save" and ast.unparse(node.func.value) == "torch")) and not to_fh:
            yield node.lineno, name


def test_no_module_writes_a_file_but_through_the_one_writer():
    allowed = {"runfiles.py"}
    found = [f"{path.relative_to(PACKAGE)}:{line}: {name}" for path in sorted(PACKAGE.rglob("*.py"))
             if str(path.relative_to(PACKAGE)) not in allowed for line, name in _writes(ast.parse(path.read_text()))]
    assert found == []
