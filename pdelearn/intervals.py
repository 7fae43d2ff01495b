"""Coefficient intervals shared by grid discovery and joint discovery.

- :func:`bootstrap_draws`: least squares on resampled rows (one implementation for both);
- :func:`bootstrap_intervals`: 95 % percentile intervals of those draws (joint discovery);
- :func:`ensemble_intervals`: ``estimate -+ t(K-1) sd`` over an ensemble of K trained networks.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .limits import MAX_BOOTSTRAP

__all__ = ["bootstrap_draws", "bootstrap_intervals", "check_bootstrap", "ensemble_intervals"]


def bootstrap_draws(A: np.ndarray, b: np.ndarray, n_boot: int, seed: int = 0,
                    groups: np.ndarray | None = None) -> np.ndarray:
    """Least-squares solutions ``(n_boot, n_cols)`` of ``A x = b`` on ``n_boot`` resamples of the rows.

    With ``groups`` (one label per row) whole groups are resampled instead of rows (a cluster bootstrap:
    rows of one group, e.g. the positions and channels of one image, are not independent samples).

    >>> A = np.c_[np.ones(50), np.linspace(0, 1, 50)]
    >>> bootstrap_draws(A, A @ [1.0, 2.0], 3).round(6).tolist()
    [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
    """
    check_bootstrap(n_boot)
    rng = np.random.default_rng(seed)
    if groups is not None:
        return _group_draws(A, b, n_boot, rng, np.asarray(groups))
    n = A.shape[0]
    draws = np.empty((n_boot, A.shape[1]))
    for k in range(n_boot):
        rows = rng.integers(0, n, n)
        draws[k] = np.linalg.lstsq(A[rows], b[rows], rcond=None)[0]
    return draws


def _group_draws(A: np.ndarray, b: np.ndarray, n_boot: int, rng, groups: np.ndarray) -> np.ndarray:
    """:func:`bootstrap_draws` over resampled groups, from per-group ``A^T A`` and ``A^T b`` (one small solve each)."""
    _, label = np.unique(groups.reshape(-1), return_inverse=True)
    order = np.argsort(label, kind="stable")
    edges = np.flatnonzero(np.diff(label[order])) + 1
    parts = np.split(order, edges)
    gram = np.stack([A[i].T @ A[i] for i in parts])
    rhs = np.stack([A[i].T @ b[i] for i in parts])
    m = len(parts)
    draws = np.empty((n_boot, A.shape[1]))
    for k in range(n_boot):
        counts = np.bincount(rng.integers(0, m, m), minlength=m).astype(float)
        draws[k] = np.linalg.lstsq(np.tensordot(counts, gram, 1), counts @ rhs, rcond=None)[0]
    return draws


def check_bootstrap(n_boot, what: str = "bootstrap") -> int:
    """``n_boot`` as an int: an integer >= 0 and at most :data:`~pdelearn.limits.MAX_BOOTSTRAP`, else ConfigError."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ConfigError(f"{what} must be an integer >= 0 (resamples), received {n_boot!r}")
    MAX_BOOTSTRAP.check(int(n_boot), what)
    return int(n_boot)


def bootstrap_intervals(G: np.ndarray, b: np.ndarray, support: np.ndarray, n_boot: int, seed: int = 0,
                        groups: np.ndarray | None = None) -> np.ndarray:
    """95 % percentile intervals ``(len(support), 2)`` of least squares on resampled rows of ``G[:, support]``
    (resampled ``groups`` of rows when given, see :func:`bootstrap_draws`)."""
    lo, hi = np.percentile(bootstrap_draws(G[:, support], b, n_boot, seed, groups), [2.5, 97.5], axis=0)
    return np.stack([lo, hi], axis=-1)


def ensemble_intervals(center: np.ndarray, draws: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``center -+ t_{K-1} * sd(draws)`` per term ``(n, 2)``: draws ``(K, n)`` of an ensemble of K >= 2 members.

    The members' spread estimates the standard deviation of the whole estimator (network and
    regression); Student's t with ``K - 1`` degrees of freedom accounts for estimating it from K draws.

    >>> ensemble_intervals(np.array([1.0]), np.array([[0.9], [1.1]])).round(3).tolist()
    [[-0.797, 2.797]]
    """
    from scipy.stats import t as student_t

    draws = np.atleast_2d(np.asarray(draws, dtype=np.float64))
    if draws.shape[0] < 2:
        raise ConfigError(f"an ensemble interval needs at least 2 members, received {draws.shape[0]}")
    sd = draws.std(axis=0, ddof=1)
    q = float(student_t.ppf(0.5 + level / 2, draws.shape[0] - 1))
    return np.stack([center - q * sd, center + q * sd], axis=-1)

