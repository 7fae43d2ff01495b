"""Coordinate networks: input embeddings, random Fourier features, MLP and modified MLP.

A :class:`CoordinateNetwork` maps coordinates ``(x, t)`` (each of shape ``(n,)``) to outputs of shape
``(n, out_features)``. Periodic coordinates are embedded exactly as ``cos(k w (x - a))``,
``sin(k w (x - a))``, ``k = 1..H``, ``w = 2 pi / (b - a)``, so every output and every derivative is
periodic by construction; other coordinates are mapped affinely to ``[-1, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, ShapeError

__all__ = [
    "JointModel",
    "CoordinateSpec",
    "CoordinateEmbedding",
    "FourierFeatures",
    "MLP",
    "ModifiedMLP",
    "CoordinateNetwork",
    "activation",
]


class Sin(nn.Module):
    """``sin(x)`` as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


_ACTIVATIONS = {"tanh": nn.Tanh, "sin": Sin, "softplus": nn.Softplus, "gelu": nn.GELU}


def activation(name: str) -> nn.Module:
    """An activation module by name: ``tanh``, ``sin``, ``softplus`` or ``gelu``."""
    if name not in _ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()


@dataclass(frozen=True)
class CoordinateSpec:
    """One input coordinate: its interval and, for a periodic one, the number of harmonics."""

    low: float
    high: float
    harmonics: int = 0  # 0: not periodic (affine map to [-1, 1])

    @property
    def features(self) -> int:
        return 2 * self.harmonics if self.harmonics else 1


class CoordinateEmbedding(nn.Module):
    """Coordinates ``(n,)`` each -> features ``(n, sum of spec.features)``."""

    def __init__(self, specs: Sequence[CoordinateSpec]):
        super().__init__()
        self.specs = tuple(specs)
        if not self.specs:
            raise ConfigError("a coordinate network needs at least one input coordinate")
        for s in self.specs:
            if not s.low < s.high:
                raise ConfigError(f"coordinate interval must have low < high, received [{s.low}, {s.high}]")
        self.out_features = sum(s.features for s in self.specs)

    def forward(self, *coords: torch.Tensor) -> torch.Tensor:
        if len(coords) != len(self.specs):
            raise ShapeError(f"expected {len(self.specs)} coordinate tensors, received {len(coords)}")
        cols = []
        for c, s in zip(coords, self.specs):
            if c.dim() != 1:
                raise ShapeError(f"each coordinate must have shape (n,), received {tuple(c.shape)}")
            if s.harmonics:
                w = 2.0 * math.pi / (s.high - s.low)
                k = torch.arange(1, s.harmonics + 1, dtype=c.dtype, device=c.device)
                arg = (c - s.low)[:, None] * (w * k)
                cols += [torch.cos(arg), torch.sin(arg)]
            else:
                cols.append((2.0 * (c - s.low) / (s.high - s.low) - 1.0)[:, None])
        return torch.cat(cols, dim=1)


class FourierFeatures(nn.Module):
    """Random Fourier features ``[cos(z B), sin(z B)]`` with a fixed ``B ~ N(0, scale^2)``, shape ``(in, n)``."""

    def __init__(self, in_features: int, n: int, scale: float, generator: torch.Generator | None = None):
        super().__init__()
        self.register_buffer("B", scale * torch.randn(in_features, n, generator=generator))
        self.out_features = 2 * n

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        zb = z @ self.B.to(z.dtype)
        return torch.cat([torch.cos(zb), torch.sin(zb)], dim=1)


