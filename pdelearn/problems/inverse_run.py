"""Known-form inverse problems (``problem: inverse``): identify the named parameters of an equation.

Two estimators share the data and the report:

- ``output_error``: :func:`pdelearn.output_error.fit_output_error` (simulate with the differentiable
  Fourier solver, Levenberg-Marquardt over parameters and initial state, Fisher standard errors);
- ``pinn``: Raissi et al.'s continuous-time identification: a network ``u(x, t)`` and the parameters
  trained together on ``mean (u - data)^2 + w mean (u_t - RHS)^2`` at the samples, Adam then L-BFGS.
  It takes scattered points and any equation the term compiler evaluates; it gives no intervals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError, TrainingError
from ..parametrized import ParametrizedEquation, parametrize
from ..reliability import inverse_warnings, static_field, uninformed
from ..runfiles import write_json, write_npz
from .base import Outcome, Problem, RunContext
from .inverse_recipe import InverseRecipe

__all__ = ["InverseProblem", "load_inverse_data", "fit_pinn"]


def load_inverse_data(data) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``(x (nx,), t (nt,), u (nx, nt), source)`` of a recipe's ``data`` section."""
    if data.system is not None:
        from ..solvers.systems import system

        grid = system(data.system).solve()
        return grid["x"], grid["t"], grid["u"], f"solver:{data.system}"
    if data.file is not None:
        from ..data import load_grid_data

        g = load_grid_data(data.file, fields=data.fields, coords=data.coords)
        if len(g.fields) != 1 or len(g.space) != 1:
            raise DataError(f"inverse problems need one field in one space dimension; {data.file} has fields "
                            f"{list(g.fields)} on {list(g.space)}")
        return g.coords[g.space[0]], g.coords[g.time], next(iter(g.fields.values())), data.file
    from ..equation import Equation
    from ..solvers.equation import simulate_equation
    from .conditions import ScalarFunction

    s = data.simulate
    solver_nx = s.solver_nx or s.nx
    if solver_nx % s.nx:
        raise ConfigError(f"data.simulate.solver_nx ({solver_nx}) must be a multiple of nx ({s.nx})")
    if not s.x[1] > s.x[0] or not s.t[1] > s.t[0]:
        raise ConfigError(f"data.simulate.x and .t must be increasing intervals, received {s.x} and {s.t}")
    eq = Equation.parse(s.equation)
    xs = s.x[0] + (s.x[1] - s.x[0]) * np.arange(solver_nx) / solver_nx
    t = np.linspace(s.t[0], s.t[1], s.nt)
    u0 = ScalarFunction(s.initial, eq.coords[0], "data.simulate.initial")(xs)
    u = simulate_equation(eq, xs, t - t[0], u0, dt=s.dt)
    step = solver_nx // s.nx
    return xs[::step], t, u[::step], f"simulated:{s.equation}"


