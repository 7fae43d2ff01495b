"""Reference solvers (numpy only) for making data and measuring errors.

Fourier-spectral ETDRK4 (Kassam & Trefethen 2005) for periodic problems ``u_t = L u + N(u)``:

- :func:`solve_periodic_1d`: any 1-D problem given the symbol of ``L`` and the FFT of ``N(u)``;
- :func:`allen_cahn`, :func:`burgers`, :func:`kdv`, :func:`kuramoto_sivashinsky`: the standard
  1-D data sets (space x time arrays, ``u[i, j] = u(x_i, t_j)``), their equations read from
  :data:`~pdelearn.solvers.systems.SYSTEMS`;
- :func:`reaction_diffusion`: the 2-D lambda-omega spiral-wave system (``u[i, j, k]``).

:class:`~pdelearn.solvers.torch_etdrk4.PeriodicSolver` (torch, imported from its module) is the
differentiable twin of :func:`simulate_equation`, batched over parameter sets.

Examples
--------
>>> import numpy as np
>>> from pdelearn.solvers import burgers
>>> out = burgers(nx=64, t=np.linspace(0.0, 0.1, 3), dt=0.05)
>>> out["u"].shape, out["equation"]
((64, 3), 'u_t = -u*u_x + 0.1*u_xx')
"""

from .builtin import allen_cahn, burgers, kdv, kuramoto_sivashinsky
from .equation import simulate_equation
from .etdrk4 import solve_periodic_1d
from .reaction_diffusion import reaction_diffusion

__all__ = [
    "solve_periodic_1d",
    "allen_cahn",
    "burgers",
    "kdv",
    "kuramoto_sivashinsky",
    "reaction_diffusion",
    "simulate_equation",
]
