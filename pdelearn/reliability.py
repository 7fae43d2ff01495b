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

* **not identifiable** (:func:`interchangeable_warnings`): a selected term can be replaced by a
  left-out one with a fit as good, to within the selection's own tolerance (e.g. a linear equation
  whose data hold only two Fourier modes: ``u``, ``u_xx`` and ``u_xxxx`` act on them alike). No
  estimator can choose between the two supports on these data, so no simulation settles it.
* **weak evidence** (:func:`stability_warnings`): the selected support is not reproduced when the
  coefficient moves when refitted on test functions :data:`WIDE_SCALE` times as wide, or a term
  left out changes the fit by more than :data:`NEAR_MISS` of the selection's tolerance (the
  decision was close).

The command line exits with code 3 in both cases (code 2 stays for bad input), see docs/discover.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .output_error.policy import upper_floor
from .sparse import addition_gains, lstsq_on

__all__ = ["static_field", "MAX_RELATIVE_RESIDUAL", "NEGLIGIBLE_SHARE", "MIN_T_STATISTIC", "IMPRECISE", "explained",
           "term_shares", "term_warnings", "refit_check", "REFIT_AGREEMENT", "refit_agrees", "WIDE_SCALE", "SCALE_RTOL",
           "NEAR_MISS", "WIDE_NEAR_MISS", "stability_warnings", "MAX_SIMULATION_MISFIT", "NOISE_MULTIPLE",
           "white_noise_share", "simulation_misfit", "DRIFT_SHARE", "coefficient_drift",
           "SWAP_SHARE", "interchangeable", "interchangeable_warnings", "scale_drops", "wide_rows",
           "UNINFORMED", "DYNAMICS_ALPHA", "uninformed", "inverse_warnings", "selection_findings", "finding_text",
           "SELECTION_ALPHA", "MIN_SIGNAL_SHARE", "no_signal"]

MAX_RELATIVE_RESIDUAL = 0.5  #: above this ``||b - G a|| / ||b||`` no equation is reported as found
NEGLIGIBLE_SHARE = 0.002  #: a term with ``|a_k| ||G_k|| / ||b||`` below this is flagged as negligible
MIN_T_STATISTIC = 3.0  #: a refitted term with ``|a_k| / std_k`` below this is flagged as not significant
REFIT_TOLERANCE = 1.0  #: largest allowed refit discrepancy, in units of the selection's tolerance
REFIT_AGREEMENT = 0.01  #: on data not limited by noise, a refused refit moving no coefficient by more than this share agrees
IMPRECISE = 0.1  #: a coefficient whose 95 % interval half-width exceeds this fraction of it is flagged as imprecise


WIDE_SCALE = 2.0  #: the stability check repeats the selection with test functions this many times as wide
SCALE_RTOL = 0.5  #: largest relative change of a coefficient refitted on the wider test functions
NEAR_MISS = 0.2  #: a left-out term lowering the residual by more than this share of the tolerance is flagged
WIDE_NEAR_MISS = 0.5  #: the same on the wide test functions (noisy data only), a second opinion
SWAP_SHARE = 0.01  #: a left-out term recovering all but this share of a kept term's contribution replaces it
STATIC_RTOL = 1e-9  #: a field whose changes in time stay below this fraction of its size is static
UNINFORMED = 1e-6  #: a parameter moving the fitted field by less than this fraction of ||u|| (at its own size) is uninformed
DYNAMICS_ALPHA = 0.01  #: the fitted equation must beat a field that does not change in time at this level
MIN_SIGNAL_SHARE = 0.1  #: samples whose local fits explain less than this share of their variance hold no signal
SELECTION_ALPHA = 0.01  #: a left-out term significant at this level (Bonferroni) that another rule dropped is undecidable
MAX_SIMULATION_MISFIT = 0.05  #: a simulated equation may leave this share of ``||u||`` unexplained, whatever the noise
NOISE_MULTIPLE = 3.0  #: ... and up to this many times the data's own white-noise level (its upper-spectrum floor)
DRIFT_SHARE = 0.1  #: a converged run's coefficients may still be on their way by at most this share of their value


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
        elif std is not None and np.isfinite(std[k]) and 1.96 * std[k] > IMPRECISE * abs(coefficients[k]):
            out.append(f"{lhs}: the coefficient of {name} is imprecise: {coefficients[k]:.4g} +- {1.96 * std[k]:.2g} "
                       f"(95 %), +-{100 * 1.96 * std[k] / abs(coefficients[k]):.2g} % of its value (more than "
                       f"{100 * IMPRECISE:g} %); more data or less noise would pin it down")
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


