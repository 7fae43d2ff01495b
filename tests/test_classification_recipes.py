"""The CIFAR-10, SVHN and Tiny ImageNet recipes (PR-Net and ODE-Net) and the cosine schedule of Appendix F.

The recipes smoke-run on FakeData in tests/test_classification.py; here: the paper's hyperparameters, the
error when the data are absent (no network access at run time) and the learning-rate schedule.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from pdelearn.errors import ConfigError
from pdelearn.problems.classification import cosine_factor
from pdelearn.recipes import load_recipe, resolve

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
MOBILE = ["prnet_cifar10", "odenet_cifar10", "prnet_tinyimagenet", "odenet_tinyimagenet"]


@pytest.mark.parametrize("name", MOBILE)
def test_mobilenet_recipes_have_the_papers_hyperparameters(name):
    r = load_recipe(RECIPES / f"{name}.yaml")
    kind, dataset = name.split("_")
    assert r.model.kind == f"{kind}_mobilenetv3" and r.data.dataset == dataset and r.model.width == 1
    assert r.model.options == {"depth": 8, "dropout": 0.3} and not r.data.options  # no download
    t = r.training
    assert (t.epochs, r.data.batch_size, t.label_smoothing, t.optimizer, t.momentum, t.weight_decay) == (
        150, 64, 0.1, "sgd", 0.9, 2e-4)
    assert (t.schedule, t.warmup_epochs, t.min_lr, t.milestones) == ("cosine", 5, 2e-4, [])
    assert Path(r.data.root).is_absolute()
    if kind == "prnet":
        assert r.model.activation == "silu"
        for side in (t.queries, t.equation):
            assert (side.lr, side.every, side.weight_decay) == (1e-4, 5, 2e-4)
        assert t.equation.l1 == 2e-5
    else:
        assert t.weights == {"L_T": 1.0}


def test_svhn_recipes_have_the_papers_hyperparameters():
    r = load_recipe(RECIPES / "prnet_svhn.yaml")
    t = r.training
    assert (r.model.kind, r.data.dataset, t.epochs, r.data.batch_size, t.milestones) == (
        "prnet", "svhn", 160, 128, [60, 80, 140])
    for side in (t.queries, t.equation):
        assert (side.lr, side.every, side.weight_decay) == (3e-4, 5, 1e-3)
    o = load_recipe(RECIPES / "odenet_svhn.yaml")
    assert (o.model.kind, o.data.dataset, o.training.optimizer, o.training.lr) == ("odenet", "svhn", "sgd", 0.1)


@pytest.mark.parametrize("name, what", [("prnet_cifar10", "cifar10"), ("odenet_svhn", "svhn"),
                                        ("prnet_tinyimagenet", "tinyimagenet")])
def test_absent_data_is_a_clear_error_and_leaves_nothing(name, what, tmp_path):
    pytest.importorskip("torchvision")
    from click.testing import CliRunner

    from pdelearn.cli import main

    empty = tmp_path / "data"
    empty.mkdir()
    out = tmp_path / "runs" / "run"
    res = CliRunner().invoke(main, ["fit", str(RECIPES / f"{name}.yaml"), "--out", str(out), "--set",
                                    f"data.root={empty}"])
    assert res.exit_code == 2, res.output
    msg = res.output
    assert f"data set '{what}' not found under {empty}" in msg and "get it with" in msg
    assert ("tiny-imagenet-200.zip" in msg) if what == "tinyimagenet" else ("download: true" in msg)
    assert "Traceback" not in msg and not (tmp_path / "runs").exists() and list(empty.iterdir()) == []


def test_cosine_factor_warms_up_then_decays_to_the_floor():
    f = [cosine_factor(k, total=20, warmup=5, floor=0.1) for k in range(21)]
    assert f[:5] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert f[5] == 1.0 and math.isclose(f[20], 0.1) and all(a >= b for a, b in zip(f[5:], f[6:]))
    assert math.isclose(f[5 + 15 // 2], 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 15)))


def test_cosine_schedule_is_on_the_groups_of_f_only():
    from types import SimpleNamespace

    from torch.utils.data import TensorDataset

    from pdelearn.problems.classification import ClassificationProblem, build_network

    r = resolve({"problem": "classification", "data": {"dataset": "digits", "batch_size": 4, "max_batches": 2},
                 "model": {"width": 4, "n_down": 0},
                 "training": {"epochs": 4, "lr": 0.1, "schedule": "cosine", "warmup_epochs": 1, "min_lr": 0.01,
                              "milestones": []}})
    x, y = torch.randn(8, 1, 8, 8), torch.arange(8) % 3
    data = SimpleNamespace(train=TensorDataset(x, y), val=None, test=TensorDataset(x, y),
                           info=SimpleNamespace(name="t", num_classes=3, channels=1, image_size=8))
    p = ClassificationProblem(r, build_network(r, data.info), data, torch.device("cpu"))
    groups = {g.name: g for g in p.groups()}
    net = groups["network"]
    lrs = []
    for _ in range(8):  # 4 epochs of 2 updates
        lrs.append(net.optimizer.param_groups[0]["lr"])
        net.optimizer.step()
        net.scheduler.step()
    assert lrs[:2] == pytest.approx([0.05, 0.1]) and lrs[2] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * 5 / 6)))
    assert isinstance(groups["block"].scheduler, torch.optim.lr_scheduler.LambdaLR)
    assert groups["queries"].scheduler.milestones == {}  # Adam for g and H at a constant rate


@pytest.mark.parametrize("training, message", [
    ({"schedule": "cosine"}, "set training.milestones: []"),
    ({"schedule": "cosine", "milestones": [], "warmup_epochs": 3, "epochs": 3}, "must be below training.epochs"),
    ({"schedule": "cosine", "milestones": [], "min_lr": 1.0}, "must not exceed training.lr"),
    ({"warmup_epochs": 2}, "are for schedule: cosine"),
])
def test_schedule_errors(training, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve({"problem": "classification", "data": {"dataset": "digits"}, "training": training})
