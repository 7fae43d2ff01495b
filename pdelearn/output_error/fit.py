"""The output-error fit: an equation's parameters and its initial state (its lowest Fourier modes) fitted to data
by Levenberg-Marquardt on the differentiable Fourier solver's simulation (Jacobian by forward-mode differentiation);
Fisher standard errors from ``J^T J / sigma^2``; :func:`f_test` compares nested equations."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch.autograd import forward_ad

from ..budget import Budget
from ..equation import Equation
from ..errors import ConfigError, ShapeError, TrainingError
from ..parametrized import ParametrizedEquation, parametrize
from ..solvers.torch_etdrk4 import PeriodicSolver
from ..stats import f_pvalue, nested_f
from .model import fourier_basis, grid_layout, initial_modes, observations, solver_grid
from .policy import DT_MAX, MODES, divided_step

__all__ = ["OutputErrorFit", "fit_output_error", "f_test", "evidence"]


@dataclass
class OutputErrorFit:
    """Result of :func:`fit_output_error`.

    ``parameters``, ``std_errors``: ``{name: value}`` and ``sqrt(diag(sigma^2 (J^T J)^-1))``; ``equation``: with
    95 % intervals (``c +- 1.96 se``); ``u0``: the fitted initial state on the solver grid ``x``; ``rss`` over the
    ``n`` observations, ``sigma = sqrt(rss / (n - n_unknowns))`` (unknowns: parameters, initial-state modes, shape
    amplitudes); ``converged`` False when the iteration limit was reached or no step reduced the misfit
    (``message`` says why); ``dt``: the solver step; ``residuals`` ``(n,)`` and ``jacobian`` ``(n, n_unknowns)`` at
    the estimate, for tests that build on the fit (e.g. score tests of extra terms).
    """

    parameters: dict[str, float]
    std_errors: dict[str, float]
    equation: Equation
    covariance: np.ndarray
    u0: np.ndarray
    x: np.ndarray
    rss: float
    n: int
    n_unknowns: int
    sigma: float
    rel_misfit: float
    iterations: int
    converged: bool
    message: str
    history: list[float] = field(default_factory=list)
    solves: int = 0
    wall_time_s: float = 0.0
    dt: float = 0.0
    residuals: np.ndarray | None = field(default=None, repr=False)
    jacobian: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"parameters": self.parameters, "std_errors": self.std_errors, "equation": str(self.equation),
                "rss": self.rss, "n": self.n, "n_unknowns": self.n_unknowns, "sigma": self.sigma,
                "rel_misfit": self.rel_misfit, "iterations": self.iterations, "converged": self.converged,
                "message": self.message, "solves": self.solves, "wall_time_s": round(self.wall_time_s, 2)}


def fit_output_error(data: Mapping[str, Any], equation: str | Equation | ParametrizedEquation | Sequence[str],
                     parameters: Mapping[str, float] | None = None, *, length: float | None = None,
                     nx: int | None = None, dt: float | None = None, ic_modes: int = MODES,
                     u0: np.ndarray | None = None, ic_shapes: Sequence[np.ndarray] = (), dealias: bool = True,
                     max_iter: int = 30, ftol: float = 1e-9, xtol: float = 1e-8,
                     callback: Callable[[int, float, np.ndarray], None] | None = None,
                     budget: Budget | None = None) -> OutputErrorFit:
    """Fit the parameters of an equation (and its initial state) to data by simulating it.

    ``data``: ``{"x", "t", "u"}``, a grid (``x (nx,)``, ``t (nt,)``, ``u (nx, nt)``) or samples (each ``(n,)``) on a
    uniform periodic grid in ``x`` and a uniform grid in ``t``. ``equation``: ``"u_t = -l1*u*u_x + l2*u_xx"`` with
    ``parameters`` ``{"l1": guess, "l2": guess}``; an :class:`Equation` or equation string (each coefficient fitted,
    started at its value); a :class:`ParametrizedEquation`; or term keys with ``parameters`` ``{key: guess}``.
    ``length``, ``nx``: see :func:`grid_layout`; ``dt``: the solver step (default: the output spacing over
    ``ceil(spacing / 1e-3)``). ``ic_modes``: Fourier modes of the initial state (``2 ic_modes - 1`` unknowns),
    started from ``u0 (nx,)`` (default: the modes fitted to the earliest observations); ``ic_shapes``: fixed shapes
    ``(nx,)`` added with one fitted amplitude each (e.g. a network's ``u(x, t0)`` above ``ic_modes``).
    Levenberg-Marquardt stops after ``max_iter`` iterations, when the misfit falls by less than ``ftol``
    (relative) or every step is below ``xtol`` relative to its unknown; ``callback(iteration, rss, parameters)``
    after each accepted step; ``budget`` (a :class:`~pdelearn.budget.Budget`) is checked before every solve.

    Raises :class:`~pdelearn.errors.DataError` (data not on a periodic grid, NaN/inf, bad shapes),
    :class:`~pdelearn.errors.ConfigError` (bad options or parameter names, terms the solver cannot take) and
    :class:`~pdelearn.errors.TrainingError` (the simulation blows up at the initial guess, or at every step tried
    from an estimate: ``partial`` holds the last good estimate, as in ``BudgetExceeded``).
    """
    start = time.perf_counter()
    if isinstance(equation, ParametrizedEquation):
        form = equation
    elif isinstance(equation, (list, tuple)):
        if not parameters or set(parameters) != set(equation):
            raise ConfigError(f"a support {list(equation)} needs parameters {{term: initial coefficient}} for each "
                              f"term")
        form = parametrize(Equation("u_t", dict(parameters)))
    else:
        form = parametrize(equation, parameters)
    x, t, u = observations(data)
    layout = grid_layout(x, t, length=length, nx=nx)
    solver = PeriodicSolver(list(form.terms), layout["nx"], layout["length"], dealias=dealias)
    if isinstance(ic_modes, bool) or not isinstance(ic_modes, int) or not 1 <= ic_modes <= layout["nx"] // 2:
        raise ConfigError(f"ic_modes must be an integer in [1, {layout['nx'] // 2}], received {ic_modes!r}")
    h = layout["dt_out"]
    dt = divided_step(h, h / DT_MAX) if dt is None else dt
    grid = solver_grid(layout)
    shapes = [np.asarray(v, dtype=np.float64) for v in ic_shapes]
    if any(v.shape != grid.shape or not np.all(np.isfinite(v)) for v in shapes):
        raise ShapeError(f"ic_shapes must be finite arrays with the solver grid's shape {grid.shape}, received "
                         f"shapes {[v.shape for v in shapes]}")
    basis = torch.tensor(np.column_stack([fourier_basis(grid, layout, ic_modes), *shapes]))  # (nx, n_ic)
    if u0 is not None:
        u0 = np.asarray(u0, dtype=np.float64)
        if u0.shape != grid.shape or not np.all(np.isfinite(u0)):
            raise ShapeError(f"u0 must be finite with the solver grid's shape {grid.shape}, received {u0.shape}")
        ic = np.linalg.lstsq(basis.numpy(), u0, rcond=None)[0]
    else:
        ic = np.concatenate([initial_modes(x, t, u, layout, ic_modes), np.zeros(len(shapes))])
    n_p = len(form.names)
    A, c0 = torch.tensor(form.matrix), torch.tensor(form.offset)
    obs = torch.tensor(u)
    ii, jj = torch.tensor(layout["i"]), torch.tensor(layout["j"])
    t_eval = layout["t_eval"]
    solves = 0

    def simulate(theta: torch.Tensor) -> torch.Tensor:
        """``theta (B, n_unknowns)`` -> predictions ``(B, n)``."""
        nonlocal solves
        solves += theta.shape[0]
        return solver.solve(theta[:, :n_p] @ A.T + c0, theta[:, n_p:] @ basis.T, t_eval, dt,
                            checkpoint_every=None)[:, ii, jj]

    def finite(*arrays: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            if not all(np.all(np.isfinite(a)) and float(np.abs(a).max(initial=0.0)) < 1e150 for a in arrays):
                raise TrainingError("the simulated field or its sensitivities overflowed (|u| > 1e150); expected a "
                                    "bounded solution")

    def jacobian(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = theta.size
        with forward_ad.dual_level(), torch.no_grad():
            prim = torch.tensor(theta)[None].expand(m, m).contiguous()
            pred = forward_ad.unpack_dual(simulate(forward_ad.make_dual(prim, torch.eye(m, dtype=torch.float64))))
        r, J = (pred.primal[0] - obs).numpy(), pred.tangent.T.numpy()
        finite(r, J)
        return r, J

    def residual(theta: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            r = (simulate(torch.tensor(theta)[None])[0] - obs).numpy()
        finite(r)
        return r

    theta = np.concatenate([form.guesses, ic])
    try:
        r, J = jacobian(theta)
    except TrainingError as exc:
        raise TrainingError(f"simulating the initial guess {form.format(form.guesses)} failed: {exc}. Start from "
                            f"better initial guesses or a smaller dt") from None
    rss = float(r @ r)
    lam, history, message, converged, it, blowups = 1e-3, [rss], "", False, 0, 0

    def result(theta, r, J, rss, it, converged, message) -> OutputErrorFit:
        n, m = obs.numel(), theta.size
        sigma2 = rss / max(n - m, 1)
        cov = sigma2 * np.linalg.pinv(J.T @ J, rcond=1e-14, hermitian=True)
        cov_p = cov[:n_p, :n_p]
        se = np.sqrt(np.maximum(np.diag(cov_p), 0.0))
        p = theta[:n_p]
        return OutputErrorFit(
            dict(zip(form.names, map(float, p))), dict(zip(form.names, map(float, se))), form.equation(p, cov_p),
            cov_p, (basis @ torch.tensor(theta[n_p:])).numpy(), grid, rss, n, m, math.sqrt(sigma2),
            math.sqrt(rss / max(float(obs @ obs), 1e-300)), it, converged, message, history, solves,
            time.perf_counter() - start, dt, r, J)

    while it < max_iter:
        it += 1
        g, H = J.T @ r, J.T @ J
        D = np.maximum(np.diag(H), 1e-12 * max(np.diag(H).max(), 1e-300))
        while True:
            if budget is not None and budget.expired():
                budget.check(result(theta, r, J, rss, it - 1, False,
                                    f"stopped by the time budget of {budget.seconds:g} s"))
            try:
                step = -np.linalg.solve(H + lam * np.diag(D), g)
            except np.linalg.LinAlgError:
                step = None
            if step is not None:
                try:
                    r_new = residual(theta + step)
                    rss_new = float(r_new @ r_new)
                except TrainingError:
                    rss_new = math.inf
                    blowups += 1
                if rss_new < rss:
                    break
            lam *= 4.0
            if lam > 1e12:
                partial = result(theta, r, J, rss, it, False, "no step from the last estimate reduced the misfit")
                if blowups and not math.isfinite(rss_new):
                    err = TrainingError(f"the simulation blew up at every step tried from the estimate "
                                        f"{form.format(theta[:n_p])} ({blowups} blow-ups); the last good estimate is "
                                        f"kept in this error's 'partial' attribute. Try a smaller dt or better guesses")
                    err.partial = partial
                    raise err
                return partial
        small = np.all(np.abs(step) <= xtol * (np.abs(theta) + xtol))
        drop = (rss - rss_new) / max(rss, 1e-300)
        theta = theta + step
        lam = max(lam / 3.0, 1e-12)
        try:
            r, J = jacobian(theta)
        except TrainingError as exc:  # the residual at theta was finite; only the tangents can fail here
            raise TrainingError(f"the Jacobian at {form.format(theta[:n_p])} could not be computed: {exc}") from None
        rss = float(r @ r)
        history.append(rss)
        if callback is not None:
            callback(it, rss, theta[:n_p].copy())
        sigma2 = rss / max(obs.numel() - theta.size, 1)
        se = np.sqrt(np.maximum(np.diag(np.linalg.pinv(J.T @ J, rcond=1e-14, hermitian=True)) * sigma2, 0.0))
        settled = np.all(np.abs(step) <= 1e-3 * se)
        exact = rss <= (1e-10 * float(obs @ obs) ** 0.5) ** 2
        if drop < ftol or small or settled or exact:
            converged = True
            message = ("misfit decrease below ftol" if drop < ftol else "step below xtol" if small
                       else "every step below 0.001 standard errors" if settled else "misfit at round-off level")
            break
    else:
        message = f"stopped after max_iter = {max_iter} iterations (misfit still decreasing)"
    return result(theta, r, J, rss, it, converged, message)


def f_test(reduced: OutputErrorFit, full: OutputErrorFit) -> dict[str, float]:
    """Extra-sum-of-squares F-test of a reduced equation nested in a full one, fitted to the same data: ``{"F", "q",
    "dof", "p_value"}`` (a small p-value says the dropped terms are needed)."""
    if reduced.n != full.n:
        raise ConfigError(f"the two fits use different data ({reduced.n} and {full.n} observations); fit both to "
                          f"the same data")
    q = full.n_unknowns - reduced.n_unknowns
    if q < 1:
        raise ConfigError(f"the full fit must have more unknowns than the reduced one ({full.n_unknowns} vs "
                          f"{reduced.n_unknowns}); pass (reduced, full) in that order")
    f = nested_f(reduced.rss, full.rss, full.n, full.n_unknowns, q)
    dof = max(full.n - full.n_unknowns, 1)
    return {"F": f, "q": q, "dof": dof, "p_value": f_pvalue(f, q, dof)}


def evidence(fit: OutputErrorFit, data: Mapping[str, Any], form: ParametrizedEquation, *, ic_modes: int,
             length: float | None = None, nx: int | None = None) -> dict[str, Any]:
    """What the data say about a fit of :func:`fit_output_error` (for :func:`pdelearn.reliability.inverse_warnings`).

    ``static_rss``, ``F``, ``p_value``: the F-test of the fit against the best field constant in time (``ic_modes``
    Fourier modes, least squares), ``q`` = the number of parameters; None unless every parameter at 0 leaves
    ``u_t = 0`` (the static field then nested in the fit). ``sensitivity``: ``{name: ||J_k - P J_k|| s_k / ||u||}``,
    the change of the simulation when the parameter moves by ``s_k = max(|estimate|, |start|)`` (or 1) and the
    other unknowns adjust (``P``: projection on their Jacobian columns), over the data's norm.
    """
    x, t, u = observations(data)
    layout = grid_layout(x, t, length=length, nx=nx)
    n_p, J = len(form.names), np.asarray(fit.jacobian)
    norm = max(float(np.linalg.norm(u)), 1e-300)
    sens = {}
    for k, name in enumerate(form.names):
        others = np.delete(J, k, axis=1)
        g = J[:, k] - others @ np.linalg.lstsq(others, J[:, k], rcond=None)[0] if others.shape[1] else J[:, k]
        size = max(abs(fit.parameters[name]), abs(float(form.guesses[k]))) or 1.0
        sens[name] = float(np.linalg.norm(g)) * size / norm
    out: dict[str, Any] = {"sensitivity": sens, "static_rss": None, "F": None, "p_value": None, "q": n_p}
    if not np.any(form.offset):
        B = fourier_basis(x, layout, ic_modes)
        r = u - B @ np.linalg.lstsq(B, u, rcond=None)[0]
        out["static_rss"] = float(r @ r)
        f = nested_f(out["static_rss"], fit.rss, fit.n, fit.n_unknowns, n_p) if fit.rss > 0 else (
            math.inf if out["static_rss"] > 0 else 0.0)
        out["F"], out["p_value"] = float(f), float(f_pvalue(f, n_p, max(fit.n - fit.n_unknowns, 1)) if f > 0 else 1.0)
    return out
