"""The one run driver: recipe -> problem -> trainer -> run folder, for every problem type.

:func:`run_recipe` seeds, picks the device, builds the problem named by the recipe's ``problem``
(:mod:`pdelearn.problems.registry`), trains it, lets it evaluate and write its own files, and writes
what every run has: ``recipe.yaml`` (resolved), ``summary.json`` (with ``wall_time_s`` and
``device``), ``equation.json`` / ``equation.tex`` and ``losses.png`` (from ``metrics.jsonl``, written by
the :class:`~pdelearn.train.Trainer` together with ``checkpoint.pt``). :func:`new_run` makes the
folder atomically: a run that fails before training leaves nothing behind.

The driver is the program's entry point, so it (and only it) seeds torch's global generator with the
recipe's seed, for code that draws from it; library functions take generators.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .problems.base import Outcome, RecipeBase, RunContext
from .problems.registry import problem_class
from .recipes import load_recipe
from .runfiles import (RECIPE, SUMMARY, device_name, missing_parents, output_folder, select_device, write_equation,
                       write_json)

__all__ = ["run_recipe", "new_run", "load_run_recipe", "default_run_folder", "RECIPE", "SUMMARY"]

_log = logging.getLogger(__name__)


def run_recipe(recipe: RecipeBase, folder: str | os.PathLike | None, *, resume: bool = False,
               progress: bool | None = None, echo: Callable[[str], None] | None = None,
               rank: int = 0, world_size: int = 1, local_rank: int = 0) -> Outcome:
    """Train ``recipe`` and write its results into ``folder`` (None: nothing is written).

    Parameters
    ----------
    recipe
        A validated recipe (:func:`pdelearn.recipes.load_recipe`).
    folder
        An existing run folder (see :func:`new_run`), or None.
    resume
        Continue from ``folder/checkpoint.pt`` (problems with ``resumable = True``).
    progress
        Progress bars (None: on a terminal only).
    echo
        Called with short status lines.
    rank, world_size, local_rank
        Distributed training (a process group is running): this process's rank, the number of ranks and
        the GPU of this rank on its machine. Only rank 0 writes files; problems that cannot train
        distributed (``Problem.distributed`` false) are refused.

    Returns
    -------
    Outcome
        The problem's outcome; ``outcome.summary`` is what ``summary.json`` holds.
    """
    import torch

    say = echo or (lambda msg: _log.info(msg))
    cls = problem_class(recipe.problem)
    if resume and not cls.resumable:
        raise ConfigError(f"{recipe.problem} runs cannot be resumed; start a new run with --out")
    if world_size > 1 and not cls.distributed:
        raise ConfigError(f"{recipe.problem} runs cannot be trained by several processes (torchrun); run them in one "
                          "process")
    device = select_device(recipe.device)
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    folder = Path(folder) if folder is not None else None
    t0 = time.perf_counter()
    torch.manual_seed(recipe.seed)
    ctx = RunContext(device=device, seed=recipe.seed, folder=folder, echo=say, progress=progress, resume=resume,
                     rank=rank, world_size=world_size)
    problem = cls.build(recipe, ctx)
    result = problem.train(ctx)
    outcome = problem.finish(ctx, result)
    summary = outcome.summary
    summary["wall_time_s"] = round(summary.pop("earlier_time_s", 0.0) + time.perf_counter() - t0, 3)
    summary["device"] = device_name(device)
    if world_size > 1:
        summary["processes"] = world_size
    if not outcome.reliable:
        summary["reliable"] = False
        summary["message"] = outcome.message
    if folder is not None and ctx.is_main:
        (folder / RECIPE).write_text(recipe.to_yaml())
        if outcome.equation is not None:
            write_equation(folder, outcome.equation, outcome.equation_extra)
        from .plots import plot_losses
        from .train import METRICS

        if (folder / METRICS).exists() and not (folder / "losses.png").exists():
            plot_losses(folder / METRICS, folder / "losses.png")
        write_json(folder / SUMMARY, summary)
    return outcome


def default_run_folder(recipe_path: str | os.PathLike | None) -> Path:
    """``runs/<recipe name>-<YYYYmmdd-HHMMSS>``."""
    stem = Path(recipe_path).stem if recipe_path is not None else "run"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


@contextlib.contextmanager
def new_run(out: str | os.PathLike, recipe: RecipeBase, *, force: bool = False) -> Iterator[Path]:
    """Create the run folder ``out`` holding ``recipe.yaml``; remove it again if the block fails early.

    The folder is made atomically (a temporary sibling renamed into place). If the block raises before
    the trainer wrote a checkpoint, the folder is removed (nothing half-written); once a checkpoint
    exists it is kept, so the run can be inspected or resumed.
    """
    folder = Path(out)
    made = missing_parents(folder)
    with output_folder(out, force=force) as tmp:
        (tmp / RECIPE).write_text(recipe.to_yaml())
    try:
        yield folder
    except BaseException:
        if not (folder / "checkpoint.pt").exists():
            shutil.rmtree(folder, ignore_errors=True)
            for p in made:  # deepest first
                with contextlib.suppress(OSError):
                    p.rmdir()
        raise


def load_run_recipe(folder: str | os.PathLike, overrides: Sequence[str] = ()) -> Any:
    """The resolved recipe saved in a run folder (for ``--resume``)."""
    path = Path(folder) / RECIPE
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} is not a run folder (no {RECIPE}); pass the --out folder of an earlier "
                          "`pdelearn fit`")
    return load_recipe(path, overrides)
