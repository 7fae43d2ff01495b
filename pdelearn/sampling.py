"""Scattered samples of gridded fields: random points with noise, and the checks joint discovery needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ConfigError, DataError, ShapeError

__all__ = ["make_samples", "check_samples"]


def make_samples(x: np.ndarray, t: np.ndarray, u: np.ndarray, samples: int, noise: float, seed: int = 0
                 ) -> dict[str, np.ndarray]:
    """``samples`` distinct random grid points of ``u (nx, nt)`` with Gaussian noise ``noise * std(u)``.

    Returns ``{"x", "t", "u"}``, each ``(samples,)``.

    >>> x, t = np.linspace(0, 1, 10), np.linspace(0, 1, 5)
    >>> s = make_samples(x, t, np.add.outer(x, t), 20, 0.0)
    >>> bool(np.allclose(s["u"], s["x"] + s["t"]))
    True
    """
    x, t, u = (np.asarray(a, dtype=np.float64) for a in (x, t, u))
    if x.ndim != 1 or t.ndim != 1 or u.shape != (x.size, t.size):
        raise ShapeError(f"expected x (nx,), t (nt,), u (nx, nt); received {x.shape}, {t.shape}, {u.shape}")
    if not np.all(np.isfinite(u)):
        raise DataError("the field has NaN or inf values; clean the data first")
    if samples > u.size:
        raise ConfigError(f"samples ({samples}) exceeds the number of grid points ({u.size}); ask for fewer")
    rng = np.random.default_rng(seed)
    idx = rng.choice(u.size, samples, replace=False)
    i, j = np.unravel_index(idx, u.shape)
    vals = u[i, j] + noise * float(np.std(u)) * rng.standard_normal(samples)
    return {"x": x[i], "t": t[j], "u": vals}


def check_samples(samples: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{"x", "t", "u"}`` as float64 ``(n,)`` arrays, checked: same shape, finite, spread, not constant."""
    missing = [k for k in ("x", "t", "u") if k not in samples]
    if missing:
        raise DataError(f"samples need the arrays x, t and u (each (n,)); missing {missing}")
    out = {k: np.asarray(samples[k], dtype=np.float64) for k in ("x", "t", "u")}
    n = out["u"].shape
    for k, v in out.items():
        if v.ndim != 1 or v.shape != n:
            raise ShapeError(f"samples x, t, u must all have shape (n,); {k} has {v.shape}, u has {n}")
        if not np.all(np.isfinite(v)):
            raise DataError(f"samples[{k!r}] has NaN or inf values")
    if n[0] < 10:
        raise DataError(f"need at least 10 samples, received {n[0]}")
    for k in ("x", "t"):
        if np.ptp(out[k]) == 0:
            raise DataError(f"all samples share one {k} value; joint discovery needs samples spread over x and t")
    if np.std(out["u"]) == 0:
        raise DataError("the sampled field is constant; there is no dynamics to discover")
    return out
