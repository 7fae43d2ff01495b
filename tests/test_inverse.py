"""Output-error identification (pdelearn.inverse): recovery of known parameters and initial states
from gridded and sampled data, standard errors against the scatter over noise draws, the nested
F-test, and the errors for data or equations it cannot take."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn.equation import Equation
from pdelearn.errors import ConfigError, DataError, ShapeError, TrainingError
from pdelearn.inverse import f_test, fit_output_error, grid_layout
from pdelearn.parametrized import parametrize
from pdelearn.solvers.equation import simulate_equation
from pdelearn.stats import f_pvalue, nested_f

TRUTH = "u_t = -u*u_x + 0.08*u_xx"
NX, LENGTH = 32, 2 * np.pi


def _data(text: str = TRUTH, t_end: float = 1.0, nt: int = 11) -> dict:
    x = LENGTH * np.arange(NX) / NX
    t = np.linspace(0.0, t_end, nt)
    u = simulate_equation(Equation.parse(text), x, t, np.sin(x) + 0.5 * np.cos(2 * x) + 0.2, dt=0.01)
    return {"x": x, "t": t, "u": u}


def _samples(d: dict, n: int, noise: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    idx = rng.choice(d["u"].size, n, replace=False)
    i, j = np.unravel_index(idx, d["u"].shape)
    return {"x": d["x"][i], "t": d["t"][j], "u": d["u"][i, j] + noise * d["u"].std() * rng.standard_normal(n)}


def test_recovers_parameters_and_initial_state_from_clean_grid_data():
    d = _data()
    fit = fit_output_error(d, "u_t = -l1*u*u_x + l2*u_xx", {"l1": 0.7, "l2": 0.05}, ic_modes=4, dt=0.01)
    assert fit.converged, fit.message
    assert abs(fit.parameters["l1"] - 1.0) < 1e-6 and abs(fit.parameters["l2"] - 0.08) < 1e-7
    assert np.allclose(fit.u0, d["u"][:, 0], atol=1e-6)
    assert fit.rel_misfit < 1e-6 and fit.n == d["u"].size and fit.n_unknowns == 2 + 7
    assert str(fit.equation) == "u_t = -1 u u_x + 0.08 u_xx"


def test_noisy_samples_errors_match_the_standard_errors():
    d = _data()
    z = []
    for seed in range(4):
        s = _samples(d, 200, 0.05, seed)
        fit = fit_output_error(s, Equation.parse("u_t = -0.8*u*u_x + 0.1*u_xx"), ic_modes=4, dt=0.01)
        assert fit.converged, fit.message
        truth = {"u u_x": -1.0, "u_xx": 0.08}
        z += [(fit.parameters[k] - v) / fit.std_errors[k] for k, v in truth.items()]
        lo, hi = fit.equation.intervals["u_xx"]
        assert lo < fit.parameters["u_xx"] < hi
    z = np.abs(z)
    assert z.max() < 4.0 and 0.2 < np.sqrt(np.mean(z**2)) < 2.0  # standard errors of the right size


def test_f_test_separates_needed_and_spurious_terms():
    s = _samples(_data(), 300, 0.02, seed=11)
    opts = {"ic_modes": 4, "dt": 0.01}
    true = fit_output_error(s, "u_t = -l1*u*u_x + l2*u_xx", {"l1": 0.8, "l2": 0.1}, **opts)
    less = fit_output_error(s, "u_t = l2*u_xx", {"l2": 0.1}, **opts)
    more = fit_output_error(s, "u_t = -l1*u*u_x + l2*u_xx + l3*u", {"l1": 0.8, "l2": 0.1, "l3": 0.01}, **opts)
    needed = f_test(less, true)
    spurious = f_test(true, more)
    assert needed["F"] > 100 and needed["p_value"] < 1e-6
    assert spurious["q"] == 1 and spurious["F"] < 10 and spurious["p_value"] > 1e-3
    with pytest.raises(ConfigError, match="more unknowns"):
        f_test(more, true)


def test_nested_f_formula():
    assert nested_f(12.0, 10.0, n=102, p_full=2) == pytest.approx(20.0)
    assert nested_f(14.0, 10.0, n=102, p_full=2, q=2) == pytest.approx(20.0)
    assert f_pvalue(0.0, 1, 100) == pytest.approx(1.0)
    assert f_pvalue(20.0, 1, 100) < 1e-4
    with pytest.raises(ConfigError):
        nested_f(1.0, 1.0, 10, 2, q=0)


def test_grid_layout_wraps_a_duplicated_end_point():
    x = np.linspace(-1.0, 1.0, 9)  # both ends: x = 1 is x = -1 on the period 2
    t = np.linspace(0.0, 0.5, 6)
    lay = grid_layout(np.repeat(x, 6), np.tile(t, 9), length=2.0, nx=16)
    assert lay["nx"] == 16 and lay["length"] == pytest.approx(2.0)
    assert lay["i"][-1] == 0 and lay["i"][6] == 2  # the end point maps to x0, the second point to 2 (nx = 2 x 8)
    with pytest.raises(DataError, match="whole number of grid spacings"):
        grid_layout(np.repeat(x, 6), np.tile(t, 9), length=2.1)
    with pytest.raises(ConfigError, match="multiple"):
        grid_layout(np.repeat(x, 6), np.tile(t, 9), length=2.0, nx=12)


def test_bad_inputs_are_reported():
    d = _data()
    s = _samples(d, 100, 0.0, 0)
    off = dict(s, x=s["x"] + np.random.default_rng(0).uniform(0, 0.01, s["x"].size))
    with pytest.raises(DataError, match="not on a uniform grid in x.*estimator: pinn"):
        fit_output_error(off, TRUTH)
    with pytest.raises(ConfigError, match="collides with a derivative"):
        fit_output_error(s, "u_t = -u_x*u*u_x", {"u_x": 1.0})
    with pytest.raises(ConfigError, match="do not appear"):
        parametrize("u_t = -l1*u*u_x", {"l1": 1.0, "l2": 2.0})
    with pytest.raises(ConfigError, match="constant coefficients"):
        fit_output_error(s, "u_t = -l1*x*u_x", {"l1": 1.0})
    with pytest.raises(TrainingError, match="initial guess .* failed"):
        fit_output_error(d, "u_t = l2*u_xx", {"l2": -2.0}, ic_modes=4, dt=0.01)


def test_a_fixed_shape_carries_fine_structure_with_one_amplitude():
    """``ic_shapes``: the initial state's modes 6-7 enter as one shape with a fitted amplitude; four modes alone
    cannot hold them and the coefficients are biased (``u u_x`` by 0.3 %), the shape recovers everything from a wrong
    amplitude."""
    x = LENGTH * np.arange(NX) / NX
    t = np.linspace(0.0, 1.0, 11)
    low, fine = np.sin(x) + 0.5 * np.cos(2 * x) + 0.2, 0.05 * (np.cos(6 * x) + 0.5 * np.sin(7 * x))
    d = {"x": x, "t": t, "u": simulate_equation(Equation.parse(TRUTH), x, t, low + fine, dt=0.01)}
    start = {"l1": 0.9, "l2": 0.07}
    fit = fit_output_error(d, "u_t = -l1*u*u_x + l2*u_xx", start, ic_modes=4, dt=0.01, u0=low + 0.6 * fine,
                           ic_shapes=[fine])
    assert fit.converged and fit.n_unknowns == 2 + 7 + 1
    assert abs(fit.parameters["l1"] - 1.0) < 1e-6 and abs(fit.parameters["l2"] - 0.08) < 1e-7
    assert np.allclose(fit.u0, low + fine, atol=1e-6)
    cut = fit_output_error(d, "u_t = -l1*u*u_x + l2*u_xx", start, ic_modes=4, dt=0.01, u0=low + 0.6 * fine)
    assert cut.rel_misfit > 1e-2 and abs(cut.parameters["l1"] - 1.0) > 1e-3  # the modes alone cannot hold it
    with pytest.raises(ShapeError, match="ic_shapes must be finite arrays with the solver grid's shape"):
        fit_output_error(d, TRUTH, ic_modes=4, dt=0.01, ic_shapes=[fine[:-1]])
