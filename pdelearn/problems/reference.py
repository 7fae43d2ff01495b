"""Reference solutions for a recipe: generic spectral (periodic), finite differences (Dirichlet) or a file.

Both solvers are built from the recipe's equation through the term library, like the training
residual: the spectral solver integrates the constant-coefficient linear terms (``u``, ``u_x``,
``u_xx``, ...) exactly (ETDRK4) and evaluates every other term pseudo-spectrally with
:class:`~pdelearn.compile.CompiledLibrary`; the finite-difference solver evaluates the whole
right-hand side that way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..compile import CompiledLibrary
from ..errors import ConfigError, DataError
from ..output_error.policy import divided_step
from ..terms import Derivative, parse_derivative_name
from .conditions import Conditions

__all__ = ["ReferenceSolution", "reference_solution", "spectral_reference", "finite_difference_reference"]
_log = logging.getLogger(__name__)


@dataclass
class ReferenceSolution:
    """``u[i, j] = u(x_i, t_j)`` on a tensor grid, and where it came from."""

    x: np.ndarray
    t: np.ndarray
    u: np.ndarray
    source: str

    def rel_l2(self, prediction: np.ndarray, t_mask: np.ndarray | None = None) -> float:
        """Relative L2 error ``|pred - u| / |u|`` over the grid (or the time columns in ``t_mask``)."""
        ref = self.u if t_mask is None else self.u[:, t_mask]
        pred = prediction if t_mask is None else prediction[:, t_mask]
        return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


def reference_solution(recipe: Any, cond: Conditions) -> ReferenceSolution | None:
    """The reference of ``recipe.reference``: ``file`` if given, else the named solver (None for ``none``)."""
    ref = recipe.reference
    if ref.file is not None:
        return _from_file(Path(ref.file), cond)
    if ref.solver == "none":
        return None
    t = np.linspace(cond.t_range[0], cond.t_range[1], ref.nt)
    if ref.solver == "spectral":
        if not cond.periodic:
            raise ConfigError("reference.solver: spectral needs boundary.type: periodic; use finite_difference for "
                              "Dirichlet boundaries")
        return spectral_reference(cond, ref.nx, t, ref.dt)
    if cond.periodic:
        raise ConfigError("reference.solver: finite_difference needs boundary.type: dirichlet; use spectral for "
                          "periodic boundaries")
    return finite_difference_reference(cond, ref.nx, t, ref.refine)


def spectral_reference(cond: Conditions, nx: int, t: np.ndarray, dt: float) -> ReferenceSolution:
    """Fourier-spectral ETDRK4 on ``x = a + L k / nx`` (``L = b - a``) for any 1-D periodic equation.

    :func:`~pdelearn.solvers.simulate_equation` without dealiasing (the reference grids are resolved).
    """
    from ..solvers.equation import simulate_equation

    a, b = cond.x_range
    length = b - a
    x = a + length * np.arange(nx) / nx
    span = t - t[0]
    u = simulate_equation(cond.equation, x, span, cond.initial(x), _fit_dt(span, dt), length=length, dealias=False)
    return ReferenceSolution(x, t, u, f"spectral ETDRK4, {nx} modes")


def _fit_dt(span: np.ndarray, dt: float) -> float:
    """Largest step <= dt that divides the output spacing."""
    if span.size < 2:
        return dt
    h = float(span[1] - span[0])
    return divided_step(h, h / dt)


def finite_difference_reference(cond: Conditions, nx: int, t: np.ndarray, refine: int) -> ReferenceSolution:
    """Method of lines (4th-order differences, DOP853) on ``linspace(a, b, (nx - 1) * refine + 1)``."""
    from ..solvers.mol import solve_dirichlet_1d

    eq = cond.equation
    lib = eq.library()
    compiled = CompiledLibrary(lib)
    coef = np.array([eq.coefficients[k] for k in lib.keys])
    order = lib.max_order
    a, b = cond.x_range
    fine = np.linspace(a, b, (nx - 1) * refine + 1)

    names = {}
    for n in compiled.required:
        d = parse_derivative_name(n, eq.fields, eq.coords)
        names[n] = "x" if d is None else Derivative("u", ("x",) * d.order).name

    def rhs(d):
        return compiled.numpy({n: d[k] for n, k in names.items()}) @ coef

    left, right = cond.left, cond.right
    u = solve_dirichlet_1d(rhs, cond.initial(fine), fine, t,
                           left=lambda s: float(left(np.array([s]))[0]),
                           right=lambda s: float(right(np.array([s]))[0]), order=order)
    return ReferenceSolution(fine[::refine], t, u[::refine], f"finite differences, {fine.size} points")


def _from_file(path: Path, cond: Conditions) -> ReferenceSolution:
    from ..data import load_grid_data

    if not path.is_file():
        raise ConfigError(f"reference.file {str(path)!r} does not exist; give the path of a .mat or .npz file "
                          "(relative to the recipe's folder) or use reference.solver")
    try:
        grid = load_grid_data(path)
    except DataError as exc:
        raise ConfigError(f"reference.file {str(path)!r}: {exc}") from None
    space = [c for c in grid.coords if c != grid.time]
    if len(space) != 1 or len(grid.fields) != 1:
        raise ConfigError(f"reference.file {str(path)!r} must hold one field on a 1-D space grid; it has fields "
                          f"{list(grid.fields)} and coordinates {list(grid.coords)}")
    x, t = grid.coords[space[0]], grid.coords[grid.time]
    u = next(iter(grid.fields.values()))
    (a, b), (t0, t1) = cond.x_range, cond.t_range
    tol = 1e-6 * max(b - a, t1 - t0)
    if x[0] < a - tol or x[-1] > b + tol or t[0] < t0 - tol or t[-1] > t1 + tol:
        raise ConfigError(f"reference.file {str(path)!r} covers x in [{x[0]:g}, {x[-1]:g}], t in [{t[0]:g}, {t[-1]:g}], "
                          f"outside the recipe's domain [{a:g}, {b:g}] x [{t0:g}, {t1:g}]")
    return ReferenceSolution(x, t, u, f"file {path.name}")
