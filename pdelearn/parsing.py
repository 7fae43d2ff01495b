"""Safe parsing of user strings into sympy expressions.

sympy's ``sympify``/``parse_expr`` evaluate Python code. Here the string is first tokenized and
every token is checked against a whitelist (numbers, known names, arithmetic operators and
parentheses); only then is it handed to ``parse_expr`` with an empty global namespace, so nothing
but arithmetic on known symbols can run.
"""

from __future__ import annotations

import cmath
import difflib
import io
import math
import tokenize
from collections.abc import Callable, Mapping
from typing import Any

import sympy

from .errors import ParseError
from .limits import MAX_EXPANDED_TERMS, MAX_EXPANSION_WORK, MAX_EXPONENT, MAX_EXPRESSION_CHARS
from .limits import MAX_LITERAL as _LITERAL

__all__ = ["safe_expr", "split_equation", "FUNCTIONS", "ExpansionBudget", "expansion_cost"]

#: Functions a user may call in an expression (initial conditions, custom terms).
FUNCTIONS: Mapping[str, object] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "pi": sympy.pi,
    "E": sympy.E,
}
_OPERATORS = {"+", "-", "*", "/", "**", "^", "(", ")"}


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise ParseError(f"cannot read expression {text!r}: {exc}") from None


def safe_expr(text: str, symbols: Mapping[str, sympy.Symbol], *, what: str = "expression",
              budget: "ExpansionBudget | None" = None) -> sympy.Expr:
    """Parse ``text`` into a sympy expression without executing code.

    Parameters
    ----------
    text
        Arithmetic expression such as ``"0.0001*u_xx - 5*u**3"``. ``^`` means power.
    symbols
        The names the expression may use, mapped to their sympy symbols. The functions and
        constants of :data:`FUNCTIONS` are always allowed.
    what
        What the string is, for error messages (``"equation"``, ``"initial condition"``).
    budget
        The :class:`ExpansionBudget` shared by the expressions of one equation or library (default: a
        fresh one for this expression alone).

    Raises
    ------
    ParseError
        For any token that is not a number, an allowed name, an arithmetic operator or a
        parenthesis, for syntax errors, and for an expression beyond the limits of :mod:`pdelearn.limits`
        (length, literals, exponents, expanded size and expansion work), checked before sympy evaluates it.

    Examples
    --------
    >>> import sympy
    >>> u = sympy.Symbol("u")
    >>> safe_expr("2*u^2 - u", {"u": u})
    2*u**2 - u
    """
    if not isinstance(text, str):
        raise ParseError(f"{what} must be a string, received {type(text).__name__}: {text!r}")
    if not text.strip():
        raise ParseError(f"{what} is empty; expected an expression such as 'u**2 + 0.1*u_xx'")
    MAX_EXPRESSION_CHARS.check(len(text), f"{what} {_show(text)}")
    allowed = dict(FUNCTIONS)
    allowed.update(symbols)
    for tok in _tokens(text):
        kind, string = tok.type, tok.string
        if kind in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            continue
        if kind == tokenize.NUMBER:
            if string.lower().endswith("j"):
                raise ParseError(f"{what} {text!r}: complex literal {string!r} is not allowed")
            _check_literal(string, text, what)
            continue
        if kind == tokenize.NAME:
            if string not in allowed:
                close = difflib.get_close_matches(string, list(allowed), n=3)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise ParseError(
                    f"{what} {text!r}: unknown name {string!r}. Allowed names: "
                    f"{', '.join(sorted(symbols))} and the functions {', '.join(sorted(FUNCTIONS))}.{hint}"
                )
            continue
        if kind == tokenize.OP and string in _OPERATORS:
            continue
        raise ParseError(
            f"{what} {text!r}: {string!r} is not allowed; use numbers, the names "
            f"{', '.join(sorted(symbols))}, functions such as sin/exp, the operators + - * / ** and parentheses"
        )
    from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

    def parse(evaluate: bool):
        return parse_expr(
            text,
            local_dict=allowed,
            global_dict={
                "Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational,
                "Add": sympy.Add, "Mul": sympy.Mul, "Pow": sympy.Pow,
            },
            transformations=standard_transformations + (convert_xor,),
            evaluate=evaluate,
        )

    try:
        _check_size(parse(False), text, what)  # before evaluating: 9**9**9 would never finish
        expr = parse(True)
        _check_size(expr, None, what, budget, shown=text)  # evaluation merges powers: (a)**-20*(a)**-20
    except ParseError:
        raise
    except (OverflowError, MemoryError, RecursionError) as exc:
        raise ParseError(f"{what} {_show(text)} is too large or too deeply nested to evaluate ({type(exc).__name__}); "
                         "use smaller numbers and exponents and fewer nested operations") from None
    except Exception as exc:  # sympy raises many kinds (SyntaxError, TypeError, TokenError)
        raise ParseError(f"{what} {text!r} is not a valid expression: {exc}") from None
    if not isinstance(expr, sympy.Expr):
        raise ParseError(f"{what} {text!r} is not an arithmetic expression (got {type(expr).__name__})")
    return expr


