"""``--force`` and ``--out`` never touch what pdelearn did not make (issue 27, item 1).

Every case runs in a folder of "precious" user files (data, notes, a subfolder) that must survive
byte for byte: ``--out .``, ``--out ""``, ``--out ..``, the input's folder, a folder holding an input,
the input file itself, a symbolic link, a folder pdelearn did not make; for ``discover``, ``fit`` and
``generate``. A folder pdelearn made is replaced with ``--force``.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pdelearn.cli import main
from pdelearn.errors import ConfigError
from pdelearn.runfiles import MARKER, NPZ_MARKER, check_replaceable, made_by_pdelearn, output_folder

ROOT = Path(__file__).resolve().parents[1]
SMALL_FIT = ["--set", "training.steps=2", "--set", "training.lbfgs_steps=0", "--set", "training.time_windows=1",
             "--set", "reference.nx=64", "--set", "reference.nt=11", "--set", "reference.dt=1e-3",
             "--set", "sampling.collocation=64", "--set", "sampling.initial=16", "--set", "sampling.boundary=8",
             "--set", "losses.reference_points=32", "--set", "model.width=8", "--set", "model.depth=2",
             "--set", "device=cpu"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (relative path -> sha256), folders as ``<dir>``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<special>"
    return out


def heat_npz(path: Path) -> None:
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    t = np.linspace(0, 1, 41)
    u = np.exp(-0.1 * t)[None, :] * np.sin(x)[:, None] + 0.5 * np.exp(-0.4 * t)[None, :] * np.cos(2 * x)[:, None]
    np.savez(path, u=u, x=x, t=t)


@pytest.fixture()
def precious(tmp_path, monkeypatch) -> Path:
    """``tmp_path/home/work`` holding data.npz, notes.txt and sub/more.txt; the current folder is ``work``."""
    work = tmp_path / "home" / "work"
    (work / "sub").mkdir(parents=True)
    heat_npz(work / "data.npz")
    (work / "notes.txt").write_text("my notes\n")
    (work / "sub" / "more.txt").write_text("more\n")
    (tmp_path / "home" / "diary.txt").write_text("dear diary\n")
    monkeypatch.chdir(work)
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("out, needle", [
    (".", "current folder"),
    ("", "empty"),
    ("..", "current folder"),
    ("../..", "current folder"),
    ("/", "current folder"),
    ("sub/..", "current folder"),
])
def test_discover_force_never_replaces_the_current_folder_or_above(precious, out, needle):
    before = snapshot(precious)
    assert_refused(invoke("discover", "data.npz", "--out", out, "--force"), needle)
    assert snapshot(precious) == before


def test_discover_force_never_replaces_a_folder_holding_its_input(precious):
    before = snapshot(precious)
    os.chdir(precious)
    assert_refused(invoke("discover", "home/work/data.npz", "--out", "home/work", "--force"), "holds the input")
    assert_refused(invoke("discover", "home/work/data.npz", "--out", "home", "--force"), "holds the input")
    as_file = invoke("discover", "home/work/data.npz", "--out", "home/work/data.npz", "--force")
    assert as_file.exit_code == 2 and "Traceback" not in as_file.output  # click: a file is no folder
    assert snapshot(precious) == before


def test_discover_force_never_replaces_a_folder_pdelearn_did_not_make(precious):
    before = snapshot(precious)
    assert_refused(invoke("discover", "data.npz", "--out", "sub", "--force"), "not made by pdelearn")
    as_file = invoke("discover", "data.npz", "--out", "notes.txt", "--force")
    assert as_file.exit_code == 2 and "Traceback" not in as_file.output and "is a file" in as_file.output
    with pytest.raises(ConfigError, match="exists as a file"):
        with output_folder("notes.txt", force=True):
            pass
    assert snapshot(precious) == before


def test_force_replaces_a_folder_pdelearn_made_and_nothing_else(precious):
    work = precious / "home" / "work"
    first = invoke("discover", "data.npz", "--out", "run", "--max-order", "2")
    assert first.exit_code == 0, first.output
    assert made_by_pdelearn(work / "run")
    before = {k: v for k, v in snapshot(precious).items() if not k.startswith("home/work/run")}
    assert_refused(invoke("discover", "data.npz", "--out", "run", "--max-order", "2"), "--force")
    again = invoke("discover", "data.npz", "--out", "run", "--force", "--max-order", "2")
    assert again.exit_code == 0, again.output
    after = snapshot(precious)
    assert {k: v for k, v in after.items() if not k.startswith("home/work/run")} == before
    assert (work / "run" / "equation.json").is_file() and (work / "run" / MARKER).is_file()
    assert not [p for p in work.iterdir() if p.name.startswith(".")]  # no temporary sibling left behind


def test_a_symbolic_link_is_never_replaced(precious):
    work = precious / "home" / "work"
    assert invoke("discover", "data.npz", "--out", "run", "--max-order", "2").exit_code == 0
    (work / "link").symlink_to(work / "run")
    before = snapshot(precious)
    assert_refused(invoke("discover", "data.npz", "--out", "link", "--force"), "symbolic link")
    assert snapshot(precious) == before


@pytest.mark.parametrize("out", [".", "", "..", "recipes"])
def test_fit_force_never_replaces_the_current_folder_its_parents_or_its_recipe(precious, out):
    work = precious / "home" / "work"
    (work / "recipes").mkdir()
    (work / "recipes" / "ac.yaml").write_text((ROOT / "recipes" / "allen_cahn.yaml").read_text())
    before = snapshot(precious)
    result = invoke("fit", "recipes/ac.yaml", "--out", out, "--force", *SMALL_FIT)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stderr.startswith("Error:")
    assert snapshot(precious) == before


def test_fit_force_replaces_its_own_run_folder(precious):
    recipe = str(ROOT / "recipes" / "allen_cahn.yaml")
    first = invoke("fit", recipe, "--out", "run", *SMALL_FIT)
    assert first.exit_code in (0, 3), first.output
    before = {k: v for k, v in snapshot(precious).items() if "/run" not in k}
    assert_refused(invoke("fit", recipe, "--out", "run", *SMALL_FIT), "--force")
    again = invoke("fit", recipe, "--out", "run", "--force", *SMALL_FIT)
    assert again.exit_code in (0, 3), again.output
    assert {k: v for k, v in snapshot(precious).items() if "/run" not in k} == before


def test_generate_force_replaces_only_files_it_wrote(precious):
    before = snapshot(precious)
    assert_refused(invoke("generate", "burgers", "--out", "data.npz", "--force"), "not written by pdelearn")
    assert snapshot(precious) == before
    ok = invoke("generate", "burgers", "--out", "gen.npz")
    assert ok.exit_code == 0, ok.output
    with zipfile.ZipFile("gen.npz") as archive:
        assert archive.comment == NPZ_MARKER
    assert_refused(invoke("generate", "burgers", "--out", "gen.npz"), "--force")
    assert invoke("generate", "burgers", "--out", "gen.npz", "--force", "--noise", "0.01").exit_code == 0
    assert {k: v for k, v in snapshot(precious).items() if not k.endswith("gen.npz")} == before


def test_output_folder_refuses_in_python_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("keep")
    for bad in (".", "", str(tmp_path), os.path.join(str(tmp_path), "..")):
        with pytest.raises(ConfigError):
            with output_folder(bad, force=True):
                pass
    with pytest.raises(ConfigError, match="holds the input"):
        check_replaceable(tmp_path / "a", inputs=[tmp_path / "a" / "b" / "data.npz"])
    assert (tmp_path / "keep.txt").read_text() == "keep"


def test_a_failed_block_restores_nothing_and_leaves_the_old_run(tmp_path):
    with output_folder(tmp_path / "run") as folder:
        (folder / "result.json").write_text("1")
    with pytest.raises(RuntimeError):
        with output_folder(tmp_path / "run", force=True) as folder:
            (folder / "result.json").write_text("2")
            raise RuntimeError("boom")
    assert (tmp_path / "run" / "result.json").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_force_keeps_files_a_user_added_to_a_pdelearn_folder(precious):
    work = precious / "home" / "work"
    assert invoke("discover", "data.npz", "--out", "run", "--max-order", "2").exit_code == 0
    (work / "run" / "my_notes.txt").write_text("what I saw\n")
    before = snapshot(precious)
    assert_refused(invoke("discover", "data.npz", "--out", "run", "--force", "--max-order", "2"),
                   "files pdelearn does not write", "my_notes.txt")
    assert snapshot(precious) == before


def test_generate_never_opens_a_special_file(precious):
    os.mkfifo("g.npz")
    before = snapshot(precious)
    for extra in ([], ["--force"]):
        assert_refused(invoke("generate", "burgers", "--out", "g.npz", *extra), "not a regular file")
    assert snapshot(precious) == before
