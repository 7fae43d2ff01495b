"""Tests of pdelearn.equation: parsing, printing, serialising and comparing equations."""

from __future__ import annotations

import builtins
import json
import math

import numpy as np
import pytest
import sympy

from pdelearn.equation import (
    Equation,
    EquationSystem,
    coefficient_array,
    format_number,
    load_equation,
    parse_equation,
)
from pdelearn.errors import LibraryError, ParseError
from pdelearn.terms import Term, polynomial_library

u, v, x = sympy.symbols("u v x")
u_x, u_xx, u_t = sympy.symbols("u_x u_xx u_t")
AC = "u_t = 0.0001*u_xx - 5*u**3 + 5*u"
BURGERS = "u_t = 0.1*u_xx - u*u_x"


# ------------------------------------------------------------------------------- golden output


def test_allen_cahn_golden_text_and_latex():
    eq = Equation.parse(AC)
    assert str(eq) == "u_t = 0.0001 u_xx - 5 u^3 + 5 u"
    assert eq.latex() == "u_{t} = 0.0001 u_{xx} - 5 u^{3} + 5 u"
    assert repr(eq) == "Equation('u_t = 0.0001 u_xx - 5 u^3 + 5 u')"
    assert eq.coefficients == {"u_xx": 0.0001, "u**3": -5.0, "u": 5.0}
    assert eq.lhs == "u_t" and eq.field == "u"
    assert eq.fields == ("u",) and eq.coords == ("x",)


def test_burgers_golden_text():
    eq = Equation.parse(BURGERS)
    assert str(eq) == "u_t = 0.1 u_xx - 1 u u_x"
    assert eq.latex() == "u_{t} = 0.1 u_{xx} - 1 u u_{x}"
    assert eq.coefficients == {"u_xx": 0.1, "u*u_x": -1.0}
    assert eq.support == frozenset({"u_xx", "u*u_x"})


def test_first_term_sign_and_constants():
    eq = Equation.parse("u_t = -u + 1")
    assert str(eq) == "u_t = -1 u + 1"
    assert eq.latex() == "u_{t} = -1 u + 1"
    assert str(Equation.parse("u_t = 2 - u_x")) == "u_t = 2 - 1 u_x"
    assert str(Equation.parse("u_t = -3")) == "u_t = -3"


def test_empty_right_hand_side_prints_zero():
    assert str(Equation.parse("u_t = 0")) == "u_t = 0"
    assert str(Equation.parse("u_t = u - u")) == "u_t = 0"
    assert Equation("u_t", {}).latex() == "u_{t} = 0"


@pytest.mark.parametrize(
    "c, text",
    [(0.0001, "0.0001"), (-5.0, "-5"), (1e-5, "1e-05"), (1.23456e-6, "1.235e-06"), (0.1, "0.1"), (123456.7, "1.235e+05")],
)
def test_format_number(c, text):
    assert format_number(c) == text


def test_small_coefficients_format_like_1e_05():
    eq = Equation.parse("u_t = 0.00001*u_xx - 1.5e-5*u")
    assert str(eq) == "u_t = 1e-05 u_xx - 1.5e-05 u"
    assert eq.latex() == r"u_{t} = 10^{-5} u_{xx} - 1.5 \cdot 10^{-5} u"
    assert Equation.parse("u_t = 123456.7*u").latex() == r"u_{t} = 1.235 \cdot 10^{5} u"


def test_format_digits():
    eq = Equation.parse("u_t = 0.123456*u_xx - 1.98765*u")
    assert eq.format(digits=2) == "u_t = 0.12 u_xx - 2 u"
    assert eq.latex(digits=3) == "u_{t} = 0.123 u_{xx} - 1.99 u"
    assert str(eq) == "u_t = 0.1235 u_xx - 1.988 u"


# ------------------------------------------------------------------------------- parsing semantics


def test_terms_combine():
    eq = Equation.parse("u_t = u + 2*u")
    assert eq.coefficients == {"u": 3.0}
    assert str(eq) == "u_t = 3 u"
    eq2 = Equation.parse("u_t = u*u_x - 0.5*u_x*u + u_xx")
    assert eq2.coefficients == {"u*u_x": 0.5, "u_xx": 1.0}


