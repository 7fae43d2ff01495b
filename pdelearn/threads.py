"""How many CPU threads torch uses in a run, chosen once and deliberately.

torch's default (one thread per core) collapses when another process keeps a core busy: its
threads wait for each other at every operation (two ``discover`` runs at once on two cores took
6.7x longer each than with one thread apiece). ``auto`` therefore takes the cores this process may
use minus the cores other processes keep busy (the 1-minute load average), at least one; an
explicit ``OMP_NUM_THREADS`` or a number given by the user wins.
"""

from __future__ import annotations

import math
import os

from .errors import ConfigError

__all__ = ["usable_cores", "busy_cores", "auto_threads", "parse_threads", "set_threads"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores() -> float:
    """The cores other processes keep busy: the 1-minute load average (0 where the system has none)."""
    try:
        return max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def auto_threads(cores: int | None = None, busy: float | None = None) -> int:
    """The usable cores minus the busy ones, rounded to the nearest integer, between 1 and the usable cores.

    >>> auto_threads(cores=2, busy=0.1), auto_threads(cores=2, busy=1.2), auto_threads(cores=8, busy=30.0)
    (2, 1, 1)
    """
    cores = usable_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    return int(min(cores, max(1, math.floor(cores - busy + 0.5))))


def parse_threads(value: str | int | None) -> int | None:
    """``"auto"`` / None -> None (choose at run time); a positive integer -> itself; anything else is a
    :class:`ConfigError`."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigError(f"--threads must be auto or a whole number >= 1, received {value!r}; e.g. --threads 1")
    if int(text) > 4 * usable_cores():
        raise ConfigError(f"--threads {text} is more than 4x the {usable_cores()} cores this process may use; "
                          f"pass at most {usable_cores()}")
    return int(text)


def set_threads(value: str | int | None = "auto") -> int:
    """Set torch's intra-op thread count and return it: ``value`` when a number; for ``"auto"``
    ``OMP_NUM_THREADS`` when set to a positive integer, else :func:`auto_threads`."""
    import torch

    n = parse_threads(value)
    if n is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        n = int(env) if env.isascii() and env.isdigit() and int(env) > 0 else auto_threads()
    torch.set_num_threads(n)
    return n
