"""A bridge both ways between pdelearn and PySINDy (``pip install 'pdelearn[pysindy]'``).

* :class:`AutoSelect`: pdelearn's scale-free automatic selection
  (:class:`~pdelearn.sparse.SparseRegression`) as a PySINDy optimizer,
  ``ps.SINDy(optimizer=AutoSelect())``: no threshold to pick.
* :func:`library_from_pysindy` / :func:`library_to_pysindy`: PySINDy feature libraries
  (polynomial, Fourier, PDE, weak PDE, and their sums and products) as a
  :class:`~pdelearn.terms.TermLibrary`, and back (same terms, same order, pdelearn's names).
  Also reachable as ``TermLibrary.from_pysindy`` / ``TermLibrary.to_pysindy``.
* :func:`equation_from_pysindy`: a fitted PySINDy model as an :class:`~pdelearn.equation.Equation`
  (sympy, LaTeX, JSON); :func:`write_equation_folder` saves it where ``pdelearn export`` and
  ``pdelearn simulate`` read it. Also ``Equation.from_pysindy(model)``.

PySINDy names features by pasting strings (``x0 x1x0_11``), which is ambiguous for user names
(``vu_1``: ``v`` times ``u_1``, or the field ``vu``). The bridge never parses the user's names: it
asks the library for its names over the placeholders ``x0, x1, ...`` and reads those, then puts the
user's field names into sympy symbols. Features it cannot read (custom functions) can be given a
sympy form with ``custom={"f0(x0)": "exp(u)"}``; the form is checked numerically against the
library's own column.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import sympy

from .equation import Equation, EquationSystem
from .errors import ConfigError, DataError, LibraryError, ParseError
from .output_error.policy import F_CRIT
from .parsing import safe_expr
from .reliability import SELECTION_ALPHA, WIDE_NEAR_MISS, finding_text, selection_findings
from .runfiles import MARKER, made_by_pdelearn, write_equation, write_json
from .sparse import SparseRegression
from .terms import Derivative, TermLibrary, placeholder_coord, symbol_table

try:
    import pysindy as ps
    from pysindy.feature_library.base import BaseFeatureLibrary, x_sequence_or_item
    from pysindy.optimizers import BaseOptimizer
    from pysindy.utils import AxesArray, comprehend_axes
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "pdelearn.pysindy needs PySINDy >= 2.0; install it with: pip install 'pdelearn[pysindy]'"
    ) from exc

__all__ = [
    "AutoSelect",
    "UnreliableSelectionWarning",
    "library_from_pysindy",
    "library_to_pysindy",
    "equation_from_pysindy",
    "write_equation_folder",
]

_FACTOR = re.compile(r"x(\d+)(?:_(\d+))?(?:\^(\d+))?")
_FOURIER = re.compile(r"^(sin|cos)\((\d+) x(\d+)\)$")


# --------------------------------------------------------------------------------------------------
# Optimizer
# --------------------------------------------------------------------------------------------------


class UnreliableSelectionWarning(UserWarning):
    """A selection that ``pdelearn discover`` would flag (exit 3): see :mod:`pdelearn.reliability`."""


class AutoSelect(BaseOptimizer):
    """pdelearn's automatic sparse selection as a PySINDy optimizer (no threshold).

    For every target column, :class:`~pdelearn.sparse.SparseRegression` builds a path of supports
    (backward elimination, or an STLSQ threshold sweep) and keeps the sparsest one after which no
    larger support on the path earns its extra terms; the coefficients are the least-squares refit
    on that support. A larger support earns them only when (i) its residual is lower beyond noise
    and a tolerance relative to ``||x_dot||``, and (ii) it predicts held-out data better: the rows,
    in PySINDy's order (time for ODEs, the grid for ``PDELibrary``, the subdomains for
    ``WeakPDELibrary``), are split into ``cv_blocks`` contiguous blocks, each block is predicted from
    a fit on the others, and the summed squared error must fall by more than ``cv_tol`` of it.
    Errors that are smooth along the rows (smoothed differentiation noise, finite-difference
    truncation) look like many independent samples to test (i), so spurious terms that fit them
    pass it; being local, such fits do not carry over to another block, and (ii) rejects them.
    Scaling a column or the target changes neither test, so one setting serves data sets whose
    coefficients differ by orders of magnitude.

    Parameters
    ----------
    method, f_crit
        As in :class:`~pdelearn.sparse.SparseRegression` (``"backward"`` or ``"stlsq"``; noise-test
        level).
    tol
        Relative tolerance: a term whose removal raises the residual by less than ``tol * ||x_dot||``
        (in the root-sum-of-squares sense) is dropped even when statistically significant. The
        default, ``5e-3``, is ten times :class:`~pdelearn.sparse.SparseRegression`'s: PySINDy's
        features carry systematic relative errors of order ``1e-3`` (finite-difference truncation,
        smoothing, the quadrature of ``WeakPDELibrary``) that spurious small terms would otherwise
        fit. It was chosen on development data (``benchmarks/pysindy_bridge.py``, seed 0); terms
        contributing less than about ``0.5 %`` of ``||x_dot||`` are not found.
    n_eff
        Effective number of independent rows for the noise test (``None``: the number of rows).
        Pass a smaller value when rows are strongly correlated (overlapping weak-form subdomains).
    cv_blocks, cv_tol
        Blocked cross-validation (test (ii)): number of contiguous row blocks (``0`` turns the test
        off: the selection of ``SparseRegression``'s own default) and the fraction of the held-out
        error a step must remove. ``cv_tol = 0.04`` was chosen on development data
        (``benchmarks/pysindy_bridge.py``, seeds 0-13): spurious steps there removed at most 3.2 %
        (KS strong form, ``u u_xxx`` fitting the finite-difference error), the weakest true step
        5.6 % (Allen-Cahn's ``1e-4 u_xx``, weak form, 1 % noise). On those runs every value in
        ``0.035 .. 0.055``, and 5, 10 or 20 blocks, gave the same exact / not exact outcome (``0.03``
        keeps KS's ``u u_xxx``, ``0.06`` loses AC's ``u_xx`` on 2 of 11 seeds): the margin is a
        factor of about 1.7 on each side, not more. Skipped when the held-in blocks have fewer than
        ``4 * n_features`` rows.
    normalize_columns, unbias, max_iter, copy_X, initial_guess
        PySINDy's :class:`~pysindy.optimizers.BaseOptimizer` options; the selection is already
        scale-free and ends with an unbiased refit, so the defaults leave them off.

    Attributes
    ----------
    coef_ : ndarray, shape (n_targets, n_features)
    ind_ : ndarray of bool, shape (n_targets, n_features)
        The selected supports.
    history_ : list of ndarray, each (n_targets, n_features)
        The least-squares start and the selected coefficients.
    results_ : list of SparseResult
        One per target: the path of candidate supports, noise estimate, residuals.
    findings_ : list of list of dict
        Per target, what ``discover``'s rules say (:func:`pdelearn.reliability.selection_findings`): the
        left-hand side does not change, the selection explains too little of it (relative residual above
        ``MAX_RELATIVE_RESIDUAL``), or a left-out term is a near miss (its inclusion decided inside the noise).
    reliable : bool
        False when any target has a finding; an :class:`UnreliableSelectionWarning` then says which (columns by
        index; :func:`equation_from_pysindy` repeats them with the terms' names).

    Examples
    --------
    >>> import pysindy as ps
    >>> t = np.linspace(0, 10, 2001)
    >>> x = np.stack([np.exp(-0.1 * t) * np.cos(2 * t), -np.exp(-0.1 * t) * (2 * np.sin(2 * t) + 0.1 * np.cos(2 * t))], 1)
    >>> model = ps.SINDy(optimizer=AutoSelect(), feature_library=ps.PolynomialLibrary(degree=3))
    >>> _ = model.fit(x, t=t, feature_names=["p", "v"])
    >>> print(Equation.from_pysindy(model).format(3))
    p_t = 1 v
    v_t = -4.01 p - 0.2 v
    """

    def __init__(
        self,
        method: str = "backward",
        f_crit: float = F_CRIT,
        tol: float = 5e-3,
        n_eff: Optional[float] = None,
        cv_blocks: int = 10,
        cv_tol: float = 0.04,
        normalize_columns: bool = False,
        unbias: bool = False,
        max_iter: int = 20,
        copy_X: bool = True,
        initial_guess: Optional[np.ndarray] = None,
    ):
        super().__init__(
            max_iter=max_iter, normalize_columns=normalize_columns, initial_guess=initial_guess, copy_X=copy_X, unbias=unbias
        )
        self.method = method
        self.f_crit = f_crit
        self.tol = tol
        self.n_eff = n_eff
        self.cv_blocks = cv_blocks
        self.cv_tol = cv_tol
        self._regression()  # bad settings fail here, not in the middle of model.fit

    def _regression(self) -> SparseRegression:
        if not (self.n_eff is None or (
                isinstance(self.n_eff, (int, float)) and not isinstance(self.n_eff, bool) and self.n_eff >= 1)):
            raise ConfigError(f"n_eff must be None or a number >= 1, received {self.n_eff!r}")
        return SparseRegression(method=self.method, f_crit=self.f_crit, tol=self.tol, cv_blocks=self.cv_blocks,
                                cv_tol=self.cv_tol)

    def _reduce(self, x, y, **_):
        regression = self._regression()
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.results_ = [regression.fit(x, y[:, j], n_eff=self.n_eff) for j in range(y.shape[1])]
        self.coef_ = np.stack([r.coefficients for r in self.results_])
        self.history_.append(self.coef_)
        # a near miss here: a left-out term that the noise test finds significant (Bonferroni at SELECTION_ALPHA over
        # the left-out terms) but the cross-validation dropped, or (without it) one within WIDE_NEAR_MISS of the tolerance
        self.findings_ = [selection_findings(x, y[:, j], r, regression, near=WIDE_NEAR_MISS, alpha=SELECTION_ALPHA)
                          for j, r in enumerate(self.results_)]
        self.reliable = not any(self.findings_)
        if not self.reliable:
            names = [f"feature {k}" for k in range(x.shape[1])]
            _warn([finding_text(f, f"target {j}", names) for j, fs in enumerate(self.findings_) for f in fs])

    def fit(self, x_, y, sample_weight=None, **reduce_kws):
        """Select and fit. ``x_``: ``(n_samples, n_features)``; ``y``: ``(n_samples, n_targets)``."""
        super().fit(x_, y, sample_weight=sample_weight, **reduce_kws)
        self.ind_ = np.stack([r.support for r in self.results_])  # not |coef| > 1e-14: scale-free
        return self


# --------------------------------------------------------------------------------------------------
# Feature names -> sympy
# --------------------------------------------------------------------------------------------------


def _warn(messages: Sequence[str]) -> None:
    warnings.warn(UnreliableSelectionWarning("the selection is not reliable (pdelearn discover would exit 3): "
                                             + "; ".join(messages)), stacklevel=3)


def _check_fitted(lib, what: str) -> int:
    n = getattr(lib, "n_features_in_", None)
    if n is None or getattr(lib, "n_output_features_", None) is None:
        raise DataError(
            f"the PySINDy {what} {type(lib).__name__} is not fitted, so its features are unknown; "
            "fit it first (model.fit(x, t=...) or library.fit(x))"
        )
    return int(n)


def _spatial_dims(lib) -> int:
    """Number of space axes a library differentiates along (0 for ODE libraries)."""
    if isinstance(lib, (ps.PDELibrary, ps.WeakPDELibrary)):
        if getattr(lib, "implicit_terms", False):
            raise LibraryError(
                f"{type(lib).__name__}(implicit_terms=True) puts time derivatives among the features; "
                "pdelearn's libraries hold right-hand-side terms only: use implicit_terms=False"
            )
        return int(lib.ind_range)
    return max((_spatial_dims(sub) for sub in getattr(lib, "libraries", ())), default=0)


def _default_coords(n_dims: int, fields: Sequence[str]) -> tuple[str, ...]:
    if n_dims == 0:  # ODEs: pdelearn's libraries name one coordinate, which no term uses
        return (placeholder_coord(fields),)
    names = ("x", "y", "z")[:n_dims]
    if len(names) < n_dims or set(names) & set(fields):
        raise LibraryError(
            f"the PySINDy library differentiates along {n_dims} space axes and the fields are {list(fields)}; "
            "pass coords=[...] with one name per axis that is not a field name"
        )
    return names


def _placeholder_expr(name: str, fields, coords, table) -> Optional[sympy.Expr]:
    """Read a feature named over ``x0, x1, ...`` into sympy; ``None`` when not readable."""
    if name.strip() == "1":
        return sympy.Integer(1)
    m = _FOURIER.match(name.strip())
    if m and int(m.group(3)) < len(fields):
        fn = sympy.sin if m.group(1) == "sin" else sympy.cos
        return fn(int(m.group(2)) * table[fields[int(m.group(3))]])
    compact, pos, expr = name.replace(" ", ""), 0, sympy.Integer(1)
    while pos < len(compact):
        m = _FACTOR.match(compact, pos)
        if not m or int(m.group(1)) >= len(fields):
            return None
        field = fields[int(m.group(1))]
        if m.group(2):
            axes = [int(ch) - 1 for ch in m.group(2)]
            if min(axes) < 0 or max(axes) >= len(coords):
                return None
            sym = Derivative(field, tuple(sorted((coords[a] for a in axes), key=coords.index))).symbol
        else:
            sym = table[field]
        expr = expr * sym ** int(m.group(3) or 1)
        pos = m.end()
    return expr


def _check_numerically(lib, exprs, fields, shown) -> None:
    """Evaluate the derivative-free part of ``lib`` on random data and compare with ``exprs``."""
    if isinstance(lib, (ps.PDELibrary, ps.WeakPDELibrary)):
        inner = lib.function_library
        n_skip = int(bool(lib.include_bias))
        _check_numerically(inner, exprs[n_skip : n_skip + inner.n_output_features_], fields, shown[n_skip:])
        return
    if _spatial_dims(lib):  # a sum or product holding a PDE library: its columns need a grid
        return
    X = np.random.default_rng(0).uniform(0.5, 1.5, (12, len(fields)))
    theta = np.asarray(lib.transform(X))
    syms = [sympy.Symbol(f) for f in fields]
    for k, (e, name) in enumerate(zip(exprs, shown)):
        value = sympy.lambdify(syms, e, modules="numpy")(*X.T) * np.ones(len(X))
        if not np.allclose(value, theta[:, k], rtol=1e-10, atol=1e-12):
            raise LibraryError(
                f"PySINDy feature {k} {name!r} does not evaluate to {sympy.sstr(e)} (its name was read, or given in "
                "custom=, as that expression); give its true sympy form with custom={" + repr(name) + ": '...'}"
            )


def _feature_exprs(lib, fields, coords, custom) -> tuple[list[sympy.Expr], list[str]]:
    """The sympy form of every feature of a fitted PySINDy library, and its names as PySINDy shows them."""
    n = _check_fitted(lib, "library")
    placeholders = [f"x{i}" for i in range(n)]
    raw = list(lib.get_feature_names(placeholders))
    shown = list(lib.get_feature_names(list(fields)))
    table = symbol_table(fields, coords, max_order=6)
    custom = dict(custom or {})
    unknown = sorted(set(custom) - set(raw) - set(shown))
    if unknown:
        raise LibraryError(f"custom= names features the library does not have: {unknown}; its features are {shown}")
    exprs = []
    for k, (name, pretty) in enumerate(zip(raw, shown)):
        text = custom.pop(pretty, None) if pretty in custom else custom.pop(name, None)
        if text is not None:
            try:
                e = safe_expr(str(text), table, what=f"custom form of PySINDy feature {pretty!r}")
            except ParseError as err:
                raise LibraryError(str(err)) from None
        else:
            e = _placeholder_expr(name, fields, coords, table)
        if e is None:
            raise LibraryError(
                f"PySINDy feature {k} {pretty!r} has no form pdelearn can read (a custom function or an unknown name); "
                f"give its sympy form over {list(fields)} with custom={{{pretty!r}: 'exp({fields[0]})'}} (for example), "
                "or drop it from the library"
            )
        exprs.append(e)
    _check_numerically(lib, exprs, fields, shown)
    return exprs, shown


def _distinct(names: Sequence[str], what: str) -> None:
    seen = [n for i, n in enumerate(names) if n in list(names)[:i]]
    if seen:
        raise ConfigError(f"{what} must be distinct; {sorted(set(seen))} given more than once in {list(names)}")


def _names(fields, n: int, source: str) -> tuple[str, ...]:
    if fields is None:
        return tuple(f"x{i}" for i in range(n))
    fields = tuple([f for f in re.split(r"[,\s]+", fields) if f] if isinstance(fields, str) else fields)
    _distinct(fields, "field names")
    if len(fields) != n:
        raise LibraryError(f"{source} has {n} input features, received {len(fields)} field names {list(fields)}")
    return fields


def _resolve(lib, fields, coords) -> tuple[tuple[str, ...], tuple[str, ...]]:
    n = _check_fitted(lib, "library")
    fields = _names(fields, n, f"the PySINDy library {type(lib).__name__}")
    dims = _spatial_dims(lib)
    coords = _default_coords(dims, fields) if coords is None else tuple(coords)
    _distinct(list(coords) + [f for f in fields if f in coords], "field and coordinate names")
    if dims and len(coords) != dims:
        raise LibraryError(f"the PySINDy library has {dims} space axes; received {len(coords)} coordinate names {list(coords)}")
    return fields, coords


def library_from_pysindy(lib, fields: Optional[Sequence[str]] = None, coords: Optional[Sequence[str]] = None,
                         custom: Optional[Mapping[str, str]] = None) -> TermLibrary:
    """A fitted PySINDy feature library as a :class:`~pdelearn.terms.TermLibrary` (same order).

    Parameters
    ----------
    lib
        A fitted PySINDy library (``model.feature_library`` after ``model.fit``, or ``lib.fit(x)``).
    fields
        One name per input feature (default ``x0, x1, ...``, PySINDy's own).
    coords
        One name per space axis of a PDE library (default ``x``, ``y``, ``z``). ODE libraries get a
        coordinate name no term uses (``x``, or ``s`` when ``x`` is a field).
    custom
        ``{feature name: sympy form}`` for features the bridge cannot read, e.g.
        ``{"f0(x0)": "exp(u)"}``; checked numerically against the library.

    Examples
    --------
    >>> import pysindy as ps
    >>> lib = ps.PolynomialLibrary(degree=2).fit(np.zeros((4, 2)))
    >>> library_from_pysindy(lib, fields=["u", "v"]).names
    ['1', 'u', 'v', 'u^2', 'u v', 'v^2']
    """
    if isinstance(lib, _SelectedLibrary):
        return lib.term_library
    fields, coords = _resolve(lib, fields, coords)
    exprs, shown = _feature_exprs(lib, fields, coords, custom)
    seen: dict[sympy.Expr, str] = {}
    for e, name in zip(exprs, shown):
        canon = sympy.expand(e).as_coeff_Mul()[1]
        if canon in seen:
            raise LibraryError(
                f"PySINDy features {seen[canon]!r} and {name!r} are the same term {sympy.sstr(e)}, so a coefficient could "
                "be split between them in any ratio; remove one (e.g. include_bias=False in one of the summed libraries)"
            )
        seen[canon] = name
    return TermLibrary(exprs, fields, coords)


# --------------------------------------------------------------------------------------------------
# TermLibrary -> PySINDy
# --------------------------------------------------------------------------------------------------


class _SelectedLibrary(BaseFeatureLibrary):
    """Chosen columns of a PySINDy library, in a given order, under pdelearn's names."""

    def __init__(self, library, columns: Sequence[int], term_library: TermLibrary):
        self.library = library
        self.columns = list(columns)
        self.term_library = term_library

    @x_sequence_or_item
    def fit(self, x_full, y=None):
        self.library.fit(x_full, y)
        self.n_features_in_ = self.library.n_features_in_
        self.n_output_features_ = len(self.columns)
        return self

    @x_sequence_or_item
    def transform(self, x_full):
        out = []
        for xp in self.library.transform(x_full):
            picked = np.take(np.asarray(xp), self.columns, axis=xp.ax_coord)
            out.append(AxesArray(picked, comprehend_axes(picked)))
        return out

    def get_feature_names(self, input_features=None) -> list[str]:
        if input_features is None or list(input_features) == list(self.term_library.fields):
            return self.term_library.names
        names = self.library.get_feature_names(input_features)
        return [names[c] for c in self.columns]

    def calc_trajectory(self, diff_method, x, t):
        return self.library.calc_trajectory(diff_method, x, t)

    def get_spatial_grid(self):
        return self.library.get_spatial_grid()


def _degree(term_library: TermLibrary) -> int:
    fields = [sympy.Symbol(f) for f in term_library.fields]
    deg = 0
    for t in term_library:
        poly = sympy.Poly(t.expr, *fields) if t.expr.free_symbols & set(fields) else None
        deg = max(deg, poly.total_degree() if poly is not None else 0)
    return deg


def library_to_pysindy(term_library: TermLibrary, spatial_grid: Optional[np.ndarray] = None,
                       spatiotemporal_grid: Optional[np.ndarray] = None, **kwargs: Any):
    """A PySINDy library with the terms of ``term_library``, in its order and under its names.

    Parameters
    ----------
    term_library
        Polynomials in the fields times at most one derivative (e.g.
        :func:`~pdelearn.terms.polynomial_library`).
    spatial_grid
        For PDEs (strong form, ``ps.PDELibrary``): PySINDy's spatial grid, ``(n_x,)`` or
        ``(n_x, n_y, 2)``.
    spatiotemporal_grid
        For the weak form (``ps.WeakPDELibrary``): ``(n_x, ..., n_t, n_dims + 1)``.
    **kwargs
        Passed on to ``ps.PDELibrary`` / ``ps.WeakPDELibrary`` (``K``, ``H_xt``, ``p``,
        ``differentiation_method``, ...).

    Neither grid: an ODE library (``ps.PolynomialLibrary``); derivative terms then raise.

    Examples
    --------
    >>> from pdelearn.terms import polynomial_library
    >>> lib = library_to_pysindy(polynomial_library("u", "x", 1, 2), spatial_grid=np.linspace(0, 1, 20))
    >>> lib.fit(np.zeros((20, 5, 1))).get_feature_names()
    ['1', 'u', 'u_x', 'u u_x', 'u_xx', 'u u_xx']
    """
    if not isinstance(term_library, TermLibrary):
        raise LibraryError(f"expected a pdelearn TermLibrary, received {type(term_library).__name__}")
    if spatial_grid is not None and spatiotemporal_grid is not None:
        raise ConfigError("pass spatial_grid (strong form) or spatiotemporal_grid (weak form), not both")
    fields = term_library.fields
    poly = ps.PolynomialLibrary(degree=max(_degree(term_library), 1), include_bias=False)
    n_dims = len(term_library.coords)
    if spatial_grid is None and spatiotemporal_grid is None:
        if term_library.max_order:
            raise ConfigError(
                f"the library has derivative terms ({[d.name for d in term_library.derivatives if d.order]}); "
                "pass spatial_grid= (PDELibrary) or spatiotemporal_grid= (WeakPDELibrary)"
            )
        full, n_dims = ps.PolynomialLibrary(degree=poly.degree, include_bias=True), 0
    else:
        common = dict(function_library=poly, derivative_order=max(term_library.max_order, 1), include_bias=True)
        if spatial_grid is not None:
            full = ps.PDELibrary(spatial_grid=np.asarray(spatial_grid), **common, **kwargs)
        else:
            full = ps.WeakPDELibrary(spatiotemporal_grid=np.asarray(spatiotemporal_grid), **common, **kwargs)
        if full.ind_range != n_dims:
            raise ConfigError(
                f"the grid has {full.ind_range} space axes, the library's coordinates are {list(term_library.coords)}"
            )
    probe = _fit_probe(full, len(fields), n_dims)
    table = symbol_table(fields, term_library.coords, max_order=6)
    where = {}
    for k, name in enumerate(probe.get_feature_names([f"x{i}" for i in range(len(fields))])):
        e = _placeholder_expr(name, fields, term_library.coords, table)
        where.setdefault(sympy.expand(e), k)
    columns = []
    for t in term_library:
        k = where.get(sympy.expand(t.expr))
        if k is None:
            raise LibraryError(
                f"term {t.name!r} is not among PySINDy's polynomial x derivative features (PySINDy's PDELibrary has "
                "no products of derivatives, coordinates or other functions); remove it, or run pdelearn's own "
                "discover() which evaluates any sympy term"
            )
        columns.append(k)
    return _SelectedLibrary(full, columns, term_library)


def _fit_probe(full, n_fields: int, n_dims: int):
    """A copy of ``full`` fitted on zeros, only to list its features (PySINDy names need a fit)."""
    import copy

    probe = copy.deepcopy(full)
    if n_dims == 0:
        return probe.fit(np.zeros((3, n_fields)))
    grid = probe.spatiotemporal_grid if isinstance(probe, ps.WeakPDELibrary) else None
    shape = tuple(grid.shape[:-1]) if grid is not None else tuple(np.shape(probe.spatial_grid)[: max(n_dims, 1)]) + (3,)
    axes = {"ax_spatial": list(range(n_dims)), "ax_time": n_dims, "ax_coord": n_dims + 1}
    zeros = AxesArray(np.zeros(shape + (n_fields,)), axes)
    return probe.fit([zeros])


# --------------------------------------------------------------------------------------------------
# Fitted models -> Equation
# --------------------------------------------------------------------------------------------------


def equation_from_pysindy(model, fields: Optional[Sequence[str]] = None, coords: Optional[Sequence[str]] = None,
                          custom: Optional[Mapping[str, str]] = None) -> Union[Equation, EquationSystem]:
    """A fitted ``ps.SINDy`` model as pdelearn's readout (one equation per target).

    ``fields`` defaults to the model's feature names (``x0, x1, ...`` unless ``feature_names`` was
    given to ``fit``); ``coords`` and ``custom`` are as in :func:`library_from_pysindy`. Features
    that are the same term (e.g. two bias columns) have their coefficients added.
    """
    if not isinstance(model, ps.SINDy) or isinstance(model, getattr(ps, "DiscreteSINDy", ())):
        raise ConfigError(
            f"expected a fitted pysindy.SINDy model (continuous time: lhs u_t), received {type(model).__name__}"
        )
    if getattr(model, "n_output_features_", None) is None or not hasattr(model.optimizer, "coef_"):
        raise DataError("the PySINDy model is not fitted, so it holds no equation; call model.fit(x, t=...) first")
    lib = model.feature_library
    if fields is None:
        fields = list(model.feature_names)
        bad = [f for f in fields if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", f)]
        if bad:
            raise LibraryError(
                f"PySINDy feature name(s) {bad} are not valid pdelearn field names (letters and digits, starting "
                "with a letter); pass fields=[...] to Equation.from_pysindy"
            )
    if fields is not None:
        _distinct(list(fields), "field names")
    if coords is not None:
        _distinct(list(coords), "coordinate names")
    if isinstance(lib, _SelectedLibrary):
        term_lib = lib.term_library
        if fields is not None and list(fields) != list(term_lib.fields):
            term_lib = TermLibrary([t.expr.xreplace(dict(zip(map(sympy.Symbol, term_lib.fields), map(sympy.Symbol, fields))))
                                    for t in term_lib], fields, term_lib.coords)
        fields, coords, exprs = term_lib.fields, term_lib.coords, [t.expr for t in term_lib]
    else:
        fields, coords = _resolve(lib, fields, coords)
        exprs, _ = _feature_exprs(lib, fields, coords, custom)
    coef = np.atleast_2d(np.asarray(model.coefficients(), dtype=float))
    n_ctrl = int(getattr(model, "n_control_features_", 0) or 0)
    targets = fields[: len(fields) - n_ctrl]
    if coef.shape != (len(targets), len(exprs)):
        raise DataError(f"the model's coefficients have shape {coef.shape}; expected ({len(targets)}, {len(exprs)})")
    eqs = []
    for field, row in zip(targets, coef):
        terms: dict[str, float] = {}
        for e, c in zip(exprs, row):
            if c != 0.0:
                key = sympy.sstr(e)
                terms[key] = terms.get(key, 0.0) + float(c)
        eqs.append(Equation(f"{field}_t", terms, fields, coords))
    findings = getattr(model.optimizer, "findings_", None) or []
    if any(findings):  # AutoSelect's verdict, worded with the terms' names
        names = [sympy.sstr(e) for e in exprs]
        _warn([finding_text(f, f"{field}_t", names) for field, fs in zip(targets, findings) for f in fs])
    return eqs[0] if len(eqs) == 1 else EquationSystem(eqs)


def write_equation_folder(equation: Union[Equation, EquationSystem], folder: Union[str, Path], *,
                          data: Union[str, Path, None] = None, data_fields: Optional[Sequence[str]] = None,
                          data_coords: Optional[Sequence[str]] = None) -> Path:
    """Write ``equation.json`` and ``equation.tex`` (and ``options.json`` naming ``data``) into ``folder``.

    ``pdelearn export FOLDER`` then prints the equation; with ``data`` (a ``.npz`` / ``.mat`` grid
    whose arrays ``data_fields`` / ``data_coords`` are found as ``pdelearn discover`` finds them),
    ``pdelearn simulate FOLDER`` integrates a 1-D periodic PDE from the data's initial condition.
    Every file is written to a temporary name first, so a failure leaves no partial file. It never replaces what
    it did not write: ``folder`` must be new (it is then marked as pdelearn's), a folder without those files,
    or one pdelearn made; a file there, or a user's own ``equation.json`` etc., is a :class:`ConfigError`.
    """
    if not isinstance(equation, (Equation, EquationSystem)):
        raise ConfigError(f"expected an Equation or EquationSystem, received {type(equation).__name__}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{str(folder)!r} exists and is not a folder; write_equation_folder writes a folder and does "
                          "not replace files it did not write: pass a new folder path")
    clash = [n for n in ("equation.json", "equation.tex", "options.json") if (folder / n).exists()]
    if clash and not made_by_pdelearn(folder):
        raise ConfigError(f"the folder {str(folder)!r} already holds {', '.join(clash)}, not written by pdelearn (no "
                          f"{MARKER} file); pass a new or empty folder")
    options: dict[str, Any] | None = None
    if data is not None:
        if not Path(data).is_file():
            raise DataError(f"data file {str(data)!r} does not exist; pass the .npz or .mat file the model was fitted on")
        options = {"data": str(Path(data).resolve()), "source": "pysindy"}
        if data_fields is not None:
            options["fields"] = list(data_fields)
        if data_coords is not None:
            options["coords"] = list(data_coords)
    new = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder {str(folder)!r} ({exc.strerror or exc}); pass another path") from None
    if new:
        write_json(folder / MARKER, {"created_by": "pdelearn", "note": "this folder was written by pdelearn"})
    write_equation(folder, equation)
    if options is not None:
        write_json(folder / "options.json", options)
    return folder
