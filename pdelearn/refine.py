"""Output-error refinement of grid discovery: settle doubtful selections by simulating the equation.

The weak form sees a term through integrals against test functions. A term whose coefficient is small
but which still shapes the solution (the ``1e-4 u_xx`` that sets the width of Allen-Cahn's fronts) can
sit below the noise of those integrals and be dropped, while a simulation of the equation without it
cannot reproduce the data. :func:`refine` decides such cases by **output-error fits**
(:func:`pdelearn.inverse.fit_output_error`): the selected equation is simulated from a fitted initial
state and its coefficients fitted to the data; then

* every dropped candidate term is **put back** by a score test: the sensitivities of the simulated
  field to each candidate's coefficient (forward-mode derivatives through the solver, at coefficient
  zero) give, in one batched solve, the misfit reduction one Gauss-Newton step would bring. The best
  candidate is fitted for real and kept when the extra-sum-of-squares F-test says it is needed;
* every kept term is **taken out** when its Wald statistic ``(c / se)^2`` from the fit is small and the
  F-test of the fit without it agrees.

A term changes the support only when it is significant (F above the chi-square quantile at
:data:`ALPHA`, Bonferroni-corrected over the candidates) **and** changes the simulated field by at least
:data:`OE_TOL` of its norm (the output-error twin of the selection's relative tolerance: simulation and
initial-state errors can make any term "significant" on clean data). Where the data are noisy enough
that the fit's misfit is mostly white noise (at least :data:`WHITE_SHARE` of it, judged from the residual's
spatial spectrum), a term that the F-test
finds significant but that stays below the floor is **unresolved**: the support is not changed, and
``Refinement.unresolved`` names it so that ``discover`` can flag the result rather than settle the doubt.
Once the support is settled, the initial state's Fourier modes grow while the F-test says the record needs
them (:data:`MAX_IC_MODES`), so that the final coefficients do not absorb a truncated initial state; an
equation left without any space derivative gets the detection limit of each one (``Refinement.blind``).

:func:`uncertain` is the rule of ``discover(refine="auto")``: the refinement runs when the weak-form
selection is close to its threshold (the weakest kept term lowers the residual by less than
:data:`MARGIN` times the amount the selection allows) or
when it selected no space derivative at all on a field that varies in space (the case of a diffusion
hidden below the noise). It applies to one field on a periodic 1-D grid with constant-coefficient terms
(:func:`applicable`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .budget import Budget, BudgetExceeded
from .data import GridData
from .equation import Equation
from .errors import ConfigError, DataError, TrainingError
from .reliability import NEGLIGIBLE_SHARE
from .sparse import SparseRegression, SparseResult
from .terms import Term, TermLibrary

__all__ = ["REFINE_CHOICES", "Refinement", "applicable", "uncertain", "no_space_derivative", "refine", "MARGIN", "ALPHA",
           "OE_TOL", "MAX_WORK", "WHITE_SHARE", "MAX_IC_MODES"]

REFINE_CHOICES = ("auto", "output-error", "none")
MARGIN = 3.0  #: auto: a selection closer than this factor to its threshold is checked by simulation
BLIND = 0.05  #: auto: a selection whose threshold lets a left-out term of this share of ||u_t|| go unseen is checked
ALPHA = 0.01  #: significance level of the score and F-tests (Bonferroni-corrected over candidates for additions)
OE_TOL = 1e-3  #: a term must change the simulated field by at least this fraction of ||u|| to change the support
DETECTABLE = NEGLIGIBLE_SHARE  #: a left-out space derivative that could hide only below this share of u_t is not reported
WHITE_SHARE = 0.5  #: a misfit at least this much white noise is judged by the F-test; significant terms below the floor are unresolved
MAX_IC_MODES = 64  #: the initial state grows to at most this many Fourier modes (:meth:`_Problem.grow`)
MAX_SNAPSHOTS = 256  #: at most this many time levels are fitted (every k-th snapshot beyond)
MAX_WORK = 10_000_000  #: auto skips the refinement above this (grid points x solver steps x fitted unknowns)
FD_STEP = 1e-6  #: finite-difference step of a candidate, relative to the support's rate of change
TRIALS = 2  #: candidates fitted per round (the best scores)
TIE = 0.8  #: a runner-up is fitted too when its score is at least this fraction of the best's
MAX_ROUNDS = 4  #: rounds of (add the best candidate, else drop the weakest term)
PERIODIC_JUMP = 2.0  #: periodic when the wrap-around jump is at most this times the largest neighbour step


@dataclass
class Refinement:
    """What :func:`refine` did for one equation.

    Attributes
    ----------
    lhs : str
        Left-hand side, e.g. ``"u_t"``.
    reasons : list of str
        Why it ran (the doubts of :func:`uncertain`, or ``"requested"``).
    start, final : list of str
        Term names of the weak-form selection and of the refined equation.
    steps : list of dict
        Each support change: ``{"action": "add" | "drop", "term", "F", "misfit_change"}``.
    unresolved : list of dict
        Terms significant by the F-test on noisy data whose effect on the simulated field stayed below
        :data:`OE_TOL`, so the support was not changed for them (``"add"``: left out; ``"drop"``: taken
        out): ``{"action", "term", "F", "field_change"}`` (``field_change``: the misfit change's root
        as a fraction of ``||u||``). ``discover`` reports them as warnings.
    coefficients, std_errors : dict
        Output-error coefficients of the final support and their standard errors (term name -> value).
    equation : Equation
        The refined equation (95 % intervals ``c +- 1.96 se``).
    rel_misfit : float
        ``||simulation - data|| / ||data||`` of the final fit.
    fits : int
        Output-error fits made.
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
    #: pure space-derivative terms the final fit (which has none) could not have detected:
    #: ``[{"term", "F", "detectable_share"}]`` (:func:`_blind_spots`)
    blind: list[dict] = field(default_factory=list)
    #: why the refinement stopped before it settled the support (its time budget ran out), or ``""``
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
        """One warning per unresolved term, and one when the time budget stopped the refinement (empty when every
        decision was clear)."""
        stopped = [f"{self.lhs}: {self.stopped}"] if self.stopped else []
        return stopped + [
                f"{self.lhs}: {u['term']} is significant in the output-error fit (F = {u['F']:.3g}) but changes the "
                f"simulated field by only {100 * u['field_change']:.2g} % of its norm, below the "
                f"{100 * self.settings.get('oe_tol', OE_TOL):g} % the refinement acts on; it was "
                f"{'left out' if u['action'] == 'add' else 'taken out'} and the equation may "
                f"{'lack' if u['action'] == 'add' else 'need'} it" for u in self.unresolved] + self._blind_warning()

    def _blind_warning(self) -> list[str]:
        if not self.blind:
            return []
        listed = ", ".join(f"{b['term']} (up to {100 * b['detectable_share']:.2g} %, score F = {b['F']:.3g})"
                           for b in self.blind)
        return [f"{self.lhs}: the equation has no space derivative, and the output-error fit cannot rule out "
                f"{listed} of {self.lhs}: a small diffusion, dispersion or transport term may be hidden by the noise "
                f"(terms above {100 * DETECTABLE:g} % are not negligible); more data or less noise would settle it"]

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
        moves = ", ".join(f"{'added' if s['action'] == 'add' else 'dropped'} {s['term']} (F = {s['F']:.3g})"
                          for s in self.steps)
        return (f"{self.lhs}: the weak-form selection {' + '.join(self.start)} was uncertain ({why}); output-error fits "
                f"of the simulated equation {moves}")