#: longest accepted expression (default of :data:`~pdelearn.limits.MAX_EXPRESSION_CHARS`)
MAX_LENGTH = MAX_EXPRESSION_CHARS.default
MAX_TERMS = MAX_EXPANDED_TERMS.default  #: most summands (default of :data:`~pdelearn.limits.MAX_EXPANDED_TERMS`)
MAX_LITERAL = _LITERAL.value  #: largest magnitude of a number literal (:data:`~pdelearn.limits.MAX_LITERAL`)
_MAX_DIGITS = 40
_CAP = 1e300  # sizes are estimated in floats, capped here
_EXP_WEIGHT = 5.0  # expand turns exp(a + b + ...) into exp(a)*exp(b)*...: each summand costs about 5 times more


def _show(text: str, n: int = 80) -> str:
    """``repr`` of a user string, shortened for a one-line message."""
    return repr(text) if len(text) <= n else repr(text[:n]) + f"... ({len(text)} characters)"


class ExpansionBudget:
    """Work allowed for expanding the expressions of one equation or one library.

    Each parsed expression spends its :func:`expansion_cost`; past
    :data:`~pdelearn.limits.MAX_EXPANSION_WORK` the parse is refused before sympy expands anything.
    """

    def __init__(self, what: str | None = None):
        self.what = what
        self.used = 0.0

    def spend(self, work: float, what: str = "expression") -> None:
        """Add ``work``; :class:`ParseError` naming ``what`` (or the budget's own subject) past the limit."""
        self.used += work
        if self.used > MAX_EXPANSION_WORK.value:
            raise ParseError(MAX_EXPANSION_WORK.message(int(min(self.used, 1e18)),
                                                        f"the expansion work of {self.what or what}"))


def expansion_cost(expr) -> tuple[float, float]:
    """``(size, work)`` estimates of ``sympy.expand(expr)``: its number of summands, and the summands produced by
    sums, products and powers of sums on the way (function arguments and denominators included; a monomial
    costs nothing). Upper bounds, in floats.

    >>> u, v = sympy.symbols("u v")
    >>> expansion_cost((u + v + 1)**3)
    (10.0, 13.0)
    >>> expansion_cost(sympy.sin((u + v)**2) / (u + 1)**2)
    (1.0, 10.0)
    >>> expansion_cost(u**3 * v)
    (1.0, 0.0)
    """
    return _measure(expr, 1.0, None, "")
def _check_literal(string: str, text: str, what: str) -> None:
    """Reject number literals that are long, not decimal or beyond :data:`MAX_LITERAL`."""
    if len(string) > _MAX_DIGITS:
        raise ParseError(f"{what} {text!r}: the number {string[:20]}... has {len(string)} characters (at most "
                         f"{_MAX_DIGITS}); write it in exponent form such as 1.5e20")
    try:
        value = float(string)
    except ValueError:
        raise ParseError(f"{what} {text!r}: {string!r} is not a decimal number; write numbers like 12, 0.5 or "
                         "1e-4") from None
    if not abs(value) <= MAX_LITERAL:
        raise ParseError(f"{what} {_show(text)}: the number {string} is too large (at most {MAX_LITERAL:g} in magnitude, "
                         "the limit MAX_LITERAL); write it in other units")


_MATH: dict[Any, Callable[..., complex]] = {
    sympy.sin: cmath.sin, sympy.cos: cmath.cos, sympy.tan: cmath.tan, sympy.exp: cmath.exp, sympy.log: cmath.log,
    sympy.sqrt: cmath.sqrt, sympy.tanh: cmath.tanh, sympy.sinh: cmath.sinh, sympy.cosh: cmath.cosh, sympy.Abs: abs}


def _float(expr) -> complex:
    """Value of a constant unevaluated expression in double precision (OverflowError when too large)."""
    if isinstance(expr, sympy.Number) or expr in (sympy.pi, sympy.E):
        return complex(float(expr))
    args = [_float(a) for a in expr.args]
    if isinstance(expr, sympy.Add):
        return sum(args)
    if isinstance(expr, sympy.Mul):
        return math.prod(args)
    if isinstance(expr, sympy.Pow):
        base, exp = args
        if abs(exp) * math.log(abs(base) + 1e-300) > math.log(MAX_LITERAL) + 1:
            raise OverflowError
        return base**exp
    fn = _MATH.get(expr.func)
    if fn is None:
        raise ValueError(f"no float value for {expr.func}")
    value = fn(*args)
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise OverflowError
    return value


def _check_size(expr, text: str | None, what: str, budget: ExpansionBudget | None = None, shown: str = "") -> None:
    """Bound the expanded size and the expansion work of ``expr``; with ``text`` (an unevaluated parse of it)
    also its constants and exponents (nested ones too)."""
    size, work = _measure(expr, 1.0, text, what)
    shown = _show(text if text is not None else shown)
    MAX_EXPANDED_TERMS.check(int(min(size, 1e18)), f"{what} {shown}: its expansion")
    if text is None:
        (budget or ExpansionBudget()).spend(work, f"{what} {shown}")


