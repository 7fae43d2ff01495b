"""Tests of pdelearn.compile: feature matrices from a term library (numpy and torch)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from pdelearn.compile import CompiledLibrary
from pdelearn.errors import DataError, ShapeError
from pdelearn.terms import TermLibrary, polynomial_library

CUSTOM_TERMS = [
    "sin(x)*u",
    "exp(-u)*u_x",
    "sqrt(u)",
    "u/u_x",
    "u**(3/2)",
    "u**(-1/2)*u_xx",
    "u_xx/(1 + u**2)",
    "log(u)*cos(x)",
    "tanh(u_x) + tan(x)",
    "abs(u_x - 1)*u",
    "cosh(u) - sinh(u_x)",
    "exp(x)*u**2/3",
    "pi*u**3",
    "1",
]


def random_inputs(names, n=40, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        if name in ("x", "y"):
            out[name] = rng.uniform(-1.0, 1.0, n)
        else:  # positive, so sqrt, log, rational powers and divisions are defined
            out[name] = rng.uniform(0.5, 2.0, n)
    return out


def reference(library, inputs):
    """Evaluate each term's sympy expression with sympy.lambdify (independent of the compiler)."""
    n = len(next(iter(inputs.values())))
    cols = []
    for t in library:
        syms = sorted(t.expr.free_symbols, key=lambda s: s.name)
        f = sympy.lambdify(syms, t.expr, modules="numpy")
        col = np.asarray(f(*[inputs[s.name] for s in syms]), dtype=np.float64)
        cols.append(np.broadcast_to(col, (n,)))
    return np.stack(cols, axis=-1)


@pytest.fixture(params=["paper", "custom", "two_fields_2d"])
def library(request):
    if request.param == "paper":
        return polynomial_library("u", "x", 3, 3)
    if request.param == "custom":
        return TermLibrary(CUSTOM_TERMS, ["u"], ["x"])
    return polynomial_library("u v", "x y", 2, 2)


def test_numpy_matches_sympy_reference(library):
    comp = CompiledLibrary(library)
    inputs = random_inputs(comp.required, seed=1)
    got = comp.numpy(inputs)
    assert got.shape == (40, len(library))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference(library, inputs), rtol=1e-13, atol=1e-13)


def test_torch_matches_sympy_reference(library):
    comp = CompiledLibrary(library)
    inputs = random_inputs(comp.required, seed=2)
    got = comp.torch({k: torch.from_numpy(v) for k, v in inputs.items()})
    assert isinstance(got, torch.Tensor)
    assert got.shape == (40, len(library))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), reference(library, inputs), rtol=1e-13, atol=1e-13)


def test_call_is_torch():
    comp = CompiledLibrary(polynomial_library())
    inputs = {k: torch.from_numpy(v) for k, v in random_inputs(comp.required).items()}
    assert torch.equal(comp(inputs), comp.torch(inputs))


def test_paper_library_by_hand():
    comp = CompiledLibrary(polynomial_library())
    assert comp.required == ("u", "u_x", "u_xx", "u_xxx")
    u, ux, uxx, uxxx = 2.0, 3.0, 5.0, 7.0
    row = comp.numpy({"u": np.array([u]), "u_x": np.array([ux]), "u_xx": np.array([uxx]), "u_xxx": np.array([uxxx])})
    expected = [u**i * d for d in (1.0, ux, uxx, uxxx) for i in range(4)]
    np.testing.assert_array_equal(row[0], expected)


def test_docstring_example():
    comp = CompiledLibrary(polynomial_library("u", "x", max_power=2, max_order=1))
    assert comp.required == ("u", "u_x")
    np.testing.assert_array_equal(comp.numpy({"u": np.array([2.0]), "u_x": np.array([3.0])}), [[1, 2, 4, 3, 6, 12]])


