"""Data-parallel training over ``torch.distributed`` (``torchrun --nproc_per_node N``): the few collectives
the trainer and the problems need.

Every rank holds the whole model and trains on its share of each batch; after each parameter group's
backward pass the group's gradients are averaged over the ranks (:func:`average_gradients`), so every
optimizer (network, block, query points ``H``, coefficients) takes the same step on every rank, whatever
graph the losses share within a step. This is the algorithm of ``DistributedDataParallel`` without its
hooks, which assume one forward and one backward per step (the alternating groups of Algorithm 1 run
several, and a group with ``fresh=False`` back-propagates through a graph another group made).

The launcher's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) are
read by :func:`launch_env` and :func:`master_env`; :func:`process_group` starts gloo (CPU) or nccl (CUDA). Its
processes wait for each other at most :data:`~pdelearn.budget.RENDEZVOUS_TIMEOUT` seconds when they start
(``PDELEARN_RENDEZVOUS_TIMEOUT`` overrides it): a rank whose peers never come (torchrun's variables left in a
shell, a rank that died) ends with one error line instead of waiting for torch's 30 minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
from torch import nn

from .budget import RENDEZVOUS_TIMEOUT, seconds_from_env
from .errors import ConfigError

__all__ = ["active", "all_ok", "average_gradients", "average_values", "broadcast_module", "launch_env",
           "master_env", "process_group"]

TORCHRUN = "torchrun --nproc_per_node N -m pdelearn.cli fit ..."  #: how distributed runs are started


def launch_env(environ: dict | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables; ``(0, 1, 0)`` without them."""
    env = os.environ if environ is None else environ
    values = []
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        raw = env.get(name, str(default))
        try:
            values.append(int(raw))
        except ValueError:
            raise ConfigError(f"environment variable {name} must be an integer, received {raw!r}; start distributed "
                              "runs with torchrun --nproc_per_node N -m pdelearn.cli fit ...") from None
    rank, world, local = values
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"inconsistent launcher variables RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}")
    return rank, world, local


def master_env(environ: dict | None = None) -> tuple[str, int]:
    """``(MASTER_ADDR, MASTER_PORT)``, where the processes of a distributed run meet; a :class:`ConfigError`
    naming what is missing or malformed (torchrun sets both, beside ``RANK`` and ``WORLD_SIZE``)."""
    env = os.environ if environ is None else environ
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not env.get(name, "").strip()]
    if missing:
        given = ", ".join(f"{k}={env[k]}" for k in ("WORLD_SIZE", "RANK") if k in env)
        raise ConfigError(f"{given or 'the environment'} asks for a distributed run, but {' and '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not set; torchrun sets them: start the run with "
                          f"{TORCHRUN}, or unset WORLD_SIZE and RANK to train in one process")
    addr, port = env["MASTER_ADDR"].strip(), env["MASTER_PORT"].strip()
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError(f"environment variable MASTER_PORT must be a port number in 1..65535, received {port[:40]!r}; "
                          f"start distributed runs with {TORCHRUN}, which sets it")
    return addr, int(port)


@contextmanager
def process_group(world_size: int, backend: str) -> Iterator[None]:
    """Start the default process group for ``world_size > 1`` (``env://``) and tear it down afterwards.

    The ranks meet within :data:`~pdelearn.budget.RENDEZVOUS_TIMEOUT` seconds (``PDELEARN_RENDEZVOUS_TIMEOUT``),
    or a :class:`ConfigError` says which rank waited where; the collectives keep torch's default timeout.
    """
    if world_size <= 1:
        yield
        return
    if not torch.distributed.is_available():
        raise ConfigError("distributed training needs torch.distributed, which this torch build lacks")
    addr, port = master_env()
    seconds = seconds_from_env("PDELEARN_RENDEZVOUS_TIMEOUT", RENDEZVOUS_TIMEOUT)
    try:
        store, rank, world = next(torch.distributed.rendezvous("env://", timeout=timedelta(seconds=seconds)))
        # as init_process_group(init_method="env://") does, but the wait for the peers (here, and while the backend
        # connects them) is bounded by `seconds`, not by the collectives' timeout
        torch.distributed.init_process_group(backend, store=torch.distributed.PrefixStore("default_pg", store),
                                             rank=rank, world_size=world)
    except (RuntimeError, ValueError) as exc:  # torch's DistStoreError, DistNetworkError, ... are RuntimeErrors
        what = " ".join(str(exc).split())
        raise ConfigError(f"the {world_size} processes of the distributed run did not meet at {addr}:{port} within "
                          f"{seconds:g} s (this is rank {os.environ.get('RANK', '?')}; {what[:200]}); start every rank "
                          f"with {TORCHRUN}, or unset WORLD_SIZE and RANK to train in one process; to wait longer "
                          "set PDELEARN_RENDEZVOUS_TIMEOUT") from None
    from torch.distributed import constants

    store.set_timeout(constants.default_pg_nccl_timeout if backend == "nccl" else constants.default_pg_timeout)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def active() -> bool:
    """Whether a default process group with more than one rank is running."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.distributed.get_backend() == "nccl" \
        else torch.device("cpu")


def all_ok(flag: bool) -> bool:
    """``flag`` and-ed over the ranks (itself without a process group)."""
    if not active():
        return flag
    t = torch.tensor([float(flag)], device=_device())
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
    return bool(t.item())


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Replace the gradient of every parameter that has one by its mean over the ranks (one all-reduce).

    Every rank must reach this call with gradients on the same parameters (the same graph), as in
    ``DistributedDataParallel``.
    """
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= torch.distributed.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset: offset + g.numel()].view_as(g))
        offset += g.numel()


def average_values(values: dict[str, float]) -> dict[str, float]:
    """Mean over the ranks of scalar metrics (same keys on every rank); unchanged without a process group."""
    if not active() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_device())
    torch.distributed.all_reduce(t)
    t /= torch.distributed.get_world_size()
    return dict(zip(keys, t.tolist()))


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers (e.g. BatchNorm statistics) to every rank."""
    if not active():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            torch.distributed.broadcast(t.data, src=0)
