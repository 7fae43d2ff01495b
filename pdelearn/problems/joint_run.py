"""``problem: joint_discovery`` as a :class:`~pdelearn.problems.base.Problem`, and its run folder.

The problem draws ``data.samples`` noisy samples from a built-in system
(:mod:`pdelearn.solvers.systems`) or a data file, runs :func:`~pdelearn.problems.joint.joint_discover`
and writes ``data.npz`` (the clean grid the samples came from, so ``pdelearn simulate DIR`` can integrate
the discovered equation from its initial condition), ``samples.npz``, ``options.json``, ``history.json``,
``coefficients.png`` and, through the driver, ``equation.json`` / ``equation.tex`` (with intervals) and
``summary.json``. :func:`write_joint_run` writes the same files for a result obtained in Python.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..equation import Equation
from ..errors import DataError
from ..reliability import static_field
from ..runfiles import SUMMARY, write_equation, write_json, write_npz
from .base import Outcome, Problem, RunContext
from .joint import JointConfig, JointResult, joint_discover
from .joint_recipe import JointRecipe, joint_config

__all__ = ["JointDiscovery", "write_joint_run", "interval_method", "summarize", "refinement_lines"]


class JointDiscovery(Problem):
    """A network and its governing equation learned together from scattered samples."""

    name = "joint_discovery"
    Recipe = JointRecipe
    resumable = False

    def __init__(self, recipe: JointRecipe, cfg: JointConfig, samples: dict[str, np.ndarray], library, truth, source,
                 static: str | None = None):
        self.recipe, self.cfg, self.samples, self.library, self.truth, self.source = (
            recipe, cfg, samples, library, truth, source)
        self.static = static  #: why the data hold no dynamics to discover (nothing is trained then)

    @classmethod
    def build(cls, recipe: JointRecipe, ctx: RunContext) -> "JointDiscovery":
        from ..data import load_grid_data
        from ..sampling import make_samples
        from ..solvers.systems import system
        from ..terms import TermLibrary

        cfg = JointConfig.from_dict(joint_config(recipe))
        d = recipe.data
        truth, name = None, "u"
        if d.system is not None:
            sys_ = system(d.system)
            grid = sys_.solve()
            x, t, u = grid["x"], grid["t"], grid["u"]
            truth = sys_.equation()
            source = f"solver:{sys_.name}"
        else:
            g = load_grid_data(d.file, fields=d.fields, coords=d.coords)
            if len(g.fields) != 1 or len(g.space) != 1:
                raise DataError(f"joint discovery needs one field in one space dimension; {d.file} has fields "
                                f"{list(g.fields)} on {list(g.space)}")
            x, t = g.coords[g.space[0]], g.coords[g.time]
            name, u = next(iter(g.fields.items()))
            source = d.file
        static = static_field(name, np.asarray(u, dtype=np.float64))
        if static:  # nothing to learn (exit 3 with the reason, as discover does); no samples to draw from a constant
            ctx.echo(f"joint discovery: {static}")
            return cls(recipe, cfg, {}, None, truth, source, static)
        s = make_samples(x, t, u, cfg.samples, cfg.noise, cfg.seed)
        dx = np.diff(np.asarray(x, dtype=np.float64))
        if cfg.period is None and dx.size and np.allclose(dx, dx[0], rtol=1e-6, atol=0):
            cfg.period = float(dx[0] * x.size)  # the grid's period, known even where the samples miss an end point
        if ctx.folder is not None and ctx.is_main:
            write_npz(ctx.folder / "data.npz", {"x": x, "t": t, "u": u}, compressed=True)
            write_npz(ctx.folder / "samples.npz", s, compressed=True)
            write_json(ctx.folder / "options.json", {"data": "data.npz", "source": source, "samples": cfg.samples,
                                                     "noise": cfg.noise, "seed": cfg.seed})
        library = TermLibrary(recipe.library.terms, ["u"], ["x"]) if recipe.library.terms else None
        ctx.echo(f"joint discovery from {cfg.samples} samples of {source} (noise {cfg.noise:.0%}), {cfg.dtype}, "
                 f"{ctx.device.type}")
        return cls(recipe, cfg, s, library, truth, source)

    def train(self, ctx: RunContext) -> JointResult | None:
        if self.static:
            return None
        return joint_discover(self.samples, self.library, self.cfg, folder=ctx.folder, device=ctx.device,
                              progress=ctx.progress, echo=ctx.echo)

    def finish(self, ctx: RunContext, result: JointResult | None) -> Outcome:
        if result is None:
            return Outcome({"problem": "joint_discovery", "source": self.source, "equation": None}, reliable=False,
                           message=f"no equation found: {self.static}")
        if ctx.folder is not None and ctx.is_main:
            write_json(ctx.folder / "history.json", _history(result), indent=1)
            from ..plots import plot_trajectory

            plot_trajectory(result, ctx.folder / "coefficients.png")
        summary = summarize(result, truth=self.truth, extra={"source": self.source})
        lines = [f"discovered {summary['equation']}"]
        lines += [f"  {k}: 95 % interval [{lo:.5g}, {hi:.5g}]" for k, (lo, hi) in summary["intervals"].items()]
        if "exact_support" in summary:
            lines.append(f"truth      {summary['truth']}  (exact support: {summary['exact_support']}, max coefficient "
                         f"error {100 * summary['max_rel_error']:.2f} %)")
        lines += refinement_lines(summary)
        ctx.echo(f"{summary['steps']} steps, {summary['stopped']}; next: pdelearn simulate {ctx.folder}")
        ref = result.refinement
        if result.unreliable:  # the best candidate is shown as such, never as "discovered"
            lines[0] = f"no equation found; best candidate (not an answer): {summary['equation']}"
            lines += [f"not an answer: {why}" for why in result.unreliable]
            return Outcome(summary, result.equation, equation_extra(result), lines, reliable=False,
                           message="no reliable equation found: " + "; ".join(result.unreliable))
        if ref is not None and ref.status == "stopped":
            return Outcome(summary, result.equation, equation_extra(result), lines, reliable=False,
                           message=f"no reliable equation found: {ref.note}")
        if ref is not None and not ref.reliable:
            return Outcome(summary, result.equation, equation_extra(result), lines, reliable=False,
                           message=f"no reliable equation found: {ref.note} (candidates and misfits above and in "
                                   "summary.json's 'refinement'; if the data are not periodic in x or their period is "
                                   "not the grid's, set data.period or sparsity.refine: none)")
        return Outcome(summary, result.equation, equation_extra(result), lines)


def refinement_lines(summary: Mapping[str, Any]) -> list[str]:
    """Printed lines on the output-error refinement: the network's equation, the check, the candidates."""
    ref = summary["refinement"]
    lines = [f"network    {summary['network_equation']}"]
    if ref["status"] == "off":
        return lines + [f"  {ref['note']}"]
    if ref["status"] == "skipped":
        return lines + [f"  {ref['note']}"]
    for i, a in enumerate(ref.get("attempts", [])):
        lines.append(f"training run {i + 1} (network seed {a['network_seed']}): {a['network_equation']}; no candidate "
                     f"passed the output-error check (noise level {a['noise_sigma']:.4g}):")
        lines += [_candidate_line(c) for c in a["candidates"]]
    if ref.get("attempts"):
        lines.append(f"training run {len(ref['attempts']) + 1} (network seed {ref['settings']['network_seed']}), "
                     f"from new weights on the same samples:")
    lines.append(f"output-error check (noise level {ref['noise_sigma']:.4g}; a misfit passes up to "
                 f"{math.sqrt(ref['threshold']):.3f} x that):")
    lines += [_candidate_line(c) for c in ref["candidates"]]
    if ref["status"] == "accepted":
        lines += [f"  {k}: {v:.6g} +- {ref['std_errors'][k]:.2g} (Fisher standard error)" for k, v in ref["terms"].items()]
    return lines


