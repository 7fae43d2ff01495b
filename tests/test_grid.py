"""Tests of pdelearn.grid.differentiate against analytic derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from pdelearn.errors import ConfigError
from pdelearn.grid import METHODS, differentiate

_X = sympy.Symbol("x")
_F = sympy.exp(sympy.sin(_X))  # smooth, 2 pi-periodic, not band-limited
_DERIVS = [sympy.lambdify(_X, sympy.diff(_F, _X, k), "numpy") for k in range(5)]


def periodic_grid(n: int, length: float = 2 * np.pi):
    x = np.linspace(0.0, length, n, endpoint=False)
    return x, x[1] - x[0]


def rel_err(approx, exact, where=slice(None)):
    """Max error over ``where`` relative to the max of the exact derivative."""
    return float(np.max(np.abs(approx[where] - exact[where])) / np.max(np.abs(exact)))


# ------------------------------------------------------------------------------------ spectral


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_spectral_is_accurate_to_rounding(order):
    x, dx = periodic_grid(128)
    d = differentiate(_DERIVS[0](x), dx, order, method="spectral")
    # FFT rounding grows with (n/2)^order; the truncated modes are below 1e-40
    assert rel_err(d, _DERIVS[order](x)) < 1e-13 * 64.0 ** (order - 1)


def test_spectral_on_a_non_2pi_domain_and_a_trig_polynomial():
    length = 16.0
    x, dx = periodic_grid(64, length)
    k = 2 * np.pi / length
    u = np.sin(3 * k * x) + 0.5 * np.cos(5 * k * x)
    # d^3/dx^3 sin(ax) = -a^3 cos(ax); d^3/dx^3 cos(ax) = a^3 sin(ax)
    exact = -((3 * k) ** 3) * np.cos(3 * k * x) + 0.5 * (5 * k) ** 3 * np.sin(5 * k * x)
    np.testing.assert_allclose(differentiate(u, dx, 3, method="spectral"), exact, atol=1e-11 * np.max(np.abs(exact)))


def test_spectral_low_pass_default_cutoff_removes_modes_above_two_thirds_nyquist():
    n = 128  # Nyquist wavenumber 64; default cutoff keeps |k| <= 42.67
    x, dx = periodic_grid(n)
    u = np.sin(3 * x) + 0.1 * np.sin(50 * x)
    d = differentiate(u, dx, 1, method="spectral")
    np.testing.assert_allclose(d, 3 * np.cos(3 * x), atol=1e-12)


def test_spectral_cutoff_one_keeps_all_modes_and_small_cutoff_removes_more():
    n = 128
    x, dx = periodic_grid(n)
    u = np.sin(3 * x) + 0.1 * np.sin(50 * x)
    full = differentiate(u, dx, 1, method="spectral", cutoff=1.0)
    np.testing.assert_allclose(full, 3 * np.cos(3 * x) + 5 * np.cos(50 * x), atol=1e-11)
    # cutoff 0.04 * 64 = 2.56: only k = 0, 1, 2 survive, so sin(3x) is removed as well
    low = differentiate(u + 2.0, dx, 1, method="spectral", cutoff=0.04)
    np.testing.assert_allclose(low, 0.0, atol=1e-12)
    kept = differentiate(np.sin(2 * x) + np.sin(3 * x), dx, 2, method="spectral", cutoff=0.04)
    np.testing.assert_allclose(kept, -4 * np.sin(2 * x), atol=1e-11)


def test_spectral_along_an_axis_of_a_2d_array():
    x, dx = periodic_grid(64)
    t = np.linspace(0, 1, 7)
    u = np.sin(2 * x)[:, None] * np.exp(-t)[None, :]
    d = differentiate(u, dx, 2, axis=0, method="spectral")
    np.testing.assert_allclose(d, -4 * u, atol=1e-11)
    dt = differentiate(u.T, dx, 2, axis=1, method="spectral")
    np.testing.assert_allclose(dt, -4 * u.T, atol=1e-11)


# ------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("order, bound", [(1, 2e-3), (2, 5e-3)])
def test_fd_low_orders_everywhere(order, bound):
    x, dx = periodic_grid(128)
    d = differentiate(_DERIVS[0](x), dx, order, method="fd")
    assert rel_err(d, _DERIVS[order](x)) < bound


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_fd_is_second_order_in_the_interior(order):
    errs = []
    for n in (128, 256, 512):
        x, dx = periodic_grid(n)
        d = differentiate(_DERIVS[0](x), dx, order, method="fd")
        errs.append(rel_err(d, _DERIVS[order](x), slice(n // 8, -n // 8)))
    assert errs[-1] < 1e-3
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(rates > 1.8), (errs, rates)


def test_fd_is_exact_for_quadratics_including_the_ends():
    x = np.linspace(-1.0, 2.0, 31)
    dx = x[1] - x[0]
    u = 3 * x**2 - x + 2
    np.testing.assert_allclose(differentiate(u, dx, 1, method="fd"), 6 * x - 1, atol=1e-11)
    np.testing.assert_allclose(differentiate(u, dx, 2, method="fd"), 6.0, atol=1e-10)


# --------------------------------------------------------------------------------- smoothing


@pytest.mark.parametrize("order, bound, interior_bound", [(1, 1e-4, 5e-5), (2, 1e-4, 5e-5), (3, 1e-3, 1e-4), (4, 1e-3, 1e-4)])
def test_smooth_vs_analytic(order, bound, interior_bound):
    n = 256
    x, dx = periodic_grid(n)
    d = differentiate(_DERIVS[0](x), dx, order, method="smooth")
    exact = _DERIVS[order](x)
    assert rel_err(d, exact) < bound
    assert rel_err(d, exact, slice(n // 8, -n // 8)) < interior_bound


def test_smooth_is_exact_for_polynomials_of_its_degree():
    # degree order + 3 = 5 for order 2; the Savitzky-Golay fit reproduces it exactly
    x = np.linspace(0.0, 1.0, 101)
    dx = x[1] - x[0]
    u = x**5 - 2 * x**3 + x
    d = differentiate(u, dx, 2, method="smooth", window=11)
    np.testing.assert_allclose(d, 20 * x**3 - 12 * x, atol=1e-8)


def test_smooth_averages_noise_better_than_fd():
    rng = np.random.default_rng(0)
    x, dx = periodic_grid(512)
    u = np.sin(x) + 1e-3 * rng.standard_normal(x.size)
    inner = slice(32, -32)
    e_fd = rel_err(differentiate(u, dx, 1, method="fd"), np.cos(x), inner)
    e_sm = rel_err(differentiate(u, dx, 1, method="smooth"), np.cos(x), inner)
    assert e_sm < e_fd / 5


# ------------------------------------------------------------------------------ misc, errors


@pytest.mark.parametrize("method", METHODS)
def test_order_zero_returns_a_float64_copy(method):
    u = np.arange(10, dtype=np.int64)
    out = differentiate(u, 0.1, 0, method=method)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, u)
    v = np.linspace(0, 1, 10)
    w = differentiate(v, 0.1, 0, method=method)
    w[0] = 99.0
    assert v[0] == 0.0


def test_unknown_method():
    with pytest.raises(ConfigError, match="unknown differentiation method"):
        differentiate(np.zeros(16), 0.1, 1, method="chebyshev")


@pytest.mark.parametrize("order", [-1, 1.5, "2"])
def test_bad_order(order):
    with pytest.raises(ConfigError, match="order"):
        differentiate(np.zeros(16), 0.1, order)


def test_window_longer_than_axis():
    with pytest.raises(ConfigError, match="window"):
        differentiate(np.zeros(20), 0.1, 1, method="smooth", window=31)
    # the default window (at least order + 5 points, made odd) also has to fit
    with pytest.raises(ConfigError, match="window"):
        differentiate(np.zeros(8), 0.1, 4, method="smooth")


@pytest.mark.parametrize("order, window", [(3, 3), (4, 3), (2, 1)])
def test_window_too_short_for_the_order(order, window):
    # a Savitzky-Golay fit of degree < order would return zeros without complaint
    x, dx = periodic_grid(64)
    with pytest.raises(ConfigError, match="too short"):
        differentiate(np.sin(x), dx, order, method="smooth", window=window)


@pytest.mark.parametrize("dx", [0.0, -0.1, np.nan, np.inf])
def test_bad_spacing(dx):
    with pytest.raises(ConfigError, match="dx"):
        differentiate(np.zeros(16), dx, 1, method="spectral")


@pytest.mark.parametrize("cutoff", [0.0, -0.5, np.nan])
def test_bad_cutoff(cutoff):
    with pytest.raises(ConfigError, match="cutoff"):
        differentiate(np.zeros(16), 0.1, 1, method="spectral", cutoff=cutoff)