def fit_pinn(samples: dict[str, np.ndarray], form: ParametrizedEquation, opts, *, generator: torch.Generator,
             device=None, echo=lambda m: None) -> dict[str, Any]:
    """Raissi et al.'s continuous-time identification on ``samples`` ``{"x", "t", "u"}`` (each ``(n,)``).

    The parameters are trained as ``p = scale * q`` (``scale`` = |initial guess|, or 1), so parameters of
    different magnitudes move alike. Returns ``{"parameters", "loss", "L_D", "L_G", "steps"}``.
    """
    from ..autodiff import autograd_derivatives
    from ..compile import CompiledLibrary
    from ..models.mlp import MLP
    from ..terms import TermLibrary

    dtype = torch.float64 if opts.dtype == "float64" else torch.float32
    kw = {"dtype": dtype, "device": device}
    x, t, u = (torch.tensor(samples[k], **kw) for k in ("x", "t", "u"))
    lo = torch.stack([x.min(), t.min()])
    span = torch.stack([x.max() - x.min(), t.max() - t.min()]).clamp_min(1e-12)
    net = MLP(2, 1, opts.width, opts.depth, opts.activation, generator=generator).to(**kw)
    scale = torch.tensor(np.where(form.guesses != 0, np.abs(form.guesses), 1.0), **kw)
    q = torch.nn.Parameter(torch.tensor(form.guesses, **kw) / scale)
    A, c0 = torch.tensor(form.matrix, **kw), torch.tensor(form.offset, **kw)
    field, coord = form.terms[0].fields[0], form.terms[0].coords[0]
    lib = TermLibrary(list(form.terms), (field,), (coord,))
    comp = CompiledLibrary(lib)
    names = [d.name for d in lib.derivatives] + [field + "_t"]

    def losses():
        xr, tr = x.detach().requires_grad_(True), t.detach().requires_grad_(True)
        z = 2.0 * (torch.stack([xr, tr], dim=1) - lo) / span - 1.0
        out = net(z)[:, 0]
        d = autograd_derivatives({field: out}, {coord: xr, "t": tr}, names)
        coef = A @ (scale * q) + c0
        res = d[field + "_t"] - comp.torch({k: d[k] for k in comp.required if k in d} | (
            {coord: xr} if coord in comp.required else {})) @ coef
        return torch.mean((out - u) ** 2), torch.mean(res**2)

    history, step = [], 0

    def total():
        ld, lg = losses()
        loss = ld + opts.weight_residual * lg
        if not torch.isfinite(loss):
            raise TrainingError(f"the PINN loss became {float(loss)} at step {step}; lower pinn.lr")
        return loss, ld, lg

    params = list(net.parameters()) + [q]
    adam = torch.optim.Adam(params, lr=opts.lr)
    for step in range(opts.adam_steps):
        adam.zero_grad()
        loss, ld, lg = total()
        loss.backward()
        adam.step()
        if step % opts.log_every == 0:
            history.append((step, ld.item(), lg.item()))
            echo(f"pinn adam {step}: L_D {ld.item():.3e}, L_G {lg.item():.3e}, "
                 + form.format((A.new_tensor(0) + scale * q).detach().cpu().numpy()))
    if opts.lbfgs_steps:
        lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=opts.lbfgs_steps, history_size=50,
                                  tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            lbfgs.zero_grad()
            loss, _, _ = total()
            loss.backward()
            return loss

        lbfgs.step(closure)
        step = opts.adam_steps + lbfgs.state[params[0]].get("n_iter", 0)
    _, ld, lg = total()
    ld, lg = ld.item(), lg.item()
    p = (scale * q).detach().cpu().numpy().astype(np.float64)
    echo(f"pinn done: L_D {ld:.3e}, L_G {lg:.3e}, {form.format(p)}")
    return {"parameters": p, "L_D": ld, "L_G": lg, "steps": int(step), "history": history}


