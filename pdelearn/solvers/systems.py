"""The built-in test systems, in one table: equation, grid, initial condition and solver options.

Like torchdiffeq's solvers-as-data, each :class:`System` is plain data: its name (and the spellings
accepted for it), the :class:`~pdelearn.equation.Equation` it solves (sympy, from the text of the
table), the function that simulates it with the project's spectral ETDRK4 solver (the same set-up
as the shared ``.mat`` files) and the solver options. ``pdelearn generate``, joint-discovery recipes
(``data.system``), the benchmarks and the tests all read this table; nothing else lists the systems.

The simulators are hand-tuned fast paths (closed-form nonlinear terms); ``tests/test_systems.py``
checks each one against :func:`~pdelearn.solvers.simulate_equation`, which builds the right-hand
side from the system's ``Equation`` alone.

Examples
--------
>>> system("allen-cahn").name, system("burgers").equation_text
('allen_cahn', 'u_t = -u*u_x + 0.1*u_xx')
>>> system_names(dims=1)
('allen_cahn', 'burgers', 'kdv', 'kuramoto_sivashinsky')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, did_you_mean

__all__ = ["System", "SYSTEMS", "system", "system_names", "solve_system"]


@dataclass(frozen=True)
class System:
    """One built-in system.

    Attributes
    ----------
    name
        Canonical name (``"allen_cahn"``); ``aliases`` are other accepted spellings.
    equation_text
        The equation(s) solved with the default parameters (one string per field).
    dims
        Space dimensions (1 or 2).
    solver
        Import path ``"module:function"`` of the simulator; called with ``options`` (overridable).
    options
        Default solver options (grid size, time step, dealiasing).
    description
        Domain, grid and initial condition in words.
    """

    name: str
    equation_text: str | tuple[str, ...]
    dims: int
    solver: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    aliases: tuple[str, ...] = ()

    def equation(self):
        """The system's :class:`~pdelearn.equation.Equation` (or ``EquationSystem`` for two fields)."""
        from ..equation import Equation, EquationSystem

        if isinstance(self.equation_text, str):
            return Equation.parse(self.equation_text)
        return EquationSystem.parse(list(self.equation_text))

    def simulator(self) -> Callable[..., dict]:
        import importlib

        module, _, attr = self.solver.partition(":")
        return getattr(importlib.import_module(module), attr)

    def solve(self, **options: Any) -> dict:
        """Simulate with the default options updated by ``options``: ``{"x", "t", "u" (, "v", "y"), "equation"}``."""
        return self.simulator()(**{**self.options, **options})


SYSTEMS: tuple[System, ...] = (
    System("allen_cahn", "u_t = 0.0001*u_xx - 5*u**3 + 5*u", 1, "pdelearn.solvers.etdrk4:allen_cahn",
           {"nx": 512, "dt": 1e-4}, "x in [-1, 1) periodic, 512 points, u0 = x^2 cos(pi x), t = 0..1 (201); AC.mat",
           ("allen-cahn", "ac")),
    System("burgers", "u_t = -u*u_x + 0.1*u_xx", 1, "pdelearn.solvers.etdrk4:burgers",
           {"nx": 256, "dt": 1e-2}, "x in [-8, 8) periodic, 256 points, u0 = exp(-(x+2)^2), t = 0..10 (101); burgers.mat"),
    System("kdv", "u_t = -6*u*u_x - u_xxx", 1, "pdelearn.solvers.etdrk4:kdv",
           {"nx": 512, "dt": 1e-3}, "x in [-30, 30) periodic, 512 points, two solitons, t = 0..20 (201); kdv.mat"),
    System("kuramoto_sivashinsky", "u_t = -u*u_x - u_xx - u_xxxx", 1, "pdelearn.solvers.etdrk4:kuramoto_sivashinsky",
           {"nx": 1024, "dt": 0.025}, "x in (0, 32 pi] periodic, 1024 points, u0 = cos(x/16)(1 + sin(x/16)), "
           "t = 0..100 (251); kuramoto_sivishinky.mat", ("kuramoto-sivashinsky", "ks")),
    System("reaction_diffusion", ("u_t = 0.1*u_xx + 0.1*u_yy + u - u**3 + u**2*v - u*v**2 + v**3",
                                  "v_t = 0.1*v_xx + 0.1*v_yy + v - u**3 - u**2*v - u*v**2 - v**3"), 2,
           "pdelearn.solvers.reaction_diffusion:reaction_diffusion", {"n": 64, "dt": 0.05},
           "lambda-omega spiral waves on [-10, 10)^2 periodic, 64 x 64 points, t = 0..10 (101)",
           ("reaction-diffusion", "rd")),
)


def system_names(dims: int | None = None) -> tuple[str, ...]:
    """Canonical names of the built-in systems (of ``dims`` space dimensions, if given)."""
    return tuple(s.name for s in SYSTEMS if dims is None or s.dims == dims)


def system(name: str) -> System:
    """The system called ``name`` (canonical name or alias; ``-`` and ``_`` are interchangeable)."""
    key = str(name).strip().lower().replace("-", "_")
    for s in SYSTEMS:
        if key == s.name or key in (a.replace("-", "_") for a in s.aliases):
            return s
    raise ConfigError(did_you_mean(name, system_names(), what="system"))


def solve_system(name: str, **options: Any) -> dict:
    """``system(name).solve(**options)``, with the result's equation checked against the table's."""
    s = system(name)
    out = s.solve(**options)
    if not options:
        eq = out["equation"]
        got = eq if isinstance(eq, str) else tuple(eq)
        if got != s.equation_text:  # pragma: no cover - a broken table
            raise ConfigError(f"system {s.name}: the solver states {got!r} but the table says {s.equation_text!r}")
    out["x"] = np.asarray(out["x"])
    return out
