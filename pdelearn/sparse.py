"""Sparse regression ``b ~ G w`` with automatic model selection.

Two ways to build a path of candidate supports, one rule to pick from it:

* ``"backward"`` (default): start from all terms, repeatedly drop the term whose removal raises
  the residual sum of squares (RSS) least. With ordinary least squares that increase is
  ``w_j^2 / [(G^T G)^{-1}]_jj``, so each step costs one small inverse.
* ``"stlsq"``: sequentially thresholded least squares (PDE-FIND) on unit-norm columns, swept over
  a log grid of thresholds (or at one given threshold).

Selection rule: the sparsest support ``S`` on the path whose fit is not worse than the full
model's beyond what noise and a relative tolerance explain,

    RSS(S) - RSS(full) <= max(f_crit * (K - |S|) * sigma^2, tol^2 * ||b||^2),

where ``sigma^2 = RSS(full) / n_eff`` (``n_eff`` corrects for correlated rows, e.g. overlapping
weak-form test functions). With ``cv_blocks = B > 0`` a term must in addition earn its place out of
sample: a larger support is preferred only when it also lowers the blocked cross-validation error
(rows split in their given order into ``B`` contiguous blocks; each block predicted from a fit on the
others) by more than the fraction ``cv_tol`` of it. Contiguous blocks keep correlated neighbouring rows together, so
errors that are smooth along the rows (finite-difference truncation, smoothed noise), which an F-test counts as many independent
samples, cannot make a spurious term look predictive. The rule is scale-free: scaling a column (``1e-4 u_xx``) or ``b`` does
not change it, which is what lets one setting serve data sets whose coefficients differ by orders
of magnitude.

The work of a selection grows as the fourth power of the number of terms (the backward path takes ``K`` steps,
each a ``k x k`` inverse); :meth:`SparseRegression.work` estimates it and :meth:`SparseRegression.fit` refuses,
before any of it, a problem above :data:`~pdelearn.limits.MAX_SELECTION_WORK`. ``fit(..., budget=Budget(...))``
checks a time budget between the steps of every loop and raises :class:`~pdelearn.budget.BudgetExceeded`
(naming the stage) past it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .budget import Budget, BudgetExceeded
from .errors import ConfigError, DataError, ShapeError
from .limits import MAX_SELECTION_WORK
from .output_error.policy import F_CRIT

__all__ = ["SparseRegression", "SparseResult", "lstsq_on", "addition_gains", "QUICK_WORK"]

#: multiply-adds of a selection that takes about a second (about 150 terms; the default libraries of one field are far
#: below): ``discover`` holds only larger selections to its time budget
QUICK_WORK = 1e9


def lstsq_on(G: np.ndarray, b: np.ndarray, support) -> np.ndarray:
    """Least squares restricted to ``support``; zeros elsewhere. ``b`` is ``(n,)``."""
    w = np.zeros(G.shape[1])
    idx = np.flatnonzero(support)
    if idx.size:
        w[idx] = np.linalg.lstsq(G[:, idx], b, rcond=None)[0]
    return w


@dataclass
class SparseResult:
    """Outcome of one regression (one equation)."""

    coefficients: np.ndarray  #: (n_terms,) in the units of the original columns
    support: np.ndarray  #: (n_terms,) bool
    path: list = field(default_factory=list, repr=False)  #: [(support, rss)] candidates considered
    rss_full: float = 0.0  #: residual sum of squares of the full model
    sigma2: float = 0.0  #: noise variance estimate used by the selection rule
    b_norm2: float = 1.0  #: ||b||^2
    rss: float = 0.0  #: residual sum of squares of the selected model

    @property
    def relative_residual(self) -> float:
        """``||b - G w|| / ||b||`` of the selected model."""
        return float(np.sqrt(self.rss / self.b_norm2)) if self.b_norm2 else 0.0


@dataclass(frozen=True)
class SparseRegression:
    """Sparse regression with automatic selection.

    Parameters
    ----------
    method
        ``"backward"`` or ``"stlsq"``.
    threshold
        For ``"stlsq"`` only: a fixed threshold on unit-norm-column coefficients relative to
        ``||b||`` (no selection). ``None`` sweeps thresholds and selects automatically.
    f_crit
        Significance level of the noise test (an F statistic per dropped term).
    tol
        Relative tolerance: terms explaining less than ``tol`` of ``||b||`` are dropped even when
        statistically significant (systematic errors on clean data).
    ridge
        Tikhonov weight for ``"stlsq"`` fits, relative to the unit column norms.
    cv_blocks
        ``0`` (default): off. ``B >= 2``: a step to a larger support on the path must also lower the
        cross-validation error over ``B`` contiguous blocks of rows (in the order given). Skipped when
        there are fewer than ``4 * K`` rows per held-in set.
    cv_tol
        With ``cv_blocks``: the fraction of the cross-validation error a step must remove
        (``CV(larger) < (1 - cv_tol) CV(smaller)``); a tolerance relative to what the model leaves
        unexplained, where ``tol`` is relative to ``||b||``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> G = rng.standard_normal((200, 6))
    >>> b = 0.05 * G[:, 1] + 5 * G[:, 3] + 1e-3 * rng.standard_normal(200)
    >>> res = SparseRegression().fit(G * [1, 1e4, 1, 1, 1, 1], b)   # column 1 scaled by 1e4
    >>> np.flatnonzero(res.support).tolist(), np.round(res.coefficients[[1, 3]] * [1e4, 1], 3).tolist()
    ([1, 3], [0.05, 5.0])
    """

    method: str = "backward"
    threshold: float | None = None
    f_crit: float = F_CRIT
    tol: float = 5e-4
    ridge: float = 0.0
    max_iter: int = 25
    max_swap_size: int = 8
    cv_blocks: int = 0
    cv_tol: float = 0.0

    def __post_init__(self):
        if self.method not in ("backward", "stlsq"):
            raise ConfigError(f"unknown sparse regression method {self.method!r}; choose 'backward' or 'stlsq'")
        for name in ("f_crit", "tol", "ridge", "cv_tol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0 and np.isfinite(v)):
                raise ConfigError(f"{name} must be a finite number >= 0, received {v!r}")
        if not (isinstance(self.cv_blocks, (int, np.integer)) and not isinstance(self.cv_blocks, bool)
                and (self.cv_blocks == 0 or self.cv_blocks >= 2)):
            raise ConfigError(f"cv_blocks must be 0 (off) or an integer >= 2, received {self.cv_blocks!r}")
        if self.threshold is not None and not (
            isinstance(self.threshold, (int, float)) and 0 < self.threshold < np.inf
        ):
            raise ConfigError(f"threshold must be > 0 or None (automatic), received {self.threshold!r}")

    def work(self, n_rows: int | None, n_terms: int) -> float:
        """Estimated multiply-adds of :meth:`fit` on ``n_rows x n_terms`` (``n_rows=None``: the part that does not
        depend on the rows, a lower bound). One core does 1e9 to 3e9 a second.

        ``"backward"``: ``K`` steps, the step with ``k`` terms an inverse of ``k x k`` and products of ``m x k``
        (``m = min(n, K + 1)`` rows once the QR factorisation has reduced them), so ``sum_k (k^3 + 2 m k^2)``; a
        cross-validation of ``B`` blocks adds ``B k^3`` per step. ``"stlsq"``: at most ``max_iter`` solves of
        ``m x K`` per threshold. Then the swaps of the sizes up to ``max_swap_size``, and the QR of ``n x K``.

        >>> f"{SparseRegression().work(None, 999):.2g}", f"{SparseRegression().work(2000, 290):.2g}"
        ('2.5e+11', '6.9e+09')
        """
        K = float(n_terms)
        n = 0.0 if n_rows is None else float(n_rows)
        m = min(n, K + 1)
        s2 = K * (K + 1) * (2 * K + 1) / 6  # sum of k^2 over 1..K
        s3 = (K * (K + 1) / 2) ** 2  # sum of k^3
        sweep = 1 if self.threshold is not None else _THRESHOLDS.size
        if self.method == "stlsq":
            path, sizes = sweep * self.max_iter * m * K * min(m, K), min(sweep, K) * K**3
        else:
            path, sizes = s3 + 2 * m * s2, s3
        swaps = 10 * sum(k * k for k in range(1, self.max_swap_size + 1)) * m * K
        cv = self.cv_blocks * sizes + n * K if self.cv_blocks else 0.0
        qr = n * K * K if n > K + 1 else 0.0
        return path + swaps + cv + qr

    def check_work(self, n_rows: int | None, n_terms: int) -> None:
        """Refuse (:class:`~pdelearn.errors.LibraryError`) a selection whose :meth:`work` is above
        :data:`~pdelearn.limits.MAX_SELECTION_WORK`, naming the terms, the rows and what to change."""
        rows = "" if n_rows is None else f" on {n_rows} rows"
        MAX_SELECTION_WORK.check(self.work(n_rows, n_terms),
                                 f"the estimated work of the sparse selection ({self.method}) of {n_terms} candidate "
                                 f"terms{rows}")

    def fit(self, G: np.ndarray, b: np.ndarray, n_eff: float | None = None,
            budget: Optional[Budget] = None) -> SparseResult:
        """Fit one equation. ``G``: ``(n, K)``; ``b``: ``(n,)``.

        A problem whose :meth:`work` is above :data:`~pdelearn.limits.MAX_SELECTION_WORK` is refused before
        any work. With ``budget``, :class:`~pdelearn.budget.BudgetExceeded` is raised past its deadline (checked
        between the steps of every loop), its message naming the stage reached.
        """
        G = np.asarray(G, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if G.ndim != 2 or b.ndim != 1 or G.shape[0] != b.shape[0]:
            raise ShapeError(f"expected G (n, K) and b (n,), received {G.shape} and {b.shape}")
        self.check_work(G.shape[0], G.shape[1])
        if not (np.all(np.isfinite(G)) and np.all(np.isfinite(b))):
            raise DataError("the regression problem has NaN or inf entries; check the data and the derivatives")
        tick = _ticker(budget)
        n, K = G.shape
        norms = np.linalg.norm(G, axis=0)
        norms[norms == 0] = 1.0
        Gn = G / norms
        bn2 = float(b @ b)
        blocks = _Blocks(Gn, b, self.cv_blocks) if self.cv_blocks and n - n // self.cv_blocks >= 4 * K else None
        if n > K + 1:
            # Every fit below is least squares on columns of Gn. With Gn = Q R, the residual of any
            # coefficients w is ||Q^T b - R w||^2 + ||b - Q Q^T b||^2, so the (K + 1)-row problem
            # [R; 0], [Q^T b; ||b - Q Q^T b||] has the same fits, residuals and ||b||, at far less cost.
            Q, R = np.linalg.qr(Gn)
            qb = Q.T @ b
            r0 = b - Q @ qb
            Gn, b = np.vstack([R, np.zeros((1, K))]), np.append(qb, np.sqrt(r0 @ r0))
        path = self._stlsq_path(Gn, b, tick) if self.method == "stlsq" else self._backward_path(Gn, b, tick)
        full = np.ones(K, bool)
        rss_full = _rss(Gn, b, full)
        n_eff = float(n if n_eff is None else min(n_eff, n))
        sigma2 = rss_full / max(n - K, 1.0) * (n / max(n_eff, 1.0))
        if self.method == "stlsq" and self.threshold is not None:
            chosen = path[-1][0]
        else:
            chosen = self._select(Gn, b, path, max(self.f_crit * sigma2, self.tol**2 * bn2), blocks, tick)
        w = lstsq_on(Gn, b, chosen) / norms
        return SparseResult(w, chosen, path, rss_full, sigma2, bn2, _rss(Gn, b, chosen))

    def tolerance(self, result: SparseResult) -> float:
        """How much the RSS of ``result`` (a fit with these settings) may rise before a term counts:
        ``max(f_crit sigma^2, tol^2 ||b||^2)``, the threshold of the selection rule."""
        return max(self.f_crit * result.sigma2, self.tol**2 * result.b_norm2)

    def noise_limited(self, result: SparseResult) -> bool:
        """Whether the noise term ``f_crit sigma^2``, not the relative tolerance, sets :meth:`tolerance`."""
        return self.f_crit * result.sigma2 > self.tol**2 * result.b_norm2

    def _select(self, Gn, b, path, allowed, blocks=None, tick=None):
        """Smallest size after which no single added term lowers the RSS by more than ``allowed``.

        The best support of each size on the path is first improved by swapping one term in for
        one term out while that lowers the RSS (collinear candidates such as ``u_xx`` and
        ``u u_xx`` can leave the elimination path on the wrong side). With ``blocks`` a step counts
        only when it also lowers the blocked cross-validation error by more than ``cv_tol`` of it.
        """
        best: dict[int, tuple[np.ndarray, float]] = {}
        for s, rss in path:
            k = int(s.sum())
            if k not in best or rss < best[k][1]:
                best[k] = (s, rss)
        tick = tick or _ticker(None)
        sizes = sorted(best)
        for k in sizes:
            if k <= self.max_swap_size:
                best[k] = _swap_refine(Gn, b, *best[k], tick=lambda: tick(f"the swaps of the supports of {k} terms"))
        gains = [best[k0][1] - best[k1][1] > allowed for k0, k1 in zip(sizes[:-1], sizes[1:])]
        if blocks is not None:
            cv = []
            for i, k in enumerate(sizes):
                tick(f"the cross-validation of the supports, after {i} of {len(sizes)} sizes")
                cv.append(blocks.cv_error(best[k][0]))
            gains = [g and c1 < (1 - self.cv_tol) * c0 for g, c0, c1 in zip(gains, cv[:-1], cv[1:])]
        for i, k in enumerate(sizes):
            if not any(gains[i:]):
                return best[k][0]
        return best[sizes[-1]][0]

    def _backward_path(self, Gn, b, tick=None):
        tick = tick or _ticker(None)
        K = Gn.shape[1]
        s = np.ones(K, bool)
        path = [(s.copy(), _rss(Gn, b, s))]
        while s.sum() > 1:
            tick(f"the backward elimination, after {len(path) - 1} of {K - 1} steps")
            idx = np.flatnonzero(s)
            A = Gn[:, idx]
            AtA_inv = np.linalg.pinv(A.T @ A)
            w = AtA_inv @ (A.T @ b)
            increase = w**2 / np.maximum(np.diag(AtA_inv), 1e-300)
            s[idx[int(np.argmin(increase))]] = False
            path.append((s.copy(), _rss(Gn, b, s)))
        return path

    def _stlsq(self, Gn, b, thr, tick=None):
        tick = tick or (lambda: None)
        K = Gn.shape[1]
        s = np.ones(K, bool)
        bnorm = np.linalg.norm(b) or 1.0
        for _ in range(self.max_iter):
            tick()
            idx = np.flatnonzero(s)
            if not idx.size:
                break
            A = Gn[:, idx]
            w = np.linalg.solve(A.T @ A + self.ridge * np.eye(idx.size), A.T @ b) if self.ridge else np.linalg.lstsq(
                A, b, rcond=None
            )[0]
            keep = np.abs(w) >= thr * bnorm
            new = np.zeros(K, bool)
            new[idx[keep]] = True
            if np.array_equal(new, s):
                break
            s = new
        return s

    def _stlsq_path(self, Gn, b, tick=None):
        tick = tick or _ticker(None)
        thresholds = [self.threshold] if self.threshold is not None else _THRESHOLDS
        seen, path = set(), []
        for i, thr in enumerate(thresholds):
            s = self._stlsq(Gn, b, thr, lambda: tick(f"the thresholded least squares, at threshold {i + 1} of "
                                                      f"{len(thresholds)}"))
            key = s.tobytes()
            if key not in seen and s.any():
                seen.add(key)
                path.append((s, _rss(Gn, b, s)))
        return path or [(np.ones(Gn.shape[1], bool), _rss(Gn, b, np.ones(Gn.shape[1], bool)))]


_THRESHOLDS = np.logspace(-6, 0, 61)  #: the thresholds an automatic "stlsq" selection sweeps


def _ticker(budget: Optional[Budget]) -> Callable[[str], None]:
    """``tick(stage)``: raise :class:`BudgetExceeded` naming ``stage`` once ``budget`` has expired (never without one)."""
    def tick(stage: str) -> None:
        if budget is not None and budget.expired():
            raise BudgetExceeded(f"{budget.what} ran past its time budget of {budget.seconds:g} s in {stage}")

    return tick


def _swap_refine(Gn, b, s, rss, max_rounds: int = 10, tick: Callable[[], None] = lambda: None):
    """Best-improvement swaps of one selected for one unselected column.

    For each column ``i`` taken out, one least-squares solve on the remaining columns gives the
    residual ``r`` and the residual parts ``g~_j`` of all candidates ``j``; bringing ``j`` in then
    leaves ``||r||^2 - (r . g~_j)^2 / ||g~_j||^2``, so a round costs ``|s|`` solves, not
    ``|s| (K - |s|)``.
    """
    s = s.copy()
    for _ in range(max_rounds):
        tick()
        best = (rss, None, None)
        out = np.flatnonzero(~s)
        if out.size == 0:
            break
        for i in np.flatnonzero(s):
            keep = s.copy()
            keep[i] = False
            r, gain = addition_gains(Gn, b, keep, out)
            j = int(np.argmax(gain))
            r_new = float(r @ r) - float(gain[j])
            if r_new < best[0] * (1 - 1e-9):
                best = (r_new, i, out[j])
        if best[1] is None:
            break
        s[best[1]], s[best[2]] = False, True
        rss = _rss(Gn, b, s)  # recomputed directly, so rounding in the update never accumulates
    return s, rss


def addition_gains(G: np.ndarray, b: np.ndarray, keep: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residual ``r (n,)`` of ``b`` on the columns ``keep`` of ``G``, and the RSS decrease ``(m,)`` of adding each
    column ``cand``.

    The decrease of column ``j`` is ``(r . g~_j)^2 / ||g~_j||^2`` with ``g~_j`` its part orthogonal to
    the kept columns (0 when that part vanishes to rounding).
    """
    C = G[:, cand]
    rhs = np.column_stack([b, C])
    if keep.any():
        A = G[:, keep]
        rhs = rhs - A @ np.linalg.lstsq(A, rhs, rcond=None)[0]
    r, gt = rhs[:, 0], rhs[:, 1:]
    norm2 = np.einsum("ij,ij->j", gt, gt)
    ok = norm2 > (np.finfo(float).eps * max(G.shape)) ** 2 * np.einsum("ij,ij->j", C, C)
    return r, np.where(ok, (r @ gt) ** 2 / np.where(ok, norm2, 1.0), 0.0)


