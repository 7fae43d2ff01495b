"""Solvers of the built-in 1-D systems: the standard reference data sets (Allen-Cahn as in ``AC.mat``;
Burgers, KdV and Kuramoto-Sivashinsky with the set-ups of the PDE-FIND data sets).

Each solver reads its equation from :data:`~pdelearn.solvers.systems.SYSTEMS` (terms, coefficients, parameters
and the split into the linear part, integrated exactly, and the nonlinear rest) and keeps only its numerics:
grid, initial condition, time step, dealiasing. :func:`linear_symbol` and :func:`nonlinear_closed_form` turn the
table's terms into what :func:`~pdelearn.solvers.etdrk4.solve_periodic_1d` integrates. numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ConfigError
from .etdrk4 import _finite, _grid_size, solve_periodic_1d
from .systems import system

__all__ = ["allen_cahn", "burgers", "kdv", "kuramoto_sivashinsky", "linear_symbol", "nonlinear_closed_form"]

_DERIVATIVE = re.compile(r"^u(?:_(x+))?$")  # u, u_x, u_xx, ...
_POWER = re.compile(r"^u\*\*(\d+)$")  # u**p


def linear_symbol(terms: Sequence[tuple[float, str]], k: np.ndarray):
    """The Fourier symbol of ``sum c * d^n u / dx^n`` at the wavenumbers ``k``: ``sum c (ik)^n``, in term order.

    Even orders give a real symbol, odd ones an imaginary part (``c (ik)^n`` as ``+-c k^n`` or ``+-c 1j k^n``).

    >>> linear_symbol([(-1.0, "u_xx"), (-1.0, "u_xxxx")], np.array([0.0, 1.0, 2.0])).tolist()
    [0.0, 0.0, -12.0]
    """
    total = None
    for c, monomial in terms:
        match = _DERIVATIVE.match(monomial)
        if match is None:
            raise ConfigError(f"the linear part holds derivatives of u only, received {monomial!r}")
        n = len(match.group(1) or "")
        if n == 0:
            value = c
        elif n % 2 == 0:
            value = (c if n % 4 == 0 else -c) * k**n
        else:
            value = ((c if n % 4 == 1 else -c) * 1j) * k**n
        total = value if total is None else total + value
    return 0.0 * k if total is None else total


def nonlinear_closed_form(terms: Sequence[tuple[float, str]]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``N(u_hat, k)``: the FFT of the nonlinear terms ``c u**p`` (pointwise) and ``c u u_x`` (in conservative
    form, ``(c/2) (u^2)_x``, differentiated spectrally), summed in term order."""
    parts: list[tuple[str, complex | float, int]] = []
    for c, monomial in terms:
        power = _POWER.match(monomial)
        if monomial == "u*u_x":
            parts.append(("flux", 0.5 * c * 1j, 2))
        elif power is not None:
            parts.append(("power", c, int(power.group(1))))
        else:
            raise ConfigError(f"no closed form for the nonlinear term {monomial!r}; the 1-D solvers know u**p and "
                              "u*u_x (use pdelearn.solvers.simulate_equation for other terms)")

    def nonlinear(u_hat, k):
        u = np.fft.ifft(u_hat).real
        total = None
        for kind, c, p in parts:
            value = c * k * np.fft.fft(u * u) if kind == "flux" else np.fft.fft(c * u**p)
            total = value if total is None else total + value
        return 0 * u_hat if total is None else total

    return nonlinear


def _solve(name: str, params: dict[str, float], x: np.ndarray, u0: np.ndarray, length: float, t, dt: float,
           dealias: bool = False) -> dict:
    """Integrate the table's system ``name`` (with ``params``) from ``u0`` on the periodic grid ``x``."""
    s = system(name)
    ((_, (linear, nonlinear)),) = s.split(**params).items()
    u = solve_periodic_1d(lambda k: linear_symbol(linear, k), nonlinear_closed_form(nonlinear), u0, length, t, dt,
                          dealias=dealias)
    return {"x": x, "t": np.asarray(t, dtype=np.float64), "u": u, "equation": s.text(**params)}


