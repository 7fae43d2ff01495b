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


def test_the_table_states_each_equation_once():
    """Terms, coefficients, parameters and the linear/nonlinear split come from SYSTEMS; the solvers read them."""
    s = system("burgers")
    assert s.text(nu=0.25) == "u_t = -u*u_x + 0.25*u_xx" and s.split()["u"] == ([(0.1, "u_xx")], [(-1.0, "u*u_x")])
    assert solve_system("burgers", nx=32, t=np.linspace(0, 0.02, 3), nu=0.25)["equation"] == s.text(nu=0.25)
    assert system("allen_cahn").text(eps=0.0) == "u_t = -5*u**3 + 5*u"
    with pytest.raises(ConfigError, match="no parameter 'mu'"):
        s.text(mu=1.0)
    for t in SYSTEMS:  # every monomial parses, and the linear part holds derivatives of the fields only
        t.equation()
        assert all(m.split("_")[0] in t.rhs for m in t.linear)


def _monomial(text, **fields):
    """The value of a product of powers such as ``u**2*v``."""
    out = 1.0
    for factor in text.replace("**", "^").split("*"):
        base, _, power = factor.partition("^")
        out = out * fields[base] ** int(power or 1)
    return out


def test_closed_forms_equal_the_table_terms():
    """The 1-D closed forms (conservative u*u_x, pointwise u**p) and the 2-D factored cubic terms against the
    table's terms evaluated one by one."""
    from pdelearn.solvers.builtin import linear_symbol, nonlinear_closed_form
    from pdelearn.solvers.etdrk4 import wavenumbers
    from pdelearn.solvers.reaction_diffusion import lambda_omega

    rng = np.random.default_rng(0)
    n = 32
    k = wavenumbers(n, 2 * np.pi)
    assert np.allclose(linear_symbol([(0.5, "u_xx"), (-2.0, "u_xxx"), (3.0, "u")], k), -0.5 * k**2 - 2.0 * (1j * k) ** 3 + 3)
    u = rng.standard_normal(n)
    u_hat = np.fft.fft(u)
    got = np.fft.ifft(nonlinear_closed_form([(-6.0, "u*u_x"), (-5.0, "u**3")])(u_hat, k)).real
    assert np.allclose(got, -6.0 * np.fft.ifft(1j * k * np.fft.fft(u * u)).real / 2 - 5.0 * u**3)
    smooth = np.sin(2 * np.pi * np.arange(n) / n)  # resolved: the conservative form is u u_x
    s_hat = np.fft.fft(smooth)
    s_x = np.fft.ifft(1j * k * s_hat).real
    assert np.allclose(np.fft.ifft(nonlinear_closed_form([(-1.0, "u*u_x")])(s_hat, k)).real, -smooth * s_x)
    with pytest.raises(ConfigError, match="no closed form"):
        nonlinear_closed_form([(1.0, "u_x**2")])

    rd = system("reaction_diffusion")
    uv = rng.standard_normal((2, 8, 8))
    for beta in (1.0, 2.5):
        fast = np.fft.ifft2(lambda_omega(beta)(np.fft.fft2(uv, axes=(-2, -1))), axes=(-2, -1)).real
        for i, (f, (_, nonlinear)) in enumerate(rd.split(beta=beta).items()):
            terms = sum(c * _monomial(m, u=uv[0], v=uv[1]) for c, m in nonlinear)
            assert np.allclose(fast[i], terms, rtol=0, atol=1e-12), f
