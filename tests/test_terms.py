"""Tests of pdelearn.terms: terms, term libraries and the polynomial library."""

from __future__ import annotations

import pytest
import sympy

from pdelearn.errors import LibraryError, ParseError
from pdelearn.terms import (
    Derivative,
    Term,
    TermLibrary,
    derivative_symbol,
    parse_derivative_name,
    polynomial_library,
    symbol_table,
)

PAPER_NAMES = [
    "1", "u", "u^2", "u^3",
    "u_x", "u u_x", "u^2 u_x", "u^3 u_x",
    "u_xx", "u u_xx", "u^2 u_xx", "u^3 u_xx",
    "u_xxx", "u u_xxx", "u^2 u_xxx", "u^3 u_xxx",
]  # fmt: skip
PAPER_KEYS = [
    "1", "u", "u**2", "u**3",
    "u_x", "u*u_x", "u**2*u_x", "u**3*u_x",
    "u_xx", "u*u_xx", "u**2*u_xx", "u**3*u_xx",
    "u_xxx", "u*u_xxx", "u**2*u_xxx", "u**3*u_xxx",
]  # fmt: skip


# ------------------------------------------------------------------------------- polynomial library


def test_paper_library_has_16_terms_in_paper_order():
    lib = polynomial_library(["u"], ["x"], max_power=3, max_order=3)
    assert len(lib) == 16
    assert lib.names == PAPER_NAMES
    assert lib.keys == PAPER_KEYS
    # the defaults are the paper's library
    assert polynomial_library() == lib
    # strings are accepted for names
    assert polynomial_library("u", "x", 3, 3) == lib


def test_paper_library_expressions():
    u, ux, uxx, uxxx = sympy.symbols("u u_x u_xx u_xxx")
    lib = polynomial_library()
    expected = [u**i * d for d in (1, ux, uxx, uxxx) for i in range(4)]
    assert [t.expr for t in lib] == expected


@pytest.mark.parametrize(
    "key, latex",
    [
        ("1", "1"),
        ("u", "u"),
        ("u**3", "u^{3}"),
        ("u_x", "u_{x}"),
        ("u*u_x", "u u_{x}"),
        ("u**2*u_xx", "u^{2} u_{xx}"),
        ("u**3*u_xxx", "u^{3} u_{xxx}"),
    ],
)
def test_paper_library_latex(key, latex):
    lib = polynomial_library()
    assert lib[key].latex == latex


def test_keys_parse_back_to_equal_terms():
    for lib in (
        polynomial_library(),
        polynomial_library("u v", "x", 3, 2),
        polynomial_library("u", "x y", 2, 2),
        TermLibrary(["sin(x)*u", "exp(-u)*u_x", "sqrt(u)", "u/(1 + u**2)", "u**(3/2)"], ["u"], ["x"]),
    ):
        for t in lib:
            back = Term.parse(t.key, lib.fields, lib.coords)
            assert back == t
            assert back.expr == t.expr
            assert hash(back) == hash(t)
            assert lib.index(t.key) == lib.terms.index(t)


def test_two_field_library_count_and_order():
    lib = polynomial_library(["u", "v"], ["x"], max_power=3, max_order=2)
    # monomials of degree <= 3 in (u, v): 1 + 2 + 3 + 4 = 10; derivative factors: 1, u_x, v_x, u_xx, v_xx = 5
    assert len(lib) == 50
    assert lib.names[:10] == ["1", "u", "v", "u^2", "u v", "v^2", "u^3", "u^2 v", "u v^2", "v^3"]
    assert lib.names[10:13] == ["u_x", "u u_x", "v u_x"]
    assert lib.names[-1] == "v^3 v_xx"
    assert [d.name for d in lib.derivatives] == ["u", "v", "u_x", "v_x", "u_xx", "v_xx"]