def test_parentheses_expand():
    eq = Equation.parse("u_t = (u + 1)*u_x")
    assert eq.coefficients == {"u_x": 1.0, "u*u_x": 1.0}
    assert str(eq) == "u_t = 1 u_x + 1 u u_x"
    eq2 = Equation.parse("u_t = -(u - 2)**2")
    assert eq2.coefficients == {"u**2": -1.0, "u": 4.0, "1": -4.0}


def test_order_of_first_appearance_is_kept():
    eq = Equation.parse("u_t = 5*u - 5*u**3 + 0.0001*u_xx")
    assert list(eq.coefficients) == ["u", "u**3", "u_xx"]
    assert str(eq) == "u_t = 5 u - 5 u^3 + 0.0001 u_xx"


def test_functions_coordinates_and_rationals():
    eq = Equation.parse("u_t = sin(u)*2 + exp(x)/2 + u_xx/4 + pi*u")
    assert eq.coefficients == {"sin(u)": 2.0, "exp(x)": 0.5, "u_xx": 0.25, "u": math.pi}


def test_two_dimensional_and_explicit_coords():
    eq = Equation.parse("u_t = 0.1*u_xx + 0.2*u_yy - u*u_xy")
    assert eq.coords == ("x", "y")
    assert eq.coefficients == {"u_xx": 0.1, "u_yy": 0.2, "u*u_xy": -1.0}
    eq2 = Equation.parse("u_t = 0.5*u + y*u", coords=["x", "y"])
    assert eq2.coords == ("x", "y")
    assert eq2.coefficients == {"u": 0.5, "u*y": 1.0}


def test_other_fields_need_fields_argument():
    with pytest.raises(ParseError, match="unknown name 'v'"):
        Equation.parse("u_t = u_x + v")
    eq = Equation.parse("u_t = u_x + v", fields=["u", "v"])
    assert eq.fields == ("u", "v") and eq.coefficients == {"u_x": 1.0, "v": 1.0}


def test_sympy_conversion():
    eq = Equation.parse(AC)
    s = eq.sympy()
    assert isinstance(s, sympy.Eq)
    assert s.lhs == u_t
    expected = sympy.Float(0.0001) * u_xx - 5 * u**3 + 5 * u
    assert sympy.expand(s.rhs - expected) == 0
    assert s.rhs.free_symbols == {u, u_xx}
    assert Equation("u_t", {}).sympy().rhs == 0
    burgers = Equation.parse(BURGERS).sympy()
    assert sympy.expand(burgers.rhs - (sympy.Float(0.1) * u_xx - u * u_x)) == 0


# ------------------------------------------------------------------------------- rejected input


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("u_t = __import__('os').system('echo hi')", "unknown name '__import__'"),
        ("u_t = u.__class__", "'.' is not allowed"),
        ("u_t = w*u", "unknown name 'w'"),
        ("u_t = a*u_xx", "unknown name 'a'"),
        ("u_t = u_xxxxxxx", "unknown name 'u_xxxxxxx'"),
        ("u_t = ", "exactly one '='"),
        ("u_t", "exactly one '='"),
        ("u_t = u = u_x", "exactly one '='"),
        ("u_t == u", "exactly one '='"),
        ("u_x = u", "first time derivative"),
        ("u_tt = u", "first time derivative"),
        ("u = u_x", "first time derivative"),
        ("2*u_t = u", "first time derivative"),
        ("u_t = u_t", "unknown name 'u_t'"),
        ("u_t = t*u", "unknown name 't'"),
        ("u_t = u_xt", "unknown name 'u_xt'"),
        ("u_t = u_tt + u", "unknown name 'u_tt'"),
        ("u_t = 1j*u", "complex literal"),
        ("u_t = [u]", "'[' is not allowed"),
    ],
)
def test_parse_rejects(text, phrase):
    with pytest.raises(ParseError) as err:
        Equation.parse(text)
    assert phrase in str(err.value)


