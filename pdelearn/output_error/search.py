"""The support search of the output-error engine: score tests of left-out terms (to add), fits of candidate
supports judged by the caller's acceptance rule (to add or drop), backward elimination."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional, TypeVar

import numpy as np

from ..errors import TrainingError
from .engine import Engine
from .fit import OutputErrorFit
from .policy import pure_order

__all__ = ["scores", "best_trial", "backward", "FD_STEP"]

FD_STEP = 1e-6  #: finite-difference step of a candidate, relative to the support's rate of change

T = TypeVar("T")


def best_trial(candidates: Sequence[Any], trial: Callable[[Any], Optional[T]], key: Callable[[T], float],
               accept: Callable[[T], bool] = lambda r: True) -> Optional[T]:
    """The result of smallest ``key`` among ``trial(k)`` of each candidate that is not None and that ``accept``
    passes (the first of equal keys); None when there is none."""
    done = [r for r in map(trial, candidates) if r is not None and accept(r)]
    return min(done, key=key) if done else None


def backward(start: T, step: Callable[[T], Optional[T]], size: Callable[[T], int], smallest: int = 1) -> T:
    """Backward elimination: ``step(current)`` (a smaller accepted support, or None) while more than ``smallest``
    terms are left."""
    current = start
    while size(current) > smallest:
        smaller = step(current)
        if smaller is None:
            break
        current = smaller
    return current


def scores(engine: Engine, library, fit: OutputErrorFit, idx: Sequence[int], candidates: Sequence[int],
           details: bool = False) -> tuple[np.ndarray, ...]:
    """Score test of each candidate term at the fit (data on a grid): ``(F, start coefficient)``, each
    ``(len(candidates),)``: the misfit reduction of one Gauss-Newton step in the candidate's direction beyond what
    the fit's unknowns (its final Jacobian) can do, in noise variances; the candidate's sensitivity is a finite
    difference (one solve at :data:`FD_STEP` of the support's rate of change on the initial state). ``details``:
    a third array, each candidate's standard error times its RMS size on the fitted simulation over the support's
    RMS rate there (its detection limit as a share of ``u_t``).
    """
    import torch

    from ..compile import CompiledLibrary
    from ..grid import differentiate
    from ..solvers.torch_etdrk4 import PeriodicSolver

    lay, u = engine.layout, np.asarray(engine.data["u"])
    ii, jj = torch.tensor(lay["i"]), torch.tensor(lay["j"])
    support = [library[i] for i in idx]
    coef = [fit.parameters[t.name] for t in support]
    r, m = fit.residuals, fit.n_unknowns
    base = r + u.ravel()
    Q, _ = np.linalg.qr(fit.jacobian)
    h = lay["length"] / lay["nx"]

    def columns(state: np.ndarray) -> np.ndarray:  # the library on a state (nx,) or (nx, nt), derivatives in x
        inputs = {d.name: differentiate(state, h, d.order, method="spectral", axis=0) if d.order else state
                  for d in library.derivatives}
        inputs.update({c: np.broadcast_to(fit.x, state.shape[::-1]).T for c in library.coords})
        return CompiledLibrary(library).numpy({k: np.ravel(v) for k, v in inputs.items()})

    theta = columns(fit.u0)  # rates of change on the fitted initial state set the finite-difference steps
    rate = float(np.sqrt(np.mean((theta[:, list(idx)] @ np.asarray(coef)) ** 2)))
    g = np.zeros((r.size, len(candidates)))
    for col, k in enumerate(candidates):
        if engine.budget is not None:
            engine.budget.check()
        term = library[k]
        size = float(np.sqrt(np.mean(theta[:, k] ** 2)))
        eps = FD_STEP * rate / size if size > 0 and rate > 0 else FD_STEP
        if pure_order(term) % 4 == 0:
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
    cols = columns(base.reshape(u.shape))
    rate = float(np.sqrt(np.mean((cols[:, list(idx)] @ np.asarray(coef)) ** 2)))
    sizes = np.sqrt(np.mean(cols[:, list(candidates)] ** 2, axis=0))
    share = np.sqrt(sigma2 / gg) * sizes / max(rate, np.finfo(float).tiny)
    return gr**2 / gg / sigma2, -gr / gg, np.where(np.any(g != 0, axis=0), share, np.inf)
