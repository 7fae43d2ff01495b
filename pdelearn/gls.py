"""Generalized least squares (GLS) refit of a weak-form support.

Neighbouring test functions overlap, so the noise in the rows of ``b ~ G a`` is correlated, and
rows near sharp features (fronts) carry far more information than the ordinary least squares
(OLS) fit gives them. With the support fixed, the residual of one row is, to first order in
additive noise ``e`` on the fields,

    r = b - G a  ~  sum_f P_f e_f,      P_f = d(b - G a) / d(field f)   (rows x grid points),

which :func:`noise_operators` builds exactly from each term's integration rule
(:func:`pdelearn.weak.term_rule`): a linear term ``c d^a w`` gives ``c (-1)^|a| V_a``, a flux term
``w^i w_x`` gives ``-V_x diag(w^i)``, a term without derivatives ``f(w)`` gives
``V_0 diag(f'(w))``. With white noise of one variance on every field the rows have covariance
``Sigma ~ sum_f P_f P_f^T`` (``P`` evaluated at the OLS coefficients; ``passes`` > 1 re-evaluates it
at the GLS ones), and the refit whitens the rows with its Cholesky factor. Terms integrated with
smoothed differences have no such operator; supports with one keep the OLS fit.

:func:`refit` tries two test-function sizes (the selection's own, and ``NARROW`` = 1.5 % of each
space axis) and keeps the fit with the smallest estimated relative standard error of its
worst-determined coefficient: wide test functions average noise on smooth data (KdV, Burgers),
narrow ones resolve fronts a few grid points wide (Allen-Cahn's ``1e-4 u_xx``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import sympy

from .errors import DataError
from .terms import Term, TermLibrary
from .weak import WeakForm, _evaluate, _field_of, _Integrator, assemble, integrator_for, term_rule

__all__ = ["GLSFit", "gls_fit", "left_out_scores", "noise_operators", "refit"]

NARROW = 0.015  #: radius of the narrow candidate test functions, fraction of each space axis
SCALE_Z = 4.0  #: two refits whose coefficients differ by more than this many combined standard errors disagree


@dataclass
class GLSFit:
    """Outcome of :func:`gls_fit` for one equation."""

    coefficients: np.ndarray  #: (n_terms,)
    std: np.ndarray  #: (n_terms,) estimated standard errors
    rows: int  #: number of test functions
    radius: dict  #: test-function radius per axis (fraction of the axis length)
    terms: list = field(default_factory=list)  #: term keys, in the order of ``coefficients``
    #: coefficients on which the other test-function size's refit disagrees (:data:`SCALE_Z`):
    #: ``[{"term", "coefficient", "std", "other", "other_std", "other_radius", "z"}]``
    disagreements: list = field(default_factory=list)
    form: WeakForm | None = field(default=None, repr=False)  #: the test functions of this fit

    @property
    def standard_errors(self) -> dict[str, float]:
        """``{term key: standard error}``."""
        return dict(zip(self.terms, map(float, self.std)))

    @property
    def score(self) -> float:
        """Largest relative standard error ``max_k std_k / |a_k|`` (smaller is better)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = self.std / np.abs(self.coefficients)
        return float(np.max(np.nan_to_num(rel, nan=np.inf))) if rel.size else np.inf

    def __str__(self) -> str:
        rel = ", ".join(f"{c:.6g} +- {s:.2g}" for c, s in zip(self.coefficients, self.std))
        return f"GLSFit({rel}; {self.rows} rows, radius {self.radius})"


def noise_operators(
    fields: Mapping[str, np.ndarray],
    coords: Mapping[str, np.ndarray],
    library: TermLibrary,
    lhs: str,
    form: WeakForm,
    *,
    time: str = "t",
) -> dict[str, list[tuple[tuple[int, ...], str, np.ndarray]]] | None:
    """Linearised noise sensitivity of ``b`` and of every term's column, or ``None``.

    Returns ``{"b": ops, term_key: ops, ...}``; ``ops`` is a list of ``(orders, field, m)``: the
    column's derivative with respect to ``field`` is ``V_orders diag(m)``, with ``V_orders`` the
    test-function integrals of :func:`~pdelearn.weak.weak_system` (one derivative order per axis)
    and ``m`` an array shaped like the field (``None`` when a term has no integration rule).
    """
    axes = list(coords)
    mesh = dict(zip(axes, np.meshgrid(*[np.asarray(coords[a]) for a in axes], indexing="ij")))
    t_orders = [0] * len(axes)
    t_orders[axes.index(time)] = 1
    ones = np.ones(next(iter(fields.values())).shape)
    out: dict = {"b": [(tuple(t_orders), _field_of(lhs), -ones)]}
    for term in library:
        ops = _term_operator(term, axes, fields, mesh, ones)
        if ops is None:
            return None
        out[term.key] = ops
    return out


