"""Safe parsing of user strings into sympy expressions.

sympy's ``sympify``/``parse_expr`` evaluate Python code. Here the string is first tokenized and
every token is checked against a whitelist (numbers, known names, arithmetic operators and
parentheses); only then is it handed to ``parse_expr`` with an empty global namespace, so nothing
but arithmetic on known symbols can run.
"""

from __future__ import annotations

import cmath
import difflib
import math
import io
import tokenize
from collections.abc import Mapping

import sympy

from .errors import ParseError

__all__ = ["safe_expr", "split_equation", "FUNCTIONS"]

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


def safe_expr(text: str, symbols: Mapping[str, sympy.Symbol], *, what: str = "expression") -> sympy.Expr:
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

    Raises
    ------
    ParseError
        For any token that is not a number, an allowed name, an arithmetic operator or a
        parenthesis, and for syntax errors.

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
    if len(text) > MAX_LENGTH:
        raise ParseError(f"{what} is {len(text)} characters long (at most {MAX_LENGTH}); shorten it")
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
    except ParseError:
        raise
    except (OverflowError, MemoryError, RecursionError) as exc:
        raise ParseError(f"{what} {text!r} is too large to evaluate ({type(exc).__name__}); use smaller numbers "
                         "and exponents") from None
    except Exception as exc:  # sympy raises many kinds (SyntaxError, TypeError, TokenError)
        raise ParseError(f"{what} {text!r} is not a valid expression: {exc}") from None
    if not isinstance(expr, sympy.Expr):
        raise ParseError(f"{what} {text!r} is not an arithmetic expression (got {type(expr).__name__})")
    return expr


_MAX_EXPONENT = 64  #: largest product of nested numeric exponents, e.g. ((u + 1)**8)**8
MAX_LENGTH = 4000  #: longest accepted expression, in characters
MAX_TERMS = 2000  #: most summands an expression may expand into
MAX_LITERAL = 1e300  #: largest magnitude of a number literal
_MAX_DIGITS = 40


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
        raise ParseError(f"{what} {text!r}: the number {string} is too large (at most {MAX_LITERAL:g} in magnitude)")


_MATH = {sympy.sin: cmath.sin, sympy.cos: cmath.cos, sympy.tan: cmath.tan, sympy.exp: cmath.exp,
         sympy.log: cmath.log, sympy.sqrt: cmath.sqrt, sympy.tanh: cmath.tanh, sympy.sinh: cmath.sinh,
         sympy.cosh: cmath.cosh, sympy.Abs: abs}


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


def _check_size(expr, text: str, what: str) -> None:
    """Bound exponents (also nested ones) and the expanded size of an unevaluated expression."""
    if _size(expr, 1.0, text, what) > MAX_TERMS:
        raise ParseError(f"{what} {text!r} expands into more than {MAX_TERMS} terms; write it in expanded form "
                         "or with smaller exponents")


def _size(expr, outer: float, text: str, what: str) -> float:
    """Upper bound of the number of summands of ``expand(expr)``; ``outer``: product of enclosing exponents."""
    if not isinstance(expr, sympy.Basic) or not expr.args:
        return 1.0
    if not expr.free_symbols:  # a constant: sympy would evaluate it, so it must stay a reasonable float
        try:
            value = abs(_float(expr))
        except ZeroDivisionError:
            raise ParseError(f"{what} {text!r}: division by zero in {expr}") from None
        except (OverflowError, ValueError):
            value = float("inf")
        if not value <= MAX_LITERAL:
            raise ParseError(f"{what} {text!r}: the constant {expr} is too large (at most {MAX_LITERAL:g} in magnitude)")
    if isinstance(expr, sympy.Pow) and not expr.exp.free_symbols:
        try:
            value = abs(_float(expr.exp))
        except (OverflowError, ValueError, ZeroDivisionError):
            value = float("inf")
        if value * outer > _MAX_EXPONENT:
            raise ParseError(f"{what} {text!r}: exponent {expr.exp} is too large (nested exponents may multiply to "
                             f"at most {_MAX_EXPONENT})")
        base = _size(expr.base, value * outer, text, what)
        _size(expr.exp, outer, text, what)
        n = int(value) if float(value).is_integer() and expr.exp.is_positive is not False else 0
        return float(math.comb(int(min(base, MAX_TERMS + 1)) + n - 1, n)) if n > 0 else 1.0
    sizes = [_size(a, outer, text, what) for a in expr.args]
    if isinstance(expr, sympy.Add):
        return float(sum(sizes))
    if isinstance(expr, sympy.Mul):
        return float(math.prod(min(v, MAX_TERMS + 1) for v in sizes))
    return 1.0  # a function call stays one term


def split_equation(text: str, *, what: str = "equation") -> tuple[str, str]:
    """Split ``"lhs = rhs"`` into its two sides.

    >>> split_equation("u_t = 0.1*u_xx")
    ('u_t', '0.1*u_xx')
    """
    if not isinstance(text, str):
        raise ParseError(f"{what} must be a string like 'u_t = 0.1*u_xx', received {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"{what} is {len(text)} characters long (at most {MAX_LENGTH}); shorten it")
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