# ---------------------------------------------------------------------------------------------------
# when it applies, and when auto runs it
# ---------------------------------------------------------------------------------------------------

def applicable(data: GridData, library: TermLibrary) -> str | None:
    """``None`` when the output-error refinement can run on ``data``, else the reason it cannot.

    Needs one field, one space coordinate, terms with constant coefficients (no coordinate in a term)
    and a periodic space axis: the jump from the last grid point back to the first must be no larger
    than :data:`PERIODIC_JUMP` times the largest step between neighbours (median over time).
    """
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
    """Doubts about a weak-form selection that a simulation can settle (empty: none).

    ``fit``: the selection's :class:`~pdelearn.sparse.SparseResult`; ``names``: its selected term names.
    Only noisy data are judged (the noise, not the relative tolerance, sets the selection's threshold).
    """
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
    """The doubt of a selection ``names`` without a space derivative on a field that varies in space (else ``None``).

    Each point of such a field would evolve on its own; a small diffusion or dispersion hidden by the noise
    explains the same data. ``discover`` reports it as a warning when no output-error check settled it.
    """
    selected = [t for t in library if t.name in set(names)]
    spatial = any(d.order for t in selected for d in t.derivatives)
    u = next(iter(data.fields.values()))
    varies = float(np.std(u.mean(axis=-1))) > 0 if u.ndim > 1 else False
    if selected and not spatial and varies and any(d.order for t in library for d in t.derivatives):
        return ("no space derivative was selected on a field that varies in space (a small diffusion or "
                "dispersion can hide below the noise of the weak form)")
    return None


