"""Autograd derivatives of network outputs with respect to input coordinates.

Each derivative is computed once from its parent (``u_xx`` from ``u_x``) and cached, so a library
that needs ``u_x, u_xx, u_xxx`` costs three backward passes, not six.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from .errors import DataError, ShapeError
from .terms import parse_derivative_name

__all__ = ["autograd_derivatives"]


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
                f"from {list(coord_names)} (e.g. {next(iter(fields), 'u')}_{coord_names[0]})"
            )
        parent = d.field + ("_" + "".join(d.wrt[:-1]) if len(d.wrt) > 1 else "")
        p = get(parent)
        (g,) = torch.autograd.grad(p, coords[d.wrt[-1]], torch.ones_like(p), create_graph=create_graph, allow_unused=True)
        out[name] = torch.zeros_like(p) if g is None else g
        return out[name]

    for n in names:
        get(n)
    return out
