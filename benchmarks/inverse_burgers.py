"""Benchmark: Raissi et al.'s Burgers identification (``recipes/burgers_inverse.yaml``), both estimators,
and the differentiable solver's cost next to the numpy solver.

Cases: ``u_t = -l1 u u_x + l2 u_xx`` (truth l1 = 1, l2 = 0.01/pi) from 2,000 random samples of the
256 x 100 grid, noise 0 and 1 % (``noise * std(u) * N(0, 1)``), sampled with ``--seeds`` (the recipe's
``seed``; seeds 0 and 100 were used in development, report others). Each case runs the recipe through
the run driver (:func:`pdelearn.runs.run_recipe`, nothing written) with one torch thread, in a worker
process (``--workers`` at a time), and records the relative errors, the output-error fit's Fisher
standard errors (relative) and the wall time. The recipe's defaults are used unchanged
(``--set key=value`` overrides every case, e.g. ``pinn.lbfgs_steps=2000``).

``--timing``: one Burgers 256 x 100 run (the PDE-FIND set-up: ``[-8, 8)``, ``nu = 0.1``, dt = 0.01,
``t = 0..10``) in float64 on one thread: the numpy solver's forward pass, the torch solver's forward
pass, and the torch forward + backward (checkpointed, gradient of a sum of squares w.r.t. the two
coefficients and ``u0``); best of ``--repeat``; ratio torch forward+backward / numpy forward.

Usage::

    python benchmarks/inverse_burgers.py --seeds 1 2 --noise 0 0.01 --estimators output_error --workers 2
    python benchmarks/inverse_burgers.py --timing
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "burgers_inverse.yaml"


def run_case(estimator: str, noise: float, seed: int, overrides: list[str]) -> dict:
    import torch

    torch.set_num_threads(1)
    from pdelearn.recipes import load_recipe
    from pdelearn.runs import run_recipe

    recipe = load_recipe(RECIPE, [f"estimator={estimator}", f"data.noise={noise}", f"seed={seed}", "device=cpu",
                                  *overrides])
    t0 = time.perf_counter()
    row = {"estimator": estimator, "noise": noise, "seed": seed}
    try:
        out = run_recipe(recipe, None)
    except Exception as exc:  # a failed case is a row, not a crash of the table
        return {**row, "error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - t0}
    s = out.summary
    truth = recipe.truth
    rel_se = {k: v / abs(truth[k]) for k, v in (s.get("std_errors") or {}).items()}
    return {**row, "parameters": s["parameters"], "rel_errors": s["rel_errors"], "rel_se": rel_se,
            "reliable": out.reliable, "wall_s": round(time.perf_counter() - t0, 1),
            "iterations": s["fit"].get("iterations", s["fit"].get("steps"))}


def timing(repeat: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from pdelearn.equation import Equation
    from pdelearn.solvers.equation import simulate_equation
    from pdelearn.solvers.torch_etdrk4 import PeriodicSolver

    eq = Equation.parse("u_t = -u*u_x + 0.1*u_xx")
    x = -8.0 + 16.0 * np.arange(256) / 256
    t = np.linspace(0.0, 10.0, 101)
    u0 = np.exp(-((x + 2.0) ** 2))
    solver = PeriodicSolver(eq, 256, 16.0)

    def best(fn):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    def fwd_bwd():
        c = torch.tensor([-1.0, 0.1], dtype=torch.float64, requires_grad=True)
        v = torch.tensor(u0, requires_grad=True)
        (solver.solve(c, v, t, 0.01) ** 2).sum().backward()

    def fwd():
        with torch.no_grad():
            solver.solve(torch.tensor([-1.0, 0.1], dtype=torch.float64), torch.tensor(u0), t, 0.01)

    numpy_s = best(lambda: simulate_equation(eq, x, t, u0, dt=0.01))
    torch_fwd = best(fwd)
    torch_fb = best(fwd_bwd)
    return {"numpy_forward_s": numpy_s, "torch_forward_s": torch_fwd, "torch_forward_backward_s": torch_fb,
            "ratio_fb_to_numpy_forward": torch_fb / numpy_s, "steps": 1000, "grid": "256 x 101", "threads": 1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01])
    ap.add_argument("--estimators", nargs="+", default=["output_error", "pinn"], choices=["output_error", "pinn"])
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--timing", action="store_true", help="only the solver timing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="inverse_burgers.json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.timing:
        res = timing(args.repeat)
        print("| numpy forward s | torch forward s | torch forward+backward s | ratio (f+b / numpy f) |")
        print("|---|---|---|---|")
        print(f"| {res['numpy_forward_s']:.3f} | {res['torch_forward_s']:.3f} | {res['torch_forward_backward_s']:.3f} "
              f"| {res['ratio_fb_to_numpy_forward']:.1f} |")
        Path(args.out).write_text(json.dumps({"timing": res}, indent=2) + "\n")
        return 0
    cases = [(e, n, s) for e in args.estimators for n in args.noise for s in args.seeds]
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_case, *case, args.overrides) for case in cases]
        for fut in as_completed(futures):  # each row is kept as soon as it is done
            rows.append(fut.result())
            with open(Path(args.out).with_suffix(".jsonl"), "a") as fh:
                fh.write(json.dumps(rows[-1]) + "\n")
    rows.sort(key=lambda r: (r["estimator"], r["noise"], r["seed"]))
    print("| estimator | noise | seed | l1 err % | l2 err % | l1 se % | l2 se % | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['estimator']} | {r['noise']:g} | {r['seed']} | failed: {r['error'][:80]} |")
            continue
        e, se = r["rel_errors"], r["rel_se"]
        def fmt(d, k):
            return f"{100 * d[k]:.4f}" if k in d else "-"
        print(f"| {r['estimator']} | {r['noise']:g} | {r['seed']} | {fmt(e, 'l1')} | {fmt(e, 'l2')} | {fmt(se, 'l1')} | "
              f"{fmt(se, 'l2')} | {r['wall_s']} |")
    Path(args.out).write_text(json.dumps({"rows": rows, "overrides": args.overrides}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