@pytest.mark.parametrize(
    "max_power, max_order, mixed, n_derivative_factors",
    [
        # 1, u_x, u_y, u_xx, u_xy, u_yy
        (3, 2, True, 6),
        # 1, u_x, u_y, u_xx, u_yy
        (3, 2, False, 5),
        # 1, u_x, u_y, u_xx, u_xy, u_yy, u_xxx, u_xxy, u_xyy, u_yyy
        (1, 3, True, 10),
        # 1, u_x, u_y, u_xx, u_yy, u_xxx, u_yyy
        (1, 3, False, 7),
    ],
)
def test_two_dimensional_library_counts(max_power, max_order, mixed, n_derivative_factors):
    lib = polynomial_library("u", "x y", max_power, max_order, mixed=mixed)
    assert len(lib) == (max_power + 1) * n_derivative_factors
    has_mixed = any(len(set(d.wrt)) > 1 for d in lib.derivatives)
    assert has_mixed == mixed


def test_two_dimensional_library_names():
    lib = polynomial_library("u", "x y", max_power=1, max_order=2)
    assert lib.names == [
        "1", "u", "u_x", "u u_x", "u_y", "u u_y", "u_xx", "u u_xx", "u_xy", "u u_xy", "u_yy", "u u_yy"
    ]  # fmt: skip
    assert lib.coords == ("x", "y")


def test_without_constant():
    lib = polynomial_library(include_constant=False)
    assert len(lib) == 15
    assert "1" not in lib.names
    assert lib.names == PAPER_NAMES[1:]


def test_derivatives_each_once_sorted_by_order():
    lib = polynomial_library()
    assert [d.name for d in lib.derivatives] == ["u", "u_x", "u_xx", "u_xxx"]
    assert lib.max_order == 3
    custom = TermLibrary(["u_xxx*u_x", "u*u_x", "u_xx", "u_x**2", "sin(x)"], ["u"], ["x"])
    names = [d.name for d in custom.derivatives]
    assert names == ["u", "u_x", "u_xx", "u_xxx"]
    assert len(names) == len(set(names))
    only_const = TermLibrary(["1"], ["u"], ["x"])
    assert only_const.derivatives == ()
    assert only_const.max_order == 0


def test_polynomial_library_rejects_bad_sizes():
    for bad in (-1, 1.5, True, "3", None):
        with pytest.raises(LibraryError, match="max_power must be an integer >= 0"):
            polynomial_library("u", "x", bad, 2)
        with pytest.raises(LibraryError, match="max_order must be an integer >= 0"):
            polynomial_library("u", "x", 2, bad)


def test_polynomial_library_zero_sizes():
    assert polynomial_library("u", "x", 0, 0).names == ["1"]
    with pytest.raises(LibraryError, match="library is empty"):
        polynomial_library("u", "x", 0, 0, include_constant=False)


# ------------------------------------------------------------------------------- names


@pytest.mark.parametrize("bad", ["u_x", "t", "sin", "exp", "pi", "E", "I", "1u", "u-v", "", "_u", "ü"])
def test_invalid_or_reserved_field_names(bad):
    with pytest.raises(LibraryError, match="invalid field name|at least one field name"):
        TermLibrary(["1"], [bad] if bad else [], ["x"])
    with pytest.raises(LibraryError, match="invalid field name|at least one field name"):
        polynomial_library([bad] if bad else [], ["x"])


@pytest.mark.parametrize("bad", ["t", "x_1", "cos", "2x"])
def test_invalid_or_reserved_coordinate_names(bad):
    with pytest.raises(LibraryError, match="invalid coordinate name"):
        TermLibrary(["u"], ["u"], [bad])


def test_invalid_name_message_explains_the_rules():
    with pytest.raises(LibraryError) as err:
        TermLibrary(["1"], ["u_x"], ["x"])
    msg = str(err.value)
    assert "'u_x'" in msg and "no '_'" in msg and "reserved" in msg and "sin" in msg


def test_non_string_name():
    with pytest.raises(LibraryError, match="invalid field name 1"):
        TermLibrary(["1"], [1], ["x"])


