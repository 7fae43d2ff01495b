"""pdelearn: symbolic PDE discovery and physics-informed training from one sympy term library.

The public API::

    from pdelearn import polynomial_library, TermLibrary, Equation, discover, GoverningEquation

``GoverningEquation`` and ``autograd_derivatives`` (torch) are imported on first use, so that
``import pdelearn`` for the sympy/numpy parts stays light.
"""

from .data import GridData, from_arrays, load_grid_data
from .discovery import Discovery, discover
from .equation import Equation, EquationSystem, load_equation, parse_equation
from .errors import ConfigError, DataError, LibraryError, ParseError, PdelearnError, ShapeError, TrainingError
from .sparse import SparseRegression
from .terms import Derivative, Term, TermLibrary, polynomial_library
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
]

_LAZY = {
    "GoverningEquation": "governing",
    "autograd_derivatives": "autodiff",
    "channel_derivatives": "autodiff",
    "CompiledLibrary": "compile",
    "Trainer": "train",
    "ParamGroup": "train",
    "load_recipe": "recipes",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'pdelearn' has no attribute {name!r}")
