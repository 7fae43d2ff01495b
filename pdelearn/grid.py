"""Derivatives of gridded data: finite differences, smoothed differences, spectral.

All functions take an array with one axis per coordinate and differentiate along ``axis``.
Grids must be uniform (checked by :mod:`pdelearn.data`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy.signal import savgol_filter

from .errors import ConfigError
from .limits import MAX_DERIVATIVE_ORDER

__all__ = ["differentiate", "METHODS", "GridDerivative", "Differentiator"]

METHODS = ("fd", "smooth", "spectral")


class Differentiator(Protocol):
    """What the strong form of :func:`pdelearn.discover` differentiates with: ``d(u, dx, order, axis)`` is
    ``d^order u / dx^order`` along ``axis``, same shape as ``u``. Optional attributes: ``name`` (recorded in the
    options) and ``periodic`` (True: the time axis, never periodic, is differentiated by finite differences)."""

    def __call__(self, u: np.ndarray, dx: float, order: int, axis: int) -> np.ndarray: ...


class GridDerivative:
    """One of :data:`METHODS` of :func:`differentiate` as a :class:`Differentiator` (keyword options: ``window``,
    ``cutoff``).

    >>> d = GridDerivative("spectral")
    >>> x = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    >>> d.name, d.periodic, bool(np.allclose(d(np.sin(x), x[1] - x[0], 1, 0), np.cos(x)))
    ('spectral', True, True)
    """

    def __init__(self, method: str = "fd", **options):
        if method not in METHODS:
            raise ConfigError(f"unknown differentiation method {method!r}; choose one of {METHODS}")
        self.name, self.options = method, options
        self.periodic = method == "spectral"

    def __call__(self, u: np.ndarray, dx: float, order: int, axis: int = 0) -> np.ndarray:
        return differentiate(u, dx, order, axis=axis, method=self.name, **self.options)

    def __repr__(self) -> str:
        return f"GridDerivative({self.name!r})"


def differentiate(
    u: np.ndarray,
    dx: float,
    order: int,
    axis: int = 0,
    method: str = "fd",
    *,
    window: int | None = None,
    cutoff: float | None = None,
) -> np.ndarray:
    """``d^order u / dx^order`` along ``axis``.

    Parameters
    ----------
    u
        Data, any shape; ``u.shape[axis]`` points spaced ``dx`` apart.
    method
        ``"fd"``: repeated second-order central differences (one-sided at the ends).
        ``"smooth"``: Savitzky-Golay local polynomial fit of degree ``order + 3`` over ``window``
        points (default: 5 % of the axis, at least ``order + 5``), differentiated exactly.
        ``"spectral"``: FFT on a periodic axis, with an optional low-pass: modes above
        ``cutoff`` times the Nyquist wavenumber are zeroed (default 2/3, the dealiasing rule).

    Examples
    --------
    >>> x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> d = differentiate(np.sin(x), x[1] - x[0], 2, method="spectral")
    >>> bool(np.allclose(d, -np.sin(x)))
    True
    """
    if method not in METHODS:
        raise ConfigError(f"unknown differentiation method {method!r}; choose one of {METHODS}")
    if not isinstance(order, (int, np.integer)) or order < 0:
        raise ConfigError(f"derivative order must be an integer >= 0, received {order!r}")
    MAX_DERIVATIVE_ORDER.check(int(order), "the derivative order", ConfigError)
    if not (isinstance(dx, (int, float, np.integer, np.floating)) and np.isfinite(dx) and dx > 0):
        raise ConfigError(f"grid spacing dx must be a finite number > 0, received {dx!r}")
    if cutoff is not None and not (isinstance(cutoff, (int, float, np.integer, np.floating)) and 0 < cutoff < np.inf):
        raise ConfigError(
            f"spectral cutoff must be a number > 0 (a fraction of the Nyquist wavenumber), received {cutoff!r}"
        )
    u = np.asarray(u, dtype=np.float64)
    if order == 0:
        return u.copy()
    n = u.shape[axis]
    if method == "fd":
        out = u
        for _ in range(order):
            out = np.gradient(out, dx, axis=axis, edge_order=2)
        return out
    if method == "smooth":
        w = window or max(order + 5, int(0.05 * n))
        w = w + 1 if w % 2 == 0 else w
        poly = min(order + 3, w - 1)
        if w > n:
            raise ConfigError(f"smoothing window {w} is longer than the axis ({n} points); pass a smaller window")
        if poly < order:  # savgol_filter would silently return zeros
            raise ConfigError(
                f"smoothing window {w} is too short for a derivative of order {order}; pass window >= {order + 1}"
            )
        return savgol_filter(u, w, poly, deriv=order, delta=dx, axis=axis, mode="interp")
    k = 2 * np.pi * np.fft.fftfreq(n, d=dx)
    shape = [1] * u.ndim
    shape[axis] = n
    k = k.reshape(shape)
    uh = np.fft.fft(u, axis=axis)
    frac = 2.0 / 3.0 if cutoff is None else cutoff
    uh = uh * (np.abs(k) <= frac * np.pi / dx)
    return np.real(np.fft.ifft(uh * (1j * k) ** order, axis=axis))
