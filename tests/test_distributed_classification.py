"""Classification under torchrun: 2 CPU processes (gloo), in one spawn to keep the test short.

1. Two ranks, each on half of every batch, end with the parameters of one process on the whole batch
   (float64): all four groups of Algorithm 1, network, block, query points H and the coefficients, whose
   group reuses the block group's losses (``fresh=False``); rank 1 starts from other weights and gets
   rank 0's. The L1 weight of the coefficients is 0 here: ``sign(a)`` at coefficients that sit at 0 up to
   rounding would turn rounding differences into whole Adam steps.
2. ``pdelearn fit`` with torchrun's environment variables: only rank 0 makes and writes the run folder
   and prints.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "prnet_digits.yaml"
SETS = ["model.width=4", "model.n_down=0", "data.image_size=8", "data.batch_size=32", "data.max_batches=2",
        "training.epochs=1", "training.log_every=1", "device=cpu", "data.eval_batch_size=400"]


def _problem(rank: int = 0, ranks: int = 1):
    from pdelearn.problems.classification import ClassificationProblem, build_network
    from pdelearn.recipes import resolve

    r = resolve({"problem": "classification", "data": {"dataset": "digits", "batch_size": 8},
                 "model": {"width": 4, "n_down": 0},
                 "training": {"epochs": 2, "lr": 0.01, "equation": {"l1": 0.0}}})
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 8, 8, generator=g, dtype=torch.float64), torch.arange(16) % 3
    data = SimpleNamespace(train=TensorDataset(x, y), val=None, test=TensorDataset(x, y),
                           info=SimpleNamespace(name="t", num_classes=3, channels=1, image_size=8))
    torch.manual_seed(rank)  # rank 1 starts from other weights: it must get rank 0's
    return ClassificationProblem(r, build_network(r, data.info).double(), data, torch.device("cpu"), 5, rank=rank,
                                 ranks=ranks)


def _train(p, rank: int = 0, ranks: int = 1) -> torch.Tensor:
    from pdelearn.problems.base import RunContext

    p.train(RunContext(device=torch.device("cpu"), rank=rank, world_size=ranks, progress=False))
    return torch.cat([v.detach().reshape(-1) for v in p.model.state_dict().values()])


def _fit_args(out: Path) -> list[str]:
    args = ["fit", str(RECIPE), "--out", str(out)]
    for s in SETS:
        args += ["--set", s]
    return args


def _worker(rank: int, init: str, port: int, out: str, queue) -> None:
    torch.set_num_threads(1)
    try:
        # phase 1 meets through a file; the CLI of phase 2 through torchrun's variables and a port of its own
        # (a second process group on the port of the first can meet the first one's store and hang)
        dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=2)
        params = _train(_problem(rank, 2), rank, 2).numpy()
        dist.barrier()
        dist.destroy_process_group()
        from click.testing import CliRunner

        from pdelearn.cli import main

        os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(port))
        res = CliRunner().invoke(main, _fit_args(Path(out)))  # starts its own process group from the environment
        queue.put((rank, params, res.exit_code, res.output))
    except BaseException as exc:  # noqa: BLE001 - reported, so the parent never waits forever
        queue.put((rank, None, -1, repr(exc)))
    queue.close()
    queue.join_thread()  # the result is written before leaving
    os._exit(0)  # skip the interpreter's teardown, where gloo's threads now and then abort


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_match_one_process_and_only_rank_0_writes(tmp_path):
    pytest.importorskip("pdelearn.vision")
    torch.manual_seed(0)
    start = torch.cat([v.detach().reshape(-1) for v in _problem().model.state_dict().values()])
    expected = _train(_problem())
    assert (expected - start).abs().max() > 1e-3  # training moved the parameters

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    out = tmp_path / "run"
    procs = [ctx.Process(target=_worker, args=(r, str(tmp_path / "init"), port, str(out), queue)) for r in (0, 1)]
    for p in procs:
        p.start()
    try:
        results = {r: rest for r, *rest in (queue.get(timeout=300) for _ in procs)}
    except Exception:  # noqa: BLE001 - a hung rank must not hang the test session
        for p in procs:
            p.kill()
        pytest.fail("a rank did not report within 300 s (hung collective?)")
    for p in procs:
        p.join(timeout=60)
    assert all(results[r][0] is not None for r in (0, 1)), results
    r0, r1 = (torch.from_numpy(results[r][0]) for r in (0, 1))
    assert torch.equal(r0, r1)  # every parameter group stays in sync
    torch.testing.assert_close(r0, expected, rtol=0, atol=1e-8)

    for r in (0, 1):
        assert results[r][1] in (0, 3), results[r][2]
    assert "wrote" in results[0][2] and "2 processes" in results[0][2] and results[1][2].strip() == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 2 and summary["model"] == "prnet"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["run"]  # one folder, made by rank 0


def test_a_batch_that_the_ranks_cannot_share_is_refused():
    from pdelearn.errors import ConfigError

    with pytest.raises(ConfigError, match="must be a multiple of their number"):
        _problem(0, 3)


def test_problems_without_distributed_training_are_refused():
    from pdelearn.errors import ConfigError
    from pdelearn.recipes import load_recipe
    from pdelearn.runs import run_recipe

    r = load_recipe(RECIPE.parent / "burgers_forward.yaml")
    with pytest.raises(ConfigError, match="cannot be trained by several processes"):
        run_recipe(r, None, rank=0, world_size=2)


def test_launcher_variables():
    from pdelearn.distributed import launch_env
    from pdelearn.errors import ConfigError

    assert launch_env({}) == (0, 1, 0)
    assert launch_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    with pytest.raises(ConfigError, match="inconsistent"):
        launch_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="WORLD_SIZE must be an integer"):
        launch_env({"WORLD_SIZE": "two"})