class InverseProblem(Problem):
    """Identify the parameters of a stated equation from samples (``problem: inverse``)."""

    name = "inverse"
    Recipe = InverseRecipe
    resumable = False

    def __init__(self, recipe: InverseRecipe, form: ParametrizedEquation, samples: dict, source: str,
                 static: str | None = None):
        self.recipe, self.form, self.samples, self.source = recipe, form, samples, source
        self.static = static  #: why the data hold no dynamics (the result is then not an answer)

    @classmethod
    def build(cls, recipe: InverseRecipe, ctx: RunContext) -> "InverseProblem":
        from ..sampling import make_samples

        form = parametrize(recipe.equation, recipe.parameters)
        x, t, u, source = load_inverse_data(recipe.data)
        static = static_field(form.lhs.split("_")[0], np.asarray(u, dtype=np.float64))
        n = recipe.data.samples
        if n is None:
            rng = ctx.np_rng(1)
            samples = {"x": np.repeat(x, t.size), "t": np.tile(t, x.size),
                       "u": (u + recipe.data.noise * float(np.std(u)) * rng.standard_normal(u.shape)).ravel()}
        else:
            samples = make_samples(x, t, u, n, recipe.data.noise, ctx.seed)
        if ctx.folder is not None and ctx.is_main:
            write_npz(ctx.folder / "samples.npz", samples, compressed=True)
        ctx.echo(f"inverse problem: {recipe.equation} from {samples['u'].size} points of {source} "
                 f"(noise {recipe.data.noise:.1%}), estimator {recipe.estimator}")
        return cls(recipe, form, samples, source, static)

    def train(self, ctx: RunContext) -> dict[str, Any]:
        r = self.recipe
        if r.estimator == "pinn":
            out = fit_pinn(self.samples, self.form, r.pinn, generator=ctx.generator(), device=ctx.device,
                           echo=ctx.echo)
            return {"parameters": out["parameters"], "std_errors": None, "covariance": None, "converged": True,
                    "message": "", "details": {k: out[k] for k in ("L_D", "L_G", "steps", "history")}}
        from ..budget import Budget, BudgetExceeded
        from ..output_error.fit import fit_output_error

        o = r.output_error
        try:
            fit = fit_output_error(self.samples, self.form, length=o.length, nx=o.nx, dt=o.dt, ic_modes=o.ic_modes,
                                   max_iter=o.max_iter, dealias=o.dealias, budget=Budget(o.budget, "the output-error fit"),
                                   callback=lambda i, rss, p: ctx.echo(f"output error {i}: rss {rss:.6g}, "
                                                                       + self.form.format(p)))
        except BudgetExceeded as exc:
            if exc.partial is None:
                raise
            fit = exc.partial  # the last estimate, not converged; its message names the budget
            fit.message = (f"{fit.message}; raise output_error.budget (now {o.budget:g} s) to let it finish, e.g. "
                           f"--set output_error.budget={5 * o.budget:g}")
        if ctx.folder is not None and ctx.is_main:
            write_npz(ctx.folder / "initial_state.npz", dict(x=fit.x, u0=fit.u0), compressed=True)
        from ..output_error.fit import evidence

        found = evidence(fit, self.samples, self.form, ic_modes=o.ic_modes, length=o.length, nx=o.nx)
        return {"parameters": np.array(list(fit.parameters.values())), "std_errors": np.array(list(
                fit.std_errors.values())), "covariance": fit.covariance, "converged": fit.converged,
                "message": fit.message, "details": {**fit.summary(), "evidence": found}, "evidence": found}

    def finish(self, ctx: RunContext, result: dict[str, Any]) -> Outcome:
        p, se = result["parameters"], result["std_errors"]
        doubts = [self.static] if self.static else []
        if result.get("evidence") is not None:
            doubts += inverse_warnings(self.form.lhs, self.form.names, p, self.form.guesses, result["evidence"])
        blind = set(uninformed(result["evidence"]["sensitivity"])) if result.get("evidence") else set()
        equation = self.form.equation(p, None if blind else result["covariance"])
        summary: dict[str, Any] = {"estimator": self.recipe.estimator, "source": self.source,
                                   "equation": str(equation), "parameters": dict(zip(self.form.names, map(float, p))),
                                   "n": int(self.samples["u"].size), "noise": self.recipe.data.noise,
                                   "fit": result["details"]}
        lines = [f"identified {equation.format(6)}"]
        for i, name in enumerate(self.form.names):
            line = f"  {name} = {p[i]:.6g}"
            if name in blind:
                line += " (not informed by the data: no interval)"
            elif se is not None:
                summary.setdefault("std_errors", {})[name] = float(se[i])
                line += f" +- {se[i]:.2g} (95 % interval [{p[i] - 1.96 * se[i]:.6g}, {p[i] + 1.96 * se[i]:.6g}])"
            if self.recipe.truth is not None:
                true = self.recipe.truth[name]
                err = abs(p[i] - true) / abs(true) if true else abs(p[i])
                summary.setdefault("rel_errors", {})[name] = float(err)
                line += f"  (truth {true:.6g}, error {100 * err:.3f} %)"
            lines.append(line)
        if se is None:
            lines.append("  (the pinn estimator gives no intervals; use estimator: output_error for standard errors)")
        if ctx.folder is not None and ctx.is_main:
            write_json(ctx.folder / "fit.json", result["details"])
        if doubts:
            summary["unreliable"] = doubts
            lines += [f"not an answer: {why}" for why in doubts]
        converged = bool(result["converged"]) and all(math.isfinite(v) for v in p)
        reasons = ([] if converged else [f"the output-error fit did not converge: {result['message']}"]) + doubts
        return Outcome(summary, equation, {"parameters": summary["parameters"],
                                           "std_errors": summary.get("std_errors")}, lines, reliable=not reasons,
                       message="; ".join(reasons) or None)