# ---------------------------------------------------------------------------------------------------
# the refinement
# ---------------------------------------------------------------------------------------------------

def _chi2(p: float) -> float:
    from scipy.stats import chi2

    return float(chi2.ppf(1.0 - p, 1))


def _ic_modes(u0: np.ndarray) -> int:
    """Fourier modes of the initial state: 1.25 x those above 25 x the noise floor of the first snapshot, in [16, 32].

    At least 16: modes hidden by the noise of one snapshot still shape the early solution, and an initial
    state that cannot follow them leaves a misfit that spurious terms would explain.
    """
    power = np.abs(np.fft.rfft(u0)) ** 2
    floor = float(np.median(power[power.size // 2:])) + np.finfo(float).tiny
    strong = np.flatnonzero(power > 25.0 * floor)
    need = int(math.ceil(1.25 * (strong.max() + 1))) if strong.size else 1
    return int(min(max(need, 16), 32, u0.size // 4))


def _pure_order(term: Term) -> int:
    """The order of a term that is one derivative alone (``u_x`` 1, ``u_xxxx`` 4; ``u`` 0), else -1."""
    if len(term.derivatives) != 1:
        return -1
    d = next(iter(term.derivatives))
    return d.order if term.expr == d.symbol else -1


def _degree(term: Term) -> int:
    import sympy

    symbols = [d.symbol for d in term.derivatives]
    try:
        return int(sympy.Poly(term.expr, *symbols).total_degree()) if symbols else 0
    except sympy.PolynomialError:
        return 2


def _time_step(h: float, terms: Sequence[Term], coef: Sequence[float], scale: float, kmax: float) -> float:
    """Largest ``h / n`` with ``dt * rate <= 0.5``; ``rate``: linearised rate of the explicit terms.

    Pure derivative terms are integrated exactly (exponential); every other term contributes
    ``|c| p U^(p - 1) k_max^order`` (``p``: polynomial degree, ``U = max |u|``, ``k_max``: see
    :func:`_resolved_wavenumber`). A fit whose first simulation still blows up is retried with a
    quarter of the step.
    """
    rate = 0.0
    for term, c in zip(terms, coef):
        ders = term.derivatives
        if len(ders) == 1 and term.expr == next(iter(ders)).symbol or term.is_constant:
            continue
        p = max(_degree(term), 1)
        order = max((d.order for d in ders), default=0)
        rate += abs(c) * p * scale ** (p - 1) * kmax**order
    return h / max(1, math.ceil(h * rate / 0.5 - 1e-9))


def _resolved_wavenumber(u: np.ndarray, length: float) -> float:
    """Twice the largest wavenumber whose mean power over time exceeds 100 x the noise floor (``u``: ``(nx, nt)``),
    at most the dealiased Nyquist wavenumber: the scale the explicit terms' rates are judged at."""
    power = np.mean(np.abs(np.fft.rfft(u, axis=0)) ** 2, axis=1)
    nyquist = math.pi * u.shape[0] / length * 2.0 / 3.0
    floor = float(np.median(power[power.size // 2:]))
    strong = np.flatnonzero(power > 100.0 * floor) if floor > 0 else np.array([], int)
    return min(2.0 * 2.0 * math.pi * strong.max() / length, nyquist) if strong.size > 1 else nyquist


class _Problem:
    """The data, grid and settings shared by every fit of one refinement."""

    def __init__(self, data: GridData, library: TermLibrary, lhs: str, budget: Budget | None = None):
        from .inverse import grid_layout

        self.library, self.lhs, self.budget = library, lhs, budget
        name, u = next(iter(data.fields.items()))
        x, t = data.coords[data.space[0]], data.coords[data.time]
        stride = max(1, math.ceil(t.size / MAX_SNAPSHOTS))
        self.t = t[::stride] - t[0]
        self.x, self.u = x, u[:, ::stride]
        self.data = {"x": self.x, "t": self.t, "u": self.u}
        self.layout = grid_layout(np.repeat(self.x, self.t.size), np.tile(self.t, self.x.size))
        self.modes = _ic_modes(self.u[:, 0])
        self.scale = float(np.max(np.abs(self.u)))
        self.kmax = _resolved_wavenumber(self.u, self.layout["length"])
        self.floor = (OE_TOL * float(np.linalg.norm(self.u))) ** 2
        self.fits = 0

    def dt(self, idx: Sequence[int], coef: Sequence[float]) -> float:
        return _time_step(self.layout["dt_out"], [self.library[i] for i in idx], coef, self.scale, self.kmax)

    def white(self, fit) -> tuple[float, float]:
        """The share of ``fit``'s misfit that is white noise, and the standard error of that share.

        White noise has the same power at every wavenumber; its level is the median power of the upper half of
        the residual's spatial spectrum, where a resolved solution has none.
        """
        R = np.asarray(fit.residuals, dtype=np.float64).reshape(self.u.shape)
        nx = R.shape[0]
        power = np.mean(np.abs(np.fft.rfft(R, axis=0)) ** 2, axis=1)
        weight = np.full(power.size, 2.0)
        weight[0] = 1.0
        if nx % 2 == 0:
            weight[-1] = 1.0
        upper = power[max(1, power.size // 2):-1] if power.size > 4 else power
        total = float(np.sum(weight * power))
        if not upper.size or not total > 0:
            return 0.0, 1.0
        return min(1.0, nx * float(np.median(upper)) / total), 1.0 / math.sqrt(2.0 * upper.size * R.shape[1])

    def floor_of(self, fit) -> tuple[float, bool]:
        """``(floor, noisy)`` for the larger model ``fit``: the smallest misfit change that may move the support,
        and whether white noise makes up at least :data:`WHITE_SHARE` of the misfit (:meth:`white`).

        :data:`OE_TOL`'s floor guards against systematic misfit (solver, initial-state and data errors), which
        can make any term "significant" where the misfit is not noise. Where it is mostly noise, the floor
        shrinks to the misfit's systematic part plus three standard errors of that estimate.
        """
        white, se = self.white(fit)
        if white < WHITE_SHARE:  # mostly systematic (clean data): keep the fixed floor
            return self.floor, False
        return min(self.floor, fit.rss * (1.0 - white) + 3.0 * fit.rss * se), True

    def change(self, drss: float) -> float:
        """A misfit change as the root of its size over ``||u||`` (comparable with :data:`OE_TOL`)."""
        return float(np.sqrt(max(drss, 0.0)) / max(np.linalg.norm(self.u), np.finfo(float).tiny))

    def steps(self, idx, coef) -> int:
        return int(round(self.t[-1] / self.dt(idx, coef)))

    def fit(self, idx: Sequence[int], coef: Sequence[float], u0: np.ndarray | None):
        from .inverse import fit_output_error

        self.fits += 1
        eq = Equation(self.lhs, {self.library[i]: float(c) for i, c in zip(idx, coef)}, self.library.fields,
                      self.library.coords)
        dt = self.dt(idx, coef)
        try:
            return fit_output_error(self.data, eq, dt=dt, ic_modes=self.modes, u0=u0, max_iter=20, ftol=1e-7,
                                    budget=self.budget)
        except TrainingError as exc:  # unstable at the first guess: once more with a quarter of the step
            if getattr(exc, "partial", None) is not None or dt / 4 < self.layout["dt_out"] / 64:
                raise
            return fit_output_error(self.data, eq, dt=dt / 4, ic_modes=self.modes, u0=u0, max_iter=20, ftol=1e-7,
                                    budget=self.budget)

    def grow(self, fit, idx: Sequence[int], max_work: float | None, say: Callable[[str], None]):
        """``fit`` with more initial-state modes while they explain the data significantly better.

        :func:`_ic_modes` reads the first snapshot alone, where one snapshot's noise hides modes that the whole
        record determines (a slope jump at the periodic boundary, as in ``AC.mat``'s ``x^2 cos(pi x)``, has modes
        decaying as ``1/k^2``); an initial state that cannot follow them leaves a misfit that the coefficients
        absorb. The modes are doubled (up to :data:`MAX_IC_MODES` and a quarter of the grid) while the F-test of
        the larger initial state is significant at :data:`ALPHA` and the fit stays within ``max_work``. Run once the
        support is settled: a support that lacks a term leaves a misfit that more modes would also soak up.
        """
        from .inverse import f_test

        cap = min(MAX_IC_MODES, self.layout["nx"] // 4)
        while self.modes < cap:
            modes, coef = min(2 * self.modes, cap), [fit.parameters[self.library[i].name] for i in idx]
            if max_work is not None and self.steps(idx, coef) * self.layout["nx"] * (len(idx) + 2 * modes - 1) > max_work:
                break
            say(f"output-error fit with {modes} initial-state modes")
            smaller, self.modes = self.modes, modes
            try:
                trial = self.fit(idx, coef, fit.u0)
            except TrainingError:
                trial = None
            if trial is None or f_test(fit, trial)["p_value"] >= ALPHA:
                self.modes = smaller
                break
            fit = trial
        return fit

    def scores(self, fit, idx: Sequence[int], candidates: Sequence[int], details: bool = False) -> tuple[np.ndarray, ...]:
        """Score test of each candidate at the fit: ``(F, start coefficient)``, each ``(len(candidates),)``.

        The sensitivities to the fit's own unknowns (its coefficients and initial-state modes) are the
        fit's final Jacobian; those to a candidate's coefficient come from a finite difference: one plain
        solve of the support plus the candidate at a small coefficient, at the fit's time step
        (:data:`FD_STEP` of the support's rate of change on the initial state; small enough that an
        anti-diffusive candidate cannot blow up within the data's time span).
        A candidate's score is the misfit reduction of one Gauss-Newton step in its direction, beyond
        what the fit's unknowns can do, in units of the noise variance. With ``details=True`` a third array
        is returned: the standard error of each candidate's coefficient times its RMS size on the fitted
        simulation, over the support's RMS rate there (the error of its contribution as a share of ``u_t``).
        """
        import torch

        from .compile import CompiledLibrary
        from .grid import differentiate
        from .solvers.torch_etdrk4 import PeriodicSolver

        lay = self.layout
        ii, jj = torch.tensor(lay["i"]), torch.tensor(lay["j"])
        support = [self.library[i] for i in idx]
        coef = [fit.parameters[t.name] for t in support]
        r, m = fit.residuals, fit.n_unknowns
        base = r + self.u.ravel()
        Q, _ = np.linalg.qr(fit.jacobian)
        # rates of change on the fitted initial state set the finite-difference steps
        h = lay["length"] / lay["nx"]
        inputs = {d.name: differentiate(fit.u0, h, d.order, method="spectral") if d.order else fit.u0
                  for d in self.library.derivatives}
        inputs.update({c: fit.x for c in self.library.coords})
        theta = CompiledLibrary(self.library).numpy(inputs)
        rate = float(np.sqrt(np.mean((theta[:, list(idx)] @ np.asarray(coef)) ** 2)))
        g = np.zeros((r.size, len(candidates)))
        for col, k in enumerate(candidates):
            if self.budget is not None:
                self.budget.check()
            term = self.library[k]
            size = float(np.sqrt(np.mean(theta[:, k] ** 2)))
            eps = FD_STEP * rate / size if size > 0 and rate > 0 else FD_STEP
            if _pure_order(term) % 4 == 0:
                eps = -eps  # u_xxxx: the dissipative sign
            solver = PeriodicSolver(support + [term], lay["nx"], lay["length"])
            try:
                with torch.no_grad():
                    moved = solver.solve(torch.tensor(coef + [eps]), torch.tensor(fit.u0), lay["t_eval"], fit.dt,
                                         checkpoint_every=None)[ii, jj].numpy()
            except TrainingError:  # the term destabilises the equation even at this size: not a candidate
                continue
            g[:, col] = (moved - base) / eps
        g = g - Q @ (Q.T @ g)
        gg = np.maximum(np.einsum("ij,ij->j", g, g), np.finfo(float).tiny)
        gr = g.T @ r
        sigma2 = float(r @ r) / max(r.size - m, 1)
        if not details:
            return gr**2 / gg / sigma2, -gr / gg
        # shares over the fitted simulation at every snapshot (fronts sharpen: u_xx on the initial state understates it)
        sim = base.reshape(self.u.shape)
        path = {d.name: differentiate(sim, h, d.order, method="spectral", axis=0) if d.order else sim
                for d in self.library.derivatives}
        path.update({c: np.repeat(fit.x[:, None], sim.shape[1], axis=1) for c in self.library.coords})
        cols = CompiledLibrary(self.library).numpy({k: v.ravel() for k, v in path.items()})
        rate = float(np.sqrt(np.mean((cols[:, list(idx)] @ np.asarray(coef)) ** 2)))
        sizes = np.sqrt(np.mean(cols[:, list(candidates)] ** 2, axis=0))
        share = np.sqrt(sigma2 / gg) * sizes / max(rate, np.finfo(float).tiny)
        return gr**2 / gg / sigma2, -gr / gg, np.where(np.any(g != 0, axis=0), share, np.inf)


def refine(
    data: GridData,
    library: TermLibrary,
    lhs: str,
    support: Sequence[int],
    coefficients: Sequence[float],
    *,
    reasons: Sequence[str] = ("requested",),
    progress: Callable[[str], None] | None = None,
    max_work: int | None = None,
    budget: float | None = None,
) -> Refinement:
    """Refine a selected support by output-error fits (see the module docstring).

    Parameters
    ----------
    data
        One field on a periodic 1-D grid (checked by :func:`applicable`), coordinates renamed to the
        library's symbols.
    library
        The candidate terms; ``support`` indexes into it.
    coefficients
        Starting coefficients of the support (the weak-form fit), ``(len(support),)``.
    max_work
        Raise :class:`~pdelearn.errors.ConfigError` when a fit would need more grid points x solver steps
        x fitted unknowns (``discover(refine="auto")`` passes :data:`MAX_WORK` and skips the refinement then).
    budget
        Seconds the refinement may take (None: no limit; ``discover`` passes its ``budget``, by default
        :data:`~pdelearn.budget.REFINE_BUDGET`), checked before every solve of a fit and between the score tests' solves. Past it, the refinement stops
        with the best fit so far and ``Refinement.stopped`` says so (a warning of ``discover``).

    Raises
    ------
    DataError
        When :func:`applicable` says the data do not suit a simulation.
    TrainingError
        When the selected equation cannot be simulated (it blows up at the weak-form coefficients).
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
    work = prob.steps(idx, coef) * prob.layout["nx"] * (len(idx) + 2 * prob.modes - 1)
    if max_work is not None and work > max_work:
        raise ConfigError(f"a fit would need {prob.steps(idx, coef)} solver steps on {prob.layout['nx']} points for "
                          f"{len(idx) + 2 * prob.modes - 1} unknowns ({work:.3g} > {max_work:.3g}, about "
                          f"{work / 3.7e6:.2g}x Allen-Cahn's 512 x 201 grid); run refine='output-error' to force it")
    say(f"output-error fit of {lhs} = {' + '.join(library[i].name for i in idx)} ({prob.modes} initial-state modes)")
    steps: list[dict] = []
    unresolved: dict[tuple[str, str], tuple[float, float]] = {}
    candidates = [i for i in range(len(library)) if i not in idx]
    crit = _chi2(ALPHA / max(len(candidates), 1))  # Bonferroni over every candidate of the library
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
                   f"{prob.fits} fit(s) and {len(steps)} support change(s); the equation reported is its best so far "
                   f"and not settled; rerun with a larger budget (pdelearn discover --budget {_more(clock.seconds)}, "
                   f"or discover(budget={_more(clock.seconds)}))")
        say(stopped)
    final = [library[i].name for i in idx]
    return Refinement(lhs, list(reasons), [library[i].name for i in support], final, steps,
                      dict(fit.parameters), dict(fit.std_errors),
                      Equation(lhs, {library[i]: fit.parameters[library[i].name] for i in idx}, library.fields,
                               library.coords, intervals={library[i].key: (fit.parameters[n] - 1.96 * fit.std_errors[n],
                                                                           fit.parameters[n] + 1.96 * fit.std_errors[n])
                                                          for i, n in zip(idx, final)}),
                      fit.rel_misfit, prob.fits, time.perf_counter() - t0,
                      {"ic_modes": prob.modes, "snapshots": int(prob.t.size), "alpha": ALPHA, "oe_tol": OE_TOL,
                       "budget_s": clock.seconds},
                      [{"action": a, "term": n, "F": F, "field_change": c} for (a, n), (F, c) in unresolved.items()
                       if (n in final) != (a == "add")], blind, stopped)  # a later round may have settled it


def _more(seconds: float | None) -> str:
    """A larger budget to suggest: five times ``seconds``, rounded up to a whole minute."""
    return f"{60 * math.ceil(5 * (seconds or 0) / 60):g}"


def _round(prob: _Problem, fit, idx: list, candidates: list, crit: float, steps: list, unresolved: dict,
           say: Callable[[str], None]) -> tuple[Any, list, list, bool]:
    """One round of :func:`refine`: put back the best left-out candidate, else take out the weakest term.

    Returns ``(fit, idx, candidates, moved)``; ``steps`` and ``unresolved`` are appended to.
    """
    library = prob.library
    moved = False
    candidates = [i for i in candidates if i not in idx]
    if candidates:
        say(f"score test of {len(candidates)} dropped terms")
        F, c0 = prob.scores(fit, idx, candidates)
        # later rounds re-test only the candidates that were significant here (adding a term lowers the others)
        significant = [candidates[k] for k in np.flatnonzero(F > crit)]
        # the best candidate by score is fitted for real, and a runner-up that scores alike (collinear
        # terms such as u_xx and u^2 u_xx): the actual misfit decides between them
        trials = []
        order = np.argsort(-F)[:TRIALS]
        for k in [k for k in order if F[k] > crit and F[k] >= TIE * F[order[0]]]:
            new = idx + [candidates[k]]
            say(f"output-error fit with {library[candidates[k]].name} put back (score F = {F[k]:.3g})")
            try:
                trials.append((prob.fit(new, [fit.parameters[library[i].name] for i in idx] + [float(c0[k])],
                                        fit.u0), k))
            except TrainingError:
                continue
        if trials:
            trial, k = min(trials, key=lambda tk: tk[0].rss)
            test = _f(fit, trial)
            floor, noisy = prob.floor_of(trial)
            if test > crit and fit.rss - trial.rss > floor:
                steps.append({"action": "add", "term": library[candidates[k]].name, "F": test,
                              "misfit_change": (trial.rss - fit.rss) / fit.rss})
                idx, fit, moved = idx + [candidates[k]], trial, True
            elif test > crit and noisy:
                unresolved["add", library[candidates[k]].name] = (test, prob.change(fit.rss - trial.rss))
        candidates = significant
    if not moved and len(idx) > 1:
        names = [library[i].name for i in idx]
        wald = np.array([(fit.parameters[n] / fit.std_errors[n]) ** 2 if fit.std_errors[n] > 0 else np.inf
                         for n in names])
        j = int(np.argmin(wald))
        keep_crit = _chi2(ALPHA)
        floor, noisy = prob.floor_of(fit)
        if wald[j] < keep_crit or wald[j] * fit.sigma**2 < floor:
            rest = [i for i in idx if i != idx[j]]
            say(f"output-error fit without {names[j]} (Wald F = {wald[j]:.3g})")
            try:
                trial = prob.fit(rest, [fit.parameters[library[i].name] for i in rest], fit.u0)
                test = _f(trial, fit)
            except TrainingError:
                test, trial = math.inf, None
            if trial is not None and (test < keep_crit or trial.rss - fit.rss < floor):
                steps.append({"action": "drop", "term": names[j], "F": test,
                              "misfit_change": (trial.rss - fit.rss) / fit.rss})
                if test >= keep_crit and noisy:
                    unresolved["drop", names[j]] = (test, prob.change(trial.rss - fit.rss))
                idx, fit, moved = rest, trial, True
    return fit, idx, candidates, moved


def _blind_spots(prob: _Problem, data: GridData, fit, idx: Sequence[int], crit: float) -> list[dict]:
    """Pure space-derivative terms (``u_x``, ``u_xx``, ...) the final fit could not have detected.

    Only when the final support holds no space derivative although the field varies in space: each point of the
    field then evolves on its own, which a small diffusion or advection hidden by the noise would also explain.
    A left-out term's detection limit is ``sqrt(crit)`` standard errors of its coefficient (the score test's
    level), as a share of the support's rate of change; a limit above :data:`DETECTABLE` is a blind spot.
    """
    lib = prob.library
    if no_space_derivative([lib[i].name for i in idx], lib, data) is None:
        return []
    pure = [i for i, t in enumerate(lib) if i not in idx and _pure_order(t) > 0]
    if not pure:
        return []
    F, _, share = prob.scores(fit, idx, pure, details=True)
    limit = math.sqrt(crit) * share
    return [{"term": lib[i].name, "F": float(F[k]), "detectable_share": float(limit[k])}
            for k, i in enumerate(pure) if limit[k] > DETECTABLE and F[k] <= crit]


def _f(reduced, full) -> float:
    from .inverse import f_test

    return float(f_test(reduced, full)["F"])
