"""Two-field lambda-omega reaction-diffusion system (spiral waves), Fourier-spectral ETDRK4.

The system of PDE-FIND (Rudy et al. 2017) on the periodic square ``[-L/2, L/2)^2``, with the one-armed spiral
initial condition of PDE-FIND's ``Datasets/reaction_diffusion.m``. Its equations (terms, coefficients
``d1``, ``d2``, ``beta``, the linear part ``d lap + 1`` integrated exactly by
:func:`pdelearn.solvers.etdrk4.etdrk4_diagonal`) are those of the ``reaction_diffusion`` entry of
:data:`~pdelearn.solvers.systems.SYSTEMS`; here are the grid, the initial condition and the cubic terms in
factored form (:func:`lambda_omega`). The grid dependence near the edges:
docs/architecture.md (Built-in systems). numpy only.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .etdrk4 import (
    _finite,
    _grid_size,
    _positive,
    _time_steps,
    etdrk4_diagonal,
    wavenumbers,
)
from .systems import system

__all__ = ["reaction_diffusion", "reaction_diffusion_equations", "lambda_omega"]

_SYSTEM = system("reaction_diffusion")


def reaction_diffusion_equations(d1: float = _SYSTEM.params["d1"], d2: float = _SYSTEM.params["d2"],
                                 beta: float = _SYSTEM.params["beta"]) -> list[str]:
    """The two right-hand sides of the table's system, as ``["u_t = ...", "v_t = ..."]``.

    Terms are ordered: diffusion, then by total degree, then by descending power of ``u``.

    Examples
    --------
    >>> reaction_diffusion_equations()[0]
    'u_t = 0.1*u_xx + 0.1*u_yy + u - u**3 + u**2*v - u*v**2 + v**3'
    """
    return list(_SYSTEM.text(d1=d1, d2=d2, beta=beta))


def _isotropic_symbol(terms, field: str, k2: np.ndarray) -> np.ndarray:
    """``r - d k^2`` of the linear terms ``r f + d f_xx + d f_yy`` (the same ``d`` in both directions)."""
    c = {m: coef for coef, m in terms}
    d = c.get(f"{field}_xx")
    if set(c) != {field, f"{field}_xx", f"{field}_yy"} or c[f"{field}_yy"] != d:
        raise ConfigError(f"the 2-D solver integrates r*{field} + d*({field}_xx + {field}_yy) exactly; the table "
                          f"gives {sorted(c)}")
    return c[field] - d * k2


def lambda_omega(beta: float):
    """The FFT of the table's cubic terms, ``(A^2 (beta v - u), -A^2 (beta u + v))`` with ``A^2 = u^2 + v^2``,
    as a function of the stacked 2-D FFTs ``w`` of shape ``(2, n, n)`` (the factored form of the expanded terms)."""

    def nonlinear(w: np.ndarray) -> np.ndarray:
        uv = np.fft.ifft2(w, axes=(-2, -1)).real
        u, v = uv[0], uv[1]
        a2 = u * u + v * v
        return np.fft.fft2(np.stack([a2 * (beta * v - u), -a2 * (beta * u + v)]), axes=(-2, -1))

    return nonlinear


def reaction_diffusion(
    n: int = 64,
    t=None,
    dt: float = 0.05,
    d1: float = _SYSTEM.params["d1"],
    d2: float = _SYSTEM.params["d2"],
    beta: float = _SYSTEM.params["beta"],
    L: float = 20.0,
) -> dict:
    """Spiral waves of the lambda-omega reaction-diffusion system on ``[-L/2, L/2)^2``.

    Parameters
    ----------
    n : int
        Grid points per direction (default 64); ``x = y = -L/2 + L*k/n``.
    t : array_like, shape (nt,), optional
        Output times: increasing, starting at 0, multiples of ``dt``; default
        ``np.linspace(0, 10, 101)``.
    dt : float
        ETDRK4 time step (default 0.05; halving it changes the result by ~1e-7 relative).
    d1, d2 : float
        Diffusion coefficients of ``u`` and ``v`` (default 0.1).
    beta : float
        Coupling coefficient (default 1).
    L : float
        Side of the periodic square (default 20).

    Returns
    -------
    dict
        ``"x"``: (n,), ``"y"``: (n,), ``"t"``: (nt,), ``"u"`` and ``"v"``: (n, n, nt) with
        ``u[i, j, k] = u(x_i, y_j, t_k)``, and ``"equation"``: the two expanded right-hand sides as
        strings (see :func:`reaction_diffusion_equations`).

    Raises
    ------
    ConfigError
        For a non-positive ``dt``/``L``, non-finite coefficients, ``n < 4``, or times that are not
        multiples of ``dt``.
    DataError, ShapeError
        For a malformed ``t``.

    Examples
    --------
    >>> out = reaction_diffusion(n=16, t=[0.0, 0.1], dt=0.05)
    >>> out["u"].shape, out["v"].shape
    ((16, 16, 2), (16, 16, 2))
    """
    n = _grid_size(n, "n")
    dt = _positive(dt, "dt", "pass a positive time step such as dt=0.05")
    L = _positive(L, "L", "pass the side of the square domain, e.g. L=20.0")
    d1 = _finite(d1, "d1", "pass the diffusion coefficient of u, e.g. d1=0.1")
    d2 = _finite(d2, "d2", "pass the diffusion coefficient of v, e.g. d2=0.1")
    beta = _finite(beta, "beta", "pass the coupling coefficient, e.g. beta=1.0")
    times, steps = _time_steps(np.linspace(0.0, 10.0, 101) if t is None else t, dt)

    x = -L / 2.0 + L * np.arange(n) / n
    y = x.copy()
    xx, yy = np.meshgrid(x, y, indexing="ij")
    r = np.hypot(xx, yy)
    theta = np.arctan2(yy, xx)
    u0 = np.tanh(r) * np.cos(theta - r)
    v0 = np.tanh(r) * np.sin(theta - r)

    k = wavenumbers(n, L)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    split = _SYSTEM.split(d1=d1, d2=d2, beta=beta)
    lin = np.stack([_isotropic_symbol(split[f][0], f, k2) for f in ("u", "v")])  # (2, n, n)

    w0 = np.fft.fft2(np.stack([u0, v0]), axes=(-2, -1))
    w = etdrk4_diagonal(lin, lambda_omega(beta), w0, dt, steps)  # (nt, 2, n, n)
    uv = np.fft.ifft2(w, axes=(-2, -1)).real
    return {
        "x": x,
        "y": y,
        "t": times,
        "u": np.ascontiguousarray(np.moveaxis(uv[:, 0], 0, -1)),
        "v": np.ascontiguousarray(np.moveaxis(uv[:, 1], 0, -1)),
        "equation": reaction_diffusion_equations(d1, d2, beta),
    }
