"""Mixed precision (``training.amp``) of classification runs: refused on the CPU, trained on CUDA."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import TensorDataset

from pdelearn.errors import ConfigError
from pdelearn.problems.classification import ClassificationProblem, build_network
from pdelearn.recipes import resolve
from pdelearn.train import ParamGroup, Trainer


def _setup(amp: bool, device: str):
    r = resolve({"problem": "classification", "data": {"dataset": "digits", "batch_size": 8},
                 "model": {"width": 8, "n_down": 0},
                 "training": {"epochs": 2, "log_every": 1, "amp": amp, "lr": 0.01}})
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 8, 8, generator=g), torch.arange(32) % 4
    data = SimpleNamespace(train=TensorDataset(x, y), val=TensorDataset(x[:8], y[:8]), test=TensorDataset(x, y),
                           info=SimpleNamespace(name="t", num_classes=4, channels=1, image_size=8))
    torch.manual_seed(0)
    return r, data, build_network(r, data.info)


def test_amp_on_the_cpu_is_refused_with_a_clear_message():
    r, data, net = _setup(True, "cpu")
    with pytest.raises(ConfigError, match=r"training.amp \(mixed precision\) needs a CUDA device; this run is on cpu.*"
                                          r"--device cuda"):
        ClassificationProblem(r, net, data, torch.device("cpu"))


def test_amp_through_fit_on_the_cpu_exits_2_and_writes_nothing(tmp_path):
    pytest.importorskip("pdelearn.vision")
    from pathlib import Path

    from click.testing import CliRunner

    from pdelearn.cli import main

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "prnet_digits.yaml"
    res = CliRunner().invoke(main, ["fit", str(recipe), "--out", str(tmp_path / "run"), "--set", "training.amp=true",
                                    "--set", "model.width=4", "--device", "cpu"])
    assert res.exit_code == 2 and "needs a CUDA device" in res.output and not (tmp_path / "run").exists()


def test_a_scaler_cannot_step_closure_optimizers():
    w = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ConfigError, match="cannot step closure optimizers"):
        Trainer([ParamGroup("w", torch.optim.LBFGS([w]), ["L"])], lambda s, n: {"L": w.sum()}, steps=1,
                grad_scaler=object())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_trains_prnet_on_cuda_with_float32_derivatives():
    from pdelearn.problems.base import RunContext

    r, data, net = _setup(True, "cuda")
    p = ClassificationProblem(r, net, data, torch.device("cuda"))
    x, y = (t.cuda() for t in next(iter(p.train_batches)))
    out = p.losses(0, frozenset({"L_T", "L_I", "L_G"}), (x, y))
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in out.values())
    h0 = p.model.features(x)
    assert all(v.dtype == torch.float32 for v in p.model.derivatives(h0).values())
    before = {k: v.clone() for k, v in p.model.state_dict().items()}
    ctx = RunContext(device=torch.device("cuda"), progress=False)
    result = p.train(ctx)
    assert result.step == 8 and p.grad_scaler.get_scale() > 0
    assert any(not torch.equal(v, before[k]) for k, v in p.model.state_dict().items())  # it trained
    summary = p.finish(ctx, result).summary
    assert summary["test_top1"] >= 0 and summary["peak_memory_kind"] == "cuda_max_allocated"