def refit_agrees(coef: np.ndarray, rejected: list) -> bool:
    """Whether every refused refit moves each coefficient by at most :data:`REFIT_AGREEMENT` of it.

    Used only where the selection's tolerance is set by the relative tolerance, not by noise: there the
    residual is discretisation error, which the GLS noise model does not describe, and a refit that
    moves a coefficient by a fraction of a percent says nothing about the terms.
    """
    coef = np.asarray(coef, dtype=float)
    return all(np.all(np.abs(np.asarray(fit.coefficients) - coef) <= REFIT_AGREEMENT * np.abs(coef))
               for fit, _ in rejected)


def _near_misses(G: np.ndarray, b: np.ndarray, support: np.ndarray, allowed: float) -> list[tuple[int, float]]:
    """Left-out columns ``j`` whose addition lowers the RSS by more than ``NEAR_MISS * allowed``: ``[(j, ratio)]``."""
    out = np.flatnonzero(~support)
    if not out.size or allowed <= 0:
        return []
    drop = addition_gains(G, b, support, out)[1]
    return [(int(out[i]), float(drop[i] / allowed)) for i in np.flatnonzero(drop > NEAR_MISS * allowed)]


def stability_warnings(lhs: str, names: Sequence[str], G: np.ndarray, b: np.ndarray, fit, regression,
                       wide: Callable[[], tuple | None] | None = None, dropped: Sequence[int] = ()) -> list[str]:
    """Warnings when the selection of ``fit`` rests on weak evidence.

    Parameters
    ----------
    lhs, names
        Left-hand side and the names of all ``K`` library terms.
    G, b
        The rows ``(n, K)`` and ``(n,)`` the support was selected on; ``fit`` is that
        :class:`~pdelearn.sparse.SparseResult`, ``regression`` the :class:`~pdelearn.sparse.SparseRegression`.
    wide
        ``wide() -> (G_wide, b_wide, n_eff_wide)`` (or ``None``): the same library on wider test functions;
        ``None``: no scale check.
    dropped
        Columns taken out by :func:`scale_drops`: not reported as near misses, and when there are any, near
        misses are judged on the wide rows (with their own tolerance), since the narrow ones carry an error
        that depends on the scale.

    Two checks, each naming the terms concerned:

    * **scale**: the selected support is refitted (least squares) on test functions
      :data:`WIDE_SCALE` times as wide; a PDE holds at every scale, so its coefficients agree, while a
      term fitted to discretisation error or to noise at the test functions' scale changes (on the
      development draws of benchmarks/random_equations.py such terms moved by 91-117 %, no true term by
      50 % or more); a coefficient that moves by more than :data:`SCALE_RTOL` of itself is flagged;
    * **near miss**: no left-out term may lower the residual sum of squares by more than
      :data:`NEAR_MISS` of the selection's tolerance ``max(f_crit sigma^2, tol^2 ||b||^2)``; and, where noise
      sets the wide rows' threshold ``f_crit sigma_w^2``, not by more than :data:`WIDE_NEAR_MISS` of it on the
      wide rows (wider test functions see a small diffusion of a smooth field better; on the development
      draws 160-219 no left-out term of an exact selection passed 0.42 there, while dropped true ``u_xx`` reached
      0.58-0.9).
    """
    support = np.asarray(fit.support, bool)
    if not support.any():
        return []
    rows = wide() if wide is not None else None
    moved = _moved(G, b, rows, support) if rows is not None else []
    wide_fit = regression.fit(rows[0], rows[1], n_eff=rows[2]) if rows is not None else None
    if dropped and wide_fit is not None:  # the narrow rows carry scale-dependent error: judge near misses on the wide ones
        near = _near_misses(rows[0], rows[1], support, regression.tolerance(wide_fit))
    else:
        near = _near_misses(G, b, support, regression.tolerance(fit))
    wide_near = []
    if not dropped and wide_fit is not None and regression.noise_limited(wide_fit):  # a second opinion from the wide rows
        seen = {j for j, _ in near}
        wide_near = [(j, r) for j, r in _near_misses(rows[0], rows[1], support, regression.tolerance(wide_fit))
                     if r > WIDE_NEAR_MISS and j not in seen]
    out = [f"{lhs}: the coefficient of {names[j]} changes from {c:.4g} to {cw:.4g} on test functions {WIDE_SCALE:g} times "
           f"as wide (by more than {100 * SCALE_RTOL:g} %); a term of the equation would not depend on the scale"
           for j, c, cw in moved]
    out += [f"{lhs}: the left-out term {names[j]} would lower the residual by {ratio:.2g} of the selection's tolerance "
            f"(more than {NEAR_MISS:g}); the decision to leave it out is close" for j, ratio in near if j not in dropped]
    out += [f"{lhs}: on test functions {WIDE_SCALE:g} times as wide, the left-out term {names[j]} would lower the residual "
            f"by {ratio:.2g} of their tolerance (more than {WIDE_NEAR_MISS:g}); the decision to leave it out is close"
            for j, ratio in wide_near]
    return out


