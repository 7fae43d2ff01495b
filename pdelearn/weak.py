"""Weak form of ``lhs = Theta a`` on gridded data: integrate against compact test functions.

Each test function is a product over axes of ``phi(s) = (1 - s^2)^p`` on ``|s| < 1`` with
``s = (x - c) / h``. Multiplying the PDE by ``phi`` and integrating by parts moves derivatives from
the (noisy) data onto ``phi``, which is known exactly:

* ``int phi u_t = -int phi_t u``;
* a linear term ``d^a w`` becomes ``(-1)^|a| int (d^a phi) w``;
* ``w^i w_x = (w^{i+1})_x / (i + 1)`` becomes ``-int phi_x w^{i+1} / (i + 1)``;
* a term without derivatives is integrated as it is.

Other terms (e.g. ``u u_xx``) are integrated with derivatives from smoothed differences. Integrals
are trapezoid sums (``phi`` and its first ``p - 1`` derivatives vanish at the ends of its
support, so no end corrections are needed). The integrals over all test functions of a grid are
tensor contractions ``V_x F V_t^T`` with one small matrix per axis.

Accuracy: the trapezoid sums converge at a high algebraic order set by ``p``; with the default
``p`` the exact equation holds to about ``1e-4`` relative on the benchmark grids, well below the
noise levels that matter; a larger ``power`` and ``radius`` tighten it (``1e-6`` and below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from .compile import CompiledLibrary
from .errors import ConfigError, DataError
from .grid import differentiate
from .terms import Derivative, Term, TermLibrary

__all__ = ["WeakForm", "weak_system", "TermRule", "term_rule"]


@dataclass(frozen=True)
class WeakForm:
    """Settings of the test functions.

    Parameters
    ----------
    radius
        Half-width of the support per axis as a fraction of the axis length (one number for all
        axes, or ``{axis name: fraction}``). Larger supports average more noise away.
    power
        Exponent ``p`` of ``(1 - s^2)^p``; must exceed the highest derivative moved onto ``phi``.
    overlap
        Spacing of neighbouring centres as a fraction of the support width (0.5: half overlap).
    max_tests
        Upper bound on the number of test functions (the centre spacing grows to respect it).
    """

    radius: float | Mapping[str, float] = 0.1
    power: int | None = None
    overlap: float = 0.25
    max_tests: int = 4000

    def __post_init__(self):
        if self.power is not None and (
            isinstance(self.power, bool) or not isinstance(self.power, (int, np.integer)) or self.power < 1
        ):
            raise ConfigError(f"weak-form power must be an integer >= 1 or None (automatic), received {self.power!r}")
        if not (isinstance(self.overlap, (int, float)) and 0 < self.overlap < np.inf):
            raise ConfigError(f"weak-form overlap must be a number > 0, received {self.overlap!r}")
        if isinstance(self.max_tests, bool) or not isinstance(self.max_tests, (int, np.integer)) or self.max_tests < 1:
            raise ConfigError(f"weak-form max_tests must be an integer >= 1, received {self.max_tests!r}")

    def radius_of(self, axis: str) -> float:
        r = self.radius.get(axis, 0.1) if isinstance(self.radius, Mapping) else self.radius
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not 0 < r <= 0.5:
            raise ConfigError(f"weak-form radius for {axis!r} must be in (0, 0.5] of the axis length, received {r}")
        return float(r)


def _test_matrices(n: int, dx: float, half: int, power: int, max_deriv: int, stride: int) -> list[np.ndarray]:
    """``V^(k)`` of shape ``(n_centres, n)`` for k = 0..max_deriv, trapezoid weights included."""
    s = np.arange(-half, half + 1) / half
    poly = np.polynomial.Polynomial([1.0, 0.0, -1.0]) ** power
    h = half * dx
    centres = np.arange(half, n - half, stride)
    mats = []
    for k in range(max_deriv + 1):
        vals = poly.deriv(k)(s) / h**k * dx
        V = np.zeros((len(centres), n))
        for i, c in enumerate(centres):
            V[i, c - half : c + half + 1] = vals
        mats.append(V)
    return mats


class _Integrator:
    def __init__(self, shape: Sequence[int], spacing: Sequence[float], axes: Sequence[str], form: WeakForm, max_deriv: int):
        power = form.power or max(max_deriv + 2, 4)
        if power <= max_deriv:
            raise ConfigError(f"weak-form power {power} must exceed the highest derivative order {max_deriv}")
        halves = []
        for n, name in zip(shape, axes):
            half = max(int(round(form.radius_of(name) * n)), power + 1, 3)
            if 2 * half + 1 > n:
                raise DataError(
                    f"axis {name!r} has {n} points, too few for test functions of half-width {half}; "
                    "pass a smaller weak-form radius or use more points"
                )
            halves.append(half)
        # choose strides so that the number of test functions stays under max_tests
        scale = 1.0
        while True:
            strides = [max(1, int(round(form.overlap * 2 * h * scale))) for h in halves]
            counts = [len(range(h, n - h, st)) for h, n, st in zip(halves, shape, strides)]
            if int(np.prod(counts)) <= form.max_tests:
                break
            scale *= 1.25
        self.mats = [_test_matrices(n, dx, h, power, max_deriv, st) for n, dx, h, st in zip(shape, spacing, halves, strides)]
        self.halves, self.strides, self.counts, self.power = halves, strides, counts, power

    def integrate(self, f: np.ndarray, orders: Sequence[int]) -> np.ndarray:
        """``int (d^orders phi) f`` for all test functions, flattened."""
        out = f
        for axis, k in enumerate(orders):
            out = np.moveaxis(np.tensordot(self.mats[axis][k], out, axes=([1], [axis])), 0, axis)
        return out.reshape(-1)


def weak_system(
    fields: Mapping[str, np.ndarray],
    coords: Mapping[str, np.ndarray],
    library: TermLibrary,
    lhs: Sequence[str],
    form: WeakForm = WeakForm(),
    *,
    time: str = "t",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Weak-form regression problem ``b ~ G a``.

    Parameters
    ----------
    fields
        ``{name: array (n_space..., n_t)}``.
    coords
        Ordered ``{name: 1-D array}``: the space coordinates of ``library`` then ``time``.
    lhs
        Left-hand sides, ``"<field>_t"`` each.

    Returns
    -------
    G : ndarray, shape (n_tests, n_terms)
    b : ndarray, shape (n_tests, n_eq)
    n_eff : float
        Number of effectively independent rows (supports that do not overlap), for the noise
        estimate of :class:`~pdelearn.sparse.SparseRegression`.
    """
    return assemble(fields, coords, library, lhs, integrator_for(fields, coords, library, form, time), time)


