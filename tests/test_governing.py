"""Tests of pdelearn.governing: the residual of a (learned or known) governing equation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdelearn.autodiff import autograd_derivatives
from pdelearn.equation import Equation, EquationSystem
from pdelearn.errors import DataError, ShapeError
from pdelearn.governing import GoverningEquation
from pdelearn.terms import TermLibrary, polynomial_library

DT = torch.float64
AC = "u_t = 0.0001*u_xx - 5*u**3 + 5*u"
BURGERS = "u_t = 0.1*u_xx - u*u_x"


def points(n=64, lo=-1.0, hi=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (lo + (hi - lo) * torch.rand(n, generator=g, dtype=DT)).requires_grad_(True)
    t = torch.rand(n, generator=g, dtype=DT).requires_grad_(True)
    return x, t


def residual_on(eq_text, fields, coords, names):
    g = GoverningEquation.from_equation(Equation.parse(eq_text))
    d = autograd_derivatives(fields, coords, names)
    return g, g.residual(d)


# ------------------------------------------------------------------------------- exact solutions


def test_heat_equation_exact_solution_has_zero_residual():
    x, t = points()
    u = torch.exp(-0.1 * t) * torch.sin(x)
    g, r = residual_on("u_t = 0.1*u_xx", {"u": u}, {"x": x, "t": t}, ["u_t", "u_xx"])
    assert r.shape == (64, 1)
    assert r.abs().max().item() < 1e-12
    # and a wrong coefficient is detected
    wrong = GoverningEquation.from_equation(Equation.parse("u_t = 0.2*u_xx"))
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_t", "u_xx"])
    assert wrong.residual(d).abs().max().item() > 1e-2


def test_burgers_traveling_wave_has_zero_residual():
    # u = c - a tanh(a (x - c t) / (2 nu)) solves u_t + u u_x = nu u_xx exactly
    nu, a, c = 0.1, 1.0, 0.5
    x, t = points(seed=1)
    u = c - a * torch.tanh(a * (x - c * t) / (2 * nu))
    g, r = residual_on(BURGERS, {"u": u}, {"x": x, "t": t}, ["u_t", "u_x", "u_xx"])
    assert r.abs().max().item() < 1e-12
    # the terms themselves are not small, so this is a real cancellation
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_t"])
    assert d["u_t"].abs().max().item() > 0.5


def test_manufactured_inviscid_burgers():
    x, t = points(seed=2)
    u = x / (1 + t)  # u_t = -u u_x
    g, r = residual_on("u_t = -u*u_x", {"u": u}, {"x": x, "t": t}, ["u_t", "u_x"])
    assert r.abs().max().item() < 1e-14
    # u_xx of this solution is zero, so the viscous form holds too
    g2, r2 = residual_on(BURGERS, {"u": u}, {"x": x, "t": t}, ["u_t", "u_x", "u_xx"])
    assert r2.abs().max().item() < 1e-14


def test_allen_cahn_standing_kink_has_zero_residual():
    # 1e-4 u'' + 5 u - 5 u^3 = 0 for u = tanh(k x), k^2 = 5 / (2e-4)
    k = math.sqrt(5 / 2e-4)
    x, t = points(lo=-0.02, hi=0.02, seed=3)
    u = torch.tanh(k * x)
    g, r = residual_on(AC, {"u": u}, {"x": x, "t": t}, ["u_t", "u_xx"])
    assert r.abs().max().item() < 1e-12
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_xx"])
    assert (1e-4 * d["u_xx"]).abs().max().item() > 0.5  # diffusion balances a large reaction


def test_allen_cahn_spatially_uniform_solution_has_zero_residual():
    # u' = 5 u (1 - u^2) is solved by u = (1 + C exp(-10 t))^(-1/2); u_xx = 0
    x, t = points(seed=4)
    u = (1 + 3.0 * torch.exp(-10 * t)) ** -0.5
    d = autograd_derivatives({"u": u}, {"x": x, "t": t}, ["u_t"])
    d["u_xx"] = torch.zeros_like(u)
    g = GoverningEquation.from_equation(Equation.parse(AC))
    r = g.residual(d)
    assert r.abs().max().item() < 1e-13
    assert d["u_t"].abs().max().item() > 0.1


def test_two_field_system_residual_shape_and_value():
    # a + i b = exp(i (k x - w t)) with w = k^2 / 2 solves a_t = -0.5 b_xx, b_t = 0.5 a_xx
    kk = 1.5
    w = 0.5 * kk**2
    x, t = points(n=40, seed=5)
    a = torch.cos(kk * x - w * t)
    b = torch.sin(kk * x - w * t)
    sys_ = EquationSystem.parse(["a_t = -0.5*b_xx", "b_t = 0.5*a_xx"])
    g = GoverningEquation.from_equation(sys_)
    assert g.lhs == ("a_t", "b_t")
    assert g.library.keys == ["b_xx", "a_xx"]
    np.testing.assert_array_equal(g.coefficients.numpy(), [[-0.5, 0.0], [0.0, 0.5]])
    d = autograd_derivatives({"a": a, "b": b}, {"x": x, "t": t}, g.required)
    r = g.residual(d)
    assert r.shape == (40, 2)
    assert r.abs().max().item() < 1e-12
    assert isinstance(g.equation(), EquationSystem)
    assert str(g) == "a_t = -0.5 b_xx\nb_t = 0.5 a_xx"


def test_residual_by_hand():
    g = GoverningEquation.from_equation(Equation.parse(BURGERS))
    d = {
        "u": torch.tensor([2.0, -1.0], dtype=DT),
        "u_x": torch.tensor([3.0, 0.5], dtype=DT),
        "u_xx": torch.tensor([10.0, 4.0], dtype=DT),
        "u_t": torch.tensor([1.0, 1.0], dtype=DT),
    }
    expected = d["u_t"] - (0.1 * d["u_xx"] - d["u"] * d["u_x"])
    torch.testing.assert_close(g.residual(d)[:, 0], expected, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(g.features(d), torch.stack([d["u_xx"], d["u"] * d["u_x"]], -1))


# ------------------------------------------------------------------------------- construction


def test_defaults():
    lib = polynomial_library()
    g = GoverningEquation(lib)
    assert g.lhs == ("u_t",)
    assert g.coefficients.shape == (16, 1) and g.coefficients.dtype == DT
    assert torch.equal(g.coefficients.detach(), torch.zeros(16, 1, dtype=DT))
    assert g.mask.dtype == torch.bool and bool(g.mask.all())
    assert g.required == ("u", "u_x", "u_xx", "u_xxx", "u_t")
    assert str(g) == "u_t = 0"
    assert "16 terms, lhs=['u_t']" in repr(g)
    g2 = GoverningEquation(polynomial_library("u v", "x", 1, 1))
    assert g2.lhs == ("u_t", "v_t") and g2.coefficients.shape == (len(g2.library), 2)


def test_trainable_vs_buffer():
    lib = polynomial_library("u", "x", 1, 1)
    trainable = GoverningEquation(lib, trainable=True)
    assert isinstance(trainable.coefficients, torch.nn.Parameter)
    assert [n for n, _ in trainable.named_parameters()] == ["coefficients"]
    assert "mask" in dict(trainable.named_buffers())
    fixed = GoverningEquation(lib, trainable=False)
    assert list(fixed.parameters()) == []
    assert set(dict(fixed.named_buffers())) == {"coefficients", "mask"}
    assert not fixed.coefficients.requires_grad
    assert "coefficients" in fixed.state_dict()
    known = GoverningEquation.from_equation(Equation.parse(BURGERS))
    assert list(known.parameters()) == []
    assert list(GoverningEquation.from_equation(Equation.parse(BURGERS), trainable=True).parameters())


def test_initial_coefficients_are_copied_and_float64():
    lib = polynomial_library("u", "x", 1, 1)
    init = np.array([1, 2, 3, 4], dtype=np.float32)
    g = GoverningEquation(lib, coefficients=init)
    assert g.coefficients.dtype == DT and g.coefficients.shape == (4, 1)
    init[0] = 100
    assert g.coefficients[0, 0].item() == 1.0
    t = torch.ones(4, 1, dtype=DT)
    g2 = GoverningEquation(lib, coefficients=t)
    with torch.no_grad():
        g2.coefficients.mul_(2)
    assert torch.equal(t, torch.ones(4, 1, dtype=DT))


@pytest.mark.parametrize("shape", [(3,), (5,), (4, 2), (2, 4), (4, 1, 1)])
def test_coefficient_shape_errors(shape):
    lib = polynomial_library("u", "x", 1, 1)  # 4 terms, 1 equation
    with pytest.raises(ShapeError, match=r"coefficients must have shape \(n_terms, n_eq\) = \(4, 1\)"):
        GoverningEquation(lib, coefficients=np.zeros(shape))


def test_coefficient_shape_for_two_equations():
    lib = polynomial_library("u v", "x", 1, 1)
    n = len(lib)
    GoverningEquation(lib, coefficients=np.zeros((n, 2)))
    with pytest.raises(ShapeError, match=f"= \\({n}, 2\\)"):  # one column given, two equations
        GoverningEquation(lib, coefficients=np.zeros(n))
    with pytest.raises(ShapeError, match=f"= \\({n}, 1\\), received \\({n}, 2\\)"):
        GoverningEquation(lib, lhs=["u_t"], coefficients=np.zeros((n, 2)))


# ------------------------------------------------------------------------------- mask / readout


def test_set_mask_zeroes_terms_and_readout_drops_them():
    lib = polynomial_library()
    rng = np.random.default_rng(0)
    coef = rng.normal(size=16)
    g = GoverningEquation(lib, coefficients=coef)
    mask = np.zeros(16, dtype=bool)
    mask[[lib.index("u_xx"), lib.index("u*u_x"), lib.index("u")]] = True
    g.set_mask(mask)
    assert torch.equal(g.mask[:, 0], torch.from_numpy(mask))
    c = g.coefficients.detach()[:, 0].numpy()
    np.testing.assert_array_equal(c[~mask], 0.0)
    np.testing.assert_array_equal(c[mask], coef[mask])
    eq = g.equation()
    assert set(eq.coefficients) == {"u_xx", "u*u_x", "u"}
    assert eq.coefficients["u_xx"] == coef[lib.index("u_xx")]
    # the residual only uses the kept terms
    d = {n: torch.from_numpy(rng.uniform(0.5, 1.5, 9)) for n in g.required}
    theta = g.features(d)
    expected = d["u_t"] - theta[:, mask] @ torch.from_numpy(coef[mask])
    torch.testing.assert_close(g.residual(d)[:, 0], expected, rtol=1e-13, atol=1e-13)


def test_mask_blocks_terms_even_if_coefficients_change():
    lib = polynomial_library("u", "x", 1, 1)
    g = GoverningEquation(lib, coefficients=np.ones(4))
    g.set_mask(torch.tensor([True, False, True, False]))
    with torch.no_grad():
        g.coefficients.fill_(2.0)  # e.g. an optimizer step
    np.testing.assert_array_equal(g.active.detach()[:, 0].numpy(), [2, 0, 2, 0])
    assert g.equation().coefficients == {"1": 2.0, "u_x": 2.0}
    assert g.l1().item() == 4.0


def test_set_mask_shape_error():
    g = GoverningEquation(polynomial_library("u", "x", 1, 1))
    with pytest.raises(ShapeError, match=r"mask must have shape \(4, 1\), received \(3, 1\)"):
        g.set_mask(np.ones(3, dtype=bool))
    with pytest.raises(ShapeError, match="mask must have shape"):
        g.set_mask(np.ones((4, 2), dtype=bool))


def test_equation_readout_threshold():
    lib = polynomial_library("u", "x", 1, 1)
    g = GoverningEquation(lib, coefficients=[1e-6, -0.5, 0.0, 2.0])
    assert str(g.equation()) == "u_t = 1e-06 - 0.5 u + 2 u u_x"
    assert str(g.equation(digits_zero=1e-3)) == "u_t = -0.5 u + 2 u u_x"
    assert str(g.equation(digits_zero=1.0)) == "u_t = 2 u u_x"


def test_from_equation_round_trips_the_equation():
    for text in (AC, BURGERS, "u_t = 0.1*u_xx + 0.2*u_yy - u*u_xy + 3"):
        eq = Equation.parse(text)
        g = GoverningEquation.from_equation(eq)
        assert g.equation() == eq
        assert str(g) == str(eq)
    assert str(GoverningEquation.from_equation(Equation.parse(BURGERS))) == "u_t = 0.1 u_xx - 1 u u_x"


def test_l1():
    lib = polynomial_library("u", "x", 1, 1)
    g = GoverningEquation(lib, coefficients=[1.0, -2.0, 0.5, -0.25])
    assert g.l1().item() == 3.75
    g.set_mask([True, False, True, True])
    assert g.l1().item() == 1.75
    g.l1().backward()
    np.testing.assert_array_equal(g.coefficients.grad[:, 0].numpy(), [1.0, 0.0, 1.0, -1.0])


# ------------------------------------------------------------------------------- gradients


class _Residual(GoverningEquation):
    def forward(self, derivatives):
        return self.residual(derivatives)


def test_gradcheck_residual_wrt_coefficients():
    lib = polynomial_library("u", "x", 2, 2)
    rng = np.random.default_rng(1)
    g = _Residual(lib, coefficients=rng.normal(size=len(lib)))
    g.set_mask(rng.random(len(lib)) > 0.3)
    d = {n: torch.from_numpy(rng.uniform(-1, 1, 6)) for n in g.required}
    c0 = g.coefficients.detach().clone().requires_grad_(True)

    def f(c):
        return torch.func.functional_call(g, {"coefficients": c}, (d,))

    assert torch.autograd.gradcheck(f, (c0,), eps=1e-6, atol=1e-9)


def test_residual_gradient_matches_analytic():
    lib = polynomial_library("u", "x", 2, 1)
    rng = np.random.default_rng(2)
    g = GoverningEquation(lib, coefficients=rng.normal(size=len(lib)))
    mask = np.array([True, True, False, True, False, True])
    g.set_mask(mask)
    d = {n: torch.from_numpy(rng.uniform(-1, 1, 7)) for n in g.required}
    w = torch.from_numpy(rng.normal(size=(7, 1)))
    (g.residual(d) * w).sum().backward()
    theta = g.features(d).detach()
    expected = -(theta.T @ w) * torch.from_numpy(mask)[:, None]
    torch.testing.assert_close(g.coefficients.grad, expected, rtol=1e-13, atol=1e-13)


def test_gradcheck_residual_wrt_derivatives():
    g = GoverningEquation.from_equation(Equation.parse(AC))
    names = g.required
    rng = np.random.default_rng(3)
    inputs = tuple(torch.from_numpy(rng.uniform(-1, 1, 5)).requires_grad_(True) for _ in names)
    assert torch.autograd.gradcheck(lambda *a: g.residual(dict(zip(names, a))), inputs)


# ------------------------------------------------------------------------------- errors / dtype


def test_missing_left_hand_side():
    g = GoverningEquation.from_equation(Equation.parse(BURGERS))
    d = {n: torch.ones(3, dtype=DT) for n in ("u", "u_x", "u_xx")}
    with pytest.raises(DataError, match=r"left-hand side\(s\) \['u_t'\]"):
        g.residual(d)


def test_missing_library_input():
    g = GoverningEquation.from_equation(Equation.parse(BURGERS))
    d = {n: torch.ones(3, dtype=DT) for n in ("u", "u_x", "u_t")}
    with pytest.raises(DataError, match=r"missing \['u_xx'\]"):
        g.residual(d)


def test_mismatched_shapes():
    g = GoverningEquation.from_equation(Equation.parse(BURGERS))
    d = {"u": torch.ones(3), "u_x": torch.ones(3), "u_xx": torch.ones(4), "u_t": torch.ones(3)}
    with pytest.raises(ShapeError):
        g.residual(d)


def test_float32_derivatives_give_float32_residual():
    g = GoverningEquation.from_equation(Equation.parse(BURGERS))
    d = {n: torch.full((4,), 0.5, dtype=torch.float32) for n in g.required}
    r = g.residual(d)
    assert r.dtype == torch.float32
    torch.testing.assert_close(r, torch.full((4, 1), 0.5 - (0.05 - 0.25), dtype=torch.float32))


def test_custom_library_governing_equation():
    lib = TermLibrary(["sin(x)*u", "u_xx"], ["u"], ["x"])
    g = GoverningEquation(lib, coefficients=[2.0, 0.5])
    assert g.required == ("u", "u_xx", "x", "u_t")
    x = torch.tensor([0.3, 1.0], dtype=DT)
    d = {"u": torch.tensor([1.0, 2.0], dtype=DT), "u_xx": torch.tensor([4.0, -2.0], dtype=DT), "x": x,
         "u_t": torch.zeros(2, dtype=DT)}  # fmt: skip
    expected = -(2.0 * torch.sin(x) * d["u"] + 0.5 * d["u_xx"])
    torch.testing.assert_close(g.residual(d)[:, 0], expected, rtol=1e-15, atol=1e-15)
    assert str(g) == "u_t = 2 u sin(x) + 0.5 u_xx"
