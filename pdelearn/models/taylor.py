"""Taylor-mode (jet) propagation of coordinate shifts through the PR-Net block.

For one coordinate direction ``v`` the block input moves along ``z + e v``; every layer maps the
truncated Taylor series ``a(e) = a_0 + a_1 e + ... + a_K e^K`` of its input to that of its output, so
``d^k h / dv^k = k! * h_k`` for all ``k <= K`` come out of one pass whose cost grows like ``K + 1``
forward passes (nested forward mode grows like ``2^K`` and runs through ``torch.func``'s per-op
dispatch). The primal stream ``a_0`` is shared by all directions. Everything is ordinary torch
arithmetic, so losses of the derivatives back-propagate with plain autograd.

Layers covered: ``Conv2d`` (grouped and depthwise too), ``GroupNorm`` (the variance of a series is a
series; ``(var + eps)^(-1/2)`` by Miller's power recurrence), global average pooling, the smooth
activations softplus, tanh, SiLU, GELU and sigmoid (exact), whose derivatives of every order are
polynomials in ``sigmoid``/``tanh`` or Hermite polynomials times the normal density, nested
``nn.Sequential`` and :class:`Gate` (``x * gate(x)``: a smooth squeeze-and-excite).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from numpy.polynomial import polynomial as P
from torch import nn
from torch.nn import functional as F

__all__ = ["ACTIVATION_NAMES", "Gate", "Jet", "activation_derivatives", "jet_block", "jet_layers"]

Series = list[torch.Tensor]  # [a_1, ..., a_K]: the Taylor coefficients of one direction beyond the primal


#: activation module types -> their name in :func:`activation_derivatives`
ACTIVATION_NAMES: dict[type, str] = {nn.Softplus: "softplus", nn.Tanh: "tanh", nn.SiLU: "silu", nn.GELU: "gelu",
                                     nn.Sigmoid: "sigmoid"}


class Gate(nn.Module):
    """Multiplicative gating ``x * gate(x)``, e.g. a smooth squeeze-and-excite
    (``gate = pool, Conv1x1, SiLU, Conv1x1, Sigmoid``): ``(B, C, s, s) -> (B, C, s, s)``."""

    def __init__(self, gate: nn.Module):
        super().__init__()
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Jet:
    """A primal tensor and, per direction, its Taylor coefficients ``[a_1, ..., a_K]``."""

    def __init__(self, primal: torch.Tensor, series: Mapping[str, Series]):
        self.primal, self.series = primal, dict(series)


def _mul(a0: torch.Tensor, a: Series, b0: torch.Tensor, b: Series) -> Series:
    """Coefficients 1..K of the product of two series with primals ``a0``, ``b0``."""
    full_a, full_b = [a0, *a], [b0, *b]
    return [sum(full_a[i] * full_b[k - i] for i in range(k + 1)) for k in range(1, len(a) + 1)]


def _poly_eval(coef: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    out = torch.full_like(x, float(coef[-1]))
    for c in coef[-2::-1]:
        out = out * x + float(c)
    return out


def _sigmoid_polys(n: int) -> list[np.ndarray]:
    """``S_m`` with ``d^m sigmoid / dx^m = S_m(sigmoid(x))``, m = 0..n."""
    polys = [np.array([0.0, 1.0])]
    for _ in range(n):
        polys.append(P.polymul(P.polyder(polys[-1]), [0.0, 1.0, -1.0]))
    return polys


def _tanh_polys(n: int) -> list[np.ndarray]:
    polys = [np.array([0.0, 1.0])]
    for _ in range(n):
        polys.append(P.polymul(P.polyder(polys[-1]), [1.0, 0.0, -1.0]))
    return polys


def activation_derivatives(name: str, x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """``[f(x), f'(x), ..., f^(n)(x)]`` of a smooth activation, elementwise.

    Examples
    --------
    >>> x = torch.tensor([0.3], dtype=torch.float64)
    >>> d = activation_derivatives("tanh", x, 2)
    >>> bool(torch.allclose(d[2], -2 * torch.tanh(x) / torch.cosh(x) ** 2))
    True
    """
    if name == "sigmoid":
        s = torch.sigmoid(x)
        return [_poly_eval(p, s) for p in _sigmoid_polys(n)]
    if name == "tanh":
        t = torch.tanh(x)
        return [_poly_eval(p, t) for p in _tanh_polys(n)]
    if name in ("softplus", "silu"):
        s = torch.sigmoid(x)
        sig = [_poly_eval(p, s) for p in _sigmoid_polys(n)]
        if name == "softplus":
            return [F.softplus(x), *sig[:n]]
        return [x * sig[0], *(x * sig[m] + m * sig[m - 1] for m in range(1, n + 1))]
    if name == "gelu":
        phi = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        herm = [torch.ones_like(x), x]  # probabilists' Hermite: phi^(j) = (-1)^j He_j phi
        for j in range(1, n):
            herm.append(x * herm[j] - j * herm[j - 1])
        big_phi = [cdf, *((-1) ** (m - 1) * herm[m - 1] * phi for m in range(1, n + 1))]  # Phi^(m)
        return [x * cdf, *(x * big_phi[m] + m * big_phi[m - 1] for m in range(1, n + 1))]
    raise ValueError(f"no Taylor rule for activation {name!r}")


def _conv(layer: nn.Conv2d, jet: Jet) -> Jet:
    primal = layer(jet.primal)
    flat = [a for s in jet.series.values() for a in s]
    if not flat:
        return Jet(primal, jet.series)
    # one convolution for every coefficient of every direction (batched along the sample axis)
    out = F.conv2d(torch.cat(flat), layer.weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    parts = iter(out.split(primal.shape[0]))
    return Jet(primal, {d: [next(parts) for _ in s] for d, s in jet.series.items()})


def _group_norm(layer: nn.GroupNorm, jet: Jet) -> Jet:
    shape, g = jet.primal.shape, layer.num_groups

    def grouped(t):
        return t.reshape(shape[0], g, -1)

    a0 = grouped(jet.primal)
    c0 = a0 - a0.mean(-1, keepdim=True)
    q0 = (c0 * c0).mean(-1, keepdim=True) + layer.eps
    r0 = q0.rsqrt()
    affine = (lambda t: t * layer.weight.view(1, -1, 1, 1)) if layer.affine else (lambda t: t)
    primal = (c0 * r0).reshape(shape)
    if layer.affine:
        primal = primal * layer.weight.view(1, -1, 1, 1) + layer.bias.view(1, -1, 1, 1)
    series = {}
    for d, s in jet.series.items():
        c = [grouped(a) - grouped(a).mean(-1, keepdim=True) for a in s]
        full_c = [c0, *c]
        q = [sum(full_c[i] * full_c[k - i] for i in range(k + 1)).mean(-1, keepdim=True) for k in range(1, len(s) + 1)]
        r = []  # (q0 + q1 e + ...)^(-1/2), Miller's recurrence with p = -1/2
        for k in range(1, len(s) + 1):
            full_r = [r0, *r]
            r.append(sum((0.5 * j - k) * q[j - 1] * full_r[k - j] for j in range(1, k + 1)) / (k * q0))
        series[d] = [affine(x.reshape(shape)) for x in _mul(c0, c, r0, r)]
    return Jet(primal, series)


def _activation(name: str, jet: Jet) -> Jet:
    n = max((len(s) for s in jet.series.values()), default=0)
    f = activation_derivatives(name, jet.primal, n)
    series = {}
    for d, s in jet.series.items():
        zero = torch.zeros_like(jet.primal)
        power: Series = list(s)  # delta^1 with delta = a_1 e + a_2 e^2 + ...
        out = [f[1] * a for a in s]
        for m in range(2, len(s) + 1):
            power = _mul(zero, power, zero, s)  # delta^m (coefficients below m vanish)
            out = [o + f[m] / math.factorial(m) * p for o, p in zip(out, power)]
        series[d] = out
    return Jet(f[0], series)


def _pool(layer: nn.AdaptiveAvgPool2d, jet: Jet) -> Jet:
    return Jet(layer(jet.primal), {d: [layer(a) for a in s] for d, s in jet.series.items()})


def _gate(layer: Gate, jet: Jet) -> Jet:
    g = jet_layers(layer.gate, jet)
    return Jet(jet.primal * g.primal, {d: _mul(jet.primal, s, g.primal, g.series[d]) for d, s in jet.series.items()})


def jet_layers(layers: nn.Module, jet: Jet) -> Jet:
    """Propagate ``jet`` through ``layers`` (one layer or an ``nn.Sequential``, nested ones too).

    Raises
    ------
    TypeError
        For a layer without a Taylor rule (e.g. ``BatchNorm2d``, ``ReLU``, ``Hardswish``).
    """
    if isinstance(layers, nn.Sequential):
        for layer in layers:
            jet = jet_layers(layer, jet)
        return jet
    if isinstance(layers, nn.Conv2d):
        return _conv(layers, jet)
    if isinstance(layers, nn.GroupNorm):
        return _group_norm(layers, jet)
    if isinstance(layers, nn.AdaptiveAvgPool2d) and layers.output_size in (1, (1, 1)):
        return _pool(layers, jet)
    if isinstance(layers, Gate):
        return _gate(layers, jet)
    name = ACTIVATION_NAMES.get(type(layers))
    if name is None or (name == "softplus" and layers.beta != 1) or (
            name == "gelu" and layers.approximate != "none"):
        raise TypeError(f"no Taylor rule for layer {layers!r}; the PDE block may use Conv2d, GroupNorm, global "
                        "average pooling, Gate and the smooth activations softplus, tanh, silu, gelu, sigmoid")
    return _activation(name, jet)


def jet_block(block: nn.Module, z: torch.Tensor, orders: Mapping[str, int]) -> dict[str, list[torch.Tensor]]:
    """Pure derivatives of a :class:`~pdelearn.models.prnet.PDEBlock` along its coordinate channels.

    Parameters
    ----------
    block
        A PDE block: ``block.net`` an ``nn.Sequential`` starting with a ``Conv2d`` (then layers with a
        rule in :func:`jet_layers`), ``block.skip``, ``block.channels``, ``block.coordinate_channels``.
    z
        Block input ``(B, C + 3, s, s)``.
    orders
        ``{"d1": 3, "t": 1}``: highest order wanted per coordinate.

    Returns
    -------
    dict
        ``{coordinate: [h, dh/dc, d^2h/dc^2, ...]}`` up to the requested order, each ``(B, C, s, s)``.
    """
    first = block.net[0]
    primal = first(z)
    zero = torch.zeros_like(primal)
    series = {}
    for c, k in orders.items():
        if k < 1:
            continue
        v = torch.zeros_like(z[:1])
        v[:, block.coordinate_channels[c]] = 1.0  # the same unit shift for every sample: one 1-sample conv
        a1 = F.conv2d(v, first.weight, None, first.stride, first.padding, first.dilation, first.groups)
        series[c] = [a1.expand_as(primal)] + [zero] * (k - 1)
    jet = jet_layers(block.net[1:], Jet(primal, series))
    h = z[:, : block.channels] + jet.primal if block.skip else jet.primal
    return {c: [h, *(math.factorial(k + 1) * a for k, a in enumerate(s))] for c, s in jet.series.items()}
