"""The stages :func:`pdelearn.discover` composes, each an object with one job (docs/discover.md, "Stages").

* a **system builder** makes the linear system ``b ~ G a`` from the data: :class:`WeakFormSystem` (test
  functions, :mod:`pdelearn.weak`) or :class:`StrongFormSystem` (pointwise derivatives from a
  :class:`~pdelearn.grid.Differentiator`);
* a **selector** picks the terms of every equation: a :class:`~pdelearn.sparse.SparseRegression`;
* :class:`Checks` apply the reliability rules (:mod:`pdelearn.reliability`), each returning its findings;
* a **refit** (:class:`GLSRefit`) refits the selected coefficients; a **verifier** (the output-error
  refinement, :class:`pdelearn.discovery.OutputErrorCheck`) settles doubtful selections by simulation;
* :class:`BootstrapIntervals` put intervals on the coefficients.

:func:`report_equation` runs them on one equation and returns its :class:`EquationReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Protocol

import numpy as np

from .budget import REFINE_BUDGET, Budget, BudgetExceeded, larger_budget
from .data import GridData
from .equation import Equation
from .errors import DataError
from .gls import GLSFit, left_out_scores
from .gls import refit as gls_refit
from .grid import Differentiator, GridDerivative
from .refine import no_space_derivative
from .reliability import (
    REFIT_AGREEMENT,
    WIDE_SCALE,
    explained,
    interchangeable_warnings,
    refit_agrees,
    refit_check,
    scale_drops,
    stability_warnings,
    static_field,
    term_shares,
    term_warnings,
    wide_rows,
)
from .sparse import QUICK_WORK, SparseRegression, SparseResult, lstsq_on
from .terms import Derivative, TermLibrary
from .weak import WeakForm, weak_system

__all__ = ["LinearSystem", "WeakFormSystem", "StrongFormSystem", "build_system", "select_terms", "Findings",
           "EquationReport", "Checks", "GLSRefit", "BootstrapIntervals", "Stages", "report_equation", "GLS_ALPHA"]

GLS_ALPHA = 0.01  #: level of the score test of left-out terms on the GLS rows (Bonferroni over the library)
Say = Callable[[str], None]


# ------------------------------------------------------------------------------------------- systems

@dataclass
class LinearSystem:
    """``b ~ G a`` of one data set: ``G`` ``(n_rows, n_terms)``, ``b`` ``(n_rows, n_eq)`` (one column per ``lhs``),
    ``n_eff`` effectively independent rows. ``weak``: the test functions when the rows are weak-form integrals
    (the weak-form checks and the GLS refit need them), else None."""

    G: np.ndarray
    b: np.ndarray
    n_eff: float
    lhs: list[str]
    data: GridData
    library: TermLibrary
    weak: Optional[WeakForm] = None
    wide: Callable[[int], Any] = field(repr=False, default=lambda j: None)  #: rows on wider test functions

    def grid(self, library: TermLibrary | None = None) -> tuple:
        """``(fields, coords, library, lhs)`` for the weak-form functions of :mod:`pdelearn.gls` and
        :mod:`pdelearn.reliability`, which take the grid unpacked."""
        return self.data.fields, self.data.coords, library or self.library, self.lhs


class SystemBuilder(Protocol):
    method: str  #: recorded as ``options["method"]``

    def build(self, data: GridData, library: TermLibrary, lhs: Sequence[str]) -> LinearSystem: ...


class WeakFormSystem:
    """The weak form: the data integrated against the test functions of ``form`` (:func:`pdelearn.weak.weak_system`)."""

    method = "weak"
    derivative = None

    def __init__(self, form: WeakForm | None = None):
        self.form = form or WeakForm()

    def build(self, data: GridData, library: TermLibrary, lhs: Sequence[str]) -> LinearSystem:
        G, b, n_eff = weak_system(data.fields, data.coords, library, list(lhs), self.form, time=data.time)
        wide = wide_rows(data.fields, data.coords, library, list(lhs), self.form, data.time)
        return LinearSystem(G, b, n_eff, list(lhs), data, library, self.form, wide)


class StrongFormSystem:
    """The strong form (PDE-FIND): every derivative computed pointwise by ``derivative``, a
    :class:`~pdelearn.grid.Differentiator` (the time derivative by ``time_derivative``; default: ``derivative``, or
    finite differences when it is ``periodic``), the edges ``trim`` of each axis left out, at most ``max_rows``
    rows drawn with ``seed``."""

    method = "strong"

    def __init__(self, derivative: Differentiator | None = None, time_derivative: Differentiator | None = None,
                 trim: float = 0.05, max_rows: int = 100_000, seed: int = 0):
        self.space = derivative or GridDerivative("fd")
        periodic = getattr(self.space, "periodic", False)
        self.time = time_derivative or (GridDerivative("fd") if periodic else self.space)
        self.trim, self.max_rows, self.seed = trim, max_rows, seed
        self.derivative = getattr(self.space, "name", type(self.space).__name__)

    def build(self, data: GridData, library: TermLibrary, lhs: Sequence[str]) -> LinearSystem:
        from .compile import CompiledLibrary

        axes, spacing, cache = list(data.coords), data.spacing, {}

        def deriv(fieldname: str, wrt: tuple[str, ...]) -> np.ndarray:
            key = Derivative(fieldname, wrt).name
            if key not in cache:
                out = data.fields[fieldname]
                for c in dict.fromkeys(wrt):
                    how = self.time if c == data.time else self.space
                    out = how(out, spacing[c], wrt.count(c), axes.index(c))
                cache[key] = out
            return cache[key]

        inputs = {d.name: deriv(d.field, d.wrt) if d.wrt else data.fields[d.field] for d in library.derivatives}
        mesh = np.meshgrid(*[data.coords[a] for a in axes], indexing="ij")
        inputs.update({c: mesh[axes.index(c)] for c in library.coords})
        lhs_vals = [deriv(l.rsplit("_", 1)[0], (data.time,)) for l in lhs]
        sl = tuple(slice(int(self.trim * n), n - int(self.trim * n)) for n in data.shape)  # one-sided differences
        G = CompiledLibrary(library).numpy({k: v[sl] for k, v in inputs.items()}).reshape(-1, len(library))
        b = np.stack([v[sl].reshape(-1) for v in lhs_vals], axis=-1)
        if G.shape[0] > self.max_rows:
            idx = np.random.default_rng(self.seed).choice(G.shape[0], self.max_rows, replace=False)
            G, b = G[idx], b[idx]
        return LinearSystem(G, b, float(G.shape[0]), list(lhs), data, library)


def build_system(builder: SystemBuilder, data: GridData, library: TermLibrary, lhs: Sequence[str]) -> LinearSystem:
    """``builder``'s system, refused when a term is NaN or inf on the data (named)."""
    with np.errstate(all="ignore"):  # a custom term such as log(u) may be undefined on the data: named below
        system = builder.build(data, library, lhs)
    bad = [library[i].name for i in np.flatnonzero(~np.all(np.isfinite(system.G), axis=0))]
    if bad:
        raise DataError(f"the term(s) {', '.join(bad)} are NaN or inf on the data (e.g. log or sqrt of a negative "
                        "value, division by zero); remove them from the library or shift the data")
    return system


