"""Close the loop: simulate a discovered equation and compare it with the data it came from.

Whatever a run folder holds (an edited ``equation.json``, a term the solver cannot evaluate), a failure
is a :class:`~pdelearn.errors.PdelearnError` that names the file and what to do; ``simulation.json`` and
``simulation.png`` are written atomically, and only once the simulation succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import load_grid_data
from .equation import Equation, load_equation
from .errors import ConfigError, DataError, PdelearnError
from .runfiles import read_json, write_json
from .solvers.equation import simulate_equation

__all__ = ["simulate_run", "read_equation"]


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
    equation = read_equation(eq_path)
    if not isinstance(equation, Equation):
        raise ConfigError("simulate handles one field in one space dimension; this run holds an equation system")
    options = read_json(opt_path, "options.json", "") if opt_path.exists() else {}
    if not isinstance(options, dict):
        raise DataError(f"{str(opt_path)!r} must hold a JSON object (written by 'pdelearn discover'), received "
                        f"{type(options).__name__}; pass --data PATH or write the run again")
    source = data or options.get("data")
    if source is not None and not isinstance(source, (str, Path)):
        raise DataError(f"'data' in {str(opt_path)!r} must be a file name, received {source!r}; pass --data PATH")
    if not source:
        raise DataError(f"no data file recorded in {str(opt_path)!r}; pass --data PATH")
    if not Path(source).is_absolute() and (run / source).is_file():
        source = str(run / source)  # a data file stored in the run folder (joint discovery writes data.npz)
    how = options.get("load") or {"fields": options.get("fields"), "coords": options.get("coords"),
                                  "time": options.get("time")}
    known = {"fields", "coords", "time", "layout"}
    if not isinstance(how, dict) or set(how) - known:
        raise DataError(f"'load' in {str(opt_path)!r} must map some of {sorted(known)} to names, received {how!r}; "
                        "pass --data PATH or write the run again")
    grid = load_grid_data(source, **how)
    field = equation.field
    if field not in grid.fields or len(grid.space) != 1:
        raise DataError(f"the data in {source!r} has fields {list(grid.fields)} on {list(grid.space)}; expected {field!r} in 1-D")
    x, t = grid.coords[grid.space[0]], grid.coords[grid.time]
    u = grid.fields[field]
    try:
        with np.errstate(all="ignore"):  # a term undefined on the data (1/u at u = 0) is named below, not warned
            sim = simulate_equation(equation, x, t - t[0], u[:, 0])
    except PdelearnError:
        raise
    except (ArithmeticError, TypeError, ValueError, KeyError, AttributeError, RecursionError, MemoryError) as exc:
        raise DataError(f"cannot simulate {equation} from {str(eq_path)!r}: {type(exc).__name__}: {exc}; check its "
                        "terms (numbers as exponents, names of the data's field and coordinate)") from None
    ok = bool(np.all(np.isfinite(sim)))
    rel = float(np.linalg.norm(sim - u) / np.linalg.norm(u)) if ok else float("inf")
    summary = {"equation": str(equation), "data": str(source), "rel_l2": rel, "finite": ok}
    _plot(run / "simulation.png", x, t, u, sim, str(equation))
    write_json(run / "simulation.json", summary)
    return summary


def read_equation(path: str | Path):
    """The equation of ``path`` (an ``equation.json`` or a folder holding one); a :class:`PdelearnError` naming
    the file when it is missing or not an equation pdelearn can read (an edited file: wrong types, bad terms)."""
    data = read_json(path, "equation.json", "pass a run folder holding equation.json")
    path = Path(path) / "equation.json" if Path(path).is_dir() else Path(path)
    try:
        return load_equation(data)
    except PdelearnError as exc:
        raise type(exc)(f"{str(path)!r}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        raise DataError(f"{str(path)!r} is not an equation pdelearn can read ({type(exc).__name__}: {exc}); was it "
                        "edited? Write it again with 'pdelearn discover'") from None


def _plot(path: Path, x, t, data, sim, title: str) -> None:
    from .plots import new_figure, save_figure

    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 3)
    extent = [t[0], t[-1], x[0], x[-1]]
    for ax, arr, name in zip(axes, (data, sim, sim - data), ("data", "simulated", "simulated - data")):
        im = ax.imshow(arr, aspect="auto", origin="lower", extent=extent, cmap="RdBu_r" if "-" in name else "viridis")
        ax.set(title=name, xlabel="t", ylabel="x")
        fig.colorbar(im, ax=ax)
    fig.suptitle(title)
    save_figure(fig, path)