def test_parse_never_executes():
    sentinel = "_pdelearn_equation_sentinel"
    text = f"u_t = u + __import__('builtins').setattr(__import__('builtins'), '{sentinel}', 1)"
    with pytest.raises(ParseError):
        Equation.parse(text)
    with pytest.raises(ParseError):
        Equation.from_dict({"lhs": "u_t", "terms": {text.split("= ", 1)[1]: 1.0}})
    assert not hasattr(builtins, sentinel)


@pytest.mark.parametrize("text", ["u_t = sqrt(-1)*u", "u_t = log(-1)*u"])
def test_parse_rejects_non_real_coefficients(text):
    with pytest.raises(ParseError, match="cannot read a numeric coefficient"):
        Equation.parse(text)


def test_parse_rejects_bare_function():
    with pytest.raises(ParseError, match="not an arithmetic expression"):
        Equation.parse("u_t = sin")


def test_parse_rejects_non_strings():
    with pytest.raises(ParseError, match="must be a string"):
        Equation.parse(None)
    with pytest.raises(ParseError, match="first time derivative"):
        Equation(None, {"u": 1.0})


def test_constructor_validation():
    with pytest.raises(ParseError, match="not the time derivative of a field in \\['v'\\]"):
        Equation("u_t", {"v": 1.0}, fields=["v"])
    with pytest.raises(ParseError, match="must be finite"):
        Equation("u_t", {"u": float("inf")})
    with pytest.raises(ParseError, match="must be finite"):
        Equation("u_t", {"u": float("nan")})
    with pytest.raises(ParseError, match="unknown name 'w'"):
        Equation("u_t", {"w": 1.0})


def test_constructor_with_terms_and_zero_coefficients():
    t = Term.parse("u*u_x", ["u"], ["x"])
    eq = Equation("u_t", {t: -1.0, "u_xx": 0.1, "u": 0.0})
    assert eq.coefficients == {"u*u_x": -1.0, "u_xx": 0.1}  # the zero is dropped
    assert eq == Equation("u_t", {"u*u_x": -1.0, "u_xx": 0.1})
    assert eq == Equation.parse("u_t = -u*u_x + 0.1*u_xx")


def test_keys_of_one_term_cancel():
    eq = Equation("u_t", {"u*u_x": 1.0, "u_x*u": -1.0, "u": 2.0})
    assert eq.coefficients == {"u": 2.0}
    assert str(eq) == "u_t = 2 u"


# ------------------------------------------------------------------------------- serialisation


def test_to_dict_from_dict_and_json_round_trip():
    for text in (AC, BURGERS, "u_t = 0.1*u_xx + 0.2*u_yy - u*u_xy + sin(x)*u + 1e-7"):
        eq = Equation.parse(text)
        d = eq.to_dict()
        assert set(d) == {"lhs", "terms", "fields", "coords"}
        back = Equation.from_dict(json.loads(json.dumps(d)))
        assert back == eq
        assert str(back) == str(eq)
        assert load_equation(json.loads(json.dumps(d))) == eq


def test_to_dict_golden():
    assert Equation.parse(AC).to_dict() == {
        "lhs": "u_t",
        "terms": {"u_xx": 0.0001, "u**3": -5.0, "u": 5.0},
        "fields": ["u"],
        "coords": ["x"],
    }


def test_intervals_round_trip():
    eq = Equation("u_t", {"u_xx": 0.1}, intervals={"u_xx": (0.09, 0.11)})
    d = json.loads(json.dumps(eq.to_dict()))
    assert d["intervals"] == {"u_xx": [0.09, 0.11]}
    back = Equation.from_dict(d)
    assert back.intervals == {"u_xx": (0.09, 0.11)}


def test_from_dict_without_fields_infers_them():
    eq = Equation.from_dict({"lhs": "u_t", "terms": {"u_yy": 1, "u*u_x": -2.5}})
    assert eq.fields == ("u",) and eq.coords == ("x", "y")
    assert eq.coefficients == {"u_yy": 1.0, "u*u_x": -2.5}


