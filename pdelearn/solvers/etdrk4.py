"""Fourier-spectral ETDRK4 reference solver for periodic problems ``u_t = L u + N(u)``.

The time stepper is the fourth-order exponential time-differencing Runge-Kutta scheme of Cox &
Matthews (2002) in the form of Kassam & Trefethen (2005): the linear part ``L`` is diagonal in
Fourier space and integrated exactly; the phi-function coefficients are evaluated as means over a
circle of radius 1 around each ``h*L`` in the complex plane, which avoids the cancellation of the
direct formulas for small ``|h*L|``.

The core, :func:`etdrk4_diagonal`, works on a Fourier-space state of any shape (one field in 1-D,
several fields on a 2-D grid, ...) and is shared by :mod:`pdelearn.solvers.reaction_diffusion`.
:func:`solve_periodic_1d` wraps it for one real field on a 1-D periodic grid; the built-in 1-D
systems use it in :mod:`pdelearn.solvers.builtin`. Everything here is numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

__all__ = ["etdrk4_diagonal", "solve_periodic_1d"]

#: Default number of contour points (on the upper half circle, as in Kassam & Trefethen).
CONTOUR_POINTS = 32

# A time in ``t_eval`` counts as a multiple of ``dt`` when ``t/dt`` is this close to an integer.
_STEP_TOL = 1e-6

# The state is checked for NaN/inf at every output and every this many steps.
_CHECK_EVERY = 64


# --------------------------------------------------------------------------------------------------
# validation helpers (shared with reaction_diffusion.py)
# --------------------------------------------------------------------------------------------------
def _positive(value, name: str, hint: str) -> float:
    """Return ``value`` as a finite positive float or raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{name} must be a positive finite number, received {type(value).__name__}: {value!r}; "
            f"{hint}"
        )
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ConfigError(f"{name} must be a positive finite number, received {value!r}; {hint}")
    return value


def _finite(value, name: str, hint: str) -> float:
    """Return ``value`` as a finite float (any sign) or raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{name} must be a finite real number, received {type(value).__name__}: {value!r}; "
            f"{hint}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite real number, received {value!r}; {hint}")
    return value


def _grid_size(value, name: str, minimum: int = 4) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(
            f"{name} must be an integer >= {minimum}, received {type(value).__name__}: {value!r}; "
            f"pass e.g. {name}=256"
        )
    if value < minimum:
        raise ConfigError(
            f"{name} must be an integer >= {minimum}, received {value}; pass e.g. {name}=256"
        )
    return int(value)


def _time_steps(t_eval, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Check ``t_eval`` against ``dt``; return ``(t_eval as float64, step index of each time)``."""
    try:
        t = np.asarray(t_eval, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"t_eval must be a 1-D array of real times, received {type(t_eval).__name__}; "
            f"pass e.g. t_eval=np.linspace(0, 1, 101)"
        ) from None
    if t.ndim != 1 or t.size == 0:
        raise ShapeError(
            f"t_eval must be a non-empty 1-D array of times, received shape {t.shape}; "
            f"pass e.g. t_eval=np.linspace(0, 1, 101)"
        )
    if not np.all(np.isfinite(t)):
        bad = int(np.flatnonzero(~np.isfinite(t))[0])
        raise DataError(
            f"t_eval must be finite, received {float(t[bad])!r} at index {bad}; "
            f"remove NaN/inf times"
        )
    if abs(t[0]) > _STEP_TOL * dt:
        raise DataError(
            f"t_eval must start at 0 (the time of u0), received t_eval[0] = {float(t[0])!r}; "
            f"prepend 0 to t_eval or shift the times"
        )
    if t.size > 1 and np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise DataError(
            f"t_eval must be strictly increasing, received t_eval[{bad}] = {float(t[bad])!r} "
            f"followed by "
            f"t_eval[{bad + 1}] = {float(t[bad + 1])!r}; sort the times and drop duplicates"
        )
    ratio = t / dt
    steps = np.rint(ratio)
    off = np.abs(ratio - steps) > _STEP_TOL * np.maximum(1.0, steps)
    if np.any(off):
        bad = int(np.flatnonzero(off)[0])
        raise ConfigError(
            f"every time in t_eval must be a multiple of the time step dt = {dt!r}; received "
            f"t_eval[{bad}] = {float(t[bad])!r} = {ratio[bad]:.6g} * dt; choose dt so that it "
            f"divides the "
            f"output spacing (e.g. dt = spacing / an integer)"
        )
    return t, steps.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# ETDRK4 core
