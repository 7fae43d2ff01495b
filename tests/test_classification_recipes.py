"""The CIFAR-10, SVHN and Tiny ImageNet recipes (PR-Net and ODE-Net) and the cosine schedule of Appendix F.

The recipes smoke-run on FakeData in tests/test_classification.py; here: the paper's hyperparameters, the
error when the data are absent (no network access at run time) and the learning-rate schedule.
"""

from __future__ import annotations

import json
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


def test_transfer_recipe_fine_tunes_a_trained_run(tmp_path):
    """A tiny prnet_mnist run on FakeData (28 x 28) is the source of transfer_mnist_to_digits.yaml."""
    pytest.importorskip("pdelearn.vision")
    from click.testing import CliRunner

    from pdelearn.cli import main
    from pdelearn.problems.classification import load_weights

    r = load_recipe(RECIPES / "transfer_mnist_to_digits.yaml")
    assert (r.data.dataset, r.data.image_size, r.model.kind) == ("digits", 28, "prnet")
    assert Path(r.model.init_from) == (RECIPES.parent / "runs" / "prnet-mnist").resolve()
    small = ["--set", "model.width=8", "--set", "data.max_batches=1", "--set", "training.epochs=1", "--set",
             "data.batch_size=8", "--set", "device=cpu"]
    source = tmp_path / "source"
    res = CliRunner().invoke(main, ["fit", str(RECIPES / "prnet_mnist.yaml"), "--out", str(source), *small,
                                    "--set", "data.dataset=fake", "--set", "data.root=null", "--set",
                                    "data.image_size=28", "--set", "data.workers=0", "--set",
                                    "data.options={fake_train: 16, fake_test: 8, fake_channels: 1}"])
    assert res.exit_code in (0, 3), res.output
    # fine-tune at a negligible rate: every layer but the head must still be the source's
    tiny = ["--set", "seed=1", "--set", "training.lr=1e-9", "--set", "training.queries.lr=1e-9",
            "--set", "training.equation.lr=1e-9"]
    out = tmp_path / "tuned"
    res = CliRunner().invoke(main, ["fit", str(RECIPES / "transfer_mnist_to_digits.yaml"), "--out", str(out), *small,
                                    *tiny, "--set", f"model.init_from={source}"])
    assert res.exit_code in (0, 3), res.output
    _, before = load_weights(source)
    _, after = load_weights(out)
    assert json.loads((out / "summary.json").read_text())["init_from"] == str(source)
    body = [k for k in before if not k.startswith("head.")]
    assert len(body) > 10 and f"initialised {len(body)} tensors from {source}" in res.output
    for k in body:
        torch.testing.assert_close(after[k], before[k], rtol=0, atol=1e-6)
    assert not torch.allclose(after["head.4.weight"], before["head.4.weight"], atol=1e-2)  # the head is new (seed 1)
