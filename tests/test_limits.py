"""Every limit of pdelearn.limits: a bad input gives its specific error quickly, before the work it bounds
(issue 27, item 2); on the command line: exit 2, one ``Error:`` line naming the limit, nothing written."""

from __future__ import annotations

import gzip
import io
import re
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sympy
from click.testing import CliRunner

from pdelearn import limits
from pdelearn.cli import main
from pdelearn.data import from_arrays, load_grid_data
from pdelearn.equation import Equation, EquationSystem, load_equation
from pdelearn.errors import ConfigError, DataError, LibraryError, ParseError, PdelearnError
from pdelearn.intervals import bootstrap_draws, check_bootstrap
from pdelearn.limits import LIMITS
from pdelearn.recipes import apply_overrides, load_recipe
from pdelearn.terms import Term, TermLibrary, polynomial_library
from pdelearn.yamlio import parse_yaml

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_limit_error(result, name: str):
    """Exit 2, one ``Error:`` line naming the limit ``name`` and how to raise or fix it, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    assert name in lines[0], lines[0]
    assert "Traceback" not in result.output
    limit = LIMITS[name]
    assert (limit.env if limit.overridable else limit.fix) in lines[0], lines[0]


class quick:
    """``with quick(seconds):`` fails when the block takes longer (the inputs here used to take minutes)."""

    def __init__(self, seconds: float = 2.0):
        self.seconds = seconds

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        assert time.perf_counter() - self.start < self.seconds
        return False


# -- the module ------------------------------------------------------------------------------------
def test_every_limit_is_documented_with_its_value():
    page = (ROOT / "docs" / "limits.md").read_text()
    for name, limit in LIMITS.items():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{name}`")), None)
        assert row is not None, f"docs/limits.md has no row for {name}"
        assert limits._fmt(limit.default) in row, (name, row)
        assert (limit.env in row) == limit.overridable, row
        assert issubclass(limit.error, PdelearnError)


def test_environment_variable_raises_a_limit(monkeypatch):
    with pytest.raises(LibraryError, match="MAX_DERIVATIVE_ORDER = 8"):
        polynomial_library("u", "x", 1, 9)
    monkeypatch.setenv("PDELEARN_MAX_DERIVATIVE_ORDER", "10")
    assert len(polynomial_library("u", "x", 1, 9)) == 20
    monkeypatch.setenv("PDELEARN_MAX_DERIVATIVE_ORDER", "ten")
    with pytest.raises(ConfigError, match="PDELEARN_MAX_DERIVATIVE_ORDER must be a positive number"):
        polynomial_library("u", "x", 1, 2)


def test_fixed_limits_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("PDELEARN_MIN_FIELD_SCALE", "1e-320")
    assert limits.MIN_FIELD_SCALE.value == 1e-150


# -- YAML ------------------------------------------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n"
    return text


@pytest.mark.parametrize("text, name", [
    (billion_laughs(), "MAX_YAML_NODES"),
    ("[" * 100 + "]" * 100, "MAX_YAML_DEPTH"),
    ("a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 80)), "MAX_YAML_DEPTH"),
    ("a: &a 1\nb: [" + ", ".join(["*a"] * 1001) + "]", "MAX_YAML_ALIASES"),
    ("a: '" + "x" * 1_000_001 + "'", "MAX_YAML_BYTES"),
])
def test_yaml_bounds(text, name):
    with quick(), pytest.raises(ConfigError, match=name):
        parse_yaml(text)


@pytest.mark.parametrize("text, needle", [
    ("a: &a [1, *a]", "recursive alias"),
    ("a: &a {b: *a}", "recursive alias"),
    ("equation: u_t = u_xx\nseed: 1\nequation: u_t = u\n", "duplicate key 'equation' at line 3 (first at line 1)"),
    ("a: {b: 1, b: 2}", "duplicate key 'b'"),
    ("a: " + "9" * 5000, "cannot be read"),
    ("equation: u_t = -u\x07*u_x\n", "malformed YAML"),
])
def test_yaml_refusals(text, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        parse_yaml(text)


def test_yaml_merge_keys_and_ordinary_aliases_still_work():
    data = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\nd: [*b, *b]\n")
    assert data["c"] == {"x": 3, "y": 2} and data["d"] == [{"x": 1, "y": 2}] * 2


def test_recipe_file_size_and_set_key_depth(tmp_path, monkeypatch):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("seed: 1\n" + "#" * 2000 + "\n")
    monkeypatch.setenv("PDELEARN_MAX_YAML_BYTES", "1000")
    with pytest.raises(ConfigError, match="MAX_YAML_BYTES"):
        load_recipe(recipe)
    with pytest.raises(ConfigError, match="MAX_YAML_DEPTH"):
        apply_overrides({}, [".".join(["a"] * 100) + "=1"])


@pytest.mark.parametrize("text, name", [
    (billion_laughs(), "MAX_YAML_NODES"),
    ("a: &a [1, *a]\n", "recursive alias"),
    ("equation: u_t = u_xx\nequation: u_t = u\n", "duplicate key"),
])
def test_fit_refuses_hostile_recipes(tmp_path, text, name):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    with quick(5):
        result = run_cli("fit", recipe, "--out", tmp_path / "run")
    assert result.exit_code == 2 and name in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error:")
    assert not (tmp_path / "run").exists()


def test_every_recipe_is_far_inside_the_yaml_limits():
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        assert path.stat().st_size < limits.MAX_YAML_BYTES.value / 100
        parse_yaml(path.read_text(), source=str(path))


# -- the parser, terms and libraries ---------------------------------------------------------------
@pytest.mark.parametrize("rhs, name", [
    ("+".join(["(u+u_x+u_xx+1)**(-20)"] * 11), "MAX_EXPANSION_WORK"),   # 33 s before: denominators are expanded
    ("(u+u_x+u_xx+1)**(-20)*(u+u_x+u_xx+1)**(-20)", "MAX_EXPANSION_WORK"),  # merged into one power of -40
    ("sin((u+u_x+u_xx+1)**20)+cos((u+u_x+u_xx+2)**20)+sin((u+u_x+u_xx+3)**20)", "MAX_EXPANSION_WORK"),
    ("exp((u+u_x+u_xx+u_xxx+1)**12)", "MAX_EXPANSION_WORK"),          # function arguments are expanded too
    ("(u+u_x+u_xx+u_xxx+1)**64", "MAX_EXPANDED_TERMS"),
    ("(((u+1)**64)**64)**64", "MAX_EXPONENT"),
    ("u*" * 2100 + "u", "MAX_EXPRESSION_CHARS"),
    ("1e300*1e300*u", "MAX_LITERAL"),
])
def test_parser_budgets(rhs, name):
    with quick(1.5), pytest.raises(ParseError, match=name):
        Equation.parse("u_t = " + rhs)


@pytest.mark.parametrize("make", [
    lambda: Equation.parse("u_t = u**u"),
    lambda: Equation.from_dict({"lhs": "u_t", "terms": {"u**u": 1.0}}),
    lambda: TermLibrary(["u*u_x", "2**u"], ["u"], ["x"]),
    lambda: Term(sympy.Symbol("u") ** sympy.Symbol("u_x"), ["u"], ["x"]),
])
def test_a_power_that_depends_on_the_data_is_a_library_error(make):
    with pytest.raises(LibraryError, match="exponents must be numbers"):
        make()


def test_library_bounds():
    with quick(), pytest.raises(LibraryError, match="MAX_POLYNOMIAL_POWER"):
        polynomial_library("u", "x", 40, 40)
    with quick(), pytest.raises(LibraryError, match="MAX_DERIVATIVE_ORDER"):
        polynomial_library("u", "x", 3, 40)
    with quick(), pytest.raises(LibraryError, match="MAX_LIBRARY_TERMS"):
        polynomial_library("u v w", "x y z", 8, 8)
    with quick(), pytest.raises(LibraryError, match="MAX_LIBRARY_TERMS"):
        TermLibrary([f"u*x**{k}" for k in range(1001)], ["u"], ["x"])
    with pytest.raises(LibraryError, match="MAX_DERIVATIVE_ORDER"):
        Term(sympy.Symbol("u_" + "x" * 9), ["u"], ["x"])
    u, ux, uxx = sympy.symbols("u u_x u_xx")
    hostile = [(u + ux + uxx + k) ** -20 for k in range(1, 40)]  # 39 such --terms took 63 s
    with quick(), pytest.raises(LibraryError, match="MAX_EXPANSION_WORK"):
        TermLibrary(hostile, ["u"], ["x"])


@pytest.mark.parametrize("fields, coords, power, order, mixed", [
    ("u", "x", 3, 3, True), ("u v", "x", 3, 2, True), ("u v", "x y", 3, 4, True), ("u", "x y", 2, 4, False),
    ("u v w", "x y z", 2, 2, True), ("u", "x", 0, 0, True),
])
def test_library_size_is_counted_before_building(fields, coords, power, order, mixed, monkeypatch):
    n = len(polynomial_library(fields, coords, power, order, mixed=mixed))
    monkeypatch.setenv("PDELEARN_MAX_LIBRARY_TERMS", str(n))
    polynomial_library(fields, coords, power, order, mixed=mixed)
    if n > 1:
        monkeypatch.setenv("PDELEARN_MAX_LIBRARY_TERMS", str(n - 1))
        with pytest.raises(LibraryError, match=f"is {n} terms"):
            polynomial_library(fields, coords, power, order, mixed=mixed)


def test_the_largest_reference_library_is_far_inside_the_limits():
    lib = polynomial_library("u v", "x y", 3, 4)
    assert len(lib) == 290 and len(lib) * 3 < limits.MAX_LIBRARY_TERMS.value


def test_equation_json_term_count():
    many = {"lhs": "u_t", "terms": {f"u*u_x + {k}*u_xx": 1.0 for k in range(100_000)}}  # > 120 s before
    with quick(0.5), pytest.raises(ParseError, match="MAX_LIBRARY_TERMS"):
        load_equation(many)
    system = {"equations": [{"lhs": "u_t", "terms": {f"{k}*u": 1.0 for k in range(600)}},
                            {"lhs": "v_t", "terms": {f"{k}*v": 1.0 for k in range(600)}}]}
    with quick(0.5), pytest.raises(ParseError, match="MAX_LIBRARY_TERMS"):
        EquationSystem.from_dict(system)


def test_export_of_a_huge_equation_json(tmp_path):
    (tmp_path / "equation.json").write_text(
        '{"lhs": "u_t", "terms": {' + ", ".join(f'"{k}*u_x": 1.0' for k in range(100_000)) + "}}")
    with quick(5):
        assert_limit_error(run_cli("export", tmp_path), "MAX_LIBRARY_TERMS")


# -- bootstrap -------------------------------------------------------------------------------------
def test_bootstrap_count():
    assert check_bootstrap(np.int64(200)) == 200
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match="integer >= 0"):
            check_bootstrap(bad)
    with quick(0.5), pytest.raises(ConfigError, match="MAX_BOOTSTRAP"):
        bootstrap_draws(np.ones((5, 1)), np.ones(5), 100_000_000)


# -- data ------------------------------------------------------------------------------------------
def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def declared_npz(path: Path, shape, body: bytes = b"\0" * 64) -> Path:
    """An .npz whose ``u`` declares ``shape`` in its npy header but holds only ``body``."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": tuple(shape)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("u.npy", head.getvalue() + body)
        z.writestr("x.npy", _npy(np.arange(float(shape[0]))))
        z.writestr("t.npy", _npy(np.arange(float(shape[1]))))
    return path


