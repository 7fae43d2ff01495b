"""The equation, initial and boundary conditions of a recipe, parsed safely.

Strings from a recipe (``"u_t = 0.0001*u_xx - 5*u**3 + 5*u"``, ``"x**2*cos(pi*x)"``) are parsed with
the whitelisting parser of :mod:`pdelearn.parsing`; nothing in them is executed. Functions of one
variable are evaluated by :class:`~pdelearn.compile.CompiledLibrary` on numpy arrays or torch tensors
(differentiable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from ..compile import CompiledLibrary
from ..equation import Equation
from ..errors import ConfigError, PdelearnError
from ..parsing import safe_expr
from ..terms import TermLibrary

__all__ = ["ScalarFunction", "Conditions", "parse_conditions"]

_Z = "z"  # neutral coordinate name used to compile a function of one variable


class ScalarFunction:
    """A function of one variable given as a string, e.g. ``"x**2*cos(pi*x)"`` in ``x``.

    Parameters
    ----------
    text
        The expression; only numbers, the variable, ``pi``, ``E``, arithmetic and the functions of
        :data:`pdelearn.parsing.FUNCTIONS` are allowed.
    var
        The variable name.
    what
        What the string is, for error messages (``"initial_condition"``).

    Examples
    --------
    >>> import numpy as np
    >>> f = ScalarFunction("x**2*cos(pi*x)", "x")
    >>> f(np.array([0.0, 1.0]))
    array([ 0., -1.])
    >>> ScalarFunction("2", "t")(np.zeros(3))
    array([2., 2., 2.])
    """

    def __init__(self, text: str, var: str, what: str = "expression", *, expr: sympy.Expr | None = None):
        self.text = text
        self.var = var
        if expr is None:
            expr = safe_expr(text, {var: sympy.Symbol(var)}, what=what)
        self.expr = expr
        if expr.free_symbols:
            z = sympy.Symbol(_Z)
            lib = TermLibrary([expr.xreplace({sympy.Symbol(var): z})], fields=("f",), coords=(_Z,))
            self._compiled: CompiledLibrary | None = CompiledLibrary(lib)
            self._constant = 0.0
        else:
            self._compiled = None
            try:
                self._constant = float(expr)
            except TypeError:
                raise ConfigError(f"{what} {text!r} is not a real number") from None

    def diff(self, order: int = 1) -> "ScalarFunction":
        """The ``order``-th derivative (symbolic).

        >>> ScalarFunction("x**3", "x").diff(2).expr
        6*x
        """
        d = sympy.diff(self.expr, sympy.Symbol(self.var), order)
        return ScalarFunction(str(d), self.var, expr=d)

    @property
    def is_constant(self) -> bool:
        return self._compiled is None

    def __call__(self, values: Any) -> Any:
        """Evaluate on a numpy array or a torch tensor of shape ``(n,)``; returns the same shape."""
        if self._compiled is None:
            if isinstance(values, np.ndarray):
                return np.full(values.shape, self._constant)
            import torch

            return torch.full_like(values, self._constant)
        if isinstance(values, np.ndarray):
            return self._compiled.numpy({_Z: np.asarray(values, dtype=np.float64)})[..., 0]
        return self._compiled.torch({_Z: values})[..., 0]

    def __repr__(self) -> str:
        return f"ScalarFunction({self.text!r} in {self.var})"


@dataclass
class Conditions:
    """Everything a forward problem enforces, parsed from a recipe."""

    equation: Equation
    initial: ScalarFunction
    left: ScalarFunction | None
    right: ScalarFunction | None
    space: str
    x_range: tuple[float, float]
    t_range: tuple[float, float]
    periodic: bool


def parse_conditions(recipe: Any) -> Conditions:
    """Parse and check the equation, initial condition and boundary values of a recipe.

    Raises
    ------
    ConfigError
        With the recipe key in the message, for an equation or expression that does not parse,
        uses unknown names, or is not finite on the domain.
    """
    space = recipe.space_coord
    x_range = tuple(float(v) for v in recipe.domain[space])
    t_range = tuple(float(v) for v in recipe.domain["t"])
    try:
        equation = Equation.parse(recipe.equation, coords=(space,))
    except PdelearnError as exc:
        raise ConfigError(f"equation: {exc}") from None
    if len(equation.fields) != 1:
        raise ConfigError(f"equation: forward problems support one field, received {list(equation.fields)}")
    if not equation.terms:
        raise ConfigError(f"equation: {recipe.equation!r} has no right-hand side terms; state the equation, "
                          "e.g. 'u_t = 0.1*u_xx'")
    initial = _function(recipe.initial_condition, space, "initial_condition", x_range)
    periodic = recipe.boundary.type == "periodic"
    left = right = None
    if not periodic:
        left = _function(recipe.boundary.left, "t", "boundary.left", t_range)
        right = _function(recipe.boundary.right, "t", "boundary.right", t_range)
        if recipe.boundary.enforce == "exact" and not (left.is_constant and right.is_constant):
            raise ConfigError("boundary.enforce: exact needs constant boundary values (no t); use enforce: loss "
                              f"for {recipe.boundary.left!r} / {recipe.boundary.right!r}")
    return Conditions(equation, initial, left, right, space, x_range, t_range, periodic)


def _function(text: Any, var: str, key: str, interval: tuple[float, float]) -> ScalarFunction:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = repr(text)
    try:
        f = ScalarFunction(text, var, what=key)
        grid = np.linspace(interval[0], interval[1], 257)
        with np.errstate(all="ignore"):
            values = f(grid)
    except PdelearnError as exc:
        raise ConfigError(f"{key}: {exc}" if not str(exc).startswith(key) else str(exc)) from None
    if not np.all(np.isfinite(values)):
        bad = grid[~np.isfinite(values)][0]
        raise ConfigError(f"{key} {text!r} is not finite at {var} = {bad:g}; give an expression finite on "
                          f"[{interval[0]:g}, {interval[1]:g}]")
    return f
