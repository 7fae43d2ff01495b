"""Allen-Cahn forward problem: accuracy vs wall time, and the cost of the library-generated residual.

Two parts (``--part overhead|ablations|all``):

- **overhead**: time per training step (forward, derivatives, residual, loss, backward, Adam step) of
  the residual generated from the term library (``GoverningEquation.from_equation`` +
  ``autograd_derivatives``, exactly what ``pdelearn fit`` runs) against a hand-written
  ``u_t - 1e-4 u_xx + 5 u^3 - 5 u``, same network, same batch, interleaved repetitions; target
  ratio <= 1.2.
- **ablations**: ``pdelearn fit recipes/allen_cahn.yaml`` and variants (``--set`` overrides), each
  reporting the full-grid relative L2 error and the wall time.

Prints a table and writes JSON (``--out``, default ``benchmarks/results/allen_cahn.json``).

    python benchmarks/allen_cahn.py --part overhead
    python benchmarks/allen_cahn.py --part ablations --scale 0.1   # a quick look (10 % of the steps)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "allen_cahn.yaml"

#: name -> --set overrides on top of recipes/allen_cahn.yaml
ABLATIONS = {
    "default": [],
    "no time marching (1 window, same total steps)": ["training.time_windows=1", "@steps*windows"],
    "no hard IC (L_I loss)": ["training.hard_ic=false"],
    "no causal weights": ["training.causal=null"],
    "no L-BFGS finish": ["training.lbfgs_steps=0"],
    "modified MLP": ["model.type=modified_mlp"],
    "plain PINN (1 window, soft IC, no causal, 1 harmonic)": [
        "training.time_windows=1", "@steps*windows", "training.hard_ic=false", "training.causal=null",
        "model.periodic_harmonics=1"],
}


def _hand_written_loss(model, x, t):
    x = x.detach().requires_grad_(True)
    t = t.detach().requires_grad_(True)
    u = model(x, t)
    ones = torch.ones_like(u)
    (u_x,) = torch.autograd.grad(u, x, ones, create_graph=True)
    (u_xx,) = torch.autograd.grad(u_x, x, ones, create_graph=True)
    (u_t,) = torch.autograd.grad(u, t, ones, create_graph=True)
    r = u_t - 1e-4 * u_xx + 5 * u**3 - 5 * u
    return r.square().mean()


def overhead(repeats: int, steps: int, dtype: str, overrides: list[str]) -> dict:
    """Median time per training step, library residual vs hand-written, interleaved."""
    from pdelearn.problems.conditions import parse_conditions
    from pdelearn.problems.forward import ForwardProblem
    from pdelearn.recipes import load_recipe

    recipe = load_recipe(RECIPE, ["reference.solver=none", f"training.dtype={dtype}", "device=cpu",
                                  "training.causal=null", *overrides])
    prob = ForwardProblem(recipe, parse_conditions(recipe), None)
    prob.before_step(0)
    model = prob.models[0]
    opt = torch.optim.Adam(model.net.parameters(), lr=1e-4)

    def library_loss():
        return prob.residual(model, prob.x_col, prob.t_col).square().mean()

    def hand_loss():
        return _hand_written_loss(model, prob.x_col, prob.t_col)

    lib0, hand0 = float(library_loss().detach()), float(hand_loss().detach())

    def timed(fn):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = fn()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / steps

    timed(library_loss), timed(hand_loss)  # warm-up
    lib, hand = [], []
    for _ in range(repeats):
        lib.append(timed(library_loss))
        hand.append(timed(hand_loss))
    ratios = [a / b for a, b in zip(lib, hand)]
    return {
        "batch": prob.n_col, "model": recipe.model.model_dump(), "dtype": dtype, "hard_ic": recipe.training.hard_ic,
        "threads": torch.get_num_threads(), "steps_per_repeat": steps, "repeats": repeats,
        "library_ms": 1e3 * min(lib), "hand_ms": 1e3 * min(hand), "ratio": min(lib) / min(hand),
        "library_ms_median": 1e3 * statistics.median(lib), "hand_ms_median": 1e3 * statistics.median(hand),
        "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
        "same_loss": abs(lib0 - hand0) <= 1e-5 * max(1.0, abs(hand0)),
    }


def _expand(overrides: list[str], scale: float) -> list[str]:
    from pdelearn.recipes import load_recipe

    base = load_recipe(RECIPE)
    steps, lbfgs, windows = base.training.steps, base.training.lbfgs_steps, base.training.time_windows
    out = []
    for item in overrides:
        if item == "@steps*windows":
            steps, lbfgs = steps * windows, lbfgs * windows
        else:
            out.append(item)
    return out + [f"training.steps={max(1, int(steps * scale))}", f"training.lbfgs_steps={int(lbfgs * scale)}"]


def ablations(names: list[str], scale: float, budget_minutes: float | None, device: str) -> list[dict]:
    """Run the default recipe and its variants; rel. L2 over the full grid and wall time for each."""
    from pdelearn import load_recipe, run_recipe

    rows = []
    for name in names:
        sets = _expand(ABLATIONS[name], scale) + [f"device={device}", "training.log_every=500"]
        if budget_minutes:
            sets.append(f"training.max_minutes={budget_minutes}")
        recipe = load_recipe(RECIPE, sets)
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_recipe(recipe, tmp, progress=False).summary
        row = {"name": name, "overrides": sets, "rel_l2": summary["rel_l2"], "wall_time_s": summary["wall_time_s"],
               "steps": summary["steps"], "finished": summary["finished"]}
        rows.append(row)
        print(f"  {name:<55} rel. L2 {row['rel_l2']:.3e}  {row['wall_time_s']:7.1f} s  {row['steps']} steps"
              + ("" if row["finished"] else " (stopped by the time budget)"), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["overhead", "ablations", "all"], default="all")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20, help="training steps per timing repeat")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the recipe's step counts (ablations)")
    ap.add_argument("--budget-minutes", type=float, default=None, help="time limit per ablation run")
    ap.add_argument("--only", action="append", choices=list(ABLATIONS), help="run only these ablations")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "allen_cahn.json")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {"machine": platform.platform(), "processor": platform.processor(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()}
    if args.part in ("overhead", "all"):
        rows = []
        for label, extra in (("hard IC, 10 harmonics (the recipe)", []),
                             ("soft IC, 1 harmonic", ["training.hard_ic=false", "model.periodic_harmonics=1"])):
            r = overhead(args.repeats, args.steps, args.dtype, extra)
            r["setup"] = label
            rows.append(r)
        result["overhead"] = rows
        print(f"\nLibrary residual vs hand-written: best ms per training step over {args.repeats} repeats "
              f"({args.dtype}, {rows[0]['threads']} threads); median of the paired ratios in brackets")
        print(f"  {'setup':<38} {'batch':>6} {'library':>9} {'hand':>9} {'ratio':>7}  (median)")
        for r in rows:
            print(f"  {r['setup']:<38} {r['batch']:>6} {r['library_ms']:9.2f} {r['hand_ms']:9.2f} "
                  f"{r['ratio']:7.3f}  ({r['ratio_median']:.3f})"
                  + ("" if r["same_loss"] else "  LOSSES DIFFER"))
    if args.part in ("ablations", "all"):
        print(f"\nAblations of recipes/allen_cahn.yaml (scale {args.scale}, device {args.device})")
        result["ablations"] = ablations(args.only or list(ABLATIONS), args.scale, args.budget_minutes, args.device)
        result["scale"] = args.scale
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