def test_constant_term_is_a_column_of_ones():
    lib = TermLibrary(["1", "u", "u_x"], ["u"], ["x"])
    comp = CompiledLibrary(lib)
    inputs = random_inputs(comp.required, n=7)
    np.testing.assert_array_equal(comp.numpy(inputs)[:, 0], np.ones(7))
    t = comp.torch({k: torch.from_numpy(v) for k, v in inputs.items()})
    assert torch.equal(t[:, 0], torch.ones(7, dtype=torch.float64))


def test_multidimensional_inputs_keep_their_shape():
    comp = CompiledLibrary(polynomial_library())
    rng = np.random.default_rng(3)
    inputs = {k: rng.normal(size=(3, 5)) for k in comp.required}
    got = comp.numpy(inputs)
    assert got.shape == (3, 5, 16)
    flat = comp.numpy({k: v.reshape(-1) for k, v in inputs.items()})
    np.testing.assert_array_equal(got.reshape(15, 16), flat)
    np.testing.assert_array_equal(got[..., 0], np.ones((3, 5)))


def test_coordinates_are_required_when_used():
    comp = CompiledLibrary(TermLibrary(["sin(x)*u", "u_y"], ["u"], ["x", "y"]))
    assert comp.required == ("u", "u_y", "x")
    comp2 = CompiledLibrary(TermLibrary(["y*x*u"], ["u"], ["x", "y"]))
    assert comp2.required == ("u", "x", "y")  # coordinates in library order


def test_extra_inputs_are_ignored_and_inputs_untouched():
    comp = CompiledLibrary(polynomial_library("u", "x", 2, 1))
    inputs = random_inputs(["u", "u_x"], n=5)
    copies = {k: v.copy() for k, v in inputs.items()}
    extra = dict(inputs, u_xx=np.zeros(9), v=np.ones(2))  # other shapes, not needed
    np.testing.assert_array_equal(comp.numpy(extra), comp.numpy(inputs))
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], copies[k])


# ------------------------------------------------------------------------------- autograd


def test_torch_gradcheck_wrt_inputs():
    lib = TermLibrary(CUSTOM_TERMS, ["u"], ["x"]) + polynomial_library("u", "x", 3, 2, include_constant=False).select(
        ["u**3*u_xx", "u*u_x", "u**2"]
    )
    comp = CompiledLibrary(lib)
    names = comp.required
    raw = random_inputs(names, n=4, seed=4)
    tensors = tuple(torch.tensor(raw[n], dtype=torch.float64, requires_grad=True) for n in names)

    def f(*args):
        return comp.torch(dict(zip(names, args)))

    assert torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-8)


def test_gradient_matches_analytic():
    comp = CompiledLibrary(TermLibrary(["u**2*u_x", "sin(u)"], ["u"], ["x"]))
    u = torch.tensor([0.3, 1.2], dtype=torch.float64, requires_grad=True)
    ux = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    theta = comp.torch({"u": u, "u_x": ux})
    theta.sum().backward()
    with torch.no_grad():
        torch.testing.assert_close(u.grad, 2 * u * ux + torch.cos(u), rtol=1e-14, atol=0)
        torch.testing.assert_close(ux.grad, u**2, rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------- dtype / device


def test_float32_in_float32_out():
    comp = CompiledLibrary(TermLibrary(CUSTOM_TERMS, ["u"], ["x"]))
    inputs = random_inputs(comp.required, n=6, seed=5)
    t32 = comp.torch({k: torch.tensor(v, dtype=torch.float32) for k, v in inputs.items()})
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32.numpy(), reference(comp.library, inputs), rtol=1e-5, atol=1e-6)
    n32 = comp.numpy({k: v.astype(np.float32) for k, v in inputs.items()})
    assert n32.dtype == np.float32