def _term_operator(term: Term, axes, fields, mesh, ones) -> list | None:
    rule = term_rule(term, axes)
    if rule.kind == "constant":
        return []
    if rule.kind == "linear":
        return [(rule.orders, rule.field, rule.scale * ones)]
    if rule.kind == "flux":
        return [(rule.orders, rule.field, rule.scale * rule.power * fields[rule.field] ** (rule.power - 1))]
    if rule.kind == "pointwise":
        ops = []
        inputs = {d.name: fields[d.field] for d in term.derivatives}
        inputs.update({c: mesh[c] for c in term.coordinates_used})
        for d in sorted(term.derivatives, key=lambda d: d.name):
            slope = sympy.diff(term.expr, d.symbol)
            if slope.free_symbols:
                sub = Term(slope, term.fields, term.coords)
                value = _evaluate(sub, inputs)  # the slope needs a subset of the term's inputs
            else:
                value = float(slope) * ones
            ops.append((rule.orders, d.field, value))
        return ops
    return None


def _row_covariance(ops, library: TermLibrary, w: np.ndarray, integ: _Integrator) -> np.ndarray:
    """``sum_f P_f P_f^T`` for the residual ``b - G w``, ``P_f = sum_orders V_orders diag(m)``.

    ``V_orders`` is a Kronecker product of one banded matrix per axis, so every block
    ``V_o diag(m) V_o'^T`` is contracted axis by axis (:func:`_kron_weighted_gram`) without
    forming the (rows x grid points) matrices.
    """
    groups: dict[str, dict[tuple, np.ndarray]] = {}
    for scale, key in [(1.0, "b")] + [(-wk, t.key) for wk, t in zip(w, library)]:
        for orders, f, m in ops[key]:
            g = groups.setdefault(f, {})
            g[orders] = g.get(orders, 0.0) + scale * m
    n = int(np.prod(integ.counts))
    sigma = np.zeros((n, n))
    cache: dict[tuple, sp.csr_matrix] = {}

    def pairs(axis, a, c):
        key = (axis, id(a), id(c))
        if key not in cache:
            cache[key] = _pair_matrix(a, c)
        return cache[key]

    for per_orders in groups.values():
        items = list(per_orders.items())
        for i, (o1, m1) in enumerate(items):
            for o2, m2 in items[i:]:
                block = _kron_weighted_gram([integ.mats[a][k] for a, k in enumerate(o1)],
                                            [integ.mats[a][k] for a, k in enumerate(o2)], m1 * m2, pairs)
                sigma += block if o1 == o2 else block + block.T
    return sigma


def _kron_weighted_gram(A: Sequence[np.ndarray], C: Sequence[np.ndarray], m: np.ndarray, pairs=None) -> np.ndarray:
    """``(A_0 x A_1 x ...) diag(m) (C_0 x C_1 x ...)^T`` for banded per-axis ``A_d, C_d`` (centres x n_d).

    The last axis is contracted densely; every other axis through the sparse matrix
    ``W[x, (i, j)] = A[i, x] C[j, x]``, which has a handful of entries per grid point
    (``pairs(axis, A_d, C_d)`` may return it from a cache).
    """
    lead = m.shape[:-1]
    R = (A[-1][None] * m.reshape(-1, 1, m.shape[-1])) @ C[-1].T  # (n_0 * ... * n_{d-2}, ci, cj)
    R = R.reshape(lead + R.shape[1:])
    for axis in reversed(range(m.ndim - 1)):
        a, c = A[axis], C[axis]
        W = pairs(axis, a, c) if pairs is not None else _pair_matrix(a, c)  # (ca * cc, n_axis)
        lead = R.shape[:axis]
        R = R.reshape((int(np.prod(lead)), a.shape[1], -1))
        R = np.stack([W @ r for r in R]).reshape(lead + (a.shape[0] * c.shape[0], -1))
    # R: (ca0*cc0, ca1*cc1, ..., ci, cj) flattened pairs -> (rows, rows) in C order of centres
    d = m.ndim
    shape = []
    for a, c in zip(A, C):
        shape += [a.shape[0], c.shape[0]]
    R = R.reshape(shape).transpose(list(range(0, 2 * d, 2)) + list(range(1, 2 * d, 2)))
    return R.reshape(int(np.prod(shape[0::2])), int(np.prod(shape[1::2])))


