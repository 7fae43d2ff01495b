"""The readout: a discovered or stated equation as plain data (no torch).

An :class:`Equation` is ``lhs = sum_k c_k * term_k`` with non-zero coefficients only. It prints
itself (``u_t = 0.1 u_xx - 1 u u_x``), converts to sympy and LaTeX, round-trips through JSON, and
parses from a string without executing code. :class:`EquationSystem` holds one equation per field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
import sympy

from .errors import LibraryError, ParseError
from .limits import MAX_LIBRARY_TERMS
from .parsing import ExpansionBudget, safe_expr, split_equation, split_summands
from .terms import Term, TermLibrary, bridge, placeholder_coord, symbol_table

__all__ = ["Equation", "EquationSystem", "parse_equation", "load_equation", "format_number"]

_LHS = re.compile(r"^([A-Za-z][A-Za-z0-9]*)_t$")


def format_number(c: float, digits: int = 4) -> str:
    """``0.0001`` -> ``'0.0001'``, ``-5.0`` -> ``'-5'``, ``1.23456e-6`` -> ``'1.235e-06'``."""
    return f"{c:.{digits}g}"


def _latex_number(c: float, digits: int = 4) -> str:
    s = f"{c:.{digits}g}"
    if "e" in s:
        mant, exp = s.split("e")
        mant = "" if mant in ("1", "-1") else mant + r" \cdot "
        sign = "-" if c < 0 and mant == "" else ""
        return f"{sign}{mant}10^{{{int(exp)}}}"
    return s


class Equation:
    """``lhs = sum_k c_k term_k``.

    Parameters
    ----------
    lhs
        Left-hand side, a time derivative such as ``"u_t"``.
    coefficients
        Mapping from terms (:class:`~pdelearn.terms.Term` or their keys such as ``"u*u_x"``) to
        coefficients. Zero coefficients are dropped. Order is kept for printing.
    fields, coords
        Field names and space coordinates; inferred from ``lhs`` and the terms when omitted.
    intervals
        Optional ``{term key: (low, high)}`` uncertainty intervals.

    Examples
    --------
    >>> eq = Equation.parse("u_t = 0.0001*u_xx - 5*u**3 + 5*u")
    >>> print(eq)
    u_t = 0.0001 u_xx - 5 u^3 + 5 u
    >>> eq.latex()
    'u_{t} = 0.0001 u_{xx} - 5 u^{3} + 5 u'
    >>> eq.to_dict()["terms"]
    {'u_xx': 0.0001, 'u**3': -5.0, 'u': 5.0}
    >>> Equation.from_dict(eq.to_dict()) == eq
    True
    """

    def __init__(
        self,
        lhs: str,
        coefficients: Union[Mapping[Term, float], Mapping[str, float], Mapping[Union[Term, str], float]],
        fields: Sequence[str] | None = None,
        coords: Sequence[str] | None = None,
        intervals: Mapping[str, Sequence[float]] | None = None,
    ):
        field = _lhs_field(lhs)
        MAX_LIBRARY_TERMS.check(len(coefficients), f"the number of terms of equation {lhs!r}", ParseError)
        fields = tuple(fields) if fields is not None else (field,)
        if field not in fields:
            raise ParseError(f"left-hand side {lhs!r} is not the time derivative of a field in {list(fields)}")
        coords = tuple(coords) if coords is not None else _infer_coords(
            [k.key if isinstance(k, Term) else k for k in coefficients], fields
        )
        _check_distinct(fields, coords)
        self.lhs = lhs
        self.fields = fields
        self.coords = coords
        self.terms: dict[Term, float] = {}
        for k, c in coefficients.items():
            term = k if isinstance(k, Term) and k.fields == fields and k.coords == coords else (
                Term(k.expr, fields, coords) if isinstance(k, Term) else Term.parse(k, fields, coords)
            )
            c = float(c)
            if not math.isfinite(c):
                raise ParseError(f"coefficient of {term.name!r} must be finite, received {c}")
            if c != 0.0:
                self.terms[term] = self.terms.get(term, 0.0) + c
        self.terms = {t: c for t, c in self.terms.items() if c != 0.0}  # keys of one term may cancel
        self.intervals = {str(k): (float(v[0]), float(v[1])) for k, v in (intervals or {}).items()}

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, fields: Sequence[str] | None = None, coords: Sequence[str] | None = None) -> "Equation":
        """Parse ``"u_t = 0.0001*u_xx - 5*u**3 + 5*u"`` safely (no code is executed).

        The right-hand side is expanded into a sum of (number) * (term); the order in which terms
        first appear is kept. Unknown names, Python code and time derivatives on the right-hand
        side raise :class:`~pdelearn.errors.ParseError`.
        """
        lhs, rhs = split_equation(text)
        field = _lhs_field(lhs)
        fields = tuple(fields) if fields is not None else (field,)
        if coords is None:
            names = re.findall(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?", rhs)
            coords = _infer_coords(names, fields)
        _check_distinct(fields, coords)
        table = symbol_table(fields, coords, max_order=6)
        coefficients: dict[Term, float] = {}
        budget = ExpansionBudget(f"equation {text[:60]!r}")  # one budget for all summands, spent before expanding
        parsed = [safe_expr(chunk, table, what="equation right-hand side", budget=budget) for chunk in split_summands(rhs)]
        for expr in parsed:
            expr = sympy.expand(expr)
            for arg in sympy.Add.make_args(expr):
                if arg == 0:
                    continue
                num, sym = arg.as_independent(*arg.free_symbols, as_Add=False)
                if not arg.free_symbols:
                    num, sym = arg, sympy.Integer(1)
                try:
                    value = float(num)
                except TypeError:
                    raise ParseError(f"cannot read a numeric coefficient in {arg} of {text!r}") from None
                term = Term(sym, fields, coords)
                coefficients[term] = coefficients.get(term, 0.0) + value
        return cls(lhs, coefficients, fields, coords)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Equation":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping) or "lhs" not in data or "terms" not in data:
            raise ParseError(
                "an equation must be a mapping with keys 'lhs' and 'terms', e.g. "
                '{"lhs": "u_t", "terms": {"u_xx": 0.1}}; received ' + repr(data)[:200]
            )
        terms = data["terms"]
        if not isinstance(terms, Mapping):
            raise ParseError(f"'terms' must map term names to numbers, received {type(terms).__name__}")
        MAX_LIBRARY_TERMS.check(len(terms), "the number of terms of the equation", ParseError)
        intervals = data.get("intervals")
        if isinstance(intervals, Mapping):
            MAX_LIBRARY_TERMS.check(len(intervals), "the number of intervals of the equation", ParseError)
        for k, v in terms.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParseError(f"coefficient of {k!r} must be a number, received {v!r}")
        return cls(data["lhs"], dict(terms), data.get("fields"), data.get("coords"), data.get("intervals"))

    @classmethod
    def from_pysindy(cls, model, fields=None, coords=None, custom=None) -> Union["Equation", "EquationSystem"]:
        """A fitted ``pysindy.SINDy`` model as an Equation (an EquationSystem for several targets).

        See :func:`pdelearn.pysindy.equation_from_pysindy` (needs ``pip install 'pdelearn[pysindy]'``).
        """
        return bridge("pysindy").equation_from_pysindy(model, fields, coords, custom)

    # -- views -------------------------------------------------------------------------------
    @property
    def field(self) -> str:
        return _lhs_field(self.lhs)

    @property
    def coefficients(self) -> dict[str, float]:
        """``{term key: coefficient}``, e.g. ``{"u*u_x": -1.0, "u_xx": 0.1}``."""
        return {t.key: c for t, c in self.terms.items()}

    @property
    def support(self) -> frozenset[str]:
        return frozenset(self.coefficients)

    def library(self) -> TermLibrary:
        """The terms of this equation as a library (for the residual of a known equation)."""
        if not self.terms:
            raise LibraryError(f"equation {self} has no terms; its library would be empty")
        return TermLibrary(list(self.terms), self.fields, self.coords)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Equation)
            and self.lhs == other.lhs
            and self.coefficients == other.coefficients
            and self.fields == other.fields
            and self.coords == other.coords
        )

    def __repr__(self) -> str:
        return f"Equation({str(self)!r})"

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 4) -> str:
        """Readable text; ``digits`` significant digits per coefficient."""
        parts = []
        for i, (t, c) in enumerate(self.terms.items()):
            num = format_number(abs(c), digits)
            body = num if t.is_constant else f"{num} {t.name}"
            parts.append(("-" if c < 0 else "") + body if i == 0 else ("- " if c < 0 else "+ ") + body)
        return f"{self.lhs} = " + (" ".join(parts) if parts else "0")

    def sympy(self) -> sympy.Eq:
        """``sympy.Eq(u_t, 0.1*u_xx - u*u_x)`` with float coefficients."""
        rhs = sum((sympy.Float(c) * t.expr for t, c in self.terms.items()), sympy.Integer(0))
        return sympy.Eq(sympy.Symbol(self.lhs), rhs, evaluate=False)

    def latex(self, digits: int = 4) -> str:
        """LaTeX of the equation (no surrounding ``$``)."""
        parts = []
        for i, (t, c) in enumerate(self.terms.items()):
            num = _latex_number(abs(c), digits)
            body = num if t.is_constant else (f"{num} {t.latex}" if num else t.latex)
            parts.append(("-" if c < 0 else "") + body if i == 0 else ("- " if c < 0 else "+ ") + body)
        return sympy.latex(sympy.Symbol(self.lhs)) + " = " + (" ".join(parts) if parts else "0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"lhs", "terms": {key: coef}, "fields", "coords"[, "intervals"]}``."""
        out: dict[str, Any] = {
            "lhs": self.lhs,
            "terms": self.coefficients,
            "fields": list(self.fields),
            "coords": list(self.coords),
        }
        if self.intervals:
            out["intervals"] = {k: list(v) for k, v in self.intervals.items()}
        return out

    # -- comparison ------------------------------------------------------------------------
    def compare(self, truth: "Equation") -> dict[str, Any]:
        """Support match and coefficient errors against a known equation.

        Returns ``{"exact_support", "missing", "extra", "max_rel_error"}``; the relative error is
        taken over the true terms (a missing term counts as 100 %).
        """
        mine, true = self.coefficients, truth.coefficients
        errs = [abs(mine.get(k, 0.0) - v) / abs(v) for k, v in true.items()]
        return {
            "exact_support": set(mine) == set(true),
            "missing": sorted(set(true) - set(mine)),
            "extra": sorted(set(mine) - set(true)),
            "max_rel_error": max(errs) if errs else 0.0,
        }


