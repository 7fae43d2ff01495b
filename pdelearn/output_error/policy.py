"""The rules of the output-error engine, each constant named once: test levels, the solver's time step, the initial
state's Fourier modes, the noise floor of a spectrum, the resolution of a simulation. A leaf (math and numpy), so the
plain solvers read the time-step rule too; where the callers' rules differ, the difference is a named argument."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import numpy as np

__all__ = ["ALPHA", "F_CRIT", "DT_MAX", "CFL", "MAX_IC_MODES", "MODES", "RESOLVED", "divided_step", "stable_step",
           "halving_step", "retry_step", "pure_order", "upper_band", "upper_floor", "modes_above_floor",
           "modes_to_tolerance", "resolved_wavenumber"]

ALPHA = 0.01  #: level of the engine's score, F and misfit tests
F_CRIT = 4.0  #: F below which a term is dropped by backward elimination (joint discovery)
DT_MAX = 1e-3  #: default largest solver step: the output spacing is divided until its step is at most this
STEP_SLACK = 1e-9  #: ``ceil(ratio - slack)``: a ratio a rounding error above a whole number takes that number
CFL = 0.5  #: largest ``dt x rate`` of the explicit terms (:func:`stable_step`)
RETRY_SHRINK = 4  #: a fit whose first simulation blows up is retried once with this fraction of its step ...
RETRY_FLOOR = 64  #: ... unless that step falls below the output spacing over this
MAX_HALVINGS = 5  #: :func:`halving_step` tries the output spacing over 2, 4, ... 2^MAX_HALVINGS
STEP_AGREE = 1e-2  #: joint refinement: a step agrees with its half to this share of the noise level (RMS)
MODES = 16  #: fewest initial-state modes a refinement starts with (fewer on grids under 64 points)
MODES_CAP = 32  #: grid refinement: at most this many modes read from the first snapshot
MAX_IC_MODES = 64  #: grid refinement: the initial state grows to at most this many modes
RESOLVED = 1e-2  #: largest RMS change (in noise levels) of a simulation on a grid twice as fine: else not resolved


def divided_step(h: float, ratio: float, slack: float = STEP_SLACK) -> float:
    """``h / n`` with ``n = max(1, ceil(ratio - slack))``: the output spacing ``h`` cut into whole steps, ``ratio``
    being ``h`` over the largest step allowed (computed by the caller, so its rounding is the caller's)."""
    return h / max(1, math.ceil(ratio - slack))


def pure_order(term) -> int:
    """The order of a term that is one derivative alone (``u_x`` 1, ``u_xxxx`` 4; ``u`` 0), else -1."""
    if len(term.derivatives) != 1:
        return -1
    d = next(iter(term.derivatives))
    return d.order if term.expr == d.symbol else -1


def _degree(term) -> int:
    import sympy

    symbols = [d.symbol for d in term.derivatives]
    try:
        return int(sympy.Poly(term.expr, *symbols).total_degree()) if symbols else 0
    except sympy.PolynomialError:
        return 2


def stable_step(h: float, terms, coef, scale: float, kmax: float) -> float:
    """Largest ``h / n`` with ``dt * rate <= CFL``; ``rate``: the linearised rate of the explicit terms, each (but
    the exactly integrated pure derivatives) ``|c| p U^(p - 1) k_max^order`` (``p``: polynomial degree, ``U``:
    ``scale = max |u|``, ``k_max``: ``kmax``, see :func:`resolved_wavenumber`)."""
    rate = 0.0
    for term, c in zip(terms, coef):
        if pure_order(term) >= 0 or term.is_constant:
            continue
        p = max(_degree(term), 1)
        order = max((d.order for d in term.derivatives), default=0)
        rate += abs(c) * p * scale ** (p - 1) * kmax**order
    return divided_step(h, h * rate / CFL)


def retry_step(dt: float, h: float) -> Optional[float]:
    """The step of the one retry of a fit that blew up at ``dt`` (output spacing ``h``), or None."""
    return None if dt / RETRY_SHRINK < h / RETRY_FLOOR else dt / RETRY_SHRINK


def halving_step(solve: Callable[[float], Optional[np.ndarray]], h: float, tol: float,
                 max_halvings: int = MAX_HALVINGS) -> Optional[float]:
    """Largest ``h / 2^k`` (``k <= max_halvings``) whose solution differs from the one at half the step by an RMS
    below ``tol``; None when none does (``solve(dt)`` returns None when the simulation blows up)."""
    dt, prev = h, None
    for _ in range(max_halvings + 1):
        cur = solve(dt / 2)
        if prev is not None and cur is not None and float(np.sqrt(np.mean((prev - cur) ** 2))) <= tol:
            return dt
        prev, dt = cur, dt / 2
    return None


def upper_band(power: np.ndarray, ends: bool = True) -> np.ndarray:
    """The upper half of a power spectrum ``(m,)``, where a resolved field has no power: its median is the noise
    floor. ``ends=False`` leaves out the Nyquist mode (and mode 0), and keeps a spectrum of at most 4 modes whole."""
    if ends:
        return power[power.size // 2:]
    return power[max(1, power.size // 2):-1] if power.size > 4 else power


def upper_floor(power: np.ndarray) -> float:
    """The noise floor of a power spectrum: the median of :func:`upper_band`."""
    return float(np.median(upper_band(power)))


def modes_above_floor(u0: np.ndarray, factor: float = 25.0, extra: float = 1.25, lo: int = MODES,
                      hi: int = MODES_CAP) -> int:
    """Fourier modes of an initial state read from one snapshot ``(nx,)``: ``extra`` x those above ``factor`` x its
    noise floor, in ``[lo, hi]`` and at most ``nx / 4`` (grid refinement's rule)."""
    power = np.abs(np.fft.rfft(u0)) ** 2
    floor = upper_floor(power) + np.finfo(float).tiny
    strong = np.flatnonzero(power > factor * floor)
    need = int(math.ceil(extra * (strong.max() + 1))) if strong.size else 1
    return int(min(max(need, lo), hi, u0.size // 4))


def modes_to_tolerance(u0: np.ndarray, scale: float, tol: float = 1e-3, lo: int = 8) -> int:
    """Fourier modes that represent ``u0 (nx,)`` to an RMS error below ``tol * scale`` (at least ``lo``, at most
    nx/4; joint refinement's rule)."""
    u0 = np.asarray(u0, dtype=np.float64)
    nx = u0.size
    c = np.fft.rfft(u0) / nx
    power = 2 * np.abs(c) ** 2
    power[0] = np.abs(c[0]) ** 2
    tail = np.cumsum(power[::-1])[::-1]  # tail[k]: mean square of modes >= k
    ok = np.flatnonzero(tail <= (tol * scale) ** 2)
    modes = int(ok[0]) if ok.size else power.size
    return int(min(max(modes, lo), max(nx // 4, 1)))


def resolved_wavenumber(u: np.ndarray, length: float, factor: float = 100.0) -> float:
    """Twice the largest wavenumber whose mean power over time exceeds ``factor`` x the noise floor (``u``:
    ``(nx, nt)``), at most the dealiased Nyquist wavenumber: the scale the explicit terms' rates are judged at."""
    power = np.mean(np.abs(np.fft.rfft(u, axis=0)) ** 2, axis=1)
    nyquist = math.pi * u.shape[0] / length * 2.0 / 3.0
    floor = upper_floor(power)
    strong = np.flatnonzero(power > factor * floor) if floor > 0 else np.array([], int)
    return min(2.0 * 2.0 * math.pi * strong.max() / length, nyquist) if strong.size > 1 else nyquist
