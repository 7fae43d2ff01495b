"""Autograd derivatives of network outputs with respect to input coordinates.

Each derivative is computed once from its parent (``u_xx`` from ``u_x``) and cached, so a library
that needs ``u_x, u_xx, u_xxx`` costs three backward passes, not six.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from .errors import DataError, ShapeError
from .terms import Derivative, parse_derivative_name

__all__ = ["autograd_derivatives", "channel_derivatives"]


def autograd_derivatives(
    fields: Mapping[str, torch.Tensor],
    coords: Mapping[str, torch.Tensor],
    names: Iterable[str],
    create_graph: bool = True,
) -> dict[str, torch.Tensor]:
    """Derivatives named like ``u_t``, ``u_xx`` of pointwise network outputs.

    Parameters
    ----------
    fields
        ``{"u": tensor (n_points,)}``: outputs of a network evaluated pointwise, so that output
        ``i`` depends only on the coordinates of point ``i``.
    coords
        ``{"x": tensor (n_points,), "t": tensor (n_points,)}`` leaf tensors with
        ``requires_grad=True`` that the fields were computed from.
    names
        The derivatives wanted; fields and coordinates themselves may be listed too.
    create_graph
        Keep the graph so losses of the derivatives can be back-propagated (training).

    Returns
    -------
    dict
        Every requested name (plus intermediate ones) mapped to a tensor ``(n_points,)``.

    Examples
    --------
    >>> x = torch.linspace(0, 1, 5, dtype=torch.float64, requires_grad=True)
    >>> d = autograd_derivatives({"u": torch.sin(x)}, {"x": x}, ["u_xx"])
    >>> torch.allclose(d["u_xx"], -torch.sin(x))
    True
    """
    coord_names = tuple(coords)
    out: dict[str, torch.Tensor] = dict(fields)
    out.update(coords)
    for c, v in coords.items():
        if not v.requires_grad:
            raise DataError(f"coordinate {c!r} must require grad to take derivatives; use x.requires_grad_(True)")
    shape = None
    for f, v in fields.items():
        if shape is None:
            shape = v.shape
        if v.shape != shape:
            raise ShapeError(f"all fields must have one shape; {f!r} has {tuple(v.shape)}, expected {tuple(shape)}")

    def get(name: str) -> torch.Tensor:
        if name in out:
            return out[name]
        d = parse_derivative_name(name, tuple(fields), coord_names)
        if d is None or not d.wrt:
            raise DataError(
                f"cannot compute {name!r}: expected a field in {list(fields)} followed by '_' and coordinates "
                f"from {list(coord_names)} (e.g. {next(iter(fields), 'u')}_{(coord_names or ('x',))[0]})"
            )
        parent = Derivative(d.field, d.wrt[:-1]).name
        p = get(parent)
        # the graph is always kept while differentiating (higher orders need it); it is dropped
        # at the end when create_graph is False. A constant parent has no graph: its derivative is 0.
        (g,) = (
            torch.autograd.grad(p, coords[d.wrt[-1]], torch.ones_like(p), create_graph=True, allow_unused=True)
            if p.requires_grad
            else (None,)
        )
        out[name] = torch.zeros_like(p) if g is None else g
        return out[name]

    for n in names:
        get(n)
    if not create_graph:
        out = {k: v if k in fields or k in coords else v.detach() for k, v in out.items()}
    return out


def channel_derivatives(
    fn,
    inputs: torch.Tensor,
    channels: Mapping[str, int],
    names: Iterable[str],
    field: str = "h",
) -> dict[str, torch.Tensor]:
    """Per-sample, per-position derivatives of ``fn(inputs)`` w.r.t. coordinate channels.

    For networks whose input carries coordinates as extra channels (a PR-Net block
    ``f(h(0), d, t)`` on feature maps ``(batch, channels, H, W)``), the derivative with respect to
    coordinate ``c`` is the directional derivative along a unit change of channel ``c`` at every
    position, computed in forward mode (``torch.func.jvp``, nested for higher orders). Unlike
    ``autograd.grad`` of a summed output with respect to a coordinate tensor shared by the batch,
    this keeps one derivative per sample and position and never sums over the batch.

    Parameters
    ----------
    fn
        Callable mapping ``inputs`` to the field, e.g. ``(B, C_out, H, W)``.
    inputs
        Input tensor; coordinates live in the channels listed in ``channels`` (axis 1).
    channels
        ``{"t": 66, "d": 64}``: coordinate name -> channel index.
    names
        Derivatives wanted, e.g. ``["h_t", "h_d", "h_dd"]``; ``field`` itself may be listed.

    Returns
    -------
    dict
        ``{name: tensor shaped like fn(inputs)}``; ``field`` is always included.

    Examples
    --------
    >>> x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    >>> f = lambda z: z[:, :1] * torch.sin(z[:, 2:3]) ** 2       # h = a sin(t)^2, t in channel 2
    >>> d = channel_derivatives(f, x, {"t": 2}, ["h_t", "h_tt"])
    >>> a, t = x[:, :1], x[:, 2:3]
    >>> bool(torch.allclose(d["h_t"], a * torch.sin(2 * t)) and torch.allclose(d["h_tt"], 2 * a * torch.cos(2 * t)))
    True
    """
    from torch.func import jvp

    coord_names = tuple(channels)
    for c, idx in channels.items():
        if not 0 <= idx < inputs.shape[1]:
            raise ShapeError(f"coordinate channel {c!r} = {idx} is outside the {inputs.shape[1]} input channels")

    def tangent(c: str) -> torch.Tensor:
        v = torch.zeros_like(inputs)
        v[:, channels[c]] = 1.0
        return v

    def derivative_fn(wrt: tuple[str, ...]):
        g = fn
        for c in wrt:
            g = (lambda inner, v: (lambda z: jvp(inner, (z,), (v,))[1]))(g, tangent(c))
        return g

    out: dict[str, torch.Tensor] = {field: fn(inputs)}
    for name in names:
        if name in out:
            continue
        d = parse_derivative_name(name, (field,), coord_names)
        if d is None:
            raise DataError(
                f"cannot compute {name!r}: expected {field} followed by '_' and coordinates from {list(coord_names)}"
            )
        out[name] = derivative_fn(d.wrt)(inputs)
    return out
