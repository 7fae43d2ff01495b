"""Property-based tests (hypothesis) of the parser, the recipe loader and the data loader (issue 27, item 6).

On any generated input each of them either succeeds or raises a :class:`~pdelearn.errors.PdelearnError`
(never another exception), within a time limit (hypothesis ``deadline`` plus a hard alarm, so a hang fails
instead of stalling the run) and a memory limit (peak of traced allocations, numpy's included). Where a
round trip exists it holds: an equation written out in its term keys parses back to itself, and the JSON and
YAML forms read back to what was written.

The default run uses a small, derandomized budget (the file takes a few seconds); the ``slow`` tests run
the same properties on many more random examples.
"""

from __future__ import annotations

import contextlib
import io
import math
import signal
import string
import tracemalloc
import zipfile
from datetime import timedelta

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdelearn.data import from_arrays, load_grid_data
from pdelearn.equation import Equation, load_equation
from pdelearn.errors import PdelearnError
from pdelearn.problems.registry import recipe_models
from pdelearn.recipes import resolve
from pdelearn.terms import polynomial_library
from pdelearn.yamlio import parse_yaml, to_yaml

recipe_models()  # import every problem module (and torch) now, not inside a timed example

SECONDS = 10.0  # hard limit of one example (the deadline below is the soft one)
MEGABYTES = 256  # peak traced memory of one example

QUICK = settings(max_examples=50, deadline=timedelta(seconds=3), derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LARGE = settings(QUICK, max_examples=1000, derandomize=False)


@contextlib.contextmanager
def bounded(seconds: float = SECONDS, megabytes: float = MEGABYTES):
    """Run the block under a hard time limit (SIGALRM) and check its peak traced memory; a PdelearnError is the
    accepted way to refuse an input, any other exception fails the example."""

    def alarm(*_):
        raise TimeoutError(f"example ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    tracemalloc.start()
    try:
        try:
            yield
        except PdelearnError as exc:
            assert "\n" not in str(exc).strip() or "problems in" in str(exc), str(exc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert peak < megabytes * 2**20, f"peak memory {peak / 2**20:.0f} MB"


# -- the parser --------------------------------------------------------------------------------------
TOKENS = ["u", "u_x", "u_xx", "u_xxx", "x", "v", "t", "u_t", "sin", "exp", "log", "sqrt", "abs", "pi", "E", "i",
          "__import__", "0", "1", "2", "3", "0.5", "20", "64", "1e300", "1e-300", "9e999", "1e", "0x1F", "1j",
          "+", "-", "*", "/", "**", "^", "(", ")", "(", ")", ",", "=", ".", " ", "lambda", "'", ";", "[", "]",
          "%", "@", "\\", "#"]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
raw_text = st.text(alphabet=string.printable, max_size=60)

ATOMS = ["u", "u_x", "u_xx", "u_xxx", "x", "1", "2", "0.5", "1e-3", "pi"]
expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda p: f"({p[0]} {p[1]} {p[2]})"),
        st.tuples(inner, st.integers(-25, 25)).map(lambda p: f"({p[0]})**({p[1]})"),
        st.tuples(st.sampled_from(["sin", "exp", "cos", "tanh"]), inner).map(lambda p: f"{p[0]}({p[1]})"),
    ),
    max_leaves=12,
)


def parse_property(rhs: str) -> None:
    with bounded():
        eq = Equation.parse("u_t = " + rhs)
        assert all(math.isfinite(c) and c != 0 for c in eq.coefficients.values())


@QUICK
@given(st.one_of(token_soup, raw_text, expressions))
def test_parser_never_fails_otherwise(rhs):
    parse_property(rhs)


@pytest.mark.slow
@LARGE
@given(st.one_of(token_soup, raw_text, expressions))
def test_parser_never_fails_otherwise_large(rhs):
    parse_property(rhs)


LIBRARY = polynomial_library("u", "x", 3, 4)
coefficients = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda c: abs(c) > 1e-6)
equations = st.dictionaries(st.sampled_from(LIBRARY.keys), coefficients, min_size=1, max_size=8)


def round_trip_property(terms: dict) -> None:
    with bounded():
        eq = Equation("u_t", terms, ("u",), ("x",))
        text = "u_t = " + " + ".join(f"({c!r})*({k})" for k, c in terms.items())
        again = Equation.parse(text, ("u",), ("x",))
        assert again.coefficients.keys() == eq.coefficients.keys()
        for k, c in eq.coefficients.items():
            assert again.coefficients[k] == pytest.approx(c, rel=1e-12)
        assert load_equation(eq.to_dict()) == eq
        assert str(load_equation(eq.to_dict())) == str(eq)


@QUICK
@given(equations)
def test_equation_round_trips(terms):
    round_trip_property(terms)


@pytest.mark.slow
@LARGE
@given(equations)
def test_equation_round_trips_large(terms):
    round_trip_property(terms)


# -- the recipe loader -------------------------------------------------------------------------------
KEYS = ["problem", "equation", "domain", "x", "t", "initial_condition", "boundary", "type", "training", "steps",
        "seed", "data", "system", "noise", "model", "width", "library", "terms", "a", "b", "<<"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["forward", "joint_discovery", "u_t = u_xx", "sin(pi*x)",
                                                           "dirichlet", "burgers", "u**u", "1e999"]))
