"""Compile a :class:`~pdelearn.terms.TermLibrary` into feature-matrix functions.

The sympy expressions are reduced once (common subexpressions eliminated with ``sympy.cse``) to a
short list of operations; evaluating the list needs only ``+ * ** /`` and a few elementwise
functions, so the same program runs on numpy arrays and on torch tensors (differentiable, on the
inputs' device and dtype). No code is generated or executed from strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy

from .errors import DataError, ShapeError
from .terms import TermLibrary

__all__ = ["CompiledLibrary"]

_FUNCS = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.tanh: "tanh",
    sympy.sinh: "sinh",
    sympy.cosh: "cosh",
    sympy.Abs: "abs",
}


class CompiledLibrary:
    """Evaluates all terms of a library at once.

    Parameters
    ----------
    library
        The term library.

    Notes
    -----
    ``inputs`` maps names to arrays of one common shape ``(n_points,)``: every field and
    derivative in :attr:`required` (``"u"``, ``"u_x"``, ``"u_xx"``) and every coordinate a term
    uses (``"x"``). Missing names raise :class:`~pdelearn.errors.DataError`.

    Examples
    --------
    >>> import numpy as np
    >>> from pdelearn.terms import polynomial_library
    >>> lib = polynomial_library("u", "x", max_power=2, max_order=1)
    >>> comp = CompiledLibrary(lib)
    >>> comp.required
    ('u', 'u_x')
    >>> comp.numpy({"u": np.array([2.0]), "u_x": np.array([3.0])})
    array([[ 1.,  2.,  4.,  3.,  6., 12.]])
    """

    def __init__(self, library: TermLibrary):
        self.library = library
        self.required: tuple[str, ...] = tuple(d.name for d in library.derivatives) + tuple(
            sorted(set().union(*(t.coordinates_used for t in library)), key=library.coords.index)
        )
        replacements, reduced = sympy.cse([t.expr for t in library], optimizations="basic")
        self._program = [(sym.name, _lower(expr)) for sym, expr in replacements]
        self._outputs = [_lower(e) for e in reduced]

    def __repr__(self) -> str:
        return f"CompiledLibrary({len(self.library)} terms, needs {list(self.required)})"

    def _run(self, inputs: Mapping[str, Any], xp: Any, like: Any) -> list[Any]:
        missing = [n for n in self.required if n not in inputs]
        if missing:
            raise DataError(
                f"the library needs {list(self.required)}; missing {missing}. Provide these derivatives "
                f"(received {sorted(inputs)})"
            )
        env = {n: inputs[n] for n in self.required}
        for name, node in self._program:
            env[name] = _eval(node, env, xp)
        cols = []
        for node in self._outputs:
            col = _eval(node, env, xp)
            if not hasattr(col, "shape") or col.shape != like.shape:
                col = col + xp.zeros_like(like)  # constants and broadcasts
            cols.append(col)
        return cols

    def _first(self, inputs: Mapping[str, Any]):
        if not self.required:
            raise DataError("the library has only constant terms; it needs at least one field or derivative")
        ref = inputs.get(self.required[0]) if self.required[0] in inputs else next(iter(inputs.values()), None)
        if ref is None:
            raise DataError(f"no inputs given; the library needs {list(self.required)}")
        for n in self.required:
            if n in inputs and tuple(inputs[n].shape) != tuple(ref.shape):
                raise ShapeError(
                    f"all inputs must have one shape; {self.required[0]!r} has {tuple(ref.shape)} but {n!r} has "
                    f"{tuple(inputs[n].shape)}"
                )
        return ref

    def numpy(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Feature matrix ``(*shape, n_terms)`` from numpy arrays of a common ``shape``."""
        ref = self._first(inputs)
        return np.stack(self._run(inputs, np, np.asarray(ref)), axis=-1)

    def torch(self, inputs: Mapping[str, Any]):
        """Feature matrix ``(*shape, n_terms)`` from torch tensors (differentiable)."""
        import torch

        ref = self._first(inputs)
        return torch.stack(self._run(inputs, torch, ref), dim=-1)

    __call__ = torch


def _lower(expr: sympy.Expr):
    """sympy expression -> nested tuples ``(op, args...)`` understood by :func:`_eval`."""
    if isinstance(expr, sympy.Symbol):
        return ("var", expr.name)
    if expr.is_Number or expr in (sympy.pi, sympy.E):
        return ("const", float(expr))
    if isinstance(expr, sympy.Add):
        return ("add", [_lower(a) for a in expr.args])
    if isinstance(expr, sympy.Mul):
        return ("mul", [_lower(a) for a in expr.args])
    if isinstance(expr, sympy.Pow):
        base, exp = expr.args
        if exp.is_Integer and int(exp) > 0:
            return ("ipow", _lower(base), int(exp))
        if exp.is_Integer and int(exp) < 0:
            return ("inv", ("ipow", _lower(base), -int(exp)))
        if exp == sympy.Rational(1, 2):
            return ("fn", "sqrt", _lower(base))
        return ("pow", _lower(base), float(exp))
    for fn, name in _FUNCS.items():
        if isinstance(expr, fn):
            return ("fn", name, _lower(expr.args[0]))
    raise DataError(f"cannot evaluate {expr} ({type(expr).__name__}); supported: + - * / ** and {sorted(_FUNCS.values())}")


def _eval(node, env, xp):
    op = node[0]
    if op == "var":
        return env[node[1]]
    if op == "const":
        return node[1]
    if op == "add":
        out = _eval(node[1][0], env, xp)
        for a in node[1][1:]:
            out = out + _eval(a, env, xp)
        return out
    if op == "mul":
        out = _eval(node[1][0], env, xp)
        for a in node[1][1:]:
            out = out * _eval(a, env, xp)
        return out
    if op == "ipow":
        base = _eval(node[1], env, xp)
        n = node[2]
        return base if n == 1 else (base * base if n == 2 else base**n)
    if op == "inv":
        return 1.0 / _eval(node[1], env, xp)
    if op == "pow":
        return _eval(node[1], env, xp) ** node[2]
    if op == "fn":
        return getattr(xp, node[1])(_eval(node[2], env, xp))
    raise AssertionError(f"unknown op {op}")  # internal invariant, not user input
