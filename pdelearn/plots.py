"""Figures of a run (matplotlib, Agg canvas; no pyplot state is touched)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .runfiles import atomic_write

__all__ = ["new_figure", "save_figure", "plot_solution", "plot_losses", "plot_extrapolation", "plot_trajectory",
           "plot_coefficients"]


def new_figure(width: float, height: float):
    """A matplotlib figure on its own Agg canvas (pyplot's global state and backend are not touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | os.PathLike) -> None:
    """Save ``fig`` as PNG atomically (:func:`pdelearn.runfiles.atomic_write`)."""
    atomic_write(path, lambda fh: fig.savefig(fh, format="png"))


def plot_solution(x: np.ndarray, t: np.ndarray, pred: np.ndarray, ref: np.ndarray, path: str | os.PathLike,
                  title: str = "", t_train: float | None = None) -> None:
    """Heatmaps of the prediction, the reference and the absolute error, ``(nx, nt)`` arrays over ``(x, t)``."""
    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 3)
    extent = [t[0], t[-1], x[0], x[-1]]
    lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
    err = np.abs(pred - ref)
    rel = np.linalg.norm(pred - ref) / np.linalg.norm(ref)
    for ax, data, name, kw in ((axes[0], pred, "prediction", {"vmin": lo, "vmax": hi, "cmap": "RdBu_r"}),
                               (axes[1], ref, "reference", {"vmin": lo, "vmax": hi, "cmap": "RdBu_r"}),
                               (axes[2], err, f"|error| (rel. L2 {rel:.2e})", {"cmap": "magma"})):
        im = ax.imshow(data, origin="lower", aspect="auto", extent=extent, interpolation="nearest", **kw)
        ax.set_title(name)
        ax.set_xlabel("t")
        ax.set_ylabel("x")
        if t_train is not None:
            ax.axvline(t_train, color="k", ls="--", lw=1)
        fig.colorbar(im, ax=ax)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_losses(metrics: str | os.PathLike, path: str | os.PathLike) -> None:
    """Loss curves (log scale) from a ``metrics.jsonl`` file; relative L2 too when logged."""
    rows = []
    mpath = Path(metrics)
    if mpath.exists():
        for line in mpath.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    fig = new_figure(7, 4)
    ax = fig.subplots()
    names = sorted({k for r in rows for k in r.get("losses", {})})
    for name in names:
        pts = [(r["step"], r["losses"][name]) for r in rows if name in r.get("losses", {}) and r["losses"][name] > 0]
        if pts:
            ax.semilogy(*zip(*pts), label=name)
    errs = [(r["step"], r["metrics"]["rel_l2"]) for r in rows if "rel_l2" in r.get("metrics", {})]
    if errs:
        ax.semilogy(*zip(*errs), "k--", label="rel. L2 error")
    windows = [(r["step"], r["metrics"]["window"]) for r in rows if "window" in r.get("metrics", {})]
    for (_, w0), (s1, w1) in zip(windows, windows[1:]):
        if w1 != w0:
            ax.axvline(s1, color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("step (grey lines: new time window)" if len({w for _, w in windows}) > 1 else "step")
    ax.set_ylabel("loss")
    if names or errs:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no metrics logged", ha="center", va="center", transform=ax.transAxes)
    save_figure(fig, path)


def plot_extrapolation(x: np.ndarray, t: np.ndarray, ref: np.ndarray, preds: Mapping[str, np.ndarray],
                       times: Sequence[float], t_train: float, path: str | os.PathLike) -> None:
    """The predictions of each network over the reference at the given times (paper, Figure 8)."""
    fig = new_figure(5 * len(times), 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(times)))
    styles = {"aware": ("C0", "--"), "ignorant": ("C3", ":")}
    for ax, time in zip(axes, times):
        j = int(np.argmin(np.abs(t - time)))
        ax.plot(x, ref[:, j], "k-", lw=2, label="reference")
        for name, pred in preds.items():
            color, ls = styles.get(name, (None, "-"))
            err = np.linalg.norm(pred[:, j] - ref[:, j]) / np.linalg.norm(ref[:, j])
            ax.plot(x, pred[:, j], color=color, ls=ls, lw=2, label=f"{name} ({err:.2e})")
        ax.set_title(f"t = {t[j]:.3f} (trained on t <= {t_train:g})")
        ax.set_xlabel("x")
        ax.set_ylabel("u")
        ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_trajectory(result, path: str | os.PathLike) -> None:
    """Coefficient trajectories of a joint discovery (physical units, scaled by each term's final value)."""
    fig = new_figure(8, 4.2)
    ax = fig.subplots()
    if result.trajectory:
        steps = np.array([s for s, _ in result.trajectory])
        final = result.equation.coefficients
        for k in result.library.keys:
            vals = np.array([c[k] for _, c in result.trajectory])
            if not np.any(vals):
                continue
            ref = abs(final.get(k, 0.0)) or float(np.max(np.abs(vals)))
            kw = {"lw": 2.0} if k in final else {"lw": 0.8, "alpha": 0.5, "ls": "--"}
            ax.plot(steps, vals / ref, label=f"{result.library[k].name} ({final[k]:.4g})" if k in final
                    else result.library[k].name, **kw)
        for h in result.history:
            ax.axvline(h["step"], color="0.8", lw=0.6, zorder=0)
        ax.axvline(result.config.warmup, color="k", lw=0.8, ls=":")
        ax.set_ylim(-2.5, 2.5)
    ax.set(xlabel="step", ylabel="coefficient / |final value|", title=str(result.equation)[:90])
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    save_figure(fig, path)


def plot_coefficients(names: Sequence[str], values: Sequence[float], path: str | os.PathLike, title: str = "") -> None:
    """Bar chart of an equation's coefficients, one bar per library term (zeros included)."""
    fig = new_figure(max(6.0, 0.32 * len(names) + 1.5), 4)
    ax = fig.subplots()
    vals = np.asarray(values, dtype=float)
    ax.bar(np.arange(len(vals)), vals, color=np.where(vals >= 0, "tab:blue", "tab:red"))
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(np.arange(len(vals)), list(names), rotation=90, fontsize=7)
    ax.set_ylabel("coefficient")
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)