def select_terms(selector: SparseRegression, system: LinearSystem, budget: float | None) -> list[SparseResult]:
    """The sparse selection of every equation, within ``budget`` seconds together (None: no limit) when its work is
    above :data:`~pdelearn.sparse.QUICK_WORK` (below it, about a second or less, the work limit bounds it)."""
    G, b, lhs = system.G, system.b, system.lhs
    quick = selector.work(G.shape[0], G.shape[1]) * b.shape[1] <= QUICK_WORK
    clock = Budget(None if quick else budget, "the term selection")
    fits: list[SparseResult] = []
    try:
        for j in range(b.shape[1]):
            clock.what = f"the term selection of {lhs[j]} ({G.shape[1]} candidate terms, {G.shape[0]} rows)"
            fits.append(selector.fit(G, b[:, j], n_eff=system.n_eff, budget=clock))
    except BudgetExceeded as exc:
        more = larger_budget(clock.seconds)
        raise BudgetExceeded(f"{exc}; no equation was selected: rerun with a larger budget (pdelearn discover --budget "
                             f"{more}, or discover(budget={more})), or with fewer candidate terms") from None
    return fits


# ------------------------------------------------------------------------------------------- the report

@dataclass
class Findings:
    """What a stage found about one equation: warnings (the result is unreliable) and notes (worth knowing)."""

    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class EquationReport:
    """One equation of a discovery: its support (column indices), coefficients, their standard errors and intervals
    ``(len(support), 2)``, why it does not explain its data (``unexplained``), its warnings and notes, and the refit
    and refinement that ran on it."""

    lhs: str
    fit: SparseResult
    support: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: Optional[np.ndarray] = None
    intervals: Optional[np.ndarray] = None
    unexplained: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refit: Optional[GLSFit] = None
    refinement: Any = None  #: a :class:`pdelearn.refine.Refinement` where the verifier ran

    def add(self, found: Findings) -> None:
        self.warnings += found.warnings
        self.notes += found.notes

    def names(self, library: TermLibrary) -> list[str]:
        return [library[i].name for i in self.support]

    def equation(self, library: TermLibrary) -> Equation:
        intervals = (None if self.intervals is None else
                     {library[i].key: iv for i, iv in zip(self.support, self.intervals)})
        return Equation(self.lhs, {library[i]: float(c) for i, c in zip(self.support, self.coefficients)},
                        library.fields, library.coords, intervals=intervals)


