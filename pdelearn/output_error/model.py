"""Where observations sit on the periodic simulation grid, and the initial state's Fourier representation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ShapeError

__all__ = ["grid_layout", "smoothed_initial_state", "observations", "initial_modes", "fourier_basis", "fourier_band",
           "solver_grid"]

_OTHER = "use the physics-informed estimator (estimator: pinn), which takes scattered points"
_GRID = f"the output-error estimator simulates on a uniform periodic grid. Resample the data onto a grid or {_OTHER}"


def _axis_grid(values: np.ndarray, what: str) -> tuple[float, float, np.ndarray]:
    """``(origin, spacing, integer index of each value)`` of values on a uniform grid, else DataError."""
    levels = np.unique(values)
    if levels.size < 2:
        raise DataError(f"the data have a single {what} value {levels[0]!r}; output-error fits need several")
    span = float(levels[-1] - levels[0])
    h = float(np.min(np.diff(levels)))
    cells = span / h
    if cells > 1e6:
        raise DataError(f"the data are not on a uniform grid in {what}: the closest {what} values are {h:.3g} apart "
                        f"over a span of {span:.3g}; {_GRID}")
    h = span / round(cells)  # the spacing from the whole span: less rounding than one difference
    idx = (values - levels[0]) / h
    off = np.abs(idx - np.rint(idx))
    if off.max() > 1e-3:
        bad = int(np.argmax(off))
        raise DataError(f"the data are not on a uniform grid in {what}: {what} = {float(values[bad])!r} is "
                        f"{idx[bad]:.4f} spacings from {float(levels[0])!r} (spacing {h:.6g}); {_GRID}")
    return float(levels[0]), h, np.rint(idx).astype(np.int64)


def grid_layout(x, t, *, length: float | None = None, nx: int | None = None) -> dict[str, Any]:
    """Where observations at ``(x, t)`` (each ``(n,)``: a full grid flattened, or any subset of one) sit on a periodic
    simulation grid: ``{x0, length, nx, t0, dt_out, i, j, t_eval}`` (``i``: solver grid index, ``j``: output time
    index, each ``(n,)``; ``t_eval``: output times from 0).

    ``length``: the period; default: the data grid's points times its spacing (for a grid with both ends, such as
    ``linspace(-1, 1, 256)``, pass the period 2). ``nx``: solver points per period, a multiple of the data grid's.
    """
    x, t = np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    x0, dx, i = _axis_grid(x, "x")
    t0, ht, j = _axis_grid(t, "t")
    points = int(i.max()) + 1 if length is None else length / dx
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, (int, float)) or not length > 0:
            raise ConfigError(f"length (the period) must be a positive number, received {length!r}")
        if abs(points - round(points)) > 1e-6 * points or round(points) < int(i.max()) + 1 - 1:
            raise DataError(f"the period length = {length!r} is not a whole number of grid spacings ({points:.4f} x "
                            f"{dx:.6g}) or is shorter than the data; give the period of the data's domain, or {_OTHER}")
    points = int(round(points))
    nx = points if nx is None else nx
    if isinstance(nx, bool) or not isinstance(nx, int) or nx < points or nx % points:
        raise ConfigError(f"nx (solver points) must be a multiple of the data grid's {points} points per period, "
                          f"received {nx!r}")
    return {"x0": x0, "length": points * dx, "nx": nx, "i": (i % points) * (nx // points), "j": j,
            "t0": t0, "dt_out": ht, "t_eval": ht * np.arange(int(j.max()) + 1)}


def observations(data: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, t, u)``, each ``(n,)``, of grid data or samples, checked."""
    if not isinstance(data, Mapping) or any(k not in data for k in ("x", "t", "u")):
        raise DataError("data must be a mapping with arrays 'x', 't', 'u': a grid (x (nx,), t (nt,), u (nx, nt)) or "
                        f"samples (each (n,)); received {type(data).__name__} with keys "
                        f"{sorted(data) if isinstance(data, Mapping) else '-'}")
    x, t, u = (np.asarray(data[k], dtype=np.float64) for k in ("x", "t", "u"))
    if u.ndim == 2:
        if x.ndim != 1 or t.ndim != 1 or u.shape != (x.size, t.size):
            raise ShapeError(f"grid data need x (nx,), t (nt,), u (nx, nt); received {x.shape}, {t.shape}, {u.shape}")
        x, t, u = np.repeat(x, t.size), np.tile(t, x.size), u.ravel()
    elif not (x.ndim == t.ndim == u.ndim == 1 and x.size == t.size == u.size):
        raise ShapeError(f"samples need x, t, u of one shape (n,); received {x.shape}, {t.shape}, {u.shape}")
    bad = ~(np.isfinite(x) & np.isfinite(t) & np.isfinite(u))
    if bad.any():
        raise DataError(f"the data have {int(bad.sum())} NaN/inf values (first at point {int(np.argmax(bad))}); "
                        f"drop them first")
    return x, t, u


def initial_modes(x: np.ndarray, t: np.ndarray, u: np.ndarray, layout: dict, modes: int) -> np.ndarray:
    """``[a_0, a_1, b_1, ...]`` (``u0 = a_0 + sum_k a_k cos(k w) + b_k sin(k w)``): ``modes`` Fourier modes fitted to
    the earliest time levels that hold at least ``3 (2 modes - 1)`` observations (the smoothed first snapshot)."""
    need = 3 * (2 * modes - 1)
    counts = np.cumsum(np.bincount(layout["j"]))
    level = int(np.searchsorted(counts, min(need, t.size)))
    keep = layout["j"] <= level
    design = fourier_basis(x[keep], layout, modes)
    reg = 1e-8 * keep.sum() * np.eye(design.shape[1])
    return np.linalg.solve(design.T @ design + reg, design.T @ u[keep])


def smoothed_initial_state(x: np.ndarray, t: np.ndarray, u: np.ndarray, layout: dict, modes: int) -> np.ndarray:
    """The start :func:`fit_output_error` uses by default: ``modes`` Fourier modes fitted to the earliest
    observations ``(n,)``, on the solver grid of ``layout`` (:func:`grid_layout`); returns ``(nx,)``."""
    return fourier_basis(solver_grid(layout), layout, modes) @ initial_modes(x, t, u, layout, modes)


def fourier_basis(x: np.ndarray, layout: dict, modes: int) -> np.ndarray:
    w = 2 * np.pi * (x - layout["x0"]) / layout["length"]
    cols = [np.ones_like(w)]
    for k in range(1, modes):
        cols += [np.cos(k * w), np.sin(k * w)]
    return np.stack(cols, axis=1)


def solver_grid(layout: dict) -> np.ndarray:
    """The solver grid ``(nx,)`` of a :func:`grid_layout`."""
    return layout["x0"] + layout["length"] * np.arange(layout["nx"]) / layout["nx"]


def fourier_band(u: np.ndarray, lo: int, hi: int | None = None) -> np.ndarray:
    """The content of a periodic state ``u (nx,)`` in its Fourier modes ``lo .. hi - 1`` (``hi`` None: all above)."""
    spec = np.fft.rfft(u)
    spec[:lo] = 0.0
    if hi is not None:
        spec[hi:] = 0.0
    return np.fft.irfft(spec, u.size)
