"""Tests of pdelearn.autodiff: derivatives of pointwise outputs by automatic differentiation."""

from __future__ import annotations

import pytest
import torch

from pdelearn.autodiff import autograd_derivatives
from pdelearn.errors import DataError, ShapeError

DT = torch.float64


def xt(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, generator=g, dtype=DT) * 4 - 2).requires_grad_(True)
    t = torch.rand(n, generator=g, dtype=DT).requires_grad_(True)
    return x, t


def close(a, b):
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-12, atol=1e-12)


def test_against_analytic_derivatives_of_sin_exp_products():
    x, t = xt()
    s, c, e = torch.sin(2 * x), torch.cos(2 * x), torch.exp(-0.3 * t)
    u = s * e + x**3 * t**2
    names = ["u_x", "u_xx", "u_xxx", "u_xxxx", "u_t", "u_xt", "u_tt"]
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, names)
    with torch.no_grad():
        close(d["u_x"], 2 * c * e + 3 * x**2 * t**2)
        close(d["u_xx"], -4 * s * e + 6 * x * t**2)
        close(d["u_xxx"], -8 * c * e + 6 * t**2)
        close(d["u_xxxx"], 16 * s * e)
        close(d["u_t"], -0.3 * s * e + 2 * x**3 * t)
        close(d["u_xt"], -0.6 * c * e + 6 * x**2 * t)
        close(d["u_tt"], 0.09 * s * e + 2 * x**3)
    assert all(d[n].dtype == DT and d[n].shape == x.shape for n in names)


def test_mixed_order_does_not_matter():
    x, t = xt(seed=1)
    u = torch.sin(x * t) + x**2 * torch.exp(t)
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_xt", "u_tx"])
    with torch.no_grad():
        expected = torch.cos(x * t) - x * t * torch.sin(x * t) + 2 * x * torch.exp(t)
    close(d["u_xt"], expected)
    close(d["u_tx"], expected)


def test_two_fields_two_space_coordinates():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(30, generator=g, dtype=DT) - 0.5).requires_grad_(True)
    y = (torch.rand(30, generator=g, dtype=DT) - 0.5).requires_grad_(True)
    u = torch.exp(x * y)
    v = torch.sin(x) * torch.cos(3 * y)
    d = autograd_derivatives({"u": u, "v": v}, {"x": x, "y": y}, ["u_xy", "u_xxy", "v_yy", "v_xy"])
    with torch.no_grad():
        exy = torch.exp(x * y)
        close(d["u_xy"], (1 + x * y) * exy)
        close(d["u_xxy"], y * (2 + x * y) * exy)
        close(d["v_yy"], -9 * torch.sin(x) * torch.cos(3 * y))
        close(d["v_xy"], -3 * torch.cos(x) * torch.sin(3 * y))


def test_returns_inputs_and_intermediates():
    x, t = xt(n=5)
    u = torch.sin(x)
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_xxx", "u", "x"])
    assert set(d) == {"u", "x", "t", "u_x", "u_xx", "u_xxx"}
    assert d["u"] is u and d["x"] is x


def test_unused_coordinate_gives_zeros():
    x, t = xt(n=6)
    u = torch.sin(x)  # no t
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_t"])
    assert torch.equal(d["u_t"], torch.zeros_like(u))


def test_derivatives_are_differentiable_with_create_graph():
    x, _ = xt(n=8)
    a = torch.tensor(1.7, dtype=DT, requires_grad=True)
    u = a * torch.sin(x)
    d = autograd_derivatives({"u": u}, {"x": x}, ["u_xx"])
    (g,) = torch.autograd.grad(d["u_xx"].sum(), a)
    close(g, -torch.sin(x).sum())


def test_second_derivative_without_create_graph():
    x, _ = xt(n=8)
    d = autograd_derivatives({"u": torch.sin(x)}, {"x": x}, ["u_xx"], create_graph=False)
    close(d["u_xx"], -torch.sin(x))


def test_derivative_of_a_linear_field_is_zero():
    x, _ = xt(n=8)
    d = autograd_derivatives({"u": 2 * x}, {"x": x}, ["u_xx"])
    assert torch.equal(d["u_xx"], torch.zeros_like(x))


# ------------------------------------------------------------------------------- work counting


def counting_grad(monkeypatch):
    calls = []
    original = torch.autograd.grad

    def grad(outputs, inputs, *args, **kwargs):
        calls.append(inputs)
        return original(outputs, inputs, *args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", grad)
    return calls


@pytest.mark.parametrize(
    "names, n_calls",
    [
        (["u_x", "u_xx", "u_xxx"], 3),
        (["u_xxx"], 3),  # parents computed once on the way
        (["u_xxx", "u_xx", "u_x", "u_xx"], 3),  # repeats are cached
        (["u_xx", "u_xt", "u_t"], 4),  # u_x, u_xx, u_xt, u_t
        (["u", "x"], 0),
    ],
)
def test_each_derivative_computed_once(monkeypatch, names, n_calls):
    x, t = xt(n=10)
    u = torch.sin(x) * torch.exp(t)
    calls = counting_grad(monkeypatch)
    autograd_derivatives({"u": u}, {"x": x, "t": t}, names)
    assert len(calls) == n_calls


def test_counting_with_two_fields(monkeypatch):
    x, t = xt(n=10)
    calls = counting_grad(monkeypatch)
    autograd_derivatives(
        {"u": torch.sin(x * t), "v": torch.cos(x + t)}, {"x": x, "t": t}, ["u_xx", "v_xx", "u_t", "v_t", "u_x"]
    )
    assert len(calls) == 6


# ------------------------------------------------------------------------------- errors


def test_coordinate_without_requires_grad():
    x = torch.linspace(0, 1, 5, dtype=DT)
    with pytest.raises(DataError, match="coordinate 'x' must require grad"):
        autograd_derivatives({"u": x * 2}, {"x": x}, ["u_x"])


@pytest.mark.parametrize("name", ["u_z", "w_x", "u_", "foo", "u_xq", "x_x", "t_x"])
def test_unknown_derivative_name(name):
    x, t = xt(n=5)
    with pytest.raises(DataError) as err:
        autograd_derivatives({"u": torch.sin(x)}, {"x": x, "t": t}, [name])
    msg = str(err.value)
    assert f"cannot compute {name!r}" in msg
    assert "['u']" in msg and "['x', 't']" in msg and "e.g. u_x" in msg


def test_unknown_name_without_coordinates():
    with pytest.raises(DataError, match="cannot compute 'u_x'"):
        autograd_derivatives({"u": torch.ones(3)}, {}, ["u_x"])


def test_fields_of_different_shapes():
    x, _ = xt(n=5)
    with pytest.raises(ShapeError, match="'v' has \\(4,\\), expected \\(5,\\)"):
        autograd_derivatives({"u": torch.sin(x), "v": torch.sin(x[:4])}, {"x": x}, ["u_x"])


def test_docstring_example():
    x = torch.linspace(0, 1, 5, dtype=DT, requires_grad=True)
    d = autograd_derivatives({"u": torch.sin(x)}, {"x": x}, ["u_xx"])
    assert torch.allclose(d["u_xx"], -torch.sin(x))