def _comb(base: float, n: float) -> float:
    """``comb(base + n - 1, n)`` (monomials of degree n in base summands) as a capped float."""
    if n < 1 or base <= 1:
        return 1.0
    if base >= _CAP or n >= _CAP:
        return _CAP
    if base + n < 1e6:
        return min(_CAP, float(math.comb(int(base) + int(n) - 1, int(n))))
    return min(_CAP, math.exp(min(690.0, math.lgamma(base + n) - math.lgamma(base) - math.lgamma(n + 1))))


def _measure(expr, outer: float, text: str | None, what: str) -> tuple[float, float]:
    """``(size, work)`` of ``expand(expr)`` (see :func:`expansion_cost`); ``outer``: product of enclosing exponents.

    With ``text`` (a parse), constants and exponents are also checked against the limits.
    """
    if not isinstance(expr, sympy.Basic) or not expr.args:
        return 1.0, 0.0
    if text is not None and not expr.free_symbols:  # a constant: sympy would evaluate it, so it must stay a float
        try:
            value = abs(_float(expr))
        except ZeroDivisionError:
            raise ParseError(f"{what} {_show(text)}: division by zero in {expr}") from None
        except (OverflowError, ValueError):
            value = float("inf")
        if not value <= MAX_LITERAL:
            raise ParseError(f"{what} {_show(text)}: the constant {str(expr)[:80]} is too large (at most "
                             f"{MAX_LITERAL:g} in magnitude, the limit MAX_LITERAL); write it in other units")
    if isinstance(expr, sympy.Pow) and not expr.exp.free_symbols:
        try:
            value = abs(_float(expr.exp))
        except (OverflowError, ValueError, ZeroDivisionError):
            value = float("inf")
        if text is not None and value * outer > MAX_EXPONENT.value:
            raise ParseError(f"{what} {_show(text)}: exponent {str(expr.exp)[:40]} is too large (nested exponents may "
                             f"multiply to at most {MAX_EXPONENT.value}, the limit MAX_EXPONENT; "
                             f"{MAX_EXPONENT.how_to_raise()})")
        base, base_work = _measure(expr.base, value * outer, text, what)
        if text is not None:
            _measure(expr.exp, outer, text, what)
        expanded = _comb(base, math.floor(value) if math.isfinite(value) else _CAP)
        negative = expr.exp.is_negative is True or (expr.exp.is_number and bool(expr.exp.could_extract_minus_sign()))
        return (1.0 if negative else expanded), min(_CAP, base_work + (expanded if expanded > 1 else 0.0))
    parts = [_measure(a, outer, text, what) for a in expr.args]
    if text is not None and isinstance(expr, sympy.Mul) and expr.free_symbols:  # 1e300*1e300*u
        _measure(sympy.Mul(*[a for a in expr.args if not a.free_symbols], evaluate=False), outer, text, what)
    work = min(_CAP, sum(w for _, w in parts) * (_EXP_WEIGHT if isinstance(expr, sympy.exp) else 1.0))
    if isinstance(expr, sympy.Add):
        size = min(_CAP, sum(s for s, _ in parts))
    elif isinstance(expr, sympy.Mul):
        size = min(_CAP, math.prod(min(s, _CAP) for s, _ in parts))
    else:
        size = 1.0  # a function call stays one term; its arguments are expanded inside
    return size, min(_CAP, work + (size if size > 1 else 0.0))


def split_equation(text: str, *, what: str = "equation") -> tuple[str, str]:
    """Split ``"lhs = rhs"`` into its two sides.

    >>> split_equation("u_t = 0.1*u_xx")
    ('u_t', '0.1*u_xx')
    """
    if not isinstance(text, str):
        raise ParseError(f"{what} must be a string like 'u_t = 0.1*u_xx', received {type(text).__name__}")
    MAX_EXPRESSION_CHARS.check(len(text), f"{what} {_show(text)}")
    parts = text.split("=")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ParseError(f"{what} {text!r} must have the form 'u_t = <expression>' with exactly one '='")
    return parts[0].strip(), parts[1].strip()


def split_summands(text: str) -> list[str]:
    """Split an expression at its top-level ``+``/``-`` signs, keeping the signs.

    Used to keep the user's order of terms when printing a parsed equation.

    >>> split_summands("0.1*u_xx - 5*u**3 + (u - 1e-4)")
    ['0.1*u_xx', '- 5*u**3', '+ (u - 1e-4)']
    """
    out: list[str] = []
    depth = 0
    start = 0
    prev_significant = ""
    for tok in _tokens(text):
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
            continue
        s = tok.string
        if s == "(":
            depth += 1
        elif s == ")":
            depth -= 1
        elif s in "+-" and depth == 0 and prev_significant not in ("", "*", "/", "**", "^", "(", "+", "-"):
            col = tok.start[1]
            out.append(text[start:col].strip())
            start = col
        prev_significant = s
    out.append(text[start:].strip())
    return [p for p in out if p]
