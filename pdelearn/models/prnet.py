"""PR-Net: an image classifier whose hidden block is a learned PDE solution ``h(d, t) = f(h(0), d, t)``.

The network (paper, Algorithm 1 and Table 10) is

    image -> feature extractor -> h(0): (B, C, s, s)
          -> f(h(0), d, t; theta) queried at the learned points H -> h_task: (B, C, s, s)
          -> classifier head -> logits (B, n_classes)

``f`` takes ``h(0)`` with three extra input channels holding the coordinates of every position: ``d1``
(row) and ``d2`` (column), normalised to ``[0, 1]``, and the time ``t``. The channel axis is
discretised (Appendix J): every channel of ``h`` is one sample of the same scalar field, so one
governing equation ``h_t = sum_k a_k * term_k(h, h_d1, h_d1d1, ...)`` holds for all of them.
Derivatives of ``f`` are taken per sample and per position in Taylor (forward) mode
(:mod:`pdelearn.models.taylor`, :func:`~pdelearn.autodiff.channel_derivatives` for mixed ones): ``h_d1`` at a
position is the rate of change of the block output there when the ``d1`` coordinate input is shifted (at every
position of that sample).
``H`` is a learned tensor ``(3, s, s)`` of ``(d1, d2, t)`` per position, initialised to the grid and
``t = t_query``. The equation's coefficients are trained but not used at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..autodiff import channel_derivatives
from ..errors import ConfigError, ShapeError
from ..governing import GoverningEquation
from ..terms import TermLibrary, parse_derivative_name, polynomial_library
from .blocks import classifier_head, downsampling, group_norm, map_size
from .taylor import jet_block

__all__ = [
    "COORDS",
    "CoordinateBlock",
    "PDEBlock",
    "PRNet",
    "SMOOTH_ACTIVATIONS",
    "check_activation",
    "classifier_head",
    "default_library",
    "downsampling",
    "group_norm",
    "library_from_terms",
    "map_size",
]

#: The coordinate names of the block: two spatial directions of the feature map and time.
COORDS = ("d1", "d2", "t")
#: Activations with derivatives of every order, allowed where derivatives of ``f`` are taken.
SMOOTH_ACTIVATIONS = {"softplus": nn.Softplus, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
_NON_SMOOTH = ("relu", "relu6", "leaky_relu", "hardswish", "hardtanh", "elu")


def default_library(max_power: int = 3, max_order: int = 3, mixed: bool = False) -> TermLibrary:
    """``h^i * (derivative of order j in d1 or d2)``, ``i <= max_power``, ``j <= max_order``.

    The defaults (pure derivatives in each direction) give ``4 * (1 + 3 + 3) = 28`` terms.
    """
    return polynomial_library("h", COORDS[:2], max_power=max_power, max_order=max_order, mixed=mixed)


def check_activation(activation: str) -> None:
    """Raise :class:`ConfigError` unless ``activation`` is one of :data:`SMOOTH_ACTIVATIONS`."""
    if activation not in SMOOTH_ACTIVATIONS:
        why = (" is not smooth: its second and higher derivatives vanish almost everywhere, so the terms h_dd, "
               "h_ddd of the governing equation would be zero" if str(activation).lower() in _NON_SMOOTH
               else " is unknown")
        raise ConfigError(f"activation {activation!r} of the PDE block{why}; use one of "
                          f"{sorted(SMOOTH_ACTIVATIONS)} where derivatives are taken")


class CoordinateBlock(nn.Module):
    """A block ``f(h(0), d, t)``: ``self.net`` maps ``(B, C + 3, s, s)`` (``h(0)`` then ``d1, d2, t``) to
    ``(B, C, s, s)``; with ``self.skip`` ``h(0)`` is added. Subclasses set ``net``, ``channels``, ``skip``."""

    channels: int
    skip: bool

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z``: ``(B, C + 3, s, s)`` = ``h(0)`` then ``d1, d2, t``; returns ``h``: ``(B, C, s, s)``."""
        out = self.net(z)
        return z[:, : self.channels] + out if self.skip else out

    @property
    def coordinate_channels(self) -> dict[str, int]:
        """``{"d1": C, "d2": C + 1, "t": C + 2}``."""
        return {c: self.channels + i for i, c in enumerate(COORDS)}