def _t_default(t, default):
    return default if t is None else t


def allen_cahn(nx: int = 512, t=None, dt: float = 1e-4, eps: float = system("allen_cahn").params["eps"]) -> dict:
    """Allen-Cahn ``u_t = eps*u_xx + 5u - 5u^3`` on the periodic domain ``[-1, 1)``.

    The set-up of ``AC.mat`` (Raissi et al., PINNs): ``x = -1 + 2k/nx``, ``u0 = x^2 cos(pi x)``,
    ``t = linspace(0, 1, 201)``. The linear part ``eps*u_xx + 5u`` is integrated exactly, no dealiasing.
    With the defaults the result matches ``AC.mat`` to a relative L2 difference of
    about 7e-12 (1.7 s); dt = 1e-3 already gives 1.3e-11 (0.2 s).

    Parameters
    ----------
    nx : int
        Number of grid points (default 512).
    t : array_like, shape (nt,), optional
        Output times (multiples of ``dt`` starting at 0); default ``np.linspace(0, 1, 201)``.
    dt : float
        Time step (default 1e-4).
    eps : float
        Diffusion coefficient (default 1e-4).

    Returns
    -------
    dict
        ``{"x": (nx,), "t": (nt,), "u": (nx, nt), "equation": str}``.
    """
    nx = _grid_size(nx, "nx")
    eps = _finite(eps, "eps", "pass the diffusion coefficient, e.g. eps=1e-4")
    t = _t_default(t, np.linspace(0.0, 1.0, 201))
    x = -1.0 + 2.0 * np.arange(nx) / nx
    u0 = x**2 * np.cos(np.pi * x)
    return _solve("allen_cahn", {"eps": eps}, x, u0, 2.0, t, dt)


def burgers(nx: int = 256, t=None, dt: float = 1e-2, nu: float = system("burgers").params["nu"],
            dealias: bool = True) -> dict:
    """Viscous Burgers ``u_t = -u u_x + nu*u_xx`` on the periodic domain ``[-8, 8)``.

    The set-up of PDE-FIND's ``burgers.mat``: ``x = -8 + 16k/nx``, ``u0 = exp(-(x+2)^2)``,
    ``t = linspace(0, 10, 101)``. ``nu*u_xx`` is integrated exactly, ``-u u_x = -(u^2/2)_x`` with 2/3
    dealiasing. With the defaults the result matches ``burgers.mat`` to 6.7e-9 relative L2 over the full grid;
    halving ``dt`` changes it by 7e-10 (0.12 s).

    Parameters
    ----------
    nx : int
        Number of grid points (default 256).
    t : array_like, shape (nt,), optional
        Output times; default ``np.linspace(0, 10, 101)``.
    dt : float
        Time step (default 1e-2).
    nu : float
        Viscosity (default 0.1).
    dealias : bool
        2/3-rule dealiasing of the nonlinear term (default True).

    Returns
    -------
    dict
        ``{"x": (nx,), "t": (nt,), "u": (nx, nt), "equation": str}``.
    """
    nx = _grid_size(nx, "nx")
    nu = _finite(nu, "nu", "pass the viscosity, e.g. nu=0.1")
    t = _t_default(t, np.linspace(0.0, 10.0, 101))
    x = -8.0 + 16.0 * np.arange(nx) / nx
    u0 = np.exp(-((x + 2.0) ** 2))
    return _solve("burgers", {"nu": nu}, x, u0, 16.0, t, dt, dealias=dealias)


def _sech2(z: np.ndarray) -> np.ndarray:
    return 1.0 / np.cosh(z) ** 2


