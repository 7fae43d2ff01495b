"""Tests of pdelearn.weak: the weak-form system b = G a holds on data with a known exact PDE."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn.errors import ConfigError, DataError
from pdelearn.grid import differentiate
from pdelearn.solvers import burgers
from pdelearn.terms import TermLibrary
from pdelearn.weak import WeakForm, weak_system

#: test functions wide and smooth enough that trapezoid sums are accurate to ~1e-9
ACCURATE = WeakForm(radius=0.2, power=8)


def rel_residual(G, b, a):
    r = b - G @ np.asarray(a, dtype=np.float64)
    return float(np.linalg.norm(r) / np.linalg.norm(b))


def heat_data(nx=128, nt=101, nu=0.5):
    """``u = sum_k exp(-nu k^2 t) sin(k x + 0.3 k) / k`` solves ``u_t = nu u_xx`` on [0, 2 pi)."""
    x = np.linspace(0.0, 2 * np.pi, nx, endpoint=False)
    t = np.linspace(0.0, 1.0, nt)
    u = sum(np.exp(-nu * k * k * t)[None, :] * np.sin(k * x + 0.3 * k)[:, None] / k for k in (1, 2, 3))
    ut = sum(-nu * k * np.exp(-nu * k * k * t)[None, :] * np.sin(k * x + 0.3 * k)[:, None] for k in (1, 2, 3))
    return x, t, u, ut


@pytest.fixture(scope="module")
def burgers_data():
    out = burgers(nx=128, t=np.linspace(0.0, 10.0, 101), dt=0.01)
    return out["x"], out["t"], out["u"]


def columns(G, lib, *keys):
    return [G[:, lib.index(k)] for k in keys]


# ----------------------------------------------------------------------------- exact equations


def test_heat_equation_linear_rule():
    x, t, u, _ = heat_data()
    lib = TermLibrary(["1", "u", "u_x", "u_xx", "u_xxx"], ["u"], ["x"])
    G, b, n_eff = weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], ACCURATE)
    assert G.shape == (b.shape[0], len(lib)) and b.shape[1] == 1
    assert rel_residual(G, b[:, 0], [0, 0, 0, 0.5, 0]) < 1e-6
    # least squares on the whole library finds nu and nothing else
    a = np.linalg.lstsq(G, b[:, 0], rcond=None)[0]
    np.testing.assert_allclose(a, [0, 0, 0, 0.5, 0], atol=1e-6)
    assert 1 <= n_eff <= G.shape[0]


def test_accuracy_improves_with_the_test_function_power():
    x, t, u, _ = heat_data()
    lib = TermLibrary(["u_xx"], ["u"], ["x"])
    errs = []
    for p in (4, 6, 8):
        G, b, _ = weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], WeakForm(radius=0.2, power=p))
        errs.append(rel_residual(G, b[:, 0], [0.5]))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-8


def test_burgers_integration_by_parts_rules(burgers_data):
    x, t, u = burgers_data
    lib = TermLibrary(["u", "u**2", "u_x", "u*u_x", "u**2*u_x", "u_xx", "3*u_xxx"], ["u"], ["x"])
    G, b, _ = weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], ACCURATE)
    a_true = np.zeros(len(lib))
    a_true[lib.index("u*u_x")] = -1.0
    a_true[lib.index("u_xx")] = 0.1
    assert rel_residual(G, b[:, 0], a_true) < 1e-6
    # the same holds with the default test functions, less accurately (trapezoid error ~(dx/h)^p)
    G0, b0, _ = weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"])
    assert rel_residual(G0, b0[:, 0], a_true) < 1e-3


def test_rules_agree_with_direct_quadrature_of_the_term(burgers_data):
    """Each column equals the integral of the term itself, evaluated with spectral derivatives.

    The term values are passed as extra fields (no derivatives: integrated as they are), so both
    sides use the same test functions; only the integration-by-parts rule differs.
    """
    x, t, u = burgers_data
    dx = x[1] - x[0]

    def d(k):
        return differentiate(u, dx, k, axis=0, method="spectral", cutoff=1.0)

    direct = {
        "pa": d(2),  # u_xx: c * d^a w
        "pb": 3 * d(3),  # 3 u_xxx: constant factor
        "pc": u * d(1),  # u u_x = (u^2 / 2)_x
        "pd": u**2 * d(1),  # u^2 u_x = (u^3 / 3)_x
        "pe": u**3,  # no derivative
        "pf": d(1),  # u_x
    }
    terms = ["u_xx", "3*u_xxx", "u*u_x", "u**2*u_x", "u**3", "u_x"]
    fields = ["u", *direct]
    lib = TermLibrary(terms + list(direct), fields, ["x"])
    G, _, _ = weak_system({"u": u, **direct}, {"x": x, "t": t}, lib, ["u_t"], ACCURATE)
    for term, p in zip(terms, direct):
        rule, quad = columns(G, lib, term, p)
        scale = np.max(np.abs(quad))
        assert np.max(np.abs(rule - quad)) < 1e-7 * scale, term


def test_fallback_terms_are_integrated_consistently():
    """``u u_xx`` and ``u_x^2`` have no integration-by-parts rule: smoothed derivatives are used.

    Savitzky-Golay derivatives are accurate to ~2e-5 here (less near the ends of the axis, where
    the first and last test functions reach), so the bound is looser than for the exact rules.
    """
    x, t, u, _ = heat_data(nx=256, nt=101)
    dx = x[1] - x[0]
    ux = differentiate(u, dx, 1, axis=0, method="spectral", cutoff=1.0)
    uxx = differentiate(u, dx, 2, axis=0, method="spectral", cutoff=1.0)
    direct = {"p": u * uxx, "q": ux**2, "r": u**2 * uxx}
    fields = ["u", *direct]
    lib = TermLibrary(["u*u_xx", "u_x**2", "u**2*u_xx", *direct], fields, ["x"])
    G, _, _ = weak_system({"u": u, **direct}, {"x": x, "t": t}, lib, ["u_t"], ACCURATE)
    for term, p in zip(["u*u_xx", "u_x**2", "u**2*u_xx"], direct):
        fallback, quad = columns(G, lib, term, p)
        assert np.max(np.abs(fallback - quad)) < 1e-4 * np.max(np.abs(quad)), term
    # the two fallback columns add up to the integral of (u^2 / 2)_xx = u_x^2 + u u_xx
    lib2 = TermLibrary(["u*u_xx", "u_x**2"], ["u"], ["x"])
    G2, _, _ = weak_system({"u": u}, {"x": x, "t": t}, lib2, ["u_t"], ACCURATE)
    # int phi (u^2 / 2)_xx = int phi (u_x^2 + u u_xx)
    uu_xx = differentiate(u**2 / 2, dx, 2, axis=0, method="spectral", cutoff=1.0)
    lib3 = TermLibrary(["w"], ["w"], ["x"])
    G3, _, _ = weak_system({"w": uu_xx}, {"x": x, "t": t}, lib3, ["w_t"], ACCURATE)
    total = G2[:, 0] + G2[:, 1]
    assert np.max(np.abs(total - G3[:, 0])) < 3e-4 * np.max(np.abs(G3[:, 0]))


def test_time_derivative_matches_direct_quadrature():
    x, t, u, ut = heat_data()
    lib = TermLibrary(["q"], ["u", "q"], ["x"])
    _, b, _ = weak_system({"u": u, "q": ut}, {"x": x, "t": t}, lib, ["u_t"], ACCURATE)
    G, _, _ = weak_system({"u": u, "q": ut}, {"x": x, "t": t}, lib, ["u_t"], ACCURATE)
    np.testing.assert_allclose(b[:, 0], G[:, 0], atol=1e-8 * np.max(np.abs(G)))


def test_two_space_dimensions_and_mixed_derivative():
    """``u = exp(-2 nu t) sin(x + y)``: u_t = nu (u_xx + u_yy) = 2 nu u_xy = -2 nu u."""
    nu = 0.3
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    y = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    t = np.linspace(0, 1, 61)
    X, Y, T = np.meshgrid(x, y, t, indexing="ij")
    u = np.exp(-2 * nu * T) * np.sin(X + Y) + 0.5 * np.exp(-nu * T) * np.cos(X)
    # second mode: u2 = exp(-nu t) cos(x) has u2_t = nu u2_xx, u2_xy = u2_yy = 0
    lib = TermLibrary(["u_xx", "u_yy", "u_xy", "u"], ["u"], ["x", "y"])
    form = WeakForm(radius={"x": 0.25, "y": 0.25, "t": 0.25}, power=8)
    G, b, _ = weak_system({"u": u}, {"x": x, "y": y, "t": t}, lib, ["u_t"], form)
    assert rel_residual(G, b[:, 0], [nu, nu, 0, 0]) < 1e-6
    # u_xy column: direct quadrature of the exact u_xy = -exp(-2 nu t) sin(x + y)
    q = -np.exp(-2 * nu * T) * np.sin(X + Y)
    # u u_y along the second space axis: exact u_y = exp(-2 nu t) cos(x + y)
    r = u * np.exp(-2 * nu * T) * np.cos(X + Y)
    lib_q = TermLibrary(["u_xy", "q", "u*u_y", "r"], ["u", "q", "r"], ["x", "y"])
    Gq, _, _ = weak_system({"u": u, "q": q, "r": r}, {"x": x, "y": y, "t": t}, lib_q, ["u_t"], form)
    np.testing.assert_allclose(Gq[:, 0], Gq[:, 1], atol=1e-7 * np.max(np.abs(Gq[:, 1])))
    np.testing.assert_allclose(Gq[:, 2], Gq[:, 3], atol=1e-7 * np.max(np.abs(Gq[:, 3])))


def test_systems_of_two_fields():
    """``a + i b = exp(i (k x - k^2 t / 2))``: a_t = -0.5 b_xx, b_t = 0.5 a_xx."""
    x = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    t = np.linspace(0, 1, 81)
    phase = 2 * x[:, None] - 2.0 * t[None, :]
    a, bb = np.cos(phase), np.sin(phase)
    lib = TermLibrary(["a_xx", "b_xx", "a", "b"], ["a", "b"], ["x"])
    G, b, _ = weak_system({"a": a, "b": bb}, {"x": x, "t": t}, lib, ["a_t", "b_t"], ACCURATE)
    assert b.shape == (G.shape[0], 2)
    assert rel_residual(G, b[:, 0], [0, -0.5, 0, 0]) < 1e-6
    assert rel_residual(G, b[:, 1], [0.5, 0, 0, 0]) < 1e-6


def test_max_tests_bounds_the_number_of_rows():
    x, t, u, _ = heat_data(nx=256, nt=201)
    lib = TermLibrary(["u_xx"], ["u"], ["x"])
    G, _, _ = weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], WeakForm(max_tests=50))
    assert 0 < G.shape[0] <= 50


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("radius", [0.0, -0.1, 0.6, {"x": 0.7}])
def test_radius_out_of_range(radius):
    x, t, u, _ = heat_data(nx=64, nt=41)
    lib = TermLibrary(["u_xx"], ["u"], ["x"])
    with pytest.raises(ConfigError, match="radius"):
        weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], WeakForm(radius=radius))


def test_power_not_above_the_derivative_order():
    x, t, u, _ = heat_data(nx=64, nt=41)
    lib = TermLibrary(["u_xxx"], ["u"], ["x"])
    with pytest.raises(ConfigError, match="power"):
        weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], WeakForm(power=3))


def test_too_few_points_for_the_test_functions():
    x, t, u, _ = heat_data(nx=64, nt=9)  # half-width >= power + 1 = 5 needs 11 time points
    lib = TermLibrary(["u_xx"], ["u"], ["x"])
    with pytest.raises(DataError, match="too few"):
        weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"])


def test_coordinates_must_match_the_library():
    x, t, u, _ = heat_data(nx=64, nt=41)
    lib = TermLibrary(["u_xx"], ["u"], ["x"])
    with pytest.raises(DataError, match="coordinates"):
        weak_system({"u": u}, {"t": t, "x": x}, lib, ["u_t"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"overlap": 0.0}, "overlap"),
        ({"overlap": -0.5}, "overlap"),
        ({"overlap": float("nan")}, "overlap"),
        ({"max_tests": 0}, "max_tests"),
        ({"max_tests": 2.5}, "max_tests"),
        ({"power": 0}, "power"),
        ({"power": 2.5}, "power"),
    ],
)
def test_bad_weak_form_settings(kwargs, match):
    # overlap 0 or max_tests 0 used to grow the centre spacing until an OverflowError
    with pytest.raises(ConfigError, match=match):
        WeakForm(**kwargs)


def test_non_numeric_radius():
    x, t, u, _ = heat_data(nx=64, nt=41)
    lib = TermLibrary(["u_xx"], ["u"], ["x"])
    with pytest.raises(ConfigError, match="radius"):
        weak_system({"u": u}, {"x": x, "t": t}, lib, ["u_t"], WeakForm(radius="wide"))
