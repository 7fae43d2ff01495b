"""Close the loop: simulate a discovered equation and compare it with the data it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .data import load_grid_data
from .equation import Equation, load_equation
from .errors import ConfigError, DataError
from .solvers.equation import simulate_equation

__all__ = ["simulate_run"]


def simulate_run(run: str | Path, data: str | Path | None = None) -> dict[str, Any]:
    """Integrate ``run/equation.json`` from the data's initial condition.

    The data file is the one recorded in ``run/options.json`` (or ``data``); a relative path is looked up
    in the run folder first (joint discovery runs store their grid there as ``data.npz``). Writes
    ``run/simulation.json`` (``rel_l2`` over the whole grid) and ``run/simulation.png``
    (data, simulation, difference) and returns the summary.
    """
    run = Path(run)
    eq_path, opt_path = run / "equation.json", run / "options.json"
    if not eq_path.exists():
        raise DataError(f"{str(eq_path)!r} does not exist; pass a run folder written by 'pdelearn discover'")
    equation = load_equation(json.loads(eq_path.read_text()))
    if not isinstance(equation, Equation):
        raise ConfigError("simulate handles one field in one space dimension; this run holds an equation system")
    options = json.loads(opt_path.read_text()) if opt_path.exists() else {}
    source = data or options.get("data")
    if not source:
        raise DataError(f"no data file recorded in {str(opt_path)!r}; pass --data PATH")
    if not Path(source).is_absolute() and (run / source).is_file():
        source = str(run / source)  # a data file stored in the run folder (joint discovery writes data.npz)
    how = options.get("load") or {"fields": options.get("fields"), "coords": options.get("coords"),
                                  "time": options.get("time")}
    grid = load_grid_data(source, **how)
    field = equation.field
    if field not in grid.fields or len(grid.space) != 1:
        raise DataError(f"the data in {source!r} has fields {list(grid.fields)} on {list(grid.space)}; expected {field!r} in 1-D")
    x, t = grid.coords[grid.space[0]], grid.coords[grid.time]
    u = grid.fields[field]
    sim = simulate_equation(equation, x, t - t[0], u[:, 0])
    ok = bool(np.all(np.isfinite(sim)))
    rel = float(np.linalg.norm(sim - u) / np.linalg.norm(u)) if ok else float("inf")
    summary = {"equation": str(equation), "data": str(source), "rel_l2": rel, "finite": ok}
    (run / "simulation.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(run / "simulation.png", x, t, u, sim, str(equation))
    return summary


def _plot(path: Path, x, t, data, sim, title: str) -> None:
    from .plots import new_figure

    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 3)
    extent = [t[0], t[-1], x[0], x[-1]]
    for ax, arr, name in zip(axes, (data, sim, sim - data), ("data", "simulated", "simulated - data")):
        im = ax.imshow(arr, aspect="auto", origin="lower", extent=extent, cmap="RdBu_r" if "-" in name else "viridis")
        ax.set(title=name, xlabel="t", ylabel="x")
        fig.colorbar(im, ax=ax)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
