"""Output-error refinement and check of a joint discovery's equation (docs/joint_refine.md): :func:`refine_support`
fits the selected support and the initial state to the samples with the :mod:`pdelearn.output_error` engine, from
the network's coefficients and ``u(x, t0)``, and accepts a fit whose misfit matches the noise level (an F-test at
``alpha``) on a grid that resolves it; else alternatives and nested supports are tried, reduced by backward
elimination (``F < f_crit``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..budget import Budget, BudgetExceeded, larger_budget
from ..equation import Equation
from ..errors import ConfigError, DataError, TrainingError
from ..output_error.policy import ALPHA, F_CRIT, MAX_HALVINGS, MODES, RESOLVED, STEP_AGREE, halving_step, modes_to_tolerance
from ..stats import f_quantile

__all__ = ["Refinement", "refine_support", "misfit_threshold", "auto_ic_modes", "local_noise_sigma", "MODES",
           "RESOLVED"]

LOCAL_NEIGHBOURS = 24  #: samples in each local quadratic fit of :func:`local_noise_sigma`
misfit_threshold = f_quantile  # the largest ratio s_oe^2 / s_ref^2 that passes (old name)
auto_ic_modes = modes_to_tolerance  # old name


@dataclass
class Refinement:
    """What :func:`refine_support` did.

    ``status``: ``"accepted"`` (``equation`` passed the check), ``"rejected"`` (no candidate passed), ``"skipped"``
    (the samples are not on a uniform grid) or ``"stopped"`` (the time budget ran out; ``equation``: the first
    candidate that passed so far, or None); ``note`` says why. Only ``"accepted"`` and ``"skipped"`` are
    :attr:`reliable`. ``equation``, ``std_errors``, ``u0`` and ``x``: the accepted fit (95 % Fisher intervals, the
    initial state on the solver grid). ``candidates``: every support fitted (``support``, ``origin``,
    ``coefficients``, ``std_errors``, ``sigma``: the misfit RMS, ``ratio`` ``s_oe^2 / s_ref^2``, ``passed``, ``error``,
    ``F`` and ``p_value`` against the support it was reduced from, ``wall_time_s``). ``noise_sigma``: ``s_ref``, the
    smaller of the network's residual RMS and the local fits' estimate (both in ``settings``); ``threshold``: the
    largest ratio that passes. ``attempts``: earlier training runs of the same samples that no candidate passed.
    """

    status: str
    equation: Optional[Equation] = None
    std_errors: dict = field(default_factory=dict)
    candidates: list = field(default_factory=list)
    noise_sigma: float = float("nan")
    threshold: float = float("nan")
    note: str = ""
    settings: dict = field(default_factory=dict)
    u0: Optional[np.ndarray] = field(default=None, repr=False)
    x: Optional[np.ndarray] = field(default=None, repr=False)
    wall_time_s: float = 0.0
    attempts: list = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return self.status in ("accepted", "skipped")

    def summary(self) -> dict[str, Any]:
        """JSON-ready record (``summary.json``'s ``refinement``)."""
        return {"status": self.status, "equation": None if self.equation is None else str(self.equation),
                "terms": None if self.equation is None else self.equation.coefficients,
                "std_errors": self.std_errors,
                "intervals": {} if self.equation is None else {k: list(v) for k, v in self.equation.intervals.items()},
                "noise_sigma": self.noise_sigma, "threshold": self.threshold, "note": self.note,
                "settings": self.settings, "candidates": self.candidates, "wall_time_s": round(self.wall_time_s, 2),
                "attempts": self.attempts}


def local_noise_sigma(i: np.ndarray, j: np.ndarray, u: np.ndarray, nx: int,
                      k: int = LOCAL_NEIGHBOURS) -> Optional[float]:
    """Noise level of gridded samples without a model: leave-one-out error of local quadratic fits in the grid
    indices ``(i, j)`` (``i`` periodic) to the ``k`` nearest other samples, ``sqrt(mean(r^2 / (1 + v)))`` (``v``:
    the prediction's variance factor); high where the field curves sharply, never systematically low; None for
    ``n <= 2k``."""
    from scipy.spatial import cKDTree

    n = u.size
    if n <= 2 * k:
        return None
    P = np.column_stack([np.asarray(i, dtype=np.float64) % nx, np.asarray(j, dtype=np.float64)])
    _, nb = cKDTree(P, boxsize=[nx, 4 * (float(j.max()) + 1.0)]).query(P, k + 1)  # x wraps around; t never does
    other = nb != np.arange(n)[:, None]  # the sample itself (not always first: repeated points tie at distance 0)
    other[other.sum(1) > k, -1] = False
    nb = nb[other].reshape(n, k)
    q = P[nb] - P[:, None, :]
    q[..., 0] = (q[..., 0] + nx / 2) % nx - nx / 2
    a, b = q[..., 0], q[..., 1]
    A = np.stack([np.ones(q.shape[:2]), a, b, a**2, a * b, b**2], -1)
    AtA = np.einsum("nki,nkj->nij", A, A)
    ok = np.linalg.cond(AtA) < 1e10  # samples in a line (a single time) cannot carry a quadratic in both
    if ok.sum() <= k:
        return None
    inv = np.linalg.inv(AtA[ok])
    c0 = np.einsum("ni,nki,nk->n", inv[:, 0], A[ok], u[nb[ok]])
    r = u[ok] - c0
    return float(np.sqrt(np.mean(r**2 / (1.0 + inv[:, 0, 0]))))


def refine_support(samples: Mapping[str, np.ndarray], selected: Mapping[str, float], *, network_sigma: float,
                   u0: np.ndarray | Callable[[np.ndarray, float], np.ndarray] | None = None,
                   alternatives: Sequence[tuple[str, Mapping[str, float]]] = (), period: float | None = None,
                   ic_modes: int | None = None, dt: float | None = None, alpha: float = ALPHA, f_crit: float = F_CRIT,
                   max_iter: int = 30, say: Callable[[str], None] = lambda m: None,
                   budget: float | None = None) -> Refinement:
    """Output-error fit of the selected support, the check, and the alternatives when it fails.

    ``samples``: ``{"x", "t", "u"}``, each ``(n,)``, on a uniform periodic grid in ``x`` and a uniform grid in ``t``
    (else ``status="skipped"``); ``selected``: ``{term key: coefficient}``, the starting guess; ``network_sigma``:
    the network's residual RMS (the noise level is the smaller of it and :func:`local_noise_sigma`); ``u0``: the
    start state on the solver grid ``(nx,)`` or ``u0(x, t0)`` (default: the smoothed earliest samples);
    ``alternatives``: ``[(origin, {key: coefficient})]`` tried in order when ``selected`` fails; ``period``:
    default, the data grid's points times its spacing. ``ic_modes``: used as given; default: the fewest that
    represent ``u0`` to a tenth of the noise level (at least :data:`MODES`), doubled while the F-test says the
    samples need them, with ``u0``'s content above them up to ``noise / sqrt(n)`` fitted as one shape
    (``settings["fine_structure_modes"]``). ``dt``: default, per candidate, the largest ``output spacing / 2^k``
    (``k <= 5``) that agrees with half of it to 1 % of the noise level (none: the candidate fails). ``alpha``: level
    of the misfit check; ``f_crit``: F threshold of the backward elimination; ``max_iter``: Levenberg-Marquardt
    iterations per fit; ``budget``: seconds, checked before every solve, past which ``status="stopped"``.
    """
    import torch

    from ..output_error.engine import Engine
    from ..output_error.fit import f_test
    from ..output_error.model import fourier_band, grid_layout, smoothed_initial_state, solver_grid
    from ..output_error.search import backward, best_trial
    from ..solvers.torch_etdrk4 import PeriodicSolver

    start = time.perf_counter()
    clock = Budget(budget, "the output-error refinement")
    x, t, u = (np.asarray(samples[k], dtype=np.float64) for k in ("x", "t", "u"))
    try:
        layout = grid_layout(x, t, length=period)
    except DataError as exc:
        return Refinement("skipped", note=f"output-error refinement skipped: {exc}",
                          wall_time_s=time.perf_counter() - start)
    n, nx = u.size, layout["nx"]
    s_local = local_noise_sigma(layout["i"], layout["j"], u, nx)  # layout: the data grid (nx not given)
    s_ref = max(min(float(network_sigma), s_local if s_local is not None else math.inf), 1e-3 * float(np.std(u)))
    if callable(u0):
        u0 = u0(solver_grid(layout), layout["t0"])
    lo = min(MODES, max(nx // 4, 1))
    u0 = None if u0 is None else np.asarray(u0, dtype=np.float64)
    modes = min(ic_modes or (lo if u0 is None else auto_ic_modes(u0, s_ref, tol=0.1, lo=lo)), nx // 2)
    # the start state's fine structure: its modes above the fitted ones, up to the fewest that represent it to
    # noise / sqrt(n), added with one fitted amplitude (docs/joint_refine.md)
    top = modes if u0 is None else max(modes, auto_ic_modes(u0, s_ref / math.sqrt(n), tol=1.0, lo=modes))
    u0 = None if u0 is None else fourier_band(u0, 0, top)  # the state the fits start from: u0's modes below `top`
    start_state = torch.tensor(smoothed_initial_state(x, t, u, layout, modes) if u0 is None else u0)[None]

    def step_for(coefs: Mapping[str, float]) -> Optional[float]:
        """``dt``, or the largest output spacing / 2^k that agrees with half of it to 1 % of the noise level."""
        if dt is not None:
            return dt
        solver = PeriodicSolver(list(coefs), nx, layout["length"])
        coef = torch.tensor([list(coefs.values())], dtype=torch.float64)

        def solve(step: float) -> Optional[np.ndarray]:
            try:
                with torch.no_grad():
                    sim = solver.solve(coef, start_state, layout["t_eval"], step, checkpoint_every=None)
                return sim[0].numpy()[layout["i"], layout["j"]]
            except TrainingError:
                return None

        return halving_step(solve, layout["dt_out"], STEP_AGREE * s_ref)

    settings = {"period": layout["length"], "nx": nx, "dt": dt if dt is not None else "automatic",
                "ic_modes": modes, "fine_structure_modes": top if top > modes else None, "alpha": alpha,
                "f_crit": f_crit, "network_sigma": float(network_sigma), "local_sigma": s_local}
    fine = f" (+ the start state's modes {modes}-{top - 1}, one amplitude)" if top > modes else ""
    say(f"output-error refinement: {nx} points per period {layout['length']:.6g}, {modes} initial-state "
        f"modes{fine}, noise level {s_ref:.4g} (network residual {float(network_sigma):.4g}, local fits "
        f"{'-' if s_local is None else format(s_local, '.4g')})")
    engine = Engine({"x": x, "t": t, "u": u}, layout, modes=modes, step=step_for, alpha=alpha, budget=clock,
                    shapes=lambda m: [] if u0 is None or m >= top else [fourier_band(u0, m)],  # u0's modes m .. top-1
                    length=layout["length"], nx=nx, max_iter=max_iter,
                    ftol=0.01 / n)  # stop when the misfit falls by < 0.01 noise variances
    candidates: list[dict[str, Any]] = []
    fits: dict[tuple, Any] = {}

    def evaluate(coefs: Mapping[str, float], origin: str, parent: Optional[tuple] = None) -> dict:
        key = tuple(sorted(coefs))
        if key in fits:
            return next(c for c in candidates if tuple(sorted(c["support"])) == key)
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"support": list(coefs), "origin": origin}
        clock.check()
        try:
            step = step_for(coefs)
            if step is None:
                raise TrainingError(f"the simulation does not settle as the time step is halved down to "
                                    f"{layout['dt_out'] / 2 ** MAX_HALVINGS:.3g} (it blows up or is not resolved on "
                                    f"the grid)")
            rec["dt"] = step
            fit = engine.fit(Equation("u_t", dict(coefs)), u0, dt=step)
        except (TrainingError, ConfigError) as exc:  # ConfigError: a term the Fourier solver cannot take
            fit = getattr(exc, "partial", None)
            if fit is None:
                rec.update(passed=False, error=str(exc), sigma=None, ratio=None,
                           wall_time_s=round(time.perf_counter() - t0, 2))
                fits[key] = None
                candidates.append(rec)
                say(f"  {origin}: {Equation('u_t', dict(coefs))}: simulation failed ({exc})")
                return rec
            rec["error"] = str(exc)
        if parent is not None and fits.get(parent) is not None:
            test = f_test(fit, fits[parent])
            rec.update(test_vs=list(parent), F=test["F"], p_value=test["p_value"])
        fits[key] = fit
        return record(rec, fit, t0)

    def record(rec: dict, fit, t0: float) -> dict:
        """Fill a candidate's record from its fit (misfit, resolution, the check), keep it and say it."""
        ratio = fit.sigma**2 / s_ref**2
        thr = misfit_threshold(n, fit.n_unknowns, alpha)
        keys = list(fit.equation.coefficients)  # term keys, in the order of the fit's parameters
        change = engine.grid_change(fit, s_ref)
        resolved = change <= RESOLVED
        rec.update(coefficients=fit.equation.coefficients, std_errors=dict(zip(keys, fit.std_errors.values())),
                   sigma=fit.sigma, ratio=ratio, threshold=thr, grid_change=change, resolved=resolved,
                   passed=bool(ratio <= thr and resolved and "error" not in rec), converged=fit.converged,
                   iterations=fit.iterations,  # a fine-structure amplitude adds 1 to an odd count of unknowns
                   ic_modes=(fit.n_unknowns - len(keys) + 1) // 2,
                   wall_time_s=round(time.perf_counter() - t0, 2))
        candidates.append(rec)
        why = "" if resolved else (f"; not resolved on the grid: {2 * nx} points instead of {nx} "
                                   f"change the simulation by {change:.2g} x noise level, limit {RESOLVED:g}")
        say(f"  {rec['origin']}: {fit.equation}  misfit {fit.sigma:.4g} = {math.sqrt(ratio):.3f} x noise level "
            f"({'pass' if rec['passed'] else 'FAIL'}, limit {math.sqrt(thr):.3f}{why})")
        return rec

    def grow(rec: dict) -> dict:
        """``rec``'s support refitted with twice the initial-state modes while the F-test at ``alpha`` says the
        samples need them (up to a quarter of the grid); the last record, with its fit under ``"fit"``."""
        t0 = time.perf_counter()
        if ic_modes is not None:  # modes given: used as given
            return rec
        fit, m = engine.grow(fits[tuple(sorted(rec["support"]))], lambda f: Equation("u_t", dict(rec["coefficients"])),
                             nx // 4, clip=False, dt=rec["dt"],
                             tell=lambda m, test: test is not None and say(
                                 f"  {rec['origin']} with {m} initial-state modes: F = {test['F']:.3g} "
                                 f"(p = {test['p_value']:.2g})"))
        if m == modes:
            return rec
        grown = record({"support": list(rec["support"]), "origin": f"{rec['origin']}, {m} initial-state modes",
                        "dt": rec["dt"]}, fit, t0)
        return {**grown, "fit": fit}

    def smaller(rec: dict) -> Optional[dict]:
        """Backward elimination's step: the reduced support of smallest F among those that pass the check."""
        parent = tuple(sorted(rec["support"]))
        return best_trial(rec["support"], lambda k: evaluate({key: v for key, v in rec["coefficients"].items()
                                                              if key != k}, f"{rec['origin']} without {k}", parent),
                          key=lambda r: r["F"], accept=lambda r: r.get("passed") and r.get("F", math.inf) < f_crit)

    try:
        chosen, first = _search(evaluate, grow, lambda rec: backward(rec, smaller, size=lambda r: len(r["support"])),
                                fits, selected, alternatives, f_crit, say)
    except BudgetExceeded:
        passed = next((c for c in candidates if c.get("passed") and fits.get(tuple(sorted(c["support"]))) is not None),
                      None)
        fit = None if passed is None else fits[tuple(sorted(passed["support"]))]
        done = ", ".join(c["origin"] for c in candidates) or "none finished"
        note = (f"the output-error refinement stopped at its time budget of {clock.seconds:g} s after "
                f"{len(candidates)} candidate fit(s) ({done}); "
                + (f"the first that passed the check so far: {fit.equation}; " if fit is not None else
                   "none passed the check so far; ")
                + f"the equation is not settled; rerun with a larger budget (--set sparsity.refine_budget="
                  f"{larger_budget(clock.seconds)})")
        say(note)
        return _result("stopped", passed, fit, candidates, s_ref, note, {**settings, "budget_s": clock.seconds}, start)
    if chosen is None:
        n_unknowns = len(selected) + 2 * modes - 1 + int(top > modes)  # coefficients, modes, fine-structure amplitude
        return Refinement("rejected", candidates=candidates, noise_sigma=s_ref, settings=settings,
                          threshold=first.get("threshold", misfit_threshold(n, n_unknowns, alpha)),
                          note="no candidate equation, simulated from its fitted initial state on a grid that "
                               "resolves it, explains the samples to their noise level",
                          wall_time_s=time.perf_counter() - start)
    fit = chosen.pop("fit", None) or fits[tuple(sorted(chosen["support"]))]
    settings.update(dt=chosen.get("dt", dt), ic_modes=chosen.get("ic_modes", modes))
    origin = chosen["origin"].split(",")[0]
    note = "" if origin == "selected" else f"the selected support failed the check; {origin} passed"
    return _result("accepted", chosen, fit, candidates, s_ref, note, settings, start)


def _search(evaluate, grow, eliminate, fits, selected, alternatives, f_crit, say):
    """The candidates of :func:`refine_support` in order: the selected support, the alternatives, the selected
    one's nested supports; ``(chosen record or None, the selected support's record)``."""
    first = evaluate(dict(selected), "selected")
    if fits.get(tuple(sorted(selected))) is not None and "error" not in first:
        first = grow(first)  # the modes the samples need, given the selected equation
    chosen = first if first["passed"] else None
    for origin, coefs in alternatives if chosen is None else ():
        if not coefs or tuple(sorted(coefs)) in fits:
            continue
        rec = evaluate(dict(coefs), origin)
        if rec["passed"]:
            chosen = eliminate(rec)
            break
    # nested supports of the selected one (a failed fit may have stopped in a poor minimum; a reduced support that
    # fits significantly worse than the selected one lacks what the samples need)
    for k in list(selected) if chosen is None and len(selected) > 1 else ():
        rec = evaluate({key: v for key, v in selected.items() if key != k}, f"selected without {k}",
                       tuple(sorted(selected)))
        if rec["passed"] and rec.get("F", -math.inf) >= f_crit:
            rec.update(passed=False, reason=f"fits the samples worse than the selected support (F = "
                                            f"{rec['F']:.3g} >= {f_crit:g})")
            say(f"  {rec['origin']}: FAIL, {rec['reason']}")
        if rec["passed"]:
            chosen = eliminate(rec)
            break
    if chosen is not None and chosen is not first:
        grown = grow(chosen)  # the support is settled: its coefficients with the initial state the samples need
        chosen = grown if grown["passed"] else chosen
    return chosen, first


def _result(status: str, rec: Optional[dict], fit, candidates: list, s_ref: float, note: str, settings: dict,
            start: float) -> Refinement:
    """The :class:`Refinement` of ``status`` with the candidate ``rec`` and its ``fit`` (None: no equation)."""
    wall = time.perf_counter() - start
    if fit is None:
        return Refinement(status, None, {}, candidates, s_ref, float("nan"), note, settings, wall_time_s=wall)
    return Refinement(status, fit.equation, dict(rec["std_errors"]), candidates, s_ref, float(rec["threshold"]), note,
                      settings, fit.u0, fit.x, wall)
