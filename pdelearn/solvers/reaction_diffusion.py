"""Two-field lambda-omega reaction-diffusion system (spiral waves), Fourier-spectral ETDRK4.

The system of PDE-FIND (Rudy et al. 2017) on the periodic square ``[-L/2, L/2)^2``::

    u_t = d1 (u_xx + u_yy) + (1 - A^2) u + beta A^2 v
    v_t = d2 (v_xx + v_yy) - beta A^2 u + (1 - A^2) v,      A^2 = u^2 + v^2

with the one-armed spiral initial condition ``u0 = tanh(r) cos(theta - r)``,
``v0 = tanh(r) sin(theta - r)`` (``r``, ``theta``: polar coordinates of ``(x, y)``), as in
PDE-FIND's ``Datasets/reaction_diffusion.m``. The linear part ``d (ik)^2 + 1`` of each field is
integrated exactly by the shared core :func:`pdelearn.solvers.etdrk4.etdrk4_diagonal`; the cubic
terms are the nonlinear part. numpy only.

The initial condition is not periodic: it jumps at the edges of the square (by up to ~2), as in
PDE-FIND. Diffusion smooths the jump at once, but the solution near the edges depends on the grid
(n = 64 and n = 256 differ by O(1) there). Away from the edges it converges fast: on
``|x|, |y| < 6`` the default n = 64 agrees with n = 256 to 4e-4 (max abs) up to t = 10.
"""

from __future__ import annotations

import numpy as np

from .etdrk4 import _finite, _grid_size, _positive, _time_steps, etdrk4_diagonal, wavenumbers

__all__ = ["reaction_diffusion", "reaction_diffusion_equations"]


def _coef(value: float):
    """A float as a sympy number that prints the way it reads: 1.0 -> 1, 0.1 -> 0.1."""
    import sympy

    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return sympy.Integer(int(value))
    return sympy.Float(format(value, ".15g"))


def reaction_diffusion_equations(d1: float = 0.1, d2: float = 0.1, beta: float = 1.0) -> list[str]:
    """The two right-hand sides, expanded with sympy, as ``["u_t = ...", "v_t = ..."]``.

    Terms are ordered: diffusion, then by total degree, then by descending power of ``u``.

    Examples
    --------
    >>> reaction_diffusion_equations()[0]
    'u_t = 0.1*u_xx + 0.1*u_yy + u - u**3 + u**2*v - u*v**2 + v**3'
    """
    import sympy

    u, v = sympy.symbols("u v")
    b = _coef(beta)
    a2 = u**2 + v**2
    reactions = {
        "u": sympy.expand((1 - a2) * u + b * a2 * v),
        "v": sympy.expand(-b * a2 * u + (1 - a2) * v),
    }
    diffusion = {"u": _coef(d1), "v": _coef(d2)}
    out = []
    for name in ("u", "v"):
        d = sympy.Symbol(f"{name}_xx"), sympy.Symbol(f"{name}_yy")
        coefficients = reactions[name].as_coefficients_dict()  # {monomial: number}

        def order(monomial):
            pu, pv = sympy.degree(monomial, u), sympy.degree(monomial, v)
            return (pu + pv, -pu)

        terms = [diffusion[name] * d[0], diffusion[name] * d[1]]
        terms += [coefficients[m] * m for m in sorted(coefficients, key=order)]
        rhs = " + ".join(sympy.sstr(term) for term in terms if term != 0)
        out.append(f"{name}_t = " + (rhs.replace("+ -", "- ") if rhs else "0"))
    return out


def reaction_diffusion(
    n: int = 64,
    t=None,
    dt: float = 0.05,
    d1: float = 0.1,
    d2: float = 0.1,
    beta: float = 1.0,
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
    lin = np.stack([1.0 - d1 * k2, 1.0 - d2 * k2])  # (2, n, n)

    def nonlinear(w: np.ndarray) -> np.ndarray:
        uv = np.fft.ifft2(w, axes=(-2, -1)).real
        u, v = uv[0], uv[1]
        a2 = u * u + v * v
        return np.fft.fft2(np.stack([a2 * (beta * v - u), -a2 * (beta * u + v)]), axes=(-2, -1))

    w0 = np.fft.fft2(np.stack([u0, v0]), axes=(-2, -1))
    w = etdrk4_diagonal(lin, nonlinear, w0, dt, steps)  # (nt, 2, n, n)
    uv = np.fft.ifft2(w, axes=(-2, -1)).real
    return {
        "x": x,
        "y": y,
        "t": times,
        "u": np.ascontiguousarray(np.moveaxis(uv[:, 0], 0, -1)),
        "v": np.ascontiguousarray(np.moveaxis(uv[:, 1], 0, -1)),
        "equation": reaction_diffusion_equations(d1, d2, beta),
    }