def _pair_matrix(a: np.ndarray, c: np.ndarray) -> sp.csr_matrix:
    """Sparse ``W`` with ``W[(i, j), x] = a[i, x] c[j, x]`` (column-wise Kronecker product)."""
    xa, ia = np.nonzero(a.T)  # sorted by grid point x
    xc, ic = np.nonzero(c.T)
    va, vc = a[ia, xa], c[ic, xc]
    n = a.shape[1]
    start_c = np.searchsorted(xc, np.arange(n))
    partners = np.bincount(xc, minlength=n)[xa]  # c entries at each a entry's grid point
    rep = np.repeat(np.arange(xa.size), partners)
    within = np.arange(rep.size) - np.repeat(np.cumsum(partners) - partners, partners)
    jc = start_c[xa[rep]] + within
    return sp.csr_matrix((va[rep] * vc[jc], (ia[rep] * c.shape[0] + ic[jc], xa[rep])),
                         shape=(a.shape[0] * c.shape[0], n))


def gls_fit(
    fields: Mapping[str, np.ndarray],
    coords: Mapping[str, np.ndarray],
    library: TermLibrary,
    lhs: str,
    form: WeakForm,
    *,
    time: str = "t",
    passes: int = 1,
) -> GLSFit | None:
    """GLS fit of ``lhs = sum_k a_k term_k`` (all terms of ``library``) on the weak-form rows.

    The row covariance is evaluated at the OLS coefficients, then at each GLS estimate
    (``passes`` in all). Returns ``None`` when a term has no noise operator
    (see :func:`noise_operators`).
    """
    integ = integrator_for(fields, coords, library, form, time)  # checks the axes and the grid size first
    ops = noise_operators(fields, coords, library, lhs, form, time=time)
    if ops is None:
        return None
    G, b, _ = assemble(fields, coords, library, [lhs], integ, time)
    b = b[:, 0]
    n, k = G.shape
    if n <= k:
        raise DataError(f"{n} test functions cannot fit {k} terms; use smaller test functions or more data")
    w = np.linalg.lstsq(G, b, rcond=None)[0]
    Gw, bw = G, b
    for _ in range(passes):
        Gw, bw = _whiten(_row_covariance(ops, library, w, integ), G, b)
        w = np.linalg.lstsq(Gw, bw, rcond=None)[0]
    r = bw - Gw @ w
    s2 = float(r @ r) / (n - k)
    std = np.sqrt(np.maximum(np.diag(np.linalg.pinv(Gw.T @ Gw)) * s2, 0.0))
    return GLSFit(w, std, n, {a: form.radius_of(a) for a in coords}, library.keys, form=form)