# ------------------------------------------------------------------------------------------- checks

class Checks:
    """The reliability rules of one equation (:mod:`pdelearn.reliability`), each returning its findings; the weak-form
    rules (scale and stability) apply to weak-form systems only. Subclass to change a rule."""

    def unexplained(self, system: LinearSystem, j: int, fit: SparseResult) -> str | None:
        """Why the equation does not explain its data (a static field, a large residual), or None."""
        name = system.library.fields[j]
        return static_field(name, system.data.fields[name]) or explained(system.lhs[j], fit.relative_residual,
                                                                         int(fit.support.sum()))

    def scale_drops(self, system: LinearSystem, j: int, fit: SparseResult, selector) -> tuple[list, Findings]:
        """Terms of one test-function scale only (discretisation error of the narrow rows), ``(k, c, c_wide)`` each,
        and the note that they were dropped."""
        if system.weak is None:
            return [], Findings()
        dropped = scale_drops(system.G, system.b[:, j], fit, selector, lambda: system.wide(j))
        gone = ", ".join(f"{system.library[k].name} ({c:.4g}; {cw:.4g} on test functions {WIDE_SCALE:g} times as "
                         "wide)" for k, c, cw in dropped)
        return dropped, Findings(notes=[f"{system.lhs[j]}: dropped {gone}: a term of the equation would not depend on "
                                        "the test functions' scale, and the wider ones fit as well without it "
                                        "(least-squares coefficients, no GLS refit on the narrow test functions)"]
                                 if dropped else [])

    def doubts(self, system: LinearSystem, j: int, report: EquationReport, selector, dropped) -> list[str]:
        """Warnings of the weak form that a verifier can settle: stability across test-function scales, and where
        the data are noise-limited, GLS refits that disagree across sizes or miss a term."""
        if system.weak is None:
            return []
        lhs, lib = system.lhs[j], system.library
        out = stability_warnings(lhs, lib.names, system.G, system.b[:, j], report.fit, selector,
                                 lambda: system.wide(j), [k for k, _, _ in dropped])
        if report.refit is not None and selector.noise_limited(report.fit):
            out += [_scale_conflict(lhs, lib, d) for d in report.refit.disagreements]
            out += _gls_misses(system, j, report.refit)
        return out

    def terms(self, system: LinearSystem, j: int, report: EquationReport) -> list[str]:
        """Negligible, insignificant or imprecise terms of the reported equation."""
        shares = term_shares(system.G, system.b[:, j], report.support, report.coefficients)
        return term_warnings(system.lhs[j], report.names(system.library), shares, report.coefficients, report.std)

    def unsettled(self, system: LinearSystem, j: int, report: EquationReport, selector, verifier: str) -> list[str]:
        """Where no verifier ran: a noise-limited equation without any space derivative."""
        if not selector.noise_limited(report.fit):
            return []
        local = no_space_derivative(report.names(system.library), system.library, system.data)
        return [f"{system.lhs[j]}: {local}; no output-error check settled it (refine={verifier!r})"] if local else []

    def identifiable(self, system: LinearSystem, j: int, report: EquationReport, selector) -> list[str]:
        """Kept terms that left-out ones replace as well (a property of the data: no simulation settles it)."""
        if not report.support.size:
            return []
        return interchangeable_warnings(system.lhs[j], system.library.names, system.G, system.b[:, j], report.support,
                                        report.fit, selector)