def integrator_for(fields, coords, library: TermLibrary, form: WeakForm, time: str) -> _Integrator:
    """The test functions of ``form`` on the grid of ``fields`` (axes: the library's space coordinates, then ``time``)."""
    axes = list(coords)
    if axes[-1] != time or list(axes[:-1]) != list(library.coords):
        raise DataError(f"coordinates must be the library's space coordinates then {time!r}; received {axes}")
    shape = next(iter(fields.values())).shape
    spacing = [float(coords[a][1] - coords[a][0]) for a in axes]
    return _Integrator(shape, spacing, axes, form, max(library.max_order, 1))


def assemble(fields, coords, library: TermLibrary, lhs: Sequence[str], integ: _Integrator, time: str):
    """``(G, b, n_eff)`` of :func:`weak_system` with the test functions ``integ`` (:func:`integrator_for`)."""
    axes = list(coords)
    shape = next(iter(fields.values())).shape
    spacing = [float(coords[a][1] - coords[a][0]) for a in axes]
    zero = [0] * len(axes)

    def along(axis_name: str, k: int = 1) -> list[int]:
        o = list(zero)
        o[axes.index(axis_name)] = k
        return o

    b = np.stack([-integ.integrate(fields[_field_of(l)], along(time)) for l in lhs], axis=-1)
    mesh = dict(zip(axes, np.meshgrid(*[np.asarray(coords[a]) for a in axes], indexing="ij")))
    cache: dict[str, np.ndarray] = {}

    def value(d: Derivative) -> np.ndarray:
        if d.name not in cache:
            out = fields[d.field]
            for c in set(d.wrt):
                out = differentiate(out, spacing[axes.index(c)], d.wrt.count(c), axis=axes.index(c), method="smooth")
            cache[d.name] = out
        return cache[d.name]

    cols = []
    for term in library:
        cols.append(_term_integral(term, fields, mesh, integ, value))
    n_eff = float(np.prod([n / (2 * h + 1) for n, h in zip(shape, integ.halves)]))
    return np.stack(cols, axis=-1), b, n_eff


