"""pdelearn: symbolic PDE discovery and physics-informed training from one sympy term library."""

from .errors import ConfigError, DataError, LibraryError, ParseError, PdelearnError, ShapeError, TrainingError
from .terms import Derivative, Term, TermLibrary, polynomial_library

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "DataError",
    "Derivative",
    "LibraryError",
    "ParseError",
    "PdelearnError",
    "ShapeError",
    "Term",
    "TermLibrary",
    "TrainingError",
    "polynomial_library",
]
