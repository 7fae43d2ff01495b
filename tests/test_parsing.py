"""Tests of pdelearn.parsing: safe parsing of user strings into sympy expressions."""

from __future__ import annotations

import builtins
import os

import pytest
import sympy

from pdelearn.errors import ParseError, PdelearnError
from pdelearn.parsing import FUNCTIONS, safe_expr, split_equation, split_summands

u, v, x = sympy.symbols("u v x")
u_x, u_xx, u_xxx = sympy.symbols("u_x u_xx u_xxx")
SYMS = {"u": u, "v": v, "x": x, "u_x": u_x, "u_xx": u_xx, "u_xxx": u_xxx}


# ------------------------------------------------------------------------------- accepted input


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.0001*u_xx - 5*u**3 + 5*u", sympy.Float("0.0001") * u_xx - 5 * u**3 + 5 * u),
        ("2*u^2 - u", 2 * u**2 - u),  # ^ is power, not xor
        ("u^2^2", u**4),  # right associative like **
        ("(u + v)/2", (u + v) / 2),
        ("-u*u_x", -u * u_x),
        ("u**-2", u**-2),
        ("1e-4*u", sympy.Float("1e-4") * u),
        ("u/3", sympy.Rational(1, 3) * u),
        ("sin(x)*u", sympy.sin(x) * u),
        ("exp(-u) + cos(v) + tan(x)", sympy.exp(-u) + sympy.cos(v) + sympy.tan(x)),
        ("sqrt(u) + log(v)", sympy.sqrt(u) + sympy.log(v)),
        ("tanh(u) + sinh(u) + cosh(u)", sympy.tanh(u) + sympy.sinh(u) + sympy.cosh(u)),
        ("abs(u) + Abs(v)", sympy.Abs(u) + sympy.Abs(v)),
        ("pi*u + E", sympy.pi * u + sympy.E),
        ("  u  ", u),
        ("3", sympy.Integer(3)),
    ],
)
def test_safe_expr_accepts_arithmetic(text, expected):
    got = safe_expr(text, SYMS)
    assert isinstance(got, sympy.Expr)
    assert sympy.simplify(got - expected) == 0


def test_safe_expr_uses_the_given_symbols():
    special = sympy.Symbol("u", positive=True)
    got = safe_expr("u + 1", {"u": special})
    assert special in got.free_symbols
    assert sympy.sqrt(safe_expr("u**2", {"u": special})) == special  # the assumption is kept


def test_functions_whitelist_is_as_documented():
    assert set(FUNCTIONS) == {
        "sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "abs", "Abs", "pi", "E"
    }  # fmt: skip


# ------------------------------------------------------------------------------- rejected input


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("__import__('os').system('echo hi')", "unknown name '__import__'"),
        ("u.__class__", "'.' is not allowed"),
        ("u.diff(x)", "'.' is not allowed"),  # attribute access
        ("lambda: 1", "unknown name 'lambda'"),
        ("[1,2]", "'[' is not allowed"),
        ("u; import os", "';' is not allowed"),
        ('"a"', "'\"a\"' is not allowed"),
        ("u[0]", "'[' is not allowed"),
        ("1j", "complex literal '1j'"),
        ("2 + 3J*u", "complex literal '3J'"),
        ("u if u else v", "unknown name 'if'"),
        ("u == v", "'==' is not allowed"),
        ("u < v", "'<' is not allowed"),
        ("u @ v", "'@' is not allowed"),
        ("u, v", "',' is not allowed"),
        ("u # comment", "is not allowed"),
        ("u!", "'!' is not allowed"),
        ("eval('1')", "unknown name 'eval'"),
        ("Symbol('w')", "unknown name 'Symbol'"),
        ("Integer(2)", "unknown name 'Integer'"),  # in parse_expr's globals, still not whitelisted
        ("w*u", "unknown name 'w'"),
        ("(u", "cannot read expression"),
        ("u +", "is not a valid expression"),
        ("u\n+ 1", "is not a valid expression"),
    ],
)
def test_safe_expr_rejects_code_and_unknown_tokens(text, phrase):
    with pytest.raises(ParseError) as err:
        safe_expr(text, SYMS)
    assert phrase in str(err.value)
    assert isinstance(err.value, PdelearnError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("text", ["sin", "abs", "u + cos"])
def test_safe_expr_rejects_bare_functions(text):
    with pytest.raises(ParseError, match="is not an arithmetic expression|is not a valid expression"):
        safe_expr(text, SYMS)


def test_bare_function_names_the_type():
    with pytest.raises(ParseError, match=r"'sin' is not an arithmetic expression \(got FunctionClass\)"):
        safe_expr("sin", SYMS)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_safe_expr_rejects_empty(text):
    with pytest.raises(ParseError, match="is empty"):
        safe_expr(text, SYMS)


@pytest.mark.parametrize("bad", [None, 3, 1.5, b"u", ["u"], sympy.Symbol("u")])
def test_safe_expr_rejects_non_strings(bad):
    with pytest.raises(ParseError, match="must be a string"):
        safe_expr(bad, SYMS)


def test_error_names_what_was_parsed():
    with pytest.raises(ParseError, match=r"^initial condition 'w': unknown name 'w'"):
        safe_expr("w", {"u": u}, what="initial condition")
    with pytest.raises(ParseError, match="^initial condition must be a string"):
        safe_expr(1, {"u": u}, what="initial condition")


def test_unknown_name_lists_allowed_names():
    with pytest.raises(ParseError) as err:
        safe_expr("w", {"u": u, "u_x": u_x})
    msg = str(err.value)
    assert "Allowed names: u, u_x" in msg
    assert "sin" in msg and "exp" in msg


@pytest.mark.parametrize(
    "text, suggestion",
    [
        ("sni(u)", "'sin'"),
        ("u_xxxx", "'u_xxx'"),
        ("epx(u)", "'exp'"),
    ],
)
def test_near_miss_gets_did_you_mean(text, suggestion):
    with pytest.raises(ParseError) as err:
        safe_expr(text, SYMS)
    msg = str(err.value)
    assert "Did you mean" in msg
    assert suggestion in msg.split("Did you mean", 1)[1]


def test_far_miss_gets_no_suggestion():
    with pytest.raises(ParseError) as err:
        safe_expr("qqqqqqqq", {"u": u})
    assert "Did you mean" not in str(err.value)


# ------------------------------------------------------------------------------- nothing runs


def test_malicious_string_never_calls_os_system(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a) or 0)
    for text in [
        "__import__('os').system('echo hi')",
        "u + __import__('os').system('echo hi')",
        "(lambda: __import__('os').system('echo hi'))()",
        "[c for c in ().__class__.__base__.__subclasses__()]",
    ]:
        with pytest.raises(ParseError):
            safe_expr(text, SYMS)
    assert calls == []


