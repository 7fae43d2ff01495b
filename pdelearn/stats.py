"""Small statistics shared by the estimators (no torch).

:func:`nested_f` is the extra-sum-of-squares F statistic of two nested least-squares models; the
output-error fits (:func:`pdelearn.output_error.fit.f_test`) and the joint discovery's term pruning use it;
:func:`chi2_crit` and :func:`f_quantile` are the critical values of the output-error engine's tests.
"""

from __future__ import annotations

import math

from .errors import ConfigError

__all__ = ["nested_f", "f_pvalue", "chi2_crit", "f_quantile"]


def nested_f(rss_reduced: float, rss_full: float, n: int, p_full: int, q: int = 1) -> float:
    """Extra-sum-of-squares F of a reduced model nested in a full one.

    ``F = ((RSS_reduced - RSS_full) / q) / (RSS_full / (n - p_full))``: the increase of the residual
    sum of squares per dropped parameter, in units of the full model's noise variance. Under the
    reduced model (and Gaussian noise) ``F`` follows ``F(q, n - p_full)``; a dropped term the data
    need gives ``F >> 1``. Mean squared errors over the same ``n`` points may be passed instead of
    sums of squares (the ratio is the same).

    Parameters
    ----------
    rss_reduced, rss_full
        Residual sums of squares (or mean squares) of the reduced and the full model.
    n
        Number of data points.
    p_full
        Number of fitted parameters of the full model (``n - p_full`` is floored at 1).
    q
        Number of parameters dropped (>= 1).

    Examples
    --------
    >>> nested_f(12.0, 10.0, n=102, p_full=2)
    20.0
    """
    if isinstance(q, bool) or not isinstance(q, int) or q < 1:
        raise ConfigError(f"q (parameters dropped) must be a positive integer, received {q!r}")
    for name, v in (("rss_reduced", rss_reduced), ("rss_full", rss_full)):
        if not math.isfinite(float(v)) or float(v) < 0:
            raise ConfigError(f"{name} must be a finite non-negative number, received {v!r}")
    dof = max(int(n) - int(p_full), 1)
    return (float(rss_reduced) - float(rss_full)) / q * dof / max(float(rss_full), 1e-30)


def f_pvalue(f: float, q: int, dof: int) -> float:
    """Upper tail probability of ``F(q, dof)`` at ``f`` (the p-value of :func:`nested_f`)."""
    from scipy.stats import f as f_dist

    return float(f_dist.sf(max(f, 0.0), q, max(dof, 1)))


def chi2_crit(p: float) -> float:
    """Upper ``p`` quantile of chi-square with one degree of freedom (score and Wald tests)."""
    from scipy.stats import chi2

    return float(chi2.ppf(1.0 - p, 1))


def f_quantile(n: int, m: int, alpha: float) -> float:
    """Upper ``1 - alpha`` quantile of ``F(n - m, n)``: the largest misfit ratio ``s_oe^2 / s_ref^2`` that passes."""
    from scipy.stats import f as f_dist

    return float(f_dist.isf(alpha, max(n - m, 1), max(n, 1)))
