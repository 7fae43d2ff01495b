"""The recipe of physics-informed forward problems (``problem: forward`` and ``extrapolation``).

A forward recipe states the equation, domain, initial and boundary conditions, reference solution,
network, sampling, training schedule and loss weights; ``docs/recipes.md`` lists every key. No torch
is imported here.

Examples
--------
>>> from pdelearn.recipes import resolve
>>> r = resolve({"equation": "u_t = 0.1*u_xx", "domain": {"x": [0, 1], "t": [0, 1]},
...              "initial_condition": "sin(pi*x)", "boundary": {"type": "dirichlet"}})
>>> r.training.steps, r.model.type, r.space_coord
(5000, 'mlp', 'x')
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, model_validator

from ..errors import ConfigError, PdelearnError
from .base import RecipeBase, StrictModel

__all__ = ["Recipe", "LOSS_NAMES"]


#: The loss terms a forward problem knows, by name.
LOSS_NAMES = ("L_I", "L_B", "L_G", "L_R")


class Boundary(StrictModel):
    """Boundary conditions in the space coordinate."""

    type: Literal["periodic", "dirichlet"] = "periodic"
    left: Union[str, float] = "0"
    right: Union[str, float] = "0"
    enforce: Literal["loss", "exact"] = "loss"


class Reference(StrictModel):
    """The reference solution the trained network is measured against (and L_R fits)."""

    solver: Literal["spectral", "finite_difference", "none"] = "spectral"
    file: Optional[str] = None
    nx: int = Field(512, ge=4)
    nt: int = Field(201, ge=2)
    dt: float = Field(1e-4, gt=0)
    refine: int = Field(8, ge=1)


class FourierFeatures(StrictModel):
    n: int = Field(64, ge=1)
    scale: float = Field(1.0, gt=0)


class ModelSpec(StrictModel):
    type: Literal["mlp", "modified_mlp"] = "mlp"
    width: int = Field(64, ge=1)
    depth: int = Field(4, ge=1)
    activation: Literal["tanh", "sin", "softplus", "gelu"] = "tanh"
    periodic_harmonics: int = Field(1, ge=0)
    fourier_features: Optional[FourierFeatures] = None


class Sampling(StrictModel):
    collocation: int = Field(2048, ge=1)
    initial: int = Field(256, ge=1)
    boundary: int = Field(128, ge=1)
    resample_every: int = Field(1, ge=0)


class LrDecay(StrictModel):
    rate: float = Field(0.9, gt=0, le=1)
    every: int = Field(1000, ge=1)


class Causal(StrictModel):
    eps: float = Field(1.0, ge=0)
    chunks: int = Field(16, ge=1)


class Training(StrictModel):
    steps: int = Field(5000, ge=0)
    lr: float = Field(1e-3, gt=0)
    lr_decay: Optional[LrDecay] = LrDecay()
    optimizer: Literal["adam"] = "adam"
    lbfgs_steps: int = Field(0, ge=0)
    lbfgs_max_iter: int = Field(10, ge=1)
    lbfgs_lr: float = Field(1.0, gt=0)
    causal: Optional[Causal] = None
    balance: Literal["none", "gradnorm"] = "none"
    balance_every: int = Field(100, ge=1)
    time_windows: int = Field(1, ge=1)
    window_init: Literal["copy", "fresh"] = "copy"
    hard_ic: bool = False
    dtype: Literal["float32", "float64"] = "float32"
    log_every: int = Field(100, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    eval_every: int = Field(0, ge=0)
    max_minutes: Optional[float] = Field(None, gt=0)
    #: a run stopped by max_minutes counts as reliable only when its rel. L2 error meets this target
    target_rel_l2: Optional[float] = Field(None, gt=0)


class LossWeights(StrictModel):
    L_I: float = Field(1.0, ge=0)
    L_B: float = Field(1.0, ge=0)
    L_G: float = Field(1.0, ge=0)
    L_R: float = Field(0.0, ge=0)


class Losses(StrictModel):
    weights: LossWeights = LossWeights()
    reference_points: int = Field(2048, ge=1)


class Extrapolation(StrictModel):
    t_train: float = 0.8
    times: list[float] = [0.815, 0.995]
    aware: LossWeights = LossWeights(L_I=1.0, L_B=1.0, L_G=1.0, L_R=0.0)
    ignorant: LossWeights = LossWeights(L_I=1.0, L_B=1.0, L_G=0.0, L_R=1.0)


class Recipe(RecipeBase):
    """A validated recipe; see ``docs/recipes.md`` for every key."""

    problem: Literal["forward", "extrapolation"] = "forward"
    equation: str
    domain: dict[str, list[float]]
    initial_condition: Union[str, float]
    boundary: Boundary = Boundary()
    reference: Reference = Reference()
    model: ModelSpec = ModelSpec()
    sampling: Sampling = Sampling()
    training: Training = Training()
    losses: Losses = Losses()
    extrapolation: Optional[Extrapolation] = None

    @model_validator(mode="after")
    def _check(self) -> "Recipe":
        _check_domain(self.domain)
        if self.boundary.type == "periodic" and self.model.periodic_harmonics < 1:
            raise ValueError("boundary.type periodic needs model.periodic_harmonics >= 1 (the exact periodic "
                             "embedding cos(k w x), sin(k w x)); set it to 1 or more")
        if self.problem == "extrapolation":
            if self.extrapolation is None:
                self.extrapolation = Extrapolation()
            lo, hi = self.domain["t"]
            ex = self.extrapolation
            if not lo < ex.t_train <= hi:
                raise ValueError(f"extrapolation.t_train must lie in the time domain ({lo}, {hi}], received {ex.t_train}")
            bad = [t for t in ex.times if not lo <= t <= hi]
            if bad or not ex.times:
                raise ValueError(f"extrapolation.times must be a non-empty list of times in [{lo}, {hi}], received {ex.times}")
        elif self.extrapolation is not None:
            raise ValueError("the key 'extrapolation' is only used with problem: extrapolation; remove it or set "
                             "problem: extrapolation")
        uses_data = self.losses.weights.L_R > 0 or (
            self.problem == "extrapolation" and self.extrapolation is not None
            and (self.extrapolation.aware.L_R > 0 or self.extrapolation.ignorant.L_R > 0))
        if uses_data and self.reference.solver == "none" and self.reference.file is None:
            raise ValueError("the loss L_R fits the reference solution, but reference.solver is none and no "
                             "reference.file is given; set reference.solver or reference.file, or L_R: 0")
        return self

    # -- convenience views ---------------------------------------------------------------------
    @property
    def space_coord(self) -> str:
        """The name of the space coordinate (``"x"``)."""
        return next(k for k in self.domain if k != "t")

    def check(self) -> None:
        """Parse the equation and condition strings now, so a bad recipe fails before any run starts."""
        from .conditions import parse_conditions

        try:
            parse_conditions(self)
        except ConfigError:
            raise
        except PdelearnError as exc:
            raise ConfigError(str(exc)) from None

    def resolve_paths(self, base: Path) -> None:
        if self.reference.file is not None and not Path(self.reference.file).is_absolute():
            self.reference.file = str((base / self.reference.file).resolve())


def _check_domain(domain: Mapping[str, list[float]]) -> None:
    if "t" not in domain:
        raise ValueError(f"domain needs a time interval 't: [t0, t1]', received keys {list(domain)}")
    space = [k for k in domain if k != "t"]
    if len(space) != 1:
        raise ValueError(f"forward problems support exactly one space coordinate, e.g. domain: {{x: [-1, 1], t: [0, 1]}}; "
                         f"received {list(domain)}")
    for k, v in domain.items():
        if len(v) != 2 or not v[0] < v[1]:
            raise ValueError(f"domain.{k} must be [low, high] with low < high, received {v}")
