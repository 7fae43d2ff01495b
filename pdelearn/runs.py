"""Run folders: train a recipe and write everything a person or a script needs to read back.

A run folder holds ``recipe.yaml`` (resolved), ``metrics.jsonl``, ``checkpoint.pt`` (resumable,
``weights_only`` loadable), ``summary.json``, ``equation.json`` / ``equation.tex`` (the enforced
equation), ``prediction.npz`` and PNG plots. The extrapolation study trains two networks in the
sub-folders ``aware/`` and ``ignorant/`` and adds the errors at the study's times to ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .problems.conditions import Conditions, parse_conditions
from .recipes import Recipe, load_recipe

__all__ = ["Prepared", "prepare", "fit", "select_device", "time_key", "RECIPE", "SUMMARY"]

RECIPE = "recipe.yaml"
SUMMARY = "summary.json"
_log = logging.getLogger(__name__)


def select_device(name: str):
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without CUDA is a :class:`ConfigError`."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was requested but CUDA is not available to torch "
                          "(torch.cuda.is_available() is False); use --device cpu or --device auto")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, received {name!r}")
    return torch.device(name)


def time_key(t: float) -> str:
    """``0.815`` -> ``"t0815"`` (thousandths), used in summary keys such as ``err_t0815_aware``."""
    return f"t{int(round(1000 * t)):04d}"


@dataclass
class Prepared:
    """A recipe with its parsed conditions and reference solution, ready to train."""

    recipe: Recipe
    conditions: Conditions
    reference: Any
    setup_s: float


def prepare(recipe: Recipe) -> Prepared:
    """Parse the conditions and compute (or load) the reference solution."""
    from .problems.reference import reference_solution

    t0 = time.perf_counter()
    cond = parse_conditions(recipe)
    ref = reference_solution(recipe, cond)
    return Prepared(recipe, cond, ref, time.perf_counter() - t0)


def fit(prepared: Prepared, folder: str | os.PathLike, *, resume: bool = False, progress: bool | None = None,
        echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train ``prepared.recipe`` in ``folder`` (which holds ``recipe.yaml``) and write the run's outputs.

    Parameters
    ----------
    prepared
        From :func:`prepare`.
    folder
        An existing run folder.
    resume
        Continue from ``folder/checkpoint.pt`` (the extrapolation study: from each sub-folder).
    progress
        Show progress bars (None: on a terminal only).
    echo
        Called with short status lines (the CLI prints them).

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    import torch

    from .cli import write_equation

    folder = Path(folder)
    recipe = prepared.recipe
    say = echo or (lambda msg: _log.info(msg))
    device = select_device(recipe.device)
    torch.manual_seed(recipe.seed)
    t_start = time.perf_counter()
    write_equation(folder, prepared.conditions.equation, extra={"role": "enforced"})
    if recipe.problem == "extrapolation":
        summary = _extrapolation(prepared, folder, device, resume, progress, say)
    else:
        summary = _train_one(prepared, folder, device, resume, progress, say, recipe.losses.weights.model_dump(), None)
        summary.pop("prediction")
    # this invocation (set-up, training, evaluation, plots) plus training time of earlier, resumed ones
    summary["wall_time_s"] = round(summary.pop("earlier_time_s", 0.0) + time.perf_counter() - t_start
                                   + prepared.setup_s, 3)
    summary["device"] = _device_name(device)
    _write_json(folder / SUMMARY, summary)
    return summary


def _train_one(prepared: Prepared, folder: Path, device, resume: bool, progress, say, weights: dict[str, float],
               t_end: float | None) -> dict[str, Any]:
    from .plots import plot_losses, plot_solution
    from .problems.forward import ForwardProblem
    from .train import METRICS, Trainer

    recipe, ref = prepared.recipe, prepared.reference
    tr = recipe.training
    problem = ForwardProblem(recipe, prepared.conditions, ref, weights=weights, t_end=t_end, device=device)

    def metrics(step: int) -> dict[str, float]:
        out = dict(problem.diagnostics)
        out["window"] = problem.window
        if tr.eval_every and (step % tr.eval_every == 0 or step == problem.total_steps) and ref is not None:
            out["rel_l2"] = problem.rel_l2()
        return out

    trainer = Trainer(problem.param_groups(), problem.losses, steps=problem.total_steps, state={"problem": problem},
                      folder=folder, log_every=tr.log_every, checkpoint_every=tr.checkpoint_every,
                      max_minutes=tr.max_minutes, progress=progress, before_step=problem.before_step,
                      metrics_fn=metrics)
    say(f"minimising {' + '.join(problem.loss_names)} for {problem.total_steps} steps "
        f"({tr.time_windows} time window{'s' if tr.time_windows > 1 else ''}, {tr.dtype}, {device.type})")
    earlier = 0.0
    if resume and (folder / "checkpoint.pt").exists():
        step = trainer.resume()
        earlier = trainer.elapsed_s
        say(f"resuming {folder} at step {step} of {problem.total_steps}")
    result = trainer.run()
    summary: dict[str, Any] = {
        "problem": recipe.problem,
        "equation": str(prepared.conditions.equation),
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
    }
    if ref is not None:
        pred = problem.predict(ref.x, ref.t)
        summary["rel_l2"] = ref.rel_l2(pred)
        summary["reference"] = ref.source
        summary["prediction"] = pred
        np.savez_compressed(folder / "prediction.npz", x=ref.x, t=ref.t, u=pred, reference=ref.u)
        plot_solution(ref.x, ref.t, pred, ref.u, folder / "solution.png", title=str(prepared.conditions.equation),
                      t_train=t_end)
    else:
        summary["rel_l2"] = None
        summary["prediction"] = None
    plot_losses(folder / METRICS, folder / "losses.png")
    return summary


def _extrapolation(prepared: Prepared, folder: Path, device, resume: bool, progress, say) -> dict[str, Any]:
    from .plots import plot_extrapolation

    recipe, ref = prepared.recipe, prepared.reference
    ex = recipe.extrapolation
    summary: dict[str, Any] = {"problem": "extrapolation", "equation": str(prepared.conditions.equation),
                               "t_train": ex.t_train, "times": list(ex.times)}
    preds: dict[str, np.ndarray] = {}
    total = 0.0
    steps = 0
    for variant in ("aware", "ignorant"):
        sub = folder / variant
        sub.mkdir(exist_ok=True)
        weights = getattr(ex, variant).model_dump()
        say(f"training the {variant} network on t <= {ex.t_train}")
        part = _train_one(prepared, sub, device, resume, progress, say, weights, ex.t_train)
        preds[variant] = part.pop("prediction")
        total += part.pop("earlier_time_s")
        steps += part["steps"]
        _write_json(sub / SUMMARY, part)
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
        plot_extrapolation(ref.x, ref.t, ref.u, preds, list(ex.times), ex.t_train, folder / "extrapolation.png")
    return summary


def _device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def load_run_recipe(folder: str | os.PathLike, overrides: tuple[str, ...] = ()) -> Recipe:
    """The resolved recipe saved in a run folder (for ``--resume``)."""
    path = Path(folder) / RECIPE
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} is not a run folder (no {RECIPE}); pass the --out folder of an earlier "
                          "`pdelearn fit`")
    return load_recipe(path, overrides)