# --------------------------------------------------------------------------------------------------
def _etdrk4_coefficients(lin: np.ndarray, dt: float, contour_points: int):
    """Return ``E, E2, Q, f1, f2, f3`` of Kassam & Trefethen (2005), eq. (2.5)/(26), for ``h = dt``.

    The phi-functions are averaged over ``2*contour_points`` points on the unit circle around each
    ``dt*lin``. For a real ``lin`` this equals the real part of the mean over the
    ``contour_points`` points of the upper half circle used by Kassam & Trefethen.
    """
    m = 2 * contour_points
    roots = np.exp(2j * np.pi * (np.arange(1, m + 1) - 0.5) / m)
    hl = dt * lin
    q, f1, f2, f3 = phi_means(hl, roots, dt, np.exp)
    if not np.iscomplexobj(lin) or not np.any(lin.imag):
        q, f1, f2, f3 = q.real, f1.real, f2.real, f3.real
    return np.exp(hl), np.exp(hl / 2), q, f1, f2, f3


def phi_means(hl, roots, dt: float, exp):
    """``Q, f1, f2, f3`` as means over the contour points ``hl + roots`` (numpy arrays or torch tensors).

    ``hl`` is ``dt * L`` (any shape), ``roots`` the points on the unit circle ``(m,)``, ``exp`` the
    exponential of the array library; the mean runs over the last axis.
    """
    lr = hl[..., None] + roots  # (..., m)
    elr = exp(lr)
    lr3 = lr**3
    q = dt * ((exp(lr / 2) - 1.0) / lr).mean(-1)
    f1 = dt * ((-4.0 - lr + elr * (4.0 - 3.0 * lr + lr**2)) / lr3).mean(-1)
    f2 = dt * ((2.0 + lr + elr * (lr - 2.0)) / lr3).mean(-1)
    f3 = dt * ((-4.0 - 3.0 * lr - lr**2 + elr * (4.0 - lr)) / lr3).mean(-1)
    return q, f1, f2, f3


def etdrk4_diagonal(
    lin,
    nonlinear: Callable[[np.ndarray], np.ndarray],
    v0,
    dt: float,
    steps: Sequence[int],
    *,
    contour_points: int = CONTOUR_POINTS,
) -> np.ndarray:
    """Integrate ``v_t = lin * v + nonlinear(v)`` with ETDRK4 for a diagonal linear operator.

    This is the shape-agnostic core: ``v`` is a Fourier-space state of any shape (one field,
    several stacked fields, a 2-D grid, ...) and ``lin`` multiplies it elementwise.

    Parameters
    ----------
    lin : array_like, broadcastable to ``v0.shape``
        The diagonal of the linear operator (real or complex), e.g. ``-nu * k**2``.
    nonlinear : callable
        ``nonlinear(v) -> array`` of shape ``v0.shape``: the Fourier-space nonlinear term.
    v0 : array_like, complex
        Initial state, any shape.
    dt : float
        Time step (> 0).
    steps : sequence of int, shape (n_out,)
        Non-decreasing step indices (``>= 0``) at which to record the state; the state after
        ``steps[j]`` steps, at time ``steps[j]*dt``, is stored in row ``j`` of the result.
    contour_points : int, optional
        Points on the upper half of the contour circle (Kassam & Trefethen's ``M``; 32).

    Returns
    -------
    ndarray, complex, shape (n_out, *v0.shape)
        The recorded states.

    Raises
    ------
    ConfigError
        If ``dt`` is not positive, ``steps`` is not non-decreasing, or the solution becomes
        non-finite (the step is too large for the problem).
    ShapeError
        If ``lin`` does not broadcast to ``v0`` or ``nonlinear`` returns the wrong shape.

    Examples
    --------
    Pure linear decay of one Fourier mode, exact for any step:

    >>> import numpy as np
    >>> out = etdrk4_diagonal(np.array([-1.0]), lambda v: 0 * v, np.array([1.0 + 0j]), 0.5, [0, 2])
    >>> bool(np.isclose(out[1, 0].real, np.exp(-1.0)))
    True
    """
    dt = _positive(dt, "dt", "pass a positive time step such as dt=1e-3")
    contour_points = _grid_size(contour_points, "contour_points", minimum=4)
    v = np.array(v0, dtype=np.complex128)
    lin_arr = np.asarray(lin)
    if not np.issubdtype(lin_arr.dtype, np.number):
        raise DataError(f"the linear operator must be numeric, received dtype {lin_arr.dtype}")
    try:
        lin_arr = np.broadcast_to(lin_arr, v.shape)
    except ValueError:
        raise ShapeError(
            f"the linear operator must have the state's shape {v.shape} (or broadcast to it), "
            f"received shape {lin_arr.shape}; return one value per Fourier mode"
        ) from None
    if not np.all(np.isfinite(lin_arr)):
        raise DataError(
            "the linear operator must be finite for every Fourier mode, received NaN or inf "
            "values; check the wavenumbers and the coefficients"
        )
    steps = np.asarray(steps, dtype=np.int64).ravel()
    if steps.size and (steps[0] < 0 or np.any(np.diff(steps) < 0)):
        raise ConfigError(
            f"steps must be non-negative and non-decreasing, received {steps.tolist()[:8]}..."
        )

    lin_arr = (
        lin_arr.astype(np.complex128) if np.iscomplexobj(lin_arr) else lin_arr.astype(np.float64)
    )
    e, e2, q, f1, f2, f3 = _etdrk4_coefficients(lin_arr, dt, contour_points)

    def n_of(w: np.ndarray) -> np.ndarray:
        out = nonlinear(w)
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        if out.shape != w.shape:
            raise ShapeError(
                f"the nonlinear term must return an array of the state's shape {w.shape}, "
                f"received shape {out.shape}; return the Fourier transform of N(u)"
            )
        return out

    def blown_up(done: int) -> ConfigError:
        return ConfigError(
            f"the solution became NaN/inf by t = {done * dt:.6g} (step {done}) with dt = {dt!r}; "
            f"expected a bounded solution; reduce dt (or check the equation and the initial "
            f"condition)"
        )

    result = np.empty((steps.size,) + v.shape, dtype=np.complex128)
    # overflow inside a step is reported below as a ConfigError, not as numpy warnings
    with np.errstate(over="ignore", invalid="ignore"):
        done = 0
        for j, target in enumerate(steps):
            while done < target:
                if done % _CHECK_EVERY == 0 and done and not np.all(np.isfinite(v)):
                    raise blown_up(done)
                nv = n_of(v)
                a = e2 * v + q * nv
                na = n_of(a)
                b = e2 * v + q * na
                nb = n_of(b)
                c = e2 * a + q * (2.0 * nb - nv)
                nc = n_of(c)
                v = e * v + nv * f1 + 2.0 * (na + nb) * f2 + nc * f3
                done += 1
            if not np.all(np.isfinite(v)):
                raise blown_up(done)
            result[j] = v
    return result