def _gls_misses(system: LinearSystem, j: int, gls: GLSFit) -> list[str]:
    """The doubt of left-out terms that the GLS rows find significant (score test, Bonferroni over the library)."""
    from scipy.stats import chi2

    fields, coords, lib, lhs = system.grid()
    scores = left_out_scores(fields, coords, lib, lhs[j], gls, time=system.data.time)
    if not scores:
        return []
    crit = float(chi2.isf(GLS_ALPHA / len(scores), 1))
    hits = sorted(((f, k) for k, f in scores.items() if f > crit), reverse=True)
    if not hits:
        return []
    names = {t.key: t.name for t in lib}
    listed = ", ".join(f"{names[k]} (F = {f:.3g})" for f, k in hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3
                                                                           else "")
    return [f"{lhs[j]}: on the GLS rows, left-out terms are significant: {listed}, above the {crit:.3g} of a "
            f"{100 * GLS_ALPHA:g} % level over {len(scores)} candidates; the support may lack a term"]


def _scale_conflict(lhs: str, lib: TermLibrary, d: dict) -> str:
    """The doubt of a GLS refit contradicted by the refit on the other test-function size (noisy data)."""
    name = next((t.name for t in lib if t.key == d["term"]), d["term"])
    radius = ", ".join(f"{a} {r:g}" for a, r in d["other_radius"].items())
    return (f"{lhs}: the GLS refits on two test-function sizes disagree on {name}: {d['coefficient']:.4g} +- {d['std']:.2g} "
            f"against {d['other']:.4g} +- {d['other_std']:.2g} (radius {radius}), {d['z']:.3g} combined standard "
            "errors apart; one of them carries an error its noise model does not describe")


def _without(fit: SparseResult, G: np.ndarray, b: np.ndarray, drop: Sequence[int]) -> SparseResult:
    """``fit`` with the columns ``drop`` taken out of its support (least squares on the rest)."""
    support = fit.support.copy()
    support[list(drop)] = False
    w = lstsq_on(G, b, support)
    r = b - G @ w
    return replace(fit, coefficients=w, support=support, rss=float(r @ r))


# ------------------------------------------------------------------------------------------- refit, intervals

class GLSRefit:
    """Refit the selected coefficients of a weak-form system by generalized least squares over several
    test-function sizes (:func:`pdelearn.gls.refit`), kept only when it fits the selection's rows as well."""

    name = "gls"

    def refit(self, system: LinearSystem, j: int, report: EquationReport, selector, say: Say
              ) -> tuple[Optional[GLSFit], Findings]:
        if system.weak is None:
            return None, Findings()
        lhs, lib, fit, support, coef = system.lhs[j], system.library, report.fit, report.support, report.coefficients
        say(f"GLS refit of {lhs} ({support.size} terms)")
        rejected: list = []
        allowed = max(selector.f_crit * fit.sigma2 * support.size, selector.tol**2 * fit.b_norm2)
        fields, coords, sub, _ = system.grid(lib.select([lib[i] for i in support]))
        gls = gls_refit(fields, coords, sub, lhs, system.weak, time=system.data.time,
                        accept=refit_check(system.G, system.b[:, j], support, fit.rss, allowed, rejected))
        if gls is not None or not rejected:
            return gls, Findings()
        if not selector.noise_limited(fit) and refit_agrees(coef, rejected):
            return None, Findings(notes=[_refit_warning(lhs, report.names(lib), coef, rejected, agrees=True)])
        return None, Findings(warnings=[_refit_warning(lhs, report.names(lib), coef, rejected)])


def _refit_warning(lhs: str, names, coef, rejected, agrees: bool = False) -> str:
    """Say that the GLS refit disagreed with the selection, naming the term it moved most.

    ``agrees``: the data are not noise-limited and no coefficient moved by more than
    :data:`pdelearn.reliability.REFIT_AGREEMENT` of it (a note, not a warning).
    """
    fit, discrepancy = max(rejected, key=lambda r: r[1])
    k = int(np.argmax(np.abs(fit.coefficients - coef) / np.maximum(fit.std, 1e-300)))
    moved = (f"{names[k]} from {coef[k]:.4g} to {fit.coefficients[k]:.4g} +- {fit.std[k]:.2g}, {discrepancy:.3g} times "
             "the selection's tolerance")
    if agrees:
        return (f"{lhs}: the GLS refit was not used: the residual is discretisation error, not noise, and the refit "
                f"would change {moved}, every coefficient by at most {100 * REFIT_AGREEMENT:g} %; the least-squares "
                "coefficients are reported")
    return (f"{lhs}: the GLS refit disagrees with the selected fit beyond its noise level (it would change {moved}); "
            "the least-squares coefficients are reported")


