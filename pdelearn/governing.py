"""The governing equation as a torch module: library + coefficients + sparsity mask."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
import torch
from torch import nn

from .compile import CompiledLibrary
from .equation import Equation, EquationSystem
from .errors import DataError, ShapeError
from .terms import TermLibrary

__all__ = ["GoverningEquation", "NormalizedGoverningEquation"]


class GoverningEquation(nn.Module):
    """``g = lhs - Theta(derivatives) @ (coefficients * mask)``, one column per field.

    Parameters
    ----------
    library
        Candidate terms.
    lhs
        Left-hand sides, one per equation; default ``"<field>_t"`` for every field of the library.
    coefficients
        Initial values ``(n_terms, n_eq)``; zeros by default.
    trainable
        Whether the coefficients are an ``nn.Parameter`` (inverse problems) or a buffer (a known
        equation enforced in a forward problem).

    Examples
    --------
    >>> import torch
    >>> eq = Equation.parse("u_t = 0.1*u_xx - u*u_x")
    >>> g = GoverningEquation.from_equation(eq)
    >>> d = {n: torch.ones(3) for n in ("u", "u_x", "u_xx", "u_t")}
    >>> g.residual(d).shape
    torch.Size([3, 1])
    >>> print(g.equation())
    u_t = 0.1 u_xx - 1 u u_x
    """

    def __init__(
        self,
        library: TermLibrary,
        lhs: Sequence[str] | None = None,
        coefficients: Union[np.ndarray, torch.Tensor, None] = None,
        trainable: bool = True,
    ):
        super().__init__()
        self.library = library
        self.compiled = CompiledLibrary(library)
        self.lhs = tuple(lhs) if lhs is not None else tuple(f"{f}_t" for f in library.fields)
        shape = (len(library), len(self.lhs))
        coef = torch.zeros(shape, dtype=torch.float64) if coefficients is None else torch.as_tensor(
            np.asarray(coefficients, dtype=np.float64) if not torch.is_tensor(coefficients) else coefficients
        ).to(torch.float64)
        if coef.dim() == 1:
            coef = coef[:, None]
        if tuple(coef.shape) != shape:
            raise ShapeError(f"coefficients must have shape (n_terms, n_eq) = {shape}, received {tuple(coef.shape)}")
        if trainable:
            self.coefficients = nn.Parameter(coef.clone())
        else:
            self.register_buffer("coefficients", coef.clone())
        self.register_buffer("mask", torch.ones(shape, dtype=torch.bool))

    @classmethod
    def from_equation(cls, equation: Union[Equation, EquationSystem], trainable: bool = False) -> "GoverningEquation":
        """The residual of a known equation; its library holds exactly the equation's terms."""
        eqs = list(equation) if isinstance(equation, EquationSystem) else [equation]
        keys = list(dict.fromkeys(t.key for e in eqs for t in e.terms))
        lib = TermLibrary(keys, eqs[0].fields, eqs[0].coords)
        coef = np.zeros((len(lib), len(eqs)))
        for j, e in enumerate(eqs):
            for t, c in e.terms.items():
                coef[lib.index(t.key), j] = c
        return cls(lib, [e.lhs for e in eqs], coef, trainable=trainable)

    @property
    def active(self) -> torch.Tensor:
        """Masked coefficients ``(n_terms, n_eq)``."""
        return self.coefficients * self.mask

    @property
    def required(self) -> tuple[str, ...]:
        """Every derivative name the residual needs, left-hand sides included."""
        return tuple(dict.fromkeys(self.compiled.required + self.lhs))

    def features(self, derivatives: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``Theta``, shape ``(n_points, n_terms)``."""
        return self.compiled.torch(derivatives)

    def residual(self, derivatives: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``g``, shape ``(n_points, n_eq)``: left-hand side minus the library sum."""
        missing = [n for n in self.lhs if n not in derivatives]
        if missing:
            raise DataError(f"residual needs the left-hand side(s) {missing}; received {sorted(derivatives)}")
        theta = self.features(derivatives)
        lhs = torch.stack([derivatives[n] for n in self.lhs], dim=-1)
        coef = self.active.to(dtype=theta.dtype)
        return lhs - theta @ coef

    def l1(self) -> torch.Tensor:
        """``sum |a|`` over active coefficients (the R_G penalty)."""
        return self.active.abs().sum()

    @torch.no_grad()
    def set_mask(self, mask: Union[np.ndarray, torch.Tensor]) -> None:
        m = torch.as_tensor(np.asarray(mask, dtype=bool) if not torch.is_tensor(mask) else mask, dtype=torch.bool)
        if m.dim() == 1:
            m = m[:, None]
        if m.shape != self.mask.shape:
            raise ShapeError(f"mask must have shape {tuple(self.mask.shape)}, received {tuple(m.shape)}")
        self.mask.copy_(m.to(self.mask.device))
        self.coefficients.data.mul_(self.mask)

    def equation(self, digits_zero: float = 0.0) -> Union[Equation, EquationSystem]:
        """The readout: terms whose |coefficient| > ``digits_zero``."""
        coef = self.active.detach().cpu().double().numpy()
        eqs = []
        for j, lhs in enumerate(self.lhs):
            terms = {t: float(coef[i, j]) for i, t in enumerate(self.library) if abs(coef[i, j]) > digits_zero}
            eqs.append(Equation(lhs, terms, self.library.fields, self.library.coords))
        return eqs[0] if len(eqs) == 1 else EquationSystem(eqs)

    def extra_repr(self) -> str:
        return f"{len(self.library)} terms, lhs={list(self.lhs)}"

    def __str__(self) -> str:  # the equation, not the module tree
        return str(self.equation())


class NormalizedGoverningEquation(GoverningEquation):
    """A :class:`GoverningEquation` whose trainable parameter holds normalized coefficients.

    ``coefficients`` is ``c``; the physical coefficients are ``a = c * scales * mask`` (the
    :attr:`active` property, used by :meth:`residual` and :meth:`equation`). :meth:`set_scales` sets
    ``scales_k = ||b|| / ||Theta_k||`` keeping ``a`` unchanged; :meth:`l1` penalises ``|c|``.

    >>> from pdelearn.terms import polynomial_library
    >>> lib = polynomial_library("u", "x", 1, 1)
    >>> eq = NormalizedGoverningEquation(lib)
    >>> theta = torch.tensor([[1.0, 2.0, 1e-3, 0.0], [1.0, -2.0, 2e-3, 1.0]], dtype=torch.float64)
    >>> eq.set_scales(theta, torch.tensor([1.0, 1.0], dtype=torch.float64))
    >>> [round(float(s), 3) for s in eq.scales[:, 0]]
    [1.0, 0.5, 632.456, 1.414]
    """

    def __init__(self, library: TermLibrary, lhs=None):
        super().__init__(library, lhs, trainable=True)
        self.register_buffer("scales", torch.ones_like(self.coefficients.detach()))

    @property
    def active(self) -> torch.Tensor:
        return self.coefficients * self.scales * self.mask

    def l1(self) -> torch.Tensor:
        return (self.coefficients * self.mask).abs().sum()

    @staticmethod
    def column_scales(theta: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``||b|| / ||Theta_k||`` per column ``(n_terms, n_eq)``; 1 for all-zero columns."""
        norms = torch.linalg.vector_norm(theta, dim=0)
        bn = torch.linalg.vector_norm(b.reshape(b.shape[0], -1), dim=0)
        bn = torch.where(bn > 0, bn, torch.ones_like(bn))
        s = bn[None, :] / torch.where(norms > 0, norms, bn.mean() * torch.ones_like(norms))[:, None]
        return s.to(torch.float64)

    @torch.no_grad()
    def set_scales(self, theta: torch.Tensor, b: torch.Tensor) -> None:
        """Refresh the scales from ``theta (n, K)`` and ``b (n,)`` or ``(n, n_eq)``; ``a`` is unchanged."""
        a = self.active.detach().clone()
        self.scales.copy_(self.column_scales(theta, b).to(self.scales.device).expand_as(self.scales))
        self.set_physical(a)

    @torch.no_grad()
    def set_physical(self, a) -> None:
        """Set the coefficients from physical values ``a`` ``(n_terms,)`` or ``(n_terms, n_eq)``."""
        a = torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a, dtype=torch.float64)
        a = a.reshape(self.coefficients.shape).to(self.coefficients.device)
        self.coefficients.data.copy_((a / self.scales) * self.mask)