def _whiten(sigma: np.ndarray, G: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(L^-1 G, L^-1 b)`` with ``L L^T`` the row covariance ``sigma`` (regularised by 1e-10 of its mean variance)."""
    n = sigma.shape[0]
    sigma[np.diag_indices(n)] += 1e-10 * np.trace(sigma) / n + np.finfo(float).tiny
    L = np.linalg.cholesky(sigma)
    return sla.solve_triangular(L, G, lower=True), sla.solve_triangular(L, b, lower=True)


def left_out_scores(
    fields: Mapping[str, np.ndarray],
    coords: Mapping[str, np.ndarray],
    library: TermLibrary,
    lhs: str,
    fit: GLSFit,
    *,
    time: str = "t",
) -> dict[str, float]:
    """Score test of every term of ``library`` left out of ``fit``'s support, on ``fit``'s GLS rows.

    The rows are those of ``fit`` (its test functions), whitened by the row covariance of the support's
    residual at ``fit``'s coefficients (:func:`noise_operators` of the support only: the left-out columns need
    none). For a left-out column ``g`` (whitened, with the support's span projected out) and the whitened
    residual ``r``, ``F = (g . r)^2 / (||g||^2 s^2)``, ``s^2`` the residual variance; under a right support it
    is ``chi^2(1)``-distributed to first order in the noise. Returns ``{term key: F}`` (empty when a support
    term has no noise operator or the rows are too few).
    """
    if fit.form is None:
        return {}
    idx = [library.keys.index(k) for k in fit.terms]
    sub = library.select([library[i] for i in idx])
    try:
        integ = integrator_for(fields, coords, library, fit.form, time)
    except DataError:
        return {}
    ops = noise_operators(fields, coords, sub, lhs, fit.form, time=time)
    if ops is None:
        return {}
    G, b, _ = assemble(fields, coords, library, [lhs], integ, time)
    n = G.shape[0]
    if n <= len(idx) + 1:
        return {}
    Gw, bw = _whiten(_row_covariance(ops, sub, np.asarray(fit.coefficients), integ), G, b[:, 0])
    Q = np.linalg.qr(Gw[:, idx])[0]
    r = bw - Q @ (Q.T @ bw)
    s2 = max(float(r @ r) / (n - len(idx)), np.finfo(float).tiny)
    out = {}
    for j, term in enumerate(library):
        if j in idx:
            continue
        g = Gw[:, j] - Q @ (Q.T @ Gw[:, j])
        gg = float(g @ g)
        own = float(Gw[:, j] @ Gw[:, j])
        out[term.key] = float((g @ r) ** 2 / gg / s2) if gg > 1e-10 * own and gg > 0 else 0.0
    return out


def candidate_forms(form: WeakForm, space: Sequence[str], time: str, max_tests: int) -> list[WeakForm]:
    """The selection's test functions and narrow ones in space (same time radius), row-capped.

    The narrow ones have a radius of 1.5 % of each space axis (8 points of a 512-point axis),
    clamped by the integrator to at least ``power + 1`` points (``power``: the exponent of the
    test functions).
    """
    cap = min(form.max_tests, max_tests)
    narrow = {**{a: min(NARROW, form.radius_of(a)) for a in space}, time: form.radius_of(time)}
    return [replace(form, max_tests=cap), replace(form, radius=narrow, max_tests=cap)]


def refit(
    fields: Mapping[str, np.ndarray],
    coords: Mapping[str, np.ndarray],
    library: TermLibrary,
    lhs: str,
    form: WeakForm,
    *,
    time: str = "t",
    max_tests: int = 2000,
    accept=None,
) -> GLSFit | None:
    """Best :func:`gls_fit` over :func:`candidate_forms` (smallest :attr:`GLSFit.score`), or ``None``.

    ``accept(fit) -> bool``, when given, must approve a candidate before it can be chosen
    (:func:`pdelearn.reliability.refit_check`). ``None``: a term has no noise operator, no
    test-function size fits the grid, or ``accept`` rejected every candidate.
    """
    fits = []
    for cand in candidate_forms(form, [a for a in coords if a != time], time, max_tests):
        try:
            fit = gls_fit(fields, coords, library, lhs, cand, time=time)
        except DataError:  # too few points for this size
            continue
        if fit is None:
            return None
        if accept is not None and not accept(fit):
            continue
        fits.append(fit)
    if not fits:
        return None
    best = min(fits, key=lambda f: f.score)
    best.disagreements = [d for other in fits if other is not best for d in _disagreements(best, other)]
    return best


def _disagreements(fit: GLSFit, other: GLSFit) -> list[dict]:
    """Coefficients of ``fit`` that ``other`` (another test-function size) contradicts beyond :data:`SCALE_Z`.

    A PDE holds at every scale: refits of one support at two test-function sizes estimate the same
    coefficients, each within its standard error, unless one of them carries an error its noise model
    does not describe (discretisation error of narrow test functions, errors in variables of wide ones).
    """
    out = []
    for k, key in enumerate(fit.terms):
        spread = float(np.hypot(fit.std[k], other.std[k]))
        z = abs(float(fit.coefficients[k] - other.coefficients[k])) / max(spread, np.finfo(float).tiny)
        if z > SCALE_Z:
            out.append({"term": key, "coefficient": float(fit.coefficients[k]), "std": float(fit.std[k]),
                        "other": float(other.coefficients[k]), "other_std": float(other.std[k]),
                        "other_radius": dict(other.radius), "z": z})
    return out