def _moved(G, b, rows, support) -> list[tuple[int, float, float]]:
    """Selected columns whose least-squares coefficient on the wide ``rows`` differs by more than SCALE_RTOL."""
    a, a_wide = lstsq_on(G, b, support), lstsq_on(rows[0], rows[1], support)
    return [(int(j), float(a[j]), float(a_wide[j])) for j in np.flatnonzero(support)
            if abs(a_wide[j] - a[j]) > SCALE_RTOL * abs(a[j])]


def scale_drops(G: np.ndarray, b: np.ndarray, fit, regression,
                wide: Callable[[], tuple | None]) -> list[tuple[int, float, float]]:
    """Selected terms to drop because they exist at one test-function scale only: ``[(j, coef, coef_wide)]``.

    A term qualifies when the scale check of :func:`stability_warnings` flags it (its coefficient moves by
    more than :data:`SCALE_RTOL` on test functions :data:`WIDE_SCALE` times as wide) **and** the wide rows
    do not need the flagged terms: without them, the wide fit's residual sum of squares rises by no more
    than the selection's tolerance on those rows (``max(f_crit sigma_w^2, tol^2 ||b_w||^2)``). Both together
    are what a term fitted to the narrow test functions' discretisation error looks like (a ``-2.5e-4 u``
    in clean Kuramoto-Sivashinsky data that is ``4e-7`` on the wide rows). Nothing is dropped when every
    selected term moved, or when there are no wide rows.
    """
    support = np.asarray(fit.support, bool)
    rows = wide() if support.sum() > 1 else None
    if rows is None:
        return []
    moved = _moved(G, b, rows, support)
    if not moved or len(moved) == int(support.sum()):
        return []
    G_w, b_w, n_w = rows
    allowed = regression.tolerance(regression.fit(G_w, b_w, n_eff=n_w))
    rest = support.copy()
    rest[[j for j, _, _ in moved]] = False

    def rss(s):
        r = b_w - G_w @ lstsq_on(G_w, b_w, s)
        return float(r @ r)

    return moved if rss(rest) - rss(support) <= allowed else []


