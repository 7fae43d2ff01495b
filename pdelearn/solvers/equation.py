"""Integrate any 1-D periodic :class:`~pdelearn.equation.Equation` with spectral ETDRK4.

The terms that are a constant times a derivative of the field (``0.1 u_xx``, ``-u_xxx``, ``5 u``)
form the linear operator, diagonal in Fourier space; every other term is evaluated
pseudo-spectrally (spectral derivatives, the compiled term library on the grid, optional 2/3
dealiasing).
This closes the loop of discovery: simulate the discovered equation from the data's initial
condition and compare with the data.
"""

from __future__ import annotations

import numpy as np

from ..compile import CompiledLibrary
from ..equation import Equation
from ..errors import ConfigError, ShapeError
from ..output_error.policy import DT_MAX, divided_step, pure_order
from ..terms import Derivative, TermLibrary
from .etdrk4 import solve_periodic_1d

__all__ = ["simulate_equation"]


def _split(equation: Equation):
    """(linear symbol pieces [(coef, order)], nonlinear terms {Term: coef})."""
    linear, nonlinear = [], {}
    for term, c in equation.terms.items():
        if pure_order(term) >= 0:
            linear.append((c, pure_order(term)))
        else:
            nonlinear[term] = c
    return linear, nonlinear


def simulate_equation(
    equation: Equation,
    x: np.ndarray,
    t: np.ndarray,
    u0: np.ndarray,
    dt: float | None = None,
    *,
    length: float | None = None,
    dealias: bool = True,
) -> np.ndarray:
    """Solve ``equation`` on a periodic uniform grid ``x`` and return ``u`` ``(nx, nt)``.

    Parameters
    ----------
    equation
        One field, one space coordinate, e.g. ``u_t = -1 u u_x + 0.1 u_xx``.
    x
        ``(nx,)`` uniform grid of one period (the end point excluded).
    t
        ``(nt,)`` output times starting at 0.
    u0
        ``(nx,)`` initial condition.
    dt
        Time step; default: the output spacing divided by ``ceil(spacing / 1e-3)`` (at most 1e-3).
    length
        Period; default ``nx * (x[1] - x[0])``.
    dealias
        2/3-rule dealiasing of the nonlinear terms (default True: safe for data whose spectrum is
        not resolved; a resolved reference such as ``AC.mat`` is reproduced to 1e-11 only without it).

    Examples
    --------
    >>> x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> t = np.linspace(0, 1, 3)
    >>> u = simulate_equation(Equation.parse("u_t = 0.5*u_xx"), x, t, np.sin(x))
    >>> bool(np.allclose(u[:, -1], np.exp(-0.5) * np.sin(x)))
    True
    """
    if len(equation.fields) != 1 or len(equation.coords) != 1:
        raise ConfigError(
            f"simulate_equation handles one field in one space dimension; the equation has fields "
            f"{list(equation.fields)} and coordinates {list(equation.coords)}"
        )
    x, t, u0 = (np.asarray(a, dtype=np.float64) for a in (x, t, u0))
    if x.ndim != 1 or u0.shape != x.shape or t.ndim != 1:
        raise ShapeError(f"expected x (nx,), u0 (nx,), t (nt,); received {x.shape}, {u0.shape}, {t.shape}")
    dx = x[1] - x[0]
    length = float(length if length is not None else len(x) * dx)
    if dt is None:
        step = float(np.min(np.diff(t))) if len(t) > 1 else DT_MAX
        dt = divided_step(step, step / DT_MAX)
    linear, nonlinear = _split(equation)
    field, coord = equation.fields[0], equation.coords[0]
    lib = TermLibrary(list(nonlinear), equation.fields, equation.coords) if nonlinear else None
    comp = CompiledLibrary(lib) if lib else None
    coef = np.array(list(nonlinear.values()))
    orders = sorted({d.order for d in (lib.derivatives if lib else ())})
    mesh = {coord: x}

    def lin(k):
        return sum((c * (1j * k) ** order for c, order in linear), np.zeros_like(k, dtype=complex))

    def nonlin(u_hat, k):
        if comp is None:
            return np.zeros_like(u_hat)
        inputs = {Derivative(field, (coord,) * o).name: np.fft.ifft((1j * k) ** o * u_hat).real for o in orders}
        inputs.update({c: mesh[c] for c in comp.required if c in mesh})
        return np.fft.fft(comp.numpy(inputs) @ coef)

    return solve_periodic_1d(lin, nonlin, u0, length, t, dt, dealias=dealias)
