"""One refinement's output-error fits: the data on their grid, the initial state's representation and the time-step
policy, shared by every fit; the growth of the initial state and the resolution check."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Optional

import numpy as np
import torch

from ..budget import Budget
from ..equation import Equation
from ..errors import TrainingError
from ..solvers.torch_etdrk4 import PeriodicSolver
from .fit import OutputErrorFit, f_test, fit_output_error
from .model import observations
from .policy import ALPHA, retry_step

__all__ = ["Engine"]


class Engine:
    """The fits of one refinement.

    ``data``: ``{"x", "t", "u"}`` as :func:`~.fit.fit_output_error` takes them, ``layout`` their
    :func:`~.model.grid_layout`; ``modes``: initial-state Fourier modes of a fit (:meth:`grow` finds more);
    ``step(equation) -> dt``: the time-step rule (:mod:`~.policy`); ``retry``: a fit whose first simulation blows
    up is retried once with a smaller step (:func:`~.policy.retry_step`); ``shapes(modes) -> [(nx,)]``: fixed
    shapes added to the initial state (one amplitude each); ``alpha``: level of :meth:`grow`'s F-test; ``budget``:
    checked before every solve; ``options``: further arguments of every fit (``max_iter``, ``ftol``, ``nx``, ...).
    """

    def __init__(self, data: Mapping[str, Any], layout: dict, *, modes: int, step: Callable[[Equation], float],
                 retry: bool = False, shapes: Optional[Callable[[int], list]] = None, alpha: float = ALPHA,
                 budget: Optional[Budget] = None, **options: Any):
        self.data, self.layout, self.modes, self.step, self.retry = data, layout, modes, step, retry
        self.shapes, self.alpha, self.budget, self.options = shapes or (lambda m: []), alpha, budget, options
        self.u = observations(data)[2]  # (n,): the observations in the order of a fit's residuals
        self.fits = 0

    def fit(self, equation: Equation, u0: Optional[np.ndarray] = None, *, modes: Optional[int] = None,
            dt: Optional[float] = None) -> OutputErrorFit:
        """Fit ``equation`` (started at its coefficients) and the initial state (started at ``u0``)."""
        self.fits += 1
        modes = self.modes if modes is None else modes
        dt = self.step(equation) if dt is None else dt
        kw = dict(self.options, ic_modes=modes, u0=u0, ic_shapes=self.shapes(modes), budget=self.budget)
        try:
            return fit_output_error(self.data, equation, dt=dt, **kw)
        except TrainingError as exc:  # unstable at the first guess: once more with a smaller step
            smaller = retry_step(dt, self.layout["dt_out"]) if self.retry else None
            if getattr(exc, "partial", None) is not None or smaller is None:
                raise
            return fit_output_error(self.data, equation, dt=smaller, **kw)

    def grow(self, fit: OutputErrorFit, equation_of: Callable[[OutputErrorFit], Equation], cap: int, *,
             clip: bool = True, allowed: Callable[[int, OutputErrorFit], bool] = lambda m, fit: True,
             tell: Callable[[int, Optional[dict]], None] = lambda m, test: None,
             dt: Optional[float] = None) -> tuple[OutputErrorFit, int]:
        """``(fit, modes)``: ``fit`` refitted with twice the modes while the F-test at ``alpha`` says the data need
        them, up to ``cap`` (``clip``: a last step may stop at ``cap``, else each doubles); ``allowed(modes, fit)``
        False stops; ``tell(modes, test)`` before each fit (``test`` None) and after its F-test."""
        modes = self.modes
        while True:
            more = min(2 * modes, cap) if clip else 2 * modes
            if (modes >= cap if clip else more > cap) or not allowed(more, fit):
                return fit, modes
            tell(more, None)
            try:
                trial = self.fit(equation_of(fit), fit.u0, modes=more, dt=dt)
            except TrainingError:
                return fit, modes
            test = f_test(fit, trial)
            tell(more, test)
            if test["p_value"] >= self.alpha:
                return fit, modes
            fit, modes = trial, more

    def grid_change(self, fit: OutputErrorFit, scale: float) -> float:
        """RMS change of the simulated observations when the solver grid is doubled (the fitted initial state
        interpolated spectrally), in units of ``scale``; inf when the finer simulation fails."""
        lay = self.layout
        nx2 = 2 * lay["nx"]
        c = np.fft.rfft(fit.u0)
        if lay["nx"] % 2 == 0:
            c[-1] *= 0.5  # the coarse grid's Nyquist mode is a cosine of two modes on the finer one
        fine = np.zeros(nx2 // 2 + 1, dtype=complex)
        fine[:c.size] = c
        coefs = fit.equation.coefficients
        try:
            with torch.no_grad():
                sim = PeriodicSolver(list(coefs), nx2, lay["length"]).solve(
                    torch.tensor([list(coefs.values())]), torch.tensor(np.fft.irfft(fine, nx2) * 2)[None],
                    lay["t_eval"], fit.dt, checkpoint_every=None)[0].numpy()[2 * lay["i"], lay["j"]]
        except TrainingError:
            return math.inf
        return float(np.sqrt(np.mean((sim - (fit.residuals + self.u)) ** 2))) / scale