@dataclass
class BootstrapIntervals:
    """95 % percentile intervals from ``resamples`` bootstrap resamples of the rows (seeded by ``seed``), widened by
    ``sqrt(n_rows / n_eff)`` for the rows' correlation and centred on the reported coefficients."""

    resamples: int
    seed: int = 0

    def intervals(self, system: LinearSystem, j: int, report: EquationReport) -> np.ndarray:
        from .intervals import bootstrap_draws

        G, b, support, centre = system.G, system.b[:, j], report.support, report.coefficients
        A = G[:, support]
        est = np.linalg.lstsq(A, b, rcond=None)[0]
        draws = bootstrap_draws(A, b, self.resamples, self.seed)
        widen = np.sqrt(max(G.shape[0] / max(system.n_eff, 1.0), 1.0))
        lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
        return np.stack([centre - widen * (est - lo), centre + widen * (hi - est)], axis=-1)


# ------------------------------------------------------------------------------------------- composition

@dataclass
class Stages:
    """The stages :func:`pdelearn.discover` composes; ``refit``, ``verifier`` and ``intervals`` may be None (skipped).

    ``verifier``: an object with ``name`` and ``verify(system, j, report, doubts, also, selector, say) ->
    (refinement or None, Findings)``; a refinement replaces the support, coefficients, standard errors and
    intervals by its ``final``, ``coefficients``, ``std_errors`` and ``equation.intervals``.
    """

    system: SystemBuilder = field(default_factory=WeakFormSystem)
    selector: SparseRegression = field(default_factory=SparseRegression)
    refit: Optional[GLSRefit] = field(default_factory=GLSRefit)
    verifier: Any = None
    intervals: Optional[BootstrapIntervals] = None
    checks: Checks = field(default_factory=Checks)
    budget: Optional[float] = REFINE_BUDGET  #: seconds of the term selection (None: no limit)


def report_equation(stages: Stages, system: LinearSystem, j: int, fit: SparseResult, say: Say) -> EquationReport:
    """Check, refit, verify and put intervals on the selection ``fit`` of equation ``j`` of ``system``."""
    checks, selector, lib = stages.checks, stages.selector, system.library
    report = EquationReport(system.lhs[j], fit, unexplained=checks.unexplained(system, j, fit))
    dropped, found = checks.scale_drops(system, j, fit, selector) if not report.unexplained else ([], Findings())
    if dropped:
        report.fit = _without(fit, system.G, system.b[:, j], [k for k, _, _ in dropped])
    report.add(found)
    report.support = np.flatnonzero(report.fit.support)
    report.coefficients = report.fit.coefficients[report.support]
    explained = not report.unexplained
    if stages.refit is not None and report.support.size and explained and not dropped:
        report.refit, found = stages.refit.refit(system, j, report, selector, say)
        report.add(found)
        if report.refit is not None:
            report.coefficients = report.refit.coefficients
    doubts = checks.doubts(system, j, report, selector, dropped) if explained else []
    if stages.verifier is not None and report.support.size and explained:
        also = [f"{lib[k].name} was dropped as a term of one test-function scale" for k, _, _ in dropped]
        report.refinement, found = stages.verifier.verify(system, j, report, doubts, also, selector, say)
        report.add(found)
    report.std = None if report.refit is None else report.refit.std
    ref = report.refinement
    if ref is not None:  # the output-error coefficients (maximum likelihood under white noise)
        report.support = np.array([lib.names.index(n) for n in ref.final])
        report.coefficients = np.array([ref.coefficients[n] for n in ref.final])
        report.std = np.array([ref.std_errors[n] for n in ref.final])
    if explained:
        report.warnings += checks.terms(system, j, report)
        if ref is None:  # the simulation settled the doubts when it ran
            verifier = "none" if stages.verifier is None else stages.verifier.name
            report.warnings += doubts + checks.unsettled(system, j, report, selector, verifier)
        report.warnings += checks.identifiable(system, j, report, selector)
    if ref is not None:
        report.intervals = np.array([ref.equation.intervals[lib[i].key] for i in report.support])
    elif stages.intervals is not None:
        report.intervals = stages.intervals.intervals(system, j, report)
    return report