def interchangeable(G: np.ndarray, b: np.ndarray, support: np.ndarray, allowed: float) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, ratio)``: the selected column ``i`` replaced by the left-out column ``j`` fits ``b`` as well.

    Dropping ``i`` alone raises the RSS by ``gain_i > allowed`` (``i`` matters); ``j`` does its job when
    the swap raises it by at most ``min(allowed, SWAP_SHARE * gain_i)``: within the selection's own
    tolerance, and ``j`` recovers at least ``1 - SWAP_SHARE`` of what ``i`` explains (a weak term that a
    correlated one half replaces is not a case of this: the near-miss and scale checks see those).
    ``ratio = (RSS(S - i + j) - RSS(S)) / allowed``; only the best ``j`` per ``i`` is returned.
    ``G (n, K)``, ``b (n,)``, ``support (K,)`` bool.
    """
    support = np.asarray(support, bool)
    out = np.flatnonzero(~support)
    if not out.size or allowed <= 0:
        return []
    pairs = []
    for i in np.flatnonzero(support):
        keep = support.copy()
        keep[i] = False
        gains = addition_gains(G, b, keep, np.append(out, i))[1]
        own, rest = float(gains[-1]), gains[:-1]
        j = int(np.argmax(rest))
        if own > allowed and own - float(rest[j]) <= min(allowed, SWAP_SHARE * own):
            pairs.append((int(i), int(out[j]), max(own - float(rest[j]), 0.0) / allowed))
    return pairs


def interchangeable_warnings(lhs: str, names: Sequence[str], G: np.ndarray, b: np.ndarray, support, fit,
                             regression) -> list[str]:
    """Warnings for selected terms that a left-out term replaces with as good a fit (:func:`interchangeable`).

    ``G``, ``b``: the rows the selection was made on; ``support``: the indices of the reported terms;
    the tolerance is the selection's ``max(f_crit sigma^2, tol^2 ||b||^2)`` of ``fit``.
    """
    mask = np.zeros(G.shape[1], bool)
    mask[np.asarray(support, int)] = True
    allowed = regression.tolerance(fit)
    return [f"{lhs}: the data do not tell {names[i]} from {names[j]}: putting {names[j]} in place of {names[i]} fits as well "
            f"(the residual changes by {ratio:.2g} of the selection's tolerance); the support is not identifiable from "
            "these data (e.g. too few Fourier modes for a linear equation)"
            for i, j, ratio in interchangeable(G, b, mask, allowed)]


def wide_rows(fields, coords, library, lhs: Sequence[str], form, time: str) -> Callable[[int], tuple | None]:
    """``wide(j) -> (G, b[:, j], n_eff)``: the weak-form rows of ``library`` on test functions :data:`WIDE_SCALE`
    times as wide as ``form``'s (at most half an axis), built on the first call; ``None`` when the grid is too
    small for them. For the scale check of :func:`stability_warnings`.
    """
    from dataclasses import replace

    from .errors import DataError
    from .weak import weak_system

    radius = {a: min(0.5, WIDE_SCALE * form.radius_of(a)) for a in coords}
    built: list = []

    def wide(j: int):
        if not built:
            try:
                with np.errstate(all="ignore"):
                    built.append(weak_system(fields, coords, library, lhs, replace(form, radius=radius), time=time))
            except DataError:
                built.append(None)
        return None if built[0] is None else (built[0][0], built[0][1][:, j], built[0][2])

    return wide


def uninformed(sensitivity: dict[str, float]) -> list[str]:
    """Names of the parameters the data do not inform: ``sensitivity`` (see :func:`pdelearn.inverse.evidence`: the
    change of the fitted field when the parameter moves by its own size, the other unknowns adjusting, over
    ``||u||``) below :data:`UNINFORMED`. Their Fisher information is ~0: the estimate stays at its start and a
    standard error from a pseudo-inverse is ~0, an interval of zero width that means nothing."""
    return [name for name, v in sensitivity.items() if not v >= UNINFORMED]


def inverse_warnings(lhs: str, names: Sequence[str], values: Sequence[float], starts: Sequence[float],
                     evidence: dict) -> list[str]:
    """Why the parameters of a fitted equation are not an answer (empty: nothing flagged).

    * **not informed** (:func:`uninformed`): the data do not move with the parameter;
    * **no dynamics needed**: the fitted equation does not fit the data significantly better than the best field that
      does not change in time (F-test at :data:`DYNAMICS_ALPHA`, ``evidence["p_value"]``); constant data and pure
      noise fail it, and so does a fit stuck in a poor minimum.
    """
    out = []
    for name in uninformed(evidence["sensitivity"]):
        k = list(names).index(name)
        still = " (still its starting guess)" if abs(values[k] - starts[k]) <= 1e-4 * max(abs(starts[k]), 1e-12) else ""
        out.append(f"the data do not inform {name} = {values[k]:.6g}{still}: moving it by its own size changes the "
                   f"fitted field by {evidence['sensitivity'][name]:.2g} of its norm (below {UNINFORMED:g}); its "
                   "Fisher information is ~0 and it has no meaningful interval (data without the dynamics the term "
                   "describes, e.g. a constant field)")
    p = evidence.get("p_value")
    if p is not None and not p < DYNAMICS_ALPHA:
        out.append(f"{lhs}: the fitted equation fits the data no better than a field that does not change in time "
                   f"(F = {evidence['F']:.3g}, p = {p:.2g} >= {DYNAMICS_ALPHA:g} over {evidence['q']} parameter(s)): the "
                   "data look like a constant, noise or a process the equation does not describe")
    return out


def selection_findings(G: np.ndarray, b: np.ndarray, fit, regression, near: float = NEAR_MISS,
                       alpha: float | None = None) -> list[dict]:
    """The rules of ``discover`` on one sparse regression ``b ~ G a`` (``fit`` of ``regression``), without names.

    In order, each ending the list when it applies: ``{"rule": "static", "change"}`` (``||b||`` below
    :data:`STATIC_RTOL` of the largest column norm: the left-hand side does not change), ``{"rule": "unexplained",
    "relative_residual", "n_terms"}`` (:func:`explained`); then one ``{"rule": "near_miss", "term": j, "ratio"}``
    per left-out column whose addition lowers the residual sum of squares by more than ``near`` (default
    :data:`NEAR_MISS`) of the selection's tolerance: the decision to leave it out is inside the noise, or (ratio
    above 1) a test other than the noise test (e.g. cross-validation) left out a term that test would keep.
    With ``alpha``, the threshold is at least the noise test's own significance: ``chi2_1(1 - alpha / m) / f_crit``
    of the tolerance (``m`` left-out terms, Bonferroni), for selections where another rule (cross-validation) may
    overrule the noise test: a left-out term then counts only when the noise test finds it significant.
    For bridges whose rows carry no names (:class:`pdelearn.pysindy.AutoSelect`); :func:`finding_text` words
    them.
    """
    G, b = np.asarray(G, dtype=float), np.asarray(b, dtype=float)
    scale = float(np.max(np.linalg.norm(G, axis=0), initial=0.0))
    size = float(np.linalg.norm(b))
    if size <= STATIC_RTOL * scale or not size > 0:
        return [{"rule": "static", "change": size / scale if scale > 0 else 0.0}]
    support = np.asarray(fit.support, bool)
    if explained("", fit.relative_residual, int(support.sum())) is not None:
        return [{"rule": "unexplained", "relative_residual": float(fit.relative_residual), "n_terms": int(support.sum())}]
    if alpha is not None and (~support).any():
        from scipy.stats import chi2

        near = max(near, float(chi2.isf(alpha / int((~support).sum()), 1)) / max(regression.f_crit, 1e-12))
    return [{"rule": "near_miss", "term": j, "ratio": ratio, "near": near}
            for j, ratio in _near_misses(G, b, support, regression.tolerance(fit)) if ratio > near]


def finding_text(finding: dict, lhs: str, names: Sequence[str]) -> str:
    """One warning for a finding of :func:`selection_findings` (``names``: the columns' term names)."""
    if finding["rule"] == "static":
        return (f"{lhs}: the left-hand side does not change (its size is {finding['change']:.3g} of the largest "
                f"library column's, below {STATIC_RTOL:g}); there is no time derivative to explain (constant data?)")
    if finding["rule"] == "unexplained":
        return (explained(lhs, finding["relative_residual"], finding["n_terms"]) + " (or a numerical time derivative "
                "of noisy data is that noisy: a smoothing differentiation method may help)")
    ratio = finding["ratio"]
    why = ("the noise test would keep it, another test (cross-validation) left it out" if ratio > 1 else
           "the decision to leave it out is inside the noise")
    return (f"{lhs}: the left-out term {names[finding['term']]} would lower the residual by {ratio:.2g} times the "
            f"selection's tolerance (more than {finding.get('near', NEAR_MISS):.3g}): {why}; the term is undecidable on "
            "these data, e.g. from the noise of a numerical derivative (a smoothing differentiation method such as "
            "SmoothedFiniteDifference may settle it)")


def no_signal(share: float | None) -> str | None:
    """The reason scattered samples hold no signal, or ``None``.

    ``share``: ``1 - s_local^2 / var(u)``, the part of the samples' variance that local quadratic fits to their
    neighbours explain (:func:`pdelearn.problems.joint_prune.signal_share`; ``None``: too few samples to tell).
    Pure noise gives ``0 +- 0.04`` (300-2,000 samples, measured), the built-in systems at 100 % noise at least 0.2;
    below :data:`MIN_SIGNAL_SHARE` the samples are noise (or a constant) as far as any smooth field can tell.
    """
    if share is None or share >= MIN_SIGNAL_SHARE:
        return None
    return (f"the samples hold no signal: smooth local fits to their neighbours explain {100 * max(share, 0.0):.1f} % of "
            f"their variance (at least {100 * MIN_SIGNAL_SHARE:g} % needed); the data look like noise or a constant")


def white_noise_share(u: np.ndarray) -> float:
    """The white noise of a field ``(nx, nt)`` on a periodic grid as a share of ``||u||``: the upper-spectrum floor
    (:func:`pdelearn.output_error.policy.upper_floor`, the rule every noise floor of the engine uses) of the
    snapshots' mean spatial power spectrum, spread over every mode of every snapshot."""
    u = np.asarray(u, dtype=float)
    power = np.mean(np.abs(np.fft.rfft(u, axis=0)) ** 2, axis=1)  # white noise of variance s^2: nx s^2 per mode
    norm = float(np.linalg.norm(u))
    return float(np.sqrt(upper_floor(power) * u.shape[1])) / norm if norm else 0.0


def simulation_misfit(lhs: str, rel_misfit: float, u: np.ndarray) -> str | None:
    """A warning when the simulated equation leaves more of the data unexplained than noise can: its output-error
    misfit ``||u - u_sim|| / ||u||`` above both :data:`MAX_SIMULATION_MISFIT` and :data:`NOISE_MULTIPLE` times the
    data's white-noise share (:func:`white_noise_share`); None when it fits."""
    noise = white_noise_share(u)
    allowed = max(MAX_SIMULATION_MISFIT, NOISE_MULTIPLE * noise)
    if rel_misfit <= allowed:
        return None
    return (f"{lhs}: the simulated equation does not reproduce the data: it leaves {100 * rel_misfit:.3g} % of the "
            f"field unexplained, against a noise level of about {100 * noise:.2g} % (at most {100 * allowed:.2g} % "
            "allowed); the library may lack a term of the equation (raise --max-power or --max-order, or add --terms)")


def coefficient_drift(checks: Sequence[Mapping[str, float]]) -> tuple[str, float] | None:
    """How far the coefficients of the last of ``checks`` (``{term: coefficient}`` per check, in order) are still
    on their way: where a coefficient's last two steps go the same direction and shrink by ``r``, the rest of a
    geometric series, ``step r / (1 - r)``, as a share of its value (``inf`` where they do not shrink).
    ``(term, share)`` of the largest; None with fewer than three checks or no coefficient."""
    if len(checks) < 3:
        return None
    worst: tuple[str, float] | None = None
    for term, a2 in checks[-1].items():
        a0, a1 = checks[-3].get(term, 0.0), checks[-2].get(term, 0.0)
        d1, d2 = a1 - a0, a2 - a1
        if a2 == 0 or d1 * d2 <= 0:
            share = 0.0
        else:
            r = d2 / d1
            share = abs(d2 * r / (1 - r) / a2) if r < 1 else float("inf")
        if worst is None or share > worst[1]:
            worst = (term, share)
    return worst
