"""The Problem protocol: what every kind of training run supplies to the one run driver.

A problem type is a :class:`Problem` subclass with a recipe model (a :class:`RecipeBase` subclass
whose ``problem`` field is a ``Literal`` of its name) and one line in
:mod:`pdelearn.problems.registry`. The driver (:func:`pdelearn.runs.run_recipe`) validates the
recipe, seeds, picks the device, makes the run folder and then calls::

    problem = Problem.build(recipe, ctx)      # data, networks, equation
    result = problem.train(ctx)               # default: one Trainer over groups() / losses()
    outcome = problem.finish(ctx, result)     # evaluate, write own files, return the summary

and writes ``summary.json``, ``equation.json`` / ``equation.tex`` and the loss plot. A problem that
trains in phases (joint discovery: warm-up, selection, pruning, ensemble) overrides :meth:`train`;
one that trains a single set of groups only supplies :meth:`groups`, :meth:`losses`,
:meth:`state` and :meth:`trainer_options`. ``docs/architecture.md`` shows a complete small problem.

Nothing here imports torch at module level.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StrictModel", "RecipeBase", "RunContext", "Outcome", "Problem"]


class StrictModel(BaseModel):
    """Recipe sections: unknown keys are errors, no type coercion, defaults validated."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class RecipeBase(StrictModel):
    """Keys every recipe has. Subclasses set ``problem: Literal["<name>"]`` and add their sections.

    ``check()`` may raise :class:`~pdelearn.errors.ConfigError` for rules that need more than
    pydantic (e.g. parsing an equation); ``resolve_paths(base)`` makes relative file names absolute
    against the recipe's folder.
    """

    problem: str
    description: str = ""
    seed: int = Field(0, ge=0, le=2**63 - 1)  #: torch and numpy take seeds in this range
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def check(self) -> None:
        """Semantic checks after validation (default: none)."""

    def resolve_paths(self, base: Path) -> None:
        """Make relative file names absolute against ``base`` (default: nothing to do)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-ready), every default filled in."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The resolved recipe as YAML text (what a run saves as ``recipe.yaml``)."""
        from ..yamlio import to_yaml

        return to_yaml(self.to_dict())


@dataclass
class RunContext:
    """Where and how a problem runs: device, seed, run folder, output hooks, distributed rank."""

    device: Any
    seed: int = 0
    folder: Optional[Path] = None
    echo: Callable[[str], None] = lambda msg: None
    progress: Optional[bool] = None
    resume: bool = False
    rank: int = 0
    world_size: int = 1
    #: the resolved recipe as plain data (set by the run driver); checkpoints carry it, so that a resume can name
    #: the keys edited since
    recipe: Optional[dict] = None

    def checkpoint_meta(self) -> dict[str, Any]:
        """What every checkpoint of this run stores besides the training state (``Trainer(meta=...)``)."""
        return {"recipe": self.recipe} if self.recipe is not None else {}

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    def generator(self, offset: int = 0):
        """A CPU ``torch.Generator`` seeded with ``seed + offset`` (library code never seeds the global RNG)."""
        import torch

        return torch.Generator().manual_seed(self.seed + offset)

    def np_rng(self, offset: int = 0):
        """A ``numpy.random.Generator`` seeded with ``seed + offset``."""
        import numpy as np

        return np.random.default_rng(self.seed + offset)


@dataclass
class Outcome:
    """What a finished problem reports to the driver.

    ``summary`` goes to ``summary.json`` (the driver adds ``wall_time_s`` and ``device``);
    ``equation`` (an :class:`~pdelearn.equation.Equation` or system) to ``equation.json`` /
    ``equation.tex`` with ``equation_extra`` merged into the JSON; ``lines`` are printed on stdout by
    the CLI. ``reliable=False`` says the result must not be trusted: the CLI prints ``message`` and
    exits with code 3 (the files are still written, for inspection).
    """

    summary: dict[str, Any]
    equation: Any = None
    equation_extra: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    reliable: bool = True
    message: Optional[str] = None


class Problem(abc.ABC):
    """A kind of training run (forward, joint discovery, classification, ...)."""

    #: the recipe's ``problem:`` value(s) this class serves
    name: ClassVar[str]
    #: the recipe model
    Recipe: ClassVar[type[RecipeBase]]
    #: whether ``pdelearn fit --resume`` can continue it from ``checkpoint.pt``
    resumable: ClassVar[bool] = True
    #: whether it trains data-parallel under ``torchrun`` (``RunContext.rank`` / ``world_size``)
    distributed: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def build(cls, recipe: Any, ctx: RunContext) -> "Problem":
        """Data, networks and equation of the run described by a validated ``recipe``."""

    # -- the single-Trainer path of the default train() ----------------------------------------
    def groups(self) -> list:
        """The :class:`~pdelearn.train.ParamGroup` list, in update order."""
        raise NotImplementedError(f"{type(self).__name__} must define groups() or override train()")

    def losses(self, step: int, names: frozenset, batch: Any = None) -> dict:
        """Named scalar losses (at least ``names``); ``batch`` comes from the trainer's loader, if any."""
        raise NotImplementedError(f"{type(self).__name__} must define losses() or override train()")

    def state(self) -> dict[str, Any]:
        """Objects with ``state_dict`` / ``load_state_dict`` saved in checkpoints."""
        return {}

    def trainer_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~pdelearn.train.Trainer` (``steps`` or ``epochs`` + ``loader``, ...)."""
        return {}

    def metrics(self, step: int) -> dict[str, float]:
        """Extra numbers for ``metrics.jsonl`` at log steps."""
        return {}

    def train(self, ctx: RunContext):
        """Train with one :class:`~pdelearn.train.Trainer`; resume from ``ctx.folder`` when asked."""
        from ..train import Trainer

        options = {"meta": ctx.checkpoint_meta(), **self.trainer_options()}
        trainer = Trainer(self.groups(), self.losses, state=self.state(), folder=ctx.folder, progress=ctx.progress,
                          metrics_fn=self.metrics, is_main=ctx.is_main, **options)
        if ctx.resume and ctx.folder is not None and (ctx.folder / "checkpoint.pt").exists():
            step = trainer.resume()
            ctx.echo(f"resuming {ctx.folder} at step {step}")
        return trainer.run()

    @abc.abstractmethod
    def finish(self, ctx: RunContext, result: Any) -> Outcome:
        """Evaluate the trained problem, write its own files into ``ctx.folder``, return the outcome."""