def test_device_follows_inputs():
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    comp = CompiledLibrary(polynomial_library())
    inputs = random_inputs(comp.required, n=5)
    for dev in devices:
        out = comp.torch({k: torch.tensor(v, device=dev) for k, v in inputs.items()})
        assert out.device.type == dev
        np.testing.assert_allclose(out.cpu().numpy(), reference(comp.library, inputs), rtol=1e-13)


# ------------------------------------------------------------------------------- errors


def test_missing_input_names_it():
    comp = CompiledLibrary(polynomial_library("u", "x", 2, 2))
    with pytest.raises(DataError) as err:
        comp.numpy({"u": np.ones(3), "u_x": np.ones(3)})
    msg = str(err.value)
    assert "missing ['u_xx']" in msg
    assert "needs ['u', 'u_x', 'u_xx']" in msg
    with pytest.raises(DataError, match=r"missing \['u', 'u_x'\]"):
        comp.torch({"u_xx": torch.ones(3)})


def test_missing_coordinate_names_it():
    comp = CompiledLibrary(TermLibrary(["sin(x)*u"], ["u"], ["x"]))
    with pytest.raises(DataError, match=r"missing \['x'\]"):
        comp.numpy({"u": np.ones(3)})


def test_no_inputs():
    comp = CompiledLibrary(polynomial_library())
    with pytest.raises(DataError, match="no inputs given"):
        comp.numpy({})


def test_constant_only_library():
    comp = CompiledLibrary(TermLibrary(["1"], ["u"], ["x"]))
    assert comp.required == ()
    with pytest.raises(DataError, match="only constant terms"):
        comp.numpy({"u": np.ones(3)})


def test_mismatched_shapes_raise():
    comp = CompiledLibrary(polynomial_library("u", "x", 2, 2))
    with pytest.raises(ShapeError) as err:
        comp.numpy({"u": np.ones(5), "u_x": np.ones(4), "u_xx": np.ones(5)})
    msg = str(err.value)
    assert "one shape" in msg and "'u_x' has (4,)" in msg and "(5,)" in msg
    with pytest.raises(ShapeError, match="one shape"):
        comp.torch({"u": torch.ones(5), "u_x": torch.ones(5), "u_xx": torch.ones(5, 1)})
    assert issubclass(ShapeError, DataError)


def test_unsupported_function_raises_at_compile_time():
    u = sympy.Symbol("u")
    lib = TermLibrary([sympy.erf(u), u], ["u"], ["x"])
    with pytest.raises(DataError, match="cannot evaluate erf\\(u\\)"):
        CompiledLibrary(lib)


# ------------------------------------------------------------------------------- shared work


def test_required_lists_each_derivative_once():
    lib = TermLibrary(["u*u_x", "u**2*u_x", "u_x*u_xx", "u_xx**2", "sin(u_x)"], ["u"], ["x"])
    comp = CompiledLibrary(lib)
    assert comp.required == ("u", "u_x", "u_xx")
    assert "CompiledLibrary(5 terms, needs ['u', 'u_x', 'u_xx'])" == repr(comp)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_common_subexpressions_are_evaluated_once(monkeypatch, backend):
    lib = TermLibrary(["sin(x)*u", "sin(x)*u**2", "sin(x)*u_x", "exp(u + u_x)", "u*exp(u + u_x)"], ["u"], ["x"])
    comp = CompiledLibrary(lib)
    module = np if backend == "numpy" else torch
    calls = {"sin": 0, "exp": 0}
    for name in calls:
        original = getattr(module, name)

        def counting(a, _original=original, _name=name):
            calls[_name] += 1
            return _original(a)

        monkeypatch.setattr(module, name, counting)
    inputs = random_inputs(comp.required, n=6)
    if backend == "torch":
        inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}
    out = getattr(comp, backend)(inputs)
    assert calls == {"sin": 1, "exp": 1}  # three terms use sin(x), two use exp(u + u_x)
    monkeypatch.undo()
    ref = reference(lib, {k: np.asarray(v) for k, v in inputs.items()})
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-13)