def test_duplicate_names():
    with pytest.raises(LibraryError, match="duplicate field names"):
        TermLibrary(["u"], ["u", "u"], ["x"])
    with pytest.raises(LibraryError, match="duplicate field names"):
        polynomial_library("u v u", "x")
    with pytest.raises(LibraryError, match="duplicate coordinate names"):
        TermLibrary(["u"], ["u"], "x x")


def test_fields_and_coordinates_must_differ():
    with pytest.raises(LibraryError, match="share a name"):
        TermLibrary(["u"], ["u", "x"], ["x"])


def test_empty_name_lists():
    with pytest.raises(LibraryError, match="at least one field name"):
        TermLibrary(["1"], [], ["x"])
    with pytest.raises(LibraryError, match="at least one coordinate name"):
        TermLibrary(["1"], ["u"], "  ")


# ------------------------------------------------------------------------------- custom terms


def test_custom_sympy_expression_term():
    u, x = sympy.symbols("u x")
    lib = TermLibrary([sympy.sin(x) * u, sympy.Symbol("u_x")], ["u"], ["x"])
    t = lib[0]
    assert t.key == "u*sin(x)"
    assert t.name == "u sin(x)"
    assert t.latex == sympy.latex(u * sympy.sin(x))
    assert t.coordinates_used == frozenset({"x"})
    assert t.derivatives == frozenset({Derivative("u")})
    assert not t.is_constant


def test_custom_string_term():
    lib = TermLibrary(["sin(x)*u", "exp(-u)*u_xx", "u^2"], ["u"], ["x"])
    assert lib.keys == ["u*sin(x)", "u_xx*exp(-u)", "u**2"]  # sympy's canonical order
    assert lib[1].derivatives == frozenset({Derivative("u"), Derivative("u", ("x", "x"))})
    assert lib[1].coordinates_used == frozenset()
    assert lib[2].name == "u^2"  # ^ is power in strings


def test_term_parse_is_safe():
    with pytest.raises(ParseError, match="unknown name '__import__'"):
        Term.parse("__import__('os')", ["u"], ["x"])
    with pytest.raises(ParseError, match="not allowed"):
        Term.parse("u.__class__", ["u"], ["x"])


def test_term_parse_max_order():
    assert Term.parse("u_xxxx", ["u"], ["x"], max_order=4).key == "u_xxxx"
    with pytest.raises(ParseError, match="unknown name 'u_xxxx'.*Did you mean 'u_xxx'"):
        Term.parse("u_xxxx", ["u"], ["x"], max_order=3)


def test_unknown_symbol_in_custom_term():
    w = sympy.Symbol("w")
    with pytest.raises(LibraryError, match=r"unknown symbol\(s\) \['w'\]"):
        TermLibrary([w * sympy.Symbol("u")], ["u"], ["x"])
    # derivatives with respect to a coordinate the library does not have, or time
    for name in ("u_y", "u_t", "u_", "v_x"):
        with pytest.raises(LibraryError, match=f"unknown symbol\\(s\\) \\['{name}'\\]"):
            TermLibrary([sympy.Symbol(name)], ["u"], ["x"])
    with pytest.raises(ParseError, match="unknown name 'w'"):
        TermLibrary(["w*u"], ["u"], ["x"])


def test_unknown_symbol_message_says_how_derivatives_are_written():
    with pytest.raises(LibraryError, match="written like u_xx"):
        TermLibrary([sympy.Symbol("q")], ["u"], ["x"])


def test_term_of_wrong_type():
    with pytest.raises(LibraryError, match="a term must be a Term, a sympy expression or a string"):
        TermLibrary([1.5], ["u"], ["x"])
    with pytest.raises(LibraryError, match="a term must be"):
        TermLibrary([None], ["u"], ["x"])


