"""Equations with named unknown parameters, ``"u_t = -l1*u*u_x + l2*u_xx"``: a :class:`ParametrizedEquation` maps
parameters ``p`` to the coefficients of its terms, ``c = A p + c0`` (each summand's coefficient is a number times at
most one parameter), so a known form can be fitted and printed back as an :class:`~pdelearn.equation.Equation`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from .equation import Equation, _infer_coords, _lhs_field
from .errors import ConfigError, ParseError
from .parsing import FUNCTIONS, ExpansionBudget, safe_expr, split_equation, split_summands
from .terms import Term, parse_derivative_name, symbol_table

__all__ = ["ParametrizedEquation", "parametrize"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ParametrizedEquation:
    """``lhs = sum_k (A p + c0)_k term_k``: ``terms`` ``(n_terms,)``, parameter ``names`` ``(n_params,)``, ``matrix``
    ``A`` ``(n_terms, n_params)``, ``offset`` ``c0`` (the fixed part of each coefficient), ``guesses`` ``(n_params,)``.
    """

    lhs: str
    terms: tuple[Term, ...]
    names: tuple[str, ...]
    matrix: np.ndarray
    offset: np.ndarray
    guesses: np.ndarray

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.terms]

    def coefficients(self, p) -> np.ndarray:
        """Term coefficients ``A p + c0`` for parameters ``p`` ``(n_params,)``."""
        return self.matrix @ np.asarray(p, dtype=np.float64) + self.offset

    def equation(self, p, covariance: np.ndarray | None = None, z: float = 1.96) -> Equation:
        """The :class:`Equation` at ``p``; with ``covariance`` of ``p`` the intervals ``c +- z se(c)``."""
        c = self.coefficients(p)
        fields, coords = self.terms[0].fields, self.terms[0].coords
        intervals = None
        if covariance is not None:
            se = np.sqrt(np.maximum(np.diag(self.matrix @ covariance @ self.matrix.T), 0.0))
            intervals = {t.key: (ci - z * s, ci + z * s) for t, ci, s in zip(self.terms, c, se) if ci != 0}
        return Equation(self.lhs, dict(zip(self.terms, c)), fields, coords, intervals)

    def format(self, p, se=None, digits: int = 5) -> str:
        """``"l1 = 1.0002 +- 0.0004, l2 = 0.0031831 +- 1e-06"``."""
        return ", ".join(f"{name} = {p[i]:.{digits}g}" + ("" if se is None else f" +- {se[i]:.2g}")
                         for i, name in enumerate(self.names))


def _check_name(name: str, fields: Sequence[str], coords: Sequence[str]) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"parameter name {name!r} is not a valid name: use letters, digits and '_', starting with a "
                          f"letter (e.g. 'l1', 'nu')")
    if name in fields or name in coords or name == "t":
        raise ConfigError(f"parameter name {name!r} collides with the field/coordinate {name!r}; rename the "
                          f"parameter (e.g. 'l1')")
    if parse_derivative_name(name, fields, coords) is not None or any(name.startswith(f + "_") for f in fields):
        raise ConfigError(f"parameter name {name!r} collides with a derivative of the field(s) {list(fields)}; "
                          f"rename the parameter (e.g. 'l1')")
    if name in FUNCTIONS:
        raise ConfigError(f"parameter name {name!r} is a function/constant name; rename the parameter (e.g. 'l1')")


def parametrize(equation, parameters: Mapping[str, float] | None = None) -> ParametrizedEquation:
    """Build a :class:`ParametrizedEquation`.

    ``equation``: ``"u_t = -l1*u*u_x + l2*u_xx"`` with ``parameters`` ``{name: initial guess}``, or an Equation or
    plain equation string (every term its own parameter, started at its coefficient). Colliding or unused names
    and coefficients other than (number) x (one parameter) are a ConfigError.

    >>> pe = parametrize("u_t = -l1*u*u_x + l2*u_xx", {"l1": 0.5, "l2": 0.01})
    >>> pe.keys, pe.names
    (['u*u_x', 'u_xx'], ('l1', 'l2'))
    >>> print(pe.equation([1.0, 0.1]))
    u_t = -1 u u_x + 0.1 u_xx
    """
    if isinstance(equation, Equation):
        if not equation.terms:
            raise ConfigError(f"equation {equation} has no terms to fit")
        terms = tuple(equation.terms)
        n = len(terms)
        return ParametrizedEquation(equation.lhs, terms, tuple(t.name for t in terms), np.eye(n), np.zeros(n),
                                    np.array(list(equation.terms.values())))
    if not isinstance(equation, str):
        raise ConfigError(f"the equation must be a string such as 'u_t = -l1*u*u_x + l2*u_xx' or an Equation, "
                          f"received {type(equation).__name__}")
    if not parameters:
        return parametrize(Equation.parse(equation))
    if not isinstance(parameters, Mapping):
        raise ConfigError(f"parameters must map names to initial guesses, e.g. {{'l1': 1.0}}, received {parameters!r}")
    lhs, rhs = split_equation(equation)
    fields = (_lhs_field(lhs),)
    names = re.findall(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?", rhs)
    coords = _infer_coords([m for m in names if m not in parameters], fields)
    table = symbol_table(fields, coords, max_order=6)
    for name, guess in parameters.items():
        _check_name(name, fields, coords)
        if isinstance(guess, bool) or not isinstance(guess, (int, float)) or not np.isfinite(guess):
            raise ConfigError(f"the initial guess of parameter {name!r} must be a finite number, received {guess!r}")
    psyms = {name: sympy.Symbol(name) for name in parameters}
    coefficients: dict[Term, dict[str | None, float]] = {}
    budget = ExpansionBudget("the equation")  # one budget for all summands, spent before anything is expanded
    parsed = [safe_expr(chunk, {**table, **psyms}, what="equation right-hand side", budget=budget)
              for chunk in split_summands(rhs)]
    for expr in map(sympy.expand, parsed):
        for arg in sympy.Add.make_args(expr):
            if arg == 0:
                continue
            indep, dep = arg.as_independent(*psyms.values(), as_Add=False)
            if dep != 1 and not (isinstance(dep, sympy.Symbol) and dep.name in psyms):
                raise ConfigError(f"the coefficient of each term must be a number times at most one parameter; {arg} "
                                  f"has {dep}. Write e.g. 'u_t = -l1*u*u_x + l2*u_xx'")
            num, sym = indep.as_independent(*indep.free_symbols, as_Add=False) if indep.free_symbols else (indep, 1)
            try:
                value = float(num)
            except TypeError:
                raise ParseError(f"cannot read a numeric coefficient in {arg} of {equation!r}") from None
            term = Term(sympy.sympify(sym), fields, coords)
            key = dep.name if dep != 1 else None
            row = coefficients.setdefault(term, {})
            row[key] = row.get(key, 0.0) + value
    used = {k for row in coefficients.values() for k in row if k is not None}
    unused = [n for n in parameters if n not in used]
    if unused:
        raise ConfigError(f"parameter(s) {unused} do not appear in {equation!r}; remove them or use them in a term")
    terms, names = tuple(coefficients), tuple(parameters)
    matrix = np.array([[coefficients[t].get(n, 0.0) for n in names] for t in terms])
    offset = np.array([coefficients[t].get(None, 0.0) for t in terms])
    return ParametrizedEquation(lhs, terms, names, matrix, offset, np.array([float(parameters[n]) for n in names]))