def _field_of(lhs: str) -> str:
    return lhs.rsplit("_", 1)[0]


@dataclass(frozen=True)
class TermRule:
    """How one term is integrated against the test functions.

    ``kind`` is one of

    * ``"constant"``: ``scale * int phi``;
    * ``"pointwise"``: the term has no derivatives, ``int phi term``;
    * ``"linear"``: ``scale * int (d^orders phi) field`` (``c d^a w``, integrated by parts);
    * ``"flux"``: ``scale * int (d^orders phi) field**power`` (``w^i w_x``, integrated by parts);
    * ``"smoothed"``: anything else, ``int phi term`` with derivatives from smoothed differences.
    """

    kind: str
    scale: float = 1.0
    field: str | None = None
    orders: tuple[int, ...] = ()
    power: int = 1


def term_rule(term: Term, axes: Sequence[str]) -> TermRule:
    """The :class:`TermRule` of ``term`` on a grid with axes ``axes`` (space coordinates then time)."""
    zero = (0,) * len(axes)
    if term.is_constant:
        return TermRule("constant", float(term.expr), orders=zero)
    derivs = [d for d in term.derivatives if d.order > 0]
    if not derivs:
        return TermRule("pointwise", orders=zero)
    if len(derivs) == 1 and not term.coordinates_used:
        d = derivs[0]
        coeff, rest = term.expr.as_independent(d.symbol, as_Add=False)
        if rest == d.symbol:
            orders = [0] * len(axes)
            for c in d.wrt:
                orders[list(axes).index(c)] += 1
            if not coeff.free_symbols:  # c * d^a w
                return TermRule("linear", float(coeff) * (-1) ** d.order, d.field, tuple(orders))
            u = sympy.Symbol(d.field)
            i = int(sympy.degree(coeff, u)) if coeff.is_polynomial(u) and coeff.free_symbols == {u} else None
            if d.order == 1 and i is not None and coeff == sympy.LC(sympy.Poly(coeff, u)) * u**i:
                return TermRule("flux", -float(coeff / u**i) / (i + 1), d.field, tuple(orders), i + 1)
    return TermRule("smoothed", orders=zero)


def _term_integral(term: Term, fields, mesh, integ: _Integrator, value) -> np.ndarray:
    rule = term_rule(term, list(mesh))
    if rule.kind == "constant":
        return rule.scale * integ.integrate(np.ones(next(iter(mesh.values())).shape), rule.orders)
    if rule.kind == "linear":
        return rule.scale * integ.integrate(fields[rule.field], rule.orders)
    if rule.kind == "flux":
        return rule.scale * integ.integrate(fields[rule.field] ** rule.power, rule.orders)
    if rule.kind == "pointwise":
        inputs = {d.name: fields[d.field] for d in term.derivatives}
    else:
        inputs = {d.name: value(d) for d in term.derivatives}
    inputs.update({c: mesh[c] for c in term.coordinates_used})
    return integ.integrate(_evaluate(term, inputs), rule.orders)


def _evaluate(term: Term, inputs: dict[str, np.ndarray]) -> np.ndarray:
    lib = TermLibrary([term], term.fields, term.coords)
    return CompiledLibrary(lib).numpy(inputs)[..., 0]
