"""Method-of-lines reference solver for 1-D problems with Dirichlet boundaries (numpy + scipy).

``u_t = F(x, u, u_x, u_xx)`` on ``[a, b]`` with ``u(a, t) = left(t)``, ``u(b, t) = right(t)``:
fourth-order central finite differences in space on a uniform grid (second order next to the
boundary), an adaptive explicit Runge-Kutta method (``scipy.integrate.solve_ivp``, DOP853) in time.
:func:`burgers_dirichlet` is the viscous Burgers shock problem of Raissi et al. (``burgers_shock.mat``).

Examples
--------
Heat equation ``u_t = u_xx`` on ``[0, pi]`` against ``exp(-t) sin(x)``:

>>> import numpy as np
>>> x = np.linspace(0, np.pi, 33)
>>> u = solve_dirichlet_1d(lambda d: d["u_xx"], np.sin(x), x, np.array([0.0, 0.5]), order=2)
>>> bool(np.abs(u[:, 1] - np.exp(-0.5) * np.sin(x)).max() < 1e-5)
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

__all__ = ["solve_dirichlet_1d", "burgers_dirichlet", "fd_derivatives"]


def fd_derivatives(u: np.ndarray, dx: float, order: int) -> dict[str, np.ndarray]:
    """``{"u_x": ..., "u_xx": ...}`` up to ``order`` (<= 2) at the interior points ``u[1:-1]``.

    Fourth-order central differences where the five-point stencil fits, second order at the
    points next to the boundary.
    """
    out: dict[str, np.ndarray] = {}
    n = u.size
    if order >= 1:
        d1 = np.empty(n - 2)
        d1[:] = (u[2:] - u[:-2]) / (2 * dx)
        if n > 5:
            d1[1:-1] = (-u[4:] + 8 * u[3:-1] - 8 * u[1:-3] + u[:-4]) / (12 * dx)
        out["u_x"] = d1
    if order >= 2:
        d2 = np.empty(n - 2)
        d2[:] = (u[2:] - 2 * u[1:-1] + u[:-2]) / dx**2
        if n > 5:
            d2[1:-1] = (-u[4:] + 16 * u[3:-1] - 30 * u[2:-2] + 16 * u[1:-3] - u[:-4]) / (12 * dx**2)
        out["u_xx"] = d2
    return out


def solve_dirichlet_1d(
    rhs: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    u0: np.ndarray,
    x: np.ndarray,
    t_eval: np.ndarray,
    left: Callable[[float], float] | float = 0.0,
    right: Callable[[float], float] | float = 0.0,
    order: int = 2,
    rtol: float = 1e-8,
    atol: float = 1e-10,
) -> np.ndarray:
    """Solve ``u_t = rhs(derivatives)`` with Dirichlet boundary values by the method of lines.

    Parameters
    ----------
    rhs
        ``rhs({"u", "u_x", "u_xx", "x", "t"}) -> u_t`` at the interior points (arrays ``(nx - 2,)``;
        ``t`` is a float).
    u0
        Initial values on ``x``, shape ``(nx,)``.
    x
        Uniform grid including both boundary points, shape ``(nx,)``.
    t_eval
        Output times, increasing; ``t_eval[0]`` is the time of ``u0``.
    left, right
        Boundary values: numbers or functions of ``t``.
    order
        Highest space derivative ``rhs`` needs (at most 2).
    rtol, atol
        Tolerances of the time integrator.

    Returns
    -------
    ndarray, shape (nx, nt)
        ``u[i, j] = u(x_i, t_eval[j])``.
    """
    from scipy.integrate import solve_ivp

    x = np.asarray(x, dtype=np.float64)
    u0 = np.asarray(u0, dtype=np.float64)
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if x.ndim != 1 or x.size < 5 or u0.shape != x.shape:
        raise ShapeError(f"x must be 1-D with at least 5 points and u0 of the same shape; received {x.shape}, {u0.shape}")
    if t_eval.ndim != 1 or t_eval.size < 1 or np.any(np.diff(t_eval) <= 0):
        raise DataError("t_eval must be a non-empty increasing 1-D array of times")
    if not 0 <= order <= 2:
        raise ConfigError(f"the finite-difference reference supports derivatives up to second order, the equation "
                          f"needs order {order}; give reference.file or reference.solver: none")
    dx = float(x[1] - x[0])
    if not np.allclose(np.diff(x), dx, rtol=1e-9, atol=0):
        raise DataError("x must be a uniform grid")
    lf = left if callable(left) else (lambda t, v=float(left): v)
    rf = right if callable(right) else (lambda t, v=float(right): v)

    def full(t: float, interior: np.ndarray) -> np.ndarray:
        return np.concatenate([[lf(t)], interior, [rf(t)]])

    def f(t: float, interior: np.ndarray) -> np.ndarray:
        u = full(t, interior)
        d = fd_derivatives(u, dx, order)
        d["u"] = interior
        d["x"] = x[1:-1]
        d["t"] = t
        return np.broadcast_to(np.asarray(rhs(d), dtype=np.float64), interior.shape)

    sol = solve_ivp(f, (t_eval[0], t_eval[-1]), u0[1:-1], method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol)
    if not sol.success or sol.y.shape[1] != t_eval.size or not np.all(np.isfinite(sol.y)):
        raise ConfigError(f"the finite-difference reference solver failed ({sol.message}); refine the grid "
                          "(reference.nx, reference.refine) or give reference.file")
    out = np.empty((x.size, t_eval.size))
    out[1:-1] = sol.y
    out[0] = [lf(t) for t in t_eval]
    out[-1] = [rf(t) for t in t_eval]
    return out


def burgers_dirichlet(nx: int = 256, t=None, nu: float = 0.01 / np.pi, refine: int = 8) -> dict:
    """Burgers ``u_t = -u u_x + nu u_xx`` on ``[-1, 1]``, ``u0 = -sin(pi x)``, ``u(+-1, t) = 0``.

    The set-up of ``burgers_shock.mat`` (Raissi et al.). Solved on a grid ``refine`` times finer
    than the ``nx`` output points (``x = linspace(-1, 1, nx)`` needs ``(nx - 1) * refine + 1``
    points); default output times ``linspace(0, 0.99, 100)``.

    Returns
    -------
    dict
        ``{"x": (nx,), "t": (nt,), "u": (nx, nt), "equation": str}``.
    """
    t = np.linspace(0.0, 0.99, 100) if t is None else np.asarray(t, dtype=np.float64)
    fine = np.linspace(-1.0, 1.0, (nx - 1) * refine + 1)
    u = solve_dirichlet_1d(lambda d: -d["u"] * d["u_x"] + nu * d["u_xx"], -np.sin(np.pi * fine), fine, t)
    return {"x": fine[::refine], "t": t, "u": u[::refine], "equation": f"u_t = -u*u_x + {nu:.8g}*u_xx"}