def heat(nx=64, nt=41, scale=1.0):
    x = np.linspace(0, 2 * np.pi, nx, endpoint=False)
    t = np.linspace(0, 1, nt)
    return {"u": scale * np.exp(-t)[None, :] * np.sin(x)[:, None], "x": x, "t": t}


def test_npz_declared_size_is_checked_before_decompressing(tmp_path):
    path = declared_npz(tmp_path / "big.npz", (16000, 16000))  # a 7 GB run before
    tracemalloc.start()
    try:
        with quick(0.5), pytest.raises(DataError, match="array 'u' .* MAX_GRID_POINTS"):
            load_grid_data(path)
        assert tracemalloc.get_traced_memory()[1] < 5e6
    finally:
        tracemalloc.stop()


def test_data_bytes_and_mat_headers(tmp_path, monkeypatch):
    from scipy.io import savemat

    np.savez_compressed(tmp_path / "heat.npz", **heat())
    savemat(tmp_path / "heat.mat", heat(), do_compression=True)
    assert load_grid_data(tmp_path / "heat.mat").shape == (64, 41)
    monkeypatch.setenv("PDELEARN_MAX_DATA_BYTES", "10000")
    with pytest.raises(DataError, match="MAX_DATA_BYTES"):
        load_grid_data(tmp_path / "heat.npz")
    monkeypatch.delenv("PDELEARN_MAX_DATA_BYTES")
    monkeypatch.setenv("PDELEARN_MAX_GRID_POINTS", "1000")
    with pytest.raises(DataError, match=r"array 'u' .*\(shape \(64, 41\)\) is 2624 points.*MAX_GRID_POINTS"):
        load_grid_data(tmp_path / "heat.mat")
    d = heat()
    with pytest.raises(DataError, match="the grid 64 x 41 .*MAX_GRID_POINTS"):
        from_arrays({"u": d["u"]}, {"x": d["x"], "t": d["t"]})


