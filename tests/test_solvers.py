"""Tests of the reference ETDRK4 solvers (pdelearn.solvers): exact solutions, convergence order,
reproduction of the published data sets, PDE residuals and input validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import sympy

from pdelearn.errors import ConfigError, DataError, PdelearnError, ShapeError
from pdelearn.solvers import (
    allen_cahn,
    burgers,
    kdv,
    kuramoto_sivashinsky,
    reaction_diffusion,
    solve_periodic_1d,
)
from pdelearn.solvers.etdrk4 import etdrk4_diagonal

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _load(name: str) -> dict:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    return scipy.io.loadmat(path)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _zero(u_hat, k):
    return np.zeros_like(u_hat)


# --------------------------------------------------------------------------------------------------
# exact solutions and convergence
# --------------------------------------------------------------------------------------------------
def test_advection_diffusion_matches_fourier_solution():
    # u_t = nu u_xx - c u_x, N = 0: ETDRK4 is exact for any step.
    nx, length, nu, c = 64, 4.0, 0.05, 0.7
    x = length * np.arange(nx) / nx
    k = 2 * np.pi * np.fft.fftfreq(nx, length / nx)
    u0 = np.exp(np.sin(2 * np.pi * x / length)) + 0.3 * np.cos(6 * np.pi * x / length)
    t = np.array([0.0, 0.5, 1.0, 2.5])
    u = solve_periodic_1d(lambda k: -nu * k**2 - 1j * c * k, _zero, u0, length, t, dt=0.5)
    exact = np.stack(
        [np.fft.ifft(np.fft.fft(u0) * np.exp((-nu * k**2 - 1j * c * k) * tj)).real for tj in t],
        axis=1,
    )
    assert u.shape == (nx, t.size) and u.dtype == np.float64
    assert np.abs(u - exact).max() < 1e-12


def test_heat_equation_single_mode():
    x = 2 * np.pi * np.arange(32) / 32
    t = np.linspace(0.0, 1.0, 11)
    u = solve_periodic_1d(lambda k: -(k**2), _zero, np.sin(3 * x), 2 * np.pi, t, dt=0.1)
    exact = np.sin(3 * x)[:, None] * np.exp(-9 * t)[None, :]
    assert np.abs(u - exact).max() < 1e-13


def test_linear_term_as_nonlinear_is_fourth_order():
    # u_t = -nu u_xx + a u with "a u" handed to the nonlinear slot: exercises the phi-functions.
    nx, nu, a = 32, 0.5, 1.5
    x = 2 * np.pi * np.arange(nx) / nx
    u0 = np.exp(np.sin(x))
    k = np.fft.fftfreq(nx, 1 / nx)
    exact = np.fft.ifft(np.fft.fft(u0) * np.exp(-nu * k**2 + a)).real
    errors = []
    for dt in (0.125, 0.0625, 0.03125):
        u = solve_periodic_1d(
            lambda k: -nu * k**2, lambda uh, k: a * uh, u0, 2 * np.pi, [0.0, 1.0], dt
        )
        errors.append(np.abs(u[:, -1] - exact).max() / np.abs(exact).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[-1] < 1e-7
    assert np.all((ratios > 13) & (ratios < 17)), ratios


def test_burgers_convergence_order_is_four():
    t = np.array([0.0, 2.0])
    ref = burgers(nx=64, t=t, dt=0.2 / 64)["u"][:, -1]
    errors = [_rel(burgers(nx=64, t=t, dt=dt)["u"][:, -1], ref) for dt in (0.1, 0.05, 0.025)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 14) & (ratios < 18)), ratios


def test_kdv_travelling_soliton():
    c, x0, length, nx = 1.0, -10.0, 80.0, 256
    x = -40.0 + length * np.arange(nx) / nx
    t = np.linspace(0.0, 10.0, 6)

    def soliton(tj):
        return c / 2 / np.cosh(np.sqrt(c) / 2 * (x - x0 - c * tj)) ** 2

    def nonlinear(u_hat, k):
        u = np.fft.ifft(u_hat).real
        return -3j * k * np.fft.fft(u * u)

    u = solve_periodic_1d(
        lambda k: 1j * k**3, nonlinear, soliton(0.0), length, t, 0.01, dealias=True
    )
    exact = np.stack([soliton(tj) for tj in t], axis=1)
    assert np.abs(u - exact).max() < 1e-7


def test_core_handles_arbitrary_shapes():
    # two decoupled fields on a 3x4 grid, u_t = lam u + 1: exact affine solution.
    lam = np.array([[-1.0, -2.0, -0.5, -3.0]] * 3)
    lin = np.stack([lam, 2 * lam])
    v0 = np.ones((2, 3, 4), dtype=complex)
    out = etdrk4_diagonal(lin, lambda v: np.ones_like(v), v0, 0.05, [0, 10, 20])
    t = np.array([0.0, 0.5, 1.0])[:, None, None, None]
    exact = np.exp(lin * t) * v0 + (np.exp(lin * t) - 1) / lin
    assert out.shape == (3, 2, 3, 4)
    assert np.abs(out - exact).max() < 1e-9


# --------------------------------------------------------------------------------------------------
# reproduction of the published data sets
# --------------------------------------------------------------------------------------------------
def test_allen_cahn_reproduces_ac_mat():
    data = _load("AC.mat")
    out = allen_cahn()
    assert out["u"].shape == data["uu"].shape == (512, 201)
    np.testing.assert_allclose(out["x"], data["x"].ravel(), atol=1e-14)
    np.testing.assert_allclose(out["t"], data["tt"].ravel(), atol=1e-14)
    assert _rel(out["u"], data["uu"]) < 1e-8
    assert out["equation"] == "u_t = 0.0001*u_xx - 5*u**3 + 5*u"


def test_burgers_matches_burgers_mat():
    data = _load("burgers.mat")
    out = burgers()
    np.testing.assert_allclose(out["x"], data["x"].ravel(), atol=1e-14)
    assert _rel(out["u"], data["usol"].real) < 1e-7  # measured 6.7e-9
    assert out["equation"] == "u_t = -u*u_x + 0.1*u_xx"


def test_kdv_matches_kdv_mat():
    data = _load("kdv.mat")
    out = kdv(dt=0.005)
    ref = data["usol"].real
    np.testing.assert_allclose(out["x"], data["x"].ravel(), atol=1e-14)
    # full grid: limited by the high-wavenumber content of the boundary jump of u0 (~1e-5)
    assert _rel(out["u"], ref) < 5e-5
    keep = (np.abs(np.fft.fftfreq(512) * 512) < 60)[:, None]

    def low(a):
        return np.fft.ifft(np.fft.fft(a, axis=0) * keep, axis=0).real

    assert _rel(low(out["u"]), low(ref)) < 1e-6  # measured 2.7e-7 (5e-10 at the default dt)
    assert out["equation"] == "u_t = -6*u*u_x - u_xxx"


def test_kuramoto_sivashinsky_matches_mat():
    data = _load("kuramoto_sivishinky.mat")
    out = kuramoto_sivashinsky()
    np.testing.assert_allclose(out["x"], data["x"].ravel(), atol=1e-12)
    assert _rel(out["u"], data["uu"]) < 1e-9  # measured 2e-12: same scheme and step
    assert out["equation"] == "u_t = -u*u_x - u_xx - u_xxxx"


# --------------------------------------------------------------------------------------------------
# reaction-diffusion
# --------------------------------------------------------------------------------------------------
def test_reaction_diffusion_layout_and_bounds():
    out = reaction_diffusion()
    n, nt = 64, 101
    assert out["u"].shape == out["v"].shape == (n, n, nt)
    assert out["x"].shape == out["y"].shape == (n,) and out["t"].shape == (nt,)
    x, y = out["x"][:, None], out["y"][None, :]
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    np.testing.assert_allclose(out["u"][:, :, 0], np.tanh(r) * np.cos(theta - r), atol=1e-14)
    np.testing.assert_allclose(out["v"][:, :, 0], np.tanh(r) * np.sin(theta - r), atol=1e-14)
    amplitude = np.sqrt(out["u"] ** 2 + out["v"] ** 2)
    assert np.all(np.isfinite(amplitude)) and amplitude.max() < 1.1


def test_reaction_diffusion_satisfies_pde():
    n, dt, d1, d2, beta = 32, 0.01, 0.1, 0.15, 1.3
    tc = 1.0
    t = np.array([0.0, tc - 2 * dt, tc - dt, tc, tc + dt, tc + 2 * dt])
    out = reaction_diffusion(n=n, t=t, dt=dt, d1=d1, d2=d2, beta=beta)
    k = 2 * np.pi * np.fft.fftfreq(n, 20.0 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2

    def laplacian(f):
        return np.fft.ifft2(-k2 * np.fft.fft2(f)).real

    def d_dt(f):  # 4th-order central difference at t = tc
        return (f[..., 1] - 8 * f[..., 2] + 8 * f[..., 4] - f[..., 5]) / (12 * dt)

    u, v = out["u"][..., 3], out["v"][..., 3]
    a2 = u**2 + v**2
    res_u = d_dt(out["u"]) - (d1 * laplacian(u) + (1 - a2) * u + beta * a2 * v)
    res_v = d_dt(out["v"]) - (d2 * laplacian(v) - beta * a2 * u + (1 - a2) * v)
    scale = np.abs(d_dt(out["u"])).max()
    assert np.abs(res_u).max() / scale < 1e-5
    assert np.abs(res_v).max() / scale < 1e-5


def test_reaction_diffusion_equation_strings():
    u, v = sympy.symbols("u v")
    names = {s: sympy.Symbol(s) for s in ("u", "v", "u_xx", "u_yy", "v_xx", "v_yy")}
    for d1, d2, beta in [(0.1, 0.1, 1.0), (0.2, 0.05, 0.5)]:
        eq_u, eq_v = reaction_diffusion(n=8, t=[0.0], dt=0.1, d1=d1, d2=d2, beta=beta)["equation"]
        a2 = u**2 + v**2
        uxx, uyy, vxx, vyy = (names[s] for s in ("u_xx", "u_yy", "v_xx", "v_yy"))
        want_u = d1 * (uxx + uyy) + (1 - a2) * u + beta * a2 * v
        want_v = d2 * (vxx + vyy) - beta * a2 * u + (1 - a2) * v
        for text, lhs, want in [(eq_u, "u_t", want_u), (eq_v, "v_t", want_v)]:
            left, right = (s.strip() for s in text.split("="))
            assert left == lhs
            got = sympy.sympify(right, locals=names)
            assert sympy.expand(got - want) == 0, text
    defaults = reaction_diffusion(n=8, t=[0.0], dt=0.1)["equation"]
    assert defaults == [
        "u_t = 0.1*u_xx + 0.1*u_yy + u - u**3 + u**2*v - u*v**2 + v**3",
        "v_t = 0.1*v_xx + 0.1*v_yy + v - u**3 - u**2*v - u*v**2 - v**3",
    ]


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------
X16 = np.sin(2 * np.pi * np.arange(16) / 16)


def _solve(**overrides):
    args = dict(
        linear=lambda k: -(k**2), nonlinear=_zero, u0=X16, length=1.0, t_eval=[0.0, 0.1], dt=0.05
    )
    args.update(overrides)
    return solve_periodic_1d(**args)


@pytest.mark.parametrize(
    "overrides, error, words",
    [
        ({"u0": X16.reshape(4, 4)}, ShapeError, "1-D"),
        ({"u0": X16[:2]}, ShapeError, "at least 4"),
        ({"t_eval": [[0.0, 0.1]]}, ShapeError, "1-D"),
        ({"t_eval": []}, ShapeError, "non-empty"),
        ({"u0": np.where(np.arange(16) == 3, np.nan, X16)}, DataError, "index 3"),
        ({"u0": X16 + 0j}, DataError, "real"),
        ({"t_eval": [0.0, np.nan]}, DataError, "finite"),
        ({"t_eval": [0.1, 0.2]}, DataError, "start at 0"),
        ({"t_eval": [0.0, 0.2, 0.1]}, DataError, "increasing"),
        ({"t_eval": [0.0, 0.125]}, ConfigError, "dt = 0.05"),
        ({"dt": 0.0}, ConfigError, "dt"),
        ({"dt": -0.1}, ConfigError, "dt"),
        ({"dt": float("nan")}, ConfigError, "dt"),
        ({"length": 0.0}, ConfigError, "length"),
        ({"linear": 3.0}, ConfigError, "callable"),
        ({"nonlinear": None}, ConfigError, "callable"),
        ({"dealias": "yes"}, ConfigError, "dealias"),
        ({"linear": lambda k: k[:3]}, ShapeError, "linear(k)"),
        ({"linear": lambda k: np.full(k.shape, np.inf)}, DataError, "linear(k)"),
        ({"nonlinear": lambda uh, k: uh[:4]}, ShapeError, "nonlinear"),
        (
            {
                "linear": lambda k: 0 * k,
                "nonlinear": lambda uh, k: np.fft.fft(np.fft.ifft(uh).real ** 2) * 50,
                "u0": X16 + 2,
                "t_eval": [0.0, 1.0],
            },
            ConfigError,
            "reduce dt",
        ),
    ],
)
def test_solve_periodic_1d_validation(overrides, error, words):
    with pytest.raises(error) as info:
        _solve(**overrides)
    assert isinstance(info.value, PdelearnError)
    message = str(info.value)
    assert words in message
    assert "received" in message or "became" in message


def test_t_eval_multiples_within_rounding_accepted():
    u = _solve(t_eval=np.linspace(0.0, 0.3, 7), dt=0.05)  # 0.05*k in floating point
    assert u.shape == (16, 7)
    np.testing.assert_allclose(u[:, -1], X16 * np.exp(-((2 * np.pi) ** 2) * 0.3), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n": 2}, ConfigError),
        ({"n": 16.0}, ConfigError),
        ({"dt": 0.0}, ConfigError),
        ({"L": -1.0}, ConfigError),
        ({"beta": float("nan")}, ConfigError),
        ({"t": [0.0, 0.07]}, ConfigError),
        ({"t": [0.5, 1.0]}, DataError),
    ],
)
def test_reaction_diffusion_validation(kwargs, error):
    args = {"n": 8, "t": [0.0, 0.1], "dt": 0.05}
    args.update(kwargs)
    with pytest.raises(error):
        reaction_diffusion(**args)


@pytest.mark.parametrize("solver", [allen_cahn, burgers, kdv, kuramoto_sivashinsky])
def test_convenience_validation(solver):
    with pytest.raises(ConfigError, match="nx"):
        solver(nx=1)
    with pytest.raises(ConfigError, match="dt"):
        solver(nx=16, t=[0.0, 0.1], dt=-1.0)
