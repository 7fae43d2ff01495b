"""The trained solution on one time window: a coordinate network plus exact constraints.

``u(x, t) = base(x) + tau * N(x, t)`` with ``tau = (t - t0) / (t1 - t0)`` when the initial condition is
hard (``base`` is the initial condition on the first window, the previous window's prediction at
``t0`` afterwards), else ``u = N(x, t)``; exact Dirichlet values multiply ``N`` by
``phi(x) = (x - a)(b - x) / ((b - a) / 2)^2`` and add the linear interpolant of the boundary values.
Periodicity is exact by the network's input embedding (:mod:`pdelearn.models.mlp`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .conditions import ScalarFunction

__all__ = ["Base", "InitialBase", "FourierSnapshot", "FrozenWindow", "WindowSolution"]


class _Tabulated(torch.autograd.Function):
    """A function of ``x`` whose values and derivatives were tabulated without a graph.

    ``table[m]`` holds the ``m``-th derivative at the points ``x``; the backward pass of order ``m``
    is order ``m + 1`` (itself differentiable), so autograd derivatives of any order up to the
    table's size are exact while no graph through the base is ever built. Orders beyond the table
    read as zero; they only reach the gradient with respect to ``x`` itself, which training ignores.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, table: torch.Tensor, order: int) -> torch.Tensor:
        ctx.table, ctx.order = table, order
        ctx.save_for_backward(x)
        if order < table.shape[0]:
            return table[order].clone()
        return torch.zeros_like(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * _Tabulated.apply(x, ctx.table, ctx.order + 1), None, None


class Base(nn.Module):
    """A function of ``x`` only (the hard initial condition of a window)."""

    def table(self, x: torch.Tensor, order: int) -> torch.Tensor:
        """Values and derivatives up to ``order`` at ``x``: shape ``(order + 1, n)``, no graph."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, order: int = 2) -> torch.Tensor:
        with torch.no_grad():
            table = self.table(x.detach(), order if x.requires_grad else 0)
        return _Tabulated.apply(x, table, 0)


class InitialBase(Base):
    """``u0(x)`` from the recipe's initial-condition expression; derivatives by sympy."""

    def __init__(self, function: ScalarFunction):
        super().__init__()
        self.functions = [function]

    def table(self, x: torch.Tensor, order: int) -> torch.Tensor:
        while len(self.functions) <= order:
            self.functions.append(self.functions[-1].diff())
        return torch.stack([self.functions[m](x) for m in range(order + 1)])


class FourierSnapshot(Base):
    """A periodic function known on ``n`` equispaced points, as its trigonometric interpolant.

    Used as the initial condition of a later time window: the previous window's prediction at the
    window start, sampled on ``n`` points. Its cost does not grow with the number of earlier windows.
    """

    def __init__(self, values: torch.Tensor, low: float, high: float):
        super().__init__()
        n = values.numel()
        spec = torch.fft.rfft(values.detach().to(torch.float64)) / n
        scale = torch.full((spec.numel(),), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        if n % 2 == 0:
            scale[-1] = 1.0
        self.register_buffer("a", (scale * spec.real).to(values.dtype))
        self.register_buffer("b", (-scale * spec.imag).to(values.dtype))
        self.register_buffer("k", torch.arange(spec.numel(), dtype=values.dtype))
        self.low, self.omega = low, 2.0 * math.pi / (high - low)

    def table(self, x: torch.Tensor, order: int) -> torch.Tensor:
        arg = (x - self.low)[:, None] * (self.omega * self.k)
        c, s = torch.cos(arg), torch.sin(arg)
        wk = self.omega * self.k
        rows = []
        a, b = self.a, self.b
        for _ in range(order + 1):
            rows.append(c @ a + s @ b)
            a, b = wk * b, -wk * a  # d/dx (a cos + b sin) = wk b cos - wk a sin
        return torch.stack(rows)


class FrozenWindow(Base):
    """The previous window's prediction at time ``t0``, evaluated through that (frozen) window."""

    def __init__(self, previous: "WindowSolution", t0: float):
        super().__init__()
        self._previous = [previous]  # not a submodule: its parameters belong to the previous window
        self.t0 = t0

    def table(self, x: torch.Tensor, order: int) -> torch.Tensor:
        with torch.enable_grad():
            xx = x.detach().requires_grad_(order > 0)
            u = self._previous[0](xx, torch.full_like(xx, self.t0))
            rows = [u]
            for _ in range(order):
                (g,) = torch.autograd.grad(rows[-1], xx, torch.ones_like(u), create_graph=True, allow_unused=True)
                rows.append(torch.zeros_like(u) if g is None else g)
        return torch.stack([r.detach() for r in rows])


class WindowSolution(nn.Module):
    """``u(x, t)`` on ``[t0, t1]``; see the module docstring for the constraints.

    Parameters
    ----------
    net
        Coordinate network ``(x, t) -> (n, 1)``.
    t0, t1
        The time window.
    hard_ic
        Build the initial condition in (``base`` is then required before use).
    dirichlet
        ``(a, b, left, right)`` with constant boundary values for exact Dirichlet conditions, or None.
    order
        Highest space derivative the residual needs (the base is tabulated up to it).
    """

    def __init__(self, net: nn.Module, t0: float, t1: float, hard_ic: bool,
                 dirichlet: tuple[float, float, float, float] | None = None, order: int = 2):
        super().__init__()
        self.net = net
        self.t0, self.t1 = float(t0), float(t1)
        self.hard_ic = hard_ic
        self.dirichlet = dirichlet
        self.order = order  # highest x-derivative the residual takes (tabulated for the base)
        self._base: list[nn.Module] = []  # set by set_base; kept out of the state dict

    def set_base(self, base: nn.Module | None) -> None:
        self._base = [] if base is None else [base]

    @property
    def base(self) -> nn.Module | None:
        return self._base[0] if self._base else None

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.net(x, t)[:, 0]
        if self.dirichlet is not None:
            a, b, left, right = self.dirichlet
            half = 0.5 * (b - a)
            out = out * ((x - a) * (b - x) / half**2)
            if not self.hard_ic:
                out = out + left + (right - left) * (x - a) / (b - a)
        if self.hard_ic:
            if self.base is None:
                raise RuntimeError("hard initial condition without a base; call set_base first")
            tau = (t - self.t0) / (self.t1 - self.t0)
            out = self.base(x, self.order) + tau * out
        return out
