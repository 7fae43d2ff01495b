"""``problem: forward`` and ``problem: extrapolation`` as a :class:`~pdelearn.problems.base.Problem`.

A forward run parses the recipe's equation and conditions, computes (or loads) the reference
solution, trains :class:`~pdelearn.problems.forward.ForwardProblem` (one network per time window) and
reports the relative L2 error on the reference grid. The extrapolation study trains two networks in
the sub-folders ``aware/`` (initial, boundary and equation losses) and ``ignorant/`` (initial,
boundary and reference-data losses) on ``t <= t_train`` and compares them at the study's times.
Files: ``prediction.npz``, ``solution.png`` (or ``extrapolation.png``), ``losses.png`` and, via the
driver, ``equation.json`` / ``equation.tex`` (the enforced equation) and ``summary.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..runfiles import SUMMARY, write_json, write_npz
from .base import Outcome, Problem, RunContext
from .conditions import parse_conditions
from .forward_recipe import Recipe

__all__ = ["ForwardRun", "time_key"]


def _progress(part: dict[str, Any]) -> str:
    """``stopped at step 738 of 15200; time windows 1-2 of 4 trained, window 3 in progress``."""
    n, done, steps = part["time_windows"], part["windows_done"], part["steps"]
    trained = ("no time window trained to its end" if done == 0 else
               f"time window{'s 1-' if done > 1 else ' '}{done} of {n} trained")
    within = f", window {done + 1} in progress" if done < n else ""
    return f"stopped at step {steps} of {part['total_steps']}; {trained}{within}"


def time_key(t: float) -> str:
    """``0.815`` -> ``"t0815"`` (thousandths), used in summary keys such as ``err_t0815_aware``."""
    return f"t{int(round(1000 * t)):04d}"


class ForwardRun(Problem):
    """Physics-informed forward problem (and the aware / ignorant extrapolation study)."""

    name = "forward"
    Recipe = Recipe

    def __init__(self, recipe: Recipe, conditions, reference, setup_s: float):
        self.recipe, self.conditions, self.reference, self.setup_s = recipe, conditions, reference, setup_s
        self.summary: dict[str, Any] = {}

    @classmethod
    def build(cls, recipe: Recipe, ctx: RunContext) -> "ForwardRun":
        from .reference import reference_solution

        t0 = time.perf_counter()
        cond = parse_conditions(recipe)
        ref = reference_solution(recipe, cond)
        run = cls(recipe, cond, ref, time.perf_counter() - t0)
        ctx.echo(f"enforcing  {cond.equation}")
        if ref is not None:
            ctx.echo(f"reference  {ref.source} ({run.setup_s:.1f} s)")
        return run

    def train(self, ctx: RunContext) -> dict[str, Any]:
        if self.recipe.problem == "extrapolation":
            return self._extrapolation(ctx)
        summary = self._train_one(ctx, ctx.folder, self.recipe.losses.weights.model_dump(), None)
        summary.pop("prediction")
        return summary

    def finish(self, ctx: RunContext, result: dict[str, Any]) -> Outcome:
        summary = dict(result)
        summary["setup_time_s"] = round(self.setup_s, 3)
        rel = summary.get("rel_l2")
        lines = [f"rel. L2 error {rel:.3e} over the full reference grid" if rel is not None
                 else "no reference: rel. L2 not measured"]
        lines += [f"{k} {summary[k]:.3e}" for k in sorted(k for k in summary if k.startswith("err_t"))]
        reliable, message = self._time_budget(ctx, summary)
        return Outcome(summary, self.conditions.equation, {"role": "enforced"}, lines, reliable, message)

    def _time_budget(self, ctx: RunContext, summary: dict[str, Any]) -> tuple[bool, str | None]:
        """A run stopped by ``max_minutes`` is unreliable unless ``training.target_rel_l2`` is stated and met; a
        finished run is unreliable when it misses a stated target."""
        parts = [(v, summary[v]) for v in ("aware", "ignorant") if v in summary] or [("", summary)]
        stopped = [(v, p) for v, p in parts if p.get("stopped")]
        target, rel = self.recipe.training.target_rel_l2, summary.get("rel_l2")
        if not stopped:  # a finished run that misses a stated target is no result either
            missed = [(v, p["rel_l2"]) for v, p in parts if target is not None and p.get("rel_l2") is not None
                      and not p["rel_l2"] <= target]
            if missed:
                summary["target_met"] = False
                errors = ", ".join(f"{v + ' network ' if v else ''}{r:.3e}" for v, r in missed)
                return False, (f"the run finished, but its rel. L2 error ({errors}) misses training.target_rel_l2 = "
                               f"{target:g}; train longer (training.steps) or check the recipe")
            if target is not None and rel is not None:
                summary["target_met"] = True
            return True, None
        where = "; ".join(f"{v + ' network ' if v else ''}{_progress(p)}" for v, p in stopped)
        again = f"continue with: pdelearn fit --resume {ctx.folder}" if ctx.folder is not None else "train longer"
        if target is not None and rel is not None and rel <= target and all(p.get("rel_l2") is not None
                                                                            and p["rel_l2"] <= target for _, p in parts):
            summary["target_met"] = True
            ctx.echo(f"stopped by max_minutes ({where}); the rel. L2 error {rel:.3e} meets training.target_rel_l2 = "
                     f"{target:g}; {again}")
            return True, None
        summary["target_met"] = False if target is not None else None
        verdict = (f"the rel. L2 error {rel:.3e} misses training.target_rel_l2 = {target:g}" if target is not None
                   and rel is not None else "the recipe states no training.target_rel_l2 that the result could meet"
                   if target is None else "no reference measured the rel. L2 error that training.target_rel_l2 asks for")
        return False, (f"training stopped by training.max_minutes = {self.recipe.training.max_minutes:g} before it "
                       f"finished ({where}); {verdict}, so the result is not trustworthy; {again}")

    # -- training ----------------------------------------------------------------------------------
    def _train_one(self, ctx: RunContext, folder: Path | None, weights: dict[str, float],
                   t_end: float | None) -> dict[str, Any]:
        from ..plots import plot_losses, plot_solution
        from ..train import METRICS, Trainer
        from .forward import ForwardProblem

        recipe, ref = self.recipe, self.reference
        tr = recipe.training
        problem = ForwardProblem(recipe, self.conditions, ref, weights=weights, t_end=t_end, device=ctx.device)

        def metrics(step: int) -> dict[str, float]:
            out = dict(problem.diagnostics)
            out["window"] = problem.window
            if tr.eval_every and (step % tr.eval_every == 0 or step == problem.total_steps) and ref is not None:
                out["rel_l2"] = problem.rel_l2()
            return out

        trainer = Trainer(problem.param_groups(), problem.losses, steps=problem.total_steps,
                          state={"problem": problem}, folder=folder, log_every=tr.log_every,
                          checkpoint_every=tr.checkpoint_every, max_minutes=tr.max_minutes, progress=ctx.progress,
                          before_step=problem.before_step, metrics_fn=metrics, meta=ctx.checkpoint_meta())
        ctx.echo(f"minimising {' + '.join(problem.loss_names)} for {problem.total_steps} steps "
                 f"({tr.time_windows} time window{'s' if tr.time_windows > 1 else ''}, {tr.dtype}, {ctx.device.type})")
        earlier = 0.0
        if ctx.resume and folder is not None and (folder / "checkpoint.pt").exists():
            step = trainer.resume()
            earlier = trainer.elapsed_s
            ctx.echo(f"resuming {folder} at step {step} of {problem.total_steps}")
        result = trainer.run()
        done = min(result.step // max(problem.period, 1), tr.time_windows)
        summary: dict[str, Any] = {
            "problem": recipe.problem,
            "equation": str(self.conditions.equation),
            "steps": result.step,
            "total_steps": problem.total_steps,
            "finished": result.step >= problem.total_steps,
            "stopped": result.stopped,
            "train_time_s": round(result.elapsed_s, 3),
            "earlier_time_s": earlier,
            "losses": result.losses,
            "loss_names": problem.loss_names,
            "dtype": tr.dtype,
            "parameters": sum(p.numel() for p in problem.models[0].net.parameters()),
            "time_windows": tr.time_windows,
            "windows_done": done,
        }
        if ref is not None:
            pred = problem.predict(ref.x, ref.t)
            summary["rel_l2"] = ref.rel_l2(pred)
            summary["reference"] = ref.source
            summary["prediction"] = pred
            if folder is not None:
                write_npz(folder / "prediction.npz", dict(x=ref.x, t=ref.t, u=pred, reference=ref.u), compressed=True)
                plot_solution(ref.x, ref.t, pred, ref.u, folder / "solution.png", title=str(self.conditions.equation),
                              t_train=t_end)
        else:
            summary["rel_l2"] = None
            summary["prediction"] = None
        if folder is not None:
            plot_losses(folder / METRICS, folder / "losses.png")
        return summary

    def _extrapolation(self, ctx: RunContext) -> dict[str, Any]:
        from ..plots import plot_extrapolation

        recipe, ref = self.recipe, self.reference
        ex = recipe.extrapolation
        summary: dict[str, Any] = {"problem": "extrapolation", "equation": str(self.conditions.equation),
                                   "t_train": ex.t_train, "times": list(ex.times)}
        preds: dict[str, np.ndarray] = {}
        total = 0.0
        steps = 0
        for variant in ("aware", "ignorant"):
            sub = ctx.folder / variant if ctx.folder is not None else None
            if sub is not None:
                sub.mkdir(exist_ok=True)
            ctx.echo(f"training the {variant} network on t <= {ex.t_train}")
            part = self._train_one(ctx, sub, getattr(ex, variant).model_dump(), ex.t_train)
            preds[variant] = part.pop("prediction")
            total += part.pop("earlier_time_s")
            steps += part["steps"]
            if sub is not None:
                write_json(sub / SUMMARY, part)
            summary[variant] = part
            summary[f"rel_l2_{variant}"] = part["rel_l2"]
        summary["steps"] = steps
        summary["earlier_time_s"] = total
        summary["rel_l2"] = summary["rel_l2_aware"]
        if ref is not None:
            keep = ref.t <= ex.t_train + 1e-9
            for variant, pred in preds.items():
                summary[f"rel_l2_train_{variant}"] = ref.rel_l2(pred, keep)
                for t in ex.times:
                    j = int(np.argmin(np.abs(ref.t - t)))
                    mask = np.zeros(ref.t.size, dtype=bool)
                    mask[j] = True
                    summary[f"err_{time_key(t)}_{variant}"] = ref.rel_l2(pred, mask)
                    summary[f"time_{time_key(t)}"] = float(ref.t[j])
            if ctx.folder is not None:
                plot_extrapolation(ref.x, ref.t, ref.u, preds, list(ex.times), ex.t_train,
                                   ctx.folder / "extrapolation.png")
        return summary