@pytest.mark.parametrize("scale, name", [(1e-300, "MIN_FIELD_SCALE"), (1e-160, "MIN_FIELD_SCALE"),
                                         (1e160, "MAX_FIELD_SCALE")])
def test_field_scale(scale, name):
    d = heat(scale=scale)
    with pytest.raises(DataError, match=f"max\\|u\\| .*{name}.*rescale"):
        from_arrays({"u": d["u"]}, {"x": d["x"], "t": d["t"]})


def test_field_scale_keeps_ordinary_and_zero_fields():
    for scale in (1e-100, 0.0, 1e100):
        d = heat(scale=scale)
        from_arrays({"u": d["u"]}, {"x": d["x"], "t": d["t"]})
    d = heat()
    with pytest.raises(DataError, match="grid step of coordinate 'x'.*MIN_FIELD_SCALE"):
        from_arrays({"u": d["u"]}, {"x": d["x"] * 1e-200, "t": d["t"]})


def test_reference_data_loads_far_inside_the_limits(shared_data):
    for path in sorted(shared_data.glob("*.mat")):
        grid = load_grid_data(path)
        assert np.prod(grid.shape) * 20 < limits.MAX_GRID_POINTS.value


@pytest.fixture()
def heat_npz(tmp_path) -> Path:
    np.savez(tmp_path / "heat.npz", **heat())
    return tmp_path / "heat.npz"