class EquationSystem:
    """One :class:`Equation` per field, e.g. a reaction-diffusion or Schroedinger system.

    Examples
    --------
    >>> sys = EquationSystem.parse(["a_t = -0.5*b_xx", "b_t = 0.5*a_xx"])
    >>> print(sys)
    a_t = -0.5 b_xx
    b_t = 0.5 a_xx
    """

    def __init__(self, equations: Sequence[Equation]):
        eqs = list(equations)
        if not eqs:
            raise ParseError("an equation system needs at least one equation")
        fields = tuple(dict.fromkeys(f for e in eqs for f in e.fields))
        coords = tuple(dict.fromkeys(c for e in eqs for c in e.coords))
        self.equations = [
            e if (e.fields, e.coords) == (fields, coords) else Equation(e.lhs, e.coefficients, fields, coords, e.intervals)
            for e in eqs
        ]
        lhs = [e.lhs for e in self.equations]
        if len(set(lhs)) != len(lhs):
            raise ParseError(f"each field needs exactly one equation; left-hand sides {lhs} repeat")
        self.fields, self.coords = fields, coords

    @classmethod
    def parse(cls, texts: Sequence[str], fields: Sequence[str] | None = None, coords: Sequence[str] | None = None):
        if isinstance(texts, str):
            texts = [t for t in re.split(r"[;\n]", texts) if t.strip()]
        if fields is None:
            fields = [_lhs_field(split_equation(t)[0]) for t in texts]
        if coords is None:
            names = re.findall(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?", " ".join(split_equation(t)[1] for t in texts))
            coords = _infer_coords(names, tuple(fields))
        return cls([Equation.parse(t, fields, coords) for t in texts])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EquationSystem":
        eqs = data.get("equations") if isinstance(data, Mapping) else None
        if not isinstance(eqs, list):
            raise ParseError("an equation system must be a mapping with a list 'equations'")
        sizes = [len(e["terms"]) for e in eqs if isinstance(e, Mapping) and isinstance(e.get("terms"), Mapping)]
        MAX_LIBRARY_TERMS.check(max(len(eqs), sum(sizes)), "the number of terms of the equation system", ParseError)
        return cls([Equation.from_dict({"fields": data.get("fields"), "coords": data.get("coords"), **e}) for e in eqs])

    def __iter__(self):
        return iter(self.equations)

    def __len__(self) -> int:
        return len(self.equations)

    def __getitem__(self, i: int) -> Equation:
        return self.equations[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EquationSystem) and self.equations == other.equations

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.equations)

    def __repr__(self) -> str:
        return f"EquationSystem({[str(e) for e in self.equations]!r})"

    def format(self, digits: int = 4) -> str:
        return "\n".join(e.format(digits) for e in self.equations)

    def sympy(self) -> list[sympy.Eq]:
        return [e.sympy() for e in self.equations]

    def latex(self, digits: int = 4) -> str:
        rows = [e.latex(digits).replace(" = ", " &= ", 1) for e in self.equations]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def to_dict(self) -> dict[str, Any]:
        eqs = []
        for e in self.equations:
            d = e.to_dict()
            d.pop("fields"), d.pop("coords")
            eqs.append(d)
        return {"equations": eqs, "fields": list(self.fields), "coords": list(self.coords)}

    def compare(self, truth: "EquationSystem") -> dict[str, Any]:
        by_lhs = {e.lhs: e for e in self.equations}
        rows = []
        for t in truth.equations:
            mine = by_lhs.get(t.lhs, Equation(t.lhs, {}, self.fields, self.coords))
            rows.append(mine.compare(t))
        return {
            "exact_support": all(r["exact_support"] for r in rows),
            "missing": [m for r in rows for m in r["missing"]],
            "extra": [m for r in rows for m in r["extra"]],
            "max_rel_error": max(r["max_rel_error"] for r in rows),
        }


