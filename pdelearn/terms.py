"""Candidate terms and term libraries, defined with sympy only (no torch here).

A *term* is a sympy expression in the fields (``u``, ``v``), their partial derivatives over the
space coordinates (symbols named ``u_x``, ``u_xx``, ``v_xy``) and the coordinates themselves. A
*library* is an ordered, duplicate-free tuple of terms. Both the differentiable residual
(:mod:`pdelearn.compile`) and the printed equation (:mod:`pdelearn.equation`) are generated from
these expressions.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sympy

from .errors import LibraryError, ParseError
from .limits import MAX_DERIVATIVE_ORDER, MAX_EXPANSION_WORK, MAX_LIBRARY_TERMS, MAX_POLYNOMIAL_POWER
from .parsing import FUNCTIONS, expansion_cost, safe_expr

__all__ = ["Derivative", "Term", "TermLibrary", "polynomial_library", "derivative_symbol", "placeholder_coord",
           "register_bridge", "bridge"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_RESERVED = frozenset(FUNCTIONS) | {"t", "I", "S", "N", "O", "Q"}


@dataclass(frozen=True, order=True)
class Derivative:
    """A partial derivative of one field: ``Derivative("u", ("x", "x"))`` is ``u_xx``.

    ``wrt`` lists one coordinate per differentiation, in the library's coordinate order; an empty
    tuple is the field itself.
    """

    field: str
    wrt: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.field + ("_" + "".join(self.wrt) if self.wrt else "")

    @property
    def order(self) -> int:
        return len(self.wrt)

    @property
    def symbol(self) -> sympy.Symbol:
        return sympy.Symbol(self.name)

    def __str__(self) -> str:
        return self.name


def derivative_symbol(field: str, *wrt: str) -> sympy.Symbol:
    """The sympy symbol of a derivative: ``derivative_symbol("u", "x", "x")`` is ``u_xx``."""
    return Derivative(field, tuple(wrt)).symbol


def _check_names(kind: str, names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [n for n in re.split(r"[,\s]+", names) if n]
    names = tuple(names)
    if not names:
        raise LibraryError(f"at least one {kind} name is needed, received none")
    for n in names:
        if not isinstance(n, str) or not _NAME.match(n) or n in _RESERVED:
            raise LibraryError(
                f"invalid {kind} name {n!r}: use letters and digits starting with a letter, no '_' "
                f"(the underscore introduces derivatives, as in u_xx), and none of the reserved names "
                f"{', '.join(sorted(_RESERVED))}"
            )
    if len(set(names)) != len(names):
        raise LibraryError(f"duplicate {kind} names in {names}")
    return names


class Term:
    """One candidate term of a library.

    Parameters
    ----------
    expr
        A sympy expression in field symbols, derivative symbols (``u_xx``) and coordinate symbols, or
        a string such as ``"u*u_x"``, read by the safe parser (:func:`pdelearn.parsing.safe_expr`).
    fields, coords
        The field and space-coordinate names of the library the term belongs to.

    Examples
    --------
    >>> t = Term.parse("u**2*u_xx", fields=["u"], coords=["x"])
    >>> t.name, t.key, t.latex
    ('u^2 u_xx', 'u**2*u_xx', 'u^{2} u_{xx}')
    >>> sorted(str(d) for d in t.derivatives)
    ['u', 'u_xx']
    """

    def __init__(self, expr: sympy.Expr, fields: Sequence[str], coords: Sequence[str]):
        self.fields = tuple(fields)
        self.coords = tuple(coords)
        if isinstance(expr, str):  # strings go through the safe parser: sympify would run them as code
            expr = safe_expr(expr, symbol_table(self.fields, self.coords, max_order=6), what="term")
        elif isinstance(expr, (int, float)) and not isinstance(expr, bool):
            expr = sympy.Float(expr) if isinstance(expr, float) else sympy.Integer(expr)
        elif not isinstance(expr, sympy.Expr):
            raise LibraryError(f"a term must be a sympy expression or a string such as 'u*u_x', received "
                               f"{type(expr).__name__}: {expr!r}")
        self.expr = expr
        canonical = {}  # u_yx -> u_xy
        for s in self.expr.free_symbols:
            d = parse_derivative_name(s.name, self.fields, self.coords)
            if d is not None and d.name != s.name:
                canonical[s] = d.symbol
        self.expr = self.expr.xreplace(canonical)
        known = symbol_table(self.fields, self.coords, max_order=None, free=self.expr.free_symbols)
        unknown = {s.name for s in self.expr.free_symbols} - set(known)
        if unknown:
            raise LibraryError(
                f"term {self.expr} uses unknown symbol(s) {sorted(unknown)}; fields are {list(self.fields)}, "
                f"coordinates {list(self.coords)}, derivatives are written like "
                f"{self.fields[0]}_{self.coords[0]}{self.coords[0]}"
            )
        _check_term(self)

    @classmethod
    def parse(cls, text: str, fields: Sequence[str], coords: Sequence[str], max_order: int = 6) -> "Term":
        """Parse a term such as ``"u*u_x"`` or ``"sin(x)*u"`` safely (no code is executed)."""
        table = symbol_table(tuple(fields), tuple(coords), max_order=max_order)
        return cls(safe_expr(text, table, what="term"), fields, coords)

    # -- identity ---------------------------------------------------------------------------
    @cached_property
    def key(self) -> str:
        """Canonical sympy string (``u**2*u_xx``), parsable back with :meth:`parse`."""
        return sympy.sstr(self.expr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Term({self.key!r})"

    def __str__(self) -> str:
        return self.name

    # -- printing -----------------------------------------------------------------------------
    @cached_property
    def name(self) -> str:
        """Readable name: ``u^2 u_xx``, ``u v``, ``1``."""
        return _pretty(self.expr, self._order)

    @cached_property
    def latex(self) -> str:
        """LaTeX: ``u^{2} u_{xx}``."""
        return _latex(self.expr, self._order)

    @cached_property
    def _order(self) -> dict[str, tuple]:
        ranks: dict[str, tuple] = {}
        for i, f in enumerate(self.fields):
            ranks[f] = (0, i, 0)
        for s in self.expr.free_symbols:
            d = parse_derivative_name(s.name, self.fields, self.coords)
            if d is not None and d.order:
                ranks[s.name] = (1, self.fields.index(d.field), d.order, tuple(self.coords.index(c) for c in d.wrt))
        for i, c in enumerate(self.coords):
            ranks[c] = (2, i, 0)
        return ranks

    # -- derivatives --------------------------------------------------------------------------
    @cached_property
    def derivatives(self) -> frozenset[Derivative]:
        """The fields and derivatives the term needs (coordinates are not included)."""
        out = set()
        for s in self.expr.free_symbols:
            d = parse_derivative_name(s.name, self.fields, self.coords)
            if d is not None:
                out.add(d)
        return frozenset(out)

    @cached_property
    def coordinates_used(self) -> frozenset[str]:
        return frozenset(s.name for s in self.expr.free_symbols if s.name in self.coords)

    @property
    def is_constant(self) -> bool:
        return not self.expr.free_symbols


def _check_term(term: Term) -> None:
    """Numeric exponents only (``u**u`` cannot be evaluated) and derivatives up to MAX_DERIVATIVE_ORDER."""
    for p in term.expr.atoms(sympy.Pow):
        if p.exp.free_symbols:
            raise LibraryError(f"term {str(term.expr)[:80]} raises to the power {str(p.exp)[:40]}, which depends on "
                               "the data; exponents must be numbers (u**2, u**0.5); write exp(u*log(u)) for u**u")
    order = max((d.order for d in term.derivatives), default=0)
    MAX_DERIVATIVE_ORDER.check(order, f"the derivative order of term {str(term.expr)[:80]}")


def parse_derivative_name(name: str, fields: Sequence[str], coords: Sequence[str]) -> Derivative | None:
    """``"u_xx"`` -> ``Derivative("u", ("x", "x"))``; ``"u"`` -> ``Derivative("u")``; else None.

    Coordinate letters may come in any order (``u_yx`` is ``u_xy``); they are sorted into the
    library's coordinate order.
    """
    field, _, rest = name.partition("_")
    if field not in fields:
        return None
    if not _:
        return Derivative(field)
    wrt = _split_coords(rest, coords)
    if wrt is None or not wrt:
        return None
    return Derivative(field, tuple(sorted(wrt, key=coords.index)))


def _split_coords(text: str, coords: Sequence[str]) -> list[str] | None:
    """Split ``"xxy"`` into coordinate names (greedy on the longest name)."""
    out = []
    i = 0
    names = sorted(coords, key=len, reverse=True)
    while i < len(text):
        for c in names:
            if text.startswith(c, i):
                out.append(c)
                i += len(c)
                break
        else:
            return None
    return out


def symbol_table(
    fields: Sequence[str], coords: Sequence[str], max_order: int | None = 4, free: Iterable[sympy.Symbol] = ()
) -> dict[str, sympy.Symbol]:
    """Names -> symbols for fields, coordinates and derivatives up to ``max_order``.

    With ``max_order=None`` only the derivative names among ``free`` are added.
    """
    table = {f: sympy.Symbol(f) for f in fields}
    table.update({c: sympy.Symbol(c) for c in coords})
    if max_order is not None:
        MAX_DERIVATIVE_ORDER.check(max_order, "the derivative order (max_order)")
        for f in fields:
            for order in range(1, max_order + 1):
                for wrt in itertools.combinations_with_replacement(coords, order):
                    d = Derivative(f, wrt)
                    table[d.name] = d.symbol
    for s in free:
        if parse_derivative_name(s.name, fields, coords) is not None:
            table[s.name] = s
    return table


def _factors(expr: sympy.Expr, order: dict[str, tuple]):
    """Split a monomial into ``(base_name, exponent)`` pairs in display order, or None."""
    coeff, rest = expr.as_coeff_Mul()
    if coeff != 1:
        return None
    pairs = []
    for f in sympy.Mul.make_args(rest):
        base, exp = f.as_base_exp()
        if not isinstance(base, sympy.Symbol) or not (exp.is_Integer and exp > 0):
            return None
        pairs.append((base.name, int(exp)))
    return sorted(pairs, key=lambda p: order.get(p[0], (3, p[0])))


def _pretty(expr: sympy.Expr, order: dict[str, tuple]) -> str:
    if expr == 1:
        return "1"
    pairs = _factors(expr, order)
    if pairs is None:
        return sympy.sstr(expr).replace("**", "^").replace("*", " ")
    return " ".join(n if e == 1 else f"{n}^{e}" for n, e in pairs)


def _latex(expr: sympy.Expr, order: dict[str, tuple]) -> str:
    if expr == 1:
        return "1"
    pairs = _factors(expr, order)
    if pairs is None:
        return sympy.latex(expr)
    parts = []
    for n, e in pairs:
        base = sympy.latex(sympy.Symbol(n))
        parts.append(base if e == 1 else f"{base}^{{{e}}}")
    return " ".join(parts)


def _check_work(terms: Sequence[Term]) -> None:
    """Refuse a library whose terms are too costly to expand (MAX_EXPANSION_WORK), before expanding any."""
    try:
        work = sum(expansion_cost(t.expr)[1] for t in terms)
    except RecursionError:
        work = float("inf")
    MAX_EXPANSION_WORK.check(int(min(work, 1e18)), "the expansion work of the library's terms", LibraryError)


class TermLibrary:
    """An ordered, duplicate-free collection of :class:`Term`.

    Parameters
    ----------
    terms
        Terms, sympy expressions or strings (parsed safely).
    fields
        Field names, e.g. ``["u"]`` or ``["u", "v"]``.
    coords
        Space-coordinate names, e.g. ``["x"]`` or ``["x", "y"]``. Time (``t``) is not a library
        coordinate: it appears only on the left-hand side ``u_t``.

    Examples
    --------
    >>> lib = polynomial_library(["u"], ["x"], max_power=1, max_order=2)
    >>> lib.names
    ['1', 'u', 'u_x', 'u u_x', 'u_xx', 'u u_xx']
    >>> lib2 = lib + TermLibrary(["sin(x)*u"], fields=["u"], coords=["x"])
    >>> len(lib2), lib2.names[-1]
    (7, 'u sin(x)')
    """

    def __init__(self, terms: Iterable[Term | sympy.Expr | str], fields: Sequence[str], coords: Sequence[str]):
        self.fields = _check_names("field", fields)
        self.coords = _check_names("coordinate", coords)
        if set(self.fields) & set(self.coords):
            raise LibraryError(f"fields {self.fields} and coordinates {self.coords} share a name")
        terms = list(terms) if not isinstance(terms, (list, tuple)) else terms
        MAX_LIBRARY_TERMS.check(len(terms), "the number of terms of the library")  # before parsing any of them
        out: list[Term] = []
        for t in terms:
            if isinstance(t, Term):
                if t.fields != self.fields or t.coords != self.coords:
                    t = Term(t.expr, self.fields, self.coords)
            elif isinstance(t, str):
                t = Term.parse(t, self.fields, self.coords)
            elif isinstance(t, sympy.Basic):
                t = Term(t, self.fields, self.coords)
            else:
                raise LibraryError(f"a term must be a Term, a sympy expression or a string, received {t!r}")
            out.append(t)
        if not out:
            raise LibraryError("the term library is empty; add at least one term (e.g. polynomial_library(...))")
        _check_work(out)
        seen: dict[sympy.Expr, Term] = {}
        for t in out:
            canon = sympy.expand(t.expr).as_coeff_Mul()[1]
            if canon in seen:
                raise LibraryError(
                    f"duplicate term {t.name!r} (same as {seen[canon].name!r} up to a constant factor); "
                    "remove one of them"
                )
            seen[canon] = t
        self.terms: tuple[Term, ...] = tuple(out)

    # -- container --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self):
        return iter(self.terms)

    def __getitem__(self, i):
        if isinstance(i, str):
            return self.terms[self.index(i)]
        return self.terms[i]

    def __add__(self, other: "TermLibrary") -> "TermLibrary":
        if not isinstance(other, TermLibrary):
            return NotImplemented
        fields = self.fields + tuple(f for f in other.fields if f not in self.fields)
        coords = self.coords + tuple(c for c in other.coords if c not in self.coords)
        return TermLibrary([t.expr for t in self.terms + other.terms], fields, coords)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TermLibrary) and (self.fields, self.coords, self.terms) == (
            other.fields,
            other.coords,
            other.terms,
        )

    def __repr__(self) -> str:
        shown = ", ".join(self.names[:6]) + (", ..." if len(self) > 6 else "")
        return f"TermLibrary({len(self)} terms: [{shown}], fields={list(self.fields)}, coords={list(self.coords)})"

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.terms]

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.terms]

    def index(self, term: str | Term) -> int:
        """Position of a term given by key (``u*u_x``), name (``u u_x``) or :class:`Term`."""
        if isinstance(term, str):
            for i, t in enumerate(self.terms):
                if term in (t.key, t.name):
                    return i
            try:
                parsed = Term.parse(term, self.fields, self.coords)
            except (ParseError, LibraryError):
                parsed = None
            if parsed is not None and parsed in self.terms:
                return self.terms.index(parsed)
            raise LibraryError(f"unknown term {term!r}; the library has: {', '.join(self.names)}")
        return self.terms.index(term) if term in self.terms else self.index(getattr(term, "key", str(term)))

    def select(self, terms: Iterable[str | Term]) -> "TermLibrary":
        """A sub-library with the given terms, in the given order."""
        return TermLibrary([self.terms[self.index(t)] for t in terms], self.fields, self.coords)

    @cached_property
    def derivatives(self) -> tuple[Derivative, ...]:
        """Every field and derivative any term needs, each once, sorted by order."""
        ds = set().union(*(t.derivatives for t in self.terms))
        return tuple(sorted(ds, key=lambda d: (d.order, self.fields.index(d.field), d.wrt)))

    @property
    def max_order(self) -> int:
        return max((d.order for d in self.derivatives), default=0)

    def to_pysindy(self, spatial_grid=None, spatiotemporal_grid=None, **kwargs):
        """This library as a PySINDy feature library (same terms and order, pdelearn's names).

        See :func:`pdelearn.pysindy.library_to_pysindy` (needs ``pip install 'pdelearn[pysindy]'``).
        """
        return bridge("pysindy").library_to_pysindy(self, spatial_grid, spatiotemporal_grid, **kwargs)

    @classmethod
    def from_pysindy(cls, lib, fields=None, coords=None, custom=None) -> "TermLibrary":
        """A fitted PySINDy feature library as a TermLibrary (see :func:`pdelearn.pysindy.library_from_pysindy`)."""
        return bridge("pysindy").library_from_pysindy(lib, fields, coords, custom)

    def symbols(self, max_order: int | None = None) -> dict[str, sympy.Symbol]:
        """Names -> symbols usable in expressions over this library's variables."""
        return symbol_table(self.fields, self.coords, max_order=max(self.max_order, max_order or 0, 4))


def polynomial_library(
    fields: Sequence[str] | str = ("u",),
    coords: Sequence[str] | str = ("x",),
    max_power: int = 3,
    max_order: int = 3,
    *,
    mixed: bool = True,
    include_constant: bool = True,
) -> TermLibrary:
    """The products ``(monomial in the fields of degree <= max_power) * (one derivative)``.

    For one field and one coordinate this is ``u^i * d^j u / dx^j`` for ``i in 0..max_power`` and
    ``j in 0..max_order`` (``max_power = max_order = 3`` gives the paper's 16 terms). With several
    fields the monomials are all products of fields up to total degree ``max_power`` and the
    derivative factor is a derivative of any field; with several coordinates derivatives of every
    multi-index up to ``max_order`` are included (pure ones only with ``mixed=False``).

    Examples
    --------
    >>> lib = polynomial_library("u", "x", 3, 3)
    >>> len(lib), lib.names[:5], lib.names[-1]
    (16, ['1', 'u', 'u^2', 'u^3', 'u_x'], 'u^3 u_xxx')
    >>> len(polynomial_library("u v", "x", 3, 2))
    50
    """
    fields = _check_names("field", fields)
    coords = _check_names("coordinate", coords)
    for label, v in (("max_power", max_power), ("max_order", max_order)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise LibraryError(f"{label} must be an integer >= 0, received {v!r}")
    MAX_POLYNOMIAL_POWER.check(max_power, "max_power")
    MAX_DERIVATIVE_ORDER.check(max_order, "max_order")
    n_mono = math.comb(len(fields) + max_power, max_power)
    n_deriv = 1 + len(fields) * sum(math.comb(len(coords) + k - 1, k) if mixed else len(coords)
                                    for k in range(1, max_order + 1))
    MAX_LIBRARY_TERMS.check(n_mono * n_deriv - (0 if include_constant else 1),
                            f"the number of terms of a polynomial library with max_power={max_power}, "
                            f"max_order={max_order}, {len(fields)} field(s) and {len(coords)} coordinate(s)")
    syms = [sympy.Symbol(f) for f in fields]
    monomials: list[sympy.Expr] = []
    for degree in range(0, max_power + 1):
        for combo in itertools.combinations_with_replacement(range(len(fields)), degree):
            m = sympy.Integer(1)
            for i in combo:
                m = m * syms[i]
            monomials.append(m)
    derivs: list[sympy.Expr] = [sympy.Integer(1)]
    for order in range(1, max_order + 1):
        for f in fields:
            for wrt in itertools.combinations_with_replacement(coords, order):
                if not mixed and len(set(wrt)) > 1:
                    continue
                derivs.append(Derivative(f, wrt).symbol)
    terms = [m * d for d in derivs for m in monomials]
    if not include_constant:
        terms = [t for t in terms if t != 1]
    return TermLibrary(terms, fields, coords)


#: Coordinate names for a system without space derivatives (ODEs), in order of preference: pdelearn's libraries and
#: equations still name one coordinate, the first of these that is not a field (``s`` for the states x, y, z).
PLACEHOLDER_COORDS = ("x", "s", "r", "q", "xi")


def placeholder_coord(fields: Sequence[str]) -> str:
    """The coordinate of an equation or library with no space derivative: the first of :data:`PLACEHOLDER_COORDS`
    (then ``s0, s1, ...``) that is not among ``fields``, so that no name is a field and a coordinate at once."""
    more = (f"s{i}" for i in itertools.count())
    return next(c for c in itertools.chain(PLACEHOLDER_COORDS, more) if c not in fields)


# Bridges to other libraries' objects (``TermLibrary.to_pysindy``, ``Equation.from_pysindy``). The core imports
# no bridge: a layer above it registers a loader here (the package's ``__init__`` plugs in ``pdelearn.pysindy``,
# loaded on first use), and the core only calls what was registered.
_BRIDGES: dict[str, Callable[[], Any]] = {}


def register_bridge(name: str, load: Callable[[], Any]) -> None:
    """Offer the bridge ``name``: ``load()`` returns an object (a module) holding the bridge's functions; it is
    called each time a method of the core needs them, so an optional dependency is imported on first use."""
    _BRIDGES[name] = load


def bridge(name: str) -> Any:
    """The functions of the bridge ``name`` (see :func:`register_bridge`)."""
    load = _BRIDGES.get(name)
    if load is None:
        raise ImportError(f"no {name} bridge is registered; import pdelearn.{name} first")
    return load()