def test_term_from_another_library_is_rebuilt():
    t = Term.parse("u*u_x", ["u"], ["x"])
    lib = TermLibrary([t, "v"], ["u", "v"], ["x"])
    assert lib[0].fields == ("u", "v")
    assert lib[0] == t


def test_non_canonical_derivative_symbol_is_canonicalized():
    lib = TermLibrary([sympy.Symbol("u_yx")], ["u"], ["x", "y"])
    assert lib.keys == ["u_xy"]
    assert [d.name for d in lib.derivatives] == ["u_xy"]
    with pytest.raises(LibraryError, match="duplicate term"):
        TermLibrary([sympy.Symbol("u_yx"), sympy.Symbol("u_xy")], ["u"], ["x", "y"])


# ------------------------------------------------------------------------------- duplicates / empty


@pytest.mark.parametrize(
    "terms",
    [
        ["u", "u"],
        ["u", "2*u"],  # equal up to a constant factor
        ["u*u_x", "u_x*u"],
        ["1", "3"],
        ["u*(u + 1)", "u**2 + u"],  # equal after expansion
        ["-u_xx", "u_xx"],
    ],
)
def test_duplicate_terms_raise(terms):
    with pytest.raises(LibraryError, match="duplicate term"):
        TermLibrary(terms, ["u"], ["x"])


def test_duplicate_message_names_both():
    with pytest.raises(LibraryError, match="duplicate term '2 u' \\(same as 'u'"):
        TermLibrary(["u", "2*u"], ["u"], ["x"])


def test_empty_library_raises():
    with pytest.raises(LibraryError, match="library is empty"):
        TermLibrary([], ["u"], ["x"])
    with pytest.raises(LibraryError, match="library is empty"):
        TermLibrary(iter(()), ["u"], ["x"])


# ------------------------------------------------------------------------------- concatenation


def test_add_concatenates():
    base = polynomial_library("u", "x", max_power=1, max_order=2)
    extra = TermLibrary(["sin(x)*u"], ["u"], ["x"])
    both = base + extra
    assert len(both) == len(base) + 1 == 7
    assert both.names == ["1", "u", "u_x", "u u_x", "u_xx", "u u_xx", "u sin(x)"]
    assert both.terms[:6] == base.terms
    # the operands are unchanged
    assert len(base) == 6 and len(extra) == 1


def test_add_merges_fields_and_coords():
    a = TermLibrary(["u_x"], ["u"], ["x"])
    b = TermLibrary(["v_y"], ["v"], ["y"])
    c = a + b
    assert c.fields == ("u", "v") and c.coords == ("x", "y")
    assert c.keys == ["u_x", "v_y"]


def test_add_rejects_duplicates_and_non_libraries():
    a = polynomial_library("u", "x", 1, 1)
    with pytest.raises(LibraryError, match="duplicate term"):
        a + TermLibrary(["3*u_x"], ["u"], ["x"])
    with pytest.raises(TypeError):
        a + ["u_xx"]


# ------------------------------------------------------------------------------- index / select


def test_index_by_key_name_equivalent_string_and_term():
    lib = polynomial_library()
    assert lib.index("u*u_x") == 5  # key
    assert lib.index("u u_x") == 5  # name
    assert lib.index("u_x*u") == 5  # any string parsing to the same term
    assert lib.index("u^2*u_xx") == 10
    assert lib.index(lib.terms[7]) == 7  # Term
    assert lib.index(Term.parse("u_x*u", ["u"], ["x"])) == 5
    assert lib["u u_xxx"].key == "u*u_xxx"


@pytest.mark.parametrize("unknown", ["u_z", "u**4", "sin(u)", "not a term", "__import__('os')"])
def test_index_unknown_term_lists_the_library(unknown):
    lib = polynomial_library("u", "x", 1, 1)
    with pytest.raises(LibraryError) as err:
        lib.index(unknown)
    msg = str(err.value)
    assert f"unknown term {unknown!r}" in msg
    assert "the library has: 1, u, u_x, u u_x" in msg