def parse_equation(text: Union[str, Sequence[str]], fields=None, coords=None) -> Union[Equation, EquationSystem]:
    """An :class:`Equation` for one ``"u_t = ..."`` string, an :class:`EquationSystem` for several."""
    if isinstance(text, str) and not re.search(r"[;\n]\s*\S", text.strip()):
        return Equation.parse(text.strip().rstrip(";"), fields, coords)  # a trailing ';' ends the only equation
    return EquationSystem.parse(text, fields, coords)


def load_equation(data: Mapping[str, Any]) -> Union[Equation, EquationSystem]:
    """Inverse of ``to_dict`` for both :class:`Equation` and :class:`EquationSystem`."""
    if isinstance(data, Mapping) and "equations" in data:
        return EquationSystem.from_dict(data)
    return Equation.from_dict(data)


def _lhs_field(lhs: str) -> str:
    m = _LHS.match(lhs.strip()) if isinstance(lhs, str) else None
    if not m:
        raise ParseError(f"left-hand side must be a first time derivative such as 'u_t', received {lhs!r}")
    return m.group(1)


def _check_distinct(fields: Sequence[str], coords: Sequence[str]) -> None:
    """A name is a field or a coordinate, not both (``x_t = 0.1 x_xx`` over the coordinate ``x`` is refused)."""
    shared = [c for c in coords if c in fields]
    if shared:
        raise ParseError(f"a name cannot be a field and a coordinate at once: expected different names, received "
                         f"{shared} in fields {list(fields)} and coordinates {list(coords)}; rename the field")


def _infer_coords(names: Sequence[str], fields: Sequence[str]) -> tuple[str, ...]:
    """Coordinates from derivative names (``u_xy`` -> x, y); one placeholder (:func:`~pdelearn.terms.placeholder_coord`:
    ``x``, or ``s`` when ``x`` is a field) when there are none."""
    found: list[str] = []
    for name in names:
        for piece in re.findall(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?", name):
            f, sep, rest = piece.partition("_")
            if sep and f in fields:
                found.extend(ch for ch in rest if ch not in found)
    found = [c for c in found if c != "t"]
    return tuple(sorted(found)) if found else (placeholder_coord(fields),)


def coefficient_array(eq: Equation, library: TermLibrary) -> np.ndarray:
    """Coefficients of ``eq`` laid out on ``library`` (terms not in the library raise)."""
    out = np.zeros(len(library))
    for t, c in eq.terms.items():
        out[library.index(t.key)] = c
    return out