plain = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                     max_leaves=20)
YAML_CHARS = "[]{}:&*!|>-'\"#%@`,? \n\tabcu_x019.=<\x00\x07\ufeff\u00e9"
yaml_soup = st.text(alphabet=YAML_CHARS, max_size=80)


@st.composite
def alias_bombs(draw):
    levels, fan = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    text = "a0: &a0 [lol]\n"
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]\n"
    return text + draw(st.sampled_from(["", "b: *a0\n", "c: &c [*c]\n", "a1: 1\n"]))


def recipe_property(text: str) -> None:
    with bounded():
        resolve(parse_yaml(text), source="generated")


@QUICK
@given(st.one_of(plain.map(lambda d: yaml.safe_dump(d, default_flow_style=None)), yaml_soup, alias_bombs()))
def test_recipe_loader_never_fails_otherwise(text):
    recipe_property(text)


@pytest.mark.slow
@LARGE
@given(st.one_of(plain.map(lambda d: yaml.safe_dump(d, default_flow_style=None)), yaml_soup, alias_bombs()))
def test_recipe_loader_never_fails_otherwise_large(text):
    recipe_property(text)


@QUICK
@given(st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8),
                       st.recursive(st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none(),
                                              st.floats(allow_nan=False)),
                                    lambda inner: st.lists(inner, max_size=3), max_leaves=10), max_size=6))
def test_yaml_round_trips(data):
    with bounded():
        assert parse_yaml(to_yaml(data)) == data


# -- the data loader ---------------------------------------------------------------------------------
DTYPES = [np.float64, np.float32, np.float16, np.int32, np.complex128, np.bool_, np.uint8]


@st.composite
def data_sets(draw):
    """Arrays named like a data file's: a field (maybe with NaN, huge or tiny values) and coordinates."""
    nx, nt = draw(st.integers(0, 12)), draw(st.integers(0, 9))
    dtype = draw(st.sampled_from(DTYPES))
    scale = draw(st.sampled_from([1.0, 1e-300, 1e300, 0.0, -1.0]))
    with np.errstate(over="ignore", invalid="ignore"):  # float16 of 1e300 is inf: a case the loader must refuse
        u = (np.random.default_rng(draw(st.integers(0, 100))).standard_normal((nx, nt)) * scale).astype(dtype)
    if draw(st.booleans()) and u.size and dtype in (np.float64, np.float32):
        u.flat[0] = draw(st.sampled_from([np.nan, np.inf, 1e-310]))
    x = np.linspace(0, draw(st.sampled_from([1.0, 1e-200, 1e200, -1.0])), nx)
    t = draw(st.sampled_from([np.linspace(0, 1, nt), np.arange(nt)[::-1].astype(float), np.ones(nt)]))
    arrays = {"u": u, "x": x, "t": t}
    if draw(st.booleans()):
        arrays = {draw(st.sampled_from(["usol", "U", "v", "x y"])): u, "x": x, "t": t}
    if draw(st.booleans()):
        arrays[draw(st.sampled_from(["y", "tt", "v"]))] = draw(st.sampled_from([x, u, np.array("text")]))
    return arrays


def _npz_bytes(arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def data_property(arrays, suffix: str, cut: float, tmp_path) -> None:
    from scipy.io import savemat

    path = tmp_path / f"d{suffix}"
    with bounded():
        if suffix == ".npz":
            raw = _npz_bytes(arrays)
        else:
            buf = io.BytesIO()
            savemat(buf, {k.replace(" ", "_"): v for k, v in arrays.items()}, do_compression=True)
            raw = buf.getvalue()
        path.write_bytes(raw[: max(1, int(len(raw) * cut))] if cut < 1 else raw)
        grid = load_grid_data(path)
        assert all(np.isfinite(f).all() for f in grid.fields.values())
    with bounded():
        from_arrays({"u": arrays.get("u", np.zeros((2, 2)))}, {"x": arrays["x"], "t": arrays["t"]})


@QUICK
@given(data_sets(), st.sampled_from([".npz", ".mat"]), st.sampled_from([1.0, 1.0, 0.5, 0.9]))
def test_data_loader_never_fails_otherwise(tmp_path, arrays, suffix, cut):
    data_property(arrays, suffix, cut, tmp_path)


@pytest.mark.slow
@LARGE
@given(data_sets(), st.sampled_from([".npz", ".mat"]), st.sampled_from([1.0, 1.0, 0.5, 0.9]))
def test_data_loader_never_fails_otherwise_large(tmp_path, arrays, suffix, cut):
    data_property(arrays, suffix, cut, tmp_path)


@QUICK
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=4), st.sampled_from(["<f8", "<c16", "|u1", "<i8"]))
def test_declared_shapes_never_allocate(tmp_path, shape, descr):
    """An .npz whose npy header declares any shape (but holds 64 bytes) is refused or read, never allocated."""
    head = io.BytesIO()
    import numpy.lib.format as fmt

    fmt.write_array_header_1_0(head, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    path = tmp_path / "declared.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("u.npy", head.getvalue() + bytes(64))
    with bounded():
        load_grid_data(path)
