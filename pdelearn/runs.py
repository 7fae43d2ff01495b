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
from .runfiles import (
    RECIPE,
    SUMMARY,
    device_name,
    missing_parents,
    output_folder,
    select_device,
    write_equation,
    write_json,
    write_text,
)

__all__ = ["run_recipe", "new_run", "load_run_recipe", "default_run_folder", "RECIPE", "SUMMARY"]

_log = logging.getLogger(__name__)


def run_recipe(recipe: RecipeBase, folder: str | os.PathLike | None, *, resume: bool = False,
               progress: bool | None = None, echo: Callable[[str], None] | None = None,
               rank: int = 0, world_size: int = 1, local_rank: int = 0, command: str | None = None,
               device: Any = None) -> Outcome:
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
    command
        The command line that started the run (``pdelearn fit ...``), recorded in ``summary.json`` with the
        working folder and the versions of Python and the packages (:func:`pdelearn.provenance.versions`).
    device
        The run's device, chosen once by the caller (``pdelearn fit`` checks it before making the run folder);
        None: chosen here from ``recipe.device`` (:func:`pdelearn.runfiles.select_device`).

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
    device = select_device(recipe.device) if device is None else device
    if world_size > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    folder = Path(folder) if folder is not None else None
    t0 = time.perf_counter()
    torch.manual_seed(recipe.seed)
    ctx = RunContext(device=device, seed=recipe.seed, folder=folder, echo=say, progress=progress, resume=resume,
                     rank=rank, world_size=world_size, recipe=recipe.to_dict())
    problem = cls.build(recipe, ctx)
    result = problem.train(ctx)
    outcome = problem.finish(ctx, result)
    summary = outcome.summary
    summary["wall_time_s"] = round(summary.pop("earlier_time_s", 0.0) + time.perf_counter() - t0, 3)
    summary["device"] = device_name(device)
    if device.type == "cpu":
        summary["threads"] = torch.get_num_threads()
    if world_size > 1:
        summary["processes"] = world_size
    if not outcome.reliable:
        summary["reliable"] = False
        summary["message"] = outcome.message
    from .provenance import versions

    summary["command"] = command
    summary["cwd"] = os.getcwd()
    summary["versions"] = versions()
    if folder is not None and ctx.is_main:
        write_text(folder / RECIPE, recipe.to_yaml())
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


def recipe_inputs(recipe: RecipeBase) -> list[str]:
    """The existing files and folders a recipe names (absolute paths among its values): a run folder must never
    replace them."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, str) and os.path.isabs(value) and len(value) < 4096 and os.path.exists(value):
            found.append(value)

    walk(recipe.to_dict())
    return found


@contextlib.contextmanager
def new_run(out: str | os.PathLike, recipe: RecipeBase, *, force: bool = False,
            inputs: Sequence[str | os.PathLike] = ()) -> Iterator[Path]:
    """Create the run folder ``out`` holding ``recipe.yaml``; remove it again if the block fails early.

    The folder is made atomically (a temporary sibling renamed into place); ``force`` replaces only a
    folder pdelearn made, never one holding ``inputs`` or a file the recipe names
    (:func:`pdelearn.runfiles.output_folder`). If the block raises before the trainer wrote a checkpoint,
    the folder is removed (nothing half-written); once a checkpoint exists it is kept, so the run can be
    inspected or resumed.
    """
    folder = Path(out)
    made = missing_parents(folder)
    with output_folder(out, force=force, inputs=[*inputs, *recipe_inputs(recipe)]) as tmp:
        write_text(tmp / RECIPE, recipe.to_yaml())
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
    """The resolved recipe saved in a run folder (for ``--resume``).

    When the folder holds a checkpoint that records its recipe, the two must agree on every key that shapes
    the run (all but run length, time budget, logging and device:
    :data:`pdelearn.provenance.RESUME_MAY_CHANGE`); otherwise a :class:`ConfigError` names the keys.
    """
    from .provenance import recipe_changes

    path = Path(folder) / RECIPE
    if not path.is_file():
        raise ConfigError(f"{str(folder)!r} is not a run folder (no {RECIPE}); pass the --out folder of an earlier "
                          "`pdelearn fit`")
    recipe = load_recipe(path, overrides)
    made = _checkpoint_recipe(Path(folder))
    if made is not None:
        changed = recipe_changes(made, recipe.to_dict())
        if changed:
            raise ConfigError(f"the recipe of {str(folder)!r} ({RECIPE} and --set) differs from the one its checkpoint "
                              f"was made with at {', '.join(changed)}; undo the change to resume, or start a new run "
                              "with --out")
    return recipe


def _checkpoint_recipe(folder: Path) -> dict | None:
    """The recipe recorded in the run's checkpoint (``checkpoint.pt``, or a sub-run's), or None."""
    from .train import CHECKPOINT, load_checkpoint

    found = [folder / CHECKPOINT] if (folder / CHECKPOINT).is_file() else sorted(folder.glob(f"*/{CHECKPOINT}"))
    for path in found:
        made = (load_checkpoint(path).get("meta") or {}).get("recipe")
        if isinstance(made, dict):
            return made
    return None