def _linear(n_in: int, n_out: int, generator: torch.Generator | None) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    std = math.sqrt(2.0 / (n_in + n_out))  # Glorot normal
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=generator) * std)
        layer.bias.zero_()
    return layer


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units, then a linear output layer."""

    def __init__(self, in_features: int, out_features: int, width: int, depth: int, act: str = "tanh",
                 generator: torch.Generator | None = None):
        super().__init__()
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(_linear(a, b, generator) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = activation(act)
        self.out = _linear(sizes[-1], out_features, generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            z = self.act(layer(z))
        return self.out(z)


class ModifiedMLP(nn.Module):
    """The modified MLP of Wang, Teng & Perdikaris (2021): gates between two encodings.

    ``U = s(W_u z)``, ``V = s(W_v z)``, ``H_1 = s(W_1 z)``, ``Z_k = s(W_k H_k)``,
    ``H_{k+1} = (1 - Z_k) U + Z_k V``, output ``W_o H_depth``.
    """

    def __init__(self, in_features: int, out_features: int, width: int, depth: int, act: str = "tanh",
                 generator: torch.Generator | None = None):
        super().__init__()
        self.enc_u = _linear(in_features, width, generator)
        self.enc_v = _linear(in_features, width, generator)
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(_linear(a, b, generator) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = activation(act)
        self.out = _linear(width, out_features, generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = self.act(self.enc_u(z))
        v = self.act(self.enc_v(z))
        h = self.act(self.hidden[0](z))
        for layer in self.hidden[1:]:
            g = self.act(layer(h))
            h = u + g * (v - u)
        return self.out(h)


class CoordinateNetwork(nn.Module):
    """Embedding -> optional random Fourier features -> MLP or modified MLP.

    Parameters
    ----------
    coords
        One :class:`CoordinateSpec` per input coordinate, in call order.
    out_features
        Number of outputs (fields).
    kind
        ``"mlp"`` or ``"modified_mlp"``.
    width, depth, act
        Hidden width, number of hidden layers, activation name.
    fourier
        ``(n, scale)`` for random Fourier features, or None.
    generator
        Random generator for the initial weights (reproducible runs).

    Examples
    --------
    >>> import torch
    >>> net = CoordinateNetwork([CoordinateSpec(-1, 1, harmonics=2), CoordinateSpec(0, 1)], width=8, depth=2)
    >>> x = torch.tensor([-1.0, 1.0]); t = torch.tensor([0.3, 0.3])
    >>> out = net(x, t)
    >>> out.shape, bool(torch.allclose(out[0], out[1], atol=1e-6))
    (torch.Size([2, 1]), True)
    """

    def __init__(self, coords: Sequence[CoordinateSpec], out_features: int = 1, kind: str = "mlp", width: int = 64,
                 depth: int = 4, act: str = "tanh", fourier: tuple[int, float] | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.embedding = CoordinateEmbedding(coords)
        n_in = self.embedding.out_features
        self.fourier = FourierFeatures(n_in, fourier[0], fourier[1], generator) if fourier else None
        if self.fourier is not None:
            n_in = self.fourier.out_features
        cores = {"mlp": MLP, "modified_mlp": ModifiedMLP}
        if kind not in cores:
            raise ConfigError(f"unknown model type {kind!r}; choose one of {', '.join(cores)}")
        self.core = cores[kind](n_in, out_features, width, depth, act, generator)

    def forward(self, *coords: torch.Tensor) -> torch.Tensor:
        z = self.embedding(*coords)
        if self.fourier is not None:
            z = self.fourier(z)
        return self.core(z)


class JointModel(nn.Module):
    """``u(x, t) = mean + std * net(x, t)`` with the coordinate map inside the network."""

    def __init__(self, x_range, t_range, mean: float, std: float, width: int = 50, depth: int = 4,
                 act: str = "tanh", generator: torch.Generator | None = None):
        super().__init__()
        specs = [CoordinateSpec(float(x_range[0]), float(x_range[1])), CoordinateSpec(float(t_range[0]), float(t_range[1]))]
        self.net = CoordinateNetwork(specs, 1, "mlp", width, depth, act, None, generator)
        self.register_buffer("mean", torch.tensor(float(mean), dtype=torch.float64))
        self.register_buffer("std", torch.tensor(float(std), dtype=torch.float64))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.mean.to(x.dtype) + self.std.to(x.dtype) * self.net(x, t)[:, 0]
