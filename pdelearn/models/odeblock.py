"""A neural-ODE block ``h(1) = h(0) + int_0^1 func(t, h) dt`` on torchdiffeq, and a time-concatenating convolution.

With ``adjoint=True`` gradients come from torchdiffeq's adjoint method (ODE-Net); with ``adjoint=False`` they
are backpropagated through the solver's operations (RK-Net). The solver can be switched temporarily, e.g. to
a fixed-step Runge-Kutta scheme for adversarial evaluation (adaptive solvers can mask gradients)::

    with block.solver("rk4", step_size=0.1):
        logits = model(x)

torchdiffeq is imported when a block is built (the ``vision`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["ADAPTIVE_METHODS", "FIXED_METHODS", "ConcatConv2d", "ODEBlock"]

ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun", "tsit5")
FIXED_METHODS = ("euler", "midpoint", "heun3", "rk4", "explicit_adams", "implicit_adams")


def _torchdiffeq():
    try:
        import torchdiffeq
    except ImportError as exc:
        raise ConfigError('ODE blocks need torchdiffeq: install it with `pip install -e ".[vision]"`') from exc
    return torchdiffeq


def _check_solver(method: str, rtol: float, atol: float, step_size: float | None) -> None:
    if method in ADAPTIVE_METHODS:
        if step_size is not None:
            raise ConfigError(f"step_size is for fixed-step methods ({', '.join(FIXED_METHODS)}); {method!r} is "
                              "adaptive: set rtol/atol instead")
        if not (rtol > 0 and atol > 0):
            raise ConfigError(f"rtol and atol must be > 0, received rtol={rtol}, atol={atol}")
    elif method in FIXED_METHODS:
        if step_size is None or not step_size > 0:
            raise ConfigError(f"fixed-step method {method!r} needs step_size > 0, received {step_size!r}")
    else:
        raise ConfigError(f"unknown ODE method {method!r}; choose one of "
                          f"{', '.join(ADAPTIVE_METHODS + FIXED_METHODS)}")


class ConcatConv2d(nn.Module):
    """A convolution whose input gets ``t`` as an extra first channel: ``(B, C_in, H, W) -> (B, C_out, H', W')``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, groups: int = 1, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels + 1, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tt = torch.ones_like(x[:, :1]) * t
        return self.conv(torch.cat([tt, x], dim=1))


class ODEBlock(nn.Module):
    """``h(0) -> h(t1)`` by integrating ``dh/dt = func(t, h)`` over ``[0, t1]``.

    Parameters
    ----------
    func
        An ``nn.Module`` with ``forward(t, h)``, ``t`` a 0-d tensor, ``h`` of any shape ``(B, ...)``.
    adjoint
        Gradients by the adjoint method (``odeint_adjoint``; memory O(1) in the steps) or by backpropagating
        through the solver (``odeint``).
    method, rtol, atol, step_size
        torchdiffeq solver; ``step_size`` only (and always) for the fixed-step methods.
    t1
        End time (> 0).
    """

    def __init__(self, func: nn.Module, *, adjoint: bool, method: str = "dopri5", rtol: float = 1e-3,
                 atol: float = 1e-3, step_size: float | None = None, t1: float = 1.0):
        super().__init__()
        _torchdiffeq()
        _check_solver(method, rtol, atol, step_size)
        if not t1 > 0:
            raise ConfigError(f"t1 must be > 0, received {t1}")
        self.func, self.adjoint = func, bool(adjoint)
        self.method, self.rtol, self.atol, self.step_size, self.t1 = method, rtol, atol, step_size, float(t1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        tdq = _torchdiffeq()
        t = torch.tensor([0.0, self.t1], dtype=h.dtype, device=h.device)
        options = {"step_size": self.step_size} if self.step_size is not None else None
        solve = tdq.odeint_adjoint if self.adjoint else tdq.odeint
        return solve(self.func, h, t, rtol=self.rtol, atol=self.atol, method=self.method, options=options)[-1]

    @contextmanager
    def solver(self, method: str, step_size: float | None = None, rtol: float | None = None,
               atol: float | None = None) -> Iterator["ODEBlock"]:
        """Use another solver inside a ``with`` block; the previous one is restored on exit."""
        rtol = self.rtol if rtol is None else rtol
        atol = self.atol if atol is None else atol
        _check_solver(method, rtol, atol, step_size)
        saved = (self.method, self.rtol, self.atol, self.step_size)
        self.method, self.rtol, self.atol, self.step_size = method, rtol, atol, step_size
        try:
            yield self
        finally:
            self.method, self.rtol, self.atol, self.step_size = saved

    def extra_repr(self) -> str:
        solver = f"step_size={self.step_size}" if self.step_size is not None else f"rtol={self.rtol}, atol={self.atol}"
        return f"adjoint={self.adjoint}, method={self.method!r}, {solver}, t=[0, {self.t1}]"
