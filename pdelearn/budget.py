"""Time budgets of long computations: a deadline checked between fits and inside their iterations.

A computation that can run for minutes (an output-error refinement: Levenberg-Marquardt fits of simulated
equations, score tests, growing initial states) takes a :class:`Budget`. Each loop asks
:meth:`Budget.check` between units of work; past the deadline it raises :class:`BudgetExceeded`, whose
``partial`` attribute (where the raiser had one) holds the best result so far. The caller keeps that result,
marks it unreliable and says what was done and how to continue (a larger budget).

>>> b = Budget(60.0, "the refinement")
>>> b.expired()
False
>>> Budget(0, "the refinement")
Traceback (most recent call last):
...
pdelearn.errors.ConfigError: the refinement's budget must be a number of seconds > 0, received 0
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Optional

from .errors import ConfigError, PdelearnError

__all__ = ["Budget", "BudgetExceeded", "check_budget", "larger_budget", "seconds_from_env", "REFINE_BUDGET",
           "JOINT_REFINE_BUDGET", "RENDEZVOUS_TIMEOUT"]

#: seconds ``discover`` allows its output-error refinement (one equation); measured 4-23 s on the benchmarks on a
#: free core, up to 4x that on a busy one (a forced Allen-Cahn refinement took 238 s at load 4-5)
REFINE_BUDGET = 300.0
#: seconds a joint discovery's output-error refinement may take (KdV at 50 % noise measured 48-487 s)
JOINT_REFINE_BUDGET = 900.0
#: seconds the processes of a distributed run (torchrun) wait for each other when they start
#: (:func:`pdelearn.distributed.process_group`; torchrun starts them within seconds of each other); the environment
#: variable ``PDELEARN_RENDEZVOUS_TIMEOUT`` overrides it
RENDEZVOUS_TIMEOUT = 30.0


def check_budget(value: Any, what: str = "budget") -> Optional[float]:
    """``value`` as seconds (``None``: no limit); a :class:`ConfigError` unless a finite number > 0."""
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ConfigError(f"{what} must be a number of seconds > 0, received {value!r}")
    return float(value)


def seconds_from_env(name: str, default: float, environ=None) -> float:
    """Seconds from the environment variable ``name`` when it is set (a number > 0), else ``default``.

    >>> seconds_from_env("PDELEARN_RENDEZVOUS_TIMEOUT", 60.0, {"PDELEARN_RENDEZVOUS_TIMEOUT": "120"})
    120.0
    """
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"environment variable {name} must be a number of seconds > 0, received {raw!r}; unset it "
                          f"to use the default {default:g} s")
    return value


def larger_budget(seconds: Optional[float]) -> str:
    """A larger budget to suggest after ``seconds`` ran out: five times it, rounded up to a whole minute.

    >>> larger_budget(300.0)
    '1500'
    """
    return f"{60 * math.ceil(5 * (seconds or 0) / 60):g}"


class BudgetExceeded(PdelearnError):
    """Raised past a :class:`Budget`'s deadline; ``partial`` holds the best result so far (or None)."""

    def __init__(self, message: str, partial: Any = None):
        super().__init__(message)
        self.partial = partial


class Budget:
    """A deadline of ``seconds`` from now for ``what`` (``None``: no limit).

    Parameters
    ----------
    seconds
        Finite number > 0, or None.
    what
        The computation, for messages (``"the output-error refinement"``).
    """

    def __init__(self, seconds: Optional[float], what: str = "the computation"):
        self.seconds = check_budget(seconds, f"{what}'s budget")
        self.what = what
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def expired(self) -> bool:
        """True past the deadline."""
        return self.seconds is not None and self.elapsed > self.seconds

    def check(self, partial: Any = None) -> None:
        """Raise :class:`BudgetExceeded` (carrying ``partial``) when the deadline has passed."""
        if self.expired():
            raise BudgetExceeded(f"{self.what} ran past its time budget of {self.seconds:g} s", partial)
