"""Differentiable Fourier-spectral ETDRK4 in torch for 1-D periodic equations ``u_t = sum_k c_k term_k``: the torch
twin of :func:`pdelearn.solvers.simulate_equation` for the output-error engine, differentiable in reverse mode
(checkpointed segments) and forward mode (a batch of unit tangents gives a whole Jacobian in one pass)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
from torch.autograd import forward_ad
from torch.utils.checkpoint import checkpoint

from ..compile import CompiledLibrary
from ..equation import Equation
from ..errors import ConfigError, ShapeError, TrainingError
from ..output_error.policy import pure_order
from ..terms import Term, TermLibrary
from .etdrk4 import CONTOUR_POINTS, _grid_size, _positive, _time_steps, phi_means

__all__ = ["PeriodicSolver"]

_CHECK_EVERY = 64  # the state is checked for NaN/inf at every output and at least every this many steps

Support = Union[Equation, TermLibrary, Sequence[Union[Term, str]]]


def _support_terms(support: Support) -> tuple[tuple[Term, ...], str, str]:
    """``(terms, field, coordinate)`` of an equation, a library or a list of terms / term keys."""
    if isinstance(support, Equation):
        if len(support.fields) != 1 or len(support.coords) != 1:
            raise ConfigError(f"the Fourier solver takes one field in one space dimension; the equation has fields "
                              f"{list(support.fields)} and coordinates {list(support.coords)}")
        return tuple(support.terms), support.fields[0], support.coords[0]
    if isinstance(support, TermLibrary):
        terms = tuple(support.terms)
    elif isinstance(support, (list, tuple)) and support and all(isinstance(s, (Term, str)) for s in support):
        if all(isinstance(s, Term) for s in support):
            terms = tuple(support)
        else:
            keys = [s.key if isinstance(s, Term) else s for s in support]
            probe = Equation.parse("u_t = " + " + ".join(f"({k})" for k in keys))
            terms = tuple(Term.parse(k, probe.fields, probe.coords) for k in keys)
    else:
        raise ConfigError(f"the support must be an Equation, a TermLibrary or a non-empty list of terms such as "
                          f"['u*u_x', 'u_xx'], received {type(support).__name__}: {support!r}"[:300])
    if len({t.key for t in terms}) != len(terms):
        raise ConfigError(f"the support lists a term twice: {[t.key for t in terms]}")
    fields, coords = terms[0].fields, terms[0].coords
    if len(fields) != 1 or len(coords) != 1 or any((t.fields, t.coords) != (fields, coords) for t in terms):
        raise ConfigError(f"the Fourier solver takes one field in one space dimension; the terms use fields "
                          f"{list(fields)} and coordinates {list(coords)}")
    return terms, fields[0], coords[0]


class PeriodicSolver:
    """ETDRK4 for ``u_t = sum_k c_k term_k`` on ``nx`` equispaced points of one period, in torch.

    ``support``: the terms (one field, one space coordinate): an :class:`~pdelearn.equation.Equation` (its
    coefficients go to :meth:`solve`), a :class:`~pdelearn.terms.TermLibrary`, or term keys such as ``["u*u_x",
    "u_xx"]``; a term that uses the coordinate (``x*u_x``) is a ConfigError. ``nx`` (>= 4) points of one period of
    ``length``; ``dealias``: the 2/3 rule for the pseudo-spectral terms; ``contour_points``: on the upper half of
    the phi-functions' contour circle; ``dtype`` (float64 or float32) and ``device`` of the computation.

    Diffusion of one sine mode against ``exp(-nu t) sin(x)``, and its derivative in ``nu``:

    >>> import math, torch
    >>> solver = PeriodicSolver(["u_xx"], nx=16, length=2 * math.pi)
    >>> x = solver.grid(0.0)
    >>> nu = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    >>> u = solver.solve(nu, torch.sin(x), [0.0, 1.0], dt=0.25)
    >>> u.shape
    torch.Size([16, 2])
    >>> bool(torch.allclose(u[:, 1], math.exp(-0.5) * torch.sin(x)))
    True
    >>> u[4, 1].backward()   # d/dnu of exp(-nu) sin(pi/2) = -exp(-0.5)
    >>> round(float(nu.grad), 6) == round(-math.exp(-0.5), 6)
    True
    """

    def __init__(self, support: Support, nx: int, length: float, *, dealias: bool = True,
                 contour_points: int = CONTOUR_POINTS, dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None):
        self.terms, self.field, self.coord = _support_terms(support)
        space = [t.key for t in self.terms if t.coordinates_used]
        if space:
            raise ConfigError(f"the Fourier solver needs terms with constant coefficients; {space} use the "
                              f"coordinate {self.coord!r} (not periodic on the domain). Use the 'pinn' estimator for "
                              f"such equations")
        self.nx = _grid_size(nx, "nx")
        self.length = _positive(length, "length", "pass the period of the domain, e.g. length=2.0 for [-1, 1)")
        if not isinstance(dealias, (bool, np.bool_)):
            raise ConfigError(f"dealias must be True or False, received {dealias!r}")
        self.dealias = bool(dealias)
        self.contour_points = _grid_size(contour_points, "contour_points")
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype must be torch.float64 or torch.float32, received {dtype}")
        self.dtype, self.device = dtype, torch.device(device) if device is not None else torch.device("cpu")
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64

        self.linear = [(i, pure_order(t)) for i, t in enumerate(self.terms) if pure_order(t) >= 0]  # (term, order)
        self.constant = [i for i, t in enumerate(self.terms) if pure_order(t) < 0 and t.is_constant]
        self.nonlinear = [i for i, t in enumerate(self.terms) if pure_order(t) < 0 and not t.is_constant]
        nonlinear = [self.terms[i] for i in self.nonlinear]
        lib = TermLibrary(nonlinear, (self.field,), (self.coord,)) if nonlinear else None
        self._library = CompiledLibrary(lib) if lib is not None else None
        self._orders = sorted({d.order for d in lib.derivatives}) if lib is not None else []
        m = self.nx // 2 + 1
        self.k = torch.arange(m, dtype=dtype, device=self.device) * (2.0 * math.pi / self.length)
        self._mask = (torch.arange(m, device=self.device) < self.nx / 3.0).to(dtype)
        self._real_linear = all(o % 2 == 0 for _, o in self.linear)

    def __repr__(self) -> str:
        return f"PeriodicSolver({[t.key for t in self.terms]}, nx={self.nx}, length={self.length:g})"

    @property
    def keys(self) -> list[str]:
        """Term keys in the order of the coefficients, e.g. ``['u*u_x', 'u_xx']``."""
        return [t.key for t in self.terms]

    def grid(self, x0: float = 0.0) -> torch.Tensor:
        """The grid ``x0 + length * i / nx``, shape ``(nx,)``."""
        return x0 + self.length * torch.arange(self.nx, dtype=self.dtype, device=self.device) / self.nx

    def _ik(self, order: int) -> torch.Tensor:
        """``(i k)^order`` on the rfft modes; real for even orders."""
        if order % 2 == 0:
            return (-1.0) ** (order // 2) * self.k**order
        return (1j * (-1.0) ** (order // 2)) * self.k.to(self.cdtype) ** order

    def _symbol(self, coef: torch.Tensor) -> torch.Tensor:
        """Fourier symbol of the linear part, ``(B, m)`` (real when every order is even)."""
        like = torch.zeros(coef.shape[0], self.k.numel(), dtype=self.dtype if self._real_linear else self.cdtype,
                           device=self.device)
        lin = like + 0.0 * coef[:, :1]  # keeps the dual/graph of the coefficients
        for i, order in self.linear:
            lin = lin + coef[:, i : i + 1] * self._ik(order)
        return lin

    def _etd(self, lin: torch.Tensor, dt: float):
        """``E, E2, Q, f1, f2, f3`` of Kassam & Trefethen for ``h = dt`` (contour means), each ``(B, m)``."""
        n = 2 * self.contour_points
        j = torch.arange(1, n + 1, dtype=self.dtype, device=self.device)
        roots = torch.exp(1j * (2.0 * math.pi * (j - 0.5) / n)).to(self.cdtype)
        hl = dt * lin
        q, f1, f2, f3 = phi_means(hl, roots, dt, torch.exp)
        if self._real_linear:
            q, f1, f2, f3 = q.real, f1.real, f2.real, f3.real
        return torch.exp(hl), torch.exp(hl / 2), q, f1, f2, f3

    def _operators(self, dual: bool) -> dict:
        """Per-solve constants ``(i k)^o`` and the dealiasing mask; dual with zero tangents under forward-mode AD
        (torch's product of a dual and a plain tensor takes a slow path, about 1 ms here; dual-dual does not)."""
        ops = {o: self._ik(o) for o in self._orders if o}
        ops["mask"] = self._mask
        if dual:
            ops = {key: forward_ad.make_dual(v, torch.zeros_like(v)) for key, v in ops.items()}
        return ops

    def _rhs(self, v: torch.Tensor, c_nl: torch.Tensor, c_const: torch.Tensor, ops: dict) -> torch.Tensor:
        """Fourier transform of the pseudo-spectral terms, ``(B, m)`` complex."""
        out = torch.zeros_like(v)
        if self._library is not None:
            inputs = {}
            for o in self._orders:
                name = self.field + ("_" + self.coord * o if o else "")
                inputs[name] = torch.fft.irfft(v * ops[o] if o else v, n=self.nx)
            theta = self._library.torch(inputs)  # (B, nx, n_nl)
            out = torch.fft.rfft((theta * c_nl[:, None, :]).sum(-1))
        if c_const is not None:
            out = out + torch.nn.functional.pad((c_const * self.nx)[:, None], (0, v.shape[1] - 1)).to(v.dtype)
        return out * ops["mask"] if self.dealias else out

    def _steps(self, v, n_steps: int, c_nl, c_const, ops, e, e2, q, f1, f2x2, f3):
        for _ in range(n_steps):
            nv = self._rhs(v, c_nl, c_const, ops)
            a = e2 * v + q * nv
            na = self._rhs(a, c_nl, c_const, ops)
            b = e2 * v + q * na
            nb = self._rhs(b, c_nl, c_const, ops)
            c = e2 * a + q * (nb + nb - nv)
            nc = self._rhs(c, c_nl, c_const, ops)
            v = e * v + nv * f1 + (na + nb) * f2x2 + nc * f3
        return v

    def solve(self, coefficients, u0, t_eval, dt: float, *, checkpoint_every: int | None = 64) -> torch.Tensor:
        """``u (nx, nt)``, or ``(B, nx, nt)`` when either input is batched: ``u[..., i, j] = u(x_i, t_eval[j])``.

        ``coefficients`` ``(n_terms,)`` or ``(B, n_terms)`` in :attr:`keys` order; ``u0`` ``(nx,)`` or ``(B, nx)`` on
        :meth:`grid`; ``t_eval``: increasing output times from 0, multiples of the step ``dt``. ``checkpoint_every``:
        steps per checkpointed segment when a gradient is recorded (the backward pass recomputes each segment);
        None records every step. A solution that becomes NaN/inf raises :class:`~pdelearn.errors.TrainingError`.
        """
        dt = _positive(dt, "dt", "pass a positive time step such as dt=1e-3")
        if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int)
                                             or checkpoint_every < 1):
            raise ConfigError(f"checkpoint_every must be a positive integer or None, received {checkpoint_every!r}")
        _, steps = _time_steps(t_eval, dt)
        coef = torch.as_tensor(coefficients, dtype=self.dtype, device=self.device)
        u0 = torch.as_tensor(u0, dtype=self.dtype, device=self.device)
        n = len(self.terms)
        batched = coef.ndim == 2 or u0.ndim == 2
        if coef.ndim not in (1, 2) or coef.shape[-1] != n:
            raise ShapeError(f"coefficients must have shape ({n},) or (B, {n}) for terms {self.keys}, "
                             f"received {tuple(coef.shape)}")
        if u0.ndim not in (1, 2) or u0.shape[-1] != self.nx:
            raise ShapeError(f"u0 must have shape ({self.nx},) or (B, {self.nx}), received {tuple(u0.shape)}")
        coef, u0 = coef.reshape(-1, n), u0.reshape(-1, self.nx)
        if coef.shape[0] != u0.shape[0]:
            if coef.shape[0] != 1 and u0.shape[0] != 1:
                raise ShapeError(f"coefficients and u0 have different batch sizes {coef.shape[0]} and {u0.shape[0]}")
            size = max(coef.shape[0], u0.shape[0])
            coef, u0 = coef.expand(size, n), u0.expand(size, self.nx)
        c_nl = coef[:, self.nonlinear] if self.nonlinear else None
        c_const = coef[:, self.constant].sum(-1) if self.constant else None
        e, e2, q, f1, f2, f3 = self._etd(self._symbol(coef), dt)
        dual = any(forward_ad.unpack_dual(a).tangent is not None for a in (coef, u0))
        consts = (c_nl, c_const, self._operators(dual), e, e2, q, f1, 2.0 * f2, f3)

        record = torch.is_grad_enabled() and (coef.requires_grad or u0.requires_grad)
        use_ckpt = record and checkpoint_every is not None and not dual
        chunk = min(checkpoint_every or _CHECK_EVERY, _CHECK_EVERY) if not use_ckpt else checkpoint_every

        v = torch.fft.rfft(u0)
        if dual and forward_ad.unpack_dual(v).tangent is None:
            v = forward_ad.make_dual(v, torch.zeros_like(v))
        outputs, done = [], 0
        for target in steps.tolist():
            while done < target:
                todo = min(chunk, target - done)
                if use_ckpt:
                    v = checkpoint(self._steps, v, todo, *consts, use_reentrant=False)
                else:
                    v = self._steps(v, todo, *consts)
                done += todo
                self._check(v, done, dt)
            outputs.append(v)
        self._check(v, done, dt)
        u = torch.fft.irfft(torch.stack(outputs, dim=1), n=self.nx).transpose(1, 2)  # (B, nx, nt)
        return u if batched else u[0]

    def _check(self, v: torch.Tensor, done: int, dt: float) -> None:
        primal = forward_ad.unpack_dual(v).primal.detach()
        finite = torch.isfinite(torch.view_as_real(primal)).reshape(primal.shape[0], -1).all(-1)
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).ravel().tolist()
            raise TrainingError(f"the simulation became NaN/inf by t = {done * dt:.6g} (step {done}, dt = {dt:g}) for "
                                f"parameter set(s) {bad[:8]}; expected a bounded solution: reduce dt, or the "
                                f"coefficients/initial state make the equation unstable (e.g. a negative diffusion "
                                f"coefficient)")
