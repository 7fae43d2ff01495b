"""The built-in test systems, in one table: equation, grid, initial condition and solver options.

Each :class:`System` is plain data: its name (and the spellings accepted for it), the right-hand side of
each field as ``(coefficient, monomial)`` terms (a coefficient is a number or the name of one of the
system's parameters), which terms form the linear part that the solver integrates exactly, the
function that simulates it and the solver options. This table is the one place where a system's
equation is stated: the solvers (:mod:`pdelearn.solvers.builtin`, :mod:`pdelearn.solvers.reaction_diffusion`)
read their terms, coefficients and split from it and keep only their numerics (grid, initial condition,
time step, dealiasing, closed forms of the nonlinear terms); ``pdelearn generate``, joint-discovery
recipes (``data.system``), the benchmarks and the tests all read it.

Examples
--------
>>> system("allen-cahn").name, system("burgers").equation_text
('allen_cahn', 'u_t = -u*u_x + 0.1*u_xx')
>>> system("burgers").text(nu=0.25), system("burgers").linear
('u_t = -u*u_x + 0.25*u_xx', ('u_xx',))
>>> system_names(dims=1)
('allen_cahn', 'burgers', 'kdv', 'kuramoto_sivashinsky')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, did_you_mean

__all__ = ["System", "SYSTEMS", "system", "system_names", "solve_system", "format_rhs"]

#: One term of a right-hand side: (a number, a parameter name or ``"-name"``; a monomial such as ``"u*u_x"``).
Term = tuple[float | str, str]


@dataclass(frozen=True)
class System:
    """One built-in system.

    Attributes
    ----------
    name
        Canonical name (``"allen_cahn"``); ``aliases`` are other accepted spellings.
    rhs
        ``{field: ((coefficient, monomial), ...)}``: the right-hand side of each field's equation
        ``field_t = ...``, in print order. A coefficient is a number or a parameter name (``"nu"``,
        ``"-beta"``).
    dims
        Space dimensions (1 or 2).
    solver
        Import path ``"module:function"`` of the simulator; called with ``options`` (overridable).
    linear
        The monomials of the linear part ``L u`` (derivatives of a field, the field itself), integrated
        exactly by the ETDRK4 solvers; every other term is the nonlinear part ``N(u)``.
    params
        Default values of the parameters named by coefficients (also the simulator's keyword defaults).
    options
        Default solver options (grid size, time step, dealiasing).
    description
        Domain, grid and initial condition in words.
    """

    name: str
    rhs: dict[str, tuple[Term, ...]]
    dims: int
    solver: str
    linear: tuple[str, ...] = ()
    params: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    aliases: tuple[str, ...] = ()

    def terms(self, **params: float) -> dict[str, list[tuple[float, str]]]:
        """``{field: [(coefficient, monomial), ...]}`` with numbers for the parameters (defaults: :attr:`params`)."""
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise ConfigError(f"system {self.name} has no parameter {unknown[0]!r}; its parameters are "
                              f"{sorted(self.params)}")
        values = {**self.params, **params}

        def number(c: float | str) -> float:
            if isinstance(c, str):
                return -values[c[1:]] if c.startswith("-") else values[c]
            return float(c)

        return {f: [(number(c), m) for c, m in terms] for f, terms in self.rhs.items()}

    def split(self, **params: float) -> dict[str, tuple[list[tuple[float, str]], list[tuple[float, str]]]]:
        """``{field: (linear terms, nonlinear terms)}``, in print order (see :attr:`linear`)."""
        return {f: ([t for t in terms if t[1] in self.linear], [t for t in terms if t[1] not in self.linear])
                for f, terms in self.terms(**params).items()}

    def text(self, **params: float) -> str | tuple[str, ...]:
        """The equation(s) with these parameters: ``"u_t = ..."``, one string per field (a tuple for two)."""
        lines = tuple(f"{f}_t = " + format_rhs(terms) for f, terms in self.terms(**params).items())
        return lines[0] if len(lines) == 1 else lines

    @property
    def equation_text(self) -> str | tuple[str, ...]:
        """The equation(s) solved with the default parameters (one string per field)."""
        return self.text()

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


def _num(value: float) -> str:
    """Shortest faithful decimal for a coefficient: 5.0 -> '5', 1e-4 -> '0.0001'."""
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".15g")


def format_rhs(terms: Sequence[tuple[float, str]]) -> str:
    """Join ``[(coef, monomial), ...]`` into ``'c1*m1 - c2*m2 + m3'``; zero terms are dropped."""
    parts: list[str] = []
    for coef, name in terms:
        if coef == 0:
            continue
        mag = abs(coef)
        body = name if mag == 1 else f"{_num(mag)}*{name}"
        if not parts:
            parts.append(body if coef > 0 else f"-{body}")
        else:
            parts.append(("+ " if coef > 0 else "- ") + body)
    return " ".join(parts) if parts else "0"


# The simulators are named through the package (``pdelearn.solvers``), whose modules read this table.
SYSTEMS: tuple[System, ...] = (
    System("allen_cahn", {"u": (("eps", "u_xx"), (-5, "u**3"), (5, "u"))}, 1, "pdelearn.solvers:allen_cahn",
           linear=("u_xx", "u"), params={"eps": 1e-4}, options={"nx": 512, "dt": 1e-4},
           description="x in [-1, 1) periodic, 512 points, u0 = x^2 cos(pi x), t = 0..1 (201); AC.mat",
           aliases=("allen-cahn", "ac")),
    System("burgers", {"u": ((-1, "u*u_x"), ("nu", "u_xx"))}, 1, "pdelearn.solvers:burgers",
           linear=("u_xx",), params={"nu": 0.1}, options={"nx": 256, "dt": 1e-2},
           description="x in [-8, 8) periodic, 256 points, u0 = exp(-(x+2)^2), t = 0..10 (101); burgers.mat"),
    System("kdv", {"u": ((-6, "u*u_x"), (-1, "u_xxx"))}, 1, "pdelearn.solvers:kdv",
           linear=("u_xxx",), options={"nx": 512, "dt": 1e-3},
           description="x in [-30, 30) periodic, 512 points, two solitons, t = 0..20 (201); kdv.mat"),
    System("kuramoto_sivashinsky", {"u": ((-1, "u*u_x"), (-1, "u_xx"), (-1, "u_xxxx"))}, 1,
           "pdelearn.solvers:kuramoto_sivashinsky", linear=("u_xx", "u_xxxx"), options={"nx": 1024, "dt": 0.025},
           description="x in (0, 32 pi] periodic, 1024 points, u0 = cos(x/16)(1 + sin(x/16)), t = 0..100 (251); "
                       "kuramoto_sivishinky.mat", aliases=("kuramoto-sivashinsky", "ks")),
    # lambda-omega: u_t = d1 lap u + (1 - A^2) u + beta A^2 v, v_t = d2 lap v - beta A^2 u + (1 - A^2) v,
    # A^2 = u^2 + v^2, expanded (diffusion, then by degree and descending power of u)
    System("reaction_diffusion",
           {"u": (("d1", "u_xx"), ("d1", "u_yy"), (1, "u"), (-1, "u**3"), ("beta", "u**2*v"), (-1, "u*v**2"),
                  ("beta", "v**3")),
            "v": (("d2", "v_xx"), ("d2", "v_yy"), (1, "v"), ("-beta", "u**3"), (-1, "u**2*v"), ("-beta", "u*v**2"),
                  (-1, "v**3"))}, 2,
           "pdelearn.solvers:reaction_diffusion", linear=("u_xx", "u_yy", "u", "v_xx", "v_yy", "v"),
           params={"d1": 0.1, "d2": 0.1, "beta": 1.0}, options={"n": 64, "dt": 0.05},
           description="lambda-omega spiral waves on [-10, 10)^2 periodic, 64 x 64 points, t = 0..10 (101)",
           aliases=("reaction-diffusion", "rd")),
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
    """``system(name).solve(**options)`` (the solvers state the table's equation: they read it from here)."""
    out = system(name).solve(**options)
    out["x"] = np.asarray(out["x"])
    return out
