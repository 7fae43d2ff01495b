"""The picture of a grid discovery: the data, the discovered equation simulated from the data's
first snapshot (one field in 1-D, periodic solver), and the coefficients with their intervals."""

from __future__ import annotations

import os

import numpy as np

from .plots import new_figure, save_figure

__all__ = ["plot_discovery", "MAX_SIMULATION_WORK"]

MAX_SIMULATION_WORK = 5e7  #: skip the simulation panel above this many (grid points x time steps)
PICTURE_DT = 1e-2  #: largest time step of the picture's simulation (``pdelearn simulate`` uses 1e-3)


def _simulate(discovery):
    """``(simulation (nx, nt), note)``; the simulation is ``None`` when no solver applies or it fails."""
    from .equation import Equation
    from .output_error.policy import divided_step
    from .solvers.equation import simulate_equation

    grid, eq = discovery.data, discovery.equation
    if not isinstance(eq, Equation) or grid is None or len(grid.space) != 1 or not eq.terms:
        return None, "no simulation (the solver handles one field in one space dimension)"
    x, t = grid.coords[grid.space[0]], grid.coords[grid.time]
    spacing = t[1] - t[0]
    dt = divided_step(spacing, spacing / PICTURE_DT, slack=0.0)  # coarser than `pdelearn simulate`: a picture
    steps = (t[-1] - t[0]) / dt
    if steps * x.size > MAX_SIMULATION_WORK:
        return None, f"no simulation (about {steps * x.size:.1g} point-steps; run pdelearn simulate)"
    u = grid.fields[eq.field]
    try:
        with np.errstate(all="ignore"):
            sim = simulate_equation(eq, x, t - t[0], u[:, 0], dt=dt)
    except Exception as exc:  # noqa: BLE001 - the picture must not fail the run
        return None, f"no simulation ({type(exc).__name__})"
    if not np.all(np.isfinite(sim)):
        return None, "the simulation blew up (not finite)"
    return sim, f"relative L2 difference {np.linalg.norm(sim - u) / np.linalg.norm(u):.2e} (dt {dt:.2g})"


def _intervals(eq, refit):
    """``(names, values, half-widths or None)`` of one equation's terms."""
    names = [t.name for t in eq.terms]
    values = np.array(list(eq.terms.values()))
    if eq.intervals:
        lo_hi = np.array([eq.intervals.get(t.key, (v, v)) for t, v in eq.terms.items()])
        return names, values, np.abs(lo_hi - values[:, None]).T
    if refit is not None and len(refit.std) == len(values):
        return names, values, 1.96 * np.asarray(refit.std)
    return names, values, None


def plot_discovery(path: str | os.PathLike, discovery) -> None:
    """Write ``path`` (PNG): data, simulation of the discovered equation, coefficient bars with 95 % intervals.

    Coefficients are shown relative to their own value (``a_k / a_k``, intervals scaled alike), so
    terms of very different sizes share one axis.
    """
    grid = discovery.data
    equations = list(getattr(discovery.equation, "equations", [discovery.equation]))
    sim, note = _simulate(discovery)
    fig = new_figure(14, 3.8)
    axes = fig.subplots(1, 3)
    name = next(iter(grid.fields))
    u = grid.fields[name]
    t = grid.coords[grid.time]
    space = grid.coords[grid.space[0]]
    show = u if u.ndim == 2 else u[(slice(None),) + (u.shape[1] // 2,) * (u.ndim - 2) + (slice(None),)]
    extent = [t[0], t[-1], space[0], space[-1]]
    im = axes[0].imshow(show, aspect="auto", origin="lower", extent=extent, cmap="viridis")
    axes[0].set(title=f"data {name}" + ("" if u.ndim == 2 else " (middle slice)"), xlabel=grid.time,
                ylabel=grid.space[0])
    fig.colorbar(im, ax=axes[0])
    if sim is not None:
        im = axes[1].imshow(sim, aspect="auto", origin="lower", extent=extent, cmap="viridis")
        fig.colorbar(im, ax=axes[1])
    else:
        axes[1].axis("off")
    axes[1].set_title(f"discovered equation simulated\n{note}", fontsize=9)
    labels, centres, errs = [], [], []
    for eq, refit in zip(equations, discovery.refits or [None] * len(equations)):
        names, values, half = _intervals(eq, refit)
        for k, (n, v) in enumerate(zip(names, values)):
            labels.append(f"{eq.lhs}: {n} = {v:.4g}")
            centres.append(1.0)
            h = None if half is None else (half[:, k] if np.ndim(half) == 2 else np.array([half[k], half[k]]))
            errs.append(np.zeros(2) if h is None else np.abs(h) / max(abs(v), 1e-300))
    if labels:
        pos = np.arange(len(labels))
        axes[2].barh(pos, centres, xerr=np.array(errs).T, color="tab:blue", alpha=0.7, capsize=3)
        axes[2].set_yticks(pos, labels, fontsize=8)
        axes[2].invert_yaxis()
        axes[2].set(xlabel="coefficient / its value (95 % interval)", title="coefficients")
    else:
        axes[2].axis("off")
        axes[2].set_title("no terms selected")
    verdict = "" if discovery.reliable else "  [UNRELIABLE: see summary.json]"
    fig.suptitle(str(discovery.equation).replace("\n", ";  ") + verdict, fontsize=10)
    save_figure(fig, path)