def _candidate_line(c: Mapping[str, Any]) -> str:
    what = (f"misfit {math.sqrt(c['ratio']):.3f} x noise, {'pass' if c['passed'] else 'FAIL'}"
            if c.get("ratio") is not None else f"failed: {c.get('error')}")
    if c.get("resolved") is False:
        what += f" (not resolved on the grid: a grid twice as fine changes it by {c['grid_change']:.2g} x noise)"
    if c.get("reason"):
        what += f" ({c['reason']})"
    return f"  {c['origin']}: {', '.join(c['support'])}: {what}"


def _history(result: JointResult) -> dict[str, Any]:
    return {"sparsifications": result.history, "pruning": result.pruning, "final_phase": result.final_readouts,
            "ensemble": result.ensemble, "trajectory": result.trajectory}


def equation_extra(result: JointResult) -> dict[str, Any]:
    """The keys joint discovery adds to ``equation.json``."""
    return {"role": "discovered", "method": "joint", "interval_method": interval_method(result)}


def summarize(result: JointResult, *, samples: Mapping[str, Any] | None = None, truth: Equation | None = None,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``summary.json`` of a joint discovery (compared with ``truth`` when given)."""
    summary: dict[str, Any] = {
        "problem": "joint_discovery",
        "equation": str(result.equation),
        "terms": result.equation.coefficients,
        "intervals": {k: list(v) for k, v in result.equation.intervals.items()},
        "interval_method": interval_method(result),
        "ensemble": result.ensemble,
        "samples": int(result.config.samples if samples is None else len(samples["u"])),
        "noise": result.config.noise,
        "seed": result.config.seed,
        "steps": result.steps,
        "stopped": result.stopped,
        "sparsifications": len(result.history),
        "pruned": [r["dropped"] for r in result.pruning if r["dropped"]],
        "relative_residual": result.relative_residual,
        "losses": result.losses,
        "library": result.library.keys,
        "wall_time_s": round(result.wall_time_s, 3),
        "ensemble_time_s": round(result.ensemble_time_s, 3),
        "evidence": result.evidence,
        "unreliable": result.unreliable,
    }
    net = result.network_equation if result.network_equation is not None else result.equation
    summary.update(network_equation=str(net), network_terms=net.coefficients,
                   network_intervals={k: list(v) for k, v in net.intervals.items()},
                   network_interval_method=network_interval_method(result))
    if result.refinement is not None:
        summary["refinement"] = result.refinement.summary()
    else:
        summary["refinement"] = {"status": "off", "note": "sparsity.refine: none: the equation was not checked by "
                                 "simulating it against the samples"}
    if truth is not None:
        summary["truth"] = str(truth)
        summary["truth_terms"] = truth.coefficients
        summary.update(result.equation.compare(truth))
        summary.update({f"network_{k}": v for k, v in net.compare(truth).items()})
    if extra:
        summary.update(extra)
    return summary


def write_joint_run(result: JointResult, folder: str | os.PathLike, *, samples: Mapping[str, Any] | None = None,
                    truth: Equation | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``equation.json`` / ``equation.tex`` (with intervals), ``coefficients.png``,
    ``history.json`` and ``summary.json`` for a result of :func:`joint_discover` obtained in Python.

    Returns the summary.
    """
    from ..plots import plot_trajectory

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_equation(folder, result.equation, extra=equation_extra(result))
    write_json(folder / "history.json", _history(result), indent=1)
    plot_trajectory(result, folder / "coefficients.png")
    summary = summarize(result, samples=samples, truth=truth, extra=extra)
    write_json(folder / SUMMARY, summary)
    return summary


def interval_method(result: JointResult) -> str:
    """One line saying how the per-term intervals of ``result`` were made."""
    if not result.equation.intervals:
        return "none"
    ref = result.refinement
    if ref is not None and ref.status == "accepted" and result.equation is ref.equation:
        return ("95 % interval: estimate -+ 1.96 Fisher standard errors of the output-error fit (coefficients and "
                "initial state fitted to the samples by simulating the equation; the choice of support not included)")
    return network_interval_method(result)


def network_interval_method(result: JointResult) -> str:
    """How the intervals of the network's equation (``result.network_equation``) were made."""
    cfg = result.config
    net = result.network_equation if result.network_equation is not None else result.equation
    if not net.intervals:
        return "none"
    if result.ensemble:
        start = "the trained network" if cfg.ensemble_init == "warm" else "new weights"
        return (f"95 % interval: estimate -+ t(K-1) * sd over an ensemble of K={cfg.ensemble} networks, each trained "
                f"{cfg.ensemble_steps} steps from {start} on a bootstrap resample of the samples with the support fixed")
    if cfg.bootstrap:
        return (f"95 % percentile interval of the final least-squares fit over {cfg.bootstrap} bootstrap resamples of "
                "the collocation rows, for the one trained network (network error not included)")
    return "none"
