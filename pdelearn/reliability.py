"""Checks that say when a discovered equation should not be trusted.

:func:`pdelearn.discovery.discover` always returns its best equation; these checks decide whether
that equation is an answer. Two outcomes are distinguished:

* **not explained** (:func:`explained`): the selected equation explains too little of the
  left-hand side ``u_t`` to be called a governing equation. The rule: the relative residual
  ``||b - G a|| / ||b||`` of the selected fit on the regression rows must be at most
  :data:`MAX_RELATIVE_RESIDUAL` (the equation explains at least 75 % of ``||b||^2``), and at least
  one term must be selected. Pure noise fails it (relative residual ~ 1); a field that does not
  change in time (:func:`static_field`) fails before any fit.
* **warnings** (:func:`term_warnings`, :func:`refit_check`): the equation explains the data, but a
  part of it is doubtful: a term contributes less than :data:`NEGLIGIBLE_SHARE` of ``||b||``, a
  term is not significant against its own standard error, or the refit disagreed with the
  selection beyond the selection's noise level (the refit is then not used).

The command line exits with code 3 in both cases (code 2 stays for bad input), see docs/discover.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["static_field", "MAX_RELATIVE_RESIDUAL", "NEGLIGIBLE_SHARE", "MIN_T_STATISTIC", "explained", "term_shares",
           "term_warnings", "refit_check"]

MAX_RELATIVE_RESIDUAL = 0.5  #: above this ``||b - G a|| / ||b||`` no equation is reported as found
NEGLIGIBLE_SHARE = 0.002  #: a term with ``|a_k| ||G_k|| / ||b||`` below this is flagged as negligible
MIN_T_STATISTIC = 3.0  #: a refitted term with ``|a_k| / std_k`` below this is flagged as not significant
REFIT_TOLERANCE = 1.0  #: largest allowed refit discrepancy, in units of the selection's tolerance


STATIC_RTOL = 1e-9  #: a field whose changes in time stay below this fraction of its size is static


def static_field(name: str, values: np.ndarray) -> str | None:
    """The reason ``values`` (time last) carry no dynamics, or ``None``: changes in time below :data:`STATIC_RTOL`."""
    change = float(np.max(np.abs(values - values[..., :1])))
    scale = float(np.max(np.abs(values)))
    if change <= STATIC_RTOL * scale or scale == 0:
        return (f"the field {name} does not change in time (largest change {change:.3g}, field size {scale:.3g}); "
                "there is no time derivative to explain")
    return None


def explained(lhs: str, relative_residual: float, n_terms: int) -> str | None:
    """``None`` when the selected equation explains ``lhs``, else the reason it does not.

    Parameters
    ----------
    lhs
        Left-hand side, e.g. ``"u_t"``.
    relative_residual
        ``||b - G a|| / ||b||`` of the selected fit.
    n_terms
        Number of selected terms.
    """
    if n_terms == 0:
        return f"no term of the library explains {lhs} (the sparse regression selected none)"
    if not relative_residual <= MAX_RELATIVE_RESIDUAL:
        share = 100 * max(0.0, 1 - relative_residual**2)
        return (f"the best equation for {lhs} explains only {share:.1f} % of it (relative residual "
                f"{relative_residual:.3g}, at most {MAX_RELATIVE_RESIDUAL} needed): the data look like noise, a "
                "constant or a process outside the library")
    return None


def term_shares(G: np.ndarray, b: np.ndarray, support: Sequence[int], coefficients: np.ndarray) -> np.ndarray:
    """``|a_k| ||G_k|| / ||b||`` for the selected columns ``support`` of ``G`` ``(n, K)``; ``b``: ``(n,)``."""
    bn = float(np.linalg.norm(b)) or 1.0
    return np.abs(np.asarray(coefficients)) * np.linalg.norm(G[:, list(support)], axis=0) / bn


def term_warnings(lhs: str, names: Sequence[str], shares: np.ndarray, coefficients: np.ndarray,
                  std: np.ndarray | None) -> list[str]:
    """Warnings about negligible or insignificant terms (``shares``, ``coefficients``, ``std``: ``(k,)``)."""
    out = []
    for k, name in enumerate(names):
        if shares[k] < NEGLIGIBLE_SHARE:
            out.append(f"{lhs}: the term {name} contributes only {100 * shares[k]:.2g} % of {lhs}; it may be an "
                       "artefact of the discretisation or of the noise (check with another --max-order/--max-power)")
        elif std is not None and np.isfinite(std[k]) and abs(coefficients[k]) < MIN_T_STATISTIC * std[k]:
            out.append(f"{lhs}: the term {name} = {coefficients[k]:.4g} is not significant (standard error "
                       f"{std[k]:.2g})")
    return out


def refit_check(G: np.ndarray, b: np.ndarray, support: Sequence[int], rss: float, allowed: float,
                rejected: list) -> Callable:
    """An ``accept(fit)`` for :func:`pdelearn.gls.refit`: the refit must fit the selection's rows.

    A refit with coefficients ``a`` is accepted when ``(||b - G_S a||^2 - rss) / allowed`` is at most
    :data:`REFIT_TOLERANCE`: the refitted equation may not fit the rows the support was selected on
    worse than the selection's own tolerance ``allowed`` (in squared units of ``b``) allows. Narrow
    test functions can otherwise turn a negligible term into a large one on clean data, where their
    discretisation error exceeds the noise. Rejected fits are appended to ``rejected`` as
    ``(fit, discrepancy)``.
    """
    A = G[:, list(support)]

    def accept(fit) -> bool:
        r = b - A @ fit.coefficients
        discrepancy = (float(r @ r) - rss) / max(allowed, np.finfo(float).tiny)
        if discrepancy <= REFIT_TOLERANCE:
            return True
        rejected.append((fit, discrepancy))
        return False

    return accept