@pytest.mark.parametrize(
    "data, phrase",
    [
        ({"terms": {"u": 1.0}}, "keys 'lhs' and 'terms'"),
        ({"lhs": "u_t"}, "keys 'lhs' and 'terms'"),
        ([("lhs", "u_t")], "keys 'lhs' and 'terms'"),
        ("u_t = u", "keys 'lhs' and 'terms'"),
        ({"lhs": "u_t", "terms": [["u", 1.0]]}, "'terms' must map term names to numbers"),
        ({"lhs": "u_t", "terms": {"u": "0.1"}}, "coefficient of 'u' must be a number"),
        ({"lhs": "u_t", "terms": {"u": None}}, "coefficient of 'u' must be a number"),
        ({"lhs": "u_t", "terms": {"u": True}}, "coefficient of 'u' must be a number"),
        ({"lhs": "u_t", "terms": {"u": [1.0]}}, "coefficient of 'u' must be a number"),
        ({"lhs": "u_t", "terms": {"u": 1j}}, "coefficient of 'u' must be a number"),
        ({"lhs": "u_t", "terms": {"u": float("nan")}}, "must be finite"),
        ({"lhs": "u_x", "terms": {"u": 1.0}}, "first time derivative"),
        ({"lhs": "u_t", "terms": {"__import__('os')": 1.0}}, "unknown name '__import__'"),
    ],
)
def test_from_dict_rejects(data, phrase):
    with pytest.raises(ParseError) as err:
        Equation.from_dict(data)
    assert phrase in str(err.value)


def test_library_and_coefficient_array():
    eq = Equation.parse(BURGERS)
    lib = eq.library()
    assert lib.keys == ["u_xx", "u*u_x"]
    full = polynomial_library()
    arr = coefficient_array(eq, full)
    expected = np.zeros(16)
    expected[full.index("u_xx")] = 0.1
    expected[full.index("u*u_x")] = -1.0
    np.testing.assert_array_equal(arr, expected)
    with pytest.raises(LibraryError, match="unknown term 'u_xx'"):
        coefficient_array(eq, polynomial_library("u", "x", 3, 1))
    with pytest.raises(LibraryError, match="has no terms"):
        Equation("u_t", {}).library()


# ------------------------------------------------------------------------------- compare


def test_compare_exact():
    truth = Equation.parse(BURGERS)
    r = Equation.parse("u_t = 0.1*u_xx - u*u_x").compare(truth)
    assert r == {"exact_support": True, "missing": [], "extra": [], "max_rel_error": 0.0}


def test_compare_extra_term_and_errors():
    truth = Equation.parse(BURGERS)
    found = Equation.parse("u_t = 0.099*u_xx - 1.02*u*u_x + 0.001*u")
    r = found.compare(truth)
    assert r["exact_support"] is False
    assert r["missing"] == []
    assert r["extra"] == ["u"]
    assert r["max_rel_error"] == pytest.approx(0.02, rel=1e-12)  # max(0.001/0.1, 0.02/1)


def test_compare_missing_term_counts_100_percent():
    truth = Equation.parse(AC)
    found = Equation.parse("u_t = 0.0001*u_xx + 5*u")
    r = found.compare(truth)
    assert r["exact_support"] is False
    assert r["missing"] == ["u**3"]
    assert r["extra"] == []
    assert r["max_rel_error"] == 1.0


def test_compare_against_empty_truth():
    r = Equation.parse("u_t = u").compare(Equation("u_t", {}))
    assert r == {"exact_support": False, "missing": [], "extra": ["u"], "max_rel_error": 0.0}


# ------------------------------------------------------------------------------- systems


SCHRODINGER = ["a_t = -0.5*b_xx", "b_t = 0.5*a_xx"]


def test_system_parse_print_latex():
    sys_ = EquationSystem.parse(SCHRODINGER)
    assert len(sys_) == 2
    assert sys_.fields == ("a", "b") and sys_.coords == ("x",)
    assert str(sys_) == "a_t = -0.5 b_xx\nb_t = 0.5 a_xx"
    assert sys_.format(digits=2) == str(sys_)
    assert sys_.latex() == "\\begin{aligned}\na_{t} &= -0.5 b_{xx} \\\\\nb_{t} &= 0.5 a_{xx}\n\\end{aligned}"
    assert [e.lhs for e in sys_] == ["a_t", "b_t"]
    assert sys_[1].coefficients == {"a_xx": 0.5}
    assert repr(sys_) == "EquationSystem(['a_t = -0.5 b_xx', 'b_t = 0.5 a_xx'])"
    a, b, a_t, b_xx = sympy.symbols("a b a_t b_xx")
    eqs = sys_.sympy()
    assert eqs[0].lhs == a_t and sympy.expand(eqs[0].rhs + sympy.Float(0.5) * b_xx) == 0