# --------------------------------------------------------------------------------------------------
# 1-D periodic wrapper
# --------------------------------------------------------------------------------------------------
def wavenumbers(nx: int, length: float) -> np.ndarray:
    """Angular wavenumbers ``2*pi*j/length`` of a length-``nx`` FFT, in ``np.fft.fft`` order."""
    return 2.0 * np.pi * np.fft.fftfreq(nx, d=length / nx)


def dealias_mask(nx: int) -> np.ndarray:
    """Boolean mask of the Fourier modes kept by the 2/3 rule (``|j| < nx/3``), FFT order."""
    j = np.abs(np.fft.fftfreq(nx) * nx)
    return j < nx / 3.0


def solve_periodic_1d(
    linear: Callable[[np.ndarray], np.ndarray],
    nonlinear: Callable[[np.ndarray, np.ndarray], np.ndarray],
    u0,
    length: float,
    t_eval,
    dt: float,
    dealias: bool = False,
) -> np.ndarray:
    """Solve a 1-D periodic problem ``u_t = L u + N(u)`` with Fourier-spectral ETDRK4.

    The state is the full complex FFT ``u_hat = np.fft.fft(u)`` of the real field on ``nx``
    equispaced points of one period; the grid itself (``x_i = x0 + length*i/nx``) only enters
    through the initial values, so it is the caller's business.

    Parameters
    ----------
    linear : callable
        ``linear(k) -> array`` of shape ``(nx,)`` (or a scalar): the Fourier symbol of ``L`` at the
        angular wavenumbers ``k = 2*pi*np.fft.fftfreq(nx, length/nx)``, e.g.
        ``lambda k: -nu * k**2`` for ``nu*u_xx`` or ``lambda k: 1j * k**3`` for ``-u_xxx``.
    nonlinear : callable
        ``nonlinear(u_hat, k) -> complex array`` of shape ``(nx,)``: the FFT of ``N(u)``. Typically
        ``u = np.fft.ifft(u_hat).real`` followed by ``np.fft.fft(...)`` of the nonlinear expression.
    u0 : array_like, shape (nx,)
        Real, finite initial values on the grid; ``nx >= 4``.
    length : float
        Length of the period (> 0).
    t_eval : array_like, shape (nt,)
        Output times: strictly increasing, starting at 0, each a multiple of ``dt`` (to rounding).
    dt : float
        Time step (> 0).
    dealias : bool, optional
        If True, apply the 2/3 rule to the nonlinear term (modes with ``|j| >= nx/3`` are set to
        zero in ``N``). Default False.

    Returns
    -------
    ndarray, float64, shape (nx, nt)
        ``u[i, j] = u(x_i, t_eval[j])`` (space x time); the real part of the inverse FFT.

    Raises
    ------
    ConfigError
        For a non-callable ``linear``/``nonlinear``, ``dt <= 0``, ``length <= 0``, times that are
        not multiples of ``dt``, or a solution that blows up.
    ShapeError
        If ``u0`` or ``t_eval`` is not 1-D, or a callable returns the wrong shape.
    DataError
        For NaN/inf or complex ``u0``, NaN/inf times, ``t_eval`` not starting at 0 or not
        increasing.

    Examples
    --------
    Diffusion of one sine mode, ``u_t = u_xx`` on ``[0, 2*pi)``, against ``exp(-t) sin(x)``:

    >>> import numpy as np
    >>> x = 2 * np.pi * np.arange(16) / 16
    >>> u = solve_periodic_1d(lambda k: -k**2, lambda u_hat, k: 0 * u_hat, np.sin(x), 2 * np.pi,
    ...                       np.array([0.0, 0.5]), dt=0.1)
    >>> u.shape
    (16, 2)
    >>> bool(np.allclose(u[:, 1], np.exp(-0.5) * np.sin(x)))
    True
    """
    if not callable(linear):
        raise ConfigError(
            f"linear must be a callable k -> Fourier symbol of L, received "
            f"{type(linear).__name__}; "
            f"pass e.g. linear=lambda k: -0.1 * k**2"
        )
    if not callable(nonlinear):
        raise ConfigError(
            f"nonlinear must be a callable (u_hat, k) -> FFT of N(u), received "
            f"{type(nonlinear).__name__}; pass e.g. lambda u_hat, k: 0 * u_hat for N = 0"
        )
    if not isinstance(dealias, (bool, np.bool_)):
        raise ConfigError(
            f"dealias must be True or False, received {type(dealias).__name__}: {dealias!r}"
        )
    length = _positive(
        length, "length", "pass the period of the domain, e.g. length=2.0 for [-1, 1)"
    )
    dt = _positive(dt, "dt", "pass a positive time step such as dt=1e-3")
    u0_arr = np.asarray(u0)
    if u0_arr.ndim != 1:
        raise ShapeError(
            f"u0 must be a 1-D array of shape (nx,), received shape {u0_arr.shape}; pass the "
            f"initial "
            f"values on the grid as a flat array"
        )
    if u0_arr.size < 4:
        raise ShapeError(
            f"u0 must have at least 4 grid points, received {u0_arr.size}; use a finer grid"
        )
    if np.iscomplexobj(u0_arr):
        raise DataError(
            "u0 must be real, received a complex array; pass np.real(u0) if the imaginary part "
            "is noise"
        )
    if not np.issubdtype(u0_arr.dtype, np.number) and u0_arr.dtype != np.bool_:
        raise DataError(f"u0 must be numeric, received dtype {u0_arr.dtype}")
    u0_arr = u0_arr.astype(np.float64)
    if not np.all(np.isfinite(u0_arr)):
        bad = int(np.flatnonzero(~np.isfinite(u0_arr))[0])
        raise DataError(
            f"u0 must be finite, received {float(u0_arr[bad])!r} at index {bad}; fix or remove "
            f"non-finite "
            f"initial values"
        )
    t, steps = _time_steps(t_eval, dt)

    nx = u0_arr.size
    k = wavenumbers(nx, length)
    lin = np.asarray(linear(k.copy()))
    if lin.shape not in ((), (nx,)):
        raise ShapeError(
            f"linear(k) must return shape ({nx},) (one value per wavenumber) or a scalar, received "
            f"shape {lin.shape}"
        )
    lin = np.broadcast_to(lin, (nx,))
    if not np.all(np.isfinite(lin)):
        bad = int(np.flatnonzero(~np.isfinite(lin))[0])
        raise DataError(
            f"linear(k) must be finite for every wavenumber, received {complex(lin[bad])!r} at "
            f"k = {k[bad]!r}; check the coefficients of L"
        )
    if np.iscomplexobj(lin) and not np.any(lin.imag):
        lin = lin.real

    k_user = k.copy()
    if dealias:
        mask = dealias_mask(nx)

        def rhs(v: np.ndarray) -> np.ndarray:
            return mask * np.asarray(nonlinear(v, k_user))

    else:

        def rhs(v: np.ndarray) -> np.ndarray:
            return np.asarray(nonlinear(v, k_user))

    v_hat = etdrk4_diagonal(lin, rhs, np.fft.fft(u0_arr), dt, steps)
    return np.ascontiguousarray(np.fft.ifft(v_hat, axis=1).real.T)
