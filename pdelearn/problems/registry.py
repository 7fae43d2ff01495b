"""The problem types, by the recipe's ``problem:`` value: one line per type.

Each value is ``"module:Class"`` of a :class:`~pdelearn.problems.base.Problem` subclass, imported
only when a recipe needs it (so a new type costs nothing to the others).
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError, did_you_mean

__all__ = ["PROBLEMS", "problem_class", "recipe_models"]

PROBLEMS: dict[str, str] = {
    "forward": "pdelearn.problems.forward_run:ForwardRun",
    "extrapolation": "pdelearn.problems.forward_run:ForwardRun",
    "joint_discovery": "pdelearn.problems.joint_run:JointDiscovery",
}


def problem_class(name: str):
    """The :class:`~pdelearn.problems.base.Problem` subclass registered as ``name``."""
    if name not in PROBLEMS:
        raise ConfigError("problem: " + did_you_mean(name, PROBLEMS, what="problem type"))
    module, _, attr = PROBLEMS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def recipe_models() -> dict[str, type]:
    """``{problem name: recipe model}`` for every registered type."""
    return {name: problem_class(name).Recipe for name in PROBLEMS}
