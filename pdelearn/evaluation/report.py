"""Tables and files of evaluations: the per-run table, ``evaluation.json`` and ``pdelearn compare``.

:func:`compare_runs` reads the ``evaluation.json`` of several runs and lays them out as the paper's
robustness tables (Tables 5-7): one row per model (runs of the same model and data set are grouped,
top-1 accuracy in percent as mean +- standard deviation over the runs, with the number of runs), one
column per condition, then the training overhead (Tables 8-9: seconds per iteration, peak memory).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..runfiles import read_json, write_json
from .core import EVALUATION

__all__ = ["compare_runs", "evaluate_folder", "format_table", "load_evaluation", "write_evaluation"]


def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def format_table(ev: dict[str, Any]) -> str:
    """A Markdown table of one evaluation: one row per condition."""
    lines = [f"{ev['model']} on {ev['dataset']} ({ev['n_test']} test images, weights {ev['weights']}, seed {ev['seed']})",
             "", "| condition | gradients | top-1 % | top-5 % | per-class % (mean +- std) |", "|---|---|---|---|---|"]
    for r in ev["conditions"]:
        if "skipped" in r:
            lines.append(f"| {r['name']} | | {r['skipped']} | | |")
            continue
        lines.append(f"| {r['name']} | {r.get('gradients', '')} | {_pct(r['top1'])} | {_pct(r['top5'])} | "
                     f"{_pct(r['per_class_mean'])} +- {_pct(r['per_class_std'])} |")
    o = ev.get("overhead")
    if o:
        mem = f"{o['peak_memory_mb']:.0f} MiB ({o.get('peak_memory_kind', '?')})" if "peak_memory_mb" in o else "?"
        per = f"{o['train_s_per_iteration']:.4g} s" if "train_s_per_iteration" in o else "?"
        lines += ["", f"training overhead (summary.json): {per} per iteration, peak memory {mem}, "
                      f"{o.get('parameters', '?'):,} parameters, device {o.get('device', '?')}"
                  if isinstance(o.get("parameters"), int) else
                  f"training overhead (summary.json): {per} per iteration, peak memory {mem}"]
    t = ev.get("tsne")
    if t:
        lines.append(f"t-SNE of h_task on {t['n']} test images: silhouette {t['silhouette_tsne']:.3f} (embedding), "
                     f"{t['silhouette_features']:.3f} (features)")
    return "\n".join(lines)


def write_evaluation(ev: dict[str, Any], out: str | os.PathLike, plot: tuple | None = None) -> Path:
    """Write ``out/evaluation.json`` (and ``out/tsne.png`` from ``plot = (embedding, labels, title)``) atomically.

    ``out`` is created if missing (and removed again if writing fails). Each file is written under a
    temporary name and renamed into place, so neither is ever half-written.
    """
    folder = Path(out)
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create --out {str(folder)!r}: {exc}") from None
    try:
        if plot is not None:
            from .features import plot_tsne

            emb, labels, title = plot
            plot_tsne(emb, labels, folder / "tsne.png", title)  # atomic (plots.save_figure)
        write_json(folder / EVALUATION, ev)
    except BaseException:
        if made:
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
        raise
    return folder / EVALUATION


def load_evaluation(path: str | os.PathLike) -> dict[str, Any]:
    """The ``evaluation.json`` of a run folder (or the file itself), its structure checked.

    Raises
    ------
    DataError
        When the file is missing, not JSON, or lacks (or mistypes) what :func:`compare_runs` reads: ``model``
        and ``dataset`` (text), ``conditions`` (records with a ``name`` and a ``top1`` in [0, 1] or a
        ``skipped`` note) and an optional ``overhead`` of numbers.
    """

    ev = read_json(path, EVALUATION, f"run `pdelearn evaluate {path}` first")
    if not isinstance(ev, dict) or "conditions" not in ev:
        raise DataError(f"{path} is not an evaluation written by `pdelearn evaluate` (no 'conditions')")
    problem = _structure_problem(ev)
    if problem:
        raise DataError(f"{path}: the evaluation's {problem}; was evaluation.json edited? Write it again with "
                        "`pdelearn evaluate RUN`")
    return ev


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _structure_problem(ev: dict[str, Any]) -> str | None:
    """What in ``ev`` does not have the structure :func:`compare_runs` reads (None: all of it does)."""
    for key in ("model", "dataset"):
        if not isinstance(ev.get(key), str):
            return f"'{key}' must be text, received {_kind(ev.get(key))}"
    conds = ev["conditions"]
    if not isinstance(conds, list) or not conds:
        return f"'conditions' must be a non-empty list of records, received {_kind(conds)}"
    for i, r in enumerate(conds):
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            return f"conditions[{i}] must be a record with a text 'name', received {_kind(r)}"
        if "skipped" in r:
            continue
        top1 = r.get("top1")
        if not (_is_number(top1) and 0 <= top1 <= 1):
            return f"conditions[{i}] ({r['name']!r}) 'top1' must be a number in [0, 1], received {_kind(top1)}"
    overhead = ev.get("overhead")
    if overhead is not None:
        if not isinstance(overhead, dict):
            return f"'overhead' must be a record, received {_kind(overhead)}"
        for key in ("train_s_per_iteration", "peak_memory_mb"):
            if key in overhead and not _is_number(overhead[key]):
                return f"overhead '{key}' must be a number, received {_kind(overhead[key])}"
    return None


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
    return m, sd


def _cell(values: list[float], scale: float, digits: int, latex: bool) -> str:
    if not values:
        return "-"
    m, sd = _mean_sd([scale * v for v in values])
    if sd is None:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} $\\pm$ {sd:.{digits}f}" if latex else f"{m:.{digits}f} +- {sd:.{digits}f}"


def compare_runs(paths: Sequence[str | os.PathLike], latex: bool = False) -> str:
    """One table (Markdown, or a LaTeX ``tabular``) of the evaluations of ``paths``.

    Rows: ``model (data set)``, grouped over runs; columns: every condition any run has (top-1 %),
    then s/iteration and peak memory (MiB) from the training overhead, then the number of runs.
    """
    if not paths:
        raise ConfigError("give at least one evaluated run folder: pdelearn compare RUN_DIR...")
    seen: dict[Path, str] = {}
    for p in paths:
        file = Path(p) / EVALUATION if Path(p).is_dir() else Path(p)
        key = file.resolve()
        if key in seen:
            raise ConfigError(f"{str(p)!r} and {seen[key]!r} are the same evaluated run; each run counts once in the "
                              "mean and std over runs: pass each run folder once")
        seen[key] = str(p)
    evs = [load_evaluation(p) for p in paths]
    columns: dict[str, None] = {}  # in order of first appearance; a dict, so that each lookup is O(1)
    groups: dict[str, list[dict]] = {}
    for ev in evs:
        for r in ev["conditions"]:
            if "skipped" not in r:
                columns.setdefault(r["name"], None)
        groups.setdefault(f"{ev['model']} ({ev['dataset']})", []).append(ev)
    header = ["model", *columns, "s / iter", "memory MiB", "runs"]
    rows = []
    for label, group in groups.items():
        top1: dict[str, list[float]] = {}  # condition -> its top-1 over the group's runs: one pass, not one per column
        for ev in group:
            for r in ev["conditions"]:
                if "top1" in r and "skipped" not in r:
                    top1.setdefault(r["name"], []).append(r["top1"])
        row = [label]
        for c in columns:
            row.append(_cell(top1.get(c, []), 100.0, 2, latex))
        for key, digits in (("train_s_per_iteration", 4), ("peak_memory_mb", 0)):
            row.append(_cell([ev["overhead"][key] for ev in group if ev.get("overhead") and key in ev["overhead"]],
                             1.0, digits, latex))
        row.append(str(len(group)))
        rows.append(row)
    if latex:
        esc = lambda s: s.replace("_", r"\_")  # noqa: E731
        out = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\hline",
               " & ".join(esc(h) for h in header) + r" \\", r"\hline"]
        out += [" & ".join(esc(c) for c in row) + r" \\" for row in rows]
        return "\n".join(out + [r"\hline", r"\end{tabular}"])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out + ["", "top-1 accuracy in % (mean +- sample std over the runs of a model); "
                                "s / iter and memory from each run's summary.json"])


def evaluate_folder(folder: str | os.PathLike, *, ood: Sequence[str], attacks: Sequence[str], eps: Sequence[str],
                    out: str | os.PathLike | None = None, seed: int = 0, tsne: int | None = None,
                    dataset: str | None = None, image_size: int | None = None, root: str | None = None,
                    max_images: int | None = None, device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """Load, evaluate and write: what ``pdelearn evaluate`` does.

    Every name and budget is checked before the run is loaded, and nothing is written until every
    condition has been measured; ``evaluation.json`` (and ``tsne.png`` with ``tsne = n`` images) go to
    ``out`` (default: the run folder). Returns the evaluation (with ``written``: the JSON's path).
    """
    from .attacks import ATTACKS, parse_eps
    from .core import check_names, evaluate_run, load_classifier
    from .shifts import SHIFTS

    check_names(ood, SHIFTS, "out-of-distribution condition")
    check_names(attacks, ATTACKS, "attack")
    for e in eps:
        parse_eps(e)
    if tsne is not None and tsne < 10:
        raise ConfigError(f"--tsne takes a number of test images >= 10, received {tsne}")
    if max_images is not None and max_images < 1:
        raise ConfigError(f"--max-images must be >= 1, received {max_images}")
    from ..runfiles import select_device

    run = load_classifier(folder, dataset=dataset, image_size=image_size, root=root, device=select_device(device))
    ev = evaluate_run(run, ood=ood, attacks=attacks, eps=eps, seed=seed, max_images=max_images, progress=progress)
    plot = None
    if tsne is not None:
        from .features import tsne_analysis

        ev["tsne"], emb, labels = tsne_analysis(run.model, run.data.test, tsne, seed)
        plot = (emb, labels, f"t-SNE of h_task: {ev['model']} on {ev['dataset']} (silhouette "
                             f"{ev['tsne']['silhouette_tsne']:.3f})")
    ev["written"] = str(write_evaluation(ev, out if out is not None else folder, plot))
    return ev
