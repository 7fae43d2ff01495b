"""The PR-Net building blocks under DistributedDataParallel (2 CPU processes, gloo).

A conv block ``f(h(0), d, t)`` whose input carries coordinate channels, per-sample derivatives from
:func:`~pdelearn.autodiff.channel_derivatives`, a learned :class:`~pdelearn.governing.GoverningEquation`
and the alternating :class:`~pdelearn.train.Trainer` with two parameter groups (own optimizers): two
ranks on half batches must end with the same parameters as one process on the whole batch.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from pdelearn.autodiff import channel_derivatives
from pdelearn.errors import TrainingError
from pdelearn.governing import GoverningEquation
from pdelearn.terms import polynomial_library
from pdelearn.train import ParamGroup, Trainer

C = 2  # feature channels of h; the coordinates d, t are input channels C and C + 1
STEPS = 3


class PDEBlock(nn.Module):
    """``h(d, t) = f(h0, d, t)`` with a small conv net, its governing equation, and the residual."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(C + 2, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, C, 1))
        lib = polynomial_library("h", "d", max_power=2, max_order=2)
        self.equation = GoverningEquation(lib, trainable=True)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        # derivatives and residual are computed inside forward, so every loss's graph passes through
        # DistributedDataParallel.forward and its gradient hooks all-reduce the parameters used
        need = ["h_t", *self.equation.required]
        d = channel_derivatives(self.net, z, {"d": C, "t": C + 1}, need)
        return {"h": d["h"], "residual": self.equation.residual(d)}


def _batch(seed: int = 0, n: int = 8):
    g = torch.Generator().manual_seed(seed)
    h0 = torch.randn(n, C, 5, 5, generator=g, dtype=torch.float64)
    d = torch.linspace(-1, 1, 5, dtype=torch.float64).view(1, 1, 1, 5).expand(n, 1, 5, 5)
    t = torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64).expand(n, 1, 5, 5)
    target = torch.randn(n, C, 5, 5, generator=g, dtype=torch.float64)
    return torch.cat([h0, d, t], 1), target


def _train(model: nn.Module, inner: PDEBlock, z: torch.Tensor, target: torch.Tensor, is_main: bool = True):
    def loss_fn(step, names):
        out = model(z)
        return {"L_T": ((out["h"] - target) ** 2).mean(), "L_G": (out["residual"] ** 2).mean()}

    groups = [
        ParamGroup("network", torch.optim.Adam(inner.net.parameters(), lr=1e-2), ["L_T", "L_G"],
                   weights={"L_G": 0.1}),
        ParamGroup("equation", torch.optim.SGD(inner.equation.parameters(), lr=0.5), ["L_G"], every=2),
    ]
    Trainer(groups, loss_fn, steps=STEPS, progress=False, is_main=is_main).run()
    return torch.cat([p.detach().reshape(-1) for p in inner.parameters()])


def _worker(rank: int, world: int, init_file: str, queue, poison: bool = False) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        inner = PDEBlock().double()
        model = nn.parallel.DistributedDataParallel(inner, find_unused_parameters=True)
        z, target = _batch()
        half = z.shape[0] // world
        shard = slice(rank * half, (rank + 1) * half)
        z, target = z[shard], target[shard].clone()
        if poison and rank == 1:
            target[0, 0, 0, 0] = float("nan")  # only this rank's task loss turns non-finite
        try:
            queue.put((rank, _train(model, inner, z, target, is_main=rank == 0).numpy()))
        except TrainingError as exc:
            queue.put((rank, str(exc)))
        except BaseException as exc:  # any other failure is reported, so the parent never waits forever
            queue.put((rank, f"worker error: {exc!r}"))
            raise
    finally:
        dist.barrier()  # both ranks are done with their collectives before either tears the group down
        dist.destroy_process_group()
    # the result is in the queue (a SimpleQueue writes synchronously); leave without the interpreter's
    # teardown, where gloo's threads now and then abort ("terminate called without an active exception")
    os._exit(0)


def _spawn(tmp_path, poison: bool = False) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    procs = [ctx.Process(target=_worker, args=(r, 2, str(tmp_path / "init"), queue, poison)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get() for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_ranks_match_one_process_on_the_whole_batch(tmp_path):
    torch.manual_seed(0)
    single = PDEBlock().double()
    start = torch.cat([p.detach().reshape(-1) for p in single.parameters()]).clone()
    z, target = _batch()
    expected = _train(single, single, z, target)
    assert not torch.allclose(expected, start)  # training moved the parameters

    results = _spawn(tmp_path)
    r0, r1 = (torch.from_numpy(results[r]) for r in (0, 1))
    assert torch.equal(r0, r1)  # the ranks stay in sync: network and equation alike
    assert torch.allclose(r0, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_a_loss_diverging_on_one_rank_stops_every_rank(tmp_path):
    results = _spawn(tmp_path, poison=True)  # without the shared check, rank 0 would wait forever
    assert "loss L_T became nan at step 0" in results[1]
    assert "loss L_T became non-finite on another rank at step 0" in results[0]
