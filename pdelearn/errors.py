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
    "did_you_mean",
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


def did_you_mean(word: str, known, what: str = "key") -> str:
    """``"unknown key 'x'; did you mean 'y'?"`` (or the list of known names when nothing is close).

    The one "did you mean" of the project: recipe keys, problem names and settings all use it.

    >>> did_you_mean("nosie", ["noise", "seed"])
    "unknown key 'nosie'; did you mean 'noise'?"
    """
    import difflib

    known = [str(k) for k in known]
    close = difflib.get_close_matches(str(word), known, n=1, cutoff=0.6)
    if close:
        return f"unknown {what} {word!r}; did you mean {close[0]!r}?"
    return f"unknown {what} {word!r}; known: {', '.join(known)}"
