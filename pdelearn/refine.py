"""Output-error refinement of grid discovery, settling doubtful weak-form selections by simulating the equation:
:func:`uncertain` says when ``discover(refine="auto")`` runs it, :func:`applicable` whether it can; :func:`refine`
puts back dropped terms by score tests and takes out kept ones by Wald/F-tests on fits of the
:mod:`pdelearn.output_error` engine, acting on changes of at least :data:`OE_TOL` of the field (docs/discover.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .budget import Budget, BudgetExceeded, larger_budget
from .data import GridData
from .equation import Equation
from .errors import ConfigError, DataError, TrainingError
from .output_error.policy import ALPHA, MAX_IC_MODES, modes_above_floor, pure_order, resolved_wavenumber, stable_step, upper_band
from .reliability import NEGLIGIBLE_SHARE
from .sparse import SparseRegression, SparseResult
from .stats import chi2_crit
from .terms import TermLibrary

__all__ = ["REFINE_CHOICES", "Refinement", "applicable", "uncertain", "no_space_derivative", "refine", "MARGIN",
           "ALPHA", "OE_TOL", "MAX_WORK", "WHITE_SHARE", "MAX_IC_MODES"]

REFINE_CHOICES = ("auto", "output-error", "none")
MARGIN = 3.0  #: auto: a selection closer than this factor to its threshold is checked by simulation
BLIND = 0.05  #: auto: a selection whose threshold lets a left-out term of this share of ||u_t|| go unseen is checked
OE_TOL = 1e-3  #: a term must change the simulated field by at least this fraction of ||u|| to change the support
DETECTABLE = NEGLIGIBLE_SHARE  #: a left-out space derivative hiding only below this share of u_t is not reported
WHITE_SHARE = 0.5  #: a misfit this much white noise goes by the F-test (significant terms below the floor: unresolved)
MAX_SNAPSHOTS = 256  #: at most this many time levels are fitted (every k-th snapshot beyond)
MAX_WORK = 10_000_000  #: auto skips the refinement above this (grid points x solver steps x fitted unknowns)
TRIALS = 2  #: candidates fitted per round (the best scores)
TIE = 0.8  #: a runner-up is fitted too when its score is at least this fraction of the best's
MAX_ROUNDS = 4  #: rounds of (add the best candidate, else drop the weakest term)
PERIODIC_JUMP = 2.0  #: periodic when the wrap-around jump is at most this times the largest neighbour step
FIT = {"max_iter": 20, "ftol": 1e-7}  #: Levenberg-Marquardt limits of every fit
_ic_modes = modes_above_floor  # the first snapshot's modes (old name, used by benchmarks/information_limit.py)


@dataclass
class Refinement:
    """What :func:`refine` did for one equation.

    ``reasons``: why it ran (the doubts of :func:`uncertain`, or ``"requested"``); ``start``, ``final``: term names
    of the weak-form selection and of the refined equation; ``steps``: each support change, ``{"action": "add" |
    "drop", "term", "F", "misfit_change"}``; ``coefficients``, ``std_errors``, ``equation``, ``rel_misfit``: the final
    output-error fit (95 % intervals ``c +- 1.96 se``, misfit ``||simulation - data|| / ||data||``); ``fits``: fits
    made. ``unresolved``: terms significant by the F-test on noisy data that changed the simulated field by less
    than :data:`OE_TOL`, so the support was not changed for them, ``{"action", "term", "F", "field_change"}``
    (``field_change``: the misfit change's root over ``||u||``); ``blind``: pure space derivatives a final fit
    without any could not have detected, ``{"term", "F", "detectable_share"}``; ``stopped``: why the refinement
    stopped before it settled the support (its time budget), or ``""``. ``discover`` warns of the last three.
    """

    lhs: str
    reasons: list[str]
    start: list[str]
    final: list[str]
    steps: list[dict]
    coefficients: dict[str, float]
    std_errors: dict[str, float]
    equation: Equation
    rel_misfit: float
    fits: int
    wall_time_s: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    unresolved: list[dict] = field(default_factory=list)
    blind: list[dict] = field(default_factory=list)
    stopped: str = ""

    @property
    def changed(self) -> bool:
        """True when the refined support differs from the weak-form selection."""
        return sorted(self.start) != sorted(self.final)

    def summary(self) -> dict[str, Any]:
        """JSON-ready record."""
        return {"lhs": self.lhs, "reasons": self.reasons, "start": self.start, "final": self.final,
                "changed": self.changed, "steps": self.steps, "coefficients": self.coefficients,
                "std_errors": self.std_errors, "equation": str(self.equation), "rel_misfit": self.rel_misfit,
                "fits": self.fits, "wall_time_s": round(self.wall_time_s, 2), "settings": self.settings,
                "unresolved": self.unresolved, "blind": self.blind, "stopped": self.stopped}

    def unresolved_warnings(self) -> list[str]:
        """One warning per unresolved term and blind spot, and one when the time budget stopped the refinement."""
        out = [f"{self.lhs}: {self.stopped}"] if self.stopped else []
        out += [f"{self.lhs}: {u['term']} is significant in the output-error fit (F = {u['F']:.3g}) but changes the "
                f"simulated field by only {100 * u['field_change']:.2g} % of its norm, below the "
                f"{100 * self.settings.get('oe_tol', OE_TOL):g} % the refinement acts on; it was "
                f"{'left out' if u['action'] == 'add' else 'taken out'} and the equation may "
                f"{'lack' if u['action'] == 'add' else 'need'} it" for u in self.unresolved]
        listed = ", ".join(f"{b['term']} (up to {100 * b['detectable_share']:.2g} %, score F = {b['F']:.3g})"
                           for b in self.blind)
        return out + ([f"{self.lhs}: the equation has no space derivative, and the output-error fit cannot rule out "
                       f"{listed} of {self.lhs}: a small diffusion, dispersion or transport term may be hidden by the "
                       f"noise (terms above {100 * DETECTABLE:g} % are not negligible); more data or less noise would "
                       f"settle it"] if self.blind else [])

    def __str__(self) -> str:
        moves = ", ".join(f"{s['action']} {s['term']} (F = {s['F']:.3g})" for s in self.steps) or "support confirmed"
        return f"{self.lhs}: output-error refinement: {moves}; {self.equation} (misfit {100 * self.rel_misfit:.3g} %)"

    def note(self) -> str:
        """One line for the user: why it ran and what it changed."""
        why = "; ".join(self.reasons)
        if self.stopped:
            return (f"{self.lhs}: the weak-form selection was uncertain ({why}); the output-error refinement ran past "
                    "its time budget before it settled it (see the warning)")
        if not self.changed:
            return (f"{self.lhs}: the weak-form selection was uncertain ({why}); output-error fits of the simulated "
                    f"equation confirmed its terms; their coefficients are the output-error fit's")
        done = {"add": "added", "drop": "dropped"}
        moves = ", ".join(f"{done[s['action']]} {s['term']} (F = {s['F']:.3g})" for s in self.steps)
        return (f"{self.lhs}: the weak-form selection {' + '.join(self.start)} was uncertain ({why}); output-error "
                f"fits of the simulated equation {moves}")


def applicable(data: GridData, library: TermLibrary) -> str | None:
    """``None`` when the output-error refinement can run on ``data``, else the reason it cannot: it needs one field,
    one space coordinate, terms with constant coefficients and a periodic space axis (the jump from the last grid
    point back to the first at most :data:`PERIODIC_JUMP` times the largest neighbour step, median over time)."""
    if len(data.fields) != 1 or len(data.space) != 1:
        return (f"the simulation needs one field in one space dimension; the data have fields {list(data.fields)} "
                f"on {list(data.space)}")
    with_coords = [t.name for t in library if t.coordinates_used]
    if with_coords:
        return f"the terms {with_coords} use a coordinate; the Fourier solver needs constant coefficients"
    u = next(iter(data.fields.values()))
    steps = np.abs(np.diff(u, axis=0)).max(axis=0)
    jump = np.abs(u[0] - u[-1])
    ratio = float(np.median(jump / np.maximum(steps, np.finfo(float).tiny)))
    if ratio > PERIODIC_JUMP:
        return (f"the space axis does not look periodic (the jump from the last point back to the first is {ratio:.3g} "
                f"times the largest neighbour step); the simulation needs periodic data")
    return None


def uncertain(fit: SparseResult, regression: SparseRegression, names: Sequence[str],
              library: TermLibrary, data: GridData) -> list[str]:
    """Doubts about a weak-form selection (``fit``, its term ``names``) that a simulation can settle (empty: none);
    only noisy data are judged (the noise, not the relative tolerance, sets the selection's threshold)."""
    allowed = regression.tolerance(fit)
    if not regression.noise_limited(fit) or not fit.path:
        return []
    best: dict[int, float] = {}
    for s, rss in fit.path:
        k = int(s.sum())
        best[k] = min(best.get(k, math.inf), rss)
    k = int(fit.support.sum())
    out = []
    if k - 1 in best and best[k - 1] - best[k] < MARGIN * allowed:
        out.append(f"its weakest term lowers the residual by only {(best[k - 1] - best[k]) / allowed:.3g} times the "
                   f"selection threshold")
    blind = math.sqrt(allowed / fit.b_norm2) if fit.b_norm2 > 0 else 0.0
    if blind > BLIND:
        out.append(f"the weak form cannot see a left-out term that contributes less than {100 * blind:.3g} % of the "
                   f"left-hand side (more than {100 * BLIND:g} %: too little power to leave terms out)")
    local = no_space_derivative(names, library, data)
    return out + ([local] if local else [])


def no_space_derivative(names: Sequence[str], library: TermLibrary, data: GridData) -> str | None:
    """The doubt of a selection ``names`` without a space derivative on a field that varies in space (else ``None``):
    each point would evolve on its own, and a small diffusion or dispersion hidden by the noise explains the same
    data. ``discover`` warns of it when no output-error check settled it."""
    selected = [t for t in library if t.name in set(names)]
    spatial = any(d.order for t in selected for d in t.derivatives)
    u = next(iter(data.fields.values()))
    varies = float(np.std(u.mean(axis=-1))) > 0 if u.ndim > 1 else False
    if selected and not spatial and varies and any(d.order for t in library for d in t.derivatives):
        return ("no space derivative was selected on a field that varies in space (a small diffusion or "
                "dispersion can hide below the noise of the weak form)")
    return None


class _Problem:
    """The data, grid and noise rules shared by every fit of one refinement (fits: the engine's)."""

    def __init__(self, data: GridData, library: TermLibrary, lhs: str, budget: Budget | None = None):
        from .output_error.engine import Engine
        from .output_error.fit import f_test
        from .output_error.model import grid_layout
        from .output_error.search import scores

        self.library, self.lhs = library, lhs
        t = data.coords[data.time]
        stride = max(1, math.ceil(t.size / MAX_SNAPSHOTS))
        self.t = t[::stride] - t[0]
        self.x, self.u = data.coords[data.space[0]], next(iter(data.fields.values()))[:, ::stride]
        self.layout = layout = grid_layout(np.repeat(self.x, self.t.size), np.tile(self.t, self.x.size))
        scale, kmax = float(np.max(np.abs(self.u))), resolved_wavenumber(self.u, layout["length"])
        self.engine = Engine({"x": self.x, "t": self.t, "u": self.u}, layout, modes=modes_above_floor(self.u[:, 0]),
                             step=lambda eq: stable_step(layout["dt_out"], list(eq.terms), list(eq.terms.values()),
                                                         scale, kmax),
                             retry=True, budget=budget, **FIT)
        self.floor = (OE_TOL * float(np.linalg.norm(self.u))) ** 2
        self.f = lambda reduced, full: float(f_test(reduced, full)["F"])
        self.scores = lambda fit, idx, candidates, **kw: scores(self.engine, library, fit, idx, candidates, **kw)

    def equation(self, idx: Sequence[int], coef: Sequence[float]) -> Equation:
        return Equation(self.lhs, {self.library[i]: float(c) for i, c in zip(idx, coef)}, self.library.fields,
                        self.library.coords)

    def fit(self, idx: Sequence[int], coef: Sequence[float], u0: np.ndarray | None):
        return self.engine.fit(self.equation(idx, coef), u0)

    def attempt(self, idx: Sequence[int], coef: Sequence[float], u0: np.ndarray | None):
        """:meth:`fit`, or None when the simulation blows up."""
        try:
            return self.fit(idx, coef, u0)
        except TrainingError:
            return None

    def coef(self, fit, idx: Sequence[int]) -> list[float]:
        return [fit.parameters[self.library[i].name] for i in idx]

    def steps(self, idx, coef) -> int:
        return int(round(self.t[-1] / self.engine.step(self.equation(idx, coef))))

    def work(self, idx, coef, modes: int) -> int:
        """Grid points x solver steps x fitted unknowns of a fit."""
        return self.steps(idx, coef) * self.layout["nx"] * (len(idx) + 2 * modes - 1)

    def floor_of(self, fit) -> tuple[float, bool]:
        """``(floor, noisy)`` for the larger model ``fit``: the smallest misfit change that may move the support,
        and whether white noise (a flat residual spectrum at its upper band's level) is at least
        :data:`WHITE_SHARE` of the misfit. :data:`OE_TOL`'s floor guards against systematic misfit; where the
        misfit is mostly noise, the floor shrinks to its systematic part plus three standard errors of that share.
        """
        R = np.asarray(fit.residuals, dtype=np.float64).reshape(self.u.shape)
        nx = R.shape[0]
        power = np.mean(np.abs(np.fft.rfft(R, axis=0)) ** 2, axis=1)
        weight = np.full(power.size, 2.0)
        weight[[0, -1] if nx % 2 == 0 else [0]] = 1.0
        upper = upper_band(power, ends=False)
        total = float(np.sum(weight * power))
        white = min(1.0, nx * float(np.median(upper)) / total) if upper.size and total > 0 else 0.0
        if white < WHITE_SHARE:  # mostly systematic (clean data): keep the fixed floor
            return self.floor, False
        se = 1.0 / math.sqrt(2.0 * upper.size * R.shape[1])
        return min(self.floor, fit.rss * (1.0 - white) + 3.0 * fit.rss * se), True

    def change(self, drss: float) -> float:
        """A misfit change as the root of its size over ``||u||`` (comparable with :data:`OE_TOL`)."""
        return float(np.sqrt(max(drss, 0.0)) / max(np.linalg.norm(self.u), np.finfo(float).tiny))

    def grow(self, fit, idx: Sequence[int], max_work: float | None, say: Callable[[str], None]):
        """``fit`` with twice the initial-state modes while the F-test says the record needs them, up to
        :data:`MAX_IC_MODES` and a quarter of the grid within ``max_work`` (the first snapshot alone hides modes
        that the whole record determines, e.g. a slope jump at the periodic boundary in ``AC.mat``)."""
        fit, self.engine.modes = self.engine.grow(
            fit, lambda f: self.equation(idx, self.coef(f, idx)), min(MAX_IC_MODES, self.layout["nx"] // 4),
            allowed=lambda m, f: max_work is None or self.work(idx, self.coef(f, idx), m) <= max_work,
            tell=lambda m, test: say(f"output-error fit with {m} initial-state modes") if test is None else None)
        return fit


def refine(data: GridData, library: TermLibrary, lhs: str, support: Sequence[int], coefficients: Sequence[float], *,
           reasons: Sequence[str] = ("requested",), progress: Callable[[str], None] | None = None,
           max_work: int | None = None, budget: float | None = None) -> Refinement:
    """Refine a selected support by output-error fits (see the module docstring).

    ``data``: one field on a periodic 1-D grid (:func:`applicable`), coordinates named as the library's;
    ``support``: the selected terms (indices into ``library``), ``coefficients`` their weak-form values;
    ``max_work``: a ConfigError when a fit would need more grid points x solver steps x fitted unknowns
    (``discover(refine="auto")`` passes :data:`MAX_WORK` and skips the refinement then); ``budget``: seconds
    (None: no limit), checked before every solve, past which it stops with the best fit so far
    (``Refinement.stopped``). A DataError when :func:`applicable` says no, a TrainingError when the selected
    equation blows up at the weak-form coefficients.
    """
    t0 = time.perf_counter()
    clock = Budget(budget, "the output-error refinement")
    why = applicable(data, library)
    if why:
        raise DataError(f"output-error refinement: {why}; use refine='none'")
    say = progress or (lambda message: None)
    prob = _Problem(data, library, lhs, clock)
    idx, coef = list(support), [float(c) for c in coefficients]
    if not idx:
        raise ConfigError("output-error refinement needs a selected term to start from")
    modes = prob.engine.modes
    work = prob.work(idx, coef, modes)
    if max_work is not None and work > max_work:
        raise ConfigError(f"a fit would need {prob.steps(idx, coef)} solver steps on {prob.layout['nx']} points for "
                          f"{len(idx) + 2 * modes - 1} unknowns ({work:.3g} > {max_work:.3g}, about "
                          f"{work / 3.7e6:.2g}x Allen-Cahn's 512 x 201 grid); run refine='output-error' to force it")
    say(f"output-error fit of {lhs} = {' + '.join(library[i].name for i in idx)} ({modes} initial-state modes)")
    steps: list[dict] = []
    unresolved: dict[tuple[str, str], tuple[float, float]] = {}
    candidates = [i for i in range(len(library)) if i not in idx]
    crit = chi2_crit(ALPHA / max(len(candidates), 1))  # Bonferroni over every candidate of the library
    stage, blind = "the first fit", []
    try:
        fit = prob.fit(idx, coef, None)
        for stage in [f"round {r + 1} of the support changes" for r in range(MAX_ROUNDS)]:
            fit, idx, candidates, moved = _round(prob, fit, idx, candidates, crit, steps, unresolved, say)
            if not moved:
                break
        stage = "the growth of the initial state"
        fit = prob.grow(fit, idx, max_work, say)  # the support is settled: its coefficients with a finer initial state
        stage = "the detection limits of left-out space derivatives"
        blind = _blind_spots(prob, data, fit, idx, crit)
        stopped = ""
    except BudgetExceeded as exc:
        fit = exc.partial if stage == "the first fit" else fit
        stopped = (f"the output-error refinement stopped at its time budget of {clock.seconds:g} s in {stage}, after "
                   f"{prob.engine.fits} fit(s) and {len(steps)} support change(s); the equation reported is its best "
                   f"so far and not settled; rerun with a larger budget (pdelearn discover --budget "
                   f"{larger_budget(clock.seconds)}, or discover(budget={larger_budget(clock.seconds)}))")
        say(stopped)
    final = [library[i].name for i in idx]
    return Refinement(lhs, list(reasons), [library[i].name for i in support], final, steps,
                      dict(fit.parameters), dict(fit.std_errors), fit.equation, fit.rel_misfit, prob.engine.fits,
                      time.perf_counter() - t0,
                      {"ic_modes": prob.engine.modes, "snapshots": int(prob.t.size), "alpha": ALPHA, "oe_tol": OE_TOL,
                       "budget_s": clock.seconds},
                      [{"action": a, "term": n, "F": F, "field_change": c} for (a, n), (F, c) in unresolved.items()
                       if (n in final) != (a == "add")], blind, stopped)  # a later round may have settled it


def _round(prob: _Problem, fit, idx: list, candidates: list, crit: float, steps: list, unresolved: dict,
           say: Callable[[str], None]) -> tuple[Any, list, list, bool]:
    """One round: put back the best left-out candidate, else take out the weakest term; ``(fit, idx, candidates,
    moved)``, ``steps`` and ``unresolved`` appended to."""
    from .output_error.search import best_trial

    library = prob.library
    moved = False
    candidates = [i for i in candidates if i not in idx]
    if candidates:
        say(f"score test of {len(candidates)} dropped terms")
        F, c0 = prob.scores(fit, idx, candidates)
        # later rounds re-test only the candidates that were significant here (adding a term lowers the others)
        significant = [candidates[k] for k in np.flatnonzero(F > crit)]
        # the best candidate by score is fitted, and a runner-up that scores alike (collinear terms such as u_xx and
        # u^2 u_xx): the actual misfit decides between them
        order = np.argsort(-F)[:TRIALS]

        def put_back(k):
            say(f"output-error fit with {library[candidates[k]].name} put back (score F = {F[k]:.3g})")
            trial = prob.attempt(idx + [candidates[k]], prob.coef(fit, idx) + [float(c0[k])], fit.u0)
            return None if trial is None else (trial, k)

        best = best_trial([k for k in order if F[k] > crit and F[k] >= TIE * F[order[0]]], put_back,
                          key=lambda tk: tk[0].rss)
        if best is not None:
            trial, k = best
            test = prob.f(fit, trial)
            floor, noisy = prob.floor_of(trial)
            if test > crit and fit.rss - trial.rss > floor:
                steps.append({"action": "add", "term": library[candidates[k]].name, "F": test,
                              "misfit_change": (trial.rss - fit.rss) / fit.rss})
                idx, fit, moved = idx + [candidates[k]], trial, True
            elif test > crit and noisy:
                unresolved["add", library[candidates[k]].name] = (test, prob.change(fit.rss - trial.rss))
        candidates = significant
    if not moved and len(idx) > 1:
        fit, idx, moved = _drop_weakest(prob, fit, idx, steps, unresolved, say)
    return fit, idx, candidates, moved


def _drop_weakest(prob: _Problem, fit, idx: list, steps: list, unresolved: dict, say: Callable[[str], None]):
    """Take out the kept term of smallest Wald statistic when the F-test of the fit without it agrees (or the misfit
    change stays below the floor); ``(fit, idx, moved)``."""
    names = [prob.library[i].name for i in idx]
    wald = np.array([(fit.parameters[n] / fit.std_errors[n]) ** 2 if fit.std_errors[n] > 0 else np.inf
                     for n in names])
    j = int(np.argmin(wald))
    keep_crit = chi2_crit(ALPHA)
    floor, noisy = prob.floor_of(fit)
    if not (wald[j] < keep_crit or wald[j] * fit.sigma**2 < floor):
        return fit, idx, False
    rest = [i for i in idx if i != idx[j]]
    say(f"output-error fit without {names[j]} (Wald F = {wald[j]:.3g})")
    trial = prob.attempt(rest, prob.coef(fit, rest), fit.u0)
    test = math.inf if trial is None else prob.f(trial, fit)
    if trial is None or not (test < keep_crit or trial.rss - fit.rss < floor):
        return fit, idx, False
    steps.append({"action": "drop", "term": names[j], "F": test, "misfit_change": (trial.rss - fit.rss) / fit.rss})
    if test >= keep_crit and noisy:
        unresolved["drop", names[j]] = (test, prob.change(trial.rss - fit.rss))
    return trial, rest, True


def _blind_spots(prob: _Problem, data: GridData, fit, idx: Sequence[int], crit: float) -> list[dict]:
    """Pure space derivatives (``u_x``, ``u_xx``, ...) that a final fit without any could not have detected: those
    whose detection limit, ``sqrt(crit)`` standard errors as a share of the support's rate, is above
    :data:`DETECTABLE`."""
    lib = prob.library
    if no_space_derivative([lib[i].name for i in idx], lib, data) is None:
        return []
    pure = [i for i, t in enumerate(lib) if i not in idx and pure_order(t) > 0]
    if not pure:
        return []
    F, _, share = prob.scores(fit, idx, pure, details=True)
    limit = math.sqrt(crit) * share
    return [{"term": lib[i].name, "F": float(F[k]), "detectable_share": float(limit[k])}
            for k, i in enumerate(pure) if limit[k] > DETECTABLE and F[k] <= crit]