def test_malicious_setattr_has_no_side_effect():
    sentinel = "_pdelearn_test_sentinel"
    assert not hasattr(builtins, sentinel)
    text = f"__import__('builtins').setattr(__import__('builtins'), '{sentinel}', 1)"
    with pytest.raises(ParseError):
        safe_expr(text, SYMS)
    # variants that hide the call behind allowed names
    for variant in [f"u + {text}", f"sin({text})", f"u*(1 + 0*{text})"]:
        with pytest.raises(ParseError):
            safe_expr(variant, SYMS)
    assert not hasattr(builtins, sentinel)


def test_a_whitelisted_name_cannot_be_used_as_an_object():
    # sin is allowed as a function, but not its attributes
    with pytest.raises(ParseError, match="'.' is not allowed"):
        safe_expr("sin.__globals__", SYMS)


# ------------------------------------------------------------------------------- split_equation


@pytest.mark.parametrize(
    "text, expected",
    [
        ("u_t = 0.1*u_xx", ("u_t", "0.1*u_xx")),
        ("  u_t=u  ", ("u_t", "u")),
        ("v_t = -u*u_x + 1e-3", ("v_t", "-u*u_x + 1e-3")),
    ],
)
def test_split_equation(text, expected):
    assert split_equation(text) == expected


@pytest.mark.parametrize("text", ["u_t", "u_t = ", " = u", "=", "u_t = u = v", "u_t == u"])
def test_split_equation_needs_exactly_one_equals_and_two_sides(text):
    with pytest.raises(ParseError, match="exactly one '='"):
        split_equation(text)


def test_split_equation_rejects_non_strings():
    with pytest.raises(ParseError, match="must be a string"):
        split_equation(["u_t", "u"])
    with pytest.raises(ParseError, match="^system must be a string"):
        split_equation(None, what="system")


# ------------------------------------------------------------------------------- split_summands


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.1*u_xx - 5*u**3 + (u - 1e-4)", ["0.1*u_xx", "- 5*u**3", "+ (u - 1e-4)"]),
        ("u", ["u"]),
        ("-u + v", ["-u", "+ v"]),  # a leading sign is not a split point
        ("u*-v + 1", ["u*-v", "+ 1"]),  # nor a sign after an operator
        ("u/-v - 1", ["u/-v", "- 1"]),
        ("u**-2 - 1", ["u**-2", "- 1"]),
        ("u^-2 + 1", ["u^-2", "+ 1"]),
        ("1e-4*u - 2E+3*v", ["1e-4*u", "- 2E+3*v"]),  # exponents stay inside numbers
        ("u - (v + (u_x - 1))", ["u", "- (v + (u_x - 1))"]),  # only top level splits
        ("-(u+v) - u_x", ["-(u+v)", "- u_x"]),
        ("sin(u - v)*u + cos(u + v)", ["sin(u - v)*u", "+ cos(u + v)"]),
        ("u - - v", ["u", "- - v"]),
    ],
)
def test_split_summands(text, expected):
    assert split_summands(text) == expected


def test_split_summands_pieces_sum_to_the_whole():
    text = "0.5*u_xx - u*u_x + (u - 1)**2 - sin(x)*u + 3"
    pieces = split_summands(text)
    total = sum((safe_expr(p, SYMS) for p in pieces), sympy.Integer(0))
    assert sympy.expand(total - safe_expr(text, SYMS)) == 0


@pytest.mark.parametrize("text", ["9**9**9", "9^9^9", "u**(10**3)", "2**100"])
def test_huge_numeric_exponents_are_rejected_before_evaluation(text):
    # sympy would compute the exact integer 9**(9**9) and never return
    with pytest.raises(ParseError, match="too large"):
        safe_expr(text, {"u": sympy.Symbol("u")})