def test_system_parse_from_one_string():
    assert EquationSystem.parse("a_t = -0.5*b_xx; b_t = 0.5*a_xx") == EquationSystem.parse(SCHRODINGER)
    assert EquationSystem.parse("a_t = -0.5*b_xx\nb_t = 0.5*a_xx\n") == EquationSystem.parse(SCHRODINGER)


def test_system_shares_fields_and_coords():
    sys_ = EquationSystem([Equation.parse("u_t = u_xx"), Equation.parse("v_t = v_yy")])
    assert sys_.fields == ("u", "v") and sys_.coords == ("x", "y")
    assert all(e.fields == ("u", "v") and e.coords == ("x", "y") for e in sys_)


def test_system_dict_and_json_round_trip():
    sys_ = EquationSystem.parse(["a_t = -0.5*b_xx + 0.1*a*b**2", "b_t = 0.5*a_xx - 1e-5*b"])
    d = sys_.to_dict()
    assert d == {
        "equations": [
            {"lhs": "a_t", "terms": {"b_xx": -0.5, "a*b**2": 0.1}},
            {"lhs": "b_t", "terms": {"a_xx": 0.5, "b": -1e-5}},
        ],
        "fields": ["a", "b"],
        "coords": ["x"],
    }
    back = EquationSystem.from_dict(json.loads(json.dumps(d)))
    assert back == sys_
    assert str(back) == str(sys_)
    assert isinstance(load_equation(json.loads(json.dumps(d))), EquationSystem)


def test_system_validation():
    with pytest.raises(ParseError, match="at least one equation"):
        EquationSystem([])
    with pytest.raises(ParseError, match="exactly one equation.*repeat"):
        EquationSystem.parse(["u_t = u", "u_t = u_xx"])
    with pytest.raises(ParseError, match="list 'equations'"):
        EquationSystem.from_dict({"equations": {"lhs": "u_t"}})
    with pytest.raises(ParseError, match="list 'equations'"):
        EquationSystem.from_dict(["u_t = u"])
    with pytest.raises(ParseError, match="first time derivative"):
        EquationSystem.parse(["u_t = v", "v_x = u"])


def test_system_compare():
    truth = EquationSystem.parse(SCHRODINGER)
    found = EquationSystem.parse(["a_t = -0.45*b_xx + 0.01*a", "b_t = 0.5*a_xx"])
    r = found.compare(truth)
    assert r["exact_support"] is False
    assert r["missing"] == [] and r["extra"] == ["a"]
    assert r["max_rel_error"] == pytest.approx(0.1, rel=1e-12)
    partial = EquationSystem.parse(["a_t = -0.5*b_xx"], fields=["a", "b"])
    r2 = partial.compare(truth)
    assert r2["missing"] == ["a_xx"] and r2["max_rel_error"] == 1.0 and not r2["exact_support"]
    assert truth.compare(truth) == {"exact_support": True, "missing": [], "extra": [], "max_rel_error": 0.0}


def test_parse_and_load_dispatch():
    assert isinstance(parse_equation(AC), Equation)
    assert isinstance(parse_equation("a_t = -0.5*b_xx; b_t = 0.5*a_xx"), EquationSystem)
    assert isinstance(parse_equation("a_t = -0.5*b_xx\n b_t = 0.5*a_xx"), EquationSystem)
    assert isinstance(parse_equation(SCHRODINGER), EquationSystem)
    assert isinstance(parse_equation(AC + ";"), Equation)  # a trailing separator is not a second equation
    assert isinstance(load_equation(Equation.parse(AC).to_dict()), Equation)
    assert isinstance(load_equation(EquationSystem.parse(SCHRODINGER).to_dict()), EquationSystem)
    with pytest.raises(ParseError, match="keys 'lhs' and 'terms'"):
        load_equation({"foo": 1})