@pytest.mark.parametrize("extra, name", [
    (["--max-order", "40", "--max-power", "40"], "MAX_POLYNOMIAL_POWER"),
    (["--max-order", "40"], "MAX_DERIVATIVE_ORDER"),
    (["--bootstrap", "100000000"], "MAX_BOOTSTRAP"),
    (["--terms", ", ".join(f"(u+u_x+u_xx+{k})**(-20)" for k in range(1, 40))], "MAX_EXPANSION_WORK"),
])
def test_discover_refuses_out_of_bounds_options(heat_npz, tmp_path, extra, name):
    out = tmp_path / "run"
    with quick(10):
        result = run_cli("discover", heat_npz, "--out", out, *extra)
    assert_limit_error(result, name)
    assert not out.exists()


def test_discover_refuses_a_decompression_bomb(tmp_path):
    path = declared_npz(tmp_path / "bomb.npz", (16000, 16000))
    out = tmp_path / "run"
    with quick(5):
        assert_limit_error(run_cli("discover", path, "--out", out), "MAX_GRID_POINTS")
    assert not out.exists()


def test_discover_refuses_data_scaled_to_nothing(tmp_path):
    np.savez(tmp_path / "tiny.npz", **heat(scale=1e-300))  # printed u_t = 0 before
    out = tmp_path / "run"
    assert_limit_error(run_cli("discover", tmp_path / "tiny.npz", "--out", out), "MIN_FIELD_SCALE")
    assert not out.exists()


# -- MNIST idx files -------------------------------------------------------------------------------
def _idx(kind: str, n: int) -> bytes:
    if kind == "images":
        return struct.pack(">iiii", 2051, n, 28, 28) + bytes(n * 784)
    return struct.pack(">ii", 2049, n) + bytes(n)


def _mnist_folder(folder: Path, images=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx("images", 3)))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx("labels", 3)))
    if images is not None:
        (folder / "train-images-idx3-ubyte.gz").write_bytes(images)
    return folder