class PDEBlock(CoordinateBlock):
    """``f(h(0), d, t; theta)``: Table 10 of the paper, with a smooth activation.

    ``Conv3x3(C+3 -> C+3), GroupNorm, act, Conv3x3(C+3 -> C), GroupNorm``; with ``skip`` the output
    is ``h(0) + that`` (so ``f(h(0), d, 0) = h(0)``, the initial condition ``L_I`` asks for, is easy to
    reach). Table 10's trailing ReLU is not used: ``h`` and its derivatives must be smooth in
    ``(d, t)``.

    Parameters
    ----------
    channels
        ``C``, channels of ``h``.
    activation
        One of :data:`SMOOTH_ACTIVATIONS`; ReLU-like activations raise :class:`ConfigError`.
    skip
        Residual connection from ``h(0)``.
    """

    def __init__(self, channels: int = 64, activation: str = "softplus", skip: bool = True):
        super().__init__()
        check_activation(activation)
        width = channels + len(COORDS)
        self.channels, self.skip, self.activation = channels, skip, activation
        self.net = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), group_norm(width), SMOOTH_ACTIVATIONS[activation](),
            nn.Conv2d(width, channels, 3, padding=1), group_norm(channels),
        )



class PRNet(nn.Module):
    """Feature extractor, PDE block, learned query points ``H``, classifier head and the equation.

    Parameters
    ----------
    in_channels, image_size, n_classes
        Images ``(in_channels, image_size, image_size)`` and the number of classes.
    width
        Channels ``C`` of the feature map ``h``.
    n_down
        Stride-2 convolutions of the extractor (2 for 28 x 28 MNIST, 0 for 8 x 8 digits).
    activation, skip
        Of the :class:`PDEBlock`.
    library
        The candidate terms of the governing equation (field ``h``, coordinates among ``d1, d2``);
        default :func:`default_library`. Its left-hand side is ``h_t``.
    max_order
        Highest derivative order in ``d1``/``d2`` the block is asked for; a library needing more
        raises :class:`ConfigError`.
    t_query
        Initial time of the query points ``H`` (ODE-Net integrates to ``t = 1``).

    Examples
    --------
    >>> net = PRNet(1, 28, 10)
    >>> net.parameter_count()
    212368
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, image_size: int, n_classes: int, *, width: int = 64, n_down: int = 2,
                 activation: str = "softplus", skip: bool = True, library: TermLibrary | None = None,
                 max_order: int = 3, t_query: float = 1.0):
        super().__init__()
        size = map_size(image_size, n_down)
        if size < 2:
            raise ConfigError(f"images of side {image_size} become a {size} x {size} feature map after {n_down} "
                              "stride-2 convolution(s); the PDE block needs at least 2 x 2: lower model.n_down or use "
                              "larger images")
        if n_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, received {n_classes}")
        self._assemble(downsampling(in_channels, width, n_down), PDEBlock(width, activation, skip),
                       classifier_head(width, n_classes), size, library, max_order, t_query)
        self.width = width

    def _assemble(self, extractor: nn.Module, block: nn.Module, head: nn.Module, size: int,
                  library: TermLibrary | None, max_order: int, t_query: float, after: nn.Module | None = None) -> None:
        """Set the parts (shared with :class:`~pdelearn.models.prnet_mobilenet.MobileNetPRNet`): the extractor
        giving ``h(0)`` ``(B, C, size, size)``, the block, the layers ``after`` it (default none) and the
        ``head``, the query points ``H`` and the equation."""
        self.size = size
        self.extractor, self.block = extractor, block
        self.after = after if after is not None else nn.Identity()
        self.head = head
        ax = torch.linspace(0.0, 1.0, size)
        grid = torch.stack([ax.view(size, 1).expand(size, size), ax.view(1, size).expand(size, size)])
        self.register_buffer("grid", grid.clone())  # (2, s, s): d1 (rows), d2 (columns) in [0, 1]
        self.queries = nn.Parameter(torch.cat([grid, torch.full((1, size, size), float(t_query))]))
        library = default_library(max_order=max_order) if library is None else library
        _check_library(library, max_order)
        self.max_order = max_order
        self.equation = GoverningEquation(library, lhs=["h_t"], trainable=True)

    # -- the parts ------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``h(0)``: ``(B, C, s, s)`` from images ``(B, in_channels, image_size, image_size)``."""
        h0 = self.extractor(x)
        if h0.shape[-2:] != (self.size, self.size):
            raise ShapeError(f"images of shape {tuple(x.shape[1:])} give a feature map {tuple(h0.shape[-2:])}; this "
                             f"network was built for a {self.size} x {self.size} map (set data.image_size)")
        return h0

    def block_input(self, h0: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """``[h(0), d1, d2, t]``: ``(B, C + 3, s, s)`` from ``coords`` ``(3, s, s)``."""
        return torch.cat([h0, coords.to(h0.dtype).expand(h0.shape[0], -1, -1, -1)], dim=1)

    def task(self, h0: torch.Tensor) -> torch.Tensor:
        """``h_task = f(h(0), H)``: ``(B, C, s, s)``."""
        return self.block(self.block_input(h0, self.queries))

    def initial(self, h0: torch.Tensor) -> torch.Tensor:
        """``f(h(0), d, 0)`` on the grid: ``(B, C, s, s)``; ``L_I`` compares it with ``h(0)``."""
        t0 = torch.zeros(1, self.size, self.size, device=h0.device, dtype=h0.dtype)
        return self.block(self.block_input(h0, torch.cat([self.grid.to(h0.dtype), t0])))

    def derivatives(self, h0: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything the residual needs at ``H``: ``{"h": h_task, "h_t": ..., "h_d1": ..., "d1": ...}``.

        Each value has shape ``(B, C, s, s)`` (per sample, channel and position); ``"h"`` is
        ``h_task``, so the task loss can reuse it. Pure derivatives (``h_t``, ``h_d1d1d1``) come from
        one Taylor-mode pass (:func:`~pdelearn.models.taylor.jet_block`) with a shared primal;
        mixed ones (``h_d1d2``) from nested forward mode (:func:`~pdelearn.autodiff.channel_derivatives`).
        """
        z = self.block_input(h0, self.queries)
        orders: dict[str, int] = {}
        mixed: list[str] = []
        for name in self.equation.required:
            d = parse_derivative_name(name, ("h",), COORDS)
            if d is None or not d.wrt:
                continue
            if len(set(d.wrt)) == 1:
                orders[d.wrt[0]] = max(orders.get(d.wrt[0], 0), d.order)
            else:
                mixed.append(name)
        out: dict[str, torch.Tensor] = {}
        for c, series in jet_block(self.block, z, orders).items():
            out.setdefault("h", series[0])
            for k in range(1, len(series)):
                out[f"h_{c * k}"] = series[k]
        if mixed or not out:
            extra = channel_derivatives(self.block, z, self.block.coordinate_channels, mixed)
            out.update({k: v for k, v in extra.items() if k not in out})
        like = out["h"]
        for i, c in enumerate(COORDS):
            if c in self.equation.required:
                out[c] = self.queries[i].to(like.dtype).expand_as(like)
        return out

    def residual(self, derivatives: dict[str, torch.Tensor]) -> torch.Tensor:
        """``g = h_t - sum_k a_k term_k``, flattened: ``(B * C * s * s,)``."""
        flat = {k: v.reshape(-1) for k, v in derivatives.items()}
        return self.equation.residual(flat)[:, 0]

    def residuals(self, derivatives: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g, g_a)``: :meth:`residual` with its graph, and the same values as a function of the coefficients
        only (derivatives and terms detached); the library terms ``Theta`` are evaluated once for both."""
        flat = {k: v.reshape(-1) for k, v in derivatives.items()}
        eq = self.equation
        theta = eq.features(flat)
        coef = eq.active.to(dtype=theta.dtype)[:, 0]
        lhs = flat[eq.lhs[0]]
        return lhs - theta @ coef, lhs.detach() - theta.detach() @ coef

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes)`` from ``h_task`` ``(B, C, s, s)``: the layers after the block, then the head."""
        return self.head(self.after(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes)``: one pass of ``f`` at ``H``, no derivatives, no coefficients."""
        return self.classify(self.task(self.features(x)))

    # -- bookkeeping -------------------------------------------------------------------------------
    def network_parameters(self) -> list[nn.Parameter]:
        """Extractor, block, the layers after it and head (``theta`` and the layers around it), without ``H``
        and ``a``."""
        return [*self.extractor.parameters(), *self.block.parameters(), *self.after.parameters(),
                *self.head.parameters()]

    def parameter_count(self, inference: bool = True) -> int:
        """Parameters used at inference (extractor, block, ``H``, head); with ``inference=False`` the
        equation's coefficients are counted too."""
        n = sum(p.numel() for p in self.network_parameters()) + self.queries.numel()
        return n + (0 if inference else self.equation.coefficients.numel())


def _check_library(library: TermLibrary, max_order: int) -> None:
    if tuple(library.fields) != ("h",):
        raise ConfigError(f"the PR-Net governing equation is over the one field 'h'; the library has fields "
                          f"{list(library.fields)}")
    extra = [c for c in library.coords if c not in COORDS[:2]]
    if extra:
        raise ConfigError(f"the PDE block has the space coordinates ['d1', 'd2']; the library uses {extra}. Write "
                          "derivatives like h_d1, h_d2d2 (time appears only on the left-hand side h_t)")
    if library.max_order > max_order:
        deep = [d.name for d in library.derivatives if d.order > max_order]
        raise ConfigError(f"the library needs {deep} (order {library.max_order}) but the PDE block gives derivatives "
                          f"up to order {max_order}; raise model.max_order or drop those terms")


def library_from_terms(terms: Sequence[str]) -> TermLibrary:
    """A custom library over ``h`` and ``d1, d2`` from term strings such as ``"h*h_d1"``."""
    return TermLibrary(list(terms), ["h"], list(COORDS[:2]))