def kdv(nx: int = 512, t=None, dt: float = 1e-3, dealias: bool = True) -> dict:
    """Korteweg-de Vries ``u_t = -6 u u_x - u_xxx`` on the periodic domain ``[-30, 30)``.

    The set-up of PDE-FIND's ``kdv.mat``: ``x = -30 + 60k/nx``, two solitons
    ``u0 = 0.5 sech^2(0.5 (x+20)) + 0.25 sech^2(sqrt(0.5)/2 (x-5))`` (speeds 1 and 0.5),
    ``t = linspace(0, 20, 201)``. ``-u_xxx`` is integrated exactly, ``-6 u u_x = -3 (u^2)_x`` with 2/3
    dealiasing.

    The first soliton's tail is ~9e-5 at ``x = -30``, so ``u0`` jumps by that much across the
    periodic boundary; the resulting high-wavenumber content (mode amplitudes ~1e-7) is dispersed
    by ``k^3`` and limits full-grid agreement to ~1e-5 relative, both between step sizes and with
    ``kdv.mat`` (1.7e-5 with the defaults, 3 s). Low-passed to ``|j| < 60`` the result matches
    ``kdv.mat`` to ~5e-10 and converges in ``dt`` at fourth order.

    Parameters
    ----------
    nx : int
        Number of grid points (default 512).
    t : array_like, shape (nt,), optional
        Output times; default ``np.linspace(0, 20, 201)``.
    dt : float
        Time step (default 1e-3).
    dealias : bool
        2/3-rule dealiasing of the nonlinear term (default True).

    Returns
    -------
    dict
        ``{"x": (nx,), "t": (nt,), "u": (nx, nt), "equation": str}``.
    """
    nx = _grid_size(nx, "nx")
    t = _t_default(t, np.linspace(0.0, 20.0, 201))
    x = -30.0 + 60.0 * np.arange(nx) / nx
    u0 = 0.5 * _sech2(0.5 * (x + 20.0)) + 0.25 * _sech2(np.sqrt(0.5) / 2.0 * (x - 5.0))
    return _solve("kdv", {}, x, u0, 60.0, t, dt, dealias=dealias)


def kuramoto_sivashinsky(nx: int = 1024, t=None, dt: float = 0.025, dealias: bool = False) -> dict:
    """Kuramoto-Sivashinsky ``u_t = -u u_x - u_xx - u_xxxx`` on the periodic domain ``(0, 32 pi]``.

    The set-up of PDE-FIND's ``kuramoto_sivishinky.mat``: ``x = 32 pi (k+1)/nx`` (first point
    ``dx``, last ``32 pi``), ``u0 = cos(x/16) (1 + sin(x/16))``, ``t = linspace(0, 100, 251)``.
    ``-u_xx - u_xxxx`` is integrated exactly, ``-u u_x = -(u^2/2)_x``. The flow is chaotic, so solvers with
    different steps part ways at late times (dt = 0.05 differs from dt = 0.025 by 1e-4 at t = 100), but with the
    defaults (dt = 0.025, no dealiasing; the spectrum is resolved, so dealiasing changes nothing
    above 1e-11) the result matches ``kuramoto_sivishinky.mat`` to 2e-12 relative L2 over the full
    grid (0.8 s).

    Parameters
    ----------
    nx : int
        Number of grid points (default 1024).
    t : array_like, shape (nt,), optional
        Output times; default ``np.linspace(0, 100, 251)``.
    dt : float
        Time step (default 0.025).
    dealias : bool
        2/3-rule dealiasing of the nonlinear term (default False).

    Returns
    -------
    dict
        ``{"x": (nx,), "t": (nt,), "u": (nx, nt), "equation": str}``.
    """
    nx = _grid_size(nx, "nx")
    t = _t_default(t, np.linspace(0.0, 100.0, 251))
    length = 32.0 * np.pi
    x = length * (np.arange(nx) + 1.0) / nx
    u0 = np.cos(x / 16.0) * (1.0 + np.sin(x / 16.0))
    return _solve("kuramoto_sivashinsky", {}, x, u0, length, t, dt, dealias=dealias)