def test_index_unknown_term_object():
    lib = polynomial_library("u", "x", 1, 1)
    with pytest.raises(LibraryError, match="unknown term 'u\\*\\*4'; the library has"):
        lib.index(Term.parse("u**4", ["u"], ["x"]))


def test_select_keeps_given_order():
    lib = polynomial_library()
    sub = lib.select(["u_xx", "u u_x", "u*u_xxx"])
    assert sub.names == ["u_xx", "u u_x", "u u_xxx"]
    assert sub.fields == lib.fields and sub.coords == lib.coords
    assert [d.name for d in sub.derivatives] == ["u", "u_x", "u_xx", "u_xxx"]
    with pytest.raises(LibraryError, match="unknown term 'u_xxxx'"):
        lib.select(["u", "u_xxxx"])
    with pytest.raises(LibraryError, match="duplicate term"):
        lib.select(["u", "u"])


# ------------------------------------------------------------------------------- small pieces


def test_derivative_and_symbols():
    d = Derivative("u", ("x", "x"))
    assert d.name == "u_xx" and str(d) == "u_xx" and d.order == 2
    assert d.symbol == sympy.Symbol("u_xx")
    assert Derivative("u").name == "u" and Derivative("u").order == 0
    assert derivative_symbol("u", "x", "y") == sympy.Symbol("u_xy")
    assert derivative_symbol("v") == sympy.Symbol("v")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("u", Derivative("u")),
        ("u_x", Derivative("u", ("x",))),
        ("u_xx", Derivative("u", ("x", "x"))),
        ("u_yx", Derivative("u", ("x", "y"))),  # sorted into coordinate order
        ("v_yyx", Derivative("v", ("x", "y", "y"))),
        ("u_", None),
        ("u_z", None),
        ("w_x", None),
        ("x", None),
        ("u_xt", None),
    ],
)
def test_parse_derivative_name(name, expected):
    assert parse_derivative_name(name, ("u", "v"), ("x", "y")) == expected


def test_parse_derivative_name_multi_letter_coordinates():
    d = parse_derivative_name("u_xix", ("u",), ("x", "xi"))
    assert d == Derivative("u", ("x", "xi"))


def test_symbol_table():
    table = symbol_table(("u",), ("x", "y"), max_order=2)
    assert set(table) == {"u", "x", "y", "u_x", "u_y", "u_xx", "u_xy", "u_yy"}
    assert all(table[k] == sympy.Symbol(k) for k in table)
    assert "u_xxxx" in symbol_table(("u",), ("x",))  # default max_order 4
    assert "u_xxxxx" not in symbol_table(("u",), ("x",))
    assert set(symbol_table(("u",), ("x",), max_order=None)) == {"u", "x"}


def test_library_symbols_and_equality_and_repr():
    lib = polynomial_library()
    syms = lib.symbols()
    assert "u_xxxx" in syms and "u_xxxxx" not in syms
    assert "u_xxxxxx" in lib.symbols(max_order=6)
    assert lib == polynomial_library()
    assert lib != polynomial_library(include_constant=False)
    assert lib != polynomial_library("u", "y")
    r = repr(lib)
    assert r.startswith("TermLibrary(16 terms: [1, u, u^2, u^3, u_x, u u_x, ...]")
    assert "fields=['u']" in r and "coords=['x']" in r
    assert repr(lib[5]) == "Term('u*u_x')" and str(lib[5]) == "u u_x"
    assert list(iter(lib)) == list(lib.terms)
    assert lib[1:3] == lib.terms[1:3]


def test_term_docstring_example():
    t = Term.parse("u**2*u_xx", fields=["u"], coords=["x"])
    assert (t.name, t.key, t.latex) == ("u^2 u_xx", "u**2*u_xx", "u^{2} u_{xx}")
    assert sorted(str(d) for d in t.derivatives) == ["u", "u_xx"]
    assert Term.parse("3", ["u"], ["x"]).is_constant