class _Blocks:
    """Blocked cross-validation of least-squares fits: rows split, in order, into contiguous blocks.

    Per-block Gram matrices ``(B, K, K)`` and ``G^T b`` ``(B, K)`` give each held-out fit with one
    small solve; the held-out residual is then evaluated on the block's own rows (not from the Gram
    expansion, whose cancellation would swamp small residuals on clean data).
    """

    def __init__(self, G: np.ndarray, b: np.ndarray, n_blocks: int):
        edges = np.linspace(0, G.shape[0], n_blocks + 1).astype(int)
        self.parts = [(G[i:j], b[i:j]) for i, j in zip(edges[:-1], edges[1:])]
        self.gram = np.stack([g.T @ g for g, _ in self.parts])
        self.rhs = np.stack([g.T @ v for g, v in self.parts])

    def cv_error(self, s: np.ndarray) -> float:
        """Sum over blocks of the squared residual of the block under the fit on all other blocks."""
        idx = np.flatnonzero(s)
        A, c = self.gram[:, idx][:, :, idx], self.rhs[:, idx]
        A_all, c_all, total = A.sum(0), c.sum(0), 0.0
        for (g, v), Ak, ck in zip(self.parts, A, c):
            w = np.linalg.lstsq(A_all - Ak, c_all - ck, rcond=None)[0] if idx.size else np.zeros(0)
            r = v - g[:, idx] @ w
            total += float(r @ r)
        return total


def _rss(Gn, b, s) -> float:
    r = b - Gn @ lstsq_on(Gn, b, s)
    return float(r @ r)