def test_mnist_gzip_bomb_is_refused_from_its_header(tmp_path):
    from pdelearn.vision.get_mnist import install_mnist

    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=1) as fh:
        for _ in range(16):
            fh.write(bytes(2**22))  # 64 MiB of zeros: magic number 0
    src = _mnist_folder(tmp_path / "src", bomb.getvalue())
    tracemalloc.start()
    try:
        with quick(0.5), pytest.raises(DataError, match="magic number 0"):
            install_mnist(tmp_path / "to", src)
        assert tracemalloc.get_traced_memory()[1] < 5e6
    finally:
        tracemalloc.stop()
    huge = gzip.compress(struct.pack(">iiii", 2051, 10**6, 28, 28))
    with pytest.raises(DataError, match="MAX_IDX_BYTES"):
        install_mnist(tmp_path / "to", _mnist_folder(tmp_path / "src2", huge))
    short = gzip.compress(_idx("images", 3)[:-5])
    with pytest.raises(DataError, match="truncated"):
        install_mnist(tmp_path / "to", _mnist_folder(tmp_path / "src3", short))
    assert not (tmp_path / "to").exists()


def test_mnist_checks_the_files_it_keeps(tmp_path, capsys):
    from pdelearn.vision.get_mnist import install_mnist, main

    src = _mnist_folder(tmp_path / "src")
    raw = tmp_path / "to" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(_idx("images", 3)[:100])  # truncated, left by an old run
    with pytest.raises(DataError, match="existing .*train-images-idx3-ubyte.*--overwrite"):
        install_mnist(tmp_path / "to", src)
    assert main(["--from", str(src), "--to", str(tmp_path / "to")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1
    install_mnist(tmp_path / "to", src, overwrite=True)
    assert (raw / "train-images-idx3-ubyte").read_bytes() == _idx("images", 3)
    install_mnist(tmp_path / "to", src)  # complete files are kept without complaint


def test_differentiate_order():
    from pdelearn.grid import differentiate

    with pytest.raises(ConfigError, match="MAX_DERIVATIVE_ORDER"):
        differentiate(np.zeros(16), 0.1, 10**9)


def test_json_size_is_checked_before_parsing(tmp_path):
    from pdelearn.runfiles import read_json

    (tmp_path / "equation.json").write_text('{"lhs": "u_t", "terms": {"u": 1.0}, "pad": "' + "x" * 17_000_000 + '"}')
    with pytest.raises(DataError, match="MAX_JSON_BYTES"):
        read_json(tmp_path, "equation.json", "")


@pytest.mark.parametrize("override, needle", [
    ("sampling.collocation=1000000000000", "MAX_BATCH_POINTS"),
    ("model.width=1000000000", "MAX_NETWORK_WIDTH"),
    ("model.depth=100000", "MAX_NETWORK_DEPTH"),
    ("reference.nx=1000000000", "MAX_GRID_SIDE"),
    ("reference.nt=100000", "MAX_GRID_POINTS"),  # 512 x 100,000 points
    ("training.steps=1000000000000", "MAX_TRAINING_STEPS"),
])
def test_recipe_sizes_are_bounded_before_any_work(tmp_path, override, needle):
    from click.testing import CliRunner

    from pdelearn.cli import main

    t0 = time.perf_counter()
    result = CliRunner().invoke(main, ["fit", str(ROOT / "recipes" / "allen_cahn.yaml"), "--out", str(tmp_path / "r"),
                                       "--set", override])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], lines
    assert f"PDELEARN_{needle}" in lines[0]
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "r").exists()


def test_every_shipped_recipe_is_inside_the_recipe_limits():
    from pdelearn.recipes import load_recipe

    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        limits.check_recipe_sizes(load_recipe(path).to_dict())


def test_a_parametrized_equation_spends_one_expansion_budget_for_all_its_summands():
    from pdelearn.errors import ParseError
    from pdelearn.parametrized import parametrize

    heavy = " + ".join(f"l{k}*(u + u_x + u_xx + {k + 1})**12" for k in range(34))  # each summand alone is inside
    t0 = time.perf_counter()
    with pytest.raises(ParseError, match="MAX_EXPANSION_WORK"):
        parametrize(f"u_t = {heavy}", {f"l{k}": 1.0 for k in range(34)})
    assert time.perf_counter() - t0 < 5


def test_joint_bootstrap_is_refused_when_the_recipe_loads():
    from pdelearn.recipes import load_recipe

    with pytest.raises(ConfigError, match="MAX_BOOTSTRAP"):
        load_recipe(ROOT / "recipes" / "burgers_discovery.yaml", ["uncertainty.bootstrap=100000000"])
