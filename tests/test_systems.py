"""The built-in systems table: names, equations, and each hand-tuned solver against the generic one."""

from __future__ import annotations

import numpy as np
import pytest

from pdelearn import SYSTEMS, simulate_equation, solve_system, system
from pdelearn.errors import ConfigError
from pdelearn.solvers.systems import system_names


def test_names_and_aliases():
    assert system_names(dims=1) == ("allen_cahn", "burgers", "kdv", "kuramoto_sivashinsky")
    assert system("allen-cahn") is system("AC") is system("allen_cahn")
    assert system("reaction-diffusion").dims == 2
    with pytest.raises(ConfigError, match="did you mean 'burgers'"):
        system("burger")


@pytest.mark.parametrize("name", ["allen_cahn", "burgers", "kdv", "kuramoto_sivashinsky"])
def test_fast_solver_equals_the_equation(name):
    """The hand-written nonlinear term of each solver equals the terms of the system's Equation."""
    s = system(name)
    nx = s.options["nx"]  # resolved grids: conservative (u^2)_x and u u_x then agree to round-off
    t_end = {"allen_cahn": 0.01, "burgers": 0.2, "kdv": 0.05, "kuramoto_sivashinsky": 0.5}[name]
    dt = {"allen_cahn": 1e-4, "burgers": 1e-2, "kdv": 1e-3, "kuramoto_sivashinsky": 0.025}[name]
    t = np.linspace(0, t_end, 3)
    fast = s.solve(nx=nx, t=t, dt=dt)
    dealias = s.options.get("dealias", name in ("burgers", "kdv"))
    x = fast["x"]
    length = len(x) * (x[1] - x[0])
    generic = simulate_equation(s.equation(), x, t, fast["u"][:, 0], dt, length=length, dealias=dealias)
    assert np.allclose(generic, fast["u"], rtol=0, atol=1e-9 * np.abs(fast["u"]).max()), name


def test_solver_states_the_table_equation():
    for s in SYSTEMS:
        if s.dims == 1:
            out = s.solve(nx=32, t=np.linspace(0, 2 * s.options["dt"], 3))
            assert out["equation"] == s.equation_text
    assert solve_system("burgers", nx=32, t=np.linspace(0, 0.02, 3))["u"].shape == (32, 3)
