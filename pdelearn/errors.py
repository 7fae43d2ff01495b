"""Exception hierarchy.

Every error raised on bad user input is a :class:`PdelearnError`; its message says what was
expected, what was received and how to fix it. The CLI turns these into exit code 2 without a
traceback.
"""

from __future__ import annotations

__all__ = [
    "PdelearnError",
    "ConfigError",
    "DataError",
    "ShapeError",
    "ParseError",
    "LibraryError",
    "TrainingError",
]


class PdelearnError(ValueError):
    """Base class of all errors about user input."""


class ConfigError(PdelearnError):
    """A recipe or an option is invalid."""


class DataError(PdelearnError):
    """Input data is missing, malformed, non-finite or inconsistent."""


class ShapeError(DataError):
    """An array has the wrong shape."""


class ParseError(PdelearnError):
    """A string (equation, term, expression) could not be parsed safely."""


class LibraryError(PdelearnError):
    """A term library is empty, has duplicate terms or names an unknown term."""


class TrainingError(PdelearnError):
    """Training diverged (NaN/inf loss) or cannot continue."""
