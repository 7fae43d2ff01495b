"""pdelearn: symbolic PDE discovery and physics-informed training from one sympy term library.

The public API::

    from pdelearn import polynomial_library, TermLibrary, Equation, discover, GoverningEquation
    from pdelearn import load_recipe, run_recipe, Problem, RunContext, Outcome   # the run driver
    from pdelearn import joint_discover, JointConfig, make_samples, system, solve_system, simulate_equation
    from pdelearn import readout, readout_arrays, readout_run   # sparse readout of a trained network's equation

Everything that needs torch (``GoverningEquation``, ``Trainer``, ``joint_discover``, the run driver,
...) is imported on first use, so that ``import pdelearn`` for the sympy/numpy parts stays light.
Layers and what each may import: ``docs/architecture.md``.
"""

from .data import GridData, from_arrays, load_grid_data
from .discovery import Discovery, discover
from .equation import Equation, EquationSystem, load_equation, parse_equation
from .errors import ConfigError, DataError, LibraryError, ParseError, PdelearnError, ShapeError, TrainingError
from .sampling import make_samples
from .solvers.systems import SYSTEMS, solve_system, system
from .sparse import SparseRegression
from .terms import Derivative, Term, TermLibrary, polynomial_library
from .terms import register_bridge as _register_bridge
from .weak import WeakForm

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "DataError",
    "Derivative",
    "Discovery",
    "Equation",
    "EquationSystem",
    "GoverningEquation",
    "GridData",
    "LibraryError",
    "ParseError",
    "PdelearnError",
    "ShapeError",
    "SparseRegression",
    "Term",
    "TermLibrary",
    "TrainingError",
    "WeakForm",
    "ParamGroup",
    "Trainer",
    "autograd_derivatives",
    "channel_derivatives",
    "load_recipe",
    "discover",
    "from_arrays",
    "load_equation",
    "load_grid_data",
    "parse_equation",
    "polynomial_library",
    "make_samples",
    "SYSTEMS",
    "system",
    "solve_system",
    "simulate_equation",
    "CompiledLibrary",
    "NormalizedGoverningEquation",
    "ForwardProblem",
    "JointConfig",
    "JointResult",
    "joint_discover",
    "write_joint_run",
    "Problem",
    "RunContext",
    "Outcome",
    "RecipeBase",
    "run_recipe",
    "new_run",
    "PROBLEMS",
    "fit_output_error",
    "PeriodicSolver",
    "readout",
    "readout_arrays",
    "readout_run",
    "Readout",
]

_LAZY = {
    "GoverningEquation": "governing",
    "autograd_derivatives": "autodiff",
    "channel_derivatives": "autodiff",
    "CompiledLibrary": "compile",
    "Trainer": "train",
    "ParamGroup": "train",
    "load_recipe": "recipes",
    "simulate_equation": "solvers.equation",
    "NormalizedGoverningEquation": "governing",
    "ForwardProblem": "problems.forward",
    "JointConfig": "problems.joint",
    "JointResult": "problems.joint",
    "joint_discover": "problems.joint",
    "write_joint_run": "problems.joint_run",
    "Problem": "problems.base",
    "RunContext": "problems.base",
    "Outcome": "problems.base",
    "RecipeBase": "problems.base",
    "run_recipe": "runs",
    "new_run": "runs",
    "PROBLEMS": "problems.registry",
    "fit_output_error": "inverse",
    "PeriodicSolver": "solvers.torch_etdrk4",
    "readout": "sparse_readout",
    "readout_arrays": "sparse_readout",
    "Readout": "sparse_readout",
    "readout_run": "run_readout",
}

# The core (terms, equation) imports no bridge: the package plugs the PySINDy bridge into it here, imported on the
# first call of ``TermLibrary.to_pysindy`` / ``from_pysindy`` or ``Equation.from_pysindy`` (PySINDy is optional).
def _pysindy_bridge():
    import importlib

    return importlib.import_module("pdelearn.pysindy")


_register_bridge("pysindy", _pysindy_bridge)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'pdelearn' has no attribute {name!r}")
