"""The physics-informed forward problem: fit ``u(x, t)`` to an equation stated in a recipe.

The residual comes only from the term library: ``GoverningEquation.from_equation(equation)`` and
:func:`~pdelearn.autodiff.autograd_derivatives` (each derivative computed once). Named losses:

- ``L_I``: mean squared error at the window start against the initial condition (first window) or
  the previous window's prediction; omitted when the initial condition is hard;
- ``L_B``: mean squared Dirichlet boundary error; omitted for periodic boundaries (exact by
  embedding) and exact Dirichlet boundaries;
- ``L_G``: mean squared residual at collocation points, optionally with causal weights
  ``w_i = exp(-eps * sum_{j<i} L_j)`` over time chunks (Wang, Sankaran & Perdikaris 2022);
- ``L_R``: mean squared error against the reference solution at grid points in the training time range.

Time marching splits ``[t0, t_end]`` into windows trained one after the other, each with its own
network (initialised from the previous one with ``window_init: copy``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..autodiff import autograd_derivatives
from ..errors import ConfigError
from ..governing import GoverningEquation
from ..models.mlp import CoordinateNetwork, CoordinateSpec
from ..train import ParamGroup
from .conditions import Conditions
from .reference import ReferenceSolution
from .solution import FourierSnapshot, FrozenWindow, InitialBase, WindowSolution

__all__ = ["ForwardProblem"]

SNAPSHOT_POINTS = 1024  #: points on which a window's end state is sampled for the next window (periodic)


class ForwardProblem(nn.Module):
    """Networks, sample points and named losses of a forward problem.

    Parameters
    ----------
    recipe
        A validated :class:`~pdelearn.recipes.Recipe`.
    cond
        Its parsed equation and conditions.
    reference
        Reference solution (for ``L_R`` and evaluation), or None.
    weights
        Loss weights by name (default: ``recipe.losses.weights``).
    t_end
        End of the training time range (default: the domain's end).
    device
        Torch device of the networks and points.
    """

    def __init__(self, recipe: Any, cond: Conditions, reference: ReferenceSolution | None = None,
                 weights: dict[str, float] | None = None, t_end: float | None = None,
                 device: torch.device | str = "cpu"):
        super().__init__()
        tr, sp = recipe.training, recipe.sampling
        self.recipe, self.cond, self.reference = recipe, cond, reference
        self.device = torch.device(device)
        self.dtype = torch.float64 if tr.dtype == "float64" else torch.float32
        self.weights = dict(weights if weights is not None else recipe.losses.weights.model_dump())
        (self.a, self.b), t0 = cond.x_range, cond.t_range[0]
        t_end = cond.t_range[1] if t_end is None else float(t_end)
        self.edges = np.linspace(t0, t_end, tr.time_windows + 1).tolist()
        self.adam_steps, self.lbfgs_steps = tr.steps, tr.lbfgs_steps
        self.period = tr.steps + tr.lbfgs_steps
        self.causal = tr.causal
        self.chunks = tr.causal.chunks if tr.causal is not None else 1
        self.n_col = math.ceil(sp.collocation / self.chunks) * self.chunks
        self.governing = GoverningEquation.from_equation(cond.equation)
        self.coords = (cond.space, "t")
        gen = torch.Generator().manual_seed(recipe.seed)
        self.generator = torch.Generator().manual_seed(recipe.seed + 1)
        dirichlet = None
        if not cond.periodic and recipe.boundary.enforce == "exact":
            dirichlet = (self.a, self.b, float(cond.left(np.zeros(1))[0]), float(cond.right(np.zeros(1))[0]))
        m = recipe.model
        ff = (m.fourier_features.n, m.fourier_features.scale) if m.fourier_features else None
        self.models = nn.ModuleList()
        for k in range(tr.time_windows):
            specs = [CoordinateSpec(self.a, self.b, m.periodic_harmonics if cond.periodic else 0),
                     CoordinateSpec(self.edges[k], self.edges[k + 1])]
            net = CoordinateNetwork(specs, 1, m.type, m.width, m.depth, m.activation, ff, generator=gen)
            self.models.append(WindowSolution(net, self.edges[k], self.edges[k + 1], tr.hard_ic, dirichlet,
                                              order=self.governing.library.max_order))
        self.window = -1
        n = self.n_col
        self.register_buffer("x_col", torch.zeros(n))
        self.register_buffer("t_col", torch.zeros(n))
        self.register_buffer("x_ic", torch.zeros(sp.initial))
        self.register_buffer("u_ic", torch.zeros(sp.initial))
        self.register_buffer("t_bc", torch.zeros(sp.boundary))
        self.register_buffer("ref_idx", torch.zeros(recipe.losses.reference_points, dtype=torch.long))
        self._setup_reference(t_end)
        self.loss_names = self._loss_names()
        self.diagnostics: dict[str, float] = {}
        self.to(device=self.device, dtype=self.dtype)

    # -- set-up ------------------------------------------------------------------------------------
    def _loss_names(self) -> list[str]:
        names = []
        if self.weights.get("L_I", 0) > 0 and not self.recipe.training.hard_ic:
            names.append("L_I")
        if self.weights.get("L_B", 0) > 0 and not self.cond.periodic and self.recipe.boundary.enforce == "loss":
            names.append("L_B")
        if self.weights.get("L_G", 0) > 0:
            names.append("L_G")
        if self.weights.get("L_R", 0) > 0:
            if self.reference is None:
                raise ConfigError("the loss L_R needs a reference solution; set reference.solver or reference.file")
            names.append("L_R")
        if not names:
            raise ConfigError(f"no loss to minimise with weights {self.weights} (hard initial condition: "
                              f"{self.recipe.training.hard_ic}, boundary: {self.recipe.boundary.type}); "
                              "give L_G or L_R a positive weight")
        return names

    def _setup_reference(self, t_end: float) -> None:
        ref = self.reference
        if ref is None:
            self.register_buffer("ref_x", torch.zeros(0))
            self.register_buffer("ref_t", torch.zeros(0))
            self.register_buffer("ref_u", torch.zeros(0))
            return
        keep = ref.t <= t_end + 1e-12
        xx, tt = np.meshgrid(ref.x, ref.t[keep], indexing="ij")
        self.register_buffer("ref_x", torch.as_tensor(xx.ravel()), persistent=False)
        self.register_buffer("ref_t", torch.as_tensor(tt.ravel()), persistent=False)
        self.register_buffer("ref_u", torch.as_tensor(ref.u[:, keep].ravel()), persistent=False)

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])

    # -- schedule ------------------------------------------------------------------------------------
    def window_of(self, step: int) -> int:
        return min(step // max(self.period, 1), len(self.models) - 1)

    def before_step(self, step: int) -> None:
        """Enter the step's time window and resample points when due."""
        k = self.window_of(step)
        local = step - k * self.period
        if k != self.window:
            self._enter_window(k, fresh=(local == 0))
        every = self.recipe.sampling.resample_every
        if local == 0 or (local < self.adam_steps and every > 0 and local % every == 0):
            self.resample()

    def _enter_window(self, k: int, fresh: bool) -> None:
        self.window = k
        for j, model in enumerate(self.models):
            model.requires_grad_(j == k)
        if k > 0 and fresh and self.recipe.training.window_init == "copy":
            self.models[k].net.load_state_dict(self.models[k - 1].net.state_dict())
        if self.recipe.training.hard_ic:
            for j in range(k):
                if self.models[j].base is None:
                    self._build_base(j)
            self._build_base(k)

    def _build_base(self, k: int) -> None:
        """The hard initial condition of window ``k``: ``u0`` or window ``k - 1`` at its end."""
        model = self.models[k]
        if k == 0:
            model.set_base(InitialBase(self.cond.initial))
        elif self.cond.periodic:
            x = torch.linspace(self.a, self.b, SNAPSHOT_POINTS + 1, dtype=self.dtype, device=self.device)[:-1]
            with torch.no_grad():
                values = self.models[k - 1](x, torch.full_like(x, self.edges[k]))
            model.set_base(FourierSnapshot(values, self.a, self.b))
        else:
            model.set_base(FrozenWindow(self.models[k - 1], self.edges[k]))

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        u = torch.rand(n, generator=self.generator, dtype=torch.float64)
        return (low + (high - low) * u).to(device=self.device, dtype=self.dtype)

    @torch.no_grad()
    def resample(self) -> None:
        """Draw collocation (stratified in time per causal chunk), initial, boundary and data points."""
        k = self.window
        t0, t1 = self.edges[k], self.edges[k + 1]
        self.x_col.copy_(self._uniform(self.n_col, self.a, self.b))
        per = self.n_col // self.chunks
        u = torch.rand(self.n_col, generator=self.generator, dtype=torch.float64)
        chunk = torch.arange(self.n_col, dtype=torch.float64) // per
        self.t_col.copy_((t0 + (t1 - t0) * (chunk + u) / self.chunks).to(self.t_col))
        self.x_ic.copy_(self._uniform(self.x_ic.numel(), self.a, self.b))
        if "L_I" in self.loss_names:
            if k == 0:
                self.u_ic.copy_(self.cond.initial(self.x_ic))
            else:
                self.u_ic.copy_(self.models[k - 1](self.x_ic, torch.full_like(self.x_ic, t0)))
        self.t_bc.copy_(self._uniform(self.t_bc.numel(), t0, t1))
        if "L_R" in self.loss_names:
            tol = 1e-6 * (t1 - t0)
            inside = torch.nonzero((self.ref_t >= t0 - tol) & (self.ref_t <= t1 + tol))[:, 0].cpu()
            pick = torch.randint(inside.numel(), (self.ref_idx.numel(),), generator=self.generator)
            self.ref_idx.copy_(inside[pick])

    # -- losses ----------------------------------------------------------------------------------------
    def residual(self, model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The governing-equation residual ``(n, 1)`` of ``model`` at ``(x, t)``."""
        x = x.detach().requires_grad_(True)
        t = t.detach().requires_grad_(True)
        u = model(x, t)
        d = autograd_derivatives({self.cond.equation.field: u}, {self.coords[0]: x, "t": t}, self.governing.required)
        return self.governing.residual(d)

    def losses(self, step: int, names: frozenset) -> dict[str, torch.Tensor]:
        """The named losses at ``step`` (only those in ``names`` are computed)."""
        model = self.models[self.window]
        out: dict[str, torch.Tensor] = {}
        if "L_G" in names:
            r2 = self.residual(model, self.x_col, self.t_col).square().sum(dim=1)
            if self.causal is not None:
                per_chunk = r2.reshape(self.chunks, -1).mean(dim=1)
                seen = torch.cumsum(per_chunk.detach(), 0) - per_chunk.detach()
                w = torch.exp(-self.causal.eps * seen)
                out["L_G"] = (w * per_chunk).mean()
                self.diagnostics["causal_min_w"] = float(w.min())
            else:
                out["L_G"] = r2.mean()
        if "L_I" in names:
            u = model(self.x_ic, torch.full_like(self.x_ic, self.edges[self.window]))
            out["L_I"] = (u - self.u_ic).square().mean()
        if "L_B" in names:
            t = self.t_bc
            ua = model(torch.full_like(t, self.a), t)
            ub = model(torch.full_like(t, self.b), t)
            out["L_B"] = 0.5 * ((ua - self.cond.left(t)).square().mean() + (ub - self.cond.right(t)).square().mean())
        if "L_R" in names:
            i = self.ref_idx
            out["L_R"] = (model(self.ref_x[i], self.ref_t[i]) - self.ref_u[i]).square().mean()
        return out

    # -- optimisation ----------------------------------------------------------------------------------
    def param_groups(self) -> list[ParamGroup]:
        """Adam (then optionally L-BFGS) for each window's network, in time order."""
        tr = self.recipe.training
        groups = []
        for k, model in enumerate(self.models):
            params = list(model.net.parameters())
            start = k * self.period
            if self.adam_steps:
                adam = torch.optim.Adam(params, lr=tr.lr)
                sched = None
                if tr.lr_decay is not None:
                    sched = torch.optim.lr_scheduler.ExponentialLR(adam, gamma=tr.lr_decay.rate ** (1.0 / tr.lr_decay.every))
                groups.append(ParamGroup(f"w{k}.adam", adam, self.loss_names, self.weights, start=start,
                                         stop=start + self.adam_steps, scheduler=sched, balance=tr.balance,
                                         balance_every=tr.balance_every))
            if self.lbfgs_steps:
                lbfgs = torch.optim.LBFGS(params, lr=tr.lbfgs_lr, max_iter=tr.lbfgs_max_iter, history_size=50,
                                          line_search_fn="strong_wolfe")
                groups.append(ParamGroup(f"w{k}.lbfgs", lbfgs, self.loss_names, self.weights,
                                         start=start + self.adam_steps, stop=start + self.period))
        return groups

    @property
    def total_steps(self) -> int:
        return self.period * len(self.models)

    # -- evaluation ----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: np.ndarray, t: np.ndarray, batch: int = 32768) -> np.ndarray:
        """``u[i, j]`` at ``(x_i, t_j)`` (each time from its window; later times from the last one)."""
        hard = self.recipe.training.hard_ic
        built = []
        out = np.empty((len(x), len(t)))
        windows = np.clip(np.searchsorted(np.asarray(self.edges[1:-1]), t, side="left"), 0, len(self.models) - 1)
        for k in np.unique(windows):
            for j in range(int(k) + 1):
                if hard and self.models[j].base is None:
                    self._build_base(j)
                    built.append(j)
            cols = np.nonzero(windows == k)[0]
            xx, tt = np.meshgrid(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)[cols], indexing="ij")
            xf = torch.as_tensor(xx.ravel(), device=self.device, dtype=self.dtype)
            tf = torch.as_tensor(tt.ravel(), device=self.device, dtype=self.dtype)
            vals = torch.cat([self.models[k](xf[i:i + batch], tf[i:i + batch]) for i in range(0, xf.numel(), batch)])
            out[:, cols] = vals.double().cpu().numpy().reshape(len(x), len(cols))
        for j in built:
            if j > self.window:  # built from untrained windows: rebuilt when training gets there
                self.models[j].set_base(None)
        return out

    def rel_l2(self) -> float:
        """Relative L2 error over the full reference grid."""
        if self.reference is None:
            return float("nan")
        return self.reference.rel_l2(self.predict(self.reference.x, self.reference.t))
