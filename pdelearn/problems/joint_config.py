"""The settings of joint discovery (:class:`JointConfig`), each value checked once; re-exported by
:mod:`pdelearn.problems.joint`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from dataclasses import fields as dc_fields
from typing import Any, Mapping, Optional

import numpy as np

from ..budget import JOINT_REFINE_BUDGET
from ..errors import ConfigError, did_you_mean
from ..output_error.policy import ALPHA, F_CRIT

__all__ = ["JointConfig"]


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class JointConfig:
    """Settings of :func:`joint_discover`; every value is checked (``ConfigError`` with the fix).

    Data: ``samples`` random points, Gaussian ``noise`` (fraction of the field's std), ``seed``.
    Library (when none is passed): ``max_power`` x ``max_order`` polynomial library (DeePyMoD's
    default is powers 0..2 times derivatives 0..3, 12 terms). Network: ``width`` x ``depth``,
    ``activation``; ``extra_collocation`` random points added to the samples for ``L_G``.
    Training: ``warmup`` steps on ``L_D`` only, then at most ``max_steps`` in all; learning rates,
    ``weight_G`` (``L_G`` in the network's loss), ``l1`` (weight of ``R_G``), ``coef_every`` (update
    period of the coefficients), ``sparsify_every``, ``patience``, ``tol``; ``f_crit`` and the relative
    tolerance of the sparse regression, which starts at ``selection_tol_start`` and halves at each
    sparsification down to ``selection_tol``; ``prune`` (after convergence, an output-error F-test
    of each selected term, ``prune_steps`` training steps per candidate, threshold ``f_crit``);
    ``bootstrap`` resamples for intervals; ``dtype``. ``refine``: ``"output_error"`` (opt-in; default ``"none"``) fits the
    selected support's coefficients and the initial state to the samples by simulation and checks that the
    equation explains them to their noise level (:mod:`pdelearn.problems.joint_refine`; level
    ``refine_alpha``, ``refine_ic_modes`` initial-state modes and solver step ``refine_dt``, None: automatic;
    ``period`` of the domain, None: the samples' grid), or ``"none"``; when no candidate passes, training is
    restarted from new weights on the same samples up to ``refine_restarts`` times. ``refine_budget``: seconds
    the refinement of one training run may take (past it the result is unreliable and says so).
    """

    samples: int = 2000
    noise: float = 0.0
    seed: int = 0
    max_power: int = 2
    max_order: int = 3
    width: int = 50
    depth: int = 4
    activation: str = "tanh"
    extra_collocation: int = 0
    warmup: int = 750
    max_steps: int = 10000
    lr_network: float = 2e-3
    lr_coefficients: float = 1e-2
    weight_G: float = 1.0
    l1: float = 1e-5
    coef_every: int = 1
    sparsify_every: int = 500
    patience: int = 3
    tol: float = 2e-2
    prune: bool = True
    prune_steps: int = 1000
    final_steps: int = 0
    final_weight_G: Optional[float] = None
    selection_tol: float = 0.02
    selection_tol_start: float = 0.1
    f_crit: float = F_CRIT
    bootstrap: int = 100
    ensemble: int = 4
    ensemble_steps: int = 1000
    ensemble_init: str = "warm"
    dtype: str = "float32"
    log_every: int = 100
    max_minutes: Optional[float] = None
    refine: str = "none"
    refine_alpha: float = ALPHA
    refine_ic_modes: Optional[int] = None
    refine_dt: Optional[float] = None
    refine_restarts: int = 1
    refine_budget: float = JOINT_REFINE_BUDGET
    period: Optional[float] = None

    def __post_init__(self) -> None:
        problems = []

        def need(ok: bool, msg: str) -> None:
            if not ok:
                problems.append(msg)

        for name, lo in (("samples", 10), ("width", 1), ("depth", 1), ("coef_every", 1), ("sparsify_every", 1),
                         ("patience", 1), ("log_every", 1), ("max_steps", 1),
                         ("ensemble_steps", 1), ("prune_steps", 1)):
            v = getattr(self, name)
            need(_is_int(v) and v >= lo, f"{name} must be an integer >= {lo}, received {v!r}")
        for name in ("seed", "max_power", "max_order", "extra_collocation", "warmup", "bootstrap", "final_steps", "ensemble",
                     "refine_restarts"):
            v = getattr(self, name)
            need(_is_int(v) and v >= 0, f"{name} must be an integer >= 0, received {v!r}")
        need(_is_num(self.noise) and self.noise >= 0,
             f"noise must be a number >= 0 (a fraction of the field's standard deviation, e.g. 0.1 for 10 %), "
             f"received {self.noise!r}")
        for name in ("lr_network", "lr_coefficients"):
            v = getattr(self, name)
            need(_is_num(v) and v > 0, f"{name} must be a number > 0, received {v!r}")
        for name in ("weight_G", "l1", "tol", "selection_tol", "selection_tol_start", "f_crit"):
            v = getattr(self, name)
            need(_is_num(v) and v >= 0, f"{name} must be a number >= 0, received {v!r}")
        need(self.activation in ("tanh", "sin", "softplus", "gelu"),
             f"activation must be tanh, sin, softplus or gelu (smooth: derivatives are taken), received "
             f"{self.activation!r}")
        need(isinstance(self.prune, bool), f"prune must be true or false, received {self.prune!r}")
        need(self.ensemble_init in ("warm", "fresh"),
             f"ensemble_init must be 'warm' (members start from the trained network) or 'fresh' (new initial weights), "
             f"received {self.ensemble_init!r}")
        need(self.ensemble != 1, "ensemble must be 0 (no ensemble) or at least 2 members (a spread needs two), "
             f"received {self.ensemble!r}")
        need(self.final_weight_G is None or (_is_num(self.final_weight_G) and self.final_weight_G >= 0),
             f"final_weight_G must be None (keep weight_G) or a number >= 0, received {self.final_weight_G!r}")
        need(self.refine in ("output_error", "none"),
             f"refine must be 'output_error' (fit and check the selected equation by simulation) or 'none', received "
             f"{self.refine!r}")
        need(_is_num(self.refine_alpha) and 0 < self.refine_alpha < 1,
             f"refine_alpha (level of the misfit check) must be a number in (0, 1), e.g. 0.01, received {self.refine_alpha!r}")
        need(self.refine_ic_modes is None or (_is_int(self.refine_ic_modes) and self.refine_ic_modes >= 1),
             f"refine_ic_modes must be None (automatic) or an integer >= 1, received {self.refine_ic_modes!r}")
        for name in ("refine_dt", "period"):
            v = getattr(self, name)
            need(v is None or (_is_num(v) and v > 0), f"{name} must be None (automatic) or a number > 0, received {v!r}")
        need(_is_num(self.refine_budget) and math.isfinite(self.refine_budget) and self.refine_budget > 0,
             f"refine_budget must be a number of seconds > 0, received {self.refine_budget!r}")
        need(self.dtype in ("float32", "float64"), f"dtype must be float32 or float64, received {self.dtype!r}")
        need(self.max_minutes is None or (_is_num(self.max_minutes) and self.max_minutes > 0),
             f"max_minutes must be a number > 0 or None, received {self.max_minutes!r}")
        if not problems and self.warmup >= self.max_steps:
            problems.append(f"warmup ({self.warmup}) must be smaller than max_steps ({self.max_steps}); the equation "
                            "is learned only after the warm-up")
        if problems:
            raise ConfigError(problems[0] if len(problems) == 1 else
                              f"{len(problems)} problems in the joint discovery settings:\n  " + "\n  ".join(problems))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JointConfig":
        """Build from a mapping; unknown keys are a :class:`ConfigError` with a "did you mean"."""
        known = [f.name for f in dc_fields(cls)]
        bad = [k for k in data if k not in known]
        if bad:
            raise ConfigError("\n".join(did_you_mean(k, known, what="joint discovery setting") for k in bad))
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
