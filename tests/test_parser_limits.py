"""Untrusted strings cannot stall or crash the parser (issue 13, items 9-10)."""

from __future__ import annotations

import time

import pytest
import sympy

from pdelearn.equation import Equation
from pdelearn.errors import LibraryError, ParseError
from pdelearn.parsing import MAX_LENGTH, safe_expr
from pdelearn.terms import Term


@pytest.mark.parametrize("rhs, needle", [
    ("1e999999*u", "too large"),                          # hung (mpmath Float of a huge exponent)
    ("(((u+1)**64)**64)**64", "nested exponents"),        # MemoryError from expand
    ("(u+u_x+u_xx+u_xxx+1)**64", "MAX_EXPANDED_TERMS"),     # > 20 s in expand
    ("exp(exp(exp(exp(100))))*u", "too large"),           # raw OverflowError
    ("u**exp(exp(100))", "too large"),
    ("9" * 100 + "*u", "characters"),
    ("0x1F*u", "not a decimal number"),
    ("1e300*1e300*u", "finite|too large"),
    ("u/0", "division by zero"),
    ("+".join(["u"] * 3000), "MAX_EXPRESSION_CHARS"),
])
def test_hostile_equation_is_a_quick_parse_error(rhs, needle):
    start = time.perf_counter()
    with pytest.raises(ParseError, match=needle):
        Equation.parse("u_t = " + rhs)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("rhs, expected", [
    ("u**(2**3)", {"u**8": 1.0}),
    ("(u**2)**3 + 2**10*u_xx", {"u**6": 1.0, "u_xx": 1024.0}),
    ("(u + u_x)**3", {"u**3": 1.0, "u**2*u_x": 3.0, "u*u_x**2": 3.0, "u_x**3": 1.0}),
    ("sin(pi/2)*u - 1e-300*u_x", {"u": 1.0, "u_x": -1e-300}),
    ("+".join(["0.1*u"] * 500), {"u": 50.0}),
])
def test_ordinary_equations_still_parse(rhs, expected):
    eq = Equation.parse("u_t = " + rhs)
    got = {t.key: c for t, c in eq.terms.items()}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12)


def test_length_limit_is_stated():
    with pytest.raises(ParseError, match=str(MAX_LENGTH)):
        safe_expr("u+" * MAX_LENGTH + "u", {"u": sympy.Symbol("u")})


def test_term_from_a_string_goes_through_the_safe_parser(tmp_path):
    marker = tmp_path / "ran"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    with pytest.raises(ParseError, match="__import__"):
        Term(code, ["u"], ["x"])
    assert not marker.exists()
    assert Term("u*u_x", ["u"], ["x"]) == Term.parse("u*u_x", ["u"], ["x"])
    assert Term(2, ["u"], ["x"]).key == "2"
    with pytest.raises(LibraryError, match="sympy expression or a string"):
        Term(object(), ["u"], ["x"])
