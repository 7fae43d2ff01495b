"""The recipe schema of known-form inverse problems (``problem: inverse``); no torch is imported here.

The user states the equation with named unknown parameters and their initial guesses, the data
(a built-in system, a data file, or an equation simulated by the project's own solver) and the
sampling, and picks the estimator: ``output_error`` (simulate and fit, :mod:`pdelearn.inverse`) or
``pinn`` (Raissi et al.'s continuous-time identification: a network and the parameters trained on
data + residual).

Examples
--------
>>> from pdelearn.recipes import resolve
>>> r = resolve({"problem": "inverse", "equation": "u_t = -l1*u*u_x + l2*u_xx",
...              "parameters": {"l1": 0.5, "l2": 0.01}, "data": {"system": "burgers"}})
>>> r.estimator, r.data.samples, r.output_error.ic_modes
('output_error', 2000, 16)
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from ..output_error.policy import MODES
from ..solvers.systems import system_names
from .base import RecipeBase, StrictModel

__all__ = ["InverseRecipe"]


class Simulated(StrictModel):
    """Data made by the project's spectral solver: ``equation`` from ``initial`` on the periodic ``x`` interval."""

    equation: str
    initial: str
    x: list[float] = Field([-1.0, 1.0], min_length=2, max_length=2)
    nx: int = Field(256, ge=4)
    t: list[float] = Field([0.0, 1.0], min_length=2, max_length=2)
    nt: int = Field(101, ge=2)
    solver_nx: Optional[int] = Field(None, ge=4)  #: solver points (a multiple of nx; default nx)
    dt: Optional[float] = Field(None, gt=0)


class InverseData(StrictModel):
    """Exactly one source; ``samples`` random grid points with Gaussian noise ``noise * std(u)``."""

    system: Optional[str] = None
    file: Optional[str] = None
    simulate: Optional[Simulated] = None
    fields: Optional[list[str]] = None
    coords: Optional[list[str]] = None
    samples: Optional[int] = Field(2000, ge=10)  #: None: every grid point
    noise: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> "InverseData":
        given = [k for k in ("system", "file", "simulate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one data source: data.system ({', '.join(system_names(dims=1))}), "
                             f"data.file (a .mat/.npz grid) or data.simulate (equation, initial, x, nx, t, nt); "
                             f"received {given or 'none'}")
        if self.system is not None and self.system not in system_names(dims=1):
            from ..errors import did_you_mean

            raise ValueError("data.system: " + did_you_mean(self.system, system_names(dims=1), what="system"))
        return self


class OutputErrorOptions(StrictModel):
    """Options of :func:`pdelearn.inverse.fit_output_error`."""

    nx: Optional[int] = Field(None, ge=4)  #: solver points per period (a multiple of the data grid's)
    length: Optional[float] = Field(None, gt=0)  #: period (default: grid points x spacing)
    dt: Optional[float] = Field(None, gt=0)
    ic_modes: int = Field(MODES, ge=1)
    max_iter: int = Field(30, ge=1)
    dealias: bool = True
    #: seconds the fit may take; past it the last estimate is reported as unreliable (exit 3)
    budget: float = Field(600.0, gt=0, allow_inf_nan=False)


class PinnOptions(StrictModel):
    """Raissi et al.'s continuous-time identification: network ``(x, t) -> u`` and the parameters."""

    width: int = Field(20, ge=1)
    depth: int = Field(8, ge=1)
    activation: Literal["tanh", "sin"] = "tanh"
    adam_steps: int = Field(5000, ge=0)
    lr: float = Field(1e-3, gt=0)
    lbfgs_steps: int = Field(5000, ge=0)
    weight_residual: float = Field(1.0, ge=0)
    dtype: Literal["float32", "float64"] = "float64"
    log_every: int = Field(500, ge=1)


class InverseRecipe(RecipeBase):
    """``problem: inverse``."""

    problem: Literal["inverse"] = "inverse"
    equation: str
    parameters: dict[str, float]
    truth: Optional[dict[str, float]] = None  #: true values, to report relative errors
    estimator: Literal["output_error", "pinn"] = "output_error"
    data: InverseData
    output_error: OutputErrorOptions = OutputErrorOptions()
    pinn: PinnOptions = PinnOptions()

    def check(self) -> None:
        from ..errors import ConfigError
        from ..parametrized import parametrize

        form = parametrize(self.equation, self.parameters)
        if self.truth is not None and set(self.truth) != set(form.names):
            raise ConfigError(f"truth must give a value for each parameter {list(form.names)}, received "
                              f"{sorted(self.truth)}")

    def resolve_paths(self, base) -> None:
        from pathlib import Path

        if self.data.file is not None and not Path(self.data.file).is_absolute():
            self.data.file = str(Path(base) / self.data.file)
